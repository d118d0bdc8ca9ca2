/* SPDX-License-Identifier: MIT */
/*
 * fuzz_model_load.c - the whole model load (enpu_model_load): the input is a GGUF file, loaded
 * on cpu-ref and, when that accepts it, on cpu and on the in-process npu too, whose weight
 * preparation (the NPU's block layout) differs. Everything after the parser is covered:
 * hyperparameters, the tokenizer, the weight list, Q6_K conversion, the graph binding; and
 * then two tokens are evaluated, since what the load accepts is what the kernels trust.
 *
 * A load is slow next to a parse, so the contexts (one per device, one CPU thread each) are
 * created once and reused, and the input goes to one memfd, rewritten per input and loaded by
 * its /proc/self/fd path. Seeds are tiny models with a small vocabulary, so that the inputs
 * libFuzzer derives from them stay small.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <edge_npu.h>

#include "fuzz.h"

static const char *const devices[] = { "cpu-ref", "cpu", "npu" };
#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))

static enpu_context *ctx[N_DEVICES];
static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < N_DEVICES; i++) {
		struct enpu_context_options o = ENPU_CONTEXT_OPTIONS_INIT;

		o.device = devices[i];
		o.n_threads = 1; /* deterministic, and the fuzzer runs one job per core */
		if (enpu_context_create(&o, &ctx[i]) != ENPU_OK) {
			fprintf(stderr, "fuzz_model_load: device %s: %s\n", devices[i],
				enpu_last_error(NULL));
			exit(1);
		}
	}
	memfd = memfd_create("fuzz-model", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz_model_load: memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

static bool progress(uint64_t done, uint64_t total, void *user)
{
	(void)user;
	FUZZ_CHECK(done <= total, "progress %llu of %llu", (unsigned long long)done,
		   (unsigned long long)total);
	return true;
}

/*
 * What the load accepted must be safe to run: two tokens through a session with a small
 * window (the numbers may be anything, NaN weights included; only crashes count here).
 */
static void eval(size_t i, enpu_model *m)
{
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;
	enpu_token toks[2] = { enpu_token_bos(m), 0 };
	enpu_session *s = NULL;
	const float *logits;
	size_t n_vocab;

	so.n_ctx = 4;
	if (toks[0] < 0)
		toks[0] = 0;
	if (enpu_session_create(m, &so, &s) != ENPU_OK) {
		FUZZ_CHECK(enpu_last_error(ctx[i])[0], "%s: session refused without a message",
			   devices[i]);
		return;
	}
	if (enpu_session_eval(s, toks, 2) == ENPU_OK)
		FUZZ_CHECK(enpu_session_logits(s, &logits, &n_vocab) == ENPU_OK && n_vocab > 0,
			   "%s: no logits after an eval", devices[i]);
	enpu_session_free(s);
}

/* Loads the memfd on device i and runs it; the status of the load. */
static enpu_status load(size_t i)
{
	struct enpu_model_options o = ENPU_MODEL_OPTIONS_INIT;
	struct enpu_model_info info = ENPU_MODEL_INFO_INIT;
	enpu_model *m = NULL;
	enpu_status st;

	o.progress = progress;
	st = enpu_model_load(ctx[i], path, &o, &m);
	if (st != ENPU_OK) {
		FUZZ_CHECK(m == NULL && enpu_last_error(ctx[i])[0], "%s: status %d, no message",
			   devices[i], st);
		return st;
	}
	FUZZ_CHECK(enpu_model_info(m, &info) == ENPU_OK && info.n_vocab > 0 && info.n_layer > 0,
		   "%s: accepted model without vocabulary or layers", devices[i]);
	eval(i, m);
	enpu_model_free(m);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enpu_status st;

	if (ftruncate(memfd, 0) || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz_model_load: memfd");
		abort();
	}
	st = load(0);
	/* what cpu-ref refuses is refused by the file checks, which are the same everywhere */
	if (st == ENPU_OK)
		for (size_t i = 1; i < N_DEVICES; i++)
			FUZZ_CHECK(load(i) == ENPU_OK, "cpu-ref loads it, %s does not: %s",
				   devices[i], enpu_last_error(ctx[i]));
	return 0;
}
