/* SPDX-License-Identifier: MIT */
/*
 * test_readme.c - the C example in README.md, extracted, compiled against the built
 * libedge-npu.so as a user would compile it, and run on a generated model.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"
#include "tools/mkmodel.h"

static const char *extract_example(void)
{
	size_t n;
	char *readme = tu_read_file(ENPU_SOURCE_ROOT "/README.md", &n);
	char *begin = strstr(readme, "<!-- readme-example:begin -->");
	ck_assert_msg(begin != NULL, "README.md has no readme-example block");
	begin = strstr(begin, "```c\n");
	ck_assert_ptr_nonnull(begin);
	begin += 5;
	char *end = strstr(begin, "```\n<!-- readme-example:end -->");
	ck_assert_ptr_nonnull(end);
	const char *path = strdup(tu_tmp_path(".c"));
	tu_write_file(path, begin, (size_t)(end - begin));
	free(readme);
	return path;
}

START_TEST(readme_example_compiles_and_runs)
{
	const char *src = extract_example();
	const char *exe = strdup(tu_tmp_path(".exe"));
	const char *model = strdup(tu_tmp_path(".gguf"));
	const char *out = strdup(tu_tmp_path(".out"));
	struct mkmodel_params p = mkmodel_default;
	char cmd[4096], err[512];
	size_t n;

	p.dim = 64, p.layers = 2, p.heads = 4, p.kv_heads = 2, p.ffn = 128, p.ctx = 64;
	p.vocab = NULL; /* the built-in vocabulary: the test needs no ../shared */
	ck_assert_msg(mkmodel_write(&p, model, err, sizeof(err)) == 0, "%s", err);
	/* -std=c11 -pedantic: the public header must not need GNU extensions */
	/* a sanitized library needs its runtime linked into the program too */
	char san[64] = "";
	if (strcmp(ENPU_SANITIZE, "none") != 0 && ENPU_SANITIZE[0])
		snprintf(san, sizeof(san), "-fsanitize=%s", ENPU_SANITIZE);
	snprintf(cmd, sizeof(cmd), "cc -std=c11 -Wall -Wextra -Werror -pedantic %s -o %s %s -I%s "
		 "-L%s -ledge-npu -Wl,-rpath,%s", san, exe, src, ENPU_API_INCLUDE, ENPU_LIB_DIR,
		 ENPU_LIB_DIR);
	ck_assert_msg(system(cmd) == 0, "compiling the README example failed: %s", cmd);
	snprintf(cmd, sizeof(cmd), "%s %s >%s", exe, model, out);
	int st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the README example failed");
	char *text = tu_read_file(out, &n);
	ck_assert_uint_gt(n, 1);
	free(text);
	snprintf(cmd, sizeof(cmd), "%s /nonexistent.gguf 2>%s", exe, out);
	st = system(cmd);
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	text = tu_read_file(out, &n);
	ck_assert_ptr_nonnull(strstr(text, "error: /nonexistent.gguf"));
	free(text);
	free((void *)src), free((void *)exe), free((void *)model), free((void *)out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("readme");
	TCase *tc = tcase_create("readme");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, readme_example_compiles_and_runs);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
