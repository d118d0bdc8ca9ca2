/* SPDX-License-Identifier: MIT */
/*
 * placement.h - where each op of a built graph runs on this host's devices.
 *
 * Two rules. The fixed rule needs nothing but the devices: an op runs where its weights are,
 * else on a preferred device that supports it, else on the CPU fallback. The "auto" rule is
 * the scheduler's service, in four steps that sched_place_auto() takes in one call:
 *
 *   plan         partition the graph's dependency DAG on a device profile (partition.c) at the
 *                clocks the power manager allows within the admin's devfreq bounds (MODELED);
 *   map          each profile device onto this host's first device of the same class
 *                (hal_device.cls), the CPU fallback (device 0) where that device cannot run
 *                the op;
 *   materialise  each matmul's weights in the layout of the device that runs it, through the
 *                caller's weight_for callback (the caller owns the copies);
 *   predict      what the cost model expects of each op where it runs, and the clock to ask
 *                of each device with DVFS.
 *
 * On the host's own profile ("host", calibrated on this machine) the placer learns: the
 * dispatcher hands it each op's measured time (sched_run_options.learn, exec.h), which
 * corrects the cost model's history, and sched_placer_stale() says when the graph should be
 * placed again. On any other profile the predictions are of other silicon and nothing is
 * learnt.
 *
 * Threading: a placer belongs to one stream of runs (a session): its calls, and the learning
 * of the runs it placed, come one at a time.
 */
#ifndef EDGE_NPU_SCHED_PLACEMENT_H
#define EDGE_NPU_SCHED_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sched/graph.h"
#include "sched/cost.h"
#include "sched/partition.h"
#include "sched/profile.h"
#include "sched/simulate.h"

/* Devices of a host a placement can use (a context opens at most this many). */
#define SCHED_MAX_HOST_DEVS 8

/*
 * The fixed rule: ops whose weights a device owns run there; others on devs[preferred] when
 * it supports them; the rest on devs[0] (the CPU fallback).
 */
void sched_place_fixed(struct sched_graph *g, struct hal_device *const *devs, uint32_t n_devs,
		       uint32_t preferred);

/* This host's devices as "auto" placement sees them. */
struct sched_host {
	struct hal_device *const *devs; /* devs[0] is the CPU fallback */
	uint32_t n_devs;                /* <= SCHED_MAX_HOST_DEVS */
	/*
	 * Materialise: the version of matmul weight w (the model's, or a copy of it) that
	 * devs[dev] can run, made once and kept by the caller; NULL when there is none (the op
	 * then runs where its weight's owner is).
	 */
	struct hal_tensor *(*weight_for)(void *user, const struct hal_tensor *w, uint32_t dev);
	void *user;
};

/* "auto" placement of one stream of graphs: the profile, the objective and what it learnt. */
struct sched_placer {
	struct sched_profile profile;
	struct sched_part_options part; /* part.history points at history below */
	struct sched_history history;
	bool learns; /* the profile is this host's own: measured times correct it */
};

/*
 * Finds the profile (sched_profile_find: a name or a path) and sets the objective: latency
 * within the profile's power budget, or (min_energy) energy within latency_target_s.
 * SCHED_ERR_INVALID with err naming what is wrong. pr must not move afterwards.
 */
enum sched_status sched_placer_init(struct sched_placer *pr, const char *profile,
				    bool min_energy, double latency_target_s, char *err,
				    size_t err_len);

/*
 * Leaves the profile devices of class cls out of pr's plans from now on (their op sets
 * emptied in pr's copy of the profile): a stream that runs beside another on a device of that
 * class (speculative decoding's verifier beside its draft, driver/speculative.c) keeps off it
 * rather than queueing behind it. The CPU cannot be reserved (it is every plan's fallback):
 * SCHED_ERR_INVALID with err saying so; nothing changes then. A profile without a device of
 * cls is left as it is.
 */
enum sched_status sched_placer_reserve(struct sched_placer *pr, enum hal_device_class cls,
				       char *err, size_t err_len);

/* Per node of a placed graph: what the cost model predicted where the plan put it. */
struct sched_placed_node {
	uint64_t sig;      /* the op's signature (the history's key) */
	float predicted_s; /* the profile's time, history-corrected */
	uint8_t prof_dev;  /* the profile device the plan chose */
	bool measurable;   /* it runs on this host where planned: its time can teach the history */
};

/* One graph as "auto" placement left it: for the dispatcher, the learning and the report. */
struct sched_placement {
	uint32_t n_nodes;
	struct sched_placed_node *nodes;
	/* the power manager's clock per host device (0: no wish), sched_run_options.freq_hint_hz */
	uint64_t hint_hz[SCHED_MAX_HOST_DEVS];
	/* what was planned, for reports: ops per op kind on each profile device (at plan_opp[])
	 * and on each host device where they ran */
	uint32_t prof_ops[HAL_OP_COUNT][SCHED_MAX_DEVS];
	uint32_t host_ops[HAL_OP_COUNT][SCHED_MAX_HOST_DEVS];
	uint32_t plan_opp[SCHED_MAX_DEVS];
	struct sched_sim_result sim; /* the plan, simulated on the profile (MODELED) */
	/* each host device's devfreq attributes as read while placing (n_opp 0: it has none) */
	struct hal_devfreq devfreq[SCHED_MAX_HOST_DEVS];
	double place_ms; /* MEASURED: how long this placement took */
};

/*
 * Places g on host: plan, map, materialise, predict (above). deps: g's dependencies at the
 * context its attention will see; NULL to build them here at ctx_len (placing again, later in
 * a stream). Sets every node's device and, for matmuls, its weight; fills *out (whose previous
 * nodes are freed). On failure (SCHED_ERR_NOMEM; SCHED_ERR_INVALID when no plan could be
 * made on the profile, e.g. it has no device for some op) err says why, naming the profile,
 * and g and *out are untouched: the placement in force stays.
 */
enum sched_status sched_place_auto(struct sched_placer *pr, const struct sched_host *host,
				   struct sched_graph *g, const struct sched_dag *deps,
				   uint32_t ctx_len, struct sched_placement *out, char *err,
				   size_t err_len);

/* Frees what a placement holds (not the struct); zeroes it. */
void sched_placement_free(struct sched_placement *pl);

/* Whether the runs-th run (from 0) of a placed graph should teach the history. */
bool sched_placer_learns_now(const struct sched_placer *pr, uint32_t runs);
/* After run number `runs`: whether the graph should be placed again with what was learnt. */
bool sched_placer_stale(const struct sched_placer *pr, uint32_t runs);
/* One op of a run of pl measured by the dispatcher: corrects the history (exec.h calls it). */
void sched_placer_learn(struct sched_placer *pr, const struct sched_placement *pl,
			const struct sched_op_record *r);

#endif
