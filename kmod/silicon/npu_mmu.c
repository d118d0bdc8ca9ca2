// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * npu_mmu.c - the device MMU's walker and TLB (see npu_mmu.h for the table format).
 *
 * Kernel C subset, as the engine. Runs on the device's context with the device lock
 * released; the tables it walks are the driver's, which changes them only for idle slots.
 */
#include "npu_mmu.h"

void npu_mmu_init(struct npu_mmu *m, const struct npu_platform_ops *ops, void *host)
{
	m->ops = ops;
	m->host = host;
	m->root = 0;
	m->as = 0;
	m->fault_addr = 0;
	m->fault_status = 0;
	npu_mmu_flush(m);
}

void npu_mmu_flush(struct npu_mmu *m)
{
	u32 i;

	for (i = 0; i < NPU_TLB_ENTRIES; i++)
		m->tlb[i].vpn1 = 0;
	for (i = 0; i < NPU_MMU_LANES; i++) {
		m->lane[i].len = 0;
		m->lane[i].pending = 0;
	}
}

void npu_mmu_bind(struct npu_mmu *m, u64 root, u32 as)
{
	npu_mmu_flush(m);
	m->root = root;
	m->as = as;
	m->fault_addr = 0;
	m->fault_status = 0;
}

/* Records the job's first fault; returns NULL for the caller to pass on. */
static u8 *fault(struct npu_mmu *m, u64 va, u32 type, u64 perm)
{
	if (m->fault_status)
		return NULL;
	m->fault_status = NPU_FAULT_VALID | type | m->as << NPU_FAULT_AS_SHIFT |
			  (perm & NPU_PTE_WRITE ? NPU_FAULT_ACCESS_WRITE : NPU_FAULT_ACCESS_READ);
	m->fault_addr = va;
	return NULL;
}

/* The entry of va in the table at phys address table; 0 (invalid) if the host has no such. */
static u64 load_entry(struct npu_mmu *m, u64 table, u64 va, u32 level)
{
	const volatile u64 *t = m->ops->phys_to_ptr(m->host, table);

	return t ? t[npu_pt_index(va, level)] : 0;
}

/* Walks the tables for va; the leaf entry, or 0 if some level has none. */
static u64 walk(struct npu_mmu *m, u64 va)
{
	u64 table = m->root, e = 0;
	u32 level;

	m->walks++;
	if (!table)
		return 0;
	for (level = 0; level < NPU_PT_LEVELS; level++) {
		e = load_entry(m, table, va, level);
		if (!(e & NPU_PTE_VALID))
			return 0;
		/* a table entry must say so above the leaves, and only there */
		if (!(e & NPU_PTE_TABLE) != (level == NPU_PT_LEVELS - 1))
			return 0;
		table = e & NPU_PTE_ADDR_MASK;
	}
	return e;
}

/*
 * The host pointer of va for an access needing perm (NPU_PTE_READ or NPU_PTE_WRITE); NULL
 * and a recorded fault if the address is not mapped so.
 */
static u8 *translate(struct npu_mmu *m, u64 va, u64 perm)
{
	u64 vpn = va >> NPU_PAGE_SHIFT, e;
	struct npu_tlb_entry *t = &m->tlb[vpn % NPU_TLB_ENTRIES];

	if (va >> NPU_VA_BITS)
		return fault(m, va, NPU_FAULT_ADDR_SIZE, perm);
	if (t->vpn1 != vpn + 1) {
		e = walk(m, va);
		if (!e)
			return fault(m, va, NPU_FAULT_TRANSLATION, perm);
		t->page = m->ops->phys_to_ptr(m->host, e & NPU_PTE_ADDR_MASK);
		if (!t->page)
			return fault(m, va, NPU_FAULT_TRANSLATION, perm);
		t->vpn1 = vpn + 1;
		t->perm = e & (NPU_PTE_READ | NPU_PTE_WRITE);
	} else {
		m->hits++;
	}
	if (!(t->perm & perm))
		return fault(m, va, NPU_FAULT_PERMISSION, perm);
	return t->page + (va & (NPU_PAGE_SIZE - 1));
}

/*
 * Translates every page of [va, va + len) for perm, and records where each piece of the span
 * is in host memory in l->piece (when the span fits a lane). Returns the pointer of va, with
 * *contig set if the span is contiguous in host memory; NULL on a fault.
 */
static u8 *translate_span(struct npu_mmu *m, struct npu_mmu_lane *l, u64 va, u64 len, u64 perm,
			  int *contig)
{
	u8 *first, *p;
	u64 done;
	u32 k = 1;

	if (va + len < va)
		return fault(m, va, NPU_FAULT_ADDR_SIZE, perm);
	first = translate(m, va, perm);
	l->piece[0] = first;
	*contig = 1;
	for (done = npu_mmu_page_left(va); first && done < len; done += NPU_PAGE_SIZE) {
		p = translate(m, va + done, perm);
		if (!p)
			return NULL;
		if (p != first + done)
			*contig = 0;
		if (k < NPU_MMU_SPAN_PAGES)
			l->piece[k++] = p;
	}
	return first;
}

/* Copies between a staging lane and the pieces of its span (translated and checked). */
static void copy_span(struct npu_mmu_lane *l, int to_pages)
{
	u64 done = 0, n;
	u32 k;

	for (k = 0; done < l->len; k++) {
		n = npu_mmu_page_left(l->va + done);
		if (n > l->len - done)
			n = l->len - done;
		if (to_pages)
			memcpy(l->piece[k], l->buf + done, n);
		else
			memcpy(l->buf + done, l->piece[k], n);
		done += n;
	}
}

const u8 *npu_mmu_read(struct npu_mmu *m, u32 lane, u64 va, u64 len)
{
	struct npu_mmu_lane *l = &m->lane[lane];
	int contig;
	u8 *p;

	/* the same staged row again within one command: checked then, and its data unchanged */
	if (l->len == len && l->va == va && l->gen == m->gen)
		return l->buf;
	p = translate_span(m, l, va, len, NPU_PTE_READ, &contig);
	if (!p || contig)
		return p;
	if (len > NPU_MMU_STAGE_BYTES)
		return fault(m, va, NPU_FAULT_ADDR_SIZE, NPU_PTE_READ);
	l->va = va;
	l->len = len;
	l->gen = m->gen;
	copy_span(l, 0);
	return l->buf;
}

u8 *npu_mmu_write_begin(struct npu_mmu *m, u32 lane, u64 va, u64 len)
{
	struct npu_mmu_lane *l = &m->lane[lane];
	int contig;
	u8 *p = translate_span(m, l, va, len, NPU_PTE_WRITE, &contig);

	l->pending = 0;
	if (!p || contig)
		return p;
	if (len > NPU_MMU_STAGE_BYTES)
		return fault(m, va, NPU_FAULT_ADDR_SIZE, NPU_PTE_WRITE);
	l->va = va;
	l->len = len;
	l->gen = 0; /* never reused as a read */
	l->pending = 1;
	return l->buf;
}

void npu_mmu_write_end(struct npu_mmu *m, u32 lane)
{
	struct npu_mmu_lane *l = &m->lane[lane];

	if (!l->pending)
		return;
	l->pending = 0;
	copy_span(l, 1);
	l->len = 0;
}
