/* SPDX-License-Identifier: MIT */
/* dump_json.h - what enpu_dump.c and llama_ref_dump.c print alike: strings, the top logits. */
#ifndef EDGE_NPU_DUMP_JSON_H
#define EDGE_NPU_DUMP_JSON_H

#include <math.h>
#include <stdio.h>

static inline void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* The five largest logits, best first. */
static inline void top5(const float *lg, size_t n, int top[5])
{
	for (int k = 0; k < 5; k++) {
		top[k] = -1;
		for (size_t i = 0; i < n; i++) {
			int taken = 0;
			for (int j = 0; j < k; j++)
				taken |= top[j] == (int)i;
			if (!taken && (top[k] < 0 || lg[i] > lg[top[k]]))
				top[k] = (int)i;
		}
	}
}

/*
 * Step k of a greedy run: the five largest logits, the top token's probability, and the token
 * taken (tok; a negative tok: the largest logit's), which it returns.
 */
static inline int json_step(int k, const float *lg, size_t n, int tok)
{
	int top[5];
	double z = 0;

	top5(lg, n, top);
	for (size_t i = 0; i < n; i++)
		z += exp(lg[i] - lg[top[0]]);
	if (tok < 0)
		tok = top[0];
	printf("%s{\"top\":[", k ? "," : "");
	for (int j = 0; j < 5; j++)
		printf("%s[%d,%.6f]", j ? "," : "", top[j], lg[top[j]]);
	printf("],\"p1\":%.6f,\"tok\":%d}", 1.0 / z, tok);
	return tok;
}

#endif
