/* SPDX-License-Identifier: MIT */
/*
 * backends.c - the registry of compiled-in backends. A new backend adds one line here; the
 * core never #ifdefs on a backend, and one that is not available at run time says so through
 * its create() error.
 */
#include <string.h>

#include "hal.h"
#include "npu/npu_sim.h"
#include "opencl/opencl.h"

static enum hal_status cpu_ref_create(const struct hal_device_options *opts,
				      struct hal_device **out, char *err, size_t len)
{
	(void)opts;
	(void)err;
	(void)len;
	return hal_cpu_ref_create(out);
}

static const struct hal_backend cpu_ref = {
	.name = "cpu-ref",
	.description = "reference CPU backend: plain C, single thread, the oracle",
	.cls = HAL_CLASS_CPU,
	.caps = HAL_CAP_ALL_OPS,
	.create = cpu_ref_create,
};

extern const struct hal_backend hal_backend_cpu_fast; /* hal/cpu/cpu_fast.c */
extern const struct hal_backend hal_npu_drm_backend; /* hal/npu_drm/npu_drm.c */
const struct hal_backend *const hal_backends[] = {
	&hal_backend_cpu_fast,
	&cpu_ref,
	&hal_opencl_backend,
	&hal_npu_sim_backend,
	&hal_npu_drm_backend,
	NULL,
};

const struct hal_backend *hal_backend_find(const char *name)
{
	for (size_t i = 0; hal_backends[i]; i++)
		if (!strcmp(hal_backends[i]->name, name))
			return hal_backends[i];
	return NULL;
}

