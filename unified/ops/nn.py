"""nn ops (kernels: core_cpp/kernels/nn.cpp). Filled in by the foundation issue."""
