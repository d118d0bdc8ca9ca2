/* SPDX-License-Identifier: MIT */
/*
 * completion.h - device completions, waited for on one io_uring per process.
 *
 * Every backend learns that its device finished a job from a file descriptor that becomes
 * readable: the in-process NPU's eventfd fences (hal/npu), a sync_file exported from the
 * kernel driver's syncobj (hal/npu_drm), an eventfd written by an OpenCL event callback
 * (hal/opencl). Rather than each waiting thread blocking in a poll() of its own, the process
 * watches all of them on one io_uring: a wait queues an IORING_OP_POLL_ADD on its fd (with a
 * linked timeout when it has one) and gets a HAL fence (hal.h) that is signalled when the
 * poll's completion arrives. One of the waiting threads at a time reaps the ring for all of
 * them; the others sleep until it has signalled their fences (completion.c says why there is
 * no thread of its own). The ring is the one place where device completions meet, whatever
 * the device.
 *
 * Where the kernel refuses io_uring (some sandboxes: io_uring_queue_init fails with EPERM or
 * ENOSYS), or when the environment asks for it with ENPU_NO_URING=1, each wait is a poll() in
 * the waiting thread instead; the results are the same. A refusal is reported once per
 * process on stderr; hal_completion_method() says which way is in use, and why.
 *
 * Lifetime: the ring is set up with the first reference (hal_completion_get, which every
 * device that waits takes when it is created) and torn down with the last put, so a process
 * that closes its devices keeps no ring. A wait outside any reference takes one for itself.
 * Thread-safe: any thread may wait, get and put.
 */
#ifndef EDGE_NPU_HAL_COMPLETION_H
#define EDGE_NPU_HAL_COMPLETION_H

#include "hal/hal.h"

/*
 * Blocks until fd is readable (POLLIN; also on POLLERR/POLLHUP) or timeout_ms passes (< 0:
 * no timeout). Does not read fd. Returns HAL_OK once readable, HAL_ERR_DEVICE on timeout or
 * when the wait itself failed (a bad fd).
 */
enum hal_status hal_completion_wait(int fd, int timeout_ms);

/* Takes a reference on the process's completion ring, starting it on the first one. */
void hal_completion_get(void);
/* Drops it; the last put frees the ring. */
void hal_completion_put(void);

/*
 * How this process waits for device completions, for tools and tests: "io_uring" while a ring
 * runs, "poll (<why>)" when it falls back (ENPU_NO_URING=1, or the kernel's refusal), or
 * "none" while no reference is held. Static storage.
 */
const char *hal_completion_method(void);

#endif
