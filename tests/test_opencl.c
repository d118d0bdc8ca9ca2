/* SPDX-License-Identifier: MIT */
/*
 * test_opencl.c - the OpenCL backend ("gpu") against the reference CPU backend: every kernel
 * on several shapes (odd sizes, T = 1 and T > 1, GQA), a whole generated model through the
 * public API, the zero-copy path, explicit counted copies, the program binary cache, and the
 * errors (broken kernel source, missing device feature, no OpenCL platform at all).
 *
 * These tests need an OpenCL platform; tools/install-deps.sh installs PoCL. Without one they
 * fail with the reason; they never skip.
 *
 * Tolerances: each comparison bounds |gpu - ref| per element from the operands, from how the
 * two implementations differ (summation order, float instead of double accumulation, the
 * OpenCL built-ins' ulp bounds); u = 2^-24 is float's unit roundoff.
 */
#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edge_npu.h"
#include "hal/completion.h"
#include "hal/hal.h"
#include "hal/opencl/opencl.h"
#include "hal/quant.h"
#include "testutil.h"
#include "tools/mkmodel.h"

#define U 0x1p-24 /* unit roundoff of float */

static float *F(const struct hal_tensor *t)
{
	return t->data;
}

/* A deep copy of op's tensors for the second device; aliasing (dst == src) is kept. */
static void op_twin(const struct hal_op *op, struct hal_op *twin)
{
	struct hal_tensor *orig[HAL_OP_MAX_SRC + 1], *copy[HAL_OP_MAX_SRC + 1];
	int n = 0;

	*twin = *op;
	for (int i = 0; i <= HAL_OP_MAX_SRC; i++) {
		struct hal_tensor **slot = i < HAL_OP_MAX_SRC ? &twin->src[i] : &twin->dst;
		struct hal_tensor *t = *slot, *c = NULL;

		if (!t)
			continue;
		for (int j = 0; j < n; j++)
			if (orig[j]->data == t->data)
				c = copy[j];
		if (!c) {
			c = tu_talloc(sizeof(*c));
			*c = *t;
			c->data = tu_talloc(hal_tensor_bytes(t));
			memcpy(c->data, t->data, hal_tensor_bytes(t));
			orig[n] = t;
			copy[n++] = c;
		}
		*slot = c;
	}
}

/* ---- devices ------------------------------------------------------------------------------ */

static struct hal_device *gpu_new(void)
{
	char err[4096] = "";
	struct hal_device *dev = NULL;
	enum hal_status st = hal_opencl_create(NULL, NULL, &dev, err, sizeof(err));

	/* no skip: a machine without OpenCL fails here with the reason */
	ck_assert_msg(st == HAL_OK && dev, "OpenCL device unavailable (run tools/install-deps.sh "
		      "to install PoCL): %s", err);
	return dev;
}

static struct hal_device *ref_new(void)
{
	struct hal_device *dev = NULL;

	ck_assert_int_eq(hal_cpu_ref_create(&dev), HAL_OK);
	return dev;
}

static void run_ok(struct hal_device *dev, const struct hal_op *op)
{
	enum hal_status st = dev->vt->run(dev, op);

	ck_assert_msg(st == HAL_OK, "%s on %s failed (%d): %s", hal_op_name(op->kind), dev->name,
		      st, dev->error);
}

/*
 * Runs op on the reference and its twin on the GPU, and checks every output element against
 * tol (computed by the caller from the inputs, before an in-place op overwrites them). For
 * attention the caches are outputs too: they must hold the same rows.
 */
static void compare(const char *what, struct hal_op *op, const float *tol)
{
	struct hal_device *ref = ref_new(), *gpu = gpu_new();
	struct hal_op twin;

	op_twin(op, &twin);
	ck_assert_msg(gpu->vt->supports(gpu, &twin), "%s: gpu does not support the op", what);
	run_ok(ref, op);
	run_ok(gpu, &twin);
	for (size_t i = 0; i < (size_t)op->dst->ne[0] * op->dst->ne[1]; i++) {
		double r = F(op->dst)[i], g = F(twin.dst)[i], d = fabs(g - r);

		ck_assert_msg(d <= tol[i], "%s: element %zu (row %zu): gpu %.9g, ref %.9g, "
			      "|diff| %.3g > tol %.3g", what, i, i / op->dst->ne[0], g, r, d,
			      (double)tol[i]);
	}
	if (op->kind == HAL_OP_ATTENTION)
		for (int c = 3; c <= 4; c++)
			ck_assert_msg(!memcmp(op->src[c]->data, twin.src[c]->data,
					      hal_tensor_bytes(op->src[c])),
				      "%s: KV cache %d differs after the op", what, c);
	ck_assert_uint_eq(gpu->stats.bytes_copied, 0);
	ck_assert_uint_eq(gpu->stats.ops, 1);
	hal_device_destroy(ref);
	hal_device_destroy(gpu);
}

static float *tol_new(const struct hal_tensor *dst)
{
	return tu_talloc((size_t)dst->ne[0] * dst->ne[1] * sizeof(float));
}

/* ---- MATMUL ------------------------------------------------------------------------------- */

/*
 * Quantized weights: both sides compute the same per-block terms (float)isum * (d_w * d_a)
 * bit for bit (same activation quantization, exact integer dots); they only add them in
 * another order. Two summations of the same nb terms differ by at most 2 (nb - 1) u S, with S
 * the sum of the terms' magnitudes, which is computed here from the reference quantization.
 * A device that quantized a single activation differently would be off by ~d_w * d_a * 32,
 * far beyond this bound.
 */
static void tol_matmul_quant(const struct hal_op *op, float *tol)
{
	const struct hal_tensor *w = op->src[0], *a = op->src[1];
	uint32_t K = w->ne[0], N = w->ne[1], nb = K / HAL_QK;
	struct hal_block_q8_0 *aq = tu_talloc(nb * sizeof(*aq));
	float *wrow = tu_talloc(K * sizeof(float));

	for (uint32_t t = 0; t < a->ne[1]; t++) {
		hal_quantize_row_q8_0(F(a) + (size_t)t * K, aq, K);
		for (uint32_t n = 0; n < N; n++) {
			double S = 0.0;

			/* |isum * d_w| * |d_a| = sum over the block of |w_dequant * q_a| * |d_a| */
			hal_dequantize_row(w->type, (char *)w->data + n * hal_row_bytes(w->type, K),
					   wrow, K);
			for (uint32_t b = 0; b < nb; b++) {
				double isum_dw = 0.0;

				for (int j = 0; j < HAL_QK; j++)
					isum_dw += (double)wrow[b * HAL_QK + j] * aq[b].qs[j];
				S += fabs(isum_dw) * hal_fp16_to_fp32(aq[b].d);
			}
			tol[(size_t)t * N + n] = (float)(2.0 * (nb + 1) * U * S * 1.01 + 1e-30);
		}
	}
}

/*
 * F32/F16: identical products (F16: both operands half, product exact in float); the
 * reference sums them in double, the device in float: |diff| <= (K + 1) u sum |products|.
 */
static void tol_matmul_float(const struct hal_op *op, float *tol)
{
	const struct hal_tensor *w = op->src[0], *a = op->src[1];
	uint32_t K = w->ne[0], N = w->ne[1];
	float *wrow = tu_talloc(K * sizeof(float));

	for (uint32_t n = 0; n < N; n++) {
		hal_dequantize_row(w->type, (char *)w->data + n * hal_row_bytes(w->type, K), wrow,
				   K);
		for (uint32_t t = 0; t < a->ne[1]; t++) {
			double S = 0.0;

			for (uint32_t k = 0; k < K; k++)
				S += fabs((double)wrow[k] * F(a)[(size_t)t * K + k]);
			tol[(size_t)t * N + n] = (float)((K + 2) * U * S * 1.01 + 1e-30);
		}
	}
}

static void check_matmul(enum hal_type type, uint32_t K, uint32_t N, uint32_t T, uint64_t seed)
{
	uint64_t rng = seed;
	struct hal_op op = { .kind = HAL_OP_MATMUL };
	char what[64];

	op.src[0] = tu_weight_rand("w", type, K, N, &rng, NULL);
	op.src[1] = tu_tensor_rand("a", K, T, &rng, 2.0f);
	op.dst = tu_tensor_new("y", HAL_TYPE_F32, N, T);
	float *tol = tol_new(op.dst);

	if (type == HAL_TYPE_Q8_0 || type == HAL_TYPE_Q4_0)
		tol_matmul_quant(&op, tol);
	else
		tol_matmul_float(&op, tol);
	snprintf(what, sizeof(what), "matmul %s K=%u N=%u T=%u", hal_type_name(type), K, N, T);
	compare(what, &op, tol);
}

/* Shapes: one block, rows not a multiple of the work-group (or of the 4-token tile), T > 4. */
START_TEST(matmul_q8_0)
{
	check_matmul(HAL_TYPE_Q8_0, 32, 1, 1, 1);
	check_matmul(HAL_TYPE_Q8_0, 96, 67, 1, 2);
	check_matmul(HAL_TYPE_Q8_0, 256, 130, 5, 3);
	check_matmul(HAL_TYPE_Q8_0, 4096, 33, 2, 4); /* 128 blocks: two per work-item */
	check_matmul(HAL_TYPE_Q8_0, 64, 9, 9, 5);
}
END_TEST

START_TEST(matmul_q4_0)
{
	check_matmul(HAL_TYPE_Q4_0, 32, 1, 1, 11);
	check_matmul(HAL_TYPE_Q4_0, 96, 67, 1, 12);
	check_matmul(HAL_TYPE_Q4_0, 256, 130, 5, 13);
	check_matmul(HAL_TYPE_Q4_0, 4096, 33, 2, 14);
}
END_TEST

START_TEST(matmul_f16_f32)
{
	check_matmul(HAL_TYPE_F16, 1, 3, 1, 21);
	check_matmul(HAL_TYPE_F16, 17, 67, 3, 22);
	check_matmul(HAL_TYPE_F16, 300, 65, 6, 23);
	check_matmul(HAL_TYPE_F32, 1, 1, 1, 24);
	check_matmul(HAL_TYPE_F32, 33, 67, 5, 25);
	check_matmul(HAL_TYPE_F32, 1000, 31, 2, 26);
}
END_TEST

/* ---- RMSNORM, ROPE, SWIGLU, ADD, EMBED ----------------------------------------------------- */

/*
 * The sum of squares (positive terms) has relative error <= D u in float, the reference's
 * double sum about u; the mean, sqrt, reciprocal and two products add a few u. So
 * |diff| <= (D + 16) u |ref| (computed from the exact value of the inputs).
 */
static void check_rmsnorm(uint32_t D, uint32_t T, bool in_place, uint64_t seed)
{
	uint64_t rng = seed;
	struct hal_op op = { .kind = HAL_OP_RMSNORM, .p.rmsnorm.eps = 1e-5f };
	char what[64];

	op.src[0] = tu_tensor_rand("x", D, T, &rng, 3.0f);
	op.src[1] = tu_tensor_rand("w", D, 1, &rng, 1.0f);
	op.dst = in_place ? op.src[0] : tu_tensor_new("y", HAL_TYPE_F32, D, T);
	float *tol = tol_new(op.dst);

	for (uint32_t t = 0; t < T; t++) {
		double ss = 0.0;

		for (uint32_t i = 0; i < D; i++)
			ss += (double)F(op.src[0])[t * D + i] * F(op.src[0])[t * D + i];
		double s = 1.0 / sqrt(ss / D + 1e-5);

		for (uint32_t i = 0; i < D; i++) {
			double y = F(op.src[0])[t * D + i] * s * F(op.src[1])[i];

			tol[t * D + i] = (float)((D + 16) * U * fabs(y) + 1e-30);
		}
	}
	snprintf(what, sizeof(what), "rmsnorm D=%u T=%u%s", D, T, in_place ? " in place" : "");
	compare(what, &op, tol);
}

START_TEST(rmsnorm)
{
	check_rmsnorm(1, 1, false, 31);
	check_rmsnorm(7, 3, false, 32);
	check_rmsnorm(64, 1, true, 33);
	check_rmsnorm(1000, 5, true, 34);
}
END_TEST

/*
 * The angles are bit-identical (same theta_scale from the host's powf, same chain of
 * multiplications); OpenCL's cos and sin are within 4 ulp of the exact value (glibc's within
 * 1), so each output moves by at most (|x0| + |x1|) * 8 u plus the rounding of the rotation.
 */
static void check_rope(uint32_t n_head, uint32_t hd, uint32_t n_rot, uint32_t T,
		       const int32_t *pos, bool in_place, uint64_t seed)
{
	uint64_t rng = seed;
	struct hal_op op = { .kind = HAL_OP_ROPE };
	uint32_t W = n_head * hd;
	char what[80];

	op.p.rope.n_head = n_head;
	op.p.rope.head_dim = hd;
	op.p.rope.n_rot = n_rot;
	op.p.rope.freq_base = 10000.0f;
	op.p.rope.freq_scale = 0.5f;
	op.src[0] = tu_tensor_rand("x", W, T, &rng, 2.0f);
	op.src[1] = tu_tensor_i32("pos", pos, T);
	op.dst = in_place ? op.src[0] : tu_tensor_new("y", HAL_TYPE_F32, W, T);
	float *tol = tol_new(op.dst);

	for (uint32_t t = 0; t < T; t++)
		for (uint32_t i = 0; i < W; i++) {
			uint32_t j = i % hd, p = i - j % 2;
			const float *x = F(op.src[0]) + (size_t)t * W;

			tol[t * W + i] = j < n_rot ? (float)(16 * U * (fabs(x[p]) + fabs(x[p + 1])))
						   : 0.0f;
		}
	snprintf(what, sizeof(what), "rope heads=%u hd=%u n_rot=%u T=%u", n_head, hd, n_rot, T);
	compare(what, &op, tol);
}

START_TEST(rope)
{
	const int32_t p1[] = { 5 }, p3[] = { 0, 1, 4095 }, p2[] = { 17, 300 };

	check_rope(4, 16, 16, 1, p1, true, 41);
	check_rope(3, 10, 6, 3, p3, false, 42); /* partial rotation: the rest is copied */
	check_rope(2, 7, 4, 2, p2, false, 43);  /* odd head_dim */
	check_rope(12, 64, 64, 3, p3, true, 44);
}
END_TEST

/*
 * swiglu: exp within 3 ulp, one division and two products: <= 16 u |ref| (the sigmoid's
 * relative error is bounded by exp's since 1 + e^-x >= 1). add: exact.
 */
static void check_binary(enum hal_op_kind kind, uint32_t D, uint32_t T, bool in_place,
			 uint64_t seed)
{
	uint64_t rng = seed;
	struct hal_op op = { .kind = kind };
	char what[64];

	op.src[0] = tu_tensor_rand("a", D, T, &rng, 8.0f);
	op.src[1] = tu_tensor_rand("b", D, T, &rng, 2.0f);
	op.dst = in_place ? op.src[0] : tu_tensor_new("y", HAL_TYPE_F32, D, T);
	float *tol = tol_new(op.dst);

	for (size_t i = 0; i < (size_t)D * T; i++) {
		double g = F(op.src[0])[i], y = g / (1.0 + exp(-g)) * F(op.src[1])[i];

		tol[i] = kind == HAL_OP_SWIGLU ? (float)(16 * U * fabs(y) + 1e-30) : 0.0f;
	}
	snprintf(what, sizeof(what), "%s D=%u T=%u", hal_op_name(kind), D, T);
	compare(what, &op, tol);
}

START_TEST(swiglu_add)
{
	check_binary(HAL_OP_SWIGLU, 1, 1, false, 51);
	check_binary(HAL_OP_SWIGLU, 1000, 3, true, 52);
	check_binary(HAL_OP_ADD, 63, 1, false, 53);
	check_binary(HAL_OP_ADD, 1000, 3, true, 54);
}
END_TEST

/* A lookup is a decode: bit-exact for every type. */
START_TEST(embed)
{
	const enum hal_type types[] = { HAL_TYPE_F32, HAL_TYPE_F16, HAL_TYPE_Q8_0, HAL_TYPE_Q4_0 };
	const int32_t ids[] = { 6, 0, 6, 2 };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint64_t rng = 60 + i;
		struct hal_op op = { .kind = HAL_OP_EMBED };

		op.src[0] = tu_weight_rand("table", types[i], 96, 7, &rng, NULL);
		op.src[1] = tu_tensor_i32("ids", ids, 4);
		op.dst = tu_tensor_new("x", HAL_TYPE_F32, 96, 4);
		compare("embed", &op, tol_new(op.dst));
	}
}
END_TEST

/* ---- ATTENTION ---------------------------------------------------------------------------- */

/*
 * Scores: the device sums hd float products in float, the reference in double, so each score
 * is off by at most e_s = scale * (hd + 1) u max_j sum_i |q_i k_ji|. The probabilities then
 * have relative error <= 2 e_s (the max shift cancels) + exp's 3 ulp + the float sum of
 * n <= n_ctx terms (n u) + the reciprocal; the output sums n products p_j V_j in float. All in
 * all |diff| <= (4 e_s + (2 n + 16) u) max |V| per element.
 */
static float attn_tol(const struct hal_op *op, uint32_t n)
{
	const struct hal_tensor *q = op->src[0], *k = op->src[1], *kc = op->src[3];
	uint32_t hd = op->p.attn.head_dim;
	double qk = 0.0, vmax = 0.0;

	/* crude but safe: the largest |q|.|k| over any head pair, cache rows and new rows */
	for (uint32_t t = 0; t < q->ne[1]; t++)
		for (uint32_t h = 0; h < op->p.attn.n_head; h++) {
			for (uint32_t r = 0; r < kc->ne[1] + k->ne[1]; r++) {
				size_t nc = kc->ne[1];
				const float *kr = r < nc ? F(kc) + r * kc->ne[0]
							 : F(k) + (r - nc) * k->ne[0];
				for (uint32_t g = 0; g < op->p.attn.n_head_kv; g++) {
					double s = 0.0;

					for (uint32_t i = 0; i < hd; i++)
						s += fabs(F(q)[(size_t)t * q->ne[0] + h * hd + i] *
							  kr[g * hd + i]);
					qk = s > qk ? s : qk;
				}
			}
		}
	for (uint64_t i = 0; i < (uint64_t)op->src[4]->ne[0] * op->src[4]->ne[1]; i++)
		vmax = fmax(vmax, fabs(F(op->src[4])[i]));
	for (uint64_t i = 0; i < (uint64_t)op->src[2]->ne[0] * op->src[2]->ne[1]; i++)
		vmax = fmax(vmax, fabs(F(op->src[2])[i]));
	double e_s = fabs(op->p.attn.scale) * (hd + 1) * U * qk;

	return (float)((4 * e_s + (2.0 * n + 16) * U) * vmax * 1.01);
}

static void check_attention(uint32_t n_head, uint32_t n_kv, uint32_t hd, uint32_t n_ctx,
			    uint32_t T, const int32_t *pos, bool in_place, uint64_t seed)
{
	uint64_t rng = seed;
	struct hal_op op = { .kind = HAL_OP_ATTENTION };
	char what[96];
	uint32_t last = 0;

	op.p.attn.n_head = n_head;
	op.p.attn.n_head_kv = n_kv;
	op.p.attn.head_dim = hd;
	op.p.attn.scale = 1.0f / sqrtf((float)hd);
	op.src[0] = tu_tensor_rand("q", n_head * hd, T, &rng, 2.0f);
	op.src[1] = tu_tensor_rand("k", n_kv * hd, T, &rng, 2.0f);
	op.src[2] = tu_tensor_rand("v", n_kv * hd, T, &rng, 1.0f);
	/* earlier rows of the caches hold previous tokens: random, like a real cache */
	op.src[3] = tu_tensor_rand("k_cache", n_kv * hd, n_ctx, &rng, 2.0f);
	op.src[4] = tu_tensor_rand("v_cache", n_kv * hd, n_ctx, &rng, 1.0f);
	op.src[5] = tu_tensor_i32("pos", pos, T);
	op.dst = in_place ? op.src[0] : tu_tensor_new("out", HAL_TYPE_F32, n_head * hd, T);
	for (uint32_t t = 0; t < T; t++)
		last = (uint32_t)pos[t] > last ? (uint32_t)pos[t] : last;
	float *tol = tol_new(op.dst), tv = attn_tol(&op, last + 1);

	for (size_t i = 0; i < (size_t)n_head * hd * T; i++)
		tol[i] = tv;
	snprintf(what, sizeof(what), "attention heads=%u/%u hd=%u ctx=%u T=%u", n_head, n_kv, hd,
		 n_ctx, T);
	compare(what, &op, tol);
}

START_TEST(attention)
{
	const int32_t p1[] = { 5 }, p0[] = { 0 }, p3[] = { 7, 8, 9 }, plong[] = { 299 };

	check_attention(4, 2, 16, 33, 1, p1, false, 71); /* GQA 4/2 */
	check_attention(4, 4, 16, 8, 1, p0, true, 72);   /* first token: softmax of one */
	check_attention(6, 2, 20, 33, 3, p3, false, 73); /* batch, GQA 6/2 */
	check_attention(3, 1, 7, 12, 3, p3, true, 74);   /* odd head_dim, MQA */
	check_attention(2, 1, 64, 300, 1, plong, false, 75); /* more rows than a work-group */
}
END_TEST

/* ---- fences ------------------------------------------------------------------------------- */

/* y = a + b, then z = y + y enqueued after y's fence: the chain gives 2 (a + b). */
START_TEST(fences_chain)
{
	struct hal_device *gpu = gpu_new();
	uint64_t rng = 80;
	struct hal_tensor *a = tu_tensor_rand("a", 100, 2, &rng, 1.0f);
	struct hal_tensor *b = tu_tensor_rand("b", 100, 2, &rng, 1.0f);
	struct hal_tensor *y = tu_tensor_new("y", HAL_TYPE_F32, 100, 2);
	struct hal_tensor *z = tu_tensor_new("z", HAL_TYPE_F32, 100, 2);
	struct hal_op add1 = { .kind = HAL_OP_ADD, .src = { a, b }, .dst = y };
	struct hal_op add2 = { .kind = HAL_OP_ADD, .src = { y, y }, .dst = z };
	struct hal_opencl_event *f1 = NULL, *f2 = NULL;

	ck_assert_int_eq(hal_opencl_enqueue(gpu, &add1, 0, NULL, &f1), HAL_OK);
	ck_assert_int_eq(hal_opencl_enqueue(gpu, &add2, 1, &f1, &f2), HAL_OK);
	ck_assert_int_eq(hal_opencl_event_wait(f2), HAL_OK);
	for (int i = 0; i < 200; i++)
		ck_assert_float_eq(F(z)[i], (F(a)[i] + F(b)[i]) + (F(a)[i] + F(b)[i]));
	hal_opencl_event_release(f1);
	hal_opencl_event_release(f2);
	/* a malformed op is rejected at enqueue with hal_op_check's reason */
	add2.dst = NULL;
	ck_assert_int_eq(hal_opencl_enqueue(gpu, &add2, 0, NULL, &f1), HAL_ERR_INVALID);
	ck_assert_ptr_null(f1);
	ck_assert_msg(strstr(gpu->error, "output"), "%s", gpu->error);
	hal_device_destroy(gpu);
}
END_TEST

/* ---- zero copy and explicit copies -------------------------------------------------------- */

START_TEST(zero_copy_map)
{
	struct hal_device *gpu = gpu_new();
	struct hal_opencl_info info;
	char *mem = tu_talloc(8192 + 256);
	char *page = (char *)(((uintptr_t)mem + 4095) & ~(uintptr_t)4095);
	const size_t offs[] = { 0, 4, 64, 128, 6 };

	ck_assert(hal_opencl_get_info(gpu, &info));
	ck_assert_msg(info.caps.unified_memory, "PoCL's CPU device shares host memory");
	ck_assert(!info.copy_mode);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		void *mapped = NULL;

		ck_assert_int_eq(hal_opencl_map_host(gpu, page + offs[i], 1000, &mapped), HAL_OK);
		ck_assert_msg(mapped == page + offs[i], "offset %zu: mapped %p, host %p", offs[i],
			      mapped, (void *)(page + offs[i]));
	}
	ck_assert_uint_eq(gpu->stats.bytes_copied, 0);
	hal_device_destroy(gpu);
}
END_TEST

/* A discrete device (forced): operands are copied both ways, counted, results unchanged. */
START_TEST(copy_mode_counts)
{
	struct hal_device *gpu;
	struct hal_opencl_info info;
	uint64_t rng = 90;
	struct hal_op op = { .kind = HAL_OP_MATMUL };

	setenv("ENPU_CL_FORCE_COPY", "1", 1);
	gpu = gpu_new();
	unsetenv("ENPU_CL_FORCE_COPY");
	ck_assert(hal_opencl_get_info(gpu, &info));
	ck_assert(info.copy_mode);
	op.src[0] = tu_weight_rand("w", HAL_TYPE_Q8_0, 64, 10, &rng, NULL);
	op.src[1] = tu_tensor_rand("a", 64, 2, &rng, 1.0f);
	op.dst = tu_tensor_new("y", HAL_TYPE_F32, 10, 2);
	struct hal_op twin;
	struct hal_device *ref = ref_new();

	op_twin(&op, &twin);
	run_ok(ref, &op);
	run_ok(gpu, &twin);
	/* weights once, activations in, outputs out */
	size_t first = hal_tensor_bytes(op.src[0]) + hal_tensor_bytes(op.src[1]) +
		       hal_tensor_bytes(op.dst);
	ck_assert_uint_eq(gpu->stats.bytes_copied, first);
	run_ok(gpu, &twin);
	ck_assert_uint_eq(gpu->stats.bytes_copied,
			  first + hal_tensor_bytes(op.src[1]) + hal_tensor_bytes(op.dst));
	for (int i = 0; i < 20; i++)
		ck_assert_float_eq_tol(F(twin.dst)[i], F(op.dst)[i], 1e-4f);
	hal_device_destroy(ref);
	hal_device_destroy(gpu);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------- */

START_TEST(broken_source_build_log)
{
	char err[4096] = "";
	struct hal_device *dev = (struct hal_device *)1;
	const char *src = "__kernel void broken(__global float *x)\n"
			  "{\n\tx[0] = no_such_symbol;\n}\n";

	ck_assert_int_eq(hal_opencl_create(NULL, src, &dev, err, sizeof(err)), HAL_ERR_DEVICE);
	ck_assert_ptr_null(dev);
	ck_assert_msg(strstr(err, "build log") && strstr(err, "no_such_symbol"),
		      "error without the build log: %s", err);
	/* builds, but lacks the kernels the backend needs */
	ck_assert_int_eq(hal_opencl_create(NULL, "__kernel void add(__global float *x) {}", &dev,
					   err, sizeof(err)), HAL_ERR_DEVICE);
	ck_assert_msg(strstr(err, "quantize_q8_act") && strstr(err, "missing"), "%s", err);
}
END_TEST

START_TEST(missing_features)
{
	struct hal_opencl_caps ok = {
		.device = "test device", .c_version = "OpenCL C 1.2 pocl", .compiler = true,
		.local_mem = 32768, .max_work_group = 256, .work_group = 64,
	}, c;
	char err[256];

	ck_assert_int_eq(hal_opencl_check_caps(&ok, err, sizeof(err)), HAL_OK);
	c = ok;
	c.compiler = false;
	ck_assert_int_eq(hal_opencl_check_caps(&c, err, sizeof(err)), HAL_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(err, "test device") && strstr(err, "compiler"), "%s", err);
	c = ok;
	snprintf(c.c_version, sizeof(c.c_version), "OpenCL C 1.1");
	ck_assert_int_eq(hal_opencl_check_caps(&c, err, sizeof(err)), HAL_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(err, "OpenCL C 1.2"), "%s", err);
	c = ok;
	c.local_mem = 1024;
	ck_assert_int_eq(hal_opencl_check_caps(&c, err, sizeof(err)), HAL_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(err, "local memory"), "%s", err);

	/* a selection that matches nothing is a clear error, an index picks a device */
	struct hal_device_options o = { .select = "no-such-gpu-xyz" };
	struct hal_device *dev = NULL;

	ck_assert_int_eq(hal_opencl_create(&o, NULL, &dev, err, sizeof(err)), HAL_ERR_DEVICE);
	ck_assert_msg(strstr(err, "no-such-gpu-xyz"), "%s", err);
	o.select = "99";
	ck_assert_int_eq(hal_opencl_create(&o, NULL, &dev, err, sizeof(err)), HAL_ERR_DEVICE);
	ck_assert_msg(strstr(err, "out of range"), "%s", err);
	o.select = "0";
	ck_assert_int_eq(hal_opencl_create(&o, NULL, &dev, err, sizeof(err)), HAL_OK);
	hal_device_destroy(dev);
}
END_TEST

/*
 * Without any OpenCL platform (the ICD loader pointed at an empty vendor directory, in a
 * fresh process: the loader reads its configuration once) the backend reports itself
 * unavailable and the CPU still works. The child runs no_platform_child() below.
 */
static int no_platform_child(void)
{
	char err[512] = "";
	struct hal_device *dev = NULL;
	const struct hal_backend *b = hal_backend_find("gpu");
	struct enpu_context_options o = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *ctx = NULL;

	if (!b || b->create(NULL, &dev, err, sizeof(err)) != HAL_ERR_DEVICE || dev ||
	    !strstr(err, "no OpenCL platform") || !strstr(err, "pocl")) {
		fprintf(stderr, "child: gpu backend without platform: '%s'\n", err);
		return 1;
	}
	o.device = "gpu";
	if (enpu_context_create(&o, &ctx) != ENPU_ERR_DEVICE ||
	    !strstr(enpu_last_error(NULL), "no OpenCL platform")) {
		fprintf(stderr, "child: context: '%s'\n", enpu_last_error(NULL));
		return 2;
	}
	o.device = "cpu";
	if (enpu_context_create(&o, &ctx) != ENPU_OK)
		return 3;
	enpu_context_destroy(ctx);
	return 0;
}

START_TEST(no_platform)
{
	char empty[300];
	pid_t pid;
	int status = -1;

	snprintf(empty, sizeof(empty), "%s", tu_tmp_path("-vendors"));
	ck_assert_int_eq(mkdir(empty, 0755), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("OCL_ICD_VENDORS", empty, 1);
		setenv("TEST_OPENCL_NO_PLATFORM_CHILD", "1", 1);
		execl("/proc/self/exe", "test_opencl", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child without OpenCL platform failed (status %d)", status);
	rmdir(empty);
}
END_TEST

/* ---- program cache ------------------------------------------------------------------------ */

static struct hal_device *gpu_info(struct hal_opencl_info *info)
{
	struct hal_device *dev = gpu_new();

	ck_assert(hal_opencl_get_info(dev, info));
	return dev;
}

START_TEST(program_cache)
{
	char dir[300];
	struct hal_opencl_info a, b, c;
	struct hal_device *dev;
	size_t len;

	const char *old = getenv("ENPU_CL_CACHE_DIR");
	char *saved = old ? strdup(old) : NULL;

	snprintf(dir, sizeof(dir), "%s", tu_tmp_path("-clcache"));
	setenv("ENPU_CL_CACHE_DIR", dir, 1);
	dev = gpu_info(&a);
	hal_device_destroy(dev);
	ck_assert_msg(!a.program_from_cache, "fresh cache dir, yet loaded from cache");
	ck_assert_msg(!strncmp(a.cache_path, dir, strlen(dir)), "%s", a.cache_path);

	/* the file names its key: device, driver version and the source hash */
	char *file = tu_read_file(a.cache_path, &len);

	ck_assert(memmem(file, len, a.caps.device, strlen(a.caps.device)));
	ck_assert(memmem(file, len, a.caps.driver, strlen(a.caps.driver)));
	ck_assert(memmem(file, len, "source=", 7));

	dev = gpu_info(&b);
	hal_device_destroy(dev);
	ck_assert_msg(b.program_from_cache, "second creation compiled again");
	ck_assert_str_eq(a.cache_path, b.cache_path);

	/* a corrupt file (one flipped byte in the binary) is ignored, rebuilt, rewritten */
	file[len - 10] ^= 0x5a;
	tu_write_file(a.cache_path, file, len);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert(!c.program_from_cache);
	/* so is a truncated one and garbage */
	tu_write_file(a.cache_path, file, 20);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert(!c.program_from_cache);
	tu_write_file(a.cache_path, "garbage", 7);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert(!c.program_from_cache);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert_msg(c.program_from_cache, "the rebuilt binary was not stored");

	/* a FIFO as the cache file: refused at once (not opened for reading), left alone */
	char path[700], victim[600], link[800];
	snprintf(path, sizeof(path), "%s", a.cache_path);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert(!c.program_from_cache);
	struct stat sb;
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert(S_ISFIFO(sb.st_mode));
	ck_assert_int_eq(unlink(path), 0);
	/* a symlink planted at the cache file or at the old temporary's name is not written through */
	snprintf(victim, sizeof(victim), "%s", tu_tmp_path(".victim"));
	tu_write_file(victim, "keep", 4);
	ck_assert_int_eq(symlink(victim, path), 0);
	snprintf(link, sizeof(link), "%s.%ld.tmp", path, (long)getpid());
	ck_assert_int_eq(symlink(victim, link), 0);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	char *kept = tu_read_file(victim, &len);
	ck_assert(len == 4 && !memcmp(kept, "keep", 4));
	free(kept);
	unlink(path);
	unlink(link);

	/* a directory name too long for the cache path: no cache, not a truncated directory */
	char longdir[700];
	int n = snprintf(longdir, sizeof(longdir), "%s/", dir);
	memset(longdir + n, 'd', 500 - n);
	longdir[500] = 0;
	setenv("ENPU_CL_CACHE_DIR", longdir, 1);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	ck_assert_msg(!c.cache_path[0], "%s", c.cache_path);

	/* a relative XDG_CACHE_HOME is ignored (XDG spec): HOME's, made private */
	char home[600], *xdg = getenv("XDG_CACHE_HOME"), *oldhome = getenv("HOME");
	xdg = xdg ? strdup(xdg) : NULL;
	oldhome = oldhome ? strdup(oldhome) : NULL;
	snprintf(home, sizeof(home), "%s", tu_tmp_path("-home"));
	ck_assert_int_eq(mkdir(home, 0700), 0);
	unsetenv("ENPU_CL_CACHE_DIR");
	setenv("XDG_CACHE_HOME", "relative-cache", 1);
	setenv("HOME", home, 1);
	dev = gpu_info(&c);
	hal_device_destroy(dev);
	snprintf(path, sizeof(path), "%s/.cache/edge-npu/cl/", home);
	ck_assert_msg(!strncmp(c.cache_path, path, strlen(path)), "%s", c.cache_path);
	path[strlen(path) - 1] = 0;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	ck_assert_int_ne(access("relative-cache", F_OK), 0);
	if (xdg)
		setenv("XDG_CACHE_HOME", xdg, 1);
	else
		unsetenv("XDG_CACHE_HOME");
	if (oldhome)
		setenv("HOME", oldhome, 1);
	free(xdg);
	free(oldhome);
	free(file);
	if (saved)
		setenv("ENPU_CL_CACHE_DIR", saved, 1);
	free(saved);
}
END_TEST

/* ---- a whole model through the public API ------------------------------------------------- */

static char *make_model(enum hal_type type)
{
	/* the built-in vocabulary: the test needs no ../shared */
	return tu_small_model(128, 160, 64, type, 7, NULL);
}

struct loaded {
	enpu_context *ctx;
	enpu_model *model;
	enpu_session *sess;
};

static void load(struct loaded *l, const char *path, const char *device)
{
	struct enpu_context_options o = ENPU_CONTEXT_OPTIONS_INIT;

	o.device = device;
	ck_assert_msg(enpu_context_create(&o, &l->ctx) == ENPU_OK, "%s",
		      enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(l->ctx, path, NULL, &l->model) == ENPU_OK, "%s",
		      enpu_last_error(l->ctx));
	ck_assert_int_eq(enpu_session_create(l->model, NULL, &l->sess), ENPU_OK);
}

static void unload(struct loaded *l)
{
	enpu_session_free(l->sess);
	enpu_model_free(l->model);
	enpu_context_destroy(l->ctx);
}

static const float *logits(struct loaded *l, size_t *n)
{
	const float *lg;

	ck_assert_int_eq(enpu_session_logits(l->sess, &lg, n), ENPU_OK);
	return lg;
}

/* The GPU device's usage: everything it can run ran there, without a copied byte. */
static void check_gpu_usage(struct loaded *l, uint64_t *ops)
{
	struct enpu_device_usage u[ENPU_MAX_DEVICES];
	uint32_t n = enpu_session_device_usage(l->sess, u, ENPU_MAX_DEVICES);
	bool found = false;

	for (uint32_t i = 0; i < n; i++) {
		ck_assert_msg(u[i].bytes_copied == 0, "%s copied %llu bytes", u[i].device,
			      (unsigned long long)u[i].bytes_copied);
		if (!strcmp(u[i].device, "gpu")) {
			found = true;
			*ops = u[i].ops;
		} else {
			ck_assert_msg(u[i].ops == 0, "%s ran %llu ops", u[i].device,
				      (unsigned long long)u[i].ops);
		}
	}
	ck_assert(found);
}

/*
 * Logits of a prompt and 16 decode steps, both sessions fed the reference's greedy tokens.
 * Bounds: the per-op differences above are ~1e-6 relative; through 2 layers and the output
 * projection they stay below 1e-3 of the logits' range. The quantized models additionally
 * requantize activations, where a 1e-6 change can flip one int8 rounding (one step of d_a in
 * one element): that perturbs a logit by ~|w| d_a, which the bound of 2e-3 x max|logit|
 * still covers while a wrong kernel (cosine < 0.99) does not pass.
 */
static void check_model(enum hal_type type)
{
	char *path = make_model(type);
	struct loaded ref, gpu;
	const char *prompt = "Once upon a time";
	enpu_token toks[64];
	size_t n_tok = 0, n_vocab;
	uint64_t ops_before = 0, ops_after = 0;

	load(&ref, path, "cpu-ref");
	load(&gpu, path, "gpu");
	ck_assert_int_eq(enpu_tokenize(ref.model, prompt, strlen(prompt), true, toks, 64, &n_tok),
			 ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(ref.sess, toks, n_tok), ENPU_OK);
	ck_assert_msg(enpu_session_eval(gpu.sess, toks, n_tok) == ENPU_OK, "%s",
		      enpu_last_error(gpu.ctx));
	for (int step = 0; step <= 16; step++) {
		const float *r = logits(&ref, &n_vocab), *g = logits(&gpu, &n_vocab);
		double dot = 0, nr = 0, ng = 0, maxd = 0, maxr = 0;
		enpu_token next = 0;

		for (size_t i = 0; i < n_vocab; i++) {
			dot += (double)r[i] * g[i];
			nr += (double)r[i] * r[i];
			ng += (double)g[i] * g[i];
			maxd = fmax(maxd, fabs((double)r[i] - g[i]));
			maxr = fmax(maxr, fabs((double)r[i]));
			if (r[i] > r[next])
				next = (enpu_token)i;
		}
		double cosine = dot / sqrt(nr * ng);

		ck_assert_msg(cosine >= 0.9999, "%s step %d: cosine %.7f", hal_type_name(type),
			      step, cosine);
		ck_assert_msg(maxd <= 2e-3 * maxr, "%s step %d: max |diff| %.3g, max |logit| %.3g",
			      hal_type_name(type), step, maxd, maxr);
		if (step == 16)
			break;
		check_gpu_usage(&gpu, &ops_before);
		ck_assert_int_eq(enpu_session_eval(ref.sess, &next, 1), ENPU_OK);
		ck_assert_int_eq(enpu_session_eval(gpu.sess, &next, 1), ENPU_OK);
		/* zero copy across a whole token, and the token's ops ran on the GPU */
		check_gpu_usage(&gpu, &ops_after);
		ck_assert_uint_gt(ops_after, ops_before);
	}
	unload(&ref);
	unload(&gpu);
	free(path);
}

START_TEST(model_q8_0)
{
	check_model(HAL_TYPE_Q8_0);
}
END_TEST

START_TEST(model_q4_0_f16)
{
	check_model(HAL_TYPE_Q4_0);
	check_model(HAL_TYPE_F16);
}
END_TEST

/* ---- device completions ------------------------------------------------------------------- */

/*
 * One Q8_0 matmul on a fresh device in zero-copy or copy mode, its op waited for on the
 * process's io_uring (a marker's completion callback writes an eventfd) or, with
 * ENPU_NO_URING=1, by poll() (hal/completion.h). out gets the N x T results.
 */
static void matmul_waited(bool forced_poll, bool copy_mode, float *out)
{
	uint64_t rng = 31;
	struct hal_op op = { .kind = HAL_OP_MATMUL };
	struct hal_device *gpu;

	op.src[0] = tu_weight_rand("w", HAL_TYPE_Q8_0, 256, 130, &rng, NULL);
	op.src[1] = tu_tensor_rand("a", 256, 5, &rng, 2.0f);
	op.dst = tu_tensor_new("y", HAL_TYPE_F32, 130, 5);
	if (forced_poll)
		setenv("ENPU_NO_URING", "1", 1);
	if (copy_mode)
		setenv("ENPU_CL_FORCE_COPY", "1", 1);
	gpu = gpu_new();
	unsetenv("ENPU_NO_URING");
	unsetenv("ENPU_CL_FORCE_COPY");
	printf("gpu (%s): completions waited for with %s\n", copy_mode ? "copy" : "zero-copy",
	       hal_completion_method());
	if (forced_poll)
		ck_assert_str_eq(hal_completion_method(), "poll (ENPU_NO_URING=1)");
	else
		ck_assert_str_ne(hal_completion_method(), "poll (ENPU_NO_URING=1)");
	run_ok(gpu, &op);
	memcpy(out, op.dst->data, hal_tensor_bytes(op.dst));
	hal_device_destroy(gpu);
}

/*
 * The same op waited for on the ring and by poll() gives the same bits, in zero-copy mode and
 * in copy mode, whose downloads after the op must be inside what the wait covers.
 */
START_TEST(completions_ring_and_poll)
{
	float ring[130 * 5], polled[130 * 5];

	for (int copy = 0; copy < 2; copy++) {
		matmul_waited(false, copy, ring);
		matmul_waited(true, copy, polled);
		ck_assert_mem_eq(ring, polled, sizeof(ring));
	}
	ck_assert_str_eq(hal_completion_method(), "none"); /* the last device stopped it */
}
END_TEST

/* ---- suite -------------------------------------------------------------------------------- */

static void teardown(void)
{
	tu_pool_free();
}

static Suite *opencl_suite(void)
{
	Suite *s = suite_create("opencl");
	TCase *k = tcase_create("kernels"), *m = tcase_create("model"), *e = tcase_create("errors");

	tcase_add_checked_fixture(k, NULL, teardown);
	tcase_add_checked_fixture(e, NULL, teardown);
	tcase_set_timeout(k, 600);
	tcase_set_timeout(m, 900);
	tcase_set_timeout(e, 600);
	tcase_add_test(k, matmul_q8_0);
	tcase_add_test(k, matmul_q4_0);
	tcase_add_test(k, matmul_f16_f32);
	tcase_add_test(k, rmsnorm);
	tcase_add_test(k, rope);
	tcase_add_test(k, swiglu_add);
	tcase_add_test(k, embed);
	tcase_add_test(k, attention);
	tcase_add_test(k, fences_chain);
	tcase_add_test(k, zero_copy_map);
	tcase_add_test(k, copy_mode_counts);
	tcase_add_test(k, completions_ring_and_poll);
	tcase_add_test(m, model_q8_0);
	tcase_add_test(m, model_q4_0_f16);
	tcase_add_test(e, broken_source_build_log);
	tcase_add_test(e, missing_features);
	tcase_add_test(e, no_platform);
	tcase_add_test(e, program_cache);
	suite_add_tcase(s, k);
	suite_add_tcase(s, m);
	suite_add_tcase(s, e);
	return s;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	char cache[] = "/tmp/enpu-test-clcache-XXXXXX";
	int rc;

	if (getenv("TEST_OPENCL_NO_PLATFORM_CHILD"))
		return no_platform_child();
	/* one program cache for the whole run, so that only the first test compiles */
	if (!mkdtemp(cache))
		return 1;
	setenv("ENPU_CL_CACHE_DIR", cache, 1);
	rc = tu_run_suite(opencl_suite());
	nftw(cache, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
