/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gguf.c - the GGUF reader (driver/gguf.h): gguf_parse() on the input as a whole file,
 * then every accessor a loader uses on what it accepted (keys, typed getters, array elements,
 * tensor lookups), since those read the mapping through offsets the parser computed; and the
 * tokenizer built from its keys (tok_vocab_from_gguf), which trusts the arrays the parser
 * accepted, then used. A parse is fast, so this reaches the vocabulary checks far more often
 * than fuzz_model_load does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/gguf.h"
#include "driver/tokenizer.h"
#include "fuzz.h"

/* Reads every element of an array the way the tokenizer and the loader do. */
static void read_array(const struct gguf_kv *kv)
{
	for (uint64_t i = 0; i < kv->v.arr.n; i++) {
		switch (kv->v.arr.type) {
		case GGUF_TYPE_STRING: {
			struct gguf_str s = gguf_arr_str(kv, i);

			FUZZ_CHECK(s.len == 0 || s.ptr, "array string %llu", (unsigned long long)i);
			break;
		}
		case GGUF_TYPE_FLOAT32:
			(void)gguf_arr_f32(kv, i);
			break;
		case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16:
		case GGUF_TYPE_INT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32:
		case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
			(void)gguf_arr_int(kv, i);
			break;
		default:
			return; /* nested arrays, bools, f64: no accessor reads them element-wise */
		}
	}
}

/* Builds the tokenizer of f when it has one, and runs it on a text that merges and falls back. */
static void use_vocab(const struct gguf_file *f)
{
	static const char text[] = " Hello wörld\n<s>\x01 the end";
	struct tok_vocab *v = NULL;
	int32_t ids[sizeof(text) + 2];
	char err[256], piece[32];
	size_t n = 0, len;

	if (tok_vocab_from_gguf(f, &v, err, sizeof(err)) != TOK_OK) {
		FUZZ_CHECK(v == NULL && err[0], "vocabulary refused without a message");
		return;
	}
	if (tok_encode(v, text, sizeof(text) - 1, true, ids, sizeof(ids) / sizeof(ids[0]), &n) ==
	    TOK_OK)
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < tok_n_tokens(v),
				   "token %zu: id %d of %u", i, ids[i], tok_n_tokens(v));
			(void)tok_decode_token(v, ids[i], piece, sizeof(piece), &len);
		}
	tok_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	char err[256], key[128];
	enum gguf_status st;

	st = gguf_parse(data, size, &f, err, sizeof(err));
	if (st != GGUF_OK) {
		FUZZ_CHECK(f == NULL && err[0], "status %d without a message or with a file", st);
		return 0;
	}
	for (uint64_t i = 0; i < f->n_kv; i++) {
		const struct gguf_kv *kv = &f->kv[i];
		uint32_t u;
		float x;
		bool b;
		struct gguf_str s;

		if (kv->type == GGUF_TYPE_ARRAY)
			read_array(kv);
		/* lookups by name go through the NUL-terminated form, as a loader's keys do */
		snprintf(key, sizeof(key), "%.*s", (int)(kv->key.len < 127 ? kv->key.len : 127),
			 kv->key.ptr);
		FUZZ_CHECK(gguf_find_kv(f, key) != NULL || strlen(key) != kv->key.len,
			   "key %llu not found by its own name", (unsigned long long)i);
		(void)gguf_get_u32(f, key, &u);
		(void)gguf_get_f32(f, key, &x);
		(void)gguf_get_bool(f, key, &b);
		(void)gguf_get_str(f, key, &s);
	}
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor_info *t = &f->tensors[i];
		const uint8_t *p = t->data;

		/* the data of an accepted tensor lies inside the input: touch both ends */
		FUZZ_CHECK(p >= data && t->size <= size && p - data <= (ptrdiff_t)(size - t->size),
			   "tensor %llu data outside the file", (unsigned long long)i);
		if (t->size) {
			volatile uint8_t first = p[0], last = p[t->size - 1];

			(void)first;
			(void)last;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(t->name.len < 127 ? t->name.len : 127),
			 t->name.ptr);
		(void)gguf_find_tensor(f, key);
		(void)gguf_tensor_type_name(t->type);
	}
	use_vocab(f);
	gguf_close(f);
	return 0;
}
