/* SPDX-License-Identifier: MIT */
/*
 * chat_template.c - chat templates: recognising a model's template and rendering a
 * conversation with it (the formats are those of the families' published templates, as the
 * reference runtime renders them without a Jinja engine).
 */
#include "chat_template.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The families rendered here; the first name of each line is what the others alias. */
enum family {
	F_CHATML,          /* Qwen2, SmolLM, many fine-tunes: <|im_start|>role\n...<|im_end|>\n */
	F_LLAMA2,          /* [INST] ... [/INST], no system message */
	F_LLAMA2_SYS,      /* with <<SYS>> ... <</SYS>> */
	F_LLAMA2_SYS_BOS,  /* with <s> before each later [INST] */
	F_LLAMA2_SYS_STRIP, /* with the contents stripped of surrounding spaces */
	F_LLAMA3,          /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
	F_PHI3,            /* <|role|>\n...<|end|>\n */
	F_GEMMA,           /* <start_of_turn>user|model\n...<end_of_turn>\n (Gemma and Gemma 2) */
	F_DEEPSEEK,        /* DeepSeek-Coder: ### Instruction: / ### Response: */
	F_DEEPSEEK2,       /* DeepSeek-V2: User: / Assistant: */
	F_DEEPSEEK3,       /* DeepSeek-V3 and R1: <｜User｜> / <｜Assistant｜> */
	F_NONE,
};

static const struct {
	const char *name;
	enum family f;
} families[] = {
	{ "chatml", F_CHATML }, { "llama2", F_LLAMA2 }, { "llama2-sys", F_LLAMA2_SYS },
	{ "llama2-sys-bos", F_LLAMA2_SYS_BOS }, { "llama2-sys-strip", F_LLAMA2_SYS_STRIP },
	{ "llama3", F_LLAMA3 }, { "phi3", F_PHI3 }, { "gemma", F_GEMMA },
	{ "deepseek", F_DEEPSEEK }, { "deepseek2", F_DEEPSEEK2 }, { "deepseek3", F_DEEPSEEK3 },
	/* the reference runtime's other names: recognised so that the refusal can name them */
	{ "phi4", F_NONE }, { "smolvlm", F_NONE }, { "mistral-v1", F_NONE },
	{ "mistral-v3", F_NONE }, { "mistral-v3-tekken", F_NONE }, { "mistral-v7", F_NONE },
	{ "chatglm4", F_NONE }, { "falcon3", F_NONE }, { "glmedge", F_NONE }, { "zephyr", F_NONE },
	{ "monarch", F_NONE }, { "orion", F_NONE }, { "openchat", F_NONE }, { "vicuna", F_NONE },
	{ "vicuna-orca", F_NONE }, { "command-r", F_NONE }, { "chatglm3", F_NONE },
	{ "minicpm", F_NONE }, { "exaone3", F_NONE }, { "granite", F_NONE }, { "llama4", F_NONE },
};

#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

static enum family family_of(const char *name)
{
	for (size_t i = 0; i < N_FAMILIES; i++) {
		if (!strcmp(families[i].name, name))
			return families[i].f;
	}
	return F_NONE;
}

static const char *known_name(const char *s)
{
	for (size_t i = 0; i < N_FAMILIES; i++) {
		if (!strcmp(families[i].name, s))
			return families[i].name;
	}
	return NULL;
}

static bool has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

/* The [INST] families: Mistral's official ones, else Llama 2 and its variants. */
static const char *detect_inst(const char *t)
{
	if (has(t, "[SYSTEM_PROMPT]"))
		return "mistral-v7";
	if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
		if (has(t, " [INST]"))
			return "mistral-v1";
		return has(t, "\"[INST]\"") ? "mistral-v3-tekken" : "mistral-v3";
	}
	if (has(t, "content.strip()"))
		return "llama2-sys-strip";
	if (has(t, "bos_token + '[INST]"))
		return "llama2-sys-bos";
	return has(t, "<<SYS>>") ? "llama2-sys" : "llama2";
}

/*
 * The reference runtime's order of tests, up to the families this file renders (the ones
 * tested before a supported family are kept so that their templates are not mistaken for it).
 */
static const char *detect(const char *t)
{
	if (has(t, "<|im_start|>")) {
		if (has(t, "<|im_sep|>"))
			return "phi4";
		return has(t, "<end_of_utterance>") ? "smolvlm" : "chatml";
	}
	if (!strncmp(t, "mistral", 7) || has(t, "[INST]"))
		return detect_inst(t);
	if (has(t, "<|assistant|>") && has(t, "<|end|>"))
		return "phi3";
	if (has(t, "[gMASK]<sop>"))
		return "chatglm4";
	if (has(t, "<|assistant|>") && has(t, "<|user|>"))
		return has(t, "</s>") ? "falcon3" : "glmedge";
	if (has(t, "<|user|>") && has(t, "<|endoftext|>"))
		return "zephyr";
	if (has(t, "bos_token + message['role']"))
		return "monarch";
	if (has(t, "<start_of_turn>"))
		return "gemma";
	if (has(t, "'\\n\\nAssistant: ' + eos_token"))
		return "orion";
	if (has(t, "GPT4 Correct "))
		return "openchat";
	if (has(t, "USER: ") && has(t, "ASSISTANT: "))
		return has(t, "SYSTEM: ") ? "vicuna-orca" : "vicuna";
	if (has(t, "### Instruction:") && has(t, "<|EOT|>"))
		return "deepseek";
	if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>"))
		return "command-r";
	if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
		return "llama3";
	if (has(t, "[gMASK]sop"))
		return "chatglm3";
	if (has(t, "<\xe7\x94\xa8\xe6\x88\xb7>"))
		return "minicpm";
	if (has(t, "'Assistant: ' + message['content'] + eos_token"))
		return "deepseek2";
	if (has(t, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>") && has(t, "<\xef\xbd\x9c" "User\xef\xbd\x9c>") &&
	    has(t, "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>"))
		return "deepseek3";
	if (has(t, "[|system|]") && has(t, "[|assistant|]") && has(t, "[|endofturn|]"))
		return "exaone3";
	if (has(t, "<|start_of_role|>"))
		return "granite";
	if (has(t, "<|header_start|>") && has(t, "<|header_end|>"))
		return "llama4";
	return NULL;
}

const char *chat_template_family(const char *name_or_jinja)
{
	const char *name = known_name(name_or_jinja);

	return name ? name : detect(name_or_jinja);
}

bool chat_template_supported(const char *family)
{
	return family && family_of(family) != F_NONE;
}

const char *chat_template_supported_list(void)
{
	return "chatml, llama2, llama2-sys, llama2-sys-bos, llama2-sys-strip, llama3, phi3, gemma, "
	       "deepseek, deepseek2, deepseek3";
}

/* ---- rendering ---- */

struct out {
	char *s;
	size_t n, cap;
	bool failed;
};

static void put_n(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->n + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		char *p;

		while (cap < o->n + n + 1)
			cap *= 2;
		p = realloc(o->s, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		o->s = p;
		o->cap = cap;
	}
	memcpy(o->s + o->n, s, n);
	o->n += n;
	o->s[o->n] = '\0';
}

static void put(struct out *o, const char *s)
{
	put_n(o, s, strlen(s));
}

/* s without the white space (C isspace, as the templates' strip()) around it. */
static void put_trimmed(struct out *o, const char *s)
{
	size_t a = 0, b = strlen(s);

	while (a < b && isspace((unsigned char)s[a]))
		a++;
	while (b > a && isspace((unsigned char)s[b - 1]))
		b--;
	put_n(o, s + a, b - a);
}

static bool is_role(const struct enpu_chat_message *m, const char *role)
{
	return !strcmp(m->role, role);
}

static void put_content(struct out *o, const char *s, bool strip)
{
	if (strip)
		put_trimmed(o, s);
	else
		put(o, s);
}

static void render_llama2(struct out *o, enum family f, const struct enpu_chat_message *msgs,
			  size_t n)
{
	const bool strip = f == F_LLAMA2_SYS_STRIP;
	bool in_turn = true; /* the first [INST] has no <s>: the tokenizer adds BOS */

	put(o, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		const struct enpu_chat_message *m = &msgs[i];

		if (!in_turn) {
			in_turn = true;
			put(o, f == F_LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
		}
		if (is_role(m, "system")) {
			/* without <<SYS>> the system text still leads the first instruction */
			put(o, f == F_LLAMA2 ? "" : "<<SYS>>\n");
			put_content(o, m->content, strip);
			put(o, f == F_LLAMA2 ? "\n" : "\n<</SYS>>\n\n");
		} else if (is_role(m, "user")) {
			put_content(o, m->content, strip);
			put(o, " [/INST]");
		} else {
			put_content(o, m->content, strip);
			put(o, "</s>");
			in_turn = false;
		}
	}
}

/* Gemma has no system role: the system text opens the next user turn. */
static void render_gemma(struct out *o, const struct enpu_chat_message *msgs, size_t n,
			 bool add_assistant)
{
	struct out system = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct enpu_chat_message *m = &msgs[i];
		const bool model = is_role(m, "assistant");

		if (is_role(m, "system")) {
			put_trimmed(&system, m->content);
			continue;
		}
		put(o, "<start_of_turn>");
		put(o, model ? "model" : m->role);
		put(o, "\n");
		if (system.n && !model) {
			put_n(o, system.s, system.n);
			put(o, "\n\n");
			system.n = 0;
		}
		put_trimmed(o, m->content);
		put(o, "<end_of_turn>\n");
	}
	o->failed |= system.failed;
	free(system.s);
	if (add_assistant)
		put(o, "<start_of_turn>model\n");
}

/* DeepSeek-V3's markers: full-width bars, U+2581 for the spaces. */
#define DS3_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS3_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define DS3_END "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static void render_deepseek(struct out *o, enum family f, const struct enpu_chat_message *msgs,
			    size_t n, bool add_assistant)
{
	static const char *const user[] = { "### Instruction:\n", "User: ", DS3_USER };
	static const char *const user_end[] = { "\n", "\n\n", "" };
	static const char *const asst[] = { "### Response:\n", "Assistant: ", DS3_ASSISTANT };
	static const char *const asst_end[] = { "\n<|EOT|>\n", DS3_END, DS3_END };
	static const char *const opening[] = { "### Response:\n", "Assistant:", DS3_ASSISTANT };
	const int k = f == F_DEEPSEEK ? 0 : f == F_DEEPSEEK2 ? 1 : 2;

	for (size_t i = 0; i < n; i++) {
		const struct enpu_chat_message *m = &msgs[i];

		if (is_role(m, "system")) {
			put(o, m->content);
			put(o, k ? "\n\n" : "");
		} else if (is_role(m, "user")) {
			put(o, user[k]);
			put(o, m->content);
			put(o, user_end[k]);
		} else if (is_role(m, "assistant")) {
			put(o, asst[k]);
			put(o, m->content);
			put(o, asst_end[k]);
		}
	}
	if (add_assistant)
		put(o, opening[k]);
}

char *chat_template_render(const char *family, const struct enpu_chat_message *msgs, size_t n,
			   bool add_assistant, size_t *len)
{
	const enum family f = family_of(family);
	struct out o = { 0 };

	put(&o, ""); /* an empty conversation is an empty string, not NULL */
	switch (f) {
	case F_CHATML:
		for (size_t i = 0; i < n; i++) {
			put(&o, "<|im_start|>");
			put(&o, msgs[i].role);
			put(&o, "\n");
			put(&o, msgs[i].content);
			put(&o, "<|im_end|>\n");
		}
		if (add_assistant)
			put(&o, "<|im_start|>assistant\n");
		break;
	case F_LLAMA2:
	case F_LLAMA2_SYS:
	case F_LLAMA2_SYS_BOS:
	case F_LLAMA2_SYS_STRIP:
		/* the turn structure itself asks for the answer: nothing to add */
		render_llama2(&o, f, msgs, n);
		break;
	case F_LLAMA3:
		for (size_t i = 0; i < n; i++) {
			put(&o, "<|start_header_id|>");
			put(&o, msgs[i].role);
			put(&o, "<|end_header_id|>\n\n");
			put_trimmed(&o, msgs[i].content);
			put(&o, "<|eot_id|>");
		}
		if (add_assistant)
			put(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
		break;
	case F_PHI3:
		for (size_t i = 0; i < n; i++) {
			put(&o, "<|");
			put(&o, msgs[i].role);
			put(&o, "|>\n");
			put(&o, msgs[i].content);
			put(&o, "<|end|>\n");
		}
		if (add_assistant)
			put(&o, "<|assistant|>\n");
		break;
	case F_GEMMA:
		render_gemma(&o, msgs, n, add_assistant);
		break;
	case F_DEEPSEEK:
	case F_DEEPSEEK2:
	case F_DEEPSEEK3:
		render_deepseek(&o, f, msgs, n, add_assistant);
		break;
	case F_NONE:
		o.failed = true;
		break;
	}
	if (o.failed) {
		free(o.s);
		return NULL;
	}
	*len = o.n;
	return o.s;
}

/* ---- the public call ---- */

/* The model's tokenizer.chat_template, NUL-terminated in a malloc'd copy; NULL when absent. */
static char *model_template(const enpu_model *m)
{
	const struct gguf_kv *kv = gguf_find_kv(m->gguf, "tokenizer.chat_template");
	char *s;

	if (!kv || kv->type != GGUF_TYPE_STRING)
		return NULL;
	s = malloc(kv->v.str.len + 1);
	if (s) {
		memcpy(s, kv->v.str.ptr, kv->v.str.len);
		s[kv->v.str.len] = '\0';
	}
	return s;
}

enpu_status enpu_chat_apply_template(const enpu_model *model, const char *tmpl,
				     const struct enpu_chat_message *msgs, size_t n_msgs,
				     bool add_assistant, char *buf, size_t cap, size_t *out_len)
{
	char *own = NULL, *text;
	const char *family;
	size_t len = 0;

	if (!model)
		return ENPU_ERR_INVALID_ARG;
	if (!out_len || (!msgs && n_msgs) || (!buf && cap))
		return drv_ctx_fail(model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_chat_apply_template: msgs/buf/out_len missing");
	*out_len = 0;
	for (size_t i = 0; i < n_msgs; i++) {
		if (!msgs[i].role || !msgs[i].content)
			return drv_ctx_fail(model->ctx, ENPU_ERR_INVALID_ARG,
					    "enpu_chat_apply_template: message %zu has no %s", i,
					    msgs[i].role ? "content" : "role");
	}
	if (!tmpl) {
		const struct gguf_kv *kv = gguf_find_kv(model->gguf, "tokenizer.chat_template");

		if (kv && kv->type != GGUF_TYPE_STRING)
			return drv_ctx_fail(model->ctx, ENPU_ERR_FORMAT,
					    "tokenizer.chat_template: %s, expected a string",
					    gguf_type_name(kv->type));
		own = model_template(model);
		if (!own && kv)
			return drv_ctx_fail(model->ctx, ENPU_ERR_NO_MEMORY,
					    "enpu_chat_apply_template: out of memory");
		if (!own)
			return drv_ctx_fail(model->ctx, ENPU_ERR_UNSUPPORTED,
					    "the model has no chat template (tokenizer.chat_template): "
					    "name one of %s", chat_template_supported_list());
		tmpl = own;
	}
	family = chat_template_family(tmpl);
	if (!chat_template_supported(family)) {
		enpu_status st;

		if (family)
			st = drv_ctx_fail(model->ctx, ENPU_ERR_UNSUPPORTED,
					  "chat template \"%s\"%s is not supported (supported: %s)",
					  family, own ? " (recognised in tokenizer.chat_template)" : "",
					  chat_template_supported_list());
		else
			st = drv_ctx_fail(model->ctx, ENPU_ERR_UNSUPPORTED,
					  "chat template %s\"%.40s%s\" is not one this library knows "
					  "(supported: %s)", own ? "tokenizer.chat_template " : "", tmpl,
					  strlen(tmpl) > 40 ? "..." : "", chat_template_supported_list());
		free(own);
		return st;
	}
	free(own);
	text = chat_template_render(family, msgs, n_msgs, add_assistant, &len);
	if (!text)
		return drv_ctx_fail(model->ctx, ENPU_ERR_NO_MEMORY,
				    "enpu_chat_apply_template: out of memory");
	*out_len = len;
	if (buf && cap)
		memcpy(buf, text, len + 1 <= cap ? len + 1 : cap);
	free(text);
	if (len + 1 > cap)
		return drv_ctx_fail(model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_chat_apply_template: the prompt takes %zu bytes and its NUL, "
				    "buf has %zu", len, cap);
	return ENPU_OK;
}
