// NumPy data-allocation handler (NEP 49) that counts the bytes of every array allocated while
// unified is imported (tensor storage included) into unified::memory_add, so memory_stats()
// costs nothing per op. Each block carries its size in a 16-byte header (realloc and free need
// it; 16 keeps malloc's alignment). Binding-layer code: the only place with NumPy's C API.
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define PY_ARRAY_UNIQUE_SYMBOL unified_numpy_api
#include <Python.h>
#include <numpy/arrayobject.h>

#include <cstdlib>
#include <cstring>

#include "unified/memory_stats.h"

namespace unified {
namespace {

constexpr size_t kHeader = 16;

void* with_header(void* block, size_t size) {
  if (block == nullptr) return nullptr;
  std::memcpy(block, &size, sizeof(size));
  memory_add(static_cast<int64_t>(size));
  return static_cast<char*>(block) + kHeader;
}

size_t header_size(void* ptr) {
  size_t size;
  std::memcpy(&size, static_cast<char*>(ptr) - kHeader, sizeof(size));
  return size;
}

void* counted_malloc(void*, size_t size) { return with_header(std::malloc(size + kHeader), size); }

void* counted_calloc(void*, size_t nelem, size_t elsize) {
  const size_t size = nelem * elsize;
  return with_header(std::calloc(size + kHeader, 1), size);
}

void* counted_realloc(void* ctx, void* ptr, size_t new_size) {
  if (ptr == nullptr) return counted_malloc(ctx, new_size);
  const size_t old_size = header_size(ptr);
  void* block = std::realloc(static_cast<char*>(ptr) - kHeader, new_size + kHeader);
  if (block == nullptr) return nullptr;
  memory_add(-static_cast<int64_t>(old_size));
  return with_header(block, new_size);
}

void counted_free(void*, void* ptr, size_t) {
  if (ptr == nullptr) return;
  memory_add(-static_cast<int64_t>(header_size(ptr)));
  std::free(static_cast<char*>(ptr) - kHeader);
}

PyDataMem_Handler g_handler = {
    "unified_counting_allocator",
    1,
    {nullptr, counted_malloc, counted_calloc, counted_realloc, counted_free},
};

}  // namespace

// Installs the handler for the importing context; returns false (and leaves NumPy's default)
// when NumPy's C API is unavailable. Arrays remember the handler that allocated them.
bool install_counting_allocator() {
  if (_import_array() < 0) {
    PyErr_Clear();
    return false;
  }
  PyObject* capsule = PyCapsule_New(&g_handler, "mem_handler", nullptr);
  if (capsule == nullptr) {
    PyErr_Clear();
    return false;
  }
  PyObject* old = PyDataMem_SetHandler(capsule);
  Py_DECREF(capsule);
  if (old == nullptr) {
    PyErr_Clear();
    return false;
  }
  Py_DECREF(old);
  return true;
}

}  // namespace unified
