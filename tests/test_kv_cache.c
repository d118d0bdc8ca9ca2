/* SPDX-License-Identifier: MIT */
/*
 * test_kv_cache.c - the KV cache's storage formats (enpu_session_options.cache_type) through the
 * public API, on every device this machine has: cpu-ref, cpu, gpu (OpenCL) and npu (whose
 * attention falls back to the CPU).
 *
 * Tolerance of the logits against an F32 cache on the same device, after a prefill of 6 and
 * each of 10 decode steps (model: dim 256, 4 heads of 64, 2 layers, random Q8_0 weights,
 * logits up to ~11): F16 rounds each K and V value to 11 significant bits, Q8_0 to 1/254 of
 * its block's largest magnitude. Each rounding is small, but every matmul after attention
 * quantizes its activations to int8 again, and a value that crosses a rounding boundary
 * moves by a whole step: on this random model the logits move by up to 1.6 % (F16) and 2.0 %
 * (Q8_0) of the largest logit, cosine >= 0.99991 and 0.99986 (measured: the same on every
 * device, as the cache is written and read with the same rounding everywhere). Bounds: 2.5 %
 * and 3 % of the largest logit, cosine 0.9998 and 0.9997. The worst cases are printed.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_npu.h"
#include "testutil.h"

static const char *const devices[] = { "cpu-ref", "cpu", "gpu", "npu" };

static bool open_run(struct tu_session *r, const char *path, const char *device,
		     enum enpu_cache_type ct)
{
	return tu_session_open(r, path, device, ct);
}

static const float *logits(enpu_session *s, size_t *n)
{
	const float *l;

	ck_assert_int_eq(enpu_session_logits(s, &l, n), ENPU_OK);
	return l;
}

static void eval(struct tu_session *r, const enpu_token *t, size_t n)
{
	ck_assert_msg(enpu_session_eval(r->sess, t, n) == ENPU_OK, "%s", enpu_last_error(r->ctx));
}

static const enpu_token prompt[16] = { 1, 450, 496, 954, 701, 432, 995, 120, 77, 310,
				       640, 211, 58, 903, 412, 5 };

static char *model_path(uint32_t dim)
{
	return tu_small_model(dim, 2 * dim, 128, HAL_TYPE_Q8_0, 5, NULL);
}

/* F16 and Q8_0 caches against F32 on each device, step by step. */
START_TEST(logits_close_to_f32_on_every_device)
{
	char *path = model_path(256);
	const enum enpu_cache_type types[] = { ENPU_CACHE_F16, ENPU_CACHE_Q8_0 };
	const double max_rel[] = { 0.025, 0.03 }, min_cos[] = { 0.9998, 0.9997 };

	for (size_t d = 0; d < sizeof(devices) / sizeof(devices[0]); d++) {
		struct tu_session f32, got[2];

		if (!open_run(&f32, path, devices[d], ENPU_CACHE_F32)) {
			printf("%s: not available here, skipped\n", devices[d]);
			continue;
		}
		for (int t = 0; t < 2; t++)
			ck_assert(open_run(&got[t], path, devices[d], types[t]));
		double worst[2] = { 0, 0 }, worst_cos[2] = { 1, 1 };

		for (int step = 0; step <= 10; step++) {
			const enpu_token *tok = step ? &prompt[5 + step] : prompt;
			const size_t n = step ? 1 : 6;
			size_t nv;

			eval(&f32, tok, n);
			const float *want = logits(f32.sess, &nv);
			for (int t = 0; t < 2; t++) {
				eval(&got[t], tok, n);
				const float *l = logits(got[t].sess, &nv);
				double dot = 0, na = 0, nb = 0, mx = 0, top = 0;

				for (size_t i = 0; i < nv; i++) {
					top = fmax(top, fabs((double)want[i]));
					dot += (double)l[i] * want[i];
					na += (double)l[i] * l[i];
					nb += (double)want[i] * want[i];
					mx = fmax(mx, fabs((double)l[i] - want[i]));
				}
				const double cos = dot / sqrt(na * nb);
				ck_assert_msg(mx <= max_rel[t] * top && cos >= min_cos[t],
					      "%s, %s cache, step %d: max |diff| %g of max |logit| %g, "
					      "cosine %.7f", devices[d], enpu_cache_type_name(types[t]),
					      step, mx, top, cos);
				worst[t] = fmax(worst[t], mx / top);
				worst_cos[t] = fmin(worst_cos[t], cos);
			}
		}
		for (int t = 0; t < 2; t++) {
			printf("%s, %s cache vs f32: max |diff| %.4f of max |logit|, cosine >= %.7f\n",
			       devices[d],
			       enpu_cache_type_name(types[t]), worst[t], worst_cos[t]);
			tu_session_close(&got[t]);
		}
		tu_session_close(&f32);
	}
	free(path);
}
END_TEST

/* The cache's bytes: F16 half of F32, Q8_0 34 bytes per 32 values. */
START_TEST(cache_bytes_by_type)
{
	char *path = model_path(256);
	size_t bytes[3];
	const enum enpu_cache_type types[] = { ENPU_CACHE_F32, ENPU_CACHE_F16, ENPU_CACHE_Q8_0 };

	for (int t = 0; t < 3; t++) {
		struct tu_session r;
		enum enpu_cache_type got;

		ck_assert(open_run(&r, path, "cpu", types[t]));
		bytes[t] = enpu_session_cache_bytes(r.sess, &got);
		ck_assert_int_eq(got, types[t]);
		tu_session_close(&r);
	}
	/* 2 layers x K and V x 128 rows x 2 kv heads x 64 */
	ck_assert_uint_eq(bytes[0], 2 * 2 * 128 * 128 * sizeof(float));
	ck_assert_uint_eq(bytes[1] * 2, bytes[0]);
	ck_assert_uint_eq(bytes[2] * 128, bytes[0] * 34);
	ck_assert_uint_eq(enpu_session_cache_bytes(NULL, NULL), 0);
	free(path);
}
END_TEST

/*
 * Each format's state goes out and back: a session restored from it continues with the same
 * logits, bit for bit, as the one it was saved from; truncating and evaluating the same
 * tokens again gives the same logits too. A state of one format does not go into a session
 * of another.
 */
START_TEST(state_and_truncate_per_format)
{
	char *path = model_path(256);
	const enum enpu_cache_type types[] = { ENPU_CACHE_F32, ENPU_CACHE_F16, ENPU_CACHE_Q8_0 };
	size_t sizes[3];

	for (int t = 0; t < 3; t++) {
		struct tu_session a, b;
		size_t nv, len;

		ck_assert(open_run(&a, path, "cpu", types[t]));
		ck_assert(open_run(&b, path, "cpu", types[t]));
		eval(&a, prompt, 5);
		len = enpu_session_state_size(a.sess);
		sizes[t] = len;
		void *buf = malloc(len);
		ck_assert_int_eq(enpu_session_state_save(a.sess, buf, len, NULL), ENPU_OK);
		eval(&a, &prompt[5], 1);
		eval(&a, &prompt[6], 1);
		const float *la = logits(a.sess, &nv);
		float *want = malloc(nv * sizeof(float));

		memcpy(want, la, nv * sizeof(float));

		ck_assert_msg(enpu_session_state_load(b.sess, buf, len) == ENPU_OK, "%s",
			      enpu_last_error(b.ctx));
		eval(&b, &prompt[5], 1);
		eval(&b, &prompt[6], 1);
		ck_assert(!memcmp(logits(b.sess, &nv), want, nv * sizeof(float)));

		/* back to 5 tokens, the same two again */
		ck_assert_int_eq(enpu_session_truncate(a.sess, 5), ENPU_OK);
		eval(&a, &prompt[5], 1);
		eval(&a, &prompt[6], 1);
		ck_assert(!memcmp(logits(a.sess, &nv), want, nv * sizeof(float)));

		/* into a session whose cache has another format: refused, saying why */
		struct tu_session other;
		ck_assert(open_run(&other, path, "cpu", types[(t + 1) % 3]));
		ck_assert_int_eq(enpu_session_state_load(other.sess, buf, len), ENPU_ERR_FORMAT);
		ck_assert_msg(strstr(enpu_last_error(other.ctx), "KV cache rows are"), "%s",
			      enpu_last_error(other.ctx));
		tu_session_close(&other);
		free(want);
		free(buf);
		tu_session_close(&a);
		tu_session_close(&b);
	}
	/* a state is the header, the rows as stored and the logits: smaller with the cache */
	ck_assert_uint_lt(sizes[1], sizes[0]);
	ck_assert_uint_lt(sizes[2], sizes[1]);
	free(path);
}
END_TEST

/* Q8_0 blocks of 32 must tile each head: a model with heads of 48 refuses it, takes F16. */
START_TEST(q8_0_needs_heads_of_32)
{
	char *path = model_path(192); /* 4 heads of 48 */
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_context *ctx;
	enpu_model *m;
	enpu_session *s = NULL;

	co.device = "cpu";
	ck_assert_int_eq(enpu_context_create(&co, &ctx), ENPU_OK);
	ck_assert_int_eq(enpu_model_load(ctx, path, NULL, &m), ENPU_OK);
	so.cache_type = ENPU_CACHE_Q8_0;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "multiple of 32"));
	so.cache_type = 7;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_ERR_INVALID_ARG);
	so.cache_type = ENPU_CACHE_F16;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_OK);
	eval(&(struct tu_session){ ctx, m, s }, prompt, 3);
	enpu_session_free(s);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(path);
}
END_TEST

START_TEST(names_parse_back)
{
	enum enpu_cache_type t;

	for (uint32_t i = 0; i < 3; i++) {
		ck_assert(enpu_cache_type_parse(enpu_cache_type_name(i), &t));
		ck_assert_int_eq(t, i);
	}
	ck_assert(enpu_cache_type_parse("Q8_0", &t) && t == ENPU_CACHE_Q8_0);
	ck_assert(!enpu_cache_type_parse("q4_0", &t));
	ck_assert(!enpu_cache_type_parse(NULL, &t));
	ck_assert_ptr_null(enpu_cache_type_name(3));
}
END_TEST

static Suite *kv_cache_suite(void)
{
	Suite *s = suite_create("kv_cache");
	TCase *tc = tcase_create("formats");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, logits_close_to_f32_on_every_device);
	tcase_add_test(tc, cache_bytes_by_type);
	tcase_add_test(tc, state_and_truncate_per_format);
	tcase_add_test(tc, q8_0_needs_heads_of_32);
	tcase_add_test(tc, names_parse_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(kv_cache_suite());
}
