/* SPDX-License-Identifier: MIT */
/*
 * gguf.h - GGUF v2/v3 reader (mmap'd, bounds-checked) and writer.
 *
 * The reader never trusts the file: every length, count, offset and string is checked against
 * the file size before it is used, and a malformed file yields GGUF_ERR_FORMAT with a message
 * naming the field and its byte offset. Strings and tensor data point into the mapping; they
 * live as long as the gguf_file.
 */
#ifndef EDGE_NPU_GGUF_H
#define EDGE_NPU_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_status {
	GGUF_OK = 0,
	GGUF_ERR_IO = -1,          /* open/stat/mmap/write failed (errno in the message) */
	GGUF_ERR_FORMAT = -2,      /* malformed or truncated file */
	GGUF_ERR_UNSUPPORTED = -3, /* well-formed but uses something we do not support */
	GGUF_ERR_NOMEM = -4,
	GGUF_ERR_NOT_FOUND = -5,   /* key or tensor absent (lookup helpers) */
	GGUF_ERR_TYPE = -6,        /* key present with another value type */
};

enum gguf_value_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

/* ggml tensor type ids as stored in GGUF (the subset edge-npu computes with). */
enum gguf_tensor_type {
	GGUF_TENSOR_F32 = 0,
	GGUF_TENSOR_F16 = 1,
	GGUF_TENSOR_Q4_0 = 2,
	GGUF_TENSOR_Q8_0 = 8,
	GGUF_TENSOR_Q4_K = 12,
	GGUF_TENSOR_Q5_K = 13,
	GGUF_TENSOR_Q6_K = 14,
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

/* A string inside the file: not NUL-terminated. */
struct gguf_str {
	const char *ptr;
	uint64_t len;
};

struct gguf_kv {
	struct gguf_str key;
	enum gguf_value_type type;
	uint64_t offset; /* byte offset of the key/value pair in the file */
	union {
		uint64_t u64;   /* UINT8..UINT64, BOOL (0/1) */
		int64_t i64;    /* INT8..INT64 */
		double f64;     /* FLOAT32, FLOAT64 */
		struct gguf_str str;
		struct {
			enum gguf_value_type type; /* element type; nested arrays are accepted */
			uint64_t n;
			const uint8_t *data;       /* first element in the file */
			const uint64_t *str_offs;  /* STRING arrays: offset of each element's length
			                            * prefix relative to data, precomputed */
		} arr;
	} v;
};

struct gguf_tensor_info {
	struct gguf_str name;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] innermost; unused dims are 1 */
	uint32_t type;              /* enum gguf_tensor_type */
	uint64_t offset;            /* relative to the data section */
	uint64_t size;              /* bytes */
	const void *data;           /* inside the mapping */
	uint64_t info_offset;       /* byte offset of this tensor info in the file */
};

struct gguf_file {
	uint32_t version;
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor_info *tensors;
	uint64_t alignment;
	uint64_t data_offset; /* start of the tensor data section */
	const uint8_t *base;
	uint64_t size;
	/* private */
	bool mapped;
	void *allocs;
};

/*
 * Parses size bytes at data (not copied: the caller keeps them alive and unchanged for the
 * life of *out). On error returns the status, *out is NULL and err holds a message such as
 * "tensor info 3 (blk.0.attn_q.weight): dimension 1 at byte 1234 overflows".
 * Fuzzer entry point.
 */
enum gguf_status gguf_parse(const void *data, size_t size, struct gguf_file **out,
			    char *err, size_t err_len);

/* mmaps path read-only and parses it; messages start with the path. */
enum gguf_status gguf_open(const char *path, struct gguf_file **out, char *err, size_t err_len);
/*
 * Parses size bytes of a whole file at map, a mapping (mmap: file or anonymous) that *out
 * then owns and unmaps when closed; on error the caller keeps it. Messages start with name.
 */
enum gguf_status gguf_adopt(void *map, size_t size, const char *name, struct gguf_file **out,
			    char *err, size_t err_len);

void gguf_close(struct gguf_file *f);

const char *gguf_type_name(enum gguf_value_type type);
/* "F32", "Q8_0", "Q6_K", ... or "type 123" for ids not known at all. */
const char *gguf_tensor_type_name(uint32_t type);
/* Elements per block and bytes per block of a known ggml type id; false for unknown ids. */
bool gguf_tensor_type_block(uint32_t type, uint32_t *block_size, uint32_t *block_bytes);

/* Lookups by exact name; NULL when absent. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key);
const struct gguf_tensor_info *gguf_find_tensor(const struct gguf_file *f, const char *name);

/*
 * Typed getters. Integers accept any integer type whose value fits the target; floats accept
 * FLOAT32/FLOAT64. GGUF_ERR_NOT_FOUND when absent, GGUF_ERR_TYPE when the type does not fit.
 */
enum gguf_status gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
enum gguf_status gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
enum gguf_status gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
/* A STRING value. */
enum gguf_status gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* Whether s equals the NUL-terminated c. */
bool gguf_str_eq(struct gguf_str s, const char *c);

/* Array element access (i < kv->v.arr.n, element type checked by the caller). */
struct gguf_str gguf_arr_str(const struct gguf_kv *kv, uint64_t i);
float gguf_arr_f32(const struct gguf_kv *kv, uint64_t i);
int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i); /* any integer element type */

/*
 * Writer: collects key/values and tensors, then writes a GGUF v3 file. Tensor data are
 * referenced, not copied, until gguf_writer_write() returns. Keys are written in the order added.
 */
struct gguf_writer;

struct gguf_writer *gguf_writer_create(void);
void gguf_writer_free(struct gguf_writer *w);
enum gguf_status gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
enum gguf_status gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
enum gguf_status gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
enum gguf_status gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Copies a key/value (any type, arrays included) from a parsed file, e.g. a tokenizer. */
enum gguf_status gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv);
/* An array of n 32-bit elements (UINT32, INT32 or FLOAT32) from host memory. */
enum gguf_status gguf_writer_set_arr32(struct gguf_writer *w, const char *key,
				       enum gguf_value_type type, const void *elems, uint64_t n);
/* An array of n NUL-terminated strings. */
enum gguf_status gguf_writer_set_str_arr(struct gguf_writer *w, const char *key,
					 const char *const *strs, uint64_t n);
/* ne[0] innermost; size is computed from type and shape. */
enum gguf_status gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
					uint32_t n_dims, const uint64_t *ne, const void *data);
enum gguf_status gguf_writer_write(struct gguf_writer *w, const char *path, char *err,
				   size_t err_len);

#endif
