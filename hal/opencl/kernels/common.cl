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

#define F32_AT(buf, off) ((__global float *)((buf) + (off)))
#define CF32_AT(buf, off) ((__global const float *)((buf) + (off)))

/* The IEEE half scale at the start of a block (blocks are 2-byte aligned: rows are even). */
inline float block_scale(__global const uchar *blk)
{
	return vload_half(0, (__global const half *)blk);
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
