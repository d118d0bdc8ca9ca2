/* SPDX-License-Identifier: MIT */
/*
 * npu_drm_genl.h - the kernel driver's telemetry over generic netlink (family "edge_npu",
 * uapi/edge_npu_genl.h), read through libnl-genl: per-device statistics (GET_STATS) and the
 * "events" multicast group.
 *
 * The parsers take a raw message and check everything in it against a policy (lengths of
 * fixed-size attributes exact, strings terminated, nested attributes inside their parent,
 * the message inside its buffer): a malformed message is an error with a reason, never a read
 * outside the buffer. Attributes a newer kernel adds are ignored; one this reader expects and
 * an older kernel lacks reads as absent (the have_* bits), except the device index, which is
 * required.
 *
 * Threads: a struct npu_genl is used by one thread at a time; distinct ones are independent.
 */
#ifndef EDGE_NPU_NPU_DRM_GENL_H
#define EDGE_NPU_NPU_DRM_GENL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi/edge_npu_genl.h"

/* One device's GET_STATS reply (units as in edge_npu_genl.h). */
struct npu_genl_stats {
	uint32_t device;
	char name[32];
	uint32_t engines;
	uint64_t busy_ns, cycles;
	uint64_t cur_freq_hz, min_freq_hz, max_freq_hz;
	uint64_t power_uw, energy_uj;
	uint32_t power_state;             /* enum edge_npu_power_state */
	uint32_t queue[EDGE_NPU_NUM_PRIORITIES]; /* low, normal, high */
	uint64_t jobs_completed, jobs_failed, jobs_reset;
	uint64_t mem_used;
	int32_t temp_mc;                  /* die temperature, m°C */
	uint32_t thermal_state;           /* enum edge_npu_thermal_state */
	uint32_t cooling_state;           /* devfreq cooling device state (0: not throttling) */
	uint64_t have;                    /* bit (1 << EDGE_NPU_A_*) for each attribute present */
};

/* One event of the "events" group; fields the event does not carry are 0. */
struct npu_genl_event {
	uint32_t device;
	uint32_t event;                   /* enum edge_npu_event */
	uint32_t engine;
	int32_t error;
	uint32_t pid;
	uint32_t power_state;
	uint32_t throttled;
	uint64_t old_freq_hz, cur_freq_hz, max_freq_hz;
	uint64_t jobs_reset;
	int32_t temp_mc;                  /* THERMAL_*: die temperature, m°C */
	uint32_t trip;                    /* THERMAL_TRIP: 0 passive, 1 critical */
	int32_t trip_temp_mc;             /* THERMAL_TRIP: the trip point, m°C */
	uint32_t crossed;                 /* THERMAL_TRIP: 1 rose to it, 0 fell below */
	uint32_t cooling_state;           /* THERMAL_THROTTLE */
	uint64_t have;
};

const char *npu_genl_event_name(uint32_t event);

/*
 * Parses one netlink message of len bytes at msg (a GET_STATS reply, or an EVENT). Returns 0,
 * or -EINVAL with the reason in err (NUL-terminated, at most err_len bytes).
 */
int npu_genl_parse_stats(const void *msg, size_t len, struct npu_genl_stats *out, char *err,
			 size_t err_len);
int npu_genl_parse_event(const void *msg, size_t len, struct npu_genl_event *out, char *err,
			 size_t err_len);

struct npu_genl;

/*
 * Connects to the family. Returns 0, -ENOENT when it is not registered (edge_npu.ko not
 * loaded), or another -errno; err says why.
 */
int npu_genl_open(struct npu_genl **out, char *err, size_t err_len);
void npu_genl_close(struct npu_genl *g);

/* Every device's statistics (a dump): the number stored in out (at most max) or -errno. */
int npu_genl_get_stats(struct npu_genl *g, struct npu_genl_stats *out, int max, char *err,
		       size_t err_len);

/* Joins the "events" group (once); after it, npu_genl_read_event() receives them. */
int npu_genl_subscribe(struct npu_genl *g, char *err, size_t err_len);
/* The events socket's fd, for poll() (-1 before npu_genl_subscribe). */
int npu_genl_event_fd(const struct npu_genl *g);
/*
 * The next event, waiting up to timeout_ms (< 0: forever). Returns 1 with *ev, 0 on timeout,
 * or -errno (a malformed event is -EINVAL with the reason in err).
 */
int npu_genl_read_event(struct npu_genl *g, struct npu_genl_event *ev, int timeout_ms,
			char *err, size_t err_len);

#endif
