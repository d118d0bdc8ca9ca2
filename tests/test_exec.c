/* SPDX-License-Identifier: MIT */
/*
 * test_exec.c - the dispatcher (sched/exec.h) on the real backends: a graph placed across the
 * CPU, the GPU (OpenCL) and the in-process NPU gives the reference backend's results; runs
 * from several threads share the queues and stay correct; priorities order a shared device;
 * a failing op stops its dependents and is named.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "sched/exec.h"
#include "testutil.h"

#define MAX_NODES 16

/* A hand-built graph over test tensors, with its dependencies. */
struct tgraph {
	struct sched_graph g;
	struct sched_node nodes[MAX_NODES];
	struct sched_dag deps;
};

static struct hal_tensor *add_op(struct tgraph *t, enum hal_op_kind kind, uint32_t dev,
				 struct hal_tensor *dst, struct hal_tensor *s0,
				 struct hal_tensor *s1)
{
	struct sched_node *n = &t->nodes[t->g.n_nodes++];

	ck_assert_uint_le(t->g.n_nodes, MAX_NODES);
	n->op.kind = kind;
	n->op.dst = dst;
	n->op.src[0] = s0;
	n->op.src[1] = s1;
	n->op.p.rmsnorm.eps = 1e-5f;
	n->device = dev;
	return dst;
}

static void finish(struct tgraph *t)
{
	char err[256];

	t->g.nodes = t->nodes;
	ck_assert_msg(sched_dag_from_graph(&t->g, 1, &t->deps, err, sizeof(err)) == SCHED_OK, "%s",
		      err);
}

/* The inputs and weights of the mixed graph, shared by the placed and the reference runs. */
struct mixed_inputs {
	struct hal_tensor *x, *nw, *w1, *w2, *w3;
};

#define K 256
#define N 512
#define T 4

static void mixed_inputs(struct mixed_inputs *in, uint64_t seed)
{
	in->x = tu_tensor_rand("x", K, T, &seed, 1.0f);
	in->nw = tu_tensor_rand("norm", K, 1, &seed, 1.0f);
	in->w1 = tu_weight_rand("w1", HAL_TYPE_Q8_0, K, N, &seed, NULL);
	in->w2 = tu_weight_rand("w2", HAL_TYPE_Q8_0, K, N, &seed, NULL);
	in->w3 = tu_weight_rand("w3", HAL_TYPE_Q8_0, N, K, &seed, NULL);
}

/*
 * A transformer FFN block: norm, two parallel matmuls, SwiGLU, a matmul back, the residual
 * and a final norm; dev[i] places op i. Returns the output tensor.
 */
static struct hal_tensor *mixed_graph(struct tgraph *t, const struct mixed_inputs *in,
				      const uint32_t dev[7])
{
	memset(t, 0, sizeof(*t));
	struct hal_tensor *h = add_op(t, HAL_OP_RMSNORM, dev[0], tu_tensor_new("h", HAL_TYPE_F32, K, T),
				      in->x, in->nw);
	struct hal_tensor *a = add_op(t, HAL_OP_MATMUL, dev[1], tu_tensor_new("a", HAL_TYPE_F32, N, T),
				      in->w1, h);
	struct hal_tensor *b = add_op(t, HAL_OP_MATMUL, dev[2], tu_tensor_new("b", HAL_TYPE_F32, N, T),
				      in->w2, h);
	struct hal_tensor *c = add_op(t, HAL_OP_SWIGLU, dev[3], tu_tensor_new("c", HAL_TYPE_F32, N, T),
				      a, b);
	struct hal_tensor *d = add_op(t, HAL_OP_MATMUL, dev[4], tu_tensor_new("d", HAL_TYPE_F32, K, T),
				      in->w3, c);
	struct hal_tensor *y = add_op(t, HAL_OP_ADD, dev[5], tu_tensor_new("y", HAL_TYPE_F32, K, T),
				      d, in->x);
	struct hal_tensor *z = add_op(t, HAL_OP_RMSNORM, dev[6], tu_tensor_new("z", HAL_TYPE_F32, K, T),
				      y, in->nw);
	finish(t);
	return z;
}

static struct hal_device *open_backend(const char *name)
{
	const struct hal_backend *b = hal_backend_find(name);
	struct hal_device_options o = { .n_threads = 2 };
	struct hal_device *dev = NULL;
	char err[256] = "";

	ck_assert_ptr_nonnull(b);
	ck_assert_msg(b->create(&o, &dev, err, sizeof(err)) == HAL_OK, "%s: %s", name, err);
	return dev;
}

static double max_rel_diff(const struct hal_tensor *a, const struct hal_tensor *b)
{
	const float *x = a->data, *y = b->data;
	double worst = 0, scale = 1e-6;
	size_t n = (size_t)a->ne[0] * a->ne[1];

	for (size_t i = 0; i < n; i++)
		scale = fmax(scale, fabs(y[i]));
	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs(x[i] - y[i]) / scale);
	return worst;
}

/* Runs t on x and checks it succeeds. */
static void run_ok(struct sched_exec *x, struct tgraph *t, const struct sched_run_options *o,
		   struct sched_run_stats *rs)
{
	char err[512] = "";

	ck_assert_msg(sched_exec_run(x, &t->g, &t->deps, o, rs, err, sizeof(err)) == SCHED_OK,
		      "%s", err);
}

/* The reference: the same graph on cpu-ref alone. */
static struct hal_tensor *reference(const struct mixed_inputs *in, struct tgraph *t)
{
	static const uint32_t on0[7] = { 0 };
	struct hal_device *ref = NULL;
	struct sched_exec *x = NULL;
	char err[256];

	ck_assert_int_eq(hal_cpu_ref_create(&ref), HAL_OK);
	ck_assert_int_eq(sched_exec_create(&ref, 1, &x, err, sizeof(err)), SCHED_OK);
	struct hal_tensor *out = mixed_graph(t, in, on0);
	run_ok(x, t, NULL, NULL);
	sched_exec_destroy(x);
	hal_device_destroy(ref);
	sched_dag_free(&t->deps);
	return out;
}

START_TEST(mixed_cpu_gpu_npu_matches_reference)
{
	struct mixed_inputs in;
	struct tgraph ref_g, g;
	mixed_inputs(&in, 7);
	struct hal_tensor *want = reference(&in, &ref_g);

	struct hal_device *devs[3] = { open_backend("cpu"), open_backend("gpu"),
				       open_backend("npu") };
	struct sched_exec *x = NULL;
	char err[256];
	ck_assert_int_eq(sched_exec_create(devs, 3, &x, err, sizeof(err)), SCHED_OK);
	/* norm on the CPU, the two parallel matmuls on the NPU and the GPU, and so on */
	static const uint32_t place[7] = { 0, 2, 1, 1, 2, 0, 1 };
	struct hal_tensor *got = mixed_graph(&g, &in, place);
	struct sched_usage usage[3] = { { 0 } };
	struct sched_run_options o = { .usage = usage };
	struct sched_run_stats rs;
	run_ok(x, &g, &o, &rs);

	double diff = max_rel_diff(got, want);
	ck_assert_msg(diff < 2e-2, "mixed placement differs from cpu-ref by %g", diff);
	ck_assert_uint_eq(usage[0].ops, 2);
	ck_assert_uint_eq(usage[1].ops, 3);
	ck_assert_uint_eq(usage[2].ops, 2);
	for (int k = 0; k < 3; k++)
		ck_assert_uint_eq(usage[k].bytes_copied, 0); /* unified memory */
	ck_assert_uint_le(rs.active_ns, rs.wall_ns);
	ck_assert_uint_gt(rs.ops_ns, 0);
	sched_dag_free(&g.deps);
	sched_exec_destroy(x);
	for (int k = 0; k < 3; k++)
		hal_device_destroy(devs[k]);
}
END_TEST

/* Several threads, each running its own graph over and over on the shared queues. */
struct worker_arg {
	struct sched_exec *x;
	const struct mixed_inputs *in;
	const struct hal_tensor *want;
	uint32_t place[7];
	int runs;
	double worst;
	char err[512];
	int failed;
	struct tgraph g; /* built by the main thread: the test pool is not thread-safe */
	struct hal_tensor *out;
};

static void *run_many(void *p)
{
	struct worker_arg *w = p;

	for (int i = 0; i < w->runs && !w->failed; i++) {
		memset(w->out->data, 0, hal_tensor_bytes(w->out));
		if (sched_exec_run(w->x, &w->g.g, &w->g.deps, NULL, NULL, w->err, sizeof(w->err)))
			w->failed = 1;
		w->worst = fmax(w->worst, max_rel_diff(w->out, w->want));
	}
	return NULL;
}

START_TEST(concurrent_runs_share_queues)
{
	struct mixed_inputs in;
	struct tgraph ref_g;
	mixed_inputs(&in, 11);
	struct hal_tensor *want = reference(&in, &ref_g);
	struct hal_device *devs[2] = { open_backend("cpu"), open_backend("npu") };
	struct sched_exec *x = NULL;
	char err[256];
	ck_assert_int_eq(sched_exec_create(devs, 2, &x, err, sizeof(err)), SCHED_OK);

	struct worker_arg w[3] = {
		/* a weight stays on one device (the CPU packs the weights it is given) */
		{ .x = x, .in = &in, .want = want, .place = { 0, 1, 0, 0, 1, 0, 0 }, .runs = 20 },
		{ .x = x, .in = &in, .want = want, .place = { 0, 1, 0, 0, 1, 0, 0 }, .runs = 20 },
		{ .x = x, .in = &in, .want = want, .place = { 0, 1, 0, 0, 1, 0, 0 }, .runs = 20 },
	};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		w[i].out = mixed_graph(&w[i].g, &in, w[i].place);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, run_many, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(!w[i].failed, "thread %d: %s", i, w[i].err);
		ck_assert_msg(w[i].worst < 2e-2, "thread %d differs by %g", i, w[i].worst);
		sched_dag_free(&w[i].g.deps);
	}
	ck_assert_uint_eq(sched_exec_pending(x), 0);
	sched_exec_destroy(x);
	hal_device_destroy(devs[0]);
	hal_device_destroy(devs[1]);
}
END_TEST

/* ---- priorities: a gate holds the only device while two runs queue behind it ---- */

struct order_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool gate_entered, gate_open;
	char seq[32];
	int n;
};

struct tagged {
	struct order_log *log;
	char tag;
};

static void log_op(void *user, const struct sched_graph *g, const struct sched_op_record *r)
{
	struct tagged *t = user;
	struct order_log *l = t->log;

	(void)g;
	(void)r;
	pthread_mutex_lock(&l->mu);
	if (l->n < (int)sizeof(l->seq) - 1)
		l->seq[l->n++] = t->tag;
	if (t->tag == 'G') {
		/* hold the device's worker until both other runs are queued */
		l->gate_entered = true;
		pthread_cond_broadcast(&l->cv);
		while (!l->gate_open)
			pthread_cond_wait(&l->cv, &l->mu);
	}
	pthread_mutex_unlock(&l->mu);
}

struct submit_arg {
	struct sched_exec *x;
	struct tgraph *g;
	struct sched_run_options o;
	enum sched_status st;
};

static void *submit(void *p)
{
	struct submit_arg *a = p;
	char err[256];

	a->st = sched_exec_run(a->x, &a->g->g, &a->g->deps, &a->o, NULL, err, sizeof(err));
	return NULL;
}

/* A chain of n adds (x = x + y) on device 0. */
static void chain(struct tgraph *t, uint32_t n, uint64_t seed)
{
	struct hal_tensor *v = tu_tensor_rand("v", 64, 1, &seed, 1.0f);
	struct hal_tensor *y = tu_tensor_rand("y", 64, 1, &seed, 1.0f);

	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < n; i++)
		add_op(t, HAL_OP_ADD, 0, v, v, y);
	finish(t);
}

START_TEST(priority_orders_a_shared_device)
{
	struct hal_device *ref = NULL;
	struct sched_exec *x = NULL;
	char err[256];
	ck_assert_int_eq(hal_cpu_ref_create(&ref), HAL_OK);
	ck_assert_int_eq(sched_exec_create(&ref, 1, &x, err, sizeof(err)), SCHED_OK);

	struct order_log log = { .n = 0 };
	pthread_mutex_init(&log.mu, NULL);
	pthread_cond_init(&log.cv, NULL);
	struct tagged tg = { &log, 'G' }, ta = { &log, 'A' }, tb = { &log, 'B' };
	struct sched_observer og = { log_op, &tg }, oa = { log_op, &ta }, ob = { log_op, &tb };
	struct tgraph gg, ga, gb;
	chain(&gg, 1, 1);
	chain(&ga, 3, 2);
	chain(&gb, 3, 3);
	struct submit_arg sg = { x, &gg, { .obs = &og }, SCHED_OK };
	struct submit_arg sa = { x, &ga, { .priority = 0, .obs = &oa }, SCHED_OK };
	struct submit_arg sb = { x, &gb, { .priority = 5, .obs = &ob }, SCHED_OK };
	pthread_t th[3];

	ck_assert_int_eq(pthread_create(&th[0], NULL, submit, &sg), 0);
	pthread_mutex_lock(&log.mu);
	while (!log.gate_entered)
		pthread_cond_wait(&log.cv, &log.mu);
	pthread_mutex_unlock(&log.mu);
	/* the low-priority run is submitted first, the high-priority one after it */
	ck_assert_int_eq(pthread_create(&th[1], NULL, submit, &sa), 0);
	while (sched_exec_pending(x) < 2)
		sched_yield();
	ck_assert_int_eq(pthread_create(&th[2], NULL, submit, &sb), 0);
	while (sched_exec_pending(x) < 3)
		sched_yield();
	pthread_mutex_lock(&log.mu);
	log.gate_open = true;
	pthread_cond_broadcast(&log.cv);
	pthread_mutex_unlock(&log.mu);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	ck_assert_int_eq(sg.st, SCHED_OK);
	ck_assert_int_eq(sa.st, SCHED_OK);
	ck_assert_int_eq(sb.st, SCHED_OK);
	log.seq[log.n] = 0;
	ck_assert_str_eq(log.seq, "GBBBAAA");
	sched_dag_free(&gg.deps);
	sched_dag_free(&ga.deps);
	sched_dag_free(&gb.deps);
	sched_exec_destroy(x);
	hal_device_destroy(ref);
	pthread_cond_destroy(&log.cv);
	pthread_mutex_destroy(&log.mu);
}
END_TEST

/* ---- failures ---- */

static void count_op(void *user, const struct sched_graph *g, const struct sched_op_record *r)
{
	(void)g;
	(void)r;
	(*(int *)user)++;
}

/* How many samples the placer's history holds of each of the three nodes. */
static void samples_of(const struct sched_placer *pr, const struct sched_placed_node *nodes,
		       uint32_t seen[3])
{
	for (uint32_t k = 0; k < 3; k++)
		seen[k] = 0;
	for (uint32_t i = 0; i < SCHED_HISTORY_SLOTS; i++)
		for (uint32_t k = 0; k < 3; k++)
			if (pr->history.slot[i].n && pr->history.slot[i].sig == nodes[k].sig &&
			    pr->history.slot[i].dev == nodes[k].prof_dev)
				seen[k] += pr->history.slot[i].n;
}

/*
 * "auto" placement learns from the dispatcher itself: each op the run measures goes to the
 * placer's history, for the ops the placement marked measurable only, and only while the
 * placer learns (the host's own profile).
 */
START_TEST(dispatcher_teaches_the_placer)
{
	struct hal_device *ref = NULL;
	struct sched_exec *x = NULL;
	struct sched_placer *pr = calloc(1, sizeof(*pr));
	struct tgraph t;
	char err[256];

	ck_assert_ptr_nonnull(pr);
	ck_assert_int_eq(hal_cpu_ref_create(&ref), HAL_OK);
	ck_assert_int_eq(sched_exec_create(&ref, 1, &x, err, sizeof(err)), SCHED_OK);
	ck_assert_msg(sched_placer_init(pr, "host", false, 0, err, sizeof(err)) == SCHED_OK, "%s",
		      err);
	ck_assert(pr->learns);
	chain(&t, 3, 7);
	struct sched_placed_node nodes[3] = {
		{ .sig = 101, .predicted_s = 1e-6f, .prof_dev = 0, .measurable = true },
		{ .sig = 102, .predicted_s = 1e-6f, .prof_dev = 0, .measurable = false },
		{ .sig = 103, .predicted_s = 1e-6f, .prof_dev = 1, .measurable = true },
	};
	struct sched_placement pl = { .n_nodes = 3, .nodes = nodes };
	struct sched_run_options o = { .learn = pr, .placed = &pl };

	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)), SCHED_OK);
	uint32_t seen[3];
	samples_of(pr, nodes, seen);
	ck_assert_uint_eq(seen[0], 1);
	ck_assert_uint_eq(seen[1], 0);
	ck_assert_uint_eq(seen[2], 1);
	/* a profile of other silicon teaches nothing: the samples stay as they were */
	pr->learns = false;
	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)), SCHED_OK);
	samples_of(pr, nodes, seen);
	ck_assert_uint_eq(seen[0], 1);
	ck_assert_uint_eq(seen[1], 0);
	ck_assert_uint_eq(seen[2], 1);
	ck_assert(!sched_placer_learns_now(pr, 0));
	sched_dag_free(&t.deps);
	sched_exec_destroy(x);
	hal_device_destroy(ref);
	free(pr);
}
END_TEST

/* Sets the run's cancel flag after the second op it sees. */
struct canceller {
	int flag;
	int seen;
};

static void cancel_after_two(void *user, const struct sched_graph *g,
			     const struct sched_op_record *r)
{
	struct canceller *c = user;

	(void)g;
	(void)r;
	if (++c->seen == 2)
		__atomic_store_n(&c->flag, 1, __ATOMIC_RELEASE);
}

/*
 * A cancelled run starts no op after the cancel: in a chain of 6 ops cancelled during the
 * second, the second finishes, the other four never run, and the run says it was cancelled.
 */
START_TEST(cancel_stops_the_run_within_one_op)
{
	struct hal_device *ref = NULL;
	struct sched_exec *x = NULL;
	struct tgraph t;
	char err[256];
	struct canceller c = { 0, 0 };
	struct sched_observer obs = { cancel_after_two, &c };
	struct sched_run_options o = { .obs = &obs, .cancel = &c.flag };

	ck_assert_int_eq(hal_cpu_ref_create(&ref), HAL_OK);
	ck_assert_int_eq(sched_exec_create(&ref, 1, &x, err, sizeof(err)), SCHED_OK);
	chain(&t, 6, 11);
	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)),
			 SCHED_ERR_CANCELLED);
	ck_assert_int_eq(c.seen, 2);
	ck_assert_msg(strstr(err, "cancelled before op 2 (add)"), "%s", err);
	/* the same graph runs whole again once the flag is down */
	c.flag = 0;
	c.seen = -100;
	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)), SCHED_OK);
	ck_assert_int_eq(c.seen, -94);
	sched_dag_free(&t.deps);
	sched_exec_destroy(x);
	hal_device_destroy(ref);
}
END_TEST

START_TEST(failed_op_is_named_and_stops_dependents)
{
	struct hal_device *devs[2] = { open_backend("cpu"), open_backend("npu") };
	struct sched_exec *x = NULL;
	char err[512] = "";
	uint64_t seed = 5;
	ck_assert_int_eq(sched_exec_create(devs, 2, &x, err, sizeof(err)), SCHED_OK);

	struct tgraph t;
	memset(&t, 0, sizeof(t));
	struct hal_tensor *v = tu_tensor_rand("v", 64, 1, &seed, 1.0f);
	struct hal_tensor *w = tu_weight_rand("w_bad", HAL_TYPE_Q8_0, 96, 64, &seed, NULL);
	struct hal_tensor *m = tu_tensor_new("m", HAL_TYPE_F32, 64, 1);
	add_op(&t, HAL_OP_ADD, 0, v, v, v);
	add_op(&t, HAL_OP_MATMUL, 1, m, w, v); /* K = 96 against a row of 64: invalid */
	add_op(&t, HAL_OP_ADD, 0, m, m, m);     /* depends on the failed op */
	finish(&t);
	int ran = 0;
	struct sched_observer obs = { count_op, &ran };
	struct sched_run_options o = { .obs = &obs };

	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "op 1 (matmul 'm') on npu"), "message: %s", err);
	ck_assert_int_eq(ran, 1);

	/* a node placed on a device the dispatcher does not have is refused up front */
	t.nodes[2].device = 7;
	ck_assert_int_eq(sched_exec_run(x, &t.g, &t.deps, &o, NULL, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "op 2 (add 'm'): placed on device 7 of 2"), "message: %s", err);
	ck_assert_int_eq(ran, 1);
	sched_dag_free(&t.deps);
	sched_exec_destroy(x);
	hal_device_destroy(devs[0]);
	hal_device_destroy(devs[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("exec");
	TCase *tc = tcase_create("dispatcher");

	tcase_add_checked_fixture(tc, NULL, tu_pool_free);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, mixed_cpu_gpu_npu_matches_reference);
	tcase_add_test(tc, concurrent_runs_share_queues);
	tcase_add_test(tc, priority_orders_a_shared_device);
	tcase_add_test(tc, failed_op_is_named_and_stops_dependents);
	tcase_add_test(tc, dispatcher_teaches_the_placer);
	tcase_add_test(tc, cancel_stops_the_run_within_one_op);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
