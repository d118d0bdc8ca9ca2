/* SPDX-License-Identifier: MIT */
/*
 * opencl.h - the OpenCL backend ("gpu") beyond the HAL vtable: what the registry, the
 * scheduler (capabilities, fences) and the tests (zero-copy, program cache, broken sources)
 * need. Everything else about the backend is private to hal/opencl/.
 *
 * The backend runs on any OpenCL 1.2+ device through the ICD loader; on a machine without a
 * platform, creation fails with HAL_ERR_DEVICE and a reason, and nothing else is affected.
 * Thread safety: a device is used by one thread at a time (as every HAL device).
 */
#ifndef EDGE_NPU_HAL_OPENCL_H
#define EDGE_NPU_HAL_OPENCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

/* The registry entry (hal/backends.c). */
extern const struct hal_backend hal_backend_opencl;

/* What the device offers; read by the scheduler, checked by hal_opencl_check_caps(). */
struct hal_opencl_caps {
	char platform[128];
	char device[128];
	char version[64];   /* CL_DEVICE_VERSION */
	char driver[64];    /* CL_DRIVER_VERSION */
	char c_version[64]; /* CL_DEVICE_OPENCL_C_VERSION */
	bool is_gpu;
	bool is_cpu;         /* matmuls then give each work-item whole rows (no group reduction) */
	bool unified_memory; /* host and device share memory: buffers are wrapped, not copied */
	bool compiler;       /* an online compiler is available */
	bool fp16;           /* cl_khr_fp16 (not needed: half is only loaded and stored) */
	bool correct_div_sqrt; /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT (Q8_0 bit-exactness) */
	uint32_t compute_units;
	uint64_t global_mem;
	uint64_t local_mem;
	size_t max_work_group;
	uint32_t work_group; /* the work-group size the kernels are built for (power of two) */
};

/*
 * HAL_OK when the kernels can run on a device with these capabilities; otherwise
 * HAL_ERR_UNSUPPORTED and the missing feature in err ("device 'X' has no OpenCL C compiler").
 */
enum hal_status hal_opencl_check_caps(const struct hal_opencl_caps *caps, char *err, size_t len);

/*
 * Creates the device. opts->select picks an OpenCL device by index (over all platforms, in
 * enumeration order) or by a case-insensitive substring of "<platform> <device>"; by default
 * the first GPU, else accelerator, else any device. The kernels come from source (NULL: the
 * embedded ones; a test passes a broken source to see the build log in err) through the
 * program cache (ENPU_CL_CACHE_DIR, else $XDG_CACHE_HOME/edge-npu/cl when absolute, else
 * ~/.cache/edge-npu/cl). ENPU_CL_FORCE_COPY=1 makes a unified-memory device behave like a
 * discrete one (explicit, counted copies), for tests.
 */
enum hal_status hal_opencl_create(const struct hal_device_options *opts, const char *source,
				  struct hal_device **out_dev, char *err, size_t len);

struct hal_opencl_info {
	struct hal_opencl_caps caps;
	bool copy_mode;          /* operands are copied to device memory (and counted) */
	bool program_from_cache; /* the program binary came from the cache: no compilation */
	uint64_t program_ns;     /* time to obtain the built program (compile or cache load) */
	char cache_path[512];    /* the cache file of this device's program ("" if none) */
};

/* Fills out and returns true when dev is an OpenCL device. */
bool hal_opencl_get_info(struct hal_device *dev, struct hal_opencl_info *out);

/*
 * Maps [ptr, ptr + bytes) through the buffer the device uses for that host memory
 * (clEnqueueMapBuffer), stores the mapped address in *out_mapped and unmaps it. On the
 * zero-copy path the mapped address is ptr itself.
 */
enum hal_status hal_opencl_map_host(struct hal_device *dev, void *ptr, size_t bytes,
				    void **out_mapped);

/*
 * Events: an op is enqueued after the ops whose events it waits for and returns its own;
 * run() is enqueue + wait. The scheduler's queues order ops across devices with HAL fences
 * (hal.h); these OpenCL events let a caller chain several GPU ops without a host wait.
 */
struct hal_opencl_event;

enum hal_status hal_opencl_enqueue(struct hal_device *dev, const struct hal_op *op,
				   uint32_t n_wait, struct hal_opencl_event *const *wait,
				   struct hal_opencl_event **out_fence);
/* Blocks until the op of f has completed; the op's error (if any) goes to dev->error. */
enum hal_status hal_opencl_event_wait(struct hal_opencl_event *f);
void hal_opencl_event_release(struct hal_opencl_event *f);

#endif
