/* SPDX-License-Identifier: MIT */
/*
 * thermal_bench.c - `npu-bench thermal`: a long decode on a profile with a thermal path,
 * planned with and without the thermal budget, run through the die's thermal model and a
 * step-wise thermal governor, all in modeled time.
 *
 * Per plan: the decode step's DAG of the model's shape (one token at context --ctx), placed
 * by the partitioner and clocked by the power manager either within the power budget of the
 * supply alone (unaware: what the power manager did before it saw the thermal path) or within
 * the sustained power (aware: sched_power_sustain, which also paces the tokens when the
 * cheapest clocks draw too much at full rate). Tokens then run back to back for --seconds of
 * modeled time; each heats the die (kmod/silicon/npu_thermal.c, the NPU silicon's own RC
 * model, with the profile's R, C and ambient) with its modeled energy over its period, and
 * every 100 ms a step-wise governor (the kernel's default policy for the NPU's thermal zone)
 * moves a cooling state up while the die is at or above the passive trip and down once it is
 * 2 K below: state n caps every device n operating points below its top, as the devfreq
 * cooling device does. The "best sustainable" rate is the exhaustive search over the
 * placement's clock combinations of the fastest period whose average power fits the
 * sustained power. A third run, the unaware placement with every device at its top clock
 * (no power manager at all), shows what the governor's cap does to a plan that leaves it
 * something to cut. Every figure is MODELED.
 */
#include "thermal_bench.h"
#include "sched_bench.h"
#include "measure.h"

#include "edge_npu.h"
#include "kmod/silicon/npu_thermal.h"
#include "sched/partition.h"
#include "sched/power.h"
#include "sched/profile.h"
#include "sched/simulate.h"

#include "hal/files.h"
#include "hal/numbers.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_S 0.1		/* the governor's polling period (the zone's passive delay) */
#define HYST_C 2.0		/* the trip's hysteresis */

/* One plan's figures over the run. */
struct thermal_run {
	double tokens, energy_j, peak_c, throttled_s, end_c;
	uint32_t max_state;
};

/* A plan under each cooling state: the clocks capped, the period kept or the makespan's. */
struct capped {
	double period_s, energy_j, avg_w;
	uint32_t npu_mhz;
};

static uint32_t top_state(const struct sched_profile *p)
{
	uint32_t m = 0;

	for (uint32_t k = 0; k < p->n_dev; k++)
		if (p->dev[k].n_opp - 1 > m)
			m = p->dev[k].n_opp - 1;
	return m;
}

/* The plan's result with every device capped n OPPs below its top (state n). */
static struct capped cap_plan(const struct sched_profile *p, const struct sched_dag *d,
			      const struct sched_plan *pl, double period_s, uint32_t n)
{
	struct sched_plan c = *pl;
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r;
	uint32_t npu = UINT32_MAX;

	for (uint32_t k = 0; k < p->n_dev; k++) {
		uint32_t top = p->dev[k].n_opp - 1, cap = n > top ? 0 : top - n;
		if (c.opp[k] > cap)
			c.opp[k] = cap;
		if (p->dev[k].cls == HAL_CLASS_NPU)
			npu = k;
	}
	sched_simulate(p, d, &c, &so, &r);
	so.period_s = period_s > r.makespan_s ? period_s : 0;
	sched_simulate(p, d, &c, &so, &r);
	return (struct capped){ r.period_s, r.energy_j, r.avg_w,
				npu == UINT32_MAX ? 0 : (uint32_t)(p->dev[npu].opp[c.opp[npu]].freq_hz / 1e6) };
}

/* The die through the silicon's integer model: R in mK/W, C in nJ/K, time in ns. */
static void die_init(struct npu_thermal *t, const struct sched_profile *p)
{
	struct npu_thermal_params tp = {
		.r_mk_per_w = (uint32_t)lround(p->thermal_r_kw * 1e3),
		.c_nj_per_k = (uint32_t)fmin(lround(p->thermal_c_jk * 1e9), 4294967295.0),
		.ambient_mc = (int32_t)lround(p->ambient_c * 1e3),
	};

	npu_thermal_init(t, &tp);
}

static double die_c(const struct npu_thermal *t)
{
	return npu_thermal_temp_mc(t) / 1e3;
}

/* errno of the first failed write to the trace (0 while none): stdio forgets it */
static int trace_errno;

static struct thermal_run run_plan(const struct sched_profile *p, const struct capped *by_state,
				   uint32_t max_state, double seconds, const char *label, FILE *trace)
{
	struct thermal_run r = { 0 };
	struct npu_thermal die;
	uint32_t state = 0;
	double t = 0, next_poll = POLL_S, win_e = 0, win_t = 0;

	die_init(&die, p);
	r.peak_c = die_c(&die);
	while (t < seconds) {
		const struct capped *c = &by_state[state];
		npu_thermal_step(&die, (uint64_t)llround(c->period_s * 1e9),
				 (uint64_t)llround(c->energy_j * 1e15));
		t += c->period_s;
		r.tokens++;
		r.energy_j += c->energy_j;
		win_e += c->energy_j;
		win_t += c->period_s;
		if (state)
			r.throttled_s += c->period_s;
		if (die_c(&die) > r.peak_c)
			r.peak_c = die_c(&die);
		if (t < next_poll)
			continue;
		/* the governor's poll */
		double temp = die_c(&die);
		if (temp >= p->passive_c && state < max_state)
			state++;
		else if (temp < p->passive_c - HYST_C && state)
			state--;
		if (state > r.max_state)
			r.max_state = state;
		if (trace && fprintf(trace, "%s,%.3f,%.3f,%u,%u,%.4f\n", label, t, temp, state,
				     by_state[state].npu_mhz, win_e / win_t) < 0 && !trace_errno)
			trace_errno = errno ? errno : EIO;
		win_e = win_t = 0;
		while (next_poll <= t)
			next_poll += POLL_S;
	}
	r.end_c = die_c(&die);
	return r;
}

/* Exhaustive: the fastest period of the placement whose average power fits budget. */
static double best_sustainable_period(const struct sched_profile *p, const struct sched_dag *d,
				      const struct sched_plan *pl, double budget)
{
	struct sched_plan c = *pl;
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r;
	uint32_t idx[SCHED_MAX_DEVS] = { 0 };
	double best = INFINITY;

	for (;;) {
		memcpy(c.opp, idx, sizeof(idx));
		so.period_s = 0;
		sched_simulate(p, d, &c, &so, &r);
		double lo = r.makespan_s, hi = lo;
		if (r.avg_w > budget) {
			hi = 64 * lo;
			so.period_s = hi;
			sched_simulate(p, d, &c, &so, &r);
			if (r.avg_w > budget)
				hi = INFINITY;
			for (int i = 0; i < 30 && isfinite(hi) && hi - lo > 1e-5 * lo; i++) {
				so.period_s = 0.5 * (lo + hi);
				sched_simulate(p, d, &c, &so, &r);
				if (r.avg_w <= budget)
					hi = so.period_s;
				else
					lo = so.period_s;
			}
		}
		if (hi < best)
			best = hi;
		/* next combination of the devices' OPPs (odometer) */
		uint32_t k = 0;
		while (k < p->n_dev && ++idx[k] >= p->dev[k].n_opp)
			idx[k++] = 0;
		if (k == p->n_dev)
			break;
	}
	return best;
}

static enum hal_type type_of(const char *s)
{
	static const struct {
		const char *name;
		enum hal_type t;
	} types[] = {
		{ "F32", HAL_TYPE_F32 }, { "F16", HAL_TYPE_F16 }, { "Q8_0", HAL_TYPE_Q8_0 },
		{ "Q4_0", HAL_TYPE_Q4_0 }, { "Q4_K", HAL_TYPE_Q4_K }, { "Q5_K", HAL_TYPE_Q5_K },
		{ "Q6_K", HAL_TYPE_Q6_K },
	};

	for (size_t i = 0; s && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(s, types[i].name))
			return types[i].t;
	return HAL_TYPE_Q8_0;
}

/* The model's shape from its file (the weights are mapped, never computed on). */
static int model_shape(const char *path, struct sched_hparams *hp, enum hal_type *type,
		       char *name, size_t name_len)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	enpu_context *ctx = NULL;
	enpu_model *m = NULL;
	int rc = 1;

	co.devices = "cpu";
	if (enpu_context_create(&co, &ctx)) {
		fprintf(stderr, "npu-bench thermal: cannot create a context\n");
		return 1;
	}
	if (enpu_model_load(ctx, path, NULL, &m) || enpu_model_info(m, &info)) {
		fprintf(stderr, "npu-bench thermal: %s: %s\n", path, enpu_last_error(ctx));
	} else {
		*hp = (struct sched_hparams){
			.n_vocab = info.n_vocab, .n_embd = info.n_embd, .n_layer = info.n_layer,
			.n_head = info.n_head, .n_head_kv = info.n_head_kv, .n_ff = info.n_ff,
			.n_rot = info.n_head ? info.n_embd / info.n_head : 0,
			.rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f,
		};
		*type = type_of(info.weight_type);
		snprintf(name, name_len, "%s %s", info.name, info.weight_type);
		rc = 0;
	}
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	return rc;
}

static void print_run(const char *what, const struct thermal_run *r, double seconds,
		      double passive)
{
	printf("  %-8s %8.1f tokens/s  %7.3f mJ/token  peak %5.1f C (%s the %.0f C trip)  "
	       "throttled %5.1f s of %.0f (cooling state up to %u)\n",
	       what, r->tokens / seconds, 1e3 * r->energy_j / r->tokens, r->peak_c,
	       r->peak_c >= passive ? "crossed" : "under", passive, r->throttled_s, seconds,
	       r->max_state);
}

int bench_thermal_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "profile", required_argument, NULL, 'P' },
		{ "seconds", required_argument, NULL, 's' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "trace", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *model = NULL, *profile = "phone", *trace_path = NULL;
	double seconds = 60;
	uint32_t ctx = 128;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'P': profile = optarg; break;
		case 's':
			if (hal_parse_decimal(optarg, &seconds) ||
			    !(seconds > 0 && seconds <= 86400)) {
				fprintf(stderr, "npu-bench thermal: --seconds '%s': a duration in "
					"(0, 86400]\n", optarg);
				return 2;
			}
			break;
		case 'c': {
			uint64_t n;

			/* range-checked before it is narrowed: 2^32 + 1 is not 1 */
			if (bench_parse_u64(optarg, 1u << 20, &n) || !n) {
				fprintf(stderr, "npu-bench thermal: --ctx '%s': 1 to 1048576\n", optarg);
				return 2;
			}
			ctx = (uint32_t)n;
			break;
		}
		case 'T': trace_path = optarg; break;
		case 'h':
			printf("usage: npu-bench thermal -m MODEL [--profile NAME|FILE] [--seconds S] "
			       "[--ctx N] [--trace FILE.csv]\n"
			       "A modeled sustained decode of MODEL's shape on a profile with a thermal "
			       "path\n(phone by default), planned without and with the thermal budget.\n"
			       "  -m, --model FILE    the model whose shape is decoded (required)\n"
			       "  --profile P         a profile with a thermal path (default phone)\n"
			       "  -s, --seconds S     modeled seconds of decoding (default 60; at most "
			       "86400)\n"
			       "  --ctx N             the context each token attends to (default 128; "
			       "1..1048576)\n"
			       "  --trace FILE.csv    the governor's view every 100 ms, as CSV\n");
			return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npu-bench thermal: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!model) {
		fprintf(stderr, "npu-bench thermal: -m MODEL is required\n");
		return 2;
	}
	struct sched_profile p;
	struct sched_hparams hp;
	enum hal_type type;
	char err[512], name[128];

	if (sched_profile_find(profile, &p, err, sizeof(err))) {
		fprintf(stderr, "npu-bench thermal: --profile '%s': %s\n", profile, err);
		return 2;
	}
	const double sustained = sched_power_sustained_w(&p);
	if (!(sustained > 0)) {
		fprintf(stderr, "npu-bench thermal: profile '%s' has no thermal path (thermal_r_kw, "
			"thermal_c_jk, ambient_c, passive_c: sched/profiles/README.md)\n", p.name);
		return 1;
	}
	if (model_shape(model, &hp, &type, name, sizeof(name)))
		return 1;

	struct sched_dag d;
	struct sched_plan pl[3];
	struct sched_sim_result r[3];
	double period[3];
	struct capped *by_state[3] = { NULL, NULL, NULL };
	struct thermal_run run[3];
	static const char *const label[3] = { "unaware", "aware", "maxclk" };
	const uint32_t max_state = top_state(&p);
	FILE *trace = NULL;
	char *trace_tmp = NULL, terr[1200];
	int trace_fd = -1, rc = 1;

	if (bench_model_dag(&hp, type, 1, ctx, &d, err, sizeof(err))) {
		fprintf(stderr, "npu-bench thermal: %s\n", err);
		return 1;
	}
	if (sched_plan_alloc(&pl[0], d.n) || sched_plan_alloc(&pl[1], d.n) ||
	    sched_plan_alloc(&pl[2], d.n)) {
		fprintf(stderr, "npu-bench thermal: out of memory\n");
		goto out;
	}
	/*
	 * A temporary beside the trace, renamed once complete (hal/files.h): a symlink, FIFO or
	 * device there is refused without being opened, a failed run leaves no half file.
	 */
	if (trace_path) {
		trace_errno = 0;
		trace_tmp = malloc(HAL_FILE_TMP_LEN(trace_path));
		if (!trace_tmp) {
			fprintf(stderr, "npu-bench thermal: out of memory\n");
			goto out;
		}
		trace_fd = hal_file_create(trace_path, trace_tmp, HAL_FILE_TMP_LEN(trace_path), terr,
					   sizeof(terr));
		if (trace_fd < 0) {
			fprintf(stderr, "npu-bench thermal: cannot write the trace: %s\n", terr);
			goto out;
		}
		if (!(trace = fdopen(trace_fd, "w"))) {
			fprintf(stderr, "npu-bench thermal: cannot write the trace '%s': %s\n",
				trace_path, strerror(errno));
			hal_file_abandon(trace_fd, trace_tmp);
			goto out;
		}
	}
	if (trace && fprintf(trace, "plan,t_s,temp_c,cooling_state,npu_mhz,power_w\n") < 0 &&
	    !trace_errno)
		trace_errno = errno ? errno : EIO;
	for (int aware = 0; aware < 3; aware++) {
		struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .contention = true,
						.improve = true, .thermal_unaware = aware != 1 };
		struct sched_sim_options so = { .contention = true };
		if (aware == 2) { /* the unaware placement, every clock at the top */
			sched_plan_copy(&pl[2], &pl[0]);
			sched_power_max(&p, NULL, &pl[2]);
			sched_simulate(&p, &d, &pl[2], &so, &r[2]);
			period[2] = r[2].makespan_s;
		} else if (sched_partition(&p, &d, &o, &pl[aware], NULL, err, sizeof(err))) {
			fprintf(stderr, "npu-bench thermal: %s\n", err);
			goto out;
		} else {
			period[aware] = sched_power_sustain(&p, &d, &o, &pl[aware], &r[aware]);
		}
		by_state[aware] = calloc(max_state + 1, sizeof(struct capped));
		if (!by_state[aware]) {
			fprintf(stderr, "npu-bench thermal: out of memory\n");
			goto out;
		}
		for (uint32_t s = 0; s <= max_state; s++)
			by_state[aware][s] = cap_plan(&p, &d, &pl[aware], period[aware], s);
		run[aware] = run_plan(&p, by_state[aware], max_state, seconds, label[aware], trace);
	}
	double best = best_sustainable_period(&p, &d, &pl[1], sustained);

	printf("== thermal: %s decode (ctx %u) on '%s', %.0f s modeled\n", name, ctx, p.name,
	       seconds);
	printf("   die: R %.3g K/W, C %.3g J/K (tau %.1f s), ambient %.1f C, passive trip %.1f C: "
	       "sustained %.3f W; supply budget %.3g W\n",
	       p.thermal_r_kw, p.thermal_c_jk, p.thermal_r_kw * p.thermal_c_jk, p.ambient_c,
	       p.passive_c, sustained, p.budget_w);
	for (int aware = 0; aware < 3; aware++) {
		printf("   %-7s plan: %.3f ms/token at full rate, period %.3f ms, %.3f W average;"
		       " clocks", label[aware], 1e3 * r[aware].makespan_s,
		       1e3 * period[aware], by_state[aware][0].avg_w);
		for (uint32_t k = 0; k < p.n_dev; k++)
			if (r[aware].dev_ops[k])
				printf(" %s %.0f", p.dev[k].name,
				       p.dev[k].opp[pl[aware].opp[k]].freq_hz / 1e6);
		printf(" MHz\n");
	}
	print_run("unaware", &run[0], seconds, p.passive_c);
	print_run("aware", &run[1], seconds, p.passive_c);
	print_run("maxclk", &run[2], seconds, p.passive_c);
	double ratio = (run[1].tokens / seconds) * best;
	printf("  best sustainable (exhaustive over the clocks of that placement): %.1f tokens/s;"
	       " aware at %.1f %% of it (target >= 90 %%: %s)\n", 1 / best, 100 * ratio,
	       ratio >= 0.9 ? "met" : "NOT met");
	if (trace_path)
		printf("  trace (every %.0f ms: plan, time, temperature, cooling state, NPU clock, "
		       "power): %s\n", POLL_S * 1e3, trace_path);
	rc = 0;
out:
	if (trace) {
		int e = trace_errno;

		if (!e && (fflush(trace) || fsync(trace_fd)))
			e = errno;
		if (fclose(trace) && !e)
			e = errno;
		if (rc || e)
			hal_file_discard(trace_tmp);
		if (e) {
			fprintf(stderr, "npu-bench thermal: writing the trace '%s' failed: %s\n",
				trace_path, strerror(e));
			rc = 1;
		} else if (!rc && hal_file_publish(trace_tmp, trace_path, terr, sizeof(terr))) {
			fprintf(stderr, "npu-bench thermal: %s\n", terr);
			rc = 1;
		}
	}
	free(trace_tmp);
	for (int i = 0; i < 3; i++) {
		free(by_state[i]);
		sched_plan_free(&pl[i]);
	}
	sched_dag_free(&d);
	return rc;
}
