/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the objects behind libedge-npu's opaque handles, and the calls between the
 * driver's files. Internal names carry drv_ (the public API is enpu_, edge_npu.h).
 */
#ifndef EDGE_NPU_DRIVER_INTERNAL_H
#define EDGE_NPU_DRIVER_INTERNAL_H

#include "edge_npu.h"
#include "gguf.h"
#include "hal/hal.h"
#include "sched/exec.h"
#include "sched/cost.h"
#include "sched/dag.h"
#include "sched/graph.h"
#include "sched/placement.h"
#include "sched/profile.h"
#include "tokenizer.h"

#include <pthread.h>
#include <sys/types.h>

#define ENPU_ERROR_LEN 1024
/* Prefill is split into batches of at most this many tokens (bounds activation memory). */
#define ENPU_MAX_BATCH 256
#define ENPU_DEFAULT_MAX_CTX 4096
/* The most tokens a draft proposes for one verification (enpu_session_options.spec_k). */
#define DRV_SPEC_MAX_K 16
_Static_assert(ENPU_MAX_DEVICES <= SCHED_MAX_HOST_DEVS, "placement covers a context's devices");

struct enpu_context {
	char error[ENPU_ERROR_LEN];
	pthread_mutex_t error_lock; /* sessions of one context may fail in different threads */
	uint32_t n_devices;
	struct hal_device *devices[ENPU_MAX_DEVICES];
	struct sched_exec *exec; /* the devices' queues, shared by the context's sessions */
	struct drv_jobs *jobs;   /* async jobs: the queue and its thread, made at the first job */
	pthread_mutex_t jobs_init_lock;
};

struct enpu_model {
	enpu_context *ctx;
	struct gguf_file *gguf;
	struct tok_vocab *vocab;
	struct sched_model sm;
	uint32_t n_weights;
	struct sched_weight *weights; /* one per GGUF tensor, names NUL-terminated copies */
	bool *bound; /* during the load: which weights the graph looked up */
	char *names;
	char name[128];
	const struct drv_arch *arch; /* general.architecture's entry (model.c) */
	/* Llama-3 rope scaling given by keys, not rope_freqs.weight: the factors computed */
	struct sched_weight rope_freqs;
	float *rope_freqs_data;
	char read_method[96]; /* how the file came into memory (enpu_model_info.read_method) */
	/* the file's identity when loaded (st_dev, st_ino): a trace may not replace it */
	bool have_file_id;
	dev_t file_dev;
	ino_t file_ino;
	uint32_t n_ctx_train;
	/*
	 * The matmul weights (sched_model_matmul_weights order), as the file holds them before the
	 * preferred device converted them, and the copies other devices prepared when "auto"
	 * placement put a matmul on them (drv_model_weight_for). Copies are freed with the model.
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
	/* enpu_session_eval_many's graphs, one per number of sessions (batch.c) */
	struct drv_batch_slot *batch[ENPU_EVAL_MANY_MAX + 1];
	pthread_mutex_t batch_lock; /* guards batch[] (each slot has its own run lock) */
	/*
	 * A draft made of base's weights at lower precision (enpu_model_make_draft): gguf, vocab,
	 * names and rope_freqs_data are base's; draft_data holds the requantized weights. NULL
	 * for a loaded model.
	 */
	enpu_model *base;
	void *draft_data;
};

/*
 * model.c: binds m's weights (m->weights, found by name in m->gguf) to the graph model for
 * hyperparameters hp and prepares the matmul weights for the context's preferred device.
 */
enpu_status drv_model_bind(enpu_model *m, const char *path, const struct sched_hparams *hp);

/*
 * The version of matmul weight w (the model's, or a copy of it) that dev can run: the model's
 * when dev owns it (or neither needs a private layout), else a copy of the file's bytes that
 * dev prepared, made once and kept (only when create: else NULL where a copy is missing).
 * NULL when w is not a matmul weight of m or dev fails to take it (dev->error says why).
 */
struct hal_tensor *drv_model_weight_for(enpu_model *m, const struct hal_tensor *w,
					struct hal_device *dev, bool create);

/*
 * model_file.c: path read whole into anonymous memory through io_uring (pread where io_uring
 * is refused; method says which). 0 with *out (an mmap of *out_size bytes, the caller's to
 * munmap), -2 when progress cancelled it, -1 with err naming the file and why.
 */
int drv_model_file_read(const char *path, enpu_progress_fn progress, void *user, void **out,
			size_t *out_size, char *method, size_t method_len, char *err,
			size_t err_len);

struct enpu_session {
	enpu_model *model;
	uint32_t n_ctx;
	uint32_t n_past;
	void *kv; /* all K and V caches, kv_bytes (hal_huge_alloc) */
	size_t kv_bytes;
	enum enpu_cache_type cache_type;
	struct hal_tensor *k_cache, *v_cache;
	/* A built graph, its dependencies (what the queues order it by) and its run count. */
	struct graph_slot {
		struct sched_graph *g;
		struct sched_dag deps;
		uint32_t runs;
		struct sched_placement placed; /* "auto": the placement in force */
	} decode, batch; /* n_tokens == 1, kept; the last prefill size, kept until another */
	int32_t priority; /* on devices shared with the context's other sessions */
	float *logits;
	bool have_logits;
	/*
	 * The last token enpu_generate produced (streamed, or the EOS that ended it): part of the
	 * sequence, evaluated at the start of the session's next eval (nothing needed its logits
	 * before).
	 */
	enpu_token pending;
	bool has_pending;
	const int *cancel; /* a job's cancel flag while a job runs the session (job.c), else NULL */
	/*
	 * The thread in a synchronous call that changes the session (drv_session_enter), else
	 * NULL; atomic.
	 */
	const void *caller;
	/* the caller's token callback runs (drv_emit_token): a call of its own on the session is
	 * refused, as it would change the session under the generation that called it */
	bool in_token_fn;
	struct sched_usage usage[ENPU_MAX_DEVICES];
	/* "auto" placement: the profile, objective and history (NULL: the fixed rule) */
	struct sched_placer *placer;
	struct enpu_schedule_report report; /* of the last decode graph placed (else prefill) */
	bool have_report;
	uint32_t replacements; /* graphs placed again after the history corrected the model */
	double place_total_ms; /* every placement and re-placement, measured */
	/* decode steps measured: wall time and the part no device was running one of its ops */
	uint64_t steps, step_wall_ns, step_idle_ns;
	struct enpu_trace *trace; /* enpu_session_trace_start() .. stop (NULL: not tracing) */
	/* the token at each position < n_past, for the repetition penalty; those before
	 * history_from are unknown (a restored state carries no tokens) */
	enpu_token *history;
	uint32_t history_from;
	/* speculative decoding (speculative.c): its state, NULL when off; the verifier's
	 * all-logits graphs of 2 .. DRV_SPEC_MAX_K + 1 tokens, built when first used */
	struct drv_spec *spec;
	struct graph_slot verify[DRV_SPEC_MAX_K + 2];
	bool is_draft; /* a speculating session's draft: its steps trace as "draft step" */
};

/* ---- speculative.c: a draft proposes tokens, the session verifies them in one batch ---- */
/* Sets up speculation on s with the options' draft (ENPU_OK and nothing done without one). */
enpu_status drv_spec_create(enpu_session *s, const struct enpu_session_options *o);
void drv_spec_free(enpu_session *s);
/* enpu_generate's token loop on a speculating session (generate_tokens' contract). */
enpu_status drv_spec_generate(enpu_session *s, uint32_t n_predict,
			      const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
			      void *user, struct enpu_generate_stats *st);
/*
 * The same loop a step at a time, for async generate jobs: drv_spec_begin once a generation
 * starts (the sampler's seed), drv_spec_step until *more is false or it fails (one plain step,
 * or a round of drafting and verifying that streams 1 .. k + 1 tokens; a token it leaves
 * pending is the next step's to evaluate, not the caller's), drv_spec_end when the generation
 * ends however it ends.
 */
void drv_spec_begin(enpu_session *s, uint64_t seed);
enpu_status drv_spec_step(enpu_session *s, const struct enpu_sampler_options *sampler,
			  uint64_t *rng, uint32_t n_predict, enpu_token_fn on_token, void *user,
			  struct enpu_generate_stats *st, bool *more);
void drv_spec_end(enpu_session *s);
/*
 * session.c, for the verifier: evaluates n tokens (2 .. DRV_SPEC_MAX_K + 1) as one batch and
 * points *logits at every row's logits ([n_vocab x n], valid until s's next evaluation).
 */
enpu_status drv_eval_all_logits(enpu_session *s, const enpu_token *tokens, uint32_t n,
				const float **logits);
/* Evaluates n tokens in batches of at most ENPU_MAX_BATCH (the pending token untouched). */
enpu_status drv_eval_tokens(enpu_session *s, const enpu_token *tokens, size_t n);
/*
 * The rest of a generation step once token t is chosen: makes it the pending token, counts
 * and streams it (drv_generate_step's contract for *more and the context's end).
 */
enpu_status drv_emit_token(enpu_session *s, enpu_token t, uint32_t n_predict,
			   enpu_token_fn on_token, void *user, struct enpu_generate_stats *st,
			   bool *more);
/*
 * The probability of each token (n_vocab floats into probs) that enpu_sample draws from s's
 * logits with options o (checked by the caller): one-hot on the argmax when greedy.
 */
enpu_status drv_sampler_probs(enpu_session *s, const struct enpu_sampler_options *o,
			      float *probs);
/* A uniform double in [0, 1) from the sampler's random stream. */
double drv_rng_uniform(uint64_t *state);

/* ---- batch.c: several sessions' decode steps as one graph run (enpu_session_eval_many) ---- */
/* Frees the multi-sequence graphs m keeps (enpu_model_free; no run may be in flight). */
void drv_batch_release(enpu_model *m);

/* Records a formatted message in ctx and returns st (so callers can `return drv_ctx_fail(...)`). */
enpu_status drv_ctx_fail(enpu_context *ctx, enpu_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void drv_ctx_clear_error(enpu_context *ctx);

/* ---- session.c: evaluation and generation in steps, for enpu_generate and async jobs ---- */
/* Evaluates the token the last generation left pending, if any (its room is the caller's). */
enpu_status drv_eval_pending(enpu_session *s);
/* Tokenizes prompt (BOS only on an empty session) and evaluates it; size and time into st. */
enpu_status drv_eval_prompt(enpu_session *s, const char *prompt, struct enpu_generate_stats *st);
/*
 * One token: samples it into the pending slot, counts and streams it. *more: whether another
 * step should follow (after drv_eval_pending). ENPU_ERR_CONTEXT_FULL (st->stopped_at_ctx_full)
 * when there is no room to evaluate it.
 */
enpu_status drv_generate_step(enpu_session *s, const struct enpu_sampler_options *sampler,
			      uint64_t *rng, uint32_t n_predict, enpu_token_fn on_token, void *user,
			      struct enpu_generate_stats *st, bool *more);

/* ---- sampler.c: the sampler's steps that need no candidate list ---- */
/*
 * The last tokens of s's sequence (the pending one included), at most last_n, oldest first,
 * into out (room for last_n); returns how many.
 */
size_t drv_recent_tokens(const enpu_session *s, uint32_t last_n, enpu_token *out);
/*
 * llama.cpp's repetition penalty on logits, in place: each distinct token of recent (sorted
 * here) has its logit divided by penalty when positive, multiplied when not.
 */
void drv_penalize_repeats(float *logits, uint32_t n_vocab, enpu_token *recent, size_t n,
			  float penalty);
/*
 * Checks a caller's sampler options (NULL: the defaults) before anything runs: a refused call
 * leaves the session as it was. fn names the public call in the message.
 */
enpu_status drv_check_sampler(enpu_context *ctx, const char *fn,
			      const struct enpu_sampler_options *opts);

/*
 * The logits enpu_sample picks from: s's own, or (with a penalty or ignore_eos in o) an
 * adjusted copy in *copy (malloc'd, for the caller to free). NULL when out of memory.
 */
const float *drv_sampler_logits(const enpu_session *s, const struct enpu_sampler_options *o,
				float **copy);

/* Whether s is a session that was created and not yet freed (a pointer compare, never a read). */
bool drv_session_alive(const enpu_session *s);

/*
 * batch.c: the pending tokens of n (<= ENPU_EVAL_MANY_MAX) sessions of one model, evaluated
 * as one batched run (what a round of async generate jobs does between tokens). cancel (NULL:
 * none) stops the run within one op once nonzero: ENPU_ERR_CANCELLED, nothing committed.
 */
enpu_status drv_eval_pending_many(enpu_session *const *sessions, uint32_t n, const int *cancel);

/* ---- job.c: asynchronous jobs ---- */
/* Stops the context's job thread (its jobs were freed with their sessions). */
void drv_jobs_destroy(enpu_context *ctx);
/* Before s is freed: cancels its unfinished jobs and waits until they have finished. */
void drv_jobs_forget_session(enpu_session *s);
/*
 * A public call that changes s (eval, generate, reset, truncate, state load) starts: refused
 * with ENPU_ERR_INVALID_ARG while s has unfinished jobs or another thread is in such a call on
 * it, where the two would run s at once. Nested calls of one thread and the job thread's own
 * pass. *took: whether this call took s, for drv_session_leave.
 */
enpu_status drv_session_enter(enpu_session *s, const char *fn, bool *took);
void drv_session_leave(enpu_session *s, bool took);

/* A public call that changes s, fn: body (a call returning enpu_status) inside enter .. leave. */
#define DRV_SESSION_CALL(s, fn, body)                                   \
	do {                                                            \
		bool took_;                                             \
		enpu_status st_;                                        \
									\
		if (!(s))                                               \
			return ENPU_ERR_INVALID_ARG;                    \
		st_ = drv_session_enter((s), (fn), &took_);             \
		if (!st_)                                               \
			st_ = (body);                                   \
		drv_session_leave((s), took_);                          \
		return st_;                                             \
	} while (0)

/* ---- schedule_report.c: the "auto" placement as enpu_session_schedule_report tells it ---- */
/* After slot's graph was placed: the report's table and clock lines from slot->placed. */
void drv_report_placement(enpu_session *s, const struct graph_slot *slot);

/* ---- trace.c: Chrome Trace Event export of the ops a session runs ---- */
struct enpu_trace;
/* Creates path and writes the header; the devices are ctx's (they outlive the trace). */
enpu_status drv_trace_open(enpu_context *ctx, const char *path, struct enpu_trace **out);
/* Writes the tail, closes and frees t; ENPU_ERR_IO when the file could not be written. */
enpu_status drv_trace_close(enpu_context *ctx, struct enpu_trace *t);
/* Before each run of g: finds (or builds, once per graph) its dependency edges. */
void drv_trace_begin_run(struct enpu_trace *t, const struct sched_graph *g);
/* Before g is freed: its address may come back for another graph. t may be NULL. */
void drv_trace_forget_graph(struct enpu_trace *t, const struct sched_graph *g);
/*
 * A slice on the calling thread's track (a prefill, a decode step, a generated token) from
 * t0_ns to t1_ns (hal_now_ns), in category cat, with args the body of its JSON args object
 * ("\"n_tokens\":1", or NULL). Written when called: call it when the span ends, inner spans
 * first, so that the file's slices end in order.
 */
void drv_trace_span(struct enpu_trace *t, const char *name, const char *cat, uint64_t t0_ns,
		    uint64_t t1_ns, const char *args);
/* The end of a graph run: a sample of every device's clock counter at now_ns. */
void drv_trace_step_end(struct enpu_trace *t, uint64_t now_ns);
/* The HAL type of a session's KV cache rows (session.c). */
enum hal_type drv_cache_hal_type(enum enpu_cache_type type);

/* The executor's observer (user: the trace). */
void drv_trace_op(void *user, const struct sched_graph *g, const struct sched_op_record *r);

#endif
