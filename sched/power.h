/* SPDX-License-Identifier: MIT */
/*
 * power.h - the power manager (power.c): an operating point per device for a placed graph,
 * judged by the simulator, within the admin's bounds (devfreq min_freq/max_freq). The
 * partitioner calls it, and the driver hands its clocks to the devices with each run's ops.
 */
#ifndef EDGE_NPU_SCHED_POWER_H
#define EDGE_NPU_SCHED_POWER_H

#include <stdint.h>

#include "sched/dag.h"
#include "sched/partition.h"
#include "sched/profile.h"
#include "sched/simulate.h"

/*
 * Picks an OPP per device for pl (written into pl->opp): SCHED_MIN_ENERGY: the least energy
 * per period with makespan <= target (lower clocks where memory-bound ops do not slow down,
 * race-to-idle where leakage makes finishing early and suspending cheaper); SCHED_MIN_LATENCY:
 * the highest clocks whose average power fits the budget. Stays within opp_min/opp_max.
 * Returns the simulated result of the choice.
 */
void sched_power_choose(const struct sched_profile *p, const struct sched_dag *d,
			const struct sched_part_options *o, struct sched_plan *pl,
			struct sched_sim_result *out);
/*
 * The power the profile's thermal path sustains without crossing the passive trip:
 * (passive_c - ambient_c) / thermal_r_kw, in W; 0 when the profile has no thermal path.
 */
double sched_power_sustained_w(const struct sched_profile *p);
/*
 * The average power a plan may draw: o->budget_w (or the profile's budget_w), and no more
 * than the sustained power unless o->thermal_unaware; 0: no limit.
 */
double sched_power_budget(const struct sched_profile *p, const struct sched_part_options *o);
/*
 * Plans a repeated graph (a decode step) within the power budget (sched_power_budget): the
 * clocks of sched_power_choose for the fastest period, and when even the cheapest clocks
 * draw more on average than the budget over the makespan, the shortest period (time from one
 * run to the next, idle after the graph) whose least-energy clocks fit it. Returns that
 * period in seconds (its result in *out; pl->opp set); the makespan when nothing limits.
 */
double sched_power_sustain(const struct sched_profile *p, const struct sched_dag *d,
			   const struct sched_part_options *o, struct sched_plan *pl,
			   struct sched_sim_result *out);
/* Sets every device to its highest OPP within the bounds. */
void sched_power_max(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl);
/* Sets every device to its lowest OPP within the bounds. */
void sched_power_min(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl);
/*
 * Maps admin bounds in Hz (devfreq min_freq/max_freq) to an OPP index range of dp:
 * the OPPs with min_hz <= f <= max_hz; when none fits, the one nearest the range.
 */
void sched_power_bounds(const struct sched_dev_profile *dp, double min_hz, double max_hz,
			uint32_t *out_min, uint32_t *out_max);

#endif
