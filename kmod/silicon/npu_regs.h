/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_regs.h - the programming interface of one NPU engine: its register block, the command
 * ring and the memory formats the device reads and writes. This is the header a driver of the
 * silicon includes; it says nothing about how the silicon is built (npu_device.h does).
 *
 * Registers are 32 bits wide, at byte offsets from the engine's register base; 64-bit values
 * are pairs (LO at the lower offset). Reads of unknown offsets return 0, writes to read-only
 * or unknown offsets are ignored.
 *
 * The ring: RING_SIZE descriptors (a power of two, up to %NPU_RING_MAX_SIZE) of
 * &struct npu_ring_desc at RING_BASE in device memory. RING_TAIL and RING_HEAD are free-running
 * counters; descriptor n lives in slot n % RING_SIZE. The driver writes descriptors, advances
 * RING_TAIL past them and writes DOORBELL. The device runs descriptors in order, one at a
 * time; when one ends it writes its &struct npu_job_result at result_addr, advances RING_HEAD
 * past it and raises %NPU_IRQ_JOB_DONE (and %NPU_IRQ_JOB_ERROR if it failed). The ring is
 * full when RING_TAIL - RING_HEAD == RING_SIZE.
 *
 * Addresses: the ring, and a descriptor's stream, buffer table and result record are the
 * driver's own memory, at the addresses the driver knows it by (on silicon: a kernel address
 * space of the device; here the host's pointers). The data a job's commands touch is reached
 * only through the device MMU (npu_mmu.h): the buffer table holds device virtual addresses
 * in the address space of the descriptor's slot (@as), every access is translated there, and
 * an access to an unmapped page, or against its permissions, is a fault that ends the job
 * (%NPU_RESULT_FAULT, %NPU_IRQ_MMU_FAULT, MMU_FAULT_* registers). Every access is also
 * bounded by the buffer table's sizes and checked by the device's validator before the job
 * runs.
 */
#ifndef NPU_REGS_H
#define NPU_REGS_H

#include "npu_engine.h"

/* ---- identification (read-only) ---------------------------------------------------------- */
#define NPU_REG_ID		0x000	/* NPU_ID_VALUE */
#define NPU_REG_VERSION		0x004	/* major << 16 | minor of this interface */
#define NPU_REG_CAPS		0x008	/* NPU_CAPS_* */
#define NPU_REG_MAC_ARRAY	0x00c	/* rows << 16 | cols of the int8 MAC array */
#define NPU_REG_SRAM_KIB	0x010	/* on-chip SRAM */
#define NPU_REG_NUM_OPPS	0x014	/* operating points (CLOCK takes 0..NUM_OPPS-1) */

#define NPU_ID_VALUE		0x4e505530u	/* "NPU0" */
#define NPU_VERSION_VALUE	0x00010001u	/* 1.1: the MMU */
#define NPU_CAPS_DEBUG_STALL	(1u << 0)	/* accepts ENPU_OP_DEBUG_STALL */

/* ---- control ------------------------------------------------------------------------------ */
#define NPU_REG_CONTROL		0x020	/* rw: NPU_CONTROL_* */
#define NPU_REG_STATUS		0x024	/* ro: NPU_STATUS_* */
#define NPU_REG_RESET		0x028	/* w 1: soft reset; reads 1 until done */
#define NPU_REG_DOORBELL	0x02c	/* w any: RING_TAIL moved, fetch */
#define NPU_REG_POWER		0x030	/* rw: 1 on, 0 off (idle only; SRAM lost) */
#define NPU_REG_CLOCK		0x034	/* rw: OPP index, from the next job on */
#define NPU_REG_HANG_US		0x038	/* rw: hang detector (npu_device.c), 0 off */

#define NPU_CONTROL_ENABLE	(1u << 0)	/* the ring consumer runs */

#define NPU_STATUS_BUSY		(1u << 0)	/* a job is on the engine */
#define NPU_STATUS_HUNG		(1u << 1)	/* the engine stopped making progress */
#define NPU_STATUS_RESETTING	(1u << 2)
#define NPU_STATUS_POWERED	(1u << 3)
#define NPU_STATUS_THERMAL	(1u << 4)	/* TEMP_MC reached THERM_CRIT_MC: lowest clock */

/* ---- the ring ----------------------------------------------------------------------------- */
#define NPU_REG_RING_BASE_LO	0x040	/* rw: device address of slot 0 */
#define NPU_REG_RING_BASE_HI	0x044
#define NPU_REG_RING_SIZE	0x048	/* rw: slots, a power of two, 0 = no ring */
#define NPU_REG_RING_HEAD	0x04c	/* ro: descriptors the device has ended */
#define NPU_REG_RING_TAIL	0x050	/* rw: descriptors the driver has posted */

#define NPU_RING_MAX_SIZE	4096

/* ---- interrupts --------------------------------------------------------------------------- */
#define NPU_REG_IRQ_STATUS	0x060	/* ro: NPU_IRQ_* raised and not cleared */
#define NPU_REG_IRQ_MASK	0x064	/* rw: NPU_IRQ_* that assert the line */
#define NPU_REG_IRQ_CLEAR	0x068	/* w1c: clears IRQ_STATUS bits */

#define NPU_IRQ_JOB_DONE	(1u << 0)	/* RING_HEAD advanced */
#define NPU_IRQ_JOB_ERROR	(1u << 1)	/* ... past a job that failed */
#define NPU_IRQ_MMU_FAULT	(1u << 2)	/* ... past a job that faulted (MMU_FAULT_*) */

/* ---- counters (read-only, cumulative since power-on; 64-bit LO/HI pairs) ------------------ */
#define NPU_REG_CYCLES_LO	0x080	/* modeled busy cycles */
#define NPU_REG_CYCLES_HI	0x084
#define NPU_REG_ENERGY_LO	0x088	/* modeled energy, pJ */
#define NPU_REG_ENERGY_HI	0x08c
#define NPU_REG_JOBS_LO		0x090	/* jobs completed */
#define NPU_REG_JOBS_HI		0x094
#define NPU_REG_ERRORS_LO	0x098	/* jobs failed, hung or aborted */
#define NPU_REG_ERRORS_HI	0x09c
#define NPU_REG_TEMP_MC		0x0a0	/* ro: die temperature, mdegC (npu_thermal.h) */
#define NPU_REG_THERM_POWER_UW	0x0a4	/* ro: core power the die last heated with, uW */
/*
 * rw: the device's own protection, mdegC (0: off). From the first job fetched at or above it,
 * jobs run at the lowest operating point whatever CLOCK says, and STATUS.THERMAL is set,
 * until the die is NPU_THERM_CRIT_HYST_MC below it. 105 degC at power-on; kept across resets.
 */
#define NPU_REG_THERM_CRIT_MC	0x0a8
#define NPU_THERM_CRIT_DEFAULT_MC	105000
#define NPU_THERM_CRIT_HYST_MC		5000

/* ---- the MMU (npu_mmu.h) ------------------------------------------------------------------- */
#define NPU_REG_MMU_FAULT_ADDR_LO	0x0b0	/* ro: address of the last fault */
#define NPU_REG_MMU_FAULT_ADDR_HI	0x0b4
#define NPU_REG_MMU_FAULT_STATUS	0x0b8	/* ro: its NPU_FAULT_* bits (0: none since reset) */

/*
 * Address-space slots: slot n at NPU_REG_AS_BASE + n * NPU_REG_AS_STRIDE. TRANSTAB is the
 * physical address of the slot's level-0 table (0: the slot is off; any job naming it faults
 * at its first access); COMMAND takes NPU_AS_COMMAND_FLUSH (empties the TLB).
 */
#define NPU_REG_AS_BASE			0x100
#define NPU_REG_AS_STRIDE		0x10
#define NPU_REG_AS_TRANSTAB_LO		0x0	/* rw, relative to the slot */
#define NPU_REG_AS_TRANSTAB_HI		0x4
#define NPU_REG_AS_COMMAND		0x8	/* wo */
#define NPU_AS_COMMAND_FLUSH		1u

/* The register offset of slot n's register r (NPU_REG_AS_*). */
#define NPU_REG_AS(n, r)	(NPU_REG_AS_BASE + (n) * NPU_REG_AS_STRIDE + (r))

/*
 * Debug registers of the simulated silicon: the longest slice of engine work in host time and
 * the slice count since reset. Silicon has no such thing; they measure the model's
 * preemptibility (the kernel must never be held longer than one slice).
 */
#define NPU_REG_DBG_SLICE_MAX_NS_LO	0x0f0
#define NPU_REG_DBG_SLICE_MAX_NS_HI	0x0f4
#define NPU_REG_DBG_SLICES_LO		0x0f8
#define NPU_REG_DBG_SLICES_HI		0x0fc

/*
 * Simulation control, rw: paces jobs to the clock. The model computes a job at host speed;
 * with SIM_PACE = N (1 to NPU_SIM_PACE_MAX) it holds the job's completion (result, RING_HEAD,
 * interrupt) until N times the job's modeled duration at its operating point has passed on the
 * host's clock since the job started, so that DVFS changes wall time and busy time as it
 * changes modeled time. N = 1 is real time; a larger N is a slowed-down device, for hosts that
 * compute the model more slowly than the silicon it models would run (the default MAC array
 * does 1024 MACs a cycle: most jobs take longer on the host than their modeled time, and are
 * not held at all at N = 1). The job stays BUSY meanwhile and a reset still aborts it. Read at
 * each job's end; 0 (off) at power-on, so that tests run fast, and kept across resets (it is
 * the simulation's setting, not the device's state). Silicon has no such register.
 */
#define NPU_REG_SIM_PACE		0x0e0

/*
 * Simulation control, rw: the thermal path of the die (npu_thermal.h), which on silicon is
 * the package and board's, not a register: R in mK/W, C in nJ/K, ambient in mdegC. Power-on
 * values are npu_default_thermal's; a write takes effect from the next step of the model (the
 * temperature above ambient is kept) and is kept across resets. The model advances in
 * modeled time: a job's modeled duration at its clock while it runs (its core energy spread
 * over it), and the host's time divided by SIM_PACE (when set) while idle.
 */
#define NPU_REG_SIM_THERM_R	0x0c0
#define NPU_REG_SIM_THERM_C	0x0c4
#define NPU_REG_SIM_THERM_AMBIENT	0x0c8
#define NPU_SIM_PACE_MAX		1000000

#define NPU_REG_BLOCK_SIZE	0x200

/**
 * struct npu_ring_desc - one job in the ring (64 bytes, little-endian).
 * @stream_addr: driver address of the command stream (ISA: uapi/edge_npu_isa.h).
 * @bufs_addr: driver address of @nbufs &struct npu_buf_desc, the job's buffer table.
 * @result_addr: where the device writes the job's &struct npu_job_result when it ends.
 * @stream_len: bytes of the stream.
 * @nbufs: entries of the buffer table, at most %NPU_DEV_MAX_BUFS.
 * @flags: 0.
 * @as: the address-space slot (0..%NPU_AS_SLOTS - 1) the buffers' addresses are in.
 * @reserved: 0.
 *
 * The device reads the descriptor, the stream and the table when it starts the job; the driver
 * must keep all three unchanged until the job ends.
 */
struct npu_ring_desc {
	u64 stream_addr;
	u64 bufs_addr;
	u64 result_addr;
	u32 stream_len;
	u32 nbufs;
	u32 flags;
	u32 as;
	u32 reserved[4];
};

#define NPU_DEV_MAX_BUFS	256

/**
 * struct npu_buf_desc - one entry of a job's buffer table (32 bytes).
 * @addr: device virtual address of the buffer in the descriptor's address space.
 * @size: its bytes.
 * @id: identity of its storage for SRAM weight residency (&npu_buffer.id; 0 = none).
 * @flags: %ENPU_BUF_F_READ and/or %ENPU_BUF_F_WRITE.
 * @reserved: 0.
 */
struct npu_buf_desc {
	u64 addr;
	u64 size;
	u64 id;
	u32 flags;
	u32 reserved;
};

/**
 * enum npu_result_state - how a job ended (&npu_job_result.state).
 * @NPU_RESULT_PENDING: not ended (the driver zeroes the record before posting).
 * @NPU_RESULT_DONE: every command ran.
 * @NPU_RESULT_REFUSED: the stream or descriptor was invalid; nothing ran.
 * @NPU_RESULT_HUNG: the engine hung (debug stall) and the hang detector ended the job.
 * @NPU_RESULT_ABORTED: a reset stopped the job (its result is written before RESET reads 0).
 * @NPU_RESULT_FAULT: an access of the job faulted in the MMU; the job stopped there.
 */
enum npu_result_state {
	NPU_RESULT_PENDING,
	NPU_RESULT_DONE,
	NPU_RESULT_REFUSED,
	NPU_RESULT_HUNG,
	NPU_RESULT_ABORTED,
	NPU_RESULT_FAULT,
};

/**
 * struct npu_job_result - what the device writes at &npu_ring_desc.result_addr.
 * @state: an &enum npu_result_state.
 * @fault_status: for %NPU_RESULT_FAULT, the fault's NPU_FAULT_* bits (npu_mmu.h); else 0.
 * @status: the engine's verdict (code, command index, reason).
 * @stats: the job's modeled counters.
 * @fault_addr: for %NPU_RESULT_FAULT, the device address that faulted; else 0.
 */
struct npu_job_result {
	u32 state;
	u32 fault_status;
	struct npu_status status;
	struct npu_job_stats stats;
	u64 fault_addr;
};

#endif
