/* SPDX-License-Identifier: MIT */
/* tok_common.h - reading a file of texts in the vocabulary-test format (tokenizer.sh). */
#ifndef TOK_COMMON_H
#define TOK_COMMON_H

#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_SEPARATOR "\n__ggml_vocab_test__\n"

/* Calls fn(text, len, user) for each text of path; exits with a message on failure. */
static void tok_for_texts(const char *path, void (*fn)(const char *, size_t, void *), void *user)
{
	FILE *f = fopen(path, "rb");
	size_t sep = strlen(TOK_SEPARATOR), n;
	char *all, *p, *end;
	long size;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(all = malloc((size_t)size + 1)) || fread(all, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: cannot read\n", path);
		exit(1);
	}
	fclose(f);
	n = (size_t)size;
	for (p = all, end = all + n; p < end;) {
		char *m = memmem(p, (size_t)(end - p), TOK_SEPARATOR, sep);

		if (!m)
			break;
		fn(p, (size_t)(m - p), user);
		p = m + sep;
	}
	free(all);
}

#endif
