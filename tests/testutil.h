/* SPDX-License-Identifier: MIT */
/* testutil.h - small helpers shared by the Check tests. */
#ifndef EDGE_NPU_TESTUTIL_H
#define EDGE_NPU_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Path of the shared llama SPM vocabulary GGUF (../shared/vocab). */
const char *tu_vocab_path(void);
/* A fresh path in a per-process temporary directory (removed at exit), ending in suffix. */
const char *tu_tmp_path(const char *suffix);
/* Writes len bytes to path; aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file (malloc'd, NUL-terminated beyond *len); aborts the test on failure. */
void *tu_read_file(const char *path, size_t *len);
/* Deterministic pseudo-random numbers (splitmix64) for test data. */
uint64_t tu_rand_u64(uint64_t *state);
/* Uniform in [-1, 1). */
float tu_rand_f32(uint64_t *state);
/* Runs a Check suite and returns the process exit status. */
struct Suite;
int tu_run_suite(struct Suite *s);

#endif
