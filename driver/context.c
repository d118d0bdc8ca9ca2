/* SPDX-License-Identifier: MIT */
/* context.c - contexts: the devices a process uses and the last error message. */
#include "internal.h"
#include "hal/completion.h"
#include "hal/telemetry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *enpu_version(void)
{
	return ENPU_VERSION;
}

const char *enpu_status_name(enpu_status status)
{
	static const char *const names[] = {
		[ENPU_OK] = "ENPU_OK",
		[ENPU_ERR_INVALID_ARG] = "ENPU_ERR_INVALID_ARG",
		[ENPU_ERR_IO] = "ENPU_ERR_IO",
		[ENPU_ERR_FORMAT] = "ENPU_ERR_FORMAT",
		[ENPU_ERR_UNSUPPORTED] = "ENPU_ERR_UNSUPPORTED",
		[ENPU_ERR_NO_MEMORY] = "ENPU_ERR_NO_MEMORY",
		[ENPU_ERR_CONTEXT_FULL] = "ENPU_ERR_CONTEXT_FULL",
		[ENPU_ERR_DEVICE] = "ENPU_ERR_DEVICE",
		[ENPU_ERR_CANCELLED] = "ENPU_ERR_CANCELLED",
		[ENPU_ERR_TIMEOUT] = "ENPU_ERR_TIMEOUT",
	};

	if ((unsigned)status < sizeof(names) / sizeof(names[0]) && names[status])
		return names[status];
	return "ENPU_ERR_UNKNOWN";
}

/*
 * A failure's message goes to the context (any thread reads it) and to the failing thread's
 * own copy: when sessions of one context run in several threads, each thread reads back its
 * own failure, not the last one of any thread.
 */
static _Thread_local const enpu_context *thread_ctx;
static _Thread_local char thread_error[ENPU_ERROR_LEN];

enpu_status drv_ctx_fail(enpu_context *ctx, enpu_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(thread_error, sizeof(thread_error), fmt, ap);
	va_end(ap);
	thread_ctx = ctx;
	pthread_mutex_lock(&ctx->error_lock);
	memcpy(ctx->error, thread_error, sizeof(ctx->error));
	pthread_mutex_unlock(&ctx->error_lock);
	return st;
}

/* A call on ctx starts: this thread's message is cleared; the shared one stays. */
void drv_ctx_clear_error(enpu_context *ctx)
{
	thread_ctx = ctx;
	thread_error[0] = 0;
}

/* Messages of failures that have no context to hold them (enpu_context_create). */
static _Thread_local char create_error[ENPU_ERROR_LEN];

static enpu_status create_fail(enpu_status st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enpu_status create_fail(enpu_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(create_error, sizeof(create_error), fmt, ap);
	va_end(ap);
	return st;
}

static enpu_status open_device(enpu_context *ctx, const struct hal_backend *b,
			       const struct hal_device_options *opts)
{
	char err[256] = "";
	struct hal_device *dev = NULL;
	enum hal_status st = b->create(opts, &dev, err, sizeof(err));

	if (st != HAL_OK || !dev)
		return create_fail(st == HAL_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_DEVICE,
				   "device '%s' (%s) is not available: %s", b->name,
				   b->description, err[0] ? err : "creation failed");
	ctx->devices[ctx->n_devices++] = dev;
	return ENPU_OK;
}

static const char *device_names[ENPU_MAX_DEVICES + 2];

static void device_names_fill(void)
{
	size_t n = 0;

	for (size_t i = 0; hal_backends[i] && n < ENPU_MAX_DEVICES + 1; i++)
		device_names[n++] = hal_backends[i]->name;
}

const char *const *enpu_device_names(void)
{
	/* filled once: threads that call it first at the same time must not see it half-filled */
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, device_names_fill);
	return device_names;
}

const char *enpu_completion_method(void)
{
	return hal_completion_method();
}

static enpu_context *new_context(void)
{
	enpu_context *ctx = calloc(1, sizeof(*ctx));

	if (ctx) {
		pthread_mutex_init(&ctx->error_lock, NULL);
		pthread_mutex_init(&ctx->jobs_init_lock, NULL);
	}
	return ctx;
}

/* The devices are open: start their queues and hand ctx out (destroyed on failure). */
static enpu_status start_context(enpu_context *ctx, enpu_context **out_ctx)
{
	char err[256];

	enum sched_status st = sched_exec_create(ctx->devices, ctx->n_devices, &ctx->exec, err,
						 sizeof(err));
	if (st) {
		enpu_context_destroy(ctx);
		return create_fail(st == SCHED_ERR_NOMEM ? ENPU_ERR_NO_MEMORY : ENPU_ERR_DEVICE, "%s",
				   err);
	}
	*out_ctx = ctx;
	return ENPU_OK;
}

/*
 * Several devices: the CPU first (the fallback), then each listed one that is available here,
 * in the order given (the last prepares the matmul weights). One that is not available is
 * skipped: the scheduler places ops on what exists.
 */
static enpu_status create_many(const char *list, const struct hal_device_options *dopts,
			       enpu_context **out_ctx)
{
	const struct hal_backend *cpu = hal_backend_find("cpu");
	enpu_context *ctx = new_context();
	char name[64];

	if (!ctx)
		return create_fail(ENPU_ERR_NO_MEMORY, "out of memory creating a context");
	enpu_status st = open_device(ctx, cpu, dopts);
	for (const char *p = list; !st && *p;) {
		size_t n = strcspn(p, ",");
		const struct hal_backend *b;

		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
		p += n + (p[n] == ',');
		if (!name[0])
			continue;
		if (!(b = hal_backend_find(name))) {
			st = create_fail(ENPU_ERR_INVALID_ARG, "unknown device '%s' in '%s'", name, list);
			break;
		}
		bool have = false;
		for (uint32_t i = 0; i < ctx->n_devices; i++)
			have |= !strcmp(ctx->devices[i]->name, b->name);
		if (have)
			continue;
		if (ctx->n_devices == ENPU_MAX_DEVICES) {
			st = create_fail(ENPU_ERR_INVALID_ARG, "more than %d devices in '%s'",
					 ENPU_MAX_DEVICES, list);
			break;
		}
		if (open_device(ctx, b, dopts) == ENPU_ERR_NO_MEMORY)
			st = ENPU_ERR_NO_MEMORY;
	}
	if (st) {
		enpu_context_destroy(ctx);
		return st;
	}
	create_error[0] = 0; /* a skipped device is not an error */
	return start_context(ctx, out_ctx);
}

enpu_status enpu_context_create(const struct enpu_context_options *opts, enpu_context **out_ctx)
{
	const char *device = "cpu";
	struct hal_device_options dopts = { 0 };
	enpu_status st;

	create_error[0] = 0;
	if (!out_ctx)
		return create_fail(ENPU_ERR_INVALID_ARG, "enpu_context_create: out_ctx is NULL");
	*out_ctx = NULL;
	if (opts && opts->struct_size >= offsetof(struct enpu_context_options, device) +
						 sizeof(opts->device) && opts->device)
		device = opts->device;
	if (opts && opts->struct_size >= sizeof(struct enpu_context_options)) {
		dopts.n_threads = opts->n_threads;
		dopts.select = opts->device_select;
	}
	const char *list = NULL;
	if (opts && opts->struct_size >= offsetof(struct enpu_context_options, devices) +
						 sizeof(opts->devices))
		list = opts->devices;
	if (list)
		return create_many(list, &dopts, out_ctx);
	const struct hal_backend *want = hal_backend_find(device), *cpu = hal_backend_find("cpu");
	if (!want)
		return create_fail(ENPU_ERR_INVALID_ARG, "unknown device '%s'", device);

	enpu_context *ctx = new_context();
	if (!ctx)
		return create_fail(ENPU_ERR_NO_MEMORY, "out of memory creating a context");
	/* device 0 runs whatever the requested device cannot: the CPU, unless it runs them all */
	st = want == cpu || !(want->caps & HAL_CAP_ALL_OPS) ? open_device(ctx, cpu, &dopts) : ENPU_OK;
	if (!st && want != cpu)
		st = open_device(ctx, want, &dopts);
	if (st) {
		enpu_context_destroy(ctx);
		return st;
	}
	return start_context(ctx, out_ctx);
}

void enpu_context_destroy(enpu_context *ctx)
{
	if (!ctx)
		return;
	if (thread_ctx == ctx)
		thread_ctx = NULL; /* another context may get the same address */
	drv_jobs_destroy(ctx); /* the job thread runs no session any more: they are freed */
	sched_exec_destroy(ctx->exec); /* the queues stop before their devices go */
	for (uint32_t i = 0; i < ctx->n_devices; i++) {
		/* free the device's stats slot so npu-top stops listing a device that is gone */
		hal_telem_detach(ctx->devices[i]);
		hal_device_destroy(ctx->devices[i]);
	}
	pthread_mutex_destroy(&ctx->error_lock);
	pthread_mutex_destroy(&ctx->jobs_init_lock);
	free(ctx);
}

const char *enpu_last_error(const enpu_context *ctx)
{
	/* another thread may be writing ctx->error: this thread reads a copy taken under the lock */
	static _Thread_local char snapshot[ENPU_ERROR_LEN];

	if (!ctx)
		return create_error;
	if (thread_ctx == ctx)
		return thread_error;
	pthread_mutex_lock((pthread_mutex_t *)&ctx->error_lock);
	memcpy(snapshot, ctx->error, sizeof(snapshot));
	pthread_mutex_unlock((pthread_mutex_t *)&ctx->error_lock);
	return snapshot;
}
