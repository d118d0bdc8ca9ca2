/* SPDX-License-Identifier: MIT */
/*
 * devfreq.c - reading a device's devfreq attributes (the kernel's /sys/class/devfreq/<dev>/
 * or the in-process NPU's files of the same names and formats), for the power manager, and
 * the rule a write to them must pass (hal_devfreq_check), one copy for the device and the
 * admin's tool.
 */
#include "hal.h"
#include "files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads dir/name into buf without the trailing newline; -1 with err set when it cannot. */
static int read_attr(const char *dir, const char *name, char *buf, size_t len, char *err,
		     size_t err_len)
{
	char path[512];
	size_t size, n = 0;
	ssize_t r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* a FIFO there is refused at once; sysfs attributes are regular files */
	int fd = hal_file_open_regular(path, &size, err, err_len);
	if (fd < 0)
		return -1;
	while (n < len - 1 && ((r = read(fd, buf + n, len - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
		n += r > 0 ? (size_t)r : 0;
	close(fd);
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

/* The value without the white space around it, into buf; false when it does not fit. */
static bool trimmed(const char *value, char *buf, size_t len)
{
	size_t n;

	while (*value && strchr(" \t\r\n", *value))
		value++;
	n = strlen(value);
	while (n && strchr(" \t\r\n", value[n - 1]))
		n--;
	if (n >= len)
		return false;
	memcpy(buf, value, n);
	buf[n] = 0;
	return true;
}

/* Whether word is one of the space-separated words of list. */
static bool in_list(const char *word, const char *list)
{
	size_t n = strlen(word);

	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " \t\n");

		if (k == n && !strncmp(p, word, n))
			return true;
		p += k;
		p += strspn(p, " \t\n");
	}
	return false;
}

/* The lowest and highest of a list of frequencies; false when it holds none. */
static bool freq_range(const char *freqs, uint64_t *lo, uint64_t *hi)
{
	bool any = false;
	char *end;

	for (const char *p = freqs; *p; p = end) {
		p += strspn(p, " \t\n");
		if (!*p)
			break;
		errno = 0;
		uint64_t v = strtoull(p, &end, 10);
		if (errno || end == p)
			return false;
		*lo = any && *lo < v ? *lo : v;
		*hi = any && *hi > v ? *hi : v;
		any = true;
	}
	return any;
}

enum hal_status hal_devfreq_check(const char *knob, const char *value, const char *govs,
				  const char *freqs, char *err, size_t err_len)
{
	const bool bound = !strcmp(knob, "min_freq") || !strcmp(knob, "max_freq");
	const bool request = !strcmp(knob, "userspace/set_freq") || !strcmp(knob, "set_freq");
	char v[64], *end;
	uint64_t hz, lo, hi;

	if (!trimmed(value, v, sizeof(v))) {
		snprintf(err, err_len, "%s: the value is too long", knob);
		return HAL_ERR_INVALID;
	}
	if (!strcmp(knob, "governor")) {
		if (v[0] && in_list(v, govs))
			return HAL_OK;
		snprintf(err, err_len, "governor: '%.32s' is not one of available_governors (%s)", v,
			 govs);
		return HAL_ERR_INVALID;
	}
	if (!bound && !request) {
		snprintf(err, err_len, "%s: not a writable attribute (governor, min_freq, max_freq, "
			 "userspace/set_freq)", knob);
		return HAL_ERR_INVALID;
	}
	errno = 0;
	hz = strtoull(v, &end, 10);
	if (!(v[0] >= '0' && v[0] <= '9') || errno || *end) {
		snprintf(err, err_len, "%s: '%.32s' is not a frequency in Hz", knob, v);
		return HAL_ERR_INVALID;
	}
	if (!freq_range(freqs, &lo, &hi)) {
		snprintf(err, err_len, "%s: available_frequencies is empty or malformed", knob);
		return HAL_ERR_INVALID;
	}
	if ((bound && hz == 0) || (hz >= lo && hz <= hi))
		return HAL_OK;
	snprintf(err, err_len, "%s: %" PRIu64 " Hz is outside available_frequencies (%" PRIu64
		 " .. %" PRIu64 "%s)", knob, hz, lo, hi, bound ? ", or 0 for no bound" : "");
	return HAL_ERR_INVALID;
}

enum hal_status hal_devfreq_check_dir(const char *dir, const char *knob, const char *value,
				      char *err, size_t err_len)
{
	char govs[256], freqs[512];

	if (read_attr(dir, "available_governors", govs, sizeof(govs), err, err_len) ||
	    read_attr(dir, "available_frequencies", freqs, sizeof(freqs), err, err_len))
		return HAL_ERR_DEVICE;
	return hal_devfreq_check(knob, value, govs, freqs, err, err_len);
}
