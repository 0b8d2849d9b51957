"""reduce ops (kernels: core_cpp/kernels/reduce.cpp). Filled in by the foundation issue."""
