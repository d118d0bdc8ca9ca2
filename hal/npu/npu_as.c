/* SPDX-License-Identifier: MIT */
/*
 * npu_as.c - page tables in process memory for the device MMU (see npu_as.h).
 */
#include "hal/npu/npu_as.h"
#include "kmod/silicon/npu_mmu.h"

#include <stdlib.h>
#include <string.h>

static uint64_t *table_new(struct npu_as *as)
{
	uint64_t *t;

	if (as->ntables == as->cap) {
		uint32_t cap = as->cap ? 2 * as->cap : 16;
		uint64_t **n = realloc(as->tables, cap * sizeof(*n));

		if (!n)
			return NULL;
		as->tables = n;
		as->cap = cap;
	}
	t = aligned_alloc(NPU_PAGE_SIZE, NPU_PAGE_SIZE);
	if (!t)
		return NULL;
	memset(t, 0, NPU_PAGE_SIZE);
	as->tables[as->ntables++] = t;
	return t;
}

int npu_as_init(struct npu_as *as)
{
	memset(as, 0, sizeof(*as));
	as->root = table_new(as);
	return as->root ? 0 : -1;
}

void npu_as_destroy(struct npu_as *as)
{
	for (uint32_t i = 0; i < as->ntables; i++)
		free(as->tables[i]);
	free(as->tables);
	memset(as, 0, sizeof(*as));
}

uint64_t npu_as_root(const struct npu_as *as)
{
	return (uintptr_t)as->root;
}

/* The leaf entry of va, creating the tables above it; NULL out of memory. */
static uint64_t *leaf(struct npu_as *as, uint64_t va)
{
	uint64_t *t = as->root;

	for (uint32_t level = 0; level < NPU_PT_LEVELS - 1; level++) {
		uint64_t *e = &t[npu_pt_index(va, level)];

		if (!(*e & NPU_PTE_VALID)) {
			uint64_t *next = table_new(as);

			if (!next)
				return NULL;
			/* the device may be walking: the zeroed table before the link to it */
			__atomic_store_n(e, (uintptr_t)next | NPU_PTE_VALID | NPU_PTE_TABLE,
					 __ATOMIC_RELEASE);
		}
		t = (uint64_t *)(uintptr_t)(*e & NPU_PTE_ADDR_MASK);
	}
	return &t[npu_pt_index(va, NPU_PT_LEVELS - 1)];
}

int npu_as_map(struct npu_as *as, uint64_t va, const void *host, uint64_t npages,
	       uint64_t perm)
{
	uintptr_t page = (uintptr_t)host;

	if ((va | page) & (NPU_PAGE_SIZE - 1) || (perm & ~(NPU_PTE_READ | NPU_PTE_WRITE)) ||
	    npages > (1ull << NPU_VA_BITS) >> NPU_PAGE_SHIFT ||
	    va + (npages << NPU_PAGE_SHIFT) > 1ull << NPU_VA_BITS)
		return -1;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t *e = leaf(as, va + (i << NPU_PAGE_SHIFT));
		uint64_t v = perm ? (page + (i << NPU_PAGE_SHIFT)) | perm | NPU_PTE_VALID : 0;

		if (!e)
			return -1;
		/* an entry the device may be reading is only ever rewritten with its own value */
		if (__atomic_load_n(e, __ATOMIC_RELAXED) != v)
			__atomic_store_n(e, v, __ATOMIC_RELEASE);
	}
	return 0;
}

int npu_as_map_identity(struct npu_as *as, const void *ptr, uint64_t size)
{
	uintptr_t start = (uintptr_t)ptr & ~(uintptr_t)(NPU_PAGE_SIZE - 1);
	uintptr_t end = ((uintptr_t)ptr + size + NPU_PAGE_SIZE - 1) & ~(uintptr_t)(NPU_PAGE_SIZE - 1);
	uint32_t slot = (uint32_t)((start >> NPU_PAGE_SHIFT) * 2654435761u) % NPU_AS_SEEN;

	if (!ptr || !size)
		return 0;
	if (as->seen[slot].start <= start && end <= as->seen[slot].end)
		return 0; /* mapped by an earlier job: entries are never taken back */
	if (npu_as_map(as, start, (const void *)start, (end - start) >> NPU_PAGE_SHIFT,
		       NPU_PTE_READ | NPU_PTE_WRITE))
		return -1;
	as->seen[slot].start = start;
	as->seen[slot].end = end;
	return 0;
}
