/* SPDX-License-Identifier: MIT */
/* numbers.c - decimal numbers in any locale (numbers.h). */
#include "numbers.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

/* Kept for the process's life: a locale_t is what strtod_l needs to ignore LC_NUMERIC. */
static void make_c_numeric(void)
{
	c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The length of the decimal number's text at s (numbers.h's grammar), 0 when there is none. */
static size_t decimal_len(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; is_digit(s[i]); i++)
		digits++;
	if (s[i] == '.')
		for (i++; is_digit(s[i]); i++)
			digits++;
	if (!digits)
		return 0;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t e = i + 1;

		if (s[e] == '+' || s[e] == '-')
			e++;
		if (!is_digit(s[e]))
			return 0;
		while (is_digit(s[e]))
			e++;
		i = e;
	}
	return i;
}

int hal_parse_decimal(const char *s, double *out)
{
	char *end;
	double v;
	size_t n;

	if (!s || !(n = decimal_len(s)) || s[n])
		return -1;
	pthread_once(&c_numeric_once, make_c_numeric);
	errno = 0;
	v = c_numeric ? strtod_l(s, &end, c_numeric) : strtod(s, &end);
	/* ERANGE is an overflow (inf) or a result below the smallest normal: only the first fails */
	if (end != s + n || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}
