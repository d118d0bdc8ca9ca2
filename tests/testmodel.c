/* SPDX-License-Identifier: MIT */
/*
 * testmodel.c - the small models the tests generate (tu_small_model in testutil.h): apart
 * from testutil.c because it needs the model generator, which the Arm64 op tests do not link.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/gguf.h"
#include "edge_npu.h"
#include "testutil.h"
#include "tools/mkmodel.h"
#include "tools/vocab.h"

void tu_small_params(struct mkmodel_params *p, uint32_t dim, uint32_t ffn, uint32_t ctx,
		     enum hal_type type, uint64_t seed, const char *vocab)
{
	*p = mkmodel_default;
	p->dim = dim;
	p->layers = 2;
	p->heads = 4;
	p->kv_heads = 2;
	p->ffn = ffn;
	p->ctx = ctx;
	p->type = type;
	p->seed = seed;
	p->vocab = vocab;
}

char *tu_model_of(const struct mkmodel_params *p)
{
	char err[512];
	char *path = strdup(tu_tmp_path(".gguf"));

	ck_assert_ptr_nonnull(path);
	ck_assert_msg(mkmodel_write(p, path, err, sizeof(err)) == 0, "mkmodel: %s", err);
	return path;
}

char *tu_small_model(uint32_t dim, uint32_t ffn, uint32_t ctx, enum hal_type type,
		     uint64_t seed, const char *vocab)
{
	struct mkmodel_params p;

	tu_small_params(&p, dim, ffn, ctx, type, seed, vocab);
	return tu_model_of(&p);
}

char *tu_builtin_vocab(const char *chat_template, uint32_t *n_tokens)
{
	struct gguf_writer *w = gguf_writer_create();
	char *path = strdup(tu_tmp_path(".gguf")), err[256] = "";

	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(path);
	ck_assert_msg(vocab_write_builtin(w, n_tokens, err, sizeof(err)) == 0, "%s", err);
	if (chat_template)
		ck_assert_int_eq(gguf_writer_set_str(w, "tokenizer.chat_template", chat_template),
				 GGUF_OK);
	ck_assert_msg(gguf_writer_write(w, path, err, sizeof(err)) == GGUF_OK, "%s", err);
	gguf_writer_free(w);
	return path;
}

bool tu_session_open(struct tu_session *r, const char *path, const char *device, int cache_type)
{
	struct enpu_context_options co = ENPU_CONTEXT_OPTIONS_INIT;
	struct enpu_session_options so = ENPU_SESSION_OPTIONS_INIT;

	co.device = device;
	co.n_threads = 2;
	so.cache_type = (enum enpu_cache_type)cache_type;
	if (enpu_context_create(&co, &r->ctx) != ENPU_OK)
		return false;
	ck_assert_msg(enpu_model_load(r->ctx, path, NULL, &r->model) == ENPU_OK, "%s",
		      enpu_last_error(r->ctx));
	ck_assert_msg(enpu_session_create(r->model, &so, &r->sess) == ENPU_OK, "%s",
		      enpu_last_error(r->ctx));
	return true;
}

void tu_session_close(struct tu_session *r)
{
	enpu_session_free(r->sess);
	enpu_model_free(r->model);
	enpu_context_destroy(r->ctx);
}

void tu_expect_load_error(const char *path, int want, const char *needle)
{
	enpu_context *ctx;
	enpu_model *m = (void *)1;

	ck_assert_int_eq(enpu_context_create(NULL, &ctx), ENPU_OK);
	ck_assert_int_eq(enpu_model_load(ctx, path, NULL, &m), want);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(enpu_last_error(ctx), needle), "message '%s' lacks '%s'",
		      enpu_last_error(ctx), needle);
	enpu_context_destroy(ctx);
}

char *tu_model_edited(const char *src, const struct tu_edit *e)
{
	struct gguf_file *f;
	struct gguf_writer *w = gguf_writer_create();
	char err[256];
	char *path = strdup(tu_tmp_path(".gguf"));
	bool set = false;

	ck_assert_int_eq(gguf_open(src, &f, err, sizeof(err)), GGUF_OK);
	for (uint64_t i = 0; i < f->n_kv; i++) {
		if (e->key && gguf_str_eq(f->kv[i].key, e->key))
			continue;
		ck_assert_int_eq(gguf_writer_copy_kv(w, &f->kv[i]), GGUF_OK);
	}
	if (e->key && e->str)
		set = !gguf_writer_set_str(w, e->key, e->str);
	if (e->key && e->u32)
		set = !gguf_writer_set_u32(w, e->key, *e->u32);
	if (e->key && e->f32)
		set = !gguf_writer_set_f32(w, e->key, *e->f32);
	ck_assert(!e->key || set || (!e->str && !e->u32 && !e->f32));
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor_info *t = &f->tensors[i];
		char name[96];

		snprintf(name, sizeof(name), "%.*s", (int)t->name.len, t->name.ptr);
		if (e->drop && !strcmp(name, e->drop))
			continue;
		if (e->from && !strcmp(name, e->from))
			snprintf(name, sizeof(name), "%s", e->to);
		ck_assert_int_eq(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data),
				 GGUF_OK);
	}
	ck_assert_int_eq(gguf_writer_write(w, path, err, sizeof(err)), GGUF_OK);
	gguf_writer_free(w);
	gguf_close(f);
	return path;
}
