// SPDX-License-Identifier: MIT
/*
 * enpu_genl_test.c - inside the test VM (tests/kmod/init.sh runs it after enpu_kmod_test):
 * the edge_npu generic-netlink family as user space sees it through libnl-genl and
 * hal/npu_drm/npu_drm_genl.c.
 *
 *  - GET_STATS: a dump lists every device with its attributes, consistent with sysfs; a
 *    request for one device works, one for a missing device and one with an attribute the
 *    policy does not allow are refused by the kernel;
 *  - events: a subscriber sees what a faulting job causes (a job touching an address its
 *    context has not mapped: JOB_FAULT with -EFAULT; a hung job: JOB_TIMEOUT,
 *    ENGINE_RESET, JOB_FAULT -ETIMEDOUT; the queue depth while it hangs; the power state
 *    when the device autosuspends after it) and what a frequency change causes (FREQ_CHANGE
 *    with the new clock, after min_freq/max_freq are written) and what heating does
 *    (THERMAL_TRIP on the passive trip, THERMAL_THROTTLE when the governor caps the clock
 *    and when it lifts the cap);
 *  - access: a request with genlmsghdr.reserved set is refused; an unprivileged user cannot
 *    join the events group or read the device-wide energy (genl or sysfs), but gets GET_STATS.
 *
 * Usage: enpu_genl_test [--timeout-ms N] (the module's job_timeout_ms)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "hal/npu_drm/npu_drm_genl.h"
#include "tests/kmod/enpu_kmod_common.h"

static int n_pass, n_fail;

#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		if (cond) {                                                                   \
			n_pass++;                                                             \
		} else {                                                                      \
			n_fail++;                                                             \
			printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
			printf(__VA_ARGS__);                                                  \
			printf("\n");                                                         \
		}                                                                             \
	} while (0)

#define DEVFREQ(n, f) "/sys/class/devfreq/edge-npu." #n "/" f
#define NPU_SYSFS(n, f) "/sys/bus/platform/devices/edge-npu." #n "/npu/" f

static void print_stats(const struct npu_genl_stats *s)
{
	printf("  GET_STATS %s: device %u engines %u busy_ns %llu cycles %llu cur_freq_hz %llu "
	       "min_freq_hz %llu max_freq_hz %llu power_uw %llu energy_uj %llu power_state %u "
	       "queue low/normal/high %u/%u/%u jobs_completed %llu jobs_failed %llu jobs_reset "
	       "%llu mem_used %llu temp_mc %d thermal_state %u cooling_state %u\n", s->name,
	       s->device, s->engines,
	       (unsigned long long)s->busy_ns, (unsigned long long)s->cycles,
	       (unsigned long long)s->cur_freq_hz, (unsigned long long)s->min_freq_hz,
	       (unsigned long long)s->max_freq_hz, (unsigned long long)s->power_uw,
	       (unsigned long long)s->energy_uj, s->power_state, s->queue[0], s->queue[1],
	       s->queue[2], (unsigned long long)s->jobs_completed,
	       (unsigned long long)s->jobs_failed, (unsigned long long)s->jobs_reset,
	       (unsigned long long)s->mem_used, s->temp_mc, s->thermal_state, s->cooling_state);
}

static void print_event(const struct npu_genl_event *e)
{
	printf("  event %-12s device %u engine %u error %d pid %u power_state %u throttled %u "
	       "old_freq_hz %llu cur_freq_hz %llu max_freq_hz %llu jobs_reset %llu temp_mc %d "
	       "trip %u trip_temp_mc %d crossed %u cooling_state %u\n",
	       npu_genl_event_name(e->event), e->device, e->engine, e->error, e->pid,
	       e->power_state, e->throttled, (unsigned long long)e->old_freq_hz,
	       (unsigned long long)e->cur_freq_hz, (unsigned long long)e->max_freq_hz,
	       (unsigned long long)e->jobs_reset, e->temp_mc, e->trip, e->trip_temp_mc,
	       e->crossed, e->cooling_state);
}

/*
 * Sends a raw GET_STATS request (doit) with the given attributes and genlmsghdr.reserved;
 * returns the kernel's error.
 */
static int raw_request(uint32_t device, bool bogus_attr, uint16_t reserved,
		       struct npu_genl_stats *out)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = nlmsg_alloc();
	int fam, rc = -ENOMEM;

	if (!sk || !msg || genl_connect(sk))
		goto out;
	fam = genl_ctrl_resolve(sk, EDGE_NPU_GENL_NAME);
	if (fam < 0 || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, fam, 0, 0,
				    EDGE_NPU_CMD_GET_STATS, EDGE_NPU_GENL_VERSION))
		goto out;
	((struct genlmsghdr *)nlmsg_data(nlmsg_hdr(msg)))->reserved = reserved;
	nla_put_u32(msg, EDGE_NPU_A_DEVICE, device);
	if (bogus_attr)
		nla_put_string(msg, EDGE_NPU_A_DEV_NAME, "not a request attribute");
	rc = nl_send_auto(sk, msg);
	if (rc < 0)
		goto out;
	if (out) {
		/* the reply, then the ack */
		unsigned char *buf = NULL;
		struct sockaddr_nl peer;
		int n = nl_recv(sk, &peer, &buf, NULL);
		char err[160];

		if (n <= 0) {
			rc = n < 0 ? n : -EIO;
			goto out;
		}
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			rc = ((struct nlmsgerr *)nlmsg_data(nlh))->error;
			free(buf);
			goto out;
		}
		rc = npu_genl_parse_stats(buf, (size_t)n, out, err, sizeof(err));
		if (rc)
			printf("  parse: %s\n", err);
		free(buf);
		goto out;
	}
	rc = nl_wait_for_ack(sk);
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return rc;
}

/*
 * What an unprivileged user may see: not the events group (other users' pids and errors),
 * not the device-wide energy (GET_STATS omits it; sysfs energy_uj is 0400), but the rest of
 * GET_STATS. Runs in a child that dropped to nobody.
 */
static void test_access(void)
{
	struct npu_genl_stats root_st[8];
	struct npu_genl *g = NULL;
	char err[256] = "";
	int status = 0, n;
	pid_t pid;

	n = raw_request(0, false, 1, NULL);
	CHECK(n == -NLE_INVAL, "GET_STATS with genlmsghdr.reserved = 1: %d (%s), want -NLE_INVAL",
	      n, nl_geterror(n));
	if (npu_genl_open(&g, err, sizeof(err)) == 0) {
		n = npu_genl_get_stats(g, root_st, 8, err, sizeof(err));
		CHECK(n >= 1 && root_st[0].energy_uj > 0, "root sees the energy: %d devices, %llu uJ",
		      n, n >= 1 ? (unsigned long long)root_st[0].energy_uj : 0ull);
		npu_genl_close(g);
		g = NULL;
	}
	pid = fork();
	if (pid == 0) {
		struct npu_genl_stats st[8];
		int bad = 0;

		if (setgroups(0, NULL) || setregid(65534, 65534) ||
		    setreuid(65534, 65534))
			_exit(64);
		if (npu_genl_open(&g, err, sizeof(err)))
			_exit(65);
		if (npu_genl_subscribe(g, err, sizeof(err)) == 0)
			bad |= 1; /* joined the events group */
		npu_genl_close(g);
		if (npu_genl_open(&g, err, sizeof(err)))
			_exit(65);
		n = npu_genl_get_stats(g, st, 8, err, sizeof(err));
		if (n < 1)
			bad |= 2; /* GET_STATS stays unprivileged */
		else if (st[0].energy_uj || st[0].power_uw)
			bad |= 4; /* saw the device-wide energy */
		npu_genl_close(g);
		if (access(NPU_SYSFS(0, "energy_uj"), R_OK) == 0)
			bad |= 8;
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	n = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	CHECK(n < 64, "unprivileged child could not run (%d)", n);
	if (n < 64) {
		CHECK(!(n & 1), "an unprivileged user joined the events group");
		CHECK(!(n & 2), "an unprivileged user cannot GET_STATS");
		CHECK(!(n & 4), "an unprivileged user reads the device energy over genl");
		CHECK(!(n & 8), "an unprivileged user reads sysfs energy_uj");
	}
}

static void test_stats(struct npu_genl *g)
{
	struct npu_genl_stats st[8], one;
	char err[256] = "";
	int n = npu_genl_get_stats(g, st, 8, err, sizeof(err));

	CHECK(n == 2, "dump: %d devices (%s)", n, err);
	for (int i = 0; i < n && i < 8; i++) {
		char name[32];

		print_stats(&st[i]);
		snprintf(name, sizeof(name), "edge-npu.%u", st[i].device);
		CHECK(!strcmp(st[i].name, name), "name %s for device %u", st[i].name, st[i].device);
		CHECK(st[i].engines == 2, "engines %u", st[i].engines);
		CHECK(st[i].max_freq_hz >= st[i].cur_freq_hz &&
			      st[i].cur_freq_hz >= st[i].min_freq_hz && st[i].min_freq_hz > 0,
		      "frequencies %llu <= %llu <= %llu",
		      (unsigned long long)st[i].min_freq_hz, (unsigned long long)st[i].cur_freq_hz,
		      (unsigned long long)st[i].max_freq_hz);
		CHECK(st[i].power_state <= EDGE_NPU_POWER_ON, "power state %u", st[i].power_state);
		CHECK(st[i].have & (1ull << EDGE_NPU_A_QUEUE), "no queue depths");
		CHECK((st[i].have & (1ull << EDGE_NPU_A_TEMP_MC)) && st[i].temp_mc >= 35000 &&
			      st[i].temp_mc < 95000 &&
			      st[i].thermal_state <= EDGE_NPU_THERMAL_CRITICAL,
		      "temperature %d mdegC, thermal state %u", st[i].temp_mc, st[i].thermal_state);
	}
	if (n >= 1) {
		/* device 0 ran enpu_kmod_test's jobs: the counters agree with sysfs */
		int64_t jobs = read_num(NPU_SYSFS(0, "jobs_completed"));
		int64_t cycles = read_num(NPU_SYSFS(0, "busy_cycles"));

		CHECK(st[0].device == 0 && (int64_t)st[0].jobs_completed == jobs && jobs > 0,
		      "jobs %llu, sysfs %lld", (unsigned long long)st[0].jobs_completed,
		      (long long)jobs);
		CHECK((int64_t)st[0].cycles == cycles, "cycles %llu, sysfs %lld",
		      (unsigned long long)st[0].cycles, (long long)cycles);
		CHECK(st[0].busy_ns > 0 && st[0].energy_uj > 0 && st[0].power_uw > 0,
		      "busy %llu energy %llu power %llu", (unsigned long long)st[0].busy_ns,
		      (unsigned long long)st[0].energy_uj, (unsigned long long)st[0].power_uw);
		CHECK(st[0].jobs_failed > 0 && st[0].jobs_reset > 0,
		      "the hang test's failures: failed %llu resets %llu",
		      (unsigned long long)st[0].jobs_failed, (unsigned long long)st[0].jobs_reset);
	}
	n = raw_request(1, false, 0, &one);
	CHECK(n == 0 && one.device == 1 && !strcmp(one.name, "edge-npu.1"),
	      "GET_STATS device 1: %d %s", n, one.name);
	n = raw_request(7, false, 0, NULL);
	CHECK(n < 0, "GET_STATS for a missing device: %d", n);
	n = raw_request(0, true, 0, NULL);
	CHECK(n < 0, "a request attribute outside the policy was accepted: %d", n);
}

/* Waits up to ms for an event of that kind on device 0 (printing every event seen). */
static bool wait_event(struct npu_genl *g, uint32_t kind, uint64_t ms, struct npu_genl_event *out)
{
	uint64_t end = now_ms() + ms;
	char err[256];

	for (uint64_t t = now_ms(); t < end; t = now_ms()) {
		int rc = npu_genl_read_event(g, out, (int)(end - t), err, sizeof(err));

		if (rc < 0) {
			printf("  read event: %s\n", err);
			return false;
		}
		if (rc == 0)
			return false;
		print_event(out);
		if (out->event == kind && out->device == 0)
			return true;
	}
	return false;
}

static void test_fault_events(struct npu_genl *g, unsigned int timeout_ms)
{
	struct npu_genl_event ev;
	struct npu_genl_stats st[8];
	char err[256];
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		execl("/bin/enpu_kmod_test", "enpu_kmod_test", "--leave-hung-job", (char *)NULL);
		_exit(127);
	}
	/*
	 * The child submits a hung job and one behind it, then closes its fd; the close waits
	 * for them only a bounded time (drm_sched flushes the entity), and the hung job stays in
	 * flight until the timeout resets the engine. Sample the queue depth while the child runs
	 * and, after it exited, for one timeout more.
	 */
	uint32_t depth = 0;
	int exited_polls = -1, polls_after_exit = (int)(timeout_ms / 2);

	while (exited_polls < polls_after_exit && !(exited_polls >= 0 && depth)) {
		int n = npu_genl_get_stats(g, st, 8, err, sizeof(err));

		if (n >= 1 && st[0].queue[1] > depth)
			depth = st[0].queue[1];
		if (exited_polls >= 0)
			exited_polls++;
		else if (waitpid(child, &status, WNOHANG) != 0)
			exited_polls = 0;
		usleep(2000);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "submitting a hung job failed");
	CHECK(depth >= 1, "queue depth at normal priority while a job hangs: %u", depth);
	printf("  queue depth (normal priority) while the job hung: %u\n", depth);
	uint64_t wait = 2ull * timeout_ms + 2000;

	CHECK(wait_event(g, EDGE_NPU_EVENT_JOB_TIMEOUT, wait, &ev), "no JOB_TIMEOUT event");
	CHECK(ev.pid == (uint32_t)child, "timeout pid %u, submitter %d", ev.pid, (int)child);
	CHECK(wait_event(g, EDGE_NPU_EVENT_ENGINE_RESET, wait, &ev), "no ENGINE_RESET event");
	CHECK(ev.jobs_reset > 0, "reset count %llu", (unsigned long long)ev.jobs_reset);
	CHECK(wait_event(g, EDGE_NPU_EVENT_JOB_FAULT, wait, &ev), "no JOB_FAULT event");
	CHECK(ev.error == -ETIMEDOUT && ev.pid == (uint32_t)child, "fault error %d pid %u",
	      ev.error, ev.pid);
	/* idle again: the device autosuspends and says so */
	CHECK(wait_event(g, EDGE_NPU_EVENT_POWER_STATE, 3000, &ev) &&
		      ev.power_state == EDGE_NPU_POWER_OFF,
	      "no POWER_STATE off event after the reset (state %u)", ev.power_state);
}

/* A job that touches an unmapped device address: JOB_FAULT, -EFAULT, the submitter's pid. */
static void test_mmu_fault_event(struct npu_genl *g)
{
	struct npu_genl_event ev;
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		execl("/bin/enpu_kmod_test", "enpu_kmod_test", "--mmu-fault", (char *)NULL);
		_exit(127);
	}
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the faulting job did not fault");
	CHECK(wait_event(g, EDGE_NPU_EVENT_JOB_FAULT, 3000, &ev), "no JOB_FAULT event");
	CHECK(ev.error == -EFAULT && ev.pid == (uint32_t)child, "fault error %d pid %u",
	      ev.error, ev.pid);
}

static void test_freq_events(struct npu_genl *g)
{
	int64_t cur = read_num(DEVFREQ(0, "cur_freq")), lo = -1, hi = -1, want;
	char buf[512] = "", num[32];
	struct npu_genl_event ev;
	FILE *f = fopen(DEVFREQ(0, "available_frequencies"), "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	for (char *p = strtok(buf, " \n"); p; p = strtok(NULL, " \n")) {
		int64_t v = strtoll(p, NULL, 10);

		if (lo < 0 || v < lo)
			lo = v;
		if (v > hi)
			hi = v;
	}
	CHECK(cur > 0 && lo > 0 && hi > lo, "devfreq: cur %lld, range %lld..%lld",
	      (long long)cur, (long long)lo, (long long)hi);
	if (cur <= 0 || lo <= 0 || hi <= lo)
		return;
	/* move the clock away from where it is: cap it low, or hold it high */
	want = cur == hi ? lo : hi;
	snprintf(num, sizeof(num), "%lld", (long long)want);
	CHECK(!write_str(want == lo ? DEVFREQ(0, "max_freq") : DEVFREQ(0, "min_freq"), num),
	      "writing the devfreq bound");
	bool got = wait_event(g, EDGE_NPU_EVENT_FREQ_CHANGE, 3000, &ev);

	CHECK(got && (int64_t)ev.cur_freq_hz == want && (int64_t)ev.old_freq_hz == cur,
	      "FREQ_CHANGE %lld -> %lld expected, got %d: %llu -> %llu", (long long)cur,
	      (long long)want, got, (unsigned long long)ev.old_freq_hz,
	      (unsigned long long)ev.cur_freq_hz);
	/* restore the bounds */
	snprintf(num, sizeof(num), "%lld", (long long)lo);
	write_str(DEVFREQ(0, "min_freq"), num);
	snprintf(num, sizeof(num), "%lld", (long long)hi);
	write_str(DEVFREQ(0, "max_freq"), num);
}

/*
 * A load that crosses the passive trip (enpu_kmod_test --heat lowers it to 1 K above ambient):
 * THERMAL_TRIP rising on trip 0, then THERMAL_THROTTLE as the governor caps the clock; after
 * the load, with the trip restored, both fall back.
 */
static void test_thermal_events(struct npu_genl *g)
{
	struct npu_genl_event ev;
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		execl("/bin/enpu_kmod_test", "enpu_kmod_test", "--heat", "4000", (char *)NULL);
		_exit(127);
	}
	bool trip = wait_event(g, EDGE_NPU_EVENT_THERMAL_TRIP, 6000, &ev);

	CHECK(trip && ev.trip == 0 && ev.crossed == 1 && ev.temp_mc >= ev.trip_temp_mc &&
		      ev.trip_temp_mc == 36000,
	      "THERMAL_TRIP rising on the passive trip: got %d, trip %u crossed %u at %d mdegC "
	      "(trip %d)", trip, ev.trip, ev.crossed, ev.temp_mc, ev.trip_temp_mc);
	bool thr = wait_event(g, EDGE_NPU_EVENT_THERMAL_THROTTLE, 6000, &ev);

	CHECK(thr && ev.throttled == 1 && ev.cooling_state > 0 && ev.max_freq_hz < 1000000000ull,
	      "THERMAL_THROTTLE start: got %d, throttled %u state %u cap %llu Hz", thr,
	      ev.throttled, ev.cooling_state, (unsigned long long)ev.max_freq_hz);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the heating load failed");
	thr = wait_event(g, EDGE_NPU_EVENT_THERMAL_THROTTLE, 8000, &ev);
	CHECK(thr && ev.throttled == 0 && ev.cooling_state == 0,
	      "THERMAL_THROTTLE stop after the load: got %d, throttled %u", thr, ev.throttled);
}

int main(int argc, char **argv)
{
	unsigned int timeout_ms = 500;
	struct npu_genl *g = NULL;
	char err[256] = "";

	timeout_ms = arg_timeout_ms(argc, argv, timeout_ms);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (npu_genl_open(&g, err, sizeof(err))) {
		printf("FAIL genl open: %s\nenpu_genl_test: 0 passed, 1 failed\n", err);
		return 1;
	}
#define GROUP(name, call)                                                                     \
	do {                                                                                  \
		int f0 = n_fail;                                                              \
		call;                                                                         \
		printf("%s genl %s\n", n_fail == f0 ? "ok  " : "FAIL", name);               \
	} while (0)
	GROUP("stats", test_stats(g));
	GROUP("access", test_access());
	if (npu_genl_subscribe(g, err, sizeof(err))) {
		printf("FAIL genl subscribe: %s\n", err);
		n_fail++;
	} else {
		GROUP("fault events", test_fault_events(g, timeout_ms));
		GROUP("mmu fault event", test_mmu_fault_event(g));
		GROUP("frequency events", test_freq_events(g));
		GROUP("thermal events", test_thermal_events(g));
	}
	npu_genl_close(g);
	printf("enpu_genl_test: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
