/* SPDX-License-Identifier: MIT */
/*
 * run_chat.c - npu-run --chat: a multi-turn conversation on one session.
 *
 * Each turn renders the whole conversation with the chat template and feeds the session only
 * the text past what it already holds, so the history stays in the KV cache and is never
 * evaluated again. What the session holds is tracked as a prefix of the rendered text
 * ("covered"): after a reply, the history rendered with the reply must start with the
 * previous prompt and the reply; the template's end of the assistant turn follows. When the
 * reply stopped at an end-of-turn token, that token (pending in the session) stands for the
 * first token of the turn's end, and only the rest is fed. A template that renders the
 * history differently from what was fed (one that trims the reply, say) makes the session
 * start over from the whole conversation: slower, never wrong.
 */
#include "run_chat.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct reply {
	char *s;
	size_t n, cap;
	FILE *out;
	volatile sig_atomic_t *stop;
	bool failed;
};

static bool on_piece(enpu_token token, const char *piece, size_t len, void *user)
{
	struct reply *r = user;

	(void)token;
	fwrite(piece, 1, len, r->out);
	fflush(r->out);
	if (r->n + len + 1 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		char *p;

		while (cap < r->n + len + 1)
			cap *= 2;
		if (!(p = realloc(r->s, cap))) {
			r->failed = true;
			return false;
		}
		r->s = p;
		r->cap = cap;
	}
	memcpy(r->s + r->n, piece, len);
	r->n += len;
	r->s[r->n] = '\0';
	return !*r->stop;
}

/* The conversation rendered into a malloc'd string (*len bytes), NULL on failure. */
static char *render(enpu_model *m, const char *tmpl, const struct enpu_chat_message *msgs,
		    size_t n, bool add_assistant, size_t *len)
{
	char *s;

	if (enpu_chat_apply_template(m, tmpl, msgs, n, add_assistant, NULL, 0, len) !=
	    ENPU_ERR_INVALID_ARG || !(s = malloc(*len + 1)))
		return NULL;
	if (enpu_chat_apply_template(m, tmpl, msgs, n, add_assistant, s, *len + 1, len)) {
		free(s);
		return NULL;
	}
	return s;
}

/* The longest turn read: 4x the largest context (1 Mi tokens) at ~4 bytes a token */
#define MAX_LINE ((size_t)16 << 20)

/*
 * One line of in, without its newline, malloc'd; NULL at EOF. At most MAX_LINE bytes: an
 * input without newlines (< /dev/zero) made getline grow one line until memory ran out.
 */
static char *read_line(FILE *in)
{
	size_t cap = 4096;
	ssize_t n = 0;
	char *line = malloc(cap);
	int c = 0;

	while (line && (size_t)n < MAX_LINE && (c = getc(in)) != EOF && c != '\n') {
		char *more = (size_t)n + 1 < cap ? line : realloc(line, cap *= 2);

		if (!more)
			free(line);
		line = more;
		if (line)
			line[n++] = (char)c;
	}
	if (!line || (c == EOF && !n)) {
		free(line);
		return NULL;
	}
	line[n] = '\0';
	if ((size_t)n == MAX_LINE) {
		while ((c = getc(in)) != EOF && c != '\n')
			;
		fprintf(stderr, "[a line longer than %zu MiB: the rest of it left unread]\n",
			MAX_LINE >> 20);
	}
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	/* a NUL would cut the turn short unseen: it becomes a space, and stderr says so */
	if (memchr(line, 0, (size_t)n)) {
		for (ssize_t i = 0; i < n; i++)
			line[i] = line[i] ? line[i] : ' ';
		fputs("[a NUL byte in the line read as a space]\n", stderr);
	}
	return line;
}

/*
 * While the prompt waits for a line, SIGINT and SIGTERM interrupt the read (their handlers
 * without SA_RESTART): Ctrl-C at "> " ends the conversation instead of waiting for a line.
 * During a reply they restart as npu-run installed them, and end the reply at its next token.
 */
static void stop_interrupts_read(bool on)
{
	static const int sigs[] = { SIGINT, SIGTERM };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa;

		if (sigaction(sigs[i], NULL, &sa) || sa.sa_handler == SIG_DFL ||
		    sa.sa_handler == SIG_IGN)
			continue;
		if (on)
			sa.sa_flags &= ~SA_RESTART;
		else
			sa.sa_flags |= SA_RESTART;
		sigaction(sigs[i], &sa, NULL);
	}
}

static char *prompt_line(FILE *in, FILE *out)
{
	char *line;

	fputs("> ", out);
	fflush(out);
	stop_interrupts_read(true);
	line = read_line(in);
	stop_interrupts_read(false);
	return line;
}

struct history {
	struct enpu_chat_message *m;
	size_t n, cap;
};

static bool add_message(struct history *h, const char *role, char *content)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		struct enpu_chat_message *m = realloc(h->m, cap * sizeof(*m));

		if (!m)
			return false;
		h->m = m;
		h->cap = cap;
	}
	h->m[h->n++] = (struct enpu_chat_message){ .role = role, .content = content };
	return true;
}

/*
 * After a reply: how much of the history rendered with it (hist, hist_len) the session now
 * holds, and the tokens to evaluate so that it holds all of it (the end of the assistant's
 * turn). The session was fed prompt (prompt_len bytes), then the reply.
 */
static enpu_status close_turn(enpu_model *m, enpu_session *sess, const char *hist,
			      size_t hist_len, const char *prompt, size_t prompt_len,
			      const struct reply *r, bool stopped_at_eog, size_t *covered)
{
	enpu_token *ids;
	size_t n = 0, tail_len, piece_len = 0;
	const char *tail;
	char piece[8];
	enpu_status st;

	*covered = prompt_len + r->n;
	if (*covered > hist_len || memcmp(hist, prompt, prompt_len) != 0 ||
	    memcmp(hist + prompt_len, r->s, r->n) != 0) {
		*covered = 0; /* rendered otherwise than fed: start over next turn */
		return ENPU_OK;
	}
	if (!stopped_at_eog)
		return ENPU_OK; /* the next turn's text starts with the end of this one */
	tail = hist + *covered;
	tail_len = hist_len - *covered;
	if (!(ids = malloc((tail_len + 1) * sizeof(*ids))))
		return ENPU_ERR_NO_MEMORY;
	st = enpu_tokenize(m, tail, tail_len, false, ids, tail_len + 1, &n);
	if (st == ENPU_ERR_INVALID_ARG && n > tail_len + 1) { /* more tokens than bytes */
		enpu_token *more = realloc(ids, n * sizeof(*ids));

		if (!more) {
			free(ids);
			return ENPU_ERR_NO_MEMORY;
		}
		ids = more;
		st = enpu_tokenize(m, tail, tail_len, false, ids, n, &n);
	}
	/* the pending end-of-turn token is the tail's first when that one prints as nothing */
	if (!st && n && enpu_token_is_eog(m, ids[0]) &&
	    !enpu_token_to_piece(m, ids[0], piece, sizeof(piece), &piece_len) && !piece_len) {
		if (n > 1)
			st = enpu_session_eval(sess, ids + 1, n - 1);
		*covered = hist_len;
	}
	free(ids);
	return st;
}

static void add_stats(struct enpu_generate_stats *t, const struct enpu_generate_stats *s)
{
	t->n_prompt += s->n_prompt;
	t->n_generated += s->n_generated;
	t->prompt_ns += s->prompt_ns;
	t->generate_ns += s->generate_ns;
	t->stopped_at_eos = s->stopped_at_eos;
	t->stopped_at_ctx_full = s->stopped_at_ctx_full;
	/* the devices' figures are the session's totals since it was created */
	t->n_devices = s->n_devices;
	memcpy(t->devices, s->devices, sizeof(t->devices));
}

enpu_status run_chat(enpu_model *model, enpu_session *sess, const struct run_chat_options *o,
		     FILE *in, FILE *out, struct enpu_generate_stats *totals)
{
	struct history h = { 0 };
	size_t covered = 0, len;
	char *prev = NULL, *line;
	enpu_status st;
	unsigned turn = 0;

	/* an unknown or unsupported template is refused before the first line is read */
	st = enpu_chat_apply_template(model, o->template_name, NULL, 0, true, NULL, 0, &len);
	if (st != ENPU_ERR_INVALID_ARG)
		return st ? st : ENPU_ERR_UNSUPPORTED;
	st = ENPU_OK;
	if (o->system && !add_message(&h, "system", strdup(o->system)))
		return ENPU_ERR_NO_MEMORY;
	while (!*o->stop && (line = prompt_line(in, out)) && !*o->stop) {
		struct enpu_generate_stats gs = ENPU_GENERATE_STATS_INIT;
		struct reply r = { .out = out, .stop = o->stop };
		size_t hist_len;
		char *prompt, *hist = NULL;

		if (!add_message(&h, "user", line)) {
			free(line);
			st = ENPU_ERR_NO_MEMORY;
			break;
		}
		turn++;
		if (!(prompt = render(model, o->template_name, h.m, h.n, true, &len))) {
			st = ENPU_ERR_NO_MEMORY;
			break;
		}
		/* what the session holds must still be how the conversation starts */
		if (covered && (covered > len || memcmp(prompt, prev, covered) != 0))
			covered = 0;
		if (!covered && enpu_session_n_past(sess))
			st = enpu_session_reset(sess);
		if (!st)
			st = enpu_generate(sess, prompt + covered, o->n_predict, o->sampler, on_piece,
					   &r, &gs);
		if (st == ENPU_ERR_CONTEXT_FULL) {
			/* the turn is left out (the session is as it was); the conversation goes on */
			fprintf(stderr, "[turn %u left out: %s]\n", turn,
				enpu_last_error(o->ctx));
			free((char *)h.m[--h.n].content);
			free(prompt);
			turn--;
			st = ENPU_OK;
			continue;
		}
		fputc('\n', out);
		fflush(out);
		add_stats(totals, &gs);
		if (!r.s && !r.failed)
			r.failed = !(r.s = strdup(""));
		if (st || r.failed || !add_message(&h, "assistant", r.s)) {
			free(r.s);
			free(prompt);
			st = st ? st : ENPU_ERR_NO_MEMORY;
			break;
		}
		hist = render(model, o->template_name, h.m, h.n, false, &hist_len);
		st = hist ? close_turn(model, sess, hist, hist_len, prompt, len, &r,
				       gs.stopped_at_eos, &covered)
			  : ENPU_ERR_NO_MEMORY;
		fprintf(stderr, "[turn %u: %u prompt tokens evaluated, %u generated%s, %u in context]\n",
			turn, gs.n_prompt, gs.n_generated,
			gs.stopped_at_eos ? " (end of turn)" : "", enpu_session_n_past(sess));
		free(prompt);
		free(prev);
		prev = hist;
		if (st)
			break;
	}
	free(prev);
	for (size_t i = 0; i < h.n; i++)
		free((char *)h.m[i].content);
	free(h.m);
	return st;
}
