/* SPDX-License-Identifier: MIT */
/*
 * ext_avx512.c - kernels_ext.h with AVX-512 VNNI: the K-quant dot product takes two blocks of
 * 32 per 512-bit vpdpbusd (|w| x sign(a, w), as in ext_avx2.c); the caches, the unpacking and
 * the sum of the mins are the AVX2 table's (ext_x86.h), which gain nothing from wider vectors
 * at a head's 64-128 elements or a row's few super-blocks.
 */
#include "ext_x86.h"

#include <immintrin.h>

/*
 * Per pair of blocks: 16 int32 lanes, each the sum of 4 products, times the lanes' weight
 * scales (one load) and their block's activation scale (lanes 0-7 block b, 8-15 block b + 1).
 */
static inline __m512 pair(const struct cpu_kq_row *r, const int8_t *x, const float *d,
			  uint32_t b, __m512 acc)
{
	const __m512i w = _mm512_load_si512(r->v + (size_t)b * CPU_QK);
	const __m512i y = _mm512_loadu_si512(x + (size_t)b * CPU_QK);
	/* y negated where w < 0 (where w == 0, |w| makes the product 0 anyway) */
	const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(w), _mm512_setzero_si512(),
						y);
	const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sy);
	const __m512 db = _mm512_insertf32x8(_mm512_set1_ps(d[b]), _mm256_set1_ps(d[b + 1]), 1);

	return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
			       _mm512_mul_ps(db, _mm512_load_ps(r->fsl + 8 * (size_t)b)), acc);
}

static float kq_dot_avx512(const struct cpu_kq_row *r, const struct cpu_act *a, uint32_t row)
{
	const int8_t *x = a->qs + (size_t)row * a->nb * CPU_QK;
	const float *d = a->d + (size_t)row * a->nb;
	const int32_t *s = a->s + (size_t)row * a->nb;
	__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();

	/* a K-quant row is 8 blocks of 32 per super-block: nb is a multiple of 4 */
	for (uint32_t b = 0; b < a->nb; b += 4) {
		acc0 = pair(r, x, d, b, acc0);
		acc1 = pair(r, x, d, b + 2, acc1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) -
	       cpu_ext_avx2_kq_mins(r->fm, d, s, a->nb);
}

const struct cpu_ext_kernels cpu_ext_avx512 = {
	.isa = "avx512",
	.cache_scores = cpu_ext_avx2_cache_scores,
	.cache_values = cpu_ext_avx2_cache_values,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.kq_unpack = cpu_ext_avx2_kq_unpack,
	.kq_dot = kq_dot_avx512,
};
