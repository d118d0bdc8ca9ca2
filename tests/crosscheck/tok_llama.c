/* SPDX-License-Identifier: MIT */
/*
 * tok_llama.c - llama.cpp's token ids for each text of a file: one line per text, ids
 * separated by spaces (no BOS, special-token texts parsed). usage: tok_llama VOCAB TEXTS
 */
#include "tok_common.h"

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
	(void)level;
	(void)text;
	(void)user;
}

static void tokenize(const char *text, size_t len, void *user)
{
	const struct llama_vocab *v = user;
	static llama_token ids[1 << 22];
	int n = llama_tokenize(v, text, (int32_t)len, ids, 1 << 22, false, true);

	for (int i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", ids[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct llama_model_params mp = llama_model_default_params();
	struct llama_model *m;

	if (argc != 3) {
		fprintf(stderr, "usage: tok_llama VOCAB.gguf TEXTS\n");
		return 2;
	}
	llama_log_set(quiet, NULL);
	llama_backend_init();
	mp.vocab_only = true;
	if (!(m = llama_model_load_from_file(argv[1], mp))) {
		fprintf(stderr, "tok_llama: llama.cpp cannot load %s\n", argv[1]);
		return 1;
	}
	tok_for_texts(argv[2], tokenize, (void *)llama_model_get_vocab(m));
	llama_model_free(m);
	return 0;
}
