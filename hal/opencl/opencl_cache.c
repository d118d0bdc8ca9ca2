/* SPDX-License-Identifier: MIT */
/*
 * opencl_cache.c - the program: built once per device from the embedded source, its binary
 * cached on disk so that the next process starts without compiling (~0.5 s on PoCL).
 *
 * The cache file is named by a hash of the key and holds the key itself, so a hash collision
 * or a stale file is recognised: the key is platform, device name, device and driver
 * versions, build options and a hash of the source. A file that does not verify (truncated,
 * corrupt, other key) or that the driver refuses is ignored and rewritten, never fatal; a
 * cache directory that cannot be written only costs the next run a compilation.
 *
 * File layout: "ENPUCLB1", u32 key length, key, u64 binary length, u64 FNV-1a of the binary,
 * binary. Written to a temporary file and renamed, so readers never see half a file.
 */
#include "ocl_internal.h"
#include "hal/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "ENPUCLB1"
#define CACHE_MAX_BYTES (512u << 20) /* larger than any program binary we produce */

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* mkdir -p, private (0700) as npu-run's cache; false when the directory cannot be made. */
static bool make_dirs(const char *path)
{
	char tmp[512];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return false;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return false;
		*p = '/';
	}
	return !mkdir(tmp, 0700) || errno == EEXIST;
}

/*
 * The cache directory by precedence: ENPU_CL_CACHE_DIR, XDG_CACHE_HOME (only an absolute
 * path, as the XDG base directory spec says), HOME; "" if none, or if the name does not fit
 * (a truncated name would be another directory).
 */
static void cache_dir(char *out, size_t len)
{
	const char *env = getenv("ENPU_CL_CACHE_DIR");
	int n = 0;

	out[0] = '\0';
	if (env && env[0])
		n = snprintf(out, len, "%s", env);
	else if ((env = getenv("XDG_CACHE_HOME")) && env[0] == '/')
		n = snprintf(out, len, "%s/edge-npu/cl", env);
	else if ((env = getenv("HOME")) && env[0])
		n = snprintf(out, len, "%s/.cache/edge-npu/cl", env);
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';
}

static void cache_key(const struct ocl_dev *d, const char *source, const char *options,
		      char *out, size_t len)
{
	const struct hal_opencl_caps *c = &d->info.caps;

	snprintf(out, len, "platform=%s\ndevice=%s\nversion=%s\ndriver=%s\noptions=%s\n"
		 "source=%016llx\n", c->platform, c->device, c->version, c->driver, options,
		 (unsigned long long)fnv1a(source, strlen(source), FNV_INIT));
}

/*
 * The whole file, or NULL; small files and missing files alike are simply "no cache". A FIFO
 * or device is refused without blocking (hal_file_open_regular).
 */
static unsigned char *read_all(const char *path, size_t *out_len)
{
	char err[600];
	size_t n = 0;
	int fd = hal_file_open_regular(path, &n, err, sizeof(err));
	unsigned char *buf = NULL;

	if (fd < 0)
		return NULL;
	if (n == 0 || n > CACHE_MAX_BYTES || !(buf = malloc(n)))
		goto out;
	if (hal_file_read_all(fd, buf, n)) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*out_len = n;
out:
	close(fd);
	return buf;
}

/* Finds the binary inside a cache file of this key; false if anything does not verify. */
static bool parse_cache(const unsigned char *buf, size_t n, const char *key,
			const unsigned char **bin, size_t *bin_len)
{
	size_t klen = strlen(key), pos = 8;
	uint32_t file_klen;
	uint64_t blen, bhash;

	if (n < pos + 4 || memcmp(buf, CACHE_MAGIC, 8))
		return false;
	memcpy(&file_klen, buf + pos, 4);
	pos += 4;
	if (file_klen != klen || n - pos < klen || memcmp(buf + pos, key, klen))
		return false;
	pos += klen;
	if (n - pos < 16)
		return false;
	memcpy(&blen, buf + pos, 8);
	memcpy(&bhash, buf + pos + 8, 8);
	pos += 16;
	if (blen == 0 || blen != n - pos || fnv1a(buf + pos, (size_t)blen, FNV_INIT) != bhash)
		return false;
	*bin = buf + pos;
	*bin_len = (size_t)blen;
	return true;
}

static cl_program load_cached(struct ocl_dev *d, const char *path, const char *key,
			      const char *options)
{
	size_t n = 0, bin_len = 0;
	unsigned char *buf = read_all(path, &n);
	const unsigned char *bin;
	cl_program prog = NULL;
	cl_int err, bin_status;

	if (buf && parse_cache(buf, n, key, &bin, &bin_len)) {
		prog = clCreateProgramWithBinary(d->ctx, 1, &d->device, &bin_len, &bin, &bin_status,
						 &err);
		/* a binary the driver no longer accepts is just a cache miss */
		if (prog && (bin_status != CL_SUCCESS ||
			     clBuildProgram(prog, 1, &d->device, options, NULL, NULL))) {
			clReleaseProgram(prog);
			prog = NULL;
		}
	}
	free(buf);
	return prog;
}

/*
 * Written to a temporary beside path (hal_file_create: exclusively, so a symlink planted at
 * its name is never followed; a symlink or FIFO at path is refused) and renamed into place.
 */
static void store_cached(struct ocl_dev *d, const char *dir, const char *path, const char *key)
{
	size_t bin_len = 0, klen = strlen(key);
	unsigned char *bin = NULL;
	char tmp[sizeof(d->info.cache_path) + sizeof(HAL_FILE_TMP_NAME)], err[1200];

	if (clGetProgramInfo(d->program, CL_PROGRAM_BINARY_SIZES, sizeof(bin_len), &bin_len,
			     NULL) != CL_SUCCESS || !bin_len || !make_dirs(dir))
		return;
	bin = malloc(bin_len);
	if (!bin || clGetProgramInfo(d->program, CL_PROGRAM_BINARIES, sizeof(bin), &bin,
				     NULL) != CL_SUCCESS)
		goto out;
	int fd = hal_file_create(path, tmp, sizeof(tmp), err, sizeof(err));
	if (fd < 0)
		goto out;
	uint32_t k32 = (uint32_t)klen;
	uint64_t b64 = bin_len, h = fnv1a(bin, bin_len, FNV_INIT);
	bool ok = !hal_file_write_all(fd, CACHE_MAGIC, 8) && !hal_file_write_all(fd, &k32, 4) &&
		  !hal_file_write_all(fd, key, klen) && !hal_file_write_all(fd, &b64, 8) &&
		  !hal_file_write_all(fd, &h, 8) && !hal_file_write_all(fd, bin, bin_len);

	if (!ok)
		hal_file_abandon(fd, tmp);
	else
		hal_file_commit(fd, tmp, path, err, sizeof(err)); /* a failure: no cache next time */
out:
	free(bin);
}

/* Appends the build log to err (and prints all of it: it can be long). */
static void build_log(struct ocl_dev *d, cl_program prog, char *err, size_t len)
{
	size_t n = 0, used = strlen(err);
	char *log;

	clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
	log = malloc(n + 1);
	if (!log)
		return;
	log[0] = '\0';
	clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
	log[n] = '\0';
	fprintf(stderr, "edge-npu: OpenCL build log for '%s':\n%s\n", d->info.caps.device, log);
	if (used < len)
		snprintf(err + used, len - used, "; build log:\n%s", log);
	free(log);
}

static enum hal_status build_source(struct ocl_dev *d, const char *source, const char *options,
				    char *err, size_t len)
{
	cl_int e;
	cl_program prog = clCreateProgramWithSource(d->ctx, 1, &source, NULL, &e);

	if (!prog) {
		snprintf(err, len, "clCreateProgramWithSource: %s", ocl_strerror(e));
		return HAL_ERR_DEVICE;
	}
	e = clBuildProgram(prog, 1, &d->device, options, NULL, NULL);
	if (e != CL_SUCCESS) {
		snprintf(err, len, "building the OpenCL kernels for '%s' failed (%s)",
			 d->info.caps.device, ocl_strerror(e));
		build_log(d, prog, err, len);
		clReleaseProgram(prog);
		return HAL_ERR_DEVICE;
	}
	d->program = prog;
	return HAL_OK;
}

enum hal_status ocl_program_get(struct ocl_dev *d, const char *source, const char *options,
				char *err, size_t len)
{
	char dir[400], key[1024];
	uint64_t t0 = hal_now_ns();
	enum hal_status st;

	cache_dir(dir, sizeof(dir));
	cache_key(d, source, options, key, sizeof(key));
	d->info.cache_path[0] = '\0';
	/* a name cut short would be another file: no cache then */
	if (dir[0] && (size_t)snprintf(d->info.cache_path, sizeof(d->info.cache_path),
				       "%s/%016llx.clbin", dir,
				       (unsigned long long)fnv1a(key, strlen(key), FNV_INIT)) >=
			      sizeof(d->info.cache_path))
		d->info.cache_path[0] = '\0';
	if (d->info.cache_path[0]) {
		d->program = load_cached(d, d->info.cache_path, key, options);
		if (d->program) {
			d->info.program_from_cache = true;
			d->info.program_ns = hal_now_ns() - t0;
			return HAL_OK;
		}
	}
	st = build_source(d, source, options, err, len);
	if (st)
		return st;
	if (d->info.cache_path[0])
		store_cached(d, dir, d->info.cache_path, key);
	d->info.program_ns = hal_now_ns() - t0;
	return HAL_OK;
}
