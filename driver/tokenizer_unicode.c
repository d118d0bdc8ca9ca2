/* SPDX-License-Identifier: MIT */
/*
 * tokenizer_unicode.c - code point classes from the generated range table, and the UTF-8
 * decoder of the byte-level BPE tokenizer.
 */
#include "tokenizer_unicode.h"

uint16_t uni_flags(uint32_t cp)
{
	size_t lo = 0, hi = uni_n_ranges;

	if (cp > 0x10FFFF)
		return UNI_UNASSIGNED;
	/* the last range whose first code point is <= cp; ranges[0] starts at 0 */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (uni_ranges[mid].first <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return uni_ranges[lo].flags;
}

static int is_cont(char c)
{
	return ((uint8_t)c & 0xC0) == 0x80;
}

size_t uni_decode(const char *s, size_t len, uint32_t *cp)
{
	const uint8_t b = (uint8_t)s[0];

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if ((b & 0xE0) == 0xC0 && len >= 2 && is_cont(s[1])) {
		*cp = (uint32_t)(b & 0x1F) << 6 | ((uint8_t)s[1] & 0x3F);
		return 2;
	}
	if ((b & 0xF0) == 0xE0 && len >= 3 && is_cont(s[1]) && is_cont(s[2])) {
		*cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)((uint8_t)s[1] & 0x3F) << 6 |
		      ((uint8_t)s[2] & 0x3F);
		return 3;
	}
	if ((b & 0xF8) == 0xF0 && len >= 4 && is_cont(s[1]) && is_cont(s[2]) && is_cont(s[3])) {
		*cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)((uint8_t)s[1] & 0x3F) << 12 |
		      (uint32_t)((uint8_t)s[2] & 0x3F) << 6 | ((uint8_t)s[3] & 0x3F);
		return 4;
	}
	*cp = 0xFFFD; /* the runtime's replacement: classed as a symbol, the byte kept */
	return 1;
}
