/* SPDX-License-Identifier: MIT */
/* batch_bench.h - `npu-bench batch`: aggregate decode tokens/s of n sessions batched together. */
#ifndef EDGE_NPU_TOOLS_BENCH_BATCH_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_BATCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/report.h"

#define BENCH_BATCH_MAX_SIZES 16

struct bench_batch_options {
	const char *model;
	const char *device;  /* NULL: cpu */
	uint32_t threads;    /* 0: one per online core */
	uint32_t reps;       /* rounds over all sizes; medians and ranges over them */
	uint32_t prompt;     /* tokens each session prefills before the timed steps */
	uint32_t steps;      /* timed decode steps per round */
	uint32_t n_sizes;
	uint32_t sizes[BENCH_BATCH_MAX_SIZES]; /* sessions decoding at once; sizes[0] is 1 */
	/*
	 * Through async generate jobs (the context's job thread batches their steps) instead of
	 * explicit enpu_session_eval_many calls; one session's jobs are also timed against the
	 * blocking enpu_generate (the async overhead).
	 */
	bool jobs;
	enum bench_format fmt; /* how the rows are written (report.h) */
};

/*
 * The n numbers of sessions v (as npu-bench parsed "1,4,8") into o->sizes: 1 first, added
 * when missing; each 1 .. ENPU_EVAL_MANY_MAX, at most BENCH_BATCH_MAX_SIZES with the 1.
 * -1 when n is 0 or a number or the count is out of range.
 */
int bench_batch_set_sizes(const uint32_t *v, uint32_t n, struct bench_batch_options *o);

/*
 * For each round, for each size n: n sessions prefill distinct prompts of the same length
 * (untimed), then take `steps` decode steps together, each a greedy sample per session and one
 * enpu_session_eval_many() of all n (timed). Writes a row per size: the aggregate tokens/s
 * and its ratio to one session's in the same round (mean ± stddev over the rounds: the sizes
 * of a round run back to back, under one load of a shared machine). Returns the exit status.
 */
int bench_batch_main(const struct bench_batch_options *o);

#endif
