/* SPDX-License-Identifier: MIT */
/*
 * npu-top - what the edge-npu devices are doing, and for whom.
 *
 * Sources, sampled every interval (busy % = Δbusy / Δt, clamped, as intel_gpu_top does):
 *  - kernel devices: /sys/bus/platform/devices/edge-npu.N/npu/ (power state, jobs, cycles,
 *    energy), /sys/class/devfreq/edge-npu.N/ (frequency, governor) and the driver's
 *    generic-netlink GET_STATS (busy time, queue depths; hal/npu_drm/npu_drm_genl.h);
 *  - in-process NPUs: their devfreq-shaped directories <runtime>/devfreq/npuN/ (leased by a
 *    live process) and the per-process statistics files <runtime>/procs/<pid>.stats
 *    (hal/telemetry.h), which also carry the CPU and GPU backends of every process;
 *  - clients of DRM devices: /proc/<pid>/fdinfo/<fd> of every fd that is a DRM character
 *    device (render major 226 or accel major 261) with drm-driver keys, de-duplicated by
 *    (device, drm-client-id) so that a file shared by dup() or fork() counts once.
 * Output: a curses screen, one JSON snapshot (-J) or JSON lines (-l), the latter two without a
 * terminal. Missing devices or unreadable processes are reported, never fatal.
 */
#include <ctype.h>
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "hal/npu_drm/npu_drm_genl.h"
#include "hal/rundir.h"
#include "hal/telemetry.h"

#define MAX_DEVS 32
#define MAX_CLIENTS 256
#define MAX_PROCS 128
#define DRM_MAJOR 226
#define ACCEL_MAJOR 261

/* ---- one sample --------------------------------------------------------------------------- */

struct dev {
	char id[40];          /* "edge-npu.0", "npu0", "cpu", "gpu" */
	char kind[8];         /* npu, cpu, gpu */
	char source[16];      /* kernel, in-process */
	char driver[16];      /* edge_npu, npu-sim, or the backend */
	long pid;             /* the owning process of an in-process NPU, 0 otherwise */
	int engines;          /* hardware queues (kernel), busy % is over all of them */
	bool has_busy;
	bool busy_from_genl;  /* busy_ns is the driver's own (else the sum over its clients) */
	uint64_t busy_ns;     /* cumulative */
	bool has_cycles;
	uint64_t cycles;
	bool has_energy;
	uint64_t energy_pj;
	bool has_jobs;
	uint64_t jobs, jobs_failed, resets;
	uint64_t cur_hz, min_hz, max_hz;
	char governor[32];
	char power[16];       /* on, off, active, idle, "" unknown */
	uint64_t mem_bytes;
	unsigned int queue;
};

struct client {
	long pid;
	char comm[17];
	char dev[40];         /* a struct dev id */
	char source[8];       /* fdinfo, shm */
	char key[64];         /* identity across samples */
	uint64_t busy_ns;
	bool has_jobs;
	uint64_t jobs;
	uint64_t mem_bytes;
};

struct sample {
	uint64_t t_ns;
	int n_devs, n_clients;
	struct dev devs[MAX_DEVS];
	struct client clients[MAX_CLIENTS];
	int unreadable;       /* processes whose fds we may not inspect */
};

/* What the output shows for a device or client: rates between two samples. */
struct dev_view {
	const struct dev *d;
	double busy_pct, power_mw, jobs_per_s;
	bool has_busy, has_power, has_jobs_rate;
	const char *power; /* power state over the interval */
};

struct client_view {
	const struct client *c;
	double busy_pct, jobs_per_s;
	bool has_jobs_rate;
};

/* ---- options ------------------------------------------------------------------------------ */

enum sort_key { SORT_ENGINE, SORT_PID, SORT_MEM, SORT_JOBS, SORT_NAME, SORT_COUNT };
static const char *const sort_names[SORT_COUNT] = { "engine", "pid", "memory", "jobs", "name" };

static struct {
	double interval;
	const char *dev_filter;
	enum sort_key sort;
	bool reverse;
	bool hide_idle;
	const char *sysfs;    /* root of sysfs (tests point it at a fake tree) */
	const char *proc;
} opt = { .interval = 1.0, .sort = SORT_ENGINE, .sysfs = "/sys", .proc = "/proc" };

/* ---- small file helpers ------------------------------------------------------------------- */

static char *strf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * snprintf that cuts silently: a path that does not fit names no file, a label is shortened.
 */
static char *strf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = 0;
	return 0;
}

static bool read_u64(const char *path, uint64_t *out)
{
	char buf[64], *end;

	if (read_text(path, buf, sizeof(buf)) || !isdigit((unsigned char)buf[0]))
		return false;
	*out = strtoull(buf, &end, 10);
	return true;
}

/* "key value" lines (the in-process NPU's stats file) */
static bool kv_u64(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == ' ') {
			*out = strtoull(p + kl + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

static uint64_t now_ns(void)
{
	return hal_now_ns();
}

static bool pid_alive(long pid)
{
	char path[64];

	strf(path, sizeof(path), "%s/%ld", opt.proc, pid);
	return pid > 0 && access(path, F_OK) == 0;
}

static void comm_of(long pid, char out[17])
{
	char path[64];

	strf(path, sizeof(path), "%s/%ld/comm", opt.proc, pid);
	if (read_text(path, out, 17))
		strf(out, 17, "?");
}

static struct dev *add_dev(struct sample *s, const char *id)
{
	struct dev *d;

	for (int i = 0; i < s->n_devs; i++)
		if (!strcmp(s->devs[i].id, id))
			return &s->devs[i];
	if (s->n_devs == MAX_DEVS)
		return NULL;
	d = &s->devs[s->n_devs++];
	memset(d, 0, sizeof(*d));
	strf(d->id, sizeof(d->id), "%s", id);
	return d;
}

/* ---- kernel devices ----------------------------------------------------------------------- */

static void scan_kernel(struct sample *s)
{
	char dir[512], path[700], buf[256];
	DIR *dd;
	struct dirent *de;

	strf(dir, sizeof(dir), "%s/bus/platform/devices", opt.sysfs);
	dd = opendir(dir);
	if (!dd)
		return;
	while ((de = readdir(dd))) {
		struct dev *d;
		uint64_t v;

		if (strncmp(de->d_name, "edge-npu.", 9))
			continue;
		strf(path, sizeof(path), "%s/%s/npu/jobs_completed", dir, de->d_name);
		if (access(path, R_OK))
			continue; /* not bound to the driver */
		d = add_dev(s, de->d_name);
		if (!d)
			break;
		strf(d->kind, sizeof(d->kind), "npu");
		strf(d->source, sizeof(d->source), "kernel");
		strf(d->driver, sizeof(d->driver), "edge_npu");
#define NPU_ATTR(name) (strf(path, sizeof(path), "%s/%s/npu/" name, dir, de->d_name), path)
		d->has_jobs = read_u64(NPU_ATTR("jobs_completed"), &d->jobs);
		read_u64(NPU_ATTR("jobs_failed"), &d->jobs_failed);
		read_u64(NPU_ATTR("engine_resets"), &d->resets);
		d->has_cycles = read_u64(NPU_ATTR("busy_cycles"), &d->cycles);
		if (read_u64(NPU_ATTR("energy_uj"), &v)) {
			d->has_energy = true;
			d->energy_pj = v * 1000000ull;
		}
		if (read_u64(NPU_ATTR("engines"), &v))
			d->engines = (int)v;
		if (!read_text(NPU_ATTR("power_state"), buf, sizeof(buf)))
			strf(d->power, sizeof(d->power), "%s", buf);
#undef NPU_ATTR
#define DF(name) (strf(path, sizeof(path), "%s/class/devfreq/%s/" name, opt.sysfs, \
			   de->d_name), path)
		read_u64(DF("cur_freq"), &d->cur_hz);
		read_u64(DF("min_freq"), &d->min_hz);
		read_u64(DF("max_freq"), &d->max_hz);
		if (!read_text(DF("governor"), buf, sizeof(buf)))
			strf(d->governor, sizeof(d->governor), "%s", buf);
#undef DF
	}
	closedir(dd);
}

/* The driver's own statistics over generic netlink, when the family is there. */
static void scan_genl(struct sample *s)
{
	struct npu_genl_stats st[MAX_DEVS];
	struct npu_genl *g;
	char err[256], id[40];
	int n;

	if (!s->n_devs || npu_genl_open(&g, err, sizeof(err)))
		return; /* no kernel device, or a kernel without the family: sysfs is enough */
	n = npu_genl_get_stats(g, st, MAX_DEVS, err, sizeof(err));
	npu_genl_close(g);
	for (int i = 0; i < n; i++) {
		struct dev *d = NULL;

		strf(id, sizeof(id), "edge-npu.%u", st[i].device);
		for (int k = 0; k < s->n_devs; k++)
			if (!strcmp(s->devs[k].id, id))
				d = &s->devs[k];
		if (!d)
			continue;
		if (st[i].have & (1ull << EDGE_NPU_A_BUSY_NS)) {
			d->has_busy = true;
			d->busy_from_genl = true;
			d->busy_ns = st[i].busy_ns;
		}
		d->queue = st[i].queue[0] + st[i].queue[1] + st[i].queue[2];
		if (st[i].have & (1ull << EDGE_NPU_A_MEM_USED))
			d->mem_bytes = st[i].mem_used;
		if (st[i].engines)
			d->engines = (int)st[i].engines;
	}
}

/* ---- in-process NPUs (devfreq-shaped directories) ----------------------------------------- */

/*
 * Where in-process devices publish: the writers' candidates (hal_rundir_bases), except that
 * an explicit ENPU_SYSFS_DIR means "only there" (a private runtime, as the tests use).
 */
static int base_dirs(char bases[2][HAL_RUNDIR_PATH_MAX])
{
	return hal_rundir_bases(bases, hal_rundir_explicit() ? 1 : 2);
}

static void scan_sim_devfreq(struct sample *s)
{
	char bases[2][HAL_RUNDIR_PATH_MAX];
	int nb = base_dirs(bases);

	for (int b = 0; b < nb; b++) {
		char dir[HAL_RUNDIR_PATH_MAX + 16], path[HAL_RUNDIR_PATH_MAX + 300];
		char buf[1024];
		DIR *dd;
		struct dirent *de;

		if (b > 0 && !strcmp(bases[b], bases[0]))
			continue;
		strf(dir, sizeof(dir), "%s/devfreq", bases[b]);
		dd = opendir(dir);
		if (!dd)
			continue;
		while ((de = readdir(dd))) {
			uint64_t pid = 0, v;
			struct dev *d;

			if (strncmp(de->d_name, "npu", 3) || !isdigit((unsigned char)de->d_name[3]))
				continue;
			strf(path, sizeof(path), "%s/%s/owner", dir, de->d_name);
			/* a directory outlives its process: only a live owner's is a device */
			if (!read_u64(path, &pid) || !pid_alive((long)pid))
				continue;
			d = add_dev(s, de->d_name);
			if (!d)
				break;
			d->pid = (long)pid;
			strf(d->kind, sizeof(d->kind), "npu");
			strf(d->source, sizeof(d->source), "in-process");
			strf(d->driver, sizeof(d->driver), "npu-sim");
			d->engines = 1;
#define F(name) (strf(path, sizeof(path), "%s/%s/" name, dir, de->d_name), path)
			read_u64(F("cur_freq"), &d->cur_hz);
			read_u64(F("min_freq"), &d->min_hz);
			read_u64(F("max_freq"), &d->max_hz);
			if (!read_text(F("governor"), buf, sizeof(buf)))
				strf(d->governor, sizeof(d->governor), "%s", buf);
			if (!read_text(F("stats"), buf, sizeof(buf))) {
				d->has_jobs = kv_u64(buf, "jobs", &d->jobs);
				kv_u64(buf, "errors", &d->jobs_failed);
				kv_u64(buf, "stalls", &d->resets);
				d->has_cycles = kv_u64(buf, "busy_cycles", &d->cycles);
				d->has_energy = kv_u64(buf, "energy_pj", &d->energy_pj);
				if (kv_u64(buf, "cur_freq", &v))
					d->cur_hz = v;
			}
#undef F
		}
		closedir(dd);
	}
}

/* ---- per-process statistics files --------------------------------------------------------- */

static void scan_shm(struct sample *s)
{
	static struct hal_telem_proc procs[MAX_PROCS];
	char bases[2][HAL_RUNDIR_PATH_MAX], dir[HAL_RUNDIR_PATH_MAX + 8];
	int nb = base_dirs(bases), n = 0;

	for (int b = 0; b < nb; b++) {
		int k;

		if (b > 0 && !strcmp(bases[b], bases[0]))
			continue;
		strf(dir, sizeof(dir), "%s/procs", bases[b]);
		k = hal_telem_scan(dir, procs + n, MAX_PROCS - n, true);
		n += k > 0 ? k : 0;
	}

	for (int i = 0; i < n; i++) {
		const struct hal_telem_proc *p = &procs[i];

		for (uint32_t k = 0; k < p->n_slots; k++) {
			const struct hal_telem_slot *sl = &p->slot[k];
			bool eng = sl->flags & HAL_TELEM_F_ENGINE;
			const char *kind = sl->kind == HAL_TELEM_KIND_NPU ? "npu" :
					   sl->kind == HAL_TELEM_KIND_GPU ? "gpu" : "cpu";
			char id[40];
			struct dev *d;
			struct client *c;

			/* a device of its own (npu0), or the process's share of a shared one */
			strf(id, sizeof(id), "%s", sl->node[0] ? sl->node : sl->name);
			if (!strcmp(sl->name, "npu-drm"))
				continue; /* the kernel device's work: fdinfo shows the client */
			d = add_dev(s, id);
			if (!d)
				continue;
			if (!d->kind[0]) {
				strf(d->kind, sizeof(d->kind), "%s", kind);
				strf(d->source, sizeof(d->source), "in-process");
				strf(d->driver, sizeof(d->driver), "%s", sl->name);
				d->engines = 1;
			}
			/* the engine's own time when it publishes it, else time inside run() */
			d->has_busy = true;
			d->busy_ns += eng ? sl->engine_busy_ns : sl->busy_ns;
			if (eng) {
				d->pid = p->pid;
				d->has_jobs = true;
				d->jobs = sl->jobs;
				d->jobs_failed = sl->jobs_failed;
				d->resets = sl->resets;
				d->has_cycles = true;
				d->cycles = sl->cycles;
				d->has_energy = true;
				d->energy_pj = sl->energy_pj;
				d->cur_hz = sl->cur_freq_hz;
				d->mem_bytes = sl->mem_bytes;
				d->queue = sl->queue_depth;
				if (!d->governor[0])
					strf(d->governor, sizeof(d->governor), "%s",
						 sl->governor);
				strf(d->power, sizeof(d->power), "%s",
					 sl->power == HAL_TELEM_POWER_ACTIVE ? "active" :
					 sl->power == HAL_TELEM_POWER_IDLE ? "idle" :
					 sl->power == HAL_TELEM_POWER_OFF ? "off" : "");
			}
			if (s->n_clients == MAX_CLIENTS)
				continue;
			c = &s->clients[s->n_clients++];
			memset(c, 0, sizeof(*c));
			c->pid = p->pid;
			strf(c->comm, sizeof(c->comm), "%s", p->comm);
			strf(c->dev, sizeof(c->dev), "%s", id);
			strf(c->source, sizeof(c->source), "shm");
			strf(c->key, sizeof(c->key), "shm:%d:%u:%u", p->pid, k, sl->generation);
			c->busy_ns = eng ? sl->engine_busy_ns : sl->busy_ns;
			c->has_jobs = true;
			c->jobs = eng ? sl->jobs : sl->ops;
			c->mem_bytes = sl->mem_bytes;
		}
	}
}

/* ---- DRM clients from fdinfo -------------------------------------------------------------- */

/* The parent device of a DRM char device: "edge-npu.0", "0000:00:02.0", ... */
static void drm_parent(dev_t rdev, char *out, size_t len)
{
	char path[128], link[256];
	ssize_t n;

	strf(path, sizeof(path), "%s/dev/char/%u:%u/device", opt.sysfs, major(rdev),
		 minor(rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		strf(out, len, "drm-%u:%u", major(rdev), minor(rdev));
		return;
	}
	link[n] = 0;
	strf(out, len, "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

static bool client_seen(const struct sample *s, const char *key)
{
	for (int i = 0; i < s->n_clients; i++)
		if (!strcmp(s->clients[i].key, key))
			return true;
	return false;
}

static void scan_fdinfo_pid(struct sample *s, long pid)
{
	char dir[64], path[128], text[4096];
	DIR *dd;
	struct dirent *de;

	strf(dir, sizeof(dir), "%s/%ld/fd", opt.proc, pid);
	dd = opendir(dir);
	if (!dd) {
		if (errno == EACCES || errno == EPERM)
			s->unreadable++;
		return;
	}
	while ((de = readdir(dd)) && s->n_clients < MAX_CLIENTS) {
		struct stat st;
		char driver[32] = "", parent[40], key[64];
		uint64_t client_id = 0, busy = 0, mem = 0;
		bool have_id = false;
		struct client *c;

		if (de->d_name[0] == '.')
			continue;
		strf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) || !S_ISCHR(st.st_mode) ||
		    (major(st.st_rdev) != DRM_MAJOR && major(st.st_rdev) != ACCEL_MAJOR))
			continue;
		strf(path, sizeof(path), "%s/%ld/fdinfo/%s", opt.proc, pid, de->d_name);
		if (read_text(path, text, sizeof(text)))
			continue;
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			char *v = strchr(line, ':');

			if (!v)
				continue;
			*v++ = 0;
			while (*v == ' ' || *v == '\t')
				v++;
			if (!strcmp(line, "drm-driver"))
				strf(driver, sizeof(driver), "%s", v);
			else if (!strcmp(line, "drm-client-id"))
				client_id = strtoull(v, NULL, 10), have_id = true;
			else if (!strncmp(line, "drm-engine-", 11) && !strstr(line, "capacity"))
				busy += strtoull(v, NULL, 10); /* "N ns" */
			else if (!strcmp(line, "drm-total-memory") ||
				 (!strncmp(line, "drm-memory-", 11) && !mem)) {
				uint64_t m = strtoull(v, NULL, 10);

				mem = strstr(v, "MiB") ? m << 20 : strstr(v, "KiB") ? m << 10 : m;
			}
		}
		if (!driver[0])
			continue; /* a DRM fd without usage stats (KMS master, old driver) */
		drm_parent(st.st_rdev, parent, sizeof(parent));
		if (have_id)
			strf(key, sizeof(key), "fd:%s:%" PRIu64, parent, client_id);
		else
			strf(key, sizeof(key), "fd:%s:%ld:%s", parent, pid, de->d_name);
		if (client_seen(s, key))
			continue; /* the same open file through another fd or a forked child */
		c = &s->clients[s->n_clients++];
		memset(c, 0, sizeof(*c));
		c->pid = pid;
		comm_of(pid, c->comm);
		strf(c->dev, sizeof(c->dev), "%s", parent);
		strf(c->source, sizeof(c->source), "fdinfo");
		strf(c->key, sizeof(c->key), "%s", key);
		c->busy_ns = busy;
		c->mem_bytes = mem;
		/* a kernel device we do not know from sysfs (another driver) still gets a row */
		struct dev *d = add_dev(s, parent);

		if (d && !d->kind[0]) {
			strf(d->kind, sizeof(d->kind), strcmp(driver, "edge_npu") ? "gpu" : "npu");
			strf(d->source, sizeof(d->source), "kernel");
			strf(d->driver, sizeof(d->driver), "%s", driver);
		}
		if (d && !d->busy_from_genl) {
			/* without the driver's figure: the sum over its clients */
			d->has_busy = true;
			d->busy_ns += busy;
			d->mem_bytes += mem;
		}
	}
	closedir(dd);
}

static void scan_fdinfo(struct sample *s)
{
	DIR *dd = opendir(opt.proc);
	struct dirent *de;

	if (!dd)
		return;
	while ((de = readdir(dd)))
		if (isdigit((unsigned char)de->d_name[0]))
			scan_fdinfo_pid(s, strtol(de->d_name, NULL, 10));
	closedir(dd);
}

static void take_sample(struct sample *s)
{
	memset(s, 0, offsetof(struct sample, devs));
	scan_kernel(s);
	scan_genl(s);
	scan_sim_devfreq(s);
	scan_fdinfo(s);
	scan_shm(s);
	s->t_ns = now_ns();
}

/* ---- rates -------------------------------------------------------------------------------- */

static const struct dev *find_dev(const struct sample *s, const char *id)
{
	for (int i = 0; i < s->n_devs; i++)
		if (!strcmp(s->devs[i].id, id))
			return &s->devs[i];
	return NULL;
}

static const struct client *find_client(const struct sample *s, const char *key)
{
	for (int i = 0; i < s->n_clients; i++)
		if (!strcmp(s->clients[i].key, key))
			return &s->clients[i];
	return NULL;
}

/* b - a of a counter, 0 if it went back (device recreated, counter reset) */
static double delta(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) : 0.0;
}

static double clamp_pct(double v, double max)
{
	return v < 0 ? 0 : v > max ? max : v;
}

static bool dev_matches(const char *id)
{
	return !opt.dev_filter || strstr(id, opt.dev_filter);
}

static int make_dev_views(const struct sample *prev, const struct sample *cur,
			  struct dev_view *out)
{
	double dt = (double)(cur->t_ns - prev->t_ns);
	int n = 0;

	for (int i = 0; i < cur->n_devs; i++) {
		const struct dev *d = &cur->devs[i], *p = find_dev(prev, d->id);
		struct dev_view *v = &out[n];

		if (!dev_matches(d->id))
			continue;
		memset(v, 0, sizeof(*v));
		v->d = d;
		v->power = d->power;
		n++;
		if (!p || dt <= 0)
			continue;
		if (d->has_busy && p->has_busy) {
			v->has_busy = true;
			v->busy_pct = delta(p->busy_ns, d->busy_ns) / dt * 100.0 /
				      (d->engines > 0 ? d->engines : 1);
		} else if (d->has_cycles && p->has_cycles && d->cur_hz) {
			/* modeled occupancy: cycles at the current clock */
			v->has_busy = true;
			v->busy_pct = delta(p->cycles, d->cycles) / ((double)d->cur_hz * dt / 1e9) *
				      100.0 / (d->engines > 0 ? d->engines : 1);
		}
		v->busy_pct = clamp_pct(v->busy_pct, 100.0);
		/*
		 * Modeled power: the engine's energy over the modeled time it ran (its cycles at
		 * the current clock), not over host time: the simulated silicon is much faster than
		 * the CPU that simulates it, so energy per host second would understate it.
		 * pJ / ns = mW. 0 when no job ran (static power is not modeled).
		 */
		if (d->has_energy && p->has_energy && d->has_cycles && p->has_cycles && d->cur_hz) {
			double cyc = delta(p->cycles, d->cycles);

			v->has_power = true;
			v->power_mw = cyc > 0 ? delta(p->energy_pj, d->energy_pj) /
						(cyc * 1e9 / (double)d->cur_hz) : 0.0;
		}
		if (d->has_jobs && p->has_jobs) {
			v->has_jobs_rate = true;
			v->jobs_per_s = delta(p->jobs, d->jobs) / dt * 1e9;
		}
		/*
		 * An in-process engine is idle between two synchronous jobs most of the instants
		 * one could sample it at: over the interval, it was active if any job completed.
		 */
		if (!strcmp(d->power, "idle") && v->jobs_per_s > 0)
			v->power = "active";
	}
	return n;
}

static bool client_busy(const struct client_view *v)
{
	return v->busy_pct > 0.05 || v->jobs_per_s > 0;
}

static int cmp_clients(const void *a, const void *b)
{
	const struct client_view *x = a, *y = b;
	int r = 0;

	switch (opt.sort) {
	case SORT_ENGINE:
		r = (y->busy_pct > x->busy_pct) - (y->busy_pct < x->busy_pct);
		break;
	case SORT_PID:
		r = (x->c->pid > y->c->pid) - (x->c->pid < y->c->pid);
		break;
	case SORT_MEM:
		r = (y->c->mem_bytes > x->c->mem_bytes) - (y->c->mem_bytes < x->c->mem_bytes);
		break;
	case SORT_JOBS:
		r = (y->jobs_per_s > x->jobs_per_s) - (y->jobs_per_s < x->jobs_per_s);
		break;
	default:
		r = strcmp(x->c->comm, y->c->comm);
	}
	if (!r)
		r = (x->c->pid > y->c->pid) - (x->c->pid < y->c->pid);
	if (!r)
		r = strcmp(x->c->dev, y->c->dev);
	return opt.reverse ? -r : r;
}

static int make_client_views(const struct sample *prev, const struct sample *cur,
			     struct client_view *out)
{
	double dt = (double)(cur->t_ns - prev->t_ns);
	int n = 0;

	for (int i = 0; i < cur->n_clients; i++) {
		const struct client *c = &cur->clients[i], *p = find_client(prev, c->key);
		struct client_view *v = &out[n];

		if (!dev_matches(c->dev))
			continue;
		memset(v, 0, sizeof(*v));
		v->c = c;
		if (p && dt > 0) {
			/* over the device's engines, as the device's own busy % */
			const struct dev *d = find_dev(cur, c->dev);
			int engines = d && d->engines > 0 ? d->engines : 1;

			v->busy_pct = delta(p->busy_ns, c->busy_ns) / dt * 100.0 / engines;
			v->busy_pct = clamp_pct(v->busy_pct, 100.0);
			if (c->has_jobs && p->has_jobs) {
				v->has_jobs_rate = true;
				v->jobs_per_s = delta(p->jobs, c->jobs) / dt * 1e9;
			}
		}
		if (opt.hide_idle && !client_busy(v))
			continue;
		n++;
	}
	qsort(out, (size_t)n, sizeof(*out), cmp_clients);
	return n;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_u64(FILE *f, bool have, uint64_t v)
{
	if (have)
		fprintf(f, "%" PRIu64, v);
	else
		fputs("null", f);
}

static void json_num(FILE *f, bool have, double v)
{
	if (have && isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

static void print_json(FILE *f, const struct sample *prev, const struct sample *cur,
		       const char *warning)
{
	static struct dev_view dv[MAX_DEVS];
	static struct client_view cv[MAX_CLIENTS];
	int nd = make_dev_views(prev, cur, dv), nc = make_client_views(prev, cur, cv);
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	fprintf(f, "{\"version\":1,\"time\":%.3f,\"interval_s\":%.3f,\"devices\":[",
		(double)rt.tv_sec + rt.tv_nsec / 1e9, (double)(cur->t_ns - prev->t_ns) / 1e9);
	for (int i = 0; i < nd; i++) {
		const struct dev *d = dv[i].d;

		fprintf(f, "%s{\"id\":", i ? "," : "");
		json_str(f, d->id);
		fputs(",\"kind\":", f);
		json_str(f, d->kind);
		fputs(",\"source\":", f);
		json_str(f, d->source);
		fputs(",\"driver\":", f);
		json_str(f, d->driver);
		fprintf(f, ",\"pid\":%ld,\"engines\":%d,\"busy_pct\":", d->pid, d->engines);
		json_num(f, dv[i].has_busy, dv[i].busy_pct);
		fprintf(f, ",\"cur_freq_hz\":%" PRIu64 ",\"min_freq_hz\":%" PRIu64
			",\"max_freq_hz\":%" PRIu64 ",\"governor\":", d->cur_hz, d->min_hz,
			d->max_hz);
		json_str(f, d->governor);
		fputs(",\"power_state\":", f);
		json_str(f, dv[i].power);
		fputs(",\"power_mw\":", f);
		json_num(f, dv[i].has_power, dv[i].power_mw);
		fputs(",\"energy_uj\":", f);
		json_num(f, d->has_energy, (double)d->energy_pj / 1e6);
		fputs(",\"temperature_c\":null,\"jobs\":", f);
		json_u64(f, d->has_jobs, d->jobs);
		fputs(",\"jobs_failed\":", f);
		json_u64(f, d->has_jobs, d->jobs_failed);
		fputs(",\"resets\":", f);
		json_u64(f, d->has_jobs, d->resets);
		fputs(",\"jobs_per_s\":", f);
		json_num(f, dv[i].has_jobs_rate, dv[i].jobs_per_s);
		fputs(",\"cycles\":", f);
		json_u64(f, d->has_cycles, d->cycles);
		fprintf(f, ",\"busy_ns\":%" PRIu64 ",\"memory_bytes\":%" PRIu64
			",\"queue_depth\":%u}", d->busy_ns, d->mem_bytes, d->queue);
	}
	fputs("],\"processes\":[", f);
	for (int i = 0; i < nc; i++) {
		const struct client *c = cv[i].c;

		fprintf(f, "%s{\"pid\":%ld,\"name\":", i ? "," : "", c->pid);
		json_str(f, c->comm);
		fputs(",\"device\":", f);
		json_str(f, c->dev);
		fputs(",\"source\":", f);
		json_str(f, c->source);
		fputs(",\"engine_pct\":", f);
		json_num(f, true, cv[i].busy_pct);
		fprintf(f, ",\"busy_ns\":%" PRIu64 ",\"memory_bytes\":%" PRIu64 ",\"jobs\":",
			c->busy_ns, c->mem_bytes);
		json_u64(f, c->has_jobs, c->jobs);
		fputs(",\"jobs_per_s\":", f);
		json_num(f, cv[i].has_jobs_rate, cv[i].jobs_per_s);
		fputc('}', f);
	}
	fputs("],\"warnings\":[", f);
	if (warning)
		json_str(f, warning);
	fputs("]}\n", f);
	fflush(f);
}

/* Why there is nothing to show, or NULL. */
static const char *why_empty(const struct sample *s, char *buf, size_t len)
{
	if (s->n_devs)
		return NULL;
	if (s->unreadable)
		strf(buf, len, "no edge-npu device or client found; %d processes could not be "
			 "inspected (permission denied: run as their user or root to see them)",
			 s->unreadable);
	else
		strf(buf, len, "no edge-npu device found: load kmod/edge_npu.ko, or run a "
			 "program with --device npu (in-process NPU)");
	return buf;
}

/* ---- curses ------------------------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
	if (b >= 1ull << 30)
		strf(buf, len, "%.1fG", (double)b / (1ull << 30));
	else if (b >= 1ull << 20)
		strf(buf, len, "%.1fM", (double)b / (1ull << 20));
	else if (b >= 1ull << 10)
		strf(buf, len, "%.1fK", (double)b / (1ull << 10));
	else
		strf(buf, len, "%" PRIu64, b);
}

static void line(int *row, int attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void line(int *row, int attr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (*row >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (attr)
		attron(attr);
	mvaddnstr(*row, 0, buf, COLS);
	clrtoeol();
	if (attr)
		attroff(attr);
	(*row)++;
}

static void bar(char *buf, int width, double pct)
{
	int fill = (int)lround(pct / 100.0 * width);

	buf[0] = '[';
	for (int i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : ' ';
	buf[width + 1] = ']';
	buf[width + 2] = 0;
}

static void draw(const struct sample *prev, const struct sample *cur, const char *filter_dev)
{
	static struct dev_view dv[MAX_DEVS];
	static struct client_view cv[MAX_CLIENTS];
	int nd = make_dev_views(prev, cur, dv), nc = make_client_views(prev, cur, cv), row = 0;
	char why[256], b[64], freq[32], pw[16], en[16], jr[16];
	const char *empty = why_empty(cur, why, sizeof(why));

	erase();
	line(&row, A_BOLD, "npu-top - %d device%s, %d client%s   interval %.1fs   sort: %s%s   "
	     "filter: %s%s", nd, nd == 1 ? "" : "s", nc, nc == 1 ? "" : "s", opt.interval,
	     sort_names[opt.sort], opt.reverse ? " (rev)" : "", filter_dev ? filter_dev : "all",
	     opt.hide_idle ? "   idle hidden" : "");
	line(&row, 0, "%s", "");
	line(&row, A_REVERSE, "%-12s %-4s %-10s %6s %-22s %11s %-15s %-6s %9s %10s %8s %5s",
	     "DEVICE", "KIND", "SOURCE", "BUSY%", "", "FREQ MHz", "GOVERNOR", "STATE", "POWER mW",
	     "ENERGY mJ", "JOBS/s", "TEMP");
	for (int i = 0; i < nd; i++) {
		const struct dev *d = dv[i].d;

		bar(b, 20, dv[i].busy_pct);
		if (d->cur_hz)
			strf(freq, sizeof(freq), "%" PRIu64 "/%" PRIu64, d->cur_hz / 1000000,
				 d->max_hz / 1000000);
		else
			strf(freq, sizeof(freq), "-");
		strf(pw, sizeof(pw), dv[i].has_power ? "%.2f" : "-", dv[i].power_mw);
		strf(en, sizeof(en), d->has_energy ? "%.3f" : "-", (double)d->energy_pj / 1e9);
		strf(jr, sizeof(jr), dv[i].has_jobs_rate ? "%.0f" : "-", dv[i].jobs_per_s);
		line(&row, 0, "%-12.12s %-4s %-10s %6s %-22s %11s %-15.15s %-6s %9s %10s %8s %5s",
		     d->id, d->kind, d->source, "", b, freq, d->governor[0] ? d->governor : "-",
		     dv[i].power[0] ? dv[i].power : "-", pw, en, jr, "-");
		/* the percentage over the bar's first cells, so that it reads as "45.2 [###  ]" */
		if (row - 1 < LINES && dv[i].has_busy) {
			strf(b, sizeof(b), "%6.1f", dv[i].busy_pct);
			mvaddnstr(row - 1, 29, b, COLS - 29 > 0 ? COLS - 29 : 0);
		}
	}
	if (empty)
		line(&row, A_BOLD, "%s", empty);
	line(&row, 0, "%s", "");
	line(&row, A_REVERSE, "%-8s %-16s %-12s %8s %9s %9s %-6s", "PID", "NAME", "DEVICE",
	     "ENGINE%", "MEMORY", "JOBS/s", "SOURCE");
	for (int i = 0; i < nc && row < LINES - 1; i++) {
		const struct client *c = cv[i].c;

		fmt_bytes(b, sizeof(b), c->mem_bytes);
		strf(jr, sizeof(jr), cv[i].has_jobs_rate ? "%.0f" : "-", cv[i].jobs_per_s);
		line(&row, 0, "%-8ld %-16s %-12.12s %8.1f %9s %9s %-6s", c->pid, c->comm, c->dev,
		     cv[i].busy_pct, b, jr, c->source);
	}
	if (cur->unreadable && !empty)
		line(&row, 0, "(%d processes not inspectable: permission denied)", cur->unreadable);
	row = LINES - 1;
	line(&row, A_REVERSE, "q quit  e/p/m/j/n sort engine/pid/memory/jobs/name  r reverse  "
	     "f device filter  i hide idle  +/- interval");
	refresh();
}

static int run_curses(void)
{
	static struct sample a, b;
	struct sample *prev = &a, *cur = &b, *t;
	SCREEN *scr;
	int filter_idx = -1;
	char filter_buf[40];
	const char *user_filter = opt.dev_filter;

	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
		fprintf(stderr, "npu-top: not a terminal; use -J (one JSON snapshot) or -l (JSON "
			"lines)\n");
		return 2;
	}
	setlocale(LC_ALL, "");
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, "npu-top: cannot use terminal type '%s'; use -J or -l\n",
			getenv("TERM") ? getenv("TERM") : "(unset)");
		return 2;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	take_sample(prev);
	/* a short first interval so that the screen has rates at once */
	napms(200);
	while (!stop) {
		int ch;

		take_sample(cur);
		draw(prev, cur, opt.dev_filter);
		timeout((int)(opt.interval * 1000));
		ch = getch();
		switch (ch) {
		case 'q':
		case 'Q':
			stop = 1;
			break;
		case 'e':
			opt.sort = SORT_ENGINE;
			break;
		case 'p':
			opt.sort = SORT_PID;
			break;
		case 'm':
			opt.sort = SORT_MEM;
			break;
		case 'j':
			opt.sort = SORT_JOBS;
			break;
		case 'n':
			opt.sort = SORT_NAME;
			break;
		case 'r':
			opt.reverse = !opt.reverse;
			break;
		case 'i':
			opt.hide_idle = !opt.hide_idle;
			break;
		case '+':
			opt.interval = opt.interval * 2 > 10 ? 10 : opt.interval * 2;
			break;
		case '-':
			opt.interval = opt.interval / 2 < 0.1 ? 0.1 : opt.interval / 2;
			break;
		case 'f':
			/* cycles through the devices on screen, then back to -d (or all) */
			filter_idx++;
			if (filter_idx >= cur->n_devs) {
				filter_idx = -1;
				opt.dev_filter = user_filter;
			} else {
				strf(filter_buf, sizeof(filter_buf), "%s",
					 cur->devs[filter_idx].id);
				opt.dev_filter = filter_buf;
			}
			break;
		default:
			break;
		}
		if (ch != ERR)
			continue; /* a key: redraw at once with the same pair of samples */
		t = prev;
		prev = cur;
		cur = t;
	}
	endwin();
	delscreen(scr);
	return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: npu-top [-J | -l [-n N]] [-s SECONDS] [-d DEVICE]\n"
		"Shows edge-npu devices (kernel driver and in-process NPUs, plus the CPU/GPU\n"
		"backends of programs using the stack) and the processes using them.\n\n"
		"  -s, --interval S  sampling interval in seconds (default 1; 0.05 .. 3600)\n"
		"  -d, --device D    only devices whose id contains D (edge-npu.0, npu0, cpu)\n"
		"  -J, --json        one JSON snapshot (two samples S apart) on stdout, then exit\n"
		"  -l, --json-lines  a JSON snapshot per interval, one per line\n"
		"  -n, --count N     with -l: stop after N lines\n"
		"  -h, --help        this help\n\n"
		"Keys: q quit, e/p/m/j/n sort by engine%%/pid/memory/jobs/name, r reverse,\n"
		"f cycle a device filter, i hide idle processes, +/- interval.\n"
		"Busy %% is delta busy time over delta wall time, clamped to 100 (per engine).\n"
		"In-process devices are found in $XDG_RUNTIME_DIR/edge-npu and /tmp/edge-npu-UID,\n"
		"or only in $ENPU_SYSFS_DIR when it is set. Power is modeled: the engine's energy\n"
		"over the modeled time it ran.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "json-lines", no_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct sample a, b;
	struct sample *prev = &a, *cur = &b, *t;
	bool json = false, lines = false;
	long count = -1;
	char *end, why[256];
	int c;

	while ((c = getopt_long(argc, argv, "s:d:Jln:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.interval = strtod(optarg, &end);
			if (*end || !(opt.interval >= 0.05 && opt.interval <= 3600)) {
				fprintf(stderr, "npu-top: -s %s: the interval is seconds, 0.05 to "
					"3600\n", optarg);
				return 2;
			}
			break;
		case 'd':
			opt.dev_filter = optarg;
			break;
		case 'J':
			json = true;
			break;
		case 'l':
			lines = true;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "npu-top: -n %s: a positive count\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npu-top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (getenv("NPU_TOP_SYSFS_ROOT"))
		opt.sysfs = getenv("NPU_TOP_SYSFS_ROOT");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (!json && !lines)
		return run_curses();

	take_sample(prev);
	for (long i = 0; !stop && (count < 0 || i < count); i++) {
		struct timespec ts = { (time_t)opt.interval,
				       (long)((opt.interval - (time_t)opt.interval) * 1e9) };

		nanosleep(&ts, NULL);
		take_sample(cur);
		print_json(stdout, prev, cur, why_empty(cur, why, sizeof(why)));
		if (ferror(stdout))
			return 1;
		if (json)
			break;
		t = prev;
		prev = cur;
		cur = t;
	}
	return 0;
}
