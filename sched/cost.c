/* SPDX-License-Identifier: MIT */
/*
 * cost.c - the cost model: a roofline per op and device (compute at the OPP's clock against
 * the device's memory bandwidth), energy from C*V^2*f plus leakage plus memory traffic, the
 * cost of a tensor crossing devices, and the run-time correction by measured history.
 */
#include "sched/cost.h"

#include <math.h>
#include <string.h>

bool sched_cost_supports(const struct sched_profile *p, uint32_t dev,
			 const struct sched_dag_node *n)
{
	const struct sched_dev_profile *dp = &p->dev[dev];

	if (!(dp->op_mask & (1u << n->kind)))
		return false;
	return n->kind != HAL_OP_MATMUL || (dp->type_mask & (1u << n->wtype));
}

struct sched_op_cost sched_cost_op(const struct sched_profile *p, const struct sched_dag *d,
				   uint32_t v, uint32_t dev, uint32_t opp,
				   const struct sched_history *h)
{
	const struct sched_dev_profile *dp = &p->dev[dev];
	const struct sched_dag_node *n = &d->nodes[v];
	const double f = dp->opp[opp < dp->n_opp ? opp : dp->n_opp - 1].freq_hz;
	const double f_top = dp->opp[dp->n_opp - 1].freq_hz;
	struct sched_op_cost c = { 0, 0, 0 };
	double k = h ? sched_history_factor(h, n->sig, dev) : 1.0;

	if (d->fixed_time) {
		/* synthetic DAGs: a time at the top OPP, compute-bound */
		c.t_comp = d->fixed_time[(size_t)v * d->fixed_n_dev + dev] * f_top / f * k;
		c.time = c.t_comp;
		return c;
	}
	double rate = dp->rate[n->kind];
	if (n->kind == HAL_OP_MATMUL)
		rate *= dp->type_scale[n->wtype];
	c.t_comp = rate > 0 ? n->ops / (rate * f) * k : INFINITY;
	c.t_mem = n->bytes / dp->bw * k;
	c.time = dp->launch_s + (c.t_comp > c.t_mem ? c.t_comp : c.t_mem);
	return c;
}

double sched_cost_leak_w(const struct sched_dev_profile *dp, uint32_t opp)
{
	const double v_top = dp->opp[dp->n_opp - 1].volt;

	/* leakage current grows with the supply; linear in V is the first-order model */
	return dp->leak_w * dp->opp[opp].volt / v_top;
}

double sched_cost_energy(const struct sched_profile *p, const struct sched_dag *d, uint32_t v,
			 uint32_t dev, uint32_t opp, const struct sched_op_cost *c, double t)
{
	const struct sched_dev_profile *dp = &p->dev[dev];
	const struct sched_opp *o = &dp->opp[opp];
	const double p_dyn = dp->cap_f * o->volt * o->volt * o->freq_hz;
	const double body = t - dp->launch_s > c->t_comp ? t - dp->launch_s : c->t_comp;

	return p_dyn * (c->t_comp + dp->stall_activity * (body - c->t_comp)) +
	       sched_cost_leak_w(dp, opp) * t + d->nodes[v].bytes * p->dram_j_per_byte;
}

double sched_cost_edge(const struct sched_profile *p, uint32_t a, uint32_t b, double bytes,
		       double *energy_j, double *copied)
{
	double t, e = 0;

	if (copied)
		*copied = 0;
	if (a == b) {
		if (energy_j)
			*energy_j = 0;
		return 0;
	}
	const struct sched_dev_profile *da = &p->dev[a], *db = &p->dev[b];
	t = da->sync_s > db->sync_s ? da->sync_s : db->sync_s;
	if (!p->unified && bytes > 0) {
		t += bytes / p->copy_bw;
		e += 2 * bytes * p->dram_j_per_byte;
		if (copied)
			*copied = bytes;
	}
	/* an integer-only device takes int8 in and gives int32 out: one side converts */
	double rq = da->requant_bps > db->requant_bps ? da->requant_bps : db->requant_bps;
	if (rq > 0 && bytes > 0) {
		t += bytes / rq;
		e += 2 * bytes * p->dram_j_per_byte;
	}
	if (energy_j)
		*energy_j = e;
	return t;
}

/* ---- history ------------------------------------------------------------------------------ */

static uint32_t slot_of(const struct sched_history *h, uint64_t sig, uint32_t dev, bool *found)
{
	uint64_t k = (sig ^ ((uint64_t)dev * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
	uint32_t i = (uint32_t)(k >> 40) % SCHED_HISTORY_SLOTS;

	for (uint32_t probe = 0; probe < SCHED_HISTORY_SLOTS; probe++) {
		uint32_t s = (i + probe) % SCHED_HISTORY_SLOTS;
		if (h->slot[s].n == 0) {
			*found = false;
			return s;
		}
		if (h->slot[s].sig == sig && h->slot[s].dev == dev) {
			*found = true;
			return s;
		}
	}
	*found = false;
	return SCHED_HISTORY_SLOTS; /* full */
}

void sched_history_record(struct sched_history *h, uint64_t sig, uint32_t dev,
			  double predicted_s, double measured_s)
{
	bool found;
	uint32_t s = slot_of(h, sig, dev, &found);

	if (s == SCHED_HISTORY_SLOTS || !(predicted_s > 0) || !(measured_s > 0))
		return;
	double x = log(measured_s / predicted_s);
	const uint32_t dk = dev < SCHED_MAX_DEVS ? dev : SCHED_MAX_DEVS - 1;
	if (!found) {
		h->slot[s].sig = sig;
		h->slot[s].dev = dev;
		h->slot[s].n = 1;
		h->slot[s].log_ratio = x;
		h->dev_log_sum[dk] += x;
		h->dev_slots[dk]++;
		return;
	}
	/* damp outliers: a sample counts at most a factor 2 away from the estimate */
	double cur = h->slot[s].log_ratio, lim = log(2.0);
	if (x > cur + lim)
		x = cur + lim;
	if (x < cur - lim)
		x = cur - lim;
	/* average the first few exactly, then forget slowly (alpha = 1/8) */
	uint32_t n = h->slot[s].n < 8 ? h->slot[s].n + 1 : 8;
	h->slot[s].log_ratio = cur + (x - cur) / n;
	h->slot[s].n++;
	h->dev_log_sum[dk] += h->slot[s].log_ratio - cur;
}

double sched_history_factor(const struct sched_history *h, uint64_t sig, uint32_t dev)
{
	bool found;
	uint32_t s = slot_of(h, sig, dev, &found);
	const uint32_t dk = dev < SCHED_MAX_DEVS ? dev : SCHED_MAX_DEVS - 1;

	if (found)
		return exp(h->slot[s].log_ratio);
	if (h->dev_slots[dk])
		return exp(h->dev_log_sum[dk] / h->dev_slots[dk]);
	double sum = 0;
	uint32_t n = 0;
	for (uint32_t k = 0; k < SCHED_MAX_DEVS; k++) {
		sum += h->dev_log_sum[k];
		n += h->dev_slots[k];
	}
	return n && sum > 0 ? exp(sum / n) : 1.0;
}

/* The tokens one verification yields: 1 + alpha + ... + alpha^k. */
static double spec_tokens(double alpha, uint32_t k)
{
	double sum = 0.0, a = 1.0;

	for (uint32_t i = 0; i <= k; i++, a *= alpha)
		sum += a;
	return sum;
}

double sched_spec_speedup(double alpha, uint32_t k, uint32_t k_max, double t_decode,
			  double t_draft, double t_row, bool overlapped, uint32_t *best_k)
{
	const uint32_t lo = k_max ? 1 : k, hi = k_max ? k_max : k;
	double best = 0.0;
	uint32_t arg = lo;

	alpha = alpha < 0.0 ? 0.0 : alpha > 1.0 ? 1.0 : alpha;
	for (uint32_t j = lo; j <= hi; j++) {
		const double draft = j * t_draft, verify = t_decode + j * t_row;
		double t = draft + verify;
		if (overlapped) {
			/* all j accepted: the pre-draft's j + 1 steps run out beside the verification;
			 * the block is used when the verifier's next token is also the draft's guess */
			const double all = pow(alpha, j), used = all * alpha;
			const double pre = (j + 1) * t_draft;
			t = (1.0 - used) * draft + all * (pre > verify ? pre : verify) +
			    (1.0 - all) * verify;
		}
		const double gain = t > 0.0 ? spec_tokens(alpha, j) * t_decode / t : 0.0;

		if (gain > best) {
			best = gain;
			arg = j;
		}
	}
	if (best_k)
		*best_k = arg;
	return best;
}
