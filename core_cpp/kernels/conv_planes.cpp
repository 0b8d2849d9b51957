// Phase planes (conv_planes.h): which planes a convolution needs, and building them.
#include <algorithm>
#include <cstdint>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "conv_planes.h"

namespace unified {
namespace conv_detail {
namespace {

// dst[k] = src[k * stride] for k < n.
void gather_row(const float* __restrict src, int64_t stride, int64_t n, float* __restrict dst) {
  if (stride == 1) {
    copy_floats(src, n, dst);
  } else if (stride == 2) {
    for (int64_t k = 0; k < n; ++k) dst[k] = src[2 * k];
  } else {
    for (int64_t k = 0; k < n; ++k) dst[k] = src[k * stride];
  }
}

// even[k] = src[2k], odd[k] = src[2k + 1] for k < n. AVX-512: two permutes per 16 pairs and
// masked loads and stores for the tail (rows here are short: 8 or 16 pairs), reading nothing
// past src[2n - 1]; elsewhere the loop the compiler vectorizes.
void deinterleave(const float* __restrict src, int64_t n, float* __restrict even,
                  float* __restrict odd) {
  int64_t k = 0;
#if defined(__AVX512F__)
  const __m512i pick_even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                             4, 2, 0);
  const __m512i pick_odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7,
                                            5, 3, 1);
  for (; k + 16 <= n; k += 16) {
    const __m512 a = _mm512_loadu_ps(src + 2 * k), b = _mm512_loadu_ps(src + 2 * k + 16);
    _mm512_storeu_ps(even + k, _mm512_permutex2var_ps(a, pick_even, b));
    _mm512_storeu_ps(odd + k, _mm512_permutex2var_ps(a, pick_odd, b));
  }
  if (k < n) {
    const int64_t r = n - k;  // 1..15 pairs: 2r floats in two masked halves
    const __mmask16 lo = static_cast<__mmask16>(r >= 8 ? 0xFFFF : (1u << (2 * r)) - 1);
    const __mmask16 hi = static_cast<__mmask16>(r > 8 ? (1u << (2 * r - 16)) - 1 : 0);
    const __mmask16 out = static_cast<__mmask16>((1u << r) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(lo, src + 2 * k);
    const __m512 b = _mm512_maskz_loadu_ps(hi, src + 2 * k + 16);
    _mm512_mask_storeu_ps(even + k, out, _mm512_permutex2var_ps(a, pick_even, b));
    _mm512_mask_storeu_ps(odd + k, out, _mm512_permutex2var_ps(a, pick_odd, b));
    return;
  }
#endif
  for (; k < n; ++k) {
    even[k] = src[2 * k];
    odd[k] = src[2 * k + 1];
  }
}

// deinterleave() for `rows` rows: source rows `stride` apart, destination rows `cols` apart.
void deinterleave_rows(const float* src, int64_t stride, int64_t rows, int64_t n, float* even,
                       float* odd, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r, src += stride, even += cols, odd += cols)
    deinterleave(src, n, even, odd);
}

// How plane column k reads a source row: column k*sw + shift, inside the row for k in [lo, hi).
struct ColumnMap {
  int64_t lo, hi, shift;
};

}  // namespace

ScratchKey scratch_key(int64_t role, const ConvGeometry& g, int64_t slice_floats,
                       int64_t item_floats) {
  return ScratchKey{{role, g.channels, g.height, g.width, g.out_channels, g.out_height,
                     g.out_width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_top,
                     g.pad_left, g.dilation_h, g.dilation_w, g.groups, slice_floats,
                     item_floats}};
}

float* cached_scratch(const ScratchKey& key, int64_t floats, bool* zeroed) {
  struct Entry {
    ScratchKey key;
    Scratch mem;
    uint64_t used = 0;
  };
  thread_local std::vector<Entry> entries;
  thread_local uint64_t clock = 0;
  *zeroed = false;
  if (floats > kCachedFloats) return nullptr;
  ++clock;
  for (Entry& e : entries)
    if (e.key == key) {
      e.used = clock;
      *zeroed = true;
      return e.mem.get(floats);
    }
  if (entries.size() < static_cast<size_t>(kCachedScratches)) entries.emplace_back();
  Entry* victim = &entries[0];
  for (Entry& e : entries)
    if (e.used < victim->used) victim = &e;
  victim->key = key;
  victim->used = clock;
  return victim->mem.get(floats);
}

Planes input_planes(const ConvGeometry& g) {
  Planes p;
  const int64_t qi_max = (g.kernel_h - 1) * g.dilation_h / g.stride_h;
  const int64_t qj_max = (g.kernel_w - 1) * g.dilation_w / g.stride_w;
  p.rows = g.out_height + qi_max;
  p.cols = g.out_width + qj_max;
  p.plane = p.rows * p.cols;
  for (int64_t i = 0; i < g.kernel_h; ++i)
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      const int64_t a = i * g.dilation_h % g.stride_h, b = j * g.dilation_w % g.stride_w;
      int64_t ph = 0;  // the plane of phase (a, b): at most one per tap, whatever the stride
      while (ph < p.phases && (p.phase_a[static_cast<size_t>(ph)] != a ||
                               p.phase_b[static_cast<size_t>(ph)] != b))
        ++ph;
      if (ph == p.phases) {
        ++p.phases;
        p.phase_a.push_back(a);
        p.phase_b.push_back(b);
      }
      p.offset.push_back(ph * p.plane + (i * g.dilation_h / g.stride_h) * p.cols +
                         j * g.dilation_w / g.stride_w);
    }
  p.channel_stride = p.phases * p.plane;
  p.slack = p.cols + 2 * kLanes;  // a tile's last packet reads past the last plane
  return p;
}

// For stride 2 the two column phases of one row phase come from one deinterleave of each
// source row (conv_planes.h).
void build_planes(const Planes& p, const float* src, int64_t channels, int64_t h, int64_t w,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, bool zeroed, float* dst) {
  if (!zeroed) std::fill(dst, dst + p.floats(channels), 0.0f);
  std::vector<ColumnMap> map(static_cast<size_t>(p.phases));
  for (int64_t ph = 0; ph < p.phases; ++ph) {
    const int64_t b = p.phase_b[static_cast<size_t>(ph)];
    ColumnMap& m = map[static_cast<size_t>(ph)];
    m.lo = std::min(p.cols, ceil_div(pl - b, sw));
    m.hi = std::max(m.lo, std::min(p.cols, ceil_div(w + pl - b, sw)));
    m.shift = b - pl;
  }
  // partner[ph]: the plane with the same row phase and column phase 1 when ph has phase 0
  std::vector<int64_t> partner(static_cast<size_t>(p.phases), -1);
  std::vector<bool> done(static_cast<size_t>(p.phases), false);
  if (sw == 2)
    for (int64_t x = 0; x < p.phases; ++x)
      for (int64_t y = 0; y < p.phases; ++y)
        if (p.phase_a[static_cast<size_t>(x)] == p.phase_a[static_cast<size_t>(y)] &&
            p.phase_b[static_cast<size_t>(x)] == 0 && p.phase_b[static_cast<size_t>(y)] == 1) {
          partner[static_cast<size_t>(x)] = y;
          done[static_cast<size_t>(y)] = true;
        }
  for (int64_t ph = 0; ph < p.phases; ++ph) {
    if (done[static_cast<size_t>(ph)]) continue;  // filled with its column-phase-0 partner
    const int64_t a = p.phase_a[static_cast<size_t>(ph)];
    const int64_t r_lo = std::min(p.rows, ceil_div(pt - a, sh));
    const int64_t r_hi = std::max(r_lo, std::min(p.rows, ceil_div(h + pt - a, sh)));
    const ColumnMap m0 = map[static_cast<size_t>(ph)];
    const int64_t other = partner[static_cast<size_t>(ph)];
    if (other < 0) {
      if (m0.hi == m0.lo) continue;
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t r = r_lo; r < r_hi; ++r)
          gather_row(src + (c * h + r * sh + a - pt) * w + m0.lo * sw + m0.shift, sw,
                     m0.hi - m0.lo,
                     dst + c * p.channel_stride + ph * p.plane + r * p.cols + m0.lo);
      continue;
    }
    // stride-2 pair: plane columns k read source column 2 (k + s) + parity; the pairs j in
    // [j0, j1) that both planes read are deinterleaved, the rest (an edge column) copied
    const ColumnMap m1 = map[static_cast<size_t>(other)];
    const int64_t par0 = ((m0.shift % 2) + 2) % 2, s0 = (m0.shift - par0) / 2;
    const int64_t s1 = (m1.shift - (1 - par0)) / 2;
    const int64_t j0 = std::max(m0.lo + s0, m1.lo + s1);
    const int64_t j1 = std::max(j0, std::min(m0.hi + s0, m1.hi + s1));
    for (int64_t c = 0; c < channels; ++c) {
      float* row0 = dst + c * p.channel_stride + ph * p.plane + r_lo * p.cols;
      float* row1 = dst + c * p.channel_stride + other * p.plane + r_lo * p.cols;
      const float* line = src + (c * h + r_lo * sh + a - pt) * w;
      float* at0 = row0 + (j0 - s0);  // where stream index j0 goes in each plane
      float* at1 = row1 + (j0 - s1);
      deinterleave_rows(line + 2 * j0, sh * w, r_hi - r_lo, j1 - j0, par0 == 0 ? at0 : at1,
                        par0 == 0 ? at1 : at0, p.cols);
      if (j0 == std::min(m0.lo + s0, m1.lo + s1) && j1 == std::max(m0.hi + s0, m1.hi + s1))
        continue;  // no edge column
      for (int64_t r = r_lo; r < r_hi; ++r, row0 += p.cols, row1 += p.cols, line += sh * w) {
        for (int64_t k = m0.lo; k < j0 - s0; ++k) row0[k] = line[2 * k + m0.shift];
        for (int64_t k = std::max(m0.lo, j1 - s0); k < m0.hi; ++k)
          row0[k] = line[2 * k + m0.shift];
        for (int64_t k = m1.lo; k < j0 - s1; ++k) row1[k] = line[2 * k + m1.shift];
        for (int64_t k = std::max(m1.lo, j1 - s1); k < m1.hi; ++k)
          row1[k] = line[2 * k + m1.shift];
      }
    }
  }
}

}  // namespace conv_detail
}  // namespace unified
