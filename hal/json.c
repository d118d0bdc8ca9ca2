/* SPDX-License-Identifier: MIT */
/* json.c - JSON string bodies (json.h). */
#include "json.h"

void hal_json_escape(FILE *f, const char *s, bool ascii)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || (ascii && c >= 0x7f))
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}
