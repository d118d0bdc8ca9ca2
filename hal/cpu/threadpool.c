/* SPDX-License-Identifier: MIT */
/*
 * threadpool.c - persistent workers woken per job through a generation counter.
 *
 * The caller publishes (fn, arg, nth), bumps `gen` and wakes sleepers; each worker runs its
 * part and decrements `pending`; the caller runs part 0 and then waits for pending == 0.
 * Workers spin on `gen` for up to TPOOL_SPIN_NS_DEFAULT before sleeping on it with
 * FUTEX_WAIT: a decode token is ~180 ops of a few microseconds each, and a futex wake-up
 * under a hypervisor costs about as much as several of them.
 *
 * Lost wake-ups cannot happen: a worker announces itself in `sleepers` (seq_cst) before
 * FUTEX_WAIT re-checks `gen`, and the caller bumps `gen` (seq_cst) before reading `sleepers`;
 * the same handshake on `pending` / `caller_sleeps` lets the caller sleep until the last
 * worker is done.
 */
#include "threadpool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * How long a waiting thread spins before it sleeps (ENPU_CPU_SPIN_US overrides). Bounded by
 * time, not by a count of pauses: a pause costs 10 to 140 cycles depending on the CPU, and
 * the gaps to cover (a decode token's single-threaded ops between two matmuls, a few us up
 * to ~100 us for attention at long context) are times. Measured on the 130 M Q8_0 model
 * (2 vCPUs, best of 4 rounds): 0 us spin decodes 87 tokens/s, 20 us 150, 200 us 152, 1 ms
 * 145; a worker that sleeps starts each op ~20-50 us late.
 */
#define TPOOL_SPIN_NS_DEFAULT 100000ull

struct tpool_worker {
	struct tpool *pool;
	uint32_t ith;
	pthread_t thread;
};

struct tpool {
	uint32_t n;
	struct tpool_worker *workers; /* n - 1 */
	_Atomic uint32_t gen; /* job counter << 1 | 1 for a shared job */
	_Atomic uint64_t enter; /* shared job: gen << 32 | SHARED_CLOSED | workers inside */
	_Atomic uint32_t pending;
	_Atomic uint32_t sleepers;
	_Atomic uint32_t caller_sleeps; /* the caller sleeps on `pending` */
	_Atomic bool stop;
	_Atomic bool no_spin; /* tpool_set_spin(false): waiting workers sleep at once */
	uint64_t spin_ns;
	tpool_fn fn;
	void *arg;
	uint32_t nth;
};

#define SHARED_CLOSED (1ull << 31)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* The next generation after seen: spin, then sleep until it comes. */
static uint32_t wait_gen(struct tpool *p, uint32_t seen)
{
	uint32_t g;

	for (;;) {
		uint64_t t0 = now_ns();

		for (uint32_t i = 1;; i++) {
			g = atomic_load_explicit(&p->gen, memory_order_acquire);
			if (g != seen)
				return g;
			cpu_relax();
			if (i % 64 == 0 && (now_ns() - t0 > p->spin_ns ||
					    atomic_load_explicit(&p->no_spin, memory_order_relaxed)))
				break;
		}
		atomic_fetch_add(&p->sleepers, 1);
		futex_wait(&p->gen, seen);
		atomic_fetch_sub(&p->sleepers, 1);
	}
}

/*
 * A shared job: enter unless the caller has closed it (it finished without us) or moved on
 * to a later job; only then are fn and arg read, and the caller does not return while we are
 * inside.
 */
static void run_shared(struct tpool *p, uint32_t ith, uint32_t g)
{
	uint64_t v = atomic_load(&p->enter);

	do {
		if ((uint32_t)(v >> 32) != g || (v & SHARED_CLOSED))
			return;
	} while (!atomic_compare_exchange_weak(&p->enter, &v, v + 1));
	if (ith < p->nth)
		p->fn(p->arg, ith, p->nth);
	atomic_fetch_sub(&p->enter, 1);
}

static void *worker_main(void *opaque)
{
	struct tpool_worker *w = opaque;
	struct tpool *p = w->pool;
	uint32_t seen = 0;

	for (;;) {
		seen = wait_gen(p, seen);
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			break;
		if (seen & 1) {
			run_shared(p, w->ith, seen);
			continue;
		}
		if (w->ith < p->nth)
			p->fn(p->arg, w->ith, p->nth);
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps))
			futex_wake_all(&p->pending);
	}
	return NULL;
}

/* Moves to the next generation (odd: a shared job) and wakes whoever sleeps on it. */
static void publish(struct tpool *p, bool shared)
{
	uint32_t g = ((atomic_load_explicit(&p->gen, memory_order_relaxed) >> 1) + 1) << 1;

	if (shared)
		atomic_store(&p->enter, (uint64_t)(g | 1) << 32);
	atomic_store(&p->gen, g | shared);
	if (atomic_load(&p->sleepers))
		futex_wake_all(&p->gen);
}

static void wait_pending(struct tpool *p)
{
	uint32_t left;
	uint64_t t0 = now_ns();

	for (uint32_t i = 1;; i++) {
		if (!atomic_load_explicit(&p->pending, memory_order_acquire))
			return;
		cpu_relax();
		if (i % 64 == 0 && now_ns() - t0 > p->spin_ns)
			break;
	}
	atomic_store(&p->caller_sleeps, 1);
	while ((left = atomic_load(&p->pending)))
		futex_wait(&p->pending, left);
	atomic_store(&p->caller_sleeps, 0);
}

static void stop_workers(struct tpool *p, uint32_t started)
{
	atomic_store(&p->pending, started);
	atomic_store(&p->stop, true);
	publish(p, false);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(p->workers[i].thread, NULL);
}

int tpool_create(uint32_t n_threads, struct tpool **out)
{
	const char *spin_us = getenv("ENPU_CPU_SPIN_US");
	struct tpool *p;

	*out = NULL;
	if (n_threads == 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = n_threads;
	p->spin_ns = TPOOL_SPIN_NS_DEFAULT;
	if (spin_us) {
		char *end;
		unsigned long long us = strtoull(spin_us, &end, 10);

		/* at most a second: a spin that never ends would keep a core busy while idle */
		if (end == spin_us || *end || spin_us[0] == '-' || us > 1000000)
			fprintf(stderr, "edge-npu: ENPU_CPU_SPIN_US='%s' is not 0 to 1000000; "
				"spinning %llu us\n", spin_us, TPOOL_SPIN_NS_DEFAULT / 1000ull);
		else
			p->spin_ns = us * 1000ull;
	}
	p->workers = calloc(n_threads, sizeof(*p->workers));
	if (!p->workers) {
		free(p);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i + 1 < n_threads; i++) {
		p->workers[i].pool = p;
		p->workers[i].ith = i + 1;
		int err = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
		if (err) {
			stop_workers(p, i);
			free(p->workers);
			free(p);
			return -err;
		}
	}
	*out = p;
	return 0;
}

void tpool_destroy(struct tpool *p)
{
	if (!p)
		return;
	stop_workers(p, p->n - 1);
	free(p->workers);
	free(p);
}

uint32_t tpool_size(const struct tpool *p)
{
	return p->n;
}

void tpool_set_spin(struct tpool *p, bool spin)
{
	atomic_store_explicit(&p->no_spin, !spin, memory_order_relaxed);
}

void tpool_run(struct tpool *p, tpool_fn fn, void *arg, uint32_t nth)
{
	if (nth > p->n)
		nth = p->n;
	if (nth <= 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	p->nth = nth;
	/* every worker acknowledges the generation, working or not, so none lags a job behind */
	atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
	publish(p, false);
	fn(arg, 0, nth);
	wait_pending(p);
}

void tpool_run_shared(struct tpool *p, tpool_fn fn, void *arg, uint32_t nth)
{
	uint64_t v;

	if (nth > p->n)
		nth = p->n;
	if (nth <= 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	p->nth = nth;
	publish(p, true);
	fn(arg, 0, nth);
	/* close the job once no worker is inside; one that comes later skips it */
	v = atomic_load(&p->enter);
	for (;;) {
		if (v & (SHARED_CLOSED - 1)) {
			cpu_relax();
			v = atomic_load(&p->enter);
			continue;
		}
		if (atomic_compare_exchange_weak(&p->enter, &v, v | SHARED_CLOSED))
			break;
	}
}
