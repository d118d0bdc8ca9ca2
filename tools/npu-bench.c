/* SPDX-License-Identifier: MIT */
/*
 * npu-bench - benchmarks as programs, not timed tests.
 *
 *   npu-bench cpu  measures the memory-bandwidth ceiling (a STREAM-like read over a buffer far
 *                  larger than the last-level cache) and the compute ceiling (the kernels'
 *                  int8 dot instruction on every thread), then each kernel of the fast CPU
 *                  backend on the shapes of a 4096 x 14336 layer and of the ~130 M model,
 *                  printing each kernel's ratio to the ceiling of the same run that bounds it.
 *   npu-bench e2e  prefill and decode tokens/s of a model through the public API (medians).
 *   npu-bench batch  aggregate decode tokens/s of 1, 4, 8, ... sessions batched together
 *                  (enpu_session_eval_many) and the ratio to one session, in the same run
 *                  (tools/bench/batch_bench.c).
 *   npu-bench npu  submit-to-complete of an empty job on the NPU (ring, doorbell, the device
 *                  model's context, interrupt, fence), in process or through the kernel
 *                  driver, beside the engine called directly (tools/bench/npu_latency.c).
 *   npu-bench calibrate  measures the cpu and gpu devices and writes a device profile
 *                  (tools/bench/calibrate.c does the measuring, so that a test can run it).
 *
 * The machine's bandwidth drifts from minute to minute: compare ratios, not absolute figures.
 */
#include "bench/batch_bench.h"
#include "bench/calibrate.h"
#include "bench/cancel_bench.h"
#include "bench/load_bench.h"
#include "bench/measure.h"
#include "bench/npu_latency.h"
#include "bench/sched_bench.h"
#include "edge_npu.h"
#include "hal/cpu/cpu_fast.h"
#include "hal/hal.h"
#include "sched/profile.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	uint32_t threads, reps, prompt, gen;
	enum enpu_cache_type cache_type; /* e2e's KV cache */
	const char *model, *device, *output, *base, *sizes;
	bool no_gpu;
	bool jobs;
};


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
	const uint8_t *bw_buf;
	size_t bw_off;
	double ceiling;
	uint32_t reps;
};

static double run_ceiling; /* the 512 MiB read of this run, for the second ratio */
static double run_peak_gops; /* the int8 dot instruction's rate in this run (2 ops a MAC) */
static double run_scale_gops; /* AMX: the rate the blocks' float scaling allows */

/*
 * A kernel's time and rates, with its ratio to the ceiling that bounds it: a read of the same
 * bytes and the 512 MiB read (memory-bound rows), or the peak int8 rate (compute-bound rows,
 * peak set: quantized prefills).
 */
static void print_row(const char *what, const char *shape, double s, double bytes, double ops,
		      double ceiling, bool peak)
{
	double gbs = bytes / s / 1e9;

	printf("  %-22s %-18s %9.3f ms %8.1f GB/s %8.1f GOPS", what, shape, s * 1e3, gbs,
	       ops / s / 1e9);
	if (peak && run_peak_gops > 0 && run_scale_gops > 0)
		printf("  %5.1f %% of peak int8, %5.1f %% of scaling", 100.0 * ops / s / 1e9 /
		       run_peak_gops, 100.0 * ops / s / 1e9 / run_scale_gops);
	else if (peak && run_peak_gops > 0)
		printf("  %5.1f %% of peak int8", 100.0 * ops / s / 1e9 / run_peak_gops);
	else if (bytes > 0 && ceiling > 0)
		printf("  %5.1f %% of %4.1f, %5.1f %% of ceiling", 100.0 * gbs / ceiling, ceiling,
		       100.0 * gbs / run_ceiling);
	printf("\n");
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
	print_row(what, shape, bench_median(times, b->reps), (double)wbytes,
		  2.0 * K * N * T, (double)wbytes / bench_median(reads, b->reps) / 1e9,
		  T > 1 && (type == HAL_TYPE_Q8_0 || type == HAL_TYPE_Q4_0));
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

/* Times op on the device (median of reps); bytes and ops for the rates. */
static int bench_op(struct bench *b, struct hal_op *op, const char *what, const char *shape,
		    double bytes, double ops)
{
	char err[512];
	double s;

	if (bench_time_op(&b->dev, 1, op, b->reps, &s, err, sizeof(err))) {
		fprintf(stderr, "npu-bench: %s: %s\n", what, err);
		return -1;
	}
	print_row(what, shape, s, bytes, ops, 0.0, false);
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

/* T new tokens at positions ctx - T .. ctx - 1 over a cache of ctx rows. */
static int bench_attention(struct bench *b, uint32_t n_head, uint32_t hd, uint32_t T,
			   uint32_t ctx)
{
	const uint32_t D = n_head * hd;
	struct bench_attention a;
	char shape[48];

	if (bench_attention_init(&a, n_head, hd, T, ctx))
		return -1;
	snprintf(shape, sizeof(shape), "%uh T=%u ctx=%u", n_head, T, ctx);
	int rc = bench_op(b, &a.op, "attention", shape, T == 1 ? 8.0 * D * ctx : 0.0,
			  4.0 * a.cache_rows * D);
	bench_attention_free(&a);
	return rc;
}

static int cmd_cpu(const struct opts *o)
{
	struct hal_device_options dopts = { .n_threads = o->threads };
	struct bench b = { .reps = o->reps };
	char err[256] = "";
	int rc = 0;

	if (hal_cpu_fast_create(&dopts, &b.dev, err, sizeof(err))) {
		fprintf(stderr, "npu-bench: cpu backend: %s\n", err);
		return 1;
	}
	uint8_t *buf = hal_cpu_fast_read_buffer(BW_BUF);
	if (!buf) {
		hal_device_destroy(b.dev);
		return 1;
	}
	b.bw_buf = buf;
	printf("npu-bench cpu: kernels %s, %u threads, median of %u runs\n",
	       hal_cpu_fast_isa(b.dev), hal_cpu_fast_threads(b.dev), b.reps);
	b.ceiling = measure_ceiling(b.dev, buf, 5);
	run_ceiling = b.ceiling;
	const char *instr;
	double gmacs = hal_cpu_fast_peak_gmacs(b.dev, &instr);

	run_peak_gops = 2.0 * gmacs;
	printf("bandwidth ceiling (read of 512 MiB, %u threads, best of 5): %.1f GB/s\n",
	       hal_cpu_fast_threads(b.dev), b.ceiling);
	if (gmacs > 0)
		printf("compute ceiling (%s, %u threads, best of 5): %.1f GOPS int8\n", instr,
		       hal_cpu_fast_threads(b.dev), run_peak_gops);
	run_scale_gops = 2.0 * hal_cpu_fast_scale_gmacs(b.dev);
	if (run_scale_gops > 0)
		printf("scaling ceiling (the float scaling of each 16x16 tile's sums per 32-deep\n"
		       "block, on the vector unit alone, %u threads, best of 5): %.1f GOPS\n",
		       hal_cpu_fast_threads(b.dev), run_scale_gops);
	printf("decode rows: %% of the GB/s of a read of the same bytes timed right after each\n"
	       "run (median; the host's bandwidth drift cancels out), then %% of the bandwidth\n"
	       "ceiling; quantized prefill rows (T=128): %% of the compute ceiling\n\n");

	printf("layer 4096 x 14336 (decode T=1, prefill T=128):\n");
	const enum hal_type big[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16 };
	for (size_t i = 0; i < 3 && !rc; i++)
		rc = bench_matmul(&b, big[i], 4096, 14336, 1);
	for (size_t i = 0; i < 2 && !rc; i++)
		rc = bench_matmul(&b, big[i], 4096, 14336, 128);

	printf("\n~130 M model (dim 768, ffn 2048, vocab 32000):\n");
	const uint32_t shapes[][2] = { { 768, 768 }, { 768, 2048 }, { 2048, 768 }, { 768, 32000 } };
	for (size_t t = 0; t < 2 && !rc; t++)
		for (size_t s = 0; s < 4 && !rc; s++)
			for (uint32_t T = 1; T <= 128 && !rc; T += 127)
				rc = bench_matmul(&b, t ? HAL_TYPE_Q4_0 : HAL_TYPE_Q8_0,
						  shapes[s][0], shapes[s][1], T);
	/* llama.cpp's K-quants (Q4_K_M files), in the file layout: decode rows */
	const enum hal_type kq[] = { HAL_TYPE_Q4_K, HAL_TYPE_Q5_K, HAL_TYPE_Q6_K };
	for (size_t t = 0; t < 3 && !rc; t++)
		for (size_t s = 0; s < 4 && !rc; s++)
			rc = bench_matmul(&b, kq[t], shapes[s][0], shapes[s][1], 1);
	rc = rc ? rc : bench_matmul(&b, HAL_TYPE_F32, 768, 768, 1);
	rc = rc ? rc : bench_rows(&b, 768, 1);
	rc = rc ? rc : bench_rows(&b, 768, 128);
	rc = rc ? rc : bench_rows(&b, 2048, 128);
	rc = rc ? rc : bench_attention(&b, 12, 64, 1, 512);
	rc = rc ? rc : bench_attention(&b, 12, 64, 128, 128);
	rc = rc ? rc : bench_attention(&b, 12, 64, 1, 4096);

	double after = measure_ceiling(b.dev, buf, 3);
	printf("\nbandwidth ceiling again at the end: %.1f GB/s (drift: compare with %.1f)\n",
	       after, b.ceiling);
	free(buf);
	hal_device_destroy(b.dev);
	return rc ? 1 : 0;
}

/* ---- end to end --------------------------------------------------------------------------- */

static int e2e_fail(enpu_context *ctx, const char *what)
{
	fprintf(stderr, "npu-bench: %s: %s\n", what, enpu_last_error(ctx));
	return 1;
}

static int run_once(enpu_session *s, const enpu_token *prompt, const struct opts *o,
		    double *pf_s, double *dec_s)
{
	enpu_token tok;
	uint64_t rng = 1;
	struct enpu_sampler_options greedy = ENPU_SAMPLER_OPTIONS_INIT;
	double t0 = bench_now_s();

	if (enpu_session_reset(s) || enpu_session_eval(s, prompt, o->prompt))
		return -1;
	*pf_s = bench_now_s() - t0;
	t0 = bench_now_s();
	for (uint32_t i = 0; i < o->gen; i++)
		if (enpu_sample(s, &greedy, &rng, &tok) || enpu_session_eval(s, &tok, 1))
			return -1;
	*dec_s = bench_now_s() - t0;
	return 0;
}

static int cmd_e2e(const struct opts *o)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	enpu_context *ctx = NULL;
	enpu_model *m = NULL;
	enpu_session *s = NULL;
	double *pf = calloc(o->reps, sizeof(double)), *dec = calloc(o->reps, sizeof(double));
	enpu_token *prompt = calloc(o->prompt, sizeof(enpu_token));
	uint64_t seed = 3;
	int rc = 1;

	co.device = o->device;
	co.n_threads = o->threads;
	if (!pf || !dec || !prompt)
		goto out;
	if (enpu_context_create(&co, &ctx)) {
		rc = e2e_fail(NULL, "context");
		goto out;
	}
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	so.cache_type = o->cache_type;
	if (enpu_model_load(ctx, o->model, NULL, &m) || enpu_model_info(m, &info) ||
	    enpu_session_create(m, &so, &s)) {
		rc = e2e_fail(ctx, o->model);
		goto out;
	}
	for (uint32_t i = 0; i < o->prompt; i++)
		prompt[i] = (enpu_token)(3 + bench_rng_next(&seed) % (info.n_vocab - 3));
	/* --threads 0 (the default): one per online core, as the CPU device takes it */
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t threads = o->threads ? o->threads : online > 0 ? (uint32_t)online : 1;
	const struct hal_device_options dopts = { .n_threads = threads };
	struct hal_device *cpu = NULL;
	char err[256];
	double ceiling = 0.0;
	uint8_t *buf = hal_cpu_fast_read_buffer(BW_BUF);
	if (buf && !hal_cpu_fast_create(&dopts, &cpu, err, sizeof(err)))
		ceiling = measure_ceiling(cpu, buf, 5);
	hal_device_destroy(cpu);
	free(buf);

	printf("npu-bench e2e: %s, device %s, %u threads, prompt %u, generate %u, median of %u\n",
	       o->model, o->device ? o->device : "cpu", threads, o->prompt, o->gen, o->reps);
	printf("bandwidth ceiling (read, 512 MiB): %.1f GB/s\n", ceiling);
	printf("KV cache: %s, %.1f MiB\n", enpu_cache_type_name(o->cache_type),
	       (double)enpu_session_cache_bytes(s, NULL) / (1 << 20));
	for (uint32_t r = 0; r < o->reps + 1; r++) {
		double a, d;

		if (run_once(s, prompt, o, &a, &d)) {
			rc = e2e_fail(ctx, "eval");
			goto out;
		}
		if (r > 0) { /* the first run faults pages and builds graphs */
			pf[r - 1] = a;
			dec[r - 1] = d;
		}
	}
	double pf_tps = o->prompt / bench_median(pf, o->reps);
	double dec_tps = o->gen / bench_median(dec, o->reps);
	long fsize = 0;
	FILE *f = fopen(o->model, "rb");
	if (f && !fseek(f, 0, SEEK_END))
		fsize = ftell(f);
	if (f)
		fclose(f);
	printf("prefill: %8.1f tokens/s (%u tokens)\n", pf_tps, o->prompt);
	printf("decode:  %8.1f tokens/s (%u tokens)", dec_tps, o->gen);
	if (fsize > 0 && ceiling > 0)
		printf("  ~%.1f GB/s of weights, %.0f %% of ceiling", fsize * dec_tps / 1e9,
		       100.0 * fsize * dec_tps / 1e9 / ceiling);
	printf("\n");
	rc = 0;
out:
	enpu_session_free(s);
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	free(pf);
	free(dec);
	free(prompt);
	return rc;
}

/* ---- batch ------------------------------------------------------------------------------- */

static int cmd_batch(const struct opts *o)
{
	struct bench_batch_options b = {
		.model = o->model, .device = o->device, .threads = o->threads,
		.reps = o->reps ? o->reps : 5, .prompt = o->prompt ? o->prompt : 32,
		.steps = o->gen ? o->gen : 32, .jobs = o->jobs,
	};

	if (!o->model) {
		fprintf(stderr, "npu-bench batch: -m MODEL.gguf is required\n");
		return 2;
	}
	if (bench_batch_parse_sizes(o->sizes ? o->sizes : "1,4,8", &b)) {
		fprintf(stderr, "npu-bench batch: --sizes '%s': numbers 1..%d separated by commas, "
			"at most %d\n", o->sizes, ENPU_EVAL_MANY_MAX, BENCH_BATCH_MAX_SIZES);
		return 2;
	}
	return bench_batch_main(&b);
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

static int cmd_calibrate(const struct opts *o)
{
	struct bench_calib_opts co = { .reps = o->reps, .threads = o->threads,
				       .no_gpu = o->no_gpu, .log = stdout };
	struct sched_profile *base = calloc(1, sizeof(*base)), *out = calloc(1, sizeof(*out));
	const char *path = o->output ? o->output : "host.prof";
	char err[512] = "";
	int rc = 1;

	if (!base || !out)
		goto done;
	if (sched_profile_find(o->base ? o->base : "host", base, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: base profile: %s\n", err);
		goto done;
	}
	/* a path that cannot be written is said now, not after minutes of measuring */
	if (sched_profile_write(base, path, err, sizeof(err))) {
		fprintf(stderr, "npu-bench calibrate: %s\n", err);
		goto done;
	}
	printf("npu-bench calibrate: base %s, median of %u runs\n", base->path, co.reps);
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
	printf("wrote %s (parsed back: profile %s, %u devices)\n", path, base->name, base->n_dev);
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
		"usage: npu-bench cpu [--threads N] [--reps N]\n"
		"       npu-bench e2e -m MODEL.gguf [--threads N] [--prompt-tokens N]\n"
		"                     [--gen-tokens N] [--reps N] [--device D] [--cache-type T]\n"
		"       npu-bench batch -m MODEL.gguf [--threads N] [--sizes 1,4,8] [--reps N]\n"
		"                     [--prompt-tokens N] [--gen-tokens N] [--device D]\n"
		"       npu-bench calibrate [-o FILE] [--base PROFILE] [--reps N] [--threads N]\n"
		"                     [--no-gpu]\n"
		"       npu-bench npu [--device npu|npu-drm] [--reps N]\n"
		"       npu-bench load -m MODEL.gguf [--device D] [--reps N]\n"
		"       npu-bench cancel -m MODEL.gguf [--prompt-tokens N] [--device D] [--reps N]\n"
		"       npu-bench sched --help\n"
		"\n"
		"cpu: the memory-bandwidth ceiling (read of a 512 MiB buffer) and every kernel of\n"
		"     the fast CPU backend on a 4096x14336 layer and the ~130 M model's shapes:\n"
		"     time, GB/s of weights streamed, GOPS, and the ratio to the ceiling measured\n"
		"     in the same run: the read for decode, the int8 dot instruction's rate for\n"
		"     prefill (and on AMX the rate of the blocks' float scaling alone).\n"
		"     ENPU_CPU_ISA=scalar|avx2|avxvnni|avx512|amx|neon picks the kernels.\n"
		"e2e: prefill and decode tokens/s through the public API, median of --reps runs.\n"
		"batch: n sessions decoding together, one enpu_session_eval_many per step: aggregate\n"
		"     tokens/s per n (median and range of --reps rounds, the sizes interleaved) and\n"
		"     its ratio to one session in the same round (median and range over the rounds;\n"
		"     defaults: 32 prompt tokens, 32 steps, 5 rounds).\n"
		"cancel: an async eval job of --prompt-tokens (512) cancelled halfway: how long\n"
		"     from the cancel until the job has finished (median and range of --reps, 10).\n"
		"load: enpu_model_load with the file mapped and read through io_uring, cold (its\n"
		"     pages dropped from the page cache) and warm (median and range of --reps, 5).\n"
		"npu: submit-to-complete of an empty job, one at a time (median, p99 of --reps,\n"
		"     default 2000), in process (npu) or through edge_npu.ko (npu-drm), beside\n"
		"     the engine called directly on the same stream.\n"
		"calibrate: measures devices cpu and (if it opens) gpu on the ~130 M model's shapes\n"
		"     (bandwidth, per-op rates, matmul type scales, launch and sync overhead) and\n"
		"     writes a device profile from the base profile (default: host), whose power\n"
		"     figures and opps are kept as estimates; the npu device gets the engine model's\n"
		"     figures. The file is parsed back before npu-bench says where it wrote it.\n"
		"\n"
		"  -t, --threads N        threads (default: one per online core)\n"
		"  -r, --reps N           repetitions, the median is printed (default 10 cpu, 5 e2e)\n"
		"  -m, --model FILE       model for e2e (make one with npu-mkmodel)\n"
		"  -p, --prompt-tokens N  prefill length (default 128)\n"
		"  -n, --gen-tokens N     decoded tokens per run (default 64)\n"
		"  -d, --device D         device for e2e and batch (default cpu)\n"
		"      --cache-type T     e2e: KV cache f16 (default), q8_0 or f32\n"
		"  -s, --sizes LIST       batch: numbers of sessions, comma-separated (default 1,4,8)\n"
		"      --jobs             batch: through async generate jobs (the job thread batches\n"
		"                         their steps), and one session's against enpu_generate\n"
		"  -o, --output FILE      calibrate: profile to write (default ./host.prof)\n"
		"  -b, --base PROFILE     calibrate: name or path of the profile to start from\n"
		"      --no-gpu           calibrate: do not open the OpenCL device\n"
		"  -h, --help             this help\n"
		"      --version          the version\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "prompt-tokens", required_argument, NULL, 'p' },
		{ "gen-tokens", required_argument, NULL, 'n' },
		{ "device", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "base", required_argument, NULL, 'b' },
		{ "no-gpu", no_argument, NULL, 'G' },
		{ "sizes", required_argument, NULL, 's' },
		{ "jobs", no_argument, NULL, 'J' },
		{ "cache-type", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	const char *cmd;
	int c;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("npu-bench (edge-npu) %s\n", enpu_version());
		return 0;
	}
	cmd = argv[1];
	/* sched: the scheduler's modeled comparisons; its options live in sched/bench.c */
	if (!strcmp(cmd, "sched"))
		return bench_sched_main(argc - 1, argv + 1);
	optind = 2;
	while ((c = getopt_long(argc, argv, "t:r:m:p:n:d:o:b:s:h", longopts, NULL)) != -1) {
		long v = optarg ? strtol(optarg, NULL, 10) : 0;

		if (strchr("trpn", c) && (v <= 0 || v > 1000000)) {
			fprintf(stderr, "npu-bench: bad number '%s'\n", optarg);
			return 2;
		}
		switch (c) {
		case 't': o.threads = (uint32_t)v; break;
		case 'r': o.reps = (uint32_t)v; break;
		case 'm': o.model = optarg; break;
		case 'p': o.prompt = (uint32_t)v; break;
		case 'n': o.gen = (uint32_t)v; break;
		case 'd': o.device = optarg; break;
		case 'o': o.output = optarg; break;
		case 'b': o.base = optarg; break;
		case 'G': o.no_gpu = true; break;
		case 'J': o.jobs = true; break;
		case 'C':
			if (!enpu_cache_type_parse(optarg, &o.cache_type)) {
				fprintf(stderr, "npu-bench: --cache-type is f16, q8_0 or f32, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 's': o.sizes = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!strcmp(cmd, "cpu")) {
		o.reps = o.reps ? o.reps : 10;
		return cmd_cpu(&o);
	}
	if (!strcmp(cmd, "cancel")) {
		if (!o.model) {
			fprintf(stderr, "npu-bench cancel: -m MODEL.gguf is required\n");
			return 2;
		}
		return bench_cancel_main(o.model, o.device, o.threads, o.prompt ? o.prompt : 512,
					 o.reps ? o.reps : 10);
	}
	if (!strcmp(cmd, "load")) {
		if (!o.model) {
			fprintf(stderr, "npu-bench load: -m MODEL.gguf is required\n");
			return 2;
		}
		return bench_load_main(o.model, o.device, o.reps ? o.reps : 5);
	}
	if (!strcmp(cmd, "batch"))
		return cmd_batch(&o);
	if (!strcmp(cmd, "e2e")) {
		o.reps = o.reps ? o.reps : 5;
		o.prompt = o.prompt ? o.prompt : 128;
		o.gen = o.gen ? o.gen : 64;
		if (!o.model) {
			fprintf(stderr, "npu-bench e2e: -m MODEL.gguf is required\n");
			return 2;
		}
		return cmd_e2e(&o);
	}
	if (!strcmp(cmd, "npu"))
		return bench_npu_latency(o.device, o.reps ? o.reps : 2000);
	if (!strcmp(cmd, "calibrate")) {
		o.reps = o.reps ? o.reps : 10;
		return cmd_calibrate(&o);
	}
	fprintf(stderr, "npu-bench: unknown command '%s' (cpu, e2e, batch, npu, load, cancel, calibrate, sched)\n",
		cmd);
	usage(stderr);
	return 2;
}
