/* SPDX-License-Identifier: MIT */
/*
 * placement.c - "auto" placement: the partitioner's plan on a device profile (modeled), mapped
 * onto this host's devices; the power manager's clocks within the admin's devfreq bounds,
 * which the dispatcher hands to the devices with each run's ops; and, on the host's own profile, the measured time
 * of each op fed back into the cost model, with the graph placed again once it has learnt.
 */
#include "internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which profile device class a context device is: its HAL class (the two enums agree). */
static enum sched_dev_class host_class(const struct hal_device *dev)
{
	_Static_assert((int)SCHED_CLASS_CPU == HAL_CLASS_CPU && (int)SCHED_CLASS_GPU == HAL_CLASS_GPU &&
			       (int)SCHED_CLASS_NPU == HAL_CLASS_NPU,
		       "profile classes are the HAL's");
	return (enum sched_dev_class)dev->cls;
}

static double top_hz(const struct sched_dev_profile *dp)
{
	return dp->opp[dp->n_opp - 1].freq_hz;
}

/* The devfreq attributes of every context device, read once per placement (n_opp 0: none). */
static void read_devfreqs(const enpu_context *ctx, struct hal_devfreq df[ENPU_MAX_DEVICES])
{
	for (uint32_t i = 0; i < ctx->n_devices; i++) {
		struct hal_device *dev = ctx->devices[i];
		const char *dir = dev->vt->devfreq_dir ? dev->vt->devfreq_dir(dev) : NULL;
		char err[256];

		if (!dir || hal_devfreq_read(dir, &df[i], err, sizeof(err)) != HAL_OK)
			df[i].n_opp = 0;
	}
}

/*
 * The admin's bounds: a context device with devfreq attributes bounds the OPPs of the
 * profile's devices of its class at the same fractions of the top clock (on "host" the NPU's
 * table is the simulated NPU's own, so the bounds map one to one).
 */
static void admin_bounds(const enpu_session *s, const struct hal_devfreq *devfreq,
			 struct sched_part_options *o)
{
	const struct sched_profile *p = s->profile;
	const enpu_context *ctx = s->model->ctx;

	for (uint32_t k = 0; k < p->n_dev; k++) {
		o->opp_min[k] = 0;
		o->opp_max[k] = p->dev[k].n_opp - 1;
	}
	for (uint32_t i = 0; i < ctx->n_devices; i++) {
		const struct hal_devfreq df = devfreq[i];

		if (!df.n_opp)
			continue;
		const double fmax = (double)df.freq_hz[df.n_opp - 1];
		for (uint32_t k = 0; k < p->n_dev; k++) {
			if (p->dev[k].cls != host_class(ctx->devices[i]))
				continue;
			const double top = top_hz(&p->dev[k]);
			double lo = (double)df.min_hz / fmax * top * (1 - 1e-9);
			double hi = df.max_hz ? (double)df.max_hz / fmax * top * (1 + 1e-9) : top;
			sched_power_bounds(&p->dev[k], lo, hi, &o->opp_min[k], &o->opp_max[k]);
		}
	}
}

/*
 * The clock each host device should run this graph at: the OPP the power manager chose for
 * the profile device of its class that runs most of the graph, at the same fraction of the
 * top clock. 0 (the governor decides) when the plan gives that class nothing. What was read
 * and chosen goes to text (one line per device with devfreq attributes).
 */
static void choose_clocks(enpu_session *s, const struct hal_devfreq *devfreq,
			  struct graph_slot *slot, const struct sched_plan *pl,
			  const uint32_t prof[HAL_OP_COUNT][SCHED_MAX_DEVS], char *text,
			  size_t len)
{
	const struct sched_profile *p = s->profile;
	const enpu_context *ctx = s->model->ctx;
	size_t off = 0;

	text[0] = 0;
	for (uint32_t i = 0; i < ctx->n_devices; i++) {
		struct hal_device *dev = ctx->devices[i];
		const struct hal_devfreq df = devfreq[i];
		uint32_t best = 0, best_ops = 0;

		slot->hint_hz[i] = 0;
		if (!df.n_opp)
			continue;
		for (uint32_t k = 0; k < p->n_dev; k++) {
			uint32_t ops = 0;

			for (int op = 0; op < HAL_OP_COUNT; op++)
				ops += prof[op][k];
			if (p->dev[k].cls == host_class(dev) && ops > best_ops) {
				best = k;
				best_ops = ops;
			}
		}
		if (best_ops && dev->vt->freq_hint) {
			/* the same fraction of the top clock, up to the device's next OPP */
			double want = p->dev[best].opp[pl->opp[best]].freq_hz /
				      top_hz(&p->dev[best]) * (double)df.freq_hz[df.n_opp - 1];
			uint32_t o = 0;
			while (o + 1 < df.n_opp && (double)df.freq_hz[o] < want * (1 - 1e-9))
				o++;
			slot->hint_hz[i] = df.freq_hz[o];
		}
		if (off >= len)
			continue;
		off += (size_t)snprintf(text + off, len - off,
					"%s: devfreq %s, governor %s, admin bounds %.0f..%.0f MHz, ",
					dev->name, dev->vt->devfreq_dir(dev), df.governor,
					(double)df.min_hz / 1e6, (double)df.max_hz / 1e6);
		if (off >= len)
			continue;
		if (slot->hint_hz[i])
			off += (size_t)snprintf(text + off, len - off, "asked for %.0f MHz%s\n",
						(double)slot->hint_hz[i] / 1e6,
						strcmp(df.governor, "simple_ondemand")
							? " (ignored: the governor is the admin's)"
							: "");
		else
			off += (size_t)snprintf(text + off, len - off, "%s\n",
						dev->vt->freq_hint ? "no clock asked (no ops planned)"
								   : "no clock asked (the driver "
								     "takes no request)");
	}
}

/*
 * model_weight_for on context device k. A weight the device has already is looked up; one
 * converted into its layout now is made with the device's queue held, as converting must not
 * overlap its ops (other sessions may be running on it).
 */
static struct hal_tensor *weight_for(enpu_session *s, const struct hal_tensor *w, uint32_t k)
{
	enpu_context *ctx = s->model->ctx;
	struct hal_tensor *out = model_weight_for(s->model, w, ctx->devices[k], false);

	if (!out) {
		sched_exec_hold_device(ctx->exec, k);
		out = model_weight_for(s->model, w, ctx->devices[k], true);
		sched_exec_release_device(ctx->exec, k);
	}
	return out;
}

/*
 * "auto" placement: partition the graph on the profile (modeled), then map each op onto this
 * host's device of the same class, with its matmul weights in that device's layout, falling
 * back to the CPU (device 0) where that device cannot run the op.
 */
enpu_status place_auto(enpu_session *s, struct graph_slot *slot, bool again)
{
	struct sched_graph *g = slot->g;
	enpu_context *ctx = s->model->ctx;
	const struct sched_profile *p = s->profile;
	struct sched_dag fresh = { 0 };
	struct sched_plan pl;
	struct sched_sim_result r;
	char err[256];
	uint64_t t0 = hal_now_ns();

	/* placed again later: attention is costed at the context reached since slot->deps */
	if (again && sched_dag_from_graph(g, s->n_past + g->n_tokens, &fresh, err, sizeof(err)))
		return ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "placing the graph: %s", err);
	const struct sched_dag d = again ? fresh : slot->deps;
	/* the nodes in force stay until this placement has succeeded */
	struct slot_node *nodes = calloc(d.n ? d.n : 1, sizeof(*nodes));
	if (!nodes || sched_plan_alloc(&pl, d.n)) {
		free(nodes);
		sched_dag_free(&fresh);
		return ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "placing the graph: out of memory");
	}
	struct sched_part_options po = s->part;
	struct hal_devfreq devfreq[ENPU_MAX_DEVICES];
	read_devfreqs(ctx, devfreq);
	admin_bounds(s, devfreq, &po);
	enum sched_status st = sched_partition(p, &d, &po, &pl, NULL, err, sizeof(err));
	if (st) {
		free(nodes);
		sched_plan_free(&pl);
		sched_dag_free(&fresh);
		return ctx_fail(ctx, ENPU_ERR_UNSUPPORTED, "placing the graph on profile '%s': %s",
				p->name, err);
	}
	struct sched_sim_options so = { .contention = true };
	if (s->part.objective == SCHED_MIN_ENERGY)
		so.period_s = s->part.latency_target_s;
	sched_simulate(p, &d, &pl, &so, &r);

	uint32_t cls_dev[SCHED_CLASS_COUNT] = { 0, 0, 0 };
	for (uint32_t i = ctx->n_devices; i-- > 0;)
		cls_dev[host_class(ctx->devices[i])] = i;
	uint32_t prof[HAL_OP_COUNT][SCHED_MAX_DEVS] = { { 0 } };
	uint32_t host[HAL_OP_COUNT][ENPU_MAX_DEVICES] = { { 0 } };
	for (uint32_t v = 0; v < g->n_nodes; v++) {
		struct sched_node *n = &g->nodes[v];
		uint32_t k = cls_dev[p->dev[pl.dev[v]].cls];

		if (n->op.kind == HAL_OP_MATMUL) {
			/* the weights in the layout of the device the plan chose (a copy made once) */
			struct hal_tensor *w = weight_for(s, n->op.src[0], k);
			if (w)
				n->op.src[0] = w;
		}
		const struct hal_device *owner = n->op.src[0] ? n->op.src[0]->owner : NULL;
		if (owner && owner != ctx->devices[k]) {
			for (uint32_t i = 0; i < ctx->n_devices; i++)
				if (ctx->devices[i] == owner)
					k = i;
		} else if (!ctx->devices[k]->vt->supports(ctx->devices[k], &n->op)) {
			k = 0;
			if (n->op.kind == HAL_OP_MATMUL) {
				struct hal_tensor *w = weight_for(s, n->op.src[0], 0);
				if (w)
					n->op.src[0] = w;
			}
		}
		n->device = k;
		prof[n->op.kind][pl.dev[v]]++;
		host[n->op.kind][k]++;
		nodes[v] = (struct slot_node){
			.sig = d.nodes[v].sig,
			.predicted_s = (float)sched_cost_op(p, &d, v, pl.dev[v], pl.opp[pl.dev[v]],
							    NULL).time,
			.prof_dev = pl.dev[v],
			/* attention's cost grows with the context the graph was placed at */
			.measurable = k == cls_dev[p->dev[pl.dev[v]].cls] &&
				      n->op.kind != HAL_OP_ATTENTION,
		};
	}
	free(slot->nodes);
	slot->nodes = nodes;
	char clocks[sizeof(s->report.clocks)];
	choose_clocks(s, devfreq, slot, &pl, prof, clocks, sizeof(clocks));
	double place_ms = (double)(hal_now_ns() - t0) / 1e6;
	s->place_total_ms += place_ms;

	if (g->n_tokens == 1 || !s->have_report || s->report.n_tokens != 1) {
		struct enpu_schedule_report *rep = &s->report;
		size_t off = 0;

		memset(rep, 0, sizeof(*rep));
		memcpy(rep->clocks, clocks, sizeof(clocks));
		rep->struct_size = sizeof(*rep);
		snprintf(rep->profile, sizeof(rep->profile), "%s", p->name);
		rep->n_tokens = g->n_tokens;
		rep->modeled_ms = r.makespan_s * 1e3;
		rep->modeled_mj = r.energy_j * 1e3;
		rep->peak_w = r.peak_w;
		rep->avg_w = r.avg_w;
		rep->crossings = r.crossings;
		rep->bytes_copied = r.bytes_copied;
		rep->place_ms = place_ms;
		for (int op = 0; op < HAL_OP_COUNT && off < sizeof(rep->table); op++) {
			uint32_t total = 0;
			for (uint32_t k = 0; k < p->n_dev; k++)
				total += prof[op][k];
			if (!total)
				continue;
			off += (size_t)snprintf(rep->table + off, sizeof(rep->table) - off,
						"%-10s %4u |", hal_op_name((enum hal_op_kind)op), total);
			for (uint32_t k = 0; k < p->n_dev && off < sizeof(rep->table); k++)
				if (prof[op][k])
					off += (size_t)snprintf(rep->table + off, sizeof(rep->table) - off,
								" %s %u (%.0f MHz)", p->dev[k].name,
								prof[op][k],
								p->dev[k].opp[pl.opp[k]].freq_hz / 1e6);
			if (off < sizeof(rep->table))
				off += (size_t)snprintf(rep->table + off, sizeof(rep->table) - off,
							" | host:");
			for (uint32_t k = 0; k < ctx->n_devices && off < sizeof(rep->table); k++)
				if (host[op][k])
					off += (size_t)snprintf(rep->table + off, sizeof(rep->table) - off,
								" %s %u", ctx->devices[k]->name,
								host[op][k]);
			if (off < sizeof(rep->table))
				off += (size_t)snprintf(rep->table + off, sizeof(rep->table) - off, "\n");
		}
		s->have_report = true;
	}
	sched_plan_free(&pl);
	sched_dag_free(&fresh);
	return ENPU_OK;
}


/* Only the host's own profile predicts times this host can measure. */
static bool learns(const enpu_session *s)
{
	return s->profile && !strcmp(s->profile->name, "host");
}

/* Every run at first, then one in 16: enough to follow drift, cheap per decode step. */
bool place_learns_now(const enpu_session *s, const struct graph_slot *slot)
{
	return learns(s) && (slot->runs < 8 || slot->runs % 16 == 0);
}

void place_learn(enpu_session *s, const struct graph_slot *slot, const struct sched_op_record *r)
{
	const struct slot_node *n;

	if (!learns(s) || !slot->nodes)
		return;
	n = &slot->nodes[r->node];
	if (n->measurable)
		sched_history_record(&s->history, n->sig, n->prof_dev, n->predicted_s,
				     (double)(r->t_end_ns - r->t_start_ns) / 1e9);
}

/* Placed again after a few runs (the history has a sample of every op), then now and then. */
#define PLACE_AGAIN_FIRST 4
#define PLACE_AGAIN_EVERY 256

bool place_stale(const enpu_session *s, const struct graph_slot *slot)
{
	return learns(s) && slot->runs >= PLACE_AGAIN_FIRST &&
	       (slot->runs == PLACE_AGAIN_FIRST || slot->runs % PLACE_AGAIN_EVERY == 0);
}

enpu_status enpu_session_schedule_report(const enpu_session *s, struct enpu_schedule_report *out)
{
	if (!s)
		return ENPU_ERR_INVALID_ARG;
	/* a caller built against the first version of the struct gets the fields it has */
	if (!out || out->struct_size < offsetof(struct enpu_schedule_report, decode_steps))
		return ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				"enpu_session_schedule_report: out is NULL or too small");
	if (!s->have_report && !s->steps)
		return ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				"enpu_session_schedule_report: nothing has been %s yet",
				s->profile ? "evaluated" : "decoded");
	struct enpu_schedule_report r = s->report; /* zero under the fixed rule */
	size_t size = out->struct_size < sizeof(r) ? out->struct_size : sizeof(r);

	r.struct_size = size;
	r.decode_steps = s->steps;
	r.step_ms = s->steps ? (double)s->step_wall_ns / (double)s->steps / 1e6 : 0;
	r.overhead_pct = s->step_wall_ns ? 100.0 * (double)s->step_idle_ns /
						   (double)s->step_wall_ns : 0;
	r.replacements = s->replacements;
	r.place_total_ms = s->place_total_ms;
	memcpy(out, &r, size);
	return ENPU_OK;
}
