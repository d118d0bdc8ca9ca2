/* SPDX-License-Identifier: MIT */
/*
 * sysfile.c - reading the small text files of sysfs, procfs and the runtime directory.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sample.h"

char *strf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

int read_text(const char *path, char *buf, size_t len)
{
	/* never blocking: a FIFO or device planted where a text file belongs is refused */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = 0;
	return 0;
}

bool read_u64(const char *path, uint64_t *out)
{
	char buf[64], *end;

	if (read_text(path, buf, sizeof(buf)) || !isdigit((unsigned char)buf[0]))
		return false;
	*out = strtoull(buf, &end, 10);
	return true;
}
