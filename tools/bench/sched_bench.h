/* SPDX-License-Identifier: MIT */
/* bench.h - DAG generators for tests and benchmarks, and the body of `npu-bench sched`. */
#ifndef EDGE_NPU_TOOLS_BENCH_SCHED_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_SCHED_BENCH_H

#include "sched/dag.h"
#include "sched/graph.h"

/* A random DAG of n llama-like ops (mixed sizes, forks and joins); *seed advances. */
enum sched_status bench_random_dag(uint64_t *seed, uint32_t n, struct sched_dag *out);

/*
 * The DAG of the llama graph of a model shape (every matrix of type wtype) for a batch of
 * n_tokens at context length ctx_len, built through sched_graph_build without any weights.
 */
enum sched_status bench_model_dag(const struct sched_hparams *hp, enum hal_type wtype,
				  uint32_t n_tokens, uint32_t ctx_len, struct sched_dag *out,
				  char *err, size_t err_len);

/* `npu-bench sched ARGS` (argv[0] is "sched"); returns the exit status. */
int bench_sched_main(int argc, char **argv);

#endif
