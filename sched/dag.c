/* SPDX-License-Identifier: MIT */
/*
 * dag.c - the dependency DAG the scheduler works on: built from a graph by the memory every op
 * reads and writes, or from explicit edges.
 */
#include "sched/dag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sched_dag_free(struct sched_dag *d)
{
	free(d->nodes);
	free(d->pred_off);
	free(d->pred);
	free(d->edge_bytes);
	free(d->succ_off);
	free(d->succ);
	free(d->succ_edge);
	free(d->fixed_time);
	memset(d, 0, sizeof(*d));
}

/* Fills succ_* from pred_*. */
static enum sched_status derive_succ(struct sched_dag *d)
{
	uint32_t ne = d->pred_off[d->n];

	d->succ_off = calloc(d->n + 1, sizeof(uint32_t));
	d->succ = malloc(sizeof(uint32_t) * (ne ? ne : 1));
	d->succ_edge = malloc(sizeof(uint32_t) * (ne ? ne : 1));
	if (!d->succ_off || !d->succ || !d->succ_edge)
		return SCHED_ERR_NOMEM;
	for (uint32_t e = 0; e < ne; e++)
		d->succ_off[d->pred[e] + 1]++;
	for (uint32_t v = 0; v < d->n; v++)
		d->succ_off[v + 1] += d->succ_off[v];
	uint32_t *fill = calloc(d->n ? d->n : 1, sizeof(uint32_t));
	if (!fill)
		return SCHED_ERR_NOMEM;
	for (uint32_t v = 0; v < d->n; v++)
		for (uint32_t e = d->pred_off[v]; e < d->pred_off[v + 1]; e++) {
			uint32_t u = d->pred[e], at = d->succ_off[u] + fill[u]++;
			d->succ[at] = v;
			d->succ_edge[at] = e;
		}
	free(fill);
	return SCHED_OK;
}

enum sched_status sched_dag_init(struct sched_dag *d, uint32_t n, uint32_t n_edges,
				 const uint32_t (*edges)[2], const double *edge_bytes)
{
	memset(d, 0, sizeof(*d));
	d->n = n;
	d->nodes = calloc(n ? n : 1, sizeof(*d->nodes));
	d->pred_off = calloc(n + 1, sizeof(uint32_t));
	d->pred = malloc(sizeof(uint32_t) * (n_edges ? n_edges : 1));
	d->edge_bytes = calloc(n_edges ? n_edges : 1, sizeof(double));
	if (!d->nodes || !d->pred_off || !d->pred || !d->edge_bytes) {
		sched_dag_free(d);
		return SCHED_ERR_NOMEM;
	}
	for (uint32_t e = 0; e < n_edges; e++) {
		if (edges[e][0] >= edges[e][1] || edges[e][1] >= n) {
			sched_dag_free(d);
			return SCHED_ERR_INVALID;
		}
		d->pred_off[edges[e][1] + 1]++;
	}
	for (uint32_t v = 0; v < n; v++)
		d->pred_off[v + 1] += d->pred_off[v];
	uint32_t *fill = calloc(n ? n : 1, sizeof(uint32_t));
	if (!fill) {
		sched_dag_free(d);
		return SCHED_ERR_NOMEM;
	}
	for (uint32_t e = 0; e < n_edges; e++) {
		uint32_t v = edges[e][1], at = d->pred_off[v] + fill[v]++;
		d->pred[at] = edges[e][0];
		d->edge_bytes[at] = edge_bytes ? edge_bytes[e] : 0;
	}
	free(fill);
	for (uint32_t v = 0; v < n; v++)
		d->nodes[v] = (struct sched_dag_node){ .kind = HAL_OP_ADD, .wtype = HAL_TYPE_F32,
						       .layer = -1, .sig = v };
	if (derive_succ(d)) {
		sched_dag_free(d);
		return SCHED_ERR_NOMEM;
	}
	return SCHED_OK;
}

/* ---- from a graph ------------------------------------------------------------------------- */

struct range {
	uintptr_t lo, hi;
};

#define MAX_RANGES (HAL_OP_MAX_SRC + 1)

/* What node i reads and writes, as address ranges (weights included: they are never written). */
static void node_ranges(const struct hal_op *op, struct range *rd, uint32_t *n_rd,
			struct range *wr, uint32_t *n_wr)
{
	*n_rd = *n_wr = 0;
	for (int s = 0; s < HAL_OP_MAX_SRC; s++) {
		const struct hal_tensor *t = op->src[s];
		if (!t || !t->data)
			continue;
		struct range r = { (uintptr_t)t->data, (uintptr_t)t->data + hal_tensor_bytes(t) };
		/* the attention appends this token's k and v to the caches it reads */
		if (op->kind == HAL_OP_ATTENTION && (s == 3 || s == 4))
			wr[(*n_wr)++] = r;
		rd[(*n_rd)++] = r;
	}
	if (op->dst && op->dst->data)
		wr[(*n_wr)++] = (struct range){ (uintptr_t)op->dst->data,
						(uintptr_t)op->dst->data + hal_tensor_bytes(op->dst) };
}

static bool overlap(const struct range *a, uint32_t na, const struct range *b, uint32_t nb)
{
	for (uint32_t i = 0; i < na; i++)
		for (uint32_t j = 0; j < nb; j++)
			if (a[i].lo < b[j].hi && b[j].lo < a[i].hi)
				return true;
	return false;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

/* Arithmetic and memory traffic of one op: what the roofline in cost.c needs. */
static void node_work(const struct hal_op *op, uint32_t ctx_len, struct sched_dag_node *nd)
{
	const struct hal_tensor *s0 = op->src[0], *dst = op->dst;
	const double T = dst->ne[1], f32 = 4.0;

	nd->kind = op->kind;
	nd->wtype = HAL_TYPE_F32;
	nd->out_bytes = (double)hal_tensor_bytes(dst);
	switch (op->kind) {
	case HAL_OP_MATMUL: {
		/* the fused form (hal.h) reads every weight: their rows add up to dst's */
		const struct hal_tensor *w[3];
		const uint32_t nw = hal_matmul_weights(op, w);
		const double K = s0->ne[0], N = dst->ne[0];
		nd->wtype = s0->type;
		nd->ops = 2.0 * K * N * T;
		nd->bytes = T * (K + N) * f32;
		for (uint32_t i = 0; i < nw; i++)
			nd->bytes += (double)hal_tensor_bytes(w[i]);
		break;
	}
	case HAL_OP_ATTENTION: {
		const double nh = op->p.attn.n_head, hd = op->p.attn.head_dim;
		const double dkv = op->p.attn.n_head_kv * hd, ctx = ctx_len ? ctx_len : 1;
		/* q.K and p.V per head, plus the softmax's exp, max and sum */
		nd->ops = T * nh * ctx * (4.0 * hd + 5.0);
		nd->bytes = 2.0 * ctx * dkv * f32 + T * (2.0 * nh * hd + 2.0 * dkv) * f32;
		break;
	}
	case HAL_OP_ROPE: {
		const double pairs = op->p.rope.n_head * (op->p.rope.n_rot / 2.0);
		nd->ops = T * pairs * 20.0; /* sin, cos and the rotation */
		nd->bytes = 2.0 * (double)hal_tensor_bytes(dst);
		break;
	}
	case HAL_OP_RMSNORM:
		nd->ops = 4.0 * dst->ne[0] * T;
		nd->bytes = 2.0 * (double)hal_tensor_bytes(dst) + dst->ne[0] * f32;
		break;
	case HAL_OP_SWIGLU:
		nd->ops = 8.0 * dst->ne[0] * T; /* exp dominates */
		nd->bytes = 3.0 * (double)hal_tensor_bytes(dst);
		break;
	case HAL_OP_ADD:
		nd->ops = (double)dst->ne[0] * T;
		nd->bytes = 3.0 * (double)hal_tensor_bytes(dst);
		break;
	case HAL_OP_EMBED:
		nd->ops = (double)dst->ne[0] * T;
		nd->bytes = T * (double)hal_row_bytes(s0->type, s0->ne[0]) +
			    (double)hal_tensor_bytes(dst);
		break;
	default:
		nd->ops = (double)dst->ne[0] * T;
		nd->bytes = 2.0 * (double)hal_tensor_bytes(dst);
		break;
	}
	uint64_t h = mix(op->kind, nd->wtype);
	h = mix(h, s0 ? ((uint64_t)s0->ne[0] << 32 | s0->ne[1]) : 0);
	h = mix(h, (uint64_t)dst->ne[0] << 32 | dst->ne[1]);
	/* attention's cost grows with the context: bucket it by powers of two */
	uint32_t bucket = 0;
	while (op->kind == HAL_OP_ATTENTION && (1u << bucket) < ctx_len && bucket < 31)
		bucket++;
	nd->sig = mix(h, bucket);
}

enum sched_status sched_dag_from_graph(const struct sched_graph *g, uint32_t ctx_len,
				       struct sched_dag *out, char *err, size_t err_len)
{
	const uint32_t n = g->n_nodes, words = (n + 63) / 64;
	struct range (*rd)[MAX_RANGES] = malloc(sizeof(*rd) * (n ? n : 1));
	struct range (*wr)[MAX_RANGES] = malloc(sizeof(*wr) * (n ? n : 1));
	uint32_t *n_rd = malloc(sizeof(uint32_t) * (n ? n : 1));
	uint32_t *n_wr = malloc(sizeof(uint32_t) * (n ? n : 1));
	uint64_t *reach = calloc((size_t)n * words + 1, sizeof(uint64_t));
	uint32_t cap = 4 * n + 16, ne = 0;
	uint32_t (*edges)[2] = malloc(sizeof(*edges) * cap);
	double *bytes = calloc(cap, sizeof(double));
	enum sched_status st = SCHED_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (!rd || !wr || !n_rd || !n_wr || !reach || !edges || !bytes)
		goto done;
	for (uint32_t i = 0; i < n; i++)
		node_ranges(&g->nodes[i].op, rd[i], &n_rd[i], wr[i], &n_wr[i]);
	for (uint32_t j = 0; j < n; j++) {
		uint64_t *rj = reach + (size_t)j * words;
		bool covered[MAX_RANGES] = { false };
		/*
		 * Nearest first: the first writer met for each range j reads is its producer (a data
		 * edge); older writers of memory the arena reuses only order, and an ordering edge
		 * that a path already implies is left out.
		 */
		for (uint32_t i = j; i-- > 0;) {
			double data = 0;
			bool raw = false;
			for (uint32_t r = 0; r < n_rd[j]; r++) {
				if (covered[r])
					continue;
				for (uint32_t w = 0; w < n_wr[i]; w++) {
					const struct range *a = &rd[j][r], *b = &wr[i][w];
					if (!(a->lo < b->hi && b->lo < a->hi))
						continue;
					raw = true;
					data += (double)((a->hi < b->hi ? a->hi : b->hi) -
							 (a->lo > b->lo ? a->lo : b->lo));
					if (b->lo <= a->lo && b->hi >= a->hi)
						covered[r] = true;
				}
			}
			bool other = overlap(wr[j], n_wr[j], rd[i], n_rd[i]) ||
				     overlap(wr[j], n_wr[j], wr[i], n_wr[i]);
			bool implied = rj[i / 64] >> (i % 64) & 1;

			if ((!raw && !other) || (implied && !raw))
				continue;
			if (ne == cap) {
				cap *= 2;
				void *e2 = realloc(edges, sizeof(*edges) * cap);
				if (e2)
					edges = e2;
				void *b2 = e2 ? realloc(bytes, sizeof(double) * cap) : NULL;
				if (!b2)
					goto done;
				bytes = b2;
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
	st = sched_dag_init(out, n, ne, (const uint32_t(*)[2])edges, bytes);
	if (st)
		goto done;
	for (uint32_t i = 0; i < n; i++) {
		node_work(&g->nodes[i].op, ctx_len, &out->nodes[i]);
		out->nodes[i].layer = g->nodes[i].layer;
	}
done:
	if (st)
		snprintf(err, err_len, "out of memory building the dependency DAG of %u ops", n);
	free(rd);
	free(wr);
	free(n_rd);
	free(n_wr);
	free(reach);
	free(edges);
	free(bytes);
	return st;
}
