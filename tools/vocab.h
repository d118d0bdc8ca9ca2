/* SPDX-License-Identifier: MIT */
/*
 * vocab.h - the project's own tokenizer vocabulary, for the models npu-mkmodel and npu-run
 * generate when no vocabulary GGUF is named: a SentencePiece-style ("llama") vocabulary with
 * <unk>, <s>, </s>, the 256 byte pieces <0x00>..<0xFF>, the printable ASCII characters and
 * pieces learnt by byte-pair merges over an English text the project wrote
 * (vocab_corpus.c). Its scores order the pieces by merge rank, so the tokenizer's
 * merge-by-score rebuilds the learnt words ("Once upon a time" is four pieces).
 * Deterministic: the same text always gives the same vocabulary.
 */
#ifndef EDGE_NPU_VOCAB_H
#define EDGE_NPU_VOCAB_H

#include <stddef.h>
#include <stdint.h>

struct gguf_writer;

/* The text the pieces are learnt from: NULL-terminated list of paragraphs. */
extern const char *const vocab_corpus[];

/* Part of the default model's cache name: raise it whenever vocab_corpus or vocab.c change. */
#define VOCAB_REVISION 1

/* Most pieces the vocabulary has (learning stops earlier when no pair repeats). */
#define VOCAB_MAX_TOKENS 4096
/* Its size is a multiple of this (the NPU's output projection runs in whole tiles). */
#define VOCAB_ALIGN 128

/*
 * Adds the vocabulary's tokenizer.* keys to w. *n_tokens (may be NULL) gets its size.
 * 0, or -1 with err set (out of memory, or the writer refused a key).
 */
int vocab_write_builtin(struct gguf_writer *w, uint32_t *n_tokens, char *err, size_t err_len);

#endif
