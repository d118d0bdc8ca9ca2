/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.h - the tokenizers built from a GGUF vocabulary (tokenizer.ggml.model):
 * "llama", SentencePiece-style (scores, merges by score, byte fallback <0xXX>, the
 * leading-space rule), and "gpt2", byte-level BPE (a pre-tokenizer chosen by
 * tokenizer.ggml.pre, merges by rank from tokenizer.ggml.merges, GPT-2's byte-to-unicode
 * table); encode and decode. Output matches the reference GGUF runtime token for token
 * (tests/test_tokenizer.c checks every vector in ../shared/vocab).
 */
#ifndef EDGE_NPU_TOKENIZER_H
#define EDGE_NPU_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

enum tok_status {
	TOK_OK = 0,
	TOK_ERR_FORMAT = -1,      /* vocabulary metadata missing or malformed */
	TOK_ERR_UNSUPPORTED = -2, /* a tokenizer model or pre-tokenizer not implemented */
	TOK_ERR_NOMEM = -3,
	TOK_ERR_RANGE = -4,       /* token id out of range / output buffer too small */
	TOK_ERR_NO_TOKEN = -5,    /* a byte of the text has no token (no byte piece, no unknown) */
};

struct tok_vocab;

/*
 * Builds the vocabulary from tokenizer.ggml.* keys of f (model, tokens, scores, token_type,
 * bos/eos/unknown ids, add_bos_token, add_eos_token, add_space_prefix; for "gpt2" also pre and
 * merges). The vocabulary copies what it needs: f may be closed afterwards. Errors name the
 * key, e.g. "tokenizer.ggml.scores: 31999 entries, 32000 tokens" or "tokenizer.ggml.pre:
 * pre-tokenizer "xyz" is not supported (known: ...)".
 */
enum tok_status tok_vocab_from_gguf(const struct gguf_file *f, struct tok_vocab **out,
				    char *err, size_t err_len);
void tok_vocab_free(struct tok_vocab *v);

uint32_t tok_n_tokens(const struct tok_vocab *v);
int32_t tok_bos(const struct tok_vocab *v); /* -1 when the vocabulary has none */
int32_t tok_eos(const struct tok_vocab *v);
/* tokenizer.ggml.add_bos_token; default true for "llama", the pre-tokenizer's for "gpt2" */
bool tok_add_bos(const struct tok_vocab *v);
bool tok_add_eos(const struct tok_vocab *v); /* tokenizer.ggml.add_eos_token, default false */

/*
 * Whether id ends a generation: the EOS token, and the end-of-turn tokens the runtime
 * recognises by their text (<|im_end|>, <|eot_id|>, <|end|>, <end_of_turn>, ...).
 */
bool tok_is_eog(const struct tok_vocab *v, int32_t id);

const char *tok_model_name(const struct tok_vocab *v); /* "llama" or "gpt2" */
const char *tok_pre_name(const struct tok_vocab *v);   /* "gpt-2", "llama3", ...; NULL for SPM */

/*
 * Encodes len bytes of text (UTF-8; invalid bytes go through byte fallback, or are bytes like
 * any other for BPE). With add_bos the BOS token comes first, and the EOS token last when the
 * vocabulary's add_eos_token says so. Special-token texts such as "<s>" or "<|im_start|>" in
 * the text are recognised as those tokens. Writes up to cap ids to out and the total count to *n_out; returns TOK_ERR_RANGE
 * (with *n_out the needed count) when cap is too small.
 */
enum tok_status tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_bos,
			   int32_t *out, size_t cap, size_t *n_out);

/*
 * The text of one token for output: '▁' becomes ' ' (SPM), GPT-2's stand-in characters become
 * their bytes (BPE), <0xXX> becomes that byte, control tokens (BOS/EOS) give "". Writes up to cap bytes (not NUL-terminated) and the full length to
 * *len_out; TOK_ERR_RANGE for an id out of range or cap too small.
 */
enum tok_status tok_decode_token(const struct tok_vocab *v, int32_t id, char *buf, size_t cap,
				 size_t *len_out);

/* The stored text of a token (as in the vocabulary, '▁' kept), NULL when out of range. */
const char *tok_token_text(const struct tok_vocab *v, int32_t id);

#endif
