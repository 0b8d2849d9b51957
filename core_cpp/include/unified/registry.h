// KernelRegistry: kernels by name (the op name of unified/ops/). Filled by explicit
// register_<family>_kernels calls (no self-registering statics, so a trimmed runtime can
// choose which families to link).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "unified/kernel.h"

namespace unified {

class KernelRegistry {
 public:
  void add(const std::string& name, KernelFn fn);
  // Index of a kernel, or -1; ids are stable for the life of the registry.
  int find(const std::string& name) const;
  KernelFn get(int id) const { return fns_[id]; }
  const std::string& name(int id) const { return names_[id]; }
  int size() const { return static_cast<int>(fns_.size()); }

 private:
  std::vector<KernelFn> fns_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, int> ids_;
};

// One call per kernel family (core_cpp/kernels/<family>.cpp).
void register_elementwise_kernels(KernelRegistry& reg);
void register_reduce_kernels(KernelRegistry& reg);
void register_matmul_kernels(KernelRegistry& reg);
void register_conv_kernels(KernelRegistry& reg);
void register_shape_kernels(KernelRegistry& reg);
void register_index_kernels(KernelRegistry& reg);
void register_nn_kernels(KernelRegistry& reg);
void register_random_kernels(KernelRegistry& reg);
void register_optim_kernels(KernelRegistry& reg);
// Every family above: what a standalone runtime can run (no process group, so no collectives).
// unified._core adds register_collective_kernels; the full edge runtime uses exactly this.
void register_standalone_kernels(KernelRegistry& reg);

// The registry with every family registered (used by the Python module).
KernelRegistry& all_kernels();

// Keep freed large blocks in the heap for reuse (glibc); false where unsupported.
bool tune_allocator();

// Kernel threads (OpenMP); default: all cores.
void set_num_threads(int n);
int get_num_threads();

}  // namespace unified
