/* SPDX-License-Identifier: MIT */
/*
 * place.c - the fixed placement rule, used when a session's placement is not "auto" (then the
 * cost-model partitioner places the graph, driver/placement.c): an op runs on the device that
 * owns its weights, else on the preferred device when that device supports it, else on the
 * fallback (device 0, the CPU).
 */
#include "graph.h"

void sched_place_fixed(struct sched_graph *g, struct hal_device **devs, uint32_t n_devs,
		       uint32_t preferred)
{
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		struct sched_node *n = &g->nodes[i];
		const struct hal_device *owner = n->op.src[0] ? n->op.src[0]->owner : NULL;

		n->device = 0;
		if (owner) {
			for (uint32_t d = 0; d < n_devs; d++)
				if (devs[d] == owner)
					n->device = d;
		} else if (preferred < n_devs &&
			   devs[preferred]->vt->supports(devs[preferred], &n->op)) {
			n->device = preferred;
		}
	}
}

uint32_t sched_model_matmul_weights(struct sched_model *m, struct hal_tensor **out, uint32_t cap)
{
	uint32_t n = 0;

	for (uint32_t l = 0; l < m->hp.n_layer; l++) {
		struct sched_layer *ly = &m->layers[l];
		struct hal_tensor *w[] = { &ly->wq, &ly->wk, &ly->wv, &ly->wo,
					   &ly->w_gate, &ly->w_up, &ly->w_down };
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++, n++)
			if (n < cap)
				out[n] = w[i];
	}
	if (n < cap)
		out[n] = &m->output;
	return n + 1;
}
