/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c - the scheduler's pure computation: profiles (and their error messages), the
 * dependency DAG of a llama graph, the partitioner on random DAGs (every op on a device that
 * runs it, dependencies respected in the simulated schedule), optima known by hand, the exact
 * search as a bound, the power manager (admin bounds, lower clocks for memory-bound work,
 * race to idle under heavy leakage) and the measured-history correction.
 */
#include <check.h>
#include <locale.h>
#include <pthread.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/sched_bench.h"
#include "sched/cost.h"
#include "sched/placement.h"
#include "sched/dag.h"
#include "sched/partition.h"
#include "sched/power.h"
#include "sched/profile.h"
#include "sched/simulate.h"
#include "testutil.h"

static struct sched_profile load(const char *name)
{
	struct sched_profile p;
	char err[512];

	ck_assert_msg(sched_profile_find(name, &p, err, sizeof(err)) == SCHED_OK, "%s", err);
	return p;
}

/* A two-device profile: a CPU that runs everything and an accelerator for Q8_0 matmuls. */
static const char *const two_dev =
	"profile two\n"
	"memory unified 1000\n"
	"device cpu cpu\nops all\ntypes f32 f16 q8_0 q4_0\nrate * 1\nbandwidth_gbs 1000\n"
	"opp 1000 1000\n"
	"device acc npu\nops matmul\ntypes q8_0\nrate * 1\nbandwidth_gbs 1000\nopp 1000 1000\n"
	"sync_us %g\n";

static struct sched_profile parse_two(double sync_us)
{
	struct sched_profile p;
	char text[1024], err[256];

	snprintf(text, sizeof(text), two_dev, sync_us);
	ck_assert_msg(sched_profile_parse(text, "two.prof", &p, err, sizeof(err)) == SCHED_OK, "%s",
		      err);
	return p;
}

/* A DAG with explicit times per device (us; < 0 = cannot run). */
static void fixed_dag(struct sched_dag *d, uint32_t n, const enum hal_op_kind *kinds,
		      uint32_t ne, const uint32_t (*edges)[2], const double (*us)[2])
{
	ck_assert_int_eq(sched_dag_init(d, n, ne, edges, NULL), SCHED_OK);
	d->fixed_n_dev = 2;
	d->fixed_time = malloc(sizeof(double) * n * 2);
	for (uint32_t v = 0; v < n; v++) {
		d->nodes[v].kind = kinds[v];
		d->nodes[v].wtype = HAL_TYPE_Q8_0;
		d->fixed_time[2 * v] = us[v][0] * 1e-6;
		d->fixed_time[2 * v + 1] = us[v][1] * 1e-6;
	}
}

static double plan_makespan(const struct sched_profile *p, const struct sched_dag *d,
			    const struct sched_plan *pl)
{
	struct sched_sim_options so = { 0 };
	struct sched_sim_result r;

	sched_simulate(p, d, pl, &so, &r);
	return r.makespan_s;
}

/* ---- profiles ------------------------------------------------------------------------------ */

START_TEST(profiles_in_tree_load)
{
	struct sched_profile p = load("phone");

	ck_assert_str_eq(p.name, "phone");
	ck_assert_uint_eq(p.n_dev, 4);
	ck_assert(p.unified);
	ck_assert_double_eq_tol(p.mem_bw, 60e9, 1);
	ck_assert_int_eq(p.dev[0].cls, HAL_CLASS_NPU);
	ck_assert_double_eq_tol(p.dev[0].opp[p.dev[0].n_opp - 1].freq_hz, 1.4e9, 1);
	/* 45 TOPS: rate x top clock */
	ck_assert_double_le(fabs(p.dev[0].rate[HAL_OP_MATMUL] * 1.4e9 - 44.8e12), 1e9);
	/* its thermal path sustains (50 - 35) C / 12 K/W = 1.25 W: the plan's budget, not 4 W */
	ck_assert_double_eq_tol(sched_power_sustained_w(&p), 1.25, 1e-12);
	ck_assert_double_eq_tol(sched_power_budget(&p, NULL), 1.25, 1e-12);
	struct sched_part_options un = { .thermal_unaware = true };
	ck_assert_double_eq_tol(sched_power_budget(&p, &un), 4.0, 1e-12);
	p = load("mw");
	ck_assert_double_le(p.budget_w, 0.010);
	ck_assert_double_eq(sched_power_sustained_w(&p), 0); /* no thermal path */
	p = load("host");
	ck_assert_uint_ge(p.n_dev, 1);
}
END_TEST

static void expect_error(const char *text, const char *want)
{
	struct sched_profile p;
	char err[512] = "";

	ck_assert_int_eq(sched_profile_parse(text, "bad.prof", &p, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

START_TEST(profile_errors_name_file_and_line)
{
	expect_error("profile x\nmemory unified 10\ndevice c cpu\nbandwdith_gbs 3\n",
		     "bad.prof:4: unknown key 'bandwdith_gbs'");
	expect_error("profile x\nmemory unified ten\n",
		     "bad.prof:2: 'memory': 'ten' is not a decimal number");
	/* strtod's other forms are not numbers a profile means */
	expect_error("profile x\nmemory unified 0x10\n", "bad.prof:2: 'memory': '0x10' is not a");
	expect_error("profile x\nmemory unified inf\n", "bad.prof:2: 'memory': 'inf' is not a");
	expect_error("profile x\nops all\n", "bad.prof:2: 'ops' outside a device");
	expect_error("profile x\nmemory unified 10\ndevice c cpu\nops all\ntypes f32 f16 q8_0 q4_0\n"
		     "rate * 1\nbandwidth_gbs 1\nopp 100 500\nopp 50 400\n",
		     "bad.prof:9: operating points must be listed lowest frequency first");
	/* no device runs everything: there is no fallback */
	expect_error("profile x\nmemory unified 10\ndevice n npu\nops matmul\ntypes q8_0\n"
		     "rate * 1\nbandwidth_gbs 1\nopp 100 500\n", "(the fallback)");
	expect_error("profile x\nmemory unified 10\ndevice c cpu\nops all\ntypes f32 f16 q8_0 q4_0\n"
		     "bandwidth_gbs 1\nopp 100 500\n", "bad.prof:3: device 'c' runs embed but has no");
	expect_error("profile x\nmemory unified 10\ndevice c tpu\n", "bad.prof:3: device 'c': class");
	/* a thermal path needs its capacity and a passive trip above ambient */
	expect_error("profile x\nmemory unified 10\nthermal_r_kw 10\nambient_c 40\npassive_c 30\n"
		     "thermal_c_jk 1\ndevice c cpu\nops all\ntypes f32 f16 q8_0 q4_0\nrate * 1\n"
		     "bandwidth_gbs 1\nopp 100 500\n", "passive_c above ambient_c");
	expect_error("profile x\nmemory unified 10\nthermal_r_kw -1\n", "'thermal_r_kw': -1 is below 0");
}
END_TEST

/*
 * An application may run in a locale whose radix is ',' (de_DE): a profile's "0.15" is still
 * 0.15, not 0 with the rest refused. The locale is compiled from Debian's locales package
 * into a temporary LOCPATH (no locale but C is installed on a fresh machine).
 */
START_TEST(profile_numbers_in_any_locale)
{
	char dir[] = "/tmp/test_sched_loc_XXXXXX", err[512];
	struct sched_profile c, de;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct tu_run r = tu_run("localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8", dir);
	ck_assert_msg(r.status == 0, "localedef (package locales): %s", r.err);
	tu_run_free(&r);
	ck_assert_int_eq(setenv("LOCPATH", dir, 1), 0);
	c = load("phone");
	ck_assert_ptr_nonnull(setlocale(LC_NUMERIC, "de_DE.UTF-8"));
	ck_assert(strtod("0.15", NULL) == 0); /* the locale is in force: strtod stops at '.' */
	ck_assert_msg(sched_profile_find("phone", &de, err, sizeof(err)) == SCHED_OK, "%s", err);
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
	ck_assert_int_eq(de.n_dev, c.n_dev);
	for (uint32_t d = 0; d < c.n_dev; d++) {
		ck_assert(de.dev[d].stall_activity == c.dev[d].stall_activity);
		ck_assert(de.dev[d].stall_activity > 0 && de.dev[d].stall_activity < 1);
	}
	r = tu_run("rm -rf %s", dir);
	tu_run_free(&r);
}
END_TEST

START_TEST(profile_write_round_trip)
{
	struct sched_profile p = load("phone"), q;
	char path[] = "/tmp/test_sched_XXXXXX", err[256];
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_msg(sched_profile_write(&p, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sched_profile_load(path, &q, err, sizeof(err)) == SCHED_OK, "%s", err);
	/* a write that fails (EFBIG here, a full disk alike) names the path, not the temporary */
	tu_limit_file_size(64);
	int wrc = sched_profile_write(&p, path, err, sizeof(err));
	tu_limit_file_size(0);
	ck_assert_int_eq(wrc, -1);
	ck_assert_msg(!strncmp(err, path, strlen(path)) && strstr(err, ": write failed: "), "%s",
		      err);
	unlink(path);
	/* a FIFO or a symlink where the profile goes is refused, never written through */
	char fifo[] = "/tmp/test_sched_fifo_XXXXXX";
	ck_assert_int_ge((fd = mkstemp(fifo)), 0);
	close(fd);
	unlink(fifo);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(sched_profile_write(&p, fifo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is a FIFO"), "%s", err);
	/* and read: a FIFO is refused at once (it blocked in fopen), a directory said to be one */
	ck_assert_int_eq(sched_profile_load(fifo, &q, err, sizeof(err)), SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "is a FIFO, not a file"), "%s", err);
	ck_assert_int_eq(sched_profile_load("/tmp", &q, err, sizeof(err)), SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "is a directory") && !strstr(err, "1 MiB"), "%s", err);
	/* ENPU_PROFILE_DIR/host.prof a FIFO: refused, not blocked on */
	char pdir[] = "/tmp/test_sched_dir_XXXXXX", hostp[64];
	ck_assert_ptr_nonnull(mkdtemp(pdir));
	snprintf(hostp, sizeof(hostp), "%s/host.prof", pdir);
	ck_assert_int_eq(mkfifo(hostp, 0600), 0);
	setenv("ENPU_PROFILE_DIR", pdir, 1);
	ck_assert_int_eq(sched_profile_find("host", &q, err, sizeof(err)), SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "is a FIFO"), "%s", err);
	unsetenv("ENPU_PROFILE_DIR");
	unlink(hostp);
	rmdir(pdir);
	unlink(fifo);
	ck_assert_uint_eq(q.n_dev, p.n_dev);
	for (uint32_t k = 0; k < p.n_dev; k++) {
		ck_assert_uint_eq(q.dev[k].op_mask, p.dev[k].op_mask);
		ck_assert_uint_eq(q.dev[k].n_opp, p.dev[k].n_opp);
		ck_assert_double_eq_tol(q.dev[k].cap_f, p.dev[k].cap_f, 1e-15);
		ck_assert_double_eq_tol(q.dev[k].rate[HAL_OP_MATMUL], p.dev[k].rate[HAL_OP_MATMUL],
					1e-3);
	}
	/* the thermal path too */
	ck_assert_double_eq_tol(q.thermal_r_kw, p.thermal_r_kw, 1e-9);
	ck_assert_double_eq_tol(q.thermal_c_jk, p.thermal_c_jk, 1e-9);
	ck_assert_double_eq_tol(q.passive_c - q.ambient_c, p.passive_c - p.ambient_c, 1e-9);
}
END_TEST

/* ---- the DAG of a llama graph ------------------------------------------------------------- */

START_TEST(model_dag_shape_and_edges)
{
	const struct sched_hparams hp = { .n_vocab = 256, .n_embd = 64, .n_layer = 3, .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_rot = 16, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f };
	struct sched_dag d;
	char err[256];

	ck_assert_msg(bench_model_dag(&hp, HAL_TYPE_Q8_0, 1, 16, &d, err, sizeof(err)) == SCHED_OK,
		      "%s", err);
	ck_assert_uint_eq(d.n, 15 * 3 + 3);
	/* every edge goes forward, and each layer's q, k and v matmuls are independent */
	for (uint32_t v = 0; v < d.n; v++)
		for (uint32_t e = d.pred_off[v]; e < d.pred_off[v + 1]; e++)
			ck_assert_uint_lt(d.pred[e], v);
	/* layer 0: 1 embed, then rmsnorm (1), q (2), k (3), v (4): q, k, v depend on the norm only */
	for (uint32_t v = 2; v <= 4; v++) {
		ck_assert_int_eq(d.nodes[v].kind, HAL_OP_MATMUL);
		ck_assert_uint_eq(d.pred_off[v + 1] - d.pred_off[v], 1);
		ck_assert_uint_eq(d.pred[d.pred_off[v]], 1);
		ck_assert_double_gt(d.edge_bytes[d.pred_off[v]], 0);
	}
	sched_dag_free(&d);
}
END_TEST

/* ---- partitioner ---------------------------------------------------------------------------- */

START_TEST(random_dags_placed_validly)
{
	static const char *const names[] = { "phone", "mw" };
	uint64_t seed = 7;

	for (size_t pi = 0; pi < 2; pi++) {
		struct sched_profile p = load(names[pi]);
		for (uint32_t i = 0; i < 30; i++) {
			uint32_t n = 3 + (uint32_t)(i % 28);
			struct sched_dag d;
			struct sched_plan pl;
			struct sched_part_options o = { .objective = SCHED_MIN_LATENCY,
							.contention = i % 2, .improve = true,
							.max_evals = 3000 };
			char why[256];

			ck_assert_int_eq(bench_random_dag(&seed, n, &d), SCHED_OK);
			ck_assert_int_eq(sched_plan_alloc(&pl, n), SCHED_OK);
			ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, why, sizeof(why)),
					 SCHED_OK);
			ck_assert_msg(sched_plan_valid(&p, &d, &pl, why, sizeof(why)), "%s", why);

			double *start = calloc(n, sizeof(double)), *fin = calloc(n, sizeof(double));
			struct sched_sim_options so = { .contention = true, .start = start,
							.finish = fin };
			struct sched_sim_result r;
			sched_simulate(&p, &d, &pl, &so, &r);
			ck_assert(isfinite(r.makespan_s));
			for (uint32_t v = 0; v < n; v++) {
				ck_assert_double_le(start[v], fin[v]);
				for (uint32_t e = d.pred_off[v]; e < d.pred_off[v + 1]; e++)
					ck_assert_double_le(fin[d.pred[e]], start[v] + 1e-15);
				/* one op at a time per device */
				for (uint32_t u = 0; u < v; u++)
					if (pl.dev[u] == pl.dev[v])
						ck_assert(fin[u] <= start[v] + 1e-15 ||
							  fin[v] <= start[u] + 1e-15);
			}
			free(start);
			free(fin);
			sched_plan_free(&pl);
			sched_dag_free(&d);
		}
	}
}
END_TEST

START_TEST(unsupported_ops_fall_back)
{
	struct sched_profile p = parse_two(0);
	/* F16 matmuls: the accelerator takes Q8_0 only, though it would be 10x faster */
	const enum hal_op_kind k[] = { HAL_OP_MATMUL, HAL_OP_MATMUL };
	const double us[][2] = { { 10, 1 }, { 10, 1 } };
	const uint32_t e[][2] = { { 0, 1 } };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true };
	char err[256];

	fixed_dag(&d, 2, k, 1, e, us);
	d.nodes[1].wtype = HAL_TYPE_F16;
	ck_assert_int_eq(sched_plan_alloc(&pl, 2), SCHED_OK);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
	ck_assert_uint_eq(pl.dev[0], 1);
	ck_assert_uint_eq(pl.dev[1], 0);
	/* an op no device runs is an error naming it */
	d.nodes[1].kind = HAL_OP_ATTENTION;
	p.dev[0].op_mask &= ~(1u << HAL_OP_ATTENTION);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "node 1 (attention"), "%s", err);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/*
 * Fork-join A -> {B, C} -> D. On the CPU A = D = 1, B = C = 4; the accelerator runs only the
 * matmuls B and C, in 3 each. Best by hand: B on the accelerator (1..4), C on the CPU (1..5),
 * D 5..6: makespan 6. Both on the accelerator: 8; all on the CPU: 10.
 */
START_TEST(fork_join_optimum_by_hand)
{
	struct sched_profile p = parse_two(0);
	const enum hal_op_kind k[] = { HAL_OP_ADD, HAL_OP_MATMUL, HAL_OP_MATMUL, HAL_OP_ADD };
	const double us[][2] = { { 1, -1 }, { 4, 3 }, { 4, 3 }, { 1, -1 } };
	const uint32_t e[][2] = { { 0, 1 }, { 0, 2 }, { 1, 3 }, { 2, 3 } };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true };
	char err[256];

	fixed_dag(&d, 4, k, 4, e, us);
	ck_assert_int_eq(sched_plan_alloc(&pl, 4), SCHED_OK);
	ck_assert_double_eq_tol(sched_exhaustive(&p, &d, 0, 1000000, &pl), 6e-6, 1e-12);
	ck_assert_uint_ne(pl.dev[1], pl.dev[2]);
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 6e-6, 1e-12);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 6e-6, 1e-12);
	/* single-device baselines as computed by hand */
	sched_plan_all_on(&p, &d, 0, &pl);
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 10e-6, 1e-12);
	sched_plan_all_on(&p, &d, 1, &pl);
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 8e-6, 1e-12);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/*
 * Chain A -> B -> C with B 3 us faster on the accelerator but each crossing costing 2 us:
 * going there and back costs 4, so the optimum stays on the CPU (1 + 5 + 1 = 7, not 8).
 */
START_TEST(crossing_cost_keeps_chain_home)
{
	struct sched_profile p = parse_two(2);
	const enum hal_op_kind k[] = { HAL_OP_ADD, HAL_OP_MATMUL, HAL_OP_ADD };
	const double us[][2] = { { 1, -1 }, { 5, 2 }, { 1, -1 } };
	const uint32_t e[][2] = { { 0, 1 }, { 1, 2 } };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true };
	char err[256];

	fixed_dag(&d, 3, k, 2, e, us);
	ck_assert_int_eq(sched_plan_alloc(&pl, 3), SCHED_OK);
	ck_assert_double_eq_tol(sched_exhaustive(&p, &d, 0, 1000000, NULL), 7e-6, 1e-12);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
	ck_assert_uint_eq(pl.dev[1], 0);
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 7e-6, 1e-12);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/* Partitions d for latency (local search alone or with the exact step); its makespan. */
static double partition_latency(const struct sched_profile *p, const struct sched_dag *d,
				struct sched_plan *pl, bool local_only, struct sched_part_stats *ps)
{
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true,
					.local_only = local_only };
	char err[256];

	ck_assert_int_eq(sched_partition(p, d, &o, pl, ps, err, sizeof(err)), SCHED_OK);
	ck_assert_msg(sched_plan_valid(p, d, pl, err, sizeof(err)), "%s", err);
	return plan_makespan(p, d, pl);
}

/*
 * Three independent ops, two devices; A runs on the CPU in 1 or the accelerator in 7, B on the
 * CPU only in 5, C in 5 or 6. HEFT takes C first (highest rank) onto the CPU, B after it, and
 * A to the accelerator: 10. The optimum by hand is A and B on the CPU, C on the accelerator:
 * 6. No single re-placement reaches it (A to the CPU: 11; C to the accelerator: 13), so the
 * local search needs its pair move (two nodes' devices at once).
 */
START_TEST(greedy_trap_needs_pair_move)
{
	struct sched_profile p = parse_two(0);
	const enum hal_op_kind k[] = { HAL_OP_MATMUL, HAL_OP_ADD, HAL_OP_MATMUL };
	const double us[][2] = { { 1, 7 }, { 5, -1 }, { 5, 6 } };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_stats ps;

	fixed_dag(&d, 3, k, 0, NULL, us);
	ck_assert_int_eq(sched_plan_alloc(&pl, 3), SCHED_OK);
	ck_assert_double_eq_tol(sched_exhaustive(&p, &d, 0, 1000000, NULL), 6e-6, 1e-12);
	ck_assert_double_eq_tol(partition_latency(&p, &d, &pl, true, &ps), 6e-6, 1e-12);
	ck_assert_double_eq_tol(ps.heft_makespan_s, 10e-6, 1e-12);
	ck_assert_uint_eq(pl.dev[2], 1);
	ck_assert_uint_eq(ps.exact_nodes, 0); /* local search alone */
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/*
 * Three independent ops: A 4 on the CPU or 3 on the accelerator, B 3 or 7, C 8 or 8. HEFT puts
 * C on the CPU (0..8), B and A on the accelerator (10); the optimum by hand is C alone on the
 * accelerator and A, B on the CPU: 8. That takes all three nodes moving at once, which no move
 * of the local search does: its kicks (random re-placements, then the search again) find it,
 * and by default, the graph being tiny, the exact step instead, which also proves it optimal.
 */
START_TEST(three_node_trap_left_by_kicks_and_exact_step)
{
	struct sched_profile p = parse_two(0);
	const enum hal_op_kind k[] = { HAL_OP_MATMUL, HAL_OP_MATMUL, HAL_OP_MATMUL };
	const double us[][2] = { { 4, 3 }, { 3, 7 }, { 8, 8 } };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_stats ps;

	fixed_dag(&d, 3, k, 0, NULL, us);
	for (uint32_t v = 0; v < 3; v++)
		d.nodes[v].sig = v + 1; /* distinct ops: no class move relabels them together */
	ck_assert_int_eq(sched_plan_alloc(&pl, 3), SCHED_OK);
	ck_assert_double_eq_tol(sched_exhaustive(&p, &d, 0, 1000000, NULL), 8e-6, 1e-12);
	ck_assert_double_eq_tol(partition_latency(&p, &d, &pl, true, &ps), 8e-6, 1e-12);
	ck_assert_double_eq_tol(ps.heft_makespan_s, 10e-6, 1e-12);
	ck_assert_uint_eq(ps.exact_nodes, 0);
	ck_assert_double_eq_tol(partition_latency(&p, &d, &pl, false, &ps), 8e-6, 1e-12);
	ck_assert(ps.exact_proven);
	ck_assert(ps.exact_kept); /* the local search without kicks had stopped at 10 */
	ck_assert_uint_gt(ps.exact_nodes, 0);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

START_TEST(near_exhaustive_optimum_on_small_dags)
{
	struct sched_profile p = load("phone");
	uint64_t seed = 99;
	double sum = 0;
	uint32_t count = 0;

	p.budget_w = 0;
	p.thermal_r_kw = 0; /* no thermal budget either */
	for (uint32_t i = 0; i < 40; i++) {
		uint32_t n = 3 + i % 6;
		struct sched_dag d;
		struct sched_plan pl;
		struct sched_part_stats ps;

		ck_assert_int_eq(bench_random_dag(&seed, n, &d), SCHED_OK);
		ck_assert_int_eq(sched_plan_alloc(&pl, n), SCHED_OK);
		double got = partition_latency(&p, &d, &pl, true, &ps);
		double opt = sched_exhaustive(&p, &d, 0, 20000000, NULL);
		ck_assert_double_gt(opt, 0);
		/* the optimum is a lower bound of every schedule, the partitioner's included */
		ck_assert_double_le(opt, got * (1 + 1e-9));
		/* local search alone: within 10 % on every one of these */
		ck_assert_double_le(got / opt - 1, 0.10);
		sum += got / opt - 1;
		count++;
		/* with the exact step (n <= 12): the optimum, proven */
		ck_assert_double_eq_tol(partition_latency(&p, &d, &pl, false, &ps), opt, opt * 1e-9);
		ck_assert(ps.exact_proven);
		sched_plan_free(&pl);
		sched_dag_free(&d);
	}
	ck_assert_double_le(sum / count, 0.02);
}
END_TEST

/*
 * A reserved device class (speculative decoding's draft device, sched_placer_reserve) is left
 * out of the placer's plans: on the phone profile random DAGs that use the NPU before use it
 * no more after, and the plans stay valid. The CPU cannot be reserved.
 */
START_TEST(reserved_class_left_out_of_plans)
{
	struct sched_placer pr;
	char err[256];
	uint32_t npu_before = 0, npu_after = 0;

	ck_assert_int_eq(sched_placer_init(&pr, "phone", false, 0, err, sizeof(err)), SCHED_OK);
	for (int pass = 0; pass < 2; pass++) {
		uint64_t seed = 7;
		if (pass)
			ck_assert_int_eq(sched_placer_reserve(&pr, HAL_CLASS_NPU, err, sizeof(err)),
					 SCHED_OK);
		for (uint32_t i = 0; i < 30; i++) {
			struct sched_dag d;
			struct sched_plan pl;
			const uint32_t n = 4 + i % 8;

			ck_assert_int_eq(bench_random_dag(&seed, n, &d), SCHED_OK);
			ck_assert_int_eq(sched_plan_alloc(&pl, n), SCHED_OK);
			ck_assert_int_eq(sched_partition(&pr.profile, &d, &pr.part, &pl, NULL, err,
							 sizeof(err)), SCHED_OK);
			ck_assert_msg(sched_plan_valid(&pr.profile, &d, &pl, err, sizeof(err)), "%s",
				      err);
			for (uint32_t v = 0; v < n; v++)
				if (pr.profile.dev[pl.dev[v]].cls == HAL_CLASS_NPU)
					*(pass ? &npu_after : &npu_before) += 1;
			sched_plan_free(&pl);
			sched_dag_free(&d);
		}
	}
	ck_assert_uint_gt(npu_before, 0);
	ck_assert_uint_eq(npu_after, 0);
	ck_assert_int_eq(sched_placer_reserve(&pr, HAL_CLASS_CPU, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err, "fallback"));
}
END_TEST

/* ---- power manager ------------------------------------------------------------------------- */

/* A CPU-class device with three OPPs (name, cap_nf, leak_mw, idle_mw), suspending at once. */
#define DEV3 "device %s cpu\nops all\ntypes f32 f16 q8_0 q4_0\nrate * 1\nbandwidth_gbs 10\n" \
	     "opp 500 600\nopp 1000 800\nopp 2000 1000\ncap_nf %g\nstall_activity 0.5\n"   \
	     "leak_mw %g\nidle_mw %g\nsuspend_mw 0\nwake_us 0\nautosuspend_us 0\n"

/* One device, three OPPs; ops of given compute and memory, leakage as asked. */
static struct sched_profile one_dev(double leak_mw, double idle_mw)
{
	struct sched_profile p;
	char text[1024], err[256];

	snprintf(text, sizeof(text), "profile one\nmemory unified 10\ndram_pj_per_byte 0\n" DEV3,
		 "c", 1.0, leak_mw, idle_mw);
	ck_assert_msg(sched_profile_parse(text, "one.prof", &p, err, sizeof(err)) == SCHED_OK,
		      "%s", err);
	return p;
}

static void one_node(struct sched_dag *d, double ops, double bytes)
{
	ck_assert_int_eq(sched_dag_init(d, 1, 0, NULL, NULL), SCHED_OK);
	d->nodes[0].kind = HAL_OP_ADD;
	d->nodes[0].ops = ops;
	d->nodes[0].bytes = bytes;
}

START_TEST(memory_bound_runs_at_low_clock)
{
	/* 1 MB at 10 GB/s = 100 us; 1e4 ops take 5 us even at 500 MHz */
	struct sched_profile p = one_dev(10, 5);
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_ENERGY, .latency_target_s = 200e-6 };
	struct sched_sim_result r, rmax;

	one_node(&d, 1e4, 1e6);
	ck_assert_int_eq(sched_plan_alloc(&pl, 1), SCHED_OK);
	sched_power_choose(&p, &d, &o, &pl, &r);
	ck_assert_uint_eq(pl.opp[0], 0);
	sched_power_max(&p, &o, &pl);
	struct sched_sim_options so = { .period_s = 200e-6 };
	sched_simulate(&p, &d, &pl, &so, &rmax);
	ck_assert_double_lt(r.energy_j, rmax.energy_j);
	ck_assert_double_le(r.makespan_s, 200e-6);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

START_TEST(leaky_compute_bound_races_to_idle)
{
	/*
	 * 2e5 ops: 100 us at 2 GHz, 400 us at 500 MHz. With 2 W of leakage while running and
	 * nothing while suspended, finishing first is cheaper: 1 V^2 * 2e5 cycles = 0.2 mJ +
	 * 0.2 mJ of leakage at the top, against 0.072 + 0.48 mJ at the bottom.
	 */
	struct sched_profile p = one_dev(2000, 0);
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_ENERGY, .latency_target_s = 1e-3 };
	struct sched_sim_result r;

	one_node(&d, 2e5, 0);
	ck_assert_int_eq(sched_plan_alloc(&pl, 1), SCHED_OK);
	sched_power_choose(&p, &d, &o, &pl, &r);
	ck_assert_uint_eq(pl.opp[0], 2);
	/* without leakage the low clock wins */
	p = one_dev(0, 0);
	sched_power_choose(&p, &d, &o, &pl, &r);
	ck_assert_uint_eq(pl.opp[0], 0);
	/* and a target the low clock misses forces a higher one */
	o.latency_target_s = 150e-6;
	sched_power_choose(&p, &d, &o, &pl, &r);
	ck_assert_uint_eq(pl.opp[0], 2);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/* Uniform in [0, 1). */
static double unif(uint64_t *seed)
{
	return (double)(tu_rand_u64(seed) >> 11) * 0x1p-53;
}

/*
 * Two devices in a chain, three OPPs each, random work, leakage, latency target and admin
 * bounds: the power manager's clocks are within the bounds and cost exactly the least energy
 * of all the allowed combinations that meet the target (checked by trying them all). One
 * device's clock at a time is not enough: lowering the first can leave the second no slack
 * where the reverse would save more (the old single-device descent missed the optimum in 148
 * of 2239 such cases, by up to 23 %).
 */
START_TEST(power_choose_jointly_optimal_within_bounds)
{
	uint64_t seed = 7;
	uint32_t feasible = 0;

	for (int it = 0; it < 300; it++) {
		struct sched_profile p;
		char text[2048], err[256];
		double leak_a = 500 * unif(&seed), leak_b = 500 * unif(&seed);
		snprintf(text, sizeof(text),
			 "profile t\nmemory unified 100\ndram_pj_per_byte 0\n" DEV3 DEV3, "a", 1.0,
			 leak_a, 5.0, "b", 2.0, leak_b, 5.0);
		ck_assert_msg(sched_profile_parse(text, "t.prof", &p, err, sizeof(err)) == SCHED_OK,
			      "%s", err);
		const uint32_t e[][2] = { { 0, 1 } };
		struct sched_dag d;
		struct sched_plan pl;
		ck_assert_int_eq(sched_dag_init(&d, 2, 1, e, NULL), SCHED_OK);
		ck_assert_int_eq(sched_plan_alloc(&pl, 2), SCHED_OK);
		for (uint32_t v = 0; v < 2; v++) {
			d.nodes[v].kind = HAL_OP_ADD;
			d.nodes[v].ops = 1e5 + 4e5 * unif(&seed);
			d.nodes[v].bytes = 2e6 * unif(&seed);
			pl.dev[v] = (uint8_t)v;
		}
		struct sched_part_options o = { .objective = SCHED_MIN_ENERGY,
						.latency_target_s = (100 + 900 * unif(&seed)) * 1e-6 };
		if (it % 3 == 0) { /* every third case: the admin caps a or raises b's floor */
			o.opp_max[0] = 1;
			o.opp_min[1] = 1;
			o.opp_max[1] = 2;
		}
		struct sched_sim_result r;
		sched_power_choose(&p, &d, &o, &pl, &r);
		for (uint32_t k = 0; k < 2; k++) {
			uint32_t lo = o.opp_max[k] ? o.opp_min[k] : 0, hi = o.opp_max[k] ? o.opp_max[k] : 2;
			ck_assert_uint_ge(pl.opp[k], lo);
			ck_assert_uint_le(pl.opp[k], hi);
		}
		double best = INFINITY;
		for (uint32_t a = 0; a <= (o.opp_max[0] ? o.opp_max[0] : 2); a++)
			for (uint32_t b = o.opp_min[1]; b <= 2; b++) {
				struct sched_plan q = pl;
				struct sched_sim_options so = { .period_s = o.latency_target_s };
				struct sched_sim_result rq;
				q.opp[0] = a;
				q.opp[1] = b;
				sched_simulate(&p, &d, &q, &so, &rq);
				if (rq.makespan_s <= o.latency_target_s && rq.energy_j < best)
					best = rq.energy_j;
			}
		if (best < INFINITY) {
			feasible++;
			ck_assert_double_le(r.makespan_s, o.latency_target_s);
			ck_assert_double_le(r.energy_j, best * (1 + 1e-9));
		}
		sched_plan_free(&pl);
		sched_dag_free(&d);
	}
	ck_assert_uint_gt(feasible, 100);
}
END_TEST

/*
 * Energy mode on the phone profile: the plan meets its latency target and costs less than the
 * same placement with every device at its top clock, and less than the fastest placement at
 * the top clocks, at the same target.
 */
START_TEST(energy_mode_meets_target_below_max_clocks)
{
	struct sched_profile p = load("phone");
	const struct sched_hparams hp = { .n_vocab = 2048, .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 4, .n_ff = 512, .n_rot = 64, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f };
	struct sched_dag d;
	struct sched_plan pl, fast;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true,
					.contention = true, .max_evals = 3000 };
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r, rmax, rfast;
	char err[256];

	p.budget_w = 0;
	p.thermal_r_kw = 0; /* no thermal budget either */
	ck_assert_int_eq(bench_model_dag(&hp, HAL_TYPE_Q8_0, 1, 32, &d, err, sizeof(err)),
			 SCHED_OK);
	ck_assert_int_eq(sched_plan_alloc(&pl, d.n), SCHED_OK);
	ck_assert_int_eq(sched_plan_alloc(&fast, d.n), SCHED_OK);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &fast, NULL, err, sizeof(err)), SCHED_OK);
	sched_simulate(&p, &d, &fast, &so, &r);
	for (double f = 1.1; f < 5; f *= 2) {
		o.objective = SCHED_MIN_ENERGY;
		o.latency_target_s = r.makespan_s * f;
		so.period_s = o.latency_target_s;
		ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
		ck_assert_msg(sched_plan_valid(&p, &d, &pl, err, sizeof(err)), "%s", err);
		struct sched_sim_result re;
		sched_simulate(&p, &d, &pl, &so, &re);
		ck_assert_double_le(re.makespan_s, o.latency_target_s);
		sched_power_max(&p, NULL, &pl);
		sched_simulate(&p, &d, &pl, &so, &rmax);
		sched_simulate(&p, &d, &fast, &so, &rfast);
		ck_assert_double_lt(re.energy_j, rmax.energy_j);
		ck_assert_double_lt(re.energy_j, rfast.energy_j);
	}
	sched_plan_free(&pl);
	sched_plan_free(&fast);
	sched_dag_free(&d);
}
END_TEST

START_TEST(admin_bounds_honoured)
{
	struct sched_profile p = load("phone");
	uint32_t lo, hi;

	/* npu OPPs 300, 600, 900, 1200, 1400 MHz */
	sched_power_bounds(&p.dev[0], 500e6, 1000e6, &lo, &hi);
	ck_assert_uint_eq(lo, 1);
	ck_assert_uint_eq(hi, 2);
	sched_power_bounds(&p.dev[0], 0, 200e6, &lo, &hi); /* below the table: the lowest */
	ck_assert_uint_eq(lo, 0);
	ck_assert_uint_eq(hi, 0);
	sched_power_bounds(&p.dev[0], 1400e6, 1400e6, &lo, &hi);
	ck_assert_uint_eq(lo, 4);
	ck_assert_uint_eq(hi, 4);

	const struct sched_hparams hp = { .n_vocab = 512, .n_embd = 128, .n_layer = 2, .n_head = 4, .n_head_kv = 4, .n_ff = 256, .n_rot = 32, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f };
	struct sched_dag d;
	struct sched_plan pl;
	char err[256];
	ck_assert_int_eq(bench_model_dag(&hp, HAL_TYPE_Q8_0, 1, 32, &d, err, sizeof(err)),
			 SCHED_OK);
	ck_assert_int_eq(sched_plan_alloc(&pl, d.n), SCHED_OK);
	for (int mode = 0; mode < 2; mode++) {
		struct sched_part_options o = { .objective = mode ? SCHED_MIN_ENERGY
								  : SCHED_MIN_LATENCY,
						.latency_target_s = 1, .improve = true,
						.contention = true, .max_evals = 2000 };
		/* the admin pins the NPU to 900 MHz and caps the GPU at 500 MHz */
		sched_power_bounds(&p.dev[0], 900e6, 900e6, &o.opp_min[0], &o.opp_max[0]);
		sched_power_bounds(&p.dev[1], 0, 500e6, &o.opp_min[1], &o.opp_max[1]);
		ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
		ck_assert_uint_eq(pl.opp[0], 2);
		ck_assert_uint_le(pl.opp[1], 1);
		struct sched_sim_result r;
		sched_power_choose(&p, &d, &o, &pl, &r);
		ck_assert_uint_eq(pl.opp[0], 2);
		ck_assert_uint_le(pl.opp[1], 1);
	}
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

START_TEST(power_budget_respected)
{
	struct sched_profile p = load("phone");
	const struct sched_hparams hp = { .n_vocab = 2048, .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 4, .n_ff = 512, .n_rot = 64, .rope_freq_base = 10000, .rope_freq_scale = 1, .rms_eps = 1e-5f };
	struct sched_dag d;
	struct sched_plan pl;
	struct sched_part_options o = { .objective = SCHED_MIN_LATENCY, .improve = true,
					.contention = true, .budget_w = 0.5, .max_evals = 3000 };
	struct sched_sim_options so = { .contention = true };
	struct sched_sim_result r;
	char err[256];

	ck_assert_int_eq(bench_model_dag(&hp, HAL_TYPE_Q8_0, 32, 32, &d, err, sizeof(err)),
			 SCHED_OK);
	ck_assert_int_eq(sched_plan_alloc(&pl, d.n), SCHED_OK);
	ck_assert_int_eq(sched_partition(&p, &d, &o, &pl, NULL, err, sizeof(err)), SCHED_OK);
	sched_simulate(&p, &d, &pl, &so, &r);
	ck_assert_double_le(r.avg_w, 0.5 * 1.0001);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/*
 * shares_cores: an OpenCL CPU device computes on the CPU's cores, so two independent ops on
 * the two never overlap in the simulation, and the partitioner gains nothing by splitting
 * them; the key is written back by sched_profile_write and refused when it names no device.
 */
START_TEST(shared_cores_serialise)
{
	struct sched_profile p = parse_two(0), q;
	const enum hal_op_kind kinds[2] = { HAL_OP_MATMUL, HAL_OP_MATMUL };
	const double us[2][2] = { { 100, 100 }, { 100, 100 } };
	struct sched_dag d;
	struct sched_plan pl;
	char err[256];

	fixed_dag(&d, 2, kinds, 0, NULL, us);
	ck_assert_int_eq(sched_plan_alloc(&pl, 2), SCHED_OK);
	pl.dev[0] = 0;
	pl.dev[1] = 1;
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 100e-6, 1e-9);
	p.dev[1].shares_cores = 1; /* acc runs on cpu's cores */
	ck_assert_double_eq_tol(plan_makespan(&p, &d, &pl), 200e-6, 1e-9);

	const char *path = tu_tmp_path(".prof");
	ck_assert_msg(sched_profile_write(&p, path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sched_profile_load(path, &q, err, sizeof(err)) == SCHED_OK, "%s", err);
	ck_assert_uint_eq(q.dev[1].shares_cores, 1);
	ck_assert_uint_eq(q.dev[0].shares_cores, 0);
	char text[1024];
	snprintf(text, sizeof(text), two_dev, 0.0);
	strcat(text, "shares_cores gpu0\n");
	ck_assert_int_eq(sched_profile_parse(text, "bad.prof", &q, err, sizeof(err)),
			 SCHED_ERR_INVALID);
	ck_assert_msg(strstr(err, "shares_cores: no device 'gpu0'"), "%s", err);
	sched_plan_free(&pl);
	sched_dag_free(&d);
}
END_TEST

/* ---- history ------------------------------------------------------------------------------- */

START_TEST(history_corrects_and_damps_outliers)
{
	struct sched_history *h = calloc(1, sizeof(*h));

	ck_assert_double_eq(sched_history_factor(h, 42, 1), 1.0);
	for (int i = 0; i < 20; i++)
		sched_history_record(h, 42, 1, 1e-3, 2e-3);
	ck_assert_double_eq_tol(sched_history_factor(h, 42, 1), 2.0, 1e-9);
	sched_history_record(h, 42, 1, 1e-3, 1.0);                /* a 500x outlier */
	double f = sched_history_factor(h, 42, 1);
	ck_assert_double_lt(f, 2.4);
	ck_assert_double_gt(f, 2.0);
	/* an op not measured on device 1 yet takes device 1's mean */
	ck_assert_double_eq_tol(sched_history_factor(h, 7, 1), f, 1e-9);
	/* device 0, never measured: the mean of all, as the devices measured were slower */
	ck_assert_double_eq_tol(sched_history_factor(h, 42, 0), f, 1e-9);
	/* measured faster than modeled: an unmeasured device is still not assumed faster */
	memset(h, 0, sizeof(*h));
	sched_history_record(h, 42, 1, 1e-3, 0.5e-3);
	ck_assert_double_eq_tol(sched_history_factor(h, 42, 1), 0.5, 1e-9);
	ck_assert_double_eq(sched_history_factor(h, 42, 0), 1.0);
	free(h);
}
END_TEST

/* Profiles are parsed from several threads at once (sessions placed "auto"): each gets its own. */
static void *find_profiles(void *arg)
{
	struct sched_profile *p = malloc(sizeof(*p));
	char err[256];
	long bad = 0;

	for (int i = 0; p && i < 200; i++)
		bad += sched_profile_find(i % 2 ? "phone" : "mw", p, err, sizeof(err)) != SCHED_OK ||
		       strcmp(p->name, i % 2 ? "phone" : "mw");
	free(p);
	(void)arg;
	return (void *)bad;
}

START_TEST(profiles_parse_in_parallel)
{
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, find_profiles, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		pthread_join(th[i], &bad);
		ck_assert_ptr_null(bad);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, profiles_in_tree_load);
	tcase_add_test(tc, profile_errors_name_file_and_line);
	tcase_add_test(tc, profile_numbers_in_any_locale);
	tcase_add_test(tc, profile_write_round_trip);
	tcase_add_test(tc, profiles_parse_in_parallel);
	tcase_add_test(tc, model_dag_shape_and_edges);
	tcase_add_test(tc, random_dags_placed_validly);
	tcase_add_test(tc, unsupported_ops_fall_back);
	tcase_add_test(tc, fork_join_optimum_by_hand);
	tcase_add_test(tc, crossing_cost_keeps_chain_home);
	tcase_add_test(tc, greedy_trap_needs_pair_move);
	tcase_add_test(tc, three_node_trap_left_by_kicks_and_exact_step);
	tcase_add_test(tc, near_exhaustive_optimum_on_small_dags);
	tcase_add_test(tc, reserved_class_left_out_of_plans);
	tcase_add_test(tc, memory_bound_runs_at_low_clock);
	tcase_add_test(tc, leaky_compute_bound_races_to_idle);
	tcase_add_test(tc, power_choose_jointly_optimal_within_bounds);
	tcase_add_test(tc, energy_mode_meets_target_below_max_clocks);
	tcase_add_test(tc, admin_bounds_honoured);
	tcase_add_test(tc, power_budget_respected);
	tcase_add_test(tc, history_corrects_and_damps_outliers);
	tcase_add_test(tc, shared_cores_serialise);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
