/* SPDX-License-Identifier: MIT */
/*
 * calibrate.h - measures this host's CPU and OpenCL backends and turns the kernel times into
 * the numbers of a device profile (sched/profiles/README.md): what `npu-bench calibrate`
 * writes to host.prof. Lives in the library, not in the tool, so that a test can run it on
 * tiny shapes.
 */
#ifndef EDGE_NPU_SCHED_CALIBRATE_H
#define EDGE_NPU_SCHED_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hal/hal.h"
#include "sched/profile.h"

struct tpool;

struct sched_calib_opts {
	uint32_t reps;     /* timed runs per kernel, the median is used (default 10) */
	uint32_t threads;  /* CPU threads (0: one per online core) */
	size_t bw_bytes;   /* buffer of the bandwidth read (0: 512 MiB, far above any LLC) */
	size_t stream_bytes; /* weights cycled through at T=1 so they come from DRAM (0: 96 MiB) */
	/* shapes of the model whose ops are timed (0: the ~130 M model: 768, 2048, 32000, 128) */
	uint32_t dim, ffn, vocab, prefill;
	bool no_gpu;       /* do not try the OpenCL device */
	FILE *log;         /* one line per measurement (NULL: quiet) */
};

/*
 * Measures device "cpu" and, when it opens, "gpu"; fills out from base (which supplies what
 * cannot be measured here: power, OPPs as the clock the rates are relative to, wake and
 * suspend figures) with the measured bandwidths, rates, type scales, launch and sync times.
 * The NPU device of base, if any, gets the figures of the engine model (kmod/npu_engine.c),
 * since its time is modeled, not measured. Returns 0, or -1 with err set.
 */
int sched_calibrate(const struct sched_calib_opts *o, const struct sched_profile *base,
		    struct sched_profile *out, char *err, size_t err_len);

/*
 * Seconds to read len bytes of buf on the pool's threads (AVX2 when the CPU has it); the
 * bandwidth ceiling npu-bench cpu and calibrate compare kernels with.
 */
double sched_calib_time_read(struct tpool *pool, const uint8_t *buf, size_t len);

/* Median of v[0..n) (sorts v). */
double sched_calib_median(double *v, uint32_t n);

/* xorshift64 step of *s (nonzero): the random numbers of the measurements and of npu-bench. */
uint64_t sched_calib_rng_next(uint64_t *s);

/* n floats uniform in [-1, 1], 64-byte aligned (free()); NULL when out of memory. */
float *sched_calib_random_floats(size_t n, uint64_t *seed);

/*
 * An N x K weight of type with small finite values: quants uniform, block scales 0.01, F16 and
 * F32 in [-1, 1) (random bits could make NaNs); 64-byte aligned (free()), NULL when out of
 * memory.
 */
void *sched_calib_random_weights(enum hal_type type, uint32_t K, uint32_t N, uint64_t *seed);

#endif
