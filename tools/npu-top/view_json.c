/* SPDX-License-Identifier: MIT */
/*
 * view_json.c - the JSON view (-J, -l): one object per snapshot on one line, for scripts and
 * tests. Absent figures are null, never 0, so that "no data" and "idle" differ: so are a
 * device's clock, governor and power state where it has none, and its pid where no process
 * owns it (the kernel's devices, the CPU and GPU backends).
 */
#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "view.h"
#include "hal/json.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	hal_json_escape(f, s, true);
	fputc('"', f);
}

static void json_u64(FILE *f, bool have, uint64_t v)
{
	if (have)
		fprintf(f, "%" PRIu64, v);
	else
		fputs("null", f);
}

static void json_num(FILE *f, bool have, double v)
{
	if (have && isfinite(v))
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

/* ,"key": then the number, or null where the figure is absent */
static void json_key_u64(FILE *f, const char *key, bool have, uint64_t v)
{
	fprintf(f, ",\"%s\":", key);
	json_u64(f, have, v);
}

static void json_key_num(FILE *f, const char *key, bool have, double v)
{
	fprintf(f, ",\"%s\":", key);
	json_num(f, have, v);
}

/* ,"key": then the string s */
static void json_key_str(FILE *f, const char *key, const char *s)
{
	fprintf(f, ",\"%s\":", key);
	json_str(f, s);
}

/* ,"key": then the string s, or null where there is none (NULL or "") */
static void json_key_str_opt(FILE *f, const char *key, const char *s)
{
	if (s && s[0])
		json_key_str(f, key, s);
	else
		fprintf(f, ",\"%s\":null", key);
}

static void json_dev(FILE *f, const struct dev_view *v)
{
	const struct dev *d = v->d;

	fputs("{\"id\":", f);
	json_str(f, d->id);
	json_key_str(f, "kind", d->kind);
	json_key_str(f, "source", d->source);
	json_key_str(f, "driver", d->driver);
	json_key_str_opt(f, "node", d->node);
	json_key_u64(f, "pid", d->pid > 0, (uint64_t)d->pid);
	fprintf(f, ",\"engines\":%d,\"busy_pct\":", d->engines);
	json_num(f, v->has_busy, v->busy_pct);
	json_key_u64(f, "cur_freq_hz", d->has_cur_hz, d->cur_hz);
	json_key_u64(f, "min_freq_hz", d->has_min_hz, d->min_hz);
	json_key_u64(f, "max_freq_hz", d->has_max_hz, d->max_hz);
	json_key_str_opt(f, "governor", d->governor);
	json_key_str_opt(f, "power_state", v->power);
	json_key_num(f, "power_mw", v->has_power, v->power_mw);
	json_key_num(f, "energy_uj", d->has_energy, (double)d->energy_pj / 1e6);
	json_key_num(f, "temperature_c", d->temp_mc > 0, d->temp_mc / 1e3);
	if (d->has_thermal) {
		json_key_str(f, "thermal_state", thermal_name(d->thermal_state));
		fprintf(f, ",\"cooling_state\":%u", d->cooling_state);
	} else {
		fputs(",\"thermal_state\":null,\"cooling_state\":null", f);
	}
	json_key_u64(f, "jobs", d->has_jobs, d->jobs);
	json_key_u64(f, "jobs_failed", d->has_jobs, d->jobs_failed);
	json_key_u64(f, "resets", d->has_jobs, d->resets);
	json_key_num(f, "jobs_per_s", v->has_jobs_rate, v->jobs_per_s);
	json_key_u64(f, "cycles", d->has_cycles, d->cycles);
	fprintf(f, ",\"busy_ns\":%" PRIu64 ",\"memory_bytes\":%" PRIu64
		",\"queue_depth\":%u,\"queue_avg\":", d->busy_ns, d->mem_bytes, d->queue);
	json_num(f, v->has_queue_avg, v->queue_avg);
	fputc('}', f);
}

static void json_client(FILE *f, const struct client_view *v)
{
	const struct client *c = v->c;

	fprintf(f, "{\"pid\":%ld,\"name\":", c->pid);
	json_str(f, c->comm);
	json_key_str(f, "device", c->dev);
	json_key_str(f, "source", c->source);
	json_key_num(f, "engine_pct", true, v->busy_pct);
	fprintf(f, ",\"busy_ns\":%" PRIu64 ",\"memory_bytes\":%" PRIu64 ",\"jobs\":",
		c->busy_ns, c->mem_bytes);
	json_u64(f, c->has_jobs, c->jobs);
	json_key_num(f, "jobs_per_s", v->has_jobs_rate, v->jobs_per_s);
	fputc('}', f);
}

static void print_json(FILE *f, const struct sample *prev, const struct sample *cur,
		       const char *warning)
{
	static struct dev_view dv[MAX_DEVS];
	static struct client_view cv[MAX_CLIENTS];
	int nd = make_dev_views(prev, cur, dv), nc = make_client_views(prev, cur, cv);
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	fprintf(f, "{\"version\":2,\"time\":%.3f,\"interval_s\":%.3f,\"devices\":[",
		(double)rt.tv_sec + rt.tv_nsec / 1e9, (double)(cur->t_ns - prev->t_ns) / 1e9);
	for (int i = 0; i < nd; i++) {
		fputs(i ? "," : "", f);
		json_dev(f, &dv[i]);
	}
	fputs("],\"processes\":[", f);
	for (int i = 0; i < nc; i++) {
		fputs(i ? "," : "", f);
		json_client(f, &cv[i]);
	}
	fputs("],\"warnings\":[", f);
	if (warning)
		json_str(f, warning);
	fputs("]}\n", f);
	fflush(f);
}

int run_json(bool once, long count)
{
	static struct sample a, b;
	struct sample *prev = &a, *cur = &b, *t;
	char why[256];

	take_sample(prev);
	for (long i = 0; !stop && (count < 0 || i < count); i++) {
		struct timespec ts = { (time_t)opt.interval,
				       (long)((opt.interval - (time_t)opt.interval) * 1e9) };

		nanosleep(&ts, NULL);
		take_sample(cur);
		print_json(stdout, prev, cur, why_empty(cur, why, sizeof(why)));
		if (ferror(stdout))
			return 1;
		if (once)
			break;
		t = prev;
		prev = cur;
		cur = t;
	}
	return 0;
}
