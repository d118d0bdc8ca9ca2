// SPDX-License-Identifier: MIT
/*
 * enpu_hostile.c - hostile clients and faults against edge_npu.ko, inside the QEMU VM
 * (tests/kmod/init.sh runs it after enpu_kmod_test, when no other client has the device open).
 * Static binary, run as root (module parameters, devfreq knobs, debugfs).
 *
 * Every check is a case; each group prints "ok"/"FAIL" with its case count, and the last line
 * is "enpu_hostile: N cases, P passed, F failed". Groups:
 *   sizes      each driver ioctl with a size field of 0, 1, 4, 8, one short, exact, 8 long, 256,
 *              4096 and 16383 bytes in each of the four directions: the result is that of the
 *              struct cut to what was copied in and zero-extended, and the bytes past the
 *              struct come back as written, or as zeros (no kernel memory leaks out)
 *   pointers   argument and embedded pointers (SUBMIT's bos and in_syncs) NULL, 1, a kernel
 *              address, a PROT_NONE page, straddling into one, read-only for the ioctls that
 *              write back: -EFAULT, and no job or context is left behind
 *   flags      every undefined bit of every flags field, every byte of every reserved field,
 *              every bad priority: -EINVAL
 *   handles    0, unknown, UINT32_MAX, closed, destroyed and another file's handles in every
 *              handle field: -ENOENT (GEM_CLOSE: -EINVAL)
 *   bounds     stream offsets and sizes at and past every bound, counts past their limits,
 *              BO sizes, mmap past a BO, BO_WAIT deadlines in the past, hostile stream headers
 *              (a zero-sized command, counts that lie): refused, nothing runs
 *   params     every GET_PARAM number 0..63 and far ones, every index
 *   prime      imports of what is not a dma-buf (-1, a pipe, a file, the device, a syncobj and
 *              a sync_file fd), bad export flags and handles, re-imports, dma-bufs that outlive
 *              their exporter's handle and file; a dma-buf of another driver (the system
 *              dma-heap, where the kernel has one) is refused with -EOPNOTSUPP
 *   isolation  another process's handles, contexts, syncobjs and mmap offsets are refused; a
 *              dma-buf passed over a socket is the one way to share, and it works
 *   exhaustion one client at each per-file limit (contexts, BOs, BO bytes, jobs in flight):
 *              -ENOSPC, while another client works; the slots come back when freed
 *   keep race  threads over two files for 3 s: BOs created, windows mapped and unmapped, handles
 *              closed while mapped, exported and imported into the other file, dma-bufs
 *              closed, contexts destroyed with mappings live, the second file replaced; small
 *              limits: only 0, -ENOSPC, -ENOENT, -EEXIST, -EINVAL; emptied, each file and a new
 *              one fill their limits exactly, the live objects settle, the kernel log is quiet
 *   kill       clients SIGKILLed with hung and queued jobs, in a submit storm, blocked in
 *              BO_WAIT; a file closed by one thread while another waits on it; BOs closed,
 *              unmapped and contexts destroyed under queued jobs; a CPU mapping that outlives
 *              its handle and file (and cannot grow): other clients unaffected, the driver's
 *              live objects back to where they were
 *   faults     hung jobs of three clients at once (each ends -ETIMEDOUT, every other job
 *              completes with its data), devfreq governor, polling interval and bounds changed
 *              (and crossed) under load (no job lost, failed or wrong; the kernel under test
 *              has simple_ondemand only), 4 processes x 3 threads x 150 jobs (0 lost; every
 *              process's fd count flat; the live objects back to zero)
 *   live       at the end, debugfs "live" of every device: 0 files, contexts, jobs and BOs
 *
 * Usage: enpu_hostile [--timeout-ms N]   (the module's job_timeout_ms)
 */
#define _GNU_SOURCE /* mremap */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-heap.h>
#include <xf86drm.h>

#include "uapi/drm/edge_npu_drm.h"
#include "uapi/edge_npu_isa.h"
#include "tests/kmod/enpu_kmod_common.h"

static int n_pass, n_fail;
static unsigned int timeout_ms = 300;
static long page;

#define CASE(cond, ...)                                                           \
	do {                                                                      \
		if (cond) {                                                       \
			n_pass++;                                                 \
		} else {                                                          \
			n_fail++;                                                 \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);    \
			printf(__VA_ARGS__);                                      \
			printf("\n");                                             \
		}                                                                 \
	} while (0)

#define CASE_ERRNO(expr, want, ...)                                                     \
	do {                                                                            \
		int got_ = (expr);                                                      \
		CASE(got_ == (want), "got %d (%s), want %d: ", got_, strerror(-got_),    \
		     (want));                                                           \
		if (got_ != (want)) {                                                   \
			printf("  ");                                                   \
			printf(__VA_ARGS__);                                            \
			printf("\n");                                                   \
		}                                                                       \
	} while (0)

/* ---- the device and small wrappers ----------------------------------------------------------- */

static uint64_t bo_offset(int fd, uint32_t handle)
{
	struct drm_edge_npu_bo_mmap_offset m = { .handle = handle };

	return enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &m) ? 0 : m.offset;
}

static int ctx_destroy(int fd, uint32_t handle)
{
	struct drm_edge_npu_ctx_destroy d = { .handle = handle };

	return enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &d);
}

static uint32_t syncobj_new(int fd)
{
	uint32_t h = 0;

	return drmSyncobjCreate(fd, 0, &h) ? 0 : h;
}

/* ---- streams and jobs ------------------------------------------------------------------------ */

static void s_copy(struct stream *s, uint32_t bytes)
{
	struct enpu_cmd_copy c = { .src = { .buffer = 0, .stride = bytes },
				   .dst = { .buffer = 1, .stride = bytes },
				   .rows = 1, .row_bytes = bytes };

	s_add(s, &c, sizeof(c), ENPU_OP_COPY);
}

/* A 4 KiB copy from buffer 0 to buffer 1; hang: a stall after it (debug_stall=1). */
static void s_job(struct stream *s, bool hang)
{
	s_begin(s);
	s_copy(s, 4096);
	if (hang) {
		struct enpu_cmd_debug_stall c = { .cycles = 1000 };

		s_add(s, &c, sizeof(c), ENPU_OP_DEBUG_STALL);
	}
	s_finish(s);
}

/* A client's job: a context, a stream BO, a source and a destination BO (4 KiB each). */
struct job {
	int fd;
	uint32_t ctx, cmd, src, dst, sync;
	struct drm_edge_npu_bo_ref refs[2];
};

static bool job_init(struct job *j, int fd)
{
	memset(j, 0, sizeof(*j));
	j->fd = fd;
	j->ctx = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	j->cmd = bo_new(fd, 4096);
	j->src = bo_new(fd, 4096);
	j->dst = bo_new(fd, 4096);
	j->sync = syncobj_new(fd);
	j->refs[0] = (struct drm_edge_npu_bo_ref){ .handle = j->src, .flags = DRM_EDGE_NPU_BO_READ };
	j->refs[1] = (struct drm_edge_npu_bo_ref){ .handle = j->dst, .flags = DRM_EDGE_NPU_BO_WRITE };
	return j->ctx && j->cmd && j->src && j->dst && j->sync;
}

static void job_fini(struct job *j)
{
	drmSyncobjDestroy(j->fd, j->sync);
	gem_close(j->fd, j->cmd);
	gem_close(j->fd, j->src);
	gem_close(j->fd, j->dst);
	ctx_destroy(j->fd, j->ctx);
}

/* The SUBMIT arguments of j running s (its fence into j->sync), with s written to j->cmd. */
static struct drm_edge_npu_submit job_args(struct job *j, const struct stream *s)
{
	void *p = bo_map(j->fd, j->cmd, 4096);

	if (p) {
		memcpy(p, s->data, s->len);
		munmap(p, 4096);
	}
	return (struct drm_edge_npu_submit){
		.ctx = j->ctx, .cmd_bo = j->cmd, .cmd_size = s->len, .num_bos = 2,
		.bos = (uintptr_t)j->refs, .bo_ref_size = sizeof(j->refs[0]), .out_sync = j->sync,
	};
}

static int job_submit(struct job *j, const struct stream *s)
{
	struct drm_edge_npu_submit a = job_args(j, s);

	return enpu_ioctl(j->fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a);
}

/* ---- what the driver holds ------------------------------------------------------------------- */

struct live {
	long files, ctxs, jobs, bos;
	int dirs; /* debugfs directories with a "live" file */
};

/* Adds the counters of dir/live to l when dir also has the driver's "engines" file. */
static void add_live(const char *dir, struct live *l)
{
	char path[600], key[16];
	long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/engines", dir);
	if (access(path, R_OK))
		return;
	snprintf(path, sizeof(path), "%s/live", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	l->dirs++;
	while (fscanf(f, "%15s %ld", key, &v) == 2) {
		if (!strcmp(key, "files"))
			l->files += v;
		else if (!strcmp(key, "ctxs"))
			l->ctxs += v;
		else if (!strcmp(key, "jobs"))
			l->jobs += v;
		else if (!strcmp(key, "bos"))
			l->bos += v;
	}
	fclose(f);
}

/*
 * The debugfs "live" counters, summed over every directory the driver put them in: one per
 * DRM minor under dri/ on 6.1 (render and primary), the accel device's under accel/ on 6.12
 * (or wherever the kernel puts it: debugfs itself, or two levels below it).
 */
static struct live read_live(void)
{
	const char *root = "/sys/kernel/debug";
	struct live l = { 0 };
	DIR *d = opendir(root);
	struct dirent *e;

	add_live(root, &l);
	while (d && (e = readdir(d))) {
		char sub[300];
		DIR *d2;
		struct dirent *e2;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", root, e->d_name);
		add_live(sub, &l);
		if (strcmp(e->d_name, "dri") && strcmp(e->d_name, "accel"))
			continue;
		d2 = opendir(sub);
		while (d2 && (e2 = readdir(d2))) {
			char leaf[600];

			if (e2->d_name[0] == '.')
				continue;
			snprintf(leaf, sizeof(leaf), "%s/%s", sub, e2->d_name);
			add_live(leaf, &l);
		}
		if (d2)
			closedir(d2);
	}
	if (d)
		closedir(d);
	return l;
}

static bool live_eq(struct live a, struct live b)
{
	return a.files == b.files && a.ctxs == b.ctxs && a.jobs == b.jobs && a.bos == b.bos;
}

/* Polls until the counters are want again: jobs end at their timeout, then are freed. */
static struct live live_settle(struct live want)
{
	uint64_t t0 = now_ms();
	struct live l;

	while (!live_eq(l = read_live(), want) && now_ms() - t0 < 4 * timeout_ms + 5000)
		usleep(20 * 1000);
	return l;
}

/*
 * A scenario's baseline: the counters once no job is live and two reads 50 ms apart agree.
 * The scenario before may have closed files whose finished jobs the scheduler has yet to
 * free, and whose contexts and BOs go with them (a baseline read then counts them live).
 */
static struct live live_quiet(void)
{
	const uint64_t t0 = now_ms();
	struct live l = read_live(), m;

	for (;;) {
		usleep(50 * 1000);
		m = read_live();
		if ((live_eq(l, m) && !m.jobs) || now_ms() - t0 >= 4 * timeout_ms + 5000)
			return m;
		l = m;
	}
}

#define CASE_LIVE(got, want, what)                                                        \
	CASE(live_eq(got, want),                                                          \
	     "%s: files/ctxs/jobs/bos %ld/%ld/%ld/%ld, want %ld/%ld/%ld/%ld", what,       \
	     (got).files, (got).ctxs, (got).jobs, (got).bos, (want).files, (want).ctxs,   \
	     (want).jobs, (want).bos)

#define PARAM(name) "/sys/module/edge_npu/parameters/" name
#define DEVFREQ0 "/sys/class/devfreq/edge-npu.0/"

/* ---- sizes ----------------------------------------------------------------------------------- */

struct ioc {
	const char *name;
	unsigned long cmd; /* the driver's own */
	void (*fill)(uint8_t *buf, int fd);
};

static uint32_t g_bo, g_ctx;  /* an idle BO and a context of the size/pointer tests' fd */
static struct job g_job;      /* a job of that fd */
static struct stream g_copy;  /* its stream */

static void fill_get_param(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_get_param *)b = (struct drm_edge_npu_get_param){
		.param = DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ, .index = 2 };
}

static void fill_bo_create(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_bo_create *)b = (struct drm_edge_npu_bo_create){
		.size = 4096, .flags = 1, .reserved = 1 };
}

static void fill_mmap_offset(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_bo_mmap_offset *)b = (struct drm_edge_npu_bo_mmap_offset){
		.handle = g_bo, .reserved = 1 };
}

static void fill_bo_wait(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_bo_wait *)b = (struct drm_edge_npu_bo_wait){
		.handle = g_bo, .flags = 2 };
}

static void fill_ctx_create(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_ctx_create *)b = (struct drm_edge_npu_ctx_create){
		.priority = DRM_EDGE_NPU_PRIORITY_LOW, .flags = 1, .reserved = 1 };
}

static void fill_ctx_destroy(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_ctx_destroy *)b = (struct drm_edge_npu_ctx_destroy){
		.handle = 0xbad, .reserved = 1 };
}

static void fill_ctx_query(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_ctx_query *)b = (struct drm_edge_npu_ctx_query){
		.handle = g_ctx, .reserved2 = 1 };
}

static void fill_vm_bind(uint8_t *b, int fd)
{
	(void)fd;
	*(struct drm_edge_npu_vm_bind *)b = (struct drm_edge_npu_vm_bind){
		.ctx = g_ctx, .op = DRM_EDGE_NPU_VM_UNMAP, .addr = DRM_EDGE_NPU_VA_USER_START,
		.size = 4096, .reserved = 1 };
}

static void fill_submit(uint8_t *b, int fd)
{
	struct drm_edge_npu_submit a = job_args(&g_job, &g_copy);

	(void)fd;
	a.out_sync = 0;
	a.reserved = 1;
	*(struct drm_edge_npu_submit *)b = a;
}

static const struct ioc iocs[] = {
	{ "GET_PARAM", DRM_IOCTL_EDGE_NPU_GET_PARAM, fill_get_param },
	{ "BO_CREATE", DRM_IOCTL_EDGE_NPU_BO_CREATE, fill_bo_create },
	{ "BO_MMAP_OFFSET", DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, fill_mmap_offset },
	{ "BO_WAIT", DRM_IOCTL_EDGE_NPU_BO_WAIT, fill_bo_wait },
	{ "CTX_CREATE", DRM_IOCTL_EDGE_NPU_CTX_CREATE, fill_ctx_create },
	{ "CTX_DESTROY", DRM_IOCTL_EDGE_NPU_CTX_DESTROY, fill_ctx_destroy },
	{ "CTX_QUERY", DRM_IOCTL_EDGE_NPU_CTX_QUERY, fill_ctx_query },
	{ "SUBMIT", DRM_IOCTL_EDGE_NPU_SUBMIT, fill_submit },
	{ "VM_BIND", DRM_IOCTL_EDGE_NPU_VM_BIND, fill_vm_bind },
};
#define N_IOCS (sizeof(iocs) / sizeof(iocs[0]))

#define BIG 16383 /* the largest _IOC_SIZE */

/*
 * One ioctl with the size field and direction bits of a caller that knows another version of
 * the struct: the DRM core copies in what the caller's size and the driver's direction allow,
 * zero-extends it, and copies back what both allow. The result must be the driver's answer to
 * exactly that zero-extended struct, and no byte past the struct may carry kernel memory.
 */
static void size_case(int fd, const struct ioc *c, unsigned int dir, unsigned int size)
{
	static uint8_t user[BIG + 64], ref[BIG + 64];
	const unsigned int ksize = _IOC_SIZE(c->cmd), kdir = _IOC_DIR(c->cmd);
	const unsigned int in = (dir & kdir & _IOC_WRITE) ? size : 0;
	const bool out = dir & kdir & _IOC_READ;
	unsigned long cmd = _IOC(dir, _IOC_TYPE(c->cmd), _IOC_NR(c->cmd), size);
	int got, want;

	static uint8_t before[BIG + 64];

	memset(user, 0xa5, sizeof(user));
	c->fill(user, fd);
	memcpy(before, user, sizeof(user));
	/* the reference: the driver's own command on the zero-extended prefix */
	memset(ref, 0, sizeof(ref));
	memcpy(ref, user, in < ksize ? in : ksize);
	got = enpu_ioctl(fd, cmd, user);
	want = enpu_ioctl(fd, c->cmd, ref);
	CASE(got == want, "%s dir %u size %u: got %d (%s), the zero-extended struct gives %d",
	     c->name, dir, size, got, strerror(-got), want);
	if (out && size > ksize) {
		/* past the struct: the caller's bytes if they were copied in, else zeros */
		const uint8_t expect = in ? 0xa5 : 0;
		unsigned int bad = 0;

		for (unsigned int i = ksize; i < size; i++)
			bad += user[i] != expect;
		CASE(!bad, "%s dir %u size %u: %u bytes past the struct changed", c->name, dir,
		     size, bad);
	}
	/* nothing past the caller's size is touched */
	CASE(!memcmp(user + size, before + size, sizeof(user) - size),
	     "%s dir %u size %u: memory past the size written", c->name, dir, size);
}

static void test_sizes(int fd)
{
	for (size_t i = 0; i < N_IOCS; i++) {
		const unsigned int ks = _IOC_SIZE(iocs[i].cmd);
		const unsigned int sizes[] = { 0, 1, 4, 8, ks - 1, ks, ks + 8, 256, 4096, BIG };

		for (unsigned int dir = 0; dir < 4; dir++)
			for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
				size_case(fd, &iocs[i], dir, sizes[s]);
	}
	/* the jobs SUBMIT's truncated cases queued finish */
	CASE_ERRNO(({
			   struct drm_edge_npu_bo_wait w = { .handle = g_job.dst,
							     .timeout_ns = INT64_MAX };
			   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &w);
		   }),
		   0, "jobs of the size cases");
}

/* ---- pointers -------------------------------------------------------------------------------- */

static uint8_t *g_guard; /* two pages: read-write, then PROT_NONE */
static uint8_t *g_ro;    /* one read-only page */

static void test_pointers(int fd)
{
	const struct live before = live_quiet();
	uint8_t *kernel = (uint8_t *)0xffffffff81000000ull;

	for (size_t i = 0; i < N_IOCS; i++) {
		const struct ioc *c = &iocs[i];
		const unsigned int ks = _IOC_SIZE(c->cmd);
		uint8_t *straddle = g_guard + page - ks / 2;
		void *bad[] = { NULL, (void *)1, kernel, g_guard + page, straddle };

		uint8_t whole[256];

		/* the first half, readable, is a valid struct's */
		c->fill(whole, fd);
		memcpy(straddle, whole, ks / 2);
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
			CASE_ERRNO(enpu_ioctl(fd, c->cmd, bad[b]), -EFAULT, "%s arg %zu", c->name, b);
	}
	/* read-only memory: read in fine, the write back fails (the ioctls that write back) */
	{
		struct drm_edge_npu_get_param p = { .param = DRM_EDGE_NPU_PARAM_ISA_VERSION };
		struct drm_edge_npu_ctx_query q = { .handle = g_ctx };

		mprotect(g_ro, page, PROT_READ | PROT_WRITE);
		memcpy(g_ro, &p, sizeof(p));
		mprotect(g_ro, page, PROT_READ);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, g_ro), -EFAULT, "GET_PARAM ro");
		mprotect(g_ro, page, PROT_READ | PROT_WRITE);
		memcpy(g_ro, &q, sizeof(q));
		mprotect(g_ro, page, PROT_READ);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, g_ro), -EFAULT, "CTX_QUERY ro");
	}
	/* SUBMIT's embedded pointers */
	{
		struct drm_edge_npu_submit base = job_args(&g_job, &g_copy), a;
		struct drm_edge_npu_bo_ref *edge = (void *)(g_guard + page - sizeof(g_job.refs[0]));
		uint32_t *sync_edge = (void *)(g_guard + page - 4);
		void *bad[] = { NULL, (void *)1, kernel, g_guard + page };

		base.out_sync = 0;
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			a = base;
			a.bos = (uintptr_t)bad[b];
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EFAULT, "bos %zu", b);
			a = base;
			a.num_in_syncs = 1;
			a.in_syncs = (uintptr_t)bad[b];
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EFAULT, "in_syncs %zu",
				   b);
		}
		/* the first element readable, the second in the guard page */
		*edge = g_job.refs[0];
		a = base;
		a.bos = (uintptr_t)edge;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EFAULT, "bos straddling");
		a.bo_ref_size = 4096; /* one long element running into the guard page */
		a.num_bos = 1;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EFAULT, "long bo_ref");
		*sync_edge = g_job.sync;
		a = base;
		a.num_in_syncs = 2;
		a.in_syncs = (uintptr_t)sync_edge;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EFAULT, "syncs straddling");
	}
	CASE_LIVE(read_live(), before, "after the bad pointers");
}

/* ---- flags and reserved fields --------------------------------------------------------------- */

static void test_flags(int fd)
{
	const struct live before = live_quiet();

	for (int bit = 0; bit < 32; bit++) {
		struct drm_edge_npu_bo_create bc = { .size = 4096, .flags = 1u << bit };
		struct drm_edge_npu_ctx_create cc = { .flags = 1u << bit };
		struct drm_edge_npu_bo_wait bw = { .handle = g_bo, .flags = 1u << bit };
		struct drm_edge_npu_submit sa = job_args(&g_job, &g_copy);
		struct drm_edge_npu_bo_ref refs[2] = { g_job.refs[0], g_job.refs[1] };

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL, "bo flag %d",
			   bit);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL, "ctx flag %d",
			   bit);
		if (bw.flags != DRM_EDGE_NPU_BO_WAIT_READ_ONLY)
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &bw), -EINVAL,
				   "wait flag %d", bit);
		sa.out_sync = 0;
		sa.flags = 1u << bit;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), -EINVAL, "submit flag %d",
			   bit);
		if (bit >= 2) {
			sa.flags = 0;
			refs[1].flags |= 1u << bit;
			sa.bos = (uintptr_t)refs;
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), -EINVAL,
				   "bo_ref flag %d", bit);
		}
	}
	/* VM_BIND: undefined access bits and ops */
	for (int bit = 2; bit < 32; bit++) {
		struct drm_edge_npu_vm_bind vb = { .ctx = g_ctx, .op = DRM_EDGE_NPU_VM_MAP,
						   .handle = g_bo,
						   .flags = DRM_EDGE_NPU_BO_READ | 1u << bit,
						   .addr = DRM_EDGE_NPU_VA_USER_START, .size = 4096 };

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &vb), -EINVAL, "vm_bind flag %d",
			   bit);
	}
	{
		const uint32_t ops[] = { 2, 3, 255, UINT32_MAX };

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			struct drm_edge_npu_vm_bind vb = { .ctx = g_ctx, .op = ops[i],
							   .addr = DRM_EDGE_NPU_VA_USER_START,
							   .size = 4096 };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &vb), -EINVAL,
				   "vm_bind op %u", ops[i]);
		}
	}
	/* every byte of every reserved field */
	for (int byte = 0; byte < 8; byte++) {
		struct drm_edge_npu_bo_create bc = { .size = 4096 };
		struct drm_edge_npu_submit sa = job_args(&g_job, &g_copy);

		((uint8_t *)&bc.reserved)[byte] = 0x40;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL, "bo reserved %d",
			   byte);
		sa.out_sync = 0;
		((uint8_t *)&sa.reserved)[byte] = 1;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), -EINVAL,
			   "submit reserved %d", byte);
		/* the tail of a longer (future) bo_ref */
		uint8_t big[2][16] = { { 0 } };

		memcpy(big[0], &g_job.refs[0], 8);
		memcpy(big[1], &g_job.refs[1], 8);
		big[1][8 + byte] = 1;
		sa.reserved = 0;
		sa.bos = (uintptr_t)big;
		sa.bo_ref_size = 16;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), -EINVAL, "bo_ref tail %d",
			   byte);
	}
	for (int byte = 0; byte < 4; byte++) {
		struct drm_edge_npu_bo_mmap_offset mo = { .handle = g_bo };
		struct drm_edge_npu_ctx_create cc = { .priority = 1 };
		struct drm_edge_npu_ctx_destroy cd = { .handle = g_ctx };
		struct drm_edge_npu_ctx_query q0 = { .handle = g_ctx }, q1 = q0;
		struct drm_edge_npu_vm_bind vb = { .ctx = g_ctx, .op = DRM_EDGE_NPU_VM_MAP,
						   .handle = g_bo, .flags = DRM_EDGE_NPU_BO_READ,
						   .addr = DRM_EDGE_NPU_VA_USER_START, .size = 4096 };

		((uint8_t *)&mo.reserved)[byte] = 2;
		((uint8_t *)&cc.reserved)[byte] = 2;
		((uint8_t *)&cd.reserved)[byte] = 2;
		((uint8_t *)&q0.reserved)[byte] = 2;
		((uint8_t *)&q1.reserved2)[byte] = 2;
		((uint8_t *)&vb.reserved)[byte] = 2;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -EINVAL,
			   "mmap reserved %d", byte);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL,
			   "ctx reserved %d", byte);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -EINVAL,
			   "destroy reserved %d", byte);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q0), -EINVAL,
			   "query reserved %d", byte);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q1), -EINVAL,
			   "query reserved2 %d", byte);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &vb), -EINVAL,
			   "vm_bind reserved %d", byte);
	}
	{
		const uint32_t prios[] = { 3, 4, 255, 0x80000000u, UINT32_MAX };

		for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
			struct drm_edge_npu_ctx_create cc = { .priority = prios[i] };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL,
				   "priority %u", prios[i]);
		}
	}
	/* a BO with no access at all */
	{
		struct drm_edge_npu_submit sa = job_args(&g_job, &g_copy);
		struct drm_edge_npu_bo_ref refs[2] = { g_job.refs[0], { .handle = g_job.dst, .flags = 0 } };

		sa.out_sync = 0;
		sa.bos = (uintptr_t)refs;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), -EINVAL, "no access");
	}
	CASE_LIVE(read_live(), before, "after the bad flags");
}

/* ---- handles --------------------------------------------------------------------------------- */

#define H_BO 1
#define H_CTX 2
#define H_SYNC 4

/*
 * Every handle field of the kinds asked for given h: -ENOENT (GEM_CLOSE: -EINVAL). A handle
 * unknown as one kind may name an object of another kind, hence the kinds.
 */
static void handle_cases(int fd, uint32_t h, unsigned int kinds, const char *what)
{
	struct drm_edge_npu_bo_mmap_offset mo = { .handle = h };
	struct drm_edge_npu_bo_wait bw = { .handle = h };
	struct drm_edge_npu_ctx_destroy cd = { .handle = h };
	struct drm_edge_npu_ctx_query q = { .handle = h };
	struct drm_edge_npu_submit base = job_args(&g_job, &g_copy), a;
	struct drm_edge_npu_bo_ref refs[2] = { g_job.refs[0],
					       { .handle = h, .flags = DRM_EDGE_NPU_BO_WRITE } };
	struct drm_gem_close gc = { .handle = h };
	struct drm_prime_handle ph = { .handle = h, .flags = DRM_CLOEXEC };

	base.out_sync = 0;
	if (kinds & H_BO) {
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -ENOENT, "mmap %s",
			   what);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &bw), -ENOENT, "wait %s", what);
		a = base;
		a.cmd_bo = h;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT, "submit cmd_bo %s",
			   what);
		a = base;
		a.bos = (uintptr_t)refs;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT, "submit bo %s",
			   what);
		{
			struct drm_edge_npu_vm_bind vb = { .ctx = g_ctx, .op = DRM_EDGE_NPU_VM_MAP,
							   .handle = h, .flags = DRM_EDGE_NPU_BO_READ,
							   .addr = DRM_EDGE_NPU_VA_USER_START,
							   .size = 4096 };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &vb), -ENOENT,
				   "vm_bind bo %s", what);
		}
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc), -EINVAL, "gem close %s", what);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ph), -ENOENT, "export %s",
			   what);
	}
	if (kinds & H_CTX) {
		struct drm_edge_npu_vm_bind vb = { .ctx = h, .op = DRM_EDGE_NPU_VM_MAP,
						   .handle = g_bo, .flags = DRM_EDGE_NPU_BO_READ,
						   .addr = DRM_EDGE_NPU_VA_USER_START, .size = 4096 };

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &vb), -ENOENT, "vm_bind ctx %s",
			   what);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -ENOENT, "destroy %s",
			   what);
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), -ENOENT, "query %s", what);
		a = base;
		a.ctx = h;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT, "submit ctx %s",
			   what);
	}
	if (kinds & H_SYNC) {
		a = base;
		a.num_in_syncs = 1;
		a.in_syncs = (uintptr_t)&h;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT, "submit in_sync %s",
			   what);
		if (h) { /* out_sync 0 is "none" */
			a = base;
			a.out_sync = h;
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT,
				   "submit out_sync %s", what);
		}
	}
}

/* Creates objects on other until one has a number that fd does not know; 0 if none. */
static uint32_t foreign_handle(int fd, int other, unsigned int kind, uint32_t *made, int *n)
{
	for (*n = 0; *n < 128;) {
		uint32_t h = kind == H_BO    ? bo_new(other, 4096) :
			     kind == H_CTX ? ctx_new(other, DRM_EDGE_NPU_PRIORITY_NORMAL) :
					     syncobj_new(other);
		struct drm_edge_npu_bo_mmap_offset mo = { .handle = h };
		struct drm_edge_npu_ctx_query q = { .handle = h };

		if (!h)
			return 0;
		made[(*n)++] = h;
		if (kind == H_BO && enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo) == -ENOENT)
			return h;
		if (kind == H_CTX && enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q) == -ENOENT)
			return h;
		if (kind == H_SYNC && drmSyncobjWait(fd, &h, 1, 0, 0, NULL) && errno == ENOENT)
			return h;
	}
	return 0;
}

static void test_handles(int fd, int fd_other)
{
	const struct live before = live_quiet();
	uint32_t closed = bo_new(fd, 4096), sync = syncobj_new(fd);
	uint32_t dead = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	static const unsigned int kinds[] = { H_BO, H_CTX, H_SYNC };
	static const char *const kind_names[] = { "another file's BO", "another file's context",
						  "another file's syncobj" };

	handle_cases(fd, 0, H_BO | H_CTX | H_SYNC, "0");
	/* erasing handle 0 (above) once marked it free, and the next context got handle 0 */
	{
		uint32_t c = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);

		CASE(c != 0, "a context after CTX_DESTROY(0) has handle 0");
		ctx_destroy(fd, c);
	}
	handle_cases(fd, 0xbad0, H_BO | H_CTX | H_SYNC, "unknown");
	handle_cases(fd, UINT32_MAX, H_BO | H_CTX | H_SYNC, "UINT32_MAX");
	handle_cases(fd, 0x80000000u, H_BO | H_CTX | H_SYNC, "2^31");
	/* a closed BO, a destroyed context, a destroyed syncobj */
	gem_close(fd, closed);
	ctx_destroy(fd, dead);
	drmSyncobjDestroy(fd, sync);
	handle_cases(fd, closed, H_BO, "closed BO");
	handle_cases(fd, dead, H_CTX, "destroyed context");
	handle_cases(fd, sync, H_SYNC, "destroyed syncobj");
	/* another file's objects, at numbers this file does not have */
	for (int k = 0; k < 3; k++) {
		uint32_t made[128];
		int n = 0;
		uint32_t h = foreign_handle(fd, fd_other, kinds[k], made, &n);

		CASE(h != 0, "%s: none at a number unknown here", kind_names[k]);
		if (h)
			handle_cases(fd, h, kinds[k], kind_names[k]);
		for (int i = 0; i < n; i++) {
			if (kinds[k] == H_BO)
				gem_close(fd_other, made[i]);
			else if (kinds[k] == H_CTX)
				ctx_destroy(fd_other, made[i]);
			else
				drmSyncobjDestroy(fd_other, made[i]);
		}
	}
	CASE_LIVE(read_live(), before, "after the bad handles");
}

/* ---- bounds ---------------------------------------------------------------------------------- */

static void stream_refused(int fd, struct stream *s, uint32_t len, const char *what)
{
	struct drm_edge_npu_submit a = job_args(&g_job, s);

	a.out_sync = 0;
	a.cmd_size = len;
	CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EINVAL, "stream: %s", what);
	CASE(a.error_code != 0, "stream: %s: no error code", what);
}

static void test_bounds(int fd)
{
	const struct live before = live_quiet();
	struct drm_edge_npu_submit base = job_args(&g_job, &g_copy), a;

	base.out_sync = 0;
#define BOUND(field, value, want)                                                          \
	do {                                                                               \
		a = base;                                                                  \
		a.field = value;                                                           \
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), want, #field " %llu", \
			   (unsigned long long)(value));                                   \
	} while (0)
	BOUND(cmd_offset, 4096, -EINVAL);
	BOUND(cmd_offset, 4096 - 8, -EINVAL);
	BOUND(cmd_offset, 8192, -EINVAL);
	BOUND(cmd_offset, 1ull << 63, -EINVAL);
	BOUND(cmd_offset, UINT64_MAX - 7, -EINVAL);
	BOUND(cmd_offset, 4, -EINVAL);
	BOUND(cmd_size, 0, -EINVAL);
	BOUND(cmd_size, 4097, -EINVAL);
	BOUND(cmd_size, ENPU_MAX_STREAM_BYTES + 1, -EINVAL);
	BOUND(cmd_size, UINT32_MAX, -EINVAL);
	BOUND(num_bos, DRM_EDGE_NPU_MAX_BOS + 1, -EINVAL);
	BOUND(num_bos, UINT32_MAX, -EINVAL);
	BOUND(bo_ref_size, 0, -EINVAL);
	BOUND(bo_ref_size, 7, -EINVAL);
	BOUND(bo_ref_size, 4097, -EINVAL);
	BOUND(bo_ref_size, UINT32_MAX, -EINVAL);
	BOUND(num_in_syncs, DRM_EDGE_NPU_MAX_IN_SYNCS + 1, -EINVAL);
	BOUND(num_in_syncs, UINT32_MAX, -EINVAL);
	/* more buffers than the stream's table: the stream is checked against the list */
	BOUND(num_bos, 1, -EINVAL);
	BOUND(num_bos, 0, -EINVAL);
#undef BOUND
	/* a syncobj without a fence cannot be waited for */
	{
		uint32_t empty = syncobj_new(fd);

		a = base;
		a.num_in_syncs = 1;
		a.in_syncs = (uintptr_t)&empty;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EINVAL, "fenceless sync");
		drmSyncobjDestroy(fd, empty);
	}
	/* BO sizes */
	{
		const uint64_t bad[] = { 0, (1ull << 32) + 1, 1ull << 63, UINT64_MAX };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct drm_edge_npu_bo_create c = { .size = bad[i] };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c), -EINVAL,
				   "bo size %llu", (unsigned long long)bad[i]);
		}
		struct drm_edge_npu_bo_create c = { .size = 1ull << 32 };

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c), 0, "bo of 4 GiB");
		CASE(c.actual_size == 1ull << 32, "actual size %llu",
		     (unsigned long long)c.actual_size);
		gem_close(fd, c.handle);
	}
	/* mmap past the BO, at a wrong offset, of a closed BO */
	{
		uint32_t h = bo_new(fd, 8192);
		uint64_t off = bo_offset(fd, h);
		void *p;

		p = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, fd, (off_t)off);
		CASE(p == MAP_FAILED, "mmap of 3 pages of a 2-page BO");
		p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, (off_t)(off + page));
		CASE(p == MAP_FAILED, "mmap running one page past the BO");
		p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)(1ull << 40));
		CASE(p == MAP_FAILED, "mmap at an offset no BO has");
		gem_close(fd, h);
		p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)off);
		CASE(p == MAP_FAILED, "mmap of a closed BO");
	}
	/* BO_WAIT on a busy BO with deadlines in the past: an error at once, never 0 or a hang */
	{
		struct job h;
		struct stream hang;
		const int64_t past[] = { 1, 1000, -1, INT64_MIN };
		const int want[] = { -ETIME, -ETIME, -EINVAL, -EINVAL };

		job_init(&h, fd);
		s_job(&hang, true);
		CASE_ERRNO(job_submit(&h, &hang), 0, "hung job");
		for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
			struct drm_edge_npu_bo_wait w = { .handle = h.dst, .timeout_ns = past[i] };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &w), want[i],
				   "wait with deadline %lld", (long long)past[i]);
		}
		{
			struct drm_edge_npu_bo_wait w = { .handle = h.dst };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &w), -EBUSY, "poll");
		}
		CASE_ERRNO(sync_wait(fd, h.sync, 4 * timeout_ms + 5000), 0, "the hung job ends");
		job_fini(&h);
	}
	/* hostile streams: refused with an error code, nothing runs */
	{
		struct stream s;
		struct enpu_stream_header *hd = (void *)s.data;
		struct enpu_cmd_header *c0 = (void *)(s.data + sizeof(*hd));

		s_job(&s, false);
		hd->num_cmds = UINT32_MAX;
		stream_refused(fd, &s, s.len, "num_cmds UINT32_MAX");
		s_job(&s, false);
		hd->num_cmds = 0;
		stream_refused(fd, &s, s.len, "num_cmds 0 with a command");
		s_job(&s, false);
		hd->size = s.len + 8;
		stream_refused(fd, &s, s.len, "header size past the stream");
		s_job(&s, false);
		stream_refused(fd, &s, s.len + 8, "stream longer than its header says");
		s_job(&s, false);
		c0->size = 0; /* a command of zero bytes: a loop that never advances */
		stream_refused(fd, &s, s.len, "zero-sized command");
		s_job(&s, false);
		c0->size = 12;
		stream_refused(fd, &s, s.len, "command size not a multiple of 8");
		s_job(&s, false);
		c0->size = UINT32_MAX - 7;
		stream_refused(fd, &s, s.len, "command size past the stream");
		s_job(&s, false);
		c0->opcode = 0xffff;
		stream_refused(fd, &s, s.len, "unknown opcode");
		s_job(&s, false);
		((struct enpu_cmd_copy *)c0)->src.offset = UINT64_MAX - 100;
		stream_refused(fd, &s, s.len, "operand offset overflowing");
		s_job(&s, false);
		((struct enpu_cmd_copy *)c0)->rows = UINT32_MAX;
		stream_refused(fd, &s, s.len, "rows UINT32_MAX");
		s_job(&s, false);
		stream_refused(fd, &s, sizeof(*hd) - 8, "shorter than its header");
	}
	CASE_LIVE(live_settle(before), before, "after the bounds");
}

/* ---- params ---------------------------------------------------------------------------------- */

static void test_params(int fd)
{
	struct drm_edge_npu_get_param np = { .param = DRM_EDGE_NPU_PARAM_NUM_OPPS };

	CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &np), 0, "number of OPPs");
	for (uint32_t p = 0; p < 64; p++) {
		struct drm_edge_npu_get_param a = { .param = p };
		const bool known = p <= DRM_EDGE_NPU_PARAM_CUR_FREQ_HZ;
		const bool indexed = p == DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ ||
				     p == DRM_EDGE_NPU_PARAM_OPP_VOLT_UV;

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &a), known ? 0 : -EINVAL,
			   "param %u", p);
		a.index = indexed ? (uint32_t)np.value : 1;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &a), -EINVAL,
			   "param %u index %u", p, a.index);
		a.index = UINT32_MAX;
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &a), -EINVAL,
			   "param %u index UINT32_MAX", p);
	}
	{
		const uint32_t far[] = { 1000, 0x7fffffff, 0x80000000u, UINT32_MAX };

		for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
			struct drm_edge_npu_get_param a = { .param = far[i] };

			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &a), -EINVAL,
				   "param %u", far[i]);
		}
	}
	/* ioctl numbers the driver does not have, around its range */
	for (unsigned int nr = 8; nr < 0x40; nr += 7) {
		struct drm_edge_npu_get_param a = { 0 };

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOWR(DRM_COMMAND_BASE + nr, struct drm_edge_npu_get_param),
				  &a), -EINVAL, "ioctl nr 0x%x", nr);
	}
}

/* ---- PRIME ----------------------------------------------------------------------------------- */

static int import(int fd, int dmabuf, uint32_t *handle)
{
	struct drm_prime_handle p = { .fd = dmabuf };
	int r = enpu_ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p);

	*handle = p.handle;
	return r;
}

static int export(int fd, uint32_t handle, uint32_t flags, int *dmabuf)
{
	struct drm_prime_handle p = { .handle = handle, .flags = flags, .fd = -1 };
	int r = enpu_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);

	*dmabuf = p.fd;
	return r;
}

static void test_prime(int fd, int fd2)
{
	const struct live before = live_quiet();
	int pipefd[2], efd = eventfd(0, EFD_CLOEXEC), file = open("/proc/self/stat", O_RDONLY);
	int sync_fd = -1, syncobj_fd = -1, dmabuf = -1, dmabuf2 = -1;
	uint32_t h, h2, sync = syncobj_new(fd);

	CASE(pipe(pipefd) == 0, "pipe");
	drmSyncobjHandleToFD(fd, sync, &syncobj_fd);
	{
		struct job j;
		struct stream s;

		job_init(&j, fd);
		s_job(&s, false);
		job_submit(&j, &s);
		sync_wait(fd, j.sync, 10000);
		drmSyncobjExportSyncFile(fd, j.sync, &sync_fd);
		job_fini(&j);
	}
	const int not_bufs[] = { -1, 1 << 20, pipefd[0], efd, file, fd, syncobj_fd, sync_fd };
	const char *names[] = { "-1", "unopened", "pipe", "eventfd", "file", "the device",
				"syncobj fd", "sync_file" };

	for (size_t i = 0; i < sizeof(not_bufs) / sizeof(not_bufs[0]); i++) {
		int r = import(fd, not_bufs[i], &h);

		CASE(r == -EBADF || r == -EINVAL, "import of %s: %d", names[i], r);
	}
	/*
	 * A dma-buf of another exporter: the driver reaches memory through struct pages, which
	 * the dma-buf contract does not promise an importer, so only edge_npu BOs are imported.
	 * The system dma-heap (6.12; 6.1 as Debian builds it has none) is such an exporter.
	 */
	{
		int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

		if (heap >= 0) {
			struct dma_heap_allocation_data a = { .len = 8192, .fd_flags = O_RDWR | O_CLOEXEC };

			CASE(ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) == 0, "dma-heap alloc: %s",
			     strerror(errno));
			if (a.fd > 0) {
				CASE_ERRNO(import(fd, (int)a.fd, &h), -EOPNOTSUPP,
					   "import of a dma-heap buffer");
				close((int)a.fd);
			}
			close(heap);
		} else {
			printf("  (no /dev/dma_heap/system: the import of another driver's dma-buf is not tried)\n");
		}
	}
	CASE_LIVE(live_settle(before), before, "after refused imports");
	/* exports with bad flags or handles */
	h = bo_new(fd, 8192);
	CASE_ERRNO(export(fd, h, 0x4, &dmabuf), -EINVAL, "export flag 0x4");
	CASE_ERRNO(export(fd, h, 0x80000000u, &dmabuf), -EINVAL, "export flag 2^31");
	CASE_ERRNO(export(fd, h + 1000, DRM_CLOEXEC, &dmabuf), -ENOENT, "export unknown");
	CASE_ERRNO(export(fd, h, DRM_CLOEXEC | DRM_RDWR, &dmabuf), 0, "export");
	/* re-exports and re-imports name the same objects */
	CASE_ERRNO(import(fd, dmabuf, &h2), 0, "self-import");
	CASE(h2 == h, "a self-import is the same handle (%u, %u)", h2, h);
	CASE_ERRNO(import(fd2, dmabuf, &h2), 0, "import on another file");
	{
		uint32_t h3;

		CASE_ERRNO(import(fd2, dmabuf, &h3), 0, "import again");
		CASE(h3 == h2, "a second import is the same handle (%u, %u)", h3, h2);
	}
	/* the dma-buf outlives the exporter's handle, and its file */
	{
		uint8_t *p = bo_map(fd, h, 8192), *q;
		void *m;

		if (p) {
			memset(p, 0x5a, 8192);
			munmap(p, 8192);
		}
		m = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, dmabuf, 0);
		CASE(m == MAP_FAILED, "dma-buf mmap past its size");
		gem_close(fd, h);
		CASE_ERRNO(export(fd2, h2, DRM_CLOEXEC, &dmabuf2), 0, "re-export of an import");
		q = bo_map(fd2, h2, 8192);
		CASE(q && q[0] == 0x5a && q[8191] == 0x5a, "the import keeps the pages");
		if (q)
			munmap(q, 8192);
		/* a job on fd2 writes the imported BO after its exporter's handle is gone */
		{
			struct job j;
			struct stream s;

			job_init(&j, fd2);
			gem_close(fd2, j.dst);
			j.dst = h2;
			j.refs[1].handle = h2;
			s_job(&s, false);
			CASE_ERRNO(job_submit(&j, &s), 0, "job on the import");
			CASE_ERRNO(sync_wait(fd2, j.sync, 10000), 0, "job on the import ends");
			CASE(sync_status(fd2, j.sync) == 1, "job on the import: %d",
			     sync_status(fd2, j.sync));
			job_fini(&j); /* closes h2 too */
		}
		/* only the dma-bufs hold the object now: import them again */
		CASE_ERRNO(import(fd2, dmabuf2, &h2), 0, "import of the re-export");
		gem_close(fd2, h2);
	}
	close(dmabuf);
	close(dmabuf2);
	close(pipefd[0]);
	close(pipefd[1]);
	close(efd);
	close(file);
	close(sync_fd);
	close(syncobj_fd);
	drmSyncobjDestroy(fd, sync);
	CASE_LIVE(live_settle(before), before, "after PRIME");
}

/* ---- isolation across processes -------------------------------------------------------------- */

struct foreign {
	uint32_t bo, ctx, sync;
	uint64_t offset;
};

/* Sends a file descriptor over a UNIX socket. */
static int send_fd(int sock, int fd)
{
	char c = 'f';
	struct iovec iov = { &c, 1 };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	memset(ctl, 0, sizeof(ctl));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	int fd = -1;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * A child with a file of its own sends its handles and mmap offset, then a dma-buf of its BO
 * (filled with 0xc3) over the socket, and waits for the parent to be done.
 */
static void foreign_child(int sock)
{
	int fd = open_npu(0), dmabuf = -1;
	struct foreign f = { 0 };
	uint8_t *p;
	char c;

	if (fd < 0)
		_exit(1);
	/* objects at numbers the parent's file does not use */
	for (int i = 0; i < 40; i++)
		bo_new(fd, 4096);
	f.bo = bo_new(fd, 4096);
	for (int i = 0; i < 20; i++)
		ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	f.ctx = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	for (int i = 0; i < 20; i++)
		syncobj_new(fd);
	f.sync = syncobj_new(fd);
	f.offset = bo_offset(fd, f.bo);
	p = bo_map(fd, f.bo, 4096);
	if (p)
		memset(p, 0xc3, 4096);
	if (write(sock, &f, sizeof(f)) != sizeof(f) || export(fd, f.bo, DRM_CLOEXEC, &dmabuf) ||
	    send_fd(sock, dmabuf))
		_exit(2);
	if (read(sock, &c, 1) != 1)
		_exit(3);
	_exit(0);
}

static void test_isolation(void)
{
	const struct live before = live_quiet();
	int sv[2], fd = open_npu(0), status = 0;
	struct foreign f;
	pid_t pid;

	if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		CASE(0, "setup");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		foreign_child(sv[1]);
	}
	close(sv[1]);
	CASE(read(sv[0], &f, sizeof(f)) == sizeof(f), "the child's handles");
	{
		struct drm_edge_npu_bo_mmap_offset mo = { .handle = f.bo };
		struct drm_edge_npu_ctx_query q = { .handle = f.ctx };
		struct drm_edge_npu_ctx_destroy cd = { .handle = f.ctx };
		struct drm_gem_close gc = { .handle = f.bo };
		uint32_t sync = f.sync;
		struct job j;
		struct stream s;
		void *p;

		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -ENOENT,
			   "another process's BO");
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), -ENOENT,
			   "another process's context");
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -ENOENT,
			   "destroying another process's context");
		CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc), -EINVAL,
			   "closing another process's BO");
		CASE(drmSyncobjWait(fd, &sync, 1, 0, 0, NULL) != 0, "another process's syncobj");
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)f.offset);
		CASE(p == MAP_FAILED, "another process's mmap offset maps through this file");
		if (p != MAP_FAILED)
			munmap(p, 4096);
		job_init(&j, fd);
		j.refs[0].handle = f.bo;
		s_job(&s, false);
		CASE_ERRNO(job_submit(&j, &s), -ENOENT, "a job naming another process's BO");
		{
			struct drm_edge_npu_submit a = job_args(&j, &s);

			j.refs[0].handle = j.src;
			a.ctx = f.ctx;
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT,
				   "a job on another process's context");
			a = job_args(&j, &s);
			a.num_in_syncs = 1;
			a.in_syncs = (uintptr_t)&sync;
			CASE_ERRNO(enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -ENOENT,
				   "a job waiting for another process's syncobj");
		}
		/* the dma-buf the child chose to share is the way in, and it works */
		{
			int dmabuf = recv_fd(sv[0]);
			uint32_t h;
			uint8_t *q;

			CASE(dmabuf >= 0, "the child's dma-buf");
			CASE_ERRNO(import(fd, dmabuf, &h), 0, "import of the shared dma-buf");
			q = bo_map(fd, h, 4096);
			CASE(q && q[0] == 0xc3 && q[4095] == 0xc3, "the shared BO's data");
			if (q)
				munmap(q, 4096);
			/* the child goes; the import stays */
			CASE(write(sv[0], "x", 1) == 1, "release the child");
			waitpid(pid, &status, 0);
			CASE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
			     status);
			close(dmabuf);
			q = bo_map(fd, h, 4096);
			CASE(q && q[100] == 0xc3, "the import outlives its exporter");
			if (q)
				munmap(q, 4096);
			gem_close(fd, h);
		}
		job_fini(&j);
	}
	close(sv[0]);
	close(fd);
	CASE_LIVE(live_settle(before), before, "after the isolation tests");
}

/* ---- exhaustion ------------------------------------------------------------------------------ */

static void set_limit(const char *name, const char *val, char *old, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), PARAM("%s"), name);
	if (old)
		CASE(read_str(path, old, len) == 0, "read %s", name);
	CASE(write_str(path, val) == 0, "write %s", name);
}

/* Another client, meanwhile: creates, maps, submits and gets its data. */
static void other_client_works(const char *what)
{
	int fd = open_npu(0);
	struct job j;
	struct stream s;
	uint32_t *in, *out;

	CASE(fd >= 0 && job_init(&j, fd), "%s: another client's setup", what);
	if (fd < 0)
		return;
	in = bo_map(fd, j.src, 4096);
	out = bo_map(fd, j.dst, 4096);
	for (int i = 0; in && i < 1024; i++)
		in[i] = 0x1234u * (uint32_t)i;
	s_job(&s, false);
	CASE_ERRNO(job_submit(&j, &s), 0, "%s: another client's job", what);
	CASE_ERRNO(sync_wait(fd, j.sync, 4 * timeout_ms + 5000), 0, "%s: it ends", what);
	CASE(in && out && !memcmp(in, out, 4096), "%s: its data", what);
	if (in)
		munmap(in, 4096);
	if (out)
		munmap(out, 4096);
	job_fini(&j);
	close(fd);
}

static void test_exhaustion(void)
{
	char o_ctxs[32], o_bos[32], o_bytes[32], o_jobs[32];
	const struct live before = live_quiet();
	int fd = open_npu(0), n;
	uint32_t h[64];

	set_limit("max_ctxs_per_file", "8", o_ctxs, sizeof(o_ctxs));
	set_limit("max_bos_per_file", "48", o_bos, sizeof(o_bos));
	set_limit("max_bo_bytes_per_file", "1048576", o_bytes, sizeof(o_bytes));
	set_limit("max_jobs_per_file", "16", o_jobs, sizeof(o_jobs));

	/* contexts */
	for (n = 0; n < 8; n++)
		CASE((h[n] = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL)) != 0, "context %d", n);
	CASE_ERRNO(({
			   struct drm_edge_npu_ctx_create c = { .priority = 1 };
			   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &c);
		   }),
		   -ENOSPC, "context past the limit");
	other_client_works("contexts full");
	ctx_destroy(fd, h[0]);
	CASE((h[0] = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL)) != 0, "a freed context slot comes back");
	for (n = 0; n < 8; n++)
		ctx_destroy(fd, h[n]);

	/* BO bytes: 4 x 256 KiB fill 1 MiB */
	for (n = 0; n < 4; n++)
		CASE((h[n] = bo_new(fd, 256 << 10)) != 0, "256 KiB BO %d", n);
	CASE_ERRNO(({
			   struct drm_edge_npu_bo_create c = { .size = 4096 };
			   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);
		   }),
		   -ENOSPC, "a BO past the byte limit");
	other_client_works("bytes full");
	for (n = 0; n < 4; n++)
		gem_close(fd, h[n]);

	/*
	 * What keeps a BO alive keeps it charged (else map a window, or export a dma-buf, close
	 * the handle, again: past every limit, the mmap-offset space too). Mapped twice while
	 * its handle is held, a BO counts once: the maps of a full file all succeed.
	 */
	{
		const uint64_t va = DRM_EDGE_NPU_VA_USER_START;
		const uint32_t c = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
		int dmabuf = -1;

		CASE(c != 0, "a context for the mappings");
		for (n = 0; n < 4; n++)
			CASE((h[n] = bo_new(fd, 256 << 10)) != 0, "256 KiB BO %d", n);
		for (n = 0; n < 3; n++)
			CASE_ERRNO(vm_map(fd, c, h[n], DRM_EDGE_NPU_BO_READ, 0,
					  va + 2 * 4096 * (uint64_t)n, 4096),
				   0, "BO %d mapped in a full file", n);
		CASE_ERRNO(vm_map(fd, c, h[0], DRM_EDGE_NPU_BO_READ, 4096, va + 4096, 4096), 0,
			   "a second window of BO 0");
		CASE_ERRNO(export(fd, h[3], DRM_CLOEXEC, &dmabuf), 0, "BO 3 exported");
		for (n = 0; n < 4; n++)
			gem_close(fd, h[n]);
		CASE_ERRNO(({
				   struct drm_edge_npu_bo_create cr = { .size = 4096 };
				   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &cr);
			   }),
			   -ENOSPC, "a BO past the byte limit, the others mapped or exported, closed");
		CASE_ERRNO(vm_unmap(fd, c, va, 4096), 0, "unmap BO 0's first window");
		CASE_ERRNO(({
				   struct drm_edge_npu_bo_create cr = { .size = 4096 };
				   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &cr);
			   }),
			   -ENOSPC, "still full: its second window keeps BO 0");
		CASE_ERRNO(vm_unmap(fd, c, va + 4096, 4096), 0, "unmap its second window");
		CASE((h[0] = bo_new(fd, 256 << 10)) != 0, "BO 0's 256 KiB are free again");
		gem_close(fd, h[0]);
		if (dmabuf >= 0)
			close(dmabuf);
		CASE((h[0] = bo_new(fd, 256 << 10)) != 0, "BO 3's too, once its dma-buf is closed");
		gem_close(fd, h[0]);
		if (c)
			ctx_destroy(fd, c); /* its space unmaps BOs 1 and 2 */
		for (n = 0; n < 4; n++)
			CASE((h[n] = bo_new(fd, 256 << 10)) != 0, "256 KiB BO %d once unmapped", n);
		for (n = 0; n < 4; n++)
			gem_close(fd, h[n]);
	}
	/* a file closed with mappings live: its contexts' spaces uncharge at its release */
	{
		int fd2 = open_npu(0);
		uint32_t c = fd2 >= 0 ? ctx_new(fd2, DRM_EDGE_NPU_PRIORITY_NORMAL) : 0;
		uint32_t b = fd2 >= 0 ? bo_new(fd2, 4096) : 0;

		CASE(c && b && !vm_map(fd2, c, b, DRM_EDGE_NPU_BO_READ, 0,
				      DRM_EDGE_NPU_VA_USER_START, 4096),
		     "a second file's BO mapped");
		if (fd2 >= 0)
			close(fd2);
	}

	/* BO count */
	for (n = 0; n < 48; n++)
		CASE((h[n] = bo_new(fd, 4096)) != 0, "BO %d", n);
	CASE_ERRNO(({
			   struct drm_edge_npu_bo_create c = { .size = 4096 };
			   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);
		   }),
		   -ENOSPC, "a BO past the count limit");
	other_client_works("BOs full");
	for (n = 0; n < 48; n++)
		gem_close(fd, h[n]);
	/* the count holds mapped BOs whose handles are closed */
	{
		const uint32_t c = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
		int mapped = 0;

		for (n = 0; n < 48; n++) {
			const uint32_t b = bo_new(fd, 4096);

			mapped += b && !vm_map(fd, c, b, DRM_EDGE_NPU_BO_READ, 0,
					       DRM_EDGE_NPU_VA_USER_START + 4096 * (uint64_t)n, 4096);
			gem_close(fd, b);
		}
		CASE(c && mapped == 48, "48 BOs mapped, their handles closed: %d", mapped);
		CASE_ERRNO(({
				   struct drm_edge_npu_bo_create cr = { .size = 4096 };
				   enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &cr);
			   }),
			   -ENOSPC, "a BO past the count limit, the others mapped and closed");
		if (c)
			ctx_destroy(fd, c);
	}

	/* jobs in flight: 16 behind a hung job, the 17th refused */
	{
		struct job j;
		struct stream hang, ok;
		int r = 0;

		job_init(&j, fd);
		s_job(&hang, true);
		s_job(&ok, false);
		CASE_ERRNO(job_submit(&j, &hang), 0, "the hung job");
		for (n = 1; n < 16 && !r; n++)
			r = job_submit(&j, &ok);
		CASE(!r && n == 16, "16 jobs in flight: job %d got %d", n, r);
		CASE_ERRNO(job_submit(&j, &ok), -ENOSPC, "job past the limit");
		other_client_works("jobs full");
		/* the hung job ends at its timeout, the others run: slots come back */
		CASE_ERRNO(sync_wait(fd, j.sync, 4 * timeout_ms + 5000), 0, "the queue drains");
		{
			uint64_t t0 = now_ms();

			while ((r = job_submit(&j, &ok)) == -ENOSPC && now_ms() - t0 < 5000)
				usleep(10 * 1000);
		}
		CASE_ERRNO(r, 0, "a job once the queue drained");
		sync_wait(fd, j.sync, 10000);
		job_fini(&j);
	}
	set_limit("max_ctxs_per_file", o_ctxs, NULL, 0);
	set_limit("max_bos_per_file", o_bos, NULL, 0);
	set_limit("max_bo_bytes_per_file", o_bytes, NULL, 0);
	set_limit("max_jobs_per_file", o_jobs, NULL, 0);
	close(fd);
	CASE_LIVE(live_settle(before), before, "after the exhaustion tests");
}

/* ---- keep race ------------------------------------------------------------------------------- */

/*
 * What keeps a BO charged to a file (its handles, VM_BIND mappings in its contexts, its creation
 * by the file) changing from several threads at once, over two files of one device: BOs
 * created, windows of them mapped and unmapped in contexts of their file, handles closed (the
 * one a thread is mapping right now among them), exported and imported into the other file,
 * dma-bufs closed, contexts destroyed with mappings live, and the second file replaced under
 * the others (dup3 onto its fd number: the old file goes once the ioctls in flight on it
 * return). The limits are small, so ENOSPC comes often. Every result must be 0, -ENOSPC,
 * -ENOENT, -EEXIST or -EINVAL. Then every context and handle of both files goes: each fills its
 * byte and count limits exactly again, as does a new file once both are closed, the live
 * objects are back where they were and the kernel logged nothing above info.
 */
#define KR_MS 3000		/* the race */
#define KR_REOPEN_MS 150	/* the second file replaced every ... */
#define KR_SLOTS 16		/* handles of each file the threads share: more than fit */
#define KR_CTXS 3		/* contexts of each file they share */
#define KR_VAS 8		/* the addresses windows map at, 64 KiB apart */
#define KR_BOS 24		/* max_bos_per_file */
#define KR_BYTES (512u << 10)	/* max_bo_bytes_per_file: 8 BOs of 64 KiB */
#define KR_MAKERS 2

enum { KR_CREATE, KR_CTX, KR_MAP, KR_UNMAP, KR_CLOSE, KR_DESTROY, KR_EXPORT, KR_IMPORT,
       KR_DMABUF_CLOSE, KR_REOPEN, KR_OPS };
static const char *const kr_names[KR_OPS] = {
	"BO_CREATE", "CTX_CREATE", "MAP", "UNMAP", "GEM_CLOSE", "CTX_DESTROY", "export",
	"import", "dma-buf close", "reopen",
};

static struct {
	int fd[2];		/* the second one is replaced under the threads */
	uint32_t bo[2][KR_SLOTS]; /* handles (0: none), and the bytes their BO had */
	uint32_t size[2][KR_SLOTS];
	uint32_t ctx[2][KR_CTXS];
	uint32_t mapping[2];	/* the handle a thread maps now */
	uint32_t n[KR_OPS][4];	/* 0, -ENOSPC, -ENOENT/-EEXIST/-EINVAL, anything else */
	int first_bad[KR_OPS];
	volatile bool stop;
} kr;

/* Counts a result of op; prints the first few that are none of those allowed. */
static void kr_tally(int op, int r)
{
	static int printed;
	const bool fine = r == -ENOENT || r == -EEXIST || r == -EINVAL;
	const int k = !r ? 0 : r == -ENOSPC ? 1 : fine ? 2 : 3;

	__atomic_add_fetch(&kr.n[op][k], 1, __ATOMIC_RELAXED);
	if (k == 3) {
		int none = 0;

		__atomic_compare_exchange_n(&kr.first_bad[op], &none, r, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
		if (__atomic_add_fetch(&printed, 1, __ATOMIC_RELAXED) <= 8)
			printf("  %s: %d (%s)\n", kr_names[op], r, strerror(-r));
	}
}

/* Shares handle h of file f (its BO's bytes: size, 0 if unknown); closes the one it displaces. */
static void kr_publish(unsigned int *seed, int f, uint32_t h, uint32_t size)
{
	const int s = (int)(rand_r(seed) % KR_SLOTS);
	uint32_t old;

	__atomic_store_n(&kr.size[f][s], size, __ATOMIC_RELAXED);
	old = __atomic_exchange_n(&kr.bo[f][s], h, __ATOMIC_RELAXED);
	if (old && old != h)
		kr_tally(KR_CLOSE, gem_close(kr.fd[f], old));
}

/* A BO of 4 to 64 KiB in file f, shared. */
static void kr_make_bo(unsigned int *seed, int f)
{
	struct drm_edge_npu_bo_create c = { .size = 4096 * (1 + rand_r(seed) % 16) };
	int r = enpu_ioctl(kr.fd[f], DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);

	kr_tally(KR_CREATE, r);
	if (!r)
		kr_publish(seed, f, c.handle, (uint32_t)c.size);
}

/* A context of file f, shared; the one it displaces is destroyed with its mappings. */
static void kr_make_ctx(unsigned int *seed, int f)
{
	struct drm_edge_npu_ctx_create c = { .priority = DRM_EDGE_NPU_PRIORITY_NORMAL };
	int r = enpu_ioctl(kr.fd[f], DRM_IOCTL_EDGE_NPU_CTX_CREATE, &c);
	uint32_t old;

	kr_tally(KR_CTX, r);
	if (r)
		return;
	old = __atomic_exchange_n(&kr.ctx[f][rand_r(seed) % KR_CTXS], c.handle, __ATOMIC_RELAXED);
	if (old)
		kr_tally(KR_DESTROY, ctx_destroy(kr.fd[f], old));
}

/*
 * Maps a window of a shared BO of file f in a shared context of f, or unmaps one. Windows are
 * of 1 to 4 pages by address: a second map at an address in a context overlaps the first.
 */
static void kr_map(unsigned int *seed, int f, bool map)
{
	const int s = (int)(rand_r(seed) % KR_SLOTS), v = (int)(rand_r(seed) % KR_VAS);
	const uint64_t va = DRM_EDGE_NPU_VA_USER_START + ((uint64_t)v << 16);
	const uint32_t len = 4096u * (uint32_t)(1 + v % 4);
	const uint32_t c = __atomic_load_n(&kr.ctx[f][rand_r(seed) % KR_CTXS], __ATOMIC_RELAXED);
	const uint32_t h = __atomic_load_n(&kr.bo[f][s], __ATOMIC_RELAXED);
	const uint32_t size = __atomic_load_n(&kr.size[f][s], __ATOMIC_RELAXED);
	uint64_t off = 0;

	if (!c || (map && !h))
		return;
	if (!map) {
		kr_tally(KR_UNMAP, vm_unmap(kr.fd[f], c, va, len));
		return;
	}
	if (size > len)
		off = 4096 * (uint64_t)(rand_r(seed) % ((size - len) / 4096 + 1));
	__atomic_store_n(&kr.mapping[f], h, __ATOMIC_RELAXED);
	kr_tally(KR_MAP, vm_map(kr.fd[f], c, h, DRM_EDGE_NPU_BO_READ | DRM_EDGE_NPU_BO_WRITE, off,
				va, len));
}

/* Creates BOs and contexts, maps windows of the files' BOs in their contexts and unmaps them. */
static void *kr_maker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!kr.stop) {
		const int f = rand_r(&seed) & 1, op = rand_r(&seed) % 8;

		if (op < 3)
			kr_make_bo(&seed, f);
		else if (op == 3)
			kr_make_ctx(&seed, f);
		else
			kr_map(&seed, f, op < 6);
	}
	return NULL;
}

/* Closes handles (the one being mapped too) and destroys contexts, mappings live. */
static void *kr_closer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!kr.stop) {
		const int f = rand_r(&seed) & 1, fd = kr.fd[f], op = rand_r(&seed) % 6;
		const int s = (int)(rand_r(&seed) % KR_SLOTS);
		uint32_t h;

		if (op < 2) {
			h = __atomic_exchange_n(&kr.mapping[f], 0, __ATOMIC_RELAXED);
		} else if (op < 4) {
			h = __atomic_exchange_n(&kr.bo[f][s], 0, __ATOMIC_RELAXED);
		} else if (op == 4) {
			h = __atomic_load_n(&kr.bo[f][s], __ATOMIC_RELAXED); /* left in its slot */
		} else {
			h = __atomic_exchange_n(&kr.ctx[f][rand_r(&seed) % KR_CTXS], 0,
						__ATOMIC_RELAXED);
			if (h)
				kr_tally(KR_DESTROY, ctx_destroy(fd, h));
			continue;
		}
		if (h)
			kr_tally(KR_CLOSE, gem_close(fd, h));
		else
			sched_yield();
	}
	return NULL;
}

/* Exports the files' BOs and imports them, mostly into the other file; closes the dma-bufs. */
static void *kr_prime(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	int held[8];

	for (int i = 0; i < 8; i++)
		held[i] = -1;
	while (!kr.stop) {
		const int f = rand_r(&seed) & 1, s = (int)(rand_r(&seed) % KR_SLOTS);
		const int to = rand_r(&seed) % 4 ? 1 - f : f;
		const uint32_t h = __atomic_load_n(&kr.bo[f][s], __ATOMIC_RELAXED);
		const uint32_t size = __atomic_load_n(&kr.size[f][s], __ATOMIC_RELAXED);
		uint32_t h2;
		int dmabuf, r, i;

		if (!h) {
			sched_yield();
			continue;
		}
		r = export(kr.fd[f], h, DRM_CLOEXEC | (rand_r(&seed) & 1 ? DRM_RDWR : 0), &dmabuf);
		kr_tally(KR_EXPORT, r);
		if (r)
			continue;
		r = import(kr.fd[to], dmabuf, &h2);
		kr_tally(KR_IMPORT, r);
		if (!r)
			kr_publish(&seed, to, h2, size);
		/* closed at once, or later: its BO lives on meanwhile */
		i = rand_r(&seed) % 16;
		if (i < 8) {
			if (held[i] >= 0)
				kr_tally(KR_DMABUF_CLOSE, close(held[i]) ? -errno : 0);
			held[i] = dmabuf;
		} else {
			kr_tally(KR_DMABUF_CLOSE, close(dmabuf) ? -errno : 0);
		}
	}
	for (int i = 0; i < 8; i++)
		if (held[i] >= 0)
			kr_tally(KR_DMABUF_CLOSE, close(held[i]) ? -errno : 0);
	return NULL;
}

/* Replaces the second file under the others: a new file takes its fd number. */
static void *kr_reopen(void *arg)
{
	(void)arg;
	while (!kr.stop) {
		int fd;

		usleep(KR_REOPEN_MS * 1000);
		fd = open_npu(0);
		if (fd < 0) {
			kr_tally(KR_REOPEN, -ENODEV);
			continue;
		}
		kr_tally(KR_REOPEN, dup3(fd, kr.fd[1], O_CLOEXEC) < 0 ? -errno : 0);
		close(fd);
	}
	return NULL;
}

/* Each file's charge is nothing: it fills its byte limit, then its count limit, exactly. */
static void kr_fill(int fd, const char *what)
{
	struct drm_edge_npu_bo_create c = { .size = 4096 };
	uint32_t h[KR_BOS];
	int n, r;

	for (n = 0; n < 8 && (h[n] = bo_new(fd, 64 << 10)); n++)
		;
	r = enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);
	CASE(n == 8 && r == -ENOSPC, "%s: %d of 8 64 KiB BOs, then a 4 KiB one: %d", what, n, r);
	for (int i = 0; i < n; i++)
		gem_close(fd, h[i]);
	if (!r)
		gem_close(fd, c.handle);
	for (n = 0; n < KR_BOS && (h[n] = bo_new(fd, 4096)); n++)
		;
	r = enpu_ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);
	CASE(n == KR_BOS && r == -ENOSPC, "%s: %d of %d 4 KiB BOs, then one more: %d", what, n,
	     KR_BOS, r);
	for (int i = 0; i < n; i++)
		gem_close(fd, h[i]);
	if (!r)
		gem_close(fd, c.handle);
}

static void test_keep_race(void)
{
	char o_bos[32], o_bytes[32], val[32];
	const struct live before = live_quiet();
	const int kmsg = kmsg_open_at_end();
	pthread_t th[KR_MAKERS + 3];
	uint32_t sum = 0;
	int n = 0, fd;

	snprintf(val, sizeof(val), "%d", KR_BOS);
	set_limit("max_bos_per_file", val, o_bos, sizeof(o_bos));
	snprintf(val, sizeof(val), "%u", KR_BYTES);
	set_limit("max_bo_bytes_per_file", val, o_bytes, sizeof(o_bytes));
	memset(&kr, 0, sizeof(kr));
	kr.fd[0] = open_npu(0);
	kr.fd[1] = open_npu(0);
	CASE(kr.fd[0] >= 0 && kr.fd[1] >= 0, "two files");
	if (kr.fd[0] >= 0 && kr.fd[1] >= 0) {
		for (int i = 0; i < KR_MAKERS; i++)
			pthread_create(&th[n++], NULL, kr_maker, (void *)(uintptr_t)(i + 1));
		pthread_create(&th[n++], NULL, kr_closer, (void *)(uintptr_t)11);
		pthread_create(&th[n++], NULL, kr_prime, (void *)(uintptr_t)12);
		pthread_create(&th[n++], NULL, kr_reopen, NULL);
		usleep(KR_MS * 1000);
		kr.stop = true;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	}
	for (int op = 0; op < KR_OPS; op++) {
		printf("  %-13s %6u ok, %5u ENOSPC, %5u ENOENT/EEXIST/EINVAL, %u other\n",
		       kr_names[op], kr.n[op][0], kr.n[op][1], kr.n[op][2], kr.n[op][3]);
		CASE(!kr.n[op][3], "%s: %u results other than those (the first: %d)", kr_names[op],
		     kr.n[op][3], kr.first_bad[op]);
		sum += kr.n[op][0];
	}
	CASE(kr.n[KR_CREATE][0] && kr.n[KR_MAP][0] && kr.n[KR_UNMAP][0] && kr.n[KR_CLOSE][0] &&
	     kr.n[KR_DESTROY][0] && kr.n[KR_IMPORT][0] && kr.n[KR_REOPEN][0],
	     "every kind of operation succeeded at times (%u in all)", sum);
	/* (MAP of a BO its file holds a handle to charges nothing new: it meets them seldom) */
	CASE(kr.n[KR_CREATE][1] && kr.n[KR_IMPORT][1], "BO_CREATE, import met the limits: %u, %u",
	     kr.n[KR_CREATE][1], kr.n[KR_IMPORT][1]);

	/* every context and handle of both files goes (ids are the lowest free ones) */
	for (int f = 0; f < 2; f++) {
		if (kr.fd[f] < 0)
			continue;
		for (uint32_t h = 1; h <= 512; h++)
			ctx_destroy(kr.fd[f], h);
		for (uint32_t h = 1; h <= 1024; h++)
			gem_close(kr.fd[f], h);
	}
	for (int f = 0; f < 2; f++)
		if (kr.fd[f] >= 0)
			kr_fill(kr.fd[f], f ? "the second file emptied" : "the first file emptied");
	for (int f = 0; f < 2; f++)
		if (kr.fd[f] >= 0)
			close(kr.fd[f]);
	fd = open_npu(0);
	CASE(fd >= 0, "a new file");
	if (fd >= 0) {
		kr_fill(fd, "a new file");
		close(fd);
	}
	set_limit("max_bos_per_file", o_bos, NULL, 0);
	set_limit("max_bo_bytes_per_file", o_bytes, NULL, 0);
	CASE_LIVE(live_settle(before), before, "after the keep race");
	CASE(kmsg >= 0 && kmsg_count_loud(kmsg) == 0, "the kernel logged nothing above info");
	if (kmsg >= 0)
		close(kmsg);
}

/* ---- kill and close while jobs run ----------------------------------------------------------- */

/*
 * A client with work everywhere: a hung job and jobs behind it on one context, jobs on
 * another, an exported dma-buf; tells the parent (one byte on ready_w), then storm: submits
 * without end until killed.
 */
static void busy_child(int ready_w, bool storm)
{
	int fd = open_npu(0), dmabuf = -1;
	struct job a, b;
	struct stream hang, ok;

	if (fd < 0 || !job_init(&a, fd) || !job_init(&b, fd))
		_exit(1);
	s_job(&hang, true);
	s_job(&ok, false);
	job_submit(&a, &hang);
	for (int i = 0; i < 8; i++) {
		job_submit(&a, &ok);
		job_submit(&b, &ok);
	}
	export(fd, a.dst, DRM_CLOEXEC, &dmabuf);
	if (write(ready_w, "r", 1) != 1)
		_exit(2);
	for (;;) {
		if (storm)
			job_submit(&b, &ok);
		else
			pause();
	}
}

/* Waits for a killed child; false if it is not gone within 10 s (stuck in the kernel). */
static bool reap(pid_t pid)
{
	uint64_t t0 = now_ms();
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() - t0 > 10000)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

static void kill_busy_child(bool storm, const char *what)
{
	const struct live before = live_quiet();
	int p[2];
	char c;
	pid_t pid;

	CASE(pipe(p) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		busy_child(p[1], storm);
	}
	close(p[1]);
	CASE(read(p[0], &c, 1) == 1, "%s: the child is ready", what);
	close(p[0]);
	if (storm)
		usleep(100 * 1000);
	kill(pid, SIGKILL);
	CASE(reap(pid), "%s: the killed child is gone", what);
	other_client_works(what);
	CASE_LIVE(live_settle(before), before, what);
}

struct blocked_wait {
	int fd;
	uint32_t bo;
	int ret;
};

static void *wait_thread(void *arg)
{
	struct blocked_wait *w = arg;
	struct drm_edge_npu_bo_wait a = { .handle = w->bo, .timeout_ns = INT64_MAX };

	w->ret = enpu_ioctl(w->fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &a);
	return NULL;
}

static void test_kill(void)
{
	kill_busy_child(false, "SIGKILL with hung and queued jobs");
	kill_busy_child(true, "SIGKILL in a submit storm");

	/* a process killed while blocked in BO_WAIT on a hung job's BO */
	{
		const struct live before = live_quiet();
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open_npu(0);
			struct job j;
			struct stream hang;
			struct drm_edge_npu_bo_wait w = { .timeout_ns = INT64_MAX };

			if (fd < 0 || !job_init(&j, fd))
				_exit(1);
			s_job(&hang, true);
			job_submit(&j, &hang);
			w.handle = j.dst;
			for (;;)
				ioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &w);
		}
		usleep(100 * 1000);
		kill(pid, SIGKILL);
		CASE(reap(pid), "killed in BO_WAIT: gone");
		CASE_LIVE(live_settle(before), before, "killed in BO_WAIT");
	}
	/* one thread closes the file while another waits on it */
	{
		const struct live before = live_quiet();
		int fd = open_npu(0);
		struct job j;
		struct stream hang;
		struct blocked_wait w;
		pthread_t th;

		job_init(&j, fd);
		s_job(&hang, true);
		CASE_ERRNO(job_submit(&j, &hang), 0, "hung job");
		w = (struct blocked_wait){ .fd = fd, .bo = j.dst, .ret = 1 };
		pthread_create(&th, NULL, wait_thread, &w);
		usleep(50 * 1000);
		close(fd); /* the wait holds the file until it returns */
		pthread_join(th, NULL);
		CASE(w.ret == 0, "the wait across a close ends with the job: %d", w.ret);
		CASE_LIVE(live_settle(before), before, "close during a wait");
	}
	/* objects dropped under queued jobs: the jobs hold what they need */
	{
		const struct live before = live_quiet();
		int fd = open_npu(0);
		struct job j;
		struct stream hang, ok;
		uint32_t *in = NULL;

		job_init(&j, fd);
		in = bo_map(fd, j.src, 4096);
		s_job(&hang, true);
		s_job(&ok, false);
		CASE_ERRNO(job_submit(&j, &hang), 0, "hung job");
		for (int i = 0; i < 4; i++)
			CASE_ERRNO(job_submit(&j, &ok), 0, "queued job %d", i);
		if (in)
			munmap(in, 4096);
		gem_close(fd, j.src);
		gem_close(fd, j.dst);
		gem_close(fd, j.cmd);
		CASE_ERRNO(ctx_destroy(fd, j.ctx), 0, "destroy a context with queued jobs");
		CASE_ERRNO(sync_wait(fd, j.sync, 4 * timeout_ms + 5000), 0, "its last job ends");
		CASE(sync_status(fd, j.sync) == 1, "its last job succeeds: %d",
		     sync_status(fd, j.sync));
		drmSyncobjDestroy(fd, j.sync);
		close(fd);
		CASE_LIVE(live_settle(before), before, "objects dropped under jobs");
	}
	/* a CPU mapping outlives its handle and its file; it cannot grow past the BO */
	{
		const struct live before = live_quiet();
		int fd = open_npu(0);
		uint32_t h = bo_new(fd, 8192);
		uint32_t *p = bo_map(fd, h, 8192);
		void *q;

		CASE(p != NULL, "map");
		if (p) {
			p[0] = 0xfeedu;
			p[2047] = 0xbeefu;
			q = mremap(p, 8192, 4 * 8192, MREMAP_MAYMOVE);
			CASE(q == MAP_FAILED, "mremap past the BO");
			gem_close(fd, h);
			close(fd);
			CASE(p[0] == 0xfeedu && p[2047] == 0xbeefu,
			     "the mapping after its handle and file are gone");
			p[1] = 1; /* still writable: the pages are the mapping's */
			munmap(p, 8192);
		} else {
			close(fd);
		}
		CASE_LIVE(live_settle(before), before, "a mapping outliving its file");
	}
	/* a child that inherited the file submits on the parent's context and is killed */
	{
		const struct live before = live_quiet();
		int fd = open_npu(0), p[2];
		struct job j;
		struct stream ok;
		char c;
		pid_t pid;

		job_init(&j, fd);
		s_job(&ok, false);
		CASE(pipe(p) == 0, "pipe");
		pid = fork();
		if (pid == 0) {
			if (write(p[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				job_submit(&j, &ok);
		}
		CASE(read(p[0], &c, 1) == 1, "the child runs");
		usleep(50 * 1000);
		kill(pid, SIGKILL);
		CASE(reap(pid), "the child is gone");
		close(p[0]);
		close(p[1]);
		CASE_ERRNO(job_submit(&j, &ok), 0, "the shared context still works");
		CASE_ERRNO(sync_wait(fd, j.sync, 10000), 0, "and its job ends");
		CASE(sync_status(fd, j.sync) == 1, "ok: %d", sync_status(fd, j.sync));
		job_fini(&j);
		close(fd);
		CASE_LIVE(live_settle(before), before, "a killed child sharing the file");
	}
}

/* ---- faults ---------------------------------------------------------------------------------- */

/* Three clients, each a hung job then two jobs behind it, and a job on a second context. */
static void test_hung_clients(void)
{
	const struct live before = live_quiet();
	int fds[3];
	struct job hung[3], side[3];
	uint32_t after[3][2];
	struct stream hang, ok;

	s_job(&hang, true);
	s_job(&ok, false);
	for (int c = 0; c < 3; c++) {
		fds[c] = open_npu(0);
		job_init(&hung[c], fds[c]);
		job_init(&side[c], fds[c]);
		after[c][0] = syncobj_new(fds[c]);
		after[c][1] = syncobj_new(fds[c]);
		uint32_t *in = bo_map(fds[c], hung[c].src, 4096);

		for (int i = 0; in && i < 1024; i++)
			in[i] = (uint32_t)(c << 16 | i);
		if (in)
			munmap(in, 4096);
	}
	for (int c = 0; c < 3; c++) {
		CASE_ERRNO(job_submit(&hung[c], &hang), 0, "client %d hung job", c);
		for (int k = 0; k < 2; k++) {
			struct drm_edge_npu_submit a = job_args(&hung[c], &ok);

			a.out_sync = after[c][k];
			CASE_ERRNO(enpu_ioctl(fds[c], DRM_IOCTL_EDGE_NPU_SUBMIT, &a), 0,
				   "client %d job %d behind", c, k);
		}
		CASE_ERRNO(job_submit(&side[c], &ok), 0, "client %d side job", c);
	}
	for (int c = 0; c < 3; c++) {
		uint64_t limit = 3 * (4 * timeout_ms) + 5000;
		uint32_t *out;

		CASE_ERRNO(sync_wait(fds[c], hung[c].sync, limit), 0, "client %d hung job ends", c);
		CASE(sync_status(fds[c], hung[c].sync) == -ETIMEDOUT, "client %d hung: %d", c,
		     sync_status(fds[c], hung[c].sync));
		for (int k = 0; k < 2; k++) {
			CASE_ERRNO(sync_wait(fds[c], after[c][k], limit), 0, "client %d job %d", c,
				   k);
			CASE(sync_status(fds[c], after[c][k]) == 1, "client %d job %d: %d", c, k,
			     sync_status(fds[c], after[c][k]));
		}
		CASE_ERRNO(sync_wait(fds[c], side[c].sync, limit), 0, "client %d side job", c);
		CASE(sync_status(fds[c], side[c].sync) == 1, "client %d side: %d", c,
		     sync_status(fds[c], side[c].sync));
		out = bo_map(fds[c], hung[c].dst, 4096);
		CASE(out && out[0] == (uint32_t)(c << 16) && out[1023] == (uint32_t)(c << 16 | 1023),
		     "client %d: the jobs behind its hang copied its data", c);
		if (out)
			munmap(out, 4096);
	}
	for (int c = 0; c < 3; c++) {
		drmSyncobjDestroy(fds[c], after[c][0]);
		drmSyncobjDestroy(fds[c], after[c][1]);
		job_fini(&hung[c]);
		job_fini(&side[c]);
		close(fds[c]);
	}
	CASE_LIVE(live_settle(before), before, "after three hung clients");
}

/* Governors and bounds changed under load: every job completes, right, at whatever clock. */
static void test_devfreq_under_load(void)
{
	char govs[256], old_gov[64], old_poll[32], lo[32], hi[32], mid[32];
	volatile bool stop = false;
	struct copy_load l[3];
	int fd = open_npu(0), changes = 0;
	uint32_t ok = 0, bad = 0;

	if (read_str(DEVFREQ0 "available_governors", govs, sizeof(govs)) ||
	    read_str(DEVFREQ0 "governor", old_gov, sizeof(old_gov)) ||
	    read_str(DEVFREQ0 "polling_interval", old_poll, sizeof(old_poll))) {
		CASE(0, "no devfreq device");
		return;
	}
	snprintf(lo, sizeof(lo), "%d", 200000000);
	snprintf(mid, sizeof(mid), "%d", 600000000);
	snprintf(hi, sizeof(hi), "%d", 1000000000);
	for (int i = 0; i < 3; i++) {
		l[i] = (struct copy_load){ .fd = fd, .prio = DRM_EDGE_NPU_PRIORITY_NORMAL,
					   .tag = 100 + (uint32_t)i, .stop = &stop };
		pthread_create(&l[i].th, NULL, copy_load_run, &l[i]);
	}
	for (int round = 0; round < 8; round++) {
		char list[256], *save = NULL;
		static const char *const polls[] = { "10", "0", "50", "20" };

		snprintf(list, sizeof(list), "%s", govs);
		for (char *g = strtok_r(list, " ", &save); g; g = strtok_r(NULL, " ", &save)) {
			changes += write_str(DEVFREQ0 "governor", g) == 0;
			if (!strcmp(g, "userspace"))
				write_str(DEVFREQ0 "userspace/set_freq", mid);
			/* the governor's sampling stopped, fast and slow while jobs run */
			changes += write_str(DEVFREQ0 "polling_interval", polls[round % 4]) == 0;
			/* bounds moved, crossed and restored while jobs run */
			changes += write_str(DEVFREQ0 "max_freq", mid) == 0;
			write_str(DEVFREQ0 "min_freq", hi);
			usleep(30 * 1000);
			changes += write_str(DEVFREQ0 "min_freq", lo) == 0;
			changes += write_str(DEVFREQ0 "max_freq", hi) == 0;
			usleep(30 * 1000);
		}
	}
	stop = true;
	for (int i = 0; i < 3; i++) {
		pthread_join(l[i].th, NULL);
		ok += l[i].ok;
		bad += l[i].failed + l[i].lost + l[i].wrong;
	}
	write_str(DEVFREQ0 "governor", old_gov);
	write_str(DEVFREQ0 "polling_interval", old_poll);
	printf("  devfreq under load: %d knob writes (governors: %s), %u jobs ok, %u "
	       "failed/lost/wrong\n", changes, govs, ok, bad);
	CASE(changes >= 8 * 5, "%d knob writes took", changes);
	CASE(ok > 0 && bad == 0, "%u jobs ok, %u failed, lost or wrong", ok, bad);
	close(fd);
}

#define MANY_PROCS 4
#define MANY_THREADS 3
#define MANY_JOBS 150

/* One process of the many: its own file and threads; totals and fd counts to the pipe. */
static void many_process(int index, int pipe_w)
{
	int32_t res[6] = { 0 };
	struct copy_load l[MANY_THREADS];
	volatile bool stop = false;
	int fds0 = count_fds(), fd = open_npu(0);

	for (int i = 0; i < MANY_THREADS; i++) {
		l[i] = (struct copy_load){ .fd = fd, .prio = DRM_EDGE_NPU_PRIORITY_NORMAL,
					   .tag = (uint32_t)(index * MANY_THREADS + i),
					   .jobs = MANY_JOBS, .stop = &stop };
		pthread_create(&l[i].th, NULL, copy_load_run, &l[i]);
	}
	for (int i = 0; i < MANY_THREADS; i++) {
		pthread_join(l[i].th, NULL);
		res[0] += (int32_t)l[i].ok;
		res[1] += (int32_t)l[i].failed;
		res[2] += (int32_t)l[i].lost;
		res[3] += (int32_t)l[i].wrong;
	}
	close(fd);
	res[4] = fds0;
	res[5] = count_fds();
	if (write(pipe_w, res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(0);
}

static void test_many(void)
{
	const struct live before = live_quiet();
	const int fds0 = count_fds();
	int32_t total[4] = { 0 }, fd_changed = 0;
	int p[2];

	CASE(pipe(p) == 0, "pipe");
	for (int i = 0; i < MANY_PROCS; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			close(p[0]);
			many_process(i, p[1]);
		}
	}
	close(p[1]);
	for (int i = 0; i < MANY_PROCS; i++) {
		int32_t res[6];

		if (read(p[0], res, sizeof(res)) != sizeof(res))
			break;
		for (int k = 0; k < 4; k++)
			total[k] += res[k];
		fd_changed += res[4] != res[5];
	}
	close(p[0]);
	while (wait(NULL) > 0)
		;
	printf("  %d processes x %d threads x %d jobs: %d ok, %d failed, %d lost, %d wrong\n",
	       MANY_PROCS, MANY_THREADS, MANY_JOBS, total[0], total[1], total[2], total[3]);
	CASE(total[0] == MANY_PROCS * MANY_THREADS * MANY_JOBS && !total[1] && !total[2] &&
	     !total[3], "%d ok of %d", total[0], MANY_PROCS * MANY_THREADS * MANY_JOBS);
	CASE(fd_changed == 0, "%d processes ended with more or fewer fds than they began with",
	     fd_changed);
	CASE(count_fds() == fds0, "this process: %d fds, %d before", count_fds(), fds0);
	CASE_LIVE(live_settle(before), before, "after the many clients");
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	int fd, fd2, groups_failed = 0;
	struct live l;

	timeout_ms = arg_timeout_ms(argc, argv, timeout_ms);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	page = sysconf(_SC_PAGESIZE);
	fd = open_npu(0);
	fd2 = open_npu(0);
	g_guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	l = read_live();
	if (fd < 0 || fd2 < 0 || g_guard == MAP_FAILED || g_ro == MAP_FAILED) {
		printf("FAIL: no device\nenpu_hostile: 1 cases, 0 passed, 1 failed\n");
		return 1;
	}
	if (!l.dirs) {
		printf("FAIL: no debugfs \"live\" file of the driver\n"
		       "enpu_hostile: 1 cases, 0 passed, 1 failed\n");
		return 1;
	}
	mprotect(g_guard + page, page, PROT_NONE);
	g_bo = bo_new(fd, 4096);
	g_ctx = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	job_init(&g_job, fd);
	s_job(&g_copy, false);
	/* g_job.sync gets a fence: the in_syncs cases name it */
	if (job_submit(&g_job, &g_copy) || sync_wait(fd, g_job.sync, 10000))
		printf("FAIL: the first job\n");

#define GROUP(name, call)                                                                   \
	do {                                                                                \
		int f0 = n_fail, c0 = n_pass + n_fail;                                      \
		uint64_t t0 = now_ms();                                                     \
		call;                                                                       \
		printf("%s %-10s %4d cases, %.1f s\n", n_fail == f0 ? "ok  " : "FAIL", name, \
		       n_pass + n_fail - c0, (double)(now_ms() - t0) / 1e3);                \
		groups_failed += n_fail != f0;                                              \
	} while (0)
	GROUP("sizes", test_sizes(fd));
	GROUP("pointers", test_pointers(fd));
	GROUP("flags", test_flags(fd));
	GROUP("handles", test_handles(fd, fd2));
	GROUP("bounds", test_bounds(fd));
	GROUP("params", test_params(fd));
	GROUP("prime", test_prime(fd, fd2));
	GROUP("isolation", test_isolation());
	GROUP("exhaustion", test_exhaustion());
	GROUP("keep race", test_keep_race());
	GROUP("kill", test_kill());
	GROUP("hung", test_hung_clients());
	GROUP("devfreq", test_devfreq_under_load());
	GROUP("many", test_many());
	job_fini(&g_job);
	gem_close(fd, g_bo);
	ctx_destroy(fd, g_ctx);
	close(fd);
	close(fd2);
	GROUP("live", {
		const struct live zero = { 0 };

		l = live_settle(zero);
		CASE_LIVE(l, zero, "every client gone");
	});
	printf("enpu_hostile: %d cases, %d passed, %d failed (%d groups failed)\n",
	       n_pass + n_fail, n_pass, n_fail, groups_failed);
	return n_fail ? 1 : 0;
}
