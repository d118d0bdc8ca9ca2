/* SPDX-License-Identifier: MIT */
/* ocl_internal.h - what the files of the OpenCL backend share; nothing outside includes it. */
#ifndef EDGE_NPU_HAL_OCL_INTERNAL_H
#define EDGE_NPU_HAL_OCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "opencl.h"

/* The kernels of the program, in the order their names are listed in opencl_ops.c. */
enum ocl_kernel {
	OCL_K_QUANTIZE_Q8_ACT,
	OCL_K_ROUND_F16_ACT,
	OCL_K_MATMUL_Q8_0,
	OCL_K_MATMUL_Q4_0,
	OCL_K_MATMUL_F16,
	OCL_K_MATMUL_F32,
	OCL_K_RMSNORM,
	OCL_K_ROPE,
	OCL_K_KV_STORE,
	OCL_K_ATTENTION,
	OCL_K_SWIGLU,
	OCL_K_ADD,
	OCL_K_EMBED,
	OCL_K_MATMUL_KQ,
	OCL_K_SOFTCAP,
	OCL_K_COUNT
};

extern const char *const ocl_kernel_names[OCL_K_COUNT];

/*
 * A cl_mem over a range of host memory. Unified memory: created with CL_MEM_USE_HOST_PTR, so
 * the device reads and writes the host bytes themselves. Copy mode: device memory, filled
 * and drained by explicit, counted transfers.
 */
struct ocl_buf {
	char *host;
	size_t bytes;
	cl_mem mem;
	bool read_only;
	bool uploaded; /* copy mode: constant data (weights) already on the device */
};

/* Device-owned scratch memory (quantized activations, attention scores). */
enum ocl_scratch { OCL_S_AQ, OCL_S_AD, OCL_S_A16, OCL_S_SCORES, OCL_S_COUNT };

struct ocl_dev {
	struct hal_device base;
	cl_platform_id platform;
	cl_device_id device;
	cl_context ctx;
	cl_command_queue queue;
	cl_program program;
	cl_kernel kernels[OCL_K_COUNT];
	struct hal_opencl_info info;
	struct ocl_buf *bufs;
	size_t n_bufs, cap_bufs;
	cl_mem scratch[OCL_S_COUNT];
	size_t scratch_bytes[OCL_S_COUNT];
};

const char *ocl_strerror(cl_int err);

/* ---- opencl_buffers.c ---- */

/* How an op uses an operand: read (and possibly constant: weights, norms), or written. */
enum ocl_access { OCL_READ, OCL_CONST, OCL_WRITE, OCL_READ_WRITE };

/* A kernel operand: the buffer holding the tensor and the tensor's byte offset in it. */
struct ocl_arg {
	cl_mem mem;
	cl_ulong off;
};

/*
 * Makes sure a buffer covers [ptr, ptr + bytes); overlapping buffers are merged into one
 * over their union (tensors of one arena share memory with different extents). Call it for
 * every operand of an op before ocl_buf_arg(): a later merge may replace an earlier buffer.
 */
enum hal_status ocl_buf_reserve(struct ocl_dev *d, void *ptr, size_t bytes, enum ocl_access acc);
/* The operand of a reserved range; in copy mode uploads what the op reads (counted). */
enum hal_status ocl_buf_arg(struct ocl_dev *d, void *ptr, size_t bytes, enum ocl_access acc,
			    struct ocl_arg *out);
/* Copy mode: brings back what the op wrote (counted); nothing on unified memory. */
enum hal_status ocl_buf_download(struct ocl_dev *d, void *ptr, size_t bytes);
/* Device scratch of at least bytes for slot s (grown, never shrunk). */
enum hal_status ocl_scratch(struct ocl_dev *d, enum ocl_scratch s, size_t bytes, cl_mem *out);
void ocl_buf_release_all(struct ocl_dev *d);

/* ---- opencl_cache.c ---- */

/*
 * Builds source for the device with options, through the on-disk binary cache: a valid
 * cached binary is loaded without compiling; a missing or corrupt one is rebuilt and stored.
 * Fills d->program and d->info.program_from_cache / program_ns / cache_path. A compile error
 * returns HAL_ERR_DEVICE with the build log in err (as much as fits; all of it on stderr).
 */
enum hal_status ocl_program_get(struct ocl_dev *d, const char *source, const char *options,
				char *err, size_t len);

/* ---- opencl_ops.c ---- */

bool ocl_supports(struct hal_device *dev, const struct hal_op *op);
enum hal_status ocl_enqueue_op(struct ocl_dev *d, const struct hal_op *op, cl_uint n_wait,
			       const cl_event *wait, cl_event *out_ev);

#endif
