/* SPDX-License-Identifier: MIT */
/*
 * test_npu_engine.c - the NPU ISA, engine, validator and time/energy model
 * (kmod/silicon/npu_engine.c) and the host helpers around them (hal/npu_host.c).
 *
 * Oracles: hal/cpu/cpu_ref.c for matmul (the same GGUF weights and F32 inputs), float
 * arithmetic for element-wise ops and LUTs, hand-computed numbers for the cost model, and a
 * second run for determinism. The kernel-subset check shells out to npu_kernel_subset.sh.
 *
 * Tolerances (asserted below, measured values in the comments of each test):
 *  - matmul, I32B output: cosine >= 0.999999 and max |npu - ref| <= 1e-6 * (max - min of ref)
 *    (measured: 3e-8 at k = 256, 1.7e-7 at k = 4096, cosine 1.000000000 to 9 digits);
 *    the int8 values and scale products are bit-identical to ggml's, so the only difference is
 *    summation order/precision (the reference sums in float, the NPU in 64-bit fixed point).
 *  - matmul, I8 output: |dequant(npu) - ref| <= 0.5 LSB + 1e-6 of the range.
 *  - eltwise add/mul: within 1 output LSB of round(real / so) + zo, >= 99% exactly equal.
 *  - LUT: the engine returns table[q + 128] exactly; the table is within 0.5 LSB of f(x).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "hal/npu_host.h"
#include "hal/npu/npu_as.h"
#include "hal/quant.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* LLM-like activations: mostly in [-1, 1), a few outliers 20x larger. */
static void fill_acts(float *x, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++) {
		x[i] = tu_rand_f32(rng);
		if (tu_rand_u64(rng) % 97 == 0)
			x[i] *= 20.0f;
	}
}

/* GGUF weights of type (Q8_0 or Q4_0) for n rows of k, from random floats. */
static void *make_gguf_weights(enum hal_type type, uint32_t n, uint32_t k, uint64_t *rng)
{
	size_t rb = hal_row_bytes(type, k);
	uint8_t *w = malloc(rb * n);
	float *row = malloc(sizeof(float) * k);

	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(row);
	for (uint32_t r = 0; r < n; r++) {
		/* rows of different magnitudes, as real weight matrices have */
		float mag = 0.02f * (float)(1 + r % 7);

		for (uint32_t i = 0; i < k; i++)
			row[i] = mag * tu_rand_f32(rng);
		hal_quantize_row(type, row, w + r * rb, k);
	}
	free(row);
	return w;
}

/* The oracle: cpu_ref MATMUL, y[m x n] = x[m x k] . W^T. */
static void ref_matmul(enum hal_type type, void *w, uint32_t n, uint32_t k, float *x, uint32_t m,
		       float *y)
{
	struct hal_device *dev;
	struct hal_tensor tw = { .name = "w", .type = type, .ne = { k, n }, .data = w };
	struct hal_tensor tx = { .name = "x", .type = HAL_TYPE_F32, .ne = { k, m }, .data = x };
	struct hal_tensor ty = { .name = "y", .type = HAL_TYPE_F32, .ne = { n, m }, .data = y };
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &tw, &tx }, .dst = &ty };

	ck_assert_int_eq(hal_cpu_ref_create(&dev), HAL_OK);
	ck_assert_int_eq(dev->vt->run(dev, &op), HAL_OK);
	hal_device_destroy(dev);
}

struct agreement {
	double cosine;
	double max_err_rel; /* max |a - b| / (max(b) - min(b)) */
};

static struct agreement compare(const float *a, const float *b, size_t n)
{
	double dot = 0, na = 0, nb = 0, maxerr = 0, lo = b[0], hi = b[0];

	for (size_t i = 0; i < n; i++) {
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
		maxerr = fmax(maxerr, fabs((double)a[i] - b[i]));
		lo = fmin(lo, b[i]);
		hi = fmax(hi, b[i]);
	}
	return (struct agreement){ dot / sqrt(na * nb), maxerr / (hi - lo) };
}

static void expect_run_ok(struct npu_engine *e, struct npu_stream *s, struct npu_job_stats *js)
{
	struct npu_status st;
	int rc;

	ck_assert_int_eq(npu_stream_finish(s), HAL_OK);
	rc = npu_engine_run(e, s->data, s->len, s->bufs, s->nbufs, js, &st);
	ck_assert_msg(rc == 0, "stream refused: cmd %u: %s", st.cmd_index, st.reason);
}

/* ---- (a) weight conversion ---------------------------------------------------------------- */

START_TEST(test_fp16_scale_exact)
{
	/* every finite half is exactly m * 2^e with |m| <= 2047 */
	for (uint32_t h = 0; h < 0x10000; h++) {
		int16_t m;
		int8_t e;
		bool ok = npu_fp16_scale((uint16_t)h, &m, &e);
		float f = hal_fp16_to_fp32((uint16_t)h);

		ck_assert_int_le(abs(m), 2047);
		if (isfinite(f)) {
			ck_assert(ok);
			ck_assert_msg(ldexpf((float)m, e) == f, "h=%04x", h);
		} else {
			ck_assert(!ok);
		}
	}
}
END_TEST

START_TEST(test_convert_weights_layout)
{
	uint64_t rng = 7;
	void *g = make_gguf_weights(HAL_TYPE_Q4_0, 3, 64, &rng);
	size_t rb = npu_weight_row_bytes(HAL_TYPE_Q4_0, 64), clamped = 99;
	uint8_t *w = malloc(rb * 3);
	float a[64], b[64];

	ck_assert_uint_eq(rb, 2 * sizeof(struct enpu_block_q4));
	ck_assert_int_eq(npu_convert_weights(HAL_TYPE_Q4_0, g, 64, 3, w, &clamped), HAL_OK);
	ck_assert_uint_eq(clamped, 0);
	ck_assert_int_eq(npu_convert_weights(HAL_TYPE_F16, g, 64, 3, w, NULL),
			 HAL_ERR_UNSUPPORTED);
	ck_assert_int_eq(npu_convert_weights(HAL_TYPE_Q8_0, g, 48, 3, w, NULL), HAL_ERR_INVALID);
	/* row 2 decodes to the same values as the GGUF row */
	hal_dequantize_row(HAL_TYPE_Q4_0, (uint8_t *)g + 2 * hal_row_bytes(HAL_TYPE_Q4_0, 64), a,
			   64);
	for (int blk = 0; blk < 2; blk++) {
		const uint8_t *p = w + 2 * rb + blk * sizeof(struct enpu_block_q4);
		int16_t m;
		float d;

		memcpy(&m, p, 2);
		d = ldexpf(m, (int8_t)p[2]);
		for (int j = 0; j < 16; j++) {
			b[blk * 32 + j] = d * (float)((p[4 + j] & 15) - 8);
			b[blk * 32 + j + 16] = d * (float)((p[4 + j] >> 4) - 8);
		}
	}
	ck_assert_mem_eq(a, b, sizeof(a));
	free(g);
	free(w);
}
END_TEST

/* ---- (b) activations ------------------------------------------------------------------------ */

START_TEST(test_act_quant_matches_ggml)
{
	uint64_t rng = 11;
	float x[256], y[256], z[256];
	uint8_t q[8 * 36];
	struct hal_block_q8_0 g[8];

	fill_acts(x, 256, &rng);
	npu_quantize_act_row(x, 256, q);
	hal_quantize_row_q8_0(x, g, 256);
	for (int b = 0; b < 8; b++)
		ck_assert_mem_eq(q + b * 36 + 4, g[b].qs, 32);
	npu_dequantize_q8b_row(q, 256, y);
	hal_dequantize_row(HAL_TYPE_Q8_0, g, z, 256);
	ck_assert_mem_eq(y, z, sizeof(y));
}
END_TEST

/* ---- matmul against cpu_ref ------------------------------------------------------------------ */

/* Runs one matmul both ways and returns the agreement. */
static struct agreement matmul_agreement(enum hal_type type, uint32_t n, uint32_t k, uint32_t m,
					 uint64_t seed)
{
	uint64_t rng = seed;
	void *g = make_gguf_weights(type, n, k, &rng);
	uint8_t *w = malloc(npu_weight_row_bytes(type, k) * n);
	float *x = malloc(sizeof(float) * k * m);
	float *yr = malloc(sizeof(float) * n * m), *yn = malloc(sizeof(float) * n * m);
	struct npu_engine e;
	char err[200] = "";
	struct agreement a;

	fill_acts(x, (size_t)k * m, &rng);
	ck_assert_int_eq(npu_convert_weights(type, g, k, n, w, NULL), HAL_OK);
	ref_matmul(type, g, n, k, x, m, yr);
	npu_engine_init(&e, NULL, 0);
	ck_assert_msg(npu_matmul_f32(&e, npu_weight_dtype(type), w, 1, n, k, x, m, yn, NULL, err,
				     sizeof(err)) == HAL_OK, "%s", err);
	a = compare(yn, yr, (size_t)n * m);
	free(g);
	free(w);
	free(x);
	free(yr);
	free(yn);
	return a;
}

START_TEST(test_matmul_q8_0_vs_ref)
{
	struct agreement a = matmul_agreement(HAL_TYPE_Q8_0, 96, 256, 3, 1);
	struct agreement b = matmul_agreement(HAL_TYPE_Q8_0, 64, 4096, 2, 2);

	printf("matmul Q8_0: cos %.9f maxerr/range %.3g (k=256); cos %.9f maxerr/range %.3g "
	       "(k=4096)\n", a.cosine, a.max_err_rel, b.cosine, b.max_err_rel);
	ck_assert(a.cosine >= 0.999999 && b.cosine >= 0.999999);
	ck_assert(a.max_err_rel <= 1e-6 && b.max_err_rel <= 1e-6);
}
END_TEST

START_TEST(test_matmul_q4_0_vs_ref)
{
	struct agreement a = matmul_agreement(HAL_TYPE_Q4_0, 96, 256, 3, 3);
	struct agreement b = matmul_agreement(HAL_TYPE_Q4_0, 64, 4096, 2, 4);

	printf("matmul Q4_0: cos %.9f maxerr/range %.3g (k=256); cos %.9f maxerr/range %.3g "
	       "(k=4096)\n", a.cosine, a.max_err_rel, b.cosine, b.max_err_rel);
	ck_assert(a.cosine >= 0.999999 && b.cosine >= 0.999999);
	ck_assert(a.max_err_rel <= 1e-6 && b.max_err_rel <= 1e-6);
}
END_TEST

/* I8 output through a static requantization, N not a multiple of 32. */
START_TEST(test_matmul_i8_out_vs_ref)
{
	enum { N = 45, K = 128, M = 2 };
	uint64_t rng = 5;
	void *g = make_gguf_weights(HAL_TYPE_Q8_0, N, K, &rng);
	size_t wrow = npu_weight_row_bytes(HAL_TYPE_Q8_0, K), arow = npu_act_row_bytes(K);
	uint8_t *w = malloc(wrow * N), act[M * 4 * 36];
	int8_t out[M * N];
	float x[M * K], yr[M * N], lo = 0, hi = 0, scale;
	struct enpu_requant rq;
	struct npu_engine e;
	struct npu_stream s;
	int zp = -3;

	fill_acts(x, M * K, &rng);
	ck_assert_int_eq(npu_convert_weights(HAL_TYPE_Q8_0, g, K, N, w, NULL), HAL_OK);
	ref_matmul(HAL_TYPE_Q8_0, g, N, K, x, M, yr);
	for (int i = 0; i < M * N; i++) {
		lo = fminf(lo, yr[i]);
		hi = fmaxf(hi, yr[i]);
	}
	/* symmetric around the zero point -3: [-125, 130] steps; the extremes must not clip */
	scale = fmaxf(-lo, hi) / 124.0f;
	ck_assert_int_eq(npu_requant_from_real(1.0 / scale, zp, &rq), HAL_OK);
	for (int t = 0; t < M; t++)
		npu_quantize_act_row(x + t * K, K, act + t * arow);
	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t bw = npu_stream_add_buffer(&s, w, wrow * N, 1, ENPU_BUF_F_READ);
	uint32_t ba = npu_stream_add_buffer(&s, act, sizeof(act), 2, ENPU_BUF_F_READ);
	uint32_t bo = npu_stream_add_buffer(&s, out, sizeof(out), 3, ENPU_BUF_F_WRITE);
	npu_stream_matmul(&s, ENPU_DT_Q8B, npu_operand(bw, 0, wrow), npu_operand(ba, 0, arow),
			  npu_operand(bo, 0, N), ENPU_DT_I8, M, N, K, &rq);
	expect_run_ok(&e, &s, NULL);
	for (int i = 0; i < M * N; i++) {
		float deq = scale * (float)(out[i] - zp);

		ck_assert_msg(fabsf(deq - yr[i]) <= 0.5f * scale + 1e-6f * (hi - lo),
			      "i=%d npu %g ref %g", i, deq, yr[i]);
	}
	npu_stream_free(&s);
	free(g);
	free(w);
}
END_TEST

/* ---- element-wise and LUT ------------------------------------------------------------------ */

static int8_t ref_q(double real, float so, int zo)
{
	double v = round(real / so) + zo;

	return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}

/* Runs add or mul over random int8 data, with b broadcast (stride 0) if bcast. */
static void eltwise_case(enum enpu_eltwise_op op, bool bcast, bool in_place)
{
	enum { R = 4, C = 333 };
	/* scales without common factors, so that exact .5 ties (decided by float noise) are rare */
	const float sa = 0.0513f, sb = 0.0217f, so = op == ENPU_ELT_ADD ? 0.0831f : 0.00377f;
	const int za = 3, zb = -5, zo = 1;
	int8_t a[R * C], b[R * C], out[R * C], a0[R * C];
	struct enpu_requant ia, ib, oq;
	uint64_t rng = 99 + op;
	struct npu_engine e;
	struct npu_stream s;
	int exact = 0;

	for (int i = 0; i < R * C; i++) {
		a[i] = (int8_t)tu_rand_u64(&rng);
		b[i] = (int8_t)tu_rand_u64(&rng);
	}
	memcpy(a0, a, sizeof(a));
	if (op == ENPU_ELT_ADD)
		ck_assert_int_eq(npu_eltwise_add_params(sa, za, sb, zb, so, zo, &ia, &ib, &oq),
				 HAL_OK);
	else
		ck_assert_int_eq(npu_eltwise_mul_params(sa, za, sb, zb, so, zo, &ia, &ib, &oq),
				 HAL_OK);
	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t ba = npu_stream_add_buffer(&s, a, sizeof(a), 0, ENPU_BUF_F_READ |
					    (in_place ? ENPU_BUF_F_WRITE : 0));
	uint32_t bb = npu_stream_add_buffer(&s, b, sizeof(b), 0, ENPU_BUF_F_READ);
	uint32_t bo = in_place ? ba : npu_stream_add_buffer(&s, out, sizeof(out), 0,
							     ENPU_BUF_F_WRITE);
	npu_stream_eltwise(&s, op, npu_operand(ba, 0, C), npu_operand(bb, 0, bcast ? 0 : C),
			   npu_operand(bo, 0, C), R, C, &ia, &ib, &oq);
	expect_run_ok(&e, &s, NULL);
	for (int r = 0; r < R; r++) {
		for (int i = 0; i < C; i++) {
			double va = sa * (a0[r * C + i] - za);
			double vb = sb * (b[(bcast ? 0 : r) * C + i] - zb);
			int8_t want = ref_q(op == ENPU_ELT_ADD ? va + vb : va * vb, so, zo);
			int8_t got = in_place ? a[r * C + i] : out[r * C + i];

			ck_assert_msg(abs(got - want) <= 1, "op %d [%d,%d]: %d vs %d", op, r, i,
				      got, want);
			exact += got == want;
		}
	}
	ck_assert_int_ge(exact * 100, 99 * R * C);
	npu_stream_free(&s);
}

START_TEST(test_eltwise_add)
{
	eltwise_case(ENPU_ELT_ADD, false, false);
	eltwise_case(ENPU_ELT_ADD, true, false);
	eltwise_case(ENPU_ELT_ADD, false, true);
}
END_TEST

START_TEST(test_eltwise_mul)
{
	eltwise_case(ENPU_ELT_MUL, false, false);
	eltwise_case(ENPU_ELT_MUL, true, true);
}
END_TEST

START_TEST(test_lut_functions)
{
	const float in_scale = 0.06f;
	const int in_zp = 4;
	int8_t in[256], out[256], table[256];

	for (int q = -128; q <= 127; q++)
		in[q + 128] = (int8_t)q;
	for (int fn = 0; fn < NPU_LUT_COUNT; fn++) {
		struct npu_engine e;
		struct npu_stream s;
		float os;
		int32_t oz;

		npu_lut_out_params(fn, in_scale, in_zp, &os, &oz);
		npu_lut_build(fn, in_scale, in_zp, os, oz, table);
		npu_engine_init(&e, NULL, 0);
		npu_stream_begin(&s);
		uint32_t bi = npu_stream_add_buffer(&s, in, 256, 0, ENPU_BUF_F_READ);
		uint32_t bo = npu_stream_add_buffer(&s, out, 256, 0, ENPU_BUF_F_WRITE);
		uint32_t bt = npu_stream_add_buffer(&s, table, 256, 0, ENPU_BUF_F_READ);
		/* 4 rows of 64: strides exercised */
		npu_stream_lut(&s, npu_operand(bi, 0, 64), npu_operand(bo, 0, 64),
			       npu_operand(bt, 0, 0), 4, 64);
		expect_run_ok(&e, &s, NULL);
		for (int q = -128; q <= 127; q++) {
			float x = in_scale * (float)(q - in_zp), y = npu_lut_eval(fn, x);
			float got = os * (float)(out[q + 128] - oz);

			ck_assert_int_eq(out[q + 128], table[q + 128]);
			ck_assert_msg(fabsf(got - y) <= 0.5f * os * 1.0001f,
				      "fn %d x %g: %g vs %g", fn, x, got, y);
		}
		npu_stream_free(&s);
	}
	ck_assert_float_eq_tol(npu_lut_eval(NPU_LUT_SILU, 1.0f), 0.7310586f, 1e-6f);
	ck_assert_float_eq_tol(npu_lut_eval(NPU_LUT_GELU, 1.0f), 0.8411920f, 1e-6f);
	ck_assert_float_eq_tol(npu_lut_eval(NPU_LUT_SIGMOID, 0.0f), 0.5f, 1e-7f);
}
END_TEST

/*
 * SwiGLU as the in-process device would run it: gate and up quantized per tensor at the
 * boundary with scales from the data, SiLU through a LUT, the product by ENPU_ELT_MUL, back to
 * F32. Errors are int8 quantization errors (~0.4% of the range each): asserted cosine >= 0.999
 * and max error <= 2% of max |ref| (measured values printed).
 */
START_TEST(test_swiglu_pipeline)
{
	enum { D = 512 };
	float g[D], u[D], ref[D], got[D], os, so, amax = 0;
	int8_t qg[D], qu[D], qs[D], qo[D], table[256];
	struct enpu_requant ia, ib, oq;
	uint64_t rng = 31;
	struct npu_engine e;
	struct npu_stream s;
	int32_t oz;

	for (int i = 0; i < D; i++) {
		g[i] = 4.0f * tu_rand_f32(&rng);
		u[i] = 2.0f * tu_rand_f32(&rng);
		ref[i] = npu_lut_eval(NPU_LUT_SILU, g[i]) * u[i];
		amax = fmaxf(amax, fabsf(ref[i]));
	}
	float sg = npu_i8_scale_for(g, D), su = npu_i8_scale_for(u, D);

	npu_quantize_i8(g, D, sg, 0, qg);
	npu_quantize_i8(u, D, su, 0, qu);
	npu_lut_out_params(NPU_LUT_SILU, sg, 0, &os, &oz);
	npu_lut_build(NPU_LUT_SILU, sg, 0, os, oz, table);
	/* |silu(g) * u| <= max |silu| * max |u| (= 127 su): the host bounds it from the ranges */
	float silu_max = fmaxf(fabsf(os * (float)(-128 - oz)), fabsf(os * (float)(127 - oz)));

	so = silu_max * 127.0f * su / 127.0f;
	ck_assert_int_eq(npu_eltwise_mul_params(os, oz, su, 0, so, 0, &ia, &ib, &oq), HAL_OK);
	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t bg = npu_stream_add_buffer(&s, qg, D, 0, ENPU_BUF_F_READ);
	uint32_t bu = npu_stream_add_buffer(&s, qu, D, 0, ENPU_BUF_F_READ);
	uint32_t bs = npu_stream_add_buffer(&s, qs, D, 0, ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	uint32_t bo = npu_stream_add_buffer(&s, qo, D, 0, ENPU_BUF_F_WRITE);
	uint32_t bt = npu_stream_add_buffer(&s, table, 256, 0, ENPU_BUF_F_READ);
	npu_stream_lut(&s, npu_operand(bg, 0, D), npu_operand(bs, 0, D), npu_operand(bt, 0, 0),
		       1, D);
	npu_stream_barrier(&s);
	npu_stream_eltwise(&s, ENPU_ELT_MUL, npu_operand(bs, 0, D), npu_operand(bu, 0, D),
			   npu_operand(bo, 0, D), 1, D, &ia, &ib, &oq);
	expect_run_ok(&e, &s, NULL);
	npu_dequantize_i8(qo, D, so, 0, got);
	struct agreement a = compare(got, ref, D);
	double maxerr = 0;

	for (int i = 0; i < D; i++)
		maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]) / amax);
	printf("swiglu via LUT + mul: cos %.6f maxerr/max|ref| %.4f\n", a.cosine, maxerr);
	ck_assert(a.cosine >= 0.999);
	ck_assert(maxerr <= 0.02);
	npu_stream_free(&s);
}
END_TEST

START_TEST(test_copy_and_fence)
{
	uint8_t src[300], dst[400];
	uint32_t sig[4] = { 0 };
	struct npu_engine e;
	struct npu_stream s;

	for (int i = 0; i < 300; i++)
		src[i] = (uint8_t)(i * 7);
	memset(dst, 0xee, sizeof(dst));
	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t bs = npu_stream_add_buffer(&s, src, sizeof(src), 0, ENPU_BUF_F_READ);
	uint32_t bd = npu_stream_add_buffer(&s, dst, sizeof(dst), 0, ENPU_BUF_F_WRITE);
	uint32_t bf = npu_stream_add_buffer(&s, sig, sizeof(sig), 0, ENPU_BUF_F_WRITE);
	npu_stream_copy(&s, npu_operand(bs, 10, 100), npu_operand(bd, 0, 120), 3, 90);
	npu_stream_barrier(&s);
	npu_stream_fence(&s, bf, 8, 0xc0ffee);
	expect_run_ok(&e, &s, NULL);
	for (int r = 0; r < 3; r++) {
		ck_assert_mem_eq(dst + r * 120, src + 10 + r * 100, 90);
		ck_assert_uint_eq(dst[r * 120 + 90], 0xee);
	}
	ck_assert_uint_eq(sig[2], 0xc0ffee);
	ck_assert_uint_eq(sig[1], 0);
	npu_stream_free(&s);
}
END_TEST

/* ---- the validator --------------------------------------------------------------------------- */

/*
 * A fixture job: cmd 0 copies scratch to a sentinel buffer, cmd 1 is the command under test,
 * cmd 2 another copy. A refused stream must leave the sentinel untouched.
 */
enum { FX_W, FX_A, FX_O, FX_S, FX_D, FX_NBUFS };
enum { FX_N = 32, FX_K = 64, FX_M = 2 };

struct fixture {
	uint8_t w[FX_N * 2 * 36];
	uint8_t a[FX_M * 2 * 36];
	uint8_t o[FX_M * 132 + 64];
	uint8_t scratch[4096];
	uint8_t dst[256];
	struct npu_buffer bufs[FX_NBUFS];
};

static void fixture_init(struct fixture *f)
{
	uint64_t rng = 1234;

	for (size_t i = 0; i < sizeof(f->w); i++)
		f->w[i] = (uint8_t)tu_rand_u64(&rng);
	memset(f->a, 1, sizeof(f->a));
	memset(f->o, 0, sizeof(f->o));
	for (size_t i = 0; i < sizeof(f->scratch); i++)
		f->scratch[i] = (uint8_t)i;
	memset(f->dst, 0xaa, sizeof(f->dst));
	f->bufs[FX_W] = (struct npu_buffer){ f->w, sizeof(f->w), 1, ENPU_BUF_F_READ, 0 };
	f->bufs[FX_A] = (struct npu_buffer){ f->a, sizeof(f->a), 2, ENPU_BUF_F_READ, 0 };
	f->bufs[FX_O] = (struct npu_buffer){ f->o, sizeof(f->o), 3, ENPU_BUF_F_WRITE, 0 };
	f->bufs[FX_S] = (struct npu_buffer){ f->scratch, sizeof(f->scratch), 4,
					     ENPU_BUF_F_READ | ENPU_BUF_F_WRITE, 0 };
	f->bufs[FX_D] = (struct npu_buffer){ f->dst, sizeof(f->dst), 5, ENPU_BUF_F_WRITE, 0 };
}

static struct enpu_cmd_matmul fx_matmul(void)
{
	return (struct enpu_cmd_matmul){
		.hdr = { ENPU_OP_MATMUL, 0, sizeof(struct enpu_cmd_matmul) },
		.weights = npu_operand(FX_W, 0, 72), .input = npu_operand(FX_A, 0, 72),
		.output = npu_operand(FX_O, 0, 132), .m = FX_M, .n = FX_N, .k = FX_K,
		.w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I32B,
	};
}

static struct enpu_cmd_eltwise fx_eltwise(void)
{
	return (struct enpu_cmd_eltwise){
		.hdr = { ENPU_OP_ELTWISE, 0, sizeof(struct enpu_cmd_eltwise) },
		.a = npu_operand(FX_S, 0, 100), .b = npu_operand(FX_S, 1000, 100),
		.out = npu_operand(FX_S, 2000, 100), .rows = 3, .cols = 100, .op = ENPU_ELT_ADD,
		.in_a = { 1 << 30, 10, 0, 0 }, .in_b = { 1 << 30, 10, 0, 0 },
		.out_rq = { 1 << 30, 30, 0, 0 },
	};
}

static struct enpu_cmd_lut fx_lut(void)
{
	return (struct enpu_cmd_lut){
		.hdr = { ENPU_OP_LUT, 0, sizeof(struct enpu_cmd_lut) },
		.input = npu_operand(FX_S, 0, 64), .output = npu_operand(FX_S, 512, 64),
		.table = npu_operand(FX_S, 3000, 0), .rows = 4, .cols = 64,
	};
}

static struct enpu_cmd_copy fx_copy(void)
{
	return (struct enpu_cmd_copy){
		.hdr = { ENPU_OP_COPY, 0, sizeof(struct enpu_cmd_copy) },
		.src = npu_operand(FX_S, 0, 64), .dst = npu_operand(FX_D, 0, 64), .rows = 2,
		.row_bytes = 64,
	};
}

static struct enpu_cmd_barrier fx_fence(void)
{
	return (struct enpu_cmd_barrier){
		.hdr = { ENPU_OP_BARRIER, 0, sizeof(struct enpu_cmd_barrier) },
		.flags = ENPU_BARRIER_F_SIGNAL, .value = 7, .buffer = FX_S, .offset = 4000,
	};
}

/* Builds [copy, cmd, copy] and returns the finished stream. */
static void fx_stream(struct npu_stream *s, const void *cmd, size_t size)
{
	struct enpu_cmd_copy c0 = fx_copy(), c2 = fx_copy();

	c2.dst.offset = 128;
	npu_stream_begin(s);
	npu_stream_add_raw(s, &c0, sizeof(c0));
	npu_stream_add_raw(s, cmd, size);
	npu_stream_add_raw(s, &c2, sizeof(c2));
	ck_assert_int_eq(npu_stream_finish(s), HAL_OK);
}

/* Runs the stream on the fixture; expects code at index idx and nothing executed. */
static void expect_refused(const char *what, struct npu_stream *s, uint32_t code, uint32_t idx,
			   uint32_t caps)
{
	struct fixture *f = malloc(sizeof(*f));
	uint8_t o0[sizeof(f->o)], s0[sizeof(f->scratch)];
	struct npu_engine e;
	struct npu_status st;
	struct npu_job_stats js;
	int rc;

	fixture_init(f);
	memcpy(o0, f->o, sizeof(o0));
	memcpy(s0, f->scratch, sizeof(s0));
	npu_engine_init(&e, NULL, caps);
	rc = npu_engine_run(&e, s->data, s->len, f->bufs, FX_NBUFS, &js, &st);
	ck_assert_msg(rc == -(int)code && st.code == code && st.cmd_index == idx,
		      "%s: rc %d code %u (%s) index %u, wanted %u at %u: %s", what, rc, st.code,
		      npu_error_name(st.code), st.cmd_index, code, idx, st.reason);
	ck_assert_msg(st.reason[0] != 0, "%s: empty reason", what);
	for (size_t i = 0; i < sizeof(f->dst); i++)
		ck_assert_msg(f->dst[i] == 0xaa, "%s: a command ran", what);
	ck_assert_mem_eq(f->o, o0, sizeof(o0));
	ck_assert_mem_eq(f->scratch, s0, sizeof(s0));
	ck_assert_uint_eq(e.total.errors, 1);
	ck_assert_uint_eq(e.total.jobs, 0);
	ck_assert_uint_eq(js.c.cmds, 0);
	free(f);
}

static void expect_accepted(const char *what, struct npu_stream *s, uint32_t caps)
{
	struct fixture *f = malloc(sizeof(*f));
	struct npu_engine e;
	struct npu_status st;
	int rc;

	fixture_init(f);
	npu_engine_init(&e, NULL, caps);
	rc = npu_engine_run(&e, s->data, s->len, f->bufs, FX_NBUFS, NULL, &st);
	ck_assert_msg(rc == 0, "%s: refused: %s", what, st.reason);
	ck_assert_uint_eq(f->dst[5], 5); /* the first copy ran (scratch[i] = i before the job) */
	ck_assert_uint_eq(e.total.jobs, 1);
	free(f);
}

/* One mutation of the command under test. */
#define REFUSE(what, cmdtype, init, mutation, code)                                          \
	do {                                                                                 \
		struct cmdtype c = init();                                                   \
		struct npu_stream s;                                                         \
		mutation;                                                                    \
		fx_stream(&s, &c, sizeof(c));                                                \
		expect_refused(what, &s, code, 1, 0);                                        \
		npu_stream_free(&s);                                                         \
	} while (0)

START_TEST(test_validator_accepts_fixture)
{
	struct npu_stream s;
	struct enpu_cmd_matmul mm = fx_matmul();
	struct enpu_cmd_eltwise el = fx_eltwise();
	struct enpu_cmd_lut lu = fx_lut();
	struct enpu_cmd_barrier fe = fx_fence();
	uint8_t grown[sizeof(mm) + 16] = { 0 };

	fx_stream(&s, &mm, sizeof(mm));
	expect_accepted("matmul", &s, 0);
	npu_stream_free(&s);
	fx_stream(&s, &el, sizeof(el));
	expect_accepted("eltwise", &s, 0);
	npu_stream_free(&s);
	fx_stream(&s, &lu, sizeof(lu));
	expect_accepted("lut", &s, 0);
	npu_stream_free(&s);
	fx_stream(&s, &fe, sizeof(fe));
	expect_accepted("fence", &s, 0);
	npu_stream_free(&s);
	/* a newer, longer matmul whose extra fields are zero is accepted (format growth) */
	mm.hdr.size = sizeof(grown);
	memcpy(grown, &mm, sizeof(mm));
	fx_stream(&s, grown, sizeof(grown));
	expect_accepted("grown matmul", &s, 0);
	npu_stream_free(&s);
	/* ... and refused if they are not */
	grown[sizeof(mm) + 3] = 1;
	fx_stream(&s, grown, sizeof(grown));
	expect_refused("grown matmul, nonzero tail", &s, ENPU_ERR_RESERVED, 1, 0);
	npu_stream_free(&s);
	/* in place element-wise and LUT are allowed */
	el.out = el.a;
	fx_stream(&s, &el, sizeof(el));
	expect_accepted("eltwise in place", &s, 0);
	npu_stream_free(&s);
	lu.output = lu.input;
	fx_stream(&s, &lu, sizeof(lu));
	expect_accepted("lut in place", &s, 0);
	npu_stream_free(&s);
}
END_TEST

START_TEST(test_validator_refuses_commands)
{
	/* opcode and size */
	REFUSE("unknown opcode", enpu_cmd_matmul, fx_matmul, c.hdr.opcode = 99,
	       ENPU_ERR_UNKNOWN_OPCODE);
	REFUSE("size below layout", enpu_cmd_matmul, fx_matmul, c.hdr.size -= 8,
	       ENPU_ERR_BAD_CMD_SIZE);
	REFUSE("size not multiple of 8", enpu_cmd_matmul, fx_matmul, c.hdr.size = 12,
	       ENPU_ERR_BAD_CMD_SIZE);
	REFUSE("size past the end", enpu_cmd_matmul, fx_matmul, c.hdr.size = 4096,
	       ENPU_ERR_BAD_CMD_SIZE);
	/* reserved */
	REFUSE("header flags", enpu_cmd_matmul, fx_matmul, c.hdr.flags = 1, ENPU_ERR_RESERVED);
	REFUSE("matmul reserved", enpu_cmd_matmul, fx_matmul, c.reserved[1] = 1,
	       ENPU_ERR_RESERVED);
	REFUSE("operand reserved", enpu_cmd_matmul, fx_matmul, c.input.reserved = 1,
	       ENPU_ERR_RESERVED);
	REFUSE("requant on I32B", enpu_cmd_matmul, fx_matmul, c.requant.shift = 3,
	       ENPU_ERR_RESERVED);
	REFUSE("barrier flags", enpu_cmd_barrier, fx_fence, c.flags |= 2, ENPU_ERR_RESERVED);
	REFUSE("mul with input rescale", enpu_cmd_eltwise, fx_eltwise, c.op = ENPU_ELT_MUL,
	       ENPU_ERR_RESERVED);
	/* buffers and bounds */
	REFUSE("buffer index", enpu_cmd_matmul, fx_matmul, c.input.buffer = FX_NBUFS,
	       ENPU_ERR_BAD_BUFFER);
	REFUSE("weights past end", enpu_cmd_matmul, fx_matmul, c.weights.offset = 4,
	       ENPU_ERR_OUT_OF_BOUNDS);
	REFUSE("offset overflow", enpu_cmd_matmul, fx_matmul, c.input.offset = ~0ull - 3,
	       ENPU_ERR_OUT_OF_BOUNDS);
	REFUSE("stride overflow", enpu_cmd_matmul, fx_matmul, c.weights.stride = 1ull << 62,
	       ENPU_ERR_OUT_OF_BOUNDS);
	REFUSE("lut table past end", enpu_cmd_lut, fx_lut, c.table.offset = 4096 - 255,
	       ENPU_ERR_OUT_OF_BOUNDS);
	REFUSE("fence past end", enpu_cmd_barrier, fx_fence, c.offset = 4096,
	       ENPU_ERR_OUT_OF_BOUNDS);
	/* dims and shapes */
	REFUSE("k zero", enpu_cmd_matmul, fx_matmul, c.k = 0, ENPU_ERR_BAD_DIM);
	REFUSE("k not block", enpu_cmd_matmul, fx_matmul, c.k = 48, ENPU_ERR_BAD_DIM);
	REFUSE("m too large", enpu_cmd_matmul, fx_matmul, c.m = ENPU_MAX_ROWS + 1,
	       ENPU_ERR_BAD_DIM);
	REFUSE("n not block for I32B", enpu_cmd_matmul, fx_matmul, c.n = 40, ENPU_ERR_BAD_DIM);
	REFUSE("eltwise cols zero", enpu_cmd_eltwise, fx_eltwise, c.cols = 0, ENPU_ERR_BAD_DIM);
	REFUSE("output rows overlap", enpu_cmd_matmul, fx_matmul, c.output.stride = 64,
	       ENPU_ERR_SHAPE);
	REFUSE("table stride", enpu_cmd_lut, fx_lut, c.table.stride = 1, ENPU_ERR_SHAPE);
	/* types and quantization parameters */
	REFUSE("weight dtype", enpu_cmd_matmul, fx_matmul, c.w_dtype = ENPU_DT_I8,
	       ENPU_ERR_BAD_DTYPE);
	REFUSE("out dtype", enpu_cmd_matmul, fx_matmul, c.out_dtype = ENPU_DT_Q8B,
	       ENPU_ERR_BAD_DTYPE);
	REFUSE("eltwise op", enpu_cmd_eltwise, fx_eltwise, c.op = 3, ENPU_ERR_BAD_DTYPE);
	REFUSE("shift 63", enpu_cmd_eltwise, fx_eltwise, c.out_rq.shift = 63, ENPU_ERR_BAD_SHIFT);
	REFUSE("matmul shift", enpu_cmd_matmul, fx_matmul,
	       (c.out_dtype = ENPU_DT_I8, c.requant.multiplier = 1, c.requant.shift = 100),
	       ENPU_ERR_BAD_SHIFT);
	REFUSE("zero point", enpu_cmd_eltwise, fx_eltwise, c.in_b.zero_point = 128,
	       ENPU_ERR_BAD_QPARAM);
	REFUSE("negative multiplier", enpu_cmd_eltwise, fx_eltwise, c.in_a.multiplier = -5,
	       ENPU_ERR_BAD_QPARAM);
	/* permissions, overlap, alignment */
	REFUSE("write to read-only", enpu_cmd_matmul, fx_matmul, c.output.buffer = FX_A,
	       ENPU_ERR_READ_ONLY);
	REFUSE("fence to read-only", enpu_cmd_barrier, fx_fence, c.buffer = FX_W,
	       ENPU_ERR_READ_ONLY);
	REFUSE("read of write-only", enpu_cmd_lut, fx_lut, c.input.buffer = FX_D,
	       ENPU_ERR_NOT_READABLE);
	REFUSE("eltwise partial overlap", enpu_cmd_eltwise, fx_eltwise, c.out.offset = 50,
	       ENPU_ERR_OVERLAP);
	REFUSE("lut writes its table", enpu_cmd_lut, fx_lut, c.output.offset = 2900,
	       ENPU_ERR_OVERLAP);
	REFUSE("copy overlap", enpu_cmd_copy, fx_copy, (c.dst.buffer = FX_S, c.dst.offset = 32),
	       ENPU_ERR_OVERLAP);
	REFUSE("matmul output over input", enpu_cmd_matmul, fx_matmul,
	       (c.input = npu_operand(FX_S, 0, 72), c.output = npu_operand(FX_S, 100, 132)),
	       ENPU_ERR_OVERLAP);
	REFUSE("misaligned weights", enpu_cmd_matmul, fx_matmul, c.weights.offset = 2,
	       ENPU_ERR_MISALIGNED);
	REFUSE("misaligned fence", enpu_cmd_barrier, fx_fence, c.offset = 4001,
	       ENPU_ERR_MISALIGNED);
}
END_TEST

START_TEST(test_validator_refuses_streams)
{
	struct enpu_cmd_matmul mm = fx_matmul();
	struct enpu_stream_header h;
	struct npu_stream s;

	fx_stream(&s, &mm, sizeof(mm));
	memcpy(&h, s.data, sizeof(h));
	h.magic ^= 1;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("magic", &s, ENPU_ERR_BAD_MAGIC, NPU_CMD_HEADER, 0);
	h.magic ^= 1;
	h.version = 2;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("version", &s, ENPU_ERR_BAD_VERSION, NPU_CMD_HEADER, 0);
	h.version = 1;
	h.size -= 8;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("size", &s, ENPU_ERR_BAD_LENGTH, NPU_CMD_HEADER, 0);
	h.size += 8;
	h.reserved[2] = 1;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("header reserved", &s, ENPU_ERR_RESERVED, NPU_CMD_HEADER, 0);
	h.reserved[2] = 0;
	h.num_cmds = 4;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("too many commands", &s, ENPU_ERR_BAD_LENGTH, 3, 0);
	h.num_cmds = 2;
	memcpy(s.data, &h, sizeof(h));
	expect_refused("trailing bytes", &s, ENPU_ERR_BAD_LENGTH, 2, 0);
	npu_stream_free(&s);

	/* truncated stream, and no stream */
	struct npu_status st;
	struct npu_engine e;
	struct fixture *f = malloc(sizeof(*f));

	/* the reason names the command, the operand and the rule */
	npu_engine_init(&e, NULL, 0);
	fixture_init(f);
	mm.weights.offset = 36;
	fx_stream(&s, &mm, sizeof(mm));
	ck_assert_int_eq(npu_validate(&e, s.data, s.len, f->bufs, FX_NBUFS, &st),
			 -ENPU_ERR_OUT_OF_BOUNDS);
	ck_assert_str_eq(st.reason, "matmul: weights: extends past the end of its buffer");
	ck_assert_uint_eq(st.cmd_offset, sizeof(struct enpu_stream_header) +
			  sizeof(struct enpu_cmd_copy));
	npu_stream_free(&s);
	free(f);
	ck_assert_int_eq(npu_validate(&e, &h, 16, NULL, 0, &st), -ENPU_ERR_BAD_LENGTH);
	ck_assert_int_eq(npu_validate(&e, NULL, 0, NULL, 0, &st), -ENPU_ERR_BAD_LENGTH);
}
END_TEST

/* Random corruption of a valid stream never crashes and never half-runs. */
START_TEST(test_validator_fuzz)
{
	struct enpu_cmd_eltwise el = fx_eltwise();
	struct fixture *f = malloc(sizeof(*f));
	uint64_t rng = 4242;
	struct npu_stream s;
	int refused = 0;

	fx_stream(&s, &el, sizeof(el));
	uint8_t *orig = malloc(s.len);

	memcpy(orig, s.data, s.len);
	for (int it = 0; it < 3000; it++) {
		struct npu_engine e;
		struct npu_status st;
		int flips = 1 + (int)(tu_rand_u64(&rng) % 3);

		memcpy(s.data, orig, s.len);
		for (int i = 0; i < flips; i++) {
			size_t at = tu_rand_u64(&rng) % s.len;

			s.data[at] ^= (uint8_t)(1u << (tu_rand_u64(&rng) % 8));
		}
		fixture_init(f);
		npu_engine_init(&e, NULL, 0);
		if (npu_engine_run(&e, s.data, s.len, f->bufs, FX_NBUFS, NULL, &st)) {
			refused++;
			ck_assert_uint_eq(f->dst[0], 0xaa);
			ck_assert_uint_ne(st.code, ENPU_ERR_NONE);
		}
	}
	ck_assert_int_gt(refused, 1500);
	npu_stream_free(&s);
	free(orig);
	free(f);
}
END_TEST

/* ---- debug stall --------------------------------------------------------------------------- */

START_TEST(test_debug_stall)
{
	struct enpu_cmd_debug_stall c = { { ENPU_OP_DEBUG_STALL, 0, sizeof(c) }, 1000000, 0 };
	struct fixture *f = malloc(sizeof(*f));
	struct npu_job_stats js;
	struct npu_status st;
	struct npu_engine e;
	struct npu_stream s;

	fx_stream(&s, &c, sizeof(c));
	expect_refused("stall without capability", &s, ENPU_ERR_DEBUG_DISABLED, 1, 0);
	fixture_init(f);
	npu_engine_init(&e, NULL, NPU_CAP_DEBUG);
	ck_assert_int_eq(npu_engine_run(&e, s.data, s.len, f->bufs, FX_NBUFS, &js, &st),
			 -ENPU_ERR_STALLED);
	ck_assert_uint_eq(st.cmd_index, 1);
	/* the copy before the stall ran, the one after did not */
	ck_assert_mem_eq(f->dst, f->scratch, 64);
	ck_assert_uint_eq(f->dst[128], 0xaa);
	ck_assert_uint_ge(js.c.busy_cycles, 1000000);
	ck_assert_uint_eq(e.total.stalls, 1);
	ck_assert_uint_eq(e.total.errors, 1);
	ck_assert_uint_eq(e.total.jobs, 0);
	c.cycles = 0;
	npu_stream_free(&s);
	fx_stream(&s, &c, sizeof(c));
	expect_refused("stall of 0 cycles", &s, ENPU_ERR_BAD_DIM, 1, NPU_CAP_DEBUG);
	npu_stream_free(&s);
	free(f);
}
END_TEST

/* ---- time and energy model ----------------------------------------------------------------- */

/* One matmul job M=1, N=64, K=64, Q8B weights with residency id wid, I32B output. */
static void cost_job(struct npu_engine *e, uint8_t *w, uint64_t wid, struct npu_job_stats *js)
{
	static uint8_t act[72], out[264];
	struct npu_stream s;

	npu_stream_begin(&s);
	uint32_t bw = npu_stream_add_buffer(&s, w, 64 * 72, wid, ENPU_BUF_F_READ);
	uint32_t ba = npu_stream_add_buffer(&s, act, sizeof(act), 0, ENPU_BUF_F_READ);
	uint32_t bo = npu_stream_add_buffer(&s, out, sizeof(out), 0, ENPU_BUF_F_WRITE);
	npu_stream_matmul(&s, ENPU_DT_Q8B, npu_operand(bw, 0, 72), npu_operand(ba, 0, 72),
			  npu_operand(bo, 0, 264), ENPU_DT_I32B, 1, 64, 64, NULL);
	expect_run_ok(e, &s, js);
	npu_stream_free(&s);
}

START_TEST(test_cost_matmul_hand_computed)
{
	static uint8_t w[64 * 72];
	struct npu_job_stats j1, j2, j3;
	struct npu_engine e;

	npu_engine_init(&e, NULL, 0);
	ck_assert_int_eq(npu_engine_set_opp(&e, NPU_NUM_OPPS), -1);
	ck_assert_uint_eq(e.opp, 4); /* 1000 MHz, 900 mV: the nominal point */
	/*
	 * Weights 64 rows x 2 blocks x 36 B = 4608, input 72, output 2 x 132 = 264.
	 * Job 1 (cold): DRAM 4608 + 72 + 264 = 4944 B, SRAM 4944 B, MACs 64*64 = 4096,
	 * vector ops 64 * (2 + 1) = 192. Compute 1 * 2 * 2 = 4 cycles; DRAM
	 * ceil(4944 * 1000 / 25600) = 194; SRAM ceil(4944 / 128) = 39; 64 + 194 = 258 cycles.
	 * Energy 4096*75 + 192*800 + 4944*312 = 2003328 fJ core (x1 at 900 mV)
	 * + 4944 * 32000 = 158208000 fJ DRAM = 160211328 fJ.
	 */
	cost_job(&e, w, 77, &j1);
	ck_assert_uint_eq(j1.c.macs, 4096);
	ck_assert_uint_eq(j1.c.vector_ops, 192);
	ck_assert_uint_eq(j1.c.dram_bytes, 4944);
	ck_assert_uint_eq(j1.c.sram_bytes, 4944);
	ck_assert_uint_eq(j1.c.busy_cycles, 258);
	ck_assert_uint_eq(j1.time_ns, 258);
	ck_assert_uint_eq(j1.energy_fj, 160211328);
	ck_assert_uint_eq(j1.c.energy_pj, 160211);
	/*
	 * Job 2: the weights stayed in SRAM. DRAM 72 + 264 = 336 B -> ceil(13.125) = 14 cycles,
	 * now SRAM-bound: 64 + 39 = 103. Energy 2003328 + 336 * 32000 = 12755328 fJ.
	 */
	cost_job(&e, w, 77, &j2);
	ck_assert_uint_eq(j2.c.dram_bytes, 336);
	ck_assert_uint_eq(j2.c.busy_cycles, 103);
	ck_assert_uint_eq(j2.energy_fj, 12755328);
	/*
	 * Job 3 at 200 MHz / 600 mV: DRAM ceil(336 * 200 / 25600) = 3 cycles, still 103 cycles,
	 * 515 ns. Core energy x (600/900)^2: Q16 factor floor(360000 * 65536 / 810000) = 29127,
	 * 2003328 * 29127 / 65536 = 890364 fJ (exact (2/3)^2 would give 890368); DRAM unscaled.
	 */
	ck_assert_int_eq(npu_engine_set_opp(&e, 0), 0);
	cost_job(&e, w, 77, &j3);
	ck_assert_uint_eq(j3.c.busy_cycles, 103);
	ck_assert_uint_eq(j3.time_ns, 515);
	ck_assert_uint_eq(j3.opp, 0);
	ck_assert_uint_eq(j3.energy_fj, 890364 + 10752000);
	/* cumulative telemetry */
	ck_assert_uint_eq(e.total.jobs, 3);
	ck_assert_uint_eq(e.total.cmds, 3);
	ck_assert_uint_eq(e.total.macs, 3 * 4096);
	ck_assert_uint_eq(e.total.busy_cycles, 258 + 103 + 103);
	ck_assert_uint_eq(e.total.dram_bytes, 4944 + 336 + 336);
	ck_assert_uint_eq(e.total.energy_pj, (160211328 + 12755328 + 11642364) / 1000);
	ck_assert_uint_eq(e.total.errors, 0);
}
END_TEST

/*
 * A command an abort interrupts is charged for the outputs it produced, not in full (its cost
 * is charged when it starts): 10 of a 4 x 64 matmul's 256 outputs, then the reset.
 */
START_TEST(test_abort_charges_work_done)
{
	static uint8_t w[64 * 72], act[4 * 72], out[4 * 264];
	struct npu_job_stats full, part;
	struct npu_engine e;
	struct npu_stream s;
	struct npu_exec *x = calloc(1, sizeof(*x));

	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t bw = npu_stream_add_buffer(&s, w, sizeof(w), 0, ENPU_BUF_F_READ);
	uint32_t ba = npu_stream_add_buffer(&s, act, sizeof(act), 0, ENPU_BUF_F_READ);
	uint32_t bo = npu_stream_add_buffer(&s, out, sizeof(out), 0, ENPU_BUF_F_WRITE);
	npu_stream_matmul(&s, ENPU_DT_Q8B, npu_operand(bw, 0, 72), npu_operand(ba, 0, 72),
			  npu_operand(bo, 0, 264), ENPU_DT_I32B, 4, 64, 64, NULL);
	expect_run_ok(&e, &s, &full);
	ck_assert_uint_eq(full.c.macs, 4 * 64 * 64);
	ck_assert_int_eq(npu_exec_begin(&e, x, s.data, s.len, s.bufs, s.nbufs), 0);
	ck_assert_int_eq(npu_exec_step(&e, x, 10 * 64), 1);
	npu_exec_abort(x, ENPU_ERR_ABORTED, "aborted by engine reset");
	npu_exec_finish(&e, x, &part);
	ck_assert_uint_eq(part.c.macs, 10 * 64);
	ck_assert_uint_eq(part.c.errors, 1);
	ck_assert_uint_lt(part.c.busy_cycles, full.c.busy_cycles / 20);
	ck_assert_uint_lt(part.energy_fj, full.energy_fj / 20);
	free(x);
	npu_stream_free(&s);
}
END_TEST

START_TEST(test_cost_eltwise_copy_barrier)
{
	static int8_t a[400], b[400], o[400];
	struct enpu_requant ia, ib, oq;
	struct npu_job_stats js;
	struct npu_engine e;
	struct npu_stream s;

	ck_assert_int_eq(npu_eltwise_add_params(0.1f, 0, 0.1f, 0, 0.2f, 0, &ia, &ib, &oq), HAL_OK);
	npu_engine_init(&e, NULL, 0);
	npu_stream_begin(&s);
	uint32_t ba = npu_stream_add_buffer(&s, a, 400, 0, ENPU_BUF_F_READ);
	uint32_t bb = npu_stream_add_buffer(&s, b, 400, 0, ENPU_BUF_F_READ);
	uint32_t bo = npu_stream_add_buffer(&s, o, 400, 0, ENPU_BUF_F_WRITE);
	npu_stream_eltwise(&s, ENPU_ELT_ADD, npu_operand(ba, 0, 100), npu_operand(bb, 0, 100),
			   npu_operand(bo, 0, 100), 4, 100, &ia, &ib, &oq);
	/*
	 * 400 elements: DRAM and SRAM 800 in + 400 out = 1200 B; vector ceil(400 / 32) = 13,
	 * DRAM ceil(1200 * 1000 / 25600) = 47, SRAM ceil(1200 / 128) = 10: 64 + 47 = 111 cycles.
	 * Energy 400 * 800 + 1200 * 312 + 1200 * 32000 = 39094400 fJ.
	 */
	expect_run_ok(&e, &s, &js);
	ck_assert_uint_eq(js.c.busy_cycles, 111);
	ck_assert_uint_eq(js.c.vector_ops, 400);
	ck_assert_uint_eq(js.energy_fj, 39094400);
	npu_stream_free(&s);

	/* copy 4 x 100 B: DRAM 800 B -> 32 cycles + 64; barrier 64 + 32; fence +4 DRAM bytes */
	npu_stream_begin(&s);
	ba = npu_stream_add_buffer(&s, a, 400, 0, ENPU_BUF_F_READ);
	bo = npu_stream_add_buffer(&s, o, 400, 0, ENPU_BUF_F_WRITE);
	npu_stream_copy(&s, npu_operand(ba, 0, 100), npu_operand(bo, 0, 100), 4, 100);
	npu_stream_barrier(&s);
	expect_run_ok(&e, &s, &js);
	ck_assert_uint_eq(js.c.busy_cycles, 96 + 96);
	ck_assert_uint_eq(js.c.dram_bytes, 800);
	ck_assert_uint_eq(js.energy_fj, 800 * 32000);
	npu_stream_free(&s);
}
END_TEST

START_TEST(test_weight_residency_lru)
{
	static uint8_t w1[64 * 72], w2[64 * 72], big[64 * 72 * 2];
	struct npu_hw_params hw = npu_default_hw;
	struct npu_job_stats js;
	struct npu_engine e;

	/* room for one 4608-byte weight matrix only */
	hw.sram_weight_bytes = 6000;
	npu_engine_init(&e, &hw, 0);
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 336); /* resident */
	cost_job(&e, w2, 2, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944); /* evicts w1 */
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
	ck_assert_uint_eq(e.resident_bytes, 4608);
	/* the host rewrote the weights: forgotten */
	npu_engine_forget_buffer(&e, 1);
	ck_assert_uint_eq(e.resident_bytes, 0);
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
	/* id 0 never stays resident; neither does a matrix larger than the weight SRAM */
	cost_job(&e, w1, 0, &js);
	cost_job(&e, w1, 0, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
	npu_engine_init(&e, NULL, 0);
	cost_job(&e, w1, 1, &js);
	cost_job(&e, w2, 2, &js);
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 336); /* default 1.5 MiB holds both */
	(void)big;
	/* a reset (after a hang) loses SRAM */
	npu_engine_reset(&e);
	cost_job(&e, w1, 1, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
}
END_TEST

/* A command that overwrites resident weights invalidates them. */
START_TEST(test_residency_invalidated_by_write)
{
	static uint8_t w[64 * 72], src[64];
	struct npu_job_stats js;
	struct npu_engine e;
	struct npu_stream s;

	npu_engine_init(&e, NULL, 0);
	cost_job(&e, w, 9, &js);
	npu_stream_begin(&s);
	uint32_t bs = npu_stream_add_buffer(&s, src, sizeof(src), 0, ENPU_BUF_F_READ);
	uint32_t bw = npu_stream_add_buffer(&s, w, sizeof(w), 9, ENPU_BUF_F_WRITE);
	npu_stream_copy(&s, npu_operand(bs, 0, 0), npu_operand(bw, 100, 0), 1, 64);
	expect_run_ok(&e, &s, NULL);
	npu_stream_free(&s);
	cost_job(&e, w, 9, &js);
	ck_assert_uint_eq(js.c.dram_bytes, 4944);
}
END_TEST

/* Second decode step of a small model: less DRAM traffic than the first. */
START_TEST(test_second_step_cheaper)
{
	enum { LAYERS = 4 };
	static uint8_t w[LAYERS][64 * 72];
	struct npu_job_stats js;
	struct npu_engine e;
	uint64_t step[2] = { 0, 0 }, energy[2] = { 0, 0 };

	npu_engine_init(&e, NULL, 0);
	for (int st = 0; st < 2; st++) {
		for (int l = 0; l < LAYERS; l++) {
			cost_job(&e, w[l], 100 + l, &js);
			step[st] += js.c.dram_bytes;
			energy[st] += js.energy_fj;
		}
	}
	ck_assert_uint_lt(step[1], step[0]);
	ck_assert_uint_lt(energy[1], energy[0]);
}
END_TEST

/* ---- determinism over random valid streams --------------------------------------------------- */

enum { RND_IN = 1 << 16, RND_OUT = 1 << 18, RND_CMDS = 40 };

/* Appends a random valid command; outputs go to fresh regions of the output buffer. */
static void random_cmd(struct npu_stream *s, uint64_t *rng, uint64_t *out_pos)
{
	uint32_t kind = (uint32_t)(tu_rand_u64(rng) % 5);
	uint64_t o = *out_pos;

	if (kind == 0) {
		uint32_t k = 32 * (1 + tu_rand_u64(rng) % 8), n = 32 * (1 + tu_rand_u64(rng) % 3);
		uint32_t m = 1 + tu_rand_u64(rng) % 3;
		bool q4 = tu_rand_u64(rng) & 1, i8 = tu_rand_u64(rng) & 1;
		uint64_t wrow = k / 32 * (q4 ? 20 : 36), arow = k / 32 * 36;
		uint64_t orow = i8 ? n : n / 32 * 132;
		struct enpu_requant rq = { (int32_t)(tu_rand_u64(rng) >> 33),
					   (uint32_t)(tu_rand_u64(rng) % 63),
					   (int32_t)(tu_rand_u64(rng) % 256) - 128, 0 };

		npu_stream_matmul(s, q4 ? ENPU_DT_Q4B : ENPU_DT_Q8B,
				  npu_operand(0, 4 * (tu_rand_u64(rng) % 1000), wrow),
				  npu_operand(0, 4 * (tu_rand_u64(rng) % 1000), arow),
				  npu_operand(2, o, orow), i8 ? ENPU_DT_I8 : ENPU_DT_I32B, m, n, k,
				  i8 ? &rq : NULL);
		*out_pos += m * orow;
	} else if (kind == 1 || kind == 2) {
		uint32_t rows = 1 + tu_rand_u64(rng) % 4, cols = 1 + tu_rand_u64(rng) % 300;
		struct enpu_requant ia = { (int32_t)(tu_rand_u64(rng) >> 33),
					   (uint32_t)(tu_rand_u64(rng) % 40),
					   (int32_t)(tu_rand_u64(rng) % 256) - 128, 0 };
		struct enpu_requant ib = ia, oq = ia;

		ib.shift = (uint32_t)(tu_rand_u64(rng) % 63);
		oq.shift = 20 + (uint32_t)(tu_rand_u64(rng) % 43);
		if (kind == 2) {
			ia.multiplier = ib.multiplier = 0;
			ia.shift = ib.shift = 0;
		}
		/* inputs from the RW buffer 1, sometimes from earlier outputs in buffer 2 */
		uint32_t src = o > 2000 && (tu_rand_u64(rng) & 1) ? 2 : 1;
		uint64_t soff = src == 2 ? tu_rand_u64(rng) % (o - 1200) : tu_rand_u64(rng) % 1000;

		npu_stream_eltwise(s, kind == 1 ? ENPU_ELT_ADD : ENPU_ELT_MUL,
				   npu_operand(src, soff, cols),
				   npu_operand(1, tu_rand_u64(rng) % 1000,
					       tu_rand_u64(rng) & 1 ? 0 : cols),
				   npu_operand(2, o, cols), rows, cols, &ia, &ib, &oq);
		*out_pos += (uint64_t)rows * cols;
	} else if (kind == 3) {
		uint32_t rows = 1 + tu_rand_u64(rng) % 4, cols = 1 + tu_rand_u64(rng) % 300;

		npu_stream_lut(s, npu_operand(1, tu_rand_u64(rng) % 1000, cols),
			       npu_operand(2, o, cols),
			       npu_operand(0, tu_rand_u64(rng) % 1000, 0), rows, cols);
		*out_pos += (uint64_t)rows * cols;
	} else {
		uint32_t rows = 1 + tu_rand_u64(rng) % 4, len = 1 + tu_rand_u64(rng) % 500;

		npu_stream_copy(s, npu_operand(0, tu_rand_u64(rng) % 1000, len),
				npu_operand(2, o, len), rows, len);
		*out_pos += (uint64_t)rows * len;
		if (tu_rand_u64(rng) % 4 == 0)
			npu_stream_fence(s, 2, (o + (uint64_t)rows * len + 3) / 4 * 4,
					 (uint32_t)o);
		*out_pos += 8;
	}
	*out_pos = (*out_pos + 7) / 8 * 8;
}

/* Runs a job in slices of budget work units, as the device model does. */
static void run_sliced(struct npu_engine *e, struct npu_stream *s, uint64_t budget,
		       struct npu_job_stats *js)
{
	struct npu_exec *x = calloc(1, sizeof(*x));
	int rc;

	ck_assert_int_eq(npu_stream_finish(s), HAL_OK);
	ck_assert_int_eq(npu_exec_begin(e, x, s->data, s->len, s->bufs, s->nbufs), 0);
	do {
		rc = npu_exec_step(e, x, budget);
		ck_assert_uint_le(x->last_work, budget + ENPU_MAX_K);
	} while (rc > 0);
	ck_assert_int_eq(rc, 0);
	npu_exec_finish(e, x, js);
	free(x);
}

/* ---- the device MMU ---------------------------------------------------------------------------- */

/* In these tests a "physical" address is the host address of a page, as in hal/npu. */
static void *test_phys_to_ptr(void *host, uint64_t phys)
{
	(void)host;
	return (void *)(uintptr_t)phys;
}

static const struct npu_platform_ops test_mmu_ops = { .phys_to_ptr = test_phys_to_ptr };

/*
 * Memory as the device sees it through its MMU: each buffer of a stream moved to its own
 * device address (1 GiB apart) onto pages of a pool taken in a shuffled order, so that no
 * two consecutive device pages are consecutive in host memory.
 */
#define SC_MAX_BUFS 8

struct scattered {
	struct npu_as as;
	uint8_t *pool;
	uint64_t npages;
	uint64_t first[SC_MAX_BUFS]; /* pool page of each buffer's first page */
	uint64_t *order;                  /* pool page of each page in buffer order */
	struct npu_mmu *mmu;
};

#define SC_VA(i) ((uint64_t)((i) + 1) << 30)

static uint64_t pages_of(uint64_t size)
{
	return (size + NPU_PAGE_SIZE - 1) / NPU_PAGE_SIZE;
}

static void scatter(struct scattered *sc, struct npu_stream *s, uint64_t seed)
{
	uint64_t n = 0, rng = seed, k = 0;

	for (uint32_t i = 0; i < s->nbufs; i++)
		n += pages_of(s->bufs[i].size);
	sc->npages = n;
	sc->pool = aligned_alloc(NPU_PAGE_SIZE, n * NPU_PAGE_SIZE);
	sc->order = malloc(n * sizeof(*sc->order));
	sc->mmu = calloc(1, sizeof(*sc->mmu));
	ck_assert(sc->pool && sc->order && sc->mmu);
	for (uint64_t p = 0; p < n; p++)
		sc->order[p] = p;
	for (uint64_t p = n - 1; p > 0; p--) {
		uint64_t q = tu_rand_u64(&rng) % (p + 1), t = sc->order[p];

		sc->order[p] = sc->order[q];
		sc->order[q] = t;
	}
	ck_assert_int_eq(npu_as_init(&sc->as), 0);
	for (uint32_t i = 0; i < s->nbufs; i++) {
		struct npu_buffer *b = &s->bufs[i];

		sc->first[i] = k;
		for (uint64_t p = 0; p < pages_of(b->size); p++, k++) {
			uint8_t *page = sc->pool + sc->order[k] * NPU_PAGE_SIZE;
			uint64_t len = b->size - p * NPU_PAGE_SIZE;

			memset(page, 0x5a, NPU_PAGE_SIZE);
			memcpy(page, (uint8_t *)b->data + p * NPU_PAGE_SIZE,
			       len < NPU_PAGE_SIZE ? len : NPU_PAGE_SIZE);
			ck_assert_int_eq(npu_as_map(&sc->as, SC_VA(i) + p * NPU_PAGE_SIZE, page, 1,
						    NPU_PTE_READ | NPU_PTE_WRITE), 0);
		}
	}
	npu_mmu_init(sc->mmu, &test_mmu_ops, NULL);
	npu_mmu_bind(sc->mmu, npu_as_root(&sc->as), 3);
}

/* Copies the buffers' pages back to their host copies and frees the pool. */
static void gather(struct scattered *sc, struct npu_stream *s)
{
	for (uint32_t i = 0; i < s->nbufs; i++) {
		struct npu_buffer *b = &s->bufs[i];

		for (uint64_t p = 0; p < pages_of(b->size); p++) {
			uint64_t len = b->size - p * NPU_PAGE_SIZE;

			memcpy((uint8_t *)b->data + p * NPU_PAGE_SIZE,
			       sc->pool + sc->order[sc->first[i] + p] * NPU_PAGE_SIZE,
			       len < NPU_PAGE_SIZE ? len : NPU_PAGE_SIZE);
		}
	}
	npu_as_destroy(&sc->as);
	free(sc->pool);
	free(sc->order);
	free(sc->mmu);
}

/*
 * Runs a stream in slices of budget with every buffer reached through the MMU at SC_VA(i),
 * on scattered pages; returns npu_exec_step()'s last code, the verdict in *st.
 */
static int run_through_mmu(struct npu_engine *e, struct npu_stream *s, struct scattered *sc,
			   uint64_t budget, struct npu_job_stats *js, struct npu_status *st)
{
	struct npu_buffer host[SC_MAX_BUFS];
	struct npu_exec *x = calloc(1, sizeof(*x));
	int rc;

	ck_assert_int_eq(npu_stream_finish(s), HAL_OK);
	ck_assert_uint_le(s->nbufs, SC_MAX_BUFS);
	memcpy(host, s->bufs, s->nbufs * sizeof(*host));
	for (uint32_t i = 0; i < s->nbufs; i++) {
		s->bufs[i].data = NULL;
		s->bufs[i].addr = SC_VA(i);
	}
	ck_assert_int_eq(npu_exec_begin(e, x, s->data, s->len, s->bufs, s->nbufs), 0);
	x->mmu = sc->mmu;
	do
		rc = npu_exec_step(e, x, budget);
	while (rc > 0);
	npu_exec_finish(e, x, js);
	*st = x->st;
	memcpy(s->bufs, host, s->nbufs * sizeof(*host));
	free(x);
	return rc;
}

/*
 * Builds and runs one random job on fresh copies of the inputs, whole (budget 0) or in slices
 * of budget work units (through the MMU on scattered pages if mmu); returns the outputs.
 */
static uint8_t *random_job_as(uint64_t seed, uint64_t budget, bool mmu, struct npu_job_stats *js)
{
	uint64_t rng = seed, pos = 0;
	uint8_t *in = malloc(RND_IN), *rw = malloc(RND_IN), *out = calloc(1, RND_OUT);
	struct npu_engine e;
	struct npu_stream s;

	/* garbage data: any bit pattern must give a defined result (UBSan watches) */
	for (int i = 0; i < RND_IN; i++) {
		in[i] = (uint8_t)tu_rand_u64(&rng);
		rw[i] = (uint8_t)tu_rand_u64(&rng);
	}
	npu_stream_begin(&s);
	npu_stream_add_buffer(&s, in, RND_IN, 1, ENPU_BUF_F_READ);
	npu_stream_add_buffer(&s, rw, RND_IN, 2, ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	npu_stream_add_buffer(&s, out, RND_OUT, 3, ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	for (int i = 0; i < RND_CMDS; i++) {
		random_cmd(&s, &rng, &pos);
		if (tu_rand_u64(&rng) % 8 == 0)
			npu_stream_barrier(&s);
	}
	ck_assert_uint_le(pos, RND_OUT);
	npu_engine_init(&e, NULL, 0);
	if (mmu) {
		struct scattered sc;
		struct npu_status st;

		scatter(&sc, &s, seed);
		ck_assert_msg(run_through_mmu(&e, &s, &sc, budget, js, &st) == 0, "%s", st.reason);
		gather(&sc, &s);
	} else if (budget) {
		run_sliced(&e, &s, budget, js);
	} else {
		expect_run_ok(&e, &s, js);
	}
	npu_stream_free(&s);
	free(in);
	free(rw);
	return out;
}

static uint8_t *random_job(uint64_t seed, uint64_t budget, struct npu_job_stats *js)
{
	return random_job_as(seed, budget, false, js);
}

START_TEST(test_random_streams_deterministic)
{
	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct npu_job_stats j1, j2;
		uint8_t *o1 = random_job(seed, 0, &j1), *o2 = random_job(seed, 0, &j2);

		ck_assert_mem_eq(o1, o2, RND_OUT);
		ck_assert_mem_eq(&j1, &j2, sizeof(j1));
		ck_assert_uint_eq(j1.c.cmds >= RND_CMDS, 1);
		free(o1);
		free(o2);
	}
}
END_TEST

/* A job cut into slices of any size gives the bytes and counters of the whole run. */
START_TEST(test_sliced_equals_whole)
{
	static const uint64_t budgets[] = { 1, 7, 33, 100, 1000, 4096 };

	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct npu_job_stats j1, j2;
		uint64_t budget = budgets[seed % 6];
		uint8_t *o1 = random_job(seed, 0, &j1), *o2 = random_job(seed, budget, &j2);

		ck_assert_mem_eq(o1, o2, RND_OUT);
		ck_assert_mem_eq(&j1, &j2, sizeof(j1));
		free(o1);
		free(o2);
	}
}
END_TEST

/*
 * Through the MMU, with every page of every buffer somewhere else in host memory (rows that
 * cross pages are gathered and scattered), a job gives the bytes and counters of the direct
 * run, whatever the slices.
 */
START_TEST(test_mmu_scattered_equals_direct)
{
	static const uint64_t budgets[] = { 1, 7, 33, 1000, 4096, ~0ull };

	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct npu_job_stats j1, j2;
		uint8_t *o1 = random_job(seed, 0, &j1);
		uint8_t *o2 = random_job_as(seed, budgets[seed % 6], true, &j2);

		ck_assert_mem_eq(o1, o2, RND_OUT);
		ck_assert_mem_eq(&j1, &j2, sizeof(j1));
		free(o1);
		free(o2);
	}
}
END_TEST

/*
 * A copy of 3 rows of 2600 bytes from buffer 0 (rows 4000 apart: the last one crosses into
 * page 2) to buffer 1 (rows 2700 apart: pages 0 and 1), then a fence in page 2 of buffer 1;
 * each buffer has 3 pages. The test takes pages away from the device or makes them read-only.
 */
static void fault_job(struct npu_stream *s, uint8_t *src, uint8_t *dst)
{
	for (int i = 0; i < 3 * 4096; i++)
		src[i] = (uint8_t)(i * 7);
	memset(dst, 0, 3 * 4096);
	npu_stream_begin(s);
	npu_stream_add_buffer(s, src, 3 * 4096, 1, ENPU_BUF_F_READ);
	npu_stream_add_buffer(s, dst, 3 * 4096, 2, ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	npu_stream_copy(s, npu_operand(0, 100, 4000), npu_operand(1, 0, 2700), 3, 2600);
	npu_stream_fence(s, 1, 12000, 0xfeed);
}

/* The bytes of each buffer a stream may touch: what a driver maps for it. */
START_TEST(test_validate_extents)
{
	static uint8_t src[3 * 4096], dst[3 * 4096], unused[64];
	struct npu_extent ext[3];
	struct npu_engine e;
	struct npu_stream s;
	struct npu_status st;

	npu_engine_init(&e, NULL, 0);
	fault_job(&s, src, dst);
	npu_stream_add_buffer(&s, unused, sizeof(unused), 3, ENPU_BUF_F_READ);
	ck_assert_int_eq(npu_stream_finish(&s), HAL_OK);
	ck_assert_int_eq(npu_validate_extents(&e, s.data, s.len, s.bufs, s.nbufs, &st, ext), 0);
	/* rows of 2600 bytes 4000 apart from 100; 2700 apart from 0, and the fence at 12000 */
	ck_assert_uint_eq(ext[0].start, 100);
	ck_assert_uint_eq(ext[0].end, 100 + 2 * 4000 + 2600);
	ck_assert_uint_eq(ext[1].start, 0);
	ck_assert_uint_eq(ext[1].end, 12004);
	ck_assert_uint_ge(ext[2].start, ext[2].end); /* named by no command */
	npu_stream_free(&s);
}
END_TEST

/* An unmapped page and a read-only page: the job stops at the access, with its address. */
START_TEST(test_mmu_faults)
{
	static uint8_t src[3 * 4096], dst[3 * 4096];
	struct npu_engine e;
	struct npu_stream s;
	struct scattered sc;
	struct npu_job_stats js;
	struct npu_status st;

	npu_engine_init(&e, NULL, 0);
	/* the source's last page is gone: the copy's third row reads into it (8100..10700) */
	fault_job(&s, src, dst);
	scatter(&sc, &s, 7);
	ck_assert_int_eq(npu_as_map(&sc.as, SC_VA(0) + 2 * 4096, sc.pool, 1, 0), 0);
	ck_assert_int_eq(run_through_mmu(&e, &s, &sc, ~0ull, &js, &st), -ENPU_ERR_MMU_FAULT);
	ck_assert_uint_eq(st.code, ENPU_ERR_MMU_FAULT);
	ck_assert_uint_eq(st.cmd_index, 0);
	ck_assert_uint_eq(sc.mmu->fault_addr, SC_VA(0) + 2 * 4096);
	ck_assert_uint_eq(sc.mmu->fault_status, NPU_FAULT_VALID | NPU_FAULT_TRANSLATION |
						 3u << NPU_FAULT_AS_SHIFT | NPU_FAULT_ACCESS_READ);
	ck_assert_ptr_nonnull(strstr(st.reason, "copy: src: device MMU fault at 0x40002000"));
	ck_assert_uint_eq(js.c.errors, 1);
	gather(&sc, &s);
	/* the rows before the fault were copied; nothing after it ran */
	ck_assert_mem_eq(dst, src + 100, 2600);
	ck_assert_uint_eq(dst[12000], 0);
	npu_stream_free(&s);

	/* the fence's page is read-only: a permission fault on the write, after the copy */
	fault_job(&s, src, dst);
	scatter(&sc, &s, 8);
	ck_assert_int_eq(npu_as_map(&sc.as, SC_VA(1) + 2 * 4096,
				    sc.pool + sc.order[sc.first[1] + 2] * NPU_PAGE_SIZE, 1,
				    NPU_PTE_READ), 0);
	npu_mmu_bind(sc.mmu, npu_as_root(&sc.as), 3); /* a new job: an empty TLB */
	ck_assert_int_eq(run_through_mmu(&e, &s, &sc, 1000, &js, &st), -ENPU_ERR_MMU_FAULT);
	ck_assert_uint_eq(st.cmd_index, 1);
	ck_assert_uint_eq(sc.mmu->fault_addr, SC_VA(1) + 12000);
	ck_assert_uint_eq(sc.mmu->fault_status & NPU_FAULT_TYPE_MASK, NPU_FAULT_PERMISSION);
	ck_assert_uint_eq(sc.mmu->fault_status & NPU_FAULT_ACCESS_WRITE, NPU_FAULT_ACCESS_WRITE);
	gather(&sc, &s);
	for (int r = 0; r < 3; r++)
		ck_assert_mem_eq(dst + r * 2700, src + 100 + r * 4000, 2600);
	ck_assert_uint_eq(dst[12000], 0);
	npu_stream_free(&s);

	/* an address past 48 bits and an empty slot (no table): faults, not crashes */
	npu_mmu_bind(sc.mmu = calloc(1, sizeof(*sc.mmu)), 0, 1);
	sc.mmu->ops = &test_mmu_ops;
	ck_assert_ptr_null(npu_mmu_read(sc.mmu, 0, 1ull << 48, 1));
	ck_assert_uint_eq(sc.mmu->fault_status & NPU_FAULT_TYPE_MASK, NPU_FAULT_ADDR_SIZE);
	npu_mmu_bind(sc.mmu, 0, 1);
	ck_assert_ptr_null(npu_mmu_write_begin(sc.mmu, 0, 4096, 4));
	ck_assert_uint_eq(sc.mmu->fault_status & NPU_FAULT_TYPE_MASK, NPU_FAULT_TRANSLATION);
	free(sc.mmu);
}
END_TEST

/* ---- requantization helpers ------------------------------------------------------------------ */

START_TEST(test_requant_from_real)
{
	struct enpu_requant rq;
	const double reals[] = { 1e-12, 3.7e-7, 0.001, 0.5, 0.999999, 1.0, 3.14159, 1e5,
				 2147483000.0 };

	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		ck_assert_int_eq(npu_requant_from_real(reals[i], 0, &rq), HAL_OK);
		ck_assert_uint_le(rq.shift, ENPU_MAX_SHIFT);
		ck_assert_int_ge(rq.multiplier, 0);
		ck_assert_msg(fabs(npu_requant_real(&rq) / reals[i] - 1) < 1e-6, "%g", reals[i]);
	}
	ck_assert_int_eq(npu_requant_from_real(-1.0, 0, &rq), HAL_ERR_INVALID);
	ck_assert_int_eq(npu_requant_from_real(4e9, 0, &rq), HAL_ERR_INVALID);
	ck_assert_int_eq(npu_requant_from_real(1.0, 200, &rq), HAL_ERR_INVALID);
	ck_assert_int_eq(npu_requant_from_real(0.0, 5, &rq), HAL_OK);
	ck_assert_int_eq(rq.multiplier, 0);
	ck_assert_int_eq(rq.zero_point, 5);
}
END_TEST

START_TEST(test_error_names)
{
	ck_assert_str_eq(npu_error_name(ENPU_ERR_OUT_OF_BOUNDS), "operand out of bounds");
	ck_assert_str_eq(npu_error_name(1000), "unknown error");
	for (uint32_t c = 0; c <= ENPU_ERR_STALLED; c++)
		ck_assert_str_ne(npu_error_name(c), "unknown error");
}
END_TEST

/* ---- the kernel C subset --------------------------------------------------------------------- */

/* The source root, from the shared vocabulary path "<root>/../shared/vocab/...". */
static const char *source_root(void)
{
	static char root[1024];
	const char *v = ENPU_VOCAB_PATH, *cut = strstr(v, "/../shared/");

	ck_assert_ptr_nonnull(cut);
	ck_assert_uint_lt((size_t)(cut - v), sizeof(root));
	memcpy(root, v, (size_t)(cut - v));
	root[cut - v] = 0;
	return root;
}

START_TEST(test_engine_is_kernel_c)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "sh '%s/tests/npu_kernel_subset.sh' '%s'", source_root(),
		 source_root());
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *npu_engine_suite(void)
{
	Suite *s = suite_create("npu_engine");
	TCase *tc = tcase_create("npu_engine");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_fp16_scale_exact);
	tcase_add_test(tc, test_convert_weights_layout);
	tcase_add_test(tc, test_act_quant_matches_ggml);
	tcase_add_test(tc, test_matmul_q8_0_vs_ref);
	tcase_add_test(tc, test_matmul_q4_0_vs_ref);
	tcase_add_test(tc, test_matmul_i8_out_vs_ref);
	tcase_add_test(tc, test_eltwise_add);
	tcase_add_test(tc, test_eltwise_mul);
	tcase_add_test(tc, test_lut_functions);
	tcase_add_test(tc, test_swiglu_pipeline);
	tcase_add_test(tc, test_copy_and_fence);
	tcase_add_test(tc, test_validator_accepts_fixture);
	tcase_add_test(tc, test_validator_refuses_commands);
	tcase_add_test(tc, test_validator_refuses_streams);
	tcase_add_test(tc, test_validator_fuzz);
	tcase_add_test(tc, test_debug_stall);
	tcase_add_test(tc, test_cost_matmul_hand_computed);
	tcase_add_test(tc, test_abort_charges_work_done);
	tcase_add_test(tc, test_cost_eltwise_copy_barrier);
	tcase_add_test(tc, test_weight_residency_lru);
	tcase_add_test(tc, test_residency_invalidated_by_write);
	tcase_add_test(tc, test_second_step_cheaper);
	tcase_add_test(tc, test_random_streams_deterministic);
	tcase_add_test(tc, test_sliced_equals_whole);
	tcase_add_test(tc, test_mmu_scattered_equals_direct);
	tcase_add_test(tc, test_mmu_faults);
	tcase_add_test(tc, test_validate_extents);
	tcase_add_test(tc, test_requant_from_real);
	tcase_add_test(tc, test_error_names);
	tcase_add_test(tc, test_engine_is_kernel_c);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(npu_engine_suite());
}
