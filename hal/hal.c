/* SPDX-License-Identifier: MIT */
/*
 * hal.c - the type and op tables, and hal_op_check(): the one place that decides whether an
 * op's operands make sense, so that every backend rejects a malformed graph the same way
 * (with the same message) instead of reading or writing out of bounds.
 */
#include "hal.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct type_info {
	const char *name;
	size_t block_elems;
	size_t block_bytes;
};

static const struct type_info type_info[HAL_TYPE_COUNT] = {
	[HAL_TYPE_F32] = { "F32", 1, 4 },
	[HAL_TYPE_F16] = { "F16", 1, 2 },
	[HAL_TYPE_Q8_0] = { "Q8_0", 32, 34 },
	[HAL_TYPE_Q4_0] = { "Q4_0", 32, 18 },
	[HAL_TYPE_I32] = { "I32", 1, 4 },
	[HAL_TYPE_Q4_K] = { "Q4_K", 256, 144 },
	[HAL_TYPE_Q5_K] = { "Q5_K", 256, 176 },
	[HAL_TYPE_Q6_K] = { "Q6_K", 256, 210 },
};

static const char *const op_names[HAL_OP_COUNT] = {
	[HAL_OP_EMBED] = "embed",
	[HAL_OP_RMSNORM] = "rmsnorm",
	[HAL_OP_MATMUL] = "matmul",
	[HAL_OP_ROPE] = "rope",
	[HAL_OP_ATTENTION] = "attention",
	[HAL_OP_SWIGLU] = "swiglu",
	[HAL_OP_ADD] = "add",
};

/* The enums live in structs that come from outside (graphs, ioctls): never index blindly. */
static bool type_valid(enum hal_type type)
{
	return (unsigned)type < HAL_TYPE_COUNT;
}

const char *hal_type_name(enum hal_type type)
{
	return type_valid(type) ? type_info[type].name : "invalid";
}

size_t hal_type_block_elems(enum hal_type type)
{
	return type_valid(type) ? type_info[type].block_elems : 0;
}

size_t hal_type_block_bytes(enum hal_type type)
{
	return type_valid(type) ? type_info[type].block_bytes : 0;
}

size_t hal_row_bytes(enum hal_type type, uint64_t n)
{
	if (!type_valid(type))
		return 0;
	return (size_t)(n / type_info[type].block_elems * type_info[type].block_bytes);
}

const char *hal_op_name(enum hal_op_kind kind)
{
	return (unsigned)kind < HAL_OP_COUNT ? op_names[kind] : "invalid";
}

const char *hal_class_name(enum hal_device_class cls)
{
	static const char *const names[HAL_CLASS_COUNT] = { "cpu", "gpu", "npu" };

	return (unsigned)cls < HAL_CLASS_COUNT ? names[cls] : "?";
}

enum hal_status hal_device_fail(struct hal_device *dev, enum hal_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return st;
}

/* ---- hal_op_check ------------------------------------------------------------------------ */

/* Type masks for the operand checks. */
#define T_F32 (1u << HAL_TYPE_F32)
#define T_I32 (1u << HAL_TYPE_I32)
#define T_WEIGHT ((1u << HAL_TYPE_F32) | (1u << HAL_TYPE_F16) | (1u << HAL_TYPE_Q8_0) | \
		  (1u << HAL_TYPE_Q4_0) | (1u << HAL_TYPE_Q4_K) | (1u << HAL_TYPE_Q5_K) | \
		  (1u << HAL_TYPE_Q6_K))
/* KV caches: F32, F16 or Q8_0 rows (the K and V caches of one op of one type). */
#define T_CACHE ((1u << HAL_TYPE_F32) | (1u << HAL_TYPE_F16) | (1u << HAL_TYPE_Q8_0))

/* Where the message goes; the first failure wins. */
struct check {
	const struct hal_op *op;
	char *msg;
	size_t len;
};

static const char *tensor_name(const struct hal_tensor *t)
{
	return t && t->name && t->name[0] ? t->name : "(unnamed)";
}

/*
 * Formats "<op> '<tensor>': <reason>" (or "<op>: <reason>" without a tensor) and returns
 * HAL_ERR_INVALID, so that callers can write "return fail(...)".
 */
__attribute__((format(printf, 3, 4)))
static enum hal_status fail(struct check *c, const struct hal_tensor *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->msg || !c->len)
		return HAL_ERR_INVALID;
	if (t)
		n = snprintf(c->msg, c->len, "%s '%s': ", hal_op_name(c->op->kind), tensor_name(t));
	else
		n = snprintf(c->msg, c->len, "%s: ", hal_op_name(c->op->kind));
	if (n >= 0 && (size_t)n < c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg + n, c->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return HAL_ERR_INVALID;
}

static const char *type_list(unsigned mask)
{
	if (mask == T_F32)
		return "F32";
	if (mask == T_I32)
		return "I32";
	if (mask == T_CACHE)
		return "F32, F16 or Q8_0";
	return "F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K";
}

/*
 * The checks every operand gets: present, with data, of an allowed type, non-empty, and rows
 * made of whole blocks (otherwise hal_row_bytes() and every kernel would be wrong).
 */
static enum hal_status check_operand(struct check *c, const struct hal_tensor *t,
				     const char *role, unsigned types)
{
	if (!t)
		return fail(c, NULL, "%s operand is missing", role);
	if (!t->data)
		return fail(c, t, "%s tensor has no data", role);
	if (!type_valid(t->type))
		return fail(c, t, "%s tensor has type invalid (%d), expected %s", role,
			    (int)t->type, type_list(types));
	if (!(types & (1u << t->type)))
		return fail(c, t, "%s tensor has type %s, expected %s", role,
			    hal_type_name(t->type), type_list(types));
	if (t->ne[0] == 0 || t->ne[1] == 0)
		return fail(c, t, "%s tensor is empty (%u x %u)", role, t->ne[0], t->ne[1]);
	if (t->ne[0] % hal_type_block_elems(t->type))
		return fail(c, t, "%s rows of %u elements are not a multiple of the %s block (%zu)",
			    role, t->ne[0], hal_type_name(t->type),
			    hal_type_block_elems(t->type));
	return HAL_OK;
}

static uint64_t elems(const struct hal_tensor *t)
{
	return (uint64_t)t->ne[0] * t->ne[1];
}

static bool overlap(const struct hal_tensor *a, const struct hal_tensor *b)
{
	const char *pa = a->data, *pb = b->data;

	return pa < pb + hal_tensor_bytes(b) && pb < pa + hal_tensor_bytes(a);
}

/*
 * dst must not overlap a source the kernel still reads after writing dst; the ops documented
 * as (or safely) in place may alias a source exactly, never partially.
 */
static enum hal_status check_alias(struct check *c, const struct hal_tensor *src,
				   const char *role, bool exact_ok)
{
	const struct hal_tensor *dst = c->op->dst;

	if (!overlap(dst, src))
		return HAL_OK;
	if (exact_ok && dst->data == src->data && dst->type == src->type &&
	    dst->ne[0] == src->ne[0] && dst->ne[1] == src->ne[1])
		return HAL_OK;
	return fail(c, dst, "output overlaps the %s tensor '%s'", role, tensor_name(src));
}

static enum hal_status check_shape(struct check *c, const struct hal_tensor *t, const char *role,
				   uint64_t ne0, uint64_t ne1)
{
	if (t->ne[0] != ne0 || t->ne[1] != ne1)
		return fail(c, t, "%s tensor is %u x %u, expected %llu x %llu", role, t->ne[0],
			    t->ne[1], (unsigned long long)ne0, (unsigned long long)ne1);
	return HAL_OK;
}

static int32_t load_i32(const struct hal_tensor *t, uint64_t i)
{
	int32_t v;

	memcpy(&v, (const char *)t->data + i * sizeof(v), sizeof(v));
	return v;
}

/*
 * Index vectors (token ids, positions) are I32 with one entry per token. The header writes
 * them both as [T x 1] and [T]; only the count matters since rows are contiguous.
 */
static enum hal_status check_index(struct check *c, const struct hal_tensor *t, const char *role,
				   uint64_t count, int64_t limit, const char *limit_what)
{
	enum hal_status st = check_operand(c, t, role, T_I32);

	if (st)
		return st;
	if (elems(t) != count)
		return fail(c, t, "%s has %llu entries for %llu tokens", role,
			    (unsigned long long)elems(t), (unsigned long long)count);
	/* Values index memory: out of range would be a wild access in every backend. */
	for (uint64_t i = 0; limit >= 0 && i < count; i++) {
		int32_t v = load_i32(t, i);

		if (v < 0 || v >= limit)
			return fail(c, t, "%s[%llu] = %d is out of range [0, %lld) (%s)", role,
				    (unsigned long long)i, v, (long long)limit, limit_what);
	}
	return HAL_OK;
}

/* Shared by the element-wise ops: dst and both sources F32 of one shape. */
static enum hal_status check_binary(struct check *c, const char *a_role, const char *b_role)
{
	const struct hal_op *op = c->op;
	enum hal_status st;

	if ((st = check_operand(c, op->src[0], a_role, T_F32)) ||
	    (st = check_operand(c, op->src[1], b_role, T_F32)) ||
	    (st = check_operand(c, op->dst, "output", T_F32)))
		return st;
	/* ADD's bias form: one row added to every row */
	const bool bias = op->kind == HAL_OP_ADD && op->src[1]->ne[1] == 1 && op->src[0]->ne[1] > 1;

	if (op->kind == HAL_OP_SWIGLU && op->glu.act != HAL_GLU_SILU &&
	    op->glu.act != HAL_GLU_GELU)
		return fail(c, op->src[0], "glu.act %u is not an activation (silu 0, gelu 1)",
			    op->glu.act);
	if (op->src[1]->ne[0] != op->src[0]->ne[0] || (op->src[1]->ne[1] != op->src[0]->ne[1] && !bias))
		return fail(c, op->src[1], "%s is %u x %u but %s '%s' is %u x %u", b_role,
			    op->src[1]->ne[0], op->src[1]->ne[1], a_role,
			    tensor_name(op->src[0]), op->src[0]->ne[0], op->src[0]->ne[1]);
	if ((st = check_shape(c, op->dst, "output", op->src[0]->ne[0], op->src[0]->ne[1])))
		return st;
	/* Element-wise: reading each element before writing it makes exact aliasing safe. */
	if ((st = check_alias(c, op->src[0], a_role, true)) ||
	    (st = check_alias(c, op->src[1], b_role, !bias)))
		return st;
	return HAL_OK;
}

static enum hal_status check_embed(struct check *c)
{
	const struct hal_op *op = c->op;
	const struct hal_tensor *table = op->src[0], *dst = op->dst;
	enum hal_status st;

	if ((st = check_operand(c, table, "table", T_WEIGHT)) ||
	    (st = check_operand(c, dst, "output", T_F32)))
		return st;
	if (dst->ne[0] != table->ne[0])
		return fail(c, table, "output rows have %u columns, table rows %u", dst->ne[0],
			    table->ne[0]);
	if (!isfinite(op->embed.scale))
		return fail(c, table, "scale %g is not finite", (double)op->embed.scale);
	if ((st = check_index(c, op->src[1], "ids", dst->ne[1], table->ne[1], "table rows")))
		return st;
	if ((st = check_alias(c, table, "table", false)) ||
	    (st = check_alias(c, op->src[1], "ids", false)))
		return st;
	return HAL_OK;
}

static enum hal_status check_rmsnorm(struct check *c)
{
	const struct hal_op *op = c->op;
	const struct hal_tensor *x = op->src[0], *w = op->src[1];
	float eps = op->p.rmsnorm.eps;
	enum hal_status st;

	if ((st = check_operand(c, x, "input", T_F32)) ||
	    (st = check_operand(c, w, "norm weight", T_F32)) ||
	    (st = check_operand(c, op->dst, "output", T_F32)))
		return st;
	if (elems(w) != x->ne[0])
		return fail(c, w, "norm weight has %llu elements, rows have %u",
			    (unsigned long long)elems(w), x->ne[0]);
	if (!(eps >= 0.0f) || !isfinite(eps))
		return fail(c, x, "eps %g must be finite and >= 0", (double)eps);
	if ((st = check_shape(c, op->dst, "output", x->ne[0], x->ne[1])))
		return st;
	/* Row by row, the row read before it is written: in place is fine. */
	if ((st = check_alias(c, x, "input", true)) ||
	    (st = check_alias(c, w, "norm weight", false)))
		return st;
	return HAL_OK;
}

static enum hal_status check_matmul(struct check *c)
{
	static const char *const role[3] = { "weights", "second weights", "third weights" };
	const struct hal_op *op = c->op;
	const struct hal_tensor *w[3], *a = op->src[1];
	const uint32_t nw = hal_matmul_weights(op, w);
	uint64_t rows = 0;
	enum hal_status st;

	if (op->src[3] && !op->src[2])
		return fail(c, op->src[3], "third weights without second weights");
	for (uint32_t i = 0; i < nw; i++) {
		if ((st = check_operand(c, w[i], role[i], T_WEIGHT)))
			return st;
		if (i && (w[i]->type != w[0]->type || w[i]->ne[0] != w[0]->ne[0]))
			return fail(c, w[i], "%s are %s [%u x %u], the first %s [%u x %u]", role[i],
				    hal_type_name(w[i]->type), w[i]->ne[0], w[i]->ne[1],
				    hal_type_name(w[0]->type), w[0]->ne[0], w[0]->ne[1]);
		rows += w[i]->ne[1];
	}
	if ((st = check_operand(c, a, "activations", T_F32)) ||
	    (st = check_operand(c, op->dst, "output", T_F32)))
		return st;
	if (a->ne[0] != w[0]->ne[0])
		return fail(c, w[0], "activations have %u columns, weights %u", a->ne[0],
			    w[0]->ne[0]);
	if (op->dst->ne[0] != rows || op->dst->ne[1] != a->ne[1])
		return fail(c, w[0], "output '%s' is %u x %u, expected %llu x %u (weight rows x tokens)",
			    tensor_name(op->dst), op->dst->ne[0], op->dst->ne[1],
			    (unsigned long long)rows, a->ne[1]);
	if (op->src[4]) {
		float eps = op->matmul.eps;

		if ((st = check_operand(c, op->src[4], "norm weight", T_F32)))
			return st;
		if (elems(op->src[4]) != a->ne[0])
			return fail(c, op->src[4], "norm weight has %llu elements, rows have %u",
				    (unsigned long long)elems(op->src[4]), a->ne[0]);
		if (!(eps >= 0.0f) || !isfinite(eps))
			return fail(c, a, "eps %g must be finite and >= 0", (double)eps);
		if ((st = check_alias(c, op->src[4], "norm weight", false)))
			return st;
	}
	if (op->matmul.softcap != 0.0f &&
	    (!(op->matmul.softcap > 0.0f) || !isfinite(op->matmul.softcap) || nw > 1 ||
	     op->matmul.accumulate))
		return fail(c, w[0], "softcap %g must be positive and finite, on one weight, not "
			    "accumulating", (double)op->matmul.softcap);
	/* Every output reads a whole activation row and all weights: no aliasing at all. */
	for (uint32_t i = 0; i < nw; i++)
		if ((st = check_alias(c, w[i], role[i], false)))
			return st;
	if ((st = check_alias(c, a, "activations", false)))
		return st;
	return HAL_OK;
}

void hal_matmul_part(const struct hal_op *op, uint32_t i, struct hal_op *part,
		     struct hal_tensor *dst_part)
{
	const struct hal_tensor *w[3];
	size_t off = 0;

	hal_matmul_weights(op, w);
	for (uint32_t j = 0; j < i; j++)
		off += hal_row_bytes(HAL_TYPE_F32, w[j]->ne[1]) * op->dst->ne[1];
	*dst_part = *op->dst;
	dst_part->ne[0] = w[i]->ne[1];
	dst_part->data = (char *)op->dst->data + off;
	*part = (struct hal_op){ .kind = HAL_OP_MATMUL, .dst = dst_part };
	part->matmul = op->matmul;
	part->src[4] = op->src[4];
	part->src[0] = (struct hal_tensor *)w[i];
	part->src[1] = op->src[1];
}

static enum hal_status check_rope(struct check *c)
{
	const struct hal_op *op = c->op;
	const struct hal_tensor *x = op->src[0];
	uint32_t n_head = op->p.rope.n_head, hd = op->p.rope.head_dim, n_rot = op->p.rope.n_rot;
	float base = op->p.rope.freq_base, fscale = op->p.rope.freq_scale;
	enum hal_status st;

	if ((st = check_operand(c, x, "input", T_F32)) ||
	    (st = check_operand(c, op->dst, "output", T_F32)))
		return st;
	if (!n_head || !hd)
		return fail(c, x, "n_head %u and head_dim %u must be positive", n_head, hd);
	if (!n_rot || n_rot % 2 || n_rot > hd)
		return fail(c, x, "n_rot %u must be even, positive and <= head_dim %u", n_rot, hd);
	if ((uint64_t)n_head * hd != x->ne[0])
		return fail(c, x, "rows have %u columns, n_head %u x head_dim %u = %llu", x->ne[0],
			    n_head, hd, (unsigned long long)n_head * hd);
	if (!(base > 0.0f) || !isfinite(base) || !isfinite(fscale))
		return fail(c, x, "freq_base %g must be positive and freq_scale %g finite",
			    (double)base, (double)fscale);
	if (op->p.rope.mode != HAL_ROPE_NORM && op->p.rope.mode != HAL_ROPE_NEOX)
		return fail(c, x, "mode %u is not a rope mode (normal 0, neox 1)", op->p.rope.mode);
	if (op->src[2] && ((st = check_operand(c, op->src[2], "frequency factors", T_F32)) ||
			   (st = check_alias(c, op->src[2], "frequency factors", false))))
		return st;
	if (op->src[2] && elems(op->src[2]) != n_rot / 2)
		return fail(c, op->src[2], "frequency factors have %llu elements, n_rot/2 is %u",
			    (unsigned long long)elems(op->src[2]), n_rot / 2);
	/* Any position is a valid angle: no range limit. */
	if ((st = check_index(c, op->src[1], "positions", x->ne[1], -1, NULL)) ||
	    (st = check_shape(c, op->dst, "output", x->ne[0], x->ne[1])) ||
	    (st = check_alias(c, x, "input", true)) ||
	    (st = check_alias(c, op->src[1], "positions", false)))
		return st;
	return HAL_OK;
}

static enum hal_status check_attention(struct check *c)
{
	const struct hal_op *op = c->op;
	const struct hal_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2];
	const struct hal_tensor *kc = op->src[3], *vc = op->src[4];
	uint32_t n_head = op->p.attn.n_head, n_kv = op->p.attn.n_head_kv, hd = op->p.attn.head_dim;
	uint64_t q_w, kv_w, T;
	enum hal_status st;

	if ((st = check_operand(c, q, "q", T_F32)) ||
	    (st = check_operand(c, k, "k", T_F32)) ||
	    (st = check_operand(c, v, "v", T_F32)) ||
	    (st = check_operand(c, kc, "K cache", T_CACHE)) ||
	    (st = check_operand(c, vc, "V cache", T_CACHE)) ||
	    (st = check_operand(c, op->dst, "output", T_F32)))
		return st;
	if (!n_head || !n_kv || !hd)
		return fail(c, q, "n_head %u, n_head_kv %u and head_dim %u must be positive",
			    n_head, n_kv, hd);
	if (n_head % n_kv)
		return fail(c, q, "n_head %u is not a multiple of n_head_kv %u", n_head, n_kv);
	if (!isfinite(op->p.attn.scale))
		return fail(c, q, "scale %g is not finite", (double)op->p.attn.scale);
	if (!(op->p.attn.softcap >= 0.0f) || !isfinite(op->p.attn.softcap))
		return fail(c, q, "softcap %g must be finite and >= 0", (double)op->p.attn.softcap);
	q_w = (uint64_t)n_head * hd;
	kv_w = (uint64_t)n_kv * hd;
	T = q->ne[1];
	if (q->ne[0] != q_w)
		return fail(c, q, "q rows have %u columns, n_head %u x head_dim %u = %llu",
			    q->ne[0], n_head, hd, (unsigned long long)q_w);
	if ((st = check_shape(c, k, "k", kv_w, T)) ||
	    (st = check_shape(c, v, "v", kv_w, T)) ||
	    (st = check_shape(c, op->dst, "output", q_w, T)))
		return st;
	if (kc->ne[0] != kv_w || vc->ne[0] != kv_w)
		return fail(c, kc, "cache rows have %u (K) and %u (V) columns, expected n_head_kv %u"
			    " x head_dim %u = %llu", kc->ne[0], vc->ne[0], n_kv, hd,
			    (unsigned long long)kv_w);
	if (vc->type != kc->type)
		return fail(c, vc, "V cache is %s, K cache '%s' %s", hal_type_name(vc->type),
			    tensor_name(kc), hal_type_name(kc->type));
	/* a head's slice of a cache row is read on its own: it must be whole blocks */
	if (hd % hal_type_block_elems(kc->type))
		return fail(c, kc, "head_dim %u is not a multiple of the %s block (%zu)", hd,
			    hal_type_name(kc->type), hal_type_block_elems(kc->type));
	if (vc->ne[1] != kc->ne[1])
		return fail(c, vc, "V cache has %u rows, K cache '%s' %u", vc->ne[1],
			    tensor_name(kc), kc->ne[1]);
	if ((st = check_index(c, op->src[5], "positions", T, kc->ne[1], "cache rows")))
		return st;
	if (overlap(kc, vc))
		return fail(c, kc, "K cache overlaps the V cache '%s'", tensor_name(vc));
	/* Each (token, head) output is computed from its own q slice before it is written. */
	if ((st = check_alias(c, q, "q", true)) ||
	    (st = check_alias(c, k, "k", false)) ||
	    (st = check_alias(c, v, "v", false)) ||
	    (st = check_alias(c, kc, "K cache", false)) ||
	    (st = check_alias(c, vc, "V cache", false)) ||
	    (st = check_alias(c, op->src[5], "positions", false)))
		return st;
	return HAL_OK;
}

enum hal_status hal_op_check(const struct hal_op *op, char *msg, size_t len)
{
	struct check c = { op, msg, len };

	if (msg && len)
		msg[0] = '\0';
	if (!op) {
		if (msg && len)
			snprintf(msg, len, "no op");
		return HAL_ERR_INVALID;
	}
	switch (op->kind) {
	case HAL_OP_EMBED:
		return check_embed(&c);
	case HAL_OP_RMSNORM:
		return check_rmsnorm(&c);
	case HAL_OP_MATMUL:
		return check_matmul(&c);
	case HAL_OP_ROPE:
		return check_rope(&c);
	case HAL_OP_ATTENTION:
		return check_attention(&c);
	case HAL_OP_SWIGLU:
		return check_binary(&c, "gate", "up");
	case HAL_OP_ADD:
		return check_binary(&c, "a", "b");
	case HAL_OP_COUNT:
		break;
	}
	return fail(&c, NULL, "unknown op kind %d", (int)op->kind);
}

#define HUGE_PAGE ((size_t)2 << 20)

void *hal_huge_alloc(size_t *len)
{
	const size_t want = (*len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;

	if (!want || want < *len)
		return NULL;
	/* one huge page more, to cut an aligned run out of it */
	uint8_t *p = mmap(NULL, want + HUGE_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;

	if (lo > (uintptr_t)p)
		munmap(p, lo - (uintptr_t)p);
	munmap((uint8_t *)lo + want, (uintptr_t)p + HUGE_PAGE - lo);
	madvise((void *)lo, want, MADV_HUGEPAGE);
	*len = want;
	return (void *)lo;
}

void hal_huge_free(void *p, size_t len)
{
	if (p)
		munmap(p, (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
}
