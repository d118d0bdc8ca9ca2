/* SPDX-License-Identifier: MIT */
/*
 * source_procs.c - devices that run inside a process: the in-process NPUs' devfreq-shaped
 * directories (hal/npu/npu_sim.h) and the per-process statistics files (hal/telemetry.h), both
 * under the runtime directories of hal/rundir.h.
 */
#include <ctype.h>
#include <inttypes.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/rundir.h"
#include "hal/telemetry.h"
#include "sample.h"

#define MAX_PROCS 128

/*
 * Where in-process devices publish: the writers' candidates (hal_rundir_bases), except that
 * an explicit ENPU_SYSFS_DIR means "only there" (a private runtime, as the tests use). A
 * candidate that repeats the first is dropped, and one that is another user's is skipped,
 * said once on stderr.
 */
static int base_dirs(char bases[2][HAL_RUNDIR_PATH_MAX])
{
	static bool warned;
	int n = hal_rundir_bases(bases, hal_rundir_explicit() ? 1 : 2), kept = 0;

	for (int i = 0; i < n; i++) {
		if (i > 0 && !strcmp(bases[i], bases[0]))
			continue;
		if (!hal_rundir_readable(bases[i])) {
			if (!warned)
				fprintf(stderr, "npu-top: skipping %s: not a directory of yours\n",
					bases[i]);
			warned = true;
			continue;
		}
		if (kept != i)
			memcpy(bases[kept], bases[i], HAL_RUNDIR_PATH_MAX);
		kept++;
	}
	return kept;
}

static bool pid_alive(long pid)
{
	char path[64];

	strf(path, sizeof(path), "%s/%ld", opt.proc, pid);
	return pid > 0 && access(path, F_OK) == 0;
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

/* ---- in-process NPUs (devfreq-shaped directories) ----------------------------------------- */

/* The files of dir/name, an in-process NPU's directory. */
static void read_sim_dev(struct dev *d, const char *dir, const char *name)
{
	char path[HAL_RUNDIR_PATH_MAX + 300], buf[1024];
	uint64_t v;

	strf(d->kind, sizeof(d->kind), "npu");
	strf(d->source, sizeof(d->source), "in-process");
	strf(d->driver, sizeof(d->driver), "npu-sim");
	d->engines = 1;
#define F(file) (strf(path, sizeof(path), "%s/%s/" file, dir, name), path)
	d->has_cur_hz = read_u64(F("cur_freq"), &d->cur_hz);
	d->has_min_hz = read_u64(F("min_freq"), &d->min_hz);
	d->has_max_hz = read_u64(F("max_freq"), &d->max_hz);
	if (!read_text(F("governor"), buf, sizeof(buf)))
		strf(d->governor, sizeof(d->governor), "%s", buf);
	if (!read_text(F("stats"), buf, sizeof(buf))) {
		d->has_jobs = kv_u64(buf, "jobs", &d->jobs);
		kv_u64(buf, "errors", &d->jobs_failed);
		kv_u64(buf, "stalls", &d->resets);
		d->has_cycles = kv_u64(buf, "busy_cycles", &d->cycles);
		d->has_energy = kv_u64(buf, "energy_pj", &d->energy_pj);
		if (kv_u64(buf, "cur_freq", &v)) {
			d->has_cur_hz = true;
			d->cur_hz = v;
		}
	}
#undef F
}

/* The npu<N> directories in dir whose owner is alive. */
static void scan_devfreq_dir(struct sample *s, const char *dir)
{
	char path[HAL_RUNDIR_PATH_MAX + 300], id[40];
	DIR *dd = opendir(dir);
	struct dirent *de;

	if (!dd)
		return;
	while ((de = readdir(dd))) {
		uint64_t pid = 0;
		struct dev *d;

		if (strncmp(de->d_name, "npu", 3) || !isdigit((unsigned char)de->d_name[3]))
			continue;
		strf(path, sizeof(path), "%s/%s/owner", dir, de->d_name);
		/* a directory outlives its process: only a live owner's is a device */
		if (!read_u64(path, &pid) || !pid_alive((long)pid))
			continue;
		d = add_dev(s, strf(id, sizeof(id), "npu@%" PRIu64, pid));
		if (!d)
			break;
		d->pid = (long)pid;
		strf(d->node, sizeof(d->node), "%s", de->d_name);
		read_sim_dev(d, dir, de->d_name);
	}
	closedir(dd);
}

void scan_sim_devfreq(struct sample *s)
{
	char bases[2][HAL_RUNDIR_PATH_MAX], dir[HAL_RUNDIR_PATH_MAX + 16];
	int nb = base_dirs(bases);

	for (int b = 0; b < nb; b++)
		scan_devfreq_dir(s, strf(dir, sizeof(dir), "%s/devfreq", bases[b]));
}

/* ---- per-process statistics files --------------------------------------------------------- */

/* The time a slot counts: the engine's own when it publishes it, else time inside run(). */
static uint64_t slot_busy_ns(const struct hal_telem_slot *sl)
{
	return sl->flags & HAL_TELEM_F_ENGINE ? sl->engine_busy_ns : sl->busy_ns;
}

static const char *power_name(uint32_t power)
{
	return power == HAL_TELEM_POWER_ACTIVE ? "active" :
	       power == HAL_TELEM_POWER_IDLE ? "idle" :
	       power == HAL_TELEM_POWER_OFF ? "off" : "";
}

/* What a device with its own engine publishes: the device is that process's. */
static void read_slot_engine(struct dev *d, long pid, const struct hal_telem_slot *sl)
{
	d->pid = pid;
	d->has_jobs = true;
	d->jobs = sl->jobs;
	d->jobs_failed = sl->jobs_failed;
	d->resets = sl->resets;
	d->has_cycles = true;
	d->cycles = sl->cycles;
	d->has_energy = true;
	d->energy_pj = sl->energy_pj;
	d->has_cur_hz = true;
	d->cur_hz = sl->cur_freq_hz;
	d->mem_bytes = sl->mem_bytes;
	d->queue = sl->queue_depth;
	d->has_queue_ns = true;
	d->queue_ns = sl->queue_ns;
	d->temp_mc = sl->temp_mc;
	d->has_thermal = true;
	d->thermal_state = sl->thermal_state;
	d->cooling_state = sl->cooling_state;
	if (!d->governor[0])
		strf(d->governor, sizeof(d->governor), "%s", sl->governor);
	strf(d->power, sizeof(d->power), "%s", power_name(sl->power));
}

/* A slot's share of its device. */
static void read_slot_dev(struct dev *d, long pid, const struct hal_telem_slot *sl)
{
	if (!d->kind[0]) {
		strf(d->kind, sizeof(d->kind), "%s", sl->kind == HAL_TELEM_KIND_NPU ? "npu" :
			 sl->kind == HAL_TELEM_KIND_GPU ? "gpu" : "cpu");
		strf(d->source, sizeof(d->source), "in-process");
		strf(d->driver, sizeof(d->driver), "%s", sl->name);
		d->engines = 1;
	}
	d->has_busy = true;
	d->busy_ns += slot_busy_ns(sl);
	if (sl->flags & HAL_TELEM_F_ENGINE)
		read_slot_engine(d, pid, sl);
}

/* The process p as a client of device id through its slot k. */
static void add_slot_client(struct sample *s, const struct hal_telem_proc *p, uint32_t k,
			    const char *id)
{
	const struct hal_telem_slot *sl = &p->slot[k];
	struct client *c = add_client(s);

	if (!c)
		return;
	c->pid = p->pid;
	strf(c->comm, sizeof(c->comm), "%s", p->comm);
	strf(c->dev, sizeof(c->dev), "%s", id);
	strf(c->source, sizeof(c->source), "shm");
	strf(c->key, sizeof(c->key), "shm:%d:%u:%u", p->pid, k, sl->generation);
	c->busy_ns = slot_busy_ns(sl);
	c->has_jobs = true;
	c->jobs = sl->flags & HAL_TELEM_F_ENGINE ? sl->jobs : sl->ops;
	c->mem_bytes = sl->mem_bytes;
}

static void add_slot(struct sample *s, const struct hal_telem_proc *p, uint32_t k)
{
	const struct hal_telem_slot *sl = &p->slot[k];
	char id[40];
	struct dev *d;

	/* a device of its own (npu@PID, node npu0), or the process's share of a shared one */
	if (sl->node[0])
		strf(id, sizeof(id), "%s@%d", sl->name, p->pid);
	else
		strf(id, sizeof(id), "%s", sl->name);
	if (!strcmp(sl->name, "npu-drm"))
		return; /* the kernel device's work: fdinfo shows the client */
	d = add_dev(s, id);
	if (!d)
		return;
	if (sl->node[0])
		strf(d->node, sizeof(d->node), "%s", sl->node);
	read_slot_dev(d, p->pid, sl);
	add_slot_client(s, p, k, id);
}

void scan_shm(struct sample *s)
{
	static struct hal_telem_proc procs[MAX_PROCS];
	char bases[2][HAL_RUNDIR_PATH_MAX], dir[HAL_RUNDIR_PATH_MAX + 8];
	int nb = base_dirs(bases), n = 0;

	for (int b = 0; b < nb; b++) {
		int k;

		strf(dir, sizeof(dir), "%s/procs", bases[b]);
		k = hal_telem_scan(dir, procs + n, MAX_PROCS - n, true);
		n += k > 0 ? k : 0;
	}
	for (int i = 0; i < n; i++)
		for (uint32_t k = 0; k < procs[i].n_slots; k++)
			add_slot(s, &procs[i], k);
}

/* ---- the admin's writes (npu-top --set) -------------------------------------------------- */

int find_sim_devfreq(const char *id, char *out, size_t len)
{
	char bases[2][HAL_RUNDIR_PATH_MAX], dir[HAL_RUNDIR_PATH_MAX + 16];
	char path[HAL_RUNDIR_PATH_MAX + 300];
	int nb = base_dirs(bases);
	long want_pid = !strncmp(id, "npu@", 4) ? strtol(id + 4, NULL, 10) : 0;

	for (int b = 0; b < nb; b++) {
		DIR *dd = opendir(strf(dir, sizeof(dir), "%s/devfreq", bases[b]));
		struct dirent *de;
		uint64_t pid;

		while (dd && (de = readdir(dd))) {
			if (strncmp(de->d_name, "npu", 3) || !isdigit((unsigned char)de->d_name[3]))
				continue;
			strf(path, sizeof(path), "%s/%s/owner", dir, de->d_name);
			if (!read_u64(path, &pid) || !pid_alive((long)pid))
				continue; /* a dead process's directory is no device */
			if (want_pid ? (long)pid == want_pid : !strcmp(de->d_name, id)) {
				strf(out, len, "%s/%s", dir, de->d_name);
				closedir(dd);
				return 0;
			}
		}
		if (dd)
			closedir(dd);
	}
	return -1;
}
