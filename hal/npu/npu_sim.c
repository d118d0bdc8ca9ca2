/* SPDX-License-Identifier: MIT */
/*
 * npu_sim.c - the in-process NPU: the shared engine behind the HAL vtable. See npu_sim.h.
 *
 * The device is the simulated silicon's device model (kmod/silicon/npu_device.c), programmed
 * through its registers exactly as the kernel driver programs it: submit writes a descriptor
 * into the ring, moves RING_TAIL and rings the DOORBELL; the model runs the job in slices on
 * its own thread and raises its interrupt, whose handler (irq_handler, called on the model's
 * thread: user space has no interrupt context) retires the descriptors up to RING_HEAD and
 * signals their fences. A hung job is ended by the device's hang detector (HANG_US), which
 * this driver sets to report a stall at once, as this backend always did.
 *
 * The device reaches a job's buffers through its MMU only, so this driver builds page tables
 * too (npu_as.c), in process memory: one address space (slot 0) for the one client, the
 * process, in which a buffer's device address is its host address. Submit maps the pages of
 * the job's buffers there, read-write, before posting it; they stay mapped (a page mapped to
 * itself can only ever name this process's memory), so a buffer used again costs nothing.
 *
 * Threads: the application thread(s) call the vtable; run() is serialised by run_lock (one
 * scratch area, one weight table). rlock guards the ring (slots, tail, retired count), elock
 * the DVFS state, counters and telemetry. Lock order: rlock, then elock, then the device's.
 * A small runtime-PM thread powers the device off when it has been idle for
 * NPU_AUTOSUSPEND_NS, as the kernel's autosuspend timer does.
 *
 * Op coverage (supports()): only MATMUL. SWIGLU and ADD could be expressed in the ISA (LUT
 * SiLU + int8 MUL, int8 ADD), but they need per-tensor int8 activations, which lose ~0.4% of
 * each tensor's range per element (test_npu_engine's SwiGLU pipeline: max error ~1-2% of the
 * output range); the residual ADD in int8 would round the residual stream itself every layer.
 * Both cost four boundary conversions for a few thousand element operations, so they stay on
 * the CPU, where they are exact and cheap.
 */
#include "hal/npu/npu_sim.h"
#include "hal/npu/npu_as.h"
#include "hal/npu/npu_platform.h"
#include "kmod/silicon/npu_device.h"
#include "hal/npu_host.h"
#include "hal/completion.h"
#include "hal/telemetry.h"

#include <errno.h>
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

/* A job in the ring: what the device reads (stream, buffer table) and writes (result). */
struct npu_job {
	void *stream;
	size_t len;
	struct npu_buf_desc *table;
	uint32_t nbufs;
	struct npu_fence *fence;
	struct npu_job_result result;
	uint64_t submit_ns;
};

/* Ring slots: enough for every session's queue to keep the device busy. */
#define NPU_SIM_RING 64

/* A weight converted to the NPU layout at load; looked up by its (new) data pointer. */
struct npu_weight {
	void *npu_data;
	void *orig_data;
	uint64_t id;
};

struct npu_sim {
	struct hal_device base;

	struct npu_device *dev; /* the silicon */
	struct npu_pthread_host host;

	pthread_mutex_t rlock; /* the ring and the address space */
	struct npu_as as;      /* the device address space of the process (slot 0) */
	pthread_cond_t rcond;  /* a slot was retired (ring_waiters), power-on, or stop */
	struct npu_ring_desc ring[NPU_SIM_RING];
	struct npu_job *slots[NPU_SIM_RING];
	uint32_t tail, retired;
	uint32_t ring_waiters; /* threads waiting on rcond for a retirement */
	bool stop;
	uint64_t seqno;
	pthread_t pm_thread;

	pthread_mutex_t elock; /* DVFS, counters, telemetry */
	struct npu_sysfs sysfs;
	uint32_t opp;            /* CLOCK as last written */
	struct npu_counters total; /* the jobs' counters, summed from their results */
	uint64_t total_fj_rem;
	uint64_t engine_busy_ns; /* telemetry: host time the device had jobs */
	uint64_t busy_since_ns;  /* when the device last went from idle to busy */
	/* runtime PM, as the kernel driver's: powered off NPU_AUTOSUSPEND_NS after the last job */
	bool powered;
	uint64_t last_job_end_ns;
	atomic_uint queued;      /* telemetry: jobs submitted and not yet finished */
	uint64_t queue_ns, queue_since_ns; /* telemetry: the integral of queued; elock */
	atomic_uint_fast64_t weight_bytes; /* telemetry: NPU-layout weights held */

	pthread_mutex_t run_lock; /* run(), prepare/release_weight */
	struct npu_weight *weights;
	uint32_t n_weights, cap_weights;
	uint64_t next_id;
	uint8_t *scratch;
	size_t scratch_cap;
	uint64_t energy_fj_rem;
	uint32_t pace; /* SIM_PACE: jobs take their modeled time times this (options.pace) */
	/*
	 * The device stopped making progress under a job (its thread stalled): the job was
	 * abandoned on the ring, and what it reads (scratch, weights) must stay until destroy,
	 * in case the thread comes back. graveyard: memory freed meanwhile (run_lock).
	 */
	atomic_bool lost;
	void **graveyard;
	uint32_t n_graveyard;
};

static struct npu_sim *to_sim(struct hal_device *dev)
{
	return (struct npu_sim *)dev;
}

/*
 * Frees memory a job reads. On a lost device, the abandoned job may still read it if the
 * device's thread comes back, so it is kept until destroy (run_lock held).
 */
static void free_job_memory(struct npu_sim *d, void *p)
{
	void **g;

	if (!p || !atomic_load(&d->lost)) {
		free(p);
		return;
	}
	g = realloc(d->graveyard, sizeof(*g) * (d->n_graveyard + 1));
	if (!g)
		return; /* leaked rather than freed under a job that may still read it */
	d->graveyard = g;
	g[d->n_graveyard++] = p;
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

/* On the process's completion ring (hal/completion.h), the eventfd as an application sees it. */
enum hal_status npu_fence_wait(struct npu_fence *f, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (!npu_fence_signalled(f)) {
		int left = -1;

		if (timeout_ms >= 0) {
			uint64_t t = hal_now_ns();
			if (t >= deadline)
				return HAL_ERR_DEVICE;
			left = (int)((deadline - t + 999999) / 1000000);
		}
		/* readable means signalled: the flag is set before the eventfd is written */
		if (hal_completion_wait(f->efd, left) != HAL_OK && timeout_ms < 0)
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

/* ---- the ring and the interrupt ----------------------------------------------------------- */

static void job_free(struct npu_job *j)
{
	free(j->stream);
	free(j->table);
	free(j);
}

/* Adds the time since the last change of the queue, at its depth then; elock held. */
static void queue_account(struct npu_sim *d, uint64_t now)
{
	uint64_t dt = now > d->queue_since_ns ? now - d->queue_since_ns : 0;

	d->queue_ns += (uint64_t)atomic_load(&d->queued) * dt;
	d->queue_since_ns = now;
}

/*
 * The engine's view for npu-top (hal/telemetry.h): a few stores into shared memory after each
 * job, so that another process sees the device without stopping it. Called with elock held.
 */
static void publish_engine(struct npu_sim *d)
{
	unsigned int queued = atomic_load(&d->queued);
	struct hal_telem_engine e = {
		.engine_busy_ns = d->engine_busy_ns,
		.jobs = d->total.jobs,
		.jobs_failed = d->total.errors,
		.resets = d->total.stalls, /* every stall resets the engine */
		.cycles = d->total.busy_cycles,
		.energy_pj = d->total.energy_pj,
		.cur_freq_hz = (uint64_t)npu_opp_table[d->opp].freq_mhz * 1000000ull,
		.min_freq_hz = d->sysfs.min_hz,
		.max_freq_hz = d->sysfs.max_hz,
		.mem_bytes = atomic_load(&d->weight_bytes),
		.last_job_ns = d->last_job_end_ns,
		.power = !d->powered ? HAL_TELEM_POWER_OFF
			 : queued    ? HAL_TELEM_POWER_ACTIVE
				     : HAL_TELEM_POWER_IDLE,
		.queue_depth = queued,
		.queue_ns = d->queue_ns,
		.temp_mc = npu_dev_read(d->dev, NPU_REG_TEMP_MC),
		.thermal_state = d->sysfs.cooling_state ? HAL_TELEM_THERMAL_PASSIVE
							: HAL_TELEM_THERMAL_NORMAL,
		.cooling_state = d->sysfs.cooling_state,
		.governor = npu_governor_name(d->sysfs.gov),
	};

	hal_telem_update_engine(&d->base, &e);
}

/* A job ended: its result into the fence, its counters into DVFS and telemetry. */
static void retire(struct npu_sim *d, struct npu_job *j)
{
	struct npu_fence *f = j->fence;
	uint64_t t = hal_now_ns(), busy;

	f->js = j->result.stats;
	f->st = j->result.status;
	f->result = j->result.state == NPU_RESULT_DONE ? HAL_OK : HAL_ERR_DEVICE;
	/*
	 * Housekeeping before the signal: the counters are the device's as soon as the waiter
	 * wakes, and a waiter that submits again at once does not wait for elock.
	 */
	pthread_mutex_lock(&d->elock);
	npu_counters_add(&d->total, &d->total_fj_rem, &j->result.stats);
	busy = t - (j->submit_ns > d->busy_since_ns ? j->submit_ns : d->busy_since_ns);
	d->busy_since_ns = t;
	d->engine_busy_ns += busy;
	npu_sysfs_job_done(&d->sysfs, busy, &d->total, t, false);
	d->last_job_end_ns = t;
	queue_account(d, t);
	atomic_fetch_sub(&d->queued, 1);
	publish_engine(d);
	pthread_mutex_unlock(&d->elock);
	fence_signal(f);
	job_free(j);
}

/*
 * The interrupt handler: acknowledges the device's interrupt and retires every descriptor the
 * device has ended (RING_HEAD), in ring order.
 */
static void irq_handler(void *arg)
{
	struct npu_sim *d = arg;
	struct npu_job *done[NPU_SIM_RING];
	uint32_t n = 0, head;

	npu_dev_write(d->dev, NPU_REG_IRQ_CLEAR, npu_dev_read(d->dev, NPU_REG_IRQ_STATUS));
	pthread_mutex_lock(&d->rlock);
	head = npu_dev_read(d->dev, NPU_REG_RING_HEAD);
	while (d->retired != head) {
		done[n++] = d->slots[d->retired % NPU_SIM_RING];
		d->slots[d->retired++ % NPU_SIM_RING] = NULL;
	}
	if (d->ring_waiters)
		pthread_cond_broadcast(&d->rcond);
	pthread_mutex_unlock(&d->rlock);
	for (uint32_t i = 0; i < n; i++)
		retire(d, done[i]);
}

/* Programs the ring, the interrupt mask and the hang detector (power-on and after a reset). */
static void hw_init(struct npu_sim *d)
{
	uintptr_t base = (uintptr_t)d->ring;

	npu_dev_write(d->dev, NPU_REG_RING_BASE_LO, (uint32_t)base);
	npu_dev_write(d->dev, NPU_REG_RING_BASE_HI, (uint32_t)((uint64_t)base >> 32));
	npu_dev_write(d->dev, NPU_REG_RING_SIZE, NPU_SIM_RING);
	npu_dev_write(d->dev, NPU_REG_AS(0, NPU_REG_AS_TRANSTAB_LO), (uint32_t)npu_as_root(&d->as));
	npu_dev_write(d->dev, NPU_REG_AS(0, NPU_REG_AS_TRANSTAB_HI),
		      (uint32_t)(npu_as_root(&d->as) >> 32));
	npu_dev_write(d->dev, NPU_REG_HANG_US, 1); /* report a hung job at once */
	npu_dev_write(d->dev, NPU_REG_IRQ_MASK, NPU_IRQ_JOB_DONE | NPU_IRQ_JOB_ERROR);
	npu_dev_write(d->dev, NPU_REG_SIM_PACE, d->pace);
	npu_dev_write(d->dev, NPU_REG_CONTROL, NPU_CONTROL_ENABLE);
}

/* Applies the DVFS policy for the next job and powers the device up; rlock and elock held. */
static void prepare_device(struct npu_sim *d, uint64_t now)
{
	uint32_t opp;

	npu_sysfs_thermal(&d->sysfs, (int32_t)npu_dev_read(d->dev, NPU_REG_TEMP_MC), now);
	opp = npu_sysfs_pick_opp(&d->sysfs, now);

	if (!d->powered) { /* resumed: its SRAM starts empty after a suspend */
		npu_dev_write(d->dev, NPU_REG_POWER, 1);
		d->powered = true;
		pthread_cond_broadcast(&d->rcond); /* the runtime-PM thread watches again */
		publish_engine(d);
	}
	if (opp != d->opp) {
		npu_dev_write(d->dev, NPU_REG_CLOCK, opp);
		npu_sysfs_set_opp(&d->sysfs, opp, now);
		d->opp = opp;
	}
	if (!atomic_load(&d->queued))
		d->busy_since_ns = now;
	queue_account(d, now);
	atomic_fetch_add(&d->queued, 1);
	publish_engine(d); /* a reader sees the job waiting or running, not only 0 */
}

/* Builds a job: private copies of the stream and the buffer table. */
static struct npu_job *job_new(const void *stream, size_t len, const struct npu_buffer *bufs,
			       uint32_t nbufs)
{
	struct npu_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->stream = malloc(len ? len : 1);
	j->table = calloc(nbufs ? nbufs : 1, sizeof(*j->table));
	j->fence = fence_new();
	if (!j->stream || !j->table || !j->fence) {
		if (j->fence) {
			npu_fence_put(j->fence);
			npu_fence_put(j->fence);
		}
		job_free(j);
		return NULL;
	}
	memcpy(j->stream, stream, len);
	for (uint32_t i = 0; i < nbufs; i++)
		j->table[i] = (struct npu_buf_desc){ (uintptr_t)bufs[i].data, bufs[i].size,
						     bufs[i].id, bufs[i].flags, 0 };
	j->len = len;
	j->nbufs = nbufs;
	return j;
}

/* A job that was never posted: both references of its fence and the job go. */
static void job_drop(struct npu_job *j)
{
	npu_fence_put(j->fence);
	npu_fence_put(j->fence);
	job_free(j);
}

/* Writes the job's descriptor into the next slot and rings the doorbell; rlock held. */
static void post(struct npu_sim *d, struct npu_job *j)
{
	uint32_t slot = d->tail % NPU_SIM_RING;

	d->slots[slot] = j;
	d->ring[slot] = (struct npu_ring_desc){
		.stream_addr = (uintptr_t)j->stream,
		.bufs_addr = (uintptr_t)j->table,
		.result_addr = (uintptr_t)&j->result,
		.stream_len = (uint32_t)j->len,
		.nbufs = j->nbufs,
		.as = 0,
	};
	npu_dev_write(d->dev, NPU_REG_RING_TAIL, ++d->tail);
	npu_dev_write(d->dev, NPU_REG_DOORBELL, 1);
}

enum hal_status npu_sim_submit(struct hal_device *dev, const void *stream, size_t len,
			       const struct npu_buffer *bufs, uint32_t nbufs,
			       struct npu_fence **out_fence)
{
	struct npu_sim *d = to_sim(dev);
	struct npu_job *j;

	*out_fence = NULL;
	if (len > ENPU_MAX_STREAM_BYTES || nbufs > NPU_DEV_MAX_BUFS)
		len = 0; /* the device refuses it, through the fence, as any bad stream */
	j = job_new(stream, len, bufs, nbufs > NPU_DEV_MAX_BUFS ? 0 : nbufs);
	if (!j)
		return HAL_ERR_NOMEM;
	pthread_mutex_lock(&d->rlock);
	while (d->tail - d->retired == NPU_SIM_RING && !d->stop) {
		d->ring_waiters++;
		pthread_cond_wait(&d->rcond, &d->rlock);
		d->ring_waiters--;
	}
	if (d->stop) {
		pthread_mutex_unlock(&d->rlock);
		job_drop(j);
		return HAL_ERR_DEVICE;
	}
	for (uint32_t i = 0; i < j->nbufs; i++) {
		if (npu_as_map_identity(&d->as, bufs[i].data, bufs[i].size)) {
			pthread_mutex_unlock(&d->rlock);
			job_drop(j);
			return HAL_ERR_NOMEM;
		}
	}
	j->fence->seqno = ++d->seqno;
	j->submit_ns = hal_now_ns();
	pthread_mutex_lock(&d->elock);
	prepare_device(d, j->submit_ns);
	pthread_mutex_unlock(&d->elock);
	*out_fence = j->fence;
	post(d, j);
	pthread_mutex_unlock(&d->rlock);
	return HAL_OK;
}

/*
 * Runtime PM: the kernel driver's default autosuspend delay. Suspending powers the device off
 * as the driver does (POWER = 0): its SRAM forgets the resident weights, which the next job
 * loads again (the engine's model counts that traffic), and npu-top shows the device off.
 */
#define NPU_AUTOSUSPEND_NS (100 * 1000000ull)

/* Powers the device off once it has been idle for NPU_AUTOSUSPEND_NS; elock held. */
static bool autosuspend_due(struct npu_sim *d, uint64_t now, uint64_t *due)
{
	*due = d->last_job_end_ns + NPU_AUTOSUSPEND_NS;
	if (!d->powered || atomic_load(&d->queued) || now < *due)
		return false;
	npu_dev_write(d->dev, NPU_REG_POWER, 0);
	d->powered = false;
	publish_engine(d);
	return true;
}

static void *pm_main(void *arg)
{
	struct npu_sim *d = arg;
	uint64_t due = 0;

	pthread_mutex_lock(&d->rlock);
	while (!d->stop) {
		struct timespec ts;

		pthread_mutex_lock(&d->elock);
		bool off = autosuspend_due(d, hal_now_ns(), &due) || !d->powered;
		pthread_mutex_unlock(&d->elock);
		if (off) { /* until a job powers the device on (prepare_device wakes us) */
			pthread_cond_wait(&d->rcond, &d->rlock);
			continue;
		}
		if (atomic_load(&d->queued))
			due = hal_now_ns() + NPU_AUTOSUSPEND_NS; /* busy: look again later */
		ts.tv_sec = (time_t)(due / 1000000000ull);
		ts.tv_nsec = (long)(due % 1000000000ull);
		pthread_cond_timedwait(&d->rcond, &d->rlock, &ts);
	}
	pthread_mutex_unlock(&d->rlock);
	return NULL;
}

/* ---- telemetry ---------------------------------------------------------------------------- */

void npu_sim_counters(struct hal_device *dev, struct npu_counters *out)
{
	struct npu_sim *d = to_sim(dev);

	pthread_mutex_lock(&d->elock);
	*out = d->total;
	pthread_mutex_unlock(&d->elock);
}

uint32_t npu_sim_opp(struct hal_device *dev)
{
	struct npu_sim *d = to_sim(dev);
	uint32_t opp;

	pthread_mutex_lock(&d->elock);
	opp = d->opp;
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
		/* ids are never reused: the SRAM's entry for it just ages out of the LRU */
		free_job_memory(d, nw->npu_data);
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

/* What the device has done: slices run plus descriptors ended (changes while it works). */
static uint64_t device_progress(struct npu_sim *d)
{
	return (uint64_t)npu_dev_read(d->dev, NPU_REG_DBG_SLICES_LO) +
	       npu_dev_read(d->dev, NPU_REG_RING_HEAD);
}

/*
 * Waits for f while the device makes progress. A job may run long (it is sliced, and each slice
 * ends in milliseconds), but a device that ends no slice and no job for NPU_SIM_STALL_MS has a
 * stalled thread: the wait gives up, rather than hang its caller forever. Not with pacing on:
 * a paced job is held, with no slice, for as long as its modeled time times the factor.
 */
static enum hal_status wait_progress(struct npu_sim *d, struct npu_fence *f)
{
	uint64_t seen = device_progress(d), since = hal_now_ns();

	if (d->pace)
		return npu_fence_wait(f, -1);
	while (npu_fence_wait(f, 100) != HAL_OK) {
		uint64_t p = device_progress(d), now = hal_now_ns();

		if (p != seen) {
			seen = p;
			since = now;
		} else if (now - since >= NPU_SIM_STALL_MS * 1000000ull) {
			return HAL_ERR_DEVICE;
		}
	}
	return HAL_OK;
}

void npu_sim_debug_freeze(struct hal_device *dev, bool frozen)
{
	atomic_store(&to_sim(dev)->host.frozen, frozen);
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
	if (wait_progress(d, f) != HAL_OK) {
		/* the ring keeps its reference: a thread that comes back retires the job */
		atomic_store(&d->lost, true);
		npu_fence_put(f);
		return hal_device_fail(&d->base, HAL_ERR_DEVICE,
				       "%s: the NPU made no progress for %u ms (its thread is "
				       "stalled); the job is abandoned and the device lost", what,
				       NPU_SIM_STALL_MS);
	}
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
	free_job_memory(d, tmp);
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
	if (atomic_load(&d->lost)) /* before the scratch an abandoned job may still read */
		st = hal_device_fail(dev, HAL_ERR_DEVICE,
				     "%s: the NPU was lost (a job stalled); open the device again",
				     op->dst->name);
	else
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

	pthread_mutex_lock(&d->rlock);
	while (d->retired != d->tail) { /* drain: every fence signals */
		d->ring_waiters++;
		pthread_cond_wait(&d->rcond, &d->rlock);
		d->ring_waiters--;
	}
	d->stop = true;
	pthread_cond_broadcast(&d->rcond);
	pthread_mutex_unlock(&d->rlock);
	pthread_join(d->pm_thread, NULL);
	npu_dev_stop(d->dev);

	hal_telem_detach(dev);
	npu_sysfs_job_done(&d->sysfs, 0, &d->total, hal_now_ns(), true);
	npu_sysfs_close(&d->sysfs);
	for (uint32_t i = 0; i < d->n_weights; i++)
		free(d->weights[i].npu_data);
	free(d->weights);
	free(d->scratch);
	for (uint32_t i = 0; i < d->n_graveyard; i++)
		free(d->graveyard[i]);
	free(d->graveyard);
	npu_pthread_host_destroy(&d->host);
	free(d->dev);
	npu_as_destroy(&d->as);
	pthread_mutex_destroy(&d->run_lock);
	pthread_mutex_destroy(&d->elock);
	pthread_cond_destroy(&d->rcond);
	pthread_mutex_destroy(&d->rlock);
	free(d);
	hal_completion_put();
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

/* Frees what npu_sim_create set up before its device ran. */
static void sim_free_early(struct npu_sim *d, bool sysfs_open)
{
	npu_pthread_host_destroy(&d->host);
	if (sysfs_open)
		npu_sysfs_close(&d->sysfs);
	npu_as_destroy(&d->as);
	pthread_mutex_destroy(&d->run_lock);
	pthread_mutex_destroy(&d->elock);
	pthread_cond_destroy(&d->rcond);
	pthread_mutex_destroy(&d->rlock);
	free(d->dev);
	free(d);
}

/* ENPU_NPU_PACE=N: pacing for every in-process NPU (tools, benchmarks); read once per device. */
static uint32_t pace_from_env(void)
{
	const char *v = getenv("ENPU_NPU_PACE");
	char *end;
	unsigned long n = v ? strtoul(v, &end, 10) : 0;

	if (!v || !*v || *end || n > NPU_SIM_PACE_MAX) {
		if (v && *v)
			fprintf(stderr, "edge-npu: ENPU_NPU_PACE='%s' is not 0 to %d; pacing off\n", v,
				NPU_SIM_PACE_MAX);
		return 0;
	}
	return (uint32_t)n;
}

static void init_locks(struct npu_sim *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->rlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the autosuspend deadline's clock */
	pthread_cond_init(&d->rcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&d->elock, NULL);
	pthread_mutex_init(&d->run_lock, NULL);
}

enum hal_status npu_sim_create(const struct npu_sim_options *opts, struct hal_device **out_dev,
			       char *err, size_t err_len)
{
	struct npu_sim *d = calloc(1, sizeof(*d));
	char why[512] = "";

	*out_dev = NULL;
	if (d)
		d->dev = calloc(1, sizeof(*d->dev));
	if (!d || !d->dev || npu_as_init(&d->as)) {
		if (d) {
			npu_as_destroy(&d->as);
			free(d->dev);
		}
		free(d);
		snprintf(err, err_len, "out of memory");
		return HAL_ERR_NOMEM;
	}
	d->base.vt = &sim_vt;
	d->base.name = "npu";
	d->base.cls = HAL_CLASS_NPU;
	init_locks(d);
	npu_pthread_host_init(&d->host, irq_handler, d);
	npu_dev_init(d->dev, &npu_pthread_ops, &d->host, opts ? opts->caps : 0);
	d->opp = npu_dev_read(d->dev, NPU_REG_CLOCK);
	if (npu_sysfs_open(&d->sysfs, d->opp, why, sizeof(why))) {
		snprintf(err, err_len, "%s", why);
		sim_free_early(d, false);
		return HAL_ERR_DEVICE;
	}
	d->powered = true;
	d->last_job_end_ns = hal_now_ns();
	d->pace = opts && opts->pace ? opts->pace : pace_from_env();
	if (opts && opts->thermal) {
		npu_dev_write(d->dev, NPU_REG_SIM_THERM_R, opts->thermal->r_mk_per_w);
		npu_dev_write(d->dev, NPU_REG_SIM_THERM_C, opts->thermal->c_nj_per_k);
		npu_dev_write(d->dev, NPU_REG_SIM_THERM_AMBIENT, (uint32_t)opts->thermal->ambient_mc);
	}
	if (opts && opts->passive_mc)
		d->sysfs.passive_mc = opts->passive_mc;
	hw_init(d);
	if (npu_dev_start(d->dev)) {
		snprintf(err, err_len, "cannot start the NPU device model's thread");
		sim_free_early(d, true);
		return HAL_ERR_DEVICE;
	}
	if (pthread_create(&d->pm_thread, NULL, pm_main, d)) {
		snprintf(err, err_len, "cannot start the NPU runtime-PM thread");
		npu_dev_stop(d->dev);
		sim_free_early(d, true);
		return HAL_ERR_DEVICE;
	}
	/* npu-top finds the device by its devfreq directory's name: "npu0" */
	const char *node = strrchr(d->sysfs.path, '/');

	hal_telem_attach(&d->base, HAL_TELEM_KIND_NPU, node ? node + 1 : NULL);
	hal_completion_get(); /* its fences are waited for on the process's ring */
	pthread_mutex_lock(&d->elock);
	publish_engine(d);
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
