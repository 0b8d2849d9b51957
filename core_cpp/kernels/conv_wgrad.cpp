// conv2d's weight gradient by direct convolution on phase planes (conv_planes.h), for any
// kernel size, stride, dilation, padding and groups; called by conv.cpp.
//
// grad_w[o][c][t] = sum over images and output pixels p of grad[o][p] * plane_c[q(p) + offset_t].
// 1. Tile choice: output channels in the packet lanes (the gradient transposed to (pixels, O)
//    per image, MC (channel, tap) pairs broadcast per pixel), or, when output rows are whole
//    packets and the transpose would not pay off (few pairs to reuse it) or leave most lanes
//    empty (few output channels), pixels in the lanes (each lane sum reduced at the end).
// 2. Images are split into at most 8 fixed chunks (per group); a chunk's images are summed
//    into its partial sums, then the chunks are added in order: the result does not depend
//    on the thread count.
// Limits: float32; output channels in the lanes need at least 40% of the lanes used
// (direct_weight_grad_applies; conv.cpp uses im2col + GEMM otherwise).
#include "conv_planes.h"

#include <array>
#include <utility>
#include <vector>

namespace unified {
namespace conv_detail {
namespace {

// Output channels in the lanes (step 1): for m < MC and v < NVO,
//   acc[m*op + v*kLanes ...] = (first ? 0 : acc) + sum over pixels (oy, ox) of
//                              broadcast(s[m][oy*cols + ox]) * gT[(oy*ow + ox)*op + v*kLanes ...].
template <int MC, int NVO>
void wgrad_tile(const float* gT, int64_t op, const float* const* s, int64_t oh, int64_t ow,
                int64_t cols, bool first, float* acc) {
  Packet a[MC][NVO];
  const float* sp[MC];
  for (int m = 0; m < MC; ++m) {
    sp[m] = s[m];
    for (int v = 0; v < NVO; ++v)
      a[m][v] = first ? pset1<Packet>(0.0f) : ploadu<Packet>(acc + m * op + v * kLanes);
  }
  for (int64_t oy = 0; oy < oh; ++oy) {
    for (int64_t ox = 0; ox < ow; ++ox, gT += op) {
      Packet gv[NVO];
      for (int v = 0; v < NVO; ++v) gv[v] = ploadu<Packet>(gT + v * kLanes);
      for (int m = 0; m < MC; ++m) {
        const Packet b = pset1<Packet>(sp[m][ox]);
        for (int v = 0; v < NVO; ++v) a[m][v] = pmadd(b, gv[v], a[m][v]);
      }
    }
    for (int m = 0; m < MC; ++m) sp[m] += cols;
  }
  for (int m = 0; m < MC; ++m)
    for (int v = 0; v < NVO; ++v) pstoreu(acc + m * op + v * kLanes, a[m][v]);
}

constexpr int kWgradPairs = 12;   // MC: (channel, tap) pairs per weight-gradient tile, at most
constexpr int kWgradVectors = 4;  // NVO: packets of output channels per tile, at most
// MC for a tile of nvo packets: about 24 accumulators
int wgrad_pairs(int64_t nvo) { return nvo <= 2 ? kWgradPairs : (nvo == 3 ? 8 : 6); }

using WgradTileFn = void (*)(const float*, int64_t, const float* const*, int64_t, int64_t,
                             int64_t, bool, float*);
template <int MC, int... NVO>
constexpr std::array<WgradTileFn, sizeof...(NVO)> wgrad_tile_row(
    std::integer_sequence<int, NVO...>) {
  return {wgrad_tile<MC, NVO + 1>...};
}
template <int... MC>
constexpr auto wgrad_tile_table(std::integer_sequence<int, MC...>) {
  return std::array<std::array<WgradTileFn, kWgradVectors>, sizeof...(MC)>{
      wgrad_tile_row<MC + 1>(std::make_integer_sequence<int, kWgradVectors>{})...};
}
const auto kWgradTiles = wgrad_tile_table(std::make_integer_sequence<int, kWgradPairs>{});

// Pixels in the lanes (step 1; output rows of whole packets): for m < MO and k < MC,
//   sums[k*ld + m] = (first ? 0 : sums) + sum over pixels (oy, ox) of
//                    g[m*plane + oy*ow + ox] * s[k][oy*cols + ox],
// summed lane-wise, each lane sum reduced once at the end.
template <int MO, int MC>
void wgrad_rows_tile(const float* g, int64_t plane, const float* const* s, int64_t oh,
                     int64_t ow, int64_t cols, bool first, float* sums, int64_t ld) {
  Packet acc[MO][MC];
  for (int m = 0; m < MO; ++m)
    for (int k = 0; k < MC; ++k) acc[m][k] = pset1<Packet>(0.0f);
  for (int64_t oy = 0; oy < oh; ++oy)
    for (int64_t x = 0; x < ow; x += kLanes) {
      Packet gv[MO], sv[MC];
      for (int m = 0; m < MO; ++m) gv[m] = ploadu<Packet>(g + m * plane + oy * ow + x);
      for (int k = 0; k < MC; ++k) sv[k] = ploadu<Packet>(s[k] + oy * cols + x);
      for (int m = 0; m < MO; ++m)
        for (int k = 0; k < MC; ++k) acc[m][k] = pmadd(gv[m], sv[k], acc[m][k]);
    }
  for (int m = 0; m < MO; ++m)
    for (int k = 0; k < MC; ++k) {
      const float total = Eigen::internal::predux(acc[m][k]);
      sums[k * ld + m] = first ? total : sums[k * ld + m] + total;
    }
}

constexpr int kRowsTileChannels = 4;  // MO: output channels per pixel-lane tile, at most
int rows_tile_pairs(int64_t mo) { return mo <= 2 ? kWgradPairs : (mo == 3 ? 8 : 6); }

using RowsTileFn = void (*)(const float*, int64_t, const float* const*, int64_t, int64_t,
                            int64_t, bool, float*, int64_t);
template <int MO, int... MC>
constexpr std::array<RowsTileFn, sizeof...(MC)> rows_tile_row(
    std::integer_sequence<int, MC...>) {
  return {wgrad_rows_tile<MO, MC + 1>...};
}
template <int... MO>
constexpr auto rows_tile_table(std::integer_sequence<int, MO...>) {
  return std::array<std::array<RowsTileFn, kWgradPairs>, sizeof...(MO)>{
      rows_tile_row<MO + 1>(std::make_integer_sequence<int, kWgradPairs>{})...};
}
const auto kRowsTiles = rows_tile_table(std::make_integer_sequence<int, kRowsTileChannels>{});

// Step 1's tile choice: pixels in the lanes when output rows are whole packets and the
// transposed gradient would not pay off (few (channel, tap) pairs to reuse it) or leave most
// lanes empty (few output channels); else output channels in the lanes.
bool pixel_lane_wgrad(const ConvGeometry& g) {
  const int64_t og = g.group_out_channels();
  const int64_t pairs = g.group_channels() * g.kernel_h * g.kernel_w;
  return g.out_width % kLanes == 0 &&
         (og * 5 < round_up(og, kLanes) * 4 || pairs <= 2 * kWgradPairs);
}

// dst (cols x ldd) = src (rows x cols)^T, with rows <= i < ldd of every dst row zeroed;
// kLanes x kLanes blocks go through Eigen's register transpose.
void transpose_padded(const float* src, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  int64_t i0 = 0;
  for (; i0 + kLanes <= rows; i0 += kLanes) {
    int64_t j0 = 0;
    for (; j0 + kLanes <= cols; j0 += kLanes) {
      Eigen::internal::PacketBlock<Packet, static_cast<int>(kLanes)> block;
      for (int64_t r = 0; r < kLanes; ++r)
        block.packet[r] = ploadu<Packet>(src + (i0 + r) * cols + j0);
      Eigen::internal::ptranspose(block);
      for (int64_t r = 0; r < kLanes; ++r) pstoreu(dst + (j0 + r) * ldd + i0, block.packet[r]);
    }
    for (; j0 < cols; ++j0)
      for (int64_t r = 0; r < kLanes; ++r) dst[j0 * ldd + i0 + r] = src[(i0 + r) * cols + j0];
  }
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t i = i0; i < rows; ++i) dst[j * ldd + i] = src[i * cols + j];
    for (int64_t i = rows; i < ldd; ++i) dst[j * ldd + i] = 0.0f;
  }
}

}  // namespace

bool direct_weight_grad_applies(const ConvGeometry& g) {
  // with output channels in the lanes, at least 40% of the lanes must be used
  const int64_t og = g.group_out_channels();
  return !g.is_pointwise() && (pixel_lane_wgrad(g) || og * 5 >= round_up(og, kLanes) * 2);
}

// grad_w (O, C/groups, KH, KW) = sum over images of grad x planes (steps 1 and 2).
void conv_backward_weight_direct(const ConvGeometry& g, const float* grad, const float* in,
                                 float* grad_w) {
  const Planes p = input_planes(g);
  const int64_t cg = g.group_channels(), og = g.group_out_channels();
  const int64_t taps = g.kernel_h * g.kernel_w, pairs = cg * taps, plane = g.out_plane();
  const int64_t op = round_up(og, kLanes), nvo = op / kLanes;
  if (g.batch == 0 || plane == 0) {
    std::fill(grad_w, grad_w + g.out_channels * pairs, 0.0f);
    return;
  }
  const int64_t per_chunk = (g.batch + 7) / 8, chunks = (g.batch + per_chunk - 1) / per_chunk;
  const int64_t units = chunks * g.groups;
  const bool pixel_lanes = pixel_lane_wgrad(g);
  const int64_t vblocks = (nvo + kWgradVectors - 1) / kWgradVectors;
  const int64_t oblocks = (og + kRowsTileChannels - 1) / kRowsTileChannels;
  const int64_t mc_max = pixel_lanes ? rows_tile_pairs(std::min<int64_t>(og, kRowsTileChannels))
                                     : wgrad_pairs(std::min<int64_t>(nvo, kWgradVectors));
  const int64_t pblocks = (pairs + mc_max - 1) / mc_max;
  // per image: its planes, then (output channels in the lanes) the transposed gradient
  const int64_t gt_at = round_up(p.floats(cg), 16);  // 64-byte aligned rows of gT
  const int64_t image_floats = round_up(gt_at + (pixel_lanes ? 0 : plane * op), 16);
  Scratch partial_scratch;  // per unit, pairs x op; a unit's first image writes it
  float* partial = partial_scratch.get(units * pairs * op);
  if (pixel_lanes) std::fill(partial, partial + units * pairs * op, 0.0f);  // lanes >= og
  auto prepare = [&](int64_t n, int64_t group, float* data, bool zeroed) {
    build_planes(p, in + (n * g.channels + group * cg) * g.in_plane(), cg, g.height, g.width,
                 g.stride_h, g.stride_w, g.pad_top, g.pad_left, zeroed, data);
    if (!pixel_lanes)
      transpose_padded(grad + (n * g.out_channels + group * og) * plane, og, plane,
                       data + gt_at, op);
  };
  // pair blocks [pb0, pb1) of image n into the unit's partial sums
  auto accumulate = [&](int64_t unit, int64_t n, const float* data, bool first, int64_t pb0,
                        int64_t pb1) {
    float* acc = partial + unit * pairs * op;
    const float* gT = data + gt_at;
    const float* gn = grad + (n * g.out_channels + (unit % g.groups) * og) * plane;
    for (int64_t pb = pb0; pb < pb1; ++pb) {
      const int64_t k0 = pb * mc_max, mc = std::min(mc_max, pairs - k0);
      const float* s[kWgradPairs];
      for (int64_t m = 0; m < mc; ++m) {
        const int64_t c = (k0 + m) / taps, t = (k0 + m) % taps;
        s[m] = data + c * p.channel_stride + p.offset[static_cast<size_t>(t)];
      }
      if (pixel_lanes) {
        for (int64_t ob = 0; ob < oblocks; ++ob) {
          const int64_t o0 = ob * kRowsTileChannels;
          const int64_t mo = std::min<int64_t>(kRowsTileChannels, og - o0);
          kRowsTiles[static_cast<size_t>(mo - 1)][static_cast<size_t>(mc - 1)](
              gn + o0 * plane, plane, s, g.out_height, g.out_width, p.cols, first,
              acc + k0 * op + o0, op);
        }
        continue;
      }
      for (int64_t vb = 0; vb < vblocks; ++vb) {
        const int64_t v0 = vb * kWgradVectors, nv = std::min<int64_t>(kWgradVectors, nvo - v0);
        kWgradTiles[static_cast<size_t>(mc - 1)][static_cast<size_t>(nv - 1)](
            gT + v0 * kLanes, op, s, g.out_height, g.out_width, p.cols, first,
            acc + k0 * op + v0 * kLanes);
      }
    }
  };
  const int threads = get_num_threads();
  if (threads <= 1 || units >= threads) {
    parallel_for(units, 1, [&](int64_t begin, int64_t end) {
      Scratch scratch;
      float* data = scratch.get(image_floats);
      bool zeroed = false;
      for (int64_t u = begin; u < end; ++u) {
        const int64_t chunk = u / g.groups, group = u % g.groups;
        for (int64_t n = chunk * per_chunk; n < std::min(g.batch, (chunk + 1) * per_chunk); ++n) {
          prepare(n, group, data, zeroed);
          zeroed = true;
          accumulate(u, n, data, n == chunk * per_chunk, 0, pblocks);
        }
      }
    });
  } else {  // few images: the threads split the pairs, each preparing the images itself
    parallel_for(units * pblocks, 1, [&](int64_t begin, int64_t end) {
      Scratch scratch;
      float* data = scratch.get(image_floats);
      int64_t prepared = -1;
      for (int64_t k = begin; k < end; ++k) {
        const int64_t u = k / pblocks, pb = k % pblocks;
        const int64_t chunk = u / g.groups, group = u % g.groups;
        for (int64_t n = chunk * per_chunk; n < std::min(g.batch, (chunk + 1) * per_chunk); ++n) {
          const int64_t key = n * g.groups + group;
          if (key != prepared) {
            prepare(n, group, data, prepared >= 0);
            prepared = key;
          }
          accumulate(u, n, data, n == chunk * per_chunk, pb, pb + 1);
        }
      }
    });
  }
  // grad_w[group*og + o][pair] = sum over chunks, in chunk order (inline unless large: one
  // parallel region less per call)
  const int64_t pair_floats = std::max<int64_t>(1, chunks * op);
  parallel_for(g.groups * pairs, std::max<int64_t>(1, 8 * kGrainElements / pair_floats),
               [&](int64_t begin, int64_t end) {
    std::vector<float> sum(static_cast<size_t>(op));
    for (int64_t k = begin; k < end; ++k) {
      const int64_t group = k / pairs, pair = k % pairs;
      for (int64_t v = 0; v < nvo; ++v) {
        Packet total = pset1<Packet>(0.0f);
        for (int64_t chunk = 0; chunk < chunks; ++chunk)
          total = Eigen::internal::padd(
              total, ploadu<Packet>(partial + ((chunk * g.groups + group) * pairs + pair) * op +
                                    v * kLanes));
        pstoreu(sum.data() + v * kLanes, total);
      }
      for (int64_t o = 0; o < og; ++o)
        grad_w[(group * og + o) * pairs + pair] = sum[static_cast<size_t>(o)];
    }
  });
}
}  // namespace conv_detail
}  // namespace unified
