/* SPDX-License-Identifier: MIT */
/*
 * sample.h - npu-top's model: one sample of every edge-npu device and of the processes using
 * them, taken from all the sources at one moment. The views (view.h) turn two samples into
 * rates.
 *
 * Sources, each filling in what it knows (source_*.c):
 *  - kernel devices: /sys/bus/platform/devices/edge-npu.N/npu/ (power state, jobs, cycles,
 *    energy), /sys/class/devfreq/edge-npu.N/ (frequency, governor) and the driver's
 *    generic-netlink GET_STATS (busy time, queue depths; hal/npu_drm/npu_drm_genl.h);
 *  - in-process NPUs: their devfreq-shaped directories <runtime>/devfreq/npuN/ (leased by a
 *    live process) and the per-process statistics files <runtime>/procs/<pid>.stats
 *    (hal/telemetry.h), which also carry the CPU and GPU backends of every process;
 *  - clients of DRM devices: /proc/<pid>/fdinfo/<fd> of every fd that is a DRM character
 *    device (render major 226 or accel major 261) with drm-driver keys, de-duplicated by
 *    (device, drm-client-id) so that a file shared by dup() or fork() counts once.
 * A source that finds nothing (no device, an unreadable process) adds nothing: never fatal.
 */
#ifndef NPU_TOP_SAMPLE_H
#define NPU_TOP_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_DEVS 32
#define MAX_CLIENTS 256

struct dev {
	/*
	 * "edge-npu.0" (kernel), "npu@1234" (the in-process NPU of process 1234: the name stays
	 * the device's while the process lives, where npuN is reused by the next process),
	 * "cpu", "gpu" (every process's share of its backend)
	 */
	char id[40];
	char node[16];        /* the in-process NPU's devfreq directory: "npu0" ("" otherwise) */
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
	bool has_cur_hz, has_min_hz, has_max_hz; /* the device has a clock (devfreq) */
	uint64_t cur_hz, min_hz, max_hz;
	char governor[32];    /* "" none */
	char power[16];       /* on, off, active, idle, "" unknown */
	uint64_t mem_bytes;
	unsigned int queue;   /* jobs waiting or running when sampled */
	bool has_queue_ns;
	uint64_t queue_ns;    /* the integral of the queue depth (jobs x ns), for its average */
	uint32_t temp_mc;     /* die temperature, milli-degrees C; 0: unknown */
	bool has_thermal;     /* the thermal state below is known */
	uint32_t thermal_state; /* enum hal_telem_thermal (= edge_npu_thermal_state) */
	uint32_t cooling_state; /* the thermal governor caps the clock this many OPPs down */
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

/* ---- options (main.c) --------------------------------------------------------------------- */

enum sort_key { SORT_ENGINE, SORT_PID, SORT_MEM, SORT_JOBS, SORT_NAME, SORT_COUNT };

struct options {
	double interval;
	const char *dev_filter;
	enum sort_key sort;
	bool reverse;
	bool hide_idle;
	bool mono;            /* -m, NO_COLOR, TERM=dumb: no colour, attributes only */
	const char *sysfs;    /* root of sysfs: $ENPU_SYSFS_ROOT (tests: a fake tree) or /sys */
	const char *proc;
};

/* The command line's, changed by the live view's keys. */
extern struct options opt;

/* ---- the sample (sample.c) ---------------------------------------------------------------- */

/* Fills s from every source and stamps it (CLOCK_MONOTONIC). */
void take_sample(struct sample *s);
/* The device of that id, added (zeroed but for the id) when new; NULL when s is full. */
struct dev *add_dev(struct sample *s, const char *id);
/* A new zeroed client row; NULL when s is full. */
struct client *add_client(struct sample *s);
/* Lookups by id and key, NULL when absent; non-const like strchr, for the sources. */
struct dev *find_dev(const struct sample *s, const char *id);
/* "normal", "passive" (the clock is capped), "critical": a struct dev's thermal_state. */
const char *thermal_name(uint32_t thermal_state);
const struct client *find_client(const struct sample *s, const char *key);

/* ---- the sources, in the order take_sample() runs them ------------------------------------ */

void scan_kernel(struct sample *s);      /* source_kernel.c: sysfs and devfreq */
void scan_genl(struct sample *s);        /* source_kernel.c: the driver's own busy time */
void scan_sim_devfreq(struct sample *s); /* source_procs.c: in-process NPUs */
void scan_fdinfo(struct sample *s);      /* source_fdinfo.c: DRM clients */
void scan_shm(struct sample *s);         /* source_procs.c: per-process statistics files */

/*
 * The devfreq directory of the live in-process NPU id ("npu@PID" or its node "npuN") into out:
 * 0, or -1 when no live process has it.
 */
int find_sim_devfreq(const char *id, char *out, size_t len);

/* ---- reading small files (sysfile.c) ------------------------------------------------------ */

/* snprintf that cuts silently: a path that does not fit names no file, a label is shortened. */
char *strf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The whole (small) file, trailing white space cut: 0, or -1 when it cannot be read. */
int read_text(const char *path, char *buf, size_t len);
/* A file holding a decimal number: false when missing or not a number. */
bool read_u64(const char *path, uint64_t *out);

#endif
