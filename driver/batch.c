/* SPDX-License-Identifier: MIT */
/*
 * batch.c - batched decoding: one token of each of several sessions of a model as one run of
 * a multi-sequence graph (sched_graph_build_seqs), so the weights are read once per step for
 * all of them. The model keeps one graph per number of sessions, bound to the caches of the
 * sessions of each call.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* A multi-sequence graph, its dependencies, and the lock that gives it one run at a time. */
struct drv_batch_slot {
	pthread_mutex_t run;
	struct sched_graph *g;
	struct sched_dag deps;
};

static void slot_free(struct drv_batch_slot *slot)
{
	if (!slot)
		return;
	sched_graph_free(slot->g);
	sched_dag_free(&slot->deps);
	pthread_mutex_destroy(&slot->run);
	free(slot);
}

void drv_batch_release(enpu_model *m)
{
	for (uint32_t n = 0; n <= ENPU_EVAL_MANY_MAX; n++) {
		slot_free(m->batch[n]);
		m->batch[n] = NULL;
	}
}

/* A new graph of n sessions over these caches, placed by the fixed rule. */
static enpu_status slot_new(enpu_model *m, uint32_t n, struct hal_tensor *const *kc,
			    struct hal_tensor *const *vc, struct drv_batch_slot **out)
{
	enpu_context *ctx = m->ctx;
	struct drv_batch_slot *slot = calloc(1, sizeof(*slot));
	char err[256];

	if (!slot)
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_eval_many: out of memory");
	pthread_mutex_init(&slot->run, NULL);
	/* the dependencies' context length only costs attention for "auto" placement */
	enum sched_status st = sched_graph_build_seqs(&m->sm, n, kc, vc, &slot->g, err, sizeof(err));
	if (!st)
		st = sched_dag_from_graph(slot->g, 1, &slot->deps, err, sizeof(err));
	if (st) {
		slot_free(slot);
		return drv_ctx_fail(ctx, st == SCHED_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_FORMAT,
				    "enpu_session_eval_many: %s", err);
	}
	sched_place_fixed(slot->g, ctx->devices, ctx->n_devices, ctx->n_devices - 1);
	*out = slot;
	return ENPU_OK;
}

/* The model's graph for n sessions (made now if missing), locked for one run over kc, vc. */
static enpu_status slot_take(enpu_model *m, uint32_t n, struct hal_tensor *const *kc,
			     struct hal_tensor *const *vc, struct drv_batch_slot **out)
{
	enpu_status st = ENPU_OK;

	pthread_mutex_lock(&m->batch_lock);
	if (!m->batch[n])
		st = slot_new(m, n, kc, vc, &m->batch[n]);
	pthread_mutex_unlock(&m->batch_lock);
	if (st)
		return st;
	*out = m->batch[n];
	pthread_mutex_lock(&(*out)->run);
	/* one model's caches all have its row width: binding cannot fail */
	sched_graph_bind_seqs((*out)->g, kc, vc);
	return ENPU_OK;
}

/* Why sessions[i] with tokens[i] cannot join the call (ENPU_OK: it can). */
static enpu_status check_one(enpu_session *const *sessions, const enpu_token *tokens, size_t i)
{
	enpu_session *s0 = sessions[0], *s = sessions[i];
	enpu_context *ctx = s0->model->ctx;
	const uint32_t n_vocab = s0->model->sm.hp.n_vocab;

	if (!s)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_eval_many: session %zu is NULL", i);
	if (s->model != s0->model)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_eval_many: session %zu is of another model than session 0",
				    i);
	for (size_t j = 0; j < i; j++)
		if (sessions[j] == s)
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_session_eval_many: session %zu is session %zu again",
					    i, j);
	if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_eval_many: token %zu is %d, outside the vocabulary (0..%u)",
				    i, tokens[i], n_vocab - 1);
	return ENPU_OK;
}

static enpu_status check_args(enpu_session *const *sessions, const enpu_token *tokens, size_t n)
{
	if (!sessions || n == 0 || !sessions[0])
		return ENPU_ERR_INVALID_ARG;
	enpu_context *ctx = sessions[0]->model->ctx;

	drv_ctx_clear_error(ctx);
	if (!tokens)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_eval_many: tokens is NULL");
	if (n > ENPU_EVAL_MANY_MAX)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_eval_many: %zu sessions, at most %d at a time", n,
				    ENPU_EVAL_MANY_MAX);
	for (size_t i = 0; i < n; i++) {
		enpu_status st = check_one(sessions, tokens, i);
		if (st)
			return st;
	}
	return ENPU_OK;
}

/* Share i of n of a total, so that the n shares add up to it exactly. */
static uint64_t share(uint64_t total, uint32_t i, uint32_t n)
{
	return (uint64_t)((unsigned __int128)total * (i + 1) / n - (unsigned __int128)total * i / n);
}

/* After a run: each session's token, logits, position and share of the usage and step time. */
static void commit(enpu_session *const *sessions, const enpu_token *tokens, uint32_t n,
		   const struct sched_graph *g, const struct sched_usage *usage, uint64_t wall,
		   uint64_t active)
{
	const uint32_t n_vocab = sessions[0]->model->sm.hp.n_vocab;
	const uint32_t n_dev = sessions[0]->model->ctx->n_devices;

	for (uint32_t i = 0; i < n; i++) {
		enpu_session *s = sessions[i];

		memcpy(s->logits, (const float *)g->logits->data + (size_t)i * n_vocab,
		       sizeof(float) * n_vocab);
		s->have_logits = true;
		s->history[s->n_past++] = tokens[i]; /* what the repetition penalty looks back on */
		for (uint32_t d = 0; d < n_dev; d++) {
			s->usage[d].ops += share(usage[d].ops, i, n);
			s->usage[d].busy_ns += share(usage[d].busy_ns, i, n);
			s->usage[d].bytes_copied += share(usage[d].bytes_copied, i, n);
			s->usage[d].modeled_ns += share(usage[d].modeled_ns, i, n);
			s->usage[d].modeled_energy_pj += share(usage[d].modeled_energy_pj, i, n);
		}
		s->steps++;
		s->step_wall_ns += wall;
		s->step_idle_ns += wall > active ? wall - active : 0;
	}
}

/* The run's priority (the highest of the sessions') and trace (the first session's that has one). */
static struct sched_run_options run_options(enpu_session *const *sessions, uint32_t n,
					    struct sched_usage *usage, struct sched_observer *obs,
					    const int *cancel)
{
	struct sched_run_options o = { .priority = sessions[0]->priority, .usage = usage,
				       .cancel = cancel };

	for (uint32_t i = 0; i < n; i++) {
		if (sessions[i]->priority > o.priority)
			o.priority = sessions[i]->priority;
		if (!o.obs && sessions[i]->trace) {
			*obs = (struct sched_observer){ drv_trace_op, sessions[i]->trace };
			o.obs = obs;
		}
	}
	return o;
}

static enpu_status run(enpu_session *const *sessions, const enpu_token *tokens, uint32_t n,
		       struct hal_tensor **kc, struct hal_tensor **vc, const int *cancel)
{
	enpu_model *m = sessions[0]->model;
	struct drv_batch_slot *slot;
	struct sched_usage usage[ENPU_MAX_DEVICES] = { 0 };
	struct sched_observer obs;
	struct sched_run_stats rs;
	char err[512];

	for (uint32_t i = 0; i < n; i++) {
		kc[i] = sessions[i]->k_cache;
		vc[i] = sessions[i]->v_cache;
	}
	enpu_status st = slot_take(m, n, kc, vc, &slot);
	if (st)
		return st;
	const uint64_t t0 = hal_now_ns();
	int32_t *ids = slot->g->inp_tokens->data, *pos = slot->g->inp_pos->data;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = tokens[i];
		pos[i] = (int32_t)sessions[i]->n_past;
	}
	const struct sched_run_options o = run_options(sessions, n, usage, &obs, cancel);
	if (o.obs)
		drv_trace_begin_run(o.obs->user, slot->g);
	enum sched_status sst = sched_exec_run(m->ctx->exec, slot->g, &slot->deps, &o, &rs, err,
					       sizeof(err));
	if (sst)
		st = drv_ctx_fail(m->ctx, sst == SCHED_ERR_CANCELLED ? ENPU_ERR_CANCELLED
								     : ENPU_ERR_DEVICE,
				  "enpu_session_eval_many: %u sessions: %s", n, err);
	else
		commit(sessions, tokens, n, slot->g, usage, hal_now_ns() - t0, rs.active_ns);
	pthread_mutex_unlock(&slot->run);
	return st;
}

/*
 * The tokens a generation left pending in any of the n sessions, evaluated first, as one
 * batched run where there are several (each session's sequence stays in order).
 */
static enpu_status run_pending(enpu_session *const *sessions, uint32_t n,
			       struct hal_tensor **kc, struct hal_tensor **vc, const int *cancel)
{
	enpu_session *with[ENPU_EVAL_MANY_MAX];
	enpu_token tok[ENPU_EVAL_MANY_MAX];
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (sessions[i]->has_pending) {
			with[k] = sessions[i];
			tok[k++] = sessions[i]->pending;
		}
	if (k == 1)
		return drv_eval_pending(with[0]);
	enpu_status st = k ? run(with, tok, k, kc, vc, cancel) : ENPU_OK;
	for (uint32_t i = 0; !st && i < k; i++)
		with[i]->has_pending = false;
	return st;
}

enpu_status drv_eval_pending_many(enpu_session *const *sessions, uint32_t n, const int *cancel)
{
	struct hal_tensor *kc[ENPU_EVAL_MANY_MAX], *vc[ENPU_EVAL_MANY_MAX];

	return run_pending(sessions, n, kc, vc, cancel);
}

enpu_status enpu_session_eval_many(enpu_session *const *sessions, const enpu_token *tokens,
				   size_t n)
{
	enpu_status st = check_args(sessions, tokens, n);

	if (st)
		return st;
	if (n == 1)
		return enpu_session_eval(sessions[0], tokens, 1);
	struct hal_tensor *kc[ENPU_EVAL_MANY_MAX], *vc[ENPU_EVAL_MANY_MAX];
	bool took[ENPU_EVAL_MANY_MAX] = { false };
	size_t in = 0;

	for (; !st && in < n; in++)
		st = drv_session_enter(sessions[in], "enpu_session_eval_many", &took[in]);
	/* room for each token after the one a generation left pending: read once entered */
	for (size_t i = 0; !st && i < n; i++)
		if (sessions[i]->n_past + sessions[i]->has_pending >= sessions[i]->n_ctx)
			st = drv_ctx_fail(sessions[0]->model->ctx, ENPU_ERR_CONTEXT_FULL,
					  "enpu_session_eval_many: session %zu's %u-token context is "
					  "full", i, sessions[i]->n_ctx);
	if (!st)
		st = run_pending(sessions, (uint32_t)n, kc, vc, NULL);
	if (!st)
		st = run(sessions, tokens, (uint32_t)n, kc, vc, NULL);
	for (size_t i = 0; i < in; i++)
		drv_session_leave(sessions[i], took[i]);
	return st;
}
