/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - libedge-npu end to end on generated models: loading, tokenizing, evaluation
 * against an independent double-precision llama forward pass, Q8_0/Q4_0 against F32,
 * determinism, and every error a user can cause.
 */
#include <check.h>
#include <pthread.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver/gguf.h"
#include "edge_npu.h"
#include "hal/quant.h"
#include "testutil.h"
#include "tools/mkmodel.h"

/* Small models sharing one seed, so that the quantized ones approximate the F32 one. */
static struct mkmodel_params small(enum hal_type type)
{
	struct mkmodel_params p = mkmodel_default;

	p.dim = 64;
	p.layers = 2;
	p.heads = 4;
	p.kv_heads = 2;
	p.ffn = 128;
	p.ctx = 128;
	p.type = type;
	p.seed = 42;
	p.vocab = tu_vocab_path();
	return p;
}

static char *make_model(const struct mkmodel_params *p)
{
	char err[512];
	char *path = strdup(tu_tmp_path(".gguf"));

	ck_assert_msg(mkmodel_write(p, path, err, sizeof(err)) == 0, "mkmodel: %s", err);
	return path;
}

struct loaded {
	enpu_context *ctx;
	enpu_model *model;
	enpu_session *sess;
};

/* A model on device with a session whose KV cache is of type ct. */
static void load_with_cache(struct loaded *l, const char *path, const char *device,
			    enum enpu_cache_type ct)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	co.device = device;
	so.cache_type = ct;
	ck_assert_msg(enpu_context_create(&co, &l->ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(l->ctx, path, NULL, &l->model) == ENPU_OK, "%s",
		      enpu_last_error(l->ctx));
	ck_assert_int_eq(enpu_session_create(l->model, &so, &l->sess), ENPU_OK);
}

/* On device, with the default session options (an F16 KV cache). */
static void load_on(struct loaded *l, const char *path, const char *device)
{
	load_with_cache(l, path, device, ENPU_CACHE_F16);
}

/* On the default device ("cpu", the fast path). */
static void load(struct loaded *l, const char *path)
{
	load_on(l, path, NULL);
}

static void unload(struct loaded *l)
{
	enpu_session_free(l->sess);
	enpu_model_free(l->model);
	enpu_context_destroy(l->ctx);
}

static const float *logits_of(struct loaded *l)
{
	const float *lg;
	size_t n;

	ck_assert_int_eq(enpu_session_logits(l->sess, &lg, &n), ENPU_OK);
	ck_assert_uint_eq(n, 32000);
	return lg;
}

/* ---- an independent llama forward pass in double precision ------------------------------- */

struct ref_model {
	uint32_t d, L, H, Hkv, F, V, hd;
	double *embd, *out_norm, *output;
	double *attn_norm[4], *wq[4], *wk[4], *wv[4], *wo[4], *ffn_norm[4], *wg[4], *wu[4], *wd[4];
};

static double *dequant(const struct gguf_file *f, const char *name, size_t *n_out)
{
	const struct gguf_tensor_info *t = gguf_find_tensor(f, name);
	enum hal_type type = t->type == GGUF_TENSOR_F32 ? HAL_TYPE_F32 :
			     t->type == GGUF_TENSOR_F16 ? HAL_TYPE_F16 :
			     t->type == GGUF_TENSOR_Q8_0 ? HAL_TYPE_Q8_0 :
			     t->type == GGUF_TENSOR_Q4_K ? HAL_TYPE_Q4_K :
			     t->type == GGUF_TENSOR_Q5_K ? HAL_TYPE_Q5_K :
			     t->type == GGUF_TENSOR_Q6_K ? HAL_TYPE_Q6_K : HAL_TYPE_Q4_0;
	size_t cols = t->ne[0], rows = t->n_dims > 1 ? t->ne[1] : 1;
	float *tmp = malloc(sizeof(float) * cols);
	double *out = malloc(sizeof(double) * cols * rows);

	ck_assert_ptr_nonnull(t);
	for (size_t r = 0; r < rows; r++) {
		hal_dequantize_row(type, (const char *)t->data + r * hal_row_bytes(type, cols), tmp,
				   cols);
		for (size_t c = 0; c < cols; c++)
			out[r * cols + c] = tmp[c];
	}
	free(tmp);
	if (n_out)
		*n_out = cols * rows;
	return out;
}

static void ref_load(struct ref_model *r, const struct mkmodel_params *p, const char *path)
{
	struct gguf_file *f;
	char err[256], name[64];

	ck_assert_int_eq(gguf_open(path, &f, err, sizeof(err)), GGUF_OK);
	r->d = p->dim, r->L = p->layers, r->H = p->heads, r->Hkv = p->kv_heads, r->F = p->ffn;
	r->V = 32000, r->hd = p->dim / p->heads;
	ck_assert_uint_le(r->L, 4);
	r->embd = dequant(f, "token_embd.weight", NULL);
	r->out_norm = dequant(f, "output_norm.weight", NULL);
	r->output = dequant(f, "output.weight", NULL);
#define W(field, suffix)                                                   \
	snprintf(name, sizeof(name), "blk.%u." suffix ".weight", l);       \
	r->field[l] = dequant(f, name, NULL)
	for (uint32_t l = 0; l < r->L; l++) {
		W(attn_norm, "attn_norm"); W(wq, "attn_q"); W(wk, "attn_k"); W(wv, "attn_v");
		W(wo, "attn_output"); W(ffn_norm, "ffn_norm"); W(wg, "ffn_gate");
		W(wu, "ffn_up"); W(wd, "ffn_down");
	}
#undef W
	gguf_close(f);
}

static void ref_free(struct ref_model *r)
{
	free(r->embd), free(r->out_norm), free(r->output);
	for (uint32_t l = 0; l < r->L; l++) {
		free(r->attn_norm[l]), free(r->wq[l]), free(r->wk[l]), free(r->wv[l]);
		free(r->wo[l]), free(r->ffn_norm[l]), free(r->wg[l]), free(r->wu[l]), free(r->wd[l]);
	}
}

static void rmsnorm(double *y, const double *x, const double *w, uint32_t n)
{
	double ss = 0;
	for (uint32_t i = 0; i < n; i++)
		ss += x[i] * x[i];
	double s = 1.0 / sqrt(ss / n + 1e-5);
	for (uint32_t i = 0; i < n; i++)
		y[i] = x[i] * s * w[i];
}

/* y[rows] = W[rows x cols] x */
static void matvec(double *y, const double *w, const double *x, uint32_t rows, uint32_t cols)
{
	for (uint32_t r = 0; r < rows; r++) {
		double s = 0;
		for (uint32_t c = 0; c < cols; c++)
			s += w[(size_t)r * cols + c] * x[c];
		y[r] = s;
	}
}

static void rotate(double *v, uint32_t n_heads, uint32_t hd, uint32_t pos)
{
	for (uint32_t h = 0; h < n_heads; h++)
		for (uint32_t i = 0; i < hd; i += 2) {
			double th = pos * pow(10000.0, -(double)i / hd);
			double a = v[h * hd + i], b = v[h * hd + i + 1];
			v[h * hd + i] = a * cos(th) - b * sin(th);
			v[h * hd + i + 1] = a * sin(th) + b * cos(th);
		}
}

/* The logits after tokens[0..n-1], recomputed from scratch. */
static void ref_forward(const struct ref_model *r, const int32_t *tok, uint32_t n, double *logits)
{
	const uint32_t d = r->d, dkv = r->Hkv * r->hd;
	double *x = calloc((size_t)n * d, sizeof(double)), *xn = malloc(sizeof(double) * d);
	double *K = malloc(sizeof(double) * n * dkv), *Vv = malloc(sizeof(double) * n * dkv);
	double *Q = malloc(sizeof(double) * n * d), *att = malloc(sizeof(double) * d);
	double *o = malloc(sizeof(double) * d), *g = malloc(sizeof(double) * r->F);
	double *u = malloc(sizeof(double) * r->F), *sc = malloc(sizeof(double) * n);

	for (uint32_t t = 0; t < n; t++)
		memcpy(x + t * d, r->embd + (size_t)tok[t] * d, sizeof(double) * d);
	for (uint32_t l = 0; l < r->L; l++) {
		for (uint32_t t = 0; t < n; t++) {
			rmsnorm(xn, x + t * d, r->attn_norm[l], d);
			matvec(Q + t * d, r->wq[l], xn, d, d);
			matvec(K + t * dkv, r->wk[l], xn, dkv, d);
			matvec(Vv + t * dkv, r->wv[l], xn, dkv, d);
			rotate(Q + t * d, r->H, r->hd, t);
			rotate(K + t * dkv, r->Hkv, r->hd, t);
		}
		for (uint32_t t = 0; t < n; t++) {
			for (uint32_t h = 0; h < r->H; h++) {
				uint32_t kh = h / (r->H / r->Hkv);
				double mx = -1e300, sum = 0;
				for (uint32_t j = 0; j <= t; j++) {
					double s = 0;
					for (uint32_t i = 0; i < r->hd; i++)
						s += Q[t * d + h * r->hd + i] * K[j * dkv + kh * r->hd + i];
					sc[j] = s / sqrt((double)r->hd);
					mx = sc[j] > mx ? sc[j] : mx;
				}
				for (uint32_t j = 0; j <= t; j++)
					sum += (sc[j] = exp(sc[j] - mx));
				for (uint32_t i = 0; i < r->hd; i++) {
					double acc = 0;
					for (uint32_t j = 0; j <= t; j++)
						acc += sc[j] / sum * Vv[j * dkv + kh * r->hd + i];
					att[h * r->hd + i] = acc;
				}
			}
			matvec(o, r->wo[l], att, d, d);
			for (uint32_t i = 0; i < d; i++)
				x[t * d + i] += o[i];
			rmsnorm(xn, x + t * d, r->ffn_norm[l], d);
			matvec(g, r->wg[l], xn, r->F, d);
			matvec(u, r->wu[l], xn, r->F, d);
			for (uint32_t i = 0; i < r->F; i++)
				g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
			matvec(o, r->wd[l], g, d, r->F);
			for (uint32_t i = 0; i < d; i++)
				x[t * d + i] += o[i];
		}
	}
	rmsnorm(xn, x + (n - 1) * d, r->out_norm, d);
	matvec(logits, r->output, xn, r->V, d);
	free(x), free(xn), free(K), free(Vv), free(Q), free(att), free(o), free(g), free(u), free(sc);
}

struct agreement {
	double cosine, max_abs;
};

static struct agreement compare(const float *a, const double *b, size_t n)
{
	double dot = 0, na = 0, nb = 0, mx = 0;

	for (size_t i = 0; i < n; i++) {
		dot += a[i] * b[i], na += (double)a[i] * a[i], nb += b[i] * b[i];
		mx = fmax(mx, fabs(a[i] - b[i]));
	}
	return (struct agreement){ dot / sqrt(na * nb), mx };
}

/*
 * The engine's logits after each of the tokens, prefill of 4 then decode, against ref, on the
 * reference CPU backend and on the default (fast) one.
 */
static struct agreement against_reference_of(const struct mkmodel_params *pp,
					     const char *device, double min_cos, double max_abs)
{
	struct mkmodel_params p = *pp;
	const enum hal_type type = p.type;
	char *path = make_model(&p);
	const int32_t toks[8] = { 1, 15043, 3186, 29892, 445, 338, 263, 1243 };
	struct agreement worst = { 1.0, 0.0 };
	struct ref_model r;
	struct loaded l;
	double *ref = malloc(sizeof(double) * 32000);

	ref_load(&r, &p, path);
	/*
	 * an F32 KV cache: this holds the weights' numerics to the double forward pass; the F16
	 * and Q8_0 caches' own rounding is measured in test_kv_cache.c
	 */
	load_with_cache(&l, path, device, ENPU_CACHE_F32);
	ck_assert_int_eq(enpu_session_eval(l.sess, toks, 4), ENPU_OK);
	for (uint32_t n = 4; n <= 8; n++) {
		if (n > 4)
			ck_assert_int_eq(enpu_session_eval(l.sess, &toks[n - 1], 1), ENPU_OK);
		ref_forward(&r, toks, n, ref);
		struct agreement a = compare(logits_of(&l), ref, 32000);
		ck_assert_msg(a.cosine >= min_cos && a.max_abs <= max_abs,
			      "%s on %s after %u tokens: cosine %.6f, max abs diff %.5f",
			      hal_type_name(type), device, n, a.cosine, a.max_abs);
		worst.cosine = fmin(worst.cosine, a.cosine);
		worst.max_abs = fmax(worst.max_abs, a.max_abs);
	}
	printf("%s on %s vs double reference: worst cosine %.6f, max abs diff %.5f\n",
	       hal_type_name(type), device, worst.cosine, worst.max_abs);
	unload(&l);
	ref_free(&r);
	free(ref);
	free(path);
	return worst;
}

static struct agreement against_reference_on(const char *device, enum hal_type type,
					     double min_cos, double max_abs)
{
	struct mkmodel_params p = small(type);

	return against_reference_of(&p, device, min_cos, max_abs);
}

static void against_reference(enum hal_type type, double min_cos, double max_abs)
{
	against_reference_on("cpu-ref", type, min_cos, max_abs);
	against_reference_on("cpu", type, min_cos, max_abs);
}

/* F32 weights: only float rounding separates the engine from the double forward pass. */
START_TEST(f32_matches_double_forward)
{
	against_reference(HAL_TYPE_F32, 0.999999, 2e-3);
}
END_TEST

/* F16 weights: activations are rounded to F16 (11-bit mantissa) before each product. */
START_TEST(f16_matches_double_forward)
{
	against_reference(HAL_TYPE_F16, 0.9999, 0.05);
}
END_TEST

/*
 * Q8_0 / Q4_0: the reference forward uses the dequantized weights, so the only difference left
 * is the per-block 8-bit quantization of activations (relative error ~0.4 % per element).
 */
START_TEST(q8_0_matches_double_forward)
{
	against_reference(HAL_TYPE_Q8_0, 0.999, 0.25);
}
END_TEST

START_TEST(q4_0_matches_double_forward)
{
	against_reference(HAL_TYPE_Q4_0, 0.999, 0.25);
}
END_TEST

/*
 * A Q4_0 model whose output.weight is Q6_K, as llama.cpp's quantizer writes them: it loads
 * with the Q6_K tensor as it is (nothing converted, says the model info) and stays as close to
 * the double forward pass on the file's own Q6_K values as an all-Q4_0 model does.
 */
START_TEST(q6_k_output_matches_double_forward)
{
	struct mkmodel_params p = small(HAL_TYPE_Q4_0);
	struct enpu_model_info mi = ENPU_MODEL_INFO_INIT;
	struct loaded l;

	p.dim = 256; /* Q6_K blocks are 256 wide */
	p.output_q6_k = true;
	char *path = make_model(&p);
	load_on(&l, path, "cpu");
	ck_assert_int_eq(enpu_model_info(l.model, &mi), ENPU_OK);
	ck_assert_uint_eq(mi.n_converted, 0);
	ck_assert_ptr_null(mi.converted);
	/* a decoded token reads one row of the (Q4_0) embedding table, and all of the rest */
	ck_assert_uint_eq(mi.decode_bytes,
			  mi.file_bytes - (uint64_t)(mi.n_vocab - 1) * (p.dim / 32 * 18));
	unload(&l);
	free(path);
	/* tied: the table is the output projection, read whole */
	p.output_q6_k = false;
	p.tied = true;
	path = make_model(&p);
	load_on(&l, path, "cpu");
	ck_assert_int_eq(enpu_model_info(l.model, &mi), ENPU_OK);
	ck_assert_uint_eq(mi.decode_bytes, mi.file_bytes);
	unload(&l);
	free(path);
	p.output_q6_k = true;
	p.tied = false;
	against_reference_of(&p, "cpu-ref", 0.999, 0.25);
	against_reference_of(&p, "cpu", 0.999, 0.25);
}
END_TEST

/*
 * Models of llama.cpp's K-quants, computed natively (each device's K-quant kernels): every
 * matrix Q4_K, Q5_K or Q6_K, and the Q4_K_M mix (Q4_K with Q6_K output, attn_v and
 * ffn_down in some layers), against the double forward pass on the file's own values, as
 * close as a Q4_0 model is (the activations' int8 rounding dominates: 6 bits of weights are
 * no closer than 4 here). On the GPU too when there is one.
 */
static void k_quant_against_reference(enum hal_type type, bool mix, double min_cos,
				      double max_abs)
{
	struct mkmodel_params p = small(type);
	struct enpu_model_info mi = ENPU_MODEL_INFO_INIT;
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *gpu = NULL;

	p.dim = 256; /* K-quant super-blocks are 256 wide */
	p.ffn = 512;
	p.q4_k_m = mix;
	char *path = make_model(&p);
	struct loaded l;

	load_on(&l, path, "cpu");
	ck_assert_int_eq(enpu_model_info(l.model, &mi), ENPU_OK);
	ck_assert_str_eq(mi.weight_type, hal_type_name(type));
	ck_assert_uint_eq(mi.n_converted, 0);
	unload(&l);
	against_reference_of(&p, "cpu-ref", min_cos, max_abs);
	against_reference_of(&p, "cpu", min_cos, max_abs);
	co.device = "gpu";
	if (enpu_context_create(&co, &gpu) == ENPU_OK) {
		enpu_context_destroy(gpu);
		against_reference_of(&p, "gpu", min_cos, max_abs);
	}
	free(path);
}

/* Q4_K, Q5_K, Q6_K, and the Q4_K_M mix: one loop index each. */
START_TEST(k_quant_matches_double_forward)
{
	static const enum hal_type types[] = { HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K,
					       HAL_TYPE_Q4_K };

	k_quant_against_reference(types[_i], _i == 3, 0.999, 0.25);
}
END_TEST

/*
 * Q8_0 against F32 of the same seed over 16 greedy decode steps, teacher-forced with the F32
 * model's tokens. ENPU_COMPARE_F32 / ENPU_COMPARE_Q8 may name other models (the closing-note
 * figures for the ~130 M model come from this test with those set).
 */
START_TEST(q8_0_vs_f32_decode)
{
	const char *fa = getenv("ENPU_COMPARE_F32"), *fb = getenv("ENPU_COMPARE_Q8");
	struct mkmodel_params pa = small(HAL_TYPE_F32), pb = small(HAL_TYPE_Q8_0);
	char *a_path = fa ? strdup(fa) : make_model(&pa);
	char *b_path = fb ? strdup(fb) : make_model(&pb);
	struct loaded a, b;
	double *tmp = malloc(sizeof(double) * 32000);
	double worst_cos = 1, worst_abs = 0;
	enpu_token t = 1;

	load(&a, a_path);
	load(&b, b_path);
	for (int step = 0; step < 16; step++) {
		ck_assert_int_eq(enpu_session_eval(a.sess, &t, 1), ENPU_OK);
		ck_assert_int_eq(enpu_session_eval(b.sess, &t, 1), ENPU_OK);
		const float *la = logits_of(&a), *lb = logits_of(&b);
		for (int i = 0; i < 32000; i++)
			tmp[i] = la[i];
		struct agreement ag = compare(lb, tmp, 32000);
		worst_cos = fmin(worst_cos, ag.cosine);
		worst_abs = fmax(worst_abs, ag.max_abs);
		ck_assert_int_eq(enpu_sample(a.sess, NULL, NULL, &t), ENPU_OK);
	}
	printf("Q8_0 vs F32, 16 decode steps: worst cosine %.6f, max abs diff %.4f\n", worst_cos,
	       worst_abs);
	/* weight quantization error (~0.4 % of each block's range) on top of activations' */
	ck_assert_msg(worst_cos > 0.99, "cosine %.6f", worst_cos);
	unload(&a);
	unload(&b);
	free(tmp);
	free(a_path);
	free(b_path);
}
END_TEST

START_TEST(info_and_tokenize)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_model_info mi = ENPU_MODEL_INFO_INIT;
	struct loaded l;
	enpu_token toks[8];
	size_t n;
	char piece[16];

	load(&l, path);
	ck_assert_int_eq(enpu_model_info(l.model, &mi), ENPU_OK);
	ck_assert_str_eq(mi.architecture, "llama");
	ck_assert_str_eq(mi.weight_type, "Q8_0");
	ck_assert_uint_eq(mi.n_vocab, 32000);
	ck_assert_uint_eq(mi.n_layer, 2);
	ck_assert_uint_eq(mi.n_head_kv, 2);
	ck_assert_uint_eq(mi.n_params, 32000ull * 64 * 2 + 64 + 2 * (2 * 64 + 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128));
	ck_assert_int_eq(enpu_tokenize(l.model, "Hello world", 11, true, toks, 8, &n), ENPU_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(toks[0], 1);
	ck_assert_int_eq(toks[1], 15043);
	ck_assert_int_eq(toks[2], 3186);
	ck_assert_int_eq(enpu_tokenize(l.model, "Hello world", 11, true, toks, 2, &n),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(enpu_token_to_piece(l.model, 3186, piece, sizeof(piece), &n), ENPU_OK);
	ck_assert_uint_eq(n, 6);
	ck_assert(!memcmp(piece, " world", 6));
	ck_assert_int_eq(enpu_token_bos(l.model), 1);
	ck_assert_int_eq(enpu_token_eos(l.model), 2);
	unload(&l);
	free(path);
}
END_TEST

/* Logits must be finite and spread out, or every generated token is the same. */
START_TEST(logits_finite_and_spread)
{
	struct mkmodel_params p = small(HAL_TYPE_Q4_0);
	char *path = make_model(&p);
	struct loaded l;
	enpu_token t = 1;
	double sum = 0, sq = 0;

	load(&l, path);
	ck_assert_int_eq(enpu_session_eval(l.sess, &t, 1), ENPU_OK);
	const float *lg = logits_of(&l);
	for (int i = 0; i < 32000; i++) {
		ck_assert(isfinite(lg[i]));
		sum += lg[i], sq += (double)lg[i] * lg[i];
	}
	double sd = sqrt(sq / 32000 - (sum / 32000) * (sum / 32000));
	ck_assert_msg(sd > 0.5 && sd < 20, "logit standard deviation %.3f", sd);
	unload(&l);
	free(path);
}
END_TEST

/* A batch of n tokens gives the same logits as the same tokens one at a time. */
START_TEST(prefill_equals_decode)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	const enpu_token toks[6] = { 1, 450, 4996, 17354, 1701, 29916 };
	struct loaded a, b;

	load(&a, path);
	load(&b, path);
	ck_assert_int_eq(enpu_session_eval(a.sess, toks, 6), ENPU_OK);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(enpu_session_eval(b.sess, &toks[i], 1), ENPU_OK);
	ck_assert_uint_eq(enpu_session_n_past(a.sess), 6);
	const float *la = logits_of(&a), *lb = logits_of(&b);
	for (int i = 0; i < 32000; i++)
		ck_assert_msg(fabsf(la[i] - lb[i]) <= 1e-4f * (1 + fabsf(la[i])),
			      "logit %d: %g vs %g", i, la[i], lb[i]);
	unload(&a);
	unload(&b);
	free(path);
}
END_TEST

struct collected {
	enpu_token toks[64];
	uint32_t n;
};

static bool collect(enpu_token t, const char *piece, size_t len, void *user)
{
	struct collected *c = user;

	(void)piece;
	(void)len;
	c->toks[c->n++] = t;
	return c->n < 64;
}

static struct collected generate(const char *path, const struct enpu_sampler_options *so)
{
	struct loaded l;
	struct collected c = { { 0 }, 0 };
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;

	load(&l, path);
	ck_assert_int_eq(enpu_generate(l.sess, "Once upon a time", 12, so, collect, &c, &st),
			 ENPU_OK);
	ck_assert_uint_eq(st.n_prompt, 5);
	ck_assert_uint_eq(st.n_generated, c.n);
	ck_assert_uint_eq(st.n_devices, 1);
	ck_assert_str_eq(st.devices[0].device, "cpu");
	ck_assert_uint_gt(st.devices[0].ops, 0);
	unload(&l);
	return c;
}

START_TEST(deterministic_generation)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_sampler_options s1 = ENPU_SAMPLER_OPTIONS_INIT;

	struct collected a = generate(path, &greedy), b = generate(path, &greedy);
	ck_assert_uint_eq(a.n, 12);
	ck_assert(!memcmp(&a, &b, sizeof(a)));

	s1.temperature = 1.0f;
	s1.top_k = 40;
	s1.top_p = 0.95f;
	s1.seed = 7;
	struct collected c = generate(path, &s1), d = generate(path, &s1);
	ck_assert(!memcmp(&c, &d, sizeof(c)));
	s1.seed = 8;
	struct collected e = generate(path, &s1);
	ck_assert_msg(memcmp(&c, &e, sizeof(c)) != 0, "seeds 7 and 8 sampled the same 12 tokens");
	free(path);
}
END_TEST

/* Two sessions of one context generating from two threads at once share the devices. */
struct gen_job {
	enpu_session *sess;
	const char *prompt;
	struct collected out;
	enpu_status st;
};

static void *gen_thread(void *p)
{
	struct gen_job *j = p;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;

	j->st = enpu_generate(j->sess, j->prompt, 12, &greedy, collect, &j->out, NULL);
	return NULL;
}

START_TEST(concurrent_sessions)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options hi = ENPU_SESSION_OPTIONS_INIT;
	enpu_context *ctx;
	enpu_model *model;
	struct gen_job jobs[2] = { { .prompt = "Once upon a time" },
				   { .prompt = "The quick brown fox" } };
	struct gen_job alone[2] = { { .prompt = "Once upon a time" },
				    { .prompt = "The quick brown fox" } };

	co.devices = "npu"; /* the CPU and the NPU: matmuls on the NPU, the rest on the CPU */
	ck_assert_msg(enpu_context_create(&co, &ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(ctx, path, NULL, &model) == ENPU_OK, "%s",
		      enpu_last_error(ctx));
	hi.priority = 3;
	/* each prompt alone, one after the other */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(enpu_session_create(model, NULL, &alone[i].sess), ENPU_OK);
		gen_thread(&alone[i]);
		ck_assert_int_eq(alone[i].st, ENPU_OK);
		enpu_session_free(alone[i].sess);
	}
	/* both at once, one of them at a higher priority */
	pthread_t th[2];
	ck_assert_int_eq(enpu_session_create(model, NULL, &jobs[0].sess), ENPU_OK);
	ck_assert_int_eq(enpu_session_create(model, &hi, &jobs[1].sess), ENPU_OK);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, gen_thread, &jobs[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(jobs[i].st == ENPU_OK, "%s", enpu_last_error(ctx));
		ck_assert_uint_eq(jobs[i].out.n, 12);
		ck_assert_msg(!memcmp(&jobs[i].out, &alone[i].out, sizeof(jobs[i].out)),
			      "session %d generated other tokens beside another session", i);
	}
	/* a failure in this thread stays this thread's message while another thread succeeds */
	const enpu_token bad = 1000000;
	ck_assert_int_eq(enpu_session_eval(jobs[0].sess, &bad, 1), ENPU_ERR_INVALID_ARG);
	jobs[1].out.n = 0;
	ck_assert_int_eq(pthread_create(&th[1], NULL, gen_thread, &jobs[1]), 0);
	pthread_join(th[1], NULL);
	ck_assert_int_eq(jobs[1].st, ENPU_OK);
	ck_assert_msg(strstr(enpu_last_error(ctx), "outside the vocabulary"), "%s",
		      enpu_last_error(ctx));
	for (int i = 0; i < 2; i++)
		enpu_session_free(jobs[i].sess);
	enpu_model_free(model);
	enpu_context_destroy(ctx);
	free(path);
}
END_TEST

/*
 * "auto" placement on a profile that puts the matmuls on the GPU and the NPU: the context's
 * CPU, GPU (OpenCL) and in-process NPU all run ops of the graph, each matmul with its weights
 * in its device's layout, and the logits match the reference backend's token after token.
 */
START_TEST(auto_placement_on_cpu_gpu_npu_matches_reference)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct loaded ref, dut;
	const enpu_token toks[8] = { 1, 15, 300, 4000, 27, 99, 512, 7 };

	load_on(&ref, path, "cpu-ref");
	co.devices = "gpu,npu";
	ck_assert_msg(enpu_context_create(&co, &dut.ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(dut.ctx, path, NULL, &dut.model) == ENPU_OK, "%s",
		      enpu_last_error(dut.ctx));
	so.placement = "auto";
	so.profile = tu_profile_slow_cpu(false);
	ck_assert_msg(enpu_session_create(dut.model, &so, &dut.sess) == ENPU_OK, "%s",
		      enpu_last_error(dut.ctx));
	/* a prefill of 4, then decode steps */
	for (int i = 0; i < 5; i++) {
		const enpu_token *t = i ? &toks[3 + i] : toks;
		size_t n = i ? 1 : 4, nv, nv2;
		const float *a, *b;

		ck_assert_msg(enpu_session_eval(dut.sess, t, n) == ENPU_OK, "%s",
			      enpu_last_error(dut.ctx));
		ck_assert_int_eq(enpu_session_eval(ref.sess, t, n), ENPU_OK);
		ck_assert_int_eq(enpu_session_logits(dut.sess, &a, &nv), ENPU_OK);
		ck_assert_int_eq(enpu_session_logits(ref.sess, &b, &nv2), ENPU_OK);
		ck_assert_uint_eq(nv, nv2);
		double dot = 0, na = 0, nb = 0;
		for (size_t k = 0; k < nv; k++)
			dot += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
		ck_assert_msg(dot / sqrt(na * nb) > 0.9999, "step %d: cosine %.6f", i,
			      dot / sqrt(na * nb));
	}
	struct enpu_device_usage u[ENPU_MAX_DEVICES];
	uint32_t n = enpu_session_device_usage(dut.sess, u, ENPU_MAX_DEVICES);
	ck_assert_uint_eq(n, 3);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_msg(u[i].ops > 0, "%s ran no op", u[i].device);
		ck_assert_uint_eq(u[i].bytes_copied, 0);
	}
	struct enpu_schedule_report rep = ENPU_SCHEDULE_REPORT_INIT;
	ck_assert_int_eq(enpu_session_schedule_report(dut.sess, &rep), ENPU_OK);
	ck_assert_msg(strstr(rep.table, "host: ") && strstr(rep.table, " gpu ") &&
			      strstr(rep.table, " npu "), "table:\n%s", rep.table);
	ck_assert_uint_eq(rep.decode_steps, 4);
	/* the same struct again (its size kept), and a caller's struct of the first version */
	ck_assert_uint_eq(rep.struct_size, sizeof(rep));
	ck_assert_int_eq(enpu_session_schedule_report(dut.sess, &rep), ENPU_OK);
	struct enpu_schedule_report old = { .struct_size = offsetof(struct enpu_schedule_report,
								    decode_steps),
					    .decode_steps = 12345 };
	ck_assert_int_eq(enpu_session_schedule_report(dut.sess, &old), ENPU_OK);
	ck_assert_str_eq(old.table, rep.table);
	ck_assert_uint_eq(old.decode_steps, 12345); /* past its size: untouched */
	unload(&dut);
	unload(&ref);
	free(path);
}
END_TEST

/*
 * "auto" on the host's own profile learns: the dispatcher feeds each op's measured time to the
 * placer, and after its first runs the decode graph is placed again on what was learnt.
 */
START_TEST(auto_placement_on_host_places_again_after_learning)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct loaded dut;
	const enpu_token toks[8] = { 1, 15, 300, 4000, 27, 99, 512, 7 };

	load_on(&dut, path, "cpu");
	enpu_session_free(dut.sess);
	so.placement = "auto";
	so.profile = "host";
	ck_assert_msg(enpu_session_create(dut.model, &so, &dut.sess) == ENPU_OK, "%s",
		      enpu_last_error(dut.ctx));
	for (int i = 0; i < 8; i++)
		ck_assert_msg(enpu_session_eval(dut.sess, &toks[i], 1) == ENPU_OK, "%s",
			      enpu_last_error(dut.ctx));
	struct enpu_schedule_report rep = ENPU_SCHEDULE_REPORT_INIT;
	ck_assert_int_eq(enpu_session_schedule_report(dut.sess, &rep), ENPU_OK);
	ck_assert_str_eq(rep.profile, "host");
	ck_assert_uint_eq(rep.decode_steps, 8);
	ck_assert_uint_eq(rep.replacements, 1); /* after the 4th run; next at the 256th */
	ck_assert_msg(rep.place_total_ms > rep.place_ms, "%.3f ms in all, %.3f once",
		      rep.place_total_ms, rep.place_ms);
	unload(&dut);
	free(path);
}
END_TEST

static size_t tokenize(enpu_model *m, const char *text, bool bos, enpu_token *out, size_t cap)
{
	size_t n = 0;

	ck_assert_int_eq(enpu_tokenize(m, text, strlen(text), bos, out, cap, &n), ENPU_OK);
	return n;
}

static void assert_same_logits(enpu_session *a, enpu_session *b, float tol)
{
	const float *la, *lb;
	size_t na, nb;

	ck_assert_int_eq(enpu_session_logits(a, &la, &na), ENPU_OK);
	ck_assert_int_eq(enpu_session_logits(b, &lb, &nb), ENPU_OK);
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		ck_assert_msg(fabsf(la[i] - lb[i]) <= tol, "logit %zu: %g vs %g", i, la[i], lb[i]);
}

/*
 * A second enpu_generate continues the session: no BOS in the middle, and the last token the
 * first call produced is evaluated before the new prompt. Checked against evaluating the
 * whole sequence by hand on the reference backend.
 */
START_TEST(generate_continues_the_conversation)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct loaded a, b;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;
	struct collected g1 = { .n = 0 }, g2 = { .n = 0 };
	enpu_token seq[512];
	size_t n = 0;

	load_on(&a, path, "cpu-ref");
	load_on(&b, path, "cpu-ref");
	ck_assert_int_eq(enpu_generate(a.sess, "Hello there", 6, &greedy, collect, &g1, &st),
			 ENPU_OK);
	const uint32_t after_first = enpu_session_n_past(a.sess);
	ck_assert_int_eq(enpu_generate(a.sess, " and then", 5, &greedy, collect, &g2, NULL),
			 ENPU_OK);
	/* the same sequence by hand: BOS + first prompt + what it produced + second prompt */
	n = tokenize(b.model, "Hello there", true, seq, 512);
	ck_assert_uint_eq(after_first, n + g1.n - 1 + st.stopped_at_eos);
	for (uint32_t i = 0; i < g1.n; i++)
		seq[n++] = g1.toks[i];
	if (st.stopped_at_eos)
		seq[n++] = enpu_token_eos(b.model);
	n += tokenize(b.model, " and then", false, seq + n, 512 - n);
	ck_assert_int_eq(enpu_session_eval(b.sess, seq, n), ENPU_OK);
	for (uint32_t i = 0; i < g2.n; i++) {
		enpu_token t;
		uint64_t rng = 0;

		ck_assert_int_eq(enpu_sample(b.sess, &greedy, &rng, &t), ENPU_OK);
		ck_assert_int_eq(t, g2.toks[i]);
		ck_assert_int_eq(enpu_session_eval(b.sess, &t, 1), ENPU_OK);
	}
	unload(&a);
	unload(&b);
	free(path);
}
END_TEST

/* A context that fills is an error that says so, after streaming what fit; stats filled. */
START_TEST(generate_reports_a_full_context)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct loaded a;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;
	struct collected g = { .n = 0 };

	load_on(&a, path, "cpu");
	enpu_session_free(a.sess);
	so.n_ctx = 12;
	ck_assert_int_eq(enpu_session_create(a.model, &so, &a.sess), ENPU_OK);
	enpu_status rc = enpu_generate(a.sess, "Once upon", 50, &greedy, collect, &g, &st);
	/* this model and prompt run into the window before any EOS */
	ck_assert(!st.stopped_at_eos);
	ck_assert_int_eq(rc, ENPU_ERR_CONTEXT_FULL);
	ck_assert(st.stopped_at_ctx_full);
	ck_assert_msg(strstr(enpu_last_error(a.ctx), "context is full after"), "%s",
		      enpu_last_error(a.ctx));
	/* every position was used, and one more token was produced into the last */
	ck_assert_uint_eq(enpu_session_n_past(a.sess), 12);
	ck_assert_uint_eq(st.n_prompt + st.n_generated, 13);
	ck_assert_uint_eq(g.n, st.n_generated);
	unload(&a);
	free(path);
}
END_TEST

/* Truncating rewinds: the same tokens evaluated again give the same logits, bit for bit. */
START_TEST(truncate_rewinds_the_sequence)
{
	struct mkmodel_params p = small(HAL_TYPE_Q4_0);
	char *path = make_model(&p);
	struct loaded a, b;
	const enpu_token toks[10] = { 1, 15, 300, 4000, 27, 99, 512, 7, 2000, 31 };

	load(&a, path);
	load(&b, path);
	ck_assert_int_eq(enpu_session_eval(a.sess, toks, 5), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(a.sess, toks + 5, 5), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(b.sess, toks, 5), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(b.sess, (const enpu_token[]){ 8, 9, 10 }, 3), ENPU_OK);
	ck_assert_int_eq(enpu_session_truncate(b.sess, 11), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_truncate(b.sess, 5), ENPU_OK);
	ck_assert_uint_eq(enpu_session_n_past(b.sess), 5);
	const float *l;
	size_t nv;
	ck_assert_int_eq(enpu_session_logits(b.sess, &l, &nv), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_eval(b.sess, toks + 5, 5), ENPU_OK);
	assert_same_logits(a.sess, b.sess, 0.0f);
	unload(&a);
	unload(&b);
	free(path);
}
END_TEST

/*
 * A saved state restored into a fresh session (from a buffer and from a file) continues
 * exactly as the original does, pending token included; a state of another model, a short
 * buffer and special files are refused with messages that say so.
 */
START_TEST(state_save_and_restore)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0), q = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p), *other;
	struct loaded a, b, c, d;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	struct collected g = { .n = 0 };
	const enpu_token next = 77;
	char file[600], fifo[600];
	size_t len = 0;

	q.seed = 7;
	other = make_model(&q);
	load(&a, path);
	load(&b, path);
	load(&c, path);
	load(&d, other);
	ck_assert_int_eq(enpu_generate(a.sess, "Hello", 3, &greedy, collect, &g, NULL), ENPU_OK);
	ck_assert_int_eq(enpu_session_state_save(a.sess, NULL, 0, &len), ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(len, enpu_session_state_size(a.sess));
	char *buf = malloc(len);
	ck_assert_int_eq(enpu_session_state_save(a.sess, buf, len, &len), ENPU_OK);
	snprintf(file, sizeof(file), "%s", tu_tmp_path(".state"));
	ck_assert_msg(enpu_session_save_file(a.sess, file) == ENPU_OK, "%s",
		      enpu_last_error(a.ctx));

	ck_assert_int_eq(enpu_session_state_load(b.sess, buf, len), ENPU_OK);
	ck_assert_msg(enpu_session_load_file(c.sess, file) == ENPU_OK, "%s",
		      enpu_last_error(c.ctx));
	ck_assert_uint_eq(enpu_session_n_past(b.sess), enpu_session_n_past(a.sess));
	ck_assert_int_eq(enpu_session_eval(a.sess, &next, 1), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(b.sess, &next, 1), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(c.sess, &next, 1), ENPU_OK);
	assert_same_logits(a.sess, b.sess, 0.0f);
	assert_same_logits(a.sess, c.sess, 0.0f);

	/* refused: another model, a short buffer, a FIFO, a symlink to write through */
	ck_assert_int_eq(enpu_session_state_load(d.sess, buf, len), ENPU_ERR_FORMAT);
	ck_assert_msg(strstr(enpu_last_error(d.ctx), "another model"), "%s",
		      enpu_last_error(d.ctx));
	ck_assert_int_eq(enpu_session_state_load(b.sess, buf, len - 4), ENPU_ERR_FORMAT);
	ck_assert_int_eq(enpu_session_state_load(b.sess, buf, 10), ENPU_ERR_FORMAT);
	/* the sequence's token ids (flag 4, before the logits) must be of the vocabulary */
	uint32_t n_vocab, n_past, flags;
	memcpy(&n_vocab, buf + 20, 4);
	memcpy(&n_past, buf + 24, 4);
	memcpy(&flags, buf + 28, 4);
	ck_assert(flags & 4);
	char *bad = malloc(len);
	memcpy(bad, buf, len);
	const int32_t outside = (int32_t)n_vocab;
	memcpy(bad + len - (flags & 2 ? 4 * n_vocab : 0) - 4 * n_past, &outside, 4);
	ck_assert_int_eq(enpu_session_state_load(b.sess, bad, len), ENPU_ERR_FORMAT);
	ck_assert_msg(strstr(enpu_last_error(b.ctx), "token 0 of the sequence"), "%s",
		      enpu_last_error(b.ctx));
	free(bad);
	snprintf(fifo, sizeof(fifo), "%s", tu_tmp_path(".fifo"));
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(enpu_session_load_file(b.sess, fifo), ENPU_ERR_IO);
	ck_assert_msg(strstr(enpu_last_error(b.ctx), "FIFO"), "%s", enpu_last_error(b.ctx));
	ck_assert_int_eq(enpu_session_save_file(b.sess, fifo), ENPU_ERR_IO);
	unlink(fifo);

	/* a state of a full context (rows, tokens and logits: the largest there is) loads back */
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_session *full, *back;
	enpu_token toks[16];
	so.n_ctx = 16;
	for (int i = 0; i < 16; i++)
		toks[i] = (enpu_token)(5 + i);
	ck_assert_int_eq(enpu_session_create(a.model, &so, &full), ENPU_OK);
	ck_assert_int_eq(enpu_session_create(a.model, &so, &back), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(full, toks, 16), ENPU_OK);
	ck_assert_msg(enpu_session_save_file(full, file) == ENPU_OK, "%s", enpu_last_error(a.ctx));
	ck_assert_msg(enpu_session_load_file(back, file) == ENPU_OK, "%s", enpu_last_error(a.ctx));
	ck_assert_uint_eq(enpu_session_n_past(back), 16);
	enpu_session_free(full);
	enpu_session_free(back);
	unlink(file);
	free(buf);
	unload(&a);
	unload(&b);
	unload(&c);
	unload(&d);
	free(path);
	free(other);
}
END_TEST

/*
 * A model read through io_uring is the same model as the mapped one (the same logits, bit for
 * bit), says how it was read, and a FIFO or a cancelled load is refused cleanly.
 */
static bool cancel_at_half(uint64_t done, uint64_t total, void *user)
{
	(void)user;
	return done * 2 < total;
}

START_TEST(model_read_through_io_uring)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_model_options mo = ENPU_MODEL_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	enpu_model *read = NULL, *cancelled = NULL;
	struct loaded mapped;
	enpu_session *s = NULL;
	const enpu_token toks[4] = { 1, 15, 300, 4000 };

	load(&mapped, path);
	ck_assert_int_eq(enpu_model_info(mapped.model, &info), ENPU_OK);
	ck_assert_str_eq(info.read_method, "mmap");
	mo.read = ENPU_READ_URING;
	ck_assert_msg(enpu_model_load(mapped.ctx, path, &mo, &read) == ENPU_OK, "%s",
		      enpu_last_error(mapped.ctx));
	ck_assert_int_eq(enpu_model_info(read, &info), ENPU_OK);
	ck_assert_msg(!strcmp(info.read_method, "io_uring") ||
			      !strncmp(info.read_method, "pread (io_uring refused", 23),
		      "%s", info.read_method);
	ck_assert_int_eq(enpu_session_create(read, NULL, &s), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(s, toks, 4), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(mapped.sess, toks, 4), ENPU_OK);
	assert_same_logits(mapped.sess, s, 0.0f);
	enpu_session_free(s);
	enpu_model_free(read);

	mo.progress = cancel_at_half;
	ck_assert_int_eq(enpu_model_load(mapped.ctx, path, &mo, &cancelled), ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(mapped.ctx), "cancelled"), "%s",
		      enpu_last_error(mapped.ctx));
	ck_assert_ptr_null(cancelled);
	mo.progress = NULL;
	const char *fifo = tu_tmp_path(".fifo");
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(enpu_model_load(mapped.ctx, fifo, &mo, &cancelled), ENPU_ERR_IO);
	ck_assert_msg(strstr(enpu_last_error(mapped.ctx), "is a FIFO, not a file"), "%s",
		      enpu_last_error(mapped.ctx));
	mo.read = 7;
	ck_assert_int_eq(enpu_model_load(mapped.ctx, path, &mo, &cancelled), ENPU_ERR_INVALID_ARG);
	unlink(fifo);
	unload(&mapped);
	free(path);
}
END_TEST

/* Generating the same model twice gives the same bytes. */
START_TEST(generator_deterministic)
{
	struct mkmodel_params p = small(HAL_TYPE_Q4_0);
	char *a = make_model(&p), *b = make_model(&p);
	size_t na, nb;
	void *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);

	ck_assert_uint_eq(na, nb);
	ck_assert(!memcmp(da, db, na));
	free(da), free(db), free(a), free(b);
}
END_TEST

static void expect_load_error(const char *path, enpu_status want, const char *needle)
{
	tu_expect_load_error(path, want, needle);
}

/* Rewrites a generated model with one key changed or dropped. */
/* src with key set to *u32 or *f32 (neither: removed), written to a fresh path. */
static char *model_edited(const char *src, const char *key, const uint32_t *u32,
			  const float *f32)
{
	return tu_model_edited(src, &(struct tu_edit){ .key = key, .u32 = u32, .f32 = f32 });
}

/* src with key set to value (a u32), or removed (value < 0). */
static char *model_with(const char *src, const char *key, int64_t value)
{
	const uint32_t v = (uint32_t)value;

	return model_edited(src, key, value >= 0 ? &v : NULL, NULL);
}

/* NaN, infinities and absurd floats in the hyperparameters and the weights are refused. */
START_TEST(non_finite_hparams_refused)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *good = make_model(&p);
	const struct {
		const char *key;
		float value;
	} bad[] = {
		{ "llama.attention.layer_norm_rms_epsilon", NAN },
		{ "llama.attention.layer_norm_rms_epsilon", INFINITY },
		{ "llama.rope.freq_base", INFINITY },
		{ "llama.rope.freq_base", NAN },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *m = model_edited(good, bad[i].key, NULL, &bad[i].value);

		expect_load_error(m, ENPU_ERR_FORMAT, bad[i].key);
		free(m);
	}
	/* a NaN block scale in a weight, and an infinite F32 norm element */
	struct gguf_file *f;
	char err[256];
	size_t n;
	ck_assert_int_eq(gguf_open(good, &f, err, sizeof(err)), GGUF_OK);
	const struct gguf_tensor_info *q = gguf_find_tensor(f, "blk.1.attn_q.weight");
	const struct gguf_tensor_info *nw = gguf_find_tensor(f, "blk.0.attn_norm.weight");
	ck_assert(q && nw);
	const uint64_t q_at = f->data_offset + q->offset + 2 * 34; /* block 2's scale */
	const uint64_t nw_at = f->data_offset + nw->offset + 5 * 4; /* element 5 */
	gguf_close(f);
	char *bytes = tu_read_file(good, &n);
	const char *nan_scale = tu_tmp_path(".gguf"), *inf_norm = tu_tmp_path(".gguf");
	const uint16_t h_nan = 0x7e00;
	const float inf = INFINITY;
	memcpy(bytes + q_at, &h_nan, 2);
	tu_write_file(nan_scale, bytes, n);
	expect_load_error(nan_scale, ENPU_ERR_FORMAT,
			  "tensor 'blk.1.attn_q.weight' block scale of block 2 is NaN or infinite");
	free(bytes);
	bytes = tu_read_file(good, &n);
	memcpy(bytes + nw_at, &inf, 4);
	tu_write_file(inf_norm, bytes, n);
	expect_load_error(inf_norm, ENPU_ERR_FORMAT,
			  "tensor 'blk.0.attn_norm.weight' element 5 is NaN or infinite");
	free(bytes);
	free(good);
}
END_TEST

START_TEST(load_errors_named)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *good = make_model(&p);
	size_t n;
	char *bytes = tu_read_file(good, &n);
	const char *trunc = tu_tmp_path(".gguf");

	expect_load_error("/nonexistent/model.gguf", ENPU_ERR_IO, "/nonexistent/model.gguf");
	tu_write_file(trunc, bytes, n / 2);
	expect_load_error(trunc, ENPU_ERR_FORMAT, "byte");
	expect_load_error(tu_vocab_path(), ENPU_ERR_FORMAT, "token_embd.weight");

	char *m1 = model_with(good, "llama.block_count", -1);
	expect_load_error(m1, ENPU_ERR_FORMAT, "llama.block_count");
	char *m2 = model_with(good, "llama.attention.head_count", 5);
	expect_load_error(m2, ENPU_ERR_FORMAT, "llama.attention.head_count (5) does not divide");
	char *m3 = model_with(good, "llama.attention.head_count_kv", 4);
	expect_load_error(m3, ENPU_ERR_FORMAT, "blk.0.attn_k.weight");
	char *m4 = model_with(good, "llama.feed_forward_length", 96);
	expect_load_error(m4, ENPU_ERR_FORMAT, "blk.0.ffn_gate.weight");
	/* rope scaling keys of another type: refused, not run without the scaling they meant */
	char *m5 = model_with(good, "llama.rope.scaling.factor", 4);
	expect_load_error(m5, ENPU_ERR_FORMAT, "key 'llama.rope.scaling.factor' is not a float");
	char *m6 = model_with(good, "llama.rope.scaling.type", 2);
	expect_load_error(m6, ENPU_ERR_FORMAT, "key 'llama.rope.scaling.type' is not a string");
	free(m1), free(m2), free(m3), free(m4), free(m5), free(m6), free(bytes), free(good);
}
END_TEST

START_TEST(session_errors)
{
	struct mkmodel_params p = small(HAL_TYPE_Q8_0);
	char *path = make_model(&p);
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_context *ctx;
	enpu_model *m;
	enpu_session *s;
	const float *lg;
	size_t n;
	enpu_token bad[3] = { 1, 32000, 5 }, ok[5] = { 1, 2, 3, 4, 5 };

	ck_assert_int_eq(enpu_context_create(NULL, &ctx), ENPU_OK);
	ck_assert_int_eq(enpu_model_load(ctx, path, NULL, &m), ENPU_OK);
	so.n_ctx = 4;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_OK);
	ck_assert_int_eq(enpu_session_logits(s, &lg, &n), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_eval(s, bad, 3), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "token 1 is 32000"));
	ck_assert_int_eq(enpu_session_n_past(s), 0);
	ck_assert_int_eq(enpu_session_eval(s, ok, 5), ENPU_ERR_CONTEXT_FULL);
	ck_assert_int_eq(enpu_session_eval(s, ok, 4), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(s, ok, 1), ENPU_ERR_CONTEXT_FULL);
	ck_assert_int_eq(enpu_session_reset(s), ENPU_OK);
	/* a count that wraps with the pending token is still too many (not read past ok) */
	ck_assert_int_eq(enpu_generate(s, "", 1, NULL, NULL, NULL, NULL), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(s, ok, SIZE_MAX), ENPU_ERR_CONTEXT_FULL);
	ck_assert_int_eq(enpu_session_reset(s), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(s, ok, 1), ENPU_OK);
	/* NULL where an array belongs, NaN where a number belongs, a buffer too small */
	ck_assert_uint_eq(enpu_session_device_usage(s, NULL, 4), 0);
	struct enpu_sampler_options nan_temp = ENPU_SAMPLER_OPTIONS_INIT;
	uint64_t rng = 1;
	enpu_token t;
	nan_temp.temperature = NAN;
	ck_assert_int_eq(enpu_sample(s, &nan_temp, &rng, &t), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "must be numbers"));
	char piece[2];
	size_t len = 0;
	enpu_token hello;
	size_t one = 0;
	ck_assert_int_eq(enpu_tokenize(m, "Hello", 5, false, &hello, 1, &one), ENPU_OK);
	ck_assert_int_eq(enpu_token_to_piece(m, hello, piece, sizeof(piece), &len),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(len, 6); /* " Hello": call again with that much */
	ck_assert(!memcmp(piece, " H", 2));
	ck_assert_int_eq(enpu_token_to_piece(m, -3, piece, sizeof(piece), &len),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(enpu_session_save_file(s, ""), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "no path given"));
	ck_assert_int_eq(enpu_session_load_file(s, ""), ENPU_ERR_INVALID_ARG);
	enpu_session_free(s);
	so.n_ctx = 100000;
	ck_assert_int_eq(enpu_session_create(m, &so, &s), ENPU_ERR_INVALID_ARG);
	enpu_model_free(m);
	enpu_context_destroy(ctx);

	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	co.device = "tpu";
	ck_assert_int_eq(enpu_context_create(&co, &ctx), ENPU_ERR_INVALID_ARG);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tu_require_shared_vocab();
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, info_and_tokenize);
	tcase_add_test(tc, f32_matches_double_forward);
	tcase_add_test(tc, f16_matches_double_forward);
	tcase_add_test(tc, q8_0_matches_double_forward);
	tcase_add_test(tc, q4_0_matches_double_forward);
	tcase_add_test(tc, q6_k_output_matches_double_forward);
	tcase_add_loop_test(tc, k_quant_matches_double_forward, 0, 4);
	tcase_add_test(tc, q8_0_vs_f32_decode);
	tcase_add_test(tc, logits_finite_and_spread);
	tcase_add_test(tc, prefill_equals_decode);
	tcase_add_test(tc, deterministic_generation);
	tcase_add_test(tc, generator_deterministic);
	tcase_add_test(tc, load_errors_named);
	tcase_add_test(tc, non_finite_hparams_refused);
	tcase_add_test(tc, session_errors);
	tcase_add_test(tc, concurrent_sessions);
	tcase_add_test(tc, auto_placement_on_cpu_gpu_npu_matches_reference);
	tcase_add_test(tc, auto_placement_on_host_places_again_after_learning);
	tcase_add_test(tc, generate_continues_the_conversation);
	tcase_add_test(tc, generate_reports_a_full_context);
	tcase_add_test(tc, truncate_rewinds_the_sequence);
	tcase_add_test(tc, state_save_and_restore);
	tcase_add_test(tc, model_read_through_io_uring);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
