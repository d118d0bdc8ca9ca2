/* SPDX-License-Identifier: MIT */
/*
 * graph.h - the graph IR of a llama-architecture transformer.
 *
 * sched_model_bind() checks a model's weights against its hyperparameters and binds them to
 * HAL tensors; sched_graph_build() turns a bound model into the sequence of HAL ops that
 * evaluates a batch of n_tokens (prefill: many, decode: one) against a KV cache, with every
 * activation placed in one arena by liveness. The scheduler (placement, dispatch) works on
 * this IR; nothing here knows about files: the caller passes weights by name.
 */
#ifndef EDGE_NPU_SCHED_GRAPH_H
#define EDGE_NPU_SCHED_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "sched/common.h"

struct sched_hparams {
	uint32_t n_vocab;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t n_ff;
	uint32_t n_rot; /* rotary dimensions per head (<= head_dim, even) */
	float rope_freq_base;
	float rope_freq_scale; /* 1 / linear scaling factor */
	float rms_eps;
	/*
	 * What the families differ in, each an attribute of the ops (hal.h) rather than a graph
	 * of its own; zero is llama. head_dim: 0 is n_embd / n_head (Gemma's differs).
	 */
	uint32_t head_dim;
	uint32_t rope_mode;  /* enum hal_rope_mode: NeoX for Qwen2, Phi-3, Gemma */
	uint32_t ffn_act;    /* enum hal_glu_act: GeGLU for Gemma */
	float embd_scale;    /* the embeddings' factor, 0 for none (Gemma: sqrt(n_embd)) */
	float attn_scale;    /* the scores' scale; 0: 1 / sqrt(head_dim) */
	/* Gemma-2: soft-capped scores and logits (0: none) and sliding-window layers */
	float attn_softcap, logit_softcap;
	uint32_t swa_window;  /* 0: none */
	uint32_t swa_pattern; /* layers with il % swa_pattern < swa_pattern - 1 slide */
};

static inline uint32_t sched_head_dim(const struct sched_hparams *hp)
{
	return hp->head_dim ? hp->head_dim : hp->n_embd / hp->n_head;
}

/* A weight as a model file holds it; ne[0] is the innermost dimension. */
struct sched_weight {
	const char *name;
	enum hal_type type;
	uint32_t n_dims;
	uint64_t ne[4];
	const void *data;
};

/* Returns the weight of that name, or NULL when the model has none. */
typedef const struct sched_weight *(*sched_weight_fn)(void *user, const char *name);

struct sched_layer {
	struct hal_tensor attn_norm, wq, wk, wv, wo;
	struct hal_tensor ffn_norm, w_gate, w_up, w_down;
	struct hal_tensor bq, bk, bv; /* Q, K, V biases (Qwen2); data NULL when absent */
	/* norms of the attention and FFN outputs before the residual add (Gemma-2); optional */
	struct hal_tensor attn_post_norm, ffn_post_norm;
};

struct sched_model {
	struct sched_hparams hp;
	struct hal_tensor tok_embd, output_norm, output;
	struct hal_tensor rope_freqs; /* rope frequency factors [n_rot/2]; data NULL: none */
	bool tied_output; /* output.weight absent: the embedding table is the output projection */
	/*
	 * Graphs fuse the matmuls that read one activation (Q, K, V; FFN gate, up) into the fused
	 * MATMUL of hal.h where their weights share a type: set it only when every device the
	 * graphs may run on has HAL_CAP_FUSED_MATMUL. Off after sched_model_bind.
	 */
	bool fuse_matmuls;
	struct sched_layer *layers;
	uint64_t n_params;
	/* per layer: the names of the windows of fused weights (Q, K, V; the gate) */
	char (*window_names)[4][48];
};

/*
 * Looks up every weight the llama graph needs (token_embd.weight, blk.N.attn_q.weight, ...,
 * output.weight optional) and checks type and shape, e.g. "tensor 'blk.3.attn_k.weight' has
 * shape [768 x 768], expected [768 x 256] (n_embd x n_head_kv*head_dim)". Norm weights must be
 * F32. The weight names and data must outlive the model. Free with sched_model_release().
 * The layouts of llama.cpp's converter are all taken, whatever the architecture: Q, K, V as
 * blk.N.attn_qkv.weight (Phi-3) are bound as three windows of its rows, an ffn_up of 2 n_ff
 * rows without ffn_gate (Phi-3) as gate (the first n_ff) and up; biases attn_{q,k,v}.bias or
 * attn_qkv.bias, post_attention_norm and post_ffw_norm (Gemma-2) and rope_freqs.weight
 * (frequency factors, Llama-3) are optional.
 */
enum sched_status sched_model_bind(const struct sched_hparams *hp, sched_weight_fn lookup,
				   void *user, struct sched_model *out, char *err, size_t err_len);
void sched_model_release(struct sched_model *m);

/*
 * Llama-3's rope scaling as frequency factors out[0 .. n_rot/2) (a ROPE's src[2]), the way
 * llama.cpp's converter computes the rope_freqs.weight it stores: pair i, of wavelength
 * 2 pi / base^(-2i/n_rot), keeps factor 1 when shorter than orig_ctx / high, takes factor when
 * longer than orig_ctx / low, and a smooth mix between. Needs 0 < low < high.
 */
void sched_rope_llama3_factors(float base, uint32_t n_rot, float factor, float low, float high,
			       uint32_t orig_ctx, float *out);

/* One node of the graph: an op, the layer it belongs to (-1 outside layers), its device. */
struct sched_node {
	struct hal_op op;
	int32_t layer;
	uint32_t device; /* index into the executor's device list, set by placement */
};

#define SCHED_NAME_LEN 32

struct sched_graph {
	uint32_t n_tokens;
	/*
	 * 1: one sequence (n_tokens of it). Above 1: a multi-sequence decode graph
	 * (sched_graph_build_seqs), one token of each sequence per row, n_tokens == n_seq.
	 */
	uint32_t n_seq;
	uint32_t n_nodes;
	struct sched_node *nodes;
	/* Activations: data points into arena once sched_graph_alloc() has run. */
	uint32_t n_tensors;
	struct hal_tensor *tensors;
	char (*names)[SCHED_NAME_LEN];
	size_t arena_bytes;
	void *arena;
	/* Inputs the caller fills before each run, and the output it reads. */
	struct hal_tensor *inp_tokens; /* I32 [n_tokens] */
	struct hal_tensor *inp_pos;    /* I32 [n_tokens] */
	struct hal_tensor *logits;     /* F32 [n_vocab] of the last token; [n_vocab x n_seq]
					* of every sequence's token when n_seq > 1 */
	/* private: tensor lifetimes and views, used by the arena planner */
	struct sched_tensor_plan *plan;
};

/*
 * Builds the op sequence for a batch of n_tokens over the KV caches k_cache[l] and v_cache[l]
 * (F32, [n_ctx x n_head_kv*head_dim] each, owned by the caller), and allocates the arena
 * (liveness-based: tensors whose lifetimes do not overlap share memory).
 */
enum sched_status sched_graph_build(const struct sched_model *m, uint32_t n_tokens,
				    struct hal_tensor *k_cache, struct hal_tensor *v_cache,
				    struct sched_graph **out, char *err, size_t err_len);
void sched_graph_free(struct sched_graph *g);

/*
 * sched_graph_build's graph with the logits of every token, not only the last: logits is
 * [n_vocab x n_tokens] (speculative decoding verifies each drafted token's prediction), and
 * attention rowwise (hal.h): each row's logits have the bits of that token decoded alone.
 */
enum sched_status sched_graph_build_all(const struct sched_model *m, uint32_t n_tokens,
					struct hal_tensor *k_cache, struct hal_tensor *v_cache,
					struct sched_graph **out, char *err, size_t err_len);

/*
 * The decode graph of n_seq >= 2 sequences at once: one token of sequence s in row s of
 * inp_tokens and inp_pos (each sequence at its own position), against sequence s's caches
 * k_caches[s][l] and v_caches[s][l] (n_layer each, as for sched_graph_build). Every row-wise op
 * and every matmul covers all rows, so a matmul reads its weights once for all sequences;
 * attention is one op per sequence and layer, over one-row views of q, k, v, the output and
 * the positions, and that sequence's caches: the ops keep their single-sequence semantics
 * (hal.h), and a row's arithmetic is the arithmetic of the same token in a one-token graph
 * wherever the backend computes a row independently of the others. logits holds every row.
 * The caches of different sequences must not overlap (the dependencies assume it).
 */
enum sched_status sched_graph_build_seqs(const struct sched_model *m, uint32_t n_seq,
					 struct hal_tensor *const *k_caches,
					 struct hal_tensor *const *v_caches,
					 struct sched_graph **out, char *err, size_t err_len);

/*
 * Points a multi-sequence graph's attention at other sequences' caches (of the same row
 * width; non-overlapping), so that one graph serves any set of n_seq sequences: its
 * dependencies (dag.h) stay valid, as no other op touches a cache. SCHED_ERR_INVALID, and g
 * untouched, when g has one sequence or a cache's width differs.
 */
enum sched_status sched_graph_bind_seqs(struct sched_graph *g, struct hal_tensor *const *k_caches,
					struct hal_tensor *const *v_caches);

/* Counts of nodes per op kind (for reports and tests). */
void sched_graph_count_ops(const struct sched_graph *g, uint32_t counts[HAL_OP_COUNT]);

/*
 * The weights of every matmul (7 per layer, then the output projection; the embedding table
 * is not one: lookups read it as stored). Returns how many there are; fills up to cap.
 */
uint32_t sched_model_matmul_weights(struct sched_model *m, struct hal_tensor **out, uint32_t cap);

/* ---- execution (the dispatcher, exec.h) ---------------------------------------------- */

/* Accumulated per device by sched_exec_run: what ran where and for how long. */
struct sched_usage {
	uint64_t ops;
	uint64_t busy_ns;
	uint64_t bytes_copied;
	uint64_t modeled_ns;        /* the device's own model of its time (NPU), else 0 */
	uint64_t modeled_energy_pj;
};

/* One op as the executor ran it: what a trace records. */
struct sched_op_record {
	uint32_t node;   /* index into g->nodes */
	uint32_t device; /* index into devs */
	uint64_t t_start_ns, t_end_ns; /* hal_now_ns() around the device's run() */
	uint64_t modeled_ns, modeled_energy_pj; /* this op's share of the device's model, else 0 */
	uint64_t cur_freq_hz; /* the device's clock after the op (0: the device does not say) */
};

/*
 * Called after each op that succeeded, from the queue thread of the device that ran it, one
 * call at a time (the dispatcher, exec.h, serialises them).
 */
struct sched_observer {
	void (*op)(void *user, const struct sched_graph *g, const struct sched_op_record *rec);
	void *user;
};

#endif
