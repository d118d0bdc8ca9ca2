// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_sysfs.c - read-only device attributes, in /sys/bus/platform/devices/edge-npu.N/npu/.
 *
 *   power_state    "on" or "off": the modeled power state (runtime PM resumed or suspended)
 *   opp            "<index> <MHz> <mV>": the operating point the engines run at
 *   engines        number of engines
 *   engine_resets  resets after job timeouts, all engines
 *   jobs_completed jobs that completed successfully
 *   jobs_failed    jobs that completed with an error (timeout)
 *   busy_cycles    modeled cycles of completed jobs
 *   energy_uj      modeled energy of completed jobs, microjoules (root only: 0400)
 *   bo_count       live buffer objects (created or imported)
 *   runtime_suspends  times the device powered off
 *   pinned_pages   BO pages the contexts' address spaces map (and so pin) now
 *   mmu_faults     jobs ended by a device MMU fault
 */
#include <linux/device.h>
#include <linux/sysfs.h>

#include "edge_npu_drv.h"

static struct enpu_device *enpu_from_dev(struct device *dev)
{
	return dev_get_drvdata(dev);
}

static ssize_t power_state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", READ_ONCE(enpu_from_dev(dev)->pm.powered) ? "on" : "off");
}
static DEVICE_ATTR_RO(power_state);

static ssize_t opp_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	u32 opp = READ_ONCE(enpu_from_dev(dev)->pm.cur_opp);

	return sysfs_emit(buf, "%u %u %u\n", opp, npu_opp_table[opp].freq_mhz,
			  npu_opp_table[opp].volt_mv);
}
static DEVICE_ATTR_RO(opp);

static ssize_t engines_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", enpu_from_dev(dev)->num_engines);
}
static DEVICE_ATTR_RO(engines);

static ssize_t engine_resets_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct enpu_device *edev = enpu_from_dev(dev);
	u64 n = 0;
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		n += READ_ONCE(edev->queues[i]->resets);
	return sysfs_emit(buf, "%llu\n", n);
}
static DEVICE_ATTR_RO(engine_resets);

/* The longest slice of engine work any engine ran (host time): how long the NPU can hold a CPU. */
static ssize_t max_slice_ns_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct enpu_device *edev = enpu_from_dev(dev);
	u64 m = 0;
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		m = max(m, enpu_reg_read64(edev->queues[i]->hw, NPU_REG_DBG_SLICE_MAX_NS_LO));
	return sysfs_emit(buf, "%llu\n", m);
}
static DEVICE_ATTR_RO(max_slice_ns);

#define ENPU_ATOMIC64_ATTR(name, field, div)						\
static ssize_t name##_show(struct device *dev, struct device_attribute *attr, char *buf)	\
{											\
	return sysfs_emit(buf, "%llu\n",						\
			  (u64)atomic64_read(&enpu_from_dev(dev)->field) / (div));	\
}											\
static DEVICE_ATTR_RO(name)

ENPU_ATOMIC64_ATTR(jobs_completed, jobs_done, 1);
ENPU_ATOMIC64_ATTR(jobs_failed, jobs_failed, 1);
ENPU_ATOMIC64_ATTR(busy_cycles, busy_cycles, 1);
ENPU_ATOMIC64_ATTR(pinned_pages, pinned_pages, 1);
ENPU_ATOMIC64_ATTR(mmu_faults, mmu_faults, 1);
ENPU_ATOMIC64_ATTR(prio_aged, prio_aged, 1);

/*
 * Device-wide energy integrates every client's work: readable by root only (mode 0400), as the
 * kernel's RAPL powercap energy_uj is since the PLATYPUS side channel (CVE-2020-8694).
 */
static ssize_t energy_uj_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  div_u64(atomic64_read(&enpu_from_dev(dev)->energy_pj), 1000000));
}
static DEVICE_ATTR_ADMIN_RO(energy_uj);

static ssize_t bo_count_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&enpu_from_dev(dev)->bo_count));
}
static DEVICE_ATTR_RO(bo_count);

static ssize_t runtime_suspends_show(struct device *dev, struct device_attribute *attr,
				     char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(enpu_from_dev(dev)->pm.suspends));
}
static DEVICE_ATTR_RO(runtime_suspends);

static struct attribute *enpu_attrs[] = {
	&dev_attr_power_state.attr,
	&dev_attr_opp.attr,
	&dev_attr_engines.attr,
	&dev_attr_engine_resets.attr,
	&dev_attr_jobs_completed.attr,
	&dev_attr_jobs_failed.attr,
	&dev_attr_busy_cycles.attr,
	&dev_attr_energy_uj.attr,
	&dev_attr_bo_count.attr,
	&dev_attr_runtime_suspends.attr,
	&dev_attr_max_slice_ns.attr,
	&dev_attr_pinned_pages.attr,
	&dev_attr_mmu_faults.attr,
	&dev_attr_prio_aged.attr,
	NULL,
};

static const struct attribute_group enpu_attr_group = {
	.name = "npu",
	.attrs = enpu_attrs,
};

const struct attribute_group *enpu_dev_groups[] = {
	&enpu_attr_group,
	NULL,
};
