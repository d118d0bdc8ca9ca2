/* SPDX-License-Identifier: MIT */
/*
 * npu-top - what the edge-npu devices are doing, and for whom.
 *
 * Every interval it takes a sample of all the devices and their clients (sample.h) and shows
 * the rates since the previous one (view.h): on a curses screen, as one JSON snapshot (-J) or
 * as JSON lines (-l), the latter two without a terminal. Missing devices or unreadable
 * processes are reported, never fatal.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "hal/numbers.h"

struct options opt = { .interval = 1.0, .sort = SORT_ENGINE, .sysfs = "/sys", .proc = "/proc" };

volatile sig_atomic_t stop;

/* What the command line asks for besides opt. */
struct mode {
	bool json, lines;
	long count;
	const char *set;      /* --set DEV: the devfreq writes in the arguments */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: npu-top [-J | -l [-n N]] [-s SECONDS] [-d DEVICE] [-m]\n"
		"       npu-top --set DEVICE KNOB=VALUE...\n"
		"Shows edge-npu devices (kernel driver and in-process NPUs, plus the CPU/GPU\n"
		"backends of programs using the stack) and the processes using them.\n\n"
		"  -s, --interval S  sampling interval in seconds (default 1; 0.05 .. 3600)\n"
		"  -d, --device D    only devices whose id or node contains D (edge-npu.0,\n"
		"                    npu@1234, npu0, cpu)\n"
		"  -m, --mono        no colour (also with NO_COLOR set, or TERM=dumb)\n"
		"  -J, --json        one JSON snapshot (two samples S apart) on stdout, then exit\n"
		"  -l, --json-lines  a JSON snapshot per interval, one per line (not with -J)\n"
		"  -n, --count N     with -l (only): stop after N lines\n"
		"      --set DEV KNOB=VALUE...  write devfreq attributes (governor, min_freq,\n"
		"                    max_freq, userspace/set_freq) of DEV (npu@PID, npuN,\n"
		"                    edge-npu.N); a refused value is an error (exit 1), as sysfs\n"
		"                    refuses it, checked against available_governors and\n"
		"                    available_frequencies for an in-process NPU\n"
		"  -h, --help        this help\n"
		"      --version     the version\n\n"
		"Keys: q quit, h or ? help (every key), e/p/m/j/n sort by engine%%/pid/memory/\n"
		"jobs/name, r reverse, f cycle a device filter, i hide idle processes, g graphs\n"
		"(blocks, braille, off), c colour, +/- interval (twice or half, 0.05 .. 3600 s).\n"
		"An in-process NPU is npu@PID, its owner's pid (its devfreq directory npuN is\n"
		"shown beside it: N is the next free number when the process started).\n"
		"Busy %% is delta busy time over delta wall time, clamped to 100 (per engine).\n"
		"In-process devices are found in $XDG_RUNTIME_DIR/edge-npu and /tmp/edge-npu-UID,\n"
		"or only in $ENPU_SYSFS_DIR when it is set. Power is modeled: the engine's energy\n"
		"over the modeled time it ran.\n");
}

/* One option into opt or m: -1 to go on, else the exit status. */
static int parse_option(int c, const char *arg, struct mode *m)
{
	char *end;

	switch (c) {
	case 's':
		if (hal_parse_decimal(arg, &opt.interval) ||
		    !(opt.interval >= 0.05 && opt.interval <= 3600)) {
			fprintf(stderr, "npu-top: -s %s: the interval is seconds, 0.05 to 3600\n",
				arg);
			return 2;
		}
		return -1;
	case 'd':
		opt.dev_filter = arg;
		return -1;
	case 'm':
		opt.mono = true;
		return -1;
	case 'S':
		m->set = arg;
		return -1;
	case 'J':
		m->json = true;
		return -1;
	case 'l':
		m->lines = true;
		return -1;
	case 'n':
		errno = 0;
		m->count = strtol(arg, &end, 10);
		if (*end || m->count < 1 || errno) { /* ERANGE: not LONG_MAX in silence */
			fprintf(stderr, "npu-top: -n %s: a positive count, at most %ld\n", arg,
				LONG_MAX);
			return 2;
		}
		return -1;
	case 'h':
		usage(stdout);
		return 0;
	case 'V': /* the release the build was made from (npu-top does not link the library) */
		printf("npu-top (edge-npu) %s\n", ENPU_VERSION);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

/* The command line into opt and m: -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct mode *m)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "mono", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'J' },
		{ "json-lines", no_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'n' },
		{ "set", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "s:d:mJln:h", longopts, NULL)) != -1)
		if ((r = parse_option(c, optarg, m)) >= 0)
			return r;
	if (optind < argc && !m->set) {
		fprintf(stderr, "npu-top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* what would otherwise be ignored without a word */
	if (m->json && m->lines) {
		fprintf(stderr, "npu-top: -J (one snapshot) and -l (a line per interval) exclude "
			"each other\n");
		return 2;
	}
	if (m->count > 0 && !m->lines) {
		fprintf(stderr, "npu-top: -n counts the lines of -l; use -l -n N\n");
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *sysfs_root = getenv("ENPU_SYSFS_ROOT");
	struct mode m = { .count = -1 };
	int r = parse_args(argc, argv, &m);

	if (r >= 0)
		return r;
	if (sysfs_root)
		opt.sysfs = sysfs_root;
	/* https://no-color.org: set and not empty; a dumb terminal has no colours to ask for */
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
	if ((nc && nc[0]) || (term && !strcmp(term, "dumb")))
		opt.mono = true;
	if (m.set)
		return run_set(m.set, argv + optind, argc - optind);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (!m.json && !m.lines)
		return run_curses();
	return run_json(m.json, m.count);
}
