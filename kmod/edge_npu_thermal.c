// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_thermal.c - the device's thermal zone, its devfreq cooling device with a power
 * model, hwmon temp1_input, and the thermal events on the genl group.
 *
 * The die temperature is the silicon's (TEMP_MC of each engine, silicon/npu_thermal.h: the
 * modeled core power through an RC network to ambient); the zone reads the hottest engine.
 * The zone has two trip points, passive and critical, writable in sysfs
 * (trip_point_N_temp). The devfreq cooling device is bound to the passive trip, so the
 * zone's governor (step_wise by default; power_allocator with the power model below) caps
 * the NPU clock through a PM QoS max-frequency request that devfreq folds into max_freq.
 *
 * The power model is an energy model (EM) performance domain over the OPP table: each OPP's
 * power is the silicon's full-load core power at that clock and voltage
 * (npu_thermal_opp_power_uw()) times the engines, which devfreq_cooling scales by the load
 * devfreq measured. The zone's sustainable power, for power_allocator, is what the thermal
 * path carries at the passive trip: (T_passive - T_ambient) / R.
 *
 * The critical trip reports (log, genl event) and does not shut the machine down: the
 * silicon protects itself (THERM_CRIT_MC forces its lowest clock), as NPUs with their own
 * thermal trip do; the kernel's default would power the host off for a peripheral.
 */
#include <linux/devfreq.h>
#include <linux/devfreq_cooling.h>
#include <linux/energy_model.h>
#include <linux/hwmon.h>
#include <linux/module.h>
#include <linux/thermal.h>

#include "edge_npu_drv.h"
#include "silicon/npu_thermal.h"
#include "../uapi/edge_npu_genl.h"

/* The die's thermal path: handed to the silicon with each job (edge_npu_platform.c). */
unsigned int enpu_thermal_r = 250000;
module_param_named(thermal_r_mk_per_w, enpu_thermal_r, uint, 0644);
MODULE_PARM_DESC(thermal_r_mk_per_w, "die-to-ambient thermal resistance, mK/W (250000)");
unsigned int enpu_thermal_c = 400000000;
module_param_named(thermal_c_nj_per_k, enpu_thermal_c, uint, 0644);
MODULE_PARM_DESC(thermal_c_nj_per_k,
		 "die thermal capacitance, nJ/K (400000000: tau = R C = 100 s; tests use less)");
int enpu_thermal_ambient = 35000;
module_param_named(thermal_ambient_mc, enpu_thermal_ambient, int, 0644);
MODULE_PARM_DESC(thermal_ambient_mc, "ambient temperature, mdegC (35000)");
static int enpu_thermal_passive = 60000;
module_param_named(thermal_passive_mc, enpu_thermal_passive, int, 0444);
MODULE_PARM_DESC(thermal_passive_mc, "passive trip point at probe, mdegC (60000)");
static int enpu_thermal_critical = 95000;
module_param_named(thermal_critical_mc, enpu_thermal_critical, int, 0444);
MODULE_PARM_DESC(thermal_critical_mc, "critical trip point at probe, mdegC (95000)");
static unsigned int enpu_thermal_poll_ms = 100;
module_param_named(thermal_poll_ms, enpu_thermal_poll_ms, uint, 0444);
MODULE_PARM_DESC(thermal_poll_ms, "thermal zone polling period, ms (100)");

#define ENPU_TRIP_PASSIVE	0
#define ENPU_TRIP_CRITICAL	1
#define ENPU_TRIP_HYST_MC	2000

static struct enpu_device *enpu_tz_edev(struct thermal_zone_device *tz)
{
#ifdef ENPU_THERMAL_ZONE_PRIV
	return thermal_zone_device_priv(tz);
#else
	return tz->devdata;
#endif
}

/**
 * enpu_thermal_temp_mc() - the die temperature: the hottest engine's TEMP_MC.
 * @edev: the device.
 *
 * Return: m°C.
 */
int enpu_thermal_temp_mc(struct enpu_device *edev)
{
	int t = INT_MIN;
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		t = max(t, (int)enpu_reg_read(edev->queues[i]->hw, NPU_REG_TEMP_MC));
	return t;
}

/**
 * enpu_thermal_state() - the die against the zone's trip points (genl, sysfs).
 * @edev: the device.
 * @cooling_state: the cooling device's state, 0 without one.
 *
 * Return: an &enum edge_npu_thermal_state.
 */
u32 enpu_thermal_state(struct enpu_device *edev, u32 *cooling_state)
{
	struct enpu_thermal *th = &edev->thermal;

	*cooling_state = READ_ONCE(th->cooling_state);
	if (!th->tz)
		return EDGE_NPU_THERMAL_NORMAL;
	if (READ_ONCE(th->above[ENPU_TRIP_CRITICAL]))
		return EDGE_NPU_THERMAL_CRITICAL;
	return READ_ONCE(th->above[ENPU_TRIP_PASSIVE]) ? EDGE_NPU_THERMAL_PASSIVE
						       : EDGE_NPU_THERMAL_NORMAL;
}

/*
 * Trip crossings and the cooling device's state, as genl events. Called at each reading of
 * the zone (its polling, under the zone's lock), which is also when the governor acts: a
 * throttling change made after the previous reading is reported at this one.
 */
static void enpu_thermal_events(struct enpu_device *edev, int temp)
{
	struct enpu_thermal *th = &edev->thermal;
	unsigned long state = 0;
	int i;

	for (i = 0; i < ENPU_THERMAL_TRIPS; i++) {
		int trip = READ_ONCE(th->trips[i].temperature);
		bool above = th->above[i] ? temp > trip - th->trips[i].hysteresis : temp >= trip;

		if (above != th->above[i]) {
			WRITE_ONCE(th->above[i], above);
			enpu_genl_thermal_trip(edev, temp, i, trip, above);
		}
	}
	if (th->cdev && th->cdev->ops->get_cur_state)
		th->cdev->ops->get_cur_state(th->cdev, &state);
	if (state != th->cooling_state) {
		bool start = !th->cooling_state;

		WRITE_ONCE(th->cooling_state, state);
		/* the cap of state n is the n-th OPP from the top (devfreq_cooling's mapping) */
		if (start || !state)
			enpu_genl_thermal_throttle(edev, state, temp,
				(u64)npu_opp_table[NPU_NUM_OPPS - 1 - min_t(unsigned long, state,
					NPU_NUM_OPPS - 1)].freq_mhz * 1000000);
	}
}

static int enpu_tz_get_temp(struct thermal_zone_device *tz, int *temp)
{
	struct enpu_device *edev = enpu_tz_edev(tz);

	*temp = enpu_thermal_temp_mc(edev);
	enpu_thermal_events(edev, *temp);
	return 0;
}

/* Reported, not fatal: the silicon throttles itself at its own limit (THERM_CRIT_MC). */
static void enpu_tz_critical(struct thermal_zone_device *tz)
{
	struct enpu_device *edev = enpu_tz_edev(tz);

	dev_crit(edev->drm.dev, "die at %d mdegC, critical trip %d mdegC: the NPU runs at its lowest clock from %d mdegC\n",
		 enpu_thermal_temp_mc(edev), READ_ONCE(edev->thermal.trips[ENPU_TRIP_CRITICAL].temperature),
		 (int)enpu_reg_read(edev->queues[0]->hw, NPU_REG_THERM_CRIT_MC));
}

#ifdef ENPU_THERMAL_SHOULD_BIND
/* A trip point of the table given at registration, by type (the core holds a copy). */
static int enpu_trip_index(enum thermal_trip_type type)
{
	return type == THERMAL_TRIP_CRITICAL ? ENPU_TRIP_CRITICAL : ENPU_TRIP_PASSIVE;
}

/* A trip point written in sysfs: the events compare with what the zone uses. */
static int enpu_tz_set_trip_temp(struct thermal_zone_device *tz, const struct thermal_trip *trip,
				 int temp)
{
	WRITE_ONCE(enpu_tz_edev(tz)->thermal.trips[enpu_trip_index(trip->type)].temperature, temp);
	return 0;
}

/* 6.12: the core asks per trip; the cooling device serves the passive trip only. */
static bool enpu_tz_should_bind(struct thermal_zone_device *tz, const struct thermal_trip *trip,
				struct thermal_cooling_device *cdev, struct cooling_spec *c)
{
	return cdev == enpu_tz_edev(tz)->thermal.cdev && trip->type == THERMAL_TRIP_PASSIVE;
}
#else
/* 6.1: the driver binds, and serves the trip points from its own table. */
static int enpu_tz_bind(struct thermal_zone_device *tz, struct thermal_cooling_device *cdev)
{
	if (cdev != enpu_tz_edev(tz)->thermal.cdev)
		return 0;
	return thermal_zone_bind_cooling_device(tz, ENPU_TRIP_PASSIVE, cdev, THERMAL_NO_LIMIT,
						THERMAL_NO_LIMIT, THERMAL_WEIGHT_DEFAULT);
}

static int enpu_tz_unbind(struct thermal_zone_device *tz, struct thermal_cooling_device *cdev)
{
	if (cdev != enpu_tz_edev(tz)->thermal.cdev)
		return 0;
	return thermal_zone_unbind_cooling_device(tz, ENPU_TRIP_PASSIVE, cdev);
}

static int enpu_tz_get_trip_type(struct thermal_zone_device *tz, int i,
				 enum thermal_trip_type *type)
{
	if (i < 0 || i >= ENPU_THERMAL_TRIPS)
		return -EINVAL;
	*type = enpu_tz_edev(tz)->thermal.trips[i].type;
	return 0;
}

static int enpu_tz_get_trip_temp(struct thermal_zone_device *tz, int i, int *temp)
{
	if (i < 0 || i >= ENPU_THERMAL_TRIPS)
		return -EINVAL;
	*temp = READ_ONCE(enpu_tz_edev(tz)->thermal.trips[i].temperature);
	return 0;
}

static int enpu_tz_set_trip_temp(struct thermal_zone_device *tz, int i, int temp)
{
	if (i < 0 || i >= ENPU_THERMAL_TRIPS)
		return -EINVAL;
	WRITE_ONCE(enpu_tz_edev(tz)->thermal.trips[i].temperature, temp);
	return 0;
}

static int enpu_tz_get_trip_hyst(struct thermal_zone_device *tz, int i, int *hyst)
{
	if (i < 0 || i >= ENPU_THERMAL_TRIPS)
		return -EINVAL;
	*hyst = enpu_tz_edev(tz)->thermal.trips[i].hysteresis;
	return 0;
}

static int enpu_tz_get_crit_temp(struct thermal_zone_device *tz, int *temp)
{
	return enpu_tz_get_trip_temp(tz, ENPU_TRIP_CRITICAL, temp);
}
#endif

static struct thermal_zone_device_ops enpu_tz_ops = {
	.get_temp = enpu_tz_get_temp,
	.critical = enpu_tz_critical,
	.set_trip_temp = enpu_tz_set_trip_temp,
#ifdef ENPU_THERMAL_SHOULD_BIND
	.should_bind = enpu_tz_should_bind,
#else
	.bind = enpu_tz_bind,
	.unbind = enpu_tz_unbind,
	.get_trip_type = enpu_tz_get_trip_type,
	.get_trip_temp = enpu_tz_get_trip_temp,
	.get_trip_hyst = enpu_tz_get_trip_hyst,
	.get_crit_temp = enpu_tz_get_crit_temp,
#endif
};

/* ---- the power model ------------------------------------------------------------------- */

/*
 * The EM's callback, in the units of the OPP library's own (dev_pm_opp_of_register_em()):
 * *freq in kHz, the lowest OPP at or above it; *power in uW (the domain is registered in
 * microwatts), its full-load power for all engines.
 */
static int enpu_em_active_power(struct device *dev, unsigned long *power, unsigned long *freq)
{
	struct enpu_device *edev = dev_get_drvdata(dev);
	u32 i;

	for (i = 0; i < NPU_NUM_OPPS; i++) {
		unsigned long khz = (unsigned long)npu_opp_table[i].freq_mhz * 1000;

		if (khz >= *freq) {
			*freq = khz;
			*power = npu_thermal_opp_power_uw(&npu_default_hw, i) * edev->num_engines;
			return 0;
		}
	}
	return -ERANGE;
}

/* ---- hwmon ----------------------------------------------------------------------------- */

static umode_t enpu_hwmon_is_visible(const void *data, enum hwmon_sensor_types type, u32 attr,
				     int channel)
{
	if (type == hwmon_temp && (attr == hwmon_temp_input || attr == hwmon_temp_crit))
		return 0444;
	return 0;
}

static int enpu_hwmon_read(struct device *dev, enum hwmon_sensor_types type, u32 attr,
			   int channel, long *val)
{
	struct enpu_device *edev = dev_get_drvdata(dev);

	if (type != hwmon_temp)
		return -EOPNOTSUPP;
	if (attr == hwmon_temp_input)
		*val = enpu_thermal_temp_mc(edev);
	else if (attr == hwmon_temp_crit)
		*val = READ_ONCE(edev->thermal.trips[ENPU_TRIP_CRITICAL].temperature);
	else
		return -EOPNOTSUPP;
	return 0;
}

static const struct hwmon_ops enpu_hwmon_ops = {
	.is_visible = enpu_hwmon_is_visible,
	.read = enpu_hwmon_read,
};

static const struct hwmon_channel_info *enpu_hwmon_info[] = {
	HWMON_CHANNEL_INFO(temp, HWMON_T_INPUT | HWMON_T_CRIT),
	NULL,
};

static const struct hwmon_chip_info enpu_hwmon_chip = {
	.ops = &enpu_hwmon_ops,
	.info = enpu_hwmon_info,
};

/* ---- setup ----------------------------------------------------------------------------- */

/* A trip point writable in sysfs (6.12: its flag; 6.1: the zone's mask at registration). */
static void enpu_trip_init(struct thermal_trip *t, int temp, enum thermal_trip_type type)
{
	memset(t, 0, sizeof(*t));
	t->temperature = temp;
	t->hysteresis = ENPU_TRIP_HYST_MC;
	t->type = type;
#ifdef ENPU_THERMAL_TRIP_FLAGS
	t->flags = THERMAL_TRIP_FLAG_RW_TEMP;
#endif
}

/**
 * enpu_thermal_init() - registers the cooling device (with devfreq), the thermal zone and
 *	hwmon. After enpu_pm_init(): the cooling device is devfreq's.
 * @edev: the device.
 *
 * Return: 0 or a negative errno. Without devfreq the zone is registered with no cooling
 * device, and without the thermal framework there is no zone (the silicon's own limit
 * still protects the die; hwmon still reads it).
 */
int enpu_thermal_init(struct enpu_device *edev)
{
	struct enpu_thermal *th = &edev->thermal;
	struct device *dev = edev->drm.dev;
	struct em_data_callback em_cb = EM_DATA_CB(enpu_em_active_power);
	struct thermal_zone_device *tz;
	int ret, r_k;

	enpu_trip_init(&th->trips[ENPU_TRIP_PASSIVE], enpu_thermal_passive, THERMAL_TRIP_PASSIVE);
	enpu_trip_init(&th->trips[ENPU_TRIP_CRITICAL], enpu_thermal_critical,
		       THERMAL_TRIP_CRITICAL);
	/* power_allocator's budget: what the thermal path carries at the passive trip, mW */
	r_k = max(1u, READ_ONCE(enpu_thermal_r) / 1000);
	th->tzp.sustainable_power =
		max(1, (enpu_thermal_passive - READ_ONCE(enpu_thermal_ambient)) / r_k);
	th->tzp.no_hwmon = true; /* our own hwmon device below, under the platform device */

	if (edev->pm.devfreq) {
		ret = em_dev_register_perf_domain(dev, NPU_NUM_OPPS, &em_cb, NULL, true);
		if (ret)
			dev_warn(dev, "no energy model (%d): the cooling device has no power model\n",
				 ret);
		else
			th->em = true;
		th->cdev = of_devfreq_cooling_register_power(NULL, edev->pm.devfreq, NULL);
		if (IS_ERR(th->cdev)) {
			dev_warn(dev, "no devfreq cooling device (%pe)\n", th->cdev);
			th->cdev = NULL;
		}
	}
	tz = thermal_zone_device_register_with_trips(dev_name(dev), th->trips, ENPU_THERMAL_TRIPS,
#ifndef ENPU_THERMAL_TRIP_FLAGS
						     BIT(ENPU_TRIP_PASSIVE) |
							     BIT(ENPU_TRIP_CRITICAL),
#endif
						     edev, &enpu_tz_ops, &th->tzp,
						     enpu_thermal_poll_ms, enpu_thermal_poll_ms);
	if (IS_ERR(tz) && PTR_ERR(tz) == -ENODEV) {
		/* a kernel without CONFIG_THERMAL: the silicon's own limit and hwmon remain */
		dev_info(dev, "no thermal framework: no thermal zone\n");
		tz = NULL;
	} else if (IS_ERR(tz)) {
		ret = PTR_ERR(tz);
		goto err_cdev;
	}
	th->tz = tz;
	ret = tz ? thermal_zone_device_enable(tz) : 0;
	if (ret)
		goto err_tz;
	th->hwmon = hwmon_device_register_with_info(dev, "edge_npu", edev, &enpu_hwmon_chip, NULL);
	if (IS_ERR(th->hwmon)) {
		ret = PTR_ERR(th->hwmon);
		th->hwmon = NULL;
		goto err_tz;
	}
	return 0;

err_tz:
	if (tz)
		thermal_zone_device_unregister(tz);
	th->tz = NULL;
err_cdev:
	if (th->cdev)
		devfreq_cooling_unregister(th->cdev);
	th->cdev = NULL;
	if (th->em)
		em_dev_unregister_perf_domain(dev);
	th->em = false;
	return ret;
}

/**
 * enpu_thermal_fini() - undoes enpu_thermal_init(); before enpu_pm_fini().
 * @edev: the device.
 */
void enpu_thermal_fini(struct enpu_device *edev)
{
	struct enpu_thermal *th = &edev->thermal;

	if (th->hwmon)
		hwmon_device_unregister(th->hwmon);
	th->hwmon = NULL;
	if (th->tz)
		thermal_zone_device_unregister(th->tz);
	th->tz = NULL;
	if (th->cdev)
		devfreq_cooling_unregister(th->cdev);
	th->cdev = NULL;
	if (th->em)
		em_dev_unregister_perf_domain(edev->drm.dev);
	th->em = false;
}
