/* SPDX-License-Identifier: MIT */
/*
 * completion.c - device completions on one io_uring per process (completion.h).
 *
 * The ring has no thread of its own: of the threads waiting at a time, one reaps it for all
 * (it sleeps in io_uring_enter until some device's completion arrives, signals the fences of
 * every wait that completed, and goes on until its own has), and the others sleep on a
 * condition variable until the reaper says their fence is signalled or it has left the ring,
 * when one of them takes its place. A lone waiter is woken by the kernel directly, as by a
 * poll(): a completion thread of its own would add a second wake-up to every wait (measured
 * +10 to +25 us per OpenCL op on a loaded 2-core host).
 *
 * Submissions come from any thread, so the submission queue is guarded by sq_lock; only the
 * reaper of the moment reads the completion queue. A wait's state lives on the waiter's stack
 * (struct waiter): the reaper signals its fence and never touches it again, so the waiter may
 * return as soon as the fence is signalled.
 */
#include "hal/completion.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One POLL_ADD and, with a timeout, one LINK_TIMEOUT per wait in flight. */
#define RING_ENTRIES 256

/* user_data of a linked timeout's own completion, which carries no waiter */
#define TAG_TIMEOUT 0ull

/* A wait in flight: its fence carries HAL_OK when fd became readable, else HAL_ERR_DEVICE. */
struct waiter {
	struct hal_fence done;
};

static struct {
	pthread_mutex_t lock; /* refs, running, the method; held across start and stop */
	pthread_mutex_t sq_lock;
	pthread_mutex_t reap_lock; /* reaping, and the waits on reaped */
	pthread_cond_t reaped;     /* fences signalled, or the reaper left the ring */
	bool reaping;              /* a waiter is reaping the ring */
	unsigned int refs;
	bool running; /* the ring exists */
	struct io_uring ring;
	const char *method;
	char refused[128]; /* why the kernel refused io_uring: written once per process */
	/*
	 * Waits queued (under sq_lock). The kernel carries a waiter's entry to the reaper, unseen
	 * by the C memory model and by ThreadSanitizer: each waiter adds one here (release)
	 * before its submit, and the reaper reads it (acquire) after it has reaped, so that the
	 * waiter's fence is ordered before the reaper signals it.
	 */
	uint64_t queued;
} C = { .lock = PTHREAD_MUTEX_INITIALIZER, .sq_lock = PTHREAD_MUTEX_INITIALIZER,
	.reap_lock = PTHREAD_MUTEX_INITIALIZER, .reaped = PTHREAD_COND_INITIALIZER,
	.method = "none" };

/* The reaper: signals the fence of every wait whose completion is in the queue. */
static void reap(void)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&C.ring, head, cqe) {
		uint64_t tag = io_uring_cqe_get_data64(cqe);

		/*
		 * Read after this entry, not once before the loop: an entry that arrived during
		 * the loop may be of a wait queued after that read (ThreadSanitizer saw the
		 * reaper's signal race with the waiter's earlier use of its stack).
		 */
		(void)__atomic_load_n(&C.queued, __ATOMIC_ACQUIRE);
		seen++;
		if (tag != TAG_TIMEOUT) {
			struct waiter *w = (struct waiter *)(uintptr_t)tag;

			/* revents (> 0), or -ECANCELED when the linked timeout fired first */
			hal_fence_signal(&w->done, cqe->res > 0 ? HAL_OK : HAL_ERR_DEVICE);
		}
	}
	io_uring_cq_advance(&C.ring, seen);
}

/*
 * Until w is signalled: reaps the ring while no other waiter does, else sleeps until the
 * reaper has signalled w or left the ring to be taken over.
 */
static enum hal_status wait_ring(struct waiter *w)
{
	enum hal_status st;

	pthread_mutex_lock(&C.reap_lock);
	while (!hal_fence_done(&w->done, &st)) {
		if (C.reaping) {
			pthread_cond_wait(&C.reaped, &C.reap_lock);
			continue;
		}
		C.reaping = true;
		pthread_mutex_unlock(&C.reap_lock);
		while (!hal_fence_done(&w->done, &st)) {
			struct io_uring_cqe *cqe;

			/* EINTR aside, nothing fails on a ring that stays up while waits hold it */
			if (io_uring_wait_cqe(&C.ring, &cqe) == 0)
				reap();
			pthread_mutex_lock(&C.reap_lock);
			pthread_cond_broadcast(&C.reaped);
			pthread_mutex_unlock(&C.reap_lock);
		}
		pthread_mutex_lock(&C.reap_lock);
		C.reaping = false;
		pthread_cond_broadcast(&C.reaped); /* a waiter left behind takes over */
	}
	pthread_mutex_unlock(&C.reap_lock);
	return st;
}

/*
 * The ring. A poll's completion runs as task work of the thread that queued it; cooperative
 * task running lets it wait for that thread's next entry into the kernel (the waiter is in
 * io_uring_enter or wakes on its condition variable anyway) instead of interrupting it with
 * an inter-processor kick. Kernels before 5.19 lack the flag: a plain ring there.
 */
static int ring_init(void)
{
	struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN };
	int rc = io_uring_queue_init_params(RING_ENTRIES, &C.ring, &p);

	return rc == -EINVAL ? io_uring_queue_init(RING_ENTRIES, &C.ring, 0) : rc;
}

/* Under C.lock: the ring, or the poll fallback and the reason for it. */
static void start(void)
{
	const char *off = getenv("ENPU_NO_URING");
	int rc;

	if (off && strcmp(off, "1") == 0) {
		C.method = "poll (ENPU_NO_URING=1)";
		return;
	}
	if (off && *off && strcmp(off, "0"))
		fprintf(stderr, "edge-npu: ENPU_NO_URING='%s' is neither 1 nor 0; using io_uring\n",
			off);
	rc = ring_init();
	if (rc == 0) {
		C.running = true;
		C.method = "io_uring";
		return;
	}
	if (!C.refused[0]) {
		snprintf(C.refused, sizeof(C.refused), "poll (io_uring refused: %s)",
			 strerror(-rc));
		fprintf(stderr, "edge-npu: io_uring unavailable (%s): device completions are "
				"waited for with poll()\n", strerror(-rc));
	}
	C.method = C.refused;
}

void hal_completion_put(void)
{
	pthread_mutex_lock(&C.lock);
	if (C.refs && --C.refs == 0) {
		/* every wait holds a reference: nothing is in flight on the ring */
		if (C.running)
			io_uring_queue_exit(&C.ring);
		C.running = false;
		C.method = "none";
	}
	pthread_mutex_unlock(&C.lock);
}

const char *hal_completion_method(void)
{
	pthread_mutex_lock(&C.lock);
	const char *m = C.method;
	pthread_mutex_unlock(&C.lock);
	return m;
}

/* The fallback: a poll() in this thread, EINTR retried against the same deadline. */
static enum hal_status wait_poll(int fd, int timeout_ms)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = -1, n;

		if (timeout_ms >= 0) {
			uint64_t t = hal_now_ns();

			left = t >= deadline ? 0 : (int)((deadline - t + 999999) / 1000000);
		}
		n = poll(&p, 1, left);
		if (n > 0)
			return p.revents & POLLNVAL ? HAL_ERR_DEVICE : HAL_OK;
		if (n == 0 || errno != EINTR)
			return HAL_ERR_DEVICE;
	}
}

/*
 * Queues the poll of fd for w, and its timeout. Once the entries are in the ring the kernel
 * will complete them, so the waiter then always waits for its fence: a submit that the kernel
 * defers (EAGAIN, EBUSY while the reaper drains) is retried, never abandoned.
 */
static void queue_poll(int fd, int timeout_ms, struct waiter *w)
{
	struct __kernel_timespec ts = { timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000 };
	struct io_uring_sqe *sqe;
	int rc;

	pthread_mutex_lock(&C.sq_lock);
	__atomic_fetch_add(&C.queued, 1, __ATOMIC_RELEASE);
	/* every submit below hands its entries to the kernel: the queue is empty here */
	sqe = io_uring_get_sqe(&C.ring);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)w);
	if (timeout_ms >= 0) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&C.ring);
		/* the kernel copies ts while it takes the entry, within the submit below */
		io_uring_prep_link_timeout(sqe, &ts, 0);
		io_uring_sqe_set_data64(sqe, TAG_TIMEOUT);
	}
	while ((rc = io_uring_submit(&C.ring)) == -EINTR || rc == -EAGAIN || rc == -EBUSY)
		sched_yield();
	pthread_mutex_unlock(&C.sq_lock);
}

/* hal_completion_get, telling whether the ring runs (it cannot stop while the ref is held). */
static bool get_ring(void)
{
	bool ring;

	pthread_mutex_lock(&C.lock);
	if (C.refs++ == 0)
		start();
	ring = C.running;
	pthread_mutex_unlock(&C.lock);
	return ring;
}

void hal_completion_get(void)
{
	get_ring();
}

enum hal_status hal_completion_wait(int fd, int timeout_ms)
{
	struct waiter w;
	enum hal_status st;

	if (get_ring()) {
		hal_fence_reset(&w.done);
		queue_poll(fd, timeout_ms, &w);
		st = wait_ring(&w);
	} else {
		st = wait_poll(fd, timeout_ms);
	}
	hal_completion_put();
	return st;
}
