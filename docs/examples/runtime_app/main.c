/* An application that embeds the qat-mlir runtime: it opens a library
 * compiled by qat-compile (affine.mlir: y = 2 x + 1), calls its entry point
 * and checks the result.
 *
 *   qat-compile affine.mlir -o libaffine.so
 *   ./runtime_app ./libaffine.so
 *
 * Built against an installed runtime with CMake (CMakeLists.txt beside this
 * file: find_package(QatRuntime CONFIG)) or with pkg-config:
 *   cc main.c $(pkg-config --cflags --libs qat_runtime) -o runtime_app */

#include <qat_runtime/qat_runtime.h>

#include <stdio.h>

/* Prints and frees a failed status; 1 when there was one. */
static int failed(qat_status status, const char *what) {
  if (!status)
    return 0;
  fprintf(stderr, "runtime_app: %s: %s\n", what, qat_status_message(status));
  qat_status_free(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: runtime_app <libaffine.so>\n");
    return 2;
  }
  qat_module *module = NULL;
  if (failed(qat_module_open(argv[1], &module), "open"))
    return 1;
  const qat_entry *affine = NULL;
  float input[4] = {1.0f, -2.5f, 0.0f, 100.0f};
  int64_t shape[1] = {4};
  qat_tensor *x = NULL, *y = NULL;
  int status = 1;
  if (failed(qat_module_find_entry(module, "affine", &affine), "find") ||
      failed(qat_tensor_wrap(QAT_DTYPE_F32, 1, shape, input, &x), "wrap") ||
      failed(qat_entry_call(affine, &x, 1, &y, 1), "call"))
    goto done;
  const float *output = qat_tensor_data(y);
  status = 0;
  for (int i = 0; i < 4; ++i)
    if (output[i] != 2.0f * input[i] + 1.0f) {
      fprintf(stderr, "runtime_app: y[%d] = %g, expected %g\n", i, output[i],
              2.0f * input[i] + 1.0f);
      status = 1;
    }
  if (!status)
    printf("runtime_app: y = 2 x + 1 on all 4 elements\n");
done:
  qat_tensor_release(y);
  qat_tensor_release(x);
  qat_module_release(module);
  return status;
}
