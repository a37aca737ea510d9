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

/* One peak loop: `name` runs `iterations` rounds of ACCUMULATORS
 * independent `op(acc, a, b)` on vectors of `type` made by `set`, each
 * `ops` operations, and returns G operations per second (REDUCE sums an
 * accumulator, so that none is dead code). */
#define PEAK_LOOP(name, type, set, op, ops)                           \
  static double name(long iterations) {                                      \
    typedef type vec_t;                                                        \
    vec_t (*const set_)(int) = set;                                            \
    vec_t (*const op_)(vec_t, vec_t, vec_t) = op;                              \
    vec_t a = set_(1), b = set_(2);                                            \
    EACH(DECLARE)                                                              \
    double start = now();                                                      \
    for (long n = 0; n < iterations; ++n) {                                    \
      EACH(STEP)                                                               \
      __asm__ volatile("" : "+v"(a), "+v"(b));                                 \
    }                                                                          \
    double seconds = now() - start;                                            \
    double sink = 0;                                                           \
    EACH(SUM)                                                                  \
    (void)op_;                                                                 \
    if (sink == 42)                                                            \
      puts("");                                                                \
    return (double)(ops) * ACCUMULATORS * iterations / seconds / 1e9;          \
  }
#define DECLARE(i) vec_t acc##i = set_(i);
#define STEP(i) acc##i = op_(acc##i, a, b);
#define SUM(i) sink += REDUCE(acc##i);

static __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  return _mm512_dpbusd_epi32(acc, a, b);
}
static __m512 fmadd(__m512 acc, __m512 a, __m512 b) {
  return _mm512_fmadd_ps(a, b, acc);
}
static __m512i bytes(int v) { return _mm512_set1_epi8((char)(v + 1)); }
static __m512 floats(int v) { return _mm512_set1_ps(1e-9f * (float)v); }

/* vpdpbusd: 64 multiply-accumulates, 128 operations; FMA: 16, 32. */
#define REDUCE _mm512_reduce_add_epi32
PEAK_LOOP(vnni_peak, __m512i, bytes, dpbusd, 128)
#undef REDUCE
#define REDUCE _mm512_reduce_add_ps
PEAK_LOOP(fma_peak, __m512, floats, fmadd, 32)
#undef REDUCE

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0.2;
  /* Calibrate, then the best of 20 runs of about `seconds` / 20 each: the
     best is the run no other work on the machine disturbed. */
  long iterations = 1 << 20;
  double best[2] = {0, 0};
  for (int round = 0; round < 20; ++round) {
    double rates[2] = {vnni_peak(iterations), fma_peak(iterations)};
    for (int i = 0; i < 2; ++i)
      best[i] = rates[i] > best[i] ? rates[i] : best[i];
    iterations = (long)(seconds / 20 * best[0] * 1e9 / (128.0 * ACCUMULATORS));
    if (iterations < 1024)
      iterations = 1024;
  }
  printf("%.1f %.1f\n", best[0], best[1]);
  return 0;
}
