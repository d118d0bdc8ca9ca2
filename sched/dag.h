/* SPDX-License-Identifier: MIT */
/*
 * dag.h - the dependency DAG the scheduler works on (dag.c).
 *
 * The cost model, the simulator, the partitioner and the power manager are pure computation
 * over this DAG: a node per op with what it costs in arithmetic and memory, an edge per
 * dependency with the bytes that flow along it. The graph IR (graph.h) is turned into one by
 * sched_dag_from_graph(), and tests and benchmarks build random ones with sched_dag_init().
 */
#ifndef EDGE_NPU_SCHED_DAG_H
#define EDGE_NPU_SCHED_DAG_H

#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sched/graph.h"
#include "sched/common.h"

struct sched_dag_node {
	enum hal_op_kind kind;
	enum hal_type wtype; /* matmul weight type; HAL_TYPE_F32 otherwise */
	double ops;          /* arithmetic operations */
	double bytes;        /* bytes read and written in memory */
	double out_bytes;    /* bytes of its result (what crosses a device boundary) */
	int32_t layer;
	uint64_t sig;        /* op signature: kind, type, shape (history key) */
};

struct sched_dag {
	uint32_t n;
	struct sched_dag_node *nodes;
	/* predecessors in CSR form: pred[pred_off[v] .. pred_off[v+1]) */
	uint32_t *pred_off, *pred;
	double *edge_bytes; /* per pred entry: bytes that flow (0: an ordering-only edge) */
	/* successors, same form (derived) */
	uint32_t *succ_off, *succ, *succ_edge; /* succ_edge: index into pred[] */
	/* Optional explicit costs [n * n_dev] in seconds (synthetic DAGs); <0 = unsupported. */
	double *fixed_time;
	uint32_t fixed_n_dev;
	/*
	 * What sched_dag_from_graph() did to find the edges: candidates decided, index entries
	 * and predecessor entries visited (0 from sched_dag_init). A test bounds it.
	 */
	uint64_t build_work;
};

/*
 * The dependency DAG of a built graph: edges from every read-after-write, write-after-read
 * and write-after-write over the memory the ops touch (activations share arena memory, so
 * reuse is a dependency too). For each op j, looking back from j - 1: an edge from every op
 * that wrote part of a range j reads, down to the first that wrote all of it (the bytes that
 * flow: what those writes overlap); an ordering edge (0 bytes) from an op that read or wrote
 * memory j writes unless a path through j's edges already implies it. Predecessors are listed
 * nearest first. The build is near-linear in ops and edges on a layered graph: it looks only
 * at ops that touched the same memory (dag.c says how). ctx_len is the attention's context
 * length to cost (decode at position p: p + 1).
 */
enum sched_status sched_dag_from_graph(const struct sched_graph *g, uint32_t ctx_len,
				       struct sched_dag *out, char *err, size_t err_len);
/* Builds a DAG from explicit edge lists (tests, random DAGs); edges u -> v need u < v. */
enum sched_status sched_dag_init(struct sched_dag *d, uint32_t n, uint32_t n_edges,
				 const uint32_t (*edges)[2], const double *edge_bytes);
void sched_dag_free(struct sched_dag *d);

#endif
