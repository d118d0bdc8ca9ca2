/* SPDX-License-Identifier: MIT */
/*
 * calibrate.h - measures this host's CPU and OpenCL backends and turns the kernel times into
 * the numbers of a device profile (sched/profiles/README.md): what `npu-bench calibrate`
 * writes to host.prof. Built into npu-bench's measuring code (tools/bench), which a test
 * links to run it on tiny shapes.
 */
#ifndef EDGE_NPU_TOOLS_BENCH_CALIBRATE_H
#define EDGE_NPU_TOOLS_BENCH_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sched/profile.h"

struct bench_calib_opts {
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
 * The NPU device of base, if any, gets the figures of the engine model
 * (kmod/silicon/npu_engine.c), since its time is modeled, not measured. Returns 0, or -1 with err set.
 */
int bench_calibrate(const struct bench_calib_opts *o, const struct sched_profile *base,
		    struct sched_profile *out, char *err, size_t err_len);

#endif
