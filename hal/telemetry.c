/* SPDX-License-Identifier: MIT */
/*
 * telemetry.c - per-process device statistics in a shared, seqlock'd file. See telemetry.h.
 *
 * The writer side is one file per process, so its state is process-global: a mutex serialises
 * every writer (so that each slot has a single writer, which a seqlock requires) and the owner
 * table maps devices to slots. A child after fork() must not write into its parent's file:
 * the state is reset when the pid changes.
 */
#include "hal/telemetry.h"
#include "hal/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- seqlock ------------------------------------------------------------------------------ */

static void slot_write_begin(struct hal_telem_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* seq odd before any field changes */
}

static void slot_write_end(struct hal_telem_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/*
 * A consistent copy of a slot written by another process: 0, or -1 when the writer stayed
 * inside it for 200 ms (it died there, or is stopped: a writer is inside for ~100 ns, but may
 * be preempted there on a loaded machine, hence the generous bound).
 */
static int slot_read(const struct hal_telem_slot *s, size_t size, struct hal_telem_slot *out)
{
	uint64_t deadline = 0;

	for (int tries = 0;; tries++) {
		uint32_t a = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), b;

		if (tries == 100)
			deadline = hal_now_ns() + 200000000ull;
		if (tries > 100 && hal_now_ns() > deadline)
			return -1;
		if (a & 1) {
			if (tries < 100)
				sched_yield();
			else
				usleep(200);
			continue;
		}
		memset(out, 0, sizeof(*out));
		memcpy(out, (const void *)s, size < sizeof(*out) ? size : sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		b = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
		if (a == b)
			return 0;
	}
}

/* ---- writer ------------------------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pid_t pid;                 /* the process the state below belongs to */
	int fd;                    /* the flock'ed file; 0 = none (never a valid choice here) */
	struct hal_telem_file *map;
	const void *owner[HAL_TELEM_MAX_SLOTS];
	char path[HAL_RUNDIR_PATH_MAX + 64];
	char error[640];
	bool failed;               /* creation failed once: do not retry on every op */
} W = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void read_comm(char out[16])
{
	FILE *f = fopen("/proc/self/comm", "r");

	memset(out, 0, 16);
	if (f) {
		if (fgets(out, 16, f))
			out[strcspn(out, "\n")] = 0;
		fclose(f);
	}
}

/* Creates, locks, initialises and publishes (rename) this process's file in base/procs. */
static int create_in(const char *base)
{
	char dir[HAL_RUNDIR_PATH_MAX + 8], tmp[HAL_RUNDIR_PATH_MAX + 64];
	struct hal_telem_file *f;
	int fd, e;

	if (snprintf(dir, sizeof(dir), "%s/procs", base) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%ld.tmp", dir, (long)W.pid) >= (int)sizeof(tmp) ||
	    snprintf(W.path, sizeof(W.path), "%s/%ld.stats", dir, (long)W.pid) >=
		    (int)sizeof(W.path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (hal_rundir_mkdirs(dir))
		return -1;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) || ftruncate(fd, HAL_TELEM_FILE_SIZE))
		goto fail;
	f = mmap(NULL, HAL_TELEM_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		goto fail;
	f->version = HAL_TELEM_VERSION;
	f->header_size = (uint32_t)offsetof(struct hal_telem_file, slot);
	f->slot_size = sizeof(struct hal_telem_slot);
	f->n_slots = HAL_TELEM_MAX_SLOTS;
	f->pid = (int32_t)W.pid;
	f->start_ns = hal_now_ns();
	read_comm(f->comm);
	/* magic last: a reader that sees it sees a complete header */
	__atomic_store_n(&f->magic, HAL_TELEM_MAGIC, __ATOMIC_RELEASE);
	if (rename(tmp, W.path)) {
		e = errno;
		munmap(f, HAL_TELEM_FILE_SIZE);
		errno = e;
		goto fail;
	}
	W.fd = fd;
	W.map = f;
	return 0;
fail:
	e = errno;
	close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* The file, created on first use; false when there is none. Called with W.lock held. */
static bool ensure_file(void)
{
	char bases[2][HAL_RUNDIR_PATH_MAX];
	int n, saved = 0;

	if (W.pid != getpid()) {
		/* new process (first call, or a fork child): the mapping is the parent's */
		if (W.map)
			munmap(W.map, HAL_TELEM_FILE_SIZE);
		if (W.fd > 0)
			close(W.fd);
		memset(W.owner, 0, sizeof(W.owner));
		W.map = NULL;
		W.fd = 0;
		W.failed = false;
		W.path[0] = 0;
		W.pid = getpid();
	}
	if (W.map)
		return true;
	if (W.failed)
		return false;
	n = hal_rundir_bases(bases, 2);
	for (int i = 0; i < n; i++) {
		if (i == n - 1 && (hal_rundir_mkdirs(bases[i]) || !hal_rundir_ours(bases[i]))) {
			saved = errno ? errno : EPERM;
			continue;
		}
		if (!create_in(bases[i]))
			return true;
		saved = errno;
	}
	snprintf(W.error, sizeof(W.error), "no writable directory for the telemetry file (tried "
		 "%.200s/procs%s%.200s/procs: %s)", bases[0], n > 1 ? " and " : "", n > 1 ? bases[1] : "",
		 strerror(saved));
	W.path[0] = 0;
	W.failed = true;
	return false;
}

static int find_slot(const void *dev)
{
	for (int i = 0; i < HAL_TELEM_MAX_SLOTS; i++)
		if (W.owner[i] == dev)
			return i;
	return -1;
}

/* The file's kind of a device: its class, one above (0 is a free slot). */
static enum hal_telem_kind kind_of(const struct hal_device *dev)
{
	_Static_assert(HAL_TELEM_KIND_CPU == 1 + HAL_CLASS_CPU &&
			       HAL_TELEM_KIND_GPU == 1 + HAL_CLASS_GPU &&
			       HAL_TELEM_KIND_NPU == 1 + HAL_CLASS_NPU,
		       "telemetry kinds follow the device classes");
	return (enum hal_telem_kind)(1 + dev->cls);
}

/*
 * Devices that publish only through hal_telemetry_publish_devices() (the CPU and GPU
 * backends) are never detached: nothing tells telemetry that they were destroyed. When every
 * slot is taken, the one of those updated longest ago is given to the new device (a process
 * that creates contexts one after another keeps showing the live ones).
 */
static int oldest_unmanaged(void)
{
	int best = -1;

	for (int i = 0; i < HAL_TELEM_MAX_SLOTS; i++) {
		const struct hal_telem_slot *s = &W.map->slot[i];

		if (!(s->flags & HAL_TELEM_F_ENGINE) &&
		    (best < 0 || s->updated_ns < W.map->slot[best].updated_ns))
			best = i;
	}
	return best;
}

/* Called with W.lock held. */
static int attach_locked(const struct hal_device *dev, enum hal_telem_kind kind, const char *node)
{
	struct hal_telem_slot *s;
	int i = find_slot(dev);

	if (i >= 0)
		return i;
	if (!ensure_file())
		return -1;
	i = find_slot(NULL);
	if (i < 0)
		i = oldest_unmanaged();
	if (i < 0)
		return -1;
	s = &W.map->slot[i];
	W.owner[i] = dev;
	slot_write_begin(s);
	s->generation++;
	s->kind = kind;
	s->flags = 0;
	memset(s->name, 0, sizeof(s->name));
	snprintf(s->name, sizeof(s->name), "%s", dev->name ? dev->name : "?");
	memset(s->node, 0, sizeof(s->node));
	if (node)
		snprintf(s->node, sizeof(s->node), "%s", node);
	memset(&s->updated_ns, 0, sizeof(*s) - offsetof(struct hal_telem_slot, updated_ns));
	s->updated_ns = hal_now_ns();
	slot_write_end(s);
	return i;
}

int hal_telem_attach(const struct hal_device *dev, enum hal_telem_kind kind, const char *node)
{
	int i;

	if (!dev)
		return -1;
	pthread_mutex_lock(&W.lock);
	i = attach_locked(dev, kind, node);
	pthread_mutex_unlock(&W.lock);
	return i;
}

void hal_telem_detach(const struct hal_device *dev)
{
	int i;

	pthread_mutex_lock(&W.lock);
	i = W.pid == getpid() && dev ? find_slot(dev) : -1;
	if (i >= 0) {
		struct hal_telem_slot *s = &W.map->slot[i];

		slot_write_begin(s);
		s->kind = HAL_TELEM_KIND_NONE;
		slot_write_end(s);
		W.owner[i] = NULL;
		bool any = false;

		for (int j = 0; j < HAL_TELEM_MAX_SLOTS; j++)
			any |= W.owner[j] != NULL;
		if (!any) {
			/* unlink before close: the file never exists unlocked */
			unlink(W.path);
			munmap(W.map, HAL_TELEM_FILE_SIZE);
			close(W.fd);
			W.map = NULL;
			W.fd = 0;
			W.path[0] = 0;
		}
	}
	pthread_mutex_unlock(&W.lock);
}

static void update_stats_locked(const struct hal_device *dev, const struct hal_device_stats *st)
{
	int i = attach_locked(dev, kind_of(dev), NULL);
	struct hal_telem_slot *s;

	if (i < 0)
		return;
	s = &W.map->slot[i];
	slot_write_begin(s);
	s->ops = st->ops;
	s->busy_ns = st->busy_ns;
	s->bytes_copied = st->bytes_copied;
	s->modeled_ns = st->modeled_ns;
	s->modeled_energy_pj = st->modeled_energy_pj;
	s->updated_ns = hal_now_ns();
	slot_write_end(s);
}

void hal_telem_update_stats(const struct hal_device *dev, const struct hal_device_stats *st)
{
	if (!dev || !st)
		return;
	pthread_mutex_lock(&W.lock);
	update_stats_locked(dev, st);
	pthread_mutex_unlock(&W.lock);
}

void hal_telem_update_engine(const struct hal_device *dev, const struct hal_telem_engine *e)
{
	struct hal_telem_slot *s;
	int i;

	if (!dev || !e)
		return;
	pthread_mutex_lock(&W.lock);
	i = attach_locked(dev, kind_of(dev), NULL);
	if (i >= 0) {
		s = &W.map->slot[i];
		slot_write_begin(s);
		s->flags |= HAL_TELEM_F_ENGINE;
		s->engine_busy_ns = e->engine_busy_ns;
		s->jobs = e->jobs;
		s->jobs_failed = e->jobs_failed;
		s->resets = e->resets;
		s->cycles = e->cycles;
		s->energy_pj = e->energy_pj;
		s->cur_freq_hz = e->cur_freq_hz;
		s->min_freq_hz = e->min_freq_hz;
		s->max_freq_hz = e->max_freq_hz;
		s->mem_bytes = e->mem_bytes;
		s->last_job_ns = e->last_job_ns;
		s->power = e->power;
		s->queue_depth = e->queue_depth;
		s->queue_ns = e->queue_ns;
		s->temp_mc = e->temp_mc;
		s->thermal_state = e->thermal_state;
		s->cooling_state = e->cooling_state;
		memset(s->governor, 0, sizeof(s->governor));
		if (e->governor)
			snprintf(s->governor, sizeof(s->governor), "%s", e->governor);
		s->updated_ns = hal_now_ns();
		slot_write_end(s);
	}
	pthread_mutex_unlock(&W.lock);
}

void hal_telemetry_publish_devices(struct hal_device *const *devs, uint32_t n)
{
	if (!devs)
		return;
	pthread_mutex_lock(&W.lock);
	for (uint32_t i = 0; i < n; i++)
		if (devs[i])
			update_stats_locked(devs[i], &devs[i]->stats);
	pthread_mutex_unlock(&W.lock);
}

const char *hal_telem_path(void)
{
	return W.map && W.pid == getpid() ? W.path : "";
}

const char *hal_telem_error(void)
{
	return W.failed ? W.error : "";
}

/* ---- reader ------------------------------------------------------------------------------- */

/* Reads the file open at fd (path for errors only). See hal_telem_read_file. */
static int read_fd(int fd, struct hal_telem_proc *out)
{
	const struct hal_telem_file *f;
	struct stat st;
	int rc = 0, e = 0;

	memset(out, 0, sizeof(*out));
	if (fstat(fd, &st))
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)offsetof(struct hal_telem_file, slot)) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * The writer holds an exclusive lock for its whole life and publishes the file already
	 * locked: whoever can lock it found the file of a dead process.
	 */
	if (!flock(fd, LOCK_SH | LOCK_NB)) {
		flock(fd, LOCK_UN);
		errno = ESRCH;
		return -1;
	}
	if (errno != EWOULDBLOCK)
		return -1;
	f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		return -1;
	if (__atomic_load_n(&f->magic, __ATOMIC_ACQUIRE) != HAL_TELEM_MAGIC ||
	    f->version != HAL_TELEM_VERSION || f->header_size != offsetof(struct hal_telem_file, slot) ||
	    f->slot_size < sizeof(struct hal_telem_slot) || !f->n_slots ||
	    (uint64_t)f->header_size + (uint64_t)f->n_slots * f->slot_size > (uint64_t)st.st_size) {
		e = EINVAL;
		rc = -1;
		goto out;
	}
	out->pid = f->pid;
	memcpy(out->comm, f->comm, sizeof(out->comm));
	out->comm[sizeof(out->comm) - 1] = 0;
	for (uint32_t i = 0; i < f->n_slots && out->n_slots < HAL_TELEM_MAX_SLOTS; i++) {
		const struct hal_telem_slot *s = (const void *)((const char *)f + f->header_size +
								 (size_t)i * f->slot_size);
		struct hal_telem_slot *o = &out->slot[out->n_slots];

		if (slot_read(s, f->slot_size, o)) {
			e = EAGAIN;
			rc = -1;
			goto out;
		}
		if (o->kind == HAL_TELEM_KIND_NONE)
			continue;
		o->name[sizeof(o->name) - 1] = 0;
		o->node[sizeof(o->node) - 1] = 0;
		o->governor[sizeof(o->governor) - 1] = 0;
		out->n_slots++;
	}
out:
	munmap((void *)f, (size_t)st.st_size);
	if (rc)
		errno = e;
	return rc;
}

int hal_telem_read_file(const char *path, struct hal_telem_proc *out)
{
	/* without blocking: a FIFO planted at path fails in mmap instead of hanging the open */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc, e;

	if (fd < 0)
		return -1;
	rc = read_fd(fd, out);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Unlinks path if it is still the (dead) file open at fd, not one renamed over it since. */
static void remove_stale(const char *path, int fd)
{
	struct stat a, b;

	if (!fstat(fd, &a) && !stat(path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlink(path);
}

static bool stats_name(const char *name)
{
	size_t n = strspn(name, "0123456789");

	return n > 0 && !strcmp(name + n, ".stats");
}

static int scan_dir(const char *dir, struct hal_telem_proc *out, int max, bool clean)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	while ((de = readdir(d)) && n < max) {
		char path[HAL_RUNDIR_PATH_MAX + 300];
		int fd;

		if (!stats_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!read_fd(fd, &out[n]))
			n++;
		else if (errno == ESRCH && clean)
			remove_stale(path, fd);
		close(fd);
	}
	closedir(d);
	return n;
}

int hal_telem_scan(const char *dir, struct hal_telem_proc *out, int max, bool clean)
{
	char bases[2][HAL_RUNDIR_PATH_MAX], sub[HAL_RUNDIR_PATH_MAX + 8];
	int nb, n = 0, got = 0, err = 0;

	if (dir)
		return scan_dir(dir, out, max, clean);
	nb = hal_rundir_bases(bases, 2);
	for (int i = 0; i < nb; i++) {
		int k;

		if ((i > 0 && !strcmp(bases[i], bases[0])) || !hal_rundir_readable(bases[i]))
			continue;
		snprintf(sub, sizeof(sub), "%s/procs", bases[i]);
		k = scan_dir(sub, out + n, max - n, clean);
		if (k < 0) {
			err = errno;
			continue;
		}
		got++;
		n += k;
	}
	if (!got && err) {
		errno = err;
		return -1;
	}
	return n;
}
