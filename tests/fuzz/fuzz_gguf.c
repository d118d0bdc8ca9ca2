/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gguf.c - the GGUF reader (driver/gguf.h): gguf_parse() on the input as a whole file,
 * then every accessor a loader uses on what it accepted (keys, typed getters, array elements,
 * tensor lookups), since those read the mapping through offsets the parser computed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/gguf.h"
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
	gguf_close(f);
	return 0;
}
