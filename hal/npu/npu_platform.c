/* SPDX-License-Identifier: MIT */
/* npu_platform.c - the device model's platform services over pthreads (see npu_platform.h). */
#include "hal/npu/npu_platform.h"

#include <sched.h>
#include <stdbool.h>
#include <time.h>

static struct npu_pthread_host *to_host(void *host)
{
	return host;
}

static void *thread_main(void *arg)
{
	struct npu_pthread_host *h = arg;

	h->main(h->arg);
	return NULL;
}

static int p_start(void *host, void (*main)(void *arg), void *arg)
{
	struct npu_pthread_host *h = to_host(host);

	h->main = main;
	h->arg = arg;
	return pthread_create(&h->thread, NULL, thread_main, h);
}

static void p_join(void *host)
{
	pthread_join(to_host(host)->thread, NULL);
}

static void p_lock(void *host)
{
	pthread_mutex_lock(&to_host(host)->lock);
}

/*
 * A wake asked for under the lock is signalled after the unlock: the woken thread would
 * otherwise wake only to block on the mutex (two more context switches). The waiter re-checks
 * the state it waits for under the lock, so no wake-up can be lost.
 */
static void p_unlock(void *host)
{
	struct npu_pthread_host *h = to_host(host);
	bool wake = h->wake_pending;

	h->wake_pending = false;
	pthread_mutex_unlock(&h->lock);
	if (wake)
		pthread_cond_signal(&h->cond);
}

static u64 p_now_ns(void *host)
{
	struct timespec ts;

	(void)host;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static void p_wait(void *host, u64 timeout_ns)
{
	struct npu_pthread_host *h = to_host(host);
	u64 due = p_now_ns(host) + timeout_ns;
	struct timespec ts = { (time_t)(due / 1000000000ull), (long)(due % 1000000000ull) };

	if (timeout_ns)
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	else
		pthread_cond_wait(&h->cond, &h->lock);
}

static void p_wake(void *host)
{
	to_host(host)->wake_pending = true;
}

/* A frozen device thread waits here (called by it alone, with the device lock released). */
static void thaw_wait(struct npu_pthread_host *h)
{
	const struct timespec ms = { 0, 1000000 };

	while (atomic_load(&h->frozen))
		nanosleep(&ms, NULL);
}

static void p_yield(void *host)
{
	thaw_wait(to_host(host));
	sched_yield();
}

static void p_irq(void *host)
{
	struct npu_pthread_host *h = to_host(host);

	thaw_wait(h);
	h->irq(h->irq_ctx);
}

/* In process a "physical" address is the host address of the page: the process's own memory. */
static void *p_phys_to_ptr(void *host, uint64_t phys)
{
	(void)host;
	return (void *)(uintptr_t)phys;
}

const struct npu_platform_ops npu_pthread_ops = {
	.start = p_start,
	.join = p_join,
	.lock = p_lock,
	.unlock = p_unlock,
	.wait = p_wait,
	.wake = p_wake,
	.yield = p_yield,
	.now_ns = p_now_ns,
	.irq = p_irq,
	.phys_to_ptr = p_phys_to_ptr,
};

void npu_pthread_host_init(struct npu_pthread_host *h, void (*irq)(void *ctx), void *irq_ctx)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* p_wait's deadlines */
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	h->irq = irq;
	h->irq_ctx = irq_ctx;
	atomic_init(&h->frozen, false);
}

void npu_pthread_host_destroy(struct npu_pthread_host *h)
{
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
}
