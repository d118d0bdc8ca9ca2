/* SPDX-License-Identifier: MIT */
/*
 * make_seeds.c - writes the seed corpora of the fuzz targets (corpus/<target>/), so that the
 * committed seeds can be made again and new ones made the same way:
 *
 *   build/tests/fuzz/make_seeds tests/fuzz/corpus
 *
 * Every seed is a valid input, built with the code the tests use (the GGUF writer and the
 * model generator, the NPU stream builder, the netlink message builder) or taken from the
 * tree (the shipped profiles, the tokenizer's test texts), so that the fuzzers start inside
 * the formats instead of spending their time finding the magic numbers. Models use a small
 * copy of the shared vocabulary (its first 320 tokens): all 32000 make every input a megabyte.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/gguf.h"
#include "hal/npu_host.h"
#include "mkmodel.h"
#include "genl_msg.h"

static const char *out_dir;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "make_seeds: %s: %s\n", what, why);
	exit(1);
}

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		die(path, strerror(errno));
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die(path, strerror(errno));
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(path, "cannot read it");
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* ---- a small copy of the SentencePiece vocabulary -------------------------------------- */

/* Its first tokens: the control ones, the 256 byte tokens, then the most frequent pieces. */
#define SMALL_VOCAB 320

/* Writes the tokenizer keys of the shared vocabulary with every per-token array cut short. */
static void write_vocab(const char *vocab_dir, const char *path)
{
	struct gguf_writer *w = gguf_writer_create();
	struct gguf_file *f;
	char src[4096], err[512];

	snprintf(src, sizeof(src), "%s/ggml-vocab-llama-spm.gguf", vocab_dir);
	if (gguf_open(src, &f, err, sizeof(err)))
		die(src, err);
	for (uint64_t i = 0; i < f->n_kv; i++) {
		struct gguf_kv kv = f->kv[i];

		if (kv.key.len < 10 || memcmp(kv.key.ptr, "tokenizer.", 10))
			continue;
		/* arrays are written as their first n elements' bytes (gguf_writer_copy_kv) */
		if (kv.type == GGUF_TYPE_ARRAY && kv.v.arr.n > SMALL_VOCAB)
			kv.v.arr.n = SMALL_VOCAB;
		gguf_writer_copy_kv(w, &kv);
	}
	if (gguf_writer_write(w, path, err, sizeof(err)))
		die(path, err);
	gguf_writer_free(w);
	gguf_close(f);
}

/* ---- targets ----------------------------------------------------------------------------- */

static void gguf_and_model_seeds(const char *vocab_dir)
{
	static const struct {
		const char *name;
		enum hal_type type;
		uint32_t kv_heads;
		bool tied;
		const char *arch, *rope; /* the layouts beside llama, Llama-3 rope factors */
	} models[] = {
		{ "q8_0.gguf", HAL_TYPE_Q8_0, 2, false, NULL, NULL },
		{ "q4_0-gqa.gguf", HAL_TYPE_Q4_0, 1, false, NULL, NULL },
		{ "f16-tied.gguf", HAL_TYPE_F16, 2, true, NULL, NULL },
		{ "qwen2.gguf", HAL_TYPE_Q8_0, 1, false, "qwen2", NULL },
		{ "phi3.gguf", HAL_TYPE_Q8_0, 2, false, "phi3", NULL },
		{ "gemma2.gguf", HAL_TYPE_F16, 1, true, "gemma2", NULL },
		{ "llama3-rope.gguf", HAL_TYPE_Q8_0, 2, false, NULL, "llama3" },
	};
	char vocab[4096], path[4096], err[512];
	size_t len;
	char *data;

	snprintf(vocab, sizeof(vocab), "%s/gguf/vocab-small.gguf", out_dir);
	write_vocab(vocab_dir, vocab);
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		struct mkmodel_params p = {
			.dim = 32, .layers = 1, .heads = 2, .kv_heads = models[i].kv_heads,
			.ffn = 64, .ctx = 16, .type = models[i].type, .seed = 1 + i,
			.tied = models[i].tied, .vocab = vocab, .name = "seed",
			.arch = models[i].arch, .rope_scaling = models[i].rope,
			.swa_window = models[i].arch && !strcmp(models[i].arch, "gemma2") ? 4 : 0,
		};

		snprintf(path, sizeof(path), "%s/model_load/%s", out_dir, models[i].name);
		if (mkmodel_write(&p, path, err, sizeof(err)))
			die(path, err);
	}
	/* one model is a GGUF seed too: tensors beside key/values */
	snprintf(path, sizeof(path), "%s/model_load/%s", out_dir, models[0].name);
	data = read_file(path, &len);
	write_seed("gguf", "model-q8_0.gguf", data, len);
	free(data);
}

/*
 * Texts for the byte-level BPE paths: contractions, line breaks, runs of spaces, digits of
 * several scripts, CJK and Hangul, full-width punctuation, an emoji, invalid UTF-8, a control
 * token's text.
 */
static const char *const bpe_texts[] = {
	"Hello world, it's 2024!\n",
	"  leading\tand 'LL 'Re\r\n\r\n  x",
	"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xed\x95\x9c 12345 \xd9\xa1\xd9\xa2",
	"\xf0\x9f\xa6\x99 ..., \xe2\x80\xa6 \xe3\x80\x82\xef\xbc\x8c end   ",
	"x\xff\xc0\x80<|endoftext|>y",
};
#define N_BPE_TEXTS (sizeof(bpe_texts) / sizeof(bpe_texts[0]))

/*
 * fuzz_tokenizer's BPE vocabularies (lines 1 to 3 of its table) and fuzz_bpe's rules (byte 0
 * picks one of 11): a text each, the first byte naming the line or rule.
 */
static void bpe_texts_seeds(void)
{
	char seed[256], name[32];

	for (unsigned r = 0; r < 11; r++) {
		const char *t = bpe_texts[r % N_BPE_TEXTS];
		size_t len = strlen(t);

		seed[0] = (char)r;
		memcpy(seed + 1, t, len);
		snprintf(name, sizeof(name), "rule-%u", r);
		write_seed("bpe", name, seed, len + 1);
		if (r >= 1 && r <= 3) {
			seed[0] = (char)(r | (r == 2 ? 0x80 : 0)); /* BOS on one of them */
			snprintf(name, sizeof(name), "bpe-%u", r);
			write_seed("tokenizer", name, seed, len + 1);
		}
	}
}

static void tokenizer_seeds(const char *vocab_dir)
{
	static const char sep[] = "\n__ggml_vocab_test__\n";
	/* texts of the reference test file that reach distinct paths: spaces, byte fallback,
	 * multi-byte UTF-8, digits, special-token text */
	static const unsigned picks[] = { 0, 2, 4, 7, 12, 20, 27, 33 };
	char path[4096], name[32];
	size_t len, k = 0, n = 0;
	char *text, *p;

	snprintf(path, sizeof(path), "%s/ggml-vocab-llama-spm.gguf.inp", vocab_dir);
	text = read_file(path, &len);
	for (p = text; p; n++) {
		char *end = strstr(p, sep);
		size_t tlen = end ? (size_t)(end - p) : strlen(p);

		if (k < sizeof(picks) / sizeof(picks[0]) && n == picks[k]) {
			/* first byte: the vocabulary (0, the SentencePiece one), BOS on every other */
			char *seed = malloc(tlen + 1);

			seed[0] = (char)(k % 2 ? 0x80 : 0);
			memcpy(seed + 1, p, tlen);
			snprintf(name, sizeof(name), "spm-%02zu", n);
			write_seed("tokenizer", name, seed, tlen + 1);
			free(seed);
			k++;
		}
		p = end ? end + strlen(sep) : NULL;
	}
	free(text);
	write_seed("tokenizer", "spm-special", "\x80<s>Hello</s> world", 20);
	bpe_texts_seeds();
}

/* The input of fuzz_npu_validate: the buffer table, then the stream. */
static void write_job(const char *name, const struct npu_stream *s, uint32_t caps)
{
	size_t head = 1 + 4 * (size_t)s->nbufs;
	uint8_t *job = malloc(head + s->len);

	if (!job)
		die(name, "out of memory");
	job[0] = (uint8_t)((caps & 1) | s->nbufs << 1);
	for (uint32_t i = 0; i < s->nbufs; i++) {
		uint8_t *entry = job + 1 + 4 * i;

		entry[0] = (uint8_t)s->bufs[i].size;
		entry[1] = (uint8_t)(s->bufs[i].size >> 8);
		entry[2] = (uint8_t)s->bufs[i].flags;
		entry[3] = (uint8_t)(i * 37); /* the fill byte of the buffer's contents */
	}
	memcpy(job + head, s->data, s->len);
	write_seed("npu_validate", name, job, head + s->len);
	free(job);
}

static void npu_validate_seeds(void)
{
	enum { N = 32, K = 64, M = 2 };
	const uint64_t Q8_ROW = K / ENPU_QK * sizeof(struct enpu_block_q8),
		       Q4_ROW = K / ENPU_QK * sizeof(struct enpu_block_q4),
		       I32_ROW = N / ENPU_QK * sizeof(struct enpu_block_i32);
	const struct enpu_requant unit = { 1 << 30, 30, 0, 0 }, in = { 1 << 30, 10, 0, 0 };
	struct npu_stream s;
	uint32_t w, a, o, x, d;

	/* no data: only sizes and flags go into the seed; the target allocates the buffers */
	npu_stream_begin(&s);
	w = npu_stream_add_buffer(&s, NULL, N * Q8_ROW, 1, ENPU_BUF_F_READ);
	a = npu_stream_add_buffer(&s, NULL, M * Q8_ROW, 2, ENPU_BUF_F_READ);
	o = npu_stream_add_buffer(&s, NULL, M * I32_ROW + 64, 3, ENPU_BUF_F_WRITE);
	x = npu_stream_add_buffer(&s, NULL, 4096, 4, ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	d = npu_stream_add_buffer(&s, NULL, 256, 5, ENPU_BUF_F_WRITE);
	npu_stream_matmul(&s, ENPU_DT_Q8B, npu_operand(w, 0, Q8_ROW), npu_operand(a, 0, Q8_ROW),
			  npu_operand(o, 0, I32_ROW), ENPU_DT_I32B, M, N, K, NULL);
	npu_stream_eltwise(&s, ENPU_ELT_ADD, npu_operand(x, 0, 100), npu_operand(x, 1000, 100),
			   npu_operand(x, 2000, 100), 3, 100, &in, &in, &unit);
	npu_stream_lut(&s, npu_operand(x, 0, 64), npu_operand(x, 512, 64), npu_operand(x, 3000, 0),
		       4, 64);
	npu_stream_copy(&s, npu_operand(x, 0, 64), npu_operand(d, 0, 64), 2, 64);
	npu_stream_fence(&s, x, 4000, 7);
	if (npu_stream_finish(&s) != HAL_OK)
		die("npu stream", "cannot build it");
	write_job("every-op", &s, 0);
	npu_stream_free(&s);

	npu_stream_begin(&s);
	w = npu_stream_add_buffer(&s, NULL, N * Q4_ROW, 1, ENPU_BUF_F_READ);
	a = npu_stream_add_buffer(&s, NULL, M * Q8_ROW, 2, ENPU_BUF_F_READ);
	o = npu_stream_add_buffer(&s, NULL, M * N, 3, ENPU_BUF_F_WRITE);
	npu_stream_matmul(&s, ENPU_DT_Q4B, npu_operand(w, 0, Q4_ROW), npu_operand(a, 0, Q8_ROW),
			  npu_operand(o, 0, N), ENPU_DT_I8, M, N, K, &unit);
	npu_stream_barrier(&s);
	npu_stream_debug_stall(&s, 1000);
	if (npu_stream_finish(&s) != HAL_OK)
		die("npu stream", "cannot build it");
	write_job("q4-i8-stall", &s, 1);
	npu_stream_free(&s);
}

static void genl_seeds(void)
{
	struct msg m;

	stats_reply(&m);
	write_seed("genl", "stats", m.buf, m.len);
	job_fault_event(&m);
	write_seed("genl", "event-job-fault", m.buf, m.len);
	msg_begin(&m, EDGE_NPU_CMD_EVENT);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 1);
	msg_u32(&m, EDGE_NPU_A_EVENT, EDGE_NPU_EVENT_FREQ_CHANGE);
	msg_u64(&m, EDGE_NPU_A_OLD_FREQ_HZ, 1000000000);
	msg_u64(&m, EDGE_NPU_A_CUR_FREQ_HZ, 200000000);
	msg_u64(&m, EDGE_NPU_A_MAX_FREQ_HZ, 1000000000);
	msg_u32(&m, EDGE_NPU_A_THROTTLED, 1);
	write_seed("genl", "event-freq-change", m.buf, msg_end(&m));
}

static void profile_seeds(const char *source_root)
{
	static const char *const names[] = { "phone.prof", "mw.prof" };

	for (size_t i = 0; i < 2; i++) {
		char path[4096];
		size_t len;
		char *text;

		snprintf(path, sizeof(path), "%s/sched/profiles/%s", source_root, names[i]);
		text = read_file(path, &len);
		write_seed("profile", names[i], text, len);
		free(text);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (with a directory per target)\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	gguf_and_model_seeds(ENPU_VOCAB_DIR);
	tokenizer_seeds(ENPU_VOCAB_DIR);
	npu_validate_seeds();
	genl_seeds();
	profile_seeds(ENPU_SOURCE_ROOT);
	return 0;
}
