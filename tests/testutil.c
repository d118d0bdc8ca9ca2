/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include "hal/quant.h"

#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_dir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static void rm_tmp_dir(void)
{
	if (tmp_dir[0])
		nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_vocab_path(void)
{
	const char *p = getenv("ENPU_VOCAB");
	return p ? p : ENPU_VOCAB_PATH;
}

bool tu_have_shared_vocab(void)
{
	static bool said;

	if (access(tu_vocab_path(), R_OK) == 0)
		return true;
	if (!said)
		fprintf(stderr, "SKIP: %s is absent: the tests that need the conformance data of "
			"../shared/vocab (the 32000-token llama tokenizer and its test vectors) are "
			"skipped; it sits beside the checkout in the project's CI\n", tu_vocab_path());
	said = true;
	return false;
}

void tu_require_shared_vocab(void)
{
	if (!tu_have_shared_vocab())
		exit(77);
}

const char *tu_tmp_path(const char *suffix)
{
	static unsigned counter;
	static char path[512];

	if (!tmp_dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmp_dir, sizeof(tmp_dir), "%s/enpu-test-XXXXXX", base ? base : "/tmp");
		ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
		atexit(rm_tmp_dir);
	}
	snprintf(path, sizeof(path), "%s/%u%s", tmp_dir, counter++, suffix);
	return path;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

void *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

void tu_limit_file_size(size_t bytes)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = bytes ? (rlim_t)bytes : rl.rlim_max;
	signal(SIGXFSZ, bytes ? SIG_IGN : SIG_DFL);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

uint64_t tu_rand_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

float tu_rand_f32(uint64_t *state)
{
	return (float)((tu_rand_u64(state) >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static void *pool[512];
static int n_pool;

void *tu_talloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_lt(n_pool, 512);
	pool[n_pool++] = p;
	return p;
}

void tu_pool_free(void)
{
	while (n_pool)
		free(pool[--n_pool]);
}

struct hal_tensor *tu_tensor_new(const char *name, enum hal_type type, uint32_t ne0,
				 uint32_t ne1)
{
	struct hal_tensor *t = tu_talloc(sizeof(*t));

	t->name = name;
	t->type = type;
	t->ne[0] = ne0;
	t->ne[1] = ne1;
	t->data = tu_talloc(hal_tensor_bytes(t));
	return t;
}

struct hal_tensor *tu_tensor_rand(const char *name, uint32_t ne0, uint32_t ne1, uint64_t *rng,
				  float scale)
{
	struct hal_tensor *t = tu_tensor_new(name, HAL_TYPE_F32, ne0, ne1);
	float *d = t->data;

	for (uint64_t i = 0; i < (uint64_t)ne0 * ne1; i++)
		d[i] = scale * tu_rand_f32(rng);
	return t;
}

struct hal_tensor *tu_tensor_i32(const char *name, const int32_t *v, uint32_t n)
{
	struct hal_tensor *t = tu_tensor_new(name, HAL_TYPE_I32, 1, n);

	memcpy(t->data, v, n * sizeof(*v));
	return t;
}

struct hal_tensor *tu_weight_rand(const char *name, enum hal_type type, uint32_t K,
				  uint32_t N, uint64_t *rng, float **out_f)
{
	struct hal_tensor *w = tu_tensor_new(name, type, K, N);
	float *src = tu_talloc((size_t)K * sizeof(float));
	float *deq = out_f ? tu_talloc((size_t)K * N * sizeof(float)) : NULL;

	for (uint32_t n = 0; n < N; n++) {
		char *row = (char *)w->data + n * hal_row_bytes(type, K);

		for (uint32_t k = 0; k < K; k++)
			src[k] = tu_rand_f32(rng);
		hal_quantize_row(type, src, row, K);
		if (deq)
			hal_dequantize_row(type, row, deq + (size_t)n * K, K);
	}
	if (out_f)
		*out_f = deq;
	return w;
}

int tu_system(const char *cmd)
{
	int st = system(cmd);

	ck_assert_int_ne(st, -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct tu_run tu_run(const char *fmt, ...)
{
	char cmd[8192], *out = strdup(tu_tmp_path(".out")), *err = strdup(tu_tmp_path(".err"));
	struct tu_run r;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(cmd, sizeof(cmd) - 1200, fmt, ap);
	va_end(ap);
	snprintf(cmd + len, sizeof(cmd) - (size_t)len, " </dev/null >%s 2>%s", out, err);
	r.status = tu_system(cmd);
	r.out = tu_read_file(out, &n);
	r.err = tu_read_file(err, &n);
	free(out);
	free(err);
	return r;
}

void tu_run_free(struct tu_run *r)
{
	free(r->out);
	free(r->err);
}

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

const char *tu_profile_slow_cpu(bool without_gpu)
{
	static char out[512];
	size_t len;
	char *host = tu_read_file(ENPU_SOURCE_ROOT "/sched/profiles/host.prof", &len);
	char *gpu = strstr(host, "\ndevice gpu"), *npu = strstr(host, "\ndevice npu");
	char *rate = strstr(host, "rate matmul ");

	ck_assert_msg(gpu && npu && rate && rate < gpu, "host.prof: no cpu, gpu and npu sections");
	char *text = malloc(len + 64), *rest = strchr(rate, '\n');
	ck_assert_ptr_nonnull(text);
	*rate = 0;
	if (without_gpu)
		*gpu = 0;
	sprintf(text, "%srate matmul 0.01%s%s\n", host, rest, without_gpu ? npu : "");
	snprintf(out, sizeof(out), "%s", tu_tmp_path(".prof"));
	tu_write_file(out, text, strlen(text));
	free(text);
	free(host);
	return out;
}

bool tu_is_fuse_mount(const char *dir)
{
	char line[2048], mnt[1024], type[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	bool found = false;

	/* the mount point is the fifth field; the type follows the " - " separator */
	while (f && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && dash &&
		    sscanf(dash + 3, "%63s", type) == 1 && !strcmp(mnt, dir) &&
		    !strncmp(type, "fuse", 4))
			found = true;
	}
	if (f)
		fclose(f);
	return found;
}
