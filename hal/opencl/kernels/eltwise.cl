/* SPDX-License-Identifier: MIT */
/* eltwise.cl - SwiGLU, add and the embedding lookup: one work-item per element. */

/* act 0: SwiGLU, silu(g) * u; 1: GeGLU, gelu(g) * u (the tanh form). */
__kernel void swiglu(__global const uchar *gb, ulong goff, __global const uchar *ub,
		     ulong uoff, __global uchar *yb, ulong yoff, uint n, uint act)
{
	uint i = get_global_id(0);

	if (i >= n)
		return;
	float g = CF32_AT(gb, goff)[i];
	float a = act ? 0.5f * g * (1.0f + tanh(0.7978845608028654f * g * (1.0f + 0.044715f * g * g)))
		      : g / (1.0f + exp(-g));

	F32_AT(yb, yoff)[i] = a * CF32_AT(ub, uoff)[i];
}

/* In place: y = cap * tanh(y / cap) (Gemma-2's logits). */
__kernel void softcap(__global uchar *yb, ulong yoff, uint n, float cap)
{
	uint i = get_global_id(0);

	if (i < n)
		F32_AT(yb, yoff)[i] = cap * tanh(F32_AT(yb, yoff)[i] / cap);
}

/* b has nb elements: all n of them, or one row added to every row (a bias). */
__kernel void add(__global const uchar *ab, ulong aoff, __global const uchar *bb, ulong boff,
		  __global uchar *yb, ulong yoff, uint n, uint nb)
{
	uint i = get_global_id(0);

	if (i < n)
		F32_AT(yb, yoff)[i] = CF32_AT(ab, aoff)[i] + CF32_AT(bb, boff)[i % nb];
}

/* Element i of row r of a table of type type, decoded as dequantize_row does. */
inline float table_elem(__global const uchar *tab, uint type, uint D, size_t r, uint i)
{
	switch (type) {
	case T_F16:
		return vload_half(r * D + i, (__global const half *)tab);
	case T_Q8_0: {
		__global const uchar *blk = tab + (r * D + i) / QK * Q8_0_BYTES;

		return (float)((__global const char *)blk)[2 + i % QK] * block_scale(blk);
	}
	case T_Q4_0: {
		__global const uchar *blk = tab + (r * D + i) / QK * Q4_0_BYTES;
		uint j = i % QK;
		uchar q = blk[2 + j % (QK / 2)];
		int v = (j < QK / 2 ? (q & 0x0f) : (q >> 4)) - 8;

		return (float)v * block_scale(blk);
	}
	case T_Q4_K:
	case T_Q5_K:
	case T_Q6_K: {
		/* D is a multiple of 256: row r starts at super-block r * D / 256 */
		size_t e = r * D + i;
		__global const uchar *blk = tab + e / QK_K * kq_block_bytes(type);
		float2 sm = kq_scale_min(type, blk, (uint)(e % QK_K) / 16);

		return sm.x * (float)kq_int(type, blk, (uint)(e % QK_K)) - sm.y;
	}
	default:
		return ((__global const float *)tab)[r * D + i];
	}
}

/* Global size (D, T): dst row t = table row ids[t], times scale unless it is 0. */
__kernel void embed(__global const uchar *tb, ulong toff, uint type, __global const uchar *ib,
		    ulong ioff, __global uchar *yb, ulong yoff, uint D, float scale)
{
	uint i = get_global_id(0), t = get_global_id(1);

	if (i >= D)
		return;
	size_t r = (size_t)((__global const int *)(ib + ioff))[t];

	float v = table_elem(tb + toff, type, D, r, i);

	F32_AT(yb, yoff)[(size_t)t * D + i] = scale != 0.0f ? v * scale : v;
}
