/* SPDX-License-Identifier: MIT */
/*
 * source_kernel.c - the kernel driver's devices: the attributes of every platform device
 * edge-npu.N bound to edge_npu.ko, its devfreq directory, and the driver's own statistics
 * over generic netlink when the family is there.
 */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "hal/npu_drm/npu_drm_genl.h"
#include "sample.h"

/* The driver's attributes of the bound device name: dir/name/npu/ and its devfreq. */
static void read_kernel_dev(struct dev *d, const char *dir, const char *name)
{
	char path[700], buf[256];
	uint64_t v;

	strf(d->kind, sizeof(d->kind), "npu");
	strf(d->source, sizeof(d->source), "kernel");
	strf(d->driver, sizeof(d->driver), "edge_npu");
#define NPU_ATTR(attr) (strf(path, sizeof(path), "%s/%s/npu/" attr, dir, name), path)
	d->has_jobs = read_u64(NPU_ATTR("jobs_completed"), &d->jobs);
	read_u64(NPU_ATTR("jobs_failed"), &d->jobs_failed);
	read_u64(NPU_ATTR("engine_resets"), &d->resets);
	d->has_cycles = read_u64(NPU_ATTR("busy_cycles"), &d->cycles);
	if (read_u64(NPU_ATTR("energy_uj"), &v)) {
		d->has_energy = true;
		d->energy_pj = v * 1000000ull;
	}
	if (read_u64(NPU_ATTR("engines"), &v))
		d->engines = (int)v;
	if (!read_text(NPU_ATTR("power_state"), buf, sizeof(buf)))
		strf(d->power, sizeof(d->power), "%s", buf);
#undef NPU_ATTR
#define DF(attr) (strf(path, sizeof(path), "%s/class/devfreq/%s/" attr, opt.sysfs, name), path)
	d->has_cur_hz = read_u64(DF("cur_freq"), &d->cur_hz);
	d->has_min_hz = read_u64(DF("min_freq"), &d->min_hz);
	d->has_max_hz = read_u64(DF("max_freq"), &d->max_hz);
	if (!read_text(DF("governor"), buf, sizeof(buf)))
		strf(d->governor, sizeof(d->governor), "%s", buf);
#undef DF
}

void scan_kernel(struct sample *s)
{
	char dir[512], path[700];
	DIR *dd;
	struct dirent *de;

	strf(dir, sizeof(dir), "%s/bus/platform/devices", opt.sysfs);
	dd = opendir(dir);
	if (!dd)
		return;
	while ((de = readdir(dd))) {
		struct dev *d;

		if (strncmp(de->d_name, "edge-npu.", 9))
			continue;
		strf(path, sizeof(path), "%s/%s/npu/jobs_completed", dir, de->d_name);
		if (access(path, R_OK))
			continue; /* not bound to the driver */
		d = add_dev(s, de->d_name);
		if (!d)
			break;
		read_kernel_dev(d, dir, de->d_name);
	}
	closedir(dd);
}

/* What GET_STATS says of one device. */
static void read_genl_dev(struct dev *d, const struct npu_genl_stats *st)
{
	if (st->have & (1ull << EDGE_NPU_A_BUSY_NS)) {
		d->has_busy = true;
		d->busy_from_genl = true;
		d->busy_ns = st->busy_ns;
	}
	d->queue = st->queue[0] + st->queue[1] + st->queue[2];
	if (st->have & (1ull << EDGE_NPU_A_MEM_USED))
		d->mem_bytes = st->mem_used;
	if (st->engines)
		d->engines = (int)st->engines;
	if (st->have & (1ull << EDGE_NPU_A_TEMP_MC) && st->temp_mc > 0)
		d->temp_mc = (uint32_t)st->temp_mc;
	if (st->have & (1ull << EDGE_NPU_A_THERMAL_STATE)) {
		d->has_thermal = true;
		d->thermal_state = st->thermal_state;
		d->cooling_state = st->cooling_state;
	}
}

void scan_genl(struct sample *s)
{
	struct npu_genl_stats st[MAX_DEVS];
	struct npu_genl *g;
	char err[256], id[40];
	int n;

	if (!s->n_devs || npu_genl_open(&g, err, sizeof(err)))
		return; /* no kernel device, or a kernel without the family: sysfs is enough */
	n = npu_genl_get_stats(g, st, MAX_DEVS, err, sizeof(err));
	npu_genl_close(g);
	for (int i = 0; i < n; i++) {
		struct dev *d;

		strf(id, sizeof(id), "edge-npu.%u", st[i].device);
		d = find_dev(s, id);
		if (d)
			read_genl_dev(d, &st[i]);
	}
}
