/* SPDX-License-Identifier: MIT */
/*
 * npu_platform.h - the simulated silicon's platform services in user space: the device model's
 * execution context is a pthread, its lock a mutex, its sleep a condition variable, its clock
 * CLOCK_MONOTONIC, and its interrupt line a plain call of the driver's handler on the device's
 * thread (see kmod/silicon/npu_platform.h for the contract).
 */
#ifndef EDGE_NPU_NPU_PLATFORM_H
#define EDGE_NPU_NPU_PLATFORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kmod/silicon/npu_platform.h"

/* One device model's host: its thread, lock and wake-up, and the driver's interrupt handler. */
struct npu_pthread_host {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wake_pending; /* a wake to signal at the next unlock */
	void (*main)(void *arg);
	void *arg;
	void (*irq)(void *ctx);
	void *irq_ctx;
	/*
	 * Tests: while set, the device's thread stops before its next slice and before raising
	 * its interrupt, as a worker that stalls would (npu_sim_debug_freeze).
	 */
	atomic_bool frozen;
};

extern const struct npu_platform_ops npu_pthread_ops;

/* Sets up the lock and condition; irq(irq_ctx) is the handler of the interrupt line. */
void npu_pthread_host_init(struct npu_pthread_host *h, void (*irq)(void *ctx), void *irq_ctx);
/* Frees them (the device's thread has been joined by npu_dev_stop). */
void npu_pthread_host_destroy(struct npu_pthread_host *h);

#endif
