/* SPDX-License-Identifier: MIT */
/*
 * placement.c - the fixed rule, and "auto" placement: plan on a profile, map onto this host's
 * devices by class, materialise weights through the caller, predict and learn (placement.h).
 */
#include "sched/placement.h"

#include "sched/dag.h"
#include "sched/power.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host device of weight w's owner, or -1 when no device owns it. */
static int owner_index(const struct hal_tensor *w, struct hal_device *const *devs,
		       uint32_t n_devs)
{
	int k = -1;

	if (w && w->owner)
		for (uint32_t d = 0; d < n_devs; d++)
			if (devs[d] == w->owner)
				k = (int)d;
	return k;
}

void sched_place_fixed(struct sched_graph *g, struct hal_device *const *devs, uint32_t n_devs,
		       uint32_t preferred)
{
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		struct sched_node *n = &g->nodes[i];
		const struct hal_tensor *w = n->op.src[0];
		int owner = owner_index(w, devs, n_devs);

		n->device = 0;
		if (w && w->owner) {
			if (owner >= 0)
				n->device = (uint32_t)owner;
		} else if (preferred < n_devs &&
			   devs[preferred]->vt->supports(devs[preferred], &n->op)) {
			n->device = preferred;
		}
	}
}

enum sched_status sched_placer_init(struct sched_placer *pr, const char *profile,
				    bool min_energy, double latency_target_s, char *err,
				    size_t err_len)
{
	memset(pr, 0, sizeof(*pr));
	if (sched_profile_find(profile ? profile : "host", &pr->profile, err, err_len))
		return SCHED_ERR_INVALID;
	pr->part.objective = min_energy ? SCHED_MIN_ENERGY : SCHED_MIN_LATENCY;
	pr->part.latency_target_s = latency_target_s;
	pr->part.contention = true;
	pr->part.improve = true;
	pr->part.history = &pr->history;
	/*
	 * The partitioner's default budget (40k simulations) is for npu-bench; at run time
	 * placing delays the first token. On the ~130 M model's decode graph 2k simulations
	 * give the same modeled latency within 0.03 % (phone 2.985 vs 2.984 ms, host 5.384
	 * both) in 80-120 ms instead of 300-700 ms.
	 */
	pr->part.max_evals = 2000;
	/* only the host's own profile predicts times this host can measure */
	pr->learns = !strcmp(pr->profile.name, "host");
	return SCHED_OK;
}

enum sched_status sched_placer_reserve(struct sched_placer *pr, enum hal_device_class cls,
				       char *err, size_t err_len)
{
	if (cls == HAL_CLASS_CPU) {
		snprintf(err, err_len, "profile '%s': the CPU is every plan's fallback and cannot "
			 "be reserved", pr->profile.name);
		return SCHED_ERR_INVALID;
	}
	for (uint32_t k = 0; k < pr->profile.n_dev; k++)
		if (pr->profile.dev[k].cls == cls) {
			pr->profile.dev[k].op_mask = 0;
			pr->profile.dev[k].type_mask = 0;
		}
	return SCHED_OK;
}

/* ---- plan ---------------------------------------------------------------------------------- */

static double top_hz(const struct sched_dev_profile *dp)
{
	return dp->opp[dp->n_opp - 1].freq_hz;
}

/* The devfreq attributes of every host device, read once per placement (n_opp 0: none). */
static void read_devfreqs(const struct sched_host *host, struct hal_devfreq *df)
{
	for (uint32_t i = 0; i < host->n_devs; i++) {
		struct hal_device *dev = host->devs[i];
		const char *dir = dev->vt->devfreq_dir ? dev->vt->devfreq_dir(dev) : NULL;
		char err[256];

		if (!dir || hal_devfreq_read(dir, &df[i], err, sizeof(err)) != HAL_OK)
			df[i].n_opp = 0;
	}
}

/*
 * The admin's bounds: a host device with devfreq attributes bounds the OPPs of the profile's
 * devices of its class at the same fractions of the top clock (on "host" the NPU's table is
 * the simulated NPU's own, so the bounds map one to one).
 */
static void admin_bounds(const struct sched_profile *p, const struct sched_host *host,
			 const struct hal_devfreq *devfreq, struct sched_part_options *o)
{
	for (uint32_t k = 0; k < p->n_dev; k++) {
		o->opp_min[k] = 0;
		o->opp_max[k] = p->dev[k].n_opp - 1;
	}
	for (uint32_t i = 0; i < host->n_devs; i++) {
		const struct hal_devfreq df = devfreq[i];

		if (!df.n_opp)
			continue;
		const double fmax = (double)df.freq_hz[df.n_opp - 1];
		for (uint32_t k = 0; k < p->n_dev; k++) {
			if (p->dev[k].cls != host->devs[i]->cls)
				continue;
			const double top = top_hz(&p->dev[k]);
			double lo = (double)df.min_hz / fmax * top * (1 - 1e-9);
			double hi = df.max_hz ? (double)df.max_hz / fmax * top * (1 + 1e-9) : top;
			sched_power_bounds(&p->dev[k], lo, hi, &o->opp_min[k], &o->opp_max[k]);
		}
	}
}

/* Partitions d on the placer's profile within the admin's bounds and simulates the plan. */
static enum sched_status plan(const struct sched_placer *pr, const struct sched_host *host,
			      const struct sched_dag *d, struct sched_plan *pl,
			      struct sched_placement *out, char *err, size_t err_len)
{
	const struct sched_profile *p = &pr->profile;
	struct sched_part_options po = pr->part;
	char why[256];

	read_devfreqs(host, out->devfreq);
	admin_bounds(p, host, out->devfreq, &po);
	if (sched_partition(p, d, &po, pl, NULL, why, sizeof(why))) {
		snprintf(err, err_len, "placing the graph on profile '%s': %s", p->name, why);
		return SCHED_ERR_INVALID;
	}
	struct sched_sim_options so = { .contention = true };
	if (pr->part.objective == SCHED_MIN_ENERGY)
		so.period_s = pr->part.latency_target_s;
	sched_simulate(p, d, pl, &so, &out->sim);
	memcpy(out->plan_opp, pl->opp, sizeof(out->plan_opp));
	return SCHED_OK;
}

/* ---- map and materialise ------------------------------------------------------------------ */

/* The weights of matmul n (all of a fused one) in the layout of host device k, where the
 * caller has them. */
static void materialise(const struct sched_host *host, struct sched_node *n, uint32_t k)
{
	static const int slot[3] = { 0, 2, 3 };
	const struct hal_tensor *ws[3];

	if (n->op.kind != HAL_OP_MATMUL)
		return;
	for (uint32_t i = 0; i < hal_matmul_weights(&n->op, ws); i++) {
		struct hal_tensor *w = host->weight_for(host->user, n->op.src[slot[i]], k);
		if (w)
			n->op.src[slot[i]] = w;
	}
}

/*
 * Node n's host device: the first of the class of the profile device the plan chose (cls_dev),
 * with its weights in that device's layout; where a weight stays another device's, that
 * device; where the device cannot run the op, the CPU fallback (device 0).
 */
static uint32_t map_node(const struct sched_host *host, struct sched_node *n, uint32_t k)
{
	materialise(host, n, k);
	const struct hal_tensor *w = n->op.src[0];
	int owner = owner_index(w, host->devs, host->n_devs);

	if (w && w->owner && w->owner != host->devs[k]) {
		if (owner >= 0)
			k = (uint32_t)owner;
	} else if (!host->devs[k]->vt->supports(host->devs[k], &n->op)) {
		k = 0;
		materialise(host, n, 0);
	}
	return k;
}

/* ---- predict -------------------------------------------------------------------------------- */

/*
 * The clock each host device should run this graph at: the OPP the power manager chose for
 * the profile device of its class that runs most of the graph, at the same fraction of the
 * top clock, up to the device's next OPP. 0 (the governor decides) when the plan gives that
 * class nothing or the device takes no request.
 */
static void choose_clocks(const struct sched_profile *p, const struct sched_host *host,
			  struct sched_placement *out)
{
	for (uint32_t i = 0; i < host->n_devs; i++) {
		struct hal_device *dev = host->devs[i];
		const struct hal_devfreq *df = &out->devfreq[i];
		uint32_t best = 0, best_ops = 0;

		out->hint_hz[i] = 0;
		if (!df->n_opp || !dev->vt->freq_hint)
			continue;
		for (uint32_t k = 0; k < p->n_dev; k++) {
			uint32_t ops = 0;

			for (int op = 0; op < HAL_OP_COUNT; op++)
				ops += out->prof_ops[op][k];
			if (p->dev[k].cls == dev->cls && ops > best_ops) {
				best = k;
				best_ops = ops;
			}
		}
		if (!best_ops)
			continue;
		double want = p->dev[best].opp[out->plan_opp[best]].freq_hz / top_hz(&p->dev[best]) *
			      (double)df->freq_hz[df->n_opp - 1];
		uint32_t o = 0;
		while (o + 1 < df->n_opp && (double)df->freq_hz[o] < want * (1 - 1e-9))
			o++;
		out->hint_hz[i] = df->freq_hz[o];
	}
}

/* Maps every node of g (plan pl over d) onto host and records the predictions in out. */
static void map_graph(const struct sched_placer *pr, const struct sched_host *host,
		      struct sched_graph *g, const struct sched_dag *d,
		      const struct sched_plan *pl, struct sched_placement *out)
{
	const struct sched_profile *p = &pr->profile;
	uint32_t cls_dev[HAL_CLASS_COUNT] = { 0 };

	for (uint32_t i = host->n_devs; i-- > 0;)
		cls_dev[host->devs[i]->cls] = i;
	for (uint32_t v = 0; v < g->n_nodes; v++) {
		struct sched_node *n = &g->nodes[v];
		const uint32_t planned = cls_dev[p->dev[pl->dev[v]].cls];
		const uint32_t k = map_node(host, n, planned);

		n->device = k;
		out->prof_ops[n->op.kind][pl->dev[v]]++;
		out->host_ops[n->op.kind][k]++;
		out->nodes[v] = (struct sched_placed_node){
			.sig = d->nodes[v].sig,
			.predicted_s = (float)sched_cost_op(p, d, v, pl->dev[v], pl->opp[pl->dev[v]],
							    NULL).time,
			.prof_dev = pl->dev[v],
			/* attention's cost grows with the context the graph was placed at */
			.measurable = k == planned && n->op.kind != HAL_OP_ATTENTION,
		};
	}
	choose_clocks(p, host, out);
}

enum sched_status sched_place_auto(struct sched_placer *pr, const struct sched_host *host,
				   struct sched_graph *g, const struct sched_dag *deps,
				   uint32_t ctx_len, struct sched_placement *out, char *err,
				   size_t err_len)
{
	const uint64_t t0 = hal_now_ns();
	struct sched_dag fresh = { 0 };
	struct sched_placement next = { 0 };
	struct sched_plan pl;
	char why[256];

	if (!deps && sched_dag_from_graph(g, ctx_len, &fresh, why, sizeof(why))) {
		snprintf(err, err_len, "placing the graph: %s", why);
		return SCHED_ERR_NOMEM;
	}
	const struct sched_dag *d = deps ? deps : &fresh;
	next.n_nodes = d->n;
	next.nodes = calloc(d->n ? d->n : 1, sizeof(*next.nodes));
	if (!next.nodes || sched_plan_alloc(&pl, d->n)) {
		free(next.nodes);
		sched_dag_free(&fresh);
		snprintf(err, err_len, "placing the graph: out of memory");
		return SCHED_ERR_NOMEM;
	}
	enum sched_status st = plan(pr, host, d, &pl, &next, err, err_len);
	if (st) {
		free(next.nodes);
	} else {
		map_graph(pr, host, g, d, &pl, &next);
		next.place_ms = (double)(hal_now_ns() - t0) / 1e6;
		sched_placement_free(out);
		*out = next;
	}
	sched_plan_free(&pl);
	sched_dag_free(&fresh);
	return st;
}

void sched_placement_free(struct sched_placement *pl)
{
	free(pl->nodes);
	memset(pl, 0, sizeof(*pl));
}

/* ---- learn ------------------------------------------------------------------------------------ */

/* Every run at first, then one in 16: enough to follow drift, cheap per decode step. */
bool sched_placer_learns_now(const struct sched_placer *pr, uint32_t runs)
{
	return pr && pr->learns && (runs < 8 || runs % 16 == 0);
}

/* Placed again after a few runs (the history has a sample of every op), then now and then. */
#define PLACE_AGAIN_FIRST 4
#define PLACE_AGAIN_EVERY 256

bool sched_placer_stale(const struct sched_placer *pr, uint32_t runs)
{
	return pr && pr->learns && runs >= PLACE_AGAIN_FIRST &&
	       (runs == PLACE_AGAIN_FIRST || runs % PLACE_AGAIN_EVERY == 0);
}

void sched_placer_learn(struct sched_placer *pr, const struct sched_placement *pl,
			const struct sched_op_record *r)
{
	if (!pr->learns || !pl->nodes || r->node >= pl->n_nodes)
		return;
	const struct sched_placed_node *n = &pl->nodes[r->node];
	if (n->measurable)
		sched_history_record(&pr->history, n->sig, n->prof_dev, n->predicted_s,
				     (double)(r->t_end_ns - r->t_start_ns) / 1e9);
}
