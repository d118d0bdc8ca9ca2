/* SPDX-License-Identifier: MIT */
/*
 * npu_latency.h - npu-bench npu: what it costs to get an empty job through the NPU's device
 * path (submit, ring, doorbell, the device model's context, interrupt, fence), in process and
 * through the kernel driver, beside a direct call of the engine on the same stream.
 */
#ifndef EDGE_NPU_BENCH_NPU_LATENCY_H
#define EDGE_NPU_BENCH_NPU_LATENCY_H

#include <stdint.h>

#include "bench/report.h"

/*
 * Runs reps empty jobs one after another on device ("npu": in process; "npu-drm": through
 * /dev/dri or /dev/accel) and writes (fmt, report.h) the median, 99th percentile, mean and
 * stddev of submit-to-complete, with the engine call's own time for the same stream. Returns
 * 0, or 1 when the device cannot be used (said on stderr).
 */
int bench_npu_latency(const char *device, uint32_t reps, enum bench_format fmt);

#endif
