/* SPDX-License-Identifier: MIT */
/* graph.c - npu-top's per-device history and its one-line graphs (graph.h). */
#include <math.h>
#include <string.h>

#include "graph.h"

/* This sample's value of metric m for v's device, NAN when the device does not have it. */
static float metric_value(const struct dev_view *v, enum metric m)
{
	const struct dev *d = v->d;

	switch (m) {
	case M_BUSY: return v->has_busy ? (float)v->busy_pct : NAN;
	case M_CLOCK: return d->cur_hz ? (float)(d->cur_hz / 1e6) : NAN;
	case M_POWER: return v->has_power ? (float)v->power_mw : NAN;
	case M_TEMP: return d->temp_mc ? (float)(d->temp_mc / 1e3) : NAN;
	default: return NAN;
	}
}

const struct history *history_find(const struct history *h, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(h[i].id, id))
			return &h[i];
	return NULL;
}

void history_push(struct history *h, int *n, int max, const struct dev_view *v)
{
	struct history *x = (struct history *)history_find(h, *n, v->d->id);

	if (!x) {
		if (*n == max)
			return;
		x = &h[(*n)++];
		memset(x, 0, sizeof(*x));
		strf(x->id, sizeof(x->id), "%s", v->d->id);
	}
	for (int m = 0; m < M_COUNT; m++) {
		x->v[m][x->head] = metric_value(v, (enum metric)m);
		x->have[m] |= !isnan(x->v[m][x->head]);
	}
	x->head = (x->head + 1) % HIST_LEN;
	if (x->n < HIST_LEN)
		x->n++;
}

void history_prune(struct history *h, int *n, const struct sample *cur)
{
	for (int i = 0; i < *n;) {
		if (find_dev(cur, h[i].id)) {
			i++;
			continue;
		}
		/* a process that ended takes its history with it: npu@PID is never reused soon */
		memmove(&h[i], &h[i + 1], sizeof(*h) * (size_t)(*n - i - 1));
		(*n)--;
	}
}

double history_max(const struct history *h, enum metric m)
{
	double mx = 0;

	for (int i = 0; i < h->n; i++) {
		float x = h->v[m][(h->head - 1 - i + HIST_LEN) % HIST_LEN];

		if (!isnan(x) && x > mx)
			mx = x;
	}
	return mx;
}

/* The k-th newest sample (0: the newest), NAN beyond the history. */
static float newest(const struct history *h, enum metric m, int k)
{
	if (k >= h->n)
		return NAN;
	return h->v[m][(h->head - 1 - k + 2 * HIST_LEN) % HIST_LEN];
}

/* x in [0, max] as 0..levels; anything above 0 shows as 1 at least, so that work is seen. */
static int level(float x, double max, int levels)
{
	if (isnan(x) || x <= 0 || max <= 0)
		return 0;
	int l = (int)lround(x / max * levels);

	return l < 1 ? 1 : l > levels ? levels : l;
}

static size_t put_utf8(char *out, unsigned int cp)
{
	/* the glyphs used here are all in U+0800..U+FFFF: three bytes */
	out[0] = (char)(0xe0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/* Braille dots filled from the bottom, 0..4 of the left and of the right column. */
static unsigned int braille(int left, int right)
{
	static const unsigned int l[5] = { 0, 0x40, 0x44, 0x46, 0x47 };
	static const unsigned int r[5] = { 0, 0x80, 0xa0, 0xb0, 0xb8 };

	return 0x2800 + l[left] + r[right];
}

void graph_render(const struct history *h, enum metric m, double max, int width,
		  enum graph_style style, bool ascii, char *out, size_t len)
{
	static const char ramp[] = " .:-=+*#%@";
	size_t o = 0;

	if (len < (size_t)width * 3 + 1)
		width = (int)((len - 1) / 3);
	/* column c (0: leftmost) shows the samples width - 1 - c (and more, in braille) ago */
	for (int c = 0; c < width; c++) {
		int age = width - 1 - c;

		if (ascii) {
			out[o++] = ramp[level(newest(h, m, age), max, 9)];
		} else if (style == GRAPH_BRAILLE) {
			float older = newest(h, m, 2 * age + 1), newer = newest(h, m, 2 * age);

			if (isnan(older) && isnan(newer))
				out[o++] = ' ';
			else
				o += put_utf8(out + o, braille(level(older, max, 4),
							       level(newer, max, 4)));
		} else {
			int l = level(newest(h, m, age), max, 8);

			if (l == 0)
				out[o++] = ' ';
			else
				o += put_utf8(out + o, 0x2580 + (unsigned int)l);
		}
	}
	out[o] = '\0';
}
