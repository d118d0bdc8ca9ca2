/* SPDX-License-Identifier: MIT */
/*
 * npu_sim.c - the in-process NPU: the shared engine behind the HAL vtable. See npu_sim.h.
 *
 * Threads: the application thread(s) call the vtable; run() is serialised by run_lock (one
 * scratch area, one weight table). The worker thread is the only one that runs the engine;
 * elock guards the engine and the DVFS state against the few other readers (counters,
 * release_weight's residency drop). The queue has its own lock so that submit never waits
 * for a running job.
 *
 * Op coverage (supports()): only MATMUL. SWIGLU and ADD could be expressed in the ISA (LUT
 * SiLU + int8 MUL, int8 ADD), but they need per-tensor int8 activations, which lose ~0.4% of
 * each tensor's range per element (test_npu_engine's SwiGLU pipeline: max error ~1-2% of the
 * output range); the residual ADD in int8 would round the residual stream itself every layer.
 * Both cost four boundary conversions for a few thousand element operations, so they stay on
 * the CPU, where they are exact and cheap.
 */
#include "hal/npu/npu_sim.h"
#include "hal/npu_host.h"
#include "hal/telemetry.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

struct npu_fence {
	atomic_int refs;
	atomic_bool signalled;
	int efd;
	uint64_t seqno;
	/* written by the worker before signalled is set */
	enum hal_status result;
	struct npu_status st;
	struct npu_job_stats js;
};

struct npu_job {
	struct npu_job *next;
	void *stream;
	size_t len;
	struct npu_buffer *bufs;
	uint32_t nbufs;
	struct npu_fence *fence;
};

/* A weight converted to the NPU layout at load; looked up by its (new) data pointer. */
struct npu_weight {
	void *npu_data;
	void *orig_data;
	uint64_t id;
};

struct npu_sim {
	struct hal_device base;

	pthread_mutex_t qlock; /* queue, stop, seqno */
	pthread_cond_t qcond;
	struct npu_job *head, *tail;
	bool stop;
	uint64_t seqno;
	pthread_t worker;

	pthread_mutex_t elock; /* engine and sysfs */
	struct npu_engine engine;
	struct npu_sysfs sysfs;
	uint64_t engine_busy_ns; /* telemetry: host time the engine ran jobs (worker only) */
	/* runtime PM, as the kernel driver's: powered off NPU_AUTOSUSPEND_NS after the last job */
	bool powered;
	uint64_t last_job_end_ns;
	atomic_uint queued;      /* telemetry: jobs submitted and not yet finished */
	atomic_uint_fast64_t weight_bytes; /* telemetry: NPU-layout weights held */

	pthread_mutex_t run_lock; /* run(), prepare/release_weight */
	struct npu_weight *weights;
	uint32_t n_weights, cap_weights;
	uint64_t next_id;
	uint8_t *scratch;
	size_t scratch_cap;
	uint64_t energy_fj_rem;
};

static struct npu_sim *to_sim(struct hal_device *dev)
{
	return (struct npu_sim *)dev;
}

/* ---- fences ------------------------------------------------------------------------------- */

static struct npu_fence *fence_new(void)
{
	struct npu_fence *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->efd < 0) {
		free(f);
		return NULL;
	}
	atomic_init(&f->refs, 2); /* the submitter's and the job's */
	atomic_init(&f->signalled, false);
	return f;
}

void npu_fence_put(struct npu_fence *f)
{
	if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
		close(f->efd);
		free(f);
	}
}

static void fence_signal(struct npu_fence *f)
{
	uint64_t one = 1;

	atomic_store_explicit(&f->signalled, true, memory_order_release);
	/* cannot fail: the counter is far from overflow and the fd is ours */
	if (write(f->efd, &one, sizeof(one)) != sizeof(one))
		(void)0;
	npu_fence_put(f);
}

int npu_fence_fd(const struct npu_fence *f)
{
	return f->efd;
}

uint64_t npu_fence_seqno(const struct npu_fence *f)
{
	return f->seqno;
}

bool npu_fence_signalled(const struct npu_fence *f)
{
	return atomic_load_explicit(&f->signalled, memory_order_acquire);
}

enum hal_status npu_fence_wait(struct npu_fence *f, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (!npu_fence_signalled(f)) {
		struct pollfd p = { .fd = f->efd, .events = POLLIN };
		int left = -1;

		if (timeout_ms >= 0) {
			uint64_t t = hal_now_ns();
			if (t >= deadline)
				return HAL_ERR_DEVICE;
			left = (int)((deadline - t + 999999) / 1000000);
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return HAL_ERR_DEVICE;
	}
	return HAL_OK;
}

enum hal_status npu_fence_result(const struct npu_fence *f, struct npu_status *st,
				 struct npu_job_stats *js)
{
	if (!npu_fence_signalled(f))
		return HAL_ERR_INVALID;
	if (st)
		*st = f->st;
	if (js)
		*js = f->js;
	return f->result;
}

/* ---- the queue and the worker ------------------------------------------------------------- */

static void job_free(struct npu_job *j)
{
	free(j->stream);
	free(j->bufs);
	free(j);
}

/*
 * The engine's view for npu-top (hal/telemetry.h): a few stores into shared memory after each
 * job, so that another process sees the device without stopping it. Called with elock held.
 */
static void publish_engine(struct npu_sim *d, const struct npu_counters *c, uint64_t now)
{
	unsigned int queued = atomic_load(&d->queued);
	struct hal_telem_engine e = {
		.engine_busy_ns = d->engine_busy_ns,
		.jobs = c->jobs,
		.jobs_failed = c->errors,
		.resets = c->stalls, /* every stall resets the engine */
		.cycles = c->busy_cycles,
		.energy_pj = c->energy_pj,
		.cur_freq_hz = (uint64_t)npu_opp_table[d->engine.opp].freq_mhz * 1000000ull,
		.min_freq_hz = d->sysfs.min_hz,
		.max_freq_hz = d->sysfs.max_hz,
		.mem_bytes = atomic_load(&d->weight_bytes),
		.last_job_ns = now,
		.power = !d->powered ? HAL_TELEM_POWER_OFF
			 : queued    ? HAL_TELEM_POWER_ACTIVE
				     : HAL_TELEM_POWER_IDLE,
		.queue_depth = queued,
		.governor = npu_governor_name(d->sysfs.gov),
	};

	hal_telem_update_engine(&d->base, &e);
}

/* Runs one job on the engine at the operating point the DVFS policy picks now. */
static void run_job(struct npu_sim *d, struct npu_job *j)
{
	struct npu_fence *f = j->fence;
	uint64_t t0 = hal_now_ns(), t1;
	struct npu_counters total;
	uint32_t opp;
	int rc;

	pthread_mutex_lock(&d->elock);
	if (!d->powered) { /* resumed: its SRAM starts empty after a suspend */
		d->powered = true;
		publish_engine(d, &d->engine.total, t0);
	}
	opp = npu_sysfs_pick_opp(&d->sysfs, t0);
	if (opp != d->engine.opp && npu_engine_set_opp(&d->engine, opp) == 0)
		npu_sysfs_set_opp(&d->sysfs, opp, t0);
	rc = npu_engine_run(&d->engine, j->stream, j->len, j->bufs, j->nbufs, &f->js, &f->st);
	/* the hardware would hang until the job timeout; the engine says so at once */
	if (rc == -ENPU_ERR_STALLED)
		npu_engine_reset(&d->engine);
	total = d->engine.total;
	d->engine_busy_ns += hal_now_ns() - t0;
	pthread_mutex_unlock(&d->elock);

	f->result = rc ? HAL_ERR_DEVICE : HAL_OK;
	fence_signal(f);
	job_free(j);

	/* housekeeping after the signal, so that it never delays the waiter */
	t1 = hal_now_ns();
	pthread_mutex_lock(&d->elock);
	npu_sysfs_job_done(&d->sysfs, t1 - t0, &total, t1, false);
	atomic_fetch_sub(&d->queued, 1);
	publish_engine(d, &total, t1);
	pthread_mutex_unlock(&d->elock);
	d->last_job_end_ns = t1;
}

/*
 * Runtime PM: the kernel driver's default autosuspend delay. Suspending powers the engine off
 * as the driver does: its SRAM forgets the resident weights, which the next job loads again
 * (the engine's model counts that traffic), and npu-top shows the device off.
 */
#define NPU_AUTOSUSPEND_NS (100 * 1000000ull)

static void suspend(struct npu_sim *d)
{
	pthread_mutex_lock(&d->elock);
	npu_engine_reset(&d->engine);
	d->powered = false;
	publish_engine(d, &d->engine.total, hal_now_ns());
	pthread_mutex_unlock(&d->elock);
}

static void *worker_main(void *arg)
{
	struct npu_sim *d = arg;

	for (;;) {
		struct npu_job *j;

		pthread_mutex_lock(&d->qlock);
		while (!d->head && !d->stop) {
			/* worker-only state: read without elock */
			const uint64_t due = d->last_job_end_ns + NPU_AUTOSUSPEND_NS;
			struct timespec ts = { (time_t)(due / 1000000000ull),
					       (long)(due % 1000000000ull) };

			if (!d->powered) {
				pthread_cond_wait(&d->qcond, &d->qlock);
			} else if (pthread_cond_timedwait(&d->qcond, &d->qlock, &ts) == ETIMEDOUT &&
				   !d->head && !d->stop) {
				pthread_mutex_unlock(&d->qlock);
				suspend(d);
				pthread_mutex_lock(&d->qlock);
			}
		}
		j = d->head;
		if (j) {
			d->head = j->next;
			if (!d->head)
				d->tail = NULL;
		}
		pthread_mutex_unlock(&d->qlock);
		if (!j)
			return NULL; /* stopped with an empty queue */
		run_job(d, j);
	}
}

enum hal_status npu_sim_submit(struct hal_device *dev, const void *stream, size_t len,
			       const struct npu_buffer *bufs, uint32_t nbufs,
			       struct npu_fence **out_fence)
{
	struct npu_sim *d = to_sim(dev);
	struct npu_job *j = calloc(1, sizeof(*j));
	enum hal_status st = HAL_ERR_NOMEM;

	*out_fence = NULL;
	if (!j)
		return st;
	j->stream = malloc(len ? len : 1);
	j->bufs = malloc((nbufs ? nbufs : 1) * sizeof(*bufs));
	j->fence = fence_new();
	if (!j->stream || !j->bufs || !j->fence)
		goto fail;
	memcpy(j->stream, stream, len);
	if (nbufs)
		memcpy(j->bufs, bufs, nbufs * sizeof(*bufs));
	j->len = len;
	j->nbufs = nbufs;

	pthread_mutex_lock(&d->qlock);
	if (d->stop) {
		pthread_mutex_unlock(&d->qlock);
		st = HAL_ERR_DEVICE;
		goto fail;
	}
	j->fence->seqno = ++d->seqno;
	atomic_fetch_add(&d->queued, 1);
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	*out_fence = j->fence;
	pthread_cond_signal(&d->qcond);
	pthread_mutex_unlock(&d->qlock);
	return HAL_OK;
fail:
	if (j->fence) {
		npu_fence_put(j->fence);
		npu_fence_put(j->fence);
	}
	job_free(j);
	return st;
}

/* ---- telemetry ---------------------------------------------------------------------------- */

void npu_sim_counters(struct hal_device *dev, struct npu_counters *out)
{
	struct npu_sim *d = to_sim(dev);

	pthread_mutex_lock(&d->elock);
	*out = d->engine.total;
	pthread_mutex_unlock(&d->elock);
}

uint32_t npu_sim_opp(struct hal_device *dev)
{
	struct npu_sim *d = to_sim(dev);
	uint32_t opp;

	pthread_mutex_lock(&d->elock);
	opp = d->engine.opp;
	pthread_mutex_unlock(&d->elock);
	return opp;
}

const char *npu_sim_sysfs_path(struct hal_device *dev)
{
	struct npu_sim *d = to_sim(dev);

	return d->sysfs.dirfd >= 0 ? d->sysfs.path : "";
}

/* The job's modeled figures into the HAL totals; energy summed in fJ so nothing is lost. */
static void account(struct npu_sim *d, const struct npu_job_stats *js)
{
	d->energy_fj_rem += js->energy_fj;
	d->base.stats.modeled_energy_pj += d->energy_fj_rem / 1000;
	d->energy_fj_rem %= 1000;
	d->base.stats.modeled_ns += js->time_ns;
	d->base.stats.cur_freq_hz = (uint64_t)npu_opp_table[js->opp].freq_mhz * 1000000ull;
}

/* ---- weights ------------------------------------------------------------------------------ */

static struct npu_weight *find_weight(struct npu_sim *d, const void *data)
{
	for (uint32_t i = 0; i < d->n_weights; i++)
		if (d->weights[i].npu_data == data)
			return &d->weights[i];
	return NULL;
}

/*
 * The original bytes are the mapped file and stay valid, but nobody reads them while the NPU
 * owns the weight: let the kernel reclaim them so that RSS does not hold both layouts.
 * MADV_PAGEOUT never discards data (anonymous pages go to swap or stay), unlike DONTNEED.
 */
static void page_out(const void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, b = a + len;

	if (page <= 0)
		return;
	a = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	b &= ~((uintptr_t)page - 1);
	if (b > a)
		(void)madvise((void *)a, b - a, MADV_PAGEOUT);
}

static enum hal_status sim_prepare_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct npu_sim *d = to_sim(dev);
	enum hal_status st = HAL_OK;
	size_t bytes;
	void *buf;

	if (w->owner || !w->data || !npu_matmul_weight_ok(w))
		return HAL_OK; /* not ours to run: stays as the file holds it, for the CPU */
	bytes = npu_weight_row_bytes(w->type, w->ne[0]) * w->ne[1];
	pthread_mutex_lock(&d->run_lock);
	if (d->n_weights == d->cap_weights) {
		uint32_t cap = d->cap_weights ? 2 * d->cap_weights : 64;
		struct npu_weight *nw = realloc(d->weights, cap * sizeof(*nw));

		if (!nw) {
			st = hal_device_fail(dev, HAL_ERR_NOMEM, "'%s': out of memory", w->name);
			goto out;
		}
		d->weights = nw;
		d->cap_weights = cap;
	}
	buf = malloc(bytes);
	if (!buf) {
		st = hal_device_fail(dev, HAL_ERR_NOMEM,
				     "'%s': out of memory for %zu bytes of NPU weights", w->name,
				     bytes);
		goto out;
	}
	st = npu_convert_weights(w->type, w->data, w->ne[0], w->ne[1], buf, NULL);
	if (st != HAL_OK) {
		free(buf);
		hal_device_fail(dev, st, "'%s': cannot convert to the NPU layout", w->name);
		goto out;
	}
	page_out(w->data, hal_tensor_bytes(w));
	d->weights[d->n_weights++] = (struct npu_weight){ buf, w->data, ++d->next_id };
	atomic_fetch_add(&d->weight_bytes, bytes);
	w->data = buf;
	w->owner = dev;
out:
	pthread_mutex_unlock(&d->run_lock);
	return st;
}

static void sim_release_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct npu_sim *d = to_sim(dev);
	struct npu_weight *nw;

	pthread_mutex_lock(&d->run_lock);
	nw = w->owner == dev ? find_weight(d, w->data) : NULL;
	if (nw) {
		pthread_mutex_lock(&d->elock);
		npu_engine_forget_buffer(&d->engine, nw->id);
		pthread_mutex_unlock(&d->elock);
		free(nw->npu_data);
		atomic_fetch_sub(&d->weight_bytes,
				 npu_weight_row_bytes(w->type, w->ne[0]) * w->ne[1]);
		w->data = nw->orig_data;
		w->owner = NULL;
		*nw = d->weights[--d->n_weights];
	}
	pthread_mutex_unlock(&d->run_lock);
}

/* ---- ops ---------------------------------------------------------------------------------- */

static bool sim_supports(struct hal_device *dev, const struct hal_op *op)
{
	return npu_matmul_op_ok(dev, op);
}

static uint8_t *scratch(struct npu_sim *d, size_t bytes)
{
	if (bytes > d->scratch_cap) {
		uint8_t *p = realloc(d->scratch, bytes);
		if (!p)
			return NULL;
		d->scratch = p;
		d->scratch_cap = bytes;
	}
	return d->scratch;
}

/* Submits a built stream and waits; the engine's refusal becomes dev->error. */
static enum hal_status submit_wait(struct npu_sim *d, struct npu_stream *s, const char *what)
{
	struct npu_fence *f;
	struct npu_job_stats js = { 0 };
	struct npu_status vs = { 0 };
	enum hal_status st = npu_stream_finish(s);

	if (st != HAL_OK)
		return hal_device_fail(&d->base, st, "%s: out of memory building the stream", what);
	st = npu_sim_submit(&d->base, s->data, s->len, s->bufs, s->nbufs, &f);
	if (st != HAL_OK)
		return hal_device_fail(&d->base, st, "%s: cannot submit the job", what);
	npu_fence_wait(f, -1);
	st = npu_fence_result(f, &vs, &js);
	npu_fence_put(f);
	account(d, &js);
	if (st != HAL_OK)
		return hal_device_fail(&d->base, st, "%s: npu command %u: %s (%s)%s", what,
				       vs.cmd_index, vs.reason, npu_error_name(vs.code),
				       vs.code == ENPU_ERR_STALLED ? "; engine reset" : "");
	return HAL_OK;
}

/*
 * MATMUL: F32 activations -> Q8B (host), the integer matmul with I32B output (NPU), I32B ->
 * F32 (host). Weights the device converted at load are used in place with their SRAM identity;
 * others (a graph built without a model load) are converted for this op only.
 */
static enum hal_status run_matmul(struct npu_sim *d, const struct hal_op *op)
{
	const struct hal_tensor *w = op->src[0], *x = op->src[1];
	uint32_t k = w->ne[0], n = w->ne[1], m = x->ne[1];
	size_t wrow = npu_weight_row_bytes(w->type, k), arow = npu_act_row_bytes(k);
	size_t orow = npu_i32b_row_bytes(n), abytes = (arow * m + 7) & ~(size_t)7;
	const struct npu_weight *nw = w->owner ? find_weight(d, w->data) : NULL;
	void *wdata = nw ? nw->npu_data : NULL, *tmp = NULL;
	enum hal_status st;
	struct npu_stream s;
	uint8_t *act, *out;

	if (w->owner && !nw)
		return hal_device_fail(&d->base, HAL_ERR_INVALID,
				       "'%s': weights not prepared by this device", w->name);
	if (!wdata) {
		tmp = wdata = malloc(wrow * n);
		if (!tmp)
			return hal_device_fail(&d->base, HAL_ERR_NOMEM, "'%s': out of memory",
					       op->dst->name);
		npu_convert_weights(w->type, w->data, k, n, tmp, NULL);
	}
	act = scratch(d, abytes + orow * m);
	if (!act) {
		free(tmp);
		return hal_device_fail(&d->base, HAL_ERR_NOMEM, "'%s': out of memory",
				       op->dst->name);
	}
	out = act + abytes;
	npu_quantize_act_rows(x->data, m, k, act);

	npu_stream_begin(&s);
	npu_stream_matmul_f32(&s, npu_weight_dtype(w->type), wdata, nw ? nw->id : 0, act, out, m,
			      n, k, NULL);
	st = submit_wait(d, &s, op->dst->name);
	npu_stream_free(&s);
	free(tmp);
	if (st != HAL_OK)
		return st;
	npu_dequantize_i32b_rows(out, m, n, op->dst->data);
	return HAL_OK;
}

static enum hal_status sim_run(struct hal_device *dev, const struct hal_op *op)
{
	struct npu_sim *d = to_sim(dev);
	char msg[sizeof(dev->error)];
	uint64_t t0 = hal_now_ns();
	enum hal_status st;

	if (hal_op_check(op, msg, sizeof(msg)) != HAL_OK) {
		memcpy(dev->error, msg, sizeof(msg));
		return HAL_ERR_INVALID;
	}
	if (!sim_supports(dev, op))
		return hal_device_fail(dev, HAL_ERR_UNSUPPORTED,
				       "%s '%s': not supported by the NPU", hal_op_name(op->kind),
				       op->dst->name);
	pthread_mutex_lock(&d->run_lock);
	st = run_matmul(d, op);
	if (st == HAL_OK) {
		dev->stats.ops++;
		dev->stats.busy_ns += hal_now_ns() - t0;
		hal_telem_update_stats(dev, &dev->stats);
	}
	pthread_mutex_unlock(&d->run_lock);
	return st;
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void sim_destroy(struct hal_device *dev)
{
	struct npu_sim *d = to_sim(dev);
	struct npu_counters c;

	pthread_mutex_lock(&d->qlock);
	d->stop = true;
	pthread_cond_broadcast(&d->qcond);
	pthread_mutex_unlock(&d->qlock);
	pthread_join(d->worker, NULL); /* drains the queue first */

	hal_telem_detach(dev);
	c = d->engine.total;
	npu_sysfs_job_done(&d->sysfs, 0, &c, hal_now_ns(), true);
	npu_sysfs_close(&d->sysfs);
	for (uint32_t i = 0; i < d->n_weights; i++)
		free(d->weights[i].npu_data);
	free(d->weights);
	free(d->scratch);
	pthread_mutex_destroy(&d->run_lock);
	pthread_mutex_destroy(&d->elock);
	pthread_cond_destroy(&d->qcond);
	pthread_mutex_destroy(&d->qlock);
	free(d);
}

static const char *sim_devfreq_dir(struct hal_device *dev)
{
	const char *path = npu_sim_sysfs_path(dev);

	return *path ? path : NULL;
}

static void sim_freq_hint(struct hal_device *dev, uint64_t hz)
{
	/* read by the worker in npu_sysfs_pick_opp before each job */
	__atomic_store_n(&to_sim(dev)->sysfs.hint_hz, hz, __ATOMIC_RELAXED);
}

static const struct hal_device_vtable sim_vt = {
	.destroy = sim_destroy,
	.supports = sim_supports,
	.run = sim_run,
	.prepare_weight = sim_prepare_weight,
	.release_weight = sim_release_weight,
	.devfreq_dir = sim_devfreq_dir,
	.freq_hint = sim_freq_hint,
};

enum hal_status npu_sim_create(const struct npu_sim_options *opts, struct hal_device **out_dev,
			       char *err, size_t err_len)
{
	struct npu_sim *d = calloc(1, sizeof(*d));
	char why[512] = "";

	*out_dev = NULL;
	if (!d) {
		snprintf(err, err_len, "out of memory");
		return HAL_ERR_NOMEM;
	}
	d->base.vt = &sim_vt;
	d->base.name = "npu";
	d->base.cls = HAL_CLASS_NPU;
	npu_engine_init(&d->engine, NULL, opts ? opts->caps : 0);
	if (npu_sysfs_open(&d->sysfs, d->engine.opp, why, sizeof(why))) {
		snprintf(err, err_len, "%s", why);
		free(d);
		return HAL_ERR_DEVICE;
	}
	pthread_mutex_init(&d->qlock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the autosuspend deadline's clock */
	pthread_cond_init(&d->qcond, &ca);
	pthread_condattr_destroy(&ca);
	d->powered = true;
	d->last_job_end_ns = hal_now_ns();
	pthread_mutex_init(&d->elock, NULL);
	pthread_mutex_init(&d->run_lock, NULL);
	if (pthread_create(&d->worker, NULL, worker_main, d)) {
		snprintf(err, err_len, "cannot start the NPU worker thread");
		npu_sysfs_close(&d->sysfs);
		pthread_mutex_destroy(&d->run_lock);
		pthread_mutex_destroy(&d->elock);
		pthread_cond_destroy(&d->qcond);
		pthread_mutex_destroy(&d->qlock);
		free(d);
		return HAL_ERR_DEVICE;
	}
	/* npu-top finds the device by its devfreq directory's name: "npu0" */
	const char *node = strrchr(d->sysfs.path, '/');

	hal_telem_attach(&d->base, HAL_TELEM_KIND_NPU, node ? node + 1 : NULL);
	pthread_mutex_lock(&d->elock);
	publish_engine(d, &d->engine.total, 0);
	pthread_mutex_unlock(&d->elock);
	*out_dev = &d->base;
	return HAL_OK;
}

static enum hal_status backend_create(const struct hal_device_options *opts,
				      struct hal_device **out_dev, char *err, size_t err_len)
{
	(void)opts;
	return npu_sim_create(NULL, out_dev, err, err_len);
}

const struct hal_backend hal_backend_npu_sim = {
	.name = "npu",
	.description = "NPU, simulated in process (integer engine; DVFS in "
		       "$XDG_RUNTIME_DIR/edge-npu)",
	.cls = HAL_CLASS_NPU,
	.create = backend_create,
};

void npu_sim_figures(struct npu_sim_figures *out)
{
	const struct npu_hw_params *hw = &npu_default_hw;

	out->n_opp = NPU_NUM_OPPS;
	for (uint32_t i = 0; i < NPU_NUM_OPPS; i++) {
		out->freq_hz[i] = npu_opp_table[i].freq_mhz * 1e6;
		out->volt[i] = npu_opp_table[i].volt_mv * 1e-3;
	}
	out->macs_per_cycle = (double)hw->mac_rows * hw->mac_cols;
	out->dram_bytes_per_s = hw->dram_mbytes_per_s * 1e6;
	out->job_overhead_cycles = hw->cmd_overhead_cycles;
	out->mac_j = hw->mac_fj * 1e-15;
	out->nominal_v = hw->nominal_mv * 1e-3;
}
