/* SPDX-License-Identifier: MIT */
/*
 * opencl_buffers.c - HAL tensors (host pointers) as OpenCL buffers.
 *
 * On a unified-memory device every range of host memory is wrapped once with
 * CL_MEM_USE_HOST_PTR and reused for every token: the device works on the host bytes, nothing
 * is copied, bytes_copied stays 0. The wrappers are kept per memory range, not per tensor:
 * the tensors of an arena overlap (liveness sharing) and OpenCL leaves overlapping
 * USE_HOST_PTR buffers undefined, so overlapping ranges are merged into one buffer over their
 * union. After the first token the set is stable (one buffer per arena region in use, one per
 * weight, one per KV cache).
 *
 * On a discrete device (or with ENPU_CL_FORCE_COPY=1) the buffers are device memory of the
 * same ranges; each op uploads what it reads and downloads what it writes, explicitly, and
 * every byte is added to stats.bytes_copied. Constant data (weights) is uploaded once.
 */
#include "ocl_internal.h"

#include <stdlib.h>
#include <string.h>

/* Beyond this many wrappers (host memory freed and reused by other tensors) start afresh. */
#define OCL_MAX_BUFS 4096

static bool contains(const struct ocl_buf *b, const char *p, size_t n)
{
	return p >= b->host && p + n <= b->host + b->bytes;
}

static bool overlaps(const struct ocl_buf *b, const char *p, size_t n)
{
	return p < b->host + b->bytes && b->host < p + n;
}

static struct ocl_buf *find(struct ocl_dev *d, const char *p, size_t n)
{
	for (size_t i = 0; i < d->n_bufs; i++)
		if (contains(&d->bufs[i], p, n))
			return &d->bufs[i];
	return NULL;
}

static void buf_drop(struct ocl_dev *d, size_t i)
{
	/* OpenCL keeps the object alive until enqueued commands that use it are done */
	clReleaseMemObject(d->bufs[i].mem);
	d->bufs[i] = d->bufs[--d->n_bufs];
}

void ocl_buf_release_all(struct ocl_dev *d)
{
	while (d->n_bufs)
		buf_drop(d, d->n_bufs - 1);
	free(d->bufs);
	d->bufs = NULL;
	d->cap_bufs = 0;
	for (int s = 0; s < OCL_S_COUNT; s++) {
		if (d->scratch[s])
			clReleaseMemObject(d->scratch[s]);
		d->scratch[s] = NULL;
		d->scratch_bytes[s] = 0;
	}
}

static enum hal_status buf_create(struct ocl_dev *d, char *lo, char *hi, bool read_only)
{
	cl_mem_flags flags = read_only ? CL_MEM_READ_ONLY : CL_MEM_READ_WRITE;
	cl_int err;
	cl_mem mem;

	if (d->n_bufs == d->cap_bufs) {
		size_t cap = d->cap_bufs ? 2 * d->cap_bufs : 64;
		struct ocl_buf *nb = realloc(d->bufs, cap * sizeof(*nb));

		if (!nb)
			return hal_device_fail(&d->base, HAL_ERR_NOMEM,
					       "out of memory for buffer wrappers");
		d->bufs = nb;
		d->cap_bufs = cap;
	}
	if (!d->info.copy_mode)
		flags |= CL_MEM_USE_HOST_PTR;
	mem = clCreateBuffer(d->ctx, flags, (size_t)(hi - lo), d->info.copy_mode ? NULL : lo,
			     &err);
	if (!mem)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE,
				       "clCreateBuffer of %zu bytes at %p: %s", (size_t)(hi - lo),
				       (void *)lo, ocl_strerror(err));
	d->bufs[d->n_bufs++] = (struct ocl_buf){ lo, (size_t)(hi - lo), mem, read_only, false };
	return HAL_OK;
}

enum hal_status ocl_buf_reserve(struct ocl_dev *d, void *ptr, size_t bytes, enum ocl_access acc)
{
	char *lo = ptr, *hi = lo + bytes;
	bool read_only = acc == OCL_CONST;

	if (find(d, lo, bytes))
		return HAL_OK;
	if (d->n_bufs >= OCL_MAX_BUFS) {
		/* everything enqueued so far keeps its buffers alive (reference counts) */
		while (d->n_bufs)
			buf_drop(d, d->n_bufs - 1);
	}
	for (size_t i = d->n_bufs; i-- > 0;) {
		struct ocl_buf *b = &d->bufs[i];

		if (!overlaps(b, lo, bytes))
			continue;
		lo = b->host < lo ? b->host : lo;
		hi = b->host + b->bytes > hi ? b->host + b->bytes : hi;
		read_only = read_only && b->read_only;
		buf_drop(d, i);
	}
	return buf_create(d, lo, hi, read_only);
}

static enum hal_status upload(struct ocl_dev *d, struct ocl_buf *b, const char *p, size_t n)
{
	cl_int err = clEnqueueWriteBuffer(d->queue, b->mem, CL_FALSE, (size_t)(p - b->host), n, p,
					  0, NULL, NULL);

	if (err != CL_SUCCESS)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "uploading %zu bytes: %s", n,
				       ocl_strerror(err));
	d->base.stats.bytes_copied += n;
	return HAL_OK;
}

enum hal_status ocl_buf_arg(struct ocl_dev *d, void *ptr, size_t bytes, enum ocl_access acc,
			    struct ocl_arg *out)
{
	struct ocl_buf *b = find(d, ptr, bytes);
	enum hal_status st = HAL_OK;

	if (!b)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "no buffer reserved for %p (+%zu)",
				       ptr, bytes);
	out->mem = b->mem;
	out->off = (cl_ulong)((char *)ptr - b->host);
	if (!d->info.copy_mode || acc == OCL_WRITE)
		return HAL_OK;
	if (acc == OCL_CONST) {
		/* weights never change: once per buffer (a merge re-uploads the union once) */
		if (!b->uploaded)
			st = upload(d, b, b->host, b->bytes);
		b->uploaded = st == HAL_OK;
		return st;
	}
	return upload(d, b, ptr, bytes);
}

enum hal_status ocl_buf_download(struct ocl_dev *d, void *ptr, size_t bytes)
{
	struct ocl_buf *b;
	cl_int err;

	if (!d->info.copy_mode)
		return HAL_OK;
	b = find(d, ptr, bytes);
	if (!b)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "no buffer reserved for %p (+%zu)",
				       ptr, bytes);
	err = clEnqueueReadBuffer(d->queue, b->mem, CL_FALSE, (size_t)((char *)ptr - b->host),
				  bytes, ptr, 0, NULL, NULL);
	if (err != CL_SUCCESS)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "downloading %zu bytes: %s", bytes,
				       ocl_strerror(err));
	d->base.stats.bytes_copied += bytes;
	return HAL_OK;
}

enum hal_status ocl_scratch(struct ocl_dev *d, enum ocl_scratch s, size_t bytes, cl_mem *out)
{
	cl_int err;

	if (bytes == 0)
		bytes = 1;
	if (d->scratch_bytes[s] < bytes) {
		if (d->scratch[s])
			clReleaseMemObject(d->scratch[s]);
		d->scratch_bytes[s] = 0;
		d->scratch[s] = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
		if (!d->scratch[s])
			return hal_device_fail(&d->base, HAL_ERR_NOMEM,
					       "scratch buffer of %zu bytes: %s", bytes,
					       ocl_strerror(err));
		d->scratch_bytes[s] = bytes;
	}
	*out = d->scratch[s];
	return HAL_OK;
}
