/* SPDX-License-Identifier: MIT */
/*
 * matmul.cl - dst[T x N] = act[T x K] . W[N x K]^T for Q8_0, Q4_0, F16 and F32 weights.
 *
 * Quantized weights follow the GGUF numerics of the reference backend exactly: activations
 * are first quantized per block of 32 to int8 with a half-rounded scale (quantize_q8_act,
 * the same arithmetic as quantize_row_q8_0), then each block contributes
 * (float)isum * (d_w * d_a) with isum an exact integer dot product. Only the order in which
 * the per-block terms are summed differs from the reference (a work-group tree instead of a
 * left-to-right loop).
 *
 * Layout of the work: one work-group of WG items per weight row n and per TB tokens. The
 * items stride over the row's blocks (consecutive items read consecutive blocks: coalesced on
 * a GPU), and each weight block, once in registers, is multiplied with the blocks of TB
 * tokens: the matrix-matrix case reads the weights T/TB times instead of T times.
 */

#define TB 4

/*
 * On a CPU device (ROW_PER_ITEM=1) a work-group per row costs more in scheduling and barriers
 * than the row's arithmetic: there each work-item computes whole rows alone, without local
 * memory, and the runtime vectorises across work-items. Same per-block terms, summed left to
 * right as the reference does.
 */
#ifndef ROW_PER_ITEM
#define ROW_PER_ITEM 0
#endif
#if ROW_PER_ITEM
#define ROW_ID() get_global_id(0)
#define LANE() 0
#define LANES 1
#define ROW_GUARD(n, N) \
	if ((n) >= (N)) \
		return
#else
#define ROW_ID() get_group_id(0)
#define LANE() get_local_id(0)
#define LANES WG
#define ROW_GUARD(n, N)
#endif

/* One work-item per block of 32 activations: q = round(x / d), d = amax / 127 (as half). */
__kernel void quantize_q8_act(__global const uchar *xb, ulong xoff, uint n_blocks,
			      __global char *aq, __global float *ad)
{
	uint i = get_global_id(0);

	if (i >= n_blocks)
		return;
	__global const float *x = CF32_AT(xb, xoff) + (size_t)i * QK;
	float amax = 0.0f;

	for (int j = 0; j < QK; j++)
		amax = fmax(amax, fabs(x[j]));
	float d = amax / 127.0f;
	float id = d != 0.0f ? 1.0f / d : 0.0f;

	ad[i] = round_to_half(d);
	for (int j = 0; j < QK; j++) {
		float v = round(x[j] * id);

		/* like f32_to_int_trunc: out of int8 range (only NaN/Inf input) gives 0 */
		aq[(size_t)i * QK + j] = (v > -129.0f && v < 128.0f) ? (char)(int)v : (char)0;
	}
}

/* One work-item per activation: the F16 weight path takes activations rounded to half. */
__kernel void round_f16_act(__global const uchar *xb, ulong xoff, uint n, __global half *a16)
{
	uint i = get_global_id(0);

	if (i < n)
		vstore_half_rte(CF32_AT(xb, xoff)[i], i, a16);
}

/* Writes the TB partial sums of this work-item, reduced over the group, to dst. */
inline void store_rows(__local float *red, float acc[TB], __global float *y, uint n, uint N,
		       uint t0, uint T)
{
	for (uint k = 0; k < TB; k++) {
#if ROW_PER_ITEM
		if (t0 + k < T)
			y[(size_t)(t0 + k) * N + n] = acc[k];
#else
		float r = wg_sum(red, acc[k]);

		if (get_local_id(0) == 0 && t0 + k < T)
			y[(size_t)(t0 + k) * N + n] = r;
#endif
	}
}

__kernel void matmul_q8_0(__global const uchar *wb, ulong woff, __global const char *aq,
			  __global const float *ad, __global uchar *yb, ulong yoff, uint K,
			  uint N, uint T)
{
	__local float red[WG];
	uint n = ROW_ID(), t0 = get_group_id(1) * TB;
	uint nb = K / QK;
	__global const uchar *w = wb + woff + (size_t)n * nb * Q8_0_BYTES;
	float acc[TB] = { 0.0f, 0.0f, 0.0f, 0.0f };

	ROW_GUARD(n, N);

	for (uint b = LANE(); b < nb; b += LANES) {
		__global const uchar *blk = w + (size_t)b * Q8_0_BYTES;
		__global const char *wq = (__global const char *)(blk + 2);
		int16 w0 = convert_int16(vload16(0, wq)), w1 = convert_int16(vload16(1, wq));
		float dw = block_scale(blk);

		for (uint k = 0; k < TB && t0 + k < T; k++) {
			size_t ai = (size_t)(t0 + k) * nb + b;
			__global const char *a = aq + ai * QK;
			int isum = dot16(w0, convert_int16(vload16(0, a))) +
				   dot16(w1, convert_int16(vload16(1, a)));

			acc[k] += (float)isum * (dw * ad[ai]);
		}
	}
	store_rows(red, acc, F32_AT(yb, yoff), n, N, t0, T);
}

__kernel void matmul_q4_0(__global const uchar *wb, ulong woff, __global const char *aq,
			  __global const float *ad, __global uchar *yb, ulong yoff, uint K,
			  uint N, uint T)
{
	__local float red[WG];
	uint n = ROW_ID(), t0 = get_group_id(1) * TB;
	uint nb = K / QK;
	__global const uchar *w = wb + woff + (size_t)n * nb * Q4_0_BYTES;
	float acc[TB] = { 0.0f, 0.0f, 0.0f, 0.0f };

	ROW_GUARD(n, N);

	for (uint b = LANE(); b < nb; b += LANES) {
		__global const uchar *blk = w + (size_t)b * Q4_0_BYTES;
		uchar16 qs = vload16(0, blk + 2);
		/* low nibble = element j, high nibble = element j + 16 */
		int16 w0 = convert_int16(qs & (uchar)0x0f) - 8;
		int16 w1 = convert_int16(qs >> (uchar)4) - 8;
		float dw = block_scale(blk);

		for (uint k = 0; k < TB && t0 + k < T; k++) {
			size_t ai = (size_t)(t0 + k) * nb + b;
			__global const char *a = aq + ai * QK;
			int isum = dot16(w0, convert_int16(vload16(0, a))) +
				   dot16(w1, convert_int16(vload16(1, a)));

			acc[k] += (float)isum * (dw * ad[ai]);
		}
	}
	store_rows(red, acc, F32_AT(yb, yoff), n, N, t0, T);
}

/*
 * K-quant weights (type: T_Q4_K, T_Q5_K, T_Q6_K) against Q8_0 activation blocks, as the
 * reference computes them: per block b of 32, the exact integer dots of its two halves of 16
 * with their scales, minus the block's min times the activations' integer sum.
 */
__kernel void matmul_kq(__global const uchar *wb, ulong woff, __global const char *aq,
			__global const float *ad, __global uchar *yb, ulong yoff, uint K, uint N,
			uint T, uint type)
{
	__local float red[WG];
	uint n = ROW_ID(), t0 = get_group_id(1) * TB;
	uint nb = K / QK;
	__global const uchar *w = wb + woff + (size_t)n * (K / QK_K) * kq_block_bytes(type);
	float acc[TB] = { 0.0f, 0.0f, 0.0f, 0.0f };

	ROW_GUARD(n, N);

	for (uint b = LANE(); b < nb; b += LANES) {
		__global const uchar *blk = w + (size_t)(b / 8) * kq_block_bytes(type);
		uint e0 = b % 8 * QK;
		int16 w0, w1;

		for (uint i = 0; i < 16; i++) {
			w0[i] = kq_int(type, blk, e0 + i);
			w1[i] = kq_int(type, blk, e0 + 16 + i);
		}
		float2 s0 = kq_scale_min(type, blk, e0 / 16), s1 = kq_scale_min(type, blk, e0 / 16 + 1);

		for (uint k = 0; k < TB && t0 + k < T; k++) {
			size_t ai = (size_t)(t0 + k) * nb + b;
			__global const char *a = aq + ai * QK;
			int16 a0 = convert_int16(vload16(0, a)), a1 = convert_int16(vload16(1, a));
			int asum = dot16(a0, (int16)1) + dot16(a1, (int16)1);
			float part = s0.x * (float)dot16(w0, a0) + s1.x * (float)dot16(w1, a1);

			acc[k] += ad[ai] * (part - s0.y * (float)asum);
		}
	}
	store_rows(red, acc, F32_AT(yb, yoff), n, N, t0, T);
}

/* Half weights times half-rounded activations: each product is exact in float. */
__kernel void matmul_f16(__global const uchar *wb, ulong woff, __global const half *a16,
			 __global uchar *yb, ulong yoff, uint K, uint N, uint T)
{
	__local float red[WG];
	uint n = ROW_ID(), t0 = get_group_id(1) * TB;
	__global const half *w = (__global const half *)(wb + woff) + (size_t)n * K;
	float acc[TB] = { 0.0f, 0.0f, 0.0f, 0.0f };

	ROW_GUARD(n, N);

	for (uint i = LANE(); i < K; i += LANES) {
		float wv = vload_half(i, w);

		for (uint k = 0; k < TB && t0 + k < T; k++)
			acc[k] += wv * vload_half((size_t)(t0 + k) * K + i, a16);
	}
	store_rows(red, acc, F32_AT(yb, yoff), n, N, t0, T);
}

__kernel void matmul_f32(__global const uchar *wb, ulong woff, __global const uchar *xb,
			 ulong xoff, __global uchar *yb, ulong yoff, uint K, uint N, uint T)
{
	__local float red[WG];
	uint n = ROW_ID(), t0 = get_group_id(1) * TB;
	__global const float *w = CF32_AT(wb, woff) + (size_t)n * K;
	__global const float *x = CF32_AT(xb, xoff);
	float acc[TB] = { 0.0f, 0.0f, 0.0f, 0.0f };

	ROW_GUARD(n, N);

	for (uint i = LANE(); i < K; i += LANES) {
		float wv = w[i];

		for (uint k = 0; k < TB && t0 + k < T; k++)
			acc[k] += wv * x[(size_t)(t0 + k) * K + i];
	}
	store_rows(red, acc, F32_AT(yb, yoff), n, N, t0, T);
}
