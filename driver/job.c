/* SPDX-License-Identifier: MIT */
/*
 * job.c - asynchronous jobs (edge_npu.h): a queue per context and one job thread that runs
 * them, a session's jobs in submission order, different sessions' jobs interleaved a token at
 * a time. Each job signals an eventfd on progress and completion; the context keeps a queue
 * of finished jobs behind a semaphore eventfd, so each is delivered once.
 *
 * Locking: jobs->lock guards the lists, each job's published state (finished, status, error,
 * n_out) and the waits. The job thread works on a job's session and private state outside
 * the lock; the caller touches only the published state, the cancel flag (atomic) and the
 * tokens already published (each written once, before n_out is raised with release order).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Jobs advanced per round (the rest wait for the next): a batched step's most sessions. */
#define ROUND_MAX ENPU_EVAL_MANY_MAX

struct drv_jobs {
	pthread_mutex_t lock;
	pthread_cond_t work;    /* the job thread: a job was submitted or cancelled, or stop */
	pthread_cond_t changed; /* waiters: a job finished */
	pthread_t thread;
	bool stop;
	enpu_job *head, *tail;         /* unfinished jobs, in submission order */
	enpu_job *fin_head, *fin_tail; /* finished, not yet popped by next_finished */
	int fd;                        /* semaphore eventfd: one count per job in fin */
};

/*
 * The context's job queue, NULL before its first job. jobs_of() publishes it once its thread
 * runs: a thread that has not submitted (enpu_context_next_finished, a session's free) reads
 * it without the init lock. Sequentially consistent: drv_session_enter's store of the caller
 * then load of the queue, against a first submission's store of the queue then load of the
 * caller, so that one of the two sees the other.
 */
static struct drv_jobs *jobs_get(const enpu_context *ctx)
{
	return __atomic_load_n(&ctx->jobs, __ATOMIC_SEQ_CST);
}

/* This thread's address for enpu_session.caller; whether it is a context's job thread. */
static _Thread_local char thread_token;
static _Thread_local bool in_job_thread;

struct enpu_job {
	enpu_context *ctx;
	enpu_session *s;
	enum enpu_job_kind kind;
	enpu_token *in;
	size_t n_in;
	char *prompt;
	uint32_t n_predict;
	struct enpu_sampler_options sampler;
	void *user;
	int fd;
	int cancel; /* atomic */
	struct batch_cancel *batch; /* under jobs->lock: the batched run it is in, if any */
	/* the job thread's own */
	bool started;
	uint64_t rng, t_gen;
	struct enpu_generate_stats stats;
	/* published (under jobs->lock, n_out also atomic) */
	enpu_token *out;
	uint32_t n_out, cap_out;
	bool finished, in_fin;
	enpu_status status;
	char error[ENPU_ERROR_LEN];
	enpu_job *next, *next_fin;
};

/* Makes an eventfd readable (adds one to its counter). */
static void notify(int fd)
{
	const uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Takes what is there without blocking (one count of a semaphore eventfd). */
static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* ---- the job thread --------------------------------------------------------------------- */

/* Under lock: the job off the run list. */
static void unlink_locked(struct drv_jobs *J, enpu_job *j)
{
	enpu_job **link = &J->head;

	while (*link != j)
		link = &(*link)->next;
	*link = j->next;
	if (J->tail == j) {
		J->tail = NULL;
		for (enpu_job *k = J->head; k; k = k->next)
			J->tail = k;
	}
}

/* Under lock: the job is done: off the run list, onto the finished queue, everyone told. */
static void finish_locked(struct drv_jobs *J, enpu_job *j, enpu_status st)
{
	unlink_locked(J, j);
	j->status = st;
	snprintf(j->error, sizeof(j->error), "%s", st ? enpu_last_error(j->ctx) : "");
	j->finished = true;
	j->in_fin = true;
	j->next_fin = NULL;
	if (J->fin_tail)
		J->fin_tail->next_fin = j;
	else
		J->fin_head = j;
	J->fin_tail = j;
	notify(J->fd);
	notify(j->fd);
	pthread_cond_broadcast(&J->changed);
}

/* Streams a generated token into the job: published once written. */
static bool on_token(enpu_token t, const char *piece, size_t len, void *user)
{
	enpu_job *j = user;

	(void)piece;
	(void)len;
	if (j->n_out < j->cap_out) {
		j->out[j->n_out] = t;
		__atomic_store_n(&j->n_out, j->n_out + 1, __ATOMIC_RELEASE);
	}
	notify(j->fd);
	return true;
}

/* The job's first step: its tokens, or its prompt, evaluated. ENPU_OK and *done as it goes. */
static enpu_status start(enpu_job *j, bool *done)
{
	j->started = true;
	if (j->kind == ENPU_JOB_EVAL) {
		*done = true;
		return enpu_session_eval(j->s, j->in, j->n_in);
	}
	enpu_status st = drv_eval_prompt(j->s, j->prompt, &j->stats);
	j->rng = j->sampler.seed;
	j->t_gen = hal_now_ns();
	*done = st || j->n_predict == 0;
	if (!*done && j->s->spec)
		drv_spec_begin(j->s, j->rng);
	return st;
}

/* Its statistics, once a generation ends. */
static void close_stats(enpu_job *j)
{
	j->stats.generate_ns = hal_now_ns() - j->t_gen;
	j->stats.n_devices = enpu_session_device_usage(j->s, j->stats.devices, ENPU_MAX_DEVICES);
	if (j->s->spec)
		drv_spec_end(j->s);
}

/*
 * One token of a generation, sampled and streamed; *more when another step follows. A
 * speculating session's step is a whole round of drafting and verifying (one or more tokens),
 * evaluation included.
 */
static enpu_status sample_step(enpu_job *j, bool *more)
{
	enpu_status st = j->s->spec ? drv_spec_step(j->s, &j->sampler, &j->rng, j->n_predict,
						    on_token, j, &j->stats, more)
				    : drv_generate_step(j->s, &j->sampler, &j->rng, j->n_predict,
							on_token, j, &j->stats, more);

	if (st || !*more)
		close_stats(j);
	return st;
}

/*
 * The first phase of a round on j (outside the lock): its start, or its next token.
 * *done when it finished (with the status returned); *eval when its pending token awaits
 * the second phase (never a speculating session's: its steps evaluate their own tokens).
 */
static enpu_status advance(enpu_job *j, bool *done, bool *eval)
{
	enpu_status st;

	*eval = false;
	drv_ctx_clear_error(j->ctx);
	if (__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE)) {
		*done = true;
		if (j->started && j->kind != ENPU_JOB_EVAL)
			close_stats(j); /* its time and devices until now; a draft's end */
		return drv_ctx_fail(j->ctx, ENPU_ERR_CANCELLED, "the job was cancelled");
	}
	j->s->cancel = &j->cancel;
	if (j->started) {
		bool more;

		st = sample_step(j, &more);
		*done = st || !more;
		*eval = !*done && !j->s->spec;
	} else {
		st = start(j, done);
	}
	j->s->cancel = NULL;
	return st;
}

/* One job's pending token alone (its own placement, its cancel flag on the run). */
static enpu_status eval_alone(enpu_job *j)
{
	j->s->cancel = &j->cancel;
	enpu_status st = drv_eval_pending(j->s);
	j->s->cancel = NULL;
	return st;
}

/*
 * A batched run's cancel flag: the run serves every job in it, so it stops (within one op)
 * only when all of them are cancelled; a job cancelled alone ends at the next step, when the
 * run the others need has finished (one decode step later at most). Under jobs->lock but
 * flag, which the run reads.
 */
struct batch_cancel {
	int flag; /* atomic */
	uint32_t n, cancelled;
};

/* Under jobs->lock: one more job of b cancelled; the last one stops the run. */
static void batch_cancel_one(struct batch_cancel *b)
{
	if (++b->cancelled == b->n)
		__atomic_store_n(&b->flag, 1, __ATOMIC_RELEASE);
}

/* Under jobs->lock: marks j cancelled (once), counting it in its batched run if it is in one. */
static void cancel_locked(enpu_job *j)
{
	if (__atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE))
		return;
	if (j->batch)
		batch_cancel_one(j->batch);
	__atomic_store_n(&j->cancel, 1, __ATOMIC_RELEASE);
}

/* Joins (b) or leaves (NULL) the jobs jobs[idx[0..k-1]] to a batched run. */
static void batch_join(struct drv_jobs *J, enpu_job *const *jobs, const uint32_t *idx,
		       uint32_t k, struct batch_cancel *b)
{
	pthread_mutex_lock(&J->lock);
	for (uint32_t m = 0; m < k; m++) {
		enpu_job *j = jobs[idx[m]];

		j->batch = b;
		if (b && __atomic_load_n(&j->cancel, __ATOMIC_ACQUIRE))
			batch_cancel_one(b);
	}
	pthread_mutex_unlock(&J->lock);
}

/*
 * The second phase: the pending token of every job that sampled one. The sessions of one
 * model under the fixed rule go as one batched run (the weights read once for all of them,
 * each session's logits as alone: driver/batch.c); an "auto" session keeps its own placement
 * and runs alone. A batched run stops within one op when every job in it is cancelled
 * (struct batch_cancel).
 */
static void eval_pending(struct drv_jobs *J, enpu_job *const *jobs, uint32_t n,
			 enpu_status *st)
{
	bool done[ROUND_MAX] = { false };

	for (uint32_t i = 0; i < n; i++) {
		enpu_session *batch[ROUND_MAX];
		uint32_t idx[ROUND_MAX], k = 0;

		if (done[i])
			continue;
		for (uint32_t l = i; l < n && !jobs[i]->s->placer; l++)
			if (!done[l] && !jobs[l]->s->placer && jobs[l]->s->model == jobs[i]->s->model) {
				done[l] = true;
				idx[k] = l;
				batch[k++] = jobs[l]->s;
			}
		drv_ctx_clear_error(jobs[i]->ctx);
		if (k > 1) {
			struct batch_cancel bc = { .n = k };

			batch_join(J, jobs, idx, k, &bc);
			enpu_status r = drv_eval_pending_many(batch, k, &bc.flag);
			batch_join(J, jobs, idx, k, NULL);
			for (uint32_t m = 0; m < k; m++)
				st[idx[m]] = r;
		} else {
			st[i] = eval_alone(jobs[i]);
		}
	}
	for (uint32_t i = 0; i < n; i++)
		if (st[i])
			close_stats(jobs[i]);
}

/* Under lock: the first unfinished job of each session, in submission order, into out. */
static uint32_t runnable(struct drv_jobs *J, enpu_job **out, uint32_t cap)
{
	uint32_t n = 0;

	for (enpu_job *j = J->head; j && n < cap; j = j->next) {
		bool first = true;

		for (enpu_job *k = J->head; k != j; k = k->next)
			first &= k->s != j->s;
		if (first)
			out[n++] = j;
	}
	return n;
}

/* Under lock: j's outcome delivered (its message read in this thread, which made it). */
static void finish(struct drv_jobs *J, enpu_job *j, enpu_status st)
{
	pthread_mutex_lock(&J->lock);
	finish_locked(J, j, st);
	pthread_mutex_unlock(&J->lock);
}

/* One round over the runnable jobs: each advances a step, then the pending tokens are run. */
static void run_round(struct drv_jobs *J, enpu_job *const *round, uint32_t n)
{
	enpu_job *evals[ROUND_MAX];
	enpu_status st[ROUND_MAX];
	uint32_t n_eval = 0;

	for (uint32_t i = 0; i < n; i++) {
		bool done = false, eval;
		enpu_status s = advance(round[i], &done, &eval);

		if (eval)
			evals[n_eval++] = round[i];
		else if (done)
			finish(J, round[i], s);
	}
	eval_pending(J, evals, n_eval, st);
	for (uint32_t i = 0; i < n_eval; i++)
		if (st[i])
			finish(J, evals[i], st[i]);
}

static void *job_thread(void *arg)
{
	struct drv_jobs *J = arg;
	enpu_job *round[ROUND_MAX];

	in_job_thread = true;
	pthread_mutex_lock(&J->lock);
	while (!J->stop) {
		uint32_t n = runnable(J, round, ROUND_MAX);

		if (!n) {
			pthread_cond_wait(&J->work, &J->lock);
			continue;
		}
		pthread_mutex_unlock(&J->lock);
		run_round(J, round, n);
		pthread_mutex_lock(&J->lock);
	}
	pthread_mutex_unlock(&J->lock);
	return NULL;
}

/* ---- the context's side ----------------------------------------------------------------- */

/* The context's job queue and thread, made at its first job. */
static enpu_status jobs_of(enpu_context *ctx, struct drv_jobs **out)
{
	pthread_mutex_lock(&ctx->jobs_init_lock);
	struct drv_jobs *J = ctx->jobs;

	if (!J && (J = calloc(1, sizeof(*J)))) {
		pthread_mutex_init(&J->lock, NULL);
		pthread_cond_init(&J->work, NULL);
		/* waits time out on the monotonic clock: a wall-clock jump does not move them */
		pthread_condattr_t mono;

		pthread_condattr_init(&mono);
		pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
		pthread_cond_init(&J->changed, &mono);
		pthread_condattr_destroy(&mono);
		J->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
		if (J->fd >= 0 && !pthread_create(&J->thread, NULL, job_thread, J)) {
			__atomic_store_n(&ctx->jobs, J, __ATOMIC_SEQ_CST);
		} else {
			if (J->fd >= 0)
				close(J->fd);
			pthread_cond_destroy(&J->work);
			pthread_cond_destroy(&J->changed);
			pthread_mutex_destroy(&J->lock);
			free(J);
			J = NULL;
		}
	}
	pthread_mutex_unlock(&ctx->jobs_init_lock);
	*out = J;
	return J ? ENPU_OK
		 : drv_ctx_fail(ctx, ENPU_ERR_DEVICE,
				"enpu_job_submit: the job thread or its eventfd could not be made");
}

void drv_jobs_destroy(enpu_context *ctx)
{
	struct drv_jobs *J = ctx->jobs;

	if (!J)
		return;
	pthread_mutex_lock(&J->lock);
	J->stop = true;
	pthread_cond_signal(&J->work);
	pthread_mutex_unlock(&J->lock);
	pthread_join(J->thread, NULL);
	close(J->fd);
	pthread_cond_destroy(&J->work);
	pthread_cond_destroy(&J->changed);
	pthread_mutex_destroy(&J->lock);
	free(J);
	ctx->jobs = NULL;
}

void drv_jobs_forget_session(enpu_session *s)
{
	struct drv_jobs *J = jobs_get(s->model->ctx);
	bool busy = true;

	if (!J)
		return;
	pthread_mutex_lock(&J->lock);
	while (busy) {
		busy = false;
		for (enpu_job *j = J->head; j; j = j->next)
			if (j->s == s) {
				cancel_locked(j);
				busy = true;
			}
		if (busy) {
			pthread_cond_signal(&J->work);
			pthread_cond_wait(&J->changed, &J->lock);
		}
	}
	pthread_mutex_unlock(&J->lock);
}

enpu_status drv_session_enter(enpu_session *s, const char *fn, bool *took)
{
	const void *none = NULL;
	uint32_t live = 0;

	*took = false;
	if (in_job_thread)
		return ENPU_OK;
	if (__atomic_load_n(&s->caller, __ATOMIC_RELAXED) == &thread_token) {
		/* the library's own calls nest (enpu_generate evaluates its prompt); the caller's
		 * from its token callback would change the session in the middle of a step (with
		 * overlapped speculation, beside the draft's thread) */
		if (s->in_token_fn)
			return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
					    "%s: called from the session's own token callback", fn);
		return ENPU_OK;
	}
	if (!__atomic_compare_exchange_n(&s->caller, &none, &thread_token, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "%s: another thread is in a call on this session", fn);
	struct drv_jobs *J = jobs_get(s->model->ctx);

	if (J) {
		pthread_mutex_lock(&J->lock);
		for (enpu_job *j = J->head; j; j = j->next)
			live += j->s == s;
		pthread_mutex_unlock(&J->lock);
	}
	if (live) {
		__atomic_store_n(&s->caller, NULL, __ATOMIC_RELEASE);
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "%s: the session has %u unfinished job%s (wait for or cancel "
				    "them first)", fn, live, live == 1 ? "" : "s");
	}
	*took = true;
	return ENPU_OK;
}

void drv_session_leave(enpu_session *s, bool took)
{
	if (took)
		__atomic_store_n(&s->caller, NULL, __ATOMIC_RELEASE);
}

/* ---- the API ------------------------------------------------------------------------------ */

/* Checks opts for s; fills j's copy of them. */
static enpu_status take_options(enpu_session *s, const struct enpu_job_options *o, enpu_job *j)
{
	enpu_context *ctx = s->model->ctx;
	const uint32_t n_vocab = s->model->sm.hp.n_vocab;

	if (!o || o->struct_size < sizeof(*o))
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_job_submit: options missing or of an unknown size");
	j->kind = o->kind;
	j->user = o->user;
	j->sampler = (struct enpu_sampler_options)ENPU_SAMPLER_OPTIONS_INIT;
	if (o->sampler) {
		const size_t n = o->sampler->struct_size;

		if (n < offsetof(struct enpu_sampler_options, seed) + sizeof(uint64_t))
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_job_submit: sampler of an unknown size %zu", n);
		enpu_status st = drv_check_sampler(ctx, "enpu_job_submit", o->sampler);
		if (st)
			return st;
		memcpy(&j->sampler, o->sampler, n < sizeof(j->sampler) ? n : sizeof(j->sampler));
		j->sampler.struct_size = sizeof(j->sampler);
	}
	if (o->kind == ENPU_JOB_EVAL) {
		if (!o->tokens || !o->n_tokens)
			return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_job_submit: an eval job needs tokens");
		for (size_t i = 0; i < o->n_tokens; i++)
			if (o->tokens[i] < 0 || (uint32_t)o->tokens[i] >= n_vocab)
				return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
						    "enpu_job_submit: token %zu is %d, outside the "
						    "vocabulary (0..%u)", i, o->tokens[i], n_vocab - 1);
		j->n_in = o->n_tokens;
		j->in = malloc(sizeof(*j->in) * o->n_tokens);
		if (!j->in)
			return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_job_submit: out of memory");
		memcpy(j->in, o->tokens, sizeof(*j->in) * o->n_tokens);
		return ENPU_OK;
	}
	if (o->kind != ENPU_JOB_GENERATE)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_job_submit: unknown kind %d",
				    (int)o->kind);
	if (!o->prompt)
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_job_submit: a generate job needs a prompt (\"\" continues)");
	j->n_predict = o->n_predict;
	/* never more tokens than the window holds, plus the one left pending */
	j->cap_out = o->n_predict < s->n_ctx + 1 ? o->n_predict : s->n_ctx + 1;
	j->prompt = strdup(o->prompt);
	j->out = malloc(sizeof(*j->out) * (j->cap_out ? j->cap_out : 1));
	if (!j->prompt || !j->out)
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_job_submit: out of memory");
	j->stats = (struct enpu_generate_stats)ENPU_GENERATE_STATS_INIT;
	return ENPU_OK;
}

static void job_release(enpu_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->in);
	free(j->prompt);
	free(j->out);
	free(j);
}

enpu_status enpu_job_submit(enpu_session *s, const struct enpu_job_options *o, enpu_job **out)
{
	if (out)
		*out = NULL;
	if (!drv_session_alive(s))
		return ENPU_ERR_INVALID_ARG;
	enpu_context *ctx = s->model->ctx;
	struct drv_jobs *J;
	enpu_job *j = calloc(1, sizeof(*j));

	drv_ctx_clear_error(ctx);
	if (!out) {
		free(j);
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG, "enpu_job_submit: out_job is NULL");
	}
	if (!j)
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_job_submit: out of memory");
	j->ctx = ctx;
	j->s = s;
	j->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	enpu_status st = take_options(s, o, j);
	if (!st && j->fd < 0)
		st = drv_ctx_fail(ctx, ENPU_ERR_DEVICE, "enpu_job_submit: eventfd: %s",
				  strerror(errno));
	if (!st)
		st = jobs_of(ctx, &J);
	if (st) {
		job_release(j);
		return st;
	}
	pthread_mutex_lock(&J->lock);
	/*
	 * Queued, then the session's caller read: a call that takes the session after this
	 * finds the job (drv_session_enter). A job's own callback may queue more; a
	 * synchronous call's callback may not (the job would run the session beside it).
	 */
	if (J->tail)
		J->tail->next = j;
	else
		J->head = j;
	J->tail = j;
	if (__atomic_load_n(&s->caller, __ATOMIC_SEQ_CST) && !in_job_thread) {
		unlink_locked(J, j);
		pthread_mutex_unlock(&J->lock);
		job_release(j);
		return drv_ctx_fail(ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_job_submit: the session is in a call (enpu_generate, "
				    "enpu_session_eval, ...) that has not returned");
	}
	pthread_cond_signal(&J->work);
	pthread_mutex_unlock(&J->lock);
	*out = j;
	return ENPU_OK;
}

int enpu_job_fd(const enpu_job *j)
{
	return j ? j->fd : -1;
}

enpu_status enpu_job_wait(enpu_job *j, int timeout_ms)
{
	if (!j)
		return ENPU_ERR_INVALID_ARG;
	struct drv_jobs *J = jobs_get(j->ctx);
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&J->lock);
	while (!j->finished && rc != ETIMEDOUT)
		rc = timeout_ms < 0 ? pthread_cond_wait(&J->changed, &J->lock)
				    : pthread_cond_timedwait(&J->changed, &J->lock, &until);
	const bool finished = j->finished;
	pthread_mutex_unlock(&J->lock);
	return finished ? ENPU_OK : ENPU_ERR_TIMEOUT;
}

enpu_status enpu_job_cancel(enpu_job *j)
{
	if (!j)
		return ENPU_ERR_INVALID_ARG;
	struct drv_jobs *J = jobs_get(j->ctx);

	pthread_mutex_lock(&J->lock);
	const bool finished = j->finished;
	if (!finished) {
		cancel_locked(j);
		pthread_cond_signal(&J->work);
	}
	pthread_mutex_unlock(&J->lock);
	return finished ? drv_ctx_fail(j->ctx, ENPU_ERR_INVALID_ARG,
				       "enpu_job_cancel: the job has already finished")
			: ENPU_OK;
}

enpu_status enpu_job_result(enpu_job *j, struct enpu_job_result *out)
{
	if (!j)
		return ENPU_ERR_INVALID_ARG;
	if (!out || out->struct_size < sizeof(*out))
		return drv_ctx_fail(j->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_job_result: out is NULL or of an unknown size");
	struct drv_jobs *J = jobs_get(j->ctx);

	drain(j->fd);
	pthread_mutex_lock(&J->lock);
	out->finished = j->finished;
	out->status = j->finished ? j->status : ENPU_OK;
	out->error = j->finished ? j->error : "";
	out->n_tokens = __atomic_load_n(&j->n_out, __ATOMIC_ACQUIRE);
	out->tokens = j->out;
	out->stats = j->finished ? j->stats
				 : (struct enpu_generate_stats)ENPU_GENERATE_STATS_INIT;
	out->user = j->user;
	pthread_mutex_unlock(&J->lock);
	return ENPU_OK;
}

void enpu_job_free(enpu_job *j)
{
	if (!j)
		return;
	struct drv_jobs *J = jobs_get(j->ctx);

	pthread_mutex_lock(&J->lock);
	cancel_locked(j);
	pthread_cond_signal(&J->work);
	while (!j->finished)
		pthread_cond_wait(&J->changed, &J->lock);
	if (j->in_fin) {
		enpu_job **link = &J->fin_head, *prev = NULL;

		while (*link != j) {
			prev = *link;
			link = &(*link)->next_fin;
		}
		*link = j->next_fin;
		if (J->fin_tail == j)
			J->fin_tail = prev;
		drain(J->fd); /* its count in the context's semaphore */
	}
	pthread_mutex_unlock(&J->lock);
	job_release(j);
}

int enpu_context_job_fd(enpu_context *ctx)
{
	struct drv_jobs *J;

	if (!ctx)
		return -1;
	return jobs_of(ctx, &J) ? -1 : J->fd;
}

enpu_job *enpu_context_next_finished(enpu_context *ctx)
{
	struct drv_jobs *J = ctx ? jobs_get(ctx) : NULL;
	enpu_job *j = NULL;

	if (!J)
		return NULL;
	pthread_mutex_lock(&J->lock);
	if ((j = J->fin_head)) {
		J->fin_head = j->next_fin;
		if (!J->fin_head)
			J->fin_tail = NULL;
		j->in_fin = false;
		drain(J->fd);
	}
	pthread_mutex_unlock(&J->lock);
	return j;
}
