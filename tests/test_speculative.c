/* SPDX-License-Identifier: MIT */
/*
 * test_speculative.c - speculative decoding (enpu_session_options.draft): greedy output is
 * plain greedy decoding's token for token over thousands of steps, with a Q4_0 self-draft
 * (most proposals accepted) and with an unrelated draft (most rejected), at fixed and
 * adaptive k, across generate calls and near the end of the context; with a temperature the
 * tokens follow the sampler's distribution (a chi-square test of 3-token sequences against
 * the exact probabilities); a trace shows the draft and verify slices; a draft of another
 * vocabulary and bad options are refused. Overlapped (spec_overlap: the draft pre-drafts the
 * next block on a thread of its own while the session verifies) the same: greedy output equal
 * to plain decoding's over thousands of tokens, pre-drafted blocks used, and with a
 * temperature 4-token sequences (the 4th often from a pre-drafted block) fit their exact
 * probabilities. The cost model's overlapped form at its limits. A speculating job's cancel
 * stops the draft's catch-up on the prompt within an op.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/internal.h"
#include "edge_npu.h"
#include "hal/npu/npu_sim.h"
#include "sched/cost.h"
#include "testutil.h"

/*
 * Under ThreadSanitizer (tests/run-all.sh runs this suite there for the overlapped draft's
 * thread) every generation is 5 times shorter: the races would be in each round, not in the
 * length, and TSan's tenfold slowdown would take the suite past its timeout.
 */
#if defined(__SANITIZE_THREAD__)
#define SCALE(n) ((n) / 5)
#else
#define SCALE(n) (n)
#endif

static enpu_context *ctx;
static enpu_model *target, *self_draft, *other_draft;
static char *target_path, *other_path;

static void setup(void)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;

	co.device = "cpu";
	ck_assert_int_eq(enpu_context_create(&co, &ctx), ENPU_OK);
	target_path = tu_small_model(128, 256, 2048, HAL_TYPE_Q8_0, 11, NULL);
	other_path = tu_small_model(128, 256, 2048, HAL_TYPE_Q8_0, 12, NULL);
	ck_assert_msg(enpu_model_load(ctx, target_path, NULL, &target) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
	ck_assert_msg(enpu_model_load(ctx, other_path, NULL, &other_draft) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
	ck_assert_msg(enpu_model_make_draft(target, "q4_0", &self_draft) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
}

static void teardown(void)
{
	enpu_model_free(self_draft);
	enpu_model_free(other_draft);
	enpu_model_free(target);
	enpu_context_destroy(ctx);
	remove(target_path);
	remove(other_path);
	free(target_path);
	free(other_path);
}

static enpu_session *session_ov(enpu_model *draft, uint32_t k, bool fixed, uint32_t n_ctx,
				bool overlap)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_session *s;

	so.n_ctx = n_ctx;
	so.draft = draft;
	so.spec_k = k;
	so.spec_fixed_k = fixed;
	so.spec_overlap = overlap;
	ck_assert_msg(enpu_session_create(target, &so, &s) == ENPU_OK, "%s", enpu_last_error(ctx));
	return s;
}

static enpu_session *session(enpu_model *draft, uint32_t k, bool fixed, uint32_t n_ctx)
{
	return session_ov(draft, k, fixed, n_ctx, false);
}

struct tokens {
	enpu_token *t;
	uint32_t n, cap;
};

static bool collect(enpu_token token, const char *piece, size_t len, void *user)
{
	struct tokens *c = user;

	(void)piece;
	(void)len;
	ck_assert_uint_lt(c->n, c->cap);
	c->t[c->n++] = token;
	return true;
}

/* Generates in calls of `chunk` tokens (each continuing the last) up to n tokens in all. */
static void generate(enpu_session *s, uint32_t n, uint32_t chunk,
		     const struct enpu_sampler_options *so, struct tokens *out)
{
	out->t = malloc(sizeof(*out->t) * n);
	out->cap = n;
	out->n = 0;
	for (const char *prompt = "Once upon a time"; out->n < n; prompt = "") {
		const uint32_t want = n - out->n < chunk ? n - out->n : chunk;
		enpu_status st = enpu_generate(s, prompt, want, so, collect, out, NULL);
		ck_assert_msg(st == ENPU_OK, "%s", enpu_last_error(ctx));
	}
}

/*
 * Greedy speculation with draft at k (fixed or adaptive, overlapped or not) against plain
 * greedy, n tokens; *ss gets the speculation's statistics.
 */
static void check_greedy_ov(enpu_model *draft, uint32_t k, bool fixed, bool overlap, uint32_t n,
			    uint32_t chunk, double *acceptance, struct enpu_spec_stats *out)
{
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_session *plain = session(NULL, 0, false, 2048);
	enpu_session *spec = session_ov(draft, k, fixed, 2048, overlap);
	struct tokens a, b;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;

	n = SCALE(n);
	so.ignore_eos = true;
	generate(plain, n, chunk, &so, &a);
	generate(spec, n, chunk, &so, &b);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_msg(a.t[i] == b.t[i], "token %u: %d without speculation, %d with (k %u%s%s)",
			      i, a.t[i], b.t[i], k, fixed ? "" : " adaptive",
			      overlap ? " overlapped" : "");
	ck_assert_uint_eq(enpu_session_n_past(plain), enpu_session_n_past(spec));
	ck_assert_int_eq(enpu_session_spec_stats(spec, &ss), ENPU_OK);
	ck_assert_uint_gt(ss.verifications, 0);
	ck_assert_uint_le(ss.accepted, ss.drafted);
	/* at most one rejection a verification; a verification accepts k or stops at one */
	ck_assert_uint_le(ss.rejected, ss.verifications);
	ck_assert_uint_eq(ss.drafted - ss.accepted > 0, ss.rejected > 0);
	*acceptance = (double)ss.accepted / (double)ss.drafted;
	if (out)
		*out = ss;
	free(a.t);
	free(b.t);
	enpu_session_free(plain);
	enpu_session_free(spec);
}

static void check_greedy(enpu_model *draft, uint32_t k, bool fixed, uint32_t n, uint32_t chunk,
			 double *acceptance)
{
	check_greedy_ov(draft, k, fixed, false, n, chunk, acceptance, NULL);
}

START_TEST(greedy_self_draft_equals_plain)
{
	double acc;

	/* 1900 tokens in calls of 97: every call boundary leaves a pending token */
	check_greedy(self_draft, 4, true, 1900, 97, &acc);
	ck_assert_msg(acc > 0.3, "a Q4_0 copy of the model agrees with it on %.2f only", acc);
	check_greedy(self_draft, 16, false, 1900, 1900, &acc);
}
END_TEST

/* A draft of the same weights (Q8_0 of a Q8_0 model) with the same arithmetic: all accepted. */
START_TEST(identical_draft_accepts_all)
{
	enpu_model *same;
	double acc;

	ck_assert_int_eq(enpu_model_make_draft(target, "q8_0", &same), ENPU_OK);
	check_greedy(same, 5, true, 400, 400, &acc);
	ck_assert_msg(acc == 1.0, "a draft of the model's own weights had %.4f accepted", acc);
	enpu_model_free(same);
}
END_TEST

START_TEST(greedy_other_draft_equals_plain)
{
	double acc;

	/* an unrelated model: nearly every proposal rejected, the verifier's token emitted */
	check_greedy(other_draft, 3, true, 1500, 1500, &acc);
	check_greedy(other_draft, 8, false, 600, 61, &acc);
}
END_TEST

/* Near the end of the context: k shrinks to fit, and the context-full error is plain's. */
START_TEST(context_end)
{
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_session *plain = session(NULL, 0, false, 64), *spec = session(self_draft, 8, true, 64);
	struct enpu_generate_stats sa = ENPU_GENERATE_STATS_INIT, sb = ENPU_GENERATE_STATS_INIT;
	struct tokens a = { malloc(sizeof(enpu_token) * 100), 0, 100 };
	struct tokens b = { malloc(sizeof(enpu_token) * 100), 0, 100 };

	so.ignore_eos = true;
	ck_assert_int_eq(enpu_generate(plain, "Once upon a time", 100, &so, collect, &a, &sa),
			 ENPU_ERR_CONTEXT_FULL);
	ck_assert_int_eq(enpu_generate(spec, "Once upon a time", 100, &so, collect, &b, &sb),
			 ENPU_ERR_CONTEXT_FULL);
	ck_assert_uint_eq(a.n, b.n);
	ck_assert_uint_eq(sa.n_generated, sb.n_generated);
	ck_assert(sb.stopped_at_ctx_full);
	ck_assert_mem_eq(a.t, b.t, sizeof(enpu_token) * a.n);
	ck_assert_uint_eq(enpu_session_n_past(plain), enpu_session_n_past(spec));
	free(a.t);
	free(b.t);
	enpu_session_free(plain);
	enpu_session_free(spec);
}
END_TEST

/* After a truncate the draft follows the session's new sequence. */
START_TEST(truncate_then_continue)
{
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_session *plain = session(NULL, 0, false, 512), *spec = session(self_draft, 6, false, 512);
	struct tokens a, b;

	so.ignore_eos = true;
	generate(plain, 100, 100, &so, &a);
	generate(spec, 100, 100, &so, &b);
	ck_assert_int_eq(enpu_session_truncate(plain, 40), ENPU_OK);
	ck_assert_int_eq(enpu_session_truncate(spec, 40), ENPU_OK);
	free(a.t);
	free(b.t);
	generate(plain, 150, 150, &so, &a);
	generate(spec, 150, 150, &so, &b);
	ck_assert_mem_eq(a.t, b.t, sizeof(enpu_token) * 150);
	free(a.t);
	free(b.t);
	enpu_session_free(plain);
	enpu_session_free(spec);
}
END_TEST

/*
 * A state saved in the middle of a speculative generation and restored into a new session
 * (its draft fresh) carries its tokens: the draft re-reads them and speculation goes on,
 * greedy output still plain decoding's.
 */
START_TEST(restored_state_keeps_speculating)
{
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	enpu_session *plain = session(NULL, 0, false, 512), *spec = session(self_draft, 4, true, 512);
	enpu_session *back = session(self_draft, 4, true, 512);
	struct tokens a, b, c;
	size_t len;

	so.ignore_eos = true;
	generate(plain, 160, 160, &so, &a);
	generate(spec, 60, 60, &so, &b);
	len = enpu_session_state_size(spec);
	void *buf = malloc(len);
	ck_assert_int_eq(enpu_session_state_save(spec, buf, len, NULL), ENPU_OK);
	ck_assert_msg(enpu_session_state_load(back, buf, len) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
	c.t = malloc(sizeof(*c.t) * 100);
	c.cap = 100;
	c.n = 0;
	ck_assert_int_eq(enpu_generate(back, "", 100, &so, collect, &c, NULL), ENPU_OK);
	ck_assert_mem_eq(a.t, b.t, sizeof(enpu_token) * 60);
	ck_assert_mem_eq(a.t + 60, c.t, sizeof(enpu_token) * 100);
	ck_assert_int_eq(enpu_session_spec_stats(back, &ss), ENPU_OK);
	/* plain only while the new session measures its one-token step (two steps at most) */
	ck_assert_uint_gt(ss.verifications, 10);
	ck_assert_uint_le(ss.plain_steps, 2);
	free(buf);
	free(a.t);
	free(b.t);
	free(c.t);
	enpu_session_free(plain);
	enpu_session_free(spec);
	enpu_session_free(back);
}
END_TEST

/* Submits a generate job of n greedy tokens on s (prompt "Once upon a time"). */
static enpu_job *job_generate(enpu_session *s, uint32_t n, const struct enpu_sampler_options *so)
{
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	enpu_job *j;

	o.kind = ENPU_JOB_GENERATE;
	o.prompt = "Once upon a time";
	o.n_predict = n;
	o.sampler = so;
	ck_assert_int_eq(enpu_job_submit(s, &o, &j), ENPU_OK);
	return j;
}

/* j's result once it finished, its tokens n and plain decoding's ref. */
static void job_check(enpu_job *j, uint32_t n, const struct tokens *ref)
{
	struct enpu_job_result r = ENPU_JOB_RESULT_INIT;

	ck_assert_int_eq(enpu_job_wait(j, -1), ENPU_OK);
	ck_assert_int_eq(enpu_job_result(j, &r), ENPU_OK);
	ck_assert_msg(r.status == ENPU_OK, "%s", r.error);
	ck_assert_uint_eq(r.n_tokens, n);
	ck_assert_mem_eq(r.tokens, ref->t, sizeof(enpu_token) * n);
	enpu_job_free(j);
}

/*
 * Async generate jobs speculate as enpu_generate does: two speculating sessions' jobs and a
 * plain one's in the same rounds of the job thread give plain decoding's greedy tokens, with
 * verifications counted; a cancelled speculative job leaves a session that generates on.
 */
START_TEST(async_jobs_speculate)
{
	enpu_session *plain = session(NULL, 0, false, 512), *a = session(self_draft, 4, true, 512);
	enpu_session *b = session_ov(other_draft, 3, false, 512, true);
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	struct tokens ref;
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_job *ja;
	const uint32_t n = SCALE(150);

	so.ignore_eos = true;
	generate(plain, n, n, &so, &ref);
	ck_assert_int_eq(enpu_session_reset(plain), ENPU_OK);
	/* all three queued before any is waited for: the job thread's rounds take them together */
	enpu_job *j[3] = { job_generate(plain, n, &so), job_generate(a, n, &so),
			   job_generate(b, n, &so) };
	for (int i = 0; i < 3; i++)
		job_check(j[i], n, &ref);
	ck_assert_int_eq(enpu_session_spec_stats(a, &ss), ENPU_OK);
	ck_assert_uint_gt(ss.verifications, 5);
	ck_assert_int_eq(enpu_session_spec_stats(b, &ss), ENPU_OK);
	ck_assert_uint_gt(ss.verifications, 5);

	/* submitted and cancelled at once, then generate again from where it stopped */
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	struct enpu_job_result r = ENPU_JOB_RESULT_INIT;
	o.kind = ENPU_JOB_GENERATE;
	o.prompt = "";
	o.n_predict = 200;
	o.sampler = &so;
	ck_assert_int_eq(enpu_job_submit(a, &o, &ja), ENPU_OK);
	enpu_job_cancel(ja); /* ENPU_ERR_INVALID_ARG if it already finished: either is fine */
	ck_assert_int_eq(enpu_job_wait(ja, -1), ENPU_OK);
	ck_assert_int_eq(enpu_job_result(ja, &r), ENPU_OK);
	ck_assert(r.status == ENPU_OK || r.status == ENPU_ERR_CANCELLED);
	enpu_job_free(ja);
	struct tokens more;
	generate(a, 20, 20, &so, &more);
	free(more.t);
	free(ref.t);
	enpu_session_free(plain);
	enpu_session_free(a);
	enpu_session_free(b);
}
END_TEST

/* The ops in usage[0..n) of device (every device's: NULL). */
static uint64_t ops_of(const struct enpu_device_usage *usage, uint32_t n, const char *device)
{
	uint64_t ops = 0;

	for (uint32_t i = 0; i < n; i++)
		ops += !device || !strcmp(usage[i].device, device) ? usage[i].ops : 0;
	return ops;
}

/*
 * A token callback that stops the NPU's thread (npu_sim_debug_freeze) at the first token of
 * verification `at`: the verifier's batch is done, the draft's pre-draft of the next block
 * (posted before it) still runs.
 */
struct freeze_at {
	enpu_session *s;
	struct hal_device *npu;
	uint64_t at, seen;
	uint32_t n;
};

static bool freeze_npu_at(enpu_token token, const char *piece, size_t len, void *user)
{
	struct freeze_at *f = user;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;

	(void)token, (void)piece, (void)len;
	f->n++;
	ck_assert_int_eq(enpu_session_spec_stats(f->s, &ss), ENPU_OK);
	if (ss.verifications == f->at && f->seen < f->at)
		npu_sim_debug_freeze(f->npu, true);
	f->seen = ss.verifications;
	return true;
}

/*
 * Overlapped, the draft pre-drafts on a thread of its own, here on the NPU (the context's
 * last device; the verifier's "auto" plan leaves the draft's class out, so it runs on the
 * CPU). The draft is the model itself (its Q8_0 weights shared), so that every block is
 * accepted and the main thread leaves the draft to its thread. The NPU stops at the first
 * token of the second verification, while the draft pre-drafts the next block (nine NPU
 * evaluations against the verifier's one batch on the CPU): the draft's thread fails, and the
 * caller gets that failure with its message on its own thread (the message stayed in the
 * draft thread's copy: enpu_last_error() of the caller was empty).
 */
START_TEST(draft_thread_failure_is_reported)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_sampler_options sa = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_context *c;
	enpu_model *m, *d;
	enpu_session *s;

	co.devices = "cpu,npu";
	ck_assert_int_eq(enpu_context_create(&co, &c), ENPU_OK);
	ck_assert_msg(enpu_model_load(c, target_path, NULL, &m) == ENPU_OK, "%s",
		      enpu_last_error(c));
	ck_assert_msg(enpu_model_make_draft(m, "q8_0", &d) == ENPU_OK, "%s", enpu_last_error(c));
	so.n_ctx = 512;
	so.placement = "auto";
	so.draft = d;
	so.spec_k = 8;
	so.spec_fixed_k = true;
	so.spec_overlap = true;
	ck_assert_msg(enpu_session_create(m, &so, &s) == ENPU_OK, "%s", enpu_last_error(c));
	struct freeze_at f = { .s = s, .npu = c->devices[c->n_devices - 1], .at = 2 };
	ck_assert_str_eq(f.npu->name, "npu");
	sa.ignore_eos = true;
	enpu_status st = enpu_generate(s, "Once upon a time", 64, &sa, freeze_npu_at, &f, NULL);
	const char *e = enpu_last_error(c);
	ck_assert_msg(st != ENPU_OK && (strstr(e, "stalled") || strstr(e, "lost")),
		      "status %d after %u tokens: '%s'", st, f.n, e);
	npu_sim_debug_freeze(f.npu, false);
	enpu_session_free(s);
	enpu_model_free(d);
	enpu_model_free(m);
	enpu_context_destroy(c);
}
END_TEST

/*
 * A speculating job cancelled right after its first token stops within an op, as a plain
 * one does: its next step has the draft catch up on the whole prompt, and the draft's ops did
 * not see the job's cancel flag (the cancel took as long as that prefill). The prompt is long
 * (~1700 of the 2048 positions) so that each of the draft's prefill ops lasts: on a loaded
 * host the cancel lands a few ms after the first token, which at 900 tokens was most of the
 * draft's graph once (32 of its ops).
 */
START_TEST(cancel_stops_the_drafts_prefill)
{
	enpu_session *a = session(self_draft, 4, true, 2048);
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
	struct enpu_job_result r = ENPU_JOB_RESULT_INIT;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	struct enpu_device_usage usage[ENPU_MAX_DEVICES];
	char prompt[8192] = "";
	enpu_job *j;

	for (int i = 0; i < 280; i++)
		strcat(prompt, "the cat sat on a mat ");
	so.ignore_eos = true;
	o.kind = ENPU_JOB_GENERATE;
	o.prompt = prompt;
	o.n_predict = 20;
	o.sampler = &so;
	ck_assert_int_eq(enpu_job_submit(a, &o, &j), ENPU_OK);
	do {
		struct pollfd p = { .fd = enpu_job_fd(j), .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, -1), 1);
		ck_assert_int_eq(enpu_job_result(j, &r), ENPU_OK);
	} while (!r.n_tokens && !r.finished);
	ck_assert_int_eq(enpu_job_cancel(j), ENPU_OK);
	ck_assert_int_eq(enpu_job_wait(j, -1), ENPU_OK);
	ck_assert_int_eq(enpu_job_result(j, &r), ENPU_OK);
	ck_assert_int_eq(r.status, ENPU_ERR_CANCELLED);
	enpu_job_free(j);
	/* the session's own prefill ran in full; the draft's stopped within its first graph */
	const uint64_t own =
		ops_of(usage, enpu_session_device_usage(a, usage, ENPU_MAX_DEVICES), NULL);
	ck_assert_int_eq(enpu_session_spec_stats(a, &ss), ENPU_OK);
	const uint64_t draft = ops_of(ss.draft_devices, ss.n_devices, NULL);
	ck_assert_msg(draft * 3 < own, "the draft ran %" PRIu64 " ops after the cancel, the "
		      "session's prefill %" PRIu64, draft, own);
	enpu_session_free(a);
}
END_TEST

/*
 * The verifier's rows equal one-token steps on the NPU (in process) and on the GPU (OpenCL,
 * when the machine has one) too: greedy speculation with a Q4_0 draft gives plain decoding's
 * tokens on each.
 */
START_TEST(greedy_equals_plain_on_npu_and_gpu)
{
	static const char *const devices[] = { "npu", "gpu" };

	for (int i = 0; i < 2; i++) {
		struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
		struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
		struct enpu_sampler_options sa = ENPU_SAMPLER_OPTIONS_INIT;
		struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
		enpu_context *c;
		enpu_model *m, *d;
		enpu_session *plain, *spec;
		struct tokens a, b;
		const uint32_t n = SCALE(200);

		co.device = devices[i];
		if (enpu_context_create(&co, &c) != ENPU_OK) {
			ck_assert_msg(i == 1, "no npu context: %s", enpu_last_error(NULL));
			printf("greedy_equals_plain_on_npu_and_gpu: no GPU here (%s)\n",
			       enpu_last_error(NULL));
			continue;
		}
		ck_assert_msg(enpu_model_load(c, target_path, NULL, &m) == ENPU_OK, "%s",
			      enpu_last_error(c));
		ck_assert_msg(enpu_model_make_draft(m, "q4_0", &d) == ENPU_OK, "%s",
			      enpu_last_error(c));
		so.n_ctx = 512;
		ck_assert_int_eq(enpu_session_create(m, &so, &plain), ENPU_OK);
		so.draft = d;
		so.spec_k = 4;
		ck_assert_int_eq(enpu_session_create(m, &so, &spec), ENPU_OK);
		sa.ignore_eos = true;
		a = (struct tokens){ malloc(sizeof(enpu_token) * n), 0, n };
		b = (struct tokens){ malloc(sizeof(enpu_token) * n), 0, n };
		ck_assert_int_eq(enpu_generate(plain, "Once upon a time", n, &sa, collect, &a, NULL),
				 ENPU_OK);
		ck_assert_msg(enpu_generate(spec, "Once upon a time", n, &sa, collect, &b, NULL) ==
			      ENPU_OK, "%s: %s", devices[i], enpu_last_error(c));
		for (uint32_t t = 0; t < n; t++)
			ck_assert_msg(a.t[t] == b.t[t], "%s, token %u: %d plain, %d speculating",
				      devices[i], t, a.t[t], b.t[t]);
		ck_assert_int_eq(enpu_session_spec_stats(spec, &ss), ENPU_OK);
		ck_assert_uint_gt(ss.verifications, 5);
		free(a.t);
		free(b.t);
		enpu_session_free(spec);
		enpu_session_free(plain);
		enpu_model_free(d);
		enpu_model_free(m);
		enpu_context_destroy(c);
	}
}
END_TEST

/* Top-3 probabilities (temperature 1) of s's logits: ids into id[], probabilities into p[]. */
static void top3(enpu_session *s, enpu_token id[3], double p[3])
{
	const float *lg;
	size_t n;

	ck_assert_int_eq(enpu_session_logits(s, &lg, &n), ENPU_OK);
	for (int j = 0; j < 3; j++) {
		id[j] = -1;
		for (size_t i = 0; i < n; i++) {
			bool taken = false;
			for (int t = 0; t < j; t++)
				taken |= id[t] == (enpu_token)i;
			if (!taken && (id[j] < 0 || lg[i] > lg[id[j]]))
				id[j] = (enpu_token)i;
		}
	}
	double sum = 0.0;
	for (int j = 0; j < 3; j++)
		sum += p[j] = exp((double)(lg[id[j]] - lg[id[0]]));
	for (int j = 0; j < 3; j++)
		p[j] /= sum;
}

/* The most tokens a distribution check follows (3^MAX_DEPTH sequences). */
#define MAX_DEPTH 4
#define MAX_SEQ 81 /* 3^MAX_DEPTH */

/*
 * Temperature 1, top-k 3: the first `depth` tokens generated after a prompt take 3^depth
 * values; their exact probabilities come from plain evaluations of every branch. `draws`
 * sequences drawn with speculation (draft, k fixed, overlapped or not) must fit them:
 * chi-square below chi2_max (3^depth - 1 degrees of freedom, p = 0.001). *out gets the
 * speculation's statistics.
 */
static void check_distribution(enpu_model *draft, uint32_t k, bool overlap, int depth,
			       uint32_t draws, double chi2_max, struct enpu_spec_stats *out)
{
	const char *prompt = "The cat";
	enpu_session *ref = session(NULL, 0, false, 64);
	/* level l, prefix index (the first l tokens' top-3 ranks in base 3): the top 3 next */
	static enpu_token id[MAX_DEPTH][MAX_SEQ / 3][3];
	static double p[MAX_DEPTH][MAX_SEQ / 3][3];
	enpu_token prompt_toks[16];
	size_t n_prompt;
	int n_seq = 1;

	ck_assert_int_le(depth, MAX_DEPTH);
	draws = SCALE(draws);
	ck_assert_int_eq(enpu_tokenize(target, prompt, strlen(prompt), true, prompt_toks, 16,
				       &n_prompt), ENPU_OK);
	for (int l = 0; l < depth; l++, n_seq *= 3)
		for (int pi = 0; pi < n_seq; pi++) {
			enpu_token seq[MAX_DEPTH];
			ck_assert_int_eq(enpu_session_truncate(ref, 0), ENPU_OK);
			ck_assert_int_eq(enpu_session_eval(ref, prompt_toks, n_prompt), ENPU_OK);
			/* the prefix's tokens, from the first: digit j of pi (most significant
			 * first) is token j's rank */
			for (int j = 0, up = 0, div = n_seq / 3; j < l; j++, div /= 3) {
				const int r = pi / (div ? div : 1) % 3;
				seq[j] = id[j][up][r];
				up = up * 3 + r;
				ck_assert_int_eq(enpu_session_eval(ref, &seq[j], 1), ENPU_OK);
			}
			top3(ref, id[l][pi], p[l][pi]);
		}
	enpu_session_free(ref);

	uint32_t count[MAX_SEQ] = { 0 };
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_session *spec = session_ov(draft, k, true, 64, overlap);

	so.temperature = 1.0f;
	so.top_k = 3;
	so.ignore_eos = true;
	for (uint32_t d = 0; d < draws; d++) {
		enpu_token t[MAX_DEPTH];
		struct tokens c = { t, 0, (uint32_t)depth };
		int pi = 0;

		so.seed = 1000 + d;
		ck_assert_int_eq(enpu_session_reset(spec), ENPU_OK);
		ck_assert_int_eq(enpu_generate(spec, prompt, (uint32_t)depth, &so, collect, &c, NULL),
				 ENPU_OK);
		ck_assert_uint_eq(c.n, (uint32_t)depth);
		for (int l = 0; l < depth; l++) {
			int r = -1;
			for (int j = 0; j < 3; j++)
				r = id[l][pi][j] == t[l] ? j : r;
			ck_assert_msg(r >= 0, "token %d of draw %u is not in the top 3", l, d);
			pi = pi * 3 + r;
		}
		count[pi]++;
	}
	double chi2 = 0.0;
	for (int pi = 0; pi < n_seq; pi++) {
		double want = draws;
		for (int l = 0, up = 0, div = n_seq / 3; l < depth; l++, div /= 3) {
			const int r = pi / (div ? div : 1) % 3;
			want *= p[l][up][r];
			up = up * 3 + r;
		}
		const double diff = count[pi] - want;
		chi2 += diff * diff / want;
	}
	ck_assert_int_eq(enpu_session_spec_stats(spec, out), ENPU_OK);
	ck_assert_msg(chi2 < chi2_max, "chi-square %.1f over %d sequences (%d df, p = 0.001: %.2f)",
		      chi2, n_seq, n_seq - 1, chi2_max);
	enpu_session_free(spec);
}

/*
 * An unrelated draft: its proposals are often rejected, so the residual draws count. 27
 * sequences, 26 degrees of freedom.
 */
START_TEST(sampling_keeps_distribution)
{
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;

	check_distribution(other_draft, 2, false, 3, 6000, 54.05, &ss);
	/* the residual path ran: many proposals were rejected */
	ck_assert_uint_gt(ss.drafted - ss.accepted, SCALE(6000) / 10);
}
END_TEST

/*
 * Overlapped, k 1, 4 tokens: the first is a plain step, the second and third one
 * verification, the fourth often from the block the draft pre-drafted during it (when the
 * verifier's third token was the draft's guess). 81 sequences, 80 degrees of freedom.
 */
START_TEST(overlapped_sampling_keeps_distribution)
{
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;

	check_distribution(self_draft, 1, true, 4, 6000, 124.84, &ss);
	ck_assert_msg(ss.predraft_used > SCALE(6000) / 10, "%llu of %llu pre-drafted blocks used",
		      (unsigned long long)ss.predraft_used, (unsigned long long)ss.predrafted);
	ck_assert_uint_le(ss.predraft_used, ss.predrafted);
}
END_TEST

/*
 * Overlapped greedy: plain decoding's tokens with a Q4_0 self-draft (calls of 97 tokens:
 * every call boundary drops a pre-drafted block), adaptive k, a draft of the model's own
 * weights (every block accepted and pre-drafted blocks used) and an unrelated one (nearly
 * every pre-draft stopped by a rejection).
 */
START_TEST(overlapped_greedy_equals_plain)
{
	struct enpu_spec_stats ss;
	enpu_model *same;
	double acc;

	check_greedy_ov(self_draft, 4, true, true, 1900, 97, &acc, &ss);
	ck_assert_msg(acc > 0.3, "a Q4_0 copy of the model agrees with it on %.2f only", acc);
	ck_assert_uint_gt(ss.predrafted, 0);
	check_greedy_ov(self_draft, 16, false, true, 1900, 1900, &acc, &ss);
	ck_assert_int_eq(enpu_model_make_draft(target, "q8_0", &same), ENPU_OK);
	check_greedy_ov(same, 5, true, true, 600, 600, &acc, &ss);
	ck_assert_msg(acc == 1.0, "a draft of the model's own weights had %.4f accepted", acc);
	/* all accepted and the guess right: all but the blocks near the end used */
	ck_assert_msg(ss.predraft_used + 2 >= ss.predrafted && ss.predraft_used > SCALE(600) / 12,
		      "%llu of %llu pre-drafted blocks used", (unsigned long long)ss.predraft_used,
		      (unsigned long long)ss.predrafted);
	/*
	 * How long both sides were busy at once (ss.overlap_ms) depends on the host's scheduler:
	 * on a loaded or one-core machine the draft thread may never run beside the verifier.
	 * It is a figure npu-bench spec reports, not a property to assert.
	 */
	enpu_model_free(same);
	check_greedy_ov(other_draft, 3, true, true, 1200, 1200, &acc, &ss);
}
END_TEST

/*
 * Overlapped under "auto" placement on the phone profile, on a context with the GPU and the
 * in-process NPU: the draft runs on the NPU (the fixed rule: the context's last device),
 * pre-drafts beside the verification, and no op of the verifier runs on the NPU. (This test
 * model is small enough that its plan keeps off the NPU anyway; test_sched's
 * reserved_class_left_out_of_plans shows the reservation moving ops off it.)
 */
START_TEST(overlapped_verifier_keeps_off_the_drafts_device)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_sampler_options sa = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	struct enpu_device_usage u[ENPU_MAX_DEVICES];
	enpu_context *c3;
	enpu_model *m, *d;
	enpu_session *s;

	/* wide enough that the phone plan gives the NPU matmuls (the suite's model is not) */
	char *wide = tu_small_model(512, 1024, 256, HAL_TYPE_Q8_0, 13, NULL);

	co.devices = "gpu,npu"; /* with the CPU */
	ck_assert_msg(enpu_context_create(&co, &c3) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(c3, wide, NULL, &m) == ENPU_OK, "%s", enpu_last_error(c3));
	ck_assert_int_eq(enpu_model_make_draft(m, "q8_0", &d), ENPU_OK);
	so.n_ctx = 256;
	so.placement = "auto";
	so.profile = "phone";
	so.draft = d;
	so.spec_k = 3;
	so.spec_fixed_k = true;
	so.spec_overlap = true;
	ck_assert_msg(enpu_session_create(m, &so, &s) == ENPU_OK, "%s", enpu_last_error(c3));
	sa.ignore_eos = true;
	ck_assert_msg(enpu_generate(s, "Once upon a time", 60, &sa, NULL, NULL, NULL) == ENPU_OK,
		      "%s", enpu_last_error(c3));
	const uint32_t n = enpu_session_device_usage(s, u, ENPU_MAX_DEVICES);
	uint64_t ops = 0;
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_msg(strcmp(u[i].device, "npu") || u[i].ops == 0,
			      "the verifier ran %llu ops on the draft's NPU",
			      (unsigned long long)u[i].ops);
		ops += u[i].ops;
	}
	ck_assert_uint_gt(ops, 0);
	ck_assert_int_eq(enpu_session_spec_stats(s, &ss), ENPU_OK);
	ck_assert_uint_gt(ss.verifications, 0);
	ck_assert_uint_gt(ss.predrafted, 0);
	ck_assert_msg(ops_of(ss.draft_devices, ss.n_devices, "npu") > 0,
		      "the draft ran nothing on the NPU");
	enpu_session_free(s);

	/* without the draft, the same plan puts ops on the NPU: the reservation kept them off */
	so.draft = NULL;
	so.spec_overlap = false;
	ck_assert_msg(enpu_session_create(m, &so, &s) == ENPU_OK, "%s", enpu_last_error(c3));
	ck_assert_int_eq(enpu_generate(s, "Once upon a time", 20, &sa, NULL, NULL, NULL), ENPU_OK);
	const uint32_t n_plain = enpu_session_device_usage(s, u, ENPU_MAX_DEVICES);
	ck_assert_msg(ops_of(u, n_plain, "npu") > 0, "the plan without a draft leaves the NPU "
		      "out too: the test shows nothing");
	enpu_session_free(s);
	enpu_model_free(d);
	enpu_model_free(m);
	enpu_context_destroy(c3);
	remove(wide);
	free(wide);
}
END_TEST

/*
 * The overlapped cost model: at alpha 1 a round is the longer of the verification and the
 * pre-draft, at alpha 0 it is the sequential round, and between them it never loses to it
 * while the pre-draft fits in the verification (else it may: the session then does not
 * pre-draft).
 */
START_TEST(overlapped_cost_model)
{
	const double t_dec = 10e-3, t_draft = 1.5e-3, t_row = 0.5e-3;

	for (uint32_t k = 1; k <= 8; k++) {
		const double tv = t_dec + k * t_row, pre = (k + 1) * t_draft;
		const double one = sched_spec_speedup(1.0, k, 0, t_dec, t_draft, t_row, true, NULL);
		ck_assert_double_eq_tol(one, (k + 1) * t_dec / (tv > pre ? tv : pre), 1e-9);
		ck_assert_double_eq_tol(sched_spec_speedup(0.0, k, 0, t_dec, t_draft, t_row, true,
							   NULL),
					sched_spec_speedup(0.0, k, 0, t_dec, t_draft, t_row, false,
							   NULL), 1e-9);
		for (double a = 0.1; a < 1.0 && pre <= tv; a += 0.2)
			ck_assert(sched_spec_speedup(a, k, 0, t_dec, t_draft, t_row, true, NULL) >=
				  sched_spec_speedup(a, k, 0, t_dec, t_draft, t_row, false, NULL));
	}
}
END_TEST

/*
 * "auto" placement: with an unrelated draft (nearly nothing accepted) the cost model finds
 * that speculation does not pay and the session decodes plainly, drafting again now and then;
 * the tokens are still plain decoding's.
 */
START_TEST(auto_stops_when_it_does_not_pay)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_sampler_options sa = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	enpu_session *plain = session(NULL, 0, false, 512), *spec;
	struct tokens a, b;

	so.n_ctx = 512;
	so.placement = "auto";
	so.draft = other_draft;
	ck_assert_msg(enpu_session_create(target, &so, &spec) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
	sa.ignore_eos = true;
	generate(plain, 300, 300, &sa, &a);
	generate(spec, 300, 300, &sa, &b);
	ck_assert_mem_eq(a.t, b.t, sizeof(enpu_token) * 300);
	ck_assert_int_eq(enpu_session_spec_stats(spec, &ss), ENPU_OK);
	ck_assert_msg(ss.plain_steps > 2 * ss.verifications,
		      "%llu plain steps, %llu verifications at acceptance %.3f",
		      (unsigned long long)ss.plain_steps, (unsigned long long)ss.verifications,
		      ss.alpha);
	ck_assert(ss.predicted_speedup < 1.0);
	free(a.t);
	free(b.t);
	enpu_session_free(plain);
	enpu_session_free(spec);
}
END_TEST

/* A trace of a speculative generation: draft and verify slices, the draft's steps and ops. */
START_TEST(trace_shows_draft_and_verify)
{
	struct enpu_sampler_options so = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_session *spec = session(self_draft, 3, true, 256);
	const char *path = tu_tmp_path(".json");
	size_t len;

	so.ignore_eos = true;
	ck_assert_int_eq(enpu_session_trace_start(spec, path), ENPU_OK);
	ck_assert_int_eq(enpu_generate(spec, "Once upon a time", 40, &so, NULL, NULL, NULL),
			 ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_stop(spec), ENPU_OK);
	char *json = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"draft\",\"cat\":\"spec\""));
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"verify\",\"cat\":\"step\""));
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"draft step\",\"cat\":\"step\""));
	/* the verifications evaluated k + 1 = 4 tokens each */
	ck_assert_ptr_nonnull(strstr(json, "\"n_tokens\":4"));
	free(json);
	remove(path);
	/* the draft's graphs are forgotten by a stopped trace: another trace starts clean */
	ck_assert_int_eq(enpu_session_trace_start(spec, path), ENPU_OK);
	ck_assert_int_eq(enpu_generate(spec, "", 10, &so, NULL, NULL, NULL), ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_stop(spec), ENPU_OK);
	remove(path);
	enpu_session_free(spec);
	/* overlapped: the draft's thread has pre-draft slices beside the verifications */
	spec = session_ov(self_draft, 3, true, 256, true);
	ck_assert_int_eq(enpu_session_trace_start(spec, path), ENPU_OK);
	ck_assert_int_eq(enpu_generate(spec, "Once upon a time", 40, &so, NULL, NULL, NULL),
			 ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_stop(spec), ENPU_OK);
	json = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"pre-draft\",\"cat\":\"spec\""));
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"verify\",\"cat\":\"step\""));
	free(json);
	/* two threads wrote it: still well formed, slices nested on each track */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/trace_check.py '%s' </dev/null",
		 ENPU_SOURCE_ROOT, path);
	ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
	remove(path);
	enpu_session_free(spec);
}
END_TEST

START_TEST(bad_drafts_refused)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_session *s = NULL;
	enpu_model *d;

	ck_assert_int_eq(enpu_model_make_draft(target, "q3_x", &d), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "q3_x"));
	ck_assert_int_eq(enpu_model_make_draft(self_draft, "q4_0", &d), ENPU_ERR_INVALID_ARG);
	so.draft = target;
	ck_assert_int_eq(enpu_session_create(target, &so, &s), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_null(s);
	so.draft = self_draft;
	so.spec_k = 17;
	ck_assert_int_eq(enpu_session_create(target, &so, &s), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "spec_k 17"));
	if (tu_have_shared_vocab()) {
		/* the 32000-token llama vocabulary against the built-in one */
		char *path = tu_small_model(128, 256, 2048, HAL_TYPE_Q8_0, 11, tu_vocab_path());
		enpu_model *llama;

		ck_assert_int_eq(enpu_model_load(ctx, path, NULL, &llama), ENPU_OK);
		so.draft = llama;
		so.spec_k = 0;
		ck_assert_int_eq(enpu_session_create(target, &so, &s), ENPU_ERR_INVALID_ARG);
		ck_assert_msg(strstr(enpu_last_error(ctx), "same vocabulary"), "%s",
			      enpu_last_error(ctx));
		enpu_model_free(llama);
		remove(path);
		free(path);
	}
	/* a session without a draft has no speculation statistics */
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	s = session(NULL, 0, false, 64);
	ck_assert_int_eq(enpu_session_spec_stats(s, &ss), ENPU_ERR_INVALID_ARG);
	enpu_session_free(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("speculative");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, greedy_self_draft_equals_plain);
	tcase_add_test(tc, identical_draft_accepts_all);
	tcase_add_test(tc, greedy_other_draft_equals_plain);
	tcase_add_test(tc, context_end);
	tcase_add_test(tc, truncate_then_continue);
	tcase_add_test(tc, restored_state_keeps_speculating);
	tcase_add_test(tc, async_jobs_speculate);
	tcase_add_test(tc, cancel_stops_the_drafts_prefill);
	tcase_add_test(tc, draft_thread_failure_is_reported);
	tcase_add_test(tc, greedy_equals_plain_on_npu_and_gpu);
	tcase_add_test(tc, sampling_keeps_distribution);
	tcase_add_test(tc, overlapped_greedy_equals_plain);
	tcase_add_test(tc, overlapped_sampling_keeps_distribution);
	tcase_add_test(tc, overlapped_cost_model);
	tcase_add_test(tc, overlapped_verifier_keeps_off_the_drafts_device);
	tcase_add_test(tc, auto_stops_when_it_does_not_pay);
	tcase_add_test(tc, trace_shows_draft_and_verify);
	tcase_add_test(tc, bad_drafts_refused);
	suite_add_tcase(su, tc);
	return tu_run_suite(su);
}
