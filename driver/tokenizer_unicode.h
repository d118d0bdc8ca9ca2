/* SPDX-License-Identifier: MIT */
/*
 * tokenizer_unicode.h - what the byte-level BPE pre-tokenizers need to know of a code point:
 * its general category collapsed to one class (\p{L}, \p{N}, ...) and whether it is white
 * space, from the generated range table tokenizer_unicode_data.c; and a UTF-8 decoder that
 * never fails (a byte that starts no valid sequence stands for itself, classed as U+FFFD).
 */
#ifndef EDGE_NPU_TOKENIZER_UNICODE_H
#define EDGE_NPU_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum uni_flag {
	UNI_UNASSIGNED = 0x01, /* Cn */
	UNI_NUMBER = 0x02,     /* \p{N} */
	UNI_LETTER = 0x04,     /* \p{L} */
	UNI_SEPARATOR = 0x08,  /* \p{Z} */
	UNI_MARK = 0x10,       /* \p{M} */
	UNI_PUNCT = 0x20,      /* \p{P} */
	UNI_SYMBOL = 0x40,     /* \p{S} */
	UNI_CONTROL = 0x80,    /* \p{C} but Cn */
	UNI_WHITESPACE = 0x100, /* \s: the White_Space property */
};

struct uni_range {
	uint32_t first;
	uint16_t flags;
};

extern const struct uni_range uni_ranges[];
extern const size_t uni_n_ranges;

/* The flags of code point cp (any value: above U+10FFFF is unassigned). Never 0. */
uint16_t uni_flags(uint32_t cp);

/*
 * Decodes the character at s[0..len) (len > 0) the way the reference runtime does: the lead
 * byte gives the length, continuation bytes are checked, overlong forms are accepted. Returns
 * its byte length (1 for an invalid byte, which decodes as U+FFFD) and the code point in *cp.
 */
size_t uni_decode(const char *s, size_t len, uint32_t *cp);

#endif
