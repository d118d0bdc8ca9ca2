/* SPDX-License-Identifier: MIT */
/*
 * enpu_dump - greedy decoding through libedge-npu, printed as one JSON line per prompt:
 * {"prompt":..., "ids":[...], "steps":[{"top":[[id,logit],...5], "p1":..., "tok":id}, ...]}
 * The same format as llama_dump.mjs prints for llama.cpp, so compare.mjs can diff them.
 *
 * usage: enpu_dump MODEL.gguf STEPS PROMPT...   (ENPU_DEVICE picks the device, default cpu-ref)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edge_npu.h>

#include "dump_json.h"

static int dump(enpu_context *ctx, enpu_model *m, const char *prompt, int steps)
{
	enpu_token ids[4096];
	enpu_session *s;
	size_t n;
	/* an F32 KV cache, as the script asks of llama.cpp: only the weights' numerics differ */
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	so.cache_type = ENPU_CACHE_F32;
	if (enpu_tokenize(m, prompt, strlen(prompt), true, ids, 4096, &n) ||
	    enpu_session_create(m, &so, &s))
		return fprintf(stderr, "enpu_dump: %s\n", enpu_last_error(ctx)), 1;
	printf("{\"prompt\":");
	json_string(prompt);
	printf(",\"ids\":[");
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", ids[i]);
	printf("],\"steps\":[");
	enpu_status st = enpu_session_eval(s, ids, n);
	for (int k = 0; k < steps && !st; k++) {
		const float *lg;
		size_t nv;
		enpu_token t;

		enpu_session_logits(s, &lg, &nv);
		enpu_sample(s, NULL, NULL, &t);
		json_step(k, lg, nv, t);
		if (t == enpu_token_eos(m))
			break;
		st = enpu_session_eval(s, &t, 1);
	}
	printf("]}\n");
	enpu_session_free(s);
	if (st)
		fprintf(stderr, "enpu_dump: %s\n", enpu_last_error(ctx));
	return st ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	const char *device = getenv("ENPU_DEVICE");
	enpu_context *ctx;
	enpu_model *m;
	int rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: enpu_dump MODEL.gguf STEPS PROMPT...\n");
		return 2;
	}
	co.device = device ? device : "cpu-ref";
	co.n_threads = 1;
	if (enpu_context_create(&co, &ctx))
		return fprintf(stderr, "enpu_dump: %s\n", enpu_last_error(NULL)), 1;
	if (enpu_model_load(ctx, argv[1], NULL, &m)) {
		fprintf(stderr, "enpu_dump: %s\n", enpu_last_error(ctx));
		enpu_context_destroy(ctx);
		return 1;
	}
	for (int i = 3; i < argc && !rc; i++)
		rc = dump(ctx, m, argv[i], atoi(argv[2]));
	enpu_model_free(m);
	enpu_context_destroy(ctx);
	return rc;
}
