/* SPDX-License-Identifier: MIT */
/*
 * profile.c - device profiles: a line-oriented text format (sched/profiles/README.md), parsed
 * with errors that name file:line, and written back by calibration.
 */
#include "sched/profile.h"
#include "sched/profile_builtin.h"
#include "hal/files.h"
#include "hal/numbers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ENPU_PROFILE_SRC_DIR
#define ENPU_PROFILE_SRC_DIR "sched/profiles"
#endif
#ifndef ENPU_PROFILE_DATA_DIR
#define ENPU_PROFILE_DATA_DIR "/usr/local/share/edge-npu/profiles"
#endif

struct parser {
	const char *fname;
	uint32_t line;
	char *err;
	size_t err_len;
	struct sched_profile *p;
	struct sched_dev_profile *dev; /* the device being declared, NULL before the first */
};

static enum sched_status perr(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum sched_status perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int off = snprintf(ps->err, ps->err_len, "%s:%u: ", ps->fname, ps->line);

	if (off < 0 || (size_t)off >= ps->err_len)
		return SCHED_ERR_INVALID;
	va_start(ap, fmt);
	vsnprintf(ps->err + off, ps->err_len - (size_t)off, fmt, ap);
	va_end(ap);
	return SCHED_ERR_INVALID;
}

static int op_by_name(const char *s)
{
	for (int k = 0; k < HAL_OP_COUNT; k++)
		if (!strcasecmp(s, hal_op_name((enum hal_op_kind)k)))
			return k;
	return -1;
}

static int type_by_name(const char *s)
{
	for (int t = 0; t < HAL_TYPE_COUNT; t++)
		if (!strcasecmp(s, hal_type_name((enum hal_type)t)))
			return t;
	return -1;
}

/* A number that must be finite and >= lo; word names the key for the message. */
static enum sched_status num(struct parser *ps, const char *key, const char *s, double lo,
			     double *out)
{
	if (!s)
		return perr(ps, "'%s' needs a value", key);
	if (hal_parse_decimal(s, out))
		return perr(ps, "'%s': '%s' is not a decimal number", key, s);
	if (*out < lo)
		return perr(ps, "'%s': %s is below %g", key, s, lo);
	return SCHED_OK;
}

static enum sched_status need_dev(struct parser *ps, const char *key)
{
	if (!ps->dev)
		return perr(ps, "'%s' outside a device (declare 'device NAME CLASS' first)", key);
	return SCHED_OK;
}

/* One line of a profile, split: its words (w[0] the key) and the text after the key. */
struct line {
	char **w;
	int nw;
	const char *rest;
};

struct key;
typedef enum sched_status (*key_fn)(struct parser *ps, const struct key *k, const struct line *l);

/*
 * A key of the format: whether it belongs to the profile or to the device being declared,
 * the function that parses its line, and for a number the unit's factor to SI, the lowest
 * value and the field it goes to (in struct sched_profile or struct sched_dev_profile).
 */
struct key {
	const char *name;
	bool of_device;
	key_fn parse;
	double scale, lo;
	size_t off;
};

/*
 * One number into a field. A device's key takes exactly one; the profile's keys read the word
 * after the key and have always ignored any beyond it.
 */
static enum sched_status parse_number(struct parser *ps, const struct key *k, const struct line *l)
{
	enum sched_status st;
	double v;

	if (k->of_device && l->nw != 2)
		return perr(ps, "'%s' takes one number", k->name);
	if ((st = num(ps, k->name, l->nw > 1 ? l->w[1] : NULL, k->lo, &v)))
		return st;
	char *base = k->of_device ? (char *)ps->dev : (char *)ps->p;
	*(double *)(base + k->off) = v * k->scale;
	return SCHED_OK;
}

static enum sched_status parse_name(struct parser *ps, const struct key *k, const struct line *l)
{
	(void)k;
	if (l->nw != 2)
		return perr(ps, "'profile' takes one name");
	snprintf(ps->p->name, sizeof(ps->p->name), "%s", l->w[1]);
	return SCHED_OK;
}

static enum sched_status parse_description(struct parser *ps, const struct key *k,
					   const struct line *l)
{
	(void)k;
	snprintf(ps->p->description, sizeof(ps->p->description), "%s", l->rest ? l->rest : "");
	return SCHED_OK;
}

static enum sched_status parse_memory(struct parser *ps, const struct key *k, const struct line *l)
{
	struct sched_profile *p = ps->p;
	char **w = l->w;
	enum sched_status st;
	double v;

	(void)k;
	if (l->nw < 3 || (strcmp(w[1], "unified") && strcmp(w[1], "discrete")))
		return perr(ps, "'memory' takes 'unified GBS' or 'discrete GBS copy GBS'");
	p->unified = !strcmp(w[1], "unified");
	if ((st = num(ps, "memory", w[2], 1e-9, &v)))
		return st;
	p->mem_bw = v * 1e9;
	if (!p->unified) {
		if (l->nw != 5 || strcmp(w[3], "copy"))
			return perr(ps, "discrete memory needs 'copy GBS' (bytes/s of a copy "
				    "between devices)");
		if ((st = num(ps, "copy", w[4], 1e-9, &v)))
			return st;
		p->copy_bw = v * 1e9;
	} else if (l->nw != 3) {
		return perr(ps, "'memory unified' takes one bandwidth in GB/s");
	}
	return SCHED_OK;
}

/* 'device NAME CLASS': the device the keys after it describe, its type scales 1. */
static enum sched_status parse_device(struct parser *ps, const struct key *k, const struct line *l)
{
	struct sched_profile *p = ps->p;
	char **w = l->w;
	int cls = -1;

	(void)k;
	if (l->nw != 3)
		return perr(ps, "'device' takes a name and a class (cpu, gpu or npu)");
	if (p->n_dev == SCHED_MAX_DEVS)
		return perr(ps, "more than %d devices", SCHED_MAX_DEVS);
	for (int c = 0; c < HAL_CLASS_COUNT; c++)
		if (!strcmp(w[2], hal_class_name((enum hal_device_class)c)))
			cls = c;
	if (cls < 0)
		return perr(ps, "device '%s': class '%s' is not cpu, gpu or npu", w[1], w[2]);
	for (uint32_t i = 0; i < p->n_dev; i++)
		if (!strcmp(p->dev[i].name, w[1]))
			return perr(ps, "device '%s' declared twice (first at line %u)", w[1],
				    p->dev[i].line);
	struct sched_dev_profile *d = ps->dev = &p->dev[p->n_dev++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", w[1]);
	d->cls = (enum hal_device_class)cls;
	d->line = ps->line;
	for (int t = 0; t < HAL_TYPE_COUNT; t++)
		d->type_scale[t] = 1.0;
	return SCHED_OK;
}

static enum sched_status parse_ops(struct parser *ps, const struct key *k, const struct line *l)
{
	(void)k;
	for (int i = 1; i < l->nw; i++) {
		if (!strcmp(l->w[i], "all")) {
			ps->dev->op_mask = (1u << HAL_OP_COUNT) - 1;
			continue;
		}
		int op = op_by_name(l->w[i]);
		if (op < 0)
			return perr(ps, "unknown op '%s' (embed, rmsnorm, matmul, rope, "
				    "attention, swiglu, add or all)", l->w[i]);
		ps->dev->op_mask |= 1u << op;
	}
	return SCHED_OK;
}

static enum sched_status parse_types(struct parser *ps, const struct key *k, const struct line *l)
{
	(void)k;
	for (int i = 1; i < l->nw; i++) {
		int t = type_by_name(l->w[i]);
		if (t < 0 || t == HAL_TYPE_I32)
			return perr(ps, "unknown weight type '%s' (f32, f16, q8_0, q4_0, q4_k, q5_k, q6_k)", l->w[i]);
		ps->dev->type_mask |= 1u << t;
	}
	return SCHED_OK;
}

/* 'rate OP N', or 'rate * N' for every op without a rate of its own yet. */
static enum sched_status parse_rate(struct parser *ps, const struct key *k, const struct line *l)
{
	struct sched_dev_profile *d = ps->dev;
	enum sched_status st;
	double v;

	(void)k;
	if (l->nw != 3)
		return perr(ps, "'rate' takes an op (or '*') and ops per cycle");
	if ((st = num(ps, "rate", l->w[2], 1e-9, &v)))
		return st;
	if (!strcmp(l->w[1], "*")) {
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if (d->rate[op] == 0)
				d->rate[op] = v;
		return SCHED_OK;
	}
	int op = op_by_name(l->w[1]);
	if (op < 0)
		return perr(ps, "'rate': unknown op '%s'", l->w[1]);
	d->rate[op] = v;
	return SCHED_OK;
}

static enum sched_status parse_type_scale(struct parser *ps, const struct key *k,
					  const struct line *l)
{
	enum sched_status st;
	int t = l->nw == 3 ? type_by_name(l->w[1]) : -1;
	double v;

	if (t < 0)
		return perr(ps, "'type_scale' takes a weight type and a factor");
	if ((st = num(ps, k->name, l->w[2], 1e-9, &v)))
		return st;
	ps->dev->type_scale[t] = v;
	return SCHED_OK;
}

static enum sched_status parse_opp(struct parser *ps, const struct key *k, const struct line *l)
{
	struct sched_dev_profile *d = ps->dev;
	enum sched_status st;
	double v, v2;

	(void)k;
	if (l->nw != 3)
		return perr(ps, "'opp' takes a frequency in MHz and a voltage in mV");
	if ((st = num(ps, "opp", l->w[1], 1e-6, &v)) || (st = num(ps, "opp", l->w[2], 1, &v2)))
		return st;
	if (d->n_opp == SCHED_MAX_OPPS)
		return perr(ps, "more than %d operating points", SCHED_MAX_OPPS);
	if (d->n_opp && d->opp[d->n_opp - 1].freq_hz >= v * 1e6)
		return perr(ps, "operating points must be listed lowest frequency first");
	d->opp[d->n_opp++] = (struct sched_opp){ v * 1e6, v2 * 1e-3 };
	return SCHED_OK;
}

static enum sched_status parse_shares_cores(struct parser *ps, const struct key *k,
					    const struct line *l)
{
	struct sched_profile *p = ps->p;

	(void)k;
	if (l->nw != 2)
		return perr(ps, "'shares_cores' takes the name of a device declared before");
	for (uint32_t i = 0; i + 1 < p->n_dev; i++)
		if (!strcmp(p->dev[i].name, l->w[1])) {
			ps->dev->shares_cores = i + 1;
			return SCHED_OK;
		}
	return perr(ps, "shares_cores: no device '%s' declared before '%s'", l->w[1],
		    ps->dev->name);
}

#define PROFILE_KEY(k, fn) { k, false, fn, 0, 0, 0 }
#define PROFILE_NUM(k, s, l, f) \
	{ k, false, parse_number, s, l, offsetof(struct sched_profile, f) }
#define DEVICE_KEY(k, fn) { k, true, fn, 0, 0, 0 }
#define DEVICE_NUM(k, s, l, f) \
	{ k, true, parse_number, s, l, offsetof(struct sched_dev_profile, f) }
/* The device numbers are written back in this order (sched_profile_write). */
static const struct key keys[] = {
	PROFILE_KEY("profile", parse_name),
	PROFILE_KEY("description", parse_description),
	PROFILE_KEY("memory", parse_memory),
	PROFILE_NUM("dram_pj_per_byte", 1e-12, 0, dram_j_per_byte),
	PROFILE_NUM("budget_mw", 1e-3, 0, budget_w),
	PROFILE_NUM("thermal_r_kw", 1, 0, thermal_r_kw),
	PROFILE_NUM("thermal_c_jk", 1, 0, thermal_c_jk),
	PROFILE_NUM("ambient_c", 1, -273.15, ambient_c),
	PROFILE_NUM("passive_c", 1, -273.15, passive_c),
	PROFILE_KEY("device", parse_device),
	DEVICE_KEY("ops", parse_ops),
	DEVICE_KEY("types", parse_types),
	DEVICE_KEY("rate", parse_rate),
	DEVICE_KEY("type_scale", parse_type_scale),
	DEVICE_KEY("opp", parse_opp),
	DEVICE_KEY("shares_cores", parse_shares_cores),
	DEVICE_NUM("bandwidth_gbs", 1e9, 1e-9, bw),
	DEVICE_NUM("cap_nf", 1e-9, 0, cap_f),
	DEVICE_NUM("stall_activity", 1, 0, stall_activity),
	DEVICE_NUM("leak_mw", 1e-3, 0, leak_w),
	DEVICE_NUM("idle_mw", 1e-3, 0, idle_w),
	DEVICE_NUM("suspend_mw", 1e-3, 0, suspend_w),
	DEVICE_NUM("wake_us", 1e-6, 0, wake_s),
	DEVICE_NUM("autosuspend_us", 1e-6, 0, autosuspend_s),
	DEVICE_NUM("launch_us", 1e-6, 0, launch_s),
	DEVICE_NUM("sync_us", 1e-6, 0, sync_s),
	DEVICE_NUM("requant_gbs", 1e9, 0, requant_bps),
};

/*
 * Parses one line by its key. Before the first 'device' line, a device's key and an unknown
 * key alike get the message that names the missing 'device' line, as they always have.
 */
static enum sched_status parse_line(struct parser *ps, const struct line *l)
{
	const struct key *k = NULL;
	enum sched_status st;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !k; i++)
		if (!strcmp(l->w[0], keys[i].name))
			k = &keys[i];
	if ((!k || k->of_device) && (st = need_dev(ps, l->w[0])))
		return st;
	if (!k)
		return perr(ps, "unknown key '%s'", l->w[0]);
	return k->parse(ps, k, l);
}

static enum sched_status check_profile(struct parser *ps)
{
	struct sched_profile *p = ps->p;
	bool fallback = false;

	if (!p->name[0])
		return perr(ps, "no 'profile NAME' line");
	if (p->n_dev == 0)
		return perr(ps, "no device declared");
	if (p->mem_bw <= 0)
		return perr(ps, "no 'memory' line (unified GBS, or discrete GBS copy GBS)");
	for (uint32_t i = 0; i < p->n_dev; i++) {
		struct sched_dev_profile *d = &p->dev[i];

		ps->line = d->line;
		if (d->n_opp == 0)
			return perr(ps, "device '%s' has no 'opp' line", d->name);
		if (!d->op_mask)
			return perr(ps, "device '%s' has no 'ops' line", d->name);
		if (d->bw <= 0)
			return perr(ps, "device '%s' has no 'bandwidth_gbs'", d->name);
		if ((d->op_mask & (1u << HAL_OP_MATMUL)) && !d->type_mask)
			return perr(ps, "device '%s' runs matmul but has no 'types' line", d->name);
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if ((d->op_mask & (1u << op)) && d->rate[op] <= 0)
				return perr(ps, "device '%s' runs %s but has no 'rate %s' (or 'rate *')",
					    d->name, hal_op_name((enum hal_op_kind)op),
					    hal_op_name((enum hal_op_kind)op));
		if (d->stall_activity > 1)
			return perr(ps, "device '%s': stall_activity is a fraction (0..1)", d->name);
		if (d->cls == HAL_CLASS_CPU && d->op_mask == (1u << HAL_OP_COUNT) - 1 &&
		    (d->type_mask & (1u << HAL_TYPE_F32)) && (d->type_mask & (1u << HAL_TYPE_F16)) &&
		    (d->type_mask & (1u << HAL_TYPE_Q8_0)) && (d->type_mask & (1u << HAL_TYPE_Q4_0)))
			fallback = true;
	}
	if (!fallback)
		return perr(ps, "no cpu device runs every op and weight type (the fallback)");
	if (p->thermal_r_kw > 0 && !(p->thermal_c_jk > 0 && p->passive_c > p->ambient_c))
		return perr(ps, "a thermal path (thermal_r_kw) needs thermal_c_jk > 0 and a "
			    "passive_c above ambient_c");
	return SCHED_OK;
}

enum sched_status sched_profile_parse(const char *text, const char *fname,
				      struct sched_profile *out, char *err, size_t err_len)
{
	struct parser ps = { fname ? fname : "<profile>", 0, err, err_len, out, NULL };
	const char *s = text;
	enum sched_status st = SCHED_OK;

	memset(out, 0, sizeof(*out));
	out->unified = true;
	while (*s) {
		char line[512], *w[24];
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		int nw = 0;

		ps.line++;
		if (len >= sizeof(line))
			return perr(&ps, "line longer than %zu characters", sizeof(line) - 1);
		memcpy(line, s, len);
		line[len] = 0;
		s += len + (nl ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		/* the rest of the line after the key, for free text (description) */
		char *rest = line;
		while (isspace((unsigned char)*rest))
			rest++;
		while (*rest && !isspace((unsigned char)*rest))
			rest++;
		while (isspace((unsigned char)*rest))
			rest++;
		char rest_copy[512];
		snprintf(rest_copy, sizeof(rest_copy), "%s", rest);
		for (size_t n = strlen(rest_copy); n && isspace((unsigned char)rest_copy[n - 1]);)
			rest_copy[--n] = 0;
		/* strtok_r: sessions parse profiles from several threads at once */
		char *save = NULL;
		for (char *tok = strtok_r(line, " \t\r", &save); tok;
		     tok = strtok_r(NULL, " \t\r", &save)) {
			if (nw == 24)
				return perr(&ps, "too many words");
			w[nw++] = tok;
		}
		if (nw == 0)
			continue;
		if ((st = parse_line(&ps, &(struct line){ w, nw, rest_copy })))
			return st;
	}
	return check_profile(&ps);
}

enum sched_status sched_profile_load(const char *path, struct sched_profile *out, char *err,
				     size_t err_len)
{
	char why[600];
	size_t size = 0, done = 0;
	/* a FIFO, device or directory is refused at once, never opened for a blocking read */
	int fd = hal_file_open_regular(path, &size, why, sizeof(why));
	char *buf = NULL;

	if (fd < 0) {
		snprintf(err, err_len, "cannot open profile %s", why);
		return SCHED_ERR_INVALID;
	}
	if (size > (1 << 20) || !(buf = malloc(size + 1))) {
		snprintf(err, err_len, "cannot read profile %s%s", path,
			 size > (1 << 20) ? " (larger than 1 MiB)" : ": out of memory");
		close(fd);
		return SCHED_ERR_INVALID;
	}
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "cannot read profile %s: %s", path,
				 n < 0 ? strerror(errno) : "it was truncated while read");
			free(buf);
			close(fd);
			return SCHED_ERR_INVALID;
		}
		done += (size_t)n;
	}
	close(fd);
	buf[size] = 0;
	const char *base = strrchr(path, '/');
	enum sched_status st = sched_profile_parse(buf, base ? base + 1 : path, out, err, err_len);
	free(buf);
	if (!st)
		snprintf(out->path, sizeof(out->path), "%s", path);
	return st;
}

/* A profile compiled in (profile_builtin.h) by name: loaded (SCHED_OK or the error); else 1. */
static int builtin_profile(const char *name, struct sched_profile *out, char *err,
			   size_t err_len)
{
	char file[80];

	for (const struct sched_builtin_profile *b = sched_builtin_profiles; b->name; b++) {
		if (strcmp(b->name, name))
			continue;
		char *text = strdup(b->text); /* the parser cuts its buffer into words */
		if (!text) {
			snprintf(err, err_len, "out of memory");
			return SCHED_ERR_INVALID;
		}
		snprintf(file, sizeof(file), "%s.prof", name);
		enum sched_status st = sched_profile_parse(text, file, out, err, err_len);
		free(text);
		if (!st)
			snprintf(out->path, sizeof(out->path), "(built in) %s", file);
		return st;
	}
	return 1;
}

/* <dir>/<name>.prof when it exists: loaded (SCHED_OK or the error); else 1. */
static int profile_in_dir(const char *dir, const char *name, struct sched_profile *out,
			  char *err, size_t err_len)
{
	char path[512];

	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s.prof", dir, name);
	/* there, whatever it is: a FIFO is refused by the load, not opened here */
	if (stat(path, &sb))
		return 1;
	return sched_profile_load(path, out, err, err_len);
}

enum sched_status sched_profile_find(const char *name, struct sched_profile *out, char *err,
				     size_t err_len)
{
	const char *env = getenv("ENPU_PROFILE_DIR");
	size_t n = strlen(name);
	int rc;

	if (strchr(name, '/') || (n > 5 && !strcmp(name + n - 5, ".prof")))
		return sched_profile_load(name, out, err, err_len);
	/* one there that fails is said (SCHED_ERR_INVALID is -1: it was taken for "none") */
	if (env && *env && (rc = profile_in_dir(env, name, out, err, err_len)) != 1)
		return (enum sched_status)rc;
	/* a built-in one that fails says why (the parser's rules changed under it) */
	if ((rc = builtin_profile(name, out, err, err_len)) != 1)
		return (enum sched_status)rc;
	if ((rc = profile_in_dir(ENPU_PROFILE_DATA_DIR, name, out, err, err_len)) != 1)
		return (enum sched_status)rc;
	snprintf(err, err_len, "no profile '%s' (looked for %s.prof in $ENPU_PROFILE_DIR, among "
		 "the built-in ones (phone, mw, host) and in %s)", name, name,
		 ENPU_PROFILE_DATA_DIR);
	return SCHED_ERR_INVALID;
}

int sched_profile_write(const struct sched_profile *p, const char *path, char *err,
			size_t err_len)
{
	return sched_profile_write_notes(p, path, NULL, err, err_len);
}

/* The profile as text into f. */
static void print_profile(FILE *f, const struct sched_profile *p, const char *notes)
{
	fprintf(f, "# written by npu-bench calibrate; format: sched/profiles/README.md\n");
	/* each line of notes becomes a comment: the parser must see nothing but keys */
	for (const char *s = notes; s && *s;) {
		size_t n = strcspn(s, "\n");

		fprintf(f, "# %.*s\n", (int)n, s);
		s += n + (s[n] == '\n');
	}
	fprintf(f, "profile %s\ndescription %s\n", p->name, p->description);
	if (p->unified)
		fprintf(f, "memory unified %.3f\n", p->mem_bw / 1e9);
	else
		fprintf(f, "memory discrete %.3f copy %.3f\n", p->mem_bw / 1e9, p->copy_bw / 1e9);
	fprintf(f, "dram_pj_per_byte %.3f\nbudget_mw %.1f\n", p->dram_j_per_byte * 1e12,
		p->budget_w * 1e3);
	if (p->thermal_r_kw > 0)
		fprintf(f, "thermal_r_kw %.6g\nthermal_c_jk %.6g\nambient_c %.6g\npassive_c %.6g\n",
			p->thermal_r_kw, p->thermal_c_jk, p->ambient_c, p->passive_c);
	for (uint32_t i = 0; i < p->n_dev; i++) {
		const struct sched_dev_profile *d = &p->dev[i];

		fprintf(f, "\ndevice %s %s\nops", d->name, hal_class_name(d->cls));
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if (d->op_mask & (1u << op))
				fprintf(f, " %s", hal_op_name((enum hal_op_kind)op));
		fprintf(f, "\ntypes");
		for (int t = 0; t < HAL_TYPE_COUNT; t++)
			if (d->type_mask & (1u << t))
				fprintf(f, " %s", hal_type_name((enum hal_type)t));
		fputc('\n', f);
		for (int op = 0; op < HAL_OP_COUNT; op++)
			if (d->op_mask & (1u << op))
				fprintf(f, "rate %s %.6g\n", hal_op_name((enum hal_op_kind)op),
					d->rate[op]);
		for (int t = 0; t < HAL_TYPE_COUNT; t++)
			if (d->type_scale[t] != 1.0)
				fprintf(f, "type_scale %s %.6g\n", hal_type_name((enum hal_type)t),
					d->type_scale[t]);
		for (uint32_t k = 0; k < d->n_opp; k++)
			fprintf(f, "opp %.3f %.1f\n", d->opp[k].freq_hz / 1e6, d->opp[k].volt * 1e3);
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (keys[k].of_device && keys[k].parse == parse_number)
				fprintf(f, "%s %.6g\n", keys[k].name,
					*(const double *)((const char *)d + keys[k].off) /
						keys[k].scale);
		if (d->shares_cores)
			fprintf(f, "shares_cores %s\n", p->dev[d->shares_cores - 1].name);
	}
}

int sched_profile_write_notes(const struct sched_profile *p, const char *path,
			      const char *notes, char *err, size_t err_len)
{
	char *tmp = malloc(HAL_FILE_TMP_LEN(path));
	int fd = tmp ? hal_file_create(path, tmp, HAL_FILE_TMP_LEN(path), err, err_len) : -1;
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (!f) {
		if (fd >= 0)
			hal_file_abandon(fd, tmp);
		else if (!tmp)
			snprintf(err, err_len, "%s: out of memory", path);
		free(tmp);
		return -1;
	}
	print_profile(f, p, notes);
	int e = fflush(f) || fsync(fd) ? errno : 0;
	if (fclose(f) && !e)
		e = errno;
	int rc = e ? -1 : hal_file_publish(tmp, path, err, err_len);
	if (e) {
		hal_file_discard(tmp);
		snprintf(err, err_len, "%s: write failed: %s", path, strerror(e));
	}
	free(tmp);
	return rc;
}
