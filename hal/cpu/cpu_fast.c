/* SPDX-License-Identifier: MIT */
/*
 * cpu_fast.c - the fast CPU backend ("cpu"): SIMD kernels chosen at run time (kernels.h), a
 * persistent thread pool (threadpool.h), Q8_0/Q4_0 and K-quant weights repacked once at load.
 *
 * Numerics are the reference backend's (cpu_ref.c) up to float summation order: activations
 * are quantized with hal_quantize_row_q8_0's rules, block dots are exact integers scaled by both
 * half scales. Every op shares its work by rows (weight rows, tokens, or token x head): each
 * thread starts on its own contiguous range and takes chunks of the others' when done, and no
 * row's arithmetic depends on which thread or chunk computes it, so any thread count gives
 * bit-identical results.
 */
#include "cpu_fast.h"

#include "hal/quant.h"
#include "kernels.h"
#include "kernels_ext.h"
#include "threadpool.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>


/* Elementwise ops below this many elements run on the calling thread: waking costs more. */
#define PAR_MIN_ELEMS 16384

/*
 * Packed weights are carved from arenas in the order they are prepared: the loader's order
 * (a layer's Q, K, V, O, gate, up, down, layer after layer) is the order a decode step reads
 * them, so a token's weights are one ascending stream of addresses, and a thread's prefetch
 * past the end of one weight already fetches the next one's start. Arenas are mapped in
 * 2 MiB-aligned runs with MADV_HUGEPAGE: in 4 KiB pages the stream takes a TLB miss every
 * 4 KiB (29 000 a token of the ~130 M Q8_0 model); in huge pages, 60. An arena is unmapped
 * when its last weight is released.
 */
struct arena {
	uint8_t *base;
	size_t len, used;
	uint32_t live; /* weights in it not yet released */
};

#define ARENA_BYTES ((size_t)64 << 20)

/* A packed weight: this header, then the packed bytes at a 64-byte boundary. */
struct packed {
	struct packed *next, **pprev;
	void *orig; /* w->data before packing, restored on release */
	uint64_t magic;
	struct arena *arena;
};

#define PACKED_MAGIC 0x4b434150555043ull /* "CPUPACK" */
#define PACKED_HDR 64

_Static_assert(sizeof(struct packed) <= PACKED_HDR, "packed header fits its slot");

/*
 * One thread's range of work items [lo, hi) packed as lo << 32 | hi, on its own cache line.
 * Its owner takes chunks from the front, threads that ran out take chunks from the back.
 */
struct range_slot {
	_Atomic uint64_t r;
	char pad[56];
};

struct cpu_fast {
	struct hal_device base;
	const struct cpu_kernels *k;
	const struct cpu_ext_kernels *x; /* F16/Q8_0 caches, K-quants: the table that goes with k */
	struct tpool *pool;
	uint32_t n_threads;
	struct range_slot *slots; /* n_threads */
	struct packed *weights; /* every packed weight not yet released */
	struct arena *arena;    /* the one weights are carved from now (NULL: none yet) */
	void *scratch;          /* grown on demand, freed in destroy */
	size_t scratch_len;
	char name[64];
};

static struct cpu_fast *to_fast(struct hal_device *dev)
{
	return (struct cpu_fast *)dev;
}

/* Part ith of n items split in nth contiguous ranges. */
static void split(uint32_t n, uint32_t ith, uint32_t nth, uint32_t *lo, uint32_t *hi)
{
	*lo = (uint32_t)((uint64_t)n * ith / nth);
	*hi = (uint32_t)((uint64_t)n * (ith + 1) / nth);
}

/*
 * Work sharing that survives a late thread. Under a hypervisor a vCPU is now and then
 * descheduled for tens of microseconds, as long as a whole decode matmul: with a static split
 * the other thread then waits for it. Each thread still starts on its static range (so it
 * streams one contiguous stretch of weights, which the prefetchers like), but whoever finishes
 * first takes chunks from the end of the others' ranges. Which thread computes an item never
 * changes how it is computed, so results stay bit-identical for any thread count.
 */
static void ranges_init(struct cpu_fast *cf, uint32_t n, uint32_t nth)
{
	for (uint32_t i = 0; i < nth; i++) {
		uint32_t lo, hi;

		split(n, i, nth, &lo, &hi);
		atomic_store_explicit(&cf->slots[i].r, (uint64_t)lo << 32 | hi,
				      memory_order_relaxed);
	}
}

/* The next chunk of at most `chunk` items for thread ith into [*lo, *hi); false when none. */
static bool range_take(struct cpu_fast *cf, uint32_t ith, uint32_t nth, uint32_t chunk,
		       uint32_t *lo, uint32_t *hi)
{
	for (uint32_t k = 0; k < nth; k++) {
		_Atomic uint64_t *r = &cf->slots[(ith + k) % nth].r;
		uint64_t v = atomic_load_explicit(r, memory_order_relaxed), nv;

		for (;;) {
			uint32_t a = (uint32_t)(v >> 32), b = (uint32_t)v;

			if (a >= b)
				break;
			if (k == 0) { /* our own range: from the front */
				*lo = a;
				*hi = b - a > chunk ? a + chunk : b;
				nv = (uint64_t)*hi << 32 | b;
			} else { /* another's: from the back */
				*lo = b - a > chunk ? b - chunk : a;
				*hi = b;
				nv = (uint64_t)a << 32 | *lo;
			}
			if (atomic_compare_exchange_weak_explicit(r, &v, nv, memory_order_relaxed,
								  memory_order_relaxed))
				return true;
		}
	}
	return false;
}

/*
 * Every op shares its rows this way (not a static split): a thread whose vCPU the host has
 * descheduled costs the others nothing, where a static split made them wait for it (an
 * op of ~10 us then took ~0.2 ms on this host now and then). Rows are taken 8 at a time.
 */
#define ROW_CHUNK 8

static void run_rows_shared(struct cpu_fast *cf, tpool_fn fn, void *arg, uint32_t rows,
			    uint32_t nth)
{
	ranges_init(cf, rows, nth);
	tpool_run_shared(cf->pool, fn, arg, nth);
}

static bool next_rows(struct cpu_fast *cf, uint32_t ith, uint32_t nth, uint32_t *lo,
		      uint32_t *hi)
{
	return range_take(cf, ith, nth, ROW_CHUNK, lo, hi);
}

static float *row_f32(const struct hal_tensor *t, uint64_t r)
{
	return (float *)((char *)t->data + r * hal_row_bytes(t->type, t->ne[0]));
}

/*
 * RMSNorm of one row, out = (in * scale) * w (the reference's order; out may be in): what the
 * RMSNORM op and the normed MATMUL (hal.h) both compute, so that their bits agree.
 */
static void norm_row(const struct cpu_kernels *k, const float *in, const float *w, float eps,
		     uint32_t D, float *out)
{
	float mean = k->sumsq(in, D) / (float)D;
	float scale = 1.0f / sqrtf(mean + eps);

	if (k->scale_mul) {
		k->scale_mul(out, in, scale, w, D);
		return;
	}
	for (uint32_t i = 0; i < D; i++)
		out[i] = (in[i] * scale) * w[i];
}

static int32_t load_i32(const struct hal_tensor *t, uint64_t i)
{
	int32_t v;

	memcpy(&v, (const char *)t->data + i * sizeof(v), sizeof(v));
	return v;
}

/* Scratch of at least len bytes, 64-byte aligned, valid until the next call. */
static void *scratch(struct cpu_fast *cf, size_t len)
{
	if (len > cf->scratch_len) {
		size_t want = (len + 4095) / 4096 * 4096;
		void *p = aligned_alloc(64, want);

		if (!p)
			return NULL;
		free(cf->scratch);
		cf->scratch = p;
		cf->scratch_len = want;
	}
	return cf->scratch;
}

/* ---- weight packing ----------------------------------------------------------------------- */

static bool is_kquant(enum hal_type t)
{
	return t == HAL_TYPE_Q4_K || t == HAL_TYPE_Q5_K || t == HAL_TYPE_Q6_K;
}

/* The weight types packed at load (kernels.h, kernels_ext.h). */
static bool is_quant(enum hal_type t)
{
	return t == HAL_TYPE_Q8_0 || t == HAL_TYPE_Q4_0 || is_kquant(t);
}

/* Bytes of one packed group of 16 rows of K elements. */
static size_t group_bytes(enum hal_type type, uint32_t K)
{
	if (is_kquant(type))
		return (size_t)K / HAL_QK_K * cpu_kq_sb_bytes(type);
	return CPU_GROUP_ROWS * hal_row_bytes(type, K);
}

static size_t packed_bytes(enum hal_type type, uint32_t K, uint32_t N)
{
	size_t groups = (N + CPU_GROUP_ROWS - 1) / CPU_GROUP_ROWS;

	return groups * group_bytes(type, K);
}

/* Rows [16 gi, +16) of src (file layout) into the packed group at dst; missing rows are 0. */
static void pack_group(enum hal_type type, const uint8_t *src, uint32_t K, uint32_t N,
		       uint32_t gi, uint8_t *dst)
{
	const uint32_t nb = K / CPU_QK;
	const bool q4 = type == HAL_TYPE_Q4_0;
	const size_t chunk = q4 ? CPU_Q4_CHUNK : CPU_Q8_CHUNK;
	const size_t bb = q4 ? sizeof(struct hal_block_q4_0) : sizeof(struct hal_block_q8_0);
	const size_t rb = hal_row_bytes(type, K);
	uint8_t *sc = dst + (size_t)nb * chunk;

	memset(dst, q4 ? 0x88 : 0x80, (size_t)nb * chunk); /* padding rows: zero weights */
	memset(sc, 0, (size_t)nb * 2 * CPU_GROUP_ROWS);
	for (uint32_t r = 0; r < CPU_GROUP_ROWS; r++) {
		uint32_t n = gi * CPU_GROUP_ROWS + r;

		if (n >= N)
			break;
		for (uint32_t b = 0; b < nb; b++) {
			const uint8_t *blk = src + n * rb + b * bb;
			uint8_t *q = dst + b * chunk;

			memcpy(sc + 2 * ((size_t)b * CPU_GROUP_ROWS + r), blk, 2);
			for (uint32_t k = 0; k < (q4 ? 4u : 8u); k++)
				for (int i = 0; i < 4; i++)
					q[k * 64 + r * 4 + i] = q4 ? blk[2 + 4 * k + i]
								   : blk[2 + 4 * k + i] ^ 0x80;
		}
	}
}

/* The unsigned q of element e of a K-quant super-block in the file's layout (hal/quant.h). */
static int file_kq_q(enum hal_type type, const uint8_t *blk, uint32_t e)
{
	if (type == HAL_TYPE_Q6_K) {
		const uint32_t h = e / 128, m = e % 128, l = m % 32, g = m / 32;
		const int lo = blk[64 * h + l + 32 * (g & 1)] >> (4 * (g >> 1)) & 15;

		return lo | (blk[HAL_QK_K / 2 + 32 * h + l] >> (2 * g) & 3) << 4;
	}
	const bool q5 = type == HAL_TYPE_Q5_K;
	const uint8_t byte = blk[(q5 ? 48 : 16) + 32 * (e / 64) + e % 32];
	int q = e % 64 < 32 ? byte & 15 : byte >> 4;

	if (q5)
		q |= (blk[16 + e % 32] >> (e / 32) & 1) << 4;
	return q;
}

/* A K-quant group (kernels_ext.h's packed layout); missing rows are 0 (d = 0). */
static void pack_group_kq(enum hal_type type, const uint8_t *src, uint32_t K, uint32_t N,
			  uint32_t gi, uint8_t *dst)
{
	const uint32_t nsb = K / HAL_QK_K;
	const size_t rb = hal_row_bytes(type, K), bb = hal_type_block_bytes(type);
	const size_t blk_bytes = cpu_kq_block_bytes(type), sb_bytes = cpu_kq_sb_bytes(type);
	const bool q6 = type == HAL_TYPE_Q6_K;

	memset(dst, 0, nsb * sb_bytes);
	for (uint32_t r = 0; r < CPU_GROUP_ROWS && gi * CPU_GROUP_ROWS + r < N; r++) {
		for (uint32_t sb = 0; sb < nsb; sb++) {
			const uint8_t *f = src + (size_t)(gi * CPU_GROUP_ROWS + r) * rb + sb * bb;
			uint8_t *h = dst + sb * sb_bytes;

			if (q6) {
				memcpy(h + 2 * r, f + offsetof(struct hal_block_q6_k, d), 2);
				for (uint32_t k = 0; k < 16; k++)
					h[64 + 16 * k + r] =
						f[offsetof(struct hal_block_q6_k, scales) + k];
			} else {
				memcpy(h + 2 * r, f, 2);
				memcpy(h + 32 + 2 * r, f + 2, 2);
				for (int j = 0; j < 8; j++)
					hal_k_scale_min(f + 4, j, &h[64 + 16 * j + r],
							&h[192 + 16 * j + r]);
			}
			for (uint32_t e = 0; e < HAL_QK_K; e++) {
				const int q = file_kq_q(type, f, e);
				const uint32_t k = e % 16 / 4, i = e % 4, hi = e % 32 >= 16;
				uint8_t *blk = h + CPU_KQ_HDR + e / 32 * blk_bytes;

				blk[k * 64 + r * 4 + i] |= (uint8_t)((q & 15) << (4 * hi));
				if (type == HAL_TYPE_Q5_K)
					blk[256 + r * 4 + i] |= (uint8_t)((q >> 4 & 1) << (k + 4 * hi));
				else if (q6)
					blk[256 + 64 * hi + r * 4 + i] |= (uint8_t)((q >> 4) << (2 * k));
			}
		}
	}
}

static void pack_all(enum hal_type type, const uint8_t *src, uint32_t K, uint32_t N,
		     uint8_t *dst)
{
	size_t gb = group_bytes(type, K);

	for (uint32_t gi = 0; gi * CPU_GROUP_ROWS < N; gi++) {
		if (is_kquant(type))
			pack_group_kq(type, src, K, N, gi, dst + gi * gb);
		else
			pack_group(type, src, K, N, gi, dst + gi * gb);
	}
}

/*
 * Whether [p, p + len) lies in one read-only private file mapping, whose pages MADV_DONTNEED
 * drops and the kernel re-reads from the file if touched. Anything else (heap, anonymous,
 * writable) would lose its contents: those are left alone.
 */
static bool is_private_file_mapping(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, e = a + len;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool ok = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, ino;
		char perms[8], dev[16];

		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &ino) != 6)
			continue;
		if (a >= lo && a < hi) {
			ok = e <= hi && ino != 0 && perms[1] == '-' && perms[3] == 'p';
			break;
		}
	}
	fclose(f);
	return ok;
}

/* Gives back the pages of the file's copy now that the packed copy replaces it. */
static void drop_original(const void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
	uintptr_t hi = ((uintptr_t)p + len) / (uintptr_t)page * (uintptr_t)page;

	if (page <= 0 || hi <= lo || !is_private_file_mapping(p, len))
		return;
	madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static void arena_unmap(struct arena *a)
{
	hal_huge_free(a->base, a->len);
	free(a);
}

/* A new arena of at least len bytes, 2 MiB-aligned; NULL when out of memory. */
static struct arena *arena_new(size_t len)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->len = len > ARENA_BYTES ? len : ARENA_BYTES;
	a->base = hal_huge_alloc(&a->len);
	if (!a->base) {
		free(a);
		return NULL;
	}
	return a;
}

/* len bytes (a multiple of 64) from the current arena, or a new one; NULL when out of memory. */
static struct packed *arena_take(struct cpu_fast *cf, size_t len)
{
	struct arena *a = cf->arena;

	if (!a || a->len - a->used < len) {
		a = arena_new(len);
		if (!a)
			return NULL;
		if (cf->arena && !cf->arena->live)
			arena_unmap(cf->arena);
		cf->arena = a;
	}
	struct packed *pk = (struct packed *)(a->base + a->used);

	a->used += len;
	a->live++;
	pk->arena = a;
	return pk;
}

/* A weight's bytes back to its arena: the arena goes once empty and no longer filled. */
static void arena_give(struct cpu_fast *cf, struct packed *pk)
{
	struct arena *a = pk->arena;

	pk->magic = 0;
	if (--a->live)
		return;
	if (a == cf->arena)
		a->used = 0; /* empty: filled again from its start */
	else
		arena_unmap(a);
}

static enum hal_status cpu_fast_prepare_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct cpu_fast *cf = to_fast(dev);
	struct packed *pk;
	size_t len;

	if (!w || !w->data || w->owner || !is_quant(w->type) || w->ne[0] % CPU_QK ||
	    (is_kquant(w->type) && w->ne[0] % HAL_QK_K))
		return HAL_OK; /* used as the file holds it */
	len = packed_bytes(w->type, w->ne[0], w->ne[1]);
	pk = arena_take(cf, PACKED_HDR + (len + 63) / 64 * 64);
	if (!pk)
		return hal_device_fail(dev, HAL_ERR_NOMEM, "out of memory packing '%s' (%zu bytes)",
				       w->name ? w->name : "(unnamed)", len);
	pack_all(w->type, w->data, w->ne[0], w->ne[1], (uint8_t *)pk + PACKED_HDR);
	pk->orig = w->data;
	pk->magic = PACKED_MAGIC;
	pk->next = cf->weights;
	pk->pprev = &cf->weights;
	if (cf->weights)
		cf->weights->pprev = &pk->next;
	cf->weights = pk;
	drop_original(w->data, hal_tensor_bytes(w));
	w->data = (uint8_t *)pk + PACKED_HDR;
	w->owner = dev;
	return HAL_OK;
}

static void cpu_fast_release_weight(struct hal_device *dev, struct hal_tensor *w)
{
	struct packed *pk;

	if (!w || w->owner != dev || !w->data)
		return;
	pk = (struct packed *)((uint8_t *)w->data - PACKED_HDR);
	if (pk->magic != PACKED_MAGIC)
		return;
	*pk->pprev = pk->next;
	if (pk->next)
		pk->next->pprev = pk->pprev;
	w->data = pk->orig;
	w->owner = NULL;
	arena_give(to_fast(dev), pk);
}

/* ---- MATMUL ------------------------------------------------------------------------------- */

struct mm_job {
	struct cpu_fast *cf;
	const struct hal_tensor *w, *x, *dst;
	struct cpu_act act;
	const float *xh; /* activations rounded to half (F16 weights) */
	/*
	 * Quantized: the weights of the (fused) matmul, 1 to 3 (w is ws[0]), and where each one's
	 * 16-row groups start in the one range of work items the threads share: weight i has
	 * items [g_start[i], g_start[i + 1]), its results at out[i] (a window of dst).
	 */
	uint32_t nw;
	bool accumulate; /* the results added to dst (hal.h's accumulating MATMUL) */
	/* the normed form: the norm weight and epsilon, K floats of scratch per thread */
	const float *norm_w;
	float eps;
	float *norm_buf;
	const struct hal_tensor *ws[3];
	float *out[3];
	uint32_t g_start[4];
	/* prefills: each thread's room for a decoded group (kernels.h), dec_bytes apart */
	uint8_t *dec;
	size_t dec_bytes;
};

static void act_quantize_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct mm_job *j = arg;
	uint32_t lo, hi;

	while (next_rows(j->cf, ith, nth, &lo, &hi)) {
		for (uint32_t t = lo; t < hi; t++) {
			const struct cpu_act *a = &j->act;
			const float *x = row_f32(j->x, t);

			if (j->norm_w) {
				float *xn = j->norm_buf + (size_t)ith * j->x->ne[0];

				norm_row(j->cf->k, x, j->norm_w, j->eps, j->x->ne[0], xn);
				x = xn;
			}
			j->cf->k->quantize_act(x, &j->act, t);
			for (uint32_t b = 0; b < a->nb; b++)
				a->dt[(size_t)b * a->n_rows + t] = a->d[(size_t)t * a->nb + b];
			for (size_t h = 0; a->s16 && h < 2 * (size_t)a->nb; h++) {
				const int8_t *q = a->qs + ((size_t)t * a->nb * CPU_QK + 16 * h);
				int32_t sum = 0;

				for (int i = 0; i < 16; i++)
					sum += q[i];
				a->s16[2 * (size_t)t * a->nb + h] = (int16_t)sum;
			}
			for (size_t b = (size_t)t * a->nb; a->ds && b < (size_t)(t + 1) * a->nb; b++)
				a->ds[b] = a->d[b] * (float)a->s[b];
		}
	}
}

/*
 * The threads share the groups of all the weights as one range of items, each starting on a
 * contiguous stretch of it: in a fused matmul a thread streams from the end of one weight's
 * share into the next weight's without waiting for the other threads in between.
 */
static void gemm_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct mm_job *j = arg;
	const uint32_t T = j->x->ne[1];
	/*
	 * ~32 KiB of weights x tokens per chunk: a CAS per chunk is noise, a late thread's share
	 * is not (a prefill's group is already T times the work of a decode's)
	 */
	const uint64_t work = (uint64_t)group_bytes(j->w->type, j->w->ne[0]) * T;
	const uint32_t chunk = (uint32_t)((32768 + work - 1) / work);
	uint32_t lo, hi;

	while (range_take(j->cf, ith, nth, chunk, &lo, &hi)) {
		for (uint32_t i = 0; i < j->nw && lo < hi; i++) {
			const uint32_t end = hi < j->g_start[i + 1] ? hi : j->g_start[i + 1];

			if (lo >= end)
				continue;
			struct cpu_gemm_args g = {
				.w = j->ws[i]->data, .a = &j->act, .dst = j->out[i],
				.ld = j->ws[i]->ne[1], .n_rows = j->ws[i]->ne[1],
				.g0 = lo - j->g_start[i], .g1 = end - j->g_start[i], .t0 = 0, .t1 = T,
				.accumulate = j->accumulate,
				.scratch = j->dec ? j->dec + ith * j->dec_bytes : NULL,
			};

			const enum hal_type type = j->ws[i]->type;

			if (is_kquant(type))
				j->cf->x->gemm_kq(type, &g);
			else if (type == HAL_TYPE_Q4_0)
				j->cf->k->gemm_q4(&g);
			else
				j->cf->k->gemm_q8(&g);
			lo = end;
		}
	}
	if (j->cf->k->gemm_done)
		j->cf->k->gemm_done();
}

/* F32 and F16 weights stay in the file layout: one dot product per (row, token). */
static void gemm_float_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct mm_job *j = arg;
	const uint32_t K = j->w->ne[0], T = j->x->ne[1];
	const size_t rb = hal_row_bytes(j->w->type, K);
	uint32_t lo, hi;

	while (range_take(j->cf, ith, nth, 16, &lo, &hi)) {
		for (uint32_t n = lo; n < hi; n++) {
			const void *wr = (const char *)j->w->data + n * rb;

			for (uint32_t t = 0; t < T; t++) {
				float *out = row_f32(j->dst, t) + n;

				float y = j->w->type == HAL_TYPE_F16 ?
						  j->cf->k->dot_f16(wr, j->xh + (size_t)t * K, K) :
						  j->cf->k->dot_f32(wr, row_f32(j->x, t), K);

				*out = j->accumulate ? *out + y : y;
			}
		}
	}
}

static void half_round_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct mm_job *j = arg;
	const uint32_t K = j->x->ne[0];
	uint32_t lo, hi;

	while (next_rows(j->cf, ith, nth, &lo, &hi)) {
		for (uint32_t t = lo; t < hi; t++) {
			const float *x = row_f32(j->x, t);
			float *y = (float *)j->xh + (size_t)t * K;

			for (uint32_t i = 0; i < K; i++)
				y[i] = cpu_half_round(x[i]);
		}
	}
}

/* Threads for a job over `rows` independent rows: one when there is a single row. */
static uint32_t threads_for(const struct cpu_fast *cf, uint64_t rows)
{
	return rows > 1 ? cf->n_threads : 1;
}

/* Quantized activations of rows x nb blocks laid out in s (rows * nb * (32 + 12) bytes). */
static struct cpu_act act_at(uint8_t *s, uint32_t rows, uint32_t nb)
{
	return (struct cpu_act){
		.qs = (int8_t *)s,
		.d = (float *)(s + (size_t)rows * nb * CPU_QK),
		.s = (int32_t *)(s + (size_t)rows * nb * (CPU_QK + sizeof(float))),
		.dt = (float *)(s + (size_t)rows * nb * (CPU_QK + 2 * sizeof(float))),
		.nb = nb,
		.n_rows = rows,
	};
}

static enum hal_status scratch_failed(struct cpu_fast *cf, const struct mm_job *j)
{
	return hal_device_fail(&cf->base, HAL_ERR_NOMEM, "matmul '%s': out of memory for scratch",
			       j->dst->name ? j->dst->name : "(unnamed)");
}

static enum hal_status run_matmul_quant(struct cpu_fast *cf, struct mm_job *j)
{
	const uint32_t K = j->w->ne[0], T = j->x->ne[1], nb = K / CPU_QK, pad = cf->k->pad_rows;
	const uint32_t rows = pad && T % pad >= CPU_PAD_MIN ? (T + pad - 1) / pad * pad : T;
	const size_t act_bytes = ((size_t)rows * nb * (CPU_QK + 3 * sizeof(float)) + 63) / 64 * 64;
	const size_t norm_bytes = j->norm_w ? (size_t)cf->n_threads * K * sizeof(float) : 0;
	bool kq = false;
	uint8_t *s;

	/*
	 * A weight the loader did not prepare for this device (this device is the fallback, or
	 * the loader skipped it) is prepared on first use, once: the tensor is the model's, so
	 * the packed copy lives as long as the model's own (released by release_weight or
	 * when the device is destroyed).
	 */
	for (uint32_t i = 0; i < j->nw; i++) {
		kq = kq || is_kquant(j->ws[i]->type);
		if (!j->ws[i]->owner) {
			enum hal_status st =
				cpu_fast_prepare_weight(&cf->base, (struct hal_tensor *)j->ws[i]);

			if (st)
				return st;
		}
	}
	const size_t kq_bytes =
		kq ? ((size_t)rows * nb * (2 * sizeof(int16_t) + sizeof(float)) + 63) / 64 * 64 : 0;
	/* a prefill's decoded groups: one per thread (a decode decodes as it streams) */
	j->dec_bytes = T > 1 ? (cpu_dec_bytes(nb) + 63) / 64 * 64 : 0;
	s = scratch(cf, act_bytes + norm_bytes + kq_bytes + j->dec_bytes * cf->n_threads);
	if (!s)
		return scratch_failed(cf, j);
	j->act = act_at(s, rows, nb);
	j->norm_buf = (float *)(s + act_bytes);
	if (kq) { /* what the K-quant kernels need beside (kernels_ext.h), padding rows too */
		j->act.s16 = (int16_t *)(s + act_bytes + norm_bytes);
		j->act.ds = (float *)(j->act.s16 + (size_t)rows * nb * 2);
	}
	j->dec = j->dec_bytes ? s + act_bytes + norm_bytes + kq_bytes : NULL;
	if (rows > T) {
		/* the padding rows: zero quants and scales (dt's are zeroed per block below) */
		const size_t pad_blocks = (size_t)(rows - T) * nb;

		memset(j->act.qs + (size_t)T * nb * CPU_QK, 0, pad_blocks * CPU_QK);
		memset(j->act.d + (size_t)T * nb, 0, pad_blocks * sizeof(float));
		memset(j->act.s + (size_t)T * nb, 0, pad_blocks * sizeof(int32_t));
		if (kq) {
			memset(j->act.s16 + (size_t)T * nb * 2, 0, pad_blocks * 2 * sizeof(int16_t));
			memset(j->act.ds + (size_t)T * nb, 0, pad_blocks * sizeof(float));
		}
		for (uint32_t b = 0; b < nb; b++)
			memset(j->act.dt + (size_t)b * rows + T, 0, (rows - T) * sizeof(float));
	}
	run_rows_shared(cf, act_quantize_job, j, T, threads_for(cf, T));
	ranges_init(cf, j->g_start[j->nw], cf->n_threads);
	tpool_run_shared(cf->pool, gemm_job, j, cf->n_threads);
	return HAL_OK;
}

/*
 * One weight in the file's layout (F32, F16): dot products row by row; xn, when not NULL, the
 * activations normed (the normed form) in place of src[1]'s.
 */
static enum hal_status run_matmul_float(struct cpu_fast *cf, const struct hal_op *op,
					const struct hal_tensor *xn)
{
	struct mm_job j = { .cf = cf, .w = op->src[0], .x = xn ? xn : op->src[1],
			    .dst = op->dst, .accumulate = op->matmul.accumulate };

	if (j.w->type == HAL_TYPE_F16) {
		j.xh = scratch(cf, (size_t)j.x->ne[0] * j.x->ne[1] * sizeof(float));
		if (!j.xh)
			return hal_device_fail(&cf->base, HAL_ERR_NOMEM,
					       "matmul: out of memory for scratch");
		run_rows_shared(cf, half_round_job, &j, j.x->ne[1], threads_for(cf, j.x->ne[1]));
	}
	run_rows_shared(cf, gemm_float_job, &j, j.w->ne[1], cf->n_threads);
	return HAL_OK;
}

/*
 * Quantized weights, fused or not, in one job: the activations quantized once, the groups of
 * every weight shared as one range. Float weights weight by weight.
 */
static enum hal_status run_matmul(struct cpu_fast *cf, const struct hal_op *op)
{
	struct mm_job j = { .cf = cf, .w = op->src[0], .x = op->src[1], .dst = op->dst,
			    .accumulate = op->matmul.accumulate };
	char *out = op->dst->data;

	j.nw = hal_matmul_weights(op, j.ws);
	if (op->src[4]) {
		j.norm_w = op->src[4]->data;
		j.eps = op->matmul.eps;
	}
	if (!is_quant(j.w->type)) {
		struct hal_tensor xn = *j.x;
		enum hal_status st = HAL_OK;

		/* the normed form: the normed rows once, for every weight (float weights are rare) */
		xn.data = j.norm_w ? malloc(hal_tensor_bytes(j.x)) : NULL;
		if (j.norm_w && !xn.data)
			return hal_device_fail(&cf->base, HAL_ERR_NOMEM,
					       "matmul: out of memory for the normed rows");
		for (uint32_t t = 0; j.norm_w && t < j.x->ne[1]; t++)
			norm_row(cf->k, row_f32(j.x, t), j.norm_w, j.eps, j.x->ne[0],
				 row_f32(&xn, t));
		for (uint32_t i = 0; i < j.nw && !st; i++) {
			struct hal_op part;
			struct hal_tensor dst;

			hal_matmul_part(op, i, &part, &dst);
			st = run_matmul_float(cf, &part, j.norm_w ? &xn : NULL);
		}
		free(xn.data);
		return st;
	}
	for (uint32_t i = 0; i < j.nw; i++) {
		j.out[i] = (float *)out;
		out += hal_row_bytes(HAL_TYPE_F32, j.ws[i]->ne[1]) * j.x->ne[1];
		j.g_start[i + 1] = j.g_start[i] + (j.ws[i]->ne[1] + CPU_GROUP_ROWS - 1) / CPU_GROUP_ROWS;
	}
	return run_matmul_quant(cf, &j);
}

/* ---- EMBED, RMSNORM, ROPE ----------------------------------------------------------------- */

static void run_embed(const struct hal_op *op)
{
	const struct hal_tensor *table = op->src[0], *ids = op->src[1];
	size_t rb = hal_row_bytes(table->type, table->ne[0]);

	for (uint32_t t = 0; t < op->dst->ne[1]; t++) {
		float *y = row_f32(op->dst, t);

		hal_dequantize_row(table->type, (const char *)table->data + rb * load_i32(ids, t),
				   y, table->ne[0]);
		for (uint32_t i = 0; op->embed.scale != 0.0f && i < table->ne[0]; i++)
			y[i] *= op->embed.scale;
	}
}

struct row_job {
	struct cpu_fast *cf;
	const struct hal_op *op;
	/* rows [lo, hi) of the op on thread ith */
	void (*rows)(struct row_job *j, uint32_t ith, uint32_t lo, uint32_t hi);
	float theta_scale;
	float *scratch; /* per-thread, `stride` floats each */
	size_t stride;
};

static void rmsnorm_rows(struct row_job *j, uint32_t ith, uint32_t lo, uint32_t hi)
{
	(void)ith;
	const struct hal_tensor *x = j->op->src[0];
	const float *w = j->op->src[1]->data;
	const uint32_t D = x->ne[0];
	for (uint32_t t = lo; t < hi; t++)
		norm_row(j->cf->k, row_f32(x, t), w, j->op->p.rmsnorm.eps, D, row_f32(j->op->dst, t));
}

/*
 * The angles depend on the position and pair only, not the head: cos/sin once per token
 * (the same float operations as the reference, so the same values), then every head.
 */
static void rope_rows(struct row_job *j, uint32_t ith, uint32_t lo, uint32_t hi)
{
	const struct hal_op *op = j->op;
	const uint32_t hd = op->p.rope.head_dim, n_rot = op->p.rope.n_rot;
	const float *ff = op->src[2] ? op->src[2]->data : NULL; /* frequency factors */
	const bool neox = op->p.rope.mode == HAL_ROPE_NEOX;
	float *cs = j->scratch + ith * j->stride;
	for (uint32_t t = lo; t < hi; t++) {
		float theta_base = (float)load_i32(op->src[1], t);
		float *x = row_f32(op->dst, t);

		for (uint32_t i0 = 0; i0 < n_rot; i0 += 2) {
			float theta = op->p.rope.freq_scale *
				      (ff ? theta_base / ff[i0 / 2] : theta_base);

			cs[i0] = cosf(theta);
			cs[i0 + 1] = sinf(theta);
			theta_base *= j->theta_scale;
		}
		if (neox) {
			/* the NeoX pairs (x[i], x[i + n_rot/2]): the angles as above */
			for (uint32_t h = 0; h < op->p.rope.n_head; h++) {
				float *xh = x + (size_t)h * hd;

				for (uint32_t i0 = 0; i0 < n_rot; i0 += 2) {
					float *p0 = xh + i0 / 2, *p1 = xh + i0 / 2 + n_rot / 2;
					float x0 = *p0, x1 = *p1;

					*p0 = x0 * cs[i0] - x1 * cs[i0 + 1];
					*p1 = x0 * cs[i0 + 1] + x1 * cs[i0];
				}
			}
			continue;
		}
		if (j->cf->k->rope) {
			j->cf->k->rope(x, cs, n_rot, op->p.rope.n_head, hd);
			continue;
		}
		for (uint32_t h = 0; h < op->p.rope.n_head; h++) {
			float *xh = x + (size_t)h * hd;

			for (uint32_t i0 = 0; i0 < n_rot; i0 += 2) {
				float x0 = xh[i0], x1 = xh[i0 + 1];

				xh[i0] = x0 * cs[i0] - x1 * cs[i0 + 1];
				xh[i0 + 1] = x0 * cs[i0 + 1] + x1 * cs[i0];
			}
		}
	}
}

/* A row_job's rows, shared between the threads. */
static void rows_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct row_job *j = arg;
	uint32_t lo, hi;

	while (next_rows(j->cf, ith, nth, &lo, &hi))
		j->rows(j, ith, lo, hi);
}

static enum hal_status run_rows(struct cpu_fast *cf, const struct hal_op *op,
				void (*rows)(struct row_job *, uint32_t, uint32_t, uint32_t),
				size_t per_thread)
{
	struct row_job j = { .cf = cf, .op = op, .rows = rows, .stride = per_thread };

	if (per_thread) {
		j.scratch = scratch(cf, per_thread * cf->n_threads * sizeof(float));
		if (!j.scratch)
			return hal_device_fail(&cf->base, HAL_ERR_NOMEM,
					       "%s: out of memory for scratch",
					       hal_op_name(op->kind));
	}
	if (op->kind == HAL_OP_ROPE)
		j.theta_scale = powf(op->p.rope.freq_base, -2.0f / (float)op->p.rope.n_rot);
	run_rows_shared(cf, rows_job, &j, op->dst->ne[1], threads_for(cf, op->dst->ne[1]));
	return HAL_OK;
}

/* ---- ATTENTION ---------------------------------------------------------------------------- */

/* Gemma-2's soft-capped scores, in place; returns their new maximum. */
static float softcap_scores(float *p, uint32_t n, float cap)
{
	float max = -INFINITY;

	for (uint32_t r = 0; r < n; r++) {
		p[r] = hal_softcap(p[r], cap);
		max = fmaxf(max, p[r]);
	}
	return max;
}

/*
 * Cache rows a token's attention takes at a time, for all the heads of its item. Head after
 * head over the whole context, each head read its 64-256 bytes of every cache row, rows ld
 * bytes apart: a stride the hardware prefetchers do not follow. In chunks, an F16 or Q8_0
 * cache's next chunk is fetched whole (in order) while one is computed, and the heads' passes
 * over a chunk find its rows in L2: F16 K scores of 12 heads x 4096 rows took 1.08-1.16 ms
 * head by head and 0.53-0.56 ms in chunks of 64 (Xeon VM, one thread, 6 MiB cycled over 16
 * copies); `npu-bench cpu` attention at ctx=4096, 2 threads: F16 645-793 -> 396-574 us,
 * Q8_0 695-763 -> 411-447. An F32 cache's rows (4 lines a head) stream well enough with the
 * F32 kernels' own prefetch; fetching its chunks too made it slower (ctx=4096: 643-656 us
 * against 496-569 without, 569-659 head by head).
 */
#define ATTN_CHUNK 64

/* Per head of an item in a thread's scratch: the running max and sum, then hd sums of V. */
#define ATTN_HEAD_STATE(hd) ((size_t)(hd) + 2)

struct attn_rows {
	const uint8_t *k, *v; /* row `first` of the caches, at kv head 0 */
	size_t ld;            /* bytes a cache row */
	size_t head_bytes;    /* bytes of one kv head's slice of a row */
	enum hal_type type;   /* the caches' (F32, F16 or Q8_0) */
	uint32_t hd;          /* floats of a head */
};

/* Row r0 of cache base (c->k or c->v), at kv head kvh's slice. */
static const uint8_t *attn_slice(const struct attn_rows *c, const uint8_t *base, uint32_t kvh,
				 uint32_t r0)
{
	return base + r0 * c->ld + kvh * c->head_bytes;
}

/* A head's q against kv head kvh's rows r0 .. r0 + n - 1 (of the item's) into p; their max. */
static float attn_chunk_scores(struct row_job *j, const struct attn_rows *c, const float *q,
			       uint32_t kvh, uint32_t r0, uint32_t n, float *p)
{
	const struct hal_op *op = j->op;
	const struct cpu_kernels *k = j->cf->k;
	const uint32_t hd = c->hd;
	const uint8_t *kb = attn_slice(c, c->k, kvh, r0);
	float max = -INFINITY;

	if (c->type != HAL_TYPE_F32) /* an F16 or Q8_0 cache: read in its own format */
		max = j->cf->x->cache_scores(c->type, q, kb, c->ld, n, hd, op->p.attn.scale, p);
	else if (k->attn_scores && (hd == 64 || hd == 128)) /* attn_scores' sizes (kernels.h) */
		max = k->attn_scores(q, (const float *)kb, c->ld / sizeof(float), n, hd,
				     op->p.attn.scale, p);
	else
		for (uint32_t r = 0; r < n; r++) {
			p[r] = op->p.attn.scale *
			       k->dot_f32(q, (const float *)(kb + r * c->ld), hd);
			max = fmaxf(max, p[r]);
		}
	return op->p.attn.softcap > 0.0f ? softcap_scores(p, n, op->p.attn.softcap) : max;
}

/* out = sum of p[r] V row r over rows r0 .. r0 + n - 1 of kv head kvh. */
static void attn_chunk_values(struct row_job *j, const struct attn_rows *c, const float *p,
			      uint32_t kvh, uint32_t r0, uint32_t n, float *out)
{
	const struct cpu_kernels *k = j->cf->k;
	const uint32_t hd = c->hd;
	const uint8_t *vb = attn_slice(c, c->v, kvh, r0);

	if (c->type != HAL_TYPE_F32) {
		j->cf->x->cache_values(c->type, out, p, vb, c->ld, n, hd);
	} else if (k->attn_values && (hd == 64 || hd == 128)) {
		k->attn_values(out, p, (const float *)vb, c->ld / sizeof(float), n, hd);
	} else {
		memset(out, 0, hd * sizeof(float));
		for (uint32_t r = 0; r < n; r++)
			k->axpy(out, p[r], (const float *)(vb + r * c->ld), hd);
	}
}

/* Rows r0 .. r0 + n - 1 of the kv heads kh0 .. kh1 - 1, K and V, towards L2. */
static void attn_fetch(const struct attn_rows *c, uint32_t kh0, uint32_t kh1, uint32_t r0,
		       uint32_t n)
{
	const size_t lo = kh0 * c->head_bytes, hi = kh1 * c->head_bytes;

	for (uint32_t r = r0; r < r0 + n; r++)
		for (size_t o = lo; o < hi; o += 64) {
			__builtin_prefetch(attn_slice(c, c->k, 0, r) + o, 0, CPU_PREFETCH_L2);
			__builtin_prefetch(attn_slice(c, c->v, 0, r) + o, 0, CPU_PREFETCH_L2);
		}
}

/*
 * One token t's heads h0 .. h1 - 1 over its cache rows first .. last, ATTN_CHUNK rows at a
 * time: per head and chunk the scores, the softmax's running max and sum (the sums so far
 * rescaled when the max grows), and V weighted by the chunk's exp; each head's output is its
 * V sum over its exp sum. ws: the thread's scratch (run_attention's stride). A head's result
 * depends only on its own rows and the fixed chunks, not on the heads beside it or the
 * thread: bit-identical for any thread count and any split into items.
 */
static void attend_heads(struct row_job *j, float *ws, uint32_t t, uint32_t h0, uint32_t h1)
{
	const struct hal_op *op = j->op;
	const struct cpu_kernels *k = j->cf->k;
	const uint32_t hd = op->p.attn.head_dim;
	const uint32_t group = op->p.attn.n_head / op->p.attn.n_head_kv;
	const uint32_t last = (uint32_t)load_i32(op->src[5], t), win = op->p.attn.window;
	/* a sliding window's rows first .. last: the cache from row first on, n rows of it */
	const uint32_t first = win && last + 1 > win ? last + 1 - win : 0, n = last + 1 - first;
	const enum hal_type ct = op->src[3]->type;
	const size_t lb = hal_row_bytes(ct, op->src[3]->ne[0]);
	const struct attn_rows c = {
		.k = (const uint8_t *)op->src[3]->data + first * lb,
		.v = (const uint8_t *)op->src[4]->data + first * lb,
		.ld = lb,
		.head_bytes = hal_row_bytes(ct, hd),
		.type = ct,
		.hd = hd,
	};
	const uint32_t kh0 = h0 / group, kh1 = (h1 - 1) / group + 1;
	float *p = ws, *part = p + ATTN_CHUNK, *state = part + hd;

	for (uint32_t r0 = 0; r0 < n; r0 += ATTN_CHUNK) {
		const uint32_t len = n - r0 < ATTN_CHUNK ? n - r0 : ATTN_CHUNK, next = r0 + len;

		if (next < n && ct != HAL_TYPE_F32)
			attn_fetch(&c, kh0, kh1, next, n - next < ATTN_CHUNK ? n - next : ATTN_CHUNK);
		for (uint32_t h = h0; h < h1; h++) {
			float *st = state + (h - h0) * ATTN_HEAD_STATE(hd), *acc = st + 2;
			const float *q = row_f32(op->src[0], t) + (size_t)h * hd;
			const float max = attn_chunk_scores(j, &c, q, h / group, r0, len, p);

			if (r0 == 0) { /* the first chunk: its sums are the running ones */
				st[0] = max;
				st[1] = k->exp_sum(p, len, max);
				attn_chunk_values(j, &c, p, h / group, r0, len, acc);
				continue;
			}
			if (max > st[0]) { /* the running sums to the new max */
				const float f = expf(st[0] - max);

				st[1] *= f;
				for (uint32_t i = 0; i < hd; i++)
					acc[i] *= f;
				st[0] = max;
			}
			st[1] += k->exp_sum(p, len, st[0]);
			attn_chunk_values(j, &c, p, h / group, r0, len, part);
			for (uint32_t i = 0; i < hd; i++)
				acc[i] += part[i];
		}
	}
	for (uint32_t h = h0; h < h1; h++) {
		const float *st = state + (h - h0) * ATTN_HEAD_STATE(hd);
		float *out = row_f32(op->dst, t) + (size_t)h * hd;
		const float inv = 1.0f / st[1];

		for (uint32_t i = 0; i < hd; i++)
			out[i] = st[2 + i] * inv;
	}
}

/*
 * Heads an attend_heads item takes: a thread's share of a token's heads, rounded up to whole
 * kv heads' query groups when every thread still gets some (so that one thread reads each of
 * its kv heads' rows once); a decode of 12 heads on 2 threads: 6.
 */
static uint32_t attn_heads_per_item(const struct cpu_fast *cf, const struct hal_op *op)
{
	const uint32_t n_head = op->p.attn.n_head, group = n_head / op->p.attn.n_head_kv;
	const uint32_t per = (n_head + cf->n_threads - 1) / cf->n_threads;
	const uint32_t whole = (per + group - 1) / group * group;

	return whole * (cf->n_threads - 1) < n_head ? whole : per;
}

/* Items (token, range of attn_heads_per_item heads). */
static void attention_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct row_job *j = arg;
	float *ws = j->scratch + ith * j->stride;
	const uint32_t n_head = j->op->p.attn.n_head, per = attn_heads_per_item(j->cf, j->op);
	const uint32_t ranges = (n_head + per - 1) / per;
	uint32_t lo, hi;

	while (range_take(j->cf, ith, nth, 1, &lo, &hi))
		for (uint32_t u = lo; u < hi; u++) {
			const uint32_t h0 = u % ranges * per;

			attend_heads(j, ws, u / ranges, h0, h0 + per < n_head ? h0 + per : n_head);
		}
}

/*
 * A prefill in blocks of 16 consecutive rows of the batch, one head at a time (the ISA's
 * attn_block, which puts the queries in the vector lanes; their positions may be any, each
 * query sees the cache rows up to its own): the item is (head, block), a head's blocks in a
 * row.
 */
static void attention_block_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct row_job *j = arg;
	const struct hal_op *op = j->op;
	const uint32_t n_head = op->p.attn.n_head, hd = op->p.attn.head_dim;
	const uint32_t T = op->dst->ne[1], group = n_head / op->p.attn.n_head_kv;
	const size_t ld = op->src[3]->ne[0];
	const enum hal_type ct = op->src[3]->type;
	const uint32_t blocks = (T + 15) / 16;
	float *ws = j->scratch + ith * j->stride;
	/* the kv head whose rows 0 .. conv_n - 1 this thread has in F32 (non-F32 caches) */
	uint32_t conv_kvh = UINT32_MAX, conv_n = 0;
	uint32_t lo, hi;

	while (range_take(j->cf, ith, nth, 1, &lo, &hi)) {
		for (uint32_t u = lo; u < hi; u++) {
			const uint32_t t0 = u % blocks * 16, h = u / blocks, kvh = h / group;
			const uint32_t nq = T - t0 < 16 ? T - t0 : 16;
			const float *kc = (const float *)op->src[3]->data + (size_t)kvh * hd;
			const float *vc = (const float *)op->src[4]->data + (size_t)kvh * hd;
			size_t kld = ld;
			uint32_t last[16], n = 0;

			for (uint32_t i = 0; i < nq; i++) {
				last[i] = (uint32_t)load_i32(op->src[5], t0 + i);
				n = last[i] + 1 > n ? last[i] + 1 : n;
			}
			if (ct != HAL_TYPE_F32) {
				/*
				 * An F16 or Q8_0 cache: the rows these 16 queries see, of this kv
				 * head, into F32 after the block kernel's scratch, then the F32
				 * kernel over them. The items go head by head (run_attention), so
				 * a thread converts a kv head's rows once for all its blocks and
				 * query heads: at a long context the conversion, once a block, took
				 * a quarter of the block's time.
				 */
				const size_t lb = hal_row_bytes(ct, ld);
				const size_t off = hal_row_bytes(ct, (size_t)kvh * hd);
				float *kf = ws + CPU_ATTN_BLOCK_WS(op->src[3]->ne[1], hd);
				float *vf = kf + (size_t)op->src[3]->ne[1] * hd;

				if (kvh != conv_kvh)
					conv_kvh = kvh, conv_n = 0;
				if (n > conv_n) {
					const size_t o = off + conv_n * lb;

					j->cf->x->cache_load(ct, (const uint8_t *)op->src[3]->data + o,
							     lb, n - conv_n, hd, kf + (size_t)conv_n * hd);
					j->cf->x->cache_load(ct, (const uint8_t *)op->src[4]->data + o,
							     lb, n - conv_n, hd, vf + (size_t)conv_n * hd);
					conv_n = n;
				}
				kc = kf;
				vc = vf;
				kld = hd;
			}
			j->cf->k->attn_block(row_f32(op->src[0], t0) + (size_t)h * hd,
					     op->src[0]->ne[0], last, nq, kc, vc, kld, hd,
					     op->p.attn.scale,
					     row_f32(op->dst, t0) + (size_t)h * hd, op->dst->ne[0], ws);
		}
	}
}

/* Tokens [lo, hi)'s k and v rows into the caches at their positions. */
static void cache_rows(struct row_job *j, uint32_t ith, uint32_t lo, uint32_t hi)
{
	const struct hal_op *op = j->op;
	const size_t rb = hal_row_bytes(HAL_TYPE_F32, op->src[1]->ne[0]);
	const enum hal_type ct = op->src[3]->type;

	(void)ith;
	for (uint32_t t = lo; t < hi; t++) {
		uint32_t r = (uint32_t)load_i32(op->src[5], t);

		if (ct != HAL_TYPE_F32) {
			/* row_f32 is the row's address whatever the type */
			j->cf->x->cache_store(ct, row_f32(op->src[1], t),
					      (uint8_t *)row_f32(op->src[3], r), op->src[1]->ne[0]);
			j->cf->x->cache_store(ct, row_f32(op->src[2], t),
					      (uint8_t *)row_f32(op->src[4], r), op->src[2]->ne[0]);
			continue;
		}
		memcpy(row_f32(op->src[3], r), row_f32(op->src[1], t), rb);
		memcpy(row_f32(op->src[4], r), row_f32(op->src[2], t), rb);
	}
}

static enum hal_status run_attention(struct cpu_fast *cf, const struct hal_op *op)
{
	struct row_job j = { .cf = cf, .op = op, .rows = cache_rows };

	/*
	 * every token's k, v in the cache before any token attends (causality within a batch);
	 * a prefill's rows on every thread: a first prompt writes fresh cache pages, and the
	 * threads take their page faults side by side
	 */
	run_rows_shared(cf, rows_job, &j, op->src[1]->ne[1], threads_for(cf, op->src[1]->ne[1]));
	const uint32_t T = op->dst->ne[1], n_ctx = op->src[3]->ne[1], hd = op->p.attn.head_dim;
	/* (the block kernel knows neither soft-capping nor windows: Gemma-2 takes attend's path;
	 * nor a decode step's bits, which a speculative verifier's rows must have) */
	const bool blocks = T > 1 && cf->k->attn_block && hd % 16 == 0 &&
			    op->p.attn.softcap == 0.0f && !op->p.attn.window && !op->p.attn.rowwise;

	/* non-F32 caches' blocks: their K and V rows in F32 after the block kernel's scratch */
	const size_t conv = op->src[3]->type != HAL_TYPE_F32 ? 2 * (size_t)n_ctx * hd : 0;

	const uint32_t n_head = op->p.attn.n_head, per = attn_heads_per_item(cf, op);

	j.stride = blocks ? CPU_ATTN_BLOCK_WS(n_ctx, hd) + conv
			  : (ATTN_CHUNK + hd + per * ATTN_HEAD_STATE(hd) + 15) / 16 * 16;
	j.scratch = scratch(cf, j.stride * cf->n_threads * sizeof(float));
	if (!j.scratch)
		return hal_device_fail(&cf->base, HAL_ERR_NOMEM,
				       "attention: out of memory for scratch");
	uint32_t items = blocks ? (T + 15) / 16 * n_head : T * ((n_head + per - 1) / per);
	uint32_t nth = threads_for(cf, items);

	ranges_init(cf, items, nth);
	tpool_run_shared(cf->pool, blocks ? attention_block_job : attention_job, &j, nth);
	return HAL_OK;
}

/* ---- SWIGLU, ADD -------------------------------------------------------------------------- */

static void binary_rows(struct row_job *j, uint32_t ith, uint32_t lo, uint32_t hi)
{
	(void)ith;
	const struct hal_op *op = j->op;
	const uint32_t D = op->dst->ne[0];
	for (uint32_t t = lo; t < hi; t++) {
		/* one row of src[1]: ADD's bias form, the same row for every row */
		const float *a = row_f32(op->src[0], t);
		const float *b = row_f32(op->src[1], op->src[1]->ne[1] == 1 ? 0 : t);
		float *d = row_f32(op->dst, t);

		if (op->kind == HAL_OP_SWIGLU && op->glu.act == HAL_GLU_GELU) {
			for (uint32_t i = 0; i < D; i++)
				d[i] = hal_gelu(a[i]) * b[i];
		} else if (op->kind == HAL_OP_SWIGLU) {
			j->cf->k->swiglu(d, a, b, D);
		} else if (j->cf->k->add) {
			j->cf->k->add(d, a, b, D);
		} else {
			for (uint32_t i = 0; i < D; i++)
				d[i] = a[i] + b[i];
		}
	}
}

static void run_binary(struct cpu_fast *cf, const struct hal_op *op)
{
	struct row_job j = { .cf = cf, .op = op, .rows = binary_rows };
	uint64_t n = (uint64_t)op->dst->ne[0] * op->dst->ne[1];

	run_rows_shared(cf, rows_job, &j, op->dst->ne[1],
			n >= PAR_MIN_ELEMS ? threads_for(cf, op->dst->ne[1]) : 1);
}

/* ---- the device --------------------------------------------------------------------------- */

static bool is_weight_type(enum hal_type type)
{
	return type == HAL_TYPE_F32 || type == HAL_TYPE_F16 || is_quant(type);
}

static bool cpu_fast_supports(struct hal_device *dev, const struct hal_op *op)
{
	if (!op || (unsigned)op->kind >= HAL_OP_COUNT)
		return false;
	for (int i = 0; i < HAL_OP_MAX_SRC; i++)
		if (op->src[i] && op->src[i]->owner && op->src[i]->owner != dev)
			return false;
	if ((op->kind == HAL_OP_MATMUL || op->kind == HAL_OP_EMBED) && op->src[0])
		return is_weight_type(op->src[0]->type);
	return true;
}

static enum hal_status dispatch(struct cpu_fast *cf, const struct hal_op *op)
{
	switch (op->kind) {
	case HAL_OP_EMBED:
		if (op->src[0]->owner)
			return hal_device_fail(&cf->base, HAL_ERR_UNSUPPORTED,
					       "embed: table '%s' is packed for matmul",
					       op->src[0]->name);
		run_embed(op);
		return HAL_OK;
	case HAL_OP_RMSNORM:
		return run_rows(cf, op, rmsnorm_rows, 0);
	case HAL_OP_MATMUL: {
		enum hal_status st = run_matmul(cf, op);
		float *y = op->dst->data;

		/* the capped form (the logits): one weight, its dst contiguous */
		for (size_t i = 0; !st && op->matmul.softcap > 0.0f &&
				   i < (size_t)op->dst->ne[0] * op->dst->ne[1]; i++)
			y[i] = hal_softcap(y[i], op->matmul.softcap);
		return st;
	}
	case HAL_OP_ROPE:
		return run_rows(cf, op, rope_rows, op->p.rope.n_rot + 16);
	case HAL_OP_ATTENTION:
		return run_attention(cf, op);
	case HAL_OP_SWIGLU:
	case HAL_OP_ADD:
		run_binary(cf, op);
		return HAL_OK;
	default:
		return hal_device_fail(&cf->base, HAL_ERR_INVALID, "unknown op kind %d",
				       (int)op->kind);
	}
}

static enum hal_status cpu_fast_run(struct hal_device *dev, const struct hal_op *op)
{
	char msg[sizeof(dev->error)];
	enum hal_status st = hal_op_check(op, msg, sizeof(msg));
	uint64_t t0;

	if (st) {
		memcpy(dev->error, msg, sizeof(msg));
		return st;
	}
	for (int i = 0; i < HAL_OP_MAX_SRC; i++)
		if (op->src[i] && op->src[i]->owner && op->src[i]->owner != dev)
			return hal_device_fail(dev, HAL_ERR_UNSUPPORTED,
					       "%s: '%s' belongs to device %s",
					       hal_op_name(op->kind), op->src[i]->name,
					       op->src[i]->owner->name);
	t0 = hal_now_ns();
	st = dispatch(to_fast(dev), op);
	if (st == HAL_OK) {
		dev->stats.ops++;
		dev->stats.busy_ns += hal_now_ns() - t0;
	}
	return st;
}

static void cpu_fast_destroy(struct hal_device *dev)
{
	struct cpu_fast *cf = to_fast(dev);

	tpool_destroy(cf->pool);
	/* weights never released belong to a model that outlived its context: free ours */
	while (cf->weights) {
		struct packed *pk = cf->weights;

		cf->weights = pk->next;
		arena_give(cf, pk);
	}
	if (cf->arena)
		arena_unmap(cf->arena);
	free(cf->scratch);
	free(cf->slots);
	free(cf);
}

static void cpu_fast_spin(struct hal_device *dev, bool spin)
{
	tpool_set_spin(((struct cpu_fast *)dev)->pool, spin);
}

static const struct hal_device_vtable cpu_fast_vtable = {
	.destroy = cpu_fast_destroy,
	.supports = cpu_fast_supports,
	.run = cpu_fast_run,
	.prepare_weight = cpu_fast_prepare_weight,
	.release_weight = cpu_fast_release_weight,
	.spin = cpu_fast_spin,
};

enum hal_status hal_cpu_fast_create(const struct hal_device_options *opts,
				    struct hal_device **out_dev, char *err, size_t err_len)
{
	const struct cpu_kernels *k;
	struct cpu_fast *cf;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t n = opts && opts->n_threads ? opts->n_threads : (online > 0 ? (uint32_t)online : 1);

	if (!out_dev)
		return HAL_ERR_INVALID;
	*out_dev = NULL;
	if (n > 256)
		n = 256;
	k = cpu_kernels_select(err, err_len);
	if (!k)
		return HAL_ERR_DEVICE;
	cf = calloc(1, sizeof(*cf));
	if (!cf)
		return HAL_ERR_NOMEM;
	int e = tpool_create(n, &cf->pool);
	if (e) {
		snprintf(err, err_len, "cannot start %u threads: %s", n, strerror(-e));
		free(cf);
		return e == -ENOMEM ? HAL_ERR_NOMEM : HAL_ERR_DEVICE;
	}
	cf->slots = aligned_alloc(64, n * sizeof(*cf->slots));
	if (!cf->slots) {
		tpool_destroy(cf->pool);
		free(cf);
		return HAL_ERR_NOMEM;
	}
	cf->k = k;
	cf->x = cpu_ext_for(k->isa);
	cf->n_threads = n;
	snprintf(cf->name, sizeof(cf->name), "cpu");
	cf->base.vt = &cpu_fast_vtable;
	cf->base.name = cf->name;
	cf->base.cls = hal_backend_cpu_fast.cls;
	cf->base.caps = hal_backend_cpu_fast.caps;
	*out_dev = &cf->base;
	return HAL_OK;
}

const struct hal_backend hal_backend_cpu_fast = {
	.name = "cpu",
	.description = "fast CPU backend: SIMD kernels (AMX, AVX-512 VNNI, AVX-VNNI, AVX2, NEON "
		       "dotprod or scalar), a thread per core",
	.cls = HAL_CLASS_CPU,
	.caps = HAL_CAP_ALL_OPS | HAL_CAP_FUSED_MATMUL,
	.create = hal_cpu_fast_create,
};

const char *hal_cpu_fast_isa(const struct hal_device *dev)
{
	return ((const struct cpu_fast *)dev)->k->isa;
}

uint32_t hal_cpu_fast_threads(const struct hal_device *dev)
{
	return ((const struct cpu_fast *)dev)->n_threads;
}

struct peak_job {
	const struct cpu_kernels *k;
	uint64_t rounds;
	bool scaling;
	double rate[256]; /* per thread: multiply-accumulates per second of its own CPU time */
	const char *what; /* peak_macs' instruction, from thread 0 */
};

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void peak_job(void *arg, uint32_t ith, uint32_t nth)
{
	struct peak_job *j = arg;
	const char *what = NULL;
	double t0 = thread_cpu_s();
	uint64_t macs = j->scaling ? j->k->scale_macs(j->rounds) : j->k->peak_macs(j->rounds, &what);
	double s = thread_cpu_s() - t0;

	(void)nth;
	j->rate[ith] = s > 0 ? (double)macs / s : 0.0;
	if (ith == 0)
		j->what = what;
}

/*
 * Best of 5 runs of peak_macs (or scale_macs) on every thread, each at least 20 ms long: the
 * sum of the threads' rates, each over its own CPU time. On a host whose cores other work
 * shares, a thread that is descheduled mid-loop then lowers no rate (over wall time it did,
 * and the ceiling read below what a prefill that ran undisturbed reached: rows over 100 %).
 */
static double peak_gmacs(const struct cpu_fast *cf, bool scaling, const char **what)
{
	struct peak_job j = { .k = cf->k, .rounds = 1000, .scaling = scaling };
	double best = 0.0;

	for (int run = 0; run < 5;) {
		uint64_t t0 = hal_now_ns();
		tpool_run(cf->pool, peak_job, &j, cf->n_threads);
		double s = 1e-9 * (double)(hal_now_ns() - t0), sum = 0.0;

		if (s < 0.02 && j.rounds < (1ull << 40)) {
			j.rounds *= 2; /* too short to time: longer, and not counted */
			continue;
		}
		for (uint32_t i = 0; i < cf->n_threads; i++)
			sum += j.rate[i] / 1e9;
		if (sum > best)
			best = sum;
		run++;
	}
	*what = j.what;
	return best;
}

double hal_cpu_fast_peak_gmacs(const struct hal_device *dev, const char **what)
{
	const struct cpu_fast *cf = (const struct cpu_fast *)dev;

	*what = NULL;
	return cf->k->peak_macs ? peak_gmacs(cf, false, what) : 0.0;
}

double hal_cpu_fast_scale_gmacs(const struct hal_device *dev)
{
	const struct cpu_fast *cf = (const struct cpu_fast *)dev;
	const char *what;

	return cf->k->scale_macs ? peak_gmacs(cf, true, &what) : 0.0;
}

struct tpool *hal_cpu_fast_pool(const struct hal_device *dev)
{
	return ((const struct cpu_fast *)dev)->pool;
}
