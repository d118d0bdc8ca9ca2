/* SPDX-License-Identifier: MIT */
/*
 * kernels_avx512.c - AVX-512 (F/BW/VL) + VNNI kernels. Compiled with those flags alone (see
 * meson.build) and only called after cpuid said yes (kernels_scalar.c).
 *
 * The quantized matmul keeps one packed block of 16 rows (8 or 4 zmm) in registers and runs
 * it against NT activation rows: vpdpbusd with the activation's 4 bytes broadcast from memory
 * leaves row r's partial sum in lane r, so no horizontal sums are needed anywhere.
 */
#include "kernels.h"
#include "x86_int8.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define NT 4 /* activation rows per tile: 4 x 2 int + 4 float accumulators + 8 weights */

/* ---- activation quantization -------------------------------------------------------------- */

/* roundf (half away from zero) exactly: truncate, then step away if the rest is >= 0.5. */
static inline __m512 round_away(__m512 v)
{
	__m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m512 rest = _mm512_abs_ps(_mm512_sub_ps(v, t));
	__mmask16 up = _mm512_cmp_ps_mask(rest, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
	__m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f),
				  _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));

	return _mm512_mask_add_ps(t, up, t, one);
}

static void quantize_act_avx512(const float *x, struct cpu_act *a, uint32_t row)
{
	for (uint32_t b = 0; b < a->nb; b++) {
		const float *xb = x + (size_t)b * CPU_QK;
		size_t i = (size_t)row * a->nb + b;
		__m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
		const __m512 zero = _mm512_setzero_ps();
		/* max(|x|, 0) is 0 for NaN: the scalar path's fmaxf skips NaN */
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(
			_mm512_max_ps(_mm512_abs_ps(x0), zero), _mm512_max_ps(_mm512_abs_ps(x1), zero)));
		float d = amax / 127.0f;
		__m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
		__m512 v0 = _mm512_mul_ps(x0, id), v1 = _mm512_mul_ps(x1, id);
		/* what rounds outside -128..127 (NaN, inf: a non-finite block) is 0, as in quant.c */
		__mmask16 ok0 = _mm512_cmp_ps_mask(v0, _mm512_set1_ps(127.5f), _CMP_LT_OQ) &
				_mm512_cmp_ps_mask(v0, _mm512_set1_ps(-128.5f), _CMP_GT_OQ);
		__mmask16 ok1 = _mm512_cmp_ps_mask(v1, _mm512_set1_ps(127.5f), _CMP_LT_OQ) &
				_mm512_cmp_ps_mask(v1, _mm512_set1_ps(-128.5f), _CMP_GT_OQ);
		__m512i q0 = _mm512_maskz_mov_epi32(ok0, _mm512_cvttps_epi32(round_away(v0)));
		__m512i q1 = _mm512_maskz_mov_epi32(ok1, _mm512_cvttps_epi32(round_away(v1)));

		_mm_storeu_si128((__m128i *)(a->qs + i * CPU_QK), _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(a->qs + i * CPU_QK + 16), _mm512_cvtepi32_epi8(q1));
		a->s[i] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
		a->d[i] = cpu_half_round_f16c(d);
	}
}

/* ---- quantized matmul --------------------------------------------------------------------- */

/* Rows [16 gi, +16) against activation rows t .. t + nt - 1 (nt a constant after inlining). */
static inline __attribute__((always_inline)) void
tile_q8(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	__m512 facc[NT];

	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j] = _mm512_setzero_ps();
	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *q = qs + (size_t)b * CPU_Q8_CHUNK;
		__m512i w[8];
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32 * b)));

		if (nt == 1)
			cpu_prefetch_decode(qs, CPU_Q8_CHUNK, b, nb);
		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			w[k] = _mm512_loadu_si512(q + 64 * k);
		#pragma GCC unroll 8
		for (int j = 0; j < nt; j++) {
			size_t ai = (size_t)(t + j) * nb + b;
			const int8_t *a = A->qs + ai * CPU_QK;
			__m512i s0 = _mm512_set1_epi32(-128 * A->s[ai]);
			__m512i s1 = _mm512_setzero_si512();

			/* two chains halve the dependency on vpdpbusd's latency */
			#pragma GCC unroll 8
			for (int k = 0; k < 8; k += 2) {
				s0 = _mm512_dpbusd_epi32(s0, w[k], bcast512(a, k));
				s1 = _mm512_dpbusd_epi32(s1, w[k + 1], bcast512(a, k + 1));
			}
			__m512 sc2 = _mm512_mul_ps(dw, _mm512_set1_ps(A->d[ai]));

			facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), sc2,
						  facc[j]);
		}
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		_mm512_storeu_ps(out + 16 * j, facc[j]);
}

static inline __attribute__((always_inline)) void
tile_q4(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512 facc[NT];

	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		facc[j] = _mm512_setzero_ps();
	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *q = qs + (size_t)b * CPU_Q4_CHUNK;
		__m512i w[8];
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32 * b)));

		if (nt == 1) {
			/*
			 * Decode: the high nibbles stay in place (v & 0xf0 = 16 x nibble), their
			 * sums in a chain of their own are exactly 16 x theirs and shift back:
			 * one AND per vector instead of a shift and an AND.
			 */
			size_t ai = (size_t)t * nb + b;
			const int8_t *a = A->qs + ai * CPU_QK;
			__m512i lo = _mm512_set1_epi32(-8 * A->s[ai]), hi = _mm512_setzero_si512();

			cpu_prefetch_decode(qs, CPU_Q4_CHUNK, b, nb);

			#pragma GCC unroll 4
			for (int m = 0; m < 4; m++) {
				__m512i v = _mm512_loadu_si512(q + 64 * m);

				__m512i l4 = _mm512_and_si512(v, m4);
				__m512i h4 = _mm512_andnot_si512(m4, v);

				lo = _mm512_dpbusd_epi32(lo, l4, bcast512(a, m));
				hi = _mm512_dpbusd_epi32(hi, h4, bcast512(a, m + 4));
			}
			__m512 sc2 = _mm512_mul_ps(dw, _mm512_set1_ps(A->d[ai]));
			__m512i s = _mm512_add_epi32(lo, _mm512_srai_epi32(hi, 4));

			facc[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc2, facc[0]);
			continue;
		}
		#pragma GCC unroll 8
		for (int m = 0; m < 4; m++) {
			__m512i v = _mm512_loadu_si512(q + 64 * m);

			w[m] = _mm512_and_si512(v, m4);
			w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
		}
		#pragma GCC unroll 8
		for (int j = 0; j < nt; j++) {
			size_t ai = (size_t)(t + j) * nb + b;
			const int8_t *a = A->qs + ai * CPU_QK;
			__m512i s0 = _mm512_set1_epi32(-8 * A->s[ai]);
			__m512i s1 = _mm512_setzero_si512();

			#pragma GCC unroll 8
			for (int k = 0; k < 8; k += 2) {
				s0 = _mm512_dpbusd_epi32(s0, w[k], bcast512(a, k));
				s1 = _mm512_dpbusd_epi32(s1, w[k + 1], bcast512(a, k + 1));
			}
			__m512 sc2 = _mm512_mul_ps(dw, _mm512_set1_ps(A->d[ai]));

			facc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), sc2,
						  facc[j]);
		}
	}
	#pragma GCC unroll 8
	for (int j = 0; j < nt; j++)
		_mm512_storeu_ps(out + 16 * j, facc[j]);
}

#include "gemm_loop.h"

static void gemm_q8_avx512(const struct cpu_gemm_args *g)
{
	GEMM_BODY(tile_q8, CPU_Q8_CHUNK)
}

static void gemm_q4_avx512(const struct cpu_gemm_args *g)
{
	GEMM_BODY(tile_q4, CPU_Q4_CHUNK)
}

/* ---- AMX: 16 tokens x 16 rows per tile multiply ------------------------------------------- */

#if defined(ENPU_AMX_ON)
/*
 * One packed block of a group is, once made signed, exactly AMX's B operand for K = 32:
 * 8 rows (4 elements each) x 64 bytes (16 weight rows x 4). The A operand is 16 activation
 * rows' block b (32 bytes each, stride nb * 32), so tdpbssd leaves the 16 x 16 exact integer
 * block sums in C, which get the same float epilogue as the VNNI tile: the results are
 * bit-identical to the AVX-512 path's, token by token.
 *
 * Two sets of tiles (A0 B0 C0, A1 B1 C1) alternate between even and odd blocks, so that the
 * next block's multiply runs while the previous block's sums are scaled.
 *
 * Where the time goes (a 2-vCPU Xeon with AMX, one thread, 4096x14336 Q8_0 at T = 128,
 * 26 ms, each part taken out in turn): tdpbssd itself ~0; the float scaling ~8 ms (three
 * vector ops per 16 sums: the bound a block scale every 32 elements sets); storing C ~3.5 ms;
 * the weights' unpacking ~5 ms, most of it their read from memory (hence the prefetch a slice
 * per token tile); loading A rows nb * 32 bytes apart ~3 ms. A copy of the activations tiled
 * for A (16 rows of a block in 8 whole lines) was tried and dropped: no gain on any shape.
 */
struct amx_cfg {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/* A: 16 tokens x 32 bytes; B: 8 x (16 rows x 4 bytes); C: 16 tokens x 16 int32; twice. */
static const struct amx_cfg amx_cfg __attribute__((aligned(64))) = {
	.palette = 1,
	.colsb = { CPU_QK, 64, 64, CPU_QK, 64, 64 },
	.rows = { 16, CPU_QK / 4, 16, 16, CPU_QK / 4, 16 },
};

/*
 * Whether this thread's tiles hold amx_cfg. Configured when a call first has 16 tokens (a
 * decode never touches the tiles) and kept across the calls of one matmul: ldtilecfg and
 * tilerelease cost about as much as a decode's chunk of work. gemm_done releases them.
 */
static __thread int amx_ready;

void cpu_amx_config(void)
{
	if (!amx_ready) {
		/* a constant in memory: the intrinsic's asm tells the compiler of 8 bytes read */
		_tile_loadconfig(&amx_cfg);
		amx_ready = 1;
	}
}

static void gemm_done_amx(void)
{
	if (amx_ready) {
		_tile_release();
		amx_ready = 0;
	}
}

/* Block b of the group as signed bytes in B's layout: Q8 stored + 128, Q4 nibbles - 8. */
static inline __attribute__((always_inline)) void
amx_b(const uint8_t *q, int q4, int8_t *b)
{
	if (q4) {
		const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);

		#pragma GCC unroll 4
		for (int m = 0; m < 4; m++) {
			__m512i v = _mm512_loadu_si512(q + 64 * m);
			__m512i lo = _mm512_and_si512(v, m4);
			__m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);

			_mm512_store_si512(b + 64 * m, _mm512_sub_epi8(lo, eight));
			_mm512_store_si512(b + 64 * (m + 4), _mm512_sub_epi8(hi, eight));
		}
	} else {
		const __m512i x80 = _mm512_set1_epi8((char)0x80);

		#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			_mm512_store_si512(b + 64 * k,
					   _mm512_xor_si512(_mm512_loadu_si512(q + 64 * k), x80));
	}
}

/* Blocks of B unpacked at a time (16 KiB), and 16-token tiles that share them (8 KiB). */
#define AMX_KB 32
#define AMX_TT 8

/* A x B of block b0 + i into the tile set (a, bt, c); tile numbers are immediates. */
#define AMX_MUL(a, bt, c, i)								\
	do {										\
		_tile_loadd(a, A->qs + ((size_t)t * nb + b0 + (i)) * CPU_QK, stride);	\
		_tile_loadd(bt, bq + (size_t)(i) * 512, 64);				\
		_tile_zero(c);								\
		_tile_dpbssd(c, a, bt);							\
	} while (0)

/*
 * One 16 x 16 tile of block sums c (token rows) into the accumulators: facc[j] += c[j] *
 * (dw * da[j]), dw the 16 weight rows' scales and da[j] token j's.
 */
static inline __attribute__((always_inline)) void
amx_scale_tile(const int32_t *c, __m512 dw, const float *da, __m512 facc[16])
{
	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++) {
		__m512 sc2 = _mm512_mul_ps(dw, _mm512_set1_ps(da[j]));
		__m512 v = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * j));

		facc[j] = _mm512_fmadd_ps(v, sc2, facc[j]);
	}
}

/* Block b0 + i's sums c scaled into the accumulators (CPU_AMX_BLOCKS's SCALE). */
#define AMX_SCALE(c, i)									\
	do {										\
		const size_t blk = b0 + (i);						\
		__m512 dw = _mm512_cvtph_ps(						\
			_mm256_loadu_si256((const __m256i *)(sc + 32 * blk)));		\
											\
		amx_scale_tile(c, dw, A->dt + blk * A->n_rows + t, facc);		\
	} while (0)

/*
 * Tokens t .. t + 15 against blocks b0 .. b0 + n - 1 (unpacked in bq), accumulated into acc
 * (16 x 16 floats).
 */
static void amx_span(const struct cpu_act *A, const int8_t *bq, const uint8_t *sc, uint32_t t,
		     uint32_t b0, uint32_t n, float *acc)
{
	const uint32_t nb = A->nb;
	const size_t stride = (size_t)nb * CPU_QK;
	int32_t cbuf[2][16 * 16] __attribute__((aligned(64)));
	__m512 facc[16];

	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++)
		facc[j] = _mm512_load_ps(acc + 16 * j);
	CPU_AMX_BLOCKS(n, cbuf, AMX_MUL, AMX_SCALE);
	#pragma GCC unroll 16
	for (int j = 0; j < 16; j++)
		_mm512_store_ps(acc + 16 * j, facc[j]);
}


/*
 * Group gi's tokens in 16-token tiles from t0: up to AMX_TT tiles at a time, each chunk of
 * AMX_KB blocks unpacked once for all of them. The last tile may run past t1 into the
 * activations' zero padding. Returns the first token left over.
 */
static uint32_t amx_group(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,
			  uint32_t gi, uint32_t t0, const int q4)
{
	const uint32_t nb = g->a->nb, tiles = gemm_unit_tiles(g, t0);
	const size_t chunk = q4 ? CPU_Q4_CHUNK : CPU_Q8_CHUNK;
	int8_t bq[AMX_KB * 512] __attribute__((aligned(64)));
	float acc[AMX_TT][16 * 16] __attribute__((aligned(64)));

	if (tiles)
		cpu_amx_config();

	for (uint32_t tc = 0; tc < tiles; tc += AMX_TT) {
		uint32_t ntt = tiles - tc < AMX_TT ? tiles - tc : AMX_TT;

		memset(acc, 0, sizeof(acc));
		for (uint32_t kb = 0; kb < nb; kb += AMX_KB) {
			uint32_t nk = nb - kb < AMX_KB ? nb - kb : AMX_KB;

			for (uint32_t i = 0; i < nk; i++)
				amx_b(qs + (size_t)(kb + i) * chunk, q4, bq + (size_t)i * 512);
			for (uint32_t i = 0; i < ntt; i++) {
				/* the next chunk, or past the last one the next group */
				gemm_prefetch_slice(qs + (size_t)(kb + nk) * chunk, nk * chunk, i, ntt);
				amx_span(g->a, bq, sc, t0 + 16 * (tc + i), kb, nk, acc[i]);
			}
		}
		for (uint32_t i = 0; i < ntt; i++) {
			uint32_t t = t0 + 16 * (tc + i);

			put_tile(g, gi, t, g->t1 - t < 16 ? g->t1 - t : 16, acc[i]);
		}
	}
	return t0 + 16 * tiles < g->t1 ? t0 + 16 * tiles : g->t1;
}

static uint32_t amx_q8(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,
		       uint32_t gi, uint32_t t0)
{
	return amx_group(g, qs, sc, gi, t0, 0);
}

static uint32_t amx_q4(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc,
		       uint32_t gi, uint32_t t0)
{
	return amx_group(g, qs, sc, gi, t0, 1);
}

static void gemm_q8_amx(const struct cpu_gemm_args *g)
{
	GEMM_BODY_BIG(amx_q8, tile_q8, CPU_Q8_CHUNK)
}

static void gemm_q4_amx(const struct cpu_gemm_args *g)
{
	GEMM_BODY_BIG(amx_q4, tile_q4, CPU_Q4_CHUNK)
}
#endif

/* ---- float vectors ------------------------------------------------------------------------ */

static float dot_f32_avx512(const float *w, const float *a, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		/* a weight row streams from memory (rows follow each other): see kernels.h */
		__builtin_prefetch((const char *)(w + i) + CPU_PREFETCH_BYTES, 0, CPU_PREFETCH_L2);
		__builtin_prefetch((const char *)(w + i) + CPU_PREFETCH_BYTES + 64, 0,
				   CPU_PREFETCH_L2);
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(a + i + 16), s1);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), s0);
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, a + i),
				     s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static float dot_f16_avx512(const uint16_t *w, const float *a, size_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		__builtin_prefetch((const char *)(w + i) + CPU_PREFETCH_BYTES, 0, CPU_PREFETCH_L2);
		__m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i)));
		__m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16)));

		s0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(a + i), s0);
		s1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(a + i + 16), s1);
	}
	if (i < n) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m512 w0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));

		s0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, a + i), s0);
		i += 16;
	}
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m512 w1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));

		s1 = _mm512_fmadd_ps(w1, _mm512_maskz_loadu_ps(m, a + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static float sumsq_avx512(const float *x, size_t n)
{
	return dot_f32_avx512(x, x, n);
}

/*
 * expf to about 1 ulp: n = round(x log2 e), r = x - n ln 2 in two parts, Cephes' polynomial,
 * and vscalefps for 2^n, which also gives 0 and +inf where expf does.
 */
static inline __m512 exp512(__m512 x)
{
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	__m512 p;

	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	/* keep n finite for NaN-free scaling; |x| > 104 saturates to 0 or inf either way */
	n = _mm512_min_ps(_mm512_max_ps(n, _mm512_set1_ps(-160.0f)), _mm512_set1_ps(160.0f));
	return _mm512_scalef_ps(p, n);
}

static float exp_sum_avx512(float *p, size_t n, float max)
{
	__m512 vmax = _mm512_set1_ps(max), sum = _mm512_setzero_ps();

	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), vmax));

		_mm512_mask_storeu_ps(p + i, m, e);
		sum = _mm512_mask_add_ps(sum, m, sum, e);
	}
	return _mm512_reduce_add_ps(sum);
}

static void axpy_avx512(float *y, float a, const float *x, size_t n)
{
	__m512 va = _mm512_set1_ps(a);

	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
					   _mm512_maskz_loadu_ps(m, y + i));

		_mm512_mask_storeu_ps(y + i, m, v);
	}
}

static void swiglu_avx512(float *d, const float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m512 vg = _mm512_maskz_loadu_ps(m, g + i);
		__m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f),
					   exp512(_mm512_sub_ps(_mm512_setzero_ps(), vg)));
		__m512 v = _mm512_mul_ps(_mm512_div_ps(vg, den), _mm512_maskz_loadu_ps(m, u + i));

		_mm512_mask_storeu_ps(d + i, m, v);
	}
}

static void scale_mul_avx512(float *d, const float *x, float s, const float *w, size_t n)
{
	__m512 vs = _mm512_set1_ps(s);

	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vs);

		_mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
	}
}

static void add_avx512(float *d, const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);

		_mm512_mask_storeu_ps(d + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
							      _mm512_maskz_loadu_ps(m, b + i)));
	}
}

/* x0' = x0 c - x1 s, x1' = x1 c + x0 s for 8 pairs a vector: one fmaddsub on swapped pairs. */
static void rope_avx512(float *x, const float *cs, uint32_t n_rot, uint32_t n_head, uint32_t hd)
{
	for (uint32_t i = 0; i < n_rot; i += 16) {
		__mmask16 m = (__mmask16)(n_rot - i >= 16 ? 0xffff : (1u << (n_rot - i)) - 1);
		__m512 v = _mm512_maskz_loadu_ps(m, cs + i);
		__m512 c = _mm512_moveldup_ps(v), sn = _mm512_movehdup_ps(v);

		for (uint32_t h = 0; h < n_head; h++) {
			float *xh = x + (size_t)h * hd + i;
			__m512 xv = _mm512_maskz_loadu_ps(m, xh);
			__m512 sw = _mm512_mul_ps(_mm512_permute_ps(xv, 0xb1), sn);

			_mm512_mask_storeu_ps(xh, m, _mm512_fmaddsub_ps(xv, c, sw));
		}
	}
}

/* ---- attention over the KV cache ---------------------------------------------------------- */

/*
 * Head sizes that are whole vectors (64, 128 for the models here) keep q, or the output
 * accumulators, in registers across all cache rows: HD a constant after inlining.
 */
static inline __attribute__((always_inline)) float
scores_hd(const float *q, const float *k, size_t ld, size_t n, float scale, float *p,
	  const int HD)
{
	__m512 qv[HD / 16], vmax = _mm512_set1_ps(-INFINITY);
	const __m512 vs = _mm512_set1_ps(scale);
	float max = -INFINITY;
	size_t r = 0;

	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		qv[c] = _mm512_loadu_ps(q + 16 * c);
	for (; r + 16 <= n; r += 16) {
		float s[16] __attribute__((aligned(64)));

		#pragma GCC unroll 16
		for (int j = 0; j < 16; j++) {
			const float *kr = k + (r + j) * ld;
			__m512 a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));

			#pragma GCC unroll 8
			for (int c = 1; c < HD / 16; c++)
				a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kr + 16 * c), a);
			s[j] = _mm512_reduce_add_ps(a);
		}
		__m512 v = _mm512_mul_ps(vs, _mm512_load_ps(s));

		_mm512_storeu_ps(p + r, v);
		vmax = _mm512_max_ps(vmax, v);
	}
	for (; r < n; r++) {
		const float *kr = k + r * ld;
		__m512 a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kr));

		#pragma GCC unroll 8
		for (int c = 1; c < HD / 16; c++)
			a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kr + 16 * c), a);
		p[r] = scale * _mm512_reduce_add_ps(a);
		max = fmaxf(max, p[r]);
	}
	return fmaxf(max, _mm512_reduce_max_ps(vmax));
}

static float attn_scores_avx512(const float *q, const float *k, size_t ld, size_t n, size_t hd,
				float scale, float *p)
{
	return hd == 64 ? scores_hd(q, k, ld, n, scale, p, 64)
			: scores_hd(q, k, ld, n, scale, p, 128);
}

static inline __attribute__((always_inline)) void
values_hd(float *acc, const float *p, const float *v, size_t ld, size_t n, const int HD)
{
	__m512 a[2][HD / 16];

	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		a[0][c] = a[1][c] = _mm512_setzero_ps();
	/* two rows per step in two sets of accumulators: twice the independent FMAs */
	size_t r = 0;

	for (; r + 2 <= n; r += 2) {
		#pragma GCC unroll 2
		for (int i = 0; i < 2; i++) {
			__m512 pr = _mm512_set1_ps(p[r + i]);

			const float *vr = v + (r + i) * ld;

			#pragma GCC unroll 8
			for (int c = 0; c < HD / 16; c++) {
				__m512 x = _mm512_loadu_ps(vr + 16 * c);

				a[i][c] = _mm512_fmadd_ps(pr, x, a[i][c]);
			}
		}
	}
	if (r < n) {
		__m512 pr = _mm512_set1_ps(p[r]);
		const float *vr = v + r * ld;

		#pragma GCC unroll 8
		for (int c = 0; c < HD / 16; c++)
			a[0][c] = _mm512_fmadd_ps(pr, _mm512_loadu_ps(vr + 16 * c), a[0][c]);
	}
	#pragma GCC unroll 8
	for (int c = 0; c < HD / 16; c++)
		_mm512_storeu_ps(acc + 16 * c, _mm512_add_ps(a[0][c], a[1][c]));
}

static void attn_values_avx512(float *acc, const float *p, const float *v, size_t ld, size_t n,
			       size_t hd)
{
	if (hd == 64)
		values_hd(acc, p, v, ld, n, 64);
	else
		values_hd(acc, p, v, ld, n, 128);
}

/*
 * A prefill's attention, 16 queries of one head at a time, with the queries in the lanes: q
 * is transposed once (qt[d] = the 16 queries' element d, scaled), so that one cache row's
 * scores for all 16 queries are hd FMAs against its broadcast elements, with no horizontal
 * sum per row. The softmax is then vertical too (one lane per query, rows past a query's
 * own position masked out), and the values are accumulated for four queries at a time, each
 * cache row's V loaded once for the four.
 */
static inline __attribute__((always_inline)) void
block_values(const float *st, const float *v, size_t ld, const int32_t *lastv,
	     const float *inv, uint32_t nq, size_t hd, float *out, size_t ldo, const int NV)
{
	for (size_t d0 = 0; d0 < hd; d0 += 16 * NV) {
		for (uint32_t i0 = 0; i0 < nq; i0 += 4) {
			__m512 a[4][4]; /* fixed sizes: an array sized by NV would be a VLA */
			uint32_t lo, hi;

			/*
			 * Rows every query of the four may see, then the rows only some may
			 * (their weight 0 for the others would still carry a non-finite V in)
			 */
			cpu_attn_rows(lastv, i0, 4, nq, &lo, &hi);
			#pragma GCC unroll 4
			for (int i = 0; i < 4; i++)
				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					a[i][c] = _mm512_setzero_ps();
			for (uint32_t r = 0; r < lo; r++) {
				const float *vr = v + r * ld + d0;
				__m512 x[4];

				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					x[c] = _mm512_loadu_ps(vr + 16 * c);
				#pragma GCC unroll 4
				for (int i = 0; i < 4; i++) {
					__m512 pr = _mm512_set1_ps(st[16 * r + i0 + i]);

					#pragma GCC unroll 4
					for (int c = 0; c < NV; c++)
						a[i][c] = _mm512_fmadd_ps(pr, x[c], a[i][c]);
				}
			}
			for (uint32_t r = lo; r < hi; r++)
				for (uint32_t i = 0; i < 4 && i0 + i < nq; i++)
					if ((int32_t)r <= lastv[i0 + i])
						for (int c = 0; c < NV; c++)
							a[i][c] = _mm512_fmadd_ps(
								_mm512_set1_ps(st[16 * r + i0 + i]),
								_mm512_loadu_ps(v + r * ld + d0 + 16 * c),
								a[i][c]);
			for (uint32_t i = 0; i < 4 && i0 + i < nq; i++) {
				__m512 s = _mm512_set1_ps(inv[i0 + i]);

				#pragma GCC unroll 4
				for (int c = 0; c < NV; c++)
					_mm512_storeu_ps(out + (i0 + i) * ldo + d0 + 16 * c,
							 _mm512_mul_ps(a[i][c], s));
			}
		}
	}
}

static void attn_block_avx512(const float *q, size_t ldq, const uint32_t *last, uint32_t nq,
			      const float *k, const float *v, size_t ld, size_t hd, float scale,
			      float *out, size_t ldo, float *ws)
{
	float *qt = ws, *st = ws + 16 * hd;
	int32_t lastv[16] __attribute__((aligned(64)));
	float inv[16];
	const uint32_t n = cpu_attn_block_lanes(q, ldq, last, nq, hd, scale, 16, qt, lastv);

	/* scores, 16 dims of q in registers per pass over the rows */
	for (size_t d0 = 0; d0 < hd; d0 += 16) {
		__m512 qr[16];

		#pragma GCC unroll 16
		for (int c = 0; c < 16; c++)
			qr[c] = _mm512_load_ps(qt + 16 * (d0 + c));
		for (uint32_t r = 0; r < n; r++) {
			const float *kr = k + r * ld + d0;
			__m512 s[4];

			/* four chains of four, summed as a tree: rounding like a dot's vector lanes */
			#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				s[c] = _mm512_mul_ps(qr[c], _mm512_set1_ps(kr[c]));
			#pragma GCC unroll 12
			for (int c = 4; c < 16; c++)
				s[c & 3] = _mm512_fmadd_ps(qr[c], _mm512_set1_ps(kr[c]), s[c & 3]);
			__m512 sum = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));

			if (d0)
				sum = _mm512_add_ps(_mm512_load_ps(st + 16 * r), sum);
			_mm512_store_ps(st + 16 * r, sum);
		}
	}
	/* softmax down each lane, over the rows that query may see */
	const __m512i vl = _mm512_load_si512(lastv);
	__m512 m = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();

	for (uint32_t r = 0; r < n; r++) {
		__mmask16 live = _mm512_cmpge_epi32_mask(vl, _mm512_set1_epi32((int32_t)r));

		m = _mm512_mask_max_ps(m, live, m, _mm512_load_ps(st + 16 * r));
	}
	for (uint32_t r = 0; r < n; r++) {
		__mmask16 live = _mm512_cmpge_epi32_mask(vl, _mm512_set1_epi32((int32_t)r));
		__m512 e = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(
							     _mm512_load_ps(st + 16 * r), m)));

		_mm512_store_ps(st + 16 * r, e);
		sum = _mm512_add_ps(sum, e);
	}
	_mm512_storeu_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), sum));
	if (hd % 64 == 0)
		block_values(st, v, ld, lastv, inv, nq, hd, out, ldo, 4);
	else
		block_values(st, v, ld, lastv, inv, nq, hd, out, ldo, 1);
}

/* ---- compute ceiling ---------------------------------------------------------------------- */

/* Keeps a register's value live without a store: the loops below are not optimised away. */
#define KEEP(v) __asm__ volatile("" : "+v"(v))

/*
 * Independent accumulator chains of the peak loops: enough to cover the dot instruction's
 * latency x throughput on every CPU these kernels run on. Zen 4 (measured on an EPYC VM):
 * vpdpbusd zmm 4-5 cycles latency, one per cycle (AMD documents 2 ymm a cycle, a zmm takes
 * both halves); Intel's Golden Cove and later: 5 cycles, up to 2 a cycle. 12 chains cover
 * 10 in flight. Each chain is a variable of its own: an array here was kept on the stack,
 * and the loop then timed store-to-load forwarding (the ceiling read 344 GOPS on the EPYC
 * where the prefill itself did 573).
 */
#define PEAK_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static uint64_t peak_macs_avx512(uint64_t rounds, const char **what)
{
	const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
#define PEAK_ZERO(i) __m512i acc##i = _mm512_setzero_si512();
#define PEAK_STEP(i) acc##i = _mm512_dpbusd_epi32(acc##i, a, b); KEEP(acc##i);
#define PEAK_KEEP(i) KEEP(acc##i);

	PEAK_CHAINS(PEAK_ZERO)
	for (uint64_t r = 0; r < rounds; r++) {
		PEAK_CHAINS(PEAK_STEP)
	}
	PEAK_CHAINS(PEAK_KEEP)
	*what = "vpdpbusd zmm, 12 chains";
	return rounds * 12 * 64;
}

#define AVX512_COMMON								\
	.quantize_act = quantize_act_avx512,					\
	.dot_f32 = dot_f32_avx512,						\
	.dot_f16 = dot_f16_avx512,						\
	.sumsq = sumsq_avx512,							\
	.exp_sum = exp_sum_avx512,						\
	.axpy = axpy_avx512,							\
	.swiglu = swiglu_avx512,						\
	.scale_mul = scale_mul_avx512,						\
	.add = add_avx512,							\
	.rope = rope_avx512,							\
	.attn_scores = attn_scores_avx512,					\
	.attn_values = attn_values_avx512,					\
	.attn_block = attn_block_avx512

const struct cpu_kernels cpu_kernels_avx512 = {
	.isa = "avx512",
	.gemm_q8 = gemm_q8_avx512,
	.gemm_q4 = gemm_q4_avx512,
	AVX512_COMMON,
	.peak_macs = peak_macs_avx512,
};

#if defined(ENPU_AMX_ON)
/*
 * AMX's ceiling: tdpbssd on whole tiles (16 x 64 bytes by 16 x 64: 16384 multiply-accumulates)
 * into four C tiles. The matmul's tiles use K = 32 (one quantization block), half of this.
 */
static uint64_t peak_macs_amx(uint64_t rounds, const char **what)
{
	static const struct amx_cfg full __attribute__((aligned(64))) = {
		.palette = 1,
		.colsb = { 64, 64, 64, 64, 64, 64 },
		.rows = { 16, 16, 16, 16, 16, 16 },
	};

	gemm_done_amx(); /* a matmul's configuration, if this thread holds one */
	_tile_loadconfig(&full);
	_tile_zero(0);
	_tile_zero(1);
	for (uint64_t r = 0; r < rounds; r++) {
		_tile_dpbssd(2, 0, 1);
		_tile_dpbssd(3, 0, 1);
		_tile_dpbssd(4, 0, 1);
		_tile_dpbssd(5, 0, 1);
	}
	_tile_release();
	*what = "tdpbssd (K = 64)";
	return rounds * 4 * 16 * 16 * 64;
}

/*
 * The scaling of amx_span alone (amx_scale_tile: per token row a broadcast multiply, a convert
 * and an FMA) over block sums kept in L1: the bound of the AMX matmul wherever the vector unit's
 * float rate, not the tile unit, is the limit.
 */
static uint64_t scale_macs_amx(uint64_t rounds)
{
	int32_t cbuf[4][16 * 16] __attribute__((aligned(64)));
	float da[16] __attribute__((aligned(64)));
	uint16_t dws[16];
	__m512 facc[16];

	for (int i = 0; i < 16 * 16; i++)
		cbuf[0][i] = cbuf[1][i] = cbuf[2][i] = cbuf[3][i] = i;
	for (int j = 0; j < 16; j++) {
		da[j] = 1.0f / (float)(j + 1);
		dws[j] = 0x2c00; /* 1/16 */
		facc[j] = _mm512_setzero_ps();
	}
	const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dws));

	for (uint64_t r = 0; r < rounds; r++) {
		amx_scale_tile(cbuf[r & 3], dw, da, facc);
		__asm__ volatile("" ::: "memory"); /* the sums are read again each round */
	}
	for (int j = 0; j < 16; j++)
		KEEP(facc[j]);
	return rounds * 16 * 16 * CPU_QK;
}

/*
 * AVX-512 with the quantized matmul's 16-token tiles on AMX (prefill): whole tiles, and a last
 * one over zero padding rows when CPU_PAD_MIN tokens or more are left.
 */
const struct cpu_kernels cpu_kernels_amx = {
	.isa = "amx",
	.pad_rows = 16,
	.gemm_q8 = gemm_q8_amx,
	.gemm_q4 = gemm_q4_amx,
	.gemm_done = gemm_done_amx,
	AVX512_COMMON,
	.peak_macs = peak_macs_amx,
	.scale_macs = scale_macs_amx,
};
#endif
