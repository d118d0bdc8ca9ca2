/* SPDX-License-Identifier: MIT */
/* vocab.c - learning the project's own llama vocabulary from vocab_corpus. See vocab.h. */
#include "vocab.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/gguf.h"

/* SentencePiece's visible space, U+2581, which starts every word. */
#define SPACE_MARK "\xe2\x96\x81"

/* llama.cpp's token types, as the tokenizer reads them. */
enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_BYTE = 6 };

/* The fixed head of the vocabulary: ids 0..2 and the 256 byte pieces after them. */
#define N_CONTROL 3
#define N_HEAD (N_CONTROL + 256)

/* A distinct word of the corpus as a run of symbol ids in trainer.syms. */
struct word {
	size_t off;
	uint32_t len, freq;
};

struct trainer {
	char **sym;         /* symbol strings: the base characters, then each merge's result */
	uint32_t n_sym, n_base, cap_sym;
	uint32_t *syms;     /* every word's symbols, one run per word */
	size_t n_syms;
	struct word *words;
	uint32_t n_words;
	uint64_t *pair_key; /* pair counts, open addressing: key (a << 32 | b) + 1, 0 free */
	uint32_t *pair_n;
	size_t pair_mask;
};

/* The id of a symbol string, or -1. Linear: a few thousand symbols, looked up per merge. */
static int64_t sym_find(const struct trainer *t, const char *s, size_t len)
{
	for (uint32_t i = 0; i < t->n_sym; i++)
		if (!strncmp(t->sym[i], s, len) && t->sym[i][len] == 0)
			return i;
	return -1;
}

/* The id of s (len bytes), added when new; -1 when out of memory. */
static int64_t sym_intern(struct trainer *t, const char *s, size_t len)
{
	int64_t id = sym_find(t, s, len);

	if (id >= 0)
		return id;
	if (t->n_sym == t->cap_sym) {
		uint32_t cap = t->cap_sym ? 2 * t->cap_sym : 256;
		char **p = realloc(t->sym, sizeof(*p) * cap);
		if (!p)
			return -1;
		t->sym = p;
		t->cap_sym = cap;
	}
	if (!(t->sym[t->n_sym] = strndup(s, len)))
		return -1;
	return t->n_sym++;
}

/* Bytes of the UTF-8 character starting with byte c (1 for a stray continuation byte). */
static size_t utf8_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every whitespace-separated word of the corpus, "▁" prepended; malloc'd, *n set. */
static char **corpus_words(size_t *n)
{
	size_t cap = 4096, k = 0;
	char **w = malloc(sizeof(*w) * cap);

	for (size_t p = 0; w && vocab_corpus[p]; p++)
		for (const char *s = vocab_corpus[p]; *s;) {
			size_t len = strcspn(s, " \n\t");
			if (len && k == cap) {
				char **more = realloc(w, sizeof(*w) * (cap *= 2));
				if (!more)
					goto oom;
				w = more;
			}
			if (len && !(w[k] = malloc(len + sizeof(SPACE_MARK))))
				goto oom;
			if (len)
				sprintf(w[k++], SPACE_MARK "%.*s", (int)len, s);
			s += len + (s[len] != 0);
		}
	*n = k;
	return w;
oom:
	while (k)
		free(w[--k]);
	free(w);
	return NULL;
}

/* One word of freq occurrences as base-character symbols appended to t->syms. */
static int add_word(struct trainer *t, const char *s, uint32_t freq, size_t *cap)
{
	size_t n = strlen(s);

	if (t->n_syms + n > *cap) {
		size_t c = 2 * *cap + n;
		uint32_t *p = realloc(t->syms, sizeof(*p) * c);
		if (!p)
			return -1;
		t->syms = p;
		*cap = c;
	}
	struct word *w = &t->words[t->n_words++];
	*w = (struct word){ t->n_syms, 0, freq };
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len((unsigned char)s[i]);
		l = l > n - i ? n - i : l;
		int64_t id = sym_intern(t, s + i, l);
		if (id < 0)
			return -1;
		t->syms[t->n_syms++] = (uint32_t)id;
		w->len++;
		i += l;
	}
	return 0;
}

/* The base symbols (the space mark and printable ASCII), then each distinct word once. */
static int load_corpus(struct trainer *t)
{
	size_t n = 0, cap = 0;
	char **w = corpus_words(&n);
	int rc = -1;

	if (!w || sym_intern(t, SPACE_MARK, strlen(SPACE_MARK)) < 0)
		goto out;
	for (char c = '!'; c <= '~'; c++)
		if (sym_intern(t, &c, 1) < 0)
			goto out;
	qsort(w, n, sizeof(*w), cmp_str);
	if (!(t->words = malloc(sizeof(*t->words) * (n ? n : 1))))
		goto out;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(w[i], w[j]); j++)
			;
		if (add_word(t, w[i], (uint32_t)(j - i), &cap))
			goto out;
	}
	t->n_base = t->n_sym;
	rc = 0;
out:
	for (size_t i = 0; w && i < n; i++)
		free(w[i]);
	free(w);
	return rc;
}

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 33);
}

/* Counts every adjacent pair of symbols, weighted by the word's frequency. */
static void count_pairs(struct trainer *t)
{
	memset(t->pair_key, 0, sizeof(*t->pair_key) * (t->pair_mask + 1));
	for (uint32_t k = 0; k < t->n_words; k++) {
		const uint32_t *s = t->syms + t->words[k].off;
		for (uint32_t i = 0; i + 1 < t->words[k].len; i++) {
			uint64_t key = ((uint64_t)s[i] << 32 | s[i + 1]) + 1;
			size_t h = hash64(key) & t->pair_mask;
			while (t->pair_key[h] && t->pair_key[h] != key)
				h = (h + 1) & t->pair_mask;
			if (!t->pair_key[h])
				t->pair_n[h] = 0;
			t->pair_key[h] = key;
			t->pair_n[h] += t->words[k].freq;
		}
	}
}

/* The most frequent pair (ties: the smallest ids, so the result never depends on hashing). */
static uint64_t best_pair(const struct trainer *t, uint32_t *count)
{
	uint64_t best = 0;

	*count = 0;
	for (size_t h = 0; h <= t->pair_mask; h++)
		if (t->pair_key[h] && (t->pair_n[h] > *count ||
				       (t->pair_n[h] == *count && t->pair_key[h] < best))) {
			best = t->pair_key[h];
			*count = t->pair_n[h];
		}
	return best - 1;
}

/* Replaces every a b in the words by id. */
static void apply_merge(struct trainer *t, uint32_t a, uint32_t b, uint32_t id)
{
	for (uint32_t k = 0; k < t->n_words; k++) {
		uint32_t *s = t->syms + t->words[k].off, o = 0;
		for (uint32_t i = 0; i < t->words[k].len; i++) {
			bool hit = i + 1 < t->words[k].len && s[i] == a && s[i + 1] == b;
			s[o++] = hit ? id : s[i];
			i += hit;
		}
		t->words[k].len = o;
	}
}

/* Learns merges until no pair repeats or the vocabulary is full. */
static int learn(struct trainer *t)
{
	t->pair_mask = (1u << 16) - 1; /* well above the corpus's distinct pairs */
	t->pair_key = malloc(sizeof(*t->pair_key) * (t->pair_mask + 1));
	t->pair_n = malloc(sizeof(*t->pair_n) * (t->pair_mask + 1));
	if (!t->pair_key || !t->pair_n)
		return -1;
	while (N_HEAD + t->n_sym < VOCAB_MAX_TOKENS) {
		uint32_t count;
		count_pairs(t);
		uint64_t pair = best_pair(t, &count);
		if (count < 2)
			break;
		uint32_t a = (uint32_t)(pair >> 32), b = (uint32_t)pair;
		size_t la = strlen(t->sym[a]), lb = strlen(t->sym[b]);
		char *cat = malloc(la + lb + 1);
		if (!cat)
			return -1;
		memcpy(cat, t->sym[a], la);
		memcpy(cat + la, t->sym[b], lb + 1);
		int64_t id = sym_intern(t, cat, la + lb);
		free(cat);
		if (id < 0)
			return -1;
		apply_merge(t, a, b, (uint32_t)id);
	}
	/*
	 * The last merges go until the size is a multiple of VOCAB_ALIGN, as real vocabularies
	 * are: the NPU takes the output projection only in whole tiles. Later merges build on
	 * earlier ones only, so every piece kept can still be reached.
	 */
	uint32_t keep = (N_HEAD + t->n_sym) / VOCAB_ALIGN * VOCAB_ALIGN - N_HEAD;
	while (t->n_sym > keep && t->n_sym > t->n_base)
		free(t->sym[--t->n_sym]);
	return 0;
}

static void trainer_free(struct trainer *t)
{
	for (uint32_t i = 0; i < t->n_sym; i++)
		free(t->sym[i]);
	free(t->sym);
	free(t->syms);
	free(t->words);
	free(t->pair_key);
	free(t->pair_n);
}

/*
 * The learnt pieces score by merge rank (the first merge highest), below them the base
 * characters; control and byte pieces score 0 as in llama's vocabulary.
 */
static int write_keys(struct gguf_writer *w, const struct trainer *t, uint32_t n)
{
	char bytes[256][7];
	const char **text = malloc(sizeof(*text) * n);
	float *score = malloc(sizeof(*score) * n);
	int32_t *type = malloc(sizeof(*type) * n);
	int rc = -1;

	if (!text || !score || !type)
		goto out;
	text[0] = "<unk>", text[1] = "<s>", text[2] = "</s>";
	for (uint32_t i = 0; i < N_HEAD; i++) {
		if (i >= N_CONTROL) {
			snprintf(bytes[i - N_CONTROL], sizeof(bytes[0]), "<0x%02X>", i - N_CONTROL);
			text[i] = bytes[i - N_CONTROL];
		}
		score[i] = 0.0f;
		type[i] = i == 0 ? TYPE_UNKNOWN : i < N_CONTROL ? TYPE_CONTROL : TYPE_BYTE;
	}
	const uint32_t n_merged = t->n_sym - t->n_base;
	for (uint32_t i = 0; i < t->n_sym; i++) {
		/* the merges first, in the order they were learnt */
		uint32_t s = i < n_merged ? t->n_base + i : i - n_merged;
		text[N_HEAD + i] = t->sym[s];
		score[N_HEAD + i] = -(float)i;
		type[N_HEAD + i] = TYPE_NORMAL;
	}
	rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") ||
	     gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", text, n) ||
	     gguf_writer_set_arr32(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, score, n) ||
	     gguf_writer_set_arr32(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, type, n) ||
	     gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0) ||
	     gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
	     gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
	     gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true) ||
	     gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false) ? -1 : 0;
out:
	free(text);
	free(score);
	free(type);
	return rc;
}

int vocab_write_builtin(struct gguf_writer *w, uint32_t *n_tokens, char *err, size_t err_len)
{
	struct trainer t = { 0 };
	int rc = load_corpus(&t) || learn(&t) ? -1 : 0;
	const uint32_t n = N_HEAD + t.n_sym;

	if (rc)
		snprintf(err, err_len, "out of memory learning the built-in vocabulary");
	else if ((rc = write_keys(w, &t, n)))
		snprintf(err, err_len, "writing the built-in vocabulary failed");
	if (!rc && n_tokens)
		*n_tokens = n;
	trainer_free(&t);
	return rc;
}
