/* SPDX-License-Identifier: MIT */
/*
 * telemetry.h - per-process device statistics in shared memory, for npu-top.
 *
 * A device that runs in process (the in-process NPU, the CPU and OpenCL backends) has no
 * kernel driver to export its counters through fdinfo or netlink. Instead each process that
 * uses such a device publishes them in one small file, mapped shared:
 *
 *   ${ENPU_SYSFS_DIR:-$XDG_RUNTIME_DIR/edge-npu}/procs/<pid>.stats
 *   (without XDG_RUNTIME_DIR: /tmp/edge-npu-<uid>/procs/<pid>.stats)
 *
 * the same directory scheme as the in-process NPU's devfreq files (hal/rundir.h). Another
 * process (npu-top) maps it read-only and reads a consistent snapshot at any moment without
 * stopping or signalling the writer.
 *
 * Layout (struct hal_telem_file, little-endian host order, 4096 bytes): a versioned header
 * and HAL_TELEM_MAX_SLOTS device slots. Each slot is a seqlock: the writer makes slot.seq odd,
 * writes the fields, makes it even again; a reader copies the slot and retries while seq was
 * odd or changed. Readers check magic, version and the header's sizes and ignore files they do
 * not understand. Fields only grow at the end of a slot (slot_size says how far).
 *
 * Liveness: the writer holds an exclusive flock() on the file for as long as it publishes; the
 * file appears by rename() only once locked. A reader that can take the lock has found the
 * file of a dead process: hal_telem_scan() then unlinks it (a stale file is ignored and
 * cleaned, never shown).
 *
 * Writers: a device takes a slot with hal_telem_attach() and updates it with
 * hal_telem_update_stats() (the HAL's struct hal_device_stats: any device) and/or
 * hal_telem_update_engine() (what a device with its own engine knows: jobs, cycles, clock,
 * power state). All writer calls are thread-safe and never fail loudly: telemetry must not
 * stop a computation, so without a writable directory they do nothing (hal_telem_error()
 * says why). hal_telemetry_publish_devices() is the one call a context makes after running
 * work on its devices.
 */
#ifndef EDGE_NPU_HAL_TELEMETRY_H
#define EDGE_NPU_HAL_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hal/hal.h"

#define HAL_TELEM_MAGIC 0x4d4c45545550454eull /* "ENPUTELM" */
#define HAL_TELEM_VERSION 1
#define HAL_TELEM_MAX_SLOTS 12
#define HAL_TELEM_FILE_SIZE 4096

/* What a slot's device is; npu-top groups and labels by it. */
enum hal_telem_kind {
	HAL_TELEM_KIND_NONE = 0, /* free slot */
	HAL_TELEM_KIND_CPU = 1,
	HAL_TELEM_KIND_GPU = 2,
	HAL_TELEM_KIND_NPU = 3,
};

/* Power state of a device with an engine (HAL_TELEM_F_ENGINE). */
enum hal_telem_power {
	HAL_TELEM_POWER_UNKNOWN = 0,
	HAL_TELEM_POWER_OFF = 1,
	HAL_TELEM_POWER_IDLE = 2,
	HAL_TELEM_POWER_ACTIVE = 3,
};

/* Where the die is against the device's passive trip (the values of edge_npu_thermal_state). */
enum hal_telem_thermal {
	HAL_TELEM_THERMAL_NORMAL = 0,
	HAL_TELEM_THERMAL_PASSIVE = 1, /* at or above the passive trip: the clock is capped */
	HAL_TELEM_THERMAL_CRITICAL = 2,
};

/* hal_telem_slot.flags */
#define HAL_TELEM_F_ENGINE (1u << 0) /* the engine fields below are published */

/*
 * One device of the process (256 bytes). Counters are cumulative since the device was
 * created and never decrease while the slot keeps its generation; times are CLOCK_MONOTONIC
 * (one clock for every process of the machine).
 */
struct hal_telem_slot {
	uint32_t seq;         /* seqlock: odd while the writer is inside */
	uint32_t generation;  /* changes when the slot is given to another device */
	uint32_t kind;        /* enum hal_telem_kind */
	uint32_t flags;       /* HAL_TELEM_F_* */
	char name[16];        /* backend name: "cpu", "gpu", "npu", ... */
	char node[32];        /* the device's system name: "npu0" (its devfreq directory) */
	uint64_t updated_ns;  /* when the writer last published */
	/* struct hal_device_stats, as the HAL keeps it (host view) */
	uint64_t ops;
	uint64_t busy_ns;     /* host time inside run() */
	uint64_t bytes_copied;
	uint64_t modeled_ns;
	uint64_t modeled_energy_pj;
	/* the engine's view (HAL_TELEM_F_ENGINE) */
	uint64_t engine_busy_ns; /* host time the engine executed jobs */
	uint64_t jobs;           /* jobs completed */
	uint64_t jobs_failed;    /* refused by the validator, stalled */
	uint64_t resets;
	uint64_t cycles;         /* modeled cycles */
	uint64_t energy_pj;      /* modeled energy */
	uint64_t cur_freq_hz, min_freq_hz, max_freq_hz;
	uint64_t mem_bytes;      /* device-owned memory (converted weights, buffers) */
	uint64_t last_job_ns;    /* end of the last job */
	uint32_t power;          /* enum hal_telem_power */
	uint32_t queue_depth;    /* jobs waiting or running */
	char governor[24];
	/*
	 * The integral of queue_depth over time (jobs x ns): its delta over an interval is the
	 * average depth, which a sample of queue_depth alone misses when jobs run one at a time
	 * (0 after each retire, the moment the slot is written most).
	 */
	uint64_t queue_ns;
	uint32_t temp_mc;        /* the device's die temperature, milli-degrees C; 0 unknown */
	uint32_t thermal_state;  /* enum hal_telem_thermal */
	uint32_t cooling_state;  /* the thermal governor caps the clock this many OPPs down */
	uint8_t reserved[256 - 252];
};

struct hal_telem_file {
	uint64_t magic;        /* HAL_TELEM_MAGIC */
	uint32_t version;      /* HAL_TELEM_VERSION */
	uint32_t header_size;  /* offsetof(struct hal_telem_file, slot) */
	uint32_t slot_size;    /* sizeof(struct hal_telem_slot) */
	uint32_t n_slots;      /* HAL_TELEM_MAX_SLOTS */
	int32_t pid;
	uint32_t reserved0;
	uint64_t start_ns;     /* CLOCK_MONOTONIC when the file was created */
	char comm[16];         /* the process name, as /proc/<pid>/comm */
	uint8_t reserved[64 - 56];
	struct hal_telem_slot slot[HAL_TELEM_MAX_SLOTS];
};

_Static_assert(sizeof(struct hal_telem_slot) == 256, "slot layout");
_Static_assert(sizeof(struct hal_telem_file) <= HAL_TELEM_FILE_SIZE, "file layout");

/* ---- writer ------------------------------------------------------------------------------- */

/*
 * A slot for dev (kind, backend name, optional system node name such as "npu0"): the file is
 * created on first use. Returns the slot index, or -1 when telemetry is unavailable (no
 * writable directory, all slots taken); a device simply does not appear then. A device that
 * calls it again gets the slot it already has.
 */
int hal_telem_attach(const struct hal_device *dev, enum hal_telem_kind kind, const char *node);
/* Frees dev's slot; the file is removed with the last slot. No-op for an unknown device. */
void hal_telem_detach(const struct hal_device *dev);
/* Publishes dev->stats into its slot (attaching it, kind from its name, if needed). */
void hal_telem_update_stats(const struct hal_device *dev, const struct hal_device_stats *st);

/* The engine's view of a device, published by the device itself (see the slot's fields). */
struct hal_telem_engine {
	uint64_t engine_busy_ns, jobs, jobs_failed, resets, cycles, energy_pj;
	uint64_t cur_freq_hz, min_freq_hz, max_freq_hz, mem_bytes, last_job_ns;
	enum hal_telem_power power;
	uint32_t queue_depth;
	uint64_t queue_ns;
	uint32_t temp_mc;
	uint32_t thermal_state, cooling_state;
	const char *governor;
};
void hal_telem_update_engine(const struct hal_device *dev, const struct hal_telem_engine *e);

/*
 * Publishes the HAL statistics of a context's devices: what a session calls after each
 * evaluation. Thread-safe; cheap (a lock and a few stores per device).
 */
void hal_telemetry_publish_devices(struct hal_device *const *devs, uint32_t n);

/* The file this process publishes in ("" if none yet) and why there is none, if so. */
const char *hal_telem_path(void);
const char *hal_telem_error(void);

/* ---- reader ------------------------------------------------------------------------------- */

/* One process's published devices, as read at one moment. */
struct hal_telem_proc {
	pid_t pid;
	char comm[16];
	uint32_t n_slots;                          /* used entries of slot[] */
	struct hal_telem_slot slot[HAL_TELEM_MAX_SLOTS]; /* consistent copies of the live slots */
};

/*
 * Reads one file (by path). Returns 0; -1 with errno ENOENT (gone), EINVAL (not a telemetry
 * file of a version this reader knows), ESRCH (its writer is dead: the caller may unlink it),
 * EAGAIN (the writer was inside a slot for too long), or an open/mmap error.
 */
int hal_telem_read_file(const char *path, struct hal_telem_proc *out);

/*
 * Reads every live process's file in dir (NULL: <base>/procs of every hal_rundir_bases()).
 * Files of dead processes are unlinked when clean is true. Returns the number of processes
 * stored in out (at most max; 0 when no directory exists: no process ever published), or -1
 * with errno when a directory exists but cannot be read.
 */
int hal_telem_scan(const char *dir, struct hal_telem_proc *out, int max, bool clean);

#endif
