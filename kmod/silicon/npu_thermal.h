/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_thermal.h - the die's thermal model: a first-order RC network from the NPU's dissipated
 * power to ambient.
 *
 *     C dT/dt = P(t) - (T - T_amb) / R
 *
 * R (K/W) is the junction-to-ambient thermal resistance of the package and board, C (J/K) the
 * heat capacity that fills first, so a constant power P settles at T_amb + P R with time
 * constant tau = R C. The model is integrated exactly for piecewise-constant power (the
 * power of a job is its energy over its modeled duration; idle is zero dynamic power), so a
 * step of any length is one exponential, not a sum of small Euler steps:
 *
 *     rise(t + dt) = P R + (rise(t) - P R) exp(-dt / tau)
 *
 * Integer only (the silicon's C subset): temperatures in micro-kelvin above ambient, energy
 * in femtojoules, time in nanoseconds, exp() by a Q30 Taylor series and powers of e^-1.
 *
 * The heat is the core's: the engine's energy minus its DRAM traffic, which is spent on the
 * DRAM's own rail and die (npu_engine.c), so a memory-bound job heats the NPU less than its
 * energy counter says.
 */
#ifndef NPU_THERMAL_H
#define NPU_THERMAL_H

#include "npu_engine.h"

/* Bounds of the parameters (npu_thermal_set() clamps to them). */
#define NPU_THERM_R_MAX_MK_PER_W 10000000u	/* 10000 K/W */
#define NPU_THERM_RISE_MAX_UK	 1000000000ull	/* 1000 K above ambient */

/**
 * struct npu_thermal_params - the thermal path of one die.
 * @r_mk_per_w: thermal resistance junction to ambient, mK/W (250000 = 250 K/W), >= 1.
 * @c_nj_per_k: thermal capacitance, nJ/K (400000000 = 0.4 J/K), >= 1. tau = R C, in ns:
 *	@r_mk_per_w x @c_nj_per_k / 1000 (a C of a few hundred nJ/K makes tau microseconds of
 *	modeled time: what a test under an emulator can cover).
 * @ambient_mc: ambient temperature, mdegC.
 */
struct npu_thermal_params {
	u32 r_mk_per_w;
	u32 c_nj_per_k;
	s32 ambient_mc;
};

/*
 * The default die: a small NPU in a fan-less package (250 K/W, 0.4 J/K: tau = 100 s) at a
 * 35 degC ambient. Its full MAC load at the top operating point (~120 mW of core power,
 * npu_thermal_opp_power_uw()) settles near 64 degC, at 800 MHz near 53 degC.
 */
extern const struct npu_thermal_params npu_default_thermal;

/**
 * struct npu_thermal - state of the model.
 * @p: its parameters.
 * @rise_uk: temperature above ambient, micro-kelvin.
 * @power_uw: core power of the last step that had a duration (0 after idle).
 */
struct npu_thermal {
	struct npu_thermal_params p;
	u64 rise_uk;
	u64 power_uw;
};

/**
 * npu_thermal_init() - a die at ambient.
 * @t: the model.
 * @p: parameters (NULL: npu_default_thermal).
 */
void npu_thermal_init(struct npu_thermal *t, const struct npu_thermal_params *p);

/**
 * npu_thermal_set() - changes the parameters; the temperature above ambient is kept.
 * @t: the model.
 * @p: new parameters; R and C are clamped to [1, their maximum].
 */
void npu_thermal_set(struct npu_thermal *t, const struct npu_thermal_params *p);

/**
 * npu_thermal_step() - advances the model by @dt_ns of modeled time during which the core
 *	dissipated @energy_fj, spread evenly over it (a job), or at once when @dt_ns is 0.
 * @t: the model.
 * @dt_ns: duration, ns.
 * @energy_fj: heat, fJ (0: idle, the die cools towards ambient).
 */
void npu_thermal_step(struct npu_thermal *t, u64 dt_ns, u64 energy_fj);

/** npu_thermal_temp_mc() - the die temperature now, mdegC. */
s32 npu_thermal_temp_mc(const struct npu_thermal *t);

/**
 * npu_thermal_exp_neg_q30() - exp(-@x_q32 / 2^32) in Q30 (2^30 = 1.0), within 2^-26.
 * @x_q32: the exponent's magnitude in Q32 (any value; beyond 32 the result is 0).
 */
u32 npu_thermal_exp_neg_q30(u64 x_q32);

/**
 * npu_thermal_core_energy_fj() - the part of a job's energy that heats the NPU die: all of
 *	it but the DRAM traffic's.
 * @hw: the hardware the job ran on.
 * @js: the job's statistics.
 */
u64 npu_thermal_core_energy_fj(const struct npu_hw_params *hw, const struct npu_job_stats *js);

/**
 * npu_thermal_opp_power_uw() - core power at full load at operating point @opp: the whole
 *	MAC array busy every cycle, fed from SRAM at its port width. The "dynamic power" of the
 *	OPP that a power model (the kernel's energy model, a scheduler) scales by utilisation.
 * @hw: the hardware.
 * @opp: index into npu_opp_table (clamped).
 */
u64 npu_thermal_opp_power_uw(const struct npu_hw_params *hw, u32 opp);

#endif
