/* SPDX-License-Identifier: MIT */
/*
 * view.h - what npu-top shows: rows derived from two samples (rates over the interval, busy %
 * = delta busy / delta t, clamped, as intel_gpu_top does), filtered and sorted by the options
 * (view_rows.c), and the two views that print them: one JSON object per snapshot
 * (view_json.c) and the curses live view (view_curses.c).
 */
#ifndef NPU_TOP_VIEW_H
#define NPU_TOP_VIEW_H

#include <signal.h>
#include <stdio.h>

#include "sample.h"

/* What the output shows for a device or client: rates between two samples. */
struct dev_view {
	const struct dev *d;
	double busy_pct, power_mw, jobs_per_s;
	bool has_busy, has_power, has_jobs_rate;
	double queue_avg;  /* the average queue depth over the interval */
	bool has_queue_avg;
	const char *power; /* power state over the interval */
};

struct client_view {
	const struct client *c;
	double busy_pct, jobs_per_s;
	bool has_jobs_rate;
};

/* Set by SIGINT/SIGTERM (main.c) and the q key: the views stop at their next sample. */
extern volatile sig_atomic_t stop;

/*
 * The rows of cur's devices (out: MAX_DEVS) and clients (out: MAX_CLIENTS) that pass the
 * device filter, with rates against prev; clients sorted by opt.sort. Returns the count. The
 * rows point into cur.
 */
int make_dev_views(const struct sample *prev, const struct sample *cur, struct dev_view *out);
int make_client_views(const struct sample *prev, const struct sample *cur,
		      struct client_view *out);
/* Why there is nothing to show (into buf), or NULL. */
const char *why_empty(const struct sample *s, char *buf, size_t len);

/*
 * JSON snapshots on stdout, one sample interval apart: one (once), else one a line until
 * count lines (count < 0: until stopped). 0, or 1 when stdout fails.
 */
int run_json(bool once, long count);

/* The live view until q or a signal: 0, or 2 without a usable terminal. */
int run_curses(void);

/*
 * --set DEV KNOB=VALUE...: each devfreq write in turn (admin.c); the exit status: 0, 1 at the
 * first refusal (said on stderr, as the kernel's EINVAL), 2 for a malformed assignment.
 */
int run_set(const char *dev, char *const *assignments, int n);

#endif
