/* SPDX-License-Identifier: MIT */
/*
 * view_curses.c - the live view: per device a line of figures and its history as graphs
 * (busy, clock, power, temperature), then the processes using the devices; keys sort, filter,
 * change the interval and the graphs, and h or ? lists them all. A key redraws at once from
 * the same two samples; a new sample is taken when the interval since the last one has passed,
 * keys or not.
 *
 * Nothing is cut at any width: a device's figures flow onto as many lines as the terminal
 * needs (at 80 columns, two), and the graphs take the width that is left. Colour where the
 * terminal has it, attributes alone with -m, NO_COLOR or TERM=dumb.
 */
#include <curses.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "graph.h"
#include "hal/hal.h"
#include "view.h"

static const char *const sort_names[SORT_COUNT] = { "engine", "pid", "memory", "jobs", "name" };

/* The device filter the f key cycles through: the devices on screen, then -d (or all). */
static struct {
	int idx;              /* the device of the current sample, -1: the command line's */
	char buf[40];
	const char *user;     /* -d */
} filter_cycle = { .idx = -1 };

/* What the screen looks like, changed by keys. */
static struct {
	enum graph_style graph;
	bool colour;          /* the terminal has colours and the user did not say no */
	bool ascii;           /* the locale is not UTF-8, or a dumb terminal: ASCII graphs */
	bool help;            /* the help screen is up */
	/*
	 * TERM=dumb: no cursor to move, so curses draws into a screen of its own (written to
	 * /dev/null) and each frame is printed from it as plain lines, one frame an interval.
	 */
	FILE *dumb_out;
	/*
	 * ... so cbreak() and noecho() set /dev/null's terminal, not the one keys come from:
	 * npu-top turns off line buffering and echo on stdin itself, and restores this at exit.
	 */
	struct termios dumb_saved;
	bool dumb_tty_set;
} ui;

enum { C_HEAD = 1, C_BUSY, C_CLOCK, C_POWER, C_TEMP, C_LOW, C_MID, C_HIGH };

static struct history hist[MAX_DEVS];
static int n_hist;

/* An attribute: the colour pair where colour is on, else the monochrome fallback. */
static int attr(int pair, int mono)
{
	return ui.colour ? (int)COLOR_PAIR(pair) : mono;
}

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

static void line(int *row, int attrs, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One screen line at *row (then the next); nothing below the screen. */
static void line(int *row, int attrs, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (*row >= LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (attrs)
		attron(attrs);
	mvaddnstr(*row, 0, buf, COLS);
	clrtoeol();
	if (attrs)
		attroff(attrs);
	(*row)++;
}

/*
 * Fields laid out like words in a paragraph: each "name value" whole on a line, the next line
 * (indented) when the next field does not fit. This is how a device's figures fit 80 columns
 * without a column cut, and spread over one line at 200.
 */
struct flow {
	int *row, col, indent, attrs;
	bool started;
};

static void flow_field(struct flow *f, int attrs, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void flow_field(struct flow *f, int attrs, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	int w = (int)strlen(buf);

	if (f->started && f->col + 3 + w > COLS) {
		(*f->row)++;
		f->col = f->indent;
	} else if (f->started) {
		f->col += 3;
	}
	f->started = true;
	if (*f->row >= LINES)
		return;
	attron(attrs | f->attrs);
	mvaddnstr(*f->row, f->col, buf, COLS - f->col > 0 ? COLS - f->col : 0);
	attroff(attrs | f->attrs);
	f->col += w;
}

static void flow_end(struct flow *f)
{
	if (f->started)
		(*f->row)++;
	f->started = false;
}

/* The colour of a busy percentage, as a traffic light. */
static int busy_attr(double pct)
{
	return pct >= 80 ? attr(C_HIGH, A_BOLD) : pct >= 40 ? attr(C_MID, 0) : attr(C_LOW, 0);
}

/* A device's figures: id and node in bold, then every figure it has. */
static void draw_dev_figures(int *row, const struct dev_view *v)
{
	const struct dev *d = v->d;
	struct flow f = { .row = row, .indent = 2 };

	flow_field(&f, A_BOLD | attr(C_HEAD, 0), "%s", d->id);
	if (d->node[0])
		flow_field(&f, 0, "(%s)", d->node);
	flow_field(&f, 0, "%s %s %s", d->kind, d->source, d->driver);
	if (v->has_busy)
		flow_field(&f, busy_attr(v->busy_pct), "busy %5.1f%%", v->busy_pct);
	if (d->cur_hz)
		flow_field(&f, 0, "clock %" PRIu64 "/%" PRIu64 " MHz", d->cur_hz / 1000000,
			   d->max_hz / 1000000);
	if (d->governor[0])
		flow_field(&f, 0, "gov %s", d->governor);
	if (v->power && v->power[0])
		flow_field(&f, 0, "state %s", v->power);
	if (v->has_power)
		flow_field(&f, 0, "power %.2f mW", v->power_mw);
	if (d->has_energy)
		flow_field(&f, 0, "energy %.3f mJ", (double)d->energy_pj / 1e9);
	if (d->temp_mc)
		flow_field(&f, 0, "temp %.1f C", d->temp_mc / 1e3);
	if (d->has_thermal && (d->thermal_state || d->cooling_state))
		flow_field(&f, C_TEMP, "%s, throttled %u step%s",
			   thermal_name(d->thermal_state), d->cooling_state,
			   d->cooling_state == 1 ? "" : "s");
	if (v->has_jobs_rate)
		flow_field(&f, 0, "jobs/s %.0f", v->jobs_per_s);
	if (v->has_queue_avg)
		flow_field(&f, 0, "queue %.2f (now %u)", v->queue_avg, d->queue);
	else if (d->queue || !strcmp(d->source, "kernel"))
		flow_field(&f, 0, "queue %u", d->queue);
	if (d->mem_bytes) {
		char b[16];

		fmt_bytes(b, sizeof(b), d->mem_bytes);
		flow_field(&f, 0, "mem %s", b);
	}
	flow_end(&f);
}

/* One graph line: "  busy   61.2 % " then the history over the rest of the width. */
static void draw_graph(int *row, const struct history *h, const struct dev_view *v,
		       enum metric m)
{
	static const char *const names[M_COUNT] = { "busy", "clock", "power", "temp" };
	static const int pairs[M_COUNT] = { C_BUSY, C_CLOCK, C_POWER, C_TEMP };
	const struct dev *d = v->d;
	char label[40], g[3 * 512 + 1];
	double max;

	switch (m) {
	case M_BUSY:
		max = 100;
		strf(label, sizeof(label), "%5.1f %%", v->has_busy ? v->busy_pct : 0.0);
		break;
	case M_CLOCK:
		max = d->max_hz ? d->max_hz / 1e6 : history_max(h, m);
		strf(label, sizeof(label), "%5" PRIu64 " MHz", d->cur_hz / 1000000);
		break;
	case M_POWER:
		/* no fixed ceiling: the largest in the window, as intel_gpu_top scales power */
		max = history_max(h, m);
		strf(label, sizeof(label), "%5.1f mW", v->has_power ? v->power_mw : 0.0);
		break;
	default:
		max = fmax(100.0, history_max(h, m));
		strf(label, sizeof(label), "%5.1f C", d->temp_mc / 1e3);
		break;
	}
	const int lead = 2 + 6 + 10 + 1; /* indent, name, value, space */
	int width = COLS - lead - 1;
	if (*row >= LINES || width < 8)
		return;
	if (width > 512)
		width = 512;
	graph_render(h, m, max, width, ui.graph, ui.ascii, g, sizeof(g));
	mvprintw(*row, 0, "  %-5s %9s ", names[m], label);
	attron(attr(pairs[m], A_BOLD));
	mvaddstr(*row, lead, g);
	attroff(attr(pairs[m], A_BOLD));
	clrtoeol();
	(*row)++;
}

static void draw_dev(int *row, const struct dev_view *v)
{
	const struct history *h = history_find(hist, n_hist, v->d->id);

	draw_dev_figures(row, v);
	for (int m = 0; h && ui.graph != GRAPH_OFF && m < M_COUNT; m++)
		if (h->have[m])
			draw_graph(row, h, v, (enum metric)m);
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

/* Every key, as the help screen lists them: one table for the screen and the keys. */
static const struct {
	const char *keys, *what;
} key_help[] = {
	{ "q Q", "quit" },
	{ "h ?", "this help (any key closes it)" },
	{ "e", "sort the processes by engine %" },
	{ "p", "sort by pid" },
	{ "m", "sort by memory" },
	{ "j", "sort by jobs per second" },
	{ "n", "sort by name" },
	{ "r", "reverse the sort" },
	{ "f", "filter: the next device, then all (or -d) again" },
	{ "i", "hide idle processes (or show them again)" },
	{ "g", "graphs: blocks, braille (two samples a column), off" },
	{ "c", "colour on or off" },
	{ "+ -", "interval twice or half as long (0.05 .. 3600 s, as -s)" },
};

static void draw_help(void)
{
	int row = 0;

	erase();
	line(&row, A_BOLD, "npu-top keys");
	line(&row, 0, "%s", "");
	for (size_t i = 0; i < sizeof(key_help) / sizeof(key_help[0]); i++)
		line(&row, 0, "  %-5s %s", key_help[i].keys, key_help[i].what);
	line(&row, 0, "%s", "");
	line(&row, 0, "Busy %% is delta busy time over delta wall time (per engine); power is");
	line(&row, 0, "modeled; queue is the average number of jobs waiting or running.");
	refresh();
}

static void draw_header(int *row, int nd, int nc)
{
	struct flow f = { .row = row, .indent = 2 };

	flow_field(&f, A_BOLD, "npu-top - %d device%s, %d client%s", nd, nd == 1 ? "" : "s", nc,
		   nc == 1 ? "" : "s");
	flow_field(&f, 0, "interval %gs", opt.interval);
	flow_field(&f, 0, "sort: %s%s", sort_names[opt.sort], opt.reverse ? " (rev)" : "");
	flow_field(&f, 0, "filter: %s", opt.dev_filter ? opt.dev_filter : "all");
	if (opt.hide_idle)
		flow_field(&f, 0, "idle hidden");
	flow_end(&f);
}

static void draw(const struct sample *prev, const struct sample *cur, bool fresh)
{
	static struct dev_view dv[MAX_DEVS];
	static struct client_view cv[MAX_CLIENTS];
	int nd = make_dev_views(prev, cur, dv), nc = make_client_views(prev, cur, cv), row = 0;
	char why[256];
	const char *empty = why_empty(cur, why, sizeof(why));

	if (fresh) { /* a new sample, not a key's redraw: the graphs move */
		for (int i = 0; i < nd; i++)
			history_push(hist, &n_hist, MAX_DEVS, &dv[i]);
		history_prune(hist, &n_hist, cur);
	}
	if (ui.help) {
		draw_help();
		return;
	}
	erase();
	draw_header(&row, nd, nc);
	line(&row, A_REVERSE, "%-*s", COLS, "DEVICES");
	for (int i = 0; i < nd && row < LINES - 4; i++)
		draw_dev(&row, &dv[i]);
	if (empty)
		line(&row, A_BOLD, "%s", empty);
	line(&row, A_REVERSE, "%-8s %-16s %-12s %8s %9s %9s %-6s", "PID", "NAME", "DEVICE",
	     "ENGINE%", "MEMORY", "JOBS/s", "SOURCE");
	for (int i = 0; i < nc && row < LINES - 1; i++)
		draw_client(&row, &cv[i]);
	if (cur->unreadable && !empty)
		line(&row, 0, "(%d processes not inspectable: permission denied)", cur->unreadable);
	row = LINES - 1;
	static const char full[] = "q quit  h help  e/p/m/j/n sort  r reverse  f filter  "
				   "i idle  g graphs  c colour  +/- interval";
	line(&row, A_REVERSE, "%-*s", COLS, COLS >= (int)sizeof(full) - 1 ? full :
	     "q quit  h or ? help (every key)");
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

/* The range of -s (main.c), which + and - keep to. */
#define INTERVAL_MIN 0.05
#define INTERVAL_MAX 3600.0

static void on_key(int ch, const struct sample *cur)
{
	if (ui.help && ch != ERR) { /* any key closes the help (q too: it is not a quit here) */
		ui.help = false;
		return;
	}
	switch (ch) {
	case 'q': case 'Q': stop = 1; break;
	case 'h': case '?': ui.help = true; break;
	case 'e': opt.sort = SORT_ENGINE; break;
	case 'p': opt.sort = SORT_PID; break;
	case 'm': opt.sort = SORT_MEM; break;
	case 'j': opt.sort = SORT_JOBS; break;
	case 'n': opt.sort = SORT_NAME; break;
	case 'r': opt.reverse = !opt.reverse; break;
	case 'i': opt.hide_idle = !opt.hide_idle; break;
	case 'g': ui.graph = (enum graph_style)((ui.graph + 1) % GRAPH_STYLES); break;
	case 'c': ui.colour = !ui.colour && has_colors() && !opt.mono; break;
	case '+': opt.interval = fmin(fmax(opt.interval, opt.interval * 2), INTERVAL_MAX); break;
	case '-': opt.interval = fmax(fmin(opt.interval, opt.interval / 2), INTERVAL_MIN); break;
	case 'f': next_filter(cur); break;
	default: break;
	}
}

static void init_colours(void)
{
	static const short fg[] = { [C_HEAD] = COLOR_CYAN, [C_BUSY] = COLOR_GREEN,
				    [C_CLOCK] = COLOR_CYAN, [C_POWER] = COLOR_MAGENTA,
				    [C_TEMP] = COLOR_RED, [C_LOW] = COLOR_GREEN,
				    [C_MID] = COLOR_YELLOW, [C_HIGH] = COLOR_RED };

	ui.colour = !opt.mono && has_colors();
	if (!ui.colour)
		return;
	start_color();
	use_default_colors();
	for (short p = C_HEAD; p <= C_HIGH; p++)
		init_pair(p, fg[p], -1);
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
	const char *term = getenv("TERM");
	ui.ascii = strcmp(nl_langinfo(CODESET), "UTF-8") != 0;
	if (term && !strcmp(term, "dumb")) {
		ui.dumb_out = fopen("/dev/null", "w");
		ui.ascii = true; /* the frame is read back a byte a cell */
	}
	scr = ui.dumb_out ? newterm("vt100", ui.dumb_out, stdin) : newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, "npu-top: cannot use terminal type '%s'; use -J or -l\n",
			getenv("TERM") ? getenv("TERM") : "(unset)");
		return NULL;
	}
	cbreak();
	noecho();
	if (ui.dumb_out && !tcgetattr(STDIN_FILENO, &ui.dumb_saved)) {
		struct termios t = ui.dumb_saved;

		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		ui.dumb_tty_set = !tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	keypad(stdscr, TRUE);
	curs_set(0);
	init_colours();
	return scr;
}

/* A dumb terminal's frame: the screen curses drew, as plain lines without trailing blanks. */
static void print_frame(void)
{
	char buf[1024];
	int last = 0;

	for (int r = 0; r < LINES; r++) {
		mvinnstr(r, 0, buf, COLS < (int)sizeof(buf) - 1 ? COLS : (int)sizeof(buf) - 1);
		if (strspn(buf, " ") != strlen(buf))
			last = r;
	}
	for (int r = 0; r <= last; r++) {
		size_t n;

		mvinnstr(r, 0, buf, COLS < (int)sizeof(buf) - 1 ? COLS : (int)sizeof(buf) - 1);
		for (n = strlen(buf); n && buf[n - 1] == ' '; n--)
			;
		printf("%.*s\n", (int)n, buf);
	}
	printf("\n");
	fflush(stdout);
}

/*
 * Keys until the next sample is due (the interval after cur was taken, whatever keys came in
 * between): true when it is, false after a key (handled: the screen is to be redrawn) or when
 * stopped.
 */
static bool wait_for_sample(const struct sample *cur)
{
	while (!stop) {
		uint64_t due = cur->t_ns + (uint64_t)(opt.interval * 1e9), now = hal_now_ns();
		int ch;

		if (now >= due)
			return true;
		timeout((int)((due - now + 999999) / 1000000));
		ch = getch();
		if (ch != ERR) {
			on_key(ch, cur); /* + and - move the next sample too: due is recomputed */
			return false;
		}
	}
	return false;
}

int run_curses(void)
{
	static struct sample a, b;
	struct sample *prev = &a, *cur = &b, *t;
	SCREEN *scr = open_screen();
	bool fresh = true;

	if (!scr)
		return 2;
	filter_cycle.user = opt.dev_filter;
	take_sample(prev);
	/* a short first interval so that the screen has rates at once */
	napms(200);
	while (!stop) {
		if (fresh)
			take_sample(cur);
		draw(prev, cur, fresh);
		if (ui.dumb_out)
			print_frame();
		fresh = wait_for_sample(cur);
		if (!fresh)
			continue; /* a key: redraw at once with the same pair of samples */
		t = prev;
		prev = cur;
		cur = t;
	}
	endwin();
	delscreen(scr);
	if (ui.dumb_tty_set)
		tcsetattr(STDIN_FILENO, TCSANOW, &ui.dumb_saved);
	if (ui.dumb_out)
		fclose(ui.dumb_out);
	return 0;
}
