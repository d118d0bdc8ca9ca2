// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_vm.c - each context's device address space: the page tables the device's MMU walks
 * (format: silicon/npu_mmu.h), the ranges mapped in it, VM_BIND, and the BO pages pinned for
 * them.
 *
 * The space is 48 bits. The user half (below 2^47) holds what VM_BIND maps where its caller
 * says; the driver's half holds the BOs of jobs that name BOs by handle (the interface before
 * VM_BIND): SUBMIT reserves the range of the whole BO there, and, once the validator has said
 * which bytes of each buffer the stream touches, pins and maps only those pages; the mapping
 * goes when the job is freed. A drm_mm keeps the ranges (overlaps are refused by it); a mapping
 * pins exactly the BO pages it maps (shmem pages looked up one by one: a window of a huge BO
 * pins the window), writes one leaf entry per page, and holds a reference to the BO. Nothing
 * is ever vmapped: the device reaches the pages through its own tables, by physical address.
 *
 * Tables are pages of the kernel, allocated as a range first needs them (charged to the
 * caller's memory cgroup) and freed with the space. The device may walk them while they
 * change: a new table is zeroed before the entry that links it is written, entries are single
 * 64-bit stores, and a leaf is cleared before its page is unpinned. Pages stay pinned while a
 * job of the context may run: UNMAP waits for the context's last job first (the device empties
 * its TLB at every job start, so a later job cannot see a stale translation).
 *
 * Locking: &enpu_vm.lock guards the tables, the drm_mm and &enpu_vm.last. Taken inside
 * &enpu_device.sched_lock by SUBMIT's push; never held while waiting for a fence.
 */
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <drm/drm_gem.h>

#include "edge_npu_drv.h"

#define ENPU_VA_KERNEL_START	DRM_EDGE_NPU_VA_USER_END
#define ENPU_VA_END		(1ull << NPU_VA_BITS)

/* The device page is the kernel's: a leaf entry per struct page. */
static_assert(PAGE_SIZE == NPU_PAGE_SIZE);

/**
 * struct enpu_mapping - a range of a context's address space backed by BO pages.
 * @node: the range in &enpu_vm.mm.
 * @obj: the BO (a reference).
 * @keeper: for a VM_BIND mapping, the file it keeps @obj alive for (enpu_file_keep()), else
 *	NULL (a job's range: the job holds its BOs).
 * @perm: %NPU_PTE_READ and/or %NPU_PTE_WRITE.
 * @bo_offset: byte of @obj at @node.start.
 * @first: the first page of the range that is mapped.
 * @npages: pages mapped from @first on (all of the range, but for a job's BO: what it uses).
 * @pages: those pages, pinned (a reference each).
 */
struct enpu_mapping {
	struct drm_mm_node node;
	struct drm_gem_object *obj;
	struct enpu_file *keeper;
	u64 perm;
	u64 bo_offset;
	unsigned long first;
	unsigned long npages;
	struct page **pages;
};

/* Device address of page i of the mapped pages. */
static u64 enpu_mapping_va(const struct enpu_mapping *m, unsigned long i)
{
	return m->node.start + ((u64)(m->first + i) << PAGE_SHIFT);
}

/* ---- BO pages ------------------------------------------------------------------------------ */

/*
 * Drops the references of n pages. Pages the device may have written (dirty) are marked so
 * first, as drm_gem_put_pages(..., dirty) does: the device writes them by physical address,
 * which the page cache never sees, and a clean shmem page may be dropped or swapped out
 * without its new contents.
 */
static void enpu_put_pages(struct page **pages, unsigned long n, bool dirty)
{
	while (n) {
		struct page *p = pages[--n];

		if (dirty) {
			set_page_dirty_lock(p);
			mark_page_accessed(p);
		}
		put_page(p);
	}
}

/*
 * Takes a reference on n pages of obj from page first: shmem pages (read in as needed). An
 * import is of a BO of another edge_npu device (enpu_gem_prime_import_sg_table() refuses
 * every other exporter): its pages are those of the exporter's shmem object, which the
 * dma-buf the import holds keeps alive. The importer's sg table is not walked for pages: an
 * importer may use only its DMA addresses.
 */
static int enpu_bo_get_pages(struct drm_gem_object *obj, pgoff_t first, unsigned long n,
			     struct page **pages)
{
	unsigned long i;

	if (obj->import_attach)
		obj = obj->import_attach->dmabuf->priv;
	for (i = 0; i < n; i++) {
		struct page *p = shmem_read_mapping_page(obj->filp->f_mapping, first + i);

		if (IS_ERR(p)) {
			enpu_put_pages(pages, i, false);
			return PTR_ERR(p);
		}
		pages[i] = p;
	}
	return 0;
}

/**
 * enpu_bo_read() - copies bytes out of a BO, a page at a time (nothing vmapped).
 * @obj: the BO.
 * @offset: first byte; @offset + @len must lie inside the BO.
 * @dst: where to.
 * @len: bytes.
 *
 * Return: 0, or a negative errno.
 */
int enpu_bo_read(struct drm_gem_object *obj, u64 offset, void *dst, size_t len)
{
	while (len) {
		size_t in = offset_in_page(offset), n = min_t(size_t, len, PAGE_SIZE - in);
		struct page *p;
		void *src;
		int ret = enpu_bo_get_pages(obj, offset >> PAGE_SHIFT, 1, &p);

		if (ret)
			return ret;
		src = kmap_local_page(p);
		memcpy(dst, src + in, n);
		kunmap_local(src);
		put_page(p);
		dst += n;
		offset += n;
		len -= n;
	}
	return 0;
}

/* ---- page tables ------------------------------------------------------------------------- */

/* The leaf entry of va, with the tables above it created if alloc; NULL if none (or no memory). */
static u64 *enpu_vm_pte(struct enpu_vm *vm, u64 va, bool alloc)
{
	u64 *t = page_address(vm->root);
	u32 level;

	for (level = 0; level < NPU_PT_LEVELS - 1; level++) {
		u64 *e = &t[npu_pt_index(va, level)];
		u64 v = READ_ONCE(*e);

		if (!(v & NPU_PTE_VALID)) {
			struct page *p;

			if (!alloc)
				return NULL;
			p = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
			if (!p)
				return NULL;
			list_add(&p->lru, &vm->tables);
			v = page_to_phys(p) | NPU_PTE_VALID | NPU_PTE_TABLE;
			smp_wmb(); /* the zeroed table before the link the device may follow */
			WRITE_ONCE(*e, v);
		}
		t = phys_to_virt(v & NPU_PTE_ADDR_MASK);
	}
	return &t[npu_pt_index(va, NPU_PT_LEVELS - 1)];
}

/* Clears the leaf entries of the first n mapped pages of m. */
static void enpu_vm_clear(struct enpu_vm *vm, struct enpu_mapping *m, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		u64 *pte = enpu_vm_pte(vm, enpu_mapping_va(m, i), false);

		if (pte)
			WRITE_ONCE(*pte, 0);
	}
}

/* Writes the leaf entries of m; all or none. */
static int enpu_vm_fill(struct enpu_vm *vm, struct enpu_mapping *m)
{
	unsigned long i;

	for (i = 0; i < m->npages; i++) {
		u64 *pte = enpu_vm_pte(vm, enpu_mapping_va(m, i), true);

		if (!pte) {
			enpu_vm_clear(vm, m, i);
			return -ENOMEM;
		}
		WRITE_ONCE(*pte, page_to_phys(m->pages[i]) | m->perm | NPU_PTE_VALID);
	}
	return 0;
}

/* ---- the space ------------------------------------------------------------------------------ */

/**
 * enpu_vm_create() - an empty address space (a root table that maps nothing).
 * @edev: the device.
 * @out: the space.
 *
 * Return: 0, or -ENOMEM.
 */
int enpu_vm_create(struct enpu_device *edev, struct enpu_vm **out)
{
	struct enpu_vm *vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);

	if (!vm)
		return -ENOMEM;
	vm->root = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!vm->root) {
		kfree(vm);
		return -ENOMEM;
	}
	vm->edev = edev;
	vm->id = atomic64_inc_return(&edev->next_vm_id);
	mutex_init(&vm->lock);
	INIT_LIST_HEAD(&vm->tables);
	/* page 0 never maps: a buffer at device address 0 means "no memory" to the engine */
	drm_mm_init(&vm->mm, NPU_PAGE_SIZE, ENPU_VA_END - NPU_PAGE_SIZE);
	*out = vm;
	return 0;
}

/* A mapping of obj from bo_offset, in no space yet, with no pages. */
static struct enpu_mapping *enpu_mapping_new(struct drm_gem_object *obj, u64 bo_offset,
					     u64 perm)
{
	struct enpu_mapping *m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);

	if (!m)
		return NULL;
	drm_gem_object_get(obj);
	m->obj = obj;
	m->bo_offset = bo_offset;
	m->perm = perm;
	return m;
}

/* Pins pages [first, first + n) of m's range, which has none yet; m is not yet mapped. */
static int enpu_mapping_pin(struct enpu_vm *vm, struct enpu_mapping *m, unsigned long first,
			    unsigned long n)
{
	struct page **pages = kvmalloc_array(n ? n : 1, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	int ret;

	if (!pages)
		return -ENOMEM;
	ret = enpu_bo_get_pages(m->obj, (m->bo_offset >> PAGE_SHIFT) + first, n, pages);
	if (ret) {
		kvfree(pages);
		return ret;
	}
	m->pages = pages;
	m->first = first;
	m->npages = n;
	atomic64_add(n, &vm->edev->pinned_pages);
	atomic_add(n, &to_enpu_bo(m->obj)->mmu_pages);
	return 0;
}

/* Unpins m's pages (none of them mapped); the device may have written those it could. */
static void enpu_mapping_unpin(struct enpu_vm *vm, struct enpu_mapping *m)
{
	enpu_put_pages(m->pages, m->npages, m->perm & NPU_PTE_WRITE);
	atomic64_sub(m->npages, &vm->edev->pinned_pages);
	atomic_sub(m->npages, &to_enpu_bo(m->obj)->mmu_pages);
	kvfree(m->pages);
	m->pages = NULL;
	m->npages = 0;
}

/* Unpins m's pages and frees it (out of the space, or never in it). */
static void enpu_mapping_free(struct enpu_vm *vm, struct enpu_mapping *m)
{
	enpu_mapping_unpin(vm, m);
	if (m->keeper)
		enpu_file_unkeep(m->keeper, m->obj);
	drm_gem_object_put(m->obj);
	kfree(m);
}

/* Takes m out of the space and frees it; vm->lock held, no job running that may use it. */
static void enpu_vm_remove(struct enpu_vm *vm, struct enpu_mapping *m)
{
	enpu_vm_clear(vm, m, m->npages);
	drm_mm_remove_node(&m->node);
	enpu_mapping_free(vm, m);
}

/**
 * enpu_vm_destroy() - unmaps everything and frees the space; no job of it may run.
 * @vm: the space (NULL is fine).
 */
void enpu_vm_destroy(struct enpu_vm *vm)
{
	struct drm_mm_node *node, *next;
	struct page *p, *tmp;

	if (!vm)
		return;
	mutex_lock(&vm->lock);
	drm_mm_for_each_node_safe(node, next, &vm->mm)
		enpu_vm_remove(vm, container_of(node, struct enpu_mapping, node));
	mutex_unlock(&vm->lock);
	drm_mm_takedown(&vm->mm);
	list_for_each_entry_safe(p, tmp, &vm->tables, lru)
		__free_page(p);
	__free_page(vm->root);
	if (vm->last)
		dma_fence_put(vm->last);
	mutex_destroy(&vm->lock);
	kfree(vm);
}

/**
 * enpu_vm_unmap_user() - unmaps what VM_BIND mapped, once the context's last job has ended
 *	(CTX_DESTROY, after the entity is gone: no job is queued any more, and those on the
 *	engines end within the job timeout). The BOs go then, not when the last job is freed.
 * @vm: the space.
 */
void enpu_vm_unmap_user(struct enpu_vm *vm)
{
	struct drm_mm_node *node, *next;
	struct dma_fence *last;

	mutex_lock(&vm->lock);
	last = vm->last ? dma_fence_get(vm->last) : NULL;
	mutex_unlock(&vm->lock);
	if (last) {
		dma_fence_wait(last, false);
		dma_fence_put(last);
	}
	mutex_lock(&vm->lock);
	drm_mm_for_each_node_safe(node, next, &vm->mm)
		if (node->start < DRM_EDGE_NPU_VA_USER_END)
			enpu_vm_remove(vm, container_of(node, struct enpu_mapping, node));
	mutex_unlock(&vm->lock);
}

/**
 * enpu_vm_root() - the physical address of the space's root table, for AS_n_TRANSTAB.
 * @vm: the space.
 *
 * Return: the address.
 */
u64 enpu_vm_root(const struct enpu_vm *vm)
{
	return page_to_phys(vm->root);
}

/*
 * Puts m at [va, va + size) of the space, or anywhere in the driver's half for va 0, and maps
 * the pages it has pinned; vm->lock held. A mapping is complete when others can see it.
 */
static int enpu_vm_place(struct enpu_vm *vm, struct enpu_mapping *m, u64 va, u64 size)
{
	int ret;

	if (va) {
		m->node.start = va;
		m->node.size = size;
		ret = drm_mm_reserve_node(&vm->mm, &m->node);
		if (ret == -ENOSPC)
			ret = -EEXIST;
	} else {
		ret = drm_mm_insert_node_in_range(&vm->mm, &m->node, size, NPU_PAGE_SIZE, 0,
						  ENPU_VA_KERNEL_START, ENPU_VA_END,
						  DRM_MM_INSERT_BEST);
	}
	if (!ret && m->npages) {
		ret = enpu_vm_fill(vm, m);
		if (ret)
			drm_mm_remove_node(&m->node);
	}
	return ret;
}

/**
 * enpu_vm_reserve() - reserves the range of a whole BO in the driver's half, mapping none of
 *	its pages yet (enpu_vm_populate() maps what a job uses).
 * @vm: the space.
 * @obj: the BO (the mapping takes its own reference).
 * @perm: %NPU_PTE_READ and/or %NPU_PTE_WRITE.
 * @out: the mapping.
 *
 * Return: 0, -ENOSPC if the driver's half is full, -ENOMEM.
 */
int enpu_vm_reserve(struct enpu_vm *vm, struct drm_gem_object *obj, u64 perm,
		    struct enpu_mapping **out)
{
	struct enpu_mapping *m = enpu_mapping_new(obj, 0, perm);
	int ret;

	if (!m)
		return -ENOMEM;
	mutex_lock(&vm->lock);
	ret = enpu_vm_place(vm, m, 0, obj->size);
	mutex_unlock(&vm->lock);
	if (ret) {
		enpu_mapping_free(vm, m);
		return ret;
	}
	*out = m;
	return 0;
}

/**
 * enpu_vm_populate() - pins and maps pages [@first, @first + @n) of a reserved range
 *	(enpu_vm_reserve(), no page mapped yet; its job's alone: UNMAP cannot reach the
 *	driver's half).
 * @vm: the space.
 * @m: the mapping.
 * @first: first page, from the range's start.
 * @n: pages, inside the range.
 *
 * Return: 0, or a negative errno (nothing mapped).
 */
int enpu_vm_populate(struct enpu_vm *vm, struct enpu_mapping *m, unsigned long first,
		     unsigned long n)
{
	int ret = enpu_mapping_pin(vm, m, first, n);

	if (ret)
		return ret;
	mutex_lock(&vm->lock);
	ret = enpu_vm_fill(vm, m);
	mutex_unlock(&vm->lock);
	if (ret)
		enpu_mapping_unpin(vm, m);
	return ret;
}

/*
 * VM_BIND's MAP for efile's context: pins [bo_offset, bo_offset + size) of the BO, then places
 * and maps it at va in one hold of the lock; the mapping keeps the BO alive for efile. Returns
 * 0, -EEXIST if the range overlaps a mapping, -ENOSPC past efile's limits, -ENOMEM.
 */
static int enpu_vm_map(struct enpu_vm *vm, struct enpu_file *efile, struct drm_gem_object *obj,
		       u64 bo_offset, u64 va, u64 size, u64 perm)
{
	struct enpu_mapping *m = enpu_mapping_new(obj, bo_offset, perm);
	int ret;

	if (!m)
		return -ENOMEM;
	ret = enpu_file_keep(efile, obj);
	if (ret) {
		enpu_mapping_free(vm, m);
		return ret;
	}
	m->keeper = efile;
	ret = enpu_mapping_pin(vm, m, 0, size >> PAGE_SHIFT);
	if (!ret) {
		mutex_lock(&vm->lock);
		ret = enpu_vm_place(vm, m, va, size);
		mutex_unlock(&vm->lock);
	}
	if (ret)
		enpu_mapping_free(vm, m);
	return ret;
}

/**
 * enpu_vm_unmap() - unmaps a mapping of the driver's half (a job's, once it ended).
 * @vm: the space.
 * @m: the mapping of enpu_vm_map().
 */
void enpu_vm_unmap(struct enpu_vm *vm, struct enpu_mapping *m)
{
	mutex_lock(&vm->lock);
	enpu_vm_remove(vm, m);
	mutex_unlock(&vm->lock);
}

/**
 * enpu_vm_mapping_addr() - where a mapping starts.
 * @m: the mapping.
 *
 * Return: its device address.
 */
u64 enpu_vm_mapping_addr(const struct enpu_mapping *m)
{
	return m->node.start;
}

/**
 * enpu_vm_set_last() - records the context's newest job, which UNMAP waits for.
 * @vm: the space.
 * @fence: the job's finished fence (the space takes a reference).
 *
 * Return: the job before it (its finished fence, the reference passed to the caller), or NULL.
 */
struct dma_fence *enpu_vm_set_last(struct enpu_vm *vm, struct dma_fence *fence)
{
	struct dma_fence *prev;

	mutex_lock(&vm->lock);
	prev = vm->last;
	vm->last = dma_fence_get(fence);
	mutex_unlock(&vm->lock);
	return prev;
}

/**
 * enpu_vm_range_id() - the SRAM-residency identity of a job buffer at [@addr, @addr + @size).
 * @vm: the space.
 * @addr: device address.
 * @size: bytes.
 *
 * A range inside one mapping is the storage of its BO from the BO offset of @addr: the same
 * weights mapped twice, or by two contexts, are the same residency (their contents are the
 * same bytes). Anything else is never resident.
 *
 * Return: the id, or 0.
 */
u64 enpu_vm_range_id(struct enpu_vm *vm, u64 addr, u64 size)
{
	struct drm_mm_node *node;
	u64 id = 0;

	mutex_lock(&vm->lock);
	drm_mm_for_each_node_in_range(node, &vm->mm, addr, addr + 1) {
		struct enpu_mapping *m = container_of(node, struct enpu_mapping, node);

		if (addr + size <= node->start + node->size)
			id = to_enpu_bo(m->obj)->id << 32 | (m->bo_offset + addr - node->start);
	}
	mutex_unlock(&vm->lock);
	return id;
}

/* ---- VM_BIND ---------------------------------------------------------------------------------- */

/*
 * The user mapping that starts at addr, once no job of the context may use it (waits, without
 * the lock, for the newest job until no newer one appeared); returned with vm->lock held.
 */
static int enpu_vm_find_idle(struct enpu_vm *vm, u64 addr, u64 size, struct enpu_mapping **out)
{
	struct drm_mm_node *node;
	struct dma_fence *last;
	int ret;

	for (;;) {
		mutex_lock(&vm->lock);
		*out = NULL;
		drm_mm_for_each_node_in_range(node, &vm->mm, addr, addr + 1)
			if (node->start == addr)
				*out = container_of(node, struct enpu_mapping, node);
		ret = !*out ? -ENOENT : (*out)->node.size != size ? -EINVAL : 0;
		last = vm->last;
		if (ret || !last || dma_fence_is_signaled(last))
			break;
		dma_fence_get(last);
		mutex_unlock(&vm->lock);
		ret = dma_fence_wait(last, true);
		dma_fence_put(last);
		if (ret)
			return ret;
	}
	if (ret)
		mutex_unlock(&vm->lock);
	return ret;
}

static int enpu_vm_bind_check(const struct drm_edge_npu_vm_bind *args)
{
	u64 end;

	if (args->reserved || !args->size || (args->addr | args->size) & ~PAGE_MASK ||
	    args->addr < DRM_EDGE_NPU_VA_USER_START ||
	    check_add_overflow(args->addr, args->size, &end) || end > DRM_EDGE_NPU_VA_USER_END)
		return -EINVAL;
	if (args->op == DRM_EDGE_NPU_VM_UNMAP)
		return args->handle || args->flags || args->bo_offset ? -EINVAL : 0;
	if (args->op != DRM_EDGE_NPU_VM_MAP || args->bo_offset & ~PAGE_MASK || !args->flags ||
	    args->flags & ~(DRM_EDGE_NPU_BO_READ | DRM_EDGE_NPU_BO_WRITE))
		return -EINVAL;
	return 0;
}

static int enpu_vm_bind_map(struct enpu_vm *vm, struct drm_file *file,
			    const struct drm_edge_npu_vm_bind *args)
{
	struct drm_gem_object *obj = drm_gem_object_lookup(file, args->handle);
	u64 perm = (args->flags & DRM_EDGE_NPU_BO_READ ? NPU_PTE_READ : 0) |
		   (args->flags & DRM_EDGE_NPU_BO_WRITE ? NPU_PTE_WRITE : 0);
	int ret = -EINVAL;

	if (!obj)
		return -ENOENT;
	if (args->bo_offset <= obj->size && args->size <= obj->size - args->bo_offset)
		ret = enpu_vm_map(vm, file->driver_priv, obj, args->bo_offset, args->addr,
				  args->size, perm);
	drm_gem_object_put(obj);
	return ret;
}

int enpu_ioctl_vm_bind(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_edge_npu_vm_bind *args = data;
	struct enpu_mapping *m;
	struct enpu_ctx *ctx;
	int ret = enpu_vm_bind_check(args);

	if (ret)
		return ret;
	ctx = enpu_ctx_lookup(file->driver_priv, args->ctx);
	if (!ctx)
		return -ENOENT;
	if (args->op == DRM_EDGE_NPU_VM_MAP) {
		ret = enpu_vm_bind_map(ctx->vm, file, args);
	} else {
		ret = enpu_vm_find_idle(ctx->vm, args->addr, args->size, &m);
		if (!ret) {
			enpu_vm_remove(ctx->vm, m);
			mutex_unlock(&ctx->vm->lock);
		}
	}
	enpu_ctx_put(ctx);
	return ret;
}
