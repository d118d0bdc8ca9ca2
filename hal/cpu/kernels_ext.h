/* SPDX-License-Identifier: MIT */
/*
 * kernels_ext.h - the fast CPU backend's kernels for the formats beside Q8_0/Q4_0 weights
 * and F32 caches: KV caches stored as F16 or Q8_0, and matmuls over llama.cpp's K-quant
 * weights (Q4_K, Q5_K, Q6_K) in their file layout.
 *
 * One table per instruction set, like kernels.h's, kept apart from it so that the matmul
 * kernel sets stay as they are: cpu_ext_for() gives the table that goes with the cpu_kernels
 * the device chose (so ENPU_CPU_ISA picks both): "avx512"/"amx" -> avx512, "avx2"/"avxvnni" ->
 * avx2, anything else -> scalar.
 *
 * KV caches: a cache row of kv_w elements holds every kv head; one head's slice starts at
 * element kvh * hd (F16: 2 bytes an element; Q8_0: 34-byte blocks of 32, hd a multiple of 32).
 * Rows are ld bytes apart.
 *
 * K-quants: a weight row (the file's bytes, any alignment) is first unpacked into the form
 * every kernel set's dot product takes (struct cpu_kq_row): one signed byte per element, the
 * float scale of each group of 4 elements (fsl: each scale of 16 elements 4 times over, so
 * that a vector of int32 sums of 4 products meets its scales in one load) and a float to
 * subtract per 32 (Q4_K and Q5_K store x = d * sc * q - dmin * m per sub-block of 32; Q6_K
 * x = d * sc * (q - 32) per 16). The dot with an activation row quantized to Q8_0 blocks
 * (struct cpu_act) is then, per block b of 32, with fs(e) = fsl[e / 4]:
 *   a.d[b] * (fs(32b) * sum_{i<16} v[i] a[i] + fs(32b+16) * sum_{i>=16} v[i] a[i]
 *             - fm[b] * a.s[b])
 * with exact integer sums: the reference backend's numerics (cpu_ref.c) up to float order.
 */
#ifndef EDGE_NPU_CPU_KERNELS_EXT_H
#define EDGE_NPU_CPU_KERNELS_EXT_H

#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernels.h"

/* A K-quant row unpacked: K elements, K / 4 lane scales, K / 32 mins; 64-byte aligned. */
struct cpu_kq_row {
	int8_t *v;
	float *fsl;
	float *fm;
};

static inline size_t cpu_kq_round64(size_t n)
{
	return (n + 63) / 64 * 64;
}

/* Bytes of scratch an unpacked row of K elements needs: the three arrays, each 64-aligned. */
static inline size_t cpu_kq_row_bytes(uint32_t K)
{
	return cpu_kq_round64(K) + cpu_kq_round64((size_t)K / 4 * sizeof(float)) +
	       cpu_kq_round64((size_t)K / 32 * sizeof(float));
}

/* The three arrays of a row in scratch of cpu_kq_row_bytes(K) bytes, 64-byte aligned. */
static inline struct cpu_kq_row cpu_kq_row_at(void *scratch, uint32_t K)
{
	uint8_t *p = scratch;
	struct cpu_kq_row r = { .v = (int8_t *)p };

	p += cpu_kq_round64(K);
	r.fsl = (float *)p;
	p += cpu_kq_round64((size_t)K / 4 * sizeof(float));
	r.fm = (float *)p;
	return r;
}

struct cpu_ext_kernels {
	const char *isa;
	/*
	 * One query head q (hd floats) against n cache rows of type t (F16 or Q8_0) from k:
	 * p[r] = scale * dot(q, row r); returns the max of p.
	 */
	float (*cache_scores)(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
			      size_t n, size_t hd, float scale, float *p);
	/* acc[i] = sum_r p[r] * v_r[i] over n rows of type t from v. */
	void (*cache_values)(enum hal_type t, float *acc, const float *p, const uint8_t *v,
			     size_t ld, size_t n, size_t hd);
	/* n rows' slices (hd elements each) of type t from src into dst, hd floats apart. */
	void (*cache_load)(enum hal_type t, const uint8_t *src, size_t ld, size_t n, size_t hd,
			   float *dst);
	/* One row of n floats into type t (F16 or Q8_0), as hal_quantize_row does it. */
	void (*cache_store)(enum hal_type t, const float *x, uint8_t *dst, size_t n);
	/* A K-quant row of type t (Q4_K, Q5_K, Q6_K) of K elements into r. */
	void (*kq_unpack)(enum hal_type t, const uint8_t *row, uint32_t K,
			  const struct cpu_kq_row *r);
	/* The dot of an unpacked row with activation row `row` of a (see above). */
	float (*kq_dot)(const struct cpu_kq_row *r, const struct cpu_act *a, uint32_t row);
};

extern const struct cpu_ext_kernels cpu_ext_scalar;
#if defined(__x86_64__)
extern const struct cpu_ext_kernels cpu_ext_avx2;
extern const struct cpu_ext_kernels cpu_ext_avx512;
#endif

/* The table that goes with the matmul kernel set named isa (see above). */
const struct cpu_ext_kernels *cpu_ext_for(const char *isa);

/* Scalar pieces the ISA tables fall back on (ext_scalar.c). */
float cpu_ext_cache_scores_scalar(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				  size_t n, size_t hd, float scale, float *p);
void cpu_ext_cache_values_scalar(enum hal_type t, float *acc, const float *p, const uint8_t *v,
				 size_t ld, size_t n, size_t hd);

#endif
