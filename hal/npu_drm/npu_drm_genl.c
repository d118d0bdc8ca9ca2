/* SPDX-License-Identifier: MIT */
/*
 * npu_drm_genl.c - edge_npu generic-netlink telemetry through libnl-genl. See npu_drm_genl.h.
 *
 * Two sockets: one for requests (its replies must not interleave with events) and, once
 * subscribed, one for the multicast group. libnl may deliver several events per receive, so
 * they are parsed into a small ring and handed out one by one.
 */
#include "hal/npu_drm/npu_drm_genl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#define EV_RING 64

struct npu_genl {
	struct nl_sock *sk;    /* requests */
	struct nl_sock *ev_sk; /* events, NULL until subscribed */
	int family;
	struct npu_genl_event ring[EV_RING];
	unsigned int head, count;
	unsigned int dropped;  /* events lost: the ring was full, or the socket overran */
	int bad;               /* a malformed event was received: -EINVAL until reported */
	char bad_why[160];
};

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *npu_genl_event_name(uint32_t event)
{
	static const char *const names[] = {
		[EDGE_NPU_EVENT_JOB_FAULT] = "job_fault",
		[EDGE_NPU_EVENT_JOB_TIMEOUT] = "job_timeout",
		[EDGE_NPU_EVENT_ENGINE_RESET] = "engine_reset",
		[EDGE_NPU_EVENT_POWER_STATE] = "power_state",
		[EDGE_NPU_EVENT_FREQ_CHANGE] = "freq_change",
		[EDGE_NPU_EVENT_THROTTLE] = "throttle",
		[EDGE_NPU_EVENT_THERMAL_TRIP] = "thermal_trip",
		[EDGE_NPU_EVENT_THERMAL_THROTTLE] = "thermal_throttle",
	};

	return event < sizeof(names) / sizeof(names[0]) && names[event] ? names[event] : "?";
}

/* ---- parsing ------------------------------------------------------------------------------ */

#define U32 { .type = NLA_U32, .minlen = 4, .maxlen = 4 }
#define S32 { .type = NLA_U32, .minlen = 4, .maxlen = 4 }
#define U64 { .type = NLA_U64, .minlen = 8, .maxlen = 8 }

/* The reader's policy: exact sizes, a terminated non-empty name, a nest. */
static struct nla_policy policy[EDGE_NPU_A_MAX + 1] = {
	[EDGE_NPU_A_DEVICE] = U32,
	[EDGE_NPU_A_DEV_NAME] = { .type = NLA_STRING, .minlen = 1, .maxlen = 32 },
	[EDGE_NPU_A_ENGINES] = U32,
	[EDGE_NPU_A_BUSY_NS] = U64,
	[EDGE_NPU_A_CYCLES] = U64,
	[EDGE_NPU_A_CUR_FREQ_HZ] = U64,
	[EDGE_NPU_A_MIN_FREQ_HZ] = U64,
	[EDGE_NPU_A_MAX_FREQ_HZ] = U64,
	[EDGE_NPU_A_POWER_UW] = U64,
	[EDGE_NPU_A_ENERGY_UJ] = U64,
	[EDGE_NPU_A_POWER_STATE] = U32,
	[EDGE_NPU_A_QUEUE] = { .type = NLA_NESTED },
	[EDGE_NPU_A_JOBS_COMPLETED] = U64,
	[EDGE_NPU_A_JOBS_FAILED] = U64,
	[EDGE_NPU_A_JOBS_RESET] = U64,
	[EDGE_NPU_A_MEM_USED] = U64,
	[EDGE_NPU_A_EVENT] = U32,
	[EDGE_NPU_A_ENGINE] = U32,
	[EDGE_NPU_A_ERROR] = S32,
	[EDGE_NPU_A_PID] = U32,
	[EDGE_NPU_A_OLD_FREQ_HZ] = U64,
	[EDGE_NPU_A_THROTTLED] = U32,
	[EDGE_NPU_A_PAD] = { .type = NLA_UNSPEC },
	[EDGE_NPU_A_TEMP_MC] = S32,
	[EDGE_NPU_A_TRIP] = U32,
	[EDGE_NPU_A_TRIP_TEMP_MC] = S32,
	[EDGE_NPU_A_CROSSED] = U32,
	[EDGE_NPU_A_COOLING_STATE] = U32,
	[EDGE_NPU_A_THERMAL_STATE] = U32,
};

static struct nla_policy queue_policy[EDGE_NPU_QUEUE_MAX + 1] = {
	[EDGE_NPU_QUEUE_LOW] = U32,
	[EDGE_NPU_QUEUE_NORMAL] = U32,
	[EDGE_NPU_QUEUE_HIGH] = U32,
};

/* Whether the attributes at head fill len bytes exactly, each inside the stream. */
static bool attrs_exact(const struct nlattr *head, int len)
{
	const struct nlattr *a;
	int rem;

	nla_for_each_attr(a, head, len, rem)
		;
	return rem == 0;
}

/*
 * Checks the framing (the message inside its buffer, the command) and parses the attributes
 * into tb. Returns 0 or -EINVAL with err.
 */
static int parse_common(const void *msg, size_t len, uint8_t cmd, struct nlattr **tb,
			char *err, size_t err_len)
{
	const struct nlmsghdr *nlh = msg;
	const struct genlmsghdr *gh;
	int rc;

	if (!msg || len < NLMSG_HDRLEN + GENL_HDRLEN)
		return fail(err, err_len, -EINVAL, "message of %zu bytes: shorter than its headers",
			    len);
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN || nlh->nlmsg_len > len)
		return fail(err, err_len, -EINVAL, "nlmsg_len %u outside the %zu-byte message",
			    nlh->nlmsg_len, len);
	gh = nlmsg_data(nlh);
	if (gh->cmd != cmd)
		return fail(err, err_len, -EINVAL, "command %u, expected %u", gh->cmd, cmd);
	/*
	 * libnl stops at an attribute that does not fit and ignores the rest: as the kernel's
	 * strict parser, refuse a stream of attributes that does not end exactly at the end.
	 */
	if (!attrs_exact(genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0)))
		return fail(err, err_len, -EINVAL, "an attribute runs past the end of the message");
	/* genlmsg_parse validates every attribute against the policy, and their lengths */
	rc = genlmsg_parse((struct nlmsghdr *)nlh, 0, tb, EDGE_NPU_A_MAX, policy);
	if (rc < 0)
		return fail(err, err_len, -EINVAL, "malformed attributes: %s", nl_geterror(rc));
	if (!tb[EDGE_NPU_A_DEVICE])
		return fail(err, err_len, -EINVAL, "no EDGE_NPU_A_DEVICE attribute");
	return 0;
}

static uint64_t have_bits(struct nlattr **tb)
{
	uint64_t have = 0;

	for (int i = 1; i <= EDGE_NPU_A_MAX; i++)
		if (tb[i])
			have |= 1ull << i;
	return have;
}

static uint64_t get_u64(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u64(tb[a]) : 0;
}

static uint32_t get_u32(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u32(tb[a]) : 0;
}

int npu_genl_parse_stats(const void *msg, size_t len, struct npu_genl_stats *out, char *err,
			 size_t err_len)
{
	struct nlattr *tb[EDGE_NPU_A_MAX + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_common(msg, len, EDGE_NPU_CMD_GET_STATS, tb, err, err_len);
	if (rc)
		return rc;
	if (tb[EDGE_NPU_A_QUEUE]) {
		struct nlattr *q[EDGE_NPU_QUEUE_MAX + 1];

		if (!attrs_exact(nla_data(tb[EDGE_NPU_A_QUEUE]), nla_len(tb[EDGE_NPU_A_QUEUE])))
			return fail(err, err_len, -EINVAL,
				    "an attribute runs past the end of EDGE_NPU_A_QUEUE");
		rc = nla_parse_nested(q, EDGE_NPU_QUEUE_MAX, tb[EDGE_NPU_A_QUEUE], queue_policy);
		if (rc < 0)
			return fail(err, err_len, -EINVAL, "malformed EDGE_NPU_A_QUEUE: %s",
				    nl_geterror(rc));
		for (int p = 0; p < EDGE_NPU_NUM_PRIORITIES; p++)
			out->queue[p] = get_u32(q, EDGE_NPU_QUEUE_LOW + p);
	}
	out->device = get_u32(tb, EDGE_NPU_A_DEVICE);
	if (tb[EDGE_NPU_A_DEV_NAME])
		snprintf(out->name, sizeof(out->name), "%s",
			 (const char *)nla_data(tb[EDGE_NPU_A_DEV_NAME]));
	out->engines = get_u32(tb, EDGE_NPU_A_ENGINES);
	out->busy_ns = get_u64(tb, EDGE_NPU_A_BUSY_NS);
	out->cycles = get_u64(tb, EDGE_NPU_A_CYCLES);
	out->cur_freq_hz = get_u64(tb, EDGE_NPU_A_CUR_FREQ_HZ);
	out->min_freq_hz = get_u64(tb, EDGE_NPU_A_MIN_FREQ_HZ);
	out->max_freq_hz = get_u64(tb, EDGE_NPU_A_MAX_FREQ_HZ);
	out->power_uw = get_u64(tb, EDGE_NPU_A_POWER_UW);
	out->energy_uj = get_u64(tb, EDGE_NPU_A_ENERGY_UJ);
	out->power_state = get_u32(tb, EDGE_NPU_A_POWER_STATE);
	out->jobs_completed = get_u64(tb, EDGE_NPU_A_JOBS_COMPLETED);
	out->jobs_failed = get_u64(tb, EDGE_NPU_A_JOBS_FAILED);
	out->jobs_reset = get_u64(tb, EDGE_NPU_A_JOBS_RESET);
	out->mem_used = get_u64(tb, EDGE_NPU_A_MEM_USED);
	out->temp_mc = (int32_t)get_u32(tb, EDGE_NPU_A_TEMP_MC);
	out->thermal_state = get_u32(tb, EDGE_NPU_A_THERMAL_STATE);
	out->cooling_state = get_u32(tb, EDGE_NPU_A_COOLING_STATE);
	out->have = have_bits(tb);
	return 0;
}

int npu_genl_parse_event(const void *msg, size_t len, struct npu_genl_event *out, char *err,
			 size_t err_len)
{
	struct nlattr *tb[EDGE_NPU_A_MAX + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_common(msg, len, EDGE_NPU_CMD_EVENT, tb, err, err_len);
	if (rc)
		return rc;
	if (!tb[EDGE_NPU_A_EVENT])
		return fail(err, err_len, -EINVAL, "event without EDGE_NPU_A_EVENT");
	out->device = get_u32(tb, EDGE_NPU_A_DEVICE);
	out->event = get_u32(tb, EDGE_NPU_A_EVENT);
	out->engine = get_u32(tb, EDGE_NPU_A_ENGINE);
	out->error = (int32_t)get_u32(tb, EDGE_NPU_A_ERROR);
	out->pid = get_u32(tb, EDGE_NPU_A_PID);
	out->power_state = get_u32(tb, EDGE_NPU_A_POWER_STATE);
	out->throttled = get_u32(tb, EDGE_NPU_A_THROTTLED);
	out->old_freq_hz = get_u64(tb, EDGE_NPU_A_OLD_FREQ_HZ);
	out->cur_freq_hz = get_u64(tb, EDGE_NPU_A_CUR_FREQ_HZ);
	out->max_freq_hz = get_u64(tb, EDGE_NPU_A_MAX_FREQ_HZ);
	out->jobs_reset = get_u64(tb, EDGE_NPU_A_JOBS_RESET);
	out->temp_mc = (int32_t)get_u32(tb, EDGE_NPU_A_TEMP_MC);
	out->trip = get_u32(tb, EDGE_NPU_A_TRIP);
	out->trip_temp_mc = (int32_t)get_u32(tb, EDGE_NPU_A_TRIP_TEMP_MC);
	out->crossed = get_u32(tb, EDGE_NPU_A_CROSSED);
	out->cooling_state = get_u32(tb, EDGE_NPU_A_COOLING_STATE);
	out->have = have_bits(tb);
	return 0;
}

/* ---- sockets ------------------------------------------------------------------------------ */

static struct nl_sock *connect_sock(char *err, size_t err_len, int *rc)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk) {
		*rc = fail(err, err_len, -ENOMEM, "out of memory for a netlink socket");
		return NULL;
	}
	*rc = genl_connect(sk);
	if (*rc < 0) {
		*rc = fail(err, err_len, -EIO, "cannot open a generic netlink socket: %s",
			   nl_geterror(*rc));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int npu_genl_open(struct npu_genl **out, char *err, size_t err_len)
{
	struct npu_genl *g = calloc(1, sizeof(*g));
	int rc;

	*out = NULL;
	if (!g)
		return fail(err, err_len, -ENOMEM, "out of memory");
	g->sk = connect_sock(err, err_len, &rc);
	if (!g->sk) {
		free(g);
		return rc;
	}
	g->family = genl_ctrl_resolve(g->sk, EDGE_NPU_GENL_NAME);
	if (g->family < 0) {
		rc = fail(err, err_len, -ENOENT, "no generic netlink family '%s' (%s): is "
			  "edge_npu.ko loaded?", EDGE_NPU_GENL_NAME, nl_geterror(g->family));
		npu_genl_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

void npu_genl_close(struct npu_genl *g)
{
	if (!g)
		return;
	if (g->sk)
		nl_socket_free(g->sk);
	if (g->ev_sk)
		nl_socket_free(g->ev_sk);
	free(g);
}

struct dump_ctx {
	struct npu_genl_stats *out;
	int max, n;
	int rc;
	char *err;
	size_t err_len;
};

static int on_stats(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *c = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	if (c->n >= c->max || c->rc)
		return NL_SKIP;
	if (npu_genl_parse_stats(nlh, nlh->nlmsg_len, &c->out[c->n], c->err, c->err_len))
		c->rc = -EINVAL;
	else
		c->n++;
	return NL_OK;
}

int npu_genl_get_stats(struct npu_genl *g, struct npu_genl_stats *out, int max, char *err,
		       size_t err_len)
{
	struct dump_ctx c = { out, max, 0, 0, err, err_len };
	struct nl_msg *msg = nlmsg_alloc();
	struct nl_cb *cb;
	int rc;

	if (!msg)
		return fail(err, err_len, -ENOMEM, "out of memory");
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family, 0, NLM_F_DUMP,
			 EDGE_NPU_CMD_GET_STATS, EDGE_NPU_GENL_VERSION)) {
		nlmsg_free(msg);
		return fail(err, err_len, -ENOMEM, "out of memory");
	}
	rc = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	if (rc < 0)
		return fail(err, err_len, -EIO, "GET_STATS: %s", nl_geterror(rc));
	cb = nl_cb_clone(nl_socket_get_cb(g->sk));
	if (!cb)
		return fail(err, err_len, -ENOMEM, "out of memory");
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_stats, &c);
	rc = nl_recvmsgs(g->sk, cb);
	nl_cb_put(cb);
	if (rc < 0)
		return fail(err, err_len, -EIO, "GET_STATS reply: %s", nl_geterror(rc));
	return c.rc ? c.rc : c.n;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct npu_genl *g = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct npu_genl_event ev;

	if (npu_genl_parse_event(nlh, nlh->nlmsg_len, &ev, g->bad_why, sizeof(g->bad_why))) {
		g->bad = -EINVAL;
		return NL_SKIP;
	}
	if (g->count == EV_RING) {
		g->dropped++;
		return NL_OK;
	}
	g->ring[(g->head + g->count++) % EV_RING] = ev;
	return NL_OK;
}

int npu_genl_subscribe(struct npu_genl *g, char *err, size_t err_len)
{
	int rc, grp;

	if (g->ev_sk)
		return 0;
	grp = genl_ctrl_resolve_grp(g->sk, EDGE_NPU_GENL_NAME, EDGE_NPU_GENL_MCGRP_EVENTS);
	if (grp < 0)
		return fail(err, err_len, -ENOENT, "no multicast group '%s': %s",
			    EDGE_NPU_GENL_MCGRP_EVENTS, nl_geterror(grp));
	g->ev_sk = connect_sock(err, err_len, &rc);
	if (!g->ev_sk)
		return rc;
	nl_socket_disable_seq_check(g->ev_sk);
	nl_socket_modify_cb(g->ev_sk, NL_CB_VALID, NL_CB_CUSTOM, on_event, g);
	rc = nl_socket_add_membership(g->ev_sk, grp);
	if (rc >= 0)
		rc = nl_socket_set_nonblocking(g->ev_sk);
	/* room for a burst of events between two reads (the kernel may cap it lower) */
	if (rc >= 0)
		rc = nl_socket_set_buffer_size(g->ev_sk, 1 << 20, 0);
	if (rc < 0) {
		nl_socket_free(g->ev_sk);
		g->ev_sk = NULL;
		return fail(err, err_len, -EIO, "cannot join '%s': %s",
			    EDGE_NPU_GENL_MCGRP_EVENTS, nl_geterror(rc));
	}
	return 0;
}

int npu_genl_event_fd(const struct npu_genl *g)
{
	return g->ev_sk ? nl_socket_get_fd(g->ev_sk) : -1;
}

int npu_genl_read_event(struct npu_genl *g, struct npu_genl_event *ev, int timeout_ms,
			char *err, size_t err_len)
{
	if (!g->ev_sk)
		return fail(err, err_len, -EINVAL, "not subscribed");
	while (!g->count) {
		struct pollfd p = { .fd = nl_socket_get_fd(g->ev_sk), .events = POLLIN };
		int rc;

		if (g->bad) {
			g->bad = 0;
			return fail(err, err_len, -EINVAL, "malformed event: %s", g->bad_why);
		}
		rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return fail(err, err_len, -errno, "poll: %s", strerror(errno));
		if (rc == 0)
			return 0;
		rc = nl_recvmsgs_default(g->ev_sk);
		/*
		 * ENOBUFS (libnl's NLE_NOMEM): the kernel dropped events because the socket's
		 * buffer was full, as a burst of frequency changes under throttling can do. The
		 * events after it still come: count the loss, as for the ring, and go on.
		 */
		if (rc == -NLE_NOMEM) {
			g->dropped++;
			continue;
		}
		if (rc < 0 && rc != -NLE_AGAIN)
			return fail(err, err_len, -EIO, "receiving events: %s", nl_geterror(rc));
	}
	*ev = g->ring[g->head];
	g->head = (g->head + 1) % EV_RING;
	g->count--;
	return 1;
}
