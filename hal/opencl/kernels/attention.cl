/* SPDX-License-Identifier: MIT */
/*
 * attention.cl - causal grouped-query attention over the KV cache, in two kernels enqueued
 * in order: kv_store writes the batch's k and v rows into the caches at their positions, then
 * attention computes each (token, head) with one work-group.
 */

/* Global size (kv_w, T): one item per element of the k and v rows. */
__kernel void kv_store(__global const uchar *kb, ulong koff, __global const uchar *vb,
		       ulong voff, __global uchar *kcb, ulong kcoff, __global uchar *vcb,
		       ulong vcoff, __global const uchar *pb, ulong poff, uint kv_w)
{
	uint i = get_global_id(0), t = get_global_id(1);

	if (i >= kv_w)
		return;
	size_t row = (size_t)((__global const int *)(pb + poff))[t];

	F32_AT(kcb, kcoff)[row * kv_w + i] = CF32_AT(kb, koff)[(size_t)t * kv_w + i];
	F32_AT(vcb, vcoff)[row * kv_w + i] = CF32_AT(vb, voff)[(size_t)t * kv_w + i];
}

/*
 * Global size (WG * n_head, T), one work-group per (head, token). q is staged in local memory
 * (every score reads all of it); the scores of cache rows 0 .. pos[t] go to a global scratch
 * row (n_ctx floats per (token, head): the context may exceed local memory), the softmax
 * normalisation is two group reductions (max, sum), and each item then owns head dimensions
 * i = lid, lid + WG, ... and sums p[j] * V[j][i] over j in order, as the reference does.
 * dst may alias q: each group reads its own q slice before writing the same slice.
 */
__kernel void attention(__global const uchar *qb, ulong qoff, __global const uchar *kcb,
			ulong kcoff, __global const uchar *vcb, ulong vcoff,
			__global const uchar *pb, ulong poff, __global uchar *yb, ulong yoff,
			__global float *scores, uint n_head, uint n_kv, uint hd, uint n_ctx,
			float scale, __local float *qs)
{
	__local float red[WG];
	uint h = get_group_id(0), t = get_group_id(1), lid = get_local_id(0);
	uint last = (uint)((__global const int *)(pb + poff))[t];
	uint kvh = h / (n_head / n_kv);
	size_t kv_w = (size_t)n_kv * hd, q_w = (size_t)n_head * hd;
	__global const float *kc = CF32_AT(kcb, kcoff) + (size_t)kvh * hd;
	__global const float *vc = CF32_AT(vcb, vcoff) + (size_t)kvh * hd;
	__global float *p = scores + ((size_t)t * n_head + h) * n_ctx;
	float mx = -INFINITY, sum = 0.0f;

	for (uint i = lid; i < hd; i += WG)
		qs[i] = CF32_AT(qb, qoff)[t * q_w + (size_t)h * hd + i];
	barrier(CLK_LOCAL_MEM_FENCE);

	for (uint j = lid; j <= last; j += WG) {
		__global const float *k = kc + j * kv_w;
		float dot = 0.0f;

		for (uint i = 0; i < hd; i++)
			dot += qs[i] * k[i];
		p[j] = scale * dot;
		mx = fmax(mx, p[j]);
	}
	mx = wg_max(red, mx);
	for (uint j = lid; j <= last; j += WG) {
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

		for (uint j = 0; j <= last; j++)
			acc += (p[j] * inv) * vc[j * kv_w + i];
		F32_AT(yb, yoff)[t * q_w + (size_t)h * hd + i] = acc;
	}
}
