/* SPDX-License-Identifier: MIT */
/* npu_latency.c - submit-to-complete of an empty NPU job (see npu_latency.h). */
#include "bench/npu_latency.h"

#include "hal/completion.h"
#include "hal/npu/npu_sim.h"
#include "hal/npu_drm/npu_drm.h"
#include "uapi/drm/edge_npu_drm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>

/* A stream of no command: all a job costs is the way to the device and back. */
static const struct enpu_stream_header empty = {
	.magic = ENPU_STREAM_MAGIC, .version = ENPU_ISA_VERSION,
	.size = sizeof(struct enpu_stream_header), .num_cmds = 0,
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts the samples and prints median and p99 in microseconds. */
static void report(const char *what, uint64_t *ns, uint32_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("%-34s median %8.2f us   p99 %8.2f us   (%u jobs)\n", what, ns[n / 2] / 1e3,
	       ns[n * 99 / 100] / 1e3, n);
}

/* The engine called directly on the stream: the floor any device path adds to. */
static void engine_call(uint64_t *ns, uint32_t reps)
{
	struct npu_engine *e = calloc(1, sizeof(*e));
	struct npu_status st;

	npu_engine_init(e, NULL, 0);
	for (uint32_t i = 0; i < reps; i++) {
		uint64_t t0 = hal_now_ns();

		npu_engine_run(e, &empty, sizeof(empty), NULL, 0, NULL, &st);
		ns[i] = hal_now_ns() - t0;
	}
	free(e);
}

static int in_process(uint64_t *ns, uint32_t reps)
{
	struct hal_device *dev;
	char err[256];

	if (npu_sim_create(NULL, &dev, err, sizeof(err)) != HAL_OK) {
		fprintf(stderr, "npu-bench npu: %s\n", err);
		return 1;
	}
	for (uint32_t i = 0; i < reps; i++) {
		uint64_t t0 = hal_now_ns();
		struct npu_fence *f;

		if (npu_sim_submit(dev, &empty, sizeof(empty), NULL, 0, &f) != HAL_OK)
			return 1;
		npu_fence_wait(f, -1);
		ns[i] = hal_now_ns() - t0;
		npu_fence_put(f);
	}
	hal_device_destroy(dev);
	return 0;
}

/* A context, a BO holding the stream and a syncobj on the first edge_npu node. */
struct drm_job {
	int fd;
	uint32_t ctx, bo, sync;
};

static int drm_job_open(struct drm_job *j)
{
	struct drm_edge_npu_bo_create bc = { .size = 4096 };
	struct drm_edge_npu_bo_mmap_offset mo = { 0 };
	struct drm_edge_npu_ctx_create cc = { .priority = DRM_EDGE_NPU_PRIORITY_NORMAL };
	char path[64];
	void *p;

	j->fd = npu_drm_open_node(0, path, sizeof(path));
	if (j->fd < 0)
		return j->fd;
	if (drmIoctl(j->fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc) ||
	    drmIoctl(j->fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc) ||
	    drmSyncobjCreate(j->fd, 0, &j->sync))
		return -errno;
	j->bo = bc.handle;
	j->ctx = cc.handle;
	mo.handle = j->bo;
	if (drmIoctl(j->fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo))
		return -errno;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, (off_t)mo.offset);
	if (p == MAP_FAILED)
		return -errno;
	memcpy(p, &empty, sizeof(empty));
	munmap(p, 4096);
	return 0;
}

static int through_kernel(uint64_t *ns, uint32_t reps)
{
	uint64_t *ioctl_ns = calloc(reps, sizeof(*ioctl_ns));
	struct drm_job j;
	int ret = drm_job_open(&j);

	if (ret) {
		fprintf(stderr, "npu-bench npu: no edge_npu device: %s\n", strerror(-ret));
		free(ioctl_ns);
		return 1;
	}
	for (uint32_t i = 0; i < reps; i++) {
		struct drm_edge_npu_submit s = {
			.ctx = j.ctx, .cmd_bo = j.bo, .cmd_size = sizeof(empty),
			.out_sync = j.sync,
		};
		uint64_t t0 = hal_now_ns();

		ret = drmIoctl(j.fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &s);
		ioctl_ns[i] = hal_now_ns() - t0;
		if (ret || npu_drm_wait_syncobj(j.fd, j.sync, -1)) {
			ret = -1; /* no figures from a run cut short */
			fprintf(stderr, "npu-bench npu: job %u: %s\n", i, strerror(errno));
			break;
		}
		ns[i] = hal_now_ns() - t0;
	}
	close(j.fd);
	if (!ret)
		report("npu-drm: of which the SUBMIT ioctl", ioctl_ns, reps);
	free(ioctl_ns);
	return ret ? 1 : 0;
}

int bench_npu_latency(const char *device, uint32_t reps)
{
	uint64_t *ns = calloc(reps, sizeof(*ns));
	bool drm = device && !strcmp(device, "npu-drm");
	int ret;

	if (!ns)
		return 1;
	engine_call(ns, reps);
	report("engine call (no device path)", ns, reps);
	/* the ring lives while a device holds it: started here, so the method is this run's */
	hal_completion_get();
	printf("device completions waited for with: %s\n", hal_completion_method());
	ret = drm ? through_kernel(ns, reps) : in_process(ns, reps);
	hal_completion_put();
	if (!ret)
		report(drm ? "npu-drm: submit to complete" : "npu: submit to complete", ns, reps);
	free(ns);
	return ret;
}
