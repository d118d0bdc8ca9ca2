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

/*
 * Whether -mamx-tile -mamx-int8 are on (the AVX-512 files): meson passes them when the
 * compiler takes them and kernels_scalar.c then expects cpu_kernels_amx. gcc and clang spell
 * the macros differently.
 */
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) && \
	(defined(__AMX_INT8__) || defined(__AMXINT8__))
#define ENPU_AMX_ON 1
/*
 * This thread's tiles configured for the quantized matmuls (A: 16 tokens x one 32-byte block;
 * B: 8 x 64 bytes, the block's 16 weight rows; C: 16 x 16 int32; two such sets, tiles 0-2 and
 * 3-5), kept until the kernel set's gemm_done (kernels_avx512.c).
 */
void cpu_amx_config(void);

/*
 * Blocks 0 .. n - 1 of one 16 x 16 output tile through the tiles: MUL(a, b, c, i) multiplies
 * block i into the tile set (a, b, c), SCALE(sums, i) adds block i's sums (16 x 16 int32)
 * into the float accumulators. Blocks alternate between the sets (0, 1, 2) and (3, 4, 5), and
 * each block's sums are stored to cbuf and scaled one step later, so that the next multiply
 * and the store run while the vector unit scales the block before.
 */
#define CPU_AMX_BLOCKS(n, cbuf, MUL, SCALE)						\
	do {										\
		MUL(0, 1, 2, 0);							\
		for (uint32_t i_ = 0; i_ < (n); i_ += 2) {				\
			if (i_ + 1 < (n))						\
				MUL(3, 4, 5, i_ + 1);					\
			_tile_stored(2, (cbuf)[0], 64);					\
			if (i_ > 0)							\
				SCALE((cbuf)[1], i_ - 1);				\
			if (i_ + 1 < (n)) {						\
				if (i_ + 2 < (n))					\
					MUL(0, 1, 2, i_ + 2);				\
				_tile_stored(5, (cbuf)[1], 64);				\
				SCALE((cbuf)[0], i_);					\
			}								\
		}									\
		SCALE((cbuf)[((n) - 1) & 1], (n) - 1);					\
	} while (0)
#endif

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
