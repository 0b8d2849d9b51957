"""conv ops (kernels: core_cpp/kernels/conv.cpp). Filled in by the foundation issue."""
