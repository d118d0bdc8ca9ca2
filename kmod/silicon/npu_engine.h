/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_engine.h - the edge-npu engine: validator, interpreter, time/energy model, telemetry.
 *
 * One implementation shared by the kernel module (kmod/) and the in-process simulator
 * (hal/npu). It is pure computation over memory the caller owns: no allocation, no locking,
 * no floating point. The caller passes the engine state, the command stream and the job's
 * buffers; npu_engine_run() validates the whole stream and executes it only if every command
 * is valid, so that a bad stream from one process never touches memory it did not name.
 *
 * Trust: the stream is read twice (validation, then execution), so the caller must hold a
 * private copy that nobody else can modify (the kernel copies it from user space first).
 * Buffer contents, on the other hand, are never trusted: they may change under a running job
 * (shared GEM mappings) and then give wrong numbers, but never an access outside the buffers
 * or undefined behaviour, because no address depends on data.
 *
 * Thread safety: none inside. One &struct npu_engine is one hardware queue; the caller
 * serialises calls on it (the kernel from its scheduler, the simulator with a mutex).
 * npu_validate() only reads the engine and may run concurrently with other validations.
 */
#ifndef NPU_ENGINE_H
#define NPU_ENGINE_H

#include "npu_engine_types.h"
#include "npu_mmu.h"

/**
 * struct npu_buffer - one entry of a job's buffer list.
 * @data: host address of the buffer, for a job run without MMU (npu_engine_run(), tests);
 *	NULL for a job whose memory is reached through the device MMU (@addr).
 * @size: bytes of the buffer.
 * @id: stable identity of the buffer's storage, used to key SRAM residency across jobs (the
 *	GEM object's unique id; in process any id unique among live buffers). 0 = never resident.
 * @flags: %ENPU_BUF_F_READ and/or %ENPU_BUF_F_WRITE.
 * @addr: device virtual address of the buffer, for a job run through the MMU
 *	(&npu_exec.mmu); 0 otherwise. A buffer with neither @data nor @addr has no memory.
 *
 * Distinct entries must not alias the same memory (the kernel refuses duplicate handles).
 */
struct npu_buffer {
	void *data;
	u64 size;
	u64 id;
	u32 flags;
	u64 addr;
};

/**
 * struct npu_hw_params - the modeled hardware; every constant of the time/energy model.
 * @mac_rows: MAC array height (K direction), int8 MACs.
 * @mac_cols: MAC array width (N direction).
 * @vector_lanes: element-wise / LUT / requantization lanes per cycle.
 * @sram_bytes: on-chip SRAM.
 * @sram_weight_bytes: part of @sram_bytes that may keep weights resident between commands
 *	and jobs; the rest double-buffers activations.
 * @sram_bytes_per_cycle: SRAM bandwidth to the datapath.
 * @dram_mbytes_per_s: DRAM bandwidth in MB/s (10^6 bytes); independent of the NPU clock.
 * @cmd_overhead_cycles: fixed cost of fetching and decoding one command.
 * @barrier_cycles: cost of draining the pipeline at a barrier.
 * @mac_fj: energy of one int8 MAC with int32 accumulation, femtojoules at @nominal_mv.
 * @vector_op_fj: energy of one vector op (a 32-bit multiply-shift-add), fJ at @nominal_mv.
 * @sram_byte_fj: energy of one SRAM byte read or written, fJ at @nominal_mv.
 * @dram_byte_fj: energy of one DRAM byte transferred, fJ (DRAM has its own supply rail).
 * @nominal_mv: the voltage at which the fJ figures hold.
 * @residency_slots: entries of the residency LRU in use, 1..%NPU_RESIDENCY_SLOTS.
 */
struct npu_hw_params {
	u32 mac_rows;
	u32 mac_cols;
	u32 vector_lanes;
	u64 sram_bytes;
	u64 sram_weight_bytes;
	u32 sram_bytes_per_cycle;
	u32 dram_mbytes_per_s;
	u32 cmd_overhead_cycles;
	u32 barrier_cycles;
	u32 mac_fj;
	u32 vector_op_fj;
	u32 sram_byte_fj;
	u32 dram_byte_fj;
	u32 nominal_mv;
	u32 residency_slots;
};

/* The default hardware (see the table in npu_engine.c for where every number comes from). */
extern const struct npu_hw_params npu_default_hw;

/**
 * struct npu_opp - one operating point.
 * @freq_mhz: NPU clock.
 * @volt_mv: core supply voltage at that clock.
 */
struct npu_opp {
	u32 freq_mhz;
	u32 volt_mv;
};

/* The operating-point table, lowest first: the same table the kernel's devfreq exposes. */
#define NPU_NUM_OPPS 5
extern const struct npu_opp npu_opp_table[NPU_NUM_OPPS];

/** NPU_CAP_DEBUG - engine capability: accept %ENPU_OP_DEBUG_STALL. */
#define NPU_CAP_DEBUG (1u << 0)

/** NPU_RESIDENCY_SLOTS - capacity of the weight-residency LRU. */
#define NPU_RESIDENCY_SLOTS 64

/**
 * struct npu_resident - one weight region held in SRAM.
 * @id: &npu_buffer.id of its buffer (0 = free slot).
 * @offset: first byte in the buffer.
 * @bytes: length.
 * @last_use: engine tick of its last use (LRU order).
 */
struct npu_resident {
	u64 id;
	u64 offset;
	u64 bytes;
	u64 last_use;
};

/**
 * struct npu_counters - telemetry: per job (&npu_job_stats.c) or cumulative (engine).
 * @busy_cycles: modeled cycles spent executing.
 * @macs: int8 multiply-accumulates.
 * @vector_ops: element-wise, LUT, block-scaling and requantization operations.
 * @dram_bytes: bytes moved between DRAM and the NPU.
 * @sram_bytes: bytes read or written by the datapath in SRAM.
 * @energy_pj: modeled energy, picojoules (per job: rounded down; cumulative: exact sum,
 *	remainders carried).
 * @jobs: jobs completed (cumulative only; 1 in a job's stats).
 * @cmds: commands executed.
 * @errors: jobs refused by the validator or stalled.
 * @stalls: jobs that hung (debug stall).
 */
struct npu_counters {
	u64 busy_cycles;
	u64 macs;
	u64 vector_ops;
	u64 dram_bytes;
	u64 sram_bytes;
	u64 energy_pj;
	u64 jobs;
	u64 cmds;
	u64 errors;
	u64 stalls;
};

/**
 * struct npu_job_stats - what one job cost.
 * @c: the job's counters.
 * @energy_fj: the job's energy in femtojoules (exact).
 * @time_ns: @c.busy_cycles at the job's operating point, nanoseconds (rounded up).
 * @opp: index of the operating point the job ran at.
 */
struct npu_job_stats {
	struct npu_counters c;
	u64 energy_fj;
	u64 time_ns;
	u32 opp;
};

/**
 * struct npu_status - the verdict on a stream.
 * @code: an &enum enpu_error (ENPU_ERR_NONE if valid).
 * @cmd_index: index of the first bad command; %NPU_CMD_HEADER for the stream header.
 * @cmd_offset: byte offset of that command in the stream.
 * @reason: human-readable "<command>: <field>: <rule>", NUL-terminated.
 */
struct npu_status {
	u32 code;
	u32 cmd_index;
	u32 cmd_offset;
	char reason[96];
};

#define NPU_CMD_HEADER 0xffffffffu

/**
 * enum npu_exec_state - where a job on the engine stands.
 * @NPU_EXEC_IDLE: no job (a zeroed cursor).
 * @NPU_EXEC_RUNNING: started; npu_exec_step() runs more of it.
 * @NPU_EXEC_DONE: every command ran.
 * @NPU_EXEC_FAILED: refused by the validator; nothing ran.
 * @NPU_EXEC_STALLED: reached %ENPU_OP_DEBUG_STALL; the engine hangs until a reset.
 * @NPU_EXEC_ABORTED: stopped between two slices by a reset (npu_exec_abort()).
 * @NPU_EXEC_FAULTED: stopped at an access its MMU refused (%ENPU_ERR_MMU_FAULT; the address
 *	and kind are in the MMU).
 */
enum npu_exec_state {
	NPU_EXEC_IDLE,
	NPU_EXEC_RUNNING,
	NPU_EXEC_DONE,
	NPU_EXEC_FAILED,
	NPU_EXEC_STALLED,
	NPU_EXEC_ABORTED,
	NPU_EXEC_FAULTED,
};

/**
 * NPU_SLICE_WORK - the work of one slice of execution: MACs for a matmul, elements for the
 * element-wise commands, bytes for a copy. A slice ends at the first output, row chunk or
 * command boundary past it, so it does at most NPU_SLICE_WORK + %ENPU_MAX_K units (one output
 * of the longest matmul row); the device model checks for reset between slices. 2^18 MACs
 * take ~0.1-0.3 ms on a host CPU and a few ms under QEMU's TCG: short enough that a reset
 * stops a job at once, long enough that the yield between slices costs nothing measurable.
 */
#define NPU_SLICE_WORK (1ull << 18)

/**
 * struct npu_exec - the cursor of a job executed in slices (npu_exec_begin/step/finish).
 * @stream: the job's stream (validated; private to the caller until finish).
 * @len: bytes at @stream.
 * @bufs: the job's buffers.
 * @nbufs: entries in @bufs.
 * @mmu: NULL: @bufs are host memory (&npu_buffer.data); else every access to a buffer goes
 *	through this MMU (&npu_buffer.addr). Set by the caller after npu_exec_begin().
 * @ncmds: commands in the stream.
 * @cmd_index: index of the current command.
 * @pos: byte offset of the command after the current one.
 * @in_cmd: the current command has started (its cost is charged).
 * @state: an &enum npu_exec_state.
 * @row: progress inside the current command: row (or matmul output row).
 * @col: progress inside the row: element, byte or matmul output column.
 * @last_work: work units the last npu_exec_step() did.
 * @acc: matmul accumulators of the current block of 32 outputs.
 * @exp: their exponents.
 * @cmd: the current command, decoded (opaque to callers).
 * @js: the job's counters so far.
 * @st: the verdict (validation, stall or abort).
 */
struct npu_exec {
	const void *stream;
	u64 len;
	const struct npu_buffer *bufs;
	u32 nbufs;
	struct npu_mmu *mmu;
	u32 ncmds;
	u32 cmd_index;
	u64 pos;
	u32 in_cmd;
	u32 state;
	u64 row;
	u64 col;
	u64 last_work;
	s64 acc[ENPU_QK];
	s32 exp[ENPU_QK];
	u64 cmd[32];
	struct npu_counters cmd_start; /* js.c before the command in progress was charged */
	struct npu_job_stats js;
	struct npu_status st;
};

/**
 * struct npu_engine - the state of one engine; the caller allocates it (it is plain data).
 * @hw: the modeled hardware.
 * @caps: %NPU_CAP_* bits.
 * @opp: current operating point index.
 * @tick: LRU clock.
 * @resident_bytes: sum of @resident[].bytes.
 * @resident: the SRAM weight-residency LRU.
 * @total: cumulative telemetry.
 * @energy_fj_rem: femtojoules not yet counted in @total.energy_pj.
 * @run: the cursor npu_engine_run() uses (kept here: too big for a kernel stack frame).
 */
struct npu_engine {
	struct npu_hw_params hw;
	u32 caps;
	u32 opp;
	u64 tick;
	u64 resident_bytes;
	struct npu_resident resident[NPU_RESIDENCY_SLOTS];
	struct npu_counters total;
	u64 energy_fj_rem;
	struct npu_exec run;
};

/**
 * npu_engine_init() - puts an engine in its power-on state.
 * @e: the engine.
 * @hw: the hardware to model, or NULL for &npu_default_hw (copied; must have nonzero rates).
 * @caps: %NPU_CAP_* bits.
 *
 * Starts at the highest operating point with empty SRAM and zero counters.
 */
void npu_engine_init(struct npu_engine *e, const struct npu_hw_params *hw, u32 caps);

/**
 * npu_engine_set_opp() - selects an operating point (devfreq target).
 * @e: the engine.
 * @opp: index into npu_opp_table.
 *
 * Return: 0, or -1 if @opp is out of range (nothing changes).
 */
int npu_engine_set_opp(struct npu_engine *e, u32 opp);

/**
 * npu_engine_reset() - engine reset after a hang: SRAM contents are lost, counters kept.
 * @e: the engine.
 */
void npu_engine_reset(struct npu_engine *e);

/**
 * npu_engine_forget_buffer() - drops SRAM residency of a buffer whose contents change or die.
 * @e: the engine.
 * @id: the &npu_buffer.id.
 *
 * The caller must call it when the host writes a buffer that may hold resident weights or
 * when a buffer id is freed; the engine itself forgets regions its commands overwrite.
 */
void npu_engine_forget_buffer(struct npu_engine *e, u64 id);

/**
 * npu_validate() - checks a whole stream against a buffer list without running anything.
 * @e: the engine (its capabilities decide whether debug commands are allowed).
 * @stream: the stream bytes (any alignment).
 * @len: bytes at @stream.
 * @bufs: the job's buffers.
 * @nbufs: entries in @bufs.
 * @st: out: the verdict; always written.
 *
 * Return: 0 if every command is valid, else -(&enum enpu_error) of the first bad one.
 */
int npu_validate(const struct npu_engine *e, const void *stream, u64 len,
		 const struct npu_buffer *bufs, u32 nbufs, struct npu_status *st);

/**
 * struct npu_extent - the bytes of one buffer a stream's commands may touch.
 * @start: first byte (~0 if no command names the buffer).
 * @end: one past the last byte (0 if none).
 */
struct npu_extent {
	u64 start;
	u64 end;
};

/**
 * npu_validate_extents() - npu_validate(), also returning the extent each buffer is touched
 *	in: what a driver must map for the job, and no more.
 * @e: as npu_validate().
 * @stream: as npu_validate().
 * @len: as npu_validate().
 * @bufs: as npu_validate().
 * @nbufs: as npu_validate().
 * @st: as npu_validate().
 * @ext: out: @nbufs extents (meaningful when the stream is valid).
 *
 * Return: as npu_validate().
 */
int npu_validate_extents(const struct npu_engine *e, const void *stream, u64 len,
			 const struct npu_buffer *bufs, u32 nbufs, struct npu_status *st,
			 struct npu_extent *ext);

/**
 * npu_engine_run() - validates and, if valid, executes one job.
 * @e: the engine.
 * @stream: the stream bytes (any alignment; not modified).
 * @len: bytes at @stream.
 * @bufs: the job's buffers; outputs are written in place.
 * @nbufs: entries in @bufs.
 * @stats: out, may be NULL: the job's counters at the current operating point.
 * @st: out: the verdict; always written.
 *
 * A refused stream executes nothing and counts one error. A stream that reaches
 * %ENPU_OP_DEBUG_STALL executes the commands before it, then reports %ENPU_ERR_STALLED: the
 * job never completes, and the caller's timeout handling must npu_engine_reset() the engine.
 *
 * Return: 0, or -(&enum enpu_error).
 */
int npu_engine_run(struct npu_engine *e, const void *stream, u64 len,
		   const struct npu_buffer *bufs, u32 nbufs, struct npu_job_stats *stats,
		   struct npu_status *st);

/**
 * npu_exec_begin() - validates a job and, if valid, starts it on the engine (nothing runs yet).
 * @e: the engine (its operating point now is the job's).
 * @x: the job's cursor (overwritten).
 * @stream: the stream bytes; must stay valid and unmodified until npu_exec_finish().
 * @len: bytes at @stream.
 * @bufs: the job's buffers (the list must stay valid too).
 * @nbufs: entries in @bufs.
 *
 * Return: 0, or -(&enum enpu_error) with the verdict in @x->st (finish the job all the same).
 */
int npu_exec_begin(struct npu_engine *e, struct npu_exec *x, const void *stream, u64 len,
		   const struct npu_buffer *bufs, u32 nbufs);

/**
 * npu_exec_step() - runs one slice of a started job.
 * @e: the engine.
 * @x: the job's cursor.
 * @budget: work units of the slice (%NPU_SLICE_WORK, or ~0 for the whole job).
 *
 * Results are bit-identical whatever the budgets: a slice boundary only pauses the cursor.
 *
 * Return: 1 if more remains, 0 when the job completed, -(&enum enpu_error) when it stopped
 * (%ENPU_ERR_STALLED: hung at a debug stall; %ENPU_ERR_MMU_FAULT: an access faulted; or the
 * code of a refusal or abort).
 */
int npu_exec_step(struct npu_engine *e, struct npu_exec *x, u64 budget);

/**
 * npu_exec_abort() - stops a running or stalled job between slices (engine reset).
 * @x: the job's cursor.
 * @code: the &enum enpu_error to report for a running job (a stall keeps its own).
 * @reason: the reason text.
 */
void npu_exec_abort(struct npu_exec *x, u32 code, const char *reason);

/**
 * npu_exec_finish() - accounts a job that ended (any state) into the engine's counters.
 * @e: the engine.
 * @x: the job's cursor.
 * @stats: out, may be NULL: the job's counters.
 */
void npu_exec_finish(struct npu_engine *e, struct npu_exec *x, struct npu_job_stats *stats);

/**
 * npu_counters_add() - folds a job's counters into cumulative ones.
 * @t: the cumulative counters.
 * @fj_rem: femtojoules not yet counted in @t->energy_pj (carried between calls).
 * @js: the job's stats.
 */
void npu_counters_add(struct npu_counters *t, u64 *fj_rem, const struct npu_job_stats *js);

/**
 * npu_error_name() - the name of an &enum enpu_error ("out of bounds", ...).
 * @code: the code.
 *
 * Return: a static string; "unknown error" for codes not defined.
 */
const char *npu_error_name(u32 code);

/**
 * npu_cycles_to_ns() - modeled time of @cycles at operating point @opp, rounded up.
 * @cycles: cycles.
 * @opp: index into npu_opp_table (clamped).
 *
 * Return: nanoseconds.
 */
u64 npu_cycles_to_ns(u64 cycles, u32 opp);

#endif
