/* SPDX-License-Identifier: MIT */
/*
 * kernels_avx2.c - AVX2 + FMA + F16C kernels, for x86 CPUs without AVX-512 VNNI.
 *
 * Same packed layout as the AVX-512 path: the low 32 bytes of each 64-byte vector of a
 * packed block are rows 0-7, the high 32 bytes rows 8-15. Without vpdpbusd the int8 dot is
 * vpmaddubsw (unsigned x signed bytes into saturating int16 pairs) then vpmaddwd by ones:
 * - Q4_0 nibbles are < 16, so 8 pair sums stay below 2^15 and add up in int16 first;
 * - Q8_0 bytes (stored + 128) would saturate, so they go back to signed and take the usual
 *   sign trick, |w| x sign(a, w), which is exact and needs no bias.
 *
 * Built a second time with -mavxvnni (__AVXVNNI__: Alder Lake and later cores, Zen 5) as the
 * "avxvnni" table: there vpdpbusd on 256-bit vectors does each int8 dot in one instruction,
 * on the stored unsigned bytes, with the AVX-512 path's bias correction (bias x sum(a)).
 */
#include "kernels.h"
#include "x86_int8.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define NT 4

#include "gemm_loop.h"

static inline float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static inline int32_t hsum256_i32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

/* ---- activation quantization -------------------------------------------------------------- */

static inline __m256 round_away(__m256 v)
{
	__m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
	__m256 rest = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
	__m256 up = _mm256_cmp_ps(rest, _mm256_set1_ps(0.5f), _CMP_GE_OQ);

	return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
}

static void quantize_act_avx2(const float *x, struct cpu_act *a, uint32_t row)
{
	const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));

	for (uint32_t b = 0; b < a->nb; b++) {
		const float *xb = x + (size_t)b * CPU_QK;
		size_t i = (size_t)row * a->nb + b;
		__m256 v[4], m;

		/* max(|x|, 0) is 0 for NaN: the scalar path's fmaxf skips NaN */
		m = _mm256_setzero_ps();
		for (int k = 0; k < 4; k++) {
			v[k] = _mm256_loadu_ps(xb + 8 * k);
			m = _mm256_max_ps(m, _mm256_max_ps(_mm256_and_ps(v[k], abs),
							   _mm256_setzero_ps()));
		}
		__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));

		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_movehdup_ps(h));
		float d = _mm_cvtss_f32(h) / 127.0f;
		__m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
		__m256i q[4], sum = _mm256_setzero_si256();

		for (int k = 0; k < 4; k++) {
			__m256 y = _mm256_mul_ps(v[k], id);
			/* what rounds outside -128..127 (NaN, inf) is 0, as in quant.c */
			__m256 ok = _mm256_and_ps(_mm256_cmp_ps(y, _mm256_set1_ps(127.5f), _CMP_LT_OQ),
						  _mm256_cmp_ps(y, _mm256_set1_ps(-128.5f), _CMP_GT_OQ));

			q[k] = _mm256_and_si256(_mm256_cvttps_epi32(round_away(y)),
						_mm256_castps_si256(ok));
			sum = _mm256_add_epi32(sum, q[k]);
		}
		/* int32 -> int8 with saturating packs (no-ops here), then undo their lane order */
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
					       _mm256_packs_epi32(q[2], q[3]));

		p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		_mm256_storeu_si256((__m256i *)(a->qs + i * CPU_QK), p);
		a->s[i] = hsum256_i32(sum);
		a->d[i] = cpu_half_round_f16c(d);
	}
}

/* ---- quantized matmul --------------------------------------------------------------------- */

#if defined(__AVXVNNI__)
#define KERNELS cpu_kernels_avxvnni
#define KERNELS_ISA "avxvnni"
/* s + the unsigned stored bytes u against activation bytes a: 8 dword sums, one instruction. */
#define DOT_U8(s, u, a) _mm256_dpbusd_avx_epi32(s, u, a)
#else
#define KERNELS cpu_kernels_avx2
#define KERNELS_ISA "avx2"
#endif

/*
 * Without VNNI a prefill decodes each group once into the thread's scratch (struct
 * cpu_gemm_args) for all its 4-token tiles, which would each decode it again: per block and
 * half, Q8_0's 8 vectors w made signed, then the 8 |w|; Q4_0's low then high nibbles
 * (npu-bench cpu, avx2 on Zen 4, T=128: Q8_0 0-15 %, Q4_0 5-14 % faster).
 */
#define Q8_DEC_HALF 512
#define Q4_DEC_HALF 256
_Static_assert(2 * Q8_DEC_HALF <= CPU_DEC_BLOCK_BYTES, "a decoded block fits the scratch");

/*
 * Per block, half h (8 rows) at a time and the NT tokens' sums side by side: each weight vector
 * is loaded, and without VNNI made signed and split into |w| and sign once, for all NT tokens;
 * everything live fits the 16 ymm registers (the compiler spilled the whole block's |w| to the
 * stack when all 16 vectors were converted first).
 */
static inline __attribute__((always_inline)) void
tile_q8_h(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,
	  const uint8_t *dec, uint32_t t, const int nt, float *out, const int h0, const int h1)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	__m256 facc[NT][2];

#if defined(DOT_U8)
	(void)dec; /* vpdpbusd takes the stored bytes */
#endif
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j][0] = facc[j][1] = _mm256_setzero_ps();
	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *q = qs + (size_t)b * CPU_Q8_CHUNK;

		if (nt == 1)
			cpu_prefetch_decode(qs, CPU_Q8_CHUNK, b, nb);
		#pragma GCC unroll 2
		for (int h = h0; h < h1; h++) {
#if !defined(DOT_U8)
			const uint8_t *dh = dec ? dec + (2 * (size_t)b + h) * Q8_DEC_HALF : NULL;
#endif
			__m256i s[NT];

			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++)
				s[j] = _mm256_setzero_si256();
			#pragma GCC unroll 8
			for (int k = 0; k < 8; k++) {
				const __m256i w = _mm256_loadu_si256(
					(const __m256i *)(q + 64 * k + 32 * h));
#if !defined(DOT_U8)
				/* stored + 128 back to signed (or decoded so); |w| against a, w's sign */
				const __m256i ws =
					dh ? _mm256_load_si256((const __m256i *)(dh + 32 * k))
					   : _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80));
				const __m256i wa =
					dh ? _mm256_load_si256((const __m256i *)(dh + 256 + 32 * k))
					   : _mm256_abs_epi8(ws);
#endif

				#pragma GCC unroll 8
				for (int j = 0; j < nt; j++) {
					const int8_t *a = A->qs + ((size_t)(t + j) * nb + b) * CPU_QK;
#if defined(DOT_U8)
					s[j] = DOT_U8(s[j], w, bcast256(a, k));
#else
					const __m256i p = _mm256_maddubs_epi16(
						wa, _mm256_sign_epi8(bcast256(a, k), ws));

					s[j] = _mm256_add_epi32(
						s[j], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
				}
			}
			const __m256 dw = _mm256_cvtph_ps(
				_mm_loadu_si128((const __m128i *)(sc + 32 * b + 16 * h)));

			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++) {
				const size_t ai = (size_t)(t + j) * nb + b;

#if defined(DOT_U8)
				s[j] = _mm256_sub_epi32(s[j], _mm256_set1_epi32(128 * A->s[ai]));
#endif
				facc[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[j]),
							     _mm256_mul_ps(dw, _mm256_set1_ps(A->d[ai])),
							     facc[j][h]);
			}
		}
	}
	GEMM_STORE_HALVES(_mm256_storeu_ps, out, facc, nt, h0, h1);
}

static inline __attribute__((always_inline)) void
tile_q8(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	GEMM_TILE_BY_HALVES(tile_q8_h, nt, g, qs, sc, NULL, t, nt, out);
}

static inline __attribute__((always_inline)) void
tile_q4_h(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,
	  const uint8_t *dec, uint32_t t, const int nt, float *out, const int h0, const int h1)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256 facc[NT][2];

	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j][0] = facc[j][1] = _mm256_setzero_ps();
	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *q = qs + (size_t)b * CPU_Q4_CHUNK;

		if (nt == 1)
			cpu_prefetch_decode(qs, CPU_Q4_CHUNK, b, nb);
		#pragma GCC unroll 8
		for (int h = h0; h < h1; h++) {
			__m256 dw = _mm256_cvtph_ps(
				_mm_loadu_si128((const __m128i *)(sc + 32 * b + 16 * h)));
#if !defined(DOT_U8)
			/*
			 * A weight vector at a time with the tokens inner: four int16 sums live
			 * instead of the eight decoded vectors (which spilled beside the sums)
			 */
			__m256i p[NT];

			const uint8_t *dh = dec ? dec + (2 * (size_t)b + h) * Q4_DEC_HALF : NULL;

			#pragma GCC unroll 4
			for (int m = 0; m < 4; m++) {
				const __m256i v =
					_mm256_loadu_si256((const __m256i *)(q + 64 * m + 32 * h));
				const __m256i lo =
					dh ? _mm256_load_si256((const __m256i *)(dh + 32 * m))
					   : _mm256_and_si256(v, m4);
				const __m256i hi =
					dh ? _mm256_load_si256((const __m256i *)(dh + 128 + 32 * m))
					   : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);

				#pragma GCC unroll 8
				for (int j = 0; j < nt; j++) {
					const __m256i ps = pair_sums(
						lo, hi, A->qs + ((size_t)(t + j) * nb + b) * CPU_QK, m);

					p[j] = m ? _mm256_add_epi16(p[j], ps) : ps;
				}
			}
			/*
			 * The bias 8 x sum(a) costs a scalar shift, a move and a broadcast per
			 * token and block. Neither its broadcast from memory and a vector shift
			 * nor its float form (d * sum(a) precomputed per activation block, one
			 * fnmadd by 8 dw) made the T=128 rows faster (Zen 4, npu-bench cpu,
			 * interleaved rounds): this tile is not bound by its instruction count.
			 */
			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++) {
				size_t ai = (size_t)(t + j) * nb + b;
				__m256i s = _mm256_sub_epi32(_mm256_madd_epi16(p[j], _mm256_set1_epi16(1)),
							     _mm256_set1_epi32(8 * A->s[ai]));
				__m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(A->d[ai]));

				facc[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, facc[j][h]);
			}
#else
			(void)dec;
			__m256i w[8];

			#pragma GCC unroll 8
			for (int m = 0; m < 4; m++) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * m + 32 * h));

				w[m] = _mm256_and_si256(v, m4);
				w[m + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
			}
			#pragma GCC unroll 8
			for (int j = 0; j < nt; j++) {
				size_t ai = (size_t)(t + j) * nb + b;
				const int8_t *a = A->qs + ai * CPU_QK;
				__m256i s = _mm256_setzero_si256();

				#pragma GCC unroll 8
				for (int k = 0; k < 8; k++)
					s = DOT_U8(s, w[k], bcast256(a, k));
				s = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * A->s[ai]));
				__m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(A->d[ai]));

				facc[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, facc[j][h]);
			}
#endif
		}
	}
	GEMM_STORE_HALVES(_mm256_storeu_ps, out, facc, nt, h0, h1);
}

static inline __attribute__((always_inline)) void
tile_q4(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	GEMM_TILE_BY_HALVES(tile_q4_h, nt, g, qs, sc, NULL, t, nt, out);
}

static inline __attribute__((always_inline)) void decode_q4(const uint8_t *qs, uint32_t nb,
							     uint8_t *dec)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	for (size_t bh = 0; bh < 2 * (size_t)nb; bh++) {
		const uint8_t *q = qs + bh / 2 * CPU_Q4_CHUNK + 32 * (bh % 2);

		for (int m = 0; m < 4; m++) {
			const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 64 * m));

			_mm256_store_si256((__m256i *)(dec + bh * Q4_DEC_HALF + 32 * m),
					   _mm256_and_si256(v, m4));
			_mm256_store_si256((__m256i *)(dec + bh * Q4_DEC_HALF + 128 + 32 * m),
					   _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
		}
	}
}

static inline __attribute__((always_inline)) void decode_q8(const uint8_t *qs, uint32_t nb,
							     uint8_t *dec)
{
	for (size_t bh = 0; bh < 2 * (size_t)nb; bh++) {
		const uint8_t *q = qs + bh / 2 * CPU_Q8_CHUNK + 32 * (bh % 2);

		for (int k = 0; k < 8; k++) {
			const __m256i ws = _mm256_xor_si256(
				_mm256_loadu_si256((const __m256i *)(q + 64 * k)),
				_mm256_set1_epi8((char)0x80));

			_mm256_store_si256((__m256i *)(dec + bh * Q8_DEC_HALF + 32 * k), ws);
			_mm256_store_si256((__m256i *)(dec + bh * Q8_DEC_HALF + 256 + 32 * k),
					   _mm256_abs_epi8(ws));
		}
	}
}

/*
 * GEMM_BODY_BIG's first step: with two or more whole tiles of tokens and the room, decode
 * the group and run those tiles from it; returns the first token left.
 */
#define DECODED_TILES(name, decode, tile_h)						\
	static inline __attribute__((always_inline)) uint32_t				\
	name(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,	\
	     uint32_t gi, uint32_t t)							\
	{										\
		float out[16 * NT] __attribute__((aligned(64)));			\
											\
		if (!GEMM_DECODE_ROOM(g, t))						\
			return t;							\
		decode(qs, g->a->nb, g->scratch);					\
		for (; t + NT <= g->t1; t += NT) {					\
			GEMM_TILE_BY_HALVES(tile_h, NT, g, qs, sc, g->scratch, t, NT, out); \
			put_tile(g, gi, t, NT, out);					\
		}									\
		return t;								\
	}

#if !defined(DOT_U8)
DECODED_TILES(decoded_q4, decode_q4, tile_q4_h)
DECODED_TILES(decoded_q8, decode_q8, tile_q8_h)
#else
#define decoded_q4 GEMM_NO_BIG
#define decoded_q8 GEMM_NO_BIG /* vpdpbusd takes the stored bytes as they are */
#endif

static void gemm_q8_avx2(const struct cpu_gemm_args *g)
{
	GEMM_BODY_BIG(decoded_q8, tile_q8, CPU_Q8_CHUNK)
}

static void gemm_q4_avx2(const struct cpu_gemm_args *g)
{
	GEMM_BODY_BIG(decoded_q4, tile_q4, CPU_Q4_CHUNK)
}

/* ---- float vectors ------------------------------------------------------------------------ */

static float dot_f32_avx2(const float *w, const float *a, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	float tail = 0.0f;

	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), s1);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), s0);
	for (; i < n; i++)
		tail += w[i] * a[i];
	return hsum256(_mm256_add_ps(s0, s1)) + tail;
}

static float dot_f16_avx2(const uint16_t *w, const float *a, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	float tail = 0.0f;

	for (; i + 16 <= n; i += 16) {
		__m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
		__m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));

		s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a + i), s0);
		s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a + i + 8), s1);
	}
	for (; i < n; i++)
		tail += _cvtsh_ss(w[i]) * a[i];
	return hsum256(_mm256_add_ps(s0, s1)) + tail;
}

static float sumsq_avx2(const float *x, size_t n)
{
	return dot_f32_avx2(x, x, n);
}

/* Cephes expf as in the AVX-512 file; 2^n built in the exponent field, x clamped first. */
static inline __m256 exp256(__m256 x)
{
	x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	__m256 p;

	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
						       _mm256_set1_epi32(127)), 23);

	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static float exp_sum_avx2(float *p, size_t n, float max)
{
	__m256 vmax = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
	size_t i = 0;
	float tail = 0.0f;

	for (; i + 8 <= n; i += 8) {
		__m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(p + i), vmax));

		_mm256_storeu_ps(p + i, e);
		sum = _mm256_add_ps(sum, e);
	}
	for (; i < n; i++) {
		p[i] = expf(p[i] - max);
		tail += p[i];
	}
	return hsum256(sum) + tail;
}

static void axpy_avx2(float *y, float a, const float *x, size_t n)
{
	__m256 va = _mm256_set1_ps(a);
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
							_mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

static void swiglu_avx2(float *d, const float *g, const float *u, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256 vg = _mm256_loadu_ps(g + i);
		__m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f),
					   exp256(_mm256_sub_ps(_mm256_setzero_ps(), vg)));

		_mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_div_ps(vg, den),
						      _mm256_loadu_ps(u + i)));
	}
	for (; i < n; i++)
		d[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void scale_mul_avx2(float *d, const float *x, float s, const float *w, size_t n)
{
	__m256 vs = _mm256_set1_ps(s);
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
						      _mm256_loadu_ps(w + i)));
	for (; i < n; i++)
		d[i] = (x[i] * s) * w[i];
}

static void add_avx2(float *d, const float *a, const float *b, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
	for (; i < n; i++)
		d[i] = a[i] + b[i];
}

/* x0' = x0 c - x1 s, x1' = x1 c + x0 s for 4 pairs a vector: one fmaddsub on swapped pairs. */
static void rope_avx2(float *x, const float *cs, uint32_t n_rot, uint32_t n_head, uint32_t hd)
{
	uint32_t i = 0;

	for (; i + 8 <= n_rot; i += 8) {
		__m256 v = _mm256_loadu_ps(cs + i);
		__m256 c = _mm256_moveldup_ps(v), sn = _mm256_movehdup_ps(v);

		for (uint32_t h = 0; h < n_head; h++) {
			float *xh = x + (size_t)h * hd + i;
			__m256 xv = _mm256_loadu_ps(xh);
			__m256 sw = _mm256_mul_ps(_mm256_permute_ps(xv, 0xb1), sn);

			_mm256_storeu_ps(xh, _mm256_fmaddsub_ps(xv, c, sw));
		}
	}
	for (uint32_t h = 0; h < n_head; h++) {
		float *xh = x + (size_t)h * hd;

		for (uint32_t j = i; j < n_rot; j += 2) {
			float x0 = xh[j], x1 = xh[j + 1];

			xh[j] = x0 * cs[j] - x1 * cs[j + 1];
			xh[j + 1] = x0 * cs[j + 1] + x1 * cs[j];
		}
	}
}

/* ---- decode attention (one query against the F32 cache) ---------------------------------- */

/* One cache row's dot product with q (HD floats) as a vector of partial sums. */
static inline __attribute__((always_inline)) __m256
row_dot(const float *q, const float *kr, const int HD)
{
	__m256 a = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(kr));

	#pragma GCC unroll 16
	for (int c = 1; c < HD / 8; c++)
		a = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), _mm256_loadu_ps(kr + 8 * c), a);
	return a;
}

/*
 * Eight cache rows' dot products with q (HD a constant: the loops unroll) as one vector of
 * eight scores: the sums are reduced together by hadd, pair by pair as the rows come (fewer
 * registers live), not one horizontal sum per row.
 */
static inline __attribute__((always_inline)) __m256
scores8(const float *q, const float *k, size_t ld, const int HD)
{
	__m256 h[4];

	#pragma GCC unroll 4
	for (int j = 0; j < 4; j++)
		h[j] = _mm256_hadd_ps(row_dot(q, k + 2 * j * ld, HD),
				      row_dot(q, k + (2 * j + 1) * ld, HD));
	/* lanes: rows 0-3 of each half, then rows 4-7; the two halves added last */
	__m256 h0 = _mm256_hadd_ps(h[0], h[1]), h1 = _mm256_hadd_ps(h[2], h[3]);

	return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20),
			     _mm256_permute2f128_ps(h0, h1, 0x31));
}

static inline __attribute__((always_inline)) float
scores_hd(const float *q, const float *k, size_t ld, size_t n, float scale, float *p,
	  const int HD)
{
	const __m256 vs = _mm256_set1_ps(scale);
	__m256 vmax = _mm256_set1_ps(-INFINITY);
	float max = -INFINITY;
	size_t r = 0;

	for (; r + 8 <= n; r += 8) {
		__m256 v = _mm256_mul_ps(vs, scores8(q, k + r * ld, ld, HD));

		_mm256_storeu_ps(p + r, v);
		vmax = _mm256_max_ps(v, vmax); /* a NaN score is passed over, as by fmaxf */
	}
	for (; r < n; r++) {
		p[r] = scale * dot_f32_avx2(q, k + r * ld, HD);
		max = fmaxf(max, p[r]);
	}
	__m128 m = _mm_max_ps(_mm256_extractf128_ps(vmax, 1), _mm256_castps256_ps128(vmax));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return fmaxf(max, _mm_cvtss_f32(m));
}

static float attn_scores_avx2(const float *q, const float *k, size_t ld, size_t n, size_t hd,
			      float scale, float *p)
{
	return hd == 64 ? scores_hd(q, k, ld, n, scale, p, 64)
			: scores_hd(q, k, ld, n, scale, p, 128);
}

/*
 * acc = sum_r p[r] v_r, 64 columns at a time: eight accumulators (eight independent FMA chains,
 * latency 4 x 2 a cycle) leave the other eight registers free, where a whole head of 128
 * would spill.
 */
static void attn_values_avx2(float *acc, const float *p, const float *v, size_t ld, size_t n,
			     size_t hd)
{
	for (size_t d0 = 0; d0 < hd; d0 += 64) {
		__m256 a[8];

		#pragma GCC unroll 8
		for (int c = 0; c < 8; c++)
			a[c] = _mm256_setzero_ps();
		for (size_t r = 0; r < n; r++) {
			const __m256 pr = _mm256_broadcast_ss(p + r);
			const float *vr = v + r * ld + d0;

			#pragma GCC unroll 8
			for (int c = 0; c < 8; c++)
				a[c] = _mm256_fmadd_ps(pr, _mm256_loadu_ps(vr + 8 * c), a[c]);
		}
		#pragma GCC unroll 8
		for (int c = 0; c < 8; c++)
			_mm256_storeu_ps(acc + d0 + 8 * c, a[c]);
	}
}

/*
 * A prefill's attention for 8 queries of one head with the queries in the lanes, as the
 * AVX-512 file's attn_block does for 16 (see there); attn_block_avx2 takes a block of 16 as
 * two of 8.
 */
static inline __attribute__((always_inline)) void
block8_values(const float *st, const float *v, size_t ld, const int32_t *lastv,
	      const float *inv, uint32_t nq, size_t hd, float *out, size_t ldo, const int NV)
{
	for (size_t d0 = 0; d0 < hd; d0 += 8 * NV) {
		for (uint32_t i0 = 0; i0 < nq; i0 += 2) {
			__m256 a[2][4]; /* fixed sizes: an array sized by NV would be a VLA */
			uint32_t lo, hi;

			/* rows both queries see, then the rows only one does (as in AVX-512) */
			cpu_attn_rows(lastv, i0, 2, nq, &lo, &hi);
			#pragma GCC unroll 2
			for (int i = 0; i < 2; i++)
				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					a[i][c] = _mm256_setzero_ps();
			for (uint32_t r = lo; r < hi; r++)
				#pragma GCC unroll 2
				for (uint32_t i = 0; i < 2; i++) /* constant counts: a[][] in registers */
					if (i0 + i < nq && (int32_t)r <= lastv[i0 + i])
						#pragma GCC unroll 4
						for (int c = 0; c < NV; c++)
							a[i][c] = _mm256_fmadd_ps(
								_mm256_broadcast_ss(st + 8 * r + i0 + i),
								_mm256_loadu_ps(v + r * ld + d0 + 8 * c),
								a[i][c]);
			for (uint32_t r = 0; r < lo; r++) {
				const float *vr = v + r * ld + d0;
				__m256 x[4];

				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					x[c] = _mm256_loadu_ps(vr + 8 * c);
				#pragma GCC unroll 2
				for (int i = 0; i < 2; i++) {
					__m256 pr = _mm256_broadcast_ss(st + 8 * r + i0 + i);

					#pragma GCC unroll 4
					for (int c = 0; c < NV; c++)
						a[i][c] = _mm256_fmadd_ps(pr, x[c], a[i][c]);
				}
			}
			#pragma GCC unroll 2
			for (uint32_t i = 0; i < 2; i++)
				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					if (i0 + i < nq)
						_mm256_storeu_ps(out + (i0 + i) * ldo + d0 + 8 * c,
								 _mm256_mul_ps(a[i][c], _mm256_set1_ps(
									 inv[i0 + i])));
		}
	}
}

static void attn_block8(const float *q, size_t ldq, const uint32_t *last, uint32_t nq,
			const float *k, const float *v, size_t ld, size_t hd, float scale,
			float *out, size_t ldo, float *ws)
{
	float *qt = ws, *st = ws + 8 * hd;
	int32_t lastv[8];
	float inv[8];
	const uint32_t n = cpu_attn_block_lanes(q, ldq, last, nq, hd, scale, 8, qt, lastv);

	/* scores, 8 dims of q in registers per pass over the rows, two chains of four */
	for (size_t d0 = 0; d0 < hd; d0 += 8) {
		__m256 qr[8];

		#pragma GCC unroll 8
		for (int c = 0; c < 8; c++)
			qr[c] = _mm256_loadu_ps(qt + 8 * (d0 + c));
		for (uint32_t r = 0; r < n; r++) {
			const float *kr = k + r * ld + d0;
			__m256 s0 = _mm256_mul_ps(qr[0], _mm256_broadcast_ss(kr));
			__m256 s1 = _mm256_mul_ps(qr[1], _mm256_broadcast_ss(kr + 1));

			#pragma GCC unroll 4
			for (int c = 2; c < 8; c += 2) {
				s0 = _mm256_fmadd_ps(qr[c], _mm256_broadcast_ss(kr + c), s0);
				s1 = _mm256_fmadd_ps(qr[c + 1], _mm256_broadcast_ss(kr + c + 1), s1);
			}
			__m256 sum = _mm256_add_ps(s0, s1);

			if (d0)
				sum = _mm256_add_ps(_mm256_loadu_ps(st + 8 * r), sum);
			_mm256_storeu_ps(st + 8 * r, sum);
		}
	}
	/* softmax down each lane, over the rows that query may see */
	const __m256i vl = _mm256_loadu_si256((const __m256i *)lastv);
	const __m256 ninf = _mm256_set1_ps(-INFINITY);
	__m256 m = ninf, sum = _mm256_setzero_ps();

	for (uint32_t r = 0; r < n; r++) {
		__m256 live = _mm256_castsi256_ps(
			_mm256_cmpgt_epi32(vl, _mm256_set1_epi32((int32_t)r - 1)));

		m = _mm256_max_ps(m, _mm256_blendv_ps(ninf, _mm256_loadu_ps(st + 8 * r), live));
	}
	for (uint32_t r = 0; r < n; r++) {
		__m256 live = _mm256_castsi256_ps(
			_mm256_cmpgt_epi32(vl, _mm256_set1_epi32((int32_t)r - 1)));
		__m256 e = _mm256_and_ps(live, exp256(_mm256_sub_ps(_mm256_loadu_ps(st + 8 * r), m)));

		_mm256_storeu_ps(st + 8 * r, e);
		sum = _mm256_add_ps(sum, e);
	}
	_mm256_storeu_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), sum));
	if (hd % 32 == 0)
		block8_values(st, v, ld, lastv, inv, nq, hd, out, ldo, 4);
	else
		block8_values(st, v, ld, lastv, inv, nq, hd, out, ldo, 1);
}

static void attn_block_avx2(const float *q, size_t ldq, const uint32_t *last, uint32_t nq,
			    const float *k, const float *v, size_t ld, size_t hd, float scale,
			    float *out, size_t ldo, float *ws)
{
	for (uint32_t h = 0; h < nq; h += 8)
		attn_block8(q + h * ldq, ldq, last + h, nq - h < 8 ? nq - h : 8, k, v, ld, hd,
			    scale, out + h * ldo, ldo, ws);
}

/* ---- compute ceiling ---------------------------------------------------------------------- */

/* Keeps a register's value live without a store: the loop below is not optimised away. */
#define KEEP(v) __asm__ volatile("" : "+x"(v))

/*
 * The int8 dot of the matmul tiles above on 12 independent accumulators (32 MACs each), each
 * a variable of its own (an array here stayed on the stack and the loop timed store-to-load
 * forwarding; the multiply of loop-invariant operands was hoisted out of the loop, so the
 * AVX2 row timed vpaddw alone). Without VNNI each chain's multiply reads the chain itself:
 * 12 multiplies of the same operands would be one. 12 chains cover latency x throughput of
 * vpdpbusd ymm (Zen 4: ~4 cycles x 2 a cycle; Alder Lake and later: 5 x 2) and of vpmaddubsw
 * + vpaddw (4 x 2).
 */
static uint64_t peak_macs_avx2(uint64_t rounds, const char **what)
{
	const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-5);
#define PEAK_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PEAK_ZERO(i) __m256i acc##i = a;
#define PEAK_KEEP(i) KEEP(acc##i);
#if defined(DOT_U8)
#define PEAK_STEP(i) acc##i = DOT_U8(acc##i, a, b); KEEP(acc##i);
#else
#define PEAK_STEP(i)								\
	acc##i = _mm256_add_epi16(acc##i, _mm256_maddubs_epi16(acc##i, b));	\
	KEEP(acc##i);
#endif

	PEAK_CHAINS(PEAK_ZERO)
	for (uint64_t r = 0; r < rounds; r++) {
		PEAK_CHAINS(PEAK_STEP)
	}
	PEAK_CHAINS(PEAK_KEEP)
#if defined(DOT_U8)
	*what = "vpdpbusd ymm, 12 chains";
#else
	*what = "vpmaddubsw + vpaddw ymm, 12 chains";
#endif
	return rounds * 12 * 32;
}

const struct cpu_kernels KERNELS = {
	.isa = KERNELS_ISA,
	.quantize_act = quantize_act_avx2,
	.gemm_q8 = gemm_q8_avx2,
	.gemm_q4 = gemm_q4_avx2,
	.dot_f32 = dot_f32_avx2,
	.dot_f16 = dot_f16_avx2,
	.sumsq = sumsq_avx2,
	.exp_sum = exp_sum_avx2,
	.axpy = axpy_avx2,
	.swiglu = swiglu_avx2,
	.scale_mul = scale_mul_avx2,
	.add = add_avx2,
	.rope = rope_avx2,
	.attn_scores = attn_scores_avx2,
	.attn_values = attn_values_avx2,
	.attn_block = attn_block_avx2,
	.peak_macs = peak_macs_avx2,
};
