/* c_api_test: exercises unified_rt.h from plain C99 (tests/mobile/test_runtime.py and
 * test_dynamic_shape.py build and run it).
 * Usage: c_api_test MODEL.ufb OUT_PREFIX [--batch N] [IN_0.bin ...]
 *  1. loads MODEL with urt_load_file, and again from memory (urt_load_memory);
 *  2. checks the interface getters and the error paths (bad index, wrong byte count, another
 *     shape for urt_set_input_shape: refused by a fixed bundle, accepted as a new batch by a
 *     dynamic one, which then refuses another non-batch dim and a batch above its max; a
 *     truncated copy of the file, a missing file, null args);
 *  3. with --batch N, sets every input's dim 0 to N (urt_set_input_shape) on both models;
 *  4. sets input k from the raw bytes of IN_k.bin, runs both models, checks they agree, and
 *     writes output k's raw bytes to OUT_PREFIX<k>.bin (pytest compares them with eager).
 * Prints one line per failed check and exits 1 if any failed, 2 on a usage or I/O problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unified_rt.h"

static int failures = 0;

#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      printf("FAILED %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                      \
      printf("\n");                             \
      failures++;                               \
    }                                           \
  } while (0)

static unsigned char* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  long n;
  unsigned char* data;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  data = (unsigned char*)malloc((size_t)n + 1);
  if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

/* urt_set_input_shape with another shape: a fixed bundle refuses it; a dynamic one takes a new
 * batch (outputs follow), refuses another dim and a batch above its max, and goes back. */
static void check_shapes(urt_model* m, const int64_t* dims, int ndim) {
  int64_t saved[8], other[8], batch = -1, max_batch = -1;
  const int64_t* now = NULL;
  int now_ndim = 0;
  size_t in_bytes = 0, out_bytes = 0, out_bytes_2 = 0;
  memcpy(saved, dims, sizeof(int64_t) * (size_t)ndim);
  memcpy(other, dims, sizeof(int64_t) * (size_t)ndim);
  other[0] += 1;
  CHECK(urt_batch(m, &batch, &max_batch) == URT_OK, "urt_batch: %s", urt_last_error());
  if (max_batch == 0) {
    CHECK(batch == 0, "fixed bundle reports batch %lld", (long long)batch);
    CHECK(urt_set_input_shape(m, 0, other, ndim) == URT_ERROR_INVALID_ARGUMENT, "other shape");
    CHECK(strstr(urt_last_error(), "was saved at shape") != NULL, "message: %s",
          urt_last_error());
    return;
  }
  CHECK(batch == saved[0] && max_batch >= batch, "batch %lld of %lld, saved dim 0 %lld",
        (long long)batch, (long long)max_batch, (long long)saved[0]);
  urt_output_nbytes(m, 0, &out_bytes);
  CHECK(urt_set_input_shape(m, 0, other, ndim) == URT_OK, "batch + 1: %s", urt_last_error());
  CHECK(urt_input_shape(m, 0, &now, &now_ndim) == URT_OK && now == dims && now[0] == other[0],
        "input shape after a new batch");
  CHECK(urt_batch(m, &batch, &max_batch) == URT_OK && batch == other[0], "batch %lld",
        (long long)batch);
  CHECK(urt_input_nbytes(m, 0, &in_bytes) == URT_OK && in_bytes % (size_t)other[0] == 0,
        "input bytes %zu", in_bytes);
  urt_output_nbytes(m, 0, &out_bytes_2);
  CHECK(out_bytes_2 / (size_t)other[0] == out_bytes / (size_t)saved[0],
        "output bytes %zu at batch %lld, %zu at %lld", out_bytes_2, (long long)other[0],
        out_bytes, (long long)saved[0]);
  CHECK(urt_run(m) == URT_OK, "run at batch + 1: %s", urt_last_error());
  if (ndim > 1) {
    other[1] += 1;
    CHECK(urt_set_input_shape(m, 0, other, ndim) == URT_ERROR_INVALID_ARGUMENT, "dim 1 changed");
    CHECK(strstr(urt_last_error(), "only its batch may change") != NULL, "message: %s",
          urt_last_error());
    other[1] -= 1;
  }
  other[0] = max_batch + 1;
  CHECK(urt_set_input_shape(m, 0, other, ndim) == URT_ERROR_INVALID_ARGUMENT, "above max");
  CHECK(strstr(urt_last_error(), "max_batch") != NULL, "message: %s", urt_last_error());
  CHECK(urt_set_input_shape(m, 0, saved, ndim) == URT_OK, "back to saved: %s", urt_last_error());
  CHECK(urt_batch(m, &batch, &max_batch) == URT_OK && batch == saved[0], "batch restored");
}

static void check_errors(urt_model* m, const unsigned char* file, size_t file_size) {
  const char* name = NULL;
  const int64_t* dims = NULL;
  int ndim = 0, n_in = 0;
  size_t nbytes = 0;
  urt_model* bad = NULL;
  char bogus[4] = {0};
  urt_num_inputs(m, &n_in);

  CHECK(urt_input_name(m, n_in, &name) == URT_ERROR_INVALID_ARGUMENT, "input index %d", n_in);
  CHECK(strstr(urt_last_error(), "no input") != NULL, "message: %s", urt_last_error());
  CHECK(urt_output_shape(m, -1, &dims, &ndim) == URT_ERROR_INVALID_ARGUMENT, "output -1");
  CHECK(urt_num_inputs(NULL, &n_in) == URT_ERROR_INVALID_ARGUMENT, "null model");
  CHECK(urt_set_input(m, 0, bogus, 3) == URT_ERROR_INVALID_ARGUMENT, "3 bytes accepted");
  CHECK(strstr(urt_last_error(), "got 3 bytes") != NULL, "message: %s", urt_last_error());

  CHECK(urt_input_shape(m, 0, &dims, &ndim) == URT_OK, "shape: %s", urt_last_error());
  CHECK(urt_set_input_shape(m, 0, dims, ndim) == URT_OK, "saved shape: %s", urt_last_error());
  check_shapes(m, dims, ndim);

  CHECK(urt_load_memory(file, file_size / 2, &bad) == URT_ERROR_BUNDLE, "truncated accepted");
  CHECK(bad == NULL, "model set on failure");
  CHECK(strstr(urt_last_error(), "bundle: ") != NULL, "message: %s", urt_last_error());
  CHECK(urt_load_file("/nonexistent/model.ufb", &bad) == URT_ERROR_IO, "missing file");
  CHECK(strstr(urt_last_error(), "/nonexistent/model.ufb") != NULL, "message: %s",
        urt_last_error());
  CHECK(urt_set_num_threads(0) == URT_ERROR_INVALID_ARGUMENT, "0 threads accepted");
  CHECK(urt_get_output(m, 0, NULL, &nbytes) == URT_ERROR_INVALID_ARGUMENT, "null data");
  CHECK(urt_kernel_name(urt_num_kernels()) == NULL, "kernel name out of range");
  urt_free(NULL);
}

/* Sets every input's dim 0 to `batch` (when > 0), then input k from files[k], and runs. */
static int run_model(urt_model* m, long batch, int nfiles, char** files) {
  int n_in = 0, k;
  CHECK(urt_num_inputs(m, &n_in) == URT_OK, "urt_num_inputs");
  if (nfiles != n_in) {
    fprintf(stderr, "c_api_test: the model takes %d inputs, %d files given\n", n_in, nfiles);
    return 0;
  }
  for (k = 0; batch > 0 && k < n_in; ++k) {
    const int64_t* dims = NULL;
    int64_t want[8];
    int ndim = 0;
    CHECK(urt_input_shape(m, k, &dims, &ndim) == URT_OK && ndim >= 1 && ndim <= 8, "shape %d", k);
    memcpy(want, dims, sizeof(int64_t) * (size_t)ndim);
    want[0] = batch;
    CHECK(urt_set_input_shape(m, k, want, ndim) == URT_OK, "batch %ld for input %d: %s", batch,
          k, urt_last_error());
  }
  for (k = 0; k < n_in; ++k) {
    size_t size = 0, want = 0;
    unsigned char* data = read_all(files[k], &size);
    if (data == NULL) {
      fprintf(stderr, "c_api_test: cannot read %s\n", files[k]);
      return 0;
    }
    CHECK(urt_input_nbytes(m, k, &want) == URT_OK && want == size, "input %d: %zu bytes, file %zu",
          k, want, size);
    CHECK(urt_set_input(m, k, data, size) == URT_OK, "set input %d: %s", k, urt_last_error());
    free(data);
  }
  CHECK(urt_run(m) == URT_OK, "run: %s", urt_last_error());
  return 1;
}

int main(int argc, char** argv) {
  urt_model *m = NULL, *copy = NULL;
  unsigned char* file;
  size_t file_size = 0, arena = 0;
  int n_out = 0, k, first_file = 3;
  long batch = 0;
  if (argc < 3) {
    fprintf(stderr, "usage: c_api_test MODEL.ufb OUT_PREFIX [--batch N] [IN_0.bin ...]\n");
    return 2;
  }
  if (argc >= 5 && strcmp(argv[3], "--batch") == 0) {
    batch = strtol(argv[4], NULL, 10);
    first_file = 5;
    if (batch < 1) {
      fprintf(stderr, "c_api_test: --batch needs a positive integer, got '%s'\n", argv[4]);
      return 2;
    }
  }
  if (urt_load_file(argv[1], &m) != URT_OK) {
    printf("FAILED load: %s\n", urt_last_error());
    return 1;
  }
  file = read_all(argv[1], &file_size);
  if (file == NULL) return 2;
  CHECK(urt_load_memory(file, file_size, &copy) == URT_OK, "load_memory: %s", urt_last_error());
  CHECK(urt_set_num_threads(1) == URT_OK, "threads");
  CHECK(urt_arena_bytes(m, &arena) == URT_OK, "arena");
  check_errors(m, file, file_size);
  if (!run_model(m, batch, argc - first_file, argv + first_file) ||
      (copy != NULL && !run_model(copy, batch, argc - first_file, argv + first_file)))
    return 2;

  urt_num_outputs(m, &n_out);
  for (k = 0; k < n_out; ++k) {
    const void *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    char path[4096];
    FILE* f;
    CHECK(urt_get_output(m, k, &a, &na) == URT_OK, "output %d: %s", k, urt_last_error());
    if (copy != NULL) {
      CHECK(urt_get_output(copy, k, &b, &nb) == URT_OK, "copy output %d", k);
      CHECK(na == nb && memcmp(a, b, na) == 0, "output %d differs between file and memory", k);
    }
    snprintf(path, sizeof path, "%s%d.bin", argv[2], k);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(a, 1, na, f) != na) return 2;
    fclose(f);
  }
  urt_free(copy);
  urt_free(m);
  free(file);
  if (failures == 0) printf("c_api_test: ok\n");
  return failures == 0 ? 0 : 1;
}
