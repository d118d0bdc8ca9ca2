/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tokenizer.c - the tokenizers (driver/tokenizer.h): tok_encode() of arbitrary bytes and
 * tok_decode_token() of every id it gives and of ids out of range.
 *
 * Every vocabulary in the table below is loaded once, at start-up; the first input byte picks
 * one (and whether BOS is added), the rest is the text. A tokenizer added later plugs in as a
 * line of the table with a vocabulary of ../shared/vocab that it loads, and the seed corpus
 * gets a few texts with that line's index as first byte.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/gguf.h"
#include "driver/tokenizer.h"
#include "fuzz.h"

#ifndef ENPU_VOCAB_DIR
#error "ENPU_VOCAB_DIR: the directory of the shared vocabularies"
#endif

static struct fuzz_vocab {
	const char *name;
	const char *file;           /* in ENPU_VOCAB_DIR (or $ENPU_VOCAB_DIR) */
	struct tok_vocab *v;
} vocabs[] = {
	{ "llama (SentencePiece)", "ggml-vocab-llama-spm.gguf", NULL },
	{ "gpt-2 (byte-level BPE)", "ggml-vocab-gpt-2.gguf", NULL },
	{ "deepseek-llm (byte-level BPE)", "ggml-vocab-deepseek-llm.gguf", NULL },
	{ "gpt-neox (byte-level BPE)", "ggml-vocab-gpt-neox.gguf", NULL },
};
#define N_VOCABS (sizeof(vocabs) / sizeof(vocabs[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ENPU_VOCAB_DIR");

	(void)argc;
	(void)argv;
	if (!dir)
		dir = ENPU_VOCAB_DIR;
	for (size_t i = 0; i < N_VOCABS; i++) {
		struct gguf_file *f;
		char path[4096], err[512];

		snprintf(path, sizeof(path), "%s/%s", dir, vocabs[i].file);
		/*
		 * Without its vocabulary the target tests nothing: say so rather than pass. The
		 * conformance vocabularies sit in ../shared beside the checkout (the project's CI);
		 * where there is none (a package build), the replay is a skip (exit 77).
		 */
		if (access(path, F_OK)) {
			fprintf(stderr, "SKIP: fuzz_tokenizer: %s is absent (../shared/vocab)\n", path);
			exit(77);
		}
		if (gguf_open(path, &f, err, sizeof(err)) != GGUF_OK) {
			fprintf(stderr, "fuzz_tokenizer: %s\n", err);
			exit(1);
		}
		if (tok_vocab_from_gguf(f, &vocabs[i].v, err, sizeof(err)) != TOK_OK) {
			fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err);
			exit(1);
		}
		gguf_close(f);
	}
	return 0;
}

static void decode(const struct tok_vocab *v, int32_t id)
{
	char piece[64];
	size_t len = 0;
	enum tok_status st = tok_decode_token(v, id, piece, sizeof(piece), &len);
	bool in_range = id >= 0 && (uint32_t)id < tok_n_tokens(v);

	FUZZ_CHECK(st == TOK_OK || st == TOK_ERR_RANGE, "decode %d: status %d", id, st);
	FUZZ_CHECK(in_range || st == TOK_ERR_RANGE, "id %d out of range decoded", id);
	if (st == TOK_ERR_RANGE && in_range) {
		/* the documented retry: a buffer of the full length then fits */
		char *big = malloc(len ? len : 1);
		size_t len2 = 0;

		if (!big)
			abort();
		FUZZ_CHECK(tok_decode_token(v, id, big, len, &len2) == TOK_OK && len2 == len,
			   "decode %d with the length it asked for", id);
		free(big);
	}
	FUZZ_CHECK((tok_token_text(v, id) != NULL) == in_range, "token text of %d", id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_vocab *fv;
	const char *text;
	size_t len, n = 0, cap;
	int32_t *ids;
	bool bos;
	enum tok_status st;

	if (size < 1)
		return 0;
	fv = &vocabs[(data[0] & 0x7f) % N_VOCABS];
	bos = data[0] & 0x80;
	text = (const char *)data + 1;
	len = size - 1;
	/* deliberately small, so that the too-small answer and its retry are exercised too */
	cap = len / 2 + 1;
	ids = malloc(cap * sizeof(*ids));
	if (!ids)
		abort();
	st = tok_encode(fv->v, text, len, bos, ids, cap, &n);
	if (st == TOK_ERR_RANGE) {
		FUZZ_CHECK(n > cap, "%s: too small for %zu tokens with room for %zu", fv->name, n,
			   cap);
		cap = n;
		free(ids);
		ids = malloc(cap * sizeof(*ids));
		if (!ids)
			abort();
		st = tok_encode(fv->v, text, len, bos, ids, cap, &n);
	}
	FUZZ_CHECK(st == TOK_OK && n <= cap, "%s: encode status %d, %zu tokens", fv->name, st, n);
	for (size_t i = 0; i < n; i++)
		decode(fv->v, ids[i]);
	decode(fv->v, -1);
	decode(fv->v, (int32_t)tok_n_tokens(fv->v));
	if (len >= 4) {
		int32_t id;

		memcpy(&id, text, sizeof(id));
		decode(fv->v, id);
	}
	free(ids);
	return 0;
}
