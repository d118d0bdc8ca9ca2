/* SPDX-License-Identifier: MIT */
/*
 * gemm_loop.h - the loop over packed 16-row weight groups and activation tiles that every SIMD
 * quantized matmul shares. Included by each kernels_<isa>.c after it defines NT; the loop
 * macros expand where the file uses them, after its tile_q8/tile_q4, so that the tiles inline
 * into a loop compiled with that file's ISA flags.
 */
#ifndef EDGE_NPU_CPU_GEMM_LOOP_H
#define EDGE_NPU_CPU_GEMM_LOOP_H

#include <string.h>

#include "kernels.h"

/* Results of a tile into dst (or added to it), the rows that exist only. */
static inline void put_tile(const struct cpu_gemm_args *g, uint32_t gi, uint32_t t, int nt,
			    const float *out)
{
	uint32_t n0 = gi * CPU_GROUP_ROWS;
	uint32_t rows = g->n_rows - n0 < CPU_GROUP_ROWS ? g->n_rows - n0 : CPU_GROUP_ROWS;

	for (int j = 0; j < nt; j++) {
		float *d = g->dst + (size_t)(t + j) * g->ld + n0;

		if (g->accumulate) {
			for (uint32_t r = 0; r < rows; r++)
				d[r] += out[16 * j + r];
		} else if (rows == CPU_GROUP_ROWS) /* a constant size: one vector store */
			memcpy(d, out + 16 * j, CPU_GROUP_ROWS * sizeof(float));
		else
			memcpy(d, out + 16 * j, rows * sizeof(float));
	}
}

/*
 * Slice i of n of the bytes [p, p + len) fetched into L2: a matrix unit's next weights, asked
 * for a slice per tile while it computes on the current ones, so that its unpacking of them
 * does not wait on memory (no hardware prefetcher runs that far ahead of the reads).
 */
static inline void gemm_prefetch_slice(const uint8_t *p, size_t len, uint32_t i, uint32_t n)
{
	for (size_t o = len * i / n / 64 * 64; o < len * (i + 1) / n; o += 64)
		__builtin_prefetch(p + o, 0, CPU_PREFETCH_L2);
}

/*
 * A matrix unit's 16-token tiles of g's tokens from t0: the whole ones, and one more over
 * the activations' zero padding when CPU_PAD_MIN or more tokens are left and the padding
 * rows exist (kernels.h's pad_rows). The last tile may then run past t1.
 */
static inline uint32_t gemm_unit_tiles(const struct cpu_gemm_args *g, uint32_t t0)
{
	const uint32_t left = (g->t1 - t0) % 16;

	return (g->t1 - t0) / 16 + (left >= CPU_PAD_MIN && g->t1 - left + 16 <= g->a->n_rows);
}

/*
 * The body of gemm_<type>_<isa>(g): per group, big(g, qs, sc, gi, t0) first takes the tokens
 * it wants (a matrix unit's whole tiles) and returns the first one it left; then NT tokens per
 * tile() while they last, then one at a time. Every token's sums are the same arithmetic
 * whichever computes it.
 */
#define GEMM_BODY_BIG(big, tile, chunk)							\
	const uint32_t nb = g->a->nb;							\
	const size_t group = (size_t)nb * ((chunk) + 2 * CPU_GROUP_ROWS);		\
	float out[16 * NT] __attribute__((aligned(64)));				\
											\
	for (uint32_t gi = g->g0; gi < g->g1; gi++) {					\
		const uint8_t *qs = g->w + gi * group;					\
		const uint8_t *sc = qs + (size_t)nb * (chunk);				\
		uint32_t t = big(g, qs, sc, gi, g->t0);					\
											\
		for (; t + NT <= g->t1; t += NT) {					\
			tile(g, qs, sc, t, NT, out);					\
			put_tile(g, gi, t, NT, out);					\
		}									\
		for (; t < g->t1; t++) {						\
			tile(g, qs, sc, t, 1, out);					\
			put_tile(g, gi, t, 1, out);					\
		}									\
	}

/*
 * The tile of a kernel written per 8-row half of a group (tile_h(args..., h0, h1): rows
 * 8 h0 .. 8 h1 - 1; nt the tokens, a constant): a decode (nt 1) takes both halves of each
 * block while the block is in cache, so the weights stream once; a prefill takes one half
 * through every block, then the other (the group's weights read again from L1/L2), so that
 * half the accumulators and weight vectors are live and nothing spills on 16 ymm registers.
 */
#define GEMM_TILE_BY_HALVES(tile_h, nt, ...)						\
	do {										\
		if ((nt) == 1) {							\
			tile_h(__VA_ARGS__, 0, 2);					\
		} else {								\
			tile_h(__VA_ARGS__, 0, 1);					\
			tile_h(__VA_ARGS__, 1, 2);					\
		}									\
	} while (0)

/* A tile_h's accumulators facc[j][h] (8 rows each) into out as tile() leaves them. */
#define GEMM_STORE_HALVES(store, out, facc, nt, h0, h1)				\
	_Pragma("GCC unroll 8")								\
	for (int j_ = 0; j_ < (nt); j_++)						\
		_Pragma("GCC unroll 2")							\
		for (int h_ = (h0); h_ < (h1); h_++)					\
			store((out) + 16 * j_ + 8 * h_, (facc)[j_][h_])

/*
 * The thread's room to decode a group once for all its token tiles (struct cpu_gemm_args's
 * scratch), when two or more whole tiles of tokens from t on will read it; else NULL.
 */
#define GEMM_DECODE_ROOM(g, t) ((g)->scratch && (g)->t1 - (t) >= 2 * NT ? (g)->scratch : NULL)

#define GEMM_NO_BIG(g, qs, sc, gi, t0) (t0)
#define GEMM_BODY(tile, chunk) GEMM_BODY_BIG(GEMM_NO_BIG, tile, chunk)

/*
 * The same loop over packed K-quant groups (kernels_ext.h: no separate scales) for one type,
 * a constant, with decode(type, w, nb, room) and tile(type, g, w, dec, t, nt, out);
 * GEMM_KQ_BODY(decode, tile) is the body of gemm_kq_<isa>(t, g): one copy of the loop per
 * type, each with its tile inlined; tiles of NT tokens, then (when NT > 4) one of 4, then
 * one token at a time. With two or more whole tiles of tokens (a prefill) decode may decode
 * each group once into g->scratch for all its tiles, and returns it (dec);
 * otherwise, or when decode returns NULL, the tile decodes the packed blocks as it goes (a
 * decode streams the weights once). GEMM_KQ_BODY_BIG's big(type, g, w, gi, t0) first takes
 * the tokens a matrix unit wants, as GEMM_BODY_BIG's, and returns the first one it left.
 */
#define GEMM_KQ_TYPE_BIG(big, decode, tile, type)					\
	do {										\
		const size_t group = (size_t)g->a->nb / 8 * cpu_kq_sb_bytes(type);	\
		float out[16 * NT] __attribute__((aligned(64)));			\
											\
		for (uint32_t gi = g->g0; gi < g->g1; gi++) {				\
			const uint8_t *w = g->w + gi * group;				\
			uint32_t tok = big(type, g, w, gi, g->t0);			\
			uint8_t *room = GEMM_DECODE_ROOM(g, tok);			\
			const uint8_t *dec = room ? decode(type, w, g->a->nb, room) : NULL; \
											\
			for (; tok + NT <= g->t1; tok += NT) {				\
				tile(type, g, w, dec, tok, NT, out);			\
				put_tile(g, gi, tok, NT, out);				\
			}								\
			if (NT > 4 && tok + 4 <= g->t1) {				\
				tile(type, g, w, dec, tok, 4, out);			\
				put_tile(g, gi, tok, 4, out);				\
				tok += 4;						\
			}								\
			for (; tok < g->t1; tok++) {					\
				tile(type, g, w, dec, tok, 1, out);			\
				put_tile(g, gi, tok, 1, out);				\
			}								\
		}									\
	} while (0)

#define GEMM_KQ_NO_BIG(type, g, w, gi, t0) (t0)

#define GEMM_KQ_BODY_BIG(big, decode, tile)						\
	if (t == HAL_TYPE_Q4_K)								\
		GEMM_KQ_TYPE_BIG(big, decode, tile, HAL_TYPE_Q4_K);			\
	else if (t == HAL_TYPE_Q5_K)							\
		GEMM_KQ_TYPE_BIG(big, decode, tile, HAL_TYPE_Q5_K);			\
	else										\
		GEMM_KQ_TYPE_BIG(big, decode, tile, HAL_TYPE_Q6_K);

#define GEMM_KQ_BODY(decode, tile) GEMM_KQ_BODY_BIG(GEMM_KQ_NO_BIG, decode, tile)

#endif
