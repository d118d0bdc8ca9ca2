/* SPDX-License-Identifier: MIT */
/*
 * ext_avx512.c - kernels_ext.h with AVX-512 VNNI: the packed K-quant matmul, one block of 16
 * rows in 8 vectors against NT tokens, vpdpbusd leaving row r's sum in lane r as in
 * kernels_avx512.c; the caches are the AVX2 table's (ext_x86.h), which gain nothing from wider
 * vectors at a head's 64-128 elements.
 */
#include "ext_x86.h"

#include <immintrin.h>
#include <string.h>

#define NT 4

#include "gemm_loop.h"

static inline __m512i bcast(const int8_t *a, int k)
{
	int32_t v;

	memcpy(&v, a + 4 * k, sizeof(v));
	return _mm512_set1_epi32(v);
}

/* x shifted left by s bits (right by -s) in 16-bit lanes: the bits kept never cross a byte. */
static inline __m512i shift(__m512i x, int s)
{
	return s >= 0 ? _mm512_slli_epi16(x, (unsigned)s) : _mm512_srli_epi16(x, (unsigned)-s);
}

/*
 * The unsigned q of one packed block (kernels_ext.h): lo[k] elements 4k + i, hi[k] elements
 * 16 + 4k + i, of the 16 rows.
 */
static inline __attribute__((always_inline)) void
kq_values(const int t, const uint8_t *q, __m512i *lo, __m512i *hi)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		const __m512i v = _mm512_loadu_si512(q + 64 * k);

		lo[k] = _mm512_and_si512(v, m4);
		hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
	}
	if (t == HAL_TYPE_Q5_K) {
		const __m512i x = _mm512_loadu_si512(q + 256), b4 = _mm512_set1_epi8(0x10);

		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			lo[k] = _mm512_or_si512(lo[k], _mm512_and_si512(shift(x, 4 - k), b4));
			hi[k] = _mm512_or_si512(hi[k], _mm512_and_si512(shift(x, -k), b4));
		}
	} else if (t == HAL_TYPE_Q6_K) {
		const __m512i x0 = _mm512_loadu_si512(q + 256), x1 = _mm512_loadu_si512(q + 320);
		const __m512i b45 = _mm512_set1_epi8(0x30);

		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			lo[k] = _mm512_or_si512(lo[k], _mm512_and_si512(shift(x0, 4 - 2 * k), b45));
			hi[k] = _mm512_or_si512(hi[k], _mm512_and_si512(shift(x1, 4 - 2 * k), b45));
		}
	}
}

/* Group rows against tokens t .. t + nt - 1 (t and nt constants after inlining). */
static inline __attribute__((always_inline)) void
tile_kq(const int type, const struct cpu_gemm_args *g, const uint8_t *w, uint32_t t,
	const int nt, float *out)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	const size_t blk_bytes = cpu_kq_block_bytes(type), sb_bytes = cpu_kq_sb_bytes(type);
	__m512 facc[NT];

	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j] = _mm512_setzero_ps();
	for (uint32_t sb = 0; sb < nb / 8; sb++) {
		const uint8_t *h = w + sb * sb_bytes;
		const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
		const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + 32)));

		if (nt == 1) /* a decode streams the weights once: keep them coming (kernels.h) */
			for (size_t o = 0; o < sb_bytes; o += 64)
				__builtin_prefetch(h + CPU_PREFETCH_BYTES + o, 0, CPU_PREFETCH_L2);
		for (uint32_t jb = 0; jb < 8; jb++) {
			const uint32_t b = sb * 8 + jb;
			__m512i lo[4], hi[4], sc0, sc1 = _mm512_setzero_si512();
			__m512 mins = _mm512_setzero_ps();

			kq_values(type, h + CPU_KQ_HDR + jb * blk_bytes, lo, hi);
			if (type == HAL_TYPE_Q6_K) {
				sc0 = _mm512_cvtepi8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 64 + 32 * jb)));
				sc1 = _mm512_cvtepi8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 80 + 32 * jb)));
			} else {
				sc0 = _mm512_cvtepu8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 64 + 16 * jb)));
				mins = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 192 + 16 * jb)))));
			}
			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++) {
				const size_t ai = (size_t)(t + j) * nb + b;
				const int8_t *a = A->qs + ai * CPU_QK;
				__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512(), is;

				if (type == HAL_TYPE_Q6_K) {
					s0 = _mm512_set1_epi32(-32 * A->s16[2 * ai]);
					s1 = _mm512_set1_epi32(-32 * A->s16[2 * ai + 1]);
				}
				#pragma GCC unroll 4
				for (int k = 0; k < 4; k++) {
					s0 = _mm512_dpbusd_epi32(s0, lo[k], bcast(a, k));
					s1 = _mm512_dpbusd_epi32(s1, hi[k], bcast(a, k + 4));
				}
				if (type == HAL_TYPE_Q6_K)
					is = _mm512_add_epi32(_mm512_mullo_epi32(s0, sc0),
							      _mm512_mullo_epi32(s1, sc1));
				else
					is = _mm512_mullo_epi32(_mm512_add_epi32(s0, s1), sc0);
				facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is),
							  _mm512_mul_ps(d, _mm512_set1_ps(A->d[ai])),
							  facc[j]);
				if (type != HAL_TYPE_Q6_K)
					facc[j] = _mm512_fnmadd_ps(
						mins, _mm512_set1_ps(A->d[ai] * (float)A->s[ai]),
						facc[j]);
			}
		}
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		_mm512_storeu_ps(out + 16 * j, facc[j]);
}

static void gemm_kq_avx512(enum hal_type t, const struct cpu_gemm_args *g)
{
	GEMM_KQ_BODY(tile_kq)
}

const struct cpu_ext_kernels cpu_ext_avx512 = {
	.isa = "avx512",
	.cache_scores = cpu_ext_avx2_cache_scores,
	.cache_values = cpu_ext_avx2_cache_values,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.gemm_kq = gemm_kq_avx512,
};
