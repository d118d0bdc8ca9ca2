// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * npu_device.c - the device model of one NPU engine (see npu_device.h and npu_regs.h).
 *
 * Kernel C subset, as the engine (no libc, no float, no VLA, no recursion, no allocation).
 * The model's state is guarded by the host's lock; engine work runs with the lock released,
 * one slice at a time, on the context the host started, and only that context touches the
 * engine's SRAM and cursor while a job is on it.
 */
#include "npu_device.h"

/*
 * The driver's own memory (ring, stream, buffer table, result): at the driver's addresses
 * (npu_regs.h). Job data goes through the MMU only.
 */
static void *dev_ptr(u64 addr)
{
	return (void *)(uintptr_t)addr;
}

static u64 now(const struct npu_device *d)
{
	return d->ops->now_ns(d->host);
}

void npu_dev_init(struct npu_device *d, const struct npu_platform_ops *ops, void *host, u32 caps)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->host = host;
	npu_engine_init(&d->engine, NULL, caps);
	npu_mmu_init(&d->mmu, ops, host);
	d->power = 1;
	d->clock = d->engine.opp;
	npu_thermal_init(&d->therm, NULL);
	d->therm_ns = now(d);
	d->therm_crit_mc = NPU_THERM_CRIT_DEFAULT_MC;
}

/* ---- temperature ---------------------------------------------------------------------------- */

/*
 * Idle time since the model was last advanced, in modeled time: the host's, slowed down as
 * SIM_PACE slows jobs down, so that a paced device's duty cycle is the same in both.
 */
static u64 idle_ns(const struct npu_device *d, u64 t)
{
	u64 dt = t > d->therm_ns ? t - d->therm_ns : 0;

	return d->pace > 1 ? npu_div_u64(dt, d->pace) : dt;
}

/* Advances the model over the idle time up to now (only while no job is on the engine). */
static void therm_idle(struct npu_device *d)
{
	u64 t = now(d);

	npu_thermal_step(&d->therm, idle_ns(d, t), 0);
	d->therm_ns = t;
}

/* The die after a job: its core energy over its modeled duration. */
static void therm_job(struct npu_device *d, const struct npu_job_stats *js)
{
	npu_thermal_step(&d->therm, js->time_ns, npu_thermal_core_energy_fj(&d->engine.hw, js));
	d->therm_ns = now(d);
}

/* TEMP_MC: a running job's heat counts when it ends; idle cooling counts up to now. */
static s32 temp_now(const struct npu_device *d)
{
	struct npu_thermal t = d->therm;

	if (!d->busy)
		npu_thermal_step(&t, idle_ns(d, now(d)), 0);
	return npu_thermal_temp_mc(&t);
}

/* The device's own protection, decided at each fetch (with hysteresis). */
static u32 therm_clock(struct npu_device *d)
{
	s32 temp = npu_thermal_temp_mc(&d->therm);

	if (!d->therm_crit_mc)
		d->hot = 0;
	else if (temp >= d->therm_crit_mc)
		d->hot = 1;
	else if (temp < d->therm_crit_mc - NPU_THERM_CRIT_HYST_MC)
		d->hot = 0;
	return d->hot ? 0 : d->clock;
}

/* ---- the job on the engine ----------------------------------------------------------------- */

/* Writes the job's result, retires its descriptor; returns the interrupt bits to assert. */
static u32 end_job(struct npu_device *d, u32 state)
{
	struct npu_job_result *r = dev_ptr(d->job_result);
	struct npu_job_stats js;

	npu_exec_finish(&d->engine, &d->job, &js);
	therm_job(d, &js);
	if (r) {
		r->stats = js;
		r->status = d->job.st;
		r->fault_addr = state == NPU_RESULT_FAULT ? d->mmu.fault_addr : 0;
		r->fault_status = state == NPU_RESULT_FAULT ? d->mmu.fault_status : 0;
		r->state = state;
	}
	if (state == NPU_RESULT_FAULT) {
		d->fault_addr = d->mmu.fault_addr;
		d->fault_status = d->mmu.fault_status;
		d->irq_status |= NPU_IRQ_MMU_FAULT;
	}
	d->job.state = NPU_EXEC_IDLE;
	d->busy = 0;
	d->stalled_since = 0;
	if (state == NPU_RESULT_ABORTED)
		return 0; /* the reset that aborted it empties the ring */
	d->ring_head++;
	d->irq_status |= NPU_IRQ_JOB_DONE | (state == NPU_RESULT_DONE ? 0 : NPU_IRQ_JOB_ERROR);
	return d->irq_status & d->irq_mask;
}

/*
 * Pacing (SIM_PACE = N): a job whose computation is done completes only once N times its
 * modeled duration at its operating point has passed since it started, as on silicon running
 * at that clock (N = 1), or slowed down N times.
 * pace_hold() decides at the end of the last slice; pace_wait() then sleeps on the host's wait
 * (interruptible: a reset or stop wakes it, and the loop looks again) rather than spin.
 */
static int pace_hold(struct npu_device *d)
{
	u64 due = d->job_start_ns +
		  npu_cycles_to_ns(d->job.js.c.busy_cycles, d->job.js.opp) * d->pace;

	if (!d->pace || due <= now(d))
		return 0;
	d->pace_due_ns = due;
	return 1;
}

static u32 pace_wait(struct npu_device *d)
{
	u64 t = now(d);

	if (t < d->pace_due_ns) {
		d->ops->wait(d->host, d->pace_due_ns - t);
		return 0;
	}
	d->pace_due_ns = 0;
	return end_job(d, NPU_RESULT_DONE);
}

static int can_fetch(const struct npu_device *d)
{
	return (d->control & NPU_CONTROL_ENABLE) && d->power && d->ring_size &&
	       d->ring_head != d->ring_tail && !d->busy;
}

/* Copies the buffer table into the engine's view; -1 if the descriptor is malformed. */
static int load_bufs(struct npu_device *d, const struct npu_ring_desc *desc)
{
	const struct npu_buf_desc *t = dev_ptr(desc->bufs_addr);
	u32 i;

	if (desc->nbufs > NPU_DEV_MAX_BUFS || desc->flags || (desc->nbufs && !t) ||
	    desc->as >= NPU_AS_SLOTS)
		return -1;
	for (i = 0; i < desc->nbufs; i++) {
		d->bufs[i].data = NULL; /* reached through the MMU only */
		d->bufs[i].addr = t[i].addr;
		d->bufs[i].size = t[i].size;
		d->bufs[i].id = t[i].id;
		d->bufs[i].flags = t[i].flags;
	}
	return 0;
}

/*
 * Fetches the descriptor at RING_HEAD and starts it. The device's own validator checks the
 * stream first, with the lock released (a stream is up to 4 MiB).
 */
static u32 fetch(struct npu_device *d)
{
	const struct npu_ring_desc *ring = dev_ptr(d->ring_base);
	struct npu_ring_desc desc = ring[d->ring_head & (d->ring_size - 1)];
	int bad = load_bufs(d, &desc), err;

	d->job_result = desc.result_addr;
	therm_idle(d);
	npu_engine_set_opp(&d->engine, therm_clock(d));
	/* the job's address space, latched: a later TRANSTAB write applies to later jobs */
	npu_mmu_bind(&d->mmu, bad ? 0 : d->as_root[desc.as], bad ? 0 : desc.as);
	d->tlb_flush = 0;
	d->job.state = NPU_EXEC_RUNNING; /* the engine is taken while the lock is dropped */
	d->busy = 1;
	d->job_start_ns = now(d);
	d->ops->unlock(d->host);
	err = npu_exec_begin(&d->engine, &d->job, bad ? NULL : dev_ptr(desc.stream_addr),
			     desc.stream_len, d->bufs, bad ? 0 : desc.nbufs);
	d->job.mmu = &d->mmu;
	d->ops->lock(d->host);
	return err ? end_job(d, NPU_RESULT_REFUSED) : 0;
}

/*
 * Runs one slice with the lock released, and yields if the job goes on; returns the interrupt
 * bits to assert.
 */
static u32 run_slice(struct npu_device *d)
{
	u64 t0, dt;
	int rc;

	if (d->tlb_flush) { /* only this context walks the TLB: flushed between slices */
		npu_mmu_flush(&d->mmu);
		d->tlb_flush = 0;
	}
	d->ops->unlock(d->host);
	t0 = now(d);
	rc = npu_exec_step(&d->engine, &d->job, NPU_SLICE_WORK);
	dt = now(d) - t0;
	if (rc > 0)
		d->ops->yield(d->host);
	d->ops->lock(d->host);
	d->slices++;
	if (dt > d->slice_max_ns)
		d->slice_max_ns = dt;
	if (rc > 0)
		return 0;
	if (rc == -ENPU_ERR_STALLED) {
		d->stalled_since = now(d) | 1;
		return 0;
	}
	if (rc == -ENPU_ERR_MMU_FAULT)
		return end_job(d, NPU_RESULT_FAULT);
	if (!rc && pace_hold(d))
		return 0;
	return end_job(d, rc ? NPU_RESULT_REFUSED : NPU_RESULT_DONE);
}

/*
 * A hung engine makes no progress. With HANG_US set, the hang detector ends the job once it
 * has hung that long (and empties the SRAM, as a reset would); else only RESET recovers.
 */
static u32 hung(struct npu_device *d)
{
	u64 limit = (u64)d->hang_us * 1000, waited = now(d) - d->stalled_since;

	if (d->hang_us && waited >= limit) {
		npu_engine_reset(&d->engine);
		return end_job(d, NPU_RESULT_HUNG);
	}
	d->ops->wait(d->host, d->hang_us ? limit - waited : 0);
	return 0;
}

/* Soft reset: the job on the engine ends ABORTED, the SRAM empties, registers go to reset. */
static void reset(struct npu_device *d)
{
	if (d->pace_due_ns) { /* computed but held: still on the engine, so it is aborted */
		d->pace_due_ns = 0;
		d->job.js.c.jobs = 0;
		d->job.state = NPU_EXEC_RUNNING;
	}
	if (d->job.state == NPU_EXEC_RUNNING || d->job.state == NPU_EXEC_STALLED) {
		npu_exec_abort(&d->job, ENPU_ERR_ABORTED, "aborted by engine reset");
		end_job(d, NPU_RESULT_ABORTED);
	}
	npu_engine_reset(&d->engine);
	d->control = 0;
	d->ring_base = 0;
	d->ring_size = 0;
	d->ring_head = 0;
	d->ring_tail = 0;
	d->irq_status = 0;
	d->irq_mask = 0;
	memset(d->as_root, 0, sizeof(d->as_root));
	d->tlb_flush = 0;
	d->fault_addr = 0;
	d->fault_status = 0;
	d->reset = 0;
}

/* The device's execution context: the ring consumer and the engine's clock. */
static void dev_main(void *arg)
{
	struct npu_device *d = arg;
	u32 irq;

	d->ops->lock(d->host);
	while (!d->stop) {
		irq = 0;
		if (d->reset)
			reset(d);
		else if (d->pace_due_ns)
			irq = pace_wait(d);
		else if (d->job.state == NPU_EXEC_RUNNING)
			irq = run_slice(d);
		else if (d->job.state == NPU_EXEC_STALLED)
			irq = hung(d);
		else if (can_fetch(d))
			irq = fetch(d);
		else
			d->ops->wait(d->host, 0);
		if (irq) {
			d->ops->unlock(d->host);
			d->ops->irq(d->host);
			d->ops->lock(d->host);
		}
	}
	d->ops->unlock(d->host);
}

int npu_dev_start(struct npu_device *d)
{
	return d->ops->start(d->host, dev_main, d) ? -1 : 0;
}

void npu_dev_stop(struct npu_device *d)
{
	d->ops->lock(d->host);
	d->stop = 1;
	d->ops->wake(d->host);
	d->ops->unlock(d->host);
	d->ops->join(d->host);
}

/* ---- registers ------------------------------------------------------------------------------ */

static u32 status(const struct npu_device *d)
{
	u32 s = d->power ? NPU_STATUS_POWERED : 0;

	if (d->busy)
		s |= NPU_STATUS_BUSY;
	if (d->stalled_since)
		s |= NPU_STATUS_HUNG;
	if (d->reset)
		s |= NPU_STATUS_RESETTING;
	if (d->hot)
		s |= NPU_STATUS_THERMAL;
	return s;
}

/* The 64-bit counter whose LO register is at off (HI at off + 4); 0 if none. */
static u64 counter64(const struct npu_device *d, u32 off)
{
	switch (off) {
	case NPU_REG_CYCLES_LO:
		return d->engine.total.busy_cycles;
	case NPU_REG_ENERGY_LO:
		return d->engine.total.energy_pj;
	case NPU_REG_JOBS_LO:
		return d->engine.total.jobs;
	case NPU_REG_ERRORS_LO:
		return d->engine.total.errors;
	case NPU_REG_DBG_SLICE_MAX_NS_LO:
		return d->slice_max_ns;
	case NPU_REG_DBG_SLICES_LO:
		return d->slices;
	default:
		return 0;
	}
}

/* The TRANSTAB halves of a slot (COMMAND reads 0). */
static u32 as_read(const struct npu_device *d, u32 off)
{
	u32 n = (off - NPU_REG_AS_BASE) / NPU_REG_AS_STRIDE, r = off % NPU_REG_AS_STRIDE;

	if (r == NPU_REG_AS_TRANSTAB_LO)
		return (u32)d->as_root[n];
	if (r == NPU_REG_AS_TRANSTAB_HI)
		return (u32)(d->as_root[n] >> 32);
	return 0;
}

static u32 reg_read(const struct npu_device *d, u32 off)
{
	const struct npu_hw_params *hw = &d->engine.hw;

	switch (off) {
	case NPU_REG_ID:
		return NPU_ID_VALUE;
	case NPU_REG_VERSION:
		return NPU_VERSION_VALUE;
	case NPU_REG_CAPS:
		return d->engine.caps & NPU_CAP_DEBUG ? NPU_CAPS_DEBUG_STALL : 0;
	case NPU_REG_MAC_ARRAY:
		return hw->mac_rows << 16 | hw->mac_cols;
	case NPU_REG_SRAM_KIB:
		return (u32)(hw->sram_bytes >> 10);
	case NPU_REG_NUM_OPPS:
		return NPU_NUM_OPPS;
	case NPU_REG_CONTROL:
		return d->control;
	case NPU_REG_STATUS:
		return status(d);
	case NPU_REG_RESET:
		return d->reset;
	case NPU_REG_POWER:
		return d->power;
	case NPU_REG_CLOCK:
		return d->clock;
	case NPU_REG_HANG_US:
		return d->hang_us;
	case NPU_REG_RING_BASE_LO:
		return (u32)d->ring_base;
	case NPU_REG_RING_BASE_HI:
		return (u32)(d->ring_base >> 32);
	case NPU_REG_RING_SIZE:
		return d->ring_size;
	case NPU_REG_RING_HEAD:
		return d->ring_head;
	case NPU_REG_RING_TAIL:
		return d->ring_tail;
	case NPU_REG_IRQ_STATUS:
		return d->irq_status;
	case NPU_REG_IRQ_MASK:
		return d->irq_mask;
	case NPU_REG_TEMP_MC:
		return (u32)temp_now(d);
	case NPU_REG_THERM_POWER_UW:
		return d->therm.power_uw > 0xffffffffull ? 0xffffffffu : (u32)d->therm.power_uw;
	case NPU_REG_THERM_CRIT_MC:
		return (u32)d->therm_crit_mc;
	case NPU_REG_SIM_THERM_R:
		return d->therm.p.r_mk_per_w;
	case NPU_REG_SIM_THERM_C:
		return d->therm.p.c_nj_per_k;
	case NPU_REG_SIM_THERM_AMBIENT:
		return (u32)d->therm.p.ambient_mc;
	case NPU_REG_SIM_PACE:
		return d->pace;
	case NPU_REG_MMU_FAULT_ADDR_LO:
		return (u32)d->fault_addr;
	case NPU_REG_MMU_FAULT_ADDR_HI:
		return (u32)(d->fault_addr >> 32);
	case NPU_REG_MMU_FAULT_STATUS:
		return d->fault_status;
	default:
		if (off >= NPU_REG_AS_BASE && off < NPU_REG_AS(NPU_AS_SLOTS, 0))
			return as_read(d, off);
		/* 64-bit counters: a driver reads HI around LO until HI is stable */
		return off & 4 ? (u32)(counter64(d, off - 4) >> 32) : (u32)counter64(d, off);
	}
}

u32 npu_dev_read(struct npu_device *d, u32 off)
{
	u32 v;

	d->ops->lock(d->host);
	v = reg_read(d, off);
	d->ops->unlock(d->host);
	return v;
}

/* Ring geometry may change only while the consumer is off. */
static void ring_write(struct npu_device *d, u32 off, u32 val)
{
	if (d->control & NPU_CONTROL_ENABLE)
		return;
	if (off == NPU_REG_RING_BASE_LO)
		d->ring_base = (d->ring_base & ~0xffffffffull) | val;
	else if (off == NPU_REG_RING_BASE_HI)
		d->ring_base = (d->ring_base & 0xffffffffull) | (u64)val << 32;
	else if (val <= NPU_RING_MAX_SIZE && !(val & (val - 1)))
		d->ring_size = val;
}

/* Writes that give the device's context something to do wake it; the others only store. */
static void reg_write_wake(struct npu_device *d, u32 off, u32 val)
{
	switch (off) {
	case NPU_REG_CONTROL:
		d->control = val & NPU_CONTROL_ENABLE;
		break;
	case NPU_REG_RESET:
		d->reset |= val & 1;
		break;
	case NPU_REG_HANG_US:
		d->hang_us = val;
		break;
	default: /* DOORBELL */
		break;
	}
	d->ops->wake(d->host);
}

/* A slot's registers: its table root (used by the jobs fetched after), or a TLB flush. */
static void as_write(struct npu_device *d, u32 off, u32 val)
{
	u32 n = (off - NPU_REG_AS_BASE) / NPU_REG_AS_STRIDE, r = off % NPU_REG_AS_STRIDE;
	u64 *root = &d->as_root[n];

	if (r == NPU_REG_AS_TRANSTAB_LO)
		*root = (*root & ~0xffffffffull) | (val & (u32)NPU_PTE_ADDR_MASK);
	else if (r == NPU_REG_AS_TRANSTAB_HI)
		*root = (*root & 0xffffffffull) | ((u64)val << 32 & NPU_PTE_ADDR_MASK);
	else if (r == NPU_REG_AS_COMMAND && (val & NPU_AS_COMMAND_FLUSH))
		d->tlb_flush = 1;
}

/* Idle cooling up to now is due under the settings in force so far. */
static void therm_settle(struct npu_device *d)
{
	if (!d->busy)
		therm_idle(d);
}

static void therm_write(struct npu_device *d, u32 off, u32 val)
{
	struct npu_thermal_params p = d->therm.p;

	therm_settle(d);
	if (off == NPU_REG_SIM_THERM_R)
		p.r_mk_per_w = val;
	else if (off == NPU_REG_SIM_THERM_C)
		p.c_nj_per_k = val;
	else
		p.ambient_mc = (s32)val;
	npu_thermal_set(&d->therm, &p);
}

/* Returns the interrupt bits that the write made pending and unmasked. */
static u32 reg_write(struct npu_device *d, u32 off, u32 val)
{
	switch (off) {
	case NPU_REG_CONTROL:
	case NPU_REG_RESET:
	case NPU_REG_HANG_US:
	case NPU_REG_DOORBELL:
		reg_write_wake(d, off, val);
		break;
	case NPU_REG_POWER:
		/* power can only be cut when idle; the SRAM forgets its weights */
		if (val) {
			d->power = 1;
			d->ops->wake(d->host); /* jobs may be waiting on the ring */
		} else if (!d->busy && d->power) {
			d->power = 0;
			npu_engine_reset(&d->engine);
		}
		break;
	case NPU_REG_CLOCK:
		if (val < NPU_NUM_OPPS)
			d->clock = val;
		break;
	case NPU_REG_SIM_PACE:
		therm_settle(d); /* the idle time so far at the old pace */
		d->pace = val < NPU_SIM_PACE_MAX ? val : NPU_SIM_PACE_MAX;
		break;
	case NPU_REG_THERM_CRIT_MC:
		d->therm_crit_mc = (s32)val;
		break;
	case NPU_REG_SIM_THERM_R:
	case NPU_REG_SIM_THERM_C:
	case NPU_REG_SIM_THERM_AMBIENT:
		therm_write(d, off, val);
		break;
	case NPU_REG_RING_BASE_LO:
	case NPU_REG_RING_BASE_HI:
	case NPU_REG_RING_SIZE:
		ring_write(d, off, val);
		break;
	case NPU_REG_RING_TAIL:
		d->ring_tail = val;
		break;
	case NPU_REG_IRQ_MASK:
		d->irq_mask = val & (NPU_IRQ_JOB_DONE | NPU_IRQ_JOB_ERROR | NPU_IRQ_MMU_FAULT);
		return d->irq_status & d->irq_mask;
	case NPU_REG_IRQ_CLEAR:
		d->irq_status &= ~val;
		break;
	default:
		if (off >= NPU_REG_AS_BASE && off < NPU_REG_AS(NPU_AS_SLOTS, 0))
			as_write(d, off, val);
		break;
	}
	return 0;
}

void npu_dev_write(struct npu_device *d, u32 off, u32 val)
{
	u32 irq;

	d->ops->lock(d->host);
	irq = reg_write(d, off, val);
	d->ops->unlock(d->host);
	if (irq)
		d->ops->irq(d->host);
}
