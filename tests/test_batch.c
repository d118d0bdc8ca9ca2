/* SPDX-License-Identifier: MIT */
/*
 * test_batch.c - batched decoding (enpu_session_eval_many): every session's logits are
 * bit-identical to evaluating its token alone, for 1 to 8 sessions at different positions, on
 * the fast CPU, the reference CPU and the NPU; and every bad input is refused with nothing
 * evaluated; the model's batched graph serves new sessions after the old ones are freed.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_npu.h"
#include "testutil.h"
#include "tools/mkmodel.h"

enum { N = 8 };

static char *make_model(enum hal_type type)
{
	return tu_small_model(128, 256, 128, type, 7, tu_vocab_path());
}

/* A context on one device ("npu": the CPU and the NPU, matmuls on the NPU). */
static enpu_context *open_ctx(const char *device)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *ctx;

	if (!strcmp(device, "npu"))
		co.devices = device;
	else
		co.device = device;
	ck_assert_msg(enpu_context_create(&co, &ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	return ctx;
}

static enpu_model *load(enpu_context *ctx, const char *path)
{
	enpu_model *m;

	ck_assert_msg(enpu_model_load(ctx, path, NULL, &m) == ENPU_OK, "%s", enpu_last_error(ctx));
	return m;
}

/* A session (window n_ctx) that has evaluated a prompt of n_prompt tokens starting at first. */
static enpu_session *session_at(enpu_model *m, uint32_t n_ctx, uint32_t n_prompt, int first)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_token prompt[64];
	enpu_session *s;

	so.n_ctx = n_ctx;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_OK);
	for (uint32_t i = 0; i < n_prompt; i++)
		prompt[i] = (enpu_token)((first + 97 * i) % 31000 + 3);
	ck_assert_int_eq(enpu_session_eval(s, prompt, n_prompt), ENPU_OK);
	return s;
}

static const float *logits(enpu_session *s)
{
	const float *lg;
	size_t n;

	ck_assert_int_eq(enpu_session_logits(s, &lg, &n), ENPU_OK);
	ck_assert_uint_eq(n, 32000);
	return lg;
}

/* Batched sessions b[] and their twins r[] evaluated alone, in step and at equal states. */
struct twins {
	enpu_session *b[N], *r[N];
};

static void twins_init(struct twins *t, enpu_model *m)
{
	/* each session at its own position; one with a smaller window */
	for (int i = 0; i < N; i++) {
		uint32_t n_ctx = i == 3 ? 48 : 128, n_prompt = 1 + 5 * (uint32_t)i;
		t->b[i] = session_at(m, n_ctx, n_prompt, 11 * i);
		t->r[i] = session_at(m, n_ctx, n_prompt, 11 * i);
	}
}

static void twins_free(struct twins *t)
{
	for (int i = 0; i < N; i++) {
		enpu_session_free(t->b[i]);
		enpu_session_free(t->r[i]);
	}
}

/* One batched step of the sessions idx[0..n) against each twin's step alone. */
static void step(struct twins *t, const int *idx, int n, int round, const char *device)
{
	enpu_session *b[N] = { NULL };
	enpu_token tok[N] = { 0 };

	for (int i = 0; i < n; i++) {
		b[i] = t->b[idx[i]];
		tok[i] = (enpu_token)(1000 + 389 * round + 53 * idx[i]);
	}
	ck_assert_int_eq(enpu_session_eval_many(b, tok, (size_t)n), ENPU_OK);
	for (int i = 0; i < n; i++) {
		enpu_session *r = t->r[idx[i]];
		ck_assert_int_eq(enpu_session_eval(r, &tok[i], 1), ENPU_OK);
		ck_assert_uint_eq(enpu_session_n_past(b[i]), enpu_session_n_past(r));
		ck_assert_msg(!memcmp(logits(b[i]), logits(r), 32000 * sizeof(float)),
			      "%s: %d sessions, session %d (position %u): logits differ from alone",
			      device, n, idx[i], enpu_session_n_past(r) - 1);
	}
}

static void bit_identical_on(const char *device, enum hal_type type)
{
	char *path = make_model(type);
	enpu_context *ctx = open_ctx(device);
	enpu_model *m = load(ctx, path);
	const int order[N] = { 0, 1, 2, 3, 4, 5, 6, 7 }, shuffled[N] = { 6, 2, 7, 0, 4, 1, 5, 3 };
	struct twins t;

	struct enpu_device_usage u0[ENPU_MAX_DEVICES], u[ENPU_MAX_DEVICES];

	twins_init(&t, m);
	uint32_t nd = enpu_session_device_usage(t.b[N - 1], u0, ENPU_MAX_DEVICES);
	for (int n = 1; n <= N; n++)
		step(&t, order, n, n, device);
	/* the graphs of each size again, over other sets of sessions in other orders */
	for (int n = N; n >= 2; n--)
		step(&t, shuffled + (N - n), n, 20 + n, device);
	/* the batched steps ran on the device under test (on the NPU: its matmuls) */
	enpu_session_device_usage(t.b[N - 1], u, ENPU_MAX_DEVICES);
	ck_assert_str_eq(u[nd - 1].device, device);
	ck_assert_uint_gt(u[nd - 1].ops, u0[nd - 1].ops);
	twins_free(&t);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(path);
}

START_TEST(bit_identical_cpu)
{
	bit_identical_on("cpu", HAL_TYPE_Q8_0);
	bit_identical_on("cpu", HAL_TYPE_Q4_0);
}
END_TEST

START_TEST(bit_identical_cpu_ref)
{
	bit_identical_on("cpu-ref", HAL_TYPE_Q8_0);
}
END_TEST

START_TEST(bit_identical_npu)
{
	bit_identical_on("npu", HAL_TYPE_Q8_0);
	bit_identical_on("npu", HAL_TYPE_Q4_0);
}
END_TEST

/* Steps of two sessions of a twins set, batched (from a thread of its own). */
struct pair_job {
	struct twins *t;
	int idx[2];
};

static void *pair_steps(void *arg)
{
	struct pair_job *j = arg;

	for (int round = 0; round < 6; round++) {
		enpu_session *b[2] = { j->t->b[j->idx[0]], j->t->b[j->idx[1]] };
		enpu_token tok[2] = { (enpu_token)(700 + round + j->idx[0]),
				      (enpu_token)(900 + round + j->idx[1]) };
		if (enpu_session_eval_many(b, tok, 2))
			return "eval_many failed";
	}
	return NULL;
}

/* Two threads batching disjoint pairs at once take turns on the model's 2-session graph. */
START_TEST(concurrent_batches)
{
	char *path = make_model(HAL_TYPE_Q8_0);
	enpu_context *ctx = open_ctx("cpu");
	enpu_model *m = load(ctx, path);
	struct twins t;
	struct pair_job jobs[2] = { { &t, { 0, 5 } }, { &t, { 3, 6 } } };
	pthread_t th[2];
	void *res[2];

	twins_init(&t, m);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, pair_steps, &jobs[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], &res[i]);
		ck_assert_msg(!res[i], "%s: %s", (char *)res[i], enpu_last_error(ctx));
	}
	/* the same tokens alone, one session after another */
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++)
			for (int round = 0; round < 6; round++) {
				int s = jobs[i].idx[k];
				enpu_token tok = (enpu_token)((k ? 900 : 700) + round + s);
				ck_assert_int_eq(enpu_session_eval(t.r[s], &tok, 1), ENPU_OK);
			}
	for (int i = 0; i < N; i++)
		ck_assert_msg(!memcmp(logits(t.b[i]), logits(t.r[i]), 32000 * sizeof(float)),
			      "session %d differs from alone after concurrent batches", i);
	twins_free(&t);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(path);
}
END_TEST

/*
 * The model keeps its graph for n sessions after they are freed: binding it to new sessions
 * must not read the freed ones' caches (it did, checking their row width: AddressSanitizer
 * reports a heap use after free in the sanitizer build).
 */
START_TEST(graph_outlives_its_sessions)
{
	char *path = make_model(HAL_TYPE_Q8_0);
	enpu_context *ctx = open_ctx("cpu");
	enpu_model *m = load(ctx, path);
	const enpu_token tok[2] = { 5, 6 };

	for (int round = 0; round < 3; round++) {
		enpu_session *ab[2] = { session_at(m, 64, 3, round), session_at(m, 64, 2, 7) };

		ck_assert_int_eq(enpu_session_eval_many(ab, tok, 2), ENPU_OK);
		ck_assert_uint_eq(enpu_session_n_past(ab[0]), 4);
		enpu_session_free(ab[0]);
		enpu_session_free(ab[1]);
	}
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(path);
}
END_TEST

/* The call fails with want and a message containing needle; nothing was evaluated. */
static void refused(enpu_session *const *s, const enpu_token *tok, size_t n, enpu_status want,
		    enpu_context *ctx, const char *needle, enpu_session *const *watch)
{
	uint32_t past[2] = { enpu_session_n_past(watch[0]), enpu_session_n_past(watch[1]) };

	ck_assert_int_eq(enpu_session_eval_many(s, tok, n), want);
	if (needle)
		ck_assert_msg(strstr(enpu_last_error(ctx), needle), "message: %s",
			      enpu_last_error(ctx));
	ck_assert_uint_eq(enpu_session_n_past(watch[0]), past[0]);
	ck_assert_uint_eq(enpu_session_n_past(watch[1]), past[1]);
}

START_TEST(bad_input_refused)
{
	char *path = make_model(HAL_TYPE_Q8_0);
	enpu_context *ctx = open_ctx("cpu"), *ctx2 = open_ctx("cpu");
	enpu_model *m = load(ctx, path), *m2 = load(ctx, path), *m3 = load(ctx2, path);
	enpu_session *a = session_at(m, 64, 3, 1), *b = session_at(m, 64, 4, 2);
	enpu_session *full = session_at(m, 2, 2, 3), *other = session_at(m2, 64, 1, 4);
	enpu_session *foreign = session_at(m3, 64, 1, 5);
	enpu_session *ab[2] = { a, b }, *many[ENPU_EVAL_MANY_MAX + 1];
	const enpu_token tok[3] = { 5, 6, 7 }, bad[2] = { 5, 32000 };
	const float *before = logits(b);
	float saved[8];

	memcpy(saved, before, sizeof(saved));
	for (int i = 0; i <= ENPU_EVAL_MANY_MAX; i++)
		many[i] = a;
	refused(NULL, tok, 2, ENPU_ERR_INVALID_ARG, ctx, NULL, ab);
	refused(ab, tok, 0, ENPU_ERR_INVALID_ARG, ctx, NULL, ab);
	refused(ab, NULL, 2, ENPU_ERR_INVALID_ARG, ctx, "tokens is NULL", ab);
	refused((enpu_session *[]){ a, NULL }, tok, 2, ENPU_ERR_INVALID_ARG, ctx,
		"session 1 is NULL", ab);
	refused((enpu_session *[]){ a, b, a }, tok, 3, ENPU_ERR_INVALID_ARG, ctx,
		"session 2 is session 0 again", ab);
	refused((enpu_session *[]){ a, other }, tok, 2, ENPU_ERR_INVALID_ARG, ctx,
		"session 1 is of another model", ab);
	refused((enpu_session *[]){ b, foreign }, tok, 2, ENPU_ERR_INVALID_ARG, ctx,
		"session 1 is of another model", ab);
	refused((enpu_session *[]){ a, b, full }, tok, 3, ENPU_ERR_CONTEXT_FULL, ctx,
		"session 2's 2-token context is full", ab);
	refused(ab, bad, 2, ENPU_ERR_INVALID_ARG, ctx, "token 1 is 32000", ab);
	refused(many, tok, ENPU_EVAL_MANY_MAX + 1, ENPU_ERR_INVALID_ARG, ctx, "at most 64", ab);
	ck_assert(!memcmp(logits(b), saved, sizeof(saved)));
	/* and the same sessions still evaluate together */
	ck_assert_int_eq(enpu_session_eval_many(ab, tok, 2), ENPU_OK);
	ck_assert_str_eq(enpu_last_error(ctx), "");
	ck_assert_uint_eq(enpu_session_n_past(a), 4);
	ck_assert_uint_eq(enpu_session_n_past(b), 5);
	enpu_session_free(a), enpu_session_free(b), enpu_session_free(full);
	enpu_session_free(other), enpu_session_free(foreign);
	enpu_model_free(m), enpu_model_free(m2), enpu_model_free(m3);
	enpu_context_destroy(ctx), enpu_context_destroy(ctx2);
	free(path);
}
END_TEST

/* npu-bench batch as a user runs it: a row per size with its ratio to one session. */
START_TEST(bench_batch_runs)
{
	char *path = make_model(HAL_TYPE_Q8_0);
	struct tu_run r = tu_run("%s batch -m %s -t 2 -s 3,2 -r 2 -n 3 -p 4", getenv("NPU_BENCH"),
				 path);

	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "vs one") && strstr(r.out, "1.00x"), "%s", r.out);
	const char *one = strstr(r.out, "\n        1 "), *three = strstr(r.out, "\n        3 ");
	ck_assert_msg(one && three && strstr(r.out, "\n        2 "), "%s", r.out);
	tu_run_free(&r);
	r = tu_run("%s batch -m %s -s 4,x", getenv("NPU_BENCH"), path);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--sizes (-s) '4,x'"), "%s", r.err);
	tu_run_free(&r);
	free(path);
}
END_TEST

int main(void)
{
	/* the models use the 32000-token llama vocabulary of ../shared (token ids up to ~4000) */
	tu_require_shared_vocab();
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, bit_identical_cpu);
	tcase_add_test(tc, bit_identical_cpu_ref);
	tcase_add_test(tc, bit_identical_npu);
	tcase_add_test(tc, concurrent_batches);
	tcase_add_test(tc, graph_outlives_its_sessions);
	tcase_add_test(tc, bad_input_refused);
	tcase_add_test(tc, bench_batch_runs);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
