/* SPDX-License-Identifier: MIT */
/* batch_bench.c - `npu-bench batch`: batched decoding's aggregate tokens/s against one session. */
#include "bench/batch_bench.h"

#include "bench/measure.h"
#include "edge_npu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_batch_set_sizes(const uint32_t *v, uint32_t n, struct bench_batch_options *o)
{
	o->n_sizes = 1;
	o->sizes[0] = 1;
	if (!n)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (v[i] < 1 || v[i] > ENPU_EVAL_MANY_MAX)
			return -1;
		if (v[i] > 1 && o->n_sizes == BENCH_BATCH_MAX_SIZES)
			return -1;
		if (v[i] > 1)
			o->sizes[o->n_sizes++] = v[i];
	}
	return 0;
}

/* What one size needs: its sessions and this round's measurements. */
struct size_run {
	uint32_t n;
	enpu_session *s[ENPU_EVAL_MANY_MAX];
	enpu_token tok[ENPU_EVAL_MANY_MAX];
	double *tps; /* per round */
	double *blocking_tps; /* --jobs, one session: enpu_generate's, per round */
};

/* Session i's prompt: prompt tokens of its own (so that the sessions differ). */
static int prefill(enpu_session *s, const struct bench_batch_options *o, uint32_t i,
		   uint32_t n_vocab)
{
	enpu_token *t = malloc(sizeof(*t) * o->prompt);
	uint64_t seed = 1000 + i;
	int rc;

	if (!t)
		return -1;
	for (uint32_t k = 0; k < o->prompt; k++)
		t[k] = (enpu_token)(3 + bench_rng_next(&seed) % (n_vocab - 3));
	rc = enpu_session_reset(s) || enpu_session_eval(s, t, o->prompt) ? -1 : 0;
	free(t);
	return rc;
}

/* One step of every session of r: a greedy pick each, then one batched evaluation. */
static int decode_step(struct size_run *r)
{
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;

	for (uint32_t i = 0; i < r->n; i++)
		if (enpu_sample(r->s[i], &greedy, NULL, &r->tok[i]))
			return -1;
	return enpu_session_eval_many(r->s, r->tok, r->n) ? -1 : 0;
}

/* `steps` tokens of every session of r as generate jobs submitted at once, until all end. */
static int job_steps(struct size_run *r, const struct bench_batch_options *o)
{
	enpu_job *j[ENPU_EVAL_MANY_MAX] = { NULL };
	int rc = 0;

	for (uint32_t i = 0; i < r->n && !rc; i++) {
		struct enpu_job_options jo = ENPU_JOB_OPTIONS_INIT;

		jo.kind = ENPU_JOB_GENERATE;
		jo.prompt = ""; /* continue from the prefill */
		jo.n_predict = o->steps;
		rc = enpu_job_submit(r->s[i], &jo, &j[i]) ? -1 : 0;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		struct enpu_job_result res = ENPU_JOB_RESULT_INIT;

		if (j[i] && (enpu_job_wait(j[i], -1) || enpu_job_result(j[i], &res) || res.status))
			rc = -1;
		enpu_job_free(j[i]);
	}
	return rc;
}

/* The blocking call for one session, the same work as job_steps: the async overhead's base. */
static int blocking_steps(struct size_run *r, const struct bench_batch_options *o)
{
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;

	return enpu_generate(r->s[0], "", o->steps, &greedy, NULL, NULL, NULL) ? -1 : 0;
}

/* Round `round` of size r: prefill, one untimed step (the graph is built), the timed steps. */
static int measure(struct size_run *r, const struct bench_batch_options *o, uint32_t round,
		   uint32_t n_vocab)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (prefill(r->s[i], o, i, n_vocab))
			return -1;
	if (decode_step(r))
		return -1;
	const double t0 = bench_now_s();
	for (uint32_t k = 0; k < o->steps && !o->jobs; k++)
		if (decode_step(r))
			return -1;
	if (o->jobs && job_steps(r, o))
		return -1;
	r->tps[round] = (double)r->n * o->steps / (bench_now_s() - t0);
	if (o->jobs && r->n == 1) { /* the same again, blocking */
		if (prefill(r->s[0], o, 0, n_vocab) || decode_step(r))
			return -1;
		const double t1 = bench_now_s();
		if (blocking_steps(r, o))
			return -1;
		r->blocking_tps[round] = (double)o->steps / (bench_now_s() - t1);
	}
	return 0;
}

enum { B_SESSIONS, B_DEVICE, B_THREADS, B_TPS, B_RATIO, B_ASYNC };

static const struct bench_col batch_cols[] = {
	[B_SESSIONS] = { "sessions", NULL, BENCH_COL_INT, 9, 0, NULL },
	[B_DEVICE] = { "device", NULL, BENCH_COL_STR, 7, 0, NULL },
	[B_THREADS] = { "threads", NULL, BENCH_COL_INT, 7, 0, NULL },
	[B_TPS] = { "tps", "tokens/s", BENCH_COL_STAT, 18, 1, NULL },
	[B_RATIO] = { "vs_one", "vs one", BENCH_COL_STAT, 14, 2, "x" },
	[B_ASYNC] = { "async_overhead_pct", "async overhead %", BENCH_COL_STAT, 16, 1, NULL },
};

/*
 * A row per size: tokens/s and the ratio to one session round by round (a round measures the
 * sizes back to back, so its ratio sees one load of a shared machine where the sizes' means
 * may come from different minutes). With --jobs, one session's row also has the async
 * overhead: the blocking enpu_generate's tokens/s against the jobs', per round.
 */
static void report(const struct size_run *runs, const struct bench_batch_options *o,
		   uint32_t threads, double *tmp)
{
	struct bench_report rep;

	bench_report_begin(&rep, o->fmt, stdout, batch_cols, o->jobs ? 6 : 5);
	for (uint32_t k = 0; k < o->n_sizes; k++) {
		bench_report_int(&rep, B_SESSIONS, runs[k].n);
		bench_report_str(&rep, B_DEVICE, o->device ? o->device : "cpu");
		bench_report_int(&rep, B_THREADS, threads);
		bench_report_stat(&rep, B_TPS, runs[k].tps, o->reps);
		for (uint32_t r = 0; r < o->reps; r++)
			tmp[r] = runs[k].tps[r] / runs[0].tps[r];
		bench_report_stat(&rep, B_RATIO, tmp, o->reps);
		if (o->jobs && k == 0) {
			for (uint32_t r = 0; r < o->reps; r++)
				tmp[r] = 100.0 * (runs[0].blocking_tps[r] / runs[0].tps[r] - 1.0);
			bench_report_stat(&rep, B_ASYNC, tmp, o->reps);
		}
		bench_report_row(&rep);
	}
	bench_report_end(&rep);
}

/* Sessions for every size, then the rounds, sizes interleaved within each. */
static int run_all(enpu_model *m, struct size_run *runs, const struct bench_batch_options *o,
		   uint32_t n_vocab, uint32_t threads)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	so.n_ctx = o->prompt + o->steps + 2;
	for (uint32_t k = 0; k < o->n_sizes; k++) {
		runs[k].n = o->sizes[k];
		runs[k].tps = calloc(o->reps, sizeof(double));
		runs[k].blocking_tps = calloc(o->reps, sizeof(double));
		if (!runs[k].tps || !runs[k].blocking_tps)
			return -1;
		for (uint32_t i = 0; i < runs[k].n; i++)
			if (enpu_session_create(m, &so, &runs[k].s[i]))
				return -1;
	}
	for (uint32_t r = 0; r < o->reps; r++)
		for (uint32_t k = 0; k < o->n_sizes; k++)
			if (measure(&runs[k], o, r, n_vocab))
				return -1;
	double *tmp = calloc(o->reps, sizeof(double));
	if (!tmp)
		return -1;
	report(runs, o, threads, tmp);
	free(tmp);
	return 0;
}

int bench_batch_main(const struct bench_batch_options *o)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	struct size_run runs[BENCH_BATCH_MAX_SIZES] = { 0 };
	enpu_context *ctx = NULL;
	enpu_model *m = NULL;
	int rc = 1;

	co.device = o->device;
	co.n_threads = o->threads;
	if (enpu_context_create(&co, &ctx)) {
		fprintf(stderr, "npu-bench batch: %s\n", enpu_last_error(NULL));
		return 1;
	}
	if (enpu_model_load(ctx, o->model, NULL, &m) || enpu_model_info(m, &info)) {
		fprintf(stderr, "npu-bench batch: %s: %s\n", o->model, enpu_last_error(ctx));
		goto out;
	}
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	const uint32_t threads = o->threads ? o->threads : (uint32_t)(online > 0 ? online : 1);
	/* prose beside the text table; on stderr when stdout is CSV, JSON or Markdown */
	fprintf(o->fmt == BENCH_FMT_TEXT ? stdout : stderr,
		"npu-bench batch: %s, device %s, %u threads, prompt %u, %u decode steps, mean ± "
		"stddev of %u rounds%s\n", o->model, o->device ? o->device : "cpu", threads,
		o->prompt, o->steps, o->reps, o->jobs ? "; async overhead: the blocking "
		"enpu_generate against one session's jobs, % of its tokens/s" : "");
	if (run_all(m, runs, o, info.n_vocab, threads)) {
		fprintf(stderr, "npu-bench batch: %s\n", enpu_last_error(ctx));
		goto out;
	}
	rc = 0;
out:
	for (uint32_t k = 0; k < BENCH_BATCH_MAX_SIZES; k++) {
		for (uint32_t i = 0; i < runs[k].n; i++)
			enpu_session_free(runs[k].s[i]);
		free(runs[k].tps);
		free(runs[k].blocking_tps);
	}
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	return rc;
}
