/* SPDX-License-Identifier: MIT */
/*
 * npu_drm.c - the "npu-drm" backend: HAL ops as jobs of the edge_npu kernel driver. See
 * npu_drm.h.
 *
 * Threads: run(), prepare_weight() and release_weight() are serialised by one lock (one set of
 * staging BOs, one weight table; each job is waited for before the next).
 *
 * Priorities: the kernel orders the jobs of all processes by context priority, so the device
 * keeps one kernel context per priority level its ops were asked to run at (the session's
 * priority, hal priority(): negative LOW, 0 NORMAL, positive HIGH), created on first use.
 * HIGH needs CAP_SYS_NICE; without it those ops run at NORMAL (said once on stderr).
 *
 * Clocks: the scheduler's power manager's clock (hal freq_hint) goes with every job as its
 * SUBMIT clock request (DRM_EDGE_NPU_CAP_SUBMIT_FREQ), which the driver applies within the
 * admin's devfreq bounds when the job starts.
 *
 * Device memory: with a driver that has per-context address spaces (DRM_EDGE_NPU_CAP_VM_BIND)
 * every BO is mapped whole into each context's space when it is created (and into a context
 * created later, when it is), at the same address, the next free one of a bump allocator (2^47
 * bytes of space outlast any run), and unmapped before it is closed; a job names its buffers
 * by device address, so SUBMIT maps nothing. Each job is waited for before the next one
 * touches the staging BOs, so no implicit synchronisation is needed. With an older driver, jobs name the BOs by handle.
 */
#include "hal/npu_drm/npu_drm.h"
#include "hal/completion.h"
#include "hal/npu_host.h"
#include "uapi/drm/edge_npu_drm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xf86drm.h>

/* A BO, its CPU mapping and its device address (0: not mapped in the context's space). */
struct dbo {
	uint32_t handle;
	void *map;
	size_t size;
	uint64_t va;
};

/* A weight converted into a BO at load; found by its (new) data pointer = the mapping. */
struct dweight {
	struct dbo bo;
	void *orig_data;
};

/* The kernel contexts, one per DRM_EDGE_NPU_PRIORITY_* level. */
#define N_PRIO 3

struct npu_drm {
	struct hal_device base;
	struct hal_device_vtable vt; /* npu_drm_vtable, less what the driver cannot do */
	int fd;
	uint32_t ctx[N_PRIO]; /* by priority level; 0: not created yet */
	int32_t priority;     /* of the next ops (hal priority), any thread */
	uint64_t hint_hz;     /* the clock asked for the next jobs (hal freq_hint), any thread */
	bool submit_freq;     /* the driver takes a clock request (DRM_EDGE_NPU_CAP_SUBMIT_FREQ) */
	bool high_refused;    /* HIGH needs CAP_SYS_NICE: those ops run at NORMAL */
	uint32_t sync;
	bool vm_bind;     /* the driver has VM_BIND: buffers by device address */
	uint64_t next_va; /* the bump allocator of device addresses */
	char path[64];
	char devfreq[512]; /* its devfreq directory in sysfs ("" when it has none) */
	pthread_mutex_t lock;
	struct dbo cmd, act, out, wtmp;
	struct dweight *weights;
	uint32_t n_weights, cap_weights;
	struct drm_edge_npu_ctx_query last[N_PRIO]; /* counters already folded into base.stats */
};

static struct npu_drm *to_drm(struct hal_device *dev)
{
	return (struct npu_drm *)dev;
}

/* ioctl returning 0 or -errno */
static int xioctl(int fd, unsigned long req, void *arg)
{
	return drmIoctl(fd, req, arg) ? -errno : 0;
}

/* ---- device nodes ------------------------------------------------------------------------ */

int npu_drm_open_node(uint32_t index, char *path, size_t path_len)
{
	uint32_t found = 0;

	for (int kind = 0; kind < 2; kind++) {
		for (int minor = 0; minor < 64; minor++) {
			char p[64];
			drmVersionPtr v;
			bool ours;
			int fd;

			if (kind == 0)
				snprintf(p, sizeof(p), "/dev/accel/accel%d", minor);
			else
				snprintf(p, sizeof(p), "%s/renderD%d", DRM_DIR_NAME, 128 + minor);
			fd = open(p, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				continue;
			v = drmGetVersion(fd);
			ours = v && v->name && !strcmp(v->name, "edge_npu");
			drmFreeVersion(v);
			if (ours && found++ == index) {
				if (path)
					snprintf(path, path_len, "%s", p);
				return fd;
			}
			close(fd);
		}
	}
	return -ENODEV;
}

/* ---- BOs --------------------------------------------------------------------------------- */

static void dbo_free(struct npu_drm *d, struct dbo *b)
{
	for (int l = 0; b->va && l < N_PRIO; l++) {
		struct drm_edge_npu_vm_bind u = { .ctx = d->ctx[l], .op = DRM_EDGE_NPU_VM_UNMAP,
						  .addr = b->va, .size = b->size };

		if (d->ctx[l])
			drmIoctl(d->fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &u);
	}
	if (b->map)
		munmap(b->map, b->size);
	if (b->handle) {
		struct drm_gem_close c = { .handle = b->handle };

		drmIoctl(d->fd, DRM_IOCTL_GEM_CLOSE, &c);
	}
	memset(b, 0, sizeof(*b));
}

/* Maps all of b, at b->va, into the space of context ctx. */
static int dbo_map(struct npu_drm *d, uint32_t ctx, const struct dbo *b)
{
	struct drm_edge_npu_vm_bind m = {
		.ctx = ctx, .op = DRM_EDGE_NPU_VM_MAP, .handle = b->handle,
		.flags = DRM_EDGE_NPU_BO_READ | DRM_EDGE_NPU_BO_WRITE, .addr = b->va,
		.size = b->size,
	};

	return xioctl(d->fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &m);
}

/* Maps all of b into every context's space at the next free device address. */
static int dbo_bind(struct npu_drm *d, struct dbo *b)
{
	int ret = 0;

	if (b->size > DRM_EDGE_NPU_VA_USER_END - d->next_va)
		return -ENOSPC;
	b->va = d->next_va;
	d->next_va += b->size;
	for (int l = 0; l < N_PRIO && !ret; l++)
		if (d->ctx[l])
			ret = dbo_map(d, d->ctx[l], b);
	return ret; /* on failure dbo_free() unmaps what was mapped (UNMAP of nothing: ENOENT) */
}

static int dbo_create(struct npu_drm *d, size_t size, struct dbo *b)
{
	struct drm_edge_npu_bo_create c = { .size = size };
	struct drm_edge_npu_bo_mmap_offset m = { 0 };
	int fd = d->fd, ret;

	memset(b, 0, sizeof(*b));
	ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);
	if (ret)
		return ret;
	b->handle = c.handle;
	b->size = c.actual_size;
	m.handle = c.handle;
	ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &m);
	if (!ret) {
		b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, m.offset);
		if (b->map == MAP_FAILED) {
			b->map = NULL;
			ret = -errno;
		}
	}
	if (!ret && d->vm_bind)
		ret = dbo_bind(d, b);
	if (ret)
		dbo_free(d, b);
	return ret;
}

/* Makes b at least size bytes (contents not kept); grows by powers of two. */
static int dbo_ensure(struct npu_drm *d, struct dbo *b, size_t size)
{
	size_t want = 4096;

	if (b->handle && b->size >= size)
		return 0;
	while (want < size)
		want *= 2;
	dbo_free(d, b);
	return dbo_create(d, want, b);
}

/* A job's buffer list entry for b: its device address range, or its handle. */
static struct drm_edge_npu_bo_ref dbo_ref(const struct npu_drm *d, const struct dbo *b,
					  uint32_t access)
{
	if (d->vm_bind)
		return (struct drm_edge_npu_bo_ref){ .flags = access | DRM_EDGE_NPU_BO_VA,
						     .addr = b->va, .size = b->size };
	return (struct drm_edge_npu_bo_ref){ .handle = b->handle, .flags = access };
}

/* ---- ops --------------------------------------------------------------------------------- */

static bool drm_supports(struct hal_device *dev, const struct hal_op *op)
{
	return npu_matmul_op_ok(dev, op);
}

static struct dweight *find_weight(struct npu_drm *d, const void *data)
{
	for (uint32_t i = 0; i < d->n_weights; i++)
		if (d->weights[i].bo.map == data)
			return &d->weights[i];
	return NULL;
}

/* A job's longest wait: far past the module's job timeout, which ends any job. */
#define JOB_WAIT_MS 60000

int npu_drm_wait_syncobj(int fd, uint32_t sync, int timeout_ms)
{
	int sf;

	if (drmSyncobjExportSyncFile(fd, sync, &sf) == 0) {
		enum hal_status st = hal_completion_wait(sf, timeout_ms);

		close(sf);
		if (st == HAL_OK)
			return 0;
		errno = ETIME;
		return -1;
	}
	int64_t deadline = timeout_ms < 0 ? INT64_MAX
					  : (int64_t)(hal_now_ns() + timeout_ms * 1000000ull);

	return drmSyncobjWait(fd, &sync, 1, deadline, 0, NULL) ? -1 : 0;
}

static void drm_destroy_ctx(struct npu_drm *d, uint32_t ctx)
{
	struct drm_edge_npu_ctx_destroy cd = { .handle = ctx };

	drmIoctl(d->fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd);
}

/*
 * Creates the kernel context of priority level l, with every BO of the device mapped into its
 * space (VM_BIND) at the addresses they have in the others'.
 */
static int drm_create_ctx(struct npu_drm *d, uint32_t l)
{
	struct drm_edge_npu_ctx_create cc = { .priority = l };
	const struct dbo *bos[] = { &d->cmd, &d->act, &d->out, &d->wtmp };
	int ret = xioctl(d->fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc);

	for (size_t i = 0; !ret && d->vm_bind && i < sizeof(bos) / sizeof(bos[0]); i++)
		if (bos[i]->va)
			ret = dbo_map(d, cc.handle, bos[i]);
	for (uint32_t i = 0; !ret && d->vm_bind && i < d->n_weights; i++)
		ret = dbo_map(d, cc.handle, &d->weights[i].bo);
	if (ret) {
		if (cc.handle)
			drm_destroy_ctx(d, cc.handle); /* its mappings go with it */
		return ret;
	}
	d->ctx[l] = cc.handle;
	d->last[l] = (struct drm_edge_npu_ctx_query){ .handle = cc.handle };
	return 0;
}

/*
 * The context level of the next job: the priority asked (hal priority) as a kernel level,
 * created on first use; NORMAL when HIGH is refused (no CAP_SYS_NICE) or another level cannot
 * be created.
 */
static uint32_t drm_prio_level(struct npu_drm *d)
{
	int32_t p = __atomic_load_n(&d->priority, __ATOMIC_RELAXED);
	uint32_t l = p < 0 ? DRM_EDGE_NPU_PRIORITY_LOW
			   : p > 0 ? DRM_EDGE_NPU_PRIORITY_HIGH : DRM_EDGE_NPU_PRIORITY_NORMAL;
	int ret;

	if (d->ctx[l] || (l == DRM_EDGE_NPU_PRIORITY_HIGH && d->high_refused))
		return d->ctx[l] ? l : DRM_EDGE_NPU_PRIORITY_NORMAL;
	ret = drm_create_ctx(d, l);
	if (ret == -EACCES && l == DRM_EDGE_NPU_PRIORITY_HIGH) {
		d->high_refused = true;
		fprintf(stderr, "edge-npu: npu-drm: %s: a high-priority session's jobs run at "
			"NORMAL priority (HIGH needs CAP_SYS_NICE)\n", d->path);
	}
	return ret ? DRM_EDGE_NPU_PRIORITY_NORMAL : l;
}

/* Submits the stream over refs, waits, and folds the context's counters into the stats. */
static enum hal_status submit_wait(struct npu_drm *d, struct npu_stream *s,
				   struct drm_edge_npu_bo_ref *refs, uint32_t nrefs,
				   const char *what)
{
	const uint32_t l = drm_prio_level(d);
	struct drm_edge_npu_submit sub = { 0 };
	struct drm_edge_npu_ctx_query q = { .handle = d->ctx[l] };
	const uint64_t hint = __atomic_load_n(&d->hint_hz, __ATOMIC_RELAXED);
	enum hal_status st = npu_stream_finish(s);
	int ret;

	if (st != HAL_OK)
		return hal_device_fail(&d->base, st, "%s: out of memory building the stream", what);
	if (dbo_ensure(d, &d->cmd, s->len))
		return hal_device_fail(&d->base, HAL_ERR_NOMEM, "%s: no BO for the stream", what);
	memcpy(d->cmd.map, s->data, s->len);

	sub.ctx = d->ctx[l];
	sub.cmd_bo = d->cmd.handle;
	sub.cmd_size = (uint32_t)s->len;
	sub.num_bos = nrefs;
	sub.bos = (uintptr_t)refs;
	sub.bo_ref_size = sizeof(*refs);
	sub.out_sync = d->sync;
	/* within the device's operating points (the hint is one of available_frequencies) */
	if (d->submit_freq && hint)
		sub.freq_khz = (uint32_t)(hint / 1000);
	ret = xioctl(d->fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sub);
	if (ret == -EINVAL && sub.error_code)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "%s: npu command %u refused: %s",
				       what, sub.error_cmd, npu_error_name(sub.error_code));
	if (ret)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "%s: submit: %s", what,
				       strerror(-ret));

	if (npu_drm_wait_syncobj(d->fd, d->sync, JOB_WAIT_MS))
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "%s: waiting for the job: %s",
				       what, strerror(errno));
	ret = xioctl(d->fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q);
	if (ret)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "%s: context query: %s", what,
				       strerror(-ret));
	d->base.stats.modeled_ns += q.modeled_ns - d->last[l].modeled_ns;
	d->base.stats.modeled_energy_pj += q.energy_pj - d->last[l].energy_pj;
	if (q.errors != d->last[l].errors) {
		d->last[l] = q;
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "%s: the job failed: %s%s", what,
				       strerror(-q.last_error),
				       q.last_error == -ETIMEDOUT ? " (engine reset)" : "");
	}
	d->last[l] = q;
	return HAL_OK;
}

static enum hal_status run_matmul(struct npu_drm *d, const struct hal_op *op)
{
	const struct hal_tensor *w = op->src[0], *x = op->src[1];
	uint32_t k = w->ne[0], n = w->ne[1], m = x->ne[1];
	size_t wrow = npu_weight_row_bytes(w->type, k), arow = npu_act_row_bytes(k);
	size_t orow = npu_i32b_row_bytes(n);
	const struct dweight *nw = w->owner ? find_weight(d, w->data) : NULL;
	struct drm_edge_npu_bo_ref refs[3];
	const struct dbo *wbo;
	uint32_t idx[3];
	enum hal_status st;
	struct npu_stream s;

	if (w->owner && !nw)
		return hal_device_fail(&d->base, HAL_ERR_INVALID,
				       "'%s': weights not prepared by this device", w->name);
	if (nw) {
		wbo = &nw->bo;
	} else {
		if (dbo_ensure(d, &d->wtmp, wrow * n))
			return hal_device_fail(&d->base, HAL_ERR_NOMEM,
					       "'%s': no BO for the weights", op->dst->name);
		npu_convert_weights(w->type, w->data, k, n, d->wtmp.map, NULL);
		wbo = &d->wtmp;
	}
	if (dbo_ensure(d, &d->act, arow * m) || dbo_ensure(d, &d->out, orow * m))
		return hal_device_fail(&d->base, HAL_ERR_NOMEM, "'%s': no BOs for activations",
				       op->dst->name);
	npu_quantize_act_rows(x->data, m, k, d->act.map);

	/* The builder's buffer list is only used for indices here: the kernel's list is refs. */
	npu_stream_begin(&s);
	npu_stream_matmul_f32(&s, npu_weight_dtype(w->type), NULL, 0, NULL, NULL, m, n, k, idx);
	/* a builder out of memory hands back UINT32_MAX: never index refs with it */
	if (idx[0] >= 3 || idx[1] >= 3 || idx[2] >= 3) {
		npu_stream_free(&s);
		return hal_device_fail(&d->base, HAL_ERR_NOMEM,
				       "'%s': out of memory building the stream", op->dst->name);
	}
	refs[idx[0]] = dbo_ref(d, wbo, DRM_EDGE_NPU_BO_READ);
	refs[idx[1]] = dbo_ref(d, &d->act, DRM_EDGE_NPU_BO_READ);
	refs[idx[2]] = dbo_ref(d, &d->out, DRM_EDGE_NPU_BO_WRITE);
	st = submit_wait(d, &s, refs, 3, op->dst->name);
	npu_stream_free(&s);
	if (st != HAL_OK)
		return st;
	npu_dequantize_i32b_rows(d->out.map, m, n, op->dst->data);
	return HAL_OK;
}

static enum hal_status drm_run(struct hal_device *dev, const struct hal_op *op)
{
	struct npu_drm *d = to_drm(dev);
	uint64_t t0 = hal_now_ns();
	enum hal_status st;
	char msg[160];

	if (hal_op_check(op, msg, sizeof(msg)) != HAL_OK)
		return hal_device_fail(dev, HAL_ERR_INVALID, "%s", msg);
	if (!drm_supports(dev, op))
		return hal_device_fail(dev, HAL_ERR_UNSUPPORTED,
				       "%s '%s': not supported by the NPU", hal_op_name(op->kind),
				       op->dst->name);
	pthread_mutex_lock(&d->lock);
	st = run_matmul(d, op);
	if (st == HAL_OK) {
		dev->stats.ops++;
		dev->stats.busy_ns += hal_now_ns() - t0;
	}
	pthread_mutex_unlock(&d->lock);
	return st;
}

static enum hal_status drm_prepare_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct npu_drm *d = to_drm(dev);
	enum hal_status st = HAL_OK;
	struct dbo bo;
	size_t bytes;

	if (w->owner || !w->data || !npu_matmul_weight_ok(w))
		return HAL_OK; /* not ours to run: stays as the file holds it, for the CPU */
	bytes = npu_weight_row_bytes(w->type, w->ne[0]) * w->ne[1];
	pthread_mutex_lock(&d->lock);
	if (d->n_weights == d->cap_weights) {
		uint32_t cap = d->cap_weights ? 2 * d->cap_weights : 64;
		struct dweight *nw = realloc(d->weights, cap * sizeof(*nw));

		if (!nw) {
			st = hal_device_fail(dev, HAL_ERR_NOMEM, "'%s': out of memory", w->name);
			goto out;
		}
		d->weights = nw;
		d->cap_weights = cap;
	}
	if (dbo_create(d, bytes, &bo)) {
		st = hal_device_fail(dev, HAL_ERR_NOMEM, "'%s': no BO for %zu bytes of NPU weights",
				     w->name, bytes);
		goto out;
	}
	st = npu_convert_weights(w->type, w->data, w->ne[0], w->ne[1], bo.map, NULL);
	if (st != HAL_OK) {
		dbo_free(d, &bo);
		hal_device_fail(dev, st, "'%s': cannot convert to the NPU layout", w->name);
		goto out;
	}
	d->weights[d->n_weights++] = (struct dweight){ bo, w->data };
	w->data = bo.map;
	w->owner = dev;
out:
	pthread_mutex_unlock(&d->lock);
	return st;
}

static void drm_release_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct npu_drm *d = to_drm(dev);
	struct dweight *nw;

	pthread_mutex_lock(&d->lock);
	nw = w->owner == dev ? find_weight(d, w->data) : NULL;
	if (nw) {
		w->data = nw->orig_data;
		w->owner = NULL;
		dbo_free(d, &nw->bo);
		*nw = d->weights[--d->n_weights];
	}
	pthread_mutex_unlock(&d->lock);
}

static void drm_destroy(struct hal_device *dev)
{
	struct npu_drm *d = to_drm(dev);

	for (uint32_t i = 0; i < d->n_weights; i++)
		dbo_free(d, &d->weights[i].bo);
	free(d->weights);
	dbo_free(d, &d->cmd);
	dbo_free(d, &d->act);
	dbo_free(d, &d->out);
	dbo_free(d, &d->wtmp);
	if (d->sync)
		drmSyncobjDestroy(d->fd, d->sync);
	for (int l = 0; l < N_PRIO; l++)
		if (d->ctx[l])
			drm_destroy_ctx(d, d->ctx[l]);
	close(d->fd);
	pthread_mutex_destroy(&d->lock);
	free(d);
	hal_completion_put();
}

/*
 * The devfreq directory of the device behind the node: the node's parent device holds its
 * devfreq device as a child (/sys/class/devfreq/edge-npu.0 on the module's platform device).
 */
static void find_devfreq(struct npu_drm *d)
{
	struct stat st;
	char dir[128];
	DIR *dp;
	struct dirent *e;

	if (fstat(d->fd, &st) || !S_ISCHR(st.st_mode))
		return;
	snprintf(dir, sizeof(dir), "/sys/dev/char/%u:%u/device/devfreq", major(st.st_rdev),
		 minor(st.st_rdev));
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.') {
			snprintf(d->devfreq, sizeof(d->devfreq), "%s/%s", dir, e->d_name);
			break;
		}
	closedir(dp);
}

static const char *drm_devfreq_dir(struct hal_device *dev)
{
	return to_drm(dev)->devfreq[0] ? to_drm(dev)->devfreq : NULL;
}

/* The power manager's clock for the next jobs: each one's SUBMIT asks for it. */
static void drm_freq_hint(struct hal_device *dev, uint64_t hz)
{
	__atomic_store_n(&to_drm(dev)->hint_hz, hz, __ATOMIC_RELAXED);
}

static void drm_priority(struct hal_device *dev, int32_t priority)
{
	__atomic_store_n(&to_drm(dev)->priority, priority, __ATOMIC_RELAXED);
}

static const struct hal_device_vtable npu_drm_vtable = {
	.destroy = drm_destroy,
	.supports = drm_supports,
	.run = drm_run,
	.prepare_weight = drm_prepare_weight,
	.release_weight = drm_release_weight,
	.devfreq_dir = drm_devfreq_dir,
	.freq_hint = drm_freq_hint,
	.priority = drm_priority,
};

int npu_drm_export(struct hal_device *dev, uint32_t handle)
{
	int fd;

	if (drmPrimeHandleToFD(to_drm(dev)->fd, handle, DRM_CLOEXEC | DRM_RDWR, &fd))
		return -errno;
	return fd;
}

int npu_drm_import(struct hal_device *dev, int dmabuf_fd, uint32_t *out_handle)
{
	return drmPrimeFDToHandle(to_drm(dev)->fd, dmabuf_fd, out_handle) ? -errno : 0;
}

int npu_drm_fd(struct hal_device *dev)
{
	return to_drm(dev)->fd;
}

static enum hal_status npu_drm_create(const struct hal_device_options *opts,
				      struct hal_device **out_dev, char *err, size_t err_len)
{
	const char *sel = opts ? opts->select : NULL;
	struct drm_edge_npu_get_param p = { .param = DRM_EDGE_NPU_PARAM_ISA_VERSION };
	struct npu_drm *d;
	int fd, ret;

	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, err_len, "npu-drm: out of memory");
		return HAL_ERR_NOMEM;
	}
	if (sel && sel[0] == '/') {
		fd = open(sel, O_RDWR | O_CLOEXEC);
		fd = fd < 0 ? -errno : fd;
		snprintf(d->path, sizeof(d->path), "%s", sel);
	} else {
		fd = npu_drm_open_node(sel && *sel ? (uint32_t)strtoul(sel, NULL, 10) : 0, d->path,
				       sizeof(d->path));
	}
	if (fd < 0) {
		snprintf(err, err_len,
			 "npu-drm: no edge_npu device node%s%s (%s; is the edge_npu kernel module "
			 "loaded? see kmod/README.md)", sel ? " " : "", sel ? sel : "",
			 strerror(-fd));
		free(d);
		return HAL_ERR_DEVICE;
	}
	d->fd = fd;
	ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p);
	if (ret || p.value != ENPU_ISA_VERSION) {
		snprintf(err, err_len, "npu-drm: %s: not an edge_npu ISA %u device (%s)", d->path,
			 ENPU_ISA_VERSION, ret ? strerror(-ret) : "version mismatch");
		close(fd);
		free(d);
		return HAL_ERR_DEVICE;
	}
	p = (struct drm_edge_npu_get_param){ .param = DRM_EDGE_NPU_PARAM_CAPABILITIES };
	if (!xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p)) {
		d->vm_bind = p.value & DRM_EDGE_NPU_CAP_VM_BIND;
		d->submit_freq = p.value & DRM_EDGE_NPU_CAP_SUBMIT_FREQ;
	}
	/* the NORMAL context now (the device's own check); the others when first asked for */
	ret = drm_create_ctx(d, DRM_EDGE_NPU_PRIORITY_NORMAL);
	if (!ret && drmSyncobjCreate(fd, 0, &d->sync))
		ret = -errno;
	if (ret) {
		snprintf(err, err_len, "npu-drm: %s: cannot create a context: %s", d->path,
			 strerror(-ret));
		if (d->ctx[DRM_EDGE_NPU_PRIORITY_NORMAL])
			drm_destroy_ctx(d, d->ctx[DRM_EDGE_NPU_PRIORITY_NORMAL]);
		close(fd);
		free(d);
		return HAL_ERR_DEVICE;
	}
	d->next_va = 1ull << 32; /* any address of the user half; clear of page 0 */
	find_devfreq(d);
	pthread_mutex_init(&d->lock, NULL);
	d->vt = npu_drm_vtable;
	if (!d->submit_freq)
		d->vt.freq_hint = NULL; /* an older module takes no clock request */
	d->base.vt = &d->vt;
	d->base.name = "npu-drm";
	d->base.cls = HAL_CLASS_NPU;
	hal_completion_get(); /* its jobs are waited for on the process's ring */
	*out_dev = &d->base;
	return HAL_OK;
}

const struct hal_backend hal_backend_npu_drm = {
	.name = "npu-drm",
	.description = "NPU through the edge_npu kernel driver (render/accel node, libdrm)",
	.cls = HAL_CLASS_NPU,
	.create = npu_drm_create,
};
