/* SPDX-License-Identifier: MIT */
/*
 * admin.c - `npu-top --set DEV KNOB=VALUE...`: the admin's devfreq writes, refused the way the
 * kernel's sysfs refuses them, with an error to the writer.
 *
 * The value is checked first against the device's own available_governors and
 * available_frequencies, by the rule the in-process NPU applies (hal_devfreq_check): where its
 * directory is not served through FUSE, an in-process NPU's files are plain files, which
 * cannot fail a write (the device sees a bad value only later, restores the file and says why
 * in last_error), and the kernel's devfreq
 * takes any max_freq (it clamps it) where the admin asked for a frequency the device has.
 * Only a value that passes is written, in one write() as echo does it (the device reads a knob
 * when it is closed after writing; where its directory is served through FUSE, the write is
 * checked again there), and the driver's or the device's error is said if write() fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/hal.h"
#include "view.h"

/* The errno write_attr gives for a path that is not a regular file (a FIFO, a device). */
#define NOT_REGULAR (-1)

/*
 * Writes "value\n" to path in one write(); the errno of the refusal, NOT_REGULAR, or 0. Opened
 * without blocking and checked first: a FIFO planted there is refused, never waited on (sysfs
 * attributes are regular files per stat).
 */
static int write_attr(const char *path, const char *value)
{
	char buf[128];
	struct stat sb;
	int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), e = 0;

	if (fd < 0)
		return errno == ENXIO ? NOT_REGULAR : errno; /* ENXIO: a FIFO without a reader */
	if (fstat(fd, &sb))
		e = errno;
	else if (!S_ISREG(sb.st_mode))
		e = NOT_REGULAR;
	if (e) {
		close(fd);
		return e;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	snprintf(buf, sizeof(buf), "%s\n", value);
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf))
		e = errno ? errno : EIO;
	if (close(fd) && !e)
		e = errno;
	return e;
}

/* One KNOB=VALUE on the device in dir: 0, or 1 (said on stderr) when refused. */
static int set_one(const char *dev, const char *dir, bool kernel, const char *assignment)
{
	char knob[64], path[1024], err[300];
	const char *eq = strchr(assignment, '='), *value = eq ? eq + 1 : NULL;

	if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(knob)) {
		fprintf(stderr, "npu-top: --set %s: '%s' is not KNOB=VALUE\n", dev, assignment);
		return 2;
	}
	strf(knob, sizeof(knob), "%.*s", (int)(eq - assignment), assignment);
	if (!strcmp(knob, "set_freq"))
		strf(knob, sizeof(knob), "userspace/set_freq");
	if (strstr(knob, "..") || knob[0] == '/') {
		fprintf(stderr, "npu-top: --set %s: '%s' is no attribute\n", dev, knob);
		return 1;
	}
	strf(path, sizeof(path), "%s/%s", dir, knob);
	if (hal_devfreq_check_dir(dir, knob, value, err, sizeof(err)) != HAL_OK) {
		fprintf(stderr, "npu-top: %s: %s: %s\n", dev, err, strerror(EINVAL));
		return 1;
	}
	int e = write_attr(path, value);
	if (e) {
		fprintf(stderr, "npu-top: %s: %s: '%s': %s\n", dev, knob, value,
			e == NOT_REGULAR ? "not a regular file; refusing to write it" : strerror(e));
		return 1;
	}
	printf("%s: %s = %s%s\n", dev, knob, value,
	       kernel ? "" : " (the device applies it at its next job)");
	return 0;
}

int run_set(const char *dev, char *const *assignments, int n)
{
	char dir[1024];
	bool kernel = !strncmp(dev, "edge-npu.", 9);

	if (n < 1) {
		fprintf(stderr, "npu-top: --set %s: no KNOB=VALUE given (governor, min_freq, "
			"max_freq, userspace/set_freq)\n", dev);
		return 2;
	}
	if (kernel ? !strf(dir, sizeof(dir), "%s/class/devfreq/%s", opt.sysfs, dev) ||
		     access(dir, F_OK)
		   : find_sim_devfreq(dev, dir, sizeof(dir))) {
		fprintf(stderr, "npu-top: --set %s: no such device (npu@PID or npuN of a running "
			"program, edge-npu.N of the kernel driver; npu-top lists them)\n", dev);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int rc = set_one(dev, dir, kernel, assignments[i]);

		if (rc)
			return rc; /* the next assignments may have depended on this one */
	}
	return 0;
}
