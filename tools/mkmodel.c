/* SPDX-License-Identifier: MIT */
/* mkmodel.c - generating llama GGUF models with seeded random weights. */
#include "mkmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/gguf.h"
#include "hal/quant.h"
#include "sched/graph.h"
#include "vocab.h"

const struct mkmodel_params mkmodel_default = {
	.dim = 512, .layers = 8, .heads = 8, .kv_heads = 4, .ffn = 1408, .ctx = 1024,
	.type = HAL_TYPE_Q8_0, .seed = 1234, .tied = false, .vocab = NULL,
	.name = "edge-npu default (random weights)",
};

const char *const mkmodel_archs[] = { "llama", "qwen2", "phi3", "gemma", "gemma2", NULL };

static const char *arch_of(const struct mkmodel_params *p)
{
	return p->arch ? p->arch : "llama";
}

static bool is_arch(const struct mkmodel_params *p, const char *name)
{
	return !strcmp(arch_of(p), name);
}

static bool is_gemma(const struct mkmodel_params *p)
{
	return is_arch(p, "gemma") || is_arch(p, "gemma2");
}

static uint32_t head_dim_of(const struct mkmodel_params *p)
{
	return p->head_dim ? p->head_dim : p->dim / p->heads;
}

bool mkmodel_parse_type(const char *s, enum hal_type *out)
{
	static const struct {
		const char *name;
		enum hal_type type;
	} types[] = {
		{ "f32", HAL_TYPE_F32 }, { "f16", HAL_TYPE_F16 },
		{ "q8_0", HAL_TYPE_Q8_0 }, { "q4_0", HAL_TYPE_Q4_0 }, { "q4_k", HAL_TYPE_Q4_K },
		{ "q5_k", HAL_TYPE_Q5_K }, { "q6_k", HAL_TYPE_Q6_K },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(s, types[i].name)) {
			*out = types[i].type;
			return true;
		}
	return false;
}

static uint32_t gguf_type_of(enum hal_type t)
{
	switch (t) {
	case HAL_TYPE_F16:
		return GGUF_TENSOR_F16;
	case HAL_TYPE_Q8_0:
		return GGUF_TENSOR_Q8_0;
	case HAL_TYPE_Q4_0:
		return GGUF_TENSOR_Q4_0;
	case HAL_TYPE_Q4_K:
		return GGUF_TENSOR_Q4_K;
	case HAL_TYPE_Q5_K:
		return GGUF_TENSOR_Q5_K;
	case HAL_TYPE_Q6_K:
		return GGUF_TENSOR_Q6_K;
	default:
		return GGUF_TENSOR_F32;
	}
}

/*
 * llama.cpp's file_type numbering (general.file_type), which other runtimes display; a file of
 * one K-quant is its "_S" type (14 Q4_K_S, 16 Q5_K_S; 18 is Q6_K), the mix 15 (Q4_K_M).
 */
static uint32_t file_type_of(const struct mkmodel_params *p)
{
	switch (p->type) {
	case HAL_TYPE_F16:
		return 1;
	case HAL_TYPE_Q4_0:
		return 2;
	case HAL_TYPE_Q8_0:
		return 7;
	case HAL_TYPE_Q4_K:
		return p->q4_k_m ? 15 : 14;
	case HAL_TYPE_Q5_K:
		return 16;
	case HAL_TYPE_Q6_K:
		return 18;
	default:
		return 0;
	}
}

/* llama.cpp's use_more_bits: the layers of a Q4_K_M file whose attn_v and ffn_down are Q6_K. */
static bool more_bits(uint32_t layer, uint32_t n_layer)
{
	return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

/* The type of matrix `name` (norms are F32 and never come here). */
static enum hal_type matrix_type(const struct mkmodel_params *p, const char *name)
{
	unsigned layer;
	char what[32];

	if ((p->output_q6_k || p->q4_k_m) && !strcmp(name, "output.weight"))
		return HAL_TYPE_Q6_K;
	if (p->q4_k_m && sscanf(name, "blk.%u.%31[a-z_]", &layer, what) == 2 &&
	    (!strcmp(what, "attn_v") || !strcmp(what, "ffn_down")) && more_bits(layer, p->layers))
		return HAL_TYPE_Q6_K;
	return p->type;
}

/* xoshiro256+ seeded by splitmix64: fast and reproducible across platforms. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, result = s[0] + s[3], t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Standard normal by Box-Muller, two values per call. */
static void rng_normal2(struct rng *r, float *a, float *b)
{
	double u1 = ((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740993.0);
	double u2 = (rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
	double rad = sqrt(-2.0 * log(u1));

	*a = (float)(rad * cos(2.0 * M_PI * u2));
	*b = (float)(rad * sin(2.0 * M_PI * u2));
}

struct tensor_buf {
	char name[64];
	uint32_t n_dims;
	uint64_t ne[2];
	enum hal_type type;
	void *data;
};

/*
 * A matrix of rows x cols drawn from N(0, sigma^2), or a norm vector around 1. Each tensor has
 * its own stream (seed, index) so the weights do not depend on generation order.
 */
static int fill_tensor(struct tensor_buf *t, uint64_t seed, uint32_t index, float sigma,
		       bool norm, float *row)
{
	struct rng r;
	const uint64_t cols = t->ne[0], rows = t->n_dims > 1 ? t->ne[1] : 1;
	const size_t row_bytes = hal_row_bytes(t->type, cols);

	t->data = malloc(row_bytes * rows);
	if (!t->data)
		return -1;
	rng_seed(&r, seed ^ ((uint64_t)index * 0x9e3779b97f4a7c15ull));
	for (uint64_t i = 0; i < rows; i++) {
		char *dst = (char *)t->data + i * row_bytes;

		for (uint64_t j = 0; j < cols; j += 2) {
			float a, b;
			rng_normal2(&r, &a, &b);
			row[j] = norm ? 1.0f + 0.1f * a : sigma * a;
			if (j + 1 < cols)
				row[j + 1] = norm ? 1.0f + 0.1f * b : sigma * b;
		}
		hal_quantize_row(t->type, row, dst, cols);
	}
	return 0;
}

/* The tensors generated so far; their data must live until the writer has written them. */
struct gen {
	struct gguf_writer *w;
	struct tensor_buf *t;
	uint32_t n;
	const struct mkmodel_params *p;
	float *row;
};

/*
 * Generates one tensor ([ne0] when ne1 == 1) and hands it to the writer. A vector is a norm
 * (around 1) when norm, else a bias of N(0, sigma^2); vectors are F32.
 */
static int gen_tensor(struct gen *g, const char *name, uint32_t ne0, uint32_t ne1, float sigma,
		      bool norm)
{
	struct tensor_buf *tb = &g->t[g->n];

	snprintf(tb->name, sizeof(tb->name), "%s", name);
	tb->n_dims = ne1 > 1 ? 2 : 1;
	tb->ne[0] = ne0;
	tb->ne[1] = ne1;
	tb->type = norm || ne1 == 1 ? HAL_TYPE_F32 : matrix_type(g->p, name);
	g->n++;
	if (fill_tensor(tb, g->p->seed, g->n - 1, sigma, norm, g->row))
		return -1;
	return gguf_writer_add_tensor(g->w, tb->name, gguf_type_of(tb->type), tb->n_dims, tb->ne,
				      tb->data) ? -1 : 0;
}

/* "<arch>.<suffix>" */
static const char *key(const struct mkmodel_params *p, const char *suffix)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "%s.%s", arch_of(p), suffix);
	return buf;
}

static void add_meta(struct gguf_writer *w, const struct mkmodel_params *p)
{
	char name[64];

	snprintf(name, sizeof(name), "edge-npu random %s", arch_of(p));
	gguf_writer_set_str(w, "general.architecture", arch_of(p));
	gguf_writer_set_str(w, "general.name", p->name ? p->name : name);
	gguf_writer_set_u32(w, "general.file_type", file_type_of(p));
	gguf_writer_set_u32(w, key(p, "context_length"), p->ctx);
	gguf_writer_set_u32(w, key(p, "embedding_length"), p->dim);
	gguf_writer_set_u32(w, key(p, "block_count"), p->layers);
	gguf_writer_set_u32(w, key(p, "feed_forward_length"), p->ffn);
	gguf_writer_set_u32(w, key(p, "attention.head_count"), p->heads);
	gguf_writer_set_u32(w, key(p, "attention.head_count_kv"), p->kv_heads);
	gguf_writer_set_u32(w, key(p, "rope.dimension_count"), head_dim_of(p));
	gguf_writer_set_f32(w, key(p, "rope.freq_base"), 10000.0f);
	gguf_writer_set_f32(w, key(p, "attention.layer_norm_rms_epsilon"), 1e-5f);
	if (is_gemma(p)) {
		gguf_writer_set_u32(w, key(p, "attention.key_length"), head_dim_of(p));
		gguf_writer_set_u32(w, key(p, "attention.value_length"), head_dim_of(p));
	}
	if (is_arch(p, "gemma2")) {
		gguf_writer_set_f32(w, key(p, "attn_logit_softcapping"), 50.0f);
		gguf_writer_set_f32(w, key(p, "final_logit_softcapping"), 30.0f);
		gguf_writer_set_u32(w, key(p, "attention.sliding_window"),
				    p->swa_window ? p->swa_window : 4096);
	}
	if (p->rope_scaling && !strcmp(p->rope_scaling, "linear")) {
		gguf_writer_set_str(w, key(p, "rope.scaling.type"), "linear");
		gguf_writer_set_f32(w, key(p, "rope.scaling.factor"), p->rope_factor);
	}
}

int mkmodel_check(const struct mkmodel_params *p, char *err, size_t len)
{
	if (!p->dim || !p->layers || !p->heads || !p->kv_heads || !p->ffn || !p->ctx) {
		snprintf(err, len, "dim, layers, heads, kv-heads, ffn and ctx must all be positive");
		return -1;
	}
	bool known = false;
	for (int i = 0; mkmodel_archs[i]; i++)
		known |= is_arch(p, mkmodel_archs[i]);
	if (!known) {
		snprintf(err, len, "unknown architecture '%s' (llama, qwen2, phi3, gemma, gemma2)",
			 p->arch);
		return -1;
	}
	if (p->head_dim && !is_gemma(p)) {
		snprintf(err, len, "a head dimension of its own is Gemma's (--arch gemma, gemma2)");
		return -1;
	}
	if (p->swa_window && !is_arch(p, "gemma2")) {
		snprintf(err, len, "sliding windows are Gemma-2's (--arch gemma2)");
		return -1;
	}
	if ((!p->head_dim && p->dim % p->heads) || p->heads % p->kv_heads || head_dim_of(p) % 2) {
		snprintf(err, len, "heads (%u) must divide dim (%u) into even head sizes, and "
			 "kv-heads (%u) must divide heads", p->heads, p->dim, p->kv_heads);
		return -1;
	}
	if (p->rope_scaling && strcmp(p->rope_scaling, "none") &&
	    strcmp(p->rope_scaling, "linear") && strcmp(p->rope_scaling, "llama3")) {
		snprintf(err, len, "unknown rope scaling '%s' (none, linear, llama3)",
			 p->rope_scaling);
		return -1;
	}
	if (p->rope_scaling && !strcmp(p->rope_scaling, "linear") &&
	    !(p->rope_factor >= 1e-3f && p->rope_factor <= 1e4f)) {
		snprintf(err, len, "linear rope scaling needs a factor in 0.001..10000");
		return -1;
	}
	if (is_gemma(p) && !p->tied) {
		snprintf(err, len, "Gemma's output projection is its embedding (--tied)");
		return -1;
	}
	size_t blk = hal_type_block_elems(p->type);
	if (p->dim % blk || p->ffn % blk || (p->heads * head_dim_of(p)) % blk) {
		snprintf(err, len, "dim (%u), ffn (%u) and heads x head-dim (%u) must be multiples "
			 "of %zu for %s", p->dim, p->ffn, p->heads * head_dim_of(p), blk,
			 hal_type_name(p->type));
		return -1;
	}
	/* (the mix's ffn_down rows are ffn wide: the type's own check above covers them) */
	if ((p->output_q6_k || p->q4_k_m) && (p->tied || p->dim % HAL_QK_K)) {
		snprintf(err, len, "Q6_K tensors (%s) need an untied output and dim (%u) a "
			 "multiple of %d", p->q4_k_m ? "the Q4_K_M mix" : "output.weight", p->dim,
			 HAL_QK_K);
		return -1;
	}
	if (p->q4_k_m && p->type != HAL_TYPE_Q4_K) {
		snprintf(err, len, "the Q4_K_M mix is of type Q4_K, not %s", hal_type_name(p->type));
		return -1;
	}
	return 0;
}

/*
 * The tokenizer keys into w: copied from the GGUF at path, or the project's own vocabulary
 * when path is NULL. *n_vocab gets the token count; *vocab keeps the opened file alive (its
 * arrays are referenced until the model is written).
 */
static int add_tokenizer(struct gguf_writer *w, const char *path, struct gguf_file **vocab,
			 uint32_t *n_vocab, char *err, size_t err_len)
{
	char verr[512];

	if (!path)
		return vocab_write_builtin(w, n_vocab, err, err_len);
	if (gguf_open(path, vocab, verr, sizeof(verr))) {
		snprintf(err, err_len, "vocabulary: %s", verr);
		return -1;
	}
	const struct gguf_kv *tokens = gguf_find_kv(*vocab, "tokenizer.ggml.tokens");
	if (!tokens || tokens->type != GGUF_TYPE_ARRAY || !tokens->v.arr.n) {
		snprintf(err, err_len, "%s: no tokenizer.ggml.tokens array", path);
		return -1;
	}
	*n_vocab = (uint32_t)tokens->v.arr.n;
	for (uint64_t i = 0; i < (*vocab)->n_kv; i++)
		if (!strncmp((*vocab)->kv[i].key.ptr, "tokenizer.", 10) &&
		    gguf_writer_copy_kv(w, &(*vocab)->kv[i])) {
			snprintf(err, err_len, "copying the tokenizer from %s failed", path);
			return -1;
		}
	return 0;
}

int mkmodel_write(const struct mkmodel_params *p, const char *path, char *err, size_t err_len)
{
	struct gguf_file *vocab = NULL;
	struct gguf_writer *w = NULL;
	struct tensor_buf *t = NULL;
	float *row = NULL;
	uint32_t n = 0, n_vocab = 0;
	int rc = -1;

	if (mkmodel_check(p, err, err_len))
		return -1;
	w = gguf_writer_create();
	if (!w) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	add_meta(w, p);
	if (add_tokenizer(w, p->vocab, &vocab, &n_vocab, err, err_len))
		goto out;

	const uint32_t hd = head_dim_of(p), dkv = p->kv_heads * hd, nq = p->heads * hd;
	const uint32_t cap = 4 + 14 * p->layers;
	t = calloc(cap, sizeof(*t));
	row = malloc(sizeof(float) * (2 * p->ffn > n_vocab ? 2 * p->ffn : n_vocab) * 2 +
		     (nq + 2 * dkv) * 2 + p->dim * 2);
	if (!t || !row) {
		snprintf(err, err_len, "out of memory");
		goto out;
	}

	/*
	 * Scales: projections N(0, 1/fan_in) keep activation variance steady through the layers;
	 * the output projection is scaled so that logits have a standard deviation of about 3
	 * (a clear but not one-hot next-token distribution); a tied embedding is that output
	 * projection (Gemma's rows, which it multiplies by sqrt(dim), start the residual stream
	 * at N(0, 9)). Biases are N(0, 0.25).
	 */
	const float s_out = 3.0f / sqrtf((float)p->dim), s_in = 1.0f / sqrtf((float)p->dim);
	const bool fused = is_arch(p, "phi3"), bias = is_arch(p, "qwen2");
	const bool post = is_arch(p, "gemma2");
	struct {
		const char *fmt;
		uint32_t ne0, ne1;
		float sigma;
		bool norm, on;
	} spec[] = {
		{ "blk.%u.attn_norm.weight", p->dim, 1, 0, true, true },
		{ "blk.%u.attn_qkv.weight", p->dim, nq + 2 * dkv, s_in, false, fused },
		{ "blk.%u.attn_q.weight", p->dim, nq, s_in, false, !fused },
		{ "blk.%u.attn_k.weight", p->dim, dkv, s_in, false, !fused },
		{ "blk.%u.attn_v.weight", p->dim, dkv, s_in, false, !fused },
		{ "blk.%u.attn_q.bias", nq, 1, 0.5f, false, bias },
		{ "blk.%u.attn_k.bias", dkv, 1, 0.5f, false, bias },
		{ "blk.%u.attn_v.bias", dkv, 1, 0.5f, false, bias },
		{ "blk.%u.attn_output.weight", nq, p->dim, 1.0f / sqrtf((float)nq), false, true },
		{ "blk.%u.post_attention_norm.weight", p->dim, 1, 0, true, post },
		{ "blk.%u.ffn_norm.weight", p->dim, 1, 0, true, true },
		{ "blk.%u.ffn_gate.weight", p->dim, p->ffn, s_in, false, !fused },
		{ "blk.%u.ffn_up.weight", p->dim, fused ? 2 * p->ffn : p->ffn, s_in, false, true },
		{ "blk.%u.ffn_down.weight", p->ffn, p->dim, 1.0f / sqrtf((float)p->ffn), false, true },
		{ "blk.%u.post_ffw_norm.weight", p->dim, 1, 0, true, post },
	};

	struct gen g = { w, t, 0, p, row };
	int bad = gen_tensor(&g, "token_embd.weight", p->dim, n_vocab, p->tied ? s_out : 1.0f,
			     false);
	if (!bad && p->rope_scaling && !strcmp(p->rope_scaling, "llama3")) {
		/* the converter's form of Llama-3's scaling, with Llama-3.1's parameters */
		struct tensor_buf *tb = &t[g.n++];

		snprintf(tb->name, sizeof(tb->name), "rope_freqs.weight");
		tb->n_dims = 1;
		tb->ne[0] = hd / 2;
		tb->ne[1] = 1;
		tb->type = HAL_TYPE_F32;
		tb->data = malloc(sizeof(float) * (hd / 2));
		bad = !tb->data;
		if (!bad) {
			sched_rope_llama3_factors(10000.0f, hd, 8.0f, 1.0f, 4.0f, 8192, tb->data);
			bad = gguf_writer_add_tensor(w, tb->name, GGUF_TENSOR_F32, 1, tb->ne,
						     tb->data) ? -1 : 0;
		}
	}
	for (uint32_t l = 0; l < p->layers && !bad; l++)
		for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]) && !bad; i++) {
			char name[64];

			if (!spec[i].on)
				continue;
			snprintf(name, sizeof(name), spec[i].fmt, l);
			bad = gen_tensor(&g, name, spec[i].ne0, spec[i].ne1, spec[i].sigma, spec[i].norm);
		}
	if (!bad)
		bad = gen_tensor(&g, "output_norm.weight", p->dim, 1, 0, true);
	if (!bad && !p->tied)
		bad = gen_tensor(&g, "output.weight", p->dim, n_vocab, s_out, false);
	n = g.n;
	if (bad) {
		snprintf(err, err_len, "out of memory generating %s", t[n - 1].name);
		goto out;
	}

	rc = gguf_writer_write(w, path, err, err_len) ? -1 : 0;
out:
	for (uint32_t i = 0; i < n; i++)
		free(t[i].data);
	free(t);
	free(row);
	gguf_writer_free(w);
	gguf_close(vocab);
	return rc;
}
