/* SPDX-License-Identifier: MIT */
/*
 * npu_sysfs.c - the in-process NPU's DVFS knobs and counters as a sysfs-shaped directory, in
 * the names and formats of the kernel's devfreq class, so that the admin scripts and tools
 * written for /sys/class/devfreq/<dev>/ work unchanged on the simulator. See npu_sim.h.
 *
 * Only the device's worker thread touches an open npu_sysfs (and create/destroy, before and
 * after it runs). Knobs are read when inotify says they were written (every job without
 * inotify); status files are replaced atomically (write a temporary, rename) so that a reader
 * never sees half a file.
 */
#include "hal/npu/npu_sim.h"
#include "hal/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 64
#define STATS_PERIOD_NS 100000000ull   /* "stats" and "trans_stat" refresh */
#define ONDEMAND_WINDOW_NS 50000000ull /* simple_ondemand sampling window */
#define ONDEMAND_UP 45                 /* load (%) above which it goes to the maximum */
#define ONDEMAND_DOWN_DIFF 5           /* hysteresis below ONDEMAND_UP */

static const char *const gov_names[NPU_GOV_COUNT] = {
	[NPU_GOV_PERFORMANCE] = "performance",
	[NPU_GOV_POWERSAVE] = "powersave",
	[NPU_GOV_USERSPACE] = "userspace",
	[NPU_GOV_ONDEMAND] = "simple_ondemand",
};

const char *npu_governor_name(enum npu_governor g)
{
	return (unsigned)g < NPU_GOV_COUNT ? gov_names[g] : "?";
}

static uint64_t opp_hz(uint32_t opp)
{
	return (uint64_t)npu_opp_table[opp].freq_mhz * 1000000ull;
}

/* ---- files -------------------------------------------------------------------------------- */

/* Replaces a read-only status file atomically. */
static void put_status(struct npu_sysfs *s, const char *name, const char *text)
{
	char tmp[64];
	int fd;

	if (s->dirfd < 0)
		return;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0)
		return;
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;

	close(fd);
	if (!ok || renameat(s->dirfd, tmp, s->dirfd, name))
		unlinkat(s->dirfd, tmp, 0);
}

/* Writes a knob in place (the admin writes it in place too, with echo). */
static void put_knob(struct npu_sysfs *s, const char *name, const char *text)
{
	int fd;

	if (s->dirfd < 0)
		return;
	fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0)
		(void)0; /* the device keeps running with the value in force */
	close(fd);
}

/*
 * Reads a knob, trimmed of surrounding white space. Returns 1 with text, 0 when the file is
 * missing or empty (an echo between its truncate and its write: wait for the next event).
 */
static int get_knob(struct npu_sysfs *s, const char *name, char *buf, size_t len)
{
	int fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return 0;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = 0;
	for (p = buf; *p && strchr(" \t\r\n", *p); p++)
		;
	memmove(buf, p, strlen(p) + 1);
	return buf[0] ? 1 : 0;
}

static void report(struct npu_sysfs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A rejected knob: to last_error (the device's dmesg) and stderr. */
static void report(struct npu_sysfs *s, const char *fmt, ...)
{
	char line[sizeof(s->last_error) + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "edge-npu: %s/%s\n", s->path, s->last_error);
	snprintf(line, sizeof(line), "%s\n", s->last_error);
	put_status(s, "last_error", line);
}

/* ---- knobs -------------------------------------------------------------------------------- */

/* available_frequencies and available_governors, as the files hold them (no newline). */
static void list_freqs(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < NPU_NUM_OPPS && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%" PRIu64, i ? " " : "", opp_hz(i));
}

static void list_govs(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int g = 0; g < NPU_GOV_COUNT && n < len; g++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", g ? " " : "", gov_names[g]);
}

/*
 * Whether the text of knob passes the rule an admin's write must pass (hal_devfreq_check, the
 * one `npu-top --set` applies before it writes); when not, the reason goes to last_error.
 */
static bool knob_ok(struct npu_sysfs *s, const char *knob, const char *text, const char *kept)
{
	char govs[128], freqs[256], err[200];

	list_govs(govs, sizeof(govs));
	list_freqs(freqs, sizeof(freqs));
	if (hal_devfreq_check(knob, text, govs, freqs, err, sizeof(err)) == HAL_OK)
		return true;
	report(s, "%s; kept %s", err, kept);
	return false;
}

static void put_hz_knob(struct npu_sysfs *s, const char *name, uint64_t hz)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", hz);
	put_knob(s, name, buf);
}

/*
 * Whether a refused knob still holds the refused text: an admin who wrote again meanwhile must
 * not see the new value overwritten by the old one (the write's event brings it in next).
 * What is left is the moment between this read and the restore's write.
 */
static bool still_refused(struct npu_sysfs *s, const char *name, const char *refused)
{
	char now[64];

	return get_knob(s, name, now, sizeof(now)) && !strcmp(now, refused);
}

/* Reads one frequency knob; a value the rule refuses is reported and overwritten. */
static void load_hz(struct npu_sysfs *s, const char *name, uint64_t *val)
{
	char buf[64], kept[32];

	if (!get_knob(s, name, buf, sizeof(buf)))
		return;
	snprintf(kept, sizeof(kept), "%" PRIu64, *val);
	if (!knob_ok(s, name, buf, kept)) {
		if (still_refused(s, name, buf))
			put_hz_knob(s, name, *val);
		return;
	}
	*val = strtoull(buf, NULL, 10);
}

static void load_governor(struct npu_sysfs *s)
{
	char buf[64];

	if (!get_knob(s, "governor", buf, sizeof(buf)))
		return;
	for (int g = 0; g < NPU_GOV_COUNT; g++) {
		if (!strcmp(buf, gov_names[g])) {
			s->gov = (enum npu_governor)g;
			return;
		}
	}
	knob_ok(s, "governor", buf, gov_names[s->gov]);
	if (!still_refused(s, "governor", buf))
		return;
	snprintf(buf, sizeof(buf), "%s\n", gov_names[s->gov]);
	put_knob(s, "governor", buf);
}

static void load_knobs(struct npu_sysfs *s)
{
	load_governor(s);
	load_hz(s, "min_freq", &s->min_hz);
	load_hz(s, "max_freq", &s->max_hz);
	load_hz(s, "userspace/set_freq", &s->set_hz);
	s->dirty = false;
}

/* Marks the knobs dirty when inotify reports a write to one of them. */
static void poll_events(struct npu_sysfs *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	if (s->inofd < 0) {
		s->dirty = true;
		return;
	}
	while ((n = read(s->inofd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len && (!strcmp(ev->name, "governor") ||
					!strcmp(ev->name, "min_freq") ||
					!strcmp(ev->name, "max_freq") ||
					!strcmp(ev->name, "set_freq")))
				s->dirty = true;
			if (ev->mask & IN_Q_OVERFLOW)
				s->dirty = true;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- the policy --------------------------------------------------------------------------- */

/* Lowest OPP at or above hz (the highest if none): devfreq_recommended_opp's ceiling. */
static uint32_t opp_ceil(uint64_t hz)
{
	for (uint32_t i = 0; i < NPU_NUM_OPPS; i++)
		if (opp_hz(i) >= hz)
			return i;
	return NPU_NUM_OPPS - 1;
}

/*
 * The OPPs within [min_freq, max_freq]; 0 means unbounded. When the bounds hold no OPP or
 * cross, the maximum wins (as in the kernel, where min is lowered to max): a cap is usually
 * a thermal or power limit.
 */
static void allowed_range(const struct npu_sysfs *s, uint32_t *lo, uint32_t *hi)
{
	uint32_t h = 0, l = NPU_NUM_OPPS - 1;

	for (uint32_t i = 0; i < NPU_NUM_OPPS; i++)
		if (!s->max_hz || opp_hz(i) <= s->max_hz)
			h = i;
	for (uint32_t i = NPU_NUM_OPPS; i-- > 0;)
		if (opp_hz(i) >= s->min_hz)
			l = i;
	/* the thermal governor's cap binds the admin's range as devfreq cooling's QoS does */
	if (h > NPU_NUM_OPPS - 1 - s->cooling_state)
		h = NPU_NUM_OPPS - 1 - s->cooling_state;
	*lo = l < h ? l : h;
	*hi = h;
}

/*
 * simple_ondemand, the kernel's algorithm with panfrost's tuning (upthreshold 45,
 * downdifferential 5: busy time is job occupancy, which a back-to-back user with host work
 * between jobs keeps well below 90%): load is the worker's busy share of each 50 ms window;
 * above 45% the maximum, within 5% below it unchanged, else the frequency that would make it
 * ~42% busy. Load is host time: the simulated clock does not shorten it, so the policy reacts
 * to demand (a queue kept busy), which is what an application can influence here.
 */
static uint32_t ondemand(struct npu_sysfs *s, uint64_t now)
{
	uint64_t span = now - s->win_start_ns, load;
	uint32_t opp = s->opp;

	if (span < ONDEMAND_WINDOW_NS)
		return opp;
	load = s->win_busy_ns * 100 / span;
	if (load > ONDEMAND_UP)
		opp = NPU_NUM_OPPS - 1;
	else if (load <= ONDEMAND_UP - ONDEMAND_DOWN_DIFF)
		opp = opp_ceil(opp_hz(s->opp) * load * 2 / (2 * ONDEMAND_UP - ONDEMAND_DOWN_DIFF));
	s->win_start_ns = now;
	s->win_busy_ns = 0;
	return opp;
}

uint32_t npu_sysfs_pick_opp(struct npu_sysfs *s, uint64_t now_ns)
{
	uint32_t lo, hi, opp;

	if (s->dirfd >= 0) {
		poll_events(s);
		if (s->dirty)
			load_knobs(s);
	}
	allowed_range(s, &lo, &hi);
	switch (s->gov) {
	case NPU_GOV_POWERSAVE:
		opp = lo;
		break;
	case NPU_GOV_USERSPACE:
		opp = s->set_hz ? opp_ceil(s->set_hz) : s->opp;
		break;
	case NPU_GOV_ONDEMAND: {
		/* the scheduler knows the demand ahead of the load window: its hint wins */
		uint64_t hint = __atomic_load_n(&s->hint_hz, __ATOMIC_RELAXED);

		opp = hint ? opp_ceil(hint) : ondemand(s, now_ns);
		if (hint) { /* the load window starts again when the governor takes over */
			s->win_start_ns = now_ns;
			s->win_busy_ns = 0;
		}
		break;
	}
	default:
		opp = hi;
		break;
	}
	return opp < lo ? lo : opp > hi ? hi : opp;
}

/* ---- thermal ------------------------------------------------------------------------------- */

#define THERMAL_POLL_NS 100000000ull /* the kernel zone's polling period */
#define THERMAL_HYST_MC 2000

static void write_thermal(struct npu_sysfs *s)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%d\n", s->temp_mc);
	put_status(s, "temp", buf);
	snprintf(buf, sizeof(buf),
		 "temp_mc %d\npassive_mc %d\nstate %s\ncooling_state %u\nthrottled_ms %" PRIu64
		 "\n", s->temp_mc, s->passive_mc, s->temp_mc >= s->passive_mc ? "passive" : "normal",
		 s->cooling_state, s->throttled_ns / 1000000);
	put_status(s, "thermal", buf);
}

uint32_t npu_sysfs_thermal(struct npu_sysfs *s, int32_t temp_mc, uint64_t now_ns)
{
	uint64_t dt = now_ns - s->therm_poll_ns;

	if (s->therm_poll_ns && dt < THERMAL_POLL_NS)
		return s->cooling_state;
	if (s->therm_poll_ns && s->cooling_state)
		s->throttled_ns += dt;
	s->therm_poll_ns = now_ns;
	s->temp_mc = temp_mc;
	/* step_wise: one state per poll, up at or above the trip, down below it by the hysteresis */
	if (temp_mc >= s->passive_mc && s->cooling_state < NPU_NUM_OPPS - 1)
		s->cooling_state++;
	else if (temp_mc < s->passive_mc - THERMAL_HYST_MC && s->cooling_state)
		s->cooling_state--;
	write_thermal(s);
	return s->cooling_state;
}

/* ---- status files ------------------------------------------------------------------------- */

/* The kernel's trans_stat layout (drivers/devfreq/devfreq.c), time in state in ms. */
static void write_trans_stat(struct npu_sysfs *s, uint64_t now)
{
	char buf[2048];
	size_t n = 0;

#define OUT(...) \
	(n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__))
	OUT("     From  :   To\n           :");
	for (uint32_t j = 0; j < NPU_NUM_OPPS; j++)
		OUT("%10" PRIu64, opp_hz(j));
	OUT("   time(ms)\n");
	for (uint32_t i = 0; i < NPU_NUM_OPPS; i++) {
		uint64_t t = s->state_ns[i] + (i == s->opp ? now - s->state_since_ns : 0);

		OUT("%s%10" PRIu64 ":", i == s->opp ? "*" : " ", opp_hz(i));
		for (uint32_t j = 0; j < NPU_NUM_OPPS; j++)
			OUT("%10u", s->trans[i][j]);
		OUT("%10" PRIu64 "\n", t / 1000000);
	}
	OUT("Total transition : %" PRIu64 "\n", s->total_trans);
#undef OUT
	if (n < sizeof(buf))
		put_status(s, "trans_stat", buf);
}

static void write_cur_freq(struct npu_sysfs *s)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", opp_hz(s->opp));
	put_status(s, "cur_freq", buf);
	put_status(s, "target_freq", buf);
}

static void write_stats(struct npu_sysfs *s, const struct npu_counters *c)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "jobs %" PRIu64 "\ncmds %" PRIu64 "\nerrors %" PRIu64 "\nstalls %" PRIu64
		 "\nbusy_cycles %" PRIu64 "\nmacs %" PRIu64 "\nvector_ops %" PRIu64
		 "\ndram_bytes %" PRIu64 "\nsram_bytes %" PRIu64 "\nenergy_pj %" PRIu64
		 "\ncur_freq %" PRIu64 "\ngovernor %s\n",
		 c->jobs, c->cmds, c->errors, c->stalls, c->busy_cycles, c->macs, c->vector_ops,
		 c->dram_bytes, c->sram_bytes, c->energy_pj, opp_hz(s->opp), gov_names[s->gov]);
	put_status(s, "stats", buf);
}

void npu_sysfs_set_opp(struct npu_sysfs *s, uint32_t opp, uint64_t now_ns)
{
	if (opp == s->opp || opp >= NPU_NUM_OPPS)
		return;
	s->state_ns[s->opp] += now_ns - s->state_since_ns;
	s->state_since_ns = now_ns;
	s->trans[s->opp][opp]++;
	s->total_trans++;
	s->opp = opp;
	write_cur_freq(s);
	write_trans_stat(s, now_ns);
}

void npu_sysfs_job_done(struct npu_sysfs *s, uint64_t busy_ns, const struct npu_counters *c,
			uint64_t now_ns, bool force)
{
	s->win_busy_ns += busy_ns;
	if (!force && now_ns - s->stats_written_ns < STATS_PERIOD_NS)
		return;
	s->stats_written_ns = now_ns;
	write_stats(s, c);
	write_trans_stat(s, now_ns);
}

/* ---- the directory ------------------------------------------------------------------------ */

/*
 * Held from a lease to its mount and from the unmount to the lease's end: a context created
 * while another in this process is destroyed would find that one's mount half gone (open
 * fails with ECONNABORTED or ENOTCONN), refuse the device, or detach the mount under its
 * owner (whose unmount then fails and leaks).
 */
static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * base/devfreq/.npu<i>.lock, flock'ed (fd, or -1 with errno: EWOULDBLOCK when another device
 * holds it). It sits beside the directory, outside the mount that hides "owner", and is held
 * as long as the device: a mount that answers ENOTCONN is then a killed program's (its lock
 * went with it) only when this lock is free; while its owner is still unmounting it, the
 * lock is taken and the mount is left to it.
 */
static int lease_lock_file(const char *base, int i)
{
	char path[sizeof(((struct npu_sysfs *)0)->path) + 16];
	int fd;

	if (snprintf(path, sizeof(path), "%s/devfreq/.npu%d.lock", base, i) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Leases npu<N> under base/devfreq: 0, or -1 with errno. */
static int lease(struct npu_sysfs *s, const char *base)
{
	for (int i = 0; i < MAX_DEVICES; i++) {
		int dfd, lfd, kfd;

		if (snprintf(s->path, sizeof(s->path), "%s/devfreq/npu%d", base, i) >=
		    (int)sizeof(s->path))
			return -1;
		if (hal_rundir_mkdirs(s->path))
			return -1;
		kfd = lease_lock_file(base, i);
		if (kfd < 0 && errno == EWOULDBLOCK)
			continue; /* another device's, in this process or another */
		if (kfd < 0)
			return -1;
		dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* a dead FUSE mount of a killed program (its lock is free): detached */
		if (dfd < 0 && errno == ENOTCONN && !npu_fuse_detach_dead(s->path))
			dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/*
		 * a mount whose owner unmounts it while holding "owner" (a library from before the
		 * lock file, which does not take it)
		 */
		if (dfd < 0 && errno == ECONNABORTED) {
			close(kfd);
			continue;
		}
		if (dfd < 0) {
			close(kfd);
			return -1;
		}
		lfd = openat(dfd, "owner", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (lfd < 0) {
			close(dfd);
			close(kfd);
			return -1;
		}
		if (!flock(lfd, LOCK_EX | LOCK_NB)) {
			s->dirfd = dfd;
			s->lockfd = lfd;
			s->leasefd = kfd;
			return 0;
		}
		close(lfd);
		close(dfd);
		close(kfd);
	}
	errno = EBUSY;
	return -1;
}

/* The static files, the knobs (kept when an admin preset them) and the initial status. */
static void populate(struct npu_sysfs *s, uint64_t now)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->lockfd, 0) || pwrite(s->lockfd, buf, strlen(buf), 0) < 0)
		(void)0; /* informational only */
	put_status(s, "name", "npu-sim\n");
	list_freqs(buf, sizeof(buf) - 1);
	strcat(buf, "\n");
	put_status(s, "available_frequencies", buf);
	list_govs(buf, sizeof(buf) - 1);
	strcat(buf, "\n");
	put_status(s, "available_governors", buf);
	put_status(s, "last_error", "\n");
	if (mkdirat(s->dirfd, "userspace", 0755) && errno != EEXIST)
		(void)0; /* set_freq then simply stays at its default */

	load_knobs(s);
	snprintf(buf, sizeof(buf), "%s\n", gov_names[s->gov]);
	put_knob(s, "governor", buf);
	put_hz_knob(s, "min_freq", s->min_hz);
	put_hz_knob(s, "max_freq", s->max_hz);
	put_hz_knob(s, "userspace/set_freq", s->set_hz);
	write_cur_freq(s);
	write_trans_stat(s, now);
	write_stats(s, &(struct npu_counters){ 0 });
}

static void watch(struct npu_sysfs *s)
{
	char sub[sizeof(s->path) + 16];
	uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO;

	s->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inofd < 0)
		return;
	snprintf(sub, sizeof(sub), "%s/userspace", s->path);
	if (inotify_add_watch(s->inofd, s->path, mask) < 0 ||
	    inotify_add_watch(s->inofd, sub, mask) < 0) {
		close(s->inofd);
		s->inofd = -1; /* knobs re-read before every job instead */
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int npu_sysfs_open(struct npu_sysfs *s, uint32_t opp, char *err, size_t err_len)
{
	char cand[2][HAL_RUNDIR_PATH_MAX];
	uint64_t now = mono_ns();
	int nc = hal_rundir_bases(cand, 2), saved = 0;

	memset(s, 0, sizeof(*s));
	s->dirfd = s->lockfd = s->leasefd = s->inofd = -1;
	s->opp = opp < NPU_NUM_OPPS ? opp : NPU_NUM_OPPS - 1;
	s->gov = NPU_GOV_ONDEMAND; /* the kernel driver's default too */
	s->min_hz = opp_hz(0);
	s->max_hz = opp_hz(NPU_NUM_OPPS - 1);
	s->set_hz = opp_hz(s->opp);
	s->state_since_ns = s->win_start_ns = s->stats_written_ns = now;
	s->passive_mc = 60000; /* the kernel driver's default trip (npu_sim_create may change it) */
	s->temp_mc = npu_default_thermal.ambient_mc;

	pthread_mutex_lock(&lease_lock);
	for (int i = 0; i < nc; i++) {
		bool tmp = i == nc - 1;

		if ((tmp && (hal_rundir_mkdirs(cand[i]) || !hal_rundir_ours(cand[i]))) ||
		    lease(s, cand[i])) {
			saved = errno ? errno : EPERM;
			if (!tmp)
				fprintf(stderr, "edge-npu: npu: cannot use %s for the DVFS "
					"files (%s); trying %s\n", cand[i], strerror(saved),
					cand[nc - 1]);
			continue;
		}
		populate(s, now);
		watch(s); /* before the mount: the watch is on the files underneath */
		s->fuse = npu_fuse_serve(s->path, s->dirfd);
		/* a mount takes a while (fusermount3): simple_ondemand's first window starts now */
		s->win_start_ns = mono_ns();
		pthread_mutex_unlock(&lease_lock);
		return 0;
	}
	pthread_mutex_unlock(&lease_lock);
	snprintf(err, err_len, "no writable runtime directory for the DVFS files (tried %s%s%s: "
		 "%s); set ENPU_SYSFS_DIR", cand[0], nc > 1 ? " and " : "", nc > 1 ? cand[1] : "",
		 strerror(saved));
	s->path[0] = 0;
	return -1;
}

void npu_sysfs_close(struct npu_sysfs *s)
{
	uint64_t now = mono_ns();

	pthread_mutex_lock(&lease_lock);
	npu_fuse_stop(s->fuse);
	s->fuse = NULL;
	if (s->dirfd >= 0) {
		write_trans_stat(s, now);
		close(s->dirfd);
	}
	if (s->inofd >= 0)
		close(s->inofd);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the lease */
	if (s->leasefd >= 0)
		close(s->leasefd); /* after the unmount: the mount is gone or no longer ours */
	s->dirfd = s->lockfd = s->leasefd = s->inofd = -1;
	pthread_mutex_unlock(&lease_lock);
}
