// TensorView: a non-owning view of tensor memory (data pointer, shape, strides in elements,
// dtype). Kernels take only views; ownership lives in Python (eager) or the arena (traced).
#pragma once
#include <cstdint>
#include <string>

namespace unified {

enum class DType : int32_t { kFloat32 = 0, kInt32 = 1, kInt64 = 2, kBool = 3, kUInt8 = 4 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kUInt8: return "uint8";
  }
  return "unknown";
}

inline int64_t dtype_itemsize(DType d) {
  switch (d) {
    case DType::kFloat32: case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: case DType::kUInt8: return 1;
  }
  return 0;
}

constexpr int kMaxDims = 8;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  int32_t ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strides[kMaxDims] = {0};  // in elements, may be 0 (broadcast) or negative

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expected) return false;
      expected *= shape[i];
    }
    return true;
  }
  template <class T>
  T* ptr() const { return static_cast<T*>(data); }
  std::string shape_str() const {
    std::string s = "(";
    for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (ndim == 1 ? ",)" : ")");
  }
};

// A contiguous view over `data` with the given shape (row-major strides).
inline TensorView contiguous_view(void* data, DType dtype, int ndim, const int64_t* shape) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.ndim = ndim;
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    v.shape[i] = shape[i];
    v.strides[i] = stride;
    stride *= shape[i];
  }
  return v;
}

}  // namespace unified
