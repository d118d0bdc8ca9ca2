/* SPDX-License-Identifier: MIT */
/* load_bench.h - `npu-bench load`: a model file mapped against read through io_uring. */
#ifndef EDGE_NPU_TOOLS_BENCH_LOAD_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_LOAD_BENCH_H

#include <stdint.h>

/*
 * Loads model (on device, NULL: cpu) reps times with each read method, cold (the file's pages
 * dropped from the page cache first, posix_fadvise) and warm, the methods interleaved, and
 * prints the median and range of each with the file's bytes per second. Returns the exit
 * status.
 */
int bench_load_main(const char *model, const char *device, uint32_t reps);

#endif
