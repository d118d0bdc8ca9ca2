/* SPDX-License-Identifier: MIT */
/*
 * mkmodel.h - writes a llama-architecture GGUF with seeded random weights, for tests, demos and
 * benchmarks (no model file is committed). Shared by npu-mkmodel and npu-run's default model.
 */
#ifndef EDGE_NPU_MKMODEL_H
#define EDGE_NPU_MKMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

struct mkmodel_params {
	uint32_t dim, layers, heads, kv_heads, ffn, ctx;
	enum hal_type type; /* of every matrix, the embedding included; norms stay F32 */
	uint64_t seed;
	bool tied;          /* no output.weight: the embedding is the output projection */
	/* output.weight in Q6_K, as llama.cpp's quantizer writes it in Q4_0 (and other) files */
	bool output_q6_k;
	/*
	 * llama.cpp's Q4_K_M mix (type Q4_K): output.weight Q6_K, and attn_v and ffn_down Q6_K in
	 * the first and last eighth of the layers and every third layer between, Q4_K elsewhere.
	 */
	bool q4_k_m;
	const char *vocab;  /* GGUF whose tokenizer.* keys are copied; NULL: the built-in one */
	const char *name;   /* general.name */
	/*
	 * The layout, in the tensor names and keys of llama.cpp's converter: "llama" (NULL),
	 * "qwen2" (Q, K, V biases), "phi3" (fused attn_qkv, ffn_up holding gate and up),
	 * "gemma" (tied, GeGLU, head_dim of its own when head_dim is set), "gemma2" (gemma's,
	 * with post-norms, soft-capping at 50 and 30, sliding windows of swa_window tokens).
	 */
	const char *arch;
	uint32_t head_dim;  /* 0: dim / heads */
	uint32_t swa_window; /* gemma2's attention.sliding_window; 0: 4096 */
	/* NULL/"none"; "linear" (factor rope_factor); "llama3" (rope_freqs.weight, factor 8) */
	const char *rope_scaling;
	float rope_factor;
};

/* The layouts mkmodel writes ("llama", "qwen2", "phi3", "gemma", "gemma2"), NULL-terminated. */
extern const char *const mkmodel_archs[];

/* The built-in default model of npu-run (dim 512, 8 layers, GQA 8/4 heads, Q8_0). */
extern const struct mkmodel_params mkmodel_default;

/*
 * Parses "f32", "f16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k" (any case); false when unknown.
 * ("q4_k_m" is type q4_k with q4_k_m set: npu-mkmodel parses it.)
 */
bool mkmodel_parse_type(const char *s, enum hal_type *out);

/* Whether p describes a model mkmodel_write can make: -1 with the reason in err if not. */
int mkmodel_check(const struct mkmodel_params *p, char *err, size_t len);

/* Writes the model to path (atomically: a temporary file renamed). 0 or -1 with err set. */
int mkmodel_write(const struct mkmodel_params *p, const char *path, char *err, size_t err_len);

#endif
