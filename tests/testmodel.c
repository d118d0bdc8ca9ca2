/* SPDX-License-Identifier: MIT */
/*
 * testmodel.c - the small models the tests generate (tu_small_model in testutil.h): apart
 * from testutil.c because it needs the model generator, which the Arm64 op tests do not link.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tools/mkmodel.h"

char *tu_small_model(uint32_t dim, uint32_t ffn, uint32_t ctx, enum hal_type type,
		     uint64_t seed, const char *vocab)
{
	struct mkmodel_params p = mkmodel_default;
	char err[512];
	char *path = strdup(tu_tmp_path(".gguf"));

	ck_assert_ptr_nonnull(path);
	p.dim = dim;
	p.layers = 2;
	p.heads = 4;
	p.kv_heads = 2;
	p.ffn = ffn;
	p.ctx = ctx;
	p.type = type;
	p.seed = seed;
	p.vocab = vocab;
	ck_assert_msg(mkmodel_write(&p, path, err, sizeof(err)) == 0, "mkmodel: %s", err);
	return path;
}
