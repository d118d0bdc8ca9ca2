/* SPDX-License-Identifier: MIT */
/*
 * test_chat.c - chat templates: recognising a family in a template's Jinja source, the exact
 * text each family renders, and enpu_chat_apply_template on models with and without a
 * tokenizer.chat_template (names, buffer sizes, refusals and their messages).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/chat_template.h"
#include "edge_npu.h"
#include "testutil.h"

/* Sketches of the families' Jinja sources: each holds the markers their real ones hold. */
static const char qwen2_jinja[] =
	"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
	"message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
	"{{ '<|im_start|>assistant\\n' }}{% endif %}";
static const char llama3_jinja[] =
	"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
	"message['content'] | trim + '<|eot_id|>' %}";
static const char llama2_jinja[] =
	"{% if message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() }}{% endif %}"
	"{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}";
static const char llama2_plain_jinja[] = "{{ '[INST] ' + message['content'] + ' [/INST]' }}";
static const char phi3_jinja[] =
	"{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}";
static const char gemma_jinja[] =
	"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}";
static const char deepseek_coder_jinja[] =
	"{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n' + "
	"message['content'] + '\\n<|EOT|>\\n'}}";
static const char mistral_v7_jinja[] = "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}"
				       "{{ '[INST]' + message['content'] + '[/INST]' }}";

START_TEST(detects_families)
{
	ck_assert_str_eq(chat_template_family(qwen2_jinja), "chatml");
	ck_assert_str_eq(chat_template_family(llama3_jinja), "llama3");
	ck_assert_str_eq(chat_template_family(llama2_jinja), "llama2-sys-strip");
	ck_assert_str_eq(chat_template_family(llama2_plain_jinja), "llama2");
	ck_assert_str_eq(chat_template_family(phi3_jinja), "phi3");
	ck_assert_str_eq(chat_template_family(gemma_jinja), "gemma");
	ck_assert_str_eq(chat_template_family(deepseek_coder_jinja), "deepseek");
	ck_assert_str_eq(chat_template_family(mistral_v7_jinja), "mistral-v7");
	ck_assert(!chat_template_supported("mistral-v7"));
	ck_assert(chat_template_supported("gemma"));
	/* names are taken as they are */
	ck_assert_str_eq(chat_template_family("deepseek3"), "deepseek3");
	ck_assert_ptr_null(chat_template_family("{{ messages | tojson }}"));
	ck_assert(!chat_template_supported(NULL));
}
END_TEST

static const struct enpu_chat_message conv[] = {
	{ "system", "Be brief. " },
	{ "user", "Hi" },
	{ "assistant", " Hello! " },
	{ "user", "2+2?" },
};
#define N_CONV (sizeof(conv) / sizeof(conv[0]))

static void expect_render(const char *family, bool add_assistant, const char *want)
{
	size_t len = 0;
	char *got = chat_template_render(family, conv, N_CONV, add_assistant, &len);

	ck_assert_ptr_nonnull(got);
	ck_assert_msg(!strcmp(got, want), "%s:\n got  \"%s\"\n want \"%s\"", family, got, want);
	ck_assert_uint_eq(len, strlen(want));
	free(got);
}

START_TEST(renders_families)
{
	expect_render("chatml", true,
		      "<|im_start|>system\nBe brief. <|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
		      "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
		      "<|im_start|>assistant\n");
	expect_render("chatml", false,
		      "<|im_start|>system\nBe brief. <|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
		      "<|im_start|>assistant\n Hello! <|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n");
	expect_render("llama2", true, "[INST] Be brief. \nHi [/INST] Hello! </s>[INST] 2+2? [/INST]");
	expect_render("llama2-sys", true,
		      "[INST] <<SYS>>\nBe brief. \n<</SYS>>\n\nHi [/INST] Hello! </s>[INST] 2+2? [/INST]");
	expect_render("llama2-sys-bos", false,
		      "[INST] <<SYS>>\nBe brief. \n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? "
		      "[/INST]");
	expect_render("llama2-sys-strip", true,
		      "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]");
	expect_render("llama3", true,
		      "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
		      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
		      "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
		      "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
		      "<|start_header_id|>assistant<|end_header_id|>\n\n");
	expect_render("phi3", true,
		      "<|system|>\nBe brief. <|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n Hello! "
		      "<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\n");
	/* no system role: it opens the first user turn */
	expect_render("gemma", true,
		      "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
		      "Hello!<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n"
		      "<start_of_turn>model\n");
	expect_render("deepseek", true,
		      "Be brief. ### Instruction:\nHi\n### Response:\n Hello! \n<|EOT|>\n"
		      "### Instruction:\n2+2?\n### Response:\n");
	expect_render("deepseek2", true,
		      "Be brief. \n\nUser: Hi\n\nAssistant:  Hello! <\xef\xbd\x9c" "end\xe2\x96\x81"
		      "of\xe2\x96\x81sentence\xef\xbd\x9c>User: 2+2?\n\nAssistant:");
	expect_render("deepseek3", true,
		      "Be brief. \n\n<\xef\xbd\x9cUser\xef\xbd\x9c>Hi<\xef\xbd\x9c" "Assistant"
		      "\xef\xbd\x9c> Hello! <\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence"
		      "\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>2+2?<\xef\xbd\x9c" "Assistant"
		      "\xef\xbd\x9c>");
	/* no messages: only the opening, or nothing */
	{
		size_t len = 7;
		char *s = chat_template_render("chatml", NULL, 0, false, &len);

		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(len, 0);
		ck_assert_str_eq(s, "");
		free(s);
	}
}
END_TEST

/* ---- through the API, on models ---- */

static enpu_context *ctx;

static void ctx_setup(void)
{
	struct enpu_context_options o = ENPU_CONTEXT_OPTIONS_INIT;

	o.device = "cpu-ref";
	ck_assert_int_eq(enpu_context_create(&o, &ctx), ENPU_OK);
}

static void ctx_teardown(void)
{
	enpu_context_destroy(ctx);
	ctx = NULL;
}

/* A small model whose vocabulary (the built-in one) carries chat_template when not NULL. */
static enpu_model *model_with(const char *chat_template)
{
	char *vocab_path = tu_builtin_vocab(chat_template, NULL), *path;
	enpu_model *m = NULL;

	path = tu_small_model(32, 64, 64, HAL_TYPE_F32, 7, vocab_path);
	ck_assert_int_eq(enpu_model_load(ctx, path, NULL, &m), ENPU_OK);
	free(path);
	free(vocab_path);
	return m;
}

START_TEST(applies_the_models_template)
{
	static const struct enpu_chat_message one[] = { { "user", "Hi" } };
	enpu_model *m = model_with(qwen2_jinja);
	char buf[128];
	size_t len = 0;

	ck_assert_int_eq(enpu_chat_apply_template(m, NULL, one, 1, true, buf, sizeof(buf), &len),
			 ENPU_OK);
	ck_assert_str_eq(buf, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
	ck_assert_uint_eq(len, strlen(buf));
	/* a name given wins over the model's */
	ck_assert_int_eq(enpu_chat_apply_template(m, "phi3", one, 1, false, buf, sizeof(buf), &len),
			 ENPU_OK);
	ck_assert_str_eq(buf, "<|user|>\nHi<|end|>\n");
	/* too small: the length still comes back, and the first bytes */
	ck_assert_int_eq(enpu_chat_apply_template(m, NULL, one, 1, true, buf, 5, &len),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(len, 52);
	ck_assert_mem_eq(buf, "<|im_", 5);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "52 bytes"));
	ck_assert_int_eq(enpu_chat_apply_template(m, NULL, one, 1, true, NULL, 0, &len),
			 ENPU_ERR_INVALID_ARG);
	ck_assert_uint_eq(len, 52);
	enpu_model_free(m);
}
END_TEST

START_TEST(refuses_what_it_cannot_render)
{
	static const struct enpu_chat_message one[] = { { "user", "Hi" } };
	static const struct enpu_chat_message no_role[] = { { NULL, "Hi" } };
	enpu_model *plain = model_with(NULL), *mistral = model_with(mistral_v7_jinja);
	enpu_model *odd = model_with("{% for m in messages %}{{ m.content }}{% endfor %}");
	char buf[256];
	size_t len;

	/* no template in the file and none named */
	ck_assert_int_eq(enpu_chat_apply_template(plain, NULL, one, 1, true, buf, sizeof(buf), &len),
			 ENPU_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "tokenizer.chat_template"));
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "chatml"));
	/* a family recognised but not rendered here is named */
	ck_assert_int_eq(enpu_chat_apply_template(mistral, NULL, one, 1, true, buf, sizeof(buf),
						  &len), ENPU_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "\"mistral-v7\""));
	/* a template of no known family is quoted */
	ck_assert_int_eq(enpu_chat_apply_template(odd, NULL, one, 1, true, buf, sizeof(buf), &len),
			 ENPU_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "{% for m in messages %}"));
	ck_assert_int_eq(enpu_chat_apply_template(plain, "vicuna-13b", one, 1, true, buf,
						  sizeof(buf), &len), ENPU_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "vicuna-13b"));
	/* bad arguments */
	ck_assert_int_eq(enpu_chat_apply_template(NULL, "chatml", one, 1, true, buf, sizeof(buf),
						  &len), ENPU_ERR_INVALID_ARG);
	ck_assert_int_eq(enpu_chat_apply_template(plain, "chatml", no_role, 1, true, buf,
						  sizeof(buf), &len), ENPU_ERR_INVALID_ARG);
	ck_assert_ptr_nonnull(strstr(enpu_last_error(ctx), "message 0 has no role"));
	ck_assert_int_eq(enpu_chat_apply_template(plain, "chatml", NULL, 1, true, buf, sizeof(buf),
						  &len), ENPU_ERR_INVALID_ARG);
	enpu_model_free(plain);
	enpu_model_free(mistral);
	enpu_model_free(odd);
}
END_TEST

/* enpu_token_is_eog on a vocabulary without end-of-turn tokens: EOS only. */
START_TEST(end_of_turn_tokens)
{
	enpu_model *m = model_with(qwen2_jinja);

	/* the built-in vocabulary has no <|im_end|>: only its EOS ends a generation */
	ck_assert(enpu_token_is_eog(m, enpu_token_eos(m)));
	ck_assert(!enpu_token_is_eog(m, enpu_token_bos(m)));
	ck_assert(!enpu_token_is_eog(m, -1));
	ck_assert(!enpu_token_is_eog(NULL, 0));
	enpu_model_free(m);
}
END_TEST

static Suite *chat_suite(void)
{
	Suite *s = suite_create("chat");
	TCase *t = tcase_create("templates");
	TCase *api = tcase_create("api");

	tcase_add_test(t, detects_families);
	tcase_add_test(t, renders_families);
	suite_add_tcase(s, t);
	tcase_add_checked_fixture(api, ctx_setup, ctx_teardown);
	tcase_add_test(api, applies_the_models_template);
	tcase_add_test(api, refuses_what_it_cannot_render);
	tcase_add_test(api, end_of_turn_tokens);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	return tu_run_suite(chat_suite());
}
