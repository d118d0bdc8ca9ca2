/* SPDX-License-Identifier: MIT */
/*
 * fuzz_genl.c - npu-top's parsers of the kernel driver's generic-netlink messages
 * (hal/npu_drm/npu_drm_genl.h): the input is one raw netlink message, given to both the
 * GET_STATS and the EVENT parser. The reader must survive whatever arrives on the socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/npu_drm/npu_drm_genl.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct npu_genl_stats st;
	struct npu_genl_event ev;
	char err[256];

	/* the parsers read netlink headers in place: libFuzzer's buffer is malloc'd, aligned */
	if (npu_genl_parse_stats(data, size, &st, err, sizeof(err)) == 0)
		FUZZ_CHECK(memchr(st.name, '\0', sizeof(st.name)), "device name not terminated");
	else
		FUZZ_CHECK(err[0], "stats refused without a message");
	if (npu_genl_parse_event(data, size, &ev, err, sizeof(err)) == 0)
		(void)npu_genl_event_name(ev.event);
	else
		FUZZ_CHECK(err[0], "event refused without a message");
	return 0;
}
