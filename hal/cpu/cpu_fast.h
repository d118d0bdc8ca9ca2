/* SPDX-License-Identifier: MIT */
/*
 * cpu_fast.h - the fast CPU backend ("cpu" in hal_backends[]), for the registry, npu-bench
 * and the tests. Everything else reaches it through the hal_device vtable.
 */
#ifndef EDGE_NPU_CPU_FAST_H
#define EDGE_NPU_CPU_FAST_H

#include "hal/hal.h"

/* The registry entry (hal/backends.c). */
extern const struct hal_backend hal_backend_cpu_fast;

/* Threads from opts->n_threads (0: the online cores), kernels from cpuid or ENPU_CPU_ISA. */
enum hal_status hal_cpu_fast_create(const struct hal_device_options *opts,
				    struct hal_device **out_dev, char *err, size_t err_len);
/* The kernel set ("amx", "avx512", "avxvnni", "avx2", "neon", "scalar") and thread count of a
 * device made above. */
const char *hal_cpu_fast_isa(const struct hal_device *dev);
uint32_t hal_cpu_fast_threads(const struct hal_device *dev);
/*
 * The device's thread pool, for hal/cpu's own measuring code (bandwidth.c): a second pool
 * would put its workers next to this one's spinning workers on the same cores and time the
 * contention.
 */
struct tpool *hal_cpu_fast_pool(const struct hal_device *dev);
/*
 * The read ceiling: seconds for the device's threads to read len bytes of buf (64-byte
 * aligned) the way the decode kernels stream their weights. What npu-bench and calibration
 * compare memory-bound kernels with.
 */
double hal_cpu_fast_time_read(const struct hal_device *dev, const void *buf, size_t len);
/*
 * A buffer of len bytes for hal_cpu_fast_time_read, in the huge pages the packed weights live
 * in (where the kernel gives them), every page faulted in; free() it. NULL when out of memory.
 */
void *hal_cpu_fast_read_buffer(size_t len);
/*
 * The compute ceiling of the device's kernels: int8 multiply-accumulates per second (1e9) of
 * their dot instruction on every thread, best of 5 runs; *what names the instruction. 0 (and
 * *what NULL) when the kernel set has none (scalar).
 */
double hal_cpu_fast_peak_gmacs(const struct hal_device *dev, const char **what);
/*
 * Where the int8 unit outruns the vectors (AMX), the rate the float scaling of the blocks'
 * sums allows, in multiply-accumulates per second (1e9) on every thread; 0 elsewhere.
 */
double hal_cpu_fast_scale_gmacs(const struct hal_device *dev);

#endif
