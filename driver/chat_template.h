/* SPDX-License-Identifier: MIT */
/*
 * chat_template.h - the chat templates of the model families edge-npu runs, written out in C:
 * a conversation (role, content) becomes the prompt text the model was trained on. A model
 * names its template in the GGUF key tokenizer.chat_template as Jinja source; like the
 * reference runtime, the family is recognised by distinctive substrings of that source (no
 * Jinja engine), or named explicitly.
 */
#ifndef EDGE_NPU_CHAT_TEMPLATE_H
#define EDGE_NPU_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "edge_npu.h"

/*
 * The family of a template: name itself when it is one of the names known (supported or
 * not), else the family recognised in the Jinja source name, else NULL.
 */
const char *chat_template_family(const char *name_or_jinja);

/* Whether family can be rendered here. */
bool chat_template_supported(const char *family);

/* The supported families, comma-separated, for messages. */
const char *chat_template_supported_list(void);

/*
 * Renders msgs with a supported family into a malloc'd NUL-terminated string (*len bytes
 * before the NUL). With add_assistant, the opening of an assistant turn follows. NULL when
 * memory runs out.
 */
char *chat_template_render(const char *family, const struct enpu_chat_message *msgs, size_t n,
			   bool add_assistant, size_t *len);

#endif
