/* SPDX-License-Identifier: MIT */
/*
 * npu_fuse.c - the in-process NPU's devfreq directory served through FUSE, so that a write the
 * device refuses fails in the writer as a write to the kernel's sysfs does: `echo bogus >
 * governor` gets EINVAL, and the file never holds the refused value.
 *
 * The mount is a thin layer over the directory it covers: the device keeps reading and writing
 * the files underneath through the descriptor it opened before the mount (npu_sysfs.c), and
 * this layer reads them through the same descriptor. What it adds: a write to a knob is
 * checked by hal_devfreq_check against the device's own available_governors and
 * available_frequencies, and refused with EINVAL, or replaced underneath atomically (a
 * rename, which the device's inotify watch, set before the mount, sees); truncation of a
 * knob is ignored, as sysfs ignores O_TRUNC; every other file is read-only; a flock on "owner"
 * from another process is refused (the device holds the lease), so that npu<N> leasing works
 * through the mount.
 *
 * A watcher of our own unmounts the directory when the process ends, even by SIGKILL, so that no
 * dead mount is left in the runtime directory: a shell in a session of its own, blocked on a
 * pipe whose other end only this process holds, which runs `fusermount3 -u -z` at its EOF.
 * (libfuse's auto_unmount is not used: its fusermount3 decides by opening the mount point and
 * expecting ENOTCONN, and when its socket closes before the /dev/fuse descriptor in the dying
 * process, the open gets ECONNABORTED instead and the mount stays, dead.)
 * Where FUSE cannot be used (no /dev/fuse, no fusermount3, no permission: containers and CI
 * images often lack them) or ENPU_DEVFREQ_FUSE=0, nothing is mounted and the plain files
 * stay, checked by the device when it reads them and by `npu-top --set` before it writes.
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <fuse_lowlevel.h>

#include "hal/npu/npu_sim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct npu_fuse {
	struct fuse *fuse;
	pthread_t thread;
	int dirfd;  /* the directory underneath (a dup of the device's) */
	int stopfd; /* an eventfd: the loop returns when it is readable */
	int watchfd; /* the watcher's pipe: closing it (or dying) unmounts */
	pid_t watcher;
};

static struct npu_fuse *self(void)
{
	return fuse_get_context()->private_data;
}

/* "/governor" -> "governor", "/" -> "." : relative to the directory underneath */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static bool is_knob(const char *path)
{
	return !strcmp(path, "/governor") || !strcmp(path, "/min_freq") ||
	       !strcmp(path, "/max_freq") || !strcmp(path, "/userspace/set_freq");
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* the files change under the kernel's feet: no caching of data, sizes or names */
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return self();
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	return fstatat(self()->dirfd, rel(path), st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int fd = openat(self()->dirfd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	(void)off, (void)fi, (void)flags;
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	while ((de = readdir(d)))
		/* the device's temporaries (".name.tmp") are not attributes */
		if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			fill(buf, de->d_name, NULL, 0, 0);
	closedir(d);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct stat st;

	if (fstatat(self()->dirfd, rel(path), &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if ((fi->flags & O_ACCMODE) != O_RDONLY && !is_knob(path) && strcmp(path, "/owner"))
		return -EACCES; /* a read-only attribute, as sysfs's 0444 files */
	fi->direct_io = 1;
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	int fd = openat(self()->dirfd, rel(path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	(void)fi;
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, size, off);
	n = n < 0 ? -errno : n;
	close(fd);
	return (int)n;
}

/* The whole of dir/name underneath (trailing newline cut); false when it cannot be read. */
static bool read_under(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	while (n && buf[n - 1] == '\n')
		buf[--n] = 0;
	return true;
}

/* Replaces the knob underneath through a temporary beside it: one inotify event, one value. */
static int replace_under(int dirfd, const char *name, const char *text, size_t len)
{
	char tmp[96];
	const char *slash = strrchr(name, '/');
	int fd, e = 0;

	snprintf(tmp, sizeof(tmp), "%.*s.%s.fuse.tmp", slash ? (int)(slash - name + 1) : 0, name,
		 slash ? slash + 1 : name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		e = errno ? -errno : -EIO;
	if (close(fd) && !e)
		e = -errno;
	if (!e && renameat(dirfd, tmp, dirfd, name))
		e = -errno;
	if (e)
		unlinkat(dirfd, tmp, 0);
	return e;
}

/*
 * A knob's new value, in one write as sysfs takes it: refused with EINVAL by the device's
 * rule, or in force underneath before the writer's write() returns.
 */
static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct npu_fuse *f = self();
	char value[128], govs[256], freqs[512], err[256];
	int e;

	(void)fi;
	if (!is_knob(path))
		return -EACCES;
	if (off != 0 || size >= sizeof(value))
		return -EINVAL;
	memcpy(value, buf, size);
	value[size] = 0;
	if (!read_under(f->dirfd, "available_governors", govs, sizeof(govs)) ||
	    !read_under(f->dirfd, "available_frequencies", freqs, sizeof(freqs)))
		return -EIO;
	if (hal_devfreq_check(rel(path), value, govs, freqs, err, sizeof(err)) != HAL_OK)
		return -EINVAL;
	e = replace_under(f->dirfd, rel(path), value, size);
	return e ? e : (int)size;
}

/* echo's O_TRUNC: ignored on a knob (the value in force stays until one is accepted). */
static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)size, (void)fi;
	return is_knob(path) ? 0 : -EACCES;
}

/* Another process's lease attempt on "owner": the device holds it while it is served. */
static int op_flock(const char *path, struct fuse_file_info *fi, int op)
{
	(void)path, (void)fi;
	return op & LOCK_UN ? 0 : -EWOULDBLOCK;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path, (void)mode, (void)fi;
	return -EACCES;
}

static int op_unlink(const char *path)
{
	(void)path;
	return -EPERM;
}

static const struct fuse_operations ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.truncate = op_truncate,
	.flock = op_flock,
	.create = op_create,
	.unlink = op_unlink,
};

/*
 * The requests, one at a time, until stopfd says stop or the connection ends. Not fuse_loop:
 * it could only be woken by one more request, which nothing guarantees (a stat sent to wake
 * it hangs for ever when the loop has already left on another request).
 */
static void *loop(void *arg)
{
	struct npu_fuse *f = arg;
	struct fuse_session *se = fuse_get_session(f->fuse);
	struct fuse_buf buf = { 0 };
	struct pollfd p[2] = { { fuse_session_fd(se), POLLIN, 0 }, { f->stopfd, POLLIN, 0 } };

	while (!fuse_session_exited(se)) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents || (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
			break;
		int res = fuse_session_receive_buf(se, &buf);
		if (res == -EINTR || res == -EAGAIN || res == -ENOENT)
			continue; /* the request was interrupted before it was read */
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
	return NULL;
}

/*
 * The watcher of path: a shell in its own session (a Ctrl-C or a kill of our process group
 * leaves it), reading a pipe until EOF, then unmounting lazily. 0 with f->watchfd and
 * f->watcher set, or -1.
 */
static int spawn_watcher(struct npu_fuse *f, const char *path)
{
	extern char **environ;
	char *argv[] = { "sh", "-c", "read x; exec fusermount3 -u -z -q -- \"$0\"", (char *)path,
			 NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int p[2], e;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	/*
	 * Its stdin, without CLOEXEC; nothing else of ours: a pipe it held open (our stdout read
	 * by `| head`, say) would wait for it.
	 */
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
	e = posix_spawnp(&f->watcher, "sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0]);
	if (e) {
		close(p[1]);
		return -1;
	}
	f->watchfd = p[1];
	return 0;
}

/* Ends the watcher once the directory is unmounted: its unmount then finds nothing. */
static void end_watcher(struct npu_fuse *f)
{
	close(f->watchfd);
	while (waitpid(f->watcher, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Whether the environment asks for the plain files (ENPU_DEVFREQ_FUSE=0). */
static bool disabled(void)
{
	const char *v = getenv("ENPU_DEVFREQ_FUSE");

	return v && !strcmp(v, "0");
}

/* Whether fusermount3 is on PATH: the watcher unmounts with it (and a user mounts with it). */
static bool have_fusermount(void)
{
	const char *path = getenv("PATH");
	char dir[512], file[600];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)n, p);
		snprintf(file, sizeof(file), "%s/fusermount3", dir[0] ? dir : ".");
		if (!access(file, X_OK))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/*
 * libfuse's own messages (a mount refused in a container, say): dropped, since the plain files
 * are a working fallback and a program's stderr is its user's.
 */
static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
}

/* Whether /etc/fuse.conf lets a user's mount admit others (user_allow_other). */
static bool users_may_allow_other(void)
{
	char line[256];
	FILE *f = fopen("/etc/fuse.conf", "r");
	bool yes = false;

	while (f && fgets(line, sizeof(line), f))
		yes |= !strncmp(line, "user_allow_other", 16);
	if (f)
		fclose(f);
	return yes;
}

void *npu_fuse_serve(const char *path, int dirfd)
{
	/*
	 * An admin (root) must reach a program's knobs as with plain files: the mount admits
	 * other users, under the files' modes, where that is allowed (root, or user_allow_other);
	 * elsewhere only the program's user reaches them.
	 */
	const bool others = geteuid() == 0 || users_may_allow_other();
	char *argv[] = { "edge-npu", "-o",
			 others ? "fsname=edge-npu,subtype=devfreq,allow_other,default_permissions"
				: "fsname=edge-npu,subtype=devfreq",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct npu_fuse *f;

	if (disabled() || access("/dev/fuse", R_OK | W_OK) || !have_fusermount())
		return NULL;
	fuse_set_log_func(quiet);
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->stopfd = eventfd(0, EFD_CLOEXEC);
	f->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	f->fuse = f->dirfd < 0 || f->stopfd < 0 ? NULL : fuse_new(&args, &ops, sizeof(ops), f);
	if (!f->fuse)
		goto fail;
	/* no fusermount3, no permission, no FUSE in the kernel: the plain files stay */
	if (fuse_mount(f->fuse, path))
		goto fail;
	if (spawn_watcher(f, path)) {
		fuse_unmount(f->fuse);
		goto fail;
	}
	/* the program's signal handlers run on its own threads, never in the middle of a request */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&f->thread, NULL, loop, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		fuse_unmount(f->fuse);
		end_watcher(f);
		goto fail;
	}
	fuse_opt_free_args(&args);
	return f;
fail:
	if (f->fuse)
		fuse_destroy(f->fuse);
	if (f->dirfd >= 0)
		close(f->dirfd);
	if (f->stopfd >= 0)
		close(f->stopfd);
	free(f);
	fuse_opt_free_args(&args);
	return NULL;
}

static void *destroy(void *fuse)
{
	fuse_destroy(fuse);
	return NULL;
}

/*
 * fuse_destroy on a thread of its own, joined: it leaves a context of libfuse's in the calling
 * thread's TLS, which is freed when that thread ends only while libfuse's key lives, and the
 * key goes with the process's last instance: a program's thread that destroyed one NPU
 * context while another lived leaked it (LeakSanitizer, contexts made and destroyed by
 * several threads at once). npu_sysfs.c's lease lock keeps these threads apart.
 */
static void destroy_fuse(struct fuse *fuse)
{
	pthread_t t;

	if (pthread_create(&t, NULL, destroy, fuse))
		fuse_destroy(fuse);
	else
		pthread_join(t, NULL);
}

void npu_fuse_stop(void *handle)
{
	struct npu_fuse *f = handle;
	const uint64_t one = 1;

	if (!f)
		return;
	/* the loop first, so that no handler runs; then the mount (a request of another process
	 * arriving in between fails when the connection goes) */
	if (write(f->stopfd, &one, sizeof(one)) != sizeof(one))
		fuse_exit(f->fuse); /* cannot happen with an eventfd; the loop ends at its next request */
	pthread_join(f->thread, NULL);
	fuse_unmount(f->fuse);
	end_watcher(f);
	destroy_fuse(f->fuse);
	close(f->dirfd);
	close(f->stopfd);
	free(f);
}

int npu_fuse_detach_dead(const char *path)
{
	extern char **environ;
	char *argv[] = { "fusermount3", "-u", "-z", "-q", "--", (char *)path, NULL };
	pid_t pid;
	int status;

	/* root detaches it itself; a user through the setuid helper, as libfuse unmounts */
	if (!umount2(path, MNT_DETACH))
		return 0;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ))
		return -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
