/* SPDX-License-Identifier: MIT */
/* graph.c - binding llama weights and building the op sequence of one batch. */
#include "graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum sched_status fail(char *err, size_t len, enum sched_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return st;
}

/* ---- binding ------------------------------------------------------------------------------ */

struct bind_ctx {
	sched_weight_fn lookup;
	void *user;
	uint64_t n_params;
	char *err;
	size_t err_len;
};

static void format_shape(char *buf, size_t len, uint32_t n_dims, const uint64_t *ne)
{
	size_t off = (size_t)snprintf(buf, len, "[");
	for (uint32_t i = 0; i < n_dims && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%llu", i ? " x " : "",
					(unsigned long long)ne[i]);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

/*
 * Binds the weight `name` expecting [ne0 x ne1] (ne1 == 1: a vector); what explains the
 * expected shape in terms of hyperparameters. Norm vectors must be F32.
 */
static enum sched_status bind_found(struct bind_ctx *b, struct hal_tensor *t,
				    const struct sched_weight *w, const char *name, uint32_t ne0,
				    uint32_t ne1, const char *what, bool optional)
{
	uint64_t want[2] = { ne0, ne1 };
	bool vector = ne1 == 1;
	char got[96], exp[64];

	memset(t, 0, sizeof(*t));
	if (!w) {
		if (optional)
			return SCHED_OK;
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensor '%s' is missing from the model", name);
	}
	bool ok = w->ne[0] == ne0 && (vector ? w->n_dims == 1 || (w->n_dims == 2 && w->ne[1] == 1)
					     : w->n_dims == 2 && w->ne[1] == ne1);
	if (!ok) {
		format_shape(got, sizeof(got), w->n_dims, w->ne);
		format_shape(exp, sizeof(exp), vector ? 1 : 2, want);
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensor '%s' has shape %s, expected %s (%s)", name, got, exp, what);
	}
	if (vector && w->type != HAL_TYPE_F32)
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensor '%s' has type %s, expected F32 (norm and bias vectors are F32)", name,
			    hal_type_name(w->type));
	if (!vector && w->type == HAL_TYPE_I32)
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensor '%s' has type I32, expected a float or quantized weight type",
			    name);
	if (ne0 % hal_type_block_elems(w->type))
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensor '%s': row of %u elements is not a whole number of %s blocks",
			    name, ne0, hal_type_name(w->type));
	t->name = w->name;
	t->type = w->type;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->data = (void *)w->data; /* weights are only ever read */
	b->n_params += (uint64_t)ne0 * ne1;
	return SCHED_OK;
}

/* bind_found of the weight that name looks up. */
static enum sched_status bind(struct bind_ctx *b, struct hal_tensor *t, const char *name,
			      uint32_t ne0, uint32_t ne1, const char *what, bool optional)
{
	return bind_found(b, t, b->lookup(b->user, name), name, ne0, ne1, what, optional);
}

/*
 * Rows [row0, row0 + rows) of the bound matrix (or elements of the vector) whole, as a tensor
 * of its own named name (a window: the same bytes, counted once in n_params).
 */
static void window(struct hal_tensor *t, const struct hal_tensor *whole, const char *name,
		   uint32_t row0, uint32_t rows, bool vector)
{
	*t = *whole;
	t->name = name;
	if (vector) {
		t->ne[0] = rows;
		t->data = (char *)whole->data + (size_t)row0 * sizeof(float);
	} else {
		t->ne[1] = rows;
		t->data = (char *)whole->data + hal_row_bytes(whole->type, whole->ne[0]) * row0;
	}
}

/*
 * Q, K, V: separate (attn_q, attn_k, attn_v) or fused (attn_qkv, Phi-3) weights, and their
 * optional biases, separate or fused the same way.
 */
static enum sched_status bind_qkv(struct bind_ctx *b, uint32_t il, uint32_t d, uint32_t nq,
				  uint32_t nkv, struct sched_layer *l, char names[4][48])
{
	struct hal_tensor *w[3] = { &l->wq, &l->wk, &l->wv }, *bias[3] = { &l->bq, &l->bk, &l->bv };
	static const char *const part[3] = { "q", "k", "v" };
	const uint32_t rows[3] = { nq, nkv, nkv }, off[3] = { 0, nq, nq + nkv };
	struct hal_tensor whole;
	char name[64];
	enum sched_status st;

	snprintf(name, sizeof(name), "blk.%u.attn_qkv.weight", il);
	const struct sched_weight *qkv = b->lookup(b->user, name);
	if (qkv) {
		if ((st = bind_found(b, &whole, qkv, name, d, nq + 2 * nkv,
				     "n_embd x (n_head + 2 n_head_kv)*head_dim", false)))
			return st;
		for (int i = 0; i < 3; i++) {
			snprintf(names[i], 48, "blk.%u.attn_qkv.weight[%s]", il, part[i]);
			window(w[i], &whole, names[i], off[i], rows[i], false);
		}
	} else {
		for (int i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "blk.%u.attn_%s.weight", il, part[i]);
			if ((st = bind(b, w[i], name, d, rows[i],
				       i ? "n_embd x n_head_kv*head_dim" : "n_embd x n_head*head_dim",
				       false)))
				return st;
		}
	}
	snprintf(name, sizeof(name), "blk.%u.attn_qkv.bias", il);
	const struct sched_weight *qkv_b = b->lookup(b->user, name);
	if (qkv_b) {
		if ((st = bind_found(b, &whole, qkv_b, name, nq + 2 * nkv, 1,
				     "(n_head + 2 n_head_kv)*head_dim", false)))
			return st;
		for (int i = 0; i < 3; i++)
			window(bias[i], &whole, whole.name, off[i], rows[i], true);
		return SCHED_OK;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "blk.%u.attn_%s.bias", il, part[i]);
		if ((st = bind(b, bias[i], name, rows[i], 1,
			       i ? "n_head_kv*head_dim" : "n_head*head_dim", true)))
			return st;
	}
	return SCHED_OK;
}

static enum sched_status bind_layer(struct bind_ctx *b, const struct sched_hparams *hp,
				    uint32_t il, struct sched_layer *l, char names[4][48])
{
	const uint32_t d = hp->n_embd, hd = sched_head_dim(hp), dkv = hp->n_head_kv * hd;
	const uint32_t nq = hp->n_head * hd, f = hp->n_ff;
	char name[64];
	enum sched_status st;

	/* in the file's order, so that the first bad tensor is the one named */
	snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", il);
	if ((st = bind(b, &l->attn_norm, name, d, 1, "n_embd", false)) ||
	    (st = bind_qkv(b, il, d, nq, dkv, l, names)))
		return st;
	snprintf(name, sizeof(name), "blk.%u.attn_output.weight", il);
	if ((st = bind(b, &l->wo, name, nq, d, "n_head*head_dim x n_embd", false)))
		return st;
	snprintf(name, sizeof(name), "blk.%u.post_attention_norm.weight", il);
	if ((st = bind(b, &l->attn_post_norm, name, d, 1, "n_embd", true)))
		return st;
	snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", il);
	if ((st = bind(b, &l->ffn_norm, name, d, 1, "n_embd", false)))
		return st;
	/* gate and up, or (Phi-3) an ffn_up of 2 n_ff rows holding the gate, then up */
	char up_name[64];
	snprintf(name, sizeof(name), "blk.%u.ffn_gate.weight", il);
	snprintf(up_name, sizeof(up_name), "blk.%u.ffn_up.weight", il);
	const struct sched_weight *gate = b->lookup(b->user, name);
	const struct sched_weight *up = b->lookup(b->user, up_name);
	if (!gate && up && up->n_dims == 2 && up->ne[1] == 2 * (uint64_t)f) {
		struct hal_tensor whole;

		if ((st = bind_found(b, &whole, up, up_name, d, 2 * f, "n_embd x 2 n_ff", false)))
			return st;
		snprintf(names[3], 48, "blk.%u.ffn_up.weight[gate]", il);
		window(&l->w_gate, &whole, names[3], 0, f, false);
		window(&l->w_up, &whole, whole.name, f, f, false);
	} else if (!gate && !up) {
		return fail(b->err, b->err_len, SCHED_ERR_INVALID,
			    "tensors '%s' and '%s' are missing from the model (or one '%s' of 2 n_ff "
			    "rows holding both)", name, up_name, up_name);
	} else if ((st = bind_found(b, &l->w_gate, gate, name, d, f, "n_embd x n_ff", false)) ||
		   (st = bind_found(b, &l->w_up, up, up_name, d, f, "n_embd x n_ff", false))) {
		return st;
	}
	snprintf(name, sizeof(name), "blk.%u.ffn_down.weight", il);
	if ((st = bind(b, &l->w_down, name, f, d, "n_ff x n_embd", false)))
		return st;
	snprintf(name, sizeof(name), "blk.%u.post_ffw_norm.weight", il);
	return bind(b, &l->ffn_post_norm, name, d, 1, "n_embd", true);
}

enum sched_status sched_model_bind(const struct sched_hparams *hp, sched_weight_fn lookup,
				   void *user, struct sched_model *out, char *err, size_t err_len)
{
	struct bind_ctx b = { lookup, user, 0, err, err_len };
	enum sched_status st;

	memset(out, 0, sizeof(*out));
	out->hp = *hp;
	st = bind(&b, &out->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab,
		  "n_embd x n_vocab", false);
	if (!st)
		st = bind(&b, &out->output_norm, "output_norm.weight", hp->n_embd, 1, "n_embd",
			  false);
	if (!st)
		st = bind(&b, &out->output, "output.weight", hp->n_embd, hp->n_vocab,
			  "n_embd x n_vocab", true);
	if (!st)
		st = bind(&b, &out->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 1, "n_rot/2",
			  true);
	if (st)
		return st;
	out->tied_output = out->output.data == NULL;
	if (out->tied_output)
		out->output = out->tok_embd;

	out->layers = calloc(hp->n_layer, sizeof(*out->layers));
	out->window_names = calloc(hp->n_layer, sizeof(*out->window_names));
	if (!out->layers || !out->window_names) {
		sched_model_release(out);
		return fail(err, err_len, SCHED_ERR_NOMEM, "out of memory binding %u layers",
			    hp->n_layer);
	}
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		st = bind_layer(&b, hp, il, &out->layers[il], out->window_names[il]);
		if (st) {
			sched_model_release(out);
			return st;
		}
	}
	out->n_params = b.n_params;
	return SCHED_OK;
}

void sched_rope_llama3_factors(float base, uint32_t n_rot, float factor, float low, float high,
			       uint32_t orig_ctx, float *out)
{
	const double orig = orig_ctx;

	for (uint32_t i = 0; i < n_rot / 2; i++) {
		double wavelen = 2.0 * M_PI / pow(base, -(double)(2 * i) / n_rot);

		if (wavelen < orig / high) {
			out[i] = 1.0f;
		} else if (wavelen > orig / low) {
			out[i] = factor;
		} else {
			double smooth = (orig / wavelen - low) / (high - low);
			out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
		}
	}
}

void sched_model_release(struct sched_model *m)
{
	free(m->layers);
	free(m->window_names);
	m->layers = NULL;
	m->window_names = NULL;
}

uint32_t sched_model_matmul_weights(struct sched_model *m, struct hal_tensor **out, uint32_t cap)
{
	uint32_t n = 0;

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		struct sched_layer *ly = &m->layers[l];
		struct hal_tensor *w[] = { &ly->wq, &ly->wk, &ly->wv, &ly->wo,
					   &ly->w_gate, &ly->w_up, &ly->w_down };
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++, n++)
			if (n < cap)
				out[n] = w[i];
	}
	if (n < cap)
		out[n] = &m->output;
	return n + 1;
}

/* ---- building ----------------------------------------------------------------------------- */

/* Per activation tensor: the nodes that define and last use it, or the tensor it views. */
struct sched_tensor_plan {
	int32_t first, last;
	int32_t view_of; /* -1, or the index of the tensor this one is a window into */
	size_t view_offset;
};

struct builder {
	struct sched_graph *g;
	uint32_t cap_nodes, cap_tensors;
	bool nomem;
	/* sequence s's caches: k_caches[s][layer]; positions[s] its I32 [1] (NULL: one sequence) */
	struct hal_tensor *const *k_caches, *const *v_caches;
	struct hal_tensor **positions;
};

static struct hal_tensor *new_tensor(struct builder *b, const char *name, uint32_t ne0,
				     uint32_t ne1, enum hal_type type)
{
	struct sched_graph *g = b->g;

	if (g->n_tensors == b->cap_tensors) {
		b->nomem = true;
		return NULL;
	}
	uint32_t i = g->n_tensors++;
	struct hal_tensor *t = &g->tensors[i];

	snprintf(g->names[i], SCHED_NAME_LEN, "%s", name);
	t->name = g->names[i];
	t->type = type;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	g->plan[i] = (struct sched_tensor_plan){ -1, -1, -1, 0 };
	return t;
}

/* A window of (ne0 x ne1) at byte offset off into parent, which the window keeps alive. */
static struct hal_tensor *view(struct builder *b, struct hal_tensor *parent, uint32_t s,
			       uint32_t ne0, uint32_t ne1, size_t off)
{
	char name[SCHED_NAME_LEN];

	if (!parent) {
		b->nomem = true;
		return NULL;
	}
	snprintf(name, sizeof(name), "%.24s[%u]", parent->name, s);
	struct hal_tensor *t = new_tensor(b, name, ne0, ne1, parent->type);

	if (t) {
		struct sched_tensor_plan *p = &b->g->plan[t - b->g->tensors];
		p->view_of = (int32_t)(parent - b->g->tensors);
		p->view_offset = off;
	}
	return t;
}

/* Row s of an F32 activation, as a one-row tensor. */
static struct hal_tensor *row_view(struct builder *b, struct hal_tensor *x, uint32_t s)
{
	return view(b, x, s, x ? x->ne[0] : 0, 1, x ? hal_row_bytes(x->type, x->ne[0]) * s : 0);
}

static struct hal_tensor *layer_tensor(struct builder *b, int32_t il, const char *what,
				       uint32_t ne0, uint32_t ne1)
{
	char name[SCHED_NAME_LEN];

	snprintf(name, sizeof(name), "blk.%d.%s", il, what);
	return new_tensor(b, name, ne0, ne1, HAL_TYPE_F32);
}

/* Whether t is one of the graph's activations (not a weight or a cache). */
static int32_t activation_index(const struct sched_graph *g, const struct hal_tensor *t)
{
	if (t >= g->tensors && t < g->tensors + g->n_tensors)
		return (int32_t)(t - g->tensors);
	return -1;
}

static void note_use(struct sched_graph *g, const struct hal_tensor *t, int32_t node)
{
	int32_t i = activation_index(g, t);

	while (i >= 0) {
		struct sched_tensor_plan *p = &g->plan[i];
		if (p->first < 0)
			p->first = node;
		if (p->last < node)
			p->last = node;
		i = p->view_of; /* using a view keeps its parent alive */
	}
}

static struct hal_op *add_node(struct builder *b, enum hal_op_kind kind, int32_t layer,
			       struct hal_tensor *dst, struct hal_tensor *s0,
			       struct hal_tensor *s1, struct hal_tensor *s2)
{
	struct sched_graph *g = b->g;

	if (!dst || !s0 || g->n_nodes == b->cap_nodes) {
		b->nomem = true;
		return NULL;
	}
	int32_t idx = (int32_t)g->n_nodes++;
	struct sched_node *n = &g->nodes[idx];

	memset(n, 0, sizeof(*n));
	n->layer = layer;
	n->op.kind = kind;
	n->op.dst = dst;
	n->op.src[0] = s0;
	n->op.src[1] = s1;
	n->op.src[2] = s2;
	note_use(g, s0, idx);
	if (s1)
		note_use(g, s1, idx);
	if (s2)
		note_use(g, s2, idx);
	note_use(g, dst, idx);
	return &n->op;
}

static struct hal_tensor *rmsnorm(struct builder *b, int32_t il, const char *name,
				  struct hal_tensor *x, struct hal_tensor *w, float eps)
{
	struct hal_tensor *y = layer_tensor(b, il, name, x ? x->ne[0] : 0, x ? x->ne[1] : 0);
	struct hal_op *op = add_node(b, HAL_OP_RMSNORM, il, y, x, w, NULL);

	if (op)
		op->p.rmsnorm.eps = eps;
	return y;
}

static struct hal_tensor *matmul(struct builder *b, int32_t il, const char *name,
				 struct hal_tensor *w, struct hal_tensor *x)
{
	struct hal_tensor *y = layer_tensor(b, il, name, w->ne[1], x ? x->ne[1] : 0);

	add_node(b, HAL_OP_MATMUL, il, y, w, x, NULL);
	return y;
}

/*
 * Weight types whose matmuls the fused forms (hal.h) are built for: the CPU backends' fused,
 * accumulating and normed paths take exactly these (K-quants packed like Q8_0/Q4_0 on the
 * fast one). Another type keeps the plain ops, so that a backend's kernel for it never meets
 * a form it does not read.
 */
static bool fusable(enum hal_type type)
{
	return type == HAL_TYPE_Q8_0 || type == HAL_TYPE_Q4_0 || type == HAL_TYPE_F16 ||
	       type == HAL_TYPE_F32 || type == HAL_TYPE_Q4_K || type == HAL_TYPE_Q5_K ||
	       type == HAL_TYPE_Q6_K;
}

/*
 * The n matmuls of weights w[i] over one activation x into out[i] (named names[i]), x first
 * RMS-normed by norm (unless NULL) with the model's epsilon. With fused ops the norm rides in
 * each matmul (hal.h's normed form) and each run of consecutive weights of one type is one op
 * whose results are windows of a tensor `fused` (Q, K, V of one type: one op; a V of another
 * type: Q, K fused and V alone); without, an RMSNORM op into
 * `normed` and one matmul each (also where a weight's type is not fusable). Either way out[i]
 * is a contiguous [N_i x T] tensor.
 */
static void matmuls(struct builder *b, const struct sched_model *m, int32_t il,
		    const char *normed, const struct hal_tensor *norm, const char *fused,
		    const char *const *names, const struct hal_tensor *const *w, uint32_t n,
		    struct hal_tensor *x, struct hal_tensor **out)
{
	bool fuse = m->fuse_matmuls;

	for (uint32_t i = 0; i < n; i++)
		fuse = fuse && fusable(w[i]->type);
	if (!fuse) {
		if (norm)
			x = rmsnorm(b, il, normed, x, (struct hal_tensor *)norm, m->hp.rms_eps);
		for (uint32_t i = 0; i < n; i++)
			out[i] = matmul(b, il, names[i], (struct hal_tensor *)w[i], x);
		return;
	}
	for (uint32_t i = 0, j; i < n; i = j) {
		uint32_t rows = w[i]->ne[1];

		for (j = i + 1; x && j < n && j - i < 3 && w[j]->type == w[i]->type; j++)
			rows += w[j]->ne[1];
		struct hal_tensor *y = layer_tensor(b, il, j - i > 1 ? fused : names[i], rows,
						    x ? x->ne[1] : 0);
		struct hal_op *op = add_node(b, HAL_OP_MATMUL, il, y, (struct hal_tensor *)w[i], x,
					     j - i > 1 ? (struct hal_tensor *)w[i + 1] : NULL);
		size_t off = 0;

		if (op && j - i > 2)
			op->src[3] = (struct hal_tensor *)w[i + 2];
		if (op && norm) {
			op->src[4] = (struct hal_tensor *)norm;
			op->matmul.eps = m->hp.rms_eps;
		}
		if (j - i == 1) {
			out[i] = y;
			continue;
		}
		for (uint32_t k = i; k < j; k++) {
			out[k] = view(b, y, k, w[k]->ne[1], x->ne[1], off);
			if (out[k])
				snprintf(b->g->names[out[k] - b->g->tensors], SCHED_NAME_LEN,
					 "blk.%d.%s", il, names[k]);
			off += hal_row_bytes(HAL_TYPE_F32, w[k]->ne[1]) * x->ne[1];
		}
	}
}

/*
 * x += w . a, the residual stream: with fused ops one accumulating MATMUL (hal.h: the same
 * bits), else a MATMUL into a tensor `name` and an ADD; with a post-norm (Gemma-2: post not
 * NULL), x += RMSNORM(w . a, post).
 */
static void residual(struct builder *b, const struct sched_model *m, int32_t il,
		     const char *name, const struct hal_tensor *w, struct hal_tensor *a,
		     struct hal_tensor *x, const struct hal_tensor *post)
{
	if (post) {
		struct hal_tensor *o = matmul(b, il, name, (struct hal_tensor *)w, a);
		struct hal_tensor *on = rmsnorm(b, il, "post_norm", o, (struct hal_tensor *)post,
						m->hp.rms_eps);

		add_node(b, HAL_OP_ADD, il, x, x, on, NULL);
		return;
	}
	if (m->fuse_matmuls && fusable(w->type)) {
		struct hal_op *op = add_node(b, HAL_OP_MATMUL, il, x, (struct hal_tensor *)w, a,
					     NULL);

		if (op)
			op->matmul.accumulate = true;
		return;
	}
	struct hal_tensor *o = matmul(b, il, name, (struct hal_tensor *)w, a);
	add_node(b, HAL_OP_ADD, il, x, x, o, NULL);
}

static void rope(struct builder *b, const struct sched_model *m, int32_t il,
		 struct hal_tensor *x, uint32_t n_head)
{
	const struct sched_hparams *hp = &m->hp;
	struct hal_op *op = add_node(b, HAL_OP_ROPE, il, x, x, b->g->inp_pos,
				     m->rope_freqs.data ? (struct hal_tensor *)&m->rope_freqs
							: NULL);

	if (op) {
		op->p.rope.mode = hp->rope_mode;
		op->p.rope.n_head = n_head;
		op->p.rope.head_dim = sched_head_dim(hp);
		op->p.rope.n_rot = hp->n_rot;
		op->p.rope.freq_base = hp->rope_freq_base;
		op->p.rope.freq_scale = hp->rope_freq_scale;
	}
}

static void attention(struct builder *b, const struct sched_hparams *hp, int32_t il,
		      struct hal_tensor *att, struct hal_tensor *q, struct hal_tensor *k,
		      struct hal_tensor *v, struct hal_tensor *kc, struct hal_tensor *vc,
		      struct hal_tensor *pos)
{
	const uint32_t hd = sched_head_dim(hp);
	struct hal_op *op = add_node(b, HAL_OP_ATTENTION, il, att, q, k, v);

	if (!op)
		return;
	op->src[3] = kc;
	op->src[4] = vc;
	op->src[5] = pos;
	note_use(b->g, pos, (int32_t)b->g->n_nodes - 1);
	op->p.attn.n_head = hp->n_head;
	op->p.attn.n_head_kv = hp->n_head_kv;
	op->p.attn.head_dim = hd;
	op->p.attn.scale = hp->attn_scale != 0.0f ? hp->attn_scale : 1.0f / sqrtf((float)hd);
	op->p.attn.softcap = hp->attn_softcap;
	/* Gemma-2's sliding layers: il % pattern < pattern - 1 (even layers for a pattern of 2) */
	if (hp->swa_window && hp->swa_pattern &&
	    (uint32_t)il % hp->swa_pattern < hp->swa_pattern - 1)
		op->p.attn.window = hp->swa_window;
}

static void build_layer(struct builder *b, const struct sched_model *m, int32_t il,
			struct hal_tensor *x, struct hal_tensor *kc, struct hal_tensor *vc)
{
	const struct sched_hparams *hp = &m->hp;
	const struct sched_layer *l = &m->layers[il];
	static const char *const qkv_names[] = { "q", "k", "v" }, *const ffn_names[] = { "gate",
											  "up" };
	const struct hal_tensor *wqkv[] = { &l->wq, &l->wk, &l->wv };
	const struct hal_tensor *wffn[] = { &l->w_gate, &l->w_up };
	struct hal_tensor *qkv[3], *ffn[2];

	matmuls(b, m, il, "attn_in", &l->attn_norm, "qkv", qkv_names, wqkv, 3, x, qkv);
	struct hal_tensor *q = qkv[0], *k = qkv[1], *v = qkv[2];
	const struct hal_tensor *bias[3] = { &l->bq, &l->bk, &l->bv };

	/* Q, K, V biases (Qwen2): each added in place, one row to every token's */
	for (int i = 0; i < 3; i++)
		if (bias[i]->data)
			add_node(b, HAL_OP_ADD, il, qkv[i], qkv[i], (struct hal_tensor *)bias[i],
				 NULL);

	/*
	 * One token's q and k as consecutive windows of the fused matmul's output are one row of
	 * n_head + n_head_kv heads: one rope, with the same rotation per head as two
	 */
	const struct sched_tensor_plan *qp = q ? &b->g->plan[q - b->g->tensors] : NULL;
	const struct sched_tensor_plan *kp = k ? &b->g->plan[k - b->g->tensors] : NULL;
	if (b->g->n_tokens == 1 && qp && kp && qp->view_of >= 0 && kp->view_of == qp->view_of &&
	    kp->view_offset == qp->view_offset + hal_tensor_bytes(q)) {
		struct hal_tensor *qk = view(b, &b->g->tensors[qp->view_of], 0,
					     q->ne[0] + k->ne[0], 1, qp->view_offset);

		if (qk)
			snprintf(b->g->names[qk - b->g->tensors], SCHED_NAME_LEN, "blk.%d.qk", il);
		rope(b, m, il, qk, hp->n_head + hp->n_head_kv);
	} else {
		rope(b, m, il, q, hp->n_head);
		rope(b, m, il, k, hp->n_head_kv);
	}

	struct hal_tensor *att = layer_tensor(b, il, "attn", hp->n_head * sched_head_dim(hp),
					      b->g->n_tokens);
	if (!b->positions) {
		attention(b, hp, il, att, q, k, v, kc, vc, b->g->inp_pos);
	} else {
		/* one op per sequence: its row of q, k, v against its own caches */
		for (uint32_t s = 0; s < b->g->n_seq; s++)
			attention(b, hp, il, row_view(b, att, s), row_view(b, q, s),
				  row_view(b, k, s), row_view(b, v, s), &b->k_caches[s][il],
				  &b->v_caches[s][il], b->positions[s]);
	}
	residual(b, m, il, "attn_out", &l->wo, att, x,
		 l->attn_post_norm.data ? &l->attn_post_norm : NULL);

	matmuls(b, m, il, "ffn_in", &l->ffn_norm, "gate_up", ffn_names, wffn, 2, x, ffn);
	struct hal_tensor *h = layer_tensor(b, il, "swiglu", hp->n_ff, b->g->n_tokens);
	struct hal_op *glu = add_node(b, HAL_OP_SWIGLU, il, h, ffn[0], ffn[1], NULL);
	if (glu)
		glu->glu.act = hp->ffn_act;
	residual(b, m, il, "ffn_out", &l->w_down, h, x,
		 l->ffn_post_norm.data ? &l->ffn_post_norm : NULL);
}

/* Places every non-view activation in the arena: first fit among the tensors still alive. */
static enum sched_status plan_arena(struct sched_graph *g)
{
	const size_t align = 64;
	uint32_t *live = malloc(sizeof(*live) * (g->n_tensors + 1));
	size_t *offs = calloc(g->n_tensors + 1, sizeof(*offs));
	uint32_t n_live = 0;
	size_t top = 0;

	if (!live || !offs) {
		free(live);
		free(offs);
		return SCHED_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < g->n_tensors; i++) {
		struct sched_tensor_plan *p = &g->plan[i];
		size_t size = (hal_tensor_bytes(&g->tensors[i]) + align - 1) / align * align;

		if (p->view_of >= 0)
			continue;
		/* drop tensors whose last use precedes this one's definition */
		uint32_t k = 0;
		for (uint32_t j = 0; j < n_live; j++)
			if (g->plan[live[j]].last >= p->first)
				live[k++] = live[j];
		n_live = k;
		/* lowest offset that overlaps no live tensor (live sorted by offset) */
		size_t off = 0;
		for (uint32_t j = 0; j < n_live; j++) {
			size_t lo = offs[live[j]];
			size_t hi = lo + (hal_tensor_bytes(&g->tensors[live[j]]) + align - 1) / align *
						 align;
			if (off + size <= lo)
				break;
			if (hi > off)
				off = hi;
		}
		offs[i] = off;
		if (off + size > top)
			top = off + size;
		/* insert keeping the order by offset */
		uint32_t pos = n_live;
		while (pos > 0 && offs[live[pos - 1]] > off) {
			live[pos] = live[pos - 1];
			pos--;
		}
		live[pos] = i;
		n_live++;
	}
	g->arena_bytes = top;
	g->arena = aligned_alloc(align, top ? top : align);
	if (!g->arena) {
		free(live);
		free(offs);
		return SCHED_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < g->n_tensors; i++)
		if (g->plan[i].view_of < 0)
			g->tensors[i].data = (char *)g->arena + offs[i];
	for (uint32_t i = 0; i < g->n_tensors; i++) {
		const struct sched_tensor_plan *p = &g->plan[i];
		if (p->view_of >= 0)
			g->tensors[i].data = (char *)g->tensors[p->view_of].data + p->view_offset;
	}
	free(live);
	free(offs);
	return SCHED_OK;
}

/*
 * The graph's arrays: per layer 21 nodes (3 bias adds, 2 post-norms) and 14 tensors (16 fused), plus per sequence
 * (n_seq > 1) an attention node and four row views, and a position view each.
 */
static enum sched_status graph_new(struct builder *b, const struct sched_hparams *hp,
				   uint32_t n_tokens, uint32_t n_seq)
{
	struct sched_graph *g = calloc(1, sizeof(*g));
	const uint32_t per_seq = n_seq > 1 ? n_seq : 0;

	b->g = g;
	if (!g)
		return SCHED_ERR_NOMEM;
	b->cap_nodes = (21 + per_seq) * hp->n_layer + 8;
	b->cap_tensors = (16 + 4 * per_seq) * hp->n_layer + per_seq + 8;
	g->n_tokens = n_tokens;
	g->n_seq = n_seq;
	g->nodes = calloc(b->cap_nodes, sizeof(*g->nodes));
	g->tensors = calloc(b->cap_tensors, sizeof(*g->tensors));
	g->names = calloc(b->cap_tensors, sizeof(*g->names));
	g->plan = calloc(b->cap_tensors, sizeof(*g->plan));
	if (!g->nodes || !g->tensors || !g->names || !g->plan)
		return SCHED_ERR_NOMEM;
	g->inp_tokens = new_tensor(b, "inp_tokens", n_tokens, 1, HAL_TYPE_I32);
	g->inp_pos = new_tensor(b, "inp_pos", n_tokens, 1, HAL_TYPE_I32);
	/* the inputs are written before the first node and read throughout: keep them alive */
	g->plan[0].first = g->plan[1].first = 0;
	g->plan[0].last = g->plan[1].last = INT32_MAX;
	return SCHED_OK;
}

/* The embedding and every layer; returns the residual stream x [n_embd x n_tokens]. */
static struct hal_tensor *build_layers(struct builder *b, const struct sched_model *m)
{
	const struct sched_hparams *hp = &m->hp;
	struct sched_graph *g = b->g;
	struct hal_tensor *x = new_tensor(b, "x", hp->n_embd, g->n_tokens, HAL_TYPE_F32);

	struct hal_op *embed = add_node(b, HAL_OP_EMBED, -1, x, (struct hal_tensor *)&m->tok_embd,
					g->inp_tokens, NULL);
	if (embed)
		embed->embed.scale = hp->embd_scale;
	for (uint32_t il = 0; il < hp->n_layer && x; il++)
		build_layer(b, m, (int32_t)il, x, &b->k_caches[0][il], &b->v_caches[0][il]);
	return x;
}

/* Norms and projects xl to the logits, plans the arena; frees the graph on failure. */
static enum sched_status build_finish(struct builder *b, const struct sched_model *m,
				      struct hal_tensor *xl, struct sched_graph **out, char *err,
				      size_t err_len)
{
	struct sched_graph *g = b->g;
	struct hal_tensor *xo = rmsnorm(b, -1, "out_in", xl, (struct hal_tensor *)&m->output_norm,
					m->hp.rms_eps);

	g->logits = matmul(b, -1, "logits", (struct hal_tensor *)&m->output, xo);
	if (g->logits && !b->nomem)
		g->nodes[g->n_nodes - 1].op.matmul.softcap = m->hp.logit_softcap;
	/* the caller reads the logits after the last node */
	if (g->logits)
		g->plan[g->logits - g->tensors].last = INT32_MAX;
	if (b->nomem) {
		sched_graph_free(g);
		return fail(err, err_len, SCHED_ERR_NOMEM, "graph capacity exceeded (internal)");
	}
	if (plan_arena(g)) {
		const uint32_t n_tokens = g->n_tokens;

		sched_graph_free(g);
		return fail(err, err_len, SCHED_ERR_NOMEM,
			    "out of memory allocating activations for %u tokens", n_tokens);
	}
	*out = g;
	return SCHED_OK;
}

enum sched_status sched_graph_build(const struct sched_model *m, uint32_t n_tokens,
				    struct hal_tensor *k_cache, struct hal_tensor *v_cache,
				    struct sched_graph **out, char *err, size_t err_len)
{
	const struct sched_hparams *hp = &m->hp;
	struct builder b = { .k_caches = &k_cache, .v_caches = &v_cache };

	*out = NULL;
	if (n_tokens == 0)
		return fail(err, err_len, SCHED_ERR_INVALID, "a batch needs at least one token");
	if (graph_new(&b, hp, n_tokens, 1)) {
		sched_graph_free(b.g);
		return fail(err, err_len, SCHED_ERR_NOMEM, "out of memory building a graph");
	}
	struct hal_tensor *x = build_layers(&b, m);

	/* only the last token's logits are needed: norm and project that row alone */
	struct hal_tensor *last = view(&b, x, n_tokens - 1, hp->n_embd, 1,
				       hal_row_bytes(HAL_TYPE_F32, hp->n_embd) * (n_tokens - 1));
	if (last)
		snprintf(b.g->names[last - b.g->tensors], SCHED_NAME_LEN, "x_last");
	return build_finish(&b, m, last, out, err, err_len);
}

enum sched_status sched_graph_build_all(const struct sched_model *m, uint32_t n_tokens,
					struct hal_tensor *k_cache, struct hal_tensor *v_cache,
					struct sched_graph **out, char *err, size_t err_len)
{
	struct builder b = { .k_caches = &k_cache, .v_caches = &v_cache };

	*out = NULL;
	if (n_tokens == 0)
		return fail(err, err_len, SCHED_ERR_INVALID, "a batch needs at least one token");
	if (graph_new(&b, &m->hp, n_tokens, 1)) {
		sched_graph_free(b.g);
		return fail(err, err_len, SCHED_ERR_NOMEM, "out of memory building a graph");
	}
	/* every row's logits, each with the bits of a decode step: the verifier reads them all */
	struct hal_tensor *x = build_layers(&b, m);
	for (uint32_t i = 0; i < b.g->n_nodes; i++)
		if (b.g->nodes[i].op.kind == HAL_OP_ATTENTION)
			b.g->nodes[i].op.p.attn.rowwise = true;
	return build_finish(&b, m, x, out, err, err_len);
}

enum sched_status sched_graph_build_seqs(const struct sched_model *m, uint32_t n_seq,
					 struct hal_tensor *const *k_caches,
					 struct hal_tensor *const *v_caches,
					 struct sched_graph **out, char *err, size_t err_len)
{
	struct builder b = { .k_caches = k_caches, .v_caches = v_caches };

	*out = NULL;
	if (n_seq < 2)
		return fail(err, err_len, SCHED_ERR_INVALID,
			    "a multi-sequence graph needs at least two sequences, not %u", n_seq);
	b.positions = calloc(n_seq, sizeof(*b.positions));
	if (!b.positions || graph_new(&b, &m->hp, n_seq, n_seq)) {
		free(b.positions);
		sched_graph_free(b.g);
		return fail(err, err_len, SCHED_ERR_NOMEM, "out of memory building a graph");
	}
	for (uint32_t s = 0; s < n_seq; s++)
		b.positions[s] = view(&b, b.g->inp_pos, s, 1, 1, s * sizeof(int32_t));
	/* every row is a sequence's last token: norm and project them all */
	struct hal_tensor *x = build_layers(&b, m);
	enum sched_status st = build_finish(&b, m, x, out, err, err_len);

	free(b.positions);
	return st;
}

/* Points sequence s's attention at layer l at its caches, or (apply false) checks it could. */
static bool bind_seqs(struct sched_graph *g, struct hal_tensor *const *k_caches,
		      struct hal_tensor *const *v_caches, bool apply)
{
	uint32_t i = 0;

	/* the attention nodes come layer by layer, sequence by sequence within a layer */
	for (uint32_t n = 0; n < g->n_nodes; n++) {
		struct hal_op *op = &g->nodes[n].op;
		if (op->kind != HAL_OP_ATTENTION)
			continue;
		const uint32_t l = i / g->n_seq, s = i % g->n_seq;
		struct hal_tensor *kc = &k_caches[s][l], *vc = &v_caches[s][l];
		i++;
		/*
		 * Against the new row's width (src[1], src[2]: the graph's own), not the cache
		 * bound last: that one may be a freed session's (the graph is the model's).
		 */
		if (!apply && (kc->ne[0] != op->src[1]->ne[0] || vc->ne[0] != op->src[2]->ne[0]))
			return false;
		if (apply) {
			op->src[3] = kc;
			op->src[4] = vc;
		}
	}
	return true;
}

enum sched_status sched_graph_bind_seqs(struct sched_graph *g, struct hal_tensor *const *k_caches,
					struct hal_tensor *const *v_caches)
{
	if (g->n_seq < 2 || !bind_seqs(g, k_caches, v_caches, false))
		return SCHED_ERR_INVALID;
	bind_seqs(g, k_caches, v_caches, true);
	return SCHED_OK;
}

void sched_graph_free(struct sched_graph *g)
{
	if (!g)
		return;
	free(g->nodes);
	free(g->tensors);
	free(g->names);
	free(g->plan);
	free(g->arena);
	free(g);
}

void sched_graph_count_ops(const struct sched_graph *g, uint32_t counts[HAL_OP_COUNT])
{
	memset(counts, 0, sizeof(uint32_t) * HAL_OP_COUNT);
	for (uint32_t i = 0; i < g->n_nodes; i++)
		counts[g->nodes[i].op.kind]++;
}
