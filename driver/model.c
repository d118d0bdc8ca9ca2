/* SPDX-License-Identifier: MIT */
/* model.c - loading a transformer GGUF: metadata, weights, tokenizer, graph binding. */
#include "internal.h"
#include "hal/quant.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static enpu_status from_gguf(enum gguf_status st)
{
	switch (st) {
	case GGUF_OK:
		return ENPU_OK;
	case GGUF_ERR_IO:
		return ENPU_ERR_IO;
	case GGUF_ERR_UNSUPPORTED:
		return ENPU_ERR_UNSUPPORTED;
	case GGUF_ERR_NOMEM:
		return ENPU_ERR_NO_MEMORY;
	default:
		return ENPU_ERR_FORMAT;
	}
}

static bool hal_type_of(uint32_t gguf_type, enum hal_type *out)
{
	switch (gguf_type) {
	case GGUF_TENSOR_F32:
		*out = HAL_TYPE_F32;
		return true;
	case GGUF_TENSOR_F16:
		*out = HAL_TYPE_F16;
		return true;
	case GGUF_TENSOR_Q8_0:
		*out = HAL_TYPE_Q8_0;
		return true;
	case GGUF_TENSOR_Q4_0:
		*out = HAL_TYPE_Q4_0;
		return true;
	case GGUF_TENSOR_Q4_K:
		*out = HAL_TYPE_Q4_K;
		return true;
	case GGUF_TENSOR_Q5_K:
		*out = HAL_TYPE_Q5_K;
		return true;
	case GGUF_TENSOR_Q6_K:
		*out = HAL_TYPE_Q6_K;
		return true;
	default:
		return false;
	}
}

/*
 * The architectures (general.architecture) and what they set in the graph's attributes: the
 * tensors are the same names for all (llama.cpp's converter), the keys "<name>.<suffix>".
 */
struct drv_arch {
	const char *name;
	enum hal_rope_mode rope_mode;
	enum hal_glu_act ffn_act;
	bool embd_scale; /* embeddings times sqrt(n_embd) */
	/*
	 * Soft-capping and sliding-window keys (Gemma-2's defaults), and the post-norms every
	 * layer must have (no other architecture may)
	 */
	bool gemma2;
	bool qkv_bias; /* Q, K and V biases in every layer (Qwen2); optional elsewhere */
};

static const struct drv_arch archs[] = {
	{ "llama", HAL_ROPE_NORM, HAL_GLU_SILU, false, false, false },
	{ "qwen2", HAL_ROPE_NEOX, HAL_GLU_SILU, false, false, true },
	{ "phi3", HAL_ROPE_NEOX, HAL_GLU_SILU, false, false, false },
	/* Gemma's norm weights are stored with the 1 of its (1 + w) RMSNorm already added */
	{ "gemma", HAL_ROPE_NEOX, HAL_GLU_GELU, true, false, false },
	{ "gemma2", HAL_ROPE_NEOX, HAL_GLU_GELU, true, true, false },
};


/*
 * Reads the hyperparameter "<arch>.<suffix>" into *out_u (an unsigned 32-bit key) or *out_f (a
 * float key); an absent optional key takes def.
 */
static enpu_status get_hparam(enpu_model *m, const char *path, const char *suffix, bool required,
			      double def, uint32_t *out_u, float *out_f)
{
	char key[96];
	enum gguf_status st;

	snprintf(key, sizeof(key), "%s.%s", m->arch->name, suffix);
	st = out_u ? gguf_get_u32(m->gguf, key, out_u) : gguf_get_f32(m->gguf, key, out_f);
	if (st == GGUF_ERR_NOT_FOUND && !required) {
		if (out_u)
			*out_u = (uint32_t)def;
		else
			*out_f = (float)def;
		return ENPU_OK;
	}
	if (st == GGUF_ERR_NOT_FOUND)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: required key '%s' is missing", path,
				    key);
	if (st)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: key '%s' is not %s", path, key,
				    out_u ? "an unsigned 32-bit integer" : "a float");
	return ENPU_OK;
}

static enpu_status get_u32(enpu_model *m, const char *path, const char *suffix, bool required,
			   uint32_t def, uint32_t *out)
{
	return get_hparam(m, path, suffix, required, def, out, NULL);
}

static enpu_status get_f32(enpu_model *m, const char *path, const char *suffix, bool required,
			   float def, float *out)
{
	return get_hparam(m, path, suffix, required, def, NULL, out);
}

static enpu_status get_key_f32(enpu_model *m, const char *path, const char *suffix, float def,
			       float *out)
{
	return get_hparam(m, path, suffix, false, def, NULL, out);
}

/*
 * Gemma-2's keys, with llama.cpp's defaults: scores capped at 50, logits at 30, every other
 * layer (from the first) a sliding window of 4096. Its scores' scale is 1/sqrt(head_dim), but
 * n_embd / n_head for the 27B (46 layers), as llama.cpp and Google's reference take it.
 */
static enpu_status read_gemma2(enpu_model *m, const char *path, struct sched_hparams *hp)
{
	enpu_status st;

	if ((st = get_key_f32(m, path, "attn_logit_softcapping", 50.0f, &hp->attn_softcap)) ||
	    (st = get_key_f32(m, path, "final_logit_softcapping", 30.0f, &hp->logit_softcap)) ||
	    (st = get_u32(m, path, "attention.sliding_window", false, 4096, &hp->swa_window)) ||
	    (st = get_u32(m, path, "attention.sliding_window_pattern", false, 2, &hp->swa_pattern)))
		return st;
	if (!(hp->attn_softcap >= 0.0f && hp->attn_softcap <= 1e6f) ||
	    !(hp->logit_softcap >= 0.0f && hp->logit_softcap <= 1e6f))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: gemma2.attn_logit_softcapping %g or final_logit_softcapping %g "
				    "is out of range (0..1e6)", path, hp->attn_softcap,
				    hp->logit_softcap);
	if (hp->n_layer == 46)
		hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
	return ENPU_OK;
}

/* Llama-3's rope scaling from its keys (llama.cpp's converter writes rope_freqs.weight). */
static enpu_status llama3_factors(enpu_model *m, const char *path, const struct sched_hparams *hp)
{
	float factor, lo, hi;
	uint32_t orig;
	enpu_status st;

	if ((st = get_key_f32(m, path, "rope.scaling.factor", 8.0f, &factor)) ||
	    (st = get_key_f32(m, path, "rope.scaling.low_freq_factor", 1.0f, &lo)) ||
	    (st = get_key_f32(m, path, "rope.scaling.high_freq_factor", 4.0f, &hi)) ||
	    (st = get_u32(m, path, "rope.scaling.original_context_length", false, 8192, &orig)))
		return st;
	if (!(factor >= 1e-3f && factor <= 1e4f) || !(lo > 0.0f && lo < hi && hi <= 1e4f) ||
	    orig == 0)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.rope.scaling (llama3): factor %g, low_freq_factor %g, "
				    "high_freq_factor %g, original_context_length %u are out of range",
				    path, m->arch->name, factor, lo, hi, orig);
	m->rope_freqs_data = malloc(sizeof(float) * (hp->n_rot / 2));
	if (!m->rope_freqs_data)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "%s: out of memory", path);
	sched_rope_llama3_factors(hp->rope_freq_base, hp->n_rot, factor, lo, hi, orig,
				  m->rope_freqs_data);
	m->rope_freqs = (struct sched_weight){ "rope_freqs.weight", HAL_TYPE_F32, 1,
					       { hp->n_rot / 2, 1, 1, 1 }, m->rope_freqs_data };
	return ENPU_OK;
}

/*
 * RoPE scaling: linear (a frequency scale), llama3 (frequency factors: the file's
 * rope_freqs.weight as llama.cpp's converter writes them, or computed from the keys); the
 * others change the rotation itself and are refused.
 */
static enpu_status read_rope_scaling(enpu_model *m, const char *path, struct sched_hparams *hp)
{
	char key[96];
	struct gguf_str type;
	float factor = 1.0f;
	bool llama3 = false;

	hp->rope_freq_scale = 1.0f;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", m->arch->name);
	enum gguf_status gs = gguf_get_str(m->gguf, key, &type);

	if (gs != GGUF_OK && gs != GGUF_ERR_NOT_FOUND)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: key '%s' is not a string", path,
				    key);
	if (gs == GGUF_OK) {
		llama3 = gguf_str_eq(type, "llama3");
		if (!llama3 && !gguf_str_eq(type, "none") && !gguf_str_eq(type, "linear"))
			return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
					    "%s: %s '%.*s' is not supported (none, linear, llama3)",
					    path, key, (int)type.len, type.ptr);
	}
	if (llama3)
		return gguf_find_tensor(m->gguf, "rope_freqs.weight") ? ENPU_OK
								       : llama3_factors(m, path, hp);
	snprintf(key, sizeof(key), "%s.rope.scaling.factor", m->arch->name);
	gs = gguf_get_f32(m->gguf, key, &factor);
	if (gs == GGUF_ERR_NOT_FOUND) {
		snprintf(key, sizeof(key), "%s.rope.scale_linear", m->arch->name);
		gs = gguf_get_f32(m->gguf, key, &factor);
	}
	/* of another type, the file meant a scaling we would silently drop */
	if (gs != GGUF_OK && gs != GGUF_ERR_NOT_FOUND)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: key '%s' is not a float", path,
				    key);
	if (gs == GGUF_ERR_NOT_FOUND || factor == 0.0f) /* 0: unset, as llama.cpp reads it */
		factor = 1.0f;
	if (!(factor >= 1e-3f && factor <= 1e4f)) /* NaN and inf fail too */
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s %g is out of range (0.001..10000)", path, key, factor);
	hp->rope_freq_scale = 1.0f / factor;
	return ENPU_OK;
}

/* Limits that keep a hostile file from asking for absurd allocations. */
#define MAX_DIM (1u << 20)
#define MAX_LAYERS 4096u

static enpu_status read_hparams(enpu_model *m, const char *path, struct sched_hparams *hp)
{
	enpu_status st;
	uint32_t n_vocab_key = 0;

	memset(hp, 0, sizeof(*hp));
	if ((st = get_u32(m, path, "embedding_length", true, 0, &hp->n_embd)) ||
	    (st = get_u32(m, path, "block_count", true, 0, &hp->n_layer)) ||
	    (st = get_u32(m, path, "attention.head_count", true, 0, &hp->n_head)) ||
	    (st = get_u32(m, path, "feed_forward_length", true, 0, &hp->n_ff)) ||
	    (st = get_u32(m, path, "context_length", true, 0, &m->n_ctx_train)) ||
	    (st = get_u32(m, path, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv)) ||
	    (st = get_u32(m, path, "vocab_size", false, 0, &n_vocab_key)) ||
	    (st = get_f32(m, path, "attention.layer_norm_rms_epsilon", true, 0, &hp->rms_eps)) ||
	    (st = get_f32(m, path, "rope.freq_base", false, 10000.0f, &hp->rope_freq_base)) ||
	    (st = get_u32(m, path, "attention.key_length", false, 0, &hp->head_dim)))
		return st;
	const char *a = m->arch->name;

	if (hp->n_embd == 0 || hp->n_embd > MAX_DIM)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: %s.embedding_length %u is out of range (1..%u)",
				    path, a, hp->n_embd, MAX_DIM);
	if (hp->n_layer == 0 || hp->n_layer > MAX_LAYERS)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: %s.block_count %u is out of range (1..%u)",
				    path, a, hp->n_layer, MAX_LAYERS);
	if (hp->n_ff == 0 || hp->n_ff > 4 * MAX_DIM)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: %s.feed_forward_length %u is out of range",
				    path, a, hp->n_ff);
	/* without a key_length the head dimension is n_embd / n_head */
	if (hp->n_head == 0 || hp->n_head > MAX_DIM || (!hp->head_dim && hp->n_embd % hp->n_head))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.attention.head_count (%u) does not divide %s.embedding_length (%u)",
				    path, a, hp->n_head, a, hp->n_embd);
	if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.attention.head_count_kv (%u) does not divide %s.attention.head_count (%u)",
				    path, a, hp->n_head_kv, a, hp->n_head);
	if (hp->head_dim > MAX_DIM || (hp->head_dim && hp->head_dim % 2))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.attention.key_length %u is out of range (even, 2..%u)",
				    path, a, hp->head_dim, MAX_DIM);
	/* Q's width (and so K's, V's, the attention's output) within the limit of a dimension */
	if ((uint64_t)hp->n_head * sched_head_dim(hp) > MAX_DIM)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.attention.head_count %u x key_length %u is out of range "
				    "(at most %u)", path, a, hp->n_head, sched_head_dim(hp), MAX_DIM);
	uint32_t v_len = 0;
	if ((st = get_u32(m, path, "attention.value_length", false, 0, &v_len)))
		return st;
	if (v_len && v_len != sched_head_dim(hp))
		return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
				    "%s: %s.attention.value_length %u differs from the key length %u",
				    path, a, v_len, sched_head_dim(hp));
	if (get_u32(m, path, "rope.dimension_count", false, sched_head_dim(hp), &hp->n_rot))
		return ENPU_ERR_FORMAT;
	if (hp->n_rot == 0 || hp->n_rot % 2 || hp->n_rot > sched_head_dim(hp))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.rope.dimension_count (%u) must be even and at most the head dimension (%u)",
				    path, a, hp->n_rot, sched_head_dim(hp));
	/* written so that NaN fails them too */
	if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.attention.layer_norm_rms_epsilon %g is out of range (0..1)",
				    path, a, hp->rms_eps);
	if (!(hp->rope_freq_base > 0.0f && hp->rope_freq_base <= 1e9f))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.rope.freq_base %g is out of range (0..1e9)", path, a,
				    hp->rope_freq_base);
	if (m->n_ctx_train == 0)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT, "%s: %s.context_length is 0", path, a);
	if ((st = read_rope_scaling(m, path, hp)))
		return st;
	hp->rope_mode = m->arch->rope_mode;
	hp->ffn_act = m->arch->ffn_act;
	hp->embd_scale = m->arch->embd_scale ? sqrtf((float)hp->n_embd) : 0.0f;
	if (m->arch->gemma2 && (st = read_gemma2(m, path, hp)))
		return st;
	/* Phi-3's LongRoPE (128k models) also rescales attention: refused rather than wrong */
	static const char *const longrope[] = { "rope_factors_long.weight",
						"rope_factors_short.weight" };
	for (size_t i = 0; i < sizeof(longrope) / sizeof(longrope[0]); i++)
		if (gguf_find_tensor(m->gguf, longrope[i]))
			return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
					    "%s: tensor '%s' (LongRoPE scaling) is not supported",
					    path, longrope[i]);

	/* the vocabulary size comes from the tokenizer; a vocab_size key must agree with it */
	hp->n_vocab = tok_n_tokens(m->vocab);
	if (n_vocab_key && n_vocab_key != hp->n_vocab)
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: %s.vocab_size (%u) differs from the %u tokens of tokenizer.ggml.tokens",
				    path, a, n_vocab_key, hp->n_vocab);
	return ENPU_OK;
}

/* Makes every tensor a sched_weight with a NUL-terminated name the graph can look up. */
/*
 * Where a block of type t keeps its fp16 scales: offsets of up to two of them in the block
 * (Q4_K and Q5_K: d and dmin at its start; Q6_K: d at its end; the others: one at the start).
 */
static uint32_t scale_offsets(enum hal_type t, uint32_t off[2])
{
	off[0] = t == HAL_TYPE_Q6_K ? offsetof(struct hal_block_q6_k, d) : 0;
	off[1] = 2;
	return t == HAL_TYPE_Q4_K || t == HAL_TYPE_Q5_K ? 2 : 1;
}

/*
 * The first value of w (size bytes as the file holds them) that is NaN or infinite: an F32 or
 * F16 element, or a block's scale. -1 when every one is finite. One pass over the weights,
 * part of the load's first touch of them.
 */
static int64_t first_non_finite(const struct sched_weight *w, uint64_t size)
{
	const uint8_t *b = w->data;
	const uint64_t step = w->type == HAL_TYPE_F32 ? 4 : w->type == HAL_TYPE_F16 ? 2 :
			      hal_type_block_bytes(w->type);
	uint32_t at[2];
	const uint32_t n_at = w->type == HAL_TYPE_F32 ? 1 : scale_offsets(w->type, at);

	if (w->type == HAL_TYPE_F32 || w->type == HAL_TYPE_F16)
		at[0] = 0;
	for (uint64_t off = 0; step && off + step <= size; off += step) {
		uint32_t v = 0;

		if (w->type == HAL_TYPE_F32) {
			memcpy(&v, b + off, 4);
			if ((v & 0x7f800000u) == 0x7f800000u)
				return (int64_t)(off / step);
			continue;
		}
		for (uint32_t k = 0; k < n_at; k++) {
			memcpy(&v, b + off + at[k], 2); /* an F16 element or a block's fp16 scale */
			if ((v & 0x7c00u) == 0x7c00u)
				return (int64_t)(off / step);
		}
	}
	return -1;
}

static enpu_status collect_weights(enpu_model *m, const char *path)
{
	const struct gguf_file *f = m->gguf;
	size_t names_len = 0;

	for (uint64_t i = 0; i < f->n_tensors; i++)
		names_len += f->tensors[i].name.len + 1;
	m->weights = calloc(f->n_tensors ? f->n_tensors : 1, sizeof(*m->weights));
	m->names = malloc(names_len ? names_len : 1);
	if (!m->weights || !m->names)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "%s: out of memory for %llu tensor infos",
				    path, (unsigned long long)f->n_tensors);
	char *p = m->names;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor_info *ti = &f->tensors[i];
		struct sched_weight *w = &m->weights[i];

		memcpy(p, ti->name.ptr, ti->name.len);
		p[ti->name.len] = 0;
		w->name = p;
		p += ti->name.len + 1;
		w->n_dims = ti->n_dims;
		memcpy(w->ne, ti->ne, sizeof(w->ne));
		w->data = ti->data;
		if (!hal_type_of(ti->type, &w->type)) {
			return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
					    "%s: tensor '%s' has type %s, which edge-npu does not support",
					    path, w->name, gguf_tensor_type_name(ti->type));
		} else {
			int64_t bad = first_non_finite(w, ti->size);
			if (bad >= 0)
				return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
						    "%s: tensor '%s' %s %lld is NaN or infinite", path,
						    w->name, w->type == HAL_TYPE_F32 ||
								     w->type == HAL_TYPE_F16
							     ? "element" : "block scale of block",
						    (long long)bad);
		}
	}
	m->n_weights = (uint32_t)f->n_tensors;
	return ENPU_OK;
}

static const struct sched_weight *find_weight(void *user, const char *name)
{
	enpu_model *m = user;
	const struct gguf_tensor_info *ti = gguf_find_tensor(m->gguf, name);

	if (!ti && m->rope_freqs_data && !strcmp(name, m->rope_freqs.name))
		return &m->rope_freqs; /* computed from the llama3 rope scaling keys */
	if (ti && m->bound)
		m->bound[ti - m->gguf->tensors] = true;
	return ti ? &m->weights[ti - m->gguf->tensors] : NULL;
}

/*
 * Touches every page of the tensor data so that load time is the real cost of bringing the
 * model into memory (not deferred to the first token), and reports progress as it goes.
 */
static enpu_status prefault(enpu_model *m, const struct enpu_model_options *opts)
{
	const uint8_t *base = m->gguf->base;
	const uint64_t size = m->gguf->size;
	const uint64_t step = 16u << 20;
	const long page = sysconf(_SC_PAGESIZE);
	enpu_progress_fn progress = NULL;
	void *user = NULL;
	volatile uint8_t sink = 0;

	if (opts && opts->struct_size >= offsetof(struct enpu_model_options, progress_user) +
						 sizeof(void *)) {
		progress = opts->progress;
		user = opts->progress_user;
	}
	for (uint64_t off = 0; off < size; off += step) {
		uint64_t end = off + step < size ? off + step : size;
		for (uint64_t p = off; p < end; p += (uint64_t)page)
			sink ^= base[p];
		if (progress && !progress(end, size, user))
			return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG, "model load cancelled");
	}
	(void)sink;
	return ENPU_OK;
}

/*
 * Lets the context's preferred device convert the matmul weights to its own layout, once,
 * keeping their original tensors for the copies other devices may need (drv_model_weight_for).
 */
static enpu_status prepare_weights(enpu_model *m)
{
	struct hal_device *dev = m->ctx->devices[m->ctx->n_devices - 1];
	uint32_t n = sched_model_matmul_weights(&m->sm, NULL, 0);
	struct hal_tensor **w = calloc(n, sizeof(*w));

	m->mm = w;
	m->mm_orig = malloc(sizeof(*m->mm_orig) * n);
	if (!w || !m->mm_orig)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "out of memory preparing weights");
	m->n_mm = n;
	sched_model_matmul_weights(&m->sm, w, n);
	for (uint32_t i = 0; i < n; i++)
		m->mm_orig[i] = *w[i];
	if (!dev->vt->prepare_weight)
		return ENPU_OK;
	/* a tied output projection shares the embedding's bytes: it gets its own copy */
	for (uint32_t i = 0; i < n; i++) {
		/*
		 * Gemma-2's capped logits are a matmul form not every device runs: their weight
		 * stays in the file's layout, readable by the device that placement falls back to
		 */
		if (w[i] == &m->sm.output && m->sm.hp.logit_softcap != 0.0f)
			continue;
		enum hal_status st = dev->vt->prepare_weight(dev, w[i]);
		if (st != HAL_OK)
			return drv_ctx_fail(m->ctx, st == HAL_ERR_NOMEM ? ENPU_ERR_NO_MEMORY
								: ENPU_ERR_DEVICE,
					    "device %s cannot take weight '%s': %s", dev->name,
					    w[i]->name, dev->error);
	}
	return ENPU_OK;
}

struct hal_tensor *drv_model_weight_for(enpu_model *m, const struct hal_tensor *w,
					struct hal_device *dev, bool create)
{
	struct hal_tensor *out = NULL;
	uint32_t idx = UINT32_MAX;

	pthread_mutex_lock(&m->copies_lock);
	for (uint32_t i = 0; i < m->n_mm && idx == UINT32_MAX; i++)
		if (m->mm[i] == w)
			idx = i;
	for (uint32_t c = 0; c < m->n_copies && idx == UINT32_MAX; c++)
		if (&m->copies[c]->t == w)
			idx = m->copies[c]->idx;
	if (idx == UINT32_MAX)
		goto out;
	struct hal_tensor *own = m->mm[idx];
	/* the model's own tensor, when it is dev's or in the file's layout that dev reads */
	if (own->owner == dev || (!own->owner && !dev->vt->prepare_weight)) {
		out = own;
		goto out;
	}
	for (uint32_t c = 0; c < m->n_copies; c++)
		if (m->copies[c]->idx == idx && m->copies[c]->dev == dev) {
			out = &m->copies[c]->t;
			goto out;
		}
	if (!create)
		goto out;
	void *grown = realloc(m->copies, sizeof(*m->copies) * (m->n_copies + 1));
	struct weight_copy *wc = grown ? malloc(sizeof(*wc)) : NULL;
	if (grown)
		m->copies = grown;
	if (!wc) {
		snprintf(dev->error, sizeof(dev->error), "out of memory copying weight '%s'",
			 own->name);
		goto out;
	}
	*wc = (struct weight_copy){ idx, dev, m->mm_orig[idx] };
	if (dev->vt->prepare_weight && dev->vt->prepare_weight(dev, &wc->t) != HAL_OK) {
		free(wc);
		goto out;
	}
	m->copies[m->n_copies++] = wc;
	out = &wc->t;
out:
	pthread_mutex_unlock(&m->copies_lock);
	return out;
}

static void release_weight(struct hal_tensor *w)
{
	if (w->owner && w->owner->vt->release_weight)
		w->owner->vt->release_weight(w->owner, w);
}

static void release_weights(enpu_model *m)
{
	for (uint32_t c = 0; c < m->n_copies; c++) {
		release_weight(&m->copies[c]->t);
		free(m->copies[c]);
	}
	free(m->copies);
	for (uint32_t i = 0; i < m->n_mm; i++)
		release_weight(m->mm[i]);
	free(m->mm);
	free(m->mm_orig);
}

/*
 * The method asked for, or the default: the mapping, which `npu-bench load` measured faster on
 * this project's machines (the ~130 M Q8_0 model, 137 MiB, on cpu: warm 723 against 1005 ms,
 * cold 839 against 1711 ms): reading through io_uring copies every byte once more and faults
 * in as many anonymous pages, and the load's time is mostly the weights' repacking anyway.
 */
static enum enpu_read_method read_method_of(const struct enpu_model_options *opts)
{
	enum enpu_read_method how = ENPU_READ_DEFAULT;

	if (opts && opts->struct_size >= offsetof(struct enpu_model_options, read) + sizeof(how))
		how = opts->read;
	return how == ENPU_READ_DEFAULT ? ENPU_READ_MMAP : how;
}

/* The file into memory and parsed: mapped, or read through io_uring. */
static enpu_status open_file(enpu_model *m, const char *path, enum enpu_read_method how,
			     const struct enpu_model_options *opts)
{
	char err[512];
	enum gguf_status gst;

	if (how != ENPU_READ_MMAP && how != ENPU_READ_URING)
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_model_load: read method %d is not one of enpu_read_method",
				    (int)how);
	struct stat sb;
	if (!stat(path, &sb)) {
		m->have_file_id = true;
		m->file_dev = sb.st_dev;
		m->file_ino = sb.st_ino;
	}
	if (how == ENPU_READ_MMAP) {
		snprintf(m->read_method, sizeof(m->read_method), "mmap");
		gst = gguf_open(path, &m->gguf, err, sizeof(err));
		return gst ? drv_ctx_fail(m->ctx, from_gguf(gst), "%s", err) : ENPU_OK;
	}
	const bool has_progress = opts && opts->struct_size >= offsetof(struct enpu_model_options,
									 progress_user) +
									sizeof(void *);
	void *buf;
	size_t size;
	int rc = drv_model_file_read(path, has_progress ? opts->progress : NULL,
				     has_progress ? opts->progress_user : NULL, &buf, &size,
				     m->read_method, sizeof(m->read_method), err, sizeof(err));
	if (rc)
		return drv_ctx_fail(m->ctx, rc == -2 ? ENPU_ERR_INVALID_ARG : ENPU_ERR_IO, "%s", err);
	gst = gguf_adopt(buf, size, path, &m->gguf, err, sizeof(err));
	if (gst) {
		munmap(buf, size);
		return drv_ctx_fail(m->ctx, from_gguf(gst), "%s", err);
	}
	return ENPU_OK;
}

static enpu_status load(enpu_model *m, const char *path, const struct enpu_model_options *opts)
{
	char err[512];
	struct gguf_str s;
	struct sched_hparams hp;
	enpu_status st;

	const enum enpu_read_method how = read_method_of(opts);
	if ((st = open_file(m, path, how, opts)))
		return st;
	if (gguf_get_str(m->gguf, "general.architecture", &s))
		return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
				    "%s: required key 'general.architecture' is missing or not a string",
				    path);
	for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]) && !m->arch; i++)
		if (gguf_str_eq(s, archs[i].name))
			m->arch = &archs[i];
	if (!m->arch)
		return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
				    "%s: general.architecture is '%.*s'; edge-npu runs llama, qwen2, "
				    "phi3, gemma and gemma2 models", path, (int)s.len, s.ptr);
	if (gguf_get_str(m->gguf, "general.name", &s) == GGUF_OK)
		snprintf(m->name, sizeof(m->name), "%.*s", (int)s.len, s.ptr);
	else
		snprintf(m->name, sizeof(m->name), "%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);

	enum tok_status tst = tok_vocab_from_gguf(m->gguf, &m->vocab, err, sizeof(err));
	if (tst)
		return drv_ctx_fail(m->ctx, tst == TOK_ERR_UNSUPPORTED ? ENPU_ERR_UNSUPPORTED :
				    tst == TOK_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_FORMAT,
				    "%s: %s", path, err);
	if ((st = read_hparams(m, path, &hp)) || (st = collect_weights(m, path)))
		return st;
	if (how == ENPU_READ_MMAP && (st = prefault(m, opts)))
		return st;
	return drv_model_bind(m, path, &hp);
}

/*
 * The graph takes biases and post-norms where a file has them; the architecture says which it
 * must have, as llama.cpp loads it (a file without them, or a llama with Gemma-2's post-norms,
 * would be computed as another model).
 */
static enpu_status check_arch_tensors(enpu_model *m, const char *path)
{
	static const char *const bias[3] = { "attn_q.bias", "attn_k.bias", "attn_v.bias" };
	static const char *const post[2] = { "post_attention_norm.weight", "post_ffw_norm.weight" };

	for (uint32_t il = 0; il < m->sm.hp.n_layer; il++) {
		const struct sched_layer *l = &m->sm.layers[il];
		const bool has_bias[3] = { l->bq.data, l->bk.data, l->bv.data };
		const bool has_post[2] = { l->attn_post_norm.data, l->ffn_post_norm.data };

		for (int i = 0; i < 3; i++)
			if (m->arch->qkv_bias && !has_bias[i])
				return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
						    "%s: tensor 'blk.%u.%s' is missing (a %s model has "
						    "Q, K and V biases)", path, il, bias[i],
						    m->arch->name);
		for (int i = 0; i < 2; i++) {
			if (m->arch->gemma2 && !has_post[i])
				return drv_ctx_fail(m->ctx, ENPU_ERR_FORMAT,
						    "%s: tensor 'blk.%u.%s' is missing (a %s model has "
						    "post-norms)", path, il, post[i], m->arch->name);
			if (!m->arch->gemma2 && has_post[i])
				return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
						    "%s: tensor 'blk.%u.%s' is not part of a %s model",
						    path, il, post[i], m->arch->name);
		}
	}
	return ENPU_OK;
}

enpu_status drv_model_bind(enpu_model *m, const char *path, const struct sched_hparams *hp)
{
	char err[512];

	m->bound = calloc(m->n_weights ? m->n_weights : 1, sizeof(*m->bound));
	if (!m->bound)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "%s: out of memory", path);
	enum sched_status sst = sched_model_bind(hp, find_weight, m, &m->sm, err, sizeof(err));
	if (sst)
		return drv_ctx_fail(m->ctx, sst == SCHED_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_FORMAT,
				    "%s: %s", path, err);
	/* as llama.cpp: a tensor the graph does not use means a model it would compute wrongly */
	for (uint32_t i = 0; i < m->n_weights; i++)
		if (!m->bound[i])
			return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
					    "%s: tensor '%s' is not part of a %s model as edge-npu "
					    "computes it", path, m->weights[i].name, m->arch->name);
	free(m->bound);
	m->bound = NULL;
	enpu_status st = check_arch_tensors(m, path);
	if (st)
		return st;
	/* one op for Q, K, V and one for gate, up where every device runs the fused form */
	m->sm.fuse_matmuls = true;
	for (uint32_t i = 0; i < m->ctx->n_devices; i++)
		if (!(m->ctx->devices[i]->caps & HAL_CAP_FUSED_MATMUL))
			m->sm.fuse_matmuls = false;
	return prepare_weights(m);
}

enpu_status enpu_model_load(enpu_context *ctx, const char *path,
			    const struct enpu_model_options *opts, enpu_model **out_model)
{
	if (!ctx)
		return ENPU_ERR_INVALID_ARG;
	if (!path || !out_model)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_model_load: path and out_model are required");
	*out_model = NULL;
	drv_ctx_clear_error(ctx);

	enpu_model *m = calloc(1, sizeof(*m));
	if (!m)
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "out of memory loading %s", path);
	m->ctx = ctx;
	pthread_mutex_init(&m->copies_lock, NULL);
	pthread_mutex_init(&m->batch_lock, NULL);
	enpu_status st = load(m, path, opts);
	if (st) {
		enpu_model_free(m);
		return st;
	}
	*out_model = m;
	return ENPU_OK;
}

void enpu_model_free(enpu_model *m)
{
	if (!m)
		return;
	drv_batch_release(m); /* its graphs point at the weights */
	release_weights(m);
	sched_model_release(&m->sm);
	if (!m->base) { /* a draft borrows its model's file, vocabulary, names, rope factors */
		tok_vocab_free(m->vocab);
		gguf_close(m->gguf);
		free(m->names);
		free(m->rope_freqs_data);
	}
	free(m->draft_data);
	free(m->weights);
	free(m->bound);
	pthread_mutex_destroy(&m->copies_lock);
	pthread_mutex_destroy(&m->batch_lock);
	free(m);
}

enpu_status enpu_model_info(const enpu_model *m, struct enpu_model_info *out)
{
	if (!m)
		return ENPU_ERR_INVALID_ARG;
	if (!out || out->struct_size < offsetof(struct enpu_model_info, n_converted))
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_model_info: out is NULL or of an unknown size");
	const struct sched_hparams *hp = &m->sm.hp;

	out->name = m->name;
	out->architecture = m->arch->name;
	out->weight_type = hal_type_name(m->sm.layers[0].wq.type);
	out->n_params = m->sm.n_params;
	out->file_bytes = m->gguf->size;
	out->n_vocab = hp->n_vocab;
	out->n_ctx = m->n_ctx_train;
	out->n_embd = hp->n_embd;
	out->n_layer = hp->n_layer;
	out->n_head = hp->n_head;
	out->n_head_kv = hp->n_head_kv;
	out->n_ff = hp->n_ff;
	if (out->struct_size >= offsetof(struct enpu_model_info, read_method)) {
		out->n_converted = 0; /* every type is computed as stored: see edge_npu.h */
		out->converted = NULL;
	}
	if (out->struct_size >= offsetof(struct enpu_model_info, decode_bytes))
		out->read_method = m->read_method;
	if (out->struct_size >= sizeof(struct enpu_model_info)) {
		const struct hal_tensor *e = &m->sm.tok_embd;
		const uint64_t table = (uint64_t)hal_row_bytes(e->type, e->ne[0]) * e->ne[1];

		out->decode_bytes = m->gguf->size - (m->sm.tied_output || table > m->gguf->size
							     ? 0 : table - hal_row_bytes(e->type, e->ne[0]));
	}
	return ENPU_OK;
}

enpu_status enpu_tokenize(enpu_model *m, const char *text, size_t len, bool add_bos,
			  enpu_token *out, size_t cap, size_t *out_n)
{
	if (!m)
		return ENPU_ERR_INVALID_ARG;
	if ((!text && len) || !out_n || (!out && cap))
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG, "enpu_tokenize: text/out/out_n missing");
	enum tok_status st = tok_encode(m->vocab, text ? text : "", len, add_bos, out, cap, out_n);
	if (st == TOK_ERR_RANGE)
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_tokenize: %zu tokens do not fit in %zu", *out_n, cap);
	if (st == TOK_ERR_NO_TOKEN)
		return drv_ctx_fail(m->ctx, ENPU_ERR_UNSUPPORTED,
				    "enpu_tokenize: the text has a byte the vocabulary cannot encode: "
				    "it has no <0xXX> byte piece for it and no unknown token "
				    "(tokenizer.ggml.unknown_token_id)");
	if (st)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "enpu_tokenize: out of memory");
	return ENPU_OK;
}

enpu_status enpu_token_to_piece(enpu_model *m, enpu_token token, char *buf, size_t cap,
				size_t *out_len)
{
	if (!m)
		return ENPU_ERR_INVALID_ARG;
	if (!out_len || (!buf && cap))
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG, "enpu_token_to_piece: buf/out_len missing");
	enum tok_status st = tok_decode_token(m->vocab, token, buf, cap, out_len);
	if (st && *out_len > cap)
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_token_to_piece: token %d's text takes %zu bytes, buf has %zu",
				    token, *out_len, cap);
	if (st)
		return drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_token_to_piece: token %d is outside the vocabulary (0..%u)",
				    token, tok_n_tokens(m->vocab) - 1);
	return ENPU_OK;
}

enpu_token enpu_token_bos(const enpu_model *m)
{
	return m ? tok_bos(m->vocab) : -1;
}

enpu_token enpu_token_eos(const enpu_model *m)
{
	return m ? tok_eos(m->vocab) : -1;
}

bool enpu_token_is_eog(const enpu_model *m, enpu_token token)
{
	return m && tok_is_eog(m->vocab, token);
}
