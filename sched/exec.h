/* SPDX-License-Identifier: MIT */
/*
 * exec.h - the runtime dispatcher: runs placed graphs on the devices' queues concurrently.
 *
 * One queue and one worker thread per device. A run submits every op of a graph at once to
 * the queue of the device its placement names, each op with a HAL fence (hal.h) that it
 * signals when done; a queue starts an op as soon as the fences of the ops it depends on
 * (the graph's dependency DAG: read-after-write, write-after-read and write-after-write over
 * the memory the ops touch) are signalled. Ops on different devices overlap wherever the
 * graph allows, and a device hands its result to the next device itself: the thread that
 * submitted the run only waits for its end. A run on one device is run by the submitting
 * thread itself whenever the device is free (no hand-off between threads at all).
 *
 * Several runs (the sessions of one context, from different threads) share the queues: each
 * device picks, among the ops whose inputs are ready, those of the highest-priority run first,
 * then the oldest run. A running op is never preempted. Whichever thread runs a device's op
 * publishes the device's counters for npu-top (hal/telemetry.h): one op at a time runs on a
 * device, so its counters have one writer at a time.
 *
 * An op that fails signals its fence with the error; the ops that depend on it are skipped
 * (their fences carry the error on), and the run returns the first failure's message.
 */
#ifndef EDGE_NPU_SCHED_EXEC_H
#define EDGE_NPU_SCHED_EXEC_H

#include "sched/common.h"
#include "sched/dag.h"
#include "sched/graph.h"
#include "sched/placement.h"

struct sched_exec;

/* Starts one worker per device (1 to SCHED_MAX_DEVS); devs must outlive the dispatcher. */
enum sched_status sched_exec_create(struct hal_device **devs, uint32_t n_devs,
				    struct sched_exec **out, char *err, size_t err_len);
/* Stops the workers (no run may be in flight). NULL is a no-op. */
void sched_exec_destroy(struct sched_exec *x);

struct sched_run_options {
	int32_t priority;                   /* higher runs first on a shared device; 0 normal */
	struct sched_usage *usage;          /* per device, added to (may be NULL) */
	const struct sched_observer *obs;   /* called after each op, one call at a time (NULL) */
	/*
	 * "auto" placement that learns (NULL: none): after each op, its measured time goes to
	 * sched_placer_learn(learn, placed, ...), one call at a time with the observer's.
	 */
	struct sched_placer *learn;
	const struct sched_placement *placed;
	/*
	 * Cancellation (NULL: none): once *cancel is nonzero (any thread may set it, atomically),
	 * no op of the run starts any more; the ops running finish, the rest are skipped, and the
	 * run returns SCHED_ERR_CANCELLED. So a cancel takes effect within one op.
	 */
	const int *cancel;
	/* per device, the clock its ops of this run should run at (the device's freq_hint; 0 or
	 * NULL: no wish), handed to the device before each of them */
	const uint64_t *freq_hint_hz;
};

/* What a run cost the host beyond its ops. */
struct sched_run_stats {
	uint64_t wall_ns;   /* submit to completion */
	uint64_t active_ns; /* time during which at least one device was running one of its ops */
	uint64_t ops_ns;    /* the sum of its ops' times (> active_ns when devices overlapped) */
};

/*
 * Runs g (placed: every node's device set) with the dependencies deps (sched_dag_from_graph
 * of g) and blocks until every op has completed or been skipped. Thread-safe: runs of
 * different graphs may be submitted from several threads at once; one graph must not be in
 * two runs at a time. Returns SCHED_OK, or the first failure with err naming the op.
 */
enum sched_status sched_exec_run(struct sched_exec *x, struct sched_graph *g,
				 const struct sched_dag *deps, const struct sched_run_options *o,
				 struct sched_run_stats *stats, char *err, size_t err_len);

/*
 * Work on a device outside its queue (converting weights into its layout while other runs use
 * it): hold waits until the device's worker is in none of its ops and keeps it from starting
 * one until release. Holds nest.
 */
void sched_exec_hold_device(struct sched_exec *x, uint32_t dev);
void sched_exec_release_device(struct sched_exec *x, uint32_t dev);

/* Runs submitted and not yet finished (queue depth, for tools and tests). */
uint32_t sched_exec_pending(struct sched_exec *x);

#endif
