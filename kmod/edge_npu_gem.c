// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_gem.c - buffer objects: GEM shmem, created or imported through PRIME, counted.
 *
 * Every object of the device is a &struct enpu_bo (the driver's gem_create_object), so that
 * each carries a never-reused id for the engine's SRAM residency and is counted in
 * enpu_device.bo_count from its creation to its free: a leak shows at module removal.
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/slab.h>
#include <drm/drm_gem.h>
#include <drm/drm_prime.h>
#include <drm/drm_utils.h>

#include "edge_npu_drv.h"

/* kept objects are keyed by id: an unsigned long index holds it (and the device is 64-bit) */
static_assert(sizeof(unsigned long) == sizeof(u64));

static void enpu_gem_free(struct drm_gem_object *obj)
{
	struct enpu_device *edev = to_enpu(obj->dev);
	struct enpu_file *creator = to_enpu_bo(obj)->creator;

	if (creator)
		enpu_file_unkeep(creator, obj);
	atomic64_sub(obj->size, &edev->bo_bytes);
	drm_gem_shmem_free(to_drm_gem_shmem_obj(obj));
	atomic_dec(&edev->bo_count);
	if (creator)
		enpu_file_put(creator);
}

/**
 * enpu_file_keep() - one more reason to charge @obj to @efile: a handle of the file (BO_CREATE,
 *	PRIME import, also of an object another file created), a VM_BIND mapping in one of its
 *	contexts, or its creation by the file (until the object is freed). The first one charges
 *	the object, within the per-file limits.
 * @efile: the file.
 * @obj: the object.
 *
 * What a file can keep alive is what it is charged for, once per object however many handles
 * and mappings it holds. Charging handles alone let a file keep objects, and their mmap
 * offsets, past its limits: map a window of a BO and close its handle, or export it as a
 * dma-buf and close its handle; again and again.
 *
 * Return: 0, -ENOSPC past a limit, -ENOMEM.
 */
int enpu_file_keep(struct enpu_file *efile, struct drm_gem_object *obj)
{
	const unsigned long id = (unsigned long)to_enpu_bo(obj)->id;
	void *n;
	int ret = 0;

	mutex_lock(&efile->keep_lock);
	n = xa_load(&efile->kept, id);
	if (n) /* replaces the entry: allocates nothing, cannot fail */
		xa_store(&efile->kept, id, xa_mk_value(xa_to_value(n) + 1), GFP_KERNEL);
	else if (efile->num_bos >= READ_ONCE(enpu_max_bos_per_file) ||
		 efile->bo_bytes + obj->size > READ_ONCE(enpu_max_bo_bytes_per_file))
		ret = -ENOSPC;
	else
		ret = xa_err(xa_store(&efile->kept, id, xa_mk_value(1), GFP_KERNEL_ACCOUNT));
	if (!n && !ret) {
		efile->num_bos++;
		efile->bo_bytes += obj->size;
	}
	mutex_unlock(&efile->keep_lock);
	return ret;
}

/**
 * enpu_file_unkeep() - undoes one successful enpu_file_keep(); the last one uncharges.
 * @efile: the file.
 * @obj: the object.
 */
void enpu_file_unkeep(struct enpu_file *efile, struct drm_gem_object *obj)
{
	const unsigned long id = (unsigned long)to_enpu_bo(obj)->id;
	unsigned long n;

	mutex_lock(&efile->keep_lock);
	n = xa_to_value(xa_load(&efile->kept, id));
	if (!n) { /* a core that ran .close before .open (drm_gem_handle_create_tail's old race) */
		mutex_unlock(&efile->keep_lock);
		drm_warn_once(&efile->edev->drm, "BO %lu unkept but not kept\n", id);
		return;
	}
	if (n > 1) {
		xa_store(&efile->kept, id, xa_mk_value(n - 1), GFP_KERNEL);
	} else {
		xa_erase(&efile->kept, id);
		efile->num_bos--;
		efile->bo_bytes -= obj->size;
	}
	mutex_unlock(&efile->keep_lock);
}

/* A handle of a file is created: counted, and the file keeps the object (charged if new). */
static int enpu_gem_open(struct drm_gem_object *obj, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;
	int ret = -ENOSPC;

	if (atomic_inc_return(&efile->num_handles) <= READ_ONCE(enpu_max_bos_per_file))
		ret = enpu_file_keep(efile, obj);
	if (ret)
		atomic_dec(&efile->num_handles);
	return ret;
}

/* The handle is gone (GEM_CLOSE or the file's close); called only after a successful open. */
static void enpu_gem_close(struct drm_gem_object *obj, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;

	enpu_file_unkeep(efile, obj);
	atomic_dec(&efile->num_handles);
}

static const struct drm_gem_object_funcs enpu_gem_funcs = {
	.free = enpu_gem_free,
	.open = enpu_gem_open,
	.close = enpu_gem_close,
	.print_info = drm_gem_shmem_object_print_info,
	.pin = drm_gem_shmem_object_pin,
	.unpin = drm_gem_shmem_object_unpin,
	.get_sg_table = drm_gem_shmem_object_get_sg_table,
	.vmap = drm_gem_shmem_object_vmap,
	.vunmap = drm_gem_shmem_object_vunmap,
	.mmap = drm_gem_shmem_object_mmap,
	.vm_ops = &drm_gem_shmem_vm_ops,
};

/*
 * The shmem helpers call this to allocate every object. The count is taken only once the
 * helper succeeded (its error paths kfree() the object without calling .free).
 */
struct drm_gem_object *enpu_gem_create_object(struct drm_device *drm, size_t size)
{
	struct enpu_bo *bo;

	/* charged to the caller's memory cgroup (the pages are, by shmem) */
	bo = kzalloc(sizeof(*bo), GFP_KERNEL_ACCOUNT);
	if (!bo)
		return ERR_PTR(-ENOMEM);
	bo->id = atomic64_inc_return(&to_enpu(drm)->next_bo_id);
	bo->base.base.funcs = &enpu_gem_funcs;
	bo->base.map_wc = false; /* the "device" is the CPU: cached mappings are coherent */
	return &bo->base.base;
}

/*
 * PRIME import of a dma-buf that is not a BO of this device (a BO of this device imports as
 * itself: drm_gem_prime_import() never calls this then). The device reaches memory through
 * struct pages (its page tables hold their physical addresses, SUBMIT copies streams out of
 * them), but the dma-buf contract gives an importer only the DMA addresses of its sg table:
 * an exporter may have no struct pages behind it at all (device memory, carve-outs), or pages
 * it does not expect anyone to pin. So only BOs of another edge_npu device are taken, whose
 * pages are the exporter's shmem pages (enpu_bo_get_pages()); every other exporter is
 * refused. drm_gem_prime_export() makes this driver's dma-bufs: owned by this module (the
 * owner of its fops) with the exporting GEM object as priv.
 */
struct drm_gem_object *enpu_gem_prime_import_sg_table(struct drm_device *drm,
						      struct dma_buf_attachment *attach,
						      struct sg_table *sgt)
{
	struct dma_buf *dmabuf = attach->dmabuf;
	struct drm_gem_object *obj;

	if (dmabuf->owner != THIS_MODULE ||
	    ((struct drm_gem_object *)dmabuf->priv)->funcs != &enpu_gem_funcs) {
		drm_dbg(drm, "import of a dma-buf of %s refused: only edge_npu BOs are imported\n",
			dmabuf->exp_name);
		return ERR_PTR(-EOPNOTSUPP);
	}
	obj = drm_gem_shmem_prime_import_sg_table(drm, attach, sgt);

	if (!IS_ERR(obj)) {
		atomic_inc(&to_enpu(drm)->bo_count);
		atomic64_add(obj->size, &to_enpu(drm)->bo_bytes);
	}
	return obj;
}

int enpu_ioctl_bo_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_edge_npu_bo_create *args = data;
	struct enpu_file *efile = file->driver_priv;
	struct drm_gem_shmem_object *shmem;
	int ret;

	if (args->flags || args->reserved)
		return -EINVAL;
	if (!args->size || args->size > ENPU_MAX_BO_SIZE)
		return -EINVAL;

	shmem = drm_gem_shmem_create(drm, args->size);
	if (IS_ERR(shmem))
		return PTR_ERR(shmem);
	atomic_inc(&to_enpu(drm)->bo_count);
	atomic64_add(shmem->base.size, &to_enpu(drm)->bo_bytes);

	/* charged to its creator until it is freed (enpu_gem_free() undoes this) */
	ret = enpu_file_keep(efile, &shmem->base);
	if (!ret) {
		kref_get(&efile->ref);
		to_enpu_bo(&shmem->base)->creator = efile;
		ret = drm_gem_handle_create(file, &shmem->base, &args->handle);
	}
	/* the handle holds the object now (or, on error, nothing does) */
	drm_gem_object_put(&shmem->base);
	if (ret)
		return ret;
	args->actual_size = shmem->base.size;
	return 0;
}

int enpu_ioctl_bo_mmap_offset(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_edge_npu_bo_mmap_offset *args = data;
	struct drm_gem_object *obj;
	int ret;

	if (args->reserved)
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	ret = drm_gem_create_mmap_offset(obj);
	if (!ret)
		args->offset = drm_vma_node_offset_addr(&obj->vma_node);
	drm_gem_object_put(obj);
	return ret;
}

int enpu_ioctl_bo_wait(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct drm_edge_npu_bo_wait *args = data;
	enum dma_resv_usage usage;
	struct drm_gem_object *obj;
	long ret;

	if (args->flags & ~DRM_EDGE_NPU_BO_WAIT_READ_ONLY)
		return -EINVAL;
	if (args->timeout_ns < 0)
		return -EINVAL;
	/* READ_ONLY: the CPU will only read, so only writers matter */
	usage = args->flags & DRM_EDGE_NPU_BO_WAIT_READ_ONLY ? DMA_RESV_USAGE_WRITE :
							       DMA_RESV_USAGE_READ;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;

	if (!args->timeout_ns) {
		ret = dma_resv_test_signaled(obj->resv, usage) ? 0 : -EBUSY;
	} else {
		ret = dma_resv_wait_timeout(obj->resv, usage, true,
					    drm_timeout_abs_to_jiffies(args->timeout_ns));
		if (ret == 0)
			ret = -ETIME;
		else if (ret > 0)
			ret = 0;
	}
	drm_gem_object_put(obj);
	return ret;
}
