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

/*
 * What op reads and writes, as address ranges (weights included: they are never written). An
 * empty tensor touches no memory, so it has no range.
 */
static void node_ranges(const struct hal_op *op, struct range *rd, uint32_t *n_rd,
			struct range *wr, uint32_t *n_wr)
{
	*n_rd = *n_wr = 0;
	for (int s = 0; s < HAL_OP_MAX_SRC; s++) {
		const struct hal_tensor *t = op->src[s];
		if (!t || !t->data || !hal_tensor_bytes(t))
			continue;
		struct range r = { (uintptr_t)t->data, (uintptr_t)t->data + hal_tensor_bytes(t) };
		/* the attention appends this token's k and v to the caches it reads */
		if (op->kind == HAL_OP_ATTENTION && (s == 3 || s == 4))
			wr[(*n_wr)++] = r;
		rd[(*n_rd)++] = r;
	}
	if (op->dst && op->dst->data && hal_tensor_bytes(op->dst))
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

/*
 * The edges of sched_dag_from_graph() for op j, nearest op first:
 *  - read after write: from every op that wrote memory j reads, back to the first one whose
 *    write covers the whole range read (a data edge, always kept);
 *  - write after read or write: from an op that touched memory j writes, unless a path through
 *    the edges j already has implies it (an ordering edge).
 * Comparing j with every older op is quadratic; only a few can give an edge. A reader finds
 * its writers in the writer history of the memory it reads. For memory j writes, only the last
 * writer and the readers since can give an ordering edge: an older op that touched it precedes
 * that last writer (an edge or a path, by the same rule when the last writer was added), which
 * precedes j, so its edge would be implied.
 * Memory is cut into segments at the ends of every range, so that an op touches a segment
 * whole or not at all. Each segment keeps its writers, newest first, and its readers since the
 * last write. Whether an edge i -> j is implied is a walk back from j's predecessors that never
 * goes below i: edges go from lower to higher indices, so nothing below i leads to i. The
 * candidates come in falling order, so one walk, kept in a max-heap, serves them all.
 */

/* A list of ops, newest first, in the build's pool: next is a pool index + 1, 0 ends it. */
struct cell {
	uint32_t op, next;
};

struct build {
	uint32_t n;
	struct range (*rd)[MAX_RANGES], (*wr)[MAX_RANGES];
	uint32_t *n_rd, *n_wr;
	uintptr_t *pts;                   /* segment s is [pts[s], pts[s + 1]) */
	uint32_t n_pts;
	uint32_t *writers, *readers;      /* per segment: list heads */
	uint32_t *cursor;                 /* per segment: where the writer walk of a read is */
	struct cell *pool;
	uint32_t n_pool, cap_pool;
	uint32_t (*edges)[2];
	double *bytes;
	uint32_t ne, cap;
	uint32_t *first;                  /* first[v]: v's first edge; its edges are contiguous */
	uint32_t *mark, *seen;            /* per op: j + 1 once a candidate of j, met by j's walk */
	uint32_t *cand, n_cand;
	uint32_t *heap, n_heap;
	uint64_t work;
};

/* The segments [*a, *c) that r covers. */
static void segments(const struct build *b, const struct range *r, uint32_t *a, uint32_t *c)
{
	uintptr_t key[2] = { r->lo, r->hi };
	uint32_t out[2];

	for (int k = 0; k < 2; k++) {
		uint32_t lo = 0, hi = b->n_pts;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (b->pts[mid] < key[k])
				lo = mid + 1;
			else
				hi = mid;
		}
		out[k] = lo;
	}
	*a = out[0];
	*c = out[1];
}

static int cmp_uptr(const void *x, const void *y)
{
	uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
	return (a > b) - (a < b);
}

static int cmp_desc(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a < b) - (a > b);
}

static bool push_op(struct build *b, uint32_t *head, uint32_t op)
{
	if (*head && b->pool[*head - 1].op == op)
		return true; /* op touches the segment through two of its ranges */
	if (b->n_pool == b->cap_pool) {
		uint32_t cap = b->cap_pool ? 2 * b->cap_pool : 1024;
		struct cell *p = realloc(b->pool, sizeof(*p) * cap);
		if (!p)
			return false;
		b->pool = p;
		b->cap_pool = cap;
	}
	b->pool[b->n_pool] = (struct cell){ op, *head };
	*head = ++b->n_pool;
	return true;
}

static void add_cand(struct build *b, uint32_t i, uint32_t j)
{
	if (b->mark[i] != j + 1) {
		b->mark[i] = j + 1;
		b->cand[b->n_cand++] = i;
	}
}

static bool write_covers(const struct build *b, uint32_t i, const struct range *r)
{
	for (uint32_t w = 0; w < b->n_wr[i]; w++)
		if (b->wr[i][w].lo <= r->lo && b->wr[i][w].hi >= r->hi)
			return true;
	return false;
}

/* The writers of r, newest first, down to the first whose write covers r. */
static void raw_candidates(struct build *b, uint32_t j, const struct range *r)
{
	uint32_t a, c;

	segments(b, r, &a, &c);
	for (uint32_t s = a; s < c; s++)
		b->cursor[s] = b->writers[s];
	for (;;) {
		uint32_t top = 0;
		bool any = false;
		for (uint32_t s = a; s < c; s++)
			if (b->cursor[s] && (!any || b->pool[b->cursor[s] - 1].op > top)) {
				top = b->pool[b->cursor[s] - 1].op;
				any = true;
			}
		b->work += c - a;
		if (!any)
			return;
		add_cand(b, top, j);
		for (uint32_t s = a; s < c; s++)
			if (b->cursor[s] && b->pool[b->cursor[s] - 1].op == top)
				b->cursor[s] = b->pool[b->cursor[s] - 1].next;
		if (write_covers(b, top, r))
			return;
	}
}

/* The last writer of r's segments and their readers since. */
static void order_candidates(struct build *b, uint32_t j, const struct range *r)
{
	uint32_t a, c;

	segments(b, r, &a, &c);
	for (uint32_t s = a; s < c; s++) {
		if (b->writers[s])
			add_cand(b, b->pool[b->writers[s] - 1].op, j);
		for (uint32_t k = b->readers[s]; k; k = b->pool[k - 1].next) {
			add_cand(b, b->pool[k - 1].op, j);
			b->work++;
		}
	}
}

static void heap_push(struct build *b, uint32_t v)
{
	uint32_t k = b->n_heap++;
	while (k && b->heap[(k - 1) / 2] < v) {
		b->heap[k] = b->heap[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	b->heap[k] = v;
}

static uint32_t heap_pop(struct build *b)
{
	uint32_t top = b->heap[0], v = b->heap[--b->n_heap], k = 0;

	for (;;) {
		uint32_t c = 2 * k + 1;
		if (c >= b->n_heap)
			break;
		if (c + 1 < b->n_heap && b->heap[c + 1] > b->heap[c])
			c++;
		if (b->heap[c] <= v)
			break;
		b->heap[k] = b->heap[c];
		k = c;
	}
	b->heap[k] = v;
	return top;
}

static void meet(struct build *b, uint32_t v, uint32_t j)
{
	if (b->seen[v] != j + 1) {
		b->seen[v] = j + 1;
		heap_push(b, v);
	}
}

/* Whether a path from i reaches an edge j already has: the walk back, down to i. */
static bool implied(struct build *b, uint32_t i, uint32_t j)
{
	while (b->n_heap && b->heap[0] > i) {
		uint32_t x = heap_pop(b);
		for (uint32_t e = b->first[x]; e < b->first[x + 1]; e++, b->work++)
			meet(b, b->edges[e][0], j);
	}
	return b->seen[i] == j + 1;
}

static bool add_edge(struct build *b, uint32_t i, uint32_t j, double data)
{
	if (b->ne == b->cap) {
		uint32_t cap = 2 * b->cap;
		void *e2 = realloc(b->edges, sizeof(*b->edges) * cap);
		if (!e2)
			return false;
		b->edges = e2;
		void *b2 = realloc(b->bytes, sizeof(double) * cap);
		if (!b2)
			return false;
		b->bytes = b2;
		b->cap = cap;
	}
	b->edges[b->ne][0] = i;
	b->edges[b->ne][1] = j;
	b->bytes[b->ne++] = data;
	meet(b, i, j);
	return true;
}

/* Decides each candidate of j, nearest first. */
static bool node_edges(struct build *b, uint32_t j)
{
	const struct range *rj = b->rd[j];
	bool covered[MAX_RANGES] = { false };

	qsort(b->cand, b->n_cand, sizeof(uint32_t), cmp_desc);
	b->n_heap = 0;
	for (uint32_t c = 0; c < b->n_cand; c++) {
		const uint32_t i = b->cand[c];
		double data = 0;
		bool raw = false;

		b->work++;
		/* the first writer met for each range j reads is its producer (a data edge) */
		for (uint32_t r = 0; r < b->n_rd[j]; r++) {
			if (covered[r])
				continue;
			for (uint32_t w = 0; w < b->n_wr[i]; w++) {
				const struct range *x = &rj[r], *y = &b->wr[i][w];
				if (!(x->lo < y->hi && y->lo < x->hi))
					continue;
				raw = true;
				data += (double)((x->hi < y->hi ? x->hi : y->hi) -
						 (x->lo > y->lo ? x->lo : y->lo));
				if (y->lo <= x->lo && y->hi >= x->hi)
					covered[r] = true;
			}
		}
		/* older writers of memory the arena reuses only order, unless already implied */
		if (!raw && !overlap(b->wr[j], b->n_wr[j], b->rd[i], b->n_rd[i]) &&
		    !overlap(b->wr[j], b->n_wr[j], b->wr[i], b->n_wr[i]))
			continue;
		if (!raw && implied(b, i, j))
			continue;
		if (!add_edge(b, i, j, data))
			return false;
	}
	return true;
}

/* Records what j touched, for the ops after it. */
static bool index_node(struct build *b, uint32_t j)
{
	uint32_t a, c;

	for (uint32_t r = 0; r < b->n_rd[j]; r++) {
		segments(b, &b->rd[j][r], &a, &c);
		for (uint32_t s = a; s < c; s++)
			if (!push_op(b, &b->readers[s], j))
				return false;
	}
	for (uint32_t w = 0; w < b->n_wr[j]; w++) {
		segments(b, &b->wr[j][w], &a, &c);
		for (uint32_t s = a; s < c; s++) {
			if (!push_op(b, &b->writers[s], j))
				return false;
			b->readers[s] = 0;
		}
	}
	return true;
}

/* The ranges of every op and the segment ends; false: out of memory. */
static bool build_init(struct build *b, const struct sched_graph *g)
{
	const uint32_t n = g->n_nodes, n1 = n ? n : 1;

	memset(b, 0, sizeof(*b));
	b->n = n;
	b->rd = malloc(sizeof(*b->rd) * n1);
	b->wr = malloc(sizeof(*b->wr) * n1);
	b->n_rd = malloc(sizeof(uint32_t) * n1);
	b->n_wr = malloc(sizeof(uint32_t) * n1);
	b->pts = malloc(sizeof(uintptr_t) * 4 * MAX_RANGES * (size_t)n1);
	b->cap = 4 * n + 16;
	b->edges = malloc(sizeof(*b->edges) * b->cap);
	b->bytes = malloc(sizeof(double) * b->cap);
	b->first = calloc(n + 1, sizeof(uint32_t));
	b->mark = calloc(n1, sizeof(uint32_t));
	b->seen = calloc(n1, sizeof(uint32_t));
	b->cand = malloc(sizeof(uint32_t) * n1);
	b->heap = malloc(sizeof(uint32_t) * n1);
	if (!b->rd || !b->wr || !b->n_rd || !b->n_wr || !b->pts || !b->edges || !b->bytes ||
	    !b->first || !b->mark || !b->seen || !b->cand || !b->heap)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		node_ranges(&g->nodes[i].op, b->rd[i], &b->n_rd[i], b->wr[i], &b->n_wr[i]);
		for (uint32_t r = 0; r < b->n_rd[i]; r++) {
			b->pts[b->n_pts++] = b->rd[i][r].lo;
			b->pts[b->n_pts++] = b->rd[i][r].hi;
		}
		for (uint32_t w = 0; w < b->n_wr[i]; w++) {
			b->pts[b->n_pts++] = b->wr[i][w].lo;
			b->pts[b->n_pts++] = b->wr[i][w].hi;
		}
	}
	qsort(b->pts, b->n_pts, sizeof(uintptr_t), cmp_uptr);
	uint32_t u = 0;
	for (uint32_t k = 0; k < b->n_pts; k++)
		if (!u || b->pts[u - 1] != b->pts[k])
			b->pts[u++] = b->pts[k];
	b->n_pts = u;
	b->writers = calloc(u ? u : 1, sizeof(uint32_t));
	b->readers = calloc(u ? u : 1, sizeof(uint32_t));
	b->cursor = calloc(u ? u : 1, sizeof(uint32_t));
	return b->writers && b->readers && b->cursor;
}

static void build_free(struct build *b)
{
	free(b->rd);
	free(b->wr);
	free(b->n_rd);
	free(b->n_wr);
	free(b->pts);
	free(b->writers);
	free(b->readers);
	free(b->cursor);
	free(b->pool);
	free(b->edges);
	free(b->bytes);
	free(b->first);
	free(b->mark);
	free(b->seen);
	free(b->cand);
	free(b->heap);
}

enum sched_status sched_dag_from_graph(const struct sched_graph *g, uint32_t ctx_len,
				       struct sched_dag *out, char *err, size_t err_len)
{
	const uint32_t n = g->n_nodes;
	struct build b;
	enum sched_status st = SCHED_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (!build_init(&b, g))
		goto done;
	for (uint32_t j = 0; j < n; j++) {
		b.first[j] = b.ne;
		b.n_cand = 0;
		for (uint32_t r = 0; r < b.n_rd[j]; r++)
			raw_candidates(&b, j, &b.rd[j][r]);
		for (uint32_t w = 0; w < b.n_wr[j]; w++)
			order_candidates(&b, j, &b.wr[j][w]);
		if (!node_edges(&b, j) || !index_node(&b, j))
			goto done;
	}
	b.first[n] = b.ne;
	st = sched_dag_init(out, n, b.ne, (const uint32_t(*)[2])b.edges, b.bytes);
	if (st)
		goto done;
	out->build_work = b.work;
	for (uint32_t i = 0; i < n; i++) {
		node_work(&g->nodes[i].op, ctx_len, &out->nodes[i]);
		out->nodes[i].layer = g->nodes[i].layer;
	}
done:
	if (st)
		snprintf(err, err_len, "out of memory building the dependency DAG of %u ops", n);
	build_free(&b);
	return st;
}
