"""random ops (kernels: core_cpp/kernels/random.cpp). Filled in by the foundation issue."""
