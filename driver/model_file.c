/* SPDX-License-Identifier: MIT */
/*
 * model_file.c - a model file read into memory the model owns, through io_uring: several
 * large reads in flight at once into anonymous memory, instead of mapping the file and
 * faulting its pages in one at a time. Where the kernel refuses io_uring (some sandboxes do)
 * the same reads go through pread, and the method says so.
 */
#include "internal.h"
#include "hal/files.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)4 << 20) /* bytes per read */
#define READ_DEPTH 8                 /* reads in flight */

struct reader {
	int fd;
	uint8_t *buf;
	size_t size, next, done;
	enpu_progress_fn progress;
	void *user;
};

/* Queues the read of the next chunk (or the rest of a short one) at off. */
static void queue_read(struct io_uring *ring, struct reader *r, size_t off, size_t len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_read(sqe, r->fd, r->buf + off, (unsigned)len, off);
	io_uring_sqe_set_data64(sqe, ((uint64_t)off << 24) | len);
}

static bool queue_next(struct io_uring *ring, struct reader *r)
{
	if (r->next >= r->size)
		return false;
	size_t len = r->size - r->next < READ_CHUNK ? r->size - r->next : READ_CHUNK;

	queue_read(ring, r, r->next, len);
	r->next += len;
	return true;
}

/* The whole file through io_uring; -errno on failure, 1 when io_uring itself is refused. */
static int read_uring(struct reader *r, int *refused)
{
	struct io_uring ring;
	int inflight = 0, rc = io_uring_queue_init(READ_DEPTH, &ring, 0);

	if (rc < 0) {
		*refused = -rc;
		return 1;
	}
	for (int i = 0; i < READ_DEPTH && queue_next(&ring, r); i++)
		inflight++;
	rc = 0;
	while (inflight > 0 && !rc) {
		struct io_uring_cqe *cqe;

		if ((rc = io_uring_submit_and_wait(&ring, 1)) < 0 ||
		    (rc = io_uring_wait_cqe(&ring, &cqe)) < 0)
			break;
		const uint64_t tag = io_uring_cqe_get_data64(cqe);
		const size_t off = tag >> 24, len = tag & ((1u << 24) - 1);
		const int res = cqe->res;

		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		if (res <= 0) {
			rc = res < 0 ? res : -EIO; /* 0: the file shrank under us */
			break;
		}
		r->done += (size_t)res;
		if ((size_t)res < len) { /* a short read: the rest of the chunk again */
			queue_read(&ring, r, off + (size_t)res, len - (size_t)res);
			inflight++;
		} else if (queue_next(&ring, r)) {
			inflight++;
		}
		if (r->progress && !r->progress(r->done, r->size, r->user))
			rc = -ECANCELED;
	}
	io_uring_queue_exit(&ring);
	return rc;
}

/* The same reads one after another (io_uring refused). */
static int read_plain(struct reader *r)
{
	while (r->done < r->size) {
		size_t len = r->size - r->done < READ_CHUNK ? r->size - r->done : READ_CHUNK;
		ssize_t n = pread(r->fd, r->buf + r->done, len, (off_t)r->done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		r->done += (size_t)n;
		if (r->progress && !r->progress(r->done, r->size, r->user))
			return -ECANCELED;
	}
	return 0;
}

int drv_model_file_read(const char *path, enpu_progress_fn progress, void *user, void **out,
			size_t *out_size, char *method, size_t method_len, char *err,
			size_t err_len)
{
	struct reader r = { .progress = progress, .user = user };
	int refused = 0, rc;

	*out = NULL;
	r.fd = hal_file_open_regular(path, &r.size, err, err_len); /* never blocks on a FIFO */
	if (r.fd < 0)
		return -1;
	r.buf = r.size ? mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0) : NULL;
	if (r.size && r.buf == MAP_FAILED) {
		snprintf(err, err_len, "%s: out of memory for its %zu bytes", path, r.size);
		close(r.fd);
		return -1;
	}
	rc = r.size ? read_uring(&r, &refused) : 0;
	if (rc == 1)
		rc = read_plain(&r);
	close(r.fd);
	if (refused)
		snprintf(method, method_len, "pread (io_uring refused: %s)", strerror(refused));
	else
		snprintf(method, method_len, "io_uring");
	if (rc) {
		snprintf(err, err_len, "%s: %s", path,
			 rc == -ECANCELED ? "model load cancelled" : strerror(-rc));
		if (r.buf)
			munmap(r.buf, r.size);
		return rc == -ECANCELED ? -2 : -1;
	}
	if (r.buf)
		mprotect(r.buf, r.size, PROT_READ); /* as read-only as the mapping it replaces */
	*out = r.buf;
	*out_size = r.size;
	return 0;
}
