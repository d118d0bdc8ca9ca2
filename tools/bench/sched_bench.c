/* SPDX-License-Identifier: MIT */
/*
 * bench.c - DAG generators (random DAGs, the transformer graphs of model shapes) and the body
 * of `npu-bench sched`: the partitioner against the exact optimum on small random DAGs, against
 * HEFT and single-device placements on transformer graphs, and the power manager against every
 * device at its top clock at the same latency target. Every figure it prints is MODELED (the
 * profile's simulated silicon), except the scheduler's own run time, which is measured.
 */
#include "sched_bench.h"
#include "measure.h"
#include "report.h"

#include "sched/partition.h"
#include "sched/power.h"
#include "sched/profile.h"
#include "sched/simulate.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
	return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

enum sched_status bench_random_dag(uint64_t *seed, uint32_t n, struct sched_dag *out)
{
	uint32_t (*edges)[2] = malloc(sizeof(*edges) * (size_t)(n ? n : 1) * n);
	double *bytes = malloc(sizeof(double) * (size_t)(n ? n : 1) * n);
	struct sched_dag_node *nodes = calloc(n ? n : 1, sizeof(*nodes));
	uint32_t ne = 0;
	enum sched_status st = SCHED_ERR_NOMEM;

	if (!edges || !bytes || !nodes)
		goto out;
	for (uint32_t v = 0; v < n; v++) {
		static const enum hal_op_kind kinds[] = {
			HAL_OP_MATMUL, HAL_OP_MATMUL, HAL_OP_MATMUL, HAL_OP_RMSNORM, HAL_OP_ROPE,
			HAL_OP_ATTENTION, HAL_OP_SWIGLU, HAL_OP_ADD,
		};
		struct sched_dag_node *x = &nodes[v];
		x->kind = kinds[rnd(seed) % (sizeof(kinds) / sizeof(kinds[0]))];
		x->wtype = HAL_TYPE_F32;
		x->layer = -1;
		x->sig = rnd(seed);
		/* batch of 1..64 tokens, widths 256..4096: decode-like and prefill-like ops mixed */
		double T = (double)(1u << (rnd(seed) % 7)), D = 256.0 * (1u << (rnd(seed) % 5));
		if (x->kind == HAL_OP_MATMUL) {
			double N = 256.0 * (1u << (rnd(seed) % 5));
			x->wtype = rnd(seed) % 4 ? HAL_TYPE_Q8_0 : HAL_TYPE_F16;
			x->ops = 2 * D * N * T;
			x->bytes = D * N * (x->wtype == HAL_TYPE_F16 ? 2.0 : 34.0 / 32) + 4 * T * (D + N);
			x->out_bytes = 4 * T * N;
		} else if (x->kind == HAL_OP_ATTENTION) {
			double ctx = 64.0 * (1u << (rnd(seed) % 5));
			x->ops = T * D * ctx * 4;
			x->bytes = 8 * ctx * D + 16 * T * D;
			x->out_bytes = 4 * T * D;
		} else {
			x->ops = (4 + 16 * unif(seed)) * D * T;
			x->bytes = 12 * D * T;
			x->out_bytes = 4 * D * T;
		}
		if (v == 0)
			continue;
		/* one input at least, more with falling probability: chains, forks and joins */
		uint32_t first = (uint32_t)(rnd(seed) % v);
		edges[ne][0] = first;
		edges[ne][1] = v;
		bytes[ne++] = nodes[first].out_bytes;
		for (uint32_t u = 0; u < v; u++)
			if (u != first && unif(seed) < 0.2) {
				edges[ne][0] = u;
				edges[ne][1] = v;
				bytes[ne++] = nodes[u].out_bytes;
			}
	}
	st = sched_dag_init(out, n, ne, (const uint32_t(*)[2])edges, bytes);
	if (!st)
		memcpy(out->nodes, nodes, sizeof(*nodes) * n);
out:
	free(edges);
	free(bytes);
	free(nodes);
	return st;
}

/* ---- transformer graphs of a model shape, without weights ------------------------------- */

struct shape_model {
	struct sched_hparams hp;
	enum hal_type type;
	struct sched_weight w;
	char name[64];
};

/* Every weight exists with the shape asked for: the graph needs shapes, never bytes. */
static const struct sched_weight *shape_lookup(void *user, const char *name)
{
	struct shape_model *m = user;
	const struct sched_hparams *hp = &m->hp;
	const uint32_t d = hp->n_embd, dkv = hp->n_head_kv * sched_head_dim(hp);
	uint64_t ne0 = d, ne1 = 1;
	enum hal_type t = m->type;

	/* a llama model: no fused Q/K/V, biases or rope factors (other families' tensors) */
	if (strstr(name, "attn_qkv") || strstr(name, ".bias") || strstr(name, "rope_freqs") ||
	    strstr(name, "post_"))
		return NULL;
	if (strstr(name, "norm")) {
		t = HAL_TYPE_F32;
	} else if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")) {
		ne1 = hp->n_vocab;
	} else if (strstr(name, "attn_k") || strstr(name, "attn_v")) {
		ne1 = dkv;
	} else if (strstr(name, "attn_q") || strstr(name, "attn_output")) {
		ne1 = d;
	} else if (strstr(name, "ffn_down")) {
		ne0 = hp->n_ff;
		ne1 = d;
	} else {
		ne1 = hp->n_ff;
	}
	size_t len = strlen(name);
	if (len >= sizeof(m->name))
		len = sizeof(m->name) - 1;
	memcpy(m->name, name, len);
	m->name[len] = 0;
	m->w = (struct sched_weight){ m->name, t, ne1 > 1 ? 2 : 1, { ne0, ne1, 1, 1 }, NULL };
	return &m->w;
}

enum sched_status bench_model_dag(const struct sched_hparams *hp, enum hal_type wtype,
				  uint32_t n_tokens, uint32_t ctx_len, struct sched_dag *out,
				  char *err, size_t err_len)
{
	struct shape_model sm = { .hp = *hp, .type = wtype };
	struct sched_model m;
	struct sched_graph *g = NULL;
	enum sched_status st = sched_model_bind(hp, shape_lookup, &sm, &m, err, err_len);

	if (st)
		return st;
	const uint32_t dkv = hp->n_head_kv * sched_head_dim(hp);
	struct hal_tensor *kc = calloc(hp->n_layer, sizeof(*kc));
	struct hal_tensor *vc = calloc(hp->n_layer, sizeof(*vc));
	if (!kc || !vc) {
		st = SCHED_ERR_NOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		/* distinct fake addresses: each layer's cache is its own memory */
		kc[l] = (struct hal_tensor){ "k_cache", HAL_TYPE_F32, { dkv, ctx_len }, NULL, NULL };
		vc[l] = kc[l];
		kc[l].data = (void *)(uintptr_t)(0x100000000ull * (2 * l + 1));
		vc[l].data = (void *)(uintptr_t)(0x100000000ull * (2 * l + 2));
	}
	st = sched_graph_build(&m, n_tokens, kc, vc, &g, err, err_len);
	if (!st)
		st = sched_dag_from_graph(g, ctx_len, out, err, err_len);
out:
	sched_graph_free(g);
	free(kc);
	free(vc);
	sched_model_release(&m);
	return st;
}

/* The shapes npu-bench reports on: npu-mkmodel's default and the ~130 M model. */
static const struct {
	const char *name;
	struct sched_hparams hp;
	enum hal_type type;
} models[] = {
	{ "default-512x8 Q8_0", { .n_vocab = 32000, .n_embd = 512, .n_layer = 8, .n_head = 8, .n_head_kv = 4, .n_ff = 1408, .n_rot = 64, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f }, HAL_TYPE_Q8_0 },
	{ "130M Q8_0", { .n_vocab = 32000, .n_embd = 768, .n_layer = 12, .n_head = 12, .n_head_kv = 12, .n_ff = 2048, .n_rot = 64, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f }, HAL_TYPE_Q8_0 },
	{ "130M Q4_0", { .n_vocab = 32000, .n_embd = 768, .n_layer = 12, .n_head = 12, .n_head_kv = 12, .n_ff = 2048, .n_rot = 64, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f }, HAL_TYPE_Q4_0 },
};

/* ---- npu-bench sched -------------------------------------------------------------------- */

/*
 * The figures as rows of one report (report.c) for -o csv|json|md, a section per comparison,
 * each row filling the columns its section has; for people (text), the prose below instead,
 * which says what each figure is compared with.
 */
enum { S_SECTION, S_PROFILE, S_NAME, S_TOKENS, S_OPS, S_MEAN, S_WORST, S_OPTIMAL, S_PROVEN,
       S_MS_DAG, S_TARGET_MET, S_PART_MS, S_HEFT_MS, S_HEFT_PCT, S_CPU_MS, S_NPU_MS, S_CROSS,
       S_COPIED, S_PLACE_MS, S_TARGET_MS, S_FACTOR, S_MJ, S_MAKESPAN_MS, S_PEAK_W, S_TPJ,
       S_FAST_MJ, S_SAVE_PCT, S_MAXCLK_MJ, S_DVFS_PCT, S_COUNT };

static const struct bench_col sched_cols[S_COUNT] = {
	[S_SECTION] = { "section", NULL, BENCH_COL_STR, 8, 0, NULL },
	[S_PROFILE] = { "profile", NULL, BENCH_COL_STR, 8, 0, NULL },
	[S_NAME] = { "name", NULL, BENCH_COL_STR, 20, 0, NULL },
	[S_TOKENS] = { "n_tokens", NULL, BENCH_COL_INT, 5, 0, NULL },
	[S_OPS] = { "n_ops", NULL, BENCH_COL_INT, 5, 0, NULL },
	[S_MEAN] = { "mean_above_optimum_pct", NULL, BENCH_COL_NUM, 6, 3, NULL },
	[S_WORST] = { "worst_above_optimum_pct", NULL, BENCH_COL_NUM, 6, 3, NULL },
	[S_OPTIMAL] = { "optimal", NULL, BENCH_COL_INT, 4, 0, NULL },
	[S_PROVEN] = { "proven", NULL, BENCH_COL_INT, 4, 0, NULL },
	[S_MS_DAG] = { "ms_per_dag", NULL, BENCH_COL_NUM, 6, 3, NULL },
	[S_TARGET_MET] = { "target_met", NULL, BENCH_COL_STR, 3, 0, NULL },
	[S_PART_MS] = { "partitioner_ms", NULL, BENCH_COL_NUM, 9, 4, NULL },
	[S_HEFT_MS] = { "heft_ms", NULL, BENCH_COL_NUM, 9, 4, NULL },
	[S_HEFT_PCT] = { "heft_above_pct", NULL, BENCH_COL_NUM, 6, 2, NULL },
	[S_CPU_MS] = { "all_cpu_ms", NULL, BENCH_COL_NUM, 9, 4, NULL },
	[S_NPU_MS] = { "all_npu_ms", NULL, BENCH_COL_NUM, 9, 4, NULL },
	[S_CROSS] = { "crossings", NULL, BENCH_COL_INT, 5, 0, NULL },
	[S_COPIED] = { "bytes_copied", NULL, BENCH_COL_NUM, 9, 0, NULL },
	[S_PLACE_MS] = { "place_ms", NULL, BENCH_COL_NUM, 7, 2, NULL },
	[S_TARGET_MS] = { "target_ms", NULL, BENCH_COL_NUM, 8, 4, NULL },
	[S_FACTOR] = { "target_factor", NULL, BENCH_COL_NUM, 4, 1, NULL },
	[S_MJ] = { "mj_per_token", NULL, BENCH_COL_NUM, 8, 4, NULL },
	[S_MAKESPAN_MS] = { "ms_per_token", NULL, BENCH_COL_NUM, 8, 4, NULL },
	[S_PEAK_W] = { "peak_w", NULL, BENCH_COL_NUM, 6, 3, NULL },
	[S_TPJ] = { "tokens_per_j", NULL, BENCH_COL_NUM, 7, 1, NULL },
	[S_FAST_MJ] = { "fastest_at_max_clocks_mj", NULL, BENCH_COL_NUM, 8, 4, NULL },
	[S_SAVE_PCT] = { "saved_vs_fastest_pct", NULL, BENCH_COL_NUM, 6, 2, NULL },
	[S_MAXCLK_MJ] = { "same_at_max_clocks_mj", NULL, BENCH_COL_NUM, 8, 4, NULL },
	[S_DVFS_PCT] = { "saved_by_dvfs_pct", NULL, BENCH_COL_NUM, 6, 2, NULL },
};

/* The machine-readable report, NULL for people: then the prose goes to stdout. */
static struct bench_report *rep;
static const char *cur_profile;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prose: stdout for people; stderr beside a CSV, JSON or Markdown report. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(rep ? stderr : stdout, fmt, ap);
	va_end(ap);
}

/* A row of section for the current profile, its other cells set by the caller first. */
static void sched_row(const char *section, const char *name)
{
	bench_report_str(rep, S_SECTION, section);
	bench_report_str(rep, S_PROFILE, cur_profile);
	bench_report_str(rep, S_NAME, name);
	bench_report_row(rep);
}


/* Quality of one partitioner variant against the optimum over the DAGs. */
struct quality {
	double sum, worst, time_s;
	uint32_t at_opt;
};

static void quality_add(struct quality *q, double got, double opt)
{
	double x = got / opt - 1;

	if (fabs(x) < 1e-9)
		x = 0; /* the same schedule, summed in another order */

	q->sum += x;
	q->worst = fmax(q->worst, x);
	q->at_opt += x < 1e-6;
}

static void quality_line(const char *what, const struct quality *q, uint32_t proven,
			 uint32_t count, bool verdict)
{
	if (rep) {
		const bool met = q->sum / proven <= 0.05 && q->worst <= 0.05;
		char name[48];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(what, ":"), what);
		bench_report_num(rep, S_MEAN, 100 * q->sum / proven);
		bench_report_num(rep, S_WORST, 100 * q->worst);
		bench_report_int(rep, S_OPTIMAL, q->at_opt);
		bench_report_int(rep, S_PROVEN, proven);
		if (q->time_s > 0)
			bench_report_num(rep, S_MS_DAG, 1e3 * q->time_s / count);
		if (verdict)
			bench_report_str(rep, S_TARGET_MET, met ? "yes" : "no");
		sched_row("optimum", name);
		return;
	}
	say("  %-30s mean %+6.2f %%  worst %+6.2f %% above the optimum; optimal on %3u of %u",
	       what, 100 * q->sum / proven, 100 * q->worst, q->at_opt, proven);
	if (q->time_s > 0)
		say("; %.2f ms/DAG", 1e3 * q->time_s / count);
	if (verdict)
		say(" (target <= 5 %%: %s)",
		       q->sum / proven <= 0.05 && q->worst <= 0.05 ? "met" : "NOT met");
	say("\n");
}

/*
 * The partitioner against the exact optimum. Like with like: the exhaustive optimum is the
 * contention-free makespan at the top clocks without a power budget, so the partitioner runs
 * with the same options (latency objective, no contention, no budget) and its plan is
 * simulated the same way. Local search alone and local search + the exact step on small
 * graphs are both measured, the figures that justify running the exact step.
 */
static int bench_small(const struct sched_profile *p, uint32_t count, uint64_t seed)
{
	struct quality heft = { 0 }, ls = { 0 }, full = { 0 };
	uint32_t proven = 0, kept = 0;
	double t_exact = 0;
	struct sched_profile nob = *p;

	nob.budget_w = 0; /* no power budget: the comparison is about latency */
	nob.thermal_r_kw = 0;
	say("\n== random DAGs of 4..10 ops on '%s' (%u devices): modeled makespan against the "
	       "exact optimum\n   (like with like: both contention-free, top clocks, no power "
	       "budget)\n",
	       p->name, p->n_dev);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t n = 4 + (uint32_t)(rnd(&seed) % 7);
		struct sched_dag d;
		struct sched_plan pl;
		struct sched_part_stats ps;
		struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true };
		struct sched_sim_result r;
		struct sched_sim_options so = { 0 };
		double span[2];
		char err[256] = "out of memory";

		if (bench_random_dag(&seed, n, &d) || sched_plan_alloc(&pl, n)) {
			fprintf(stderr, "npu-bench sched: out of memory\n");
			return 1;
		}
		for (int exact = 0; exact < 2; exact++) {
			o.local_only = !exact;
			double t0 = bench_now_s();
			if (sched_partition(&nob, &d, &o, &pl, &ps, err, sizeof(err))) {
				fprintf(stderr, "npu-bench sched: %s\n", err);
				sched_dag_free(&d);
				sched_plan_free(&pl);
				return 1;
			}
			(exact ? &full : &ls)->time_s += bench_now_s() - t0;
			sched_simulate(&nob, &d, &pl, &so, &r);
			span[exact] = r.makespan_s;
		}
		kept += ps.exact_kept;
		double t0 = bench_now_s();
		double opt = sched_exhaustive(&nob, &d, fmin(span[0], span[1]), 50000000, NULL);
		t_exact += bench_now_s() - t0;
		if (opt > 0) {
			proven++;
			quality_add(&heft, ps.heft_makespan_s, opt);
			quality_add(&ls, span[0], opt);
			quality_add(&full, span[1], opt);
		}
		sched_dag_free(&d);
		sched_plan_free(&pl);
	}
	say("  %u DAGs, optimum proven on %u (branch and bound over assignments and orders, "
	       "%.2f ms/DAG)\n",
	       count, proven, 1e3 * t_exact / count);
	if (!proven)
		return 0;
	quality_line("HEFT alone:", &heft, proven, count, false);
	quality_line("local search + kicks alone:", &ls, proven, count, true);
	quality_line("local search + exact step:", &full, proven, count, true);
	say("  (by default graphs of <= %u ops get the exact search, within %u nodes, seeded "
	       "with the local\n   search's plan, instead of its kicks, which larger graphs of <= "
	       "%u ops get; it improved on\n   the local search for %u DAGs; times measured)\n",
	       SCHED_PART_EXACT_N, (unsigned)SCHED_PART_EXACT_NODES, SCHED_PART_PAIR_N, kept);
	return 0;
}

static void count_line(const struct sched_profile *p, const struct sched_dag *d,
		       const struct sched_plan *pl)
{
	for (uint32_t k = 0; k < p->n_dev; k++) {
		uint32_t c[HAL_OP_COUNT] = { 0 }, tot = 0;
		for (uint32_t v = 0; v < d->n; v++)
			if (pl->dev[v] == k) {
				c[d->nodes[v].kind]++;
				tot++;
			}
		if (!tot)
			continue;
		say("      %-10s %3u ops:", p->dev[k].name, tot);
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if (c[op])
				say(" %s %u", hal_op_name((enum hal_op_kind)op), c[op]);
		say("  (opp %.0f MHz)\n", p->dev[k].opp[pl->opp[k]].freq_hz / 1e6);
	}
}

static int bench_model(const struct sched_profile *p, const char *name,
		       const struct sched_hparams *hp, enum hal_type type, uint32_t n_tokens,
		       uint32_t ctx, bool verbose)
{
	struct sched_dag d;
	struct sched_plan pl, heft, base;
	struct sched_part_stats ps;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .contention = true,
					.improve = true };
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r, rh, rc, rn;
	char err[256] = "out of memory";

	if (bench_model_dag(hp, type, n_tokens, ctx, &d, err, sizeof(err))) {
		fprintf(stderr, "npu-bench sched: %s\n", err);
		return 1;
	}
	if (sched_plan_alloc(&pl, d.n) || sched_plan_alloc(&heft, d.n) ||
	    sched_plan_alloc(&base, d.n)) {
		fprintf(stderr, "npu-bench sched: out of memory\n");
		return 1;
	}
	/* latency without a budget first: the comparison with HEFT, which has none */
	struct sched_profile nob = *p;
	nob.budget_w = 0;
	nob.thermal_r_kw = 0;
	double t0 = bench_now_s();
	if (sched_partition(&nob, &d, &o, &pl, &ps, err, sizeof(err))) {
		fprintf(stderr, "npu-bench sched: %s\n", err);
		return 1;
	}
	double t_part = bench_now_s() - t0;
	sched_simulate(p, &d, &pl, &so, &r);
	o.improve = false;
	sched_partition(&nob, &d, &o, &heft, NULL, err, sizeof(err));
	sched_simulate(p, &d, &heft, &so, &rh);
	uint32_t cpu = 0, npu = UINT32_MAX;
	for (uint32_t k = p->n_dev; k-- > 0;) {
		if (p->dev[k].cls == HAL_CLASS_CPU && p->dev[k].op_mask == (1u << HAL_OP_COUNT) - 1)
			cpu = k;
		if (p->dev[k].cls == HAL_CLASS_NPU)
			npu = k;
	}
	sched_plan_all_on(p, &d, cpu, &base);
	sched_simulate(p, &d, &base, &so, &rc);
	if (npu != UINT32_MAX) {
		sched_plan_all_on(p, &d, npu, &base);
		sched_simulate(p, &d, &base, &so, &rn);
	}
	if (rep) {
		bench_report_int(rep, S_TOKENS, n_tokens);
		bench_report_int(rep, S_OPS, d.n);
		bench_report_num(rep, S_PART_MS, 1e3 * r.makespan_s);
		bench_report_num(rep, S_HEFT_MS, 1e3 * rh.makespan_s);
		bench_report_num(rep, S_HEFT_PCT, 100 * (rh.makespan_s / r.makespan_s - 1));
		bench_report_num(rep, S_CPU_MS, 1e3 * rc.makespan_s);
		if (npu != UINT32_MAX)
			bench_report_num(rep, S_NPU_MS, 1e3 * rn.makespan_s);
		bench_report_int(rep, S_CROSS, r.crossings);
		bench_report_num(rep, S_COPIED, r.bytes_copied);
		bench_report_num(rep, S_PLACE_MS, 1e3 * t_part);
		sched_row("latency", name);
		verbose = false; /* the placements' detail is prose */
	} else
	say("  %-20s %4u tok %3u ops | partitioner %9.3f ms | HEFT %9.3f (%+.1f %%) | "
	       "all-%s %9.3f | all-npu+fb %9.3f | %u crossings, %.0f B copied | %.1f ms to place\n",
	       name, n_tokens, d.n, 1e3 * r.makespan_s, 1e3 * rh.makespan_s,
	       100 * (rh.makespan_s / r.makespan_s - 1), p->dev[cpu].name, 1e3 * rc.makespan_s,
	       npu != UINT32_MAX ? 1e3 * rn.makespan_s : NAN, r.crossings, r.bytes_copied,
	       1e3 * t_part);
	if (verbose) {
		say("      fastest placement: %.2f W average, %.2f W peak\n", r.avg_w, r.peak_w);
		count_line(p, &d, &pl);
		/* the same under the profile's budget (the supply's, or the sustained power) */
		struct sched_sim_result rb;
		const double budget = sched_power_budget(p, &o);
		o.improve = true;
		if (!sched_partition(p, &d, &o, &pl, NULL, err, sizeof(err))) {
			sched_simulate(p, &d, &pl, &so, &rb);
			say("      under the %.3g W budget: %.3f ms, %.3f W average (%s)\n",
			       budget, 1e3 * rb.makespan_s, rb.avg_w,
			       rb.avg_w <= budget * 1.0001 ? "fits" : "over");
			count_line(p, &d, &pl);
		}
	}
	sched_plan_free(&pl);
	sched_plan_free(&heft);
	sched_plan_free(&base);
	sched_dag_free(&d);
	return 0;
}

/*
 * The power manager (energy-objective placement and clocks) against every device at its top
 * OPP, at the same latency target (the token period). Two baselines: the latency-optimal
 * placement at the top clocks (what runs without energy management: the target is judged
 * against it) and the power manager's own placement at the top clocks (DVFS and suspend
 * alone). The memory traffic's energy is the same in all three and no clock removes it, so it
 * bounds what the second comparison can show; it is printed beside it.
 */
static int bench_power(const struct sched_profile *p, const char *name,
		       const struct sched_hparams *hp, enum hal_type type, uint32_t ctx)
{
	struct sched_dag d;
	struct sched_plan pl, fast;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .contention = true,
					.improve = true };
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r, rmax, rpm, rfast;
	char err[256] = "out of memory";

	if (bench_model_dag(hp, type, 1, ctx, &d, err, sizeof(err)) || sched_plan_alloc(&pl, d.n) ||
	    sched_plan_alloc(&fast, d.n)) {
		fprintf(stderr, "npu-bench sched: %s\n", err);
		return 1;
	}
	struct sched_profile nob = *p;
	nob.budget_w = 0; /* the fastest placement defines what targets are reachable */
	nob.thermal_r_kw = 0;
	if (sched_partition(&nob, &d, &o, &fast, NULL, err, sizeof(err))) {
		fprintf(stderr, "npu-bench sched: %s\n", err);
		return 1;
	}
	sched_simulate(p, &d, &fast, &so, &r);
	const double fastest = r.makespan_s;
	double bytes = 0;
	for (uint32_t v = 0; v < d.n; v++)
		bytes += d.nodes[v].bytes;
	const double e_mem = bytes * p->dram_j_per_byte;
	say("\n== power manager, %s decode (ctx %u) on '%s': energy per token at a latency "
	       "target, modeled\n   fastest placement: %.3f ms/token at the top clocks; memory "
	       "traffic %.1f MB/token = %.3f mJ/token\n   (%.0f pJ/byte) in every plan below\n",
	       name, ctx, p->name, 1e3 * fastest, bytes / 1e6, 1e3 * e_mem,
	       1e12 * p->dram_j_per_byte);
	static const double factors[] = { 1.1, 1.5, 2.0, 4.0 };
	for (size_t i = 0; i < sizeof(factors) / sizeof(factors[0]); i++) {
		double target = fastest * factors[i];
		o.objective = SCHED_MIN_ENERGY;
		o.latency_target_s = target;
		/* energy-optimal placement and clocks for this target */
		if (sched_partition(p, &d, &o, &pl, NULL, err, sizeof(err))) {
			fprintf(stderr, "npu-bench sched: %s\n", err);
			return 1;
		}
		so.period_s = target;
		sched_simulate(p, &d, &pl, &so, &rpm);
		sched_simulate(p, &d, &fast, &so, &rfast);
		uint32_t keep[SCHED_MAX_DEVS];
		memcpy(keep, pl.opp, sizeof(keep));
		sched_power_max(p, NULL, &pl);
		sched_simulate(p, &d, &pl, &so, &rmax);
		double save = 1 - rpm.energy_j / rfast.energy_j, dvfs = 1 - rpm.energy_j / rmax.energy_j;
		if (rep) {
			bench_report_num(rep, S_TARGET_MS, 1e3 * target);
			bench_report_num(rep, S_FACTOR, factors[i]);
			bench_report_num(rep, S_MJ, 1e3 * rpm.energy_j);
			bench_report_num(rep, S_MAKESPAN_MS, 1e3 * rpm.makespan_s);
			bench_report_str(rep, S_TARGET_MET,
					 rpm.makespan_s <= target * (1 + 1e-9) ? "yes" : "no");
			bench_report_num(rep, S_PEAK_W, rpm.peak_w);
			bench_report_num(rep, S_TPJ, 1 / rpm.energy_j);
			bench_report_num(rep, S_FAST_MJ, 1e3 * rfast.energy_j);
			bench_report_num(rep, S_SAVE_PCT, 100 * save);
			bench_report_num(rep, S_MAXCLK_MJ, 1e3 * rmax.energy_j);
			bench_report_num(rep, S_DVFS_PCT, 100 * dvfs);
			sched_row("power", name);
		}
		say("   target %7.3f ms (%.1fx): power manager %7.3f mJ/token (%.3f ms: %s, peak "
		       "%.2f W, %.1f tokens/J)\n",
		       1e3 * target, factors[i], 1e3 * rpm.energy_j, 1e3 * rpm.makespan_s,
		       rpm.makespan_s <= target * (1 + 1e-9) ? "meets it" : "MISSES it", rpm.peak_w,
		       1 / rpm.energy_j);
		say("      vs all at max clocks, fastest placement %7.3f mJ/token: %4.1f %% less "
		       "(target 30 %%: %s)\n",
		       1e3 * rfast.energy_j, 100 * save, save >= 0.30 ? "met" : "NOT met");
		say("      vs all at max clocks, same placement    %7.3f mJ/token: %4.1f %% less "
		       "(DVFS and suspend alone; at most %.1f %% if compute cost nothing)\n",
		       1e3 * rmax.energy_j, 100 * dvfs, 100 * (1 - e_mem / rmax.energy_j));
		say("      clocks:");
		for (uint32_t k = 0; k < p->n_dev; k++)
			say(" %s %.0f MHz%s", p->dev[k].name, p->dev[k].opp[keep[k]].freq_hz / 1e6,
			       rpm.dev_ops[k] ? "" : " (unused, suspended)");
		say("\n");
		memcpy(pl.opp, keep, sizeof(keep));
	}
	sched_plan_free(&pl);
	sched_plan_free(&fast);
	sched_dag_free(&d);
	return 0;
}

/* --dags: enough for any comparison, few enough to end (each is an exhaustive search) */
#define SCHED_MAX_DAGS 100000u

int bench_sched_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'P' },
		{ "dags", required_argument, NULL, 'D' },
		{ "seed", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *profiles[8] = { 0 };
	uint32_t n_prof = 0, dags = 200;
	uint64_t seed = 42, n;
	static struct bench_report report;
	enum bench_format fmt = BENCH_FMT_TEXT;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'P': {
			/* found now: a wrong name is refused before any section is run */
			struct sched_profile p;
			char err[512];

			if (n_prof == 8) {
				fprintf(stderr, "npu-bench sched: --profile: at most 8\n");
				return 2;
			}
			if (sched_profile_find(optarg, &p, err, sizeof(err))) {
				fprintf(stderr, "npu-bench sched: --profile '%s': %s\n", optarg, err);
				return 2;
			}
			profiles[n_prof++] = optarg;
			break;
		}
		case 'D':
			if (bench_parse_u64(optarg, SCHED_MAX_DAGS, &n)) {
				fprintf(stderr, "npu-bench sched: --dags '%s': a number of graphs from "
					"0 to %u\n", optarg, SCHED_MAX_DAGS);
				return 2;
			}
			dags = (uint32_t)n;
			break;
		case 'S':
			if (bench_parse_u64(optarg, UINT64_MAX, &seed)) {
				fprintf(stderr, "npu-bench sched: --seed '%s': a number from 0 to "
					"%llu\n", optarg, (unsigned long long)UINT64_MAX);
				return 2;
			}
			break;
		case 'o':
			if (bench_format_parse(optarg, &fmt)) {
				fprintf(stderr, "npu-bench sched: -o '%s': text, csv, json or md\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: npu-bench sched [--profile NAME|FILE]... [--dags N] [--seed S] "
			       "[-o FMT]\n"
			       "Modeled comparisons of the partitioner and the power manager (profiles:\n"
			       "phone and mw by default; see sched/profiles/README.md).\n"
			       "  --profile P   a profile to compare on (name or .prof file; up to 8)\n"
			       "  --dags N      random small graphs compared with the exhaustive optimum\n"
			       "                (default 200; 0 skips that comparison; at most %u)\n"
			       "  --seed S      the random graphs' seed (default 42)\n"
			       "  -o, --output FMT  text (default: prose), csv, json or md (rows)\n",
			       SCHED_MAX_DAGS);
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npu-bench sched: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!n_prof) {
		profiles[n_prof++] = "phone";
		profiles[n_prof++] = "mw";
	}
	if (fmt != BENCH_FMT_TEXT) {
		bench_report_begin(&report, fmt, stdout, sched_cols, S_COUNT);
		rep = &report;
	}
	for (uint32_t i = 0; i < n_prof && !rc; i++) {
		struct sched_profile p;
		char err[512];

		if (sched_profile_find(profiles[i], &p, err, sizeof(err))) {
			fprintf(stderr, "npu-bench sched: %s\n", err);
			rc = 1;
			break;
		}
		cur_profile = p.name;
		say("\n######## profile '%s': %s\n", p.name, p.description);
		rc = dags ? bench_small(&p, dags, seed) : 0;
		if (!rc)
			say("\n== transformer graphs (contention on the shared memory), modeled "
			    "latency\n");
		for (size_t m = 0; m < sizeof(models) / sizeof(models[0]) && !rc; m++) {
			bool v = m == 1;
			rc = bench_model(&p, models[m].name, &models[m].hp, models[m].type, 1, 128, v) ||
			     bench_model(&p, models[m].name, &models[m].hp, models[m].type, 64, 64, v);
		}
		rc = rc ? rc : bench_power(&p, models[1].name, &models[1].hp, models[1].type, 128);
	}
	/* a document cut short by an error still parses: the rows so far, closed */
	if (rep)
		bench_report_end(rep);
	rep = NULL;
	return rc ? 1 : 0;
}
