/* SPDX-License-Identifier: MIT */
/*
 * quant.c - IEEE half precision and the GGUF Q8_0/Q4_0 and K-quant (Q4_K, Q5_K, Q6_K) blocks.
 *
 * The quantizers are ggml's reference C ones (quantize_row_q8_0_ref, quantize_row_q4_0_ref)
 * so that a model quantized here is the model any GGUF runtime would produce. Blocks are
 * read and written through byte pointers with memcpy for the scale: rows of model files are
 * not necessarily 2-byte aligned, and the block structs are.
 */
#include "quant.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

_Static_assert(offsetof(struct hal_block_q8_0, qs) == 2, "Q8_0 scale then quants");
_Static_assert(offsetof(struct hal_block_q4_0, qs) == 2, "Q4_0 scale then quants");

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

float hal_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;

	if (exp == 0x1f) /* Inf, or NaN with its payload (and quiet bit) kept */
		return bits_f32(sign | 0x7f800000 | mant << 13);
	if (exp == 0) {
		/* Zero or subnormal: mant * 2^-24, exact in binary32. */
		float f = (float)mant * 0x1p-24f;

		return sign ? -f : f;
	}
	/* Normal: rebias the exponent from 15 to 127. */
	return bits_f32(sign | (exp + 112) << 23 | mant << 13);
}

/* Shifts m right by shift bits, rounding to nearest, ties to even. */
static uint32_t shift_rne(uint32_t m, unsigned shift)
{
	uint32_t q = m >> shift;
	uint32_t rem = m & ((1u << shift) - 1);
	uint32_t half = 1u << (shift - 1);

	if (rem > half || (rem == half && (q & 1)))
		q++;
	return q;
}

uint16_t hal_fp32_to_fp16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t ax = x & 0x7fffffff;

	if (ax > 0x7f800000) /* NaN: keep the top payload bits, force quiet so it stays NaN */
		return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);
	/* 65520 is halfway between 65504 (odd mantissa) and 2^16: it and above round to Inf. */
	if (ax >= 0x477ff000)
		return sign | 0x7c00;
	if (ax >= 0x38800000) {
		/*
		 * Normal half (>= 2^-14): rebias and drop 13 mantissa bits. A carry out of the
		 * mantissa correctly bumps the exponent (up to 0x7c00 is excluded above).
		 */
		return sign | (uint16_t)shift_rne(ax - 0x38000000, 13);
	}
	/* 2^-25 is the tie between 0 and the smallest subnormal 2^-24: even is 0. */
	if (ax <= 0x33000000)
		return sign;
	/*
	 * Subnormal half: the value in units of 2^-24 is m * 2^(e - 126) for the 24-bit
	 * significand m and biased exponent e in [102, 112], so shift right by 126 - e. Rounding
	 * up from 0x3ff gives 0x400, the smallest normal, as it should.
	 */
	uint32_t e = ax >> 23;
	uint32_t m = (ax & 0x7fffff) | 0x800000;

	return sign | (uint16_t)shift_rne(m, 126 - e);
}

/* float -> int8 truncating like a C cast, without UB for NaN (only non-finite input). */
static int f32_to_int_trunc(float v)
{
	if (!(v > -129.0f && v < 128.0f))
		return 0;
	return (int)v;
}

static void store_scale(uint8_t *block, float d)
{
	uint16_t h = hal_fp32_to_fp16(d);

	memcpy(block, &h, sizeof(h));
}

static float load_scale(const uint8_t *block)
{
	uint16_t h;

	memcpy(&h, block, sizeof(h));
	return hal_fp16_to_fp32(h);
}

/* One Q8_0 block into 34 bytes: d = amax / 127, q = round(x / d). */
static void quantize_block_q8_0(const float *x, uint8_t *out)
{
	float amax = 0.0f;

	for (int j = 0; j < HAL_QK; j++)
		amax = fmaxf(amax, fabsf(x[j]));

	float d = amax / 127.0f;
	float id = d != 0.0f ? 1.0f / d : 0.0f;

	store_scale(out, d);
	for (int j = 0; j < HAL_QK; j++)
		out[2 + j] = (uint8_t)(int8_t)f32_to_int_trunc(roundf(x[j] * id));
}

/*
 * One Q4_0 block into 18 bytes. d = max / -8 with max the signed element of largest
 * magnitude, so that element maps exactly to nibble 0 (-8 * d); the opposite extreme would
 * be +8, which is clamped to 7. (int)(v + 8.5) is round-half-up for v + 8.5 >= 0.
 */
static void quantize_block_q4_0(const float *x, uint8_t *out)
{
	float amax = 0.0f, max = 0.0f;

	for (int j = 0; j < HAL_QK; j++) {
		if (amax < fabsf(x[j])) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}

	float d = max / -8.0f;
	float id = d != 0.0f ? 1.0f / d : 0.0f;

	store_scale(out, d);
	for (int j = 0; j < HAL_QK / 2; j++) {
		int q0 = f32_to_int_trunc(x[j] * id + 8.5f);
		int q1 = f32_to_int_trunc(x[j + HAL_QK / 2] * id + 8.5f);

		/* ggml clamps only at 15; the lower clamp changes nothing for finite input. */
		q0 = q0 > 15 ? 15 : q0 < 0 ? 0 : q0;
		q1 = q1 > 15 ? 15 : q1 < 0 ? 0 : q1;
		out[2 + j] = (uint8_t)(q0 | q1 << 4);
	}
}

static void dequantize_block_q8_0(const uint8_t *in, float *y)
{
	float d = load_scale(in);

	for (int j = 0; j < HAL_QK; j++)
		y[j] = (float)(int8_t)in[2 + j] * d;
}

static void dequantize_block_q4_0(const uint8_t *in, float *y)
{
	float d = load_scale(in);

	for (int j = 0; j < HAL_QK / 2; j++) {
		y[j] = (float)((in[2 + j] & 0x0f) - 8) * d;
		y[j + HAL_QK / 2] = (float)((in[2 + j] >> 4) - 8) * d;
	}
}

void hal_quantize_row_q8_0(const float *x, struct hal_block_q8_0 *y, size_t n)
{
	for (size_t i = 0; i < n / HAL_QK; i++)
		quantize_block_q8_0(x + i * HAL_QK, (uint8_t *)&y[i]);
}

void hal_quantize_row_q4_0(const float *x, struct hal_block_q4_0 *y, size_t n)
{
	for (size_t i = 0; i < n / HAL_QK; i++)
		quantize_block_q4_0(x + i * HAL_QK, (uint8_t *)&y[i]);
}

static void quantize_row_k(enum hal_type type, const float *x, uint8_t *out, size_t n);

void hal_quantize_row(enum hal_type type, const float *x, void *y, size_t n)
{
	uint8_t *out = y;

	switch (type) {
	case HAL_TYPE_F32:
		memcpy(out, x, n * sizeof(float));
		break;
	case HAL_TYPE_F16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h = hal_fp32_to_fp16(x[i]);

			memcpy(out + 2 * i, &h, sizeof(h));
		}
		break;
	case HAL_TYPE_Q8_0:
		for (size_t i = 0; i < n / HAL_QK; i++)
			quantize_block_q8_0(x + i * HAL_QK,
					    out + i * sizeof(struct hal_block_q8_0));
		break;
	case HAL_TYPE_Q4_0:
		for (size_t i = 0; i < n / HAL_QK; i++)
			quantize_block_q4_0(x + i * HAL_QK,
					    out + i * sizeof(struct hal_block_q4_0));
		break;
	case HAL_TYPE_Q4_K:
	case HAL_TYPE_Q5_K:
	case HAL_TYPE_Q6_K:
		quantize_row_k(type, x, out, n);
		break;
	case HAL_TYPE_I32:
	case HAL_TYPE_COUNT:
		break; /* not a float format; the callers check types first */
	}
}

void hal_dequantize_row(enum hal_type type, const void *x, float *y, size_t n)
{
	const uint8_t *in = x;

	switch (type) {
	case HAL_TYPE_F32:
		memcpy(y, in, n * sizeof(float));
		break;
	case HAL_TYPE_F16:
		for (size_t i = 0; i < n; i++) {
			uint16_t h;

			memcpy(&h, in + 2 * i, sizeof(h));
			y[i] = hal_fp16_to_fp32(h);
		}
		break;
	case HAL_TYPE_Q8_0:
		for (size_t i = 0; i < n / HAL_QK; i++)
			dequantize_block_q8_0(in + i * sizeof(struct hal_block_q8_0),
					      y + i * HAL_QK);
		break;
	case HAL_TYPE_Q4_0:
		for (size_t i = 0; i < n / HAL_QK; i++)
			dequantize_block_q4_0(in + i * sizeof(struct hal_block_q4_0),
					      y + i * HAL_QK);
		break;
	case HAL_TYPE_Q4_K:
		hal_dequantize_row_q4_k(in, y, n);
		break;
	case HAL_TYPE_Q5_K:
		hal_dequantize_row_q5_k(in, y, n);
		break;
	case HAL_TYPE_Q6_K:
		hal_dequantize_row_q6_k(in, y, n);
		break;
	case HAL_TYPE_I32:
	case HAL_TYPE_COUNT:
		break;
	}
}

/* ---- Q6_K ------------------------------------------------------------------------------- */

/* Where element e's low nibble and high bits live in a block (see quant.h). */
static inline void q6_k_pos(size_t e, size_t *ql, unsigned *ql_shift, size_t *qh,
			    unsigned *qh_shift)
{
	const size_t h = e / 128, m = e % 128, l = m % 32, g = m / 32;

	*ql = 64 * h + l + 32 * (g & 1);
	*ql_shift = 4 * (unsigned)(g >> 1);
	*qh = 32 * h + l;
	*qh_shift = 2 * (unsigned)g;
}

void hal_dequantize_row_q6_k(const void *x, float *y, size_t n)
{
	/* by bytes: tensors in a file need not be aligned for the struct's 16-bit scale */
	const uint8_t *blk = x;

	for (size_t b = 0; b < n / HAL_QK_K; b++, blk += sizeof(struct hal_block_q6_k)) {
		const uint8_t *ql_b = blk + offsetof(struct hal_block_q6_k, ql);
		const uint8_t *qh_b = blk + offsetof(struct hal_block_q6_k, qh);
		const int8_t *sc = (const int8_t *)(blk + offsetof(struct hal_block_q6_k, scales));
		uint16_t h;

		memcpy(&h, blk + offsetof(struct hal_block_q6_k, d), sizeof(h));
		const float d = hal_fp16_to_fp32(h);
		for (size_t e = 0; e < HAL_QK_K; e++) {
			size_t ql, qh;
			unsigned sl, sh;

			q6_k_pos(e, &ql, &sl, &qh, &sh);
			const int q = ((ql_b[ql] >> sl) & 0xf) | (((qh_b[qh] >> sh) & 3) << 4);
			y[b * HAL_QK_K + e] = d * (float)sc[e / 16] * (float)(q - 32);
		}
	}
}

/*
 * A plain Q6_K quantizer (for generated test models): each sub-block's scale is its
 * max |x| / 31, the block's d the largest of those / 127, each sub-block's integer scale
 * that over d rounded up, and every value rounds to the nearest step of d * scale. ggml's own searches scales more finely; the format is the same.
 */
void hal_quantize_row_q6_k(const float *x, struct hal_block_q6_k *y, size_t n)
{
	for (size_t b = 0; b < n / HAL_QK_K; b++, y++, x += HAL_QK_K) {
		float sub[HAL_QK_K / 16], top = 0;

		for (size_t j = 0; j < HAL_QK_K / 16; j++) {
			float amax = 0;
			for (size_t i = 0; i < 16; i++)
				amax = fmaxf(amax, fabsf(x[16 * j + i]));
			sub[j] = amax / 31;
			top = fmaxf(top, sub[j]);
		}
		const float d = top / 127;
		y->d = hal_fp32_to_fp16(d);
		if (hal_fp16_to_fp32(y->d) < d)
			y->d++; /* the next half up (d >= 0): no sub-block scale above 127 steps */
		const float dq = hal_fp16_to_fp32(y->d);
		memset(y->ql, 0, sizeof(y->ql));
		memset(y->qh, 0, sizeof(y->qh));
		for (size_t j = 0; j < HAL_QK_K / 16; j++)
			/* rounded up, so that no value needs more than 31 steps */
			y->scales[j] = (int8_t)(dq > 0 ? fminf(127, ceilf(sub[j] / dq)) : 0);
		for (size_t e = 0; e < HAL_QK_K; e++) {
			const float step = dq * (float)y->scales[e / 16];
			int q = step > 0 ? (int)roundf(x[e] / step) : 0;
			size_t ql, qh;
			unsigned sl, sh;

			q = (q < -32 ? -32 : q > 31 ? 31 : q) + 32;
			q6_k_pos(e, &ql, &sl, &qh, &sh);
			y->ql[ql] |= (uint8_t)((q & 0xf) << sl);
			y->qh[qh] |= (uint8_t)((q >> 4) << sh);
		}
	}
}

/* ---- Q4_K, Q5_K ------------------------------------------------------------------------- */

/* The 4 low bits of element e of a Q4_K/Q5_K block's qs (see quant.h). */
static inline unsigned k_nibble(const uint8_t *qs, size_t e)
{
	const uint8_t b = qs[32 * (e / 64) + e % 32];

	return e % 64 < 32 ? b & 15u : b >> 4;
}

/* Q4_K and Q5_K: scales at byte 4, then (Q5_K) qh, then qs; fifth: whether qh is there. */
static void dequantize_row_k45(const uint8_t *blk, float *y, size_t n, bool fifth)
{
	const size_t bb = fifth ? sizeof(struct hal_block_q5_k) : sizeof(struct hal_block_q4_k);

	for (size_t b = 0; b < n / HAL_QK_K; b++, blk += bb, y += HAL_QK_K) {
		const uint8_t *sc = blk + 4, *qh = blk + 16;
		const uint8_t *qs = blk + (fifth ? 16 + HAL_QK_K / 8 : 16);
		const float d = load_scale(blk), dmin = load_scale(blk + 2);

		for (int j = 0; j < 8; j++) {
			uint8_t s, m;

			hal_k_scale_min(sc, j, &s, &m);
			const float ds = d * (float)s, dm = dmin * (float)m;
			for (size_t e = 32 * (size_t)j; e < 32 * (size_t)j + 32; e++) {
				unsigned q = k_nibble(qs, e);

				if (fifth && (qh[e % 32] >> (e / 32) & 1))
					q += 16;
				y[e] = ds * (float)q - dm;
			}
		}
	}
}

void hal_dequantize_row_q4_k(const void *x, float *y, size_t n)
{
	dequantize_row_k45(x, y, n, false);
}

void hal_dequantize_row_q5_k(const void *x, float *y, size_t n)
{
	dequantize_row_k45(x, y, n, true);
}

/*
 * A plain asymmetric quantizer: each sub-block of 32 spans [lo, hi] with lo = min(0, min x)
 * (so that x = scale * q - min with a min >= 0, as the format stores it), scale = (hi - lo) /
 * qmax; d and dmin are the largest scale and min over 63, each sub-block's 6-bit scale rounded
 * up (no value then needs more than qmax steps), its min rounded to the nearest step, and each
 * value to the nearest q in 0..qmax.
 */
static void quantize_block_k45(const float *x, uint8_t *blk, bool fifth)
{
	const int qmax = fifth ? 31 : 15;
	float scale[8], mn[8], top_s = 0, top_m = 0;
	uint8_t sc[8], m[8];

	for (int j = 0; j < 8; j++) {
		float lo = 0, hi = -INFINITY;

		for (int i = 0; i < 32; i++) {
			lo = fminf(lo, x[32 * j + i]);
			hi = fmaxf(hi, x[32 * j + i]);
		}
		scale[j] = (hi - lo) / (float)qmax;
		mn[j] = -lo;
		top_s = fmaxf(top_s, scale[j]);
		top_m = fmaxf(top_m, mn[j]);
	}
	uint16_t hd = hal_fp32_to_fp16(top_s / 63), hm = hal_fp32_to_fp16(top_m / 63);

	if (hal_fp16_to_fp32(hd) < top_s / 63)
		hd++; /* the next half up (>= 0): no sub-block scale above 63 steps */
	const float d = hal_fp16_to_fp32(hd), dmin = hal_fp16_to_fp32(hm);

	memset(blk, 0, fifth ? sizeof(struct hal_block_q5_k) : sizeof(struct hal_block_q4_k));
	memcpy(blk, &hd, 2);
	memcpy(blk + 2, &hm, 2);
	for (int j = 0; j < 8; j++) {
		sc[j] = (uint8_t)(d > 0 ? fminf(63, ceilf(scale[j] / d)) : 0);
		m[j] = (uint8_t)(dmin > 0 ? fminf(63, roundf(mn[j] / dmin)) : 0);
	}
	uint8_t *q6 = blk + 4, *qh = blk + 16, *qs = blk + (fifth ? 16 + HAL_QK_K / 8 : 16);

	for (int j = 0; j < 4; j++) {
		q6[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
		q6[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
		q6[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
	}
	for (size_t e = 0; e < HAL_QK_K; e++) {
		const int j = (int)(e / 32);
		const float step = d * (float)sc[j];
		int q = step > 0 ? (int)roundf((x[e] + dmin * (float)m[j]) / step) : 0;

		q = q < 0 ? 0 : q > qmax ? qmax : q;
		qs[32 * (e / 64) + e % 32] |= (uint8_t)((q & 15) << (e % 64 < 32 ? 0 : 4));
		if (fifth && q >= 16)
			qh[e % 32] |= (uint8_t)(1u << (e / 32));
	}
}

void hal_quantize_row_q4_k(const float *x, void *y, size_t n)
{
	for (size_t b = 0; b < n / HAL_QK_K; b++)
		quantize_block_k45(x + b * HAL_QK_K, (uint8_t *)y + b * sizeof(struct hal_block_q4_k),
				   false);
}

void hal_quantize_row_q5_k(const float *x, void *y, size_t n)
{
	for (size_t b = 0; b < n / HAL_QK_K; b++)
		quantize_block_k45(x + b * HAL_QK_K, (uint8_t *)y + b * sizeof(struct hal_block_q5_k),
				   true);
}

/* Any K-quant row into out, which need not be aligned for the block structs. */
static void quantize_row_k(enum hal_type type, const float *x, uint8_t *out, size_t n)
{
	if (type == HAL_TYPE_Q4_K) {
		hal_quantize_row_q4_k(x, out, n);
	} else if (type == HAL_TYPE_Q5_K) {
		hal_quantize_row_q5_k(x, out, n);
	} else {
		for (size_t b = 0; b < n / HAL_QK_K; b++) {
			struct hal_block_q6_k blk;

			hal_quantize_row_q6_k(x + b * HAL_QK_K, &blk, HAL_QK_K);
			memcpy(out + b * sizeof(blk), &blk, sizeof(blk));
		}
	}
}
