/* SPDX-License-Identifier: MIT */
/*
 * kernels_ext.h - the fast CPU backend's kernels for the formats beside Q8_0/Q4_0 weights
 * and F32 caches: KV caches stored as F16 or Q8_0, and matmuls over llama.cpp's K-quant
 * weights (Q4_K, Q5_K, Q6_K), repacked at load.
 *
 * One table per instruction set, like kernels.h's, kept apart from it so that the matmul
 * kernel sets stay as they are: cpu_ext_for() gives the table that goes with the cpu_kernels
 * the device chose (so ENPU_CPU_ISA picks both): "amx" -> amx (avx512's, with the K-quant
 * prefills on AMX tiles), "avx512" -> avx512, "avx2"/"avxvnni" -> avx2, anything else ->
 * scalar.
 *
 * KV caches: a cache row of kv_w elements holds every kv head; one head's slice starts at
 * element kvh * hd (F16: 2 bytes an element; Q8_0: 34-byte blocks of 32, hd a multiple of 32).
 * Rows are ld bytes apart.
 *
 * K-quants: weights are repacked at load (cpu_fast.c) in groups of 16 rows like Q8_0/Q4_0's
 * (kernels.h), so that one vector holds the same 4 elements of 16 rows and an int8 dot product
 * leaves one row's sum in each lane. A group of K elements is K / 256 super-blocks of
 * cpu_kq_sb_bytes(t) bytes, each a header then 8 blocks of 32 elements:
 *   header (CPU_KQ_HDR bytes): the 16 rows' d (half floats) at 0, dmin at 32 (Q4_K, Q5_K),
 *     Q4_K/Q5_K: sub-block j's 6-bit scale of row r at byte 64 + 16j + r, its min at 192 + 16j + r;
 *     Q6_K: half h's (16 elements) signed scale of row r at byte 64 + 16h + r;
 *   block: 256 bytes of low nibbles as Q4_0's packed chunk (byte k*64 + r*4 + i: low nibble
 *     the low 4 bits of element 4k + i, high nibble those of element 16 + 4k + i), then
 *     Q5_K 64 bytes, byte r*4 + i: bit k the fifth bit of element 4k + i, bit 4 + k that of
 *       element 16 + 4k + i;
 *     Q6_K 128 bytes, byte r*4 + i of the first 64: bits 2k, 2k + 1 the top two bits of
 *       element 4k + i; of the second 64, those of element 16 + 4k + i.
 * so that q is 0..15 (Q4_K), 0..31 (Q5_K) or 0..63 (Q6_K) unsigned and the value is
 * d * sc * q - dmin * m (Q4_K, Q5_K: one sc and m per 32) or d * sc * (q - 32) (Q6_K: one sc
 * per 16). A row takes 148, 180 and 212 bytes per 256 elements (the file's 144, 176, 210).
 * Against an activation block b quantized to Q8_0 (struct cpu_act; Q6_K also needs s16, the
 * sums of each half block's quants, Q4_K/Q5_K ds = d * s), with S0, S1 the exact integer sums
 * over the two halves:
 *   Q4_K/Q5_K: a.d[b] * d * (sc * (S0 + S1)) - dmin * m * a.ds[b]
 *   Q6_K:      a.d[b] * d * (sc0 * (S0 - 32 s16[2b]) + sc1 * (S1 - 32 s16[2b + 1]))
 * with the integer products exact: the reference backend's numerics (cpu_ref.c) up to float
 * order.
 */
#ifndef EDGE_NPU_CPU_KERNELS_EXT_H
#define EDGE_NPU_CPU_KERNELS_EXT_H

#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kernels.h"

#define CPU_KQ_HDR 320

/* Bytes of one packed block of 32 elements x 16 rows of type t (a K-quant). */
static inline size_t cpu_kq_block_bytes(enum hal_type t)
{
	return 256 + (t == HAL_TYPE_Q5_K ? 64 : t == HAL_TYPE_Q6_K ? 128 : 0);
}

/* Bytes of one packed super-block (256 elements) of a group of 16 rows. */
static inline size_t cpu_kq_sb_bytes(enum hal_type t)
{
	return CPU_KQ_HDR + 8 * cpu_kq_block_bytes(t);
}

#if defined(__x86_64__)
/*
 * A decode's prefetch (kernels.h's reasons) over a thread's packed K-quant groups, which are
 * contiguous: at block jb of the super-block at hd, the jb-th eighth of the super-block that
 * starts CPU_KQ_PREFETCH_BYTES on, into L2. All of a super-block's lines at once, at its start,
 * streamed 768x32000 GEMVs from DRAM at 23-25 GB/s against Q4_0's 30; an eighth per block at
 * 28-30 (Xeon VM with AMX, 2 threads, 40-48 copies of the matrix cycled so that the 480 MiB L3
 * holds none; 2 KiB ahead: 29-30, 8 KiB: 27; 4 KiB keeps room for a DRAM with more latency).
 * prefetcht1 as asm: gcc 12 deleted this loop of __builtin_prefetch once it knew its bounds
 * (as an empty loop), and with it every K-quant decode prefetch.
 */
#define CPU_KQ_PREFETCH_BYTES 4096

static inline void cpu_kq_prefetch(const uint8_t *hd, size_t sb_bytes, uint32_t jb)
{
	const size_t lines = (sb_bytes / 8 + 63) / 64;
	const uint8_t *p = hd + CPU_KQ_PREFETCH_BYTES + jb * lines * 64;

	for (size_t i = 0; i < lines; i++)
		__asm__ volatile("prefetcht1 %0" : : "m"(p[64 * i]));
}
#endif

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
	/*
	 * A matmul slice over packed K-quant weights of type t (Q4_K, Q5_K, Q6_K): the groups
	 * and tokens of g (g->w: the packed groups, cpu_kq_sb_bytes(t) * K / 256 bytes each).
	 */
	void (*gemm_kq)(enum hal_type t, const struct cpu_gemm_args *g);
};

extern const struct cpu_ext_kernels cpu_ext_scalar;
#if defined(__x86_64__)
extern const struct cpu_ext_kernels cpu_ext_avx2;
extern const struct cpu_ext_kernels cpu_ext_avx512;
#endif
#if defined(__x86_64__) && defined(ENPU_HAVE_AMX)
extern const struct cpu_ext_kernels cpu_ext_amx;
#endif

/* The table that goes with the matmul kernel set named isa (see above). */
const struct cpu_ext_kernels *cpu_ext_for(const char *isa);

/* Scalar pieces the ISA tables fall back on (ext_scalar.c). */
float cpu_ext_cache_scores_scalar(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				  size_t n, size_t hd, float scale, float *p);
void cpu_ext_cache_values_scalar(enum hal_type t, float *acc, const float *p, const uint8_t *v,
				 size_t ld, size_t n, size_t hd);

#endif
