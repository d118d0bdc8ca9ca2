/* SPDX-License-Identifier: MIT */
/*
 * graph.h - the per-device history npu-top draws (busy, clock, power, temperature) and the
 * one-line graphs it draws it as, the way nvtop and intel_gpu_top do: the newest sample at
 * the right, one sample a column in blocks (▁▂▃▄▅▆▇█) or two a column in braille dots (four
 * levels each), or ASCII where the terminal's locale is not UTF-8.
 */
#ifndef NPU_TOP_GRAPH_H
#define NPU_TOP_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "view.h"

enum metric { M_BUSY, M_CLOCK, M_POWER, M_TEMP, M_COUNT };

enum graph_style { GRAPH_BLOCKS, GRAPH_BRAILLE, GRAPH_OFF, GRAPH_STYLES };

#define HIST_LEN 512 /* samples kept per device: wider than any screen, in braille too */

/* One device's history: a ring of the last HIST_LEN samples of each metric. */
struct history {
	char id[40];
	int n;                    /* samples in the ring, up to HIST_LEN */
	int head;                 /* where the next one goes */
	bool have[M_COUNT];       /* whether the device has ever had the metric */
	float v[M_COUNT][HIST_LEN];
};

/*
 * The history of v's device in h[0..*n) (found by id, else added; a device gone from the
 * sample keeps its slot until history_prune), with this sample's values appended.
 */
void history_push(struct history *h, int *n, int max, const struct dev_view *v);
/*
 * Drops the histories of devices gone from the sample cur (one filtered out by -d or f keeps
 * its history, without samples while it is hidden).
 */
void history_prune(struct history *h, int *n, const struct sample *cur);
const struct history *history_find(const struct history *h, int n, const char *id);

/*
 * The last samples of metric m in h as a graph `width` columns wide (the newest at the right,
 * blank where there is no history yet), scaled to [0, max], into out (UTF-8 unless ascii;
 * out must hold 3 * width + 1 bytes). Values above max are drawn full.
 */
void graph_render(const struct history *h, enum metric m, double max, int width,
		  enum graph_style style, bool ascii, char *out, size_t len);

/* The largest value of metric m in h's ring (0 when empty): the scale of power's graph. */
double history_max(const struct history *h, enum metric m);

#endif
