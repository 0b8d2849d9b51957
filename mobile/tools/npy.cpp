// .npy reading and writing (npy.h). The header is a Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }
// parsed here by a small scanner that accepts exactly the three keys NumPy writes.
#include "npy.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

namespace {

// Sets *error printf-style and returns false.
__attribute__((format(printf, 2, 3))) bool fail(std::string* error, const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  *error = buf;
  return false;
}

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr int kMaxDims = 8;

struct Scanner {
  const char* p;
  const char* end;
  void skip_space() {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  }
  bool eat(char c) {
    skip_space();
    if (p < end && *p == c) {
      ++p;
      return true;
    }
    return false;
  }
  bool quoted(std::string* out) {  // '...' or "..." without escapes
    skip_space();
    if (p >= end || (*p != '\'' && *p != '"')) return false;
    const char quote = *p++;
    const char* start = p;
    while (p < end && *p != quote) ++p;
    if (p >= end) return false;
    out->assign(start, p);
    ++p;
    return true;
  }
  bool word(const char* w) {
    skip_space();
    const size_t n = std::strlen(w);
    if (static_cast<size_t>(end - p) < n || std::strncmp(p, w, n) != 0) return false;
    p += n;
    return true;
  }
  bool integer(int64_t* out) {
    skip_space();
    const char* start = p;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return false;
      v = v * 10 + (*p++ - '0');
    }
    if (p < end && *p == 'L') ++p;  // NumPy on Python 2 wrote 3L
    *out = v;
    return p > start;
  }
};

bool dtype_of(const std::string& descr, urt_dtype* out) {
  if (descr == "<f4") *out = URT_FLOAT32;
  else if (descr == "<i4") *out = URT_INT32;
  else if (descr == "<i8") *out = URT_INT64;
  else if (descr == "|b1") *out = URT_BOOL;
  else if (descr == "|u1" || descr == "<u1") *out = URT_UINT8;
  else return false;
  return true;
}

bool parse_shape(Scanner& s, std::vector<int64_t>* shape) {
  if (!s.eat('(')) return false;
  if (s.eat(')')) return true;
  for (;;) {
    int64_t d = 0;
    if (!s.integer(&d) || shape->size() >= kMaxDims) return false;
    shape->push_back(d);
    if (s.eat(')')) return true;
    if (!s.eat(',')) return false;
    if (s.eat(')')) return true;  // (3,) or a trailing comma
  }
}

// The header dict: exactly 'descr', 'fortran_order' and 'shape', in any order.
bool parse_header(const char* text, size_t n, std::string* descr, bool* fortran,
                  std::vector<int64_t>* shape, std::string* error) {
  Scanner s{text, text + n};
  bool seen[3] = {false, false, false};
  if (!s.eat('{')) return fail(error, "the header is not a dict");
  while (!s.eat('}')) {
    std::string key;
    if (!s.quoted(&key) || !s.eat(':')) return fail(error, "malformed header dict");
    if (key == "descr") {
      if (!s.quoted(descr)) return fail(error, "'descr' is not a string");
      seen[0] = true;
    } else if (key == "fortran_order") {
      if (s.word("True")) *fortran = true;
      else if (s.word("False")) *fortran = false;
      else return fail(error, "'fortran_order' is not True or False");
      seen[1] = true;
    } else if (key == "shape") {
      if (!parse_shape(s, shape))
        return fail(error, "'shape' is not a tuple of at most 8 non-negative ints");
      seen[2] = true;
    } else {
      return fail(error, "unexpected header key '%s'", key.c_str());
    }
    if (!s.eat(',') && !(s.skip_space(), s.p < s.end && *s.p == '}'))
      return fail(error, "malformed header dict");
  }
  if (!(seen[0] && seen[1] && seen[2]))
    return fail(error, "the header lacks 'descr', 'fortran_order' or 'shape'");
  return true;
}

// "(2, 3)", "(4,)" or "()" (at most 8 dims of 20 digits: fits; printf-style, for size)
struct ShapeText {
  char text[256];
  const char* c_str() const { return text; }
};
ShapeText shape_text(const int64_t* shape, size_t ndim) {
  ShapeText s;
  int n = std::snprintf(s.text, sizeof s.text, "(");
  for (size_t i = 0; i < ndim && i < 8; ++i)
    n += std::snprintf(s.text + n, sizeof s.text - n, "%s%lld", i ? ", " : "",
                       static_cast<long long>(shape[i]));
  std::snprintf(s.text + n, sizeof s.text - n, ndim == 1 ? ",)" : ")");
  return s;
}
ShapeText shape_text(const std::vector<int64_t>& shape) {
  return shape_text(shape.data(), shape.size());
}

}  // namespace

const char* npy_descr(urt_dtype dtype) {
  switch (dtype) {
    case URT_FLOAT32: return "<f4";
    case URT_INT32: return "<i4";
    case URT_INT64: return "<i8";
    case URT_BOOL: return "|b1";
    case URT_UINT8: return "|u1";
  }
  return "?";
}

size_t npy_itemsize(urt_dtype dtype) {
  switch (dtype) {
    case URT_FLOAT32: case URT_INT32: return 4;
    case URT_INT64: return 8;
    case URT_BOOL: case URT_UINT8: return 1;
  }
  return 0;
}

bool npy_parse(const uint8_t* bytes, size_t size, NpyArray* out, std::string* error) {
  if (size < kMagicBytes + 4 || std::memcmp(bytes, kMagic, kMagicBytes) != 0)
    return fail(error, "not a .npy file (no \\x93NUMPY magic)");
  const int major = bytes[6];
  size_t header_bytes = 0, start = 0;
  if (major == 1) {
    header_bytes = bytes[8] | size_t{bytes[9]} << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return fail(error, "truncated header");
    header_bytes = bytes[8] | size_t{bytes[9]} << 8 | size_t{bytes[10]} << 16 |
                   size_t{bytes[11]} << 24;
    start = 12;
  } else {
    return fail(error, "unsupported .npy format version %d", major);
  }
  if (header_bytes > size - start)
    return fail(error, "the header claims %zu bytes, the file has %zu after the preamble",
                header_bytes, size - start);
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  if (!parse_header(reinterpret_cast<const char*>(bytes + start), header_bytes, &descr,
                    &fortran, &shape, error))
    return false;
  if (!dtype_of(descr, &out->dtype))
    return fail(error, "dtype '%s' is not supported (use little-endian float32, int32, int64, "
                "bool or uint8)", descr.c_str());
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d != 0 && numel > (uint64_t{1} << 48) / static_cast<uint64_t>(d))
      return fail(error, "shape %s is too large", shape_text(shape).c_str());
    numel *= static_cast<uint64_t>(d);
  }
  if (fortran && shape.size() > 1)
    return fail(error, "Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  const uint64_t want = numel * npy_itemsize(out->dtype);
  const uint64_t have = size - start - header_bytes;
  if (have != want)
    return fail(error, "shape %s of %s needs %llu data bytes, the file has %llu",
                shape_text(shape).c_str(), descr.c_str(), static_cast<unsigned long long>(want),
                static_cast<unsigned long long>(have));
  out->shape = shape;
  out->data.assign(bytes + start + header_bytes, bytes + size);
  return true;
}

bool npy_read(const char* path, NpyArray* out, std::string* error) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return fail(error, "cannot open '%s'", path);
  std::vector<uint8_t> bytes;
  uint8_t chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return fail(error, "cannot read '%s'", path);
  if (!npy_parse(bytes.data(), bytes.size(), out, error)) {
    *error = std::string(path) + ": " + *error;
    return false;
  }
  return true;
}

std::vector<uint8_t> npy_encode(urt_dtype dtype, const int64_t* shape, int ndim,
                                const void* data, size_t nbytes) {
  char header[384];
  size_t size = static_cast<size_t>(std::snprintf(
      header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
      npy_descr(dtype), shape_text(shape, static_cast<size_t>(ndim)).c_str()));
  // pad with spaces so the data starts at a multiple of 64, ending with a newline
  for (size_t pad = (64 - (10 + size + 1) % 64) % 64; pad > 0; --pad) header[size++] = ' ';
  header[size++] = '\n';
  std::vector<uint8_t> out(kMagic, kMagic + kMagicBytes);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(size & 0xFF));
  out.push_back(static_cast<uint8_t>(size >> 8));
  out.insert(out.end(), header, header + size);
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + nbytes);
  return out;
}

bool npy_write(const char* path, urt_dtype dtype, const int64_t* shape, int ndim,
               const void* data, size_t nbytes, std::string* error) {
  const std::vector<uint8_t> bytes = npy_encode(dtype, shape, ndim, data, nbytes);
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr) return fail(error, "cannot write '%s'", path);
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return fail(error, "cannot write '%s'", path);
  return true;
}
