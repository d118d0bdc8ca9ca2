/* SPDX-License-Identifier: MIT */
/*
 * calibrate.c - a device profile for this host from measured kernel times.
 *
 * The cost model predicts an op as launch + max(ops / (rate * f), bytes / bandwidth). Each
 * number is therefore measured the way the model uses it: launch from an op too small to do
 * any work, bandwidth from the decode (T=1) matmuls that stream their weights from DRAM, and
 * each op's rate from a shape that keeps the device busy (prefill), with ops and bytes
 * counted exactly as sched_dag_from_graph() counts them, and the launch subtracted. The rate
 * is per cycle of the profile's top OPP, whatever that clock is: rate * f is what was
 * measured.
 */
#include "calibrate.h"

#include "measure.h"

#include "hal/cpu/cpu_fast.h"
#include "hal/hal.h"
#include "hal/npu/npu_sim.h"
#include "hal/opencl/opencl.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cal {
	const struct bench_calib_opts *o;
	struct hal_device *dev;
	char *err;
	size_t err_len;
};

static void logf_(const struct cal *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(const struct cal *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->o->log)
		return;
	va_start(ap, fmt);
	vfprintf(c->o->log, fmt, ap);
	va_end(ap);
}

/* Median seconds of op on the device; the first run (page faults, kernel builds) is not timed. */
static int time_op(struct cal *c, const struct hal_op *op, double *out)
{
	return bench_time_op(&c->dev, 1, op, c->o->reps, out, c->err, c->err_len);
}

/*
 * Median seconds of a [N x K] matmul of type over T rows. At T=1 the weight is cycled through
 * enough copies to exceed the cache, as a model's layers do; at prefill one copy is reused
 * (the op is compute-bound, and that is what its rate must say).
 */
static int time_matmul(struct cal *c, enum hal_type type, uint32_t K, uint32_t N, uint32_t T,
		       double *out)
{
	size_t wbytes = hal_row_bytes(type, K) * N;
	size_t stream = c->o->stream_bytes ? c->o->stream_bytes : (size_t)96 << 20;
	uint32_t copies = T == 1 ? (uint32_t)(stream / wbytes + 1) : 1;
	uint64_t seed = 42;
	int rc = -1;

	if (copies > 64)
		copies = 64;
	struct hal_tensor *w = calloc(copies, sizeof(*w));
	struct hal_tensor x = { "x", HAL_TYPE_F32, { K, T }, NULL, NULL };
	struct hal_tensor y = { "y", HAL_TYPE_F32, { N, T }, NULL, NULL };
	double *t = calloc(c->o->reps, sizeof(double));

	x.data = bench_random_floats((size_t)K * T, &seed);
	y.data = bench_alloc64((size_t)N * T * sizeof(float));
	if (!w || !t || !x.data || !y.data) {
		snprintf(c->err, c->err_len, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < copies; i++) {
		w[i] = (struct hal_tensor){ "w", type, { K, N }, NULL, NULL };
		w[i].data = bench_random_weights(type, K, N, &seed);
		if (!w[i].data) {
			snprintf(c->err, c->err_len, "out of memory");
			goto out;
		}
		if (c->dev->vt->prepare_weight && c->dev->vt->prepare_weight(c->dev, &w[i])) {
			snprintf(c->err, c->err_len, "%s: prepare %s weight: %s", c->dev->name,
				 hal_type_name(type), c->dev->error);
			goto out;
		}
	}
	struct hal_op op = { .kind = HAL_OP_MATMUL, .src = { &w[0], &x }, .dst = &y };
	for (uint32_t r = 0; r < c->o->reps + copies; r++) {
		op.src[0] = &w[r % copies];
		double t0 = bench_now_s();

		if (c->dev->vt->run(c->dev, &op)) {
			snprintf(c->err, c->err_len, "%s: matmul %s: %s", c->dev->name,
				 hal_type_name(type), c->dev->error);
			goto out;
		}
		/* the first pass over the copies faults them in and warms the device */
		if (r >= copies)
			t[r - copies] = bench_now_s() - t0;
	}
	*out = bench_median(t, c->o->reps);
	rc = 0;
out:
	for (uint32_t i = 0; w && i < copies; i++) {
		if (w[i].owner && c->dev->vt->release_weight)
			c->dev->vt->release_weight(c->dev, &w[i]);
		free(w[i].data);
	}
	free(w);
	free(x.data);
	free(y.data);
	free(t);
	return rc;
}

/* What the model counts for a matmul (sched/dag.c): ops and bytes. */
static void matmul_work(enum hal_type type, uint32_t K, uint32_t N, uint32_t T, double *ops,
			double *bytes)
{
	*ops = 2.0 * K * N * T;
	*bytes = (double)hal_row_bytes(type, K) * N + (double)T * (K + N) * sizeof(float);
}

/* ---- one device --------------------------------------------------------------------------- */

struct measured {
	double launch_s, sync_s, bw;
	double op_rate[HAL_OP_COUNT];   /* ops/s, 0: not measured */
	double type_rate[HAL_TYPE_COUNT]; /* matmul ops/s at prefill per weight type */
};

/* The time an op spent working: what is left after the dispatch overhead, never below 5 %. */
static double body(double t, double launch)
{
	return t - launch > 0.05 * t ? t - launch : 0.05 * t;
}

static int tiny_op_time(struct cal *c, double *out)
{
	float a[32], b[32];
	struct hal_tensor ta = { "a", HAL_TYPE_F32, { 32, 1 }, a, NULL };
	struct hal_tensor tb = { "b", HAL_TYPE_F32, { 32, 1 }, b, NULL };
	struct hal_op add = { .kind = HAL_OP_ADD, .src = { &ta, &tb }, .dst = &ta };

	for (int i = 0; i < 32; i++) {
		a[i] = 0.0f;
		b[i] = 1e-3f;
	}
	return time_op(c, &add, out);
}

/* Element-wise and norm ops at D x T: rate = the model's ops / (time - launch). */
static int measure_rows(struct cal *c, uint32_t D, uint32_t T, struct measured *m)
{
	struct bench_rows r;

	if (bench_rows_init(&r, D, T)) {
		snprintf(c->err, c->err_len, "out of memory");
		return -1;
	}
	const struct {
		const struct hal_op *op;
		double ops;
	} k[] = {
		{ &r.rmsnorm, 4.0 * D * T },
		{ &r.rope, (double)T * D / 2 * 20.0 },
		{ &r.swiglu, 8.0 * D * T },
		{ &r.add, 1.0 * D * T },
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]) && !rc; i++) {
		const enum hal_op_kind kind = k[i].op->kind;
		double t;

		if (!c->dev->vt->supports(c->dev, k[i].op)) {
			logf_(c, "  %-10s %-22s not supported\n", hal_op_name(kind), "");
			continue;
		}
		/* rope then rmsnorm rewrite y from x each rep: values stay bounded */
		rc = time_op(c, k[i].op, &t);
		if (rc)
			break;
		m->op_rate[kind] = k[i].ops / body(t, m->launch_s);
		logf_(c, "  %-10s %ux%-18u %9.1f us %8.2f GOPS\n", hal_op_name(kind), D, T, t * 1e6,
		      m->op_rate[kind] / 1e9);
	}
	bench_rows_free(&r);
	return rc;
}

static int measure_embed(struct cal *c, uint32_t D, uint32_t V, uint32_t T, struct measured *m)
{
	uint64_t seed = 11;
	void *table = bench_random_weights(HAL_TYPE_Q8_0, D, V, &seed);
	float *y = bench_alloc64((size_t)D * T * sizeof(float));
	int32_t *ids = calloc(T, sizeof(int32_t));
	struct hal_tensor tt = { "table", HAL_TYPE_Q8_0, { D, V }, table, NULL };
	struct hal_tensor ti = { "ids", HAL_TYPE_I32, { T, 1 }, ids, NULL };
	struct hal_tensor ty = { "y", HAL_TYPE_F32, { D, T }, y, NULL };
	struct hal_op op = { .kind = HAL_OP_EMBED, .src = { &tt, &ti }, .dst = &ty };
	int rc = -1;
	double t;

	if (!table || !y || !ids) {
		snprintf(c->err, c->err_len, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < T; i++)
		ids[i] = (int32_t)(bench_rng_next(&seed) % V);
	if (!c->dev->vt->supports(c->dev, &op)) {
		logf_(c, "  embed      not supported\n");
		rc = 0;
		goto out;
	}
	if (time_op(c, &op, &t))
		goto out;
	m->op_rate[HAL_OP_EMBED] = (double)D * T / body(t, m->launch_s);
	logf_(c, "  %-10s %ux%-18u %9.1f us %8.2f GOPS\n", "embed", D, T, t * 1e6,
	      m->op_rate[HAL_OP_EMBED] / 1e9);
	rc = 0;
out:
	free(table);
	free(y);
	free(ids);
	return rc;
}

/* Prefill attention: T tokens over a context of T (the model's op count, sched/dag.c). */
static int measure_attention(struct cal *c, uint32_t D, uint32_t T, struct measured *m)
{
	const uint32_t hd = D % 64 ? D : 64, nh = D / hd;
	struct bench_attention a;
	double t;
	int rc = -1;

	if (bench_attention_init(&a, nh, hd, T, T, HAL_TYPE_F32)) {
		snprintf(c->err, c->err_len, "out of memory");
		return -1;
	}
	if (!c->dev->vt->supports(c->dev, &a.op)) {
		logf_(c, "  attention  not supported\n");
		rc = 0;
	} else if (!time_op(c, &a.op, &t)) {
		/* dag.c costs every token over the whole context it is given: T x T x heads */
		double ops = (double)T * nh * T * (4.0 * hd + 5.0);
		m->op_rate[HAL_OP_ATTENTION] = ops / body(t, m->launch_s);
		logf_(c, "  %-10s %uh T=ctx=%-13u %9.1f us %8.2f GOPS\n", "attention", nh, T,
		      t * 1e6, m->op_rate[HAL_OP_ATTENTION] / 1e9);
		rc = 0;
	}
	bench_attention_free(&a);
	return rc;
}

static int measure_matmuls(struct cal *c, const struct bench_calib_opts *o, struct measured *m)
{
	static const enum hal_type types[] = { HAL_TYPE_Q8_0, HAL_TYPE_Q4_0, HAL_TYPE_F16,
					       HAL_TYPE_F32 };
	double best_bw = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		enum hal_type ty = types[i];
		/* quantized: the FFN's up projection; F16/F32 weights are the small square ones */
		uint32_t K = o->dim, N = ty == HAL_TYPE_Q8_0 || ty == HAL_TYPE_Q4_0 ? o->ffn : o->dim;
		const uint32_t Ts[2] = { 1, o->prefill };

		for (int j = 0; j < 2; j++) {
			double t, ops, bytes;

			if (time_matmul(c, ty, K, N, Ts[j], &t))
				return -1;
			matmul_work(ty, K, N, Ts[j], &ops, &bytes);
			double b = body(t, m->launch_s);
			logf_(c, "  matmul %-4s %ux%u T=%-10u %9.1f us %8.2f GOPS %7.2f GB/s\n",
			      hal_type_name(ty), K, N, Ts[j], t * 1e6, ops / b / 1e9,
			      bytes / b / 1e9);
			/* decode streams the weights: what one op draws from memory alone */
			if (Ts[j] == 1 && ty != HAL_TYPE_F32 && bytes / b > best_bw)
				best_bw = bytes / b;
			if (Ts[j] > 1)
				m->type_rate[ty] = ops / b;
		}
	}
	m->bw = best_bw;
	m->op_rate[HAL_OP_MATMUL] = m->type_rate[HAL_TYPE_Q8_0];
	/* the attention of the decode reads the KV cache, still the ~130 M shape */
	return 0;
}

static int measure_device(struct cal *c, const struct bench_calib_opts *o, struct measured *m)
{
	memset(m, 0, sizeof(*m));
	if (tiny_op_time(c, &m->launch_s))
		return -1;
	logf_(c, "  launch (add of 32 floats)  %9.2f us\n", m->launch_s * 1e6);
	if (measure_matmuls(c, o, m) || measure_rows(c, o->dim, o->prefill, m) ||
	    measure_rows(c, o->ffn, o->prefill, m) ||
	    measure_embed(c, o->dim, o->vocab, o->prefill, m) ||
	    measure_attention(c, o->dim, o->prefill, m))
		return -1;
	return 0;
}

/*
 * Round trip of a tensor between the two devices: a tiny add on cpu, then on gpu over the
 * same memory, and back. What is beyond the two launches is the hand-off (the GPU's upload,
 * fence wait and read-back of data the other device just wrote).
 */
static int measure_pingpong(struct cal *cc, struct cal *cg, double *out)
{
	float a[32], b[32];
	struct hal_tensor ta = { "a", HAL_TYPE_F32, { 32, 1 }, a, NULL };
	struct hal_tensor tb = { "b", HAL_TYPE_F32, { 32, 1 }, b, NULL };
	struct hal_op add = { .kind = HAL_OP_ADD, .src = { &ta, &tb }, .dst = &ta };
	struct hal_device *const both[] = { cc->dev, cg->dev };

	for (int i = 0; i < 32; i++) {
		a[i] = 0.0f;
		b[i] = 1e-3f;
	}
	if (!cg->dev->vt->supports(cg->dev, &add)) {
		*out = 0; /* no element-wise op on the GPU: its launch stands for the hand-off */
		return 0;
	}
	return bench_time_op(both, 2, &add, cc->o->reps, out, cc->err, cc->err_len);
}

/* ---- into the profile --------------------------------------------------------------------- */

static int find_dev(const struct sched_profile *p, enum hal_device_class cls)
{
	for (uint32_t i = 0; i < p->n_dev; i++)
		if (p->dev[i].cls == cls)
			return (int)i;
	return -1;
}

static void apply(struct sched_dev_profile *d, const struct measured *m)
{
	const double f = d->opp[d->n_opp - 1].freq_hz;

	d->launch_s = m->launch_s;
	d->sync_s = m->sync_s;
	if (m->bw > 0)
		d->bw = m->bw;
	for (int op = 0; op < HAL_OP_COUNT; op++)
		if (m->op_rate[op] > 0 && (d->op_mask & (1u << op)))
			d->rate[op] = m->op_rate[op] / f;
	const double ref = m->type_rate[HAL_TYPE_Q8_0];
	for (int t = 0; t < HAL_TYPE_COUNT; t++)
		if (ref > 0 && m->type_rate[t] > 0)
			d->type_scale[t] = m->type_rate[t] / ref;
}

/*
 * The in-process NPU's figures are the engine model's (kmod/silicon/npu_engine.c), not a
 * clock's.
 */
static void apply_npu(struct sched_dev_profile *d)
{
	struct npu_sim_figures f;

	npu_sim_figures(&f);
	d->n_opp = f.n_opp < SCHED_MAX_OPPS ? f.n_opp : SCHED_MAX_OPPS;
	for (uint32_t i = 0; i < d->n_opp; i++) {
		d->opp[i].freq_hz = f.freq_hz[i];
		d->opp[i].volt = f.volt[i];
	}
	/* a MAC is two operations; the array retires macs_per_cycle of them a cycle */
	d->rate[HAL_OP_MATMUL] = 2.0 * f.macs_per_cycle;
	d->bw = f.dram_bytes_per_s;
	d->launch_s = f.job_overhead_cycles / d->opp[d->n_opp - 1].freq_hz;
	/* the engine charges mac_j per MAC at nominal_v: C V^2 per cycle of the full array */
	d->cap_f = f.mac_j * f.macs_per_cycle / (f.nominal_v * f.nominal_v);
}

/* The options with their defaults filled in. */
static struct bench_calib_opts with_defaults(const struct bench_calib_opts *opts)
{
	struct bench_calib_opts o = *opts;

	o.reps = o.reps ? o.reps : 10;
	o.bw_bytes = o.bw_bytes ? o.bw_bytes / 4096 * 4096 : (size_t)512 << 20;
	o.dim = o.dim ? o.dim : 768;
	o.ffn = o.ffn ? o.ffn : 2048;
	o.vocab = o.vocab ? o.vocab : 32000;
	o.prefill = o.prefill ? o.prefill : 128;
	return o;
}

/* The read ceiling in bytes/s on the CPU device's threads: best of 5, the first warms the TLB. */
static int measure_ceiling(struct cal *c, double *out)
{
	const size_t len = c->o->bw_bytes;
	uint8_t *buf = hal_cpu_fast_read_buffer(len);

	if (!buf) {
		snprintf(c->err, c->err_len, "out of memory (%zu bytes for the bandwidth read)", len);
		return -1;
	}
	*out = 0;
	for (uint32_t r = 0; r < 6; r++) {
		double gbs = (double)len / hal_cpu_fast_time_read(c->dev, buf, len);

		if (r > 0 && gbs > *out)
			*out = gbs;
	}
	free(buf);
	logf_(c, "bandwidth ceiling (read of %zu MiB, %u threads, best of 5): %.2f GB/s\n",
	      len >> 20, hal_cpu_fast_threads(c->dev), *out / 1e9);
	return 0;
}

/*
 * The OpenCL device cg (open): its figures into out->dev[ig], its sync from a round trip with
 * the CPU (cc, measured as mc), and whether it computes on the CPU's cores (device ic).
 */
static int calibrate_gpu(struct cal *cc, struct cal *cg, const struct measured *mc,
			 double ceiling, int ic, int ig, struct sched_profile *out)
{
	struct measured mg;
	double rt;

	logf_(cc, "device gpu (%s), median of %u runs:\n", cg->dev->name, cc->o->reps);
	if (measure_device(cg, cc->o, &mg) || measure_pingpong(cc, cg, &rt))
		return -1;
	/* floor: a crossing is never free, and 0 would read as "not measured" */
	mg.sync_s = fmax(rt - mc->launch_s - mg.launch_s, 0.1e-6);
	logf_(cc, "  cpu -> gpu -> cpu round trip of a tiny tensor %.2f us: sync %.2f us\n",
	      rt * 1e6, mg.sync_s * 1e6);
	if (mg.bw <= 0)
		mg.bw = ceiling;
	apply(&out->dev[ig], &mg);
	struct hal_opencl_info info;
	/* PoCL and the like: no parallel hardware, the same cores as the CPU's; a GPU of its own
	 * drops the base profile's shares_cores */
	bool on_cpu = ic >= 0 && (cg->dev->caps & HAL_CAP_HOST_CORES) &&
		      hal_opencl_get_info(cg->dev, &info);

	out->dev[ig].shares_cores = on_cpu ? (uint32_t)ic + 1 : 0;
	if (on_cpu)
		logf_(cc, "  an OpenCL CPU device (%s): it shares the cores of '%s'\n",
		      info.caps.device, out->dev[ic].name);
	return 0;
}

int bench_calibrate(const struct bench_calib_opts *opts, const struct sched_profile *base,
		    struct sched_profile *out, char *err, size_t err_len)
{
	const struct bench_calib_opts o = with_defaults(opts);
	struct hal_device_options dopts = { .n_threads = o.threads };
	struct cal cc = { &o, NULL, err, err_len }, cg = { &o, NULL, err, err_len };
	struct measured mc;
	char gerr[256] = "";
	double ceiling;
	int rc = -1, ic = find_dev(base, HAL_CLASS_CPU), ig = find_dev(base, HAL_CLASS_GPU);

	if (ic < 0 || o.dim % 32 || o.ffn % 32 || o.bw_bytes < 4096) {
		snprintf(err, err_len, ic < 0 ? "the base profile has no cpu device"
					      : "dim and ffn must be multiples of 32");
		return -1;
	}
	*out = *base;
	if (hal_cpu_fast_create(&dopts, &cc.dev, err, err_len))
		return -1;
	if (measure_ceiling(&cc, &ceiling))
		goto out;
	logf_(&cc, "device cpu (%s kernels, %u threads), median of %u runs:\n",
	      hal_cpu_fast_isa(cc.dev), hal_cpu_fast_threads(cc.dev), o.reps);
	if (measure_device(&cc, &o, &mc))
		goto out;
	/* a tensor handed to the CPU wakes its pool: the tiny op's round trip is that */
	mc.sync_s = mc.launch_s;
	if (mc.bw <= 0)
		mc.bw = ceiling;

	const struct hal_backend *gb = o.no_gpu ? NULL : hal_backend_find("gpu");
	if (ig >= 0 && gb && !gb->create(&dopts, &cg.dev, gerr, sizeof(gerr))) {
		if (calibrate_gpu(&cc, &cg, &mc, ceiling, ic, ig, out))
			goto out;
	} else if (ig >= 0) {
		logf_(&cc, "device gpu: not measured (%s); the base profile's figures are kept\n",
		      o.no_gpu ? "--no-gpu" : gb ? gerr : "no OpenCL backend compiled in");
	}
	apply(&out->dev[ic], &mc);
	int in = find_dev(base, HAL_CLASS_NPU);
	if (in >= 0)
		apply_npu(&out->dev[in]);
	/*
	 * every device shares the one DRAM: its ceiling is what concurrent ops split (never below
	 * what one op drew alone: the read drifts, and less would throttle an op on its own)
	 */
	out->unified = true;
	out->mem_bw = fmax(ceiling, fmax(out->dev[ic].bw, ig >= 0 ? out->dev[ig].bw : 0));
	snprintf(out->description, sizeof(out->description),
		 "this host, calibrated: cpu %s x%u%s", hal_cpu_fast_isa(cc.dev),
		 hal_cpu_fast_threads(cc.dev), cg.dev ? ", gpu OpenCL" : ", gpu not measured");
	rc = 0;
out:
	hal_device_destroy(cg.dev);
	hal_device_destroy(cc.dev);
	return rc;
}
