/* SPDX-License-Identifier: MIT */
/*
 * trace.c - a session's work as a Chrome Trace Event file (JSON object format), for
 * ui.perfetto.dev and chrome://tracing.
 *
 * The process's real pid; a track per thread by its real thread id: the session's caller,
 * with a slice per prefill and per decode step (the graph run of its tokens) and, under
 * enpu_generate, a slice per generated token around its sampling and its decode step; and
 * each device queue's worker, with an "X" slice per op; overlapped speculation's draft
 * thread, with a "pre-draft" slice around the draft steps it takes while the session
 * verifies (both threads write: the writer is locked). A flow ("s" then "f" bound to the
 * enclosing slice) per data dependency between ops on different devices. Counters per device:
 * its clock, sampled at every op where it changes and at the end of every step (so the track
 * has a value per step however steady the clock), and its modeled power (the op's modeled
 * energy over its modeled time, held for the op's host slice). Events are streamed to a
 * temporary file beside the path as ops complete (stdio buffers them), so a long trace costs
 * no memory; the closing bracket is written at stop, and the file renamed to its path.
 *
 * Ordering, which tests/trace_check.py verifies: on each thread's track a slice is written
 * when it ends, so the ends are monotonic in file order and slices nest (a step inside its
 * token, an op inside the step that ran it); a counter's samples are monotonic in time.
 */
#include "internal.h"
#include "hal/files.h"
#include "hal/json.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TRACE_MAX_THREADS 64

/* The data dependencies of one graph and when each of its nodes started in the current run. */
struct trace_graph {
	const struct sched_graph *g;
	uint32_t n_nodes;
	uint32_t *pred_off, *pred; /* CSR, data edges only (ordering-only edges carry no arrow) */
	uint64_t *t_start;         /* µs-ready ns of the node's start in this run */
};

struct enpu_trace {
	FILE *f;   /* writes to fd through trace_write, which keeps the first write's errno */
	int fd;    /* the temporary beside path, renamed to path at stop (hal/files.h) */
	int werr;  /* errno of the first failed write, 0 while none */
	char *path, *tmp;
	int pid;
	uint64_t t0_ns;
	/* a speculating session's draft runs on a thread of its own while the session verifies
	 * (spec_overlap): both write here, so every writer holds the lock */
	pthread_mutex_t lock;
	uint64_t n_events;
	uint64_t next_flow;
	struct hal_device *const *devs;
	uint32_t n_devs;
	long tids[TRACE_MAX_THREADS];      /* threads whose track is named */
	uint32_t n_tids;
	long dev_tid[ENPU_MAX_DEVICES];    /* the worker thread each device's ops ran on */
	uint64_t freq_hz[ENPU_MAX_DEVICES]; /* last frequency counter value emitted */
	struct trace_graph cache[2];       /* a session keeps two graphs: decode and prefill */
	uint32_t evict;
	bool nomem; /* a dependency DAG could not be built: flows are missing */
};

/* Timestamps are µs since trace start, as the format wants, with ns resolution kept. */
static double us(const struct enpu_trace *t, uint64_t ns)
{
	return ns > t->t0_ns ? (double)(ns - t->t0_ns) / 1e3 : 0.0;
}

/* Starts an event: every one after the first is preceded by a comma. */
static FILE *ev(struct enpu_trace *t)
{
	fputs(t->n_events++ ? ",\n" : "\n", t->f);
	return t->f;
}

/* The caller's kernel thread id: the tid viewers match with perf, top -H and gdb. */
static long this_tid(void)
{
	return (long)syscall(SYS_gettid);
}

/*
 * Names the track of thread tid once: what ran there ("npu queue", "session") and where it
 * sorts (the session first, then the devices in order).
 */
static void name_thread(struct enpu_trace *t, long tid, const char *name, const char *suffix,
			uint32_t sort)
{
	for (uint32_t i = 0; i < t->n_tids; i++)
		if (t->tids[i] == tid)
			return;
	if (t->n_tids < TRACE_MAX_THREADS)
		t->tids[t->n_tids++] = tid;
	fprintf(ev(t), "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
		"\"args\":{\"name\":\"", t->pid, tid);
	hal_json_escape(t->f, name, false);
	fprintf(t->f, "%s\"}}", suffix);
	fprintf(ev(t), "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%ld,"
		"\"args\":{\"sort_index\":%u}}", t->pid, tid, sort);
}

/* The stream's writes: all of buf to the temporary, or 0 with the errno kept (fopencookie). */
static ssize_t trace_write(void *cookie, const char *buf, size_t len)
{
	struct enpu_trace *t = cookie;

	if (!t->werr)
		t->werr = hal_file_write_all(t->fd, buf, len);
	return t->werr ? 0 : (ssize_t)len;
}

/* Closing the stream leaves fd open: hal_file_commit syncs and closes it. */
static int trace_close_stream(void *cookie)
{
	(void)cookie;
	return 0;
}

static void trace_free(struct enpu_trace *t)
{
	free(t->path);
	free(t->tmp);
	free(t);
}

enpu_status drv_trace_open(enpu_context *ctx, const char *path, struct enpu_trace **out)
{
	struct enpu_trace *t = calloc(1, sizeof(*t));
	char err[600];

	if (!t || !(t->path = strdup(path)) || !(t->tmp = malloc(HAL_FILE_TMP_LEN(path)))) {
		if (t)
			trace_free(t);
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_trace_start: out of memory");
	}
	/*
	 * Written to a temporary beside path and renamed at stop: a symlink, FIFO or device at
	 * path is refused, a file there (even a model that is mapped) is never truncated in
	 * place, and two sessions tracing to one path each publish a whole file.
	 */
	t->fd = hal_file_create(path, t->tmp, HAL_FILE_TMP_LEN(path), err, sizeof(err));
	if (t->fd < 0) {
		trace_free(t);
		return drv_ctx_fail(ctx, ENPU_ERR_IO, "enpu_session_trace_start: %s", err);
	}
	t->f = fopencookie(t, "w", (cookie_io_functions_t){ .write = trace_write,
							    .close = trace_close_stream });
	if (!t->f) {
		hal_file_abandon(t->fd, t->tmp);
		trace_free(t);
		return drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_trace_start: out of memory");
	}
	pthread_mutex_init(&t->lock, NULL);
	t->devs = ctx->devices;
	t->n_devs = ctx->n_devices;
	t->pid = (int)getpid();
	t->t0_ns = hal_now_ns();
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", t->f);
	fprintf(ev(t), "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
		"\"args\":{\"name\":\"edge-npu (", t->pid, t->pid);
	hal_json_escape(t->f, program_invocation_short_name, false);
	fputs(")\"}}", t->f);
	*out = t;
	return ENPU_OK;
}

static void graph_clear(struct trace_graph *c)
{
	free(c->pred_off);
	free(c->pred);
	free(c->t_start);
	memset(c, 0, sizeof(*c));
}

void drv_trace_forget_graph(struct enpu_trace *t, const struct sched_graph *g)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < 2; i++)
		if (t->cache[i].g == g)
			graph_clear(&t->cache[i]);
	pthread_mutex_unlock(&t->lock);
}

/* g's cached dependencies (NULL: not cached, or they could not be built). */
static struct trace_graph *graph_find(struct enpu_trace *t, const struct sched_graph *g)
{
	for (int i = 0; i < 2; i++)
		if (t->cache[i].g == g && t->cache[i].n_nodes == g->n_nodes)
			return &t->cache[i];
	return NULL;
}

/* Keeps the data edges of g's dependency DAG (built once per graph: it is quadratic). */
static bool graph_build(struct trace_graph *c, const struct sched_graph *g)
{
	struct sched_dag d;
	char err[128];

	if (sched_dag_from_graph(g, g->n_tokens, &d, err, sizeof(err)))
		return false;
	uint32_t ne = d.pred_off[d.n];
	c->pred_off = calloc(d.n + 1, sizeof(uint32_t));
	c->pred = malloc(sizeof(uint32_t) * (ne ? ne : 1));
	c->t_start = calloc(d.n ? d.n : 1, sizeof(uint64_t));
	if (!c->pred_off || !c->pred || !c->t_start) {
		sched_dag_free(&d);
		graph_clear(c);
		return false;
	}
	uint32_t k = 0;
	for (uint32_t v = 0; v < d.n; v++) {
		for (uint32_t e = d.pred_off[v]; e < d.pred_off[v + 1]; e++)
			if (d.edge_bytes[e] > 0)
				c->pred[k++] = d.pred[e];
		c->pred_off[v + 1] = k;
	}
	c->g = g;
	c->n_nodes = d.n;
	sched_dag_free(&d);
	return true;
}

void drv_trace_begin_run(struct enpu_trace *t, const struct sched_graph *g)
{
	pthread_mutex_lock(&t->lock);
	if (!graph_find(t, g)) {
		/* two graphs run at once at most (a verification and a draft step): two slots */
		struct trace_graph *c = !t->cache[0].g ? &t->cache[0]
				      : !t->cache[1].g ? &t->cache[1]
						       : &t->cache[t->evict++ % 2];
		graph_clear(c);
		if (!graph_build(c, g))
			t->nomem = true; /* slices and counters still; stop reports the missing flows */
	}
	pthread_mutex_unlock(&t->lock);
}

/* Device dev's clock counter at ts (µs): the last clock its ops reported. */
static void freq_counter(struct enpu_trace *t, uint32_t dev, double ts)
{
	fputs("{\"name\":\"", ev(t));
	hal_json_escape(t->f, t->devs[dev]->name, false);
	fprintf(t->f, " frequency\",\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,\"args\":{\"MHz\":%.1f}}",
		t->pid, ts, (double)t->freq_hz[dev] / 1e6);
}

void drv_trace_span(struct enpu_trace *t, const char *name, const char *cat, uint64_t t0_ns,
		    uint64_t t1_ns, const char *args)
{
	const long tid = this_tid();
	const double ts = us(t, t0_ns), te = us(t, t1_ns);

	pthread_mutex_lock(&t->lock);
	name_thread(t, tid, "session", "", 0);
	fprintf(ev(t), "{\"name\":\"");
	hal_json_escape(t->f, name, false);
	fprintf(t->f, "\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%ld,\"ts\":%.3f,"
		"\"dur\":%.3f,\"args\":{%s}}", cat, t->pid, tid, ts, te - ts, args ? args : "");
	pthread_mutex_unlock(&t->lock);
}

void drv_trace_step_end(struct enpu_trace *t, uint64_t now_ns)
{
	/* every device that has reported a clock, once a step: the counter is sampled */
	pthread_mutex_lock(&t->lock);
	for (uint32_t d = 0; d < t->n_devs && d < ENPU_MAX_DEVICES; d++)
		if (t->freq_hz[d])
			freq_counter(t, d, us(t, now_ns));
	pthread_mutex_unlock(&t->lock);
}

void drv_trace_op(void *user, const struct sched_graph *g, const struct sched_op_record *r)
{
	struct enpu_trace *t = user;
	const struct sched_node *n = &g->nodes[r->node];
	const struct hal_tensor *dst = n->op.dst;
	/* the observer runs on the queue thread that ran the op (sched/graph.h) */
	const long tid = this_tid();
	const double ts = us(t, r->t_start_ns), te = us(t, r->t_end_ns);
	FILE *f;

	pthread_mutex_lock(&t->lock);
	name_thread(t, tid, t->devs[r->device]->name, " queue", r->device + 1);
	if (r->device < ENPU_MAX_DEVICES)
		t->dev_tid[r->device] = tid;
	f = ev(t);
	fprintf(f, "{\"name\":\"%s ", hal_op_name(n->op.kind));
	hal_json_escape(f, dst->name, false);
	fprintf(f, "\",\"cat\":\"op\",\"ph\":\"X\",\"pid\":%d,\"tid\":%ld,\"ts\":%.3f,"
		"\"dur\":%.3f,\"args\":{\"node\":%u,\"shape\":[%u,%u],\"device\":\"", t->pid, tid,
		ts, te - ts, r->node, dst->ne[0], dst->ne[1]);
	hal_json_escape(f, t->devs[r->device]->name, false);
	fprintf(f, "\",\"layer\":%d,\"n_tokens\":%u", n->layer, g->n_tokens);
	if (r->modeled_ns)
		fprintf(f, ",\"modeled_ns\":%" PRIu64 ",\"modeled_energy_pj\":%" PRIu64,
			r->modeled_ns, r->modeled_energy_pj);
	fputs("}}", f);

	/* an arrow from each producer on another device; both ends written now, so they pair */
	const struct trace_graph *c = graph_find(t, g);
	if (c && r->node < c->n_nodes) {
		c->t_start[r->node] = r->t_start_ns;
		for (uint32_t e = c->pred_off[r->node]; e < c->pred_off[r->node + 1]; e++) {
			const uint32_t a = c->pred[e], da = g->nodes[a].device;
			/* the producer's track: the thread its device's ops ran on */
			if (da == r->device || da >= ENPU_MAX_DEVICES || !t->dev_tid[da])
				continue;
			const uint64_t id = ++t->next_flow;
			fprintf(ev(t), "{\"name\":\"dep\",\"cat\":\"dep\",\"ph\":\"s\",\"id\":%" PRIu64
				",\"pid\":%d,\"tid\":%ld,\"ts\":%.3f}", id, t->pid, t->dev_tid[da],
				us(t, c->t_start[a]));
			fprintf(ev(t), "{\"name\":\"dep\",\"cat\":\"dep\",\"ph\":\"f\",\"bp\":\"e\","
				"\"id\":%" PRIu64 ",\"pid\":%d,\"tid\":%ld,\"ts\":%.3f}", id, t->pid,
				tid, ts);
		}
	}

	/* counters: per device, so a track per device in the viewer */
	const char *dn = t->devs[r->device]->name;
	if (r->cur_freq_hz && r->device < ENPU_MAX_DEVICES && r->cur_freq_hz != t->freq_hz[r->device]) {
		t->freq_hz[r->device] = r->cur_freq_hz;
		freq_counter(t, r->device, ts);
	}
	if (r->modeled_ns) {
		/* pJ / ns = mW */
		double w = (double)r->modeled_energy_pj / (double)r->modeled_ns / 1e3;
		for (int k = 0; k < 2; k++) {
			fprintf(ev(t), "{\"name\":\"");
			hal_json_escape(f, dn, false);
			fprintf(f, " modeled power\",\"ph\":\"C\",\"pid\":%d,\"ts\":%.3f,"
				"\"args\":{\"W\":%.6f}}", t->pid, k ? te : ts, k ? 0.0 : w);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

enpu_status drv_trace_close(enpu_context *ctx, struct enpu_trace *t)
{
	enpu_status st = ENPU_OK;
	char err[700];

	if (!t)
		return ENPU_OK;
	fputs("\n]}\n", t->f);
	/* fclose flushes through trace_write: werr is the first failed write's errno */
	bool werr = fclose(t->f) != 0 || t->werr;
	if (werr) {
		hal_file_abandon(t->fd, t->tmp); /* nothing is left under the real name */
		st = drv_ctx_fail(ctx, ENPU_ERR_IO, "enpu_session_trace_stop: writing '%s': %s", t->path,
				  strerror(t->werr ? t->werr : EIO));
	} else if (hal_file_commit(t->fd, t->tmp, t->path, err, sizeof(err))) {
		st = drv_ctx_fail(ctx, ENPU_ERR_IO, "enpu_session_trace_stop: %s", err);
	} else if (t->nomem) {
		st = drv_ctx_fail(ctx, ENPU_ERR_NO_MEMORY, "enpu_session_trace_stop: '%s' is written "
				  "but lacks dependency arrows: out of memory building a DAG", t->path);
	}
	for (int i = 0; i < 2; i++)
		graph_clear(&t->cache[i]);
	pthread_mutex_destroy(&t->lock);
	trace_free(t);
	return st;
}
