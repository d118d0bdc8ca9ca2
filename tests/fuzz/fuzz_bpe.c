/* SPDX-License-Identifier: MIT */
/*
 * fuzz_bpe.c - the byte-level BPE path: the pre-tokenizers (driver/tokenizer_pretok.h) and
 * encoding with a BPE vocabulary.
 *
 * Byte 0 picks a pre-tokenizer rule; the rest is the text. The words pretok_split gives must
 * be non-empty, in order, and cover the text exactly. Then the text is encoded with the
 * GPT-NeoX vocabulary of ../shared/vocab under that rule (the rule is swapped into a copy of
 * the vocabulary at start-up), every id must be in range, and when the text is valid UTF-8
 * without special-token markup the ids must decode back to the very same bytes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/gguf.h"
#include "driver/tokenizer.h"
#include "driver/tokenizer_pretok.h"
#include "fuzz.h"

#ifndef ENPU_VOCAB_DIR
#error "ENPU_VOCAB_DIR: the directory of the shared vocabularies"
#endif

static const char *const rule_names[] = {
	"default", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "smollm",
	"falcon", "bloom", "viking", "qwen35",
};
#define N_RULES (sizeof(rule_names) / sizeof(rule_names[0]))

static struct tok_vocab *vocabs[N_RULES];

/* The NeoX vocabulary with tokenizer.ggml.pre replaced by name, loaded through a temp file. */
static struct tok_vocab *load_with_rule(const struct gguf_file *f, const char *name)
{
	struct gguf_writer *w = gguf_writer_create();
	char path[] = "/tmp/fuzz_bpe_XXXXXX", err[512];
	struct gguf_file *g;
	struct tok_vocab *v;
	int fd = mkstemp(path);

	if (!w || fd < 0)
		abort();
	close(fd);
	for (uint64_t i = 0; i < f->n_kv; i++) {
		if (!gguf_str_eq(f->kv[i].key, "tokenizer.ggml.pre") &&
		    gguf_writer_copy_kv(w, &f->kv[i]) != GGUF_OK)
			abort();
	}
	if (gguf_writer_set_str(w, "tokenizer.ggml.pre", name) != GGUF_OK ||
	    gguf_writer_write(w, path, err, sizeof(err)) != GGUF_OK ||
	    gguf_open(path, &g, err, sizeof(err)) != GGUF_OK ||
	    tok_vocab_from_gguf(g, &v, err, sizeof(err)) != TOK_OK) {
		fprintf(stderr, "fuzz_bpe: %s: %s\n", name, err);
		exit(1);
	}
	gguf_close(g);
	gguf_writer_free(w);
	unlink(path);
	return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ENPU_VOCAB_DIR");
	struct gguf_file *f;
	char path[4096], err[512];

	(void)argc;
	(void)argv;
	if (!dir)
		dir = ENPU_VOCAB_DIR;
	snprintf(path, sizeof(path), "%s/ggml-vocab-gpt-neox.gguf", dir);
	if (access(path, F_OK)) {
		fprintf(stderr, "SKIP: fuzz_bpe: %s is absent (../shared/vocab)\n", path);
		exit(77);
	}
	if (gguf_open(path, &f, err, sizeof(err)) != GGUF_OK) {
		fprintf(stderr, "fuzz_bpe: %s\n", err);
		exit(1);
	}
	for (size_t i = 0; i < N_RULES; i++)
		vocabs[i] = load_with_rule(f, rule_names[i]);
	gguf_close(f);
	return 0;
}

/* Strict UTF-8: shortest forms only, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t b = s[i];
		size_t k = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
			 : (b & 0xF8) == 0xF0 ? 4 : 0;
		uint32_t cp;

		if (!k || i + k > n)
			return false;
		cp = k == 1 ? b : (uint32_t)(b & (0x7F >> k));
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return false;
		i += k;
	}
	return true;
}

static void check_words(const struct pretok *p, const char *text, size_t len)
{
	struct pretok_work w = { 0 };
	size_t prev = 0;

	FUZZ_CHECK(pretok_split(p, &w, text, len), "%s: out of memory", pretok_name(p));
	FUZZ_CHECK(len == 0 || w.n_words > 0, "%s: no word for %zu bytes", pretok_name(p), len);
	for (size_t i = 0; i < w.n_words; i++) {
		size_t end = w.off[w.ends[i]];

		FUZZ_CHECK(end > prev && end <= len, "%s: word %zu ends at %zu after %zu (of %zu)",
			   pretok_name(p), i, end, prev, len);
		prev = end;
	}
	FUZZ_CHECK(prev == len, "%s: the words cover %zu of %zu bytes", pretok_name(p), prev, len);
	pretok_work_free(&w);
}

static void check_encode(const struct tok_vocab *v, const char *text, size_t len)
{
	int32_t *ids = malloc((len + 2) * sizeof(*ids));
	char *back = malloc(len + 1);
	size_t n = 0, used = 0;
	bool plain = valid_utf8((const uint8_t *)text, len) && !memmem(text, len, "<|", 2);

	if (!ids || !back)
		abort();
	/* at most one token per byte, one per invalid byte that becomes U+FFFD's 3 */
	FUZZ_CHECK(tok_encode(v, text, len, false, ids, len + 2, &n) == TOK_OK || n > len + 2,
		   "encode failed");
	if (n > len + 2) {
		free(ids);
		ids = malloc(n * sizeof(*ids));
		if (!ids)
			abort();
		FUZZ_CHECK(tok_encode(v, text, len, false, ids, n, &n) == TOK_OK, "encode failed");
	}
	for (size_t i = 0; i < n; i++) {
		char piece[256];
		size_t pl;

		FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < tok_n_tokens(v), "id %d", ids[i]);
		FUZZ_CHECK(tok_decode_token(v, ids[i], piece, sizeof(piece), &pl) == TOK_OK,
			   "decode %d", ids[i]);
		if (plain) {
			FUZZ_CHECK(used + pl <= len, "decoded text longer than %zu bytes", len);
			memcpy(back + used, piece, pl);
		}
		used += pl;
	}
	if (plain)
		FUZZ_CHECK(used == len && memcmp(back, text, len) == 0,
			   "%s: %zu bytes do not decode back (%zu)", tok_pre_name(v), len, used);
	free(back);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t r;

	if (size < 1)
		return 0;
	r = data[0] % N_RULES;
	check_words(pretok_find(rule_names[r], strlen(rule_names[r])), (const char *)data + 1,
		    size - 1);
	check_encode(vocabs[r], (const char *)data + 1, size - 1);
	return 0;
}
