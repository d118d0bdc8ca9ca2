/* SPDX-License-Identifier: MIT */
/*
 * common.cl - definitions every kernel of the OpenCL backend shares. OpenCL C 1.2, no
 * extensions: half values are only loaded and stored (vload_half/vstore_half_rte are core),
 * so devices without cl_khr_fp16 run everything.
 *
 * The host builds all kernels as one program with -DWG=<work-group size> (a power of two)
 * and, when the device offers it, -cl-fp32-correctly-rounded-divide-sqrt: the activation
 * quantizer must divide exactly as the reference C code does to produce the same int8 values.
 *
 * Tensors are passed as a byte buffer and a byte offset: HAL tensors are host pointers that
 * the host wraps once per memory range (an arena, a KV cache, a mapped weight), not once per
 * tensor, so the offset cannot be folded into the cl_mem.
 */

/* C evaluates a * b + c with two roundings; so must we, to match the reference. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64
#endif

#define QK 32
#define Q8_0_BYTES 34
#define Q4_0_BYTES 18

/* Tensor types as enum hal_type numbers them (hal.h). */
#define T_F32 0
#define T_F16 1
#define T_Q8_0 2
#define T_Q4_0 3
#define T_Q4_K 5
#define T_Q5_K 6
#define T_Q6_K 7

#define F32_AT(buf, off) ((__global float *)((buf) + (off)))
#define CF32_AT(buf, off) ((__global const float *)((buf) + (off)))

/* The IEEE half scale at the start of a block (blocks are 2-byte aligned: rows are even). */
inline float block_scale(__global const uchar *blk)
{
	return vload_half(0, (__global const half *)blk);
}

/* llama.cpp's K-quants (hal/quant.h): super-blocks of 256 elements. */
#define QK_K 256

inline uint kq_block_bytes(uint type)
{
	return type == T_Q4_K ? 144 : type == T_Q5_K ? 176 : 210;
}

/* Element e's integer of a K-quant block: q (Q4_K, Q5_K) or q - 32 (Q6_K). */
inline int kq_int(uint type, __global const uchar *blk, uint e)
{
	if (type == T_Q6_K) {
		uint h = e / 128, m = e % 128, l = m % 32, g = m / 32;
		int lo = (blk[64 * h + l + 32 * (g & 1)] >> (4 * (g >> 1))) & 15;
		int hi = (blk[QK_K / 2 + 32 * h + l] >> (2 * g)) & 3;

		return (lo | hi << 4) - 32;
	}
	__global const uchar *qs = blk + (type == T_Q5_K ? 16 + QK_K / 8 : 16);
	uchar byte = qs[32 * (e / 64) + e % 32];
	int q = e % 64 < 32 ? byte & 15 : byte >> 4;

	if (type == T_Q5_K && ((blk[16 + e % 32] >> (e / 32)) & 1))
		q += 16;
	return q;
}

/* The scale of elements 16i .. 16i + 15 of a K-quant block and the min of their 32. */
inline float2 kq_scale_min(uint type, __global const uchar *blk, uint i)
{
	if (type == T_Q6_K)
		return (float2)(vload_half(0, (__global const half *)(blk + 208)) *
					 (float)((__global const char *)blk)[192 + i],
				 0.0f);
	uint j = i / 2;
	__global const uchar *q = blk + 4;
	uint sc = j < 4 ? q[j] & 63 : (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
	uint m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);

	return (float2)(block_scale(blk) * (float)sc, block_scale(blk + 2) * (float)m);
}

/* x rounded to half and back, nearest-even: fp16_to_fp32(fp32_to_fp16(x)) of quant.c. */
inline float round_to_half(float x)
{
	ushort h;

	vstore_half_rte(x, 0, (__private half *)&h);
	return vload_half(0, (__private const half *)&h);
}

/* Sum of v over the work-group; every work-item must call it. */
inline float wg_sum(__local float *red, float v)
{
	uint lid = get_local_id(0);
	float r;

	red[lid] = v;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (lid < s)
			red[lid] += red[lid + s];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	r = red[0];
	/* red is reused by the next call: nobody may write it before everyone has read */
	barrier(CLK_LOCAL_MEM_FENCE);
	return r;
}

inline float wg_max(__local float *red, float v)
{
	uint lid = get_local_id(0);
	float r;

	red[lid] = v;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (uint s = WG / 2; s > 0; s >>= 1) {
		if (lid < s)
			red[lid] = fmax(red[lid], red[lid + s]);
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	r = red[0];
	barrier(CLK_LOCAL_MEM_FENCE);
	return r;
}

/* Exact integer dot product of 16 int8 pairs (|result| <= 16 * 128 * 128). */
inline int dot16(int16 a, int16 b)
{
	int16 p = a * b;
	int8 s8 = p.lo + p.hi;
	int4 s4 = s8.lo + s8.hi;
	int2 s2 = s4.lo + s4.hi;

	return s2.x + s2.y;
}
