/* SPDX-License-Identifier: MIT */
/* context.c - contexts: the devices a process uses and the last error message. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	};

	if ((unsigned)status < sizeof(names) / sizeof(names[0]) && names[status])
		return names[status];
	return "ENPU_ERR_UNKNOWN";
}

enpu_status ctx_fail(enpu_context *ctx, enpu_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	va_end(ap);
	return st;
}

void ctx_clear_error(enpu_context *ctx)
{
	ctx->error[0] = 0;
}

enpu_status enpu_context_create(const struct enpu_context_options *opts, enpu_context **out_ctx)
{
	const char *device = NULL;

	if (!out_ctx)
		return ENPU_ERR_INVALID_ARG;
	*out_ctx = NULL;
	if (opts && opts->struct_size >= offsetof(struct enpu_context_options, device) +
						 sizeof(opts->device))
		device = opts->device;
	/* v0 has one backend; other names are refused rather than silently ignored */
	if (device && strcmp(device, "cpu") != 0)
		return ENPU_ERR_INVALID_ARG;

	enpu_context *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return ENPU_ERR_NO_MEMORY;
	if (hal_cpu_ref_create(&ctx->devices[0]) != HAL_OK) {
		free(ctx);
		return ENPU_ERR_NO_MEMORY;
	}
	ctx->n_devices = 1;
	*out_ctx = ctx;
	return ENPU_OK;
}

void enpu_context_destroy(enpu_context *ctx)
{
	if (!ctx)
		return;
	for (uint32_t i = 0; i < ctx->n_devices; i++)
		hal_device_destroy(ctx->devices[i]);
	free(ctx);
}

const char *enpu_last_error(const enpu_context *ctx)
{
	return ctx ? ctx->error : "no context";
}
