// Phase planes: the shared first step of the direct convolution kernels (conv_direct.cpp:
// forward and input gradient; conv_wgrad.cpp: weight gradient). Internal to core_cpp/kernels.
//
// Output (oy, ox) of a convolution reads input (oy*sh + i*dh - pt, ox*sw + j*dw - pl) for tap
// (i, j). With i*dh = sh*qi + a (a < sh) and j*dw = sw*qj + b, that is pixel (oy + qi, ox + qj)
// of phase plane (a, b), which holds the zero-padded input pixels (r*sh + a - pt, c*sw + b - pl).
// The planes are `cols` = OW + max qj wide, so on the "wide grid" q = oy*cols + ox every tap
// reads the planes at one constant offset from q: a tap is an offset, a (channel, tap) pair a
// step. One pass over an image builds its planes (stride 1: padded rows; stride 2: one
// deinterleave per row). The columns ox >= OW of the wide grid are garbage that tiles may
// compute and drop. Packets are Eigen's (AVX-512, AVX, SSE or NEON as compiled; plain floats
// without SIMD).
#pragma once
// GCC 12 flags its own AVX-512 intrinsics inside Eigen's transpose (a false positive, as in
// matmul.cpp) and the alignment attribute of Eigen's packet types used as template arguments.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wignored-attributes"
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "conv_geometry.h"
#include "unified/threading.h"

namespace unified {
namespace conv_detail {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int64_t kLanes = Eigen::internal::unpacket_traits<Packet>::size;

using Eigen::internal::pmadd;
using Eigen::internal::ploadu;
using Eigen::internal::pset1;
using Eigen::internal::pstoreu;

inline int64_t ceil_div(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Uninitialized float scratch (std::vector would zero it), 64-byte aligned.
struct Scratch {
  std::unique_ptr<float[]> data;
  int64_t size = 0;
  float* get(int64_t n) {
    if (n > size) {
      data.reset(new float[static_cast<size_t>(n + 16)]);
      size = n;
    }
    const uintptr_t at = reinterpret_cast<uintptr_t>(data.get());
    return data.get() + ((64 - at % 64) % 64) / sizeof(float);
  }
};

// The phase planes of one tensor (per channel `phases` planes of rows x cols) and the offset
// of every tap on the wide grid.
struct Planes {
  int64_t rows = 0, cols = 0, plane = 0, phases = 0, channel_stride = 0, slack = 0;
  std::vector<int64_t> phase_a, phase_b;  // which input phase each plane holds
  std::vector<int64_t> offset;            // per tap, row-major over the kernel
  int64_t floats(int64_t channels) const { return channels * channel_stride + slack; }
};

// The forward (and weight-gradient) planes of the conv input.
Planes input_planes(const ConvGeometry& g);

// dst = the planes `p` of `src` (channels, h, w) for stride (sh, sw) and padding (pt, pl)
// (negative padding crops); zeros outside src and in the slack after the last plane. With
// `zeroed` dst holds planes of the same geometry already (their zeros are in place): only
// the pixels read from src are written.
void build_planes(const Planes& p, const float* src, int64_t channels, int64_t h, int64_t w,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, bool zeroed, float* dst);

// dst[i] = src[i] for i < n with packets of type P, the last one overlapping the one before it;
// shorter runs go to the half-size packet (rows here are short: a memcpy call would dominate).
template <class P>
inline void copy_packets(const float* __restrict src, int64_t n, float* __restrict dst) {
  using Half = typename Eigen::internal::unpacket_traits<P>::half;
  constexpr int64_t size = Eigen::internal::unpacket_traits<P>::size;
  constexpr int64_t half_size = Eigen::internal::unpacket_traits<Half>::size;
  if (n >= size) {
    for (int64_t i = 0; i + size < n; i += size) pstoreu(dst + i, ploadu<P>(src + i));
    pstoreu(dst + n - size, ploadu<P>(src + n - size));
  } else if (half_size < size) {
    copy_packets<Half>(src, n, dst);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

inline void copy_floats(const float* __restrict src, int64_t n, float* __restrict dst) {
  copy_packets<Packet>(src, n, dst);
}

// What a thread's slice scratch holds: the geometry and role of the planes in it. A later call
// with an equal key finds the zeros build_planes leaves in place (prepare(..., zeroed=true)).
struct ScratchKey {
  int64_t v[18] = {0};
  bool operator==(const ScratchKey& o) const {
    return std::equal(std::begin(v), std::end(v), std::begin(o.v));
  }
};
// Key for the forward planes of `g` (role: which planes; the scratch sizes are part of it).
ScratchKey scratch_key(int64_t role, const ConvGeometry& g, int64_t slice_floats,
                       int64_t item_floats);

// This thread's cached scratch of `floats` floats for `key` (64-byte aligned; *zeroed: it held
// the same key's planes before), or nullptr when it is too large to keep (kCachedFloats):
// then the caller uses a Scratch of its own. Small convolutions (batch-1 inference, the edge
// runtime) skip the zero fill and the allocation on every call after the first. Each thread
// keeps at most kCachedScratches entries, least recently used dropped; they live as long as
// the thread.
constexpr int64_t kCachedFloats = int64_t{1} << 18;  // 1 MiB per entry
constexpr int kCachedScratches = 8;
float* cached_scratch(const ScratchKey& key, int64_t floats, bool* zeroed);

// Runs item(slice, index, data, tmp) for every slice (an image and group) and index <
// per_slice, the items split between the threads in slice-major order. Each thread prepares
// the slices it meets into its own `data` (prepare(slice, data, zeroed): it fills
// `slice_floats`, which with `zeroed` hold an earlier slice's planes of the same geometry) and
// has `item_floats` of scratch (tmp). With many slices each thread takes whole slices, whose
// data stays in its cache; with few (batch 1) the threads share a slice's items and each
// prepares the slice itself (a little duplicated work instead of a serial step). With a `key`
// the scratch is the thread's cached one (cached_scratch) when it fits.
template <class Prepare, class Item>
void run_slices(int64_t slices, int64_t per_slice, int64_t slice_floats, int64_t item_floats,
                Prepare prepare, Item item, const ScratchKey* key = nullptr) {
  parallel_for(slices * per_slice, 1, [&](int64_t begin, int64_t end) {
    Scratch scratch;
    bool zeroed = false;
    float* data = key ? cached_scratch(*key, slice_floats + item_floats, &zeroed) : nullptr;
    if (data == nullptr) data = scratch.get(slice_floats + item_floats);
    int64_t prepared = -1;
    for (int64_t k = begin; k < end; ++k) {
      const int64_t s = k / per_slice;
      if (s != prepared) {
        prepare(s, data, zeroed || prepared >= 0);
        prepared = s;
      }
      item(s, k % per_slice, data, data + slice_floats);
    }
  });
}

}  // namespace conv_detail
}  // namespace unified
