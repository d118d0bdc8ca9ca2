/* SPDX-License-Identifier: MIT */
/*
 * test_stress.c - many sessions at once across every device: 8 threads each generate on a
 * session of their own, four on one context (fixed placement, and "auto" placement across the
 * CPU, the GPU and the NPU on the phone profile), four on contexts of their own (the CPU, the
 * NPU in process), while a job thread
 * runs async jobs and npu-top's reader scans the telemetry. Every thread must produce what
 * its session gives alone; threads that make their first contexts at the same moment, and
 * in-process NPUs made and destroyed by several threads at once.
 * Run under ThreadSanitizer by tests/run-all.sh, where it must report nothing.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_npu.h"
#include "hal/telemetry.h"
#include "testutil.h"
#include "tools/mkmodel.h"

#define THREADS 8
#define TOKENS 12

static char *model_path;

struct worker {
	enpu_model *model;
	const char *own_device; /* a context of its own on this device (NULL: the shared one) */
	const char *placement; /* NULL: fixed */
	const char *prompt;
	enpu_token out[TOKENS];
	uint32_t n;
	enpu_status st;
};

static bool keep(enpu_token t, const char *piece, size_t len, void *user)
{
	struct worker *w = user;

	(void)piece;
	(void)len;
	if (w->n < TOKENS)
		w->out[w->n++] = t;
	return true;
}

static void generate(struct worker *w)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *own = NULL;
	enpu_model *shared = w->model;
	enpu_session *s = NULL;

	co.device = w->own_device;
	if (w->own_device) {
		/* contexts of their own: their devices publish into the process's one telemetry */
		w->st = enpu_context_create(&co, &own);
		if (!w->st)
			w->st = enpu_model_load(own, model_path, NULL, &w->model);
		if (w->st) {
			enpu_context_destroy(own);
			w->model = shared;
			return;
		}
	}
	so.placement = w->placement;
	so.profile = w->placement ? "phone" : NULL;
	w->n = 0;
	w->st = enpu_session_create(w->model, &so, &s);
	if (!w->st)
		w->st = enpu_generate(s, w->prompt, TOKENS, &greedy, keep, w, NULL);
	enpu_session_free(s);
	if (own) {
		enpu_model_free(w->model);
		enpu_context_destroy(own);
		w->model = shared;
	}
}

static void *run(void *arg)
{
	generate(arg);
	return NULL;
}

/* npu-top's reader, scanning while everything runs (the telemetry's seqlocks under load). */
static void *scan(void *arg)
{
	struct hal_telem_proc procs[8];
	volatile int *stop = arg;

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE))
		hal_telem_scan(NULL, procs, 8, false);
	return NULL;
}

START_TEST(eight_sessions_every_device)
{
	static const char *const prompts[4] = { "Once upon a time", "The quick brown fox",
						"Hello world", "In a galaxy" };
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct worker alone[THREADS], w[THREADS];
	enpu_context *ctx;
	enpu_model *model;
	pthread_t th[THREADS], reader;
	int stop = 0;

	co.devices = "gpu,npu"; /* with the CPU: every device of this host */
	ck_assert_msg(enpu_context_create(&co, &ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_int_eq(enpu_model_load(ctx, model_path, NULL, &model), ENPU_OK);
	for (int i = 0; i < THREADS; i++) {
		/* 0-3 share the context, fixed and auto; 4-7 have their own, cpu and npu */
		w[i] = (struct worker){ .model = model, .prompt = prompts[i % 4],
					.placement = i < 4 && i % 2 ? "auto" : NULL,
					.own_device = i < 4 ? NULL : i % 2 ? "npu" : "cpu" };
		alone[i] = w[i];
		generate(&alone[i]);
		ck_assert_msg(alone[i].st == ENPU_OK, "%s", enpu_last_error(ctx));
	}
	ck_assert_int_eq(pthread_create(&reader, NULL, scan, &stop), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, run, &w[i]), 0);
	/* async jobs beside them, on sessions of their own */
	enpu_session *js[2];
	enpu_job *jobs[2];
	for (int i = 0; i < 2; i++) {
		struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;

		o.kind = ENPU_JOB_GENERATE;
		o.prompt = alone[2 * i].prompt; /* the fixed placement, as alone[2 * i] */
		o.n_predict = TOKENS;
		ck_assert_int_eq(enpu_session_create(model, NULL, &js[i]), ENPU_OK);
		ck_assert_int_eq(enpu_job_submit(js[i], &o, &jobs[i]), ENPU_OK);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		struct enpu_job_result r = ENPU_JOB_RESULT_INIT;

		ck_assert_int_eq(enpu_job_wait(jobs[i], -1), ENPU_OK);
		ck_assert_int_eq(enpu_job_result(jobs[i], &r), ENPU_OK);
		ck_assert_int_eq(r.status, ENPU_OK);
		ck_assert_uint_eq(r.n_tokens, alone[2 * i].n);
		ck_assert(!memcmp(r.tokens, alone[2 * i].out, r.n_tokens * sizeof(enpu_token)));
		enpu_job_free(jobs[i]);
		enpu_session_free(js[i]);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(reader, NULL);
	for (int i = 0; i < THREADS; i++) {
		ck_assert_msg(w[i].st == ENPU_OK, "thread %d: %s", i, enpu_status_name(w[i].st));
		ck_assert_uint_eq(w[i].n, alone[i].n);
		ck_assert_msg(!memcmp(w[i].out, alone[i].out, w[i].n * sizeof(enpu_token)),
			      "thread %d (%s) differs from its session alone", i,
			      w[i].placement ? "auto" : "fixed");
	}
	enpu_model_free(model);
	enpu_context_destroy(ctx);
}
END_TEST

/* Threads that start at once, each making its own contexts. */
struct starter {
	pthread_barrier_t *go;
	int names;
	const char *device;
	int rounds;
	enpu_status st;
	char err[256];
};

#define STARTERS 4

/* fn on STARTERS threads, each with its t[i] (go set here), released together; joined. */
static void run_starters(void *(*fn)(void *), struct starter *t)
{
	pthread_barrier_t go;
	pthread_t th[STARTERS];

	pthread_barrier_init(&go, NULL, STARTERS);
	for (int i = 0; i < STARTERS; i++) {
		t[i].go = &go;
		ck_assert_int_eq(pthread_create(&th[i], NULL, fn, &t[i]), 0);
	}
	for (int i = 0; i < STARTERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
}

static void *first_calls(void *arg)
{
	struct starter *t = arg;
	enpu_context *ctx;

	pthread_barrier_wait(t->go);
	for (const char *const *n = enpu_device_names(); *n; n++)
		t->names++;
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	co.device = "cpu";
	co.n_threads = 1;
	t->st = enpu_context_create(&co, &ctx);
	enpu_context_destroy(ctx);
	return NULL;
}

/*
 * The process-wide state the first calls fill in (the device name list, the CPU's ISA) is
 * filled once, whichever threads get there together: enpu_device_names() could hand a thread
 * the list half-written, and ThreadSanitizer saw both races.
 */
START_TEST(first_calls_at_once)
{
	struct starter t[STARTERS] = { 0 };
	int want = 0;

	run_starters(first_calls, t);
	for (const char *const *n = enpu_device_names(); *n; n++)
		want++;
	for (int i = 0; i < STARTERS; i++) {
		ck_assert_int_eq(t[i].st, ENPU_OK);
		ck_assert_int_eq(t[i].names, want);
	}
}
END_TEST

/* Rounds of an NPU context of its own: made, a short generation, destroyed. */
static void *npu_rounds(void *arg)
{
	struct starter *t = arg;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;

	pthread_barrier_wait(t->go);
	for (int r = 0; r < t->rounds && !t->st; r++) {
		struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
		enpu_context *ctx;
		enpu_model *m = NULL;
		enpu_session *s = NULL;

		co.device = t->device;
		co.n_threads = 1;
		if ((t->st = enpu_context_create(&co, &ctx))) {
			snprintf(t->err, sizeof(t->err), "round %d: %s", r, enpu_last_error(NULL));
			break;
		}
		if (!(t->st = enpu_model_load(ctx, model_path, NULL, &m)) &&
		    !(t->st = enpu_session_create(m, NULL, &s)))
			t->st = enpu_generate(s, "The", 2, &greedy, NULL, NULL, NULL);
		if (t->st)
			snprintf(t->err, sizeof(t->err), "round %d: %s", r, enpu_last_error(ctx));
		enpu_session_free(s);
		enpu_model_free(m);
		enpu_context_destroy(ctx);
	}
	return NULL;
}

/*
 * In-process NPUs made and destroyed by several threads at once: a context made while
 * another's NPU was unmounting its devfreq directory found the mount half gone and refused
 * the device ("no writable runtime directory ...: Software caused connection abort"), and
 * the io_uring reaper, which signals every context's waits, raced (for ThreadSanitizer) with
 * a waiter's earlier use of the stack its wait lives on.
 */
START_TEST(npu_contexts_come_and_go)
{
	struct starter t[STARTERS];

	for (int i = 0; i < STARTERS; i++)
		t[i] = (struct starter){ .device = "npu", .rounds = 6 };
	run_starters(npu_rounds, t);
	for (int i = 0; i < STARTERS; i++)
		ck_assert_msg(t[i].st == ENPU_OK, "thread %d: %s", i, t[i].err);
}
END_TEST

static void make_model(void)
{
	/* the built-in vocabulary: the test needs no ../shared */
	model_path = tu_small_model(128, 256, 256, HAL_TYPE_Q8_0, 9, NULL);
}

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, make_model, NULL);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, eight_sessions_every_device);
	tcase_add_test(tc, first_calls_at_once);
	tcase_add_test(tc, npu_contexts_come_and_go);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
