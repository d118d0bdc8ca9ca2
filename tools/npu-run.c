/* SPDX-License-Identifier: MIT */
/* npu-run - run a GGUF model: stream the generated text, then a summary of where time went. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edge_npu.h"
#include "hal/cpu/kernels.h"
#include "hal/files.h"
#include "hal/numbers.h"
#include "mkmodel.h"
#include "run_chat.h"
#include "vocab.h"

struct args {
	const char *model, *prompt, *prompt_file, *device;
	const char *placement, *profile;
	const char *trace;
	const char *chat_template;
	uint32_t objective;
	double target_ms;
	uint32_t n_predict, n_ctx, n_threads;
	enum enpu_cache_type cache_type;
	struct enpu_sampler_options sampler;
	bool progress, prompt_set, chat;
	/* speculative decoding: a draft file or a self-draft type, k, and the plain rerun */
	const char *draft, *draft_type;
	uint32_t spec_k;
	bool spec_compare;
	bool spec_overlap;
};

/* What this build has: the registry's devices and the CPU kernel sets this CPU runs. */
static void print_build(FILE *f)
{
	static const char *const isas[] = { "amx", "avx512", "avxvnni", "avx2", "neon", "scalar" };
	const char *const *names = enpu_device_names();
	char err[256];
	const struct cpu_kernels *best = cpu_kernels_select(err, sizeof(err));

	fprintf(f, "This build (edge-npu %s):\n  devices:", enpu_version());
	for (size_t i = 0; names[i]; i++)
		fprintf(f, " %s", names[i]);
	fprintf(f, "\n  CPU kernel sets this CPU runs (ENPU_CPU_ISA):");
	for (size_t i = 0; i < sizeof(isas) / sizeof(isas[0]); i++)
		if (cpu_kernels_by_name(isas[i]) || !strcmp(isas[i], "scalar"))
			fprintf(f, " %s%s", isas[i],
				best && !strcmp(best->isa, isas[i]) ? " (default)" : "");
	fprintf(f, "\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: npu-run [-m MODEL.gguf] [-p TEXT | -f FILE] [-n N] [options]\n"
		"Generates text with a GGUF model of the llama, qwen2, phi3, gemma or gemma2\n"
		"architecture (F32, F16, Q8_0, Q4_0, Q4_K, Q5_K or Q6_K weights, as llama.cpp's\n"
		"Q4_K_M files mix them).\n"
		"The text goes to stdout as it is produced; a summary (load time, tokens/s, peak\n"
		"memory, which device ran what) goes to stderr. Ctrl-C (SIGINT) or SIGTERM stops\n"
		"the generation: the summary is printed and the trace closed.\n\n"
		"  -m, --model FILE   GGUF model; without it, the built-in default model (random\n"
		"                     weights, generated on first use and cached in\n"
		"                     $XDG_CACHE_HOME/edge-npu, else ~/.cache/edge-npu) is used\n"
		"  -p, --prompt TEXT  prompt (default \"Once upon a time\")\n"
		"  -f, --file FILE    read the prompt from FILE (one trailing newline dropped)\n"
		"  -n, --n-predict N  tokens to generate (default 32); stops early at end-of-text\n"
		"      --temp T       sampling temperature; 0 = greedy (default 0)\n"
		"      --top-k K      sample among the K most likely tokens (default 0 = all)\n"
		"      --top-p P      sample within probability mass P (default 1 = off)\n"
		"      --min-p P      keep tokens at least P times as likely as the most likely\n"
		"                     (default 0 = off)\n"
		"      --repeat-penalty F  divide the positive logits (multiply the negative ones)\n"
		"                     of tokens seen recently by F (default 1 = off)\n"
		"      --repeat-last-n N  how many recent tokens the penalty looks at (default 64;\n"
		"                     -1 = the whole context, 0 = none)\n"
		"  -s, --seed S       random seed for sampling (default 0)\n"
		"      --ignore-eos   never stop at end-of-text: generate all -n tokens\n"
		"  -c, --ctx-size N   context window in tokens (default: the model's, at most\n"
		"                     4096; also --ctx)\n"
		"      --cache-type T KV cache storage: f16 (default, as llama.cpp), q8_0 (half\n"
		"                     of f16's bytes; head size a multiple of 32) or f32\n"
		"  -t, --threads N    CPU worker threads (default: one per core)\n"
		"      --device D     where ops run (default cpu): cpu, cpu-ref (the plain\n"
		"                     reference backend), gpu (OpenCL), npu (matmuls on the NPU\n"
		"                     simulated in process; modeled ms/mJ in the summary; DVFS\n"
		"                     knobs in $XDG_RUNTIME_DIR/edge-npu/devfreq/npu0/), npu-drm\n"
		"                     (the NPU through the kernel module); ops a device lacks fall\n"
		"                     back to the CPU. This build's are listed below\n"
		"      --placement P  fixed (default: the rule above) or auto: the scheduler's\n"
		"                     partitioner on --profile, mapped onto this host's cpu, gpu and\n"
		"                     npu (all opened); prints the placement table and the modeled\n"
		"                     ms/token, mJ/token, tokens/J and peak power beside the measured\n"
		"                     wall time\n"
		"      --profile P    phone, mw, host (default) or a .prof file (this and the next\n"
		"                     two: with --placement auto only)\n"
		"      --objective O  latency (default: least latency under the profile's power\n"
		"                     budget) or energy (least energy within --target-ms)\n"
		"      --target-ms T  modeled latency target per token for --objective energy\n"
		"      --trace FILE   write a Chrome/Perfetto trace of every op (a track per device\n"
		"                     queue, arrows between devices, frequency and modeled power\n"
		"                     counters) to FILE; open it in ui.perfetto.dev\n"
		"      --draft FILE   speculative decoding: FILE (a model of the same vocabulary)\n"
		"                     proposes tokens that the model verifies in one batch;\n"
		"                     greedy output is the same as without it\n"
		"      --draft-type T speculative decoding with the model itself requantized to T\n"
		"                     (q4_0, q4_k, q5_k, q6_k, q8_0) as the draft\n"
		"      --spec-k N     draft tokens per verification, 1..16 (default: adaptive up\n"
		"                     to 8; given: fixed at N)\n"
		"      --spec-compare after the run, generate again without speculation and print\n"
		"                     both speeds and whether the tokens are the same\n"
		"      --spec-overlap draft the next block (on the draft's thread and device) while\n"
		"                     the model verifies the current one; with --placement auto the\n"
		"                     model's ops keep off the draft's device\n"
		"      --chat         (also -cnv) a conversation: each line of stdin is a user\n"
		"                     turn, answered with up to -n tokens; EOF ends it. The KV\n"
		"                     cache carries on from turn to turn (only the new turn is\n"
		"                     evaluated). -p or -f gives the system message\n"
		"      --chat-template T  the chat template: chatml, llama2, llama2-sys,\n"
		"                     llama2-sys-bos, llama2-sys-strip, llama3, phi3, gemma,\n"
		"                     deepseek, deepseek2, deepseek3 (default: the model's\n"
		"                     tokenizer.chat_template)\n"
		"      --no-progress  no progress bar while loading\n"
		"  -h, --help         this help\n"
		"      --version      the version\n\n"
		"llama.cpp's -ngl/--n-gpu-layers (and its other GPU offload and memory flags) do not\n"
		"apply: edge-npu places every op itself (--device, --placement auto).\n"
		"Exit status: 0 on success, 1 when the model cannot be loaded or run, 2 on bad usage,\n"
		"130 (SIGINT) or 143 (SIGTERM) when stopped by a signal.\n\n");
	print_build(f);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out)
{
	if (hal_parse_decimal(s, out) || !(*out >= lo && *out <= hi)) {
		fprintf(stderr, "npu-run: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
		return -1;
	}
	return 0;
}

/* A whole number in decimal digits only (no sign, fraction, exponent or hex), in [lo, hi]. */
static int parse_uint(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || *out < lo || *out > hi) {
		fprintf(stderr, "npu-run: %s expects a whole number in [%llu, %llu], got '%s'\n",
			opt, (unsigned long long)lo, (unsigned long long)hi, s);
		return -1;
	}
	return 0;
}

/*
 * llama.cpp's flags that have no meaning here, refused by name before getopt (which would
 * read "-ngl 99" as "-n gl"): GPU offload and memory locking are the library's business.
 */
static int refuse_foreign_flags(int argc, char **argv)
{
	static const char *const foreign[] = {
		"-ngl", "--n-gpu-layers", "--gpu-layers", "-sm", "--split-mode", "-ts",
		"--tensor-split", "-mg", "--main-gpu", "-fa", "--flash-attn", "--mlock",
		"--no-mmap", "--numa",
	};

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		for (size_t k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) {
			size_t n = strlen(foreign[k]);
			if (strncmp(argv[i], foreign[k], n) || (argv[i][n] && argv[i][n] != '='))
				continue;
			fprintf(stderr, "npu-run: %s is a llama.cpp option that does not apply here: "
				"edge-npu places every op itself (choose the device with --device, or "
				"--placement auto)\n", foreign[k]);
			return 2;
		}
	return 0;
}

enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_PENALTY, O_LASTN, O_DEVICE, O_NOPROG, O_PLACE,
       O_PROF, O_OBJ, O_TARGET, O_TRACE, O_VERSION, O_NOEOS, O_CACHE, O_CHAT, O_CHAT_TMPL,
       O_DRAFT, O_DRAFT_TYPE, O_SPEC_K, O_SPEC_COMPARE, O_SPEC_OVERLAP };

/* The sampler's options; 1 when c is not one of them, 2 on a bad value. */
static int parse_sampler_opt(int c, const char *arg, struct enpu_sampler_options *o)
{
	double v;
	uint64_t u;

	switch (c) {
	case O_TEMP:
		if (parse_num("--temp", arg, 0, 100, &v)) return 2;
		o->temperature = (float)v;
		return 0;
	case O_TOPK:
		if (parse_uint("--top-k", arg, 0, 1000000000, &u)) return 2;
		o->top_k = (uint32_t)u;
		return 0;
	case O_TOPP:
		if (parse_num("--top-p", arg, 0, 1, &v)) return 2;
		o->top_p = (float)v;
		return 0;
	case O_MINP:
		if (parse_num("--min-p", arg, 0, 1, &v)) return 2;
		o->min_p = (float)v;
		return 0;
	case O_PENALTY:
		if (parse_num("--repeat-penalty", arg, 1e-3, 1e3, &v)) return 2;
		o->repeat_penalty = (float)v;
		return 0;
	case O_LASTN: /* -1: the whole context, as in llama.cpp */
		if (strcmp(arg, "-1") && parse_uint("--repeat-last-n (or -1)", arg, 0, 1 << 20, &u))
			return 2;
		o->repeat_last_n = strcmp(arg, "-1") ? (uint32_t)u : UINT32_MAX;
		return 0;
	case 's':
		if (parse_uint("--seed", arg, 0, UINT64_MAX, &u)) return 2;
		o->seed = u;
		return 0;
	case O_NOEOS:
		o->ignore_eos = true;
		return 0;
	}
	return 1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "prompt", required_argument, 0, 'p' },
		{ "file", required_argument, 0, 'f' }, { "threads", required_argument, 0, 't' },
		{ "n-predict", required_argument, 0, 'n' }, { "ctx", required_argument, 0, 'c' },
		{ "ctx-size", required_argument, 0, 'c' },
		{ "temp", required_argument, 0, O_TEMP }, { "top-k", required_argument, 0, O_TOPK },
		{ "top-p", required_argument, 0, O_TOPP }, { "seed", required_argument, 0, 's' },
		{ "min-p", required_argument, 0, O_MINP },
		{ "repeat-penalty", required_argument, 0, O_PENALTY },
		{ "repeat-last-n", required_argument, 0, O_LASTN },
		{ "version", no_argument, 0, O_VERSION },
		{ "ignore-eos", no_argument, 0, O_NOEOS },
		{ "device", required_argument, 0, O_DEVICE },
		{ "no-progress", no_argument, 0, O_NOPROG }, { "help", no_argument, 0, 'h' },
		{ "placement", required_argument, 0, O_PLACE },
		{ "profile", required_argument, 0, O_PROF },
		{ "objective", required_argument, 0, O_OBJ },
		{ "target-ms", required_argument, 0, O_TARGET },
		{ "trace", required_argument, 0, O_TRACE },
		{ "cache-type", required_argument, 0, O_CACHE },
		{ "draft", required_argument, 0, O_DRAFT },
		{ "draft-type", required_argument, 0, O_DRAFT_TYPE },
		{ "spec-k", required_argument, 0, O_SPEC_K },
		{ "spec-compare", no_argument, 0, O_SPEC_COMPARE },
		{ "spec-overlap", no_argument, 0, O_SPEC_OVERLAP },
		{ "chat", no_argument, 0, O_CHAT },
		{ "chat-template", required_argument, 0, O_CHAT_TMPL },
		{ 0, 0, 0, 0 },
	};
	double v;
	uint64_t u;
	int c, rc;

	if (refuse_foreign_flags(argc, argv))
		return 2;
	/* llama.cpp's -cnv, which getopt would read as -c nv */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-cnv"))
			argv[i] = "--chat";
	while ((c = getopt_long(argc, argv, "m:p:f:n:c:t:s:h", opts, NULL)) != -1) {
		if ((rc = parse_sampler_opt(c, optarg, &a->sampler)) != 1) {
			if (rc)
				return rc;
			continue;
		}
		switch (c) {
		case 'm': a->model = optarg; break;
		case 'p': a->prompt = optarg, a->prompt_set = true; break;
		case 'f': a->prompt_file = optarg; break;
		case 'n':
			if (parse_uint("-n", optarg, 0, 1000000, &u)) return 2;
			a->n_predict = (uint32_t)u;
			break;
		case 'c':
			if (parse_uint("--ctx", optarg, 1, 1 << 20, &u)) return 2;
			a->n_ctx = (uint32_t)u;
			break;
		case 't':
			if (parse_uint("--threads", optarg, 1, 1024, &u)) return 2;
			a->n_threads = (uint32_t)u;
			break;
		case O_DEVICE: a->device = optarg; break;
		case O_NOPROG: a->progress = false; break;
		case O_PLACE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "fixed")) {
				fprintf(stderr, "npu-run: --placement is auto or fixed, got '%s'\n",
					optarg);
				return 2;
			}
			a->placement = optarg;
			break;
		case O_PROF: a->profile = optarg; break;
		case O_OBJ:
			if (strcmp(optarg, "latency") && strcmp(optarg, "energy")) {
				fprintf(stderr, "npu-run: --objective is latency or energy, got '%s'\n",
					optarg);
				return 2;
			}
			a->objective = !strcmp(optarg, "energy");
			break;
		case O_TARGET:
			if (parse_num("--target-ms", optarg, 1e-6, 1e9, &v)) return 2;
			a->target_ms = v;
			break;
		case O_TRACE: a->trace = optarg; break;
		case O_CHAT: a->chat = true; break;
		case O_CHAT_TMPL: a->chat_template = optarg; break;
		case O_CACHE:
			if (!enpu_cache_type_parse(optarg, &a->cache_type)) {
				fprintf(stderr, "npu-run: --cache-type is f16, q8_0 or f32, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case O_DRAFT: a->draft = optarg; break;
		case O_DRAFT_TYPE: a->draft_type = optarg; break;
		case O_SPEC_K:
			if (parse_uint("--spec-k", optarg, 1, 16, &u)) return 2;
			a->spec_k = (uint32_t)u;
			break;
		case O_SPEC_COMPARE: a->spec_compare = true; break;
		case O_SPEC_OVERLAP: a->spec_overlap = true; break;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: printf("npu-run (edge-npu) %s\n", enpu_version()); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "npu-run: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (a->prompt_file && a->prompt_set) {
		fprintf(stderr, "npu-run: -p and -f both give the prompt: use one\n");
		return 2;
	}
	if (a->draft && a->draft_type) {
		fprintf(stderr, "npu-run: --draft and --draft-type both give the draft: use one\n");
		return 2;
	}
	if ((a->spec_k || a->spec_compare || a->spec_overlap) && !a->draft && !a->draft_type) {
		fprintf(stderr, "npu-run: --spec-k, --spec-compare and --spec-overlap need a draft "
			"(--draft FILE or --draft-type q4_0)\n");
		return 2;
	}
	if (a->chat_template && !a->chat) {
		fprintf(stderr, "npu-run: --chat-template applies to --chat only\n");
		return 2;
	}
	if ((a->profile || a->objective || a->target_ms > 0) &&
	    (!a->placement || strcmp(a->placement, "auto"))) {
		fprintf(stderr, "npu-run: --profile, --objective and --target-ms apply to "
			"--placement auto only\n");
		return 2;
	}
	if (a->draft_type) {
		static const char *const types[] = { "q4_0", "q4_k", "q5_k", "q6_k", "q8_0" };
		bool known = false;

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			known = known || !strcmp(a->draft_type, types[i]);
		if (!known) {
			fprintf(stderr, "npu-run: --draft-type is q4_0, q4_k, q5_k, q6_k or q8_0, "
				"got '%s'\n", a->draft_type);
			return 2;
		}
	}
	if (a->objective && !(a->target_ms > 0)) {
		fprintf(stderr, "npu-run: --objective energy needs --target-ms\n");
		return 2;
	}
	const char *const *names = enpu_device_names();
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(names[i], a->device))
			return 0;
	fprintf(stderr, "npu-run: unknown --device '%s' (available:", a->device);
	for (size_t i = 0; names[i]; i++)
		fprintf(stderr, "%s %s", i ? "," : "", names[i]);
	fprintf(stderr, ")\n");
	return 2;
}

/* mkdir -p for the cache: the missing parents too (~/.cache on a fresh account), private. */
static int make_dirs(char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		int rc = make_dirs(dir);
		*slash = '/';
		if (rc)
			return rc;
	}
	return mkdir(dir, 0700) && errno != EEXIST ? -1 : 0;
}

/*
 * The default model is cached per user as the XDG base directory spec says:
 * $XDG_CACHE_HOME/edge-npu (an absolute path), else ~/.cache/edge-npu. The name carries the
 * vocabulary's revision, so a newer npu-run never reuses a model with an older vocabulary.
 */
static int default_model_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[4096];

	if (xdg && xdg[0] == '/')
		snprintf(dir, sizeof(dir), "%s/edge-npu", xdg);
	else if (home && home[0] == '/')
		snprintf(dir, sizeof(dir), "%s/.cache/edge-npu", home);
	else {
		fprintf(stderr, "npu-run: no cache directory for the default model: set "
			"XDG_CACHE_HOME or HOME, or name a model with -m\n");
		return -1;
	}
	if (make_dirs(dir)) {
		fprintf(stderr, "npu-run: cannot create the model cache %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(buf, len, "%s/default-v%d-%s.gguf", dir, VOCAB_REVISION,
			     hal_type_name(mkmodel_default.type)) >= len) {
		fprintf(stderr, "npu-run: the cache path %s is too long\n", dir);
		return -1;
	}
	return 0;
}

/*
 * Removes the temporaries (hal/files.h) a generation killed mid-write left in the model
 * cache: those not written to for a minute. One being written now is younger (a generation
 * writes its 26 MB in well under a minute), so runs generating at once are left alone.
 */
static void remove_stale_temporaries(const char *path)
{
	char dir[4096], tmp[4200];
	const char *slash = strrchr(path, '/');
	const size_t stem = strlen(HAL_FILE_TMP_NAME) - 6; /* ".enpu-" */
	struct stat sb;
	DIR *d;

	if (!slash || (size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >=
			      sizeof(dir) || !(d = opendir(dir)))
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (strlen(e->d_name) != strlen(HAL_FILE_TMP_NAME) ||
		    strncmp(e->d_name, HAL_FILE_TMP_NAME, stem))
			continue;
		snprintf(tmp, sizeof(tmp), "%s/%s", dir, e->d_name);
		if (!lstat(tmp, &sb) && S_ISREG(sb.st_mode) && time(NULL) - sb.st_mtime > 60)
			unlink(tmp);
	}
	closedir(d);
}

/* The default model's path, generated when missing (or when regenerate: it did not load). */
static int ensure_default_model(char *path, size_t len, bool regenerate)
{
	const struct mkmodel_params *p = &mkmodel_default;
	char err[512];

	if (default_model_path(path, len))
		return -1;
	if (!regenerate && access(path, R_OK) == 0)
		return 0;
	remove_stale_temporaries(path);
	if (regenerate)
		fprintf(stderr, "npu-run: the cached default model %s did not load; generating it "
			"again\n", path);
	else
		fprintf(stderr, "npu-run: generating the built-in default model (dim %u, %u layers, %s, "
		"random weights) into %s (first run only)\n", p->dim, p->layers,
		hal_type_name(p->type), path);
	if (mkmodel_write(p, path, err, sizeof(err))) {
		fprintf(stderr, "npu-run: cannot generate the default model: %s\n", err);
		return -1;
	}
	return 0;
}

static bool draw_progress(uint64_t done, uint64_t total, void *user)
{
	const int width = 30;
	int filled = total ? (int)(done * width / total) : width;

	(void)user;
	fprintf(stderr, "\rloading [%.*s%*s] %3d%% %llu/%llu MiB", filled,
		"##############################", width - filled, "",
		total ? (int)(done * 100 / total) : 100, (unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20));
	if (done == total)
		fprintf(stderr, "\r%*s\r", width + 40, "");
	return true;
}

/* The signal that asked generation to stop (SIGINT, SIGTERM), 0 while none has. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
	hal_file_clean_on_signal(sig);
}

/*
 * From here on, SIGINT and SIGTERM end the generation at the next token instead of the
 * process, so that the summary is printed and the trace closed; a second one kills as usual
 * (and removes the files not yet written whole, hal/files.h).
 */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND | SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The tokens of a run, kept for --spec-compare. */
struct token_list {
	enpu_token *t;
	uint32_t n, cap;
};

static bool keep_token(enpu_token token, const char *piece, size_t len, void *user)
{
	struct token_list *l = user;

	(void)piece;
	(void)len;
	if (l && l->n < l->cap)
		l->t[l->n++] = token;
	return !stop_signal;
}

static bool print_token(enpu_token token, const char *piece, size_t len, void *user)
{
	fwrite(piece, 1, len, stdout);
	fflush(stdout);
	return keep_token(token, piece, len, user);
}

/* What speculation did: acceptance, tokens per verification, speeds and modeled energy. */
static void print_spec(const enpu_session *sess, const struct enpu_generate_stats *st,
		       const char *draft_name)
{
	struct enpu_spec_stats ss = ENPU_SPEC_STATS_INIT;
	uint64_t pj = 0;

	if (enpu_session_spec_stats(sess, &ss))
		return;
	for (uint32_t i = 0; i < st->n_devices; i++)
		pj += st->devices[i].modeled_energy_pj;
	for (uint32_t i = 0; i < ss.n_devices; i++)
		pj += ss.draft_devices[i].modeled_energy_pj;
	fprintf(stderr, "speculate: draft %s; %llu verifications, %llu of %llu drafted tokens "
		"accepted (%.1f%%), %.2f accepted per verification, k now %u\n", draft_name,
		(unsigned long long)ss.verifications, (unsigned long long)ss.accepted,
		(unsigned long long)ss.drafted,
		ss.drafted ? 100.0 * (double)ss.accepted / (double)ss.drafted : 0.0,
		ss.verifications ? (double)ss.accepted / (double)ss.verifications : 0.0, ss.k);
	fprintf(stderr, "           drafting %.1f ms, verifying %.1f ms, %llu plain steps; "
		"modeled speed-up %.2fx (cost model at this acceptance, k and step times)\n",
		ss.draft_ms, ss.verify_ms, (unsigned long long)ss.plain_steps,
		ss.predicted_speedup);
	if (ss.predrafted)
		fprintf(stderr, "           overlapped: %llu blocks pre-drafted during a verification, "
			"%llu used; both sides busy at once %.1f ms (%.0f%% of verifying)\n",
			(unsigned long long)ss.predrafted, (unsigned long long)ss.predraft_used,
			ss.overlap_ms, ss.verify_ms > 0 ? 100.0 * ss.overlap_ms / ss.verify_ms : 0.0);
	for (uint32_t i = 0; i < ss.n_devices; i++)
		if (ss.draft_devices[i].ops)
			fprintf(stderr, "           draft ran %llu ops on %s, busy %.1f ms%s\n",
				(unsigned long long)ss.draft_devices[i].ops,
				ss.draft_devices[i].device, (double)ss.draft_devices[i].busy_ns / 1e6,
				ss.draft_devices[i].modeled_ns ? " (and modeled on the simulated "
								 "silicon)" : "");
	if (pj)
		fprintf(stderr, "           modeled %.3f mJ/token (draft and verifier on the "
			"simulated devices)\n", st->n_generated ? (double)pj / 1e9 / st->n_generated
							      : 0.0);
}

/*
 * -f FILE opened for reading. A FIFO is opened without blocking and, when nothing comes from
 * it for a moment, said to be waited on: a blocking open of one that no program writes to
 * hung silently. Reads block as usual from then on (a pipe, -f <(...), reads as a file).
 */
static FILE *open_prompt_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct stat sb;

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &sb) && S_ISFIFO(sb.st_mode) && !poll(&p, 1, 200)) {
		fprintf(stderr, "npu-run: -f %s: a FIFO that nothing has written to yet: waiting "
			"for its writer (Ctrl-C stops)\n", path);
		poll(&p, 1, -1);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	FILE *f = fdopen(fd, "rb");
	if (!f)
		close(fd);
	return f;
}

/* The prompt of -f FILE, malloc'd, without one trailing newline (as llama.cpp reads it). */
static char *read_prompt_file(const char *path)
{
	FILE *f = open_prompt_file(path);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!f || !buf) {
		fprintf(stderr, "npu-run: -f %s: %s\n", path, f ? "out of memory" : strerror(errno));
		goto fail;
	}
	for (size_t got; (got = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
		len += got;
		char *more = len + 1 == cap && cap < (64u << 20) ? realloc(buf, cap *= 2) : buf;
		if (!more || len + 1 == cap) {
			fprintf(stderr, "npu-run: -f %s: larger than 64 MiB\n", path);
			goto fail;
		}
		buf = more;
	}
	if (ferror(f)) {
		fprintf(stderr, "npu-run: -f %s: %s\n", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	len -= len && buf[len - 1] == '\n';
	buf[len] = 0;
	return buf;
fail:
	if (f)
		fclose(f);
	free(buf);
	return NULL;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double per_s(uint32_t n, uint64_t ns)
{
	return ns ? n / ((double)ns / 1e9) : 0.0;
}

static void print_summary(const struct enpu_model_info *mi, uint64_t load_ns,
			  const struct enpu_generate_stats *st, const enpu_session *sess)
{
	enum enpu_cache_type ct;
	const size_t kv = enpu_session_cache_bytes(sess, &ct);

	struct rusage ru;
	uint64_t total_ops = 0;

	getrusage(RUSAGE_SELF, &ru);
	for (uint32_t i = 0; i < st->n_devices; i++)
		total_ops += st->devices[i].ops;
	fprintf(stderr, "\n\n--- npu-run summary\n");
	fprintf(stderr, "model:     %s (%s, %s weights, %.1f M parameters, %.1f MiB file)\n",
		mi->name, mi->architecture, mi->weight_type, (double)mi->n_params / 1e6,
		(double)mi->file_bytes / (1 << 20));
	fprintf(stderr, "load:      %.1f ms\n", ms(load_ns));
	fprintf(stderr, "prompt:    %u tokens in %.1f ms, %.1f tokens/s\n", st->n_prompt,
		ms(st->prompt_ns), per_s(st->n_prompt, st->prompt_ns));
	fprintf(stderr, "generate:  %u tokens in %.1f ms, %.1f tokens/s%s\n", st->n_generated,
		ms(st->generate_ns), per_s(st->n_generated, st->generate_ns),
		st->stopped_at_eos ? " (stopped at end-of-text)" : "");
	fprintf(stderr, "peak RSS:  %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	fprintf(stderr, "KV cache:  %s, %.1f MiB (K and V of every layer, the whole window)\n",
		enpu_cache_type_name(ct), (double)kv / (1 << 20));
	for (uint32_t i = 0; i < st->n_devices; i++) {
		const struct enpu_device_usage *d = &st->devices[i];
		fprintf(stderr, "device:    %-8s ran %llu of %llu ops (%.0f%%), busy %.1f ms, %llu bytes copied\n",
			d->device, (unsigned long long)d->ops, (unsigned long long)total_ops,
			total_ops ? 100.0 * (double)d->ops / (double)total_ops : 0.0,
			ms(d->busy_ns), (unsigned long long)d->bytes_copied);
		if (d->modeled_ns || d->modeled_energy_pj) {
			uint32_t tokens = st->n_prompt + st->n_generated;
			fprintf(stderr, "           %-8s modeled (simulated silicon, not measured): "
				"%.3f ms/token, %.3f mJ/token\n", d->device,
				tokens ? ms(d->modeled_ns) / tokens : 0.0,
				tokens ? (double)d->modeled_energy_pj / 1e9 / tokens : 0.0);
		}
	}
}

/* The dispatcher's share of each decode step, measured. */
static void print_overhead(enpu_session *sess)
{
	struct enpu_schedule_report r = ENPU_SCHEDULE_REPORT_INIT;

	if (enpu_session_schedule_report(sess, &r) == ENPU_OK)
		fprintf(stderr, "overhead:  dispatch %.2f%% of each decode step's %.3f ms (time no "
			"device ran an op; %llu steps)\n", r.overhead_pct, r.step_ms,
			(unsigned long long)r.decode_steps);
}

/* The automatic placement: the table, the modeled figures and the measured ones beside them. */
static void print_schedule(enpu_session *sess, const struct enpu_generate_stats *st)
{
	struct enpu_schedule_report r = ENPU_SCHEDULE_REPORT_INIT;

	if (enpu_session_schedule_report(sess, &r)) {
		fprintf(stderr, "schedule:  no report\n");
		return;
	}
	fprintf(stderr, "placement: auto on profile '%s' (graph of %u token%s; per op class: "
		"ops on each profile device at its chosen clock | where they ran on this host)\n%s",
		r.profile, r.n_tokens, r.n_tokens == 1 ? "" : "s", r.table);
	double per_tok = r.n_tokens ? 1.0 / r.n_tokens : 1.0;
	fprintf(stderr, "modeled:   %.3f ms/token, %.3f mJ/token, %.1f tokens/J, peak %.2f W, "
		"average %.2f W, %u device crossings, %.0f bytes copied/token (profile '%s', "
		"simulated, not measured)\n", r.modeled_ms * per_tok, r.modeled_mj * per_tok,
		r.modeled_mj > 0 ? 1e3 / (r.modeled_mj * per_tok) : 0.0, r.peak_w, r.avg_w,
		r.crossings, r.bytes_copied * per_tok, r.profile);
	fprintf(stderr, "measured:  %.3f ms/token decode wall time on this host; placing took "
		"%.1f ms once per graph shape (cached%s)\n",
		st->n_generated ? ms(st->generate_ns) / st->n_generated : 0.0, r.place_ms,
		r.replacements ? ", placed again from measured op times" : "");
	for (const char *l = r.clocks; *l;) {
		int n = (int)strcspn(l, "\n");
		fprintf(stderr, "clock:     %.*s\n", n, l);
		l += n + (l[n] == '\n');
	}
	fprintf(stderr, "overhead:  dispatch %.2f%% of each decode step's %.3f ms (time no device "
		"ran an op; %llu steps); placing %.1f ms in all (%u re-placement%s from measured "
		"op times)\n", r.overhead_pct, r.step_ms, (unsigned long long)r.decode_steps,
		r.place_total_ms, r.replacements, r.replacements == 1 ? "" : "s");
}

/*
 * --spec-compare: the same generation on a session without a draft; both speeds, and whether
 * the tokens match (they must when greedy). Nonzero when a greedy run's tokens differ.
 */
static int compare_plain(enpu_model *model, const struct enpu_session_options *o,
			 const struct args *a, const struct enpu_generate_stats *spec,
			 const struct token_list *spec_toks)
{
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;
	struct token_list toks = { malloc(sizeof(enpu_token) * ((size_t)a->n_predict + 1)), 0,
				   a->n_predict };
	enpu_session *plain = NULL;
	enpu_status s = toks.t ? enpu_session_create(model, o, &plain) : ENPU_ERR_NO_MEMORY;

	if (!s)
		s = enpu_generate(plain, a->prompt, a->n_predict, &a->sampler, keep_token, &toks, &st);
	enpu_session_free(plain);
	if (s) {
		fprintf(stderr, "compare:   the run without speculation failed: %s\n",
			enpu_status_name(s));
		free(toks.t);
		return 1;
	}
	const double with = per_s(spec->n_generated, spec->generate_ns);
	const double without = per_s(st.n_generated, st.generate_ns);
	const bool same = toks.n == spec_toks->n &&
			  !memcmp(toks.t, spec_toks->t, sizeof(enpu_token) * toks.n);
	const bool greedy = !(a->sampler.temperature > 0.0f);
	fprintf(stderr, "compare:   %.1f tokens/s with speculation, %.1f without: %.2fx; tokens "
		"%s%s\n", with, without, without > 0 ? with / without : 0.0,
		same ? "identical" : "differ",
		greedy ? "" : " (sampled: the same distribution, not the same draws)");
	free(toks.t);
	return greedy && !same;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct args a = { .prompt = "Once upon a time", .device = "cpu", .n_predict = 32,
			  .sampler = ENPU_SAMPLER_OPTIONS_INIT, .progress = true };
	struct enpu_context_options copts = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_model_options mopts = ENPU_MODEL_OPTIONS_INIT;
	struct enpu_session_options sopts = ENPU_SESSION_OPTIONS_INIT;
	struct enpu_model_info mi = ENPU_MODEL_INFO_INIT;
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;
	enpu_context *ctx = NULL;
	enpu_model *model = NULL, *draft = NULL;
	enpu_session *sess = NULL;
	struct token_list spec_toks = { 0 };
	char default_path[4200];
	int rc = parse_args(argc, argv, &a);
	enpu_status s;

	if (rc)
		return rc;
	hal_file_clean_on_end_signals(); /* the default model, a trace, a state: none left half */
	char *file_prompt = a.prompt_file ? read_prompt_file(a.prompt_file) : NULL;
	if (a.prompt_file && !file_prompt)
		return 1;
	if (file_prompt)
		a.prompt = file_prompt;
	if (!a.model) {
		if (ensure_default_model(default_path, sizeof(default_path), false)) {
			free(file_prompt);
			return 1;
		}
		a.model = default_path;
	}
	copts.device = a.device;
	copts.n_threads = a.n_threads;
	bool place_auto = a.placement && !strcmp(a.placement, "auto");
	/* auto placement maps the profile onto every device this host has (the NPU last: it
	 * prepares the matmul weights); an explicit --device keeps the context to that one */
	if (place_auto && !strcmp(a.device, "cpu"))
		copts.devices = "gpu,npu";
	s = enpu_context_create(&copts, &ctx);
	if (s) {
		fprintf(stderr, "npu-run: %s\n", enpu_last_error(NULL));
		free(file_prompt);
		return 1;
	}
	if (a.progress && isatty(STDERR_FILENO))
		mopts.progress = draw_progress;
	uint64_t t0 = now_ns();
	s = enpu_model_load(ctx, a.model, &mopts, &model);
	/* a corrupt or truncated cached default model is generated again, once */
	if ((s == ENPU_ERR_FORMAT || s == ENPU_ERR_IO) && a.model == default_path) {
		fprintf(stderr, "npu-run: %s\n", enpu_last_error(ctx));
		if (!ensure_default_model(default_path, sizeof(default_path), true))
			s = enpu_model_load(ctx, a.model, &mopts, &model);
	}
	uint64_t load_ns = now_ns() - t0;
	sopts.n_ctx = a.n_ctx;
	sopts.cache_type = a.cache_type;
	sopts.placement = a.placement;
	sopts.profile = a.profile;
	sopts.objective = a.objective;
	sopts.latency_target_ms = a.target_ms;
	if (!s)
		s = enpu_model_info(model, &mi);
	if (!s && a.draft)
		s = enpu_model_load(ctx, a.draft, &mopts, &draft);
	else if (!s && a.draft_type)
		s = enpu_model_make_draft(model, a.draft_type, &draft);
	struct enpu_session_options plain_opts = sopts;
	sopts.draft = draft;
	sopts.spec_k = a.spec_k;
	sopts.spec_fixed_k = a.spec_k > 0;
	sopts.spec_overlap = a.spec_overlap;
	if (!s)
		s = enpu_session_create(model, &sopts, &sess);
	if (!s && a.spec_compare &&
	    !(spec_toks.t = malloc(sizeof(enpu_token) * ((size_t)a.n_predict + 1)))) {
		fprintf(stderr, "npu-run: out of memory\n");
		s = ENPU_ERR_NO_MEMORY;
	}
	spec_toks.cap = a.n_predict;
	bool tracing = false;
	catch_stop_signals();
	if (!s && a.trace)
		tracing = !(s = enpu_session_trace_start(sess, a.trace));
	if (!s && a.chat) {
		struct run_chat_options co = {
			.template_name = a.chat_template, .n_predict = a.n_predict,
			.system = a.prompt_set || file_prompt ? a.prompt : NULL,
			.sampler = &a.sampler, .stop = &stop_signal, .ctx = ctx,
		};
		s = run_chat(model, sess, &co, stdin, stdout, &st);
	} else if (!s) {
		fputs(a.prompt, stdout);
		fflush(stdout);
		s = enpu_generate(sess, a.prompt, a.n_predict, &a.sampler, print_token,
				  spec_toks.t ? &spec_toks : NULL, &st);
	}
	/* stopped even after a failed run: the ops up to the failure are what one wants to see */
	if (tracing) {
		enpu_status ts = enpu_session_trace_stop(sess);
		if (!s)
			s = ts;
	}
	if (s == ENPU_ERR_CONTEXT_FULL && st.stopped_at_ctx_full) {
		/* what was generated stands: the summary, then why it stopped short */
		fputc('\n', stdout);
		fflush(stdout);
		print_summary(&mi, load_ns, &st, sess);
		fprintf(stderr, "npu-run: stopped early: %s (--ctx sets the window)\n",
			enpu_last_error(ctx));
		rc = 1;
	} else if (s) {
		fprintf(stderr, "%snpu-run: %s\n", sess ? "\n" : "", enpu_last_error(ctx));
		rc = 1;
	} else {
		fputc('\n', stdout);
		fflush(stdout);
		print_summary(&mi, load_ns, &st, sess);
		if (place_auto)
			print_schedule(sess, &st);
		else
			print_overhead(sess);
		if (draft) {
			struct enpu_model_info di = ENPU_MODEL_INFO_INIT;
			print_spec(sess, &st, enpu_model_info(draft, &di) ? "?" : di.name);
		}
		if (spec_toks.t && compare_plain(model, &plain_opts, &a, &st, &spec_toks))
			rc = 1;
		if (a.trace)
			fprintf(stderr, "trace:     %s (open in ui.perfetto.dev)\n", a.trace);
	}
	if (stop_signal && rc != 1) {
		if (a.chat)
			fprintf(stderr, "npu-run: stopped by %s after %u tokens generated in the "
				"conversation\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
				st.n_generated);
		else
			fprintf(stderr, "npu-run: stopped by %s after %u of %u tokens\n",
				stop_signal == SIGINT ? "SIGINT" : "SIGTERM", st.n_generated,
				a.n_predict);
		rc = 128 + stop_signal;
	}
	enpu_session_free(sess);
	enpu_model_free(draft);
	enpu_model_free(model);
	enpu_context_destroy(ctx);
	free(file_prompt);
	free(spec_toks.t);
	return rc;
}
