/* SPDX-License-Identifier: MIT */
/*
 * tok_enpu.c - edge-npu's side of tokenizer.sh, on the library's internals (a vocabulary GGUF
 * is no model, so the public API cannot load it).
 *   tok_enpu ids VOCAB TEXTS       the ids of each text, as tok_llama prints them
 *   tok_enpu repre IN OUT NAME     copies vocabulary IN to OUT with tokenizer.ggml.pre NAME
 */
#include "tok_common.h"

#include "driver/gguf.h"
#include "driver/tokenizer.h"

static void tokenize(const char *text, size_t len, void *user)
{
	static int32_t ids[1 << 22];
	size_t n = 0;

	if (tok_encode(user, text, len, false, ids, 1 << 22, &n) != TOK_OK) {
		fprintf(stderr, "tok_enpu: encode failed\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", ids[i]);
	printf("\n");
}

static int ids(const char *vocab, const char *texts)
{
	struct gguf_file *f;
	struct tok_vocab *v;
	char err[512];

	if (gguf_open(vocab, &f, err, sizeof(err)) != GGUF_OK ||
	    tok_vocab_from_gguf(f, &v, err, sizeof(err)) != TOK_OK) {
		fprintf(stderr, "tok_enpu: %s: %s\n", vocab, err);
		return 1;
	}
	gguf_close(f);
	tok_for_texts(texts, tokenize, v);
	tok_vocab_free(v);
	return 0;
}

static int repre(const char *in, const char *out, const char *name)
{
	struct gguf_writer *w = gguf_writer_create();
	struct gguf_file *f;
	char err[512];

	if (!w || gguf_open(in, &f, err, sizeof(err)) != GGUF_OK) {
		fprintf(stderr, "tok_enpu: %s: %s\n", in, w ? err : "out of memory");
		return 1;
	}
	for (uint64_t i = 0; i < f->n_kv; i++)
		if (!gguf_str_eq(f->kv[i].key, "tokenizer.ggml.pre") &&
		    gguf_writer_copy_kv(w, &f->kv[i]) != GGUF_OK)
			return 1;
	if (gguf_writer_set_str(w, "tokenizer.ggml.pre", name) != GGUF_OK ||
	    gguf_writer_write(w, out, err, sizeof(err)) != GGUF_OK) {
		fprintf(stderr, "tok_enpu: %s: %s\n", out, err);
		return 1;
	}
	gguf_writer_free(w);
	gguf_close(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "ids"))
		return ids(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "repre"))
		return repre(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: tok_enpu ids VOCAB TEXTS | tok_enpu repre IN OUT NAME\n");
	return 2;
}
