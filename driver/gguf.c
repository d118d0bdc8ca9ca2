/* SPDX-License-Identifier: MIT */
/*
 * gguf.c - GGUF v2/v3 reader.
 *
 * The file is hostile until proven otherwise: it may come from anywhere and gguf_parse() is the
 * fuzzer's entry point. So every field is read through the reader below, which checks the
 * remaining bytes first, and every count is checked against what the remaining bytes could
 * possibly hold before anything is allocated from it. Multi-byte fields are read with memcpy
 * because neither the mapping nor the fields inside it are aligned.
 *
 * Error messages are built only when something fails (a 32000-token vocabulary must not pay for
 * formatting 32000 contexts), from the reader's notion of where it is: header, key i or tensor
 * info i, the name once it is known, and the array element indices on the way down.
 */
#include "gguf.h"
#include "hal/files.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deeper nesting has no use in GGUF and would let a small file drive deep recursion. */
#define MAX_ARRAY_DEPTH 8

/*
 * Smallest encodings, used to reject counts before allocating from them. Empty names count as
 * encodable so that a file ending in one gets the clearer "empty key" message.
 */
#define MIN_KV_BYTES 13     /* key length + value type + 1-byte value */
#define MIN_TENSOR_BYTES 32 /* name length + n_dims + ne[0] + type + offset */

/* ---- tensor types (ggml numbering) ---- */

struct tensor_type {
	const char *name;
	uint32_t block_size;  /* elements per block */
	uint32_t block_bytes; /* bytes per block */
};

/* Gaps are ids ggml retired; they stay unknown. */
static const struct tensor_type tensor_types[] = {
	[0] = { "F32", 1, 4 },
	[1] = { "F16", 1, 2 },
	[2] = { "Q4_0", 32, 18 },
	[3] = { "Q4_1", 32, 20 },
	[6] = { "Q5_0", 32, 22 },
	[7] = { "Q5_1", 32, 24 },
	[8] = { "Q8_0", 32, 34 },
	[9] = { "Q8_1", 32, 36 },
	[10] = { "Q2_K", 256, 84 },
	[11] = { "Q3_K", 256, 110 },
	[12] = { "Q4_K", 256, 144 },
	[13] = { "Q5_K", 256, 176 },
	[14] = { "Q6_K", 256, 210 },
	[15] = { "Q8_K", 256, 292 },
	[16] = { "IQ2_XXS", 256, 66 },
	[17] = { "IQ2_XS", 256, 74 },
	[18] = { "IQ3_XXS", 256, 98 },
	[19] = { "IQ1_S", 256, 50 },
	[20] = { "IQ4_NL", 32, 18 },
	[21] = { "IQ3_S", 256, 110 },
	[22] = { "IQ2_S", 256, 82 },
	[23] = { "IQ4_XS", 256, 136 },
	[24] = { "I8", 1, 1 },
	[25] = { "I16", 1, 2 },
	[26] = { "I32", 1, 4 },
	[27] = { "I64", 1, 8 },
	[28] = { "F64", 1, 8 },
	[29] = { "IQ1_M", 256, 56 },
	[30] = { "BF16", 1, 2 },
	[34] = { "TQ1_0", 256, 54 },
	[35] = { "TQ2_0", 256, 66 },
	[39] = { "MXFP4", 32, 17 },
};

static const struct tensor_type *tensor_type(uint32_t type)
{
	if (type >= sizeof(tensor_types) / sizeof(tensor_types[0]) || !tensor_types[type].name)
		return NULL;
	return &tensor_types[type];
}

bool gguf_tensor_type_block(uint32_t type, uint32_t *block_size, uint32_t *block_bytes)
{
	const struct tensor_type *tt = tensor_type(type);

	if (!tt)
		return false;
	*block_size = tt->block_size;
	*block_bytes = tt->block_bytes;
	return true;
}

const char *gguf_tensor_type_name(uint32_t type)
{
	/* Per thread, so that two loaders reporting at once do not garble each other. */
	static _Thread_local char unknown[24];
	const struct tensor_type *tt = tensor_type(type);

	if (tt)
		return tt->name;
	snprintf(unknown, sizeof(unknown), "type %" PRIu32, type);
	return unknown;
}

static bool tensor_type_supported(uint32_t type)
{
	return type == GGUF_TENSOR_F32 || type == GGUF_TENSOR_F16 ||
	       type == GGUF_TENSOR_Q8_0 || type == GGUF_TENSOR_Q4_0 || type == GGUF_TENSOR_Q4_K ||
	       type == GGUF_TENSOR_Q5_K || type == GGUF_TENSOR_Q6_K;
}

/* ---- value types ---- */

static const char *const value_type_names[GGUF_TYPE_COUNT] = {
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

const char *gguf_type_name(enum gguf_value_type type)
{
	if ((unsigned)type >= GGUF_TYPE_COUNT)
		return "UNKNOWN";
	return value_type_names[type];
}

/* Fixed size of a scalar, or the least bytes a STRING (length) or ARRAY (type, count) takes. */
static uint64_t value_min_size(uint32_t type)
{
	static const uint8_t size[GGUF_TYPE_COUNT] = {
		1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8,
	};
	return size[type];
}

static bool value_is_fixed(uint32_t type)
{
	return type != GGUF_TYPE_STRING && type != GGUF_TYPE_ARRAY;
}

static uint16_t load_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t load_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static float load_f32(const uint8_t *p)
{
	uint32_t u = load_u32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static double load_f64(const uint8_t *p)
{
	uint64_t u = load_u64(p);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* ---- name index: open addressing over the key / tensor name strings ---- */

struct name_index {
	uint64_t *slot;    /* entry index + 1; 0 is empty */
	uint64_t mask;
	const char *names; /* the first entry's gguf_str, then one every stride bytes */
	size_t stride;
};

/* Private part of struct gguf_file, behind its allocs pointer. */
struct gguf_priv {
	struct name_index keys;
	struct name_index tensors;
};

static uint64_t hash_bytes(const void *p, uint64_t len)
{
	const uint8_t *s = p;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	while (len--) {
		h ^= *s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static const struct gguf_str *index_name(const struct name_index *ix, uint64_t i)
{
	return (const struct gguf_str *)(ix->names + i * ix->stride);
}

static bool index_init(struct name_index *ix, uint64_t n, const void *names, size_t stride)
{
	uint64_t cap = 8;

	/* n is bounded by the file size, so the table is too; keep it at most half full. */
	while (cap < 2 * n)
		cap *= 2;
	ix->slot = calloc(cap, sizeof(*ix->slot));
	ix->mask = cap - 1;
	ix->names = names;
	ix->stride = stride;
	return ix->slot != NULL;
}

/* The slot holding name, or the empty slot where it would go. */
static uint64_t *index_probe(const struct name_index *ix, const char *p, uint64_t len)
{
	uint64_t h = hash_bytes(p, len);

	for (;; h++) {
		uint64_t *slot = &ix->slot[h & ix->mask];
		const struct gguf_str *s;

		if (!*slot)
			return slot;
		s = index_name(ix, *slot - 1);
		if (s->len == len && !memcmp(s->ptr, p, len))
			return slot;
	}
}

/* Returns the index of an earlier entry with the same name, or UINT64_MAX after adding i. */
static uint64_t index_add(struct name_index *ix, uint64_t i)
{
	const struct gguf_str *s = index_name(ix, i);
	uint64_t *slot = index_probe(ix, s->ptr, s->len);

	if (*slot)
		return *slot - 1;
	*slot = i + 1;
	return UINT64_MAX;
}

static uint64_t index_find(const struct name_index *ix, const char *name)
{
	uint64_t *slot;

	if (!ix->slot)
		return UINT64_MAX;
	slot = index_probe(ix, name, strlen(name));
	return *slot ? *slot - 1 : UINT64_MAX;
}

/* ---- the reader ---- */

enum section { SEC_HEADER, SEC_KV, SEC_TENSOR };

struct reader {
	const uint8_t *base;
	uint64_t size;
	uint64_t pos;
	char *err;
	size_t err_len;
	/* where we are, for messages */
	enum section sec;
	uint64_t index;
	uint64_t item_off;
	struct gguf_str name; /* ptr NULL until the name has been read */
	unsigned depth;
	uint64_t elem[MAX_ARRAY_DEPTH];
};

static uint64_t left(const struct reader *r)
{
	return r->size - r->pos;
}

static void appendf(char *buf, size_t len, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n += (size_t)k;
}

/* Names come from the file: cap their length and keep control bytes out of messages. */
static void printable_name(char *buf, size_t len, struct gguf_str s)
{
	size_t max = len - 4, i;

	for (i = 0; i < s.len && i < max; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (s.len > max) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
}

static void describe(const struct reader *r, char *buf, size_t len)
{
	char name[72];
	size_t n = 0;
	unsigned d;

	buf[0] = 0;
	if (r->name.ptr)
		printable_name(name, sizeof(name), r->name);
	switch (r->sec) {
	case SEC_HEADER:
		appendf(buf, len, &n, "header");
		break;
	case SEC_KV:
		appendf(buf, len, &n, "key %" PRIu64, r->index);
		if (r->name.ptr)
			appendf(buf, len, &n, " ('%s')", name);
		break;
	case SEC_TENSOR:
		appendf(buf, len, &n, "tensor info %" PRIu64, r->index);
		if (r->name.ptr)
			appendf(buf, len, &n, " ('%s')", name);
		break;
	}
	for (d = 0; d < r->depth; d++)
		appendf(buf, len, &n, " array element %" PRIu64, r->elem[d]);
}

static void set_err(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->err || !r->err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, r->err_len, fmt, ap);
	va_end(ap);
}

/* "<where>: <what>" */
static enum gguf_status fail(struct reader *r, enum gguf_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum gguf_status fail(struct reader *r, enum gguf_status st, const char *fmt, ...)
{
	char ctx[256], msg[256];
	va_list ap;

	describe(r, ctx, sizeof(ctx));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(r, "%s: %s", ctx, msg);
	return st;
}

/* "truncated at byte <off>: <where> <field>" */
static enum gguf_status truncated(struct reader *r, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum gguf_status truncated(struct reader *r, uint64_t off, const char *fmt, ...)
{
	char ctx[256], field[128];
	va_list ap;

	describe(r, ctx, sizeof(ctx));
	va_start(ap, fmt);
	vsnprintf(field, sizeof(field), fmt, ap);
	va_end(ap);
	set_err(r, "truncated at byte %" PRIu64 ": %s %s", off, ctx, field);
	return GGUF_ERR_FORMAT;
}

static enum gguf_status rd_u32(struct reader *r, uint32_t *v, const char *field)
{
	if (left(r) < 4)
		return truncated(r, r->pos, "%s", field);
	*v = load_u32(r->base + r->pos);
	r->pos += 4;
	return GGUF_OK;
}

static enum gguf_status rd_u64(struct reader *r, uint64_t *v, const char *field)
{
	if (left(r) < 8)
		return truncated(r, r->pos, "%s", field);
	*v = load_u64(r->base + r->pos);
	r->pos += 8;
	return GGUF_OK;
}

/* what: "key", "name", "string", ... */
static enum gguf_status rd_str(struct reader *r, struct gguf_str *s, const char *what)
{
	uint64_t len;

	if (left(r) < 8)
		return truncated(r, r->pos, "%s length", what);
	len = load_u64(r->base + r->pos);
	r->pos += 8;
	if (len > left(r))
		return truncated(r, r->pos, "%s (length %" PRIu64 ", only %" PRIu64 " bytes left)",
				 what, len, left(r));
	s->ptr = (const char *)r->base + r->pos;
	s->len = len;
	r->pos += len;
	return GGUF_OK;
}

/* A scalar of a fixed-size type, already known to be in bounds. */
static void load_scalar(struct gguf_kv *kv, uint32_t type, const uint8_t *p)
{
	switch (type) {
	case GGUF_TYPE_UINT8: kv->v.u64 = p[0]; break;
	case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)p[0]; break;
	case GGUF_TYPE_UINT16: kv->v.u64 = load_u16(p); break;
	case GGUF_TYPE_INT16: kv->v.i64 = (int16_t)load_u16(p); break;
	case GGUF_TYPE_UINT32: kv->v.u64 = load_u32(p); break;
	case GGUF_TYPE_INT32: kv->v.i64 = (int32_t)load_u32(p); break;
	case GGUF_TYPE_FLOAT32: kv->v.f64 = load_f32(p); break;
	case GGUF_TYPE_BOOL: kv->v.u64 = p[0] != 0; break;
	case GGUF_TYPE_UINT64: kv->v.u64 = load_u64(p); break;
	case GGUF_TYPE_INT64: kv->v.i64 = (int64_t)load_u64(p); break;
	case GGUF_TYPE_FLOAT64: kv->v.f64 = load_f64(p); break;
	}
}

static enum gguf_status read_array(struct reader *r, struct gguf_kv *kv);

/* The elements of a STRING array; records their offsets when offs is not NULL. */
static enum gguf_status read_str_elems(struct reader *r, uint64_t n, uint64_t *offs)
{
	uint64_t start = r->pos, i;
	unsigned d = r->depth++;
	struct gguf_str s;
	enum gguf_status st;

	for (i = 0; i < n; i++) {
		r->elem[d] = i;
		if (offs)
			offs[i] = r->pos - start;
		st = rd_str(r, &s, "string");
		if (st)
			return st;
	}
	r->depth = d;
	return GGUF_OK;
}

static enum gguf_status read_array_elems(struct reader *r, uint64_t n)
{
	unsigned d = r->depth;
	enum gguf_status st;
	uint64_t i;

	if (d + 1 >= MAX_ARRAY_DEPTH)
		return fail(r, GGUF_ERR_UNSUPPORTED, "arrays nested deeper than %d at byte %" PRIu64,
			    MAX_ARRAY_DEPTH, r->pos);
	r->depth++;
	for (i = 0; i < n; i++) {
		r->elem[d] = i;
		st = read_array(r, NULL);
		if (st)
			return st;
	}
	r->depth = d;
	return GGUF_OK;
}

/* An array value (element type, count, elements); kv is NULL for nested arrays. */
static enum gguf_status read_array(struct reader *r, struct gguf_kv *kv)
{
	uint64_t off = r->pos, n = 0, min;
	enum gguf_status st;
	uint32_t type = 0;

	st = rd_u32(r, &type, "array element type");
	if (st)
		return st;
	if (type >= GGUF_TYPE_COUNT)
		return fail(r, GGUF_ERR_FORMAT, "unknown array element type %" PRIu32 " at byte %"
			    PRIu64, type, off);
	off = r->pos;
	st = rd_u64(r, &n, "array count");
	if (st)
		return st;
	/* Before anything is sized from n: every element takes at least min bytes. */
	min = value_min_size(type);
	if (n > left(r) / min)
		return fail(r, GGUF_ERR_FORMAT, "array count %" PRIu64 " at byte %" PRIu64
			    " does not fit in the %" PRIu64 " bytes left (%s elements take %s%"
			    PRIu64 " bytes each)", n, off, left(r), gguf_type_name(type),
			    value_is_fixed(type) ? "" : "at least ", min);
	if (kv) {
		kv->v.arr.type = type;
		kv->v.arr.n = n;
		kv->v.arr.data = r->base + r->pos;
	}
	if (value_is_fixed(type)) {
		r->pos += n * min;
		return GGUF_OK;
	}
	if (type == GGUF_TYPE_ARRAY)
		return read_array_elems(r, n);
	if (kv && n) {
		/* n <= left / 8, so this is bounded by the file size. */
		uint64_t *offs = malloc(n * sizeof(*offs));

		if (!offs)
			return fail(r, GGUF_ERR_NOMEM, "out of memory for %" PRIu64 " strings", n);
		kv->v.arr.str_offs = offs;
		return read_str_elems(r, n, offs);
	}
	return read_str_elems(r, n, NULL);
}

static enum gguf_status read_value(struct reader *r, struct gguf_kv *kv)
{
	uint64_t size;

	if (kv->type == GGUF_TYPE_STRING)
		return rd_str(r, &kv->v.str, "string value");
	if (kv->type == GGUF_TYPE_ARRAY)
		return read_array(r, kv);
	size = value_min_size(kv->type);
	if (left(r) < size)
		return truncated(r, r->pos, "%s value", gguf_type_name(kv->type));
	load_scalar(kv, kv->type, r->base + r->pos);
	r->pos += size;
	return GGUF_OK;
}

static enum gguf_status read_kv(struct reader *r, struct gguf_file *f, struct gguf_priv *priv,
				uint64_t i)
{
	struct gguf_kv *kv = &f->kv[i];
	enum gguf_status st;
	uint64_t dup, off;
	uint32_t type = 0;

	r->sec = SEC_KV;
	r->index = i;
	r->item_off = r->pos;
	r->name.ptr = NULL;
	r->depth = 0;
	kv->offset = r->pos;
	st = rd_str(r, &kv->key, "key");
	if (st)
		return st;
	if (!kv->key.len)
		return fail(r, GGUF_ERR_FORMAT, "empty key at byte %" PRIu64, kv->offset);
	r->name = kv->key;
	dup = index_add(&priv->keys, i);
	if (dup != UINT64_MAX)
		return fail(r, GGUF_ERR_FORMAT, "duplicate key at byte %" PRIu64
			    " (first defined by key %" PRIu64 " at byte %" PRIu64 ")",
			    kv->offset, dup, f->kv[dup].offset);
	off = r->pos;
	st = rd_u32(r, &type, "value type");
	if (st)
		return st;
	if (type >= GGUF_TYPE_COUNT)
		return fail(r, GGUF_ERR_FORMAT, "unknown value type %" PRIu32 " at byte %" PRIu64,
			    type, off);
	/* Set before the value so that gguf_close() frees a half-read array's offsets. */
	kv->type = type;
	return read_value(r, kv);
}

static enum gguf_status read_alignment(struct reader *r, struct gguf_file *f,
				       const struct gguf_priv *priv)
{
	uint64_t i = index_find(&priv->keys, "general.alignment");
	const struct gguf_kv *kv;

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (i == UINT64_MAX)
		return GGUF_OK;
	kv = &f->kv[i];
	r->sec = SEC_KV;
	r->index = i;
	r->name = kv->key;
	r->depth = 0;
	if (kv->type != GGUF_TYPE_UINT32)
		return fail(r, GGUF_ERR_FORMAT, "alignment at byte %" PRIu64
			    " must be a UINT32, not %s", kv->offset, gguf_type_name(kv->type));
	if (!kv->v.u64 || (kv->v.u64 & (kv->v.u64 - 1)))
		return fail(r, GGUF_ERR_FORMAT, "alignment %" PRIu64 " at byte %" PRIu64
			    " is not a non-zero power of two", kv->v.u64, kv->offset);
	f->alignment = kv->v.u64;
	return GGUF_OK;
}

static enum gguf_status read_dims(struct reader *r, struct gguf_tensor_info *t)
{
	uint64_t off = r->pos, nelem = 1;
	enum gguf_status st;
	uint32_t d;

	st = rd_u32(r, &t->n_dims, "n_dims");
	if (st)
		return st;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return fail(r, GGUF_ERR_FORMAT, "n_dims %" PRIu32 " at byte %" PRIu64
			    " is not in 1..%d", t->n_dims, off, GGUF_MAX_DIMS);
	for (d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (d = 0; d < t->n_dims; d++) {
		off = r->pos;
		if (left(r) < 8)
			return truncated(r, off, "dimension %" PRIu32, d);
		st = rd_u64(r, &t->ne[d], "dimension");
		if (st)
			return st;
		if (!t->ne[d])
			return fail(r, GGUF_ERR_FORMAT, "dimension %" PRIu32 " at byte %" PRIu64
				    " is zero", d, off);
		/* ggml counts elements in int64_t */
		if (t->ne[d] > (uint64_t)INT64_MAX / nelem)
			return fail(r, GGUF_ERR_FORMAT, "dimension %" PRIu32 " at byte %" PRIu64
				    " overflows the element count", d, off);
		nelem *= t->ne[d];
	}
	return GGUF_OK;
}

/* Type and byte size; the element count is known not to overflow. */
static enum gguf_status read_type(struct reader *r, struct gguf_tensor_info *t)
{
	const struct tensor_type *tt;
	uint64_t off = r->pos, size;
	enum gguf_status st;
	char name[72];
	uint32_t d;

	st = rd_u32(r, &t->type, "type");
	if (st)
		return st;
	if (!tensor_type_supported(t->type)) {
		printable_name(name, sizeof(name), t->name);
		/* gguf_tensor_type_name() already says "type 99" for unknown ids */
		set_err(r, "tensor '%s' (tensor info %" PRIu64 " at byte %" PRIu64 "): %s%s "
			"is not supported (supported: F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)", name, r->index,
			t->info_offset, tensor_type(t->type) ? "type " : "unknown ",
			gguf_tensor_type_name(t->type));
		return GGUF_ERR_UNSUPPORTED;
	}
	tt = tensor_type(t->type);
	if (t->ne[0] % tt->block_size)
		return fail(r, GGUF_ERR_FORMAT, "dimension 0 (%" PRIu64 ") is not a multiple of the "
			    "%s block size %" PRIu32 " (type at byte %" PRIu64 ")", t->ne[0],
			    tt->name, tt->block_size, off);
	size = t->ne[0] / tt->block_size * tt->block_bytes;
	if (t->ne[0] / tt->block_size > UINT64_MAX / tt->block_bytes)
		goto overflow;
	for (d = 1; d < t->n_dims; d++) {
		if (size > UINT64_MAX / t->ne[d])
			goto overflow;
		size *= t->ne[d];
	}
	t->size = size;
	return GGUF_OK;
overflow:
	return fail(r, GGUF_ERR_FORMAT, "byte size of the %s data overflows (type at byte %"
		    PRIu64 ")", tt->name, off);
}

static enum gguf_status read_tensor_info(struct reader *r, struct gguf_file *f,
					 struct gguf_priv *priv, uint64_t i)
{
	struct gguf_tensor_info *t = &f->tensors[i];
	enum gguf_status st;
	uint64_t dup, off;

	r->sec = SEC_TENSOR;
	r->index = i;
	r->item_off = r->pos;
	r->name.ptr = NULL;
	r->depth = 0;
	t->info_offset = r->pos;
	st = rd_str(r, &t->name, "name");
	if (st)
		return st;
	if (!t->name.len)
		return fail(r, GGUF_ERR_FORMAT, "empty name at byte %" PRIu64, t->info_offset);
	/* the name is looked up and printed as a C string: a NUL in it would hide the rest */
	if (memchr(t->name.ptr, 0, t->name.len))
		return fail(r, GGUF_ERR_FORMAT, "tensor name with a NUL byte at byte %" PRIu64,
			    t->info_offset);
	r->name = t->name;
	dup = index_add(&priv->tensors, i);
	if (dup != UINT64_MAX)
		return fail(r, GGUF_ERR_FORMAT, "duplicate tensor name at byte %" PRIu64
			    " (first used by tensor info %" PRIu64 " at byte %" PRIu64 ")",
			    t->info_offset, dup, f->tensors[dup].info_offset);
	st = read_dims(r, t);
	if (!st)
		st = read_type(r, t);
	if (st)
		return st;
	off = r->pos;
	st = rd_u64(r, &t->offset, "data offset");
	if (st)
		return st;
	if (t->offset % f->alignment)
		return fail(r, GGUF_ERR_FORMAT, "data offset %" PRIu64 " at byte %" PRIu64
			    " is not a multiple of the alignment %" PRIu64, t->offset, off,
			    f->alignment);
	return GGUF_OK;
}

/* Once the data section's start is known: each tensor's bytes must lie inside the file. */
static enum gguf_status place_tensor(struct reader *r, struct gguf_file *f, uint64_t i)
{
	struct gguf_tensor_info *t = &f->tensors[i];
	uint64_t start, avail = f->size - f->data_offset;

	r->sec = SEC_TENSOR;
	r->index = i;
	r->name = t->name;
	r->depth = 0;
	if (f->data_offset > f->size || t->offset > avail || t->size > avail - t->offset) {
		start = f->data_offset + t->offset; /* may wrap: only for the message */
		return fail(r, GGUF_ERR_FORMAT, "%" PRIu64 " data bytes at byte %" PRIu64
			    " (data offset %" PRIu64 ") extend past the end of the file at byte %"
			    PRIu64, t->size, start, t->offset, f->size);
	}
	t->data = f->base + f->data_offset + t->offset;
	return GGUF_OK;
}

struct span {
	uint64_t lo, hi, index;
};

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	/* the later tensor of two at one offset is the one named as overlapping */
	if (x->lo != y->lo)
		return (x->lo > y->lo) - (x->lo < y->lo);
	return (x->index > y->index) - (x->index < y->index);
}

/*
 * No two tensors share data bytes: a file whose tensors overlap was not written by a
 * converter (and one that points them all at one offset multiplies the work of a load).
 */
static enum gguf_status check_overlaps(struct reader *r, struct gguf_file *f)
{
	struct span *s = malloc(sizeof(*s) * (f->n_tensors ? f->n_tensors : 1));
	uint64_t n = 0;
	enum gguf_status st = GGUF_OK;

	if (!s)
		return fail(r, GGUF_ERR_NOMEM, "out of memory checking %" PRIu64 " tensors",
			    f->n_tensors);
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if (f->tensors[i].size)
			s[n++] = (struct span){ f->tensors[i].offset,
						f->tensors[i].offset + f->tensors[i].size, i };
	qsort(s, n, sizeof(*s), by_start);
	for (uint64_t k = 1; k < n && !st; k++) {
		if (s[k].lo >= s[k - 1].hi)
			continue;
		const struct gguf_tensor_info *prev = &f->tensors[s[k - 1].index];
		char name[96];

		printable_name(name, sizeof(name), prev->name);
		r->sec = SEC_TENSOR;
		r->index = s[k].index;
		r->name = f->tensors[s[k].index].name;
		st = fail(r, GGUF_ERR_FORMAT, "data offsets %" PRIu64 "..%" PRIu64 " overlap tensor "
			  "'%s' (%" PRIu64 "..%" PRIu64 ")", s[k].lo, s[k].hi, name, s[k - 1].lo,
			  s[k - 1].hi);
	}
	free(s);
	return st;
}

static enum gguf_status read_header(struct reader *r, struct gguf_file *f)
{
	uint32_t version = 0;
	enum gguf_status st;

	r->sec = SEC_HEADER;
	if (left(r) < 4)
		return truncated(r, 0, "magic");
	if (memcmp(r->base, "GGUF", 4))
		return fail(r, GGUF_ERR_FORMAT, "bad magic at byte 0: %02x %02x %02x %02x is not "
			    "'GGUF'", r->base[0], r->base[1], r->base[2], r->base[3]);
	r->pos = 4;
	st = rd_u32(r, &version, "version");
	if (st)
		return st;
	if (version == 1)
		return fail(r, GGUF_ERR_UNSUPPORTED, "GGUF version 1 (32-bit counts) at byte 4 is "
			    "not supported, only versions 2 and 3; re-convert the model");
	/* A big-endian file has the version bytes the other way round. */
	if (version != 2 && version != 3) {
		uint32_t swapped = __builtin_bswap32(version);

		if (swapped >= 1 && swapped <= 3)
			return fail(r, GGUF_ERR_UNSUPPORTED, "big-endian GGUF (version field at "
				    "byte 4 reads 0x%08" PRIx32 ") is not supported", version);
		return fail(r, GGUF_ERR_UNSUPPORTED, "GGUF version %" PRIu32 " at byte 4 is not "
			    "supported, only versions 2 and 3", version);
	}
	f->version = version;
	st = rd_u64(r, &f->n_tensors, "tensor count");
	if (!st)
		st = rd_u64(r, &f->n_kv, "key/value count");
	if (st)
		return st;
	/* Hostile counts die here, before the arrays sized from them are allocated. */
	if (f->n_kv > left(r) / MIN_KV_BYTES)
		return fail(r, GGUF_ERR_FORMAT, "key/value count %" PRIu64 " at byte 16 cannot fit "
			    "in the %" PRIu64 " bytes left", f->n_kv, left(r));
	if (f->n_tensors > (left(r) - f->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
		return fail(r, GGUF_ERR_FORMAT, "tensor count %" PRIu64 " at byte 8 cannot fit in "
			    "the %" PRIu64 " bytes left", f->n_tensors, left(r));
	return GGUF_OK;
}

static enum gguf_status alloc_tables(struct reader *r, struct gguf_file *f,
				     struct gguf_priv *priv)
{
	if (f->n_kv && !(f->kv = calloc(f->n_kv, sizeof(*f->kv))))
		goto nomem;
	if (f->n_tensors && !(f->tensors = calloc(f->n_tensors, sizeof(*f->tensors))))
		goto nomem;
	if (!index_init(&priv->keys, f->n_kv, f->kv, sizeof(*f->kv)) ||
	    !index_init(&priv->tensors, f->n_tensors, f->tensors, sizeof(*f->tensors)))
		goto nomem;
	return GGUF_OK;
nomem:
	return fail(r, GGUF_ERR_NOMEM, "out of memory for %" PRIu64 " keys and %" PRIu64
		    " tensors", f->n_kv, f->n_tensors);
}

static enum gguf_status parse(struct reader *r, struct gguf_file *f, struct gguf_priv *priv)
{
	enum gguf_status st;
	uint64_t i;

	st = read_header(r, f);
	if (!st)
		st = alloc_tables(r, f, priv);
	for (i = 0; !st && i < f->n_kv; i++)
		st = read_kv(r, f, priv, i);
	if (!st)
		st = read_alignment(r, f, priv);
	for (i = 0; !st && i < f->n_tensors; i++)
		st = read_tensor_info(r, f, priv, i);
	if (st)
		return st;
	/* pos <= size, so this cannot wrap for any real size */
	f->data_offset = (r->pos + f->alignment - 1) & ~(f->alignment - 1);
	if (f->data_offset < r->pos) {
		r->sec = SEC_HEADER;
		return fail(r, GGUF_ERR_FORMAT, "data section start overflows at byte %" PRIu64,
			    r->pos);
	}
	for (i = 0; !st && i < f->n_tensors; i++)
		st = place_tensor(r, f, i);
	return st ? st : check_overlaps(r, f);
}

enum gguf_status gguf_parse(const void *data, size_t size, struct gguf_file **out,
			    char *err, size_t err_len)
{
	struct reader r = {
		.base = data, .size = size, .err = err, .err_len = err_len,
	};
	struct gguf_file *f = calloc(1, sizeof(*f));
	struct gguf_priv *priv = calloc(1, sizeof(*priv));
	enum gguf_status st;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	if (!f || !priv) {
		free(f);
		free(priv);
		set_err(&r, "out of memory");
		return GGUF_ERR_NOMEM;
	}
	f->allocs = priv;
	f->base = data;
	f->size = size;
	st = parse(&r, f, priv);
	if (st) {
		gguf_close(f);
		return st;
	}
	*out = f;
	return GGUF_OK;
}

static enum gguf_status open_err(char *err, size_t err_len, const char *path, const char *what,
				 int errnum)
{
	if (err && err_len)
		snprintf(err, err_len, "%s: %s: %s", path, what, strerror(errnum));
	return GGUF_ERR_IO;
}

enum gguf_status gguf_adopt(void *map, size_t size, const char *name, struct gguf_file **out,
			    char *err, size_t err_len)
{
	char msg[512];
	enum gguf_status st = gguf_parse(map, size, out, msg, sizeof(msg));

	if (st) {
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", name, msg);
		return st;
	}
	(*out)->mapped = map != NULL;
	return GGUF_OK;
}

enum gguf_status gguf_open(const char *path, struct gguf_file **out, char *err, size_t err_len)
{
	enum gguf_status st;
	void *map = NULL;
	size_t size;
	/* a FIFO or device is refused without blocking (hal/files.h) */
	int fd = hal_file_open_regular(path, &size, err, err_len);

	*out = NULL;
	if (fd < 0)
		return GGUF_ERR_IO;
	/* mmap refuses empty mappings; an empty file is simply truncated at byte 0. */
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			st = open_err(err, err_len, path, "cannot mmap", errno);
			close(fd);
			return st;
		}
	}
	close(fd);
	st = gguf_adopt(map, size, path, out, err, err_len);
	if (st && map)
		munmap(map, size);
	return st;
}

void gguf_close(struct gguf_file *f)
{
	struct gguf_priv *priv;
	uint64_t i;

	if (!f)
		return;
	priv = f->allocs;
	for (i = 0; f->kv && i < f->n_kv; i++)
		if (f->kv[i].type == GGUF_TYPE_ARRAY)
			free((void *)f->kv[i].v.arr.str_offs);
	free(f->kv);
	free(f->tensors);
	if (priv) {
		free(priv->keys.slot);
		free(priv->tensors.slot);
		free(priv);
	}
	if (f->mapped)
		munmap((void *)f->base, f->size);
	free(f);
}

/* ---- lookups ---- */

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
	const struct gguf_priv *priv;
	uint64_t i;

	if (!f || !key)
		return NULL;
	priv = f->allocs;
	i = index_find(&priv->keys, key);
	return i == UINT64_MAX ? NULL : &f->kv[i];
}

const struct gguf_tensor_info *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	const struct gguf_priv *priv;
	uint64_t i;

	if (!f || !name)
		return NULL;
	priv = f->allocs;
	i = index_find(&priv->tensors, name);
	return i == UINT64_MAX ? NULL : &f->tensors[i];
}

static bool type_is_unsigned(enum gguf_value_type t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
	       t == GGUF_TYPE_UINT64;
}

static bool type_is_signed(enum gguf_value_type t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
	       t == GGUF_TYPE_INT64;
}

static enum gguf_status find_typed(const struct gguf_file *f, const char *key,
				   const struct gguf_kv **kv)
{
	*kv = gguf_find_kv(f, key);
	return *kv ? GGUF_OK : GGUF_ERR_NOT_FOUND;
}

enum gguf_status gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
	const struct gguf_kv *kv;
	enum gguf_status st = find_typed(f, key, &kv);

	if (st)
		return st;
	if (type_is_unsigned(kv->type) && kv->v.u64 <= UINT32_MAX) {
		*out = (uint32_t)kv->v.u64;
		return GGUF_OK;
	}
	if (type_is_signed(kv->type) && kv->v.i64 >= 0 && kv->v.i64 <= UINT32_MAX) {
		*out = (uint32_t)kv->v.i64;
		return GGUF_OK;
	}
	return GGUF_ERR_TYPE;
}

enum gguf_status gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
	const struct gguf_kv *kv;
	enum gguf_status st = find_typed(f, key, &kv);

	if (st)
		return st;
	if (kv->type == GGUF_TYPE_FLOAT32) {
		*out = (float)kv->v.f64;
		return GGUF_OK;
	}
	/* a finite double beyond float range does not fit */
	if (kv->type == GGUF_TYPE_FLOAT64 && !(isfinite(kv->v.f64) && fabs(kv->v.f64) > FLT_MAX)) {
		*out = (float)kv->v.f64;
		return GGUF_OK;
	}
	return GGUF_ERR_TYPE;
}

enum gguf_status gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
	const struct gguf_kv *kv;
	enum gguf_status st = find_typed(f, key, &kv);

	if (st)
		return st;
	if (kv->type != GGUF_TYPE_BOOL)
		return GGUF_ERR_TYPE;
	*out = kv->v.u64 != 0;
	return GGUF_OK;
}

enum gguf_status gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
	const struct gguf_kv *kv;
	enum gguf_status st = find_typed(f, key, &kv);

	if (st)
		return st;
	if (kv->type != GGUF_TYPE_STRING)
		return GGUF_ERR_TYPE;
	*out = kv->v.str;
	return GGUF_OK;
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
	size_t n = strlen(c);

	return s.len == n && (!n || !memcmp(s.ptr, c, n));
}

/* ---- array elements ---- */

struct gguf_str gguf_arr_str(const struct gguf_kv *kv, uint64_t i)
{
	struct gguf_str s = { NULL, 0 };
	const uint8_t *p = kv->v.arr.data;
	uint64_t k;

	if (kv->v.arr.type != GGUF_TYPE_STRING || i >= kv->v.arr.n)
		return s;
	if (kv->v.arr.str_offs) {
		p += kv->v.arr.str_offs[i];
	} else {
		/* nested arrays have no offsets; they were validated, so walking is safe */
		for (k = 0; k < i; k++)
			p += 8 + load_u64(p);
	}
	s.len = load_u64(p);
	s.ptr = (const char *)p + 8;
	return s;
}

int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i)
{
	const uint8_t *p = kv->v.arr.data;
	struct gguf_kv tmp = { 0 };
	uint32_t t = kv->v.arr.type;

	if (i >= kv->v.arr.n || !value_is_fixed(t) || t == GGUF_TYPE_FLOAT32 ||
	    t == GGUF_TYPE_FLOAT64)
		return 0;
	load_scalar(&tmp, t, p + i * value_min_size(t));
	return type_is_signed(t) ? tmp.v.i64 : (int64_t)tmp.v.u64;
}

float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i)
{
	const uint8_t *p = kv->v.arr.data;
	uint32_t t = kv->v.arr.type;

	if (i >= kv->v.arr.n)
		return 0.0f;
	if (t == GGUF_TYPE_FLOAT32)
		return load_f32(p + i * 4);
	if (t == GGUF_TYPE_FLOAT64)
		return (float)load_f64(p + i * 8);
	return (float)gguf_arr_int(kv, i);
}
