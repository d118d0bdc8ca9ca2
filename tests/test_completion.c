/* SPDX-License-Identifier: MIT */
/*
 * test_completion.c - device completions on the process's io_uring (hal/completion.h): a wait
 * ends when its fd becomes readable, not before; a timeout ends it; many threads wait at once
 * through one ring and each is woken by its own fd; the ring starts with the first reference
 * and stops with the last; ENPU_NO_URING=1 forces the poll() fallback, which behaves the same.
 * Every case runs both ways.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "edge_npu.h"
#include "hal/completion.h"
#include "testutil.h"

/* Whether the kernel lets this process use io_uring (a sandbox may refuse it). */
static bool uring_allowed(void)
{
	bool ok;

	hal_completion_get();
	ok = strcmp(hal_completion_method(), "io_uring") == 0;
	hal_completion_put();
	return ok;
}

/* Takes the reference a device would, the poll() fallback forced or not. */
static void start(bool forced_poll)
{
	if (forced_poll)
		setenv("ENPU_NO_URING", "1", 1);
	else
		unsetenv("ENPU_NO_URING");
	hal_completion_get();
	if (forced_poll)
		ck_assert_str_eq(hal_completion_method(), "poll (ENPU_NO_URING=1)");
	else if (uring_allowed())
		ck_assert_str_eq(hal_completion_method(), "io_uring");
	else /* the refusal's reason is part of the method */
		ck_assert_msg(!strncmp(hal_completion_method(), "poll (io_uring refused: ", 24),
			      "%s", hal_completion_method());
	ck_assert_str_eq(enpu_completion_method(), hal_completion_method());
}

static void stop(void)
{
	hal_completion_put();
	unsetenv("ENPU_NO_URING");
}

struct writer {
	int fd;
	unsigned int delay_us;
	uint64_t written_ns;
};

static void *write_later(void *arg)
{
	struct writer *w = arg;
	const uint64_t one = 1;

	usleep(w->delay_us);
	w->written_ns = hal_now_ns();
	ck_assert_int_eq(write(w->fd, &one, sizeof(one)), sizeof(one));
	return NULL;
}

/* A wait returns once the fd is written, never before; a written fd returns at once. */
static void wait_readable(bool forced_poll)
{
	struct writer w = { .fd = eventfd(0, EFD_CLOEXEC), .delay_us = 30000 };
	pthread_t t;

	start(forced_poll);
	ck_assert_int_ge(w.fd, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, write_later, &w), 0);
	ck_assert_int_eq(hal_completion_wait(w.fd, -1), HAL_OK);
	uint64_t woke = hal_now_ns();
	pthread_join(t, NULL);
	ck_assert_uint_ge(woke, w.written_ns);
	/* still readable (the wait does not read it): a second wait ends at once */
	ck_assert_int_eq(hal_completion_wait(w.fd, 10000), HAL_OK);
	close(w.fd);
	stop();
}

START_TEST(test_wait_readable)
{
	wait_readable(_i);
}
END_TEST

/* A timeout ends a wait on an fd nobody writes, no sooner than asked; the ring goes on. */
START_TEST(test_wait_timeout)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	const uint64_t one = 1;

	start(_i);
	uint64_t t0 = hal_now_ns();
	ck_assert_int_eq(hal_completion_wait(fd, 40), HAL_ERR_DEVICE);
	ck_assert_uint_ge(hal_now_ns() - t0, 40 * 1000000ull);
	ck_assert_int_eq(hal_completion_wait(fd, 0), HAL_ERR_DEVICE);
	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(hal_completion_wait(fd, 40), HAL_OK);
	close(fd);
	stop();
}
END_TEST

/* A closed fd is an error, not a wait forever. */
START_TEST(test_bad_fd)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	start(_i);
	close(fd);
	ck_assert_int_eq(hal_completion_wait(fd, -1), HAL_ERR_DEVICE);
	stop();
}
END_TEST

enum { WAITERS = 16 };

struct waiter {
	int fd;
	enum hal_status st;
	uint64_t woke_ns;
};

static void *wait_one(void *arg)
{
	struct waiter *w = arg;

	w->st = hal_completion_wait(w->fd, 20000);
	w->woke_ns = hal_now_ns();
	return NULL;
}

/*
 * WAITERS threads wait at once; their fds are written one at a time in reverse order, each
 * after its waiter has had time to queue: every waiter wakes, and only after its own write.
 */
START_TEST(test_many_waiters)
{
	struct waiter w[WAITERS];
	uint64_t written[WAITERS];
	pthread_t t[WAITERS];
	const uint64_t one = 1;

	start(_i);
	for (int i = 0; i < WAITERS; i++) {
		w[i].fd = eventfd(0, EFD_CLOEXEC);
		ck_assert_int_ge(w[i].fd, 0);
		ck_assert_int_eq(pthread_create(&t[i], NULL, wait_one, &w[i]), 0);
	}
	usleep(20000);
	for (int i = WAITERS - 1; i >= 0; i--) {
		written[i] = hal_now_ns();
		ck_assert_int_eq(write(w[i].fd, &one, sizeof(one)), sizeof(one));
		usleep(2000);
	}
	for (int i = 0; i < WAITERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].st, HAL_OK);
		ck_assert_uint_ge(w[i].woke_ns, written[i]);
		close(w[i].fd);
	}
	stop();
}
END_TEST

/* References: the first starts the ring, the last stops it; a wait alone takes its own. */
START_TEST(test_lifetime)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const uint64_t one = 1;

	unsetenv("ENPU_NO_URING");
	ck_assert_str_eq(hal_completion_method(), "none");
	hal_completion_get();
	hal_completion_get();
	const char *m = hal_completion_method();
	hal_completion_put();
	ck_assert_str_eq(hal_completion_method(), m); /* one reference left */
	hal_completion_put();
	ck_assert_str_eq(hal_completion_method(), "none");
	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(hal_completion_wait(fd, 1000), HAL_OK); /* no reference held */
	ck_assert_str_eq(hal_completion_method(), "none");
	for (int i = 0; i < 50; i++) { /* start and stop again and again */
		hal_completion_get();
		ck_assert_int_eq(hal_completion_wait(fd, 1000), HAL_OK);
		hal_completion_put();
	}
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("completion");
	TCase *tc = tcase_create("ring");

	tcase_set_timeout(tc, 120);
	/* loop index 0: the io_uring (where the kernel allows it); 1: ENPU_NO_URING=1 */
	tcase_add_loop_test(tc, test_wait_readable, 0, 2);
	tcase_add_loop_test(tc, test_wait_timeout, 0, 2);
	tcase_add_loop_test(tc, test_bad_fd, 0, 2);
	tcase_add_loop_test(tc, test_many_waiters, 0, 2);
	tcase_add_test(tc, test_lifetime);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
