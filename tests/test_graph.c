/* SPDX-License-Identifier: MIT */
/* test_graph.c - binding llama weights and the op sequence the graph builds, for two shapes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal.h"
#include "sched/graph.h"
#include "testutil.h"

/* An in-memory model: every weight the llama graph needs, F32, filled with small values. */
struct fake_model {
	struct sched_hparams hp;
	uint32_t n;
	struct sched_weight w[128];
	char names[128][48];
	void *data[128];
};

static void add_weight(struct fake_model *m, const char *name, enum hal_type type, uint32_t ne0,
		       uint32_t ne1)
{
	uint32_t i = m->n++;
	size_t bytes = hal_row_bytes(type, ne0) * ne1;

	ck_assert_uint_lt(i, 128);
	snprintf(m->names[i], sizeof(m->names[i]), "%s", name);
	m->data[i] = calloc(1, bytes);
	m->w[i] = (struct sched_weight){ m->names[i], type, ne1 > 1 ? 2 : 1, { ne0, ne1, 1, 1 },
					 m->data[i] };
}

/* Every layer matmul weight Q8_0 (a stock file) instead of the mix below. */
static bool fake_one_type;

static void fake_init(struct fake_model *m, uint32_t dim, uint32_t layers, uint32_t heads,
		      uint32_t kv, uint32_t ffn, uint32_t vocab, bool tied)
{
	const uint32_t dkv = kv * (dim / heads);
	char name[48];

	memset(m, 0, sizeof(*m));
	m->hp = (struct sched_hparams){ .n_vocab = vocab, .n_embd = dim, .n_layer = layers, .n_head = heads, .n_head_kv = kv, .n_ff = ffn, .n_rot = dim / heads, .rope_freq_base = 10000.0f, .rope_freq_scale = 1.0f, .rms_eps = 1e-5f };
	add_weight(m, "token_embd.weight", HAL_TYPE_Q8_0, dim, vocab);
	add_weight(m, "output_norm.weight", HAL_TYPE_F32, dim, 1);
	if (!tied)
		add_weight(m, "output.weight", HAL_TYPE_Q4_0, dim, vocab);
	for (uint32_t l = 0; l < layers; l++) {
		const struct {
			const char *s;
			uint32_t a, b;
			enum hal_type t;
		} spec[] = {
			{ "attn_norm", dim, 1, HAL_TYPE_F32 }, { "attn_q", dim, dim, HAL_TYPE_Q8_0 },
			{ "attn_k", dim, dkv, HAL_TYPE_Q8_0 }, { "attn_v", dim, dkv, HAL_TYPE_F16 },
			{ "attn_output", dim, dim, HAL_TYPE_Q4_0 },
			{ "ffn_norm", dim, 1, HAL_TYPE_F32 }, { "ffn_gate", dim, ffn, HAL_TYPE_Q8_0 },
			{ "ffn_up", dim, ffn, HAL_TYPE_F32 }, { "ffn_down", ffn, dim, HAL_TYPE_Q8_0 },
		};
		for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, spec[i].s);
			add_weight(m, name,
				   fake_one_type && spec[i].b > 1 ? HAL_TYPE_Q8_0 : spec[i].t,
				   spec[i].a, spec[i].b);
		}
	}
}

static void fake_free(struct fake_model *m)
{
	for (uint32_t i = 0; i < m->n; i++)
		free(m->data[i]);
}

static const struct sched_weight *fake_lookup(void *user, const char *name)
{
	struct fake_model *m = user;

	for (uint32_t i = 0; i < m->n; i++)
		if (!strcmp(m->w[i].name, name))
			return &m->w[i];
	return NULL;
}

static struct sched_weight *fake_find(struct fake_model *m, const char *name)
{
	return (struct sched_weight *)fake_lookup(m, name);
}

/* KV caches for n_ctx positions. */
static void make_caches(const struct sched_hparams *hp, uint32_t n_ctx, struct hal_tensor **k,
			struct hal_tensor **v, float **store)
{
	const uint32_t dkv = hp->n_head_kv * (hp->n_embd / hp->n_head);

	*k = calloc(hp->n_layer, sizeof(**k));
	*v = calloc(hp->n_layer, sizeof(**v));
	*store = calloc(2 * (size_t)hp->n_layer * n_ctx * dkv, sizeof(float));
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		(*k)[l] = (struct hal_tensor){ .name = "k", .type = HAL_TYPE_F32, .ne = { dkv, n_ctx },
					       .data = *store + (2 * l) * (size_t)n_ctx * dkv };
		(*v)[l] = (struct hal_tensor){ .name = "v", .type = HAL_TYPE_F32, .ne = { dkv, n_ctx },
					       .data = *store + (2 * l + 1) * (size_t)n_ctx * dkv };
	}
}

/* Every activation's [first, last] node; overlapping lifetimes must not share bytes. */
static void check_arena(const struct sched_graph *g)
{
	int32_t *first = malloc(sizeof(int32_t) * g->n_tensors);
	int32_t *last = malloc(sizeof(int32_t) * g->n_tensors);
	size_t total = 0;

	for (uint32_t t = 0; t < g->n_tensors; t++) {
		first[t] = INT32_MAX;
		last[t] = -1;
	}
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const struct hal_op *op = &g->nodes[i].op;
		const struct hal_tensor *ts[HAL_OP_MAX_SRC + 1] = { op->dst };
		memcpy(ts + 1, op->src, sizeof(op->src));
		for (int k = 0; k < HAL_OP_MAX_SRC + 1; k++) {
			if (!ts[k] || ts[k] < g->tensors || ts[k] >= g->tensors + g->n_tensors)
				continue;
			uint32_t t = (uint32_t)(ts[k] - g->tensors);
			if ((int32_t)i < first[t])
				first[t] = (int32_t)i;
			if ((int32_t)i > last[t])
				last[t] = (int32_t)i;
		}
	}
	/* inputs are live from the start, the logits until the caller reads them */
	first[g->inp_tokens - g->tensors] = first[g->inp_pos - g->tensors] = 0;
	last[g->inp_tokens - g->tensors] = last[g->inp_pos - g->tensors] = INT32_MAX;
	last[g->logits - g->tensors] = INT32_MAX;
	for (uint32_t a = 0; a < g->n_tensors; a++) {
		const char *pa = g->tensors[a].data;
		size_t sa = hal_tensor_bytes(&g->tensors[a]);
		total += sa;
		ck_assert_ptr_nonnull(pa);
		ck_assert(pa >= (char *)g->arena && pa + sa <= (char *)g->arena + g->arena_bytes);
		for (uint32_t b = a + 1; b < g->n_tensors; b++) {
			const char *pb = g->tensors[b].data;
			size_t sb = hal_tensor_bytes(&g->tensors[b]);
			bool live_together = first[a] <= last[b] && first[b] <= last[a];
			bool overlap = pa < pb + sb && pb < pa + sa;
			/* x_last and the per-sequence rows "name[s]" are views by design */
			bool view = !strcmp(g->tensors[a].name, "x_last") ||
				    !strcmp(g->tensors[b].name, "x_last") ||
				    strchr(g->tensors[a].name, '[') || strchr(g->tensors[b].name, '[');
			ck_assert_msg(!(live_together && overlap) || view,
				      "%s and %s are live together and share memory",
				      g->tensors[a].name, g->tensors[b].name);
		}
	}
	ck_assert_msg(g->arena_bytes < total, "arena %zu bytes reuses nothing (sum %zu)",
		      g->arena_bytes, total);
	free(first);
	free(last);
}

/*
 * fuse: the model's matmuls over one activation as one op each (Q/K/V, gate/up: 3 matmul
 * nodes fewer per layer), their results contiguous windows of one tensor; with the mixed
 * weight types of fake_init only Q and K share one type (1 node fewer).
 */
static void check_shape(uint32_t dim, uint32_t layers, uint32_t heads, uint32_t kv, uint32_t ffn,
			uint32_t vocab, bool tied, uint32_t n_tokens, bool fuse)
{
	struct fake_model fm;
	struct sched_model m;
	struct sched_graph *g;
	struct hal_tensor *kc, *vc;
	float *store;
	char err[256];
	uint32_t counts[HAL_OP_COUNT];

	fake_init(&fm, dim, layers, heads, kv, ffn, vocab, tied);
	ck_assert_int_eq(sched_model_bind(&fm.hp, fake_lookup, &fm, &m, err, sizeof(err)), SCHED_OK);
	ck_assert_int_eq(m.tied_output, tied);
	if (tied)
		ck_assert_ptr_eq(m.output.data, m.tok_embd.data);
	/* the matmul weights a device may convert at load: 7 per layer and the output */
	struct hal_tensor *mw[128];
	ck_assert_uint_eq(sched_model_matmul_weights(&m, NULL, 0), 7 * layers + 1);
	ck_assert_uint_eq(sched_model_matmul_weights(&m, mw, 128), 7 * layers + 1);
	ck_assert_ptr_eq(mw[0], &m.layers[0].wq);
	ck_assert_ptr_eq(mw[7 * layers], &m.output);
	make_caches(&fm.hp, 64, &kc, &vc, &store);
	m.fuse_matmuls = fuse;
	ck_assert_int_eq(sched_graph_build(&m, n_tokens, kc, vc, &g, err, sizeof(err)), SCHED_OK);

	/* fused ops per layer: Q, K and V and gate, up in one type; Q, K in the mixed types */
	const uint32_t saved = fuse ? (fake_one_type ? 3 : 1) : 0;
	/* and one token's q, k (consecutive windows then) rotated by one rope */
	const uint32_t ropes = fuse && n_tokens == 1 ? 1 : 2;
	/* and the residual adds in the attention output's and FFN down's accumulating matmuls */
	const uint32_t adds = fuse ? 0 : 2;
	/* and the attention's and FFN's input norms in the matmuls that read them */
	const uint32_t norms = fuse ? 0 : 2;
	ck_assert_uint_eq(g->n_nodes,
			  (15 - saved - (2 - ropes) - (2 - adds) - (2 - norms)) * layers + 3);
	sched_graph_count_ops(g, counts);
	ck_assert_uint_eq(counts[HAL_OP_EMBED], 1);
	ck_assert_uint_eq(counts[HAL_OP_MATMUL], (7 - saved) * layers + 1);
	ck_assert_uint_eq(counts[HAL_OP_RMSNORM], norms * layers + 1);
	ck_assert_uint_eq(counts[HAL_OP_ROPE], ropes * layers);
	ck_assert_uint_eq(counts[HAL_OP_ATTENTION], layers);
	ck_assert_uint_eq(counts[HAL_OP_SWIGLU], layers);
	ck_assert_uint_eq(counts[HAL_OP_ADD], adds * layers);

	/* token ids and positions are checked against the table and cache sizes */
	for (uint32_t t = 0; t < n_tokens; t++) {
		((int32_t *)g->inp_tokens->data)[t] = (int32_t)(t % vocab);
		((int32_t *)g->inp_pos->data)[t] = (int32_t)t;
	}
	const uint32_t dkv = kv * (dim / heads);
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const struct hal_op *op = &g->nodes[i].op;
		char msg[256];
		ck_assert_msg(hal_op_check(op, msg, sizeof(msg)) == HAL_OK, "op %u: %s", i, msg);
		if (op->kind == HAL_OP_ATTENTION) {
			ck_assert_uint_eq(op->src[0]->ne[0], dim);
			ck_assert_uint_eq(op->src[1]->ne[0], dkv);
			ck_assert_uint_eq(op->src[2]->ne[0], dkv);
			ck_assert_uint_eq(op->src[0]->ne[1], n_tokens);
			ck_assert_uint_eq(op->p.attn.n_head_kv, kv);
			/* fused: q, k (and v) are consecutive windows of one matmul's output */
			if (fuse) {
				const char *q = op->src[0]->data;
				ck_assert_ptr_eq(op->src[1]->data, q + 4 * (size_t)dim * n_tokens);
				if (fake_one_type)
					ck_assert_ptr_eq(op->src[2]->data,
							 q + 4 * (size_t)(dim + dkv) * n_tokens);
			}
		}
		if (op->kind == HAL_OP_MATMUL && op->src[2])
			ck_assert_uint_eq(op->dst->ne[0], strstr(op->src[0]->name, "attn_q") ?
					  dim + (op->src[3] ? 2 : 1) * dkv : 2 * ffn);
		if (op->kind == HAL_OP_MATMUL && !op->src[2] && op->src[0]->name &&
		    strstr(op->src[0]->name, "ffn_gate"))
			ck_assert_uint_eq(op->dst->ne[0], ffn);
		if (op->kind == HAL_OP_MATMUL) {
			ck_assert(op->matmul.accumulate == (fuse && !strcmp(op->dst->name, "x")));
			/* normed: every layer matmul that reads the residual stream x */
			ck_assert(!op->src[4] == !(fuse && !strcmp(op->src[1]->name, "x")));
			if (op->src[4])
				ck_assert(strstr(op->src[4]->name, "_norm") != NULL);
		}
		if (op->kind == HAL_OP_ROPE) {
			ck_assert_ptr_eq(op->dst, op->src[0]);
			ck_assert_uint_eq(op->p.rope.n_head * (dim / heads), op->dst->ne[0]);
		}
	}
	ck_assert_uint_eq(g->logits->ne[0], vocab);
	ck_assert_uint_eq(g->logits->ne[1], 1);
	ck_assert_uint_eq(g->inp_tokens->ne[0], n_tokens);
	check_arena(g);

	sched_graph_free(g);
	sched_model_release(&m);
	free(kc);
	free(vc);
	free(store);
	fake_free(&fm);
}

START_TEST(shape_a_gqa_untied)
{
	for (int fuse = 0; fuse < 3; fuse++) {
		fake_one_type = fuse == 2;
		check_shape(64, 2, 4, 2, 128, 96, false, 1, fuse);
		check_shape(64, 2, 4, 2, 128, 96, false, 7, fuse);
	}
	fake_one_type = false;
}
END_TEST

START_TEST(shape_b_mha_tied)
{
	for (int fuse = 0; fuse < 3; fuse++) {
		fake_one_type = fuse == 2;
		check_shape(96, 3, 6, 6, 160, 64, true, 1, fuse);
		check_shape(96, 3, 6, 6, 160, 64, true, 33, fuse);
	}
	fake_one_type = false;
}
END_TEST

static void expect_bind_error(struct fake_model *fm, const char *needle1, const char *needle2)
{
	struct sched_model m;
	char err[256] = "";

	ck_assert_int_eq(sched_model_bind(&fm->hp, fake_lookup, fm, &m, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, needle1) && strstr(err, needle2), "message: %s", err);
}

START_TEST(missing_tensor_named)
{
	struct fake_model fm;

	fake_init(&fm, 64, 2, 4, 2, 128, 96, false);
	snprintf(fm.names[fm.n - 1], sizeof(fm.names[0]), "renamed");
	expect_bind_error(&fm, "blk.1.ffn_down.weight", "missing");
	fake_free(&fm);
}
END_TEST

START_TEST(wrong_shape_named)
{
	struct fake_model fm;

	fake_init(&fm, 64, 2, 4, 2, 128, 96, false);
	fake_find(&fm, "blk.1.attn_k.weight")->ne[1] = 64;
	expect_bind_error(&fm, "blk.1.attn_k.weight", "expected [64 x 32]");
	fake_free(&fm);
}
END_TEST

START_TEST(norm_must_be_f32)
{
	struct fake_model fm;

	fake_init(&fm, 64, 2, 4, 2, 128, 96, false);
	fake_find(&fm, "blk.0.ffn_norm.weight")->type = HAL_TYPE_F16;
	expect_bind_error(&fm, "blk.0.ffn_norm.weight", "F32");
	fake_free(&fm);
}
END_TEST

START_TEST(embedding_vocab_mismatch)
{
	struct fake_model fm;

	fake_init(&fm, 64, 2, 4, 2, 128, 96, true);
	fm.hp.n_vocab = 100;
	expect_bind_error(&fm, "token_embd.weight", "n_vocab");
	fake_free(&fm);
}
END_TEST

START_TEST(empty_batch_refused)
{
	struct fake_model fm;
	struct sched_model m;
	struct sched_graph *g = (void *)1;
	struct hal_tensor *kc, *vc;
	float *store;
	char err[256];

	fake_init(&fm, 64, 1, 4, 2, 128, 96, false);
	ck_assert_int_eq(sched_model_bind(&fm.hp, fake_lookup, &fm, &m, err, sizeof(err)), SCHED_OK);
	make_caches(&fm.hp, 8, &kc, &vc, &store);
	ck_assert_int_eq(sched_graph_build(&m, 0, kc, vc, &g, err, sizeof(err)), SCHED_ERR_INVALID);
	ck_assert_ptr_null(g);
	sched_model_release(&m);
	free(kc);
	free(vc);
	free(store);
	fake_free(&fm);
}
END_TEST

/* Sequence s's attention at layer l reads its caches and its own row of q and positions. */
static void check_seq_attention(const struct sched_graph *g, const struct hal_op *op, uint32_t l,
				uint32_t s, struct hal_tensor *const *kc, struct hal_tensor *const *vc)
{
	const struct hal_tensor *q = NULL;
	char msg[256];

	ck_assert_msg(hal_op_check(op, msg, sizeof(msg)) == HAL_OK, "%s", msg);
	ck_assert_ptr_eq(op->src[3], &kc[s][l]);
	ck_assert_ptr_eq(op->src[4], &vc[s][l]);
	ck_assert_uint_eq(op->src[0]->ne[1], 1);
	ck_assert_ptr_eq(op->src[5]->data, (int32_t *)g->inp_pos->data + s);
	for (uint32_t i = 0; i < g->n_nodes && !q; i++)
		if (g->nodes[i].layer == (int32_t)l && g->nodes[i].op.kind == HAL_OP_ROPE)
			q = g->nodes[i].op.dst; /* the first rope of a layer rotates q */
	ck_assert_ptr_eq(op->src[0]->data, (const char *)q->data + s * hal_row_bytes(q->type, q->ne[0]));
}

START_TEST(multi_sequence_graph)
{
	enum { L = 2, S = 5 };
	struct fake_model fm;
	struct sched_model m;
	struct sched_graph *g = (void *)1;
	struct hal_tensor *kc[S], *vc[S];
	float *store[S];
	char err[256];
	uint32_t counts[HAL_OP_COUNT], a = 0;

	fake_one_type = true;
	fake_init(&fm, 64, L, 4, 2, 128, 96, false);
	fake_one_type = false;
	ck_assert_int_eq(sched_model_bind(&fm.hp, fake_lookup, &fm, &m, err, sizeof(err)), SCHED_OK);
	for (int s = 0; s < S; s++)
		make_caches(&fm.hp, 16 + 8 * s, &kc[s], &vc[s], &store[s]);
	ck_assert_int_eq(sched_graph_build_seqs(&m, 1, kc, vc, &g, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_ptr_null(g);
	/* fused matmuls: each sequence's q, k, v rows are rows of the windows */
	m.fuse_matmuls = true;
	ck_assert_int_eq(sched_graph_build_seqs(&m, 3, kc, vc, &g, err, sizeof(err)), SCHED_OK);
	sched_graph_count_ops(g, counts);
	ck_assert_uint_eq(counts[HAL_OP_MATMUL], 4 * L + 1);
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const struct hal_op *op = &g->nodes[i].op;

		if (op->kind == HAL_OP_ATTENTION) {
			/* sequence s: q row s at 4 * 64 * s, k row s at 4 * (64 * 3 + 32 * s) */
			const long s = a % 3;

			ck_assert_int_eq((char *)op->src[1]->data - (char *)op->src[0]->data,
					 4 * (64 * 3 + 32 * s) - 4 * 64 * s);
			a++;
		}
	}
	a = 0;
	check_arena(g);
	sched_graph_free(g);
	m.fuse_matmuls = false;
	ck_assert_int_eq(sched_graph_build_seqs(&m, 3, kc, vc, &g, err, sizeof(err)), SCHED_OK);
	/* one attention per sequence and layer; the matmuls as many as for one sequence */
	sched_graph_count_ops(g, counts);
	ck_assert_uint_eq(counts[HAL_OP_ATTENTION], 3 * L);
	ck_assert_uint_eq(counts[HAL_OP_MATMUL], 7 * L + 1);
	ck_assert_uint_eq(g->n_seq, 3);
	ck_assert_uint_eq(g->logits->ne[0], 96);
	ck_assert_uint_eq(g->logits->ne[1], 3);
	check_arena(g);
	/* bound again to sequences 2, 4, 0: each attention follows its sequence */
	struct hal_tensor *k2[3] = { kc[2], kc[4], kc[0] }, *v2[3] = { vc[2], vc[4], vc[0] };
	ck_assert_int_eq(sched_graph_bind_seqs(g, k2, v2), SCHED_OK);
	for (uint32_t i = 0; i < 3; i++)
		((int32_t *)g->inp_pos->data)[i] = (int32_t)i;
	for (uint32_t i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].op.kind == HAL_OP_ATTENTION) {
			check_seq_attention(g, &g->nodes[i].op, a / 3, a % 3, k2, v2);
			a++;
		}
	sched_graph_free(g);
	/* a one-sequence graph has nothing to bind */
	ck_assert_int_eq(sched_graph_build(&m, 1, kc[0], vc[0], &g, err, sizeof(err)), SCHED_OK);
	ck_assert_int_eq(sched_graph_bind_seqs(g, kc, vc), SCHED_ERR_INVALID);
	sched_graph_free(g);
	for (int s = 0; s < S; s++)
		free(kc[s]), free(vc[s]), free(store[s]);
	sched_model_release(&m);
	fake_free(&fm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("graph");

	tcase_add_test(tc, shape_a_gqa_untied);
	tcase_add_test(tc, shape_b_mha_tied);
	tcase_add_test(tc, missing_tensor_named);
	tcase_add_test(tc, wrong_shape_named);
	tcase_add_test(tc, norm_must_be_f32);
	tcase_add_test(tc, embedding_vocab_mismatch);
	tcase_add_test(tc, empty_batch_refused);
	tcase_add_test(tc, multi_sequence_graph);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
