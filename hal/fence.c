/* SPDX-License-Identifier: MIT */
/*
 * fence.c - the HAL's fences (hal.h): a futex word, so that signalling one nobody waits for
 * costs a store and a syscall-free check, and a waiter sleeps in the kernel, not in a spin.
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

void hal_fence_signal(struct hal_fence *f, enum hal_status st)
{
	__atomic_store_n(&f->status, (int32_t)st, __ATOMIC_RELAXED);
	__atomic_store_n(&f->signalled, 1, __ATOMIC_RELEASE);
	futex(&f->signalled, FUTEX_WAKE_PRIVATE, INT_MAX);
}

enum hal_status hal_fence_wait(struct hal_fence *f)
{
	enum hal_status st;

	while (!hal_fence_done(f, &st))
		futex(&f->signalled, FUTEX_WAIT_PRIVATE, 0); /* EAGAIN/EINTR: test again */
	return st;
}
