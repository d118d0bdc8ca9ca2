/* SPDX-License-Identifier: MIT */
/* measure.c - medians, seeded random inputs and benchmark ops (measure.h). */
#include "measure.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/quant.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench_range(const double *v, uint32_t n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (uint32_t i = 1; i < n; i++) {
		*lo = v[i] < *lo ? v[i] : *lo;
		*hi = v[i] > *hi ? v[i] : *hi;
	}
}

double bench_median(double *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

uint64_t bench_rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void *bench_alloc64(size_t bytes)
{
	/* aligned_alloc wants a multiple of the alignment */
	return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
}

float *bench_random_floats(size_t n, uint64_t *seed)
{
	float *x = bench_alloc64(n * sizeof(float));

	for (size_t i = 0; x && i < n; i++)
		x[i] = (float)(bench_rng_next(seed) % 20001) / 10000.0f - 1.0f;
	return x;
}

/* Weights of a type with small finite values (random bits could make F16/F32 NaNs). */
void *bench_random_weights(enum hal_type type, uint32_t K, uint32_t N, uint64_t *seed)
{
	size_t len = hal_row_bytes(type, K) * N, bb = hal_type_block_bytes(type);
	uint8_t *w = bench_alloc64(len);

	if (!w)
		return NULL;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = bench_rng_next(seed);

		memcpy(w + i, &v, len - i < 8 ? len - i : 8);
	}
	if (type == HAL_TYPE_Q8_0 || type == HAL_TYPE_Q4_0) {
		uint16_t h = hal_fp32_to_fp16(0.01f);

		for (size_t i = 0; i < len; i += bb)
			memcpy(w + i, &h, 2);
	} else if (type == HAL_TYPE_Q4_K || type == HAL_TYPE_Q5_K || type == HAL_TYPE_Q6_K) {
		/* finite super-block scales (d, and dmin where there is one): Q6_K's d is last */
		uint16_t h = hal_fp32_to_fp16(0.01f);

		for (size_t i = 0; i < len; i += bb) {
			memcpy(w + i + (type == HAL_TYPE_Q6_K ? bb - 2 : 0), &h, 2);
			if (type != HAL_TYPE_Q6_K)
				memcpy(w + i + 2, &h, 2);
		}
	} else if (type == HAL_TYPE_F16) {
		for (size_t i = 0; i < len; i += 2) {
			uint16_t v = hal_fp32_to_fp16((float)(w[i] % 200) / 100.0f - 1.0f);
			memcpy(w + i, &v, 2);
		}
	} else if (type == HAL_TYPE_F32) {
		for (size_t i = 0; i < len; i += 4) {
			float f = (float)(w[i] % 200) / 100.0f - 1.0f;
			memcpy(w + i, &f, 4);
		}
	}
	return w;
}

int bench_attention_init(struct bench_attention *a, uint32_t n_head, uint32_t hd, uint32_t T,
			 uint32_t ctx, enum hal_type cache_type)
{
	const uint32_t D = n_head * hd;
	uint64_t seed = 9;
	struct hal_tensor *f32[] = { &a->q, &a->k, &a->v, &a->out, &a->k_cache, &a->v_cache };
	static const char *const names[] = { "q", "k", "v", "o", "kc", "vc" };

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < 6; i++) {
		const uint32_t rows = i < 4 ? T : ctx;
		*f32[i] = (struct hal_tensor){ names[i], HAL_TYPE_F32, { D, rows }, NULL, NULL };
		f32[i]->data = bench_random_floats((size_t)D * rows, &seed);
	}
	int32_t *pos = calloc(T, sizeof(int32_t));
	a->pos = (struct hal_tensor){ "pos", HAL_TYPE_I32, { T, 1 }, pos, NULL };
	for (int i = 0; i < 6; i++)
		if (!f32[i]->data)
			pos = NULL;
	/*
	 * The caches in their type, each row of random floats converted as the model stores it,
	 * and in huge pages as a session keeps them: in 4 KiB pages a long context takes a TLB
	 * walk every few rows, which a decode does not.
	 */
	const size_t rb = hal_row_bytes(cache_type, D);

	for (int i = 4; i < 6 && pos; i++) {
		size_t len = rb * ctx;
		uint8_t *c = hal_huge_alloc(&len);

		if (!c) {
			pos = NULL;
			break;
		}
		a->cache_len[i - 4] = len;
		for (uint32_t r = 0; r < ctx; r++)
			hal_quantize_row(cache_type, (const float *)f32[i]->data + (size_t)r * D,
					 c + r * rb, D);
		free(f32[i]->data);
		f32[i]->data = c;
		f32[i]->type = cache_type;
	}
	if (!pos) {
		bench_attention_free(a);
		return -1;
	}
	for (uint32_t t = 0; t < T; t++) {
		pos[t] = (int32_t)(ctx - T + t);
		a->cache_rows += pos[t] + 1;
	}
	a->op = (struct hal_op){ .kind = HAL_OP_ATTENTION,
				 .src = { &a->q, &a->k, &a->v, &a->k_cache, &a->v_cache, &a->pos },
				 .dst = &a->out,
				 .p.attn = { n_head, n_head, hd, 1.0f / sqrtf((float)hd) } };
	return 0;
}

void bench_attention_free(struct bench_attention *a)
{
	struct hal_tensor *all[] = { &a->q, &a->k, &a->v, &a->out, &a->k_cache, &a->v_cache,
				     &a->pos };

	for (int i = 0; i < 7; i++) {
		if ((i == 4 || i == 5) && a->cache_len[i - 4])
			hal_huge_free(all[i]->data, a->cache_len[i - 4]);
		else
			free(all[i]->data);
		all[i]->data = NULL;
	}
}

int bench_time_op_samples(struct hal_device *const *devs, uint32_t n_devs,
			  const struct hal_op *op, uint32_t reps, double *out_s, char *err,
			  size_t err_len)
{
	for (uint32_t r = 0; r < reps + 1; r++) {
		double t0 = bench_now_s();

		for (uint32_t d = 0; d < n_devs; d++) {
			if (devs[d]->vt->run(devs[d], op)) {
				snprintf(err, err_len, "%s: %s: %s", devs[d]->name,
					 hal_op_name(op->kind), devs[d]->error);
				return -1;
			}
		}
		if (r > 0)
			out_s[r - 1] = bench_now_s() - t0;
	}
	return 0;
}

int bench_time_op(struct hal_device *const *devs, uint32_t n_devs, const struct hal_op *op,
		  uint32_t reps, double *out_s, char *err, size_t err_len)
{
	double *t = calloc(reps, sizeof(double));

	if (!t) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	int rc = bench_time_op_samples(devs, n_devs, op, reps, t, err, err_len);
	if (!rc)
		*out_s = bench_median(t, reps);
	free(t);
	return rc;
}

int bench_rows_init(struct bench_rows *r, uint32_t D, uint32_t T)
{
	const uint32_t hd = D % 64 ? D : 64, nh = D / hd;
	uint64_t seed = 7;
	float *x = bench_random_floats((size_t)D * T, &seed);
	float *y = bench_random_floats((size_t)D * T, &seed);
	float *nw = bench_random_floats(D, &seed);
	int32_t *pos = calloc(T, sizeof(int32_t));

	r->x = (struct hal_tensor){ "x", HAL_TYPE_F32, { D, T }, x, NULL };
	r->y = (struct hal_tensor){ "y", HAL_TYPE_F32, { D, T }, y, NULL };
	r->norm = (struct hal_tensor){ "norm", HAL_TYPE_F32, { D, 1 }, nw, NULL };
	r->pos = (struct hal_tensor){ "pos", HAL_TYPE_I32, { T, 1 }, pos, NULL };
	if (!x || !y || !nw || !pos) {
		bench_rows_free(r);
		return -1;
	}
	for (uint32_t t = 0; t < T; t++)
		pos[t] = (int32_t)t;
	r->rmsnorm = (struct hal_op){ .kind = HAL_OP_RMSNORM, .src = { &r->x, &r->norm },
				      .dst = &r->y, .p.rmsnorm.eps = 1e-5f };
	r->rope = (struct hal_op){ .kind = HAL_OP_ROPE, .src = { &r->y, &r->pos }, .dst = &r->y,
				   .p.rope = { nh, hd, hd, 10000.0f, 1.0f } };
	r->swiglu = (struct hal_op){ .kind = HAL_OP_SWIGLU, .src = { &r->x, &r->y }, .dst = &r->y };
	r->add = (struct hal_op){ .kind = HAL_OP_ADD, .src = { &r->x, &r->y }, .dst = &r->x };
	return 0;
}

void bench_rows_free(struct bench_rows *r)
{
	struct hal_tensor *all[] = { &r->x, &r->y, &r->norm, &r->pos };

	for (int i = 0; i < 4; i++) {
		free(all[i]->data);
		all[i]->data = NULL;
	}
}

int bench_parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	/* strtoull would take "-1" as 2^64 - 1, and " 5" or "" without a word */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);

	if (errno || *end || n > max)
		return -1;
	*v = n;
	return 0;
}
