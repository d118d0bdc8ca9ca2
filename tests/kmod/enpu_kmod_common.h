/* SPDX-License-Identifier: MIT */
/*
 * enpu_kmod_common.h - what the kernel test programs (enpu_kmod_test.c, the functional
 * suite, enpu_hostile.c, the hostile clients, and enpu_genl_test.c, the telemetry subscriber)
 * need alike: their --timeout-ms option, opening the device, contexts, BOs, command streams,
 * syncobj waits, sysfs attributes, the count of open files, and the load loop the first two
 * drive the device with.
 *
 * The load loop: a context of its own copies a 4 KiB pattern that names the loop and the job,
 * one job after another; each job must complete once, succeed and copy exactly its pattern.
 *
 * Static functions in a header: each program is one translation unit, built by
 * tests/kmod/run.sh.
 */
#ifndef ENPU_KMOD_COMMON_H
#define ENPU_KMOD_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/sync_file.h>

#include <xf86drm.h>

#include "uapi/drm/edge_npu_drm.h"
#include "uapi/edge_npu_isa.h"

static inline int enpu_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --timeout-ms N among the arguments (the module's job_timeout_ms, which bounds a hang), or def. */
static inline unsigned int arg_timeout_ms(int argc, char **argv, unsigned int def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--timeout-ms"))
			def = (unsigned int)atoi(argv[++i]);
	return def;
}

/* A sysfs attribute's value without its trailing newline or spaces; -errno if unreadable. */
static inline int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

/* A numeric sysfs attribute (decimal or 0x hex); -1 if unreadable or empty. */
static inline int64_t read_num(const char *path)
{
	char buf[64];

	if (read_str(path, buf, sizeof(buf)) || !buf[0])
		return -1;
	return strtoll(buf, NULL, 0);
}

/* Stores s in a sysfs attribute in one write(2), so that the store's refusal is its -errno. */
static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Files this process has open. */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* Opens the index-th edge_npu node among render and accel nodes; -1 if none. */
static inline int open_npu(int index)
{
	static const char *const dirs[] = { "/dev/accel", "/dev/dri" };
	int found = 0;

	for (size_t d = 0; d < 2; d++) {
		for (int minor = 0; minor < 256; minor++) {
			char path[64];
			int fd;

			if (d == 0)
				snprintf(path, sizeof(path), "%s/accel%d", dirs[d], minor);
			else
				snprintf(path, sizeof(path), "%s/renderD%d", dirs[d], 128 + minor);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				continue;
			drmVersionPtr v = drmGetVersion(fd);
			bool ours = v && !strcmp(v->name, "edge_npu");

			drmFreeVersion(v);
			if (ours && found++ == index)
				return fd;
			close(fd);
		}
	}
	return -1;
}

/* ---- kernel log ------------------------------------------------------------------------- */

/* /dev/kmsg read from its end on (-1 if it cannot be opened). */
static inline int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Counts records above info (level < 6) since kmsg_open_at_end(), printing them. */
static inline int kmsg_count_loud(int fd)
{
	char rec[1024];
	int n = 0;
	ssize_t len;

	while ((len = read(fd, rec, sizeof(rec) - 1)) > 0 || (len < 0 && errno == EPIPE)) {
		if (len <= 0)
			continue;
		rec[len] = 0;
		/* what a slow host makes an emulated CPU say about itself is not the driver's */
		if (strstr(rec, "hrtimer: interrupt took") || strstr(rec, "clocksource"))
			continue;
		if ((atoi(rec) & 7) < 6) {
			printf("  kernel: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
			n++;
		}
	}
	return n;
}

/* ---- BOs and syncobjs ------------------------------------------------------------------- */

/* A context of priority prio (DRM_EDGE_NPU_PRIORITY_*); 0 if refused. */
static inline uint32_t ctx_new(int fd, uint32_t prio)
{
	struct drm_edge_npu_ctx_create c = { .priority = prio };

	return enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &c) ? 0 : c.handle;
}

static inline int gem_close(int fd, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };

	return enpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* VM_BIND: op on [addr, addr + size) of context ctx; 0 or -errno. */
static inline int vm_bind(int fd, uint32_t ctx, uint32_t op, uint32_t bo, uint32_t flags,
			  uint64_t bo_offset, uint64_t addr, uint64_t size)
{
	struct drm_edge_npu_vm_bind b = { .ctx = ctx, .op = op, .handle = bo, .flags = flags,
					  .bo_offset = bo_offset, .addr = addr, .size = size };

	return enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &b);
}

static inline int vm_map(int fd, uint32_t ctx, uint32_t bo, uint32_t flags, uint64_t bo_offset,
			 uint64_t addr, uint64_t size)
{
	return vm_bind(fd, ctx, DRM_EDGE_NPU_VM_MAP, bo, flags, bo_offset, addr, size);
}

static inline int vm_unmap(int fd, uint32_t ctx, uint64_t addr, uint64_t size)
{
	return vm_bind(fd, ctx, DRM_EDGE_NPU_VM_UNMAP, 0, 0, 0, addr, size);
}

static inline uint32_t bo_new(int fd, uint64_t size)
{
	struct drm_edge_npu_bo_create c = { .size = size };

	return enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c) ? 0 : c.handle;
}

/* The BO mapped read-write, NULL on failure. */
static inline void *bo_map(int fd, uint32_t handle, size_t size)
{
	struct drm_edge_npu_bo_mmap_offset m = { .handle = handle };
	void *p;

	if (enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &m))
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)m.offset);
	return p == MAP_FAILED ? NULL : p;
}

/* Waits up to ms for the syncobj's fence: 0, or -errno (-ETIME: not signalled in time). */
static inline int sync_wait(int fd, uint32_t sync, uint64_t ms)
{
	struct timespec ts;
	int64_t deadline;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (int64_t)ms * 1000000;
	return drmSyncobjWait(fd, &sync, 1, deadline, 0, NULL) ? -errno : 0;
}

/* The status of a syncobj's fence: 1 signalled ok, <0 the fence error, 0 pending. */
static inline int sync_status(int fd, uint32_t sync)
{
	struct sync_file_info info;
	int sf, ret;

	memset(&info, 0, sizeof(info));
	if (drmSyncobjExportSyncFile(fd, sync, &sf))
		return -999;
	ret = ioctl(sf, SYNC_IOC_FILE_INFO, &info) ? -998 : info.status;
	close(sf);
	return ret;
}

/* ---- command streams -------------------------------------------------------------------- */

struct stream {
	uint8_t data[4096];
	uint32_t len, ncmds;
};

static inline void s_begin(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	s->len = sizeof(struct enpu_stream_header);
}

static inline void s_add(struct stream *s, void *cmd, uint32_t size, uint16_t op)
{
	struct enpu_cmd_header *h = cmd;

	h->opcode = op;
	h->size = size;
	memcpy(s->data + s->len, cmd, size);
	s->len += size;
	s->ncmds++;
}

static inline void s_finish(struct stream *s)
{
	struct enpu_stream_header h = {
		.magic = ENPU_STREAM_MAGIC, .version = ENPU_ISA_VERSION,
		.size = s->len, .num_cmds = s->ncmds,
	};

	memcpy(s->data, &h, sizeof(h));
}

/* ---- the load loop ---------------------------------------------------------------------- */

/**
 * struct copy_load - one load loop (copy_load_run()), its settings and its tally.
 * @th: the thread running it (for the caller's use).
 * @fd: the device file.
 * @prio: its context's priority (DRM_EDGE_NPU_PRIORITY_*).
 * @tag: names the loop in every pattern it copies.
 * @jobs: how many jobs, or 0: until *@stop.
 * @stop: set to end a loop of 0 @jobs.
 * @ok: jobs that completed, succeeded and copied their pattern.
 * @failed: jobs refused or failed (a loop that could not start counts all its jobs, or one).
 * @lost: jobs not completed within 30 s.
 * @wrong: jobs that succeeded with another output.
 */
struct copy_load {
	pthread_t th;
	int fd;
	uint32_t prio, tag, jobs;
	volatile bool *stop;
	uint32_t ok, failed, lost, wrong;
};

/* One job of the loop: its fence and the patterns in and out. */
static inline void copy_load_job(struct copy_load *l, struct drm_edge_npu_submit *a,
				 uint32_t sync, uint32_t k, uint32_t *in, const uint32_t *out)
{
	const uint32_t mark = l->tag << 20 | (k & 0xfffff);
	bool same = true;

	for (int w = 0; w < 1024; w++)
		in[w] = mark ^ (uint32_t)w;
	drmSyncobjReset(l->fd, &sync, 1);
	if (enpu_ioctl(l->fd, DRM_IOCTL_EDGE_NPU_SUBMIT, a)) {
		l->failed++;
		return;
	}
	if (sync_wait(l->fd, sync, 30000)) {
		l->lost++;
		return;
	}
	if (sync_status(l->fd, sync) != 1) {
		l->failed++;
		return;
	}
	for (int w = 0; w < 1024; w++)
		same &= out[w] == (mark ^ (uint32_t)w);
	if (same)
		l->ok++;
	else
		l->wrong++;
}

/* The loop (a pthread start routine); frees its context, BOs and syncobj when it ends. */
static inline void *copy_load_run(void *arg)
{
	struct copy_load *l = arg;
	struct drm_edge_npu_ctx_create c = { .priority = l->prio };
	struct drm_edge_npu_bo_ref refs[2] = {
		{ .handle = bo_new(l->fd, 4096), .flags = DRM_EDGE_NPU_BO_READ },
		{ .handle = bo_new(l->fd, 4096), .flags = DRM_EDGE_NPU_BO_WRITE },
	};
	struct enpu_cmd_copy copy = { .src = { .buffer = 0, .stride = 4096 },
				      .dst = { .buffer = 1, .stride = 4096 },
				      .rows = 1, .row_bytes = 4096 };
	uint32_t cmd = bo_new(l->fd, 4096), sync = 0;
	uint32_t *in = NULL, *out = NULL;
	struct drm_gem_close gc = { 0 };
	struct stream s;
	void *p;

	s_begin(&s);
	s_add(&s, &copy, sizeof(copy), ENPU_OP_COPY);
	s_finish(&s);
	if (!enpu_ioctl(l->fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &c) && cmd && refs[0].handle &&
	    refs[1].handle && !drmSyncobjCreate(l->fd, 0, &sync) && (p = bo_map(l->fd, cmd, 4096))) {
		memcpy(p, s.data, s.len);
		munmap(p, 4096);
		in = bo_map(l->fd, refs[0].handle, 4096);
		out = bo_map(l->fd, refs[1].handle, 4096);
	}
	if (!in || !out) {
		l->failed += l->jobs ? l->jobs : 1;
	} else {
		struct drm_edge_npu_submit a = {
			.ctx = c.handle, .cmd_bo = cmd, .cmd_size = s.len, .num_bos = 2,
			.bos = (uintptr_t)refs, .bo_ref_size = sizeof(refs[0]), .out_sync = sync,
		};

		for (uint32_t k = 0; l->jobs ? k < l->jobs : !*l->stop; k++)
			copy_load_job(l, &a, sync, k, in, out);
	}
	if (in)
		munmap(in, 4096);
	if (out)
		munmap(out, 4096);
	if (sync)
		drmSyncobjDestroy(l->fd, sync);
	if (c.handle) {
		struct drm_edge_npu_ctx_destroy d = { .handle = c.handle };

		enpu_ioctl(l->fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &d);
	}
	for (int i = 0; i < 3; i++) {
		gc.handle = i < 2 ? refs[i].handle : cmd;
		if (gc.handle)
			enpu_ioctl(l->fd, DRM_IOCTL_GEM_CLOSE, &gc);
	}
	return NULL;
}

#endif /* ENPU_KMOD_COMMON_H */
