/* SPDX-License-Identifier: MIT */
/* session.c - sessions: KV cache, batched evaluation, sampling and generation. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

/*
 * The sessions alive in this process, so that a call given a freed session can say so
 * instead of reading freed memory: a pointer compare only (few sessions live at once).
 */
static struct {
	pthread_mutex_t lock;
	const enpu_session **s;
	size_t n, cap;
} live = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool live_add(const enpu_session *s)
{
	pthread_mutex_lock(&live.lock);
	if (live.n == live.cap) {
		size_t cap = live.cap ? 2 * live.cap : 16;
		const enpu_session **p = realloc(live.s, cap * sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&live.lock);
			return false;
		}
		live.s = p;
		live.cap = cap;
	}
	live.s[live.n++] = s;
	pthread_mutex_unlock(&live.lock);
	return true;
}

static void live_remove(const enpu_session *s)
{
	pthread_mutex_lock(&live.lock);
	for (size_t i = 0; i < live.n; i++)
		if (live.s[i] == s) {
			live.s[i] = live.s[--live.n];
			break;
		}
	pthread_mutex_unlock(&live.lock);
}

bool drv_session_alive(const enpu_session *s)
{
	bool alive = false;

	pthread_mutex_lock(&live.lock);
	for (size_t i = 0; s && i < live.n && !alive; i++)
		alive = live.s[i] == s;
	pthread_mutex_unlock(&live.lock);
	return alive;
}

/* Whether the caller's options struct (of struct_size bytes) reaches past field of size len. */
#define HAS_FIELD(o, field) \
	((o) && (o)->struct_size >= offsetof(struct enpu_session_options, field) + sizeof((o)->field))

/* The caller's options as far as its struct_size reaches, the rest zero (the defaults). */
static struct enpu_session_options read_options(const struct enpu_session_options *opts)
{
	struct enpu_session_options o = { 0 };

	if (HAS_FIELD(opts, n_ctx))
		o.n_ctx = opts->n_ctx;
	/* placement, profile, objective and target came in one version: all or none */
	if (HAS_FIELD(opts, latency_target_ms)) {
		o.placement = opts->placement;
		o.profile = opts->profile;
		o.objective = opts->objective;
		o.latency_target_ms = opts->latency_target_ms;
	}
	if (HAS_FIELD(opts, priority))
		o.priority = opts->priority;
	if (HAS_FIELD(opts, cache_type))
		o.cache_type = opts->cache_type;
	/* the speculation fields came in one version: all or none */
	if (HAS_FIELD(opts, spec_fixed_k)) {
		o.draft = opts->draft;
		o.spec_k = opts->spec_k;
		o.spec_fixed_k = opts->spec_fixed_k;
	}
	if (HAS_FIELD(opts, spec_overlap))
		o.spec_overlap = opts->spec_overlap;
	return o;
}

/* Checks o against model; fills in the default context. */
static enpu_status check_options(enpu_model *model, struct enpu_session_options *o)
{
	enpu_context *ctx = model->ctx;

	if (o->placement && strcmp(o->placement, "fixed") && strcmp(o->placement, "auto"))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: placement '%s' is neither 'fixed' nor 'auto'",
				    o->placement);
	if (o->objective > 1 || (o->objective == 1 && !(o->latency_target_ms > 0)))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: objective %u needs %s", o->objective,
				    o->objective > 1 ? "to be 0 (latency) or 1 (energy)"
						     : "a latency_target_ms above 0");
	if (!enpu_cache_type_name((enum enpu_cache_type)o->cache_type))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: cache_type %u is not f16 (0), q8_0 (1) or "
				    "f32 (2)", o->cache_type);
	const uint32_t hd = sched_head_dim(&model->sm.hp);
	const enum hal_type ht = drv_cache_hal_type((enum enpu_cache_type)o->cache_type);

	if (hd % hal_type_block_elems(ht))
		return drv_ctx_fail(ctx, ENPU_ERR_UNSUPPORTED,
				    "enpu_session_create: a %s KV cache needs a head dimension that "
				    "is a multiple of %zu; this model's is %u",
				    enpu_cache_type_name((enum enpu_cache_type)o->cache_type),
				    hal_type_block_elems(ht), hd);
	if (o->n_ctx == 0)
		o->n_ctx = model->n_ctx_train < ENPU_DEFAULT_MAX_CTX ? model->n_ctx_train
								     : ENPU_DEFAULT_MAX_CTX;
	if (o->n_ctx > model->n_ctx_train)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: n_ctx %u exceeds the model's context length %u",
				    o->n_ctx, model->n_ctx_train);
	return ENPU_OK;
}

enpu_status enpu_session_create(enpu_model *model, const struct enpu_session_options *opts,
				enpu_session **out_session)
{
	if (!model)
		return ENPU_ERR_INVALID_ARG;
	enpu_context *ctx = model->ctx;
	const struct sched_hparams *hp = &model->sm.hp;

	if (!out_session)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_create: out_session is NULL");
	*out_session = NULL;
	struct enpu_session_options o = read_options(opts);
	enpu_status st = check_options(model, &o);
	if (st)
		return st;
	const uint32_t n_ctx = o.n_ctx;
	const char *placement = o.placement, *profile = o.profile;
	const uint32_t objective = o.objective;
	const double target_ms = o.latency_target_ms;
	const int32_t priority = o.priority;

	enpu_session *s = calloc(1, sizeof(*s));
	const uint32_t dkv = hp->n_head_kv * sched_head_dim(hp);
	const enum hal_type ct = drv_cache_hal_type((enum enpu_cache_type)o.cache_type);
	const size_t per_cache = (size_t)n_ctx * hal_row_bytes(ct, dkv);

	if (!s)
		goto nomem;
	s->model = model;
	s->n_ctx = n_ctx;
	s->priority = priority;
	if (placement && !strcmp(placement, "auto")) {
		char err[512];
		s->placer = malloc(sizeof(*s->placer));
		if (!s->placer)
			goto nomem;
		if (sched_placer_init(s->placer, profile, objective == 1, target_ms / 1e3, err,
				      sizeof(err))) {
			enpu_session_free(s);
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_create: %s", err);
		}
	}
	s->cache_type = (enum enpu_cache_type)o.cache_type;
	s->kv_bytes = 2 * (size_t)hp->n_layer * per_cache;
	size_t map_bytes = s->kv_bytes;

	s->kv = hal_huge_alloc(&map_bytes);
	/*
	 * In huge pages, touched now (as llama.cpp clears its cache at creation): a decode reads
	 * every layer's rows of every position, and in 4 KiB pages each step took a TLB walk
	 * every ~3 positions of each layer's K and V, and a page fault for each new page. A
	 * kernel without MADV_POPULATE_WRITE (before 5.14) gives the pages on first use instead.
	 */
	if (s->kv)
		(void)madvise(s->kv, map_bytes, MADV_POPULATE_WRITE);
	s->k_cache = calloc(hp->n_layer, sizeof(*s->k_cache));
	s->v_cache = calloc(hp->n_layer, sizeof(*s->v_cache));
	s->logits = calloc(hp->n_vocab, sizeof(float));
	s->history = calloc(n_ctx, sizeof(*s->history));
	if (!s->kv || !s->k_cache || !s->v_cache || !s->logits || !s->history)
		goto nomem;
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		s->k_cache[l] = (struct hal_tensor){ .name = "k_cache", .type = ct,
						     .ne = { dkv, n_ctx },
						     .data = (char *)s->kv + (2 * (size_t)l) * per_cache };
		s->v_cache[l] = (struct hal_tensor){ .name = "v_cache", .type = ct,
						     .ne = { dkv, n_ctx },
						     .data = (char *)s->kv + (2 * (size_t)l + 1) * per_cache };
	}
	if (!live_add(s))
		goto nomem;
	if ((st = drv_spec_create(s, &o))) {
		enpu_session_free(s);
		return st;
	}
	*out_session = s;
	return ENPU_OK;
nomem:
	enpu_session_free(s);
	return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY,
			    "enpu_session_create: out of memory for a %u-token KV cache", n_ctx);
}

const char *enpu_cache_type_name(enum enpu_cache_type type)
{
	switch (type) {
	case ENPU_CACHE_F16:
		return "f16";
	case ENPU_CACHE_Q8_0:
		return "q8_0";
	case ENPU_CACHE_F32:
		return "f32";
	}
	return NULL;
}

bool enpu_cache_type_parse(const char *name, enum enpu_cache_type *out)
{
	for (uint32_t t = 0; name && enpu_cache_type_name((enum enpu_cache_type)t); t++) {
		if (!strcasecmp(name, enpu_cache_type_name((enum enpu_cache_type)t))) {
			if (out)
				*out = (enum enpu_cache_type)t;
			return true;
		}
	}
	return false;
}

enum hal_type drv_cache_hal_type(enum enpu_cache_type type)
{
	return type == ENPU_CACHE_F32 ? HAL_TYPE_F32
	       : type == ENPU_CACHE_Q8_0 ? HAL_TYPE_Q8_0 : HAL_TYPE_F16;
}

size_t enpu_session_cache_bytes(const enpu_session *s, enum enpu_cache_type *out_type)
{
	if (!s)
		return 0;
	if (out_type)
		*out_type = s->cache_type;
	return s->kv_bytes;
}

static void slot_clear(enpu_session *s, struct graph_slot *slot)
{
	drv_trace_forget_graph(s->trace, slot->g);
	sched_graph_free(slot->g);
	sched_dag_free(&slot->deps);
	sched_placement_free(&slot->placed);
	memset(slot, 0, sizeof(*slot));
}

void enpu_session_free(enpu_session *s)
{
	if (!s)
		return;
	drv_jobs_forget_session(s);
	live_remove(s);
	/* the trace is a valid file even when the caller forgot to stop it */
	drv_trace_close(s->model->ctx, s->trace);
	s->trace = NULL;
	drv_spec_free(s);
	slot_clear(s, &s->decode);
	slot_clear(s, &s->batch);
	for (uint32_t i = 0; i < DRV_SPEC_MAX_K + 2; i++)
		slot_clear(s, &s->verify[i]);
	hal_huge_free(s->kv, s->kv_bytes);
	free(s->k_cache);
	free(s->v_cache);
	free(s->logits);
	free(s->history);
	free(s->placer);
	free(s);
}

static enpu_status session_reset(enpu_session *s)
{
	s->n_past = 0;
	s->history_from = 0;
	s->have_logits = false;
	s->has_pending = false;
	return ENPU_OK;
}

enpu_status enpu_session_reset(enpu_session *s)
{
	DRV_SESSION_CALL(s, "enpu_session_reset", session_reset(s));
}

uint32_t enpu_session_n_past(const enpu_session *s)
{
	return s ? s->n_past : 0;
}

static enpu_status trace_start(enpu_session *s, const char *path)
{
	enpu_context *ctx = s->model->ctx;

	if (!path || !*path)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_trace_start: no path given");
	if (s->trace)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_trace_start: the session is already tracing");
	/* the trace replaces what is at path: never the model's own file */
	struct stat sb;
	if (s->model->have_file_id && !stat(path, &sb) && sb.st_dev == s->model->file_dev &&
	    sb.st_ino == s->model->file_ino)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_trace_start: '%s' is the "
				    "model's file; refusing to replace it with the trace", path);
	return drv_trace_open(ctx, path, &s->trace);
}

/*
 * Refused as the calls that change the session are: a job's or another thread's run writes
 * to the trace as it goes (stopping it under one freed it under the run).
 */
enpu_status enpu_session_trace_start(enpu_session *s, const char *path)
{
	DRV_SESSION_CALL(s, "enpu_session_trace_start", trace_start(s, path));
}

static enpu_status trace_stop(enpu_session *s)
{
	if (!s->trace)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_trace_stop: the session is not tracing");
	struct enpu_trace *t = s->trace;

	s->trace = NULL;
	return drv_trace_close(s->model->ctx, t);
}

enpu_status enpu_session_trace_stop(enpu_session *s)
{
	DRV_SESSION_CALL(s, "enpu_session_trace_stop", trace_stop(s));
}

/*
 * Materialising for "auto" placement: drv_model_weight_for on context device k. A weight the
 * device has already is looked up; one converted into its layout now is made with the
 * device's queue held, as converting must not overlap its ops (other sessions may be running
 * on it).
 */
static struct hal_tensor *weight_for(void *user, const struct hal_tensor *w, uint32_t k)
{
	enpu_session *s = user;
	enpu_context *ctx = s->model->ctx;
	struct hal_tensor *out = drv_model_weight_for(s->model, w, ctx->devices[k], false);

	if (!out) {
		sched_exec_hold_device(ctx->exec, k);
		out = drv_model_weight_for(s->model, w, ctx->devices[k], true);
		sched_exec_release_device(ctx->exec, k);
	}
	return out;
}

/*
 * "auto" placement of slot's graph: on slot->deps the first time, on the dependencies at
 * today's context when placed again. A failure leaves the placement in force.
 */
static enpu_status place_auto(enpu_session *s, struct graph_slot *slot, bool again)
{
	enpu_context *ctx = s->model->ctx;
	const struct sched_host host = { ctx->devices, ctx->n_devices, weight_for, s };
	char err[512];
	enum sched_status st = sched_place_auto(s->placer, &host, slot->g,
						again ? NULL : &slot->deps,
						s->n_past + slot->g->n_tokens, &slot->placed, err,
						sizeof(err));

	if (st)
		return drv_ctx_fail(ctx, st == SCHED_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_UNSUPPORTED,
				    "%s", err);
	drv_report_placement(s, slot);
	return ENPU_OK;
}

/*
 * The graph for a batch of n tokens: the decode graph is kept, the last prefill size too, and
 * the verifier's all-logits graphs (all) of every size; placed once, and again when measured
 * history says the cost model has changed.
 */
static enpu_status graph_for(enpu_session *s, uint32_t n, bool all, struct graph_slot **out)
{
	struct graph_slot *slot = all ? &s->verify[n] : n == 1 ? &s->decode : &s->batch;
	enpu_context *ctx = s->model->ctx;
	char err[256];

	if (slot->g && slot->g->n_tokens == n) {
		*out = slot;
		/* placing again is an improvement: when it fails, the placement in force stays */
		if (sched_placer_stale(s->placer, slot->runs)) {
			if (place_auto(s, slot, true) == ENPU_OK)
				s->replacements++;
			else
				drv_ctx_clear_error(ctx);
		}
		return ENPU_OK;
	}
	slot_clear(s, slot); /* the trace forgets the graph before its address is reused */
	enum sched_status st = (all ? sched_graph_build_all : sched_graph_build)(
		&s->model->sm, n, s->k_cache, s->v_cache, &slot->g, err, sizeof(err));
	if (!st)
		st = sched_dag_from_graph(slot->g, s->n_past + n, &slot->deps, err, sizeof(err));
	if (st) {
		slot_clear(s, slot);
		return drv_ctx_fail(ctx, st == SCHED_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_FORMAT,
				    "%s", err);
	}
	sched_place_fixed(slot->g, ctx->devices, ctx->n_devices, ctx->n_devices - 1);
	if (s->placer) {
		enpu_status pst = place_auto(s, slot, false);
		if (pst) {
			slot_clear(s, slot);
			return pst;
		}
	}
	*out = slot;
	return ENPU_OK;
}

static enpu_status eval_batch(enpu_session *s, const enpu_token *tokens, uint32_t n, bool all)
{
	enpu_context *ctx = s->model->ctx;
	struct graph_slot *slot = NULL;
	char err[512];
	enpu_status st = graph_for(s, n, all, &slot);

	if (st)
		return st;
	const uint64_t t0 = hal_now_ns(); /* the step: placing (timed apart) is done */
	struct sched_graph *g = slot->g;
	int32_t *ids = g->inp_tokens->data, *pos = g->inp_pos->data;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = tokens[i];
		pos[i] = (int32_t)(s->n_past + i);
	}
	const struct sched_observer obs = { drv_trace_op, s->trace };
	const bool learn = sched_placer_learns_now(s->placer, slot->runs);
	const struct sched_run_options opts = {
		.priority = s->priority,
		.usage = s->usage,
		.obs = s->trace ? &obs : NULL,
		.learn = learn ? s->placer : NULL,
		.placed = &slot->placed,
		.freq_hint_hz = s->placer ? slot->placed.hint_hz : NULL, /* the power manager's clocks */
		.cancel = s->cancel,
	};
	struct sched_run_stats rs;
	if (s->trace)
		drv_trace_begin_run(s->trace, g);
	enum sched_status sst = sched_exec_run(ctx->exec, g, &slot->deps, &opts, &rs, err,
					       sizeof(err));
	if (sst)
		return drv_ctx_fail(ctx, sst == SCHED_ERR_CANCELLED ? ENPU_ERR_CANCELLED
								    : ENPU_ERR_DEVICE,
				    "evaluating tokens %u..%u: %s", s->n_past, s->n_past + n - 1,
				    err);
	slot->runs++;
	if (s->trace) {
		char args[96];
		const uint64_t t1 = hal_now_ns();

		snprintf(args, sizeof(args), "\"n_past\":%u,\"n_tokens\":%u,\"ops\":%u", s->n_past,
			 n, g->n_nodes);
		drv_trace_span(s->trace, all ? "verify" : s->is_draft ? "draft step"
						: n == 1 ? "decode step" : "prefill", "step", t0, t1, args);
		drv_trace_step_end(s->trace, t1);
	}
	memcpy(s->history + s->n_past, tokens, sizeof(*tokens) * n);
	s->n_past += n;
	const uint32_t n_vocab = s->model->sm.hp.n_vocab;
	memcpy(s->logits, (const float *)g->logits->data + (all ? (size_t)(n - 1) * n_vocab : 0),
	       sizeof(float) * n_vocab);
	s->have_logits = true;
	if (n == 1) {
		const uint64_t wall = hal_now_ns() - t0;
		s->steps++;
		s->step_wall_ns += wall;
		s->step_idle_ns += wall > rs.active_ns ? wall - rs.active_ns : 0;
	}
	return ENPU_OK;
}

enpu_status drv_eval_all_logits(enpu_session *s, const enpu_token *tokens, uint32_t n,
				const float **logits)
{
	enpu_status st = eval_batch(s, tokens, n, true);

	*logits = st ? NULL : s->verify[n].g->logits->data;
	return st;
}

enpu_status drv_eval_tokens(enpu_session *s, const enpu_token *tokens, size_t n)
{
	for (size_t done = 0; done < n;) {
		uint32_t b = n - done > ENPU_MAX_BATCH ? ENPU_MAX_BATCH : (uint32_t)(n - done);
		enpu_status st = eval_batch(s, tokens + done, b, false);
		if (st)
			return st;
		done += b;
	}
	return ENPU_OK;
}

enpu_status drv_eval_pending(enpu_session *s)
{
	if (!s->has_pending)
		return ENPU_OK;
	enpu_status st = eval_batch(s, &s->pending, 1, false);
	if (!st)
		s->has_pending = false;
	return st;
}

static enpu_status session_eval(enpu_session *s, const enpu_token *tokens, size_t n)
{
	enpu_context *ctx = s->model->ctx;
	const uint32_t n_vocab = s->model->sm.hp.n_vocab;

	drv_ctx_clear_error(ctx);
	if (!tokens || n == 0)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_eval: no tokens given");
	if (n > s->n_ctx || n + s->has_pending > s->n_ctx - s->n_past)
		return drv_ctx_fail(ctx, ENPU_ERR_CONTEXT_FULL,
				    "enpu_session_eval: %zu tokens after %u%s do not fit the %u-token context",
				    n, s->n_past, s->has_pending ? " and the last one generated" : "",
				    s->n_ctx);
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_session_eval: token %zu is %d, outside the vocabulary (0..%u)",
					    i, tokens[i], n_vocab - 1);
	enpu_status st = drv_eval_pending(s);
	return st ? st : drv_eval_tokens(s, tokens, n);
}

enpu_status enpu_session_eval(enpu_session *s, const enpu_token *tokens, size_t n)
{
	DRV_SESSION_CALL(s, "enpu_session_eval", session_eval(s, tokens, n));
}

enpu_status enpu_session_logits(enpu_session *s, const float **out_logits, size_t *out_n_vocab)
{
	if (!s)
		return ENPU_ERR_INVALID_ARG;
	if (!out_logits || !out_n_vocab)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG, "enpu_session_logits: NULL output");
	if (!s->have_logits)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_logits: no token has been evaluated yet");
	*out_logits = s->logits;
	*out_n_vocab = s->model->sm.hp.n_vocab;
	return ENPU_OK;
}

/* ---- sampling ------------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double drv_rng_uniform(uint64_t *state)
{
	return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

struct candidate {
	float logit;
	int32_t id;
};

static int by_logit_desc(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->id - y->id;
}

/*
 * The first index of the largest logit (NaN never wins; a NaN first logit, which no other
 * compares above, is returned). Eight interleaved running maxima: one chain over 32000
 * logits costs a decode step about 1 %.
 */
static int32_t argmax(const float *logits, uint32_t n)
{
	float bv[8];
	uint32_t bi[8], i = 0;

	if (logits[0] != logits[0])
		return 0;
	for (int k = 0; k < 8; k++) {
		bv[k] = logits[0];
		bi[k] = 0;
	}
	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			if (logits[i + k] > bv[k]) {
				bv[k] = logits[i + k];
				bi[k] = i + k;
			}
	for (; i < n; i++)
		if (logits[i] > bv[0]) {
			bv[0] = logits[i];
			bi[0] = i;
		}
	/* the largest of the eight, the smallest index among equals */
	int k0 = 0;

	for (int k = 1; k < 8; k++)
		if (bv[k] > bv[k0] || (bv[k] == bv[k0] && bi[k] < bi[k0]))
			k0 = k;
	return (int32_t)bi[k0];
}

/*
 * How many of the first keep sorted candidates min-p keeps: those with p >= min_p * p_max at
 * temperature 1 (llama.cpp applies it before the temperature), i.e. whose logit is at least
 * the largest plus log(min_p).
 */
static uint32_t min_p_keep(const struct candidate *c, uint32_t keep, const float *logits,
			   float min_p)
{
	if (!(min_p > 0.0f))
		return keep;
	const double floor = (double)logits[c[0].id] + log((double)min_p);
	for (uint32_t i = 1; i < keep; i++)
		if ((double)logits[c[i].id] < floor)
			return i;
	return keep;
}

/*
 * The candidates temperature sampling draws from: every token at the temperature, sorted by
 * logit, cut by top-k, top-p and min-p to the first (returned) count, *sum the sum of their
 * exp(logit - the largest), their weights.
 */
static uint32_t sampler_candidates(const float *logits, uint32_t n,
				   const struct enpu_sampler_options *o, struct candidate *c,
				   double *out_sum)
{
	/*
	 * Logits less the largest, then divided: a tiny temperature takes every other token to
	 * -inf (weight 0), where logit / temperature alone overflows to inf - inf = NaN.
	 */
	float top = -INFINITY;
	for (uint32_t i = 0; i < n; i++)
		top = fmaxf(top, logits[i]);
	top = isfinite(top) ? top : 0.0f;
	for (uint32_t i = 0; i < n; i++)
		c[i] = (struct candidate){ (logits[i] - top) / o->temperature, (int32_t)i };
	qsort(c, n, sizeof(*c), by_logit_desc);

	uint32_t keep = o->top_k && o->top_k < n ? o->top_k : n;
	double sum = 0.0;
	for (uint32_t i = 0; i < keep; i++)
		sum += exp((double)(c[i].logit - c[0].logit));
	/* top-p: the smallest prefix whose probability mass reaches top_p */
	if (o->top_p < 1.0f) {
		double mass = 0.0;
		for (uint32_t i = 0; i < keep; i++) {
			mass += exp((double)(c[i].logit - c[0].logit)) / sum;
			if (mass >= o->top_p) {
				keep = i + 1;
				break;
			}
		}
	}
	keep = min_p_keep(c, keep, logits, o->min_p);
	sum = 0.0;
	for (uint32_t i = 0; i < keep; i++)
		sum += exp((double)(c[i].logit - c[0].logit));
	*out_sum = sum;
	return keep;
}

enpu_status drv_sampler_probs(enpu_session *s, const struct enpu_sampler_options *o,
			      float *probs)
{
	const uint32_t n = s->model->sm.hp.n_vocab;
	float *penalized;
	const float *logits = drv_sampler_logits(s, o, &penalized);
	struct candidate *c = logits && o->temperature > 0.0f ? malloc(sizeof(*c) * n) : NULL;

	if (!logits || (!c && o->temperature > 0.0f)) {
		free(penalized);
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_NO_MEMORY, "sampling: out of memory");
	}
	memset(probs, 0, sizeof(*probs) * n);
	if (!c) {
		probs[argmax(logits, n)] = 1.0f;
	} else {
		double sum;
		const uint32_t keep = sampler_candidates(logits, n, o, c, &sum);

		for (uint32_t i = 0; i < keep; i++)
			probs[c[i].id] = (float)(exp((double)(c[i].logit - c[0].logit)) / sum);
	}
	free(c);
	free(penalized);
	return ENPU_OK;
}

enpu_status drv_check_sampler(enpu_context *ctx, const char *fn,
			      const struct enpu_sampler_options *opts)
{
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;

	/* the first version of the struct ends at min_p: the later fields keep their defaults */
	if (!opts)
		return ENPU_OK;
	if (opts->struct_size < offsetof(struct enpu_sampler_options, min_p))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "%s: sampler of an unknown size %zu",
				    fn, opts->struct_size);
	memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
	if (isnan(o.temperature) || isinf(o.temperature) || isnan(o.top_p))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "%s: temperature %g and top_p %g must be numbers, the "
				    "temperature finite", fn, o.temperature, o.top_p);
	if (!(o.min_p >= 0.0f && o.min_p <= 1.0f) || !(o.repeat_penalty > 0.0f) ||
	    isinf(o.repeat_penalty))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "%s: min_p %g must be in [0, 1] and repeat_penalty %g "
				    "positive and finite", fn, o.min_p, o.repeat_penalty);
	return ENPU_OK;
}

enpu_status enpu_sample(enpu_session *s, const struct enpu_sampler_options *opts,
			uint64_t *rng_state, enpu_token *out_token)
{
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;

	if (!s)
		return ENPU_ERR_INVALID_ARG;
	if (!out_token)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_sample: out_token is NULL");
	enpu_status st = drv_check_sampler(s->model->ctx, "enpu_sample", opts);
	if (st)
		return st;
	if (!s->have_logits)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_sample: no token has been evaluated yet");
	if (opts)
		memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size : sizeof(o));
	const uint32_t n = s->model->sm.hp.n_vocab;
	float *penalized;
	const float *logits = drv_sampler_logits(s, &o, &penalized);

	if (!logits)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_NO_MEMORY, "enpu_sample: out of memory");
	if (o.temperature <= 0.0f) {
		*out_token = argmax(logits, n);
		free(penalized);
		return ENPU_OK;
	}
	struct candidate *c = rng_state ? malloc(sizeof(*c) * n) : NULL;
	if (!c) {
		free(penalized);
		return drv_ctx_fail(s->model->ctx, rng_state ? ENPU_ERR_NO_MEMORY : ENPU_ERR_INVALID_ARG,
				    rng_state ? "enpu_sample: out of memory"
					      : "enpu_sample: temperature sampling needs rng_state");
	}
	double sum;
	const uint32_t keep = sampler_candidates(logits, n, &o, c, &sum);
	double r = drv_rng_uniform(rng_state) * sum;
	int32_t pick = c[keep - 1].id;
	for (uint32_t i = 0; i < keep; i++) {
		r -= exp((double)(c[i].logit - c[0].logit));
		if (r < 0.0) {
			pick = c[i].id;
			break;
		}
	}
	free(c);
	free(penalized);
	*out_token = pick;
	return ENPU_OK;
}

/* ---- generation ---------------------------------------------------------------------------- */

uint32_t enpu_session_device_usage(const enpu_session *s, struct enpu_device_usage *usage,
				   uint32_t cap)
{
	if (!s || (!usage && cap))
		return 0;
	const enpu_context *ctx = s->model->ctx;
	uint32_t n = ctx->n_devices < cap ? ctx->n_devices : cap;

	for (uint32_t i = 0; i < n; i++) {
		usage[i].device = ctx->devices[i]->name;
		usage[i].ops = s->usage[i].ops;
		usage[i].busy_ns = s->usage[i].busy_ns;
		usage[i].bytes_copied = s->usage[i].bytes_copied;
		usage[i].modeled_ns = s->usage[i].modeled_ns;
		usage[i].modeled_energy_pj = s->usage[i].modeled_energy_pj;
	}
	return n;
}

/*
 * The prompt's tokens: BOS first only when the session starts with it (nothing evaluated or
 * pending), so that a second prompt continues the sequence. *out (malloc) may hold 0 tokens.
 */
static enpu_status tokenize_prompt(enpu_session *s, const char *prompt, enpu_token **out,
				   size_t *out_n)
{
	enpu_model *m = s->model;
	const bool bos = tok_add_bos(m->vocab) && s->n_past == 0 && !s->has_pending;
	/* enough for SentencePiece (never more tokens than bytes, plus BOS); else grown below */
	size_t cap = strlen(prompt) + 2;
	enpu_token *toks = malloc(sizeof(*toks) * cap);

	if (!toks)
		return drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "enpu_generate: out of memory");
	enpu_status rc = enpu_tokenize(m, prompt, strlen(prompt), bos, toks, cap, out_n);
	if (rc == ENPU_ERR_INVALID_ARG && *out_n > cap) {
		/* a vocabulary without single-byte pieces for everything: what it asks for */
		enpu_token *more = realloc(toks, sizeof(*toks) * *out_n);
		rc = more ? enpu_tokenize(m, prompt, strlen(prompt), bos, more, *out_n, out_n)
			  : drv_ctx_fail(m->ctx, ENPU_ERR_NO_MEMORY, "enpu_generate: out of memory");
		toks = more ? more : toks;
	}
	if (!rc && *out_n == 0 && !s->has_pending && !s->have_logits)
		rc = drv_ctx_fail(m->ctx, ENPU_ERR_INVALID_ARG,
				  "enpu_generate: the prompt is empty and the session has nothing to "
				  "continue from");
	if (rc) {
		free(toks);
		return rc;
	}
	*out = toks;
	return ENPU_OK;
}

enpu_status drv_eval_prompt(enpu_session *s, const char *prompt, struct enpu_generate_stats *st)
{
	enpu_token *toks = NULL;
	size_t n = 0;
	const uint64_t t0 = hal_now_ns();
	enpu_status rc = tokenize_prompt(s, prompt, &toks, &n);

	if (!rc)
		rc = n ? enpu_session_eval(s, toks, n) : drv_eval_pending(s);
	free(toks);
	st->n_prompt = (uint32_t)n;
	st->prompt_ns = hal_now_ns() - t0;
	return rc;
}

enpu_status drv_generate_step(enpu_session *s, const struct enpu_sampler_options *sampler,
			      uint64_t *rng, uint32_t n_predict, enpu_token_fn on_token, void *user,
			      struct enpu_generate_stats *st, bool *more)
{
	enpu_token t;
	enpu_status rc = enpu_sample(s, sampler, rng, &t);

	*more = false;
	return rc ? rc : drv_emit_token(s, t, n_predict, on_token, user, st, more);
}

enpu_status drv_emit_token(enpu_session *s, enpu_token t, uint32_t n_predict,
			   enpu_token_fn on_token, void *user, struct enpu_generate_stats *st,
			   bool *more)
{
	enpu_model *m = s->model;
	char piece[256];
	size_t len = 0;

	*more = false;
	s->pending = t;
	s->has_pending = true;
	if (tok_is_eog(m->vocab, t)) { /* EOS, or the end of a chat turn */
		st->stopped_at_eos = true;
		return ENPU_OK;
	}
	st->n_generated++;
	if (tok_decode_token(m->vocab, t, piece, sizeof(piece), &len))
		len = 0;
	s->in_token_fn = true;
	const bool go_on = !on_token || on_token(t, piece, len, user);
	s->in_token_fn = false;
	if (!go_on || st->n_generated == n_predict)
		return ENPU_OK;
	if (s->n_past >= s->n_ctx) {
		st->stopped_at_ctx_full = true;
		return drv_ctx_fail(m->ctx, ENPU_ERR_CONTEXT_FULL,
				    "enpu_generate: the %u-token context is full after %u of %u tokens",
				    s->n_ctx, st->n_generated, n_predict);
	}
	*more = true;
	return ENPU_OK;
}

/* Samples up to n_predict tokens, evaluating each before the next is sampled. */
static enpu_status generate_tokens(enpu_session *s, uint32_t n_predict,
				   const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
				   void *user, struct enpu_generate_stats *st)
{
	uint64_t rng = sampler ? sampler->seed : 0;
	bool more = n_predict > 0;
	enpu_status rc = ENPU_OK;

	if (s->spec)
		return drv_spec_generate(s, n_predict, sampler, on_token, user, st);

	while (more && !rc) {
		const uint64_t t0 = hal_now_ns();
		const uint32_t k = st->n_generated;

		rc = drv_generate_step(s, sampler, &rng, n_predict, on_token, user, st, &more);
		if (!rc && more)
			rc = drv_eval_pending(s);
		if (s->trace && !rc && st->n_generated > k) {
			/* the token's sampling, its delivery and the decode step that evaluates it */
			char name[32], args[64];

			snprintf(name, sizeof(name), "token %u", k);
			snprintf(args, sizeof(args), "\"token\":%d,\"index\":%u", (int)s->pending, k);
			drv_trace_span(s->trace, name, "token", t0, hal_now_ns(), args);
		}
	}
	return rc;
}

static enpu_status generate(enpu_session *s, const char *prompt, uint32_t n_predict,
			    const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
			    void *user, struct enpu_generate_stats *stats)
{
	enpu_context *ctx = s->model->ctx;
	struct enpu_generate_stats st = ENPU_GENERATE_STATS_INIT;

	drv_ctx_clear_error(ctx);
	if (!prompt)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_generate: prompt is NULL");
	if (stats && stats->struct_size < offsetof(struct enpu_generate_stats, stopped_at_ctx_full))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_generate: stats struct too small");
	/* before the prompt: a refused call leaves the session as it was */
	enpu_status rc = drv_check_sampler(ctx, "enpu_generate", sampler);
	if (rc)
		return rc;
	rc = drv_eval_prompt(s, prompt, &st);
	if (rc)
		return rc;
	const uint64_t t0 = hal_now_ns();
	rc = generate_tokens(s, n_predict, sampler, on_token, user, &st);
	st.generate_ns = hal_now_ns() - t0;
	st.n_devices = enpu_session_device_usage(s, st.devices, ENPU_MAX_DEVICES);
	if (stats && (!rc || st.stopped_at_ctx_full)) {
		size_t size = stats->struct_size < sizeof(st) ? stats->struct_size : sizeof(st);
		st.struct_size = size;
		memcpy(stats, &st, size);
	}
	return rc;
}

enpu_status enpu_generate(enpu_session *s, const char *prompt, uint32_t n_predict,
			  const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
			  void *user, struct enpu_generate_stats *stats)
{
	DRV_SESSION_CALL(s, "enpu_generate",
			 generate(s, prompt, n_predict, sampler, on_token, user, stats));
}
