/* SPDX-License-Identifier: MIT */
/*
 * npu_as.h - a device address space built in process memory: the page tables of
 * kmod/silicon/npu_mmu.h, written by the in-process NPU driver (npu_sim.c) as the kernel
 * driver writes them for each context (kmod/edge_npu_vm.c).
 *
 * A "physical" address in process is the host address of a page (hal/npu/npu_platform.c's
 * phys_to_ptr), so a page of this process is mapped by its own address. Tables are 4 KiB
 * pages of this process, allocated as needed and freed with the space.
 *
 * Thread safety: the calls that change the space must be serialised by the caller; the device
 * may walk the tables at the same time (a new table is linked with a release store, after it
 * is zeroed; leaf entries are single 64-bit stores).
 */
#ifndef HAL_NPU_AS_H
#define HAL_NPU_AS_H

#include <stdint.h>

/* How many distinct buffers npu_as_map_identity() remembers as mapped already. */
#define NPU_AS_SEEN 512

/**
 * struct npu_as - an address space.
 * @root: its level-0 table (what AS_n_TRANSTAB takes).
 * @tables: every table page, to free them.
 * @ntables: entries of @tables.
 * @cap: capacity of @tables.
 * @seen: ranges npu_as_map_identity() mapped read-write (a cache: saves a walk per page).
 */
struct npu_as {
	uint64_t *root;
	uint64_t **tables;
	uint32_t ntables;
	uint32_t cap;
	struct {
		uintptr_t start;
		uintptr_t end;
	} seen[NPU_AS_SEEN];
};

/**
 * npu_as_init() - an empty address space (a root table that maps nothing).
 * @as: the space.
 *
 * Return: 0, or -1 out of memory.
 */
int npu_as_init(struct npu_as *as);

/** npu_as_destroy() - frees the tables (the pages they map are the caller's). @as: the space. */
void npu_as_destroy(struct npu_as *as);

/** npu_as_root() - the physical address of the root table, for AS_n_TRANSTAB. @as: the space. */
uint64_t npu_as_root(const struct npu_as *as);

/**
 * npu_as_map() - maps @npages pages of host memory at device address @va.
 * @as: the space.
 * @va: a page-aligned device address below 2^48.
 * @host: the first page (page-aligned).
 * @npages: pages.
 * @perm: %NPU_PTE_READ and/or %NPU_PTE_WRITE (0: unmaps the pages).
 *
 * Return: 0, or -1 (misaligned or out-of-range arguments, out of memory).
 */
int npu_as_map(struct npu_as *as, uint64_t va, const void *host, uint64_t npages,
	       uint64_t perm);

/**
 * npu_as_map_identity() - maps every page of [@ptr, @ptr + @size) at its own address,
 *	read-write, so that the buffer's device address is @ptr.
 * @as: the space.
 * @ptr: the buffer (any alignment; NULL maps nothing).
 * @size: its bytes.
 *
 * Return: 0, or -1 out of memory.
 */
int npu_as_map_identity(struct npu_as *as, const void *ptr, uint64_t size);

#endif
