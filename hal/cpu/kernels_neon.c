/* SPDX-License-Identifier: MIT */
/*
 * kernels_neon.c - Arm kernels: Advanced SIMD with the dot product extension (Armv8.2
 * dotprod: Cortex-A55/A75 and later, every phone and car SoC of recent years), compiled with
 * -march=armv8.2-a+dotprod and chosen at run time when HWCAP_ASIMDDP says the CPU has it.
 *
 * Same packed layout as the x86 paths (kernels.h): a 64-byte vector of a packed block is four
 * 16-byte quarters of 4 rows x 4 bytes each, so that sdot by lane (vdotq_laneq_s32) adds one
 * group of 4 activation bytes into 4 rows' sums at once, with no horizontal reduction.
 * Weights go back to signed bytes first (Q8_0: stored ^ 0x80; Q4_0: nibble - 8), so sdot's
 * sums are the reference integer sums exactly and need no bias.
 */
#include "kernels.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

/* Tokens per tile: 2 x (4 int + 4 float accumulators) + 4 weights + 2 x 2 activations. */
#define NT 2

/* ---- activation quantization -------------------------------------------------------------- */

/*
 * roundf(y) where it lands in -128..127, else 0 (NaN, inf: quant.c's range check): vcvtaq
 * rounds half away from zero as roundf does.
 */
static inline int32x4_t quant_lanes(float32x4_t y)
{
	uint32x4_t ok = vandq_u32(vcltq_f32(y, vdupq_n_f32(127.5f)),
				  vcgtq_f32(y, vdupq_n_f32(-128.5f)));

	return vandq_s32(vcvtaq_s32_f32(y), vreinterpretq_s32_u32(ok));
}

/* As cpu_quantize_act_scalar, bit for bit, for any input (NaN, inf and tiny blocks too). */
static void quantize_act_neon(const float *x, struct cpu_act *a, uint32_t row)
{
	for (uint32_t b = 0; b < a->nb; b++) {
		const float *xb = x + (size_t)b * CPU_QK;
		size_t i = (size_t)row * a->nb + b;
		float32x4_t v[8], m = vdupq_n_f32(0.0f);

		/* maxNum, as fmaxf: a NaN input does not become the maximum */
		for (int k = 0; k < 8; k++) {
			v[k] = vld1q_f32(xb + 4 * k);
			m = vmaxnmq_f32(m, vabsq_f32(v[k]));
		}
		float d = vmaxnmvq_f32(m) / 127.0f;
		float32x4_t id = vdupq_n_f32(d != 0.0f ? 1.0f / d : 0.0f);
		int32x4_t sum = vdupq_n_s32(0);
		int16x8_t h[4];

		for (int k = 0; k < 8; k += 2) {
			int32x4_t q0 = quant_lanes(vmulq_f32(v[k], id));
			int32x4_t q1 = quant_lanes(vmulq_f32(v[k + 1], id));

			sum = vaddq_s32(sum, vaddq_s32(q0, q1));
			h[k / 2] = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
		}
		vst1q_s8(a->qs + i * CPU_QK, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
		vst1q_s8(a->qs + i * CPU_QK + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
		a->s[i] = vaddvq_s32(sum);
		a->d[i] = cpu_half_round(d);
	}
}

/* ---- quantized matmul --------------------------------------------------------------------- */

/* The 16 rows' half scales of block b as four float vectors (rows 4r .. 4r + 3). */
static inline void load_scales(const uint8_t *sc, uint32_t b, float32x4_t dw[4])
{
	const uint16_t *h = (const uint16_t *)(sc + 32 * (size_t)b);

	for (int r = 0; r < 4; r++)
		dw[r] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + 4 * r)));
}

/* acc[j] += float(isum[j]) * (dw * d_a): the scalar path's scaling, per row quarter. */
static inline void scale_into(float32x4_t acc[4], const int32x4_t isum[4],
			      const float32x4_t dw[4], float da)
{
	for (int r = 0; r < 4; r++)
		acc[r] = vfmaq_f32(acc[r], vcvtq_f32_s32(isum[r]), vmulq_n_f32(dw[r], da));
}

/*
 * NT tokens from t against every block of one packed group: per block, the 16 rows' exact
 * integer sums by sdot (Q8_0: 8 steps of 4 bytes; Q4_0: 4 steps of a low and a high nibble),
 * then the float scaling. q4 is a constant after inlining.
 */
static inline __attribute__((always_inline)) void
tile(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
     const int nt, float *out, const int q4)
{
	const struct cpu_act *A = g->a;
	const uint32_t nb = A->nb;
	const size_t chunk = q4 ? CPU_Q4_CHUNK : CPU_Q8_CHUNK;
	const uint8x16_t x80 = vdupq_n_u8(0x80), m4 = vdupq_n_u8(0x0f);
	const int8x16_t eight = vdupq_n_s8(8);
	float32x4_t facc[NT][4];

	for (int j = 0; j < nt; j++)
		for (int r = 0; r < 4; r++)
			facc[j][r] = vdupq_n_f32(0.0f);
	for (uint32_t b = 0; b < nb; b++) {
		const uint8_t *q = qs + (size_t)b * chunk;
		int32x4_t isum[NT][4];
		int8x16_t a[NT][2];
		float32x4_t dw[4];

		if (nt == 1)
			cpu_prefetch_decode(qs, chunk, b, nb);
		for (int j = 0; j < nt; j++) {
			const int8_t *ap = A->qs + ((size_t)(t + j) * nb + b) * CPU_QK;

			a[j][0] = vld1q_s8(ap);
			a[j][1] = vld1q_s8(ap + 16);
			for (int r = 0; r < 4; r++)
				isum[j][r] = vdupq_n_s32(0);
		}
		/* Q8_0 step k: 4 rows' bytes 4k .. 4k + 3, signed again (stored ^ 0x80) */
#define Q8_STEP(k)									\
		do {									\
			for (int r = 0; r < 4; r++) {					\
				int8x16_t w = vreinterpretq_s8_u8(veorq_u8(		\
					vld1q_u8(q + 64 * (k) + 16 * r), x80));		\
											\
				for (int j = 0; j < nt; j++)				\
					isum[j][r] = vdotq_laneq_s32(isum[j][r], w,	\
								     a[j][(k) / 4], (k) % 4); \
			}								\
		} while (0)
		/* Q4_0 byte group m: low nibbles are elements 4m .., high ones 16 + 4m .. */
#define Q4_STEP(m)									\
		do {									\
			for (int r = 0; r < 4; r++) {					\
				uint8x16_t v = vld1q_u8(q + 64 * (m) + 16 * r);		\
				int8x16_t lo = vsubq_s8(					\
					vreinterpretq_s8_u8(vandq_u8(v, m4)), eight);	\
				int8x16_t hi = vsubq_s8(					\
					vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);	\
											\
				for (int j = 0; j < nt; j++) {				\
					isum[j][r] = vdotq_laneq_s32(isum[j][r], lo, a[j][0], m); \
					isum[j][r] = vdotq_laneq_s32(isum[j][r], hi, a[j][1], m); \
				}							\
			}								\
		} while (0)
		if (q4) {
			Q4_STEP(0);
			Q4_STEP(1);
			Q4_STEP(2);
			Q4_STEP(3);
		} else {
			Q8_STEP(0);
			Q8_STEP(1);
			Q8_STEP(2);
			Q8_STEP(3);
			Q8_STEP(4);
			Q8_STEP(5);
			Q8_STEP(6);
			Q8_STEP(7);
		}
#undef Q4_STEP
#undef Q8_STEP
		load_scales(sc, b, dw);
		for (int j = 0; j < nt; j++)
			scale_into(facc[j], isum[j], dw, A->d[(size_t)(t + j) * nb + b]);
	}
	for (int j = 0; j < nt; j++)
		for (int r = 0; r < 4; r++)
			vst1q_f32(out + 16 * j + 4 * r, facc[j][r]);
}

static inline __attribute__((always_inline)) void
tile_q8(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	tile(g, qs, sc, t, nt, out, 0);
}

static inline __attribute__((always_inline)) void
tile_q4(const struct cpu_gemm_args *g, const uint8_t *qs, const uint8_t *sc, uint32_t t,
	const int nt, float *out)
{
	tile(g, qs, sc, t, nt, out, 1);
}

#include "gemm_loop.h"

static void gemm_q8_neon(const struct cpu_gemm_args *g)
{
	GEMM_BODY(tile_q8, CPU_Q8_CHUNK)
}

static void gemm_q4_neon(const struct cpu_gemm_args *g)
{
	GEMM_BODY(tile_q4, CPU_Q4_CHUNK)
}

/* ---- float vectors ------------------------------------------------------------------------ */

static float dot_f32_neon(const float *w, const float *a, size_t n)
{
	float32x4_t s[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
			     vdupq_n_f32(0.0f) };
	size_t i = 0;
	float tail = 0.0f;

	for (; i + 16 <= n; i += 16)
		for (int k = 0; k < 4; k++)
			s[k] = vfmaq_f32(s[k], vld1q_f32(w + i + 4 * k), vld1q_f32(a + i + 4 * k));
	for (; i + 4 <= n; i += 4)
		s[0] = vfmaq_f32(s[0], vld1q_f32(w + i), vld1q_f32(a + i));
	for (; i < n; i++)
		tail += w[i] * a[i];
	return vaddvq_f32(vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3]))) + tail;
}

static float dot_f16_neon(const uint16_t *w, const float *a, size_t n)
{
	float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
	size_t i = 0;
	float tail = 0.0f;

	for (; i + 8 <= n; i += 8) {
		float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(w + i));

		s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(a + i));
		s1 = vfmaq_f32(s1, vcvt_high_f32_f16(h), vld1q_f32(a + i + 4));
	}
	for (; i < n; i++) {
		float16x4_t h = vreinterpret_f16_u16(vdup_n_u16(w[i]));

		tail += vgetq_lane_f32(vcvt_f32_f16(h), 0) * a[i];
	}
	return vaddvq_f32(vaddq_f32(s0, s1)) + tail;
}

static float sumsq_neon(const float *x, size_t n)
{
	return dot_f32_neon(x, x, n);
}

static void axpy_neon(float *y, float a, const float *x, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
	for (; i < n; i++)
		y[i] += a * x[i];
}

static void add_neon(float *d, const float *a, const float *b, size_t n)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		vst1q_f32(d + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
	for (; i < n; i++)
		d[i] = a[i] + b[i];
}

/*
 * The compute ceiling: sdot on 12 independent accumulators (16 MACs each), each a variable of
 * its own so that none is kept in memory (an array was, on x86, and the loop then timed
 * store-to-load forwarding). 12 cover latency x throughput of sdot (Neoverse N2/V2: 3
 * cycles x 2 or 4 a cycle).
 */
static uint64_t peak_macs_neon(uint64_t rounds, const char **what)
{
	const int8x16_t a = vdupq_n_s8(3), b = vdupq_n_s8(-5);
#define PEAK_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PEAK_ZERO(i) int32x4_t acc##i = vdupq_n_s32(0);
#define PEAK_STEP(i) acc##i = vdotq_s32(acc##i, a, b); __asm__ volatile("" : "+w"(acc##i));

	PEAK_CHAINS(PEAK_ZERO)
	for (uint64_t r = 0; r < rounds; r++) {
		PEAK_CHAINS(PEAK_STEP)
	}
	*what = "sdot, 12 chains";
	return rounds * 12 * 16;
}

/* The exponentials (softmax, SiLU) stay libm's expf: the scalar functions. */
const struct cpu_kernels cpu_kernels_neon = {
	.isa = "neon",
	.quantize_act = quantize_act_neon,
	.gemm_q8 = gemm_q8_neon,
	.gemm_q4 = gemm_q4_neon,
	.dot_f32 = dot_f32_neon,
	.dot_f16 = dot_f16_neon,
	.sumsq = sumsq_neon,
	.exp_sum = cpu_exp_sum_scalar,
	.axpy = axpy_neon,
	.swiglu = cpu_swiglu_scalar,
	.add = add_neon,
	.peak_macs = peak_macs_neon,
};
