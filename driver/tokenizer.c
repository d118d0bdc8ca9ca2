/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.c - the tokenizers of GGUF vocabularies: SentencePiece-style ("llama") and
 * byte-level BPE ("gpt2").
 *
 * Both follow the reference GGUF runtime (llama.cpp) step by step, because the point is to
 * produce the very same ids as the runtime the models were made for. Common to both: the text
 * is first split on the texts of special tokens (control, user-defined, unknown), longest
 * token first, exactly the way the runtime partitions it. Then each raw fragment goes:
 *
 * SentencePiece:
 *   1. it gets a leading ' ' when it starts the text or follows a special token, and every
 *      ' ' becomes U+2581 '▁';
 *   2. it is cut into UTF-8 characters and adjacent pairs that form a vocabulary token are
 *      merged, best score first (ties: leftmost first);
 *   3. what is left is emitted as tokens, or byte by byte as <0xXX> tokens.
 *
 * Byte-level BPE:
 *   1. the pre-tokenizer named by tokenizer.ggml.pre cuts it into words (tokenizer_pretok.c);
 *   2. every byte of a word becomes the printable character GPT-2's byte-to-unicode table
 *      gives it, one symbol per byte;
 *   3. adjacent symbols are merged by the rank of their pair in tokenizer.ggml.merges, lowest
 *      rank first (ties: leftmost first); with the Llama-3 rules a word that is a token as a
 *      whole is not merged at all;
 *   4. each symbol is emitted as its token.
 * Decoding maps the characters back to bytes, so the ids of valid UTF-8 decode to the bytes
 * they came from. As in the runtime, a byte that starts no valid UTF-8 sequence is encoded as
 * U+FFFD (byte-level vocabularies need not hold tokens for bytes UTF-8 never uses, such as
 * 0xFF), and an overlong sequence as its code point's shortest form.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "tokenizer.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_pretok.h"
#include "tokenizer_unicode.h"

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum tok_type {
	TOK_TYPE_UNDEFINED = 0,
	TOK_TYPE_NORMAL = 1,
	TOK_TYPE_UNKNOWN = 2,
	TOK_TYPE_CONTROL = 3,
	TOK_TYPE_USER_DEFINED = 4,
	TOK_TYPE_UNUSED = 5,
	TOK_TYPE_BYTE = 6,
};

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_BOS "tokenizer.ggml.bos_token_id"
#define KEY_EOS "tokenizer.ggml.eos_token_id"
#define KEY_UNK "tokenizer.ggml.unknown_token_id"
#define KEY_ADD_BOS "tokenizer.ggml.add_bos_token"
#define KEY_SPACE_PREFIX "tokenizer.ggml.add_space_prefix"
#define KEY_ADD_EOS "tokenizer.ggml.add_eos_token"
#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_PRE "tokenizer.ggml.pre"

enum tok_kind {
	TOK_KIND_SPM, /* "llama" */
	TOK_KIND_BPE, /* "gpt2" */
};

/* GPT-2's byte-to-unicode table maps the bytes to code points below this. */
#define BYTE_CP_END 0x144

/* U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's visible stand-in for ' '. */
static const char SPACE_MARK[] = "\xe2\x96\x81";
#define SPACE_MARK_LEN 3

struct tok_entry {
	const char *text; /* into tok_vocab.pool, NUL-terminated */
	size_t len;
	float score;
	uint8_t type;     /* enum tok_type */
	uint8_t byte;     /* the value of a TOK_TYPE_BYTE token */
	bool eog;         /* ends a generation (EOS, end of turn, ...) */
	bool rstrip;      /* a special token that swallows the white space after it */
};

/* One pair of tokenizer.ggml.merges: left and right texts stored joined, and its rank. */
struct merge {
	size_t off;       /* into tok_vocab.merge_pool */
	uint32_t left_len;
	uint32_t len;     /* left + right */
};

struct tok_vocab {
	uint32_t n;
	struct tok_entry *tok;
	char *pool;
	/* text -> id, open addressing with linear probing; -1 marks a free slot */
	int32_t *slots;
	size_t slot_mask;
	/* the id each byte falls back to, resolved once at load time */
	int32_t byte_id[256];
	/* special tokens (split out of the text before merging), longest text first */
	int32_t *special;
	uint32_t n_special;
	int32_t bos, eos, unk;
	bool add_bos, add_eos, add_space_prefix;
	enum tok_kind kind;
	/* byte-level BPE: the pre-tokenizer, the merges (rank = index) and their hash table */
	const struct pretok *pre;
	char *merge_pool;
	struct merge *merges;
	uint32_t n_merges;
	uint32_t *merge_slots; /* merge index, UINT32_MAX marks a free slot */
	size_t merge_mask;
	char byte_enc[256][2]; /* the UTF-8 of each byte's printable stand-in */
	uint8_t byte_enc_len[256];
	int16_t byte_dec[BYTE_CP_END]; /* and back: code point -> byte, -1 for none */
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* ---- text -> id hash table ---- */

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The slot holding text, or the free slot where it would go. */
static size_t find_slot(const struct tok_vocab *v, const char *s, size_t len)
{
	size_t i = (size_t)fnv1a(s, len) & v->slot_mask;

	for (;;) {
		int32_t id = v->slots[i];

		if (id < 0)
			return i;
		if (v->tok[id].len == len && memcmp(v->tok[id].text, s, len) == 0)
			return i;
		i = (i + 1) & v->slot_mask;
	}
}

static int32_t lookup(const struct tok_vocab *v, const char *s, size_t len)
{
	return v->slots[find_slot(v, s, len)];
}

/*
 * Fills the table. A text that occurs twice maps to its last id, as in the runtime, whose
 * map is filled in id order with plain assignment.
 */
static enum tok_status build_index(struct tok_vocab *v)
{
	size_t cap = 16;

	/* at most half full keeps probe sequences short */
	while (cap < (size_t)v->n * 2)
		cap *= 2;
	v->slots = malloc(cap * sizeof(*v->slots));
	if (!v->slots)
		return TOK_ERR_NOMEM;
	memset(v->slots, 0xff, cap * sizeof(*v->slots));
	v->slot_mask = cap - 1;
	for (uint32_t id = 0; id < v->n; id++)
		v->slots[find_slot(v, v->tok[id].text, v->tok[id].len)] = (int32_t)id;
	return TOK_OK;
}

/*
 * The runtime's byte_to_token: "<0xXX>" (uppercase hex), else the byte itself as a one-byte
 * token; we fall back to the unknown token where the runtime would throw, and with no unknown
 * token either (-1) tok_encode refuses the text.
 */
static void build_byte_ids(struct tok_vocab *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (unsigned b = 0; b < 256; b++) {
		char name[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
		char raw = (char)b;
		int32_t id = lookup(v, name, sizeof(name));

		if (id < 0)
			id = lookup(v, &raw, 1);
		v->byte_id[b] = id < 0 ? v->unk : id;
	}
}

/* ---- loading ---- */

static bool is_special_type(uint8_t type)
{
	return type == TOK_TYPE_CONTROL || type == TOK_TYPE_USER_DEFINED ||
	       type == TOK_TYPE_UNKNOWN;
}

struct special_key {
	size_t len;
	int32_t id;
};

/* Longest text first; equal lengths in id order, so the result does not depend on qsort. */
static int cmp_special(const void *a, const void *b)
{
	const struct special_key *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static bool is_split_token(const struct tok_entry *t)
{
	return is_special_type(t->type) && t->len > 0;
}

/*
 * The runtime partitions the text by each special token in turn, longest text first. Empty
 * texts are left out: they would match everywhere and never make progress.
 */
static enum tok_status build_specials(struct tok_vocab *v)
{
	struct special_key *keys;
	uint32_t n = 0;

	for (uint32_t id = 0; id < v->n; id++)
		n += is_split_token(&v->tok[id]);
	if (!n)
		return TOK_OK;
	keys = malloc(n * sizeof(*keys));
	v->special = malloc(n * sizeof(*v->special));
	if (!keys || !v->special) {
		free(keys);
		return TOK_ERR_NOMEM;
	}
	for (uint32_t id = 0, k = 0; id < v->n; id++) {
		if (is_split_token(&v->tok[id]))
			keys[k++] = (struct special_key){ .len = v->tok[id].len, .id = (int32_t)id };
	}
	qsort(keys, n, sizeof(*keys), cmp_special);
	for (uint32_t k = 0; k < n; k++)
		v->special[k] = keys[k].id;
	v->n_special = n;
	free(keys);
	return TOK_OK;
}

static enum tok_status check_model(struct tok_vocab *v, const struct gguf_file *f,
				   char *err, size_t err_len)
{
	const struct gguf_kv *kv = gguf_find_kv(f, KEY_MODEL);
	struct gguf_str s;

	if (!kv) {
		set_err(err, err_len, "%s: missing", KEY_MODEL);
		return TOK_ERR_FORMAT;
	}
	if (kv->type != GGUF_TYPE_STRING) {
		set_err(err, err_len, "%s: %s, expected a string", KEY_MODEL,
			gguf_type_name(kv->type));
		return TOK_ERR_FORMAT;
	}
	s = kv->v.str;
	if (gguf_str_eq(s, "llama")) {
		v->kind = TOK_KIND_SPM;
	} else if (gguf_str_eq(s, "gpt2")) {
		v->kind = TOK_KIND_BPE;
	} else {
		set_err(err, err_len,
			"%s: \"%.*s\" is not supported (only \"llama\" and \"gpt2\")", KEY_MODEL,
			(int)(s.len > 64 ? 64 : s.len), s.ptr);
		return TOK_ERR_UNSUPPORTED;
	}
	return TOK_OK;
}

/* The array under key, with elements of type elem (any integer type when elem is INT32). */
static enum tok_status find_array(const struct gguf_file *f, const char *key,
				  enum gguf_value_type elem, const struct gguf_kv **out,
				  char *err, size_t err_len)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);
	bool ok;

	if (!kv) {
		set_err(err, err_len, "%s: missing", key);
		return TOK_ERR_FORMAT;
	}
	if (kv->type != GGUF_TYPE_ARRAY) {
		set_err(err, err_len, "%s: %s, expected an array of %s", key,
			gguf_type_name(kv->type), gguf_type_name(elem));
		return TOK_ERR_FORMAT;
	}
	if (elem == GGUF_TYPE_INT32) {
		enum gguf_value_type t = kv->v.arr.type;

		ok = t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 ||
		     t == GGUF_TYPE_INT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
		     t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
	} else {
		ok = kv->v.arr.type == elem;
	}
	if (!ok) {
		set_err(err, err_len, "%s: array of %s, expected %s", key,
			gguf_type_name(kv->v.arr.type), gguf_type_name(elem));
		return TOK_ERR_FORMAT;
	}
	*out = kv;
	return TOK_OK;
}

/* Copies every token text into one pool, each NUL-terminated for tok_token_text(). */
static enum tok_status load_texts(struct tok_vocab *v, const struct gguf_kv *kv)
{
	size_t total = 0;
	char *p;

	for (uint32_t i = 0; i < v->n; i++) {
		struct gguf_str s = gguf_arr_str(kv, i);

		/* the strings lie inside the file, so this only overflows on 32-bit hosts */
		if (s.len >= SIZE_MAX - total)
			return TOK_ERR_NOMEM;
		total += (size_t)s.len + 1;
	}
	v->pool = malloc(total ? total : 1);
	if (!v->pool)
		return TOK_ERR_NOMEM;
	p = v->pool;
	for (uint32_t i = 0; i < v->n; i++) {
		struct gguf_str s = gguf_arr_str(kv, i);

		if (s.len)
			memcpy(p, s.ptr, (size_t)s.len);
		p[s.len] = '\0';
		v->tok[i].text = p;
		v->tok[i].len = (size_t)s.len;
		p += s.len + 1;
	}
	return TOK_OK;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A byte token's value, from its "<0xXX>" text; -1 when the text has another form. */
static int parse_byte_token(const struct tok_entry *t)
{
	int hi, lo;

	if (t->len != 6 || memcmp(t->text, "<0x", 3) != 0 || t->text[5] != '>')
		return -1;
	hi = hex_digit(t->text[3]);
	lo = hex_digit(t->text[4]);
	if (hi < 0 || lo < 0)
		return -1;
	return hi * 16 + lo;
}

static enum tok_status check_count(const struct gguf_kv *kv, const char *key, uint32_t n,
				   char *err, size_t err_len)
{
	if (kv->v.arr.n == n)
		return TOK_OK;
	set_err(err, err_len, "%s: %llu entries, %u tokens", key,
		(unsigned long long)kv->v.arr.n, n);
	return TOK_ERR_FORMAT;
}

static enum tok_status load_scores(struct tok_vocab *v, const struct gguf_file *f,
				   char *err, size_t err_len)
{
	const struct gguf_kv *kv;
	enum tok_status st;

	/* BPE merges by rank: its scores (float or integer arrays, when present) are not read */
	if (v->kind == TOK_KIND_BPE)
		return TOK_OK;
	st = find_array(f, KEY_SCORES, GGUF_TYPE_FLOAT32, &kv, err, err_len);

	if (st == TOK_OK)
		st = check_count(kv, KEY_SCORES, v->n, err, err_len);
	if (st != TOK_OK)
		return st;
	for (uint32_t i = 0; i < v->n; i++)
		v->tok[i].score = gguf_arr_f32(kv, i);
	return TOK_OK;
}

static enum tok_status load_types(struct tok_vocab *v, const struct gguf_file *f,
				  char *err, size_t err_len)
{
	const struct gguf_kv *kv;
	enum tok_status st;

	/* required of a llama vocabulary; without them a BPE one's tokens are all normal, as in
	 * the runtime */
	if (v->kind == TOK_KIND_BPE && !gguf_find_kv(f, KEY_TYPES)) {
		for (uint32_t i = 0; i < v->n; i++)
			v->tok[i].type = TOK_TYPE_NORMAL;
		return TOK_OK;
	}
	st = find_array(f, KEY_TYPES, GGUF_TYPE_INT32, &kv, err, err_len);

	if (st == TOK_OK)
		st = check_count(kv, KEY_TYPES, v->n, err, err_len);
	if (st != TOK_OK)
		return st;
	for (uint32_t i = 0; i < v->n; i++) {
		struct tok_entry *t = &v->tok[i];
		int64_t type = gguf_arr_int(kv, i);
		int byte;

		if (type < TOK_TYPE_UNDEFINED || type > TOK_TYPE_BYTE) {
			set_err(err, err_len, "%s: token %u has type %lld", KEY_TYPES, i,
				(long long)type);
			return TOK_ERR_FORMAT;
		}
		t->type = (uint8_t)type;
		if (t->type != TOK_TYPE_BYTE)
			continue;
		/* decoding needs the byte value, so a byte token must say which byte it is */
		byte = parse_byte_token(t);
		if (byte < 0) {
			set_err(err, err_len, "%s: byte token %u is \"%.*s\", not <0xXX>",
				KEY_TOKENS, i, (int)(t->len > 32 ? 32 : t->len), t->text);
			return TOK_ERR_FORMAT;
		}
		t->byte = (uint8_t)byte;
	}
	return TOK_OK;
}

/*
 * A token id key: def when absent (the runtime's defaults for the vocabulary's kind, kept
 * only when they exist in this vocabulary), -1 for a stored -1 ("none").
 */
static enum tok_status load_id(const struct tok_vocab *v, const struct gguf_file *f,
			       const char *key, int32_t def, int32_t *out,
			       char *err, size_t err_len)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);
	uint32_t id;

	if (!kv) {
		*out = (uint32_t)def < v->n ? def : -1;
		return TOK_OK;
	}
	if ((kv->type == GGUF_TYPE_INT32 || kv->type == GGUF_TYPE_INT64 ||
	     kv->type == GGUF_TYPE_INT16 || kv->type == GGUF_TYPE_INT8) && kv->v.i64 == -1) {
		*out = -1;
		return TOK_OK;
	}
	if (gguf_get_u32(f, key, &id) != GGUF_OK) {
		set_err(err, err_len, "%s: %s, expected a token id", key,
			gguf_type_name(kv->type));
		return TOK_ERR_FORMAT;
	}
	if (id >= v->n) {
		set_err(err, err_len, "%s: %u out of range (%u tokens)", key, id, v->n);
		return TOK_ERR_FORMAT;
	}
	*out = (int32_t)id;
	return TOK_OK;
}

static enum tok_status load_bool(const struct gguf_file *f, const char *key, bool def,
				 bool *out, char *err, size_t err_len)
{
	enum gguf_status gs = gguf_get_bool(f, key, out);

	if (gs == GGUF_ERR_NOT_FOUND) {
		*out = def;
		return TOK_OK;
	}
	if (gs != GGUF_OK) {
		set_err(err, err_len, "%s: expected a bool", key);
		return TOK_ERR_FORMAT;
	}
	return TOK_OK;
}

static enum tok_status load_settings(struct tok_vocab *v, const struct gguf_file *f,
				     char *err, size_t err_len)
{
	/* the runtime's defaults: llama <s> 1, </s> 2, <unk> 0; GPT-2's <|endoftext|> 11 */
	const bool spm = v->kind == TOK_KIND_SPM;
	const bool bos_default = spm || pretok_add_bos(v->pre);
	enum tok_status st;

	st = load_id(v, f, KEY_BOS, spm ? 1 : 11, &v->bos, err, err_len);
	if (st == TOK_OK)
		st = load_id(v, f, KEY_EOS, spm ? 2 : 11, &v->eos, err, err_len);
	if (st == TOK_OK)
		st = load_id(v, f, KEY_UNK, spm ? 0 : -1, &v->unk, err, err_len);
	if (st == TOK_OK)
		st = load_bool(f, KEY_ADD_BOS, bos_default, &v->add_bos, err, err_len);
	if (st == TOK_OK)
		st = load_bool(f, KEY_ADD_EOS, false, &v->add_eos, err, err_len);
	if (st == TOK_OK)
		st = load_bool(f, KEY_SPACE_PREFIX, spm, &v->add_space_prefix, err, err_len);
	return st;
}

/* ---- byte-level BPE: pre-tokenizer, merges, byte table ---- */

/* tokenizer.ggml.pre names the pre-tokenizer; without it the runtime uses "default". */
static enum tok_status load_pre(struct tok_vocab *v, const struct gguf_file *f,
				char *err, size_t err_len)
{
	const struct gguf_kv *kv = gguf_find_kv(f, KEY_PRE);
	struct gguf_str s;

	if (!kv) {
		v->pre = pretok_default();
		return TOK_OK;
	}
	if (kv->type != GGUF_TYPE_STRING) {
		set_err(err, err_len, "%s: %s, expected a string", KEY_PRE, gguf_type_name(kv->type));
		return TOK_ERR_FORMAT;
	}
	s = kv->v.str;
	v->pre = pretok_find(s.ptr, (size_t)s.len);
	if (!v->pre) {
		char known[1024];

		pretok_known_names(known, sizeof(known));
		set_err(err, err_len, "%s: pre-tokenizer \"%.*s\" is not supported (known: %s)",
			KEY_PRE, (int)(s.len > 64 ? 64 : s.len), s.ptr, known);
		return TOK_ERR_UNSUPPORTED;
	}
	return TOK_OK;
}

static uint64_t merge_hash(const char *s, size_t len, size_t left_len)
{
	return fnv1a(s, len) ^ (left_len * 0x9e3779b97f4a7c15ull);
}

/* The slot of the pair (s[0..left_len), s[left_len..len)), or the free slot for it. */
static size_t find_merge_slot(const struct tok_vocab *v, const char *s, size_t len,
			      size_t left_len)
{
	size_t i = (size_t)merge_hash(s, len, left_len) & v->merge_mask;

	for (;;) {
		uint32_t m = v->merge_slots[i];
		const struct merge *e;

		if (m == UINT32_MAX)
			return i;
		e = &v->merges[m];
		if (e->len == len && e->left_len == left_len &&
		    memcmp(v->merge_pool + e->off, s, len) == 0)
			return i;
		i = (i + 1) & v->merge_mask;
	}
}

/* The rank of merging the adjacent texts s[0..left_len) and s[left_len..len), or -1. */
static int32_t merge_rank(const struct tok_vocab *v, const char *s, size_t len, size_t left_len)
{
	return (int32_t)v->merge_slots[find_merge_slot(v, s, len, left_len)];
}

/*
 * Each entry is "left right", cut at the first ' ' after the first byte (a pair may start
 * with a space); the rank is the index. A pair listed twice keeps its first rank, as in the
 * runtime. Ranks order the merge queue as floats, so there may be at most 2^24.
 */
static enum tok_status load_merges(struct tok_vocab *v, const struct gguf_file *f,
				   char *err, size_t err_len)
{
	const struct gguf_kv *kv;
	enum tok_status st = find_array(f, KEY_MERGES, GGUF_TYPE_STRING, &kv, err, err_len);
	size_t total = 0, cap = 16, used = 0;

	if (st != TOK_OK)
		return st;
	if (kv->v.arr.n > (1u << 24)) {
		set_err(err, err_len, "%s: %llu merges, at most %u supported", KEY_MERGES,
			(unsigned long long)kv->v.arr.n, 1u << 24);
		return TOK_ERR_FORMAT;
	}
	v->n_merges = (uint32_t)kv->v.arr.n;
	for (uint32_t i = 0; i < v->n_merges; i++)
		total += (size_t)gguf_arr_str(kv, i).len;
	while (cap < (size_t)v->n_merges * 2)
		cap *= 2;
	v->merge_pool = malloc(total ? total : 1);
	v->merges = malloc((v->n_merges ? v->n_merges : 1) * sizeof(*v->merges));
	v->merge_slots = malloc(cap * sizeof(*v->merge_slots));
	if (!v->merge_pool || !v->merges || !v->merge_slots)
		return TOK_ERR_NOMEM;
	memset(v->merge_slots, 0xff, cap * sizeof(*v->merge_slots));
	v->merge_mask = cap - 1;
	for (uint32_t i = 0; i < v->n_merges; i++) {
		struct gguf_str m = gguf_arr_str(kv, i);
		const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', (size_t)m.len - 1) : NULL;
		size_t left, right, slot;

		if (!sp) {
			set_err(err, err_len, "%s: merge %u is \"%.*s\", not \"left right\"",
				KEY_MERGES, i, (int)(m.len > 32 ? 32 : m.len), m.ptr);
			return TOK_ERR_FORMAT;
		}
		left = (size_t)(sp - m.ptr);
		right = (size_t)m.len - left - 1;
		memcpy(v->merge_pool + used, m.ptr, left);
		memcpy(v->merge_pool + used + left, sp + 1, right);
		v->merges[i] = (struct merge){ .off = used, .left_len = (uint32_t)left,
					       .len = (uint32_t)(left + right) };
		slot = find_merge_slot(v, v->merge_pool + used, left + right, left);
		if (v->merge_slots[slot] == UINT32_MAX)
			v->merge_slots[slot] = i;
		used += left + right;
	}
	return TOK_OK;
}

/*
 * GPT-2's byte-to-unicode table: the printable bytes ! to ~, ¡ to ¬ and ® to ÿ stand for
 * themselves, the other 68 take the code points from U+0100 on, in byte order.
 */
static void build_byte_map(struct tok_vocab *v)
{
	uint32_t next = 0x100;

	for (int i = 0; i < BYTE_CP_END; i++)
		v->byte_dec[i] = -1;
	for (unsigned b = 0; b < 256; b++) {
		bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
		uint32_t cp = printable ? b : next++;

		if (cp < 0x80) {
			v->byte_enc[b][0] = (char)cp;
			v->byte_enc_len[b] = 1;
		} else {
			v->byte_enc[b][0] = (char)(0xc0 | (cp >> 6));
			v->byte_enc[b][1] = (char)(0x80 | (cp & 0x3f));
			v->byte_enc_len[b] = 2;
		}
		v->byte_dec[cp] = (int16_t)b;
	}
}

/* ---- end of generation ---- */

/*
 * The texts of the tokens that end a turn or a text in the families the runtime knows (it
 * finds them by text too: the files do not say). Besides the EOS id, these end a generation;
 * the runtime also makes them control tokens when the file typed them otherwise, which
 * changes how a text holding them is split, so this does the same.
 */
static const char *const eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|eom_id|>", "</s>", "<eos>",
	"<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
	"<end_of_utterance>", "<|return|>", "<|call|>",
	/* fill-in-the-middle padding, repository and file separators */
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
	"<reponame>", "<|file_sep|>",
};

/* Fill-in-the-middle markers: control tokens, but they do not end a generation. */
static const char *const fim_texts[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<|fim_suffix|>", "<fim-suffix>",
	"<fim_suffix>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
	"<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
	"<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
	"<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
};

static void force_control(struct tok_vocab *v, const char *const *texts, size_t n, bool eog)
{
	for (size_t i = 0; i < n; i++) {
		int32_t id = lookup(v, texts[i], strlen(texts[i]));

		if (id < 0)
			continue;
		v->tok[id].type = TOK_TYPE_CONTROL;
		v->tok[id].eog = eog;
	}
}

/*
 * The runtime gives Phi-3's special tokens (recognised by the model's general.name) the
 * attribute of swallowing the white space that follows them in a text, except <unk>, <s>
 * and <|endoftext|>: "<|user|>\nHi" is <|user|> then "Hi". No other family has it.
 */
static void set_strip_rules(struct tok_vocab *v, const struct gguf_file *f)
{
	static const char *const kept[] = { "<unk>", "<s>", "<|endoftext|>" };
	const struct gguf_kv *kv = gguf_find_kv(f, "general.name");
	char name[128];
	size_t n;
	int32_t id;

	if (!kv || kv->type != GGUF_TYPE_STRING)
		return;
	n = kv->v.str.len < sizeof(name) - 1 ? (size_t)kv->v.str.len : sizeof(name) - 1;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)kv->v.str.ptr[i]);
	name[n] = '\0';
	if (!strstr(name, "phi-3") && !strstr(name, "phi3"))
		return;
	for (uint32_t k = 0; k < v->n_special; k++)
		v->tok[v->special[k]].rstrip = true;
	if ((id = lookup(v, "</s>", 4)) >= 0)
		v->tok[id].rstrip = true;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if ((id = lookup(v, kept[i], strlen(kept[i]))) >= 0)
			v->tok[id].rstrip = false;
}

static void mark_eog(struct tok_vocab *v)
{
	force_control(v, fim_texts, sizeof(fim_texts) / sizeof(fim_texts[0]), false);
	force_control(v, eog_texts, sizeof(eog_texts) / sizeof(eog_texts[0]), true);
	if (v->eos >= 0)
		v->tok[v->eos].eog = true;
}

static enum tok_status load_tokens(struct tok_vocab *v, const struct gguf_file *f,
				   char *err, size_t err_len)
{
	const struct gguf_kv *kv;
	enum tok_status st = find_array(f, KEY_TOKENS, GGUF_TYPE_STRING, &kv, err, err_len);

	if (st != TOK_OK)
		return st;
	/* ids are int32_t throughout the API */
	if (kv->v.arr.n == 0 || kv->v.arr.n > INT32_MAX) {
		set_err(err, err_len, "%s: %llu tokens", KEY_TOKENS,
			(unsigned long long)kv->v.arr.n);
		return TOK_ERR_FORMAT;
	}
	v->n = (uint32_t)kv->v.arr.n;
	v->tok = calloc(v->n, sizeof(*v->tok));
	if (!v->tok)
		return TOK_ERR_NOMEM;
	return load_texts(v, kv);
}

static enum tok_status load_vocab(struct tok_vocab *v, const struct gguf_file *f,
				  char *err, size_t err_len)
{
	enum tok_status st = check_model(v, f, err, err_len);
	const bool bpe = v->kind == TOK_KIND_BPE;

	/* the pre-tokenizer first: a BPE vocabulary's add_bos default depends on it */
	if (st == TOK_OK && bpe)
		st = load_pre(v, f, err, err_len);
	if (st == TOK_OK)
		st = load_tokens(v, f, err, err_len);
	if (st == TOK_OK)
		st = load_scores(v, f, err, err_len);
	if (st == TOK_OK)
		st = load_types(v, f, err, err_len);
	if (st == TOK_OK)
		st = load_settings(v, f, err, err_len);
	if (st == TOK_OK && bpe)
		st = load_merges(v, f, err, err_len);
	if (st == TOK_OK)
		st = build_index(v);
	if (st == TOK_OK) {
		mark_eog(v); /* may retype tokens as control: before the special list */
		st = build_specials(v);
	}
	if (st == TOK_OK)
		set_strip_rules(v, f);
	if (st == TOK_ERR_NOMEM)
		set_err(err, err_len, "tokenizer: out of memory");
	if (st == TOK_OK) {
		build_byte_ids(v);
		build_byte_map(v);
	}
	return st;
}

enum tok_status tok_vocab_from_gguf(const struct gguf_file *f, struct tok_vocab **out,
				    char *err, size_t err_len)
{
	struct tok_vocab *v;
	enum tok_status st;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v) {
		set_err(err, err_len, "tokenizer: out of memory");
		return TOK_ERR_NOMEM;
	}
	st = load_vocab(v, f, err, err_len);
	if (st != TOK_OK) {
		tok_vocab_free(v);
		return st;
	}
	*out = v;
	return TOK_OK;
}

void tok_vocab_free(struct tok_vocab *v)
{
	if (!v)
		return;
	free(v->special);
	free(v->merge_slots);
	free(v->merges);
	free(v->merge_pool);
	free(v->slots);
	free(v->pool);
	free(v->tok);
	free(v);
}

uint32_t tok_n_tokens(const struct tok_vocab *v)
{
	return v->n;
}

int32_t tok_bos(const struct tok_vocab *v)
{
	return v->bos;
}

int32_t tok_eos(const struct tok_vocab *v)
{
	return v->eos;
}

bool tok_add_bos(const struct tok_vocab *v)
{
	return v->add_bos;
}

bool tok_add_eos(const struct tok_vocab *v)
{
	return v->add_eos;
}

bool tok_is_eog(const struct tok_vocab *v, int32_t id)
{
	return id >= 0 && (uint32_t)id < v->n && v->tok[id].eog;
}

const char *tok_model_name(const struct tok_vocab *v)
{
	return v->kind == TOK_KIND_SPM ? "llama" : "gpt2";
}

const char *tok_pre_name(const struct tok_vocab *v)
{
	return v->pre ? pretok_name(v->pre) : NULL;
}

const char *tok_token_text(const struct tok_vocab *v, int32_t id)
{
	if (id < 0 || (uint32_t)id >= v->n)
		return NULL;
	return v->tok[id].text;
}

/* ---- encoding ---- */

/* Ids go to a caller's buffer of cap entries; n keeps counting past it for *n_out. */
struct sink {
	int32_t *out;
	size_t cap;
	size_t n;
	bool no_token; /* a byte had no id: nothing to emit for it (tok_encode fails) */
};

static void emit(struct sink *s, int32_t id)
{
	if (s->n < s->cap)
		s->out[s->n] = id;
	s->n++;
}

/* A piece of the input: raw text (offset/length into it) or a special token. */
struct fragment {
	size_t off;
	size_t len;
	int32_t id; /* -1 for raw text */
};

struct frag_list {
	struct fragment *f;
	size_t n, cap;
};

static bool frag_push(struct frag_list *l, size_t off, size_t len, int32_t id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct fragment *f = realloc(l->f, cap * sizeof(*f));

		if (!f)
			return false;
		l->f = f;
		l->cap = cap;
	}
	l->f[l->n++] = (struct fragment){ .off = off, .len = len, .id = id };
	return true;
}

/* Splits one raw fragment at every (non-overlapping, leftmost) occurrence of token id. */
static bool split_fragment(const struct tok_vocab *v, const char *text,
			   const struct fragment *in, int32_t id, struct frag_list *out)
{
	const struct tok_entry *t = &v->tok[id];
	size_t off = in->off, end = in->off + in->len;

	while (end - off >= t->len) {
		const char *m = memmem(text + off, end - off, t->text, t->len);
		size_t at;

		if (!m)
			break;
		at = (size_t)(m - text);
		if (at > off && !frag_push(out, off, at - off, -1))
			return false;
		if (!frag_push(out, at, t->len, id))
			return false;
		off = at + t->len;
		while (t->rstrip && off < end && isspace((unsigned char)text[off]))
			off++;
	}
	return off == end || frag_push(out, off, end - off, -1);
}

/*
 * The runtime's partition: for each special token in turn (longest first), every raw
 * fragment is split at its occurrences. Two lists are swapped each pass, so a pass costs
 * no allocation once they have grown.
 */
static enum tok_status partition(const struct tok_vocab *v, const char *text, size_t len,
				 struct frag_list *cur, struct frag_list *tmp)
{
	if (!frag_push(cur, 0, len, -1))
		return TOK_ERR_NOMEM;
	for (uint32_t s = 0; s < v->n_special; s++) {
		struct frag_list swap;

		tmp->n = 0;
		for (size_t i = 0; i < cur->n; i++) {
			const struct fragment *fr = &cur->f[i];

			if (fr->id >= 0) {
				if (!frag_push(tmp, fr->off, fr->len, fr->id))
					return TOK_ERR_NOMEM;
			} else if (!split_fragment(v, text, fr, v->special[s], tmp)) {
				return TOK_ERR_NOMEM;
			}
		}
		swap = *cur;
		*cur = *tmp;
		*tmp = swap;
	}
	return TOK_OK;
}

#define NONE SIZE_MAX

/* A run of the escaped fragment; n == 0 once merged into its left neighbour. */
struct symbol {
	size_t off;
	size_t n;
	size_t prev, next;
};

/*
 * A candidate merge of symbols left and right into a token of that score: SentencePiece's
 * token score, or minus the BPE rank (exact in a float up to 2^24), so that both pop best
 * first with the same queue.
 */
struct bigram {
	float score;
	size_t left, right;
	size_t size; /* bytes of the merged text when the pair was queued */
};

/* Scratch memory of one tok_encode call, reused (and grown) from fragment to fragment. */
struct work {
	char *buf;
	size_t buf_cap;
	struct symbol *sym;
	size_t sym_cap;
	struct bigram *heap;
	size_t heap_n, heap_cap;
	struct pretok_work pre; /* byte-level BPE: the words of a fragment */
};

/* Whether a pops before b: higher score, then the leftmost pair (the runtime's order). */
static bool bigram_before(const struct bigram *a, const struct bigram *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	return a->left < b->left;
}

static bool heap_push(struct work *w, struct bigram b)
{
	size_t i;

	if (w->heap_n == w->heap_cap) {
		size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
		struct bigram *h = realloc(w->heap, cap * sizeof(*h));

		if (!h)
			return false;
		w->heap = h;
		w->heap_cap = cap;
	}
	i = w->heap_n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!bigram_before(&b, &w->heap[parent]))
			break;
		w->heap[i] = w->heap[parent];
		i = parent;
	}
	w->heap[i] = b;
	return true;
}

static struct bigram heap_pop(struct work *w)
{
	struct bigram top = w->heap[0];
	struct bigram last = w->heap[--w->heap_n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= w->heap_n)
			break;
		if (c + 1 < w->heap_n && bigram_before(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!bigram_before(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->heap_n)
		w->heap[i] = last;
	return top;
}

/* Queues the pair (left, right) when their joined text is a token (SPM) or a merge (BPE). */
static bool try_add_bigram(const struct tok_vocab *v, struct work *w, size_t left,
			   size_t right)
{
	const char *text;
	size_t size;
	float score;
	int32_t id;

	if (left == NONE || right == NONE)
		return true;
	/* neighbours are contiguous in buf, so the joined text starts at left */
	text = w->buf + w->sym[left].off;
	size = w->sym[left].n + w->sym[right].n;
	if (v->kind == TOK_KIND_BPE) {
		id = merge_rank(v, text, size, w->sym[left].n);
		score = -(float)id;
	} else {
		id = lookup(v, text, size);
		score = id >= 0 ? v->tok[id].score : 0;
	}
	if (id < 0)
		return true;
	return heap_push(w, (struct bigram){ .score = score, .left = left, .right = right,
					     .size = size });
}

/* Leading byte of a UTF-8 sequence -> its length; stray continuation bytes count as 1. */
static size_t utf8_len(uint8_t c)
{
	static const uint8_t lookup_len[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
						1, 1, 1, 1, 2, 2, 3, 4 };

	return lookup_len[c >> 4];
}

/* The length of the character at off, clipped at the end of the text as the runtime does. */
static size_t char_len(const char *buf, size_t off, size_t len)
{
	size_t cl = utf8_len((uint8_t)buf[off]);

	return cl < len - off ? cl : len - off;
}

/*
 * Makes room for the symbols of w->buf. Counted, not bounded by the input length: a lead
 * byte before a ' ' swallows part of the '▁', so "\xc0 " gives three symbols.
 */
static bool reserve_symbols(struct work *w, size_t len)
{
	size_t n = 0;
	struct symbol *sym;

	for (size_t off = 0; off < len; n++)
		off += char_len(w->buf, off, len);
	if (n <= w->sym_cap)
		return true;
	sym = realloc(w->sym, n * sizeof(*sym));
	if (!sym)
		return false;
	w->sym = sym;
	w->sym_cap = n;
	return true;
}

/* One symbol per UTF-8 character, linked in text order. */
static size_t split_chars(struct work *w, size_t len)
{
	size_t n = 0;

	for (size_t off = 0; off < len; n++) {
		size_t cl = char_len(w->buf, off, len);

		w->sym[n] = (struct symbol){ .off = off, .n = cl, .prev = n ? n - 1 : NONE,
					     .next = off + cl < len ? n + 1 : NONE };
		off += cl;
	}
	return n;
}

/* Merges the best-scoring pairs until no adjacent pair forms a token. */
static bool merge_symbols(const struct tok_vocab *v, struct work *w, size_t n_sym)
{
	w->heap_n = 0;
	for (size_t i = 1; i < n_sym; i++) {
		if (!try_add_bigram(v, w, i - 1, i))
			return false;
	}
	while (w->heap_n) {
		struct bigram b = heap_pop(w);
		struct symbol *l = &w->sym[b.left], *r = &w->sym[b.right];

		/* stale: one side was merged away or has grown since the pair was queued */
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next != NONE)
			w->sym[r->next].prev = b.left;
		if (!try_add_bigram(v, w, l->prev, b.left) ||
		    !try_add_bigram(v, w, b.left, l->next))
			return false;
	}
	return true;
}

static void emit_symbols(const struct tok_vocab *v, const struct work *w, struct sink *s)
{
	for (size_t i = 0; i != NONE; i = w->sym[i].next) {
		const struct symbol *sym = &w->sym[i];
		int32_t id = lookup(v, w->buf + sym->off, sym->n);

		if (id >= 0) {
			emit(s, id);
			continue;
		}
		for (size_t j = 0; j < sym->n; j++) {
			id = v->byte_id[(uint8_t)w->buf[sym->off + j]];
			if (id < 0)
				s->no_token = true;
			else
				emit(s, id);
		}
	}
}

/* Escapes the fragment into w->buf: optional leading space, then ' ' -> '▁'. */
static size_t escape(struct work *w, const char *text, size_t len, bool prefix)
{
	size_t n = 0;

	if (prefix) {
		memcpy(w->buf, SPACE_MARK, SPACE_MARK_LEN);
		n = SPACE_MARK_LEN;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(w->buf + n, SPACE_MARK, SPACE_MARK_LEN);
			n += SPACE_MARK_LEN;
		} else {
			w->buf[n++] = text[i];
		}
	}
	return n;
}

static bool encode_raw(const struct tok_vocab *v, struct work *w, const char *text,
		       size_t len, bool prefix, struct sink *s)
{
	size_t n = escape(w, text, len, prefix);
	size_t n_sym;

	if (!reserve_symbols(w, n))
		return false;
	n_sym = split_chars(w, n);
	if (!n_sym)
		return true;
	if (!merge_symbols(v, w, n_sym))
		return false;
	emit_symbols(v, w, s);
	return true;
}

/*
 * A merged BPE symbol that is no token (merges the vocabulary lacks the result of) goes out
 * character by character, i.e. byte by byte; a byte without a token is dropped, as in the
 * runtime (the unknown token of a byte-level vocabulary is often its end-of-text).
 */
static void emit_bpe_symbol(const struct tok_vocab *v, const char *text, size_t n,
			    struct sink *s)
{
	int32_t id = lookup(v, text, n);

	if (id >= 0) {
		emit(s, id);
		return;
	}
	for (size_t j = 0; j < n;) {
		size_t cl = char_len(text, j, n);

		id = lookup(v, text + j, cl);
		if (id >= 0)
			emit(s, id);
		j += cl;
	}
}

/* The shortest UTF-8 form of cp into out (4 bytes); U+FFFD for what is no code point. */
static size_t utf8_encode(uint32_t cp, uint8_t *out)
{
	if (cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * One word: the bytes of its characters (re-encoded, see the top of the file) as GPT-2
 * characters, one symbol per byte, merged by rank. A word of len bytes makes at most 3 * len
 * symbols (an invalid byte becomes the 3 of U+FFFD) of at most 2 bytes each.
 */
static bool encode_bpe_word(const struct tok_vocab *v, struct work *w, const char *word,
			    size_t len, struct sink *s)
{
	size_t n = 0, n_sym = 0;

	for (size_t i = 0; i < len;) {
		uint8_t bytes[4];
		uint32_t cp;
		size_t k;

		i += uni_decode(word + i, len - i, &cp);
		k = utf8_encode(cp, bytes);
		for (size_t j = 0; j < k; j++, n_sym++) {
			uint8_t b = bytes[j];

			w->sym[n_sym] = (struct symbol){ .off = n, .n = v->byte_enc_len[b],
							 .prev = n_sym ? n_sym - 1 : NONE,
							 .next = n_sym + 1 };
			memcpy(w->buf + n, v->byte_enc[b], v->byte_enc_len[b]);
			n += v->byte_enc_len[b];
		}
	}
	w->sym[n_sym - 1].next = NONE;
	/* Llama-3 style: a word that is a token as a whole is taken as it is */
	if (pretok_ignore_merges(v->pre)) {
		int32_t id = lookup(v, w->buf, n);

		if (id >= 0) {
			emit(s, id);
			return true;
		}
	}
	if (!merge_symbols(v, w, n_sym))
		return false;
	for (size_t i = 0; i != NONE; i = w->sym[i].next)
		emit_bpe_symbol(v, w->buf + w->sym[i].off, w->sym[i].n, s);
	return true;
}

static bool encode_bpe(const struct tok_vocab *v, struct work *w, const char *text,
		       size_t len, struct sink *s)
{
	struct pretok_work *pw = &w->pre;
	size_t start = 0, longest = 0;

	if (!pretok_split(v->pre, pw, text, len))
		return false;
	for (size_t i = 0; i < pw->n_words; i++) {
		size_t a = i ? pw->off[pw->ends[i - 1]] : 0, b = pw->off[pw->ends[i]];

		longest = b - a > longest ? b - a : longest;
	}
	/* room for the longest word: 3 symbols per byte at most, 2 bytes each */
	if (3 * longest > w->sym_cap) {
		struct symbol *sym = realloc(w->sym, 3 * longest * sizeof(*sym));

		if (!sym)
			return false;
		w->sym = sym;
		w->sym_cap = 3 * longest;
	}
	if (6 * longest > w->buf_cap) {
		char *buf = realloc(w->buf, 6 * longest);

		if (!buf)
			return false;
		w->buf = buf;
		w->buf_cap = 6 * longest;
	}
	for (size_t i = 0; i < pw->n_words; i++) {
		size_t end = pw->off[pw->ends[i]];

		if (!encode_bpe_word(v, w, text + start, end - start, s))
			return false;
		start = end;
	}
	return true;
}

static enum tok_status encode_fragments(const struct tok_vocab *v, const char *text,
					const struct frag_list *l, struct work *w,
					struct sink *s)
{
	/* the runtime prefixes a space at the start and after every special token */
	bool prev_special = true;

	for (size_t i = 0; i < l->n; i++) {
		const struct fragment *fr = &l->f[i];

		if (fr->id >= 0) {
			emit(s, fr->id);
			prev_special = true;
			continue;
		}
		if (v->kind == TOK_KIND_BPE) {
			if (!encode_bpe(v, w, text + fr->off, fr->len, s))
				return TOK_ERR_NOMEM;
			continue;
		}
		if (!encode_raw(v, w, text + fr->off, fr->len,
				v->add_space_prefix && prev_special, s))
			return TOK_ERR_NOMEM;
		prev_special = false;
	}
	return TOK_OK;
}

static enum tok_status work_init(struct work *w, size_t len)
{
	/* SentencePiece: every input byte may become 3 (' ' -> '▁'), plus the prefix (BPE
	 * grows it to its longest word's need in encode_bpe) */
	if (len > SIZE_MAX / 6 - 1)
		return TOK_ERR_NOMEM;
	w->buf_cap = 3 * (len + 1);
	w->buf = malloc(w->buf_cap);
	return w->buf ? TOK_OK : TOK_ERR_NOMEM;
}

enum tok_status tok_encode(const struct tok_vocab *v, const char *text, size_t len, bool add_bos,
			   int32_t *out, size_t cap, size_t *n_out)
{
	struct sink s = { .out = out, .cap = out ? cap : 0 };
	struct frag_list cur = { 0 }, tmp = { 0 };
	struct work w = { 0 };
	enum tok_status st = TOK_OK;

	*n_out = 0;
	if (!text && len)
		return TOK_ERR_FORMAT;
	if (add_bos && v->bos >= 0)
		emit(&s, v->bos);
	/* an empty text is no fragment at all, so it gets no space prefix either */
	if (len) {
		st = work_init(&w, len);
		if (st == TOK_OK)
			st = partition(v, text, len, &cur, &tmp);
		if (st == TOK_OK)
			st = encode_fragments(v, text, &cur, &w, &s);
	}
	if (st == TOK_OK && add_bos && v->add_eos && v->eos >= 0)
		emit(&s, v->eos);
	free(w.buf);
	free(w.sym);
	free(w.heap);
	pretok_work_free(&w.pre);
	free(cur.f);
	free(tmp.f);
	if (st != TOK_OK)
		return st;
	if (s.no_token)
		return TOK_ERR_NO_TOKEN;
	*n_out = s.n;
	return s.n > s.cap ? TOK_ERR_RANGE : TOK_OK;
}

/* ---- decoding ---- */

/* Copies what fits of src, always reporting the full length. */
static enum tok_status put_bytes(const char *src, size_t len, char *buf, size_t cap,
				 size_t *len_out)
{
	*len_out = len;
	if (len && buf && cap)
		memcpy(buf, src, len < cap ? len : cap);
	return len > cap ? TOK_ERR_RANGE : TOK_OK;
}

/* A token's text with every '▁' turned back into ' '. */
static enum tok_status put_unescaped(const struct tok_entry *t, char *buf, size_t cap,
				     size_t *len_out)
{
	size_t n = 0;

	for (size_t i = 0; i < t->len; n++) {
		char c = t->text[i];

		if (t->len - i >= SPACE_MARK_LEN &&
		    memcmp(t->text + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
			c = ' ';
			i += SPACE_MARK_LEN;
		} else {
			i++;
		}
		if (buf && n < cap)
			buf[n] = c;
	}
	*len_out = n;
	return n > cap ? TOK_ERR_RANGE : TOK_OK;
}

/*
 * A BPE token's text with every GPT-2 stand-in character turned back into its byte; other
 * characters (which byte-level vocabularies should not hold) are copied as they are.
 */
static enum tok_status put_bytes_decoded(const struct tok_vocab *v, const struct tok_entry *t,
					 char *buf, size_t cap, size_t *len_out)
{
	size_t n = 0;

	for (size_t i = 0; i < t->len;) {
		uint32_t cp;
		size_t cl = uni_decode(t->text + i, t->len - i, &cp);

		if (cp < BYTE_CP_END && v->byte_dec[cp] >= 0) {
			if (buf && n < cap)
				buf[n] = (char)v->byte_dec[cp];
			n++;
		} else {
			for (size_t j = 0; j < cl; j++, n++) {
				if (buf && n < cap)
					buf[n] = t->text[i + j];
			}
		}
		i += cl;
	}
	*len_out = n;
	return n > cap ? TOK_ERR_RANGE : TOK_OK;
}

enum tok_status tok_decode_token(const struct tok_vocab *v, int32_t id, char *buf, size_t cap,
				 size_t *len_out)
{
	const struct tok_entry *t;

	*len_out = 0;
	if (id < 0 || (uint32_t)id >= v->n)
		return TOK_ERR_RANGE;
	t = &v->tok[id];
	switch (t->type) {
	case TOK_TYPE_NORMAL:
		if (v->kind == TOK_KIND_BPE)
			return put_bytes_decoded(v, t, buf, cap, len_out);
		return put_unescaped(t, buf, cap, len_out);
	case TOK_TYPE_USER_DEFINED:
		/* added tokens are stored as plain text in both kinds */
		if (v->kind == TOK_KIND_BPE)
			return put_bytes(t->text, t->len, buf, cap, len_out);
		return put_unescaped(t, buf, cap, len_out);
	case TOK_TYPE_BYTE:
		return put_bytes((const char *)&t->byte, 1, buf, cap, len_out);
	default:
		/* control (BOS/EOS), unknown, unused and undefined tokens print as nothing */
		return TOK_OK;
	}
}
