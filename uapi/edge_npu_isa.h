/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * edge_npu_isa.h - the edge-npu command-stream ISA (version 1).
 *
 * A job is a command stream plus a list of buffers. The stream is a &struct enpu_stream_header
 * followed by commands, each starting with a &struct enpu_cmd_header that carries its opcode
 * and size, so that commands can grow: new fields are only ever appended, an engine that knows
 * a shorter layout requires the unknown tail to be zero, and a short command is zero-extended
 * (the copy_struct_from_user() rule). Commands name memory by &struct enpu_operand: an index
 * into the job's buffer list, a byte offset and a row stride; shapes are in the command.
 *
 * Arithmetic is integer only (Jacob et al., "Quantization and Training of Neural Networks for
 * Efficient Integer-Arithmetic-Only Inference", CVPR 2018): int8/int4 weights, int8
 * activations, int32 block dot products, fixed-point requantization by an int32 multiplier and
 * a right shift. Every scale the engine sees is an integer: a block scale is m * 2^e
 * (an fp16 scale is exactly such a pair with |m| < 2^11), a requantization is multiplier *
 * 2^-shift.
 *
 * What the NPU does not do - softmax, RMSNorm, RoPE, attention, embedding lookup, F32/F16
 * weights, and the F32 <-> int8 conversions at partition boundaries - is left to the CPU/GPU
 * (they need floating point, transcendental functions or data-dependent gathers; real NPUs
 * leave them to the host too). SiLU, GELU, sigmoid and friends run as a 256-entry lookup table
 * computed by the driver for the input scale.
 *
 * Everything is little-endian. Every reserved field and every flag bit not defined here must be
 * zero; the validator refuses the whole stream otherwise, before any command runs.
 */
#ifndef _UAPI_EDGE_NPU_ISA_H
#define _UAPI_EDGE_NPU_ISA_H

#include <linux/types.h>

#if defined(__cplusplus)
extern "C" {
#endif

/** ENPU_STREAM_MAGIC - first word of every stream, "ENPU" read as little-endian bytes. */
#define ENPU_STREAM_MAGIC 0x55504e45u
/** ENPU_ISA_VERSION - the version this header describes; bumped only for incompatible change. */
#define ENPU_ISA_VERSION 1u

/** ENPU_QK - elements per quantized block (the GGUF block size). */
#define ENPU_QK 32

/* Limits the validator enforces; they bound every intermediate so the engine cannot overflow. */
/** ENPU_MAX_STREAM_BYTES - largest stream accepted. */
#define ENPU_MAX_STREAM_BYTES (1u << 22)
/** ENPU_MAX_ROWS - largest row count (M, rows) of any command. */
#define ENPU_MAX_ROWS (1u << 16)
/** ENPU_MAX_N - largest matmul output width N (vocabularies up to 256 Ki). */
#define ENPU_MAX_N (1u << 18)
/** ENPU_MAX_K - largest matmul reduction length K (a multiple of %ENPU_QK). */
#define ENPU_MAX_K (1u << 16)
/** ENPU_MAX_COLS - largest element-wise / LUT / copy row length. */
#define ENPU_MAX_COLS (1u << 24)
/** ENPU_MAX_SHIFT - largest requantization right shift. */
#define ENPU_MAX_SHIFT 62u
/** ENPU_MAX_STALL_CYCLES - largest debug stall. */
#define ENPU_MAX_STALL_CYCLES (1ull << 40)

/**
 * enum enpu_opcode - command opcodes.
 * @ENPU_OP_MATMUL: &struct enpu_cmd_matmul, quantized weights times int8 activations.
 * @ENPU_OP_ELTWISE: &struct enpu_cmd_eltwise, int8 add / multiply with requantization.
 * @ENPU_OP_LUT: &struct enpu_cmd_lut, int8 -> int8 through a 256-entry table.
 * @ENPU_OP_COPY: &struct enpu_cmd_copy, a 2-D byte copy.
 * @ENPU_OP_BARRIER: &struct enpu_cmd_barrier, completes everything before it; may signal.
 * @ENPU_OP_DEBUG_STALL: &struct enpu_cmd_debug_stall, makes the engine hang (tests of job
 *	timeouts); refused unless the engine was configured with debug commands allowed.
 */
enum enpu_opcode {
	ENPU_OP_MATMUL = 1,
	ENPU_OP_ELTWISE = 2,
	ENPU_OP_LUT = 3,
	ENPU_OP_COPY = 4,
	ENPU_OP_BARRIER = 5,
	ENPU_OP_DEBUG_STALL = 0x7f00,
};

/**
 * enum enpu_dtype - tensor element formats.
 * @ENPU_DT_I8: plain int8, per-tensor affine: real = S * (q - zero_point), S known to the
 *	driver only (it appears in the command as requantization multipliers).
 * @ENPU_DT_Q8B: rows of &struct enpu_block_q8 (int8 weights, or activations quantized per
 *	block by the host at a partition boundary).
 * @ENPU_DT_Q4B: rows of &struct enpu_block_q4 (int4 weights, unpacked in the engine).
 * @ENPU_DT_I32B: rows of &struct enpu_block_i32 (int32 with one power-of-two exponent per
 *	block: the full-precision matmul output).
 */
enum enpu_dtype {
	ENPU_DT_I8 = 1,
	ENPU_DT_Q8B = 2,
	ENPU_DT_Q4B = 3,
	ENPU_DT_I32B = 4,
};

/**
 * struct enpu_block_q8 - 32 int8 values with one integer scale; x = scale_m * 2^scale_e * qs[i].
 * @scale_m: scale mantissa; |scale_m| <= 2047 (the engine clamps larger values).
 * @scale_e: scale exponent.
 * @reserved: zero.
 * @qs: the values.
 */
struct enpu_block_q8 {
	__s16 scale_m;
	__s8 scale_e;
	__u8 reserved;
	__s8 qs[ENPU_QK];
};

/**
 * struct enpu_block_q4 - 32 int4 values with one integer scale; GGUF Q4_0 nibble order.
 * @scale_m: scale mantissa; |scale_m| <= 2047 (the engine clamps larger values).
 * @scale_e: scale exponent.
 * @reserved: zero.
 * @qs: qs[j] low nibble is element j, high nibble element j + 16; x = d * (nibble - 8).
 */
struct enpu_block_q4 {
	__s16 scale_m;
	__s8 scale_e;
	__u8 reserved;
	__u8 qs[ENPU_QK / 2];
};

/**
 * struct enpu_block_i32 - 32 int32 values sharing one exponent; x = q[i] * 2^exp.
 * @exp: the block exponent, chosen per block by the engine so that max |q| is in [2^29, 2^30]
 *	(0 for an all-zero block).
 * @q: the mantissas.
 */
struct enpu_block_i32 {
	__s32 exp;
	__s32 q[ENPU_QK];
};

/**
 * struct enpu_stream_header - the start of every command stream.
 * @magic: %ENPU_STREAM_MAGIC.
 * @version: %ENPU_ISA_VERSION.
 * @size: bytes of the whole stream, this header included; equals the submitted length.
 * @num_cmds: number of commands that follow; they must end exactly at @size.
 * @flags: none defined; zero.
 * @reserved: zero.
 */
struct enpu_stream_header {
	__u32 magic;
	__u32 version;
	__u32 size;
	__u32 num_cmds;
	__u32 flags;
	__u32 reserved[3];
};

/**
 * struct enpu_cmd_header - the start of every command.
 * @opcode: an &enum enpu_opcode.
 * @flags: none defined; zero.
 * @size: bytes of the command, this header included; a multiple of 8, at least the size of
 *	the version-1 layout of the opcode. Bytes beyond the layout this engine knows must be 0.
 */
struct enpu_cmd_header {
	__u16 opcode;
	__u16 flags;
	__u32 size;
};

/**
 * struct enpu_operand - a 2-D region of one buffer.
 * @buffer: index into the job's buffer list.
 * @reserved: zero.
 * @offset: bytes from the start of the buffer to row 0.
 * @stride: bytes from the start of row r to row r + 1. Inputs may use any stride (0
 *	broadcasts a row); outputs need stride >= row bytes. Block formats need @offset and
 *	@stride multiples of 4.
 */
struct enpu_operand {
	__u32 buffer;
	__u32 reserved;
	__u64 offset;
	__u64 stride;
};

/**
 * struct enpu_requant - fixed-point rescaling to or from int8.
 * @multiplier: int32 multiplier, >= 0 (gemmlowp: usually in [2^30, 2^31)).
 * @shift: right shift, 0..%ENPU_MAX_SHIFT; the real factor is multiplier * 2^-shift.
 * @zero_point: int8 zero point, -128..127.
 * @reserved: zero.
 *
 * Rounding is to nearest, halves away from zero (C's round()); results saturate to int8.
 */
struct enpu_requant {
	__s32 multiplier;
	__u32 shift;
	__s32 zero_point;
	__u32 reserved;
};

/**
 * struct enpu_cmd_matmul - out[M x N] = in[M x K] . weights[N x K]^T.
 * @hdr: opcode %ENPU_OP_MATMUL.
 * @weights: N rows of K / 32 blocks of @w_dtype.
 * @input: M rows of K / 32 &struct enpu_block_q8.
 * @output: M rows of N outputs of @out_dtype.
 * @m: rows of @input and @output, 1..%ENPU_MAX_ROWS.
 * @n: rows of @weights, 1..%ENPU_MAX_N; a multiple of 32 for %ENPU_DT_I32B output.
 * @k: reduction length, a multiple of 32, 32..%ENPU_MAX_K.
 * @w_dtype: %ENPU_DT_Q8B or %ENPU_DT_Q4B.
 * @out_dtype: %ENPU_DT_I32B (exact to ~2^-29 of each output block's maximum) or %ENPU_DT_I8
 *	(requantized by @requant to a per-tensor scale the driver chose).
 * @reserved0: zero.
 * @requant: for %ENPU_DT_I8 output: q = zero_point + x * multiplier * 2^-shift, x the real
 *	result (the products of integer scales are exact); all zero for %ENPU_DT_I32B.
 * @reserved: zero.
 *
 * Each 32-block dot product is exact in int32 and is scaled by the product of the two block
 * scales; the scaled terms are summed in an int64 accumulator aligned to the largest block
 * exponent of the (row, output) pair, then each block of 32 outputs is normalised to a shared
 * exponent (%ENPU_DT_I32B) or requantized (%ENPU_DT_I8). @output may not overlap the inputs.
 */
struct enpu_cmd_matmul {
	struct enpu_cmd_header hdr;
	struct enpu_operand weights;
	struct enpu_operand input;
	struct enpu_operand output;
	__u32 m;
	__u32 n;
	__u32 k;
	__u8 w_dtype;
	__u8 out_dtype;
	__u16 reserved0;
	struct enpu_requant requant;
	__u64 reserved[2];
};

/**
 * enum enpu_eltwise_op - element-wise operations.
 * @ENPU_ELT_ADD: x = R(a - za, in_a) + R(b - zb, in_b), saturated to int32.
 * @ENPU_ELT_MUL: x = (a - za) * (b - zb); in_a and in_b carry only the zero points.
 */
enum enpu_eltwise_op {
	ENPU_ELT_ADD = 1,
	ENPU_ELT_MUL = 2,
};

/**
 * struct enpu_cmd_eltwise - out = requant(a op b) over rows x cols int8 elements.
 * @hdr: opcode %ENPU_OP_ELTWISE.
 * @a: first input, int8.
 * @b: second input, int8 (stride 0 broadcasts one row).
 * @out: output, int8; may be exactly @a or @b (in place), may not partly overlap them.
 * @rows: 1..%ENPU_MAX_ROWS.
 * @cols: 1..%ENPU_MAX_COLS.
 * @op: an &enum enpu_eltwise_op.
 * @reserved0: zero.
 * @in_a: zero point of @a and, for add, its rescaling R(v, in_a) = v * multiplier * 2^-shift
 *	into the shared intermediate scale (gemmlowp/TFLite: 2^20 finer than the inputs).
 * @in_b: same for @b.
 * @out_rq: out = zero_point + x * multiplier * 2^-shift, saturated to int8.
 * @reserved: zero.
 */
struct enpu_cmd_eltwise {
	struct enpu_cmd_header hdr;
	struct enpu_operand a;
	struct enpu_operand b;
	struct enpu_operand out;
	__u32 rows;
	__u32 cols;
	__u32 op;
	__u32 reserved0;
	struct enpu_requant in_a;
	struct enpu_requant in_b;
	struct enpu_requant out_rq;
	__u64 reserved;
};

/**
 * struct enpu_cmd_lut - out[i] = table[in[i] + 128] over rows x cols int8 elements.
 * @hdr: opcode %ENPU_OP_LUT.
 * @input: int8 input.
 * @output: int8 output; may be exactly @input, may not partly overlap it.
 * @table: 256 int8 entries at @table.offset, indexed by input + 128; stride must be 0.
 * @rows: 1..%ENPU_MAX_ROWS.
 * @cols: 1..%ENPU_MAX_COLS.
 * @reserved: zero.
 */
struct enpu_cmd_lut {
	struct enpu_cmd_header hdr;
	struct enpu_operand input;
	struct enpu_operand output;
	struct enpu_operand table;
	__u32 rows;
	__u32 cols;
	__u64 reserved;
};

/**
 * struct enpu_cmd_copy - copies rows x row_bytes bytes; source and destination may not overlap.
 * @hdr: opcode %ENPU_OP_COPY.
 * @src: source.
 * @dst: destination.
 * @rows: 1..%ENPU_MAX_ROWS.
 * @row_bytes: 1..%ENPU_MAX_COLS.
 * @reserved: zero.
 */
struct enpu_cmd_copy {
	struct enpu_cmd_header hdr;
	struct enpu_operand src;
	struct enpu_operand dst;
	__u32 rows;
	__u32 row_bytes;
	__u64 reserved;
};

/** ENPU_BARRIER_F_SIGNAL - the barrier writes @value to @buffer at @offset once complete. */
#define ENPU_BARRIER_F_SIGNAL (1u << 0)

/**
 * struct enpu_cmd_barrier - waits for every earlier command; optionally signals progress.
 * @hdr: opcode %ENPU_OP_BARRIER.
 * @flags: %ENPU_BARRIER_F_SIGNAL or 0.
 * @value: the __u32 written when signalling (e.g. a sequence number); zero otherwise.
 * @buffer: buffer index of the signal word; zero without %ENPU_BARRIER_F_SIGNAL.
 * @reserved: zero.
 * @offset: byte offset of the signal word, a multiple of 4; zero without the flag.
 */
struct enpu_cmd_barrier {
	struct enpu_cmd_header hdr;
	__u32 flags;
	__u32 value;
	__u32 buffer;
	__u32 reserved;
	__u64 offset;
};

/**
 * struct enpu_cmd_debug_stall - the engine stops making progress for @cycles cycles and the job
 *	is reported stalled (never completes): a hang for testing job timeouts and engine reset.
 * @hdr: opcode %ENPU_OP_DEBUG_STALL.
 * @cycles: 1..%ENPU_MAX_STALL_CYCLES.
 * @reserved: zero.
 */
struct enpu_cmd_debug_stall {
	struct enpu_cmd_header hdr;
	__u64 cycles;
	__u64 reserved;
};

/** ENPU_BUF_F_READ - commands may read the buffer. */
#define ENPU_BUF_F_READ (1u << 0)
/** ENPU_BUF_F_WRITE - commands may write the buffer. */
#define ENPU_BUF_F_WRITE (1u << 1)

/**
 * enum enpu_error - why a stream was refused (reported with the index of the first bad
 *	command; -1 / 0xffffffff for the stream header) or why a job failed.
 * @ENPU_ERR_NONE: no error.
 * @ENPU_ERR_BAD_MAGIC: the stream does not start with %ENPU_STREAM_MAGIC.
 * @ENPU_ERR_BAD_VERSION: unsupported &enpu_stream_header.version.
 * @ENPU_ERR_BAD_LENGTH: stream length, &enpu_stream_header.size and the commands disagree.
 * @ENPU_ERR_BAD_CMD_SIZE: a command size too small, unaligned, or past the stream end.
 * @ENPU_ERR_UNKNOWN_OPCODE: opcode not in &enum enpu_opcode.
 * @ENPU_ERR_RESERVED: a reserved field, undefined flag or unknown tail is nonzero.
 * @ENPU_ERR_BAD_BUFFER: buffer index out of the job's buffer list.
 * @ENPU_ERR_OUT_OF_BOUNDS: an operand extends past its buffer (or its extent overflows).
 * @ENPU_ERR_BAD_DIM: a dimension is zero, too large, or not a multiple of the block.
 * @ENPU_ERR_SHAPE: strides or shapes inconsistent (output rows overlapping each other).
 * @ENPU_ERR_BAD_DTYPE: an element format the command does not take.
 * @ENPU_ERR_BAD_SHIFT: a requantization shift above %ENPU_MAX_SHIFT.
 * @ENPU_ERR_BAD_QPARAM: a negative multiplier or a zero point outside int8.
 * @ENPU_ERR_READ_ONLY: a command writes a buffer without %ENPU_BUF_F_WRITE.
 * @ENPU_ERR_NOT_READABLE: a command reads a buffer without %ENPU_BUF_F_READ.
 * @ENPU_ERR_OVERLAP: an output overlaps an input where the command does not allow it.
 * @ENPU_ERR_MISALIGNED: a block-format operand offset or stride not a multiple of 4.
 * @ENPU_ERR_DEBUG_DISABLED: a debug command on an engine not configured to allow it.
 * @ENPU_ERR_STALLED: the job hung (debug stall); the engine must be reset.
 * @ENPU_ERR_ABORTED: the job was stopped between two slices by an engine reset (a timeout).
 * @ENPU_ERR_MMU_FAULT: the job touched a device address its context has not mapped, or
 *	wrote a page mapped read-only (or read one mapped write-only): a device MMU fault
 *	(kmod/silicon/README.md). The job stopped at that access; what it wrote before is kept.
 */
enum enpu_error {
	ENPU_ERR_NONE = 0,
	ENPU_ERR_BAD_MAGIC = 1,
	ENPU_ERR_BAD_VERSION = 2,
	ENPU_ERR_BAD_LENGTH = 3,
	ENPU_ERR_BAD_CMD_SIZE = 4,
	ENPU_ERR_UNKNOWN_OPCODE = 5,
	ENPU_ERR_RESERVED = 6,
	ENPU_ERR_BAD_BUFFER = 7,
	ENPU_ERR_OUT_OF_BOUNDS = 8,
	ENPU_ERR_BAD_DIM = 9,
	ENPU_ERR_SHAPE = 10,
	ENPU_ERR_BAD_DTYPE = 11,
	ENPU_ERR_BAD_SHIFT = 12,
	ENPU_ERR_BAD_QPARAM = 13,
	ENPU_ERR_READ_ONLY = 14,
	ENPU_ERR_NOT_READABLE = 15,
	ENPU_ERR_OVERLAP = 16,
	ENPU_ERR_MISALIGNED = 17,
	ENPU_ERR_DEBUG_DISABLED = 18,
	ENPU_ERR_STALLED = 19,
	ENPU_ERR_ABORTED = 20,
	ENPU_ERR_MMU_FAULT = 21,
};

#if defined(__cplusplus)
}
#endif

#endif /* _UAPI_EDGE_NPU_ISA_H */
