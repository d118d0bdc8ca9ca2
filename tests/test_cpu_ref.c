/* SPDX-License-Identifier: MIT */
/*
 * test_cpu_ref.c - the reference CPU backend against straightforward double-precision
 * computations written here, plus hal_op_check's rejections and the device's bookkeeping.
 *
 * Each comparison states its tolerance and where it comes from; the references share no
 * code with the kernels (only hal_dequantize_row, tested in test_quant, to read weights back).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "hal/quant.h"
#include "testutil.h"

/* The data of an F32 tensor (ours are malloc'd, hence aligned). */
static float *F(const struct hal_tensor *t)
{
	return t->data;
}

static int32_t *I(const struct hal_tensor *t)
{
	return t->data;
}

static struct hal_device *dev_new(void)
{
	struct hal_device *dev = NULL;

	ck_assert_int_eq(hal_cpu_ref_create(&dev), HAL_OK);
	ck_assert_ptr_nonnull(dev);
	return dev;
}

static void run_ok(struct hal_device *dev, const struct hal_op *op)
{
	enum hal_status st = dev->vt->run(dev, op);

	ck_assert_msg(st == HAL_OK, "%s failed (%d): %s", hal_op_name(op->kind), st, dev->error);
}

/* |got - want| <= tol; Check's message gives the line, this one the numbers. */
#define ck_near(got, want, tol)                                                               \
	do {                                                                                  \
		double g_ = (got), w_ = (want), t_ = (tol);                                   \
		ck_assert_msg(fabs(g_ - w_) <= t_, "%s = %.9g, want %.9g: |diff| %.3g > %.3g",    \
			      #got, g_, w_, fabs(g_ - w_), t_);                                \
	} while (0)

/* ---- MATMUL ------------------------------------------------------------------------------- */

struct mm_shape {
	uint32_t K, N, T;
};

static struct hal_op matmul_op(struct hal_tensor *w, struct hal_tensor *a, struct hal_tensor *d)
{
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { w, a }, .dst = d };

	return op;
}

/*
 * F32 weights. The kernel rounds each product to float (2^-24 relative) and sums in double,
 * then rounds once more: |err| <= 2^-24 * sum|w a| + 2^-24 * |y| <= 2^-23 * sum|w a|.
 * Checked against 2^-22 * sum|w a|.
 */
START_TEST(test_matmul_f32)
{
	static const struct mm_shape shapes[] = { { 64, 16, 1 }, { 96, 33, 5 }, { 13, 7, 3 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 1;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t K = shapes[s].K, N = shapes[s].N, T = shapes[s].T;
		float *wf;
		struct hal_tensor *w = tu_weight_rand("w", HAL_TYPE_F32, K, N, &rng, &wf);
		struct hal_tensor *a = tu_tensor_rand("a", K, T, &rng, 2.0f);
		struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, N, T);
		struct hal_op op = matmul_op(w, a, d);

		run_ok(dev, &op);
		for (uint32_t t = 0; t < T; t++) {
			for (uint32_t n = 0; n < N; n++) {
				double ref = 0, mag = 0;

				for (uint32_t k = 0; k < K; k++) {
					ref += (double)wf[n * K + k] * F(a)[t * K + k];
					mag += fabs((double)wf[n * K + k] * F(a)[t * K + k]);
				}
				ck_near(F(d)[t * N + n], ref, 0x1p-22 * mag);
			}
		}
	}
	hal_device_destroy(dev);
}
END_TEST

/*
 * F16 weights: the spec rounds activations to half. Against the activations rounded by the
 * compiler's _Float16, products of two halves are exact in float, so only the double sum and
 * the final rounding remain: 2^-22 * sum|w a16|. Against the unrounded activations, add the
 * rounding of each activation to half: |a - a16| <= 2^-11 |a| + 2^-25 (subnormal half ulp).
 */
START_TEST(test_matmul_f16)
{
	static const struct mm_shape shapes[] = { { 64, 16, 1 }, { 96, 24, 4 }, { 7, 3, 2 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 2;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t K = shapes[s].K, N = shapes[s].N, T = shapes[s].T;
		float *wf;
		struct hal_tensor *w = tu_weight_rand("w16", HAL_TYPE_F16, K, N, &rng, &wf);
		struct hal_tensor *a = tu_tensor_rand("a", K, T, &rng, 3.0f);
		struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, N, T);
		struct hal_op op = matmul_op(w, a, d);

		run_ok(dev, &op);
		for (uint32_t t = 0; t < T; t++) {
			for (uint32_t n = 0; n < N; n++) {
				double ref = 0, ref16 = 0, mag = 0, round = 0;

				for (uint32_t k = 0; k < K; k++) {
					double wv = wf[n * K + k], av = F(a)[t * K + k];
					double a16 = (float)(_Float16)F(a)[t * K + k];

					ref += wv * av;
					ref16 += wv * a16;
					mag += fabs(wv * a16);
					round += fabs(wv) * (0x1p-11 * fabs(av) + 0x1p-25);
				}
				ck_near(F(d)[t * N + n], ref16, 0x1p-22 * mag);
				ck_near(F(d)[t * N + n], ref, 0x1p-22 * mag + round);
			}
		}
	}
	hal_device_destroy(dev);
}
END_TEST

/*
 * Quantized weights against the float product of the decoded weights w' and the float
 * activations a. The kernel computes exactly sum_k w'_k * a'_k per block (integer dots; w'
 * and the block scales are exact in float) with a' the Q8_0-decoded activations, so the
 * difference is sum_k |w'_k| |a_k - a'_k|, and test_quant derives |a - a'| <= 0.5625 * d_b
 * (d_b = block amax / 127: half a quantum plus the half-precision scale's rounding). The float
 * accumulation over nb blocks adds at most (nb + 2) * 2^-23 * sum|w' a| (each block term is
 * rounded twice, the running sum once per block).
 */
static void check_matmul_quant(enum hal_type type, uint64_t seed)
{
	static const struct mm_shape shapes[] = { { 32, 8, 1 }, { 128, 17, 1 }, { 256, 24, 6 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = seed;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t K = shapes[s].K, N = shapes[s].N, T = shapes[s].T, nb = K / HAL_QK;
		float *wf;
		struct hal_tensor *w = tu_weight_rand("wq", type, K, N, &rng, &wf);
		struct hal_tensor *a = tu_tensor_rand("a", K, T, &rng, 2.0f);
		struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, N, T);
		struct hal_op op = matmul_op(w, a, d);

		/* A zero block and an outlier: the scales differ wildly between blocks. */
		if (T > 1) {
			memset(F(a) + K, 0, HAL_QK * sizeof(float));
			F(a)[2 * K + 5] = 40.0f;
		}
		run_ok(dev, &op);
		for (uint32_t t = 0; t < T; t++) {
			const float *ar = F(a) + (size_t)t * K;

			for (uint32_t n = 0; n < N; n++) {
				const float *wr = wf + (size_t)n * K;
				double ref = 0, mag = 0, qerr = 0;

				for (uint32_t b = 0; b < nb; b++) {
					double amax = 0, wsum = 0;

					for (uint32_t k = b * HAL_QK; k < (b + 1) * HAL_QK; k++) {
						amax = fmax(amax, fabs(ar[k]));
						wsum += fabs(wr[k]);
						ref += (double)wr[k] * ar[k];
						mag += fabs((double)wr[k] * ar[k]);
					}
					qerr += wsum * 0.5625 * amax / 127;
				}
				ck_near(F(d)[t * N + n], ref,
					qerr + (nb + 2) * 0x1p-23 * (mag + qerr));
			}
		}
	}
	hal_device_destroy(dev);
}

START_TEST(test_matmul_q8_0)
{
	check_matmul_quant(HAL_TYPE_Q8_0, 3);
}
END_TEST

START_TEST(test_matmul_q4_0)
{
	check_matmul_quant(HAL_TYPE_Q4_0, 4);
}
END_TEST

/* Integer value of element j of a weight block, read from the block struct. */
static int weight_quant(enum hal_type type, const void *blk, int j)
{
	if (type == HAL_TYPE_Q8_0)
		return ((const struct hal_block_q8_0 *)blk)->qs[j];
	const struct hal_block_q4_0 *b = blk;

	return (j < HAL_QK / 2 ? b->qs[j] & 0x0f : b->qs[j - HAL_QK / 2] >> 4) - 8;
}

/*
 * The GGUF numerics exactly: the output is, bit for bit, the float sum over blocks of
 * (float)(integer dot of the 32 quants) * (d_w * d_a), with the activations quantized to Q8_0.
 */
static void check_matmul_exact(enum hal_type type)
{
	enum { K = 160, N = 9, T = 3, NB = K / HAL_QK };
	struct hal_device *dev = dev_new();
	uint64_t rng = 5;
	struct hal_tensor *w = tu_weight_rand("wq", type, K, N, &rng, NULL);
	struct hal_tensor *a = tu_tensor_rand("a", K, T, &rng, 1.5f);
	struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, N, T);
	struct hal_op op = matmul_op(w, a, d);
	struct hal_block_q8_0 aq[NB];
	size_t bsize = hal_type_block_bytes(type);

	run_ok(dev, &op);
	for (uint32_t t = 0; t < T; t++) {
		hal_quantize_row_q8_0(F(a) + t * K, aq, K);
		for (uint32_t n = 0; n < N; n++) {
			const char *row = (const char *)w->data + n * hal_row_bytes(type, K);
			float sumf = 0.0f;

			for (int b = 0; b < NB; b++) {
				const void *blk = row + b * bsize;
				uint16_t dw;
				int sumi = 0;

				memcpy(&dw, blk, sizeof(dw));
				for (int j = 0; j < HAL_QK; j++)
					sumi += weight_quant(type, blk, j) * aq[b].qs[j];
				sumf += (float)sumi *
					(hal_fp16_to_fp32(dw) * hal_fp16_to_fp32(aq[b].d));
			}
			ck_assert_msg(F(d)[t * N + n] == sumf, "%s y[%u,%u] = %a, expected %a",
				      hal_type_name(type), t, n, (double)F(d)[t * N + n],
				      (double)sumf);
		}
	}
	hal_device_destroy(dev);
}

START_TEST(test_matmul_exact)
{
	check_matmul_exact(HAL_TYPE_Q8_0);
	check_matmul_exact(HAL_TYPE_Q4_0);
}
END_TEST

/* Rows of model files need not be aligned: the same weights at an odd address, same result. */
START_TEST(test_matmul_unaligned)
{
	static const enum hal_type types[] = { HAL_TYPE_F32, HAL_TYPE_F16, HAL_TYPE_Q8_0,
					       HAL_TYPE_Q4_0 };
	struct hal_device *dev = dev_new();
	uint64_t rng = 6;

	for (size_t i = 0; i < 4; i++) {
		struct hal_tensor *w = tu_weight_rand("w", types[i], 64, 5, &rng, NULL);
		struct hal_tensor wu = *w;
		char *buf = tu_talloc(hal_tensor_bytes(w) + 1);
		struct hal_tensor *a = tu_tensor_rand("a", 64, 2, &rng, 1.0f);
		struct hal_tensor *d1 = tu_tensor_new("y1", HAL_TYPE_F32, 5, 2);
		struct hal_tensor *d2 = tu_tensor_new("y2", HAL_TYPE_F32, 5, 2);
		struct hal_op op1 = matmul_op(w, a, d1), op2 = matmul_op(&wu, a, d2);

		memcpy(buf + 1, w->data, hal_tensor_bytes(w));
		wu.data = buf + 1;
		run_ok(dev, &op1);
		run_ok(dev, &op2);
		ck_assert_mem_eq(d1->data, d2->data, hal_tensor_bytes(d1));
	}
	hal_device_destroy(dev);
}
END_TEST

/* ---- RMSNORM ------------------------------------------------------------------------------ */

/*
 * The kernel's roundings: squares (2^-24 each, all positive), mean, mean + eps, sqrtf, the
 * reciprocal, x * scale, * w: under 7 * 2^-24 relative. Checked at 2^-20 relative.
 */
START_TEST(test_rmsnorm)
{
	static const struct {
		uint32_t D, T;
		float eps;
	} cases[] = { { 64, 1, 1e-5f }, { 96, 4, 1e-6f }, { 4096, 2, 1e-5f } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 7;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t D = cases[c].D, T = cases[c].T;
		struct hal_tensor *x = tu_tensor_rand("x", D, T, &rng, 3.0f);
		struct hal_tensor *w = tu_tensor_rand("norm", D, 1, &rng, 2.0f);
		struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, D, T);
		struct hal_op op = { .kind = HAL_OP_RMSNORM, .src = { x, w }, .dst = d,
				     .p.rmsnorm.eps = cases[c].eps };

		/* A zero row normalizes by 1/sqrt(eps) times 0: exercises eps, must stay 0. */
		if (T > 1)
			memset(F(x) + D, 0, D * sizeof(float));
		run_ok(dev, &op);
		for (uint32_t t = 0; t < T; t++) {
			double ss = 0;

			for (uint32_t i = 0; i < D; i++)
				ss += (double)F(x)[t * D + i] * F(x)[t * D + i];
			double inv = 1.0 / sqrt(ss / D + cases[c].eps);

			for (uint32_t i = 0; i < D; i++) {
				double ref = F(x)[t * D + i] * inv * F(w)[i];

				ck_near(F(d)[t * D + i], ref, 0x1p-20 * fabs(ref));
			}
		}

		/* In place (dst == src) gives the same bits. */
		struct hal_op ip = op;

		ip.dst = x;
		run_ok(dev, &ip);
		ck_assert_mem_eq(x->data, d->data, hal_tensor_bytes(d));
	}
	hal_device_destroy(dev);
}
END_TEST

/* With a tiny eps the result depends on it: small rows are where a missing eps shows. */
START_TEST(test_rmsnorm_eps)
{
	struct hal_device *dev = dev_new();
	struct hal_tensor *x = tu_tensor_new("x", HAL_TYPE_F32, 32, 1);
	struct hal_tensor *w = tu_tensor_new("norm", HAL_TYPE_F32, 32, 1);
	struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, 32, 1);
	struct hal_op op = { .kind = HAL_OP_RMSNORM, .src = { x, w }, .dst = d,
			     .p.rmsnorm.eps = 1e-4f };

	for (int i = 0; i < 32; i++) {
		F(x)[i] = 0.01f;
		F(w)[i] = 1.0f;
	}
	run_ok(dev, &op);
	/* mean 1e-4, + eps 1e-4: 0.01 / sqrt(2e-4) = 0.70711 */
	for (int i = 0; i < 32; i++)
		ck_near(F(d)[i], 0.01 / sqrt(2e-4), 1e-6);
	hal_device_destroy(dev);
}
END_TEST

/* ---- ROPE --------------------------------------------------------------------------------- */

/*
 * Reference: angle_i = pos * freq_scale * freq_base^(-2i/n_rot) in double. The kernel builds
 * theta_i by i multiplications by a powf()-rounded theta_scale, so its relative error is
 * <= (2i + 2) * 2^-24; the rotation itself (cosf, sinf, two products and a sum) adds a few
 * float roundings: per pair, tol = (|x0| + |x1|) * (theta_i * (2i + 4) * 2^-24 + 2^-21).
 */
START_TEST(test_rope)
{
	static const struct {
		uint32_t n_head, hd, n_rot, T;
		float base, fscale;
		int32_t pos[4];
	} cases[] = {
		{ 4, 16, 16, 1, 10000.0f, 1.0f, { 7 } },
		{ 2, 32, 8, 3, 10000.0f, 0.5f, { 0, 5, 100 } },  /* n_rot < head_dim */
		{ 8, 64, 64, 2, 500000.0f, 1.0f, { 1, 511 } },
		{ 3, 12, 6, 4, 10000.0f, 0.25f, { 2, 3, 4, 5 } },
	};
	struct hal_device *dev = dev_new();
	uint64_t rng = 8;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t H = cases[c].n_head, hd = cases[c].hd, n_rot = cases[c].n_rot;
		uint32_t T = cases[c].T, W = H * hd;
		struct hal_tensor *x = tu_tensor_rand("q", W, T, &rng, 2.0f);
		struct hal_tensor *pos = tu_tensor_i32("pos", cases[c].pos, T);
		float *orig = tu_talloc(hal_tensor_bytes(x));
		struct hal_op op = { .kind = HAL_OP_ROPE, .src = { x, pos }, .dst = x,
				     .p.rope = { H, hd, n_rot, cases[c].base, cases[c].fscale } };

		memcpy(orig, x->data, hal_tensor_bytes(x));
		run_ok(dev, &op);
		for (uint32_t t = 0; t < T; t++) {
			for (uint32_t h = 0; h < H; h++) {
				const float *in = orig + t * W + h * hd;
				const float *out = F(x) + t * W + h * hd;

				for (uint32_t i = 0; 2 * i < n_rot; i++) {
					double theta = cases[c].pos[t] * (double)cases[c].fscale *
						       pow(cases[c].base, -2.0 * i / n_rot);
					double x0 = in[2 * i], x1 = in[2 * i + 1];
					double tol = (fabs(x0) + fabs(x1)) *
						     (fabs(theta) * (2 * i + 4) * 0x1p-24 + 0x1p-21);

					ck_near(out[2 * i], x0 * cos(theta) - x1 * sin(theta), tol);
					ck_near(out[2 * i + 1], x0 * sin(theta) + x1 * cos(theta),
						tol);
				}
				/* Past n_rot: untouched, bit for bit. */
				ck_assert_mem_eq(out + n_rot, in + n_rot,
						 (hd - n_rot) * sizeof(float));
			}
		}
	}
	hal_device_destroy(dev);
}
END_TEST

/* ---- ATTENTION ---------------------------------------------------------------------------- */

struct attn_case {
	uint32_t n_head, n_kv, hd, n_ctx, T;
	int32_t pos[4];
};

struct attn_fixture {
	struct hal_tensor *q, *k, *v, *kc, *vc, *pos, *dst;
	struct hal_op op;
};

static void attn_setup(struct attn_fixture *f, const struct attn_case *c, uint64_t *rng)
{
	uint32_t qw = c->n_head * c->hd, kvw = c->n_kv * c->hd;

	/* Magnitudes of a few units make the softmax far from uniform. */
	f->q = tu_tensor_rand("q", qw, c->T, rng, 2.0f);
	f->k = tu_tensor_rand("k", kvw, c->T, rng, 2.0f);
	f->v = tu_tensor_rand("v", kvw, c->T, rng, 1.0f);
	f->kc = tu_tensor_rand("cache_k", kvw, c->n_ctx, rng, 2.0f); /* earlier tokens */
	f->vc = tu_tensor_rand("cache_v", kvw, c->n_ctx, rng, 1.0f);
	f->pos = tu_tensor_i32("pos", c->pos, c->T);
	f->dst = tu_tensor_new("attn_out", HAL_TYPE_F32, qw, c->T);
	f->op = (struct hal_op){
		.kind = HAL_OP_ATTENTION,
		.src = { f->q, f->k, f->v, f->kc, f->vc, f->pos },
		.dst = f->dst,
		.p.attn = { c->n_head, c->n_kv, c->hd, 1.0f / sqrtf((float)c->hd) },
	};
}

/*
 * Reference in double over the caches as they must be after the store. Tolerance: each score
 * is off by at most ds = |scale| * sum|q K| * 2^-22 (float products, two roundings), which
 * moves each probability by a relative 4 ds at most; expf, the normalization and the float
 * products of p and V add < 2^-20 relative. Since sum p = 1, |err| <= max|V| (4 ds + 2^-19).
 */
static void attn_check(const struct attn_fixture *f, const struct attn_case *c,
		       const float *kc0, const float *vc0)
{
	uint32_t qw = c->n_head * c->hd, kvw = c->n_kv * c->hd, group = c->n_head / c->n_kv;
	float *kc = tu_talloc(hal_tensor_bytes(f->kc)), *vc = tu_talloc(hal_tensor_bytes(f->vc));
	double *p = tu_talloc(c->n_ctx * sizeof(double));
	float scale = f->op.p.attn.scale;

	/* The caches: row pos[t] is k/v row t, every other row as before. */
	memcpy(kc, kc0, hal_tensor_bytes(f->kc));
	memcpy(vc, vc0, hal_tensor_bytes(f->vc));
	for (uint32_t t = 0; t < c->T; t++) {
		memcpy(kc + c->pos[t] * kvw, F(f->k) + t * kvw, kvw * sizeof(float));
		memcpy(vc + c->pos[t] * kvw, F(f->v) + t * kvw, kvw * sizeof(float));
	}
	ck_assert_mem_eq(F(f->kc), kc, hal_tensor_bytes(f->kc));
	ck_assert_mem_eq(F(f->vc), vc, hal_tensor_bytes(f->vc));

	for (uint32_t t = 0; t < c->T; t++) {
		for (uint32_t h = 0; h < c->n_head; h++) {
			const float *q = F(f->q) + t * qw + h * c->hd;
			uint32_t off = (h / group) * c->hd, n = (uint32_t)c->pos[t] + 1;
			double max = -INFINITY, sum = 0, ds = 0, vmax = 0;

			for (uint32_t j = 0; j < n; j++) {
				double dot = 0, mag = 0;

				for (uint32_t i = 0; i < c->hd; i++) {
					dot += (double)q[i] * kc[j * kvw + off + i];
					mag += fabs((double)q[i] * kc[j * kvw + off + i]);
				}
				p[j] = scale * dot;
				max = fmax(max, p[j]);
				ds = fmax(ds, fabs(scale) * mag * 0x1p-22);
			}
			for (uint32_t j = 0; j < n; j++)
				sum += (p[j] = exp(p[j] - max));
			for (uint32_t i = 0; i < c->hd; i++) {
				double ref = 0;

				for (uint32_t j = 0; j < n; j++) {
					ref += p[j] / sum * vc[j * kvw + off + i];
					vmax = fmax(vmax, fabs(vc[j * kvw + off + i]));
				}
				ck_near(F(f->dst)[t * qw + h * c->hd + i], ref,
					vmax * (4 * ds + 0x1p-19));
			}
		}
	}
}

START_TEST(test_attention)
{
	static const struct attn_case cases[] = {
		{ 4, 4, 8, 16, 1, { 7 } },          /* MHA, one token (decode) */
		{ 8, 2, 16, 32, 4, { 5, 6, 7, 8 } }, /* GQA, a batch in the middle of the cache */
		{ 4, 1, 8, 8, 3, { 0, 1, 2 } },     /* MQA, the first tokens (pos 0: one row) */
		{ 8, 2, 8, 12, 2, { 11, 4 } },      /* last row; positions need not increase */
	};
	struct hal_device *dev = dev_new();
	uint64_t rng = 9;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct attn_fixture f;
		float *kc0, *vc0;

		attn_setup(&f, &cases[c], &rng);
		kc0 = tu_talloc(hal_tensor_bytes(f.kc));
		vc0 = tu_talloc(hal_tensor_bytes(f.vc));
		memcpy(kc0, f.kc->data, hal_tensor_bytes(f.kc));
		memcpy(vc0, f.vc->data, hal_tensor_bytes(f.vc));
		run_ok(dev, &f.op);
		attn_check(&f, &cases[c], kc0, vc0);
	}
	hal_device_destroy(dev);
}
END_TEST

/* The GQA mapping matters: an output computed with the wrong kv head must be caught. */
START_TEST(test_attention_gqa_heads)
{
	static const struct attn_case c = { 8, 2, 8, 4, 1, { 3 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 10;
	struct attn_fixture f;

	attn_setup(&f, &c, &rng);
	/* V cache: kv head 0 all 1, kv head 1 all -1; heads 0-3 must read 1, heads 4-7 -1. */
	for (uint32_t j = 0; j < c.n_ctx; j++)
		for (uint32_t i = 0; i < 2 * c.hd; i++)
			F(f.vc)[j * 2 * c.hd + i] = i < c.hd ? 1.0f : -1.0f;
	for (uint32_t i = 0; i < 2 * c.hd; i++)
		F(f.v)[i] = i < c.hd ? 1.0f : -1.0f;
	run_ok(dev, &f.op);
	for (uint32_t h = 0; h < c.n_head; h++)
		for (uint32_t i = 0; i < c.hd; i++)
			ck_near(F(f.dst)[h * c.hd + i], h < 4 ? 1.0 : -1.0, 1e-6);
	hal_device_destroy(dev);
}
END_TEST

/* A position outside the cache is rejected before anything is written. */
START_TEST(test_attention_pos_out_of_range)
{
	static const struct attn_case cases[] = {
		{ 4, 2, 8, 8, 1, { 8 } },
		{ 4, 2, 8, 8, 1, { -1 } },
		{ 4, 2, 8, 8, 2, { 3, 8 } }, /* the valid first row must not be stored either */
		{ 4, 2, 8, 8, 2, { 3, 1000000 } },
	};
	struct hal_device *dev = dev_new();
	uint64_t rng = 11;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct attn_fixture f;

		attn_setup(&f, &cases[c], &rng);
		memset(f.dst->data, 0x5a, hal_tensor_bytes(f.dst));

		size_t kb = hal_tensor_bytes(f.kc), db = hal_tensor_bytes(f.dst);
		void *kc0 = tu_talloc(kb), *vc0 = tu_talloc(kb), *d0 = tu_talloc(db);
		uint64_t ops = dev->stats.ops;

		memcpy(kc0, f.kc->data, kb);
		memcpy(vc0, f.vc->data, kb);
		memcpy(d0, f.dst->data, db);
		ck_assert_int_eq(dev->vt->run(dev, &f.op), HAL_ERR_INVALID);
		ck_assert_msg(strstr(dev->error, "out of range") && strstr(dev->error, "positions"),
			      "message: %s", dev->error);
		ck_assert_mem_eq(f.kc->data, kc0, kb);
		ck_assert_mem_eq(f.vc->data, vc0, kb);
		ck_assert_mem_eq(f.dst->data, d0, db);
		ck_assert_uint_eq(dev->stats.ops, ops);
	}
	hal_device_destroy(dev);
}
END_TEST

/* ---- EMBED -------------------------------------------------------------------------------- */

/*
 * Each output row is the table row decoded: bit for bit hal_dequantize_row's output, and within
 * the format's error of the floats the table was made from (F32 exact; F16 half an ulp,
 * 2^-11 relative + 2^-25; Q8_0 0.5625 * amax/127 and Q4_0 |d| = amax/8 plus the scale's
 * rounding 8 * 2^-11 |d|, as derived in test_quant).
 */
START_TEST(test_embed)
{
	static const enum hal_type types[] = { HAL_TYPE_F32, HAL_TYPE_F16, HAL_TYPE_Q8_0,
					       HAL_TYPE_Q4_0 };
	static const int32_t ids[] = { 3, 0, 9, 3 };
	enum { V = 10, D = 64 };
	struct hal_device *dev = dev_new();
	uint64_t rng = 12;

	for (size_t ti = 0; ti < 4; ti++) {
		enum hal_type type = types[ti];
		struct hal_tensor *table = tu_tensor_new("tok_embd", type, D, V);
		float *src = tu_talloc(V * D * sizeof(float)), *row = tu_talloc(D * sizeof(float));

		for (int i = 0; i < V * D; i++)
			src[i] = 3.0f * tu_rand_f32(&rng);
		for (int r = 0; r < V; r++)
			hal_quantize_row(type, src + r * D,
					 (char *)table->data + r * hal_row_bytes(type, D), D);

		for (uint32_t T = 1; T <= 4; T += 3) {
			struct hal_tensor *id = tu_tensor_i32("tokens", ids + 4 - T, T);
			struct hal_tensor *d = tu_tensor_new("embd", HAL_TYPE_F32, D, T);
			struct hal_op op = { .kind = HAL_OP_EMBED, .src = { table, id }, .dst = d };

			run_ok(dev, &op);
			for (uint32_t t = 0; t < T; t++) {
				int32_t r = I(id)[t];
				const float *x = src + r * D, *y = F(d) + t * D;

				hal_dequantize_row(type,
						   (char *)table->data + r * hal_row_bytes(type, D),
						   row, D);
				ck_assert_mem_eq(y, row, D * sizeof(float));
				for (int b = 0; b < D / HAL_QK; b++) {
					double amax = 0, tol;

					for (int i = b * HAL_QK; i < (b + 1) * HAL_QK; i++)
						amax = fmax(amax, fabs(x[i]));
					for (int i = b * HAL_QK; i < (b + 1) * HAL_QK; i++) {
						if (type == HAL_TYPE_F32)
							tol = 0;
						else if (type == HAL_TYPE_F16)
							tol = 0x1p-11 * fabs(x[i]) + 0x1p-25;
						else if (type == HAL_TYPE_Q8_0)
							tol = 0.5625 * amax / 127 + 1e-7;
						else
							tol = (1 + 8 * 0x1p-11) * amax / 8 + 1e-6;
						ck_near(y[i], x[i], tol);
					}
				}
			}
		}
	}
	hal_device_destroy(dev);
}
END_TEST

/* ---- SWIGLU, ADD -------------------------------------------------------------------------- */

/* expf, 1 + e, the division and the product: a few float roundings, checked at 2^-20. */
START_TEST(test_swiglu)
{
	static const uint32_t shapes[][2] = { { 64, 1 }, { 96, 3 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 13;

	for (size_t s = 0; s < 2; s++) {
		uint32_t D = shapes[s][0], T = shapes[s][1];
		struct hal_tensor *g = tu_tensor_rand("gate", D, T, &rng, 8.0f);
		struct hal_tensor *u = tu_tensor_rand("up", D, T, &rng, 2.0f);
		struct hal_tensor *d = tu_tensor_new("ffn", HAL_TYPE_F32, D, T);
		struct hal_op op = { .kind = HAL_OP_SWIGLU, .src = { g, u }, .dst = d };

		run_ok(dev, &op);
		for (uint32_t i = 0; i < D * T; i++) {
			double a = F(g)[i];
			double ref = a / (1.0 + exp(-a)) * F(u)[i];

			ck_near(F(d)[i], ref, 0x1p-20 * fabs(ref) + 1e-30);
		}
		/* In place on the gate: the same bits. */
		op.dst = g;
		run_ok(dev, &op);
		ck_assert_mem_eq(g->data, d->data, hal_tensor_bytes(d));
	}
	hal_device_destroy(dev);
}
END_TEST

/* A float sum is correctly rounded: exactly (float)((double)a + b). */
START_TEST(test_add)
{
	static const uint32_t shapes[][2] = { { 64, 1 }, { 96, 3 }, { 5, 2 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 14;

	for (size_t s = 0; s < 3; s++) {
		uint32_t D = shapes[s][0], T = shapes[s][1];
		struct hal_tensor *a = tu_tensor_rand("a", D, T, &rng, 4.0f);
		struct hal_tensor *b = tu_tensor_rand("b", D, T, &rng, 1.0f);
		struct hal_tensor *d = tu_tensor_new("sum", HAL_TYPE_F32, D, T);
		struct hal_op op = { .kind = HAL_OP_ADD, .src = { a, b }, .dst = d };

		run_ok(dev, &op);
		for (uint32_t i = 0; i < D * T; i++)
			ck_assert_float_eq(F(d)[i], (float)((double)F(a)[i] + F(b)[i]));
		/* dst aliasing src[0], as the residual connection does */
		op.dst = a;
		run_ok(dev, &op);
		ck_assert_mem_eq(a->data, d->data, hal_tensor_bytes(d));
	}
	hal_device_destroy(dev);
}
END_TEST

/* ---- hal_op_check ------------------------------------------------------------------------- */

/* op must be rejected by hal_op_check and by run(), with want in the message, uncounted. */
static void expect_invalid(struct hal_device *dev, const struct hal_op *op, const char *want)
{
	char msg[256];
	uint64_t ops = dev->stats.ops;

	ck_assert_int_eq(hal_op_check(op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_msg(strstr(msg, want), "message '%s' does not say '%s'", msg, want);
	ck_assert_int_eq(dev->vt->run(dev, op), HAL_ERR_INVALID);
	ck_assert_str_eq(dev->error, msg);
	ck_assert_uint_eq(dev->stats.ops, ops);
}

static void expect_valid(const struct hal_op *op)
{
	char msg[256];

	ck_assert_msg(hal_op_check(op, msg, sizeof(msg)) == HAL_OK, "rejected: %s", msg);
}

START_TEST(test_check_matmul)
{
	struct hal_device *dev = dev_new();
	uint64_t rng = 15;
	struct hal_tensor *w = tu_weight_rand("blk.0.attn_q.weight", HAL_TYPE_Q8_0, 768, 4, &rng,
					      NULL);
	struct hal_tensor *a = tu_tensor_rand("x", 768, 2, &rng, 1.0f);
	struct hal_tensor *a512 = tu_tensor_rand("x", 512, 2, &rng, 1.0f);
	struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, 4, 2);
	struct hal_op ok = matmul_op(w, a, d), op;
	struct hal_tensor tw, ta, td;
	char msg[256];

	expect_valid(&ok);

	/* Mismatched width: the message names the weights and both widths. */
	op = matmul_op(w, a512, d);
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_str_eq(msg, "matmul 'blk.0.attn_q.weight': activations have 512 columns, "
			      "weights 768");
	expect_invalid(dev, &op, "512");

	/* Wrong types. */
	op = ok;
	ta = *a;
	ta.type = HAL_TYPE_F16;
	op.src[1] = &ta;
	expect_invalid(dev, &op, "activations tensor has type F16");
	op = ok;
	tw = *w;
	tw.type = HAL_TYPE_I32;
	op.src[0] = &tw;
	expect_invalid(dev, &op, "weights tensor has type I32");
	tw.type = (enum hal_type)42;
	expect_invalid(dev, &op, "weights tensor has type invalid");
	op = ok;
	td = *d;
	td.type = HAL_TYPE_Q8_0;
	op.dst = &td;
	expect_invalid(dev, &op, "output");

	/* Null data, missing operand. */
	op = ok;
	tw = *w;
	tw.data = NULL;
	op.src[0] = &tw;
	expect_invalid(dev, &op, "no data");
	op = ok;
	op.src[1] = NULL;
	expect_invalid(dev, &op, "activations operand is missing");
	op = ok;
	op.dst = NULL;
	expect_invalid(dev, &op, "missing");

	/* A quantized row that is not whole blocks. */
	op = ok;
	tw = *w;
	tw.ne[0] = 48;
	ta = *a;
	ta.ne[0] = 48;
	op.src[0] = &tw;
	op.src[1] = &ta;
	expect_invalid(dev, &op, "multiple of the Q8_0 block");

	/* Output shape: weight rows x tokens. */
	op = ok;
	td = *d;
	td.ne[0] = 5;
	op.dst = &td;
	expect_invalid(dev, &op, "expected 4 x 2");

	/* Output over the activations. */
	op = ok;
	td = *d;
	td.data = a->data;
	op.dst = &td;
	expect_invalid(dev, &op, "overlaps");

	/* A short message buffer is truncated, never overrun. */
	op = matmul_op(w, a512, d);
	memset(msg, 'x', sizeof(msg));
	ck_assert_int_eq(hal_op_check(&op, msg, 10), HAL_ERR_INVALID);
	ck_assert_uint_eq(strlen(msg), 9);
	ck_assert_int_eq(msg[10], 'x');
	ck_assert_int_eq(hal_op_check(&op, NULL, 0), HAL_ERR_INVALID);
	ck_assert_int_eq(hal_op_check(NULL, msg, sizeof(msg)), HAL_ERR_INVALID);
	hal_device_destroy(dev);
}
END_TEST

START_TEST(test_check_attention)
{
	static const struct attn_case c = { 8, 2, 8, 16, 2, { 3, 4 } };
	struct hal_device *dev = dev_new();
	uint64_t rng = 16;
	struct attn_fixture f;
	struct hal_op op;
	struct hal_tensor t;

	attn_setup(&f, &c, &rng);
	expect_valid(&f.op);

	op = f.op;
	op.p.attn.n_head_kv = 3;
	expect_invalid(dev, &op, "not a multiple of n_head_kv 3");
	op.p.attn.n_head_kv = 0;
	expect_invalid(dev, &op, "must be positive");
	op = f.op;
	op.p.attn.n_head_kv = 4; /* k, v and caches are 2 heads wide */
	expect_invalid(dev, &op, "'k'");
	op = f.op;
	op.p.attn.head_dim = 4;
	expect_invalid(dev, &op, "q rows have 64 columns");

	op = f.op;
	t = *f.kc;
	t.ne[0] = 32;
	op.src[3] = &t;
	expect_invalid(dev, &op, "cache rows");
	op = f.op;
	t = *f.vc;
	t.ne[1] = 8;
	op.src[4] = &t;
	expect_invalid(dev, &op, "V cache has 8 rows");
	op = f.op;
	t = *f.v;
	t.ne[1] = 1;
	op.src[2] = &t;
	expect_invalid(dev, &op, "v tensor is 16 x 1");
	op = f.op;
	t = *f.pos;
	t.ne[1] = 1;
	op.src[5] = &t;
	expect_invalid(dev, &op, "positions has 1 entries for 2 tokens");
	op = f.op;
	t = *f.pos;
	t.type = HAL_TYPE_F32;
	op.src[5] = &t;
	expect_invalid(dev, &op, "positions tensor has type F32, expected I32");
	op = f.op;
	t = *f.q;
	t.data = NULL;
	op.src[0] = &t;
	expect_invalid(dev, &op, "q tensor has no data");
	op = f.op;
	op.src[4] = f.kc;
	expect_invalid(dev, &op, "overlaps");
	op = f.op;
	op.dst = f.kc;
	expect_invalid(dev, &op, "output");
	hal_device_destroy(dev);
}
END_TEST

START_TEST(test_check_others)
{
	struct hal_device *dev = dev_new();
	uint64_t rng = 17;
	struct hal_tensor *x = tu_tensor_rand("x", 64, 3, &rng, 1.0f);
	struct hal_tensor *y = tu_tensor_rand("y", 64, 3, &rng, 1.0f);
	struct hal_tensor *d = tu_tensor_new("d", HAL_TYPE_F32, 64, 3);
	struct hal_tensor *nw = tu_tensor_rand("norm", 64, 1, &rng, 1.0f);
	struct hal_tensor *table = tu_weight_rand("tok_embd", HAL_TYPE_Q4_0, 64, 10, &rng, NULL);
	static const int32_t ids_v[] = { 1, 2, 9 }, bad_ids[] = { 1, 10, 2 };
	struct hal_tensor *ids = tu_tensor_i32("tokens", ids_v, 3);
	struct hal_tensor *bad = tu_tensor_i32("tokens", bad_ids, 3);
	struct hal_tensor t;
	struct hal_op op;
	const struct hal_op rope = { .kind = HAL_OP_ROPE, .src = { x, ids }, .dst = x,
				     .p.rope = { 4, 16, 16, 10000.0f, 1.0f } };
	const struct hal_op norm = { .kind = HAL_OP_RMSNORM, .src = { x, nw }, .dst = d,
				     .p.rmsnorm.eps = 1e-5f };
	const struct hal_op embed = { .kind = HAL_OP_EMBED, .src = { table, ids }, .dst = d };
	const struct hal_op add = { .kind = HAL_OP_ADD, .src = { x, y }, .dst = d };

	expect_valid(&rope);
	expect_valid(&norm);
	expect_valid(&embed);
	expect_valid(&add);

	/* RoPE */
	op = rope;
	op.p.rope.n_rot = 7;
	expect_invalid(dev, &op, "n_rot 7 must be even");
	op.p.rope.n_rot = 18;
	expect_invalid(dev, &op, "<= head_dim 16");
	op = rope;
	op.p.rope.n_head = 3;
	expect_invalid(dev, &op, "rows have 64 columns, n_head 3 x head_dim 16");
	op = rope;
	op.p.rope.freq_base = 0.0f;
	expect_invalid(dev, &op, "freq_base");

	/* RMSNorm */
	op = norm;
	t = *nw;
	t.ne[0] = 32;
	op.src[1] = &t;
	expect_invalid(dev, &op, "norm weight has 32 elements, rows have 64");
	op = norm;
	t = *nw;
	t.type = HAL_TYPE_F16;
	op.src[1] = &t;
	expect_invalid(dev, &op, "norm weight tensor has type F16");

	/* EMBED */
	op = embed;
	op.src[1] = bad;
	expect_invalid(dev, &op, "ids[1] = 10 is out of range [0, 10)");
	I(bad)[1] = -1;
	expect_invalid(dev, &op, "ids[1] = -1 is out of range");
	op = embed;
	t = *ids;
	t.ne[1] = 2;
	op.src[1] = &t;
	expect_invalid(dev, &op, "ids has 2 entries for 3 tokens");
	op = embed;
	t = *d;
	t.ne[0] = 32;
	op.dst = &t;
	expect_invalid(dev, &op, "output rows have 32 columns, table rows 64");

	/* ADD / SWIGLU */
	op = add;
	t = *y;
	t.ne[1] = 2;
	op.src[1] = &t;
	expect_invalid(dev, &op, "b is 64 x 2 but a 'x' is 64 x 3");
	op = add;
	op.kind = HAL_OP_SWIGLU;
	expect_valid(&op);
	t = *y;
	t.data = NULL;
	op.src[1] = &t;
	expect_invalid(dev, &op, "up tensor has no data");
	op = add;
	t = *d;
	t.data = (char *)y->data + 4; /* partial overlap is never right */
	op.dst = &t;
	expect_invalid(dev, &op, "overlaps");

	op = add;
	op.kind = (enum hal_op_kind)99;
	expect_invalid(dev, &op, "unknown op kind 99");
	hal_device_destroy(dev);
}
END_TEST

/* ---- the device --------------------------------------------------------------------------- */

START_TEST(test_device)
{
	struct hal_device *dev = dev_new();
	uint64_t rng = 18;
	float *wf;
	struct hal_tensor *w = tu_weight_rand("w", HAL_TYPE_Q4_0, 1024, 256, &rng, &wf);
	struct hal_tensor *a = tu_tensor_rand("a", 1024, 4, &rng, 1.0f);
	struct hal_tensor *d = tu_tensor_new("y", HAL_TYPE_F32, 256, 4);
	struct hal_op op = matmul_op(w, a, d), bad = op;
	struct hal_tensor tw = *w;

	ck_assert_str_eq(dev->name, "cpu-ref");
	ck_assert_uint_eq(dev->stats.ops, 0);
	ck_assert_uint_eq(dev->stats.busy_ns, 0);
	for (int k = 0; k < HAL_OP_COUNT; k++) {
		struct hal_op any = { .kind = (enum hal_op_kind)k };

		ck_assert_msg(dev->vt->supports(dev, &any), "%s", hal_op_name(any.kind));
	}
	for (enum hal_type ty = HAL_TYPE_F32; ty <= HAL_TYPE_Q4_0; ty++) {
		tw.type = ty;
		bad.src[0] = &tw;
		ck_assert(dev->vt->supports(dev, &bad));
	}
	tw.type = HAL_TYPE_I32;
	ck_assert(!dev->vt->supports(dev, &bad));

	for (int i = 0; i < 3; i++)
		run_ok(dev, &op);
	ck_assert_uint_eq(dev->stats.ops, 3);
	ck_assert_uint_gt(dev->stats.busy_ns, 0);
	ck_assert_int_eq(dev->vt->run(dev, &bad), HAL_ERR_INVALID);
	ck_assert_uint_eq(dev->stats.ops, 3);
	/* The reason of the last failure survives later successful runs. */
	ck_assert_str_eq(dev->error, "matmul 'w': weights tensor has type I32, "
				     "expected F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K");
	run_ok(dev, &op);
	ck_assert_uint_eq(dev->stats.ops, 4);
	ck_assert_str_eq(dev->error, "matmul 'w': weights tensor has type I32, "
				     "expected F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K");
	ck_assert_uint_eq(dev->stats.bytes_copied, 0);
	ck_assert_int_eq(hal_cpu_ref_create(NULL), HAL_ERR_INVALID);
	hal_device_destroy(dev);
	hal_device_destroy(NULL);
}
END_TEST

static Suite *cpu_ref_suite(void)
{
	Suite *s = suite_create("cpu_ref");
	TCase *ops = tcase_create("ops");
	TCase *check = tcase_create("check");

	tcase_add_checked_fixture(ops, NULL, tu_pool_free);
	tcase_add_checked_fixture(check, NULL, tu_pool_free);
	tcase_set_timeout(ops, 120);
	tcase_add_test(ops, test_matmul_f32);
	tcase_add_test(ops, test_matmul_f16);
	tcase_add_test(ops, test_matmul_q8_0);
	tcase_add_test(ops, test_matmul_q4_0);
	tcase_add_test(ops, test_matmul_exact);
	tcase_add_test(ops, test_matmul_unaligned);
	tcase_add_test(ops, test_rmsnorm);
	tcase_add_test(ops, test_rmsnorm_eps);
	tcase_add_test(ops, test_rope);
	tcase_add_test(ops, test_attention);
	tcase_add_test(ops, test_attention_gqa_heads);
	tcase_add_test(ops, test_attention_pos_out_of_range);
	tcase_add_test(ops, test_embed);
	tcase_add_test(ops, test_swiglu);
	tcase_add_test(ops, test_add);
	tcase_add_test(check, test_check_matmul);
	tcase_add_test(check, test_check_attention);
	tcase_add_test(check, test_check_others);
	tcase_add_test(check, test_device);
	suite_add_tcase(s, ops);
	suite_add_tcase(s, check);
	return s;
}

int main(void)
{
	return tu_run_suite(cpu_ref_suite());
}
