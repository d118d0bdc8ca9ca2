/* SPDX-License-Identifier: MIT */
/*
 * backends.c - the registry of compiled-in backends. A new backend adds one line here; the
 * core never #ifdefs on a backend, and one that is not available at run time says so through
 * its create() error.
 */
#include <string.h>

#include "hal.h"
#include "cpu/cpu_fast.h"
#include "npu/npu_sim.h"
#include "npu_drm/npu_drm.h"
#include "opencl/opencl.h"

/*
 * Each entry is hal_backend_<name>, defined beside its device and declared in its backend's
 * header (hal_backend_cpu_ref, part of the core, in hal.h).
 */
const struct hal_backend *const hal_backends[] = {
	&hal_backend_cpu_fast,
	&hal_backend_cpu_ref,
	&hal_backend_opencl,
	&hal_backend_npu_sim,
	&hal_backend_npu_drm,
	NULL,
};

const struct hal_backend *hal_backend_find(const char *name)
{
	for (size_t i = 0; hal_backends[i]; i++)
		if (!strcmp(hal_backends[i]->name, name))
			return hal_backends[i];
	return NULL;
}

