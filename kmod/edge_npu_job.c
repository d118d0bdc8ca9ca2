// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_job.c - job submission, the drm_sched queues, execution on the shared engine,
 * timeout and engine reset.
 *
 * SUBMIT copies the command stream out of its BO (the engine reads a stream twice, so it must
 * be private), builds the job's buffer table of device addresses in its context's address
 * space (ranges the caller mapped with VM_BIND, or BOs named by handle, which are mapped whole
 * into the driver's half of the space for the job's life), and validates the whole stream
 * against it with the shared validator: a bad stream is refused with -EINVAL and the
 * validator's verdict before anything is queued. The job then waits for its in-syncobjs and
 * for the implicit fences of its BOs, installs its own fence in their reservation objects and
 * in the out-syncobj, and runs on one of the device's engines, which reaches its data through
 * the MMU in the context's address space (an address-space slot of the engine is bound to it
 * when the job is posted). A job that faults fails with -EFAULT and its context turns guilty.
 *
 * Each engine is a scheduler with a hardware queue depth of one in front of the engine's
 * command ring (silicon/npu_regs.h). run_job only writes the job's descriptor into the ring and
 * rings the doorbell; the engine runs the job in bounded slices on its own context and raises
 * its interrupt when the job ends, and the threaded IRQ handler retires the ring up to
 * RING_HEAD, accounts the jobs and signals their hardware fences. A job that runs past
 * job_timeout_ms (a hang, or simply too much work) is stopped by the scheduler's timeout: it
 * stops the queue, soft-resets the engine (the job stops within one slice), fails the job with
 * -ETIMEDOUT and restarts the queue, so that the jobs behind it, of every client, run.
 */
#include <linux/dma-fence.h>
#include <linux/delay.h>
#include <linux/dma-resv.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/ww_mutex.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_syncobj.h>

#include "edge_npu_drv.h"

static inline struct enpu_job *to_enpu_job(struct drm_sched_job *sched_job)
{
	return container_of(sched_job, struct enpu_job, base);
}

static inline struct enpu_queue *to_enpu_queue(struct drm_gpu_scheduler *sched)
{
	return container_of(sched, struct enpu_queue, sched);
}

/* ---- hardware fences --------------------------------------------------------------------- */

static const char *enpu_fence_get_driver_name(struct dma_fence *fence)
{
	return ENPU_DRIVER_NAME;
}

static const char *enpu_fence_get_timeline_name(struct dma_fence *fence)
{
	return "edge_npu-engine";
}

static const struct dma_fence_ops enpu_fence_ops = {
	.get_driver_name = enpu_fence_get_driver_name,
	.get_timeline_name = enpu_fence_get_timeline_name,
};

/* ---- job lifetime ------------------------------------------------------------------------ */

static void enpu_job_release_bos(struct enpu_job *job)
{
	u32 i;

	for (i = 0; i < job->num_bos; i++) {
		if (job->maps[i])
			enpu_vm_unmap(job->ctx->vm, job->maps[i]);
		drm_gem_object_put(job->bos[i]);
	}
	kvfree(job->bos);
	kvfree(job->maps);
	kvfree(job->bo_write);
	kvfree(job->bo_buf);
	kvfree(job->bufs);
	kvfree(job->table);
}

/* Drops the job's references to the fences it waited for. */
static void enpu_job_put_deps(struct enpu_job *job)
{
	u32 i;

	for (i = 0; i < job->num_deps; i++)
		dma_fence_put(job->deps[i]);
	job->num_deps = 0;
	kvfree(job->deps);
	job->deps = NULL;
}

/* Makes room in job->deps for n more fences. */
static int enpu_job_grow_deps(struct enpu_job *job, u32 n)
{
	struct dma_fence **deps;

	if (!n)
		return 0;
	deps = kvcalloc(job->num_deps + n, sizeof(*deps), GFP_KERNEL_ACCOUNT);
	if (!deps)
		return -ENOMEM;
	if (job->num_deps)
		memcpy(deps, job->deps, job->num_deps * sizeof(*deps));
	kvfree(job->deps);
	job->deps = deps;
	return 0;
}

/*
 * The error of a fence the job waited for, 0 if none failed. Kernel 6.1's scheduler runs a
 * job whose dependency failed as if nothing happened, so run_job looks itself. Every
 * dependency has signalled by then but one: a job of the same engine, which the scheduler
 * waits for only until it is on the ring. The ring holds one job, so that one has ended, but
 * its scheduler fence may not be signalled yet (its hardware fence is, with the error: the
 * scheduler frees the ring's credit before it signals the job's fence).
 */
static int enpu_job_deps_error(struct enpu_job *job)
{
	u32 i;

	for (i = 0; i < job->num_deps; i++) {
		struct dma_fence *f = job->deps[i];
		struct drm_sched_fence *sf;
		int st = dma_fence_get_status(f);

		if (st < 0)
			return st;
		sf = st ? NULL : to_drm_sched_fence(f);
		/* not signalled: a job of this engine, whose parent only this engine's reset changes */
		if (sf && sf->sched == job->base.sched && sf->parent) {
			st = dma_fence_get_status(sf->parent);
			if (st < 0)
				return st;
		}
	}
	return 0;
}

/*
 * Jobs keep their device, and this module, until the last of them is freed. The scheduler
 * frees a job on its own work item (or thread) after the job's fence signalled, and a job
 * its entity's teardown killed on a work item of its own: either may run after the job's file
 * was closed and its device removed, and a free uses the queue and the device. The first live
 * job takes one reference on each (enpu_job_new()), the last one gone drops them from
 * enpu_put_wq: never on the scheduler's own work or thread, which the device's release stops
 * (drm_sched_fini()). While jobs live, rmmod says the module is in use.
 */
static struct workqueue_struct *enpu_put_wq;

int enpu_jobs_module_init(void)
{
	enpu_put_wq = alloc_workqueue("edge_npu_put", 0, 0);
	return enpu_put_wq ? 0 : -ENOMEM;
}

/* Module exit: no job is left (they hold the module), but a put may still be returning. */
void enpu_jobs_module_exit(void)
{
	destroy_workqueue(enpu_put_wq);
}

static void enpu_jobs_put_work(struct work_struct *work)
{
	struct enpu_device *edev = container_of(work, struct enpu_device, jobs_put);
	int n = atomic_xchg(&edev->jobs_refs, 0);

	/* the last put may release the device, this work item with it: nothing after it */
	while (n-- > 0) {
		drm_dev_put(&edev->drm);
		module_put(THIS_MODULE);
	}
}

/* A job is created: the first live one holds the device and the module. */
static void enpu_job_live(struct enpu_device *edev)
{
	if (atomic_inc_return(&edev->live_jobs) == 1) {
		drm_dev_get(&edev->drm);
		__module_get(THIS_MODULE); /* inside an ioctl: the open file holds the module */
	}
}

/* A job is gone: its last access to the device. The last one lets the device go. */
static void enpu_job_gone(struct enpu_device *edev)
{
	if (atomic_dec_and_test(&edev->live_jobs)) {
		atomic_inc(&edev->jobs_refs);
		queue_work(enpu_put_wq, &edev->jobs_put);
	}
}

static void enpu_job_free_mem(struct enpu_job *job)
{
	/* the context (and its file) may go below: the device is looked up first */
	struct enpu_device *edev = job->ctx ? job->ctx->efile->edev : NULL;

	enpu_job_put_deps(job);
	enpu_job_release_bos(job);
	kvfree(job->stream);
	if (job->hw_fence_init)
		dma_fence_put(job->hw_fence);
	else
		kfree(job->hw_fence);
	if (job->done)
		dma_fence_put(job->done);
	if (job->prev)
		dma_fence_put(job->prev);
	if (job->ctx) {
		atomic_dec(&job->ctx->efile->num_jobs);
		enpu_ctx_put(job->ctx);
	}
	kfree(job);
	if (edev)
		enpu_job_gone(edev); /* last: nothing of the job or the device is touched after it */
}

/* The job left its priority's queue depth (finished, failed or cancelled). */
static void enpu_job_unqueue(struct enpu_job *job)
{
	if (job->queued) {
		job->queued = false;
		atomic_dec(&job->ctx->efile->edev->queued[job->prio]);
	}
}

/*
 * The engine is done with a job the scheduler frees: retired, or never posted. A job still in
 * its ring's slots would be read by the engine and by the interrupt thread after the free;
 * the slot is emptied (the engine may still read the descriptor: the invariant is broken, and
 * the WARN says so).
 */
static void enpu_job_check_off_ring(struct enpu_job *job)
{
	struct enpu_queue *q = to_enpu_queue(job->base.sched);
	u32 i;

	if (!job->hw_fence_init)
		return;
	mutex_lock(&q->lock);
	for (i = 0; i < ENPU_RING_SIZE; i++)
		if (WARN_ON_ONCE(q->slots[i] == job))
			q->slots[i] = NULL;
	mutex_unlock(&q->lock);
}

static void enpu_job_free(struct drm_sched_job *sched_job)
{
	struct enpu_job *job = to_enpu_job(sched_job);
	unsigned int delay_ms = READ_ONCE(enpu_debug_free_delay_ms);

	if (delay_ms) /* tests only */
		msleep(min(delay_ms, 30000U));
	enpu_job_check_off_ring(job);
	/* not started, if its entity was torn down: it waits no more */
	enpu_age_dropped(&to_enpu_queue(sched_job->sched)->age, job);
	enpu_job_unqueue(job);
	drm_sched_job_cleanup(sched_job);
	enpu_job_free_mem(job);
}

/* Accounts a finished job (stats NULL: it failed with err) and drops its power references. */
static void enpu_job_account(struct enpu_job *job, const struct npu_job_stats *stats, int err)
{
	struct enpu_device *edev = job->ctx->efile->edev;
	struct enpu_ctx *ctx = job->ctx;
	u64 ns = ktime_to_ns(ktime_sub(ktime_get(), job->start));

	atomic64_add(ns, &ctx->efile->engine_ns);
	atomic64_add(ns, &edev->busy_ns);
	enpu_job_unqueue(job);
	spin_lock(&ctx->lock);
	if (stats) {
		ctx->stats.jobs++;
		ctx->stats.busy_cycles += stats->c.busy_cycles;
		ctx->stats.modeled_ns += stats->time_ns;
		ctx->stats.energy_pj += stats->c.energy_pj;
		ctx->stats.macs += stats->c.macs;
		ctx->stats.dram_bytes += stats->c.dram_bytes;
		ctx->stats.last_freq_khz = npu_opp_table[min_t(u32, stats->opp, NPU_NUM_OPPS - 1)]
						   .freq_mhz * 1000;
	} else {
		ctx->stats.errors++;
		ctx->stats.last_error = err;
	}
	spin_unlock(&ctx->lock);
	if (stats) {
		atomic64_add(stats->c.busy_cycles, &ctx->efile->cycles);
		atomic64_add(stats->c.busy_cycles, &edev->busy_cycles);
		atomic64_add(stats->c.energy_pj, &edev->energy_pj);
		atomic64_inc(&edev->jobs_done);
		/* pJ per ns is mW: times 1000 for uW */
		if (stats->time_ns)
			WRITE_ONCE(edev->last_power_uw,
				   div64_u64(stats->c.energy_pj * 1000, stats->time_ns));
	} else {
		atomic64_inc(&edev->jobs_failed);
		enpu_genl_job_fault(edev, to_enpu_queue(job->base.sched)->index, err, job->pid);
	}
	if (job->pm_ref) {
		job->pm_ref = false;
		enpu_pm_job_end(edev, job->freq_req);
	}
}

/* ---- the ring ---------------------------------------------------------------------------- */

/* Programs the engine: ring, interrupts, consumer on (at probe and after every reset). */
static void enpu_hw_init(struct enpu_queue *q)
{
	u64 base = (uintptr_t)q->ring;

	enpu_reg_write(q->hw, NPU_REG_RING_BASE_LO, lower_32_bits(base));
	enpu_reg_write(q->hw, NPU_REG_RING_BASE_HI, upper_32_bits(base));
	enpu_reg_write(q->hw, NPU_REG_RING_SIZE, ENPU_RING_SIZE);
	enpu_reg_write(q->hw, NPU_REG_CLOCK, READ_ONCE(q->edev->pm.cur_opp));
	enpu_reg_write(q->hw, NPU_REG_IRQ_MASK,
		       NPU_IRQ_JOB_DONE | NPU_IRQ_JOB_ERROR | NPU_IRQ_MMU_FAULT);
	enpu_reg_write(q->hw, NPU_REG_CONTROL, NPU_CONTROL_ENABLE);
	q->tail = 0;
	q->retired = 0;
	memset(q->as_vm, 0, sizeof(q->as_vm)); /* the reset emptied the slots */
}

/*
 * The address-space slot that holds vm, binding the next slot to it if none does. The ring
 * is idle when a job is posted (the scheduler's queue depth is one), so no job uses the slot
 * being taken. q->lock held.
 */
static u32 enpu_as_bind(struct enpu_queue *q, struct enpu_vm *vm)
{
	u64 root = enpu_vm_root(vm);
	u32 i;

	for (i = 0; i < NPU_AS_SLOTS; i++)
		if (q->as_vm[i] == vm->id)
			return i;
	i = q->as_next++ % NPU_AS_SLOTS;
	q->as_vm[i] = vm->id;
	enpu_reg_write(q->hw, NPU_REG_AS(i, NPU_REG_AS_TRANSTAB_LO), lower_32_bits(root));
	enpu_reg_write(q->hw, NPU_REG_AS(i, NPU_REG_AS_TRANSTAB_HI), upper_32_bits(root));
	enpu_reg_write(q->hw, NPU_REG_AS(i, NPU_REG_AS_COMMAND), NPU_AS_COMMAND_FLUSH);
	return i;
}

/* Writes the job's descriptor and rings the doorbell; q->lock held. */
static void enpu_ring_post(struct enpu_queue *q, struct enpu_job *job)
{
	u32 slot = q->tail % ENPU_RING_SIZE;

	memset(&job->result, 0, sizeof(job->result));
	q->slots[slot] = job;
	q->ring[slot] = (struct npu_ring_desc){
		.stream_addr = (uintptr_t)job->stream,
		.bufs_addr = (uintptr_t)job->table,
		.result_addr = (uintptr_t)&job->result,
		.stream_len = job->stream_len,
		.nbufs = job->num_bufs,
		.as = enpu_as_bind(q, job->ctx->vm),
	};
	/* the descriptor is in memory before the engine can see the new tail */
	wmb();
	enpu_reg_write(q->hw, NPU_REG_RING_TAIL, ++q->tail);
	enpu_reg_write(q->hw, NPU_REG_DOORBELL, 1);
}

/* The errno of a job that did not complete, from how the engine says it ended. */
static int enpu_result_errno(const struct npu_job_result *r)
{
	switch (r->state) {
	case NPU_RESULT_REFUSED:
		return -EINVAL;
	case NPU_RESULT_ABORTED:
		return -ETIMEDOUT;
	case NPU_RESULT_FAULT:
		return -EFAULT;
	default:
		return -EIO;
	}
}

/*
 * A job of the context faulted in the device MMU: the context is guilty (its later jobs are
 * refused: what it computes next would build on a result that never came) and keeps the
 * first fault for CTX_QUERY.
 */
static void enpu_job_faulted(struct enpu_job *job)
{
	struct enpu_ctx *ctx = job->ctx;
	struct enpu_device *edev = ctx->efile->edev;

	atomic64_inc(&edev->mmu_faults);
	spin_lock(&ctx->lock);
	if (!ctx->stats.fault_status) {
		ctx->stats.fault_addr = job->result.fault_addr;
		/* what the uapi documents: the access and the kind, not the device's slot */
		ctx->stats.fault_status = job->result.fault_status &
					  (NPU_FAULT_ACCESS_READ | NPU_FAULT_ACCESS_WRITE |
					   NPU_FAULT_TYPE_MASK);
	}
	spin_unlock(&ctx->lock);
	WRITE_ONCE(ctx->guilty, true);
	drm_dbg(&edev->drm, "job of pid %u: device MMU fault: %s\n", job->pid,
		job->result.status.reason);
}

/* Ends a job the engine is done with: accounts it and signals its hardware fence. */
static void enpu_job_retire(struct enpu_job *job, int err)
{
	if (!err && job->result.state == NPU_RESULT_FAULT)
		enpu_job_faulted(job);
	if (!err && job->result.state != NPU_RESULT_DONE)
		err = enpu_result_errno(&job->result);
	if (err) {
		dma_fence_set_error(job->hw_fence, err);
		dma_fence_set_error(&job->base.s_fence->finished, err);
		enpu_job_account(job, NULL, err);
	} else {
		enpu_job_account(job, &job->result.stats, 0);
	}
	dma_fence_signal(job->hw_fence);
}

/* Retires every descriptor the engine has ended (RING_HEAD); q->lock held. */
static void enpu_ring_retire(struct enpu_queue *q)
{
	u32 head;

	/* a reset is pending: the engine may still write the ring's results, and resets HEAD */
	if (q->resetting)
		return;
	head = enpu_reg_read(q->hw, NPU_REG_RING_HEAD);
	rmb(); /* results are read after the head that covers them */
	while (q->retired != head) {
		u32 slot = q->retired++ % ENPU_RING_SIZE;
		struct enpu_job *job = q->slots[slot];

		q->slots[slot] = NULL;
		if (job)
			enpu_job_retire(job, 0);
	}
}

/* The line is ours alone: the status is read in the thread, where the lock may sleep. */
static irqreturn_t enpu_irq(int irq, void *arg)
{
	return IRQ_WAKE_THREAD;
}

/*
 * Acknowledges and retires. A status of 0 is not spurious: the previous run of this thread
 * retired the job of an interrupt raised while it ran.
 */
static irqreturn_t enpu_irq_thread(int irq, void *arg)
{
	struct enpu_queue *q = arg;
	u32 status = enpu_reg_read(q->hw, NPU_REG_IRQ_STATUS);

	if (status)
		enpu_reg_write(q->hw, NPU_REG_IRQ_CLEAR, status);
	mutex_lock(&q->lock);
	enpu_ring_retire(q);
	mutex_unlock(&q->lock);
	return IRQ_HANDLED;
}

/*
 * Soft-resets the engine: the job on it stops at its next slice boundary (the model's slices
 * are bounded, so this takes at most one slice). Fails the jobs still on the ring with
 * -ETIMEDOUT and programs the engine again. q->lock held.
 *
 * Returns false if RESET still reads 1 after 2 s. The engine has then not reset yet, and when
 * it does it writes the result record of the job it aborts, and reads the ring: the ring's
 * jobs must stay alive, so they are not retired (their memory would be freed) and the ring is
 * not programmed again. The engine is marked resetting, which stops retirement (the reset
 * moves RING_HEAD back to 0); the timed-out job keeps its fence, the scheduler's timeout fires
 * again and this is tried again, until the reset completes. Waiting here instead would hold
 * q->lock, and the timeout worker that teardown waits for, for as long as the engine is stuck.
 */
static bool enpu_hw_reset(struct enpu_queue *q)
{
	ktime_t deadline = ktime_add_ms(ktime_get(), 2000);
	u32 i;

	enpu_reg_write(q->hw, NPU_REG_RESET, 1); /* again, if resetting: RESET is w1 */
	while (enpu_reg_read(q->hw, NPU_REG_RESET)) {
		if (ktime_after(ktime_get(), deadline)) {
			if (!q->resetting)
				dev_err(q->edev->drm.dev,
					"engine %u: reset did not complete in 2 s; its jobs stay on the ring until it does\n",
					q->index);
			q->resetting = true;
			return false;
		}
		usleep_range(50, 200);
	}
	if (q->resetting)
		dev_info(q->edev->drm.dev, "engine %u: reset completed late\n", q->index);
	q->resetting = false;
	WRITE_ONCE(q->resets, q->resets + 1);
	enpu_genl_engine_reset(q->edev, q->index);
	for (i = q->retired; i != q->tail; i++) {
		struct enpu_job *job = q->slots[i % ENPU_RING_SIZE];

		q->slots[i % ENPU_RING_SIZE] = NULL;
		if (job)
			enpu_job_retire(job, -ETIMEDOUT);
	}
	enpu_hw_init(q);
	return true;
}

/* ---- scheduler backend ------------------------------------------------------------------- */

/*
 * A job that fails before it reaches the ring: the scheduler signals its fence at once. The
 * fences of one context signal in submission order, so it first waits for the context's
 * previous job, which has left the ring (one job at a time, and a context stays on its
 * engine while its last job runs) but whose fence the scheduler may still be signalling: it
 * frees the ring's credit first.
 */
static struct dma_fence *enpu_job_fail_early(struct enpu_job *job, int err)
{
	if (job->prev)
		dma_fence_wait(job->prev, false);
	return err ? ERR_PTR(err) : NULL;
}

/* Puts the job on the engine's ring; the engine runs it and interrupts when it ends. */
static struct dma_fence *enpu_job_run(struct drm_sched_job *sched_job)
{
	struct enpu_job *job = to_enpu_job(sched_job);
	struct enpu_queue *q = to_enpu_queue(sched_job->sched);
	int ret;

	enpu_age_started(&q->age, job, &q->edev->prio_aged);
	/* A job whose dependencies failed, or that was cancelled, does not run. */
	if (unlikely(sched_job->s_fence->finished.error))
		return enpu_job_fail_early(job, 0);
	ret = enpu_job_deps_error(job);
	if (unlikely(ret))
		return enpu_job_fail_early(job, ret);

	/* the job's clock request takes effect before the engine sees the job */
	ret = enpu_pm_job_begin(q->edev, job->freq_req);
	if (ret)
		return enpu_job_fail_early(job, ret);
	job->pm_ref = true;
	job->start = ktime_get();

	dma_fence_init(job->hw_fence, &enpu_fence_ops, &q->fence_lock, q->fence_context,
		       ++q->seqno);
	job->hw_fence_init = true;
	dma_fence_get(job->hw_fence); /* the scheduler's reference */

	mutex_lock(&q->lock);
	enpu_ring_post(q, job);
	mutex_unlock(&q->lock);
	return job->hw_fence;
}

/*
 * Gives every job drm_sched_stop() left on the pending list its hardware fence back as its
 * parent. Stop detached the fences that had not signalled, and drm_sched_start() finishes a
 * job without a parent at once (6.12: with -ECANCELED) and frees it. That job need not be
 * the timed-out one: if that one ended just as its timeout fired, the scheduler took its
 * credit back and posted the next job before the handler stopped it, so the next job is on
 * the ring, running, and must stay alive until the engine retires it. A reset has signalled
 * the fences of the jobs it stopped (-ETIMEDOUT), and start finishes those with that error.
 * The scheduler is stopped: nothing else changes the list.
 */
static void enpu_sched_reattach(struct drm_gpu_scheduler *sched)
{
	struct drm_sched_job *s_job;

	list_for_each_entry(s_job, &sched->pending_list, list) {
		struct enpu_job *job = to_enpu_job(s_job);

		if (job->hw_fence_init && !s_job->s_fence->parent)
			s_job->s_fence->parent = dma_fence_get(job->hw_fence);
	}
}

/*
 * Tests only (debug_tdr_delay_ms): the handler waits before it stops the scheduler, so that
 * a job ending just as its timeout fires, and the next job started on its credit, are seen.
 */
static enum drm_gpu_sched_stat enpu_job_timedout(struct drm_sched_job *sched_job)
{
	struct enpu_job *job = to_enpu_job(sched_job);
	struct enpu_queue *q = to_enpu_queue(sched_job->sched);
	unsigned int delay_ms = READ_ONCE(enpu_debug_tdr_delay_ms);

	if (delay_ms)
		msleep(min(delay_ms, 1000u));
	drm_sched_stop(&q->sched, sched_job);

	mutex_lock(&q->lock);
	enpu_ring_retire(q); /* it may have ended before its interrupt was handled */
	if (job->hw_fence_init && !dma_fence_is_signaled(job->hw_fence)) {
		enpu_genl_job_timeout(q->edev, q->index, job->pid);
		if (enpu_hw_reset(q))
			dev_warn_ratelimited(q->edev->drm.dev,
					     "engine %u: job timed out after %u ms, engine reset\n",
					     q->index, enpu_job_timeout_ms);
	}
	mutex_unlock(&q->lock);

	enpu_sched_reattach(&q->sched);
	enpu_sched_start(&q->sched);
	return DRM_GPU_SCHED_STAT_NOMINAL;
}

/* Priority ageing: a job may be held back for a starved lower-priority one (edge_npu_prio.c). */
static struct dma_fence *enpu_job_prepare(struct drm_sched_job *sched_job,
					  struct drm_sched_entity *entity)
{
	return enpu_age_gate(&to_enpu_queue(sched_job->sched)->age, to_enpu_job(sched_job));
}

static const struct drm_sched_backend_ops enpu_sched_ops = {
	.ENPU_SCHED_OP_PREPARE_JOB = enpu_job_prepare,
	.run_job = enpu_job_run,
	.timedout_job = enpu_job_timedout,
	.free_job = enpu_job_free,
};

/* The engine, its ring and its interrupt. */
static int enpu_queue_hw_init(struct enpu_queue *q, u32 caps)
{
	int ret;

	q->ring = kcalloc(ENPU_RING_SIZE, sizeof(*q->ring), GFP_KERNEL);
	if (!q->ring)
		return -ENOMEM;
	ret = enpu_silicon_create(caps, &q->hw);
	if (ret)
		return ret;
	enpu_hw_init(q);
	ret = request_threaded_irq(enpu_silicon_irq(q->hw), enpu_irq, enpu_irq_thread, 0,
				   q->name, q);
	if (ret)
		return ret;
	q->irq = enpu_silicon_irq(q->hw);
	return 0;
}

static void enpu_queue_hw_fini(struct enpu_queue *q)
{
	if (q->irq)
		free_irq(q->irq, q);
	enpu_silicon_destroy(q->hw);
	kfree(q->ring);
}

static int enpu_queue_sched_init(struct enpu_queue *q)
{
	long timeout = msecs_to_jiffies(enpu_job_timeout_ms ? enpu_job_timeout_ms : 500);

#ifdef ENPU_SCHED_INIT_ARGS
	const struct drm_sched_init_args args = {
		.ops = &enpu_sched_ops,
#ifdef ENPU_SCHED_NUM_RQS /* one run queue per priority (the contexts' LOW/NORMAL/HIGH) */
		.num_rqs = DRM_SCHED_PRIORITY_COUNT,
#endif
		.credit_limit = 1,
		.timeout = timeout,
		.name = q->name,
		.dev = q->edev->drm.dev,
	};

	return drm_sched_init(&q->sched, &args);
#else
	return drm_sched_init(&q->sched, &enpu_sched_ops, 1, 0, timeout, NULL, NULL,
			      q->name, q->edev->drm.dev);
#endif
}

static int enpu_queue_init(struct enpu_device *edev, u32 i, u32 caps)
{
	struct enpu_queue *q = kzalloc(sizeof(*q), GFP_KERNEL);
	int ret;

	if (!q)
		return -ENOMEM;
	q->edev = edev;
	q->index = i;
	snprintf(q->name, sizeof(q->name), "edge_npu-%u", i);
	mutex_init(&q->lock);
	spin_lock_init(&q->fence_lock);
	q->fence_context = dma_fence_context_alloc(1);
	enpu_age_init(&q->age);
	edev->queues[i] = q; /* enpu_queues_fini() undoes a partial init */
	ret = enpu_queue_hw_init(q, caps);
	if (ret)
		return ret;
	ret = enpu_queue_sched_init(q);
	if (ret)
		return ret;
	edev->scheds[i] = &q->sched;
	return 0;
}

int enpu_queues_init(struct enpu_device *edev)
{
	u32 caps = enpu_debug_stall ? NPU_CAP_DEBUG : 0;
	u32 i;
	int ret;

	INIT_WORK(&edev->jobs_put, enpu_jobs_put_work);
	edev->validator = kzalloc(sizeof(*edev->validator), GFP_KERNEL);
	if (!edev->validator)
		return -ENOMEM;
	npu_engine_init(edev->validator, NULL, caps);
	for (i = 0; i < edev->num_engines; i++) {
		ret = enpu_queue_init(edev, i, caps);
		if (ret) {
			enpu_queues_fini(edev);
			return ret;
		}
	}
	return 0;
}

/*
 * Waits until the hardware queue has no job left: no new job can start (files are closed, or
 * the device is unplugged and enpu_pm_job_begin() refuses), but a hung job may still wait for
 * its timeout, and drm_sched_fini() would leak it.
 */
static void enpu_queue_drain(struct enpu_queue *q)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(2 * enpu_job_timeout_ms + 1000);
	bool empty;

	for (;;) {
		spin_lock(&q->sched.job_list_lock);
		empty = list_empty(&q->sched.pending_list);
		spin_unlock(&q->sched.job_list_lock);
		if (empty || time_after(jiffies, deadline))
			break;
		msleep(10);
	}
	if (!empty)
		dev_err(q->edev->drm.dev, "engine %u: jobs still pending at removal\n", q->index);
}

/**
 * enpu_queues_drain() - waits (bounded by the job timeout) for the jobs on the engines.
 * @edev: the device, unplugged.
 */
void enpu_queues_drain(struct enpu_device *edev)
{
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		if (edev->queues[i])
			enpu_queue_drain(edev->queues[i]);
}

/**
 * enpu_queues_fini() - tears the queues down.
 * @edev: the device at its release (no job is left: live jobs hold the device), or not
 *	registered yet (probe's unwind).
 */
void enpu_queues_fini(struct enpu_device *edev)
{
	u32 i;

	for (i = 0; i < edev->num_engines; i++) {
		struct enpu_queue *q = edev->queues[i];

		if (!q)
			continue;
		if (edev->scheds[i])
			drm_sched_fini(&q->sched);
		enpu_queue_hw_fini(q);
		enpu_age_fini(&q->age);
		mutex_destroy(&q->lock);
		kfree(q);
		edev->queues[i] = NULL;
		edev->scheds[i] = NULL;
	}
	kfree(edev->validator);
	edev->validator = NULL;
}

/* ---- SUBMIT ------------------------------------------------------------------------------ */

/* Reads entry i of the job's buffer list; -EINVAL for undefined flags or fields. */
static int enpu_job_get_ref(const struct drm_edge_npu_submit *args, u32 i,
			    struct drm_edge_npu_bo_ref *ref)
{
	void __user *uref = u64_to_user_ptr(args->bos + (u64)i * args->bo_ref_size);
	u32 access = DRM_EDGE_NPU_BO_READ | DRM_EDGE_NPU_BO_WRITE;
	u64 end;
	int ret;

	ret = copy_struct_from_user(ref, sizeof(*ref), uref, args->bo_ref_size);
	if (ret)
		return ret == -E2BIG ? -EINVAL : ret;
	if (!(ref->flags & access) || (ref->flags & ~(access | DRM_EDGE_NPU_BO_VA)))
		return -EINVAL;
	if (!(ref->flags & DRM_EDGE_NPU_BO_VA))
		return ref->addr || ref->size ? -EINVAL : 0;
	if (ref->handle || !ref->addr || !ref->size ||
	    check_add_overflow(ref->addr, ref->size, &end) || end > DRM_EDGE_NPU_VA_USER_END)
		return -EINVAL; /* the driver's half holds other jobs' BOs */
	return 0;
}

/*
 * Buffer i, named by handle: looked up (once per job), and given the range of the whole BO in
 * the driver's half of the context's space for the job's life (its pages are mapped once the
 * stream says which it uses: enpu_job_map_pages()). Returns its device address.
 */
static int enpu_job_map_bo(struct enpu_job *job, struct drm_file *file, u32 i,
			   const struct drm_edge_npu_bo_ref *ref, u64 *addr)
{
	struct drm_gem_object *obj = drm_gem_object_lookup(file, ref->handle);
	u32 n = job->num_bos, j;
	int ret;

	if (!obj)
		return -ENOENT;
	/* Distinct handles of one file may still name one object (a self-import). */
	for (j = 0; j < n; j++) {
		if (job->bos[j] == obj) {
			drm_gem_object_put(obj);
			return -EINVAL;
		}
	}
	job->bos[n] = obj;
	job->bo_write[n] = ref->flags & DRM_EDGE_NPU_BO_WRITE;
	job->bo_buf[n] = i;
	job->num_bos++;
	ret = enpu_vm_reserve(job->ctx->vm, obj,
			      (ref->flags & DRM_EDGE_NPU_BO_READ ? NPU_PTE_READ : 0) |
			      (ref->flags & DRM_EDGE_NPU_BO_WRITE ? NPU_PTE_WRITE : 0),
			      &job->maps[n]);
	if (!ret)
		*addr = enpu_vm_mapping_addr(job->maps[n]);
	return ret;
}

/* Reads and checks the job's buffer list, and builds its buffer table of device addresses. */
static int enpu_job_get_bos(struct enpu_job *job, struct drm_file *file,
			    const struct drm_edge_npu_submit *args)
{
	u32 n = args->num_bos, i, j;
	struct drm_edge_npu_bo_ref *refs;
	int ret = 0;

	job->bos = kvcalloc(n ? n : 1, sizeof(*job->bos), GFP_KERNEL_ACCOUNT);
	job->maps = kvcalloc(n ? n : 1, sizeof(*job->maps), GFP_KERNEL_ACCOUNT);
	job->bo_write = kvcalloc(n ? n : 1, sizeof(*job->bo_write), GFP_KERNEL_ACCOUNT);
	job->bo_buf = kvcalloc(n ? n : 1, sizeof(*job->bo_buf), GFP_KERNEL_ACCOUNT);
	job->bufs = kvcalloc(n ? n : 1, sizeof(*job->bufs), GFP_KERNEL_ACCOUNT);
	job->table = kvcalloc(n ? n : 1, sizeof(*job->table), GFP_KERNEL_ACCOUNT);
	refs = kvcalloc(n ? n : 1, sizeof(*refs), GFP_KERNEL_ACCOUNT);
	if (!job->bos || !job->maps || !job->bo_write || !job->bo_buf || !job->bufs ||
	    !job->table || !refs) {
		kvfree(refs);
		return -ENOMEM;
	}
	/* every entry is checked before any BO is looked up or mapped */
	for (i = 0; i < n && !ret; i++) {
		ret = enpu_job_get_ref(args, i, &refs[i]);
		for (j = 0; j < i && !ret; j++)
			if (refs[i].handle && refs[j].handle == refs[i].handle)
				ret = -EINVAL;
	}
	for (i = 0; i < n && !ret; i++) {
		struct npu_buffer *b = &job->bufs[i];

		b->flags = (refs[i].flags & DRM_EDGE_NPU_BO_READ ? ENPU_BUF_F_READ : 0) |
			   (refs[i].flags & DRM_EDGE_NPU_BO_WRITE ? ENPU_BUF_F_WRITE : 0);
		if (refs[i].flags & DRM_EDGE_NPU_BO_VA) {
			b->addr = refs[i].addr;
			b->size = refs[i].size;
			b->id = enpu_vm_range_id(job->ctx->vm, b->addr, b->size);
		} else {
			ret = enpu_job_map_bo(job, file, i, &refs[i], &b->addr);
			if (ret)
				break;
			b->size = job->bos[job->num_bos - 1]->size;
			b->id = to_enpu_bo(job->bos[job->num_bos - 1])->id;
		}
		job->table[i] = (struct npu_buf_desc){
			.addr = b->addr, .size = b->size, .id = b->id, .flags = b->flags,
		};
	}
	job->num_bufs = n;
	kvfree(refs);
	return ret;
}

/* Copies the stream out of its BO. */
static int enpu_job_get_stream(struct enpu_job *job, struct drm_file *file,
			       const struct drm_edge_npu_submit *args)
{
	struct drm_gem_object *obj;
	int ret;

	obj = drm_gem_object_lookup(file, args->cmd_bo);
	if (!obj)
		return -ENOENT;
	if (args->cmd_offset > obj->size || args->cmd_size > obj->size - args->cmd_offset) {
		ret = -EINVAL;
		goto out;
	}
	job->stream = kvmalloc(args->cmd_size, GFP_KERNEL_ACCOUNT);
	if (!job->stream) {
		ret = -ENOMEM;
		goto out;
	}
	/* page by page: only the stream's pages, and nothing vmapped */
	ret = enpu_bo_read(obj, args->cmd_offset, job->stream, args->cmd_size);
	if (!ret)
		job->stream_len = args->cmd_size;
out:
	drm_gem_object_put(obj);
	return ret;
}

static int enpu_job_add_in_syncs(struct enpu_job *job, struct drm_file *file,
				 const struct drm_edge_npu_submit *args)
{
	u32 __user *handles = u64_to_user_ptr(args->in_syncs);
	u32 i;
	int ret = enpu_job_grow_deps(job, args->num_in_syncs);

	for (i = 0; !ret && i < args->num_in_syncs; i++) {
		struct dma_fence *fence;
		u32 handle;

		if (get_user(handle, handles + i))
			return -EFAULT;
		ret = drm_syncobj_find_fence(file, handle, 0, 0, &fence);
		if (ret)
			return ret;
		job->deps[job->num_deps++] = dma_fence_get(fence);
		ret = drm_sched_job_add_dependency(&job->base, fence);
	}
	return ret;
}

/*
 * Adds the fences of obj's reservation object that the job waits for (implicit sync) to the
 * scheduler's dependencies; obj is locked. Of a BO the job reads, the writers' fences also go
 * on the job's own list, whose errors fail it: what it would read was never written. The
 * fences it waits for only to keep order (other readers, or the writers of a BO it only
 * writes) carry no error to it, or one failed job would fail every later user of its BOs.
 */
static int enpu_job_add_implicit_deps(struct enpu_job *job, struct drm_gem_object *obj,
				      bool write, bool read)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence;
	u32 n = 0;
	int ret;

	if (read) {
		dma_resv_for_each_fence(&cursor, obj->resv, DMA_RESV_USAGE_WRITE, fence)
			n++;
		ret = enpu_job_grow_deps(job, n);
		if (ret)
			return ret;
		dma_resv_for_each_fence(&cursor, obj->resv, DMA_RESV_USAGE_WRITE, fence) {
			if (WARN_ON_ONCE(!n--)) /* obj is locked: its fences do not change */
				break;
			job->deps[job->num_deps++] = dma_fence_get(fence);
		}
	}
	return drm_sched_job_add_implicit_dependencies(&job->base, obj, write);
}

static int enpu_submit_check_args(const struct drm_edge_npu_submit *args)
{
	if (args->flags || args->reserved || args->reserved2)
		return -EINVAL;
	if (enpu_pm_freq_request(args->freq_khz) == -EINVAL)
		return -EINVAL;
	if (!args->cmd_size || args->cmd_size > ENPU_MAX_STREAM_BYTES || args->cmd_offset % 8)
		return -EINVAL;
	if (args->num_bos > DRM_EDGE_NPU_MAX_BOS || args->num_in_syncs > DRM_EDGE_NPU_MAX_IN_SYNCS)
		return -EINVAL;
	/* the first version of the entry had the handle and the flags only */
	if (args->num_bos &&
	    args->bo_ref_size < offsetofend(struct drm_edge_npu_bo_ref, flags))
		return -EINVAL;
	if (args->bo_ref_size > PAGE_SIZE)
		return -EINVAL;
	return 0;
}

/*
 * A job of the caller's context ctx_id (its reference held by the job), charged to the
 * caller; -ENOENT for an unknown context.
 */
static int enpu_job_new(struct enpu_file *efile, u32 ctx_id, struct enpu_job **out)
{
	struct enpu_ctx *ctx = enpu_ctx_lookup(efile, ctx_id);
	struct enpu_job *job;

	if (!ctx)
		return -ENOENT;
	if (atomic_inc_return(&efile->num_jobs) > READ_ONCE(enpu_max_jobs_per_file)) {
		atomic_dec(&efile->num_jobs);
		enpu_ctx_put(ctx);
		return -ENOSPC;
	}
	job = kzalloc(sizeof(*job), GFP_KERNEL_ACCOUNT);
	if (!job) {
		atomic_dec(&efile->num_jobs);
		enpu_ctx_put(ctx);
		return -ENOMEM;
	}
	enpu_job_live(efile->edev);
	job->ctx = ctx;
	job->pid = task_tgid_nr(current);
	job->prio = ctx->priority;
	job->freq_req = ENPU_NO_FREQ_REQUEST;
	job->hw_fence = kzalloc(sizeof(*job->hw_fence), GFP_KERNEL_ACCOUNT);
	if (!job->hw_fence) {
		enpu_job_free_mem(job);
		return -ENOMEM;
	}
	*out = job;
	return 0;
}

/*
 * Maps, of each BO named by handle, the pages the stream touches (the extents the validator
 * found): a job that uses one page of a huge BO pins one page.
 */
static int enpu_job_map_pages(struct enpu_job *job, const struct npu_extent *ext)
{
	u32 j;
	int ret;

	for (j = 0; j < job->num_bos; j++) {
		const struct npu_extent *x = &ext[job->bo_buf[j]];
		unsigned long first = x->start >> PAGE_SHIFT;

		if (x->start >= x->end)
			continue; /* no command names it */
		ret = enpu_vm_populate(job->ctx->vm, job->maps[j], first,
				       DIV_ROUND_UP(x->end, PAGE_SIZE) - first);
		if (ret)
			return ret;
	}
	return 0;
}

/* The job's buffers and command stream, the stream validated against them, the pages mapped. */
static int enpu_job_load(struct enpu_device *edev, struct enpu_job *job, struct drm_file *file,
			 struct drm_edge_npu_submit *args)
{
	struct npu_extent *ext;
	struct npu_status st;
	int ret = enpu_job_get_bos(job, file, args);

	if (!ret)
		ret = enpu_job_get_stream(job, file, args);
	if (ret)
		return ret;
	ext = kvcalloc(job->num_bufs ? job->num_bufs : 1, sizeof(*ext), GFP_KERNEL_ACCOUNT);
	if (!ext)
		return -ENOMEM;
	if (npu_validate_extents(edev->validator, job->stream, job->stream_len, job->bufs,
				 job->num_bufs, &st, ext)) {
		args->error_code = st.code;
		args->error_cmd = st.cmd_index;
		drm_dbg(&edev->drm, "stream refused: command %u: %s\n", st.cmd_index, st.reason);
		ret = -EINVAL;
	} else {
		ret = enpu_job_map_pages(job, ext);
	}
	kvfree(ext);
	return ret;
}

/*
 * Locks the job's reservation objects with room for its fence, and depends on what they
 * hold (implicit sync). Unlocked again on failure.
 */
static int enpu_job_lock_bos(struct enpu_job *job, struct ww_acquire_ctx *ticket)
{
	int ret = drm_gem_lock_reservations(job->bos, job->num_bos, ticket);
	u32 i;

	for (i = 0; !ret && i < job->num_bos; i++) {
		ret = dma_resv_reserve_fences(job->bos[i]->resv, 1);
		if (!ret)
			ret = enpu_job_add_implicit_deps(job, job->bos[i], job->bo_write[i],
							 job->bufs[job->bo_buf[i]].flags &
								 ENPU_BUF_F_READ);
		if (ret)
			drm_gem_unlock_reservations(job->bos, job->num_bos, ticket);
	}
	return ret;
}

/*
 * Arms the job, publishes its fence in the (locked) reservation objects, unlocks them and
 * pushes it; returns a reference to its finished fence. Once pushed the job may run and be
 * freed at any time, so nothing after the push touches it.
 */
static struct dma_fence *enpu_job_push(struct enpu_device *edev, struct enpu_ctx *ctx,
				       struct enpu_job *job, struct ww_acquire_ctx *ticket,
				       struct drm_edge_npu_submit *args)
{
	struct dma_fence *done;
	u32 i;

	mutex_lock(&edev->sched_lock);
	drm_sched_job_arm(&job->base);
	enpu_age_pushed(&to_enpu_queue(job->base.sched)->age, job);
	done = dma_fence_get(&job->base.s_fence->finished);
	job->done = dma_fence_get(done);
	for (i = 0; i < job->num_bos; i++)
		dma_resv_add_fence(job->bos[i]->resv, done,
				   job->bo_write[i] ? DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ);
	drm_gem_unlock_reservations(job->bos, job->num_bos, ticket);
	job->prev = enpu_vm_set_last(ctx->vm, done); /* UNMAP waits for it */
	spin_lock(&ctx->lock);
	args->seqno = ++ctx->seqno;
	spin_unlock(&ctx->lock);
	job->queued = true;
	atomic_inc(&edev->queued[job->prio]);
	drm_sched_entity_push_job(&job->base);
	mutex_unlock(&edev->sched_lock);
	return done;
}

int enpu_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct enpu_device *edev = to_enpu(drm);
	struct enpu_file *efile = file->driver_priv;
	struct drm_edge_npu_submit *args = data;
	struct drm_syncobj *out_sync = NULL;
	struct dma_fence *done;
	struct ww_acquire_ctx ticket;
	struct enpu_job *job;
	struct enpu_ctx *ctx;
	bool sched_inited = false;
	int idx;
	int ret;

	/* outputs */
	args->seqno = 0;
	args->error_code = 0;
	args->error_cmd = 0;
	ret = enpu_submit_check_args(args);
	if (ret)
		return ret;
	/* No job is queued once the device is unplugged (enpu_remove() drains the engines). */
	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	ret = enpu_job_new(efile, args->ctx, &job);
	if (ret) {
		drm_dev_exit(idx);
		return ret;
	}
	ctx = job->ctx;
	job->freq_req = enpu_pm_freq_request(args->freq_khz); /* checked above */

	ret = enpu_job_load(edev, job, file, args);
	if (ret)
		goto err;

	if (args->out_sync) {
		out_sync = drm_syncobj_find(file, args->out_sync);
		if (!out_sync) {
			ret = -ENOENT;
			goto err;
		}
	}

	/* held to the push: CTX_DESTROY cannot destroy the entity in between (enpu_ctx_destroy) */
	mutex_lock(&ctx->submit_lock);
	if (ctx->dead) {
		ret = -ENOENT;
		goto err_unlock;
	}
	if (READ_ONCE(ctx->guilty)) {
		ret = -ECANCELED;
		goto err_unlock;
	}
	ret = enpu_sched_job_init(&job->base, &ctx->entity, file);
	if (ret)
		goto err_unlock;
	sched_inited = true;

	ret = enpu_job_add_in_syncs(job, file, args);
	if (ret)
		goto err_unlock;

	ret = enpu_job_lock_bos(job, &ticket);
	if (ret)
		goto err_unlock;
	done = enpu_job_push(edev, ctx, job, &ticket, args);
	mutex_unlock(&ctx->submit_lock);

	if (out_sync) {
		drm_syncobj_replace_fence(out_sync, done);
		drm_syncobj_put(out_sync);
	}
	dma_fence_put(done);
	drm_dev_exit(idx);
	return 0;

err_unlock:
	mutex_unlock(&ctx->submit_lock);
err:
	if (out_sync)
		drm_syncobj_put(out_sync);
	if (sched_inited)
		drm_sched_job_cleanup(&job->base);
	enpu_job_free_mem(job);
	drm_dev_exit(idx);
	return ret;
}
