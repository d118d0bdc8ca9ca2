/* SPDX-License-Identifier: MIT */
/*
 * opencl_ops.c - the HAL ops as kernel launches: which ops the device takes, and for each the
 * operands bound to buffers, the kernel arguments and the NDRange (see kernels/ for what each
 * work-item computes).
 */
#include "ocl_internal.h"

#include <math.h>
#include <string.h>

const char *const ocl_kernel_names[OCL_K_COUNT] = {
	[OCL_K_QUANTIZE_Q8_ACT] = "quantize_q8_act",
	[OCL_K_ROUND_F16_ACT] = "round_f16_act",
	[OCL_K_MATMUL_Q8_0] = "matmul_q8_0",
	[OCL_K_MATMUL_Q4_0] = "matmul_q4_0",
	[OCL_K_MATMUL_F16] = "matmul_f16",
	[OCL_K_MATMUL_F32] = "matmul_f32",
	[OCL_K_RMSNORM] = "rmsnorm",
	[OCL_K_ROPE] = "rope",
	[OCL_K_KV_STORE] = "kv_store",
	[OCL_K_ATTENTION] = "attention",
	[OCL_K_SWIGLU] = "swiglu",
	[OCL_K_ADD] = "add",
	[OCL_K_EMBED] = "embed",
	[OCL_K_MATMUL_KQ] = "matmul_kq",
	[OCL_K_SOFTCAP] = "softcap",
};

#define TB 4             /* tokens per matmul work-group, as in matmul.cl */
#define MAX_HEAD_DIM 1024 /* q of one head is staged in local memory */
#define ROWS_PER_GROUP 16 /* CPU devices: rows (work-items) per work-group */

/* ---- what the device takes -------------------------------------------------------------- */

static bool aligned(const struct hal_tensor *t, size_t a)
{
	return t && ((uintptr_t)t->data % a) == 0;
}

/* Element loads need natural alignment: 4 for F32/I32, 2 for half scales and F16. */
static size_t type_align(enum hal_type type)
{
	return type == HAL_TYPE_F32 || type == HAL_TYPE_I32 ? 4 : 2;
}

static bool is_weight_type(enum hal_type type)
{
	return type == HAL_TYPE_F32 || type == HAL_TYPE_F16 || type == HAL_TYPE_Q8_0 ||
	       type == HAL_TYPE_Q4_0 || type == HAL_TYPE_Q4_K || type == HAL_TYPE_Q5_K ||
	       type == HAL_TYPE_Q6_K;
}

bool ocl_supports(struct hal_device *dev, const struct hal_op *op)
{
	struct ocl_dev *d = (struct ocl_dev *)dev;

	if (!op || (unsigned)op->kind >= HAL_OP_COUNT)
		return false;
	for (int i = 0; i < HAL_OP_MAX_SRC; i++)
		if (op->src[i] && !aligned(op->src[i], type_align(op->src[i]->type)))
			return false;
	if (op->dst && !aligned(op->dst, 4))
		return false;
	switch (op->kind) {
	case HAL_OP_MATMUL:
	case HAL_OP_EMBED:
		return op->src[0] && is_weight_type(op->src[0]->type);
	case HAL_OP_ATTENTION:
		/* q of a head and a reduction row live in local memory */
		return op->p.attn.head_dim <= MAX_HEAD_DIM &&
		       (op->p.attn.head_dim + d->info.caps.work_group) * sizeof(float) <=
			       d->info.caps.local_mem;
	default:
		return true;
	}
}

/* ---- operands and launches -------------------------------------------------------------- */

struct operand {
	const struct hal_tensor *t;
	enum ocl_access acc;
	struct ocl_arg a;
};

/* Reserves every range first (a later merge may replace an earlier buffer), then binds. */
static enum hal_status bind(struct ocl_dev *d, struct operand *ops, int n)
{
	enum hal_status st;

	for (int i = 0; i < n; i++)
		if ((st = ocl_buf_reserve(d, ops[i].t->data, hal_tensor_bytes(ops[i].t),
					  ops[i].acc)))
			return st;
	for (int i = 0; i < n; i++)
		if ((st = ocl_buf_arg(d, ops[i].t->data, hal_tensor_bytes(ops[i].t), ops[i].acc,
				      &ops[i].a)))
			return st;
	return HAL_OK;
}

/* Copy mode: what the op wrote goes back to the host. */
static enum hal_status drain(struct ocl_dev *d, const struct operand *ops, int n)
{
	enum hal_status st;

	for (int i = 0; i < n; i++)
		if ((ops[i].acc == OCL_WRITE || ops[i].acc == OCL_READ_WRITE) &&
		    (st = ocl_buf_download(d, ops[i].t->data, hal_tensor_bytes(ops[i].t))))
			return st;
	return HAL_OK;
}

/* Kernel arguments are set in order; the first error is kept. */
struct launch {
	struct ocl_dev *d;
	enum ocl_kernel k;
	cl_uint idx;
	cl_int err;
};

static void arg(struct launch *l, size_t size, const void *value)
{
	if (l->err == CL_SUCCESS)
		l->err = clSetKernelArg(l->d->kernels[l->k], l->idx, size, value);
	l->idx++;
}

static void arg_buf(struct launch *l, const struct ocl_arg *a)
{
	arg(l, sizeof(cl_mem), &a->mem);
	arg(l, sizeof(cl_ulong), &a->off);
}

static void arg_mem(struct launch *l, cl_mem m)
{
	arg(l, sizeof(cl_mem), &m);
}

static void arg_u32(struct launch *l, uint64_t v)
{
	cl_uint u = (cl_uint)v;

	arg(l, sizeof(u), &u);
}

static void arg_f32(struct launch *l, float v)
{
	cl_float f = v;

	arg(l, sizeof(f), &f);
}

static size_t round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

static enum hal_status go(struct launch *l, cl_uint dims, const size_t *global,
			  const size_t *local)
{
	cl_int e = l->err;

	if (e == CL_SUCCESS)
		e = clEnqueueNDRangeKernel(l->d->queue, l->d->kernels[l->k], dims, NULL, global,
					   local, 0, NULL, NULL);
	if (e != CL_SUCCESS)
		return hal_device_fail(&l->d->base, HAL_ERR_DEVICE, "kernel %s: %s",
				       ocl_kernel_names[l->k], ocl_strerror(e));
	return HAL_OK;
}

static struct launch kernel(struct ocl_dev *d, enum ocl_kernel k)
{
	return (struct launch){ d, k, 0, CL_SUCCESS };
}

/* ---- the ops ---------------------------------------------------------------------------- */

/* Activations in the form the weight type's dot product takes (Q8_0 blocks, or halves). */
static enum hal_status prepare_act(struct ocl_dev *d, enum hal_type wtype, const struct ocl_arg *x,
				   size_t n, cl_mem *aq, cl_mem *ad)
{
	struct launch l;
	enum hal_status st;
	size_t global;

	if (wtype == HAL_TYPE_F16) {
		if ((st = ocl_scratch(d, OCL_S_A16, n * 2, aq)))
			return st;
		l = kernel(d, OCL_K_ROUND_F16_ACT);
		arg_buf(&l, x);
		arg_u32(&l, n);
		arg_mem(&l, *aq);
		global = round_up(n, 64);
		return go(&l, 1, &global, NULL);
	}
	if ((st = ocl_scratch(d, OCL_S_AQ, n, aq)) ||
	    (st = ocl_scratch(d, OCL_S_AD, n / 32 * sizeof(float), ad)))
		return st;
	l = kernel(d, OCL_K_QUANTIZE_Q8_ACT);
	arg_buf(&l, x);
	arg_u32(&l, n / 32);
	arg_mem(&l, *aq);
	arg_mem(&l, *ad);
	global = round_up(n / 32, 64);
	return go(&l, 1, &global, NULL);
}

static enum hal_status run_matmul(struct ocl_dev *d, const struct hal_op *op)
{
	const struct hal_tensor *w = op->src[0];
	struct operand o[] = { { w, OCL_CONST, { 0 } }, { op->src[1], OCL_READ, { 0 } },
			       { op->dst, OCL_WRITE, { 0 } } };
	uint32_t K = w->ne[0], N = w->ne[1], T = op->src[1]->ne[1];
	size_t wg = d->info.caps.work_group;
	size_t global[2] = { (size_t)N * wg, (T + TB - 1) / TB }, local[2] = { wg, 1 };
	cl_mem aq = NULL, ad = NULL;
	bool row_per_item = d->info.caps.is_cpu; /* as the program was built (ROW_PER_ITEM) */
	enum hal_status st = bind(d, o, 3);
	struct launch l;

	if (!st && w->type != HAL_TYPE_F32)
		st = prepare_act(d, w->type, &o[1].a, (size_t)K * T, &aq, &ad);
	if (st)
		return st;
	switch (w->type) {
	case HAL_TYPE_Q8_0:
	case HAL_TYPE_Q4_0:
		l = kernel(d, w->type == HAL_TYPE_Q8_0 ? OCL_K_MATMUL_Q8_0 : OCL_K_MATMUL_Q4_0);
		arg_buf(&l, &o[0].a);
		arg_mem(&l, aq);
		arg_mem(&l, ad);
		break;
	case HAL_TYPE_F16:
		l = kernel(d, OCL_K_MATMUL_F16);
		arg_buf(&l, &o[0].a);
		arg_mem(&l, aq);
		break;
	case HAL_TYPE_Q4_K:
	case HAL_TYPE_Q5_K:
	case HAL_TYPE_Q6_K:
		l = kernel(d, OCL_K_MATMUL_KQ);
		arg_buf(&l, &o[0].a);
		arg_mem(&l, aq);
		arg_mem(&l, ad);
		break;
	default:
		l = kernel(d, OCL_K_MATMUL_F32);
		arg_buf(&l, &o[0].a);
		arg_buf(&l, &o[1].a);
		break;
	}
	arg_buf(&l, &o[2].a);
	arg_u32(&l, K);
	arg_u32(&l, N);
	arg_u32(&l, T);
	if (w->type == HAL_TYPE_Q4_K || w->type == HAL_TYPE_Q5_K || w->type == HAL_TYPE_Q6_K)
		arg_u32(&l, (uint32_t)w->type); /* which K-quant: a hal_type number */
	if (row_per_item)
		global[0] = round_up(N, ROWS_PER_GROUP);
	if ((st = go(&l, 2, global, row_per_item ? (size_t[2]){ ROWS_PER_GROUP, 1 } : local)))
		return st;
	if (op->matmul.softcap > 0.0f) {
		/* the capped form (Gemma-2's logits), after the matmul in the in-order queue */
		size_t n = (size_t)N * T, g = round_up(n, 64);

		l = kernel(d, OCL_K_SOFTCAP);
		arg_buf(&l, &o[2].a);
		arg_u32(&l, n);
		arg_f32(&l, op->matmul.softcap);
		if ((st = go(&l, 1, &g, NULL)))
			return st;
	}
	return drain(d, o, 3);
}

static enum hal_status run_rmsnorm(struct ocl_dev *d, const struct hal_op *op)
{
	struct operand o[] = { { op->src[0], OCL_READ, { 0 } }, { op->src[1], OCL_CONST, { 0 } },
			       { op->dst, OCL_WRITE, { 0 } } };
	size_t wg = d->info.caps.work_group, global = op->src[0]->ne[1] * wg;
	enum hal_status st = bind(d, o, 3);
	struct launch l = kernel(d, OCL_K_RMSNORM);

	if (st)
		return st;
	arg_buf(&l, &o[0].a);
	arg_buf(&l, &o[1].a);
	arg_buf(&l, &o[2].a);
	arg_u32(&l, op->src[0]->ne[0]);
	arg_f32(&l, op->p.rmsnorm.eps);
	if ((st = go(&l, 1, &global, &wg)))
		return st;
	return drain(d, o, 3);
}

static enum hal_status run_rope(struct ocl_dev *d, const struct hal_op *op)
{
	/* without frequency factors the positions stand in for their buffer (never read) */
	struct operand o[] = { { op->src[0], OCL_READ, { 0 } }, { op->src[1], OCL_READ, { 0 } },
			       { op->dst, OCL_WRITE, { 0 } },
			       { op->src[2] ? op->src[2] : op->src[1], OCL_READ, { 0 } } };
	uint32_t hd = op->p.rope.head_dim, n_rot = op->p.rope.n_rot;
	size_t global[3] = { (hd + 1) / 2, op->p.rope.n_head, op->src[0]->ne[1] };
	/* the same powf as the reference, so that the angles match bit for bit */
	float theta_scale = powf(op->p.rope.freq_base, -2.0f / (float)n_rot);
	enum hal_status st = bind(d, o, 4);
	struct launch l = kernel(d, OCL_K_ROPE);

	if (st)
		return st;
	arg_buf(&l, &o[0].a);
	arg_buf(&l, &o[1].a);
	arg_buf(&l, &o[2].a);
	arg_u32(&l, hd);
	arg_u32(&l, n_rot);
	arg_f32(&l, op->p.rope.freq_scale);
	arg_f32(&l, theta_scale);
	arg_u32(&l, op->p.rope.mode == HAL_ROPE_NEOX);
	arg_buf(&l, &o[3].a);
	arg_u32(&l, op->src[2] != NULL);
	if ((st = go(&l, 3, global, NULL)))
		return st;
	return drain(d, o, 3);
}

static enum hal_status run_attention(struct ocl_dev *d, const struct hal_op *op)
{
	struct operand o[] = {
		{ op->src[0], OCL_READ, { 0 } }, { op->src[1], OCL_READ, { 0 } },
		{ op->src[2], OCL_READ, { 0 } }, { op->src[3], OCL_READ_WRITE, { 0 } },
		{ op->src[4], OCL_READ_WRITE, { 0 } }, { op->src[5], OCL_READ, { 0 } },
		{ op->dst, OCL_WRITE, { 0 } },
	};
	uint32_t n_head = op->p.attn.n_head, n_kv = op->p.attn.n_head_kv, hd = op->p.attn.head_dim;
	uint32_t T = op->src[0]->ne[1], n_ctx = op->src[3]->ne[1];
	size_t wg = d->info.caps.work_group;
	size_t g_store[2] = { (size_t)n_kv * hd, T };
	size_t g_attn[2] = { wg * n_head, T }, l_attn[2] = { wg, 1 };
	enum hal_status st = bind(d, o, 7);
	struct launch l = kernel(d, OCL_K_KV_STORE);
	cl_mem scores = NULL;

	if (st || (st = ocl_scratch(d, OCL_S_SCORES, (size_t)T * n_head * n_ctx * sizeof(float),
				    &scores)))
		return st;
	arg_buf(&l, &o[1].a);
	arg_buf(&l, &o[2].a);
	arg_buf(&l, &o[3].a);
	arg_buf(&l, &o[4].a);
	arg_buf(&l, &o[5].a);
	arg_u32(&l, (size_t)n_kv * hd);
	arg_u32(&l, (uint32_t)op->src[3]->type); /* the caches' type, a hal_type number */
	if ((st = go(&l, 2, g_store, NULL)))
		return st;
	l = kernel(d, OCL_K_ATTENTION);
	arg_buf(&l, &o[0].a);
	arg_buf(&l, &o[3].a);
	arg_buf(&l, &o[4].a);
	arg_buf(&l, &o[5].a);
	arg_buf(&l, &o[6].a);
	arg_mem(&l, scores);
	arg_u32(&l, n_head);
	arg_u32(&l, n_kv);
	arg_u32(&l, hd);
	arg_u32(&l, n_ctx);
	arg_f32(&l, op->p.attn.scale);
	arg_u32(&l, (uint32_t)op->src[3]->type);
	arg_f32(&l, op->p.attn.softcap);
	arg_u32(&l, op->p.attn.window);
	arg(&l, (size_t)hd * sizeof(float), NULL); /* __local q of the head */
	if ((st = go(&l, 2, g_attn, l_attn)))
		return st;
	return drain(d, o, 7);
}

static enum hal_status run_binary(struct ocl_dev *d, const struct hal_op *op)
{
	struct operand o[] = { { op->src[0], OCL_READ, { 0 } }, { op->src[1], OCL_READ, { 0 } },
			       { op->dst, OCL_WRITE, { 0 } } };
	size_t n = (size_t)op->dst->ne[0] * op->dst->ne[1], global = round_up(n, 64);
	enum hal_status st = bind(d, o, 3);
	struct launch l = kernel(d, op->kind == HAL_OP_SWIGLU ? OCL_K_SWIGLU : OCL_K_ADD);

	if (st)
		return st;
	arg_buf(&l, &o[0].a);
	arg_buf(&l, &o[1].a);
	arg_buf(&l, &o[2].a);
	arg_u32(&l, n);
	if (op->kind == HAL_OP_SWIGLU)
		arg_u32(&l, op->glu.act);
	else
		arg_u32(&l, (uint64_t)op->src[1]->ne[0] * op->src[1]->ne[1]); /* a bias: one row */
	if ((st = go(&l, 1, &global, NULL)))
		return st;
	return drain(d, o, 3);
}

static enum hal_status run_embed(struct ocl_dev *d, const struct hal_op *op)
{
	struct operand o[] = { { op->src[0], OCL_CONST, { 0 } }, { op->src[1], OCL_READ, { 0 } },
			       { op->dst, OCL_WRITE, { 0 } } };
	size_t global[2] = { op->dst->ne[0], op->dst->ne[1] };
	enum hal_status st = bind(d, o, 3);
	struct launch l = kernel(d, OCL_K_EMBED);

	if (st)
		return st;
	arg_buf(&l, &o[0].a);
	arg_u32(&l, (uint32_t)op->src[0]->type);
	arg_buf(&l, &o[1].a);
	arg_buf(&l, &o[2].a);
	arg_u32(&l, op->dst->ne[0]);
	arg_f32(&l, op->embed.scale);
	if ((st = go(&l, 2, global, NULL)))
		return st;
	return drain(d, o, 3);
}

static enum hal_status run_op(struct ocl_dev *d, const struct hal_op *op)
{
	switch (op->kind) {
	case HAL_OP_MATMUL:
		return run_matmul(d, op);
	case HAL_OP_RMSNORM:
		return run_rmsnorm(d, op);
	case HAL_OP_ROPE:
		return run_rope(d, op);
	case HAL_OP_ATTENTION:
		return run_attention(d, op);
	case HAL_OP_SWIGLU:
	case HAL_OP_ADD:
		return run_binary(d, op);
	case HAL_OP_EMBED:
		return run_embed(d, op);
	default:
		return hal_device_fail(&d->base, HAL_ERR_UNSUPPORTED, "op %s is not supported",
				       hal_op_name(op->kind));
	}
}

/*
 * Enqueues the op after the events in wait (a marker makes every command of the op wait: the
 * queue is in order) and returns in out_ev a marker that completes with the op's last
 * command (a copy-mode download included).
 */
enum hal_status ocl_enqueue_op(struct ocl_dev *d, const struct hal_op *op, cl_uint n_wait,
			       const cl_event *wait, cl_event *out_ev)
{
	enum hal_status st;
	cl_int e;

	if (!ocl_supports(&d->base, op))
		return hal_device_fail(&d->base, HAL_ERR_UNSUPPORTED,
				       "%s '%s': operands this device cannot take "
				       "(type or alignment)", hal_op_name(op->kind),
				       op->dst->name ? op->dst->name : "(unnamed)");
	if (n_wait && (e = clEnqueueMarkerWithWaitList(d->queue, n_wait, wait, NULL)))
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "waiting for fences: %s",
				       ocl_strerror(e));
	if ((st = run_op(d, op)))
		return st;
	e = clEnqueueMarkerWithWaitList(d->queue, 0, NULL, out_ev);
	if (e != CL_SUCCESS)
		return hal_device_fail(&d->base, HAL_ERR_DEVICE, "marker: %s", ocl_strerror(e));
	return HAL_OK;
}
