/* SPDX-License-Identifier: MIT */
/*
 * test_jobs.c - asynchronous jobs (edge_npu.h): an eval job and a generate job give what the
 * blocking calls give; jobs of several sessions interleave and each still matches its session
 * alone; a session's jobs run in order; cancel takes effect mid-generation and returns
 * ENPU_ERR_CANCELLED; the context's completion queue delivers every finished job once; and
 * every misuse is a clear error; a client killed with a job running on the in-process NPU
 * leaves nothing that stops the next one.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/internal.h"
#include "edge_npu.h"
#include "hal/telemetry.h"
#include "testutil.h"
#include "tools/mkmodel.h"

static char *model_path;

static void make_model(void)
{
	/* the built-in vocabulary: the test needs no ../shared */
	model_path = tu_small_model(64, 128, 256, HAL_TYPE_Q8_0, 42, NULL);
}

struct rig {
	enpu_context *ctx;
	enpu_model *model;
	enpu_session *s[4];
};

static void rig_open(struct rig *r, int n_sessions)
{
	memset(r, 0, sizeof(*r));
	if (!model_path)
		make_model();
	ck_assert_int_eq(enpu_context_create(NULL, &r->ctx), ENPU_OK);
	ck_assert_int_eq(enpu_model_load(r->ctx, model_path, NULL, &r->model), ENPU_OK);
	for (int i = 0; i < n_sessions; i++)
		ck_assert_int_eq(enpu_session_create(r->model, NULL, &r->s[i]), ENPU_OK);
}

static void rig_close(struct rig *r)
{
	for (int i = 0; i < 4; i++)
		enpu_session_free(r->s[i]);
	enpu_model_free(r->model);
	enpu_context_destroy(r->ctx);
}

static enpu_job *submit_generate(enpu_session *s, const char *prompt, uint32_t n)
{
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	enpu_job *j = NULL;

	o.kind = ENPU_JOB_GENERATE;
	o.prompt = prompt;
	o.n_predict = n;
	ck_assert_int_eq(enpu_job_submit(s, &o, &j), ENPU_OK);
	return j;
}

static struct enpu_job_result result_of(enpu_job *j)
{
	struct enpu_job_result r = ENPU_JOB_RESULT_INIT;

	ck_assert_int_eq(enpu_job_result(j, &r), ENPU_OK);
	return r;
}

struct streamed {
	enpu_token t[64];
	uint32_t n;
};

static bool keep(enpu_token t, const char *piece, size_t len, void *user)
{
	struct streamed *st = user;

	(void)piece;
	(void)len;
	st->t[st->n++] = t;
	return st->n < 64;
}

/* What enpu_generate gives on a fresh session of its own. */
static struct streamed blocking_generate(const char *prompt, uint32_t n)
{
	struct rig r;
	struct streamed out = { .n = 0 };
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;

	rig_open(&r, 1);
	ck_assert_int_eq(enpu_generate(r.s[0], prompt, n, &greedy, keep, &out, NULL), ENPU_OK);
	rig_close(&r);
	return out;
}

START_TEST(eval_job_matches_blocking_eval)
{
	struct rig r;
	const enpu_token toks[6] = { 1, 15, 300, 400, 27, 99 };
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	enpu_job *j = NULL;
	const float *a, *b;
	size_t na, nb;

	rig_open(&r, 2);
	o.kind = ENPU_JOB_EVAL;
	o.tokens = toks;
	o.n_tokens = 6;
	o.user = &r;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_OK);
	ck_assert_int_eq(enpu_job_wait(j, -1), ENPU_OK);
	struct enpu_job_result res = result_of(j);
	ck_assert(res.finished);
	ck_assert_int_eq(res.status, ENPU_OK);
	ck_assert_ptr_eq(res.user, &r);
	ck_assert_int_eq(enpu_session_eval(r.s[1], toks, 6), ENPU_OK);
	ck_assert_int_eq(enpu_session_logits(r.s[0], &a, &na), ENPU_OK);
	ck_assert_int_eq(enpu_session_logits(r.s[1], &b, &nb), ENPU_OK);
	ck_assert(!memcmp(a, b, na * sizeof(float)));
	/* waiting again on a finished job returns at once; cancelling it is an error */
	ck_assert_int_eq(enpu_job_wait(j, 0), ENPU_OK);
	ck_assert_int_eq(enpu_job_cancel(j), ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "already finished"), "%s",
		      enpu_last_error(r.ctx));
	enpu_job_free(j);
	rig_close(&r);
}
END_TEST

/*
 * Generate jobs on three sessions at once (interleaved a token at a time on the job thread),
 * each with the tokens enpu_generate gives alone; two jobs on one session run in order and
 * the second continues the first.
 */
START_TEST(generate_jobs_interleave_and_match)
{
	const char *prompts[3] = { "Once upon a time", "The quick brown fox", "Hello" };
	struct streamed want[3];
	struct rig r;
	enpu_job *j[4];

	for (int i = 0; i < 3; i++)
		want[i] = blocking_generate(prompts[i], 12);
	rig_open(&r, 3);
	for (int i = 0; i < 3; i++)
		j[i] = submit_generate(r.s[i], prompts[i], 12);
	j[3] = submit_generate(r.s[0], " and then", 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(enpu_job_wait(j[i], -1), ENPU_OK);
	for (int i = 0; i < 3; i++) {
		struct enpu_job_result res = result_of(j[i]);

		ck_assert_int_eq(res.status, ENPU_OK);
		ck_assert_uint_eq(res.n_tokens, want[i].n);
		ck_assert(!memcmp(res.tokens, want[i].t, want[i].n * sizeof(enpu_token)));
		ck_assert_uint_eq(res.stats.n_generated, want[i].n);
	}
	/* the second job evaluated the first one's pending token, then its own prompt */
	struct enpu_job_result first = result_of(j[0]), second = result_of(j[3]);
	ck_assert_int_eq(second.status, ENPU_OK);
	ck_assert(!first.stats.stopped_at_eos && !second.stats.stopped_at_eos);
	ck_assert_uint_eq(enpu_session_n_past(r.s[0]),
			  first.stats.n_prompt + first.stats.n_generated + second.stats.n_prompt +
				  second.stats.n_generated - 1);
	for (int i = 0; i < 4; i++)
		enpu_job_free(j[i]);
	rig_close(&r);
}
END_TEST

/* A generation cancelled after its first token stops with ENPU_ERR_CANCELLED. */
START_TEST(cancel_stops_a_generation)
{
	struct rig r;
	struct pollfd pfd;

	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	enpu_job *j = NULL;

	rig_open(&r, 1);
	o.kind = ENPU_JOB_GENERATE;
	o.prompt = "Once upon a time";
	o.n_predict = 200;
	struct enpu_sampler_options greedy_on = ENPU_SAMPLER_OPTIONS_INIT;
	greedy_on.ignore_eos = true; /* still running when the cancel comes */
	o.sampler = &greedy_on;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_OK);
	pfd = (struct pollfd){ .fd = enpu_job_fd(j), .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1); /* the first token */
	ck_assert_int_eq(enpu_job_cancel(j), ENPU_OK);
	ck_assert_int_eq(enpu_job_wait(j, 10000), ENPU_OK);
	struct enpu_job_result res = result_of(j);
	ck_assert(res.finished);
	ck_assert_int_eq(res.status, ENPU_ERR_CANCELLED);
	ck_assert_msg(strstr(res.error, "cancelled"), "%s", res.error);
	ck_assert_uint_ge(res.n_tokens, 1);
	ck_assert_uint_lt(res.n_tokens, 200);
	/* the session goes on from where the job stopped */
	ck_assert_uint_ge(enpu_session_n_past(r.s[0]), 5);
	enpu_job_free(j);
	rig_close(&r);
}
END_TEST

/* The context's descriptor and queue deliver each finished job once. */
START_TEST(completion_queue_delivers_each_job_once)
{
	struct rig r;
	enpu_job *j[3];
	int seen[3] = { 0 };

	rig_open(&r, 3);
	int fd = enpu_context_job_fd(r.ctx);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 3; i++)
		j[i] = submit_generate(r.s[i], "Hi", 3);
	for (int done = 0; done < 3;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		enpu_job *f;
		while ((f = enpu_context_next_finished(r.ctx))) {
			for (int i = 0; i < 3; i++)
				seen[i] += f == j[i];
			done++;
		}
	}
	ck_assert_ptr_null(enpu_context_next_finished(r.ctx));
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 0); /* nothing left to say */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(seen[i], 1);
		enpu_job_free(j[i]);
	}
	rig_close(&r);
}
END_TEST

/* Misuse: clear errors, nothing lost or leaked (the sanitizer build checks the latter). */
START_TEST(bad_input)
{
	struct rig r;
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	const enpu_token bad = 1 << 30;
	enpu_job *j = NULL;

	rig_open(&r, 2);
	ck_assert_int_eq(enpu_job_submit(r.s[0], NULL, &j), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_null(j);
	o.kind = ENPU_JOB_EVAL;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_ERR_INVALID_ARG);
	o.tokens = &bad;
	o.n_tokens = 1;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "outside the vocabulary"), "%s",
		      enpu_last_error(r.ctx));
	o.kind = 7;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_ERR_INVALID_ARG);
	/* a sampler the job could not use is refused at submission, not when the job runs */
	struct enpu_sampler_options nan_temp = ENPU_SAMPLER_OPTIONS_INIT;
	nan_temp.temperature = NAN;
	o.kind = ENPU_JOB_GENERATE;
	o.prompt = "x";
	o.sampler = &nan_temp;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_null(j);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "enpu_job_submit: temperature"), "%s",
		      enpu_last_error(r.ctx));
	o.sampler = NULL;
	o.kind = ENPU_JOB_GENERATE;
	o.prompt = NULL;
	ck_assert_int_eq(enpu_job_submit(r.s[0], &o, &j), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_job_submit(NULL, &o, &j), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_job_wait(NULL, 0), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_job_cancel(NULL), ENPU_ERR_INVALID_ARG);
	enpu_job_free(NULL);

	/* a session freed with its jobs in flight cancels them; a freed session is refused */
	enpu_job *busy = submit_generate(r.s[1], "Once upon a time", 200);
	enpu_session *gone = r.s[1];
	enpu_session_free(r.s[1]);
	r.s[1] = NULL;
	struct enpu_job_result res = result_of(busy);
	ck_assert(res.finished);
	ck_assert(res.status == ENPU_ERR_CANCELLED || res.status == ENPU_OK);
	enpu_job_free(busy);
	o.prompt = "x";
	ck_assert_int_eq(enpu_job_submit(gone, &o, &j), ENPU_ERR_INVALID_ARG);

	/* a job freed before it ran, and one that is still waiting for the session */
	enpu_job *a = submit_generate(r.s[0], "Once upon a time", 50);
	enpu_job *b = submit_generate(r.s[0], "more", 50);
	enpu_job_free(b);
	enpu_job_free(a);
	rig_close(&r);
}
END_TEST

/*
 * A token callback of enpu_generate that tries to queue a job on the generating session, and
 * to change it with calls of its own (accepted before: a reset made the generation fail, an
 * eval slipped tokens into it, a nested generate on an overlapped speculating session raced
 * with the draft's thread under ThreadSanitizer).
 */
struct nested_submit {
	enpu_session *s;
	enpu_status st, calls[3];
	bool tried;
};

static bool submit_from_callback(enpu_token t, const char *piece, size_t len, void *user)
{
	struct nested_submit *n = user;
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	enpu_job *j = NULL;

	(void)t, (void)piece, (void)len;
	if (!n->tried) {
		o.kind = ENPU_JOB_GENERATE;
		o.prompt = "x";
		n->st = enpu_job_submit(n->s, &o, &j);
		n->tried = true;
		enpu_job_free(j);
		n->calls[0] = enpu_session_reset(n->s);
		n->calls[1] = enpu_session_eval(n->s, &t, 1);
		n->calls[2] = enpu_generate(n->s, "y", 2, NULL, NULL, NULL, NULL);
	}
	return true;
}

/*
 * A session is run by its jobs or by a synchronous call, never by both at once: a call that
 * changes a session with unfinished jobs is refused and leaves it as it was, and so are a job
 * queued and a call that changes it from inside a synchronous call on it. Once the jobs are
 * done, calls pass again.
 */
START_TEST(session_busy_with_jobs_refuses_calls)
{
	struct rig r;
	const enpu_token tok = 5;
	struct nested_submit n = { .st = ENPU_OK };

	rig_open(&r, 2);
	enpu_job *busy = submit_generate(r.s[0], "Once upon a time", 40);
	enpu_status st = enpu_session_eval(r.s[0], &tok, 1);
	/* the job may have ended already on a fast machine: then the call passes */
	if (st != ENPU_OK) {
		ck_assert_int_eq(st, ENPU_ERR_INVALID_ARG);
		ck_assert_msg(strstr(enpu_last_error(r.ctx), "enpu_session_eval: the session has 1 "
							     "unfinished job"),
			      "%s", enpu_last_error(r.ctx));
	}
	ck_assert_int_eq(enpu_job_wait(busy, -1), ENPU_OK);
	enpu_job_free(busy);
	busy = submit_generate(r.s[0], "Once upon a time", 200);
	ck_assert_int_eq(enpu_session_reset(r.s[0]), ENPU_ERR_INVALID_ARG);
	/* the job's ops write to a trace as they run: stopping it under them freed it */
	ck_assert_int_eq(enpu_session_trace_start(r.s[0], tu_tmp_path(".json")),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_trace_stop(r.s[0]), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_truncate(r.s[0], 0), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_generate(r.s[0], "x", 1, NULL, NULL, NULL, NULL),
			 ENPU_ERR_INVALID_ARG);
	enpu_session *both[2] = { r.s[1], r.s[0] };
	const enpu_token two[2] = { 5, 6 };
	ck_assert_int_eq(enpu_session_eval_many(both, two, 2), ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(enpu_session_n_past(r.s[1]), 0); /* the other one untouched too */
	ck_assert_int_eq(enpu_job_cancel(busy), ENPU_OK);
	enpu_job_wait(busy, -1);
	enpu_job_free(busy);
	ck_assert_int_eq(enpu_session_eval_many(both, two, 2), ENPU_OK);
	const uint32_t past = enpu_session_n_past(r.s[0]);

	n.s = r.s[0];
	struct enpu_generate_stats gs = ENPU_GENERATE_STATS_INIT;
	ck_assert_int_eq(enpu_generate(r.s[0], " and", 3, NULL, submit_from_callback, &n, &gs),
			 ENPU_OK);
	ck_assert(n.tried);
	ck_assert_int_eq(n.st, ENPU_ERR_INVALID_ARG);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(n.calls[i], ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "enpu_generate: called from the session's "
						       "own token callback"),
		      "%s", enpu_last_error(r.ctx));
	/* the prompt's tokens and the generated ones but the pending last: nothing slipped in */
	ck_assert_uint_eq(gs.n_generated, 3);
	ck_assert_uint_eq(enpu_session_n_past(r.s[0]), past + gs.n_prompt + 2);
	rig_close(&r);
}
END_TEST

/*
 * Threads that never submitted read the context's completion queue and its last error while
 * others submit the context's first jobs and fail calls (the ThreadSanitizer build checks
 * the queue's publication and the error's copy).
 */
struct poller {
	enpu_context *ctx;
	int stop;
	uint32_t seen;
};

static void *poll_context(void *arg)
{
	struct poller *p = arg;

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		enpu_job *j = enpu_context_next_finished(p->ctx);

		p->seen += j != NULL;
		p->seen += strlen(enpu_last_error(p->ctx)) > 0;
	}
	return NULL;
}

START_TEST(first_jobs_and_errors_seen_by_other_threads)
{
	struct rig r;
	struct poller p = { .stop = 0 };
	pthread_t th;
	const enpu_token bad = 1 << 30;

	rig_open(&r, 3);
	p.ctx = r.ctx;
	ck_assert_int_eq(pthread_create(&th, NULL, poll_context, &p), 0);
	enpu_job *a = submit_generate(r.s[0], "Hi", 2);
	enpu_job *b = submit_generate(r.s[1], "Hi", 2);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(enpu_session_eval(r.s[2], &bad, 1), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_job_wait(a, -1), ENPU_OK);
	ck_assert_int_eq(enpu_job_wait(b, -1), ENPU_OK);
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	enpu_job_free(a);
	enpu_job_free(b);
	rig_close(&r);
}
END_TEST

/*
 * A batch of sessions that generations left with a pending token evaluates those first: the
 * same logits as each session going on alone.
 */
START_TEST(eval_many_takes_pending_tokens_first)
{
	struct rig r;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	const enpu_token next[2] = { 42, 43 };

	rig_open(&r, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(enpu_generate(r.s[i], i % 2 ? "Hello" : "Once upon", 3, &greedy,
					       NULL, NULL, NULL), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval_many(r.s, next, 2), ENPU_OK);
	for (int i = 0; i < 2; i++) {
		const float *a, *b;
		size_t na, nb;

		ck_assert_int_eq(enpu_session_eval(r.s[2 + i], &next[i], 1), ENPU_OK);
		ck_assert_uint_eq(enpu_session_n_past(r.s[i]), enpu_session_n_past(r.s[2 + i]));
		ck_assert_int_eq(enpu_session_logits(r.s[i], &a, &na), ENPU_OK);
		ck_assert_int_eq(enpu_session_logits(r.s[2 + i], &b, &nb), ENPU_OK);
		ck_assert(!memcmp(a, b, na * sizeof(float)));
	}
	rig_close(&r);
}
END_TEST

/*
 * The batched run of the job thread stops within one op once its cancel flag is set (every
 * job in it cancelled): ENPU_ERR_CANCELLED and nothing committed, so each session still has
 * its pending token, which a later run evaluates.
 */
START_TEST(batched_run_cancels_within_an_op)
{
	const char *prompts[3] = { "Once upon a time", "The quick brown fox", "Hello" };
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	uint32_t past[3];
	struct rig r;
	int flag = 1;

	rig_open(&r, 3);
	for (int i = 0; i < 3; i++) {
		struct streamed out = { .n = 0 };

		ck_assert_int_eq(enpu_generate(r.s[i], prompts[i], 3, &greedy, keep, &out, NULL),
				 ENPU_OK);
		past[i] = enpu_session_n_past(r.s[i]); /* the last token is pending */
	}
	ck_assert_int_eq(drv_eval_pending_many(r.s, 3, &flag), ENPU_ERR_CANCELLED);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "cancelled"), "%s",
		      enpu_last_error(r.ctx));
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(enpu_session_n_past(r.s[i]), past[i]);
	flag = 0;
	ck_assert_int_eq(drv_eval_pending_many(r.s, 3, &flag), ENPU_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(enpu_session_n_past(r.s[i]), past[i] + 1);
	rig_close(&r);
}
END_TEST

/*
 * Generations the job thread batches: cancelling one leaves the others' tokens exactly as
 * alone; cancelling all ends every one with ENPU_ERR_CANCELLED.
 */
START_TEST(cancel_in_a_batch)
{
	const char *prompts[3] = { "Once upon a time", "The quick brown fox", "Hello" };
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct streamed want[3];
	struct rig r;
	enpu_job *j[3];

	greedy.ignore_eos = true;
	for (int i = 1; i < 3; i++) {
		struct rig one;

		want[i].n = 0;
		rig_open(&one, 1);
		ck_assert_int_eq(enpu_generate(one.s[0], prompts[i], 24, &greedy, keep, &want[i],
					       NULL), ENPU_OK);
		rig_close(&one);
	}
	for (int round = 0; round < 2; round++) {
		rig_open(&r, 3);
		for (int i = 0; i < 3; i++) {
			struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;

			o.kind = ENPU_JOB_GENERATE;
			o.prompt = prompts[i];
			/* the jobs to cancel run to the end of the context, so they are still running */
			o.n_predict = i == 0 || round ? 200 : 24;
			o.sampler = &greedy;
			ck_assert_int_eq(enpu_job_submit(r.s[i], &o, &j[i]), ENPU_OK);
		}
		for (int i = 0; i < (round ? 3 : 1); i++)
			ck_assert_int_eq(enpu_job_cancel(j[i]), ENPU_OK);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(enpu_job_wait(j[i], 10000), ENPU_OK);
			struct enpu_job_result res = result_of(j[i]);

			if (i == 0 || round) {
				ck_assert_int_eq(res.status, ENPU_ERR_CANCELLED);
			} else {
				ck_assert_int_eq(res.status, ENPU_OK);
				ck_assert_uint_eq(res.n_tokens, want[i].n);
				ck_assert(!memcmp(res.tokens, want[i].t,
						  want[i].n * sizeof(enpu_token)));
			}
			enpu_job_free(j[i]);
		}
		rig_close(&r);
	}
}
END_TEST

/*
 * The example program (driver/examples/jobs_epoll.c) as a user runs it: three requests from
 * one epoll loop, each streamed, the third cancelled after its third token.
 */
START_TEST(example_program_runs)
{
	if (!model_path)
		make_model();
	struct tu_run r = tu_run("%s %s 10", getenv("JOBS_EPOLL"), model_path);

	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.out, "[0] done: ENPU_OK, 10 tokens"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "[1] done: ENPU_OK, 10 tokens"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "[2] done: ENPU_ERR_CANCELLED, "), "%s", r.out);
	tu_run_free(&r);
}
END_TEST

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/*
 * A process with a long generate job running on the in-process NPU (its job thread, the
 * device's thread) is SIGKILLed mid-job. Its runtime files are left as they were, with their
 * leases (DVFS directory, telemetry) held by no one: the next client takes the device and runs
 * to completion, the dead client's telemetry is stale (not listed), and this process's fds are
 * as many after as before.
 */
START_TEST(killed_client_leaves_others_working)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	int ready[2], fds0;
	char c;
	pid_t pid;

	if (!model_path)
		make_model();
	ck_assert_int_eq(setenv("ENPU_SYSFS_DIR", tu_tmp_path(".rt"), 1), 0);
	co.device = "npu";
	fds0 = count_fds();
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		enpu_context *ctx;
		enpu_model *m;
		enpu_session *s;
		struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
		enpu_job *j;
		struct pollfd p;

		o.kind = ENPU_JOB_GENERATE;
		o.prompt = "Once upon a time";
		o.n_predict = 100000;
		if (enpu_context_create(&co, &ctx) || enpu_model_load(ctx, model_path, NULL, &m) ||
		    enpu_session_create(m, NULL, &s) || enpu_job_submit(s, &o, &j))
			_exit(1);
		p = (struct pollfd){ .fd = enpu_job_fd(j), .events = POLLIN };
		/* the first token: the job is running */
		if (poll(&p, 1, 60000) != 1 || write(ready[1], "r", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	close(ready[0]);
	close(ready[1]);

	struct hal_telem_proc procs[8];
	int n = hal_telem_scan(NULL, procs, 8, true);

	for (int i = 0; i < n; i++)
		ck_assert_msg(procs[i].pid != pid, "the killed client is still listed");
	{
		enpu_context *ctx;
		enpu_model *m;
		enpu_session *s;
		enpu_job *j;
		struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;

		o.kind = ENPU_JOB_GENERATE;
		o.prompt = "Once upon a time";
		o.n_predict = 8;
		ck_assert_int_eq(enpu_context_create(&co, &ctx), ENPU_OK);
		ck_assert_int_eq(enpu_model_load(ctx, model_path, NULL, &m), ENPU_OK);
		ck_assert_int_eq(enpu_session_create(m, NULL, &s), ENPU_OK);
		ck_assert_int_eq(enpu_job_submit(s, &o, &j), ENPU_OK);
		ck_assert_int_eq(enpu_job_wait(j, -1), ENPU_OK);
		ck_assert_int_eq(result_of(j).status, ENPU_OK);
		ck_assert(result_of(j).stats.n_generated == 8 || result_of(j).stats.stopped_at_eos);
		enpu_job_free(j);
		enpu_session_free(s);
		enpu_model_free(m);
		enpu_context_destroy(ctx);
	}
	ck_assert_int_eq(count_fds(), fds0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jobs");
	TCase *tc = tcase_create("jobs");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, eval_job_matches_blocking_eval);
	tcase_add_test(tc, generate_jobs_interleave_and_match);
	tcase_add_test(tc, cancel_stops_a_generation);
	tcase_add_test(tc, completion_queue_delivers_each_job_once);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, eval_many_takes_pending_tokens_first);
	tcase_add_test(tc, batched_run_cancels_within_an_op);
	tcase_add_test(tc, cancel_in_a_batch);
	tcase_add_test(tc, example_program_runs);
	tcase_add_test(tc, session_busy_with_jobs_refuses_calls);
	tcase_add_test(tc, first_jobs_and_errors_seen_by_other_threads);
	tcase_add_test(tc, killed_client_leaves_others_working);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(model_path);
	return failed ? 1 : 0;
}
