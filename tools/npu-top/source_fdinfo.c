/* SPDX-License-Identifier: MIT */
/*
 * source_fdinfo.c - the clients of DRM devices, from /proc/<pid>/fdinfo/<fd> of every fd that
 * is a render (major 226) or accel (major 261) node and carries the drm-driver key (the
 * kernel's drm-usage-stats). One open file shared by dup() or fork() is one client: rows are
 * keyed by (device, drm-client-id).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sample.h"

#define DRM_MAJOR 226
#define ACCEL_MAJOR 261

/* The usage an fdinfo file reports. */
struct fdinfo {
	char driver[32];      /* "" when the fd has no usage stats */
	bool have_id;
	uint64_t client_id, busy_ns, mem_bytes;
};

static void comm_of(long pid, char out[17])
{
	char path[64];

	strf(path, sizeof(path), "%s/%ld/comm", opt.proc, pid);
	if (read_text(path, out, 17))
		strf(out, 17, "?");
}

/* The parent device of a DRM char device: "edge-npu.0", "0000:00:02.0", ... */
static void drm_parent(dev_t rdev, char *out, size_t len)
{
	char path[128], link[256];
	ssize_t n;

	strf(path, sizeof(path), "%s/dev/char/%u:%u/device", opt.sysfs, major(rdev),
	     minor(rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		strf(out, len, "drm-%u:%u", major(rdev), minor(rdev));
		return;
	}
	link[n] = 0;
	strf(out, len, "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
}

/* "key:\tvalue" lines; text is cut up in place. */
static void parse_fdinfo(char *text, struct fdinfo *fi)
{
	memset(fi, 0, sizeof(*fi));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!strcmp(line, "drm-driver"))
			strf(fi->driver, sizeof(fi->driver), "%s", v);
		else if (!strcmp(line, "drm-client-id"))
			fi->client_id = strtoull(v, NULL, 10), fi->have_id = true;
		else if (!strncmp(line, "drm-engine-", 11) && !strstr(line, "capacity"))
			fi->busy_ns += strtoull(v, NULL, 10); /* "N ns" */
		else if (!strcmp(line, "drm-total-memory") ||
			 (!strncmp(line, "drm-memory-", 11) && !fi->mem_bytes)) {
			uint64_t m = strtoull(v, NULL, 10);

			fi->mem_bytes = strstr(v, "MiB") ? m << 20 : strstr(v, "KiB") ? m << 10 : m;
		}
	}
}

/*
 * Charges a client's usage to its device. A kernel device we do not know from sysfs (another
 * driver) still gets a row.
 */
static void charge_dev(struct sample *s, const char *parent, const struct fdinfo *fi)
{
	struct dev *d = add_dev(s, parent);

	if (d && !d->kind[0]) {
		strf(d->kind, sizeof(d->kind), strcmp(fi->driver, "edge_npu") ? "gpu" : "npu");
		strf(d->source, sizeof(d->source), "kernel");
		strf(d->driver, sizeof(d->driver), "%s", fi->driver);
	}
	if (d && !d->busy_from_genl) {
		/* without the driver's figure: the sum over its clients */
		d->has_busy = true;
		d->busy_ns += fi->busy_ns;
		d->mem_bytes += fi->mem_bytes;
	}
}

/* Adds the client of fd (of pid, on rdev) unless its open file was already counted. */
static void add_fd_client(struct sample *s, long pid, const char *fd, dev_t rdev,
			  const struct fdinfo *fi)
{
	char parent[40], key[64];
	struct client *c;

	drm_parent(rdev, parent, sizeof(parent));
	if (fi->have_id)
		strf(key, sizeof(key), "fd:%s:%" PRIu64, parent, fi->client_id);
	else
		strf(key, sizeof(key), "fd:%s:%ld:%s", parent, pid, fd);
	if (find_client(s, key))
		return; /* the same open file through another fd or a forked child */
	c = add_client(s);
	if (!c)
		return;
	c->pid = pid;
	comm_of(pid, c->comm);
	strf(c->dev, sizeof(c->dev), "%s", parent);
	strf(c->source, sizeof(c->source), "fdinfo");
	strf(c->key, sizeof(c->key), "%s", key);
	c->busy_ns = fi->busy_ns;
	c->mem_bytes = fi->mem_bytes;
	charge_dev(s, parent, fi);
}

/* Whether path is a DRM render or accel node; *rdev is its device number. */
static bool is_drm_node(const char *path, dev_t *rdev)
{
	struct stat st;

	if (stat(path, &st) || !S_ISCHR(st.st_mode) ||
	    (major(st.st_rdev) != DRM_MAJOR && major(st.st_rdev) != ACCEL_MAJOR))
		return false;
	*rdev = st.st_rdev;
	return true;
}

static void scan_fdinfo_pid(struct sample *s, long pid)
{
	char dir[64], path[128], text[4096];
	DIR *dd;
	struct dirent *de;

	strf(dir, sizeof(dir), "%s/%ld/fd", opt.proc, pid);
	dd = opendir(dir);
	if (!dd) {
		if (errno == EACCES || errno == EPERM)
			s->unreadable++;
		return;
	}
	while ((de = readdir(dd)) && s->n_clients < MAX_CLIENTS) {
		struct fdinfo fi;
		dev_t rdev;

		if (de->d_name[0] == '.')
			continue;
		strf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!is_drm_node(path, &rdev))
			continue;
		strf(path, sizeof(path), "%s/%ld/fdinfo/%s", opt.proc, pid, de->d_name);
		if (read_text(path, text, sizeof(text)))
			continue;
		parse_fdinfo(text, &fi);
		if (!fi.driver[0])
			continue; /* a DRM fd without usage stats (KMS master, old driver) */
		add_fd_client(s, pid, de->d_name, rdev, &fi);
	}
	closedir(dd);
}

void scan_fdinfo(struct sample *s)
{
	DIR *dd = opendir(opt.proc);
	struct dirent *de;

	if (!dd)
		return;
	while ((de = readdir(dd)))
		if (isdigit((unsigned char)de->d_name[0]))
			scan_fdinfo_pid(s, strtol(de->d_name, NULL, 10));
	closedir(dd);
}
