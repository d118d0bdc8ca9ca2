/* SPDX-License-Identifier: MIT */
/*
 * hal.h - one interface over every compute backend (CPU, OpenCL, NPU in process, NPU via DRM).
 *
 * The scheduler above describes work as a sequence of hal_op records over hal_tensor
 * operands; a backend is a hal_device whose vtable says which ops it supports and runs them.
 * This header is the specification: each op's semantics below are what every backend must
 * compute (within the tolerance the tests document), with the reference CPU backend
 * (hal/cpu/cpu_ref.c) as the oracle.
 *
 * Conventions: every object starts with its vtable, every vtable starts with destroy, every
 * fallible call returns an enum hal_status, outputs are out_* parameters.
 */
#ifndef EDGE_NPU_HAL_H
#define EDGE_NPU_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <time.h>

enum hal_status {
	HAL_OK = 0,
	HAL_ERR_INVALID = -1,     /* bad operands: shapes, types, null data */
	HAL_ERR_UNSUPPORTED = -2, /* the device does not implement this op/type */
	HAL_ERR_NOMEM = -3,
	HAL_ERR_DEVICE = -4,      /* the device failed or is unavailable */
	HAL_ERR_CANCELLED = -5,   /* not run: the run it belongs to was cancelled */
};

/*
 * Element types. Quantized types store blocks of 32 (K-quants: 256) elements along a row
 * (ne[0]); the block
 * layouts are the GGUF/ggml ones so that model files map directly (see quant.h).
 */
enum hal_type {
	HAL_TYPE_F32,
	HAL_TYPE_F16,
	HAL_TYPE_Q8_0,
	HAL_TYPE_Q4_0,
	HAL_TYPE_I32,
	/*
	 * llama.cpp's K-quants (super-blocks of 256, layouts in quant.h): weights of matmuls and
	 * embedding tables only. Appended so that the numbers above (saved states, profiles)
	 * keep their meaning.
	 */
	HAL_TYPE_Q4_K,
	HAL_TYPE_Q5_K,
	HAL_TYPE_Q6_K,
	HAL_TYPE_COUNT
};

const char *hal_type_name(enum hal_type type);
/* Elements per block: 1 for plain types, 32 for Q8_0/Q4_0, 256 for the K-quants. */
size_t hal_type_block_elems(enum hal_type type);
/* Bytes per block: 4, 2, 34, 18, 4, then 144, 176, 210 (Q4_K, Q5_K, Q6_K). */
size_t hal_type_block_bytes(enum hal_type type);
/* Bytes of one row of n elements; n must be a multiple of the block size. */
size_t hal_row_bytes(enum hal_type type, uint64_t n);

/*
 * A 2-D tensor with contiguous rows: ne[0] elements per row, ne[1] rows, row r starting at
 * (char *)data + r * hal_row_bytes(type, ne[0]). Vectors have ne[1] == 1.
 */
struct hal_device;

struct hal_tensor {
	const char *name;
	enum hal_type type;
	uint32_t ne[2];
	void *data;
	/*
	 * NULL: data is in the layout above, readable by every device. Otherwise the weight was
	 * converted by owner->vt->prepare_weight into that device's private layout (same type and
	 * shape, other bytes), and only the owner may run ops on it.
	 */
	struct hal_device *owner;
};

static inline size_t hal_tensor_bytes(const struct hal_tensor *t)
{
	return hal_row_bytes(t->type, t->ne[0]) * t->ne[1];
}

/*
 * The ops of a llama-architecture transformer. T = tokens in the batch, D = row width.
 * Activations are F32 unless stated.
 */
enum hal_op_kind {
	/*
	 * dst[T x D] row t = src[0] (table [V x D], any type) row src[1][t] (I32 [T x 1]), times
	 * embed.scale unless that is 0 (Gemma scales its embeddings by sqrt(D)).
	 */
	HAL_OP_EMBED,
	/* dst[t,:] = src[0][t,:] / sqrt(mean_i(src[0][t,i]^2) + eps) * src[1] (F32 [D x 1]). */
	HAL_OP_RMSNORM,
	/*
	 * dst[T x N] = src[1][T x K] . src[0]^T, src[0] the weights [N rows x K] of any type.
	 * Quantized weights use the standard GGUF numerics: activations are quantized per block of
	 * 32 to Q8_0 and each integer block dot product is scaled by both block scales (K-quants:
	 * per block of 32 activations, the integer dots of each 16 or 32 weights with their
	 * sub-block scale, minus the sub-block's min times the activations' sum; see
	 * hal/cpu/kernels_ext.h). F16
	 * weights take activations rounded to F16; F32 weights take F32.
	 *
	 * Fused form (only to devices with HAL_CAP_FUSED_MATMUL): src[2] and src[3] (optional,
	 * in that order) are further weights [N2 x K], [N3 x K] of src[0]'s type read against
	 * the same activations, and dst [T x (N + N2 + N3)] holds the stacked results: the
	 * T x N matrix of src[0] (row-major, as above), then the T x N2 of src[2], then the
	 * T x N3 of src[3], so that each is a contiguous window of dst (Q, K and V of a layer,
	 * or its FFN gate and up, as one op: one quantization of the activations and one pass of
	 * the threads over all the weights). Each result is bit-identical to src[i] alone.
	 *
	 * Accumulating form (matmul.accumulate, also only with HAL_CAP_FUSED_MATMUL): dst is
	 * read as well and each result added to it, dst = dst + src[1] . src[0]^T, one float
	 * add per element: the bits of a MATMUL followed by an ADD of dst (the residual stream
	 * after the attention output and the FFN down projection), in one op.
	 *
	 * Normed form (src[4] set, also only with HAL_CAP_FUSED_MATMUL): src[4] is an RMSNorm
	 * weight (F32 [K x 1]) and the activations are RMSNORM(src[1], src[4], matmul.eps),
	 * computed as the device's RMSNORM op computes them: the bits of an RMSNORM followed by
	 * the MATMUL, without the normed rows stored (a layer's attention and FFN inputs).
	 *
	 * Capped form (matmul.softcap > 0, one weight, not accumulating; Gemma-2's logits): each
	 * result y becomes softcap * tanh(y / softcap). A device that does not implement it says
	 * so in supports().
	 */
	HAL_OP_MATMUL,
	/*
	 * In place on dst (== src[0], F32 [T x n_head*head_dim]) with positions src[1] (I32 [T x 1]):
	 * in each head, the pairs (x[2i], x[2i+1]) for 2i < n_rot are rotated by the angle
	 * pos * freq_scale * freq_base^(-2i/n_rot) (llama's "normal" mode, adjacent pairs).
	 * rope.mode HAL_ROPE_NEOX rotates the pairs (x[i], x[i + n_rot/2]) instead, with the angle
	 * of pair i as above (GPT-NeoX's layout: Qwen2, Phi-3, Gemma). Optional src[2], F32
	 * [n_rot/2 x 1]: frequency factors, the angle of pair i divided by src[2][i] (Llama-3's
	 * rope scaling, as the converter stores it in rope_freqs.weight).
	 */
	HAL_OP_ROPE,
	/*
	 * Causal grouped-query attention over a KV cache.
	 * src[0] q [T x n_head*hd], src[1] k and src[2] v [T x n_head_kv*hd] (k already rotated),
	 * src[3] K cache and src[4] V cache ([n_ctx x n_head_kv*hd], both F32, both F16 or both
	 * Q8_0; Q8_0 needs hd a multiple of 32 so that each head's slice is whole blocks),
	 * src[5] positions (I32 [T]).
	 * First stores k, v row t at cache row pos[t], converted to the cache's type as
	 * hal_quantize_row does (F16: rounded to half; Q8_0: ggml's blocks of 32); then for token
	 * t and head h (kv head h / (n_head / n_head_kv)): dst[t, h] = sum_j softmax_j(scale *
	 * q.K[j]) V[j] over cache rows j = 0 .. pos[t], with K[j] and V[j] the rows as stored
	 * (dequantized). q stays F32: the cache's rounding is the only difference from F32.
	 * Gemma-2's variants: attn.softcap > 0 caps each score s (scale * q.K[j]) to
	 * softcap * tanh(s / softcap) before the softmax; attn.window > 0 limits token t to the
	 * rows pos[t] - window < j <= pos[t] (sliding-window attention).
	 */
	HAL_OP_ATTENTION,
	/*
	 * dst = silu(src[0]) * src[1], silu(x) = x / (1 + exp(-x)); with glu.act HAL_GLU_GELU
	 * dst = gelu(src[0]) * src[1] (GeGLU, Gemma), gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi)
	 * (x + 0.044715 x^3))).
	 */
	HAL_OP_SWIGLU,
	/*
	 * dst = src[0] + src[1] (same shape; dst may alias src[0]), or src[1] one row [D x 1]
	 * added to every row of src[0] (a bias: Qwen2's Q, K, V).
	 */
	HAL_OP_ADD,
	HAL_OP_COUNT
};

#define HAL_OP_MAX_SRC 6

/* ROPE's pair layouts (rope.mode). */
enum hal_rope_mode { HAL_ROPE_NORM = 0, HAL_ROPE_NEOX = 1 };
/* SWIGLU's activation of the gate (glu.act). */
enum hal_glu_act { HAL_GLU_SILU = 0, HAL_GLU_GELU = 1 };

/* The tanh form of GELU that HAL_GLU_GELU specifies, in float as the CPU backends compute it. */
static inline float hal_gelu(float x)
{
	return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
}

/* Soft-capping (Gemma-2's scores and logits): cap * tanh(x / cap), in float. */
static inline float hal_softcap(float x, float cap)
{
	return cap * tanhf(x / cap);
}

const char *hal_op_name(enum hal_op_kind kind);

struct hal_op {
	enum hal_op_kind kind;
	struct hal_tensor *src[HAL_OP_MAX_SRC];
	struct hal_tensor *dst;
	union {
		struct {
			float eps;
		} rmsnorm;
		struct {
			uint32_t n_head, head_dim, n_rot;
			float freq_base, freq_scale;
			uint32_t mode; /* enum hal_rope_mode */
		} rope;
		struct {
			uint32_t n_head, n_head_kv, head_dim;
			float scale;
			float softcap;   /* 0: none */
			uint32_t window; /* 0: every row up to pos */
			/*
			 * Each token's result has the bits of the same token in a one-token op
			 * (a backend that attends several queries at once must not here):
			 * speculative decoding's verifier compares its rows with decode steps.
			 */
			bool rowwise;
		} attn;
	} p;
	/*
	 * MATMUL's accumulating and normed forms; zero for a plain matmul. Outside the union p:
	 * a MATMUL whose p holds another op's parameters (a builder that sets eps on every op)
	 * must not turn into an accumulating one.
	 */
	struct {
		bool accumulate;
		float eps; /* the normed form's RMSNorm epsilon */
		float softcap; /* the capped form's cap; 0: none */
	} matmul;
	/* EMBED's and SWIGLU's attributes, outside p for the same reason; zero: plain */
	struct {
		float scale; /* 0: none */
	} embed;
	struct {
		uint32_t act; /* enum hal_glu_act */
	} glu;
};

/*
 * The weights of a MATMUL into w[0..2]: src[0], then src[2] and src[3] while present (the
 * fused form). Returns how many, 1 to 3.
 */
static inline uint32_t hal_matmul_weights(const struct hal_op *op, const struct hal_tensor **w)
{
	static const int slot[3] = { 0, 2, 3 };
	uint32_t n = 0;

	while (n < 3 && op->src[slot[n]]) {
		w[n] = op->src[slot[n]];
		n++;
	}
	return n;
}

/*
 * Part i (< hal_matmul_weights) of a MATMUL as a one-weight MATMUL of its own: *part gets
 * weights w[i], the same activations (and norm, accumulation) and dst = *dst_part, the
 * window of op->dst that holds w[i]'s results (a backend without a fused kernel runs the
 * parts one after the other).
 */
void hal_matmul_part(const struct hal_op *op, uint32_t i, struct hal_op *part,
		     struct hal_tensor *dst_part);

/*
 * Checks the operands of op against the semantics above (types, shapes, non-null data).
 * Returns HAL_OK or HAL_ERR_INVALID with a reason in msg (NUL-terminated, at most len bytes).
 * Every backend calls it before running an op, so a malformed graph is an error, never a
 * wild memory access.
 */
enum hal_status hal_op_check(const struct hal_op *op, char *msg, size_t len);

/*
 * Zeroed memory for what a decode streams or walks every token (packed weights, KV caches):
 * *len rounded up to whole 2 MiB huge pages, 2 MiB-aligned, with MADV_HUGEPAGE (a hint:
 * without transparent huge pages it works in small pages). In 4 KiB pages each 4 KiB read
 * costs a TLB walk. NULL when out of memory; free with hal_huge_free(p, len), len as asked
 * or as rounded.
 */
void *hal_huge_alloc(size_t *len);
void hal_huge_free(void *p, size_t len);

/* CLOCK_MONOTONIC in nanoseconds: how backends and the executor time ops. */
static inline uint64_t hal_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Running totals a device keeps; read by sessions and, later, by telemetry. */
struct hal_device_stats {
	uint64_t ops;
	uint64_t busy_ns;
	uint64_t bytes_copied; /* bytes moved between devices (0 on unified memory) */
	/* A device that models its own time and energy (the NPU) adds them here; 0 otherwise. */
	uint64_t modeled_ns;
	uint64_t modeled_energy_pj;
	uint64_t cur_freq_hz; /* clock of the last op, for traces; 0 when the device does not say */
};

/*
 * A fence: a one-shot signal that the op it belongs to has completed, with the op's status.
 * The scheduler's device queues (sched/exec.c) give every op of a run one; a queue starts an
 * op once the fences of its inputs are signalled, so a device hands its result straight to
 * the device that consumes it, never through the thread that submitted the graph. Signal
 * once per reset; any thread may test or wait.
 */
struct hal_fence {
	uint32_t signalled; /* futex word: 0 pending, 1 signalled, 2 pending with a sleeper */
	int32_t status;     /* enum hal_status of the op, valid once signalled */
};

static inline void hal_fence_reset(struct hal_fence *f)
{
	__atomic_store_n(&f->status, HAL_OK, __ATOMIC_RELAXED);
	__atomic_store_n(&f->signalled, 0, __ATOMIC_RELEASE);
}

/* Whether f is signalled; its status goes to *st then. */
static inline bool hal_fence_done(const struct hal_fence *f, enum hal_status *st)
{
	if (__atomic_load_n(&f->signalled, __ATOMIC_ACQUIRE) != 1)
		return false;
	*st = (enum hal_status)__atomic_load_n(&f->status, __ATOMIC_RELAXED);
	return true;
}

/*
 * Signals f with st and wakes every thread blocked in hal_fence_wait(f). A waiter may see the
 * signal and return (and free f) before the wake-up is issued: a fence's memory may take one
 * late futex wake, harmless because every futex waiter checks its word again.
 */
void hal_fence_signal(struct hal_fence *f, enum hal_status st);
/* Blocks until f is signalled; returns its status. */
enum hal_status hal_fence_wait(struct hal_fence *f);

/*
 * A device's DVFS state as its devfreq attributes give it (the kernel's
 * /sys/class/devfreq/<dev>/, or the in-process NPU's files of the same names).
 */
#define HAL_MAX_OPPS 16
struct hal_devfreq {
	uint32_t n_opp;
	uint64_t freq_hz[HAL_MAX_OPPS]; /* available_frequencies, sorted ascending */
	uint64_t min_hz, max_hz;        /* the admin's bounds (min_freq, max_freq) */
	uint64_t cur_hz;                /* cur_freq */
	char governor[32];
};

/*
 * Reads dir/{available_frequencies,min_freq,max_freq,cur_freq,governor}. Returns HAL_OK, or
 * HAL_ERR_DEVICE with err naming the file and what is wrong with it.
 */
enum hal_status hal_devfreq_read(const char *dir, struct hal_devfreq *out, char *err,
				 size_t err_len);

/*
 * Whether value (white space around it ignored, as echo's newline) may be written to the
 * devfreq attribute knob of a device whose available_governors and available_frequencies
 * files hold govs and freqs (space-separated): the rule the in-process NPU applies to its
 * files and `npu-top --set` applies before writing, so that a refusal reaches the writer.
 *   governor                      one of govs;
 *   min_freq, max_freq            a decimal number of Hz, 0 (no bound, as in the kernel) or
 *                                 within the lowest .. the highest of freqs (a value between
 *                                 two OPPs is kept and rounded to them when used);
 *   userspace/set_freq (set_freq) a decimal number of Hz within that range;
 *   anything else                 refused: read-only, or no such attribute.
 * HAL_OK, or HAL_ERR_INVALID with err saying what is wrong ("max_freq: 123 Hz is outside
 * available_frequencies (200000000 .. 1000000000)").
 */
enum hal_status hal_devfreq_check(const char *knob, const char *value, const char *govs,
				  const char *freqs, char *err, size_t err_len);
/* The same, with govs and freqs read from dir's files; HAL_ERR_DEVICE when they cannot be. */
enum hal_status hal_devfreq_check_dir(const char *dir, const char *knob, const char *value,
				      char *err, size_t err_len);

struct hal_device_vtable {
	void (*destroy)(struct hal_device *dev);
	/* Whether the device can run this op with these operand types. */
	bool (*supports)(struct hal_device *dev, const struct hal_op *op);
	/* Runs op to completion (synchronous). */
	enum hal_status (*run)(struct hal_device *dev, const struct hal_op *op);
	/*
	 * Optional (NULL when the device uses weights as the file holds them). Called once per
	 * matmul weight when a model is loaded for this device: the device may convert w into its
	 * own layout (repacked, interleaved, NPU blocks, device memory), point w->data at memory
	 * it owns and set w->owner = dev; or leave w untouched (HAL_OK either way). The original
	 * bytes stay valid (they are the mapped file). The device frees what it allocated in
	 * release_weight or when destroyed.
	 */
	enum hal_status (*prepare_weight)(struct hal_device *dev, struct hal_tensor *w);
	void (*release_weight)(struct hal_device *dev, struct hal_tensor *w);
	/*
	 * Optional DVFS (NULL: the device has one clock). devfreq_dir: the directory of its
	 * devfreq attributes (see hal_devfreq_read), NULL when it has none. freq_hint: the
	 * scheduler's power manager asks that the following jobs run at hz (0: no preference,
	 * the governor decides). The device clamps the hint to the admin's min_freq/max_freq and
	 * follows it only under a demand-driven governor (simple_ondemand): a governor the admin
	 * chose explicitly (performance, powersave, userspace) wins.
	 */
	const char *(*devfreq_dir)(struct hal_device *dev);
	void (*freq_hint)(struct hal_device *dev, uint64_t hz);
	/*
	 * Optional (NULL: the device serves one process in order). The priority of the ops that
	 * follow, set before each op as freq_hint is: the priority of the session that runs them
	 * (enpu_session_options.priority: 0 normal, negative background, positive ahead). A device
	 * that other processes share (the kernel driver's) orders its jobs among theirs by it.
	 */
	void (*priority)(struct hal_device *dev, int32_t priority);
	/*
	 * Optional: whether threads of the device may spin waiting for its next op (true, the
	 * default) or must sleep at once because other devices' threads need the cores (a run
	 * placed across devices on a host whose other devices also compute on its CPU).
	 */
	void (*spin)(struct hal_device *dev, bool spin);
};

/*
 * What a device is. The scheduler maps the devices of a profile onto this host's by class, and
 * decides by capability, never by a backend's name.
 */
enum hal_device_class { HAL_CLASS_CPU, HAL_CLASS_GPU, HAL_CLASS_NPU, HAL_CLASS_COUNT };

/* "cpu", "gpu", "npu" (the words profiles use); "?" out of range. */
const char *hal_class_name(enum hal_device_class cls);

/* Capabilities, bits of hal_device.caps and hal_backend.caps. */
enum hal_device_cap {
	/* Runs every op on every operand type: a context needs no CPU fallback beside it. */
	HAL_CAP_ALL_OPS = 1u << 0,
	/*
	 * Computes on the host CPU's cores (an OpenCL CPU device such as PoCL): it never runs at
	 * the same time as the CPU backend without taking its cores.
	 */
	HAL_CAP_HOST_CORES = 1u << 1,
	/* Runs the fused form of HAL_OP_MATMUL (several weights); no other device is given one. */
	HAL_CAP_FUSED_MATMUL = 1u << 2,
};

struct hal_device {
	const struct hal_device_vtable *vt;
	const char *name;
	enum hal_device_class cls;
	uint32_t caps; /* enum hal_device_cap bits */
	struct hal_device_stats stats;
	char error[256]; /* reason of the last failed run */
};

static inline void hal_device_destroy(struct hal_device *dev)
{
	if (dev)
		dev->vt->destroy(dev);
}

/*
 * For backends: formats printf-style into dev->error (truncated to its size, always
 * NUL-terminated) and returns st, so that a failing path reads "return hal_device_fail(dev,
 * HAL_ERR_..., ...)". It only writes dev->error: the caller serialises it with whatever else
 * writes that device's error (the device's queue or lock), as for any other write to it.
 */
enum hal_status hal_device_fail(struct hal_device *dev, enum hal_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The reference CPU backend: plain, single-threaded, obviously correct; the oracle. */
enum hal_status hal_cpu_ref_create(struct hal_device **out_dev);

/* What a context asks of the devices it opens; zero means "the backend's default". */
struct hal_device_options {
	uint32_t n_threads; /* CPU worker threads (default: the online cores) */
	const char *select; /* backend-specific choice, e.g. an OpenCL device name or index */
};

/*
 * The backends a context can open, by name. create() fills err (NUL-terminated) when the
 * device is not available on this machine (no OpenCL platform, no kernel module, ...).
 */
struct hal_backend {
	const char *name;        /* "cpu-ref", "cpu", "gpu", "npu", ... */
	const char *description; /* one line for --help and error messages */
	enum hal_device_class cls; /* of every device it creates */
	uint32_t caps;           /* the capabilities every device it creates has */
	enum hal_status (*create)(const struct hal_device_options *opts, struct hal_device **out_dev,
				  char *err, size_t err_len);
};

/* The backends compiled in, NULL-terminated, in order of preference as the CPU fallback. */
extern const struct hal_backend *const hal_backends[];
/*
 * The registry entry of the reference CPU backend (hal/cpu/cpu_ref.c); every other backend's
 * hal_backend_<name> is declared in that backend's header.
 */
extern const struct hal_backend hal_backend_cpu_ref;
const struct hal_backend *hal_backend_find(const char *name);

#endif
