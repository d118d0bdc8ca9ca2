/* SPDX-License-Identifier: MIT */
/* internal.h - the objects behind libedge-npu's opaque handles. */
#ifndef EDGE_NPU_DRIVER_INTERNAL_H
#define EDGE_NPU_DRIVER_INTERNAL_H

#include "edge_npu.h"
#include "gguf.h"
#include "hal/hal.h"
#include "sched/exec.h"
#include "sched/cost.h"
#include "sched/dag.h"
#include "sched/graph.h"
#include "sched/partition.h"
#include "sched/power.h"
#include "sched/profile.h"
#include "sched/simulate.h"
#include "tokenizer.h"

#include <pthread.h>

#define ENPU_ERROR_LEN 1024
/* Prefill is split into batches of at most this many tokens (bounds activation memory). */
#define ENPU_MAX_BATCH 256
#define ENPU_DEFAULT_MAX_CTX 4096

struct enpu_context {
	char error[ENPU_ERROR_LEN];
	pthread_mutex_t error_lock; /* sessions of one context may fail in different threads */
	uint32_t n_devices;
	struct hal_device *devices[ENPU_MAX_DEVICES];
	struct sched_exec *exec; /* the devices' queues, shared by the context's sessions */
};

struct enpu_model {
	enpu_context *ctx;
	struct gguf_file *gguf;
	struct tok_vocab *vocab;
	struct sched_model sm;
	uint32_t n_weights;
	struct sched_weight *weights; /* one per GGUF tensor, names NUL-terminated copies */
	/* Q6_K tensors converted to Q8_0 at load: their new bytes, and how many */
	void **converted;
	uint32_t n_converted;
	const char *first_converted;
	char *names;
	char name[128];
	uint32_t n_ctx_train;
	/*
	 * The matmul weights (sched_model_matmul_weights order), as the file holds them before the
	 * preferred device converted them, and the copies other devices prepared when "auto"
	 * placement put a matmul on them (model_weight_for). Copies are freed with the model.
	 */
	uint32_t n_mm;
	struct hal_tensor **mm, *mm_orig;
	struct weight_copy {
		uint32_t idx;
		struct hal_device *dev;
		struct hal_tensor t;
	} **copies;
	uint32_t n_copies;
	pthread_mutex_t copies_lock; /* sessions place their graphs from their own threads */
};

/*
 * The version of matmul weight w (the model's, or a copy of it) that dev can run: the model's
 * when dev owns it (or neither needs a private layout), else a copy of the file's bytes that
 * dev prepared, made once and kept (only when create: else NULL where a copy is missing).
 * NULL when w is not a matmul weight of m or dev fails to take it (dev->error says why).
 */
struct hal_tensor *model_weight_for(enpu_model *m, const struct hal_tensor *w,
				    struct hal_device *dev, bool create);

struct enpu_session {
	enpu_model *model;
	uint32_t n_ctx;
	uint32_t n_past;
	float *kv; /* all K and V caches, one allocation */
	struct hal_tensor *k_cache, *v_cache;
	/* A built graph, its dependencies (what the queues order it by) and its run count. */
	struct graph_slot {
		struct sched_graph *g;
		struct sched_dag deps;
		uint32_t runs;
		/* "auto": per node, what the cost model predicted where the plan put it */
		struct slot_node {
			uint64_t sig;
			float predicted_s;
			uint8_t prof_dev; /* the profile's device */
			bool measurable;  /* runs on this host where planned (history can learn) */
		} *nodes;
		/* the power manager's clock per context device (0: no wish) */
		uint64_t hint_hz[ENPU_MAX_DEVICES];
	} decode, batch; /* n_tokens == 1, kept; the last prefill size, kept until another */
	int32_t priority; /* on devices shared with the context's other sessions */
	float *logits;
	bool have_logits;
	struct sched_usage usage[ENPU_MAX_DEVICES];
	/* "auto" placement: the profile partitioned on (NULL: the fixed rule) and its options */
	struct sched_profile *profile;
	struct sched_part_options part;
	struct enpu_schedule_report report; /* of the last decode graph placed (else prefill) */
	bool have_report;
	/* "auto" on the host profile: measured op times correct the cost model */
	struct sched_history history;
	uint32_t replacements;
	double place_total_ms; /* every placement and re-placement, measured */
	/* decode steps measured: wall time and the part no device was running one of its ops */
	uint64_t steps, step_wall_ns, step_idle_ns;
	struct enpu_trace *trace; /* enpu_session_trace_start() .. stop (NULL: not tracing) */
};

/* Records a formatted message in ctx and returns st (so callers can `return ctx_fail(...)`). */
enpu_status ctx_fail(enpu_context *ctx, enpu_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctx_clear_error(enpu_context *ctx);

/* ---- placement.c: "auto" placement, the power manager's clocks, measured history ---- */
/*
 * Partitions slot's graph on the session's profile and maps it onto the context's devices:
 * first on slot->deps, again (after measured history) on the dependencies at today's context.
 * A failure leaves the placement in force.
 */
enpu_status place_auto(enpu_session *s, struct graph_slot *slot, bool again);
/* Whether this run of slot should feed the history (the observer costs per op). */
bool place_learns_now(const enpu_session *s, const struct graph_slot *slot);
/* After each op of an "auto" session: feeds the measured time to the history. */
void place_learn(enpu_session *s, const struct graph_slot *slot, const struct sched_op_record *r);
/* Whether slot should be placed again now that history has corrected the cost model. */
bool place_stale(const enpu_session *s, const struct graph_slot *slot);

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
