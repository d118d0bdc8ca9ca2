/* SPDX-License-Identifier: MIT */
/*
 * tokenizer_pretok.h - the pre-tokenizers of byte-level BPE vocabularies: the rules that cut a
 * text into words before merging, chosen by the GGUF key tokenizer.ggml.pre. Each rule is the
 * reference runtime's sequence of regular expressions, written out as hand-made matchers over
 * Unicode classes (tokenizer_unicode.h) with the same leftmost-first semantics; no regex
 * engine is involved.
 */
#ifndef EDGE_NPU_TOKENIZER_PRETOK_H
#define EDGE_NPU_TOKENIZER_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pretok;

/* The rule named name (len bytes, e.g. "llama-bpe"), NULL when it is not known. */
const struct pretok *pretok_find(const char *name, size_t len);

/* The rule of a vocabulary without tokenizer.ggml.pre ("default"). */
const struct pretok *pretok_default(void);

/* The names pretok_find knows, comma-separated, into buf (cut short to fit cap bytes). */
void pretok_known_names(char *buf, size_t cap);

/* The rule's canonical name ("gpt-2", "llama3", ...). */
const char *pretok_name(const struct pretok *p);

/* Whether a word that is a token as a whole is emitted without merging (Llama-3 style). */
bool pretok_ignore_merges(const struct pretok *p);

/* The add_bos default of the rule, used when tokenizer.ggml.add_bos_token is absent. */
bool pretok_add_bos(const struct pretok *p);

/* Scratch memory of pretok_split, reusable across calls; zero-initialise, free with _free. */
struct pretok_work {
	uint32_t *cp;     /* code point of each character */
	uint16_t *fl;     /* its tokenizer_unicode.h flags */
	size_t *off;      /* byte offset of each character, n + 1 entries */
	size_t *ends;     /* the words: character index where each ends */
	size_t *tmp;
	size_t n_chars, cap_chars;
	size_t n_words;
};

/*
 * Cuts text[0..len) into words. On success w->n_words words lie in the text, word i from byte
 * w->off[i ? w->ends[i - 1] : 0] to w->off[w->ends[i]]; they cover the text in order. False
 * when memory runs out.
 */
bool pretok_split(const struct pretok *p, struct pretok_work *w, const char *text, size_t len);

void pretok_work_free(struct pretok_work *w);

#endif
