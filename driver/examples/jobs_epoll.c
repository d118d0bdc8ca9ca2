/* SPDX-License-Identifier: MIT */
/*
 * jobs_epoll.c - several prompts in flight on one model, from one thread and one epoll loop:
 * each prompt is a generate job on a session of its own; the loop streams every job's tokens
 * as they come (its fd is readable after each token), cancels one request midway (a long one,
 * after its third token), and prints how each ended.
 *
 *     jobs_epoll MODEL.gguf [N_TOKENS]
 *
 * Output: one line per token, "[i] piece", then "[i] done: STATUS, N tokens" per request.
 */
#include <edge_npu.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define N_REQ 3

static const char *const prompts[N_REQ] = {
	"Once upon a time",
	"The quick brown fox",
	"In a galaxy far away", /* asked for far more tokens, cancelled after its third */
};

struct request {
	enpu_session *session;
	enpu_job *job;
	uint32_t printed; /* tokens streamed so far */
	bool done;
};

/* Prints the tokens of r that are new since the last call; true when the job has finished. */
static bool stream(enpu_model *model, int i, struct request *r)
{
	struct enpu_job_result res = ENPU_JOB_RESULT_INIT;
	char piece[128];
	size_t len;

	if (enpu_job_result(r->job, &res))
		return true;
	for (; r->printed < res.n_tokens; r->printed++)
		if (!enpu_token_to_piece(model, res.tokens[r->printed], piece, sizeof(piece), &len))
			printf("[%d] %.*s\n", i, (int)len, piece);
	if (i == 2 && r->printed >= 3 && !res.finished)
		enpu_job_cancel(r->job); /* this request is no longer wanted */
	if (res.finished)
		printf("[%d] done: %s, %u tokens%s%s\n", i, enpu_status_name(res.status),
		       res.n_tokens, res.status ? ": " : "", res.error);
	return res.finished;
}

int main(int argc, char **argv)
{
	enpu_context *ctx = NULL;
	enpu_model *model = NULL;
	struct request req[N_REQ] = { 0 };
	int ep = -1, rc = 1, open_jobs = 0;
	uint32_t n = argc > 2 ? (uint32_t)atoi(argv[2]) : 16;

	if (argc < 2) {
		fprintf(stderr, "usage: %s MODEL.gguf [N_TOKENS]\n", argv[0]);
		return 2;
	}
	if (enpu_context_create(NULL, &ctx) || enpu_model_load(ctx, argv[1], NULL, &model))
		goto out;
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < N_REQ; i++) {
		struct enpu_job_options o = ENPU_JOB_OPTIONS_INIT;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		o.kind = ENPU_JOB_GENERATE;
		o.prompt = prompts[i];
		o.n_predict = i == 2 ? 1u << 20 : n;
		if (enpu_session_create(model, NULL, &req[i].session) ||
		    enpu_job_submit(req[i].session, &o, &req[i].job) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, enpu_job_fd(req[i].job), &ev))
			goto out;
		open_jobs++;
	}
	while (open_jobs > 0) {
		struct epoll_event ev[N_REQ];
		int k = epoll_wait(ep, ev, N_REQ, -1);

		for (int e = 0; e < k; e++) {
			struct request *r = &req[ev[e].data.u32];

			if (!r->done && stream(model, (int)ev[e].data.u32, r)) {
				r->done = true;
				open_jobs--;
				epoll_ctl(ep, EPOLL_CTL_DEL, enpu_job_fd(r->job), NULL);
			}
		}
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "jobs_epoll: %s\n", enpu_last_error(ctx));
	if (ep >= 0)
		close(ep);
	for (int i = 0; i < N_REQ; i++) {
		enpu_job_free(req[i].job);
		enpu_session_free(req[i].session);
	}
	enpu_model_free(model);
	enpu_context_destroy(ctx);
	return rc;
}
