/* SPDX-License-Identifier: MIT */
/*
 * view_curses.c - the live view: the devices with a busy bar, the processes using them, and
 * keys that sort, filter and change the interval. A key redraws at once from the same two
 * samples; a new sample is taken when the interval passes without one.
 */
#include <curses.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "view.h"

static const char *const sort_names[SORT_COUNT] = { "engine", "pid", "memory", "jobs", "name" };

/* The device filter the f key cycles through: the devices on screen, then -d (or all). */
static struct {
	int idx;              /* the device of the current sample, -1: the command line's */
	char buf[40];
	const char *user;     /* -d */
} filter_cycle = { .idx = -1 };

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
	if (b >= 1ull << 30)
		strf(buf, len, "%.1fG", (double)b / (1ull << 30));
	else if (b >= 1ull << 20)
		strf(buf, len, "%.1fM", (double)b / (1ull << 20));
	else if (b >= 1ull << 10)
		strf(buf, len, "%.1fK", (double)b / (1ull << 10));
	else
		strf(buf, len, "%" PRIu64, b);
}

static void line(int *row, int attr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One screen line at *row (then the next), cut to the width; nothing below the screen. */
static void line(int *row, int attr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (*row >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (attr)
		attron(attr);
	mvaddnstr(*row, 0, buf, COLS);
	clrtoeol();
	if (attr)
		attroff(attr);
	(*row)++;
}

static void bar(char *buf, int width, double pct)
{
	int fill = (int)lround(pct / 100.0 * width);

	buf[0] = '[';
	for (int i = 0; i < width; i++)
		buf[1 + i] = i < fill ? '#' : ' ';
	buf[width + 1] = ']';
	buf[width + 2] = 0;
}

static void draw_dev(int *row, const struct dev_view *v)
{
	const struct dev *d = v->d;
	char b[64], freq[32], pw[16], en[16], jr[16];

	bar(b, 20, v->busy_pct);
	if (d->cur_hz)
		strf(freq, sizeof(freq), "%" PRIu64 "/%" PRIu64, d->cur_hz / 1000000,
		     d->max_hz / 1000000);
	else
		strf(freq, sizeof(freq), "-");
	strf(pw, sizeof(pw), v->has_power ? "%.2f" : "-", v->power_mw);
	strf(en, sizeof(en), d->has_energy ? "%.3f" : "-", (double)d->energy_pj / 1e9);
	strf(jr, sizeof(jr), v->has_jobs_rate ? "%.0f" : "-", v->jobs_per_s);
	line(row, 0, "%-12.12s %-4s %-10s %6s %-22s %11s %-15.15s %-6s %9s %10s %8s %5s",
	     d->id, d->kind, d->source, "", b, freq, d->governor[0] ? d->governor : "-",
	     v->power[0] ? v->power : "-", pw, en, jr, "-");
	/* the percentage over the bar's first cells, so that it reads as "45.2 [###  ]" */
	if (*row - 1 < LINES && v->has_busy) {
		strf(b, sizeof(b), "%6.1f", v->busy_pct);
		mvaddnstr(*row - 1, 29, b, COLS - 29 > 0 ? COLS - 29 : 0);
	}
}

static void draw_client(int *row, const struct client_view *v)
{
	const struct client *c = v->c;
	char b[64], jr[16];

	fmt_bytes(b, sizeof(b), c->mem_bytes);
	strf(jr, sizeof(jr), v->has_jobs_rate ? "%.0f" : "-", v->jobs_per_s);
	line(row, 0, "%-8ld %-16s %-12.12s %8.1f %9s %9s %-6s", c->pid, c->comm, c->dev,
	     v->busy_pct, b, jr, c->source);
}

static void draw(const struct sample *prev, const struct sample *cur)
{
	static struct dev_view dv[MAX_DEVS];
	static struct client_view cv[MAX_CLIENTS];
	int nd = make_dev_views(prev, cur, dv), nc = make_client_views(prev, cur, cv), row = 0;
	char why[256];
	const char *empty = why_empty(cur, why, sizeof(why));

	erase();
	line(&row, A_BOLD, "npu-top - %d device%s, %d client%s   interval %.1fs   sort: %s%s   "
	     "filter: %s%s", nd, nd == 1 ? "" : "s", nc, nc == 1 ? "" : "s", opt.interval,
	     sort_names[opt.sort], opt.reverse ? " (rev)" : "",
	     opt.dev_filter ? opt.dev_filter : "all", opt.hide_idle ? "   idle hidden" : "");
	line(&row, 0, "%s", "");
	line(&row, A_REVERSE, "%-12s %-4s %-10s %6s %-22s %11s %-15s %-6s %9s %10s %8s %5s",
	     "DEVICE", "KIND", "SOURCE", "BUSY%", "", "FREQ MHz", "GOVERNOR", "STATE", "POWER mW",
	     "ENERGY mJ", "JOBS/s", "TEMP");
	for (int i = 0; i < nd; i++)
		draw_dev(&row, &dv[i]);
	if (empty)
		line(&row, A_BOLD, "%s", empty);
	line(&row, 0, "%s", "");
	line(&row, A_REVERSE, "%-8s %-16s %-12s %8s %9s %9s %-6s", "PID", "NAME", "DEVICE",
	     "ENGINE%", "MEMORY", "JOBS/s", "SOURCE");
	for (int i = 0; i < nc && row < LINES - 1; i++)
		draw_client(&row, &cv[i]);
	if (cur->unreadable && !empty)
		line(&row, 0, "(%d processes not inspectable: permission denied)", cur->unreadable);
	row = LINES - 1;
	line(&row, A_REVERSE, "q quit  e/p/m/j/n sort engine/pid/memory/jobs/name  r reverse  "
	     "f device filter  i hide idle  +/- interval");
	refresh();
}

/* f: the next device of cur, after the last one the command line's filter (or all) again. */
static void next_filter(const struct sample *cur)
{
	filter_cycle.idx++;
	if (filter_cycle.idx >= cur->n_devs) {
		filter_cycle.idx = -1;
		opt.dev_filter = filter_cycle.user;
	} else {
		strf(filter_cycle.buf, sizeof(filter_cycle.buf), "%s",
		     cur->devs[filter_cycle.idx].id);
		opt.dev_filter = filter_cycle.buf;
	}
}

static void on_key(int ch, const struct sample *cur)
{
	switch (ch) {
	case 'q':
	case 'Q':
		stop = 1;
		break;
	case 'e':
		opt.sort = SORT_ENGINE;
		break;
	case 'p':
		opt.sort = SORT_PID;
		break;
	case 'm':
		opt.sort = SORT_MEM;
		break;
	case 'j':
		opt.sort = SORT_JOBS;
		break;
	case 'n':
		opt.sort = SORT_NAME;
		break;
	case 'r':
		opt.reverse = !opt.reverse;
		break;
	case 'i':
		opt.hide_idle = !opt.hide_idle;
		break;
	case '+':
		opt.interval = opt.interval * 2 > 10 ? 10 : opt.interval * 2;
		break;
	case '-':
		opt.interval = opt.interval / 2 < 0.1 ? 0.1 : opt.interval / 2;
		break;
	case 'f':
		next_filter(cur);
		break;
	default:
		break;
	}
}

/* The curses screen on the terminal: NULL (said on stderr) when there is none to use. */
static SCREEN *open_screen(void)
{
	SCREEN *scr;

	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
		fprintf(stderr, "npu-top: not a terminal; use -J (one JSON snapshot) or -l (JSON "
			"lines)\n");
		return NULL;
	}
	setlocale(LC_ALL, "");
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, "npu-top: cannot use terminal type '%s'; use -J or -l\n",
			getenv("TERM") ? getenv("TERM") : "(unset)");
		return NULL;
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	return scr;
}

int run_curses(void)
{
	static struct sample a, b;
	struct sample *prev = &a, *cur = &b, *t;
	SCREEN *scr = open_screen();

	if (!scr)
		return 2;
	filter_cycle.user = opt.dev_filter;
	take_sample(prev);
	/* a short first interval so that the screen has rates at once */
	napms(200);
	while (!stop) {
		int ch;

		take_sample(cur);
		draw(prev, cur);
		timeout((int)(opt.interval * 1000));
		ch = getch();
		on_key(ch, cur);
		if (ch != ERR)
			continue; /* a key: redraw at once with the same pair of samples */
		t = prev;
		prev = cur;
		cur = t;
	}
	endwin();
	delscreen(scr);
	return 0;
}
