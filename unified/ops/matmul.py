"""matmul ops (kernels: core_cpp/kernels/matmul.cpp). Filled in by the foundation issue."""
