/* SPDX-License-Identifier: MIT */
/* exec.c - running a built graph on the devices its placement names, in order. */
#include "graph.h"

#include <stdio.h>
#include <time.h>

enum sched_status sched_graph_run_observed(struct sched_graph *g, struct hal_device **devs,
					   uint32_t n_devs, struct sched_usage *usage,
					   const struct sched_observer *obs, char *err,
					   size_t err_len)
{
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const struct sched_node *n = &g->nodes[i];
		const struct hal_op *op = &n->op;

		if (n->device >= n_devs) {
			snprintf(err, err_len, "op %u (%s '%s'): placed on device %u of %u", i,
				 hal_op_name(op->kind), op->dst->name, n->device, n_devs);
			return SCHED_ERR_INVALID;
		}
		struct hal_device *dev = devs[n->device];
		const struct hal_device_stats before = dev->stats;
		uint64_t t0 = hal_now_ns();
		enum hal_status st = dev->vt->run(dev, op);

		if (st != HAL_OK) {
			snprintf(err, err_len, "op %u (%s '%s') on %s: %s", i, hal_op_name(op->kind),
				 op->dst->name, dev->name, dev->error);
			return st == HAL_ERR_INVALID ? SCHED_ERR_INVALID : SCHED_ERR_DEVICE;
		}
		uint64_t t1 = hal_now_ns();
		uint64_t m_ns = dev->stats.modeled_ns - before.modeled_ns;
		uint64_t m_pj = dev->stats.modeled_energy_pj - before.modeled_energy_pj;

		if (usage) {
			struct sched_usage *u = &usage[n->device];
			u->ops++;
			u->busy_ns += t1 - t0;
			u->bytes_copied += dev->stats.bytes_copied - before.bytes_copied;
			u->modeled_ns += m_ns;
			u->modeled_energy_pj += m_pj;
		}
		if (obs) {
			const struct sched_op_record rec = {
				.node = i, .device = n->device, .t_start_ns = t0, .t_end_ns = t1,
				.modeled_ns = m_ns, .modeled_energy_pj = m_pj,
				.cur_freq_hz = dev->stats.cur_freq_hz,
			};
			obs->op(obs->user, g, &rec);
		}
	}
	return SCHED_OK;
}

enum sched_status sched_graph_run(struct sched_graph *g, struct hal_device **devs,
				  uint32_t n_devs, struct sched_usage *usage, char *err,
				  size_t err_len)
{
	return sched_graph_run_observed(g, devs, n_devs, usage, NULL, err, err_len);
}
