// SPDX-License-Identifier: MIT
/*
 * enpu_session_prio.c - inside the test VM (tests/kmod/e2e.sh): what the library's sessions
 * ask of the kernel reaches it. Through the public API only (libedge-npu, device "npu-drm"):
 *   - a session's priority picks the kernel context its jobs run on: negative LOW, 0 NORMAL,
 *     positive HIGH, and HIGH without CAP_SYS_NICE falls back to NORMAL (a child process that
 *     dropped the capability);
 *   - with placement "auto", the power manager's clock (the schedule report's "asked for N
 *     MHz", under an admin max_freq of 400 MHz) is the clock the jobs ran at.
 * The kernel's side is read with CTX_QUERY (priority, jobs, last_freq_khz) on the library's own
 * DRM file, found in /proc/self/fd: contexts are per file, and this process holds it.
 *
 * Usage: enpu_session_prio MODEL PROFILE     (exit 0 when every check passes)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include <xf86drm.h>

#include "driver/include/edge_npu.h"
#include "uapi/drm/edge_npu_drm.h"

static int n_fail;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			n_fail++;                                             \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                  \
			printf("\n");                                         \
		}                                                             \
	} while (0)

static const char *const level_name[] = { "LOW", "NORMAL", "HIGH" };

/* The library's edge_npu DRM file among this process's descriptors, or -1. */
static int library_drm_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	while (d && (e = readdir(d)) && found < 0) {
		char link[300], target[256];
		ssize_t n;
		int fd = atoi(e->d_name);

		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0 || e->d_name[0] == '.')
			continue;
		target[n] = 0;
		if (strncmp(target, "/dev/accel/accel", 16) && strncmp(target, "/dev/dri/renderD", 16))
			continue;
		drmVersionPtr v = drmGetVersion(fd);

		if (v && !strcmp(v->name, "edge_npu"))
			found = fd;
		drmFreeVersion(v);
	}
	if (d)
		closedir(d);
	return found;
}

/* The kernel's view of the file's contexts, by priority level (jobs -1: no such context). */
struct levels {
	int64_t jobs[3];
	uint32_t last_khz[3];
};

static struct levels query_levels(int fd)
{
	struct levels l = { .jobs = { -1, -1, -1 } };

	for (uint32_t h = 1; h < 64; h++) {
		struct drm_edge_npu_ctx_query q = { .handle = h };

		if (drmIoctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q) || q.priority > 2)
			continue;
		CHECK(l.jobs[q.priority] < 0, "two contexts at %s", level_name[q.priority]);
		l.jobs[q.priority] = (int64_t)q.jobs;
		l.last_khz[q.priority] = q.last_freq_khz;
	}
	return l;
}

struct lib {
	enpu_context *ctx;
	enpu_model *model;
	int fd;
};

static int lib_open(struct lib *lib, const char *model)
{
	struct enpu_context_options o = ENPU_CONTEXT_OPTIONS_INIT;

	o.device = "npu-drm";
	o.n_threads = 2;
	if (enpu_context_create(&o, &lib->ctx) != ENPU_OK) {
		printf("FAIL context on npu-drm: %s\n", enpu_last_error(NULL));
		return -1;
	}
	if (enpu_model_load(lib->ctx, model, NULL, &lib->model) != ENPU_OK) {
		printf("FAIL model %s: %s\n", model, enpu_last_error(lib->ctx));
		return -1;
	}
	lib->fd = library_drm_fd();
	CHECK(lib->fd >= 0, "the library holds no edge_npu DRM file");
	return lib->fd >= 0 ? 0 : -1;
}

/*
 * Evaluates a few tokens on a new session (priority, placement); returns its schedule
 * report's clock text in clocks when asked.
 */
static void lib_eval(struct lib *lib, int32_t priority, const char *placement,
		     const char *profile, char *clocks, size_t len)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	const enpu_token toks[4] = { enpu_token_bos(lib->model), 5, 6, 7 };
	enpu_session *s;

	so.priority = priority;
	so.placement = placement;
	so.profile = profile;
	CHECK(enpu_session_create(lib->model, &so, &s) == ENPU_OK, "session: %s",
	      enpu_last_error(lib->ctx));
	CHECK(enpu_session_eval(s, toks, 4) == ENPU_OK, "eval: %s", enpu_last_error(lib->ctx));
	CHECK(enpu_session_eval(s, toks + 1, 1) == ENPU_OK, "decode: %s",
	      enpu_last_error(lib->ctx));
	if (clocks) {
		struct enpu_schedule_report r = ENPU_SCHEDULE_REPORT_INIT;

		CHECK(enpu_session_schedule_report(s, &r) == ENPU_OK, "report");
		snprintf(clocks, len, "%s", r.clocks);
	}
	enpu_session_free(s);
}

static void lib_close(struct lib *lib)
{
	enpu_model_free(lib->model);
	enpu_context_destroy(lib->ctx);
}

/* Each session priority's jobs land on the kernel context of its level, and only there. */
static void test_levels(const char *model)
{
	const int32_t prio[] = { -1, 0, 1 };
	struct lib lib;

	if (lib_open(&lib, model))
		return;
	for (int i = 0; i < 3; i++) {
		struct levels a = query_levels(lib.fd), b;

		lib_eval(&lib, prio[i], NULL, NULL, NULL, 0);
		b = query_levels(lib.fd);
		printf("  session priority %d: kernel contexts' jobs LOW %lld NORMAL %lld HIGH %lld\n",
		       prio[i], (long long)b.jobs[0], (long long)b.jobs[1], (long long)b.jobs[2]);
		for (int l = 0; l < 3; l++) {
			int64_t before = a.jobs[l] < 0 ? 0 : a.jobs[l];

			if (l == i)
				CHECK(b.jobs[l] > before, "priority %d: the %s context ran no job",
				      prio[i], level_name[l]);
			else
				CHECK(b.jobs[l] < 0 || b.jobs[l] == before,
				      "priority %d: the %s context ran %lld jobs", prio[i],
				      level_name[l], (long long)(b.jobs[l] - before));
		}
	}
	lib_close(&lib);
}

/* Without CAP_SYS_NICE a positive priority runs at NORMAL (a child that dropped it). */
static void test_high_without_cap(const char *model)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		struct levels b;
		struct lib lib;

		if (syscall(SYS_capget, &hdr, data))
			_exit(100);
		data[0].effective &= ~(1u << CAP_SYS_NICE);
		if (syscall(SYS_capset, &hdr, data) || lib_open(&lib, model))
			_exit(101);
		lib_eval(&lib, 1, NULL, NULL, NULL, 0);
		b = query_levels(lib.fd);
		printf("  without CAP_SYS_NICE, priority 1: jobs LOW %lld NORMAL %lld HIGH %lld\n",
		       (long long)b.jobs[0], (long long)b.jobs[1], (long long)b.jobs[2]);
		CHECK(b.jobs[2] < 0 && b.jobs[1] > 0, "HIGH context %lld jobs, NORMAL %lld",
		      (long long)b.jobs[2], (long long)b.jobs[1]);
		lib_close(&lib);
		_exit(n_fail ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "child status %#x", st);
}

static int write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int ret = f && fputs(s, f) >= 0 ? 0 : -1;

	if (f && fclose(f))
		ret = -1;
	return ret;
}

/* The power manager's clock (auto placement) is the clock the jobs ran at. */
static void test_clock(const char *model, const char *profile)
{
	const char *max = "/sys/class/devfreq/edge-npu.0/max_freq";
	char clocks[1024];
	const char *asked;
	struct levels b;
	struct lib lib;
	unsigned int mhz = 0;

	CHECK(!write_file(max, "400000000"), "cannot write %s", max);
	if (lib_open(&lib, model))
		return;
	lib_eval(&lib, 0, "auto", profile, clocks, sizeof(clocks));
	b = query_levels(lib.fd);
	asked = strstr(clocks, "asked for ");
	if (asked)
		mhz = (unsigned int)strtoul(asked + 10, NULL, 10);
	printf("  auto placement under max_freq 400 MHz: asked for %u MHz, the last job ran at "
	       "%u MHz\n", mhz, b.last_khz[1] / 1000);
	CHECK(asked && mhz >= 200 && mhz <= 400, "the report's clocks: '%s'", clocks);
	CHECK(b.last_khz[1] == mhz * 1000, "asked %u MHz, ran at %u kHz", mhz, b.last_khz[1]);
	lib_close(&lib);
	write_file(max, "1000000000");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s MODEL PROFILE\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_levels(argv[1]);
	test_high_without_cap(argv[1]);
	test_clock(argv[1], argv[2]);
	printf("enpu_session_prio: %s\n", n_fail ? "FAIL" : "ok");
	return n_fail ? 1 : 0;
}
