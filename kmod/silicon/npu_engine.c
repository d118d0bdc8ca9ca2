// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * npu_engine.c - the edge-npu engine, shared by the kernel module and the in-process device.
 *
 * Kernel C subset: no libc beyond memcpy/memset (npu_engine_types.h), no floating point, no
 * VLAs, no recursion, no allocation. Every intermediate is bounded by the limits in the ISA
 * header, which the validator enforces before anything runs; the comments give the bounds.
 * Data (as opposed to commands) is never trusted: any bit pattern in a buffer gives a defined
 * result. Multi-byte data values are read and written little-endian byte by byte.
 */
#include "npu_engine.h"

/* ---- the modeled hardware ---------------------------------------------------------------- */

/*
 * Energy per operation. Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm at 0.9 V:
 * 8-bit multiply 0.2 pJ, 32-bit add 0.1 pJ, 32-bit multiply 3.1 pJ, 64-bit read of an 8 KiB
 * SRAM 10 pJ, 32-bit DRAM read 640 pJ (1.3-2.6 nJ per 64 bits). Scaled to a ~7 nm node at the
 * same 0.9 V nominal: logic and SRAM by 1/4 (switched capacitance), DRAM by 1/5 (an LPDDR5
 * interface, ~4 pJ/bit, does not follow logic scaling):
 *   int8 MAC into int32   (0.2 + 0.1) / 4  =  75 fJ
 *   vector op (32b mul + add + shift) (3.1 + 0.1) / 4 = 800 fJ
 *   SRAM byte             10 / 8 / 4       = 312 fJ
 *   DRAM byte             640 / 4 / 5      = 32000 fJ
 * The core costs scale with (V / 0.9 V)^2 at the current operating point; DRAM sits on its own
 * rail and does not. Leakage is not modeled (the driver's runtime PM owns idle power).
 *
 * Throughput: a 32 x 32 int8 weight-stationary MAC array (1024 MAC/cycle, ~2 TOPS at 1 GHz),
 * 32 vector lanes, 2 MiB SRAM of which 1.5 MiB may hold weights, 128 B/cycle SRAM ports,
 * 25.6 GB/s of LPDDR bandwidth shared with the SoC.
 */
const struct npu_hw_params npu_default_hw = {
	.mac_rows = 32,
	.mac_cols = 32,
	.vector_lanes = 32,
	.sram_bytes = 2u << 20,
	.sram_weight_bytes = 3u << 19,
	.sram_bytes_per_cycle = 128,
	.dram_mbytes_per_s = 25600,
	.cmd_overhead_cycles = 64,
	.barrier_cycles = 32,
	.mac_fj = 75,
	.vector_op_fj = 800,
	.sram_byte_fj = 312,
	.dram_byte_fj = 32000,
	.nominal_mv = 900,
	.residency_slots = NPU_RESIDENCY_SLOTS,
};

/* Frequency/voltage pairs in the range of phone NPUs; devfreq exposes exactly these. */
const struct npu_opp npu_opp_table[NPU_NUM_OPPS] = {
	{ 200, 600 }, { 400, 650 }, { 600, 700 }, { 800, 800 }, { 1000, 900 },
};

/* ---- small integer helpers (no UB for any input) ----------------------------------------- */

static u64 umag(s64 x)
{
	return x < 0 ? 0 - (u64)x : (u64)x;
}

static s64 with_sign(u64 mag, int neg)
{
	/* mag <= 2^62 at every call site */
	return neg ? -(s64)mag : (s64)mag;
}

/* x / 2^s rounded to nearest, halves away from zero (C's round()). */
static s64 rshift_round(s64 x, u32 s)
{
	u64 m = umag(x);

	if (s == 0)
		return x;
	if (s >= 64)
		return 0;
	m = (m >> s) + ((m >> (s - 1)) & 1);
	return with_sign(m, x < 0);
}

/* x * 2^s, saturated to +-lim (lim < 2^62). */
static s64 lshift_sat(s64 x, u32 s, s64 lim)
{
	u64 m = umag(x);

	if (m == 0)
		return 0;
	if (s >= 62 || m > ((u64)lim >> s))
		return x < 0 ? -lim : lim;
	return with_sign(m << s, x < 0);
}

/* x * 2^s for a signed s. */
static s64 shift_round(s64 x, s32 s, s64 lim)
{
	return s >= 0 ? lshift_sat(x, (u32)s, lim) : rshift_round(x, (u32)(-(s64)s));
}

static s8 sat8(s64 x)
{
	return x > 127 ? 127 : x < -128 ? -128 : (s8)x;
}

static s64 sat32(s64 x)
{
	return x > 0x7fffffff ? 0x7fffffff : x < -0x7fffffffLL - 1 ? -0x7fffffffLL - 1 : x;
}

/* Number of significant bits of m (0 for 0); a branchy fls64 that needs no compiler library. */
static u32 bitlen(u64 m)
{
	u32 n = 0;
	u32 step;

	for (step = 32; step; step >>= 1) {
		if (m >> step) {
			m >>= step;
			n += step;
		}
	}
	return n + (u32)m;
}

static u64 div_round_up(u64 a, u64 b)
{
	return npu_div_u64(a + b - 1, b);
}

static u64 max3(u64 a, u64 b, u64 c)
{
	u64 m = a > b ? a : b;

	return m > c ? m : c;
}

static s32 ld_s16le(const u8 *p)
{
	return (s16)(u16)(p[0] | (u16)p[1] << 8);
}

static void st_u32le(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

/* ---- status reporting ---------------------------------------------------------------------- */

static const char *const error_names[] = {
	[ENPU_ERR_NONE] = "no error",
	[ENPU_ERR_BAD_MAGIC] = "bad stream magic",
	[ENPU_ERR_BAD_VERSION] = "unsupported ISA version",
	[ENPU_ERR_BAD_LENGTH] = "bad stream length",
	[ENPU_ERR_BAD_CMD_SIZE] = "bad command size",
	[ENPU_ERR_UNKNOWN_OPCODE] = "unknown opcode",
	[ENPU_ERR_RESERVED] = "nonzero reserved field",
	[ENPU_ERR_BAD_BUFFER] = "buffer index out of range",
	[ENPU_ERR_OUT_OF_BOUNDS] = "operand out of bounds",
	[ENPU_ERR_BAD_DIM] = "bad dimension",
	[ENPU_ERR_SHAPE] = "shape mismatch",
	[ENPU_ERR_BAD_DTYPE] = "bad element type",
	[ENPU_ERR_BAD_SHIFT] = "bad shift",
	[ENPU_ERR_BAD_QPARAM] = "bad quantization parameter",
	[ENPU_ERR_READ_ONLY] = "write to read-only buffer",
	[ENPU_ERR_NOT_READABLE] = "read of write-only buffer",
	[ENPU_ERR_OVERLAP] = "output overlaps input",
	[ENPU_ERR_MISALIGNED] = "misaligned operand",
	[ENPU_ERR_DEBUG_DISABLED] = "debug command not allowed",
	[ENPU_ERR_STALLED] = "engine stalled",
	[ENPU_ERR_ABORTED] = "aborted by engine reset",
	[ENPU_ERR_MMU_FAULT] = "device MMU fault",
};

const char *npu_error_name(u32 code)
{
	if (code >= sizeof(error_names) / sizeof(error_names[0]) || !error_names[code])
		return "unknown error";
	return error_names[code];
}

/* Appends s to the reason buffer, truncating; the buffer stays NUL-terminated. */
static void reason_add(struct npu_status *st, const char *s)
{
	u32 n = 0;

	while (n < sizeof(st->reason) - 1 && st->reason[n])
		n++;
	while (n < sizeof(st->reason) - 1 && *s)
		st->reason[n++] = *s++;
	st->reason[n] = 0;
}

/* Appends v in hexadecimal (no leading zeros). */
static void reason_hex(struct npu_status *st, u64 v)
{
	char buf[17];
	u32 n = 16;

	buf[16] = 0;
	do {
		buf[--n] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	reason_add(st, buf + n);
}

/* Validation context: where we are, the first failure, the extents seen (if wanted). */
struct vctx {
	const struct npu_engine *e;
	const struct npu_buffer *bufs;
	u32 nbufs;
	struct npu_status *st;
	const char *cmd_name;
	struct npu_extent *ext;
};

static int fail(struct vctx *v, u32 code, const char *field, const char *rule)
{
	struct npu_status *st = v->st;

	st->code = code;
	st->reason[0] = 0;
	if (v->cmd_name) {
		reason_add(st, v->cmd_name);
		reason_add(st, ": ");
	}
	if (field) {
		reason_add(st, field);
		reason_add(st, ": ");
	}
	reason_add(st, rule);
	return -(int)code;
}

/* ---- command decoding ---------------------------------------------------------------------- */

/* Every command of this ISA version, decoded into its known layout. */
union npu_cmd {
	struct enpu_cmd_header hdr;
	struct enpu_cmd_matmul mm;
	struct enpu_cmd_eltwise elt;
	struct enpu_cmd_lut lut;
	struct enpu_cmd_copy cp;
	struct enpu_cmd_barrier bar;
	struct enpu_cmd_debug_stall stall;
};

struct op_info {
	u16 opcode;
	u16 size;
	const char *name;
};

static const struct op_info op_infos[] = {
	{ ENPU_OP_MATMUL, sizeof(struct enpu_cmd_matmul), "matmul" },
	{ ENPU_OP_ELTWISE, sizeof(struct enpu_cmd_eltwise), "eltwise" },
	{ ENPU_OP_LUT, sizeof(struct enpu_cmd_lut), "lut" },
	{ ENPU_OP_COPY, sizeof(struct enpu_cmd_copy), "copy" },
	{ ENPU_OP_BARRIER, sizeof(struct enpu_cmd_barrier), "barrier" },
	{ ENPU_OP_DEBUG_STALL, sizeof(struct enpu_cmd_debug_stall), "debug_stall" },
};

static const struct op_info *find_op(u16 opcode)
{
	u32 i;

	for (i = 0; i < sizeof(op_infos) / sizeof(op_infos[0]); i++)
		if (op_infos[i].opcode == opcode)
			return &op_infos[i];
	return NULL;
}

static int all_zero(const void *p, u64 n)
{
	const u8 *b = p;
	u64 i;

	for (i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* ---- stream walking -------------------------------------------------------------------------- */

/* Checks the stream header; on success *ncmds is the command count. */
static int check_stream_header(struct vctx *v, const u8 *s, u64 len, u32 *ncmds)
{
	struct enpu_stream_header h;

	if (len < sizeof(h))
		return fail(v, ENPU_ERR_BAD_LENGTH, "stream", "shorter than its header");
	memcpy(&h, s, sizeof(h));
	if (h.magic != ENPU_STREAM_MAGIC)
		return fail(v, ENPU_ERR_BAD_MAGIC, "stream", "magic is not ENPU");
	if (h.version != ENPU_ISA_VERSION)
		return fail(v, ENPU_ERR_BAD_VERSION, "stream", "version is not 1");
	if (len > ENPU_MAX_STREAM_BYTES)
		return fail(v, ENPU_ERR_BAD_LENGTH, "stream", "longer than ENPU_MAX_STREAM_BYTES");
	if (h.size != len)
		return fail(v, ENPU_ERR_BAD_LENGTH, "size", "differs from the submitted length");
	if (h.flags || !all_zero(h.reserved, sizeof(h.reserved)))
		return fail(v, ENPU_ERR_RESERVED, "stream", "flags or reserved nonzero");
	*ncmds = h.num_cmds;
	return 0;
}

/*
 * Decodes the command at *pos into c (zero-extended to this engine's layout) and advances
 * *pos. Refuses truncated, unaligned, unknown and nonzero-tailed commands.
 */
static int decode_cmd(struct vctx *v, const u8 *s, u64 len, u64 *pos, union npu_cmd *c)
{
	struct enpu_cmd_header h;
	const struct op_info *oi;

	v->cmd_name = NULL;
	if (len - *pos < sizeof(h))
		return fail(v, ENPU_ERR_BAD_LENGTH, "stream", "ends before num_cmds commands");
	memcpy(&h, s + *pos, sizeof(h));
	if (h.size < sizeof(h) || h.size % 8 || h.size > len - *pos)
		return fail(v, ENPU_ERR_BAD_CMD_SIZE, "size",
			    "below 8, not a multiple of 8 or past the stream end");
	oi = find_op(h.opcode);
	if (!oi)
		return fail(v, ENPU_ERR_UNKNOWN_OPCODE, "opcode", "not an ENPU_OP_* value");
	v->cmd_name = oi->name;
	if (h.size < oi->size)
		return fail(v, ENPU_ERR_BAD_CMD_SIZE, "size", "smaller than the command layout");
	if (!all_zero(s + *pos + oi->size, h.size - oi->size))
		return fail(v, ENPU_ERR_RESERVED, "size", "unknown trailing fields are nonzero");
	if (h.flags)
		return fail(v, ENPU_ERR_RESERVED, "flags", "must be zero");
	memset(c, 0, sizeof(*c));
	memcpy(c, s + *pos, oi->size);
	*pos += h.size;
	return 0;
}

/* ---- operand checks ------------------------------------------------------------------------ */

/* The byte range an operand touches, [start, end); refuses overflow. */
struct range {
	u32 buffer;
	u64 start;
	u64 end;
};

enum access { RD = 1, WR = 2 };

/*
 * Checks one operand of rows x row_bytes: reserved, buffer index, permissions, alignment
 * (align is 1 or 4), output row overlap and bounds, all with overflow-checked 64-bit math.
 */
static int check_operand(struct vctx *v, const struct enpu_operand *o, const char *name,
			 u64 rows, u64 row_bytes, enum access acc, u32 align, struct range *r)
{
	const struct npu_buffer *b;
	u64 span, end;

	if (o->reserved)
		return fail(v, ENPU_ERR_RESERVED, name, "reserved nonzero");
	if (o->buffer >= v->nbufs)
		return fail(v, ENPU_ERR_BAD_BUFFER, name, "buffer index beyond the buffer list");
	b = &v->bufs[o->buffer];
	if ((acc & WR) && !(b->flags & ENPU_BUF_F_WRITE))
		return fail(v, ENPU_ERR_READ_ONLY, name, "buffer is not writable");
	if ((acc & RD) && !(b->flags & ENPU_BUF_F_READ))
		return fail(v, ENPU_ERR_NOT_READABLE, name, "buffer is not readable");
	if (o->offset % align || o->stride % align)
		return fail(v, ENPU_ERR_MISALIGNED, name, "offset or stride not a multiple of 4");
	if ((acc & WR) && rows > 1 && o->stride < row_bytes)
		return fail(v, ENPU_ERR_SHAPE, name, "output stride smaller than a row");
	if (__builtin_mul_overflow(rows - 1, o->stride, &span) ||
	    __builtin_add_overflow(span, row_bytes, &span) ||
	    __builtin_add_overflow(span, o->offset, &end) || end > b->size ||
	    (!b->data && !b->addr))
		return fail(v, ENPU_ERR_OUT_OF_BOUNDS, name, "extends past the end of its buffer");
	r->buffer = o->buffer;
	r->start = o->offset;
	r->end = end;
	if (v->ext) {
		struct npu_extent *x = &v->ext[o->buffer];

		if (r->start < x->start)
			x->start = r->start;
		if (r->end > x->end)
			x->end = r->end;
	}
	return 0;
}

static int ranges_overlap(const struct range *a, const struct range *b)
{
	return a->buffer == b->buffer && a->start < b->end && b->start < a->end;
}

/* In place: the output is exactly the input, element for element. */
static int same_place(const struct enpu_operand *a, const struct enpu_operand *b)
{
	return a->buffer == b->buffer && a->offset == b->offset && a->stride == b->stride;
}

static int check_requant(struct vctx *v, const struct enpu_requant *rq, const char *name)
{
	if (rq->reserved)
		return fail(v, ENPU_ERR_RESERVED, name, "reserved nonzero");
	if (rq->shift > ENPU_MAX_SHIFT)
		return fail(v, ENPU_ERR_BAD_SHIFT, name, "shift above 62");
	if (rq->multiplier < 0)
		return fail(v, ENPU_ERR_BAD_QPARAM, name, "negative multiplier");
	if (rq->zero_point < -128 || rq->zero_point > 127)
		return fail(v, ENPU_ERR_BAD_QPARAM, name, "zero point outside int8");
	return 0;
}

static int dim_ok(u64 d, u64 max)
{
	return d >= 1 && d <= max;
}

static u64 block_bytes(u32 dtype)
{
	switch (dtype) {
	case ENPU_DT_Q8B:
		return sizeof(struct enpu_block_q8);
	case ENPU_DT_Q4B:
		return sizeof(struct enpu_block_q4);
	case ENPU_DT_I32B:
		return sizeof(struct enpu_block_i32);
	default:
		return 1;
	}
}

/* Bytes of one matmul output row of n values. */
static u64 mm_out_row_bytes(const struct enpu_cmd_matmul *c)
{
	if (c->out_dtype == ENPU_DT_I32B)
		return (u64)c->n / ENPU_QK * sizeof(struct enpu_block_i32);
	return c->n;
}

static int check_matmul(struct vctx *v, const struct enpu_cmd_matmul *c)
{
	struct range rw, ri, ro;
	u64 nb = c->k / ENPU_QK;
	int err;

	if (c->reserved0 || !all_zero(c->reserved, sizeof(c->reserved)))
		return fail(v, ENPU_ERR_RESERVED, "reserved", "must be zero");
	if (!dim_ok(c->m, ENPU_MAX_ROWS) || !dim_ok(c->n, ENPU_MAX_N) ||
	    !dim_ok(c->k, ENPU_MAX_K))
		return fail(v, ENPU_ERR_BAD_DIM, "m/n/k", "zero or above the ISA limits");
	if (c->k % ENPU_QK)
		return fail(v, ENPU_ERR_BAD_DIM, "k", "not a multiple of 32");
	if (c->w_dtype != ENPU_DT_Q8B && c->w_dtype != ENPU_DT_Q4B)
		return fail(v, ENPU_ERR_BAD_DTYPE, "w_dtype", "weights must be Q8B or Q4B");
	if (c->out_dtype == ENPU_DT_I32B) {
		if (c->n % ENPU_QK)
			return fail(v, ENPU_ERR_BAD_DIM, "n", "I32B output needs n % 32 == 0");
		if (!all_zero(&c->requant, sizeof(c->requant)))
			return fail(v, ENPU_ERR_RESERVED, "requant",
				    "must be zero for I32B output");
	} else if (c->out_dtype == ENPU_DT_I8) {
		err = check_requant(v, &c->requant, "requant");
		if (err)
			return err;
	} else {
		return fail(v, ENPU_ERR_BAD_DTYPE, "out_dtype", "output must be I32B or I8");
	}
	err = check_operand(v, &c->weights, "weights", c->n, nb * block_bytes(c->w_dtype), RD, 4,
			    &rw);
	if (!err)
		err = check_operand(v, &c->input, "input", c->m,
				    nb * sizeof(struct enpu_block_q8), RD, 4, &ri);
	if (!err)
		err = check_operand(v, &c->output, "output", c->m, mm_out_row_bytes(c), WR,
				    c->out_dtype == ENPU_DT_I32B ? 4 : 1, &ro);
	if (err)
		return err;
	if (ranges_overlap(&ro, &rw) || ranges_overlap(&ro, &ri))
		return fail(v, ENPU_ERR_OVERLAP, "output", "overlaps the weights or the input");
	return 0;
}

static int check_eltwise(struct vctx *v, const struct enpu_cmd_eltwise *c)
{
	struct range ra, rb, ro;
	int err;

	if (c->reserved0 || c->reserved)
		return fail(v, ENPU_ERR_RESERVED, "reserved", "must be zero");
	if (!dim_ok(c->rows, ENPU_MAX_ROWS) || !dim_ok(c->cols, ENPU_MAX_COLS))
		return fail(v, ENPU_ERR_BAD_DIM, "rows/cols", "zero or above the ISA limits");
	if (c->op != ENPU_ELT_ADD && c->op != ENPU_ELT_MUL)
		return fail(v, ENPU_ERR_BAD_DTYPE, "op", "not an ENPU_ELT_* value");
	err = check_requant(v, &c->in_a, "in_a");
	if (!err)
		err = check_requant(v, &c->in_b, "in_b");
	if (!err)
		err = check_requant(v, &c->out_rq, "out_rq");
	if (err)
		return err;
	/* a product needs no input rescaling: a nonzero one is a driver bug, not a no-op */
	if (c->op == ENPU_ELT_MUL &&
	    (c->in_a.multiplier || c->in_a.shift || c->in_b.multiplier || c->in_b.shift))
		return fail(v, ENPU_ERR_RESERVED, "in_a/in_b", "multiplier/shift unused by mul");
	err = check_operand(v, &c->a, "a", c->rows, c->cols, RD, 1, &ra);
	if (!err)
		err = check_operand(v, &c->b, "b", c->rows, c->cols, RD, 1, &rb);
	if (!err)
		err = check_operand(v, &c->out, "out", c->rows, c->cols, WR, 1, &ro);
	if (err)
		return err;
	if ((ranges_overlap(&ro, &ra) && !same_place(&c->out, &c->a)) ||
	    (ranges_overlap(&ro, &rb) && !same_place(&c->out, &c->b)))
		return fail(v, ENPU_ERR_OVERLAP, "out", "partly overlaps an input");
	return 0;
}

static int check_lut(struct vctx *v, const struct enpu_cmd_lut *c)
{
	struct range ri, ro, rt;
	int err;

	if (c->reserved)
		return fail(v, ENPU_ERR_RESERVED, "reserved", "must be zero");
	if (!dim_ok(c->rows, ENPU_MAX_ROWS) || !dim_ok(c->cols, ENPU_MAX_COLS))
		return fail(v, ENPU_ERR_BAD_DIM, "rows/cols", "zero or above the ISA limits");
	if (c->table.stride)
		return fail(v, ENPU_ERR_SHAPE, "table", "stride must be 0");
	err = check_operand(v, &c->input, "input", c->rows, c->cols, RD, 1, &ri);
	if (!err)
		err = check_operand(v, &c->output, "output", c->rows, c->cols, WR, 1, &ro);
	if (!err)
		err = check_operand(v, &c->table, "table", 1, 256, RD, 1, &rt);
	if (err)
		return err;
	if (ranges_overlap(&ro, &rt) || (ranges_overlap(&ro, &ri) &&
					 !same_place(&c->output, &c->input)))
		return fail(v, ENPU_ERR_OVERLAP, "output",
			    "overlaps the table or partly the input");
	return 0;
}

static int check_copy(struct vctx *v, const struct enpu_cmd_copy *c)
{
	struct range rs, rd;
	int err;

	if (c->reserved)
		return fail(v, ENPU_ERR_RESERVED, "reserved", "must be zero");
	if (!dim_ok(c->rows, ENPU_MAX_ROWS) || !dim_ok(c->row_bytes, ENPU_MAX_COLS))
		return fail(v, ENPU_ERR_BAD_DIM, "rows/row_bytes", "zero or above the ISA limits");
	err = check_operand(v, &c->src, "src", c->rows, c->row_bytes, RD, 1, &rs);
	if (!err)
		err = check_operand(v, &c->dst, "dst", c->rows, c->row_bytes, WR, 1, &rd);
	if (err)
		return err;
	if (ranges_overlap(&rs, &rd))
		return fail(v, ENPU_ERR_OVERLAP, "dst", "overlaps src");
	return 0;
}

static int check_barrier(struct vctx *v, const struct enpu_cmd_barrier *c)
{
	struct enpu_operand o = { .buffer = c->buffer, .offset = c->offset };
	struct range r;

	if (c->reserved || (c->flags & ~ENPU_BARRIER_F_SIGNAL))
		return fail(v, ENPU_ERR_RESERVED, "flags/reserved", "undefined bits set");
	if (!(c->flags & ENPU_BARRIER_F_SIGNAL)) {
		if (c->value || c->buffer || c->offset)
			return fail(v, ENPU_ERR_RESERVED, "value/buffer/offset",
				    "must be zero without ENPU_BARRIER_F_SIGNAL");
		return 0;
	}
	return check_operand(v, &o, "signal", 1, 4, WR, 4, &r);
}

static int check_stall(struct vctx *v, const struct enpu_cmd_debug_stall *c)
{
	if (!(v->e->caps & NPU_CAP_DEBUG))
		return fail(v, ENPU_ERR_DEBUG_DISABLED, NULL,
			    "engine not configured with NPU_CAP_DEBUG");
	if (c->reserved)
		return fail(v, ENPU_ERR_RESERVED, "reserved", "must be zero");
	if (!dim_ok(c->cycles, ENPU_MAX_STALL_CYCLES))
		return fail(v, ENPU_ERR_BAD_DIM, "cycles", "zero or above ENPU_MAX_STALL_CYCLES");
	return 0;
}

static int check_cmd(struct vctx *v, const union npu_cmd *c)
{
	switch (c->hdr.opcode) {
	case ENPU_OP_MATMUL:
		return check_matmul(v, &c->mm);
	case ENPU_OP_ELTWISE:
		return check_eltwise(v, &c->elt);
	case ENPU_OP_LUT:
		return check_lut(v, &c->lut);
	case ENPU_OP_COPY:
		return check_copy(v, &c->cp);
	case ENPU_OP_BARRIER:
		return check_barrier(v, &c->bar);
	default:
		return check_stall(v, &c->stall);
	}
}

int npu_validate(const struct npu_engine *e, const void *stream, u64 len,
		 const struct npu_buffer *bufs, u32 nbufs, struct npu_status *st)
{
	return npu_validate_extents(e, stream, len, bufs, nbufs, st, NULL);
}

int npu_validate_extents(const struct npu_engine *e, const void *stream, u64 len,
			 const struct npu_buffer *bufs, u32 nbufs, struct npu_status *st,
			 struct npu_extent *ext)
{
	struct vctx v = { .e = e, .bufs = bufs, .nbufs = nbufs, .st = st, .ext = ext };
	const u8 *s = stream;
	union npu_cmd c;
	u64 pos = sizeof(struct enpu_stream_header);
	u32 ncmds = 0, i;
	int err;

	memset(st, 0, sizeof(*st));
	st->cmd_index = NPU_CMD_HEADER;
	for (i = 0; ext && i < nbufs; i++) {
		ext[i].start = ~0ull;
		ext[i].end = 0;
	}
	if (!stream)
		return fail(&v, ENPU_ERR_BAD_LENGTH, "stream", "no stream");
	err = check_stream_header(&v, s, len, &ncmds);
	if (err)
		return err;
	for (i = 0; i < ncmds; i++) {
		st->cmd_index = i;
		st->cmd_offset = (u32)pos;
		err = decode_cmd(&v, s, len, &pos, &c);
		if (!err)
			err = check_cmd(&v, &c);
		if (err)
			return err;
	}
	v.cmd_name = NULL;
	if (pos != len) {
		st->cmd_index = ncmds;
		st->cmd_offset = (u32)pos;
		return fail(&v, ENPU_ERR_BAD_LENGTH, "stream", "bytes after the last command");
	}
	st->cmd_index = 0;
	st->cmd_offset = 0;
	st->reason[0] = 0;
	reason_add(st, "valid");
	return 0;
}

/* ---- execution: memory, directly or through the device MMU ------------------------------ */

/* The MMU's staging lanes: a matmul's weights row, its input row, and outputs. */
enum lane { LANE_W, LANE_A, LANE_O };

/* Bytes [off, off + len) of buffer buf, to read; NULL if the MMU refused (a fault). */
static const u8 *mem_read(struct npu_exec *x, u32 lane, u32 buf, u64 off, u64 len)
{
	const struct npu_buffer *b = &x->bufs[buf];

	if (!x->mmu)
		return (const u8 *)b->data + off;
	return npu_mmu_read(x->mmu, lane, b->addr + off, len);
}

/* Bytes [off, off + len) of buffer buf, to write all of them, then mem_write_end(). */
static u8 *mem_write_begin(struct npu_exec *x, u32 lane, u32 buf, u64 off, u64 len)
{
	const struct npu_buffer *b = &x->bufs[buf];

	if (!x->mmu)
		return (u8 *)b->data + off;
	return npu_mmu_write_begin(x->mmu, lane, b->addr + off, len);
}

static void mem_write_end(struct npu_exec *x, u32 lane)
{
	if (x->mmu)
		npu_mmu_write_end(x->mmu, lane);
}

/*
 * Caps n bytes at [off, ...) of buffer buf to the end of their device page, so that a chunk
 * of element-wise work is one span per page, never staged (host memory: no cap).
 */
static u64 page_cap(const struct npu_exec *x, u32 buf, u64 off, u64 n)
{
	u64 left;

	if (!x->mmu)
		return n;
	left = npu_mmu_page_left(x->bufs[buf].addr + off);
	return n < left ? n : left;
}

/* An access faulted: the job stops before it, with the MMU's address in the verdict. */
static void mem_fault(struct npu_exec *x, const char *what)
{
	x->state = NPU_EXEC_FAULTED;
	x->js.c.errors = 1;
	x->st.code = ENPU_ERR_MMU_FAULT;
	x->st.cmd_index = x->cmd_index;
	x->st.reason[0] = 0;
	reason_add(&x->st, what);
	reason_add(&x->st, ": device MMU fault at 0x");
	reason_hex(&x->st, x->mmu->fault_addr);
	reason_add(&x->st, x->mmu->fault_status & NPU_FAULT_ACCESS_WRITE ? " (write)" : " (read)");
}

/* ---- execution: matmul ------------------------------------------------------------------- */

/* A block's integer scale m * 2^e, with m clamped to the 11-bit range an fp16 scale needs. */
static void block_scale(const u8 *blk, s32 *m, s32 *e)
{
	s32 v = ld_s16le(blk);

	*m = v > 2047 ? 2047 : v < -2047 ? -2047 : v;
	*e = (s8)blk[2];
}

/* Exact int32 dot product of one weight block with one activation block (|sum| < 2^19). */
static s32 block_dot(u32 w_dtype, const u8 *w, const u8 *a)
{
	const u8 *aq = a + 4, *wq = w + 4;
	s32 sum = 0;
	u32 j;

	if (w_dtype == ENPU_DT_Q8B) {
		for (j = 0; j < ENPU_QK; j++)
			sum += (s8)wq[j] * (s8)aq[j];
		return sum;
	}
	/* int4 unpacked here: low nibble element j, high nibble element j + 16, bias 8 */
	for (j = 0; j < ENPU_QK / 2; j++) {
		sum += ((s32)(wq[j] & 0x0f) - 8) * (s8)aq[j];
		sum += ((s32)(wq[j] >> 4) - 8) * (s8)aq[j + ENPU_QK / 2];
	}
	return sum;
}

/*
 * Guard bits of the accumulator below the largest block exponent. Each term is
 * sumi * m_w * m_a with |sumi| < 2^19 and |m| <= 2047, so |term| < 2^41; shifted left by at
 * most ACC_GUARD and summed over at most ENPU_MAX_K / 32 = 2^11 blocks it stays below 2^62.
 * Terms with smaller exponents are rounded into the accumulator's unit 2^(emax - ACC_GUARD):
 * that is ~2^-50 of the largest possible term, far below float's 2^-24.
 */
#define ACC_GUARD 10

/*
 * One output: sum over blocks of sumi * d_w * d_a, as acc * 2^exp. The two passes over the
 * scales find the accumulator's alignment (block-floating-point, as a hardware accumulator
 * with a barrel shifter would do it).
 */
static void dot_row(u32 w_dtype, const u8 *w, const u8 *a, u64 nb, s64 *acc, s32 *exp)
{
	u64 wb = block_bytes(w_dtype), ab = sizeof(struct enpu_block_q8), b;
	s32 emax = -0x7fff, mw, ew, ma, ea, base;
	s64 sum = 0;

	for (b = 0; b < nb; b++) {
		block_scale(w + b * wb, &mw, &ew);
		block_scale(a + b * ab, &ma, &ea);
		if (ew + ea > emax)
			emax = ew + ea;
	}
	base = emax - ACC_GUARD;
	for (b = 0; b < nb; b++) {
		s64 term;

		block_scale(w + b * wb, &mw, &ew);
		block_scale(a + b * ab, &ma, &ea);
		term = (s64)block_dot(w_dtype, w + b * wb, a + b * ab) * mw * ma;
		sum += shift_round(term, ew + ea - base, (s64)1 << 61);
	}
	*acc = sum;
	*exp = base;
}

/*
 * Writes up to 32 outputs as one I32B block: a shared exponent chosen so that the largest
 * mantissa has 30 bits (room for rounding up), the others aligned to it.
 */
static void emit_i32_block(u8 *out, const s64 *acc, const s32 *exp, u32 cnt)
{
	s32 top = -0x7fffffff, eb, t;
	u32 j;

	for (j = 0; j < cnt; j++) {
		if (!acc[j])
			continue;
		t = exp[j] + (s32)bitlen(umag(acc[j]));
		if (t > top)
			top = t;
	}
	eb = top == -0x7fffffff ? 0 : top - 30;
	st_u32le(out, (u32)eb);
	for (j = 0; j < ENPU_QK; j++) {
		s64 q = j < cnt ? shift_round(acc[j], exp[j] - eb, (s64)1 << 31) : 0;

		st_u32le(out + 4 + 4 * j, (u32)(s32)q);
	}
}

/*
 * q = zero_point + value * multiplier * 2^-shift for value = acc * 2^exp. acc is first
 * rounded to 31 significant bits so that the product with the multiplier fits in 63.
 */
static s8 requant_value(s64 acc, s32 exp, const struct enpu_requant *rq)
{
	u32 r = bitlen(umag(acc));
	s64 a, prod;

	r = r > 31 ? r - 31 : 0;
	a = rshift_round(acc, r);
	prod = a * rq->multiplier;
	/* total right shift = shift - exp - r, in [-400, 400]: int8 saturates long before */
	return sat8(rq->zero_point + shift_round(prod, exp + (s32)r - (s32)rq->shift,
						 (s64)1 << 20));
}

/*
 * Runs outputs of a matmul from the job's cursor (x->row, x->col) until the budget is spent:
 * one output (k MACs) at a time. The accumulators of the current block of 32 outputs live in
 * the cursor, so a slice may end inside a block and the results are those of one run.
 */
/* Writes the outputs [n0, n0 + cnt) of the current row from the accumulators; 0 on a fault. */
static int emit_outputs(struct npu_exec *x, const struct enpu_cmd_matmul *c, u64 n0, u32 cnt)
{
	u64 off = c->output.offset + x->row * c->output.stride;
	u8 *o;
	u32 j;

	if (c->out_dtype == ENPU_DT_I32B) {
		o = mem_write_begin(x, LANE_O, c->output.buffer,
				    off + n0 / ENPU_QK * sizeof(struct enpu_block_i32),
				    sizeof(struct enpu_block_i32));
		if (!o)
			return 0;
		emit_i32_block(o, x->acc, x->exp, cnt);
	} else {
		o = mem_write_begin(x, LANE_O, c->output.buffer, off + n0, cnt);
		if (!o)
			return 0;
		for (j = 0; j < cnt; j++)
			o[j] = (u8)requant_value(x->acc[j], x->exp[j], &c->requant);
	}
	mem_write_end(x, LANE_O);
	return 1;
}

static u64 step_matmul(struct npu_exec *x, const struct enpu_cmd_matmul *c, u64 budget)
{
	u64 nb = c->k / ENPU_QK, used = 0;
	u64 wrow = nb * block_bytes(c->w_dtype), arow = nb * sizeof(struct enpu_block_q8);
	const u8 *w, *a;
	u32 j, cnt;

	while (x->row < c->m && used < budget) {
		j = (u32)x->col & (ENPU_QK - 1);
		w = mem_read(x, LANE_W, c->weights.buffer,
			     c->weights.offset + x->col * c->weights.stride, wrow);
		a = mem_read(x, LANE_A, c->input.buffer,
			     c->input.offset + x->row * c->input.stride, arow);
		if (!w || !a) {
			mem_fault(x, w ? "matmul: input" : "matmul: weights");
			break;
		}
		dot_row(c->w_dtype, w, a, nb, &x->acc[j], &x->exp[j]);
		used += c->k;
		x->col++;
		if (j == ENPU_QK - 1 || x->col == c->n) {
			cnt = j + 1;
			if (!emit_outputs(x, c, x->col - cnt, cnt)) {
				mem_fault(x, "matmul: output");
				break;
			}
		}
		if (x->col == c->n) {
			x->col = 0;
			x->row++;
		}
	}
	return used;
}

/* ---- execution: element-wise, LUT, copy ---------------------------------------------------- */

/* (q - zero_point) * multiplier * 2^-shift; |q - zp| <= 255 and multiplier < 2^31. */
static s64 rescale(s32 q, const struct enpu_requant *rq)
{
	return rshift_round((s64)(q - rq->zero_point) * rq->multiplier, rq->shift);
}

static s8 eltwise_one(const struct enpu_cmd_eltwise *c, s8 qa, s8 qb)
{
	s64 x;

	if (c->op == ENPU_ELT_ADD)
		x = sat32(rescale(qa, &c->in_a) + rescale(qb, &c->in_b));
	else
		x = (s64)(qa - c->in_a.zero_point) * (qb - c->in_b.zero_point);
	/* |x| < 2^31 and multiplier < 2^31: the product fits in 62 bits */
	return sat8(c->out_rq.zero_point +
		    rshift_round(x * c->out_rq.multiplier, c->out_rq.shift));
}

/*
 * The element-wise commands walk rows x cols from the cursor in chunks of at most the budget;
 * returns the elements (or bytes) of the chunk and advances the cursor past it.
 */
static u64 chunk(struct npu_exec *x, u64 rows, u64 cols, u64 budget)
{
	u64 n = cols - x->col;

	if (x->row >= rows)
		return 0;
	return n < budget ? n : budget;
}

static void advance(struct npu_exec *x, u64 cols, u64 n)
{
	x->col += n;
	if (x->col == cols) {
		x->col = 0;
		x->row++;
	}
}

/* Byte offset of the cursor's element in operand o. */
static u64 cursor_off(const struct npu_exec *x, const struct enpu_operand *o)
{
	return o->offset + x->row * o->stride + x->col;
}

static u64 step_eltwise(struct npu_exec *x, const struct enpu_cmd_eltwise *c, u64 budget)
{
	u64 n = chunk(x, c->rows, c->cols, budget), i;
	u64 ao = cursor_off(x, &c->a), bo = cursor_off(x, &c->b), oo = cursor_off(x, &c->out);
	const u8 *a, *b;
	u8 *o;

	if (!n)
		return 0;
	n = page_cap(x, c->out.buffer, oo, page_cap(x, c->b.buffer, bo,
						    page_cap(x, c->a.buffer, ao, n)));
	a = mem_read(x, LANE_W, c->a.buffer, ao, n);
	b = mem_read(x, LANE_A, c->b.buffer, bo, n);
	o = a && b ? mem_write_begin(x, LANE_O, c->out.buffer, oo, n) : NULL;
	if (!o) {
		mem_fault(x, !a ? "eltwise: a" : !b ? "eltwise: b" : "eltwise: out");
		return 0;
	}
	/* in place is exact aliasing: element i is read before it is written */
	for (i = 0; i < n; i++)
		o[i] = (u8)eltwise_one(c, (s8)a[i], (s8)b[i]);
	mem_write_end(x, LANE_O);
	advance(x, c->cols, n);
	return n;
}

static u64 step_lut(struct npu_exec *x, const struct enpu_cmd_lut *c, u64 budget)
{
	u64 n = chunk(x, c->rows, c->cols, budget), i;
	u64 io = cursor_off(x, &c->input), oo = cursor_off(x, &c->output);
	const u8 *tab, *in;
	u8 *o;

	if (!n)
		return 0;
	n = page_cap(x, c->output.buffer, oo, page_cap(x, c->input.buffer, io, n));
	tab = mem_read(x, LANE_W, c->table.buffer, c->table.offset, 256);
	in = mem_read(x, LANE_A, c->input.buffer, io, n);
	o = tab && in ? mem_write_begin(x, LANE_O, c->output.buffer, oo, n) : NULL;
	if (!o) {
		mem_fault(x, !tab ? "lut: table" : !in ? "lut: input" : "lut: output");
		return 0;
	}
	for (i = 0; i < n; i++)
		o[i] = tab[(u8)(in[i] ^ 0x80)]; /* (s8)in + 128 */
	mem_write_end(x, LANE_O);
	advance(x, c->cols, n);
	return n;
}

static u64 step_copy(struct npu_exec *x, const struct enpu_cmd_copy *c, u64 budget)
{
	u64 n = chunk(x, c->rows, c->row_bytes, budget);
	u64 so = cursor_off(x, &c->src), doff = cursor_off(x, &c->dst);
	const u8 *src;
	u8 *dst;

	if (!n)
		return 0;
	n = page_cap(x, c->dst.buffer, doff, page_cap(x, c->src.buffer, so, n));
	src = mem_read(x, LANE_A, c->src.buffer, so, n);
	dst = src ? mem_write_begin(x, LANE_O, c->dst.buffer, doff, n) : NULL;
	if (!dst) {
		mem_fault(x, src ? "copy: dst" : "copy: src");
		return 0;
	}
	memcpy(dst, src, n);
	mem_write_end(x, LANE_O);
	advance(x, c->row_bytes, n);
	return n;
}

/* Signals the barrier's word; 0 on a fault. */
static int exec_barrier(struct npu_exec *x, const struct enpu_cmd_barrier *c)
{
	u8 *p;

	if (!(c->flags & ENPU_BARRIER_F_SIGNAL))
		return 1;
	p = mem_write_begin(x, LANE_O, c->buffer, c->offset, 4);
	if (!p) {
		mem_fault(x, "barrier: signal");
		return 0;
	}
	st_u32le(p, c->value);
	mem_write_end(x, LANE_O);
	return 1;
}

/* ---- time and energy model --------------------------------------------------------------- */

/* What one command cost; summed into the job. */
struct cost {
	u64 cycles;
	u64 macs;
	u64 vec;
	u64 dram;
	u64 sram;
};

static u32 cur_mhz(const struct npu_engine *e)
{
	return npu_opp_table[e->opp].freq_mhz;
}

/* Cycles of the command at the current clock: fixed overhead + the slowest of its units. */
static u64 cmd_cycles(const struct npu_engine *e, u64 compute, u64 dram, u64 sram)
{
	u64 dram_c = div_round_up(dram * cur_mhz(e), e->hw.dram_mbytes_per_s);
	u64 sram_c = div_round_up(sram, e->hw.sram_bytes_per_cycle);

	return e->hw.cmd_overhead_cycles + max3(compute, dram_c, sram_c);
}

static void evict_slot(struct npu_engine *e, struct npu_resident *r)
{
	e->resident_bytes -= r->bytes;
	memset(r, 0, sizeof(*r));
}

/*
 * Weight-stationary residency: returns 1 if the region is in SRAM (and refreshes it), else
 * loads it, evicting least recently used regions, and returns 0. Regions larger than the
 * weight area stream from DRAM every time and are not kept.
 */
static int weights_resident(struct npu_engine *e, u64 id, u64 offset, u64 bytes)
{
	struct npu_resident *r = e->resident, *victim;
	u32 n = e->hw.residency_slots, i;

	e->tick++;
	if (!id || bytes > e->hw.sram_weight_bytes)
		return 0;
	for (i = 0; i < n; i++) {
		if (r[i].id == id && r[i].offset == offset && r[i].bytes == bytes) {
			r[i].last_use = e->tick;
			return 1;
		}
	}
	for (;;) {
		victim = NULL;
		for (i = 0; i < n; i++) {
			if (!r[i].id) {
				if (e->resident_bytes + bytes <= e->hw.sram_weight_bytes)
					break;
				continue;
			}
			if (!victim || r[i].last_use < victim->last_use)
				victim = &r[i];
		}
		if (i < n)
			break;
		evict_slot(e, victim); /* the table is full or SRAM is: some slot is in use */
	}
	r[i].id = id;
	r[i].offset = offset;
	r[i].bytes = bytes;
	r[i].last_use = e->tick;
	e->resident_bytes += bytes;
	return 0;
}

/* A command wrote [start, end) of buffer id: resident copies of it are stale. */
static void forget_range(struct npu_engine *e, u64 id, u64 start, u64 end)
{
	u32 i;

	for (i = 0; i < e->hw.residency_slots; i++) {
		struct npu_resident *r = &e->resident[i];

		if (r->id == id && id && r->offset < end && start < r->offset + r->bytes)
			evict_slot(e, r);
	}
}

static void forget_operand(struct npu_engine *e, const struct npu_buffer *bufs,
			   const struct enpu_operand *o, u64 rows, u64 row_bytes)
{
	forget_range(e, bufs[o->buffer].id, o->offset, o->offset + (rows - 1) * o->stride +
		     row_bytes);
}

static void cost_matmul(struct npu_engine *e, const struct enpu_cmd_matmul *c,
			const struct npu_buffer *bufs, struct cost *k)
{
	u64 nb = c->k / ENPU_QK;
	u64 wbytes = (u64)c->n * nb * block_bytes(c->w_dtype);
	u64 abytes = (u64)c->m * nb * sizeof(struct enpu_block_q8);
	u64 obytes = (u64)c->m * mm_out_row_bytes(c);
	u64 compute = (u64)c->m * div_round_up(c->n, e->hw.mac_cols) *
		      div_round_up(c->k, e->hw.mac_rows);

	k->macs = (u64)c->m * c->n * c->k;
	/* one scale multiply per (row, output, block), one epilogue op per output */
	k->vec = (u64)c->m * c->n * (nb + 1);
	k->dram = abytes + obytes;
	if (!weights_resident(e, bufs[c->weights.buffer].id, c->weights.offset, wbytes))
		k->dram += wbytes;
	/* the array reads each weight once (stationary) and every activation/output once */
	k->sram = wbytes + abytes + obytes;
	/* block scaling runs in a pipelined unit behind the array: it adds energy, not time */
	k->cycles = cmd_cycles(e, compute, k->dram, k->sram);
	forget_operand(e, bufs, &c->output, c->m, mm_out_row_bytes(c));
}

static void cost_elementwise(struct npu_engine *e, u64 elems, u64 in_bytes, struct cost *k)
{
	k->vec = elems;
	k->dram = in_bytes + elems;
	k->sram = in_bytes + elems;
	k->cycles = cmd_cycles(e, div_round_up(elems, e->hw.vector_lanes), k->dram, k->sram);
}

static void cost_cmd(struct npu_engine *e, const union npu_cmd *c, const struct npu_buffer *bufs,
		     struct cost *k)
{
	u64 elems;

	memset(k, 0, sizeof(*k));
	switch (c->hdr.opcode) {
	case ENPU_OP_MATMUL:
		cost_matmul(e, &c->mm, bufs, k);
		break;
	case ENPU_OP_ELTWISE:
		elems = (u64)c->elt.rows * c->elt.cols;
		/* a broadcast row (stride 0) is fetched once */
		cost_elementwise(e, elems, elems + (c->elt.b.stride ? elems : c->elt.cols), k);
		forget_operand(e, bufs, &c->elt.out, c->elt.rows, c->elt.cols);
		break;
	case ENPU_OP_LUT:
		elems = (u64)c->lut.rows * c->lut.cols;
		cost_elementwise(e, elems, elems + 256, k);
		forget_operand(e, bufs, &c->lut.output, c->lut.rows, c->lut.cols);
		break;
	case ENPU_OP_COPY:
		/* a DMA descriptor: DRAM to DRAM, no datapath */
		k->dram = 2 * (u64)c->cp.rows * c->cp.row_bytes;
		k->cycles = cmd_cycles(e, 0, k->dram, 0);
		forget_operand(e, bufs, &c->cp.dst, c->cp.rows, c->cp.row_bytes);
		break;
	case ENPU_OP_BARRIER:
		k->cycles = e->hw.cmd_overhead_cycles + e->hw.barrier_cycles;
		if (c->bar.flags & ENPU_BARRIER_F_SIGNAL) {
			k->dram = 4;
			forget_range(e, bufs[c->bar.buffer].id, c->bar.offset, c->bar.offset + 4);
		}
		break;
	default:
		k->cycles = e->hw.cmd_overhead_cycles + c->stall.cycles;
		break;
	}
}

/* Femtojoules of a job: core costs scaled by (V / Vnom)^2, DRAM at its own fixed rail. */
static u64 job_energy_fj(const struct npu_engine *e, const struct npu_counters *c)
{
	u64 core = c->macs * e->hw.mac_fj + c->vector_ops * e->hw.vector_op_fj +
		   c->sram_bytes * e->hw.sram_byte_fj;
	u64 mv = npu_opp_table[e->opp].volt_mv, nom = e->hw.nominal_mv;
	/* V^2 / Vnom^2 in Q16 (< 2^19 for any sane table), applied in two halves to not overflow */
	u64 q16 = npu_div_u64((mv * mv) << 16, nom * nom);
	u64 scaled = (core >> 16) * q16 + (((core & 0xffff) * q16) >> 16);

	return scaled + c->dram_bytes * e->hw.dram_byte_fj;
}

/* ---- engine state and jobs ----------------------------------------------------------------- */

void npu_engine_init(struct npu_engine *e, const struct npu_hw_params *hw, u32 caps)
{
	memset(e, 0, sizeof(*e));
	e->hw = hw ? *hw : npu_default_hw;
	if (!e->hw.residency_slots || e->hw.residency_slots > NPU_RESIDENCY_SLOTS)
		e->hw.residency_slots = NPU_RESIDENCY_SLOTS;
	e->caps = caps;
	e->opp = NPU_NUM_OPPS - 1;
}

int npu_engine_set_opp(struct npu_engine *e, u32 opp)
{
	if (opp >= NPU_NUM_OPPS)
		return -1;
	e->opp = opp;
	return 0;
}

void npu_engine_reset(struct npu_engine *e)
{
	memset(e->resident, 0, sizeof(e->resident));
	e->resident_bytes = 0;
}

void npu_engine_forget_buffer(struct npu_engine *e, u64 id)
{
	forget_range(e, id, 0, ~0ull);
}

u64 npu_cycles_to_ns(u64 cycles, u32 opp)
{
	if (opp >= NPU_NUM_OPPS)
		opp = NPU_NUM_OPPS - 1;
	return div_round_up(cycles * 1000, npu_opp_table[opp].freq_mhz);
}

static void add_cost(struct npu_counters *j, const struct cost *k)
{
	j->busy_cycles += k->cycles;
	j->macs += k->macs;
	j->vector_ops += k->vec;
	j->dram_bytes += k->dram;
	j->sram_bytes += k->sram;
	j->cmds++;
}

void npu_counters_add(struct npu_counters *t, u64 *fj_rem, const struct npu_job_stats *js)
{
	u64 pj;

	t->busy_cycles += js->c.busy_cycles;
	t->macs += js->c.macs;
	t->vector_ops += js->c.vector_ops;
	t->dram_bytes += js->c.dram_bytes;
	t->sram_bytes += js->c.sram_bytes;
	t->cmds += js->c.cmds;
	t->jobs += js->c.jobs;
	t->errors += js->c.errors;
	t->stalls += js->c.stalls;
	*fj_rem += js->energy_fj;
	pj = npu_div_u64(*fj_rem, 1000);
	t->energy_pj += pj;
	*fj_rem -= pj * 1000;
}

/* The current command is kept decoded in the cursor's opaque words: it must fit. */
_Static_assert(sizeof(union npu_cmd) <= sizeof(((struct npu_exec *)0)->cmd),
	       "npu_exec.cmd too small for union npu_cmd");

static union npu_cmd *cur_cmd(struct npu_exec *x)
{
	return (union npu_cmd *)x->cmd;
}

/* Rows of the current command: it is complete once the cursor's row reaches them. */
static u64 cmd_rows(const union npu_cmd *c)
{
	switch (c->hdr.opcode) {
	case ENPU_OP_MATMUL:
		return c->mm.m;
	case ENPU_OP_ELTWISE:
		return c->elt.rows;
	case ENPU_OP_LUT:
		return c->lut.rows;
	case ENPU_OP_COPY:
		return c->cp.rows;
	default:
		return 1;
	}
}

/* Runs the current command from the cursor for about budget work; returns the work done. */
static u64 step_cmd(struct npu_exec *x, const union npu_cmd *c, u64 budget)
{
	switch (c->hdr.opcode) {
	case ENPU_OP_MATMUL:
		return step_matmul(x, &c->mm, budget);
	case ENPU_OP_ELTWISE:
		return step_eltwise(x, &c->elt, budget);
	case ENPU_OP_LUT:
		return step_lut(x, &c->lut, budget);
	case ENPU_OP_COPY:
		return step_copy(x, &c->cp, budget);
	default:
		if (!exec_barrier(x, &c->bar))
			return 0;
		x->row = 1;
		return 1;
	}
}

int npu_exec_begin(struct npu_engine *e, struct npu_exec *x, const void *stream, u64 len,
		   const struct npu_buffer *bufs, u32 nbufs)
{
	struct enpu_stream_header sh;
	int err;

	memset(x, 0, sizeof(*x));
	x->js.opp = e->opp;
	err = npu_validate(e, stream, len, bufs, nbufs, &x->st);
	if (err) {
		x->js.c.errors = 1;
		x->state = NPU_EXEC_FAILED;
		return err;
	}
	memcpy(&sh, stream, sizeof(sh));
	x->stream = stream;
	x->len = len;
	x->bufs = bufs;
	x->nbufs = nbufs;
	x->ncmds = sh.num_cmds;
	x->pos = sizeof(sh);
	x->state = NPU_EXEC_RUNNING;
	return 0;
}

/* Starts the next command: its cost is charged up front, as the model has always done. */
static int next_cmd(struct npu_engine *e, struct npu_exec *x)
{
	struct vctx v = { .e = e, .bufs = x->bufs, .nbufs = x->nbufs, .st = &x->st };
	union npu_cmd *c = cur_cmd(x);
	struct cost k;

	decode_cmd(&v, x->stream, x->len, &x->pos, c); /* validated at begin: cannot fail */
	if (x->mmu)
		npu_mmu_next_cmd(x->mmu);
	cost_cmd(e, c, x->bufs, &k);
	x->cmd_start = x->js.c;
	add_cost(&x->js.c, &k);
	x->row = 0;
	x->col = 0;
	x->in_cmd = 1;
	if (c->hdr.opcode != ENPU_OP_DEBUG_STALL)
		return 0;
	/* the hang: nothing after this command runs; only a reset recovers */
	x->js.c.errors = 1;
	x->js.c.stalls = 1;
	x->st.code = ENPU_ERR_STALLED;
	x->st.cmd_index = x->cmd_index;
	x->st.reason[0] = 0;
	reason_add(&x->st, "debug_stall: engine hung; reset required");
	x->state = NPU_EXEC_STALLED;
	return -ENPU_ERR_STALLED;
}

int npu_exec_step(struct npu_engine *e, struct npu_exec *x, u64 budget)
{
	u64 used = 0;

	while (x->state == NPU_EXEC_RUNNING && used < budget) {
		if (!x->in_cmd) {
			if (x->cmd_index == x->ncmds) {
				x->js.c.jobs = 1;
				x->state = NPU_EXEC_DONE;
				break;
			}
			if (next_cmd(e, x))
				break;
		}
		used += step_cmd(x, cur_cmd(x), budget - used);
		if (x->state == NPU_EXEC_RUNNING && x->row >= cmd_rows(cur_cmd(x))) {
			x->in_cmd = 0;
			x->cmd_index++;
		}
	}
	x->last_work = used;
	if (x->state == NPU_EXEC_RUNNING)
		return 1;
	return x->state == NPU_EXEC_DONE ? 0 : -(int)x->st.code;
}

/* part / whole of full (part <= whole), in 16-bit fixed point: no u64 overflows. */
static u64 share_of(u64 full, u64 part, u64 whole)
{
	u64 q16;

	while (whole >= 1ull << 47) {
		whole >>= 1;
		part >>= 1;
	}
	q16 = whole ? npu_div_u64(part << 16, whole) : 0;
	return (full >> 16) * q16 + (((full & 0xffff) * q16) >> 16);
}

/*
 * The command an abort interrupts is charged for the part it ran, not in full: its cost was
 * charged when it started, and one huge matmul stopped at the timeout would otherwise count
 * (and heat the modeled die by) all the work it never did.
 */
static void refund_unrun(struct npu_exec *x)
{
	const union npu_cmd *c = cur_cmd(x);
	struct npu_counters *j = &x->js.c;
	const struct npu_counters *s = &x->cmd_start;
	u64 done, whole;

	if (c->hdr.opcode == ENPU_OP_MATMUL) {
		whole = (u64)c->mm.m * c->mm.n;
		done = x->row * c->mm.n + x->col;
	} else {
		whole = cmd_rows(c);
		done = x->row;
	}
	if (done >= whole)
		return;
	j->busy_cycles = s->busy_cycles + share_of(j->busy_cycles - s->busy_cycles, done, whole);
	j->macs = s->macs + share_of(j->macs - s->macs, done, whole);
	j->vector_ops = s->vector_ops + share_of(j->vector_ops - s->vector_ops, done, whole);
	j->dram_bytes = s->dram_bytes + share_of(j->dram_bytes - s->dram_bytes, done, whole);
	j->sram_bytes = s->sram_bytes + share_of(j->sram_bytes - s->sram_bytes, done, whole);
}

void npu_exec_abort(struct npu_exec *x, u32 code, const char *reason)
{
	if (x->state != NPU_EXEC_RUNNING && x->state != NPU_EXEC_STALLED)
		return;
	if (x->state == NPU_EXEC_RUNNING && x->in_cmd)
		refund_unrun(x);
	if (x->state == NPU_EXEC_RUNNING) {
		x->js.c.errors = 1;
		x->st.code = code;
		x->st.cmd_index = x->cmd_index;
		x->st.reason[0] = 0;
		reason_add(&x->st, reason);
	}
	x->state = NPU_EXEC_ABORTED;
}

void npu_exec_finish(struct npu_engine *e, struct npu_exec *x, struct npu_job_stats *stats)
{
	struct npu_job_stats *js = &x->js;

	js->energy_fj = job_energy_fj(e, &js->c);
	js->c.energy_pj = npu_div_u64(js->energy_fj, 1000);
	js->time_ns = npu_cycles_to_ns(js->c.busy_cycles, js->opp);
	npu_counters_add(&e->total, &e->energy_fj_rem, js);
	if (stats)
		*stats = *js;
}

int npu_engine_run(struct npu_engine *e, const void *stream, u64 len,
		   const struct npu_buffer *bufs, u32 nbufs, struct npu_job_stats *stats,
		   struct npu_status *st)
{
	struct npu_exec *x = &e->run;
	int err = npu_exec_begin(e, x, stream, len, bufs, nbufs);

	if (!err) {
		do
			err = npu_exec_step(e, x, ~0ull);
		while (err > 0);
	}
	npu_exec_finish(e, x, stats);
	*st = x->st;
	return err;
}
