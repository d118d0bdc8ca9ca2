/* SPDX-License-Identifier: MIT */
/*
 * test_npu_bench.c - npu-bench's output layer (tools/bench/report.c) and its command line:
 * the statistics against values worked out by hand, each format of a report read back, the
 * subcommands' -o csv|json|md checked by tests/bench_check.py (valid JSON whose statistics
 * agree with their samples, CSV rows as wide as the header, a Markdown table) for e2e, npu,
 * load and sched, comma-list
 * sweeps giving one row per combination, and options that do not apply refused by name.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/report.h"
#include "testutil.h"

static const char *bench(void)
{
	return getenv("NPU_BENCH");
}

/* A report of cols written in fmt with the rows that fill() writes, as one string (free()). */
static char *render(enum bench_format fmt, const struct bench_col *cols, uint32_t n,
		    void (*fill)(struct bench_report *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct bench_report r;

	ck_assert_ptr_nonnull(f);
	bench_report_begin(&r, fmt, f, cols, n);
	fill(&r);
	bench_report_end(&r);
	fclose(f);
	return buf;
}

static const struct bench_col cols[] = {
	{ "name", NULL, BENCH_COL_STR, 8, 0, NULL },
	{ "n", NULL, BENCH_COL_INT, 3, 0, NULL },
	{ "ratio", "vs one", BENCH_COL_NUM, 6, 2, "x" },
	{ "tps", "t/s", BENCH_COL_STAT, 14, 2, NULL },
};

static void fill(struct bench_report *r)
{
	const double v[] = { 1, 2, 3, 4 };

	bench_report_str(r, 0, "a,\"b\"|c");
	bench_report_int(r, 1, 7);
	bench_report_num(r, 2, NAN);
	bench_report_stat(r, 3, v, 4);
	bench_report_row(r);
	bench_report_str(r, 0, "plain");
	bench_report_num(r, 2, 1.5);
	bench_report_row(r);
}

/* mean 2.5, sample stddev sqrt(5/3) = 1.2910, median 2.5 of 1..4: llama-bench's n - 1 */
START_TEST(stat_by_hand)
{
	const double v[] = { 4, 1, 3, 2 }, one = 5;
	struct bench_stat st;

	bench_stat_of(v, 4, &st);
	ck_assert_double_eq_tol(st.mean, 2.5, 1e-12);
	ck_assert_double_eq_tol(st.stddev, sqrt(5.0 / 3.0), 1e-12);
	ck_assert_double_eq_tol(st.median, 2.5, 1e-12);
	ck_assert_double_eq(st.min, 1);
	ck_assert_double_eq(st.max, 4);
	ck_assert_double_eq(v[0], 4); /* the samples are not reordered */
	bench_stat_of(&one, 1, &st);
	ck_assert_double_eq(st.stddev, 0);
	ck_assert_double_eq(st.median, 5);
}
END_TEST

START_TEST(formats_by_hand)
{
	enum bench_format f;
	char *s;

	ck_assert_int_eq(bench_format_parse("json", &f), 0);
	ck_assert_int_eq(f, BENCH_FMT_JSON);
	ck_assert_int_eq(bench_format_parse("xml", &f), -1);
	ck_assert_int_eq(bench_format_parse(NULL, &f), -1);

	s = render(BENCH_FMT_TEXT, cols, 4, fill);
	/* columns at their widths, "mean ± stddev", an unset or NaN cell left blank */
	ck_assert_str_eq(s, "name        n  vs one             t/s\n"
			    "a,\"b\"|c     7             2.50 ± 1.29\n"
			    "plain           1.50x\n");
	free(s);
	s = render(BENCH_FMT_CSV, cols, 4, fill);
	ck_assert_str_eq(s, "name,n,ratio,tps_mean,tps_stddev,tps_median,tps_min,tps_max\n"
			    "\"a,\"\"b\"\"|c\",7,,2.5,1.2909944487358056,2.5,1,4\n"
			    "plain,,1.5,,,,,\n");
	free(s);
	s = render(BENCH_FMT_MD, cols, 4, fill);
	ck_assert_str_eq(s, "| name | n | vs one | t/s |\n"
			    "| --- | ---: | ---: | ---: |\n"
			    "| a,\"b\"\\|c | 7 |  | 2.50 ± 1.29 |\n"
			    "| plain |  | 1.50x |  |\n");
	free(s);
	s = render(BENCH_FMT_JSON, cols, 4, fill);
	ck_assert_str_eq(s, "[\n  {\"name\": \"a,\\\"b\\\"|c\", \"n\": 7, \"ratio\": null, "
			    "\"tps\": {\"mean\": 2.5, \"stddev\": 1.2909944487358056, \"median\": 2.5, "
			    "\"min\": 1, \"max\": 4, \"n\": 4, \"samples\": [1, 2, 3, 4]}},\n"
			    "  {\"name\": \"plain\", \"n\": null, \"ratio\": 1.5, \"tps\": null}\n]\n");
	free(s);
}
END_TEST

static void no_rows(struct bench_report *r)
{
	(void)r;
}

/* A benchmark that measured nothing still writes a document its reader can parse. */
START_TEST(empty_reports_parse)
{
	char *s = render(BENCH_FMT_JSON, cols, 4, no_rows);

	ck_assert_str_eq(s, "[\n]\n");
	free(s);
	s = render(BENCH_FMT_CSV, cols, 2, no_rows);
	ck_assert_str_eq(s, "name,n\n");
	free(s);
}
END_TEST

/* Runs npu-bench ARGS -o fmt into a file and has bench_check.py read it. */
static void check_format(const char *args, const char *fmt, int rows, const char *keys)
{
	char out[512];

	/* tu_run takes temporary paths of its own: keep this one */
	snprintf(out, sizeof(out), "%s", tu_tmp_path(fmt));

	struct tu_run r = tu_run("%s %s -o %s", bench(), args, fmt);

	ck_assert_msg(r.status == 0, "npu-bench %s -o %s: status %d: %s", args, fmt, r.status,
		      r.err);
	tu_write_file(out, r.out, strlen(r.out));
	tu_run_free(&r);
	r = tu_run("python3 %s/tests/bench_check.py %s %s %d '%s'", ENPU_SOURCE_ROOT, fmt, out,
		   rows, keys);
	ck_assert_msg(r.status == 0, "npu-bench %s -o %s: %s", args, fmt, r.err);
	tu_run_free(&r);
}

/* e2e: a row per model, device, thread count and test; pp and tg as llama-bench names them. */
START_TEST(e2e_sweeps_in_every_format)
{
	char *m = tu_small_model(64, 128, 256, HAL_TYPE_Q8_0, 5, NULL);
	char args[1024];

	snprintf(args, sizeof(args), "e2e -m %s -p 8,16 -n 4 -t 1,2 -r 3", m);
	check_format(args, "json", 6, "model,device,threads,cache_type,test,n_prompt,n_gen,tps");
	check_format(args, "csv", 6, "test,n_prompt,n_gen,n_depth,tps_mean,tps_stddev");
	check_format(args, "md", 6, "test,t/s");

	/*
	 * the rows: pp8, pp16 and tg4 for 1 then 2 threads (the default F16 cache), in order, each
	 * from an empty cache as llama-bench's (n_depth 0)
	 */
	struct tu_run r = tu_run("%s %s -o csv", bench(), args);
	ck_assert_int_eq(r.status, 0);
	const char *tests[] = { ",1,f16,pp8,8,0,0,", ",1,f16,pp16,16,0,0,", ",1,f16,tg4,0,4,0,",
				",2,f16,pp8,8,0,0,", ",2,f16,pp16,16,0,0,", ",2,f16,tg4,0,4,0," };
	const char *p = r.out;
	for (int i = 0; i < 6; i++) {
		p = strstr(p, tests[i]);
		ck_assert_msg(p, "no %s in order in\n%s", tests[i], r.out);
	}
	/* stdout holds the CSV alone: the notes about the run went to stderr */
	ck_assert_msg(strstr(r.err, "mean ± stddev"), "%s", r.err);
	ck_assert_msg(!strstr(r.out, "npu-bench e2e:"), "%s", r.out);
	tu_run_free(&r);

	/* for people: the notes, then a table with "mean ± stddev" per test */
	r = tu_run("%s e2e -m %s -p 8 -n 4 -t 1 -r 2", bench(), m);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "npu-bench e2e:") < strstr(r.out, "\nmodel "), "%s", r.out);
	ck_assert_msg(strstr(r.out, " pp8 ") && strstr(r.out, " tg4 ") && strstr(r.out, " ± "),
		      "%s", r.out);
	tu_run_free(&r);

	/* --depth: the tests after that many tokens (the session's context holds them all) */
	r = tu_run("%s e2e -m %s -p 8 -n 4 -t 1 -r 2 --depth 20 -o csv", bench(), m);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, ",pp8,8,0,20,") && strstr(r.out, ",tg4,0,4,20,"), "%s", r.out);
	tu_run_free(&r);
	r = tu_run("%s e2e -m %s --depth many", bench(), m);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--depth 'many'"), "%s", r.err);
	tu_run_free(&r);
	free(m);
}
END_TEST

/* The other subcommands through the same layer (the cheap ones: npu and load). */
START_TEST(npu_and_load_formats)
{
	char *m = tu_small_model(64, 128, 256, HAL_TYPE_Q8_0, 5, NULL);
	char args[1024];

	check_format("npu -r 50", "json", 2, "path,jobs,median_us,p99_us,us");
	check_format("npu -r 50", "csv", 2, "path,median_us,us_mean,us_stddev");
	check_format("npu -r 50", "md", 2, "path,us");
	snprintf(args, sizeof(args), "load -m %s -r 2", m);
	check_format(args, "json", 4, "method,cache,load_ms,gbs");
	check_format(args, "csv", 4, "method,cache,load_ms_mean");
	free(m);
}
END_TEST

/*
 * sched, whose prose compares each figure with its baseline, writes its figures as rows too:
 * the quality against the optimum (3), the transformer graphs (3 models x 2 batches), the
 * power manager at 4 latency targets.
 */
START_TEST(sched_formats)
{
	check_format("sched --dags 4 --profile mw", "json", 13,
		     "section,profile,name,partitioner_ms,heft_ms,mj_per_token,target_met");
	check_format("sched --dags 4 --profile mw", "csv", 13, "section,heft_above_pct");
	check_format("sched --dags 4 --profile mw", "md", 13, "section,name");
	struct tu_run r = tu_run("%s sched -o xml", bench());
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "-o 'xml': text, csv, json or md"), "%s", r.err);
	tu_run_free(&r);
}
END_TEST

/* Each refusal: exit status 2 and a message naming the option and the subcommand. */
static void refused(const char *args, const char *msg)
{
	struct tu_run r = tu_run("%s %s", bench(), args);

	ck_assert_msg(r.status == 2, "npu-bench %s: status %d", args, r.status);
	ck_assert_msg(strstr(r.err, msg), "npu-bench %s: %s", args, r.err);
	ck_assert_str_eq(r.out, "");
	tu_run_free(&r);
}

/*
 * thermal: a sustained decode on the phone profile, planned without and with the thermal
 * budget: the aware plan stays under the passive trip within 10 % of the best sustainable
 * rate; the unaware plan crosses it and is throttled; the trace has both plans' rows.
 */
START_TEST(thermal_aware_vs_unaware)
{
	char *m = tu_small_model(256, 512, 1024, HAL_TYPE_Q8_0, 4, NULL);
	char trace[512], prof[512];

	/*
	 * The phone with a thermal path tight enough for this small model (~0.8 W at full rate):
	 * 30 K/W, 1 J/K (tau 30 s), so 0.5 W sustained below the 50 C trip.
	 */
	snprintf(trace, sizeof(trace), "%s", tu_tmp_path("-thermal.csv"));
	snprintf(prof, sizeof(prof), "%s", tu_tmp_path("-phone.prof"));
	size_t plen;
	char *phone = tu_read_file(ENPU_SOURCE_ROOT "/sched/profiles/phone.prof", &plen);
	FILE *pf = fopen(prof, "w");
	ck_assert_ptr_nonnull(pf);
	fprintf(pf, "%s\nthermal_r_kw 30\nthermal_c_jk 1\n", phone);
	ck_assert_int_eq(fclose(pf), 0);
	free(phone);
	struct tu_run r = tu_run("%s thermal -m %s --profile %s --seconds 60 --trace %s", bench(),
				 m, prof, trace);
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	const char *u = strstr(r.out, "\n  unaware "), *a = strstr(r.out, "\n  aware ");
	ck_assert_msg(u && a, "%s", r.out);
	ck_assert_msg(strstr(u, "crossed the 50 C trip") < a && strstr(u, "crossed") != NULL,
		      "%s", r.out);
	ck_assert_msg(strstr(a, "under the 50 C trip") && strstr(a, "throttled   0.0 s"), "%s",
		      r.out);
	ck_assert_msg(strstr(r.out, "(target >= 90 %: met)"), "%s", r.out);
	tu_run_free(&r);
	size_t len;
	char *csv = tu_read_file(trace, &len);
	ck_assert_msg(!strncmp(csv, "plan,t_s,temp_c,cooling_state,npu_mhz,power_w\n", 45), "%s",
		      csv);
	ck_assert_ptr_nonnull(strstr(csv, "\nunaware,"));
	ck_assert_ptr_nonnull(strstr(csv, "\naware,"));
	free(csv);
	unlink(trace);
	/* a FIFO or a symlink as the trace: refused at once, the link's target untouched */
	char fifo[512], link[512], victim[512];
	snprintf(fifo, sizeof(fifo), "%s", tu_tmp_path(".fifo"));
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	r = tu_run("timeout 20 %s thermal -m %s --profile %s --seconds 1 --trace %s", bench(), m,
		   prof, fifo);
	ck_assert_msg(r.status == 1 && strstr(r.err, "is a FIFO"), "%d (124: blocked): %s",
		      r.status, r.err);
	tu_run_free(&r);
	snprintf(victim, sizeof(victim), "%s", tu_tmp_path(".victim"));
	snprintf(link, sizeof(link), "%s", tu_tmp_path(".link"));
	tu_write_file(victim, "keep", 4);
	ck_assert_int_eq(symlink(victim, link), 0);
	r = tu_run("%s thermal -m %s --profile %s --seconds 1 --trace %s", bench(), m, prof, link);
	ck_assert_msg(r.status == 1 && strstr(r.err, "symbolic link"), "%s", r.err);
	tu_run_free(&r);
	csv = tu_read_file(victim, &len);
	ck_assert(len == 4 && !memcmp(csv, "keep", 4));
	free(csv);
	/* a FIFO as the model of e2e and load: refused at once (file_bytes, drop_cache) */
	r = tu_run("timeout 20 %s e2e -m %s -p 8 -n 4 -t 1 -r 1", bench(), fifo);
	ck_assert_msg(r.status == 1 && strstr(r.err, "is a FIFO"), "%d (124: blocked): %s",
		      r.status, r.err);
	tu_run_free(&r);
	r = tu_run("timeout 20 %s load -m %s -r 1", bench(), fifo);
	ck_assert_msg(r.status == 1 && strstr(r.err, "is a FIFO"), "%d (124: blocked): %s",
		      r.status, r.err);
	tu_run_free(&r);
	unlink(fifo);
	unlink(link);
	unlink(victim);
	unlink(prof);
	/* refused: no model, a profile without a thermal path, a bad duration */
	r = tu_run("%s thermal --profile phone", bench());
	ck_assert_msg(r.status == 2 && strstr(r.err, "-m MODEL is required"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("%s thermal -m %s --profile mw", bench(), m);
	ck_assert_msg(r.status == 1 && strstr(r.err, "has no thermal path"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("%s thermal -m %s --seconds -1", bench(), m);
	ck_assert_msg(r.status == 2 && strstr(r.err, "--seconds '-1'"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("%s thermal -m %s --seconds 0x10", bench(), m);
	ck_assert_msg(r.status == 2 && strstr(r.err, "--seconds '0x10'"), "%s", r.err);
	tu_run_free(&r);
	free(m);
}
END_TEST

/*
 * calibrate -w FILE: a run that fails (here at once: kernels this CPU cannot run) leaves the
 * profile there as it was; it used to write the base profile over it first, as the check
 * that the path can be written, so a failed or interrupted calibration lost a good profile
 */
START_TEST(calibrate_failure_keeps_profile)
{
	char prof[512], dir[512];
	size_t len;

	snprintf(prof, sizeof(prof), "%s", tu_tmp_path("-kept.prof"));
	tu_write_file(prof, "# calibrated\n", 13);
	struct tu_run r = tu_run("ENPU_CPU_ISA=bogus %s calibrate --no-gpu -r 1 -w %s", bench(),
				 prof);
	ck_assert_msg(r.status == 1 && strstr(r.err, "ENPU_CPU_ISA=bogus"), "%d: %s", r.status,
		      r.err);
	tu_run_free(&r);
	char *kept = tu_read_file(prof, &len);
	ck_assert_msg(len == 13 && !memcmp(kept, "# calibrated\n", 13), "%.*s", (int)len, kept);
	free(kept);
	unlink(prof);
	/* a path that cannot be written is still refused before any measuring */
	snprintf(dir, sizeof(dir), "%s", tu_tmp_path("-no-such-dir/host.prof"));
	r = tu_run("%s calibrate --no-gpu -r 1 -w %s", bench(), dir);
	ck_assert_msg(r.status == 1 && strstr(r.err, "cannot create") && !strstr(r.out, "median"),
		      "%d: %s%s", r.status, r.out, r.err);
	tu_run_free(&r);
}
END_TEST

START_TEST(options_refused_by_name)
{
	refused("load -m x.gguf -p 5", "npu-bench load: --prompt-tokens (-p) does not apply to load");
	refused("cpu -m x.gguf", "npu-bench cpu: --model (-m) does not apply to cpu");
	refused("npu --jobs", "npu-bench npu: --jobs does not apply to npu");
	refused("e2e -m x.gguf --no-gpu", "npu-bench e2e: --no-gpu does not apply to e2e");
	refused("e2e -m x.gguf -s 1,2", "npu-bench e2e: --sizes (-s) does not apply to e2e");
	refused("batch -m x.gguf -t 1,2", "--threads (-t) takes one value here, not a list");
	refused("e2e -m x.gguf -o xml", "-o 'xml': text, csv, json or md");
	refused("calibrate -o host.prof", "(the profile is written with -w FILE)");
	refused("e2e -m x.gguf -p 64,,128", "--prompt-tokens (-p) '64,,128'");
	refused("e2e -m x.gguf -n 4,0", "--gen-tokens (-n) '4,0'");
	refused("e2e -m x.gguf -ngl 99", "--gen-tokens (-n) 'gl'");
	refused("e2e", "npu-bench e2e: -m MODEL.gguf is required");
	refused("e2e -m x.gguf extra", "unexpected argument 'extra'");
	refused("npu --device cpu", "--device 'cpu': npu or npu-drm");
	refused("load -m x.gguf --cache-type f16", "npu-bench load: --cache-type does not apply");
	refused("e2e -m x.gguf --cache-type q4_0", "--cache-type is f16, q8_0 or f32, got 'q4_0'");
	/* batch's --sizes: the list parser of -t/-p/-n (no empty list, no empty entry) */
	refused("batch -m x.gguf --sizes ''", "npu-bench batch: --sizes (-s) ''");
	refused("batch -m x.gguf -s 1,", "npu-bench batch: --sizes (-s) '1,'");
	refused("batch -m x.gguf -s ,4", "--sizes (-s) ',4'");
	refused("batch -m x.gguf -s 0", "--sizes (-s) '0'");
	refused("batch -m x.gguf -s 1,65", "--sizes (-s) '1,65'");
	refused("batch -m x.gguf extra", "npu-bench batch: unexpected argument 'extra'");
	/* sched: numbers checked, no stray words, the profiles found before any section runs */
	refused("sched --dags abc", "npu-bench sched: --dags 'abc'");
	refused("sched --dags -1", "npu-bench sched: --dags '-1'");
	refused("sched --dags ''", "npu-bench sched: --dags ''");
	refused("sched --dags 4294967297", "npu-bench sched: --dags '4294967297'");
	refused("sched --dags 5x", "npu-bench sched: --dags '5x'");
	refused("sched --seed xyz", "npu-bench sched: --seed 'xyz'");
	refused("sched --seed -1", "npu-bench sched: --seed '-1'");
	refused("sched --seed 18446744073709551616", "npu-bench sched: --seed '18446744073709551616'");
	refused("sched extra", "npu-bench sched: unexpected argument 'extra'");
	refused("sched --dags 4 --profile mw --profile bogus", "npu-bench sched: --profile 'bogus'");
	refused("sched --bogus", "npu-bench sched: unrecognized option '--bogus'");
	/* thermal: --ctx range-checked before it is narrowed (2^32 + 1 is not 1) */
	refused("thermal -m x.gguf --ctx 4294967297", "npu-bench thermal: --ctx '4294967297'");
	refused("thermal -m x.gguf --ctx -1", "npu-bench thermal: --ctx '-1'");
	refused("thermal -m x.gguf --ctx 0", "npu-bench thermal: --ctx '0'");
	refused("thermal -m x.gguf extra", "npu-bench thermal: unexpected argument 'extra'");
	refused("thermal -m x.gguf --profile bogus", "npu-bench thermal: --profile 'bogus'");
	refused("thermal -m", "npu-bench thermal: option requires an argument");
	/* spec: the profile is found before measuring, not after (the model need not exist) */
	refused("spec -m x.gguf --profile bogus", "npu-bench spec: --profile 'bogus'");
	refused("spec -m x.gguf extra", "npu-bench spec: unexpected argument 'extra'");
	refused("cancel -m x.gguf extra", "npu-bench cancel: unexpected argument 'extra'");
	refused("load -m x.gguf extra", "npu-bench load: unexpected argument 'extra'");
	refused("npu extra", "npu-bench npu: unexpected argument 'extra'");
	refused("cpu extra", "npu-bench cpu: unexpected argument 'extra'");
	refused("calibrate extra", "npu-bench calibrate: unexpected argument 'extra'");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("npu_bench");
	TCase *tc = tcase_create("npu_bench");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, stat_by_hand);
	tcase_add_test(tc, formats_by_hand);
	tcase_add_test(tc, empty_reports_parse);
	tcase_add_test(tc, e2e_sweeps_in_every_format);
	tcase_add_test(tc, npu_and_load_formats);
	tcase_add_test(tc, sched_formats);
	tcase_add_test(tc, options_refused_by_name);
	tcase_add_test(tc, thermal_aware_vs_unaware);
	tcase_add_test(tc, calibrate_failure_keeps_profile);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
