/* SPDX-License-Identifier: MIT */
/*
 * sched.h - the heterogeneous scheduler: device profiles, cost model, partitioner, the
 * discrete-event simulator of a placed graph, and the power manager's choice of operating
 * points. Everything here is pure computation over a dependency DAG; the graph IR
 * (graph.h) is turned into one by sched_dag_from_graph(), and tests build random ones.
 *
 * Units inside: seconds, joules, watts, bytes, hertz, volts (doubles). Profiles are written in
 * the units engineers quote (MHz, mV, mW, us, GB/s, pJ/byte); the parser converts.
 *
 * Two clocks: figures computed here are MODELED (a profile's silicon, a simulated clock);
 * the dispatcher's wall-clock figures are MEASURED on this host. Reports say which is which.
 */
#ifndef EDGE_NPU_SCHED_SCHED_H
#define EDGE_NPU_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"

#define SCHED_MAX_DEVS 8
#define SCHED_MAX_OPPS 16
#define SCHED_PROF_NAME 32

/* ---- profiles (profile.c; the file format is documented in sched/profiles/README.md) ---- */

enum sched_dev_class { SCHED_CLASS_CPU, SCHED_CLASS_GPU, SCHED_CLASS_NPU, SCHED_CLASS_COUNT };

const char *sched_class_name(enum sched_dev_class c);

struct sched_opp {
	double freq_hz;
	double volt;
};

struct sched_dev_profile {
	char name[SCHED_PROF_NAME];
	enum sched_dev_class cls;
	uint32_t op_mask;   /* bit (1 << hal_op_kind): ops it runs */
	uint32_t type_mask; /* bit (1 << hal_type): matmul weight types it runs */
	double rate[HAL_OP_COUNT];       /* arithmetic ops per cycle, per op kind */
	double type_scale[HAL_TYPE_COUNT]; /* matmul rate multiplier per weight type (1) */
	double bw;                       /* bytes/s it can draw from memory alone */
	uint32_t n_opp;                  /* operating points, lowest frequency first */
	struct sched_opp opp[SCHED_MAX_OPPS];
	double cap_f;          /* switched capacitance: dynamic power C*V^2*f while computing */
	double stall_activity; /* fraction of that power burnt while waiting for memory */
	double leak_w;         /* leakage at the top OPP's voltage; scales with V */
	double idle_w;         /* powered, clock-gated, nothing queued (includes leakage) */
	double suspend_w;      /* in its low-power state */
	double wake_s;         /* suspended -> ready */
	double autosuspend_s;  /* idle time after which runtime PM suspends it */
	double launch_s;       /* per-op dispatch overhead */
	double sync_s;         /* fence hand-off when a tensor crosses to/from another device */
	double requant_bps;    /* int8 boundary: bytes/s of (de)quantizing a crossing tensor; 0 */
	/*
	 * 1 + the index of the device whose cores it computes on (an OpenCL CPU device such as
	 * PoCL beside the CPU backend): the two never compute at the same time. 0: its own
	 * hardware (so that a zeroed profile means independent devices).
	 */
	uint32_t shares_cores;
	uint32_t line;         /* where the device was declared (messages) */
};

struct sched_profile {
	char name[SCHED_PROF_NAME];
	char description[160];
	char path[256];
	bool unified;           /* one memory for all devices: crossing costs sync only */
	double mem_bw;          /* shared memory bandwidth, bytes/s (contention across devices) */
	double copy_bw;         /* bytes/s of a copy between devices when memory is not unified */
	double dram_j_per_byte; /* energy of moving one byte to or from memory */
	double budget_w;        /* sustained power budget */
	uint32_t n_dev;
	struct sched_dev_profile dev[SCHED_MAX_DEVS];
};

/*
 * Parses a profile from text; fname names it in messages ("phone.prof:12: unknown key
 * 'bandwdith'"). Every device must declare at least one OPP, a class and a rate for each op it
 * runs. Returns SCHED_OK or SCHED_ERR_INVALID with err set.
 */
enum sched_status sched_profile_parse(const char *text, const char *fname,
				      struct sched_profile *out, char *err, size_t err_len);
enum sched_status sched_profile_load(const char *path, struct sched_profile *out, char *err,
				     size_t err_len);
/*
 * Finds a profile by name ("phone", "mw", "host": <dir>/<name>.prof, with dir
 * $ENPU_PROFILE_DIR, then the source tree's sched/profiles, then the installed data dir) or
 * by path (anything with a '/' or ending in ".prof").
 */
enum sched_status sched_profile_find(const char *name_or_path, struct sched_profile *out,
				     char *err, size_t err_len);
/* Writes p in the file format (calibration output); returns 0 or -1 with errno. */
int sched_profile_write(const struct sched_profile *p, const char *path);
/* The same with notes (lines, '\n'-separated) written as comments under the header line. */
int sched_profile_write_notes(const struct sched_profile *p, const char *path,
			      const char *notes);

/* ---- the DAG the scheduler works on (dag.c) ---------------------------------------------- */

struct sched_dag_node {
	enum hal_op_kind kind;
	enum hal_type wtype; /* matmul weight type; HAL_TYPE_F32 otherwise */
	double ops;          /* arithmetic operations */
	double bytes;        /* bytes read and written in memory */
	double out_bytes;    /* bytes of its result (what crosses a device boundary) */
	int32_t layer;
	uint64_t sig;        /* op signature: kind, type, shape (history key) */
};

struct sched_dag {
	uint32_t n;
	struct sched_dag_node *nodes;
	/* predecessors in CSR form: pred[pred_off[v] .. pred_off[v+1]) */
	uint32_t *pred_off, *pred;
	double *edge_bytes; /* per pred entry: bytes that flow (0: an ordering-only edge) */
	/* successors, same form (derived) */
	uint32_t *succ_off, *succ, *succ_edge; /* succ_edge: index into pred[] */
	/* Optional explicit costs [n * n_dev] in seconds (synthetic DAGs); <0 = unsupported. */
	double *fixed_time;
	uint32_t fixed_n_dev;
};

/*
 * The dependency DAG of a built graph: edges from every read-after-write, write-after-read
 * and write-after-write over the memory the ops touch (activations share arena memory, so
 * reuse is a dependency too). ctx_len is the attention's context length to cost (decode at
 * position p: p + 1).
 */
enum sched_status sched_dag_from_graph(const struct sched_graph *g, uint32_t ctx_len,
				       struct sched_dag *out, char *err, size_t err_len);
/* Builds a DAG from explicit edge lists (tests, random DAGs); edges u -> v need u < v. */
enum sched_status sched_dag_init(struct sched_dag *d, uint32_t n, uint32_t n_edges,
				 const uint32_t (*edges)[2], const double *edge_bytes);
void sched_dag_free(struct sched_dag *d);

/* ---- cost model (cost.c) ----------------------------------------------------------------- */

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

/* ---- placement plans, simulation (simulate.c) -------------------------------------------- */

/* A placed graph: device per node, the dispatch order (topological), an OPP per device. */
struct sched_plan {
	uint32_t n;
	uint8_t *dev;
	uint32_t *order;
	uint32_t opp[SCHED_MAX_DEVS];
};

enum sched_status sched_plan_alloc(struct sched_plan *pl, uint32_t n);
void sched_plan_free(struct sched_plan *pl);
void sched_plan_copy(struct sched_plan *dst, const struct sched_plan *src);
/* Every node placed on a device that supports it, order a topological order. */
bool sched_plan_valid(const struct sched_profile *p, const struct sched_dag *d,
		      const struct sched_plan *pl, char *why, size_t len);

struct sched_sim_result {
	double makespan_s; /* modeled latency of the graph */
	double period_s;   /* max(makespan, latency target): the span energy is counted over */
	double energy_j;   /* busy + idle/suspended + boundary energy over the period */
	double peak_w;     /* highest total power at any instant */
	double avg_w;      /* energy / period */
	double busy_s[SCHED_MAX_DEVS];
	double dev_energy_j[SCHED_MAX_DEVS];
	uint32_t dev_ops[SCHED_MAX_DEVS];
	double bytes_copied;
	uint32_t crossings; /* edges whose ends are on different devices */
};

struct sched_sim_options {
	double period_s;  /* latency target / token period (0: the makespan) */
	bool contention;  /* share the memory bandwidth among concurrent ops */
	const struct sched_history *history;
	double *start, *finish; /* optional, n entries: each node's modeled start and end */
};

/*
 * Discrete-event simulation of pl on p: each device runs its nodes in pl->order, one at a
 * time; a node starts once its device is free and every input has arrived (producer's end +
 * crossing cost). With contention, running ops share the memory bandwidth (each gets its
 * demand when the sum fits, a proportional share otherwise). Idle gaps on a device are spent
 * idle or, when long enough to autosuspend and wake, suspended (the wake is started ahead of
 * the next op, so it costs energy, not latency); unused devices stay suspended.
 */
void sched_simulate(const struct sched_profile *p, const struct sched_dag *d,
		    const struct sched_plan *pl, const struct sched_sim_options *o,
		    struct sched_sim_result *out);

/* ---- partitioner (partition.c) ----------------------------------------------------------- */

enum sched_objective {
	SCHED_MIN_LATENCY, /* minimise makespan with average power <= budget (0: no budget) */
	SCHED_MIN_ENERGY,  /* minimise energy per period with makespan <= latency target */
};

struct sched_part_options {
	enum sched_objective objective;
	double budget_w;         /* SCHED_MIN_LATENCY (0: the profile's) */
	double latency_target_s; /* SCHED_MIN_ENERGY (required) */
	bool contention;
	bool improve;            /* false: HEFT alone (the baseline) */
	uint32_t max_evals;      /* improvement budget in simulations (0: default) */
	bool local_only;         /* improve without the exact search on small graphs */
	uint64_t exact_nodes;    /* that search's budget in branch-and-bound nodes (0: default) */
	const struct sched_history *history;
	/* Admin bounds: OPP index range per device (all zero: the whole table). */
	uint32_t opp_min[SCHED_MAX_DEVS], opp_max[SCHED_MAX_DEVS];
};

struct sched_part_stats {
	double heft_makespan_s; /* the HEFT schedule, as simulated */
	uint32_t evals;         /* simulations the improvement step ran */
	uint32_t moves;         /* improving moves it accepted */
	uint64_t exact_nodes;   /* branch-and-bound nodes of the exact search (0: not run) */
	bool exact_proven;      /* it finished: the plan is optimal (contention-free makespan) */
	bool exact_kept;        /* it found a better plan than the local search's */
};

/* Graphs up to this size get the exact search, within this many nodes, after local search. */
#define SCHED_PART_EXACT_N 12
#define SCHED_PART_EXACT_NODES 500000
/*
 * Graphs up to this size get the local search's quadratic moves (pairs of nodes, any place in
 * the order), re-placements tried with a re-derived order, and kicks where the exact search
 * does not run.
 */
#define SCHED_PART_PAIR_N 24

/*
 * HEFT (Topcuoglu et al. 2002): upward rank with mean costs over the devices that can run
 * each node, then earliest-finish-time list scheduling with insertion; then (improve) a local
 * search that re-places single nodes, runs of consecutive nodes, a node with its consumers,
 * and on small graphs pairs of nodes and a node at any place in its device's order, judged
 * by the simulator; on graphs of <= SCHED_PART_EXACT_N nodes the exact branch and bound
 * seeded with that (kept when the simulator says it is better); and in SCHED_MIN_ENERGY mode
 * the power manager's OPPs. pl must be allocated for d->n.
 * Fails only when some node has no device at all.
 */
enum sched_status sched_partition(const struct sched_profile *p, const struct sched_dag *d,
				  const struct sched_part_options *o, struct sched_plan *pl,
				  struct sched_part_stats *stats, char *err, size_t err_len);

/*
 * The exact optimum makespan (contention-free) by branch and bound over assignments and
 * per-device orders, for small DAGs (<= 12 nodes). upper_s seeds the bound (0: none).
 * Returns the optimum (and the plan when pl != NULL), or a negative value if max_nodes
 * search nodes were not enough to prove it.
 */
double sched_exhaustive(const struct sched_profile *p, const struct sched_dag *d, double upper_s,
			uint64_t max_nodes, struct sched_plan *pl);

/* Same-device baselines: every node on dev when it can, else on the first CPU-class device. */
void sched_plan_all_on(const struct sched_profile *p, const struct sched_dag *d, uint32_t dev,
		       struct sched_plan *pl);

/* ---- power manager (power.c) ------------------------------------------------------------- */

/*
 * Picks an OPP per device for pl (written into pl->opp): SCHED_MIN_ENERGY: the least energy
 * per period with makespan <= target (lower clocks where memory-bound ops do not slow down,
 * race-to-idle where leakage makes finishing early and suspending cheaper); SCHED_MIN_LATENCY:
 * the highest clocks whose average power fits the budget. Stays within opp_min/opp_max.
 * Returns the simulated result of the choice.
 */
void sched_power_choose(const struct sched_profile *p, const struct sched_dag *d,
			const struct sched_part_options *o, struct sched_plan *pl,
			struct sched_sim_result *out);
/* Sets every device to its highest OPP within the bounds. */
void sched_power_max(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl);
/* Sets every device to its lowest OPP within the bounds. */
void sched_power_min(const struct sched_profile *p, const struct sched_part_options *o,
		     struct sched_plan *pl);
/*
 * Maps admin bounds in Hz (devfreq min_freq/max_freq) to an OPP index range of dp:
 * the OPPs with min_hz <= f <= max_hz; when none fits, the one nearest the range.
 */
void sched_power_bounds(const struct sched_dev_profile *dp, double min_hz, double max_hz,
			uint32_t *out_min, uint32_t *out_max);

#endif
