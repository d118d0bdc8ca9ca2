/* SPDX-License-Identifier: MIT */
/*
 * test_dag.c - the dependency DAG built from a graph (sched_dag_from_graph): the same edges,
 * in the same order and with the same bytes, as the rule written out directly (every older op
 * compared with every newer one, reachability in bitmaps: the quadratic build this tree had
 * until the indexed one replaced it), on llama graphs (one token, a prefill, several
 * sequences, weights at one address) and on random graphs whose ops overlap in memory every
 * way; and the indexed build's work grows linearly with the layers.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sched_bench.h"
#include "sched/dag.h"
#include "sched/graph.h"
#include "testutil.h"

/* ---- the reference: the rule, pair by pair ------------------------------------------------ */

struct ref_range {
	uintptr_t lo, hi;
};

#define REF_MAX (HAL_OP_MAX_SRC + 1)

static void ref_ranges(const struct hal_op *op, struct ref_range *rd, uint32_t *n_rd,
		       struct ref_range *wr, uint32_t *n_wr)
{
	*n_rd = *n_wr = 0;
	for (int s = 0; s < HAL_OP_MAX_SRC; s++) {
		const struct hal_tensor *t = op->src[s];
		if (!t || !t->data)
			continue;
		struct ref_range r = { (uintptr_t)t->data, (uintptr_t)t->data + hal_tensor_bytes(t) };
		if (op->kind == HAL_OP_ATTENTION && (s == 3 || s == 4))
			wr[(*n_wr)++] = r;
		rd[(*n_rd)++] = r;
	}
	if (op->dst && op->dst->data)
		wr[(*n_wr)++] = (struct ref_range){ (uintptr_t)op->dst->data,
						    (uintptr_t)op->dst->data +
							    hal_tensor_bytes(op->dst) };
}

static bool ref_overlap(const struct ref_range *a, uint32_t na, const struct ref_range *b,
			uint32_t nb)
{
	for (uint32_t i = 0; i < na; i++)
		for (uint32_t j = 0; j < nb; j++)
			if (a[i].lo < b[j].hi && b[j].lo < a[i].hi)
				return true;
	return false;
}

/* The quadratic build, kept as it was: for each j, every i < j nearest first. */
static void ref_dag(const struct sched_graph *g, struct sched_dag *out)
{
	const uint32_t n = g->n_nodes, words = (n + 63) / 64;
	struct ref_range (*rd)[REF_MAX] = malloc(sizeof(*rd) * (n + 1));
	struct ref_range (*wr)[REF_MAX] = malloc(sizeof(*wr) * (n + 1));
	uint32_t *n_rd = malloc(sizeof(uint32_t) * (n + 1)), *n_wr = malloc(sizeof(uint32_t) * (n + 1));
	uint64_t *reach = calloc((size_t)n * words + 1, sizeof(uint64_t));
	uint32_t cap = 4 * n + 16, ne = 0;
	uint32_t (*edges)[2] = malloc(sizeof(*edges) * cap);
	double *bytes = malloc(sizeof(double) * cap);

	ck_assert(rd && wr && n_rd && n_wr && reach && edges && bytes);
	for (uint32_t i = 0; i < n; i++)
		ref_ranges(&g->nodes[i].op, rd[i], &n_rd[i], wr[i], &n_wr[i]);
	for (uint32_t j = 0; j < n; j++) {
		uint64_t *rj = reach + (size_t)j * words;
		bool covered[REF_MAX] = { false };
		for (uint32_t i = j; i-- > 0;) {
			double data = 0;
			bool raw = false;
			for (uint32_t r = 0; r < n_rd[j]; r++) {
				if (covered[r])
					continue;
				for (uint32_t w = 0; w < n_wr[i]; w++) {
					const struct ref_range *a = &rd[j][r], *b = &wr[i][w];
					if (!(a->lo < b->hi && b->lo < a->hi))
						continue;
					raw = true;
					data += (double)((a->hi < b->hi ? a->hi : b->hi) -
							 (a->lo > b->lo ? a->lo : b->lo));
					if (b->lo <= a->lo && b->hi >= a->hi)
						covered[r] = true;
				}
			}
			bool other = ref_overlap(wr[j], n_wr[j], rd[i], n_rd[i]) ||
				     ref_overlap(wr[j], n_wr[j], wr[i], n_wr[i]);
			bool implied = rj[i / 64] >> (i % 64) & 1;
			if ((!raw && !other) || (implied && !raw))
				continue;
			if (ne == cap) {
				cap *= 2;
				edges = realloc(edges, sizeof(*edges) * cap);
				bytes = realloc(bytes, sizeof(double) * cap);
				ck_assert(edges && bytes);
			}
			edges[ne][0] = i;
			edges[ne][1] = j;
			bytes[ne++] = data;
			const uint64_t *ri = reach + (size_t)i * words;
			for (uint32_t w = 0; w < words; w++)
				rj[w] |= ri[w];
			rj[i / 64] |= 1ull << (i % 64);
		}
	}
	ck_assert_int_eq(sched_dag_init(out, n, ne, (const uint32_t(*)[2])edges, bytes), SCHED_OK);
	free(rd);
	free(wr);
	free(n_rd);
	free(n_wr);
	free(reach);
	free(edges);
	free(bytes);
}

/* The built DAG has exactly the reference's edges, in its order, with its bytes. */
static void check_same_edges(const struct sched_graph *g, const char *what)
{
	struct sched_dag got, want;
	char err[256];

	ck_assert_msg(sched_dag_from_graph(g, 16, &got, err, sizeof(err)) == SCHED_OK, "%s", err);
	ref_dag(g, &want);
	ck_assert_uint_eq(got.n, want.n);
	for (uint32_t v = 0; v < want.n; v++) {
		ck_assert_msg(got.pred_off[v + 1] == want.pred_off[v + 1],
			      "%s: op %u has %u predecessors, the rule gives %u", what, v,
			      got.pred_off[v + 1] - got.pred_off[v],
			      want.pred_off[v + 1] - want.pred_off[v]);
		for (uint32_t e = want.pred_off[v]; e < want.pred_off[v + 1]; e++) {
			ck_assert_msg(got.pred[e] == want.pred[e],
				      "%s: op %u: predecessor %u is %u, the rule gives %u", what, v,
				      e - want.pred_off[v], got.pred[e], want.pred[e]);
			ck_assert_msg(got.edge_bytes[e] == want.edge_bytes[e],
				      "%s: edge %u -> %u carries %.0f bytes, the rule says %.0f", what,
				      want.pred[e], v, got.edge_bytes[e], want.edge_bytes[e]);
		}
	}
	sched_dag_free(&got);
	sched_dag_free(&want);
}

/* ---- llama graphs ------------------------------------------------------------------------- */

/* Weights at fake addresses (the DAG build never reads them): each its own, or all one. */
struct fake_model {
	struct sched_hparams hp;
	bool one_address;
	uint32_t n;
	struct sched_weight w[256];
	char names[256][48];
};

static const struct sched_weight *fake_lookup(void *user, const char *name)
{
	struct fake_model *m = user;
	const struct sched_hparams *hp = &m->hp;
	const uint32_t d = hp->n_embd, dkv = hp->n_head_kv * sched_head_dim(hp);
	uint32_t ne0 = d, ne1 = 1;
	enum hal_type t = HAL_TYPE_Q8_0;

	if (m->n == 256 || strlen(name) >= sizeof(m->names[0]))
		return NULL;
	/* a llama model: no fused Q/K/V, biases or rope factors (other families' tensors) */
	if (strstr(name, "attn_qkv") || strstr(name, ".bias") || strstr(name, "rope_freqs") ||
	    strstr(name, "post_"))
		return NULL;
	if (strstr(name, "norm"))
		t = HAL_TYPE_F32;
	else if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight"))
		ne1 = hp->n_vocab;
	else if (strstr(name, "attn_k") || strstr(name, "attn_v"))
		ne1 = dkv;
	else if (strstr(name, "attn_q") || strstr(name, "attn_output"))
		ne1 = d;
	else if (strstr(name, "ffn_down")) {
		ne0 = hp->n_ff;
		ne1 = d;
	} else {
		ne1 = hp->n_ff;
	}
	strcpy(m->names[m->n], name);
	uintptr_t at = 0x7f0000000000ull + (m->one_address ? 0 : (uintptr_t)m->n << 24);
	m->w[m->n] = (struct sched_weight){ m->names[m->n], t, ne1 > 1 ? 2 : 1, { ne0, ne1, 1, 1 },
					    (void *)at };
	return &m->w[m->n++];
}

static void check_llama(uint32_t layers, uint32_t n_tokens, uint32_t n_seq, bool one_address)
{
	struct fake_model fm = { .hp = { .n_vocab = 96, .n_embd = 64, .n_layer = layers, .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_rot = 16, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f },
				 .one_address = one_address };
	const uint32_t dkv = 2 * 16, n_ctx = 32;
	struct sched_model m;
	struct sched_graph *g = NULL;
	struct hal_tensor *kc[4], *vc[4];
	float *store = calloc((size_t)2 * 4 * layers * n_ctx * dkv, sizeof(float));
	char err[256], what[128];

	ck_assert_ptr_nonnull(store);
	ck_assert_msg(sched_model_bind(&fm.hp, fake_lookup, &fm, &m, err, sizeof(err)) == SCHED_OK,
		      "%s", err);
	for (uint32_t s = 0; s < 4; s++) {
		kc[s] = calloc(layers, sizeof(struct hal_tensor));
		vc[s] = calloc(layers, sizeof(struct hal_tensor));
		ck_assert(kc[s] && vc[s]);
		for (uint32_t l = 0; l < layers; l++) {
			float *at = store + (size_t)(2 * (s * layers + l)) * n_ctx * dkv;
			kc[s][l] = (struct hal_tensor){ "k", HAL_TYPE_F32, { dkv, n_ctx }, at, NULL };
			vc[s][l] = (struct hal_tensor){ "v", HAL_TYPE_F32, { dkv, n_ctx },
							at + (size_t)n_ctx * dkv, NULL };
		}
	}
	if (n_seq > 1)
		ck_assert_msg(sched_graph_build_seqs(&m, n_seq, kc, vc, &g, err, sizeof(err)) ==
				      SCHED_OK, "%s", err);
	else
		ck_assert_msg(sched_graph_build(&m, n_tokens, kc[0], vc[0], &g, err, sizeof(err)) ==
				      SCHED_OK, "%s", err);
	snprintf(what, sizeof(what), "llama %u layers, %u tokens, %u sequences%s", layers, n_tokens,
		 n_seq, one_address ? ", weights at one address" : "");
	check_same_edges(g, what);
	sched_graph_free(g);
	sched_model_release(&m);
	for (uint32_t s = 0; s < 4; s++) {
		free(kc[s]);
		free(vc[s]);
	}
	free(store);
}

START_TEST(llama_graphs_keep_their_edges)
{
	check_llama(1, 1, 1, false);
	check_llama(3, 1, 1, false);
	check_llama(3, 7, 1, false);
	check_llama(24, 1, 1, false);
	check_llama(24, 5, 1, true);
	check_llama(4, 3, 3, false);
	check_llama(8, 4, 4, true);
}
END_TEST

/* ---- random graphs ------------------------------------------------------------------------ */

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33) % n;
}

/*
 * n ops over a small memory: half of the tensors are one of a few fixed buffers (an arena's
 * reuse: exact covers), the rest land anywhere with any length (partial overlaps, ranges that
 * nothing covers); attention ops write two of their sources; some weights have no data.
 */
static void random_graph(uint64_t *seed, uint32_t n, struct sched_graph *g,
			 struct hal_tensor *tens)
{
	static const enum hal_op_kind kinds[] = { HAL_OP_ADD,  HAL_OP_RMSNORM,   HAL_OP_SWIGLU,
						  HAL_OP_ROPE, HAL_OP_MATMUL,    HAL_OP_ATTENTION };
	const uint32_t space = 8 + rnd(seed, 200);
	uint32_t t = 0;

	memset(g, 0, sizeof(*g));
	g->n_nodes = n;
	g->nodes = calloc(n, sizeof(*g->nodes));
	ck_assert_ptr_nonnull(g->nodes);
	for (uint32_t i = 0; i < n; i++) {
		struct hal_op *op = &g->nodes[i].op;
		op->kind = kinds[rnd(seed, 6)];
		op->p.attn.n_head = op->p.attn.n_head_kv = 1;
		op->p.attn.head_dim = 4;
		const uint32_t n_src = op->kind == HAL_OP_ATTENTION ? 5 : 1 + rnd(seed, 3);
		for (uint32_t s = 0; s <= n_src; s++) {
			struct hal_tensor *x = &tens[t++];
			uint32_t off, len;
			if (rnd(seed, 2)) {
				off = 16 * rnd(seed, 4);
				len = 16;
			} else {
				off = rnd(seed, space);
				len = 1 + rnd(seed, 40);
			}
			*x = (struct hal_tensor){ "t", HAL_TYPE_F32, { len, 1 },
						  (void *)(uintptr_t)(0x10000 + 4 * (uintptr_t)off),
						  NULL };
			if (s == n_src)
				op->dst = x;
			else
				op->src[s] = x;
			if (s > 0 && s < n_src && !rnd(seed, 8))
				x->data = NULL;
		}
		g->nodes[i].layer = -1;
	}
}

START_TEST(random_graphs_keep_their_edges)
{
	uint64_t seed = 0x5eed;
	struct hal_tensor *tens = malloc(sizeof(*tens) * 300 * 7);

	ck_assert_ptr_nonnull(tens);
	for (int k = 0; k < 400; k++) {
		struct sched_graph g;
		char what[64];
		const uint32_t n = 1 + rnd(&seed, k < 300 ? 40 : 300);
		random_graph(&seed, n, &g, tens);
		snprintf(what, sizeof(what), "random graph %d (%u ops)", k, n);
		check_same_edges(&g, what);
		free(g.nodes);
	}
	free(tens);
}
END_TEST

/* ---- linear work ---------------------------------------------------------------------------- */

static uint64_t work_of(uint32_t layers, uint32_t n_tokens, uint32_t *n, uint32_t *edges)
{
	const struct sched_hparams hp = { .n_vocab = 256, .n_embd = 32, .n_layer = layers, .n_head = 2, .n_head_kv = 2, .n_ff = 64, .n_rot = 16, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f };
	struct sched_dag d;
	char err[256];

	ck_assert_msg(bench_model_dag(&hp, HAL_TYPE_Q8_0, n_tokens, 64, &d, err, sizeof(err)) ==
			      SCHED_OK, "%s", err);
	uint64_t w = d.build_work;
	*n = d.n;
	*edges = d.pred_off[d.n];
	sched_dag_free(&d);
	return w;
}

/*
 * The 4096-layer graph of issue 18 (61 k ops; pair by pair took 57 s and 575 MiB): the work per
 * op stays what it is at 64 layers, where a quadratic build's would have grown 64-fold.
 */
START_TEST(work_grows_linearly_with_layers)
{
	uint32_t n_small, e_small, n_big, e_big;
	const uint64_t small = work_of(64, 2, &n_small, &e_small);
	const uint64_t big = work_of(4096, 2, &n_big, &e_big);
	const double per_small = (double)small / n_small, per_big = (double)big / n_big;

	printf("DAG build work: 64 layers %u ops, %u edges, %.1f per op; 4096 layers %u ops, %u "
	       "edges, %.1f per op\n",
	       n_small, e_small, per_small, n_big, e_big, per_big);
	ck_assert_uint_eq(n_big, 15 * 4096 + 3);
	ck_assert_double_le(per_big, 1.1 * per_small);
	ck_assert_double_le((double)e_big / n_big, 1.1 * e_small / n_small);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dag");
	TCase *tc = tcase_create("dag");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, llama_graphs_keep_their_edges);
	tcase_add_test(tc, random_graphs_keep_their_edges);
	tcase_add_test(tc, work_grows_linearly_with_layers);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
