/* SPDX-License-Identifier: MIT */
/*
 * test_tokenizer.c - the tokenizers: every shared test vector of the reference runtime (each
 * vocabulary of ../shared/vocab with .inp/.out files, SentencePiece and byte-level BPE alike),
 * special tokens, byte fallback, decode round trips, buffer limits, the pre-tokenizer rules,
 * and the refusal of vocabularies that are not supported or are malformed.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/gguf.h"
#include "driver/tokenizer.h"
#include "driver/tokenizer_pretok.h"
#include "testutil.h"
#include "vocab.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"
#define N_VECTORS 46 /* in the llama SPM file */

/* ---- the shared llama vocabulary ---- */

static struct tok_vocab *vocab;

/* Loads the vocabulary and closes the file at once: the vocabulary must not need it. */
static void vocab_setup(void)
{
	struct gguf_file *f;
	char err[256] = "";

	ck_assert_msg(gguf_open(tu_vocab_path(), &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_msg(tok_vocab_from_gguf(f, &vocab, err, sizeof(err)) == TOK_OK, "%s", err);
	gguf_close(f);
}

static void vocab_teardown(void)
{
	tok_vocab_free(vocab);
	vocab = NULL;
}

/* Encodes text into a malloc'd array (*n ids), asserting success; measures first. */
static int32_t *encode(const struct tok_vocab *v, const char *text, size_t len, bool bos,
		       size_t *n)
{
	enum tok_status st = tok_encode(v, text, len, bos, NULL, 0, n);
	size_t need = *n;
	int32_t *ids;

	ck_assert_int_eq(st, need ? TOK_ERR_RANGE : TOK_OK);
	ids = malloc((need + 1) * sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	ck_assert_int_eq(tok_encode(v, text, len, bos, ids, need, n), TOK_OK);
	ck_assert_uint_eq(*n, need);
	return ids;
}

/* Concatenated decode of ids into a malloc'd, NUL-terminated string of *len bytes. */
static char *decode(const struct tok_vocab *v, const int32_t *ids, size_t n, size_t *len)
{
	size_t cap = 16, used = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < n; i++) {
		size_t piece;
		enum tok_status st = tok_decode_token(v, ids[i], NULL, 0, &piece);

		/* a first call with no room only measures the piece */
		ck_assert(st == TOK_OK || st == TOK_ERR_RANGE);
		while (cap < used + piece + 1) {
			cap *= 2;
			s = realloc(s, cap);
			ck_assert_ptr_nonnull(s);
		}
		ck_assert_int_eq(tok_decode_token(v, ids[i], s + used, cap - used, &piece),
				 TOK_OK);
		used += piece;
	}
	s[used] = '\0';
	*len = used;
	return s;
}

/* Expected ids: one line per text, ids separated by spaces, an empty line for none. */
struct expected {
	int32_t *ids;
	size_t n;
};

#define MAX_VECTORS 4096

struct vectors {
	char *inp, *out;
	const char *text[MAX_VECTORS];
	size_t len[MAX_VECTORS];
	size_t n_text;
	struct expected exp[MAX_VECTORS];
	size_t n_exp;
};

static void split_texts(struct vectors *vv, size_t size)
{
	const char *p = vv->inp, *end = vv->inp + size;
	size_t sep = strlen(SEPARATOR);

	/* the piece after the last separator is empty and is not a test */
	while (p < end) {
		const char *m = memmem(p, (size_t)(end - p), SEPARATOR, sep);

		ck_assert_msg(m != NULL, "text %zu is not terminated by the separator", vv->n_text);
		ck_assert_uint_lt(vv->n_text, MAX_VECTORS);
		vv->text[vv->n_text] = p;
		vv->len[vv->n_text++] = (size_t)(m - p);
		p = m + sep;
	}
}

static void parse_line(struct expected *e, char *line)
{
	char *p = line;

	e->ids = malloc((strlen(line) / 2 + 1) * sizeof(*e->ids));
	ck_assert_ptr_nonnull(e->ids);
	e->n = 0;
	for (;;) {
		char *next;
		long id = strtol(p, &next, 10);

		if (next == p)
			break;
		e->ids[e->n++] = (int32_t)id;
		p = next;
	}
}

static void split_expected(struct vectors *vv)
{
	char *line = vv->out;

	while (*line) {
		char *nl = strchr(line, '\n');

		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		ck_assert_uint_lt(vv->n_exp, MAX_VECTORS);
		parse_line(&vv->exp[vv->n_exp++], line);
		line = nl + 1;
	}
}

/* The vectors of the vocabulary at gguf_path (its .inp and .out files). */
static void load_vectors_of(struct vectors *vv, const char *gguf_path)
{
	char path[1024];
	size_t size;

	memset(vv, 0, sizeof(*vv));
	snprintf(path, sizeof(path), "%s.inp", gguf_path);
	vv->inp = tu_read_file(path, &size);
	split_texts(vv, size);
	snprintf(path, sizeof(path), "%s.out", gguf_path);
	vv->out = tu_read_file(path, &size);
	split_expected(vv);
	ck_assert_msg(vv->n_text == vv->n_exp, "%s: %zu texts, %zu expected lines", gguf_path,
		      vv->n_text, vv->n_exp);
}

static void load_vectors(struct vectors *vv)
{
	load_vectors_of(vv, tu_vocab_path());
	ck_assert_uint_eq(vv->n_text, N_VECTORS);
}

static void free_vectors(struct vectors *vv)
{
	for (size_t i = 0; i < vv->n_exp; i++)
		free(vv->exp[i].ids);
	free(vv->inp);
	free(vv->out);
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
	fprintf(stderr, "  %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %d", ids[i]);
	fprintf(stderr, "\n");
}

static bool check_vector_of(const struct tok_vocab *v, const struct vectors *vv, size_t i)
{
	const struct expected *e = &vv->exp[i];
	size_t n;
	int32_t *got = encode(v, vv->text[i], vv->len[i], false, &n);
	bool ok = n == e->n && (n == 0 || memcmp(got, e->ids, n * sizeof(*got)) == 0);

	if (!ok) {
		fprintf(stderr, "vector %zu mismatch, text \"%.*s\"\n", i, (int)vv->len[i],
			vv->text[i]);
		print_ids("expected", e->ids, e->n);
		print_ids("got     ", got, n);
	}
	free(got);
	return ok;
}

static bool check_vector(const struct vectors *vv, size_t i)
{
	return check_vector_of(vocab, vv, i);
}

START_TEST(test_all_vectors)
{
	struct vectors vv;
	size_t passed = 0;

	load_vectors(&vv);
	for (size_t i = 0; i < vv.n_text; i++)
		passed += check_vector(&vv, i);
	fprintf(stderr, "tokenizer vectors: %zu/%zu match\n", passed, vv.n_text);
	ck_assert_uint_eq(passed, N_VECTORS);
	free_vectors(&vv);
}
END_TEST

START_TEST(test_vocab_info)
{
	ck_assert_uint_eq(tok_n_tokens(vocab), 32000);
	ck_assert_int_eq(tok_bos(vocab), 1);
	ck_assert_int_eq(tok_eos(vocab), 2);
	ck_assert(tok_add_bos(vocab));
	ck_assert_str_eq(tok_token_text(vocab, 1), "<s>");
	ck_assert_str_eq(tok_token_text(vocab, 15043), "\xe2\x96\x81Hello");
	ck_assert_ptr_null(tok_token_text(vocab, -1));
	ck_assert_ptr_null(tok_token_text(vocab, 32000));
}
END_TEST

START_TEST(test_add_bos)
{
	static const int32_t want[] = { 1, 15043, 3186 };
	size_t n;
	int32_t *ids = encode(vocab, "Hello world", 11, true, &n);

	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(ids, want, sizeof(want));
	free(ids);

	/* an empty text is only the BOS, or nothing at all */
	ids = encode(vocab, "", 0, true, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], 1);
	free(ids);
	ids = encode(vocab, "", 0, false, &n);
	ck_assert_uint_eq(n, 0);
	free(ids);
}
END_TEST

START_TEST(test_special_in_text)
{
	/* "Hello" after "<s>" gets the space prefix again, as at the start of the text */
	static const int32_t want[] = { 15043, 1, 15043, 2 };
	size_t n;
	int32_t *ids = encode(vocab, "Hello<s>Hello</s>", 17, false, &n);

	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(ids, want, sizeof(want));
	free(ids);

	ids = encode(vocab, "<s>", 3, false, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], 1);
	free(ids);

	/* a BOS requested and one in the text: both are kept */
	ids = encode(vocab, "<s>", 3, true, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_int_eq(ids[1], 1);
	free(ids);

	ids = encode(vocab, "<unk>", 5, false, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], 0);
	free(ids);
}
END_TEST

START_TEST(test_round_trip)
{
	struct vectors vv;

	load_vectors(&vv);
	for (size_t i = 0; i < vv.n_text; i++) {
		size_t n, len, want = vv.len[i] ? vv.len[i] + 1 : 0;
		int32_t *ids = encode(vocab, vv.text[i], vv.len[i], false, &n);
		char *s = decode(vocab, ids, n, &len);

		/* the space prefix comes back as one leading ' ' */
		ck_assert_msg(len == want, "text %zu: %zu bytes decoded, %zu expected", i, len,
			      want);
		if (len) {
			ck_assert_int_eq(s[0], ' ');
			ck_assert_msg(memcmp(s + 1, vv.text[i], vv.len[i]) == 0,
				      "text %zu does not round-trip: \"%s\"", i, s);
		}
		free(s);
		free(ids);
	}
	free_vectors(&vv);
}
END_TEST

START_TEST(test_byte_fallback)
{
	/* U+1F999 is not in the vocabulary: four <0xXX> tokens, each one byte when decoded */
	static const char llama[] = "\xf0\x9f\xa6\x99";
	static const int32_t want[] = { 29871, 243, 162, 169, 156 };
	size_t n, len;
	int32_t *ids = encode(vocab, llama, 4, false, &n);
	char *s;

	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(ids, want, sizeof(want));
	ck_assert_str_eq(tok_token_text(vocab, 243), "<0xF0>");
	s = decode(vocab, ids + 1, 4, &len);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(s, llama, 4);
	free(s);
	free(ids);

	/* invalid UTF-8: a stray lead byte at the end and a lone continuation byte */
	ids = encode(vocab, "a\x80\xe2", 3, false, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ids[1], 3 + 0x80);
	ck_assert_int_eq(ids[2], 3 + 0xe2);
	free(ids);

	/* a lead byte before a space swallows part of the '▁': more symbols than input bytes */
	{
		static const int32_t want2[] = { 29871, 195, 229, 153, 132, 195, 229, 153, 132 };

		ids = encode(vocab, "\xc0 \xc0 ", 4, false, &n);
		ck_assert_uint_eq(n, 9);
		ck_assert_mem_eq(ids, want2, sizeof(want2));
		free(ids);
	}
}
END_TEST

START_TEST(test_decode_tokens)
{
	char buf[16];
	size_t len = 99;

	ck_assert_int_eq(tok_decode_token(vocab, 15043, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(buf, " Hello", 6);
	/* control tokens print as nothing */
	ck_assert_int_eq(tok_decode_token(vocab, 1, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(tok_decode_token(vocab, 0, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 0);
	/* <0x0A> is a newline */
	ck_assert_int_eq(tok_decode_token(vocab, 13, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(buf[0], '\n');
}
END_TEST

START_TEST(test_range_errors)
{
	int32_t ids[2] = { -7, -7 };
	char buf[4];
	size_t n = 0, len = 0;

	ck_assert_int_eq(tok_encode(vocab, "Hello world", 11, true, ids, 1, &n), TOK_ERR_RANGE);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_int_eq(ids[1], -7);
	ck_assert_int_eq(tok_encode(vocab, "Hello world", 11, false, NULL, 0, &n), TOK_ERR_RANGE);
	ck_assert_uint_eq(n, 2);

	ck_assert_int_eq(tok_decode_token(vocab, -1, buf, sizeof(buf), &len), TOK_ERR_RANGE);
	ck_assert_int_eq(tok_decode_token(vocab, 32000, buf, sizeof(buf), &len), TOK_ERR_RANGE);
	/* " Hello" does not fit in 4 bytes: the full length is still reported */
	ck_assert_int_eq(tok_decode_token(vocab, 15043, buf, sizeof(buf), &len), TOK_ERR_RANGE);
	ck_assert_uint_eq(len, 6);
}
END_TEST

START_TEST(test_long_text_is_fast)
{
	static const char chunk[] = "The quick brown fox jumps over the lazy dog; "
				    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
				    "\xf0\x9f\xa6\x99 3.14159\n";
	size_t clen = sizeof(chunk) - 1, len = 0, n;
	char *text = malloc(64 * 1024);
	struct timespec t0, t1;
	int32_t *ids;

	ck_assert_ptr_nonnull(text);
	while (len + clen <= 64 * 1024) {
		memcpy(text + len, chunk, clen);
		len += clen;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ids = encode(vocab, text, len, true, &n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_uint_gt(n, len / 8);
	/* generous even under sanitizers; a quadratic algorithm takes far longer */
	ck_assert_double_lt((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
			    5.0);
	free(ids);
	free(text);
}
END_TEST


/* ---- every vocabulary of ../shared/vocab ---- */

/* The directory of the shared vocabularies, in a static buffer. */
static const char *vocab_dir(void)
{
	static char dir[1024];
	const char *slash;

	snprintf(dir, sizeof(dir), "%s", tu_vocab_path());
	slash = strrchr(dir, '/');
	if (slash)
		dir[slash - dir] = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	return dir;
}

/* Loads the vocabulary file at path; returns the status, the message in err. */
static enum tok_status load_vocab_file(const char *path, struct tok_vocab **v, char *err,
				       size_t err_len)
{
	struct gguf_file *f;
	enum tok_status st;

	ck_assert_msg(gguf_open(path, &f, err, err_len) == GGUF_OK, "%s", err);
	st = tok_vocab_from_gguf(f, v, err, err_len);
	gguf_close(f);
	return st;
}

/* Encodes, compares with the vector and decodes back to the same bytes (BPE: exactly). */
static size_t run_vectors(const struct tok_vocab *v, const char *path, bool *round_trip_ok)
{
	struct vectors *vv = malloc(sizeof(*vv));
	size_t passed = 0;

	ck_assert_ptr_nonnull(vv);
	load_vectors_of(vv, path);
	*round_trip_ok = true;
	for (size_t i = 0; i < vv->n_text; i++) {
		size_t n, len;
		int32_t *ids;
		char *back;

		passed += check_vector_of(v, vv, i);
		if (strcmp(tok_model_name(v), "gpt2") != 0)
			continue; /* SentencePiece adds a space: test_round_trip */
		ids = encode(v, vv->text[i], vv->len[i], false, &n);
		back = decode(v, ids, n, &len);
		if (len != vv->len[i] || memcmp(back, vv->text[i], len) != 0) {
			fprintf(stderr, "%s: text %zu does not decode back: \"%s\"\n", path, i, back);
			*round_trip_ok = false;
		}
		free(back);
		free(ids);
	}
	fprintf(stderr, "tokenizer vectors: %s (%s%s%s): %zu/%zu match\n", strrchr(path, '/') + 1,
		tok_model_name(v), tok_pre_name(v) ? ", pre " : "",
		tok_pre_name(v) ? tok_pre_name(v) : "", passed, vv->n_text);
	ck_assert_uint_gt(vv->n_text, 0);
	passed = passed == vv->n_text;
	for (size_t i = 0; i < vv->n_exp; i++)
		free(vv->exp[i].ids);
	free(vv->inp);
	free(vv->out);
	free(vv);
	return passed;
}

/*
 * Every vocabulary beside the llama one that comes with vectors: all must match, whatever
 * their kind and pre-tokenizer. A vocabulary of a tokenizer model not implemented here
 * (e.g. "bert") is reported and skipped; the ones shipped to every checkout must be there.
 */
START_TEST(test_conformance_all_vocabs)
{
	const char *dir = vocab_dir();
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t tested = 0, failed = 0;
	bool saw_gpt2 = false, saw_deepseek = false;

	ck_assert_msg(d != NULL, "%s", dir);
	while ((e = readdir(d))) {
		size_t nl = strlen(e->d_name);
		char path[2048], err[512] = "";
		struct tok_vocab *v = NULL;
		enum tok_status st;
		bool rt;

		if (nl < 10 || strcmp(e->d_name + nl - 9, ".gguf.inp") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(nl - 4), e->d_name);
		st = load_vocab_file(path, &v, err, sizeof(err));
		if (st == TOK_ERR_UNSUPPORTED) {
			fprintf(stderr, "tokenizer vectors: %s: skipped, %s\n", e->d_name, err);
			continue;
		}
		ck_assert_msg(st == TOK_OK, "%s: %s", path, err);
		failed += !run_vectors(v, path, &rt);
		failed += !rt;
		tested++;
		saw_gpt2 |= strstr(e->d_name, "gpt-2") != NULL;
		saw_deepseek |= strstr(e->d_name, "deepseek-llm") != NULL;
		tok_vocab_free(v);
	}
	closedir(d);
	ck_assert_msg(saw_gpt2 && saw_deepseek, "the gpt-2 and deepseek-llm vectors are missing");
	ck_assert_msg(failed == 0, "%zu of %zu vocabularies do not match", failed, tested);
}
END_TEST

/* GPT-NeoX comes without vectors: it loads, and any text decodes back to itself. */
START_TEST(test_gpt_neox_round_trip)
{
	static const char *const texts[] = {
		"Hello world", " leading and trailing  ", "tabs\tand\nnewlines\r\n\n",
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x99 3.14159",
		"<not a token>between<|im_start|>", "x = y + 42; /* code */ 'll 've 'S",
		"    four spaces\n\n\n",
	};
	char path[2048], err[512] = "";
	struct tok_vocab *v = NULL;

	snprintf(path, sizeof(path), "%s/ggml-vocab-gpt-neox.gguf", vocab_dir());
	ck_assert_msg(load_vocab_file(path, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	ck_assert_str_eq(tok_model_name(v), "gpt2");
	ck_assert_uint_gt(tok_n_tokens(v), 50000);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n, len, tl = strlen(texts[i]);
		int32_t *ids = encode(v, texts[i], tl, false, &n);
		char *back = decode(v, ids, n, &len);

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_le(n, tl);
		ck_assert_msg(len == tl && memcmp(back, texts[i], tl) == 0,
			      "text %zu does not decode back: \"%s\"", i, back);
		free(back);
		free(ids);
	}
	/*
	 * bytes that start no valid UTF-8 sequence are encoded as U+FFFD, as in the runtime (the
	 * vocabulary has no token for 0xFF); an overlong NUL as NUL
	 */
	{
		size_t n, len;
		int32_t *ids = encode(v, "\xff" "a\xc0\x80" "b\xe2\x82", 7, false, &n);
		char *back = decode(v, ids, n, &len);

		ck_assert_uint_eq(len, 12);
		ck_assert_mem_eq(back, "\xef\xbf\xbd" "a\0b\xef\xbf\xbd\xef\xbf\xbd", 12);
		free(back);
		free(ids);
	}
	/* a control token in the text is that token, and prints as nothing */
	{
		size_t n, len;
		int32_t *ids = encode(v, "a<|endoftext|>b", 15, false, &n);
		char *back = decode(v, ids, n, &len);

		ck_assert_uint_eq(n, 3);
		ck_assert_str_eq(tok_token_text(v, ids[1]), "<|endoftext|>");
		ck_assert(tok_is_eog(v, ids[1]));
		ck_assert_str_eq(back, "ab");
		free(back);
		free(ids);
	}
	tok_vocab_free(v);
}
END_TEST

/* ---- small vocabularies built in memory ---- */

/* A GGUF v3 image without tensors, key/values appended one by one. */
struct gbuild {
	uint8_t *body;
	size_t n, cap;
	uint64_t n_kv;
};

static void gb_bytes(struct gbuild *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->body = realloc(b->body, b->cap);
		ck_assert_ptr_nonnull(b->body);
	}
	memcpy(b->body + b->n, d, n);
	b->n += n;
}

static void gb_u32(struct gbuild *b, uint32_t v)
{
	gb_bytes(b, &v, sizeof(v)); /* GGUF is little-endian, as are the hosts we test on */
}

static void gb_u64(struct gbuild *b, uint64_t v)
{
	gb_bytes(b, &v, sizeof(v));
}

static void gb_str(struct gbuild *b, const char *s)
{
	gb_u64(b, strlen(s));
	gb_bytes(b, s, strlen(s));
}

static void gb_key(struct gbuild *b, const char *key, enum gguf_value_type type)
{
	gb_str(b, key);
	gb_u32(b, type);
	b->n_kv++;
}

static void kv_str(struct gbuild *b, const char *key, const char *v)
{
	gb_key(b, key, GGUF_TYPE_STRING);
	gb_str(b, v);
}

static void kv_u32(struct gbuild *b, const char *key, uint32_t v)
{
	gb_key(b, key, GGUF_TYPE_UINT32);
	gb_u32(b, v);
}

static void kv_bool(struct gbuild *b, const char *key, bool v)
{
	uint8_t byte = v;

	gb_key(b, key, GGUF_TYPE_BOOL);
	gb_bytes(b, &byte, 1);
}

static void kv_arr_str(struct gbuild *b, const char *key, const char *const *v, size_t n)
{
	gb_key(b, key, GGUF_TYPE_ARRAY);
	gb_u32(b, GGUF_TYPE_STRING);
	gb_u64(b, n);
	for (size_t i = 0; i < n; i++)
		gb_str(b, v[i]);
}

static void kv_arr_f32(struct gbuild *b, const char *key, const float *v, size_t n)
{
	gb_key(b, key, GGUF_TYPE_ARRAY);
	gb_u32(b, GGUF_TYPE_FLOAT32);
	gb_u64(b, n);
	gb_bytes(b, v, n * sizeof(*v));
}

static void kv_arr_i32(struct gbuild *b, const char *key, const int32_t *v, size_t n)
{
	gb_key(b, key, GGUF_TYPE_ARRAY);
	gb_u32(b, GGUF_TYPE_INT32);
	gb_u64(b, n);
	gb_bytes(b, v, n * sizeof(*v));
}

/* The whole file: header, then the key/values. The caller frees it. */
static uint8_t *gb_finish(struct gbuild *b, size_t *size)
{
	struct gbuild out = { 0 };

	gb_bytes(&out, "GGUF", 4);
	gb_u32(&out, 3);
	gb_u64(&out, 0);
	gb_u64(&out, b->n_kv);
	gb_bytes(&out, b->body, b->n);
	free(b->body);
	*size = out.n;
	return out.body;
}

/*
 * A toy llama vocabulary whose scores make the merge order visible: "bc" beats "ab", the
 * two "aa" pairs of "aaa" tie, 'A' has a byte token and 'Z' has none.
 */
#define SMALL_N 14
static const char *const small_tokens[SMALL_N] = {
	"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "c", "aa", "ab", "bc", "<0x41>",
	"<sep>", "<s>>", "\xe2\x96\x81" "a",
};
static const float small_scores[SMALL_N] = {
	0, 0, 0, -1, -2, -2, -2, -3, -5, -4, 0, 0, 0, -1.5f,
};
static const int32_t small_types[SMALL_N] = {
	2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 4, 4, 1,
};

enum small_variant {
	SMALL_OK,
	SMALL_NO_PREFIX,    /* add_space_prefix false, add_bos_token false */
	SMALL_GPT2,
	SMALL_NO_TOKENS,
	SMALL_NO_SCORES,
	SMALL_SHORT_SCORES,
	SMALL_LONG_TYPES,
	SMALL_BAD_BOS,
	SMALL_PHI3,         /* general.name "Phi-3 mini": special tokens strip spaces after them */
	SMALL_NO_UNK,       /* no unknown token: 'Z' has no id at all */
};

static void add_small_arrays(struct gbuild *b, enum small_variant var)
{
	int32_t types[SMALL_N + 1];

	memcpy(types, small_types, sizeof(small_types));
	types[SMALL_N] = 1;
	if (var != SMALL_NO_TOKENS)
		kv_arr_str(b, "tokenizer.ggml.tokens", small_tokens, SMALL_N);
	if (var != SMALL_NO_SCORES)
		kv_arr_f32(b, "tokenizer.ggml.scores", small_scores,
			   var == SMALL_SHORT_SCORES ? SMALL_N - 1 : SMALL_N);
	kv_arr_i32(b, "tokenizer.ggml.token_type", types,
		   var == SMALL_LONG_TYPES ? SMALL_N + 1 : SMALL_N);
}

static uint8_t *small_gguf(enum small_variant var, size_t *size)
{
	struct gbuild b = { 0 };

	kv_u32(&b, "general.alignment", 32);
	if (var == SMALL_PHI3)
		kv_str(&b, "general.name", "Phi-3 mini");
	kv_str(&b, "tokenizer.ggml.model", var == SMALL_GPT2 ? "gpt2" : "llama");
	add_small_arrays(&b, var);
	kv_u32(&b, "tokenizer.ggml.bos_token_id", var == SMALL_BAD_BOS ? SMALL_N : 1);
	kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
	if (var == SMALL_NO_UNK) { /* -1, as an int32 (the writers' "none") */
		gb_key(&b, "tokenizer.ggml.unknown_token_id", GGUF_TYPE_INT32);
		gb_u32(&b, UINT32_MAX);
	} else {
		kv_u32(&b, "tokenizer.ggml.unknown_token_id", 0);
	}
	if (var == SMALL_NO_PREFIX) {
		kv_bool(&b, "tokenizer.ggml.add_bos_token", false);
		kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
	}
	return gb_finish(&b, size);
}

/*
 * Builds a vocabulary from a GGUF image (freed here); returns its status, the message in
 * err. The file is closed first: the vocabulary must have copied all it needs.
 */
static enum tok_status vocab_from_image(uint8_t *data, size_t size, struct tok_vocab **v,
					char *err, size_t err_len)
{
	struct gguf_file *f;
	char gerr[256] = "";
	enum tok_status st;

	ck_assert_msg(gguf_parse(data, size, &f, gerr, sizeof(gerr)) == GGUF_OK, "%s", gerr);
	err[0] = '\0';
	st = tok_vocab_from_gguf(f, v, err, err_len);
	gguf_close(f);
	free(data);
	return st;
}

/* Builds a vocabulary from a small GGUF; returns its status, the message in err. */
static enum tok_status small_vocab(enum small_variant var, struct tok_vocab **v, char *err,
				   size_t err_len)
{
	size_t size;
	uint8_t *data = small_gguf(var, &size);

	return vocab_from_image(data, size, v, err, err_len);
}

static void expect_ids(const struct tok_vocab *v, const char *text, bool bos,
		       const int32_t *want, size_t n_want)
{
	size_t n;
	int32_t *ids = encode(v, text, strlen(text), bos, &n);

	ck_assert_msg(n == n_want, "\"%s\": %zu ids, %zu expected", text, n, n_want);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(ids[i] == want[i], "\"%s\": id %zu is %d, %d expected", text, i,
			      ids[i], want[i]);
	free(ids);
}

#define EXPECT(v, text, bos, ...) do { \
	static const int32_t want_[] = { __VA_ARGS__ }; \
	expect_ids(v, text, bos, want_, sizeof(want_) / sizeof(want_[0])); \
} while (0)

START_TEST(test_small_merges)
{
	struct tok_vocab *v;
	char err[256];

	ck_assert_msg(small_vocab(SMALL_NO_PREFIX, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	ck_assert(!tok_add_bos(v));
	EXPECT(v, "aaa", false, 7, 4);   /* equal scores: the left pair merges first */
	EXPECT(v, "abc", false, 4, 9);   /* "bc" scores higher than "ab" */
	EXPECT(v, "ab", false, 8);
	EXPECT(v, "A", false, 10);       /* byte token */
	EXPECT(v, "Z", false, 0);        /* no byte token: unknown */
	EXPECT(v, "\xc3\xa9", false, 0, 0);
	EXPECT(v, "a b", false, 4, 3, 5);
	EXPECT(v, "<s>>", false, 12);    /* the longer special text wins */
	EXPECT(v, "<s><sep>a", true, 1, 1, 11, 4);
	tok_vocab_free(v);
}
END_TEST

/* A byte with neither a byte piece nor an unknown token to stand for it: the text is refused. */
START_TEST(test_small_no_token_for_a_byte)
{
	struct tok_vocab *v;
	char err[256];
	int32_t ids[8];
	size_t n = 99;

	ck_assert_msg(small_vocab(SMALL_NO_UNK, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	EXPECT(v, "A", false, 3, 10);
	ck_assert_int_eq(tok_encode(v, "aZ", 2, false, ids, 8, &n), TOK_ERR_NO_TOKEN);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(tok_encode(v, "a\xc3\xa9", 3, false, ids, 8, &n), TOK_ERR_NO_TOKEN);
	tok_vocab_free(v);
}
END_TEST

START_TEST(test_small_space_prefix)
{
	struct tok_vocab *v;
	char err[256];

	ck_assert_msg(small_vocab(SMALL_OK, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	ck_assert(tok_add_bos(v));
	EXPECT(v, "a", false, 13);
	EXPECT(v, "a<s>a", false, 13, 1, 13);
	EXPECT(v, "<s>", false, 1);
	EXPECT(v, "a", true, 1, 13);
	tok_vocab_free(v);
}
END_TEST

/*
 * Phi-3's special tokens swallow the white space after them (the runtime's rule for that
 * family), except <s>; other vocabularies keep it.
 */
START_TEST(test_small_phi3_strip)
{
	struct tok_vocab *v;
	char err[256];

	ck_assert_msg(small_vocab(SMALL_PHI3, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	EXPECT(v, "<sep>  a", false, 11, 13);
	EXPECT(v, "<s>  a", false, 1, 3, 3, 13);
	tok_vocab_free(v);
	ck_assert_msg(small_vocab(SMALL_OK, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	EXPECT(v, "<sep>  a", false, 11, 3, 3, 13);
	tok_vocab_free(v);
}
END_TEST

static void expect_refusal(enum small_variant var, enum tok_status want, const char *needle)
{
	struct tok_vocab *v = NULL;
	char err[256];

	ck_assert_int_eq(small_vocab(var, &v, err, sizeof(err)), want);
	ck_assert_ptr_null(v);
	ck_assert_msg(strstr(err, needle) != NULL, "message \"%s\" lacks \"%s\"", err, needle);
}

START_TEST(test_small_refusals)
{
	/* a BPE vocabulary needs its merges */
	expect_refusal(SMALL_GPT2, TOK_ERR_FORMAT, "tokenizer.ggml.merges: missing");
	expect_refusal(SMALL_NO_TOKENS, TOK_ERR_FORMAT, "tokenizer.ggml.tokens");
	expect_refusal(SMALL_NO_SCORES, TOK_ERR_FORMAT, "tokenizer.ggml.scores");
	expect_refusal(SMALL_SHORT_SCORES, TOK_ERR_FORMAT, "tokenizer.ggml.scores: 13 entries, 14 tokens");
	expect_refusal(SMALL_LONG_TYPES, TOK_ERR_FORMAT, "tokenizer.ggml.token_type: 15 entries");
	expect_refusal(SMALL_BAD_BOS, TOK_ERR_FORMAT, "tokenizer.ggml.bos_token_id");
}
END_TEST


/* ---- small byte-level BPE vocabularies built in memory ---- */

#define G "\xc4\xa0" /* 'Ġ', GPT-2's stand-in for ' ' */
#define BPE_N 13
static const char *const bpe_tokens[BPE_N] = {
	"a", "b", "c", G, "ab", "bc", G "a", G "ab", "<|im_start|>", "<|im_end|>", "aa", "abc",
	"<|endoftext|>",
};
static const char *const bpe_merges[] = { "b c", "a b", G " a", G "a b", "a a", "ab c" };

/* A BPE vocabulary with pre-tokenizer pre (NULL: no key), without token types. */
static enum tok_status bpe_vocab(const char *pre, size_t n_merges, const char *const *merges,
				 struct tok_vocab **v, char *err, size_t err_len)
{
	struct gbuild b = { 0 };
	size_t size;
	uint8_t *data;

	kv_u32(&b, "general.alignment", 32);
	kv_str(&b, "tokenizer.ggml.model", "gpt2");
	if (pre)
		kv_str(&b, "tokenizer.ggml.pre", pre);
	kv_arr_str(&b, "tokenizer.ggml.tokens", bpe_tokens, BPE_N);
	if (merges)
		kv_arr_str(&b, "tokenizer.ggml.merges", merges, n_merges);
	kv_u32(&b, "tokenizer.ggml.eos_token_id", 12);
	data = gb_finish(&b, &size);
	return vocab_from_image(data, size, v, err, err_len);
}

#define N_BPE_MERGES (sizeof(bpe_merges) / sizeof(bpe_merges[0]))

START_TEST(test_bpe_merge_order)
{
	struct tok_vocab *v;
	char err[256];

	ck_assert_msg(bpe_vocab("qwen2", N_BPE_MERGES, bpe_merges, &v, err, sizeof(err)) == TOK_OK,
		      "%s", err);
	ck_assert_str_eq(tok_model_name(v), "gpt2");
	ck_assert_str_eq(tok_pre_name(v), "qwen2");
	ck_assert(!tok_add_bos(v)); /* the qwen2 rule's default */
	EXPECT(v, "abc", false, 0, 5);   /* "b c" has the lower rank: a + bc, then no "a bc" */
	EXPECT(v, " ab", false, 3, 4);   /* "a b" before "Ġ a": Ġ + ab, and no "Ġ ab" merge */
	EXPECT(v, "aaa", false, 10, 0);  /* equal ranks: the leftmost pair first */
	EXPECT(v, "ab ab", false, 4, 3, 4);
	/* a text to which no merge applies: one token per byte */
	EXPECT(v, "cba", false, 2, 1, 0);
	tok_vocab_free(v);
}
END_TEST

/* With the Llama-3 rule a word that is a token is taken whole, whatever the merges say. */
START_TEST(test_bpe_ignore_merges)
{
	struct tok_vocab *v;
	char err[256];

	ck_assert_msg(bpe_vocab("llama-bpe", N_BPE_MERGES, bpe_merges, &v, err, sizeof(err)) ==
		      TOK_OK, "%s", err);
	ck_assert_str_eq(tok_pre_name(v), "llama3");
	ck_assert(tok_add_bos(v)); /* the Llama-3 rule's default, no BOS id: none added */
	EXPECT(v, " ab", false, 7);
	EXPECT(v, "abc", false, 11);
	tok_vocab_free(v);
}
END_TEST

/*
 * The vocabulary has no token types: all are normal, but the end-of-turn markers the runtime
 * knows by their text become control tokens, as there: <|im_end|> is cut out of the text
 * before merging, prints as nothing and ends a generation, while <|im_start|> stays text.
 */
START_TEST(test_bpe_special_tokens)
{
	struct tok_vocab *v;
	char err[256], buf[16];
	size_t len = 9;

	ck_assert_msg(bpe_vocab(NULL, N_BPE_MERGES, bpe_merges, &v, err, sizeof(err)) == TOK_OK,
		      "%s", err);
	ck_assert_str_eq(tok_pre_name(v), "default");
	EXPECT(v, "ab<|im_end|>ab", false, 4, 9, 4);
	{
		size_t n;
		int32_t *ids = encode(v, "<|im_start|>", 12, false, &n);

		/* merged from its bytes (most have no token in this vocabulary: dropped) */
		for (size_t i = 0; i < n; i++)
			ck_assert_int_ne(ids[i], 8);
		free(ids);
	}
	ck_assert(tok_is_eog(v, 9));
	ck_assert(tok_is_eog(v, 12)); /* EOS */
	ck_assert(!tok_is_eog(v, 8));
	ck_assert(!tok_is_eog(v, 13));
	ck_assert_int_eq(tok_decode_token(v, 9, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(tok_decode_token(v, 6, buf, sizeof(buf), &len), TOK_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(buf, " a", 2);
	/* add_bos with add_eos_token unset: no EOS appended, no BOS id (the default 11 is "abc"
	 * here: the runtime's default for GPT-2 vocabularies) */
	ck_assert_int_eq(tok_bos(v), 11);
	tok_vocab_free(v);
}
END_TEST

START_TEST(test_bpe_refusals)
{
	static const char *const bad_merge[] = { "b c", "abc" };
	struct tok_vocab *v = NULL;
	char err[256];

	ck_assert_int_eq(bpe_vocab("gpt-5-turbo", N_BPE_MERGES, bpe_merges, &v, err, sizeof(err)),
			 TOK_ERR_UNSUPPORTED);
	ck_assert_ptr_null(v);
	ck_assert_msg(strstr(err, "tokenizer.ggml.pre") && strstr(err, "\"gpt-5-turbo\"") &&
		      strstr(err, "llama-bpe"), "%s", err);
	ck_assert_int_eq(bpe_vocab("gpt-2", 0, NULL, &v, err, sizeof(err)), TOK_ERR_FORMAT);
	ck_assert_msg(strstr(err, "tokenizer.ggml.merges: missing"), "%s", err);
	ck_assert_int_eq(bpe_vocab("gpt-2", 2, bad_merge, &v, err, sizeof(err)), TOK_ERR_FORMAT);
	ck_assert_msg(strstr(err, "tokenizer.ggml.merges: merge 1 is \"abc\""), "%s", err);
	ck_assert_ptr_null(v);
}
END_TEST


/*
 * The words each pre-tokenizer rule cuts two texts into ('|' between words): contractions in
 * both cases, runs of digits, spaces, line breaks, an accented word, CJK, Arabic-Indic digits,
 * a combining mark, an emoji, full-width punctuation, U+3000. The same texts give llama.cpp's
 * ids under every rule (tests/crosscheck/tokenizer.sh checks the rules on many more).
 */
static const char *const pretok_texts[2] = {
	"I'LL pay 12345 for it's  caf\xc3\xa9!!\n\n  done",
	"\xe6\x97\xa5\xe6\x9c\xac abc\xd9\xa1\xd9\xa2 x\xcc\x81y \xf0\x9f\xa6\x99\xef\xbc\x81 "
	"\xe3\x80\x80ok\t\r\n",
};

static const struct {
	const char *rule;
	int text;
	const char *words;
} pretok_cases[] = {
	{ "gpt-2", 0, "I|'|LL| pay| 12345| for| it|'s| | caf\xc3\xa9|!!|\x0a\x0a | done" },
	{ "gpt-2", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99\xef\xbc\x81| |\xe3\x80\x80|ok|\x09\x0d\x0a" },
	{ "llama-bpe", 0, "I|'LL| pay| |123|45| for| it|'s| | caf\xc3\xa9|!!\x0a\x0a| | done" },
	{ "llama-bpe", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1\xd9\xa2| x|\xcc\x81y| \xf0\x9f\xa6\x99\xef\xbc\x81| |\xe3\x80\x80ok|\x09\x0d\x0a" },
	{ "qwen2", 0, "I|'LL| pay| |1|2|3|4|5| for| it|'s| | caf\xc3\xa9|!!\x0a\x0a| | done" },
	{ "qwen2", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1|\xd9\xa2| x|\xcc\x81y| \xf0\x9f\xa6\x99\xef\xbc\x81| |\xe3\x80\x80ok|\x09\x0d\x0a" },
	{ "qwen35", 0, "I|'LL| pay| |1|2|3|4|5| for| it|'s| | caf\xc3\xa9|!!\x0a\x0a| | done" },
	{ "qwen35", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1|\xd9\xa2| x\xcc\x81y| \xf0\x9f\xa6\x99\xef\xbc\x81| |\xe3\x80\x80ok|\x09\x0d\x0a" },
	{ "deepseek-llm", 0, "I|'|LL| pay| |12345| for| it|'|s| | caf|\xc3\xa9|!!|\x0a|\x0a| | done" },
	{ "deepseek-llm", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99|\xef\xbc\x81| |\xe3\x80\x80ok|\x09|\x0d|\x0a" },
	{ "deepseek-coder", 0, "I|'|LL| pay| |1|2|3|4|5| for| it|'|s| | caf\xc3\xa9|!!|\x0a|\x0a| | done" },
	{ "deepseek-coder", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1|\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99|\xef\xbc\x81| |\xe3\x80\x80ok|\x09|\x0d|\x0a" },
	{ "smollm", 0, "I|'|LL| pay| |1|2|3|4|5| for| it|'s| | caf\xc3\xa9|!!|\x0a\x0a | done" },
	{ "smollm", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1|\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99\xef\xbc\x81| |\xe3\x80\x80|ok|\x09\x0d\x0a" },
	{ "default", 0, "I|'|LL| pay| |123|45| for| it|'|s| | caf\xc3\xa9|!!|\x0a\x0a | done" },
	{ "default", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99|\xef\xbc\x81| |\xe3\x80\x80|ok|\x09\x0d\x0a" },
	{ "falcon", 0, "I|'|LL| pay| |123|45| for| it|'|s| | caf\xc3\xa9|!!|\x0a\x0a | done" },
	{ "falcon", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1\xd9\xa2| x|\xcc\x81|y| \xf0\x9f\xa6\x99|\xef\xbc\x81| |\xe3\x80\x80|ok|\x09\x0d\x0a" },
	{ "bloom", 0, "I'LL| pay| 12345| for| it's| | caf\xc3\xa9|!!\x0a\x0a | done" },
	{ "bloom", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc\xd9\xa1\xd9\xa2| x\xcc\x81y| \xf0\x9f\xa6\x99\xef\xbc\x81| \xe3\x80\x80|ok|\x09\x0d\x0a" },
	{ "viking", 0, "I'LL| pay| |1|2|3|4|5| for| it's| | caf\xc3\xa9|!!\x0a\x0a | done" },
	{ "viking", 1, "\xe6\x97\xa5\xe6\x9c\xac| abc|\xd9\xa1|\xd9\xa2| x\xcc\x81y| \xf0\x9f\xa6\x99\xef\xbc\x81| \xe3\x80\x80|ok|\x09\x0d\x0a" },
};

START_TEST(test_pretok_rules)
{
	for (size_t c = 0; c < sizeof(pretok_cases) / sizeof(pretok_cases[0]); c++) {
		const char *rule = pretok_cases[c].rule, *text = pretok_texts[pretok_cases[c].text];
		const struct pretok *p = pretok_find(rule, strlen(rule));
		struct pretok_work w = { 0 };
		char got[256];
		size_t n = 0, a = 0;

		ck_assert_msg(p != NULL, "%s", rule);
		ck_assert(pretok_split(p, &w, text, strlen(text)));
		for (size_t i = 0; i < w.n_words; i++) {
			size_t b = w.off[w.ends[i]];

			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%.*s", i ? "|" : "",
					      (int)(b - a), text + a);
			a = b;
		}
		ck_assert_msg(!strcmp(got, pretok_cases[c].words), "%s, text %d: \"%s\"", rule,
			      pretok_cases[c].text, got);
		pretok_work_free(&w);
	}
	/* every alias resolves, and names are compared whole */
	ck_assert_str_eq(pretok_name(pretok_find("llama3", 6)), "llama3");
	ck_assert_str_eq(pretok_name(pretok_find("deepseek-r1-qwen", 16)), "qwen2");
	ck_assert_str_eq(pretok_name(pretok_find("starcoder", 9)), "smollm");
	ck_assert_ptr_null(pretok_find("gpt-2x", 6));
	ck_assert_ptr_null(pretok_find("gpt", 3));
}
END_TEST

/* ---- vocabularies written with the GGUF writer ---- */

/*
 * Writes tokenizer.ggml.model = model and the real vocabulary's arrays (without the tokens
 * when !with_tokens) to a temporary file with the GGUF writer, then loads a vocabulary from
 * that file. Returns the status of tok_vocab_from_gguf, its message in err.
 */
static enum tok_status writer_vocab(const char *model, bool with_tokens, char *err,
				    size_t err_len)
{
	static const char *const keys[] = {
		"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
	};
	const char *path = tu_tmp_path(".gguf");
	struct gguf_writer *w = gguf_writer_create();
	struct tok_vocab *v = NULL;
	struct gguf_file *f;
	char gerr[256] = "";
	enum tok_status st;

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(gguf_open(tu_vocab_path(), &f, gerr, sizeof(gerr)) == GGUF_OK, "%s", gerr);
	ck_assert_int_eq(gguf_writer_set_str(w, "tokenizer.ggml.model", model), GGUF_OK);
	for (size_t i = with_tokens ? 0 : 1; i < 3; i++) {
		const struct gguf_kv *kv = gguf_find_kv(f, keys[i]);

		ck_assert_ptr_nonnull(kv);
		ck_assert_int_eq(gguf_writer_copy_kv(w, kv), GGUF_OK);
	}
	ck_assert_int_eq(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true), GGUF_OK);
	ck_assert_msg(gguf_writer_write(w, path, gerr, sizeof(gerr)) == GGUF_OK, "%s", gerr);
	gguf_writer_free(w);
	gguf_close(f);

	ck_assert_msg(gguf_open(path, &f, gerr, sizeof(gerr)) == GGUF_OK, "%s", gerr);
	err[0] = '\0';
	st = tok_vocab_from_gguf(f, &v, err, err_len);
	gguf_close(f);
	if (st == TOK_OK) {
		ck_assert_uint_eq(tok_n_tokens(v), 32000);
		tok_vocab_free(v);
	} else {
		ck_assert_ptr_null(v);
	}
	return st;
}

START_TEST(test_writer_refusals)
{
	char err[256];

	/* the control: the same arrays under "llama" are accepted */
	ck_assert_msg(writer_vocab("llama", true, err, sizeof(err)) == TOK_OK, "%s", err);

	ck_assert_int_eq(writer_vocab("gpt2", true, err, sizeof(err)), TOK_ERR_FORMAT);
	ck_assert_msg(strstr(err, "tokenizer.ggml.merges: missing"), "%s", err);
	ck_assert_int_eq(writer_vocab("bert", true, err, sizeof(err)), TOK_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(err, "bert"), "%s", err);

	ck_assert_int_eq(writer_vocab("llama", false, err, sizeof(err)), TOK_ERR_FORMAT);
	ck_assert_msg(strstr(err, "tokenizer.ggml.tokens"), "%s", err);
}
END_TEST

/* ---- the built-in vocabulary (tools/vocab.c), which needs nothing of ../shared ---- */

/* The built-in vocabulary written to a GGUF of its own and loaded, as a model carries it. */
static struct tok_vocab *builtin_vocab(uint32_t *n_tokens)
{
	char *path = tu_builtin_vocab(NULL, n_tokens), err[256] = "";
	struct gguf_file *f;
	struct tok_vocab *v;

	ck_assert_msg(gguf_open(path, &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_msg(tok_vocab_from_gguf(f, &v, err, sizeof(err)) == TOK_OK, "%s", err);
	gguf_close(f);
	free(path);
	return v;
}

START_TEST(test_builtin_shape)
{
	uint32_t n;
	struct tok_vocab *v = builtin_vocab(&n);

	ck_assert_uint_eq(tok_n_tokens(v), n);
	ck_assert_uint_gt(n, 3 + 256 + 95 + 700); /* controls, bytes, ASCII, learnt pieces */
	ck_assert_uint_le(n, VOCAB_MAX_TOKENS);
	ck_assert_int_eq(tok_bos(v), 1);
	ck_assert_int_eq(tok_eos(v), 2);
	ck_assert(tok_add_bos(v));
	ck_assert_str_eq(tok_token_text(v, 0), "<unk>");
	ck_assert_str_eq(tok_token_text(v, 3), "<0x00>");
	ck_assert_str_eq(tok_token_text(v, 258), "<0xFF>");
	tok_vocab_free(v);
}
END_TEST

/* Common words are one piece each: the demo prompt, and a sentence not in the corpus. */
START_TEST(test_builtin_words)
{
	static const char *const want[] = { "\xe2\x96\x81Once", "\xe2\x96\x81upon",
					    "\xe2\x96\x81" "a", "\xe2\x96\x81time" };
	static const char text[] = "The children asked their teacher where the river goes "
				   "after it leaves the forest, and she said that nobody knows.";
	struct tok_vocab *v = builtin_vocab(NULL);
	size_t n;
	int32_t *ids = encode(v, "Once upon a time", 16, true, &n);

	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(ids[0], 1);
	for (size_t i = 1; i < n; i++)
		ck_assert_str_eq(tok_token_text(v, ids[i]), want[i - 1]);
	free(ids);
	ids = encode(v, text, strlen(text), false, &n);
	/* about a word a piece (22 words, 2 punctuation marks), far from a byte a piece */
	ck_assert_msg(n <= 32, "%zu pieces for %zu bytes", n, strlen(text));
	free(ids);
	tok_vocab_free(v);
}
END_TEST

/* Any text round-trips: what the pieces lack goes through the byte pieces. */
START_TEST(test_builtin_round_trip)
{
	static const char *const texts[] = {
		"Hello, world!", "naive caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		"tabs\tand\nnewlines", "  two  spaces", "x = y + 42; /* code */", "\xf0\x9f\x98\x80",
	};
	struct tok_vocab *v = builtin_vocab(NULL);

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n, len, tl = strlen(texts[i]);
		int32_t *ids = encode(v, texts[i], tl, false, &n);
		char *s = decode(v, ids, n, &len);

		for (size_t k = 0; k < n; k++)
			ck_assert_int_ne(ids[k], 0); /* never <unk> */
		ck_assert_msg(len == tl + 1 && s[0] == ' ' && !memcmp(s + 1, texts[i], tl),
			      "text %zu does not round-trip: \"%s\"", i, s);
		free(s);
		free(ids);
	}
	tok_vocab_free(v);
}
END_TEST

/* The same corpus always gives the same file: default models are reproducible. */
START_TEST(test_builtin_deterministic)
{
	char *a = tu_builtin_vocab(NULL, NULL), *b = tu_builtin_vocab(NULL, NULL);
	size_t la, lb;

	ck_assert_str_ne(a, b); /* two files written, not one path twice */
	void *da = tu_read_file(a, &la), *db = tu_read_file(b, &lb);
	ck_assert(la == lb && !memcmp(da, db, la));
	free(da);
	free(db);
	free(a);
	free(b);
}
END_TEST

static Suite *tokenizer_suite(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *small = tcase_create("small");
	TCase *builtin = tcase_create("built-in");

	tcase_add_test(builtin, test_builtin_shape);
	tcase_add_test(builtin, test_builtin_words);
	tcase_add_test(builtin, test_builtin_round_trip);
	tcase_add_test(builtin, test_builtin_deterministic);
	suite_add_tcase(s, builtin);
	if (tu_have_shared_vocab()) { /* the conformance vectors; else said on stderr */
		TCase *real = tcase_create("llama-spm");

		tcase_add_checked_fixture(real, vocab_setup, vocab_teardown);
		tcase_add_test(real, test_all_vectors);
		tcase_add_test(real, test_vocab_info);
		tcase_add_test(real, test_add_bos);
		tcase_add_test(real, test_special_in_text);
		tcase_add_test(real, test_round_trip);
		tcase_add_test(real, test_byte_fallback);
		tcase_add_test(real, test_decode_tokens);
		tcase_add_test(real, test_range_errors);
		tcase_add_test(real, test_long_text_is_fast);
		tcase_add_test(real, test_writer_refusals); /* copies this vocabulary's arrays */
		suite_add_tcase(s, real);
		TCase *bpe = tcase_create("bpe-vocabularies");

		tcase_set_timeout(bpe, 120);
		tcase_add_test(bpe, test_conformance_all_vocabs);
		tcase_add_test(bpe, test_gpt_neox_round_trip);
		suite_add_tcase(s, bpe);
	}
	tcase_add_test(small, test_small_merges);
	tcase_add_test(small, test_small_no_token_for_a_byte);
	tcase_add_test(small, test_small_space_prefix);
	tcase_add_test(small, test_small_refusals);
	tcase_add_test(small, test_bpe_merge_order);
	tcase_add_test(small, test_bpe_ignore_merges);
	tcase_add_test(small, test_bpe_special_tokens);
	tcase_add_test(small, test_bpe_refusals);
	tcase_add_test(small, test_small_phi3_strip);
	tcase_add_test(small, test_pretok_rules);
	suite_add_tcase(s, small);
	return s;
}

int main(void)
{
	return tu_run_suite(tokenizer_suite());
}
