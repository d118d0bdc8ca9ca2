/* SPDX-License-Identifier: MIT */
/*
 * ext_x86.h - the AVX2 pieces of kernels_ext.h that the AVX-512 table (ext_avx512.c) takes as
 * they are (the cache loads and stores, and the cache kernels for head sizes other than 64
 * and 128), and a helper both files use.
 */
#ifndef EDGE_NPU_CPU_EXT_X86_H
#define EDGE_NPU_CPU_EXT_X86_H

#include "kernels_ext.h"

#include <immintrin.h>
#include <string.h>

/* The F16 at p (a cache row's element, a Q8_0 block's scale) as a float, through F16C. */
static inline float load_half(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return _cvtsh_ss(h);
}

float cpu_ext_avx2_cache_scores(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				size_t n, size_t hd, float scale, float *p);
void cpu_ext_avx2_cache_values(enum hal_type t, float *acc, const float *p, const uint8_t *v,
			       size_t ld, size_t n, size_t hd);
void cpu_ext_avx2_cache_load(enum hal_type t, const uint8_t *src, size_t ld, size_t n,
			     size_t hd, float *dst);
void cpu_ext_avx2_cache_store(enum hal_type t, const float *x, uint8_t *dst, size_t n);

#endif
