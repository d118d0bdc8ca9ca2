/* SPDX-License-Identifier: MIT */
/*
 * ext_scalar.c - the portable kernels of kernels_ext.h (F16/Q8_0 KV caches, K-quant rows) and
 * the choice of the table that goes with a matmul kernel set.
 */
#include "kernels_ext.h"

#include "hal/quant.h"

#include <math.h>
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

/* ---- K-quant rows ------------------------------------------------------------------------- */

/* A Q4_K/Q5_K block's scales and mins as floats: fs (16, each sub-block's twice), fm (8). */
static void k45_scales(const uint8_t *blk, float *fs, float *fm)
{
	const float d = load_half(blk), dmin = load_half(blk + 2);

	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;

		hal_k_scale_min(blk + 4, j, &sc, &m);
		fs[2 * j] = fs[2 * j + 1] = d * (float)sc;
		fm[j] = dmin * (float)m;
	}
}

/* Q6_K's 16 scales (and no mins) of one block. */
static void unpack_q6_k_scales(const uint8_t *blk, float *fs, float *fm)
{
	const float d = load_half(blk + offsetof(struct hal_block_q6_k, d));
	const int8_t *sc = (const int8_t *)(blk + offsetof(struct hal_block_q6_k, scales));

	for (int j = 0; j < 16; j++)
		fs[j] = d * (float)sc[j];
	for (int j = 0; j < 8; j++)
		fm[j] = 0.0f;
}

/* The 16 scales of a block (one per 16 elements) as its 64 lane scales. */
static void kq_lanes(const float *fs, float *fsl)
{
	for (int i = 0; i < 64; i++)
		fsl[i] = fs[i / 4];
}

static void kq_unpack_scalar(enum hal_type t, const uint8_t *row, uint32_t K,
			      const struct cpu_kq_row *r)
{
	const size_t bb = hal_type_block_bytes(t);

	for (uint32_t b = 0; b < K / HAL_QK_K; b++, row += bb) {
		int8_t *v = r->v + (size_t)b * HAL_QK_K;
		float fs[16];

		if (t == HAL_TYPE_Q6_K) {
			unpack_q6_k_scales(row, fs, r->fm + 8 * b);
			kq_lanes(fs, r->fsl + 64 * b);
			const uint8_t *ql = row, *qh = row + HAL_QK_K / 2;

			for (size_t e = 0; e < HAL_QK_K; e++) {
				const size_t h = e / 128, m = e % 128, l = m % 32, g = m / 32;
				const int lo = ql[64 * h + l + 32 * (g & 1)] >> (4 * (g >> 1)) & 15;
				const int hi = qh[32 * h + l] >> (2 * g) & 3;

				v[e] = (int8_t)((lo | hi << 4) - 32);
			}
			continue;
		}
		const bool q5 = t == HAL_TYPE_Q5_K;
		const uint8_t *qh = row + 16, *qs = row + (q5 ? 16 + HAL_QK_K / 8 : 16);

		k45_scales(row, fs, r->fm + 8 * b);
		kq_lanes(fs, r->fsl + 64 * b);
		for (size_t e = 0; e < HAL_QK_K; e++) {
			const uint8_t byte = qs[32 * (e / 64) + e % 32];
			int q = e % 64 < 32 ? byte & 15 : byte >> 4;

			if (q5 && (qh[e % 32] >> (e / 32) & 1))
				q += 16;
			v[e] = (int8_t)q;
		}
	}
}

static float kq_dot_scalar(const struct cpu_kq_row *r, const struct cpu_act *a, uint32_t row)
{
	float sum = 0.0f;

	for (uint32_t b = 0; b < a->nb; b++) {
		const size_t ab = (size_t)row * a->nb + b;
		const int8_t *x = a->qs + ab * CPU_QK, *v = r->v + (size_t)b * CPU_QK;
		int32_t s0 = 0, s1 = 0;

		for (int i = 0; i < 16; i++) {
			s0 += v[i] * x[i];
			s1 += v[16 + i] * x[16 + i];
		}
		sum += a->d[ab] * (r->fsl[8 * b] * (float)s0 + r->fsl[8 * b + 4] * (float)s1 -
				   r->fm[b] * (float)a->s[ab]);
	}
	return sum;
}

const struct cpu_ext_kernels cpu_ext_scalar = {
	.isa = "scalar",
	.cache_scores = cpu_ext_cache_scores_scalar,
	.cache_values = cpu_ext_cache_values_scalar,
	.cache_load = cache_load_scalar,
	.cache_store = cache_store_scalar,
	.kq_unpack = kq_unpack_scalar,
	.kq_dot = kq_dot_scalar,
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
