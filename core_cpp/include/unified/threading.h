// Kernel threading: parallel_for over [0, n) in chunks of at least `grain` items, on OpenMP
// when built with it. Small work runs inline so tiny ops pay no thread start-up.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unified {

constexpr int64_t kGrainElements = 32768;

int get_num_threads();

template <class F>
void parallel_for(int64_t n, int64_t grain, F fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = get_num_threads();
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel num_threads(static_cast<int>(chunks))
    {
      int64_t t = omp_get_thread_num();
      int64_t nt = omp_get_num_threads();
      int64_t per = (n + nt - 1) / nt;
      int64_t begin = t * per;
      int64_t end = std::min(n, begin + per);
      if (begin < end) fn(begin, end);
    }
    return;
  }
#endif
  fn(int64_t{0}, n);
}

}  // namespace unified
