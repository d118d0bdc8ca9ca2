// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_fdinfo.c - DRM usage statistics in /proc/<pid>/fdinfo/<fd>, following
 * Documentation/gpu/drm-usage-stats.rst:
 *
 *   drm-driver:          edge_npu
 *   drm-client-id:       unique per open file of the driver
 *   drm-engine-npu:      ns the engines spent running this file's jobs (wall time), summed
 *                        over the device's engines
 *   drm-engine-capacity-npu: the engines of the device, so that a reader divides by it (the
 *                        sum grows up to this many ns per ns of wall time)
 *   drm-cycles-npu:      modeled NPU cycles of this file's jobs
 *   drm-maxfreq-npu:     the highest operating point, MHz
 *   drm-total-memory:    KiB of the BOs this file has handles to
 *   drm-resident-memory: KiB of those whose pages are allocated: the whole BO once it has
 *                        its page array (mapped by the CPU, exported, imported), else the
 *                        pages the device MMU pinned (VM_BIND, the pages jobs use)
 *
 * Kernels with drm_show_fdinfo() (6.5 on) print drm-driver and drm-client-id themselves and
 * call drm_driver.show_fdinfo for the rest; on 6.1 the driver's file_operations.show_fdinfo
 * prints all of it in the same format. Either way, the keys after drm-client-id come from
 * enpu_fdinfo_keys(), so both kernels show the same lines.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/seq_file.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_print.h>

#include "edge_npu_drv.h"

static void enpu_fdinfo_memory(struct drm_printer *p, struct drm_file *file)
{
	struct drm_gem_object *obj;
	u64 total = 0, resident = 0;
	int id;

	spin_lock(&file->table_lock);
	idr_for_each_entry(&file->object_idr, obj, id) {
		struct drm_gem_shmem_object *shmem = to_drm_gem_shmem_obj(obj);

		total += obj->size;
		if (obj->import_attach || READ_ONCE(shmem->pages))
			resident += obj->size;
		else /* pinned page by page through the device MMU: those pages */
			resident += min_t(u64, obj->size,
					  (u64)atomic_read(&to_enpu_bo(obj)->mmu_pages) << PAGE_SHIFT);
	}
	spin_unlock(&file->table_lock);
	drm_printf(p, "drm-total-memory:\t%llu KiB\n", total >> 10);
	drm_printf(p, "drm-resident-memory:\t%llu KiB\n", resident >> 10);
}

void enpu_fdinfo_keys(struct drm_printer *p, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;

	drm_printf(p, "drm-engine-npu:\t%llu ns\n", (u64)atomic64_read(&efile->engine_ns));
	drm_printf(p, "drm-engine-capacity-npu:\t%u\n", efile->edev->num_engines);
	drm_printf(p, "drm-cycles-npu:\t%llu\n", (u64)atomic64_read(&efile->cycles));
	drm_printf(p, "drm-maxfreq-npu:\t%u MHz\n", npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz);
	enpu_fdinfo_memory(p, file);
}

#ifndef ENPU_DRM_SHOW_FDINFO
void enpu_show_fdinfo(struct seq_file *m, struct file *f)
{
	struct drm_file *file = f->private_data;
	struct enpu_file *efile = file->driver_priv;
	struct drm_printer p = drm_seq_file_printer(m);

	drm_printf(&p, "drm-driver:\t%s\n", ENPU_DRIVER_NAME);
	drm_printf(&p, "drm-client-id:\t%llu\n", efile->client_id);
	enpu_fdinfo_keys(&p, file);
}
#endif
