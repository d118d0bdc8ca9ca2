// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_debugfs.c - /sys/kernel/debug/dri/<minor>/: engine state for developers.
 *
 *   engines  per engine: operating point, SRAM residency, cumulative counters, resets
 *   bos      live buffer objects of the device
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <drm/drm_debugfs.h>
#include <drm/drm_file.h>

#include "edge_npu_drv.h"

static int enpu_debugfs_engines(struct seq_file *m, void *data)
{
	struct drm_info_node *node = m->private;
	struct enpu_device *edev = to_enpu(node->minor->dev);
	u32 i;

	for (i = 0; i < edev->num_engines; i++) {
		struct enpu_queue *q = edev->queues[i];
		struct npu_counters c;
		u64 resident;
		u32 opp;

		mutex_lock(&q->lock);
		c = q->engine->total;
		resident = q->engine->resident_bytes;
		opp = q->engine->opp;
		mutex_unlock(&q->lock);
		seq_printf(m, "engine %u: opp %u (%u MHz), resident %llu bytes, resets %llu\n",
			   i, opp, npu_opp_table[opp].freq_mhz, resident, READ_ONCE(q->resets));
		seq_printf(m, "  jobs %llu cmds %llu errors %llu stalls %llu\n",
			   c.jobs, c.cmds, c.errors, c.stalls);
		seq_printf(m, "  busy_cycles %llu macs %llu vector_ops %llu\n",
			   c.busy_cycles, c.macs, c.vector_ops);
		seq_printf(m, "  dram_bytes %llu sram_bytes %llu energy_pj %llu\n",
			   c.dram_bytes, c.sram_bytes, c.energy_pj);
		seq_printf(m, "  hw_jobs_in_flight %d\n", atomic_read(&q->sched.hw_rq_count));
	}
	return 0;
}

static int enpu_debugfs_bos(struct seq_file *m, void *data)
{
	struct drm_info_node *node = m->private;
	struct enpu_device *edev = to_enpu(node->minor->dev);

	seq_printf(m, "%d\n", atomic_read(&edev->bo_count));
	return 0;
}

static const struct drm_info_list enpu_debugfs_list[] = {
	{ "engines", enpu_debugfs_engines, 0 },
	{ "bos", enpu_debugfs_bos, 0 },
};

void enpu_debugfs_init(struct drm_minor *minor)
{
	drm_debugfs_create_files(enpu_debugfs_list, ARRAY_SIZE(enpu_debugfs_list),
				 minor->debugfs_root, minor);
}
