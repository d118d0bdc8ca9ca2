/* SPDX-License-Identifier: MIT */
/* load_bench.h - `npu-bench load`: a model file mapped against read through io_uring. */
#ifndef EDGE_NPU_TOOLS_BENCH_LOAD_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_LOAD_BENCH_H

#include <stdint.h>

#include "bench/report.h"

/*
 * Loads model (on device, NULL: cpu) reps times with each read method, cold (the file's pages
 * dropped from the page cache first, posix_fadvise) and warm, the methods interleaved, and
 * writes a row (fmt, report.h) per method and cache state: the load time over the runs and
 * the file's bytes per second at the median. Returns the exit status.
 */
int bench_load_main(const char *model, const char *device, uint32_t reps,
		    enum bench_format fmt);

#endif
