/* SPDX-License-Identifier: MIT */
/*
 * ext_scalar.c - the portable kernels of kernels_ext.h (F16/Q8_0 KV caches, K-quant rows) and
 * the choice of the table that goes with a matmul kernel set.
 */
#include "kernels_ext.h"

#include "hal/quant.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static float load_half(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return hal_fp16_to_fp32(h);
}

/* dot(q, one head's slice of a cache row of type t), in float. */
static float cache_dot(enum hal_type t, const float *q, const uint8_t *k, size_t hd)
{
	float sum = 0.0f;

	if (t == HAL_TYPE_F16) {
		for (size_t i = 0; i < hd; i++)
			sum += q[i] * load_half(k + 2 * i);
		return sum;
	}
	for (size_t b = 0; b < hd / HAL_QK; b++, k += sizeof(struct hal_block_q8_0)) {
		float part = 0.0f;

		for (size_t i = 0; i < HAL_QK; i++)
			part += q[b * HAL_QK + i] * (float)(int8_t)k[2 + i];
		sum += part * load_half(k);
	}
	return sum;
}

float cpu_ext_cache_scores_scalar(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				  size_t n, size_t hd, float scale, float *p)
{
	float max = -INFINITY;

	for (size_t r = 0; r < n; r++) {
		p[r] = scale * cache_dot(t, q, k + r * ld, hd);
		max = fmaxf(max, p[r]);
	}
	return max;
}

void cpu_ext_cache_values_scalar(enum hal_type t, float *acc, const float *p, const uint8_t *v,
				 size_t ld, size_t n, size_t hd)
{
	memset(acc, 0, hd * sizeof(float));
	for (size_t r = 0; r < n; r++) {
		const uint8_t *row = v + r * ld;

		if (t == HAL_TYPE_F16) {
			for (size_t i = 0; i < hd; i++)
				acc[i] += p[r] * load_half(row + 2 * i);
			continue;
		}
		for (size_t b = 0; b < hd / HAL_QK; b++, row += sizeof(struct hal_block_q8_0)) {
			const float w = p[r] * load_half(row);

			for (size_t i = 0; i < HAL_QK; i++)
				acc[b * HAL_QK + i] += w * (float)(int8_t)row[2 + i];
		}
	}
}

static void cache_load_scalar(enum hal_type t, const uint8_t *src, size_t ld, size_t n,
			      size_t hd, float *dst)
{
	for (size_t r = 0; r < n; r++)
		hal_dequantize_row(t, src + r * ld, dst + r * hd, hd);
}

static void cache_store_scalar(enum hal_type t, const float *x, uint8_t *dst, size_t n)
{
	hal_quantize_row(t, x, dst, n);
}

/* ---- packed K-quant matmul ----------------------------------------------------------------- */

/* Element e (0..31) of row r of a packed block of type t (kernels_ext.h), q unsigned. */
static int kq_q(enum hal_type t, const uint8_t *blk, uint32_t r, uint32_t e)
{
	const uint32_t k = e % 16 / 4, i = e % 4, hi = e >= 16;
	const uint8_t nib = blk[k * 64 + r * 4 + i];
	int q = hi ? nib >> 4 : nib & 15;

	if (t == HAL_TYPE_Q5_K)
		q |= (blk[256 + r * 4 + i] >> (k + 4 * hi) & 1) << 4;
	else if (t == HAL_TYPE_Q6_K)
		q |= (blk[256 + 64 * hi + r * 4 + i] >> (2 * k) & 3) << 4;
	return q;
}

static void gemm_kq_scalar(enum hal_type t, const struct cpu_gemm_args *g)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb, nsb = nb / 8;
	const size_t blk_bytes = cpu_kq_block_bytes(t), sb_bytes = cpu_kq_sb_bytes(t);
	const bool q6 = t == HAL_TYPE_Q6_K;

	for (uint32_t gi = g->g0; gi < g->g1; gi++) {
		const uint8_t *w = g->w + (size_t)gi * nsb * sb_bytes;

		for (uint32_t tk = g->t0; tk < g->t1; tk++) {
			float acc[CPU_GROUP_ROWS] = { 0 };

			for (uint32_t sb = 0; sb < nsb; sb++) {
				const uint8_t *h = w + (size_t)sb * sb_bytes;

				for (uint32_t j = 0; j < 8; j++) {
					const uint8_t *blk = h + CPU_KQ_HDR + j * blk_bytes;
					const size_t ai = (size_t)tk * nb + sb * 8 + j;
					const int8_t *a = A->qs + ai * CPU_QK;

					for (uint32_t r = 0; r < CPU_GROUP_ROWS; r++) {
						const float d = load_half(h + 2 * r);
						int32_t s[2] = { 0, 0 }, isum;

						for (uint32_t e = 0; e < CPU_QK; e++)
							s[e / 16] += kq_q(t, blk, r, e) * a[e];
						if (q6) {
							const int8_t *sc = (const int8_t *)h + 64 + 32 * j;

							isum = sc[r] * (s[0] - 32 * A->s16[2 * ai]) +
							       sc[16 + r] * (s[1] - 32 * A->s16[2 * ai + 1]);
							acc[r] += (float)isum * (d * A->d[ai]);
							continue;
						}
						isum = h[64 + 16 * j + r] * (s[0] + s[1]);
						acc[r] += (float)isum * (d * A->d[ai]);
						acc[r] -= (float)h[192 + 16 * j + r] *
							  (load_half(h + 32 + 2 * r) *
							   (A->d[ai] * (float)A->s[ai]));
					}
				}
			}
			const uint32_t n0 = gi * CPU_GROUP_ROWS;

			for (uint32_t r = 0; r < CPU_GROUP_ROWS && n0 + r < g->n_rows; r++) {
				float *y = g->dst + (size_t)tk * g->ld + n0 + r;

				*y = g->accumulate ? *y + acc[r] : acc[r];
			}
		}
	}
}

const struct cpu_ext_kernels cpu_ext_scalar = {
	.isa = "scalar",
	.cache_scores = cpu_ext_cache_scores_scalar,
	.cache_values = cpu_ext_cache_values_scalar,
	.cache_load = cache_load_scalar,
	.cache_store = cache_store_scalar,
	.gemm_kq = gemm_kq_scalar,
};

const struct cpu_ext_kernels *cpu_ext_for(const char *isa)
{
#if defined(__x86_64__)
	if (!strcmp(isa, "avx512") || !strcmp(isa, "amx"))
		return &cpu_ext_avx512;
	if (!strcmp(isa, "avx2") || !strcmp(isa, "avxvnni"))
		return &cpu_ext_avx2;
#else
	(void)isa; /* Arm64 and others: the scalar kernels for every set */
#endif
	return &cpu_ext_scalar;
}
