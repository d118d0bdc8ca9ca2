/* SPDX-License-Identifier: MIT */
/*
 * gguf_writer.c - GGUF v3 writer.
 *
 * Key/values are serialised as soon as they are set (so copied arrays need not outlive the
 * source file), tensors are only referenced. The file is written to a temporary beside path
 * (hal/files.h) and renamed over path at the end, so a failed or interrupted write never
 * leaves a half file under the real name.
 *
 * The setters have no error buffer, so the first failure is remembered and reported again by
 * gguf_writer_write(): a caller that ignores a setter's status still cannot write a file that
 * silently lacks a key or a tensor.
 */
#include "hal/files.h"
#include "gguf.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool oom;
};

struct wkv {
	char *key;
	size_t key_len;
	enum gguf_value_type type;
	struct buf val; /* the value as it goes in the file, after the type */
};

struct wtensor {
	char *name;
	uint32_t type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t size;
	uint64_t offset; /* assigned by gguf_writer_write() */
	const void *data;
};

struct gguf_writer {
	struct wkv *kv;
	size_t n_kv, cap_kv;
	struct wtensor *t;
	size_t n_t, cap_t;
	enum gguf_status status; /* first failure of a setter */
	char msg[256];
};

/* ---- byte buffer ---- */

static void buf_put(struct buf *b, const void *src, size_t n)
{
	if (b->oom)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 64;
		uint8_t *p;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
	v = htole32(v);
	buf_put(b, &v, sizeof(v));
}

static void buf_u64(struct buf *b, uint64_t v)
{
	v = htole64(v);
	buf_put(b, &v, sizeof(v));
}

static void buf_str(struct buf *b, const void *s, uint64_t len)
{
	buf_u64(b, len);
	buf_put(b, s, len);
}

/* ---- errors ---- */

static enum gguf_status w_fail(struct gguf_writer *w, enum gguf_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum gguf_status w_fail(struct gguf_writer *w, enum gguf_status st, const char *fmt, ...)
{
	va_list ap;

	if (w->status)
		return st;
	w->status = st;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return st;
}

/* ---- create / free ---- */

struct gguf_writer *gguf_writer_create(void)
{
	return calloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_kv; i++) {
		free(w->kv[i].key);
		free(w->kv[i].val.p);
	}
	for (i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->kv);
	free(w->t);
	free(w);
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return true;
	if (c > SIZE_MAX / elem)
		return false;
	p = realloc(*arr, c * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = c;
	return true;
}

/* ---- key/values ---- */

static struct wkv *find_wkv(struct gguf_writer *w, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < w->n_kv; i++)
		if (w->kv[i].key_len == len && !memcmp(w->kv[i].key, key, len))
			return &w->kv[i];
	return NULL;
}

/*
 * Takes ownership of val. Setting a key again replaces its value where it stands: the reader
 * refuses duplicate keys, and the first position keeps the order the caller built.
 */
static enum gguf_status add_kv(struct gguf_writer *w, const char *key, size_t len,
			       enum gguf_value_type type, struct buf *val)
{
	struct wkv *kv;
	char *copy;

	if (val->oom) {
		free(val->p);
		return w_fail(w, GGUF_ERR_NOMEM, "out of memory for the value of key '%.*s'",
			      (int)(len > 200 ? 200 : len), key);
	}
	kv = find_wkv(w, key, len);
	if (kv) {
		free(kv->val.p);
		kv->type = type;
		kv->val = *val;
		return GGUF_OK;
	}
	copy = malloc(len + 1);
	if (!copy || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(*w->kv))) {
		free(copy);
		free(val->p);
		return w_fail(w, GGUF_ERR_NOMEM, "out of memory for key '%.*s'",
			      (int)(len > 200 ? 200 : len), key);
	}
	memcpy(copy, key, len);
	copy[len] = 0;
	kv = &w->kv[w->n_kv++];
	kv->key = copy;
	kv->key_len = len;
	kv->type = type;
	kv->val = *val;
	return GGUF_OK;
}

static enum gguf_status check_key(struct gguf_writer *w, const char *key)
{
	if (!key || !*key)
		return w_fail(w, GGUF_ERR_FORMAT, "empty key");
	return GGUF_OK;
}

enum gguf_status gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	struct buf b = { 0 };

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	buf_u32(&b, v);
	return add_kv(w, key, strlen(key), GGUF_TYPE_UINT32, &b);
}

enum gguf_status gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
	struct buf b = { 0 };
	uint32_t u;

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	memcpy(&u, &v, sizeof(u));
	buf_u32(&b, u);
	return add_kv(w, key, strlen(key), GGUF_TYPE_FLOAT32, &b);
}

enum gguf_status gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
	struct buf b = { 0 };
	uint8_t u = v;

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	buf_put(&b, &u, 1);
	return add_kv(w, key, strlen(key), GGUF_TYPE_BOOL, &b);
}

enum gguf_status gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
	struct buf b = { 0 };

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	if (!v)
		return w_fail(w, GGUF_ERR_FORMAT, "NULL string for key '%s'", key);
	buf_str(&b, v, strlen(v));
	return add_kv(w, key, strlen(key), GGUF_TYPE_STRING, &b);
}

static uint64_t le_u64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t le_u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t scalar_size(uint32_t type)
{
	static const uint8_t size[GGUF_TYPE_COUNT] = {
		1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8,
	};
	return type < GGUF_TYPE_COUNT ? size[type] : 0;
}

/*
 * Bytes taken by n elements of type at p, inside a file the reader has already validated, so
 * walking it is safe. STRING arrays of a parsed key carry their offsets: O(1) instead of O(n).
 */
static uint64_t elems_extent(uint32_t type, uint64_t n, const uint8_t *p, const uint64_t *offs)
{
	uint64_t i, off = 0;

	if (type != GGUF_TYPE_STRING && type != GGUF_TYPE_ARRAY)
		return n * scalar_size(type);
	if (!n)
		return 0;
	if (type == GGUF_TYPE_STRING && offs)
		return offs[n - 1] + 8 + le_u64_at(p + offs[n - 1]);
	for (i = 0; i < n; i++) {
		if (type == GGUF_TYPE_STRING)
			off += 8 + le_u64_at(p + off);
		else
			off += 12 + elems_extent(le_u32_at(p + off), le_u64_at(p + off + 4),
						 p + off + 12, NULL);
	}
	return off;
}

static void put_scalar(struct buf *b, const struct gguf_kv *kv)
{
	uint8_t u8 = (uint8_t)kv->v.u64;
	uint16_t u16 = htole16((uint16_t)kv->v.u64);
	float f = (float)kv->v.f64;
	double d = kv->v.f64;
	uint32_t u32;
	uint64_t u64;

	switch (kv->type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL:
		buf_put(b, &u8, 1);
		break;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
		buf_put(b, &u16, 2);
		break;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32:
		buf_u32(b, (uint32_t)kv->v.u64);
		break;
	case GGUF_TYPE_FLOAT32:
		memcpy(&u32, &f, sizeof(u32));
		buf_u32(b, u32);
		break;
	case GGUF_TYPE_FLOAT64:
		memcpy(&u64, &d, sizeof(u64));
		buf_u64(b, u64);
		break;
	default: /* UINT64, INT64: the union's two views share their bits */
		buf_u64(b, kv->v.u64);
		break;
	}
}

enum gguf_status gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv)
{
	struct buf b = { 0 };
	uint64_t ext;

	if (!w)
		return GGUF_ERR_NOMEM;
	if (!kv || !kv->key.len)
		return w_fail(w, GGUF_ERR_FORMAT, "copy of a key/value without a key");
	if ((unsigned)kv->type >= GGUF_TYPE_COUNT)
		return w_fail(w, GGUF_ERR_FORMAT, "copy of key '%.*s' with unknown value type %u",
			      (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr,
			      (unsigned)kv->type);
	switch (kv->type) {
	case GGUF_TYPE_STRING:
		buf_str(&b, kv->v.str.ptr, kv->v.str.len);
		break;
	case GGUF_TYPE_ARRAY:
		/* the elements are already in file format: copy their bytes as they are */
		ext = elems_extent(kv->v.arr.type, kv->v.arr.n, kv->v.arr.data, kv->v.arr.str_offs);
		buf_u32(&b, kv->v.arr.type);
		buf_u64(&b, kv->v.arr.n);
		buf_put(&b, kv->v.arr.data, ext);
		break;
	default:
		put_scalar(&b, kv);
		break;
	}
	return add_kv(w, kv->key.ptr, kv->key.len, kv->type, &b);
}

/*
 * Arrays built in memory (a vocabulary the project writes itself): 32-bit elements are
 * stored little-endian, so the host's words are swapped one by one where it is big-endian.
 */
enum gguf_status gguf_writer_set_arr32(struct gguf_writer *w, const char *key,
				       enum gguf_value_type type, const void *elems, uint64_t n)
{
	struct buf b = { 0 };
	const uint32_t *e = elems;

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	if (scalar_size(type) != 4 || (n && !elems))
		return w_fail(w, GGUF_ERR_FORMAT, "key '%s': not an array of 32-bit elements", key);
	buf_u32(&b, type);
	buf_u64(&b, n);
	for (uint64_t i = 0; i < n; i++)
		buf_u32(&b, e[i]);
	return add_kv(w, key, strlen(key), GGUF_TYPE_ARRAY, &b);
}

enum gguf_status gguf_writer_set_str_arr(struct gguf_writer *w, const char *key,
					 const char *const *strs, uint64_t n)
{
	struct buf b = { 0 };

	if (!w)
		return GGUF_ERR_NOMEM;
	if (check_key(w, key))
		return GGUF_ERR_FORMAT;
	buf_u32(&b, GGUF_TYPE_STRING);
	buf_u64(&b, n);
	for (uint64_t i = 0; i < n; i++) {
		if (!strs[i]) {
			free(b.p);
			return w_fail(w, GGUF_ERR_FORMAT, "key '%s': string %llu is NULL", key,
				      (unsigned long long)i);
		}
		buf_str(&b, strs[i], strlen(strs[i]));
	}
	return add_kv(w, key, strlen(key), GGUF_TYPE_ARRAY, &b);
}

/* ---- tensors ---- */

static enum gguf_status tensor_size(struct gguf_writer *w, const char *name, uint32_t type,
				    uint32_t n_dims, const uint64_t *ne, uint64_t *size)
{
	uint32_t bs, bb, d;
	uint64_t s;

	if (!gguf_tensor_type_block(type, &bs, &bb))
		return w_fail(w, GGUF_ERR_UNSUPPORTED, "tensor '%s': unknown %s",
			      name, gguf_tensor_type_name(type));
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
		return w_fail(w, GGUF_ERR_FORMAT, "tensor '%s': n_dims %" PRIu32 " is not in 1..%d",
			      name, n_dims, GGUF_MAX_DIMS);
	for (d = 0; d < n_dims; d++)
		if (!ne[d])
			return w_fail(w, GGUF_ERR_FORMAT, "tensor '%s': dimension %" PRIu32
				      " is zero", name, d);
	if (ne[0] % bs)
		return w_fail(w, GGUF_ERR_FORMAT, "tensor '%s': dimension 0 (%" PRIu64 ") is not a "
			      "multiple of the %s block size %" PRIu32, name, ne[0],
			      gguf_tensor_type_name(type), bs);
	s = ne[0] / bs;
	if (s > UINT64_MAX / bb)
		goto overflow;
	s *= bb;
	for (d = 1; d < n_dims; d++) {
		if (s > UINT64_MAX / ne[d])
			goto overflow;
		s *= ne[d];
	}
	*size = s;
	return GGUF_OK;
overflow:
	return w_fail(w, GGUF_ERR_FORMAT, "tensor '%s': byte size overflows", name);
}

enum gguf_status gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
					uint32_t n_dims, const uint64_t *ne, const void *data)
{
	struct wtensor *t;
	enum gguf_status st;
	uint64_t size = 0;
	uint32_t d;
	size_t i;

	if (!w)
		return GGUF_ERR_NOMEM;
	if (!name || !*name)
		return w_fail(w, GGUF_ERR_FORMAT, "tensor without a name");
	for (i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return w_fail(w, GGUF_ERR_FORMAT, "duplicate tensor '%s'", name);
	st = tensor_size(w, name, type, n_dims, ne, &size);
	if (st)
		return st;
	if (!data)
		return w_fail(w, GGUF_ERR_FORMAT, "tensor '%s' without data", name);
	if (!grow((void **)&w->t, &w->cap_t, w->n_t, sizeof(*w->t)))
		return w_fail(w, GGUF_ERR_NOMEM, "out of memory for tensor '%s'", name);
	t = &w->t[w->n_t];
	t->name = strdup(name);
	if (!t->name)
		return w_fail(w, GGUF_ERR_NOMEM, "out of memory for tensor '%s'", name);
	w->n_t++;
	t->type = type;
	t->n_dims = n_dims;
	for (d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->size = size;
	t->data = data;
	return GGUF_OK;
}

/* ---- writing ---- */

struct out {
	FILE *fp;
	uint64_t pos;
	int err; /* errno of the first failed write */
};

static void out_put(struct out *o, const void *p, size_t n)
{
	if (o->err || !n)
		return;
	errno = 0;
	if (fwrite(p, 1, n, o->fp) != n) {
		o->err = errno ? errno : EIO;
		return;
	}
	o->pos += n;
}

static void out_u32(struct out *o, uint32_t v)
{
	v = htole32(v);
	out_put(o, &v, sizeof(v));
}

static void out_u64(struct out *o, uint64_t v)
{
	v = htole64(v);
	out_put(o, &v, sizeof(v));
}

static void out_str(struct out *o, const char *s, uint64_t len)
{
	out_u64(o, len);
	out_put(o, s, len);
}

/* Zero bytes up to file position pos. */
static void out_pad_to(struct out *o, uint64_t pos)
{
	static const uint8_t zeros[256];

	while (!o->err && o->pos < pos) {
		uint64_t n = pos - o->pos;

		out_put(o, zeros, n < sizeof(zeros) ? n : sizeof(zeros));
	}
}

/* general.alignment if the caller set one (it must then be valid), else the default. */
static enum gguf_status writer_alignment(struct gguf_writer *w, uint64_t *alignment)
{
	const char key[] = "general.alignment";
	struct wkv *kv = find_wkv(w, key, sizeof(key) - 1);
	uint32_t a;

	*alignment = GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return GGUF_OK;
	if (kv->type != GGUF_TYPE_UINT32)
		return w_fail(w, GGUF_ERR_FORMAT, "%s must be a UINT32, not %s", key,
			      gguf_type_name(kv->type));
	a = le_u32_at(kv->val.p);
	if (!a || (a & (a - 1)))
		return w_fail(w, GGUF_ERR_FORMAT, "%s %" PRIu32 " is not a non-zero power of two",
			      key, a);
	*alignment = a;
	return GGUF_OK;
}

static enum gguf_status assign_offsets(struct gguf_writer *w, uint64_t alignment)
{
	uint64_t off = 0;
	size_t i;

	for (i = 0; i < w->n_t; i++) {
		struct wtensor *t = &w->t[i];

		if (off > UINT64_MAX - (alignment - 1))
			goto overflow;
		off = (off + alignment - 1) & ~(alignment - 1);
		t->offset = off;
		if (t->size > UINT64_MAX - off)
			goto overflow;
		off += t->size;
	}
	return GGUF_OK;
overflow:
	return w_fail(w, GGUF_ERR_FORMAT, "tensor data exceed 2^64 bytes");
}

static void write_all(struct gguf_writer *w, struct out *o, uint64_t alignment)
{
	uint64_t data_start;
	size_t i;
	uint32_t d;

	out_put(o, "GGUF", 4);
	out_u32(o, 3);
	out_u64(o, w->n_t);
	out_u64(o, w->n_kv);
	for (i = 0; i < w->n_kv; i++) {
		out_str(o, w->kv[i].key, w->kv[i].key_len);
		out_u32(o, w->kv[i].type);
		out_put(o, w->kv[i].val.p, w->kv[i].val.len);
	}
	for (i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];

		out_str(o, t->name, strlen(t->name));
		out_u32(o, t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			out_u64(o, t->ne[d]);
		out_u32(o, t->type);
		out_u64(o, t->offset);
	}
	data_start = (o->pos + alignment - 1) & ~(alignment - 1);
	out_pad_to(o, data_start);
	for (i = 0; i < w->n_t; i++) {
		out_pad_to(o, data_start + w->t[i].offset);
		out_put(o, w->t[i].data, w->t[i].size);
	}
}

static enum gguf_status io_err(char *err, size_t err_len, const char *what, const char *path,
			       int errnum)
{
	if (err && err_len)
		snprintf(err, err_len, "%s: %s: %s", path, what, strerror(errnum));
	return GGUF_ERR_IO;
}

/* Writes tmp (open as fd), syncs it and renames it to path; removes tmp on any failure. */
static enum gguf_status write_file(struct gguf_writer *w, int fd, const char *tmp,
				   const char *path, uint64_t alignment, char *err, size_t err_len)
{
	struct out o = { 0 };

	o.fp = fdopen(fd, "wb");
	if (!o.fp) {
		int e = errno;
		hal_file_abandon(fd, tmp);
		return io_err(err, err_len, "cannot write", path, e);
	}
	write_all(w, &o, alignment);
	if (!o.err && fflush(o.fp))
		o.err = errno;
	/* the rename must not publish a file whose blocks are still only in the page cache */
	if (!o.err && fsync(fd))
		o.err = errno;
	int e = fclose(o.fp) ? errno : 0;
	if (!o.err && e)
		o.err = e;
	/* the user named path: the temporary's name, gone by now, would say nothing to them */
	if (o.err) {
		hal_file_discard(tmp);
		return io_err(err, err_len, "write failed", path, o.err);
	}
	if (hal_file_publish(tmp, path, err, err_len))
		return GGUF_ERR_IO;
	return GGUF_OK;
}

enum gguf_status gguf_writer_write(struct gguf_writer *w, const char *path, char *err,
				   size_t err_len)
{
	enum gguf_status st;
	uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
	char *tmp;

	if (err && err_len)
		err[0] = 0;
	if (!w) {
		if (err && err_len)
			snprintf(err, err_len, "%s: out of memory creating the writer", path);
		return GGUF_ERR_NOMEM;
	}
	if (!w->status && !writer_alignment(w, &alignment))
		assign_offsets(w, alignment);
	if (w->status) {
		if (err && err_len)
			snprintf(err, err_len, "%s: not written: %s", path, w->msg);
		return w->status;
	}
	tmp = malloc(HAL_FILE_TMP_LEN(path));
	if (!tmp) {
		if (err && err_len)
			snprintf(err, err_len, "%s: out of memory", path);
		return GGUF_ERR_NOMEM;
	}
	/* never through a symlink or into a FIFO or device at path, never a half-written path */
	int fd = hal_file_create(path, tmp, HAL_FILE_TMP_LEN(path), err, err_len);
	st = fd < 0 ? GGUF_ERR_IO : write_file(w, fd, tmp, path, alignment, err, err_len);
	free(tmp);
	return st;
}
