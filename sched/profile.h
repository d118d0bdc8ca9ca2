/* SPDX-License-Identifier: MIT */
/*
 * profile.h - device profiles: what the scheduler knows of a virtual SoC's devices (profile.c).
 *
 * A profile is a plain-text file per SoC (the format is documented in sched/profiles/README.md):
 * its memory, power budget, and per device the ops and weight types it runs, how fast, at which
 * operating points, and what it burns computing, idle and suspended. The cost model (cost.h)
 * turns it into per-op time and energy.
 *
 * Units inside: seconds, joules, watts, bytes, hertz, volts (doubles). Profiles are written in
 * the units engineers quote (MHz, mV, mW, us, GB/s, pJ/byte); the parser converts.
 */
#ifndef EDGE_NPU_SCHED_PROFILE_H
#define EDGE_NPU_SCHED_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sched/common.h"

#define SCHED_MAX_OPPS 16
#define SCHED_PROF_NAME 32

struct sched_opp {
	double freq_hz;
	double volt;
};

struct sched_dev_profile {
	char name[SCHED_PROF_NAME];
	enum hal_device_class cls; /* the HAL's class: host devices of it run the ops placed here */
	uint32_t op_mask;   /* bit (1 << hal_op_kind): ops it runs */
	uint32_t type_mask; /* bit (1 << hal_type): matmul weight types it runs */
	double rate[HAL_OP_COUNT];       /* arithmetic ops per cycle, per op kind */
	double type_scale[HAL_TYPE_COUNT]; /* matmul rate multiplier per weight type (1) */
	double bw;                       /* bytes/s it can draw from memory alone */
	uint32_t n_opp;                  /* operating points, lowest frequency first */
	struct sched_opp opp[SCHED_MAX_OPPS];
	double cap_f;          /* switched capacitance: dynamic power C*V^2*f while computing */
	double stall_activity; /* fraction of that power burnt while waiting for memory */
	double leak_w;         /* leakage at the top OPP's voltage; scales with V */
	double idle_w;         /* powered, clock-gated, nothing queued (includes leakage) */
	double suspend_w;      /* in its low-power state */
	double wake_s;         /* suspended -> ready */
	double autosuspend_s;  /* idle time after which runtime PM suspends it */
	double launch_s;       /* per-op dispatch overhead */
	double sync_s;         /* fence hand-off when a tensor crosses to/from another device */
	double requant_bps;    /* int8 boundary: bytes/s of (de)quantizing a crossing tensor; 0 */
	/*
	 * 1 + the index of the device whose cores it computes on (an OpenCL CPU device such as
	 * PoCL beside the CPU backend): the two never compute at the same time. 0: its own
	 * hardware (so that a zeroed profile means independent devices).
	 */
	uint32_t shares_cores;
	uint32_t line;         /* where the device was declared (messages) */
};

struct sched_profile {
	char name[SCHED_PROF_NAME];
	char description[160];
	char path[256];
	bool unified;           /* one memory for all devices: crossing costs sync only */
	double mem_bw;          /* shared memory bandwidth, bytes/s (contention across devices) */
	double copy_bw;         /* bytes/s of a copy between devices when memory is not unified */
	double dram_j_per_byte; /* energy of moving one byte to or from memory */
	double budget_w;        /* power budget (the supply's; the thermal path may allow less) */
	/*
	 * The SoC's thermal path (all devices heat one die), a first-order RC to ambient as the
	 * NPU silicon models it (kmod/silicon/npu_thermal.h): 0 thermal_r_kw: none. The power it
	 * sustains below the passive trip is (passive_c - ambient_c) / thermal_r_kw
	 * (sched_power_sustained_w()).
	 */
	double thermal_r_kw;    /* K/W, junction to ambient */
	double thermal_c_jk;    /* J/K, heat capacity */
	double ambient_c;       /* °C */
	double passive_c;       /* °C, the thermal governor's passive trip */
	uint32_t n_dev;
	struct sched_dev_profile dev[SCHED_MAX_DEVS];
};

/*
 * Parses a profile from text; fname names it in messages ("phone.prof:12: unknown key
 * 'bandwdith'"). Every device must declare at least one OPP, a class and a rate for each op it
 * runs. Returns SCHED_OK or SCHED_ERR_INVALID with err set.
 */
enum sched_status sched_profile_parse(const char *text, const char *fname,
				      struct sched_profile *out, char *err, size_t err_len);
enum sched_status sched_profile_load(const char *path, struct sched_profile *out, char *err,
				     size_t err_len);
/*
 * Finds a profile by name ("phone", "mw", "host": <name>.prof in $ENPU_PROFILE_DIR, then
 * the copy of sched/profiles compiled into the library, then the installed data dir) or by
 * path (anything with a '/' or ending in ".prof").
 */
enum sched_status sched_profile_find(const char *name_or_path, struct sched_profile *out,
				     char *err, size_t err_len);
/* Writes p in the file format (calibration output); 0, or -1 with err naming the file. */
int sched_profile_write(const struct sched_profile *p, const char *path, char *err,
			size_t err_len);
/*
 * The same with notes (lines, '\n'-separated) written as comments under the header line.
 * Both write a temporary beside path and rename it into place, refusing a path that is a
 * symlink, FIFO or device (hal/files.h).
 */
int sched_profile_write_notes(const struct sched_profile *p, const char *path,
			      const char *notes, char *err, size_t err_len);

#endif
