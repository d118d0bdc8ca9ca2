/* SPDX-License-Identifier: MIT */
/*
 * ext_avx512.c - kernels_ext.h with AVX-512 VNNI: the K-quant dot product takes two blocks of
 * 32 per 512-bit vpdpbusd (|w| x sign(a, w), as in ext_avx2.c); the caches and the unpacking
 * are the AVX2 table's (ext_x86.h), which gain nothing from wider vectors at a head's 64-128
 * elements.
 */
#include "ext_x86.h"

#include <immintrin.h>

/*
 * Per pair of blocks: 16 int32 lanes, each the sum of 4 products, so lanes 4i..4i+3 are
 * elements 16i..16i+15 of the 64 and take scale fs[4p + i] times their block's activation
 * scale.
 */
static float kq_dot_avx512(const struct cpu_kq_row *r, const struct cpu_act *a, uint32_t row)
{
	const int8_t *x = a->qs + (size_t)row * a->nb * CPU_QK;
	const float *d = a->d + (size_t)row * a->nb;
	const int32_t *s = a->s + (size_t)row * a->nb;
	const __m512i lane_group = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
	const __m512i lane_block = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
	__m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
	float mins = 0.0f;
	/* a K-quant row is 8 blocks of 32 per super-block: nb is even */
	for (uint32_t b = 0; b < a->nb; b += 2) {
		const __m512i w = _mm512_load_si512(r->v + (size_t)b * CPU_QK);
		const __m512i y = _mm512_loadu_si512(x + (size_t)b * CPU_QK);
		const __m512i aw = _mm512_abs_epi8(w);
		/* y negated where w < 0 (where w == 0, |w| makes the product 0 anyway) */
		const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(w),
							_mm512_setzero_si512(), y);
		const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sy);
		const __m512 fs = _mm512_permutexvar_ps(lane_group,
							_mm512_castps128_ps512(_mm_loadu_ps(
								r->fs + 2 * b)));
		const __m512 db = _mm512_permutexvar_ps(lane_block,
							_mm512_castps128_ps512(_mm_castsi128_ps(
								_mm_loadl_epi64((const __m128i *)(d + b)))));

		acc[(b >> 1) & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(fs, db),
						    acc[(b >> 1) & 1]);
		mins += d[b] * r->fm[b] * (float)s[b] + d[b + 1] * r->fm[b + 1] * (float)s[b + 1];
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1])) - mins;
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
