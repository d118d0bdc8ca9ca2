/* SPDX-License-Identifier: MIT */
/*
 * cpu_ref.c - the reference CPU backend: the oracle every other backend is tested against.
 *
 * Plain single-threaded C, one function per op, written to be read rather than to be fast.
 * The numerics are ggml's reference ones (vec_dot_*, rms_norm, rope "normal", soft_max) so
 * that results are comparable with other GGUF runtimes.
 *
 * Every row is copied into an aligned float scratch row before use and copied back after:
 * tensor data may be unaligned (rows of mmap'd model files), and it makes the in-place ops
 * (dst == src) trivially correct.
 */
#include "hal/hal.h"
#include "hal/quant.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cpu_ref {
	struct hal_device base;
};

/* ---- helpers ------------------------------------------------------------------------------ */

static char *row_ptr(const struct hal_tensor *t, uint64_t r)
{
	return (char *)t->data + r * hal_row_bytes(t->type, t->ne[0]);
}

/* Row r of an F32 tensor into out (ne[0] floats). */
static void load_row(const struct hal_tensor *t, uint64_t r, float *out)
{
	memcpy(out, row_ptr(t, r), (size_t)t->ne[0] * sizeof(float));
}

static void store_row(const struct hal_tensor *t, uint64_t r, const float *in)
{
	memcpy(row_ptr(t, r), in, (size_t)t->ne[0] * sizeof(float));
}

/*
 * Elements [off, off + n) of row r of a cache (F32, F16 or Q8_0; off and n whole blocks,
 * which hal_op_check ensures): one head of a cache row, as F32.
 */
static void load_slice(const struct hal_tensor *t, uint64_t r, uint32_t off, uint32_t n,
		       float *out)
{
	hal_dequantize_row(t->type, row_ptr(t, r) + hal_row_bytes(t->type, off), out, n);
}

/* Row r of a cache from F32, rounded or quantized to the cache's type. */
static void store_cache_row(const struct hal_tensor *t, uint64_t r, const float *in)
{
	hal_quantize_row(t->type, in, row_ptr(t, r), t->ne[0]);
}

static int32_t load_i32(const struct hal_tensor *t, uint64_t i)
{
	int32_t v;

	memcpy(&v, (const char *)t->data + i * sizeof(v), sizeof(v));
	return v;
}

static float load_f32(const uint8_t *p)
{
	float f;

	memcpy(&f, p, sizeof(f));
	return f;
}

static float load_f16(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return hal_fp16_to_fp32(h);
}

static enum hal_status no_memory(struct hal_device *dev, const struct hal_op *op)
{
	return hal_device_fail(dev, HAL_ERR_NOMEM, "%s '%s': out of memory for scratch rows",
			       hal_op_name(op->kind),
			       op->dst && op->dst->name ? op->dst->name : "(unnamed)");
}

/* ---- EMBED -------------------------------------------------------------------------------- */

static enum hal_status run_embed(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *table = op->src[0], *ids = op->src[1], *dst = op->dst;
	float *row = malloc((size_t)table->ne[0] * sizeof(float));

	if (!row)
		return no_memory(dev, op);
	for (uint64_t t = 0; t < dst->ne[1]; t++) {
		/* ids were range-checked by hal_op_check */
		hal_dequantize_row(table->type, row_ptr(table, (uint64_t)load_i32(ids, t)), row,
				   table->ne[0]);
		for (uint32_t i = 0; op->embed.scale != 0.0f && i < table->ne[0]; i++)
			row[i] *= op->embed.scale;
		store_row(dst, t, row);
	}
	free(row);
	return HAL_OK;
}

/* ---- RMSNORM ------------------------------------------------------------------------------ */

/* One row in place: ggml's float squares summed in double, the mean back in float. */
static void rmsnorm_row(float *row, const float *w, uint32_t D, float eps)
{
	double sum = 0.0;

	for (uint32_t i = 0; i < D; i++)
		sum += (double)(row[i] * row[i]);
	float mean = (float)(sum / D);
	float scale = 1.0f / sqrtf(mean + eps);

	/* ggml scales, then multiplies by the norm weight in a separate op. */
	for (uint32_t i = 0; i < D; i++)
		row[i] = (row[i] * scale) * w[i];
}

static enum hal_status run_rmsnorm(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *x = op->src[0], *wt = op->src[1];
	uint32_t D = x->ne[0];
	float *row = malloc((size_t)D * sizeof(float));
	float *w = malloc((size_t)D * sizeof(float));

	if (!row || !w) {
		free(row);
		free(w);
		return no_memory(dev, op);
	}
	/* The weight is a vector of D elements whatever its [D x 1] / [1 x D] spelling. */
	memcpy(w, wt->data, (size_t)D * sizeof(float));
	for (uint64_t t = 0; t < x->ne[1]; t++) {
		load_row(x, t, row);
		rmsnorm_row(row, w, D, op->p.rmsnorm.eps);
		store_row(op->dst, t, row);
	}
	free(row);
	free(w);
	return HAL_OK;
}

/* ---- MATMUL ------------------------------------------------------------------------------- */

/* ggml_vec_dot_f32 (scalar): float products summed in double. */
static float dot_f32(const uint8_t *w, const float *a, uint32_t K)
{
	double sum = 0.0;

	for (uint32_t k = 0; k < K; k++)
		sum += (double)(load_f32(w + 4 * (size_t)k) * a[k]);
	return (float)sum;
}

/* ggml_vec_dot_f16: both operands half; their product is exact in float. */
static float dot_f16(const uint8_t *w, const float *a16, uint32_t K)
{
	double sum = 0.0;

	for (uint32_t k = 0; k < K; k++)
		sum += (double)(load_f16(w + 2 * (size_t)k) * a16[k]);
	return (float)sum;
}

/*
 * ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0: an exact integer dot per block of 32, scaled by both
 * block scales, summed in float. |sumi| <= 32 * 127 * 127 < 2^24, exact as a float.
 */
static float dot_q8_0(const uint8_t *w, const uint8_t *a, uint32_t nb)
{
	float sumf = 0.0f;

	for (uint32_t b = 0; b < nb; b++, w += sizeof(struct hal_block_q8_0),
	     a += sizeof(struct hal_block_q8_0)) {
		int sumi = 0;

		for (int j = 0; j < HAL_QK; j++)
			sumi += (int8_t)w[2 + j] * (int8_t)a[2 + j];
		sumf += (float)sumi * (load_f16(w) * load_f16(a));
	}
	return sumf;
}

static float dot_q4_0(const uint8_t *w, const uint8_t *a, uint32_t nb)
{
	float sumf = 0.0f;

	for (uint32_t b = 0; b < nb; b++, w += sizeof(struct hal_block_q4_0),
	     a += sizeof(struct hal_block_q8_0)) {
		int sumi = 0;

		/* low nibble = element j, high nibble = element j + 16 */
		for (int j = 0; j < HAL_QK / 2; j++) {
			sumi += ((w[2 + j] & 0x0f) - 8) * (int8_t)a[2 + j];
			sumi += ((w[2 + j] >> 4) - 8) * (int8_t)a[2 + j + HAL_QK / 2];
		}
		sumf += (float)sumi * (load_f16(w) * load_f16(a));
	}
	return sumf;
}

/*
 * A K-quant block's integer element e: q (0..15 or 0..31) for Q4_K/Q5_K, q - 32 for Q6_K
 * (positions as quant.h documents them).
 */
static int kq_int(enum hal_type t, const uint8_t *blk, uint32_t e)
{
	if (t == HAL_TYPE_Q6_K) {
		const uint32_t h = e / 128, m = e % 128, l = m % 32, g = m / 32;
		const int lo = blk[64 * h + l + 32 * (g & 1)] >> (4 * (g >> 1)) & 15;
		const int hi = blk[HAL_QK_K / 2 + 32 * h + l] >> (2 * g) & 3;

		return (lo | hi << 4) - 32;
	}
	const uint8_t *qs = blk + (t == HAL_TYPE_Q5_K ? 16 + HAL_QK_K / 8 : 16);
	const uint8_t byte = qs[32 * (e / 64) + e % 32];
	int q = e % 64 < 32 ? byte & 15 : byte >> 4;

	if (t == HAL_TYPE_Q5_K && (blk[16 + e % 32] >> (e / 32) & 1))
		q += 16;
	return q;
}

/* The scale of elements 16i .. 16i + 15 of a K-quant block, and the min of their 32-block. */
static void kq_scale_min(enum hal_type t, const uint8_t *blk, uint32_t i, float *scale,
			 float *min)
{
	if (t == HAL_TYPE_Q6_K) {
		*scale = load_f16(blk + offsetof(struct hal_block_q6_k, d)) *
			 (float)(int8_t)blk[offsetof(struct hal_block_q6_k, scales) + i];
		*min = 0.0f;
		return;
	}
	uint8_t sc, m;

	hal_k_scale_min(blk + 4, (int)(i / 2), &sc, &m);
	*scale = load_f16(blk) * (float)sc;
	*min = load_f16(blk + 2) * (float)m;
}

/*
 * K-quant weights against Q8_0 activation blocks (hal.h): per block of 32 activations, the
 * exact integer dots of its two halves with their scales, minus the block's min times the
 * activations' integer sum, all scaled by the activation block's scale.
 */
static float dot_kq(enum hal_type t, const uint8_t *w, const uint8_t *a, uint32_t K)
{
	const size_t bb = hal_type_block_bytes(t);
	float sumf = 0.0f;

	for (uint32_t b = 0; b < K / HAL_QK; b++, a += sizeof(struct hal_block_q8_0)) {
		const uint8_t *blk = w + (size_t)(b / 8) * bb;
		const uint32_t e0 = b % 8 * HAL_QK;
		float part = 0.0f, scale, min = 0.0f;
		int asum = 0;

		for (uint32_t half = 0; half < 2; half++) {
			int sumi = 0;

			for (uint32_t i = 0; i < 16; i++) {
				const int8_t x = (int8_t)a[2 + 16 * half + i];

				sumi += kq_int(t, blk, e0 + 16 * half + i) * x;
				asum += x;
			}
			kq_scale_min(t, blk, (e0 + 16 * half) / 16, &scale, &min);
			part += scale * (float)sumi;
		}
		sumf += load_f16(a) * (part - min * (float)asum);
	}
	return sumf;
}

/*
 * The activation row in the form the weight type's dot product takes, computed once per row:
 * F32 as is, rounded to half for F16, Q8_0 blocks for quantized weights.
 */
static void prepare_activations(enum hal_type wtype, const float *a, uint32_t K, float *a16,
				void *aq)
{
	switch (wtype) {
	case HAL_TYPE_F16:
		for (uint32_t k = 0; k < K; k++)
			a16[k] = hal_fp16_to_fp32(hal_fp32_to_fp16(a[k]));
		break;
	case HAL_TYPE_Q8_0:
	case HAL_TYPE_Q4_0:
	case HAL_TYPE_Q4_K:
	case HAL_TYPE_Q5_K:
	case HAL_TYPE_Q6_K:
		hal_quantize_row(HAL_TYPE_Q8_0, a, aq, K);
		break;
	default:
		break;
	}
}

static float dot_row(enum hal_type wtype, const uint8_t *w, const float *a, const float *a16,
		     const uint8_t *aq, uint32_t K)
{
	switch (wtype) {
	case HAL_TYPE_F32:
		return dot_f32(w, a, K);
	case HAL_TYPE_F16:
		return dot_f16(w, a16, K);
	case HAL_TYPE_Q8_0:
		return dot_q8_0(w, aq, K / HAL_QK);
	case HAL_TYPE_Q4_0:
		return dot_q4_0(w, aq, K / HAL_QK);
	case HAL_TYPE_Q4_K:
	case HAL_TYPE_Q5_K:
	case HAL_TYPE_Q6_K:
		return dot_kq(wtype, w, aq, K);
	default:
		return 0.0f; /* excluded by hal_op_check */
	}
}

static enum hal_status run_matmul_one(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *wt = op->src[0], *act = op->src[1], *dst = op->dst;
	uint32_t K = wt->ne[0], N = wt->ne[1];
	float *a = malloc((size_t)K * sizeof(float));
	float *a16 = malloc((size_t)K * sizeof(float));
	void *aq = malloc(hal_row_bytes(HAL_TYPE_Q8_0, K / HAL_QK * HAL_QK) + 1);
	float *out = malloc((size_t)N * sizeof(float));
	float *nw = op->src[4] ? malloc((size_t)K * sizeof(float)) : NULL;
	enum hal_status st = HAL_OK;

	if (!a || !a16 || !aq || !out || (op->src[4] && !nw)) {
		st = no_memory(dev, op);
		goto done;
	}
	if (nw) /* a vector of K elements whatever its spelling, as run_rmsnorm reads it */
		memcpy(nw, op->src[4]->data, (size_t)K * sizeof(float));
	for (uint64_t t = 0; t < act->ne[1]; t++) {
		load_row(act, t, a);
		/* the normed form: the row as RMSNORM leaves it */
		if (nw)
			rmsnorm_row(a, nw, K, op->matmul.eps);
		prepare_activations(wt->type, a, K, a16, aq);
		/* accumulating: dst's own value plus the sum, one add (hal.h) */
		if (op->matmul.accumulate)
			load_row(dst, t, out);
		for (uint32_t n = 0; n < N; n++) {
			float y = dot_row(wt->type, (const uint8_t *)row_ptr(wt, n), a, a16, aq, K);

			out[n] = op->matmul.accumulate ? out[n] + y : y;
		}
		store_row(dst, t, out);
	}
done:
	free(a);
	free(a16);
	free(aq);
	free(out);
	free(nw);
	return st;
}

/* The fused form (hal.h) weight by weight: the reference's numerics are per output row. */
static enum hal_status run_matmul(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *w[3];
	const uint32_t nw = hal_matmul_weights(op, w);
	enum hal_status st = HAL_OK;

	for (uint32_t i = 0; i < nw && !st; i++) {
		struct hal_op part;
		struct hal_tensor dst;

		hal_matmul_part(op, i, &part, &dst);
		st = run_matmul_one(dev, &part);
	}
	/* the capped form: one weight, its dst contiguous */
	for (size_t i = 0; !st && op->matmul.softcap > 0.0f && i < (size_t)op->dst->ne[0] * op->dst->ne[1]; i++)
		((float *)op->dst->data)[i] = hal_softcap(((float *)op->dst->data)[i],
							  op->matmul.softcap);
	return st;
}

/* ---- ROPE --------------------------------------------------------------------------------- */

/*
 * ggml's rope: theta_i = freq_scale * pos * ts^i / ff[i] with ts = freq_base^(-2/n_rot) (the
 * power built by repeated multiplication as ggml does) and ff the frequency factors (1 when
 * there are none); pair i is (x[2i], x[2i+1]) in the normal mode, (x[i], x[i + n_rot/2]) in
 * the NeoX one.
 */
static void rope_head(float *x, uint32_t n_rot, float pos, float freq_scale, float theta_scale,
		      const float *ff, bool neox)
{
	float theta_base = pos;

	for (uint32_t i0 = 0; i0 < n_rot; i0 += 2) {
		float theta = freq_scale * (ff ? theta_base / ff[i0 / 2] : theta_base);
		float c = cosf(theta), s = sinf(theta);
		const uint32_t a = neox ? i0 / 2 : i0, b = neox ? i0 / 2 + n_rot / 2 : i0 + 1;
		float x0 = x[a], x1 = x[b];

		x[a] = x0 * c - x1 * s;
		x[b] = x0 * s + x1 * c;
		theta_base *= theta_scale;
	}
}

static enum hal_status run_rope(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *x = op->src[0];
	uint32_t hd = op->p.rope.head_dim, n_rot = op->p.rope.n_rot;
	float theta_scale = powf(op->p.rope.freq_base, -2.0f / (float)n_rot);
	float *row = malloc((size_t)x->ne[0] * sizeof(float));
	float *ff = op->src[2] ? malloc((size_t)n_rot / 2 * sizeof(float)) : NULL;

	if (!row || (op->src[2] && !ff)) {
		free(row);
		free(ff);
		return no_memory(dev, op);
	}
	if (ff)
		load_row(op->src[2], 0, ff);
	for (uint64_t t = 0; t < x->ne[1]; t++) {
		float pos = (float)load_i32(op->src[1], t);

		load_row(x, t, row);
		for (uint32_t h = 0; h < op->p.rope.n_head; h++)
			rope_head(row + (size_t)h * hd, n_rot, pos, op->p.rope.freq_scale,
				  theta_scale, ff, op->p.rope.mode == HAL_ROPE_NEOX);
		store_row(op->dst, t, row);
	}
	free(row);
	free(ff);
	return HAL_OK;
}

/* ---- ATTENTION ---------------------------------------------------------------------------- */

struct attn_scratch {
	float *q;      /* the token's q row, n_head * hd */
	float *out;    /* its output row */
	float *krow;   /* a k or v row (n_head_kv * hd), or one head of a cache row */
	float *p;      /* scores, then probabilities, n_ctx */
	double *acc;   /* weighted V sum of one head, hd */
};

/* ggml_vec_soft_max_f32 after subtracting the max: exps in float, their sum in double. */
static void softmax(float *p, uint32_t n)
{
	float max = -INFINITY;
	double sum = 0.0;

	for (uint32_t j = 0; j < n; j++)
		max = fmaxf(max, p[j]);
	for (uint32_t j = 0; j < n; j++) {
		p[j] = expf(p[j] - max);
		sum += (double)p[j];
	}
	float inv = (float)(1.0 / sum);

	for (uint32_t j = 0; j < n; j++)
		p[j] *= inv;
}

/* One head of one token: softmax(scale * q.K[j]) . V[j] over cache rows j <= last. */
static void attend_head(const struct hal_op *op, struct attn_scratch *s, uint32_t h,
			uint32_t last)
{
	const struct hal_tensor *kc = op->src[3], *vc = op->src[4];
	uint32_t hd = op->p.attn.head_dim;
	uint32_t kvh = h / (op->p.attn.n_head / op->p.attn.n_head_kv);
	const float *q = s->q + (size_t)h * hd;
	const uint32_t win = op->p.attn.window;
	/* the first row the token sees: a sliding window's, or row 0 */
	const uint32_t first = win && last + 1 > win ? last + 1 - win : 0;

	for (uint32_t j = first; j <= last; j++) {
		double dot = 0.0;

		load_slice(kc, j, kvh * hd, hd, s->krow);
		for (uint32_t i = 0; i < hd; i++)
			dot += (double)(q[i] * s->krow[i]);
		s->p[j] = op->p.attn.scale * (float)dot;
		if (op->p.attn.softcap > 0.0f)
			s->p[j] = hal_softcap(s->p[j], op->p.attn.softcap);
	}
	softmax(s->p + first, last + 1 - first);
	for (uint32_t i = 0; i < hd; i++)
		s->acc[i] = 0.0;
	for (uint32_t j = first; j <= last; j++) {
		load_slice(vc, j, kvh * hd, hd, s->krow);
		for (uint32_t i = 0; i < hd; i++)
			s->acc[i] += (double)(s->p[j] * s->krow[i]);
	}
	for (uint32_t i = 0; i < hd; i++)
		s->out[(size_t)h * hd + i] = (float)s->acc[i];
}

static enum hal_status run_attention(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2];
	const struct hal_tensor *kc = op->src[3], *vc = op->src[4], *pos = op->src[5];
	struct attn_scratch s = {
		.q = malloc((size_t)q->ne[0] * sizeof(float)),
		.out = malloc((size_t)q->ne[0] * sizeof(float)),
		.krow = malloc((size_t)kc->ne[0] * sizeof(float)),
		.p = malloc((size_t)kc->ne[1] * sizeof(float)),
		.acc = malloc((size_t)op->p.attn.head_dim * sizeof(double)),
	};
	enum hal_status st = HAL_OK;

	if (!s.q || !s.out || !s.krow || !s.p || !s.acc) {
		st = no_memory(dev, op);
		goto done;
	}
	/* Positions were range-checked (all of them, before any write) by hal_op_check. */
	for (uint64_t t = 0; t < q->ne[1]; t++) {
		uint32_t row = (uint32_t)load_i32(pos, t);

		load_row(k, t, s.krow);
		store_cache_row(kc, row, s.krow);
		load_row(v, t, s.krow);
		store_cache_row(vc, row, s.krow);
	}
	for (uint64_t t = 0; t < q->ne[1]; t++) {
		load_row(q, t, s.q);
		for (uint32_t h = 0; h < op->p.attn.n_head; h++)
			attend_head(op, &s, h, (uint32_t)load_i32(pos, t));
		store_row(op->dst, t, s.out);
	}
done:
	free(s.q);
	free(s.out);
	free(s.krow);
	free(s.p);
	free(s.acc);
	return st;
}

/* ---- SWIGLU, ADD -------------------------------------------------------------------------- */

static enum hal_status run_binary(struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *x = op->src[0], *y = op->src[1];
	float *a = malloc((size_t)x->ne[0] * sizeof(float));
	float *b = malloc((size_t)x->ne[0] * sizeof(float));

	if (!a || !b) {
		free(a);
		free(b);
		return no_memory(dev, op);
	}
	const bool gelu = op->kind == HAL_OP_SWIGLU && op->glu.act == HAL_GLU_GELU;

	for (uint64_t t = 0; t < x->ne[1]; t++) {
		load_row(x, t, a);
		load_row(y, y->ne[1] == 1 ? 0 : t, b); /* one row of y: a bias for every row */
		for (uint32_t i = 0; i < x->ne[0]; i++) {
			if (gelu)
				a[i] = hal_gelu(a[i]) * b[i];
			else if (op->kind == HAL_OP_SWIGLU)
				a[i] = a[i] / (1.0f + expf(-a[i])) * b[i]; /* ggml_silu_f32 */
			else
				a[i] = a[i] + b[i];
		}
		store_row(op->dst, t, a);
	}
	free(a);
	free(b);
	return HAL_OK;
}

/* ---- the device --------------------------------------------------------------------------- */

static void cpu_ref_destroy(struct hal_device *dev)
{
	free((struct cpu_ref *)dev);
}

static bool is_weight_type(enum hal_type type)
{
	return type == HAL_TYPE_F32 || type == HAL_TYPE_F16 || type == HAL_TYPE_Q8_0 ||
	       type == HAL_TYPE_Q4_0 || type == HAL_TYPE_Q4_K || type == HAL_TYPE_Q5_K ||
	       type == HAL_TYPE_Q6_K;
}

/* Every op of hal.h with every type hal.h allows; malformed ops are run()'s to reject. */
static bool cpu_ref_supports(struct hal_device *dev, const struct hal_op *op)
{
	(void)dev;
	if (!op || (unsigned)op->kind >= HAL_OP_COUNT)
		return false;
	if ((op->kind == HAL_OP_MATMUL || op->kind == HAL_OP_EMBED) && op->src[0])
		return is_weight_type(op->src[0]->type);
	return true;
}

static enum hal_status cpu_ref_run(struct hal_device *dev, const struct hal_op *op)
{
	char msg[sizeof(dev->error)];
	enum hal_status st = hal_op_check(op, msg, sizeof(msg));
	uint64_t t0;

	/* dev->error keeps the reason of the last failure: copy it only on failure. */
	if (st) {
		memcpy(dev->error, msg, sizeof(msg));
		return st;
	}
	t0 = hal_now_ns();
	switch (op->kind) {
	case HAL_OP_EMBED:
		st = run_embed(dev, op);
		break;
	case HAL_OP_RMSNORM:
		st = run_rmsnorm(dev, op);
		break;
	case HAL_OP_MATMUL:
		st = run_matmul(dev, op);
		break;
	case HAL_OP_ROPE:
		st = run_rope(dev, op);
		break;
	case HAL_OP_ATTENTION:
		st = run_attention(dev, op);
		break;
	case HAL_OP_SWIGLU:
	case HAL_OP_ADD:
		st = run_binary(dev, op);
		break;
	default:
		return hal_device_fail(dev, HAL_ERR_INVALID, "unknown op kind %d", (int)op->kind);
	}
	if (st == HAL_OK) {
		dev->stats.ops++;
		dev->stats.busy_ns += hal_now_ns() - t0;
	}
	return st;
}

static const struct hal_device_vtable cpu_ref_vtable = {
	.destroy = cpu_ref_destroy,
	.supports = cpu_ref_supports,
	.run = cpu_ref_run,
};

enum hal_status hal_cpu_ref_create(struct hal_device **out_dev)
{
	struct cpu_ref *cr;

	if (!out_dev)
		return HAL_ERR_INVALID;
	*out_dev = NULL;
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return HAL_ERR_NOMEM;
	cr->base.vt = &cpu_ref_vtable;
	cr->base.name = "cpu-ref";
	cr->base.cls = HAL_CLASS_CPU;
	cr->base.caps = HAL_CAP_ALL_OPS | HAL_CAP_FUSED_MATMUL;
	*out_dev = &cr->base;
	return HAL_OK;
}

/* The registry's create(): the reference backend takes no options and cannot be missing. */
static enum hal_status cpu_ref_create(const struct hal_device_options *opts,
				      struct hal_device **out, char *err, size_t len)
{
	(void)opts;
	(void)err;
	(void)len;
	return hal_cpu_ref_create(out);
}

const struct hal_backend hal_backend_cpu_ref = {
	.name = "cpu-ref",
	.description = "reference CPU backend: plain C, single thread, the oracle",
	.cls = HAL_CLASS_CPU,
	.caps = HAL_CAP_ALL_OPS | HAL_CAP_FUSED_MATMUL,
	.create = cpu_ref_create,
};
