/* SPDX-License-Identifier: MIT */
/*
 * threadpool.h - the persistent workers the fast CPU kernels share.
 *
 * A pool of n threads is the caller plus n - 1 workers created once. tpool_run() hands the
 * same function to threads 0 .. nth - 1 (thread 0 is the caller, which works too) and returns
 * when all have finished: one op, one call, no thread created per op. Workers spin briefly
 * after a job (ops follow each other within microseconds during a token) and then sleep on a
 * futex, so an idle pool costs nothing.
 *
 * Not reentrant: one tpool_run() at a time per pool (the device runs one op at a time).
 */
#ifndef EDGE_NPU_CPU_THREADPOOL_H
#define EDGE_NPU_CPU_THREADPOOL_H

#include <stdbool.h>
#include <stdint.h>

struct tpool;

/* fn(arg, ith, nth): the ith of nth parts of a job; the partition is the callee's. */
typedef void (*tpool_fn)(void *arg, uint32_t ith, uint32_t nth);

/* 0 or -errno (with *out NULL). n_threads >= 1; 1 makes a pool that runs jobs inline. */
int tpool_create(uint32_t n_threads, struct tpool **out);
/* Stops and joins the workers; NULL is fine. */
void tpool_destroy(struct tpool *p);
uint32_t tpool_size(const struct tpool *p);
/* Runs fn on nth threads (1 <= nth <= size; clamped) and waits for all of them. */
void tpool_run(struct tpool *p, tpool_fn fn, void *arg, uint32_t nth);
/*
 * Whether idle workers spin for the next job (the default) or sleep at once: other threads
 * need the cores (other devices' queues in a mixed placement, PoCL, the simulated NPU).
 */
void tpool_set_spin(struct tpool *p, bool spin);
/*
 * Like tpool_run for a job whose parts share their work so that any subset of the threads
 * finishes it (each takes items until none are left): returns as soon as the caller's part
 * is done and no worker is inside fn. A worker that has not started by then (its vCPU was
 * descheduled, it was asleep) skips the job instead of making the caller wait for it.
 */
void tpool_run_shared(struct tpool *p, tpool_fn fn, void *arg, uint32_t nth);

#endif
