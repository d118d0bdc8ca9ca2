/* SPDX-License-Identifier: MIT */
/*
 * partition.c - the partitioner: HEFT as the baseline, then a local search judged by the
 * simulator; the exact branch and bound for small DAGs; single-device baselines.
 *
 * Why local search over the simulator rather than a DP over the layer chain: HEFT's estimate
 * of a node's finish time ignores two things the simulator counts, the bandwidth concurrent
 * ops share and (in energy mode) idle and suspended power, and a transformer's layers are
 * identical, so a move that helps one layer is found once and its "class" move (every node of
 * the same signature) applies it to all. Greedy list scheduling falls into traps no single
 * re-placement leaves (two nodes that should trade devices, a node that should move and run
 * earlier in its new device's queue), hence the pair, consumer and order moves, and equal
 * makespans broken by the sum of finish times so that a move that only makes room is taken.
 * On random DAGs of 4..10 ops (npu-bench sched, phone profile) HEFT is +1.58 % mean / +42 %
 * worst above the exact optimum, this local search +0.14 % / +5.5 %; small graphs
 * (<= SCHED_PART_EXACT_N nodes) then get the exact branch and bound seeded with its plan,
 * which proves the optimum on all of them for ~10 % more time; where it does not run, graphs
 * of <= SCHED_PART_PAIR_N nodes get kicks (a few nodes re-placed at random, then the search
 * again): +0.03 % / +3.07 % on the same DAGs, but ~10x the time of the exact step. Layered
 * graphs also get class moves by place in the layer (q and k matmuls share a shape, not a
 * role) and one layer's placement copied onto all. Minimising energy, a second start from the
 * op-by-op cheapest placement at the lowest clocks; the better of the two is kept.
 */
#include "sched/partition.h"

#include "sched/cost.h"
#include "sched/power.h"
#include "sched/simulate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Time of v on k at the device's top allowed OPP (HEFT's estimates). */
static double node_time(const struct sched_profile *p, const struct sched_dag *d, uint32_t v,
			uint32_t k, const struct sched_plan *pl, const struct sched_history *h)
{
	if (!sched_cost_supports(p, k, &d->nodes[v]))
		return -1;
	return sched_cost_op(p, d, v, k, pl->opp[k], h).time;
}

struct slot {
	double s, f;
};

/* Earliest start >= ready in device k's busy list (sorted), for a node of length len. */
static double insert_start(const struct slot *busy, uint32_t n, double ready, double len)
{
	double t = ready;

	for (uint32_t i = 0; i < n; i++) {
		if (t + len <= busy[i].s)
			return t;
		if (busy[i].f > t)
			t = busy[i].f;
	}
	return t;
}

struct rank_item {
	double key;
	uint32_t v;
};

static int by_key_desc(const void *a, const void *b)
{
	const struct rank_item *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? 1 : -1;
	return x->v < y->v ? -1 : x->v > y->v;
}

/* HEFT's working state over one DAG (heft() below). */
struct heft {
	const struct sched_profile *p;
	const struct sched_dag *d;
	const struct sched_history *h;
	struct sched_plan *pl;
	bool fixed;                 /* devices as pl->dev gives them: only the order is derived */
	double *w;                  /* per node: mean cost over the devices it may run on */
	double *rank;               /* per node: upward rank */
	double *ast, *aft;          /* per node: scheduled start and finish */
	struct rank_item *items;    /* nodes by rank, then by start */
	struct slot *busy;          /* per device, n slots: its busy intervals, sorted */
	uint32_t nbusy[SCHED_MAX_DEVS];
	/* a crossing's mean cost over pairs of distinct devices: sync + per byte (pairs: 0: none) */
	double mean_sync, mean_cross_per_byte;
	uint32_t pairs;
};

/* Time of v on k for HEFT: -1 where k cannot run it, or (fixed) is not v's device. */
static double heft_time(const struct heft *hs, uint32_t v, uint32_t k)
{
	return hs->fixed && k != hs->pl->dev[v] ? -1 : node_time(hs->p, hs->d, v, k, hs->pl, hs->h);
}

/* The mean crossing over pairs of distinct devices, as a fence sync plus a cost per byte. */
static void mean_crossing(struct heft *hs)
{
	const uint32_t nd = hs->p->n_dev;

	for (uint32_t a = 0; a < nd; a++)
		for (uint32_t b = 0; b < nd; b++)
			if (a != b) {
				double t0 = sched_cost_edge(hs->p, a, b, 0, NULL, NULL);
				double t1 = sched_cost_edge(hs->p, a, b, 1e6, NULL, NULL);
				hs->mean_sync += t0;
				hs->mean_cross_per_byte += (t1 - t0) / 1e6;
				hs->pairs++;
			}
	if (hs->pairs) {
		hs->mean_sync /= hs->pairs;
		hs->mean_cross_per_byte /= hs->pairs;
	}
}

/* Each node's mean cost over the devices that can run it; fails for a node none can. */
static enum sched_status mean_costs(struct heft *hs, char *err, size_t err_len)
{
	const struct sched_dag *d = hs->d;

	for (uint32_t v = 0; v < d->n; v++) {
		double s = 0;
		uint32_t c = 0;
		for (uint32_t k = 0; k < hs->p->n_dev; k++) {
			double t = heft_time(hs, v, k);
			if (t >= 0) {
				s += t;
				c++;
			}
		}
		if (!c) {
			snprintf(err, err_len, "node %u (%s, %s weights): no device of profile '%s' runs it",
				 v, hal_op_name(d->nodes[v].kind), hal_type_name(d->nodes[v].wtype),
				 hs->p->name);
			return SCHED_ERR_INVALID;
		}
		hs->w[v] = s / c;
	}
	return SCHED_OK;
}

/* Upward ranks (a node's cost plus its costliest path to an exit), nodes sorted by them. */
static void upward_ranks(struct heft *hs)
{
	const struct sched_dag *d = hs->d;
	const uint32_t nd = hs->p->n_dev;

	for (uint32_t v = d->n; v-- > 0;) {
		double m = 0;
		for (uint32_t s = d->succ_off[v]; s < d->succ_off[v + 1]; s++) {
			uint32_t x = d->succ[s];
			double bytes = d->edge_bytes[d->succ_edge[s]];
			double c = hs->pairs ? hs->mean_sync + hs->mean_cross_per_byte * bytes : 0;
			/* a device crossing happens on (nd-1)/nd of random placements */
			c *= nd > 1 ? (double)(nd - 1) / nd : 0;
			if (hs->fixed)
				c = sched_cost_edge(hs->p, hs->pl->dev[v], hs->pl->dev[x], bytes, NULL,
						    NULL);
			if (c + hs->rank[x] > m)
				m = c + hs->rank[x];
		}
		hs->rank[v] = hs->w[v] + m;
		hs->items[v] = (struct rank_item){ hs->rank[v], v };
	}
	qsort(hs->items, d->n, sizeof(*hs->items), by_key_desc);
}

/* When v's inputs are all on device k, each from its producer's device. */
static double inputs_ready(const struct heft *hs, uint32_t v, uint32_t k)
{
	const struct sched_dag *d = hs->d;
	double ready = 0;

	for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++) {
		uint32_t u = d->pred[e];
		double r = hs->aft[u] + sched_cost_edge(hs->p, hs->pl->dev[u], k, d->edge_bytes[e],
							NULL, NULL);
		if (r > ready)
			ready = r;
	}
	return ready;
}

/* v on the device where it finishes first, inserted into that device's busy list. */
static void place_earliest_finish(struct heft *hs, uint32_t v)
{
	const uint32_t n = hs->d->n;
	uint32_t bk = 0;
	double best_f = INFINITY, best_s = 0;

	for (uint32_t k = 0; k < hs->p->n_dev; k++) {
		double t = heft_time(hs, v, k);
		if (t < 0)
			continue;
		double ready = inputs_ready(hs, v, k);
		double s = insert_start(hs->busy + (size_t)k * n, hs->nbusy[k], ready, t);
		if (s + t < best_f) {
			best_f = s + t;
			best_s = s;
			bk = k;
		}
	}
	hs->pl->dev[v] = (uint8_t)bk;
	hs->ast[v] = best_s;
	hs->aft[v] = best_f;
	struct slot *b = hs->busy + (size_t)bk * n;
	uint32_t at = hs->nbusy[bk]++;
	while (at > 0 && b[at - 1].s > best_s) {
		b[at] = b[at - 1];
		at--;
	}
	b[at] = (struct slot){ best_s, best_f };
}

/* The dispatch order: by start time, ties in rank order (which is topological). */
static void order_by_start(struct heft *hs)
{
	const uint32_t n = hs->d->n;
	struct rank_item *items = hs->items;

	for (uint32_t i = 0; i < n; i++)
		items[i] = (struct rank_item){ hs->ast[items[i].v] + 0.0, items[i].v };
	for (uint32_t i = 1; i < n; i++) {
		/* insertion sort: stable, so equal starts keep their rank order */
		struct rank_item x = items[i];
		uint32_t j = i;
		while (j > 0 && items[j - 1].key > x.key) {
			items[j] = items[j - 1];
			j--;
		}
		items[j] = x;
	}
	for (uint32_t i = 0; i < n; i++)
		hs->pl->order[i] = items[i].v;
}

/*
 * HEFT: upward ranks, then EFT with insertion. Fills pl->dev and pl->order. With `fixed`, the
 * devices are pl->dev as given: ranks use their costs and crossings, and only the dispatch
 * order is derived (each node inserted at its earliest start on its own device), the order a
 * re-placement move is also tried with.
 */
static enum sched_status heft(const struct sched_profile *p, const struct sched_dag *d,
			      const struct sched_history *h, struct sched_plan *pl, bool fixed,
			      char *err, size_t err_len)
{
	const uint32_t n = d->n;
	struct heft hs = { .p = p, .d = d, .h = h, .pl = pl, .fixed = fixed };
	enum sched_status st = SCHED_ERR_NOMEM;

	hs.w = malloc(sizeof(double) * (n ? n : 1));
	hs.rank = malloc(sizeof(double) * (n ? n : 1));
	hs.aft = malloc(sizeof(double) * (n ? n : 1));
	hs.ast = malloc(sizeof(double) * (n ? n : 1));
	hs.items = malloc(sizeof(*hs.items) * (n ? n : 1));
	hs.busy = malloc(sizeof(*hs.busy) * (size_t)(n ? n : 1) * p->n_dev);
	if (!hs.w || !hs.rank || !hs.aft || !hs.ast || !hs.items || !hs.busy) {
		snprintf(err, err_len, "out of memory partitioning %u nodes", n);
		goto out;
	}
	mean_crossing(&hs);
	if ((st = mean_costs(&hs, err, err_len)))
		goto out;
	upward_ranks(&hs);
	for (uint32_t i = 0; i < n; i++)
		place_earliest_finish(&hs, hs.items[i].v);
	order_by_start(&hs);
out:
	free(hs.w);
	free(hs.rank);
	free(hs.aft);
	free(hs.ast);
	free(hs.items);
	free(hs.busy);
	return st;
}

/* ---- local search ------------------------------------------------------------------------- */

/* How many kicks the local search gets on graphs of <= SCHED_PART_PAIR_N nodes. */
#define SCHED_PART_KICKS 8

struct search {
	const struct sched_profile *p;
	const struct sched_dag *d;
	const struct sched_part_options *o;
	struct sched_sim_options so;
	double budget;
	uint32_t evals, max_evals, moves;
	struct sched_sim_result best;
	double best_flow; /* its sum of the nodes' finish times (latency mode's tie-break) */
	double *finish;   /* the simulator's per-node finish times (NULL: no tie-break) */
	struct sched_plan alt; /* a re-placement with its order re-derived (alt.n == 0: none) */
};

static bool better(const struct search *s, const struct sched_sim_result *a, double flow_a,
		   const struct sched_sim_result *b, double flow_b)
{
	if (s->o->objective == SCHED_MIN_ENERGY) {
		double va = fmax(0, a->makespan_s - s->o->latency_target_s);
		double vb = fmax(0, b->makespan_s - s->o->latency_target_s);
		if (va != vb)
			return va < vb;
		return a->energy_j < b->energy_j * (1 - 1e-9);
	}
	double va = s->budget > 0 ? fmax(0, a->avg_w - s->budget) : 0;
	double vb = s->budget > 0 ? fmax(0, b->avg_w - s->budget) : 0;
	if (va != vb)
		return va < vb;
	/*
	 * Equal makespans: the one whose nodes finish earlier in sum. Without it a move that only
	 * makes room (the first half of a swap) is never taken; with it no plan repeats, since
	 * every accepted move is a strict improvement of the pair.
	 */
	if (fabs(a->makespan_s - b->makespan_s) <= 1e-9 * b->makespan_s)
		return flow_a < flow_b * (1 - 1e-9);
	return a->makespan_s < b->makespan_s;
}

/* The tie-break of a simulation that wrote s->finish (0 without one). */
static double flow(const struct search *s)
{
	double f = 0;

	for (uint32_t v = 0; s->finish && v < s->d->n; v++)
		f += s->finish[v];
	return f;
}

/* Simulates pl; keeps it (returns true) when it beats the best so far. */
static bool try_plan(struct search *s, const struct sched_plan *pl)
{
	struct sched_sim_result r;

	s->evals++;
	sched_simulate(s->p, s->d, pl, &s->so, &r);
	double f = flow(s);
	if (better(s, &r, f, &s->best, s->best_flow)) {
		s->best = r;
		s->best_flow = f;
		s->moves++;
		return true;
	}
	return false;
}

/*
 * A re-placement: pl as it is, then (when that is not better) with the dispatch order HEFT's
 * insertion derives for the new devices, since a node moved to another device usually wants
 * another place in that device's queue. Keeps the better one in pl.
 */
static bool try_placed(struct search *s, struct sched_plan *pl)
{
	char err[8];

	if (try_plan(s, pl))
		return true;
	if (!s->alt.n || s->evals >= s->max_evals)
		return false;
	sched_plan_copy(&s->alt, pl);
	if (heft(s->p, s->d, s->o->history, &s->alt, true, err, sizeof(err)) ||
	    !try_plan(s, &s->alt))
		return false;
	memcpy(pl->order, s->alt.order, sizeof(uint32_t) * pl->n);
	return true;
}

/* Assigns nodes [lo, hi) that can run on k to k; returns how many changed (old in save). */
static uint32_t assign_run(struct search *s, struct sched_plan *pl, uint32_t lo, uint32_t hi,
			   uint32_t k, uint8_t *save)
{
	uint32_t changed = 0;

	for (uint32_t v = lo; v < hi; v++) {
		save[v - lo] = pl->dev[v];
		if (pl->dev[v] != k && sched_cost_supports(s->p, k, &s->d->nodes[v])) {
			pl->dev[v] = (uint8_t)k;
			changed++;
		}
	}
	return changed;
}

/* Every pair of nodes, each to another device it supports; true if one was kept. */
static bool pair_moves(struct search *s, struct sched_plan *pl)
{
	const uint32_t n = s->d->n, nd = s->p->n_dev;
	bool improved = false;

	for (uint32_t u = 0; u < n; u++)
		for (uint32_t v = u + 1; v < n && s->evals < s->max_evals; v++)
			for (uint32_t ku = 0; ku < nd; ku++)
				for (uint32_t kv = 0; kv < nd; kv++) {
					uint8_t du = pl->dev[u], dv = pl->dev[v];
					if (ku == du || kv == dv ||
					    !sched_cost_supports(s->p, ku, &s->d->nodes[u]) ||
					    !sched_cost_supports(s->p, kv, &s->d->nodes[v]))
						continue;
					pl->dev[u] = (uint8_t)ku;
					pl->dev[v] = (uint8_t)kv;
					if (try_placed(s, pl)) {
						improved = true;
						continue;
					}
					pl->dev[u] = du;
					pl->dev[v] = dv;
				}
	return improved;
}

/*
 * Each node re-placed on every device it supports (its own included) at every place in the
 * dispatch order that keeps the order topological and changes that device's order: where a
 * node goes matters with when it runs there.
 */
static bool order_moves(struct search *s, struct sched_plan *pl, uint32_t *pos)
{
	const struct sched_dag *d = s->d;
	const uint32_t n = d->n;
	bool improved = false;

	for (uint32_t v = 0; v < n && s->evals < s->max_evals; v++) {
		for (uint32_t i = 0; i < n; i++)
			pos[pl->order[i]] = i;
		const uint32_t i = pos[v];
		const uint8_t home = pl->dev[v];
		uint32_t lo = 0, hi = n - 1;
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++)
			if (pos[d->pred[e]] + 1 > lo)
				lo = pos[d->pred[e]] + 1;
		for (uint32_t e = d->succ_off[v]; e < d->succ_off[v + 1]; e++)
			if (pos[d->succ[e]] < hi + 1)
				hi = pos[d->succ[e]] - 1;
		bool moved = false;
		for (uint32_t k = 0; k < s->p->n_dev && !moved; k++) {
			if (!sched_cost_supports(s->p, k, &d->nodes[v]))
				continue;
			pl->dev[v] = (uint8_t)k;
			for (uint32_t j = lo; j <= hi && j < n && s->evals < s->max_evals; j++) {
				/* j == i: the device alone (only when it changes) */
				if (j == i ? k == home : pl->dev[pl->order[j]] != k)
					continue;
				/* take v out of i and put it in at j, shifting what lies between */
				if (j < i)
					memmove(pl->order + j + 1, pl->order + j, sizeof(uint32_t) * (i - j));
				else
					memmove(pl->order + i, pl->order + i + 1, sizeof(uint32_t) * (j - i));
				pl->order[j] = v;
				if (try_plan(s, pl)) {
					moved = true;
					break; /* positions changed: next node */
				}
				if (j < i)
					memmove(pl->order + j, pl->order + j + 1, sizeof(uint32_t) * (i - j));
				else
					memmove(pl->order + i + 1, pl->order + i, sizeof(uint32_t) * (j - i));
				pl->order[i] = v;
			}
		}
		if (!moved)
			pl->dev[v] = home;
		improved |= moved;
	}
	return improved;
}

/*
 * Class moves: every node of one key to one device at once (UINT64_MAX: no class). save and
 * done are scratch of n entries. True if one was kept.
 */
static bool class_moves(struct search *s, struct sched_plan *pl, const uint64_t *key,
			uint8_t *save, uint8_t *done)
{
	const struct sched_dag *d = s->d;
	const uint32_t n = d->n;
	bool improved = false;

	for (uint32_t v = 0; v < n; v++)
		done[v] = key[v] == UINT64_MAX;
	for (uint32_t v = 0; v < n && s->evals < s->max_evals; v++) {
		if (done[v])
			continue;
		for (uint32_t k = 0; k < s->p->n_dev; k++) {
			uint32_t changed = 0;
			for (uint32_t x = v; x < n; x++) {
				save[x] = pl->dev[x];
				if (key[x] != key[v])
					continue;
				done[x] = 1;
				if (pl->dev[x] != k && sched_cost_supports(s->p, k, &d->nodes[x])) {
					pl->dev[x] = (uint8_t)k;
					changed++;
				}
			}
			if (!changed)
				continue;
			if (try_placed(s, pl)) {
				improved = true;
				continue;
			}
			for (uint32_t x = v; x < n; x++)
				pl->dev[x] = save[x];
		}
	}
	return improved;
}

/*
 * Layer pattern moves: one layer's placement copied onto every layer (node by node at the
 * same place in the layer, where the op is the same and the device runs it), which moves an
 * odd layer out of a local optimum that single moves would each make worse.
 */
static bool pattern_moves(struct search *s, struct sched_plan *pl, const uint32_t *lpos,
			  uint8_t *save)
{
	const struct sched_dag *d = s->d;
	const uint32_t n = d->n;
	bool improved = false;

	for (uint32_t v = 0; v < n && s->evals < s->max_evals; v++) {
		if (lpos[v] != 0)
			continue; /* v starts layer d->nodes[v].layer */
		uint32_t len = 1, changed = 0;
		while (v + len < n && lpos[v + len] == len)
			len++;
		memcpy(save, pl->dev, n);
		for (uint32_t x = 0; x < n; x++) {
			uint32_t src = v + lpos[x];
			if (lpos[x] >= len || d->nodes[x].sig != d->nodes[src].sig ||
			    pl->dev[x] == save[src] ||
			    !sched_cost_supports(s->p, save[src], &d->nodes[x]))
				continue;
			pl->dev[x] = save[src];
			changed++;
		}
		if (!changed || try_placed(s, pl)) {
			improved |= changed > 0;
			continue;
		}
		memcpy(pl->dev, save, n);
	}
	return improved;
}

/*
 * Runs of consecutive nodes (a chain segment of a layer), single nodes included, each to
 * every device at once. save is scratch of n entries. True if one was kept.
 */
static bool run_moves(struct search *s, struct sched_plan *pl, uint8_t *save)
{
	static const uint32_t runs[] = { 1, 2, 3, 4, 6, 8, 12, 16 };
	const uint32_t n = s->d->n;
	bool improved = false;

	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		uint32_t len = runs[r];
		if (len > n)
			break;
		for (uint32_t lo = 0; lo + len <= n && s->evals < s->max_evals; lo++)
			for (uint32_t k = 0; k < s->p->n_dev; k++) {
				if (!assign_run(s, pl, lo, lo + len, k, save))
					continue;
				if (try_placed(s, pl)) {
					improved = true;
					continue;
				}
				memcpy(pl->dev + lo, save, len);
			}
	}
	return improved;
}

/*
 * A node with its direct consumers, to every device at once: a producer moves to where its
 * output is used. save is scratch of n entries. True if one was kept.
 */
static bool consumer_moves(struct search *s, struct sched_plan *pl, uint8_t *save)
{
	const struct sched_dag *d = s->d;
	const uint32_t n = d->n;
	bool improved = false;

	for (uint32_t v = 0; v < n && s->evals < s->max_evals; v++)
		for (uint32_t k = 0; k < s->p->n_dev; k++) {
			uint32_t changed = 0;
			memcpy(save, pl->dev, n);
			changed += assign_run(s, pl, v, v + 1, k, save + v);
			for (uint32_t e = d->succ_off[v]; e < d->succ_off[v + 1]; e++)
				changed += assign_run(s, pl, d->succ[e], d->succ[e] + 1, k,
						      save + d->succ[e]);
			if (!changed || try_placed(s, pl)) {
				improved |= changed > 0;
				continue;
			}
			memcpy(pl->dev, save, n);
		}
	return improved;
}

/* Dispatch order: neighbours that do not depend on each other swapped. True if one was kept. */
static bool neighbour_swaps(struct search *s, struct sched_plan *pl)
{
	const struct sched_dag *d = s->d;
	bool improved = false;

	for (uint32_t i = 0; i + 1 < d->n && s->evals < s->max_evals; i++) {
		uint32_t a = pl->order[i], b = pl->order[i + 1];
		bool dep = false;
		for (uint32_t e = d->pred_off[b]; e < d->pred_off[b + 1]; e++)
			dep |= d->pred[e] == a;
		if (dep)
			continue;
		pl->order[i] = b;
		pl->order[i + 1] = a;
		if (try_plan(s, pl)) {
			improved = true;
			continue;
		}
		pl->order[i] = a;
		pl->order[i + 1] = b;
	}
	return improved;
}

/*
 * The keys of the class moves: each node's signature (sigkey) and its signature with its
 * place in its layer (lkey; layers are runs of the DAG's order), and that place (lpos;
 * UINT32_MAX and UINT64_MAX outside layers). True when some node is in a layer after layer 0.
 */
static bool layer_keys(const struct sched_dag *d, uint32_t *lpos, uint64_t *sigkey,
		       uint64_t *lkey)
{
	bool layered = false;

	for (uint32_t v = 0, start = 0; v < d->n; v++) {
		if (v == 0 || d->nodes[v].layer != d->nodes[v - 1].layer)
			start = v;
		lpos[v] = d->nodes[v].layer >= 0 ? v - start : UINT32_MAX;
		layered |= d->nodes[v].layer > 0;
		sigkey[v] = d->nodes[v].sig;
		lkey[v] = lpos[v] == UINT32_MAX ? UINT64_MAX
						: d->nodes[v].sig ^ (lpos[v] + 1) * 0x9e3779b97f4a7c15ull;
	}
	return layered;
}

/* Every kind of move, round after round, until a round keeps none or the budget is spent. */
static void local_search(struct search *s, struct sched_plan *pl)
{
	const uint32_t n = s->d->n;
	uint8_t *save = malloc(n ? n : 1);
	uint8_t *sig_done = calloc(n ? n : 1, 1);
	uint32_t *pos = malloc(sizeof(uint32_t) * (n ? n : 1));
	uint32_t *lpos = malloc(sizeof(uint32_t) * (n ? n : 1));
	uint64_t *sigkey = malloc(sizeof(uint64_t) * (n ? n : 1));
	uint64_t *lkey = malloc(sizeof(uint64_t) * (n ? n : 1));

	if (!save || !sig_done || !pos || !lpos || !sigkey || !lkey)
		goto out;
	const bool layered = layer_keys(s->d, lpos, sigkey, lkey);
	for (bool improved = true; improved && s->evals < s->max_evals;) {
		improved = false;
		/* class moves: every node with one signature to one device (all layers at once) */
		improved |= class_moves(s, pl, sigkey, save, sig_done);
		/* the same by place in the layer: q and k matmuls share a shape, not a role */
		if (layered) {
			improved |= class_moves(s, pl, lkey, save, sig_done);
			improved |= pattern_moves(s, pl, lpos, save);
		}
		improved |= run_moves(s, pl, save);
		improved |= consumer_moves(s, pl, save);
		/*
		 * Small graphs: two nodes re-placed at once (a swap of their devices, or two moves
		 * neither of which helps alone), and each node moved anywhere in its device's order.
		 */
		if (n <= SCHED_PART_PAIR_N) {
			improved |= pair_moves(s, pl);
			improved |= order_moves(s, pl, pos);
			continue;
		}
		improved |= neighbour_swaps(s, pl);
	}
out:
	free(save);
	free(sig_done);
	free(pos);
	free(lpos);
	free(sigkey);
	free(lkey);
}

static double exhaustive(const struct sched_profile *p, const struct sched_dag *d,
			 const struct sched_plan *clocks, double upper_s, uint64_t max_nodes,
			 struct sched_plan *pl, uint64_t *visited, bool *proven);

/*
 * The improvement step on small graphs: the exact branch and bound (contention-free makespan
 * at pl's clocks) seeded with the local search's plan, so that it only looks for better ones;
 * what it finds within its node budget replaces pl when the simulator, with the options'
 * contention and objective, says it is better.
 */
static enum sched_status exact_step(struct search *s, struct sched_plan *pl,
				    struct sched_part_stats *stats)
{
	struct sched_sim_options free_so = s->so;
	struct sched_sim_result r;
	struct sched_plan cand;
	uint64_t visited = 0;
	bool proven = false;

	if (sched_plan_alloc(&cand, s->d->n))
		return SCHED_ERR_NOMEM;
	free_so.contention = false;
	sched_simulate(s->p, s->d, pl, &free_so, &r);
	sched_plan_copy(&cand, pl);
	double span = exhaustive(s->p, s->d, pl, r.makespan_s,
				 s->o->exact_nodes ? s->o->exact_nodes : SCHED_PART_EXACT_NODES, &cand,
				 &visited, &proven);
	bool kept = span > 0 && try_plan(s, &cand);
	if (kept)
		sched_plan_copy(pl, &cand);
	if (stats) {
		stats->exact_nodes = visited;
		stats->exact_proven = proven;
		stats->exact_kept = kept;
	}
	sched_plan_free(&cand);
	return SCHED_OK;
}

/*
 * Small graphs: kicks out of the local optimum (a few nodes re-placed at random, then the
 * local search again from there), the result kept when it beats the best. Deterministic.
 */
static enum sched_status kicks(struct search *s, struct sched_plan *pl)
{
	const uint32_t n = s->d->n, nd = s->p->n_dev;
	struct sched_plan cand;
	uint64_t rng = 0x5eed + n;

	if (sched_plan_alloc(&cand, n))
		return SCHED_ERR_NOMEM;
	for (uint32_t kick = 0; kick < SCHED_PART_KICKS && s->evals < s->max_evals; kick++) {
		struct sched_sim_result keep = s->best;
		double keep_flow = s->best_flow;
		sched_plan_copy(&cand, pl);
		for (uint32_t i = 0; i < 2 + kick % 2; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint32_t v = (uint32_t)(rng >> 33) % n, k = (uint32_t)(rng >> 17) % nd;
			if (sched_cost_supports(s->p, k, &s->d->nodes[v]))
				cand.dev[v] = (uint8_t)k;
		}
		sched_simulate(s->p, s->d, &cand, &s->so, &s->best);
		s->best_flow = flow(s);
		local_search(s, &cand);
		if (better(s, &s->best, s->best_flow, &keep, keep_flow)) {
			sched_plan_copy(pl, &cand);
		} else {
			s->best = keep;
			s->best_flow = keep_flow;
		}
	}
	sched_plan_free(&cand);
	return SCHED_OK;
}

/*
 * The improvement step from pl (s->best its simulation): search at the top clocks, let the
 * power manager pick OPPs, search again at those. keep is scratch of pl's size.
 */
static enum sched_status improve(struct search *s, struct sched_plan *pl, struct sched_plan *keep,
				 struct sched_part_stats *stats)
{
	const struct sched_part_options *o = s->o;
	enum sched_status st;

	for (int round = 0; round < 2; round++) {
		local_search(s, pl);
		/* kicks where the exact step does not run (it is cheaper where it does) */
		bool exact = !o->local_only && s->d->n <= SCHED_PART_EXACT_N;
		if (round == 0 && !exact && s->d->n <= SCHED_PART_PAIR_N && (st = kicks(s, pl)))
			return st;
		if (round == 0 && exact && (st = exact_step(s, pl, stats)))
			return st;
		if (o->objective != SCHED_MIN_ENERGY && !(s->budget > 0))
			break;
		sched_plan_copy(keep, pl);
		struct sched_sim_result r;
		sched_power_choose(s->p, s->d, o, pl, &r);
		if (better(s, &r, 0, &s->best, 0) || !better(s, &s->best, 0, &r, 0)) {
			s->best = r;
			/* the power manager's simulation wrote no finish times: take them now */
			sched_simulate(s->p, s->d, pl, &s->so, &r);
			s->best_flow = flow(s);
		} else {
			sched_plan_copy(pl, keep);
		}
	}
	return SCHED_OK;
}

/* Every node on the device where it alone costs the least energy, at the lowest clocks. */
static void energy_seed(const struct sched_profile *p, const struct sched_dag *d,
			const struct sched_part_options *o, struct sched_plan *pl)
{
	sched_power_min(p, o, pl);
	for (uint32_t v = 0; v < d->n; v++) {
		double best = INFINITY;
		for (uint32_t k = 0; k < p->n_dev; k++) {
			if (!sched_cost_supports(p, k, &d->nodes[v]))
				continue;
			struct sched_op_cost c = sched_cost_op(p, d, v, k, pl->opp[k], o->history);
			double e = sched_cost_energy(p, d, v, k, pl->opp[k], &c, c.time);
			if (e < best) {
				best = e;
				pl->dev[v] = (uint8_t)k;
			}
		}
		pl->order[v] = v; /* the DAG's own order is topological */
	}
}

/*
 * Energy: a second start from the placement that is cheapest op by op, since the local
 * search from HEFT's (latency-minded) placement can stop at a plan that keeps a
 * power-hungry device busy where the efficient ones would still meet the target. Its plan
 * replaces pl when better; keep is scratch of pl's size.
 */
static enum sched_status energy_restart(struct search *s, struct sched_plan *pl,
					struct sched_plan *keep)
{
	struct sched_plan seed;
	enum sched_status st;

	if ((st = sched_plan_alloc(&seed, s->d->n)))
		return st;
	struct search s2 = *s;
	energy_seed(s->p, s->d, s->o, &seed);
	s2.evals = 0;
	sched_simulate(s->p, s->d, &seed, &s2.so, &s2.best);
	if ((st = improve(&s2, &seed, keep, NULL)) == SCHED_OK) {
		if (better(s, &s2.best, 0, &s->best, 0)) {
			sched_plan_copy(pl, &seed);
			s->best = s2.best;
		}
		s->evals += s2.evals;
		s->moves += s2.moves;
	}
	sched_plan_free(&seed);
	return st;
}

enum sched_status sched_partition(const struct sched_profile *p, const struct sched_dag *d,
				  const struct sched_part_options *o, struct sched_plan *pl,
				  struct sched_part_stats *stats, char *err, size_t err_len)
{
	struct search s = { .p = p, .d = d, .o = o };
	enum sched_status st;

	s.so.contention = o->contention;
	s.so.history = o->history;
	s.so.period_s = o->objective == SCHED_MIN_ENERGY ? o->latency_target_s : 0;
	s.budget = sched_power_budget(p, o);
	s.max_evals = o->max_evals ? o->max_evals : 40000;
	if (o->objective == SCHED_MIN_ENERGY && !(o->latency_target_s > 0)) {
		snprintf(err, err_len, "minimising energy needs a latency target");
		return SCHED_ERR_INVALID;
	}
	sched_power_max(p, o, pl);
	if ((st = heft(p, d, o->history, pl, false, err, err_len)))
		return st;
	/* the latency search wants each op's finish time from every simulation, HEFT's too */
	if (o->improve && o->objective == SCHED_MIN_LATENCY) {
		s.finish = calloc(d->n ? d->n : 1, sizeof(double));
		if (!s.finish) {
			snprintf(err, err_len, "out of memory");
			return SCHED_ERR_NOMEM;
		}
		s.so.finish = s.finish;
	}
	sched_simulate(p, d, pl, &s.so, &s.best);
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->heft_makespan_s = s.best.makespan_s;
	}
	if (!o->improve)
		return SCHED_OK; /* s.finish is only allocated when improving */
	struct sched_plan keep = { 0 };
	/* re-derived orders on small graphs only: they double the cost of a failed move */
	if ((d->n <= SCHED_PART_PAIR_N && (st = sched_plan_alloc(&s.alt, d->n))) ||
	    (st = sched_plan_alloc(&keep, d->n)))
		goto out;
	if (o->objective == SCHED_MIN_LATENCY)
		s.best_flow = flow(&s);
	if ((st = improve(&s, pl, &keep, stats)))
		goto out;
	if (o->objective == SCHED_MIN_ENERGY && (st = energy_restart(&s, pl, &keep)))
		goto out;
	if (stats) {
		stats->evals = s.evals;
		stats->moves = s.moves;
	}
out:
	if (st)
		snprintf(err, err_len, "out of memory partitioning %u nodes", d->n);
	sched_plan_free(&s.alt);
	sched_plan_free(&keep);
	free(s.finish);
	return st;
}

void sched_plan_all_on(const struct sched_profile *p, const struct sched_dag *d, uint32_t dev,
		       struct sched_plan *pl)
{
	uint32_t fallback = 0;

	for (uint32_t k = 0; k < p->n_dev; k++)
		if (p->dev[k].cls == HAL_CLASS_CPU && p->dev[k].op_mask == (1u << HAL_OP_COUNT) - 1) {
			fallback = k;
			break;
		}
	for (uint32_t v = 0; v < d->n; v++) {
		pl->dev[v] = (uint8_t)(sched_cost_supports(p, dev, &d->nodes[v]) ? dev : fallback);
		pl->order[v] = v;
	}
	sched_power_max(p, NULL, pl);
}

/* ---- exact branch and bound ---------------------------------------------------------------- */

struct bb {
	const struct sched_profile *p;
	const struct sched_dag *d;
	uint32_t n, nd;
	double *cost;  /* [v * nd + k], < 0: unsupported */
	double *blmin; /* cheapest path from v to an exit, without crossings */
	double best;
	uint8_t *dev, *best_dev;
	uint32_t *seq, *best_seq;
	double *fin;
	double dev_free[SCHED_MAX_DEVS];
	uint64_t scheduled; /* bitmask */
	uint64_t visited, max_nodes;
	bool aborted, found;
};

static double ready_on(const struct bb *b, uint32_t v, uint32_t k)
{
	double r = b->dev_free[k];

	for (uint32_t e = b->d->pred_off[v]; e < b->d->pred_off[v + 1]; e++) {
		uint32_t u = b->d->pred[e];
		double a = b->fin[u] + sched_cost_edge(b->p, b->dev[u], k, b->d->edge_bytes[e], NULL,
						      NULL);
		if (a > r)
			r = a;
	}
	return r;
}

static bool is_ready(const struct bb *b, uint32_t v)
{
	if (b->scheduled >> v & 1)
		return false;
	for (uint32_t e = b->d->pred_off[v]; e < b->d->pred_off[v + 1]; e++)
		if (!(b->scheduled >> b->d->pred[e] & 1))
			return false;
	return true;
}

/*
 * Every semi-active schedule is built exactly once: nodes are appended in order of
 * (start, index), so a child must not start before the last one appended.
 */
static void dfs(struct bb *b, uint32_t depth, double last_s, uint32_t last_v, double span)
{
	if (b->aborted)
		return;
	if (++b->visited > b->max_nodes) {
		b->aborted = true;
		return;
	}
	if (depth == b->n) {
		if (span < b->best) {
			b->best = span;
			b->found = true;
			memcpy(b->best_dev, b->dev, b->n);
			memcpy(b->best_seq, b->seq, sizeof(uint32_t) * b->n);
		}
		return;
	}
	/* bound: a ready node cannot start before last_s nor before its inputs are there */
	double lb = span;
	for (uint32_t v = 0; v < b->n; v++) {
		if (!is_ready(b, v))
			continue;
		double est = INFINITY;
		for (uint32_t k = 0; k < b->nd; k++)
			if (b->cost[v * b->nd + k] >= 0)
				est = fmin(est, fmax(ready_on(b, v, k), last_s));
		lb = fmax(lb, est + b->blmin[v]);
	}
	if (lb >= b->best)
		return;
	for (uint32_t v = 0; v < b->n; v++) {
		if (!is_ready(b, v))
			continue;
		for (uint32_t k = 0; k < b->nd; k++) {
			double c = b->cost[v * b->nd + k];
			if (c < 0)
				continue;
			double s = ready_on(b, v, k);
			if (s < last_s || (s == last_s && v < last_v && depth > 0))
				continue;
			double keep_free = b->dev_free[k];
			b->dev[v] = (uint8_t)k;
			b->fin[v] = s + c;
			b->dev_free[k] = s + c;
			b->seq[depth] = v;
			b->scheduled |= 1ull << v;
			dfs(b, depth + 1, s, v, fmax(span, s + c));
			b->scheduled &= ~(1ull << v);
			b->dev_free[k] = keep_free;
		}
	}
}

/*
 * The branch and bound at the clocks of `clocks` (its opp[]); *visited gets the search nodes
 * it took. pl, when not NULL, gets the optimum's placement and order (its opp untouched).
 */
static double exhaustive(const struct sched_profile *p, const struct sched_dag *d,
			 const struct sched_plan *clocks, double upper_s, uint64_t max_nodes,
			 struct sched_plan *pl, uint64_t *visited, bool *proven)
{
	struct bb b = { .p = p, .d = d, .n = d->n, .nd = p->n_dev, .max_nodes = max_nodes };
	struct sched_plan top;
	double result = -1;

	if (d->n > 63 || sched_plan_alloc(&top, d->n))
		return -1;
	memcpy(top.opp, clocks->opp, sizeof(top.opp));
	b.cost = malloc(sizeof(double) * d->n * b.nd + 1);
	b.blmin = malloc(sizeof(double) * d->n + 1);
	b.dev = calloc(d->n + 1, 1);
	b.best_dev = calloc(d->n + 1, 1);
	b.seq = calloc(d->n + 1, sizeof(uint32_t));
	b.best_seq = calloc(d->n + 1, sizeof(uint32_t));
	b.fin = calloc(d->n + 1, sizeof(double));
	if (!b.cost || !b.blmin || !b.dev || !b.best_dev || !b.seq || !b.best_seq || !b.fin)
		goto out;
	for (uint32_t v = 0; v < d->n; v++)
		for (uint32_t k = 0; k < b.nd; k++)
			b.cost[v * b.nd + k] = node_time(p, d, v, k, &top, NULL);
	for (uint32_t v = d->n; v-- > 0;) {
		double m = INFINITY, after = 0;
		for (uint32_t k = 0; k < b.nd; k++)
			if (b.cost[v * b.nd + k] >= 0)
				m = fmin(m, b.cost[v * b.nd + k]);
		for (uint32_t s = d->succ_off[v]; s < d->succ_off[v + 1]; s++)
			after = fmax(after, b.blmin[d->succ[s]]);
		b.blmin[v] = m + after;
	}
	/* start just above the seed so that a schedule equal to it is still found */
	b.best = upper_s > 0 ? upper_s * (1 + 1e-9) : INFINITY;
	dfs(&b, 0, 0, 0, 0);
	if (proven)
		*proven = !b.aborted;
	/* the best schedule found, proven optimal or not (the caller decides which it needs) */
	if (b.found) {
		result = b.best;
		if (pl) {
			memcpy(pl->dev, b.best_dev, d->n);
			memcpy(pl->order, b.best_seq, sizeof(uint32_t) * d->n);
		}
	}
	if (visited)
		*visited = b.visited;
out:
	free(b.cost);
	free(b.blmin);
	free(b.dev);
	free(b.best_dev);
	free(b.seq);
	free(b.best_seq);
	free(b.fin);
	sched_plan_free(&top);
	return result;
}

double sched_exhaustive(const struct sched_profile *p, const struct sched_dag *d, double upper_s,
			uint64_t max_nodes, struct sched_plan *pl)
{
	struct sched_plan top = { 0 }, found;
	bool proven = false;
	double r;

	if (sched_plan_alloc(&found, d->n))
		return -1;
	sched_power_max(p, NULL, &top);
	r = exhaustive(p, d, &top, upper_s, max_nodes, &found, NULL, &proven);
	if (r > 0 && proven && pl) {
		sched_plan_copy(pl, &found);
		sched_power_max(p, NULL, pl);
	}
	sched_plan_free(&found);
	return proven ? r : -1;
}
