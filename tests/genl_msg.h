/* SPDX-License-Identifier: MIT */
/*
 * genl_msg.h - builds the kernel driver's generic-netlink messages in memory, laid out as the
 * kernel sends them (kmod/edge_npu_genl.c): the parser tests (test_telemetry.c) mutate them,
 * and the genl fuzz target's seeds (tests/fuzz/make_seeds.c) are made of them.
 */
#ifndef EDGE_NPU_TESTS_GENL_MSG_H
#define EDGE_NPU_TESTS_GENL_MSG_H

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uapi/edge_npu_genl.h"

/* A message builder: nlmsghdr + genlmsghdr + attributes, as the kernel lays them out. */
struct msg {
	uint8_t buf[1024] __attribute__((aligned(8)));
	size_t len;
	size_t nest; /* offset of the open nested attribute, 0 if none */
};

static inline void msg_begin(struct msg *m, uint8_t cmd)
{
	memset(m, 0, sizeof(*m));
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	((struct genlmsghdr *)(m->buf + NLMSG_HDRLEN))->cmd = cmd;
	((struct genlmsghdr *)(m->buf + NLMSG_HDRLEN))->version = EDGE_NPU_GENL_VERSION;
}

static inline void msg_attr(struct msg *m, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, len);
	m->len += NLA_ALIGN(NLA_HDRLEN + len);
}

static inline void msg_u32(struct msg *m, uint16_t type, uint32_t v)
{
	msg_attr(m, type, &v, 4);
}

static inline void msg_u64(struct msg *m, uint16_t type, uint64_t v)
{
	msg_attr(m, type, &v, 8);
}

static inline void msg_nest_begin(struct msg *m, uint16_t type)
{
	m->nest = m->len;
	msg_attr(m, type | NLA_F_NESTED, NULL, 0);
}

static inline void msg_nest_end(struct msg *m)
{
	((struct nlattr *)(m->buf + m->nest))->nla_len = (uint16_t)(m->len - m->nest);
	m->nest = 0;
}

static inline size_t msg_end(struct msg *m)
{
	((struct nlmsghdr *)m->buf)->nlmsg_len = (uint32_t)m->len;
	((struct nlmsghdr *)m->buf)->nlmsg_type = 0x20; /* a resolved family id */
	return m->len;
}

/* A complete GET_STATS reply as the kernel sends it (edge_npu_genl.c). */
static inline void stats_reply(struct msg *m)
{
	msg_begin(m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(m, EDGE_NPU_A_DEVICE, 1);
	msg_attr(m, EDGE_NPU_A_DEV_NAME, "edge-npu.1", 11);
	msg_u32(m, EDGE_NPU_A_ENGINES, 2);
	msg_u64(m, EDGE_NPU_A_BUSY_NS, 123456789);
	msg_u64(m, EDGE_NPU_A_CYCLES, 1ull << 40);
	msg_u64(m, EDGE_NPU_A_CUR_FREQ_HZ, 400000000);
	msg_u64(m, EDGE_NPU_A_MIN_FREQ_HZ, 200000000);
	msg_u64(m, EDGE_NPU_A_MAX_FREQ_HZ, 1000000000);
	msg_u64(m, EDGE_NPU_A_POWER_UW, 750000);
	msg_u64(m, EDGE_NPU_A_ENERGY_UJ, 42);
	msg_u32(m, EDGE_NPU_A_POWER_STATE, EDGE_NPU_POWER_ON);
	msg_nest_begin(m, EDGE_NPU_A_QUEUE);
	msg_u32(m, EDGE_NPU_QUEUE_LOW, 1);
	msg_u32(m, EDGE_NPU_QUEUE_NORMAL, 5);
	msg_u32(m, EDGE_NPU_QUEUE_HIGH, 0);
	msg_nest_end(m);
	msg_u64(m, EDGE_NPU_A_JOBS_COMPLETED, 1000);
	msg_u64(m, EDGE_NPU_A_JOBS_FAILED, 3);
	msg_u64(m, EDGE_NPU_A_JOBS_RESET, 2);
	msg_u64(m, EDGE_NPU_A_MEM_USED, 1 << 20);
	msg_end(m);
}

/* A job-fault EVENT: engine 1 of device 0 timed out in process 4242. */
static inline void job_fault_event(struct msg *m)
{
	msg_begin(m, EDGE_NPU_CMD_EVENT);
	msg_u32(m, EDGE_NPU_A_DEVICE, 0);
	msg_u32(m, EDGE_NPU_A_EVENT, EDGE_NPU_EVENT_JOB_FAULT);
	msg_u32(m, EDGE_NPU_A_ENGINE, 1);
	msg_u32(m, EDGE_NPU_A_ERROR, (uint32_t)-ETIMEDOUT);
	msg_u32(m, EDGE_NPU_A_PID, 4242);
	msg_end(m);
}

#endif
