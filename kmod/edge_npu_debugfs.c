// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_debugfs.c - /sys/kernel/debug/dri/<minor>/: engine state for developers.
 *
 *   engines  per engine, from its registers: operating point, status, ring, counters, slices
 *   bos      live buffer objects of the device
 *   live     objects not yet freed: files, contexts, jobs, BOs (all 0 once every client is
 *            gone and its jobs are freed; tests check it, and removal reports it)
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <drm/drm_debugfs.h>
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

static int enpu_debugfs_engines(struct seq_file *m, void *data)
{
	struct drm_info_node *node = m->private;
	struct enpu_device *edev = to_enpu(node->minor->dev);
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		enpu_debugfs_engine(m, edev->queues[i]);
	return 0;
}

static int enpu_debugfs_bos(struct seq_file *m, void *data)
{
	struct drm_info_node *node = m->private;
	struct enpu_device *edev = to_enpu(node->minor->dev);

	seq_printf(m, "%d\n", atomic_read(&edev->bo_count));
	return 0;
}

static int enpu_debugfs_live(struct seq_file *m, void *data)
{
	struct drm_info_node *node = m->private;
	struct enpu_device *edev = to_enpu(node->minor->dev);

	seq_printf(m, "files %d\nctxs %d\njobs %d\nbos %d\n", atomic_read(&edev->live_files),
		   atomic_read(&edev->live_ctxs), atomic_read(&edev->live_jobs),
		   atomic_read(&edev->bo_count));
	return 0;
}

static const struct drm_info_list enpu_debugfs_list[] = {
	{ "engines", enpu_debugfs_engines, 0 },
	{ "bos", enpu_debugfs_bos, 0 },
	{ "live", enpu_debugfs_live, 0 },
};

void enpu_debugfs_init(struct drm_minor *minor)
{
	drm_debugfs_create_files(enpu_debugfs_list, ARRAY_SIZE(enpu_debugfs_list),
				 minor->debugfs_root, minor);
}
