/* SPDX-License-Identifier: MIT */
/*
 * ext_avx2.c - kernels_ext.h on AVX2 + FMA + F16C: F16 cache rows through vcvtph2ps, Q8_0 rows
 * widened to float per block of 32; the packed K-quant matmul (kernels_ext.h) with vpmaddubsw
 * on the unsigned q then vpmaddwd, each 32-byte half of a 64-byte vector 8 rows.
 *
 * The cache functions are shared with the AVX-512 table (ext_avx512.c), which only replaces
 * the matmul.
 */
#include "ext_x86.h"
#include "x86_int8.h"

#include "hal/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* 8 int8 at p as 8 floats. */
static inline __m256 i8x8_ps(const uint8_t *p)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

static inline __m256 f16x8_ps(const uint8_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* ---- KV caches ---------------------------------------------------------------------------- */

/*
 * A head is read in chunks of CH columns (64, then 32 for a remainder: hd a multiple of 32),
 * so that one chunk of q, or of the output, stays in registers while the rows stream by:
 * rows are hd * 2 (F16) or hd / 32 * 34 (Q8_0) bytes of a cache row ld bytes long, four rows
 * in flight at once and each fetched CACHE_AHEAD rows ahead (a decode at a long context
 * reads the cache from memory, one or two lines a row at a stride of ld).
 */
#define CACHE_AHEAD 16

/* Columns c .. c + 7 of a chunk starting at row pointer k, as floats (Q8_0: unscaled). */
static inline __attribute__((always_inline)) __m256 cols8(enum hal_type t, const uint8_t *k, int c)
{
	if (t == HAL_TYPE_F16)
		return f16x8_ps(k + 2 * c);
	return i8x8_ps(k + (c / HAL_QK) * sizeof(struct hal_block_q8_0) + 2 + c % HAL_QK);
}

/* dot(q[0..CH), row chunk k) with q in registers; Q8_0 blocks scaled one by one. */
static inline __attribute__((always_inline)) __m256 chunk_dot(enum hal_type t, const __m256 *qv,
							     const uint8_t *k, const int CH)
{
	__m256 acc = _mm256_setzero_ps();

	#pragma GCC unroll 2
	for (int b = 0; b < CH / HAL_QK; b++) {
		__m256 part = _mm256_mul_ps(qv[4 * b], cols8(t, k, HAL_QK * b));

		#pragma GCC unroll 4
		for (int c = 1; c < 4; c++)
			part = _mm256_fmadd_ps(qv[4 * b + c], cols8(t, k, HAL_QK * b + 8 * c), part);
		acc = t == HAL_TYPE_F16 ? _mm256_add_ps(acc, part)
					: _mm256_fmadd_ps(_mm256_set1_ps(load_half(
						  k + b * sizeof(struct hal_block_q8_0))), part, acc);
	}
	return acc;
}

/* The four sums of a, b, c, d. */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
	const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));

	return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* p[r] (+)= the chunk's dot for rows 0 .. n - 1; first: p[r] = it. */
static inline __attribute__((always_inline)) void
scores_chunk(enum hal_type t, const float *q, const uint8_t *k, size_t ld, size_t n, float *p,
	     bool first, const int CH)
{
	__m256 qv[CH / 8];
	size_t r = 0;

	#pragma GCC unroll 8
	for (int c = 0; c < CH / 8; c++)
		qv[c] = _mm256_loadu_ps(q + 8 * c);
	for (; r + 4 <= n; r += 4) {
		__m256 a[4];

		#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			const uint8_t *row = k + (r + j) * ld;

			__builtin_prefetch(row + CACHE_AHEAD * ld, 0, 0);
			__builtin_prefetch(row + CACHE_AHEAD * ld + 64, 0, 0);
			a[j] = chunk_dot(t, qv, row, CH);
		}
		__m128 sum = hsum4(a[0], a[1], a[2], a[3]);

		if (!first)
			sum = _mm_add_ps(sum, _mm_loadu_ps(p + r));
		_mm_storeu_ps(p + r, sum);
	}
	for (; r < n; r++) {
		const float d = hsum(chunk_dot(t, qv, k + r * ld, CH));

		p[r] = first ? d : p[r] + d;
	}
}

/* Bytes from a row's start to column c of a head (c a multiple of 32 for Q8_0). */
static size_t col_bytes(enum hal_type t, size_t c)
{
	return t == HAL_TYPE_F16 ? 2 * c : c / HAL_QK * sizeof(struct hal_block_q8_0);
}

static inline __attribute__((always_inline)) float
scores_all(const int t, const float *q, const uint8_t *k, size_t ld, size_t n, size_t hd,
	   float scale, float *p)
{
	__m256 vmax = _mm256_set1_ps(-INFINITY);
	float max = -INFINITY;
	size_t c = 0, r = 0;

	if (hd % HAL_QK)
		return cpu_ext_cache_scores_scalar(t, q, k, ld, n, hd, scale, p);
	for (; c + 64 <= hd; c += 64)
		scores_chunk(t, q + c, k + col_bytes(t, c), ld, n, p, c == 0, 64);
	if (c < hd)
		scores_chunk(t, q + c, k + col_bytes(t, c), ld, n, p, c == 0, 32);
	for (; r + 8 <= n; r += 8) {
		const __m256 v = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_loadu_ps(p + r));

		_mm256_storeu_ps(p + r, v);
		vmax = _mm256_max_ps(vmax, v);
	}
	for (; r < n; r++) {
		p[r] *= scale;
		max = fmaxf(max, p[r]);
	}
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return fmaxf(max, _mm_cvtss_f32(m));
}

/* The type a constant in each copy: no test of it between a row's loads. */
float cpu_ext_avx2_cache_scores(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				size_t n, size_t hd, float scale, float *p)
{
	if (t == HAL_TYPE_F16)
		return scores_all(HAL_TYPE_F16, q, k, ld, n, hd, scale, p);
	return scores_all(HAL_TYPE_Q8_0, q, k, ld, n, hd, scale, p);
}

/* out[0..CH) = sum_r p[r] row_r[chunk] with the sums in registers. */
static inline __attribute__((always_inline)) void
values_chunk(enum hal_type t, float *out, const float *p, const uint8_t *v, size_t ld, size_t n,
	     const int CH)
{
	__m256 acc[CH / 8];

	#pragma GCC unroll 8
	for (int c = 0; c < CH / 8; c++)
		acc[c] = _mm256_setzero_ps();
	for (size_t r = 0; r < n; r++) {
		const uint8_t *row = v + r * ld;

		__builtin_prefetch(row + CACHE_AHEAD * ld, 0, 0);
		__builtin_prefetch(row + CACHE_AHEAD * ld + 64, 0, 0);
		#pragma GCC unroll 2
		for (int b = 0; b < CH / HAL_QK; b++) {
			const __m256 w = _mm256_set1_ps(
				t == HAL_TYPE_F16 ? p[r]
						  : p[r] * load_half(row + b * sizeof(struct hal_block_q8_0)));

			#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				acc[4 * b + c] = _mm256_fmadd_ps(w, cols8(t, row, HAL_QK * b + 8 * c),
								 acc[4 * b + c]);
		}
	}
	#pragma GCC unroll 8
	for (int c = 0; c < CH / 8; c++)
		_mm256_storeu_ps(out + 8 * c, acc[c]);
}

static inline __attribute__((always_inline)) void
values_all(const int t, float *acc, const float *p, const uint8_t *v, size_t ld, size_t n,
	   size_t hd)
{
	size_t c = 0;

	if (hd % HAL_QK) {
		cpu_ext_cache_values_scalar(t, acc, p, v, ld, n, hd);
		return;
	}
	for (; c + 64 <= hd; c += 64)
		values_chunk(t, acc + c, p, v + col_bytes(t, c), ld, n, 64);
	if (c < hd)
		values_chunk(t, acc + c, p, v + col_bytes(t, c), ld, n, 32);
}

void cpu_ext_avx2_cache_values(enum hal_type t, float *acc, const float *p, const uint8_t *v,
			       size_t ld, size_t n, size_t hd)
{
	if (t == HAL_TYPE_F16)
		values_all(HAL_TYPE_F16, acc, p, v, ld, n, hd);
	else
		values_all(HAL_TYPE_Q8_0, acc, p, v, ld, n, hd);
}

void cpu_ext_avx2_cache_load(enum hal_type t, const uint8_t *src, size_t ld, size_t n,
			     size_t hd, float *dst)
{
	for (size_t r = 0; r < n; r++, src += ld, dst += hd) {
		if (hd % 8) {
			hal_dequantize_row(t, src, dst, hd);
		} else if (t == HAL_TYPE_F16) {
			for (size_t i = 0; i < hd; i += 8)
				_mm256_storeu_ps(dst + i, f16x8_ps(src + 2 * i));
		} else {
			for (size_t b = 0; b < hd / HAL_QK; b++) {
				const uint8_t *blk = src + b * sizeof(struct hal_block_q8_0);
				const __m256 d = _mm256_set1_ps(load_half(blk));

				for (int i = 0; i < 4; i++)
					_mm256_storeu_ps(dst + b * HAL_QK + 8 * i,
							 _mm256_mul_ps(d, i8x8_ps(blk + 2 + 8 * i)));
			}
		}
	}
}

/* F16 with vcvtps2ph's round to nearest even, as hal_fp32_to_fp16 rounds; Q8_0 as quant.c. */
void cpu_ext_avx2_cache_store(enum hal_type t, const float *x, uint8_t *dst, size_t n)
{
	size_t i = 0;

	if (t != HAL_TYPE_F16) {
		hal_quantize_row(t, x, dst, n);
		return;
	}
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(dst + 2 * i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	if (i < n)
		hal_quantize_row(t, x + i, dst + 2 * i, n - i);
}

/* ---- packed K-quant matmul ----------------------------------------------------------------- */

#define NT 4

#include "gemm_loop.h"

/* x shifted left by s bits (right by -s) in 16-bit lanes: the bits kept never cross a byte. */
static inline __m256i shift(__m256i x, int s)
{
	return s >= 0 ? _mm256_slli_epi16(x, s) : _mm256_srli_epi16(x, -s);
}

/* 8 bytes at p, one per row, each twice as int16: vpmaddwd's factor for both pair sums of a row. */
static inline __m256i row_pairs(const uint8_t *p, const bool is_signed)
{
	const __m128i x = _mm_loadl_epi64((const __m128i *)p);

	return is_signed ? _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(x, x))
			 : _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x, x));
}

/*
 * A prefill decodes each group once into the thread's scratch (struct cpu_gemm_args), for all
 * its token tiles: per block and half, 384 bytes: lo[0..3], hi[0..3] (the unsigned q), then
 * Q4_K/Q5_K the scale pairs and dmin x m as floats, Q6_K the sc0, sc1 and -32 x (sc0, sc1)
 * pairs (its bias's factors, at most 2^12).
 */
#define KQ_DEC_HALF 384
_Static_assert(2 * KQ_DEC_HALF <= CPU_DEC_BLOCK_BYTES, "a decoded block fits the scratch");

/* lo[k] and hi[k] of rows 8h .. 8h + 7 of packed block q (or of its decoded half dec). */
static inline __attribute__((always_inline)) void
kq_vec(const int type, const uint8_t *q, const uint8_t *dec, int h, int k, __m256i *lo,
       __m256i *hi)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	if (dec) {
		*lo = _mm256_load_si256((const __m256i *)(dec + 32 * k));
		*hi = _mm256_load_si256((const __m256i *)(dec + 128 + 32 * k));
		return;
	}
	const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * k + 32 * h));

	*lo = _mm256_and_si256(v, m4);
	*hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
	if (type == HAL_TYPE_Q5_K) {
		const __m256i x = _mm256_loadu_si256((const __m256i *)(q + 256 + 32 * h));
		const __m256i b4 = _mm256_set1_epi8(0x10);

		*lo = _mm256_or_si256(*lo, _mm256_and_si256(shift(x, 4 - k), b4));
		*hi = _mm256_or_si256(*hi, _mm256_and_si256(shift(x, -k), b4));
	} else if (type == HAL_TYPE_Q6_K) {
		const __m256i x0 = _mm256_loadu_si256((const __m256i *)(q + 256 + 32 * h));
		const __m256i x1 = _mm256_loadu_si256((const __m256i *)(q + 320 + 32 * h));
		const __m256i b45 = _mm256_set1_epi8(0x30);

		*lo = _mm256_or_si256(*lo, _mm256_and_si256(shift(x0, 4 - 2 * k), b45));
		*hi = _mm256_or_si256(*hi, _mm256_and_si256(shift(x1, 4 - 2 * k), b45));
	}
}

/* Header bytes of block jb's scales for half h in super-block header hd. */
static inline const uint8_t *kq_scales(const int type, const uint8_t *hd, uint32_t jb, int h)
{
	return hd + 64 + (type == HAL_TYPE_Q6_K ? 32 : 16) * jb + 8 * h;
}

/* (sc0, sc1) of each row as an int16 pair (Q6_K's bias), from the two scale rows at sc. */
static inline __m256i q6_scale_pairs(const uint8_t *sc)
{
	return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)sc),
						      _mm_loadl_epi64((const __m128i *)(sc + 16))));
}

/* dmin x m of rows 8h .. 8h + 7 for block jb (Q4_K/Q5_K). */
static inline __m256 kq_mins(const uint8_t *hd, uint32_t jb, int h)
{
	return _mm256_mul_ps(f16x8_ps(hd + 32 + 16 * h),
			     _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
				     (const __m128i *)(hd + 192 + 16 * jb + 8 * h)))));
}

/* The group's blocks (nb of them) decoded into dec, KQ_DEC_HALF bytes per block and half. */
static inline __attribute__((always_inline)) const uint8_t *
kq_decode(const int type, const uint8_t *w, uint32_t nb, uint8_t *dec)
{
	const size_t blk_bytes = cpu_kq_block_bytes(type), sb_bytes = cpu_kq_sb_bytes(type);

	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *hd = w + b / 8 * sb_bytes;
		const uint8_t *q = hd + CPU_KQ_HDR + b % 8 * blk_bytes;

		for (int h = 0; h < 2; h++) {
			uint8_t *o = dec + (2 * (size_t)b + h) * KQ_DEC_HALF;
			const uint8_t *sc = kq_scales(type, hd, b % 8, h);

			#pragma GCC unroll 4
			for (int k = 0; k < 4; k++) {
				__m256i lo, hi;

				kq_vec(type, q, NULL, h, k, &lo, &hi);
				_mm256_store_si256((__m256i *)(o + 32 * k), lo);
				_mm256_store_si256((__m256i *)(o + 128 + 32 * k), hi);
			}
			if (type == HAL_TYPE_Q6_K) {
				_mm256_store_si256((__m256i *)(o + 256), row_pairs(sc, true));
				_mm256_store_si256((__m256i *)(o + 288), row_pairs(sc + 16, true));
				_mm256_store_si256((__m256i *)(o + 320),
						   _mm256_mullo_epi16(q6_scale_pairs(sc),
								      _mm256_set1_epi16(-32)));
			} else {
				_mm256_store_si256((__m256i *)(o + 256), row_pairs(sc, false));
				_mm256_store_ps((float *)(o + 288), kq_mins(hd, b % 8, h));
			}
		}
	}
	return dec;
}

/*
 * Q4_K/Q5_K, rows 8h .. 8h + 7 of packed block q (or its decoded half dec) against nt tokens'
 * block b: is[j] = sc * (S0 + S1), each row's scale applied by vpmaddwd. The four weight
 * vectors are taken one at a time with the tokens inner (all four and their high halves would
 * not fit beside the accumulators); the int16 pair sums stay below 2^15: Q4_K 8 x 15 x 127 x
 * 2, Q5_K 4 x 31 x 127 x 2 (its sums go to int32 halfway).
 */
static inline __attribute__((always_inline)) void
kq45_sums(const int type, const uint8_t *q, const uint8_t *dec, const uint8_t *sc_bytes, int h,
	  const int8_t *a0, size_t a_stride, const int nt, __m256i *is)
{
	const __m256i sc = dec ? _mm256_load_si256((const __m256i *)(dec + 256))
			       : row_pairs(sc_bytes, false);
	__m256i p[NT];

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		__m256i lo, hi;

		kq_vec(type, q, dec, h, k, &lo, &hi);
		#pragma GCC unroll 8
		for (int j = 0; j < nt; j++) {
			const __m256i ps = pair_sums(lo, hi, a0 + j * a_stride, k);

			p[j] = k % 2 == 0 && (k == 0 || type == HAL_TYPE_Q5_K)
				       ? ps : _mm256_add_epi16(p[j], ps);
		}
		if (type == HAL_TYPE_Q5_K && k == 1)
			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++)
				is[j] = _mm256_madd_epi16(p[j], sc);
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		is[j] = type == HAL_TYPE_Q5_K ? _mm256_add_epi32(is[j], _mm256_madd_epi16(p[j], sc))
					      : _mm256_madd_epi16(p[j], sc);
}

/*
 * Q6_K, rows 8h .. 8h + 7 of packed block q (or its decoded half dec) against nt tokens'
 * block b: is[j] = sc0 * (S0 - 32 s16[0]) + sc1 * (S1 - 32 s16[1]). Its 6-bit q take two
 * weight loads each, so the block is decoded once for all tokens; int16 pair sums of two
 * words stay below 2^15 (2 x 63 x 127 x 2).
 */
static inline __attribute__((always_inline)) void
kq6_sums(const uint8_t *q, const uint8_t *dec, const uint8_t *sc_bytes, int h, const int8_t *a0,
	 const int16_t *s16, size_t a_stride, const int nt, __m256i *is)
{
	const __m256i sc0 = dec ? _mm256_load_si256((const __m256i *)(dec + 256))
				: row_pairs(sc_bytes, true);
	const __m256i sc1 = dec ? _mm256_load_si256((const __m256i *)(dec + 288))
				: row_pairs(sc_bytes + 16, true);
	const __m256i sc01 = dec ? _mm256_load_si256((const __m256i *)(dec + 320)) /* x -32 */
				 : q6_scale_pairs(sc_bytes);
	__m256i lo[4], hi[4];

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++)
		kq_vec(HAL_TYPE_Q6_K, q, dec, h, k, &lo[k], &hi[k]);
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++) {
		const int8_t *a = a0 + j * a_stride;
		const int16_t *s = s16 + j * a_stride / CPU_QK * 2;
		/* the bias first: -32 (sc0 s16[0] + sc1 s16[1]), the pair broadcast as one word */
		const __m256i sp = bcast256((const int8_t *)s, 0);
		__m256i acc = dec ? _mm256_madd_epi16(sc01, sp)
				  : _mm256_sub_epi32(_mm256_setzero_si256(),
						     _mm256_slli_epi32(_mm256_madd_epi16(sc01, sp), 5));

		#pragma GCC unroll 2
		for (int k = 0; k < 4; k += 2) {
			const __m256i pl = _mm256_add_epi16(_mm256_maddubs_epi16(lo[k], bcast256(a, k)),
							    _mm256_maddubs_epi16(lo[k + 1],
										 bcast256(a, k + 1)));
			const __m256i ph = _mm256_add_epi16(
				_mm256_maddubs_epi16(hi[k], bcast256(a, k + 4)),
				_mm256_maddubs_epi16(hi[k + 1], bcast256(a, k + 5)));

			acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(pl, sc0),
								     _mm256_madd_epi16(ph, sc1)));
		}
		is[j] = acc;
	}
}

/*
 * Rows 8 h0 .. 8 h1 - 1 of the group against tokens t .. t + nt - 1 (all constants after
 * inlining).
 */
static inline __attribute__((always_inline)) void
tile_kq_h(const int type, const struct cpu_gemm_args *g, const uint8_t *w, const uint8_t *dec,
	  uint32_t t, const int nt, float *out, const int h0, const int h1)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	const size_t blk_bytes = cpu_kq_block_bytes(type), sb_bytes = cpu_kq_sb_bytes(type);
	__m256 facc[NT][2];

	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j][0] = facc[j][1] = _mm256_setzero_ps();
	for (uint32_t sb = 0; sb < nb / 8; sb++) {
		const uint8_t *hd = w + sb * sb_bytes;

		for (uint32_t jb = 0; jb < 8; jb++) {
			const uint32_t b = sb * 8 + jb;
			const uint8_t *q = hd + CPU_KQ_HDR + jb * blk_bytes;
			const size_t a0 = (size_t)t * nb + b;

			if (nt == 1 && !dec) /* a decode streams the weights once */
				cpu_kq_prefetch(hd, sb_bytes, jb);

			#pragma GCC unroll 2
			for (int h = h0; h < h1; h++) {
				const uint8_t *dh = dec ? dec + (2 * (size_t)b + h) * KQ_DEC_HALF : NULL;
				const uint8_t *sc = kq_scales(type, hd, jb, h);
				__m256i is[NT];

				if (type == HAL_TYPE_Q6_K)
					kq6_sums(q, dh, sc, h, A->qs + a0 * CPU_QK, A->s16 + 2 * a0,
						 (size_t)nb * CPU_QK, nt, is);
				else
					kq45_sums(type, q, dh, sc, h, A->qs + a0 * CPU_QK,
						  (size_t)nb * CPU_QK, nt, is);

				const __m256 d = f16x8_ps(hd + 16 * h);
				__m256 mins = _mm256_setzero_ps();

				if (type != HAL_TYPE_Q6_K)
					mins = dh ? _mm256_load_ps((const float *)(dh + 288))
						  : kq_mins(hd, jb, h);
				#pragma GCC unroll 8
				for (int j = 0; j < nt; j++) {
					const size_t ai = a0 + (size_t)j * nb;

					facc[j][h] = _mm256_fmadd_ps(
						_mm256_cvtepi32_ps(is[j]),
						_mm256_mul_ps(d, _mm256_set1_ps(A->d[ai])), facc[j][h]);
					if (type != HAL_TYPE_Q6_K)
						facc[j][h] = _mm256_fnmadd_ps(
							mins, _mm256_set1_ps(A->ds[ai]), facc[j][h]);
				}
			}
		}
	}
	GEMM_STORE_HALVES(_mm256_storeu_ps, out, facc, nt, h0, h1);
}

static inline __attribute__((always_inline)) void
tile_kq(const int type, const struct cpu_gemm_args *g, const uint8_t *w, const uint8_t *dec,
	uint32_t t, const int nt, float *out)
{
	GEMM_TILE_BY_HALVES(tile_kq_h, nt, type, g, w, dec, t, nt, out);
}

static void gemm_kq_avx2(enum hal_type t, const struct cpu_gemm_args *g)
{
	GEMM_KQ_BODY(kq_decode, tile_kq)
}

const struct cpu_ext_kernels cpu_ext_avx2 = {
	.isa = "avx2",
	.cache_scores = cpu_ext_avx2_cache_scores,
	.cache_values = cpu_ext_avx2_cache_values,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.gemm_kq = gemm_kq_avx2,
};
