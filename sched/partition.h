/* SPDX-License-Identifier: MIT */
/*
 * partition.h - the partitioner (partition.c): a device and a dispatch order for every node of
 * a DAG, minimising latency under a power budget or energy under a latency target, as the
 * simulator (simulate.h) judges them; the exact optimum for small DAGs and single-device
 * baselines to measure it against (npu-bench sched).
 */
#ifndef EDGE_NPU_SCHED_PARTITION_H
#define EDGE_NPU_SCHED_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/cost.h"
#include "sched/dag.h"
#include "sched/profile.h"
#include "sched/simulate.h"
#include "sched/common.h"

enum sched_objective {
	SCHED_MIN_LATENCY, /* minimise makespan with average power <= budget (0: no budget) */
	SCHED_MIN_ENERGY,  /* minimise energy per period with makespan <= latency target */
};

struct sched_part_options {
	enum sched_objective objective;
	double budget_w;         /* SCHED_MIN_LATENCY (0: the profile's; see sched_power_budget) */
	bool thermal_unaware;    /* plan to budget_w alone, not within the sustained power */
	double latency_target_s; /* SCHED_MIN_ENERGY (required) */
	bool contention;
	bool improve;            /* false: HEFT alone (the baseline) */
	uint32_t max_evals;      /* improvement budget in simulations (0: default) */
	bool local_only;         /* improve without the exact search on small graphs */
	uint64_t exact_nodes;    /* that search's budget in branch-and-bound nodes (0: default) */
	const struct sched_history *history;
	/* Admin bounds: OPP index range per device (all zero: the whole table). */
	uint32_t opp_min[SCHED_MAX_DEVS], opp_max[SCHED_MAX_DEVS];
};

struct sched_part_stats {
	double heft_makespan_s; /* the HEFT schedule, as simulated */
	uint32_t evals;         /* simulations the improvement step ran */
	uint32_t moves;         /* improving moves it accepted */
	uint64_t exact_nodes;   /* branch-and-bound nodes of the exact search (0: not run) */
	bool exact_proven;      /* it finished: the plan is optimal (contention-free makespan) */
	bool exact_kept;        /* it found a better plan than the local search's */
};

/* Graphs up to this size get the exact search, within this many nodes, after local search. */
#define SCHED_PART_EXACT_N 12
#define SCHED_PART_EXACT_NODES 500000
/*
 * Graphs up to this size get the local search's quadratic moves (pairs of nodes, any place in
 * the order), re-placements tried with a re-derived order, and kicks where the exact search
 * does not run.
 */
#define SCHED_PART_PAIR_N 24

/*
 * HEFT (Topcuoglu et al. 2002): upward rank with mean costs over the devices that can run
 * each node, then earliest-finish-time list scheduling with insertion; then (improve) a local
 * search that re-places single nodes, runs of consecutive nodes, a node with its consumers,
 * and on small graphs pairs of nodes and a node at any place in its device's order, judged
 * by the simulator; on graphs of <= SCHED_PART_EXACT_N nodes the exact branch and bound
 * seeded with that (kept when the simulator says it is better); and in SCHED_MIN_ENERGY mode
 * the power manager's OPPs. pl must be allocated for d->n.
 * Fails only when some node has no device at all.
 */
enum sched_status sched_partition(const struct sched_profile *p, const struct sched_dag *d,
				  const struct sched_part_options *o, struct sched_plan *pl,
				  struct sched_part_stats *stats, char *err, size_t err_len);

/*
 * The exact optimum makespan (contention-free) by branch and bound over assignments and
 * per-device orders, for small DAGs (<= 12 nodes). upper_s seeds the bound (0: none).
 * Returns the optimum (and the plan when pl != NULL), or a negative value if max_nodes
 * search nodes were not enough to prove it.
 */
double sched_exhaustive(const struct sched_profile *p, const struct sched_dag *d, double upper_s,
			uint64_t max_nodes, struct sched_plan *pl);

/* Same-device baselines: every node on dev when it can, else on the first CPU-class device. */
void sched_plan_all_on(const struct sched_profile *p, const struct sched_dag *d, uint32_t dev,
		       struct sched_plan *pl);

#endif
