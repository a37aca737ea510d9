/* The runtime call timed from C (bench/bench_latency.py builds and runs it):
 * median nanoseconds per call of an entry taking one int8 tensor of any
 * static shape and returning one, through qat_entry_invoke_static (raw
 * buffers) and qat_entry_invoke (checked tensors).
 *
 *   runtime_call LIBRARY ENTRY CALLS   ->   "<static ns> <tensors ns>" */
#define _POSIX_C_SOURCE 199309L
#include "qat_runtime/qat_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int fail(qat_status status) {
  fprintf(stderr, "runtime_call: %s\n", qat_status_message(status));
  qat_status_free(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: runtime_call LIBRARY ENTRY CALLS\n");
    return 2;
  }
  long calls = atol(argv[3]);
  qat_module *module = NULL;
  const qat_entry *entry = NULL;
  qat_status status = qat_module_open(argv[1], &module);
  if (!status)
    status = qat_module_find_entry(module, argv[2], &entry);
  if (status)
    return fail(status);
  qat_tensor_info in, out;
  if ((status = qat_entry_arg_info(entry, 0, &in)) ||
      (status = qat_entry_result_info(entry, 0, &out)))
    return fail(status);
  qat_tensor *x = NULL, *y = NULL;
  if ((status = qat_tensor_create(in.dtype, in.rank, in.shape, &x)) ||
      (status = qat_tensor_create(out.dtype, out.rank, out.shape, &y)))
    return fail(status);
  void *buffers[2] = {qat_tensor_data(x), qat_tensor_data(y)};
  double medians[2];
  for (int way = 0; way < 2; ++way) {
    double samples[7];
    for (int s = 0; s < 7; ++s) {
      double start = now();
      for (long i = 0; i < calls; ++i) {
        status = way == 0 ? qat_entry_invoke_static(entry, buffers, 2)
                          : qat_entry_invoke(entry, &x, 1, &y, 1);
        if (status)
          return fail(status);
      }
      samples[s] = (now() - start) / (double)calls;
    }
    qsort(samples, 7, sizeof(double), compare);
    medians[way] = samples[3];
  }
  printf("%.0f %.0f\n", medians[0], medians[1]);
  qat_tensor_release(x);
  qat_tensor_release(y);
  qat_module_release(module);
  return 0;
}
