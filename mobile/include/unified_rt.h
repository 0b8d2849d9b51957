/* unified_rt.h: the C API of the unified edge runtime. Loads a .ufb inference bundle
 * (export/FORMAT.md), runs it with the kernels this build was compiled with, and gives back its
 * outputs. Plain C (C99 and C++), no C++ types: every call returns a urt_status, and
 * urt_last_error() explains the last failure on the calling thread (names the field, kernel
 * or values involved).
 *
 *   urt_model* m;
 *   if (urt_load_file("digits.ufb", &m) != URT_OK) fprintf(stderr, "%s\n", urt_last_error());
 *   urt_set_input(m, 0, pixels, sizeof pixels);
 *   urt_run(m);
 *   const void* probs; size_t nbytes;
 *   urt_get_output(m, 0, &probs, &nbytes);
 *   urt_free(m);
 *
 * A model runs one call at a time; different models may run on different threads.
 * Implementation: mobile/runtime/c_api.cpp. */
#ifndef UNIFIED_RT_H_
#define UNIFIED_RT_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define URT_API
#else
#define URT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum urt_status {
  URT_OK = 0,
  URT_ERROR_INVALID_ARGUMENT = 1, /* a bad index, null pointer, size or shape from the caller */
  URT_ERROR_BUNDLE = 2,           /* the file is not a valid bundle, or needs a kernel this
                                     build lacks (the message names it) */
  URT_ERROR_IO = 3,               /* the file cannot be opened or read */
  URT_ERROR_RUN = 4,              /* a kernel failed while running (the message names the step) */
  URT_ERROR_OUT_OF_MEMORY = 5
} urt_status;

/* Element types; the values are the bundle's dtype codes. */
typedef enum urt_dtype {
  URT_FLOAT32 = 0,
  URT_INT32 = 1,
  URT_INT64 = 2,
  URT_BOOL = 3, /* one byte, 0 or 1 */
  URT_UINT8 = 4
} urt_dtype;

typedef struct urt_model urt_model;

/* Loading: the whole bundle is checked (preamble, CRCs, every offset and size, kernels) before
 * anything runs. urt_load_memory copies the bytes, so `data` may be freed afterwards. */
URT_API urt_status urt_load_file(const char* path, urt_model** out);
URT_API urt_status urt_load_memory(const void* data, size_t nbytes, urt_model** out);
URT_API void urt_free(urt_model* model); /* null is allowed */

/* Interface. Names and shape pointers stay valid until urt_free (a batch change rewrites the
 * dims in place). */
URT_API urt_status urt_num_inputs(const urt_model* model, int* count);
URT_API urt_status urt_num_outputs(const urt_model* model, int* count);
URT_API urt_status urt_input_name(const urt_model* model, int index, const char** name);
URT_API urt_status urt_input_dtype(const urt_model* model, int index, urt_dtype* dtype);
URT_API urt_status urt_input_shape(const urt_model* model, int index, const int64_t** dims,
                                   int* ndim);
URT_API urt_status urt_input_nbytes(const urt_model* model, int index, size_t* nbytes);
URT_API urt_status urt_output_name(const urt_model* model, int index, const char** name);
URT_API urt_status urt_output_dtype(const urt_model* model, int index, urt_dtype* dtype);
URT_API urt_status urt_output_shape(const urt_model* model, int index, const int64_t** dims,
                                    int* ndim);
URT_API urt_status urt_output_nbytes(const urt_model* model, int index, size_t* nbytes);

/* Dynamic input shapes. A bundle exported with dynamic_batch=True (format 2) runs at any batch
 * N in 1..max_batch; the batch is dim 0 of every input, one value for the whole model. Setting
 * input `index` to a shape whose batch is N re-plans the model at N: every batch-dynamic input
 * takes batch N (the others keep their shape), and the outputs' shapes, byte sizes and the
 * arena follow (urt_output_shape, urt_output_nbytes, urt_arena_bytes). Only the batch may
 * change: any other dim must stay as saved, else URT_ERROR_INVALID_ARGUMENT names the shape
 * expected at that batch. Changing the batch reallocates the input and output buffers: inputs
 * read as zeros again until set, and earlier outputs are gone. A bundle without a dynamic
 * batch accepts exactly its saved shape (a no-op) and refuses any other, naming it.
 * urt_input_shape and urt_output_shape always give the current, concrete shape (never -1),
 * so buffers can be sized from them; urt_batch tells whether and how far the batch varies. */
URT_API urt_status urt_set_input_shape(urt_model* model, int index, const int64_t* dims,
                                       int ndim);
/* The current batch and the largest one the bundle allows; both 0 for a bundle without a
 * dynamic batch. */
URT_API urt_status urt_batch(const urt_model* model, int64_t* batch, int64_t* max_batch);

/* Copies `nbytes` (exactly the input's size, C-contiguous, of the input's dtype) into the
 * model's input buffer. */
URT_API urt_status urt_set_input(urt_model* model, int index, const void* data, size_t nbytes);
/* Runs the model on the inputs set so far (an input never set reads as zeros). */
URT_API urt_status urt_run(urt_model* model);
/* The output of the last run: valid until the next urt_run or urt_free. */
URT_API urt_status urt_get_output(const urt_model* model, int index, const void** data,
                                  size_t* nbytes);

/* Kernel threads for the whole process (OpenMP builds; 1 without OpenMP). Default: all cores. */
URT_API urt_status urt_set_num_threads(int num_threads);
URT_API urt_status urt_get_num_threads(int* num_threads);

/* Why the last failed call on this thread failed ("" when none has). */
URT_API const char* urt_last_error(void);

/* Reference pairs stored in the bundle (export.save_bundle's example and its eager outputs):
 * input k / output k of pair `pair`, in place in the bundle's bytes. */
URT_API urt_status urt_num_references(const urt_model* model, int* count);
URT_API urt_status urt_reference_input(const urt_model* model, int pair, int index,
                                       const void** data, size_t* nbytes);
URT_API urt_status urt_reference_output(const urt_model* model, int pair, int index,
                                        const void** data, size_t* nbytes);

/* Memory: the plan's scratch arena, and every byte the model holds (bundle, arena, inputs and
 * outputs). */
URT_API urt_status urt_arena_bytes(const urt_model* model, size_t* nbytes);
URT_API urt_status urt_model_bytes(const urt_model* model, size_t* nbytes);

/* The kernels compiled into this build (a trimmed build has only its model's). */
URT_API int urt_num_kernels(void);
URT_API const char* urt_kernel_name(int index); /* null when out of range */

#ifdef __cplusplus
}
#endif

#endif /* UNIFIED_RT_H_ */
