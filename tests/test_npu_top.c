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
#include <stdarg.h>
#include <stdbool.h>
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
	"num = (int, float); opt = (int, float, type(None)); oint = (int, type(None))\n"
	"ostr = (str, type(None))\n"
	"top = {'version': int, 'time': num, 'interval_s': num, 'devices': list,\n"
	"       'processes': list, 'warnings': list}\n"
	"dev = {'id': str, 'kind': str, 'source': str, 'driver': str, 'node': ostr, 'pid': oint,\n"
	"       'engines': int,\n"
	"       'busy_pct': opt, 'cur_freq_hz': oint, 'min_freq_hz': oint, 'max_freq_hz': oint,\n"
	"       'governor': ostr, 'power_state': ostr, 'power_mw': opt, 'energy_uj': opt,\n"
	"       'temperature_c': opt, 'jobs': opt, 'jobs_failed': opt, 'resets': opt,\n"
	"       'jobs_per_s': opt, 'cycles': opt, 'busy_ns': int, 'memory_bytes': int,\n"
	"       'queue_depth': int, 'queue_avg': opt}\n"
	"proc = {'pid': int, 'name': str, 'device': str, 'source': str, 'engine_pct': num,\n"
	"        'busy_ns': int, 'memory_bytes': int, 'jobs': opt, 'jobs_per_s': opt}\n"
	"def check(obj, schema, what):\n"
	"    for k, t in schema.items():\n"
	"        assert k in obj, '%s: no field %s' % (what, k)\n"
	"        assert isinstance(obj[k], t) and not isinstance(obj[k], bool), \\\n"
	"            '%s.%s: %r is not %s' % (what, k, obj[k], t)\n"
	"for s in (a, b):\n"
	"    check(s, top, 'snapshot')\n"
	"    assert s['version'] == 2\n"
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
	"assert da['id'] == 'npu@%d' % pid and da['node'] == 'npu0', da\n"
	"assert da['source'] == 'in-process' and da['driver'] == 'npu-sim'\n"
	"assert da['governor'] == 'simple_ondemand' and da['cur_freq_hz'] > 0, da\n"
	"assert db['max_freq_hz'] >= db['cur_freq_hz'] >= db['min_freq_hz'] > 0, db\n"
	"assert db['memory_bytes'] > 0, 'converted weights not counted'\n"
	"for k in ('jobs', 'cycles', 'energy_uj', 'busy_ns'):\n"
	"    assert db[k] > da[k] > 0, '%s did not grow with work: %r -> %r' % (k, da[k], db[k])\n"
	"assert db['busy_pct'] > 0 and db['jobs_per_s'] > 0 and db['power_mw'] > 0, db\n"
	"# the queue as the device saw it over the interval, not the 0 left after each retire:\n"
	"# one job at a time, so its average depth is the busy share (apart by the sampling)\n"
	"assert 0 < db['queue_avg'] <= 1.05, db\n"
	"assert abs(db['queue_avg'] - db['busy_pct'] / 100) < 0.25, db\n"
	"assert db['temperature_c'] == 35.0, 'the die temperature register: %r' % db\n"
	"assert db['power_state'] in ('active', 'idle'), db\n"
	"procs = [p for p in b['processes'] if p['pid'] == pid]\n"
	"assert any(p['device'] == 'npu@%d' % pid and p['name'] == 'npu-run' and p['source'] == 'shm'\n"
	"           and p['jobs'] > 0 and p['memory_bytes'] > 0 for p in procs), procs\n"
	"assert any(p['device'] == 'cpu' for p in procs), 'the CPU share is missing: %r' % procs\n"
	"# absent is null, never 0 or '': the CPU backend has no clock, governor, power state or pid\n"
	"cpu = [d for d in b['devices'] if d['id'] == 'cpu']\n"
	"assert len(cpu) == 1, b['devices']\n"
	"for k in ('pid', 'cur_freq_hz', 'min_freq_hz', 'max_freq_hz', 'governor', 'power_state'):\n"
	"    assert cpu[0][k] is None, 'cpu %s: %r, not null' % (k, cpu[0][k])\n"
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
	char id[64];

	stop_worker(w);
	ck_assert_int_eq(r.status, 0);
	int lines = 0;

	for (char *p = r.out; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, 3);
	/* -d npu: the CPU row is filtered out */
	snprintf(id, sizeof(id), "\"id\":\"npu@%ld\"", (long)w);
	ck_assert_msg(strstr(r.out, id), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"node\":\"npu0\""), "%s", r.out);
	ck_assert_ptr_null(strstr(r.out, "\"id\":\"cpu\""));
	tu_run_free(&r);
}
END_TEST

/* A private tmux server (-L) per test process, so that the tests never touch a user's sessions. */
static const char *tmux_server(void)
{
	static char name[64];

	snprintf(name, sizeof(name), "enpu-top-%ld", (long)getpid());
	return name;
}

/*
 * npu-top args in a new tmux window of cols x rows, with env (VAR=value ...) before it; once
 * it exits, its status and the terminal's modes (stty -a) are shown.
 */
static void tmux_start_args(const char *session, int cols, int rows, const char *env,
			    const char *args)
{
	struct tu_run r = tu_run("tmux -L %s new-session -d -s %s -x %d -y %d "
				 "'ENPU_SYSFS_DIR=%s ENPU_SYSFS_ROOT=%s LANG=C.UTF-8 %s %s %s; "
				 "echo exit=$?; stty -a; sleep 30'", tmux_server(), session, cols,
				 rows, rt, sysroot, env, npu_top(), args);

	ck_assert_msg(r.status == 0, "tmux: %s", r.err);
	tu_run_free(&r);
}

static void tmux_start(const char *session, int cols, int rows, const char *env)
{
	tmux_start_args(session, cols, rows, env, "-s 0.3");
}

/*
 * The screen of session (with its escape sequences when escapes) once it shows all of the
 * NULL-terminated needles, or after 10 s whatever it shows (the caller's checks then fail).
 */
static char *tmux_screen(const char *session, bool escapes, ...)
{
	char *screen = NULL;

	for (int i = 0; i < 100; i++) {
		struct tu_run c = tu_run("tmux -L %s capture-pane -p %s -t %s", tmux_server(),
					 escapes ? "-e" : "", session);
		va_list ap;
		const char *needle;
		bool all = true;

		free(screen);
		screen = c.out;
		free(c.err);
		va_start(ap, escapes);
		while ((needle = va_arg(ap, const char *)))
			all &= strstr(screen, needle) != NULL;
		va_end(ap);
		if (all)
			break;
		usleep(100000);
	}
	return screen;
}

static void tmux_keys(const char *session, const char *keys)
{
	struct tu_run r = tu_run("tmux -L %s send-keys -t %s %s", tmux_server(), session, keys);

	tu_run_free(&r);
}

/* An SGR foreground colour (30-37, 38;...) in a screen captured with its escapes; 39 is none. */
static bool has_colour(const char *screen)
{
	for (const char *p = screen; (p = strstr(p, "\033[")); p++) {
		const char *q = p + 2;

		/* the parameters of one sequence: "0;1;36m" */
		while (*q && *q != 'm') {
			if (q[0] == '3' && q[1] >= '0' && q[1] <= '8' && (q == p + 2 || q[-1] == ';'))
				return true;
			q++;
		}
	}
	return false;
}

/* No line of the screen is wider than cols (tmux cuts nothing: a longer line would wrap). */
static void assert_fits(const char *screen, int cols)
{
	for (const char *p = screen; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int w = 0;

		for (size_t i = 0; i < len; i++)
			w += ((unsigned char)p[i] & 0xc0) != 0x80;
		ck_assert_msg(w <= cols, "a line of %d columns on %d:\n%s", w, cols, screen);
		p += len + (e ? 1 : 0);
	}
}

/*
 * The live view as a user sees it while npu-run generates on the in-process NPU: at 80 and
 * 200 columns every figure of the device whole (none cut), its graphs drawn, the process
 * listed; the help screen lists every key; NO_COLOR and -m draw without colour, TERM=dumb
 * prints plain frames.
 */
START_TEST(screen_in_tmux)
{
	static const char *const figures[] = { "busy ", "clock ", "gov simple_ondemand",
					       "state ", "power ", "energy ", "temp 35.0 C",
					       "jobs/s ", "queue ", "mem " };
	char dev[64], pidline[64], *screen;
	pid_t w;

	ck_assert_msg(system("tmux -V >/dev/null 2>&1") == 0,
		      "tmux is missing (tools/install-deps.sh installs it)");
	w = start_worker();
	wait_for_device(w);
	snprintf(dev, sizeof(dev), "npu@%ld", (long)w);
	snprintf(pidline, sizeof(pidline), "%-8ld npu-run", (long)w);
	tmux_start("c80", 80, 24, "TERM=xterm-256color");
	tmux_start("c200", 200, 50, "TERM=xterm-256color");
	tmux_start("mono", 80, 24, "TERM=xterm-256color NO_COLOR=1");
	tmux_start("dumb", 80, 24, "TERM=dumb");

	for (int k = 0; k < 2; k++) {
		const char *session = k ? "c200" : "c80";

		/* the graphs have a few samples once a bar of the busy graph is up */
		screen = tmux_screen(session, false, dev, "(npu0)", "queue ", pidline, "▁", NULL);
		assert_fits(screen, k ? 200 : 80);
		ck_assert_msg(strstr(screen, "npu-top - "), "no header:\n%s", screen);
		ck_assert_msg(strstr(screen, "PID") && strstr(screen, "DEVICE"), "%s", screen);
		ck_assert_msg(strstr(screen, pidline), "process %ld missing:\n%s", (long)w, screen);
		for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
			ck_assert_msg(strstr(screen, figures[i]), "%s missing at %s:\n%s",
				      figures[i], session, screen);
		/* a graph line for each metric, with block glyphs in it */
		ck_assert_msg(strstr(screen, "  busy ") && strstr(screen, "  clock ") &&
			      strstr(screen, "  power ") && strstr(screen, "  temp "), "%s", screen);
		ck_assert_msg(strstr(screen, "▁") || strstr(screen, "█"), "no graph:\n%s", screen);
		free(screen);
	}
	/* colour where the terminal has it: SGR colour codes; none with NO_COLOR */
	screen = tmux_screen("c80", true, "\033[36m", NULL);
	ck_assert_msg(has_colour(screen), "no colour:\n%s", screen);
	free(screen);
	screen = tmux_screen("mono", true, dev, "queue ", NULL);
	ck_assert_msg(strstr(screen, dev) && !has_colour(screen), "colour with NO_COLOR:\n%s",
		      screen);
	free(screen);
	/* braille graphs, then the help screen with every key */
	tmux_keys("c80", "g");
	screen = tmux_screen("c80", false, "⣀", NULL);
	ck_assert_msg(strstr(screen, "⣀") || strstr(screen, "⣿"), "no braille:\n%s", screen);
	free(screen);
	tmux_keys("c80", "?");
	/* its last line: the screen is drawn whole */
	screen = tmux_screen("c80", false, "npu-top keys", "jobs waiting or running.", NULL);
	static const char *const keys[] = { "q Q ", "h ? ", "e ", "p ", "m ", "j ", "n ", "r ",
					    "f ", "i ", "g ", "c ", "+ - " };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[16];

		snprintf(want, sizeof(want), "\n  %s", keys[i]);
		ck_assert_msg(strstr(screen, want), "help lacks '%s':\n%s", keys[i], screen);
	}
	assert_fits(screen, 80);
	free(screen);
	/* a dumb terminal: plain frames, ASCII graphs, the same figures */
	screen = tmux_screen("dumb", false, dev, "temp 35.0 C", pidline, NULL);
	ck_assert_msg(strstr(screen, dev) && strstr(screen, pidline), "dumb:\n%s", screen);
	ck_assert_msg(!strstr(screen, "▁") && !strstr(screen, "█"), "UTF-8 on dumb:\n%s", screen);
	free(screen);

	tmux_keys("c80", "q");
	struct tu_run k = tu_run("tmux -L %s kill-server", tmux_server());
	tu_run_free(&k);
	stop_worker(w);
}
END_TEST

/* The energy figure ("energy X mJ") of a screen, -1 without one. */
static double screen_energy(const char *screen)
{
	const char *p = strstr(screen, "energy ");
	double mj = -1;

	if (p && sscanf(p, "energy %lf mJ", &mj) != 1)
		mj = -1;
	return mj;
}

/*
 * Keys do not hold the next sample back: with -s 1 and a key every ~100 ms for 4 s, the
 * figures still move (they came from a new sample; a key redraws the same two). It used to
 * restart the interval at each key, so that a sample came only after a second without one.
 */
START_TEST(keys_do_not_hold_back_samples)
{
	char dev[64], *screen;
	double before, after;
	pid_t w;

	ck_assert_msg(system("tmux -V >/dev/null 2>&1") == 0, "tmux is missing");
	w = start_worker();
	wait_for_device(w);
	snprintf(dev, sizeof(dev), "npu@%ld", (long)w);
	tmux_start_args("keys", 200, 50, "TERM=xterm-256color", "-s 1");
	screen = tmux_screen("keys", false, dev, "energy ", NULL);
	before = screen_energy(screen);
	ck_assert_msg(before >= 0, "no energy figure:\n%s", screen);
	free(screen);
	for (int i = 0; i < 40; i++) {
		tmux_keys("keys", i % 2 ? "r" : "e");
		usleep(100000);
	}
	screen = tmux_screen("keys", false, dev, "energy ", NULL);
	after = screen_energy(screen);
	ck_assert_msg(after > before, "no new sample while keys came: energy %.3f -> %.3f mJ\n%s",
		      before, after, screen);
	free(screen);
	struct tu_run k = tu_run("tmux -L %s kill-server", tmux_server());
	tu_run_free(&k);
	stop_worker(w);
}
END_TEST

/*
 * + and - keep to the range of -s (0.05 .. 3600 s) and never move the interval against the
 * key: -s 60 and + gave 10 s (the keys clamped to 0.1 .. 10). Each sequence ends with a key
 * whose result shows where the one before it left the interval.
 */
START_TEST(interval_keys_keep_to_s_range)
{
	static const struct {
		const char *args, *start, *keys, *want;
	} cases[] = {
		{ "-s 60", "interval 60s ", "+", "interval 120s " },
		{ "-s 60", "interval 60s ", "- - -", "interval 7.5s " },
		{ "-s 3000", "interval 3000s ", "+", "interval 3600s " },
		{ "-s 3000", "interval 3000s ", "+ + -", "interval 1800s " },
		{ "-s 0.05", "interval 0.05s ", "- +", "interval 0.1s " },
		{ "-s 0.07", "interval 0.07s ", "- -", "interval 0.05s " },
	};

	ck_assert_msg(system("tmux -V >/dev/null 2>&1") == 0, "tmux is missing");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char session[16], *screen;

		snprintf(session, sizeof(session), "iv%zu", i);
		tmux_start_args(session, 120, 24, "TERM=xterm-256color", cases[i].args);
		screen = tmux_screen(session, false, cases[i].start, NULL);
		ck_assert_msg(strstr(screen, cases[i].start), "%s:\n%s", cases[i].args, screen);
		free(screen);
		tmux_keys(session, cases[i].keys);
		screen = tmux_screen(session, false, cases[i].want, NULL);
		ck_assert_msg(strstr(screen, cases[i].want), "%s, keys %s: not '%s':\n%s",
			      cases[i].args, cases[i].keys, cases[i].want, screen);
		free(screen);
	}
	struct tu_run k = tu_run("tmux -L %s kill-server", tmux_server());
	tu_run_free(&k);
}
END_TEST

/*
 * TERM=dumb: keys act as typed, without Enter, and are not echoed; the terminal's modes are
 * back at exit (here by SIGINT, ^C). curses set cbreak and noecho on /dev/null, where it
 * draws, and the keys waited for Enter and echoed.
 */
START_TEST(dumb_terminal_keys)
{
	char *screen;

	ck_assert_msg(system("tmux -V >/dev/null 2>&1") == 0, "tmux is missing");
	tmux_start_args("dumbk", 80, 40, "TERM=dumb", "-s 60");
	screen = tmux_screen("dumbk", false, "interval 60s", NULL);
	free(screen);
	tmux_keys("dumbk", "Z '?'"); /* Z: no such key, a redraw */
	screen = tmux_screen("dumbk", false, "npu-top keys", NULL);
	ck_assert_msg(strstr(screen, "npu-top keys"), "? without Enter: no help:\n%s", screen);
	ck_assert_msg(!strchr(screen, 'Z'), "a key echoed:\n%s", screen);
	free(screen);
	tmux_keys("dumbk", "C-c");
	screen = tmux_screen("dumbk", false, "exit=0", " icanon", NULL);
	ck_assert_msg(strstr(screen, "exit=0"), "no exit after ^C:\n%s", screen);
	ck_assert_msg(strstr(screen, " icanon") && !strstr(screen, "-icanon") &&
		      strstr(screen, " echo ") && !strstr(screen, "-echo "),
		      "the terminal's modes are not restored:\n%s", screen);
	free(screen);
	struct tu_run k = tu_run("tmux -L %s kill-server", tmux_server());
	tu_run_free(&k);
}
END_TEST

/* Whether the directory of file is a FUSE mount (the in-process NPU's files served by it). */
static bool mounted_fuse(const char *file)
{
	char dir[900];

	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(file, '/') - file), file);
	return tu_is_fuse_mount(dir);
}

/* The text of the worker's devfreq file name (npu0 in the private runtime), trimmed. */
static char *devfreq_file(const char *name)
{
	char path[900];
	size_t len;

	snprintf(path, sizeof(path), "%s/devfreq/npu0/%s", rt, name);
	char *t = tu_read_file(path, &len);
	while (len && (t[len - 1] == '\n' || t[len - 1] == ' '))
		t[--len] = 0;
	return t;
}

/* npu-top --set ARGS: its status, with stderr holding want (NULL: empty) */
static void set_expect(const char *args, int status, const char *want)
{
	struct tu_run r = tu_run("%s --set %s", npu_top(), args);

	ck_assert_msg(r.status == status, "--set %s: status %d: %s", args, r.status, r.err);
	if (want)
		ck_assert_msg(strstr(r.err, want), "--set %s: %s", args, r.err);
	else
		ck_assert_msg(!r.err[0], "--set %s: %s", args, r.err);
	tu_run_free(&r);
}

/* A FIFO planted at path, then npu-top --set edge-npu.0 ASSIGN: refused at once with want. */
static void set_over_fifo(const char *path, const char *assign, const char *want)
{
	char args[128];

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(args, sizeof(args), "edge-npu.0 %s", assign);
	set_expect(args, 1, want); /* a read or write that blocked would hit the case's timeout */
}

/*
 * Admin writes that fail like sysfs (run with the directory served through FUSE where it can be,
 * and with plain files): npu-top --set refuses, with an error and exit status 1,
 * a governor or frequency the device does not have (checked against its
 * available_governors and available_frequencies), and leaves the file alone; a good value is
 * written and the device runs by it. A bad value written to the file directly (echo) is
 * refused by the device: the file is restored and last_error says why.
 */
static void admin_writes(bool plain)
{
	bool fuse_here = !access("/dev/fuse", R_OK | W_OK) && !access("/usr/bin/fusermount3", X_OK);
	char dev[64], args[256], owner[900];

	if (plain)
		setenv("ENPU_DEVFREQ_FUSE", "0", 1); /* the worker keeps plain files */
	pid_t w = start_worker();
	wait_for_device(w);
	snprintf(owner, sizeof(owner), "%s/devfreq/npu0/owner", rt);
	/* FUSE where it can be mounted, never when refused: no silent change of route */
	ck_assert_int_eq(mounted_fuse(owner), fuse_here && !plain);
	snprintf(dev, sizeof(dev), "npu@%ld", (long)w);
	snprintf(args, sizeof(args), "%s governor=bogus", dev);
	set_expect(args, 1, "governor: 'bogus' is not one of available_governors (performance "
			    "powersave userspace simple_ondemand): Invalid argument");
	char *t = devfreq_file("governor");
	ck_assert_str_eq(t, "simple_ondemand");
	free(t);
	snprintf(args, sizeof(args), "%s max_freq=123", dev);
	set_expect(args, 1, "max_freq: 123 Hz is outside available_frequencies (200000000 .. "
			    "1000000000, or 0 for no bound)");
	snprintf(args, sizeof(args), "%s max_freq=2000000000", dev);
	set_expect(args, 1, "max_freq: 2000000000 Hz is outside available_frequencies");
	set_expect("npu0 userspace/set_freq=fast", 1, "'fast' is not a frequency in Hz");
	set_expect("npu0 cur_freq=400000000", 1, "cur_freq: not a writable attribute");
	set_expect("npu0 governor", 2, "'governor' is not KNOB=VALUE");
	set_expect("npu@1 governor=performance", 1, "--set npu@1: no such device");
	t = devfreq_file("max_freq");
	ck_assert_str_eq(t, "1000000000"); /* nothing refused was written */
	free(t);

	/*
	 * Accepted, by the device's node name too: the device runs at the cap (under performance,
	 * exactly at it, so that the clock shows the cap is in force, not a lower ondemand step).
	 */
	set_expect("npu0 governor=performance max_freq=400000000", 0, NULL);
	t = devfreq_file("max_freq");
	ck_assert_str_eq(t, "400000000");
	free(t);
	uint64_t hz = 0;
	for (int i = 0; i < 100; i++) {
		t = devfreq_file("cur_freq");
		hz = strtoull(t, NULL, 10);
		free(t);
		if (hz == 400000000)
			break;
		usleep(50000);
	}
	ck_assert_msg(hz == 400000000, "cur_freq %llu, not the cap", (unsigned long long)hz);

	/*
	 * The file written directly: where the directory is served through FUSE, the write
	 * itself fails with EINVAL, as sysfs's; with plain files, the device refuses the value
	 * at its next job, restores the file and says why in last_error.
	 */
	char path[900];
	snprintf(path, sizeof(path), "%s/devfreq/npu0/max_freq", rt);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ssize_t wr = write(fd, "123\n", 4);
	int werr = wr < 0 ? errno : 0;
	close(fd);
	if (mounted_fuse(path)) {
		ck_assert_msg(wr < 0 && werr == EINVAL, "a refused write through FUSE: %zd, %s", wr,
			      strerror(werr));
	} else {
		ck_assert_int_eq(wr, 4);
		for (int i = 0; i < 100; i++) {
			t = devfreq_file("max_freq");
			bool restored = !strcmp(t, "400000000");
			free(t);
			if (restored)
				break;
			usleep(50000);
		}
		t = devfreq_file("last_error");
		ck_assert_msg(strstr(t, "max_freq: 123 Hz is outside available_frequencies") &&
			      strstr(t, "kept 400000000"), "last_error: %s", t);
		free(t);
	}
	t = devfreq_file("max_freq");
	ck_assert_str_eq(t, "400000000");
	free(t);
	stop_worker(w);
}

START_TEST(admin_writes_refused_like_sysfs)
{
	admin_writes(false);
}
END_TEST

/* The same where FUSE cannot be used: the plain files, npu-top --set and the device's check. */
START_TEST(admin_writes_refused_plain_files)
{
	admin_writes(true);
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
				    "\"driver\":\"edge_npu\",\"node\":null,\"pid\":null,\"engines\":2,"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"cur_freq_hz\":400000000,\"min_freq_hz\":200000000,"
				    "\"max_freq_hz\":1000000000,\"governor\":\"simple_ondemand\","
				    "\"power_state\":\"off\""), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"energy_uj\":3.000"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"jobs\":10,\"jobs_failed\":1,\"resets\":1"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"warnings\":[]"), "%s", r.out);
	tu_run_free(&r);

	/* a device without devfreq or power state: null for each, not 0 or "" */
	snprintf(npu, sizeof(npu), "%s/bus/platform/devices/edge-npu.1/npu", sysroot);
	r = tu_run("mkdir -p %s", npu);
	tu_run_free(&r);
	put(npu, "jobs_completed", "0\n");
	r = tu_run("%s -J -s 0.05 -d edge-npu.1", npu_top());
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "\"id\":\"edge-npu.1\""), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"pid\":null,"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"cur_freq_hz\":null,\"min_freq_hz\":null,"
				    "\"max_freq_hz\":null,\"governor\":null,\"power_state\":null,"),
		      "%s", r.out);
	tu_run_free(&r);
}
END_TEST

/* --set on a kernel device: the same check against its sysfs lists, then the attribute. */
START_TEST(admin_set_kernel_device)
{
	char df[900], path[1000];
	struct tu_run r;

	snprintf(df, sizeof(df), "%s/class/devfreq/edge-npu.0", sysroot);
	r = tu_run("mkdir -p %s", df);
	tu_run_free(&r);
	put(df, "available_frequencies", "200000000 400000000 1000000000\n");
	put(df, "available_governors", "userspace powersave performance simple_ondemand\n");
	put(df, "max_freq", "1000000000\n");
	set_expect("edge-npu.0 max_freq=123", 1, "max_freq: 123 Hz is outside "
		   "available_frequencies (200000000 .. 1000000000, or 0 for no bound)");
	set_expect("edge-npu.0 governor=turbo", 1, "'turbo' is not one of available_governors");
	set_expect("edge-npu.0 max_freq=400000000", 0, NULL);
	snprintf(path, sizeof(path), "%s/max_freq", df);
	size_t len;
	char *t = tu_read_file(path, &len);
	ck_assert_str_eq(t, "400000000\n");
	free(t);
	set_expect("edge-npu.7 max_freq=400000000", 1, "--set edge-npu.7: no such device");

	/* FIFOs planted as the attribute written and as one read to check it: refused at once */
	set_over_fifo(path, "max_freq=400000000", "not a regular file");
	snprintf(path, sizeof(path), "%s/available_governors", df);
	set_over_fifo(path, "governor=userspace", "is a FIFO");
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

	/* options that would be ignored (-n without -l, -J -l) or out of range are usage errors */
	static const char *const refused[][2] = {
		{ "-n 3", "-n counts the lines of -l" },
		{ "-J -n 3", "-n counts the lines of -l" },
		{ "-J -l", "-J (one snapshot) and -l (a line per interval) exclude each other" },
		{ "-l -J -n 2", "exclude each other" },
		{ "-l -n 99999999999999999999", "-n 99999999999999999999: a positive count, at most" },
		/* hex is not taken for seconds (refused before the loop's own -s 0.05) */
		{ "-l -n 1 -s 0x1", "-s 0x1: the interval is seconds" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		r = tu_run("timeout 20 %s %s -s 0.05", npu_top(), refused[i][0]);
		ck_assert_msg(r.status == 2 && strstr(r.err, refused[i][1]) && !r.out[0],
			      "%s: status %d: %s%s", refused[i][0], r.status, r.err, r.out);
		tu_run_free(&r);
	}
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
	tcase_add_test(tc, keys_do_not_hold_back_samples);
	tcase_add_test(tc, interval_keys_keep_to_s_range);
	tcase_add_test(tc, dumb_terminal_keys);
	tcase_add_test(tc, admin_writes_refused_like_sysfs);
	tcase_add_test(tc, admin_writes_refused_plain_files);
	tcase_add_test(tc, kernel_device_from_sysfs);
	tcase_add_test(tc, admin_set_kernel_device);
	tcase_add_test(tc, clean_messages_without_device_or_terminal);
	tcase_add_test(tc, fifos_do_not_block);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
