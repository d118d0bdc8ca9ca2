/* SPDX-License-Identifier: MIT */
/*
 * ext_avx2.c - kernels_ext.h on AVX2 + FMA + F16C: F16 cache rows through vcvtph2ps, Q8_0 rows
 * widened to float per block of 32, K-quant rows unpacked with byte masks and their dots with
 * vpmaddubsw (|w| x sign(a, w), exact: |w| <= 32, |a| <= 127) then vpmaddwd.
 *
 * The unpacking and cache functions are shared with the AVX-512 table (ext_avx512.c), which
 * only replaces the dot product.
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

static inline float load_half(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return _cvtsh_ss(h);
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
static inline __m256 cols8(enum hal_type t, const uint8_t *k, int c)
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

	for (int b = 0; b < CH / HAL_QK; b++) {
		__m256 part = _mm256_mul_ps(qv[4 * b], cols8(t, k, HAL_QK * b));

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

	for (int c = 0; c < CH / 8; c++)
		qv[c] = _mm256_loadu_ps(q + 8 * c);
	for (; r + 4 <= n; r += 4) {
		__m256 a[4];

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

float cpu_ext_avx2_cache_scores(enum hal_type t, const float *q, const uint8_t *k, size_t ld,
				size_t n, size_t hd, float scale, float *p)
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

/* out[0..CH) = sum_r p[r] row_r[chunk] with the sums in registers. */
static inline __attribute__((always_inline)) void
values_chunk(enum hal_type t, float *out, const float *p, const uint8_t *v, size_t ld, size_t n,
	     const int CH)
{
	__m256 acc[CH / 8];

	for (int c = 0; c < CH / 8; c++)
		acc[c] = _mm256_setzero_ps();
	for (size_t r = 0; r < n; r++) {
		const uint8_t *row = v + r * ld;

		__builtin_prefetch(row + CACHE_AHEAD * ld, 0, 0);
		__builtin_prefetch(row + CACHE_AHEAD * ld + 64, 0, 0);
		for (int b = 0; b < CH / HAL_QK; b++) {
			const __m256 w = _mm256_set1_ps(
				t == HAL_TYPE_F16 ? p[r]
						  : p[r] * load_half(row + b * sizeof(struct hal_block_q8_0)));

			for (int c = 0; c < 4; c++)
				acc[4 * b + c] = _mm256_fmadd_ps(w, cols8(t, row, HAL_QK * b + 8 * c),
								 acc[4 * b + c]);
		}
	}
	for (int c = 0; c < CH / 8; c++)
		_mm256_storeu_ps(out + 8 * c, acc[c]);
}

void cpu_ext_avx2_cache_values(enum hal_type t, float *acc, const float *p, const uint8_t *v,
			       size_t ld, size_t n, size_t hd)
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

/* ---- K-quant rows ------------------------------------------------------------------------- */

/* Q4_K/Q5_K: 4 x 64 elements, each 32 bytes of qs giving 32 low then 32 high nibbles. */
static void unpack_k45(const uint8_t *blk, bool q5, int8_t *v)
{
	const uint8_t *qh = blk + 16, *qs = blk + (q5 ? 16 + HAL_QK_K / 8 : 16);
	const __m256i m4 = _mm256_set1_epi8(15), sixteen = _mm256_set1_epi8(16);
	const __m256i h = q5 ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();

	for (int c = 0; c < 4; c++) {
		__m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
		__m256i lo = _mm256_and_si256(q, m4);
		__m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);

		if (q5) {
			const __m256i bl = _mm256_set1_epi8((char)(1 << (2 * c)));
			const __m256i bh = _mm256_set1_epi8((char)(1 << (2 * c + 1)));

			lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(
						_mm256_and_si256(h, bl), bl), sixteen));
			hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(
						_mm256_and_si256(h, bh), bh), sixteen));
		}
		_mm256_storeu_si256((__m256i *)(v + 64 * c), lo);
		_mm256_storeu_si256((__m256i *)(v + 64 * c + 32), hi);
	}
}

/* Q6_K: per half of 128, four groups of 32 from two 32-byte ql runs and one qh run. */
static void unpack_q6_k(const uint8_t *blk, int8_t *v)
{
	const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
	const __m256i off = _mm256_set1_epi8(32);

	for (int h = 0; h < 2; h++) {
		const __m256i l0 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h));
		const __m256i l1 = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32));
		const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
		const __m256i lo[4] = { _mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
					_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
					_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4) };

		for (int g = 0; g < 4; g++) {
			__m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m2);
			__m256i q = _mm256_or_si256(lo[g], _mm256_slli_epi16(hb, 4));

			_mm256_storeu_si256((__m256i *)(v + 128 * h + 32 * g),
					    _mm256_sub_epi8(q, off));
		}
	}
}

/*
 * A Q4_K/Q5_K block's 8 scales and 8 mins without branches: the 12 bytes as three words a, b,
 * c (bytes j, j + 4, j + 8 of each sub-block pair j, j + 4), the 6-bit fields masked out of
 * all four bytes of a word at once (the packing hal_k_scale_min documents), then widened to
 * floats; each scale is stored 8 times (fsl is per 4 elements, a scale covers 32).
 */
static void k45_scales(const uint8_t *blk, float *fsl, float *fm)
{
	uint32_t a, b, c;

	memcpy(&a, blk + 4, 4);
	memcpy(&b, blk + 8, 4);
	memcpy(&c, blk + 12, 4);
	const uint64_t sc = (uint64_t)(a & 0x3f3f3f3fu) |
			    (uint64_t)((c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u)) << 32;
	const uint64_t mn = (uint64_t)(b & 0x3f3f3f3fu) |
			    (uint64_t)(((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)) << 32;
	const __m256 s = _mm256_mul_ps(_mm256_set1_ps(load_half(blk)),
				       _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
					       _mm_cvtsi64_si128((long long)sc))));

	for (int j = 0; j < 8; j++)
		_mm256_store_ps(fsl + 8 * j, _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(j)));
	_mm256_storeu_ps(fm, _mm256_mul_ps(_mm256_set1_ps(load_half(blk + 2)),
					   _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
						   _mm_cvtsi64_si128((long long)mn)))));
}

void cpu_ext_avx2_kq_unpack(enum hal_type t, const uint8_t *row, uint32_t K,
			    const struct cpu_kq_row *r)
{
	const size_t bb = hal_type_block_bytes(t);

	for (uint32_t b = 0; b < K / HAL_QK_K; b++, row += bb) {
		float *fsl = r->fsl + 64 * b, *fm = r->fm + 8 * b;

		if (t == HAL_TYPE_Q6_K) {
			const float d = load_half(row + offsetof(struct hal_block_q6_k, d));
			const int8_t *sc = (const int8_t *)(row + offsetof(struct hal_block_q6_k,
									   scales));
			const __m256 dv = _mm256_set1_ps(d);
			const __m128i s8 = _mm_loadu_si128((const __m128i *)sc);
			const __m256 s[2] = {
				_mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8))),
				_mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
							  _mm_srli_si128(s8, 8)))),
			};
			/* lanes of 4: scale i of 16 twice in each 8 */
			for (int j = 0; j < 8; j++)
				_mm256_store_ps(fsl + 8 * j, _mm256_permutevar8x32_ps(
						s[j / 4], _mm256_setr_epi32(2 * (j % 4), 2 * (j % 4),
									    2 * (j % 4), 2 * (j % 4),
									    2 * (j % 4) + 1, 2 * (j % 4) + 1,
									    2 * (j % 4) + 1,
									    2 * (j % 4) + 1)));
			_mm256_storeu_ps(fm, _mm256_setzero_ps());
			unpack_q6_k(row, r->v + (size_t)b * HAL_QK_K);
			continue;
		}
		k45_scales(row, fsl, fm);
		unpack_k45(row, t == HAL_TYPE_Q5_K, r->v + (size_t)b * HAL_QK_K);
	}
}

/*
 * sum_b d[b] fm[b] s[b] over a row's nb blocks (a multiple of 8: 8 blocks a super-block),
 * shared with the AVX-512 dot.
 */
float cpu_ext_avx2_kq_mins(const float *fm, const float *d, const int32_t *s, uint32_t nb)
{
	__m256 acc = _mm256_setzero_ps();

	for (uint32_t b = 0; b < nb; b += 8)
		acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_load_ps(fm + b), _mm256_loadu_ps(d + b)),
				      _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(s + b))),
				      acc);
	return hsum(acc);
}

/*
 * Each block's 8 int32 sums of 4 products meet their lane scales in one load (lanes 0-3
 * elements 0-15, lanes 4-7 elements 16-31); two chains fill the FMA latency.
 */
static inline __m256 kq_block(const struct cpu_kq_row *r, const int8_t *x, const float *d,
			      uint32_t b, __m256 acc)
{
	const __m256i w = _mm256_load_si256((const __m256i *)(r->v + (size_t)b * CPU_QK));
	const __m256i y = _mm256_loadu_si256((const __m256i *)(x + (size_t)b * CPU_QK));
	const __m256i p = _mm256_madd_epi16(
		_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w)),
		_mm256_set1_epi16(1));
	const __m256 sc = _mm256_mul_ps(_mm256_broadcast_ss(d + b),
					_mm256_load_ps(r->fsl + 8 * (size_t)b));

	return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc);
}

static float kq_dot_avx2(const struct cpu_kq_row *r, const struct cpu_act *a, uint32_t row)
{
	const int8_t *x = a->qs + (size_t)row * a->nb * CPU_QK;
	const float *d = a->d + (size_t)row * a->nb;
	const int32_t *s = a->s + (size_t)row * a->nb;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();

	/* nb is a multiple of 8 (8 blocks a super-block) */
	for (uint32_t b = 0; b < a->nb; b += 2) {
		acc0 = kq_block(r, x, d, b, acc0);
		acc1 = kq_block(r, x, d, b + 1, acc1);
	}
	return hsum(_mm256_add_ps(acc0, acc1)) - cpu_ext_avx2_kq_mins(r->fm, d, s, a->nb);
}

const struct cpu_ext_kernels cpu_ext_avx2 = {
	.isa = "avx2",
	.cache_scores = cpu_ext_avx2_cache_scores,
	.cache_values = cpu_ext_avx2_cache_values,
	.cache_load = cpu_ext_avx2_cache_load,
	.cache_store = cpu_ext_avx2_cache_store,
	.kq_unpack = cpu_ext_avx2_kq_unpack,
	.kq_dot = kq_dot_avx2,
};
