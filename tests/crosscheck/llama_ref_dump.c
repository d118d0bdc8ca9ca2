/* SPDX-License-Identifier: MIT */
/*
 * llama_ref_dump - greedy decoding through a llama.cpp build (libllama), printed in
 * enpu_dump's JSON-lines format so that compare.mjs can diff the two:
 * {"prompt":..., "ids":[...], "steps":[{"top":[[id,logit],...5], "p1":..., "tok":id}, ...]}
 * The tokens are llama.cpp's own tokenization of the prompt with BOS, as enpu_dump's are
 * edge-npu's: "ids equal" is then a check of the tokenizer too. F32 KV cache, flash attention
 * off, one thread, one context per prompt.
 *
 * usage: llama_ref_dump MODEL.gguf STEPS PROMPT...
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llama.h>

#include "dump_json.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
	(void)user;
	if (level >= GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

static int dump(struct llama_model *model, const char *prompt, int steps)
{
	const struct llama_vocab *vocab = llama_model_get_vocab(model);
	const int n_vocab = llama_vocab_n_tokens(vocab);
	struct llama_context_params cp = llama_context_default_params();
	llama_token ids[4096];

	cp.n_ctx = 512;
	cp.n_batch = 512;
	cp.n_threads = cp.n_threads_batch = 1;
	cp.type_k = cp.type_v = GGML_TYPE_F32;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	/* BOS always, as enpu_dump asks edge-npu's tokenizer (the vocabulary may not add one) */
	int n = llama_tokenize(vocab, prompt, (int)strlen(prompt), ids + 1, 4095, false, false);
	if (!ctx || n < 0)
		return fprintf(stderr, "llama_ref_dump: context or tokenization failed\n"), 1;
	ids[0] = llama_vocab_bos(vocab);
	n++;
	printf("{\"prompt\":");
	json_string(prompt);
	printf(",\"ids\":[");
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", ids[i]);
	printf("],\"steps\":[");
	int rc = llama_decode(ctx, llama_batch_get_one(ids, n));
	for (int k = 0; k < steps && !rc; k++) {
		const float *lg = llama_get_logits_ith(ctx, -1);
		llama_token t = json_step(k, lg, (size_t)n_vocab, -1);
		if (t == llama_vocab_eos(vocab))
			break;
		rc = llama_decode(ctx, llama_batch_get_one(&t, 1));
	}
	printf("]}\n");
	llama_free(ctx);
	if (rc)
		fprintf(stderr, "llama_ref_dump: llama_decode failed (%d)\n", rc);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: llama_ref_dump MODEL.gguf STEPS PROMPT...\n");
		return 2;
	}
	llama_log_set(quiet, NULL);
	llama_backend_init();
	struct llama_model_params mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	struct llama_model *model = llama_model_load_from_file(argv[1], mp);
	if (!model)
		return fprintf(stderr, "llama_ref_dump: llama.cpp cannot load %s\n", argv[1]), 1;
	for (int i = 3; i < argc && !rc; i++)
		rc = dump(model, argv[i], atoi(argv[2]));
	llama_model_free(model);
	llama_backend_free();
	return rc;
}
