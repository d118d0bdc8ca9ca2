// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_genl.c - the "edge_npu" generic-netlink family: GET_STATS (one device or a dump of
 * all) and the "events" multicast group (job fault, timeout, engine reset, power state,
 * frequency change, throttling). The contract is uapi/edge_npu_genl.h.
 *
 * Devices register here once their DRM device is up and unregister before teardown; a
 * request holds enpu_genl_lock while it reads a device, so removal waits for it. Events are
 * built only when someone listens (genl_has_listeners) and with GFP_ATOMIC, because they are
 * sent from the scheduler's run/timeout paths and runtime PM callbacks.
 */
#include <linux/devfreq.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <net/genetlink.h>

#include "edge_npu_drv.h"
#include "../uapi/edge_npu_genl.h"

#define ENPU_GENL_MAX_DEVICES 8

static DEFINE_MUTEX(enpu_genl_lock);
static struct enpu_device *enpu_genl_devs[ENPU_GENL_MAX_DEVICES];

/* Requests carry at most the device index; strict validation refuses anything else. */
static const struct nla_policy enpu_genl_policy[EDGE_NPU_A_MAX + 1] = {
	[EDGE_NPU_A_DEVICE] = { .type = NLA_U32 },
};

static struct genl_family enpu_genl_family;

static int enpu_genl_put_u64(struct sk_buff *msg, int attr, u64 v)
{
	return nla_put_u64_64bit(msg, attr, v, EDGE_NPU_A_PAD);
}

static u64 enpu_genl_resets(struct enpu_device *edev)
{
	u64 n = 0;
	u32 i;

	for (i = 0; i < edev->num_engines; i++)
		n += READ_ONCE(edev->queues[i]->resets);
	return n;
}

static int enpu_genl_fill_stats(struct sk_buff *msg, struct enpu_device *edev, u32 portid,
				u32 seq, int flags, bool energy)
{
	unsigned long min_hz, max_hz;
	struct nlattr *queue;
	u32 thermal, cooling;
	void *hdr;
	int p;

	hdr = genlmsg_put(msg, portid, seq, &enpu_genl_family, flags, EDGE_NPU_CMD_GET_STATS);
	if (!hdr)
		return -EMSGSIZE;
	enpu_pm_freq_bounds(edev, &min_hz, &max_hz);
	thermal = enpu_thermal_state(edev, &cooling);
	if (nla_put_u32(msg, EDGE_NPU_A_DEVICE, edev->index) ||
	    nla_put_string(msg, EDGE_NPU_A_DEV_NAME, dev_name(edev->drm.dev)) ||
	    nla_put_u32(msg, EDGE_NPU_A_ENGINES, edev->num_engines) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_BUSY_NS, atomic64_read(&edev->busy_ns)) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_CYCLES, atomic64_read(&edev->busy_cycles)) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_CUR_FREQ_HZ,
			      (u64)enpu_pm_cur_freq_mhz(edev) * 1000000) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_MIN_FREQ_HZ, min_hz) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_MAX_FREQ_HZ, max_hz) ||
	    (energy &&
	     (enpu_genl_put_u64(msg, EDGE_NPU_A_POWER_UW, READ_ONCE(edev->last_power_uw)) ||
	      enpu_genl_put_u64(msg, EDGE_NPU_A_ENERGY_UJ,
				div_u64(atomic64_read(&edev->energy_pj), 1000000)))) ||
	    nla_put_u32(msg, EDGE_NPU_A_POWER_STATE,
			READ_ONCE(edev->pm.powered) ? EDGE_NPU_POWER_ON : EDGE_NPU_POWER_OFF) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_JOBS_COMPLETED, atomic64_read(&edev->jobs_done)) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_JOBS_FAILED, atomic64_read(&edev->jobs_failed)) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_JOBS_RESET, enpu_genl_resets(edev)) ||
	    enpu_genl_put_u64(msg, EDGE_NPU_A_MEM_USED, atomic64_read(&edev->bo_bytes)) ||
	    nla_put_s32(msg, EDGE_NPU_A_TEMP_MC, enpu_thermal_temp_mc(edev)) ||
	    nla_put_u32(msg, EDGE_NPU_A_THERMAL_STATE, thermal) ||
	    nla_put_u32(msg, EDGE_NPU_A_COOLING_STATE, cooling))
		goto cancel;
	queue = nla_nest_start(msg, EDGE_NPU_A_QUEUE);
	if (!queue)
		goto cancel;
	for (p = 0; p < EDGE_NPU_NUM_PRIORITIES; p++)
		if (nla_put_u32(msg, EDGE_NPU_QUEUE_LOW + p, atomic_read(&edev->queued[p])))
			goto cancel;
	nla_nest_end(msg, queue);
	genlmsg_end(msg, hdr);
	return 0;

cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

/*
 * Device-wide energy and power are readable as the kernel's RAPL powercap energy_uj is since
 * the PLATYPUS side channel (CVE-2020-8694): by the administrator only. They integrate every
 * client's work, so they leak the activity of other users; the energy of one's own jobs stays
 * readable through CTX_QUERY. sysfs energy_uj is mode 0400 for the same reason.
 */
static bool enpu_genl_may_read_energy(struct sk_buff *skb)
{
	return netlink_capable(skb, CAP_SYS_ADMIN);
}

static struct enpu_device *enpu_genl_find(u32 index)
{
	int i;

	for (i = 0; i < ENPU_GENL_MAX_DEVICES; i++)
		if (enpu_genl_devs[i] && enpu_genl_devs[i]->index == index)
			return enpu_genl_devs[i];
	return NULL;
}

static int enpu_genl_get_stats_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct enpu_device *edev;
	struct sk_buff *msg;
	int ret;

	if (!info->attrs[EDGE_NPU_A_DEVICE]) {
		NL_SET_ERR_MSG(info->extack, "EDGE_NPU_A_DEVICE is required (or use a dump)");
		return -EINVAL;
	}
	msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&enpu_genl_lock);
	edev = enpu_genl_find(nla_get_u32(info->attrs[EDGE_NPU_A_DEVICE]));
	if (!edev) {
		mutex_unlock(&enpu_genl_lock);
		nlmsg_free(msg);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[EDGE_NPU_A_DEVICE],
				    "no edge-npu device with this index");
		return -ENODEV;
	}
	ret = enpu_genl_fill_stats(msg, edev, info->snd_portid, info->snd_seq, 0,
				   enpu_genl_may_read_energy(skb));
	mutex_unlock(&enpu_genl_lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);
}

static int enpu_genl_get_stats_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	long i;

	mutex_lock(&enpu_genl_lock);
	for (i = cb->args[0]; i < ENPU_GENL_MAX_DEVICES; i++) {
		if (!enpu_genl_devs[i])
			continue;
		if (enpu_genl_fill_stats(skb, enpu_genl_devs[i], NETLINK_CB(cb->skb).portid,
					 cb->nlh->nlmsg_seq, NLM_F_MULTI,
					 enpu_genl_may_read_energy(cb->skb)))
			break;
	}
	mutex_unlock(&enpu_genl_lock);
	cb->args[0] = i;
	return skb->len;
}

static const struct genl_ops enpu_genl_ops[] = {
	{
		.cmd = EDGE_NPU_CMD_GET_STATS,
		.doit = enpu_genl_get_stats_doit,
		.dumpit = enpu_genl_get_stats_dumpit,
	},
};

/*
 * Events name the submitter's pid and its job's error: other users' activity. Joining the group
 * needs CAP_SYS_ADMIN (in the network namespace's user namespace), as the kernel's own
 * diagnostic groups (drop_monitor, psample) do.
 */
static const struct genl_multicast_group enpu_genl_mcgrps[] = {
	{ .name = EDGE_NPU_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family enpu_genl_family = {
	.name = EDGE_NPU_GENL_NAME,
	.version = EDGE_NPU_GENL_VERSION,
	.maxattr = EDGE_NPU_A_MAX,
	.policy = enpu_genl_policy,
	.module = THIS_MODULE,
	.ops = enpu_genl_ops,
	.n_ops = ARRAY_SIZE(enpu_genl_ops),
	.mcgrps = enpu_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(enpu_genl_mcgrps),
	/*
	 * resv_start_op stays 0: every command is at or past it, so the core validates strictly
	 * and refuses a request whose genlmsghdr.reserved is not zero.
	 */
};

/* ---- events ------------------------------------------------------------------------------ */

/* Starts an event message, or returns NULL when nobody listens or memory is short. */
static struct sk_buff *enpu_genl_event_begin(struct enpu_device *edev, u32 event, void **hdr)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&enpu_genl_family, &init_net, 0))
		return NULL;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_ATOMIC);
	if (!msg)
		return NULL;
	*hdr = genlmsg_put(msg, 0, 0, &enpu_genl_family, 0, EDGE_NPU_CMD_EVENT);
	if (!*hdr || nla_put_u32(msg, EDGE_NPU_A_DEVICE, edev->index) ||
	    nla_put_u32(msg, EDGE_NPU_A_EVENT, event)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static void enpu_genl_event_send(struct sk_buff *msg, void *hdr, int err)
{
	if (err) {
		nlmsg_free(msg); /* a few bytes cannot overflow NLMSG_DEFAULT_SIZE: defensive */
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&enpu_genl_family, msg, 0, 0, GFP_ATOMIC);
}

void enpu_genl_job_fault(struct enpu_device *edev, u32 engine, int error, u32 pid)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_JOB_FAULT, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr, nla_put_u32(msg, EDGE_NPU_A_ENGINE, engine) ||
					       nla_put_s32(msg, EDGE_NPU_A_ERROR, error) ||
					       nla_put_u32(msg, EDGE_NPU_A_PID, pid));
}

void enpu_genl_job_timeout(struct enpu_device *edev, u32 engine, u32 pid)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_JOB_TIMEOUT, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr, nla_put_u32(msg, EDGE_NPU_A_ENGINE, engine) ||
					       nla_put_u32(msg, EDGE_NPU_A_PID, pid));
}

void enpu_genl_engine_reset(struct enpu_device *edev, u32 engine)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_ENGINE_RESET, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr, nla_put_u32(msg, EDGE_NPU_A_ENGINE, engine) ||
					       enpu_genl_put_u64(msg, EDGE_NPU_A_JOBS_RESET,
								 enpu_genl_resets(edev)));
}

void enpu_genl_power_state(struct enpu_device *edev, bool on)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_POWER_STATE, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr,
				     nla_put_u32(msg, EDGE_NPU_A_POWER_STATE,
						 on ? EDGE_NPU_POWER_ON : EDGE_NPU_POWER_OFF));
}

void enpu_genl_freq_change(struct enpu_device *edev, u64 old_hz, u64 new_hz)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_FREQ_CHANGE, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr,
				     enpu_genl_put_u64(msg, EDGE_NPU_A_OLD_FREQ_HZ, old_hz) ||
				     enpu_genl_put_u64(msg, EDGE_NPU_A_CUR_FREQ_HZ, new_hz));
}

void enpu_genl_throttle(struct enpu_device *edev, bool throttled, u64 cur_hz, u64 max_hz)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_THROTTLE, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr,
				     nla_put_u32(msg, EDGE_NPU_A_THROTTLED, throttled) ||
				     enpu_genl_put_u64(msg, EDGE_NPU_A_CUR_FREQ_HZ, cur_hz) ||
				     enpu_genl_put_u64(msg, EDGE_NPU_A_MAX_FREQ_HZ, max_hz));
}

void enpu_genl_thermal_trip(struct enpu_device *edev, int temp_mc, u32 trip, int trip_mc,
			    bool crossed)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_THERMAL_TRIP, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr,
				     nla_put_s32(msg, EDGE_NPU_A_TEMP_MC, temp_mc) ||
				     nla_put_u32(msg, EDGE_NPU_A_TRIP, trip) ||
				     nla_put_s32(msg, EDGE_NPU_A_TRIP_TEMP_MC, trip_mc) ||
				     nla_put_u32(msg, EDGE_NPU_A_CROSSED, crossed));
}

void enpu_genl_thermal_throttle(struct enpu_device *edev, u32 state, int temp_mc, u64 max_hz)
{
	struct sk_buff *msg;
	void *hdr;

	msg = enpu_genl_event_begin(edev, EDGE_NPU_EVENT_THERMAL_THROTTLE, &hdr);
	if (msg)
		enpu_genl_event_send(msg, hdr,
				     nla_put_u32(msg, EDGE_NPU_A_THROTTLED, state != 0) ||
				     nla_put_u32(msg, EDGE_NPU_A_COOLING_STATE, state) ||
				     nla_put_s32(msg, EDGE_NPU_A_TEMP_MC, temp_mc) ||
				     enpu_genl_put_u64(msg, EDGE_NPU_A_MAX_FREQ_HZ, max_hz));
}

/* ---- registration ------------------------------------------------------------------------ */

/**
 * enpu_genl_add_device() - makes a probed device visible to GET_STATS.
 * @edev: the device (its DRM device registered).
 *
 * Return: 0, or -ENOSPC when more devices exist than the family tracks.
 */
int enpu_genl_add_device(struct enpu_device *edev)
{
	int i, ret = -ENOSPC;

	mutex_lock(&enpu_genl_lock);
	for (i = 0; i < ENPU_GENL_MAX_DEVICES; i++) {
		if (!enpu_genl_devs[i]) {
			enpu_genl_devs[i] = edev;
			ret = 0;
			break;
		}
	}
	mutex_unlock(&enpu_genl_lock);
	return ret;
}

/**
 * enpu_genl_remove_device() - hides a device; returns once no request reads it.
 * @edev: the device.
 */
void enpu_genl_remove_device(struct enpu_device *edev)
{
	int i;

	mutex_lock(&enpu_genl_lock);
	for (i = 0; i < ENPU_GENL_MAX_DEVICES; i++)
		if (enpu_genl_devs[i] == edev)
			enpu_genl_devs[i] = NULL;
	mutex_unlock(&enpu_genl_lock);
}

int enpu_genl_init(void)
{
	return genl_register_family(&enpu_genl_family);
}

void enpu_genl_exit(void)
{
	genl_unregister_family(&enpu_genl_family);
}
