/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * edge_npu_genl.h - the edge_npu generic-netlink family: device telemetry and events.
 *
 * Family "edge_npu" (version 1), resolved by name through the generic-netlink controller.
 * Every message has the generic-netlink header and no family header; attributes are the
 * EDGE_NPU_A_* below, validated by the kernel against a strict policy (an unknown or
 * malformed attribute in a request, or a non-zero genlmsghdr.reserved, is refused with -EINVAL
 * and an extended ack).
 *
 * Commands:
 *   EDGE_NPU_CMD_GET_STATS  request: no attribute (NLM_F_DUMP: every device) or
 *                           EDGE_NPU_A_DEVICE (that device; -ENODEV if none). Reply: one
 *                           message per device with the statistics attributes.
 *                           Unprivileged, except EDGE_NPU_A_POWER_UW and
 *                           EDGE_NPU_A_ENERGY_UJ: only a CAP_SYS_ADMIN requester gets them.
 *   EDGE_NPU_CMD_EVENT      notification only, on the multicast group "events" (joining it
 *                           needs CAP_SYS_ADMIN: events name other users' pids and errors):
 *                           EDGE_NPU_A_DEVICE, EDGE_NPU_A_EVENT and the attributes the event
 *                           lists below.
 *
 * Counters are cumulative since the device was probed. u64 attributes are 64-bit aligned
 * (nla_put_u64_64bit, EDGE_NPU_A_PAD).
 */
#ifndef EDGE_NPU_GENL_H
#define EDGE_NPU_GENL_H

#define EDGE_NPU_GENL_NAME "edge_npu"
#define EDGE_NPU_GENL_VERSION 1
#define EDGE_NPU_GENL_MCGRP_EVENTS "events"

enum edge_npu_genl_cmd {
	EDGE_NPU_CMD_UNSPEC,
	EDGE_NPU_CMD_GET_STATS,
	EDGE_NPU_CMD_EVENT,
	__EDGE_NPU_CMD_MAX,
};
#define EDGE_NPU_CMD_MAX (__EDGE_NPU_CMD_MAX - 1)

/**
 * enum edge_npu_genl_attr - attributes of GET_STATS replies and events.
 * @EDGE_NPU_A_DEVICE: u32, the device index N of platform device edge-npu.N.
 * @EDGE_NPU_A_DEV_NAME: string, "edge-npu.N".
 * @EDGE_NPU_A_ENGINES: u32, hardware queues of the device.
 * @EDGE_NPU_A_BUSY_NS: u64, wall time the engines spent running jobs (summed over engines).
 * @EDGE_NPU_A_CYCLES: u64, modeled engine cycles.
 * @EDGE_NPU_A_CUR_FREQ_HZ: u64, the clock the engines run at.
 * @EDGE_NPU_A_MIN_FREQ_HZ: u64, the lowest clock devfreq may choose now (min_freq bound).
 * @EDGE_NPU_A_MAX_FREQ_HZ: u64, the highest clock devfreq may choose now (max_freq bound).
 * @EDGE_NPU_A_POWER_UW: u64, modeled power of the last job while it ran (energy / modeled
 *	time), microwatts; 0 before the first job. CAP_SYS_ADMIN only.
 * @EDGE_NPU_A_ENERGY_UJ: u64, modeled energy of all jobs, microjoules. CAP_SYS_ADMIN only
 *	(a power side channel across users, as RAPL's energy_uj).
 * @EDGE_NPU_A_POWER_STATE: u32, an &enum edge_npu_power_state.
 * @EDGE_NPU_A_QUEUE: nested: one u32 per priority, attribute type = EDGE_NPU_QUEUE_* ; jobs
 *	submitted at that priority and not finished.
 * @EDGE_NPU_A_JOBS_COMPLETED: u64, jobs completed successfully.
 * @EDGE_NPU_A_JOBS_FAILED: u64, jobs completed with an error (including timeouts).
 * @EDGE_NPU_A_JOBS_RESET: u64, engine resets after a job timeout.
 * @EDGE_NPU_A_MEM_USED: u64, bytes of live buffer objects.
 * @EDGE_NPU_A_EVENT: u32, an &enum edge_npu_event (events only).
 * @EDGE_NPU_A_ENGINE: u32, the engine an event happened on.
 * @EDGE_NPU_A_ERROR: s32, the job's error (negative errno) of a JOB_FAULT.
 * @EDGE_NPU_A_PID: u32, the thread-group id of the process that submitted the job.
 * @EDGE_NPU_A_OLD_FREQ_HZ: u64, FREQ_CHANGE: the clock before.
 * @EDGE_NPU_A_THROTTLED: u32, THROTTLE: 1 when the max_freq bound starts holding back a busy
 *	device, 0 when it stops.
 * @EDGE_NPU_A_PAD: padding for 64-bit attributes.
 * @EDGE_NPU_A_TEMP_MC: s32, die temperature in m°C (the hottest engine; the device's thermal
 *	zone reads the same). In GET_STATS replies and thermal events.
 * @EDGE_NPU_A_TRIP: u32, THERMAL_TRIP: the trip point's index in the thermal zone (0 passive,
 *	1 critical).
 * @EDGE_NPU_A_TRIP_TEMP_MC: s32, THERMAL_TRIP: that trip point's temperature, m°C.
 * @EDGE_NPU_A_CROSSED: u32, THERMAL_TRIP: 1 when the temperature rose to the trip point, 0
 *	when it fell below it again (by the trip's hysteresis).
 * @EDGE_NPU_A_COOLING_STATE: u32, THERMAL_THROTTLE: the devfreq cooling device's state (0: no
 *	limit; n: the n-th highest operating point is the cap), and in GET_STATS replies.
 * @EDGE_NPU_A_THERMAL_STATE: u32, GET_STATS: an &enum edge_npu_thermal_state.
 */
enum edge_npu_genl_attr {
	EDGE_NPU_A_UNSPEC,
	EDGE_NPU_A_DEVICE,
	EDGE_NPU_A_DEV_NAME,
	EDGE_NPU_A_ENGINES,
	EDGE_NPU_A_BUSY_NS,
	EDGE_NPU_A_CYCLES,
	EDGE_NPU_A_CUR_FREQ_HZ,
	EDGE_NPU_A_MIN_FREQ_HZ,
	EDGE_NPU_A_MAX_FREQ_HZ,
	EDGE_NPU_A_POWER_UW,
	EDGE_NPU_A_ENERGY_UJ,
	EDGE_NPU_A_POWER_STATE,
	EDGE_NPU_A_QUEUE,
	EDGE_NPU_A_JOBS_COMPLETED,
	EDGE_NPU_A_JOBS_FAILED,
	EDGE_NPU_A_JOBS_RESET,
	EDGE_NPU_A_MEM_USED,
	EDGE_NPU_A_EVENT,
	EDGE_NPU_A_ENGINE,
	EDGE_NPU_A_ERROR,
	EDGE_NPU_A_PID,
	EDGE_NPU_A_OLD_FREQ_HZ,
	EDGE_NPU_A_THROTTLED,
	EDGE_NPU_A_PAD,
	EDGE_NPU_A_TEMP_MC,
	EDGE_NPU_A_TRIP,
	EDGE_NPU_A_TRIP_TEMP_MC,
	EDGE_NPU_A_CROSSED,
	EDGE_NPU_A_COOLING_STATE,
	EDGE_NPU_A_THERMAL_STATE,
	__EDGE_NPU_A_MAX,
};
#define EDGE_NPU_A_MAX (__EDGE_NPU_A_MAX - 1)

/* Attribute types inside EDGE_NPU_A_QUEUE: the context priorities of edge_npu_drm.h, + 1. */
enum edge_npu_genl_queue {
	EDGE_NPU_QUEUE_UNSPEC,
	EDGE_NPU_QUEUE_LOW,
	EDGE_NPU_QUEUE_NORMAL,
	EDGE_NPU_QUEUE_HIGH,
	__EDGE_NPU_QUEUE_MAX,
};
#define EDGE_NPU_QUEUE_MAX (__EDGE_NPU_QUEUE_MAX - 1)
#define EDGE_NPU_NUM_PRIORITIES (__EDGE_NPU_QUEUE_MAX - 1)

enum edge_npu_power_state {
	EDGE_NPU_POWER_OFF = 0, /* runtime-suspended: engines off, SRAM contents lost */
	EDGE_NPU_POWER_ON = 1,
};

/**
 * enum edge_npu_event - what EDGE_NPU_A_EVENT reports.
 * @EDGE_NPU_EVENT_JOB_FAULT: a job failed; ENGINE, ERROR, PID.
 * @EDGE_NPU_EVENT_JOB_TIMEOUT: a job ran longer than job_timeout_ms; ENGINE, PID.
 * @EDGE_NPU_EVENT_ENGINE_RESET: an engine was reset after a timeout; ENGINE, JOBS_RESET.
 * @EDGE_NPU_EVENT_POWER_STATE: the device powered on or off; POWER_STATE.
 * @EDGE_NPU_EVENT_FREQ_CHANGE: the engines' clock changed; OLD_FREQ_HZ, CUR_FREQ_HZ.
 * @EDGE_NPU_EVENT_THROTTLE: the max_freq bound started or stopped holding back a busy device;
 *	THROTTLED, CUR_FREQ_HZ, MAX_FREQ_HZ.
 * @EDGE_NPU_EVENT_THERMAL_TRIP: the die temperature crossed a trip point of the device's
 *	thermal zone; TEMP_MC, TRIP, TRIP_TEMP_MC, CROSSED.
 * @EDGE_NPU_EVENT_THERMAL_THROTTLE: the thermal governor started (cooling state from 0 to
 *	more) or stopped (back to 0) capping the clock through the devfreq cooling device;
 *	THROTTLED, COOLING_STATE, TEMP_MC, MAX_FREQ_HZ (the cap in force).
 */
enum edge_npu_event {
	EDGE_NPU_EVENT_JOB_FAULT = 1,
	EDGE_NPU_EVENT_JOB_TIMEOUT = 2,
	EDGE_NPU_EVENT_ENGINE_RESET = 3,
	EDGE_NPU_EVENT_POWER_STATE = 4,
	EDGE_NPU_EVENT_FREQ_CHANGE = 5,
	EDGE_NPU_EVENT_THROTTLE = 6,
	EDGE_NPU_EVENT_THERMAL_TRIP = 7,
	EDGE_NPU_EVENT_THERMAL_THROTTLE = 8,
};

/**
 * enum edge_npu_thermal_state - where the die is against its thermal zone's trip points.
 * @EDGE_NPU_THERMAL_NORMAL: below the passive trip (or no thermal zone).
 * @EDGE_NPU_THERMAL_PASSIVE: at or above the passive trip: the governor caps the clock.
 * @EDGE_NPU_THERMAL_CRITICAL: at or above the critical trip: the silicon itself also runs at
 *	its lowest clock once its own limit (THERM_CRIT_MC) is reached.
 */
enum edge_npu_thermal_state {
	EDGE_NPU_THERMAL_NORMAL = 0,
	EDGE_NPU_THERMAL_PASSIVE = 1,
	EDGE_NPU_THERMAL_CRITICAL = 2,
};

#endif
