// gemm_f32: the one matrix product every kernel uses (matmul, linear, conv). Implemented in
// core_cpp/kernels/matmul.cpp over Eigen's GEMM, so Eigen's headers are compiled once;
// conv.cpp and others include only this header.
#pragma once
#include <cstdint>

namespace unified {

// A strided float32 matrix: element (i, j) is at data[i * row_stride + j * col_stride].
struct MatrixRef {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;
  int64_t col_stride = 1;

  MatrixRef transposed() const { return {data, cols, rows, col_stride, row_stride}; }
};

// A row-major matrix with leading dimension `ld` (row_stride = ld, col_stride = 1).
inline MatrixRef row_major(const float* data, int64_t rows, int64_t cols, int64_t ld) {
  return {const_cast<float*>(data), rows, cols, ld, 1};
}

// c = a * b (or c += a * b with accumulate). Shapes must agree: a (M, K), b (K, N), c (M, N).
// Any strides (0 and negative too); layouts Eigen cannot map are copied first. With
// `parallel`, Eigen splits the product across the kernel threads (OpenMP); it runs on one
// thread when called from inside a parallel_for region.
void gemm_f32(const MatrixRef& a, const MatrixRef& b, const MatrixRef& c, bool accumulate,
              bool parallel = true);

}  // namespace unified
