/* SPDX-License-Identifier: MIT */
/*
 * bandwidth.c - the read ceiling: how fast the device's threads stream a buffer, read the way
 * the decode kernels stream their weights (same prefetch distance, AVX2 loads where the CPU
 * has them). npu-bench and calibration compare every memory-bound kernel with it.
 */
#include "cpu_fast.h"
#include "kernels.h"
#include "threadpool.h"

#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

struct bw_job {
	const uint8_t *buf;
	size_t len;
	uint64_t sink[64]; /* the xor of what was read: keeps the reads from being optimised out */
};

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n)
{
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;

	for (size_t i = 0; i + 128 <= n; i += 128) {
		__builtin_prefetch(p + i + CPU_PREFETCH_BYTES, 0, CPU_PREFETCH_L2);
		__builtin_prefetch(p + i + CPU_PREFETCH_BYTES + 64, 0, CPU_PREFETCH_L2);
		a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
		a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
		a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
		a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
	}
	a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
	return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}
#endif

static uint64_t read_plain(const uint8_t *p, size_t n)
{
	uint64_t a[8] = { 0 }, v;

	for (size_t i = 0; i + 64 <= n; i += 64) {
		__builtin_prefetch(p + i + CPU_PREFETCH_BYTES, 0, CPU_PREFETCH_L2);
		for (int j = 0; j < 8; j++) {
			memcpy(&v, p + i + 8 * j, sizeof(v));
			a[j] ^= v;
		}
	}
	return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

static void bw_part(void *arg, uint32_t ith, uint32_t nth)
{
	struct bw_job *j = arg;
	size_t lo = j->len / nth * ith / 4096 * 4096, hi = j->len / nth * (ith + 1) / 4096 * 4096;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		j->sink[ith % 64] ^= read_avx2(j->buf + lo, hi - lo);
		return;
	}
#endif
	j->sink[ith % 64] ^= read_plain(j->buf + lo, hi - lo);
}

double hal_cpu_fast_time_read(const struct hal_device *dev, const void *buf, size_t len)
{
	struct tpool *pool = hal_cpu_fast_pool(dev);
	struct bw_job j = { .buf = buf, .len = len };
	uint64_t t0 = hal_now_ns();

	tpool_run(pool, bw_part, &j, tpool_size(pool));
	return 1e-9 * (double)(hal_now_ns() - t0);
}

void *hal_cpu_fast_read_buffer(size_t len)
{
	const size_t huge = (size_t)2 << 20;
	size_t want = (len + huge - 1) / huge * huge;
	uint8_t *buf = aligned_alloc(huge, want);

	if (!buf)
		return NULL;
	/* the weights' arenas ask for huge pages (cpu_fast.c): a fair ceiling reads the same way */
	madvise(buf, want, MADV_HUGEPAGE);
	memset(buf, 1, want); /* fault every page in before timing */
	return buf;
}
