// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * npu_thermal.c - the die's first-order RC thermal model (npu_thermal.h). Kernel C subset.
 */
#include "npu_thermal.h"

const struct npu_thermal_params npu_default_thermal = {
	.r_mk_per_w = 250000,
	.c_nj_per_k = 400000000,
	.ambient_mc = 35000,
};

#define Q30 (1ull << 30)
#define E_MINUS_1_Q30 395007543ull /* exp(-1) x 2^30, rounded */

static u32 clamp_param(u32 v, u32 max)
{
	return v < 1 ? 1 : v > max ? max : v;
}

void npu_thermal_set(struct npu_thermal *t, const struct npu_thermal_params *p)
{
	t->p.r_mk_per_w = clamp_param(p->r_mk_per_w, NPU_THERM_R_MAX_MK_PER_W);
	t->p.c_nj_per_k = clamp_param(p->c_nj_per_k, 0xffffffffu);
	t->p.ambient_mc = p->ambient_mc;
}

void npu_thermal_init(struct npu_thermal *t, const struct npu_thermal_params *p)
{
	memset(t, 0, sizeof(*t));
	npu_thermal_set(t, p ? p : &npu_default_thermal);
}

u32 npu_thermal_exp_neg_q30(u64 x_q32)
{
	u64 n = x_q32 >> 32, y = (x_q32 & 0xffffffffull) >> 2; /* integer part; fraction, Q30 */
	u64 term = Q30, pos = Q30, neg = 0, f;
	u32 k;

	if (n >= 32)
		return 0; /* < 2^-46 */
	/* exp(-y) for y in [0, 1): the alternating series, terms kept positive */
	for (k = 1; k <= 12 && term; k++) {
		term = npu_div_u64((term * y) >> 30, k);
		if (k & 1)
			neg += term;
		else
			pos += term;
	}
	f = pos - neg;
	for (k = 0; k < n; k++)
		f = (f * E_MINUS_1_Q30 + (1ull << 29)) >> 30;
	return (u32)f;
}

/* dt / tau in Q32 (32.0 and above: the exponential is 0 anyway). */
static u64 ratio_q32(u64 dt, u64 tau)
{
	u64 q = npu_div_u64(dt, tau), r = dt - q * tau;
	u32 shift = 0;

	if (q >= 32)
		return 32ull << 32;
	while (tau >> shift >= (1ull << 32))
		shift++;
	return (q << 32) + npu_div_u64((r >> shift) << 32, tau >> shift);
}

/* Temperature rise a constant power settles at: P R (nW x mK/W = 1e-6 uK). */
static u64 steady_rise_uk(const struct npu_thermal *t, u64 power_nw)
{
	u64 r = t->p.r_mk_per_w;
	u64 rise;

	/* P above 1 kW is beyond any die; the cap keeps P R within 64 bits */
	if (power_nw > 1000000000000ull)
		power_nw = 1000000000000ull;
	rise = npu_div_u64(power_nw * r, 1000000);
	return rise > NPU_THERM_RISE_MAX_UK ? NPU_THERM_RISE_MAX_UK : rise;
}

void npu_thermal_step(struct npu_thermal *t, u64 dt_ns, u64 energy_fj)
{
	u64 tau = npu_div_u64((u64)t->p.r_mk_per_w * t->p.c_nj_per_k, 1000); /* mK/W x nJ/K = ps */
	u64 power_nw, target, f, d, move;

	if (!dt_ns) {
		/* heat at once: E / C (fJ / (nJ/K) = uK) */
		t->rise_uk += npu_div_u64(energy_fj, t->p.c_nj_per_k);
		if (t->rise_uk > NPU_THERM_RISE_MAX_UK)
			t->rise_uk = NPU_THERM_RISE_MAX_UK;
		return;
	}
	/* fJ / ns = uW; in nW while fJ x 1000 fits, the rounding below 1 uW matters little above */
	power_nw = energy_fj < (1ull << 53) ? npu_div_u64(energy_fj * 1000, dt_ns)
					     : npu_div_u64(energy_fj, dt_ns) * 1000;
	t->power_uw = npu_div_u64(power_nw, 1000);
	target = steady_rise_uk(t, power_nw);
	f = npu_thermal_exp_neg_q30(ratio_q32(dt_ns, tau ? tau : 1));
	/*
	 * The distance to the target shrinks by (1 - f), rounded to nearest but by at least 1 uK:
	 * else a long run of steps much shorter than tau would stop short of the target.
	 */
	d = t->rise_uk >= target ? t->rise_uk - target : target - t->rise_uk;
	move = (d * (Q30 - f) + (1ull << 29)) >> 30;
	move = move < d ? (move ? move : 1) : d;
	t->rise_uk = t->rise_uk >= target ? t->rise_uk - move : t->rise_uk + move;
}

s32 npu_thermal_temp_mc(const struct npu_thermal *t)
{
	s64 mc = (s64)t->p.ambient_mc + (s64)npu_div_u64(t->rise_uk, 1000);

	return mc > 0x7fffffff ? 0x7fffffff : (s32)mc;
}

u64 npu_thermal_core_energy_fj(const struct npu_hw_params *hw, const struct npu_job_stats *js)
{
	u64 dram = js->c.dram_bytes * hw->dram_byte_fj;

	return js->energy_fj > dram ? js->energy_fj - dram : 0;
}

u64 npu_thermal_opp_power_uw(const struct npu_hw_params *hw, u32 opp)
{
	const struct npu_opp *o = &npu_opp_table[opp < NPU_NUM_OPPS ? opp : NPU_NUM_OPPS - 1];
	/* fJ per cycle at the nominal voltage */
	u64 cycle_fj = (u64)hw->mac_rows * hw->mac_cols * hw->mac_fj +
		       (u64)hw->sram_bytes_per_cycle * hw->sram_byte_fj;
	u64 mv = o->volt_mv, nom = hw->nominal_mv;

	/* fJ/cycle x MHz = nW; x (V / Vnom)^2 */
	return npu_div_u64(cycle_fj * o->freq_mhz * mv * mv, nom * nom * 1000);
}
