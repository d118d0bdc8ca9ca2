/* SPDX-License-Identifier: MIT */
/* run_chat.h - npu-run --chat: an interactive conversation on one session. */
#ifndef EDGE_NPU_RUN_CHAT_H
#define EDGE_NPU_RUN_CHAT_H

#include <signal.h>
#include <stdio.h>

#include "edge_npu.h"

struct run_chat_options {
	const char *template_name;   /* --chat-template; NULL: the model's own */
	const char *system;          /* -p: the system message, NULL for none */
	uint32_t n_predict;          /* most tokens of one reply */
	const struct enpu_sampler_options *sampler;
	volatile sig_atomic_t *stop; /* set by a signal: the current reply ends */
	const enpu_context *ctx;     /* the model's: why a turn was left out */
};

/*
 * Reads user lines from in until EOF; for each, formats the conversation with the chat
 * template, evaluates only what the session has not seen (the new turn, not the history: the
 * KV cache carries on), streams the reply to out and a line of figures per turn to stderr.
 * totals receives the sums over the turns. Returns an enpu_status (the message in
 * enpu_last_error).
 */
enpu_status run_chat(enpu_model *model, enpu_session *sess, const struct run_chat_options *o,
		     FILE *in, FILE *out, struct enpu_generate_stats *totals);

#endif
