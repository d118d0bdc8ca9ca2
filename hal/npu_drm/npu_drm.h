/* SPDX-License-Identifier: MIT */
/*
 * npu_drm.h - the NPU through the kernel driver ("npu-drm" backend): kmod/edge_npu.ko's
 * render/accel node, over libdrm.
 *
 * Same op coverage and numerics as the in-process "npu" device (hal/npu/npu_sim.h): MATMUL
 * with Q8_0/Q4_0 weights, activations quantized to Q8B on the host and I32B results
 * dequantized, the same shared engine executing the same stream - so results are
 * bit-identical; only where the engine runs differs (the kernel's scheduler, on the job's GEM
 * buffers). Weights live in GEM BOs, converted once at load; activations, outputs and the
 * command stream in reused BOs; each op is one job on the device's context, whose syncobj's
 * fence is waited for as a sync_file on the process's completion ring (hal/completion.h). Modeled time and energy come from the context's counters
 * (DRM_IOCTL_EDGE_NPU_CTX_QUERY).
 *
 * Device choice (hal_device_options.select): NULL/"" = the first edge_npu node, "N" = the N-th,
 * or a path ("/dev/dri/renderD129", "/dev/accel/accel0").
 */
#ifndef EDGE_NPU_NPU_DRM_H
#define EDGE_NPU_NPU_DRM_H

#include <stdint.h>

#include "hal/hal.h"

/* The registry entry (hal/backends.c). */
extern const struct hal_backend hal_backend_npu_drm;

/*
 * Opens the index-th edge_npu node among /dev/accel/accel* and /dev/dri/renderD* (found by
 * driver name); path gets its name. Returns the fd (O_RDWR | O_CLOEXEC) or -errno (-ENODEV
 * when there is none).
 */
int npu_drm_open_node(uint32_t index, char *path, size_t path_len);

/* PRIME: the dma-buf fd of a BO handle of dev (caller closes it), or -errno. */
int npu_drm_export(struct hal_device *dev, uint32_t handle);
/* PRIME: imports a dma-buf fd into dev; *out_handle is a BO handle of dev. Returns 0/-errno. */
int npu_drm_import(struct hal_device *dev, int dmabuf_fd, uint32_t *out_handle);
/* The DRM fd of dev (for syncobjs, poll on exported sync files, fdinfo). */
int npu_drm_fd(struct hal_device *dev);

/*
 * Waits up to timeout_ms for the fence in syncobj sync of DRM fd: exported as a sync_file and
 * waited for on the process's completion ring (hal/completion.h), or, where the export fails,
 * with the syncobj wait ioctl. How the backend waits for each job (and npu-bench npu, so that
 * it times the same path). Returns 0, or -1 with errno set (ETIME on timeout).
 */
int npu_drm_wait_syncobj(int fd, uint32_t sync, int timeout_ms);

#endif
