/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_device.h - the device model of one NPU engine: the register block of npu_regs.h, the
 * ring consumer, the engine running jobs in slices on the device's own execution context, the
 * hang detector and the interrupt line. The only code of the stack that knows the NPU is
 * simulated.
 *
 * A driver sees nothing of this header but npu_dev_read()/npu_dev_write(): its register
 * backend. The host (kernel module or hal/npu) allocates the &struct npu_device, gives it a
 * &struct npu_platform_ops and starts it; from then on the device's context fetches
 * descriptors after each DOORBELL, runs them %NPU_SLICE_WORK at a time with the lock released
 * and a yield between slices, checks for a reset request at every slice boundary, and raises
 * its interrupt when a job ends.
 *
 * Threading: npu_dev_read() and npu_dev_write() take the device lock and may be called from
 * any context that may take it (in the kernel: process or threaded-IRQ context).
 */
#ifndef NPU_DEVICE_H
#define NPU_DEVICE_H

#include "npu_engine.h"
#include "npu_mmu.h"
#include "npu_platform.h"
#include "npu_regs.h"
#include "npu_thermal.h"

/**
 * struct npu_device - one engine's device model; plain data owned by the host.
 * @ops: the host's services.
 * @host: their argument.
 * @engine: the compute engine and its counters.
 * @job: the job on the engine (@engine's cursor). Only the device's context reads it: the
 *   engine writes it with the lock released.
 * @busy: a job holds the engine, from its fetch to its end (under the lock: what register
 *   reads and writes from the host look at instead of @job's state).
 * @bufs: the job's buffers, from its buffer table (device virtual addresses).
 * @mmu: the MMU every access of the job goes through (its TLB and staging buffers).
 * @as_root: AS_n_TRANSTAB of each slot.
 * @tlb_flush: AS_n_COMMAND FLUSH was written; applied before the next slice.
 * @fault_addr: MMU_FAULT_ADDR.
 * @fault_status: MMU_FAULT_STATUS.
 * @job_result: device address of the job's result record.
 * @control: CONTROL.
 * @power: POWER.
 * @clock: CLOCK.
 * @hang_us: HANG_US.
 * @ring_base: RING_BASE.
 * @ring_size: RING_SIZE.
 * @ring_head: RING_HEAD.
 * @ring_tail: RING_TAIL.
 * @irq_status: IRQ_STATUS.
 * @irq_mask: IRQ_MASK.
 * @reset: a reset was requested and is not done.
 * @stop: the host asked the context to return.
 * @stalled_since: host time the engine hung at (0: not hung).
 * @slice_max_ns: longest slice (debug register).
 * @slices: slices run (debug register).
 * @pace: SIM_PACE.
 * @job_start_ns: host time the job on the engine was fetched.
 * @pace_due_ns: host time a computed job may complete at (0: not held for pacing).
 * @therm: the die's thermal model (SIM_THERM_*, TEMP_MC).
 * @therm_ns: host time up to which @therm has been advanced (idle time after it is not yet).
 * @therm_crit_mc: THERM_CRIT_MC.
 * @hot: the device's protection is engaged (STATUS.THERMAL).
 */
struct npu_device {
	const struct npu_platform_ops *ops;
	void *host;
	struct npu_engine engine;
	struct npu_exec job;
	u32 busy;
	struct npu_buffer bufs[NPU_DEV_MAX_BUFS];
	struct npu_mmu mmu;
	u64 as_root[NPU_AS_SLOTS];
	u32 tlb_flush;
	u64 fault_addr;
	u32 fault_status;
	u64 job_result;
	u32 control;
	u32 power;
	u32 clock;
	u32 hang_us;
	u64 ring_base;
	u32 ring_size;
	u32 ring_head;
	u32 ring_tail;
	u32 irq_status;
	u32 irq_mask;
	u32 reset;
	u32 stop;
	u64 stalled_since;
	u64 slice_max_ns;
	u64 slices;
	u32 pace;
	u64 job_start_ns;
	u64 pace_due_ns;
	struct npu_thermal therm;
	u64 therm_ns;
	s32 therm_crit_mc;
	u32 hot;
};

/**
 * npu_dev_init() - puts a device in its power-on state (powered, ring disabled, IRQs masked).
 * @d: the device.
 * @ops: the host's services (must stay valid).
 * @host: their argument.
 * @caps: %NPU_CAP_* of the engine (%NPU_CAP_DEBUG: accept debug stalls).
 */
void npu_dev_init(struct npu_device *d, const struct npu_platform_ops *ops, void *host, u32 caps);

/**
 * npu_dev_start() - starts the device's execution context.
 * @d: the device.
 *
 * Return: 0, or -1 if the host cannot start it.
 */
int npu_dev_start(struct npu_device *d);

/**
 * npu_dev_stop() - stops the device: a running job is abandoned at its next slice boundary
 *	(no result, no interrupt), and the context has returned when this returns.
 * @d: the device.
 */
void npu_dev_stop(struct npu_device *d);

/**
 * npu_dev_read() - reads a register.
 * @d: the device.
 * @off: its byte offset (NPU_REG_*).
 *
 * Return: its value; 0 for unknown offsets.
 */
u32 npu_dev_read(struct npu_device *d, u32 off);

/**
 * npu_dev_write() - writes a register.
 * @d: the device.
 * @off: its byte offset (NPU_REG_*).
 * @val: the value.
 */
void npu_dev_write(struct npu_device *d, u32 off, u32 val);

#endif
