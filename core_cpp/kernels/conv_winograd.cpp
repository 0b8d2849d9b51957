// conv2d forward by Winograd F(2x2, 3x3) for 3x3, stride-1, undilated convolutions: each 4x4
// input tile is transformed (B^T d B), the 16 transformed positions become 16 GEMMs
// U_xi (O x C) * V_xi (C x tiles) through gemm_f32 (Eigen), and each 4x4 result is transformed
// back to a 2x2 output tile (A^T m A). 2.25x fewer multiplications than im2col; float32 error
// stays ~1e-6 relative. Called by conv.cpp (conv2d, fused_conv2d: the activation is applied
// to each block's output rows as soon as they are written); see conv_geometry.h.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv_geometry.h"
#include "unified/gemm.h"
#include "unified/threading.h"

namespace unified {
namespace conv_detail {
namespace {

constexpr int kPositions = 16;  // a 4x4 transformed tile
constexpr int64_t kMaxTilesW = 2048;  // output width <= 4096 (a stack buffer per image row)

// U (16, O, C/groups) = G g G^T for every 3x3 filter g.
std::vector<float> transform_weights(const ConvGeometry& g, const float* weight) {
  const int64_t cg = g.group_channels(), filters = g.out_channels * cg;
  std::vector<float> u(static_cast<size_t>(kPositions * filters));
  for (int64_t f = 0; f < filters; ++f) {
    const float* k = weight + f * 9;
    float gk[4][3];  // G k: rows k0, (k0+k1+k2)/2, (k0-k1+k2)/2, k2
    for (int j = 0; j < 3; ++j) {
      gk[0][j] = k[j];
      gk[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
      gk[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
      gk[3][j] = k[6 + j];
    }
    for (int i = 0; i < 4; ++i) {
      const float a = gk[i][0], b = gk[i][1], c = gk[i][2];
      const float row[4] = {a, 0.5f * (a + b + c), 0.5f * (a - b + c), c};
      for (int j = 0; j < 4; ++j) u[(i * 4 + j) * filters + f] = row[j];
    }
  }
  return u;
}

struct TilePlan {
  int64_t tiles_h, tiles_w, rows_per_block, blocks;
};

TilePlan tile_plan(const ConvGeometry& g) {
  TilePlan p;
  p.tiles_h = (g.out_height + 1) / 2;
  p.tiles_w = (g.out_width + 1) / 2;
  const int64_t per_row = kPositions * p.tiles_w * std::max(g.group_channels(), g.group_out_channels());
  p.rows_per_block = std::max<int64_t>(1, std::min(p.tiles_h, 2 * kTileFloats / per_row));
  p.blocks = (p.tiles_h + p.rows_per_block - 1) / p.rows_per_block;
  return p;
}

// cols[j * tw + tx] = (d B)[j] of the 4 values line[2 tx .. 2 tx + 3]; the even and odd
// columns are split first so that the transform itself reads contiguous memory.
void column_transform(const float* __restrict line, int64_t tw, float* __restrict cols) {
  float even[kMaxTilesW + 1], odd[kMaxTilesW + 1];
  for (int64_t k = 0; k <= tw; ++k) {
    even[k] = line[2 * k];
    odd[k] = line[2 * k + 1];
  }
  for (int64_t tx = 0; tx < tw; ++tx) {
    cols[tx] = even[tx] - even[tx + 1];
    cols[tw + tx] = odd[tx] + even[tx + 1];
    cols[2 * tw + tx] = even[tx + 1] - odd[tx];
    cols[3 * tw + tx] = odd[tx] - odd[tx + 1];
  }
}

// V (16, C/groups, tiles) = B^T d B for the tiles of tile rows [ty0, ty0 + rows) of one
// image group; `line` is scratch of 2 * tiles_w + 2 floats.
void transform_input(const ConvGeometry& g, const TilePlan& p, const float* image, int64_t ty0,
                     int64_t rows, float* v, float* line, float* cols) {
  const int64_t cg = g.group_channels(), tw = p.tiles_w, tiles = rows * tw;
  const int64_t line_len = 2 * tw + 2;
  for (int64_t c = 0; c < cg; ++c)
    for (int64_t ty = 0; ty < rows; ++ty) {
      // cols[r][j][tx]: (d B) for input row r of this tile row
      for (int r = 0; r < 4; ++r) {
        const int64_t iy = 2 * (ty0 + ty) - g.pad_top + r;
        std::fill(line, line + line_len, 0.0f);
        if (iy >= 0 && iy < g.height) {
          const int64_t x0 = std::max<int64_t>(0, -g.pad_left);
          const int64_t x1 = std::min(g.width, line_len - g.pad_left);
          if (x1 > x0) std::copy(image + (c * g.height + iy) * g.width + x0,
                                 image + (c * g.height + iy) * g.width + x1, line + g.pad_left + x0);
        }
        column_transform(line, tw, cols + r * 4 * tw);
      }
      for (int j = 0; j < 4; ++j) {
        const float *r0 = cols + j * tw, *r1 = cols + (4 + j) * tw, *r2 = cols + (8 + j) * tw,
                    *r3 = cols + (12 + j) * tw;
        float* out0 = v + ((0 * 4 + j) * cg + c) * tiles + ty * tw;
        float* out1 = v + ((1 * 4 + j) * cg + c) * tiles + ty * tw;
        float* out2 = v + ((2 * 4 + j) * cg + c) * tiles + ty * tw;
        float* out3 = v + ((3 * 4 + j) * cg + c) * tiles + ty * tw;
        for (int64_t tx = 0; tx < tw; ++tx) {
          out0[tx] = r0[tx] - r2[tx];
          out1[tx] = r1[tx] + r2[tx];
          out2[tx] = r2[tx] - r1[tx];
          out3[tx] = r1[tx] - r3[tx];
        }
      }
    }
}

// One tile row of one output channel: rows y and y + 1 (when inside) of out, from the 16
// rows m_xi (m_xi[tx] = M[xi][o][tile]) of that tile row. Full tiles run as a plain loop over
// tx (vectorized); an odd last column is written separately.
void output_tile_row(const float* const* m, float bias, int64_t tw, int64_t ow, bool second_row,
                     float* __restrict row0, float* __restrict row1) {
  float y00[kMaxTilesW], y01[kMaxTilesW], y10[kMaxTilesW], y11[kMaxTilesW];
  const float *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3], *m4 = m[4], *m5 = m[5],
              *m6 = m[6], *m7 = m[7], *m8 = m[8], *m9 = m[9], *m10 = m[10], *m11 = m[11],
              *m12 = m[12], *m13 = m[13], *m14 = m[14], *m15 = m[15];
  for (int64_t tx = 0; tx < tw; ++tx) {  // s_i = (m_i0 + m_i1 + m_i2, m_i1 - m_i2 - m_i3)
    const float s00 = m0[tx] + m1[tx] + m2[tx], s01 = m1[tx] - m2[tx] - m3[tx];
    const float s10 = m4[tx] + m5[tx] + m6[tx], s11 = m5[tx] - m6[tx] - m7[tx];
    const float s20 = m8[tx] + m9[tx] + m10[tx], s21 = m9[tx] - m10[tx] - m11[tx];
    const float s30 = m12[tx] + m13[tx] + m14[tx], s31 = m13[tx] - m14[tx] - m15[tx];
    y00[tx] = s00 + s10 + s20 + bias;
    y01[tx] = s01 + s11 + s21 + bias;
    y10[tx] = s10 - s20 - s30 + bias;
    y11[tx] = s11 - s21 - s31 + bias;
  }
  const int64_t full = ow / 2;
  for (int64_t tx = 0; tx < full; ++tx) {
    row0[2 * tx] = y00[tx];
    row0[2 * tx + 1] = y01[tx];
  }
  if (full < tw) row0[2 * full] = y00[full];  // odd width: the last tile has one column
  if (!second_row) return;
  for (int64_t tx = 0; tx < full; ++tx) {
    row1[2 * tx] = y10[tx];
    row1[2 * tx + 1] = y11[tx];
  }
  if (full < tw) row1[2 * full] = y10[full];
}

// out tiles = A^T m A + bias for the tiles of one block, m = M (16, O/groups, tiles).
void transform_output(const ConvGeometry& g, const TilePlan& p, const float* m, const float* bias,
                      int64_t ty0, int64_t rows, float* out) {
  const int64_t og = g.group_out_channels(), tw = p.tiles_w, tiles = rows * tw;
  const int64_t ow = g.out_width;
  for (int64_t o = 0; o < og; ++o)
    for (int64_t ty = 0; ty < rows; ++ty) {
      const float* rows_m[kPositions];
      for (int xi = 0; xi < kPositions; ++xi) rows_m[xi] = m + (xi * og + o) * tiles + ty * tw;
      const int64_t y = 2 * (ty0 + ty);
      float* row0 = out + (o * g.out_height + y) * ow;
      const bool second = y + 1 < g.out_height;
      output_tile_row(rows_m, bias[o], tw, ow, second, row0, second ? row0 + ow : row0);
    }
}

}  // namespace

// Where it beats the direct kernels (conv_direct.cpp, which run near the FMA peak): measured
// on AVX-512 at 1 thread, Winograd wins by 12-30% from 64 channels and ~56x56 outputs up
// (64x64x56x56, 128x128x56x56, 64x64x112x112), ties at 40x40-48x48 and 28x28 and loses
// below (32 channels at 56x56, any batch-1 16x16-32x32 layer by 2-3x).
bool winograd_applies(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.group_channels() >= 64 &&
         g.group_out_channels() >= 64 && g.out_height >= 4 && g.out_width >= 4 &&
         g.out_plane() >= 2500 &&
         (g.out_width + 1) / 2 <= kMaxTilesW;
}

void conv_forward_winograd(const ConvGeometry& g, const float* in, const float* weight,
                           const float* bias, float* out, const FusedEpilogue& act) {
  const TilePlan p = tile_plan(g);
  const int64_t cg = g.group_channels(), og = g.group_out_channels();
  const int64_t filters = g.out_channels * cg;
  const std::vector<float> u = transform_weights(g, weight);
  parallel_for(g.batch * g.groups * p.blocks, 1, [&](int64_t begin, int64_t end) {
    const int64_t max_tiles = p.rows_per_block * p.tiles_w;
    std::vector<float> v(static_cast<size_t>(kPositions * cg * max_tiles));
    std::vector<float> m(static_cast<size_t>(kPositions * og * max_tiles));
    std::vector<float> line(static_cast<size_t>(2 * p.tiles_w + 2));
    std::vector<float> cols(static_cast<size_t>(16 * p.tiles_w));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / (g.groups * p.blocks), group = (item / p.blocks) % g.groups;
      const int64_t ty0 = (item % p.blocks) * p.rows_per_block;
      const int64_t rows = std::min(p.tiles_h, ty0 + p.rows_per_block) - ty0;
      const int64_t tiles = rows * p.tiles_w;
      transform_input(g, p, in + (n * g.channels + group * cg) * g.in_plane(), ty0, rows,
                      v.data(), line.data(), cols.data());
      for (int xi = 0; xi < kPositions; ++xi)
        gemm_f32(row_major(u.data() + xi * filters + group * og * cg, og, cg, cg),
                 row_major(v.data() + xi * cg * tiles, cg, tiles, tiles),
                 row_major(m.data() + xi * og * tiles, og, tiles, tiles), false, false);
      float* block = out + (n * g.out_channels + group * og) * g.out_plane();
      transform_output(g, p, m.data(), bias + group * og, ty0, rows, block);
      if (act) {  // output rows [2 ty0, 2 (ty0 + rows)) of each channel, while in cache
        const int64_t y0 = 2 * ty0, y1 = std::min(g.out_height, 2 * (ty0 + rows));
        for (int64_t o = 0; o < og; ++o)
          act.apply(block + o * g.out_plane() + y0 * g.out_width, (y1 - y0) * g.out_width);
      }
    }
  });
}

}  // namespace conv_detail
}  // namespace unified
