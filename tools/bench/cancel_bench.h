/* SPDX-License-Identifier: MIT */
/* cancel_bench.h - `npu-bench cancel`: how soon a cancelled job stops, mid-prefill. */
#ifndef EDGE_NPU_TOOLS_BENCH_CANCEL_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_CANCEL_BENCH_H

#include <stdint.h>

#include "bench/report.h"

/*
 * Times a prefill of `prompt` tokens as an eval job, then, reps times, submits it again and
 * cancels it at half that time: writes a row (fmt, report.h) with cancel-to-finished over the
 * runs the cancel caught (the op running when the cancel came finishes, no other starts)
 * beside the prefill's own time. Returns the exit status.
 */
int bench_cancel_main(const char *model, const char *device, uint32_t threads, uint32_t prompt,
		      uint32_t reps, enum bench_format fmt);

#endif
