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

/* The unsigned q of a packed block of type t (kernels_ext.h): v[r][e], row r, element e. */
static void kq_block_values(enum hal_type t, const uint8_t *blk, uint8_t v[CPU_GROUP_ROWS][CPU_QK])
{
	for (uint32_t k = 0; k < 4; k++) {
		for (uint32_t r = 0; r < CPU_GROUP_ROWS; r++) {
			for (uint32_t i = 0; i < 4; i++) {
				const uint32_t p = r * 4 + i;
				const uint8_t nib = blk[k * 64 + p];
				uint8_t lo = nib & 15, hi = nib >> 4;

				if (t == HAL_TYPE_Q5_K) {
					lo |= (uint8_t)((blk[256 + p] >> k & 1) << 4);
					hi |= (uint8_t)((blk[256 + p] >> (4 + k) & 1) << 4);
				} else if (t == HAL_TYPE_Q6_K) {
					lo |= (uint8_t)((blk[256 + p] >> (2 * k) & 3) << 4);
					hi |= (uint8_t)((blk[320 + p] >> (2 * k) & 3) << 4);
				}
				v[r][4 * k + i] = lo;
				v[r][16 + 4 * k + i] = hi;
			}
		}
	}
}

#define KQ_NT 4 /* tokens per pass over a group: each block's values unpacked once for them */

static void gemm_kq_scalar(enum hal_type t, const struct cpu_gemm_args *g)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb, nsb = nb / 8;
	const size_t blk_bytes = cpu_kq_block_bytes(t), sb_bytes = cpu_kq_sb_bytes(t);
	const bool q6 = t == HAL_TYPE_Q6_K;
	uint8_t v[CPU_GROUP_ROWS][CPU_QK];

	for (uint32_t gi = g->g0; gi < g->g1; gi++) {
		const uint8_t *w = g->w + (size_t)gi * nsb * sb_bytes;

		for (uint32_t t0 = g->t0; t0 < g->t1; t0 += KQ_NT) {
			const uint32_t nt = g->t1 - t0 < KQ_NT ? g->t1 - t0 : KQ_NT;
			float acc[KQ_NT][CPU_GROUP_ROWS] = { { 0 } };

			for (uint32_t sb = 0; sb < nsb; sb++) {
				const uint8_t *h = w + (size_t)sb * sb_bytes;

				for (uint32_t j = 0; j < 8; j++) {
					kq_block_values(t, h + CPU_KQ_HDR + j * blk_bytes, v);
					for (uint32_t tk = 0; tk < nt; tk++) {
						const size_t ai = (size_t)(t0 + tk) * nb + sb * 8 + j;
						const int8_t *a = A->qs + ai * CPU_QK;

						for (uint32_t r = 0; r < CPU_GROUP_ROWS; r++) {
							const float d = load_half(h + 2 * r);
							int32_t s0 = 0, s1 = 0, isum;

							for (uint32_t e = 0; e < 16; e++) {
								s0 += v[r][e] * a[e];
								s1 += v[r][16 + e] * a[16 + e];
							}
							if (q6) {
								const int8_t *sc = (const int8_t *)h + 64 + 32 * j;

								isum = sc[r] * (s0 - 32 * A->s16[2 * ai]) +
								       sc[16 + r] *
									       (s1 - 32 * A->s16[2 * ai + 1]);
								acc[tk][r] += (float)isum * (d * A->d[ai]);
								continue;
							}
							isum = h[64 + 16 * j + r] * (s0 + s1);
							acc[tk][r] += (float)isum * (d * A->d[ai]);
							acc[tk][r] -= (float)h[192 + 16 * j + r] *
								      (load_half(h + 32 + 2 * r) *
								       A->ds[ai]);
						}
					}
				}
			}
			const uint32_t n0 = gi * CPU_GROUP_ROWS;

			for (uint32_t tk = 0; tk < nt; tk++) {
				for (uint32_t r = 0; r < CPU_GROUP_ROWS && n0 + r < g->n_rows; r++) {
					float *y = g->dst + (size_t)(t0 + tk) * g->ld + n0 + r;

					*y = g->accumulate ? *y + acc[tk][r] : acc[tk][r];
				}
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
#if defined(ENPU_HAVE_AMX)
	if (!strcmp(isa, "amx"))
		return &cpu_ext_amx;
#endif
	if (!strcmp(isa, "avx512") || !strcmp(isa, "amx"))
		return &cpu_ext_avx512;
	if (!strcmp(isa, "avx2") || !strcmp(isa, "avxvnni"))
		return &cpu_ext_avx2;
#else
	(void)isa; /* Arm64 and others: the scalar kernels for every set */
#endif
	return &cpu_ext_scalar;
}
