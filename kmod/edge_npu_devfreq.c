// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_devfreq.c - DVFS (devfreq over the engine's operating-point table), busy/idle
 * accounting from the job queue, runtime PM with autosuspend and the modeled power state.
 *
 * The OPP table given to devfreq is npu_opp_table[] itself, so /sys/class/devfreq/<dev>/
 * available_frequencies, trans_stat and cur_freq are in the same units as the engine's time
 * and energy model, and the devfreq target sets the engines' operating point. The governor is
 * simple_ondemand (the only one Debian's kernel builds, as a module); min_freq and max_freq
 * are enforced by the devfreq core, so an administrator pins a frequency F by writing F to
 * both (see kmod/README.md). Without the governor module, the device runs at its highest
 * operating point without DVFS and says so.
 *
 * Per-job clock requests (SUBMIT's freq_khz, the scheduler's power manager knowing the demand
 * before the load window shows it): a job's request is counted from its start to its end;
 * the request in force is the highest of the running jobs' requests, or, when none runs, the
 * most recently started job's (cleared by a job without one and by runtime suspend). When a
 * job's start changes it, the driver re-evaluates devfreq at once (update_devfreq), and the
 * target callback puts the request in force, clamped to the bounds devfreq's core enforces
 * (sysfs min_freq/max_freq, PM QoS and thermal cooling, disabled OPPs), in place of the load
 * governor's choice: the admin's bounds win over the request, the request over the load. A
 * governor the admin set in place of simple_ondemand (where the kernel has another) wins too.
 * Every change goes through devfreq's core, so cur_freq and trans_stat show it.
 *
 * Runtime PM: a job takes a reference for as long as it runs; the device autosuspends
 * autosuspend_ms after the last job. Suspending models powering the NPU off: the engines'
 * SRAM contents (resident weights) are lost.
 */
#include <linux/devfreq.h>
#include <linux/pm_opp.h>
#include <linux/pm_runtime.h>
#include <drm/drm_drv.h>

#include "edge_npu_drv.h"

static void enpu_pm_update_utilization(struct enpu_pm *pm)
{
	ktime_t now = ktime_get(), last = pm->time_last_update;

	if (pm->busy_count > 0)
		pm->busy_time = ktime_add(pm->busy_time, ktime_sub(now, last));
	else
		pm->idle_time = ktime_add(pm->idle_time, ktime_sub(now, last));
	pm->time_last_update = now;
}

static unsigned long enpu_opp_hz(u32 opp)
{
	return (unsigned long)npu_opp_table[opp].freq_mhz * 1000000;
}

/**
 * enpu_pm_freq_request() - checks a job's clock request (SUBMIT's freq_khz).
 * @khz: the request, kHz; 0 for none.
 *
 * Return: the operating point asked for (the lowest at or above @khz), %ENPU_NO_FREQ_REQUEST
 * for none, or -EINVAL when @khz lies outside the device's operating points.
 */
int enpu_pm_freq_request(u32 khz)
{
	u32 i;

	if (!khz)
		return ENPU_NO_FREQ_REQUEST;
	if (khz < npu_opp_table[0].freq_mhz * 1000 ||
	    khz > npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000)
		return -EINVAL;
	for (i = 0; npu_opp_table[i].freq_mhz * 1000 < khz; i++)
		;
	return i;
}

/* &enpu_pm.req_applied when the request in force may differ from the clock devfreq set. */
#define ENPU_FREQ_REQUEST_STALE	(-2)

/* The request in force (an OPP, or ENPU_NO_FREQ_REQUEST); pm->lock held. */
static int enpu_pm_request_locked(const struct enpu_pm *pm)
{
	int i;

	for (i = NPU_NUM_OPPS - 1; i >= 0; i--)
		if (pm->req_running[i])
			return i;
	return pm->req_last;
}

static int enpu_pm_request(struct enpu_pm *pm)
{
	unsigned long flags;
	int req;

	spin_lock_irqsave(&pm->lock, flags);
	req = enpu_pm_request_locked(pm);
	spin_unlock_irqrestore(&pm->lock, flags);
	return req;
}

static void enpu_set_opp(struct enpu_device *edev, u32 opp);

/*
 * Puts a new request in force now, before the job that changed it is posted: through
 * devfreq's core (its target callback picks the request within the bounds), or, without
 * devfreq, directly (the highest OPP when there is no request, as without DVFS). Either way
 * the request is read again under a lock that orders the changes: two engines' jobs starting
 * at once computed theirs under pm->lock, but would apply them in either order after it, and
 * the older could win (devfreq's target reads it under df->lock; here, opp_lock).
 */
static void enpu_pm_apply_request(struct enpu_device *edev)
{
	struct devfreq *df = edev->pm.devfreq;
	int req;

	if (df) {
		mutex_lock(&df->lock);
		update_devfreq(df);
		mutex_unlock(&df->lock);
		return;
	}
	mutex_lock(&edev->pm.opp_lock);
	req = enpu_pm_request(&edev->pm);
	enpu_set_opp(edev, req == ENPU_NO_FREQ_REQUEST ? NPU_NUM_OPPS - 1 : req);
	mutex_unlock(&edev->pm.opp_lock);
}

/**
 * enpu_pm_job_begin() - powers the device up (if needed) and marks it busy for one job.
 * @edev: the device.
 * @req: the job's clock request (enpu_pm_freq_request()), in force from now on.
 *
 * Return: 0, -ENODEV once the device is unplugged, or the runtime PM error.
 */
int enpu_pm_job_begin(struct enpu_device *edev, int req)
{
	unsigned long flags;
	int idx, ret, want;
	bool changed;

	/*
	 * After unplug, enpu_remove() waits for the jobs that got here and then tears runtime PM
	 * and devfreq down: a job that starts later fails instead of using them.
	 */
	if (!drm_dev_enter(&edev->drm, &idx))
		return -ENODEV;
	ret = pm_runtime_resume_and_get(edev->drm.dev);
	drm_dev_exit(idx);
	if (ret < 0)
		return ret;
	spin_lock_irqsave(&edev->pm.lock, flags);
	enpu_pm_update_utilization(&edev->pm);
	edev->pm.busy_count++;
	if (req != ENPU_NO_FREQ_REQUEST)
		edev->pm.req_running[req]++;
	edev->pm.req_last = req;
	want = enpu_pm_request_locked(&edev->pm);
	changed = want != edev->pm.req_applied;
	edev->pm.req_applied = want;
	spin_unlock_irqrestore(&edev->pm.lock, flags);
	if (changed)
		enpu_pm_apply_request(edev);
	return 0;
}

/**
 * enpu_pm_job_end() - marks one job done; the device autosuspends when idle.
 * @edev: the device.
 * @req: the job's clock request, as given to enpu_pm_job_begin().
 */
void enpu_pm_job_end(struct enpu_device *edev, int req)
{
	unsigned long flags;

	spin_lock_irqsave(&edev->pm.lock, flags);
	enpu_pm_update_utilization(&edev->pm);
	if (!WARN_ON(!edev->pm.busy_count))
		edev->pm.busy_count--;
	if (req != ENPU_NO_FREQ_REQUEST && !WARN_ON(!edev->pm.req_running[req]))
		edev->pm.req_running[req]--;
	/* a lower request may be in force now: devfreq's next poll applies it, the next job's
	 * start at the latest */
	if (enpu_pm_request_locked(&edev->pm) != edev->pm.req_applied)
		edev->pm.req_applied = ENPU_FREQ_REQUEST_STALE;
	spin_unlock_irqrestore(&edev->pm.lock, flags);
	pm_runtime_mark_last_busy(edev->drm.dev);
	pm_runtime_put_autosuspend(edev->drm.dev);
}

/**
 * enpu_pm_cur_freq_mhz() - the clock the engines run at.
 * @edev: the device.
 *
 * Return: MHz.
 */
u32 enpu_pm_cur_freq_mhz(struct enpu_device *edev)
{
	return npu_opp_table[READ_ONCE(edev->pm.cur_opp)].freq_mhz;
}

/*
 * Exported by devfreq's core for governors (EXPORT_SYMBOL in 6.1 and 6.12, the same signature);
 * its prototype is in drivers/devfreq/governor.h, which the kernel's header packages do not
 * ship, and the PM QoS reader it is built on is not exported, so it is the one way to honour
 * thermal cooling's cap. The range every governor must keep to:
 * sysfs min_freq/max_freq and other PM QoS frequency requests (thermal cooling), and the
 * OPPs enabled. Needs devfreq->lock.
 */
void devfreq_get_freq_range(struct devfreq *devfreq, unsigned long *min_freq,
			    unsigned long *max_freq);

/* enpu_pm_freq_bounds() with the devfreq lock held (devfreq's callbacks). */
static void enpu_pm_freq_bounds_locked(struct enpu_device *edev, unsigned long *min_hz,
				       unsigned long *max_hz)
{
	if (edev->pm.devfreq) {
		devfreq_get_freq_range(edev->pm.devfreq, min_hz, max_hz);
	} else {
		*min_hz = enpu_opp_hz(0);
		*max_hz = enpu_opp_hz(NPU_NUM_OPPS - 1);
	}
}

/**
 * enpu_pm_freq_bounds() - the clock range devfreq may choose from now.
 * @edev: the device.
 * @min_hz: the min_freq bound (the lowest OPP without devfreq).
 * @max_hz: the max_freq bound (the highest OPP without devfreq).
 *
 * Process context (takes the devfreq lock).
 */
void enpu_pm_freq_bounds(struct enpu_device *edev, unsigned long *min_hz, unsigned long *max_hz)
{
	struct devfreq *df = edev->pm.devfreq;

	if (df)
		mutex_lock(&df->lock);
	enpu_pm_freq_bounds_locked(edev, min_hz, max_hz);
	if (df)
		mutex_unlock(&df->lock);
}

static void enpu_set_opp(struct enpu_device *edev, u32 opp)
{
	u32 old = READ_ONCE(edev->pm.cur_opp), i;

	WRITE_ONCE(edev->pm.cur_opp, opp);
	for (i = 0; i < edev->num_engines; i++)
		enpu_reg_write(edev->queues[i]->hw, NPU_REG_CLOCK, opp);
	if (opp != old)
		enpu_genl_freq_change(edev, (u64)npu_opp_table[old].freq_mhz * 1000000,
				      (u64)npu_opp_table[opp].freq_mhz * 1000000);
}

static struct devfreq_simple_ondemand_data enpu_ondemand = {
	.upthreshold = 50,
	.downdifferential = 10,
};

/*
 * Throttling, as a telemetry event: the device is busier than the governor's up-threshold
 * (it would go to a higher clock) but already runs at the max_freq bound, below the highest
 * OPP. Reported when that starts and when it stops. Called from get_dev_status, under the
 * devfreq lock, with the window's load.
 */
static void enpu_pm_check_throttle(struct enpu_device *edev, u64 busy, u64 total)
{
	unsigned long min_hz, max_hz, cur_hz = (unsigned long)enpu_pm_cur_freq_mhz(edev) * 1000000;
	unsigned long top_hz = (unsigned long)npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000;
	bool throttled;

	if (!edev->pm.devfreq || !total)
		return;
	enpu_pm_freq_bounds_locked(edev, &min_hz, &max_hz);
	throttled = div64_u64(busy * 100, total) >= enpu_ondemand.upthreshold &&
		    max_hz < top_hz && cur_hz >= max_hz;
	if (throttled != edev->pm.throttled) {
		edev->pm.throttled = throttled;
		enpu_genl_throttle(edev, throttled, cur_hz, max_hz);
	}
}

/*
 * devfreq's core hands the governor's choice, already within the bounds; a job's request in
 * force replaces it, clamped to the same bounds (the admin wins): to the highest OPP at or
 * below max_freq, the lowest at or above min_freq.
 */
static int enpu_devfreq_target(struct device *dev, unsigned long *freq, u32 flags)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	int req = enpu_pm_request(&edev->pm);
	struct dev_pm_opp *opp;
	u32 i;

	/* a governor the admin chose instead of the load-driven one wins too */
	if (req != ENPU_NO_FREQ_REQUEST && edev->pm.devfreq &&
	    edev->pm.devfreq->governor == edev->pm.ondemand) {
		unsigned long min_hz, max_hz;

		enpu_pm_freq_bounds_locked(edev, &min_hz, &max_hz);
		*freq = clamp(enpu_opp_hz(req), min_hz, max_hz);
		flags = *freq < enpu_opp_hz(req) ? DEVFREQ_FLAG_LEAST_UPPER_BOUND : 0;
	}
	opp = devfreq_recommended_opp(dev, freq, flags);
	if (IS_ERR(opp))
		return PTR_ERR(opp);
	*freq = dev_pm_opp_get_freq(opp);
	dev_pm_opp_put(opp);

	for (i = 0; i < NPU_NUM_OPPS; i++)
		if ((unsigned long)npu_opp_table[i].freq_mhz * 1000000 == *freq)
			break;
	if (i == NPU_NUM_OPPS)
		return -EINVAL;
	enpu_set_opp(edev, i);
	return 0;
}

static int enpu_devfreq_get_dev_status(struct device *dev, struct devfreq_dev_status *status)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	struct enpu_pm *pm = &edev->pm;
	unsigned long flags;

	status->current_frequency = (unsigned long)enpu_pm_cur_freq_mhz(edev) * 1000000;
	spin_lock_irqsave(&pm->lock, flags);
	enpu_pm_update_utilization(pm);
	status->busy_time = ktime_to_ns(pm->busy_time);
	status->total_time = ktime_to_ns(ktime_add(pm->busy_time, pm->idle_time));
	pm->busy_time = 0;
	pm->idle_time = 0;
	spin_unlock_irqrestore(&pm->lock, flags);
	enpu_pm_check_throttle(edev, status->busy_time, status->total_time);
	return 0;
}

static int enpu_devfreq_get_cur_freq(struct device *dev, unsigned long *freq)
{
	*freq = (unsigned long)enpu_pm_cur_freq_mhz(dev_get_drvdata(dev)) * 1000000;
	return 0;
}

static struct devfreq_dev_profile enpu_devfreq_profile = {
	.polling_ms = 50,
	.timer = DEVFREQ_TIMER_DELAYED,
	.target = enpu_devfreq_target,
	.get_dev_status = enpu_devfreq_get_dev_status,
	.get_cur_freq = enpu_devfreq_get_cur_freq,
};


static int enpu_devfreq_init(struct enpu_device *edev)
{
	struct device *dev = edev->drm.dev;
	struct devfreq *devfreq;
	int i, ret;

	for (i = 0; i < NPU_NUM_OPPS; i++) {
		ret = dev_pm_opp_add(dev, (unsigned long)npu_opp_table[i].freq_mhz * 1000000,
				     (unsigned long)npu_opp_table[i].volt_mv * 1000);
		if (ret) {
			dev_pm_opp_remove_all_dynamic(dev);
			return ret;
		}
	}
	/* The profile is shared by every device; initial_freq is the same for all. */
	enpu_devfreq_profile.initial_freq =
		(unsigned long)npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000;
	devfreq = devfreq_add_device(dev, &enpu_devfreq_profile, DEVFREQ_GOV_SIMPLE_ONDEMAND,
				     &enpu_ondemand);
	if (IS_ERR(devfreq)) {
		dev_pm_opp_remove_all_dynamic(dev);
		dev_info(dev, "no devfreq (%pe): load governor_simpleondemand for DVFS\n",
			 devfreq);
		return 0;
	}
	edev->pm.devfreq = devfreq;
	edev->pm.ondemand = devfreq->governor;
	return 0;
}

/**
 * enpu_pm_init() - sets up runtime PM (device starts powered off) and devfreq.
 * @edev: the device.
 *
 * Return: 0 or a negative errno (runtime PM then disabled again). Missing devfreq governors
 * are not an error.
 */
int enpu_pm_init(struct enpu_device *edev)
{
	struct device *dev = edev->drm.dev;
	int ret;

	spin_lock_init(&edev->pm.lock);
	mutex_init(&edev->pm.opp_lock);
	edev->pm.time_last_update = ktime_get();
	edev->pm.cur_opp = NPU_NUM_OPPS - 1;
	edev->pm.req_last = ENPU_NO_FREQ_REQUEST;
	edev->pm.req_applied = ENPU_NO_FREQ_REQUEST;

	pm_runtime_set_autosuspend_delay(dev, enpu_autosuspend_ms);
	pm_runtime_use_autosuspend(dev);
	pm_runtime_enable(dev);
	ret = enpu_devfreq_init(edev);
	if (ret) { /* a failed init leaves nothing behind: probe does not call enpu_pm_fini() */
		pm_runtime_dont_use_autosuspend(dev);
		pm_runtime_disable(dev);
	}
	return ret;
}

/**
 * enpu_pm_fini() - undoes enpu_pm_init(); the queues must be idle.
 * @edev: the device.
 */
void enpu_pm_fini(struct enpu_device *edev)
{
	struct device *dev = edev->drm.dev;

	if (edev->pm.devfreq) {
		devfreq_remove_device(edev->pm.devfreq);
		edev->pm.devfreq = NULL;
		dev_pm_opp_remove_all_dynamic(dev);
	}
	pm_runtime_dont_use_autosuspend(dev);
	pm_runtime_disable(dev);
}

static int enpu_runtime_suspend(struct device *dev)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	unsigned long flags;
	u32 i;

	/*
	 * An idle device forgets the last job's clock request: the governor decides again, and
	 * the next job with a request puts it in force again. Without requests nothing changes:
	 * jobs start without re-evaluating devfreq, as before requests existed.
	 */
	spin_lock_irqsave(&edev->pm.lock, flags);
	if (edev->pm.req_last != ENPU_NO_FREQ_REQUEST) {
		edev->pm.req_last = ENPU_NO_FREQ_REQUEST;
		edev->pm.req_applied = ENPU_FREQ_REQUEST_STALE;
	}
	spin_unlock_irqrestore(&edev->pm.lock, flags);
	/* Power off: the SRAM forgets its resident weights. */
	for (i = 0; i < edev->num_engines; i++)
		enpu_reg_write(edev->queues[i]->hw, NPU_REG_POWER, 0);
	WRITE_ONCE(edev->pm.powered, false);
	edev->pm.suspends++;
	enpu_genl_power_state(edev, false);
	return 0;
}

static int enpu_runtime_resume(struct device *dev)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		enpu_reg_write(edev->queues[i]->hw, NPU_REG_POWER, 1);
	WRITE_ONCE(edev->pm.powered, true);
	enpu_genl_power_state(edev, true);
	return 0;
}

const struct dev_pm_ops enpu_pm_ops = {
	SET_RUNTIME_PM_OPS(enpu_runtime_suspend, enpu_runtime_resume, NULL)
};
