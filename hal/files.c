/* SPDX-License-Identifier: MIT */
/* files.c - creating, committing and opening user-named files safely (files.h). */
#include "hal/files.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t len, const char *path, const char *what, int errnum)
{
	snprintf(err, len, "%s: %s%s%s", path, what, errnum ? ": " : "",
		 errnum ? strerror(errnum) : "");
	return -1;
}

static const char *kind_of(mode_t mode)
{
	return S_ISLNK(mode) ? "a symbolic link" : S_ISFIFO(mode) ? "a FIFO" :
	       S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) || S_ISBLK(mode) ? "a device" :
	       S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

/*
 * The pending temporaries: copies of their names. Threads add and drop them under the lock;
 * a signal handler takes them with an exchange, without the lock, and never frees one (a
 * name it took is dropped by nobody: its owner's compare-exchange fails, and it is left to
 * the process's end).
 */
static char *_Atomic pending[HAL_FILE_PENDING_MAX];
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(const char *tmp)
{
	char *copy = strdup(tmp);

	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; copy && i < HAL_FILE_PENDING_MAX; i++) {
		char *none = NULL;

		if (atomic_compare_exchange_strong(&pending[i], &none, copy))
			copy = NULL;
	}
	pthread_mutex_unlock(&pending_lock);
	free(copy); /* all slots taken: this one is not removed at a signal */
}

static void forget(const char *tmp)
{
	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < HAL_FILE_PENDING_MAX; i++) {
		char *p = atomic_load(&pending[i]);

		if (p && !strcmp(p, tmp) && atomic_compare_exchange_strong(&pending[i], &p, NULL)) {
			free(p);
			break;
		}
	}
	pthread_mutex_unlock(&pending_lock);
}

void hal_file_remove_temporaries(void)
{
	int e = errno;

	for (size_t i = 0; i < HAL_FILE_PENDING_MAX; i++) {
		char *p = atomic_exchange(&pending[i], NULL);

		if (p)
			unlink(p);
	}
	errno = e;
}

static void clean_and_end(int sig)
{
	hal_file_remove_temporaries();
	signal(sig, SIG_DFL);
	raise(sig); /* blocked while its handler runs: delivered as it returns */
}

void hal_file_clean_on_signal(int sig)
{
	struct sigaction sa = { .sa_handler = clean_and_end }, old;

	sigemptyset(&sa.sa_mask);
	if (!sigaction(sig, NULL, &old) && old.sa_handler != SIG_IGN)
		sigaction(sig, &sa, NULL);
}

void hal_file_clean_on_end_signals(void)
{
	hal_file_clean_on_signal(SIGHUP);
	hal_file_clean_on_signal(SIGINT);
	hal_file_clean_on_signal(SIGTERM);
}

int hal_file_create(const char *path, char *tmp, size_t tmp_len, char *err, size_t err_len)
{
	struct stat sb;
	char what[96];
	if (!*path)
		return fail(err, err_len, "\"\"", "no path given", 0);
	bool exists = !lstat(path, &sb);

	if (exists && !S_ISREG(sb.st_mode)) {
		snprintf(what, sizeof(what), "is %s; refusing to replace it", kind_of(sb.st_mode));
		return fail(err, err_len, path, what, 0);
	}
	/* a short name in path's directory: path + a suffix would pass NAME_MAX for a long name */
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	if ((size_t)snprintf(tmp, tmp_len, "%.*s%s", dir_len, path, HAL_FILE_TMP_NAME) >= tmp_len)
		return fail(err, err_len, path, "path too long", 0);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail(err, err_len, path, "cannot create", errno);
	remember(tmp);
	/*
	 * mkstemp makes it 0600. A file replaced keeps its mode (a private file stays private)
	 * and, for root, its owner; a new one gets what the umask allows, as fopen would.
	 */
	mode_t mode;
	if (exists) {
		mode = sb.st_mode & 07777;
		if (!geteuid() && fchown(fd, sb.st_uid, sb.st_gid)) {
			/* best effort: the owner could not be kept (a file system without owners) */
		}
	} else {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	if (fchmod(fd, mode)) {
		int e = errno;
		hal_file_abandon(fd, tmp);
		return fail(err, err_len, path, "cannot set its temporary's mode", e);
	}
	return fd;
}

int hal_file_commit(int fd, const char *tmp, const char *path, char *err, size_t err_len)
{
	/* the rename must not publish a file whose blocks are still only in the page cache */
	if (fsync(fd)) {
		int e = errno;
		hal_file_abandon(fd, tmp);
		return fail(err, err_len, path, "write failed", e);
	}
	if (close(fd)) {
		int e = errno;
		hal_file_discard(tmp);
		return fail(err, err_len, path, "write failed", e);
	}
	return hal_file_publish(tmp, path, err, err_len);
}

int hal_file_publish(const char *tmp, const char *path, char *err, size_t err_len)
{
	if (rename(tmp, path)) {
		int e = errno;
		hal_file_discard(tmp);
		return fail(err, err_len, path, "cannot move the written temporary into place", e);
	}
	forget(tmp);
	return 0;
}

void hal_file_abandon(int fd, const char *tmp)
{
	close(fd);
	hal_file_discard(tmp);
}

void hal_file_discard(const char *tmp)
{
	unlink(tmp);
	forget(tmp);
}

int hal_file_probe(const char *path, char *err, size_t err_len)
{
	char *tmp = malloc(HAL_FILE_TMP_LEN(path));
	int fd = tmp ? hal_file_create(path, tmp, HAL_FILE_TMP_LEN(path), err, err_len) : -1;

	if (!tmp)
		fail(err, err_len, path, "out of memory", 0);
	if (fd >= 0)
		hal_file_abandon(fd, tmp);
	free(tmp);
	return fd < 0 ? -1 : 0;
}

int hal_file_open_regular(const char *path, size_t *out_size, char *err, size_t err_len)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return fail(err, err_len, path, "cannot open", errno);
	if (fstat(fd, &sb)) {
		int e = errno;

		close(fd);
		return fail(err, err_len, path, "cannot stat", e);
	}
	if (!S_ISREG(sb.st_mode)) {
		char what[64];

		close(fd);
		snprintf(what, sizeof(what), "is %s, not a file", kind_of(sb.st_mode));
		return fail(err, err_len, path, what, 0);
	}
	/* reads block as usual from here on */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*out_size = (size_t)sb.st_size;
	return fd;
}

int hal_file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int hal_file_read_all(int fd, void *data, size_t len)
{
	char *p = data;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : ENODATA;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
