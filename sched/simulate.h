/* SPDX-License-Identifier: MIT */
/*
 * simulate.h - placement plans and the discrete-event simulation of a placed graph on a
 * profile (simulate.c): the modeled clock behind every modeled latency, energy and power
 * figure.
 *
 * Two clocks: figures computed here are MODELED (a profile's silicon, a simulated clock);
 * the dispatcher's wall-clock figures (exec.h) are MEASURED on this host. Reports say which
 * is which.
 */
#ifndef EDGE_NPU_SCHED_SIMULATE_H
#define EDGE_NPU_SCHED_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/cost.h"
#include "sched/dag.h"
#include "sched/profile.h"
#include "sched/common.h"

/* A placed graph: device per node, the dispatch order (topological), an OPP per device. */
struct sched_plan {
	uint32_t n;
	uint8_t *dev;
	uint32_t *order;
	uint32_t opp[SCHED_MAX_DEVS];
};

enum sched_status sched_plan_alloc(struct sched_plan *pl, uint32_t n);
void sched_plan_free(struct sched_plan *pl);
void sched_plan_copy(struct sched_plan *dst, const struct sched_plan *src);
/* Every node placed on a device that supports it, order a topological order. */
bool sched_plan_valid(const struct sched_profile *p, const struct sched_dag *d,
		      const struct sched_plan *pl, char *why, size_t len);

struct sched_sim_result {
	double makespan_s; /* modeled latency of the graph */
	double period_s;   /* max(makespan, latency target): the span energy is counted over */
	double energy_j;   /* busy + idle/suspended + boundary energy over the period */
	double peak_w;     /* highest total power at any instant */
	double avg_w;      /* energy / period */
	double busy_s[SCHED_MAX_DEVS];
	double dev_energy_j[SCHED_MAX_DEVS];
	uint32_t dev_ops[SCHED_MAX_DEVS];
	double bytes_copied;
	uint32_t crossings; /* edges whose ends are on different devices */
};

struct sched_sim_options {
	double period_s;  /* latency target / token period (0: the makespan) */
	bool contention;  /* share the memory bandwidth among concurrent ops */
	const struct sched_history *history;
	double *start, *finish; /* optional, n entries: each node's modeled start and end */
};

/*
 * Discrete-event simulation of pl on p: each device runs its nodes in pl->order, one at a
 * time; a node starts once its device is free and every input has arrived (producer's end +
 * crossing cost). With contention, running ops share the memory bandwidth (each gets its
 * demand when the sum fits, a proportional share otherwise). Idle gaps on a device are spent
 * idle or, when long enough to autosuspend and wake, suspended (the wake is started ahead of
 * the next op, so it costs energy, not latency); unused devices stay suspended.
 */
void sched_simulate(const struct sched_profile *p, const struct sched_dag *d,
		    const struct sched_plan *pl, const struct sched_sim_options *o,
		    struct sched_sim_result *out);

#endif
