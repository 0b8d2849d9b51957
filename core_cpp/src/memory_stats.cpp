// Current and peak bytes of tensor memory (see memory_stats.h); lock-free counters.
#include "unified/memory_stats.h"

#include <atomic>

namespace unified {

namespace {
std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};
}  // namespace

void memory_add(int64_t bytes) {
  const int64_t now = g_current.fetch_add(bytes) + bytes;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

int64_t memory_current() { return g_current.load(); }
int64_t memory_peak() { return g_peak.load(); }
void memory_reset_peak() { g_peak.store(g_current.load()); }

}  // namespace unified
