// Arena: one 64-byte aligned block of memory owned by a Plan, allocated once when the plan is
// built and never during a run. Every allocation the executor makes (arenas and the plan's
// constant buffers) goes through here and is counted, so tests can check that a replay
// allocates nothing (`_core.executor_allocations()`).
#pragma once
#include <cstdint>

#include "unified/status.h"

namespace unified {

constexpr int64_t kArenaAlignment = 64;

class Arena {
 public:
  Arena() = default;
  ~Arena();
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Allocates `bytes` (rounded up to the alignment); zero bytes allocates nothing.
  Status allocate(int64_t bytes);
  char* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  void release();
  char* data_ = nullptr;
  int64_t size_ = 0;
};

// Number of executor allocations (arenas and constant buffers) made so far in this process.
int64_t executor_allocations();

}  // namespace unified
