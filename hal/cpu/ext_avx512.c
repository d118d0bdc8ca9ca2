/* SPDX-License-Identifier: MIT */
/*
 * ext_avx512.c - kernels_ext.h with AVX-512 VNNI: the packed K-quant matmul, one block of 16
 * rows in 8 vectors against NT tokens, vpdpbusd leaving row r's sum in lane r as in
 * kernels_avx512.c; F16 and Q8_0 KV caches at head sizes 64 and 128 with the query (or the
 * output) in registers as kernels_avx512.c's F32 cache, other head sizes through the AVX2
 * table's (ext_x86.h).
 */
#include "ext_x86.h"
#include "x86_int8.h"

#include "hal/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/*
 * Tokens per tile: 8 float sums beside a block's 8 weight vectors (of 32 zmm), so that a
 * block's decoding serves 8 tokens instead of 4 (npu-bench cpu, avx512, one thread, T=128:
 * Q4_K 5-15 %, Q5_K 10-15 %, Q6_K 5-10 % faster); 4 tokens left take a tile of 4.
 */
#define NT 8

#include "gemm_loop.h"

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

/*
 * GEMM_KQ_BODY's decode step: the tiles read the packed blocks (a group decoded once for all
 * tiles measured slower here: vpdpbusd's ports, not the decoding, bound a prefill).
 */
static inline const uint8_t *kq_packed(int type, const uint8_t *w, uint32_t nb, uint8_t *dec)
{
	(void)type, (void)w, (void)nb, (void)dec;
	return NULL;
}

/* Group rows against tokens t .. t + nt - 1 (t and nt constants after inlining). */
static inline __attribute__((always_inline)) void
tile_kq(const int type, const struct cpu_gemm_args *g, const uint8_t *w,
	const uint8_t *dec __attribute__((unused)), uint32_t t, const int nt, float *out)
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

		for (uint32_t jb = 0; jb < 8; jb++) {
			const uint32_t b = sb * 8 + jb;
			__m512i lo[4], hi[4], sc0 = _mm512_setzero_si512(), sc1 = sc0;
			__m512 mins = _mm512_setzero_ps(), dsc = d;

			if (nt == 1) /* a decode streams the weights once: keep them coming */
				cpu_kq_prefetch(h, sb_bytes, jb);
			kq_values(type, h + CPU_KQ_HDR + jb * blk_bytes, lo, hi);
			if (type == HAL_TYPE_Q6_K) {
				sc0 = _mm512_cvtepi8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 64 + 32 * jb)));
				sc1 = _mm512_cvtepi8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 80 + 32 * jb)));
			} else {
				/*
				 * d x sc exactly (11 x 6 bits) in float, so that a token's sum
				 * needs no vpmulld: the multiplier's ports are vpdpbusd's
				 */
				dsc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
					_mm_loadu_si128((const __m128i *)(h + 64 + 16 * jb)))));
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
					s0 = _mm512_dpbusd_epi32(s0, lo[k], bcast512(a, k));
					s1 = _mm512_dpbusd_epi32(s1, hi[k], bcast512(a, k + 4));
				}
				if (type == HAL_TYPE_Q6_K)
					is = _mm512_add_epi32(_mm512_mullo_epi32(s0, sc0),
							      _mm512_mullo_epi32(s1, sc1));
				else
					is = _mm512_add_epi32(s0, s1);
				facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is),
							  _mm512_mul_ps(dsc, _mm512_set1_ps(A->d[ai])),
							  facc[j]);
				if (type != HAL_TYPE_Q6_K)
					facc[j] = _mm512_fnmadd_ps(
						mins, _mm512_set1_ps(A->ds[ai]),
						facc[j]);
			}
		}
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		_mm512_storeu_ps(out + 16 * j, facc[j]);
}

#if defined(ENPU_AMX_ON)
/*
 * AMX for the K-quant prefills. Q4_K, Q5_K: a block's unsigned q as kq_values leaves them
 * (lo[0..3], hi[0..3]) are AMX's B operand for K = 32, and tdpbsud (signed activations x q)
 * leaves tile_kq's exact sums S0 + S1 of 16 tokens x 16 rows in C; the float epilogue is
 * tile_kq's, in its order: the same bits as the AVX-512 path. Each group is decoded once into
 * the thread's scratch for all its 16-token tiles, per block: B (512 bytes), then the 16 rows'
 * d x sc and dmin x m (64 bytes each).
 *
 * Q6_K's scales change every 16 elements, half a block: its decoded block is q - 32 (signed,
 * for tdpbssd) of elements 0-15, 256 zero bytes, then those of elements 16-31, so that the
 * B tiles at 0 and at 256 give each half's exact sums from the whole block's A tile; then the
 * rows' two scales and d (64 bytes each, floats). tile_kq's integer s0 sc0 + s1 sc1 is below
 * 2^24, so the float products and their sum are that integer exactly.
 */
#define AMX_KQ_BLOCK 640
#define AMX_Q6K_BLOCK 960

_Static_assert(AMX_KQ_BLOCK <= CPU_DEC_BLOCK_BYTES && AMX_Q6K_BLOCK <= CPU_DEC_BLOCK_BYTES,
	       "a decoded block must fit the scratch");

/* Q6_K block jb of the super-block at h (q: kq_values's) into its decoded form at o. */
static inline __attribute__((always_inline)) void
amx_q6k_block(const uint8_t *h, uint32_t jb, __m512 d, const __m512i lo[4], const __m512i hi[4],
	      uint8_t *o)
{
	const __m512i x32 = _mm512_set1_epi8(32);

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		_mm512_store_si512(o + 64 * k, _mm512_sub_epi8(lo[k], x32));
		_mm512_store_si512(o + 256 + 64 * k, _mm512_setzero_si512());
		_mm512_store_si512(o + 512 + 64 * k, _mm512_sub_epi8(hi[k], x32));
	}
	_mm512_store_ps(o + 768, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
		_mm_loadu_si128((const __m128i *)(h + 64 + 32 * jb)))));
	_mm512_store_ps(o + 832, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
		_mm_loadu_si128((const __m128i *)(h + 80 + 32 * jb)))));
	_mm512_store_ps(o + 896, d);
}

static void amx_kq_decode(const int type, const uint8_t *w, uint32_t nb, uint8_t *dec)
{
	const size_t blk_bytes = cpu_kq_block_bytes(type), sb_bytes = cpu_kq_sb_bytes(type);

	for (uint32_t sb = 0; sb < nb / 8; sb++) {
		const uint8_t *h = w + sb * sb_bytes;
		const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
		const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + 32)));

		for (uint32_t jb = 0; jb < 8; jb++) {
			__m512i lo[4], hi[4];

			kq_values(type, h + CPU_KQ_HDR + jb * blk_bytes, lo, hi);
			if (type == HAL_TYPE_Q6_K) {
				amx_q6k_block(h, jb, d, lo, hi,
					      dec + (size_t)(sb * 8 + jb) * AMX_Q6K_BLOCK);
				continue;
			}
			uint8_t *o = dec + (size_t)(sb * 8 + jb) * AMX_KQ_BLOCK;

			#pragma GCC unroll 4
			for (int k = 0; k < 4; k++) {
				_mm512_store_si512(o + 64 * k, lo[k]);
				_mm512_store_si512(o + 64 * (k + 4), hi[k]);
			}
			/* tile_kq's dsc and mins, the same products */
			_mm512_store_ps(o + 512, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
				_mm_loadu_si128((const __m128i *)(h + 64 + 16 * jb))))));
			_mm512_store_ps(o + 576, _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(
				_mm512_cvtepu8_epi32(_mm_loadu_si128(
					(const __m128i *)(h + 192 + 16 * jb))))));
		}
	}
}

/* Block b's sums c of tokens t .. t + 15 into facc, as tile_kq adds one block. */
static inline __attribute__((always_inline)) void
amx_kq_scale(const struct cpu_act *A, const int32_t *c, const uint8_t *o, uint32_t t,
	     uint32_t b, __m512 facc[16])
{
	const __m512 dsc = _mm512_load_ps((const float *)(o + 512));
	const __m512 mins = _mm512_load_ps((const float *)(o + 576));

	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++) {
		const size_t ai = (size_t)(t + j) * A->nb + b;

		facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * j)),
					  _mm512_mul_ps(dsc, _mm512_set1_ps(A->d[ai])), facc[j]);
		facc[j] = _mm512_fnmadd_ps(mins, _mm512_set1_ps(A->ds[ai]), facc[j]);
	}
}

/* A x B of block i into the tile set (a, bt, c); tile numbers are immediates. */
#define AMX_KQ_MUL(a, bt, c, i)								\
	do {										\
		_tile_loadd(a, A->qs + ((size_t)t * nb + (i)) * CPU_QK, stride);	\
		_tile_loadd(bt, dec + (size_t)(i) * AMX_KQ_BLOCK, 64);			\
		_tile_zero(c);								\
		_tile_dpbsud(c, a, bt);							\
	} while (0)

/* Block i's sums c scaled into the accumulators (CPU_AMX_BLOCKS's SCALE). */
#define AMX_KQ_SCALE(c, i) amx_kq_scale(A, c, dec + (size_t)(i) * AMX_KQ_BLOCK, t, i, facc)

/* Q6_K: block b's half sums c0, c1 into facc, as tile_kq adds one block. */
static inline __attribute__((always_inline)) void
amx_q6k_scale(const struct cpu_act *A, const int32_t *c0, const int32_t *c1, const uint8_t *o,
	      uint32_t t, uint32_t b, __m512 facc[16])
{
	const __m512 sc0 = _mm512_load_ps((const float *)(o + 768));
	const __m512 sc1 = _mm512_load_ps((const float *)(o + 832));
	const __m512 d = _mm512_load_ps((const float *)(o + 896));

	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++) {
		const __m512 is = _mm512_fmadd_ps(
			_mm512_cvtepi32_ps(_mm512_load_si512(c1 + 16 * j)), sc1,
			_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c0 + 16 * j)), sc0));

		facc[j] = _mm512_fmadd_ps(is, _mm512_mul_ps(d, _mm512_set1_ps(A->d[(size_t)(t + j) *
										    A->nb + b])),
					  facc[j]);
	}
}

/* Q6_K: both halves of block i, one A tile against the two zero-padded B tiles. */
#define AMX_Q6K_MUL(i)									\
	do {										\
		const uint8_t *o_ = dec + (size_t)(i) * AMX_Q6K_BLOCK;			\
											\
		_tile_loadd(0, A->qs + ((size_t)t * nb + (i)) * CPU_QK, stride);	\
		_tile_loadd(1, o_, 64);							\
		_tile_loadd(4, o_ + 256, 64);						\
		_tile_zero(2);								\
		_tile_zero(5);								\
		_tile_dpbssd(2, 0, 1);							\
		_tile_dpbssd(5, 0, 4);							\
	} while (0)

/*
 * Tokens t .. t + 15 against every block of the decoded group, into out (16 x 16 floats).
 * Q6_K: each block's two half sums are stored, the next block's multiplies issued, then the
 * block scaled while they run.
 */
static void amx_kq_tile(const int type, const struct cpu_act *A, const uint8_t *dec,
			uint32_t t, float *out)
{
	const uint32_t nb = A->nb;
	const size_t stride = (size_t)nb * CPU_QK;
	int32_t cbuf[2][16 * 16] __attribute__((aligned(64)));
	__m512 facc[16];

	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++)
		facc[j] = _mm512_setzero_ps();
	if (type == HAL_TYPE_Q6_K) {
		AMX_Q6K_MUL(0);
		for (uint32_t i = 0; i < nb; i++) {
			_tile_stored(2, cbuf[0], 64);
			_tile_stored(5, cbuf[1], 64);
			if (i + 1 < nb)
				AMX_Q6K_MUL(i + 1);
			amx_q6k_scale(A, cbuf[0], cbuf[1], dec + (size_t)i * AMX_Q6K_BLOCK, t, i,
				      facc);
		}
	} else {
		CPU_AMX_BLOCKS(nb, cbuf, AMX_KQ_MUL, AMX_KQ_SCALE);
	}
	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++)
		_mm512_store_ps(out + 16 * j, facc[j]);
}

/*
 * GEMM_KQ_TYPE_BIG's big step: group gi's tokens from t0 in whole 16-token tiles (and a last
 * one over the activations' zero padding, as kernels_avx512.c's amx_group), when the thread
 * has its scratch (a prefill). Returns the first token left for tile_kq.
 */
static uint32_t amx_kq_group(const int type, const struct cpu_gemm_args *g, const uint8_t *w,
			     uint32_t gi, uint32_t t0)
{
	const struct cpu_act *A = g->a;
	const uint32_t tiles = gemm_unit_tiles(g, t0);
	float acc[16 * 16] __attribute__((aligned(64)));

	if (!tiles || !g->scratch)
		return t0;
	const size_t group = (size_t)A->nb / 8 * cpu_kq_sb_bytes(type);

	cpu_amx_config();
	amx_kq_decode(type, w, A->nb, g->scratch);
	for (uint32_t i = 0; i < tiles; i++) {
		const uint32_t t = t0 + 16 * i;

		gemm_prefetch_slice(w + group, group, i, tiles); /* the next group */
		amx_kq_tile(type, A, g->scratch, t, acc);
		put_tile(g, gi, t, g->t1 - t < 16 ? (int)(g->t1 - t) : 16, acc);
	}
	return t0 + 16 * tiles < g->t1 ? t0 + 16 * tiles : g->t1;
}

static void gemm_kq_amx(enum hal_type t, const struct cpu_gemm_args *g)
{
	GEMM_KQ_BODY_BIG(amx_kq_group, kq_packed, tile_kq)
}
#endif

/* ---- KV caches ---------------------------------------------------------------------------- */

/*
 * A decode's cache rows come from memory (the weights streamed since the last token evicted
 * them), one head's 128-256 bytes every ld bytes: fetch the rows CACHE_AHEAD ahead, or each
 * row's load waits out the DRAM latency (the F16 cache ran at half the F32 cache's speed).
 */
#define CACHE_AHEAD 16

/* Columns 16c .. 16c + 15 of a cache row as floats, Q8_0's block scale applied. */
static inline __attribute__((always_inline)) __m512 cols16(const int t, const uint8_t *row,
							    int c)
{
	if (t == HAL_TYPE_F16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 32 * c)));
	const uint8_t *blk = row + (c / 2) * sizeof(struct hal_block_q8_0);
	const __m512 x = _mm512_cvtepi32_ps(
		_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2 + 16 * (c % 2)))));

	return _mm512_mul_ps(_mm512_set1_ps(load_half(blk)), x);
}

static inline __attribute__((always_inline)) void fetch_row(const uint8_t *row, const int HD,
							     const int t)
{
	const int bytes = t == HAL_TYPE_F16 ? 2 * HD : HD / HAL_QK * 34;

	#pragma GCC unroll 4
	for (int o = 0; o < bytes; o += 64)
		__builtin_prefetch(row + o, 0, 0);
}

/* One row's dot with q (HD / 16 vectors in registers), the same steps wherever the row is. */
static inline __attribute__((always_inline)) float row_dot(const int t, const __m512 *qv,
							    const uint8_t *row, const int HD)
{
	__m512 a = _mm512_mul_ps(qv[0], cols16(t, row, 0));

	#pragma GCC unroll 8
	for (int c = 1; c < HD / 16; c++)
		a = _mm512_fmadd_ps(qv[c], cols16(t, row, c), a);
	return _mm512_reduce_add_ps(a);
}

static inline __attribute__((always_inline)) float
scores_hd(const int t, const float *q, const uint8_t *k, size_t ld, size_t n, float scale,
	  float *p, const int HD)
{
	__m512 qv[HD / 16];
	float max = -INFINITY;

	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		qv[c] = _mm512_loadu_ps(q + 16 * c);
	for (size_t r = 0; r < n; r++) {
		const uint8_t *row = k + r * ld;

		fetch_row(row + CACHE_AHEAD * ld, HD, t);
		p[r] = scale * row_dot(t, qv, row, HD);
		max = fmaxf(max, p[r]);
	}
	return max;
}

static float cache_scores_avx512(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				 size_t n, size_t hd, float scale, float *p)
{
	if (t == HAL_TYPE_F16 && hd == 64)
		return scores_hd(HAL_TYPE_F16, q, k, ld, n, scale, p, 64);
	if (t == HAL_TYPE_F16 && hd == 128)
		return scores_hd(HAL_TYPE_F16, q, k, ld, n, scale, p, 128);
	if (t == HAL_TYPE_Q8_0 && hd == 64)
		return scores_hd(HAL_TYPE_Q8_0, q, k, ld, n, scale, p, 64);
	if (t == HAL_TYPE_Q8_0 && hd == 128)
		return scores_hd(HAL_TYPE_Q8_0, q, k, ld, n, scale, p, 128);
	return cpu_ext_avx2_cache_scores(t, q, k, ld, n, hd, scale, p);
}

/* a[c] += p_r row_r (fetching the row CACHE_AHEAD rows on). */
static inline __attribute__((always_inline)) void
value_row(const int t, __m512 *a, float p_r, const uint8_t *row, size_t ld, const int HD)
{
	const __m512 pr = _mm512_set1_ps(p_r);

	fetch_row(row + CACHE_AHEAD * ld, HD, t);
	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		a[c] = _mm512_fmadd_ps(pr, cols16(t, row, c), a[c]);
}

/*
 * acc = sum_r p[r] row_r, two rows a step into two sets of accumulators; an odd last row
 * into the first set alone (a row read again at weight 0 would carry a non-finite V in).
 */
static inline __attribute__((always_inline)) void
values_hd(const int t, float *acc, const float *p, const uint8_t *v, size_t ld, size_t n,
	  const int HD)
{
	__m512 a[2][HD / 16];
	size_t r = 0;

	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		a[0][c] = a[1][c] = _mm512_setzero_ps();
	for (; r + 2 <= n; r += 2) {
		value_row(t, a[0], p[r], v + r * ld, ld, HD);
		value_row(t, a[1], p[r + 1], v + (r + 1) * ld, ld, HD);
	}
	if (r < n)
		value_row(t, a[0], p[r], v + r * ld, ld, HD);
	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		_mm512_storeu_ps(acc + 16 * c, _mm512_add_ps(a[0][c], a[1][c]));
}

static void cache_values_avx512(enum hal_type t, float *acc, const float *p, const uint8_t *v,
				size_t ld, size_t n, size_t hd)
{
	if (t == HAL_TYPE_F16 && hd == 64)
		values_hd(HAL_TYPE_F16, acc, p, v, ld, n, 64);
	else if (t == HAL_TYPE_F16 && hd == 128)
		values_hd(HAL_TYPE_F16, acc, p, v, ld, n, 128);
	else if (t == HAL_TYPE_Q8_0 && hd == 64)
		values_hd(HAL_TYPE_Q8_0, acc, p, v, ld, n, 64);
	else if (t == HAL_TYPE_Q8_0 && hd == 128)
		values_hd(HAL_TYPE_Q8_0, acc, p, v, ld, n, 128);
	else
		cpu_ext_avx2_cache_values(t, acc, p, v, ld, n, hd);
}

static void gemm_kq_avx512(enum hal_type t, const struct cpu_gemm_args *g)
{
	GEMM_KQ_BODY(kq_packed, tile_kq)
}

const struct cpu_ext_kernels cpu_ext_avx512 = {
	.isa = "avx512",
	.cache_scores = cache_scores_avx512,
	.cache_values = cache_values_avx512,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.gemm_kq = gemm_kq_avx512,
};

#if defined(ENPU_AMX_ON)
/* The "amx" kernel set's: the AVX-512 table with the K-quant prefills on the tiles. */
const struct cpu_ext_kernels cpu_ext_amx = {
	.isa = "amx",
	.cache_scores = cache_scores_avx512,
	.cache_values = cache_values_avx512,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.gemm_kq = gemm_kq_amx,
};
#endif
