/* SPDX-License-Identifier: MIT */
/* thermal_bench.h - the body of `npu-bench thermal` (thermal_bench.c). */
#ifndef EDGE_NPU_TOOLS_BENCH_THERMAL_BENCH_H
#define EDGE_NPU_TOOLS_BENCH_THERMAL_BENCH_H

/* `npu-bench thermal ARGS` (argv[0] is "thermal"); returns the exit status. */
int bench_thermal_main(int argc, char **argv);

#endif
