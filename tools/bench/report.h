/* SPDX-License-Identifier: MIT */
/*
 * report.h - npu-bench's one output layer: every benchmark describes its results as rows of
 * named columns, and this module writes them as a table for people (text, the default), CSV,
 * JSON or Markdown (`-o csv|json|md`), as llama-bench does. No benchmark formats a machine
 * format itself.
 *
 * A figure measured over repetitions is a statistic column: people read "mean ± stddev" (the
 * sample standard deviation, n - 1, as llama-bench prints t/s), the machine formats get the
 * mean, stddev, median, min and max (CSV: one column each, <key>_mean ...; JSON: an object
 * with those and the samples).
 *
 * Rows are written as they end, so that a long benchmark shows its progress: text widths come
 * from the column definitions, not from the data. The header waits for the first row, and in
 * text comes again after a note that follows rows (a section, e.g. per thread count). Prose (what was measured, on
 * which host) goes through bench_report_note: on stdout beside the text table, on stderr for
 * the other formats, so that stdout holds nothing but the CSV, JSON or Markdown.
 *
 * Not thread-safe: one report per benchmark run, on the thread that measures.
 */
#ifndef EDGE_NPU_TOOLS_BENCH_REPORT_H
#define EDGE_NPU_TOOLS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum bench_format { BENCH_FMT_TEXT, BENCH_FMT_CSV, BENCH_FMT_JSON, BENCH_FMT_MD };

/* "text", "csv", "json" or "md" to *out; -1 for anything else. */
int bench_format_parse(const char *s, enum bench_format *out);

enum bench_col_kind {
	BENCH_COL_STR,  /* text, left-aligned */
	BENCH_COL_INT,  /* an integer */
	BENCH_COL_NUM,  /* a number printed with prec decimals (NaN: empty / null) */
	BENCH_COL_STAT, /* samples: mean ± stddev for people, the statistics for machines */
};

struct bench_col {
	const char *key;   /* the CSV column and JSON field: lower case, no spaces */
	const char *title; /* the text and Markdown header; NULL: key */
	enum bench_col_kind kind;
	int width;         /* text: the column's width (wider values push the row right) */
	int prec;          /* NUM, STAT: decimals */
	const char *unit;  /* text and Markdown: after the (mean) value, e.g. "x"; may be NULL */
};

#define BENCH_REPORT_MAX_COLS 32

/* Mean, sample standard deviation (0 for one sample), median, min and max of n samples. */
struct bench_stat {
	double mean, stddev, median, min, max;
	uint32_t n;
};

/* The statistics of v[0..n) (n >= 1; v is not reordered). */
void bench_stat_of(const double *v, uint32_t n, struct bench_stat *out);

struct bench_cell {
	bool set;
	const char *s;     /* STR: owned by the caller until the row ends */
	double v;          /* INT, NUM */
	struct bench_stat st;
	double *samples;   /* STAT: a copy, freed when the row ends */
};

struct bench_report {
	enum bench_format fmt;
	FILE *out;         /* stdout unless a test sets another stream */
	FILE *notes;       /* where notes go: out for text, stderr otherwise */
	const struct bench_col *cols;
	uint32_t n_cols;
	uint32_t n_rows;
	bool open;
	bool header_due;   /* the header is written before the next row */
	struct bench_cell cell[BENCH_REPORT_MAX_COLS];
};

/*
 * Starts a report of cols[0..n_cols) (n_cols <= BENCH_REPORT_MAX_COLS) on out in fmt (JSON's
 * "[" now, the other formats' header with the first row). cols must outlive the report.
 */
void bench_report_begin(struct bench_report *r, enum bench_format fmt, FILE *out,
			const struct bench_col *cols, uint32_t n_cols);

/* Prose for people: printf-like, on stdout with the text format, on stderr otherwise. */
void bench_report_note(struct bench_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The cells of the current row, by column index; a cell not set is empty (JSON: null). */
void bench_report_str(struct bench_report *r, uint32_t col, const char *s);
void bench_report_int(struct bench_report *r, uint32_t col, long long v);
void bench_report_num(struct bench_report *r, uint32_t col, double v);
/* The statistics of v[0..n) (n >= 1); -1 when out of memory (the cell stays empty). */
int bench_report_stat(struct bench_report *r, uint32_t col, const double *v, uint32_t n);

/* Writes the current row and clears its cells. */
void bench_report_row(struct bench_report *r);

/* Ends the report (JSON's "]"); a text or Markdown table ends with its last row. */
void bench_report_end(struct bench_report *r);

#endif
