/* SPDX-License-Identifier: MIT */
/* spec_bench.h - `npu-bench spec`: decode tokens/s with speculative decoding against without. */
#ifndef EDGE_NPU_TOOLS_BENCH_SPEC_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_SPEC_BENCH_H

#include <stdint.h>

#include "bench/report.h"

struct bench_spec_options {
	const char *model;
	const char *device;     /* NULL: cpu */
	const char *draft;      /* a draft GGUF of the same vocabulary, or NULL */
	const char *draft_type; /* else the model itself requantized (default q4_0) */
	uint32_t threads;       /* 0: one per online core */
	uint32_t reps;          /* rounds; in each, plain and speculative back to back */
	uint32_t prompt;        /* prompt tokens before the timed generation */
	uint32_t gen;           /* tokens generated (greedy, end-of-text ignored) */
	uint32_t spec_k;        /* 0: adaptive; else fixed */
	const char *profile;    /* also the modeled comparison on this profile, or NULL */
	enum bench_format fmt;
};

/*
 * Per round: one plain greedy generation of gen tokens after the prompt, then the same with
 * the draft (fresh sessions' KV caches reset, graphs kept), timed by enpu_generate's stats.
 * Rows: plain and speculative tokens/s (mean ± stddev of the rounds), the ratio per round,
 * the acceptance rate, accepted tokens per verification and whether every round's tokens
 * were the same. Then the step times the cost model weighs (a decode step of the model and
 * of the draft, a batched evaluation of k + 1 tokens) and the speed-up it predicts from them
 * at the measured acceptance rate. With a profile, the same on its modeled silicon: each
 * graph placed by the scheduler ("auto") and simulated, the tokens/s and mJ/token of the
 * plain plan and of speculation per k, and the plan the cost model picks (speculation only
 * where it wins). 1 when a round's tokens differ (greedy must be exact).
 */
int bench_spec_main(const struct bench_spec_options *o);

#endif
