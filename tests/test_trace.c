/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - trace export: enpu_session_trace_start/stop on a generated model placed on
 * the CPU and the NPU, the file validated by tests/trace_check.py (the JSON structure the
 * viewers rely on), the checker itself against malformed files, the API's errors, and
 * npu-run --trace.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edge_npu.h"
#include "testutil.h"
#include "tools/mkmodel.h"

static const char *model_path(void)
{
	static char path[512];

	if (!path[0]) {
		/* the built-in vocabulary: the test needs no ../shared */
		char *made = tu_small_model(64, 128, 128, HAL_TYPE_Q8_0, 7, NULL);

		snprintf(path, sizeof(path), "%s", made);
		free(made);
	}
	return path;
}

/* A fresh temporary path that stays valid (tu_tmp_path's buffer is reused by the next call). */
static const char *tmp_json(void)
{
	static char paths[8][512];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s", tu_tmp_path(".json"));
	return p;
}

/* Runs the checker on path with extra arguments; returns its exit status (stderr shown). */
static int check_trace(const char *path, const char *extra)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "python3 %s/tests/trace_check.py '%s' %s </dev/null",
		 ENPU_SOURCE_ROOT, path, extra);
	return tu_system(cmd);
}

struct loaded {
	enpu_context *ctx;
	enpu_model *model;
	enpu_session *sess;
};

static void load(struct loaded *l, const char *device)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;

	co.device = device;
	ck_assert_msg(enpu_context_create(&co, &l->ctx) == ENPU_OK, "%s", enpu_last_error(NULL));
	ck_assert_msg(enpu_model_load(l->ctx, model_path(), NULL, &l->model) == ENPU_OK, "%s",
		      enpu_last_error(l->ctx));
	ck_assert_int_eq(enpu_session_create(l->model, NULL, &l->sess), ENPU_OK);
}

static void unload(struct loaded *l)
{
	enpu_session_free(l->sess);
	enpu_model_free(l->model);
	enpu_context_destroy(l->ctx);
}

static uint64_t total_ops(const struct loaded *l, char *devices, size_t len)
{
	struct enpu_device_usage u[ENPU_MAX_DEVICES];
	uint32_t n = enpu_session_device_usage(l->sess, u, ENPU_MAX_DEVICES);
	uint64_t ops = 0;

	devices[0] = 0;
	for (uint32_t i = 0; i < n; i++) {
		ops += u[i].ops;
		if (u[i].ops)
			snprintf(devices + strlen(devices), len - strlen(devices), " %s", u[i].device);
	}
	return ops;
}

/* A prefill and two decode steps on cpu+npu: slices, tracks, flows and counters. */
START_TEST(api_npu_trace_is_valid)
{
	struct loaded l;
	const enpu_token prompt[] = { 1, 5, 9, 13, 17 };
	const char *path = tmp_json();
	char devices[256], extra[512];

	load(&l, "npu");
	ck_assert_msg(enpu_session_trace_start(l.sess, path) == ENPU_OK, "%s",
		      enpu_last_error(l.ctx));
	ck_assert_int_eq(enpu_session_eval(l.sess, prompt, 5), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(l.sess, prompt + 1, 1), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(l.sess, prompt + 2, 1), ENPU_OK);
	ck_assert_msg(enpu_session_trace_stop(l.sess) == ENPU_OK, "%s", enpu_last_error(l.ctx));
	/* after stop nothing more is written: the op count is the traced runs' */
	uint64_t ops = total_ops(&l, devices, sizeof(devices));
	ck_assert_int_eq(enpu_session_eval(l.sess, prompt + 3, 1), ENPU_OK);
	ck_assert_msg(strstr(devices, "npu") && strstr(devices, "cpu"), "devices:%s", devices);
	/* this process's pid on every event; a step slice per run: the prefill and two steps */
	snprintf(extra, sizeof(extra), "--pid=%d --steps=3 --tokens=0 %llu%s", (int)getpid(),
		 (unsigned long long)ops, devices);
	ck_assert_int_eq(check_trace(path, extra), 0);
	/* real thread ids: the steps on this thread, the ops on the queues' live threads */
	struct tu_run r = tu_run("python3 -c \"import json\n"
				 "for e in json.load(open('%s'))['traceEvents']:\n"
				 "    if e['name'] == 'thread_name': print(e['tid'], e['args']['name'])\"",
				 path);
	ck_assert_msg(r.status == 0, "%s", r.err);
	char want[64];
	snprintf(want, sizeof(want), "%d session\n", (int)getpid());
	ck_assert_msg(strstr(r.out, want), "%s", r.out);
	int queues = 0;
	for (char *p = r.out; *p; p = strchr(p, '\n') + 1) {
		long tid = strtol(p, NULL, 10);
		char task[64];

		if (strstr(p, " queue\n") < strchr(p, '\n') && strstr(p, " queue\n")) {
			queues++;
			ck_assert_int_ne(tid, getpid());
			snprintf(task, sizeof(task), "/proc/self/task/%ld", tid);
			ck_assert_msg(access(task, F_OK) == 0, "tid %ld is no thread of ours", tid);
		}
	}
	ck_assert_int_eq(queues, 2);
	tu_run_free(&r);

	size_t len;
	char *text = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(strstr(text, "\"name\":\"matmul blk.0.q\""));
	ck_assert_ptr_nonnull(strstr(text, "\"device\":\"npu\""));
	ck_assert_ptr_nonnull(strstr(text, "\"ph\":\"f\",\"bp\":\"e\""));
	free(text);
	unload(&l);
}
END_TEST

/* A session freed while tracing still leaves a complete file; a second trace starts anew. */
START_TEST(free_finishes_trace)
{
	struct loaded l;
	const enpu_token t[] = { 3, 4 };
	const char *a = tmp_json(), *b = tmp_json();

	load(&l, "cpu");
	ck_assert_int_eq(enpu_session_trace_start(l.sess, a), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(l.sess, t, 2), ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_stop(l.sess), ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, b), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(l.sess, t, 1), ENPU_OK);
	enpu_session_free(l.sess);
	l.sess = NULL;
	ck_assert_int_eq(check_trace(a, ""), 0);
	ck_assert_int_eq(check_trace(b, ""), 0);
	unload(&l);
}
END_TEST

START_TEST(api_errors)
{
	struct loaded l;

	load(&l, "cpu");
	ck_assert_int_eq(enpu_session_trace_start(NULL, "x.json"), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_trace_stop(NULL), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, NULL), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_session_trace_stop(l.sess), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(l.ctx), "not tracing"));
	ck_assert_int_eq(enpu_session_trace_start(l.sess, "/nonexistent-dir/t.json"), ENPU_ERR_IO);
	ck_assert_msg(strstr(enpu_last_error(l.ctx), "/nonexistent-dir/t.json"), "%s",
		      enpu_last_error(l.ctx));
	const char *p = tmp_json();
	ck_assert_int_eq(enpu_session_trace_start(l.sess, p), ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, p), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(l.ctx), "already tracing"));
	ck_assert_int_eq(enpu_session_trace_stop(l.sess), ENPU_OK);
	ck_assert_int_eq(check_trace(p, "0"), 0); /* empty, still valid */
	unload(&l);
}
END_TEST

/*
 * Where the trace goes: written to a temporary and renamed at stop. A FIFO is refused at once
 * (never opened), a symlink refused and its target untouched, the model's own file refused; a
 * file already at the path stays whole until the trace replaces it; a failed write reports its
 * errno and leaves nothing under the name.
 */
START_TEST(special_paths)
{
	struct loaded l;
	const enpu_token t[] = { 3, 4 };
	char fifo[512], link[512], target[512], old[512];

	load(&l, "cpu");
	snprintf(fifo, sizeof(fifo), "%s", tmp_json());
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, fifo), ENPU_ERR_IO);
	ck_assert_msg(strstr(enpu_last_error(l.ctx), "is a FIFO"), "%s", enpu_last_error(l.ctx));

	snprintf(target, sizeof(target), "%s", tmp_json());
	snprintf(link, sizeof(link), "%s", tmp_json());
	tu_write_file(target, "keep", 4);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, link), ENPU_ERR_IO);
	ck_assert_msg(strstr(enpu_last_error(l.ctx), "symbolic link"), "%s", enpu_last_error(l.ctx));
	size_t len;
	char *kept = tu_read_file(target, &len);
	ck_assert(len == 4 && !memcmp(kept, "keep", 4));
	free(kept);

	/* the model it runs: refused, and the model is still whole (it is mapped) */
	ck_assert_int_eq(enpu_session_trace_start(l.sess, model_path()), ENPU_ERR_INVALID_ARG);
	ck_assert_msg(strstr(enpu_last_error(l.ctx), "model's file"), "%s", enpu_last_error(l.ctx));
	ck_assert_int_eq(enpu_session_eval(l.sess, t, 2), ENPU_OK);

	/* an older trace stays whole until the new one is complete */
	snprintf(old, sizeof(old), "%s", tmp_json());
	tu_write_file(old, "old", 3);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, old), ENPU_OK);
	ck_assert_int_eq(enpu_session_eval(l.sess, t, 1), ENPU_OK);
	kept = tu_read_file(old, &len);
	ck_assert(len == 3 && !memcmp(kept, "old", 3));
	free(kept);
	ck_assert_int_eq(enpu_session_trace_stop(l.sess), ENPU_OK);
	ck_assert_int_eq(check_trace(old, ""), 0);

	/* a write that fails (the file size limit: EFBIG, as ENOSPC would be on a full disk) */
	const char *big = tmp_json();
	struct rlimit rl, small = { 4096, 0 };
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	small.rlim_max = rl.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(enpu_session_trace_start(l.sess, big), ENPU_OK);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(enpu_session_eval(l.sess, t, 1), ENPU_OK);
	ck_assert_int_eq(enpu_session_trace_stop(l.sess), ENPU_ERR_IO);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert_msg(strstr(enpu_last_error(l.ctx), strerror(EFBIG)), "%s", enpu_last_error(l.ctx));
	ck_assert_int_ne(access(big, F_OK), 0);
	unlink(fifo);
	unlink(link);
	unlink(target);
	unload(&l);
}
END_TEST

/* The checker must reject what a viewer would choke on, or the tests above prove nothing. */
START_TEST(checker_rejects_malformed)
{
	static const char *const bad[] = {
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"X\"", /* truncated */
		"[]",                                            /* no traceEvents */
		"{\"traceEvents\":[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
		"\"args\":{\"name\":\"cpu queue\"}},{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,"
		"\"tid\":1,\"ts\":1,\"dur\":-2,\"args\":{\"shape\":[1,1],\"device\":\"cpu\","
		"\"layer\":0}}]}", /* negative dur */
		"{\"traceEvents\":[{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1,"
		"\"dur\":2,\"args\":{\"shape\":[1,1],\"device\":\"cpu\",\"layer\":0}}]}", /* no track */
		"{\"traceEvents\":[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
		"\"args\":{\"name\":\"cpu queue\"}},{\"name\":\"a\",\"ph\":\"X\",\"pid\":1,"
		"\"tid\":1,\"ts\":1,\"dur\":2,\"args\":{\"shape\":[1,1],\"device\":\"cpu\","
		"\"layer\":0}},{\"name\":\"d\",\"ph\":\"s\",\"id\":1,\"pid\":1,\"tid\":1,"
		"\"ts\":1}]}", /* flow without a finish */
		"{\"traceEvents\":[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
		"\"args\":{\"name\":\"session\"}},{\"name\":\"a\",\"cat\":\"step\",\"ph\":\"X\","
		"\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":5},{\"name\":\"b\",\"cat\":\"token\","
		"\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":3,\"dur\":5}]}", /* overlap, no nesting */
		"{\"traceEvents\":[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
		"\"args\":{\"name\":\"session\"}},{\"name\":\"a\",\"cat\":\"step\",\"ph\":\"X\","
		"\"pid\":1,\"tid\":1,\"ts\":10,\"dur\":5},{\"name\":\"b\",\"cat\":\"step\","
		"\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":2}]}", /* ends out of order */
		"{\"traceEvents\":[{\"name\":\"f\",\"ph\":\"C\",\"pid\":1,\"ts\":5,"
		"\"args\":{\"MHz\":1}},{\"name\":\"f\",\"ph\":\"C\",\"pid\":1,\"ts\":4,"
		"\"args\":{\"MHz\":2}}]}", /* a counter going back in time */
		"{\"traceEvents\":[{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
		"\"args\":{\"name\":\"session\"}},{\"name\":\"thread_name\",\"ph\":\"M\","
		"\"pid\":1,\"tid\":2,\"args\":{\"name\":\"cpu queue\"}},{\"name\":\"op\","
		"\"ph\":\"X\",\"pid\":1,\"tid\":2,\"ts\":20,\"dur\":2,\"args\":{\"shape\":[1,1],"
		"\"device\":\"cpu\",\"layer\":0}},{\"name\":\"s\",\"cat\":\"step\",\"ph\":\"X\","
		"\"pid\":1,\"tid\":1,\"ts\":1,\"dur\":5}]}", /* an op outside every step */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = tmp_json();
		tu_write_file(p, bad[i], strlen(bad[i]));
		ck_assert_msg(check_trace(p, "") == 1, "accepted malformed file %zu", i);
	}
}
END_TEST

START_TEST(npu_run_trace)
{
	const char *out = tmp_json();
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s -m %s -p 'Hello' -n 3 --device npu --no-progress "
		 "--trace %s </dev/null >/dev/null 2>&1", getenv("NPU_RUN"), model_path(), out);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "npu-run --trace: status %d", st);
	/* a slice per generated token, each around the decode step that evaluates it */
	ck_assert_int_eq(check_trace(out, "--tokens=3 - cpu npu"), 0);
	snprintf(cmd, sizeof(cmd), "%s --help | grep -q -- '--trace FILE'", getenv("NPU_RUN"));
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s -m %s -n 1 --no-progress --trace /nonexistent-dir/t.json "
		 "</dev/null >/dev/null 2>&1", getenv("NPU_RUN"), model_path());
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "unwritable trace: status %d", st);
	/* the model as the trace: refused, the model whole (it used to be truncated: SIGBUS) */
	struct stat before, after;
	ck_assert_int_eq(stat(model_path(), &before), 0);
	snprintf(cmd, sizeof(cmd), "%s -m %s -n 1 --no-progress --trace %s </dev/null "
		 ">/dev/null 2>&1", getenv("NPU_RUN"), model_path(), model_path());
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "--trace MODEL: status %d", st);
	ck_assert_int_eq(stat(model_path(), &after), 0);
	ck_assert(after.st_ino == before.st_ino && after.st_size == before.st_size);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, api_npu_trace_is_valid);
	tcase_add_test(tc, free_finishes_trace);
	tcase_add_test(tc, api_errors);
	tcase_add_test(tc, special_paths);
	tcase_add_test(tc, checker_rejects_malformed);
	tcase_add_test(tc, npu_run_trace);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
