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

/* The state of one simulation: the modeled clock, the devices' queues and what they run. */
struct sim {
	const struct sched_profile *p;
	const struct sched_dag *d;
	const struct sched_plan *pl;
	const struct sched_sim_options *o;
	struct sched_sim_result *out;
	uint32_t *waiting; /* per node: inputs not produced yet */
	double *arrive;    /* per node: when its last input arrives (so far) */
	/* each device's queue, queue[qoff[k] .. qoff[k+1]), and how far it got */
	uint32_t *queue;
	uint32_t qoff[SCHED_MAX_DEVS + 1], qpos[SCHED_MAX_DEVS];
	/* per device: its first op's start (-1: none yet), its last op's end, its gaps' energy */
	double first[SCHED_MAX_DEVS], last[SCHED_MAX_DEVS], gaps_e[SCHED_MAX_DEVS];
	struct running run[SCHED_MAX_DEVS];
	double t;
	uint32_t done;
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

/* Each device's queue (the plan's order filtered to its nodes), every device idle. */
static void sim_init(struct sim *s)
{
	const uint32_t n = s->d->n, nd = s->p->n_dev;
	uint32_t fill[SCHED_MAX_DEVS] = { 0 };

	for (uint32_t i = 0; i < n; i++)
		s->qoff[s->pl->dev[i] + 1]++;
	for (uint32_t k = 0; k < nd; k++)
		s->qoff[k + 1] += s->qoff[k];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = s->pl->order[i], k = s->pl->dev[v];
		s->queue[s->qoff[k] + fill[k]++] = v;
	}
	for (uint32_t v = 0; v < n; v++)
		s->waiting[v] = s->d->pred_off[v + 1] - s->d->pred_off[v];
	for (uint32_t k = 0; k < nd; k++) {
		s->run[k].v = -1;
		s->first[k] = -1;
		s->last[k] = 0;
	}
}

/* Whether device k could start a node now (free, cores free, queue not empty): *v, its next. */
static bool queue_head(const struct sim *s, uint32_t k, uint32_t *v)
{
	if (s->run[k].v >= 0 || s->qpos[k] == s->qoff[k + 1] - s->qoff[k] ||
	    cores_taken(s->p, s->run, k))
		return false;
	*v = s->queue[s->qoff[k] + s->qpos[k]];
	return true;
}

/* Starts, on every device that can, the head of its queue when its inputs are there. */
static void start_ready(struct sim *s)
{
	const struct sched_profile *p = s->p;

	for (uint32_t k = 0; k < p->n_dev; k++) {
		uint32_t v;
		if (!queue_head(s, k, &v) || s->waiting[v] || s->arrive[v] > s->t)
			continue;
		struct running *r = &s->run[k];
		r->v = (int32_t)v;
		r->c = sched_cost_op(p, s->d, v, k, s->pl->opp[k], s->o->history);
		r->launch_left = p->dev[k].launch_s;
		r->left = 1.0;
		r->start = s->t;
		r->power = sched_cost_energy(p, s->d, v, k, s->pl->opp[k], &r->c, r->c.time) /
			   (r->c.time > 0 ? r->c.time : 1);
		if (s->first[k] < 0)
			s->first[k] = s->t;
		else
			s->gaps_e[k] += gap_energy(&p->dev[k], s->t - s->last[k]);
		if (s->o->start)
			s->o->start[v] = s->t;
		s->qpos[k]++;
	}
}

/*
 * The share of its bandwidth demand each running body gets from the bus now (1: all of it):
 * bodies share the bus in proportion to what each would draw alone. Records the power of
 * this instant for the peak.
 */
static double bus_share(struct sim *s)
{
	const struct sched_profile *p = s->p;
	const double bus = s->o->contention ? p->mem_bw : INFINITY;
	double demand[SCHED_MAX_DEVS] = { 0 }, total = 0;
	double p_now = 0;

	for (uint32_t k = 0; k < p->n_dev; k++) {
		struct running *r = &s->run[k];
		if (r->v < 0) {
			p_now += s->first[k] >= 0 ? p->dev[k].idle_w : p->dev[k].suspend_w;
			continue;
		}
		p_now += r->power;
		if (r->launch_left > 0)
			continue;
		double body = r->c.t_comp > r->c.t_mem ? r->c.t_comp : r->c.t_mem;
		demand[k] = body > 0 ? s->d->nodes[r->v].bytes / body : 0;
		if (s->d->fixed_time)
			demand[k] = 0;
		total += demand[k];
	}
	if (p_now > s->out->peak_w)
		s->out->peak_w = p_now;
	return total > bus ? bus / total : 1.0;
}

/*
 * Time to the next event at this bus share: a launch or a body ending, or an input arriving
 * at a device waiting for it (a crossing's latency). Fills rate[k], the fraction of its body
 * device k does per second. INFINITY: nothing runs and nothing will.
 */
static double next_event(const struct sim *s, double share, double rate[SCHED_MAX_DEVS])
{
	double dt = INFINITY;

	for (uint32_t k = 0; k < s->p->n_dev; k++) {
		const struct running *r = &s->run[k];
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
	for (uint32_t k = 0; k < s->p->n_dev; k++) {
		uint32_t v;
		if (queue_head(s, k, &v) && !s->waiting[v] && s->arrive[v] > s->t)
			dt = fmin(dt, s->arrive[v] - s->t);
	}
	return dt;
}

/* Device k's op ends now: its energy and time, and its outputs on their way to consumers. */
static void finish_op(struct sim *s, uint32_t k)
{
	const struct sched_dag *d = s->d;
	struct sched_sim_result *out = s->out;
	struct running *r = &s->run[k];
	uint32_t v = (uint32_t)r->v;
	double took = s->t - r->start;

	out->dev_energy_j[k] += sched_cost_energy(s->p, d, v, k, s->pl->opp[k], &r->c, took);
	out->busy_s[k] += took;
	out->dev_ops[k]++;
	s->last[k] = s->t;
	if (s->o->finish)
		s->o->finish[v] = s->t;
	r->v = -1;
	s->done++;
	for (uint32_t i = d->succ_off[v]; i < d->succ_off[v + 1]; i++) {
		uint32_t w = d->succ[i], e = d->succ_edge[i];
		double ee, copied;
		double lat = sched_cost_edge(s->p, k, s->pl->dev[w], d->edge_bytes[e], &ee, &copied);
		if (k != s->pl->dev[w]) {
			out->crossings++;
			out->bytes_copied += copied;
			out->energy_j += ee;
		}
		if (s->t + lat > s->arrive[w])
			s->arrive[w] = s->t + lat;
		s->waiting[w]--;
	}
}

/* Moves the clock dt ahead: launches and bodies progress, those that end finish. */
static void advance(struct sim *s, double dt, const double rate[SCHED_MAX_DEVS])
{
	s->t += dt;
	for (uint32_t k = 0; k < s->p->n_dev; k++) {
		struct running *r = &s->run[k];
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
		finish_op(s, k);
	}
}

/* The period's idle and suspended energy of every device, and the totals over it. */
static void sim_close(struct sim *s)
{
	struct sched_sim_result *out = s->out;

	out->makespan_s = s->t;
	out->period_s = s->o->period_s > s->t ? s->o->period_s : s->t;
	for (uint32_t k = 0; k < s->p->n_dev; k++) {
		const struct sched_dev_profile *dp = &s->p->dev[k];
		double e;
		if (s->first[k] < 0) {
			e = dp->suspend_w * out->period_s;
		} else {
			/* steady decoding: the tail of one period and the head of the next are one gap */
			e = s->gaps_e[k] + gap_energy(dp, out->period_s - s->last[k] + s->first[k]);
		}
		out->dev_energy_j[k] += e;
		out->energy_j += out->dev_energy_j[k];
	}
	out->avg_w = out->period_s > 0 ? out->energy_j / out->period_s : 0;
}

void sched_simulate(const struct sched_profile *p, const struct sched_dag *d,
		    const struct sched_plan *pl, const struct sched_sim_options *o,
		    struct sched_sim_result *out)
{
	const uint32_t n = d->n;
	struct sim s = { .p = p, .d = d, .pl = pl, .o = o, .out = out };

	memset(out, 0, sizeof(*out));
	s.waiting = malloc(sizeof(uint32_t) * (n ? n : 1));
	s.arrive = calloc(n ? n : 1, sizeof(double));
	s.queue = malloc(sizeof(uint32_t) * (n ? n : 1));
	if (!s.waiting || !s.arrive || !s.queue) {
		out->makespan_s = INFINITY;
		goto out;
	}
	sim_init(&s);
	while (s.done < n) {
		double rate[SCHED_MAX_DEVS] = { 0 };
		start_ready(&s);
		double dt = next_event(&s, bus_share(&s), rate);
		if (dt == INFINITY) {
			/* nothing runs and nothing will: the order is not topological */
			out->makespan_s = INFINITY;
			goto out;
		}
		advance(&s, dt, rate);
	}
	sim_close(&s);
out:
	free(s.waiting);
	free(s.arrive);
	free(s.queue);
}
