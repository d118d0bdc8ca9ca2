/* SPDX-License-Identifier: MIT */
/*
 * session_state.c - a session's sequence as data: rewinding it (truncate), and saving and
 * restoring it (the evaluated tokens' K and V rows of every layer, the tokens themselves, the
 * pending token and the logits) to a buffer or a file.
 *
 * The state format, little-endian as the host: a 48-byte header (magic "ENPUSES1", then u32
 * version, n_layer, kv_dim, n_vocab, n_past, flags (1: a pending token, 2: logits), i32
 * pending token, u32 cache type, u64 model fingerprint), then per layer n_past K rows and
 * n_past V rows of kv_dim elements as the cache stores them, then the n_past token ids (i32)
 * when flag 4 is set, then n_vocab float logits when flag 2 is set. The tokens are saved
 * whenever the session knows them all (not when it was itself restored from a state without
 * them): a speculative session's draft re-reads them, and the repetition penalty sees them.
 * A state without flag 4, as every state before the flag existed, restores the rows alone. The cache type is the rows' hal_type: 0 F32 (what states written before the
 * field existed hold there), 1 F16, 2 Q8_0 (hal_row_bytes(type, kv_dim) bytes a row). A state
 * goes back only into a session whose cache has the same type: converting would round the
 * rows a second time. The fingerprint (FNV-1a over
 * the hyperparameters and each weight's name, type, shape and first bytes) keeps a state from
 * being restored into another model of the same shape.
 */
#include "hal/files.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "ENPUSES1"
#define STATE_VERSION 1u
#define STATE_PENDING 1u
#define STATE_LOGITS 2u
#define STATE_TOKENS 4u

struct state_header {
	char magic[8];
	uint32_t version, n_layer, kv_dim, n_vocab, n_past, flags;
	int32_t pending;
	uint32_t cache_type;
	uint64_t fingerprint;
};
_Static_assert(sizeof(struct state_header) == 48, "the header is 48 bytes on every ABI");

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fingerprint(const enpu_model *m)
{
	const struct sched_hparams *hp = &m->sm.hp;
	const uint32_t u[] = { hp->n_vocab, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv,
			       hp->n_ff, hp->n_rot };
	const float f[] = { hp->rope_freq_base, hp->rope_freq_scale, hp->rms_eps };
	uint64_t h = fnv(fnv(0xcbf29ce484222325ull, u, sizeof(u)), f, sizeof(f));

	for (uint32_t i = 0; i < m->n_weights; i++) {
		const struct sched_weight *w = &m->weights[i];
		size_t row = hal_row_bytes(w->type, w->ne[0]);

		h = fnv(h, w->name, strlen(w->name));
		h = fnv(h, &w->type, sizeof(w->type));
		h = fnv(h, w->ne, sizeof(w->ne));
		if (w->data)
			h = fnv(h, w->data, row < 32 ? row : 32);
	}
	return h;
}

static uint32_t kv_dim(const enpu_session *s)
{
	return s->model->sm.hp.n_head_kv * sched_head_dim(&s->model->sm.hp);
}

/* Layer l's K (which 0) or V (1) cache rows. */
static void *cache_rows(const enpu_session *s, uint32_t l, int which)
{
	return which ? s->v_cache[l].data : s->k_cache[l].data;
}

/* Bytes of n cache rows of the session's type. */
static size_t rows_bytes(const enpu_session *s, size_t n)
{
	return n * hal_row_bytes(s->k_cache[0].type, kv_dim(s));
}

static enpu_status session_truncate(enpu_session *s, uint32_t n)
{
	const uint32_t len = s->n_past + s->has_pending;

	if (n > len)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_truncate: %u tokens asked, the sequence has %u", n,
				    len);
	if (n == len)
		return ENPU_OK;
	/* the pending token goes first; the logits stay only while they are token n-1's */
	s->has_pending = false;
	if (n < s->n_past)
		s->have_logits = false;
	s->n_past = n;
	if (s->history_from > n)
		s->history_from = n; /* positions below n stay unknown; those after are new */
	return ENPU_OK;
}

enpu_status enpu_session_truncate(enpu_session *s, uint32_t n)
{
	DRV_SESSION_CALL(s, "enpu_session_truncate", session_truncate(s, n));
}

/* What a state of s holds beside the rows (tokens only when the session knows them all). */
static uint32_t state_flags(const enpu_session *s)
{
	return (s->has_pending ? STATE_PENDING : 0) | (s->have_logits ? STATE_LOGITS : 0) |
	       (s->history_from == 0 ? STATE_TOKENS : 0);
}

static struct state_header header_of(const enpu_session *s)
{
	struct state_header h = {
		.version = STATE_VERSION,
		.n_layer = s->model->sm.hp.n_layer,
		.kv_dim = kv_dim(s),
		.n_vocab = s->model->sm.hp.n_vocab,
		.n_past = s->n_past,
		.flags = state_flags(s),
		.pending = s->has_pending ? s->pending : 0,
		.cache_type = (uint32_t)s->k_cache[0].type,
		.fingerprint = fingerprint(s->model),
	};
	memcpy(h.magic, STATE_MAGIC, sizeof(h.magic));
	return h;
}

size_t enpu_session_state_size(const enpu_session *s)
{
	if (!s)
		return 0;
	const size_t rows = 2 * (size_t)s->model->sm.hp.n_layer * s->n_past;
	const uint32_t flags = state_flags(s);

	return sizeof(struct state_header) + rows_bytes(s, rows) +
	       (flags & STATE_TOKENS ? sizeof(int32_t) * s->n_past : 0) +
	       sizeof(float) * (flags & STATE_LOGITS ? s->model->sm.hp.n_vocab : 0);
}

enpu_status enpu_session_state_save(const enpu_session *s, void *buf, size_t cap,
				    size_t *out_len)
{
	if (!s)
		return ENPU_ERR_INVALID_ARG;
	const size_t need = enpu_session_state_size(s);

	if (out_len)
		*out_len = need;
	if (!buf || cap < need)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_state_save: the state takes %zu bytes, the buffer "
				    "has %zu", need, buf ? cap : 0);
	const struct state_header h = header_of(s);
	const size_t row_bytes = rows_bytes(s, h.n_past);
	char *p = buf;

	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (uint32_t l = 0; l < h.n_layer; l++)
		for (int which = 0; which < 2; which++, p += row_bytes)
			memcpy(p, cache_rows(s, l, which), row_bytes);
	if (h.flags & STATE_TOKENS) {
		_Static_assert(sizeof(enpu_token) == sizeof(int32_t), "tokens are saved as i32");
		memcpy(p, s->history, sizeof(int32_t) * h.n_past);
		p += sizeof(int32_t) * h.n_past;
	}
	if (s->have_logits)
		memcpy(p, s->logits, sizeof(float) * h.n_vocab);
	return ENPU_OK;
}

/* Why buffer buf of len bytes, header b, is not a state s can take ("" when it is). */
static void check_state(const enpu_session *s, const struct state_header *b, const void *buf,
			size_t len, char *why, size_t why_len)
{
	const struct state_header h = header_of(s);
	const size_t rows = 2 * (size_t)h.n_layer * b->n_past;
	const size_t want = sizeof(*b) + rows_bytes(s, rows) +
			    (b->flags & STATE_TOKENS ? sizeof(int32_t) * (size_t)b->n_past : 0) +
			    sizeof(float) * (b->flags & STATE_LOGITS ? h.n_vocab : 0);

	why[0] = 0;
	if (memcmp(b->magic, STATE_MAGIC, sizeof(b->magic)))
		snprintf(why, why_len, "not a session state (bad magic)");
	else if (b->version != STATE_VERSION)
		snprintf(why, why_len, "state version %u, this library reads %u", b->version,
			 STATE_VERSION);
	else if (b->n_layer != h.n_layer || b->kv_dim != h.kv_dim || b->n_vocab != h.n_vocab ||
		 b->fingerprint != h.fingerprint)
		snprintf(why, why_len, "the state is of another model");
	else if (b->flags & ~(STATE_PENDING | STATE_LOGITS | STATE_TOKENS))
		snprintf(why, why_len, "unknown flags 0x%x", b->flags);
	else if (b->cache_type != h.cache_type)
		snprintf(why, why_len, "the state's KV cache rows are %s, the session's %s",
			 b->cache_type < HAL_TYPE_COUNT ? hal_type_name(b->cache_type) : "unknown",
			 hal_type_name(h.cache_type));
	else if (b->n_past > s->n_ctx || b->n_past + !!(b->flags & STATE_PENDING) > s->n_ctx)
		snprintf(why, why_len, "%llu tokens do not fit the session's %u-token context",
			 (unsigned long long)b->n_past + !!(b->flags & STATE_PENDING), s->n_ctx);
	else if ((b->flags & STATE_PENDING) && (b->pending < 0 || (uint32_t)b->pending >= h.n_vocab))
		snprintf(why, why_len, "pending token %d is outside the vocabulary", b->pending);
	else if (len != want)
		snprintf(why, why_len, "%zu bytes, the header says %zu", len, want);
	else if (b->flags & STATE_TOKENS) {
		const char *t = (const char *)buf + sizeof(*b) + rows_bytes(s, rows);

		for (uint32_t i = 0; i < b->n_past; i++) {
			int32_t v;

			memcpy(&v, t + sizeof(v) * i, sizeof(v));
			if (v < 0 || (uint32_t)v >= h.n_vocab) {
				snprintf(why, why_len, "token %u of the sequence, %d, is outside the "
					 "vocabulary", i, v);
				break;
			}
		}
	}
}

static enpu_status state_load(enpu_session *s, const void *buf, size_t len)
{
	struct state_header b;
	char why[160];

	if (!buf || len < sizeof(b))
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_FORMAT,
				    "enpu_session_state_load: %zu bytes, shorter than a state header",
				    buf ? len : 0);
	memcpy(&b, buf, sizeof(b));
	check_state(s, &b, buf, len, why, sizeof(why));
	if (why[0])
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_FORMAT, "enpu_session_state_load: %s",
				    why);
	const size_t row_bytes = rows_bytes(s, b.n_past);
	const char *p = (const char *)buf + sizeof(b);

	for (uint32_t l = 0; l < b.n_layer; l++)
		for (int which = 0; which < 2; which++, p += row_bytes)
			memcpy(cache_rows(s, l, which), p, row_bytes);
	/* without its tokens, the penalty sees only new ones and a draft cannot follow */
	s->history_from = b.n_past;
	if (b.flags & STATE_TOKENS) {
		memcpy(s->history, p, sizeof(int32_t) * b.n_past);
		p += sizeof(int32_t) * b.n_past;
		s->history_from = 0;
	}
	s->have_logits = b.flags & STATE_LOGITS;
	if (s->have_logits)
		memcpy(s->logits, p, sizeof(float) * b.n_vocab);
	s->n_past = b.n_past;
	s->has_pending = b.flags & STATE_PENDING;
	s->pending = b.pending;
	return ENPU_OK;
}

enpu_status enpu_session_state_load(enpu_session *s, const void *buf, size_t len)
{
	DRV_SESSION_CALL(s, "enpu_session_state_load", state_load(s, buf, len));
}

static enpu_status io_fail(const enpu_session *s, const char *call, const char *err)
{
	return drv_ctx_fail(s->model->ctx, ENPU_ERR_IO, "%s: %s", call, err);
}

enpu_status enpu_session_save_file(const enpu_session *s, const char *path)
{
	if (!s || !path || !*path)
		return s ? drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
					"enpu_session_save_file: no path given")
			 : ENPU_ERR_INVALID_ARG;
	const size_t len = enpu_session_state_size(s);
	char *buf = malloc(len), *tmp = malloc(HAL_FILE_TMP_LEN(path)), err[512];

	if (!buf || !tmp) {
		free(buf);
		free(tmp);
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_NO_MEMORY,
				    "enpu_session_save_file: out of memory for %zu bytes", len);
	}
	enpu_status st = enpu_session_state_save(s, buf, len, NULL);
	int fd = st ? -1 : hal_file_create(path, tmp, HAL_FILE_TMP_LEN(path), err, sizeof(err));

	if (!st && fd < 0)
		st = io_fail(s, "enpu_session_save_file", err);
	int e = st ? 0 : hal_file_write_all(fd, buf, len);
	if (e) {
		snprintf(err, sizeof(err), "%s: write failed: %s", path, strerror(e));
		hal_file_abandon(fd, tmp);
		st = io_fail(s, "enpu_session_save_file", err);
	}
	if (!st && hal_file_commit(fd, tmp, path, err, sizeof(err)))
		st = io_fail(s, "enpu_session_save_file", err);
	free(buf);
	free(tmp);
	return st;
}

enpu_status enpu_session_load_file(enpu_session *s, const char *path)
{
	if (!s || !path || !*path)
		return s ? drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
					"enpu_session_load_file: no path given")
			 : ENPU_ERR_INVALID_ARG;
	char err[512];
	size_t len;
	int fd = hal_file_open_regular(path, &len, err, sizeof(err));

	if (fd < 0)
		return io_fail(s, "enpu_session_load_file", err);
	/* a state is never larger than the session's own at a full context */
	const size_t most = sizeof(struct state_header) +
			    rows_bytes(s, 2 * (size_t)s->model->sm.hp.n_layer * s->n_ctx) +
			    sizeof(int32_t) * s->n_ctx + sizeof(float) * s->model->sm.hp.n_vocab;
	char *buf = len <= most ? malloc(len ? len : 1) : NULL;
	enpu_status st = ENPU_OK;

	if (len > most)
		st = drv_ctx_fail(s->model->ctx, ENPU_ERR_FORMAT,
				  "enpu_session_load_file: %s: %zu bytes, more than any state of this "
				  "session", path, len);
	else if (!buf)
		st = drv_ctx_fail(s->model->ctx, ENPU_ERR_NO_MEMORY,
				  "enpu_session_load_file: out of memory for %zu bytes", len);
	int e = st ? 0 : hal_file_read_all(fd, buf, len);
	if (e)
		st = drv_ctx_fail(s->model->ctx, ENPU_ERR_IO, "enpu_session_load_file: %s: %s", path,
				  e == ENODATA ? "shorter than when opened" : strerror(e));
	close(fd);
	if (!st)
		st = enpu_session_state_load(s, buf, len);
	free(buf);
	return st;
}
