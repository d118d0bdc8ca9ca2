/* SPDX-License-Identifier: MIT */
/*
 * test_cpu_fast.c - the fast CPU backend against the reference backend (the oracle), on every
 * kernel path this machine runs (ENPU_CPU_ISA), with 1, 2 and 3 threads, op by op and as a
 * whole model through the public API.
 *
 * Tolerances:
 * - quantized matmul: the integer block dots are exact in both backends and the activations
 *   are quantized bit for bit alike (checked separately), so only float rounding of the
 *   per-block scaling and summation differs: 1e-5 of the sum of |terms| (K <= 768 terms of
 *   rounding error 2^-24 each is far below that);
 * - F32/F16 matmul: the reference sums in double, the kernels in float with several partial
 *   sums: same bound, 1e-5 of sum |w x|;
 * - rmsnorm, rope, swiglu: 1e-5 relative (|d| <= 1e-5 max(|ref|, 1e-3)); the vector exp is
 *   within ~2 ulp of expf;
 * - attention: 1e-5 of the terms' magnitude (V in [-1, 1]): the softmax sums in float instead
 *   of double and weights V before normalising, so a small output that is the difference of
 *   larger terms carries their rounding.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_npu.h"
#include "hal/cpu/cpu_fast.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/kernels_ext.h"
#include "hal/hal.h"
#include "hal/quant.h"
#include "testutil.h"
#include "tools/mkmodel.h"

static const char *const isas[] = { "scalar", "avx2", "avxvnni", "avx512", "amx", "neon" };
#define N_ISA (sizeof(isas) / sizeof(isas[0]))

static struct hal_device *fast_dev(const char *isa, uint32_t threads)
{
	struct hal_device_options o = { .n_threads = threads };
	struct hal_device *dev = NULL;
	char err[256] = "";

	if (isa && !cpu_kernels_by_name(isa))
		return NULL; /* not compiled in or not supported by this CPU */
	if (isa)
		setenv("ENPU_CPU_ISA", isa, 1);
	ck_assert_msg(hal_cpu_fast_create(&o, &dev, err, sizeof(err)) == HAL_OK, "%s", err);
	unsetenv("ENPU_CPU_ISA");
	if (isa)
		ck_assert_str_eq(hal_cpu_fast_isa(dev), isa);
	ck_assert_str_eq(dev->name, "cpu");
	return dev;
}

static struct hal_device *ref_dev(void)
{
	struct hal_device *dev = NULL;

	ck_assert_int_eq(hal_cpu_ref_create(&dev), HAL_OK);
	return dev;
}

static float *rand_floats(size_t n, uint64_t *seed, float scale)
{
	float *x = malloc((n ? n : 1) * sizeof(float));

	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2.0f * tu_rand_f32(seed) - 1.0f);
	return x;
}

static struct hal_tensor tensor(const char *name, enum hal_type type, uint32_t ne0, uint32_t ne1,
				void *data)
{
	return (struct hal_tensor){ name, type, { ne0, ne1 }, data, NULL };
}

/* A weight of type from random floats (the model generator's way). */
static void *make_weight(enum hal_type type, uint32_t K, uint32_t N, uint64_t *seed)
{
	uint8_t *w = malloc(hal_row_bytes(type, K) * N);
	float *row = rand_floats(K, seed, 0.5f);

	ck_assert_ptr_nonnull(w);
	for (uint32_t n = 0; n < N; n++) {
		for (uint32_t k = 0; k < K; k++)
			row[k] = 0.5f * (2.0f * tu_rand_f32(seed) - 1.0f);
		hal_quantize_row(type, row, w + n * hal_row_bytes(type, K), K);
	}
	free(row);
	return w;
}

static void run_ok(struct hal_device *dev, const struct hal_op *op)
{
	ck_assert_msg(dev->vt->run(dev, op) == HAL_OK, "%s: %s", dev->name, dev->error);
}

/* ---- activation quantization: bit for bit hal_quantize_row_q8_0 --------------------------- */

START_TEST(test_quantize_act_exact)
{
	const uint32_t nb = 8;
	uint64_t seed = 11;
	float *x = rand_floats(nb * 32, &seed, 3.0f);
	struct hal_block_q8_0 ref[8];
	int8_t qs[8 * 32];
	float d[8];
	int32_t s[8];
	struct cpu_act a = { .qs = qs, .d = d, .s = s, .nb = nb, .n_rows = 1 };

	/* ties: with amax 127 the inverse scale is 1, so x.5 values hit roundf's tie rule */
	for (int j = 0; j < 32; j++)
		x[j] = (float)(j - 16) + 0.5f;
	x[31] = 127.0f;
	for (int j = 0; j < 32; j++)
		x[32 + j] = 0.0f; /* an all-zero block: scale 0 */
	x[64] = 1e-30f;           /* subnormal half scale */
	x[96 + 5] = NAN;          /* NaN: skipped by the maximum, quantized to 0 */
	for (int j = 0; j < 32; j++)
		x[128 + j] = 1e-38f * (float)(j - 16); /* 1 / d overflows to inf: all 0 */
	x[160 + 7] = INFINITY;    /* an infinite scale: all 0 */
	hal_quantize_row_q8_0(x, ref, nb * 32);
	for (size_t i = 0; i < N_ISA; i++) {
		const struct cpu_kernels *k = cpu_kernels_by_name(isas[i]);

		if (!k)
			continue;
		k->quantize_act(x, &a, 0);
		for (uint32_t b = 0; b < nb; b++) {
			int32_t sum = 0;

			ck_assert_msg(!memcmp(qs + 32 * b, ref[b].qs, 32), "%s block %u", isas[i], b);
			ck_assert_float_eq(d[b], hal_fp16_to_fp32(ref[b].d));
			for (int j = 0; j < 32; j++)
				sum += ref[b].qs[j];
			ck_assert_int_eq(s[b], sum);
		}
	}
	free(x);
}
END_TEST

/* ---- matmul ------------------------------------------------------------------------------- */

/* |fast - ref| within 1e-5 of sum_k |w x| for every output, of weight wd against x. */
static void compare_matmul(enum hal_type type, uint32_t K, uint32_t N, uint32_t T,
			   const char *isa, uint32_t threads, const void *wd, const float *x)
{
	struct hal_device *fast = fast_dev(isa, threads), *ref;
	void *wd2;
	float *yr, *yf, *wf;

	if (!fast)
		return;
	ref = ref_dev();
	wd2 = malloc(hal_row_bytes(type, K) * N);
	memcpy(wd2, wd, hal_row_bytes(type, K) * N);
	yr = calloc((size_t)N * T, sizeof(float));
	yf = calloc((size_t)N * T, sizeof(float));
	wf = malloc((size_t)K * sizeof(float));
	struct hal_tensor w = tensor("w", type, K, N, (void *)wd);
	struct hal_tensor w2 = tensor("w", type, K, N, wd2);
	struct hal_tensor tx = tensor("x", HAL_TYPE_F32, K, T, (float *)x);
	struct hal_tensor tyr = tensor("yr", HAL_TYPE_F32, N, T, yr);
	struct hal_tensor tyf = tensor("yf", HAL_TYPE_F32, N, T, yf);
	struct hal_op opr = { .kind = HAL_OP_MATMUL, .src = { &w, &tx }, .dst = &tyr };
	struct hal_op opf = { .kind = HAL_OP_MATMUL, .src = { &w2, &tx }, .dst = &tyf };

	run_ok(ref, &opr);
	ck_assert_int_eq(fast->vt->prepare_weight(fast, &w2), HAL_OK);
	run_ok(fast, &opf);
	for (uint32_t n = 0; n < N; n++) {
		hal_dequantize_row(type, (const char *)wd + n * hal_row_bytes(type, K), wf, K);
		for (uint32_t t = 0; t < T; t++) {
			double mag = 0.0;

			for (uint32_t k = 0; k < K; k++)
				mag += fabs((double)wf[k] * x[(size_t)t * K + k]);
			double diff = fabs((double)yf[t * N + n] - yr[t * N + n]);
			ck_assert_msg(diff <= 1e-5 * mag + 1e-30,
				      "%s %s K=%u N=%u T=%u threads=%u: row %u tok %u: %.9g vs %.9g",
				      isa, hal_type_name(type), K, N, T, threads, n, t,
				      yf[t * N + n], yr[t * N + n]);
		}
	}
	fast->vt->release_weight(fast, &w2);
	ck_assert_ptr_eq(w2.data, wd2);
	ck_assert_ptr_null(w2.owner);
	hal_device_destroy(fast);
	hal_device_destroy(ref);
	free(wd2);
	free(yr);
	free(yf);
	free(wf);
}

/* compare_matmul on a random weight and activations. */
static void check_matmul(enum hal_type type, uint32_t K, uint32_t N, uint32_t T, const char *isa,
			 uint32_t threads)
{
	uint64_t seed = 1000 + K * 7 + N * 3 + T;
	void *wd = make_weight(type, K, N, &seed);
	float *x = rand_floats((size_t)K * T, &seed, 2.0f);

	compare_matmul(type, K, N, T, isa, threads, wd, x);
	free(wd);
	free(x);
}

static const uint32_t mm_shapes[][3] = {
	/* K, N, T: odd row counts, one partial group, several groups, T=1 and T>1 */
	{ 32, 1, 1 }, { 64, 17, 1 }, { 64, 17, 3 }, { 96, 33, 5 }, { 256, 48, 1 },
	{ 256, 50, 9 }, { 768, 40, 2 },
	/* 16-token tiles (AMX) with an odd block count, then the leftover tokens */
	{ 96, 33, 37 }, { 64, 40, 16 },
};

START_TEST(test_matmul_quant)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0 };

	for (size_t i = 0; i < N_ISA; i++)
		for (size_t t = 0; t < 2; t++)
			for (size_t s = 0; s < sizeof(mm_shapes) / sizeof(mm_shapes[0]); s++)
				check_matmul(types[t], mm_shapes[s][0], mm_shapes[s][1],
					     mm_shapes[s][2], isas[i], 2);
}
END_TEST

/*
 * K-quants (Q4_K, Q5_K, Q6_K: llama.cpp's layouts, packed at load into kernels_ext.h's groups
 * of 16 rows) within the quantized matmul's bound of the reference: one and several
 * super-blocks a row, partial row groups, decode and batches.
 */
START_TEST(test_matmul_kquant)
{
	const enum hal_type types[] = { HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	const uint32_t shapes[][3] = { { 256, 1, 1 }, { 256, 17, 1 }, { 768, 40, 1 },
				       { 512, 33, 5 }, { 256, 16, 23 } };

	for (size_t i = 0; i < N_ISA; i++)
		for (size_t t = 0; t < 3; t++)
			for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
				check_matmul(types[t], shapes[s][0], shapes[s][1], shapes[s][2],
					     isas[i], s % 2 ? 3 : 2);
}
END_TEST

/*
 * The K-quant kernels add products in int16 before widening (kernels_ext.h): every quant at
 * its largest value, every scale and minimum at its largest (Q6_K's scales at 127 and at
 * -128), against activations all at +127, all at -127 and alternating, must not overflow.
 */
START_TEST(test_matmul_kquant_extremes)
{
	const enum hal_type types[] = { HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K,
					HAL_TYPE_Q6_K };
	const uint32_t K = 512, N = 33, T = 9; /* two 4-token tiles and one token */
	float *x = malloc(sizeof(float) * K * T);

	for (size_t ty = 0; ty < 4; ty++) {
		const size_t rb = hal_row_bytes(types[ty], K), bb = rb / (K / 256);
		uint8_t *wd = malloc(rb * N);

		memset(wd, 0xff, rb * N);
		for (size_t b = 0; b < rb * N / bb; b++) {
			uint8_t *blk = wd + b * bb;

			if (types[ty] == HAL_TYPE_Q6_K) { /* ql, qh, scales[16], d */
				memset(blk + 192, ty == 2 ? 0x7f : 0x80, 16);
				blk[208] = 0x00, blk[209] = 0x3c; /* d = 1 */
			} else { /* d, dmin, scales and minimums, ... */
				blk[0] = 0x00, blk[1] = 0x3c;
				blk[2] = 0x00, blk[3] = 0x38; /* dmin = 0.5 */
			}
		}
		for (int pat = 0; pat < 3; pat++) {
			for (uint32_t i = 0; i < K * T; i++)
				x[i] = pat == 0 ? 1.0f : pat == 1 ? -1.0f : i % 2 ? 1.0f : -1.0f;
			for (size_t i = 0; i < N_ISA; i++)
				compare_matmul(types[ty], K, N, T, isas[i], 2, wd, x);
		}
		free(wd);
	}
	free(x);
}
END_TEST

START_TEST(test_matmul_float)
{
	const enum hal_type types[] = { HAL_TYPE_F32, HAL_TYPE_F16 };
	const uint32_t shapes[][3] = { { 1, 1, 1 }, { 33, 7, 2 }, { 100, 19, 1 }, { 256, 40, 4 } };

	for (size_t i = 0; i < N_ISA; i++)
		for (size_t t = 0; t < 2; t++)
			for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
				check_matmul(types[t], shapes[s][0], shapes[s][1], shapes[s][2],
					     isas[i], 2);
}
END_TEST

/* y = w x on the fast device with these kernels and threads; NULL if this CPU lacks them. */
static float *matmul_on(const char *isa, uint32_t threads, enum hal_type type, void *wd,
			float *x, uint32_t K, uint32_t N, uint32_t T)
{
	struct hal_device *dev = fast_dev(isa, threads);
	float *y;

	if (!dev)
		return NULL;
	y = calloc((size_t)N * T, sizeof(float));
	ck_assert_ptr_nonnull(y);
	struct hal_tensor w = tensor("w", type, K, N, wd);
	struct hal_tensor tx = tensor("x", HAL_TYPE_F32, K, T, x);
	struct hal_tensor ty = tensor("y", HAL_TYPE_F32, N, T, y);
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &w, &tx }, .dst = &ty };

	ck_assert_int_eq(dev->vt->prepare_weight(dev, &w), HAL_OK);
	run_ok(dev, &op);
	dev->vt->release_weight(dev, &w);
	hal_device_destroy(dev);
	return y;
}

/* Row splitting must not change any row's arithmetic: 1, 2, 3 threads give the same bits. */
START_TEST(test_threads_identical)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16, HAL_TYPE_F32,
					HAL_TYPE_Q4_K, HAL_TYPE_Q6_K };
	const uint32_t K = 256, N = 83, T = 23; /* a 16-token tile, a 4-token one, 3 single */

	for (size_t i = 0; i < N_ISA; i++) {
		for (size_t ty = 0; ty < 6; ty++) {
			uint64_t seed = 5;
			void *wd = make_weight(types[ty], K, N, &seed);
			float *x = rand_floats((size_t)K * T, &seed, 1.0f);
			float *y[3];

			for (uint32_t th = 1; th <= 3; th++)
				y[th - 1] = matmul_on(isas[i], th, types[ty], wd, x, K, N, T);
			if (y[0]) {
				ck_assert(!memcmp(y[0], y[1], sizeof(float) * N * T));
				ck_assert(!memcmp(y[0], y[2], sizeof(float) * N * T));
			}
			for (int j = 0; j < 3; j++)
				free(y[j]);
			free(wd);
			free(x);
		}
	}
}
END_TEST

/*
 * The fused MATMUL (hal.h: up to three weights over one activation, results stacked) gives
 * each weight's results bit for bit as its own matmul does, on every kernel set, 1 and 3
 * threads, and on the reference: Q/K/V and gate/up fused in a decode step change nothing.
 */
START_TEST(test_matmul_fused_same_bits)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16, HAL_TYPE_F32,
					HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	const uint32_t K = 256, N[3] = { 48, 33, 17 }, Ts[] = { 1, 5, 23 };
	const uint32_t rows = N[0] + N[1] + N[2];

	for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
		for (size_t ti = 0; ti < 3; ti++) {
			const uint32_t T = Ts[ti];
			uint64_t seed = 77 + ty * 3 + ti;
			void *wd[3];
			float *x, *alone[3];

			for (int i = 0; i < 3; i++)
				wd[i] = make_weight(types[ty], K, N[i], &seed);
			x = rand_floats((size_t)K * T, &seed, 1.0f);
			for (size_t is = 0; is <= N_ISA; is++) {
				/* is == N_ISA: the reference device */
				for (uint32_t th = 1; th <= 3; th += 2) {
					struct hal_device *dev =
						is < N_ISA ? fast_dev(isas[is], th) : ref_dev();
					struct hal_tensor w[3], tx, ty_;
					float *y = calloc((size_t)rows * T, sizeof(float));

					if (!dev) {
						free(y);
						continue;
					}
					for (int i = 0; i < 3; i++) {
						alone[i] = NULL;
						if (is < N_ISA)
							alone[i] = matmul_on(isas[is], th, types[ty],
									     wd[i], x, K, N[i], T);
						w[i] = tensor("w", types[ty], K, N[i], wd[i]);
						if (dev->vt->prepare_weight)
							ck_assert_int_eq(dev->vt->prepare_weight(dev, &w[i]),
									 HAL_OK);
					}
					tx = tensor("x", HAL_TYPE_F32, K, T, x);
					ty_ = tensor("y", HAL_TYPE_F32, rows, T, y);
					struct hal_op op = { .kind = HAL_OP_MATMUL,
							     .src = { &w[0], &tx, &w[1], &w[2] },
							     .dst = &ty_ };
					run_ok(dev, &op);
					/* two weights: the first two windows */
					op.src[3] = NULL;
					ty_.ne[0] = N[0] + N[1];
					float *y2 = calloc((size_t)rows * T, sizeof(float));
					ty_.data = y2;
					run_ok(dev, &op);
					size_t off = 0;
					for (int i = 0; i < 3; i++) {
						float *want = alone[i];
						struct hal_op one = { .kind = HAL_OP_MATMUL,
								      .src = { &w[i], &tx } };
						struct hal_tensor t1 = tensor("y1", HAL_TYPE_F32,
									      N[i], T, NULL);

						if (!want) { /* the reference: its own one-weight op */
							want = calloc((size_t)N[i] * T, sizeof(float));
							t1.data = want;
							one.dst = &t1;
							run_ok(dev, &one);
						}
						ck_assert_msg(!memcmp(y + off, want,
								      sizeof(float) * N[i] * T),
							      "%s %s T=%u threads %u weight %d",
							      is < N_ISA ? isas[is] : "cpu-ref",
							      hal_type_name(types[ty]), T, th, i);
						/* the two-weight op's layout is its own: T x (N0 + N1) */
						if (i < 2)
							ck_assert(!memcmp(y2 + (i ? (size_t)N[0] * T : 0),
									  want,
									  sizeof(float) * N[i] * T));
						off += (size_t)N[i] * T;
						free(want);
					}
					for (int i = 0; i < 3; i++)
						if (w[i].owner)
							dev->vt->release_weight(dev, &w[i]);
					hal_device_destroy(dev);
					free(y);
					free(y2);
				}
			}
			for (int i = 0; i < 3; i++)
				free(wd[i]);
			free(x);
		}
	}
}
END_TEST

/*
 * The accumulating MATMUL (hal.h: dst += w . x, the residual stream) is bit for bit the
 * matmul's result added to dst, on every kernel set, 1 and 3 threads, and on the reference.
 */
START_TEST(test_matmul_accumulate_same_bits)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16, HAL_TYPE_F32,
					HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	const uint32_t K = 256, N = 40, Ts[] = { 1, 7, 20 }; /* K: one K-quant super-block */

	for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
		for (size_t ti = 0; ti < 3; ti++) {
			const uint32_t T = Ts[ti];
			uint64_t seed = 200 + ty * 3 + ti;
			void *wd = make_weight(types[ty], K, N, &seed);
			float *x = rand_floats((size_t)K * T, &seed, 1.0f);
			float *d0 = rand_floats((size_t)N * T, &seed, 3.0f);

			for (size_t is = 0; is <= N_ISA; is++) {
				for (uint32_t th = 1; th <= 3; th += 2) {
					struct hal_device *dev =
						is < N_ISA ? fast_dev(isas[is], th) : ref_dev();
					float *y = malloc(sizeof(float) * N * T);
					float *plain = calloc((size_t)N * T, sizeof(float));

					if (!dev) {
						free(y);
						free(plain);
						continue;
					}
					memcpy(y, d0, sizeof(float) * N * T);
					struct hal_tensor w = tensor("w", types[ty], K, N, wd);
					struct hal_tensor tx = tensor("x", HAL_TYPE_F32, K, T, x);
					struct hal_tensor ty_ = tensor("y", HAL_TYPE_F32, N, T, y);
					struct hal_tensor tp = tensor("p", HAL_TYPE_F32, N, T, plain);
					struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &w, &tx },
							     .dst = &ty_ };

					if (dev->vt->prepare_weight)
						ck_assert_int_eq(dev->vt->prepare_weight(dev, &w), HAL_OK);
					op.matmul.accumulate = true;
					run_ok(dev, &op);
					op.matmul.accumulate = false;
					op.dst = &tp;
					run_ok(dev, &op);
					for (size_t i = 0; i < (size_t)N * T; i++) {
						float want = d0[i] + plain[i];

						ck_assert_msg(!memcmp(&y[i], &want, sizeof(float)),
							      "%s %s T=%u threads %u: %zu",
							      is < N_ISA ? isas[is] : "cpu-ref",
							      hal_type_name(types[ty]), T, th, i);
					}
					if (w.owner)
						dev->vt->release_weight(dev, &w);
					hal_device_destroy(dev);
					free(y);
					free(plain);
				}
			}
			free(wd);
			free(x);
			free(d0);
		}
	}
}
END_TEST

/*
 * The normed MATMUL (hal.h: the activations RMS-normed in the op) is bit for bit the device's
 * RMSNORM followed by the MATMUL, fused over two weights too, on every kernel set, 1 and 3
 * threads, and on the reference.
 */
START_TEST(test_matmul_normed_same_bits)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16, HAL_TYPE_F32,
					HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	const uint32_t K = 256, N[2] = { 32, 17 }, Ts[] = { 1, 6, 21 }; /* K: a K-quant block */

	for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
		for (size_t ti = 0; ti < 3; ti++) {
			const uint32_t T = Ts[ti];
			uint64_t seed = 300 + ty * 3 + ti;
			void *wd[2] = { make_weight(types[ty], K, N[0], &seed),
					make_weight(types[ty], K, N[1], &seed) };
			float *x = rand_floats((size_t)K * T, &seed, 2.0f);
			float *nw = rand_floats(K, &seed, 1.5f);

			for (size_t is = 0; is <= N_ISA; is++) {
				for (uint32_t th = 1; th <= 3; th += 2) {
					struct hal_device *dev =
						is < N_ISA ? fast_dev(isas[is], th) : ref_dev();
					const size_t n = (size_t)(N[0] + N[1]) * T;
					float *xn = malloc(sizeof(float) * K * T);
					float *y = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n);

					if (!dev) {
						free(xn), free(y), free(want);
						continue;
					}
					struct hal_tensor w[2] = { tensor("w0", types[ty], K, N[0], wd[0]),
								   tensor("w1", types[ty], K, N[1], wd[1]) };
					struct hal_tensor tx = tensor("x", HAL_TYPE_F32, K, T, x);
					struct hal_tensor txn = tensor("xn", HAL_TYPE_F32, K, T, xn);
					struct hal_tensor tn = tensor("norm", HAL_TYPE_F32, K, 1, nw);
					struct hal_tensor tyy = tensor("y", HAL_TYPE_F32, N[0] + N[1], T, y);
					struct hal_tensor tw = tensor("want", HAL_TYPE_F32, N[0] + N[1], T,
								      want);
					struct hal_op norm = { .kind = HAL_OP_RMSNORM, .src = { &tx, &tn },
							       .dst = &txn };
					struct hal_op plain = { .kind = HAL_OP_MATMUL,
								.src = { &w[0], &txn, &w[1] }, .dst = &tw };
					struct hal_op normed = { .kind = HAL_OP_MATMUL,
								 .src = { &w[0], &tx, &w[1], NULL, &tn },
								 .dst = &tyy };

					norm.p.rmsnorm.eps = 1e-5f;
					normed.matmul.eps = 1e-5f;
					for (int i = 0; i < 2 && dev->vt->prepare_weight; i++)
						ck_assert_int_eq(dev->vt->prepare_weight(dev, &w[i]), HAL_OK);
					run_ok(dev, &norm);
					run_ok(dev, &plain);
					run_ok(dev, &normed);
					ck_assert_msg(!memcmp(y, want, sizeof(float) * n),
						      "%s %s T=%u threads %u",
						      is < N_ISA ? isas[is] : "cpu-ref",
						      hal_type_name(types[ty]), T, th);
					for (int i = 0; i < 2; i++)
						if (w[i].owner)
							dev->vt->release_weight(dev, &w[i]);
					hal_device_destroy(dev);
					free(xn), free(y), free(want);
				}
			}
			free(wd[0]), free(wd[1]), free(x), free(nw);
		}
	}
}
END_TEST

/*
 * hal_op_check refuses fused matmuls whose weights differ in type or width or that skip a slot,
 * and normed ones whose norm weight does not fit the rows or whose epsilon is negative.
 */
START_TEST(test_matmul_fused_checked)
{
	uint64_t seed = 3;
	void *a = make_weight(HAL_TYPE_Q8_0, 64, 16, &seed), *b = make_weight(HAL_TYPE_Q4_0, 64, 16,
									       &seed);
	void *c = make_weight(HAL_TYPE_Q8_0, 32, 16, &seed);
	float *x = rand_floats(64, &seed, 1.0f), y[48];
	struct hal_tensor wa = tensor("a", HAL_TYPE_Q8_0, 64, 16, a);
	struct hal_tensor wb = tensor("b", HAL_TYPE_Q4_0, 64, 16, b);
	struct hal_tensor wc = tensor("c", HAL_TYPE_Q8_0, 32, 16, c);
	struct hal_tensor tx = tensor("x", HAL_TYPE_F32, 64, 1, x);
	struct hal_tensor ty = tensor("y", HAL_TYPE_F32, 32, 1, y);
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &wa, &tx, &wb }, .dst = &ty };
	char msg[256];

	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_msg(strstr(msg, "second weights"), "%s", msg);
	op.src[2] = &wc;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	op.src[2] = NULL;
	op.src[3] = &wa;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_msg(strstr(msg, "third weights without"), "%s", msg);
	op.src[2] = &wa; /* rows add up to 48, dst has 32 */
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ty.ne[0] = 48;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_OK);
	/* a norm weight of another width, then a negative epsilon */
	float nv[64] = { 0 };
	struct hal_tensor tn = tensor("norm", HAL_TYPE_F32, 32, 1, nv);
	op.src[4] = &tn;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_msg(strstr(msg, "norm weight has 32 elements"), "%s", msg);
	tn.ne[0] = 64;
	op.matmul.eps = -1.0f;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_ERR_INVALID);
	op.matmul.eps = 1e-6f;
	ck_assert_int_eq(hal_op_check(&op, msg, sizeof(msg)), HAL_OK);
	free(a);
	free(b);
	free(c);
	free(x);
}
END_TEST

/*
 * A row's result does not depend on the batch around it (batched decoding, driver/batch.c,
 * relies on it): the rows of a 5-, 9-, 13- and 23-token matmul (tiles of 8 and 4 tokens and
 * single rows; with AMX a 16-token tile and one over the padding) are the bits of each row
 * alone (T = 1, the decode path).
 */
START_TEST(test_rows_independent_of_batch)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16, HAL_TYPE_F32,
					HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	const uint32_t N = 40, Ts[] = { 5, 9, 13, 23 }, T_MAX = 23;

	for (size_t i = 0; i < N_ISA; i++) {
		for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
			const uint32_t K = ty >= 4 ? 256 : 160; /* K-quants: a super-block */
			uint64_t seed = 11;
			void *wd = make_weight(types[ty], K, N, &seed);
			float *x = rand_floats((size_t)K * T_MAX, &seed, 1.0f);
			float *alone[23];

			for (uint32_t t = 0; t < T_MAX; t++)
				alone[t] = matmul_on(isas[i], 2, types[ty], wd, x + (size_t)t * K, K, N, 1);
			for (size_t k = 0; k < sizeof(Ts) / sizeof(Ts[0]) && alone[0]; k++) {
				float *y = matmul_on(isas[i], 2, types[ty], wd, x, K, N, Ts[k]);
				for (uint32_t t = 0; t < Ts[k]; t++)
					ck_assert_msg(!memcmp(y + (size_t)t * N, alone[t], sizeof(float) * N),
						      "%s %s: row %u of %u differs from the row alone",
						      isas[i], hal_type_name(types[ty]), t, Ts[k]);
				free(y);
			}
			for (uint32_t t = 0; t < T_MAX; t++)
				free(alone[t]);
			free(wd);
			free(x);
		}
	}
}
END_TEST

/*
 * The AMX tiles do the AVX-512 path's arithmetic: the same bits, token by token, for every
 * quantized type (Q6_K's two scales a block included).
 */
START_TEST(test_amx_same_bits)
{
	const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_Q4_K, HAL_TYPE_Q5_K,
					HAL_TYPE_Q6_K };
	/*
	 * odd block counts; 34 blocks: two chunks of unpacked B. Tokens past the whole tiles: 37
	 * = 2 tiles + 5 on the VNNI tile; 150 = 9 tiles + 6 and 27 = 1 + 11 in a last AMX tile
	 * over the zero padding. The K-quants' rows are whole super-blocks: 512, 1280 and 256.
	 */
	const uint32_t shapes[][3] = { { 160, 50, 37 }, { 1088, 20, 150 }, { 256, 40, 27 } };
	const uint32_t kq_k[] = { 512, 1280, 256 };

	for (size_t ty = 0; ty < sizeof(types) / sizeof(types[0]); ty++) {
		for (size_t sh = 0; sh < 3; sh++) {
			const uint32_t K = ty >= 2 ? kq_k[sh] : shapes[sh][0];
			const uint32_t N = shapes[sh][1], T = shapes[sh][2];
			uint64_t seed = 11;
			void *wd = make_weight(types[ty], K, N, &seed);
			float *x = rand_floats((size_t)K * T, &seed, 1.0f);
			float *a = matmul_on("amx", 2, types[ty], wd, x, K, N, T);
			float *b = matmul_on("avx512", 2, types[ty], wd, x, K, N, T);

			if (a && b)
				ck_assert_msg(!memcmp(a, b, sizeof(float) * N * T), "%s K %u T %u",
					      hal_type_name(types[ty]), K, T);
			free(a);
			free(b);
			free(wd);
			free(x);
		}
	}
}
END_TEST

/* ---- the other ops ------------------------------------------------------------------------ */

/*
 * 1e-5 relative to max(|want|, floor): floor is the magnitude of the terms that cancelled
 * into want (1 for attention, whose outputs average V rows of values in [-1, 1]).
 */
static void assert_close(const float *got, const float *want, size_t n, const char *what,
			 const char *isa, double floor)
{
	for (size_t i = 0; i < n; i++) {
		double tol = 1e-5 * fmax(fabs((double)want[i]), floor);

		if (got[i] == want[i]) /* infinities too */
			continue;
		ck_assert_msg(fabs((double)got[i] - want[i]) <= tol, "%s %s [%zu]: %.9g vs %.9g",
			      isa, what, i, got[i], want[i]);
	}
}

/* Runs op on both devices with copies of every F32/I32 operand, then compares dst. */
struct op_case {
	struct hal_op op;
	struct hal_tensor t[8];
	int n;
	double floor;
};

static struct hal_tensor *add_t(struct op_case *c, enum hal_type type, uint32_t ne0,
				uint32_t ne1, uint64_t *seed)
{
	struct hal_tensor *t = &c->t[c->n++];
	size_t n = (size_t)ne0 * ne1;

	*t = tensor("t", type, ne0, ne1, rand_floats(n, seed, 1.0f));
	return t;
}

static void clone_case(const struct op_case *src, struct op_case *dst)
{
	*dst = *src;
	for (int i = 0; i < src->n; i++) {
		size_t len = hal_tensor_bytes(&src->t[i]);

		dst->t[i].data = malloc(len);
		memcpy(dst->t[i].data, src->t[i].data, len);
	}
	for (int s = 0; s < HAL_OP_MAX_SRC; s++)
		if (src->op.src[s])
			dst->op.src[s] = &dst->t[src->op.src[s] - src->t];
	dst->op.dst = &dst->t[src->op.dst - src->t];
}

static void free_case(struct op_case *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->t[i].data);
}

static void compare_op(struct op_case *c, const char *what)
{
	for (size_t i = 0; i < N_ISA; i++) {
		for (uint32_t th = 1; th <= 3; th += 2) {
			struct hal_device *fast = fast_dev(isas[i], th), *ref;
			struct op_case a, b;

			if (!fast)
				continue;
			ref = ref_dev();
			clone_case(c, &a);
			clone_case(c, &b);
			run_ok(ref, &a.op);
			run_ok(fast, &b.op);
			/* the caches too: attention writes them */
			for (int k = 0; k < c->n; k++) {
				if (c->t[k].type == HAL_TYPE_F32)
					assert_close(b.t[k].data, a.t[k].data,
						     (size_t)c->t[k].ne[0] * c->t[k].ne[1], what,
						     isas[i], c->floor);
				else /* F16 and Q8_0 caches, positions: the same bytes */
					ck_assert_msg(!memcmp(b.t[k].data, a.t[k].data,
							      hal_tensor_bytes(&c->t[k])),
						      "%s %s: tensor %d differs", isas[i], what, k);
			}
			free_case(&a);
			free_case(&b);
			hal_device_destroy(fast);
			hal_device_destroy(ref);
		}
	}
}

START_TEST(test_rmsnorm)
{
	const uint32_t shapes[][2] = { { 64, 1 }, { 768, 5 }, { 33, 3 } };

	for (size_t s = 0; s < 3; s++) {
		struct op_case c = { .n = 0, .floor = 1e-3 };
		uint64_t seed = 3 + s;
		struct hal_tensor *x = add_t(&c, HAL_TYPE_F32, shapes[s][0], shapes[s][1], &seed);
		struct hal_tensor *w = add_t(&c, HAL_TYPE_F32, shapes[s][0], 1, &seed);
		struct hal_tensor *y = add_t(&c, HAL_TYPE_F32, shapes[s][0], shapes[s][1], &seed);

		c.op = (struct hal_op){ .kind = HAL_OP_RMSNORM, .src = { x, w }, .dst = y,
					.p.rmsnorm.eps = 1e-5f };
		compare_op(&c, "rmsnorm");
		free_case(&c);
	}
}
END_TEST

static struct hal_tensor *positions(struct op_case *c, uint32_t T, int32_t first)
{
	struct hal_tensor *p = &c->t[c->n++];
	int32_t *v = malloc(T * sizeof(int32_t));

	for (uint32_t t = 0; t < T; t++)
		v[t] = first + (int32_t)t;
	*p = tensor("pos", HAL_TYPE_I32, T, 1, v);
	return p;
}

START_TEST(test_rope)
{
	const uint32_t T[] = { 1, 6 };

	for (size_t s = 0; s < 2; s++) {
		struct op_case c = { .n = 0, .floor = 1e-3 };
		uint64_t seed = 9;
		struct hal_tensor *x = add_t(&c, HAL_TYPE_F32, 4 * 32, T[s], &seed);
		struct hal_tensor *p = positions(&c, T[s], 37);

		/* 24 rotated dims: whole 8-wide vectors; 20: a pair-wise tail after them */
		c.op = (struct hal_op){ .kind = HAL_OP_ROPE, .src = { x, p }, .dst = x,
					.p.rope = { 4, 32, s ? 20 : 24, 10000.0f, 1.0f } };
		compare_op(&c, "rope");
		free_case(&c);
	}
}
END_TEST

START_TEST(test_attention)
{
	/*
	 * T = 1 (decode at position 20) and T = 5 (prefill 0..4); GQA 4 heads over 2. Head
	 * sizes 16 (the generic loop), 64 and 128 (kernels with q in registers), with 16-row
	 * batches and leftover rows. A prefill of 37 tokens takes blocks of 16 queries (the
	 * AVX-512 kernel) twice and 5 queries once. Decodes of 37 and 46 rows take the
	 * kernels' batches of 8 or 16 rows and the rows left over. Contexts past one chunk of
	 * rows (ATTN_CHUNK, 64): decodes at 250 and 129 and 3 queries from 198, whose softmax
	 * goes on from chunk to chunk.
	 */
	const uint32_t T[] = { 1, 5, 3, 1, 2, 7, 37, 37, 37, 1, 1, 1, 3 };
	const int32_t first[] = { 20, 0, 61, 36, 61, 9, 0, 27, 0, 45, 250, 129, 198 };
	const uint32_t hds[] = { 16, 16, 16, 64, 64, 128, 64, 16, 64, 128, 64, 16, 128 };

	for (size_t s = 0; s < sizeof(T) / sizeof(T[0]); s++) {
		const uint32_t H = 4, Hkv = 2, hd = hds[s], n_ctx = first[s] + T[s] > 64 ? 256 : 64;
		struct op_case c = { .n = 0, .floor = 1e-3 };
		uint64_t seed = 21 + s;
		struct hal_tensor *q = add_t(&c, HAL_TYPE_F32, H * hd, T[s], &seed);
		struct hal_tensor *k = add_t(&c, HAL_TYPE_F32, Hkv * hd, T[s], &seed);
		struct hal_tensor *v = add_t(&c, HAL_TYPE_F32, Hkv * hd, T[s], &seed);
		struct hal_tensor *kc = add_t(&c, HAL_TYPE_F32, Hkv * hd, n_ctx, &seed);
		struct hal_tensor *vc = add_t(&c, HAL_TYPE_F32, Hkv * hd, n_ctx, &seed);
		struct hal_tensor *p = positions(&c, T[s], first[s]);
		struct hal_tensor *o = add_t(&c, HAL_TYPE_F32, H * hd, T[s], &seed);

		/*
		 * The last case: an infinite V in the batch's last row. Only the query at that
		 * position sees it (its output is inf); the earlier ones stay finite.
		 */
		if (s == 8)
			((float *)v->data)[(size_t)(T[s] - 1) * Hkv * hd + 3] = INFINITY;
		c.floor = 1.0;
		c.op = (struct hal_op){ .kind = HAL_OP_ATTENTION, .src = { q, k, v, kc, vc, p },
					.dst = o, .p.attn = { H, Hkv, hd, 0.25f } };
		compare_op(&c, "attention");
		free_case(&c);
	}
}
END_TEST

/* A cache of type ct from random values in [-1, 1), as attention would have stored them. */
static struct hal_tensor *cache_t(struct op_case *c, enum hal_type ct, uint32_t ne0,
				  uint32_t ne1, uint64_t *seed)
{
	struct hal_tensor *t = &c->t[c->n++];
	float *x = rand_floats((size_t)ne0 * ne1, seed, 1.0f);
	uint8_t *d = malloc(hal_row_bytes(ct, ne0) * ne1);

	for (uint32_t r = 0; r < ne1; r++)
		hal_quantize_row(ct, x + (size_t)r * ne0, d + r * hal_row_bytes(ct, ne0), ne0);
	free(x);
	*t = tensor("cache", ct, ne0, ne1, d);
	return t;
}

/*
 * Attention over F16 and Q8_0 caches: the rows the op stores are the reference's bytes
 * exactly (F16C rounds to nearest even as hal_fp32_to_fp16 does; Q8_0 is quantized by the same
 * code), and the outputs are within the F32 cache's bound (the kernels read the rows as
 * stored, only float order differs). Decode, a prefill in single queries, and prefills of
 * 37 that take the 16-query block kernel over rows converted to F32.
 */
/*
 * An infinite V in the last of an odd number of F16 cache rows gives an infinite output (a
 * kernel taking rows two at a time must not read that row again at weight 0: 0 x inf is NaN),
 * for each kernel set this CPU runs and head sizes with and without their own kernels.
 */
START_TEST(test_cache_values_nonfinite)
{
	const size_t hds[] = { 64, 128, 96 };

	for (size_t i = 0; i < N_ISA; i++) {
		if (!cpu_kernels_by_name(isas[i]))
			continue;
		const struct cpu_ext_kernels *x = cpu_ext_for(isas[i]);

		for (size_t hi = 0; hi < 3; hi++) {
			const size_t hd = hds[hi], n = 3;
			uint16_t v[3 * 128];
			float p[3] = { 0.25f, 0.25f, 0.5f }, acc[128];

			for (size_t r = 0; r < n; r++)
				for (size_t c = 0; c < hd; c++)
					v[r * hd + c] = r == n - 1 && c == 5 ? 0x7c00 /* +inf */
									   : 0x3c00 /* 1 */;
			x->cache_values(HAL_TYPE_F16, acc, p, (const uint8_t *)v, 2 * hd, n, hd);
			ck_assert_msg(isinf(acc[5]) && acc[5] > 0, "%s hd %zu: %g", isas[i], hd,
				      acc[5]);
			ck_assert_msg(fabsf(acc[0] - 1.0f) < 1e-6f, "%s hd %zu: %g", isas[i], hd,
				      acc[0]);
		}
	}
}
END_TEST

START_TEST(test_attention_cache_types)
{
	const enum hal_type cts[] = { HAL_TYPE_F16, HAL_TYPE_Q8_0 };
	const uint32_t T[] = { 1, 5, 37, 37, 1, 1, 2 };
	const int32_t first[] = { 20, 0, 0, 27, 63, 200, 130 };
	const uint32_t hds[] = { 64, 32, 64, 128, 96, 64, 128 };

	for (size_t ci = 0; ci < 2; ci++) {
		for (size_t s = 0; s < sizeof(T) / sizeof(T[0]); s++) {
			const uint32_t H = 4, Hkv = 2, hd = hds[s];
			const uint32_t n_ctx = first[s] + T[s] > 64 ? 256 : 64;
			struct op_case c = { .n = 0, .floor = 1.0 };
			uint64_t seed = 71 + s;
			struct hal_tensor *q = add_t(&c, HAL_TYPE_F32, H * hd, T[s], &seed);
			struct hal_tensor *k = add_t(&c, HAL_TYPE_F32, Hkv * hd, T[s], &seed);
			struct hal_tensor *v = add_t(&c, HAL_TYPE_F32, Hkv * hd, T[s], &seed);
			struct hal_tensor *kc = cache_t(&c, cts[ci], Hkv * hd, n_ctx, &seed);
			struct hal_tensor *vc = cache_t(&c, cts[ci], Hkv * hd, n_ctx, &seed);
			struct hal_tensor *p = positions(&c, T[s], first[s]);
			struct hal_tensor *o = add_t(&c, HAL_TYPE_F32, H * hd, T[s], &seed);

			c.op = (struct hal_op){ .kind = HAL_OP_ATTENTION,
						.src = { q, k, v, kc, vc, p },
						.dst = o, .p.attn = { H, Hkv, hd, 0.125f } };
			compare_op(&c, hal_type_name(cts[ci]));
			free_case(&c);
		}
	}
}
END_TEST

START_TEST(test_elementwise)
{
	const enum hal_op_kind kinds[] = { HAL_OP_SWIGLU, HAL_OP_ADD };

	for (size_t i = 0; i < 2; i++) {
		struct op_case c = { .n = 0, .floor = 1e-3 };
		uint64_t seed = 77;
		/* rows of 2045: the vector kernels' masked tails */
		struct hal_tensor *a = add_t(&c, HAL_TYPE_F32, 2045, 9, &seed);
		struct hal_tensor *b = add_t(&c, HAL_TYPE_F32, 2045, 9, &seed);

		/* silu's far tails: exp over- and underflow */
		((float *)a->data)[0] = -120.0f;
		((float *)a->data)[1] = 95.0f;
		((float *)a->data)[2] = -30.0f;
		c.op = (struct hal_op){ .kind = kinds[i], .src = { a, b }, .dst = a };
		compare_op(&c, kinds[i] == HAL_OP_ADD ? "add" : "swiglu");
		free_case(&c);
	}
}
END_TEST

START_TEST(test_embed_and_ownership)
{
	struct hal_device *fast = fast_dev(NULL, 2), *ref = ref_dev(), *other = ref_dev();
	uint64_t seed = 4;
	void *wd = make_weight(HAL_TYPE_Q8_0, 64, 10, &seed);
	float *y = calloc(64 * 2, sizeof(float)), *yr = calloc(64 * 2, sizeof(float));
	int32_t ids[2] = { 3, 9 };
	struct hal_tensor w = tensor("table", HAL_TYPE_Q8_0, 64, 10, wd);
	struct hal_tensor ti = tensor("ids", HAL_TYPE_I32, 2, 1, ids);
	struct hal_tensor ty = tensor("y", HAL_TYPE_F32, 64, 2, y);
	struct hal_tensor tyr = tensor("yr", HAL_TYPE_F32, 64, 2, yr);
	struct hal_op op = { .kind = HAL_OP_EMBED, .src = { &w, &ti }, .dst = &ty };
	struct hal_op opr = { .kind = HAL_OP_EMBED, .src = { &w, &ti }, .dst = &tyr };

	run_ok(fast, &op);
	run_ok(ref, &opr);
	ck_assert(!memcmp(y, yr, 64 * 2 * sizeof(float)));
	/* a weight another device owns is not ours to run */
	w.owner = other;
	ck_assert(!fast->vt->supports(fast, &op));
	ck_assert_int_eq(fast->vt->run(fast, &op), HAL_ERR_UNSUPPORTED);
	w.owner = NULL;
	/* prepared twice is prepared once; a weight left prepared is freed by destroy */
	ck_assert_int_eq(fast->vt->prepare_weight(fast, &w), HAL_OK);
	void *packed = w.data;
	ck_assert_int_eq(fast->vt->prepare_weight(fast, &w), HAL_OK);
	ck_assert_ptr_eq(w.data, packed);
	ck_assert_ptr_eq(w.owner, fast);
	ck_assert_int_eq(fast->vt->run(fast, &op), HAL_ERR_UNSUPPORTED); /* packed table */
	hal_device_destroy(fast);
	hal_device_destroy(ref);
	hal_device_destroy(other);
	free(wd);
	free(y);
	free(yr);
}
END_TEST

START_TEST(test_bad_isa)
{
	struct hal_device_options o = { 0 };
	struct hal_device *dev = (struct hal_device *)1;
	char err[256] = "";

	setenv("ENPU_CPU_ISA", "mmx", 1);
	ck_assert_int_eq(hal_cpu_fast_create(&o, &dev, err, sizeof(err)), HAL_ERR_DEVICE);
	unsetenv("ENPU_CPU_ISA");
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(err, "mmx"));
}
END_TEST

/* npu-bench's compute ceilings: a rate and an instruction for every kernel set that has one. */
START_TEST(test_compute_ceiling)
{
	for (size_t i = 0; i < N_ISA; i++) {
		struct hal_device *dev = fast_dev(isas[i], 2);
		const char *what = "";

		if (!dev)
			continue;
		const struct cpu_kernels *k = cpu_kernels_by_name(isas[i]);
		double peak = hal_cpu_fast_peak_gmacs(dev, &what);
		double scale = hal_cpu_fast_scale_gmacs(dev);

		if (k->peak_macs) {
			ck_assert_msg(peak > 0 && what && *what, "%s: peak %g", isas[i], peak);
		} else {
			ck_assert(peak == 0 && !what);
		}
		ck_assert_msg(k->scale_macs ? scale > 0 : scale == 0, "%s: scale %g", isas[i], scale);
		hal_device_destroy(dev);
	}
}
END_TEST

/*
 * The default choice is the fastest kernel set this CPU runs (AMX, then AVX-512 VNNI,
 * AVX-VNNI, AVX2, NEON, scalar), and, when set, the one ENPU_EXPECT_ISA names: a run meant
 * for one kernel set (tests/cross/aarch64.sh: neon) fails instead of skipping it where the
 * CPU lacks it.
 */
START_TEST(test_expected_isa)
{
	static const char *const order[] = { "amx", "avx512", "avxvnni", "avx2", "neon", "scalar" };
	const char *want = getenv("ENPU_EXPECT_ISA");
	struct hal_device *dev;

	if (!want) /* a suite run on one kernel set by choice */
		want = getenv("ENPU_CPU_ISA");
	for (size_t i = 0; !want; i++)
		if (cpu_kernels_by_name(order[i]))
			want = order[i];
	dev = fast_dev(NULL, 1);
	ck_assert_str_eq(hal_cpu_fast_isa(dev), want);
	hal_device_destroy(dev);
}
END_TEST

/*
 * ENPU_CPU_OPS_ONLY: the ops alone, on the HAL (tests/cross/aarch64.sh builds them for Arm with
 * a cross compiler and runs them under qemu-user, without the driver's libraries).
 */
#ifndef ENPU_CPU_OPS_ONLY
/* ---- whole model: logits of "cpu" against "cpu-ref" through the public API ---------------- */

/* The model's logits after step tokens; *n_vocab gets their count. */
static float *model_logits(const char *path, const char *device, uint32_t threads,
			   uint32_t step, size_t *n_vocab)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *ctx;
	enpu_model *m;
	enpu_session *s;
	const enpu_token prompt[7] = { 1, 450, 496, 954, 701, 432, 995 }; /* within any vocabulary */
	const float *lg;
	size_t n;
	float *out;

	co.device = device;
	co.n_threads = threads;
	ck_assert_int_eq(enpu_context_create(&co, &ctx), ENPU_OK);
	ck_assert_msg(enpu_model_load(ctx, path, NULL, &m) == ENPU_OK, "%s", enpu_last_error(ctx));
	ck_assert_int_eq(enpu_session_create(m, NULL, &s), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(s, prompt, 7), ENPU_OK);
	for (uint32_t i = 0; i < step; i++) {
		enpu_token t = (enpu_token)(100 + 37 * i); /* fixed tokens: same inputs on both */

		ck_assert_int_eq(enpu_session_eval(s, &t, 1), ENPU_OK);
	}
	ck_assert_int_eq(enpu_session_logits(s, &lg, &n), ENPU_OK);
	out = malloc(n * sizeof(float));
	memcpy(out, lg, n * sizeof(float));
	*n_vocab = n;
	enpu_session_free(s);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	return out;
}

static void compare_model(enum hal_type type, bool tied)
{
	struct mkmodel_params p = mkmodel_default;
	char err[256];
	char *path = strdup(tu_tmp_path(".gguf"));

	p.dim = 128;
	p.layers = 2;
	p.heads = 4;
	p.kv_heads = 2;
	p.ffn = 256;
	p.ctx = 64;
	p.type = type;
	p.tied = tied;
	p.seed = 99;
	p.vocab = NULL; /* the built-in vocabulary: the test needs no ../shared */
	ck_assert_msg(mkmodel_write(&p, path, err, sizeof(err)) == 0, "%s", err);
	for (uint32_t step = 0; step <= 3; step += 3) {
		size_t n;
		float *r = model_logits(path, "cpu-ref", 1, step, &n);
		float *f = model_logits(path, "cpu", 2, step, &n);
		float *f3 = model_logits(path, "cpu", 3, step, &n);
		double dot = 0, nr = 0, nf = 0, maxd = 0, maxr = 0;

		for (size_t i = 0; i < n; i++) {
			dot += (double)r[i] * f[i];
			nr += (double)r[i] * r[i];
			nf += (double)f[i] * f[i];
			maxd = fmax(maxd, fabs((double)r[i] - f[i]));
			maxr = fmax(maxr, fabs((double)r[i]));
		}
		ck_assert_msg(dot / sqrt(nr * nf) >= 0.99999, "%s: cosine %.9f", hal_type_name(type),
			      dot / sqrt(nr * nf));
		/* a flipped activation rounding moves a logit by ~1e-3 of its scale at most */
		ck_assert_msg(maxd <= 2e-3 * maxr, "%s: max |diff| %g of max |logit| %g",
			      hal_type_name(type), maxd, maxr);
		ck_assert(!memcmp(f, f3, n * sizeof(float)));
		free(r);
		free(f);
		free(f3);
	}
	remove(path);
	free(path);
}

START_TEST(test_model_q8)
{
	compare_model(HAL_TYPE_Q8_0, false);
}
END_TEST

START_TEST(test_model_q4_tied)
{
	compare_model(HAL_TYPE_Q4_0, true);
}
END_TEST

START_TEST(test_model_f16)
{
	compare_model(HAL_TYPE_F16, false);
}
END_TEST
#endif

static Suite *cpu_fast_suite(void)
{
	Suite *s = suite_create("cpu_fast");
	TCase *ops = tcase_create("ops");

	tcase_set_timeout(ops, 600);
	tcase_add_test(ops, test_quantize_act_exact);
	tcase_add_test(ops, test_matmul_quant);
	tcase_add_test(ops, test_matmul_float);
	tcase_add_test(ops, test_threads_identical);
	tcase_add_test(ops, test_matmul_fused_same_bits);
	tcase_add_test(ops, test_matmul_fused_checked);
	tcase_add_test(ops, test_matmul_accumulate_same_bits);
	tcase_add_test(ops, test_matmul_normed_same_bits);
	tcase_add_test(ops, test_rows_independent_of_batch);
	tcase_add_test(ops, test_amx_same_bits);
	tcase_add_test(ops, test_rmsnorm);
	tcase_add_test(ops, test_rope);
	tcase_add_test(ops, test_attention);
	tcase_add_test(ops, test_attention_cache_types);
	tcase_add_test(ops, test_cache_values_nonfinite);
	tcase_add_test(ops, test_matmul_kquant);
	tcase_add_test(ops, test_matmul_kquant_extremes);
	tcase_add_test(ops, test_elementwise);
	tcase_add_test(ops, test_embed_and_ownership);
	tcase_add_test(ops, test_bad_isa);
	tcase_add_test(ops, test_expected_isa);
	tcase_add_test(ops, test_compute_ceiling);
	suite_add_tcase(s, ops);
#ifndef ENPU_CPU_OPS_ONLY
	TCase *model = tcase_create("model");

	tcase_set_timeout(model, 600);
	tcase_add_test(model, test_model_q8);
	tcase_add_test(model, test_model_q4_tied);
	tcase_add_test(model, test_model_f16);
	suite_add_tcase(s, model);
#endif
	return s;
}

int main(void)
{
	return tu_run_suite(cpu_fast_suite());
}
