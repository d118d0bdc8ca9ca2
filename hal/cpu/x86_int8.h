/* SPDX-License-Identifier: MIT */
/*
 * x86_int8.h - the int8 dot's pieces the x86 kernel files share (kernels_<isa>.c for Q8_0 and
 * Q4_0, ext_<isa>.c for the K-quants): an activation word in every 32-bit lane, and the
 * AVX2 files' pair sums of unsigned weights against two such words.
 */
#ifndef EDGE_NPU_CPU_X86_INT8_H
#define EDGE_NPU_CPU_X86_INT8_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* Activation word k, a[4k .. 4k + 3], as one int32. */
static inline int32_t cpu_act_word(const int8_t *a, int k)
{
	int32_t v;

	memcpy(&v, a + 4 * k, sizeof(v));
	return v;
}

/* Activation word k in every lane: the other operand of vpmaddubsw / vpdpbusd. */
static inline __m256i bcast256(const int8_t *a, int k)
{
	return _mm256_set1_epi32(cpu_act_word(a, k));
}

/*
 * Unsigned weights lo (elements 4k .. 4k + 3 of 8 rows) and hi (elements 16 + 4k ..) against
 * activation words k and k + 4: each row's two int16 pair sums (vpmaddubsw, then added).
 */
static inline __m256i pair_sums(__m256i lo, __m256i hi, const int8_t *a, int k)
{
	return _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast256(a, k)),
				_mm256_maddubs_epi16(hi, bcast256(a, k + 4)));
}

#if defined(__AVX512F__)
static inline __m512i bcast512(const int8_t *a, int k)
{
	return _mm512_set1_epi32(cpu_act_word(a, k));
}
#endif

#endif
