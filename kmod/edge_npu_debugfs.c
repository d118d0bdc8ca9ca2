// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_debugfs.c - engine state for developers, in the device's debugfs directory:
 * /sys/kernel/debug/dri/<minor>/ for 6.1's render node (each minor), and
 * /sys/kernel/debug/accel/<device>/ for an accel device (6.12), where the DRM core calls no
 * driver debugfs_init and the driver fills the device's directory once it is registered.
 *
 *   engines  per engine, from its registers: operating point, status, ring, counters, slices
 *   bos      live buffer objects of the device
 *   live     objects not yet freed: files, contexts, jobs, BOs (all 0 once every client is
 *            gone and its jobs are freed; tests check it, and removal reports it)
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <drm/drm_file.h>

#include "edge_npu_drv.h"

/* One engine, as its registers tell it. */
static void enpu_debugfs_engine(struct seq_file *m, struct enpu_queue *q)
{
	struct enpu_silicon *hw = q->hw;
	u32 opp = enpu_reg_read(hw, NPU_REG_CLOCK);

	seq_printf(m, "engine %u: opp %u (%u MHz), status 0x%x, resets %llu\n", q->index, opp,
		   npu_opp_table[opp].freq_mhz, enpu_reg_read(hw, NPU_REG_STATUS),
		   READ_ONCE(q->resets));
	seq_printf(m, "  ring head %u tail %u, irq status 0x%x mask 0x%x\n",
		   enpu_reg_read(hw, NPU_REG_RING_HEAD), enpu_reg_read(hw, NPU_REG_RING_TAIL),
		   enpu_reg_read(hw, NPU_REG_IRQ_STATUS), enpu_reg_read(hw, NPU_REG_IRQ_MASK));
	seq_printf(m, "  jobs %llu errors %llu\n", enpu_reg_read64(hw, NPU_REG_JOBS_LO),
		   enpu_reg_read64(hw, NPU_REG_ERRORS_LO));
	seq_printf(m, "  busy_cycles %llu energy_pj %llu\n", enpu_reg_read64(hw, NPU_REG_CYCLES_LO),
		   enpu_reg_read64(hw, NPU_REG_ENERGY_LO));
	seq_printf(m, "  slices %llu longest %llu ns\n", enpu_reg_read64(hw, NPU_REG_DBG_SLICES_LO),
		   enpu_reg_read64(hw, NPU_REG_DBG_SLICE_MAX_NS_LO));
	seq_printf(m, "  hw_jobs_in_flight %d\n", enpu_sched_hw_jobs(&q->sched));
}

static int enpu_debugfs_engines_show(struct seq_file *m, void *data)
{
	struct enpu_device *edev = m->private;
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		enpu_debugfs_engine(m, edev->queues[i]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(enpu_debugfs_engines);

static int enpu_debugfs_bos_show(struct seq_file *m, void *data)
{
	struct enpu_device *edev = m->private;

	seq_printf(m, "%d\n", atomic_read(&edev->bo_count));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(enpu_debugfs_bos);

static int enpu_debugfs_live_show(struct seq_file *m, void *data)
{
	struct enpu_device *edev = m->private;

	seq_printf(m, "files %d\nctxs %d\njobs %d\nbos %d\n", atomic_read(&edev->live_files),
		   atomic_read(&edev->live_ctxs), atomic_read(&edev->live_jobs),
		   atomic_read(&edev->bo_count));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(enpu_debugfs_live);

/*
 * The files, in a directory the DRM core removes at unregister (before the release frees
 * the engines the files read).
 */
static void enpu_debugfs_create(struct enpu_device *edev, struct dentry *root)
{
	debugfs_create_file("engines", 0444, root, edev, &enpu_debugfs_engines_fops);
	debugfs_create_file("bos", 0444, root, edev, &enpu_debugfs_bos_fops);
	debugfs_create_file("live", 0444, root, edev, &enpu_debugfs_live_fops);
}

/* drm_driver.debugfs_init: each minor of a render-node device (not called for accel). */
void enpu_debugfs_init(struct drm_minor *minor)
{
	enpu_debugfs_create(to_enpu(minor->dev), minor->debugfs_root);
}

/**
 * enpu_debugfs_register() - the files of an accel device, once it is registered.
 * @edev: the device.
 */
void enpu_debugfs_register(struct enpu_device *edev)
{
#if IS_ENABLED(CONFIG_DRM_ACCEL)
	enpu_debugfs_create(edev, edev->drm.debugfs_root);
#endif
}
