/* SPDX-License-Identifier: MIT */
/*
 * test_sampler.c - the sampler's min-p and repetition penalty against reference computations
 * on the session's own logits, the window of recent tokens the penalty sees, the versioned
 * options struct, and enpu_version(). A small model with the built-in vocabulary: no
 * ../shared needed.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/internal.h"
#include "edge_npu.h"
#include "testutil.h"
#include "tools/mkmodel.h"

static const char *model_path(void)
{
	static char path[512];
	char err[512];

	if (!path[0]) {
		struct mkmodel_params p = mkmodel_default;
		p.dim = 64, p.layers = 2, p.heads = 4, p.kv_heads = 2, p.ffn = 128, p.ctx = 256;
		p.seed = 5;
		snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
		ck_assert_msg(mkmodel_write(&p, path, err, sizeof(err)) == 0, "%s", err);
	}
	return path;
}

struct rig {
	enpu_context *ctx;
	enpu_model *model;
	enpu_session *s;
	float *logits; /* a copy of the session's logits after open */
	size_t n_vocab;
	enpu_token prompt[64];
	size_t n_prompt;
};

/* A session that has evaluated prompt (BOS first), with its logits copied. */
static void rig_open(struct rig *r, const char *prompt)
{
	const float *lg;

	ck_assert_int_eq(enpu_context_create(NULL, &r->ctx), ENPU_OK);
	ck_assert_int_eq(enpu_model_load(r->ctx, model_path(), NULL, &r->model), ENPU_OK);
	ck_assert_int_eq(enpu_session_create(r->model, NULL, &r->s), ENPU_OK);
	ck_assert_int_eq(enpu_tokenize(r->model, prompt, strlen(prompt), true, r->prompt, 64,
				       &r->n_prompt), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(r->s, r->prompt, r->n_prompt), ENPU_OK);
	ck_assert_int_eq(enpu_session_logits(r->s, &lg, &r->n_vocab), ENPU_OK);
	r->logits = malloc(sizeof(float) * r->n_vocab);
	memcpy(r->logits, lg, sizeof(float) * r->n_vocab);
}

static void rig_close(struct rig *r)
{
	free(r->logits);
	enpu_session_free(r->s);
	enpu_model_free(r->model);
	enpu_context_destroy(r->ctx);
}

static size_t argmax(const float *v, size_t n)
{
	size_t best = 0;

	for (size_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* The reference: llama.cpp's rule written out, each distinct token of recent once. */
static void reference_penalty(float *l, const enpu_token *recent, size_t n, float penalty)
{
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= recent[j] == recent[i];
		if (!seen)
			l[recent[i]] = l[recent[i]] > 0 ? l[recent[i]] / penalty
							: l[recent[i]] * penalty;
	}
}

START_TEST(penalty_matches_reference)
{
	uint64_t rng = 3;
	float l[500], ref[500];
	enpu_token recent[40], copy[40];

	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 500; i++)
			l[i] = ref[i] = 8.0f * tu_rand_f32(&rng); /* both signs, and exact zeros never */
		for (int i = 0; i < 40; i++)
			recent[i] = copy[i] = (enpu_token)(tu_rand_u64(&rng) % 60); /* repeats */
		reference_penalty(ref, recent, 40, 1.3f + round * 0.1f);
		drv_penalize_repeats(l, 500, copy, 40, 1.3f + round * 0.1f);
		ck_assert(!memcmp(l, ref, sizeof(l)));
	}
}
END_TEST

/* The window: the last repeat_last_n tokens, the pending one included, none from a state. */
START_TEST(recent_tokens_window)
{
	struct rig r;
	enpu_token out[16];
	size_t state;
	void *buf;

	rig_open(&r, "the river and the forest");
	ck_assert_uint_ge(r.n_prompt, 5);
	ck_assert_uint_eq(drv_recent_tokens(r.s, 3, out), 3);
	ck_assert(!memcmp(out, r.prompt + r.n_prompt - 3, 3 * sizeof(*out)));
	ck_assert_uint_eq(drv_recent_tokens(r.s, 64, out), r.n_prompt);
	ck_assert(!memcmp(out, r.prompt, r.n_prompt * sizeof(*out)));
	ck_assert_uint_eq(drv_recent_tokens(r.s, 0, out), 0);

	ck_assert_int_eq(enpu_session_truncate(r.s, 2), ENPU_OK);
	ck_assert_uint_eq(drv_recent_tokens(r.s, 8, out), 2);
	ck_assert(!memcmp(out, r.prompt, 2 * sizeof(*out)));

	/* a restored state brings its tokens back */
	state = enpu_session_state_size(r.s);
	buf = malloc(state);
	ck_assert_int_eq(enpu_session_state_save(r.s, buf, state, NULL), ENPU_OK);
	ck_assert_int_eq(enpu_session_reset(r.s), ENPU_OK);
	ck_assert_int_eq(enpu_session_state_load(r.s, buf, state), ENPU_OK);
	ck_assert_uint_eq(drv_recent_tokens(r.s, 8, out), 2);
	ck_assert(!memcmp(out, r.prompt, 2 * sizeof(*out)));

	/*
	 * one without them (flag 4 off, no token ids: as states were written before they were
	 * saved): only the tokens evaluated after it count, and a state saved from that session
	 * has no tokens either
	 */
	uint32_t flags, n_past, n_vocab;
	memcpy(&n_vocab, (char *)buf + 20, 4);
	memcpy(&n_past, (char *)buf + 24, 4);
	memcpy(&flags, (char *)buf + 28, 4);
	ck_assert_uint_eq(n_past, 2);
	ck_assert(flags & 4);
	const size_t logits = flags & 2 ? sizeof(float) * n_vocab : 0;
	const size_t ids = state - logits - 4 * n_past;
	memmove((char *)buf + ids, (char *)buf + ids + 4 * n_past, logits);
	flags &= ~4u;
	memcpy((char *)buf + 28, &flags, 4);
	ck_assert_int_eq(enpu_session_state_load(r.s, buf, state - 4 * n_past), ENPU_OK);
	ck_assert_uint_eq(drv_recent_tokens(r.s, 8, out), 0);
	ck_assert_uint_eq(enpu_session_state_size(r.s), state - 4 * n_past);
	ck_assert_int_eq(enpu_session_eval(r.s, r.prompt + 2, 1), ENPU_OK);
	ck_assert_uint_eq(drv_recent_tokens(r.s, 8, out), 1);
	ck_assert_int_eq(out[0], r.prompt[2]);
	free(buf);

	/* generation leaves its last token pending: it is the newest of the window */
	ck_assert_int_eq(enpu_session_reset(r.s), ENPU_OK);
	ck_assert_int_eq(enpu_generate(r.s, "the river", 1, NULL, NULL, NULL, NULL), ENPU_OK);
	size_t n = drv_recent_tokens(r.s, 2, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(out[1], r.s->pending);
	rig_close(&r);
}
END_TEST

/*
 * Greedy with the penalty picks the argmax of the reference's penalized logits. The token
 * generate left pending (the unpenalized argmax) is in the window, so the pick moves.
 */
START_TEST(penalty_on_session_logits)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_token t, window[65];
	const float *after;
	size_t n;

	rig_open(&r, "once upon a time");
	ck_assert_int_eq(enpu_session_reset(r.s), ENPU_OK);
	ck_assert_int_eq(enpu_generate(r.s, "once upon a time", 1, NULL, NULL, NULL, NULL),
			 ENPU_OK);
	const enpu_token plain = r.s->pending;
	ck_assert_int_eq((int)plain, (int)argmax(r.logits, r.n_vocab));

	for (uint32_t last_n = 1; last_n <= 64; last_n *= 4) {
		o.repeat_penalty = 4.0f;
		o.repeat_last_n = last_n;
		/* the window: the prompt's last tokens, then the pending one */
		size_t k = 0;
		for (size_t i = r.n_prompt > last_n - 1 ? r.n_prompt - (last_n - 1) : 0;
		     i < r.n_prompt; i++)
			window[k++] = r.prompt[i];
		window[k++] = plain;
		float *ref = malloc(sizeof(float) * r.n_vocab);
		memcpy(ref, r.logits, sizeof(float) * r.n_vocab);
		reference_penalty(ref, window, k, o.repeat_penalty);
		ck_assert_int_eq(enpu_sample(r.s, &o, NULL, &t), ENPU_OK);
		ck_assert_int_eq((int)t, (int)argmax(ref, r.n_vocab));
		ck_assert_int_ne(t, plain);
		free(ref);
	}
	/* the session's logits are left as they were */
	ck_assert_int_eq(enpu_session_logits(r.s, &after, &n), ENPU_OK);
	ck_assert(!memcmp(after, r.logits, sizeof(float) * n));
	rig_close(&r);
}
END_TEST

/* min-p keeps exactly the tokens with p >= min_p * p_max: none outside, each one drawn. */
START_TEST(min_p_keeps_exactly)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	enum { K = 4, DRAWS = 3000 };

	rig_open(&r, "the children asked");
	/* the K most likely, and a min_p halfway (in log space) between the K-th and the next */
	float *sorted = malloc(sizeof(float) * r.n_vocab);
	memcpy(sorted, r.logits, sizeof(float) * r.n_vocab);
	for (size_t i = 0; i <= K; i++) /* a partial selection sort of the K + 1 largest */
		for (size_t j = i + 1; j < r.n_vocab; j++)
			if (sorted[j] > sorted[i]) {
				float x = sorted[i];
				sorted[i] = sorted[j], sorted[j] = x;
			}
	const double lmax = sorted[0];
	o.min_p = (float)exp(((sorted[K - 1] - lmax) + (sorted[K] - lmax)) / 2);
	free(sorted);

	for (float temp = 1.0f; temp <= 3.0f; temp += 2.0f) {
		int seen[K] = { 0 };
		enpu_token top[K];
		size_t n_top = 0;
		for (size_t i = 0; i < r.n_vocab; i++)
			if (exp(r.logits[i] - lmax) >= o.min_p) /* the reference set */
				top[n_top++] = (enpu_token)i;
		ck_assert_uint_eq(n_top, K);
		o.temperature = temp;
		for (uint64_t d = 0; d < DRAWS; d++) {
			uint64_t rng = d * 7919 + 1;
			enpu_token t;
			int k = 0;
			ck_assert_int_eq(enpu_sample(r.s, &o, &rng, &t), ENPU_OK);
			while (k < K && top[k] != t)
				k++;
			ck_assert_msg(k < K, "token %d drawn, outside the min-p set", t);
			seen[k]++;
		}
		for (int k = 0; k < K; k++)
			ck_assert_msg(seen[k] > 0, "token %d of the set never drawn at T=%g", top[k],
				      temp);
	}
	rig_close(&r);
}
END_TEST

/* A caller built with the first struct (no min_p...) gets the new fields' defaults. */
START_TEST(first_struct_version)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_token t;

	rig_open(&r, "good morning");
	o.struct_size = offsetof(struct enpu_sampler_options, min_p);
	o.min_p = NAN, o.repeat_penalty = -1; /* beyond its size: never read */
	ck_assert_int_eq(enpu_sample(r.s, &o, NULL, &t), ENPU_OK);
	ck_assert_int_eq((int)t, (int)argmax(r.logits, r.n_vocab));
	o.struct_size = offsetof(struct enpu_sampler_options, seed);
	ck_assert_int_eq(enpu_sample(r.s, &o, NULL, &t), ENPU_ERR_INVALID_ARG);

	struct enpu_sampler_options bad = ENPU_SAMPLER_OPTIONS_INIT;
	bad.min_p = 1.5f;
	ck_assert_int_eq(enpu_sample(r.s, &bad, NULL, &t), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(r.ctx), "min_p"));
	bad.min_p = 0, bad.repeat_penalty = 0;
	ck_assert_int_eq(enpu_sample(r.s, &bad, NULL, &t), ENPU_ERR_INVALID_ARG);
	rig_close(&r);
}
END_TEST

/* ignore_eos: end-of-text is never drawn, even where it is the most likely token. */
START_TEST(ignore_eos_never_draws_it)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	enpu_token t;

	rig_open(&r, "the end");
	const enpu_token e = enpu_token_eos(r.model);
	r.s->logits[e] = 1e4f; /* the overwhelming favourite */
	ck_assert_int_eq(enpu_sample(r.s, &o, NULL, &t), ENPU_OK);
	ck_assert_int_eq(t, e);
	o.ignore_eos = true;
	ck_assert_int_eq(enpu_sample(r.s, &o, NULL, &t), ENPU_OK);
	ck_assert_int_ne(t, e);
	o.temperature = 2.0f;
	for (uint64_t d = 0; d < 500; d++) {
		uint64_t rng = d + 1;
		ck_assert_int_eq(enpu_sample(r.s, &o, &rng, &t), ENPU_OK);
		ck_assert_int_ne(t, e);
	}
	rig_close(&r);
}
END_TEST

/*
 * Temperatures down to the smallest float draw the argmax: logit / temperature alone
 * overflowed to inf - inf = NaN weights, and the draw fell through to a low-ranked token.
 */
START_TEST(tiny_temperature_draws_the_argmax)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	const float temps[] = { 1e-3f, 1e-30f, FLT_MIN, 1e-45f };
	enpu_token t;

	rig_open(&r, "once upon a time");
	const enpu_token best = (enpu_token)argmax(r.logits, r.n_vocab);
	for (size_t i = 0; i < sizeof(temps) / sizeof(temps[0]); i++)
		for (uint64_t d = 1; d < 50; d++) {
			uint64_t rng = d;
			o.temperature = temps[i];
			ck_assert_int_eq(enpu_sample(r.s, &o, &rng, &t), ENPU_OK);
			ck_assert_msg(t == best, "temperature %g drew %d, the argmax is %d",
				      temps[i], t, best);
		}
	rig_close(&r);
}
END_TEST

/* Bad sampler options are refused before the prompt runs: the session is as it was. */
START_TEST(bad_options_leave_the_session)
{
	struct rig r;
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;

	rig_open(&r, "the end");
	const uint32_t past = enpu_session_n_past(r.s);
	o.temperature = NAN;
	ck_assert_int_eq(enpu_generate(r.s, " more words", 4, &o, NULL, NULL, NULL),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(r.ctx), "enpu_generate: temperature"), "%s",
		      enpu_last_error(r.ctx));
	ck_assert_uint_eq(enpu_session_n_past(r.s), past);
	o.temperature = 0.5f;
	o.min_p = 2.0f;
	ck_assert_int_eq(enpu_generate(r.s, " more words", 4, &o, NULL, NULL, NULL),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(enpu_session_n_past(r.s), past);
	rig_close(&r);
}
END_TEST

START_TEST(version_string)
{
	unsigned a, b, c;
	char tail;

	ck_assert_str_eq(enpu_version(), ENPU_VERSION);
	ck_assert_int_eq(sscanf(enpu_version(), "%u.%u.%u%c", &a, &b, &c, &tail), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("sampler");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, penalty_matches_reference);
	tcase_add_test(tc, recent_tokens_window);
	tcase_add_test(tc, penalty_on_session_logits);
	tcase_add_test(tc, min_p_keeps_exactly);
	tcase_add_test(tc, first_struct_version);
	tcase_add_test(tc, ignore_eos_never_draws_it);
	tcase_add_test(tc, tiny_temperature_draws_the_argmax);
	tcase_add_test(tc, bad_options_leave_the_session);
	tcase_add_test(tc, version_string);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
