/* SPDX-License-Identifier: MIT */
/*
 * attention.cl - causal grouped-query attention over the KV cache, in two kernels enqueued
 * in order: kv_store writes the batch's k and v rows into the caches at their positions, then
 * attention computes each (token, head) with one work-group.
 *
 * The caches are F32, F16 or Q8_0 (ctype, a hal_type number): rows are written rounded or
 * quantized as quant.c does it, and read back element by element through cache_at.
 */

/* Bytes of a cache row of w elements. */
inline size_t cache_row_bytes(uint ctype, size_t w)
{
	return ctype == T_F32 ? 4 * w : ctype == T_F16 ? 2 * w : w / QK * Q8_0_BYTES;
}

/* Element i of cache row r (rows w elements wide), as F32. */
inline float cache_at(__global const uchar *c, uint ctype, size_t w, size_t r, size_t i)
{
	__global const uchar *row = c + r * cache_row_bytes(ctype, w);

	if (ctype == T_F32)
		return ((__global const float *)row)[i];
	if (ctype == T_F16)
		return vload_half(i, (__global const half *)row);
	__global const uchar *blk = row + i / QK * Q8_0_BYTES;

	return block_scale(blk) * (float)(char)blk[2 + i % QK];
}

/*
 * Block i / 32 of row t of x into the Q8_0 cache row r, by the item of its first element:
 * d = amax / 127, q = round(x / d), as quantize_block_q8_0 does.
 */
inline void store_q8_0(__global uchar *c, size_t w, size_t r, __global const float *x, uint i)
{
	__global uchar *blk = c + r * cache_row_bytes(T_Q8_0, w) + i / QK * Q8_0_BYTES;
	float amax = 0.0f;

	for (uint j = 0; j < QK; j++)
		amax = fmax(amax, fabs(x[i + j]));
	float d = amax / 127.0f;
	float id = d != 0.0f ? 1.0f / d : 0.0f;

	vstore_half_rte(d, 0, (__global half *)blk);
	for (uint j = 0; j < QK; j++)
		blk[2 + j] = (uchar)(char)round(x[i + j] * id);
}

/* Element i of row t of x into cache row r. */
inline void cache_put(__global uchar *c, uint ctype, size_t w, size_t r, __global const float *x,
		      uint i)
{
	if (ctype == T_F32)
		((__global float *)(c + r * 4 * w))[i] = x[i];
	else if (ctype == T_F16)
		vstore_half_rte(x[i], i, (__global half *)(c + r * 2 * w));
	else if (i % QK == 0)
		store_q8_0(c, w, r, x, i);
}

/* Global size (kv_w, T): one item per element of the k and v rows. */
__kernel void kv_store(__global const uchar *kb, ulong koff, __global const uchar *vb,
		       ulong voff, __global uchar *kcb, ulong kcoff, __global uchar *vcb,
		       ulong vcoff, __global const uchar *pb, ulong poff, uint kv_w, uint ctype)
{
	uint i = get_global_id(0), t = get_global_id(1);

	if (i >= kv_w)
		return;
	size_t row = (size_t)((__global const int *)(pb + poff))[t];

	cache_put(kcb + kcoff, ctype, kv_w, row, CF32_AT(kb, koff) + (size_t)t * kv_w, i);
	cache_put(vcb + vcoff, ctype, kv_w, row, CF32_AT(vb, voff) + (size_t)t * kv_w, i);
}

/*
 * Global size (WG * n_head, T), one work-group per (head, token). q is staged in local memory
 * (every score reads all of it); the scores of cache rows 0 .. pos[t] go to a global scratch
 * row (n_ctx floats per (token, head): the context may exceed local memory), the softmax
 * normalisation is two group reductions (max, sum), and each item then owns head dimensions
 * i = lid, lid + WG, ... and sums p[j] * V[j][i] over j in order, as the reference does.
 * dst may alias q: each group reads its own q slice before writing the same slice.
 * Gemma-2: softcap > 0 caps each score to softcap * tanh(score / softcap); window > 0 starts
 * the rows at pos[t] + 1 - window.
 */
__kernel void attention(__global const uchar *qb, ulong qoff, __global const uchar *kcb,
			ulong kcoff, __global const uchar *vcb, ulong vcoff,
			__global const uchar *pb, ulong poff, __global uchar *yb, ulong yoff,
			__global float *scores, uint n_head, uint n_kv, uint hd, uint n_ctx,
			float scale, uint ctype, float softcap, uint window, __local float *qs)
{
	__local float red[WG];
	uint h = get_group_id(0), t = get_group_id(1), lid = get_local_id(0);
	uint last = (uint)((__global const int *)(pb + poff))[t];
	uint first = window && last + 1 > window ? last + 1 - window : 0;
	uint kvh = h / (n_head / n_kv);
	size_t kv_w = (size_t)n_kv * hd, q_w = (size_t)n_head * hd;
	__global const uchar *kc = kcb + kcoff, *vc = vcb + vcoff;
	size_t h0 = (size_t)kvh * hd;
	__global float *p = scores + ((size_t)t * n_head + h) * n_ctx;
	float mx = -INFINITY, sum = 0.0f;

	for (uint i = lid; i < hd; i += WG)
		qs[i] = CF32_AT(qb, qoff)[t * q_w + (size_t)h * hd + i];
	barrier(CLK_LOCAL_MEM_FENCE);

	for (uint j = first + lid; j <= last; j += WG) {
		float dot = 0.0f;

		for (uint i = 0; i < hd; i++)
			dot += qs[i] * cache_at(kc, ctype, kv_w, j, h0 + i);
		p[j] = scale * dot;
		if (softcap > 0.0f)
			p[j] = softcap * tanh(p[j] / softcap);
		mx = fmax(mx, p[j]);
	}
	mx = wg_max(red, mx);
	for (uint j = first + lid; j <= last; j += WG) {
		float e = exp(p[j] - mx);

		p[j] = e;
		sum += e;
	}
	sum = wg_sum(red, sum);
	float inv = 1.0f / sum;

	/* the probabilities were written by other items of the group */
	barrier(CLK_GLOBAL_MEM_FENCE);
	for (uint i = lid; i < hd; i += WG) {
		float acc = 0.0f;

		for (uint j = first; j <= last; j++)
			acc += (p[j] * inv) * cache_at(vc, ctype, kv_w, j, h0 + i);
		F32_AT(yb, yoff)[t * q_w + (size_t)h * hd + i] = acc;
	}
}
