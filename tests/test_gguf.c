/* SPDX-License-Identifier: MIT */
/*
 * test_gguf.c - the GGUF reader and writer: round trips through the writer, the real llama
 * vocabulary, and hand-built malformed files. Every malformed file is parsed from a heap copy
 * of exactly its size so that AddressSanitizer catches any read past its end.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/gguf.h"
#include "hal/files.h"
#include "testutil.h"

/* ---- a byte builder for hand-made files ---- */

struct bb {
	uint8_t *p;
	size_t len, cap;
};

static void bb_put(struct bb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void bb_u8(struct bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u16(struct bb *b, uint16_t v) { bb_put(b, &v, 2); }
static void bb_u32(struct bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(struct bb *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_f32(struct bb *b, float v) { bb_put(b, &v, 4); }
static void bb_f64(struct bb *b, double v) { bb_put(b, &v, 8); }

static void bb_str(struct bb *b, const char *s)
{
	bb_u64(b, strlen(s));
	bb_put(b, s, strlen(s));
}

static void bb_key(struct bb *b, const char *key, enum gguf_value_type type)
{
	bb_str(b, key);
	bb_u32(b, type);
}

static void bb_pad(struct bb *b, size_t align)
{
	while (b->len % align)
		bb_u8(b, 0);
}

static void bb_header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	bb_put(b, "GGUF", 4);
	bb_u32(b, version);
	bb_u64(b, n_tensors);
	bb_u64(b, n_kv);
}

static void bb_free(struct bb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

struct tspec {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type;
	uint64_t offset;
};

static void bb_tensor(struct bb *b, const struct tspec *t)
{
	uint32_t d;

	bb_str(b, t->name);
	bb_u32(b, t->n_dims);
	for (d = 0; d < t->n_dims; d++)
		bb_u64(b, d < 4 ? t->ne[d] : 1);
	bb_u32(b, t->type);
	bb_u64(b, t->offset);
}

/* One key, the tensors, padding to 32 and data_len zero bytes of tensor data. */
static void build(struct bb *b, uint32_t version, const struct tspec *t, size_t nt,
		  size_t data_len)
{
	size_t i;

	bb_header(b, version, nt, 1);
	bb_key(b, "general.architecture", GGUF_TYPE_STRING);
	bb_str(b, "llama");
	for (i = 0; i < nt; i++)
		bb_tensor(b, &t[i]);
	bb_pad(b, 32);
	for (i = 0; i < data_len; i++)
		bb_u8(b, (uint8_t)i);
}

/* A file with one tensor t and enough data for any sane t. */
static void build1(struct bb *b, struct tspec t)
{
	build(b, 3, &t, 1, 4096);
}

/* ---- parse helpers ---- */

struct parsed {
	struct gguf_file *f;
	void *copy;
};

static enum gguf_status parse_exact(const void *data, size_t len, struct parsed *out, char *err,
				    size_t err_len)
{
	out->copy = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(out->copy);
	if (len)
		memcpy(out->copy, data, len);
	out->f = (struct gguf_file *)1; /* must be reset to NULL on failure */
	return gguf_parse(out->copy, len, &out->f, err, err_len);
}

static void parsed_free(struct parsed *p)
{
	gguf_close(p->f);
	free(p->copy);
}

static void expect_fail_(const void *data, size_t len, enum gguf_status want,
			 const char *substr, int line)
{
	struct parsed p;
	char err[512];
	enum gguf_status st = parse_exact(data, len, &p, err, sizeof(err));

	ck_assert_msg(st == want, "line %d: status %d, want %d (%s)", line, st, want, err);
	ck_assert_msg(p.f == NULL, "line %d: *out not NULL on error", line);
	ck_assert_msg(strstr(err, substr), "line %d: '%s' not in message '%s'", line, substr, err);
	free(p.copy);
}

#define expect_fail(b, want, substr) expect_fail_((b)->p, (b)->len, want, substr, __LINE__)

static void expect_ok_(struct bb *b, struct parsed *p, int line)
{
	char err[512];
	enum gguf_status st = parse_exact(b->p, b->len, p, err, sizeof(err));

	ck_assert_msg(st == GGUF_OK, "line %d: status %d (%s)", line, st, err);
}

#define expect_ok(b, p) expect_ok_(b, p, __LINE__)

/* ---- the round trip file ---- */

static const char *const arr_strs[] = { "a", "", "ccc" };

/* A v3 file with every value type, built by hand: the writer's setters cover only four. */
static void build_all_types(struct bb *b)
{
	size_t i;

	bb_header(b, 3, 0, 18);
	bb_key(b, "t.u8", GGUF_TYPE_UINT8); bb_u8(b, 200);
	bb_key(b, "t.i8", GGUF_TYPE_INT8); bb_u8(b, (uint8_t)-100);
	bb_key(b, "t.u16", GGUF_TYPE_UINT16); bb_u16(b, 60000);
	bb_key(b, "t.i16", GGUF_TYPE_INT16); bb_u16(b, (uint16_t)-30000);
	bb_key(b, "t.u32", GGUF_TYPE_UINT32); bb_u32(b, 4000000000u);
	bb_key(b, "t.i32", GGUF_TYPE_INT32); bb_u32(b, (uint32_t)-2000000000);
	bb_key(b, "t.f32", GGUF_TYPE_FLOAT32); bb_f32(b, 1.5f);
	bb_key(b, "t.bool", GGUF_TYPE_BOOL); bb_u8(b, 1);
	bb_key(b, "t.str", GGUF_TYPE_STRING); bb_str(b, "h\xc3\xa9llo");
	bb_key(b, "t.u64", GGUF_TYPE_UINT64); bb_u64(b, (1ull << 40) + 3);
	bb_key(b, "t.i64", GGUF_TYPE_INT64); bb_u64(b, (uint64_t)-(1ll << 40));
	bb_key(b, "t.f64", GGUF_TYPE_FLOAT64); bb_f64(b, 2.25);
	bb_key(b, "t.arr_i32", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_INT32); bb_u64(b, 3);
	bb_u32(b, 1); bb_u32(b, (uint32_t)-2); bb_u32(b, 3);
	bb_key(b, "t.arr_u8", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_UINT8); bb_u64(b, 5);
	for (i = 0; i < 5; i++)
		bb_u8(b, (uint8_t)(250 + i));
	bb_key(b, "t.arr_f32", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_FLOAT32); bb_u64(b, 2);
	bb_f32(b, 0.5f); bb_f32(b, -1.25f);
	bb_key(b, "t.arr_str", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_STRING); bb_u64(b, 3);
	for (i = 0; i < 3; i++)
		bb_str(b, arr_strs[i]);
	bb_key(b, "t.arr_nested", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_ARRAY); bb_u64(b, 2);
	bb_u32(b, GGUF_TYPE_INT16); bb_u64(b, 2); bb_u16(b, 7); bb_u16(b, (uint16_t)-7);
	bb_u32(b, GGUF_TYPE_STRING); bb_u64(b, 2); bb_str(b, "x"); bb_str(b, "yy");
	bb_key(b, "t.arr_empty", GGUF_TYPE_ARRAY);
	bb_u32(b, GGUF_TYPE_STRING); bb_u64(b, 0);
}

static const struct gguf_kv *must_kv(const struct gguf_file *f, const char *key,
				     enum gguf_value_type type)
{
	const struct gguf_kv *kv = gguf_find_kv(f, key);

	ck_assert_msg(kv != NULL, "key %s missing", key);
	ck_assert_msg(kv->type == type, "key %s: type %s, want %s", key,
		      gguf_type_name(kv->type), gguf_type_name(type));
	return kv;
}

static void check_all_types(const struct gguf_file *f)
{
	const struct gguf_kv *kv;
	struct gguf_str s;
	uint64_t i;
	uint32_t u;
	float x;
	bool bl;

	ck_assert_uint_eq(must_kv(f, "t.u8", GGUF_TYPE_UINT8)->v.u64, 200);
	ck_assert_int_eq(must_kv(f, "t.i8", GGUF_TYPE_INT8)->v.i64, -100);
	ck_assert_uint_eq(must_kv(f, "t.u16", GGUF_TYPE_UINT16)->v.u64, 60000);
	ck_assert_int_eq(must_kv(f, "t.i16", GGUF_TYPE_INT16)->v.i64, -30000);
	ck_assert_uint_eq(must_kv(f, "t.u32", GGUF_TYPE_UINT32)->v.u64, 4000000000u);
	ck_assert_int_eq(must_kv(f, "t.i32", GGUF_TYPE_INT32)->v.i64, -2000000000);
	ck_assert(must_kv(f, "t.f32", GGUF_TYPE_FLOAT32)->v.f64 == 1.5);
	ck_assert_uint_eq(must_kv(f, "t.bool", GGUF_TYPE_BOOL)->v.u64, 1);
	ck_assert(gguf_str_eq(must_kv(f, "t.str", GGUF_TYPE_STRING)->v.str, "h\xc3\xa9llo"));
	ck_assert_uint_eq(must_kv(f, "t.u64", GGUF_TYPE_UINT64)->v.u64, (1ull << 40) + 3);
	ck_assert_int_eq(must_kv(f, "t.i64", GGUF_TYPE_INT64)->v.i64, -(1ll << 40));
	ck_assert(must_kv(f, "t.f64", GGUF_TYPE_FLOAT64)->v.f64 == 2.25);

	ck_assert_int_eq(gguf_get_u32(f, "t.u8", &u), GGUF_OK);
	ck_assert_uint_eq(u, 200);
	ck_assert_int_eq(gguf_get_u32(f, "t.u32", &u), GGUF_OK);
	ck_assert_uint_eq(u, 4000000000u);
	ck_assert_int_eq(gguf_get_f32(f, "t.f64", &x), GGUF_OK);
	ck_assert(x == 2.25f);
	ck_assert_int_eq(gguf_get_bool(f, "t.bool", &bl), GGUF_OK);
	ck_assert(bl);
	ck_assert_int_eq(gguf_get_str(f, "t.str", &s), GGUF_OK);
	ck_assert_uint_eq(s.len, 6);

	kv = must_kv(f, "t.arr_i32", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(kv->v.arr.type, GGUF_TYPE_INT32);
	ck_assert_uint_eq(kv->v.arr.n, 3);
	ck_assert_int_eq(gguf_arr_int(kv, 0), 1);
	ck_assert_int_eq(gguf_arr_int(kv, 1), -2);
	ck_assert_int_eq(gguf_arr_int(kv, 2), 3);
	kv = must_kv(f, "t.arr_u8", GGUF_TYPE_ARRAY);
	ck_assert_uint_eq(kv->v.arr.n, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(gguf_arr_int(kv, i), 250 + (int64_t)i);
	kv = must_kv(f, "t.arr_f32", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(kv->v.arr.type, GGUF_TYPE_FLOAT32);
	ck_assert(gguf_arr_f32(kv, 0) == 0.5f);
	ck_assert(gguf_arr_f32(kv, 1) == -1.25f);
	kv = must_kv(f, "t.arr_str", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(kv->v.arr.type, GGUF_TYPE_STRING);
	ck_assert_uint_eq(kv->v.arr.n, 3);
	ck_assert_ptr_nonnull(kv->v.arr.str_offs);
	for (i = 0; i < 3; i++)
		ck_assert(gguf_str_eq(gguf_arr_str(kv, i), arr_strs[i]));
	kv = must_kv(f, "t.arr_nested", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(kv->v.arr.type, GGUF_TYPE_ARRAY);
	ck_assert_uint_eq(kv->v.arr.n, 2);
	kv = must_kv(f, "t.arr_empty", GGUF_TYPE_ARRAY);
	ck_assert_uint_eq(kv->v.arr.n, 0);
}

START_TEST(test_all_value_types)
{
	struct bb b = { 0 };
	struct parsed p;

	build_all_types(&b);
	expect_ok(&b, &p);
	ck_assert_uint_eq(p.f->version, 3);
	ck_assert_uint_eq(p.f->n_kv, 18);
	ck_assert_uint_eq(p.f->n_tensors, 0);
	ck_assert_uint_eq(p.f->alignment, 32);
	check_all_types(p.f);
	ck_assert_ptr_null(gguf_find_kv(p.f, "t"));
	ck_assert_ptr_null(gguf_find_kv(p.f, "t.u8x"));
	ck_assert_ptr_null(gguf_find_tensor(p.f, "t.u8"));
	parsed_free(&p);
	bb_free(&b);
}
END_TEST

struct wt {
	const char *name;
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[4];
	uint64_t size;
};

static const struct wt wtensors[] = {
	{ "t.f32", GGUF_TENSOR_F32, 1, { 5 }, 20 },
	{ "t.f16", GGUF_TENSOR_F16, 2, { 16, 2 }, 64 },
	{ "t.q8", GGUF_TENSOR_Q8_0, 2, { 64, 3 }, 2 * 34 * 3 },
	{ "t.q4", GGUF_TENSOR_Q4_0, 3, { 32, 2, 3 }, 18 * 6 },
};
#define N_WT (sizeof(wtensors) / sizeof(wtensors[0]))

static const char *const written_keys[] = {
	"t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.f32", "t.bool", "t.str",
	"t.u64", "t.i64", "t.f64", "t.arr_i32", "t.arr_u8", "t.arr_f32", "t.arr_str",
	"t.arr_nested", "t.arr_empty", "general.alignment", "w.u32", "w.f32", "w.bool", "w.str",
};
#define N_WK (sizeof(written_keys) / sizeof(written_keys[0]))

static void check_written(const struct gguf_file *f, uint8_t *const data[N_WT])
{
	struct gguf_str s;
	uint32_t u;
	size_t i, d;
	float x;
	bool bl;

	ck_assert_uint_eq(f->version, 3);
	ck_assert_uint_eq(f->n_kv, N_WK);
	for (i = 0; i < N_WK; i++)
		ck_assert_msg(gguf_str_eq(f->kv[i].key, written_keys[i]), "key %zu out of order", i);
	check_all_types(f);
	ck_assert_int_eq(gguf_get_u32(f, "w.u32", &u), GGUF_OK);
	ck_assert_uint_eq(u, 7);
	ck_assert_int_eq(gguf_get_f32(f, "w.f32", &x), GGUF_OK);
	ck_assert(x == -0.75f);
	ck_assert_int_eq(gguf_get_bool(f, "w.bool", &bl), GGUF_OK);
	ck_assert(!bl);
	ck_assert_int_eq(gguf_get_str(f, "w.str", &s), GGUF_OK);
	ck_assert(gguf_str_eq(s, "world"));

	ck_assert_uint_eq(f->alignment, 64);
	ck_assert_uint_eq(f->data_offset % 64, 0);
	ck_assert_uint_eq(f->n_tensors, N_WT);
	for (i = 0; i < N_WT; i++) {
		const struct gguf_tensor_info *t = gguf_find_tensor(f, wtensors[i].name);

		ck_assert_ptr_eq(t, &f->tensors[i]);
		ck_assert_uint_eq(t->type, wtensors[i].type);
		ck_assert_uint_eq(t->n_dims, wtensors[i].n_dims);
		for (d = 0; d < 4; d++)
			ck_assert_uint_eq(t->ne[d], d < t->n_dims ? wtensors[i].ne[d] : 1);
		ck_assert_uint_eq(t->size, wtensors[i].size);
		ck_assert_uint_eq(t->offset % 64, 0);
		ck_assert_ptr_eq(t->data, f->base + f->data_offset + t->offset);
		ck_assert(memcmp(t->data, data[i], t->size) == 0);
		if (i)
			ck_assert_uint_ge(t->offset, f->tensors[i - 1].offset +
					  f->tensors[i - 1].size);
	}
	/* the last tensor ends the file */
	ck_assert_uint_eq(f->data_offset + f->tensors[N_WT - 1].offset +
			  f->tensors[N_WT - 1].size, f->size);
}

START_TEST(test_writer_round_trip)
{
	struct bb b = { 0 };
	struct parsed src, back;
	struct gguf_writer *w;
	struct gguf_file *f;
	uint8_t *data[N_WT];
	uint64_t rng = 42;
	char err[512], path[600], tmp[610];
	size_t i, j, len;
	void *buf;

	build_all_types(&b);
	expect_ok(&b, &src);
	w = gguf_writer_create();
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < src.f->n_kv; i++)
		ck_assert_int_eq(gguf_writer_copy_kv(w, &src.f->kv[i]), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_u32(w, "general.alignment", 64), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_u32(w, "w.u32", 7), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_f32(w, "w.f32", -0.75f), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_bool(w, "w.bool", false), GGUF_OK);
	ck_assert_int_eq(gguf_writer_set_str(w, "w.str", "world"), GGUF_OK);
	for (i = 0; i < N_WT; i++) {
		data[i] = malloc(wtensors[i].size);
		for (j = 0; j < wtensors[i].size; j++)
			data[i][j] = (uint8_t)tu_rand_u64(&rng);
		ck_assert_int_eq(gguf_writer_add_tensor(w, wtensors[i].name, wtensors[i].type,
							wtensors[i].n_dims, wtensors[i].ne,
							data[i]), GGUF_OK);
	}
	/* the source may go away once the keys are copied */
	parsed_free(&src);
	bb_free(&b);

	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	gguf_writer_free(w);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_ne(access(tmp, F_OK), 0);

	ck_assert_msg(gguf_open(path, &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	check_written(f, data);
	gguf_close(f);

	buf = tu_read_file(path, &len);
	ck_assert_msg(parse_exact(buf, len, &back, err, sizeof(err)) == GGUF_OK, "%s", err);
	check_written(back.f, data);
	parsed_free(&back);
	free(buf);
	for (i = 0; i < N_WT; i++)
		free(data[i]);
}
END_TEST

START_TEST(test_vocab)
{
	const struct gguf_kv *tok, *scores, *types;
	struct gguf_file *f;
	char err[512];
	uint32_t bos;

	ck_assert_msg(gguf_open(tu_vocab_path(), &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_uint_eq(f->version, 3);
	ck_assert_uint_eq(f->n_tensors, 0);
	tok = must_kv(f, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(tok->v.arr.type, GGUF_TYPE_STRING);
	ck_assert_uint_eq(tok->v.arr.n, 32000);
	ck_assert(gguf_str_eq(gguf_arr_str(tok, 0), "<unk>"));
	ck_assert(gguf_str_eq(gguf_arr_str(tok, 1), "<s>"));
	ck_assert(gguf_str_eq(gguf_arr_str(tok, 2), "</s>"));
	ck_assert(gguf_str_eq(gguf_arr_str(tok, 3), "<0x00>"));
	scores = must_kv(f, "tokenizer.ggml.scores", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(scores->v.arr.type, GGUF_TYPE_FLOAT32);
	ck_assert_uint_eq(scores->v.arr.n, 32000);
	types = must_kv(f, "tokenizer.ggml.token_type", GGUF_TYPE_ARRAY);
	ck_assert_int_eq(types->v.arr.type, GGUF_TYPE_INT32);
	ck_assert_uint_eq(types->v.arr.n, 32000);
	ck_assert_int_eq(gguf_arr_int(types, 1), 3); /* <s> is a control token */
	ck_assert_int_eq(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &bos), GGUF_OK);
	ck_assert_uint_eq(bos, 1);
	gguf_close(f);
}
END_TEST

/* Copying every key of the vocabulary reproduces its bytes (plus the padding we add). */
START_TEST(test_vocab_copy)
{
	struct gguf_file *f, *g;
	struct gguf_writer *w;
	const struct gguf_kv *a, *b;
	char err[512], path[600];
	size_t i, la, lb;
	void *orig, *copy;

	ck_assert_msg(gguf_open(tu_vocab_path(), &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	w = gguf_writer_create();
	for (i = 0; i < f->n_kv; i++)
		ck_assert_int_eq(gguf_writer_copy_kv(w, &f->kv[i]), GGUF_OK);
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	gguf_writer_free(w);
	ck_assert_msg(gguf_open(path, &g, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_uint_eq(g->n_kv, f->n_kv);
	a = gguf_find_kv(f, "tokenizer.ggml.tokens");
	b = gguf_find_kv(g, "tokenizer.ggml.tokens");
	ck_assert_uint_eq(b->v.arr.n, 32000);
	for (i = 0; i < 32000; i++) {
		struct gguf_str x = gguf_arr_str(a, i), y = gguf_arr_str(b, i);

		ck_assert(x.len == y.len && !memcmp(x.ptr, y.ptr, x.len));
	}
	gguf_close(g);
	gguf_close(f);

	orig = tu_read_file(tu_vocab_path(), &la);
	copy = tu_read_file(path, &lb);
	ck_assert_uint_ge(lb, la);
	ck_assert_uint_eq(lb % 32, 0);
	ck_assert(memcmp(orig, copy, la) == 0);
	free(orig);
	free(copy);
}
END_TEST

START_TEST(test_v2)
{
	struct tspec t = { "x", 2, { 4, 2 }, GGUF_TENSOR_F32, 0 };
	struct bb b = { 0 };
	struct parsed p;
	struct gguf_str s;

	build(&b, 2, &t, 1, 32);
	expect_ok(&b, &p);
	ck_assert_uint_eq(p.f->version, 2);
	ck_assert_int_eq(gguf_get_str(p.f, "general.architecture", &s), GGUF_OK);
	ck_assert(gguf_str_eq(s, "llama"));
	ck_assert_uint_eq(p.f->tensors[0].size, 32);
	ck_assert_ptr_eq(p.f->tensors[0].data, p.f->base + p.f->data_offset);
	ck_assert_uint_eq(p.f->data_offset % 32, 0);
	parsed_free(&p);
	bb_free(&b);
}
END_TEST

/* A small valid file from the writer: a few keys, a string array, two tensors. */
static void *small_file(size_t *len)
{
	static const float f32[4] = { 1, 2, 3, 4 };
	static uint8_t q8[68];
	const uint64_t ne1[] = { 4 }, ne2[] = { 32, 2 };
	struct gguf_writer *w = gguf_writer_create();
	char err[512], path[600];
	struct gguf_kv arr;

	struct bb b = { 0 };
	struct parsed p;

	/* a string array to copy: the only way to get one through the writer */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, 3);
	bb_str(&b, "ab");
	bb_str(&b, "c");
	bb_str(&b, "");
	expect_ok(&b, &p);
	arr = p.f->kv[0];

	gguf_writer_set_str(w, "general.architecture", "llama");
	gguf_writer_set_u32(w, "llama.block_count", 1);
	gguf_writer_copy_kv(w, &arr);
	gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
	gguf_writer_add_tensor(w, "a", GGUF_TENSOR_F32, 1, ne1, f32);
	gguf_writer_add_tensor(w, "b", GGUF_TENSOR_Q8_0, 2, ne2, q8);
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	gguf_writer_free(w);
	parsed_free(&p);
	bb_free(&b);
	return tu_read_file(path, len);
}

START_TEST(test_truncated_everywhere)
{
	struct parsed p;
	char err[512];
	size_t len, n;
	uint8_t *buf = small_file(&len);

	for (n = 0; n < len; n++) {
		enum gguf_status st = parse_exact(buf, n, &p, err, sizeof(err));

		ck_assert_msg(st == GGUF_ERR_FORMAT, "length %zu: status %d (%s)", n, st, err);
		ck_assert_ptr_null(p.f);
		ck_assert_msg(strstr(err, "byte"), "length %zu: no byte offset in '%s'", n, err);
		free(p.copy);
	}
	ck_assert_msg(parse_exact(buf, len, &p, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_uint_eq(p.f->n_tensors, 2);
	parsed_free(&p);
	free(buf);
}
END_TEST

/* Random corruption must never crash or read out of bounds, whatever the status. */
START_TEST(test_corrupted_bytes)
{
	uint64_t rng = 7;
	struct parsed p;
	char err[512];
	size_t len, i, k;
	uint8_t *buf = small_file(&len), *mut = malloc(len);

	for (i = 0; i < 3000; i++) {
		memcpy(mut, buf, len);
		for (k = 0; k < 1 + i % 4; k++) {
			uint64_t r = tu_rand_u64(&rng);

			mut[r % len] = (uint8_t)(r >> 32);
		}
		if (parse_exact(mut, len, &p, err, sizeof(err)) == GGUF_OK)
			gguf_close(p.f);
		else
			ck_assert_msg(err[0], "empty message");
		free(p.copy);
	}
	free(mut);
	free(buf);
}
END_TEST

START_TEST(test_header_errors)
{
	struct bb b = { 0 };

	bb_put(&b, "GGUX", 4);
	bb_u32(&b, 3);
	bb_u64(&b, 0);
	bb_u64(&b, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "magic");
	bb_free(&b);

	bb_header(&b, 1, 0, 0);
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "version 1");
	bb_free(&b);
	bb_header(&b, 4, 0, 0);
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "version 4");
	bb_free(&b);
	bb_header(&b, 0x03000000, 0, 0);
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "big-endian");
	bb_free(&b);
	bb_header(&b, 0x02000000, 0, 0);
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "big-endian");
	bb_free(&b);

	/* an empty but valid file */
	bb_header(&b, 3, 0, 0);
	expect_fail_(b.p, 0, GGUF_ERR_FORMAT, "truncated at byte 0", __LINE__);
	{
		struct parsed p;

		expect_ok(&b, &p);
		ck_assert_uint_eq(p.f->n_kv, 0);
		ck_assert_ptr_null(gguf_find_kv(p.f, "x"));
		ck_assert_ptr_null(gguf_find_tensor(p.f, "x"));
		parsed_free(&p);
	}
	bb_free(&b);
}
END_TEST

START_TEST(test_hostile_counts)
{
	static const uint64_t huge[] = { 1ull << 63, UINT64_MAX, 1ull << 40 };
	struct bb b = { 0 };
	size_t i;

	for (i = 0; i < 3; i++) {
		bb_header(&b, 3, 0, huge[i]);
		bb_key(&b, "a", GGUF_TYPE_UINT8);
		bb_u8(&b, 1);
		expect_fail(&b, GGUF_ERR_FORMAT, "key/value count");
		bb_free(&b);
		bb_header(&b, 3, huge[i], 1);
		bb_key(&b, "a", GGUF_TYPE_UINT8);
		bb_u8(&b, 1);
		expect_fail(&b, GGUF_ERR_FORMAT, "tensor count");
		bb_free(&b);
		bb_header(&b, 3, huge[i], huge[i]);
		expect_fail(&b, GGUF_ERR_FORMAT, "count");
		bb_free(&b);

		/* a string array claiming more strings than could fit */
		bb_header(&b, 3, 0, 1);
		bb_key(&b, "a", GGUF_TYPE_ARRAY);
		bb_u32(&b, GGUF_TYPE_STRING);
		bb_u64(&b, huge[i]);
		bb_str(&b, "x");
		expect_fail(&b, GGUF_ERR_FORMAT, "array count");
		bb_free(&b);
	}
}
END_TEST

START_TEST(test_value_errors)
{
	struct bb b = { 0 };

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", 13);
	bb_u32(&b, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "key 0 ('a'): unknown value type 13 at byte 33");
	bb_free(&b);

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_TYPE_ARRAY);
	bb_u32(&b, 42);
	bb_u64(&b, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "unknown array element type 42");
	bb_free(&b);

	/* string length past the end */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_TYPE_STRING);
	bb_u64(&b, 1000);
	bb_put(&b, "abc", 3);
	expect_fail(&b, GGUF_ERR_FORMAT, "truncated at byte 45: key 0 ('a') string value");
	bb_free(&b);
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_TYPE_STRING);
	bb_u64(&b, UINT64_MAX);
	expect_fail(&b, GGUF_ERR_FORMAT, "string value");
	bb_free(&b);
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, UINT64_MAX - 3);
	bb_put(&b, "0123456789abcdef", 16);
	expect_fail(&b, GGUF_ERR_FORMAT, "key 0 key");
	bb_free(&b);

	/* array count past the end */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_TYPE_ARRAY);
	bb_u32(&b, GGUF_TYPE_UINT32);
	bb_u64(&b, 1000);
	bb_u64(&b, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "array count 1000 at byte 41");
	bb_free(&b);

	/* a string element past the end, with its index in the message */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "tok", GGUF_TYPE_ARRAY);
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, 3);
	bb_str(&b, "x");
	bb_str(&b, "y");
	bb_u64(&b, 100);
	bb_put(&b, "zz", 2);
	expect_fail(&b, GGUF_ERR_FORMAT, "key 0 ('tok') array element 2 string");
	bb_free(&b);

	/* empty key, duplicate key */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "", GGUF_TYPE_UINT8);
	bb_u8(&b, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "empty key");
	bb_free(&b);
	bb_header(&b, 3, 0, 2);
	bb_key(&b, "a.b", GGUF_TYPE_UINT8);
	bb_u8(&b, 0);
	bb_key(&b, "a.b", GGUF_TYPE_STRING);
	bb_str(&b, "x");
	expect_fail(&b, GGUF_ERR_FORMAT, "key 1 ('a.b'): duplicate key");
	bb_free(&b);
}
END_TEST

START_TEST(test_nested_arrays)
{
	struct bb b = { 0 };
	struct parsed p;
	int d;

	/* nested within the limit parses */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "n", GGUF_TYPE_ARRAY);
	for (d = 0; d < 4; d++) {
		bb_u32(&b, GGUF_TYPE_ARRAY);
		bb_u64(&b, 1);
	}
	bb_u32(&b, GGUF_TYPE_STRING);
	bb_u64(&b, 1);
	bb_str(&b, "deep");
	expect_ok(&b, &p);
	parsed_free(&p);
	bb_free(&b);

	/* a tiny file must not drive unbounded recursion */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "n", GGUF_TYPE_ARRAY);
	for (d = 0; d < 1000; d++) {
		bb_u32(&b, GGUF_TYPE_ARRAY);
		bb_u64(&b, 1);
	}
	bb_u32(&b, GGUF_TYPE_UINT8);
	bb_u64(&b, 0);
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "nested");
	bb_free(&b);
}
END_TEST

START_TEST(test_tensor_errors)
{
	struct bb b = { 0 };

	build1(&b, (struct tspec){ "t", 0, { 0 }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "tensor info 0 ('t'): n_dims 0 at byte");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 5, { 1, 1, 1, 1, }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "n_dims 5");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 3, { 4, 0, 2 }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "dimension 1 at byte");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 2, { 1ull << 32, 1ull << 32 }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "dimension 1 at byte");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 4, { 1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16 },
				   GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "overflows");
	bb_free(&b);
	/* the element count fits, the byte size does not */
	build1(&b, (struct tspec){ "t", 1, { 1ull << 62 }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "overflows");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 1, { 48 }, GGUF_TENSOR_Q8_0, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "block size 32");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 1, { 4 }, GGUF_TENSOR_F32, 16 });
	expect_fail(&b, GGUF_ERR_FORMAT, "not a multiple of the alignment 32");
	bb_free(&b);
	build1(&b, (struct tspec){ "", 1, { 4 }, GGUF_TENSOR_F32, 0 });
	expect_fail(&b, GGUF_ERR_FORMAT, "empty name");
	bb_free(&b);
	/* "t\0x": found as "t", named as "t" in every message */
	build1(&b, (struct tspec){ "t#x", 1, { 4 }, GGUF_TENSOR_F32, 0 });
	{
		uint8_t *hash = memmem(b.p, b.len, "t#x", 3);

		ck_assert_ptr_nonnull(hash);
		hash[1] = 0;
	}
	expect_fail(&b, GGUF_ERR_FORMAT, "tensor name with a NUL byte");
	bb_free(&b);

	/* data past the end of the file, by size and by offset */
	{
		struct tspec t = { "t", 1, { 8 }, GGUF_TENSOR_F32, 0 };

		build(&b, 3, &t, 1, 31);
		expect_fail(&b, GGUF_ERR_FORMAT, "past the end of the file");
		bb_free(&b);
		build(&b, 3, &t, 1, 32);
		{
			struct parsed p;

			expect_ok(&b, &p);
			parsed_free(&p);
		}
		bb_free(&b);
		t.offset = 1ull << 63;
		build(&b, 3, &t, 1, 32);
		expect_fail(&b, GGUF_ERR_FORMAT, "past the end of the file");
		bb_free(&b);
		t.offset = UINT64_MAX - 31;
		build(&b, 3, &t, 1, 32);
		expect_fail(&b, GGUF_ERR_FORMAT, "past the end of the file");
		bb_free(&b);
	}

	/* two tensors over the same bytes (exactly, and by a part) */
	{
		struct tspec t[3] = {
			{ "a", 1, { 16 }, GGUF_TENSOR_F32, 0 },
			{ "b", 1, { 8 }, GGUF_TENSOR_F32, 64 },
			{ "c", 1, { 8 }, GGUF_TENSOR_F32, 0 },
		};

		build(&b, 3, t, 3, 128);
		expect_fail(&b, GGUF_ERR_FORMAT, "('c'): data offsets 0..32 overlap tensor 'a'");
		bb_free(&b);
		t[2].offset = 32;
		build(&b, 3, t, 3, 128);
		expect_fail(&b, GGUF_ERR_FORMAT, "data offsets 32..64 overlap tensor 'a' (0..64)");
		bb_free(&b);
		t[2].offset = 96; /* apart: fine */
		build(&b, 3, t, 3, 128);
		{
			struct parsed p;

			expect_ok(&b, &p);
			parsed_free(&p);
		}
		bb_free(&b);
	}

	/* duplicate tensor names */
	{
		struct tspec t[2] = {
			{ "w", 1, { 4 }, GGUF_TENSOR_F32, 0 },
			{ "w", 1, { 4 }, GGUF_TENSOR_F32, 32 },
		};

		build(&b, 3, t, 2, 64);
		expect_fail(&b, GGUF_ERR_FORMAT, "tensor info 1 ('w'): duplicate tensor name");
		bb_free(&b);
	}
}
END_TEST

START_TEST(test_unsupported_types)
{
	struct bb b = { 0 };
	char want[200];

	build1(&b, (struct tspec){ "output.weight", 2, { 256, 2 }, 11, 0 });
	snprintf(want, sizeof(want), "tensor 'output.weight' (tensor info 0 at byte 69): type "
		 "Q3_K is not supported (supported: F32, F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, want);
	bb_free(&b);
	build1(&b, (struct tspec){ "blk.0.x", 1, { 32 }, 99, 0 });
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "tensor 'blk.0.x' (tensor info 0 at byte 69): "
		    "unknown type 99 is not supported");
	bb_free(&b);
	build1(&b, (struct tspec){ "t", 1, { 32 }, 30, 0 });
	expect_fail(&b, GGUF_ERR_UNSUPPORTED, "type BF16");
	bb_free(&b);

	ck_assert_str_eq(gguf_tensor_type_name(0), "F32");
	ck_assert_str_eq(gguf_tensor_type_name(2), "Q4_0");
	ck_assert_str_eq(gguf_tensor_type_name(8), "Q8_0");
	ck_assert_str_eq(gguf_tensor_type_name(14), "Q6_K");
	ck_assert_str_eq(gguf_tensor_type_name(23), "IQ4_XS");
	ck_assert_str_eq(gguf_tensor_type_name(30), "BF16");
	ck_assert_str_eq(gguf_tensor_type_name(4), "type 4");
	ck_assert_str_eq(gguf_tensor_type_name(99), "type 99");
	ck_assert_str_eq(gguf_type_name(GGUF_TYPE_FLOAT64), "FLOAT64");
	ck_assert_str_eq(gguf_type_name(GGUF_TYPE_STRING), "STRING");
}
END_TEST

static void build_alignment(struct bb *b, enum gguf_value_type type, uint64_t v)
{
	struct tspec t = { "t", 1, { 4 }, GGUF_TENSOR_F32, 0 };

	bb_header(b, 3, 1, 1);
	bb_key(b, "general.alignment", type);
	if (type == GGUF_TYPE_FLOAT32)
		bb_f32(b, (float)v);
	else if (type == GGUF_TYPE_UINT64)
		bb_u64(b, v);
	else
		bb_u32(b, (uint32_t)v);
	bb_tensor(b, &t);
	bb_pad(b, 256);
	bb_put(b, "0123456789abcdef", 16);
}

START_TEST(test_alignment)
{
	struct bb b = { 0 };
	struct parsed p;

	build_alignment(&b, GGUF_TYPE_UINT32, 0);
	expect_fail(&b, GGUF_ERR_FORMAT, "key 0 ('general.alignment'): alignment 0 at byte 24");
	bb_free(&b);
	build_alignment(&b, GGUF_TYPE_UINT32, 3);
	expect_fail(&b, GGUF_ERR_FORMAT, "power of two");
	bb_free(&b);
	build_alignment(&b, GGUF_TYPE_FLOAT32, 32);
	expect_fail(&b, GGUF_ERR_FORMAT, "must be a UINT32, not FLOAT32");
	bb_free(&b);
	build_alignment(&b, GGUF_TYPE_UINT64, 32);
	expect_fail(&b, GGUF_ERR_FORMAT, "must be a UINT32, not UINT64");
	bb_free(&b);

	build_alignment(&b, GGUF_TYPE_UINT32, 256);
	expect_ok(&b, &p);
	ck_assert_uint_eq(p.f->alignment, 256);
	ck_assert_uint_eq(p.f->data_offset, 256);
	ck_assert(memcmp(p.f->tensors[0].data, "0123456789abcdef", 16) == 0);
	parsed_free(&p);
	bb_free(&b);
}
END_TEST

START_TEST(test_getters)
{
	struct bb b = { 0 };
	struct parsed p;
	struct gguf_str s;
	uint32_t u = 12345;
	float x;
	bool bl;

	bb_header(&b, 3, 0, 7);
	bb_key(&b, "f", GGUF_TYPE_FLOAT32); bb_f32(&b, 0.5f);
	bb_key(&b, "big", GGUF_TYPE_UINT64); bb_u64(&b, 1ull << 32);
	bb_key(&b, "small", GGUF_TYPE_UINT64); bb_u64(&b, 5);
	bb_key(&b, "neg", GGUF_TYPE_INT32); bb_u32(&b, (uint32_t)-1);
	bb_key(&b, "pos", GGUF_TYPE_INT16); bb_u16(&b, 300);
	bb_key(&b, "huge", GGUF_TYPE_FLOAT64); bb_f64(&b, 1e300);
	bb_key(&b, "b", GGUF_TYPE_BOOL); bb_u8(&b, 0);
	expect_ok(&b, &p);

	ck_assert_int_eq(gguf_get_u32(p.f, "f", &u), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_u32(p.f, "missing", &u), GGUF_ERR_NOT_FOUND);
	ck_assert_int_eq(gguf_get_u32(p.f, "big", &u), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_u32(p.f, "neg", &u), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_u32(p.f, "b", &u), GGUF_ERR_TYPE);
	ck_assert_uint_eq(u, 12345); /* untouched on error */
	ck_assert_int_eq(gguf_get_u32(p.f, "small", &u), GGUF_OK);
	ck_assert_uint_eq(u, 5);
	ck_assert_int_eq(gguf_get_u32(p.f, "pos", &u), GGUF_OK);
	ck_assert_uint_eq(u, 300);
	ck_assert_int_eq(gguf_get_f32(p.f, "f", &x), GGUF_OK);
	ck_assert(x == 0.5f);
	ck_assert_int_eq(gguf_get_f32(p.f, "small", &x), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_f32(p.f, "huge", &x), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_f32(p.f, "missing", &x), GGUF_ERR_NOT_FOUND);
	ck_assert_int_eq(gguf_get_bool(p.f, "b", &bl), GGUF_OK);
	ck_assert(!bl);
	ck_assert_int_eq(gguf_get_bool(p.f, "small", &bl), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_str(p.f, "f", &s), GGUF_ERR_TYPE);
	ck_assert_int_eq(gguf_get_str(p.f, "missing", &s), GGUF_ERR_NOT_FOUND);
	parsed_free(&p);
	bb_free(&b);
}
END_TEST

START_TEST(test_open_errors)
{
	struct gguf_file *f = (struct gguf_file *)1;
	char err[512], path[600];
	size_t len;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s", tu_tmp_path(".missing"));
	ck_assert_int_eq(gguf_open(path, &f, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_ptr_null(f);
	ck_assert_msg(!strncmp(err, path, strlen(path)), "%s", err);
	ck_assert_msg(strstr(err, "No such file"), "%s", err);

	snprintf(path, sizeof(path), "%s", tu_tmp_path(".dir"));
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(gguf_open(path, &f, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_ptr_null(f);
	ck_assert_msg(!strncmp(err, path, strlen(path)), "%s", err);

	/* a malformed file: the parser's message behind the path */
	buf = small_file(&len);
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	tu_write_file(path, buf, len - 1);
	ck_assert_int_eq(gguf_open(path, &f, err, sizeof(err)), GGUF_ERR_FORMAT);
	ck_assert_msg(!strncmp(err, path, strlen(path)) && strstr(err, "past the end"), "%s", err);
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	tu_write_file(path, buf, 0);
	ck_assert_int_eq(gguf_open(path, &f, err, sizeof(err)), GGUF_ERR_FORMAT);
	ck_assert_msg(strstr(err, ": truncated at byte 0: header magic"), "%s", err);
	free(buf);
}
END_TEST

/*
 * Special files where a file is written or read: the writer refuses to replace a symlink, a
 * FIFO or a device (and never writes through the link), and the reader refuses a FIFO at once
 * instead of blocking in open().
 */
START_TEST(test_special_files)
{
	char err[512], fifo[600], link[600], target[600];
	struct gguf_writer *w = gguf_writer_create();
	struct gguf_file *f = NULL;

	gguf_writer_set_u32(w, "a", 1);
	snprintf(fifo, sizeof(fifo), "%s", tu_tmp_path(".fifo"));
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(gguf_open(fifo, &f, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_msg(strstr(err, fifo) && strstr(err, "is a FIFO, not a file"), "%s", err);
	ck_assert_int_eq(gguf_writer_write(w, fifo, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_msg(strstr(err, "is a FIFO; refusing to replace it"), "%s", err);

	snprintf(target, sizeof(target), "%s", tu_tmp_path(".target"));
	snprintf(link, sizeof(link), "%s", tu_tmp_path(".link"));
	FILE *t = fopen(target, "w");
	ck_assert_ptr_nonnull(t);
	fputs("keep", t);
	fclose(t);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(gguf_writer_write(w, link, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_msg(strstr(err, "is a symbolic link; refusing"), "%s", err);
	size_t len;
	char *kept = tu_read_file(target, &len);
	ck_assert_uint_eq(len, 4);
	ck_assert(!memcmp(kept, "keep", 4));
	free(kept);

	ck_assert_int_eq(gguf_writer_write(w, "/dev/null", err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_msg(strstr(err, "is a device"), "%s", err);
	gguf_writer_free(w);
	unlink(fifo);
	unlink(link);
	unlink(target);
}
END_TEST

/*
 * A write that fails part way (EFBIG past RLIMIT_FSIZE, as on a full disk) names the path the
 * caller gave, not the temporary (gone by then), and leaves neither behind.
 */
START_TEST(test_writer_full_disk)
{
	static const float data[4096];
	const uint64_t ne[] = { 4096 };
	struct gguf_writer *w = gguf_writer_create();
	char err[512], path[600];

	ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GGUF_TENSOR_F32, 1, ne, data), GGUF_OK);
	snprintf(path, sizeof(path), "%s", tu_tmp_path("-full.gguf"));
	tu_limit_file_size(4096);
	enum gguf_status st = gguf_writer_write(w, path, err, sizeof(err));
	tu_limit_file_size(0);
	ck_assert_int_eq(st, GGUF_ERR_IO);
	ck_assert_msg(!strncmp(err, path, strlen(path)) && strstr(err, ": write failed: ") &&
		      !strstr(err, ".enpu-"), "%s", err);
	ck_assert_int_ne(access(path, F_OK), 0);
	gguf_writer_free(w);
}
END_TEST

START_TEST(test_writer_errors)
{
	static const float data[64];
	const uint64_t ne48[] = { 48 }, ne4[] = { 4 }, ne0[] = { 4, 0 };
	struct gguf_writer *w;
	char err[512], path[600], tmp[610];

	/* an unwritable path: IO, the path and strerror, nothing left behind */
	w = gguf_writer_create();
	gguf_writer_set_u32(w, "a", 1);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.gguf", tu_tmp_path(""));
	ck_assert_int_eq(gguf_writer_write(w, path, err, sizeof(err)), GGUF_ERR_IO);
	ck_assert_msg(strstr(err, "x.gguf: cannot create") && strstr(err, "No such file or directory"),
		      "%s", err);
	gguf_writer_free(w);

	/* bad tensors are refused, and the writer then refuses to write */
	w = gguf_writer_create();
	ck_assert_int_eq(gguf_writer_add_tensor(w, "a", GGUF_TENSOR_F32, 1, ne4, data), GGUF_OK);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "a", GGUF_TENSOR_F32, 1, ne4, data),
			 GGUF_ERR_FORMAT);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "b", GGUF_TENSOR_Q8_0, 1, ne48, data),
			 GGUF_ERR_FORMAT);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "c", GGUF_TENSOR_F32, 2, ne0, data),
			 GGUF_ERR_FORMAT);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "d", 99, 1, ne4, data), GGUF_ERR_UNSUPPORTED);
	ck_assert_int_eq(gguf_writer_add_tensor(w, "e", GGUF_TENSOR_F32, 5, ne4, data),
			 GGUF_ERR_FORMAT);
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	ck_assert_int_eq(gguf_writer_write(w, path, err, sizeof(err)), GGUF_ERR_FORMAT);
	ck_assert_msg(strstr(err, "duplicate tensor 'a'"), "%s", err);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	gguf_writer_free(w);

	/* a bad general.alignment */
	w = gguf_writer_create();
	gguf_writer_set_u32(w, "general.alignment", 48);
	ck_assert_int_eq(gguf_writer_write(w, path, err, sizeof(err)), GGUF_ERR_FORMAT);
	ck_assert_msg(strstr(err, "power of two"), "%s", err);
	gguf_writer_free(w);
	w = gguf_writer_create();
	ck_assert_int_eq(gguf_writer_set_u32(w, "", 1), GGUF_ERR_FORMAT);
	gguf_writer_free(w);

	/* NULL writers (a failed create) are errors, not crashes */
	ck_assert_int_eq(gguf_writer_set_u32(NULL, "a", 1), GGUF_ERR_NOMEM);
	gguf_writer_free(NULL);
	gguf_close(NULL);
}
END_TEST

/* Setting a key twice replaces the value in place. */
START_TEST(test_writer_replace)
{
	struct gguf_writer *w = gguf_writer_create();
	struct gguf_file *f;
	char err[512], path[600];
	struct gguf_str s;
	uint32_t u;

	gguf_writer_set_u32(w, "a", 1);
	gguf_writer_set_str(w, "b", "x");
	gguf_writer_set_str(w, "a", "now a string");
	snprintf(path, sizeof(path), "%s", tu_tmp_path(".gguf"));
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	/* writing again over the same path replaces the file */
	gguf_writer_set_u32(w, "c", 3);
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	gguf_writer_free(w);
	ck_assert_msg(gguf_open(path, &f, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_uint_eq(f->n_kv, 3);
	ck_assert(gguf_str_eq(f->kv[0].key, "a"));
	ck_assert_int_eq(gguf_get_str(f, "a", &s), GGUF_OK);
	ck_assert(gguf_str_eq(s, "now a string"));
	ck_assert_int_eq(gguf_get_u32(f, "c", &u), GGUF_OK);
	ck_assert_uint_eq(u, 3);
	gguf_close(f);
}
END_TEST

/* The names left in the directory of path other than its own (a temporary left behind). */
static int others_in_dir(const char *path)
{
	char dir[600];
	int n = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, strrchr(path, '/') + 1))
			n++;
	closedir(d);
	return n;
}

/*
 * hal_file_create (hal/files.h), through the writer: a file replaced keeps its mode (a 0600
 * file stays private whatever the umask), a new one gets 0666 less the umask, and a file name
 * of NAME_MAX bytes can be written (the temporary has a short name of its own).
 */
START_TEST(test_writer_mode_and_long_name)
{
	struct gguf_writer *w = gguf_writer_create();
	char err[512], dir[600], path[900];
	struct stat sb;

	gguf_writer_set_u32(w, "a", 1);
	snprintf(dir, sizeof(dir), "%s", tu_tmp_path(".d"));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/private.gguf", dir);
	mode_t old = umask(022);
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0644);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	umask(old);
	ck_assert_int_eq(others_in_dir(path), 0);
	unlink(path);

	/* a name of 255 bytes, and a relative path without a directory */
	int n = snprintf(path, sizeof(path), "%s/", dir);
	memset(path + n, 'm', 250);
	strcpy(path + n + 250, ".gguf");
	ck_assert_uint_eq(strlen(strrchr(path, '/') + 1), 255);
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_int_eq(access(path, R_OK), 0);
	ck_assert_int_eq(others_in_dir(path), 0);
	unlink(path);
	char cwd[600];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(gguf_writer_write(w, "r.gguf", err, sizeof(err)) == GGUF_OK, "%s", err);
	ck_assert_int_eq(access("r.gguf", R_OK), 0);
	unlink("r.gguf");
	ck_assert_int_eq(chdir(cwd), 0);
	gguf_writer_free(w);
	rmdir(dir);
}
END_TEST

/*
 * hal_file_clean_on_end_signals: a signal that ends the process removes the temporaries not
 * yet committed or abandoned and ends it by that signal; one the process ignores (nohup's
 * SIGHUP) stays ignored; a committed file is no temporary any more and stays.
 */
START_TEST(test_signal_removes_temporaries)
{
	char dir[600], path[3][700];
	int status;

	snprintf(dir, sizeof(dir), "%s", tu_tmp_path(".d"));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	for (int i = 0; i < 3; i++)
		snprintf(path[i], sizeof(path[i]), "%s/%c.gguf", dir, 'a' + i);
	pid_t pid = fork();

	if (!pid) {
		char tmp[3][800], err[512];
		int fd[3];

		signal(SIGHUP, SIG_IGN);
		hal_file_clean_on_end_signals();
		for (int i = 0; i < 3; i++)
			if ((fd[i] = hal_file_create(path[i], tmp[i], sizeof(tmp[i]), err,
						     sizeof(err))) < 0 ||
			    write(fd[i], "x", 1) != 1)
				_exit(1);
		if (hal_file_commit(fd[2], tmp[2], path[2], err, sizeof(err)))
			_exit(2);
		raise(SIGHUP);
		if (access(tmp[0], F_OK) || access(tmp[1], F_OK))
			_exit(3);
		raise(SIGTERM);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
	ck_assert_int_eq(access(path[2], F_OK), 0);
	ck_assert_int_eq(others_in_dir(path[2]), 0);
	unlink(path[2]);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gguf");
	TCase *good = tcase_create("good");
	TCase *bad = tcase_create("malformed");
	TCase *api = tcase_create("api");

	tcase_add_test(good, test_all_value_types);
	tcase_add_test(good, test_writer_round_trip);
	if (tu_have_shared_vocab()) { /* else said on stderr */
		tcase_add_test(good, test_vocab);
		tcase_add_test(good, test_vocab_copy);
	}
	tcase_add_test(good, test_v2);
	tcase_add_test(good, test_nested_arrays);
	tcase_add_test(bad, test_truncated_everywhere);
	tcase_add_test(bad, test_corrupted_bytes);
	tcase_add_test(bad, test_header_errors);
	tcase_add_test(bad, test_hostile_counts);
	tcase_add_test(bad, test_value_errors);
	tcase_add_test(bad, test_tensor_errors);
	tcase_add_test(bad, test_unsupported_types);
	tcase_add_test(bad, test_alignment);
	tcase_add_test(api, test_getters);
	tcase_add_test(api, test_open_errors);
	tcase_add_test(api, test_writer_errors);
	tcase_add_test(api, test_special_files);
	tcase_add_test(api, test_writer_full_disk);
	tcase_add_test(api, test_writer_replace);
	tcase_add_test(api, test_writer_mode_and_long_name);
	tcase_add_test(api, test_signal_removes_temporaries);
	suite_add_tcase(s, good);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, api);
	return tu_run_suite(s);
}
