/* SPDX-License-Identifier: MIT */
/*
 * view_rows.c - the rows both views show: each device's and client's rates between two
 * samples, the device filter, the clients' sort order, and why a screen is empty.
 */
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* b - a of a counter, 0 if it went back (device recreated, counter reset) */
static double delta(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) : 0.0;
}

static double clamp_pct(double v, double max)
{
	return v < 0 ? 0 : v > max ? max : v;
}

static bool dev_matches(const char *id, const char *node)
{
	return !opt.dev_filter || strstr(id, opt.dev_filter) ||
	       (node && node[0] && strstr(node, opt.dev_filter));
}

/* busy %: the driver's busy time, else (modeled occupancy) its cycles at the current clock */
static void dev_busy(struct dev_view *v, const struct dev *p, double dt)
{
	const struct dev *d = v->d;

	if (d->has_busy && p->has_busy) {
		v->has_busy = true;
		v->busy_pct = delta(p->busy_ns, d->busy_ns) / dt * 100.0 /
			      (d->engines > 0 ? d->engines : 1);
	} else if (d->has_cycles && p->has_cycles && d->cur_hz) {
		v->has_busy = true;
		v->busy_pct = delta(p->cycles, d->cycles) / ((double)d->cur_hz * dt / 1e9) *
			      100.0 / (d->engines > 0 ? d->engines : 1);
	}
	v->busy_pct = clamp_pct(v->busy_pct, 100.0);
}

/* The rates of v's device since p, its state dt ns earlier. */
static void dev_rates(struct dev_view *v, const struct dev *p, double dt)
{
	const struct dev *d = v->d;

	dev_busy(v, p, dt);
	/*
	 * Modeled power: the engine's energy over the modeled time it ran (its cycles at
	 * the current clock), not over host time: the simulated silicon is much faster than
	 * the CPU that simulates it, so energy per host second would understate it.
	 * pJ / ns = mW. 0 when no job ran (static power is not modeled).
	 */
	if (d->has_energy && p->has_energy && d->has_cycles && p->has_cycles && d->cur_hz) {
		double cyc = delta(p->cycles, d->cycles);

		v->has_power = true;
		v->power_mw = cyc > 0 ? delta(p->energy_pj, d->energy_pj) /
					(cyc * 1e9 / (double)d->cur_hz) : 0.0;
	}
	if (d->has_jobs && p->has_jobs) {
		v->has_jobs_rate = true;
		v->jobs_per_s = delta(p->jobs, d->jobs) / dt * 1e9;
	}
	/* as iostat's average queue size: the time jobs spent queued over the interval */
	if (d->has_queue_ns && p->has_queue_ns) {
		v->has_queue_avg = true;
		v->queue_avg = delta(p->queue_ns, d->queue_ns) / dt;
	}
	/*
	 * An in-process engine is idle between two synchronous jobs most of the instants
	 * one could sample it at: over the interval, it was active if any job completed.
	 */
	if (!strcmp(d->power, "idle") && v->jobs_per_s > 0)
		v->power = "active";
}

int make_dev_views(const struct sample *prev, const struct sample *cur, struct dev_view *out)
{
	double dt = (double)(cur->t_ns - prev->t_ns);
	int n = 0;

	for (int i = 0; i < cur->n_devs; i++) {
		const struct dev *d = &cur->devs[i], *p = find_dev(prev, d->id);
		struct dev_view *v = &out[n];

		if (!dev_matches(d->id, d->node))
			continue;
		memset(v, 0, sizeof(*v));
		v->d = d;
		v->power = d->power;
		n++;
		if (p && dt > 0)
			dev_rates(v, p, dt);
	}
	return n;
}

static bool client_busy(const struct client_view *v)
{
	return v->busy_pct > 0.05 || v->jobs_per_s > 0;
}

static int cmp_clients(const void *a, const void *b)
{
	const struct client_view *x = a, *y = b;
	int r = 0;

	switch (opt.sort) {
	case SORT_ENGINE:
		r = (y->busy_pct > x->busy_pct) - (y->busy_pct < x->busy_pct);
		break;
	case SORT_PID:
		r = (x->c->pid > y->c->pid) - (x->c->pid < y->c->pid);
		break;
	case SORT_MEM:
		r = (y->c->mem_bytes > x->c->mem_bytes) - (y->c->mem_bytes < x->c->mem_bytes);
		break;
	case SORT_JOBS:
		r = (y->jobs_per_s > x->jobs_per_s) - (y->jobs_per_s < x->jobs_per_s);
		break;
	default:
		r = strcmp(x->c->comm, y->c->comm);
	}
	if (!r)
		r = (x->c->pid > y->c->pid) - (x->c->pid < y->c->pid);
	if (!r)
		r = strcmp(x->c->dev, y->c->dev);
	return opt.reverse ? -r : r;
}

/* The rates of v's client since p, dt ns earlier, over the engines of its device in cur. */
static void client_rates(struct client_view *v, const struct client *p, const struct sample *cur,
			 double dt)
{
	const struct client *c = v->c;
	/* over the device's engines, as the device's own busy % */
	const struct dev *d = find_dev(cur, c->dev);
	int engines = d && d->engines > 0 ? d->engines : 1;

	v->busy_pct = delta(p->busy_ns, c->busy_ns) / dt * 100.0 / engines;
	v->busy_pct = clamp_pct(v->busy_pct, 100.0);
	if (c->has_jobs && p->has_jobs) {
		v->has_jobs_rate = true;
		v->jobs_per_s = delta(p->jobs, c->jobs) / dt * 1e9;
	}
}

int make_client_views(const struct sample *prev, const struct sample *cur,
		      struct client_view *out)
{
	double dt = (double)(cur->t_ns - prev->t_ns);
	int n = 0;

	for (int i = 0; i < cur->n_clients; i++) {
		const struct client *c = &cur->clients[i], *p = find_client(prev, c->key);
		struct client_view *v = &out[n];

		const struct dev *cd = find_dev(cur, c->dev);

		if (!dev_matches(c->dev, cd ? cd->node : NULL))
			continue;
		memset(v, 0, sizeof(*v));
		v->c = c;
		if (p && dt > 0)
			client_rates(v, p, cur, dt);
		if (opt.hide_idle && !client_busy(v))
			continue;
		n++;
	}
	qsort(out, (size_t)n, sizeof(*out), cmp_clients);
	return n;
}

const char *why_empty(const struct sample *s, char *buf, size_t len)
{
	if (s->n_devs)
		return NULL;
	if (s->unreadable)
		strf(buf, len, "no edge-npu device or client found; %d processes could not be "
			 "inspected (permission denied: run as their user or root to see them)",
			 s->unreadable);
	else
		strf(buf, len, "no edge-npu device found: load kmod/edge_npu.ko, or run a "
			 "program with --device npu (in-process NPU)");
	return buf;
}
