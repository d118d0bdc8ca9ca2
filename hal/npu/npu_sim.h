/* SPDX-License-Identifier: MIT */
/*
 * npu_sim.h - the in-process NPU ("npu" backend): the simulated silicon's device model
 * (kmod/silicon/npu_device.c, the same one the kernel module drives) behind the HAL vtable,
 * programmed through its registers and command ring as the kernel driver programs it.
 *
 * The device is a queue: run() builds a command stream for one HAL op, submits it as a job
 * {stream, buffers} and waits on the job's fence. Submission applies the DVFS policy (npu_sysfs
 * below; the CLOCK register), writes the job's descriptor into the ring and rings the
 * doorbell; the device model runs the job in slices on its own thread and raises its
 * interrupt, whose handler folds the job's counters into telemetry and signals the fence (an
 * eventfd, so that an application can poll() it with its other file descriptors).
 *
 * What runs on the device (supports()): MATMUL with Q8_0/Q4_0 weights, F32 activations in and
 * out, N and K multiples of 32. The activations are quantized to Q8B on the host before the
 * job and the I32B result is dequantized after it (the partition boundary), inside run(), so
 * the op's measured time includes them; the modeled time and energy are the engine's only.
 * Every other op (EMBED, RMSNORM, ROPE, ATTENTION, SWIGLU, ADD) runs on the CPU: see
 * npu_sim.c for why SWIGLU and ADD, which the ISA could express in int8, are not offered.
 *
 * This header is internal (tests and the registry); applications see the device only through
 * the public API and the sysfs-shaped directory.
 */
#ifndef EDGE_NPU_NPU_SIM_H
#define EDGE_NPU_NPU_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kmod/silicon/npu_engine.h"
#include "kmod/silicon/npu_thermal.h"

/* The registry entry (hal/backends.c). */
extern const struct hal_backend hal_backend_npu_sim;

struct npu_sim_options {
	uint32_t caps; /* NPU_CAP_* of the engine (tests: NPU_CAP_DEBUG for stalls) */
	/*
	 * Pace each job to its modeled duration at the operating point it runs at, times this
	 * factor (the device's SIM_PACE register, as edge_npu.ko's pace parameter; see
	 * kmod/silicon/npu_regs.h): 0 off (host speed, the default, so tests run fast), 1 real
	 * time, N a device slowed N times, so that wall and busy time follow DVFS as the modeled
	 * time does even where the host computes a job more slowly than the silicon would. The
	 * environment variable ENPU_NPU_PACE=N sets it for every in-process NPU it is 0 for.
	 */
	uint32_t pace;
	/*
	 * The die's thermal path (kmod/silicon/npu_thermal.h; NULL: the silicon's default, 250 K/W,
	 * 0.4 J/K, 35 C) and the passive trip of the device's step-wise thermal governor, m°C
	 * (0: 60000), which caps the clock one operating point per 100 ms while the die is at or
	 * above it, and lifts the cap once it is 2 K below.
	 */
	const struct npu_thermal_params *thermal;
	int32_t passive_mc;
};

/*
 * Creates the device: the engine at its power-on state, the worker thread, and the DVFS
 * directory (npu_sysfs_open). Fails only when threads or memory are missing, or when no
 * runtime directory at all is writable; err says why.
 */
enum hal_status npu_sim_create(const struct npu_sim_options *opts, struct hal_device **out_dev,
			       char *err, size_t err_len);

/* ---- jobs and fences (internal API; run() is built on it) --------------------------------- */

/*
 * A job's completion. Signalled exactly once by the worker; stays signalled. Reference
 * counted: the submitter holds one reference and drops it with npu_fence_put().
 */
struct npu_fence;

/*
 * Queues a job: stream (copied; the caller may free it on return) over bufs (the list is
 * copied; the memory it names must stay valid until the fence signals). Validation happens in
 * the worker, as in the kernel's scheduler: a bad stream still gets a fence, which signals
 * with an error. Returns HAL_ERR_NOMEM, HAL_ERR_DEVICE (device shutting down, no eventfd), or
 * HAL_OK with *out_fence.
 */
enum hal_status npu_sim_submit(struct hal_device *dev, const void *stream, size_t len,
			       const struct npu_buffer *bufs, uint32_t nbufs,
			       struct npu_fence **out_fence);

/* The fence's eventfd: readable (POLLIN) once signalled. Do not read or close it. */
int npu_fence_fd(const struct npu_fence *f);
/* The job's sequence number on its device (1 for the first job; increasing). */
uint64_t npu_fence_seqno(const struct npu_fence *f);
/* Whether the fence has signalled (never blocks). */
bool npu_fence_signalled(const struct npu_fence *f);
/*
 * Waits up to timeout_ms (< 0: forever) for the fence. Returns HAL_OK once signalled (whatever
 * the job's result), HAL_ERR_DEVICE on timeout (the fence stays usable).
 */
enum hal_status npu_fence_wait(struct npu_fence *f, int timeout_ms);
/*
 * The result of a signalled job: HAL_OK, or HAL_ERR_DEVICE when the engine refused the stream
 * (nothing executed) or stalled (the engine was reset). st and js (either may be NULL) get the
 * engine's verdict and the job's counters. HAL_ERR_INVALID if the fence has not signalled.
 */
enum hal_status npu_fence_result(const struct npu_fence *f, struct npu_status *st,
				 struct npu_job_stats *js);
void npu_fence_put(struct npu_fence *f);

/* ---- telemetry and operating point -------------------------------------------------------- */

/* The engine's cumulative counters (consistent: read between jobs). */
void npu_sim_counters(struct hal_device *dev, struct npu_counters *out);
/* Index into npu_opp_table of the operating point the last job ran at (or will run at). */
uint32_t npu_sim_opp(struct hal_device *dev);
/*
 * Tests: frozen, the device's thread stops before its next slice or interrupt, as a worker that
 * stalls would; a run() waiting for it then fails after NPU_SIM_STALL_MS without progress and
 * the device is lost (every later run() fails at once; not on a paced device, whose held jobs
 * show no progress either). Unfrozen, the thread goes on and ends
 * the abandoned job, so that the device can be destroyed.
 */
void npu_sim_debug_freeze(struct hal_device *dev, bool frozen);
/* How long the device may show no progress (no slice, no job ended) before it is lost. */
#define NPU_SIM_STALL_MS 3000
/* The device's DVFS directory, "" when it has none. */
const char *npu_sim_sysfs_path(struct hal_device *dev);

/* ---- the sysfs-shaped DVFS directory (npu_sysfs.c) ---------------------------------------- */

/*
 * Where: ${ENPU_SYSFS_DIR:-${XDG_RUNTIME_DIR}/edge-npu}/devfreq/npu<N>/, or, without
 * XDG_RUNTIME_DIR, /tmp/edge-npu-<uid>/devfreq/npu<N>/. Each device instance leases the first
 * npu<N> whose "owner" file no live process holds locked (flock, held for the device's
 * life: a directory left by a dead process is simply reused, a live one is never shared), so
 * the first NPU user on a machine is always npu0. Knob files already present in a reused
 * directory are kept: an administrator writes them before starting the program.
 *
 * Files, in the kernel's devfreq names and units (Hz):
 *   governor               rw  performance | powersave | userspace | simple_ondemand
 *   available_governors    r
 *   min_freq, max_freq     rw  bounds in Hz within available_frequencies' range (0: none);
 *                              the device uses the OPPs within them
 *   userspace/set_freq     rw  the userspace governor's request, in that range
 *   cur_freq, target_freq  r   the operating point of the last job
 *   available_frequencies  r   the OPP table, lowest first, space-separated
 *   trans_stat             r   the kernel's transition table and time in state (ms, wall clock)
 *   stats                  r   the engine's counters, "name value" per line
 *   last_error             r   the last rejected knob write, "" if none
 *   owner, name            r   the leasing pid; "npu-sim"
 * Where FUSE can be mounted, the directory is served through it (npu_fuse.c) and a write that
 * fails hal_devfreq_check (hal.h) fails in the writer with EINVAL, as with sysfs. Otherwise
 * the files are plain files, which cannot fail a write: a knob that fails the check is
 * ignored, the file rewritten with the value in force, and the reason goes to last_error and
 * stderr (`npu-top --set` checks before it writes, so that its writer hears of it).
 */
enum npu_governor {
	NPU_GOV_PERFORMANCE,
	NPU_GOV_POWERSAVE,
	NPU_GOV_USERSPACE,
	NPU_GOV_ONDEMAND,
	NPU_GOV_COUNT
};

struct npu_sysfs {
	int dirfd;  /* the device directory, -1 when there is none */
	int lockfd; /* the flock'ed "owner" file */
	int leasefd; /* the flock'ed ".npu<N>.lock" beside the directory (npu_sysfs.c's lease) */
	int inofd;  /* inotify on the knobs, -1: re-read them before every job */
	bool dirty; /* knobs changed since last read */
	char path[512];
	/* the knobs in force */
	enum npu_governor gov;
	uint64_t min_hz, max_hz, set_hz;
	/* the scheduler's wish for the next jobs (hal freq_hint; 0 none), set from any thread */
	uint64_t hint_hz;
	/* state and statistics */
	uint32_t opp;
	uint32_t trans[NPU_NUM_OPPS][NPU_NUM_OPPS];
	uint64_t total_trans;
	uint64_t state_ns[NPU_NUM_OPPS];
	uint64_t state_since_ns;
	uint64_t stats_written_ns;
	/* simple_ondemand: busy time in the current sampling window */
	uint64_t win_start_ns, win_busy_ns;
	char last_error[256];
	void *fuse; /* npu_fuse_serve's mount over path, NULL: the plain files */
	/* the thermal governor (npu_sysfs_thermal): step-wise on the die's TEMP_MC */
	int32_t temp_mc, passive_mc;
	uint32_t cooling_state;      /* the clock is capped this many OPPs below the top */
	uint64_t therm_poll_ns;      /* its last poll */
	uint64_t throttled_ns;       /* time spent with a cap (cumulative) */
};

/*
 * The directory at path (dirfd: the same, opened before) served through FUSE from a thread of
 * this process, so that a refused knob write fails with EINVAL in the writer (npu_fuse.c).
 * Returns a handle, or NULL when FUSE cannot be used here or ENPU_DEVFREQ_FUSE=0: the files
 * stay plain files. Built only with libfuse3 (ENPU_HAVE_FUSE); without it, always NULL.
 */
#ifdef ENPU_HAVE_FUSE
void *npu_fuse_serve(const char *path, int dirfd);
/* Unmounts and frees what npu_fuse_serve returned (NULL: nothing). */
void npu_fuse_stop(void *handle);
/*
 * Detaches a dead mount at path (ENOTCONN: its process died and the unmount that auto_unmount
 * asks of fusermount3 did not happen), so that npu<N> can be leased again: 0, or -1.
 */
int npu_fuse_detach_dead(const char *path);
#else
static inline void *npu_fuse_serve(const char *path, int dirfd)
{
	(void)path, (void)dirfd;
	return NULL; /* a build without libfuse3: the plain files, checked as they are read */
}
static inline void npu_fuse_stop(void *handle)
{
	(void)handle;
}
static inline int npu_fuse_detach_dead(const char *path)
{
	(void)path;
	return -1; /* no FUSE here: nothing of ours can be mounted */
}
#endif

/*
 * Leases and fills the directory; opp is the engine's current operating point. A directory
 * that cannot be used (not writable, not ours) is reported on stderr and the next candidate is
 * tried: the override or $XDG_RUNTIME_DIR/edge-npu, then /tmp/edge-npu-<uid>. Returns 0, or -1
 * with err saying why when none is writable.
 */
int npu_sysfs_open(struct npu_sysfs *s, uint32_t opp, char *err, size_t err_len);
/*
 * The thermal governor's poll (at most every 100 ms; before each job): the die at temp_mc
 * against the passive trip moves the cooling state, which caps npu_sysfs_pick_opp; the
 * "thermal" status file says where it is. Returns the cooling state.
 */
uint32_t npu_sysfs_thermal(struct npu_sysfs *s, int32_t temp_mc, uint64_t now_ns);
/* The operating point the next job should run at (re-reads the knobs when they changed). */
uint32_t npu_sysfs_pick_opp(struct npu_sysfs *s, uint64_t now_ns);
/* Records that the engine now runs at opp (a transition when it differs). */
void npu_sysfs_set_opp(struct npu_sysfs *s, uint32_t opp, uint64_t now_ns);
/* After a job: busy time for ondemand; refreshes "stats" (at most every 100 ms unless force). */
void npu_sysfs_job_done(struct npu_sysfs *s, uint64_t busy_ns, const struct npu_counters *c,
			uint64_t now_ns, bool force);
void npu_sysfs_close(struct npu_sysfs *s);
const char *npu_governor_name(enum npu_governor g);

/*
 * The simulated silicon as a cost model sees it (the engine's model at its default hardware):
 * what calibration writes into a profile's npu device, since that device's time is modeled,
 * not measured.
 */
struct npu_sim_figures {
	uint32_t n_opp;
	double freq_hz[NPU_NUM_OPPS], volt[NPU_NUM_OPPS]; /* operating points, lowest first */
	double macs_per_cycle;      /* the MAC array */
	double dram_bytes_per_s;
	double job_overhead_cycles; /* a job's fixed cost */
	double mac_j;               /* energy of one MAC at nominal_v */
	double nominal_v;
};

void npu_sim_figures(struct npu_sim_figures *out);

#endif
