/* SPDX-License-Identifier: MIT */
/*
 * edge_npu.h - libedge-npu, the public API of edge-npu (API version 0).
 *
 * Load a quantized transformer (GGUF), create sessions on it, feed tokens, read logits or
 * generate text. A context opens devices by name (enpu_device_names(): the fast CPU path, the
 * reference CPU backend, an OpenCL GPU, the NPU simulated in process or behind the kernel
 * driver); the library places each op of the model's graph on one of them, by a fixed rule or
 * by the scheduler's cost model ("auto" placement on a device profile), and runs the ops on
 * per-device queues.
 *
 * Errors: every fallible call returns an enum enpu_status. The context keeps a message for the
 * last failure of any call made through it or its models and sessions, saying what was wrong
 * and where (file, byte offset, tensor name, op index): enpu_last_error().
 *
 * Ownership: objects are created by enpu_*_create / enpu_model_load and released by the
 * matching *_destroy / *_free, children before parents (sessions, then models, then the
 * context); each accepts NULL as a no-op. Pointers returned by getters stay owned by the
 * library and valid as documented.
 *
 * Thread safety: distinct contexts are independent. Within a context, different sessions may
 * be evaluated (enpu_session_eval, enpu_generate) from different threads at the same time:
 * their ops share the devices' queues, ordered by session priority; each thread reads its own
 * last failure (enpu_last_error). Calls on one session must not overlap, and model
 * loading and freeing and context destruction must not overlap with any other call. A call
 * that changes a session (enpu_session_eval, _eval_many, enpu_generate, _reset, _truncate,
 * _state_load, _trace_start, _trace_stop) is refused with ENPU_ERR_INVALID_ARG, the session
 * left as it was, while the session has unfinished jobs or another thread is in such a call
 * on it; so are a job submitted to a session and such a call on it from inside such a call
 * (its token callback).
 *
 * Extensibility: option and result structs begin with struct_size (set it to sizeof the
 * struct you were compiled with, or use the *_INIT macros); the library reads and writes only
 * the fields that size covers, so new fields are appended without breaking old callers.
 */
#ifndef EDGE_NPU_H
#define EDGE_NPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ENPU_BUILDING_LIB)
#define ENPU_API __attribute__((visibility("default")))
#else
#define ENPU_API
#endif

#define ENPU_API_VERSION 0

typedef enum enpu_status {
	ENPU_OK = 0,
	ENPU_ERR_INVALID_ARG = 1, /* a NULL or out-of-range argument */
	ENPU_ERR_IO = 2,          /* a file could not be opened, read or mapped */
	ENPU_ERR_FORMAT = 3,      /* a model file is malformed or inconsistent */
	ENPU_ERR_UNSUPPORTED = 4, /* well-formed, but uses something not implemented */
	ENPU_ERR_NO_MEMORY = 5,
	ENPU_ERR_CONTEXT_FULL = 6, /* the session's context window is exhausted */
	ENPU_ERR_DEVICE = 7,       /* a device failed or is not available */
	ENPU_ERR_CANCELLED = 8,    /* the job was cancelled (enpu_job_cancel) */
	ENPU_ERR_TIMEOUT = 9,      /* the wait ended before the job did */
} enpu_status;

typedef struct enpu_context enpu_context;
typedef struct enpu_model enpu_model;
typedef struct enpu_session enpu_session;
typedef int32_t enpu_token;

/* The library's release, "MAJOR.MINOR.PATCH" (a static string). */
ENPU_API const char *enpu_version(void);

/* A short constant name for a status ("ENPU_ERR_FORMAT"). */
ENPU_API const char *enpu_status_name(enpu_status status);

/* ---- context ---------------------------------------------------------------------------- */

struct enpu_context_options {
	size_t struct_size;
	/*
	 * The device models run on: one of enpu_device_names(), e.g. "cpu" (default), "cpu-ref"
	 * (the plain reference backend). Ops the device cannot run fall back to the CPU.
	 *
	 * "npu" is the NPU simulated in this process: each context that opens it gets an NPU of
	 * its own (its device model, SRAM, clock and counters), never shared with another
	 * process. Sharing one would need a broker process that owns the device model and
	 * validates every job of every client, as the kernel driver does; a device model in one
	 * client's memory could be corrupted or stopped by that client, and its jobs would read
	 * the other clients' buffers. Processes that must share one NPU, with priorities, the
	 * job timeout and per-client limits, use "npu-drm" (the kernel driver). npu-top lists
	 * each in-process NPU (npu0, npu1, ...) with the pid of the process that owns it.
	 */
	const char *device;
	/* CPU worker threads; 0 = one per online core; more than 256 count as 256. */
	uint32_t n_threads;
	/* Which physical device a backend opens when there are several (e.g. an OpenCL device
	 * name or index); NULL = the backend's choice. */
	const char *device_select;
	/*
	 * Several devices at once for the scheduler, comma-separated (e.g. "cpu,npu,gpu"); when
	 * set, `device` is ignored. The CPU is always opened first (device 0, the fallback); each
	 * listed device that is not available on this machine is skipped (the scheduler does
	 * without it), an unknown name is ENPU_ERR_INVALID_ARG. Matmul weights are prepared for
	 * the last device opened.
	 */
	const char *devices;
};
#define ENPU_CONTEXT_OPTIONS_INIT { .struct_size = sizeof(struct enpu_context_options) }

/* The device names this build knows, NULL-terminated (static storage). */
ENPU_API const char *const *enpu_device_names(void);

/*
 * Creates a context and opens its devices. opts may be NULL for the defaults. On failure
 * *out_ctx is NULL and enpu_last_error(NULL) says why in this thread: ENPU_ERR_INVALID_ARG
 * (unknown device name), ENPU_ERR_DEVICE (the device is not available here), or
 * ENPU_ERR_NO_MEMORY.
 */
ENPU_API enpu_status enpu_context_create(const struct enpu_context_options *opts,
					 enpu_context **out_ctx);
ENPU_API void enpu_context_destroy(enpu_context *ctx);

/*
 * The message of the last failed call on ctx or its children ("" when none), valid until the
 * next call on ctx. A thread that has loaded a model or evaluated on ctx reads its own last
 * failure ("" after a call that succeeded), so sessions evaluated in several threads do not
 * overwrite each other's messages; another thread reads a snapshot of the last failure of
 * any. With ctx NULL: the last failed enpu_context_create of this thread.
 */
ENPU_API const char *enpu_last_error(const enpu_context *ctx);

/*
 * How this process waits for device completions (NPU jobs in process and through the kernel
 * driver, OpenCL ops): "io_uring" when they are all watched on one io_uring;
 * "poll (<why>)" when each wait is a poll() instead, because ENPU_NO_URING=1 asked for it or
 * the kernel refused io_uring (the refusal is also said once on stderr); "none" while no
 * context has a device that waits. Results are the same either way. A static string; any
 * thread may call it.
 */
ENPU_API const char *enpu_completion_method(void);

/* ---- model ------------------------------------------------------------------------------ */

/* Called while a model loads with done/total bytes; return false to cancel the load. */
typedef bool (*enpu_progress_fn)(uint64_t done, uint64_t total, void *user);

/* How a model file comes into memory (enpu_model_options.read). */
enum enpu_read_method {
	ENPU_READ_DEFAULT = 0, /* the faster one as measured by `npu-bench load`: the mapping */
	ENPU_READ_MMAP = 1,    /* mapped, its pages faulted in one after another */
	ENPU_READ_URING = 2,   /* read into memory the model owns, reads in flight on io_uring */
};

struct enpu_model_options {
	size_t struct_size;
	enpu_progress_fn progress; /* may be NULL */
	void *progress_user;
	enum enpu_read_method read;
};
#define ENPU_MODEL_OPTIONS_INIT { .struct_size = sizeof(struct enpu_model_options) }

/*
 * Loads a GGUF model (weights F32/F16/Q8_0/Q4_0 or K-quants, "llama" SentencePiece
 * tokenizer) whose general.architecture is llama, qwen2, phi3, gemma or gemma2, in the tensor
 * names and keys of llama.cpp's converter (Q/K/V biases, fused attn_qkv and gate/up, GeGLU,
 * Gemma-2's soft-capping, sliding windows and post-norms, Llama-3 and linear rope scaling). The file is mapped, not copied. Errors: ENPU_ERR_IO (path), ENPU_ERR_FORMAT
 * (malformed file: the message names the field and byte offset, or the tensor or key),
 * ENPU_ERR_UNSUPPORTED (architecture, tensor type or tokenizer not implemented).
 */
ENPU_API enpu_status enpu_model_load(enpu_context *ctx, const char *path,
				     const struct enpu_model_options *opts,
				     enpu_model **out_model);
ENPU_API void enpu_model_free(enpu_model *model);

struct enpu_model_info {
	size_t struct_size;
	const char *name;         /* general.name, or the file name */
	const char *architecture; /* general.architecture: "llama", "qwen2", "phi3", "gemma", "gemma2" */
	/* type of most matmul weights: "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "F16", "F32" */
	const char *weight_type;
	uint64_t n_params;
	uint64_t file_bytes;
	uint32_t n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, n_ff;
	/*
	 * Tensors converted to another type while loading, and the first one's name: 0 and NULL,
	 * as every type a model may hold (F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) is computed as
	 * stored. Kept for callers of earlier versions, which converted Q6_K to Q8_0 here.
	 */
	uint32_t n_converted;
	const char *converted;
	/* how the file came into memory: "mmap", "io_uring", or "pread (io_uring refused: ...)" */
	const char *read_method;
	/*
	 * Bytes of weights one decoded token reads: the file's tensors but the token embedding
	 * table, of which it reads one row (unless the output projection is that table). Decode's
	 * tokens/s times this is the bandwidth it draws.
	 */
	uint64_t decode_bytes;
};
#define ENPU_MODEL_INFO_INIT { .struct_size = sizeof(struct enpu_model_info) }

/* Fills *out (strings owned by the model). */
ENPU_API enpu_status enpu_model_info(const enpu_model *model, struct enpu_model_info *out);

/*
 * Tokenizes len bytes of UTF-8 text, BOS first when add_bos. Writes up to cap ids and the
 * total to *out_n; ENPU_ERR_INVALID_ARG with *out_n = needed count when cap is too small.
 */
ENPU_API enpu_status enpu_tokenize(enpu_model *model, const char *text, size_t len,
				   bool add_bos, enpu_token *out, size_t cap, size_t *out_n);

/*
 * The text of one token, not NUL-terminated, in buf (cap bytes) with its length in *out_len.
 * When it is longer than cap: ENPU_ERR_INVALID_ARG, the first cap bytes written and the full
 * length in *out_len (call again with that much). A token outside the vocabulary:
 * ENPU_ERR_INVALID_ARG with *out_len 0.
 */
ENPU_API enpu_status enpu_token_to_piece(enpu_model *model, enpu_token token, char *buf,
					 size_t cap, size_t *out_len);

ENPU_API enpu_token enpu_token_bos(const enpu_model *model);
ENPU_API enpu_token enpu_token_eos(const enpu_model *model);

/*
 * Whether token ends a generation: the EOS token, or an end-of-turn token of the model's
 * family (<|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>, ...), which enpu_generate also
 * stops at. False for a NULL model or a token outside the vocabulary.
 */
ENPU_API bool enpu_token_is_eog(const enpu_model *model, enpu_token token);

/* ---- chat templates --------------------------------------------------------------------- */

/* One message of a conversation: role "system", "user" or "assistant", and its text. */
struct enpu_chat_message {
	const char *role;
	const char *content;
};

/*
 * Formats a conversation into the prompt text a chat model was trained on, with the template
 * tmpl: one of "chatml" (Qwen2, SmolLM, ...), "llama2", "llama2-sys", "llama2-sys-bos",
 * "llama2-sys-strip", "llama3", "phi3", "gemma" (Gemma and Gemma 2), "deepseek" (Coder),
 * "deepseek2", "deepseek3", or a template's Jinja source; NULL for the model's own
 * (tokenizer.chat_template). A Jinja source is recognised by its distinctive markers, as
 * llama.cpp does: no Jinja engine runs. With add_assistant the text ends with the opening of
 * the assistant's turn, for the model to answer. The text holds special-token texts (such as
 * "<|im_start|>") that enpu_tokenize turns into those tokens; it starts without BOS (the
 * tokenizer adds it where the model wants it).
 *
 * Writes the text and a NUL to buf (cap bytes) and its length (without the NUL) to *out_len.
 * When cap is too small: ENPU_ERR_INVALID_ARG, the first cap bytes written and *out_len the
 * length (call again with *out_len + 1). ENPU_ERR_UNSUPPORTED when the template is not one of
 * these (the message names the family recognised, e.g. "mistral-v7", or quotes the start of
 * the text) or the model has no template and tmpl is NULL; ENPU_ERR_FORMAT when
 * tokenizer.chat_template is not a string.
 */
ENPU_API enpu_status enpu_chat_apply_template(const enpu_model *model, const char *tmpl,
					      const struct enpu_chat_message *msgs, size_t n_msgs,
					      bool add_assistant, char *buf, size_t cap,
					      size_t *out_len);

/* ---- session ---------------------------------------------------------------------------- */

/*
 * How a session's KV cache stores its K and V rows (enpu_session_options.cache_type). Every
 * device computes attention on the cache as stored: F16 rounds each value to half precision,
 * Q8_0 stores ggml's blocks of 32 int8 values with a half scale (2 + 32 bytes per 32 values:
 * 0.53 of F16, 0.27 of F32; the model's head dimension must be a multiple of 32). The
 * session's logits differ from an F32 cache's by the rounding alone (tests/test_kv_cache.c
 * states the tolerance).
 */
enum enpu_cache_type {
	ENPU_CACHE_F16 = 0, /* the default, as llama.cpp's */
	ENPU_CACHE_Q8_0 = 1,
	ENPU_CACHE_F32 = 2,
};

/* "f16", "q8_0", "f32"; NULL for a value outside the enum. */
ENPU_API const char *enpu_cache_type_name(enum enpu_cache_type type);
/* The type named name (as above, case-insensitive); false when there is none. */
ENPU_API bool enpu_cache_type_parse(const char *name, enum enpu_cache_type *out);

struct enpu_session_options {
	size_t struct_size;
	uint32_t n_ctx; /* context window in tokens; 0 = the model's (capped at 4096) */
	/*
	 * Placement of the graph's ops on the context's devices. NULL or "fixed": the fixed rule
	 * (ops the last device supports run there, the rest on the CPU). "auto": the scheduler's
	 * partitioner on the device profile `profile` ("phone", "mw", "host" or a .prof path; NULL
	 * = "host"), computed once per graph shape; the profile's device classes (cpu, gpu, npu)
	 * are mapped onto the context's devices of the same class (the CPU when there is none, or
	 * when the real device cannot run the op or its weights belong to another device).
	 */
	const char *placement;
	const char *profile;
	/* "auto": 0 = least latency under the profile's power budget, 1 = least energy per token
	 * with a modeled latency of at most latency_target_ms (required then). */
	uint32_t objective;
	double latency_target_ms;
	/*
	 * Sessions of one context share its devices' queues: a device runs the ready ops of the
	 * session with the highest priority first (0 = normal; negative = background). Ops already
	 * running are not preempted. On "npu-drm" it also orders the session's jobs among other
	 * processes': they run on a kernel context of priority LOW (negative), NORMAL (0) or HIGH
	 * (positive; needs CAP_SYS_NICE, else NORMAL), see kmod/README.md.
	 */
	int32_t priority;
	/* The KV cache's storage (enum enpu_cache_type; callers built before it have F16). */
	uint32_t cache_type;
	/*
	 * Speculative decoding (enpu_generate and async generate jobs; NULL: off). A model of the
	 * same vocabulary (token for token, checked: ENPU_ERR_INVALID_ARG naming the first
	 * difference), loaded in the same context, e.g. enpu_model_make_draft()'s low-precision
	 * copy of this model: a session of it, made and kept with this one (same n_ctx and cache
	 * type, the fixed placement, hence the context's last device), proposes up to spec_k tokens
	 * (0: 8; at most 16), which this session verifies in one batched evaluation; both roll back
	 * past the first token rejected. The next draft length follows the running acceptance rate
	 * through the cost model (sched_spec_speedup), unless spec_fixed_k; with "auto" placement,
	 * a session whose modeled speed-up is below 1 decodes plainly and drafts again now and then
	 * to measure. Greedy output is the output without speculation token for token (the
	 * verifier's rows are bit-identical to one-token evaluations); with a temperature,
	 * rejection sampling keeps the sampler's distribution. The draft model must outlive the
	 * session. A session restored from a saved state speculates on (the state carries the
	 * sequence's tokens: the draft evaluates them); one restored from a state without them
	 * (saved by a library before they were kept, or from a session that was itself restored
	 * from such a state) decodes plainly until reset. enpu_session_spec_stats() reports what it
	 * did.
	 */
	enpu_model *draft;
	uint32_t spec_k;
	bool spec_fixed_k;
	/*
	 * Overlapped speculation (with a draft): while the session verifies a block, the draft
	 * (on a thread of its own, on its own device) drafts the next one as if the block were
	 * all accepted and the verifier's next token were the draft's own choice; the block is
	 * used when that turns out true, else dropped (the draft rolls back as on a rejection).
	 * k, whether to pre-draft at all and "auto"'s choice follow the overlapped cost model
	 * where it predicts more than the sequential one (with spec_fixed_k every round
	 * pre-drafts). With "auto" placement the session's graphs are placed on the devices
	 * but the draft's (its device class left out of the plan), so the two do not queue
	 * behind each other. Output as without it: greedy token for token, with a temperature
	 * the same distribution (the draft draws from a random stream of its own).
	 */
	bool spec_overlap;
};
#define ENPU_SESSION_OPTIONS_INIT { .struct_size = sizeof(struct enpu_session_options) }

/*
 * A draft for speculative decoding (enpu_session_options.draft) made from model itself: the
 * same tensors, its matmul weights requantized to type ("q4_0", "q4_k", "q5_k", "q6_k" or
 * "q8_0", case-insensitive) from whatever type the file holds; a weight already of that type,
 * or whose rows do not divide into the type's blocks, is shared as it is. The draft shares
 * model's file and vocabulary: free it (enpu_model_free) before model. ENPU_ERR_INVALID_ARG
 * for another type name.
 */
ENPU_API enpu_status enpu_model_make_draft(enpu_model *model, const char *type,
					   enpu_model **out_draft);

/* A session holds a KV cache and the logits of the last evaluated token. */
ENPU_API enpu_status enpu_session_create(enpu_model *model, const struct enpu_session_options *opts,
					 enpu_session **out_session);
ENPU_API void enpu_session_free(enpu_session *session);

/* Forgets all evaluated tokens (the KV cache is reused). */
ENPU_API enpu_status enpu_session_reset(enpu_session *session);

/*
 * Appends n tokens to the session and computes the logits of the last one (many tokens:
 * prefill; one token: decode). ENPU_ERR_CONTEXT_FULL when the window would overflow,
 * ENPU_ERR_INVALID_ARG for a token id outside the vocabulary (the message names its index).
 */
ENPU_API enpu_status enpu_session_eval(enpu_session *session, const enpu_token *tokens, size_t n);

/* Most sessions one enpu_session_eval_many() call takes. */
#define ENPU_EVAL_MANY_MAX 64

/*
 * Batched decoding: appends tokens[i] to sessions[i], for n sessions of one model, and
 * computes each one's logits, as one graph run in which every matmul reads its weights once
 * for all n (each session keeps its own position and KV cache). Each session's logits (and
 * so whatever enpu_sample() picks from them) are bit-identical to what enpu_session_eval()
 * of that one token would give on the same session: the CPU, reference CPU and NPU backends
 * compute every row of a batch as they compute it alone (the tests check it). Blocks until
 * all n are done. n == 1 is enpu_session_eval(sessions[0], tokens, 1).
 *
 * The graph of n sessions is built on first use and kept by the model (like a session's
 * decode graph), whichever sessions later use it. Ops are placed by the fixed rule (see
 * enpu_session_options.placement), also for sessions created with "auto": such a session's
 * batched logits are the fixed rule's, equal to its own only where both rules run each op on
 * the same device (e.g. a context with one device). The run has the highest priority among
 * the sessions. Each session's device usage (enpu_session_device_usage)
 * gets an equal share of the run's, and a tracing session (the first in the array, if several
 * trace) records the run's ops.
 *
 * Ownership: the arrays are only read during the call; the sessions stay the caller's.
 * Thread safety: the call counts as a call on each of the n sessions (no other call on any of
 * them may overlap it); calls on disjoint sets of sessions may run from several threads, and
 * two calls with the same n on one model take turns on that model's graph for n.
 *
 * Errors (nothing is evaluated then: every session keeps its tokens, logits and position):
 * ENPU_ERR_INVALID_ARG for NULL arrays, n == 0 or above ENPU_EVAL_MANY_MAX, a NULL session,
 * a session that appears twice, sessions of different models, or a token outside the
 * vocabulary; ENPU_ERR_CONTEXT_FULL when a session's window is full; ENPU_ERR_NO_MEMORY;
 * ENPU_ERR_DEVICE when an op fails. The message (enpu_last_error on sessions[0]'s context)
 * names the session's index. When sessions, sessions[0] is NULL or n is 0 there is no
 * context to record a message in: only the status says so.
 */
ENPU_API enpu_status enpu_session_eval_many(enpu_session *const *sessions,
					    const enpu_token *tokens, size_t n);

/* The logits (n_vocab floats) of the last evaluated token, valid until the next eval/reset. */
ENPU_API enpu_status enpu_session_logits(enpu_session *session, const float **out_logits,
					 size_t *out_n_vocab);

/*
 * Bytes the session's KV cache holds for its whole context window (K and V of every layer),
 * and its storage type in *out_type (may be NULL). 0 for a NULL session.
 */
ENPU_API size_t enpu_session_cache_bytes(const enpu_session *session,
					 enum enpu_cache_type *out_type);

/* Tokens evaluated so far (not the token enpu_generate left pending, see there). */
ENPU_API uint32_t enpu_session_n_past(const enpu_session *session);

/*
 * Rewinds the session to the first n tokens of its sequence (n_past, plus a pending token),
 * forgetting the rest: the next eval continues at position n. The logits stay only when n is
 * the number of evaluated tokens; otherwise evaluate a token before sampling.
 * ENPU_ERR_INVALID_ARG when n exceeds the sequence. Same thread-safety as enpu_session_eval.
 */
ENPU_API enpu_status enpu_session_truncate(enpu_session *session, uint32_t n);

/*
 * Saving and restoring a session: the evaluated tokens (their ids and KV cache rows), the
 * pending token and the logits, so that a conversation can be resumed later (in this process or another) on the
 * same model. The state is plain bytes (format in driver/session_state.c); restoring it into
 * a session of another model, or of a context too small for it, is ENPU_ERR_FORMAT.
 *
 * enpu_session_state_size: the bytes a save takes now. enpu_session_state_save: writes them
 * into buf (cap bytes; ENPU_ERR_INVALID_ARG when too small, *out_len says how many are
 * needed). enpu_session_state_load: replaces the session's state with buf's (len bytes).
 * enpu_session_save_file writes the state to path through a temporary file renamed into
 * place (never through a symlink, into a FIFO or a device: those are refused); the load reads
 * it back (a FIFO or device is refused without blocking). ENPU_ERR_IO names the file and why.
 */
ENPU_API size_t enpu_session_state_size(const enpu_session *session);
ENPU_API enpu_status enpu_session_state_save(const enpu_session *session, void *buf, size_t cap,
					     size_t *out_len);
ENPU_API enpu_status enpu_session_state_load(enpu_session *session, const void *buf,
					     size_t len);
ENPU_API enpu_status enpu_session_save_file(const enpu_session *session, const char *path);
ENPU_API enpu_status enpu_session_load_file(enpu_session *session, const char *path);

/* ---- sampling and generation ------------------------------------------------------------ */

/*
 * How the next token is chosen, in llama.cpp's order: the repetition penalty on the logits,
 * then (when temperature > 0) top-k, top-p and min-p cut the candidates, which are drawn from
 * at the temperature; else the largest logit wins.
 */
struct enpu_sampler_options {
	size_t struct_size;
	float temperature; /* <= 0: greedy (argmax) */
	uint32_t top_k;    /* 0: off */
	float top_p;       /* >= 1: off */
	uint64_t seed;
	/* appended in 0.1 (a struct_size that ends before them gives their defaults): */
	/* keeps the tokens whose probability (at temperature 1) is at least min_p times the most
	 * likely one's; 0: off */
	float min_p;
	/* the logits of the tokens among the last repeat_last_n of the session (prompt and
	 * generated, each counted once) are divided by it when positive and multiplied by it when
	 * negative; 1: off. repeat_last_n 0: none looked at */
	float repeat_penalty;
	uint32_t repeat_last_n;
	bool ignore_eos; /* never picks end-of-text or end-of-turn tokens (enpu_token_is_eog):
			  * generation runs n_predict tokens */
};
#define ENPU_SAMPLER_OPTIONS_INIT \
	{ .struct_size = sizeof(struct enpu_sampler_options), .temperature = 0.0f, .top_k = 0, \
	  .top_p = 1.0f, .seed = 0, .min_p = 0.0f, .repeat_penalty = 1.0f, .repeat_last_n = 64, \
	  .ignore_eos = false }

/*
 * Picks the next token from the session's logits (which it leaves as they are). *rng_state
 * carries the random stream between calls (initialise it with the seed; unused when greedy).
 * ENPU_ERR_INVALID_ARG for options out of range (NaN, min_p outside [0, 1], a penalty <= 0).
 */
ENPU_API enpu_status enpu_sample(enpu_session *session, const struct enpu_sampler_options *opts,
				 uint64_t *rng_state, enpu_token *out_token);

/* Per-device accounting of what ran where. */
struct enpu_device_usage {
	const char *device; /* "cpu-ref", ... */
	uint64_t ops;
	uint64_t busy_ns;      /* measured wall time of its ops on this host */
	uint64_t bytes_copied; /* between devices; 0 on unified memory */
	/* Modeled by a simulated device (the NPU): its time and energy on the modeled silicon,
	 * not measured on this host. 0 for devices without a model. */
	uint64_t modeled_ns;
	uint64_t modeled_energy_pj;
};

#define ENPU_MAX_DEVICES 8

struct enpu_generate_stats {
	size_t struct_size;
	uint32_t n_prompt, n_generated;
	uint64_t prompt_ns, generate_ns; /* wall clock */
	bool stopped_at_eos;
	uint32_t n_devices;
	struct enpu_device_usage devices[ENPU_MAX_DEVICES];
	/* the session's context window filled before n_predict tokens (ENPU_ERR_CONTEXT_FULL) */
	bool stopped_at_ctx_full;
};
#define ENPU_GENERATE_STATS_INIT { .struct_size = sizeof(struct enpu_generate_stats) }

/* Receives each generated token and its text as soon as it is produced; return false to stop. */
typedef bool (*enpu_token_fn)(enpu_token token, const char *piece, size_t len, void *user);

/*
 * Tokenizes prompt, evaluates it, then samples up to n_predict tokens, stopping at an
 * end-of-generation token (EOS or a chat model's end of turn, enpu_token_is_eog; it is not
 * streamed) or when on_token returns false.
 *
 * The session continues from its current state (reset it first for a fresh start): BOS is
 * added only when the session is empty, so a second call continues the conversation. The
 * last token a call produces (streamed, or the EOS that ended it) is part of the sequence but
 * is evaluated only at the start of the next eval or generate on the session (nothing needed
 * its logits before); enpu_session_n_past() does not count it until then. An empty prompt
 * continues from where the session is.
 *
 * Errors: ENPU_ERR_CONTEXT_FULL when the prompt does not fit, or when the context window
 * fills before n_predict tokens: the tokens produced until then were streamed, and stats is
 * filled with stopped_at_ctx_full set. stats may be NULL; a struct of the first version
 * (without stopped_at_ctx_full) is filled as far as its struct_size reaches.
 */
ENPU_API enpu_status enpu_generate(enpu_session *session, const char *prompt, uint32_t n_predict,
				   const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
				   void *user, struct enpu_generate_stats *stats);

/* Fills usage with the session's per-device totals since creation; returns the count. */
ENPU_API uint32_t enpu_session_device_usage(const enpu_session *session,
					    struct enpu_device_usage *usage, uint32_t cap);

/* What speculative decoding did on a session since it was created (measured on this host). */
struct enpu_spec_stats {
	size_t struct_size;
	uint64_t verifications; /* batched evaluations of drafted tokens */
	uint64_t drafted;       /* tokens the draft proposed: a block rejected at one token
				 * counts all its k, but the tokens past the point where a
				 * generation ended count not (they were never needed) */
	uint64_t accepted;      /* ... and the verifier accepted */
	uint64_t plain_steps;   /* decode steps without a draft ("auto": speculation did not pay) */
	uint32_t k;             /* the draft length the next verification will use */
	double draft_ms, verify_ms; /* wall time drafting and verifying, in total */
	/* the cost model's speed-up over plain decoding at today's acceptance rate, k and
	 * measured step times (sched_spec_speedup) */
	double predicted_speedup;
	/* the running per-token acceptance estimate the cost model uses (decayed counts of
	 * accepted against rejected proposals) */
	double alpha;
	/* where the draft's ops ran (its own session's totals, as enpu_session_device_usage) */
	uint32_t n_devices;
	struct enpu_device_usage draft_devices[ENPU_MAX_DEVICES];
	/* overlapped speculation (spec_overlap): blocks drafted during a verification, those
	 * the next verification used, and the wall time both sides were busy at once */
	uint64_t predrafted, predraft_used;
	double overlap_ms;
	/*
	 * verifications that ended at a rejected token (the others accepted all k): the whole
	 * run's per-token acceptance is accepted / (accepted + rejected), where alpha above
	 * weighs the last rounds most
	 */
	uint64_t rejected;
};
#define ENPU_SPEC_STATS_INIT { .struct_size = sizeof(struct enpu_spec_stats) }

/*
 * Fills *out; ENPU_ERR_INVALID_ARG when the session has no draft. It may be called from the
 * session's token callback: while the draft pre-drafts on its own thread (spec_overlap), the
 * draft's figures (draft_devices, and the draft step behind predicted_speedup) are those of
 * when that pre-draft began.
 */
ENPU_API enpu_status enpu_session_spec_stats(const enpu_session *session,
					     struct enpu_spec_stats *out);

/*
 * What the automatic placement chose and what it models, for the last decode graph (one
 * token; the last prefill graph when no decode has run). Every figure except place_ms and
 * mapped_ops is MODELED on the profile's silicon (a discrete-event simulation of the placed
 * graph), not measured on this host.
 */
struct enpu_schedule_report {
	size_t struct_size;
	char profile[32];
	uint32_t n_tokens;         /* batch of the graph reported */
	double modeled_ms;         /* latency of one evaluation of that graph */
	double modeled_mj;         /* energy of one evaluation (idle/suspended time included) */
	double peak_w, avg_w;      /* modeled power */
	uint32_t crossings;        /* dependencies between ops on different devices */
	double bytes_copied;       /* between devices (0 on unified memory) */
	double place_ms;           /* measured time to partition (once per graph shape) */
	/* The placement table: per op class, how many ops on each profile device and where they
	 * ran on this host. NUL-terminated text, one line per row. */
	char table[2048];
	/* Measured on this host over the decode steps so far: wall time per step, and the share
	 * of it during which no device ran an op of this session (dispatch and hand-offs between
	 * devices: the dispatcher's overhead; placing is counted apart, below). */
	uint64_t decode_steps;
	double step_ms;
	double overhead_pct;
	/* Times a graph was placed again after measured op times corrected the cost model
	 * (profile "host" only), and the time all placements took. */
	uint32_t replacements;
	double place_total_ms;
	/* Per device with devfreq attributes: where they are, the governor, the admin's
	 * min_freq..max_freq (which bound the plan's clocks) and the clock asked for this graph.
	 * NUL-terminated text, one line per device. */
	char clocks[1024];
};
#define ENPU_SCHEDULE_REPORT_INIT { .struct_size = sizeof(struct enpu_schedule_report) }

/*
 * Fills *out. Under the fixed rule only the measured fields (decode_steps, step_ms,
 * overhead_pct) are set; the rest is zero and profile is empty. ENPU_ERR_INVALID_ARG when an
 * "auto" session has evaluated nothing yet, or a fixed one has decoded nothing. Not
 * thread-safe against a concurrent eval on the same session.
 */
ENPU_API enpu_status enpu_session_schedule_report(const enpu_session *session,
						  struct enpu_schedule_report *out);

/* ---- asynchronous jobs ------------------------------------------------------------------- */

/*
 * A job evaluates tokens or generates text on a session without blocking the caller: it is
 * submitted, runs on the context's job thread, and completes later. Each job has a file
 * descriptor that becomes readable when the job makes progress (a token generated) and when
 * it finishes, for poll, epoll or io_uring; the context also hands out one descriptor that is
 * readable while finished jobs wait in its completion queue.
 *
 * Order and sharing: a session's jobs run one after another in submission order; jobs of
 * different sessions are interleaved token by token on the context's job thread. While a
 * session has unfinished jobs, no other call may use it (no eval, generate or reset).
 *
 * Ownership: the caller owns each job and frees it with enpu_job_free(), before freeing its
 * session (enpu_session_free cancels the session's unfinished jobs and waits for them). All
 * job calls are thread-safe on distinct jobs and may be called from any thread; calls on one
 * job are safe against the job thread but not against each other.
 */
typedef struct enpu_job enpu_job;

enum enpu_job_kind {
	ENPU_JOB_EVAL = 0,     /* append tokens to the session (a prefill), compute the logits */
	ENPU_JOB_GENERATE = 1, /* what enpu_generate does, without blocking */
};

struct enpu_job_options {
	size_t struct_size;
	enum enpu_job_kind kind;
	const enpu_token *tokens; /* EVAL: the tokens (copied at submit) */
	size_t n_tokens;
	const char *prompt;       /* GENERATE: the prompt (copied; "" continues the session) */
	uint32_t n_predict;       /* GENERATE: at most this many tokens */
	/*
	 * GENERATE: the sampler (NULL: greedy), copied at submit as far as its own struct_size
	 * reaches; a pointer, so that the sampler's struct can grow without moving these fields.
	 */
	const struct enpu_sampler_options *sampler;
	void *user;               /* the caller's, returned in the result */
};
#define ENPU_JOB_OPTIONS_INIT { .struct_size = sizeof(struct enpu_job_options) }

/*
 * Queues a job on session. ENPU_ERR_INVALID_ARG for bad options (no tokens, no prompt, an
 * unknown kind, a token outside the vocabulary) or a session that was freed;
 * ENPU_ERR_NO_MEMORY, or ENPU_ERR_DEVICE when the job thread or an eventfd cannot be made.
 */
ENPU_API enpu_status enpu_job_submit(enpu_session *session, const struct enpu_job_options *opts,
				     enpu_job **out_job);

/*
 * The job's descriptor: readable after each token and once finished; enpu_job_result()
 * consumes the readiness. Owned by the job (do not close it); valid until enpu_job_free.
 */
ENPU_API int enpu_job_fd(const enpu_job *job);

/*
 * Blocks until the job has finished or timeout_ms passed (< 0: no limit). ENPU_OK once
 * finished (whatever the job's own status: see the result), ENPU_ERR_TIMEOUT otherwise.
 * Waiting on a finished job returns at once.
 */
ENPU_API enpu_status enpu_job_wait(enpu_job *job, int timeout_ms);

/*
 * Asks the job to stop: no further op of it starts (so it takes effect within one op, in the
 * middle of a prefill too), and it finishes with ENPU_ERR_CANCELLED. The session keeps the
 * tokens evaluated until then (enpu_session_n_past). ENPU_ERR_INVALID_ARG when the job has
 * already finished.
 */
ENPU_API enpu_status enpu_job_cancel(enpu_job *job);

struct enpu_job_result {
	size_t struct_size;
	bool finished;
	enpu_status status;       /* once finished: ENPU_OK or what stopped it */
	const char *error;        /* its message ("" when none); owned by the job */
	uint32_t n_tokens;        /* GENERATE: tokens generated so far */
	const enpu_token *tokens; /* ... owned by the job, valid until enpu_job_free */
	struct enpu_generate_stats stats; /* GENERATE, once finished */
	void *user;
};
#define ENPU_JOB_RESULT_INIT { .struct_size = sizeof(struct enpu_job_result) }

/*
 * The job's progress and, once finished, its outcome; consumes the readiness of its fd.
 * Never blocks.
 */
ENPU_API enpu_status enpu_job_result(enpu_job *job, struct enpu_job_result *out);

/* Frees a job; an unfinished one is cancelled and waited for first. NULL is a no-op. */
ENPU_API void enpu_job_free(enpu_job *job);

/*
 * One descriptor for every job of ctx: readable while finished jobs wait in the context's
 * completion queue. enpu_context_next_finished() pops the next one (each finished job exactly
 * once; NULL when none waits). Owned by the context.
 */
ENPU_API int enpu_context_job_fd(enpu_context *ctx);
ENPU_API enpu_job *enpu_context_next_finished(enpu_context *ctx);

/* ---- tracing ----------------------------------------------------------------------------- */

/*
 * Records every op the session runs from now until enpu_session_trace_stop() (or
 * enpu_session_free()) into path, as a Chrome Trace Event JSON file that ui.perfetto.dev and
 * chrome://tracing open: one track per device queue, a slice per op named by its kind and
 * result tensor (args: shape, device, layer, node index, modeled time and energy where the
 * device models them), arrows for data dependencies between ops on different devices, and
 * per-device counters of clock frequency and MODELED power. Timestamps are microseconds since
 * the start of the trace. Events stream to a temporary file beside path as ops complete; it
 * is renamed to path once tracing stops, complete (valid JSON), so path never holds half a
 * trace and a file already there is replaced whole, never truncated in place.
 *
 * Errors: ENPU_ERR_INVALID_ARG (no path, already tracing, path is the model's own file),
 * ENPU_ERR_IO (path cannot be created, or is a symlink, FIFO, device or directory; the
 * message names it and why). Same thread-safety rules as enpu_session_eval.
 */
ENPU_API enpu_status enpu_session_trace_start(enpu_session *session, const char *path);

/*
 * Finishes the trace file and renames it to its path. ENPU_ERR_INVALID_ARG when the session
 * is not tracing, ENPU_ERR_IO when the file could not be written in full (the message has the
 * write's error, e.g. no space left on the device; nothing is left at the path), ENPU_ERR_NO_MEMORY
 * when the file is complete but lacks dependency arrows. Tracing has stopped in every case.
 */
ENPU_API enpu_status enpu_session_trace_stop(enpu_session *session);

#ifdef __cplusplus
}
#endif

#endif
