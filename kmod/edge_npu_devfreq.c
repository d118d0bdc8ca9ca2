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

/**
 * enpu_pm_job_begin() - powers the device up (if needed) and marks it busy for one job.
 * @edev: the device.
 *
 * Return: 0, -ENODEV once the device is unplugged, or the runtime PM error.
 */
int enpu_pm_job_begin(struct enpu_device *edev)
{
	unsigned long flags;
	int idx, ret;

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
	spin_unlock_irqrestore(&edev->pm.lock, flags);
	return 0;
}

/**
 * enpu_pm_job_end() - marks one job done; the device autosuspends when idle.
 * @edev: the device.
 */
void enpu_pm_job_end(struct enpu_device *edev)
{
	unsigned long flags;

	spin_lock_irqsave(&edev->pm.lock, flags);
	enpu_pm_update_utilization(&edev->pm);
	if (!WARN_ON(!edev->pm.busy_count))
		edev->pm.busy_count--;
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

/**
 * enpu_pm_freq_bounds() - the clock range devfreq may choose from now.
 * @edev: the device.
 * @min_hz: the min_freq bound (the lowest OPP without devfreq).
 * @max_hz: the max_freq bound (the highest OPP without devfreq).
 */
void enpu_pm_freq_bounds(struct enpu_device *edev, unsigned long *min_hz, unsigned long *max_hz)
{
	struct devfreq *df = edev->pm.devfreq;

	*min_hz = (unsigned long)npu_opp_table[0].freq_mhz * 1000000;
	*max_hz = (unsigned long)npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000;
	if (df) {
		*min_hz = max(*min_hz, READ_ONCE(df->scaling_min_freq));
		*max_hz = min(*max_hz, READ_ONCE(df->scaling_max_freq));
	}
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
	enpu_pm_freq_bounds(edev, &min_hz, &max_hz);
	throttled = div64_u64(busy * 100, total) >= enpu_ondemand.upthreshold &&
		    max_hz < top_hz && cur_hz >= max_hz;
	if (throttled != edev->pm.throttled) {
		edev->pm.throttled = throttled;
		enpu_genl_throttle(edev, throttled, cur_hz, max_hz);
	}
}

static int enpu_devfreq_target(struct device *dev, unsigned long *freq, u32 flags)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	struct dev_pm_opp *opp;
	u32 i;

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
	return 0;
}

/**
 * enpu_pm_init() - sets up runtime PM (device starts powered off) and devfreq.
 * @edev: the device.
 *
 * Return: 0 or a negative errno. Missing devfreq governors are not an error.
 */
int enpu_pm_init(struct enpu_device *edev)
{
	struct device *dev = edev->drm.dev;

	spin_lock_init(&edev->pm.lock);
	edev->pm.time_last_update = ktime_get();
	edev->pm.cur_opp = NPU_NUM_OPPS - 1;

	pm_runtime_set_autosuspend_delay(dev, enpu_autosuspend_ms);
	pm_runtime_use_autosuspend(dev);
	pm_runtime_enable(dev);
	return enpu_devfreq_init(edev);
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
	u32 i;

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
