/* SPDX-License-Identifier: MIT */
/*
 * simulate.c - placement plans and the discrete-event simulation of a placed graph on a
 * profile: the modeled clock behind every modeled latency, energy and power figure.
 */
#include "sched/simulate.h"

#include "sched/cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sched_status sched_plan_alloc(struct sched_plan *pl, uint32_t n)
{
	memset(pl, 0, sizeof(*pl));
	pl->n = n;
	pl->dev = calloc(n ? n : 1, 1);
	pl->order = malloc(sizeof(uint32_t) * (n ? n : 1));
	if (!pl->dev || !pl->order) {
		sched_plan_free(pl);
		return SCHED_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		pl->order[i] = i;
	return SCHED_OK;
}

void sched_plan_free(struct sched_plan *pl)
{
	free(pl->dev);
	free(pl->order);
	memset(pl, 0, sizeof(*pl));
}

void sched_plan_copy(struct sched_plan *dst, const struct sched_plan *src)
{
	memcpy(dst->dev, src->dev, src->n);
	memcpy(dst->order, src->order, sizeof(uint32_t) * src->n);
	memcpy(dst->opp, src->opp, sizeof(src->opp));
}

bool sched_plan_valid(const struct sched_profile *p, const struct sched_dag *d,
		      const struct sched_plan *pl, char *why, size_t len)
{
	uint32_t *pos = malloc(sizeof(uint32_t) * (d->n ? d->n : 1));
	bool ok = pos && pl->n == d->n;

	if (!ok) {
		snprintf(why, len, "plan of %u nodes for a DAG of %u", pl->n, d->n);
		free(pos);
		return false;
	}
	for (uint32_t i = 0; i < d->n; i++)
		pos[i] = UINT32_MAX;
	for (uint32_t i = 0; i < d->n && ok; i++) {
		if (pl->order[i] >= d->n || pos[pl->order[i]] != UINT32_MAX) {
			snprintf(why, len, "order[%u] = %u is out of range or repeated", i, pl->order[i]);
			ok = false;
		} else {
			pos[pl->order[i]] = i;
		}
	}
	for (uint32_t v = 0; v < d->n && ok; v++) {
		if (pl->dev[v] >= p->n_dev || !sched_cost_supports(p, pl->dev[v], &d->nodes[v])) {
			snprintf(why, len, "node %u (%s) on device %u, which cannot run it", v,
				 hal_op_name(d->nodes[v].kind), pl->dev[v]);
			ok = false;
		}
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1] && ok; e++)
			if (pos[d->pred[e]] > pos[v]) {
				snprintf(why, len, "node %u is dispatched before its input node %u", v,
					 d->pred[e]);
				ok = false;
			}
	}
	free(pos);
	return ok;
}

/* Energy of a device's idle gap of length g: idle, or suspended when it pays off. */
static double gap_energy(const struct sched_dev_profile *dp, double g)
{
	if (g <= 0)
		return 0;
	if (g >= dp->autosuspend_s + dp->wake_s && dp->suspend_w < dp->idle_w)
		/* idle until runtime PM suspends it, woken ahead of the next op (idle power) */
		return dp->idle_w * (dp->autosuspend_s + dp->wake_s) +
		       dp->suspend_w * (g - dp->autosuspend_s - dp->wake_s);
	return dp->idle_w * g;
}

struct running {
	int32_t v;         /* node, -1 when the device is idle */
	double launch_left; /* dispatch overhead still to elapse */
	double left;        /* fraction of the body still to do */
	double start;
	struct sched_op_cost c;
	double power;       /* average power while it runs alone (peak estimate) */
};

/* Whether a device that shares k's cores (either way round) is computing now. */
static bool cores_taken(const struct sched_profile *p, const struct running *run, uint32_t k)
{
	const uint32_t s = p->dev[k].shares_cores;

	if (s && run[s - 1].v >= 0)
		return true;
	for (uint32_t j = 0; j < p->n_dev; j++)
		if (p->dev[j].shares_cores == k + 1 && run[j].v >= 0)
			return true;
	return false;
}

void sched_simulate(const struct sched_profile *p, const struct sched_dag *d,
		    const struct sched_plan *pl, const struct sched_sim_options *o,
		    struct sched_sim_result *out)
{
	const uint32_t n = d->n, nd = p->n_dev;
	uint32_t *waiting = malloc(sizeof(uint32_t) * (n ? n : 1));
	double *arrive = calloc(n ? n : 1, sizeof(double));
	double *fin = malloc(sizeof(double) * (n ? n : 1));
	uint32_t *queue = malloc(sizeof(uint32_t) * (n ? n : 1));
	uint32_t qoff[SCHED_MAX_DEVS + 1] = { 0 }, qpos[SCHED_MAX_DEVS] = { 0 };
	double first[SCHED_MAX_DEVS], last[SCHED_MAX_DEVS], gaps_e[SCHED_MAX_DEVS] = { 0 };
	struct running run[SCHED_MAX_DEVS];
	double t = 0;
	uint32_t done = 0;

	memset(out, 0, sizeof(*out));
	if (!waiting || !arrive || !fin || !queue) {
		out->makespan_s = INFINITY;
		goto out;
	}
	/* each device's queue: the plan's order filtered to its nodes */
	for (uint32_t i = 0; i < n; i++)
		qoff[pl->dev[i] + 1]++;
	for (uint32_t k = 0; k < nd; k++)
		qoff[k + 1] += qoff[k];
	{
		uint32_t fill[SCHED_MAX_DEVS] = { 0 };
		for (uint32_t i = 0; i < n; i++) {
			uint32_t v = pl->order[i], k = pl->dev[v];
			queue[qoff[k] + fill[k]++] = v;
		}
	}
	for (uint32_t v = 0; v < n; v++)
		waiting[v] = d->pred_off[v + 1] - d->pred_off[v];
	for (uint32_t k = 0; k < nd; k++) {
		run[k].v = -1;
		first[k] = -1;
		last[k] = 0;
	}

	const double bus = o->contention ? p->mem_bw : INFINITY;
	while (done < n) {
		/* start what can start now */
		for (uint32_t k = 0; k < nd; k++) {
			if (run[k].v >= 0 || qpos[k] == qoff[k + 1] - qoff[k] ||
			    cores_taken(p, run, k))
				continue;
			uint32_t v = queue[qoff[k] + qpos[k]];
			if (waiting[v] || arrive[v] > t)
				continue;
			struct running *r = &run[k];
			r->v = (int32_t)v;
			r->c = sched_cost_op(p, d, v, k, pl->opp[k], o->history);
			r->launch_left = p->dev[k].launch_s;
			r->left = 1.0;
			r->start = t;
			r->power = sched_cost_energy(p, d, v, k, pl->opp[k], &r->c, r->c.time) /
				   (r->c.time > 0 ? r->c.time : 1);
			if (first[k] < 0)
				first[k] = t;
			else
				gaps_e[k] += gap_energy(&p->dev[k], t - last[k]);
			if (o->start)
				o->start[v] = t;
			qpos[k]++;
		}
		/* rates: bodies share the bus in proportion to what each would draw alone */
		double demand[SCHED_MAX_DEVS] = { 0 }, total = 0, rate[SCHED_MAX_DEVS] = { 0 };
		double p_now = 0;
		bool any = false;
		for (uint32_t k = 0; k < nd; k++) {
			struct running *r = &run[k];
			if (r->v < 0) {
				p_now += first[k] >= 0 ? p->dev[k].idle_w : p->dev[k].suspend_w;
				continue;
			}
			any = true;
			p_now += r->power;
			if (r->launch_left > 0)
				continue;
			double body = r->c.t_comp > r->c.t_mem ? r->c.t_comp : r->c.t_mem;
			demand[k] = body > 0 ? d->nodes[r->v].bytes / body : 0;
			if (d->fixed_time)
				demand[k] = 0;
			total += demand[k];
		}
		if (p_now > out->peak_w)
			out->peak_w = p_now;
		double share = total > bus ? bus / total : 1.0;
		double dt = INFINITY;
		for (uint32_t k = 0; k < nd; k++) {
			struct running *r = &run[k];
			if (r->v < 0)
				continue;
			if (r->launch_left > 0) {
				dt = fmin(dt, r->launch_left);
				continue;
			}
			double body = fmax(r->c.t_comp, r->c.t_mem);
			/* alone the body takes `body`; starved of bandwidth, the memory part stretches */
			double b = share < 1.0 ? fmax(r->c.t_comp, r->c.t_mem / share) : body;
			rate[k] = b > 0 ? 1.0 / b : INFINITY;
			dt = fmin(dt, rate[k] == INFINITY ? 0 : r->left / rate[k]);
		}
		/* an input that arrives later (a crossing's latency) is an event too */
		for (uint32_t k = 0; k < nd; k++) {
			if (run[k].v >= 0 || qpos[k] == qoff[k + 1] - qoff[k] ||
			    cores_taken(p, run, k))
				continue;
			uint32_t v = queue[qoff[k] + qpos[k]];
			if (!waiting[v] && arrive[v] > t)
				dt = fmin(dt, arrive[v] - t);
		}
		if (dt == INFINITY) {
			/* nothing runs and nothing will: the order is not topological */
			out->makespan_s = INFINITY;
			goto out;
		}
		(void)any;
		t += dt;
		for (uint32_t k = 0; k < nd; k++) {
			struct running *r = &run[k];
			if (r->v < 0)
				continue;
			if (r->launch_left > 0) {
				r->launch_left -= dt;
				if (r->launch_left > 1e-15)
					continue;
				r->launch_left = 0;
				/* a zero-length body ends with its launch */
				if (fmax(r->c.t_comp, r->c.t_mem) > 0)
					continue;
			} else {
				r->left -= rate[k] == INFINITY ? r->left : dt * rate[k];
				if (r->left > 1e-12)
					continue;
			}
			/* finished */
			uint32_t v = (uint32_t)r->v;
			double took = t - r->start;
			out->dev_energy_j[k] += sched_cost_energy(p, d, v, k, pl->opp[k], &r->c, took);
			out->busy_s[k] += took;
			out->dev_ops[k]++;
			fin[v] = t;
			last[k] = t;
			if (o->finish)
				o->finish[v] = t;
			r->v = -1;
			done++;
			for (uint32_t s = d->succ_off[v]; s < d->succ_off[v + 1]; s++) {
				uint32_t w = d->succ[s], e = d->succ_edge[s];
				double ee, copied;
				double lat = sched_cost_edge(p, k, pl->dev[w], d->edge_bytes[e], &ee,
							     &copied);
				if (k != pl->dev[w]) {
					out->crossings++;
					out->bytes_copied += copied;
					out->energy_j += ee;
				}
				if (t + lat > arrive[w])
					arrive[w] = t + lat;
				waiting[w]--;
			}
		}
	}
	out->makespan_s = t;
	out->period_s = o->period_s > t ? o->period_s : t;
	for (uint32_t k = 0; k < nd; k++) {
		const struct sched_dev_profile *dp = &p->dev[k];
		double e;
		if (first[k] < 0) {
			e = dp->suspend_w * out->period_s;
		} else {
			/* steady decoding: the tail of one period and the head of the next are one gap */
			e = gaps_e[k] + gap_energy(dp, out->period_s - last[k] + first[k]);
		}
		out->dev_energy_j[k] += e;
		out->energy_j += out->dev_energy_j[k];
	}
	out->avg_w = out->period_s > 0 ? out->energy_j / out->period_s : 0;
out:
	free(waiting);
	free(arrive);
	free(fin);
	free(queue);
}
