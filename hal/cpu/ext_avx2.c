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

static inline __m256i bcast(const int8_t *a, int k)
{
	int32_t v;

	memcpy(&v, a + 4 * k, sizeof(v));
	return _mm256_set1_epi32(v);
}

/* x shifted left by s bits (right by -s) in 16-bit lanes: the bits kept never cross a byte. */
static inline __m256i shift(__m256i x, int s)
{
	return s >= 0 ? _mm256_slli_epi16(x, s) : _mm256_srli_epi16(x, -s);
}

/*
 * The unsigned q of rows 8h .. 8h + 7 of one packed block (kernels_ext.h): lo[k] elements
 * 4k + i, hi[k] elements 16 + 4k + i.
 */
static inline __attribute__((always_inline)) void
kq_values(const int t, const uint8_t *q, int h, __m256i *lo, __m256i *hi)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * k + 32 * h));

		lo[k] = _mm256_and_si256(v, m4);
		hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
	}
	if (t == HAL_TYPE_Q5_K) {
		const __m256i x = _mm256_loadu_si256((const __m256i *)(q + 256 + 32 * h));
		const __m256i b4 = _mm256_set1_epi8(0x10);

		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			lo[k] = _mm256_or_si256(lo[k], _mm256_and_si256(shift(x, 4 - k), b4));
			hi[k] = _mm256_or_si256(hi[k], _mm256_and_si256(shift(x, -k), b4));
		}
	} else if (t == HAL_TYPE_Q6_K) {
		const __m256i x0 = _mm256_loadu_si256((const __m256i *)(q + 256 + 32 * h));
		const __m256i x1 = _mm256_loadu_si256((const __m256i *)(q + 320 + 32 * h));
		const __m256i b45 = _mm256_set1_epi8(0x30);

		#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			lo[k] = _mm256_or_si256(lo[k], _mm256_and_si256(shift(x0, 4 - 2 * k), b45));
			hi[k] = _mm256_or_si256(hi[k], _mm256_and_si256(shift(x1, 4 - 2 * k), b45));
		}
	}
}

/*
 * The 8 rows' sum over 16 elements, v[k] (unsigned, < 64) against activation words k0 .. k0 +
 * 3: vpmaddubsw pairs stay below 2^15 (63 x 127 x 2); Q4_K/Q5_K (q < 32) add four of them in
 * int16 (31 x 127 x 8 < 2^15), Q6_K two.
 */
static inline __attribute__((always_inline)) __m256i half_sum(const int t, const __m256i *v,
							      const int8_t *a, int k0)
{
	const __m256i one = _mm256_set1_epi16(1);
	__m256i p[4];

	#pragma GCC unroll 4
	for (int k = 0; k < 4; k++)
		p[k] = _mm256_maddubs_epi16(v[k], bcast(a, k0 + k));
	if (t == HAL_TYPE_Q6_K)
		return _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(p[0], p[1]), one),
					_mm256_madd_epi16(_mm256_add_epi16(p[2], p[3]), one));
	return _mm256_madd_epi16(
		_mm256_add_epi16(_mm256_add_epi16(p[0], p[1]), _mm256_add_epi16(p[2], p[3])), one);
}

/*
 * Rows 8 h0 .. 8 h1 - 1 of the group against tokens t .. t + nt - 1 (all constants after
 * inlining).
 */
static inline __attribute__((always_inline)) void
tile_kq_h(const int type, const struct cpu_gemm_args *g, const uint8_t *w, uint32_t t,
	  const int nt, float *out, const int h0, const int h1)
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

		if (nt == 1) /* a decode streams the weights once: keep them coming (kernels.h) */
			for (size_t o = 0; o < sb_bytes; o += 64)
				__builtin_prefetch(hd + CPU_PREFETCH_BYTES + o, 0, CPU_PREFETCH_L2);
		for (uint32_t jb = 0; jb < 8; jb++) {
			const uint32_t b = sb * 8 + jb;

			#pragma GCC unroll 2
			for (int h = h0; h < h1; h++) {
				const __m256 d = f16x8_ps(hd + 16 * h);
				__m256i lo[4], hi[4], sc0, sc1 = _mm256_setzero_si256();
				__m256 mins = _mm256_setzero_ps();

				kq_values(type, hd + CPU_KQ_HDR + jb * blk_bytes, h, lo, hi);
				if (type == HAL_TYPE_Q6_K) {
					sc0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
						(const __m128i *)(hd + 64 + 32 * jb + 8 * h)));
					sc1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
						(const __m128i *)(hd + 80 + 32 * jb + 8 * h)));
				} else {
					sc0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
						(const __m128i *)(hd + 64 + 16 * jb + 8 * h)));
					mins = _mm256_mul_ps(
						f16x8_ps(hd + 32 + 16 * h),
						_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
							(const __m128i *)(hd + 192 + 16 * jb + 8 * h)))));
				}
				#pragma GCC unroll 8
				for (int j = 0; j < nt; j++) {
					const size_t ai = (size_t)(t + j) * nb + b;
					const int8_t *a = A->qs + ai * CPU_QK;
					__m256i s0 = half_sum(type, lo, a, 0);
					__m256i s1 = half_sum(type, hi, a, 4), is;

					if (type == HAL_TYPE_Q6_K) {
						s0 = _mm256_sub_epi32(
							s0, _mm256_set1_epi32(32 * A->s16[2 * ai]));
						s1 = _mm256_sub_epi32(
							s1, _mm256_set1_epi32(32 * A->s16[2 * ai + 1]));
						is = _mm256_add_epi32(_mm256_mullo_epi32(s0, sc0),
								      _mm256_mullo_epi32(s1, sc1));
					} else {
						is = _mm256_mullo_epi32(_mm256_add_epi32(s0, s1), sc0);
					}
					facc[j][h] = _mm256_fmadd_ps(
						_mm256_cvtepi32_ps(is),
						_mm256_mul_ps(d, _mm256_set1_ps(A->d[ai])), facc[j][h]);
					if (type != HAL_TYPE_Q6_K)
						facc[j][h] = _mm256_fnmadd_ps(
							mins,
							_mm256_set1_ps(A->d[ai] * (float)A->s[ai]),
							facc[j][h]);
				}
			}
		}
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		#pragma GCC unroll 2
		for (int h = h0; h < h1; h++)
			_mm256_storeu_ps(out + 16 * j + 8 * h, facc[j][h]);
}

static inline __attribute__((always_inline)) void
tile_kq(const int type, const struct cpu_gemm_args *g, const uint8_t *w, uint32_t t,
	const int nt, float *out)
{
	GEMM_TILE_BY_HALVES(tile_kq_h, nt, type, g, w, t, nt, out);
}

static void gemm_kq_avx2(enum hal_type t, const struct cpu_gemm_args *g)
{
	GEMM_KQ_BODY(tile_kq)
}

const struct cpu_ext_kernels cpu_ext_avx2 = {
	.isa = "avx2",
	.cache_scores = cpu_ext_avx2_cache_scores,
	.cache_values = cpu_ext_avx2_cache_values,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.gemm_kq = gemm_kq_avx2,
};
