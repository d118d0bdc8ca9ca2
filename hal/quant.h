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
 * Not a HAL type: the model loader converts it to Q8_0 (convert_q6_k in driver/model.c).
 */
#define HAL_QK_K 256
struct hal_block_q6_k {
	uint8_t ql[HAL_QK_K / 2];
	uint8_t qh[HAL_QK_K / 4];
	int8_t scales[HAL_QK_K / 16];
	uint16_t d;
};

_Static_assert(sizeof(struct hal_block_q8_0) == 34, "Q8_0 block layout");
_Static_assert(sizeof(struct hal_block_q6_k) == 210, "Q6_K block layout");
_Static_assert(sizeof(struct hal_block_q4_0) == 18, "Q4_0 block layout");

/* IEEE 754 binary16 <-> binary32, round to nearest even, NaN/Inf/subnormals preserved. */
float hal_fp16_to_fp32(uint16_t h);
uint16_t hal_fp32_to_fp16(float f);

/* ggml's reference quantizers: Q8_0 d = amax/127; Q4_0 d = (signed max-magnitude)/-8. */
void hal_quantize_row_q8_0(const float *x, struct hal_block_q8_0 *y, size_t n);
void hal_quantize_row_q4_0(const float *x, struct hal_block_q4_0 *y, size_t n);

/* Converts n F32 values into a row of type (F32, F16, Q8_0, Q4_0); n a multiple of the block. */
void hal_quantize_row(enum hal_type type, const float *x, void *y, size_t n);
/* Converts a row of n elements of type (F32, F16, Q8_0, Q4_0) to F32. */
void hal_dequantize_row(enum hal_type type, const void *x, float *y, size_t n);

/* Bytes of a Q6_K row of n elements (a multiple of 256). */
static inline size_t hal_q6_k_row_bytes(size_t n)
{
	return n / HAL_QK_K * sizeof(struct hal_block_q6_k);
}

/* Q6_K rows of n elements (a multiple of 256) from and to F32. */
void hal_quantize_row_q6_k(const float *x, struct hal_block_q6_k *y, size_t n);
void hal_dequantize_row_q6_k(const void *x, float *y, size_t n); /* x: any alignment */

#endif
