/* SPDX-License-Identifier: MIT */
/*
 * fence.c - the HAL's fences (hal.h): a futex word, so that signalling one nobody waits for
 * costs an atomic exchange and no system call, and a waiter sleeps in the kernel, not in a
 * spin.
 */
#include "hal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* The futex word: 0 pending, 1 signalled, 2 pending with a thread asleep on it. */
void hal_fence_signal(struct hal_fence *f, enum hal_status st)
{
	__atomic_store_n(&f->status, (int32_t)st, __ATOMIC_RELAXED);
	/* a signal nobody sleeps on costs no system call: the dispatcher signals every op */
	if (__atomic_exchange_n(&f->signalled, 1, __ATOMIC_RELEASE) == 2)
		futex(&f->signalled, FUTEX_WAKE_PRIVATE, INT_MAX);
}

enum hal_status hal_fence_wait(struct hal_fence *f)
{
	enum hal_status st;

	while (!hal_fence_done(f, &st)) {
		uint32_t pending = 0;

		/* announce the sleeper, then sleep while still pending (EAGAIN/EINTR: test again) */
		if (__atomic_compare_exchange_n(&f->signalled, &pending, 2, false, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE) || pending == 2)
			futex(&f->signalled, FUTEX_WAIT_PRIVATE, 2);
	}
	return st;
}
