"""index ops (kernels: core_cpp/kernels/index.cpp). Filled in by the foundation issue."""
