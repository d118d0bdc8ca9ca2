/* SPDX-License-Identifier: MIT */
/* load_bench.c - `npu-bench load`: which way of bringing a model into memory is faster. */
#include "bench/load_bench.h"

#include "bench/measure.h"
#include "edge_npu.h"
#include "hal/files.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Drops the file's pages from the page cache: the next load reads it from the disk. A FIFO or
 * device is left alone without blocking (the load then says what it is).
 */
static void drop_cache(const char *path)
{
	char err[600];
	size_t size;
	int fd = hal_file_open_regular(path, &size, err, sizeof(err));

	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/* Seconds of one enpu_model_load with the method (-1 on failure, said on stderr). */
static double load_once(enpu_context *ctx, const char *path, enum enpu_read_method how)
{
	struct enpu_model_options mo = ENPU_MODEL_OPTIONS_INIT;
	enpu_model *m = NULL;

	mo.read = how;
	const double t0 = bench_now_s();
	if (enpu_model_load(ctx, path, &mo, &m)) {
		fprintf(stderr, "npu-bench load: %s\n", enpu_last_error(ctx));
		return -1;
	}
	const double s = bench_now_s() - t0;
	enpu_model_free(m);
	return s;
}

enum { L_METHOD, L_CACHE, L_DEVICE, L_MS, L_GBS };

static const struct bench_col load_cols[] = {
	[L_METHOD] = { "method", NULL, BENCH_COL_STR, 9, 0, NULL },
	[L_CACHE] = { "cache", NULL, BENCH_COL_STR, 5, 0, NULL },
	[L_DEVICE] = { "device", NULL, BENCH_COL_STR, 7, 0, NULL },
	[L_MS] = { "load_ms", "load ms", BENCH_COL_STAT, 18, 1, NULL },
	[L_GBS] = { "gbs", "GB/s", BENCH_COL_NUM, 7, 2, NULL },
};

int bench_load_main(const char *model, const char *device, uint32_t reps, enum bench_format fmt)
{
	static const char *const method[2] = { "mmap", "io_uring" };
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	enpu_context *ctx = NULL;
	struct stat sb;
	double *t[2][2]; /* [method][cold, warm] */
	int rc = 1;

	co.device = device;
	if (stat(model, &sb) || enpu_context_create(&co, &ctx)) {
		fprintf(stderr, "npu-bench load: %s\n", ctx ? model : enpu_last_error(NULL));
		return 1;
	}
	bool nomem = false;
	for (int m = 0; m < 2; m++)
		for (int w = 0; w < 2; w++)
			nomem |= !(t[m][w] = calloc(reps, sizeof(double)));
	if (nomem) {
		fprintf(stderr, "npu-bench load: out of memory\n");
		goto out;
	}
	fprintf(fmt == BENCH_FMT_TEXT ? stdout : stderr, "npu-bench load: %s (%.1f MiB), %u runs "
		"each, methods interleaved; GB/s at the median\n", model,
		(double)sb.st_size / (1 << 20), reps);
	for (uint32_t r = 0; r < reps; r++)
		for (int m = 0; m < 2; m++) {
			drop_cache(model);
			if ((t[m][0][r] = load_once(ctx, model, m ? ENPU_READ_URING : ENPU_READ_MMAP)) < 0 ||
			    (t[m][1][r] = load_once(ctx, model, m ? ENPU_READ_URING : ENPU_READ_MMAP)) < 0)
				goto out;
		}
	struct bench_report rep;
	bench_report_begin(&rep, fmt, stdout, load_cols, sizeof(load_cols) / sizeof(load_cols[0]));
	for (int m = 0; m < 2; m++)
		for (int w = 0; w < 2; w++) {
			struct bench_stat st;

			for (uint32_t r = 0; r < reps; r++)
				t[m][w][r] *= 1e3;
			bench_stat_of(t[m][w], reps, &st);
			bench_report_str(&rep, L_METHOD, method[m]);
			bench_report_str(&rep, L_CACHE, w ? "warm" : "cold");
			bench_report_str(&rep, L_DEVICE, device ? device : "cpu");
			bench_report_stat(&rep, L_MS, t[m][w], reps);
			bench_report_num(&rep, L_GBS, (double)sb.st_size / (st.median / 1e3) / 1e9);
			bench_report_row(&rep);
		}
	bench_report_end(&rep);
	rc = 0;
out:
	for (int m = 0; m < 2; m++)
		for (int w = 0; w < 2; w++)
			free(t[m][w]);
	enpu_context_destroy(ctx);
	return rc;
}
