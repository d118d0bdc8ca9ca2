/* SPDX-License-Identifier: MIT */
/* testutil.h - small helpers shared by the Check tests. */
#ifndef EDGE_NPU_TESTUTIL_H
#define EDGE_NPU_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

/* Path of the shared llama SPM vocabulary GGUF (../shared/vocab). */
const char *tu_vocab_path(void);
/*
 * Whether that conformance data is there (a user's clone has no ../shared). When it is not,
 * says once on stderr what is missing and that the tests needing it are skipped.
 */
bool tu_have_shared_vocab(void);
/* For a test program that needs it throughout: exits 77 (skipped) with the reason without it. */
void tu_require_shared_vocab(void);
/* A fresh path in a per-process temporary directory (removed at exit), ending in suffix. */
const char *tu_tmp_path(const char *suffix);
/* Writes len bytes to path; aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file (malloc'd, NUL-terminated beyond *len); aborts the test on failure. */
void *tu_read_file(const char *path, size_t *len);
/*
 * Files this process writes fail past bytes (RLIMIT_FSIZE, SIGXFSZ ignored: write() fails
 * with EFBIG), as on a full disk; 0 lifts the limit again.
 */
void tu_limit_file_size(size_t bytes);
/* Deterministic pseudo-random numbers (splitmix64) for test data. */
uint64_t tu_rand_u64(uint64_t *state);
/* Uniform in [-1, 1). */
float tu_rand_f32(uint64_t *state);
/*
 * Tensors freed at the end of each test: tu_pool_free() as the test case's checked teardown.
 * tu_talloc() returns zeroed memory (at least 1 byte) and aborts the test when out of memory.
 */
void *tu_talloc(size_t size);
void tu_pool_free(void);
/* A tensor of type with zeroed data, both from the pool. */
struct hal_tensor *tu_tensor_new(const char *name, enum hal_type type, uint32_t ne0,
				 uint32_t ne1);
/* An F32 tensor of scale * tu_rand_f32(). */
struct hal_tensor *tu_tensor_rand(const char *name, uint32_t ne0, uint32_t ne1, uint64_t *rng,
				  float scale);
/* An I32 tensor [1 x n] holding v. */
struct hal_tensor *tu_tensor_i32(const char *name, const int32_t *v, uint32_t n);
/*
 * A weight [N x K] of type quantized from tu_rand_f32() values, row by row; *out_f (when
 * out_f is not NULL) gets the weights decoded back to float (from the pool).
 */
struct hal_tensor *tu_weight_rand(const char *name, enum hal_type type, uint32_t K,
				  uint32_t N, uint64_t *rng, float **out_f);

/*
 * A device profile made from the source tree's host.prof with the CPU's matmul rate set to
 * 0.01 ops/cycle, so that the partitioner puts the matmuls on the accelerators (the GPU and
 * the NPU, or the NPU alone without_gpu). Written to a fresh temporary path, returned.
 */
const char *tu_profile_slow_cpu(bool without_gpu);

/*
 * A small llama model (2 layers, 4 heads of which 2 hold K/V) of width dim, FFN ffn, context
 * ctx, every matrix of type, seeded, with the tokenizer of vocab (NULL: edge-npu's built-in
 * one), written to a fresh temporary path (free() it); aborts the test on failure.
 */
char *tu_small_model(uint32_t dim, uint32_t ffn, uint32_t ctx, enum hal_type type,
		     uint64_t seed, const char *vocab);
/* The parameters of that model into *p, for a test that changes more of them. */
struct mkmodel_params;
void tu_small_params(struct mkmodel_params *p, uint32_t dim, uint32_t ffn, uint32_t ctx,
		     enum hal_type type, uint64_t seed, const char *vocab);
/* The model of parameters p written to a fresh temporary path (free() it). */
char *tu_model_of(const struct mkmodel_params *p);
/*
 * edge-npu's built-in vocabulary (tools/vocab.c) as a GGUF of its own at a fresh temporary
 * path (free() it), with tokenizer.chat_template when chat_template is not NULL; *n_tokens
 * its size when n_tokens is not NULL. Aborts the test on failure.
 */
char *tu_builtin_vocab(const char *chat_template, uint32_t *n_tokens);

/*
 * A context on device (co.device, 2 threads), the model at path and a session with a KV
 * cache of type cache_type (an enum enpu_cache_type): false, nothing open, when the device is
 * not available here; a load or session failure fails the test with the library's message.
 */
struct enpu_context;
struct enpu_model;
struct enpu_session;
struct tu_session {
	struct enpu_context *ctx;
	struct enpu_model *model;
	struct enpu_session *sess;
};
bool tu_session_open(struct tu_session *r, const char *path, const char *device, int cache_type);
void tu_session_close(struct tu_session *r);
/*
 * The GGUF src rewritten to a fresh temporary path (free() it): key set to the string str or
 * the u32/f32 value (none of them: the key removed), tensor drop left out, tensor from renamed
 * to. NULL members: no such edit.
 */
struct tu_edit {
	const char *key, *str;
	const uint32_t *u32;
	const float *f32;
	const char *drop, *from, *to;
};
char *tu_model_edited(const char *src, const struct tu_edit *e);
/* Loading path fails with status want and a message that contains needle. */
void tu_expect_load_error(const char *path, int want, const char *needle);

/* system(cmd) as an exit status: the command's, or 128 + the signal that ended it. */
int tu_system(const char *cmd);
/* A command line's exit status (as tu_system()) and its captured stdout and stderr. */
struct tu_run {
	int status;
	char *out, *err;
};
/* Runs a shell command line with stdin from /dev/null, capturing stdout and stderr. */
struct tu_run tu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tu_run_free(struct tu_run *r);

/* Whether dir is a FUSE mount point of this mount namespace (/proc/self/mountinfo). */
bool tu_is_fuse_mount(const char *dir);

/* Runs a Check suite and returns the process exit status. */
struct Suite;
int tu_run_suite(struct Suite *s);

#endif
