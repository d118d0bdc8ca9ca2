/* SPDX-License-Identifier: MIT */
/*
 * test_npu_thermal.c - the die's RC thermal model (kmod/silicon/npu_thermal.c).
 *
 * Oracles: the closed form of a first-order RC network (steady state Tamb + P R, 63.2 % of
 * the step after one time constant R C, e^-t/tau cooling), libm's exp() for the integer
 * exponential, and the energy model's own per-cycle figures for the OPP power table.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "kmod/silicon/npu_thermal.h"
#include "testutil.h"

/* 250 K/W, 0.4 J/K (tau = 100 s), 35 C: the default die. */
static struct npu_thermal die(void)
{
	struct npu_thermal t;

	npu_thermal_init(&t, NULL);
	return t;
}

/* P (W) for dt (s) in steps of step_s. */
static void run(struct npu_thermal *t, double p_w, double dt_s, double step_s)
{
	for (double s = 0; s < dt_s - 1e-12; s += step_s) {
		uint64_t ns = (uint64_t)llround(step_s * 1e9);
		npu_thermal_step(t, ns, (uint64_t)llround(p_w * step_s * 1e15));
	}
}

START_TEST(test_exp_matches_libm)
{
	for (uint64_t x = 0; x < (34ull << 32); x += 977ull << 16) {
		double want = exp(-(double)x / 4294967296.0);
		double got = npu_thermal_exp_neg_q30(x) / (double)(1u << 30);
		ck_assert_msg(fabs(got - want) < 1.0 / (1 << 26), "x=%f: %.9f vs %.9f",
			      x / 4294967296.0, got, want);
	}
	ck_assert_uint_eq(npu_thermal_exp_neg_q30(0), 1u << 30);
	ck_assert_uint_eq(npu_thermal_exp_neg_q30(UINT64_MAX), 0);
}
END_TEST

/* A constant power settles at Tamb + P R, whatever the step length. */
START_TEST(test_steady_state)
{
	const double steps[] = { 0.001, 0.5, 7, 1000 };

	for (unsigned i = 0; i < 4; i++) {
		struct npu_thermal t = die();
		run(&t, 0.100, 2000, steps[i]); /* 20 tau */
		/* 35 C + 0.1 W x 250 K/W = 60 C */
		ck_assert_msg(abs(npu_thermal_temp_mc(&t) - 60000) <= 2, "step %g s: %d mC", steps[i],
			      npu_thermal_temp_mc(&t));
		ck_assert_uint_eq(t.power_uw, 100000);
	}
}
END_TEST

/* After one time constant the rise is 1 - 1/e of the step; after 3, 95 %. */
START_TEST(test_time_constant)
{
	struct npu_thermal t = die();

	run(&t, 0.2, 100, 0.01); /* tau = 250 K/W x 0.4 J/K = 100 s; step 50 K */
	double rise = (npu_thermal_temp_mc(&t) - 35000) / 1e3;
	ck_assert_msg(fabs(rise - 50 * (1 - exp(-1))) < 0.01, "rise after tau %.4f K", rise);
	run(&t, 0.2, 200, 0.01);
	rise = (npu_thermal_temp_mc(&t) - 35000) / 1e3;
	ck_assert_msg(fabs(rise - 50 * (1 - exp(-3))) < 0.01, "rise after 3 tau %.4f K", rise);
}
END_TEST

/* Idle: the rise decays as e^-t/tau, in one step or many alike. */
START_TEST(test_cooling)
{
	struct npu_thermal a = die();

	run(&a, 0.2, 3000, 10); /* settled at 85 C */
	ck_assert_int_eq(npu_thermal_temp_mc(&a), 85000);
	struct npu_thermal b = a;
	npu_thermal_step(&a, 50000000000ull, 0); /* 50 s idle at once */
	run(&b, 0, 50, 0.001);			 /* and in 1 ms steps */
	double want = 50 * exp(-0.5);
	ck_assert_msg(fabs((npu_thermal_temp_mc(&a) - 35000) / 1e3 - want) < 0.005, "%d",
		      npu_thermal_temp_mc(&a));
	ck_assert_int_le(abs(npu_thermal_temp_mc(&a) - npu_thermal_temp_mc(&b)), 5);
	npu_thermal_step(&a, 100000000000000ull, 0); /* a day later: ambient */
	ck_assert_int_eq(npu_thermal_temp_mc(&a), 35000);
	ck_assert_uint_eq(a.power_uw, 0);
}
END_TEST

/* Parameters: a smaller C speeds the same curve up; R and C are clamped; the rise is kept. */
START_TEST(test_parameters)
{
	struct npu_thermal_params p = { .r_mk_per_w = 250000, .c_nj_per_k = 40000, .ambient_mc = 25000 };
	struct npu_thermal t;

	npu_thermal_init(&t, &p); /* tau = 10 ms */
	run(&t, 0.2, 0.01, 0.0001);
	ck_assert_msg(abs(npu_thermal_temp_mc(&t) - 25000 - (int)(50000 * (1 - exp(-1)))) < 30,
		      "%d", npu_thermal_temp_mc(&t));
	p.ambient_mc = 45000;
	npu_thermal_set(&t, &p);
	ck_assert_int_ge(npu_thermal_temp_mc(&t), 45000 + 31000);
	p.r_mk_per_w = 0;
	p.c_nj_per_k = 0;
	npu_thermal_set(&t, &p);
	ck_assert_uint_eq(t.p.r_mk_per_w, 1);
	ck_assert_uint_eq(t.p.c_nj_per_k, 1);
	npu_thermal_step(&t, 1000, 1000000); /* tau below 1 ns: settles at once, at 1 mW x 1 mK/W */
	ck_assert_uint_eq(t.rise_uk, 1);
	p.r_mk_per_w = UINT32_MAX;
	npu_thermal_set(&t, &p);
	ck_assert_uint_eq(t.p.r_mk_per_w, NPU_THERM_R_MAX_MK_PER_W);
	/* absurd inputs stay bounded and do not wrap */
	npu_thermal_step(&t, 1, UINT64_MAX);
	ck_assert_uint_le(t.rise_uk, NPU_THERM_RISE_MAX_UK);
	npu_thermal_step(&t, 0, UINT64_MAX);
	ck_assert_uint_le(t.rise_uk, NPU_THERM_RISE_MAX_UK);
	npu_thermal_step(&t, UINT64_MAX, 0);
	ck_assert_int_eq(npu_thermal_temp_mc(&t), 45000);
}
END_TEST

/* Heat released at once: E / C. */
START_TEST(test_impulse)
{
	struct npu_thermal t = die();

	npu_thermal_step(&t, 0, 400000000000000ull); /* 0.4 J into 0.4 J/K */
	ck_assert_int_eq(npu_thermal_temp_mc(&t), 36000);
}
END_TEST

/* The OPP power table is the engine's per-cycle energy at full load, scaled by f V^2. */
START_TEST(test_opp_power)
{
	const struct npu_hw_params *hw = &npu_default_hw;
	double cycle_fj = (double)hw->mac_rows * hw->mac_cols * hw->mac_fj +
			  (double)hw->sram_bytes_per_cycle * hw->sram_byte_fj;
	uint64_t prev = 0;

	for (uint32_t k = 0; k < NPU_NUM_OPPS; k++) {
		double v = npu_opp_table[k].volt_mv / (double)hw->nominal_mv;
		double want_uw = cycle_fj * npu_opp_table[k].freq_mhz * v * v / 1e3;
		uint64_t got = npu_thermal_opp_power_uw(hw, k);
		ck_assert_msg(fabs((double)got - want_uw) <= 1, "opp %u: %lu vs %.1f", k,
			      (unsigned long)got, want_uw);
		ck_assert_uint_gt(got, prev);
		prev = got;
	}
	/* the top point at full load heats the default die past 60 C, the 800 MHz one not */
	ck_assert_uint_gt(npu_thermal_opp_power_uw(hw, NPU_NUM_OPPS - 1) * 250, 25000000ull);
	ck_assert_uint_lt(npu_thermal_opp_power_uw(hw, NPU_NUM_OPPS - 2) * 250, 25000000ull);
}
END_TEST

static Suite *thermal_suite(void)
{
	Suite *s = suite_create("npu_thermal");
	TCase *tc = tcase_create("model");

	tcase_add_test(tc, test_exp_matches_libm);
	tcase_add_test(tc, test_steady_state);
	tcase_add_test(tc, test_time_constant);
	tcase_add_test(tc, test_cooling);
	tcase_add_test(tc, test_parameters);
	tcase_add_test(tc, test_impulse);
	tcase_add_test(tc, test_opp_power);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(thermal_suite());
}
