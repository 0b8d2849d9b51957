"""shape ops (kernels: core_cpp/kernels/shape.cpp). Filled in by the foundation issue."""
