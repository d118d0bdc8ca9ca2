/* SPDX-License-Identifier: MIT */
/*
 * measure.h - what every measurement of npu-bench and calibration shares: medians, seeded
 * random inputs, and the benchmark ops built once (an attention over a cache), so that each
 * benchmark exists in one copy.
 */
#ifndef EDGE_NPU_TOOLS_BENCH_MEASURE_H
#define EDGE_NPU_TOOLS_BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

/* CLOCK_MONOTONIC in seconds: what measurements time with. */
static inline double bench_now_s(void)
{
	return 1e-9 * (double)hal_now_ns();
}

/* The smallest and largest of v[0..n) (n >= 1). */
void bench_range(const double *v, uint32_t n, double *lo, double *hi);

/* Median of v[0..n) (sorts v). */
double bench_median(double *v, uint32_t n);

/* xorshift64 step of *s (nonzero): the random numbers of the measurements. */
uint64_t bench_rng_next(uint64_t *s);

/*
 * A whole number in decimal, 0 .. max, into *v: digits only (no sign, no leading blank, no
 * trailing text), not out of range. 0, or -1 when s is not one.
 */
int bench_parse_u64(const char *s, uint64_t max, uint64_t *v);

/* bytes of 64-byte aligned memory (free()), the length rounded up; NULL when out of memory. */
void *bench_alloc64(size_t bytes);

/* n floats uniform in [-1, 1], 64-byte aligned (free()); NULL when out of memory. */
float *bench_random_floats(size_t n, uint64_t *seed);

/*
 * An N x K weight of type with small finite values: quants uniform, block scales 0.01, F16 and
 * F32 in [-1, 1) (random bits could make NaNs); 64-byte aligned (free()), NULL when out of
 * memory.
 */
void *bench_random_weights(enum hal_type type, uint32_t K, uint32_t N, uint64_t *seed);

/*
 * Runs op reps + 1 times on each of devs[0..n_devs) in turn (n_devs > 1: a round trip of its
 * tensors between the devices), the first round untimed (page faults, kernel builds), and
 * gives the median seconds of a round. -1 with err naming the device, the op and its error.
 */
int bench_time_op(struct hal_device *const *devs, uint32_t n_devs, const struct hal_op *op,
		  uint32_t reps, double *out_s, char *err, size_t err_len);

/* The same, every timed round's seconds to out_s[0..reps) instead of their median. */
int bench_time_op_samples(struct hal_device *const *devs, uint32_t n_devs,
			  const struct hal_op *op, uint32_t reps, double *out_s, char *err,
			  size_t err_len);

/*
 * The row ops of a layer at D x T over random x and y (rope in heads of 64, or one head when
 * D is not a multiple of 64; positions 0 .. T-1): rmsnorm(x) -> y, rope(y) in place,
 * swiglu(x, y) -> y, add(x, y) -> x. Run in that order, the values stay bounded.
 */
struct bench_rows {
	struct hal_tensor x, y, norm, pos;
	struct hal_op rmsnorm, rope, swiglu, add;
};

/* Fills *r (its buffers allocated); -1 when out of memory (nothing left allocated). */
int bench_rows_init(struct bench_rows *r, uint32_t D, uint32_t T);
void bench_rows_free(struct bench_rows *r);

/*
 * An attention op of n_head heads of hd over random q, k, v: T new tokens at positions
 * ctx - T .. ctx - 1 over a cache of ctx rows (as a model's decode or prefill sees it), the
 * caches of cache_type (F32, F16 or Q8_0).
 */
struct bench_attention {
	struct hal_tensor q, k, v, out, k_cache, v_cache, pos;
	struct hal_op op;
	double cache_rows; /* sum over the tokens of the cache rows each reads */
	size_t cache_len[2]; /* K, V in huge pages as a session's (hal_huge_alloc), 0: malloc */
};

/* Fills *a (its buffers allocated); -1 when out of memory (nothing left allocated). */
int bench_attention_init(struct bench_attention *a, uint32_t n_head, uint32_t hd, uint32_t T,
			 uint32_t ctx, enum hal_type cache_type);
void bench_attention_free(struct bench_attention *a);

#endif
