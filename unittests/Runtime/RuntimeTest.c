/*===- RuntimeTest.c - The runtime C API against compiled models -*- C -*-===*
 *
 * Part of qat-mlir. Calls the entry points of models.mlir (compiled by
 * qat-compile at build time) through the C API and checks the results
 * against plain C loops, and checks that bad calls fail with the right
 * status. Written in C to prove the header is C.
 *
 *===----------------------------------------------------------------------===*/

#include "qat_runtime/qat_runtime.h"

#include <dlfcn.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (cond) {                                                                \
      ++passed;                                                                \
    } else {                                                                   \
      ++failed;                                                                \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

/* The status is OK; frees it. */
static int ok(qat_status status) {
  if (!status)
    return 1;
  fprintf(stderr, "unexpected error: %s\n", qat_status_message(status));
  qat_status_free(status);
  return 0;
}

/* The status has `code` and its message contains `needle`; frees it. */
static int fails_with(qat_status status, qat_status_code code,
                      const char *needle) {
  int match = status && qat_status_get_code(status) == code &&
              strstr(qat_status_message(status), needle) != NULL;
  if (!match)
    fprintf(stderr, "expected code %d with '%s', got code %d: '%s'\n",
            (int)code, needle, (int)qat_status_get_code(status),
            qat_status_message(status));
  qat_status_free(status);
  return match;
}

static unsigned seed = 12345;
static float random_float(void) {
  seed = seed * 1103515245u + 12345u;
  return (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}
static int8_t random_int8(void) {
  seed = seed * 1103515245u + 12345u;
  return (int8_t)((seed >> 16) & 0xff);
}

static qat_tensor *wrap(qat_dtype dtype, int32_t rank, const int64_t *shape,
                        void *data) {
  qat_tensor *t = NULL;
  if (!ok(qat_tensor_wrap(dtype, rank, shape, data, &t)))
    exit(2);
  return t;
}

static void test_listing(const qat_module *module) {
  CHECK(qat_module_num_entries(module) == 4, "%d entries",
        qat_module_num_entries(module));
  const qat_entry *mlp = NULL;
  CHECK(ok(qat_module_find_entry(module, "mlp", &mlp)) && mlp, "find mlp");
  CHECK(strcmp(qat_entry_name(mlp), "mlp") == 0, "name");
  CHECK(qat_entry_num_args(mlp) == 5 && qat_entry_num_results(mlp) == 1,
        "arity");
  qat_tensor_info info;
  CHECK(ok(qat_entry_arg_info(mlp, 1, &info)), "arg info");
  CHECK(strcmp(info.name, "w1") == 0 && info.dtype == QAT_DTYPE_F32 &&
            info.rank == 2 && info.shape[0] == 4 && info.shape[1] == 8,
        "w1 is f32[4x8], got %s", info.name);
  CHECK(ok(qat_entry_result_info(mlp, 0, &info)) && strcmp(info.name, "y") == 0,
        "result name");
  CHECK(fails_with(qat_entry_arg_info(mlp, 5, &info),
                   QAT_STATUS_INVALID_ARGUMENT, "out of range"),
        "arg index");
  const qat_entry *colsum = NULL;
  CHECK(ok(qat_module_find_entry(module, "colsum", &colsum)), "find colsum");
  CHECK(ok(qat_entry_arg_info(colsum, 0, &info)) && info.shape[0] == -1 &&
            strcmp(info.name, "arg0") == 0,
        "dynamic size is -1");
  CHECK(qat_module_entry(module, 0) != NULL &&
            qat_module_entry(module, 4) == NULL,
        "entry by index");
}

static void test_mlp(const qat_module *module) {
  const qat_entry *mlp = NULL;
  if (!ok(qat_module_find_entry(module, "mlp", &mlp)))
    return;
  float x[2 * 4], w1[4 * 8], b1[8], w2[8 * 3], b2[3];
  float *buffers[] = {x, w1, b1, w2, b2};
  size_t sizes[] = {8, 32, 8, 24, 3};
  for (int b = 0; b < 5; ++b)
    for (size_t i = 0; i < sizes[b]; ++i)
      buffers[b][i] = random_float();
  const int64_t sx[] = {2, 4}, sw1[] = {4, 8}, sb1[] = {8}, sw2[] = {8, 3},
                sb2[] = {3};
  qat_tensor *args[] = {
      wrap(QAT_DTYPE_F32, 2, sx, x), wrap(QAT_DTYPE_F32, 2, sw1, w1),
      wrap(QAT_DTYPE_F32, 1, sb1, b1), wrap(QAT_DTYPE_F32, 2, sw2, w2),
      wrap(QAT_DTYPE_F32, 1, sb2, b2)};
  qat_tensor *y = NULL;
  CHECK(ok(qat_entry_call(mlp, args, 5, &y, 1)), "call mlp");
  if (y) {
    CHECK(qat_tensor_rank(y) == 2 && qat_tensor_shape(y)[0] == 2 &&
              qat_tensor_shape(y)[1] == 3,
          "result shape");
    CHECK((uintptr_t)qat_tensor_data(y) % QAT_TENSOR_ALIGNMENT == 0,
          "result alignment");
    const float *out = qat_tensor_data(y);
    for (int i = 0; i < 2; ++i) {
      float h[8];
      for (int j = 0; j < 8; ++j) {
        float acc = 0;
        for (int k = 0; k < 4; ++k)
          acc += x[i * 4 + k] * w1[k * 8 + j];
        acc += b1[j];
        h[j] = acc > 0 ? acc : 0;
      }
      for (int j = 0; j < 3; ++j) {
        float acc = 0;
        for (int k = 0; k < 8; ++k)
          acc += h[k] * w2[k * 3 + j];
        acc += b2[j];
        CHECK(fabsf(out[i * 3 + j] - acc) <= 1e-5f * (1 + fabsf(acc)),
              "y[%d][%d] = %g, expected %g", i, j, out[i * 3 + j], acc);
      }
    }
  }
  /* The same into a caller-provided result. */
  float y2[6] = {0};
  const int64_t sy[] = {2, 3};
  qat_tensor *result = wrap(QAT_DTYPE_F32, 2, sy, y2);
  CHECK(ok(qat_entry_invoke(mlp, args, 5, &result, 1)), "invoke mlp");
  if (y)
    CHECK(memcmp(y2, qat_tensor_data(y), sizeof(y2)) == 0,
          "invoke and call agree");

  /* Bad calls. */
  qat_tensor *none = NULL;
  CHECK(fails_with(qat_entry_call(mlp, args, 4, &none, 1),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "'mlp' takes 5 arguments, got 4"),
        "argument count");
  qat_tensor *swapped[] = {args[1], args[0], args[2], args[3], args[4]};
  CHECK(
      fails_with(qat_entry_call(mlp, swapped, 5, &none, 1),
                 QAT_STATUS_INVALID_ARGUMENT,
                 "argument 0 ('x') of 'mlp': expected shape [2x4], got [4x8]"),
      "shape");
  int32_t ints[8];
  qat_tensor *wrong_dtype = wrap(QAT_DTYPE_I32, 1, sb1, ints);
  qat_tensor *typed[] = {args[0], args[1], wrong_dtype, args[3], args[4]};
  CHECK(fails_with(qat_entry_call(mlp, typed, 5, &none, 1),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "argument 2 ('b1') of 'mlp': expected dtype f32, got i32"),
        "dtype");
  qat_tensor *with_null[] = {args[0], NULL, args[2], args[3], args[4]};
  CHECK(fails_with(qat_entry_call(mlp, with_null, 5, &none, 1),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "argument 1 ('w1') of 'mlp' is NULL"),
        "NULL argument");
  CHECK(none == NULL, "no result left allocated after a failed call");
  qat_tensor *bad_result = wrap(QAT_DTYPE_F32, 1, sb2, b2);
  CHECK(fails_with(qat_entry_invoke(mlp, args, 5, &bad_result, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "result 0 ('y') of 'mlp'"),
        "result shape");
  qat_tensor *aliasing = wrap(QAT_DTYPE_F32, 2, sy, w1);
  CHECK(fails_with(qat_entry_invoke(mlp, args, 5, &aliasing, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "overlaps argument 1"),
        "aliasing");
  qat_tensor_release(aliasing);
  qat_tensor_release(bad_result);
  qat_tensor_release(wrong_dtype);
  qat_tensor_release(result);
  qat_tensor_release(y);
  for (int i = 0; i < 5; ++i)
    qat_tensor_release(args[i]);
}

static void test_dynamic(const qat_module *module) {
  const qat_entry *colsum = NULL;
  if (!ok(qat_module_find_entry(module, "colsum", &colsum)))
    return;
  for (int64_t rows = 0; rows <= 7; rows += 7) {
    float x[7 * 4];
    for (int i = 0; i < 28; ++i)
      x[i] = (float)(i % 5) - 1.5f;
    const int64_t shape[] = {rows, 4};
    qat_tensor *arg = wrap(QAT_DTYPE_F32, 2, shape, x);
    qat_tensor *sum = NULL;
    CHECK(ok(qat_entry_call(colsum, &arg, 1, &sum, 1)), "colsum %lld rows",
          (long long)rows);
    if (sum)
      for (int j = 0; j < 4; ++j) {
        float expected = 0;
        for (int i = 0; i < rows; ++i)
          expected += x[i * 4 + j];
        CHECK(((float *)qat_tensor_data(sum))[j] == expected,
              "column %d of %lld rows", j, (long long)rows);
      }
    qat_tensor_release(sum);
    qat_tensor_release(arg);
  }
  const int64_t wrong[] = {3, 5};
  float x[15];
  qat_tensor *arg = wrap(QAT_DTYPE_F32, 2, wrong, x);
  qat_tensor *sum = NULL;
  CHECK(fails_with(qat_entry_call(colsum, &arg, 1, &sum, 1),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "expected shape [?x4], got [3x5]"),
        "static size of a dynamic tensor");
  qat_tensor_release(arg);
}

/* acc / 64 rounded half to even, + 3, clamped to int8. */
static int8_t requantize_reference(int32_t acc) {
  int32_t q = acc >= 0 ? acc / 64 : -((-acc) / 64);
  int32_t r = acc - q * 64; /* same sign as acc */
  if (2 * abs(r) > 64 || (2 * abs(r) == 64 && (q % 2 != 0)))
    q += acc >= 0 ? 1 : -1;
  q += 3;
  return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

static void test_integer(const qat_module *module) {
  const qat_entry *qmatmul = NULL;
  if (!ok(qat_module_find_entry(module, "qmatmul", &qmatmul)))
    return;
  int8_t a[4 * 16], b[16 * 8];
  for (int i = 0; i < 64; ++i)
    a[i] = random_int8();
  for (int i = 0; i < 128; ++i)
    b[i] = random_int8();
  a[0] = -128, b[0] = -128; /* the extremes */
  const int64_t sa[] = {4, 16}, sb[] = {16, 8};
  qat_tensor *args[] = {wrap(QAT_DTYPE_I8, 2, sa, a),
                        wrap(QAT_DTYPE_I8, 2, sb, b)};
  qat_tensor *q = NULL;
  CHECK(ok(qat_entry_call(qmatmul, args, 2, &q, 1)), "call qmatmul");
  int mismatches = 0;
  if (q)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 8; ++j) {
        int32_t acc = 0;
        for (int k = 0; k < 16; ++k)
          acc += (int32_t)a[i * 16 + k] * (int32_t)b[k * 8 + j];
        mismatches += ((int8_t *)qat_tensor_data(q))[i * 8 + j] !=
                      requantize_reference(acc);
      }
  CHECK(q && mismatches == 0, "%d of 32 int8 results differ", mismatches);
  qat_tensor_release(q);
  qat_tensor_release(args[0]);
  qat_tensor_release(args[1]);
}

/* qat_entry_invoke_static: the same results as the checked call, and the
 * checks it still makes. */
static void test_invoke_static(const qat_module *module) {
  const qat_entry *qmatmul = NULL, *colsum = NULL;
  if (!ok(qat_module_find_entry(module, "qmatmul", &qmatmul)) ||
      !ok(qat_module_find_entry(module, "colsum", &colsum)))
    return;
  int8_t a[4 * 16], b[16 * 8], fast[4 * 8];
  for (int i = 0; i < 64; ++i)
    a[i] = random_int8();
  for (int i = 0; i < 128; ++i)
    b[i] = random_int8();
  const int64_t sa[] = {4, 16}, sb[] = {16, 8};
  qat_tensor *args[] = {wrap(QAT_DTYPE_I8, 2, sa, a),
                        wrap(QAT_DTYPE_I8, 2, sb, b)};
  qat_tensor *checked = NULL;
  CHECK(ok(qat_entry_call(qmatmul, args, 2, &checked, 1)), "checked call");
  void *buffers[] = {a, b, fast};
  CHECK(ok(qat_entry_invoke_static(qmatmul, buffers, 3)), "static call");
  CHECK(checked && memcmp(qat_tensor_data(checked), fast, sizeof(fast)) == 0,
        "static and checked results differ");
  CHECK(fails_with(qat_entry_invoke_static(qmatmul, buffers, 2),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "'qmatmul' takes 3 buffers (arguments, then results), got "
                   "2"),
        "count");
  CHECK(fails_with(qat_entry_invoke_static(qmatmul, NULL, 3),
                   QAT_STATUS_INVALID_ARGUMENT, "and a NULL array"),
        "NULL array");
  void *missing[] = {a, NULL, fast};
  CHECK(fails_with(qat_entry_invoke_static(qmatmul, missing, 3),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "argument 1 ('arg1') of 'qmatmul' is NULL"),
        "NULL buffer");
  void *overlap[] = {a, b, a + 8};
  CHECK(fails_with(qat_entry_invoke_static(qmatmul, overlap, 3),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "result 0 of 'qmatmul' overlaps argument 0"),
        "overlap");
  CHECK(fails_with(qat_entry_invoke_static(colsum, buffers, 2),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "'colsum' has a dynamic size: call it with "
                   "qat_entry_invoke"),
        "dynamic entry");
  CHECK(fails_with(qat_entry_invoke_static(NULL, buffers, 3),
                   QAT_STATUS_INVALID_ARGUMENT, "entry must not be NULL"),
        "NULL entry");
  qat_tensor_release(checked);
  qat_tensor_release(args[0]);
  qat_tensor_release(args[1]);
}

static void test_two_results(const qat_module *module) {
  const qat_entry *entry = NULL;
  if (!ok(qat_module_find_entry(module, "scale_and_sum", &entry)))
    return;
  float x[3] = {1.5f, -2.0f, 4.25f};
  const int64_t shape[] = {3};
  qat_tensor *arg = wrap(QAT_DTYPE_F32, 1, shape, x);
  qat_tensor *results[2] = {NULL, NULL};
  CHECK(ok(qat_entry_call(entry, &arg, 1, results, 2)), "call");
  if (results[0] && results[1]) {
    const float *d = qat_tensor_data(results[0]);
    CHECK(d[0] == 3.0f && d[1] == -4.0f && d[2] == 8.5f, "doubled");
    CHECK(qat_tensor_rank(results[1]) == 0 &&
              *(const float *)qat_tensor_data(results[1]) == 3.75f,
          "0-D sum");
  }
  CHECK(fails_with(qat_entry_call(entry, &arg, 1, results, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "has 2 results"),
        "result count");
  qat_tensor_release(results[0]);
  qat_tensor_release(results[1]);
  qat_tensor_release(arg);
}

static void test_errors(const char *runtime_library) {
  qat_module *module = NULL;
  CHECK(fails_with(qat_module_open("/nonexistent/libmodel.so", &module),
                   QAT_STATUS_NOT_FOUND,
                   "cannot load /nonexistent/libmodel.so"),
        "missing file");
  CHECK(fails_with(qat_module_open(runtime_library, &module),
                   QAT_STATUS_FAILED_PRECONDITION,
                   "is not a qat-compile library"),
        "not a compiled model");
  CHECK(module == NULL, "no module on failure");
  qat_tensor *t = NULL;
  const int64_t negative[] = {2, -1};
  CHECK(fails_with(qat_tensor_create(QAT_DTYPE_F32, 2, negative, &t),
                   QAT_STATUS_INVALID_ARGUMENT, "negative size"),
        "negative size");
  const int64_t huge[] = {INT64_MAX / 2, 4};
  CHECK(fails_with(qat_tensor_create(QAT_DTYPE_F32, 2, huge, &t),
                   QAT_STATUS_INVALID_ARGUMENT, "overflows"),
        "overflow");
  const int64_t some[] = {3};
  CHECK(fails_with(qat_tensor_wrap(QAT_DTYPE_F32, 1, some, NULL, &t),
                   QAT_STATUS_INVALID_ARGUMENT, "data must not be NULL"),
        "NULL data");
  CHECK(fails_with(qat_tensor_create((qat_dtype)99, 1, some, &t),
                   QAT_STATUS_INVALID_ARGUMENT, "unknown dtype"),
        "dtype");
  CHECK(fails_with(qat_tensor_create(QAT_DTYPE_F32, QAT_MAX_RANK + 1, some, &t),
                   QAT_STATUS_INVALID_ARGUMENT, "rank"),
        "rank");
  CHECK(ok(qat_tensor_create(QAT_DTYPE_I8, 0, NULL, &t)) &&
            qat_tensor_num_elements(t) == 1 && qat_tensor_byte_size(t) == 1,
        "0-D tensor");
  qat_tensor_release(t);
  CHECK(qat_status_get_code(NULL) == QAT_STATUS_OK &&
            strcmp(qat_status_message(NULL), "") == 0,
        "NULL status is OK");
}

/* NULL handles: accessors answer neutral values, calls fail with a message
 * that names what is NULL (never a crash). */
static void test_null_handles(const qat_module *module) {
  CHECK(strcmp(qat_entry_name(NULL), "") == 0 &&
            qat_entry_num_args(NULL) == 0 && qat_entry_num_results(NULL) == 0,
        "NULL entry accessors");
  CHECK(qat_tensor_data(NULL) == NULL && qat_tensor_dtype(NULL) == 0 &&
            qat_tensor_rank(NULL) == 0 && qat_tensor_shape(NULL) == NULL &&
            qat_tensor_num_elements(NULL) == 0 &&
            qat_tensor_byte_size(NULL) == 0,
        "NULL tensor accessors");
  CHECK(qat_module_num_entries(NULL) == 0 && qat_module_entry(NULL, 0) == NULL,
        "NULL module accessors");
  const qat_entry *mlp = NULL;
  if (!ok(qat_module_find_entry(module, "mlp", &mlp)))
    return;
  qat_tensor_info info;
  CHECK(fails_with(qat_entry_arg_info(mlp, 0, NULL),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "entry and out must not be NULL"),
        "arg_info out NULL");
  CHECK(fails_with(qat_entry_arg_info(mlp, 7, &info),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "argument index 7 out of range: 'mlp' has"),
        "arg_info index");
  CHECK(fails_with(qat_entry_result_info(NULL, 0, &info),
                   QAT_STATUS_INVALID_ARGUMENT,
                   "entry and out must not be NULL"),
        "result_info entry NULL");
  int32_t args = qat_entry_num_args(mlp);
  qat_tensor *results[1] = {NULL};
  CHECK(fails_with(qat_entry_call(mlp, NULL, args, results, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "args of 'mlp' is NULL"),
        "call args NULL");
  CHECK(fails_with(qat_entry_invoke(mlp, NULL, args, NULL, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "args of 'mlp' is NULL"),
        "invoke args NULL");
  CHECK(fails_with(qat_entry_call(mlp, NULL, args, NULL, 1),
                   QAT_STATUS_INVALID_ARGUMENT, "results of 'mlp' is NULL"),
        "call results NULL");
}

/* Whether a 64 MiB block is served by mmap (glibc's default for blocks above
 * its largest dynamic threshold, 32 MiB): mallinfo2's count of mmapped
 * blocks while it is held. */
static int large_blocks_are_mmapped(void) {
#ifdef __GLIBC__
  size_t before = mallinfo2().hblks;
  /* volatile: the compiler may not elide the malloc/free pair. */
  void *volatile block = malloc(64 << 20);
  size_t during = mallinfo2().hblks;
  free(block);
  return during > before;
#else
  return 0;
#endif
}

static void *keep_from_thread(void *result) {
  *(int *)result = qat_runtime_keep_freed_memory();
  return NULL;
}

/* Opening a module leaves malloc alone; qat_runtime_keep_freed_memory
 * changes it once, from any number of threads at once. Runs first: the
 * setting is process-wide. */
static void test_malloc_settings(const char *models) {
  qat_module *module = NULL;
  if (!ok(qat_module_open(models, &module)))
    return;
  qat_module_release(module);
#if defined(__SANITIZE_ADDRESS__)
  printf("skipped the malloc checks: AddressSanitizer replaces malloc\n");
  return;
#endif
#ifdef __GLIBC__
  if (getenv("QAT_RUNTIME_MALLOC")) {
    printf("skipped the malloc checks: QAT_RUNTIME_MALLOC is set\n");
    return;
  }
  CHECK(large_blocks_are_mmapped(),
        "qat_module_open changed malloc's settings");
  pthread_t threads[4];
  int results[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i)
    pthread_create(&threads[i], NULL, keep_from_thread, &results[i]);
  for (int i = 0; i < 4; ++i)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < 4; ++i)
    CHECK(results[i] == 1, "thread %d: keep_freed_memory returned %d", i,
          results[i]);
  CHECK(qat_runtime_keep_freed_memory() == 1, "a second call");
  CHECK(!large_blocks_are_mmapped(), "large blocks still mmapped");
#endif
}

/* The same models compiled with --target=nvptx: the library opens, says it
 * is a GPU library, and either runs on the GPU (the integer model against the
 * reference) or, with no GPU, refuses every call with UNAVAILABLE. */
static void test_gpu_module(const char *path) {
  qat_module *module = NULL;
  if (!ok(qat_module_open(path, &module)))
    return;
  CHECK(strcmp(qat_module_device(module), "cuda") == 0, "device is '%s'",
        qat_module_device(module));
  const char *why = qat_module_unavailable(module);
  if (why) {
    printf("no GPU (%s): checking that calls are refused\n", why);
    CHECK(strstr(why, "has GPU code, but there is no CUDA") != NULL,
          "reason: %s", why);
    const qat_entry *qmatmul = NULL;
    if (ok(qat_module_find_entry(module, "qmatmul", &qmatmul))) {
      int8_t a[4 * 16] = {0}, b[16 * 8] = {0};
      const int64_t sa[] = {4, 16}, sb[] = {16, 8};
      qat_tensor *args[] = {wrap(QAT_DTYPE_I8, 2, sa, a),
                            wrap(QAT_DTYPE_I8, 2, sb, b)};
      qat_tensor *q = NULL;
      CHECK(fails_with(qat_entry_call(qmatmul, args, 2, &q, 1),
                       QAT_STATUS_UNAVAILABLE, "cannot call 'qmatmul'"),
            "qmatmul without a GPU");
      CHECK(q == NULL, "a result was left allocated");
      qat_tensor_release(args[0]);
      qat_tensor_release(args[1]);
    }
  } else {
    printf("running on the GPU\n");
    test_mlp(module);
    test_dynamic(module);
    test_integer(module);
    test_two_results(module);
  }
  CHECK(strcmp(qat_module_device(NULL), "") == 0 &&
            qat_module_unavailable(NULL) == NULL,
        "NULL module");
  qat_module_release(module);
}

/* The GPU library through the fake driver (FakeCuda.c): every call's host
 * side runs, and the driver sees device memory allocated once, in the first
 * call, and kept for the next calls (unless QAT_GPU_KEEP_MEMORY=0, when
 * each call allocates and frees its own), everything freed when the module
 * closes, and the same copies and launches in every call. */
typedef struct {
  long allocations, frees, copies, launches, live;
} fake_cuda_counts_t;

static void test_fake_driver(const char *path, const char *driver) {
  setenv("QAT_CUDA_LIBRARY", driver, 1);
  const char *keep = getenv("QAT_GPU_KEEP_MEMORY");
  int keeping = !keep || strcmp(keep, "0") != 0;
  void *library = dlopen(driver, RTLD_NOW | RTLD_LOCAL);
  void (*counts_of)(fake_cuda_counts_t *) =
      library ? (void (*)(fake_cuda_counts_t *))dlsym(library,
                                                      "fake_cuda_counts")
              : NULL;
  CHECK(counts_of != NULL, "cannot open the fake driver %s", driver);
  if (!counts_of)
    return;
  qat_module *module = NULL;
  if (!ok(qat_module_open(path, &module)))
    return;
  CHECK(qat_module_unavailable(module) == NULL, "unavailable: %s",
        qat_module_unavailable(module));
  const qat_entry *qmatmul = NULL;
  if (!ok(qat_module_find_entry(module, "qmatmul", &qmatmul)))
    return;
  int8_t a[4 * 16] = {0}, b[16 * 8] = {0};
  const int64_t sa[] = {4, 16}, sb[] = {16, 8};
  qat_tensor *args[] = {wrap(QAT_DTYPE_I8, 2, sa, a),
                        wrap(QAT_DTYPE_I8, 2, sb, b)};
  fake_cuda_counts_t before, first, after;
  counts_of(&before);
  for (int call = 0; call < 3; ++call) {
    qat_tensor *q = NULL;
    CHECK(ok(qat_entry_call(qmatmul, args, 2, &q, 1)), "call %d", call);
    qat_tensor_release(q);
    counts_of(call == 0 ? &first : &after);
  }
  long allocations = first.allocations - before.allocations;
  long launches = first.launches - before.launches;
  long copies = first.copies - before.copies;
  CHECK(allocations >= 3 && launches >= 1 && copies >= 3,
        "first call: %ld allocations, %ld launches, %ld copies", allocations,
        launches, copies);
  CHECK(after.launches - first.launches == 2 * launches &&
            after.copies - first.copies == 2 * copies,
        "every call launches and copies the same");
  if (keeping) {
    CHECK(after.allocations == first.allocations &&
              after.frees == first.frees && after.live == first.live,
          "calls 2 and 3 asked the driver for memory (%ld allocations, %ld "
          "frees)",
          after.allocations - first.allocations, after.frees - first.frees);
  } else {
    CHECK(after.allocations - first.allocations == 2 * allocations &&
              after.live == before.live,
          "without keeping, each call allocates and frees its own memory");
  }
  qat_tensor_release(args[0]);
  qat_tensor_release(args[1]);
  qat_module_release(module);
  counts_of(&after);
  CHECK(after.live == before.live, "%ld device buffers left after closing",
        after.live - before.live);
}

int main(int argc, char **argv) {
  if (argc > 3 && strcmp(argv[1], "--fake-gpu") == 0) {
    test_fake_driver(argv[2], argv[3]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
  }
  if (argc > 2 && strcmp(argv[1], "--gpu") == 0) {
    test_gpu_module(argv[2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
  }
  const char *models = argc > 1 ? argv[1] : QAT_TEST_MODELS;
  const char *runtime = argc > 2 ? argv[2] : QAT_RUNTIME_LIBRARY;
  test_malloc_settings(models);
  qat_module *module = NULL;
  if (!ok(qat_module_open(models, &module)))
    return 2;
  const qat_entry *missing = NULL;
  CHECK(
      fails_with(qat_module_find_entry(module, "nope", &missing),
                 QAT_STATUS_NOT_FOUND,
                 "no entry point 'nope'; the module has: mlp, colsum, qmatmul, "
                 "scale_and_sum"),
      "missing entry");
  test_listing(module);
  test_mlp(module);
  test_dynamic(module);
  test_integer(module);
  test_invoke_static(module);
  test_two_results(module);
  test_errors(runtime);
  test_null_handles(module);
  qat_module_release(module);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
