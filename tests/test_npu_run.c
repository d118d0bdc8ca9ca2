/* SPDX-License-Identifier: MIT */
/* test_npu_run.c - npu-run and npu-mkmodel as a user runs them: output, exit codes, errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char *npu_run(void)
{
	return getenv("NPU_RUN");
}

static const char *small_model(void)
{
	static char path[512];

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
		struct tu_run r = tu_run("%s -o %s --dim 64 --layers 2 --heads 4 --kv-heads 2 "
					 "--ffn 128 --ctx 256 -t q4_0", getenv("NPU_MKMODEL"), path);
		ck_assert_msg(r.status == 0, "npu-mkmodel failed: %s", r.err);
		tu_run_free(&r);
	}
	return path;
}

START_TEST(generates_and_summarises)
{
	struct tu_run r = tu_run("%s -m %s -p 'Once upon' -n 16", npu_run(), small_model());

	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strncmp(r.out, "Once upon", 9), "stdout: %s", r.out);
	ck_assert_uint_gt(strlen(r.out), 12);
	ck_assert_ptr_nonnull(strstr(r.err, "load:"));
	ck_assert_ptr_nonnull(strstr(r.err, "prompt:    3 tokens"));
	ck_assert_ptr_nonnull(strstr(r.err, "generate:  16 tokens"));
	ck_assert_ptr_nonnull(strstr(r.err, "tokens/s"));
	ck_assert_ptr_nonnull(strstr(r.err, "peak RSS:"));
	ck_assert_ptr_nonnull(strstr(r.err, "device:    cpu "));
	/* no progress bar when stderr is not a terminal */
	ck_assert_ptr_null(strstr(r.err, "loading ["));
	tu_run_free(&r);
}
END_TEST

/* How many ops the summary says device ran ("device:    cpu      ran N of ..."). */
static unsigned long ops_on(const char *summary, const char *device)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "device:    %-8s ran ", device);
	p = strstr(summary, key);
	ck_assert_msg(p, "no line for %s in: %s", device, summary);
	return strtoul(p + strlen(key), NULL, 10);
}

/*
 * A Q4_K_M file written by npu-mkmodel (llama.cpp's mix: Q4_K, Q6_K output and some attn_v and
 * ffn_down) loads at its own size and greedy decoding picks the same tokens on cpu and cpu-ref.
 * On the NPU, whose integer path takes Q8_0/Q4_0 only, every K-quant matmul falls back to the
 * CPU; in a Q4_0 file with a Q6_K output the NPU runs the Q4_0 matmuls and the CPU the output.
 */
START_TEST(k_quant_files_run)
{
	char *path = strdup(tu_tmp_path(".gguf")), *mixed = strdup(tu_tmp_path(".gguf"));
	struct tu_run m = tu_run("%s -o %s --dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 "
				 "--ctx 128 -t q4_k_m", getenv("NPU_MKMODEL"), path);

	ck_assert_msg(m.status == 0, "npu-mkmodel: %s", m.err);
	tu_run_free(&m);
	struct tu_run a = tu_run("%s -m %s -p 'Once upon' -n 12 --ignore-eos", npu_run(), path);
	struct tu_run b = tu_run("%s -m %s -p 'Once upon' -n 12 --ignore-eos --device cpu-ref",
				 npu_run(), path);

	ck_assert_msg(a.status == 0 && b.status == 0, "%s\n%s", a.err, b.err);
	ck_assert_str_eq(a.out, b.out);
	ck_assert_ptr_nonnull(strstr(a.err, "Q4_K weights"));
	tu_run_free(&a);
	tu_run_free(&b);

	struct tu_run n = tu_run("%s -m %s -p 'Once upon' -n 4 --device npu", npu_run(), path);
	ck_assert_msg(n.status == 0, "%s", n.err);
	ck_assert_uint_eq(ops_on(n.err, "npu"), 0);
	tu_run_free(&n);

	m = tu_run("%s -o %s --dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --ctx 128 "
		   "-t q4_0 --output-q6k", getenv("NPU_MKMODEL"), mixed);
	ck_assert_msg(m.status == 0, "npu-mkmodel: %s", m.err);
	tu_run_free(&m);
	n = tu_run("%s -m %s -p 'Once upon' -n 4 --device npu", npu_run(), mixed);
	ck_assert_msg(n.status == 0, "%s", n.err);
	ck_assert_uint_gt(ops_on(n.err, "npu"), 0);
	ck_assert_uint_gt(ops_on(n.err, "cpu"), 0);
	tu_run_free(&n);
	free(path);
	free(mixed);
}
END_TEST

/*
 * --cache-type: the summary names the format and the bytes of the whole window (2 layers x K
 * and V x 1024 rows x 128 values: 2 MiB in F32, 1 in F16, 0.53 in Q8_0); a bad name is a usage
 * error, and Q8_0 on a model with heads of 16 an error that says why.
 */
START_TEST(cache_type_option)
{
	char *path = strdup(tu_tmp_path(".gguf"));
	struct tu_run a = tu_run("%s -o %s --dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 "
				 "--ctx 1024", getenv("NPU_MKMODEL"), path);
	const char *const types[] = { "f32", "f16", "q8_0" }, *const mib[] = { "2.0", "1.0", "0.5" };

	ck_assert_msg(a.status == 0, "npu-mkmodel: %s", a.err);
	tu_run_free(&a);
	for (int i = 0; i < 3; i++) {
		char want[64];

		a = tu_run("%s -m %s -p 'Once upon' -n 4 --cache-type %s", npu_run(), path, types[i]);
		ck_assert_msg(a.status == 0, "%s", a.err);
		snprintf(want, sizeof(want), "KV cache:  %s, %s MiB", types[i], mib[i]);
		ck_assert_msg(strstr(a.err, want), "no '%s' in: %s", want, a.err);
		tu_run_free(&a);
	}
	a = tu_run("%s -m %s -p 'Once upon' -n 4 --cache-type q4_0", npu_run(), path);
	ck_assert_int_eq(a.status, 2);
	ck_assert_ptr_nonnull(strstr(a.err, "--cache-type is f16, q8_0 or f32"));
	tu_run_free(&a);
	a = tu_run("%s -m %s -p 'Once upon' -n 4 --cache-type q8_0", npu_run(), small_model());
	ck_assert_int_eq(a.status, 1);
	ck_assert_ptr_nonnull(strstr(a.err, "multiple of 32"));
	tu_run_free(&a);
	free(path);
}
END_TEST

START_TEST(deterministic_output)
{
	const char *m = small_model();
	struct tu_run a = tu_run("%s -m %s -p 'The' -n 12 --temp 0.8 --top-k 20 --seed 3",
				 npu_run(), m);
	struct tu_run b = tu_run("%s -m %s -p 'The' -n 12 --temp 0.8 --top-k 20 --seed 3",
				 npu_run(), m);
	struct tu_run g1 = tu_run("%s -m %s -p 'The' -n 12", npu_run(), m);
	struct tu_run g2 = tu_run("%s -m %s -p 'The' -n 12", npu_run(), m);

	ck_assert_int_eq(a.status, 0);
	ck_assert_str_eq(a.out, b.out);
	ck_assert_int_eq(g1.status, 0);
	ck_assert_str_eq(g1.out, g2.out);
	tu_run_free(&a), tu_run_free(&b), tu_run_free(&g1), tu_run_free(&g2);
}
END_TEST

/* A window that fills before -n tokens: what fit is printed, then why it stopped, exit 1. */
START_TEST(full_context_is_reported)
{
	struct tu_run r = tu_run("%s -m %s -p 'Once upon' -n 40 --ctx 10", npu_run(),
				 small_model());

	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_msg(!strncmp(r.out, "Once upon", 9), "stdout: %s", r.out);
	ck_assert_ptr_nonnull(strstr(r.err, "generate:  8 tokens"));
	ck_assert_msg(strstr(r.err, "npu-run: stopped early: enpu_generate: the 10-token context "
				    "is full after 8 of 40 tokens"), "%s", r.err);
	tu_run_free(&r);
}
END_TEST

START_TEST(missing_model_one_line)
{
	struct tu_run r = tu_run("%s -m /nonexistent/x.gguf -p hi", npu_run());

	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(count_lines(r.err), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "npu-run: /nonexistent/x.gguf"));
	ck_assert_str_eq(r.out, "");
	tu_run_free(&r);
}
END_TEST

START_TEST(malformed_model_one_line)
{
	const char *bad = strdup(tu_tmp_path(".gguf"));
	size_t n;
	char *bytes = tu_read_file(small_model(), &n);

	tu_write_file(bad, bytes, 300);
	struct tu_run r = tu_run("%s -m %s", npu_run(), bad);
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(count_lines(r.err), 1);
	ck_assert_ptr_nonnull(strstr(r.err, bad));
	ck_assert_ptr_nonnull(strstr(r.err, "byte"));
	tu_run_free(&r);

	tu_write_file(bad, "GGUF\x03\0\0\0", 8);
	r = tu_run("%s -m %s", npu_run(), bad);
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(count_lines(r.err), 1);
	tu_run_free(&r);
	free(bytes);
	free((void *)bad);
}
END_TEST

/*
 * -f FILE: a FIFO that nothing writes to yet is said to be waited on, then read once written
 * (it hung silently in fopen); the prompt read is freed on the early exits, so a failure
 * there is one line, not one and a LeakSanitizer report.
 */
START_TEST(prompt_file_fifo_and_early_exit)
{
	char fifo[512], txt[512];

	snprintf(fifo, sizeof(fifo), "%s", tu_tmp_path(".fifo"));
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	struct tu_run r = tu_run("(sleep 1; echo 'Once upon' > %s) & timeout 60 %s -m %s -f %s -n 2",
				 fifo, npu_run(), small_model(), fifo);
	ck_assert_msg(r.status == 0 && strstr(r.err, "waiting for its writer") &&
		      !strncmp(r.out, "Once upon", 9), "%d (124: blocked): %s%s", r.status, r.out,
		      r.err);
	tu_run_free(&r);
	unlink(fifo);

	snprintf(txt, sizeof(txt), "%s", tu_tmp_path(".txt"));
	tu_write_file(txt, "hi\n", 3);
	r = tu_run("XDG_CACHE_HOME=/dev/null/x %s -f %s", npu_run(), txt);
	ck_assert_msg(r.status == 1 && count_lines(r.err) == 1 &&
		      strstr(r.err, "cannot create the model cache"), "%d: %s", r.status, r.err);
	tu_run_free(&r);
	unlink(txt);
}
END_TEST

START_TEST(usage_errors)
{
	struct tu_run h = tu_run("%s --help", npu_run());
	ck_assert_int_eq(h.status, 0);
	for (const char *opt = "-m\0-p\0-n\0--temp\0--top-k\0--top-p\0--seed\0--device\0"; *opt;
	     opt += strlen(opt) + 1)
		ck_assert_msg(strstr(h.out, opt), "--help does not document %s", opt);
	tu_run_free(&h);

	struct tu_run r = tu_run("%s --bogus", npu_run());
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	r = tu_run("%s -n lots", npu_run());
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "-n expects a whole number"));
	tu_run_free(&r);
	/* counts are whole decimal numbers: no fraction, no hex; a 64-bit seed is whole */
	for (const char *bad = "-n 5.7\0-n 0x10\0-t 1.5\0--top-k 2.5\0--repeat-last-n -0.5\0"
			       "--seed 1e3\0--profile phone\0--draft-type q3_k\0";
	     *bad; bad += strlen(bad) + 1) {
		r = tu_run("%s %s", npu_run(), bad);
		ck_assert_msg(r.status == 2, "%s: exit %d: %s", bad, r.status, r.err);
		tu_run_free(&r);
	}
	r = tu_run("%s -m %s -n 1 --seed 18446744073709551615", npu_run(), small_model());
	ck_assert_msg(r.status == 0, "%s", r.err);
	tu_run_free(&r);
	r = tu_run("%s --device tpu", npu_run());
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "tpu"));
	tu_run_free(&r);
	/* NaN is not a number in range */
	r = tu_run("%s --temp nan", npu_run());
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "--temp expects a number"));
	tu_run_free(&r);
	r = tu_run("%s --top-p nan", npu_run());
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	/* a trace that cannot be created is named with why, not "not tracing" */
	r = tu_run("%s -m %s -n 2 --trace /proc/nope/t.json", npu_run(), small_model());
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "/proc/nope/t.json") && !strstr(r.err, "not tracing"), "%s",
		      r.err);
	tu_run_free(&r);
	r = tu_run("%s --help", getenv("NPU_MKMODEL"));
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--kv-heads"));
	tu_run_free(&r);
	/* a shape that cannot be made is a usage error, as a malformed number is */
	r = tu_run("%s -o /tmp/x.gguf --dim 100 --heads 3", getenv("NPU_MKMODEL"));
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "heads"));
	tu_run_free(&r);
	r = tu_run("%s -o /tmp/x.gguf --rope-scaling llama3:5", getenv("NPU_MKMODEL"));
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	r = tu_run("%s -o ''", getenv("NPU_MKMODEL"));
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	/* the write itself failing is not: exit 1 */
	r = tu_run("%s -o /proc/nope/x.gguf --dim 64 --layers 1 --heads 2 --ffn 128",
		   getenv("NPU_MKMODEL"));
	ck_assert_int_eq(r.status, 1);
	tu_run_free(&r);
}
END_TEST

/*
 * Without -m the default model is generated once into $XDG_CACHE_HOME/edge-npu (the build
 * tree's test-cache in the test environment), then reused.
 */
START_TEST(default_model_cached)
{
	struct tu_run a = tu_run("%s -p 'Hi' -n 4", npu_run());
	ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
	struct tu_run b = tu_run("%s -p 'Hi' -n 4", npu_run());
	ck_assert_int_eq(b.status, 0);
	ck_assert_ptr_null(strstr(b.err, "generating"));
	ck_assert_ptr_nonnull(strstr(b.err, "edge-npu default"));
	ck_assert_str_eq(a.out, b.out);
	tu_run_free(&a), tu_run_free(&b);
}
END_TEST

/*
 * The default model in a cache of its own: four runs generating it at once all succeed; a
 * temporary a killed generation left (not written to for a minute) is removed at the next
 * generation, a fresh one (another run's) kept; a corrupt cached model is generated again.
 */
START_TEST(default_model_regenerated)
{
	char cache[512], model[700];
	snprintf(cache, sizeof(cache), "%s", tu_tmp_path("-xdg"));
	ck_assert_int_eq(mkdir(cache, 0700), 0);
	struct tu_run r = tu_run("cd %s && mkdir edge-npu && touch -d '-2 minutes' "
				 "edge-npu/.enpu-Stale1 && touch edge-npu/.enpu-Fresh1 && "
				 "for i in 1 2 3 4; do (XDG_CACHE_HOME=%s %s -p Hi -n 2 >out$i 2>&1; "
				 "echo \"exit $?\" >>out$i) & done; wait", cache, cache, npu_run());
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	tu_run_free(&r);
	for (int i = 1; i <= 4; i++) {
		char out[600];
		snprintf(out, sizeof(out), "%s/out%d", cache, i);
		size_t len;
		char *t = tu_read_file(out, &len);
		ck_assert_msg(strstr(t, "edge-npu default") && strstr(t, "exit 0\n"), "%s", t);
		free(t);
	}
	snprintf(model, sizeof(model), "%s/edge-npu/.enpu-Stale1", cache);
	ck_assert_int_ne(access(model, F_OK), 0);
	snprintf(model, sizeof(model), "%s/edge-npu/.enpu-Fresh1", cache);
	ck_assert_int_eq(access(model, F_OK), 0);
	unlink(model);
	r = tu_run("ls -A %s/edge-npu", cache);
	ck_assert_msg(!strstr(r.out, ".enpu-"), "a temporary left: %s", r.out);
	tu_run_free(&r);

	/* truncated to its first 100 bytes: generated again, and the run succeeds */
	r = tu_run("f=$(ls %s/edge-npu/default-*.gguf) && truncate -s 100 \"$f\" && "
		   "XDG_CACHE_HOME=%s %s -p Hi -n 2", cache, cache, npu_run());
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.err, "generating it again"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("XDG_CACHE_HOME=%s %s -p Hi -n 2", cache, npu_run());
	ck_assert_msg(r.status == 0 && !strstr(r.err, "generating"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("rm -rf %s", cache);
	tu_run_free(&r);
}
END_TEST

/* A model with a long context, for runs stopped by a signal long before it fills. */
static const char *long_model(void)
{
	static char path[512];

	if (!path[0]) {
		snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
		struct tu_run r = tu_run("%s -o %s --dim 64 --layers 2 --heads 4 --kv-heads 2 "
					 "--ffn 128 --ctx 16384", getenv("NPU_MKMODEL"), path);
		ck_assert_msg(r.status == 0, "npu-mkmodel failed: %s", r.err);
		tu_run_free(&r);
	}
	return path;
}

/*
 * SIGINT or SIGTERM mid-generation: the text so far, the summary, a trace that is valid
 * JSON, and 128 + the signal. The signal is sent once tokens are streaming (the output file
 * exists before npu-run starts, so the wait never reads a missing file).
 */
static void stopped_by(const char *sig, int status)
{
	char trace[512], out[512]; /* tu_tmp_path's buffer is reused by the next call */
	snprintf(trace, sizeof(trace), "%s", tu_tmp_path(".json"));
	snprintf(out, sizeof(out), "%s", tu_tmp_path(".out"));
	const char *model = long_model();
	struct tu_run r = tu_run(
		"( : > %s; %s -m %s -n 16000 -c 16384 --ignore-eos --trace %s > %s & pid=$!; "
		"while [ $(wc -c < %s) -lt 200 ]; do sleep 0.05; done; "
		"kill -%s $pid; wait $pid )", out, npu_run(), model, trace, out, out, sig);

	ck_assert_msg(r.status == status, "exit %d, not %d: %s", r.status, status, r.err);
	ck_assert_msg(strstr(r.err, "--- npu-run summary"), "no summary: %s", r.err);
	ck_assert_msg(strstr(r.err, "npu-run: stopped by SIG"), "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, sig));
	ck_assert_ptr_null(strstr(r.err, "generate:  16000 tokens"));
	tu_run_free(&r);
	r = tu_run("python3 %s/tests/trace_check.py '%s'", ENPU_SOURCE_ROOT, trace);
	ck_assert_msg(r.status == 0, "the trace is not valid: %s%s", r.out, r.err);
	tu_run_free(&r);
}

/*
 * npu-mkmodel killed while it writes a model (SIGTERM as soon as the temporary beside -o
 * appears): it ends by the signal, and neither the model nor its half-written temporary
 * (as big as the model, ~130 MB here) is left in the directory.
 */
START_TEST(sigterm_mid_write_leaves_no_temporary)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s", tu_tmp_path(".d"));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	struct tu_run r = tu_run(
		"( %s -o %s/m.gguf --dim 512 --layers 8 --ffn 2048 -t f32 > /dev/null & pid=$!; "
		"while ! ls -A %s | grep -q '^[.]enpu-'; do kill -0 $pid || break; done; "
		"kill -TERM $pid; wait $pid; echo $?; ls -A %s )",
		getenv("NPU_MKMODEL"), dir, dir, dir);

	ck_assert_msg(!strcmp(r.out, "143\n"), "exit status and files left: %s (%s)", r.out, r.err);
	tu_run_free(&r);
	rmdir(dir);
}
END_TEST

START_TEST(sigint_prints_summary_and_closes_trace)
{
	stopped_by("INT", 130);
}
END_TEST

START_TEST(sigterm_prints_summary_and_closes_trace)
{
	stopped_by("TERM", 143);
}
END_TEST

/* llama.cpp's common flags where they mean the same; those that do not apply, refused. */
START_TEST(llama_cpp_flags)
{
	char prompt[512]; /* tu_tmp_path's buffer is reused by the next call */
	snprintf(prompt, sizeof(prompt), "%s", tu_tmp_path(".txt"));
	tu_write_file(prompt, "Once upon\n", 10);
	struct tu_run a = tu_run("%s -m %s -f %s -n 8 -s 3 --temp 0.8 --min-p 0.05 "
				 "--repeat-penalty 1.1 --repeat-last-n 32 -c 128", npu_run(),
				 small_model(), prompt);
	struct tu_run b = tu_run("%s -m %s -p 'Once upon' -n 8 --seed 3 --temp 0.8 --min-p 0.05 "
				 "--repeat-penalty 1.1 --repeat-last-n 32 --ctx-size 128", npu_run(),
				 small_model());

	ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
	ck_assert_msg(b.status == 0, "exit %d: %s", b.status, b.err);
	ck_assert_str_eq(a.out, b.out); /* -f, -s, -c: the same as -p, --seed, --ctx-size */
	ck_assert_ptr_nonnull(strstr(a.err, "prompt:    3 tokens"));
	tu_run_free(&a), tu_run_free(&b);

	for (const char *f = "-ngl 99\0--n-gpu-layers 99\0--n-gpu-layers=99\0-fa\0--mlock\0"; *f;
	     f += strlen(f) + 1) {
		struct tu_run r = tu_run("%s -m %s %s", npu_run(), small_model(), f);
		char name[32];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(f, " ="), f);
		ck_assert_msg(r.status == 2, "%s: exit %d", f, r.status);
		ck_assert_msg(strstr(r.err, name) && strstr(r.err, "does not apply"), "%s", r.err);
		tu_run_free(&r);
	}
	struct tu_run r = tu_run("%s -p x -f %s", npu_run(), prompt);
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
	r = tu_run("%s -f /nonexistent/prompt.txt", npu_run());
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/prompt.txt"));
	tu_run_free(&r);
	r = tu_run("%s --min-p 2", npu_run());
	ck_assert_int_eq(r.status, 2);
	tu_run_free(&r);
}
END_TEST

/* --version, and --help listing this build's devices and CPU kernel sets. */
START_TEST(version_and_build)
{
	struct tu_run r = tu_run("%s --version", npu_run());

	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "npu-run (edge-npu) " ENPU_VERSION "\n");
	tu_run_free(&r);
	r = tu_run("%s --version", getenv("NPU_MKMODEL"));
	ck_assert_str_eq(r.out, "npu-mkmodel (edge-npu) " ENPU_VERSION "\n");
	tu_run_free(&r);
	r = tu_run("%s --version", getenv("NPU_TOP"));
	ck_assert_str_eq(r.out, "npu-top (edge-npu) " ENPU_VERSION "\n");
	tu_run_free(&r);
	r = tu_run("%s --version", getenv("NPU_BENCH"));
	ck_assert_str_eq(r.out, "npu-bench (edge-npu) " ENPU_VERSION "\n");
	tu_run_free(&r);

	r = tu_run("%s --help", npu_run());
	ck_assert_ptr_nonnull(strstr(r.out, "devices: cpu cpu-ref"));
	ck_assert_ptr_nonnull(strstr(r.out, " npu"));
	ck_assert_ptr_nonnull(strstr(r.out, "scalar"));
	ck_assert_ptr_nonnull(strstr(r.out, "(default)"));
	tu_run_free(&r);
}
END_TEST

/*
 * Whether word (an option, "--ctx") is in text as a whole word: not only as the start of a
 * longer one ("--ctx-size"), which a plain strstr would take for it.
 */
static bool has_word(const char *text, const char *end, const char *word)
{
	const size_t len = strlen(word);

	for (const char *p = text; (p = strstr(p, word)) && p < end; p += len)
		if ((p == text || !strchr("abcdefghijklmnopqrstuvwxyz-", p[-1])) &&
		    !strchr("abcdefghijklmnopqrstuvwxyz-", p[len]))
			return true;
	return false;
}

/*
 * Whether the completion function [fn, end) offers opt: a whole word of one of its
 * compgen -W "..." word lists (naming it in the case of options taking a value is not enough).
 */
static bool offered(const char *fn, const char *end, const char *opt)
{
	for (const char *w = fn; (w = strstr(w, "compgen -W \"")) && w < end;) {
		w += strlen("compgen -W \"");
		const char *q = strchr(w, '"');

		if (q && has_word(w, q, opt))
			return true;
	}
	return false;
}

/*
 * Every long option a tool's --help names is in its man page (built by scdoc) and in the
 * tool's own function of the bash completion, as a whole word, so that neither falls behind
 * the code (npu-bench's sched and thermal too: the main --help lists their options).
 */
START_TEST(man_pages_and_completion_cover_options)
{
	static const char *const tools[][3] = {
		{ "NPU_RUN", "npu-run", "\n_npu_run()" },
		{ "NPU_MKMODEL", "npu-mkmodel", "\n_npu_mkmodel()" },
		{ "NPU_TOP", "npu-top", "\n_npu_top()" },
		{ "NPU_BENCH", "npu-bench", "\n_npu_bench()" },
	};
	char path[1024];
	size_t n;

	snprintf(path, sizeof(path), "%s/completions/edge-npu.bash", ENPU_SOURCE_ROOT);
	char *completion = tu_read_file(path, &n);
	for (size_t t = 0; t < sizeof(tools) / sizeof(tools[0]); t++) {
		struct tu_run h = tu_run("%s --help", getenv(tools[t][0]));
		snprintf(path, sizeof(path), "%s/%s.1", getenv("ENPU_MAN_DIR"), tools[t][1]);
		char *man = tu_read_file(path, &n);
		const char *fn = strstr(completion, tools[t][2]);
		ck_assert_msg(fn, "the completion has no %s", tools[t][2] + 1);
		const char *fn_end = strstr(fn, "\n}\n");
		ck_assert_ptr_nonnull(fn_end);
		ck_assert_ptr_nonnull(strstr(man, ".TH"));
		for (const char *o = strstr(h.out, "--"); o; o = strstr(o + 2, "--")) {
			char opt[40];
			size_t len = strspn(o + 2, "abcdefghijklmnopqrstuvwxyz-");
			if (!len || !strchr(" (", o[-1]))
				continue;
			snprintf(opt, sizeof(opt), "--%.*s", (int)len, o + 2);
			ck_assert_msg(has_word(man, man + strlen(man), opt),
				      "%s(1) does not document %s", tools[t][1], opt);
			ck_assert_msg(offered(fn, fn_end, opt), "the completion does not offer %s %s",
				      tools[t][1], opt);
		}
		free(man);
		tu_run_free(&h);
	}
	free(completion);
}
END_TEST

/* The numbers of a "[turn N: P prompt tokens evaluated, G generated..., C in context]" line. */
static void turn_figures(const char *err, unsigned turn, unsigned *p, unsigned *g, unsigned *c)
{
	char key[32];
	const char *l;

	snprintf(key, sizeof(key), "[turn %u: ", turn);
	l = strstr(err, key);
	ck_assert_msg(l, "no line for turn %u in: %s", turn, err);
	ck_assert_int_eq(sscanf(l + strlen(key), "%u prompt tokens evaluated, %u generated", p, g),
			 2);
	l = strstr(l, " generated");
	ck_assert_ptr_nonnull(l);
	l = strchr(l, ',');
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(sscanf(l, ", %u in context]", c), 1);
}

/*
 * --chat reads a turn per line until EOF and answers each on one session: the second turn
 * evaluates only its own text, the first turn's tokens stay in the KV cache.
 */
START_TEST(chat_continues_the_session)
{
	char *in = strdup(tu_tmp_path(".txt")), *sys = strdup(tu_tmp_path(".txt"));
	unsigned p1, g1, c1, p2, g2, c2;
	const char *second;
	struct tu_run r;

	/* tu_run gives the command /dev/null as stdin: the conversation goes through sh */
	tu_write_file(in, "Hello there\nAnd how are you today?\n", 35);
	tu_write_file(sys, "You are terse.\n", 15);
	r = tu_run("sh -c '%s -m %s -cnv --chat-template chatml -f %s -n 4 < %s'", npu_run(),
		   small_model(), sys, in);
	free(in);
	free(sys);

	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	/* a "> " before each turn and before the EOF that ended the conversation */
	ck_assert_msg(!strncmp(r.out, "> ", 2), "stdout: %s", r.out);
	second = strstr(r.out + 2, "\n> ");
	ck_assert_msg(second && strstr(second + 3, "\n> "), "stdout: %s", r.out);
	turn_figures(r.err, 1, &p1, &g1, &c1);
	turn_figures(r.err, 2, &p2, &g2, &c2);
	ck_assert_ptr_null(strstr(r.err, "[turn 3:"));
	/* turn 1: the system message and the first question, with ChatML's markers */
	ck_assert_uint_gt(p1, 20);
	ck_assert_uint_le(g1, 4);
	/* turn 2 evaluates fewer tokens than the session already holds: not the history */
	ck_assert_msg(p2 < c1, "turn 2 evaluated %u tokens, the session held %u", p2, c1);
	ck_assert_uint_gt(p2, 5);
	/* and the context grew by about that: the new turn, the pending token, the reply */
	ck_assert_msg(c2 + 1 > c1 + p2 && c2 <= c1 + p2 + g2 + 1, "context %u -> %u (+%u, +%u)",
		      c1, c2, p2, g2);
	ck_assert_ptr_nonnull(strstr(r.err, "--- npu-run summary"));
	tu_run_free(&r);
}
END_TEST

/* A turn too long for the context is left out, said on stderr; the next one is answered. */
START_TEST(chat_leaves_out_a_turn_too_long)
{
	char *in = strdup(tu_tmp_path(".txt"));
	char line[2000];
	FILE *f = fopen(in, "w");

	ck_assert_ptr_nonnull(f);
	memset(line, 0, sizeof(line));
	for (size_t i = 0; i + 6 < sizeof(line); i += 5)
		memcpy(line + i, "word ", 5);
	fprintf(f, "%s\nHello\n", line);
	fclose(f);
	struct tu_run r = tu_run("sh -c '%s -m %s -cnv --chat-template chatml -c 128 -n 4 < %s'",
				 npu_run(), small_model(), in);
	free(in);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "[turn 1 left out: ") && strstr(r.err, "128-token context"),
		      "%s", r.err);
	ck_assert_msg(strstr(r.err, "[turn 1: "), "the next turn was not answered: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "--- npu-run summary"));
	tu_run_free(&r);
	/*
	 * A line without end (17 MiB of NULs, as < /dev/zero): read up to 16 MiB, the rest of it
	 * skipped, the turn left out; getline grew it until memory ran out
	 */
	r = tu_run("sh -c '(head -c 17M /dev/zero; echo; echo Hello) | timeout 120 %s -m %s -cnv "
		   "--chat-template chatml -c 128 -n 4'", npu_run(), small_model());
	ck_assert_msg(r.status == 0 && strstr(r.err, "[a line longer than 16 MiB: ") &&
		      strstr(r.err, "[turn 1 left out: ") && strstr(r.err, "[turn 1: "),
		      "exit %d: %.2000s", r.status, r.err);
	tu_run_free(&r);
}
END_TEST

START_TEST(chat_refuses_missing_templates)
{
	/* the built-in vocabulary has no chat template: the user is told to name one */
	struct tu_run r = tu_run("%s -m %s --chat -n 2", npu_run(), small_model());

	/* refused before the first line is read (stdin is /dev/null here) */
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "tokenizer.chat_template") && strstr(r.err, "chatml"), "%s",
		      r.err);
	tu_run_free(&r);
	r = tu_run("%s -m %s --chat --chat-template vicuna -n 2", npu_run(), small_model());
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "\"vicuna\" is not supported"), "%s", r.err);
	tu_run_free(&r);
	r = tu_run("%s -m %s --chat-template chatml -n 2", npu_run(), small_model());
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--chat-template applies to --chat only"), "%s", r.err);
	tu_run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("npu-run");
	TCase *tc = tcase_create("cli");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, generates_and_summarises);
	tcase_add_test(tc, chat_continues_the_session);
	tcase_add_test(tc, chat_leaves_out_a_turn_too_long);
	tcase_add_test(tc, chat_refuses_missing_templates);
	tcase_add_test(tc, deterministic_output);
	tcase_add_test(tc, k_quant_files_run);
	tcase_add_test(tc, cache_type_option);
	tcase_add_test(tc, full_context_is_reported);
	tcase_add_test(tc, missing_model_one_line);
	tcase_add_test(tc, malformed_model_one_line);
	tcase_add_test(tc, usage_errors);
	tcase_add_test(tc, prompt_file_fifo_and_early_exit);
	tcase_add_test(tc, default_model_cached);
	tcase_add_test(tc, default_model_regenerated);
	tcase_add_test(tc, sigterm_mid_write_leaves_no_temporary);
	tcase_add_test(tc, sigint_prints_summary_and_closes_trace);
	tcase_add_test(tc, sigterm_prints_summary_and_closes_trace);
	tcase_add_test(tc, llama_cpp_flags);
	tcase_add_test(tc, version_and_build);
	tcase_add_test(tc, man_pages_and_completion_cover_options);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
