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

/* Median of v[0..n) (sorts v). */
double bench_median(double *v, uint32_t n);

/* xorshift64 step of *s (nonzero): the random numbers of the measurements. */
uint64_t bench_rng_next(uint64_t *s);

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
 * An attention op of n_head heads of hd over random q, k, v: T new tokens at positions
 * ctx - T .. ctx - 1 over a cache of ctx rows (as a model's decode or prefill sees it).
 */
struct bench_attention {
	struct hal_tensor q, k, v, out, k_cache, v_cache, pos;
	struct hal_op op;
	double cache_rows; /* sum over the tokens of the cache rows each reads */
};

/* Fills *a (its buffers allocated); -1 when out of memory (nothing left allocated). */
int bench_attention_init(struct bench_attention *a, uint32_t n_head, uint32_t hd, uint32_t T,
			 uint32_t ctx);
void bench_attention_free(struct bench_attention *a);

#endif
