// A small reader and writer for NumPy's .npy files (format versions 1.0, 2.0 and 3.0), for
// unified-run's --input and --save-outputs. Only what a bundle's tensors can be: little-endian
// float32 ('<f4'), int32 ('<i4'), int64 ('<i8'), bool ('|b1') and uint8 ('|u1'), C order, at
// most 8 dims. Anything else (big-endian, Fortran order, object arrays, a data size that does
// not match the shape, a malformed header) is refused with a message naming what was found.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "unified_rt.h"

struct NpyArray {
  urt_dtype dtype = URT_FLOAT32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // C-contiguous, little-endian
};

const char* npy_descr(urt_dtype dtype);   // "<f4", ...
size_t npy_itemsize(urt_dtype dtype);     // 4, ...

// Parses a whole file's bytes; false with *error set on any problem.
bool npy_parse(const uint8_t* bytes, size_t size, NpyArray* out, std::string* error);
bool npy_read(const char* path, NpyArray* out, std::string* error);
// The bytes of a version 1.0 file holding `data` (C-contiguous) with this dtype and shape.
std::vector<uint8_t> npy_encode(urt_dtype dtype, const int64_t* shape, int ndim,
                                const void* data, size_t nbytes);
bool npy_write(const char* path, urt_dtype dtype, const int64_t* shape, int ndim,
               const void* data, size_t nbytes, std::string* error);
