// ConvGeometry: a 2-D convolution's sizes, shared by the conv kernels (conv.cpp), the direct
// kernels (conv_direct.cpp, conv_wgrad.cpp) and Winograd (conv_winograd.cpp). Internal to
// core_cpp/kernels.
#pragma once
#include <algorithm>
#include <cstdint>

#include "unified/fused.h"

namespace unified {
namespace conv_detail {

// Floats per im2col tile: the tile stays in the L2 cache while the GEMM reads it.
constexpr int64_t kTileFloats = int64_t{1} << 17;

// The convolution out = conv(in, weight) seen from its forward direction; backward ops and
// conv_transpose2d fill it with the roles of their tensors in that forward convolution.
struct ConvGeometry {
  int64_t batch, channels, height, width;      // conv input (N, C, H, W)
  int64_t out_channels, out_height, out_width;  // conv output (N, O, OH, OW)
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
  int64_t groups;

  int64_t in_plane() const { return height * width; }
  int64_t out_plane() const { return out_height * out_width; }
  int64_t group_channels() const { return channels / groups; }
  int64_t group_out_channels() const { return out_channels / groups; }
  int64_t col_rows() const { return group_channels() * kernel_h * kernel_w; }
  // 1x1, stride 1, no padding: the input plane is already the im2col matrix.
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
           pad_left == 0;
  }
  int64_t tile() const {
    const int64_t fit = kTileFloats / std::max<int64_t>(1, col_rows());
    return std::max<int64_t>(1, std::min(out_plane(), std::max<int64_t>(64, fit)));
  }
};

// Winograd F(2x2, 3x3) (conv_winograd.cpp) runs the forward of large 3x3, stride 1, dilation
// 1 convolutions (>= 64 channels per group, >= 2500 output pixels), where its 2.25x fewer
// multiplications beat the direct kernels. `act` (none by default) is applied to each block
// of output rows right after it is written (fused_conv2d).
bool winograd_applies(const ConvGeometry& g);
void conv_forward_winograd(const ConvGeometry& g, const float* in, const float* weight,
                           const float* bias, float* out, const FusedEpilogue& act);

// Direct convolution over phase planes (conv_direct.cpp), for every convolution but the
// pointwise one (which needs no im2col); the weight gradient only when the output channels
// per group fill enough of the vector lanes (direct_weight_grad_applies). Forward applies
// `act` to each block of output rows it writes.
bool direct_weight_grad_applies(const ConvGeometry& g);
void conv_forward_direct(const ConvGeometry& g, const float* in, const float* weight,
                         const float* bias, float* out, const FusedEpilogue& act);
void conv_backward_input_direct(const ConvGeometry& g, const float* grad, const float* weight,
                                float* grad_in);
void conv_backward_weight_direct(const ConvGeometry& g, const float* grad, const float* in,
                                 float* grad_w);

}  // namespace conv_detail
}  // namespace unified
