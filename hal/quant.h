/* SPDX-License-Identifier: MIT */
/*
 * quant.h - the GGUF/ggml block formats and their conversions, shared by every backend, the
 * model generator and the tests. Numerics follow ggml's reference C code so that results are
 * comparable with other GGUF runtimes.
 */
#ifndef EDGE_NPU_QUANT_H
#define EDGE_NPU_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

#define HAL_QK 32 /* elements per quantized block */

/* 34 bytes: scale d (IEEE half), 32 signed 8-bit values; x = d * qs[i]. */
struct hal_block_q8_0 {
	uint16_t d;
	int8_t qs[HAL_QK];
};

/* 18 bytes: scale d (IEEE half); qs[j] low nibble = element j, high nibble = element j + 16;
 * x = d * (nibble - 8). */
struct hal_block_q4_0 {
	uint16_t d;
	uint8_t qs[HAL_QK / 2];
};

/*
 * Q6_K (ggml's "k-quant" of 6 bits, which llama.cpp's quantizer gives output.weight in Q4_0
 * files): 256 elements in 16 sub-blocks of 16, 210 bytes. Element e has the 6-bit value q (0..63)
 * made of a low nibble in ql and two high bits in qh, and x = d * scales[e / 16] * (q - 32).
 * Within each half of 128 (h = e / 128, m = e % 128, l = m % 32, g = m / 32): the low nibble is
 * ql[64h + l + 32 * (g & 1)] >> (4 * (g >> 1)), the high bits qh[32h + l] >> (2 * g).
 * HAL_TYPE_Q6_K: every backend computes on it or leaves its matmuls to one that does.
 */
#define HAL_QK_K 256
struct hal_block_q6_k {
	uint8_t ql[HAL_QK_K / 2];
	uint8_t qh[HAL_QK_K / 4];
	int8_t scales[HAL_QK_K / 16];
	uint16_t d;
};

/*
 * Q4_K (llama.cpp's block_q4_K): 256 elements in 8 sub-blocks of 32, 144 bytes. Sub-block j has
 * a 6-bit scale sc[j] and a 6-bit min m[j] packed in scales[12] (j < 4: sc = scales[j] & 63,
 * m = scales[j + 4] & 63; j >= 4: sc = scales[j + 4] & 15 | (scales[j - 4] >> 6) << 4,
 * m = scales[j + 4] >> 4 | (scales[j] >> 6) << 4), and x = d * sc[j] * q - dmin * m[j]. The 4-bit
 * q of element e (c = e / 64, l = e % 32): qs[32c + l], the low nibble in sub-block 2c (e % 64 <
 * 32), the high nibble in sub-block 2c + 1.
 */
struct hal_block_q4_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qs[HAL_QK_K / 2];
};

/*
 * Q5_K (block_q5_K): Q4_K's scales and nibbles plus a fifth bit per element, 176 bytes: element
 * e (c = e / 64, l = e % 32) adds 16 when bit 2c + (e % 64 >= 32) of qh[l] is set; q is 0..31.
 */
struct hal_block_q5_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[HAL_QK_K / 8];
	uint8_t qs[HAL_QK_K / 2];
};

_Static_assert(sizeof(struct hal_block_q4_k) == 144, "Q4_K block layout");
_Static_assert(sizeof(struct hal_block_q5_k) == 176, "Q5_K block layout");
_Static_assert(sizeof(struct hal_block_q8_0) == 34, "Q8_0 block layout");
_Static_assert(sizeof(struct hal_block_q6_k) == 210, "Q6_K block layout");
_Static_assert(sizeof(struct hal_block_q4_0) == 18, "Q4_0 block layout");

/* IEEE 754 binary16 <-> binary32, round to nearest even, NaN/Inf/subnormals preserved. */
float hal_fp16_to_fp32(uint16_t h);
uint16_t hal_fp32_to_fp16(float f);

/* ggml's reference quantizers: Q8_0 d = amax/127; Q4_0 d = (signed max-magnitude)/-8. */
void hal_quantize_row_q8_0(const float *x, struct hal_block_q8_0 *y, size_t n);
void hal_quantize_row_q4_0(const float *x, struct hal_block_q4_0 *y, size_t n);

/*
 * Converts n F32 values into a row of type (F32, F16, Q8_0, Q4_0 and the K-quants); n a
 * multiple of the block.
 */
void hal_quantize_row(enum hal_type type, const float *x, void *y, size_t n);
/* Converts a row of n elements of type (any but I32) to F32; x may have any alignment. */
void hal_dequantize_row(enum hal_type type, const void *x, float *y, size_t n);

/* Q6_K rows of n elements (a multiple of 256) from and to F32. */
void hal_quantize_row_q6_k(const float *x, struct hal_block_q6_k *y, size_t n);
void hal_dequantize_row_q6_k(const void *x, float *y, size_t n); /* x: any alignment */

/*
 * Plain Q4_K and Q5_K quantizers (for generated models; llama.cpp's search their scales more
 * finely, into the same format) and their dequantizers (x: any alignment).
 */
void hal_quantize_row_q4_k(const float *x, void *y, size_t n);
void hal_quantize_row_q5_k(const float *x, void *y, size_t n);
void hal_dequantize_row_q4_k(const void *x, float *y, size_t n);
void hal_dequantize_row_q5_k(const void *x, float *y, size_t n);

/* Sub-block j's (0..7) 6-bit scale and min of a Q4_K/Q5_K block's 12 scale bytes. */
static inline void hal_k_scale_min(const uint8_t *q, int j, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 15) | (q[j - 4] >> 6) << 4);
		*m = (uint8_t)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
	}
}

#endif
