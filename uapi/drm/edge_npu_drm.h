/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * edge_npu_drm.h - the DRM user-space API of the edge-npu driver (kmod/edge_npu.ko).
 *
 * The device is a render node (/dev/dri/renderD*) on kernels without CONFIG_DRM_ACCEL and an
 * accel node (/dev/accel/accel*) where it exists; find it by driver name ("edge_npu", from
 * DRM_IOCTL_VERSION). A job is a command stream of the ISA in <edge_npu_isa.h> held in a
 * buffer object (BO), plus the list of buffers the stream names by index, submitted to a
 * context.
 *
 * Device memory: each context has its own device virtual address space (48 bits, 4 KiB
 * pages), whose page tables the driver builds and the device's MMU walks. VM_BIND maps a
 * range of a BO at an address the caller chooses in the user half
 * [%DRM_EDGE_NPU_VA_USER_START, %DRM_EDGE_NPU_VA_USER_END), pinning only those pages; a job's
 * buffer entry then names an address range (%DRM_EDGE_NPU_BO_VA). A job that touches an
 * address its context has not mapped, or writes a page mapped read-only, is stopped by a
 * device fault: its fence signals -EFAULT, the context becomes guilty (its later SUBMITs fail
 * with -ECANCELED; CTX_QUERY reports %DRM_EDGE_NPU_CTX_GUILTY and the address) and nothing of
 * another context is touched. A buffer entry that names a BO handle (without
 * %DRM_EDGE_NPU_BO_VA, the interface before VM_BIND) still works: the driver maps the pages
 * of the BO the stream touches into the context's kernel half for the job's duration.
 *
 * Extensibility follows the kernel's accel drivers: structs only grow at the end (the DRM core
 * zero-extends a shorter struct from older user space), every reserved field and undefined
 * flag bit must be zero (else -EINVAL), and arrays of structs carry their element size so that
 * elements can grow too. Fields marked "out" are ignored on input.
 *
 * Errors, for every ioctl: -EFAULT for an unreadable user pointer, -EINVAL for a nonzero
 * reserved field, an undefined flag, a size or offset out of range, -ENOENT for a handle (BO,
 * context, syncobj) that does not exist in this file, -ENOMEM when memory runs out.
 */
#ifndef _UAPI_EDGE_NPU_DRM_H
#define _UAPI_EDGE_NPU_DRM_H

#include "drm.h"

#if defined(__cplusplus)
extern "C" {
#endif

#define DRM_EDGE_NPU_GET_PARAM		0x00
#define DRM_EDGE_NPU_BO_CREATE		0x01
#define DRM_EDGE_NPU_BO_MMAP_OFFSET	0x02
#define DRM_EDGE_NPU_BO_WAIT		0x03
#define DRM_EDGE_NPU_CTX_CREATE		0x04
#define DRM_EDGE_NPU_CTX_DESTROY	0x05
#define DRM_EDGE_NPU_SUBMIT		0x06
#define DRM_EDGE_NPU_CTX_QUERY		0x07
#define DRM_EDGE_NPU_VM_BIND		0x08

/**
 * enum drm_edge_npu_param - what DRM_IOCTL_EDGE_NPU_GET_PARAM reports.
 * @DRM_EDGE_NPU_PARAM_ISA_VERSION: %ENPU_ISA_VERSION of the engine.
 * @DRM_EDGE_NPU_PARAM_NUM_ENGINES: independent engines (one scheduler queue each).
 * @DRM_EDGE_NPU_PARAM_SRAM_BYTES: on-chip SRAM per engine, bytes.
 * @DRM_EDGE_NPU_PARAM_MAC_ROWS: MAC array height (reduction direction).
 * @DRM_EDGE_NPU_PARAM_MAC_COLS: MAC array width (output direction).
 * @DRM_EDGE_NPU_PARAM_NUM_OPPS: operating points.
 * @DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ: clock of operating point &drm_edge_npu_get_param.index
 *	(0 = lowest).
 * @DRM_EDGE_NPU_PARAM_OPP_VOLT_UV: core voltage of operating point @index, microvolts.
 * @DRM_EDGE_NPU_PARAM_CAPABILITIES: &DRM_EDGE_NPU_CAP_* bits.
 * @DRM_EDGE_NPU_PARAM_MAX_STREAM_BYTES: largest command stream accepted.
 * @DRM_EDGE_NPU_PARAM_MAX_BOS: largest &drm_edge_npu_submit.num_bos.
 * @DRM_EDGE_NPU_PARAM_CUR_FREQ_HZ: the clock now (devfreq may change it at any time).
 */
enum drm_edge_npu_param {
	DRM_EDGE_NPU_PARAM_ISA_VERSION = 0,
	DRM_EDGE_NPU_PARAM_NUM_ENGINES = 1,
	DRM_EDGE_NPU_PARAM_SRAM_BYTES = 2,
	DRM_EDGE_NPU_PARAM_MAC_ROWS = 3,
	DRM_EDGE_NPU_PARAM_MAC_COLS = 4,
	DRM_EDGE_NPU_PARAM_NUM_OPPS = 5,
	DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ = 6,
	DRM_EDGE_NPU_PARAM_OPP_VOLT_UV = 7,
	DRM_EDGE_NPU_PARAM_CAPABILITIES = 8,
	DRM_EDGE_NPU_PARAM_MAX_STREAM_BYTES = 9,
	DRM_EDGE_NPU_PARAM_MAX_BOS = 10,
	DRM_EDGE_NPU_PARAM_CUR_FREQ_HZ = 11,
};

/** DRM_EDGE_NPU_CAP_DEBUG_STALL - %ENPU_OP_DEBUG_STALL is accepted (module debug_stall=1). */
#define DRM_EDGE_NPU_CAP_DEBUG_STALL	(1ull << 0)
/** DRM_EDGE_NPU_CAP_DEVFREQ - the clock is scaled by devfreq. */
#define DRM_EDGE_NPU_CAP_DEVFREQ	(1ull << 1)
/** DRM_EDGE_NPU_CAP_PRIME - BOs can be exported and imported as dma-bufs. */
#define DRM_EDGE_NPU_CAP_PRIME		(1ull << 2)
/** DRM_EDGE_NPU_CAP_VM_BIND - per-context address spaces: VM_BIND, %DRM_EDGE_NPU_BO_VA. */
#define DRM_EDGE_NPU_CAP_VM_BIND	(1ull << 3)
/**
 * DRM_EDGE_NPU_CAP_SUBMIT_FREQ - SUBMIT takes a clock request (&drm_edge_npu_submit.freq_khz)
 * and CTX_QUERY reports the clock and priority (&drm_edge_npu_ctx_query.last_freq_khz,
 * &drm_edge_npu_ctx_query.priority). A kernel without it ignores those fields (the DRM core
 * drops the tail of a struct longer than the kernel's), so user space checks this bit first.
 */
#define DRM_EDGE_NPU_CAP_SUBMIT_FREQ	(1ull << 4)

/** DRM_EDGE_NPU_VA_USER_START - lowest address VM_BIND maps (page 0 never maps). */
#define DRM_EDGE_NPU_VA_USER_START	(1ull << 12)
/** DRM_EDGE_NPU_VA_USER_END - end of the half VM_BIND maps; the driver's half is above. */
#define DRM_EDGE_NPU_VA_USER_END	(1ull << 47)

/**
 * struct drm_edge_npu_get_param - DRM_IOCTL_EDGE_NPU_GET_PARAM.
 * @param: in, an &enum drm_edge_npu_param; -EINVAL if unknown.
 * @index: in, the operating point for the OPP params (-EINVAL if out of range), else zero.
 * @value: out.
 */
struct drm_edge_npu_get_param {
	__u32 param;
	__u32 index;
	__u64 value;
};

/**
 * struct drm_edge_npu_bo_create - DRM_IOCTL_EDGE_NPU_BO_CREATE: a shmem-backed BO.
 * @size: in, bytes, 1..2^32; rounded up to pages.
 * @flags: in, zero (none defined).
 * @handle: out, the GEM handle.
 * @reserved: zero.
 * @actual_size: out, the size after rounding.
 */
struct drm_edge_npu_bo_create {
	__u64 size;
	__u32 flags;
	__u32 handle;
	__u64 reserved;
	__u64 actual_size;
};

/**
 * struct drm_edge_npu_bo_mmap_offset - DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET.
 * @handle: in, the BO.
 * @reserved: zero.
 * @offset: out, the fake offset to pass to mmap() on the device fd.
 */
struct drm_edge_npu_bo_mmap_offset {
	__u32 handle;
	__u32 reserved;
	__u64 offset;
};

/**
 * struct drm_edge_npu_bo_wait - DRM_IOCTL_EDGE_NPU_BO_WAIT: waits until no job uses the BO.
 * @handle: in, the BO.
 * @flags: in, %DRM_EDGE_NPU_BO_WAIT_READ_ONLY or 0.
 * @timeout_ns: in, absolute CLOCK_MONOTONIC deadline in ns; 0 polls.
 *
 * Returns 0 when idle, -ETIME when the deadline passed (-EBUSY for a poll), -ERESTARTSYS if
 * interrupted.
 */
struct drm_edge_npu_bo_wait {
	__u32 handle;
	__u32 flags;
	__s64 timeout_ns;
};

/** DRM_EDGE_NPU_BO_WAIT_READ_ONLY - wait only for jobs that write the BO (CPU will read). */
#define DRM_EDGE_NPU_BO_WAIT_READ_ONLY	(1u << 0)

/**
 * enum drm_edge_npu_priority - context priority.
 * @DRM_EDGE_NPU_PRIORITY_LOW: background work.
 * @DRM_EDGE_NPU_PRIORITY_NORMAL: the default.
 * @DRM_EDGE_NPU_PRIORITY_HIGH: needs CAP_SYS_NICE (-EACCES otherwise).
 *
 * On each engine, a job of a higher priority that is ready runs before one of a lower
 * priority (jobs already running are not preempted), across all files. Ageing keeps the lower
 * ones moving: once the module parameter prio_age_jobs (default 8; 0 = strict order) jobs of
 * higher priorities have started on an engine while a job of a lower priority waited there,
 * the higher ones are held back until a job of that lower priority has started. A waiting job
 * that cannot start (its in-syncs or implicit fences not signalled) releases them after 20 ms,
 * and its count starts again.
 */
enum drm_edge_npu_priority {
	DRM_EDGE_NPU_PRIORITY_LOW = 0,
	DRM_EDGE_NPU_PRIORITY_NORMAL = 1,
	DRM_EDGE_NPU_PRIORITY_HIGH = 2,
};

/**
 * struct drm_edge_npu_ctx_create - DRM_IOCTL_EDGE_NPU_CTX_CREATE: a submission queue.
 * @priority: in, an &enum drm_edge_npu_priority.
 * @flags: in, zero.
 * @handle: out, the context handle (nonzero), local to this file.
 * @reserved: zero.
 *
 * Jobs of one context complete in submission order; the scheduler spreads contexts over the
 * engines.
 */
struct drm_edge_npu_ctx_create {
	__u32 priority;
	__u32 flags;
	__u32 handle;
	__u32 reserved;
};

/**
 * struct drm_edge_npu_ctx_destroy - DRM_IOCTL_EDGE_NPU_CTX_DESTROY.
 * @handle: in, the context; its queued jobs still run to completion.
 * @reserved: zero.
 */
struct drm_edge_npu_ctx_destroy {
	__u32 handle;
	__u32 reserved;
};

/**
 * struct drm_edge_npu_ctx_query - DRM_IOCTL_EDGE_NPU_CTX_QUERY: what a context's jobs cost.
 * @handle: in, the context.
 * @reserved: zero.
 * @jobs: out, jobs completed successfully.
 * @errors: out, jobs that failed (timed out and reset, or refused at run time).
 * @busy_cycles: out, modeled NPU cycles of the completed jobs.
 * @modeled_ns: out, modeled time of the completed jobs at the clock they ran at, ns.
 * @energy_pj: out, modeled energy of the completed jobs, picojoules.
 * @macs: out, int8 multiply-accumulates.
 * @dram_bytes: out, bytes moved between DRAM and the NPU.
 * @last_error: out, the errno (negative) of the most recent failed job, 0 if none
 *	(-EFAULT: a device MMU fault).
 * @state: out, %DRM_EDGE_NPU_CTX_GUILTY or 0 (in: zero).
 * @fault_addr: out, the device address of the context's first MMU fault, 0 if none.
 * @fault_status: out, that fault's kind: bit 0 read, bit 1 write, bits 4-7 1 unmapped,
 *	2 permission, 3 address beyond 48 bits (kmod/silicon/npu_mmu.h); 0 if none.
 * @reserved2: zero on output.
 * @last_freq_khz: out, the clock the context's most recent completed job ran at (what the
 *	device reports in the job's result), kHz; 0 before the first (ignored on input). Needs
 *	%DRM_EDGE_NPU_CAP_SUBMIT_FREQ.
 * @priority: out, the context's &enum drm_edge_npu_priority (ignored on input). Needs
 *	%DRM_EDGE_NPU_CAP_SUBMIT_FREQ.
 *
 * Versions: the first ended at @reserved2 (88 bytes); the kernel fills only what the
 * caller's size covers.
 */
struct drm_edge_npu_ctx_query {
	__u32 handle;
	__u32 reserved;
	__u64 jobs;
	__u64 errors;
	__u64 busy_cycles;
	__u64 modeled_ns;
	__u64 energy_pj;
	__u64 macs;
	__u64 dram_bytes;
	__s32 last_error;
	__u32 state;
	__u64 fault_addr;
	__u32 fault_status;
	__u32 reserved2;
	__u32 last_freq_khz;
	__u32 priority;
};

/** DRM_EDGE_NPU_CTX_GUILTY - a job of the context faulted; its SUBMITs fail (-ECANCELED). */
#define DRM_EDGE_NPU_CTX_GUILTY		(1u << 0)

/** DRM_EDGE_NPU_BO_READ - the job's commands read the BO (%ENPU_BUF_F_READ). */
#define DRM_EDGE_NPU_BO_READ		(1u << 0)
/** DRM_EDGE_NPU_BO_WRITE - the job's commands write the BO (%ENPU_BUF_F_WRITE). */
#define DRM_EDGE_NPU_BO_WRITE		(1u << 1)
/** DRM_EDGE_NPU_BO_VA - the entry is a range of the context's address space, not a BO. */
#define DRM_EDGE_NPU_BO_VA		(1u << 2)

/**
 * struct drm_edge_npu_bo_ref - one entry of a job's buffer list (index = operand buffer).
 * @handle: the BO (without %DRM_EDGE_NPU_BO_VA); a handle may appear once per job (-EINVAL
 *	otherwise). Zero with %DRM_EDGE_NPU_BO_VA.
 * @flags: %DRM_EDGE_NPU_BO_READ and/or %DRM_EDGE_NPU_BO_WRITE, at least one, and
 *	%DRM_EDGE_NPU_BO_VA or not. A BO: the driver maps the pages of it the stream touches
 *	for the job's life (at an address of its choosing); the job waits
 *	for earlier writers (and, if it writes, readers) of the BO through its reservation
 *	object, and installs its own fence there. A range (%DRM_EDGE_NPU_BO_VA): the stream's
 *	operands in this buffer are at @addr + offset; no implicit synchronisation (use the
 *	syncobjs); the driver does not check that the range is mapped: the device MMU does, and
 *	an access to an unmapped page faults.
 * @addr: with %DRM_EDGE_NPU_BO_VA, the device address of the buffer, nonzero; else zero.
 * @size: with %DRM_EDGE_NPU_BO_VA, its bytes, nonzero, @addr + @size <=
 *	%DRM_EDGE_NPU_VA_USER_END (the half VM_BIND maps); else zero.
 *
 * Versions: the first had @handle and @flags only (8 bytes); the kernel zero-extends it.
 */
struct drm_edge_npu_bo_ref {
	__u32 handle;
	__u32 flags;
	__u64 addr;
	__u64 size;
};

/** DRM_EDGE_NPU_MAX_BOS - largest buffer list of a job. */
#define DRM_EDGE_NPU_MAX_BOS		256
/** DRM_EDGE_NPU_MAX_IN_SYNCS - largest list of in-syncobjs of a job. */
#define DRM_EDGE_NPU_MAX_IN_SYNCS	64

/**
 * struct drm_edge_npu_submit - DRM_IOCTL_EDGE_NPU_SUBMIT: queues one job on a context.
 * @ctx: in, the context handle.
 * @cmd_bo: in, the BO holding the command stream.
 * @cmd_offset: in, byte offset of the stream in @cmd_bo, a multiple of 8.
 * @cmd_size: in, bytes of the stream, 1..%ENPU_MAX_STREAM_BYTES; must lie inside @cmd_bo.
 *	The stream is copied at submit: later writes to @cmd_bo do not affect this job.
 * @num_bos: in, entries at @bos, 0..%DRM_EDGE_NPU_MAX_BOS.
 * @bos: in, user pointer to @num_bos elements of @bo_ref_size bytes, each a
 *	&struct drm_edge_npu_bo_ref (possibly a longer future version whose tail must be 0).
 * @bo_ref_size: in, sizeof(struct drm_edge_npu_bo_ref) as user space knows it, 8..4096
 *	(8: the first version, without @addr and @size).
 * @num_in_syncs: in, entries at @in_syncs, 0..%DRM_EDGE_NPU_MAX_IN_SYNCS.
 * @in_syncs: in, user pointer to __u32 syncobj handles the job waits for.
 * @out_sync: in, a syncobj that receives the job's done fence, or 0.
 * @flags: in, zero.
 * @seqno: out, the job's sequence number on its context (1, 2, ...).
 * @error_code: out, when the stream is refused (-EINVAL): the &enum enpu_error; else 0.
 * @error_cmd: out, index of the first bad command (0xffffffff: the stream header).
 * @reserved: zero.
 * @freq_khz: in, the clock the job asks to run at, kHz (%DRM_EDGE_NPU_CAP_SUBMIT_FREQ), or 0
 *	for no request (the devfreq governor decides from the load). Valid requests lie within
 *	the device's operating points: from the lowest to the highest
 *	%DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ, else -EINVAL. A value between two points asks for
 *	the higher one. The clock is set when the job starts on an engine,
 *	within the bounds in force then: devfreq's min_freq/max_freq in sysfs and the limits of
 *	PM QoS and thermal cooling (the administrator wins: a request above max_freq runs at
 *	max_freq's point). The device has one clock for all its engines: while jobs with
 *	requests run, it runs at the highest of their requests; after them it stays at the
 *	most recently started job's request until a job without a request starts or the device
 *	suspends, so that back-to-back jobs asking the same clock cause no transitions (without
 *	devfreq, i.e. no governor module, the request sets the clock directly; under a
 *	governor the admin set in place of simple_ondemand, the governor decides). The
 *	clock a job ran at is in &drm_edge_npu_ctx_query.last_freq_khz; devfreq's cur_freq and
 *	trans_stat show the changes.
 * @reserved2: zero.
 *
 * Versions: the first ended at @reserved (80 bytes); the DRM core zero-extends it, so an
 * older caller asks for no clock.
 *
 * The whole stream is validated against the buffer list before the job is queued; a refused
 * stream returns -EINVAL with @error_code and @error_cmd set, and nothing runs. A job that
 * hangs is reset after the module's job_timeout_ms: its fence signals with -ETIMEDOUT.
 * A job whose in-sync fence failed, or that reads a BO (by handle) whose last writer failed,
 * does not run: its fence signals with that error. The fences of one context signal in
 * submission order.
 */
struct drm_edge_npu_submit {
	__u32 ctx;
	__u32 cmd_bo;
	__u64 cmd_offset;
	__u32 cmd_size;
	__u32 num_bos;
	__u64 bos;
	__u32 bo_ref_size;
	__u32 num_in_syncs;
	__u64 in_syncs;
	__u32 out_sync;
	__u32 flags;
	__u64 seqno;
	__u32 error_code;
	__u32 error_cmd;
	__u64 reserved;
	__u32 freq_khz;
	__u32 reserved2;
};

/** DRM_EDGE_NPU_VM_MAP - &drm_edge_npu_vm_bind.op: map a range of a BO. */
#define DRM_EDGE_NPU_VM_MAP		0
/** DRM_EDGE_NPU_VM_UNMAP - &drm_edge_npu_vm_bind.op: unmap a range mapped before. */
#define DRM_EDGE_NPU_VM_UNMAP		1

/**
 * struct drm_edge_npu_vm_bind - DRM_IOCTL_EDGE_NPU_VM_BIND: changes a context's address space.
 * @ctx: in, the context.
 * @op: in, %DRM_EDGE_NPU_VM_MAP or %DRM_EDGE_NPU_VM_UNMAP.
 * @handle: in, MAP: the BO (a PRIME import too); UNMAP: zero.
 * @flags: in, MAP: %DRM_EDGE_NPU_BO_READ and/or %DRM_EDGE_NPU_BO_WRITE, at least one: what
 *	the device may do to the pages (a job that does more faults); UNMAP: zero.
 * @bo_offset: in, MAP: first byte of the BO to map, page-aligned; UNMAP: zero.
 * @addr: in, device address, page-aligned, in [%DRM_EDGE_NPU_VA_USER_START,
 *	%DRM_EDGE_NPU_VA_USER_END).
 * @size: in, bytes, a nonzero multiple of 4096; the range must end by
 *	%DRM_EDGE_NPU_VA_USER_END and, for MAP, lie inside the BO.
 * @reserved: zero.
 *
 * MAP pins the pages of the range (only those: a 4 KiB window of a 1 GiB BO pins one page),
 * holds a reference to the BO until UNMAP or the context's end, and writes the page-table
 * entries. -EEXIST if the range overlaps a mapping of the context. UNMAP takes exactly a
 * range mapped before (-ENOENT if none starts there, -EINVAL if the size differs), waits for
 * the context's submitted jobs to end (interruptible: -ERESTARTSYS), clears the entries and
 * unpins the pages. A mapped BO stays charged to the file (its per-file limits) until UNMAP,
 * its handle closed or not; MAP fails with -ENOSPC if that charge does not fit (only when
 * the handle was closed meanwhile). Other errors: -EINVAL for misaligned, empty or
 * out-of-range addresses, offsets and sizes, undefined flags or ops; -ENOENT for an unknown
 * context or BO.
 */
struct drm_edge_npu_vm_bind {
	__u32 ctx;
	__u32 op;
	__u32 handle;
	__u32 flags;
	__u64 bo_offset;
	__u64 addr;
	__u64 size;
	__u64 reserved;
};

#define DRM_IOCTL_EDGE_NPU_GET_PARAM \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_GET_PARAM, struct drm_edge_npu_get_param)
#define DRM_IOCTL_EDGE_NPU_BO_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_BO_CREATE, struct drm_edge_npu_bo_create)
#define DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_BO_MMAP_OFFSET, struct drm_edge_npu_bo_mmap_offset)
#define DRM_IOCTL_EDGE_NPU_BO_WAIT \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EDGE_NPU_BO_WAIT, struct drm_edge_npu_bo_wait)
#define DRM_IOCTL_EDGE_NPU_CTX_CREATE \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_CTX_CREATE, struct drm_edge_npu_ctx_create)
#define DRM_IOCTL_EDGE_NPU_CTX_DESTROY \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EDGE_NPU_CTX_DESTROY, struct drm_edge_npu_ctx_destroy)
#define DRM_IOCTL_EDGE_NPU_SUBMIT \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_SUBMIT, struct drm_edge_npu_submit)
#define DRM_IOCTL_EDGE_NPU_CTX_QUERY \
	DRM_IOWR(DRM_COMMAND_BASE + DRM_EDGE_NPU_CTX_QUERY, struct drm_edge_npu_ctx_query)
#define DRM_IOCTL_EDGE_NPU_VM_BIND \
	DRM_IOW(DRM_COMMAND_BASE + DRM_EDGE_NPU_VM_BIND, struct drm_edge_npu_vm_bind)

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_EDGE_NPU_DRM_H */
