/* SPDX-License-Identifier: MIT */
/*
 * opencl_device.c - the "gpu" backend: platform and device discovery, capabilities, the
 * device object and its vtable, fences over OpenCL events.
 *
 * One context and one in-order queue per device. run() enqueues an op and waits for it, so
 * that the time the scheduler measures is the op's; the enqueue/fence entry underneath is
 * what an asynchronous dispatcher will use.
 */
#include "ocl_internal.h"
#include "hal/completion.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "kernels_cl.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64
#define PREFERRED_WG 64 /* a multiple of every GPU's SIMD width (32 or 64) */

const char *ocl_strerror(cl_int err)
{
	switch (err) {
	case CL_SUCCESS: return "CL_SUCCESS";
	case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
	case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
	case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
	case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
	case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
	case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
	case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
	case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
	case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
	case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
	case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
	case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
	case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
	case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
	case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
	case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
	case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
	case CL_INVALID_HOST_PTR: return "CL_INVALID_HOST_PTR";
	case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
	case CL_INVALID_EVENT_WAIT_LIST: return "CL_INVALID_EVENT_WAIT_LIST";
	case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
	default: return "OpenCL error";
	}
}

/* ---- capabilities ----------------------------------------------------------------------- */

static void dev_str(cl_device_id dev, cl_device_info what, char *out, size_t len)
{
	out[0] = '\0';
	if (clGetDeviceInfo(dev, what, len, out, NULL) != CL_SUCCESS)
		out[0] = '\0';
	out[len - 1] = '\0';
}

static uint64_t dev_u64(cl_device_id dev, cl_device_info what, size_t size)
{
	unsigned char buf[8] = { 0 };
	uint64_t v = 0;

	if (size > sizeof(buf) || clGetDeviceInfo(dev, what, size, buf, NULL) != CL_SUCCESS)
		return 0;
	if (size == 4) {
		uint32_t u;

		memcpy(&u, buf, 4);
		return u;
	}
	memcpy(&v, buf, size);
	return v;
}

/* The largest power of two <= max that we want as work-group size. */
static uint32_t pick_work_group(size_t max)
{
	uint32_t wg = PREFERRED_WG;

	while (wg > 1 && wg > max)
		wg /= 2;
	return wg;
}

static void read_caps(cl_platform_id plat, cl_device_id dev, struct hal_opencl_caps *c)
{
	char ext[4096];
	cl_device_type type = 0;

	memset(c, 0, sizeof(*c));
	if (clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof(c->platform), c->platform, NULL))
		c->platform[0] = '\0';
	c->platform[sizeof(c->platform) - 1] = '\0';
	dev_str(dev, CL_DEVICE_NAME, c->device, sizeof(c->device));
	dev_str(dev, CL_DEVICE_VERSION, c->version, sizeof(c->version));
	dev_str(dev, CL_DRIVER_VERSION, c->driver, sizeof(c->driver));
	dev_str(dev, CL_DEVICE_OPENCL_C_VERSION, c->c_version, sizeof(c->c_version));
	dev_str(dev, CL_DEVICE_EXTENSIONS, ext, sizeof(ext));
	clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof(type), &type, NULL);
	c->is_gpu = type & CL_DEVICE_TYPE_GPU;
	c->is_cpu = type & CL_DEVICE_TYPE_CPU;
	c->unified_memory = dev_u64(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof(cl_bool));
	c->compiler = dev_u64(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof(cl_bool));
	c->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
	c->correct_div_sqrt = dev_u64(dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof(cl_bitfield)) &
			      CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT;
	c->compute_units = (uint32_t)dev_u64(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cl_uint));
	c->global_mem = dev_u64(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(cl_ulong));
	c->local_mem = dev_u64(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(cl_ulong));
	c->max_work_group = (size_t)dev_u64(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(size_t));
	c->work_group = pick_work_group(c->max_work_group);
}

/* "OpenCL C 1.2 ..." -> 102; 0 when unreadable. */
static int c_version_number(const char *s)
{
	int major = 0, minor = 0;

	if (sscanf(s, "OpenCL C %d.%d", &major, &minor) != 2)
		return 0;
	return major * 100 + minor;
}

/* Local memory the kernels need at most: a reduction row plus a head of q (<= 1024 floats). */
#define LOCAL_MEM_NEEDED ((PREFERRED_WG + 1024) * sizeof(float))

enum hal_status hal_opencl_check_caps(const struct hal_opencl_caps *c, char *err, size_t len)
{
	if (!c->compiler) {
		snprintf(err, len, "device '%s' has no OpenCL C compiler (the kernels are built "
			 "from source)", c->device);
		return HAL_ERR_UNSUPPORTED;
	}
	if (c_version_number(c->c_version) < 102) {
		snprintf(err, len, "device '%s' supports '%s', the kernels need OpenCL C 1.2",
			 c->device, c->c_version[0] ? c->c_version : "no OpenCL C version");
		return HAL_ERR_UNSUPPORTED;
	}
	if (c->local_mem < LOCAL_MEM_NEEDED) {
		snprintf(err, len, "device '%s' has %llu bytes of local memory, the kernels "
			 "need %zu", c->device, (unsigned long long)c->local_mem, (size_t)LOCAL_MEM_NEEDED);
		return HAL_ERR_UNSUPPORTED;
	}
	return HAL_OK;
}

/* ---- discovery -------------------------------------------------------------------------- */

struct ocl_candidate {
	cl_platform_id platform;
	cl_device_id device;
	cl_device_type type;
	char label[260]; /* "<platform> <device>" */
};

static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return n == 0;
}

static size_t enumerate(struct ocl_candidate *out, size_t cap, char *err, size_t len)
{
	cl_platform_id plats[MAX_PLATFORMS];
	cl_uint n_plat = 0;
	size_t n = 0;
	cl_int e = clGetPlatformIDs(MAX_PLATFORMS, plats, &n_plat);

	if (e != CL_SUCCESS || n_plat == 0) {
		snprintf(err, len, "no OpenCL platform found (%s; install an ICD such as "
			 "pocl-opencl-icd)", ocl_strerror(e));
		return 0;
	}
	for (cl_uint p = 0; p < n_plat && p < MAX_PLATFORMS; p++) {
		cl_device_id devs[MAX_DEVICES];
		cl_uint n_dev = 0;
		char pname[128] = "", dname[128];

		if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &n_dev))
			continue;
		clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof(pname), pname, NULL);
		pname[sizeof(pname) - 1] = '\0';
		for (cl_uint i = 0; i < n_dev && i < MAX_DEVICES && n < cap; i++) {
			struct ocl_candidate *c = &out[n++];

			c->platform = plats[p];
			c->device = devs[i];
			c->type = 0;
			clGetDeviceInfo(devs[i], CL_DEVICE_TYPE, sizeof(c->type), &c->type, NULL);
			dev_str(devs[i], CL_DEVICE_NAME, dname, sizeof(dname));
			snprintf(c->label, sizeof(c->label), "%s %s", pname, dname);
		}
	}
	if (!n)
		snprintf(err, len, "the OpenCL platforms have no devices");
	return n;
}

/* By opts->select (an index or a name substring), else GPU > accelerator > anything. */
static int choose(const struct ocl_candidate *c, size_t n, const char *select, char *err,
		  size_t len)
{
	static const cl_device_type order[] = { CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_ACCELERATOR,
						CL_DEVICE_TYPE_ALL };

	if (select && select[0]) {
		char *end;
		unsigned long idx = strtoul(select, &end, 10);

		if (isdigit((unsigned char)select[0]) && !*end) {
			if (idx < n)
				return (int)idx;
			snprintf(err, len, "OpenCL device index %lu out of range (%zu devices)",
				 idx, n);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (contains_nocase(c[i].label, select))
				return (int)i;
		snprintf(err, len, "no OpenCL device matches '%s' (first: '%s')", select,
			 c[0].label);
		return -1;
	}
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
		for (size_t i = 0; i < n; i++)
			if (c[i].type & order[o])
				return (int)i;
	return 0;
}

/* ---- the device ------------------------------------------------------------------------- */

static const struct hal_device_vtable ocl_vtable;

static void ocl_destroy(struct hal_device *dev)
{
	struct ocl_dev *d = (struct ocl_dev *)dev;

	if (!d)
		return;
	if (d->queue)
		clFinish(d->queue);
	ocl_buf_release_all(d);
	for (int k = 0; k < OCL_K_COUNT; k++)
		if (d->kernels[k])
			clReleaseKernel(d->kernels[k]);
	if (d->program)
		clReleaseProgram(d->program);
	if (d->queue)
		clReleaseCommandQueue(d->queue);
	if (d->ctx)
		clReleaseContext(d->ctx);
	free(d);
	hal_completion_put();
}

static enum hal_status ocl_run(struct hal_device *dev, const struct hal_op *op)
{
	struct hal_opencl_event *f = NULL;
	enum hal_status st = hal_opencl_enqueue(dev, op, 0, NULL, &f);

	if (st == HAL_OK)
		st = hal_opencl_event_wait(f);
	hal_opencl_event_release(f);
	return st;
}

static const struct hal_device_vtable ocl_vtable = {
	.destroy = ocl_destroy,
	.supports = ocl_supports,
	.run = ocl_run,
};

static enum hal_status open_context(struct ocl_dev *d, char *err, size_t len)
{
	cl_context_properties props[] = { CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform,
					  0 };
	cl_int e;

	d->ctx = clCreateContext(props, 1, &d->device, NULL, NULL, &e);
	if (!d->ctx) {
		snprintf(err, len, "clCreateContext on '%s': %s", d->info.caps.device,
			 ocl_strerror(e));
		return HAL_ERR_DEVICE;
	}
	/* in order: run() waits for each op anyway, and wait lists give async users ordering */
	d->queue = clCreateCommandQueue(d->ctx, d->device, 0, &e);
	if (!d->queue) {
		snprintf(err, len, "clCreateCommandQueue on '%s': %s", d->info.caps.device,
			 ocl_strerror(e));
		return HAL_ERR_DEVICE;
	}
	return HAL_OK;
}

static enum hal_status build_kernels(struct ocl_dev *d, const char *source, char *err,
				     size_t len)
{
	char options[128];
	enum hal_status st;
	cl_int e;

	/* never fast-relaxed math: the numerics follow the reference backend */
	snprintf(options, sizeof(options), "-cl-std=CL1.2 -DWG=%u -DROW_PER_ITEM=%d%s",
		 d->info.caps.work_group, d->info.caps.is_cpu,
		 d->info.caps.correct_div_sqrt ? " -cl-fp32-correctly-rounded-divide-sqrt" : "");
	st = ocl_program_get(d, source, options, err, len);
	if (st)
		return st;
	for (int k = 0; k < OCL_K_COUNT; k++) {
		d->kernels[k] = clCreateKernel(d->program, ocl_kernel_names[k], &e);
		if (!d->kernels[k]) {
			snprintf(err, len, "kernel '%s' missing from the program: %s",
				 ocl_kernel_names[k], ocl_strerror(e));
			return HAL_ERR_DEVICE;
		}
	}
	return HAL_OK;
}

static enum hal_status open_device(struct ocl_dev *d, const struct hal_device_options *opts,
				   const char *source, char *err, size_t len)
{
	struct ocl_candidate *cands = calloc(MAX_DEVICES, sizeof(*cands));
	const char *force = getenv("ENPU_CL_FORCE_COPY");
	size_t n;
	int pick;

	if (!cands) {
		snprintf(err, len, "out of memory");
		return HAL_ERR_NOMEM;
	}
	n = enumerate(cands, MAX_DEVICES, err, len);
	pick = n ? choose(cands, n, opts ? opts->select : NULL, err, len) : -1;
	if (pick >= 0) {
		d->platform = cands[pick].platform;
		d->device = cands[pick].device;
	}
	free(cands);
	if (pick < 0)
		return HAL_ERR_DEVICE;
	read_caps(d->platform, d->device, &d->info.caps);
	if (hal_opencl_check_caps(&d->info.caps, err, len))
		return HAL_ERR_DEVICE;
	d->info.copy_mode = !d->info.caps.unified_memory || (force && !strcmp(force, "1"));
	if (open_context(d, err, len))
		return HAL_ERR_DEVICE;
	return build_kernels(d, source ? source : ocl_kernel_source, err, len);
}

enum hal_status hal_opencl_create(const struct hal_device_options *opts, const char *source,
				  struct hal_device **out_dev, char *err, size_t len)
{
	struct ocl_dev *d;
	enum hal_status st;

	if (!out_dev)
		return HAL_ERR_INVALID;
	*out_dev = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, len, "out of memory");
		return HAL_ERR_NOMEM;
	}
	hal_completion_get(); /* its ops are waited for on the process's ring; ocl_destroy puts */
	d->base.vt = &ocl_vtable;
	d->base.name = "gpu";
	d->base.cls = HAL_CLASS_GPU;
	st = open_device(d, opts, source, err, len);
	if (st) {
		ocl_destroy(&d->base);
		return st;
	}
	if (d->info.caps.is_cpu)
		d->base.caps |= HAL_CAP_HOST_CORES;
	*out_dev = &d->base;
	return HAL_OK;
}

bool hal_opencl_get_info(struct hal_device *dev, struct hal_opencl_info *out)
{
	if (!dev || dev->vt != &ocl_vtable)
		return false;
	*out = ((struct ocl_dev *)dev)->info;
	return true;
}

enum hal_status hal_opencl_map_host(struct hal_device *dev, void *ptr, size_t bytes,
				    void **out_mapped)
{
	struct ocl_dev *d = (struct ocl_dev *)dev;
	struct ocl_arg a;
	enum hal_status st;
	cl_int e;
	void *m;

	if (!dev || dev->vt != &ocl_vtable || !ptr || !bytes || !out_mapped)
		return HAL_ERR_INVALID;
	if ((st = ocl_buf_reserve(d, ptr, bytes, OCL_READ_WRITE)) ||
	    (st = ocl_buf_arg(d, ptr, bytes, OCL_WRITE, &a)))
		return st;
	m = clEnqueueMapBuffer(d->queue, a.mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, a.off, bytes,
			       0, NULL, NULL, &e);
	if (!m)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "clEnqueueMapBuffer: %s",
				       ocl_strerror(e));
	*out_mapped = m;
	e = clEnqueueUnmapMemObject(d->queue, a.mem, m, 0, NULL, NULL);
	if (e == CL_SUCCESS)
		e = clFinish(d->queue);
	return e == CL_SUCCESS ? HAL_OK : hal_device_fail(&d->base, HAL_ERR_DEVICE, "unmap: %s",
							  ocl_strerror(e));
}

/* ---- fences ----------------------------------------------------------------------------- */

struct hal_opencl_event {
	struct ocl_dev *dev;
	cl_event event;
	uint64_t t0; /* when the op was enqueued: busy time is enqueue to completion */
};

enum hal_status hal_opencl_enqueue(struct hal_device *dev, const struct hal_op *op,
				   uint32_t n_wait, struct hal_opencl_event *const *wait,
				   struct hal_opencl_event **out_fence)
{
	struct ocl_dev *d = (struct ocl_dev *)dev;
	cl_event evs[HAL_OP_MAX_SRC * 2];
	char msg[sizeof(dev->error)];
	struct hal_opencl_event *f;
	enum hal_status st;

	if (!dev || dev->vt != &ocl_vtable || !out_fence)
		return HAL_ERR_INVALID;
	*out_fence = NULL;
	if ((st = hal_op_check(op, msg, sizeof(msg)))) {
		memcpy(dev->error, msg, sizeof(msg));
		return st;
	}
	if (n_wait > sizeof(evs) / sizeof(evs[0]))
		return hal_device_fail(&d->base, HAL_ERR_INVALID,
				       "%u fences to wait for (at most %zu)", n_wait,
				       sizeof(evs) / sizeof(evs[0]));
	for (uint32_t i = 0; i < n_wait; i++)
		evs[i] = wait[i]->event;
	f = calloc(1, sizeof(*f));
	if (!f)
		return hal_device_fail(&d->base, HAL_ERR_NOMEM, "out of memory for a fence");
	f->dev = d;
	f->t0 = hal_now_ns();
	st = ocl_enqueue_op(d, op, n_wait, n_wait ? evs : NULL, &f->event);
	if (st) {
		/* commands already enqueued for this op must not outlive their operands */
		clFinish(d->queue);
		free(f);
		return st;
	}
	d->base.stats.ops++;
	*out_fence = f;
	return HAL_OK;
}

/* An OpenCL runtime thread: the marker completed; make the waiter's eventfd readable. */
static void CL_CALLBACK marker_done(cl_event ev, cl_int status, void *user)
{
	const uint64_t one = 1;
	int fd = (int)(intptr_t)user;

	(void)ev;
	(void)status;
	/* cannot fail: the counter is far from overflow and the waiter keeps the fd open */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * Waits until every command enqueued so far (the op and, in copy mode, the downloads that
 * follow its event) has completed: a marker behind them whose completion callback writes an
 * eventfd, waited for on the process's completion ring (hal/completion.h). Where the runtime
 * gives no marker or callback, clFinish.
 */
static cl_int queue_drained(struct ocl_dev *d)
{
	cl_event marker = NULL;
	int efd = eventfd(0, EFD_CLOEXEC);
	cl_int e = efd < 0 ? CL_OUT_OF_HOST_MEMORY
			   : clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &marker);

	if (e == CL_SUCCESS)
		e = clSetEventCallback(marker, CL_COMPLETE, marker_done, (void *)(intptr_t)efd);
	if (e == CL_SUCCESS) {
		/*
		 * The callback will write efd once the marker completes, so efd stays open until
		 * it has: the marker reaches the device with the flush (or the finish).
		 */
		uint64_t n;

		if (clFlush(d->queue) != CL_SUCCESS)
			clFinish(d->queue);
		if (hal_completion_wait(efd, -1) != HAL_OK)
			e = clFinish(d->queue);
		/* readable: consume the count, which also orders the callback's write before close */
		while (read(efd, &n, sizeof(n)) < 0 && errno == EINTR)
			;
	} else {
		e = clFinish(d->queue);
	}
	if (marker)
		clReleaseEvent(marker);
	if (efd >= 0)
		close(efd);
	return e;
}

enum hal_status hal_opencl_event_wait(struct hal_opencl_event *f)
{
	cl_int e;

	if (!f)
		return HAL_ERR_INVALID;
	/* the whole queue rather than the event alone: copy-mode downloads follow the op's event */
	e = queue_drained(f->dev);
	if (e == CL_SUCCESS) {
		cl_int status = CL_COMPLETE;

		clGetEventInfo(f->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status),
			       &status, NULL);
		if (status < 0)
			e = status;
	}
	if (e != CL_SUCCESS)
		return hal_device_fail(&f->dev->base, HAL_ERR_DEVICE, "waiting for the op: %s",
				       ocl_strerror(e));
	f->dev->base.stats.busy_ns += hal_now_ns() - f->t0;
	return HAL_OK;
}

void hal_opencl_event_release(struct hal_opencl_event *f)
{
	if (!f)
		return;
	if (f->event)
		clReleaseEvent(f->event);
	free(f);
}

/* ---- registry entry --------------------------------------------------------------------- */

static enum hal_status backend_create(const struct hal_device_options *opts,
				      struct hal_device **out, char *err, size_t len)
{
	return hal_opencl_create(opts, NULL, out, err, len);
}

const struct hal_backend hal_backend_opencl = {
	.name = "gpu",
	.description = "OpenCL device (a GPU if present, else an accelerator or CPU device, "
		       "e.g. PoCL)",
	.cls = HAL_CLASS_GPU,
	.create = backend_create,
};
