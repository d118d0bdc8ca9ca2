/* SPDX-License-Identifier: MIT */
/*
 * spec_bench.c - `npu-bench spec`: speculative decoding's tokens/s against plain decoding,
 * drafting and verifying one after the other and overlapped (spec_overlap: the draft
 * pre-drafts the next block on its own thread while the model verifies).
 */
#include "bench/spec_bench.h"

#include "bench/measure.h"
#include "edge_npu.h"
#include "sched/cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tokens {
	enpu_token *t;
	uint32_t n, cap;
};

static bool keep(enpu_token token, const char *piece, size_t len, void *user)
{
	struct tokens *l = user;

	(void)piece;
	(void)len;
	if (l->n < l->cap)
		l->t[l->n++] = token;
	return true;
}

/* The prompt: o->prompt seeded tokens of the vocabulary. */
static int prompt_of(const struct bench_spec_options *o, uint32_t n_vocab, enpu_token *t)
{
	uint64_t seed = 4242;

	for (uint32_t k = 0; k < o->prompt; k++)
		t[k] = (enpu_token)(3 + bench_rng_next(&seed) % (n_vocab - 3));
	return 0;
}

/* One generation on s from an empty cache: the tokens into out, the decode tokens/s. */
static int generate(enpu_session *s, const enpu_token *prompt, const struct bench_spec_options *o,
		    struct tokens *out, double *tps)
{
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;

	greedy.ignore_eos = true;
	out->n = 0;
	if (enpu_session_reset(s) || enpu_session_eval(s, prompt, o->prompt) ||
	    enpu_generate(s, "", o->gen, &greedy, keep, out, &st))
		return -1;
	*tps = st.n_generated / ((double)st.generate_ns / 1e9);
	return 0;
}

/* Seconds of one evaluation of n tokens on s after its prompt (median of 5), rolled back. */
static double eval_time(enpu_session *s, const enpu_token *prompt, uint32_t n_prompt, uint32_t n)
{
	double t[5];
	enpu_token toks[17];

	for (uint32_t i = 0; i < n; i++)
		toks[i] = prompt[i % n_prompt];
	for (int r = -1; r < 5; r++) { /* the first builds the graph */
		if (enpu_session_truncate(s, n_prompt))
			return 0.0;
		const double t0 = bench_now_s();
		if (enpu_session_eval(s, toks, n))
			return 0.0;
		if (r >= 0)
			t[r] = bench_now_s() - t0;
	}
	return bench_median(t, 5);
}

enum { S_MODE, S_DRAFT, S_K, S_TPS, S_RATIO, S_ACCEPT, S_PER_VERIFY, S_OVERLAP, S_USED,
       S_SAME };

static const struct bench_col spec_cols[] = {
	[S_MODE] = { "mode", NULL, BENCH_COL_STR, 6, 0, NULL },
	[S_DRAFT] = { "draft", NULL, BENCH_COL_STR, 10, 0, NULL },
	[S_K] = { "k", NULL, BENCH_COL_STR, 8, 0, NULL },
	[S_TPS] = { "tps", "tokens/s", BENCH_COL_STAT, 16, 1, NULL },
	[S_RATIO] = { "vs_plain", "vs plain", BENCH_COL_STAT, 13, 2, "x" },
	[S_ACCEPT] = { "accept_pct", "accepted %", BENCH_COL_NUM, 10, 1, NULL },
	[S_PER_VERIFY] = { "accepted_per_verify", "per verify", BENCH_COL_NUM, 10, 2, NULL },
	/* overlapped: the share of verifying time the draft's thread was busy too, and the
	 * share of pre-drafted blocks the next verification used */
	[S_OVERLAP] = { "overlap_pct", "overlap %", BENCH_COL_NUM, 9, 1, NULL },
	[S_USED] = { "predraft_used_pct", "pre-used %", BENCH_COL_NUM, 10, 1, NULL },
	[S_SAME] = { "identical", NULL, BENCH_COL_STR, 9, 0, NULL },
};

struct run {
	enpu_model *m, *d;
	enpu_session *plain, *spec, *over;
	enpu_token *prompt;
	struct tokens a, b;
	double *tps_plain, *tps_spec, *ratio, *tps_over, *ratio_over;
	bool same;
};

/* Plain, speculative and overlapped back to back in each round; all must give plain's tokens. */
static int rounds(struct run *r, const struct bench_spec_options *o)
{
	r->same = true;
	for (uint32_t i = 0; i < o->reps; i++) {
		if (generate(r->plain, r->prompt, o, &r->a, &r->tps_plain[i]) ||
		    generate(r->spec, r->prompt, o, &r->b, &r->tps_spec[i]))
			return -1;
		r->ratio[i] = r->tps_spec[i] / r->tps_plain[i];
		r->same = r->same && r->a.n == r->b.n &&
			  !memcmp(r->a.t, r->b.t, sizeof(enpu_token) * r->a.n);
		if (generate(r->over, r->prompt, o, &r->b, &r->tps_over[i]))
			return -1;
		r->ratio_over[i] = r->tps_over[i] / r->tps_plain[i];
		r->same = r->same && r->a.n == r->b.n &&
			  !memcmp(r->a.t, r->b.t, sizeof(enpu_token) * r->a.n);
	}
	return 0;
}

/* A speculating session's row: its tokens/s, ratio to plain, acceptance (and overlap). */
static void spec_row(struct bench_report *rep, enpu_session *s, const char *mode,
		     const char *draft, const char *k, const double *tps, const double *ratio,
		     uint32_t reps, bool same)
{
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;

	enpu_session_spec_stats(s, &ss);
	bench_report_str(rep, S_MODE, mode);
	bench_report_str(rep, S_DRAFT, draft);
	bench_report_str(rep, S_K, k);
	bench_report_stat(rep, S_TPS, tps, reps);
	bench_report_stat(rep, S_RATIO, ratio, reps);
	bench_report_num(rep, S_ACCEPT, ss.drafted ? 100.0 * ss.accepted / ss.drafted : 0.0);
	bench_report_num(rep, S_PER_VERIFY,
			 ss.verifications ? (double)ss.accepted / ss.verifications : 0.0);
	if (ss.predrafted) {
		bench_report_num(rep, S_OVERLAP,
				 ss.verify_ms > 0 ? 100.0 * ss.overlap_ms / ss.verify_ms : 0.0);
		bench_report_num(rep, S_USED, 100.0 * ss.predraft_used / ss.predrafted);
	}
	bench_report_str(rep, S_SAME, same ? "yes" : "NO");
	bench_report_row(rep);
}

static void report(const struct run *r, const struct bench_spec_options *o, const char *draft)
{
	struct bench_report rep;
	char k[16];

	snprintf(k, sizeof(k), o->spec_k ? "%u" : "auto", o->spec_k);
	bench_report_begin(&rep, o->fmt, stdout, spec_cols, sizeof(spec_cols) / sizeof(spec_cols[0]));
	bench_report_str(&rep, S_MODE, "plain");
	bench_report_str(&rep, S_DRAFT, "-");
	bench_report_str(&rep, S_K, "-");
	bench_report_stat(&rep, S_TPS, r->tps_plain, o->reps);
	bench_report_row(&rep);
	spec_row(&rep, r->spec, "spec", draft, k, r->tps_spec, r->ratio, o->reps, r->same);
	spec_row(&rep, r->over, "overlap", draft, k, r->tps_over, r->ratio_over, o->reps, r->same);
	bench_report_end(&rep);
}

/*
 * The per-token acceptance over the whole run (each verification's accepted tokens, then a
 * rejection or the end of its block), not the session's estimate that weighs the last rounds.
 */
static double run_alpha(const struct enpu_spec_stats *ss)
{
	const double n = (double)ss->accepted + (double)ss->rejected;

	return n > 0 ? (double)ss->accepted / n : ss->alpha;
}

/*
 * The cost model's inputs measured apart (a decode step of each model, a batch of k + 1
 * tokens of the model) and its predicted speed-up at the measured acceptance, per k.
 */
static void model_note(struct run *r, const struct bench_spec_options *o)
{
	FILE *f = o->fmt == BENCH_FMT_TEXT ? stdout : stderr;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	enpu_session *d = NULL;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	so.n_ctx = o->prompt + 32;
	if (enpu_session_spec_stats(r->spec, &ss) || enpu_session_create(r->d, &so, &d) ||
	    enpu_session_reset(r->plain) || enpu_session_eval(r->plain, r->prompt, o->prompt) ||
	    enpu_session_eval(d, r->prompt, o->prompt)) {
		enpu_session_free(d);
		return;
	}
	const double alpha = run_alpha(&ss);
	const double t1 = eval_time(r->plain, r->prompt, o->prompt, 1);
	const double td = eval_time(d, r->prompt, o->prompt, 1);
	fprintf(f, "steps: model %.2f ms, draft %.2f ms (%.2f of the model's); per-token "
		"acceptance alpha %.3f (the run's: accepted / (accepted + rejections))\n",
		t1 * 1e3, td * 1e3, t1 > 0 ? td / t1 : 0.0, alpha);
	for (uint32_t k = 1; k <= 8; k *= 2) {
		const double tv = eval_time(r->plain, r->prompt, o->prompt, k + 1);
		const double row = tv > t1 ? (tv - t1) / k : 0.0;
		fprintf(f, "  k %u: a batch of %u tokens %.2f ms; modeled speed-up %.2fx one "
			"device after the other, %.2fx with draft and verifier overlapped on two\n",
			k, k + 1, tv * 1e3,
			sched_spec_speedup(alpha, k, 0, t1, td, row, false, NULL),
			sched_spec_speedup(alpha, k, 0, t1, td, row, true, NULL));
	}
	enpu_session_free(d);
}

/*
 * The modeled time (s) and energy (J) of one evaluation of n tokens of m, placed "auto" on
 * profile: a fresh session's first graph (n == 1: the decode graph), its schedule report.
 */
static int modeled(enpu_model *m, enpu_model *overlap_draft, const char *profile,
		   const enpu_token *prompt, uint32_t n_prompt, uint32_t n, double *t, double *e)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_schedule_report r = ENPU_SCHEDULE_REPORT_INIT;
	enpu_token toks[17];
	enpu_session *s = NULL;

	so.n_ctx = n + 1;
	so.placement = "auto";
	so.profile = profile;
	/* a verifier beside this draft, overlapped: placed without the draft's device class */
	so.draft = overlap_draft;
	so.spec_overlap = overlap_draft != NULL;
	for (uint32_t i = 0; i < n; i++)
		toks[i] = prompt[i % n_prompt];
	int rc = enpu_session_create(m, &so, &s) || enpu_session_eval(s, toks, n) ||
		 enpu_session_schedule_report(s, &r) || r.n_tokens != n ? -1 : 0;
	enpu_session_free(s);
	*t = r.modeled_ms / 1e3;
	*e = r.modeled_mj / 1e3;
	return rc;
}

/*
 * On the profile's silicon: plain decoding against speculation at the measured acceptance,
 * per k, from the placed graphs' simulated time and energy; the plan the cost model picks.
 */
static int model_profile(struct run *r, const struct bench_spec_options *o)
{
	FILE *f = o->fmt == BENCH_FMT_TEXT ? stdout : stderr;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	double t1, e1, td, ed;

	if (enpu_session_spec_stats(r->spec, &ss) ||
	    modeled(r->m, NULL, o->profile, r->prompt, o->prompt, 1, &t1, &e1) ||
	    modeled(r->d, NULL, o->profile, r->prompt, o->prompt, 1, &td, &ed))
		return -1;
	const double a = run_alpha(&ss);
	fprintf(f, "modeled on profile '%s' (each graph placed by the scheduler and simulated; "
		"alpha %.3f as measured): plain %.1f tokens/s, %.3f mJ/token; draft step %.3f ms, "
		"%.3f mJ\n", o->profile, a, 1.0 / t1, e1 * 1e3, td * 1e3, ed * 1e3);
	double best = 1.0;
	uint32_t best_k = 0;
	bool best_over = false;
	for (uint32_t k = 1; k <= 8; k *= 2) {
		double tv, ev, tvo, evo;
		if (modeled(r->m, NULL, o->profile, r->prompt, o->prompt, k + 1, &tv, &ev) ||
		    modeled(r->m, r->d, o->profile, r->prompt, o->prompt, k + 1, &tvo, &evo))
			return -1;
		const double row_o = tvo > t1 ? (tvo - t1) / k : 0.0;
		const double tokens = (1.0 - pow(a, k + 1)) / (1.0 - (a < 1.0 ? a : 0.999999));
		const double row = tv > t1 ? (tv - t1) / k : 0.0;
		const double gain = sched_spec_speedup(a, k, 0, t1, td, row, false, NULL);
		const double gain_o = sched_spec_speedup(a, k, 0, t1, td, row_o, true, NULL);
		fprintf(f, "  k %u: verify of %u tokens %.3f ms, %.3f mJ; speculation %.1f tokens/s "
			"(%.2fx), %.3f mJ/token (%.2fx plain's); overlapped (verify %.3f ms placed "
			"beside the draft's device) %.1f tokens/s (%.2fx)\n",
			k, k + 1, tv * 1e3, ev * 1e3, gain / t1, gain, (k * ed + ev) / tokens * 1e3,
			(k * ed + ev) / tokens / e1, tvo * 1e3, gain_o / t1, gain_o);
		if (gain > best || gain_o > best) {
			best_over = gain_o > gain;
			best = best_over ? gain_o : gain;
			best_k = k;
		}
	}
	if (best_k)
		fprintf(f, "  plan: speculate with k %u%s (modeled %.2fx)\n", best_k,
			best_over ? ", overlapped" : "", best);
	else
		fprintf(f, "  plan: decode plainly (no k wins at this acceptance)\n");
	return 0;
}

int bench_spec_main(const struct bench_spec_options *o)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	const char *type = o->draft_type ? o->draft_type : "q4_0";
	enpu_context *ctx = NULL;
	struct run r = { 0 };
	int rc = 1;

	co.device = o->device;
	co.n_threads = o->threads;
	if (enpu_context_create(&co, &ctx)) {
		fprintf(stderr, "npu-bench spec: %s\n", enpu_last_error(NULL));
		return 1;
	}
	if (enpu_model_load(ctx, o->model, NULL, &r.m) || enpu_model_info(r.m, &info) ||
	    (o->draft ? enpu_model_load(ctx, o->draft, NULL, &r.d)
		      : enpu_model_make_draft(r.m, type, &r.d))) {
		fprintf(stderr, "npu-bench spec: %s\n", enpu_last_error(ctx));
		goto out;
	}
	so.n_ctx = o->prompt + o->gen + 2;
	r.prompt = malloc(sizeof(enpu_token) * o->prompt);
	r.a = (struct tokens){ malloc(sizeof(enpu_token) * o->gen), 0, o->gen };
	r.b = (struct tokens){ malloc(sizeof(enpu_token) * o->gen), 0, o->gen };
	r.tps_plain = calloc(o->reps, sizeof(double));
	r.tps_spec = calloc(o->reps, sizeof(double));
	r.ratio = calloc(o->reps, sizeof(double));
	if (!r.prompt || !r.a.t || !r.b.t || !r.tps_plain || !r.tps_spec || !r.ratio ||
	    enpu_session_create(r.m, &so, &r.plain)) {
		fprintf(stderr, "npu-bench spec: out of memory\n");
		goto out;
	}
	so.draft = r.d;
	so.spec_k = o->spec_k;
	so.spec_fixed_k = o->spec_k > 0;
	r.tps_over = calloc(o->reps, sizeof(double));
	r.ratio_over = calloc(o->reps, sizeof(double));
	if (!r.tps_over || !r.ratio_over || enpu_session_create(r.m, &so, &r.spec)) {
		fprintf(stderr, "npu-bench spec: %s\n", enpu_last_error(ctx));
		goto out;
	}
	so.spec_overlap = true;
	if (enpu_session_create(r.m, &so, &r.over)) {
		fprintf(stderr, "npu-bench spec: %s\n", enpu_last_error(ctx));
		goto out;
	}
	prompt_of(o, info.n_vocab, r.prompt);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	fprintf(o->fmt == BENCH_FMT_TEXT ? stdout : stderr,
		"npu-bench spec: %s, device %s, %u threads, prompt %u, %u greedy tokens, draft %s, "
		"plain, speculative and overlapped back to back in each of %u rounds (mean ± "
		"stddev)\n",
		o->model, o->device ? o->device : "cpu",
		o->threads ? o->threads : (uint32_t)(online > 0 ? online : 1), o->prompt, o->gen,
		o->draft ? o->draft : type, o->reps);
	if (rounds(&r, o)) {
		fprintf(stderr, "npu-bench spec: %s\n", enpu_last_error(ctx));
		goto out;
	}
	report(&r, o, o->draft ? "file" : type);
	model_note(&r, o);
	rc = r.same ? 0 : 1;
	/* the profile was found before measuring (npu-bench.c); failing here is an error too */
	if (o->profile && model_profile(&r, o)) {
		fprintf(stderr, "npu-bench spec: profile '%s': %s\n", o->profile,
			enpu_last_error(ctx));
		rc = 1;
	}
	if (!r.same)
		fprintf(stderr, "npu-bench spec: greedy tokens with speculation differ from "
			"without\n");
out:
	enpu_session_free(r.over);
	enpu_session_free(r.spec);
	enpu_session_free(r.plain);
	enpu_model_free(r.d);
	enpu_model_free(r.m);
	enpu_context_destroy(ctx);
	free(r.prompt);
	free(r.a.t);
	free(r.b.t);
	free(r.tps_plain);
	free(r.tps_spec);
	free(r.ratio);
	free(r.tps_over);
	free(r.ratio_over);
	return rc;
}
