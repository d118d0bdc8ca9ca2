/* SPDX-License-Identifier: MIT */
/*
 * schedule_report.c - what enpu_session_schedule_report() tells of "auto" placement: the
 * placement table (op classes on the profile's devices and on this host's), the modeled
 * figures of the plan, the clocks asked of the devices with DVFS; and the decode steps
 * measured. The placing itself is the scheduler's (sched/placement.h).
 */
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Appends to buf at *off, never past len (snprintf's return may run past: then it is full). */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	*off += (size_t)vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
}

/* One line per op class: ops on each profile device at its clock | where they ran here. */
static void format_table(const enpu_session *s, const struct sched_placement *pl, char *buf,
			 size_t len)
{
	const struct sched_profile *p = &s->placer->profile;
	const enpu_context *ctx = s->model->ctx;
	size_t off = 0;

	for (int op = 0; op < HAL_OP_COUNT && off < len; op++) {
		uint32_t total = 0;
		for (uint32_t k = 0; k < p->n_dev; k++)
			total += pl->prof_ops[op][k];
		if (!total)
			continue;
		put(buf, len, &off, "%-10s %4u |", hal_op_name((enum hal_op_kind)op), total);
		for (uint32_t k = 0; k < p->n_dev; k++)
			if (pl->prof_ops[op][k])
				put(buf, len, &off, " %s %u (%.0f MHz)", p->dev[k].name,
				    pl->prof_ops[op][k], p->dev[k].opp[pl->plan_opp[k]].freq_hz / 1e6);
		put(buf, len, &off, " | host:");
		for (uint32_t k = 0; k < ctx->n_devices; k++)
			if (pl->host_ops[op][k])
				put(buf, len, &off, " %s %u", ctx->devices[k]->name, pl->host_ops[op][k]);
		put(buf, len, &off, "\n");
	}
}

/* One line per device with devfreq attributes: what was read and the clock asked for. */
static void format_clocks(const enpu_session *s, const struct sched_placement *pl, char *buf,
			  size_t len)
{
	const enpu_context *ctx = s->model->ctx;
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t i = 0; i < ctx->n_devices; i++) {
		struct hal_device *dev = ctx->devices[i];
		const struct hal_devfreq *df = &pl->devfreq[i];

		if (!df->n_opp)
			continue;
		put(buf, len, &off, "%s: devfreq %s, governor %s, admin bounds %.0f..%.0f MHz, ",
		    dev->name, dev->vt->devfreq_dir(dev), df->governor, (double)df->min_hz / 1e6,
		    (double)df->max_hz / 1e6);
		if (pl->hint_hz[i])
			put(buf, len, &off, "asked for %.0f MHz%s\n", (double)pl->hint_hz[i] / 1e6,
			    strcmp(df->governor, "simple_ondemand")
				    ? " (ignored: the governor is the admin's)"
				    : "");
		else
			put(buf, len, &off, "%s\n",
			    dev->vt->freq_hint ? "no clock asked (no ops planned)"
					       : "no clock asked (the driver takes no request)");
	}
}

void drv_report_placement(enpu_session *s, const struct graph_slot *slot)
{
	const struct sched_placement *pl = &slot->placed;
	struct enpu_schedule_report *rep = &s->report;

	s->place_total_ms += pl->place_ms;
	/* the decode graph's placement is the one to tell; a prefill's until there is one */
	if (slot->g->n_tokens != 1 && s->have_report && rep->n_tokens == 1)
		return;
	memset(rep, 0, sizeof(*rep));
	rep->struct_size = sizeof(*rep);
	snprintf(rep->profile, sizeof(rep->profile), "%s", s->placer->profile.name);
	rep->n_tokens = slot->g->n_tokens;
	rep->modeled_ms = pl->sim.makespan_s * 1e3;
	rep->modeled_mj = pl->sim.energy_j * 1e3;
	rep->peak_w = pl->sim.peak_w;
	rep->avg_w = pl->sim.avg_w;
	rep->crossings = pl->sim.crossings;
	rep->bytes_copied = pl->sim.bytes_copied;
	rep->place_ms = pl->place_ms;
	format_table(s, pl, rep->table, sizeof(rep->table));
	format_clocks(s, pl, rep->clocks, sizeof(rep->clocks));
	s->have_report = true;
}

enpu_status enpu_session_schedule_report(const enpu_session *s, struct enpu_schedule_report *out)
{
	if (!s)
		return ENPU_ERR_INVALID_ARG;
	/* a caller built against the first version of the struct gets the fields it has */
	if (!out || out->struct_size < offsetof(struct enpu_schedule_report, decode_steps))
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_schedule_report: out is NULL or too small");
	if (!s->have_report && !s->steps)
		return drv_ctx_fail(s->model->ctx, ENPU_ERR_INVALID_ARG,
				    "enpu_session_schedule_report: nothing has been %s yet",
				    s->placer ? "evaluated" : "decoded");
	struct enpu_schedule_report r = s->report; /* zero under the fixed rule */
	size_t size = out->struct_size < sizeof(r) ? out->struct_size : sizeof(r);

	r.struct_size = size;
	r.decode_steps = s->steps;
	r.step_ms = s->steps ? (double)s->step_wall_ns / (double)s->steps / 1e6 : 0;
	r.overhead_pct = s->step_wall_ns ? 100.0 * (double)s->step_idle_ns /
						   (double)s->step_wall_ns : 0;
	r.replacements = s->replacements;
	r.place_total_ms = s->place_total_ms;
	memcpy(out, &r, size);
	return ENPU_OK;
}
