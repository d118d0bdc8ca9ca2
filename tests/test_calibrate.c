/* SPDX-License-Identifier: MIT */
/*
 * test_calibrate.c - `npu-bench calibrate`'s routine on tiny shapes: the profile it writes
 * parses back, every measured number is positive and finite, what cannot be measured (power)
 * is the base profile's, and the NPU carries the engine model's operating points. No speed
 * is asserted: the host's timing is not the test's business.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmod/silicon/npu_engine.h"
#include "bench/calibrate.h"
#include "sched/profile.h"

static void assert_pos(double v, const char *dev, const char *what)
{
	ck_assert_msg(isfinite(v) && v > 0, "%s %s = %g", dev, what, v);
}

START_TEST(calibrate_tiny_writes_a_valid_profile)
{
	struct bench_calib_opts o = {
		.reps = 1, .bw_bytes = 4u << 20, .stream_bytes = 1u << 20,
		.dim = 64, .ffn = 128, .vocab = 256, .prefill = 8,
	};
	struct sched_profile *base = calloc(1, sizeof(*base)), *out = calloc(1, sizeof(*out));
	struct sched_profile *back = calloc(1, sizeof(*back));
	char err[512] = "", path[] = "/tmp/enpu-calib-XXXXXX";
	int fd = mkstemp(path);

	ck_assert(base && out && back && fd >= 0);
	close(fd);
	ck_assert_msg(sched_profile_find("host", base, err, sizeof(err)) == SCHED_OK, "%s", err);
	ck_assert_msg(bench_calibrate(&o, base, out, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sched_profile_write_notes(out, path, "a note\nwith two lines", err,
					  sizeof(err)) == 0, "%s", err);
	ck_assert_msg(sched_profile_load(path, back, err, sizeof(err)) == SCHED_OK, "%s", err);
	unlink(path);

	ck_assert_str_eq(back->name, base->name);
	ck_assert_uint_eq(back->n_dev, base->n_dev);
	ck_assert(back->unified);
	assert_pos(back->mem_bw, "memory", "bandwidth");
	/* not measurable here: the base's estimates go through unchanged */
	ck_assert(fabs(back->budget_w - base->budget_w) <= 1e-6 * base->budget_w);
	for (uint32_t i = 0; i < back->n_dev; i++) {
		const struct sched_dev_profile *d = &back->dev[i], *b = &base->dev[i];

		ck_assert_str_eq(d->name, b->name);
		ck_assert_uint_eq(d->op_mask, b->op_mask);
		assert_pos(d->bw, d->name, "bandwidth");
		assert_pos(d->launch_s, d->name, "launch");
		assert_pos(d->sync_s, d->name, "sync");
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if (d->op_mask & (1u << op))
				assert_pos(d->rate[op], d->name, hal_op_name((enum hal_op_kind)op));
		for (int t = 0; t < HAL_TYPE_COUNT; t++)
			assert_pos(d->type_scale[t], d->name, hal_type_name((enum hal_type)t));
		ck_assert(fabs(d->idle_w - b->idle_w) <= 1e-6 * b->idle_w);
		ck_assert(fabs(d->leak_w - b->leak_w) <= 1e-6 * b->leak_w);
		if (d->cls == HAL_CLASS_NPU) {
			ck_assert_uint_eq(d->n_opp, NPU_NUM_OPPS);
			for (uint32_t k = 0; k < d->n_opp; k++)
				ck_assert(fabs(d->opp[k].freq_hz -
					       npu_opp_table[k].freq_mhz * 1e6) < 1.0);
		}
	}
	free(base);
	free(out);
	free(back);
}
END_TEST

START_TEST(calibrate_rejects_bad_shapes)
{
	struct bench_calib_opts o = { .reps = 1, .dim = 60, .bw_bytes = 1u << 20 };
	struct sched_profile *base = calloc(1, sizeof(*base)), *out = calloc(1, sizeof(*out));
	char err[512] = "";

	ck_assert(base && out);
	ck_assert_msg(sched_profile_find("host", base, err, sizeof(err)) == SCHED_OK, "%s", err);
	ck_assert_int_eq(bench_calibrate(&o, base, out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "multiples of 32"), "%s", err);
	free(base);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("calibrate");
	TCase *tc = tcase_create("calibrate");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, calibrate_tiny_writes_a_valid_profile);
	tcase_add_test(tc, calibrate_rejects_bad_shapes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
