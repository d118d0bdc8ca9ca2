/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_mmu.h - the device MMU: the page-table format a driver builds for each address space,
 * and the walker through which the engine reaches every byte of a job's data.
 *
 * Page tables (what a driver writes, in memory the device reads by physical address):
 * 48-bit device virtual addresses, 4 KiB pages, four levels of 512 little-endian 64-bit
 * entries (one 4 KiB table each), as x86-64 or Arm's LPAE with a 4 KiB granule. Level 0 is
 * indexed by VA bits 47-39, level 1 by 38-30, level 2 by 29-21, level 3 by 20-12.
 *
 *   bit 0      VALID   the entry is in use; an invalid entry at any level is a fault
 *   bit 1      READ    (level 3) the device may read the page
 *   bit 2      WRITE   (level 3) the device may write the page
 *   bit 3      TABLE   levels 0-2: the entry points at the next table (required there);
 *                      level 3: must be 0
 *   bits 12-51 ADDR    physical address of the next table or of the page
 *   others     0
 *
 * An address space slot (npu_regs.h: AS_n_TRANSTAB) holds the physical address of a level-0
 * table. The MMU keeps a small TLB, emptied when a job starts and by AS_n_COMMAND FLUSH, so a
 * driver that changes a table an idle slot points at needs no flush; one that changes the
 * table of a running job must flush (this driver never does: UNMAP waits for the jobs).
 *
 * "Physical" addresses are the host's to interpret (npu_platform_ops.phys_to_ptr): the
 * kernel's physical addresses of its pages, or in process the host address of a page.
 *
 * Kernel C subset (silicon/README.md); no allocation: the staging buffers live in the MMU.
 */
#ifndef NPU_MMU_H
#define NPU_MMU_H

#include "npu_engine_types.h"
#include "npu_platform.h"

#define NPU_PAGE_SHIFT		12
#define NPU_PAGE_SIZE		(1ull << NPU_PAGE_SHIFT)
#define NPU_VA_BITS		48
#define NPU_PT_LEVELS		4
#define NPU_PT_ENTRIES		512

#define NPU_PTE_VALID		(1ull << 0)
#define NPU_PTE_READ		(1ull << 1)
#define NPU_PTE_WRITE		(1ull << 2)
#define NPU_PTE_TABLE		(1ull << 3)
#define NPU_PTE_ADDR_MASK	0x000ffffffffff000ull

/* Address-space slots of one engine. */
#define NPU_AS_SLOTS		8

/**
 * npu_pt_index() - the entry of @va in a table of level @level (0 = the root).
 * @va: device virtual address.
 * @level: 0..3.
 *
 * Return: 0..511.
 */
static inline u32 npu_pt_index(u64 va, u32 level)
{
	return (u32)(va >> (NPU_PAGE_SHIFT + 9 * (NPU_PT_LEVELS - 1 - level))) &
	       (NPU_PT_ENTRIES - 1);
}

/* Fault status (register MMU_FAULT_STATUS and &npu_job_result.fault_status). */
#define NPU_FAULT_ACCESS_READ	(1u << 0)	/* the access was a read */
#define NPU_FAULT_ACCESS_WRITE	(1u << 1)	/* ... a write */
#define NPU_FAULT_TYPE_SHIFT	4
#define NPU_FAULT_TYPE_MASK	(0xfu << NPU_FAULT_TYPE_SHIFT)
#define NPU_FAULT_TRANSLATION	(1u << NPU_FAULT_TYPE_SHIFT)	/* no valid entry */
#define NPU_FAULT_PERMISSION	(2u << NPU_FAULT_TYPE_SHIFT)	/* page lacks READ/WRITE */
#define NPU_FAULT_ADDR_SIZE	(3u << NPU_FAULT_TYPE_SHIFT)	/* VA beyond 48 bits */
#define NPU_FAULT_AS_SHIFT	8			/* bits 8-11: the slot */
#define NPU_FAULT_VALID		(1u << 31)

/* Entries of the TLB (direct-mapped by page number). */
#define NPU_TLB_ENTRIES		32

/*
 * Staging lanes: an access that spans pages not contiguous in host memory is gathered into
 * (or scattered from) its lane. The longest such access is one matmul row of ENPU_MAX_K int8
 * values in 36-byte blocks.
 */
#define NPU_MMU_LANES		3
#define NPU_MMU_STAGE_BYTES	(ENPU_MAX_K / ENPU_QK * 36)
/* Pages a staged span touches at most. */
#define NPU_MMU_SPAN_PAGES	(NPU_MMU_STAGE_BYTES / NPU_PAGE_SIZE + 2)

/**
 * struct npu_tlb_entry - one cached translation.
 * @vpn1: page number + 1 (0: empty).
 * @page: host pointer of the page.
 * @perm: %NPU_PTE_READ / %NPU_PTE_WRITE of the page.
 */
struct npu_tlb_entry {
	u64 vpn1;
	u8 *page;
	u64 perm;
};

/**
 * struct npu_mmu_lane - a staging buffer.
 * @va: what it holds (read) or will write back (write).
 * @len: bytes.
 * @gen: &npu_mmu.gen when it was read (a read is reused within one command only).
 * @pending: a staged write awaits npu_mmu_write_end().
 * @piece: host address of each page's piece of the span (translated once, copied through).
 * @buf: the bytes.
 */
struct npu_mmu_lane {
	u64 va;
	u64 len;
	u64 gen;
	u32 pending;
	u8 *piece[NPU_MMU_SPAN_PAGES];
	u8 buf[NPU_MMU_STAGE_BYTES];
};

/**
 * struct npu_mmu - the MMU of one engine; plain data inside the device model.
 * @ops: the host's services (phys_to_ptr).
 * @host: their argument.
 * @root: physical address of the level-0 table of the job's address space.
 * @as: the job's slot (for fault reports).
 * @gen: bumped at every command (staged reads do not outlive one).
 * @fault_addr: the address of the first fault of the job.
 * @fault_status: its %NPU_FAULT_* bits; 0: no fault.
 * @walks: table walks (TLB misses) since power-on.
 * @hits: TLB hits since power-on.
 * @tlb: the TLB.
 * @lane: the staging lanes.
 */
struct npu_mmu {
	const struct npu_platform_ops *ops;
	void *host;
	u64 root;
	u32 as;
	u64 gen;
	u64 fault_addr;
	u32 fault_status;
	u64 walks;
	u64 hits;
	struct npu_tlb_entry tlb[NPU_TLB_ENTRIES];
	struct npu_mmu_lane lane[NPU_MMU_LANES];
};

/**
 * npu_mmu_init() - an MMU with no address space and an empty TLB.
 * @m: the MMU.
 * @ops: the host's services (must stay valid).
 * @host: their argument.
 */
void npu_mmu_init(struct npu_mmu *m, const struct npu_platform_ops *ops, void *host);

/**
 * npu_mmu_bind() - selects the address space of the next job: empties the TLB and the
 *	lanes and forgets the last fault.
 * @m: the MMU.
 * @root: physical address of its level-0 table.
 * @as: its slot number.
 */
void npu_mmu_bind(struct npu_mmu *m, u64 root, u32 as);

/** npu_mmu_flush() - empties the TLB (AS_n_COMMAND FLUSH). @m: the MMU. */
void npu_mmu_flush(struct npu_mmu *m);

/** npu_mmu_next_cmd() - a new command starts: staged reads are stale. @m: the MMU. */
static inline void npu_mmu_next_cmd(struct npu_mmu *m)
{
	m->gen++;
}

/**
 * npu_mmu_read() - makes [@va, @va + @len) readable by the engine.
 * @m: the MMU.
 * @lane: the staging lane to use if the span is not contiguous in host memory.
 * @va: device virtual address.
 * @len: bytes, 1..%NPU_MMU_STAGE_BYTES (a longer span must be contiguous).
 *
 * Every page is translated and checked for READ before anything is read.
 *
 * Return: a host pointer to the bytes (valid until the lane is used again), or NULL on a fault
 * (recorded in @m->fault_addr and @m->fault_status).
 */
const u8 *npu_mmu_read(struct npu_mmu *m, u32 lane, u64 va, u64 len);

/**
 * npu_mmu_write_begin() - makes [@va, @va + @len) writable by the engine.
 * @m: the MMU.
 * @lane: the staging lane to use if the span is not contiguous in host memory.
 * @va: device virtual address.
 * @len: bytes, 1..%NPU_MMU_STAGE_BYTES.
 *
 * Every page is translated and checked for WRITE before anything is written; the caller
 * writes all @len bytes and calls npu_mmu_write_end().
 *
 * Return: where to write, or NULL on a fault.
 */
u8 *npu_mmu_write_begin(struct npu_mmu *m, u32 lane, u64 va, u64 len);

/**
 * npu_mmu_write_end() - writes a staged span back to its pages (nothing if it was direct).
 * @m: the MMU.
 * @lane: the lane of npu_mmu_write_begin().
 */
void npu_mmu_write_end(struct npu_mmu *m, u32 lane);

/**
 * npu_mmu_page_left() - bytes from @va to the end of its page.
 * @va: an address.
 *
 * Return: 1..%NPU_PAGE_SIZE.
 */
static inline u64 npu_mmu_page_left(u64 va)
{
	return NPU_PAGE_SIZE - (va & (NPU_PAGE_SIZE - 1));
}

#endif
