/* SPDX-License-Identifier: MIT */
/*
 * speculative.c - speculative decoding: a draft model (the same weights at lower precision,
 * enpu_model_make_draft, or another model of the same vocabulary) proposes up to k tokens one
 * by one; the session evaluates the token it sampled last and all k proposals as one batch
 * with every row's logits (a decode that reads the weights once for k + 1 tokens), accepts
 * the proposals its own sampler agrees with, and both sessions roll back past the first one
 * rejected (a rollback is only a shorter n_past: rows beyond it are overwritten later).
 *
 * Greedy: a proposal is accepted when it is the token enpu_sample picks from the verifier's
 * row, and the first disagreement emits the verifier's pick: the output is plain decoding's
 * as long as a row of a batched evaluation has the bits of a one-token one (the CPU paths
 * compute every row alone; tests/test_speculative.c checks it over thousands of steps).
 * With a temperature: the standard rejection rule (draft token d drawn from the draft's
 * distribution q is kept with probability min(1, p(d)/q(d)), p the verifier's; on rejection
 * the token is drawn from max(0, p - q) normalised), which leaves the sampler's distribution
 * unchanged. p and q are what enpu_sample draws from (penalty, top-k, top-p, min-p and the
 * temperature applied), so the guarantee holds for every sampler option.
 *
 * Overlapped (spec_overlap): while the session verifies block toks[0..k], a thread of the
 * draft's evaluates toks[k], draws its own guess g of the verifier's next token and drafts
 * k proposals after g (a "pre-drafted" block). The next round uses it, without drafting, when
 * the verifier accepted all k and its own next token is g; else it is dropped and the draft
 * rolls back as after a rejection (sync_draft). A rejection stops the thread after the draft
 * step it is in. Why the output is unchanged: the verifier still draws its next token from
 * its own row, by its own random stream, and keeps or rejects proposals by the rule above;
 * the pre-drafted proposals were drawn (from the draft's stream, apart from the verifier's)
 * from the draft's distribution after exactly the prefix the next round verifies, and
 * whether the block is used depends on g and the verifier's draws only, not on them. With
 * overlap on, the draft always draws from its own stream (seeded from the sampler's seed).
 */
#include "hal/quant.h"
#include "internal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPEC_DEFAULT_K 8
/* "auto": plain decode steps taken when speculation does not pay, before drafting again */
#define SPEC_PLAIN_RUN 32
/* the acceptance estimate's memory: each round's counts decay by this much */
#define SPEC_DECAY 0.9

struct drv_spec {
	enpu_session *draft;
	uint32_t k_max, k;
	bool fixed_k;
	/* decayed counts of accepted and rejected proposals: alpha = acc / (acc + rej) */
	double acc, rej;
	/* measured (exponential averages, seconds): a draft step, one verified row's cost
	 * above a one-token step */
	double t_row;
	bool have_row;
	uint32_t plain_left; /* "auto": plain steps still to take before drafting again */
	uint64_t verifications, drafted, accepted, rejections, plain_steps, draft_ns, verify_ns;
	float *p;  /* n_vocab: the verifier's distribution at a row */
	/* (k_max + 1) x n_vocab: the draft's distribution behind each proposal (overlapped:
	 * from row 1 when the round's block was pre-drafted) */
	float *q;
	enpu_token toks[DRV_SPEC_MAX_K + 1];
	enpu_token *sync; /* n_ctx + 1: tokens the draft has not evaluated yet */
	/* overlapped: the draft's random stream; the pre-drafted block (next[1] the guess of
	 * the verifier's next token, next[2..next_k + 1] the proposals after it) and the
	 * distributions behind it (q_next, rows as next[1..]) */
	bool overlap;
	bool predraft; /* the next round pre-drafts (plan_round) */
	uint64_t drng;
	float *q_next;
	enpu_token next[DRV_SPEC_MAX_K + 2];
	uint32_t next_k;
	bool have_next;
	uint64_t predrafted, predraft_used, overlap_ns;
	/* the draft's thread (started at the first pre-draft, kept until the session is freed:
	 * one trace track for all its pre-drafts): a job at a time, job_done when it ended */
	pthread_t thread;
	bool thread_live, quit, job_done;
	/*
	 * While a pre-draft runs (set and read on the session's own thread only): what
	 * enpu_session_spec_stats() reports of the draft, taken as it was posted, since the
	 * draft's thread and the executor's workers write the live figures meanwhile (a token
	 * callback asking for the statistics raced them)
	 */
	bool predraft_running;
	struct enpu_device_usage draft_usage[ENPU_MAX_DEVICES];
	uint32_t n_draft_usage;
	double draft_step_s;
	struct predraft *job;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* A pre-draft running on the draft's thread while the session verifies (overlapped). */
struct predraft {
	struct drv_spec *sp;
	const struct enpu_sampler_options *o;
	uint32_t k;
	int stop; /* set (atomically) by the session on a rejection: the block is not needed */
	enpu_status rc;
	uint32_t drawn; /* next[1..drawn] were drawn before it ended */
	uint64_t t0, t1;
	/* rc's message, which the draft's thread left in its own copy (context.c) */
	char error[ENPU_ERROR_LEN];
};

/* ---- the draft model -------------------------------------------------------------------- */

static bool draft_type_parse(const char *name, enum hal_type *out)
{
	static const enum hal_type types[] = { HAL_TYPE_Q4_0, HAL_TYPE_Q4_K, HAL_TYPE_Q5_K,
					       HAL_TYPE_Q6_K, HAL_TYPE_Q8_0 };

	for (size_t i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(name, hal_type_name(types[i]))) {
			*out = types[i];
			return true;
		}
	return false;
}

/* Whether weight w (of m's file) is one of m's matmul weights, as the file holds them. */
static bool is_matmul_weight(const enpu_model *m, const struct sched_weight *w)
{
	for (uint32_t i = 0; i < m->n_mm; i++)
		if (m->mm_orig[i].data == w->data && m->mm_orig[i].type == w->type)
			return true;
	return false;
}

/* Whether w becomes type t in the draft: a matmul weight of another type whose rows divide. */
static bool requantizes(const enpu_model *m, const struct sched_weight *w, enum hal_type t)
{
	return w->type != t && w->n_dims == 2 && w->ne[0] % hal_type_block_elems(t) == 0 &&
	       is_matmul_weight(m, w);
}

enpu_status enpu_model_make_draft(enpu_model *model, const char *type, enpu_model **out)
{
	if (!model)
		return ENPU_ERR_INVALID_ARG;
	enpu_context *ctx = model->ctx;
	enum hal_type t;

	drv_ctx_clear_error(ctx);
	if (!out)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_model_make_draft: out_draft is NULL");
	*out = NULL;
	if (!draft_type_parse(type, &t))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_model_make_draft: type '%s' is not q4_0, q4_k, q5_k, q6_k "
				    "or q8_0", type ? type : "(null)");
	if (model->base)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_model_make_draft: '%s' is itself a draft", model->name);
	size_t bytes = 0, max_row = 0;
	for (uint32_t i = 0; i < model->n_weights; i++) {
		const struct sched_weight *w = &model->weights[i];
		if (requantizes(model, w, t)) {
			bytes += hal_row_bytes(t, w->ne[0]) * w->ne[1];
			max_row = w->ne[0] > max_row ? w->ne[0] : max_row;
		}
	}
	enpu_model *d = calloc(1, sizeof(*d));
	float *row = malloc(sizeof(float) * (max_row ? max_row : 1));
	if (!d || !row) {
		free(d);
		free(row);
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_model_make_draft: out of memory");
	}
	d->ctx = ctx;
	d->base = model;
	d->gguf = model->gguf;
	d->vocab = model->vocab;
	d->names = model->names;
	d->arch = model->arch;
	d->rope_freqs = model->rope_freqs; /* its data, when computed, stays the model's */
	d->rope_freqs_data = model->rope_freqs_data;
	d->n_ctx_train = model->n_ctx_train;
	snprintf(d->name, sizeof(d->name), "%.100s (%s draft)", model->name, hal_type_name(t));
	snprintf(d->read_method, sizeof(d->read_method), "%s", model->read_method);
	pthread_mutex_init(&d->copies_lock, NULL);
	pthread_mutex_init(&d->batch_lock, NULL);
	d->weights = malloc(sizeof(*d->weights) * (model->n_weights ? model->n_weights : 1));
	d->draft_data = malloc(bytes ? bytes : 1);
	if (!d->weights || !d->draft_data) {
		free(row);
		enpu_model_free(d);
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY,
				    "enpu_model_make_draft: out of memory for %zu bytes of %s weights",
				    bytes, hal_type_name(t));
	}
	memcpy(d->weights, model->weights, sizeof(*d->weights) * model->n_weights);
	d->n_weights = model->n_weights;
	char *dst = d->draft_data;
	for (uint32_t i = 0; i < d->n_weights; i++) {
		struct sched_weight *w = &d->weights[i];
		if (!requantizes(model, w, t))
			continue;
		const size_t src_row = hal_row_bytes(w->type, w->ne[0]);
		const size_t dst_row = hal_row_bytes(t, w->ne[0]);
		for (uint32_t r = 0; r < w->ne[1]; r++) {
			hal_dequantize_row(w->type, (const char *)w->data + r * src_row, row, w->ne[0]);
			hal_quantize_row(t, row, dst + r * dst_row, w->ne[0]);
		}
		w->data = dst;
		w->type = t;
		dst += dst_row * w->ne[1];
	}
	free(row);
	enpu_status st = drv_model_bind(d, d->name, &model->sm.hp);
	if (st) {
		enpu_model_free(d);
		return st;
	}
	*out = d;
	return ENPU_OK;
}

/* ENPU_OK when draft's vocabulary is model's token for token, else why not (the first token). */
static enpu_status same_vocabulary(enpu_model *model, enpu_model *draft)
{
	const struct tok_vocab *a = model->vocab, *b = draft->vocab;
	enpu_context *ctx = model->ctx;

	if (a == b)
		return ENPU_OK;
	if (tok_n_tokens(a) != tok_n_tokens(b))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: draft '%s' has %u tokens, the model '%s' %u: "
				    "speculation needs the same vocabulary", draft->name,
				    tok_n_tokens(b), model->name, tok_n_tokens(a));
	for (uint32_t i = 0; i < tok_n_tokens(a); i++)
		if (strcmp(tok_token_text(a, (int32_t)i), tok_token_text(b, (int32_t)i)))
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_session_create: token %u is '%s' in the model '%s' "
					    "but '%s' in draft '%s': speculation needs the same "
					    "vocabulary", i, tok_token_text(a, (int32_t)i), model->name,
					    tok_token_text(b, (int32_t)i), draft->name);
	if (tok_bos(a) != tok_bos(b) || tok_eos(a) != tok_eos(b))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: draft '%s' has BOS %d and EOS %d, the model "
				    "'%s' %d and %d", draft->name, tok_bos(b), tok_eos(b), model->name,
				    tok_bos(a), tok_eos(a));
	return ENPU_OK;
}

/* ---- the session's speculation state ---------------------------------------------------- */

enpu_status drv_spec_create(enpu_session *s, const struct enpu_session_options *o)
{
	enpu_model *m = s->model;
	enpu_context *ctx = m->ctx;

	if (!o->draft)
		return ENPU_OK;
	if (o->draft == m || o->draft->ctx != ctx)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: the draft must be another model of the "
				    "same context");
	if (o->spec_k > DRV_SPEC_MAX_K)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: spec_k %u is above the most, %u", o->spec_k,
				    DRV_SPEC_MAX_K);
	enpu_status st = same_vocabulary(m, o->draft);
	if (st)
		return st;
	if (o->draft->n_ctx_train < s->n_ctx)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_create: draft '%s' has a %u-token context, the "
				    "session %u", o->draft->name, o->draft->n_ctx_train, s->n_ctx);
	struct drv_spec *sp = calloc(1, sizeof(*sp));
	const uint32_t n_vocab = m->sm.hp.n_vocab;
	if (!sp)
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_create: out of memory");
	s->spec = sp;
	sp->k_max = o->spec_k ? o->spec_k : SPEC_DEFAULT_K;
	sp->k = sp->k_max < 4 ? sp->k_max : 4; /* until step times are measured */
	sp->fixed_k = o->spec_fixed_k;
	sp->overlap = o->spec_overlap;
	if (sp->fixed_k)
		sp->k = sp->k_max;
	sp->acc = 1.4; /* a prior of alpha 0.7 worth two proposals */
	sp->rej = 0.6;
	sp->p = malloc(sizeof(float) * n_vocab);
	sp->q = malloc(sizeof(float) * n_vocab * (sp->k_max + 1));
	sp->q_next = sp->overlap ? malloc(sizeof(float) * n_vocab * (sp->k_max + 1)) : NULL;
	sp->sync = malloc(sizeof(enpu_token) * ((size_t)s->n_ctx + 1));
	if (!sp->p || !sp->q || !sp->sync || (sp->overlap && !sp->q_next))
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_create: out of memory");
	struct enpu_session_options d = ENPU_SESSION_OPTIONS_INIT;
	d.n_ctx = s->n_ctx;
	d.cache_type = s->cache_type;
	d.priority = s->priority;
	enpu_status st2 = enpu_session_create(o->draft, &d, &sp->draft);
	if (st2)
		return st2;
	sp->draft->is_draft = true;
	/*
	 * Overlapped with "auto" placement: the draft runs by the fixed rule on the context's
	 * last device; the verifier's plans leave that device's class out, so that the two run
	 * side by side instead of queueing on it (the CPU, everyone's fallback, stays shared).
	 */
	const enum hal_device_class cls = ctx->devices[ctx->n_devices - 1]->cls;
	char err[256];
	if (sp->overlap && s->placer && cls != HAL_CLASS_CPU &&
	    sched_placer_reserve(s->placer, cls, err, sizeof(err)))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_session_create: %s", err);
	return ENPU_OK;
}

void drv_spec_free(enpu_session *s)
{
	struct drv_spec *sp = s->spec;

	if (!sp)
		return;
	if (sp->thread_live) { /* no job is in flight: every round waits for its own */
		pthread_mutex_lock(&sp->lock);
		sp->quit = true;
		pthread_cond_broadcast(&sp->cond);
		pthread_mutex_unlock(&sp->lock);
		pthread_join(sp->thread, NULL);
		pthread_mutex_destroy(&sp->lock);
		pthread_cond_destroy(&sp->cond);
	}
	enpu_session_free(sp->draft);
	free(sp->p);
	free(sp->q);
	free(sp->q_next);
	free(sp->sync);
	free(sp);
	s->spec = NULL;
}

static double alpha_of(const struct drv_spec *sp)
{
	return sp->acc / (sp->acc + sp->rej);
}

/* Seconds a one-token step of s took on average (0: none measured). */
static double step_s(const enpu_session *s)
{
	return s->steps ? (double)s->step_wall_ns / (double)s->steps / 1e9 : 0.0;
}

/*
 * The cost model's speed-up at the next round's k (chosen here unless fixed). Overlapped, the
 * round pre-drafts when the overlapped form predicts more than the sequential one: with a
 * slow draft and a low acceptance, waiting for a pre-draft that is seldom used costs more
 * than it saves. A fixed k fixes that too: every round pre-drafts (what the caller asked,
 * whatever the step times measured on a loaded host say).
 */
static double plan_round(enpu_session *s)
{
	struct drv_spec *sp = s->spec;
	const double t_dec = step_s(s), t_draft = step_s(sp->draft);

	if (!(t_dec > 0.0 && t_draft > 0.0 && sp->have_row)) {
		sp->predraft = sp->overlap; /* not measured yet: keep the k and mode in force */
		return 0.0;
	}
	/* the model's gains drafting in turn and, when the session overlaps, beside */
	const uint32_t k_max = sp->fixed_k ? 0 : sp->k_max;
	uint32_t best = sp->k, best_seq = sp->k;
	const double seq = sched_spec_speedup(alpha_of(sp), sp->k, k_max, t_dec, t_draft,
					      sp->t_row, false, &best_seq);
	double gain = sp->overlap ? sched_spec_speedup(alpha_of(sp), sp->k, k_max, t_dec, t_draft,
						       sp->t_row, true, &best)
				  : 0.0;
	sp->predraft = sp->overlap && (sp->fixed_k || gain > seq);
	if (!sp->predraft) {
		gain = seq;
		best = best_seq;
	}
	sp->k = best;
	return gain;
}

enpu_status enpu_session_spec_stats(const enpu_session *s, struct enpu_spec_stats *out)
{
	if (!s)
		return ENPU_ERR_INVALID_ARG;
	const struct drv_spec *sp = s->spec;
	struct enpu_spec_stats o = ENPU_SPEC_STATS_INIT;

	/* a caller's struct must hold the first version (up to draft_devices); the overlap
	 * counters came later */
	const size_t first = offsetof(struct enpu_spec_stats, predrafted);
	if (!out || out->struct_size < first || !sp)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_spec_stats: %s", sp ? "bad output struct"
								      : "the session has no draft");
	o.verifications = sp->verifications;
	o.drafted = sp->drafted;
	o.accepted = sp->accepted;
	o.plain_steps = sp->plain_steps;
	o.k = sp->k;
	o.draft_ms = (double)sp->draft_ns / 1e6;
	o.verify_ms = (double)sp->verify_ns / 1e6;
	o.alpha = alpha_of(sp);
	if (sp->predraft_running)
		memcpy(o.draft_devices, sp->draft_usage,
		       sizeof(o.draft_devices[0]) * (o.n_devices = sp->n_draft_usage));
	else
		o.n_devices = enpu_session_device_usage(sp->draft, o.draft_devices,
							ENPU_MAX_DEVICES);
	const double t_dec = step_s(s);
	const double t_draft = sp->predraft_running ? sp->draft_step_s : step_s(sp->draft);
	o.predicted_speedup = t_dec > 0.0 && t_draft > 0.0 && sp->have_row
		? sched_spec_speedup(o.alpha, sp->k, 0, t_dec, t_draft, sp->t_row, sp->predraft, NULL)
		: 0.0;
	o.predrafted = sp->predrafted;
	o.predraft_used = sp->predraft_used;
	o.overlap_ms = (double)sp->overlap_ns / 1e6;
	o.rejected = sp->rejections;
	o.struct_size = out->struct_size;
	memcpy(out, &o, out->struct_size < sizeof(o) ? out->struct_size : sizeof(o));
	return ENPU_OK;
}

/* ---- one round: draft, verify, accept ---------------------------------------------------- */

/* A token drawn from probs (n entries summing to about 1, or to sum when given). */
static enpu_token draw(const float *probs, uint32_t n, double sum, uint64_t *rng)
{
	double r = drv_rng_uniform(rng) * sum;
	enpu_token last = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (!(probs[i] > 0.0f))
			continue;
		last = (enpu_token)i;
		r -= probs[i];
		if (r < 0.0)
			break;
	}
	return last;
}

/*
 * Brings the draft session to s's sequence (its evaluated tokens and the pending one): keeps
 * the longest common prefix, evaluates the rest. false when s's sequence has tokens nobody
 * knows (a restored state): the draft cannot follow it.
 */
static enpu_status sync_draft(enpu_session *s, bool *ok)
{
	struct drv_spec *sp = s->spec;
	enpu_session *d = sp->draft;
	uint32_t c = 0, n = 0;

	*ok = s->history_from == 0;
	if (!*ok)
		return ENPU_OK;
	while (c < d->n_past && c < s->n_past && d->history[c] == s->history[c])
		c++;
	enpu_status st = enpu_session_truncate(d, c);
	for (uint32_t i = c; !st && i < s->n_past; i++)
		sp->sync[n++] = s->history[i];
	const uint32_t n_hist = n;
	if (s->has_pending)
		sp->sync[n++] = s->pending;
	if (st || n == 0)
		return st;
	/*
	 * Evaluated as the model evaluated (or will evaluate) them, so that a draft of the same
	 * weights has the model's bits and proposes exactly its greedy tokens: a token the last
	 * verification accepted and the pending one row by row, as the verifier does (one pass
	 * over the draft's weights); a prompt as a batch, then the pending token alone.
	 */
	const float *rows;
	if (n_hist <= 1)
		return n == 1 ? drv_eval_tokens(d, sp->sync, 1)
			      : drv_eval_all_logits(d, sp->sync, n, &rows);
	st = drv_eval_tokens(d, sp->sync, n_hist);
	return st || n == n_hist ? st : drv_eval_tokens(d, sp->sync + n_hist, 1);
}

/* The verifier's row i (the prediction after i + 1 of toks) as s's logits, at its position. */
static void position(enpu_session *s, uint32_t n, const float *rows, uint32_t i)
{
	const uint32_t n_vocab = s->model->sm.hp.n_vocab;

	s->n_past = n + i + 1;
	s->has_pending = false;
	memcpy(s->logits, rows + (size_t)i * n_vocab, sizeof(float) * n_vocab);
	s->have_logits = true;
}

/*
 * The draft d has evaluated toks[0] (its logits predict what follows): draws toks[1..k], each
 * after evaluating the one before; with a temperature q's row i - 1 gets toks[i]'s
 * distribution. Stops early (*drawn < k) once *stop (may be NULL) is set.
 */
static enpu_status propose(enpu_session *d, const struct enpu_sampler_options *o,
			   uint64_t *rng, enpu_token *toks, float *q, uint32_t k, const int *stop,
			   uint32_t *drawn)
{
	const uint32_t n_vocab = d->model->sm.hp.n_vocab;
	const bool greedy = !(o->temperature > 0.0f);
	enpu_status rc = ENPU_OK;

	*drawn = 0;
	for (uint32_t i = 1; i <= k && !rc; i++) {
		float *qi = q + (size_t)(i - 1) * n_vocab;
		if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
			break;
		if (i > 1)
			rc = drv_eval_tokens(d, &toks[i - 1], 1);
		if (!rc && greedy)
			rc = enpu_sample(d, o, rng, &toks[i]);
		else if (!rc && !(rc = drv_sampler_probs(d, o, qi)))
			toks[i] = draw(qi, n_vocab, 1.0, rng);
		*drawn = rc ? *drawn : i;
	}
	return rc;
}

/*
 * The draft's thread during a verification: evaluates next[0] (the block's last proposal),
 * draws the guess next[1] and k proposals after it (q_next), from the draft's own stream.
 */
static void predraft_run(struct predraft *pd)
{
	struct drv_spec *sp = pd->sp;
	enpu_session *d = sp->draft;

	pd->t0 = hal_now_ns();
	pd->rc = drv_eval_tokens(d, &sp->next[0], 1);
	if (!pd->rc)
		pd->rc = propose(d, pd->o, &sp->drng, sp->next, sp->q_next, pd->k + 1, &pd->stop,
				 &pd->drawn);
	pd->t1 = hal_now_ns();
	if (pd->rc)
		snprintf(pd->error, sizeof(pd->error), "%s", enpu_last_error(d->model->ctx));
	if (d->trace) { /* on the draft thread's track, beside the verification's */
		char args[64];
		snprintf(args, sizeof(args), "\"k\":%u,\"drawn\":%u", pd->k, pd->drawn);
		drv_trace_span(d->trace, "pre-draft", "spec", pd->t0, pd->t1, args);
	}
}

/* The draft's thread: runs each job posted to it until the session is freed. */
static void *predraft_thread(void *arg)
{
	struct drv_spec *sp = arg;

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		while (!sp->job && !sp->quit)
			pthread_cond_wait(&sp->cond, &sp->lock);
		if (!sp->job)
			break;
		struct predraft *pd = sp->job;
		pthread_mutex_unlock(&sp->lock);
		predraft_run(pd);
		pthread_mutex_lock(&sp->lock);
		sp->job = NULL;
		sp->job_done = true;
		pthread_cond_broadcast(&sp->cond);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

/* Posts pd to the draft's thread (started the first time); false when it cannot start. */
static bool predraft_post(struct drv_spec *sp, struct predraft *pd)
{
	if (!sp->thread_live) {
		if (pthread_mutex_init(&sp->lock, NULL))
			return false;
		if (pthread_cond_init(&sp->cond, NULL)) {
			pthread_mutex_destroy(&sp->lock);
			return false;
		}
		if (pthread_create(&sp->thread, NULL, predraft_thread, sp)) {
			pthread_cond_destroy(&sp->cond);
			pthread_mutex_destroy(&sp->lock);
			return false;
		}
		sp->thread_live = true;
	}
	pthread_mutex_lock(&sp->lock);
	sp->job = pd;
	sp->job_done = false;
	pthread_cond_broadcast(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	return true;
}

/* Waits for the job predraft_post gave the draft's thread. */
static void predraft_wait(struct drv_spec *sp)
{
	pthread_mutex_lock(&sp->lock);
	while (!sp->job_done)
		pthread_cond_wait(&sp->cond, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
}

/* Whether the block pre-drafted during the last verification is the one to verify now. */
static bool predraft_fits(const enpu_session *s)
{
	const struct drv_spec *sp = s->spec;
	const enpu_session *d = sp->draft;
	const uint32_t n = s->n_past;

	/* the verifier's next token is the guess; the draft has evaluated the guess and all
	 * proposals but the last; the rows fit the context */
	return sp->have_next && s->has_pending && s->pending == sp->next[1] &&
	       d->n_past == n + sp->next_k && d->history[n] == s->pending &&
	       s->n_ctx - n >= sp->next_k + 1;
}

/*
 * s has a pending token t0 at position n (s->n_past): the draft proposes k tokens after it
 * (or the block pre-drafted during the last verification is used, with its own k), s
 * evaluates t0 and them at once and emits the accepted ones and, at the first rejection,
 * its own token instead (pending afterwards). When all are accepted, s has evaluated them all
 * and has no pending token: the caller samples the next from the last row. Overlapped, the
 * draft pre-drafts the next block of k_next tokens meanwhile (0: not).
 */
static enpu_status speculate_round(enpu_session *s, uint32_t k, uint32_t k_next,
				   const struct enpu_sampler_options *o, uint64_t *rng,
				   uint32_t n_predict, enpu_token_fn on_token, void *user,
				   struct enpu_generate_stats *st, bool *more)
{
	struct drv_spec *sp = s->spec;
	enpu_session *d = sp->draft;
	const uint32_t n_vocab = s->model->sm.hp.n_vocab, n = s->n_past;
	const bool greedy = !(o->temperature > 0.0f);
	const bool use_next = predraft_fits(s);
	uint64_t t0 = hal_now_ns();
	enpu_status rc = ENPU_OK;
	const float *q = sp->q;

	sp->have_next = false;
	if (use_next) {
		k = sp->next_k;
		memcpy(sp->toks, sp->next + 1, sizeof(enpu_token) * (k + 1));
		float *t = sp->q; /* the pre-draft's rows become the round's; the next pre-draft */
		sp->q = sp->q_next; /* writes into the other buffer */
		sp->q_next = t;
		q = sp->q + n_vocab;
		sp->predraft_used++;
	} else {
		bool ok;
		uint32_t drawn;
		rc = sync_draft(s, &ok);
		if (rc || !ok) {
			*more = true;
			return rc ? rc : drv_eval_pending(s);
		}
		sp->toks[0] = s->pending;
		if ((rc = propose(d, o, sp->overlap ? &sp->drng : rng, sp->toks, sp->q, k, NULL,
				  &drawn)))
			return rc;
	}
	uint64_t t1 = hal_now_ns();
	sp->draft_ns += t1 - t0;
	if (s->trace && !use_next) {
		char args[64];
		snprintf(args, sizeof(args), "\"n_past\":%u,\"k\":%u", n, k);
		drv_trace_span(s->trace, "draft", "spec", t0, t1, args);
	}
	/* overlapped: the next block's room in the context, and tokens still to generate */
	if (s->n_ctx - n < k + 1 + k_next + 1 || st->n_generated + k + 1 >= n_predict)
		k_next = 0;
	struct predraft pd = { .sp = sp, .o = o, .k = k_next };
	bool threaded = false;
	if (k_next) {
		sp->next[0] = sp->toks[k];
		sp->n_draft_usage = enpu_session_device_usage(d, sp->draft_usage,
							      ENPU_MAX_DEVICES);
		sp->draft_step_s = step_s(d);
		threaded = predraft_post(sp, &pd); /* else: not overlapped */
		sp->predraft_running = threaded;
	}
	const bool measure = s->verify[k + 1].runs > 0; /* the first run builds the graph */
	const float *rows;
	s->has_pending = false;
	rc = drv_eval_all_logits(s, sp->toks, k + 1, &rows);
	t0 = hal_now_ns();
	sp->verify_ns += t0 - t1;
	uint32_t m = 0, decided = 0; /* accepted; judged before a rejection or the end */
	bool rejected = false;
	*more = true;
	if (rc)
		goto join;
	sp->verifications++;
	const double t_dec = step_s(s);
	if (measure && t_dec > 0.0) {
		double row = ((double)(t0 - t1) / 1e9 - t_dec) / k;
		row = row > 0.0 ? row : 0.0;
		sp->t_row = sp->have_row ? 0.8 * sp->t_row + 0.2 * row : row;
		sp->have_row = true;
	}
	for (uint32_t i = 1; i <= k && *more && !rc; i++) {
		const enpu_token dt = sp->toks[i];
		enpu_token y = dt;
		bool accept;

		position(s, n, rows, i - 1);
		if (greedy) {
			rc = enpu_sample(s, o, rng, &y);
			accept = !rc && y == dt;
		} else {
			const float *qi = q + (size_t)(i - 1) * n_vocab;
			if ((rc = drv_sampler_probs(s, o, sp->p)))
				break;
			accept = drv_rng_uniform(rng) * qi[dt] < sp->p[dt];
			if (!accept) {
				/* the residual max(0, p - q), drawn from unnormalised */
				double sum = 0.0;
				for (uint32_t v = 0; v < n_vocab; v++) {
					const float r = sp->p[v] - qi[v];
					sp->p[v] = r > 0.0f ? r : 0.0f;
					sum += sp->p[v];
				}
				if (!(sum > 0.0)) /* p == q to rounding: p itself */
					rc = drv_sampler_probs(s, o, sp->p), sum = 1.0;
				y = draw(sp->p, n_vocab, sum, rng);
			}
		}
		if (rc)
			break;
		if (!accept) /* the pre-drafted block will not be needed */
			__atomic_store_n(&pd.stop, 1, __ATOMIC_RELEASE);
		m += accept;
		decided++;
		rejected = !accept;
		rc = drv_emit_token(s, y, n_predict, on_token, user, st, more);
		if (!accept)
			break;
		if (i == k && *more && !rc) /* all accepted: the last row predicts the next token */
			position(s, n, rows, k);
	}
	/* every proposal counts (a rejection wastes the rest) unless the generation ended first */
	sp->drafted += rejected || *more ? k : decided;
	sp->accepted += m;
	sp->rejections += rejected;
	sp->acc = SPEC_DECAY * sp->acc + m;
	sp->rej = SPEC_DECAY * sp->rej + rejected;
join:
	if (!threaded)
		return rc;
	if (rc || !*more)
		__atomic_store_n(&pd.stop, 1, __ATOMIC_RELEASE);
	predraft_wait(sp);
	sp->predraft_running = false;
	sp->predrafted++;
	sp->draft_ns += pd.t1 - pd.t0;
	/* the time the draft's thread and the verification were both busy */
	const uint64_t a = pd.t0 > t1 ? pd.t0 : t1, b = pd.t1 < t0 ? pd.t1 : t0;
	sp->overlap_ns += b > a ? b - a : 0;
	sp->have_next = !rc && !pd.rc && *more && m == k && pd.drawn == k_next + 1;
	sp->next_k = k_next;
	if (!rc && pd.rc) /* the draft's failure, with its message on the caller's thread */
		return drv_ctx_fail(s->model->ctx, pd.rc, "%s", pd.error[0] ? pd.error :
				    "the draft's pre-draft failed without a message");
	return rc;
}

void drv_spec_begin(enpu_session *s, uint64_t seed)
{
	struct drv_spec *sp = s->spec;

	sp->draft->trace = s->trace; /* the draft's ops on their devices' tracks too */
	/* overlapped: the draft's own stream, apart from the verifier's, from the same seed */
	sp->drng = seed ^ 0x9e3779b97f4a7c15ull;
	sp->have_next = false; /* a block pre-drafted in an earlier call: the session moved on */
}

void drv_spec_end(enpu_session *s)
{
	enpu_session *d = s->spec->draft;

	if (d->trace) { /* the trace must not keep the draft's graphs by address */
		drv_trace_forget_graph(d->trace, d->decode.g);
		drv_trace_forget_graph(d->trace, d->batch.g);
	}
	d->trace = NULL;
}

static enpu_status spec_step(enpu_session *s, const struct enpu_sampler_options *sampler,
			     uint64_t *rng, uint32_t n_predict, enpu_token_fn on_token, void *user,
			     struct enpu_generate_stats *st, bool *more)
{
	struct enpu_sampler_options o = ENPU_SAMPLER_OPTIONS_INIT;
	struct drv_spec *sp = s->spec;
	enpu_status rc = ENPU_OK;

	if (sampler)
		memcpy(&o, sampler,
		       sampler->struct_size < sizeof(o) ? sampler->struct_size : sizeof(o));
	if (!s->has_pending)
		return drv_generate_step(s, sampler, rng, n_predict, on_token, user, st, more);
	const double gain = plan_round(s);
	uint32_t k = sp->k;
	/* the verification's k + 1 rows must fit the context */
	if (s->n_ctx - s->n_past < k + 1)
		k = s->n_ctx - s->n_past - 1;
	if (s->placer && gain > 0.0 && gain < 1.0 && !sp->plain_left)
		sp->plain_left = SPEC_PLAIN_RUN; /* "auto": it does not pay; look again later */
	/* the first steps plain: they measure the one-token step the model weighs against */
	if (k == 0 || sp->plain_left || s->steps < 2) {
		bool ok;
		/* the first steps: the draft in step too (its step time, the same bits) */
		if (!sp->plain_left && k)
			rc = sync_draft(s, &ok);
		sp->plain_left -= sp->plain_left > 0;
		sp->plain_steps++;
		sp->have_next = false;
		*more = true; /* the pending token evaluated, a token to sample follows */
		return rc ? rc : drv_eval_pending(s);
	}
	return speculate_round(s, k, sp->predraft ? sp->k : 0, &o, rng, n_predict, on_token, user,
			       st, more);
}

enpu_status drv_spec_step(enpu_session *s, const struct enpu_sampler_options *sampler,
			  uint64_t *rng, uint32_t n_predict, enpu_token_fn on_token, void *user,
			  struct enpu_generate_stats *st, bool *more)
{
	enpu_session *d = s->spec->draft;

	/*
	 * A job's cancel flag (job.c) stops the draft's ops too: a step may have the draft catch
	 * up on the whole prompt, and a cancel must take effect within one op of the job's.
	 */
	d->cancel = s->cancel;
	enpu_status rc = spec_step(s, sampler, rng, n_predict, on_token, user, st, more);
	d->cancel = NULL;
	return rc;
}

enpu_status drv_spec_generate(enpu_session *s, uint32_t n_predict,
			      const struct enpu_sampler_options *sampler, enpu_token_fn on_token,
			      void *user, struct enpu_generate_stats *st)
{
	uint64_t rng = sampler ? sampler->seed : 0;
	bool more = n_predict > 0;
	enpu_status rc = ENPU_OK;

	drv_spec_begin(s, rng);
	while (more && !rc)
		rc = drv_spec_step(s, sampler, &rng, n_predict, on_token, user, st, &more);
	drv_spec_end(s);
	return rc;
}
