/* SPDX-License-Identifier: MIT */
/*
 * npu_host.h - the host side of the NPU boundary, around the simulated silicon's engine
 * (kmod/silicon/npu_engine.h): converting GGUF weights to the NPU layout, quantizing
 * activations at partition boundaries, computing requantization pairs and LUTs, and building
 * command streams.
 *
 * User space only (uses float). Shared by both NPU backends, the in-process device (hal/npu)
 * and the kernel driver's (hal/npu_drm), which is why it sits in hal/ rather than in either.
 * No global state; every function is thread-safe on distinct arguments.
 *
 * Numerics (measured by tests/test_npu_engine.c against hal/cpu/cpu_ref.c):
 *  - Weights: an fp16 block scale is exactly m * 2^e with |m| <= 2047, so conversion is
 *    lossless for every finite scale (Inf/NaN scales, which no real model has, are clamped).
 *  - Activations: npu_quantize_act_row() is ggml's quantize_row_q8_0 (d = amax / 127 rounded to
 *    fp16, q = round(x / d)), re-expressed with integer scales; the int8 values are identical.
 *  - Hence each 32-block integer dot product and each product of scales is bit-exact with the
 *    reference; the NPU sums the scaled terms in a 64-bit fixed-point accumulator (more precise
 *    than the reference's float sum) and returns I32B (30-bit mantissa + shared exponent per 32
 *    outputs). Measured: cosine >= 0.9999999, max |error| <= 1e-6 of the output range (the
 *    difference is the reference's own float rounding).
 */
#ifndef EDGE_NPU_HAL_NPU_HOST_H
#define EDGE_NPU_HAL_NPU_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"
#include "kmod/silicon/npu_engine.h"

/* ---- (a) weights ------------------------------------------------------------------------- */

/*
 * An IEEE half scale as m * 2^e, exactly: normal h = (1024 + frac) * 2^(exp - 25), subnormal
 * h = frac * 2^-24. Returns false for Inf/NaN (clamped to +-2047 * 2^5 = +-65504, NaN to 0).
 */
bool npu_fp16_scale(uint16_t h, int16_t *out_m, int8_t *out_e);

/* The NPU weight format for a GGUF type: ENPU_DT_Q8B for Q8_0, ENPU_DT_Q4B for Q4_0, else 0. */
enum enpu_dtype npu_weight_dtype(enum hal_type type);

/* Bytes of one NPU weight row of k elements (k % 32 == 0) of a GGUF type; 0 if unsupported. */
size_t npu_weight_row_bytes(enum hal_type type, uint32_t k);

/*
 * Converts rows x k GGUF Q8_0/Q4_0 weights (contiguous rows, any alignment) to the NPU layout,
 * contiguous rows of npu_weight_row_bytes() at dst. Done once at model load.
 * Returns HAL_ERR_UNSUPPORTED for other types, HAL_ERR_INVALID for k % 32 != 0; the number of
 * clamped (Inf/NaN) scales goes to *out_clamped if not NULL.
 */
enum hal_status npu_convert_weights(enum hal_type type, const void *src, uint32_t k,
				    uint32_t rows, void *dst, size_t *out_clamped);

/* ---- (b) activations at partition boundaries --------------------------------------------- */

/* Bytes of a Q8B activation row of k elements (k % 32 == 0). */
size_t npu_act_row_bytes(uint32_t k);
/* Bytes of an I32B output row of n elements (n % 32 == 0). */
size_t npu_i32b_row_bytes(uint32_t n);

/* F32 -> Q8B per block of 32, ggml Q8_0 numerics (see above). k % 32 == 0. */
void npu_quantize_act_row(const float *x, uint32_t k, void *dst);
/* Q8B -> F32 (x = m * 2^e * q). */
void npu_dequantize_q8b_row(const void *src, uint32_t k, float *y);
/* I32B -> F32 (x = q * 2^exp, rounded once to float). n % 32 == 0. */
void npu_dequantize_i32b_row(const void *src, uint32_t n, float *y);

/* Per-tensor int8: q = clamp(round(x / scale) + zero_point), x = scale * (q - zero_point). */
void npu_quantize_i8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *q);
void npu_dequantize_i8(const int8_t *q, size_t n, float scale, int32_t zero_point, float *y);
/*
 * A per-tensor scale chosen at the boundary from the data itself (LLM activations have no
 * calibration): symmetric, zero point 0, max |x| maps to 127; 1.0 for an all-zero tensor.
 */
float npu_i8_scale_for(const float *x, size_t n);

/* ---- (c) requantization pairs and LUTs --------------------------------------------------- */

/*
 * The Jacob et al. pair for a real factor: multiplier in [2^30, 2^31) and shift in [0, 62]
 * with multiplier * 2^-shift ~= real (relative error <= 2^-31); factors below 2^-31 lose
 * mantissa bits, 0 gives {0, 0}. Returns HAL_ERR_INVALID for negative, non-finite or >= 2^31.
 */
enum hal_status npu_requant_from_real(double real, int32_t zero_point, struct enpu_requant *rq);
/* multiplier * 2^-shift as a double. */
double npu_requant_real(const struct enpu_requant *rq);

/*
 * Parameters of ENPU_ELT_ADD for int8 tensors a (scale sa, zero za), b (sb, zb) into out (so,
 * zo): inputs rescaled to a shared intermediate scale 2 max(sa, sb) / 2^20 (TFLite's
 * left_shift 20), the sum rescaled to so. Error <= 1 output LSB.
 */
enum hal_status npu_eltwise_add_params(float sa, int32_t za, float sb, int32_t zb, float so,
				       int32_t zo, struct enpu_requant *in_a,
				       struct enpu_requant *in_b, struct enpu_requant *out);
/* Parameters of ENPU_ELT_MUL: out = (a - za)(b - zb) * sa sb / so + zo. */
enum hal_status npu_eltwise_mul_params(float sa, int32_t za, float sb, int32_t zb, float so,
				       int32_t zo, struct enpu_requant *in_a,
				       struct enpu_requant *in_b, struct enpu_requant *out);

enum npu_lut_fn {
	NPU_LUT_SILU,    /* x / (1 + exp(-x)) */
	NPU_LUT_GELU,    /* tanh approximation, as ggml */
	NPU_LUT_SIGMOID, /* 1 / (1 + exp(-x)) */
	NPU_LUT_COUNT
};

/* The function a LUT approximates, in float (the test oracle). */
float npu_lut_eval(enum npu_lut_fn fn, float x);

/*
 * An output scale and zero point covering fn over every int8 input of (in_scale, in_zp), so
 * that the table does not saturate: [min, max] of fn (with 0 included) mapped onto [-128, 127].
 */
void npu_lut_out_params(enum npu_lut_fn fn, float in_scale, int32_t in_zp, float *out_scale,
			int32_t *out_zp);

/* table[q + 128] = quantize(fn(in_scale * (q - in_zp)), out_scale, out_zp). */
void npu_lut_build(enum npu_lut_fn fn, float in_scale, int32_t in_zp, float out_scale,
		   int32_t out_zp, int8_t table[256]);

/* ---- (d) command streams ------------------------------------------------------------------- */

/*
 * A stream under construction and its buffer list. Errors are sticky: after an allocation
 * failure every call is a no-op and npu_stream_finish() reports HAL_ERR_NOMEM. The builder does
 * not validate; the engine does (npu_validate()).
 */
struct npu_stream {
	uint8_t *data;           /* the stream bytes, header first */
	size_t len, cap;
	uint32_t ncmds;
	struct npu_buffer *bufs; /* the job's buffer list */
	uint32_t nbufs, cap_bufs;
	enum hal_status err;
};

/* Starts an empty stream (no allocation until the first command). */
void npu_stream_begin(struct npu_stream *s);
/* Frees the stream's memory (not the buffers it names); s may be reused after begin. */
void npu_stream_free(struct npu_stream *s);

/* Appends a buffer to the job's list; returns its index (UINT32_MAX after an error). */
uint32_t npu_stream_add_buffer(struct npu_stream *s, void *data, uint64_t size, uint64_t id,
			       uint32_t flags);

/* An operand: buffer index, byte offset of row 0, bytes between rows. */
struct enpu_operand npu_operand(uint32_t buffer, uint64_t offset, uint64_t stride);

/* out[m x n] = in[m x k] . w[n x k]^T; rq only for ENPU_DT_I8 output (else NULL). */
void npu_stream_matmul(struct npu_stream *s, enum enpu_dtype w_dtype, struct enpu_operand w,
		       struct enpu_operand in, struct enpu_operand out, enum enpu_dtype out_dtype,
		       uint32_t m, uint32_t n, uint32_t k, const struct enpu_requant *rq);
void npu_stream_eltwise(struct npu_stream *s, enum enpu_eltwise_op op, struct enpu_operand a,
			struct enpu_operand b, struct enpu_operand out, uint32_t rows,
			uint32_t cols, const struct enpu_requant *in_a,
			const struct enpu_requant *in_b, const struct enpu_requant *out_rq);
void npu_stream_lut(struct npu_stream *s, struct enpu_operand in, struct enpu_operand out,
		    struct enpu_operand table, uint32_t rows, uint32_t cols);
void npu_stream_copy(struct npu_stream *s, struct enpu_operand src, struct enpu_operand dst,
		     uint32_t rows, uint32_t row_bytes);
void npu_stream_barrier(struct npu_stream *s);
/* A barrier that then writes value to the u32 at (buffer, offset). */
void npu_stream_fence(struct npu_stream *s, uint32_t buffer, uint64_t offset, uint32_t value);
void npu_stream_debug_stall(struct npu_stream *s, uint64_t cycles);
/* Appends a raw command (size bytes, header included and filled by the caller). */
void npu_stream_add_raw(struct npu_stream *s, const void *cmd, size_t size);

/* Writes the stream header; returns s->err. The stream is then s->data, s->len bytes. */
enum hal_status npu_stream_finish(struct npu_stream *s);

/* ---- the F32 matmul: host side of the NPU devices (npu_sim.c, npu_drm.c) ----------------- */

/* Whether the NPU runs weight w: a type it converts, k and n multiples of ENPU_QK in range. */
bool npu_matmul_weight_ok(const struct hal_tensor *w);

/*
 * Whether an NPU device dev runs op: a MATMUL of such a weight (not prepared by another
 * device), F32 activations of 1..ENPU_MAX_ROWS rows and F32 output.
 */
bool npu_matmul_op_ok(const struct hal_device *dev, const struct hal_op *op);

/* x[m x k] (F32) into act: m rows of npu_act_row_bytes(k). */
void npu_quantize_act_rows(const float *x, uint32_t m, uint32_t k, void *act);
/* m I32B rows of n outputs (npu_i32b_row_bytes(n) each) into y[m x n] (F32). */
void npu_dequantize_i32b_rows(const void *out, uint32_t m, uint32_t n, float *y);

/*
 * Appends to s the buffers w (n rows of dtype w_dtype, SRAM identity w_id, 0: none), act (m
 * Q8B rows) and out (m I32B rows), in this order, and out = act . w^T as one I32B matmul. The
 * pointers may be NULL where the list only gives indices (the kernel driver names BOs). idx
 * (may be NULL) gets the three buffer indices.
 */
void npu_stream_matmul_f32(struct npu_stream *s, enum enpu_dtype w_dtype, void *w,
			   uint64_t w_id, void *act, void *out, uint32_t m, uint32_t n,
			   uint32_t k, uint32_t idx[3]);

/* ---- convenience: one matmul through the engine ------------------------------------------ */

/*
 * y[m x n] (F32) = x[m x k] (F32) . W^T for NPU-layout weights w (n rows of
 * npu_weight_row_bytes(), dtype ENPU_DT_Q8B/Q4B; n % 32 == 0): quantizes x, runs one I32B
 * matmul job on e, dequantizes. weights_id keys SRAM residency (0: never resident).
 * Returns HAL_ERR_NOMEM, or HAL_ERR_INVALID with the validator's reason in err (may be NULL).
 */
enum hal_status npu_matmul_f32(struct npu_engine *e, enum enpu_dtype w_dtype, const void *w,
			       uint64_t weights_id, uint32_t n, uint32_t k, const float *x,
			       uint32_t m, float *y, struct npu_job_stats *stats, char *err,
			       size_t err_len);

#endif
