/* SPDX-License-Identifier: MIT */
/* report.c - npu-bench's rows as text, CSV, JSON or Markdown (report.h). */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "measure.h"
#include "hal/json.h"

int bench_format_parse(const char *s, enum bench_format *out)
{
	static const char *const names[] = { "text", "csv", "json", "md" };

	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, names[i])) {
			*out = (enum bench_format)i;
			return 0;
		}
	return -1;
}

void bench_stat_of(const double *v, uint32_t n, struct bench_stat *out)
{
	double sum = 0.0, ss = 0.0;
	double *tmp = malloc(sizeof(double) * n);

	for (uint32_t i = 0; i < n; i++)
		sum += v[i];
	out->n = n;
	out->mean = sum / n;
	for (uint32_t i = 0; i < n; i++)
		ss += (v[i] - out->mean) * (v[i] - out->mean);
	out->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
	bench_range(v, n, &out->min, &out->max);
	if (tmp) {
		memcpy(tmp, v, sizeof(double) * n);
		out->median = bench_median(tmp, n);
		free(tmp);
	} else {
		out->median = NAN;
	}
}

/* Columns a UTF-8 string takes (continuation bytes take none): "±" is one column. */
static int display_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void pad(FILE *f, int n)
{
	while (n-- > 0)
		fputc(' ', f);
}

static const char *title(const struct bench_col *c)
{
	return c->title ? c->title : c->key;
}

/* A cell as people read it (text and Markdown). */
static void human(const struct bench_col *c, const struct bench_cell *x, char *buf, size_t len)
{
	const char *u = c->unit ? c->unit : "";

	buf[0] = '\0';
	if (!x->set)
		return;
	switch (c->kind) {
	case BENCH_COL_STR:
		snprintf(buf, len, "%s", x->s ? x->s : "");
		break;
	case BENCH_COL_INT:
		snprintf(buf, len, "%lld", (long long)x->v);
		break;
	case BENCH_COL_NUM:
		if (isfinite(x->v))
			snprintf(buf, len, "%.*f%s", c->prec, x->v, u);
		break;
	case BENCH_COL_STAT:
		snprintf(buf, len, "%.*f%s ± %.*f", c->prec, x->st.mean, u, c->prec, x->st.stddev);
		break;
	}
}

static void csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	hal_json_escape(f, s, false);
	fputc('"', f);
}

/*
 * A number as JSON and CSV take it, to the last bit (%.17g reads back as the same double), so
 * that statistics recomputed from the printed samples agree with the printed ones; NaN and
 * infinities have no JSON spelling, they are null.
 */
static void num(FILE *f, double v, bool json)
{
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else if (json)
		fputs("null", f);
}

static const char *const stat_keys[] = { "mean", "stddev", "median", "min", "max" };

static double stat_field(const struct bench_stat *st, int i)
{
	const double v[] = { st->mean, st->stddev, st->median, st->min, st->max };

	return v[i];
}

void bench_report_begin(struct bench_report *r, enum bench_format fmt, FILE *out,
			const struct bench_col *cols, uint32_t n_cols)
{
	memset(r, 0, sizeof(*r));
	r->fmt = fmt;
	r->out = out;
	r->notes = fmt == BENCH_FMT_TEXT ? out : stderr;
	r->cols = cols;
	r->n_cols = n_cols < BENCH_REPORT_MAX_COLS ? n_cols : BENCH_REPORT_MAX_COLS;
	r->open = true;
	/* the header waits for the first row, so that the notes about the run come first */
	r->header_due = fmt != BENCH_FMT_JSON;
	if (fmt == BENCH_FMT_JSON) {
		fputs("[\n", out);
		fflush(out);
	}
}

static void header(struct bench_report *r)
{
	FILE *out = r->out;

	for (uint32_t i = 0; i < r->n_cols; i++) {
		const struct bench_col *c = &r->cols[i];
		const bool last = i + 1 == r->n_cols;

		switch (r->fmt) {
		case BENCH_FMT_TEXT: {
			int w = display_width(title(c));

			if (c->kind != BENCH_COL_STR)
				pad(out, c->width - w);
			fputs(title(c), out);
			if (!last && c->kind == BENCH_COL_STR)
				pad(out, c->width - w);
			fputs(last ? "\n" : "  ", out);
			break;
		}
		case BENCH_FMT_MD:
			fprintf(out, "| %s %s", title(c), last ? "|\n" : "");
			break;
		case BENCH_FMT_CSV:
			if (c->kind != BENCH_COL_STAT) {
				csv_str(out, c->key);
			} else {
				for (int k = 0; k < 5; k++)
					fprintf(out, "%s%s_%s", k ? "," : "", c->key, stat_keys[k]);
			}
			fputs(last ? "\n" : ",", out);
			break;
		case BENCH_FMT_JSON:
			break;
		}
	}
	if (r->fmt == BENCH_FMT_MD)
		for (uint32_t i = 0; i < r->n_cols; i++)
			fprintf(out, "| %s %s", r->cols[i].kind == BENCH_COL_STR ? "---" : "---:",
				i + 1 < r->n_cols ? "" : "|\n");
	r->header_due = false;
}

void bench_report_note(struct bench_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(r->notes, fmt, ap);
	va_end(ap);
	fflush(r->notes);
	/* a note between the rows of a text table starts a new section: its header again */
	if (r->fmt == BENCH_FMT_TEXT && r->n_rows)
		r->header_due = true;
}

static struct bench_cell *cell(struct bench_report *r, uint32_t col)
{
	return col < r->n_cols ? &r->cell[col] : NULL;
}

void bench_report_str(struct bench_report *r, uint32_t col, const char *s)
{
	struct bench_cell *x = cell(r, col);

	if (x)
		*x = (struct bench_cell){ .set = true, .s = s };
}

void bench_report_int(struct bench_report *r, uint32_t col, long long v)
{
	struct bench_cell *x = cell(r, col);

	if (x)
		*x = (struct bench_cell){ .set = true, .v = (double)v };
}

void bench_report_num(struct bench_report *r, uint32_t col, double v)
{
	struct bench_cell *x = cell(r, col);

	if (x)
		*x = (struct bench_cell){ .set = true, .v = v };
}

int bench_report_stat(struct bench_report *r, uint32_t col, const double *v, uint32_t n)
{
	struct bench_cell *x = cell(r, col);
	double *copy = n ? malloc(sizeof(double) * n) : NULL;

	if (!x || !copy) {
		free(copy);
		return -1;
	}
	free(x->samples);
	memcpy(copy, v, sizeof(double) * n);
	*x = (struct bench_cell){ .set = true, .samples = copy };
	bench_stat_of(v, n, &x->st);
	return 0;
}

/* A line of text without its trailing blanks (an empty last cell). */
static void put_trimmed(FILE *out, char *line, size_t len)
{
	while (len && line[len - 1] == ' ')
		len--;
	fwrite(line, 1, len, out);
	fputc('\n', out);
}

static void row_text(struct bench_report *r)
{
	char buf[256], *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		return;
	for (uint32_t i = 0; i < r->n_cols; i++) {
		const struct bench_col *c = &r->cols[i];

		human(c, &r->cell[i], buf, sizeof(buf));
		int w = display_width(buf);
		if (c->kind != BENCH_COL_STR)
			pad(f, c->width - w);
		fputs(buf, f);
		if (c->kind == BENCH_COL_STR)
			pad(f, c->width - w);
		fputs("  ", f);
	}
	fclose(f);
	put_trimmed(r->out, line, len);
	free(line);
}

static void row_md(struct bench_report *r)
{
	char buf[256];

	for (uint32_t i = 0; i < r->n_cols; i++) {
		human(&r->cols[i], &r->cell[i], buf, sizeof(buf));
		/* a | inside a cell would split it: Markdown escapes it */
		fputs("| ", r->out);
		for (const char *p = buf; *p; p++) {
			if (*p == '|')
				fputc('\\', r->out);
			fputc(*p, r->out);
		}
		fputs(i + 1 < r->n_cols ? " " : " |\n", r->out);
	}
}

static void row_csv(struct bench_report *r)
{
	for (uint32_t i = 0; i < r->n_cols; i++) {
		const struct bench_col *c = &r->cols[i];
		const struct bench_cell *x = &r->cell[i];

		if (c->kind == BENCH_COL_STAT) {
			for (int k = 0; k < 5; k++) {
				if (k)
					fputc(',', r->out);
				if (x->set)
					num(r->out, stat_field(&x->st, k), false);
			}
		} else if (x->set && c->kind == BENCH_COL_STR) {
			csv_str(r->out, x->s ? x->s : "");
		} else if (x->set && c->kind == BENCH_COL_INT) {
			fprintf(r->out, "%lld", (long long)x->v);
		} else if (x->set) {
			num(r->out, x->v, false);
		}
		fputs(i + 1 < r->n_cols ? "," : "\n", r->out);
	}
}

static void row_json(struct bench_report *r)
{
	fputs(r->n_rows ? ",\n  {" : "  {", r->out);
	for (uint32_t i = 0; i < r->n_cols; i++) {
		const struct bench_col *c = &r->cols[i];
		const struct bench_cell *x = &r->cell[i];

		fputs(i ? ", " : "", r->out);
		json_str(r->out, c->key);
		fputs(": ", r->out);
		if (!x->set) {
			fputs("null", r->out);
		} else if (c->kind == BENCH_COL_STR) {
			json_str(r->out, x->s ? x->s : "");
		} else if (c->kind == BENCH_COL_INT) {
			fprintf(r->out, "%lld", (long long)x->v);
		} else if (c->kind == BENCH_COL_NUM) {
			num(r->out, x->v, true);
		} else {
			fputc('{', r->out);
			for (int k = 0; k < 5; k++) {
				fprintf(r->out, "%s\"%s\": ", k ? ", " : "", stat_keys[k]);
				num(r->out, stat_field(&x->st, k), true);
			}
			fprintf(r->out, ", \"n\": %u, \"samples\": [", x->st.n);
			for (uint32_t k = 0; k < x->st.n; k++) {
				fputs(k ? ", " : "", r->out);
				num(r->out, x->samples[k], true);
			}
			fputs("]}", r->out);
		}
	}
	fputc('}', r->out);
}

void bench_report_row(struct bench_report *r)
{
	if (r->header_due)
		header(r);
	switch (r->fmt) {
	case BENCH_FMT_TEXT: row_text(r); break;
	case BENCH_FMT_MD: row_md(r); break;
	case BENCH_FMT_CSV: row_csv(r); break;
	case BENCH_FMT_JSON: row_json(r); break;
	}
	r->n_rows++;
	for (uint32_t i = 0; i < r->n_cols; i++) {
		free(r->cell[i].samples);
		r->cell[i] = (struct bench_cell){ 0 };
	}
	fflush(r->out);
}

void bench_report_end(struct bench_report *r)
{
	if (!r->open)
		return;
	/* CSV and Markdown without rows still say what the columns would have been */
	if (r->header_due && !r->n_rows && r->fmt != BENCH_FMT_TEXT)
		header(r);
	if (r->fmt == BENCH_FMT_JSON)
		fputs(r->n_rows ? "\n]\n" : "]\n", r->out);
	for (uint32_t i = 0; i < r->n_cols; i++) {
		free(r->cell[i].samples);
		r->cell[i] = (struct bench_cell){ 0 };
	}
	r->open = false;
	fflush(r->out);
}
