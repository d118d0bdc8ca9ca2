/* SPDX-License-Identifier: MIT */
/*
 * test_telemetry.c - the per-process statistics files (hal/telemetry.h): what a writer
 * publishes a reader reads back, consistently while it changes; files of dead processes are
 * ignored and cleaned; malformed files are refused, never trusted.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hal/npu_drm/npu_drm_genl.h"
#include "hal/rundir.h"
#include "hal/telemetry.h"
#include "testutil.h"

static char base[512], procs[600];

/* A fresh runtime directory for each test (Check forks one process per test). */
static void setup(void)
{
	snprintf(base, sizeof(base), "%s", tu_tmp_path(".rt"));
	snprintf(procs, sizeof(procs), "%s/procs", base);
	ck_assert_int_eq(setenv("ENPU_SYSFS_DIR", base, 1), 0);
}

/* A device of the class its name says, as the backends create them. */
static struct hal_device fake(const char *name)
{
	enum hal_device_class cls = HAL_CLASS_CPU;

	for (int c = 0; c < HAL_CLASS_COUNT; c++)
		if (!strcmp(name, hal_class_name((enum hal_device_class)c)))
			cls = (enum hal_device_class)c;
	return (struct hal_device){ .name = name, .cls = cls };
}

static const struct hal_telem_slot *find(const struct hal_telem_proc *p, const char *name)
{
	for (uint32_t i = 0; i < p->n_slots; i++)
		if (!strcmp(p->slot[i].name, name))
			return &p->slot[i];
	return NULL;
}

START_TEST(publish_and_read_back)
{
	struct hal_device cpu = fake("cpu"), npu = fake("npu");
	struct hal_telem_proc procs_out[4];
	struct hal_telem_engine e = { .jobs = 7, .cycles = 1234, .energy_pj = 999,
				      .cur_freq_hz = 800000000, .governor = "performance",
				      .power = HAL_TELEM_POWER_ACTIVE, .engine_busy_ns = 55 };
	const struct hal_telem_slot *s;
	char path[700];

	ck_assert_int_ge(hal_telem_attach(&npu, HAL_TELEM_KIND_NPU, "npu0"), 0);
	cpu.stats = (struct hal_device_stats){ .ops = 3, .busy_ns = 1000 };
	npu.stats = (struct hal_device_stats){ .ops = 5, .busy_ns = 2000, .modeled_ns = 10 };
	hal_telemetry_publish_devices((struct hal_device *[]){ &cpu, &npu }, 2);
	hal_telem_update_engine(&npu, &e);

	snprintf(path, sizeof(path), "%s/%ld.stats", procs, (long)getpid());
	ck_assert_str_eq(hal_telem_path(), path);
	ck_assert_int_eq(hal_telem_scan(procs, procs_out, 4, true), 1);
	ck_assert_int_eq(procs_out[0].pid, getpid());
	ck_assert_str_eq(procs_out[0].comm, "test_telemetry");
	ck_assert_uint_eq(procs_out[0].n_slots, 2);
	s = find(&procs_out[0], "cpu");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->kind, HAL_TELEM_KIND_CPU);
	ck_assert_uint_eq(s->ops, 3);
	ck_assert_uint_eq(s->busy_ns, 1000);
	ck_assert_uint_eq(s->flags & HAL_TELEM_F_ENGINE, 0);
	s = find(&procs_out[0], "npu");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->kind, HAL_TELEM_KIND_NPU);
	ck_assert_str_eq(s->node, "npu0");
	ck_assert_uint_eq(s->ops, 5);
	ck_assert_uint_eq(s->modeled_ns, 10);
	ck_assert_uint_ne(s->flags & HAL_TELEM_F_ENGINE, 0);
	ck_assert_uint_eq(s->jobs, 7);
	ck_assert_uint_eq(s->cycles, 1234);
	ck_assert_uint_eq(s->energy_pj, 999);
	ck_assert_uint_eq(s->cur_freq_hz, 800000000);
	ck_assert_uint_eq(s->engine_busy_ns, 55);
	ck_assert_str_eq(s->governor, "performance");
	ck_assert_uint_gt(s->updated_ns, 0);

	/* a detached device disappears; the last one takes the file with it */
	hal_telem_detach(&cpu);
	ck_assert_int_eq(hal_telem_read_file(path, &procs_out[0]), 0);
	ck_assert_uint_eq(procs_out[0].n_slots, 1);
	hal_telem_detach(&npu);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_str_eq(hal_telem_path(), "");
	ck_assert_int_eq(hal_telem_scan(procs, procs_out, 4, true), 0);
}
END_TEST

START_TEST(no_directory_is_no_process)
{
	struct hal_telem_proc p[2];

	/* nobody published yet: the directory does not exist, which is not an error */
	ck_assert_int_eq(hal_telem_scan(procs, p, 2, true), 0);
}
END_TEST

/* A child publishes and dies without cleaning up: its file is ignored, then removed. */
START_TEST(stale_file_of_dead_process_is_cleaned)
{
	struct hal_telem_proc p[4];
	char path[700];
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct hal_device d = fake("cpu");

		d.stats.ops = 1;
		hal_telemetry_publish_devices((struct hal_device *[]){ &d }, 1);
		_exit(hal_telem_path()[0] ? 0 : 1); /* no detach: as if killed */
	}
	int st;

	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	snprintf(path, sizeof(path), "%s/%ld.stats", procs, (long)child);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(hal_telem_read_file(path, &p[0]), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* not cleaning: ignored but left */
	ck_assert_int_eq(hal_telem_scan(procs, p, 4, false), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(hal_telem_scan(procs, p, 4, true), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* A live child's file is read while the child keeps writing; the parent sees it. */
START_TEST(live_process_of_another_pid)
{
	struct hal_telem_proc p[4];
	int ready[2];
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct hal_device d = fake("gpu");

		d.stats.ops = 42;
		hal_telemetry_publish_devices((struct hal_device *[]){ &d }, 1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(hal_telem_scan(procs, p, 4, true), 1);
	ck_assert_int_eq(p[0].pid, child);
	ck_assert_uint_eq(p[0].n_slots, 1);
	ck_assert_uint_eq(p[0].slot[0].kind, HAL_TELEM_KIND_GPU);
	ck_assert_uint_eq(p[0].slot[0].ops, 42);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	/* killed: stale now */
	ck_assert_int_eq(hal_telem_scan(procs, p, 4, true), 0);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

static atomic_int stop_writer;

static void *writer(void *arg)
{
	struct hal_device *d = arg;

	for (uint64_t i = 1; !stop_writer; i++) {
		d->stats = (struct hal_device_stats){ .ops = i, .busy_ns = i * 3, .bytes_copied = i,
						      .modeled_ns = i * 7, .modeled_energy_pj = i };
		hal_telem_update_stats(d, &d->stats);
		/*
		 * A real device publishes once per job; a writer that does nothing else would
		 * starve the reader (it retries while the slot changes), as with any seqlock.
		 */
		if (i % 16 == 0)
			usleep(10);
	}
	return NULL;
}

/* The seqlock: a reader never sees a half-written slot (fields written together agree). */
START_TEST(snapshots_are_consistent_under_writes)
{
	struct hal_device d = fake("cpu");
	struct hal_telem_proc p;
	pthread_t t;
	uint64_t last = 0;
	char path[700];

	hal_telem_update_stats(&d, &d.stats);
	snprintf(path, sizeof(path), "%s", hal_telem_path());
	ck_assert_int_eq(pthread_create(&t, NULL, writer, &d), 0);
	for (int i = 0; i < 3000; i++) {
		int rc = hal_telem_read_file(path, &p);

		ck_assert_msg(rc == 0, "read %d: %s", i, strerror(errno));
		ck_assert_uint_eq(p.n_slots, 1);
		const struct hal_telem_slot *s = &p.slot[0];

		ck_assert_uint_eq(s->busy_ns, s->ops * 3);
		ck_assert_uint_eq(s->modeled_ns, s->ops * 7);
		ck_assert_uint_eq(s->bytes_copied, s->ops);
		ck_assert_uint_ge(s->ops, last); /* counters never go back */
		last = s->ops;
	}
	stop_writer = 1;
	pthread_join(t, NULL);
	ck_assert_uint_gt(last, 0);
	hal_telem_detach(&d);
}
END_TEST

/* Devices nobody detaches (CPU, GPU) give their slots to new ones, oldest first. */
START_TEST(full_file_recycles_the_oldest_unmanaged_slot)
{
	struct hal_device d[HAL_TELEM_MAX_SLOTS + 2], npu = fake("npu");
	struct hal_telem_proc p;
	const struct hal_telem_engine e = { .jobs = 1 };

	hal_telem_update_engine(&npu, &e); /* detaches itself: never recycled */
	for (int i = 0; i < HAL_TELEM_MAX_SLOTS + 2; i++) {
		d[i] = fake("cpu");
		d[i].stats.ops = (uint64_t)i + 100;
		hal_telemetry_publish_devices((struct hal_device *[]){ &d[i] }, 1);
	}
	ck_assert_int_eq(hal_telem_read_file(hal_telem_path(), &p), 0);
	ck_assert_uint_eq(p.n_slots, HAL_TELEM_MAX_SLOTS);
	ck_assert_ptr_nonnull(find(&p, "npu"));
	for (uint32_t i = 0; i < p.n_slots; i++)
		if (p.slot[i].kind == HAL_TELEM_KIND_CPU)
			ck_assert_uint_ge(p.slot[i].ops, 100 + 3); /* 100, 101, 102 evicted */
}
END_TEST

/* Writes a file by hand, locked by a live child process, and reads it. */
static int read_forged(const void *data, size_t len, struct hal_telem_proc *p)
{
	char path[700];
	int go[2], done[2], rc, e;
	char c;

	snprintf(path, sizeof(path), "%s/77.stats", procs);
	ck_assert_int_eq(mkdir(base, 0700) == 0 || errno == EEXIST, 1);
	ck_assert_int_eq(mkdir(procs, 0700) == 0 || errno == EEXIST, 1);
	tu_write_file(path, data, len);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	pid_t child = fork();

	if (child == 0) {
		/* holds the lock as a live writer would */
		int fd = open(path, O_RDONLY);

		if (fd < 0 || flock(fd, LOCK_EX) || write(go[1], "x", 1) != 1)
			_exit(1);
		if (read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	rc = hal_telem_read_file(path, p);
	e = errno;
	ck_assert_int_eq(write(done[1], "x", 1), 1);
	waitpid(child, NULL, 0);
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);
	errno = e;
	return rc;
}

static struct hal_telem_file *valid_file(void)
{
	struct hal_telem_file *f = calloc(1, HAL_TELEM_FILE_SIZE);

	f->magic = HAL_TELEM_MAGIC;
	f->version = HAL_TELEM_VERSION;
	f->header_size = offsetof(struct hal_telem_file, slot);
	f->slot_size = sizeof(struct hal_telem_slot);
	f->n_slots = HAL_TELEM_MAX_SLOTS;
	f->pid = 77;
	memset(f->comm, 'x', sizeof(f->comm)); /* not terminated: the reader must terminate it */
	f->slot[0].kind = HAL_TELEM_KIND_NPU;
	memset(f->slot[0].name, 'n', sizeof(f->slot[0].name));
	f->slot[0].jobs = 9;
	return f;
}

START_TEST(malformed_files_are_refused)
{
	struct hal_telem_file *f = valid_file();
	struct hal_telem_proc p;

	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), 0);
	ck_assert_uint_eq(p.n_slots, 1);
	ck_assert_uint_eq(strlen(p.comm), 15);
	ck_assert_uint_eq(strlen(p.slot[0].name), 15);
	ck_assert_uint_eq(p.slot[0].jobs, 9);

	f->magic ^= 1;
	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	f->magic ^= 1;
	f->version = HAL_TELEM_VERSION + 1;
	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	f->version = HAL_TELEM_VERSION;
	f->n_slots = 1000; /* beyond the file */
	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	f->n_slots = HAL_TELEM_MAX_SLOTS;
	f->slot_size = 16; /* smaller than this reader's slot */
	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	f->slot_size = sizeof(struct hal_telem_slot);
	/* truncated */
	ck_assert_int_eq(read_forged(f, 40, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(read_forged(f, 0, &p), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(read_forged(f, 2000, &p), -1); /* header fine, slots cut off */
	ck_assert_int_eq(errno, EINVAL);
	/* a writer stuck inside a slot: the reader gives up instead of spinning forever */
	f->slot[0].seq = 1;
	ck_assert_int_eq(read_forged(f, HAL_TELEM_FILE_SIZE, &p), -1);
	ck_assert_int_eq(errno, EAGAIN);
	free(f);
}
END_TEST

/* ---- generic netlink: the kernel's telemetry messages, parsed against malformed input ---- */

#include "genl_msg.h"

/*
 * A reader takes a runtime directory only when it is this user's: missing is fine (nothing to
 * read), a symlink or (as root) another user's directory is skipped.
 */
START_TEST(readers_skip_directories_of_others)
{
	char mine[600], link[600], theirs[600];

	snprintf(mine, sizeof(mine), "%s", tu_tmp_path(".mine"));
	snprintf(link, sizeof(link), "%s", tu_tmp_path(".link"));
	snprintf(theirs, sizeof(theirs), "%s", tu_tmp_path(".theirs"));
	ck_assert(hal_rundir_readable(mine)); /* not there yet */
	ck_assert_int_eq(mkdir(mine, 0700), 0);
	ck_assert(hal_rundir_readable(mine));
	ck_assert_int_eq(symlink(mine, link), 0);
	ck_assert(!hal_rundir_readable(link));
	ck_assert_int_eq(mkdir(theirs, 0755), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(theirs, 65534, 65534), 0);
		ck_assert(!hal_rundir_readable(theirs));
	}
	unlink(link);
	rmdir(mine);
	rmdir(theirs);
}
END_TEST

START_TEST(genl_parses_a_stats_reply)
{
	struct msg m;
	struct npu_genl_stats st;
	char err[200] = "";

	stats_reply(&m);
	ck_assert_msg(npu_genl_parse_stats(m.buf, m.len, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(st.device, 1);
	ck_assert_str_eq(st.name, "edge-npu.1");
	ck_assert_uint_eq(st.engines, 2);
	ck_assert_uint_eq(st.busy_ns, 123456789);
	ck_assert_uint_eq(st.cycles, 1ull << 40);
	ck_assert_uint_eq(st.cur_freq_hz, 400000000);
	ck_assert_uint_eq(st.min_freq_hz, 200000000);
	ck_assert_uint_eq(st.max_freq_hz, 1000000000);
	ck_assert_uint_eq(st.power_uw, 750000);
	ck_assert_uint_eq(st.energy_uj, 42);
	ck_assert_uint_eq(st.power_state, EDGE_NPU_POWER_ON);
	ck_assert_uint_eq(st.queue[0], 1);
	ck_assert_uint_eq(st.queue[1], 5);
	ck_assert_uint_eq(st.queue[2], 0);
	ck_assert_uint_eq(st.jobs_completed, 1000);
	ck_assert_uint_eq(st.jobs_failed, 3);
	ck_assert_uint_eq(st.jobs_reset, 2);
	ck_assert_uint_eq(st.mem_used, 1 << 20);
	ck_assert(st.have & (1ull << EDGE_NPU_A_QUEUE));
	ck_assert(!(st.have & (1ull << EDGE_NPU_A_EVENT)));

	/* an attribute of a newer kernel is ignored; a missing optional one reads as absent */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_u64(&m, EDGE_NPU_A_MAX + 5, 7);
	msg_end(&m);
	ck_assert_msg(npu_genl_parse_stats(m.buf, m.len, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(st.have, 1ull << EDGE_NPU_A_DEVICE);
	ck_assert_str_eq(st.name, "");
}
END_TEST

static void expect_bad_stats(const struct msg *m, size_t len, const char *why)
{
	struct npu_genl_stats st;
	char err[200] = "";

	ck_assert_msg(npu_genl_parse_stats(m->buf, len, &st, err, sizeof(err)) == -EINVAL,
		      "accepted: %s", why);
	ck_assert_msg(err[0], "no reason given for: %s", why);
}

START_TEST(genl_refuses_malformed_messages)
{
	struct msg m;
	uint8_t three[3] = { 1, 2, 3 };

	stats_reply(&m);
	/* framing */
	expect_bad_stats(&m, 0, "empty");
	expect_bad_stats(&m, NLMSG_HDRLEN + 2, "cut inside the genl header");
	expect_bad_stats(&m, m.len - 4, "nlmsg_len beyond the buffer");
	((struct nlmsghdr *)m.buf)->nlmsg_len = NLMSG_HDRLEN;
	expect_bad_stats(&m, m.len, "nlmsg_len shorter than the headers");
	stats_reply(&m);
	((struct genlmsghdr *)(m.buf + NLMSG_HDRLEN))->cmd = EDGE_NPU_CMD_EVENT;
	expect_bad_stats(&m, m.len, "wrong command");

	/* attribute lengths against the policy */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_u32(&m, EDGE_NPU_A_BUSY_NS, 5); /* a u64 in 4 bytes */
	expect_bad_stats(&m, msg_end(&m), "short u64");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u64(&m, EDGE_NPU_A_DEVICE, 0); /* a u32 in 8 bytes */
	expect_bad_stats(&m, msg_end(&m), "long u32");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_attr(&m, EDGE_NPU_A_DEVICE, three, 3);
	expect_bad_stats(&m, msg_end(&m), "3-byte u32");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_attr(&m, EDGE_NPU_A_DEV_NAME, "edge-npu", 8); /* no terminating NUL */
	expect_bad_stats(&m, msg_end(&m), "unterminated name");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_attr(&m, EDGE_NPU_A_DEV_NAME, "", 0);
	expect_bad_stats(&m, msg_end(&m), "empty name");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	char longname[64];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[63] = 0;
	msg_attr(&m, EDGE_NPU_A_DEV_NAME, longname, 64);
	expect_bad_stats(&m, msg_end(&m), "name longer than the policy allows");

	/* an attribute whose length runs past the message */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_u64(&m, EDGE_NPU_A_CYCLES, 9);
	((struct nlattr *)(m.buf + m.len - 12))->nla_len = 200;
	expect_bad_stats(&m, msg_end(&m), "attribute past the end");
	/* an attribute shorter than its own header */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_u32(&m, EDGE_NPU_A_ENGINES, 2);
	((struct nlattr *)(m.buf + m.len - 8))->nla_len = 2;
	expect_bad_stats(&m, msg_end(&m), "attribute shorter than its header");

	/* nested queue depths */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_nest_begin(&m, EDGE_NPU_A_QUEUE);
	msg_u64(&m, EDGE_NPU_QUEUE_NORMAL, 1); /* u32 expected */
	msg_nest_end(&m);
	expect_bad_stats(&m, msg_end(&m), "bad attribute inside the queue nest");
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 0);
	msg_nest_begin(&m, EDGE_NPU_A_QUEUE);
	msg_u32(&m, EDGE_NPU_QUEUE_LOW, 1);
	msg_nest_end(&m);
	((struct nlattr *)(m.buf + m.len - 8))->nla_len = 40; /* inner runs out of the nest */
	expect_bad_stats(&m, msg_end(&m), "inner attribute outside its nest");

	/* the device index is required */
	msg_begin(&m, EDGE_NPU_CMD_GET_STATS);
	msg_u64(&m, EDGE_NPU_A_BUSY_NS, 1);
	expect_bad_stats(&m, msg_end(&m), "no device");
}
END_TEST

START_TEST(genl_parses_events)
{
	struct msg m;
	struct npu_genl_event ev;
	char err[200] = "";

	job_fault_event(&m);
	ck_assert_msg(npu_genl_parse_event(m.buf, m.len, &ev, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ev.event, EDGE_NPU_EVENT_JOB_FAULT);
	ck_assert_str_eq(npu_genl_event_name(ev.event), "job_fault");
	ck_assert_uint_eq(ev.engine, 1);
	ck_assert_int_eq(ev.error, -ETIMEDOUT);
	ck_assert_uint_eq(ev.pid, 4242);

	msg_begin(&m, EDGE_NPU_CMD_EVENT);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 1);
	msg_u32(&m, EDGE_NPU_A_EVENT, EDGE_NPU_EVENT_FREQ_CHANGE);
	msg_u64(&m, EDGE_NPU_A_OLD_FREQ_HZ, 1000000000);
	msg_u64(&m, EDGE_NPU_A_CUR_FREQ_HZ, 200000000);
	msg_end(&m);
	ck_assert_msg(npu_genl_parse_event(m.buf, m.len, &ev, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ev.device, 1);
	ck_assert_uint_eq(ev.old_freq_hz, 1000000000);
	ck_assert_uint_eq(ev.cur_freq_hz, 200000000);
	ck_assert_str_eq(npu_genl_event_name(ev.event), "freq_change");
	ck_assert_str_eq(npu_genl_event_name(999), "?");

	/* an event without its kind, or a stats reply offered as an event */
	msg_begin(&m, EDGE_NPU_CMD_EVENT);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 1);
	ck_assert_int_eq(npu_genl_parse_event(m.buf, msg_end(&m), &ev, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "EDGE_NPU_A_EVENT"));
	stats_reply(&m);
	ck_assert_int_eq(npu_genl_parse_event(m.buf, m.len, &ev, err, sizeof(err)), -EINVAL);
	msg_begin(&m, EDGE_NPU_CMD_EVENT);
	msg_u32(&m, EDGE_NPU_A_DEVICE, 1);
	msg_u64(&m, EDGE_NPU_A_EVENT, 5);
	ck_assert_int_eq(npu_genl_parse_event(m.buf, msg_end(&m), &ev, err, sizeof(err)), -EINVAL);
}
END_TEST

/* Without the module (this host): a clear error, not a crash. */
START_TEST(genl_without_module)
{
	struct npu_genl *g = (struct npu_genl *)1;
	char err[200] = "";
	int rc = npu_genl_open(&g, err, sizeof(err));

	if (rc == 0) { /* the module is loaded here: the dump must work then */
		struct npu_genl_stats st[8];

		ck_assert_int_ge(npu_genl_get_stats(g, st, 8, err, sizeof(err)), 0);
		npu_genl_close(g);
		return;
	}
	ck_assert_ptr_null(g);
	ck_assert_msg(rc == -ENOENT || rc == -EIO, "rc %d: %s", rc, err);
	ck_assert_msg(strstr(err, "edge_npu") || strstr(err, "netlink"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("telemetry");
	TCase *tc = tcase_create("shm");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, publish_and_read_back);
	tcase_add_test(tc, no_directory_is_no_process);
	tcase_add_test(tc, stale_file_of_dead_process_is_cleaned);
	tcase_add_test(tc, live_process_of_another_pid);
	tcase_add_test(tc, snapshots_are_consistent_under_writes);
	tcase_add_test(tc, full_file_recycles_the_oldest_unmanaged_slot);
	tcase_add_test(tc, malformed_files_are_refused);
	tcase_add_test(tc, readers_skip_directories_of_others);
	suite_add_tcase(s, tc);
	tc = tcase_create("genl");
	tcase_add_test(tc, genl_parses_a_stats_reply);
	tcase_add_test(tc, genl_refuses_malformed_messages);
	tcase_add_test(tc, genl_parses_events);
	tcase_add_test(tc, genl_without_module);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
