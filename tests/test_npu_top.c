/* SPDX-License-Identifier: MIT */
/*
 * test_npu_top.c - npu-top as a user runs it, while npu-run works on the in-process NPU:
 * the JSON of -J against its schema (fields present, counters growing with work), two
 * processes each shown with an in-process NPU of its own, the curses
 * screen driven in tmux and read back, a fake kernel device in a sysfs tree, and clean
 * messages (not crashes) without a device or a terminal.
 *
 * Each test gets a private runtime directory (ENPU_SYSFS_DIR, which npu-top then reads
 * exclusively) and an empty sysfs root (ENPU_SYSFS_ROOT), so that other programs on the
 * machine do not show up. The JSON is checked by python3 (which meson itself runs on).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const char *npu_top(void)
{
	return getenv("NPU_TOP");
}

static char rt[512], sysroot[512];

static void setup(void)
{
	snprintf(rt, sizeof(rt), "%s", tu_tmp_path(".rt"));
	snprintf(sysroot, sizeof(sysroot), "%s", tu_tmp_path(".sys"));
	ck_assert_int_eq(mkdir(rt, 0700), 0);
	ck_assert_int_eq(mkdir(sysroot, 0700), 0);
	setenv("ENPU_SYSFS_DIR", rt, 1);
	setenv("ENPU_SYSFS_ROOT", sysroot, 1);
	unsetenv("XDG_RUNTIME_DIR");
}

static const char *model(void)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	struct tu_run r = tu_run("%s -o %s --dim 256 --layers 4 --heads 4 --kv-heads 2 --ffn 512 "
				 "--ctx 4096 -t q8_0", getenv("NPU_MKMODEL"), path);
	ck_assert_msg(r.status == 0, "npu-mkmodel failed: %s", r.err);
	tu_run_free(&r);
	return path;
}

/* npu-run generating for a long while on the in-process NPU, in the background. */
static pid_t start_worker(void)
{
	const char *m = model();
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(126);
		execl(getenv("NPU_RUN"), "npu-run", "-m", m, "--device", "npu", "-n", "4000", "-c",
		      "4096", "-t", "1", "--no-progress", "--ignore-eos", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_worker(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Waits until npu-top -J lists the worker's NPU (its model load takes a moment). */
static void wait_for_device(pid_t pid)
{
	char stats[700];

	snprintf(stats, sizeof(stats), "%s/procs/%ld.stats", rt, (long)pid);
	for (int i = 0; i < 300; i++) {
		if (!access(stats, F_OK))
			return;
		ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "npu-run exited early");
		usleep(50000);
	}
	ck_abort_msg("npu-run did not publish %s within 15 s", stats);
}

/*
 * The schema, checked by python3 on two snapshots taken one after the other (a.json, b.json):
 * prints "ok" or what is wrong.
 */
static const char *const schema_py =
	"import json, sys\n"
	"a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); pid = int(sys.argv[3])\n"
	"num = (int, float); opt = (int, float, type(None))\n"
	"top = {'version': int, 'time': num, 'interval_s': num, 'devices': list,\n"
	"       'processes': list, 'warnings': list}\n"
	"dev = {'id': str, 'kind': str, 'source': str, 'driver': str, 'pid': int, 'engines': int,\n"
	"       'busy_pct': opt, 'cur_freq_hz': int, 'min_freq_hz': int, 'max_freq_hz': int,\n"
	"       'governor': str, 'power_state': str, 'power_mw': opt, 'energy_uj': opt,\n"
	"       'temperature_c': opt, 'jobs': opt, 'jobs_failed': opt, 'resets': opt,\n"
	"       'jobs_per_s': opt, 'cycles': opt, 'busy_ns': int, 'memory_bytes': int,\n"
	"       'queue_depth': int}\n"
	"proc = {'pid': int, 'name': str, 'device': str, 'source': str, 'engine_pct': num,\n"
	"        'busy_ns': int, 'memory_bytes': int, 'jobs': opt, 'jobs_per_s': opt}\n"
	"def check(obj, schema, what):\n"
	"    for k, t in schema.items():\n"
	"        assert k in obj, '%s: no field %s' % (what, k)\n"
	"        assert isinstance(obj[k], t) and not isinstance(obj[k], bool), \\\n"
	"            '%s.%s: %r is not %s' % (what, k, obj[k], t)\n"
	"for s in (a, b):\n"
	"    check(s, top, 'snapshot')\n"
	"    assert s['version'] == 1\n"
	"    for d in s['devices']:\n"
	"        check(d, dev, 'device ' + d.get('id', '?'))\n"
	"        assert d['busy_pct'] is None or 0 <= d['busy_pct'] <= 100, d\n"
	"    for p in s['processes']:\n"
	"        check(p, proc, 'process %s' % p.get('pid'))\n"
	"        assert 0 <= p['engine_pct'] <= 100, p\n"
	"def npu(s):\n"
	"    m = [d for d in s['devices'] if d['kind'] == 'npu' and d['pid'] == pid]\n"
	"    assert len(m) == 1, 'the worker NPU is not listed once: %r' % s['devices']\n"
	"    return m[0]\n"
	"da, db = npu(a), npu(b)\n"
	"assert da['id'] == 'npu0' and da['source'] == 'in-process' and da['driver'] == 'npu-sim'\n"
	"assert da['governor'] == 'simple_ondemand' and da['cur_freq_hz'] > 0, da\n"
	"assert db['max_freq_hz'] >= db['cur_freq_hz'] >= db['min_freq_hz'] > 0, db\n"
	"assert db['memory_bytes'] > 0, 'converted weights not counted'\n"
	"for k in ('jobs', 'cycles', 'energy_uj', 'busy_ns'):\n"
	"    assert db[k] > da[k] > 0, '%s did not grow with work: %r -> %r' % (k, da[k], db[k])\n"
	"assert db['busy_pct'] > 0 and db['jobs_per_s'] > 0 and db['power_mw'] > 0, db\n"
	"assert db['power_state'] in ('active', 'idle'), db\n"
	"procs = [p for p in b['processes'] if p['pid'] == pid]\n"
	"assert any(p['device'] == 'npu0' and p['name'] == 'npu-run' and p['source'] == 'shm'\n"
	"           and p['jobs'] > 0 and p['memory_bytes'] > 0 for p in procs), procs\n"
	"assert any(p['device'] == 'cpu' for p in procs), 'the CPU share is missing: %r' % procs\n"
	"print('ok')\n";

START_TEST(json_snapshot_schema_and_growth)
{
	pid_t w = start_worker();
	char *py = strdup(tu_tmp_path(".py")), *a = strdup(tu_tmp_path(".json"));
	char *b = strdup(tu_tmp_path(".json"));

	tu_write_file(py, schema_py, strlen(schema_py));
	wait_for_device(w);
	struct tu_run ra = tu_run("%s -J -s 0.3", npu_top());
	struct tu_run rb = tu_run("%s -J -s 0.3", npu_top());

	ck_assert_msg(ra.status == 0 && rb.status == 0, "npu-top -J: %s%s", ra.err, rb.err);
	tu_write_file(a, ra.out, strlen(ra.out));
	tu_write_file(b, rb.out, strlen(rb.out));
	struct tu_run chk = tu_run("python3 %s %s %s %ld", py, a, b, (long)w);

	stop_worker(w);
	ck_assert_msg(chk.status == 0 && !strcmp(chk.out, "ok\n"), "schema: %s%s", chk.out,
		      chk.err);

	/* the worker is gone (killed: no clean-up of its own): nothing is shown, its file goes */
	struct tu_run rc = tu_run("%s -J -s 0.05", npu_top());
	char stats[700];

	ck_assert_int_eq(rc.status, 0);
	ck_assert_msg(strstr(rc.out, "\"devices\":[]"), "stale device shown: %s", rc.out);
	snprintf(stats, sizeof(stats), "%s/procs/%ld.stats", rt, (long)w);
	ck_assert_int_ne(access(stats, F_OK), 0);
	tu_run_free(&ra), tu_run_free(&rb), tu_run_free(&chk), tu_run_free(&rc);
	free(py), free(a), free(b);
}
END_TEST

/*
 * Two processes on the in-process NPU: each gets an NPU of its own, never one shared (see
 * edge_npu.h), and npu-top -J shows each as such: two in-process devices, each with its
 * owner's pid, and each process's row naming its own device.
 */
static const char *const own_npu_py =
	"import json, sys\n"
	"s = json.load(open(sys.argv[1])); pids = [int(p) for p in sys.argv[2:4]]\n"
	"npus = [d for d in s['devices'] if d['kind'] == 'npu']\n"
	"assert sorted(d['pid'] for d in npus) == sorted(pids), npus\n"
	"assert all(d['source'] == 'in-process' for d in npus), npus\n"
	"assert len(set(d['id'] for d in npus)) == 2, 'one NPU listed for both: %r' % npus\n"
	"own = {d['pid']: d['id'] for d in npus}\n"
	"for pid in pids:\n"
	"    rows = [p for p in s['processes'] if p['pid'] == pid and p['device'].startswith('npu')]\n"
	"    assert [p['device'] for p in rows] == [own[pid]], (pid, rows, own)\n"
	"print('ok')\n";

START_TEST(each_process_its_own_npu)
{
	pid_t w[2] = { start_worker(), start_worker() };
	char *py = strdup(tu_tmp_path(".py")), *snap = strdup(tu_tmp_path(".json"));

	tu_write_file(py, own_npu_py, strlen(own_npu_py));
	wait_for_device(w[0]);
	wait_for_device(w[1]);
	struct tu_run r = tu_run("%s -J -s 0.3", npu_top());

	ck_assert_msg(r.status == 0, "npu-top -J: %s", r.err);
	tu_write_file(snap, r.out, strlen(r.out));
	struct tu_run chk = tu_run("python3 %s %s %ld %ld", py, snap, (long)w[0], (long)w[1]);

	stop_worker(w[0]);
	stop_worker(w[1]);
	ck_assert_msg(chk.status == 0 && !strcmp(chk.out, "ok\n"), "%s%s\n%s", chk.out, chk.err,
		      r.out);
	tu_run_free(&r), tu_run_free(&chk);
	free(py), free(snap);
}
END_TEST

START_TEST(json_lines_count)
{
	pid_t w = start_worker();

	wait_for_device(w);
	struct tu_run r = tu_run("%s -l -n 3 -s 0.1 -d npu", npu_top());

	stop_worker(w);
	ck_assert_int_eq(r.status, 0);
	int lines = 0;

	for (char *p = r.out; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, 3);
	/* -d npu: the CPU row is filtered out */
	ck_assert_ptr_nonnull(strstr(r.out, "\"id\":\"npu0\""));
	ck_assert_ptr_null(strstr(r.out, "\"id\":\"cpu\""));
	tu_run_free(&r);
}
END_TEST

START_TEST(screen_in_tmux)
{
	char session[64], *screen = NULL;
	pid_t w;

	ck_assert_msg(system("tmux -V >/dev/null 2>&1") == 0,
		      "tmux is missing (tools/install-deps.sh installs it)");
	w = start_worker();
	wait_for_device(w);
	snprintf(session, sizeof(session), "enpu-top-%ld", (long)getpid());
	/* a private tmux server (-L) so that the test never touches a user's sessions */
	struct tu_run r = tu_run("tmux -L %s new-session -d -s %s -x 160 -y 50 "
				 "'ENPU_SYSFS_DIR=%s ENPU_SYSFS_ROOT=%s TERM=xterm %s -s 0.3'",
				 session, session, rt, sysroot, npu_top());

	ck_assert_msg(r.status == 0, "tmux: %s", r.err);
	tu_run_free(&r);
	for (int i = 0; i < 50; i++) {
		struct tu_run c = tu_run("tmux -L %s capture-pane -p -t %s", session, session);

		free(screen);
		screen = c.out;
		free(c.err);
		if (strstr(screen, "npu-run") && strstr(screen, "npu0") &&
		    strstr(screen, "simple_ondemand"))
			break;
		usleep(100000);
	}
	struct tu_run q = tu_run("tmux -L %s send-keys -t %s q", session, session);

	tu_run_free(&q);
	usleep(300000);
	struct tu_run k = tu_run("tmux -L %s kill-server", session);

	tu_run_free(&k);
	stop_worker(w);
	ck_assert_msg(strstr(screen, "npu-top - "), "no header:\n%s", screen);
	ck_assert_msg(strstr(screen, "DEVICE") && strstr(screen, "PID"), "no tables:\n%s", screen);
	ck_assert_msg(strstr(screen, "npu0"), "device missing:\n%s", screen);
	ck_assert_msg(strstr(screen, "in-process"), "source missing:\n%s", screen);
	ck_assert_msg(strstr(screen, "simple_ondemand"), "governor missing:\n%s", screen);
	char pidline[64];

	snprintf(pidline, sizeof(pidline), "%-8ld npu-run", (long)w);
	ck_assert_msg(strstr(screen, pidline), "process %ld missing:\n%s", (long)w, screen);
	free(screen);
}
END_TEST

static void put(const char *dir, const char *name, const char *text)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tu_write_file(path, text, strlen(text));
}

/* A kernel device as the driver's sysfs shows it (edge_npu_sysfs.c, devfreq). */
START_TEST(kernel_device_from_sysfs)
{
	char npu[900], df[900];
	struct tu_run r;

	snprintf(npu, sizeof(npu), "%s/bus/platform/devices/edge-npu.0/npu", sysroot);
	snprintf(df, sizeof(df), "%s/class/devfreq/edge-npu.0", sysroot);
	r = tu_run("mkdir -p %s %s", npu, df);
	tu_run_free(&r);
	put(npu, "jobs_completed", "10\n");
	put(npu, "jobs_failed", "1\n");
	put(npu, "engine_resets", "1\n");
	put(npu, "busy_cycles", "5000\n");
	put(npu, "energy_uj", "3\n");
	put(npu, "engines", "2\n");
	put(npu, "power_state", "off\n");
	put(df, "cur_freq", "400000000\n");
	put(df, "min_freq", "200000000\n");
	put(df, "max_freq", "1000000000\n");
	put(df, "governor", "simple_ondemand\n");
	r = tu_run("%s -J -s 0.05", npu_top());
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "{\"id\":\"edge-npu.0\",\"kind\":\"npu\",\"source\":\"kernel\","
				    "\"driver\":\"edge_npu\",\"pid\":0,\"engines\":2,"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"cur_freq_hz\":400000000,\"min_freq_hz\":200000000,"
				    "\"max_freq_hz\":1000000000,\"governor\":\"simple_ondemand\","
				    "\"power_state\":\"off\""), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"energy_uj\":3.000"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"jobs\":10,\"jobs_failed\":1,\"resets\":1"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"warnings\":[]"), "%s", r.out);
	tu_run_free(&r);
}
END_TEST

START_TEST(clean_messages_without_device_or_terminal)
{
	struct tu_run r = tu_run("%s -J -s 0.05", npu_top());

	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "\"devices\":[]"));
	ck_assert_msg(strstr(r.out, "no edge-npu device found"), "%s", r.out);
	tu_run_free(&r);

	r = tu_run("%s", npu_top()); /* stdout is a file here */
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "not a terminal; use -J"), "%s", r.err);
	tu_run_free(&r);

	r = tu_run("%s -s 0", npu_top());
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "-s 0: the interval is seconds"));
	tu_run_free(&r);

	r = tu_run("%s --bogus", npu_top());
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "usage: npu-top"));
	tu_run_free(&r);
}
END_TEST

/*
 * FIFOs planted where npu-top reads (a process's stats file, an in-process NPU's cur_freq)
 * are skipped at once: the snapshot comes back instead of blocking in open().
 */
START_TEST(fifos_do_not_block)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/procs", rt);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/procs/1.stats", rt);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/devfreq", rt);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/devfreq/npu0", rt);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/devfreq/npu0/cur_freq", rt);
	ck_assert_int_eq(mkfifo(path, 0600), 0);

	struct tu_run r = tu_run("timeout 20 %s -J -s 0.05", npu_top());
	ck_assert_msg(r.status == 0, "exit %d (124: it blocked): %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "\"devices\""));
	tu_run_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("npu_top");
	TCase *tc = tcase_create("npu_top");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, json_snapshot_schema_and_growth);
	tcase_add_test(tc, json_lines_count);
	tcase_add_test(tc, each_process_its_own_npu);
	tcase_add_test(tc, screen_in_tmux);
	tcase_add_test(tc, kernel_device_from_sysfs);
	tcase_add_test(tc, clean_messages_without_device_or_terminal);
	tcase_add_test(tc, fifos_do_not_block);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
