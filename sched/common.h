/* SPDX-License-Identifier: MIT */
/*
 * common.h - what every module of the scheduler shares: the status its fallible calls return
 * (with a message in the caller's err buffer beside it) and the bound on devices. Its own
 * header because profiles, the cost model and the partitioner know nothing of the graph IR,
 * and the dispatcher nothing of profiles, yet a device index means the same in all of them.
 */
#ifndef EDGE_NPU_SCHED_COMMON_H
#define EDGE_NPU_SCHED_COMMON_H

enum sched_status {
	SCHED_OK = 0,
	SCHED_ERR_INVALID = -1, /* bad input: a missing or misshapen weight, a bad profile line */
	SCHED_ERR_NOMEM = -2,
	SCHED_ERR_DEVICE = -3,  /* a device failed to run an op */
	SCHED_ERR_CANCELLED = -4, /* the caller cancelled the run (sched_run_options.cancel) */
};

/* Devices of one profile, of one dispatcher: every per-device array has this many entries. */
#define SCHED_MAX_DEVS 8

#endif
