/* SPDX-License-Identifier: MIT */
/*
 * fuzz_npu_validate.c - the NPU command-stream validator (kmod/silicon/npu_engine.h), the
 * kernel's security boundary between processes, fuzzed in user space where it is the same
 * code. The input gives the job's buffer list, then the stream:
 *
 *   byte 0        bit 0: the engine has NPU_CAP_DEBUG; bits 1-3: number of buffers (0..7)
 *   4 per buffer  size (u16 LE, taken mod 8193), flags (ENPU_BUF_F_* in the low 2 bits), fill
 *   the rest      the command stream, header first
 *
 * Each buffer is a heap allocation of exactly its size, so AddressSanitizer stops any access
 * outside it. npu_validate() must give a verdict; npu_engine_run() on a fresh engine must give
 * the same one, and when that is "valid" it executes the stream: whatever the validator
 * accepts must run inside the buffers, and what it refuses must leave them untouched. Sizes are capped at 8 KiB because the validator bounds
 * the work of a command by its buffers (an output row per result), so small buffers keep a
 * run short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmod/silicon/npu_engine.h"
#include "uapi/edge_npu_isa.h"
#include "fuzz.h"

#define MAX_BUFS 7
#define MAX_BUF_BYTES 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct npu_buffer bufs[MAX_BUFS];
	struct npu_engine *e;
	struct npu_status vst, rst;
	uint32_t nbufs, caps;
	size_t head;
	int vrc, rrc;

	if (size < 1)
		return 0;
	caps = data[0] & 1 ? NPU_CAP_DEBUG : 0;
	nbufs = (data[0] >> 1) & 7;
	head = 1 + 4 * (size_t)nbufs;
	if (size < head)
		return 0;
	for (uint32_t i = 0; i < nbufs; i++) {
		const uint8_t *d = data + 1 + 4 * i;
		uint64_t bytes = (uint64_t)(d[0] | d[1] << 8) % (MAX_BUF_BYTES + 1);

		/* malloc(0) may return NULL: give a zero-sized buffer a valid, unreadable address */
		bufs[i].data = malloc(bytes ? bytes : 1);
		if (!bufs[i].data)
			abort();
		memset(bufs[i].data, d[3], bytes);
		bufs[i].size = bytes;
		bufs[i].id = i + 1;
		bufs[i].flags = d[2] & (ENPU_BUF_F_READ | ENPU_BUF_F_WRITE);
	}
	e = malloc(sizeof(*e));
	if (!e)
		abort();
	npu_engine_init(e, NULL, caps);
	vrc = npu_validate(e, data + head, size - head, bufs, nbufs, &vst);
	FUZZ_CHECK(vrc == -(int)vst.code && memchr(vst.reason, '\0', sizeof(vst.reason)),
		   "rc %d, code %u", vrc, vst.code);
	FUZZ_CHECK(vrc == 0 || vst.reason[0], "refused without a reason");
	rrc = npu_engine_run(e, data + head, size - head, bufs, nbufs, NULL, &rst);
	/* a stall is a valid stream that never completes: the run says so, validation cannot */
	FUZZ_CHECK(rrc == vrc || (vrc == 0 && rrc == -ENPU_ERR_STALLED && caps),
		   "validate %d (%s), run %d (%s)", vrc, vst.reason, rrc, rst.reason);
	/* a refused stream executes nothing: every buffer still holds its fill byte */
	for (uint32_t i = 0; vrc && i < nbufs; i++) {
		const uint8_t *b = bufs[i].data, fill = data[1 + 4 * i + 3];

		for (uint64_t j = 0; j < bufs[i].size; j++)
			FUZZ_CHECK(b[j] == fill, "refused stream wrote buffer %u at %llu", i,
				   (unsigned long long)j);
	}
	free(e);
	for (uint32_t i = 0; i < nbufs; i++)
		free(bufs[i].data);
	return 0;
}
