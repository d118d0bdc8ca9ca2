/* SPDX-License-Identifier: MIT */
/*
 * test_quant.c - half precision, the Q8_0/Q4_0 block formats and the HAL type tables.
 *
 * fp16 is checked against the compiler's own _Float16 conversions (gcc >= 12 on x86-64),
 * an implementation independent of ours; the quantizers against hand-computed blocks and
 * against error bounds derived below.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "hal/quant.h"
#include "testutil.h"

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static uint16_t f16_bits(_Float16 h)
{
	uint16_t u;

	memcpy(&u, &h, sizeof(u));
	return u;
}

static _Float16 bits_f16(uint16_t u)
{
	_Float16 h;

	memcpy(&h, &u, sizeof(h));
	return h;
}

static bool f16_is_nan(uint16_t h)
{
	return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

/* ---- type tables -------------------------------------------------------------------------- */

START_TEST(test_type_tables)
{
	static const struct {
		enum hal_type type;
		const char *name;
		size_t elems, bytes;
	} want[] = {
		{ HAL_TYPE_F32, "F32", 1, 4 },
		{ HAL_TYPE_F16, "F16", 1, 2 },
		{ HAL_TYPE_Q8_0, "Q8_0", 32, 34 },
		{ HAL_TYPE_Q4_0, "Q4_0", 32, 18 },
		{ HAL_TYPE_I32, "I32", 1, 4 },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_str_eq(hal_type_name(want[i].type), want[i].name);
		ck_assert_uint_eq(hal_type_block_elems(want[i].type), want[i].elems);
		ck_assert_uint_eq(hal_type_block_bytes(want[i].type), want[i].bytes);
		ck_assert_uint_eq(hal_row_bytes(want[i].type, 4096),
				  4096 / want[i].elems * want[i].bytes);
	}
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_Q4_0, 32), 18);
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_F16, 3), 6);
	ck_assert_uint_eq(hal_type_block_bytes(HAL_TYPE_COUNT), 0);
	ck_assert_str_eq(hal_op_name(HAL_OP_MATMUL), "matmul");
	ck_assert_str_eq(hal_op_name(HAL_OP_ATTENTION), "attention");
	for (int k = 0; k < HAL_OP_COUNT; k++)
		ck_assert_ptr_nonnull(hal_op_name((enum hal_op_kind)k));
}
END_TEST

/* ---- fp16 --------------------------------------------------------------------------------- */

/* Every half decodes as the compiler decodes it, and encodes back to itself. */
START_TEST(test_fp16_all_patterns)
{
	for (uint32_t i = 0; i < 65536; i++) {
		uint16_t h = (uint16_t)i;
		float f = hal_fp16_to_fp32(h);
		float want = (float)bits_f16(h);

		if (f16_is_nan(h)) {
			ck_assert_msg(isnan(f), "0x%04x must decode to NaN", h);
			ck_assert_msg(signbit(f) == signbit(want), "0x%04x NaN sign", h);
			ck_assert_msg(f16_is_nan(hal_fp32_to_fp16(f)), "0x%04x NaN must stay NaN",
				      h);
			continue;
		}
		ck_assert_msg(f32_bits(f) == f32_bits(want), "0x%04x decodes to %a, expected %a",
			      h, (double)f, (double)want);
		ck_assert_msg(hal_fp32_to_fp16(f) == h, "0x%04x round trip gives 0x%04x", h,
			      hal_fp32_to_fp16(f));
	}
}
END_TEST

static void check_encode(float f)
{
	uint16_t got = hal_fp32_to_fp16(f);
	uint16_t want = f16_bits((_Float16)f);

	if (isnan(f)) {
		ck_assert_msg(f16_is_nan(got), "NaN 0x%08x encodes to 0x%04x", f32_bits(f), got);
		ck_assert_uint_eq(got & 0x8000, want & 0x8000);
		return;
	}
	ck_assert_msg(got == want, "%a (0x%08x) encodes to 0x%04x, expected 0x%04x", (double)f,
		      f32_bits(f), got, want);
}

START_TEST(test_fp16_encode_edges)
{
	static const float edges[] = {
		0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, -65504.0f, 65519.99f, 65520.0f, -65520.0f,
		65536.0f, 1e10f, INFINITY, -INFINITY, NAN, -NAN,
		0x1p-14f, 0x1p-15f, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.fffffep-26f,
		0x1.8p-24f, 0x1.8p-23f, 0x1.4p-24f, 0x1.ffcp-15f, 0x1.ffep-15f, 0x1.ffdp-15f,
		0x1.002p0f, 0x1.006p0f, 0x1.001p0f, 0x1.003p0f, 0x1.0010p0f, 0x1.00100p0f,
		0x1p-149f, -0x1p-149f, 0x1p-126f, 3.14159265f, 0.1f, 1.0f / 3.0f,
	};

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check_encode(edges[i]);
	/* Signalling and payload NaNs must come out as NaNs, not infinities. */
	check_encode(bits_f32(0x7f800001));
	check_encode(bits_f32(0xff800001));
	check_encode(bits_f32(0x7fc00000));
	check_encode(bits_f32(0x7f801000));
	/* Exhaustive ties: the midpoint of every pair of adjacent finite halves, and around it. */
	for (uint32_t h = 0; h < 0x7c00; h++) {
		float lo = (float)bits_f16((uint16_t)h);
		float hi = h == 0x7bff ? 65536.0f : (float)bits_f16((uint16_t)(h + 1));
		float mid = (lo + hi) / 2; /* exact: halves have 11 significant bits */

		check_encode(mid);
		check_encode(-mid);
		check_encode(nextafterf(mid, 0.0f));
		check_encode(nextafterf(mid, INFINITY));
	}
}
END_TEST

START_TEST(test_fp16_encode_random)
{
	uint64_t rng = 0x1234;

	/* Arbitrary bit patterns: mostly out of range or zero-ish, with every class covered. */
	for (int i = 0; i < 1000000; i++)
		check_encode(bits_f32((uint32_t)tu_rand_u64(&rng)));
	/* Values in the half range, exponents from the subnormals to the top. */
	for (int i = 0; i < 1000000; i++) {
		int e = (int)(tu_rand_u64(&rng) % 42) - 26;

		check_encode(ldexpf(tu_rand_f32(&rng), e));
	}
}
END_TEST

/* ---- Q8_0 --------------------------------------------------------------------------------- */

/*
 * Row 0..31 by hand: amax = 31, d = 31/127 = 0.2440945; as a half, 0.2440945 = 1.9527559 *
 * 2^-3 and 0.9527559 * 1024 = 975.6 rounds to 976: bits (12 << 10) | 976 = 0x33d0 (0.24414).
 * qs[j] = round(j * 127/31) = round(j * 4.0967742).
 */
START_TEST(test_q8_0_known_block)
{
	static const int8_t want_qs[HAL_QK] = {
		0, 4, 8, 12, 16, 20, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61,
		66, 70, 74, 78, 82, 86, 90, 94, 98, 102, 107, 111, 115, 119, 123, 127,
	};
	float x[HAL_QK], y[HAL_QK];
	struct hal_block_q8_0 b;

	for (int j = 0; j < HAL_QK; j++)
		x[j] = (float)j;
	hal_quantize_row_q8_0(x, &b, HAL_QK);
	ck_assert_uint_eq(b.d, 0x33d0);
	for (int j = 0; j < HAL_QK; j++)
		ck_assert_msg(b.qs[j] == want_qs[j], "qs[%d] = %d, expected %d", j, b.qs[j],
			      want_qs[j]);
	/* Negated row: same scale, negated quants. */
	for (int j = 0; j < HAL_QK; j++)
		x[j] = -(float)j;
	hal_quantize_row_q8_0(x, &b, HAL_QK);
	ck_assert_uint_eq(b.d, 0x33d0);
	for (int j = 0; j < HAL_QK; j++)
		ck_assert_int_eq(b.qs[j], -want_qs[j]);
	hal_dequantize_row(HAL_TYPE_Q8_0, &b, y, HAL_QK);
	for (int j = 0; j < HAL_QK; j++)
		ck_assert_float_eq(y[j], -want_qs[j] * 0.244140625f);
}
END_TEST

/*
 * The Q8_0 error bound. With d = amax/127 (float), id = 1/d, q = round(x*id) and the stored
 * scale dh = fp16(d), the decoded value is x' = dh*q, so
 *   |x - x'| <= |x - d*q| + |q|*|d - dh| + (rounding of dh*q)
 * - |x*id - x/d| <= 2 * 2^-24 * 127 (two float roundings on a value <= 127), so
 *   |x/d - q| <= 1/2 + 2^-16 and |x - d*q| <= d * (1/2 + 2^-16);
 * - dh is d rounded to half: |d - dh| <= max(2^-11 * d, 2^-25) (half ulp, normal/subnormal);
 * - dh*q is one float rounding: <= 2^-24 * |x'|.
 * With |q| <= 127 this is about 0.562 * d per element: "d/2" plus the scale's rounding.
 */
static void check_q8_0_block(const float *x)
{
	struct hal_block_q8_0 b;
	float y[HAL_QK], amax = 0.0f;

	hal_quantize_row_q8_0(x, &b, HAL_QK);
	hal_dequantize_row(HAL_TYPE_Q8_0, &b, y, HAL_QK);
	for (int j = 0; j < HAL_QK; j++)
		amax = fmaxf(amax, fabsf(x[j]));

	double d = amax / 127.0f, dh = hal_fp16_to_fp32(b.d);

	ck_assert_msg(fabs(d - dh) <= fmax(0x1p-11 * d, 0x1p-25), "scale %g stored as %g", d, dh);
	for (int j = 0; j < HAL_QK; j++) {
		double err = fabs((double)x[j] - y[j]);
		double bound = d * (0.5 + 0x1p-16) + abs(b.qs[j]) * fabs(d - dh) +
			       0x1p-24 * fabs(y[j]);

		ck_assert_msg(err <= bound, "x[%d] = %a decodes to %a: error %g > %g (d %g)", j,
			      (double)x[j], (double)y[j], err, bound, d);
		ck_assert_msg(err <= 0.5625 * d + 0x1p-18 * d + 127 * 0x1p-25,
			      "x[%d]: error %g over the global bound (d %g)", j, err, d);
	}
}

START_TEST(test_q8_0_error_bound)
{
	uint64_t rng = 7;
	float x[HAL_QK];

	/* Magnitudes from tiny (scale subnormal in half) to large. */
	static const float mags[] = { 1e-6f, 1e-3f, 0.1f, 1.0f, 3.0f, 100.0f, 1000.0f };

	for (size_t m = 0; m < sizeof(mags) / sizeof(mags[0]); m++) {
		for (int it = 0; it < 2000; it++) {
			for (int j = 0; j < HAL_QK; j++)
				x[j] = mags[m] * tu_rand_f32(&rng);
			check_q8_0_block(x);
		}
	}
}
END_TEST

/* ---- Q4_0 --------------------------------------------------------------------------------- */

/*
 * Row 0..31 by hand: max = 31 (largest magnitude, positive), d = 31/-8 = -3.875 exactly:
 * -1.9375 * 2^1, half bits 0x8000 | (16 << 10) | (0.9375 * 1024 = 960) = 0xc3c0.
 * q_j = min(15, trunc(8.5 - j/3.875)); low nibble j, high nibble j + 16.
 */
START_TEST(test_q4_0_known_block)
{
	static const uint8_t want_q[HAL_QK] = {
		8, 8, 7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4,
		4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0,
	};
	float x[HAL_QK], y[HAL_QK];
	struct hal_block_q4_0 b;

	for (int j = 0; j < HAL_QK; j++)
		x[j] = (float)j;
	hal_quantize_row_q4_0(x, &b, HAL_QK);
	ck_assert_uint_eq(b.d, 0xc3c0);
	for (int j = 0; j < HAL_QK / 2; j++)
		ck_assert_msg(b.qs[j] == (want_q[j] | want_q[j + 16] << 4),
			      "qs[%d] = 0x%02x, expected 0x%02x", j, b.qs[j],
			      want_q[j] | want_q[j + 16] << 4);
	hal_dequantize_row(HAL_TYPE_Q4_0, &b, y, HAL_QK);
	for (int j = 0; j < HAL_QK; j++)
		ck_assert_float_eq(y[j], (want_q[j] - 8) * -3.875f);
	/* The max-magnitude element itself is exact: 31 = -8 * d. */
	ck_assert_float_eq(y[31], 31.0f);

	/* Near the opposite extreme, v = x/d = 7.97 rounds to 8, clamped to nibble 15. */
	x[0] = -30.9f;
	hal_quantize_row_q4_0(x, &b, HAL_QK);
	ck_assert_uint_eq(b.d, 0xc3c0);
	ck_assert_uint_eq(b.qs[0] & 0x0f, 15);
	/* Equal magnitudes: the first one found sets the sign of d (ggml's strict <). */
	x[0] = -31.0f;
	hal_quantize_row_q4_0(x, &b, HAL_QK);
	ck_assert_uint_eq(b.d, 0x43c0);
	ck_assert_uint_eq(b.qs[0] & 0x0f, 0);
	ck_assert_uint_eq(b.qs[15] >> 4, 15); /* x[31] = 31 = +8 * d, clamped */
}
END_TEST

/*
 * The Q4_0 error bound. d = max/-8 with |max| = amax, so v = x/d lies in [-8, 8] and the
 * nibble is q = min(15, trunc(x*id + 8.5)) = min(15, round-half-up(v + 8)); decoded
 * x' = dh*(q - 8).
 * - x*id + 8.5 carries at most ~3 float roundings of a value <= 16.5: 2^-18 in all;
 * - for v < 7.5 the nibble is the nearest integer: |v - (q - 8)| <= 1/2 + 2^-18;
 *   for v >= 7.5 (the side opposite max, clamped at 7): |v - 7| <= 1 + 2^-18;
 * - the half scale adds |q - 8| * |d - dh| (<= 8 * max(2^-11 |d|, 2^-25)), and dh*(q-8) one
 *   float rounding.
 * So |x - x'| <= |d|/2 (+ the scale's rounding), or |d| on the clamped side.
 */
static void check_q4_0_block(const float *x)
{
	struct hal_block_q4_0 b;
	float y[HAL_QK], amax = 0.0f, max = 0.0f;

	hal_quantize_row_q4_0(x, &b, HAL_QK);
	hal_dequantize_row(HAL_TYPE_Q4_0, &b, y, HAL_QK);
	for (int j = 0; j < HAL_QK; j++) {
		if (fabsf(x[j]) > amax) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}

	double d = max / -8.0f, dh = hal_fp16_to_fp32(b.d);

	ck_assert_msg(fabs(d - dh) <= fmax(0x1p-11 * fabs(d), 0x1p-25), "scale %g as %g", d, dh);
	for (int j = 0; j < HAL_QK; j++) {
		int q = j < 16 ? (b.qs[j] & 0x0f) : (b.qs[j - 16] >> 4);
		double v = d != 0 ? x[j] / d : 0;
		double err = fabs((double)x[j] - y[j]);
		double half = v < 7.5 ? 0.5 : 1.0;
		double bound = fabs(d) * (half + 0x1p-18) + abs(q - 8) * fabs(d - dh) +
			       0x1p-24 * fabs(y[j]);

		ck_assert_msg(err <= bound, "x[%d] = %a decodes to %a: error %g > %g (d %g)", j,
			      (double)x[j], (double)y[j], err, bound, d);
	}
}

START_TEST(test_q4_0_error_bound)
{
	uint64_t rng = 11;
	float x[HAL_QK];
	static const float mags[] = { 1e-6f, 1e-3f, 0.1f, 1.0f, 3.0f, 100.0f, 1000.0f };

	for (size_t m = 0; m < sizeof(mags) / sizeof(mags[0]); m++) {
		for (int it = 0; it < 2000; it++) {
			for (int j = 0; j < HAL_QK; j++)
				x[j] = mags[m] * tu_rand_f32(&rng);
			/* Sometimes put both extremes in, to exercise the clamp at 15. */
			if (it % 4 == 0)
				x[it % HAL_QK] = -x[(it + 5) % HAL_QK];
			check_q4_0_block(x);
		}
	}
}
END_TEST

/* ---- zero rows and the generic row functions ---------------------------------------------- */

/*
 * Q4_K and Q5_K: a block of arbitrary bytes decodes as ggml's loop reads it: per 64 elements j,
 * the 32 bytes qs[32j/64 ..] give low nibbles to elements j..j+31 with sub-block 2j's scale and
 * min, high nibbles to j+32..j+63 with sub-block 2j+1's; Q5_K's bit u1 = 1 << 2j, u2 = 2 << 2j of
 * qh[l] adds 16. Scales and mins: the 6-bit packing of get_scale_min_k4. A quantized row comes
 * back within half a step (d * sc) of each sub-block.
 */
static void check_k45(enum hal_type t)
{
	const bool q5 = t == HAL_TYPE_Q5_K;
	const size_t bb = q5 ? sizeof(struct hal_block_q5_k) : sizeof(struct hal_block_q4_k);
	uint8_t b[2 * sizeof(struct hal_block_q5_k)];
	uint64_t rng = 7 + q5;
	float got[512];

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)tu_rand_u64(&rng);
	for (int k = 0; k < 2; k++) {
		uint16_t d = hal_fp32_to_fp16(0.01f * (float)(k + 1)), dm = hal_fp32_to_fp16(0.003f);

		memcpy(b + k * bb, &d, 2);
		memcpy(b + k * bb + 2, &dm, 2);
	}
	hal_dequantize_row(t, b, got, 512);
	for (int k = 0; k < 2; k++) {
		const uint8_t *blk = b + k * bb, *sc = blk + 4, *qh = blk + 16;
		const uint8_t *q = blk + (q5 ? 48 : 16);
		const float d = 0.01f * (float)(k + 1);
		uint8_t u1 = 1, u2 = 2;

		for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32, u1 <<= 2, u2 <<= 2) {
			int s[2], m[2];

			for (int h = 0; h < 2; h++) { /* get_scale_min_k4, written out */
				const int jj = is + h;
				s[h] = jj < 4 ? sc[jj] & 63 : (sc[jj + 4] & 0xF) | ((sc[jj - 4] >> 6) << 4);
				m[h] = jj < 4 ? sc[jj + 4] & 63 : (sc[jj + 4] >> 4) | ((sc[jj] >> 6) << 4);
			}
			for (int l = 0; l < 32; l++) {
				const int lo = (q[l] & 0xF) + (q5 && (qh[l] & u1) ? 16 : 0);
				const int hi = (q[l] >> 4) + (q5 && (qh[l] & u2) ? 16 : 0);
				const float dd = hal_fp16_to_fp32(hal_fp32_to_fp16(d));
				const float dmin = hal_fp16_to_fp32(hal_fp32_to_fp16(0.003f));

				ck_assert_float_eq(got[256 * k + j + l], dd * s[0] * lo - dmin * m[0]);
				ck_assert_float_eq(got[256 * k + j + l + 32],
						   dd * s[1] * hi - dmin * m[1]);
			}
		}
	}

	float x[512], back[512];
	for (int i = 0; i < 512; i++)
		x[i] = tu_rand_f32(&rng) * (i < 256 ? 1.0f : 0.001f) + (i % 64 < 32 ? 0.3f : 0);
	hal_quantize_row(t, x, b, 512);
	hal_dequantize_row(t, b, back, 512);
	for (int i = 0; i < 512; i++) {
		const uint8_t *blk = b + (i / 256) * bb;
		uint16_t h;
		uint8_t sc, m;

		memcpy(&h, blk, 2);
		hal_k_scale_min(blk + 4, (i % 256) / 32, &sc, &m);
		const float step = hal_fp16_to_fp32(h) * (float)sc;
		/* half a step, and the min's own rounding to a step of dmin (at most half of it) */
		memcpy(&h, blk + 2, 2);
		const float tol = 0.5f * step + 0.5f * hal_fp16_to_fp32(h) + 1e-6f;
		ck_assert_msg(fabsf(back[i] - x[i]) <= tol, "%s element %d: %g back as %g (tol %g)",
			      hal_type_name(t), i, x[i], back[i], tol);
	}
}

START_TEST(test_q4_k_q5_k_layout_and_error)
{
	check_k45(HAL_TYPE_Q4_K);
	check_k45(HAL_TYPE_Q5_K);
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_Q4_K, 512), 288);
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_Q5_K, 512), 352);
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_Q6_K, 512), 420);
}
END_TEST

/*
 * Q6_K: a block of arbitrary bytes decodes as ggml's loop over the two halves reads it (four
 * values per step: ql low and high nibbles at l and l + 32, qh's four 2-bit fields), and a
 * quantized row comes back within half a step of each sub-block's scale.
 */
START_TEST(test_q6_k_layout_and_error)
{
	struct hal_block_q6_k b[2];
	uint64_t rng = 99;
	float got[512];

	for (size_t i = 0; i < sizeof(b); i++)
		((uint8_t *)b)[i] = (uint8_t)tu_rand_u64(&rng);
	for (int k = 0; k < 2; k++)
		b[k].d = hal_fp32_to_fp16(0.01f * (float)(k + 1));
	hal_dequantize_row_q6_k(b, got, 512);
	for (int k = 0; k < 2; k++) {
		const float d = hal_fp16_to_fp32(b[k].d);
		const float *y = got + 256 * k;

		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = b[k].ql + 64 * h, *qh = b[k].qh + 32 * h;
			const int8_t *sc = b[k].scales + 8 * h;
			for (int l = 0; l < 32; l++) {
				const int is = l / 16;
				const int q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
				const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
				const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				ck_assert_float_eq(y[128 * h + l], d * sc[is] * (float)q1);
				ck_assert_float_eq(y[128 * h + l + 32], d * sc[is + 2] * (float)q2);
				ck_assert_float_eq(y[128 * h + l + 64], d * sc[is + 4] * (float)q3);
				ck_assert_float_eq(y[128 * h + l + 96], d * sc[is + 6] * (float)q4);
			}
		}
	}

	float x[512], back[512];
	for (int i = 0; i < 512; i++)
		x[i] = tu_rand_f32(&rng) * (i < 256 ? 1.0f : 0.001f);
	hal_quantize_row_q6_k(x, b, 512);
	hal_dequantize_row_q6_k(b, back, 512);
	for (int i = 0; i < 512; i++) {
		const int k = i / 256;
		const float step = hal_fp16_to_fp32(b[k].d) * (float)b[k].scales[(i % 256) / 16];
		ck_assert_msg(fabsf(back[i] - x[i]) <= 0.5f * step * 1.0001f + 1e-12f,
			      "element %d: %g back as %g (step %g)", i, x[i], back[i], step);
	}
}
END_TEST

START_TEST(test_zero_rows)
{
	float x[2 * HAL_QK] = { 0 }, y[2 * HAL_QK];
	struct hal_block_q8_0 b8[2];
	struct hal_block_q4_0 b4[2];

	memset(b8, 0x55, sizeof(b8));
	memset(b4, 0x55, sizeof(b4));
	hal_quantize_row_q8_0(x, b8, 2 * HAL_QK);
	hal_quantize_row_q4_0(x, b4, 2 * HAL_QK);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(b8[i].d, 0);
		/* ggml: d = 0 / -8 = -0.0, and id = 0 maps every element to nibble 8. */
		ck_assert_uint_eq(b4[i].d, 0x8000);
		for (int j = 0; j < HAL_QK; j++)
			ck_assert_int_eq(b8[i].qs[j], 0);
		for (int j = 0; j < HAL_QK / 2; j++)
			ck_assert_uint_eq(b4[i].qs[j], 0x88);
	}
	hal_dequantize_row(HAL_TYPE_Q8_0, b8, y, 2 * HAL_QK);
	for (int j = 0; j < 2 * HAL_QK; j++)
		ck_assert(y[j] == 0.0f);
	hal_dequantize_row(HAL_TYPE_Q4_0, b4, y, 2 * HAL_QK);
	for (int j = 0; j < 2 * HAL_QK; j++)
		ck_assert(y[j] == 0.0f);
}
END_TEST

/*
 * hal_quantize_row/hal_dequantize_row agree with the per-type functions, at odd byte offsets
 * too.
 */
START_TEST(test_generic_rows)
{
	enum { N = 4 * HAL_QK };
	uint64_t rng = 3;
	float x[N], y[N], z[N];
	static uint8_t buf[N * 4 + 1];
	struct hal_block_q8_0 b8[N / HAL_QK];
	struct hal_block_q4_0 b4[N / HAL_QK];

	for (int i = 0; i < N; i++)
		x[i] = 4.0f * tu_rand_f32(&rng);

	/* Unaligned destination: rows of model files need not be aligned. */
	hal_quantize_row(HAL_TYPE_F32, x, buf + 1, N);
	hal_dequantize_row(HAL_TYPE_F32, buf + 1, y, N);
	ck_assert_mem_eq(x, y, sizeof(x));

	hal_quantize_row(HAL_TYPE_F16, x, buf + 1, N);
	hal_dequantize_row(HAL_TYPE_F16, buf + 1, y, N);
	for (int i = 0; i < N; i++)
		ck_assert_float_eq(y[i], (float)(_Float16)x[i]);

	hal_quantize_row_q8_0(x, b8, N);
	hal_quantize_row(HAL_TYPE_Q8_0, x, buf + 1, N);
	ck_assert_mem_eq(buf + 1, b8, sizeof(b8));
	hal_dequantize_row(HAL_TYPE_Q8_0, buf + 1, y, N);
	hal_dequantize_row(HAL_TYPE_Q8_0, b8, z, N);
	ck_assert_mem_eq(y, z, sizeof(y));
	for (int i = 0; i < N; i++)
		ck_assert_float_eq(y[i], b8[i / HAL_QK].qs[i % HAL_QK] *
					 hal_fp16_to_fp32(b8[i / HAL_QK].d));

	hal_quantize_row_q4_0(x, b4, N);
	hal_quantize_row(HAL_TYPE_Q4_0, x, buf + 1, N);
	ck_assert_mem_eq(buf + 1, b4, sizeof(b4));
	hal_dequantize_row(HAL_TYPE_Q4_0, buf + 1, y, N);
	hal_dequantize_row(HAL_TYPE_Q4_0, b4, z, N);
	ck_assert_mem_eq(y, z, sizeof(y));
	ck_assert_uint_eq(hal_row_bytes(HAL_TYPE_Q4_0, N), sizeof(b4));
}
END_TEST

static Suite *quant_suite(void)
{
	Suite *s = suite_create("quant");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_type_tables);
	tcase_add_test(tc, test_fp16_all_patterns);
	tcase_add_test(tc, test_fp16_encode_edges);
	tcase_add_test(tc, test_fp16_encode_random);
	tcase_add_test(tc, test_q8_0_known_block);
	tcase_add_test(tc, test_q8_0_error_bound);
	tcase_add_test(tc, test_q4_0_known_block);
	tcase_add_test(tc, test_q4_0_error_bound);
	tcase_add_test(tc, test_q6_k_layout_and_error);
	tcase_add_test(tc, test_q4_k_q5_k_layout_and_error);
	tcase_add_test(tc, test_zero_rows);
	tcase_add_test(tc, test_generic_rows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(quant_suite());
}
