/* SPDX-License-Identifier: MIT */
/*
 * power.c - the power manager's choice of an operating point per device and job.
 *
 * Coordinate descent over the devices' OPPs, every candidate judged by the simulator: the
 * energy it counts over the period includes the idle and suspended time after the job, so
 * "lowest clock that meets the target" and "race to idle" are not two policies but two
 * outcomes of one comparison (which wins depends on leakage, idle power and how memory-bound
 * the device's ops are: a memory-bound op barely slows down at a lower clock). Steepest
 * descent over one device's clock at a time, then over two devices' together when that stalls
 * (one down and another up): on random two-device chains the single-device descent alone
 * missed the least-energy combination in 7 % of the cases, by up to 23 %.
 *
 * The power it plans within is sched_power_budget(): the supply's budget, and on a profile
 * with a thermal path no more than that path sustains below the passive trip, so that a long
 * decode is not throttled by the thermal governor; sched_power_sustain() also paces the
 * tokens when even the cheapest clocks draw more than that at full rate.
 *
 * What it cannot remove: on a memory-bound decode most of the energy is the memory traffic
 * (30 pJ/byte x the weights on the phone profile), the same at every clock, so against the
 * same placement at the top clocks DVFS saves 23-45 % there, while against the fastest
 * placement at the top clocks (what runs without energy management) the energy objective's
 * placement plus these clocks save 56-62 % (npu-bench sched).
 */
#include "sched/power.h"

#include "sched/simulate.h"

#include <math.h>
#include <string.h>

void sched_power_bounds(const struct sched_dev_profile *dp, double min_hz, double max_hz,
			uint32_t *out_min, uint32_t *out_max)
{
	int32_t lo = -1, hi = -1;

	for (uint32_t k = 0; k < dp->n_opp; k++) {
		double f = dp->opp[k].freq_hz;
		if (f >= min_hz && f <= max_hz) {
			if (lo < 0)
				lo = (int32_t)k;
			hi = (int32_t)k;
		}
	}
	if (lo < 0) {
		/* no OPP inside: the one nearest the range (devfreq clamps the same way) */
		uint32_t best = 0;
		double bd = INFINITY;
		for (uint32_t k = 0; k < dp->n_opp; k++) {
			double f = dp->opp[k].freq_hz;
			double dist = f < min_hz ? min_hz - f : f - max_hz;
			if (dist < bd) {
				bd = dist;
				best = k;
			}
		}
		lo = hi = (int32_t)best;
	}
	*out_min = (uint32_t)lo;
	*out_max = (uint32_t)hi;
}

static void bounds(const struct sched_profile *p, const struct sched_part_options *o,
		   uint32_t k, uint32_t *lo, uint32_t *hi)
{
	uint32_t top = p->dev[k].n_opp - 1;

	*lo = 0;
	*hi = top;
	if (o && (o->opp_min[k] || o->opp_max[k])) {
		*lo = o->opp_min[k] <= top ? o->opp_min[k] : top;
		*hi = o->opp_max[k] <= top ? o->opp_max[k] : top;
		if (*hi < *lo)
			*hi = *lo;
	}
}

/* Every device at the top (or bottom) of its allowed range. */
static void power_edge(const struct sched_profile *p, const struct sched_part_options *o,
		       struct sched_plan *pl, bool top)
{
	for (uint32_t k = 0; k < p->n_dev; k++) {
		uint32_t lo, hi;
		bounds(p, o, k, &lo, &hi);
		pl->opp[k] = top ? hi : lo;
	}
}

void sched_power_max(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl)
{
	power_edge(p, o, pl, true);
}

void sched_power_min(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl)
{
	power_edge(p, o, pl, false);
}

/* Feasible first; then the objective. */
static bool better(const struct sched_part_options *o, double budget,
		   const struct sched_sim_result *a, const struct sched_sim_result *b)
{
	if (o->objective == SCHED_MIN_ENERGY) {
		double va = fmax(0, a->makespan_s - o->latency_target_s);
		double vb = fmax(0, b->makespan_s - o->latency_target_s);
		if (va != vb)
			return va < vb;
		return a->energy_j < b->energy_j * (1 - 1e-9);
	}
	double va = budget > 0 ? fmax(0, a->avg_w - budget) : 0;
	double vb = budget > 0 ? fmax(0, b->avg_w - budget) : 0;
	if (va != vb)
		return va < vb;
	if (a->makespan_s != b->makespan_s)
		return a->makespan_s < b->makespan_s * (1 - 1e-9);
	return a->energy_j < b->energy_j * (1 - 1e-9);
}

/*
 * The best change of one device's OPP, or with `pairs` of two devices' at once (one clock
 * down and another up can meet the target where each alone misses it or saves nothing).
 * Returns whether one beats *cand (then in *cand, pl->opp changed).
 */
static bool best_change(const struct sched_profile *p, const struct sched_dag *d,
			const struct sched_part_options *o, double budget,
			const struct sched_sim_options *so, const bool *used, bool pairs,
			struct sched_plan *pl, struct sched_sim_result *cand)
{
	uint32_t best[SCHED_MAX_DEVS], lo[SCHED_MAX_DEVS], hi[SCHED_MAX_DEVS];
	struct sched_sim_result r;
	bool improved = false;

	memcpy(best, pl->opp, sizeof(best));
	for (uint32_t k = 0; k < p->n_dev; k++)
		bounds(p, o, k, &lo[k], &hi[k]);
	for (uint32_t a = 0; a < p->n_dev; a++) {
		if (!used[a])
			continue; /* suspended all period: its clock does not matter */
		/* b == a: a alone; b > a: both (pairs only) */
		for (uint32_t b = a; b < (pairs ? p->n_dev : a + 1); b++) {
			if (!used[b] || (pairs && b == a))
				continue;
			uint32_t keep_a = pl->opp[a], keep_b = pl->opp[b];
			for (uint32_t oa = lo[a]; oa <= hi[a]; oa++)
				for (uint32_t ob = b == a ? oa : lo[b]; ob <= (b == a ? oa : hi[b]);
				     ob++) {
					if (oa == keep_a && ob == keep_b)
						continue;
					pl->opp[a] = oa;
					pl->opp[b] = ob;
					sched_simulate(p, d, pl, so, &r);
					if (better(o, budget, &r, cand)) {
						*cand = r;
						memcpy(best, pl->opp, sizeof(best));
						improved = true;
					}
				}
			pl->opp[a] = keep_a;
			pl->opp[b] = keep_b;
		}
	}
	memcpy(pl->opp, best, sizeof(best));
	return improved;
}

void sched_power_choose(const struct sched_profile *p, const struct sched_dag *d,
			const struct sched_part_options *o, struct sched_plan *pl,
			struct sched_sim_result *out)
{
	struct sched_sim_options so = { 0 };
	struct sched_sim_result best;
	const double budget = sched_power_budget(p, o);
	bool used[SCHED_MAX_DEVS] = { false };

	so.contention = o->contention;
	so.history = o->history;
	so.period_s = o->objective == SCHED_MIN_ENERGY ? o->latency_target_s : 0;
	for (uint32_t v = 0; v < pl->n; v++)
		used[pl->dev[v]] = true;
	sched_power_max(p, o, pl);
	sched_simulate(p, d, pl, &so, &best);
	/* steepest descent over single devices' clocks; pairs of devices when that stalls */
	for (int round = 0; round < 32; round++)
		if (!best_change(p, d, o, budget, &so, used, false, pl, &best) &&
		    !best_change(p, d, o, budget, &so, used, true, pl, &best))
			break;
	if (out)
		*out = best;
}

double sched_power_sustained_w(const struct sched_profile *p)
{
	if (!(p->thermal_r_kw > 0) || !(p->passive_c > p->ambient_c))
		return 0;
	return (p->passive_c - p->ambient_c) / p->thermal_r_kw;
}

double sched_power_budget(const struct sched_profile *p, const struct sched_part_options *o)
{
	double budget = o && o->budget_w > 0 ? o->budget_w : p->budget_w;
	double sustained = o && o->thermal_unaware ? 0 : sched_power_sustained_w(p);

	if (sustained > 0 && (!(budget > 0) || sustained < budget))
		budget = sustained;
	return budget > 0 ? budget : 0;
}

/* The least-energy clocks for one run every period_s; their result in *r. */
static void choose_for_period(const struct sched_profile *p, const struct sched_dag *d,
			      const struct sched_part_options *o, double period_s,
			      struct sched_plan *pl, struct sched_sim_result *r)
{
	struct sched_part_options e = *o;

	e.objective = SCHED_MIN_ENERGY;
	e.latency_target_s = period_s;
	sched_power_choose(p, d, &e, pl, r);
}

double sched_power_sustain(const struct sched_profile *p, const struct sched_dag *d,
			   const struct sched_part_options *o, struct sched_plan *pl,
			   struct sched_sim_result *out)
{
	struct sched_part_options lat = *o;
	struct sched_sim_result r;
	const double budget = sched_power_budget(p, o);
	uint32_t keep[SCHED_MAX_DEVS];

	lat.objective = SCHED_MIN_LATENCY;
	sched_power_choose(p, d, &lat, pl, &r);
	if (!(budget > 0) || r.avg_w <= budget) {
		*out = r;
		return r.makespan_s;
	}
	/*
	 * Over budget at full rate: the average power falls as the period grows (idle costs less
	 * than computing), so bisect for the shortest period that fits, each candidate judged
	 * with its own least-energy clocks. A budget below the idle power is never met: the
	 * longest period tried (64 makespans) is returned with its result.
	 */
	double lo = r.makespan_s, hi = 64 * r.makespan_s;

	choose_for_period(p, d, o, hi, pl, &r);
	memcpy(keep, pl->opp, sizeof(keep));
	*out = r;
	if (r.avg_w > budget)
		return hi;
	for (int i = 0; i < 24 && hi - lo > 1e-4 * lo; i++) {
		double mid = 0.5 * (lo + hi);

		choose_for_period(p, d, o, mid, pl, &r);
		if (r.avg_w <= budget) {
			hi = mid;
			*out = r;
			memcpy(keep, pl->opp, sizeof(keep));
		} else {
			lo = mid;
		}
	}
	memcpy(pl->opp, keep, sizeof(keep));
	return hi;
}
