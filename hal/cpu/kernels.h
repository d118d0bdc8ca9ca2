/* SPDX-License-Identifier: MIT */
/*
 * kernels.h - the per-ISA kernels of the fast CPU backend (cpu_fast.c) and the table that
 * dispatches them at run time.
 *
 * Every ISA file (kernels_scalar.c, kernels_avx2.c, kernels_avx512.c, kernels_neon.c) fills one
 * struct cpu_kernels (kernels_avx2.c two: avx2 and, built with -mavxvnni, avxvnni);
 * cpu_kernels_select() picks the best one the CPU supports, or the one named by ENPU_CPU_ISA
 * (scalar, avx2, avxvnni, avx512, amx, neon) so that tests can run every compiled path.
 *
 * Quantized weights are repacked by the device at load time into groups of CPU_GROUP_ROWS
 * rows ("packed layout", same byte count as the file's plus at most one group of padding):
 *
 *   group g = rows [16g, 16g + 16), nb = K / 32 blocks per row:
 *     quants: nb chunks, chunk b = the 16 rows' block b, interleaved by 4 bytes:
 *       Q8_0: 8 x 64 bytes, byte k*64 + r*4 + i = (w[r][32b + 4k + i] ^ 0x80) (unsigned)
 *       Q4_0: 4 x 64 bytes, byte m*64 + r*4 + i = qs byte 4m + i of row r's block b
 *             (low nibble element 4m + i, high nibble element 16 + 4m + i)
 *     scales: nb x 16 half floats, scale b*16 + r of row r's block b
 *
 * so that one 64-byte vector holds the same 4 elements of 16 rows and an int8 dot product
 * instruction (vpdpbusd: unsigned x signed bytes) leaves one row's partial sum in each lane,
 * with no horizontal reduction. Both stored forms are unsigned: the dot product with an
 * activation block a is sum(u * a) - bias * sum(a), bias 128 for Q8_0 and 8 for Q4_0, which
 * is the reference integer sum exactly; sum(a) is computed once when activations are
 * quantized.
 */
#ifndef EDGE_NPU_CPU_KERNELS_H
#define EDGE_NPU_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_GROUP_ROWS 16
#define CPU_QK 32

/* Bytes of one packed block of 16 rows: quants then (elsewhere) 16 half scales. */
#define CPU_Q8_CHUNK (CPU_GROUP_ROWS * CPU_QK)
#define CPU_Q4_CHUNK (CPU_GROUP_ROWS * CPU_QK / 2)

/*
 * Activations quantized per block of 32 exactly as hal_quantize_row_q8_0 does (same ints, same
 * half-rounded scale), stored as separate arrays for the kernels: row t, block b at
 * qs[(t * nb + b) * 32], d[t * nb + b], s[t * nb + b] = sum of the 32 quants (and d again by
 * block, dt, for the AMX tiles' scaling of 16 tokens at once).
 */
struct cpu_act {
	int8_t *qs;
	float *d;
	int32_t *s;
	float *dt;       /* d by block: dt[b * n_rows + t] = d[t * nb + b] */
	/*
	 * For K-quant weights (kernels_ext.h), else NULL: s16[2 (t * nb + b) + h] the sum of half
	 * h (Q6_K's bias; |sum| <= 16 x 128, so two make the int16 pair AVX2 broadcasts as one
	 * word), ds[t * nb + b] = d * s (Q4_K/Q5_K's minimums), once per activation rather than
	 * once per weight row group.
	 */
	int16_t *s16;
	float *ds;
	uint32_t nb;     /* blocks per row */
	/*
	 * Rows stored: the tokens, then zero rows up to the ISA's pad_rows multiple (so that a
	 * matrix unit may load a whole tile past the last token). A gemm's t1 is the tokens.
	 */
	uint32_t n_rows;
};

/*
 * A slice of a packed matmul: weight groups [g0, g1), activation rows [t0, t1), results into
 * dst[t * ld + n] for rows n < n_rows only (the last group may be padding).
 */
struct cpu_gemm_args {
	const uint8_t *w; /* packed weights */
	const struct cpu_act *a;
	float *dst;
	size_t ld;
	uint32_t n_rows;
	uint32_t g0, g1, t0, t1;
	bool accumulate; /* dst += the results (hal.h's accumulating MATMUL) instead of = */
	/*
	 * A prefill's room on this thread (64-byte aligned, cpu_dec_bytes(a->nb)) for a weight
	 * group decoded once for all its token tiles, or NULL
	 */
	uint8_t *scratch;
};

/* Bytes of struct cpu_gemm_args's scratch for nb blocks a row: at most 1 KiB a block. */
#define CPU_DEC_BLOCK_BYTES 1024
static inline size_t cpu_dec_bytes(uint32_t nb)
{
	return (size_t)nb * CPU_DEC_BLOCK_BYTES;
}

struct cpu_kernels {
	const char *isa;
	/*
	 * Activation rows are padded with zero rows to a multiple of this (0: not padded), when
	 * CPU_PAD_MIN or more rows are past the last whole multiple.
	 */
	uint32_t pad_rows;
	/* x[nb * 32] into row `row` of a (the rules of hal_quantize_row_q8_0, bit for bit). */
	void (*quantize_act)(const float *x, struct cpu_act *a, uint32_t row);
	void (*gemm_q8)(const struct cpu_gemm_args *g);
	void (*gemm_q4)(const struct cpu_gemm_args *g);
	/* After a thread's last gemm_q8/gemm_q4 call of a matmul (NULL: nothing to do). */
	void (*gemm_done)(void);
	/* Unpacked rows (F32 weights; F16 weights against activations already rounded to F16). */
	float (*dot_f32)(const float *w, const float *a, size_t n);
	float (*dot_f16)(const uint16_t *w, const float *a, size_t n);
	/* sum x[i]^2 */
	float (*sumsq)(const float *x, size_t n);
	/* p[i] = exp(p[i] - max); returns the sum */
	float (*exp_sum)(float *p, size_t n, float max);
	/* y[i] += a * x[i] */
	void (*axpy)(float *y, float a, const float *x, size_t n);
	/* d[i] = silu(g[i]) * u[i] */
	void (*swiglu)(float *d, const float *g, const float *u, size_t n);
	/*
	 * d[i] = (x[i] * s) * w[i] (RMSNorm's scaling, in the reference's order) and
	 * d[i] = a[i] + b[i]; d may be x or a. NULL: the device's plain loops.
	 */
	void (*scale_mul)(float *d, const float *x, float s, const float *w, size_t n);
	void (*add)(float *d, const float *a, const float *b, size_t n);
	/*
	 * RoPE of one token: the first n_rot values (pairs) of each of n_head heads of hd
	 * values in x, rotated by cs = cos, sin of each pair's angle. NULL: the device's loop.
	 */
	void (*rope)(float *x, const float *cs, uint32_t n_rot, uint32_t n_head, uint32_t hd);
	/*
	 * One query head against n cache rows (row r at k + r * ld, hd floats):
	 * attn_scores: p[r] = scale * dot(q, k_r), returns the max of p;
	 * attn_values: acc[i] = sum_r p[r] * v_r[i].
	 * For hd 64 and 128 only. Other head sizes, and ISAs with none (NULL), take the
	 * device's loops over dot_f32 and axpy.
	 */
	float (*attn_scores)(const float *q, const float *k, size_t ld, size_t n, size_t hd,
			     float scale, float *p);
	void (*attn_values)(float *acc, const float *p, const float *v, size_t ld, size_t n,
			    size_t hd);
	/*
	 * Up to 16 queries of one head at once (a prefill): query i (row q + i * ldq) against
	 * cache rows 0 .. last[i], softmax(scale q k^T) v into out + i * ldo. hd is a multiple
	 * of 16; ws holds CPU_ATTN_BLOCK_WS(n, hd) floats, n = the largest last + 1, 64-byte
	 * aligned. NULL where the ISA has none: the device then attends one query at a time.
	 */
	void (*attn_block)(const float *q, size_t ldq, const uint32_t *last, uint32_t nq,
			   const float *k, const float *v, size_t ld, size_t hd, float scale,
			   float *out, size_t ldo, float *ws);
	/*
	 * The compute ceiling npu-bench compares prefill with: `rounds` rounds of the ISA's
	 * int8 dot instruction on independent registers (no memory traffic); returns the
	 * multiply-accumulates done and names the instruction in *what. NULL: none.
	 */
	uint64_t (*peak_macs)(uint64_t rounds, const char **what);
	/*
	 * Where the int8 unit outruns the vectors (AMX): `rounds` of the float scaling that each
	 * 16 x 16 tile of block sums needs (one per 32-deep quantization block), alone; returns
	 * the multiply-accumulates those tiles stand for, 16 x 16 x 32 each. NULL elsewhere.
	 */
	uint64_t (*scale_macs)(uint64_t rounds);
};

/*
 * Fewest rows past the last whole tile worth a tile of their own over zero padding (AMX
 * takes 16 tokens in about the time the VNNI tile takes 6).
 */
#define CPU_PAD_MIN 6

/* Scratch floats of attn_block: the 16 queries' scores by cache row, and q transposed. */
#define CPU_ATTN_BLOCK_WS(n, hd) (16 * ((size_t)(n) + (hd)))

/*
 * attn_block's setup for `lanes` queries in the vector lanes: qt[lanes * d + i] = scale *
 * query i's element d and lastv[i] = last[i]; lanes past nq get a zero query over row 0
 * only (computed, never stored). Returns the rows to visit, the largest last + 1.
 */
static inline uint32_t cpu_attn_block_lanes(const float *q, size_t ldq, const uint32_t *last,
					    uint32_t nq, size_t hd, float scale, uint32_t lanes,
					    float *qt, int32_t *lastv)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < lanes; i++) {
		lastv[i] = i < nq ? (int32_t)last[i] : 0;
		if (i < nq && last[i] + 1 > n)
			n = last[i] + 1;
		for (size_t d = 0; d < hd; d++)
			qt[lanes * d + i] = i < nq ? scale * q[i * ldq + d] : 0.0f;
	}
	return n;
}

/*
 * Of queries i0 .. i0 + k - 1 (those below nq), the cache rows all of them see, [0, *lo), and
 * the end of those any of them sees, *hi: rows in [lo, hi) must be added query by query.
 */
static inline void cpu_attn_rows(const int32_t *lastv, uint32_t i0, uint32_t k, uint32_t nq,
				 uint32_t *lo, uint32_t *hi)
{
	*lo = UINT32_MAX;
	*hi = 0;
	for (uint32_t i = i0; i < i0 + k && i < nq; i++) {
		uint32_t n = (uint32_t)lastv[i] + 1;

		*lo = n < *lo ? n : *lo;
		*hi = n > *hi ? n : *hi;
	}
}

extern const struct cpu_kernels cpu_kernels_scalar;
#if defined(__x86_64__)
extern const struct cpu_kernels cpu_kernels_avx2;
extern const struct cpu_kernels cpu_kernels_avx512;
#endif
#if defined(__x86_64__) && defined(ENPU_HAVE_AVXVNNI)
extern const struct cpu_kernels cpu_kernels_avxvnni;
#endif
#if defined(__x86_64__) && defined(ENPU_HAVE_AMX)
extern const struct cpu_kernels cpu_kernels_amx;
#endif
#if defined(__aarch64__) && defined(ENPU_HAVE_NEON)
extern const struct cpu_kernels cpu_kernels_neon;
#endif

/*
 * The best kernels this CPU runs, or those ENPU_CPU_ISA names. NULL (with a reason in err)
 * when ENPU_CPU_ISA names a path that is not compiled in or that this CPU lacks.
 */
const struct cpu_kernels *cpu_kernels_select(char *err, size_t err_len);
/* The kernels of one ISA by name if compiled in and supported here, else NULL. */
const struct cpu_kernels *cpu_kernels_by_name(const char *isa);

/*
 * Software prefetch for a decode (one token), which streams every weight once. A group is its
 * nb blocks' quants, then their scales (2 x 16 bytes a block); the kernel consumes block b's
 * quants and scales together, so "CPU_PREFETCH_BYTES ahead" is counted in that order: at
 * block b, the quants and scales of the block CPU_PREFETCH_BYTES / (chunk + 32) blocks on,
 * in this group or the next ones (a thread's groups are contiguous; past the end of the
 * matrix a prefetch is dropped, never a fault).
 * - Counted in address order instead (q + CPU_PREFETCH_BYTES, the previous scheme), the
 *   target ran into the group's own scales, then past the start of the next group: 3 of a
 *   768-wide Q4_0 group's 24 blocks and 16 of a 4096-wide group's 128 were never prefetched.
 *   Fixing that (Zen 4 VM, 2 threads, `npu-bench e2e` tg64 on the ~130 M files, old and new
 *   interleaved): Q4_0 489-493 -> 651-695 tokens/s with the AVX2 kernels, 564-580 -> 673-741
 *   with AVX-512; Q8_0 246-283 -> 272-296 (AVX2), unchanged with AVX-512. One thread, AVX2:
 *   768-wide Q4_0 GEMVs 63-94 % -> 102-116 % of the read (npu-bench cpu).
 * - Earlier, without any software prefetch (Xeon VM, 2 threads, 4096x14336 matrices cycled
 *   through 460-870 MB so that the 300 MiB L3 holds none), the hardware prefetchers streamed
 *   Q4_0 at 15-19 GB/s and Q8_0 at 21; with 4 KiB ahead 26 and 29 GB/s (1 KiB: 20; 8 KiB:
 *   25; 16 KiB: 24 for Q4_0).
 * - The lines go to L2 (prefetcht1): into L1 each took one of its few miss buffers until its
 *   line came from DRAM, and a thread then had too few lines in flight to stream (Zen 4 VM,
 *   one thread, 768-wide GEMVs, min of 100: prefetcht0 at 4 KiB 10-15 GB/s, prefetcht1 at
 *   4 KiB 16-21, at 8 KiB 17-20; two threads, 8 KiB: 23-35 against 15-30).
 * - With one thread on a Zen 4 VM the AVX-512 Q8_0 GEMVs stream at 18-20 GB/s where the AVX2
 *   ones, three times the instructions a block, take 23-25, and padding the AVX-512 kernel
 *   with useless multiplies made it faster (26-28): the fewer cycles a block, the more of the
 *   kernel's own loads miss L1 while their line is on its way. With two threads (what a
 *   model runs) both reach 85-95 % of the read and decode at the same rate, so nothing
 *   follows from it. Tried and dropped: a second prefetcht0 2 KiB ahead (the L2 -> L1 step;
 *   Q8_0/Q4_0 no faster, K-quant decodes 25 -> 14 GB/s with AVX2), 256-bit vpdpbusd in the
 *   AVX-512 decode, interleaving the prefetches with the loads, prefetcht2/prefetchnta,
 *   every other line only (the adjacent-line prefetcher does not fill in: 12-16 GB/s).
 * The bandwidth ceiling's read kernel (hal/cpu/bandwidth.c) prefetches its stream the same
 * distance ahead.
 */
#define CPU_PREFETCH_BYTES 8192
#define CPU_PREFETCH_L2 2 /* __builtin_prefetch's locality for prefetcht1 */

/* At block b of the group at qs (chunk bytes of quants a block): see above. */
static inline void cpu_prefetch_decode(const uint8_t *qs, size_t chunk, uint32_t b, uint32_t nb)
{
	const size_t blk = chunk + 2 * CPU_GROUP_ROWS, group = (size_t)nb * blk;
	const uint8_t *g = qs;
	uint32_t t = b + (uint32_t)(CPU_PREFETCH_BYTES / blk);

	while (t >= nb) { /* a block of a later group: one step per group passed */
		t -= nb;
		g += group;
	}
	for (size_t o = 0; o < chunk; o += 64)
		__builtin_prefetch(g + (size_t)t * chunk + o, 0, CPU_PREFETCH_L2);
	__builtin_prefetch(g + (size_t)nb * chunk + 2 * CPU_GROUP_ROWS * (size_t)t, 0,
			   CPU_PREFETCH_L2);
}

/* Scalar helpers shared by every ISA file (kernels_scalar.c). */
void cpu_quantize_act_scalar(const float *x, struct cpu_act *a, uint32_t row);
float cpu_half_round(float d); /* hal_fp16_to_fp32(hal_fp32_to_fp16(d)) */
float cpu_exp_sum_scalar(float *p, size_t n, float max);
void cpu_swiglu_scalar(float *d, const float *g, const float *u, size_t n);

#if defined(__F16C__)
#include <immintrin.h>

/* cpu_half_round in two instructions: F16C rounds to nearest even as hal_fp32_to_fp16 does. */
static inline float cpu_half_round_f16c(float d)
{
	__m128i h = _mm_cvtps_ph(_mm_set_ss(d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

	return _mm_cvtss_f32(_mm_cvtph_ps(h));
}
#endif

#endif
