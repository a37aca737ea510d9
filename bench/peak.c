/* The machine's peak, measured: one thread issuing independent AVX-512
 * VNNI dot products (vpdpbusd: 64 multiply-accumulates, 128 operations) or
 * FMAs (16 fp32 multiply-adds, 32 operations) from registers, with enough
 * accumulators to hide their latency. Prints GOP/s for vpdpbusd, then
 * GFLOP/s for FMA. Built by bench/common.py (cc -O2 -mavx512f
 * -mavx512vnni); the benchmarks report their throughput as a fraction of
 * these numbers.
 *
 *   peak [seconds]
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ACCUMULATORS 12
/* Twelve named accumulators (an array would live in memory). */
#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double vnni(long iterations) {
  __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
#define DECLARE(i) __m512i acc##i = _mm512_set1_epi32(i);
#define STEP(i) acc##i = _mm512_dpbusd_epi32(acc##i, a, b);
#define SUM(i) sink += _mm512_reduce_add_epi32(acc##i);
  EACH(DECLARE)
  double start = now();
  for (long n = 0; n < iterations; ++n) {
    EACH(STEP)
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  double seconds = now() - start;
  int sink = 0;
  EACH(SUM)
  if (sink == 42)
    puts("");
  return 128.0 * ACCUMULATORS * iterations / seconds / 1e9;
#undef DECLARE
#undef STEP
#undef SUM
}

static double fmadd(long iterations) {
  __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(1e-9f);
#define DECLARE(i) __m512 acc##i = _mm512_set1_ps((float)i);
#define STEP(i) acc##i = _mm512_fmadd_ps(a, b, acc##i);
#define SUM(i) sink += _mm512_reduce_add_ps(acc##i);
  EACH(DECLARE)
  double start = now();
  for (long n = 0; n < iterations; ++n) {
    EACH(STEP)
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  double seconds = now() - start;
  float sink = 0;
  EACH(SUM)
  if (sink == 42.0f)
    puts("");
  return 32.0 * ACCUMULATORS * iterations / seconds / 1e9;
#undef DECLARE
#undef STEP
#undef SUM
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0.2;
  /* Calibrate, then the best of 20 runs of about `seconds` / 20 each: the
     best is the run no other work on the machine disturbed. */
  long iterations = 1 << 20;
  double best[2] = {0, 0};
  for (int round = 0; round < 20; ++round) {
    double rates[2] = {vnni(iterations), fmadd(iterations)};
    for (int i = 0; i < 2; ++i)
      best[i] = rates[i] > best[i] ? rates[i] : best[i];
    iterations = (long)(seconds / 20 * best[0] * 1e9 / (128.0 * ACCUMULATORS));
    if (iterations < 1024)
      iterations = 1024;
  }
  printf("%.1f %.1f\n", best[0], best[1]);
  return 0;
}
