// The executor's only allocator: aligned blocks, counted process-wide.
#include "unified/memory_stats.h"
#include "arena.h"

#include <atomic>
#include <cstdlib>
#include <utility>

namespace unified {

namespace {
std::atomic<int64_t> g_allocations{0};
}

int64_t executor_allocations() { return g_allocations.load(); }

Arena::~Arena() { release(); }

Arena::Arena(Arena&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Arena::release() {
  if (data_ != nullptr) memory_add(-size_);
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
}

Status Arena::allocate(int64_t bytes) {
  release();
  if (bytes < 0) return make_status(StatusCode::kInvalidArgument, "arena: negative size ", bytes);
  if (bytes == 0) return Status::ok();
  const int64_t rounded = (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  data_ = static_cast<char*>(std::aligned_alloc(kArenaAlignment, static_cast<size_t>(rounded)));
  if (data_ == nullptr)
    return make_status(StatusCode::kInternal, "arena: cannot allocate ", rounded, " bytes");
  size_ = bytes;
  memory_add(size_);
  g_allocations.fetch_add(1);
  return Status::ok();
}

}  // namespace unified
