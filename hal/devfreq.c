/* SPDX-License-Identifier: MIT */
/*
 * devfreq.c - reading a device's devfreq attributes (the kernel's /sys/class/devfreq/<dev>/
 * or the in-process NPU's files of the same names and formats), for the power manager.
 */
#include "hal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads dir/name into buf without the trailing newline; -1 with err set when it cannot. */
static int read_attr(const char *dir, const char *name, char *buf, size_t len, char *err,
		     size_t err_len)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static int read_hz(const char *dir, const char *name, uint64_t *out, char *err, size_t err_len)
{
	char buf[64], *end;

	if (read_attr(dir, name, buf, sizeof(buf), err, err_len))
		return -1;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno || end == buf || *end) {
		snprintf(err, err_len, "%s/%s: '%.32s' is not a frequency in Hz", dir, name, buf);
		return -1;
	}
	return 0;
}

enum hal_status hal_devfreq_read(const char *dir, struct hal_devfreq *out, char *err,
				 size_t err_len)
{
	char buf[512], *p, *end;

	memset(out, 0, sizeof(*out));
	if (read_attr(dir, "available_frequencies", buf, sizeof(buf), err, err_len))
		return HAL_ERR_DEVICE;
	for (p = buf; *p;) {
		uint64_t hz;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		errno = 0;
		hz = strtoull(p, &end, 10);
		if (errno || end == p || (*end && *end != ' ')) {
			snprintf(err, err_len,
				 "%s/available_frequencies: '%.64s' is not a list of frequencies in "
				 "Hz", dir, buf);
			return HAL_ERR_DEVICE;
		}
		if (out->n_opp == HAL_MAX_OPPS) {
			snprintf(err, err_len, "%s/available_frequencies: more than %d frequencies",
				 dir, HAL_MAX_OPPS);
			return HAL_ERR_DEVICE;
		}
		out->freq_hz[out->n_opp++] = hz;
		p = end;
	}
	if (!out->n_opp) {
		snprintf(err, err_len, "%s/available_frequencies: empty", dir);
		return HAL_ERR_DEVICE;
	}
	/* devfreq lists a table in the driver's order, ascending or descending: sort it */
	for (uint32_t i = 1; i < out->n_opp; i++)
		for (uint32_t j = i; j > 0 && out->freq_hz[j - 1] > out->freq_hz[j]; j--) {
			uint64_t t = out->freq_hz[j];
			out->freq_hz[j] = out->freq_hz[j - 1];
			out->freq_hz[j - 1] = t;
		}
	if (read_hz(dir, "min_freq", &out->min_hz, err, err_len) ||
	    read_hz(dir, "max_freq", &out->max_hz, err, err_len) ||
	    read_hz(dir, "cur_freq", &out->cur_hz, err, err_len) ||
	    read_attr(dir, "governor", out->governor, sizeof(out->governor), err, err_len))
		return HAL_ERR_DEVICE;
	return HAL_OK;
}
