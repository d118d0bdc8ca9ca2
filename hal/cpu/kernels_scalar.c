/* SPDX-License-Identifier: MIT */
/*
 * kernels_scalar.c - the portable kernels (any CPU, the fallback of every SIMD path) and the
 * run-time choice of the kernel table.
 */
#include "kernels.h"
#include "gemm_loop.h"

#include "hal/quant.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float cpu_half_round(float d)
{
	return hal_fp16_to_fp32(hal_fp32_to_fp16(d));
}

/* Block of 32 as quantize_block_q8_0 in quant.c: d = amax / 127, q = roundf(x / d). */
void cpu_quantize_act_scalar(const float *x, struct cpu_act *a, uint32_t row)
{
	for (uint32_t b = 0; b < a->nb; b++) {
		const float *xb = x + (size_t)b * CPU_QK;
		size_t i = (size_t)row * a->nb + b;
		int8_t *q = a->qs + i * CPU_QK;
		float amax = 0.0f;
		int32_t sum = 0;

		for (int j = 0; j < CPU_QK; j++)
			amax = fmaxf(amax, fabsf(xb[j]));
		float d = amax / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;

		for (int j = 0; j < CPU_QK; j++) {
			float v = roundf(xb[j] * id);

			/* quant.c maps non-finite input to 0 the same way */
			q[j] = (int8_t)(v > -129.0f && v < 128.0f ? (int)v : 0);
			sum += q[j];
		}
		a->d[i] = cpu_half_round(d);
		a->s[i] = sum;
	}
}

static float load_half(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return hal_fp16_to_fp32(h);
}

/* One packed block of 16 rows against one activation block: 16 exact integer sums. */
static void block_q8(const uint8_t *q, const int8_t *a, int32_t bias, int32_t out[16])
{
	for (int r = 0; r < CPU_GROUP_ROWS; r++) {
		int32_t s = bias;

		for (int k = 0; k < 8; k++)
			for (int i = 0; i < 4; i++)
				s += q[k * 64 + r * 4 + i] * a[4 * k + i];
		out[r] = s;
	}
}

static void block_q4(const uint8_t *q, const int8_t *a, int32_t bias, int32_t out[16])
{
	for (int r = 0; r < CPU_GROUP_ROWS; r++) {
		int32_t s = bias;

		for (int m = 0; m < 4; m++) {
			for (int i = 0; i < 4; i++) {
				uint8_t v = q[m * 64 + r * 4 + i];

				s += (v & 0x0f) * a[4 * m + i] + (v >> 4) * a[16 + 4 * m + i];
			}
		}
		out[r] = s;
	}
}

static void gemm_scalar(const struct cpu_gemm_args *g, bool q4)
{
	const uint32_t nb = g->a->nb;
	const size_t chunk = q4 ? CPU_Q4_CHUNK : CPU_Q8_CHUNK;
	const size_t group = (size_t)nb * (chunk + 2 * CPU_GROUP_ROWS);

	for (uint32_t gi = g->g0; gi < g->g1; gi++) {
		const uint8_t *qs = g->w + gi * group;
		const uint8_t *sc = qs + (size_t)nb * chunk;
		for (uint32_t t = g->t0; t < g->t1; t++) {
			float acc[CPU_GROUP_ROWS] = { 0 };
			int32_t isum[CPU_GROUP_ROWS];

			for (uint32_t b = 0; b < nb; b++) {
				size_t ai = (size_t)t * nb + b;
				const int8_t *a = g->a->qs + ai * CPU_QK;

				if (q4)
					block_q4(qs + b * chunk, a, -8 * g->a->s[ai], isum);
				else
					block_q8(qs + b * chunk, a, -128 * g->a->s[ai], isum);
				for (int r = 0; r < CPU_GROUP_ROWS; r++)
					acc[r] += (float)isum[r] *
						  (load_half(sc + 2 * (b * CPU_GROUP_ROWS + r)) *
						   g->a->d[ai]);
			}
			put_tile(g, gi, t, 1, acc);
		}
	}
}

static void gemm_q8_scalar(const struct cpu_gemm_args *g)
{
	gemm_scalar(g, false);
}

static void gemm_q4_scalar(const struct cpu_gemm_args *g)
{
	gemm_scalar(g, true);
}

/* Four partial sums: the order is not the reference's anyway, and it lets -O2 vectorize. */
static float dot_f32_scalar(const float *w, const float *a, size_t n)
{
	float s[4] = { 0 };
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		for (int j = 0; j < 4; j++)
			s[j] += w[i + j] * a[i + j];
	for (; i < n; i++)
		s[0] += w[i] * a[i];
	return (s[0] + s[1]) + (s[2] + s[3]);
}

static float dot_f16_scalar(const uint16_t *w, const float *a, size_t n)
{
	float s = 0.0f;

	for (size_t i = 0; i < n; i++)
		s += hal_fp16_to_fp32(w[i]) * a[i];
	return s;
}

static float sumsq_scalar(const float *x, size_t n)
{
	return dot_f32_scalar(x, x, n);
}

float cpu_exp_sum_scalar(float *p, size_t n, float max)
{
	float sum = 0.0f;

	for (size_t i = 0; i < n; i++) {
		p[i] = expf(p[i] - max);
		sum += p[i];
	}
	return sum;
}

static void axpy_scalar(float *y, float a, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += a * x[i];
}

void cpu_swiglu_scalar(float *d, const float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const struct cpu_kernels cpu_kernels_scalar = {
	.isa = "scalar",
	.quantize_act = cpu_quantize_act_scalar,
	.gemm_q8 = gemm_q8_scalar,
	.gemm_q4 = gemm_q4_scalar,
	.dot_f32 = dot_f32_scalar,
	.dot_f16 = dot_f16_scalar,
	.sumsq = sumsq_scalar,
	.exp_sum = cpu_exp_sum_scalar,
	.axpy = axpy_scalar,
	.swiglu = cpu_swiglu_scalar,
};

/* ---- run-time choice ---------------------------------------------------------------------- */

#if defined(__x86_64__) && defined(ENPU_HAVE_AMX)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/*
 * AMX-TILE and AMX-INT8 in cpuid, and the kernel's leave to use the tile data (Linux >= 5.16
 * hands it out per process on request; a hypervisor or kernel without it says no).
 */
static bool amx_usable(void)
{
	/* atomic: contexts are created in several threads at once; asking twice is harmless */
	static int ok = -1;
	int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
	unsigned int a, b, c, d;

	if (v < 0) {
		v = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 1) && (d >> 25 & 1) &&
		    syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
		__atomic_store_n(&ok, v, __ATOMIC_RELAXED);
	}
	return v;
}
#endif

#if defined(__x86_64__) && defined(ENPU_HAVE_AVXVNNI)
#include <cpuid.h>

/* AVX-VNNI: cpuid leaf 7 subleaf 1, eax bit 4 (the VEX form of vpdpbusd). */
static bool avx_vnni(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}
#endif

#if defined(__x86_64__)
#include <cpuid.h>

/*
 * F16C: cpuid leaf 1, ecx bit 29. Asked of cpuid itself because clang (14) does not know
 * "f16c" as a __builtin_cpu_supports() feature and refuses to compile the call.
 */
static bool f16c(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

#if defined(__aarch64__) && defined(ENPU_HAVE_NEON)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

const struct cpu_kernels *cpu_kernels_by_name(const char *isa)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
		      __builtin_cpu_supports("avx512vnni") && f16c();

	if (!strcmp(isa, "avx512"))
		return avx512 ? &cpu_kernels_avx512 : NULL;
#if defined(ENPU_HAVE_AMX)
	if (!strcmp(isa, "amx"))
		return avx512 && amx_usable() ? &cpu_kernels_amx : NULL;
#endif
	bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c();

	if (!strcmp(isa, "avx2"))
		return avx2 ? &cpu_kernels_avx2 : NULL;
#if defined(ENPU_HAVE_AVXVNNI)
	if (!strcmp(isa, "avxvnni"))
		return avx2 && avx_vnni() ? &cpu_kernels_avxvnni : NULL;
#endif
#endif
#if defined(__aarch64__) && defined(ENPU_HAVE_NEON)
	if (!strcmp(isa, "neon"))
		return getauxval(AT_HWCAP) & HWCAP_ASIMDDP ? &cpu_kernels_neon : NULL;
#endif
	if (!strcmp(isa, "scalar"))
		return &cpu_kernels_scalar;
	return NULL;
}

const struct cpu_kernels *cpu_kernels_select(char *err, size_t err_len)
{
	static const char *const order[] = { "amx", "avx512", "avxvnni", "avx2", "neon", "scalar" };
	const char *want = getenv("ENPU_CPU_ISA");
	const struct cpu_kernels *k;

	if (want && *want) {
		k = cpu_kernels_by_name(want);
		if (!k)
			snprintf(err, err_len,
				 "ENPU_CPU_ISA=%s: not compiled in or not supported by this CPU "
				 "(scalar, avx2, avxvnni, avx512, amx, neon)", want);
		return k;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if ((k = cpu_kernels_by_name(order[i])))
			return k;
	return &cpu_kernels_scalar;
}
