/* SPDX-License-Identifier: MIT */
/* sampler.c - the repetition penalty and the session's recent tokens. See internal.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tokenizer.h"

size_t drv_recent_tokens(const enpu_session *s, uint32_t last_n, enpu_token *out)
{
	const uint32_t end = s->n_past, pend = s->has_pending;
	uint32_t from = s->history_from < end ? s->history_from : end;
	size_t n = 0;

	if (last_n <= pend)
		from = end;
	else if (end - from > last_n - pend)
		from = end - (last_n - pend);
	for (uint32_t i = from; i < end; i++)
		out[n++] = s->history[i];
	if (pend && last_n)
		out[n++] = s->pending;
	return n;
}

static int by_token(const void *a, const void *b)
{
	const enpu_token x = *(const enpu_token *)a, y = *(const enpu_token *)b;

	return (x > y) - (x < y);
}

void drv_penalize_repeats(float *logits, uint32_t n_vocab, enpu_token *recent, size_t n,
			  float penalty)
{
	qsort(recent, n, sizeof(*recent), by_token);
	for (size_t i = 0; i < n; i++) {
		const enpu_token t = recent[i];
		if ((i && t == recent[i - 1]) || t < 0 || (uint32_t)t >= n_vocab)
			continue; /* once per token, however often it occurred */
		logits[t] = logits[t] <= 0.0f ? logits[t] * penalty : logits[t] / penalty;
	}
}

const float *drv_sampler_logits(const enpu_session *s, const struct enpu_sampler_options *o,
				float **copy)
{
	const uint32_t n_vocab = s->model->sm.hp.n_vocab;
	const bool penalty = o->repeat_penalty != 1.0f && o->repeat_last_n;

	*copy = NULL;
	if (!penalty && !o->ignore_eos)
		return s->logits;
	if (!(*copy = malloc(sizeof(float) * n_vocab)))
		return NULL;
	memcpy(*copy, s->logits, sizeof(float) * n_vocab);
	if (penalty) {
		/* the window cannot be longer than the context and the pending token */
		const uint32_t last_n = o->repeat_last_n < s->n_ctx + 1 ? o->repeat_last_n
									: s->n_ctx + 1;
		enpu_token *recent = malloc(sizeof(*recent) * last_n);
		if (!recent) {
			free(*copy);
			return *copy = NULL;
		}
		drv_penalize_repeats(*copy, n_vocab, recent, drv_recent_tokens(s, last_n, recent),
				     o->repeat_penalty);
		free(recent);
	}
	if (o->ignore_eos) {
		/* below every finite logit: never the argmax or drawn; every token that would end
		 * the generation (EOS, a chat model's end of turn) */
		for (uint32_t t = 0; t < n_vocab; t++)
			if (tok_is_eog(s->model->vocab, (int32_t)t))
				(*copy)[t] = -INFINITY;
	}
	return *copy;
}
