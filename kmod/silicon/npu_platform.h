/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_platform.h - what the simulated silicon needs from the machine it is simulated on.
 *
 * Hardware runs by itself; a model of it needs a thread to run on, a lock for the state its
 * registers share with that thread, a way to sleep and be woken, a clock, and an interrupt
 * line into the driver. The host supplies them in this table, once for the kernel
 * (kmod/edge_npu_platform.c: kthread, spinlock, wait queue, irq_work into a Linux IRQ) and once
 * for user space (hal/npu/npu_platform.c: pthreads), so that the model (npu_device.c) is one
 * source. Every call gets the host's own pointer back.
 */
#ifndef NPU_PLATFORM_H
#define NPU_PLATFORM_H

#include "npu_engine_types.h"

/**
 * struct npu_platform_ops - the host's services to one device model.
 * @start: runs @main(@arg) on a new execution context of the host (the device's "clock");
 *	returns 0, or nonzero if it cannot.
 * @join: waits until @main has returned (the model returns once asked to stop).
 * @lock: takes the device lock (never held across engine work; never taken by @irq's
 *	caller's handler in atomic context: handlers run in a thread).
 * @unlock: releases it.
 * @wait: with the lock held: releases it, sleeps until @wake or @timeout_ns (0: no timeout)
 *	passes, retakes it. May return early; the model re-checks its state.
 * @wake: with the lock held: ends a @wait (the host may deliver it when the lock is released).
 * @yield: without the lock: lets the host run other work between two slices.
 * @now_ns: a monotonic clock.
 * @irq: without the lock: asserts the interrupt line (edge); the driver's handler runs later,
 *	on another context, and reads the registers.
 * @phys_to_ptr: without the lock: where the model reaches the memory at a "physical" address
 *	its MMU found in a page table (the kernel's direct map of a page; in process the address
 *	itself); NULL if there is none (the access faults).
 */
struct npu_platform_ops {
	int (*start)(void *host, void (*main)(void *arg), void *arg);
	void (*join)(void *host);
	void (*lock)(void *host);
	void (*unlock)(void *host);
	void (*wait)(void *host, u64 timeout_ns);
	void (*wake)(void *host);
	void (*yield)(void *host);
	u64 (*now_ns)(void *host);
	void (*irq)(void *host);
	void *(*phys_to_ptr)(void *host, u64 phys);
};

#endif
