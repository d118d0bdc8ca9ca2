// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_prio.c - priorities across contexts: drm_sched's strict order, plus ageing.
 *
 * Each context's entity sits on the run queue of its priority (LOW, NORMAL, HIGH), and
 * drm_sched picks, whenever an engine is free, a ready job of the highest priority that has
 * one: a client that keeps HIGH jobs queued would starve every LOW one for as long as it
 * does. The driver keeps the lower ones moving where the scheduler asks it whether a job may
 * run (the backend's prepare_job, 6.1's dependency):
 *
 *   Ageing rule. Per engine, for each priority p, the driver counts the jobs of higher
 *   priorities that started while a job of priority p waited there (pushed, not started).
 *   Once that count reaches the module parameter prio_age_jobs (default 8; 0: strict
 *   priorities, no ageing), every job of a priority above p that the scheduler picks on that
 *   engine is held back on a "gate" fence, so that the scheduler, finding them not ready,
 *   picks the waiting job of priority p; its start opens the gate and resets p's count. If
 *   no job of priority p (or lower) starts within ENPU_AGE_GATE_MS - it waits for its own
 *   in-syncs or implicit fences - the gate opens anyway and the count starts again, so a
 *   blocked job costs the others at most that long once per prio_age_jobs jobs.
 *
 * With every level busy, a LOW job so runs at least once per prio_age_jobs + 1 jobs on its
 * engine, and the higher levels share the rest in strict order (NORMAL ages against HIGH the
 * same way). Jobs already on an engine are never preempted.
 *
 * Locking: &enpu_age.lock (irq-safe: the gate's timer runs in hard interrupt context) guards
 * the counts and the gate; the gate fence is signalled outside it. The scheduler of an
 * engine calls prepare_job and run_job from one thread, but pushes (SUBMIT) and frees
 * (free_job, entity teardown) come from any context.
 */
#include <linux/dma-fence.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "edge_npu_drv.h"

unsigned int enpu_prio_age_jobs = 8;
module_param_named(prio_age_jobs, enpu_prio_age_jobs, uint, 0644);
MODULE_PARM_DESC(prio_age_jobs,
		 "Jobs of higher priorities an engine starts while a lower-priority job waits "
		 "before that job goes first (0 = strict priorities)");

/* How long a gate holds higher-priority jobs back for a waiting job that does not start. */
#define ENPU_AGE_GATE_MS	20

static const char *enpu_gate_driver_name(struct dma_fence *fence)
{
	return ENPU_DRIVER_NAME;
}

static const char *enpu_gate_timeline_name(struct dma_fence *fence)
{
	return "edge_npu-ageing";
}

static const struct dma_fence_ops enpu_gate_ops = {
	.get_driver_name = enpu_gate_driver_name,
	.get_timeline_name = enpu_gate_timeline_name,
};

/* Signals and drops a gate taken out of &enpu_age.gate (NULL: nothing). */
static void enpu_age_open(struct dma_fence *gate)
{
	if (!gate)
		return;
	dma_fence_signal(gate);
	dma_fence_put(gate);
}

/* The lowest priority below prio whose waiting job has aged, or prio if none; lock held. */
static u32 enpu_age_starved_locked(const struct enpu_age *a, u32 prio)
{
	u32 n = READ_ONCE(enpu_prio_age_jobs), l;

	if (!n)
		return prio;
	for (l = 0; l < prio; l++)
		if (a->waiting[l] && a->passed[l] >= n)
			return l;
	return prio;
}

static enum hrtimer_restart enpu_age_timeout(struct hrtimer *timer)
{
	struct enpu_age *a = container_of(timer, struct enpu_age, timer);
	struct dma_fence *gate = NULL;
	unsigned long flags;
	u32 l;

	spin_lock_irqsave(&a->lock, flags);
	/* a later gate than the one this expiry was for keeps its own deadline */
	if (a->gate && ktime_compare(ktime_get(), a->gate_deadline) >= 0) {
		gate = a->gate;
		a->gate = NULL;
		for (l = 0; l < ENPU_NUM_PRIORITIES; l++)
			if (a->passed[l] >= READ_ONCE(enpu_prio_age_jobs))
				a->passed[l] = 0; /* it did not start: count again */
	}
	spin_unlock_irqrestore(&a->lock, flags);
	enpu_age_open(gate);
	return HRTIMER_NORESTART;
}

/**
 * enpu_age_init() - sets up an engine's ageing state.
 * @a: the state, zeroed.
 */
void enpu_age_init(struct enpu_age *a)
{
	spin_lock_init(&a->lock);
	spin_lock_init(&a->fence_lock);
	a->fence_context = dma_fence_context_alloc(1);
	hrtimer_init(&a->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	a->timer.function = enpu_age_timeout;
}

/**
 * enpu_age_fini() - stops the timer and opens a gate left armed.
 * @a: the state.
 */
void enpu_age_fini(struct enpu_age *a)
{
	struct dma_fence *gate;
	unsigned long flags;

	hrtimer_cancel(&a->timer);
	spin_lock_irqsave(&a->lock, flags);
	gate = a->gate;
	a->gate = NULL;
	spin_unlock_irqrestore(&a->lock, flags);
	enpu_age_open(gate);
}

/**
 * enpu_age_pushed() - counts a job, armed on its engine and about to be pushed, as waiting.
 * @a: the ageing state of the engine the job was armed on.
 * @job: the job.
 */
void enpu_age_pushed(struct enpu_age *a, struct enpu_job *job)
{
	unsigned long flags;

	spin_lock_irqsave(&a->lock, flags);
	a->waiting[job->prio]++;
	job->age_waiting = true;
	spin_unlock_irqrestore(&a->lock, flags);
}

/**
 * enpu_age_gate() - whether the scheduler may start a job now (prepare_job).
 * @a: the ageing state of the job's engine.
 * @job: the job the scheduler picked.
 *
 * Return: NULL, or a reference to the gate fence the job waits for, when a job of a lower
 * priority has waited past prio_age_jobs higher ones. Without memory for the gate (GFP_NOWAIT:
 * the scheduler's path must not wait for reclaim) the job runs, and ageing waits for the next.
 */
struct dma_fence *enpu_age_gate(struct enpu_age *a, struct enpu_job *job)
{
	struct dma_fence *ret = NULL;
	unsigned long flags;
	u32 l;

	spin_lock_irqsave(&a->lock, flags);
	l = enpu_age_starved_locked(a, job->prio);
	if (l < job->prio && !a->gate) {
		struct dma_fence *gate = kzalloc(sizeof(*gate), GFP_NOWAIT | __GFP_NOWARN);

		if (gate) {
			dma_fence_init(gate, &enpu_gate_ops, &a->fence_lock, a->fence_context,
				       ++a->seqno);
			a->gate = gate;
			a->gate_prio = l;
			a->gate_deadline = ktime_add_ms(ktime_get(), ENPU_AGE_GATE_MS);
			hrtimer_start(&a->timer, ms_to_ktime(ENPU_AGE_GATE_MS), HRTIMER_MODE_REL);
		}
	}
	if (l < job->prio && a->gate) {
		a->gate_prio = min(a->gate_prio, l);
		ret = dma_fence_get(a->gate);
	}
	spin_unlock_irqrestore(&a->lock, flags);
	return ret;
}

/**
 * enpu_age_started() - a job starts on the engine (run_job, also for a job that fails there).
 * @a: the ageing state of the engine.
 * @job: the job.
 * @aged: the device's count of jobs that ran by ageing (sysfs prio_aged).
 */
void enpu_age_started(struct enpu_age *a, struct enpu_job *job, atomic64_t *aged)
{
	struct dma_fence *gate = NULL;
	unsigned long flags;
	u32 p = job->prio, l;

	spin_lock_irqsave(&a->lock, flags);
	if (job->age_waiting) {
		job->age_waiting = false;
		a->waiting[p]--;
	}
	a->passed[p] = 0;
	for (l = 0; l < p; l++)
		if (a->waiting[l])
			a->passed[l]++;
	if (a->gate && p <= a->gate_prio) {
		gate = a->gate;
		a->gate = NULL;
		atomic64_inc(aged);
	}
	spin_unlock_irqrestore(&a->lock, flags);
	if (gate)
		hrtimer_try_to_cancel(&a->timer);
	enpu_age_open(gate);
}

/**
 * enpu_age_dropped() - a job is freed without having started (its entity was torn down).
 * @a: the ageing state of the engine it was armed on.
 * @job: the job.
 */
void enpu_age_dropped(struct enpu_age *a, struct enpu_job *job)
{
	struct dma_fence *gate = NULL;
	unsigned long flags;
	u32 l;

	spin_lock_irqsave(&a->lock, flags);
	if (job->age_waiting) {
		job->age_waiting = false;
		if (!--a->waiting[job->prio])
			a->passed[job->prio] = 0;
	}
	if (a->gate) { /* nothing left that the gate waits for: open it */
		for (l = 0; l <= a->gate_prio && !a->waiting[l]; l++)
			;
		if (l > a->gate_prio) {
			gate = a->gate;
			a->gate = NULL;
		}
	}
	spin_unlock_irqrestore(&a->lock, flags);
	enpu_age_open(gate);
}
