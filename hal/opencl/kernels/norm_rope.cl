/* SPDX-License-Identifier: MIT */
/* norm_rope.cl - RMSNorm (one work-group per row) and RoPE (one work-item per pair). */

/*
 * dst[t,:] = x[t,:] * (1 / sqrt(mean(x^2) + eps)) * w. The reference sums the squares in
 * double; a float tree over WG partial sums is within a few ulps of it for any row a model
 * produces (all terms are positive: no cancellation). In place (dst == x) is safe: every
 * element is read for the sum before the barrier inside wg_sum, and written by the item that
 * reads it afterwards.
 */
__kernel void rmsnorm(__global const uchar *xb, ulong xoff, __global const uchar *wb,
		      ulong woff, __global uchar *yb, ulong yoff, uint D, float eps)
{
	__local float red[WG];
	size_t t = get_group_id(0);
	__global const float *x = CF32_AT(xb, xoff) + t * D;
	__global const float *w = CF32_AT(wb, woff);
	__global float *y = F32_AT(yb, yoff) + t * D;
	float s = 0.0f;

	for (uint i = get_local_id(0); i < D; i += WG)
		s += x[i] * x[i];
	s = wg_sum(red, s);
	float mean = s / (float)D;
	float scale = 1.0f / sqrt(mean + eps);

	for (uint i = get_local_id(0); i < D; i += WG)
		y[i] = (x[i] * scale) * w[i];
}

/*
 * llama's "normal" rope on adjacent pairs, or the NeoX one (neox), the angles divided by the
 * frequency factors f when has_ff. Global size (ceil(hd / 2), n_head, T). The angle
 * of pair i is freq_scale * (pos * theta_scale^i) with the power built by i multiplications,
 * as the reference does, so that the angles are bit-identical; theta_scale itself is computed
 * once on the host with the same powf call. Elements past n_rot are copied (dst may differ
 * from x).
 */
__kernel void rope(__global const uchar *xb, ulong xoff, __global const uchar *pb, ulong poff,
		   __global uchar *yb, ulong yoff, uint hd, uint n_rot, float freq_scale,
		   float theta_scale, uint neox, __global const uchar *fb, ulong foff, uint has_ff)
{
	uint i = get_global_id(0), h = get_global_id(1), t = get_global_id(2);
	uint i0 = 2 * i;

	if (i0 >= hd)
		return;
	__global const float *xr = CF32_AT(xb, xoff) + (size_t)t * get_global_size(1) * hd;
	__global float *yr = F32_AT(yb, yoff) + (size_t)t * get_global_size(1) * hd;

	if (i0 + 1 >= hd) { /* odd head_dim: the last element has no partner (and i0 >= n_rot) */
		yr[(size_t)h * hd + i0] = xr[(size_t)h * hd + i0];
		return;
	}
	/*
	 * NeoX: item i < n_rot/2 rotates (x[i], x[i + n_rot/2]) by pair i's angle; the items
	 * past n_rot/2 copy their adjacent elements at or past n_rot, as in the normal mode
	 */
	const bool rot = neox ? i < n_rot / 2 : i0 < n_rot;
	const size_t a = (size_t)h * hd + (neox && rot ? i : i0);
	const size_t b = neox && rot ? a + n_rot / 2 : a + 1;
	float x0 = xr[a], x1 = xr[b];

	if (rot) {
		float theta_base = (float)((__global const int *)(pb + poff))[t];

		for (uint k = 0; k < i; k++)
			theta_base *= theta_scale;
		if (has_ff)
			theta_base /= CF32_AT(fb, foff)[i];
		float theta = freq_scale * theta_base;
		float c = cos(theta), s = sin(theta);
		float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;

		x0 = r0;
		x1 = r1;
	}
	yr[a] = x0;
	yr[b] = x1;
}
