/* SPDX-License-Identifier: MIT */
/* internal.h - the objects behind libedge-npu's opaque handles. */
#ifndef EDGE_NPU_DRIVER_INTERNAL_H
#define EDGE_NPU_DRIVER_INTERNAL_H

#include "edge_npu.h"
#include "gguf.h"
#include "hal/hal.h"
#include "sched/graph.h"
#include "sched/sched.h"
#include "tokenizer.h"

#define ENPU_ERROR_LEN 1024
/* Prefill is split into batches of at most this many tokens (bounds activation memory). */
#define ENPU_MAX_BATCH 256
#define ENPU_DEFAULT_MAX_CTX 4096

struct enpu_context {
	char error[ENPU_ERROR_LEN];
	uint32_t n_devices;
	struct hal_device *devices[ENPU_MAX_DEVICES];
};

struct enpu_model {
	enpu_context *ctx;
	struct gguf_file *gguf;
	struct tok_vocab *vocab;
	struct sched_model sm;
	uint32_t n_weights;
	struct sched_weight *weights; /* one per GGUF tensor, names NUL-terminated copies */
	char *names;
	char name[128];
	uint32_t n_ctx_train;
};

struct enpu_session {
	enpu_model *model;
	uint32_t n_ctx;
	uint32_t n_past;
	float *kv; /* all K and V caches, one allocation */
	struct hal_tensor *k_cache, *v_cache;
	struct sched_graph *decode; /* n_tokens == 1, kept */
	struct sched_graph *batch;  /* the last prefill size, kept until another is needed */
	float *logits;
	bool have_logits;
	struct sched_usage usage[ENPU_MAX_DEVICES];
	/* "auto" placement: the profile partitioned on (NULL: the fixed rule) and its options */
	struct sched_profile *profile;
	struct sched_part_options part;
	struct enpu_schedule_report report; /* of the last decode graph placed (else prefill) */
	bool have_report;
	struct enpu_trace *trace; /* enpu_session_trace_start() .. stop (NULL: not tracing) */
};

/* Records a formatted message in ctx and returns st (so callers can `return ctx_fail(...)`). */
enpu_status ctx_fail(enpu_context *ctx, enpu_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctx_clear_error(enpu_context *ctx);

/* ---- trace.c: Chrome Trace Event export of the ops a session runs ---- */
struct enpu_trace;
/* Creates path and writes the header; the devices are ctx's (they outlive the trace). */
enpu_status trace_open(enpu_context *ctx, const char *path, struct enpu_trace **out);
/* Writes the tail, closes and frees t; ENPU_ERR_IO when the file could not be written. */
enpu_status trace_close(enpu_context *ctx, struct enpu_trace *t);
/* Before each run of g: finds (or builds, once per graph) its dependency edges. */
void trace_begin_run(struct enpu_trace *t, const struct sched_graph *g);
/* Before g is freed: its address may come back for another graph. t may be NULL. */
void trace_forget_graph(struct enpu_trace *t, const struct sched_graph *g);
/* The executor's observer (user: the trace). */
void trace_op(void *user, const struct sched_graph *g, const struct sched_op_record *r);

#endif
