// Thread count for kernels (OpenMP and Eigen share it). Default: every core.
#include "unified/registry.h"
#include "unified/threading.h"

#include <thread>

namespace unified {

namespace {
int g_num_threads = 0;  // 0 = not set yet: all cores
}

void set_num_threads(int n) {
  g_num_threads = n < 1 ? 1 : n;
#ifdef _OPENMP
  omp_set_num_threads(g_num_threads);
#endif
}

int get_num_threads() {
  if (g_num_threads == 0) {
    unsigned hw = std::thread::hardware_concurrency();
    g_num_threads = hw == 0 ? 1 : static_cast<int>(hw);
  }
  return g_num_threads;
}

}  // namespace unified
