/* SPDX-License-Identifier: MIT */
/*
 * cost.h - the cost model (cost.c): what a node of the DAG costs in time and energy on a device
 * of a profile at an operating point, what a tensor costs to cross between devices, and the
 * run-time correction of those predictions by measured history.
 *
 * Figures here are MODELED: a profile's silicon, not this host (except through the history,
 * which learns how far the profile is off from what the dispatcher measured).
 */
#ifndef EDGE_NPU_SCHED_COST_H
#define EDGE_NPU_SCHED_COST_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/dag.h"
#include "sched/profile.h"

/*
 * Run-time correction: per (op signature, device), the ratio measured/predicted, an
 * exponential average in log space whose samples are clamped to within 2x of the current
 * estimate so that one outlier (a page fault, a preempted thread) moves it little.
 */
#define SCHED_HISTORY_SLOTS 512
struct sched_history {
	struct {
		uint64_t sig;
		uint32_t dev, n;
		double log_ratio;
	} slot[SCHED_HISTORY_SLOTS];
	/* per device: the sum of its slots' log ratios and how many (the prior for new ops) */
	double dev_log_sum[SCHED_MAX_DEVS];
	uint32_t dev_slots[SCHED_MAX_DEVS];
};

void sched_history_record(struct sched_history *h, uint64_t sig, uint32_t dev,
			  double predicted_s, double measured_s);
/*
 * Factor to apply to the profile's prediction: the op's own history; for an op not measured
 * yet on dev, the mean of dev's (its other ops tell how far the profile is off there); on a
 * device not measured at all, the mean over every measured op, but never below 1: an
 * unmeasured device is not assumed faster than its profile, so that the partitioner does not
 * move work onto it only because the devices it measured were slower than modeled.
 */
double sched_history_factor(const struct sched_history *h, uint64_t sig, uint32_t dev);

/* Whether device dev of p can run node n. */
bool sched_cost_supports(const struct sched_profile *p, uint32_t dev,
			 const struct sched_dag_node *n);

struct sched_op_cost {
	double t_comp; /* compute time alone at this OPP */
	double t_mem;  /* memory time alone (at the device's own bandwidth) */
	double time;   /* launch + max(t_comp, t_mem): predicted time without contention */
};

/* Predicted time of node v on dev at opp (history-corrected when h is not NULL). */
struct sched_op_cost sched_cost_op(const struct sched_profile *p, const struct sched_dag *d,
				   uint32_t v, uint32_t dev, uint32_t opp,
				   const struct sched_history *h);
/* Energy of running node v on dev at opp for run time t (stretched by contention or not). */
double sched_cost_energy(const struct sched_profile *p, const struct sched_dag *d, uint32_t v,
			 uint32_t dev, uint32_t opp, const struct sched_op_cost *c, double t);
/* Power of dev at opp while busy (leakage + stalled activity), for the power trace. */
double sched_cost_leak_w(const struct sched_dev_profile *dp, uint32_t opp);
/*
 * What a tensor of `bytes` costs to cross from device a to device b (0 when a == b): the
 * fence hand-off, a copy when memory is not unified, (de)quantization at an int8 device.
 * *copied gets the bytes a copy moves (0 on unified memory).
 */
double sched_cost_edge(const struct sched_profile *p, uint32_t a, uint32_t b, double bytes,
		       double *energy_j, double *copied);

/*
 * Speculative decoding's modeled speed-up over plain decoding (one step t_decode a token). A
 * draft proposes k tokens, each accepted with probability alpha independently of the others
 * until the first rejection, so a verification yields (1 - alpha^(k+1)) / (1 - alpha) tokens
 * (the accepted ones and the verifier's own next token). A round costs k draft steps of
 * t_draft and one verification of k + 1 tokens, t_verify = t_decode + k * t_row (a batched
 * evaluation reads the weights once: each row adds only its compute), one after the other.
 * Overlapped (driver/speculative.c: the draft, on another device, drafts the next block while
 * the current one is verified, as if all k were accepted and the verifier's next token were
 * the draft's guess): a round whose block was pre-drafted (probability alpha^(k+1), in the
 * steady state) drafts nothing first; a round with all k accepted waits for the longer of the
 * verification and the pre-draft's k + 1 steps; a rejection stops the pre-draft (the round
 * costs the verification):
 *   t = (1 - alpha^(k+1)) k t_draft + alpha^k max(t_verify, (k+1) t_draft)
 *       + (1 - alpha^k) t_verify.
 * So at alpha 1 it is the longer of the two, and at alpha 0 the sequential form. Two devices
 * are assumed to run the two sides at their own rates (on one shared device they do not).
 * *best_k (may be NULL) gets the k in 1..k_max with the
 * largest speed-up, which is returned; with k_max 0, k itself is evaluated.
 */
double sched_spec_speedup(double alpha, uint32_t k, uint32_t k_max, double t_decode,
			  double t_draft, double t_row, bool overlapped, uint32_t *best_k);

#endif
