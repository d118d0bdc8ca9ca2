// SPDX-License-Identifier: MIT
/*
 * enpu_kmod_test.c - the kernel test suite of edge_npu.ko, run inside the QEMU VM by
 * tests/kmod/run.sh (static binary; needs root for sysfs writes and /dev/kmsg).
 *
 * Groups (each prints "ok"/"FAIL" lines, the last line is "enpu_kmod_test: N passed, M failed"):
 *   contract  every ioctl argument error gets its errno, and the kernel logs nothing above info
 *   isolation a client cannot reach another client's BOs or contexts
 *   jobs      results bit-identical to the in-process engine (kmod/silicon/npu_engine.c linked
 *             here), syncobj chains, implicit sync across contexts
 *   hang      a stalled job (ENPU_OP_DEBUG_STALL, module debug_stall=1) is reset within the
 *             timeout with -ETIMEDOUT, and the next jobs of every client complete
 *   long job  a valid job of 4e9 MACs (the long-job DoS) ends with -ETIMEDOUT within
 *             2 x job_timeout_ms, another client's job completes, the kernel logs no soft
 *             lockup or hung task; prints the longest slice the engine held a CPU
 *   devfreq   min_freq/max_freq bound cur_freq; trans_stat, governor
 *   pm        the device powers off when idle and on for work
 *   fdinfo    the drm-usage-stats keys exist and grow with work
 *   prime     a BO exported as a dma-buf and imported (same device, other fd, other device)
 *             shares its pages: no copy
 *   limits    per-file limits on contexts, BO count and BO bytes: -ENOSPC, others unaffected
 *   memcg     contexts are charged to the caller's memory cgroup
 *   dep error a job whose in-sync failed fails with the same error and does not run
 *   mmu       VM_BIND's argument errors and overlaps; jobs by device address; a job touching
 *             an unmapped or read-only page faults (-EFAULT, context guilty, the fault's
 *             address) while another context's jobs complete; a 4 KiB window of a 1 GiB BO
 *             pins one page (sysfs pinned_pages), and a job naming BOs by handle pins the
 *             pages its stream touches (one of a 1 GiB BO), for its life only
 *   ctx race  CTX_DESTROY racing SUBMIT from several threads: every pushed job signals
 *   leaks     after every fd is closed, no BO is left (sysfs bo_count)
 *   unbind    sysfs unbind of edge-npu.1 with a file open and jobs in flight, then rebind;
 *             and with a closed file's job whose free is held (debug_free_delay_ms) past the
 *             unbind: it holds the device and the module until it is freed
 *   pacing    the pace parameter: wall and engine time follow the clock by the model's ratio,
 *             modeled figures unchanged, a job paced past the timeout is reset
 *   thermal   the thermal zone edge-npu.0 (passive and critical trips, writable), its devfreq
 *             cooling device on the passive trip, sustainable power, hwmon temp1_input; a
 *             sustained load warms the die; with the passive trip lowered under it, step_wise
 *             raises the cooling state and cur_freq drops; the cap lifts once it cools
 *
 * With --qos (the module loaded with num_engines=1): clock requests (SUBMIT freq_khz applied,
 * admin bounds win, bad values refused, the old struct sizes work) and priorities across two
 * processes (HIGH first under contention, LOW still progresses by ageing, no job lost).
 *
 * Usage: enpu_kmod_test [--timeout-ms N] [--race-secs S]
 *          (the module's job_timeout_ms, for the hang bound; how long the race runs, default 10)
 *        enpu_kmod_test --leave-hung-job | --hold-jobs MS | --mmu-fault | --heat MS | --qos
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/sync_file.h>

#include <xf86drm.h>

#include "uapi/drm/edge_npu_drm.h"
#include "kmod/silicon/npu_engine.h"
#include "tests/kmod/enpu_kmod_common.h"

static int n_pass, n_fail;
static unsigned int timeout_ms = 500;

#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (cond) {                                                       \
			n_pass++;                                                 \
		} else {                                                          \
			n_fail++;                                                 \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond);    \
			printf(__VA_ARGS__);                                      \
			printf("\n");                                             \
		}                                                                 \
	} while (0)

/* ioctl returning -errno (0 on success). */
static int xioctl(int fd, unsigned long req, void *arg)
{
	return drmIoctl(fd, req, arg) ? -errno : 0;
}

#define CHECK_ERRNO(expr, want)                                                          \
	do {                                                                             \
		int got_ = (expr);                                                       \
		CHECK(got_ == (want), "got %d (%s), want %d (%s)", got_, strerror(-got_), \
		      (want), strerror(-(want)));                                        \
	} while (0)

/* ---- device discovery ------------------------------------------------------------------ */

/* ---- small wrappers ------------------------------------------------------------------- */

static void ctx_free(int fd, uint32_t handle)
{
	struct drm_edge_npu_ctx_destroy d = { .handle = handle };

	drmIoctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &d);
}

static uint64_t get_param(int fd, uint32_t param, uint32_t index)
{
	struct drm_edge_npu_get_param p = { .param = param, .index = index };

	if (xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p))
		return UINT64_MAX;
	return p.value;
}

/* ---- streams ---------------------------------------------------------------------------- */

static struct enpu_operand opnd(uint32_t buffer, uint64_t offset, uint64_t stride)
{
	struct enpu_operand o = { .buffer = buffer, .offset = offset, .stride = stride };

	return o;
}

static void s_copy(struct stream *s, uint32_t src, uint32_t dst, uint32_t bytes)
{
	struct enpu_cmd_copy c = { .src = opnd(src, 0, bytes), .dst = opnd(dst, 0, bytes),
				   .rows = 1, .row_bytes = bytes };

	s_add(s, &c, sizeof(c), ENPU_OP_COPY);
}

static void s_stall(struct stream *s)
{
	struct enpu_cmd_debug_stall c = { .cycles = 1000 };

	s_add(s, &c, sizeof(c), ENPU_OP_DEBUG_STALL);
}

/* A job: a context, a stream BO and a buffer list. */
struct job {
	uint32_t ctx;
	uint32_t cmd_bo;
	struct drm_edge_npu_bo_ref refs[8];
	uint32_t nrefs;
	uint32_t in_syncs[4];
	uint32_t nin;
	uint32_t out_sync;
	uint32_t freq_khz; /* the job's clock request, 0 none */
};

static int submit(int fd, struct job *j, const struct stream *s,
		  struct drm_edge_npu_submit *out)
{
	struct drm_edge_npu_submit a = {
		.ctx = j->ctx, .cmd_bo = j->cmd_bo, .cmd_size = s->len,
		.num_bos = j->nrefs, .bos = (uintptr_t)j->refs,
		.bo_ref_size = sizeof(struct drm_edge_npu_bo_ref),
		.num_in_syncs = j->nin, .in_syncs = (uintptr_t)j->in_syncs,
		.out_sync = j->out_sync, .freq_khz = j->freq_khz,
	};
	void *p = bo_map(fd, j->cmd_bo, 4096);
	int ret;

	if (!p)
		return -ENOMEM;
	memcpy(p, s->data, s->len);
	munmap(p, 4096);
	ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a);
	if (out)
		*out = a;
	return ret;
}

/* ---- sysfs ---------------------------------------------------------------------------- */

#define NPU_SYSFS(dev, attr) "/sys/bus/platform/devices/edge-npu." #dev "/npu/" attr
#define DEVFREQ0 "/sys/class/devfreq/edge-npu.0/"

/* ---- groups ----------------------------------------------------------------------------- */

static void test_params(int fd)
{
	struct drm_edge_npu_get_param p = { 0 };

	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_ISA_VERSION, 0) == ENPU_ISA_VERSION, "isa");
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_NUM_ENGINES, 0) >= 1, "engines");
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_SRAM_BYTES, 0) == npu_default_hw.sram_bytes,
	      "sram");
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_MAC_COLS, 0) == npu_default_hw.mac_cols, "mac");
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_NUM_OPPS, 0) == NPU_NUM_OPPS, "opps");
	for (uint32_t i = 0; i < NPU_NUM_OPPS; i++)
		CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ, i) ==
		      npu_opp_table[i].freq_mhz * 1000000ull, "opp %u", i);
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_CAPABILITIES, 0) & DRM_EDGE_NPU_CAP_PRIME, "caps");

	p.param = 9999;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p), -EINVAL);
	p.param = DRM_EDGE_NPU_PARAM_ISA_VERSION;
	p.index = 1;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p), -EINVAL);
	p.param = DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ;
	p.index = NPU_NUM_OPPS;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_GET_PARAM, &p), -EINVAL);
	/* an ioctl number the driver does not have */
	CHECK_ERRNO(xioctl(fd, DRM_IOWR(DRM_COMMAND_BASE + 0x30, struct drm_edge_npu_get_param),
			   &p), -EINVAL);
}

/* CTX_CREATE with HIGH priority in a child that dropped CAP_SYS_NICE; returns its errno. */
static int high_prio_without_cap_sys_nice(int fd)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
		struct __user_cap_data_struct data[2];
		struct drm_edge_npu_ctx_create cc = { .priority = DRM_EDGE_NPU_PRIORITY_HIGH };

		if (syscall(SYS_capget, &hdr, data))
			_exit(100);
		data[0].effective &= ~(1u << CAP_SYS_NICE);
		if (syscall(SYS_capset, &hdr, data))
			_exit(101);
		_exit(-xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -999;
	return -WEXITSTATUS(status);
}

static void test_contract(int fd)
{
	struct drm_edge_npu_bo_create bc;
	struct drm_edge_npu_bo_mmap_offset mo = { 0 };
	struct drm_edge_npu_bo_wait bw = { 0 };
	struct drm_edge_npu_ctx_create cc;
	struct drm_edge_npu_ctx_destroy cd = { 0 };
	struct drm_edge_npu_ctx_query cq = { 0 };
	struct drm_edge_npu_submit sa, r;
	struct stream s;
	uint32_t ctx, cmd, a, b, sync;
	struct job j = { 0 };
	int kmsg = kmsg_open_at_end();

	/* BO_CREATE */
	bc = (struct drm_edge_npu_bo_create){ .size = 0 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL);
	bc = (struct drm_edge_npu_bo_create){ .size = 4096, .flags = 1 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL);
	bc = (struct drm_edge_npu_bo_create){ .size = 4096, .reserved = 1 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL);
	bc = (struct drm_edge_npu_bo_create){ .size = (1ull << 32) + 1 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), -EINVAL);
	bc = (struct drm_edge_npu_bo_create){ .size = 100 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &bc), 0);
	CHECK(bc.handle && bc.actual_size == 4096, "handle %u size %llu", bc.handle,
	      (unsigned long long)bc.actual_size);
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, (void *)8), -EFAULT);
	gem_close(fd, bc.handle);

	/* BO_MMAP_OFFSET, BO_WAIT */
	mo.handle = 12345;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -ENOENT);
	a = bo_new(fd, 4096);
	mo.handle = a;
	mo.reserved = 1;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -EINVAL);
	bw.handle = 12345;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &bw), -ENOENT);
	bw.handle = a;
	bw.flags = 2;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &bw), -EINVAL);
	bw.flags = 0;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &bw), 0);

	/* CTX_* */
	cc = (struct drm_edge_npu_ctx_create){ .priority = 3 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL);
	cc = (struct drm_edge_npu_ctx_create){ .priority = 1, .flags = 1 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL);
	cc = (struct drm_edge_npu_ctx_create){ .priority = 1, .reserved = 1 };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &cc), -EINVAL);
	CHECK_ERRNO(high_prio_without_cap_sys_nice(fd), -EACCES);
	cd.handle = 777;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -ENOENT);
	ctx = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_NORMAL);
	CHECK(ctx != 0, "ctx");
	cd.handle = ctx;
	cd.reserved = 1;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -EINVAL);
	cq.handle = 777;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &cq), -ENOENT);
	cq.handle = ctx;
	cq.state = 5;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &cq), -EINVAL);

	/* SUBMIT */
	cmd = bo_new(fd, 4096);
	b = bo_new(fd, 4096);
	drmSyncobjCreate(fd, 0, &sync);
	s_begin(&s);
	s_copy(&s, 0, 1, 256);
	s_finish(&s);
	j = (struct job){ .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE };
	CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);

	sa = (struct drm_edge_npu_submit){
		.ctx = ctx, .cmd_bo = cmd, .cmd_size = s.len, .num_bos = 2,
		.bos = (uintptr_t)j.refs, .bo_ref_size = sizeof(j.refs[0]),
	};
#define SUBMIT_ERR(field, value, want)                                               \
	do {                                                                         \
		r = sa;                                                              \
		r.field = value;                                                     \
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), want);        \
	} while (0)
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &sa), 0);
	SUBMIT_ERR(ctx, 999, -ENOENT);
	SUBMIT_ERR(ctx, 0, -ENOENT);
	SUBMIT_ERR(cmd_bo, 999, -ENOENT);
	SUBMIT_ERR(cmd_offset, 8192, -EINVAL);
	SUBMIT_ERR(cmd_offset, 4, -EINVAL);
	SUBMIT_ERR(cmd_offset, UINT64_MAX - 7, -EINVAL);
	SUBMIT_ERR(cmd_offset, 4096 - 8, -EINVAL); /* stream runs past the BO */
	SUBMIT_ERR(cmd_size, 0, -EINVAL);
	SUBMIT_ERR(cmd_size, 8192, -EINVAL);
	SUBMIT_ERR(cmd_size, ENPU_MAX_STREAM_BYTES + 1, -EINVAL);
	SUBMIT_ERR(num_bos, DRM_EDGE_NPU_MAX_BOS + 1, -EINVAL);
	SUBMIT_ERR(bo_ref_size, 4, -EINVAL);
	SUBMIT_ERR(bos, 8, -EFAULT);
	SUBMIT_ERR(flags, 1, -EINVAL);
	SUBMIT_ERR(reserved, 1, -EINVAL);
	SUBMIT_ERR(seqno, 77, 0); /* outputs are ignored on input */
	SUBMIT_ERR(num_in_syncs, DRM_EDGE_NPU_MAX_IN_SYNCS + 1, -EINVAL);
	SUBMIT_ERR(out_sync, 4242, -ENOENT);
	{
		uint32_t bad_sync = 4242;

		r = sa;
		r.num_in_syncs = 1;
		r.in_syncs = (uintptr_t)&bad_sync;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -ENOENT);
		r.in_syncs = 8;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EFAULT);
	}
	{
		struct drm_edge_npu_bo_ref refs[2] = { { .handle = a, .flags = DRM_EDGE_NPU_BO_READ },
						       { .handle = 999, .flags = DRM_EDGE_NPU_BO_WRITE } };

		r = sa;
		r.bos = (uintptr_t)refs;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -ENOENT);
		refs[1].handle = a; /* duplicate */
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = 8 }; /* undefined flag */
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		/* a range entry names no BO, and a BO entry no range */
		refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_VA |
							DRM_EDGE_NPU_BO_WRITE, .addr = 1 << 20, .size = 1 };
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE,
							.size = 4096 };
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		refs[1] = (struct drm_edge_npu_bo_ref){ .flags = DRM_EDGE_NPU_BO_VA |
							DRM_EDGE_NPU_BO_WRITE, .addr = 1 << 20 };
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL); /* empty range */
		refs[1] = (struct drm_edge_npu_bo_ref){ .flags = DRM_EDGE_NPU_BO_VA |
							DRM_EDGE_NPU_BO_WRITE,
							.addr = (1ull << 48) - 4096, .size = 8192 };
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL); /* past 2^48 */
		refs[1].addr = DRM_EDGE_NPU_VA_USER_END;
		refs[1].size = 4096;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL); /* driver's half */
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = 0 }; /* no access */
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
	}
	{
		/* a longer (future) bo_ref: zero tail accepted, nonzero tail refused */
		uint32_t big[2][8] = { { a, DRM_EDGE_NPU_BO_READ }, { b, DRM_EDGE_NPU_BO_WRITE } };
		/* the first version (8 bytes), zero-extended */
		uint32_t small[2][2] = { { a, DRM_EDGE_NPU_BO_READ }, { b, DRM_EDGE_NPU_BO_WRITE } };

		r = sa;
		r.bos = (uintptr_t)big;
		r.bo_ref_size = 32;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), 0);
		big[1][7] = 1;
		r = sa;
		r.bos = (uintptr_t)big;
		r.bo_ref_size = 32;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), -EINVAL);
		r = sa;
		r.bos = (uintptr_t)small;
		r.bo_ref_size = 8;
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &r), 0);
	}
	/* invalid streams: the verdict comes back */
	{
		struct stream bad = s;

		bad.data[0] ^= 0xff; /* magic */
		CHECK_ERRNO(submit(fd, &j, &bad, &r), -EINVAL);
		CHECK(r.error_code == ENPU_ERR_BAD_MAGIC && r.error_cmd == NPU_CMD_HEADER,
		      "code %u cmd %u", r.error_code, r.error_cmd);
		s_begin(&bad);
		s_copy(&bad, 0, 1, 256);
		s_copy(&bad, 0, 1, 8192); /* past the 4 KiB buffers */
		s_finish(&bad);
		CHECK_ERRNO(submit(fd, &j, &bad, &r), -EINVAL);
		CHECK(r.error_code == ENPU_ERR_OUT_OF_BOUNDS && r.error_cmd == 1, "code %u cmd %u",
		      r.error_code, r.error_cmd);
		s_begin(&bad);
		s_copy(&bad, 1, 0, 256); /* reads the write-only buffer */
		s_finish(&bad);
		CHECK_ERRNO(submit(fd, &j, &bad, &r), -EINVAL);
		CHECK(r.error_code == ENPU_ERR_NOT_READABLE, "code %u", r.error_code);
		s_begin(&bad);
		s_copy(&bad, 0, 2, 256); /* buffer index beyond the list */
		s_finish(&bad);
		CHECK_ERRNO(submit(fd, &j, &bad, &r), -EINVAL);
		CHECK(r.error_code == ENPU_ERR_BAD_BUFFER, "code %u", r.error_code);
	}
	/* wait for the good jobs, then nothing above info may have been logged */
	{
		struct drm_edge_npu_bo_wait w = { .handle = b, .timeout_ns = INT64_MAX };

		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_WAIT, &w), 0);
	}
	if (kmsg >= 0) {
		CHECK(kmsg_count_loud(kmsg) == 0, "kernel logged above info during contract tests");
		close(kmsg);
	} else {
		CHECK(0, "cannot open /dev/kmsg");
	}
	drmSyncobjDestroy(fd, sync);
	gem_close(fd, a);
	gem_close(fd, b);
	gem_close(fd, cmd);
	cd = (struct drm_edge_npu_ctx_destroy){ .handle = ctx };
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), 0);
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_DESTROY, &cd), -ENOENT);
}

static void test_isolation(int fd1, int fd2)
{
	uint32_t a = bo_new(fd1, 4096), ctx = ctx_new(fd1, 1), cmd2 = bo_new(fd2, 4096);
	uint32_t ctx2 = ctx_new(fd2, 1);
	struct drm_edge_npu_bo_mmap_offset mo = { .handle = a };
	struct drm_edge_npu_ctx_query q = { .handle = ctx };
	struct stream s;
	struct job j = { .ctx = ctx2, .cmd_bo = cmd2, .nrefs = 2 };
	void *p;

	/* fd2 has BO cmd2 only; fd1's handles mean nothing there */
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a == cmd2 ? a + 1 : a, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = a + 7, .flags = DRM_EDGE_NPU_BO_WRITE };
	s_begin(&s);
	s_copy(&s, 0, 1, 64);
	s_finish(&s);
	CHECK_ERRNO(submit(fd2, &j, &s, NULL), -ENOENT);
	mo.handle = a + 7;
	CHECK_ERRNO(xioctl(fd2, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), -ENOENT);
	/* fd1's fake mmap offset does not map through fd2 */
	mo.handle = a;
	CHECK_ERRNO(xioctl(fd1, DRM_IOCTL_EDGE_NPU_BO_MMAP_OFFSET, &mo), 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, mo.offset);
	CHECK(p == MAP_FAILED, "fd2 mapped fd1's BO");
	if (p != MAP_FAILED)
		munmap(p, 4096);
	/* contexts are per file too */
	q.handle = ctx;
	if (ctx != ctx2)
		CHECK_ERRNO(xioctl(fd2, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), -ENOENT);
	j.ctx = ctx + 100;
	CHECK_ERRNO(submit(fd2, &j, &s, NULL), -ENOENT);
	gem_close(fd1, a);
	gem_close(fd2, cmd2);
	ctx_free(fd1, ctx);
	ctx_free(fd2, ctx2);
}

/* A matmul + copy job, run in the kernel and by the in-process engine: bytes must match. */
#define MM_M 3
#define MM_N 64
#define MM_K 128
#define Q8_ROW (MM_K / ENPU_QK * sizeof(struct enpu_block_q8))
#define I32_ROW (MM_N / ENPU_QK * sizeof(struct enpu_block_i32))

static void fill_q8(struct enpu_block_q8 *b, size_t n, unsigned int *seed)
{
	for (size_t i = 0; i < n; i++) {
		b[i].scale_m = (int16_t)(rand_r(seed) % 2047) - 1023;
		b[i].scale_e = (int8_t)(rand_r(seed) % 9) - 14;
		b[i].reserved = 0;
		for (int k = 0; k < ENPU_QK; k++)
			b[i].qs[k] = (int8_t)(rand_r(seed) % 255 - 127);
	}
}

static void test_jobs(int fd)
{
	size_t wbytes = MM_N * Q8_ROW, xbytes = MM_M * Q8_ROW, ybytes = MM_M * I32_ROW;
	uint32_t ctx1 = ctx_new(fd, DRM_EDGE_NPU_PRIORITY_LOW), ctx2 = ctx_new(fd, 2);
	uint32_t cmd = bo_new(fd, 4096), cmd2 = bo_new(fd, 4096);
	uint32_t w = bo_new(fd, wbytes), x = bo_new(fd, xbytes), y = bo_new(fd, ybytes);
	uint32_t z = bo_new(fd, ybytes), s1, s2;
	uint8_t *pw = bo_map(fd, w, wbytes), *px = bo_map(fd, x, xbytes);
	uint8_t *py = bo_map(fd, y, ybytes), *pz = bo_map(fd, z, ybytes);
	uint8_t *hw_ = malloc(wbytes), *hx = malloc(xbytes), *hy = calloc(1, ybytes);
	uint8_t *hz = calloc(1, ybytes);
	struct npu_engine *e = calloc(1, sizeof(*e));
	unsigned int seed = 42;
	struct stream s, s_b;
	struct job j = { .ctx = ctx1, .cmd_bo = cmd, .nrefs = 3 };
	struct job jb = { .ctx = ctx2, .cmd_bo = cmd2, .nrefs = 2 };
	struct drm_edge_npu_submit out;
	struct npu_status st;
	struct drm_edge_npu_ctx_query q = { .handle = ctx1 };

	if (!ctx2) /* HIGH needs CAP_SYS_NICE: root in the VM has it */
		CHECK(0, "high-priority context refused");
	CHECK(pw && px && py && pz && e, "maps");
	if (!pw || !px || !py || !pz || !e)
		return;
	fill_q8((struct enpu_block_q8 *)hw_, wbytes / sizeof(struct enpu_block_q8), &seed);
	fill_q8((struct enpu_block_q8 *)hx, xbytes / sizeof(struct enpu_block_q8), &seed);
	memcpy(pw, hw_, wbytes);
	memcpy(px, hx, xbytes);
	memset(py, 0x5a, ybytes);
	memset(hy, 0x5a, ybytes);

	s_begin(&s);
	{
		struct enpu_cmd_matmul mm = {
			.weights = opnd(0, 0, Q8_ROW), .input = opnd(1, 0, Q8_ROW),
			.output = opnd(2, 0, I32_ROW), .m = MM_M, .n = MM_N, .k = MM_K,
			.w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I32B,
		};

		s_add(&s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	}
	s_finish(&s);
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = w, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = x, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[2] = (struct drm_edge_npu_bo_ref){ .handle = y, .flags = DRM_EDGE_NPU_BO_WRITE };
	drmSyncobjCreate(fd, 0, &s1);
	drmSyncobjCreate(fd, 0, &s2);
	j.out_sync = s1;
	CHECK_ERRNO(submit(fd, &j, &s, &out), 0);
	CHECK(out.seqno == 1, "seqno %llu", (unsigned long long)out.seqno);

	/* second job on another context: copies y -> z, after job 1 through the syncobj and
	 * through y's reservation object (implicit) */
	s_begin(&s_b);
	s_copy(&s_b, 0, 1, (uint32_t)ybytes);
	s_finish(&s_b);
	jb.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = y, .flags = DRM_EDGE_NPU_BO_READ };
	jb.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = z, .flags = DRM_EDGE_NPU_BO_WRITE };
	jb.in_syncs[0] = s1;
	jb.nin = 1;
	jb.out_sync = s2;
	CHECK_ERRNO(submit(fd, &jb, &s_b, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, s2, 10000), 0);
	CHECK(sync_status(fd, s2) == 1, "status %d", sync_status(fd, s2));

	/* the same jobs in process */
	npu_engine_init(e, NULL, 0);
	{
		struct npu_buffer bufs[3] = {
			{ hw_, wbytes, 1, ENPU_BUF_F_READ, 0 }, { hx, xbytes, 2, ENPU_BUF_F_READ, 0 },
			{ hy, ybytes, 3, ENPU_BUF_F_WRITE, 0 },
		};
		struct npu_buffer bufs2[2] = { { hy, ybytes, 3, ENPU_BUF_F_READ, 0 },
					       { hz, ybytes, 4, ENPU_BUF_F_WRITE, 0 } };

		CHECK(npu_engine_run(e, s.data, s.len, bufs, 3, NULL, &st) == 0, "%s", st.reason);
		CHECK(npu_engine_run(e, s_b.data, s_b.len, bufs2, 2, NULL, &st) == 0, "%s",
		      st.reason);
	}
	CHECK(!memcmp(py, hy, ybytes), "kernel matmul differs from the in-process engine");
	CHECK(!memcmp(pz, hz, ybytes), "copied output differs");
	CHECK(memcmp(hy, hz, 0) == 0 && ((int32_t *)hy)[1] != 0x5a5a5a5a, "output written");

	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	CHECK(q.jobs == 1 && q.errors == 0 && q.busy_cycles > 0 && q.energy_pj > 0 &&
	      q.macs == (uint64_t)MM_M * MM_N * MM_K, "jobs %llu macs %llu",
	      (unsigned long long)q.jobs, (unsigned long long)q.macs);

	/* many small jobs, all contexts, wait for the last: ordering and throughput */
	{
		uint64_t t0 = now_ms();

		for (int i = 0; i < 50; i++)
			CHECK_ERRNO(submit(fd, (i & 1) ? &jb : &j, (i & 1) ? &s_b : &s, NULL), 0);
		CHECK_ERRNO(sync_wait(fd, s2, 20000), 0);
		printf("  50 jobs in %llu ms\n", (unsigned long long)(now_ms() - t0));
		CHECK(!memcmp(pz, hz, ybytes), "after 50 jobs");
	}

	munmap(pw, wbytes);
	munmap(px, xbytes);
	munmap(py, ybytes);
	munmap(pz, ybytes);
	free(hw_);
	free(hx);
	free(hy);
	free(hz);
	free(e);
	drmSyncobjDestroy(fd, s1);
	drmSyncobjDestroy(fd, s2);
	/* closing handles and contexts with jobs possibly in flight is legal */
	gem_close(fd, w);
	gem_close(fd, x);
	gem_close(fd, y);
	gem_close(fd, z);
	gem_close(fd, cmd);
	gem_close(fd, cmd2);
	ctx_free(fd, ctx1);
	ctx_free(fd, ctx2);
}

static void test_hang(int fd1, int fd2)
{
	uint32_t ctx = ctx_new(fd1, 1), ctx_b = ctx_new(fd2, 1);
	uint32_t cmd = bo_new(fd1, 4096), a = bo_new(fd1, 4096), b = bo_new(fd1, 4096);
	uint32_t cmd_b = bo_new(fd2, 4096), c = bo_new(fd2, 4096), d = bo_new(fd2, 4096);
	uint32_t s_hang, s_next, s_other;
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	struct job jo = { .ctx = ctx_b, .cmd_bo = cmd_b, .nrefs = 2 };
	struct drm_edge_npu_ctx_query q = { .handle = ctx };
	struct stream hang, ok;
	int64_t resets0 = read_num(NPU_SYSFS(0, "engine_resets"));
	uint64_t t0;

	if (!(get_param(fd1, DRM_EDGE_NPU_PARAM_CAPABILITIES, 0) & DRM_EDGE_NPU_CAP_DEBUG_STALL)) {
		CHECK(0, "module not loaded with debug_stall=1");
		return;
	}
	drmSyncobjCreate(fd1, 0, &s_hang);
	drmSyncobjCreate(fd1, 0, &s_next);
	drmSyncobjCreate(fd2, 0, &s_other);
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE };
	jo.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = c, .flags = DRM_EDGE_NPU_BO_READ };
	jo.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = d, .flags = DRM_EDGE_NPU_BO_WRITE };
	s_begin(&hang);
	s_copy(&hang, 0, 1, 64);
	s_stall(&hang);
	s_finish(&hang);
	s_begin(&ok);
	s_copy(&ok, 0, 1, 4096);
	s_finish(&ok);

	t0 = now_ms();
	j.out_sync = s_hang;
	CHECK_ERRNO(submit(fd1, &j, &hang, NULL), 0);
	j.out_sync = s_next; /* the guilty context's next job */
	CHECK_ERRNO(submit(fd1, &j, &ok, NULL), 0);
	jo.out_sync = s_other; /* another client's job */
	CHECK_ERRNO(submit(fd2, &jo, &ok, NULL), 0);

	CHECK_ERRNO(sync_wait(fd1, s_hang, timeout_ms * 4 + 5000), 0);
	{
		uint64_t dt = now_ms() - t0;

		printf("  hung job reset after %llu ms (timeout %u ms)\n", (unsigned long long)dt,
		       timeout_ms);
		CHECK(dt >= timeout_ms / 2 && dt <= timeout_ms * 4 + 2000, "reset after %llu ms",
		      (unsigned long long)dt);
	}
	CHECK(sync_status(fd1, s_hang) == -ETIMEDOUT, "hung job status %d",
	      sync_status(fd1, s_hang));
	CHECK_ERRNO(sync_wait(fd1, s_next, 10000), 0);
	CHECK(sync_status(fd1, s_next) == 1, "next job status %d", sync_status(fd1, s_next));
	CHECK_ERRNO(sync_wait(fd2, s_other, 10000), 0);
	CHECK(sync_status(fd2, s_other) == 1, "other client's job status %d",
	      sync_status(fd2, s_other));
	CHECK_ERRNO(xioctl(fd1, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	CHECK(q.errors == 1 && q.last_error == -ETIMEDOUT && q.jobs == 1, "errors %llu last %d",
	      (unsigned long long)q.errors, q.last_error);
	CHECK(read_num(NPU_SYSFS(0, "engine_resets")) == resets0 + 1, "engine_resets %lld",
	      (long long)read_num(NPU_SYSFS(0, "engine_resets")));
	/* and the engine keeps working */
	j.out_sync = s_next;
	CHECK_ERRNO(submit(fd1, &j, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd1, s_next, 10000), 0);
	CHECK(sync_status(fd1, s_next) == 1, "after reset %d", sync_status(fd1, s_next));

	drmSyncobjDestroy(fd1, s_hang);
	drmSyncobjDestroy(fd1, s_next);
	drmSyncobjDestroy(fd2, s_other);
	gem_close(fd1, cmd);
	gem_close(fd1, a);
	gem_close(fd1, b);
	gem_close(fd2, cmd_b);
	gem_close(fd2, c);
	gem_close(fd2, d);
	ctx_free(fd1, ctx);
	ctx_free(fd2, ctx_b);
}

/* Whether the kernel logged a line containing any of the needles since kmsg_open_at_end(). */
static bool kmsg_has(int fd, const char *const *needles, int n)
{
	char rec[1024];
	bool found = false;
	ssize_t len;

	while ((len = read(fd, rec, sizeof(rec) - 1)) > 0 || (len < 0 && errno == EPIPE)) {
		if (len <= 0)
			continue;
		rec[len] = 0;
		for (int i = 0; i < n; i++) {
			const char *msg = strchr(rec, ';');

			if (strstr(rec, needles[i])) {
				printf("  kernel: %s", msg ? msg + 1 : rec);
				found = true;
			}
		}
	}
	return found;
}

/*
 * The long-job DoS of issue 14: m = 1, n = 60591, k = 65536 with stride-0 weights and input in
 * one 72 KiB BO, a valid job of 4e9 MACs (31 s on one CPU before the engine ran in slices,
 * with soft lockups). It must end with -ETIMEDOUT within 2 x job_timeout_ms of its submission,
 * another client's job submitted behind it must complete, and the kernel must log no soft
 * lockup or hung task.
 */
static void test_long_job(int fd1, int fd2)
{
	const uint32_t n = 60591, k = 65536;
	const uint32_t row = k / ENPU_QK * (uint32_t)sizeof(struct enpu_block_q8);
	uint32_t ctx = ctx_new(fd1, 1), ctx_b = ctx_new(fd2, 1), cmd = bo_new(fd1, 4096);
	uint32_t in = bo_new(fd1, row), out = bo_new(fd1, 65536), s_long, s_other;
	uint32_t cmd_b = bo_new(fd2, 4096), c = bo_new(fd2, 4096), d = bo_new(fd2, 4096);
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	struct job jo = { .ctx = ctx_b, .cmd_bo = cmd_b, .nrefs = 2 };
	struct enpu_cmd_matmul mm = {
		.weights = opnd(0, 0, 0), .input = opnd(0, 0, 0), .output = opnd(1, 0, n),
		.m = 1, .n = n, .k = k, .w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I8,
		.requant = { .multiplier = 1 << 30, .shift = 40 },
	};
	static const char *const bad[] = { "soft lockup", "hung task", "blocked for more than" };
	int kmsg = kmsg_open_at_end();
	struct stream s, ok;
	uint64_t t0, dt;

	drmSyncobjCreate(fd1, 0, &s_long);
	drmSyncobjCreate(fd2, 0, &s_other);
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = in, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = out, .flags = DRM_EDGE_NPU_BO_WRITE };
	jo.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = c, .flags = DRM_EDGE_NPU_BO_READ };
	jo.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = d, .flags = DRM_EDGE_NPU_BO_WRITE };
	s_begin(&s);
	s_add(&s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	s_finish(&s);
	s_begin(&ok);
	s_copy(&ok, 0, 1, 4096);
	s_finish(&ok);

	t0 = now_ms();
	j.out_sync = s_long;
	CHECK_ERRNO(submit(fd1, &j, &s, NULL), 0);
	jo.out_sync = s_other;
	CHECK_ERRNO(submit(fd2, &jo, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd1, s_long, 60000), 0);
	dt = now_ms() - t0;
	printf("  long job (4e9 MACs) ended after %llu ms with status %d (timeout %u ms); "
	       "longest engine slice %lld ns\n", (unsigned long long)dt, sync_status(fd1, s_long),
	       timeout_ms, (long long)read_num(NPU_SYSFS(0, "max_slice_ns")));
	CHECK(dt <= 2 * timeout_ms, "ended after %llu ms, more than 2 x %u ms",
	      (unsigned long long)dt, timeout_ms);
	CHECK(sync_status(fd1, s_long) == -ETIMEDOUT, "long job status %d",
	      sync_status(fd1, s_long));
	CHECK_ERRNO(sync_wait(fd2, s_other, 10000), 0);
	CHECK(sync_status(fd2, s_other) == 1, "other client's job status %d",
	      sync_status(fd2, s_other));
	CHECK(kmsg >= 0 && !kmsg_has(kmsg, bad, 3), "soft lockup or hung task in the kernel log");
	if (kmsg >= 0)
		close(kmsg);
	drmSyncobjDestroy(fd1, s_long);
	drmSyncobjDestroy(fd2, s_other);
	gem_close(fd1, cmd);
	gem_close(fd1, in);
	gem_close(fd1, out);
	gem_close(fd2, cmd_b);
	gem_close(fd2, c);
	gem_close(fd2, d);
	ctx_free(fd1, ctx);
	ctx_free(fd2, ctx_b);
}

/* Runs n copy jobs of 1 MiB on a fresh context and waits for them. */
static void busy_work(int fd, int n)
{
	uint32_t ctx = ctx_new(fd, 1), cmd = bo_new(fd, 4096);
	uint32_t a = bo_new(fd, 1 << 20), b = bo_new(fd, 1 << 20), sync;
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	struct stream s;

	drmSyncobjCreate(fd, 0, &sync);
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE };
	j.out_sync = sync;
	s_begin(&s);
	s_copy(&s, 0, 1, 1 << 20);
	s_finish(&s);
	for (int i = 0; i < n; i++)
		submit(fd, &j, &s, NULL);
	CHECK_ERRNO(sync_wait(fd, sync, 20000), 0);
	drmSyncobjDestroy(fd, sync);
	gem_close(fd, a);
	gem_close(fd, b);
	gem_close(fd, cmd);
	ctx_free(fd, ctx);
}

static void test_devfreq(int fd)
{
	char buf[512], lo[32], hi[32];
	int64_t cur;

	if (!(get_param(fd, DRM_EDGE_NPU_PARAM_CAPABILITIES, 0) & DRM_EDGE_NPU_CAP_DEVFREQ)) {
		CHECK(0, "no devfreq (governor_simpleondemand not loaded?)");
		return;
	}
	CHECK(read_str(DEVFREQ0 "governor", buf, sizeof(buf)) == 0 &&
	      !strcmp(buf, "simple_ondemand"), "governor '%s'", buf);
	CHECK(read_str(DEVFREQ0 "available_frequencies", buf, sizeof(buf)) == 0 &&
	      strstr(buf, "200000000") && strstr(buf, "1000000000"), "freqs '%s'", buf);
	snprintf(lo, sizeof(lo), "%llu", npu_opp_table[0].freq_mhz * 1000000ull);
	snprintf(hi, sizeof(hi), "%llu", npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull);

	/* pin to the lowest: max_freq = lowest */
	CHECK_ERRNO(write_str(DEVFREQ0 "min_freq", lo), 0);
	CHECK_ERRNO(write_str(DEVFREQ0 "max_freq", lo), 0);
	busy_work(fd, 8);
	cur = read_num(DEVFREQ0 "cur_freq");
	CHECK(cur == atoll(lo), "cur_freq %lld with max_freq %s", (long long)cur, lo);
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_CUR_FREQ_HZ, 0) == (uint64_t)atoll(lo),
	      "param cur freq");
	CHECK(read_str(NPU_SYSFS(0, "opp"), buf, sizeof(buf)) == 0 && !strncmp(buf, "0 200 ", 6),
	      "opp '%s'", buf);

	/* pin to the highest: min_freq = highest, even when idle */
	CHECK_ERRNO(write_str(DEVFREQ0 "max_freq", hi), 0);
	CHECK_ERRNO(write_str(DEVFREQ0 "min_freq", hi), 0);
	usleep(200 * 1000);
	cur = read_num(DEVFREQ0 "cur_freq");
	CHECK(cur == atoll(hi), "cur_freq %lld with min_freq %s", (long long)cur, hi);

	/* a range in the middle: cur_freq stays inside under load and idle */
	{
		char mid_lo[32], mid_hi[32];

		snprintf(mid_lo, sizeof(mid_lo), "%llu", npu_opp_table[1].freq_mhz * 1000000ull);
		snprintf(mid_hi, sizeof(mid_hi), "%llu", npu_opp_table[3].freq_mhz * 1000000ull);
		CHECK_ERRNO(write_str(DEVFREQ0 "min_freq", mid_lo), 0);
		CHECK_ERRNO(write_str(DEVFREQ0 "max_freq", mid_hi), 0);
		busy_work(fd, 8);
		cur = read_num(DEVFREQ0 "cur_freq");
		CHECK(cur >= atoll(mid_lo) && cur <= atoll(mid_hi), "busy cur_freq %lld",
		      (long long)cur);
		usleep(300 * 1000);
		cur = read_num(DEVFREQ0 "cur_freq");
		CHECK(cur >= atoll(mid_lo) && cur <= atoll(mid_hi), "idle cur_freq %lld",
		      (long long)cur);
	}
	CHECK(read_str(DEVFREQ0 "trans_stat", buf, sizeof(buf)) == 0 &&
	      strstr(buf, "Total transition"), "trans_stat '%s'", buf);
	/* restore the full range */
	write_str(DEVFREQ0 "min_freq", lo);
	write_str(DEVFREQ0 "max_freq", hi);
}

static void test_pm(int fd, unsigned int autosuspend_ms)
{
	char st[16];
	int64_t susp0 = read_num(NPU_SYSFS(0, "runtime_suspends"));
	uint64_t t0;

	busy_work(fd, 1);
	/* off within the autosuspend delay plus slack */
	t0 = now_ms();
	do {
		usleep(20 * 1000);
		read_str(NPU_SYSFS(0, "power_state"), st, sizeof(st));
	} while (strcmp(st, "off") && now_ms() - t0 < autosuspend_ms * 5 + 2000);
	CHECK(!strcmp(st, "off"), "power_state '%s' after idle", st);
	CHECK(read_num(NPU_SYSFS(0, "runtime_suspends")) > susp0, "runtime_suspends");
	CHECK(read_str("/sys/bus/platform/devices/edge-npu.0/power/runtime_status", st,
		       sizeof(st)) == 0 && !strcmp(st, "suspended"), "runtime_status '%s'", st);
}

struct fdinfo {
	bool driver, client;
	uint64_t engine_ns, cycles, maxfreq, total_kib, resident_kib, capacity;
	int keys;
};

static struct fdinfo read_fdinfo(int fd)
{
	struct fdinfo fi = { 0 };
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return fi;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (!strncmp(line, "drm-driver:\tedge_npu", 20))
			fi.driver = true, fi.keys++;
		else if (sscanf(line, "drm-client-id: %llu", &v) == 1)
			fi.client = true, fi.keys++;
		else if (sscanf(line, "drm-engine-npu: %llu ns", &v) == 1)
			fi.engine_ns = v, fi.keys++;
		else if (sscanf(line, "drm-engine-capacity-npu: %llu", &v) == 1)
			fi.capacity = v, fi.keys++;
		else if (sscanf(line, "drm-cycles-npu: %llu", &v) == 1)
			fi.cycles = v, fi.keys++;
		else if (sscanf(line, "drm-maxfreq-npu: %llu MHz", &v) == 1)
			fi.maxfreq = v, fi.keys++;
		else if (sscanf(line, "drm-total-memory: %llu KiB", &v) == 1)
			fi.total_kib = v, fi.keys++;
		else if (sscanf(line, "drm-resident-memory: %llu KiB", &v) == 1)
			fi.resident_kib = v, fi.keys++;
	}
	fclose(f);
	return fi;
}

static void test_fdinfo(int fd)
{
	struct fdinfo a = read_fdinfo(fd), b;
	uint32_t bo = bo_new(fd, 1 << 20);

	CHECK(a.keys == 8 && a.driver && a.client, "%d keys", a.keys);
	/* drm-engine-npu sums the engines: the capacity says how many */
	CHECK(a.capacity == get_param(fd, DRM_EDGE_NPU_PARAM_NUM_ENGINES, 0),
	      "drm-engine-capacity-npu %llu", (unsigned long long)a.capacity);
	CHECK(a.maxfreq == 1000, "maxfreq %llu", (unsigned long long)a.maxfreq);
	b = read_fdinfo(fd);
	CHECK(b.total_kib >= a.total_kib + 1024, "total %llu -> %llu",
	      (unsigned long long)a.total_kib, (unsigned long long)b.total_kib);
	busy_work(fd, 4);
	b = read_fdinfo(fd);
	CHECK(b.engine_ns > a.engine_ns && b.cycles > a.cycles,
	      "engine %llu -> %llu cycles %llu -> %llu",
	      (unsigned long long)a.engine_ns, (unsigned long long)b.engine_ns,
	      (unsigned long long)a.cycles, (unsigned long long)b.cycles);
	printf("  fdinfo: engine %llu ns, cycles %llu, total %llu KiB, resident %llu KiB\n",
	       (unsigned long long)b.engine_ns, (unsigned long long)b.cycles,
	       (unsigned long long)b.total_kib, (unsigned long long)b.resident_kib);
	gem_close(fd, bo);
}

/* Export from fd_a, import into fd_b; both mappings and a job on fd_b share the pages. */
static void test_prime_pair(int fd_a, int fd_b, const char *what)
{
	uint32_t a = bo_new(fd_a, 8192), imported = 0, ctx = ctx_new(fd_b, 1);
	uint32_t cmd = bo_new(fd_b, 4096), src = bo_new(fd_b, 8192), sync;
	uint8_t *pa = bo_map(fd_a, a, 8192), *pb, *ps = bo_map(fd_b, src, 8192), *pd;
	int dmabuf = -1;
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	struct stream s;

	CHECK(drmPrimeHandleToFD(fd_a, a, DRM_CLOEXEC | DRM_RDWR, &dmabuf) == 0, "%s export",
	      what);
	CHECK(drmPrimeFDToHandle(fd_b, dmabuf, &imported) == 0, "%s import", what);
	pb = bo_map(fd_b, imported, 8192);
	CHECK(pa && pb && ps, "%s maps", what);
	if (!pa || !pb || !ps)
		return;
	/* CPU write through one fd is visible through the other at once */
	memset(pa, 0x11, 8192);
	CHECK(pb[0] == 0x11 && pb[8191] == 0x11, "%s: import does not see the export", what);
	/* the dma-buf fd maps the same pages too */
	pd = mmap(NULL, 8192, PROT_READ, MAP_SHARED, dmabuf, 0);
	CHECK(pd != MAP_FAILED && pd[4096] == 0x11, "%s: dma-buf mmap", what);
	/* a job on fd_b writes the imported BO; fd_a reads the result in place */
	for (int i = 0; i < 8192; i++)
		ps[i] = (uint8_t)(i * 7);
	drmSyncobjCreate(fd_b, 0, &sync);
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = src, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = imported, .flags = DRM_EDGE_NPU_BO_WRITE };
	j.out_sync = sync;
	s_begin(&s);
	s_copy(&s, 0, 1, 8192);
	s_finish(&s);
	CHECK_ERRNO(submit(fd_b, &j, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd_b, sync, 10000), 0);
	CHECK(!memcmp(pa, ps, 8192), "%s: job output not visible through the exporter", what);
	if (pd != MAP_FAILED)
		munmap(pd, 8192);
	munmap(pa, 8192);
	munmap(pb, 8192);
	munmap(ps, 8192);
	close(dmabuf);
	drmSyncobjDestroy(fd_b, sync);
	gem_close(fd_a, a);
	gem_close(fd_b, imported);
	gem_close(fd_b, cmd);
	gem_close(fd_b, src);
	ctx_free(fd_b, ctx);
}

/* ---- issue 14 defects ----------------------------------------------------------------------- */

/* A new context on fd and the BOs of a 4 KiB copy job: refs[0] read, refs[1] written. */
static void job_new(int fd, struct job *j)
{
	memset(j, 0, sizeof(*j));
	j->ctx = ctx_new(fd, 1);
	j->cmd_bo = bo_new(fd, 4096);
	j->nrefs = 2;
	j->refs[0] = (struct drm_edge_npu_bo_ref){ .handle = bo_new(fd, 4096), .flags = DRM_EDGE_NPU_BO_READ };
	j->refs[1] = (struct drm_edge_npu_bo_ref){ .handle = bo_new(fd, 4096), .flags = DRM_EDGE_NPU_BO_WRITE };
}

/* A stream that hangs the engine (debug_stall=1) and one that copies 4 KiB from 0 to 1. */
static void streams_hang_ok(struct stream *hang, struct stream *ok)
{
	s_begin(hang);
	s_stall(hang);
	s_finish(hang);
	s_begin(ok);
	s_copy(ok, 0, 1, 4096);
	s_finish(ok);
}

#define PARAM(name) "/sys/module/edge_npu/parameters/" name

/* Writes a module parameter, returning its old value in old (NULL: not kept). */
static int set_param(const char *path, const char *val, char *old, size_t len)
{
	if (old && read_str(path, old, len))
		return -1;
	return write_str(path, val);
}

/*
 * What n jobs cost at one clock: host wall time and engine time (fdinfo) in all, and the
 * modeled time and energy of the cheapest job. The cheapest, because the context's jobs may
 * run on either engine, and a job on an engine whose SRAM does not hold the weights yet pays
 * for loading them: the cheapest job is one with its weights resident, at any pace.
 */
struct pace_run {
	uint64_t wall_ns, engine_ns, modeled_ns, job_ns, job_pj;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pins the device's clock to freq_hz (min = max) and waits until the governor applied it. */
static void pin_clock(int fd, uint64_t freq_hz)
{
	char f[32];
	uint64_t t0 = now_ms();

	snprintf(f, sizeof(f), "%llu", (unsigned long long)freq_hz);
	write_str(DEVFREQ0 "max_freq", "1000000000"); /* any order of the two writes is valid */
	write_str(DEVFREQ0 "min_freq", f);
	write_str(DEVFREQ0 "max_freq", f);
	while ((uint64_t)read_num(DEVFREQ0 "cur_freq") != freq_hz && now_ms() - t0 < 3000) {
		busy_work(fd, 1);
		usleep(20 * 1000);
	}
	CHECK((uint64_t)read_num(DEVFREQ0 "cur_freq") == freq_hz, "cur_freq %lld, pinned %s",
	      (long long)read_num(DEVFREQ0 "cur_freq"), f);
}

/* Runs job j (stream s) n times, one after another, each waited for. */
static struct pace_run pace_jobs(int fd, struct job *j, const struct stream *s, int n)
{
	struct drm_edge_npu_ctx_query q0 = { .handle = j->ctx }, q1 = q0;
	struct fdinfo a = read_fdinfo(fd), b;
	struct pace_run r = { .job_ns = UINT64_MAX, .job_pj = UINT64_MAX };
	uint64_t t0 = now_ns();

	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q0), 0);
	for (int i = 0; i < n; i++) {
		CHECK_ERRNO(submit(fd, j, s, NULL), 0);
		CHECK_ERRNO(sync_wait(fd, j->out_sync, 10000), 0);
		CHECK(sync_status(fd, j->out_sync) == 1, "job status %d",
		      sync_status(fd, j->out_sync));
		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q1), 0);
		if (q1.modeled_ns - q0.modeled_ns < r.job_ns)
			r.job_ns = q1.modeled_ns - q0.modeled_ns;
		if (q1.energy_pj - q0.energy_pj < r.job_pj)
			r.job_pj = q1.energy_pj - q0.energy_pj;
		r.modeled_ns += q1.modeled_ns - q0.modeled_ns;
		q0 = q1;
	}
	r.wall_ns = now_ns() - t0;
	b = read_fdinfo(fd);
	r.engine_ns = b.engine_ns - a.engine_ns;
	return r;
}

/*
 * pacing: with the pace parameter at N, a job lasts at least N times its modeled duration at
 * the clock it runs at, so at the lowest clock fdinfo engine time exceeds the highest clock's
 * by about the model's ratio, and wall time grows by about what the model adds. N is chosen
 * so that a job at the lowest clock is
 * held about 150 ms: long against what QEMU takes to compute it, short of job_timeout_ms; the
 * bounds are generous. Pacing changes no modeled figure. A job paced past job_timeout_ms is
 * reset at the timeout like any other, and the engine serves the next job.
 */
static void test_pacing(int fd)
{
	const uint64_t lo = npu_opp_table[0].freq_mhz * 1000000ull;
	const uint64_t hi = npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull;
	uint32_t ctx = ctx_new(fd, 1), cmd = bo_new(fd, 4096), sync, w, x, y;
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 3 };
	struct pace_run fast[2], paced[2];
	char pace[32];
	uint64_t t0, dt, n;
	struct stream s;
	struct enpu_cmd_matmul mm = {
		.weights = opnd(0, 0, Q8_ROW), .input = opnd(1, 0, Q8_ROW),
		.output = opnd(2, 0, I32_ROW), .m = MM_M, .n = MM_N, .k = MM_K,
		.w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I32B,
	};
	enum { WARM = 4, RUNS = 3 };

	w = bo_new(fd, MM_N * Q8_ROW);
	x = bo_new(fd, MM_M * Q8_ROW);
	y = bo_new(fd, MM_M * I32_ROW);
	drmSyncobjCreate(fd, 0, &sync);
	j.out_sync = sync;
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = w, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = x, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[2] = (struct drm_edge_npu_bo_ref){ .handle = y, .flags = DRM_EDGE_NPU_BO_WRITE };
	s_begin(&s);
	s_add(&s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	s_finish(&s);

	for (int i = 0; i < 2; i++) { /* unpaced: the modeled figures the paced runs must keep */
		pin_clock(fd, i ? lo : hi);
		pace_jobs(fd, &j, &s, WARM); /* the weights resident on both engines */
		fast[i] = pace_jobs(fd, &j, &s, RUNS);
	}
	n = 150000000ull / (fast[1].modeled_ns / RUNS ? fast[1].modeled_ns / RUNS : 1);
	snprintf(pace, sizeof(pace), "%llu",
		 (unsigned long long)(n < 1 ? 1 : n > 1000000 ? 1000000 : n));
	n = strtoull(pace, NULL, 10);
	CHECK_ERRNO(set_param(PARAM("pace"), pace, NULL, 0), 0);
	for (int i = 0; i < 2; i++) {
		pin_clock(fd, i ? lo : hi);
		pace_jobs(fd, &j, &s, WARM);
		paced[i] = pace_jobs(fd, &j, &s, RUNS);
		printf("  pace %s at %s MHz: wall %.1f ms, engine %.1f ms for %.2f us modeled; "
		       "a resident job %llu ns, %llu pJ (unpaced: wall %.1f ms, engine %.1f ms, "
		       "%llu ns, %llu pJ)\n", pace, i ? "200" : "1000", paced[i].wall_ns / 1e6,
		       paced[i].engine_ns / 1e6, paced[i].modeled_ns / 1e3,
		       (unsigned long long)paced[i].job_ns, (unsigned long long)paced[i].job_pj,
		       fast[i].wall_ns / 1e6, fast[i].engine_ns / 1e6,
		       (unsigned long long)fast[i].job_ns, (unsigned long long)fast[i].job_pj);
		CHECK(paced[i].job_ns == fast[i].job_ns && paced[i].job_pj == fast[i].job_pj,
		      "a paced job modeled %llu ns %llu pJ, unpaced %llu ns %llu pJ",
		      (unsigned long long)paced[i].job_ns, (unsigned long long)paced[i].job_pj,
		      (unsigned long long)fast[i].job_ns, (unsigned long long)fast[i].job_pj);
		CHECK(paced[i].wall_ns >= paced[i].modeled_ns * n &&
		      paced[i].engine_ns >= paced[i].modeled_ns * n,
		      "wall %llu ns, engine %llu ns: under the paced %llu ns",
		      (unsigned long long)paced[i].wall_ns, (unsigned long long)paced[i].engine_ns,
		      (unsigned long long)(paced[i].modeled_ns * n));
	}
	double model = (double)paced[1].modeled_ns / paced[0].modeled_ns;
	double wall = (double)paced[1].wall_ns / paced[0].wall_ns;
	double eng = (double)paced[1].engine_ns / paced[0].engine_ns;

	printf("  200 vs 1000 MHz paced: modeled %.2fx, wall %.2fx, engine time %.2fx\n", model,
	       wall, eng);
	CHECK(model > 3.0, "modeled ratio %.2f", model);
	CHECK(eng >= 0.5 * model && eng <= 1.4 * model, "engine ratio %.2f, model %.2f", eng,
	      model);
	/*
	 * Wall time also carries each job's way in and out (SUBMIT, the waits, the queries),
	 * which under TCG on a loaded host is tens of ms and varies: the lowest clock must add
	 * at least half of what the model adds, and never more wall time than the model says.
	 */
	double added = (double)(paced[1].modeled_ns - paced[0].modeled_ns) * n;

	CHECK(paced[1].wall_ns > paced[0].wall_ns &&
	      (double)(paced[1].wall_ns - paced[0].wall_ns) >= 0.5 * added,
	      "the lowest clock added %.1f ms of wall time, the model %.1f ms",
	      ((double)paced[1].wall_ns - (double)paced[0].wall_ns) / 1e6, added / 1e6);
	CHECK(wall <= 1.4 * model, "wall ratio %.2f, model %.2f", wall, model);
	CHECK(paced[1].job_pj < paced[0].job_pj, "a job's energy at the lowest clock %llu pJ, "
	      "at the highest %llu pJ", (unsigned long long)paced[1].job_pj,
	      (unsigned long long)paced[0].job_pj);

	/* held past the timeout: reset, -ETIMEDOUT within 2 x the timeout, the next job runs */
	CHECK_ERRNO(set_param(PARAM("pace"), "1000000", NULL, 0), 0);
	t0 = now_ms();
	CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, sync, 10000), 0);
	dt = now_ms() - t0;
	printf("  a job paced past the %u ms timeout ended after %llu ms, status %d\n", timeout_ms,
	       (unsigned long long)dt, sync_status(fd, sync));
	CHECK(sync_status(fd, sync) == -ETIMEDOUT, "status %d", sync_status(fd, sync));
	CHECK(dt <= 2 * timeout_ms, "ended after %llu ms", (unsigned long long)dt);
	CHECK_ERRNO(set_param(PARAM("pace"), "0", NULL, 0), 0);
	pace_jobs(fd, &j, &s, 1);

	write_str(DEVFREQ0 "min_freq", "200000000");
	write_str(DEVFREQ0 "max_freq", "1000000000");
	drmSyncobjDestroy(fd, sync);
	gem_close(fd, w);
	gem_close(fd, x);
	gem_close(fd, y);
	gem_close(fd, cmd);
	ctx_free(fd, ctx);
}

/*
 * A job that ends just as its timeout fires, with the next job started on its credit: the
 * timeout handler (held debug_tdr_delay_ms before it stops the queue) finds the timed-out job
 * done and the next one on the ring, running. The next job must run to its end and succeed:
 * 6.12's scheduler finished it with -ECANCELED and freed it while the engine still ran it
 * (the driver's free path WARNs on a job still on the ring; the suite fails on a WARN).
 * Pacing makes job A last about 1.5 timeouts (ending inside the handler's delay of one
 * timeout) and job B, of the same context so on the same engine, about 0.75 of one (still
 * on the ring when the handler stops the queue, done before its own timeout).
 */
static void test_late_completion(int fd)
{
	const uint64_t hi = npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull;
	uint32_t ctx = ctx_new(fd, 1), cmd = bo_new(fd, 4096), cmd2 = bo_new(fd, 4096);
	uint32_t w = bo_new(fd, MM_N * Q8_ROW), x = bo_new(fd, MM_M * Q8_ROW);
	uint32_t ya = bo_new(fd, MM_M * I32_ROW), yb = bo_new(fd, MM_M * I32_ROW), sa, sb;
	struct job a = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 3 }, b;
	struct enpu_cmd_matmul mm = {
		.weights = opnd(0, 0, Q8_ROW), .input = opnd(1, 0, Q8_ROW),
		.output = opnd(2, 0, I32_ROW), .m = MM_M, .n = MM_N, .k = MM_K,
		.w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I32B,
	};
	uint8_t *pw = bo_map(fd, w, MM_N * Q8_ROW), *px = bo_map(fd, x, MM_M * Q8_ROW);
	uint8_t *pa = bo_map(fd, ya, MM_M * I32_ROW), *pb = bo_map(fd, yb, MM_M * I32_ROW);
	char pace[32], delay[32];
	struct stream sa_s, sb_s;
	unsigned int seed = 7, hits = 0;
	uint64_t n, t0, ta;
	struct pace_run r;
	enum { A_CMDS = 6, B_CMDS = 3, ROUNDS = 3 };

	if (!pw || !px || !pa || !pb) {
		CHECK(0, "maps");
		return;
	}
	fill_q8((void *)pw, MM_N * MM_K / ENPU_QK, &seed);
	fill_q8((void *)px, MM_M * MM_K / ENPU_QK, &seed);
	drmSyncobjCreate(fd, 0, &sa);
	drmSyncobjCreate(fd, 0, &sb);
	a.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = w, .flags = DRM_EDGE_NPU_BO_READ };
	a.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = x, .flags = DRM_EDGE_NPU_BO_READ };
	a.refs[2] = (struct drm_edge_npu_bo_ref){ .handle = ya, .flags = DRM_EDGE_NPU_BO_WRITE };
	b = a;
	b.cmd_bo = cmd2;
	b.refs[2].handle = yb;
	s_begin(&sa_s);
	for (int i = 0; i < A_CMDS; i++)
		s_add(&sa_s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	s_finish(&sa_s);
	s_begin(&sb_s);
	for (int i = 0; i < B_CMDS; i++)
		s_add(&sb_s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	s_finish(&sb_s);

	/* A's modeled time with its weights resident, at a pinned clock: the pace for 1.5 x */
	pin_clock(fd, hi);
	a.out_sync = sa;
	pace_jobs(fd, &a, &sa_s, 4);
	r = pace_jobs(fd, &a, &sa_s, 3);
	n = (uint64_t)timeout_ms * 1500000ull / (r.job_ns ? r.job_ns : 1);
	snprintf(pace, sizeof(pace), "%llu",
		 (unsigned long long)(n < 1 ? 1 : n > 1000000 ? 1000000 : n));
	snprintf(delay, sizeof(delay), "%u", timeout_ms);
	CHECK_ERRNO(set_param(PARAM("debug_tdr_delay_ms"), delay, NULL, 0), 0);
	for (int round = 0; round < ROUNDS; round++) {
		memset(pa, 0, MM_M * I32_ROW);
		memset(pb, 0, MM_M * I32_ROW);
		CHECK_ERRNO(set_param(PARAM("pace"), pace, NULL, 0), 0);
		t0 = now_ms();
		a.out_sync = sa;
		CHECK_ERRNO(submit(fd, &a, &sa_s, NULL), 0);
		b.out_sync = sb;
		CHECK_ERRNO(submit(fd, &b, &sb_s, NULL), 0);
		CHECK_ERRNO(sync_wait(fd, sa, 10000), 0);
		ta = now_ms() - t0;
		CHECK_ERRNO(sync_wait(fd, sb, 10000), 0);
		printf("  round %d: A (%s x %llu ns) %d after %llu ms, B %d after %llu ms\n", round,
		       pace, (unsigned long long)r.job_ns, sync_status(fd, sa),
		       (unsigned long long)ta, sync_status(fd, sb),
		       (unsigned long long)(now_ms() - t0));
		CHECK(sync_status(fd, sb) == 1, "round %d: the job behind one that ended at its "
		      "timeout: status %d", round, sync_status(fd, sb));
		if (sync_status(fd, sa) == 1 && ta > timeout_ms) {
			hits++;
			CHECK(!memcmp(pa, pb, MM_M * I32_ROW), "round %d: B's result differs", round);
		}
		CHECK_ERRNO(set_param(PARAM("pace"), "0", NULL, 0), 0);
	}
	/* the window was reached: A outlived its timeout and still succeeded */
	CHECK(hits > 0, "no round had A end after its %u ms timeout and succeed", timeout_ms);
	CHECK_ERRNO(set_param(PARAM("debug_tdr_delay_ms"), "0", NULL, 0), 0);

	write_str(DEVFREQ0 "min_freq", "200000000");
	write_str(DEVFREQ0 "max_freq", "1000000000");
	munmap(pw, MM_N * Q8_ROW);
	munmap(px, MM_M * Q8_ROW);
	munmap(pa, MM_M * I32_ROW);
	munmap(pb, MM_M * I32_ROW);
	drmSyncobjDestroy(fd, sa);
	drmSyncobjDestroy(fd, sb);
	gem_close(fd, w);
	gem_close(fd, x);
	gem_close(fd, ya);
	gem_close(fd, yb);
	gem_close(fd, cmd);
	gem_close(fd, cmd2);
	ctx_free(fd, ctx);
}

/*
 * debugfs: every device has its "engines", "bos" and "live" files, on 6.1 in each DRM minor's
 * directory under dri/, on 6.12 in the accel device's directory under accel/. The engines'
 * longest slice (DBG_SLICE_MAX_NS: how long the engine held a CPU at once) is printed.
 */
static void test_debugfs(int ndevs)
{
	const char *const parents[] = { "/sys/kernel/debug/dri", "/sys/kernel/debug/accel" };
	unsigned long long longest = 0, v;
	long files = 0, n;
	int dirs = 0;

	for (int p = 0; p < 2; p++) {
		DIR *d = opendir(parents[p]);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[600], buf[4096], *at;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/engines", parents[p], e->d_name);
			if (read_str(path, buf, sizeof(buf)))
				continue;
			dirs++;
			CHECK(!strncmp(buf, "engine 0: opp ", 14), "%s: %.40s", path, buf);
			for (at = buf; (at = strstr(at, "longest ")); at++)
				if (sscanf(at, "longest %llu ns", &v) == 1 && v > longest)
					longest = v;
			snprintf(path, sizeof(path), "%s/%s/live", parents[p], e->d_name);
			n = 0;
			CHECK(!read_str(path, buf, sizeof(buf)) && sscanf(buf, "files %ld", &n) == 1,
			      "%s: %.40s", path, buf);
			files += n;
			snprintf(path, sizeof(path), "%s/%s/bos", parents[p], e->d_name);
			CHECK(!read_str(path, buf, sizeof(buf)) && sscanf(buf, "%ld", &n) == 1,
			      "%s: %.40s", path, buf);
		}
		if (d)
			closedir(d);
	}
	CHECK(dirs >= ndevs, "%d debugfs directories with the driver's files, %d devices", dirs,
	      ndevs);
	CHECK(files >= 2, "debugfs live: %ld files open, the test holds 2", files);
	printf("  %d debugfs directories; the engines' longest slice so far %.1f us\n", dirs,
	       longest / 1e3);
}

static int bo_create_errno(int fd, uint64_t size, uint32_t *handle)
{
	struct drm_edge_npu_bo_create c = { .size = size };
	int ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_BO_CREATE, &c);

	if (!ret && handle)
		*handle = c.handle;
	return ret;
}

static int ctx_create_errno(int fd, uint32_t *handle)
{
	struct drm_edge_npu_ctx_create c = { .priority = 1 };
	int ret = xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_CREATE, &c);

	if (!ret && handle)
		*handle = c.handle;
	return ret;
}

/*
 * Per-file limits (module parameters max_ctxs_per_file, max_bos_per_file,
 * max_bo_bytes_per_file, lowered here): past a limit -ENOSPC, and another file is unaffected.
 */
static void test_limits(void)
{
	char old_ctxs[32], old_bos[32], old_bytes[32];
	int fa = open_npu(0), fb = open_npu(0);
	uint32_t ctxs[8], h[8], hb, extra, imported;
	int i, n, dmabuf = -1;

	if (fa < 0 || fb < 0 ||
	    set_param(PARAM("max_ctxs_per_file"), "4", old_ctxs, sizeof(old_ctxs)) ||
	    set_param(PARAM("max_bos_per_file"), "4", old_bos, sizeof(old_bos)) ||
	    set_param(PARAM("max_bo_bytes_per_file"), "67108864", old_bytes, sizeof(old_bytes))) {
		CHECK(0, "limit module parameters missing or not writable");
		goto out;
	}
	/* contexts */
	for (n = 0; n < 4; n++)
		CHECK_ERRNO(ctx_create_errno(fa, &ctxs[n]), 0);
	CHECK_ERRNO(ctx_create_errno(fa, &extra), -ENOSPC);
	CHECK_ERRNO(ctx_create_errno(fb, &extra), 0); /* the other client is unaffected */
	ctx_free(fb, extra);
	ctx_free(fa, ctxs[0]);
	CHECK_ERRNO(ctx_create_errno(fa, &ctxs[0]), 0); /* a destroyed context frees its slot */
	for (i = 0; i < 4; i++)
		ctx_free(fa, ctxs[i]);

	/* BO bytes: 2 x 32 MiB fill 64 MiB */
	CHECK_ERRNO(bo_create_errno(fa, 32 << 20, &h[0]), 0);
	CHECK_ERRNO(bo_create_errno(fa, 32 << 20, &h[1]), 0);
	CHECK_ERRNO(bo_create_errno(fa, 4096, &extra), -ENOSPC);
	CHECK_ERRNO(bo_create_errno(fb, 32 << 20, &hb), 0);
	/* an import is a handle too: fb's BO cannot enter the full file fa */
	CHECK(drmPrimeHandleToFD(fb, hb, DRM_CLOEXEC | DRM_RDWR, &dmabuf) == 0, "export");
	CHECK(drmPrimeFDToHandle(fa, dmabuf, &imported) != 0 && errno == ENOSPC,
	      "import into a full file: errno %d", errno);
	gem_close(fa, h[1]);
	CHECK(drmPrimeFDToHandle(fa, dmabuf, &imported) == 0, "import after a close");
	gem_close(fa, imported);
	close(dmabuf);
	gem_close(fa, h[0]);
	gem_close(fb, hb);

	/* BO count */
	for (n = 0; n < 4; n++)
		CHECK_ERRNO(bo_create_errno(fa, 4096, &h[n]), 0);
	CHECK_ERRNO(bo_create_errno(fa, 4096, &extra), -ENOSPC);
	CHECK_ERRNO(bo_create_errno(fb, 4096, &hb), 0);
	gem_close(fb, hb);
	for (i = 0; i < 4; i++)
		gem_close(fa, h[i]);
	CHECK_ERRNO(bo_create_errno(fa, 4096, &extra), 0);
	gem_close(fa, extra);
	set_param(PARAM("max_ctxs_per_file"), old_ctxs, NULL, 0);
	set_param(PARAM("max_bos_per_file"), old_bos, NULL, 0);
	set_param(PARAM("max_bo_bytes_per_file"), old_bytes, NULL, 0);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

/* The value of key in a cgroup's memory.stat; -1 if absent. */
static int64_t memcg_stat(const char *cg, const char *key)
{
	char path[128], line[128];
	int64_t v = -1;
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			v = atoll(line + kl + 1);
	fclose(f);
	return v;
}

/*
 * Contexts are charged to the caller's memory cgroup: 4 files x 200 contexts in a child
 * cgroup grow its unreclaimable slab by at least 256 bytes per context.
 */
static void test_memcg(void)
{
	const char *root = "/sys/fs/cgroup", *cg = "/sys/fs/cgroup/enpu";
	char pid[16];
	int fds[4], nf = 0, i, n;
	int64_t before, after;

	mkdir(root, 0755);
	mount("none", root, "cgroup2", 0, NULL); /* may be mounted already */
	if (write_str("/sys/fs/cgroup/cgroup.subtree_control", "+memory") ||
	    (mkdir(cg, 0755) && errno != EEXIST)) {
		CHECK(0, "no cgroup2 memory controller");
		return;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	CHECK(write_str("/sys/fs/cgroup/enpu/cgroup.procs", pid) == 0, "join cgroup");
	for (i = 0; i < 4; i++)
		if ((fds[nf] = open_npu(0)) >= 0)
			nf++;
	usleep(2500 * 1000); /* memcg statistics are flushed every 2 s */
	before = memcg_stat(cg, "slab_unreclaimable");
	for (i = 0; i < nf; i++)
		for (n = 0; n < 200; n++)
			ctx_new(fds[i], 1);
	usleep(2500 * 1000);
	after = memcg_stat(cg, "slab_unreclaimable");
	printf("  memcg slab_unreclaimable %lld -> %lld for %d contexts\n", (long long)before,
	       (long long)after, nf * 200);
	CHECK(nf == 4 && before >= 0 && after - before >= (int64_t)nf * 200 * 256,
	      "contexts not charged to the caller's cgroup: %lld -> %lld", (long long)before,
	      (long long)after);
	for (i = 0; i < nf; i++)
		close(fds[i]);
	write_str("/sys/fs/cgroup/cgroup.procs", pid);
	rmdir(cg);
}

/* ---- the device MMU ------------------------------------------------------------------- */

static struct drm_edge_npu_bo_ref va_ref(uint64_t addr, uint64_t size, uint32_t access)
{
	return (struct drm_edge_npu_bo_ref){ .flags = access | DRM_EDGE_NPU_BO_VA, .addr = addr,
					     .size = size };
}

#define RD DRM_EDGE_NPU_BO_READ
#define WR DRM_EDGE_NPU_BO_WRITE
#define VA1 (1ull << 32)

static void test_vm_bind_contract(int fd)
{
	uint32_t ctx = ctx_new(fd, 1), bo = bo_new(fd, 4 * 4096);

	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1 + 1, 4096), -EINVAL);	/* misaligned */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 4095), -EINVAL);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 100, VA1, 4096), -EINVAL);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 0), -EINVAL);		/* empty */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, 0, 4096), -EINVAL);		/* page 0 */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, DRM_EDGE_NPU_VA_USER_END - 4096, 8192),
		    -EINVAL);							/* driver's half */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, ~0ull << 12, 8192), -EINVAL);	/* wraps */
	CHECK_ERRNO(vm_map(fd, ctx, bo, 0, 0, VA1, 4096), -EINVAL);		/* no access */
	CHECK_ERRNO(vm_map(fd, ctx, bo, 4, 0, VA1, 4096), -EINVAL);		/* undefined flag */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 3 * 4096, VA1, 2 * 4096), -EINVAL); /* past the BO */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 5 * 4096), -EINVAL);
	CHECK_ERRNO(vm_bind(fd, ctx, 2, bo, RD, 0, VA1, 4096), -EINVAL);	/* undefined op */
	CHECK_ERRNO(vm_map(fd, ctx, 999, RD, 0, VA1, 4096), -ENOENT);
	CHECK_ERRNO(vm_map(fd, 999, bo, RD, 0, VA1, 4096), -ENOENT);
	{
		struct drm_edge_npu_vm_bind b = { .ctx = ctx, .handle = bo, .flags = RD,
						  .addr = VA1, .size = 4096, .reserved = 1 };

		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_VM_BIND, &b), -EINVAL);
	}
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD | WR, 4096, VA1 + 4096, 2 * 4096), 0);
	/* overlaps: the same range, one page at either end, around it */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1 + 4096, 2 * 4096), -EEXIST);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 2 * 4096), -EEXIST);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1 + 2 * 4096, 2 * 4096), -EEXIST);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 4 * 4096), -EEXIST);
	/* beside it: fine; the same BO pages twice: fine */
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 0, VA1, 4096), 0);
	CHECK_ERRNO(vm_map(fd, ctx, bo, RD, 4096, VA1 + 3 * 4096, 4096), 0);
	/* unmap takes exactly a mapped range */
	CHECK_ERRNO(vm_unmap(fd, ctx, VA1 + 8 * 4096, 4096), -ENOENT);
	CHECK_ERRNO(vm_unmap(fd, ctx, VA1 + 2 * 4096, 4096), -ENOENT);
	CHECK_ERRNO(vm_unmap(fd, ctx, VA1 + 4096, 4096), -EINVAL);
	CHECK_ERRNO(vm_bind(fd, ctx, DRM_EDGE_NPU_VM_UNMAP, bo, 0, 0, VA1, 4096), -EINVAL);
	CHECK_ERRNO(vm_unmap(fd, ctx, VA1 + 4096, 2 * 4096), 0);
	CHECK_ERRNO(vm_unmap(fd, ctx, VA1 + 4096, 2 * 4096), -ENOENT);
	/* another file's context is not this file's */
	{
		int fd2 = open_npu(0);

		CHECK_ERRNO(vm_unmap(fd2, ctx, VA1, 4096), -ENOENT);
		close(fd2);
	}
	/* what stays mapped goes with the context (and the BO with its last reference) */
	gem_close(fd, bo);
	ctx_free(fd, ctx);
}

/*
 * Jobs by device address; faults. ctx A maps src read-only at VA1 and dst read-write at
 * VA1 + 1 MiB; a job that writes src, or reads past the mapped pages, faults and makes A
 * guilty; ctx B (another file) runs the same copy at the same addresses, on its own pages,
 * throughout.
 */
static void test_vm_faults(int fd, int fd2)
{
	uint32_t a = ctx_new(fd, 1), b = ctx_new(fd2, 1), sync, sync_b;
	uint32_t src = bo_new(fd, 8192), dst = bo_new(fd, 8192);
	uint32_t src_b = bo_new(fd2, 8192), dst_b = bo_new(fd2, 8192);
	uint8_t *ps = bo_map(fd, src, 8192), *pd = bo_map(fd, dst, 8192);
	uint8_t *psb = bo_map(fd2, src_b, 8192), *pdb = bo_map(fd2, dst_b, 8192);
	int64_t faults0 = read_num(NPU_SYSFS(0, "mmu_faults"));
	struct drm_edge_npu_ctx_query q = { .handle = a };
	struct job j = { .ctx = a, .cmd_bo = bo_new(fd, 4096), .nrefs = 2 };
	struct job jb = { .ctx = b, .cmd_bo = bo_new(fd2, 4096), .nrefs = 2 };
	struct stream s;

	CHECK(ps && pd && psb && pdb, "maps");
	if (!ps || !pd || !psb || !pdb)
		return;
	memset(ps, 0x11, 8192);
	memset(psb, 0x22, 8192);
	drmSyncobjCreate(fd, 0, &sync);
	drmSyncobjCreate(fd2, 0, &sync_b);
	j.out_sync = sync;
	jb.out_sync = sync_b;
	CHECK_ERRNO(vm_map(fd, a, src, RD, 0, VA1, 8192), 0);
	CHECK_ERRNO(vm_map(fd, a, dst, RD | WR, 0, VA1 + (1 << 20), 8192), 0);
	CHECK_ERRNO(vm_map(fd2, b, src_b, RD, 0, VA1, 8192), 0);
	CHECK_ERRNO(vm_map(fd2, b, dst_b, RD | WR, 0, VA1 + (1 << 20), 8192), 0);

	/* a copy of 8 KiB by device addresses, in both contexts */
	s_begin(&s);
	s_copy(&s, 0, 1, 8192);
	s_finish(&s);
	j.refs[0] = va_ref(VA1, 8192, RD);
	j.refs[1] = va_ref(VA1 + (1 << 20), 8192, WR);
	jb.refs[0] = j.refs[0];
	jb.refs[1] = j.refs[1];
	CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
	CHECK_ERRNO(submit(fd2, &jb, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
	CHECK_ERRNO(sync_wait(fd2, sync_b, 5000), 0);
	CHECK(sync_status(fd, sync) == 1 && pd[0] == 0x11 && pd[8191] == 0x11,
	      "copy by address: status %d, %#x", sync_status(fd, sync), pd[0]);
	CHECK(pdb[0] == 0x22 && pdb[8191] == 0x22, "the other context's copy: %#x", pdb[0]);

	/* a buffer twice as long as what is mapped: the copy reads the unmapped page */
	s_begin(&s);
	s_copy(&s, 0, 1, 3 * 4096);
	s_finish(&s);
	j.refs[0] = va_ref(VA1, 4 * 4096, RD);
	j.refs[1] = va_ref(VA1 + (1 << 20), 4 * 4096, WR);
	jb.refs[0] = va_ref(VA1, 8192, RD);
	jb.refs[1] = va_ref(VA1 + (1 << 20), 8192, WR);
	memset(pd, 0, 8192);
	CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
	CHECK(sync_status(fd, sync) == -EFAULT, "unmapped page: status %d", sync_status(fd, sync));
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	CHECK(q.state == DRM_EDGE_NPU_CTX_GUILTY && q.last_error == -EFAULT &&
	      q.fault_addr == VA1 + 8192 && q.fault_status == 0x11,
	      "query: state %u error %d addr %#llx status %#x", q.state, q.last_error,
	      (unsigned long long)q.fault_addr, q.fault_status);
	/* it copied what was mapped: the device stops at the fault */
	CHECK(pd[0] == 0x11 && pd[8191] == 0x11, "before the fault: %#x", pd[8191]);
	CHECK(read_num(NPU_SYSFS(0, "mmu_faults")) == faults0 + 1, "mmu_faults %lld",
	      (long long)read_num(NPU_SYSFS(0, "mmu_faults")));
	/* guilty: refused */
	CHECK_ERRNO(submit(fd, &j, &s, NULL), -ECANCELED);
	/* the other context was not touched and still runs */
	s_begin(&s);
	s_copy(&s, 0, 1, 8192);
	s_finish(&s);
	memset(pdb, 0, 8192);
	CHECK_ERRNO(submit(fd2, &jb, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd2, sync_b, 5000), 0);
	CHECK(sync_status(fd2, sync_b) == 1 && pdb[4096] == 0x22, "other context after: %d %#x",
	      sync_status(fd2, sync_b), pdb[4096]);
	CHECK(psb[0] == 0x22, "other context's source: %#x", psb[0]);

	/* a fresh context: writing a page mapped read-only is a permission fault */
	ctx_free(fd, a);
	a = ctx_new(fd, 1);
	j.ctx = a;
	q = (struct drm_edge_npu_ctx_query){ .handle = a };
	CHECK_ERRNO(vm_map(fd, a, src, RD, 0, VA1, 8192), 0);
	CHECK_ERRNO(vm_map(fd, a, dst, RD, 0, VA1 + (1 << 20), 8192), 0);
	j.refs[0] = va_ref(VA1, 8192, RD);
	j.refs[1] = va_ref(VA1 + (1 << 20), 8192, WR);
	CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
	CHECK(sync_status(fd, sync) == -EFAULT, "read-only page: status %d", sync_status(fd, sync));
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	CHECK(q.fault_addr == VA1 + (1 << 20) && q.fault_status == 0x22,
	      "query: addr %#llx status %#x", (unsigned long long)q.fault_addr, q.fault_status);

	munmap(ps, 8192);
	munmap(pd, 8192);
	munmap(psb, 8192);
	munmap(pdb, 8192);
	ctx_free(fd, a);
	ctx_free(fd2, b);
	drmSyncobjDestroy(fd, sync);
	drmSyncobjDestroy(fd2, sync_b);
	gem_close(fd, src);
	gem_close(fd, dst);
	gem_close(fd, j.cmd_bo);
	gem_close(fd2, src_b);
	gem_close(fd2, dst_b);
	gem_close(fd2, jb.cmd_bo);
}

/* Waits (up to 2 s) for sysfs pinned_pages to read want; returns what it read last. */
static int64_t pinned_settles(int64_t want)
{
	int64_t n = -1;

	for (int i = 0; i < 200 && (n = read_num(NPU_SYSFS(0, "pinned_pages"))) != want; i++)
		usleep(10000);
	return n;
}

/*
 * A job that uses one page of a 1 GiB BO pins that page, nothing else, and maps nothing into
 * the kernel; a job naming small BOs by handle pins their pages for its life only. (The big BO
 * is never mmapped: the shmem helper's mmap would pin all of it. Jobs write and read it.)
 */
static void test_vm_pinning(int fd)
{
	const uint64_t big_size = 1ull << 30, at = 512ull << 20;
	const uint64_t va_src = VA1, va_big = VA1 + (1 << 20), va_dst = VA1 + (2 << 20);
	uint32_t ctx = ctx_new(fd, 1), big = bo_new(fd, big_size), sync;
	uint32_t src = bo_new(fd, 4096), dst = bo_new(fd, 4096);
	uint8_t *ps = bo_map(fd, src, 4096), *pd = bo_map(fd, dst, 4096);
	/* the jobs of earlier groups let their BOs go when they are freed, soon after they end */
	int64_t pinned0 = (usleep(200000), read_num(NPU_SYSFS(0, "pinned_pages")));
	struct job j = { .ctx = ctx, .cmd_bo = bo_new(fd, 4096), .nrefs = 2 };
	struct stream s;
	uint64_t res0;

	CHECK(big && ps && pd && pinned0 >= 0, "1 GiB BO %u, pinned %lld", big,
	      (long long)pinned0);
	if (!big || !ps || !pd)
		return;
	memset(ps, 0x5c, 4096);
	drmSyncobjCreate(fd, 0, &sync);
	j.out_sync = sync;
	/*
	 * fdinfo counts the pages the MMU pins resident: the 1 GiB BO, never mapped by the CPU,
	 * adds its one mapped page (src and dst are resident already, mapped by the CPU).
	 */
	res0 = read_fdinfo(fd).resident_kib;
	CHECK_ERRNO(vm_map(fd, ctx, src, RD, 0, va_src, 4096), 0);
	CHECK_ERRNO(vm_map(fd, ctx, big, RD | WR, at, va_big, 4096), 0);
	CHECK_ERRNO(vm_map(fd, ctx, dst, RD | WR, 0, va_dst, 4096), 0);
	CHECK(pinned_settles(pinned0 + 3) == pinned0 + 3, "pinned after map: %lld",
	      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
	CHECK(read_fdinfo(fd).resident_kib == res0 + 4, "fdinfo resident after VM_BIND: "
	      "%llu KiB, before %llu KiB", (unsigned long long)read_fdinfo(fd).resident_kib,
	      (unsigned long long)res0);
	/* src -> the 1 GiB BO's page at 512 MiB -> dst */
	s_begin(&s);
	s_copy(&s, 0, 1, 4096);
	s_finish(&s);
	for (int hop = 0; hop < 2; hop++) {
		j.refs[0] = va_ref(hop ? va_big : va_src, 4096, RD);
		j.refs[1] = va_ref(hop ? va_dst : va_big, 4096, WR);
		CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
		CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
		CHECK(sync_status(fd, sync) == 1, "hop %d: %d", hop, sync_status(fd, sync));
	}
	CHECK(pd[0] == 0x5c && pd[4095] == 0x5c, "through the 1 GiB BO: %#x", pd[0]);
	/* the stream's page is read at SUBMIT and let go: the jobs pinned nothing more */
	CHECK(pinned_settles(pinned0 + 3) == pinned0 + 3, "pinned after the jobs: %lld",
	      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
	CHECK_ERRNO(vm_unmap(fd, ctx, va_src, 4096), 0);
	CHECK_ERRNO(vm_unmap(fd, ctx, va_big, 4096), 0);
	CHECK_ERRNO(vm_unmap(fd, ctx, va_dst, 4096), 0);
	CHECK(read_num(NPU_SYSFS(0, "pinned_pages")) == pinned0, "pinned after unmap: %lld",
	      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
	/* the 1 GiB BO's page is not (the stream BO's pages went with SUBMIT's CPU mapping) */
	CHECK(read_fdinfo(fd).resident_kib == res0, "fdinfo resident after unmap: %llu KiB, "
	      "before the maps %llu KiB", (unsigned long long)read_fdinfo(fd).resident_kib,
	      (unsigned long long)res0);

	/* by handle: the BOs (2 pages, 1 page) are mapped for the job, and unpinned after */
	{
		uint32_t a = bo_new(fd, 8192);

		j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = RD };
		j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = dst, .flags = WR };
		CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
		CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
		CHECK(sync_status(fd, sync) == 1 && pd[0] == 0, "copy by handle: %d %#x",
		      sync_status(fd, sync), pd[0]);
		CHECK(pinned_settles(pinned0) == pinned0, "pinned after the job by handle: %lld",
		      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
		gem_close(fd, a);
	}
	/*
	 * by handle, the 1 GiB BO: the job reads the page at 512 MiB into dst, then hangs (debug
	 * stall) until its timeout; while it hangs, that page and dst's are all it pins
	 */
	{
		struct enpu_cmd_copy c = { .src = opnd(0, at, 4096), .dst = opnd(1, 0, 4096),
					   .rows = 1, .row_bytes = 4096 };
		int64_t during;

		s_begin(&s);
		s_add(&s, &c, sizeof(c), ENPU_OP_COPY);
		s_stall(&s);
		s_finish(&s);
		j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = big, .flags = RD };
		j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = dst, .flags = WR };
		CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
		usleep(timeout_ms * 1000 / 3);
		during = read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0;
		CHECK(during == 2, "pinned by a job using one page of a 1 GiB BO: %lld",
		      (long long)during);
		CHECK_ERRNO(sync_wait(fd, sync, 5000), 0);
		CHECK(sync_status(fd, sync) == -ETIMEDOUT && pd[0] == 0x5c,
		      "the stalled job: %d, copied %#x", sync_status(fd, sync), pd[0]);
		CHECK(pinned_settles(pinned0) == pinned0, "pinned after it: %lld",
		      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
	}
	/* UNMAP waits for the context's jobs: a stalled job that reads the range ends first */
	{
		uint64_t t0;
		int64_t during;

		CHECK_ERRNO(vm_map(fd, ctx, big, RD, at, va_big, 4096), 0);
		j.refs[0] = va_ref(va_big, 4096, RD);
		j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = dst, .flags = WR };
		s_begin(&s);
		s_copy(&s, 0, 1, 4096);
		s_stall(&s);
		s_finish(&s);
		CHECK_ERRNO(submit(fd, &j, &s, NULL), 0);
		t0 = now_ms();
		CHECK_ERRNO(vm_unmap(fd, ctx, va_big, 4096), 0);
		during = (int64_t)(now_ms() - t0);
		CHECK(sync_status(fd, sync) == -ETIMEDOUT && during >= timeout_ms / 2,
		      "UNMAP returned after %lld ms, the job's status %d", (long long)during,
		      sync_status(fd, sync));
		CHECK(pinned_settles(pinned0) == pinned0, "pinned after UNMAP: %lld",
		      (long long)(read_num(NPU_SYSFS(0, "pinned_pages")) - pinned0));
	}
	munmap(ps, 4096);
	munmap(pd, 4096);
	drmSyncobjDestroy(fd, sync);
	ctx_free(fd, ctx);
	gem_close(fd, big);
	gem_close(fd, src);
	gem_close(fd, dst);
	gem_close(fd, j.cmd_bo);
}

/*
 * A job whose in-sync failed (a hung job reset with -ETIMEDOUT) fails with the same error and
 * does not run: on another context of the same file and on the failed job's own context. So
 * does a job that waits for it implicitly, reading a BO the failed job writes (no in-sync).
 */
static void test_dep_error(int fd)
{
	uint32_t ctx = ctx_new(fd, 1), ctx2 = ctx_new(fd, 1);
	uint32_t cmd = bo_new(fd, 4096), cmd2 = bo_new(fd, 4096), cmd3 = bo_new(fd, 4096);
	uint32_t a = bo_new(fd, 4096), b = bo_new(fd, 4096), c = bo_new(fd, 4096);
	uint32_t d = bo_new(fd, 4096), e = bo_new(fd, 4096), cmd4 = bo_new(fd, 4096);
	uint8_t *pa = bo_map(fd, a, 4096), *pc = bo_map(fd, c, 4096), *pd = bo_map(fd, d, 4096);
	uint8_t *pe = bo_map(fd, e, 4096);
	uint32_t s_hang, s_dep, s_same, s_impl;
	struct job ji = { .ctx = ctx2, .cmd_bo = cmd4, .nrefs = 2 };
	struct job j = { .ctx = ctx, .cmd_bo = cmd, .nrefs = 2 };
	struct job jd = { .ctx = ctx2, .cmd_bo = cmd2, .nrefs = 2, .nin = 1 };
	struct job js = { .ctx = ctx, .cmd_bo = cmd3, .nrefs = 2, .nin = 1 };
	struct stream hang, ok;

	if (!pa || !pc || !pd || !pe) {
		CHECK(0, "maps");
		return;
	}
	memset(pa, 0x5a, 4096);
	memset(pc, 0, 4096);
	memset(pd, 0, 4096);
	memset(pe, 0, 4096);
	drmSyncobjCreate(fd, 0, &s_hang);
	drmSyncobjCreate(fd, 0, &s_dep);
	drmSyncobjCreate(fd, 0, &s_same);
	drmSyncobjCreate(fd, 0, &s_impl);
	/* reads b, which the hung job writes: waits for it through b's reservation object */
	ji.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_READ };
	ji.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = e, .flags = DRM_EDGE_NPU_BO_WRITE };
	ji.out_sync = s_impl;
	j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE };
	jd.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	jd.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = c, .flags = DRM_EDGE_NPU_BO_WRITE };
	js.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	js.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = d, .flags = DRM_EDGE_NPU_BO_WRITE };
	s_begin(&hang);
	s_stall(&hang);
	s_finish(&hang);
	s_begin(&ok);
	s_copy(&ok, 0, 1, 4096);
	s_finish(&ok);

	j.out_sync = s_hang;
	CHECK_ERRNO(submit(fd, &j, &hang, NULL), 0);
	jd.in_syncs[0] = s_hang;
	jd.out_sync = s_dep;
	CHECK_ERRNO(submit(fd, &jd, &ok, NULL), 0);
	js.in_syncs[0] = s_hang;
	js.out_sync = s_same;
	CHECK_ERRNO(submit(fd, &js, &ok, NULL), 0);
	CHECK_ERRNO(submit(fd, &ji, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, s_dep, timeout_ms * 4 + 5000), 0);
	CHECK_ERRNO(sync_wait(fd, s_same, 5000), 0);
	CHECK(sync_status(fd, s_hang) == -ETIMEDOUT, "hung job %d", sync_status(fd, s_hang));
	CHECK(sync_status(fd, s_dep) == -ETIMEDOUT, "dependent job (other context) %d, want %d",
	      sync_status(fd, s_dep), -ETIMEDOUT);
	CHECK(sync_status(fd, s_same) == -ETIMEDOUT, "dependent job (same context) %d, want %d",
	      sync_status(fd, s_same), -ETIMEDOUT);
	CHECK(pc[0] == 0 && pc[4095] == 0, "the dependent job ran (other context)");
	CHECK(pd[0] == 0 && pd[4095] == 0, "the dependent job ran (same context)");
	CHECK_ERRNO(sync_wait(fd, s_impl, 5000), 0);
	CHECK(sync_status(fd, s_impl) == -ETIMEDOUT, "implicitly dependent job %d, want %d",
	      sync_status(fd, s_impl), -ETIMEDOUT);
	CHECK(pe[0] == 0 && pe[4095] == 0, "the implicitly dependent job ran");
	/* one that only writes b waits for the failed writer but does not fail: no cascade */
	ji.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = a, .flags = DRM_EDGE_NPU_BO_READ };
	ji.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = b, .flags = DRM_EDGE_NPU_BO_WRITE };
	CHECK_ERRNO(submit(fd, &ji, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, s_impl, 5000), 0);
	CHECK(sync_status(fd, s_impl) == 1, "a job writing the failed job's BO: %d",
	      sync_status(fd, s_impl));
	/* a job after an in-sync that succeeded still runs */
	jd.in_syncs[0] = s_dep;
	jd.nin = 0;
	jd.out_sync = s_dep;
	CHECK_ERRNO(submit(fd, &jd, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, s_dep, 5000), 0);
	CHECK(sync_status(fd, s_dep) == 1 && pc[100] == 0x5a, "job without failed in-sync: %d",
	      sync_status(fd, s_dep));

	munmap(pa, 4096);
	munmap(pc, 4096);
	munmap(pd, 4096);
	munmap(pe, 4096);
	drmSyncobjDestroy(fd, s_impl);
	drmSyncobjDestroy(fd, s_hang);
	drmSyncobjDestroy(fd, s_dep);
	drmSyncobjDestroy(fd, s_same);
	gem_close(fd, cmd);
	gem_close(fd, cmd2);
	gem_close(fd, cmd3);
	gem_close(fd, a);
	gem_close(fd, b);
	gem_close(fd, c);
	gem_close(fd, d);
	gem_close(fd, e);
	gem_close(fd, cmd4);
	ctx_free(fd, ctx);
	ctx_free(fd, ctx2);
}

/* When a syncobj's fence signalled (CLOCK_MONOTONIC ns), 0 if it has not. */
static uint64_t sync_stamp(int fd, uint32_t sync)
{
	struct sync_fence_info fi = { 0 };
	struct sync_file_info info = { .num_fences = 1, .sync_fence_info = (uintptr_t)&fi };
	int sf;

	if (drmSyncobjExportSyncFile(fd, sync, &sf))
		return 0;
	if (ioctl(sf, SYNC_IOC_FILE_INFO, &info))
		fi.timestamp_ns = 0;
	close(sf);
	return fi.timestamp_ns;
}

/*
 * The fences of one context signal in submission order, also when some of its jobs fail
 * before they reach the ring (an in-sync that failed: a job that faulted in the MMU, on
 * another context) between jobs that run: the signal times never go back.
 */
static void test_fence_order(int fd)
{
	enum { N = 24 };
	uint32_t ctx = ctx_new(fd, 1), fctx = ctx_new(fd, 1), s_fault, syncs[N];
	uint32_t cmd[N], src = bo_new(fd, 65536), dst = bo_new(fd, 65536);
	struct job f = { .ctx = fctx, .cmd_bo = bo_new(fd, 4096), .nrefs = 2 };
	struct stream copy, fault;
	uint64_t prev = 0, t;
	int status;

	drmSyncobjCreate(fd, 0, &s_fault);
	s_begin(&fault);
	s_copy(&fault, 0, 1, 4096);
	s_finish(&fault);
	f.refs[0] = va_ref(VA1, 4096, RD); /* nothing mapped there */
	f.refs[1] = va_ref(VA1 + 4096, 4096, WR);
	f.out_sync = s_fault;
	CHECK_ERRNO(submit(fd, &f, &fault, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, s_fault, 5000), 0);
	CHECK(sync_status(fd, s_fault) == -EFAULT, "faulting job %d", sync_status(fd, s_fault));
	s_begin(&copy);
	s_copy(&copy, 0, 1, 65536);
	s_finish(&copy);
	for (int i = 0; i < N; i++) { /* every third job waits for the failed fence */
		struct job j = { .ctx = ctx, .cmd_bo = cmd[i] = bo_new(fd, 4096), .nrefs = 2,
				 .nin = i % 3 == 1, .in_syncs = { s_fault } };

		drmSyncobjCreate(fd, 0, &syncs[i]);
		j.out_sync = syncs[i];
		j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = src, .flags = RD };
		j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = dst, .flags = WR };
		CHECK_ERRNO(submit(fd, &j, &copy, NULL), 0);
	}
	for (int i = 0; i < N; i++) {
		CHECK_ERRNO(sync_wait(fd, syncs[i], 5000), 0);
		status = sync_status(fd, syncs[i]);
		t = sync_stamp(fd, syncs[i]);
		CHECK(status == (i % 3 == 1 ? -EFAULT : 1), "job %d: status %d", i, status);
		CHECK(t && t >= prev, "job %d signalled at %llu ns, the one before it at %llu ns", i,
		      (unsigned long long)t, (unsigned long long)prev);
		prev = t;
		drmSyncobjDestroy(fd, syncs[i]);
		gem_close(fd, cmd[i]);
	}
	drmSyncobjDestroy(fd, s_fault);
	gem_close(fd, f.cmd_bo);
	gem_close(fd, src);
	gem_close(fd, dst);
	ctx_free(fd, ctx);
	ctx_free(fd, fctx);
}

/* CTX_DESTROY racing SUBMIT: destroyer and submitter threads on one file. */
#define RACE_SLOTS 4
#define RACE_SUBMITTERS 3

static struct {
	int fd;
	uint64_t end_ms;
	uint32_t slot[RACE_SLOTS];
	unsigned long submits, enoent, bad, lost, destroys;
	int first_bad;
} race;

static void *race_submitter(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	int fd = race.fd;
	uint32_t sync;
	struct job j;
	struct stream s;

	job_new(fd, &j);
	ctx_free(fd, j.ctx); /* the jobs go to the race's contexts */
	drmSyncobjCreate(fd, 0, &sync);
	j.out_sync = sync;
	s_begin(&s);
	s_copy(&s, 0, 1, 256);
	s_finish(&s);
	while (now_ms() < race.end_ms) {
		int ret;

		j.ctx = __atomic_load_n(&race.slot[rand_r(&seed) % RACE_SLOTS], __ATOMIC_RELAXED);
		ret = submit(fd, &j, &s, NULL);
		if (ret == -ENOENT) {
			__atomic_add_fetch(&race.enoent, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (ret) {
			__atomic_add_fetch(&race.bad, 1, __ATOMIC_RELAXED);
			race.first_bad = ret;
			continue;
		}
		__atomic_add_fetch(&race.submits, 1, __ATOMIC_RELAXED);
		/* a pushed job finishes (or is cancelled with its context): its fence signals */
		if (sync_wait(fd, sync, 10000))
			__atomic_add_fetch(&race.lost, 1, __ATOMIC_RELAXED);
	}
	drmSyncobjDestroy(fd, sync);
	gem_close(fd, j.cmd_bo);
	gem_close(fd, j.refs[0].handle);
	gem_close(fd, j.refs[1].handle);
	return NULL;
}

static void *race_destroyer(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (now_ms() < race.end_ms) {
		uint32_t fresh = ctx_new(race.fd, 1), old;

		old = __atomic_exchange_n(&race.slot[rand_r(&seed) % RACE_SLOTS], fresh,
					  __ATOMIC_RELAXED);
		ctx_free(race.fd, old);
		race.destroys++;
	}
	return NULL;
}

static void test_ctx_race(unsigned int secs)
{
	pthread_t sub[RACE_SUBMITTERS], des;
	int kmsg = kmsg_open_at_end();
	int i;

	memset(&race, 0, sizeof(race));
	race.fd = open_npu(0);
	if (race.fd < 0) {
		CHECK(0, "open");
		return;
	}
	for (i = 0; i < RACE_SLOTS; i++)
		race.slot[i] = ctx_new(race.fd, 1);
	race.end_ms = now_ms() + secs * 1000ull;
	for (i = 0; i < RACE_SUBMITTERS; i++)
		pthread_create(&sub[i], NULL, race_submitter, (void *)(uintptr_t)(i + 1));
	pthread_create(&des, NULL, race_destroyer, (void *)(uintptr_t)99);
	for (i = 0; i < RACE_SUBMITTERS; i++)
		pthread_join(sub[i], NULL);
	pthread_join(des, NULL);
	printf("  %u s: %lu jobs pushed, %lu refused (context gone), %lu contexts destroyed\n",
	       secs, race.submits, race.enoent, race.destroys);
	CHECK(race.submits > 0 && race.destroys > 0, "no race ran");
	CHECK(race.bad == 0, "%lu submits failed otherwise (first %d)", race.bad, race.first_bad);
	CHECK(race.lost == 0, "%lu pushed jobs never signalled", race.lost);
	CHECK(kmsg_count_loud(kmsg) == 0, "the kernel logged errors during the race");
	close(kmsg);
	close(race.fd);
}

/* Waits for a sync_file to signal; its status (1, or the error), or 0 on timeout. */
static int sync_file_wait(int sf, int ms)
{
	struct pollfd p = { .fd = sf, .events = POLLIN };
	struct sync_file_info info = { 0 };

	if (poll(&p, 1, ms) != 1)
		return 0;
	return ioctl(sf, SYNC_IOC_FILE_INFO, &info) ? -998 : info.status;
}

/* Binds edge-npu.1 again: its node comes back and the job stream ok completes on it. */
static void rebind_works(const struct stream *ok)
{
	struct job j;
	uint32_t out;
	int fd;

	CHECK(write_str("/sys/bus/platform/drivers/edge-npu/bind", "edge-npu.1") == 0,
	      "bind again");
	fd = open_npu(1);
	CHECK(fd >= 0, "no node after rebind");
	if (fd < 0)
		return;
	job_new(fd, &j);
	drmSyncobjCreate(fd, 0, &out);
	j.out_sync = out;
	CHECK_ERRNO(submit(fd, &j, ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, out, 5000), 0);
	CHECK(sync_status(fd, out) == 1, "job after rebind %d", sync_status(fd, out));
	close(fd);
}

/*
 * Unbind edge-npu.1 through sysfs while a file is open with a hung job and jobs behind it: the
 * jobs end, the open file's ioctls fail with -ENODEV, closing it is clean, and a rebound
 * device works.
 */
static void test_unbind(void)
{
	int fd = open_npu(1), sf[3] = { -1, -1, -1 };
	uint32_t syncs[3];
	struct job j, j2;
	struct stream hang, ok;
	uint64_t t0;
	int i;

	if (fd < 0) {
		printf("  (skipped: needs a second device)\n");
		return;
	}
	job_new(fd, &j);
	job_new(fd, &j2);
	streams_hang_ok(&hang, &ok);
	for (i = 0; i < 3; i++)
		drmSyncobjCreate(fd, 0, &syncs[i]);
	j.out_sync = syncs[0];
	CHECK_ERRNO(submit(fd, &j, &hang, NULL), 0);
	j.out_sync = syncs[1];
	CHECK_ERRNO(submit(fd, &j, &ok, NULL), 0);
	j2.out_sync = syncs[2];
	CHECK_ERRNO(submit(fd, &j2, &ok, NULL), 0);
	for (i = 0; i < 3; i++)
		CHECK(drmSyncobjExportSyncFile(fd, syncs[i], &sf[i]) == 0, "export sync %d", i);

	t0 = now_ms();
	CHECK(write_str("/sys/bus/platform/drivers/edge-npu/unbind", "edge-npu.1") == 0,
	      "unbind");
	printf("  unbind took %llu ms with a hung job in flight\n",
	       (unsigned long long)(now_ms() - t0));
	for (i = 0; i < 3; i++) {
		int st = sync_file_wait(sf[i], 5000);

		CHECK(st != 0, "job %d did not end after unbind", i);
		close(sf[i]);
	}
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &(struct drm_edge_npu_submit){ 0 }),
		    -ENODEV);
	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_NUM_ENGINES, 0) == UINT64_MAX && errno == ENODEV,
	      "GET_PARAM after unbind: errno %d", errno);
	close(fd); /* postclose destroys the contexts on the unbound device */

	rebind_works(&ok);
}

/*
 * A job freed after its file was closed and its device unbound: debug_free_delay_ms holds
 * its free past the old teardown's bound (4 job timeouts + 2 s), which then logged "not freed
 * at removal" and freed the queues under it. The job holds the device and the module
 * (refcnt) until it is freed; the device is released after it (run.sh fails the run on that
 * message and on "objects live"), and a rebound device works.
 */
static void test_unbind_late_free(void)
{
	const char *refcnt = "/sys/module/edge_npu/refcnt";
	const unsigned int delay_ms = 4 * timeout_ms + 3000;
	int64_t held, after = -1;
	int fd = open_npu(1);
	struct stream hang, ok;
	struct job j;
	uint32_t out;
	char delay[16];
	uint64_t t0, unbind_ms;

	if (fd < 0) {
		printf("  (skipped: needs a second device)\n");
		return;
	}
	snprintf(delay, sizeof(delay), "%u", delay_ms);
	CHECK_ERRNO(set_param(PARAM("debug_free_delay_ms"), delay, NULL, 0), 0);
	job_new(fd, &j);
	streams_hang_ok(&hang, &ok);
	drmSyncobjCreate(fd, 0, &out);
	j.out_sync = out;
	CHECK_ERRNO(submit(fd, &j, &ok, NULL), 0);
	CHECK_ERRNO(sync_wait(fd, out, 5000), 0);
	close(fd);
	t0 = now_ms();
	CHECK(write_str("/sys/bus/platform/drivers/edge-npu/unbind", "edge-npu.1") == 0,
	      "unbind");
	unbind_ms = now_ms() - t0;
	held = read_num(refcnt);
	while (now_ms() - t0 < delay_ms + 5000 && (after = read_num(refcnt)) >= held)
		usleep(20 * 1000);
	printf("  unbind took %llu ms; module refcnt %lld while the job's free was held %u ms, "
	       "%lld %llu ms after the unbind\n", (unsigned long long)unbind_ms, (long long)held,
	       delay_ms, (long long)after, (unsigned long long)(now_ms() - t0));
	/* the free began before the unbind: it ends about delay_ms after the job did */
	CHECK(after == held - 1 && now_ms() - t0 + 1000 >= delay_ms,
	      "the job's free did not hold the module: refcnt %lld, then %lld after %llu ms",
	      (long long)held, (long long)after, (unsigned long long)(now_ms() - t0));
	CHECK_ERRNO(set_param(PARAM("debug_free_delay_ms"), "0", NULL, 0), 0);

	rebind_works(&ok);
}

/* Opens device 0 and submits a hung job and a job behind it on one context: the fd, or -1. */
static int open_with_hung_jobs(void)
{
	int fd = open_npu(0);
	struct job j;
	struct stream hang, ok;

	if (fd < 0)
		return -1;
	job_new(fd, &j);
	streams_hang_ok(&hang, &ok);
	if (submit(fd, &j, &hang, NULL) || submit(fd, &j, &ok, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * --leave-hung-job: submits a hung job and a job behind it, then exits with the fd open, so that
 * the module is unloaded (by init.sh, right after) with work in flight. Five hung jobs more
 * queue on a second context: each holds its engine for the job timeout, so the exit's close
 * (an exiting process waits at most 1 s for each entity to empty; a close() would wait until
 * it is empty) kills those still queued. The context's teardown then waits for its last job's
 * fence, and the killed jobs are freed from work items right after: init.sh's rmmod may come
 * before the last free. Live jobs hold the module: a refused rmmod is retried.
 */
static int leave_hung_job(void)
{
	int fd = open_with_hung_jobs();
	struct stream hang, ok;
	struct job j;

	if (fd < 0)
		return 1;
	job_new(fd, &j);
	streams_hang_ok(&hang, &ok);
	for (int i = 0; i < 5; i++) {
		if (submit(fd, &j, &hang, NULL)) {
			close(fd);
			return 1;
		}
	}
	printf("left a hung job in flight\n");
	fflush(stdout);
	_exit(0); /* the fd open: the exit closes it */
}

/*
 * --mmu-fault: runs one job that reads a page its context has not mapped (for the genl test's
 * JOB_FAULT event with -EFAULT); exits 0 if the job failed with -EFAULT.
 */
static int mmu_fault_job(void)
{
	int fd = open_npu(0);
	uint32_t ctx = ctx_new(fd, 1), sync = 0;
	struct job j = { .ctx = ctx, .cmd_bo = bo_new(fd, 4096), .nrefs = 2 };
	struct stream s;
	int status;

	if (fd < 0 || !ctx || drmSyncobjCreate(fd, 0, &sync))
		return 1;
	j.out_sync = sync;
	s_begin(&s);
	s_copy(&s, 0, 1, 4096);
	s_finish(&s);
	j.refs[0] = va_ref(VA1, 4096, RD);
	j.refs[1] = va_ref(VA1 + 4096, 4096, WR);
	if (submit(fd, &j, &s, NULL) || sync_wait(fd, sync, 5000))
		return 1;
	status = sync_status(fd, sync);
	close(fd);
	printf("mmu fault job: status %d\n", status);
	return status == -EFAULT ? 0 : 1;
}

/*
 * --hold-jobs: keeps a file open with a hung job and a job behind it for ms milliseconds
 * (init.sh tries rmmod meanwhile: it must fail with EBUSY, cleanly). Prints "holding" once
 * submitted.
 */
static int hold_jobs(unsigned int ms)
{
	int fd = open_with_hung_jobs();

	if (fd < 0)
		return 1;
	printf("holding\n");
	usleep(ms * 1000);
	close(fd);
	return 0;
}

/* ---- issue 15: per-job clock requests, priorities across processes ------------------------ */

static uint32_t opp_khz(int i)
{
	return npu_opp_table[i].freq_mhz * 1000;
}

/* Writes devfreq's min_freq and max_freq (Hz); any order of the two writes is valid. */
static void set_bounds(uint64_t min_hz, uint64_t max_hz)
{
	char a[32], b[32];

	snprintf(a, sizeof(a), "%llu", (unsigned long long)min_hz);
	snprintf(b, sizeof(b), "%llu", (unsigned long long)max_hz);
	CHECK_ERRNO(write_str(DEVFREQ0 "min_freq", a), 0);
	CHECK_ERRNO(write_str(DEVFREQ0 "max_freq", b), 0);
}

/* Runs j (stream s) once asking for khz (0: no request), waited for; the clock it ran at. */
static uint32_t run_at(int fd, struct job *j, const struct stream *s, uint32_t khz)
{
	struct drm_edge_npu_ctx_query q = { .handle = j->ctx };

	j->freq_khz = khz;
	CHECK_ERRNO(submit(fd, j, s, NULL), 0);
	j->freq_khz = 0;
	CHECK_ERRNO(sync_wait(fd, j->out_sync, 10000), 0);
	CHECK(sync_status(fd, j->out_sync) == 1, "job asking %u kHz: status %d", khz,
	      sync_status(fd, j->out_sync));
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	CHECK(q.priority == DRM_EDGE_NPU_PRIORITY_NORMAL, "priority %u", q.priority);
	return q.last_freq_khz;
}

/* devfreq's count of clock transitions (trans_stat's last line). */
static int64_t trans_total(void)
{
	char buf[2048];
	const char *t;

	if (read_str(DEVFREQ0 "trans_stat", buf, sizeof(buf)) || !(t = strstr(buf, "Total transition")))
		return -1;
	t = strchr(t, ':');
	return t ? strtoll(t + 1, NULL, 10) : -1;
}

/*
 * The SUBMIT and CTX_QUERY of user space built before the clock request: the ioctl numbers
 * carry the old sizes (80 and 88 bytes), the kernel zero-extends and writes back no more.
 */
#define SUBMIT_V1_SIZE offsetof(struct drm_edge_npu_submit, freq_khz)
#define CTX_QUERY_V1_SIZE offsetof(struct drm_edge_npu_ctx_query, last_freq_khz)
#define IOWR_SIZED(nr, size) \
	_IOC(_IOC_READ | _IOC_WRITE, DRM_IOCTL_BASE, DRM_COMMAND_BASE + (nr), (size))

static void test_old_sizes(int fd, struct job *j, const struct stream *s)
{
	struct drm_edge_npu_submit a = {
		.ctx = j->ctx, .cmd_bo = j->cmd_bo, .cmd_size = s->len, .num_bos = j->nrefs,
		.bos = (uintptr_t)j->refs, .bo_ref_size = sizeof(struct drm_edge_npu_bo_ref),
		.out_sync = j->out_sync,
	};
	struct drm_edge_npu_ctx_query q = { .handle = j->ctx };
	uint8_t buf[128], guard[128];
	uint64_t jobs0;

	_Static_assert(SUBMIT_V1_SIZE == 80 && CTX_QUERY_V1_SIZE == 88, "first versions' sizes");
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q), 0);
	jobs0 = q.jobs;
	memset(buf, 0x5a, sizeof(buf));
	memcpy(buf, &a, SUBMIT_V1_SIZE);
	memcpy(guard, buf, sizeof(buf));
	CHECK_ERRNO(xioctl(fd, IOWR_SIZED(DRM_EDGE_NPU_SUBMIT, SUBMIT_V1_SIZE), buf), 0);
	memcpy(&a, buf, SUBMIT_V1_SIZE);
	CHECK(a.seqno > 0, "old-size SUBMIT: seqno %llu", (unsigned long long)a.seqno);
	CHECK(!memcmp(buf + SUBMIT_V1_SIZE, guard + SUBMIT_V1_SIZE, sizeof(buf) - SUBMIT_V1_SIZE),
	      "old-size SUBMIT: bytes past its 80 written");
	CHECK_ERRNO(sync_wait(fd, j->out_sync, 10000), 0);
	CHECK(sync_status(fd, j->out_sync) == 1, "old-size job: status %d",
	      sync_status(fd, j->out_sync));

	memset(buf, 0x5a, sizeof(buf));
	memset(&q, 0, sizeof(q));
	q.handle = j->ctx;
	memcpy(buf, &q, CTX_QUERY_V1_SIZE);
	memcpy(guard, buf, sizeof(buf));
	CHECK_ERRNO(xioctl(fd, IOWR_SIZED(DRM_EDGE_NPU_CTX_QUERY, CTX_QUERY_V1_SIZE), buf), 0);
	memcpy(&q, buf, CTX_QUERY_V1_SIZE);
	CHECK(q.jobs == jobs0 + 1, "old-size CTX_QUERY: jobs %llu, before %llu",
	      (unsigned long long)q.jobs, (unsigned long long)jobs0);
	CHECK(!memcmp(buf + CTX_QUERY_V1_SIZE, guard + CTX_QUERY_V1_SIZE,
		      sizeof(buf) - CTX_QUERY_V1_SIZE), "old-size CTX_QUERY: bytes past its 88 written");
}

/*
 * Per-job clock requests: every operating point asked for is the one the job ran at (the
 * device's result, CTX_QUERY) and cur_freq after it, through devfreq (trans_stat counts the
 * changes); a request between two points gets the upper one; the admin's max_freq below the
 * request and min_freq above it win; values outside the device's points are refused; a
 * SUBMIT and a CTX_QUERY of the old sizes still work.
 */
static void test_freq_request(int fd)
{
	const uint64_t lo = npu_opp_table[0].freq_mhz * 1000000ull;
	const uint64_t hi = npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull;
	const uint32_t bad[] = { 1, opp_khz(0) - 1, opp_khz(NPU_NUM_OPPS - 1) + 1, UINT32_MAX };
	struct stream hang, ok;
	struct job j;
	int64_t t0, cur;
	uint32_t got;
	char seq[256];
	size_t n = 0;

	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_CAPABILITIES, 0) & DRM_EDGE_NPU_CAP_SUBMIT_FREQ,
	      "no DRM_EDGE_NPU_CAP_SUBMIT_FREQ");
	job_new(fd, &j);
	drmSyncobjCreate(fd, 0, &j.out_sync);
	streams_hang_ok(&hang, &ok);
	set_bounds(lo, hi);

	t0 = trans_total();
	for (int i = NPU_NUM_OPPS - 1; i >= 0; i--) {
		got = run_at(fd, &j, &ok, opp_khz(i));
		cur = read_num(DEVFREQ0 "cur_freq");
		n += (size_t)snprintf(seq + n, sizeof(seq) - n, " %u->%u/%lld", opp_khz(i) / 1000,
				      got / 1000, (long long)(cur / 1000000));
		CHECK(got == opp_khz(i), "asked %u kHz, ran at %u kHz", opp_khz(i), got);
		CHECK(cur == (int64_t)opp_khz(i) * 1000, "asked %u kHz: cur_freq %lld", opp_khz(i),
		      (long long)cur);
	}
	printf("  asked -> ran at / cur_freq (MHz):%s; trans_stat transitions +%lld\n", seq,
	       (long long)(trans_total() - t0));
	CHECK(trans_total() - t0 >= NPU_NUM_OPPS - 1, "trans_stat: %lld transitions",
	      (long long)(trans_total() - t0));

	got = run_at(fd, &j, &ok, (opp_khz(0) + opp_khz(1)) / 2);
	CHECK(got == opp_khz(1), "between two points: ran at %u kHz, want %u", got, opp_khz(1));

	/* the admin wins: max_freq below the request, min_freq above it */
	set_bounds(lo, npu_opp_table[1].freq_mhz * 1000000ull);
	got = run_at(fd, &j, &ok, opp_khz(NPU_NUM_OPPS - 1));
	cur = read_num(DEVFREQ0 "cur_freq");
	printf("  max_freq %u MHz, asked %u MHz: ran at %u MHz, cur_freq %lld MHz\n",
	       opp_khz(1) / 1000, opp_khz(NPU_NUM_OPPS - 1) / 1000, got / 1000,
	       (long long)(cur / 1000000));
	CHECK(got == opp_khz(1) && cur == (int64_t)opp_khz(1) * 1000,
	      "max_freq %u kHz: ran at %u kHz, cur_freq %lld", opp_khz(1), got, (long long)cur);
	set_bounds(npu_opp_table[3].freq_mhz * 1000000ull, hi);
	got = run_at(fd, &j, &ok, opp_khz(0));
	CHECK(got == opp_khz(3), "min_freq %u kHz: ran at %u kHz", opp_khz(3), got);
	set_bounds(lo, hi);

	/* nonsense is refused, and nothing runs */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct drm_edge_npu_submit out = { 0 };

		j.freq_khz = bad[i];
		CHECK_ERRNO(submit(fd, &j, &ok, &out), -EINVAL);
		CHECK(out.seqno == 0, "refused request %u kHz got seqno %llu", bad[i],
		      (unsigned long long)out.seqno);
	}
	j.freq_khz = 0;
	{
		struct drm_edge_npu_submit a = {
			.ctx = j.ctx, .cmd_bo = j.cmd_bo, .cmd_size = ok.len, .num_bos = j.nrefs,
			.bos = (uintptr_t)j.refs, .bo_ref_size = sizeof(j.refs[0]),
			.freq_khz = opp_khz(0), .reserved2 = 1,
		};

		CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_SUBMIT, &a), -EINVAL);
	}
	test_old_sizes(fd, &j, &ok);

	drmSyncobjDestroy(fd, j.out_sync);
	gem_close(fd, j.refs[0].handle);
	gem_close(fd, j.refs[1].handle);
	gem_close(fd, j.cmd_bo);
	ctx_free(fd, j.ctx);
}

/* What one client of the priority test did, in memory its parent shares. */
#define PRIO_MAX_JOBS 128
struct prio_client {
	uint32_t prio, n;
	uint64_t submit_ns[PRIO_MAX_JOBS], done_ns[PRIO_MAX_JOBS];
	int status[PRIO_MAX_JOBS];
	uint64_t ctx_jobs, ctx_errors;
	int setup; /* 0, or the errno of a failed step */
};

struct prio_waiter {
	int fd;
	uint32_t *syncs;
	struct prio_client *c;
};

/* Records when each job of the client completes (in order: one context). */
static void *prio_waiter(void *arg)
{
	struct prio_waiter *w = arg;

	for (uint32_t i = 0; i < w->c->n; i++) {
		int64_t deadline = (int64_t)now_ns() + 60ll * 1000000000;

		/* WAIT_FOR_SUBMIT: the syncobj gets its fence when the job is submitted */
		if (drmSyncobjWait(w->fd, &w->syncs[i], 1, deadline,
				   DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT, NULL)) {
			w->c->status[i] = -errno;
			continue;
		}
		w->c->done_ns[i] = now_ns();
		w->c->status[i] = sync_status(w->fd, w->syncs[i]);
	}
	return NULL;
}

/*
 * A client process: a context of priority c->prio on its own fd and c->n copy jobs, each with
 * its own syncobj; submits them all when a byte arrives on go, says so on done, and records
 * submit and completion times.
 */
static void prio_client_run(struct prio_client *c, int go, int done)
{
	struct prio_waiter w = { .c = c };
	uint32_t syncs[PRIO_MAX_JOBS];
	struct stream hang, ok;
	pthread_t thread;
	struct job j;
	char b;

	w.fd = open_npu(0);
	if (w.fd < 0) {
		c->setup = ENODEV;
		return;
	}
	job_new(w.fd, &j);
	ctx_free(w.fd, j.ctx);
	j.ctx = ctx_new(w.fd, c->prio);
	streams_hang_ok(&hang, &ok);
	for (uint32_t i = 0; i < c->n; i++)
		if (drmSyncobjCreate(w.fd, 0, &syncs[i]))
			c->setup = errno;
	if (!j.ctx || !j.cmd_bo || c->setup) {
		c->setup = c->setup ? c->setup : EIO;
		return;
	}
	w.syncs = syncs;
	pthread_create(&thread, NULL, prio_waiter, &w);
	if (read(go, &b, 1) != 1)
		c->setup = EPIPE;
	for (uint32_t i = 0; i < c->n && !c->setup; i++) {
		j.out_sync = syncs[i];
		c->submit_ns[i] = now_ns();
		c->status[i] = submit(w.fd, &j, &ok, NULL);
	}
	if (write(done, "s", 1) != 1)
		c->setup = EPIPE;
	pthread_join(thread, NULL);
	{
		struct drm_edge_npu_ctx_query q = { .handle = j.ctx };

		if (xioctl(w.fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q))
			c->setup = EIO;
		c->ctx_jobs = q.jobs;
		c->ctx_errors = q.errors;
		if (q.priority != c->prio)
			c->setup = EINVAL;
	}
	close(w.fd); /* the rest goes with the file */
}

struct prio_figures {
	double hi_last_ms, lo_last_ms, hi_mean_ms, lo_mean_ms;
	uint32_t lo_during; /* LOW jobs completed after HIGH's first submit, by its last completion */
	int64_t aged;       /* sysfs prio_aged: jobs started ahead by ageing */
};

static double mean_latency_ms(const struct prio_client *c)
{
	double sum = 0;

	for (uint32_t i = 0; i < c->n; i++)
		sum += (double)(c->done_ns[i] - c->submit_ns[i]);
	return sum / c->n / 1e6;
}

/*
 * Two processes on the device's one engine: LOW queues n_lo jobs first, then HIGH queues n_hi.
 * Every job must complete once and succeed; returns the figures.
 */
static struct prio_figures prio_run(uint32_t n_lo, uint32_t n_hi)
{
	struct prio_client *c = mmap(NULL, 2 * sizeof(*c), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct prio_figures f = { 0 };
	int go[2][2], done[2][2];
	int64_t aged0 = read_num(NPU_SYSFS(0, "prio_aged"));
	pid_t pid[2];
	uint64_t t0 = 0, hi_first = UINT64_MAX, hi_last = 0, lo_last = 0;
	char b;

	if (c == MAP_FAILED) {
		CHECK(0, "mmap: %s", strerror(errno));
		return f;
	}
	memset(c, 0, 2 * sizeof(*c));
	c[0].prio = DRM_EDGE_NPU_PRIORITY_LOW;
	c[0].n = n_lo;
	c[1].prio = DRM_EDGE_NPU_PRIORITY_HIGH;
	c[1].n = n_hi;
	for (int k = 0; k < 2; k++) {
		if (pipe(go[k]) || pipe(done[k])) {
			CHECK(0, "pipe: %s", strerror(errno));
			return f;
		}
		pid[k] = fork();
		if (pid[k] == 0) {
			prio_client_run(&c[k], go[k][0], done[k][1]);
			_exit(0);
		}
	}
	/* LOW's queue first, then HIGH's behind it */
	for (int k = 0; k < 2; k++) {
		if (k == 0)
			t0 = now_ns();
		CHECK(write(go[k][1], "g", 1) == 1, "go %d", k);
		CHECK(read(done[k][0], &b, 1) == 1, "client %d did not submit", k);
	}
	for (int k = 0; k < 2; k++) {
		int st = 0;

		waitpid(pid[k], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %d status %#x", k, st);
		CHECK(!c[k].setup, "client %d: %s", k, strerror(c[k].setup));
		close(go[k][0]);
		close(go[k][1]);
		close(done[k][0]);
		close(done[k][1]);
		/* no job lost: each completed once, successfully, and the context counted it */
		for (uint32_t i = 0; i < c[k].n; i++)
			CHECK(c[k].status[i] == 1 && c[k].done_ns[i], "client %d job %u: status %d", k,
			      i, c[k].status[i]);
		CHECK(c[k].ctx_jobs == c[k].n && !c[k].ctx_errors, "client %d: %llu jobs, %llu "
		      "errors of %u", k, (unsigned long long)c[k].ctx_jobs,
		      (unsigned long long)c[k].ctx_errors, c[k].n);
	}
	for (uint32_t i = 0; i < c[1].n; i++) {
		hi_first = c[1].submit_ns[i] < hi_first ? c[1].submit_ns[i] : hi_first;
		hi_last = c[1].done_ns[i] > hi_last ? c[1].done_ns[i] : hi_last;
	}
	for (uint32_t i = 0; i < c[0].n; i++) {
		lo_last = c[0].done_ns[i] > lo_last ? c[0].done_ns[i] : lo_last;
		f.lo_during += c[0].done_ns[i] > hi_first && c[0].done_ns[i] <= hi_last;
	}
	f.hi_last_ms = (double)(hi_last - t0) / 1e6;
	f.lo_last_ms = (double)(lo_last - t0) / 1e6;
	f.hi_mean_ms = mean_latency_ms(&c[1]);
	f.lo_mean_ms = mean_latency_ms(&c[0]);
	f.aged = read_num(NPU_SYSFS(0, "prio_aged")) - aged0;
	munmap(c, 2 * sizeof(*c));
	return f;
}

/*
 * Priorities across processes (the module loaded with one engine per device, so that both
 * clients contend for it): LOW queues 24 jobs, then HIGH queues 64; each job is held about
 * 10 ms (pace), long against a SUBMIT, so that HIGH's queue never runs dry. HIGH's jobs finish
 * first and wait less; with ageing every prio_age_jobs = 8 HIGH jobs, LOW keeps progressing
 * while HIGH runs (about 64 / 9 of its jobs); with prio_age_jobs = 0 (strict) it does not.
 */
static void test_priorities(int fd)
{
	enum { N_LO = 24, N_HI = 64, AGE = 8 };
	struct drm_edge_npu_ctx_query q0, q1;
	struct prio_figures f[2];
	struct stream hang, ok;
	char pace[32], age[16];
	struct job j;

	CHECK(get_param(fd, DRM_EDGE_NPU_PARAM_NUM_ENGINES, 0) == 1,
	      "the priority test wants num_engines=1, the device has %llu",
	      (unsigned long long)get_param(fd, DRM_EDGE_NPU_PARAM_NUM_ENGINES, 0));
	/* the pace that holds a job about 10 ms at the highest clock */
	pin_clock(fd, npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull);
	job_new(fd, &j);
	drmSyncobjCreate(fd, 0, &j.out_sync);
	streams_hang_ok(&hang, &ok);
	q0 = (struct drm_edge_npu_ctx_query){ .handle = j.ctx };
	q1 = q0;
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q0), 0);
	run_at(fd, &j, &ok, 0);
	CHECK_ERRNO(xioctl(fd, DRM_IOCTL_EDGE_NPU_CTX_QUERY, &q1), 0);
	snprintf(pace, sizeof(pace), "%llu",
		 (unsigned long long)(10000000ull / (q1.modeled_ns - q0.modeled_ns + 1) + 1));
	CHECK_ERRNO(set_param(PARAM("pace"), pace, NULL, 0), 0);

	for (int r = 0; r < 2; r++) {
		snprintf(age, sizeof(age), "%d", r ? 0 : AGE);
		CHECK_ERRNO(set_param(PARAM("prio_age_jobs"), age, NULL, 0), 0);
		f[r] = prio_run(N_LO, N_HI);
		printf("  prio_age_jobs=%s, pace %s (a job ~10 ms), one engine: LOW queued %d jobs, "
		       "then HIGH %d: HIGH all done at %.0f ms (mean latency %.1f ms), LOW at %.0f "
		       "ms (mean %.1f ms); LOW jobs completed while HIGH ran: %u, started by "
		       "ageing: %lld\n", age, pace, N_LO, N_HI, f[r].hi_last_ms, f[r].hi_mean_ms,
		       f[r].lo_last_ms, f[r].lo_mean_ms, f[r].lo_during, (long long)f[r].aged);
		CHECK(f[r].hi_last_ms < f[r].lo_last_ms, "HIGH done at %.0f ms, LOW at %.0f ms",
		      f[r].hi_last_ms, f[r].lo_last_ms);
		CHECK(f[r].hi_mean_ms < f[r].lo_mean_ms, "mean latency HIGH %.1f ms, LOW %.1f ms",
		      f[r].hi_mean_ms, f[r].lo_mean_ms);
	}
	/* ageing: LOW progressed while HIGH ran, about once per AGE + 1 jobs; strict: it did not */
	CHECK(f[0].lo_during >= N_HI / (AGE + 1) - 2 && f[0].lo_during <= N_HI / AGE + 2,
	      "with ageing every %d, %u LOW jobs completed while HIGH ran %d", AGE, f[0].lo_during,
	      N_HI);
	CHECK(f[0].aged >= N_HI / (AGE + 1) - 2, "prio_aged +%lld", (long long)f[0].aged);
	CHECK(f[1].lo_during <= 2 && f[1].aged == 0, "strict: %u LOW jobs completed while HIGH "
	      "ran, prio_aged +%lld", f[1].lo_during, (long long)f[1].aged);

	CHECK_ERRNO(set_param(PARAM("pace"), "0", NULL, 0), 0);
	snprintf(age, sizeof(age), "%d", AGE);
	CHECK_ERRNO(set_param(PARAM("prio_age_jobs"), age, NULL, 0), 0);
	set_bounds(npu_opp_table[0].freq_mhz * 1000000ull,
		   npu_opp_table[NPU_NUM_OPPS - 1].freq_mhz * 1000000ull);
	drmSyncobjDestroy(fd, j.out_sync);
	gem_close(fd, j.refs[0].handle);
	gem_close(fd, j.refs[1].handle);
	gem_close(fd, j.cmd_bo);
	ctx_free(fd, j.ctx);
}

/*
 * --qos: the module loaded again with num_engines=1 (tests/kmod/init.sh): clock requests and
 * priorities across processes.
 */
static int qos_tests(void)
{
	int fd = open_npu(0);

	if (fd < 0) {
		printf("FAIL: no edge_npu device node\nenpu_kmod_test --qos: 0 passed, 1 failed\n");
		return 1;
	}
	{
		int f0 = n_fail;

		test_freq_request(fd);
		printf("%s clock requests\n", n_fail == f0 ? "ok  " : "FAIL");
		f0 = n_fail;
		test_priorities(fd);
		printf("%s priorities across processes\n", n_fail == f0 ? "ok  " : "FAIL");
	}
	close(fd);
	printf("enpu_kmod_test --qos: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

/* ---- load: many processes and threads, every completion once ------------------------------ */

#define LOAD_PROCS 8
#define LOAD_THREADS 2

/* One process: its own file, LOAD_THREADS threads; its totals written to the pipe. */
static void load_process(int index, uint32_t jobs, int pipe_w)
{
	struct copy_load t[LOAD_THREADS];
	bool started[LOAD_THREADS] = { false };
	uint32_t sum[4] = { 0 };
	int fd = open_npu(0);

	for (int i = 0; i < LOAD_THREADS; i++) {
		/* the three priorities across the processes (HIGH needs CAP_SYS_NICE: root here) */
		t[i] = (struct copy_load){ .fd = fd, .prio = (uint32_t)(index % 3), .jobs = jobs,
					   .tag = (uint32_t)(index * LOAD_THREADS + i) };
		started[i] = fd >= 0 && !pthread_create(&t[i].th, NULL, copy_load_run, &t[i]);
		if (!started[i])
			t[i].failed = jobs;
	}
	for (int i = 0; i < LOAD_THREADS; i++) {
		if (started[i])
			pthread_join(t[i].th, NULL);
		sum[0] += t[i].ok;
		sum[1] += t[i].failed;
		sum[2] += t[i].lost;
		sum[3] += t[i].wrong;
	}
	if (write(pipe_w, sum, sizeof(sum)) != sizeof(sum))
		_exit(2);
	_exit(0);
}

/*
 * LOAD_PROCS processes x LOAD_THREADS threads x jobs jobs against one device at once, at
 * three priorities: 0 lost, 0 failed, every job's output its own; the driver's BO count and
 * failed-job counter back where they were.
 */
static void test_load(uint32_t jobs)
{
	const int64_t bos0 = read_num(NPU_SYSFS(0, "bo_count"));
	const int64_t failed0 = read_num(NPU_SYSFS(0, "jobs_failed"));
	uint32_t total[4] = { 0 };
	uint64_t t0 = now_ms();
	int p[2];

	CHECK(pipe(p) == 0, "pipe");
	for (int i = 0; i < LOAD_PROCS; i++) {
		pid_t pid = fork();

		if (pid == 0)
			load_process(i, jobs, p[1]);
		CHECK(pid > 0, "fork");
	}
	close(p[1]);
	for (int i = 0; i < LOAD_PROCS; i++) {
		uint32_t sum[4];

		if (read(p[0], sum, sizeof(sum)) != sizeof(sum))
			break;
		for (int k = 0; k < 4; k++)
			total[k] += sum[k];
	}
	close(p[0]);
	while (wait(NULL) > 0)
		;
	const uint64_t want = (uint64_t)LOAD_PROCS * LOAD_THREADS * jobs;
	printf("  %d processes x %d threads x %u jobs in %.1f s: %u ok, %u failed, %u lost, "
	       "%u wrong\n", LOAD_PROCS, LOAD_THREADS, jobs, (double)(now_ms() - t0) / 1e3,
	       total[0], total[1], total[2], total[3]);
	CHECK(total[0] == want && !total[1] && !total[2] && !total[3],
	      "%u of %llu jobs completed once and right", total[0], (unsigned long long)want);
	uint64_t t1 = now_ms();
	int64_t bos;
	/* at most as many as before: BOs of earlier tests' last jobs may have gone meanwhile */
	while ((bos = read_num(NPU_SYSFS(0, "bo_count"))) > bos0 && now_ms() - t1 < 5000)
		usleep(20 * 1000);
	CHECK(bos <= bos0, "bo_count %lld after the load, %lld before", (long long)bos,
	      (long long)bos0);
	CHECK(read_num(NPU_SYSFS(0, "jobs_failed")) == failed0, "jobs failed during the load");
}

/* ---- thermal: the zone, its trips, the cooling device, hwmon, throttling -------------------- */

/*
 * The silicon's thermal model runs in modeled time (kmod/silicon/npu_thermal.h): a job counts
 * its modeled duration, idle time counts host time / pace. Under TCG a job's modeled time is
 * ~10^4 times shorter than the host takes to compute it, so the tests shrink the die's heat
 * capacity until its time constant is a few us of modeled time (seconds of host time), and
 * pace jobs so that the idle gaps between them (SUBMIT, the waits) do not dominate.
 */
#define HEAT_R_MK_PER_W "1000000"	/* 1000 K/W: a rise of tens of K at the jobs' duty */
#define HEAT_C_NJ_PER_K "40"	/* tau = 1000 K/W x 40 nJ/K = 40 us */
#define HEAT_PACE "20000"
#define HEAT_M 4
#define HEAT_N 128
#define HEAT_K 256

/* The thermal zone of device 0 ("edge-npu.0"): its sysfs directory in dir; false if none. */
static bool thermal_zone_dir(char *dir, size_t len)
{
	DIR *d = opendir("/sys/class/thermal");
	struct dirent *e;
	bool found = false;
	char path[300], type[64];

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		if (strncmp(e->d_name, "thermal_zone", 12))
			continue;
		snprintf(path, sizeof(path), "/sys/class/thermal/%s/type", e->d_name);
		if (!read_str(path, type, sizeof(type)) && !strcmp(type, "edge-npu.0")) {
			snprintf(dir, len, "/sys/class/thermal/%s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

static int64_t zone_num(const char *zone, const char *file)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", zone, file);
	return read_num(path);
}

static int zone_write(const char *zone, const char *file, const char *val)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", zone, file);
	return write_str(path, val);
}

/*
 * A MAC-bound job (a 4 x 128 x 256 matmul, its weights resident after the first run). Its
 * size does not change how fast the die warms (the power while busy), only how long one job
 * holds the engine: small enough that, paced at the lowest clock, it stays far from the job
 * timeout.
 */
struct heat_job {
	struct job j;
	struct stream s;
	uint32_t w, x, y;
};

static void heat_job_new(int fd, struct heat_job *h)
{
	struct enpu_cmd_matmul mm = {
		.weights = opnd(0, 0, HEAT_K / ENPU_QK * sizeof(struct enpu_block_q8)),
		.input = opnd(1, 0, HEAT_K / ENPU_QK * sizeof(struct enpu_block_q8)),
		.output = opnd(2, 0, HEAT_N / ENPU_QK * sizeof(struct enpu_block_i32)),
		.m = HEAT_M, .n = HEAT_N, .k = HEAT_K,
		.w_dtype = ENPU_DT_Q8B, .out_dtype = ENPU_DT_I32B,
	};

	memset(h, 0, sizeof(*h));
	h->j.ctx = ctx_new(fd, 1);
	h->j.cmd_bo = bo_new(fd, 4096);
	h->w = bo_new(fd, HEAT_N * HEAT_K / ENPU_QK * sizeof(struct enpu_block_q8));
	h->x = bo_new(fd, HEAT_M * HEAT_K / ENPU_QK * sizeof(struct enpu_block_q8));
	h->y = bo_new(fd, HEAT_M * HEAT_N / ENPU_QK * sizeof(struct enpu_block_i32));
	h->j.nrefs = 3;
	h->j.refs[0] = (struct drm_edge_npu_bo_ref){ .handle = h->w, .flags = DRM_EDGE_NPU_BO_READ };
	h->j.refs[1] = (struct drm_edge_npu_bo_ref){ .handle = h->x, .flags = DRM_EDGE_NPU_BO_READ };
	h->j.refs[2] = (struct drm_edge_npu_bo_ref){ .handle = h->y, .flags = DRM_EDGE_NPU_BO_WRITE };
	drmSyncobjCreate(fd, 0, &h->j.out_sync);
	s_begin(&h->s);
	s_add(&h->s, &mm, sizeof(mm), ENPU_OP_MATMUL);
	s_finish(&h->s);
}

static void heat_job_free(int fd, struct heat_job *h)
{
	drmSyncobjDestroy(fd, h->j.out_sync);
	gem_close(fd, h->w);
	gem_close(fd, h->x);
	gem_close(fd, h->y);
	gem_close(fd, h->j.cmd_bo);
	ctx_free(fd, h->j.ctx);
}

/* Runs jobs back to back for ms; returns the jobs that failed. */
static int heat_for(int fd, struct heat_job *h, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	int failed = 0;

	while (now_ms() < end) {
		if (submit(fd, &h->j, &h->s, NULL) || sync_wait(fd, h->j.out_sync, 10000) ||
		    sync_status(fd, h->j.out_sync) != 1)
			failed++;
	}
	return failed;
}

/* The thermal knobs the tests change, and their values before. */
struct heat_knobs {
	char r[32], c[32], pace[32], trip[32];
};

static void heat_setup(const char *zone, struct heat_knobs *k, const char *trip_mc)
{
	set_param(PARAM("thermal_r_mk_per_w"), HEAT_R_MK_PER_W, k->r, sizeof(k->r));
	set_param(PARAM("thermal_c_nj_per_k"), HEAT_C_NJ_PER_K, k->c, sizeof(k->c));
	set_param(PARAM("pace"), HEAT_PACE, k->pace, sizeof(k->pace));
	snprintf(k->trip, sizeof(k->trip), "%lld", (long long)zone_num(zone, "trip_point_0_temp"));
	if (trip_mc)
		zone_write(zone, "trip_point_0_temp", trip_mc);
}

static void heat_restore(const char *zone, const struct heat_knobs *k)
{
	zone_write(zone, "trip_point_0_temp", k->trip);
	set_param(PARAM("pace"), k->pace, NULL, 0);
	set_param(PARAM("thermal_c_nj_per_k"), k->c, NULL, 0);
	set_param(PARAM("thermal_r_mk_per_w"), k->r, NULL, 0);
}

/* The cooling device bound to the zone's passive trip (its cdevN link): its directory. */
static bool zone_cdev(const char *zone, char *dir, size_t len)
{
	char link[400], target[400];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/cdev0", zone);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	snprintf(dir, len, "%s/%s", zone, target);
	return true;
}

static void test_thermal(int fd)
{
	char zone[300], cdev[800], buf[128], hwmon[400] = "";
	struct heat_knobs k;
	struct heat_job h;
	DIR *d;
	struct dirent *e;

	int64_t bos0 = read_num(NPU_SYSFS(0, "bo_count"));

	CHECK(thermal_zone_dir(zone, sizeof(zone)), "no thermal zone of type edge-npu.0");
	if (!zone[0])
		return;
	/* the zone: temperature at ambient idle, a passive and a critical trip */
	int64_t t0 = zone_num(zone, "temp");
	char path[1024];

	snprintf(path, sizeof(path), "%s/trip_point_0_type", zone);
	CHECK(!read_str(path, buf, sizeof(buf)) && !strcmp(buf, "passive"), "trip 0 is %s", buf);
	snprintf(path, sizeof(path), "%s/trip_point_1_type", zone);
	CHECK(!read_str(path, buf, sizeof(buf)) && !strcmp(buf, "critical"), "trip 1 is %s", buf);
	CHECK(zone_num(zone, "trip_point_0_temp") == 60000 &&
		      zone_num(zone, "trip_point_1_temp") == 95000,
	      "trips %lld, %lld mdegC", (long long)zone_num(zone, "trip_point_0_temp"),
	      (long long)zone_num(zone, "trip_point_1_temp"));
	CHECK(t0 >= 35000 && t0 < 60000, "idle die at %lld mdegC", (long long)t0);
	/* the cooling device: devfreq's, on the passive trip, with states for the OPPs */
	CHECK(zone_cdev(zone, cdev, sizeof(cdev)), "no cooling device bound to %s", zone);
	CHECK(zone_num(zone, "cdev0_trip_point") == 0, "cooling device on trip %lld",
	      (long long)zone_num(zone, "cdev0_trip_point"));
	snprintf(path, sizeof(path), "%s/type", cdev);
	CHECK(!read_str(path, buf, sizeof(buf)) && strstr(buf, "devfreq"), "cooling device %s",
	      buf);
	snprintf(path, sizeof(path), "%s/max_state", cdev);
	CHECK(read_num(path) == NPU_NUM_OPPS - 1, "cooling max_state %lld",
	      (long long)read_num(path));
	/* the power model: power_allocator's sustainable power, (60 - 35) C / 250 K/W */
	CHECK(zone_num(zone, "sustainable_power") == 100, "sustainable_power %lld mW",
	      (long long)zone_num(zone, "sustainable_power"));
	/* hwmon: temp1_input under the device */
	d = opendir("/sys/bus/platform/devices/edge-npu.0/hwmon");
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "hwmon", 5))
			snprintf(hwmon, sizeof(hwmon),
				 "/sys/bus/platform/devices/edge-npu.0/hwmon/%s/", e->d_name);
	if (d)
		closedir(d);
	CHECK(hwmon[0], "no hwmon device under edge-npu.0");
	if (hwmon[0]) {
		snprintf(path, sizeof(path), "%sname", hwmon);
		CHECK(!read_str(path, buf, sizeof(buf)) && !strcmp(buf, "edge_npu"), "hwmon name %s",
		      buf);
		snprintf(path, sizeof(path), "%stemp1_input", hwmon);
		int64_t ht = read_num(path);
		CHECK(ht >= 35000 && ht < 60000 && llabs(ht - zone_num(zone, "temp")) < 5000,
		      "hwmon temp1_input %lld, zone %lld", (long long)ht,
		      (long long)zone_num(zone, "temp"));
	}

	/* heating: a sustained load at the top clock warms the die (the trip out of its way) */
	heat_job_new(fd, &h);
	heat_setup(zone, &k, "90000");
	CHECK(!zone_write(zone, "policy", "step_wise"), "policy step_wise");
	int fails = heat_for(fd, &h, 2500);
	int64_t hot = zone_num(zone, "temp"), f_hot = read_num(DEVFREQ0 "cur_freq");
	printf("  thermal: idle %lld mdegC; after 2.5 s of load %lld mdegC at %lld Hz\n",
	       (long long)t0, (long long)hot, (long long)f_hot);
	CHECK(!fails, "%d jobs failed", fails);
	CHECK(hot > t0 + 2000, "the load warmed the die from %lld to %lld mdegC only",
	      (long long)t0, (long long)hot);
	/*
	 * throttling: a passive trip half way up makes step_wise cap the clock through the
	 * devfreq cooling device; the die then stays near the trip instead of the load's
	 * steady state.
	 */
	char trip[32];
	int64_t min_f = f_hot, max_state = 0, peak = 0;

	snprintf(trip, sizeof(trip), "%lld", (long long)(35000 + (hot - 35000) / 2));
	CHECK(!zone_write(zone, "trip_point_0_temp", trip), "writing trip_point_0_temp");
	CHECK(zone_num(zone, "trip_point_0_temp") == atoll(trip), "trip 0 reads %lld",
	      (long long)zone_num(zone, "trip_point_0_temp"));
	snprintf(path, sizeof(path), "%s/cur_state", cdev);
	for (int i = 0; i < 30; i++) {
		fails += heat_for(fd, &h, 200);
		int64_t f = read_num(DEVFREQ0 "cur_freq"), st = read_num(path);
		int64_t t = zone_num(zone, "temp");
		if (i % 5 == 0)
			printf("  thermal: t+%.1f s trip %s: %lld mdegC, cooling state %lld, "
			       "cur_freq %lld Hz\n", (i + 1) * 0.2, trip, (long long)t,
			       (long long)st, (long long)f);
		min_f = f < min_f ? f : min_f;
		max_state = st > max_state ? st : max_state;
		peak = t > peak ? t : peak;
	}
	printf("  thermal: trip %s mdegC: cooling state up to %lld, cur_freq down to %lld Hz\n",
	       trip, (long long)max_state, (long long)min_f);
	CHECK(max_state > 0, "the governor never throttled (die %lld, trip %s)", (long long)peak,
	      trip);
	CHECK(min_f < f_hot, "cur_freq never went below %lld Hz", (long long)f_hot);
	CHECK(!fails, "%d jobs failed while throttled", fails);
	/*
	 * power_allocator: the power model (the energy model's OPP powers, the zone's
	 * sustainable power) makes it grant the NPU less than its top OPP draws above the trip.
	 */
	CHECK(!zone_write(zone, "policy", "power_allocator"), "policy power_allocator");
	snprintf(path, sizeof(path), "%s/policy", zone);
	CHECK(!read_str(path, buf, sizeof(buf)) && !strcmp(buf, "power_allocator"), "policy %s",
	      buf);
	snprintf(path, sizeof(path), "%s/cur_state", cdev);
	int64_t pa_state = 0, pa_min_f = f_hot;
	for (int i = 0; i < 15; i++) {
		fails += heat_for(fd, &h, 200);
		int64_t st = read_num(path), f = read_num(DEVFREQ0 "cur_freq");
		pa_state = st > pa_state ? st : pa_state;
		pa_min_f = f < pa_min_f ? f : pa_min_f;
	}
	printf("  thermal: power_allocator: cooling state up to %lld, cur_freq down to %lld Hz, "
	       "die %lld mdegC\n", (long long)pa_state, (long long)pa_min_f,
	       (long long)zone_num(zone, "temp"));
	CHECK(pa_state > 0 && pa_min_f < f_hot, "power_allocator never throttled");
	CHECK(!zone_write(zone, "policy", "step_wise"), "policy step_wise again");
	/* cooled and the trip back: the cap is lifted */
	heat_restore(zone, &k);
	uint64_t tc = now_ms();
	while (read_num(path) > 0 && now_ms() - tc < 5000)
		usleep(100 * 1000);
	CHECK(read_num(path) == 0, "cooling state %lld after the load", (long long)read_num(path));
	heat_job_free(fd, &h);
	/* the load's BOs go with its last job */
	int64_t bos;
	tc = now_ms();
	/* at most as many as before: BOs of earlier tests' last jobs may have gone meanwhile */
	while ((bos = read_num(NPU_SYSFS(0, "bo_count"))) > bos0 && now_ms() - tc < 5000)
		usleep(20 * 1000);
	CHECK(bos <= bos0, "bo_count %lld after the thermal test, %lld before", (long long)bos,
	      (long long)bos0);
}

/*
 * --heat MS: the genl test's load: lowers the passive trip to 1 K above ambient, runs the
 * heating load for ms (the trip is crossed, the governor throttles), then restores the knobs.
 */
static int heat_mode(unsigned int ms)
{
	int fd = open_npu(0), fails;
	char zone[300];
	struct heat_knobs k;
	struct heat_job h;

	if (fd < 0 || !thermal_zone_dir(zone, sizeof(zone)))
		return 1;
	heat_job_new(fd, &h);
	heat_setup(zone, &k, "36000");
	zone_write(zone, "policy", "step_wise");
	fails = heat_for(fd, &h, ms);
	heat_restore(zone, &k);
	heat_job_free(fd, &h);
	close(fd);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned int autosuspend_ms = 300, race_secs = 10, load_jobs = 1000;
	int fd1, fd2, fd_dev1;

	timeout_ms = arg_timeout_ms(argc, argv, timeout_ms);
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--autosuspend-ms"))
			autosuspend_ms = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--race-secs"))
			race_secs = (unsigned int)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--load-jobs"))
			load_jobs = (unsigned int)atoi(argv[++i]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--leave-hung-job"))
		return leave_hung_job();
	if (argc > 1 && !strcmp(argv[1], "--mmu-fault"))
		return mmu_fault_job();
	if (argc > 2 && !strcmp(argv[1], "--hold-jobs"))
		return hold_jobs((unsigned int)atoi(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "--heat"))
		return heat_mode((unsigned int)atoi(argv[2]));
	if (argc > 1 && !strcmp(argv[1], "--qos"))
		return qos_tests();
	fd1 = open_npu(0);
	fd2 = open_npu(0);
	fd_dev1 = open_npu(1);
	if (fd1 < 0 || fd2 < 0) {
		printf("FAIL: no edge_npu device node\nenpu_kmod_test: 0 passed, 1 failed\n");
		return 1;
	}

#define GROUP(name, call)                                                             \
	do {                                                                          \
		int f0 = n_fail;                                                      \
		call;                                                                 \
		printf("%s %s\n", n_fail == f0 ? "ok  " : "FAIL", name);             \
	} while (0)
	GROUP("params", test_params(fd1));
	GROUP("contract", test_contract(fd1));
	GROUP("isolation", test_isolation(fd1, fd2));
	GROUP("jobs", test_jobs(fd1));
	GROUP("hang", test_hang(fd1, fd2));
	GROUP("long job", test_long_job(fd1, fd2));
	GROUP("devfreq", test_devfreq(fd1));
	GROUP("pacing", test_pacing(fd1));
	GROUP("late completion", test_late_completion(fd1));
	GROUP("thermal", test_thermal(fd1));
	GROUP("pm", test_pm(fd1, autosuspend_ms));
	GROUP("fdinfo", test_fdinfo(fd2));
	GROUP("prime same device", test_prime_pair(fd1, fd2, "same device"));
	if (fd_dev1 >= 0)
		GROUP("prime across devices", test_prime_pair(fd1, fd_dev1, "across devices"));
	else
		printf("skip prime across devices (one device)\n");
	GROUP("limits", test_limits());
	GROUP("memcg", test_memcg());
	GROUP("dep error", test_dep_error(fd1));
	GROUP("mmu contract", test_vm_bind_contract(fd1));
	GROUP("mmu faults", test_vm_faults(fd1, fd2));
	GROUP("mmu pinning", test_vm_pinning(fd1));
	GROUP("fence order", test_fence_order(fd1));
	GROUP("ctx race", test_ctx_race(race_secs));
	GROUP("load", test_load(load_jobs));
	GROUP("debugfs", test_debugfs(fd_dev1 >= 0 ? 2 : 1));

	close(fd1);
	close(fd2);
	if (fd_dev1 >= 0)
		close(fd_dev1);
	/* BOs are freed when the last reference goes; jobs may still hold some briefly */
	{
		uint64_t t0 = now_ms();
		int64_t n0, n1;

		do {
			n0 = read_num(NPU_SYSFS(0, "bo_count"));
			n1 = fd_dev1 >= 0 ? read_num(NPU_SYSFS(1, "bo_count")) : 0;
			if (!n0 && !n1)
				break;
			usleep(20 * 1000);
		} while (now_ms() - t0 < 5000);
		GROUP("leaks", CHECK(n0 == 0 && n1 == 0, "bo_count %lld %lld", (long long)n0,
				     (long long)n1));
	}
	GROUP("unbind", test_unbind());
	GROUP("unbind, late free", test_unbind_late_free());
	printf("enpu_kmod_test: %d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
