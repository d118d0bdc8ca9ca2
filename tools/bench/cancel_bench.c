/* SPDX-License-Identifier: MIT */
/* cancel_bench.c - `npu-bench cancel`: cancel latency of an async job in the middle of a prefill. */
#include "bench/cancel_bench.h"

#include "bench/measure.h"
#include "edge_npu.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* An eval job of the prompt on s (reset first); cancelled after cancel_s unless negative. */
static int run_job(enpu_session *s, const enpu_token *toks, uint32_t n, double cancel_s,
		   double *out_total_s, double *out_latency_s)
{
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	struct enpu_job_result r = ENPU_JOB_RESULT_INIT;
	enpu_job *j = NULL;

	o.kind = ENPU_JOB_EVAL;
	o.tokens = toks;
	o.n_tokens = n;
	if (enpu_session_reset(s))
		return -1;
	const double t0 = bench_now_s();
	if (enpu_job_submit(s, &o, &j))
		return -1;
	double t_cancel = t0;
	if (cancel_s >= 0) {
		struct timespec ts = { (time_t)cancel_s, (long)((cancel_s - (time_t)cancel_s) * 1e9) };

		nanosleep(&ts, NULL);
		t_cancel = bench_now_s();
		enpu_job_cancel(j);
	}
	int rc = enpu_job_wait(j, -1) || enpu_job_result(j, &r) ? -1 : 0;
	const double t1 = bench_now_s();

	*out_total_s = t1 - t0;
	*out_latency_s = t1 - t_cancel;
	if (cancel_s < 0 && r.status)
		rc = -1;
	if (cancel_s >= 0 && r.status != ENPU_ERR_CANCELLED)
		rc = 1; /* it finished before the cancel came: not counted */
	enpu_job_free(j);
	return rc;
}

enum { X_DEVICE, X_PROMPT, X_PREFILL, X_RUNS, X_LATENCY, X_SHARE };

static const struct bench_col cancel_cols[] = {
	[X_DEVICE] = { "device", NULL, BENCH_COL_STR, 7, 0, NULL },
	[X_PROMPT] = { "n_prompt", NULL, BENCH_COL_INT, 8, 0, NULL },
	[X_PREFILL] = { "prefill_ms", "prefill ms", BENCH_COL_NUM, 10, 1, NULL },
	[X_RUNS] = { "cancelled_runs", "cancelled", BENCH_COL_INT, 9, 0, NULL },
	[X_LATENCY] = { "cancel_to_finished_ms", "cancel to finished ms", BENCH_COL_STAT, 21, 2,
			NULL },
	[X_SHARE] = { "of_prefill_pct", "% of prefill", BENCH_COL_NUM, 12, 1, NULL },
};

static void report(enum bench_format fmt, const char *device, uint32_t prompt, double whole,
		   double *lat, uint32_t n)
{
	struct bench_report rep;

	bench_report_begin(&rep, fmt, stdout, cancel_cols, sizeof(cancel_cols) / sizeof(cancel_cols[0]));
	bench_report_str(&rep, X_DEVICE, device ? device : "cpu");
	bench_report_int(&rep, X_PROMPT, prompt);
	bench_report_num(&rep, X_PREFILL, whole * 1e3);
	bench_report_int(&rep, X_RUNS, n);
	if (n) {
		struct bench_stat st;

		for (uint32_t i = 0; i < n; i++)
			lat[i] *= 1e3;
		bench_report_stat(&rep, X_LATENCY, lat, n);
		bench_stat_of(lat, n, &st);
		bench_report_num(&rep, X_SHARE, 100.0 * st.mean / (whole * 1e3));
	}
	bench_report_row(&rep);
	bench_report_end(&rep);
}

int bench_cancel_main(const char *model, const char *device, uint32_t threads, uint32_t prompt,
		      uint32_t reps, enum bench_format fmt)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	enpu_context *ctx = NULL;
	enpu_model *m = NULL;
	enpu_session *s = NULL;
	enpu_token *toks = calloc(prompt, sizeof(*toks));
	double *lat = calloc(reps, sizeof(double)), whole = 0, total, l;
	uint64_t seed = 5;
	uint32_t n = 0;
	int rc = 1;

	co.device = device;
	co.n_threads = threads;
	if (!toks || !lat || enpu_context_create(&co, &ctx) ||
	    enpu_model_load(ctx, model, NULL, &m) || enpu_model_info(m, &info) ||
	    enpu_session_create(m, NULL, &s)) {
		fprintf(stderr, "npu-bench cancel: %s\n", enpu_last_error(ctx));
		goto out;
	}
	for (uint32_t i = 0; i < prompt; i++)
		toks[i] = (enpu_token)(3 + bench_rng_next(&seed) % (info.n_vocab - 3));
	for (int i = 0; i < 3; i++) { /* the prefill alone: warm, then its best of two */
		if (run_job(s, toks, prompt, -1, &total, &l))
			goto out;
		whole = i == 1 || total < whole ? total : whole;
	}
	for (uint32_t r = 0; r < reps; r++) {
		int k = run_job(s, toks, prompt, whole / 2, &total, &l);

		if (k < 0)
			goto out;
		if (k == 0)
			lat[n++] = l;
	}
	fprintf(fmt == BENCH_FMT_TEXT ? stdout : stderr, "npu-bench cancel: %s, prefill of %u "
		"tokens (best of two) cancelled at half, %u runs; the runs that finished before "
		"their cancel are not counted\n", model, prompt, reps);
	report(fmt, device, prompt, whole, lat, n);
	rc = 0;
out:
	enpu_session_free(s);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(toks);
	free(lat);
	return rc;
}
