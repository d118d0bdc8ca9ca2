/* SPDX-License-Identifier: MIT */
/*
 * npu_host.c - the host side of the NPU boundary: weight conversion, boundary quantization,
 * requantization pairs, LUTs and the command-stream builder. See npu_host.h.
 */
#include "hal/npu_host.h"
#include "hal/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct enpu_block_q8) == 36, "Q8B block layout");
_Static_assert(sizeof(struct enpu_block_q4) == 20, "Q4B block layout");
_Static_assert(sizeof(struct enpu_block_i32) == 132, "I32B block layout");
_Static_assert(sizeof(struct enpu_stream_header) == 32, "stream header layout");
_Static_assert(sizeof(struct enpu_cmd_matmul) % 8 == 0, "matmul layout");
_Static_assert(sizeof(struct enpu_cmd_eltwise) % 8 == 0, "eltwise layout");
_Static_assert(sizeof(struct enpu_cmd_lut) % 8 == 0, "lut layout");
_Static_assert(sizeof(struct enpu_cmd_copy) % 8 == 0, "copy layout");
_Static_assert(sizeof(struct enpu_cmd_barrier) % 8 == 0, "barrier layout");
_Static_assert(sizeof(struct enpu_cmd_debug_stall) % 8 == 0, "stall layout");

/* ---- (a) weights ------------------------------------------------------------------------- */

bool npu_fp16_scale(uint16_t h, int16_t *out_m, int8_t *out_e)
{
	int sign = h >> 15, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
	int m, e;
	bool ok = true;

	if (exp == 0) {
		m = frac;
		e = -24;
	} else if (exp < 31) {
		m = 1024 + frac;
		e = exp - 25;
	} else {
		m = frac ? 0 : 2047; /* NaN -> 0, Inf -> largest finite */
		e = 5;
		ok = false;
	}
	*out_m = (int16_t)(sign ? -m : m);
	*out_e = (int8_t)e;
	return ok;
}

enum enpu_dtype npu_weight_dtype(enum hal_type type)
{
	switch (type) {
	case HAL_TYPE_Q8_0:
		return ENPU_DT_Q8B;
	case HAL_TYPE_Q4_0:
		return ENPU_DT_Q4B;
	default:
		return 0;
	}
}

size_t npu_weight_row_bytes(enum hal_type type, uint32_t k)
{
	switch (type) {
	case HAL_TYPE_Q8_0:
		return (size_t)k / ENPU_QK * sizeof(struct enpu_block_q8);
	case HAL_TYPE_Q4_0:
		return (size_t)k / ENPU_QK * sizeof(struct enpu_block_q4);
	default:
		return 0;
	}
}

/* Writes the 4-byte block scale header; returns whether the scale was exact. */
static bool put_scale(uint8_t *dst, uint16_t d)
{
	int16_t m;
	int8_t e;
	bool ok = npu_fp16_scale(d, &m, &e);

	memcpy(dst, &m, 2);
	dst[2] = (uint8_t)e;
	dst[3] = 0;
	return ok;
}

enum hal_status npu_convert_weights(enum hal_type type, const void *src, uint32_t k,
				    uint32_t rows, void *dst, size_t *out_clamped)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t nblocks, clamped = 0;

	if (!npu_weight_dtype(type))
		return HAL_ERR_UNSUPPORTED;
	if (k % ENPU_QK || !src || !dst)
		return HAL_ERR_INVALID;
	nblocks = (size_t)rows * (k / ENPU_QK);
	for (size_t b = 0; b < nblocks; b++) {
		uint16_t h;

		if (type == HAL_TYPE_Q8_0) {
			memcpy(&h, s, 2);
			clamped += !put_scale(d, h);
			memcpy(d + 4, s + 2, ENPU_QK);
			s += sizeof(struct hal_block_q8_0);
			d += sizeof(struct enpu_block_q8);
		} else {
			memcpy(&h, s, 2);
			clamped += !put_scale(d, h);
			memcpy(d + 4, s + 2, ENPU_QK / 2); /* same nibble order as GGUF */
			s += sizeof(struct hal_block_q4_0);
			d += sizeof(struct enpu_block_q4);
		}
	}
	if (out_clamped)
		*out_clamped = clamped;
	return HAL_OK;
}

/* ---- (b) activations --------------------------------------------------------------------- */

size_t npu_act_row_bytes(uint32_t k)
{
	return (size_t)k / ENPU_QK * sizeof(struct enpu_block_q8);
}

size_t npu_i32b_row_bytes(uint32_t n)
{
	return (size_t)n / ENPU_QK * sizeof(struct enpu_block_i32);
}

void npu_quantize_act_row(const float *x, uint32_t k, void *dst)
{
	struct hal_block_q8_0 q[8];
	uint8_t *d = dst;

	/* through ggml's own quantizer, 8 blocks at a time, so the int8 values are its values */
	for (uint32_t i = 0; i < k; i += 8 * ENPU_QK) {
		uint32_t n = k - i < 8 * ENPU_QK ? k - i : 8 * ENPU_QK;

		hal_quantize_row_q8_0(x + i, q, n);
		for (uint32_t b = 0; b < n / ENPU_QK; b++) {
			put_scale(d, q[b].d);
			memcpy(d + 4, q[b].qs, ENPU_QK);
			d += sizeof(struct enpu_block_q8);
		}
	}
}

static float block_scale_f32(const uint8_t *blk)
{
	int16_t m;

	memcpy(&m, blk, 2);
	return ldexpf((float)m, (int8_t)blk[2]);
}

void npu_dequantize_q8b_row(const void *src, uint32_t k, float *y)
{
	const uint8_t *s = src;

	for (uint32_t b = 0; b < k / ENPU_QK; b++, s += sizeof(struct enpu_block_q8)) {
		float d = block_scale_f32(s);

		for (int j = 0; j < ENPU_QK; j++)
			y[b * ENPU_QK + j] = d * (float)(int8_t)s[4 + j];
	}
}

void npu_dequantize_i32b_row(const void *src, uint32_t n, float *y)
{
	const uint8_t *s = src;

	for (uint32_t b = 0; b < n / ENPU_QK; b++, s += sizeof(struct enpu_block_i32)) {
		int32_t e, q;

		memcpy(&e, s, 4);
		/* exp is bounded by the engine's accumulator (|e| < 300): clamp for ldexp's int */
		e = e > 400 ? 400 : e < -400 ? -400 : e;
		for (int j = 0; j < ENPU_QK; j++) {
			memcpy(&q, s + 4 + 4 * j, 4);
			y[b * ENPU_QK + j] = (float)ldexp((double)q, e);
		}
	}
}

static int8_t clamp_i8(long v)
{
	return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}

void npu_quantize_i8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *q)
{
	for (size_t i = 0; i < n; i++) {
		float v = roundf(x[i] / scale);

		v = v > 1e6f ? 1e6f : v < -1e6f ? -1e6f : v;
		q[i] = clamp_i8((long)v + zero_point);
	}
}

void npu_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero_point, float *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = scale * (float)(q[i] - zero_point);
}

float npu_i8_scale_for(const float *x, size_t n)
{
	float amax = 0.0f;

	for (size_t i = 0; i < n; i++)
		amax = fmaxf(amax, fabsf(x[i]));
	return amax > 0.0f ? amax / 127.0f : 1.0f;
}

/* ---- (c) requantization and LUTs --------------------------------------------------------- */

enum hal_status npu_requant_from_real(double real, int32_t zero_point, struct enpu_requant *rq)
{
	int exp;
	double mant;
	int64_t m;
	int shift;

	memset(rq, 0, sizeof(*rq));
	rq->zero_point = zero_point;
	if (!(real >= 0.0) || !isfinite(real) || real >= 2147483648.0 || zero_point < -128 ||
	    zero_point > 127)
		return HAL_ERR_INVALID;
	if (real == 0.0)
		return HAL_OK;
	mant = frexp(real, &exp); /* real = mant * 2^exp, mant in [0.5, 1) */
	m = llround(mant * 2147483648.0);
	if (m == 2147483648LL) {
		m /= 2;
		exp++;
	}
	shift = 31 - exp;
	if (shift < 0)
		return HAL_ERR_INVALID; /* real rounded up to 2^31 */
	if (shift > (int)ENPU_MAX_SHIFT) {
		m = llround(ldexp((double)m, (int)ENPU_MAX_SHIFT - shift));
		shift = ENPU_MAX_SHIFT;
	}
	rq->multiplier = (int32_t)m;
	rq->shift = (uint32_t)shift;
	return HAL_OK;
}

double npu_requant_real(const struct enpu_requant *rq)
{
	return ldexp((double)rq->multiplier, -(int)rq->shift);
}

enum hal_status npu_eltwise_add_params(float sa, int32_t za, float sb, int32_t zb, float so,
				       int32_t zo, struct enpu_requant *in_a,
				       struct enpu_requant *in_b, struct enpu_requant *out)
{
	double si = 2.0 * fmax(sa, sb) / (double)(1 << 20);
	enum hal_status st;

	if (!(sa > 0) || !(sb > 0) || !(so > 0))
		return HAL_ERR_INVALID;
	st = npu_requant_from_real(sa / si, za, in_a);
	if (st == HAL_OK)
		st = npu_requant_from_real(sb / si, zb, in_b);
	if (st == HAL_OK)
		st = npu_requant_from_real(si / so, zo, out);
	return st;
}

enum hal_status npu_eltwise_mul_params(float sa, int32_t za, float sb, int32_t zb, float so,
				       int32_t zo, struct enpu_requant *in_a,
				       struct enpu_requant *in_b, struct enpu_requant *out)
{
	if (!(sa > 0) || !(sb > 0) || !(so > 0) || za < -128 || za > 127 || zb < -128 ||
	    zb > 127)
		return HAL_ERR_INVALID;
	memset(in_a, 0, sizeof(*in_a));
	memset(in_b, 0, sizeof(*in_b));
	in_a->zero_point = za;
	in_b->zero_point = zb;
	return npu_requant_from_real((double)sa * sb / so, zo, out);
}

float npu_lut_eval(enum npu_lut_fn fn, float x)
{
	switch (fn) {
	case NPU_LUT_SILU:
		return x / (1.0f + expf(-x));
	case NPU_LUT_GELU: {
		const float c = 0.7978845608028654f; /* sqrt(2 / pi) */

		return 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
	}
	case NPU_LUT_SIGMOID:
		return 1.0f / (1.0f + expf(-x));
	default:
		return 0.0f;
	}
}

void npu_lut_out_params(enum npu_lut_fn fn, float in_scale, int32_t in_zp, float *out_scale,
			int32_t *out_zp)
{
	float lo = 0.0f, hi = 0.0f;
	long zp;

	for (int q = -128; q <= 127; q++) {
		float y = npu_lut_eval(fn, in_scale * (float)(q - in_zp));

		lo = fminf(lo, y);
		hi = fmaxf(hi, y);
	}
	if (hi - lo <= 0.0f)
		hi = lo + 1.0f;
	*out_scale = (hi - lo) / 255.0f;
	zp = lround(-128.0 - lo / *out_scale);
	*out_zp = (int32_t)(zp > 127 ? 127 : zp < -128 ? -128 : zp);
}

void npu_lut_build(enum npu_lut_fn fn, float in_scale, int32_t in_zp, float out_scale,
		   int32_t out_zp, int8_t table[256])
{
	for (int q = -128; q <= 127; q++) {
		float y = npu_lut_eval(fn, in_scale * (float)(q - in_zp));

		npu_quantize_i8(&y, 1, out_scale, out_zp, &table[q + 128]);
	}
}

/* ---- (d) command streams ----------------------------------------------------------------- */

void npu_stream_begin(struct npu_stream *s)
{
	memset(s, 0, sizeof(*s));
	s->len = sizeof(struct enpu_stream_header);
}

void npu_stream_free(struct npu_stream *s)
{
	free(s->data);
	free(s->bufs);
	memset(s, 0, sizeof(*s));
}

static bool stream_reserve(struct npu_stream *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 512;
	uint8_t *p;

	if (s->err)
		return false;
	while (cap < s->len + more)
		cap *= 2;
	if (cap != s->cap || !s->data) {
		p = realloc(s->data, cap);
		if (!p) {
			s->err = HAL_ERR_NOMEM;
			return false;
		}
		if (!s->data)
			memset(p, 0, sizeof(struct enpu_stream_header));
		s->data = p;
		s->cap = cap;
	}
	return true;
}

uint32_t npu_stream_add_buffer(struct npu_stream *s, void *data, uint64_t size, uint64_t id,
			       uint32_t flags)
{
	if (s->err)
		return UINT32_MAX;
	if (s->nbufs == s->cap_bufs) {
		uint32_t cap = s->cap_bufs ? 2 * s->cap_bufs : 8;
		struct npu_buffer *b = realloc(s->bufs, cap * sizeof(*b));

		if (!b) {
			s->err = HAL_ERR_NOMEM;
			return UINT32_MAX;
		}
		s->bufs = b;
		s->cap_bufs = cap;
	}
	s->bufs[s->nbufs] = (struct npu_buffer){ .data = data, .size = size, .id = id,
						 .flags = flags };
	return s->nbufs++;
}

struct enpu_operand npu_operand(uint32_t buffer, uint64_t offset, uint64_t stride)
{
	return (struct enpu_operand){ .buffer = buffer, .offset = offset, .stride = stride };
}

void npu_stream_add_raw(struct npu_stream *s, const void *cmd, size_t size)
{
	if (!stream_reserve(s, size))
		return;
	memcpy(s->data + s->len, cmd, size);
	s->len += size;
	s->ncmds++;
}

/* Appends a command struct after filling its header. */
static void add_cmd(struct npu_stream *s, uint16_t opcode, void *cmd, size_t size)
{
	struct enpu_cmd_header h = { .opcode = opcode, .size = (uint32_t)size };

	memcpy(cmd, &h, sizeof(h));
	npu_stream_add_raw(s, cmd, size);
}

void npu_stream_matmul(struct npu_stream *s, enum enpu_dtype w_dtype, struct enpu_operand w,
		       struct enpu_operand in, struct enpu_operand out, enum enpu_dtype out_dtype,
		       uint32_t m, uint32_t n, uint32_t k, const struct enpu_requant *rq)
{
	struct enpu_cmd_matmul c = {
		.weights = w, .input = in, .output = out, .m = m, .n = n, .k = k,
		.w_dtype = (uint8_t)w_dtype, .out_dtype = (uint8_t)out_dtype,
	};

	if (rq)
		c.requant = *rq;
	add_cmd(s, ENPU_OP_MATMUL, &c, sizeof(c));
}

void npu_stream_eltwise(struct npu_stream *s, enum enpu_eltwise_op op, struct enpu_operand a,
			struct enpu_operand b, struct enpu_operand out, uint32_t rows,
			uint32_t cols, const struct enpu_requant *in_a,
			const struct enpu_requant *in_b, const struct enpu_requant *out_rq)
{
	struct enpu_cmd_eltwise c = {
		.a = a, .b = b, .out = out, .rows = rows, .cols = cols, .op = (uint32_t)op,
		.in_a = *in_a, .in_b = *in_b, .out_rq = *out_rq,
	};

	add_cmd(s, ENPU_OP_ELTWISE, &c, sizeof(c));
}

void npu_stream_lut(struct npu_stream *s, struct enpu_operand in, struct enpu_operand out,
		    struct enpu_operand table, uint32_t rows, uint32_t cols)
{
	struct enpu_cmd_lut c = {
		.input = in, .output = out, .table = table, .rows = rows, .cols = cols,
	};

	add_cmd(s, ENPU_OP_LUT, &c, sizeof(c));
}

void npu_stream_copy(struct npu_stream *s, struct enpu_operand src, struct enpu_operand dst,
		     uint32_t rows, uint32_t row_bytes)
{
	struct enpu_cmd_copy c = { .src = src, .dst = dst, .rows = rows, .row_bytes = row_bytes };

	add_cmd(s, ENPU_OP_COPY, &c, sizeof(c));
}

void npu_stream_barrier(struct npu_stream *s)
{
	struct enpu_cmd_barrier c = { .flags = 0 };

	add_cmd(s, ENPU_OP_BARRIER, &c, sizeof(c));
}

void npu_stream_fence(struct npu_stream *s, uint32_t buffer, uint64_t offset, uint32_t value)
{
	struct enpu_cmd_barrier c = {
		.flags = ENPU_BARRIER_F_SIGNAL, .value = value, .buffer = buffer, .offset = offset,
	};

	add_cmd(s, ENPU_OP_BARRIER, &c, sizeof(c));
}

void npu_stream_debug_stall(struct npu_stream *s, uint64_t cycles)
{
	struct enpu_cmd_debug_stall c = { .cycles = cycles };

	add_cmd(s, ENPU_OP_DEBUG_STALL, &c, sizeof(c));
}

enum hal_status npu_stream_finish(struct npu_stream *s)
{
	struct enpu_stream_header h = {
		.magic = ENPU_STREAM_MAGIC, .version = ENPU_ISA_VERSION,
		.size = (uint32_t)s->len, .num_cmds = s->ncmds,
	};

	if (!stream_reserve(s, 0))
		return s->err;
	if (s->len > ENPU_MAX_STREAM_BYTES)
		return s->err = HAL_ERR_INVALID;
	memcpy(s->data, &h, sizeof(h));
	return HAL_OK;
}

/* ---- the F32 matmul -------------------------------------------------------------------- */

bool npu_matmul_weight_ok(const struct hal_tensor *w)
{
	return npu_weight_dtype(w->type) && w->ne[0] % ENPU_QK == 0 && w->ne[0] <= ENPU_MAX_K &&
	       w->ne[1] % ENPU_QK == 0 && w->ne[1] && w->ne[1] <= ENPU_MAX_N;
}

bool npu_matmul_op_ok(const struct hal_device *dev, const struct hal_op *op)
{
	const struct hal_tensor *w = op->src[0], *x = op->src[1];

	/* the capped form (Gemma-2's logits) is left to the CPU */
	if (op->kind != HAL_OP_MATMUL || !w || !x || !op->dst || op->matmul.softcap != 0.0f)
		return false;
	if (w->owner && w->owner != dev)
		return false;
	return npu_matmul_weight_ok(w) && x->type == HAL_TYPE_F32 &&
	       op->dst->type == HAL_TYPE_F32 && x->ne[1] && x->ne[1] <= ENPU_MAX_ROWS;
}

void npu_quantize_act_rows(const float *x, uint32_t m, uint32_t k, void *act)
{
	size_t arow = npu_act_row_bytes(k);

	for (uint32_t t = 0; t < m; t++)
		npu_quantize_act_row(x + (size_t)t * k, k, (uint8_t *)act + t * arow);
}

void npu_dequantize_i32b_rows(const void *out, uint32_t m, uint32_t n, float *y)
{
	size_t orow = npu_i32b_row_bytes(n);

	for (uint32_t t = 0; t < m; t++)
		npu_dequantize_i32b_row((const uint8_t *)out + t * orow, n, y + (size_t)t * n);
}

void npu_stream_matmul_f32(struct npu_stream *s, enum enpu_dtype w_dtype, void *w,
			   uint64_t w_id, void *act, void *out, uint32_t m, uint32_t n,
			   uint32_t k, uint32_t idx[3])
{
	size_t wrow = w_dtype == ENPU_DT_Q8B ? npu_weight_row_bytes(HAL_TYPE_Q8_0, k)
					     : npu_weight_row_bytes(HAL_TYPE_Q4_0, k);
	size_t arow = npu_act_row_bytes(k), orow = npu_i32b_row_bytes(n);
	uint32_t bw, ba, bo;

	bw = npu_stream_add_buffer(s, w, (uint64_t)wrow * n, w_id, ENPU_BUF_F_READ);
	ba = npu_stream_add_buffer(s, act, arow * m, 0, ENPU_BUF_F_READ);
	bo = npu_stream_add_buffer(s, out, orow * m, 0, ENPU_BUF_F_WRITE);
	npu_stream_matmul(s, w_dtype, npu_operand(bw, 0, wrow), npu_operand(ba, 0, arow),
			  npu_operand(bo, 0, orow), ENPU_DT_I32B, m, n, k, NULL);
	if (idx) {
		idx[0] = bw;
		idx[1] = ba;
		idx[2] = bo;
	}
}

/* ---- convenience: one matmul ------------------------------------------------------------- */

enum hal_status npu_matmul_f32(struct npu_engine *e, enum enpu_dtype w_dtype, const void *w,
			       uint64_t weights_id, uint32_t n, uint32_t k, const float *x,
			       uint32_t m, float *y, struct npu_job_stats *stats, char *err,
			       size_t err_len)
{
	size_t arow = npu_act_row_bytes(k), orow = npu_i32b_row_bytes(n);
	uint8_t *act = malloc(arow * m + 1), *out = malloc(orow * m + 1);
	struct npu_status st;
	struct npu_stream s;
	enum hal_status ret;

	npu_stream_begin(&s);
	if (!act || !out) {
		ret = HAL_ERR_NOMEM;
		goto done;
	}
	npu_quantize_act_rows(x, m, k, act);
	npu_stream_matmul_f32(&s, w_dtype, (void *)w, weights_id, act, out, m, n, k, NULL);
	ret = npu_stream_finish(&s);
	if (ret != HAL_OK)
		goto done;
	if (npu_engine_run(e, s.data, s.len, s.bufs, s.nbufs, stats, &st)) {
		if (err && err_len)
			snprintf(err, err_len, "npu: command %u: %s (%s)", st.cmd_index, st.reason,
				 npu_error_name(st.code));
		ret = HAL_ERR_INVALID;
		goto done;
	}
	npu_dequantize_i32b_rows(out, m, n, y);
done:
	npu_stream_free(&s);
	free(act);
	free(out);
	return ret;
}
