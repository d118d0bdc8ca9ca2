/* SPDX-License-Identifier: MIT */
/*
 * npu-bench - benchmarks as programs, not timed tests.
 *
 *   npu-bench cpu  measures the memory-bandwidth ceiling (a STREAM-like read over a buffer far
 *                  larger than the last-level cache) and the compute ceiling (the kernels'
 *                  int8 dot instruction on every thread), then each kernel of the fast CPU
 *                  backend on the shapes of a 4096 x 14336 layer and of the ~130 M model,
 *                  printing each kernel's ratio to the ceiling of the same run that bounds it.
 *   npu-bench e2e  prefill (ppN) and decode (tgN) tokens/s of a model through the public API,
 *                  mean and standard deviation over the repetitions, as llama-bench prints them.
 *   npu-bench batch  aggregate decode tokens/s of 1, 4, 8, ... sessions batched together
 *                  (enpu_session_eval_many) and the ratio to one session, in the same run
 *                  (tools/bench/batch_bench.c).
 *   npu-bench npu  submit-to-complete of an empty job on the NPU (ring, doorbell, the device
 *                  model's context, interrupt, fence), in process or through the kernel
 *                  driver, beside the engine called directly (tools/bench/npu_latency.c).
 *   npu-bench calibrate  measures the cpu and gpu devices and writes a device profile
 *                  (tools/bench/calibrate.c does the measuring, so that a test can run it).
 *
 * Every subcommand writes its results through tools/bench/report.c: a table for people, or
 * CSV, JSON or Markdown with -o (sched: prose for people, its figures as rows with -o). Options that do not apply to a subcommand are refused by name
 * rather than ignored, and -t, -p, -n, -m and -d take comma lists where a subcommand sweeps.
 *
 * The machine's bandwidth drifts from minute to minute: compare ratios, not absolute figures.
 */
#include "bench/batch_bench.h"
#include "bench/calibrate.h"
#include "bench/cancel_bench.h"
#include "bench/load_bench.h"
#include "bench/measure.h"
#include "bench/npu_latency.h"
#include "bench/report.h"
#include "bench/sched_bench.h"
#include "bench/spec_bench.h"
#include "bench/thermal_bench.h"
#include "edge_npu.h"
#include "hal/cpu/cpu_fast.h"
#include "hal/files.h"
#include "hal/hal.h"
#include "sched/profile.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 16

/* A comma list of an option ("64,128,512"); one value when the subcommand does not sweep. */
struct u32_list {
	uint32_t n, v[MAX_LIST];
};

struct str_list {
	uint32_t n;
	const char *v[MAX_LIST];
	char *buf; /* the copy of the argument the entries point into */
};

struct opts {
	enum bench_format fmt;
	struct u32_list threads, prompt, gen;
	struct str_list model, device;
	uint32_t reps;
	const char *profile_out, *base;
	struct u32_list sizes;          /* batch: numbers of sessions (none given: 1,4,8) */
	enum enpu_cache_type cache_type; /* e2e's KV cache (0: f16, the default) */
	bool no_gpu;
	bool jobs;
	const char *draft, *draft_type; /* spec: a draft file, or the model requantized */
	const char *profile;            /* spec: the modeled comparison's profile (found) */
	uint32_t spec_k;                /* spec: 0 adaptive, else fixed */
	uint32_t depth;                 /* e2e: tokens in the cache before each test */
};

/* The one value of a list option, or dflt when it was not given. */
static uint32_t one_u32(const struct u32_list *l, uint32_t dflt)
{
	return l->n ? l->v[0] : dflt;
}

static const char *one_str(const struct str_list *l)
{
	return l->n ? l->v[0] : NULL;
}

/* Threads as the CPU device takes 0 (the default): one per online core. */
static uint32_t real_threads(uint32_t t)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	return t ? t : online > 0 ? (uint32_t)online : 1;
}

/* ---- bandwidth ceiling -------------------------------------------------------------------- */

#define BW_BUF ((size_t)512 << 20)

/* Read bandwidth in GB/s over the whole 512 MiB buffer (best of reps) on cpu's threads. */
static double measure_ceiling(const struct hal_device *cpu, const uint8_t *buf, uint32_t reps)
{
	double best = 0.0;

	for (uint32_t r = 0; r < reps + 1; r++) {
		double gbs = (double)BW_BUF / hal_cpu_fast_time_read(cpu, buf, BW_BUF) / 1e9;

		if (r > 0 && gbs > best) /* the first pass warms the TLB */
			best = gbs;
	}
	return best;
}

/* ---- kernels through the device ----------------------------------------------------------- */

struct bench {
	struct hal_device *dev;
	struct bench_report *rep;
	const uint8_t *bw_buf;
	size_t bw_off;
	double ceiling;
	uint32_t reps;
};

static double run_ceiling; /* the 512 MiB read of this run, for the second ratio */
static double run_peak_gops; /* the int8 dot instruction's rate in this run (2 ops a MAC) */
static double run_scale_gops; /* AMX: the rate the blocks' float scaling allows */

enum { K_THREADS, K_ISA, K_KERNEL, K_SHAPE, K_US, K_GBS, K_GOPS, K_READ, K_CEIL, K_PEAK, K_SCALE };

static const struct bench_col kernel_cols[] = {
	[K_THREADS] = { "threads", NULL, BENCH_COL_INT, 7, 0, NULL },
	[K_ISA] = { "isa", NULL, BENCH_COL_STR, 6, 0, NULL },
	[K_KERNEL] = { "kernel", NULL, BENCH_COL_STR, 18, 0, NULL },
	[K_SHAPE] = { "shape", NULL, BENCH_COL_STR, 16, 0, NULL },
	[K_US] = { "us", NULL, BENCH_COL_STAT, 18, 1, NULL },
	[K_GBS] = { "gbs", "GB/s", BENCH_COL_NUM, 7, 1, NULL },
	[K_GOPS] = { "gops", "GOPS", BENCH_COL_NUM, 7, 1, NULL },
	[K_READ] = { "read_pct", "%read", BENCH_COL_NUM, 6, 1, NULL },
	[K_CEIL] = { "ceiling_pct", "%ceil", BENCH_COL_NUM, 6, 1, NULL },
	[K_PEAK] = { "peak_int8_pct", "%int8", BENCH_COL_NUM, 6, 1, NULL },
	[K_SCALE] = { "scaling_pct", "%scale", BENCH_COL_NUM, 6, 1, NULL },
};

/*
 * A kernel's time (samples s[0..reps)) and rates, with its ratio to the ceiling that bounds it:
 * a read of the same bytes and the 512 MiB read (memory-bound rows), or the peak int8 rate
 * (compute-bound rows, peak set: quantized prefills). The rates are of the median time, which
 * one descheduled run on a shared machine does not move.
 */
static void kernel_row(struct bench *b, const char *what, const char *shape, const double *s,
		       double bytes, double ops, double ceiling, bool peak)
{
	struct bench_report *r = b->rep;
	struct bench_stat st;

	bench_stat_of(s, b->reps, &st);
	const double gbs = bytes / st.median / 1e9, gops = ops / st.median / 1e9;
	double *us = malloc(sizeof(double) * b->reps);

	for (uint32_t i = 0; us && i < b->reps; i++)
		us[i] = s[i] * 1e6;
	bench_report_int(r, K_THREADS, hal_cpu_fast_threads(b->dev));
	bench_report_str(r, K_ISA, hal_cpu_fast_isa(b->dev));
	bench_report_str(r, K_KERNEL, what);
	bench_report_str(r, K_SHAPE, shape);
	if (us)
		bench_report_stat(r, K_US, us, b->reps);
	if (bytes > 0)
		bench_report_num(r, K_GBS, gbs);
	bench_report_num(r, K_GOPS, gops);
	if (peak && run_peak_gops > 0)
		bench_report_num(r, K_PEAK, 100.0 * gops / run_peak_gops);
	if (peak && run_peak_gops > 0 && run_scale_gops > 0)
		bench_report_num(r, K_SCALE, 100.0 * gops / run_scale_gops);
	if (!peak && bytes > 0 && ceiling > 0)
		bench_report_num(r, K_READ, 100.0 * gbs / ceiling);
	if (!peak && bytes > 0)
		bench_report_num(r, K_CEIL, 100.0 * gbs / run_ceiling);
	bench_report_row(r);
	free(us);
}

/*
 * Matmul [N x K] of type against T activation rows. Enough copies of the weight that every
 * run streams it from DRAM, as in a model whose weights are far larger than the cache.
 */
static int bench_matmul(struct bench *b, enum hal_type type, uint32_t K, uint32_t N, uint32_t T)
{
	size_t wbytes = hal_row_bytes(type, K) * N;
	uint32_t copies = (uint32_t)((96u << 20) / wbytes + 1);
	struct hal_tensor *w = calloc(copies, sizeof(*w));
	struct hal_tensor x = { "x", HAL_TYPE_F32, { K, T }, NULL, NULL };
	struct hal_tensor y = { "y", HAL_TYPE_F32, { N, T }, NULL, NULL };
	uint64_t seed = 42;
	double *times = calloc(b->reps, sizeof(double));
	double *reads = calloc(b->reps, sizeof(double));
	int rc = -1;
	char what[48], shape[48];

	if (copies > 64)
		copies = 64;
	x.data = bench_random_floats((size_t)K * T, &seed);
	y.data = aligned_alloc(64, ((size_t)N * T * 4 + 63) / 64 * 64);
	if (!w || !times || !reads || !x.data || !y.data)
		goto out;
	for (uint32_t c = 0; c < copies; c++) {
		w[c] = (struct hal_tensor){ "w", type, { K, N }, NULL, NULL };
		w[c].data = bench_random_weights(type, K, N, &seed);
		if (!w[c].data || b->dev->vt->prepare_weight(b->dev, &w[c]))
			goto out;
	}
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &w[0], &x }, .dst = &y };
	for (uint32_t r = 0, c = 0; r < b->reps + 1; r++, c = (c + 1) % copies) {
		op.src[0] = &w[c];
		double t0 = bench_now_s();

		if (b->dev->vt->run(b->dev, &op)) {
			fprintf(stderr, "npu-bench: matmul: %s\n", b->dev->error);
			goto out;
		}
		if (r > 0)
			times[r - 1] = bench_now_s() - t0;
		/*
		 * The same number of bytes read from elsewhere right after: the ceiling each run
		 * is compared with, so that drift of the host's bandwidth cancels out.
		 */
		if (b->bw_off + wbytes > BW_BUF)
			b->bw_off = 0;
		double rt = hal_cpu_fast_time_read(b->dev, b->bw_buf + b->bw_off, wbytes);
		b->bw_off += (wbytes + 4095) / 4096 * 4096;
		if (r > 0)
			reads[r - 1] = rt;
	}
	snprintf(what, sizeof(what), "matmul %s T=%u", hal_type_name(type), T);
	snprintf(shape, sizeof(shape), "%ux%u", K, N);
	kernel_row(b, what, shape, times, (double)wbytes, 2.0 * K * N * T,
		   (double)wbytes / bench_median(reads, b->reps) / 1e9,
		   T > 1 && type != HAL_TYPE_F16 && type != HAL_TYPE_F32);
	rc = 0;
out:
	for (uint32_t c = 0; w && c < copies; c++) {
		if (w[c].owner)
			b->dev->vt->release_weight(b->dev, &w[c]);
		free(w[c].data);
	}
	free(w);
	free(x.data);
	free(y.data);
	free(times);
	free(reads);
	return rc;
}

/* Times op on the device (reps rounds); bytes and ops for the rates. */
static int bench_op(struct bench *b, struct hal_op *op, const char *what, const char *shape,
		    double bytes, double ops)
{
	char err[512];
	double *s = calloc(b->reps, sizeof(double));

	if (!s || bench_time_op_samples(&b->dev, 1, op, b->reps, s, err, sizeof(err))) {
		fprintf(stderr, "npu-bench: %s: %s\n", what, s ? err : "out of memory");
		free(s);
		return -1;
	}
	kernel_row(b, what, shape, s, bytes, ops, 0.0, false);
	free(s);
	return 0;
}
static int bench_rows(struct bench *b, uint32_t D, uint32_t T)
{
	const double bytes = 4.0 * D * T;
	struct bench_rows r;
	char shape[48];

	if (bench_rows_init(&r, D, T))
		return -1;
	snprintf(shape, sizeof(shape), "%ux%u", D, T);
	int rc = bench_op(b, &r.rmsnorm, "rmsnorm", shape, 2 * bytes, 3.0 * D * T);
	rc = rc ? rc : bench_op(b, &r.rope, "rope", shape, 2 * bytes, 3.0 * D * T);
	rc = rc ? rc : bench_op(b, &r.swiglu, "swiglu", shape, 3 * bytes, 5.0 * D * T);
	rc = rc ? rc : bench_op(b, &r.add, "add", shape, 3 * bytes, 1.0 * D * T);
	bench_rows_free(&r);
	return rc;
}

/* T new tokens at positions ctx - T .. ctx - 1 over a cache of ctx rows of type ct. */
static int bench_attention(struct bench *b, uint32_t n_head, uint32_t hd, uint32_t T,
			   uint32_t ctx, enum hal_type ct)
{
	const uint32_t D = n_head * hd;
	struct bench_attention a;
	char shape[48];

	if (bench_attention_init(&a, n_head, hd, T, ctx, ct))
		return -1;
	snprintf(shape, sizeof(shape), "%uh T=%u ctx=%u%s%s", n_head, T, ctx,
		 ct == HAL_TYPE_F32 ? "" : " ", ct == HAL_TYPE_F32 ? "" : hal_type_name(ct));
	int rc = bench_op(b, &a.op, "attention", shape,
			  T == 1 ? 2.0 * (double)hal_row_bytes(ct, D) * ctx : 0.0,
			  4.0 * a.cache_rows * D);
	bench_attention_free(&a);
	return rc;
}

/* Every kernel on one thread count: the ceilings of this run, then a row per kernel. */
static int cpu_threads(struct bench *b, uint32_t threads, uint8_t *buf)
{
	struct hal_device_options dopts = { .n_threads = threads };
	char err[256] = "";
	int rc = 0;

	if (hal_cpu_fast_create(&dopts, &b->dev, err, sizeof(err))) {
		fprintf(stderr, "npu-bench: cpu backend: %s\n", err);
		return -1;
	}
	const uint32_t nt = hal_cpu_fast_threads(b->dev);
	b->ceiling = measure_ceiling(b->dev, buf, 5);
	run_ceiling = b->ceiling;
	const char *instr;
	double gmacs = hal_cpu_fast_peak_gmacs(b->dev, &instr);

	run_peak_gops = 2.0 * gmacs;
	run_scale_gops = 2.0 * hal_cpu_fast_scale_gmacs(b->dev);
	bench_report_note(b->rep, "%u threads: bandwidth ceiling (read of 512 MiB, best of 5) "
			  "%.1f GB/s", nt, b->ceiling);
	if (gmacs > 0)
		bench_report_note(b->rep, "; compute ceiling (%s) %.1f GOPS int8", instr,
				  run_peak_gops);
	if (run_scale_gops > 0)
		bench_report_note(b->rep, "; scaling ceiling (the float scaling of each 16x16 tile's "
				  "sums per 32-deep block, vector unit alone) %.1f GOPS",
				  run_scale_gops);
	bench_report_note(b->rep, "\n");

	/* a 4096 x 14336 layer (decode T=1, prefill T=128) */
	const enum hal_type big[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16 };
	for (size_t i = 0; i < 3 && !rc; i++)
		rc = bench_matmul(b, big[i], 4096, 14336, 1);
	for (size_t i = 0; i < 2 && !rc; i++)
		rc = bench_matmul(b, big[i], 4096, 14336, 128);

	/* the ~130 M model (dim 768, ffn 2048, vocab 32000) */
	const uint32_t shapes[][2] = { { 768, 768 }, { 768, 2048 }, { 2048, 768 }, { 768, 32000 } };
	for (size_t t = 0; t < 2 && !rc; t++)
		for (size_t s = 0; s < 4 && !rc; s++)
			for (uint32_t T = 1; T <= 128 && !rc; T += 127)
				rc = bench_matmul(b, t ? HAL_TYPE_Q4_0 : HAL_TYPE_Q8_0,
						  shapes[s][0], shapes[s][1], T);
	/* llama.cpp's K-quants (Q4_K_M files), in the file layout */
	const enum hal_type kq[] = { HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	for (size_t t = 0; t < 3 && !rc; t++)
		for (size_t s = 0; s < 4 && !rc; s++)
			for (uint32_t T = 1; T <= 128 && !rc; T += 127)
				rc = bench_matmul(b, kq[t], shapes[s][0], shapes[s][1], T);
	rc = rc ? rc : bench_matmul(b, HAL_TYPE_F32, 768, 768, 1);
	rc = rc ? rc : bench_rows(b, 768, 1);
	rc = rc ? rc : bench_rows(b, 768, 128);
	rc = rc ? rc : bench_rows(b, 2048, 128);
	rc = rc ? rc : bench_attention(b, 12, 64, 1, 512, HAL_TYPE_F32);
	rc = rc ? rc : bench_attention(b, 12, 64, 128, 128, HAL_TYPE_F32);
	rc = rc ? rc : bench_attention(b, 12, 64, 1, 4096, HAL_TYPE_F32);
	/* the decode at a long context in the KV cache types sessions use (F16 the default) */
	rc = rc ? rc : bench_attention(b, 12, 64, 1, 4096, HAL_TYPE_F16);
	rc = rc ? rc : bench_attention(b, 12, 64, 1, 4096, HAL_TYPE_Q8_0);
	/* and a prefill's 128 tokens after 4096 in the default cache */
	rc = rc ? rc : bench_attention(b, 12, 64, 128, 4224, HAL_TYPE_F16);
	if (!rc)
		bench_report_note(b->rep, "%u threads: bandwidth ceiling again at the end: %.1f GB/s "
				  "(drift: compare with %.1f)\n", nt, measure_ceiling(b->dev, buf, 3),
				  b->ceiling);
	hal_device_destroy(b->dev);
	b->dev = NULL;
	return rc;
}

static int cmd_cpu(const struct opts *o)
{
	struct bench_report rep;
	uint8_t *buf = hal_cpu_fast_read_buffer(BW_BUF);
	struct bench b = { .reps = o->reps, .rep = &rep, .bw_buf = buf };
	int rc = 0;

	if (!buf) {
		fprintf(stderr, "npu-bench cpu: out of memory (512 MiB for the bandwidth read)\n");
		return 1;
	}
	bench_report_begin(&rep, o->fmt, stdout, kernel_cols,
			   sizeof(kernel_cols) / sizeof(kernel_cols[0]));
	bench_report_note(&rep, "npu-bench cpu: us is the mean ± stddev of %u runs; the rates are "
			  "of the median. Decode rows: %%read is the share of the GB/s of a read\n"
			  "of the same bytes timed right after each run (the host's bandwidth drift "
			  "cancels out), %%ceil of the bandwidth ceiling;\nquantized prefill rows "
			  "(T=128): %%int8 of the compute ceiling (%%scale: of the scaling ceiling)\n",
			  b.reps);
	for (uint32_t i = 0; i < o->threads.n && !rc; i++)
		rc = cpu_threads(&b, o->threads.v[i], buf);
	bench_report_end(&rep);
	free(buf);
	return rc ? 1 : 0;
}

/* ---- end to end --------------------------------------------------------------------------- */

enum { E_MODEL, E_MIB, E_DEVICE, E_THREADS, E_CACHE, E_TEST, E_PROMPT, E_GEN, E_DEPTH, E_TPS,
       E_WGBS, E_CEIL, E_CEILGBS, E_KV_MIB };

static const struct bench_col e2e_cols[] = {
	[E_MODEL] = { "model", NULL, BENCH_COL_STR, 16, 0, NULL },
	[E_MIB] = { "size_mib", "MiB", BENCH_COL_NUM, 7, 1, NULL },
	[E_DEVICE] = { "device", NULL, BENCH_COL_STR, 7, 0, NULL },
	[E_THREADS] = { "threads", NULL, BENCH_COL_INT, 7, 0, NULL },
	[E_CACHE] = { "cache_type", "KV", BENCH_COL_STR, 4, 0, NULL },
	[E_TEST] = { "test", NULL, BENCH_COL_STR, 7, 0, NULL },
	[E_PROMPT] = { "n_prompt", NULL, BENCH_COL_INT, 8, 0, NULL },
	[E_GEN] = { "n_gen", NULL, BENCH_COL_INT, 5, 0, NULL },
	[E_DEPTH] = { "n_depth", NULL, BENCH_COL_INT, 7, 0, NULL },
	[E_TPS] = { "tps", "t/s", BENCH_COL_STAT, 20, 2, NULL },
	[E_WGBS] = { "weights_gbs", "GB/s", BENCH_COL_NUM, 6, 1, NULL },
	[E_CEIL] = { "ceiling_pct", "%ceil", BENCH_COL_NUM, 5, 0, NULL },
	[E_CEILGBS] = { "ceiling_gbs", "ceil GB/s", BENCH_COL_NUM, 9, 1, NULL },
	[E_KV_MIB] = { "kv_cache_mib", "KV MiB", BENCH_COL_NUM, 7, 2, NULL },
};

/* What every test of one model, device and thread count shares. */
struct e2e_run {
	const struct opts *o;
	struct bench_report *rep;
	enpu_session *s;
	enpu_token *prompt; /* the longest prompt; shorter tests take its start */
	const char *model, *device;
	double file_bytes, decode_bytes, ceiling, kv_bytes;
	uint32_t threads;
};

static void e2e_row(const struct e2e_run *e, const char *test, uint32_t n_prompt,
		    uint32_t n_gen, const double *tps)
{
	struct bench_report *r = e->rep;
	const char *base = strrchr(e->model, '/');

	bench_report_str(r, E_MODEL, base ? base + 1 : e->model);
	bench_report_num(r, E_MIB, e->file_bytes / (1 << 20));
	bench_report_str(r, E_DEVICE, e->device ? e->device : "cpu");
	bench_report_int(r, E_THREADS, e->threads);
	bench_report_str(r, E_CACHE, enpu_cache_type_name(e->o->cache_type));
	bench_report_num(r, E_KV_MIB, e->kv_bytes / (1 << 20));
	bench_report_str(r, E_TEST, test);
	bench_report_int(r, E_PROMPT, n_prompt);
	bench_report_int(r, E_GEN, n_gen);
	bench_report_int(r, E_DEPTH, e->o->depth);
	bench_report_stat(r, E_TPS, tps, e->o->reps);
	if (e->ceiling > 0)
		bench_report_num(r, E_CEILGBS, e->ceiling);
	if (n_gen && e->decode_bytes > 0) {
		struct bench_stat st;

		/* a decoded token reads every weight once, one row of the embedding table */
		bench_stat_of(tps, e->o->reps, &st);
		bench_report_num(r, E_WGBS, e->decode_bytes * st.mean / 1e9);
		if (e->ceiling > 0)
			bench_report_num(r, E_CEIL, 100.0 * e->decode_bytes * st.mean / 1e9 /
					 e->ceiling);
	}
	bench_report_row(r);
}

/*
 * As llama-bench's tests: ppN, N prompt tokens evaluated at once; tgN, N tokens decoded one at
 * a time (greedy here, random there), the first after the prompt's first token; each from a
 * cache holding --depth tokens (untimed; 0, an empty cache, is llama-bench's default -d 0).
 * reps timed runs after one untimed (it faults pages and builds the graphs of these sizes).
 */
static int e2e_test(const struct e2e_run *e, uint32_t n_prompt, uint32_t n_gen, double *tps)
{
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	const uint32_t depth = e->o->depth;

	for (uint32_t r = 0; r < e->o->reps + 1; r++) {
		enpu_token tok = e->prompt[depth];
		double t0;

		if (enpu_session_reset(e->s) || (depth && enpu_session_eval(e->s, e->prompt, depth)))
			return -1;
		t0 = bench_now_s();
		if (n_prompt && enpu_session_eval(e->s, e->prompt + depth, n_prompt))
			return -1;
		for (uint32_t i = 0; i < n_gen; i++)
			if (enpu_session_eval(e->s, &tok, 1) || enpu_sample(e->s, &greedy, NULL, &tok))
				return -1;
		if (r > 0)
			tps[r - 1] = (n_gen ? n_gen : n_prompt) / (bench_now_s() - t0);
	}
	return 0;
}

static double measure_ceiling_threads(uint32_t threads)
{
	const struct hal_device_options dopts = { .n_threads = threads };
	struct hal_device *cpu = NULL;
	char err[256];
	double ceiling = 0.0;
	uint8_t *buf = hal_cpu_fast_read_buffer(BW_BUF);

	if (buf && !hal_cpu_fast_create(&dopts, &cpu, err, sizeof(err)))
		ceiling = measure_ceiling(cpu, buf, 5);
	hal_device_destroy(cpu);
	free(buf);
	return ceiling;
}

static uint32_t list_max(const struct u32_list *l)
{
	uint32_t m = 0;

	for (uint32_t i = 0; i < l->n; i++)
		m = l->v[i] > m ? l->v[i] : m;
	return m;
}

/* Every test of one model on one device and thread count. */
static int e2e_config(struct e2e_run *e, double *tps)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	const struct opts *o = e->o;
	enpu_context *ctx = NULL;
	enpu_model *m = NULL;
	uint64_t seed = 3;
	int rc = -1;
	char test[32];

	co.device = e->device;
	co.n_threads = e->threads;
	so.n_ctx = o->depth + list_max(&o->prompt) + list_max(&o->gen) + 1;
	so.cache_type = o->cache_type;
	if (enpu_context_create(&co, &ctx)) {
		fprintf(stderr, "npu-bench e2e: %s\n", enpu_last_error(NULL));
		return -1;
	}
	if (enpu_model_load(ctx, e->model, NULL, &m) || enpu_model_info(m, &info) ||
	    enpu_session_create(m, &so, &e->s)) {
		fprintf(stderr, "npu-bench e2e: %s: %s\n", e->model, enpu_last_error(ctx));
		goto out;
	}
	for (uint32_t i = 0; i < o->depth + list_max(&o->prompt) + 1; i++)
		e->prompt[i] = (enpu_token)(3 + bench_rng_next(&seed) % (info.n_vocab - 3));
	e->decode_bytes = (double)info.decode_bytes;
	/* at a long context, what the cache's format saves: its bytes for this session */
	e->kv_bytes = (double)enpu_session_cache_bytes(e->s, NULL);
	for (uint32_t i = 0; i < o->prompt.n; i++) {
		if (e2e_test(e, o->prompt.v[i], 0, tps))
			goto fail;
		snprintf(test, sizeof(test), "pp%u", o->prompt.v[i]);
		e2e_row(e, test, o->prompt.v[i], 0, tps);
	}
	for (uint32_t i = 0; i < o->gen.n; i++) {
		if (e2e_test(e, 0, o->gen.v[i], tps))
			goto fail;
		snprintf(test, sizeof(test), "tg%u", o->gen.v[i]);
		e2e_row(e, test, 0, o->gen.v[i], tps);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "npu-bench e2e: eval: %s\n", enpu_last_error(ctx));
out:
	enpu_session_free(e->s);
	e->s = NULL;
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	return rc;
}

/* The model file's size; 0 for anything but a regular file (stat: a FIFO is never opened). */
static double file_bytes(const char *path)
{
	struct stat sb;

	return !stat(path, &sb) && S_ISREG(sb.st_mode) ? (double)sb.st_size : 0.0;
}

static int cmd_e2e(const struct opts *o)
{
	struct bench_report rep;
	struct e2e_run e = { .o = o, .rep = &rep };
	double *tps = calloc(o->reps, sizeof(double));
	double ceilings[MAX_LIST];
	int rc = 0;

	e.prompt = calloc(o->depth + list_max(&o->prompt) + 1, sizeof(enpu_token));
	if (!tps || !e.prompt) {
		free(tps);
		free(e.prompt);
		return 1;
	}
	bench_report_begin(&rep, o->fmt, stdout, e2e_cols, sizeof(e2e_cols) / sizeof(e2e_cols[0]));
	bench_report_note(&rep, "npu-bench e2e: t/s is the mean ± stddev of %u runs after an "
			  "untimed one; ppN: N prompt tokens at once, tgN: N tokens decoded one by one, "
			  "each test from a cache of n_depth tokens (as llama-bench's);\nGB/s: the weights a "
			  "decoded token reads (one row of the embedding table), %%ceil: of the "
			  "bandwidth ceiling (read of 512 MiB, best of 5)\n", o->reps);
	for (uint32_t t = 0; t < o->threads.n; t++)
		ceilings[t] = measure_ceiling_threads(real_threads(o->threads.v[t]));
	for (uint32_t mi = 0; mi < o->model.n && !rc; mi++)
		for (uint32_t d = 0; d < o->device.n && !rc; d++)
			for (uint32_t t = 0; t < o->threads.n && !rc; t++) {
				e.model = o->model.v[mi];
				e.device = o->device.v[d];
				e.threads = real_threads(o->threads.v[t]);
				e.ceiling = ceilings[t];
				e.file_bytes = file_bytes(e.model);
				rc = e2e_config(&e, tps);
			}
	bench_report_end(&rep);
	free(tps);
	free(e.prompt);
	return rc ? 1 : 0;
}

/* ---- batch ------------------------------------------------------------------------------- */

static int cmd_batch(const struct opts *o)
{
	struct bench_batch_options b = {
		.model = one_str(&o->model), .device = one_str(&o->device),
		.threads = one_u32(&o->threads, 0), .reps = o->reps ? o->reps : 5,
		.prompt = one_u32(&o->prompt, 32), .steps = one_u32(&o->gen, 32), .jobs = o->jobs,
		.fmt = o->fmt,
	};

	static const uint32_t dflt[] = { 1, 4, 8 };

	/* --sizes was checked as it was parsed (take_option) */
	if (o->sizes.n ? bench_batch_set_sizes(o->sizes.v, o->sizes.n, &b)
		       : bench_batch_set_sizes(dflt, 3, &b))
		return 2;
	return bench_batch_main(&b);
}

/* ---- spec -------------------------------------------------------------------------------- */

static int cmd_spec(const struct opts *o)
{
	struct bench_spec_options b = {
		.model = one_str(&o->model), .device = one_str(&o->device), .draft = o->draft,
		.draft_type = o->draft_type, .threads = one_u32(&o->threads, 0),
		.reps = o->reps ? o->reps : 3, .prompt = one_u32(&o->prompt, 16),
		.gen = one_u32(&o->gen, 128), .spec_k = o->spec_k, .profile = o->profile,
		.fmt = o->fmt,
	};

	if (o->draft && o->draft_type) {
		fprintf(stderr, "npu-bench spec: --draft and --draft-type both give the draft: "
			"use one\n");
		return 2;
	}
	return bench_spec_main(&b);
}

/* ---- calibrate ---------------------------------------------------------------------------- */

static const char calib_notes[] =
	"Measured on this host by `npu-bench calibrate`: per device, launch_us is the median time\n"
	"of an add of 32 floats; bandwidth_gbs the best GB/s of a decode (T=1) matmul streaming its\n"
	"weights from DRAM; each rate the ops of a prefill-shaped op (counted as sched/dag.c counts\n"
	"them) over its time less the launch, per cycle of the top opp; type_scale each weight\n"
	"type's prefill matmul rate over Q8_0's; gpu sync_us the cpu->gpu->cpu round trip of a\n"
	"tiny tensor less both launches; memory the 512 MiB read ceiling (at least the\n"
	"best bandwidth_gbs); shares_cores: the OpenCL device is a CPU device (PoCL) on the\n"
	"same cores as the cpu backend.\n"
	"NOT measured: the opp lines (the clock rates are relative to), cap_nf, stall_activity,\n"
	"leak_mw, idle_mw, suspend_mw, wake_us, autosuspend_us, dram_pj_per_byte and budget_mw are\n"
	"estimates kept from the base profile; no power meter is readable on this host.\n"
	"The npu device is the in-process simulated NPU: its opps, matmul rate (2 x the MAC array),\n"
	"bandwidth, launch and cap_nf (its energy per MAC) are the engine model's\n"
	"(kmod/silicon/npu_engine.c), not measured; its leakage and idle lines are estimates "
	"as above.";

enum { C_DEVICE, C_LAUNCH, C_SYNC, C_BW, C_MATMUL, C_Q4, C_F16, C_ATTN, C_MEM };

static const struct bench_col calib_cols[] = {
	[C_DEVICE] = { "device", NULL, BENCH_COL_STR, 8, 0, NULL },
	[C_LAUNCH] = { "launch_us", "launch us", BENCH_COL_NUM, 9, 2, NULL },
	[C_SYNC] = { "sync_us", "sync us", BENCH_COL_NUM, 8, 2, NULL },
	[C_BW] = { "bandwidth_gbs", "GB/s", BENCH_COL_NUM, 7, 2, NULL },
	[C_MATMUL] = { "matmul_ops_per_cycle", "matmul/cyc", BENCH_COL_NUM, 10, 1, NULL },
	[C_Q4] = { "q4_0_scale", "q4_0 x", BENCH_COL_NUM, 7, 3, NULL },
	[C_F16] = { "f16_scale", "f16 x", BENCH_COL_NUM, 7, 3, NULL },
	[C_ATTN] = { "attention_ops_per_cycle", "attn/cyc", BENCH_COL_NUM, 9, 1, NULL },
	[C_MEM] = { "memory_gbs", "mem GB/s", BENCH_COL_NUM, 8, 2, NULL },
};

/* The profile as written and parsed back, a row per device: what the scheduler will use. */
static void calib_report(enum bench_format fmt, const struct sched_profile *p)
{
	struct bench_report rep;

	bench_report_begin(&rep, fmt, stdout, calib_cols, sizeof(calib_cols) / sizeof(calib_cols[0]));
	for (uint32_t k = 0; k < p->n_dev; k++) {
		const struct sched_dev_profile *d = &p->dev[k];

		bench_report_str(&rep, C_DEVICE, d->name);
		bench_report_num(&rep, C_LAUNCH, d->launch_s * 1e6);
		bench_report_num(&rep, C_SYNC, d->sync_s * 1e6);
		bench_report_num(&rep, C_BW, d->bw / 1e9);
		bench_report_num(&rep, C_MATMUL, d->rate[HAL_OP_MATMUL]);
		bench_report_num(&rep, C_Q4, d->type_scale[HAL_TYPE_Q4_0]);
		bench_report_num(&rep, C_F16, d->type_scale[HAL_TYPE_F16]);
		bench_report_num(&rep, C_ATTN, d->rate[HAL_OP_ATTENTION]);
		bench_report_num(&rep, C_MEM, p->mem_bw / 1e9);
		bench_report_row(&rep);
	}
	bench_report_end(&rep);
}

static int cmd_calibrate(const struct opts *o)
{
	struct bench_calib_opts co = { .reps = o->reps, .threads = one_u32(&o->threads, 0),
				       .no_gpu = o->no_gpu,
				       /* the measurements as they come are prose: beside the table */
				       .log = o->fmt == BENCH_FMT_TEXT ? stdout : stderr };
	struct sched_profile *base = calloc(1, sizeof(*base)), *out = calloc(1, sizeof(*out));
	const char *path = o->profile_out ? o->profile_out : "host.prof";
	char err[512] = "";
	int rc = 1;

	if (!base || !out)
		goto done;
	if (sched_profile_find(o->base ? o->base : "host", base, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: base profile: %s\n", err);
		goto done;
	}
	/*
	 * A path that cannot be written is said now, not after minutes of measuring; probed
	 * without replacing it, so a failed or interrupted run leaves the profile there as it was
	 */
	if (hal_file_probe(path, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: %s\n", err);
		goto done;
	}
	fprintf(co.log, "npu-bench calibrate: base %s, median of %u runs\n", base->path, co.reps);
	if (bench_calibrate(&co, base, out, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: %s\n", err);
		goto done;
	}
	if (sched_profile_write_notes(out, path, calib_notes, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: %s\n", err);
		goto done;
	}
	/* what was written must be what the scheduler reads: parse it back */
	if (sched_profile_load(path, base, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: wrote %s but it does not parse: %s\n", path,
			err);
		goto done;
	}
	fprintf(co.log, "wrote %s (parsed back: profile %s, %u devices)\n", path, base->name,
		base->n_dev);
	calib_report(o->fmt, base);
	rc = 0;
done:
	free(base);
	free(out);
	return rc;
}

/* ---- command line ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: npu-bench cpu [--threads N,...] [--reps N] [-o FMT]\n"
		"       npu-bench e2e -m MODEL.gguf,... [--threads N,...] [--prompt-tokens N,...]\n"
		"                     [--gen-tokens N,...] [--reps N] [--device D,...]\n"
		"                     [--cache-type T] [--depth N] [-o FMT]\n"
		"       npu-bench batch -m MODEL.gguf [--threads N] [--sizes 1,4,8] [--jobs]\n"
		"                     [--reps N] [--prompt-tokens N] [--gen-tokens N] [--device D]\n"
		"                     [-o FMT]\n"
		"       npu-bench spec -m MODEL.gguf [--draft-type T | --draft FILE] [--spec-k K]\n"
		"                     [--profile P]\n"
		"                     [--threads N] [--prompt-tokens N] [--gen-tokens N]\n"
		"                     [--reps N] [--device D] [-o FMT]\n"
		"       npu-bench calibrate [-w FILE] [--base PROFILE] [--reps N] [--threads N]\n"
		"                     [--no-gpu] [-o FMT]\n"
		"       npu-bench npu [--device npu|npu-drm] [--reps N] [-o FMT]\n"
		"       npu-bench load -m MODEL.gguf [--device D] [--reps N] [-o FMT]\n"
		"       npu-bench cancel -m MODEL.gguf [--prompt-tokens N] [--device D] [--threads N]\n"
		"                     [--reps N] [-o FMT]\n"
		"       npu-bench sched [--profile P]... [--dags N] [--seed S] [-o FMT]\n"
		"       npu-bench thermal -m MODEL [--profile P] [--seconds S] [--ctx N]\n"
		"                     [--trace FILE.csv]\n"
		"\n"
		"cpu: the memory-bandwidth ceiling (read of a 512 MiB buffer) and every kernel of\n"
		"     the fast CPU backend on a 4096x14336 layer and the ~130 M model's shapes:\n"
		"     time, GB/s of weights streamed, GOPS, and the ratio to the ceiling measured\n"
		"     in the same run: the read for decode, the int8 dot instruction's rate for\n"
		"     prefill (and on AMX the rate of the blocks' float scaling alone).\n"
		"     ENPU_CPU_ISA=scalar|avx2|avxvnni|avx512|amx|neon picks the kernels.\n"
		"e2e: prefill (ppN) and decode (tgN) tokens/s through the public API, mean ± stddev\n"
		"     of --reps runs, as llama-bench prints them (tgN from an empty cache, or one of\n"
		"     --depth tokens); every combination of the lists.\n"
		"batch: n sessions decoding together, one enpu_session_eval_many per step: aggregate\n"
		"     tokens/s per n and its ratio to one session in the same round (mean ± stddev\n"
		"     over --reps rounds, the sizes interleaved; defaults: 32 prompt tokens, 32\n"
		"     steps, 5 rounds).\n"
		"spec: greedy decode tokens/s with speculative decoding (a draft proposes tokens, the\n"
		"     model verifies them in one batch) against without, back to back in each of\n"
		"     --reps rounds (3): the ratio, the acceptance rate, whether the tokens are the\n"
		"     same (exit 1 when not); then the step times and the cost model's speed-up.\n"
		"     Draft: the model requantized to --draft-type (q4_0 default, q4_k, q5_k, q6_k,\n"
		"     q8_0) or --draft FILE; --spec-k K fixes k (default adaptive up to 8).\n"
		"     Defaults: 16 prompt tokens, 128 generated.\n"
		"cancel: an async eval job of --prompt-tokens (512) cancelled halfway: how long\n"
		"     from the cancel until the job has finished (over --reps runs, 10).\n"
		"load: enpu_model_load with the file mapped and read through io_uring, cold (its\n"
		"     pages dropped from the page cache) and warm (over --reps runs, 5).\n"
		"npu: submit-to-complete of an empty job, one at a time (median, p99 of --reps,\n"
		"     default 2000), in process (npu) or through edge_npu.ko (npu-drm), beside\n"
		"     the engine called directly on the same stream.\n"
		"calibrate: measures devices cpu and (if it opens) gpu on the ~130 M model's shapes\n"
		"     (bandwidth, per-op rates, matmul type scales, launch and sync overhead) and\n"
		"     writes a device profile from the base profile (default: host), whose power\n"
		"     figures and opps are kept as estimates; the npu device gets the engine model's\n"
		"     figures. The file is parsed back, and its devices' figures printed.\n"
		"sched: the partitioner against the exhaustive optimum on --dags small random\n"
		"     graphs, and against HEFT, all-on-CPU and all-on-NPU on the transformer\n"
		"     graphs; the power manager at latency targets; per --profile (phone and mw by\n"
		"     default). All modeled; prose for people, a row per figure with -o.\n"
		"thermal: a modeled sustained decode of MODEL's shape (context --ctx) for\n"
		"     --seconds on a profile with a thermal path (phone by default), planned within\n"
		"     the supply budget alone and within the thermal budget, under a step-wise\n"
		"     governor: tokens/s, mJ/token, peak temperature, time throttled per plan.\n"
		"\n"
		"  -o, --output FMT       text (default, a table for people), csv, json or md\n"
		"  -t, --threads N,...    threads (default: one per online core)\n"
		"  -r, --reps N           repetitions (default 10 cpu, calibrate and cancel; 5 e2e,\n"
		"                         batch and load; 3 spec; 2000 npu)\n"
		"  -m, --model FILE,...   model (make one with npu-mkmodel); thermal: its shape\n"
		"  -p, --prompt-tokens N,...  prefill lengths (default 128 e2e, 32 batch, 16 spec,\n"
		"                         512 cancel)\n"
		"  -n, --gen-tokens N,...     decoded tokens per run (default 64 e2e, 32 batch,\n"
		"                         128 spec)\n"
		"  -d, --device D,...     device (default cpu; npu for npu)\n"
		"      --cache-type T     e2e: KV cache f16 (default), q8_0 or f32\n"
		"      --depth N          e2e: tokens in the cache before each test (default 0, as\n"
		"                         llama-bench's -d)\n"
		"  -s, --sizes LIST       batch: numbers of sessions, comma-separated (default 1,4,8)\n"
		"      --jobs             batch: through async generate jobs (the job thread batches\n"
		"                         their steps), and one session's against enpu_generate\n"
		"      --draft-type T     spec: the model requantized to T as the draft\n"
		"      --draft FILE       spec: a draft model of the same vocabulary\n"
		"      --spec-k K         spec: draft tokens per verification (1..16; default adaptive)\n"
		"      --profile P        a profile (phone, mw, host or a .prof file): spec: also\n"
		"                         the comparison modeled on P; sched: one to compare on\n"
		"                         (repeatable; default phone and mw); thermal: the\n"
		"                         silicon and its thermal path (default phone)\n"
		"      --dags N           sched: small random graphs compared with the optimum\n"
		"                         (default 200; 0 skips it; at most 100000)\n"
		"      --seed S           sched: the random graphs' seed (default 42)\n"
		"  -s, --seconds S        thermal: modeled seconds of decoding (default 60)\n"
		"      --ctx N            thermal: the context each token attends to (default 128)\n"
		"      --trace FILE.csv   thermal: the governor's view every 100 ms, as CSV\n"
		"  -w, --write FILE       calibrate: profile to write (default ./host.prof)\n"
		"  -b, --base PROFILE     calibrate: name or path of the profile to start from\n"
		"      --no-gpu           calibrate: do not open the OpenCL device\n"
		"  -h, --help             this help\n"
		"      --version          the version\n"
		"Lists (N,...) sweep where a subcommand says so (cpu: -t; e2e: -t -p -n -m -d);\n"
		"an option a subcommand does not take is refused.\n");
}

/* What each subcommand takes (getopt letters) and which of those may be comma lists. */
static const struct subcommand {
	const char *name, *takes, *lists;
} subcommands[] = {
	{ "cpu", "tro", "t" },
	{ "e2e", "trmpndoCD", "tmpnd" },
	{ "batch", "trmpndsJo", "" },
	{ "npu", "dro", "" },
	{ "load", "mdro", "" },
	{ "cancel", "mpdtro", "" },
	{ "calibrate", "rtwbGo", "" },
	{ "spec", "trmpndoTFKP", "" },
};

static const struct option longopts[] = {
	{ "threads", required_argument, NULL, 't' },
	{ "reps", required_argument, NULL, 'r' },
	{ "model", required_argument, NULL, 'm' },
	{ "prompt-tokens", required_argument, NULL, 'p' },
	{ "gen-tokens", required_argument, NULL, 'n' },
	{ "device", required_argument, NULL, 'd' },
	{ "output", required_argument, NULL, 'o' },
	{ "write", required_argument, NULL, 'w' },
	{ "base", required_argument, NULL, 'b' },
	{ "no-gpu", no_argument, NULL, 'G' },
	{ "sizes", required_argument, NULL, 's' },
	{ "jobs", no_argument, NULL, 'J' },
	{ "cache-type", required_argument, NULL, 'C' },
	{ "depth", required_argument, NULL, 'D' },
	{ "draft-type", required_argument, NULL, 'T' },
	{ "draft", required_argument, NULL, 'F' },
	{ "spec-k", required_argument, NULL, 'K' },
	{ "profile", required_argument, NULL, 'P' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* "--threads (-t)" for messages: the names a user may have typed. */
static const char *opt_name(int c, char *buf, size_t len)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c) {
			if (strchr("trmpndowbsh", c))
				snprintf(buf, len, "--%s (-%c)", o->name, c);
			else
				snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	snprintf(buf, len, "-%c", c);
	return buf;
}

/* Splits s at commas into l (at most MAX_LIST entries, none empty); -1 when malformed. */
static int parse_str_list(const char *s, struct str_list *l)
{
	free(l->buf);
	l->buf = strdup(s);
	l->n = 0;
	if (!l->buf)
		return -1;
	for (char *p = l->buf, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)); p = NULL) {
		if (l->n == MAX_LIST)
			return -1;
		l->v[l->n++] = tok;
	}
	/* "a,,b", ",a" and "a," are typing mistakes, not lists with an empty entry */
	return l->n && !strstr(s, ",,") && s[0] != ',' && s[strlen(s) - 1] != ',' ? 0 : -1;
}

/* Numbers 1..1000000 separated by commas; -1 when malformed. */
static int parse_u32_list(const char *s, struct u32_list *l)
{
	struct str_list sl = { 0 };
	int rc = parse_str_list(s, &sl);

	l->n = 0;
	for (uint32_t i = 0; !rc && i < sl.n; i++) {
		char *end;
		errno = 0;
		long v = strtol(sl.v[i], &end, 10);

		if (errno || *end || end == sl.v[i] || v <= 0 || v > 1000000)
			rc = -1;
		else
			l->v[l->n++] = (uint32_t)v;
	}
	free(sl.buf);
	return rc;
}

/* One option of sub into o; 2 (the exit status) when refused, said on stderr. */
static int take_option(const struct subcommand *sub, int c, const char *arg, struct opts *o)
{
	char name[48];

	if (!strchr(sub->takes, c)) {
		fprintf(stderr, "npu-bench %s: %s does not apply to %s\n", sub->name,
			opt_name(c, name, sizeof(name)), sub->name);
		return 2;
	}
	if (arg && strchr(arg, ',') && strchr("tmpnd", c) && !strchr(sub->lists, c)) {
		fprintf(stderr, "npu-bench %s: %s takes one value here, not a list ('%s')\n",
			sub->name, opt_name(c, name, sizeof(name)), arg);
		return 2;
	}
	switch (c) {
	case 't': case 'p': case 'n':
		if (parse_u32_list(arg, c == 't' ? &o->threads : c == 'p' ? &o->prompt : &o->gen))
			goto bad_number;
		return 0;
	case 'r': {
		struct u32_list r;

		if (parse_u32_list(arg, &r) || r.n != 1)
			goto bad_number;
		o->reps = r.v[0];
		return 0;
	}
	case 'm': case 'd':
		if (parse_str_list(arg, c == 'm' ? &o->model : &o->device)) {
			fprintf(stderr, "npu-bench %s: %s '%s': names separated by commas\n",
				sub->name, opt_name(c, name, sizeof(name)), arg);
			return 2;
		}
		return 0;
	case 'o':
		if (bench_format_parse(arg, &o->fmt)) {
			fprintf(stderr, "npu-bench %s: -o '%s': text, csv, json or md%s\n", sub->name,
				arg, !strcmp(sub->name, "calibrate") ?
				" (the profile is written with -w FILE)" : "");
			return 2;
		}
		return 0;
	case 'w': o->profile_out = arg; return 0;
	case 'b': o->base = arg; return 0;
	case 'G': o->no_gpu = true; return 0;
	case 'J': o->jobs = true; return 0;
	case 'C':
		if (!enpu_cache_type_parse(arg, &o->cache_type)) {
			fprintf(stderr, "npu-bench %s: --cache-type is f16, q8_0 or f32, got '%s'\n",
				sub->name, arg);
			return 2;
		}
		return 0;
	case 's': {
		struct bench_batch_options b;

		/* the list parser of -t, -p and -n: no empty list, no empty entry */
		if (parse_u32_list(arg, &o->sizes) ||
		    bench_batch_set_sizes(o->sizes.v, o->sizes.n, &b)) {
			fprintf(stderr, "npu-bench %s: --sizes (-s) '%s': numbers from 1 to %d "
				"separated by commas, at most %d besides 1\n", sub->name, arg,
				ENPU_EVAL_MANY_MAX, BENCH_BATCH_MAX_SIZES - 1);
			return 2;
		}
		return 0;
	}
	case 'T': o->draft_type = arg; return 0;
	case 'P': {
		/* found now, so that a wrong name is refused before minutes of measuring */
		struct sched_profile *p = malloc(sizeof(*p));
		char err[512];
		int bad = !p || sched_profile_find(arg, p, err, sizeof(err));

		if (bad)
			fprintf(stderr, "npu-bench %s: --profile '%s': %s\n", sub->name, arg,
				p ? err : "out of memory");
		free(p);
		if (bad)
			return 2;
		o->profile = arg;
		return 0;
	}
	case 'F': o->draft = arg; return 0;
	case 'K': {
		struct u32_list k;

		if (parse_u32_list(arg, &k) || k.n != 1 || k.v[0] > 16) {
			fprintf(stderr, "npu-bench %s: --spec-k '%s': a number from 1 to 16\n",
				sub->name, arg);
			return 2;
		}
		o->spec_k = k.v[0];
		return 0;
	}
	case 'D': {
		char *end;

		errno = 0;
		unsigned long d = strtoul(arg, &end, 10);

		if (errno || *end || end == arg || *arg == '-' || d > 65536) {
			fprintf(stderr, "npu-bench %s: --depth '%s': a number of tokens from 0 to "
				"65536\n", sub->name, arg);
			return 2;
		}
		o->depth = (uint32_t)d;
		return 0;
	}
	}
	return 2;
bad_number:
	fprintf(stderr, "npu-bench %s: %s '%s': %s from 1 to 1000000\n", sub->name,
		opt_name(c, name, sizeof(name)), arg,
		strchr(sub->lists, c) ? "numbers separated by commas," : "a number");
	return 2;
}

/* Every default a subcommand has, and its required options; 2 when one is missing. */
static int defaults(const struct subcommand *sub, struct opts *o)
{
	const bool e2e = !strcmp(sub->name, "e2e");

	if (!o->threads.n)
		o->threads = (struct u32_list){ 1, { 0 } };
	if (e2e && !o->prompt.n)
		o->prompt = (struct u32_list){ 1, { 128 } };
	if (e2e && !o->gen.n)
		o->gen = (struct u32_list){ 1, { 64 } };
	if (!o->device.n)
		o->device = (struct str_list){ 1, { NULL }, NULL };
	if (!o->model.n && strchr(sub->takes, 'm')) {
		fprintf(stderr, "npu-bench %s: -m MODEL.gguf is required\n", sub->name);
		return 2;
	}
	if (!o->reps)
		o->reps = !strcmp(sub->name, "cpu") || !strcmp(sub->name, "calibrate") ? 10
			  : !strcmp(sub->name, "npu") ? 2000 : !strcmp(sub->name, "cancel") ? 10
			  : !strcmp(sub->name, "spec") ? 3 : 5;
	return 0;
}

static int run(const struct subcommand *sub, struct opts *o)
{
	const char *name = sub->name;

	if (!strcmp(name, "cpu"))
		return cmd_cpu(o);
	if (!strcmp(name, "e2e"))
		return cmd_e2e(o);
	if (!strcmp(name, "batch"))
		return cmd_batch(o);
	if (!strcmp(name, "spec"))
		return cmd_spec(o);
	if (!strcmp(name, "cancel"))
		return bench_cancel_main(one_str(&o->model), one_str(&o->device),
					 one_u32(&o->threads, 0), one_u32(&o->prompt, 512), o->reps,
					 o->fmt);
	if (!strcmp(name, "load"))
		return bench_load_main(one_str(&o->model), one_str(&o->device), o->reps, o->fmt);
	if (!strcmp(name, "npu"))
		return bench_npu_latency(one_str(&o->device), o->reps, o->fmt);
	return cmd_calibrate(o);
}

int main(int argc, char **argv)
{
	const struct subcommand *sub = NULL;
	struct opts o = { 0 };
	int c, rc = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("npu-bench (edge-npu) %s\n", enpu_version());
		return 0;
	}
	hal_file_clean_on_end_signals(); /* no temporary of -w or --trace left behind */
	/*
	 * sched: the scheduler's modeled comparisons; its options live in tools/bench/sched_bench.c.
	 * thermal: a modeled sustained decode with and without the thermal budget. Their argv[0]
	 * is what getopt names in its messages ("npu-bench sched: unrecognized option").
	 */
	if (!strcmp(argv[1], "sched")) {
		argv[1] = (char *)"npu-bench sched";
		return bench_sched_main(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "thermal")) {
		argv[1] = (char *)"npu-bench thermal";
		return bench_thermal_main(argc - 1, argv + 1);
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			sub = &subcommands[i];
	if (!sub) {
		fprintf(stderr, "npu-bench: unknown command '%s' (cpu, e2e, batch, npu, load, "
			"cancel, calibrate, spec, sched, thermal)\n", argv[1]);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while (!rc && (c = getopt_long(argc, argv, "t:r:m:p:n:d:o:w:b:s:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?') {
			usage(stderr);
			return 2;
		}
		rc = take_option(sub, c, optarg, &o);
	}
	if (!rc && optind < argc) {
		fprintf(stderr, "npu-bench %s: unexpected argument '%s'\n", sub->name, argv[optind]);
		rc = 2;
	}
	rc = rc ? rc : defaults(sub, &o);
	rc = rc ? rc : run(sub, &o);
	free(o.model.buf);
	free(o.device.buf);
	return rc;
}
