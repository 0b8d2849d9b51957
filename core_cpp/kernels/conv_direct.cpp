// Direct convolution (no im2col) on phase planes (conv_planes.h): conv2d's forward and its
// input gradient for any kernel size, stride, dilation, padding and groups; called by conv.cpp.
//
// 1. Forward: a tile of MR output channels x NV packets of the wide grid accumulates, over
//    the (channel, tap) steps, packet(planes + step offset + q) * broadcast(weight), starting
//    at the bias. When output rows are whole packets the tile reads its packets row by row and
//    stores them into the output; otherwise it covers a run of the wide grid whose rows are
//    then copied out (dropping the columns ox >= OW). A fused relu is applied by the tile to
//    its registers as it stores them; another fused activation then runs over the rows just
//    written, while they are in cache.
// 2. Input gradient: the same tile. Input pixel (m*sh + a - pt, k*sw + b - pl) receives
//    grad (m - qi, k - qj) * w[tap] for the taps with phase (a, b): per input phase a
//    stride-1 correlation of the zero-padded gradient (one plane per gradient channel). The
//    phase results are interleaved back into the input rows; every input pixel is written
//    once (no zero fill, no scatter-add).
// Work is split over images when there are enough, else over channel blocks (batch 1).
// Limits: float32; each image's planes take scratch memory (about its padded input), kept per
// thread between calls when small (cached_scratch).
#include "conv_planes.h"

#include <array>
#include <climits>
#include <vector>
#include <utility>

namespace unified {
namespace conv_detail {
namespace {

constexpr int kTileChannels = 8;   // MR: output channels per tile
constexpr int kTileVectors = 3;    // NV: packets per tile
constexpr int64_t kBandFloats = 1536;  // wide-grid floats per band of output rows

// The tile that computes mr < MR rows: its own instantiation, or in a compact build
// (UNIFIED_COMPACT_KERNELS, the edge runtime's size build) the full MR-row tile, whose extra
// rows read row 0's weights and write rows nobody reads: the callers always pass MR weight
// rows, MR initial values and MR destinations. Each output is computed the same way by
// every tile shape, so both builds give the same bits.
constexpr int tile_rows(int mr) {
#ifdef UNIFIED_COMPACT_KERNELS
  return static_cast<void>(mr), kTileChannels;
#else
  return mr;
#endif
}

// ew::relu (x > 0 ? x : 0; NaN and -0 give +0) on a packet, bit for bit: the fused_conv2d
// activation the tiles apply in registers as they store.
inline Packet relu_packet(const Packet& x) {
  return Eigen::internal::pand(Eigen::internal::pcmp_lt(pset1<Packet>(0.0f), x), x);
}

// The tile of steps 1 and 2: for m < MR and v < NV,
//   dst[m*ld + v*kLanes ...] = init[m] + sum over k < steps of
//                              src[offset[k] + v*kLanes ...] * w[m][k]
// (k runs over (channel, tap) pairs: offset[k] = channel * channel_stride + tap offset),
// then relu'd when `relu`.
template <int MR, int NV>
void conv_tile(const float* src, const int64_t* offset, int64_t steps, const float* const* w,
               const float* init, float* dst, int64_t ld, bool relu) {
  Packet acc[MR][NV];
  const float* wr[MR];
  for (int m = 0; m < MR; ++m) {
    const Packet b = pset1<Packet>(init ? init[m] : 0.0f);
    for (int v = 0; v < NV; ++v) acc[m][v] = b;
    wr[m] = w[m];
  }
  for (int64_t k = 0; k < steps; ++k) {
    const float* s = src + offset[k];
    Packet x[NV];
    for (int v = 0; v < NV; ++v) x[v] = ploadu<Packet>(s + v * kLanes);
    for (int m = 0; m < MR; ++m) {
      const Packet wv = pset1<Packet>(wr[m][k]);
      for (int v = 0; v < NV; ++v) acc[m][v] = pmadd(x[v], wv, acc[m][v]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v)
      pstoreu(dst + m * ld + v * kLanes, relu ? relu_packet(acc[m][v]) : acc[m][v]);
}

using ConvTileFn = void (*)(const float*, const int64_t*, int64_t, const float* const*,
                            const float*, float*, int64_t, bool);

template <int MR, int... NV>
constexpr std::array<ConvTileFn, sizeof...(NV)> conv_tile_row(
    std::integer_sequence<int, NV...>) {
  return {conv_tile<MR, NV + 1>...};
}
template <int... MR>
constexpr auto conv_tile_table(std::integer_sequence<int, MR...>) {
  return std::array<std::array<ConvTileFn, kTileVectors>, sizeof...(MR)>{
      conv_tile_row<tile_rows(MR + 1)>(std::make_integer_sequence<int, kTileVectors>{})...};
}
const auto kConvTiles = conv_tile_table(std::make_integer_sequence<int, kTileChannels>{});

// The tile of step 1 for outputs whose rows are whole packets: packet v of the tile reads
// src + q[v] (+ offset[k]) and is written to dst[m] + dq[v] (no garbage columns, no copy).
template <int MR, int NV>
void conv_tile_rows(const float* src, const int64_t* q, const int64_t* offset, int64_t steps,
                    const float* const* w, const float* init, float* const* dst,
                    const int64_t* dq, bool relu) {
  Packet acc[MR][NV];
  const float* wr[MR];
  int64_t qv[NV];
  for (int v = 0; v < NV; ++v) qv[v] = q[v];
  for (int m = 0; m < MR; ++m) {
    const Packet b = pset1<Packet>(init ? init[m] : 0.0f);
    for (int v = 0; v < NV; ++v) acc[m][v] = b;
    wr[m] = w[m];
  }
  for (int64_t k = 0; k < steps; ++k) {
    const float* s = src + offset[k];
    Packet x[NV];
    for (int v = 0; v < NV; ++v) x[v] = ploadu<Packet>(s + qv[v]);
    for (int m = 0; m < MR; ++m) {
      const Packet wv = pset1<Packet>(wr[m][k]);
      for (int v = 0; v < NV; ++v) acc[m][v] = pmadd(x[v], wv, acc[m][v]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) pstoreu(dst[m] + dq[v], relu ? relu_packet(acc[m][v]) : acc[m][v]);
}

using RowTileFn = void (*)(const float*, const int64_t*, const int64_t*, int64_t,
                           const float* const*, const float*, float* const*, const int64_t*,
                           bool);
template <int MR, int... NV>
constexpr std::array<RowTileFn, sizeof...(NV)> row_tile_row(
    std::integer_sequence<int, NV...>) {
  return {conv_tile_rows<MR, NV + 1>...};
}
template <int... MR>
constexpr auto row_tile_table(std::integer_sequence<int, MR...>) {
  return std::array<std::array<RowTileFn, kTileVectors>, sizeof...(MR)>{
      row_tile_row<tile_rows(MR + 1)>(std::make_integer_sequence<int, kTileVectors>{})...};
}
const auto kRowTiles = row_tile_table(std::make_integer_sequence<int, kTileChannels>{});

// dst rows m < mr (row stride ld) = the tiles over the `len` wide-grid floats from src, split
// into tiles of at most kTileVectors packets (relu'd when `relu`).
void conv_rows(const float* src, const std::vector<int64_t>& offset, const float* const* w,
               const float* init, int mr, int64_t len, float* dst, int64_t ld,
               bool relu = false) {
  const int64_t vectors = (len + kLanes - 1) / kLanes;
  const int64_t tiles = (vectors + kTileVectors - 1) / kTileVectors;
  int64_t v0 = 0;
  for (int64_t k = 0; k < tiles; ++k) {
    const int64_t nv = vectors / tiles + (k < vectors % tiles ? 1 : 0);
    kConvTiles[static_cast<size_t>(mr - 1)][static_cast<size_t>(nv - 1)](
        src + v0 * kLanes, offset.data(), static_cast<int64_t>(offset.size()), w, init,
        dst + v0 * kLanes, ld, relu);
    v0 += nv;
  }
}

// offset[c * taps + t] = c * channel_stride + tap_offset[t]: the (channel, tap) steps of a tile.
std::vector<int64_t> step_offsets(const std::vector<int64_t>& tap_offset, int64_t channels,
                                  int64_t channel_stride) {
  std::vector<int64_t> steps;
  steps.reserve(static_cast<size_t>(channels) * tap_offset.size());
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t t : tap_offset) steps.push_back(c * channel_stride + t);
  return steps;
}

// The forward planes of a geometry and its (channel, tap) steps.
struct ForwardLayout {
  ScratchKey key;
  Planes planes;
  std::vector<int64_t> steps;
};

ForwardLayout make_layout(const ConvGeometry& g) {
  ForwardLayout layout{scratch_key(0, g, 0, 0), input_planes(g), {}};
  layout.steps = step_offsets(layout.planes.offset, g.group_channels(),
                              layout.planes.channel_stride);
  return layout;
}

// make_layout(g), kept for the calling thread's last kLayouts geometries (a model's
// convolutions, called again on every run), so a run allocates and computes neither again.
// The entry stays valid for the whole call. (Not in a compact build: code size.)
constexpr size_t kLayouts = 8;

const ForwardLayout& forward_layout(const ConvGeometry& g) {
  thread_local std::vector<ForwardLayout> cache;
  thread_local size_t next = 0;  // the entry to replace when full (round robin)
  const ScratchKey key = scratch_key(0, g, 0, 0);
  for (const ForwardLayout& e : cache)
    if (e.key == key) return e;
  ForwardLayout layout = make_layout(g);
  if (cache.size() < kLayouts) {
    cache.reserve(kLayouts);  // no reallocation: entries stay where they are
    cache.push_back(std::move(layout));
    return cache.back();
  }
  ForwardLayout& slot = cache[next];
  next = (next + 1) % kLayouts;
  slot = std::move(layout);
  return slot;
}

}  // namespace

// Step 1. out (N, O, OH, OW) = act(conv(in, weight) + bias).
void conv_forward_direct(const ConvGeometry& g, const float* in, const float* weight,
                         const float* bias, float* out, const FusedEpilogue& act) {
  if (g.batch == 0 || g.out_plane() == 0) return;
  static const FusedTileFn relu_tile = fused_unary_tile("relu");
  const bool relu = act && act.tile == relu_tile;  // applied in registers by the tiles
#ifdef UNIFIED_COMPACT_KERNELS
  const ForwardLayout layout = make_layout(g);
#else
  const ForwardLayout& layout = forward_layout(g);
#endif
  const Planes& p = layout.planes;
  const std::vector<int64_t>& steps = layout.steps;
  const int64_t cg = g.group_channels(), og = g.group_out_channels();
  const int64_t taps = g.kernel_h * g.kernel_w, plane = g.out_plane(), ow = g.out_width;
  const int64_t band_rows = std::max<int64_t>(1, std::min(g.out_height, kBandFloats / p.cols));
  const int64_t bands = (g.out_height + band_rows - 1) / band_rows;
  const int64_t oblocks = (og + kTileChannels - 1) / kTileChannels;
  const int64_t ld = round_up(band_rows * p.cols, kLanes) + kLanes;
  auto prepare = [&](int64_t s, float* data, bool zeroed) {
    const int64_t n = s / g.groups, group = s % g.groups;
    build_planes(p, in + (n * g.channels + group * cg) * g.in_plane(), cg, g.height, g.width,
                 g.stride_h, g.stride_w, g.pad_top, g.pad_left, zeroed, data);
  };
  // rows of whole packets: tiles read the planes and write the output rows directly (not in a
  // compact build, which keeps only the wide-grid tiles)
#ifdef UNIFIED_COMPACT_KERNELS
  const bool whole_rows = false;
#else
  const bool whole_rows = ow % kLanes == 0;
#endif
  const int64_t row_packets = ow / kLanes;
  auto item = [&](int64_t s, int64_t i, const float* data, float* rows) {
    const int64_t n = s / g.groups, group = s % g.groups;
    const int64_t band = i / oblocks, o0 = (i % oblocks) * kTileChannels;
    const int64_t y0 = band * band_rows, y1 = std::min(g.out_height, y0 + band_rows);
    const int mr = static_cast<int>(std::min<int64_t>(kTileChannels, og - o0));
    const float* w[kTileChannels];
    float* dst[kTileChannels];  // row y0 of each output channel (rows m >= mr: see tile_rows)
    float init[kTileChannels];
    for (int m = 0; m < kTileChannels; ++m) {
      const int64_t o = group * og + o0 + (m < mr ? m : 0);
      w[m] = weight + o * cg * taps;
      dst[m] = m < mr ? out + (n * g.out_channels + o) * plane + y0 * ow : rows + m * ld;
      init[m] = bias ? bias[o] : 0.0f;
    }
    if (whole_rows) {
      const int64_t packets = (y1 - y0) * row_packets;
      const int64_t tiles = (packets + kTileVectors - 1) / kTileVectors;
      int64_t q[kTileVectors], dq[kTileVectors];
      for (int64_t k = 0, v0 = 0; k < tiles; ++k) {
        const int64_t nv = packets / tiles + (k < packets % tiles ? 1 : 0);
        for (int64_t v = 0; v < nv; ++v) {
          const int64_t y = (v0 + v) / row_packets, x = (v0 + v) % row_packets * kLanes;
          q[v] = (y0 + y) * p.cols + x;
          dq[v] = y * ow + x;
        }
        kRowTiles[static_cast<size_t>(mr - 1)][static_cast<size_t>(nv - 1)](
            data, q, steps.data(), static_cast<int64_t>(steps.size()), w, init, dst, dq, relu);
        v0 += nv;
      }
    } else {
      conv_rows(data + y0 * p.cols, steps, w, init, mr, (y1 - y0) * p.cols, rows, ld, relu);
      for (int m = 0; m < mr; ++m)
        for (int64_t y = 0; y < y1 - y0; ++y)
          copy_floats(rows + m * ld + y * p.cols, ow, dst[m] + y * ow);
    }
    if (act && !relu)
      for (int m = 0; m < mr; ++m) act.apply(dst[m], (y1 - y0) * ow);
  };
  const ScratchKey key = scratch_key(1, g, p.floats(cg), kTileChannels * ld);
  run_slices(g.batch * g.groups, bands * oblocks, p.floats(cg), kTileChannels * ld, prepare,
             item, &key);
}

// Step 2: the input gradient's phases. Input row y is row phase i = y % sh (i < min(sh, H)),
// a = (i + pt) % sh, and column x is column phase j = x % sw, b = (j + pl) % sw: pixel
// (m*sh + a - pt, k*sw + b - pl) for m in [m_lo, m_hi), k in [k_lo, k_hi). Its taps (those with
// i*dh = sh*qi + a and j*dw = sw*qj + b) read gradient pixel (m - qi, k - qj). The gradient is
// padded into one plane per channel, `cols` wide, whose pixel (R, C) is gradient pixel
// (R + row0, C + col0); phase (i, j)'s wide grid is q = (m - m_lo)*cols + (k - k_lo), so every
// tap is one offset. (Only the phases that hold input pixels exist: at most H x W of them for
// strides larger than the input.)
struct GradPhase {
  int64_t m_lo = 0, m_hi = 0, k_lo = 0, k_hi = 0;
  std::vector<int64_t> taps, offset;  // kernel indices i*KW + j, wide-grid offsets
  bool active() const { return !taps.empty() && m_hi > m_lo && k_hi > k_lo; }
};

struct InputGradPlan {
  Planes grad;
  int64_t row0 = 0, col0 = 0, row_phases = 0, col_phases = 0;
  std::vector<GradPhase> phases;  // i * col_phases + j
};

InputGradPlan input_grad_plan(const ConvGeometry& g) {
  InputGradPlan r;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  r.row_phases = std::min(sh, g.height);
  r.col_phases = std::min(sw, g.width);
  r.phases.resize(static_cast<size_t>(r.row_phases * r.col_phases));
  int64_t row0 = INT64_MAX, col0 = INT64_MAX, row1 = INT64_MIN, col1 = INT64_MIN;
  for (int64_t i = 0; i < r.row_phases; ++i)
    for (int64_t j = 0; j < r.col_phases; ++j) {
      const int64_t a = (i + g.pad_top) % sh, b = (j + g.pad_left) % sw;
      GradPhase& ph = r.phases[static_cast<size_t>(i * r.col_phases + j)];
      ph.m_lo = ceil_div(g.pad_top - a, sh);
      ph.m_hi = std::max(ph.m_lo, ceil_div(g.height + g.pad_top - a, sh));
      ph.k_lo = ceil_div(g.pad_left - b, sw);
      ph.k_hi = std::max(ph.k_lo, ceil_div(g.width + g.pad_left - b, sw));
      for (int64_t ki = 0; ki < g.kernel_h; ++ki)
        for (int64_t kj = 0; kj < g.kernel_w; ++kj)
          if (ki * g.dilation_h % sh == a && kj * g.dilation_w % sw == b)
            ph.taps.push_back(ki * g.kernel_w + kj);
      if (!ph.active()) continue;
      for (int64_t t : ph.taps) {  // the gradient rows / columns this phase reads
        const int64_t qi = t / g.kernel_w * g.dilation_h / sh;
        const int64_t qj = t % g.kernel_w * g.dilation_w / sw;
        row0 = std::min(row0, ph.m_lo - qi);
        row1 = std::max(row1, ph.m_hi - qi);
        col0 = std::min(col0, ph.k_lo - qj);
        col1 = std::max(col1, ph.k_hi - qj);
      }
    }
  Planes& p = r.grad;
  if (row0 == INT64_MAX) row0 = row1 = col0 = col1 = 0;  // nothing reads the gradient
  r.row0 = row0;
  r.col0 = col0;
  p.rows = row1 - row0;
  p.cols = std::max<int64_t>(1, col1 - col0);
  p.plane = p.rows * p.cols;
  p.phases = 1;
  p.phase_a = {0};
  p.phase_b = {0};
  p.channel_stride = p.plane;
  p.slack = p.cols + 2 * kLanes;
  for (GradPhase& ph : r.phases)
    for (int64_t t : ph.taps) {
      const int64_t qi = t / g.kernel_w * g.dilation_h / sh;
      const int64_t qj = t % g.kernel_w * g.dilation_w / sw;
      ph.offset.push_back((ph.m_lo - qi - row0) * p.cols + ph.k_lo - qj - col0);
    }
  return r;
}

// `rows` input rows (width w, dst_stride apart) from their phases' rows: src[j] holds the
// first row of column phase j (null: zeros) from column k_lo[j], its next rows src_stride
// apart; column x reads phase x % sw at k = (x + pl) / sw.
void interleave_rows(const float* const* src, const int64_t* k_lo, int64_t src_stride,
                     int64_t sw, int64_t pl, int64_t w, int64_t rows, float* dst,
                     int64_t dst_stride) {
  if (sw == 1) {
    for (int64_t r = 0; r < rows; ++r, dst += dst_stride)
      if (src[0])
        copy_floats(src[0] + r * src_stride + pl - k_lo[0], w, dst);
      else
        std::fill(dst, dst + w, 0.0f);
    return;
  }
  if (sw == 2 && w >= 2 && src[0] && src[1]) {  // x = 2p + e: phase e, k = p + (e + pl) / 2
    const float* even = src[0] + pl / 2 - k_lo[0];
    const float* odd = src[1] + (1 + pl) / 2 - k_lo[1];
    const int64_t pairs = w / 2;
    for (int64_t r = 0; r < rows; ++r, even += src_stride, odd += src_stride, dst += dst_stride) {
      const float* __restrict e = even;
      const float* __restrict o = odd;
      float* __restrict row = dst;
      for (int64_t q = 0; q < pairs; ++q) {
        row[2 * q] = e[q];
        row[2 * q + 1] = o[q];
      }
      if (w % 2) row[w - 1] = e[pairs];
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r, dst += dst_stride)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t j = x % sw;
      dst[x] = src[j] ? src[j][r * src_stride + (x + pl) / sw - k_lo[j]] : 0.0f;
    }
}

void conv_backward_input_direct(const ConvGeometry& g, const float* grad, const float* weight,
                                float* grad_in) {
  if (g.batch == 0 || g.in_plane() == 0) return;
  if (g.out_plane() == 0) {  // no gradient pixels: no tap reaches the input
    std::fill(grad_in, grad_in + g.batch * g.channels * g.in_plane(), 0.0f);
    return;
  }
  const InputGradPlan r = input_grad_plan(g);
  const Planes& p = r.grad;
  const int64_t cg = g.group_channels(), og = g.group_out_channels();
  const int64_t taps = g.kernel_h * g.kernel_w, sh = g.stride_h, sw = g.stride_w;
  const int64_t phases = static_cast<int64_t>(r.phases.size());
  // active phases: a tmp slot each, weights with one row per input channel:
  // packed[ph][(group*cg + c)*og*T + o*T + t]
  std::vector<int64_t> slot(static_cast<size_t>(phases), -1);
  std::vector<std::vector<float>> packed(static_cast<size_t>(phases));
  std::vector<std::vector<int64_t>> steps(static_cast<size_t>(phases));
  int64_t slots = 0;
  for (int64_t ph = 0; ph < phases; ++ph) {
    const GradPhase& gp = r.phases[static_cast<size_t>(ph)];
    if (!gp.active()) continue;
    slot[static_cast<size_t>(ph)] = slots++;
    const int64_t nt = static_cast<int64_t>(gp.taps.size());
    std::vector<float>& wp = packed[static_cast<size_t>(ph)];
    wp.resize(static_cast<size_t>(g.channels * og * nt));
    for (int64_t gc = 0; gc < g.channels; ++gc) {  // gc = group*cg + c
      const int64_t group = gc / cg, c = gc % cg;
      for (int64_t o = 0; o < og; ++o)
        for (int64_t t = 0; t < nt; ++t)
          wp[static_cast<size_t>((gc * og + o) * nt + t)] =
              weight[((group * og + o) * cg + c) * taps + gp.taps[static_cast<size_t>(t)]];
    }
    steps[static_cast<size_t>(ph)] = step_offsets(gp.offset, og, p.channel_stride);
  }
  // bands of input rows [y0, y1), about kBandFloats of each phase's wide grid
  const int64_t band_rows = sh * std::max<int64_t>(1, kBandFloats / p.cols);
  const int64_t bands = (g.height + band_rows - 1) / band_rows;
  const int64_t cblocks = (cg + kTileChannels - 1) / kTileChannels;
  const int64_t ld = round_up((band_rows / sh + 1) * p.cols, kLanes) + kLanes;
  const int64_t item_floats = std::max<int64_t>(1, slots * kTileChannels * ld);
  auto prepare = [&](int64_t s, float* data, bool zeroed) {
    const int64_t n = s / g.groups, group = s % g.groups;
    build_planes(p, grad + (n * g.out_channels + group * og) * g.out_plane(), og, g.out_height,
                 g.out_width, 1, 1, -r.row0, -r.col0, zeroed, data);
  };
  // the rows of row phase i in [y0, y1): phase rows m in [m0, m1)
  auto phase_rows = [&](int64_t i, int64_t y0, int64_t y1, int64_t* m0, int64_t* m1) {
    const GradPhase& gp = r.phases[static_cast<size_t>(i * r.col_phases)];
    const int64_t a = (i + g.pad_top) % sh;
    *m0 = std::max(gp.m_lo, ceil_div(y0 + g.pad_top - a, sh));
    *m1 = std::min(gp.m_hi, ceil_div(y1 + g.pad_top - a, sh));
  };
  auto item = [&](int64_t s, int64_t index, const float* data, float* tmp) {
    const int64_t n = s / g.groups, group = s % g.groups;
    const int64_t band = index / cblocks, c0 = (index % cblocks) * kTileChannels;
    const int64_t y0 = band * band_rows, y1 = std::min(g.height, y0 + band_rows);
    const int mr = static_cast<int>(std::min<int64_t>(kTileChannels, cg - c0));
    for (int64_t ph = 0; ph < phases; ++ph) {
      const int64_t k = slot[static_cast<size_t>(ph)];
      int64_t m0, m1;
      phase_rows(ph / r.col_phases, y0, y1, &m0, &m1);
      if (k < 0 || m1 <= m0) continue;
      const GradPhase& gp = r.phases[static_cast<size_t>(ph)];
      const int64_t row_floats = og * static_cast<int64_t>(gp.taps.size());
      const float* w[kTileChannels];
      for (int m = 0; m < kTileChannels; ++m)  // rows m >= mr: see tile_rows
        w[m] = packed[static_cast<size_t>(ph)].data() +
               (group * cg + c0 + (m < mr ? m : 0)) * row_floats;
      conv_rows(data + (m0 - gp.m_lo) * p.cols, steps[static_cast<size_t>(ph)], w, nullptr, mr,
                (m1 - m0) * p.cols, tmp + k * kTileChannels * ld, ld);
    }
    // phase rows back into input rows: rows y = m*sh + a - pt of each row phase i
    std::vector<const float*> src(static_cast<size_t>(r.col_phases));
    std::vector<int64_t> k_lo(static_cast<size_t>(r.col_phases));
    for (int m = 0; m < mr; ++m) {
      float* image = grad_in + (n * g.channels + group * cg + c0 + m) * g.in_plane();
      for (int64_t i = 0; i < r.row_phases; ++i) {
        int64_t m0, m1;
        phase_rows(i, y0, y1, &m0, &m1);
        if (m1 <= m0) continue;
        for (int64_t j = 0; j < r.col_phases; ++j) {
          const int64_t ph = i * r.col_phases + j, k = slot[static_cast<size_t>(ph)];
          src[static_cast<size_t>(j)] = k < 0 ? nullptr : tmp + (k * kTileChannels + m) * ld;
          k_lo[static_cast<size_t>(j)] = r.phases[static_cast<size_t>(ph)].k_lo;
        }
        const int64_t a = (i + g.pad_top) % sh;
        interleave_rows(src.data(), k_lo.data(), p.cols, sw, g.pad_left, g.width, m1 - m0,
                        image + (m0 * sh + a - g.pad_top) * g.width, sh * g.width);
      }
    }
  };
  run_slices(g.batch * g.groups, bands * cblocks, p.floats(og), item_floats, prepare, item);
}

}  // namespace conv_detail
}  // namespace unified
