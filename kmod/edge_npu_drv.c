// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_drv.c - module, platform devices, DRM driver, file and context ioctls.
 *
 * The module creates num_devices platform devices named "edge-npu" (there is no hardware: the
 * NPU is the simulated silicon of silicon/, a device model behind registers that
 * edge_npu_platform.c hosts on kernel threads) and binds its platform driver to them; each probe registers a DRM device: an accel node where the kernel has
 * CONFIG_DRM_ACCEL, a render node otherwise.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/platform_device.h>
#include <linux/dma-mapping.h>
#include <linux/pm_runtime.h>
#include <linux/capability.h>
#include <linux/slab.h>
#include <drm/drm_drv.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_gem.h>
#include <drm/drm_prime.h>
#include <drm/drm_managed.h>
#if IS_ENABLED(CONFIG_DRM_ACCEL)
#include <drm/drm_accel.h>
#endif

#include "edge_npu_drv.h"

static unsigned int num_devices = 1;
module_param(num_devices, uint, 0444);
MODULE_PARM_DESC(num_devices, "NPU devices to create (1-8, default 1)");

unsigned int enpu_num_engines = 2;
module_param_named(num_engines, enpu_num_engines, uint, 0444);
MODULE_PARM_DESC(num_engines, "engines (scheduler queues) per device (1-4, default 2)");

unsigned int enpu_job_timeout_ms = 500;
module_param_named(job_timeout_ms, enpu_job_timeout_ms, uint, 0444);
MODULE_PARM_DESC(job_timeout_ms, "a job running longer is reset with -ETIMEDOUT (default 500)");

bool enpu_debug_stall;
module_param_named(debug_stall, enpu_debug_stall, bool, 0444);
MODULE_PARM_DESC(debug_stall, "accept the ENPU_OP_DEBUG_STALL hang opcode (tests; default 0)");

/*
 * Tests only: the timeout handler sleeps this long before it stops the scheduler, widening
 * the window in which the timed-out job ends anyway and the scheduler starts the next one on
 * its credit (the kernel suite's "late" test; edge_npu_job.c, enpu_sched_reattach()).
 */
unsigned int enpu_debug_tdr_delay_ms;
module_param_named(debug_tdr_delay_ms, enpu_debug_tdr_delay_ms, uint, 0644);
MODULE_PARM_DESC(debug_tdr_delay_ms,
		 "the job timeout handler waits this long (at most 1000) before it stops the engine's queue (tests; default 0)");

/*
 * Tests only: each job's free waits this long first, so that it comes after its file was
 * closed and its device unbound (the kernel suite's "unbind, late free" test).
 */
unsigned int enpu_debug_free_delay_ms;
module_param_named(debug_free_delay_ms, enpu_debug_free_delay_ms, uint, 0644);
MODULE_PARM_DESC(debug_free_delay_ms,
		 "each job's free waits this long (at most 30000) first (tests; default 0)");

unsigned int enpu_autosuspend_ms = 100;
module_param_named(autosuspend_ms, enpu_autosuspend_ms, uint, 0444);
MODULE_PARM_DESC(autosuspend_ms, "runtime PM autosuspend delay (default 100)");

/*
 * Per-file limits, so that one client cannot exhaust the device (mmap-offset space, contexts,
 * kernel memory) for the others: past a limit the ioctl fails with -ENOSPC. Writable at run
 * time; a new value applies to later allocations, not to what a file already holds.
 */
unsigned int enpu_max_ctxs_per_file = 256;
module_param_named(max_ctxs_per_file, enpu_max_ctxs_per_file, uint, 0644);
MODULE_PARM_DESC(max_ctxs_per_file, "contexts one open file may hold (default 256)");

unsigned int enpu_max_bos_per_file = 16384;
module_param_named(max_bos_per_file, enpu_max_bos_per_file, uint, 0644);
MODULE_PARM_DESC(max_bos_per_file,
		 "BOs one open file may be charged for, and GEM handles it may hold (default 16384)");

unsigned long long enpu_max_bo_bytes_per_file = 16ull << 30;
module_param_named(max_bo_bytes_per_file, enpu_max_bo_bytes_per_file, ullong, 0644);
MODULE_PARM_DESC(max_bo_bytes_per_file,
		 "bytes of the BOs one open file may be charged for (default 16 GiB)");

/*
 * Jobs are bounded too: each holds kernel memory (a copy of its stream, up to
 * ENPU_MAX_STREAM_BYTES, its BO list and fences) until the scheduler frees it, and a client
 * that submits behind a job that never finishes would otherwise queue without end.
 */
unsigned int enpu_max_jobs_per_file = 4096;
module_param_named(max_jobs_per_file, enpu_max_jobs_per_file, uint, 0644);
MODULE_PARM_DESC(max_jobs_per_file,
		 "jobs one open file may have submitted and not yet freed (default 4096)");

/*
 * Simulation only: each job completes no earlier than its modeled duration at the operating
 * point it runs at, times this factor (the silicon's SIM_PACE register): 0 off (host speed,
 * the default, so tests run fast), 1 real time, N a device slowed N times (the host computes
 * most jobs more slowly than the modeled silicon would, so at 1 only small jobs are held).
 * Then a lower clock shows in wall time, busy time and fdinfo as in the modeled figures.
 * Writable at run time, applied to jobs posted after the write. The paced time counts towards
 * job_timeout_ms, as a slow job on silicon would.
 */
unsigned int enpu_pace;
module_param_named(pace, enpu_pace, uint, 0644);
MODULE_PARM_DESC(pace, "jobs last N times their modeled time at the current clock (0 off)");

#ifndef ENPU_DRM_SHOW_FDINFO /* later kernels number files themselves (drm_file.client_id) */
static atomic64_t enpu_next_client_id = ATOMIC64_INIT(0);
#endif

/* ---- contexts ---------------------------------------------------------------------------- */

static void enpu_file_release(struct kref *ref)
{
	struct enpu_file *efile = container_of(ref, struct enpu_file, ref);

	atomic_dec(&efile->edev->live_files);
	xa_destroy(&efile->ctxs);
	/* every handle, mapping and created BO that kept anything was undone first */
	if (!xa_empty(&efile->kept))
		drm_warn_once(&efile->edev->drm, "a file released while charged for BOs\n");
	xa_destroy(&efile->kept);
	mutex_destroy(&efile->keep_lock);
	kfree(efile);
}

/* Drops a reference of the file's: its drm_file's, a context's or a created BO's. */
void enpu_file_put(struct enpu_file *efile)
{
	kref_put(&efile->ref, enpu_file_release);
}

static void enpu_ctx_release(struct kref *ref)
{
	struct enpu_ctx *ctx = container_of(ref, struct enpu_ctx, ref);

	enpu_vm_destroy(ctx->vm); /* no job is left: each held a reference */
	atomic_dec(&ctx->efile->edev->live_ctxs);
	enpu_file_put(ctx->efile);
	mutex_destroy(&ctx->submit_lock);
	kfree(ctx);
}

void enpu_ctx_put(struct enpu_ctx *ctx)
{
	kref_put(&ctx->ref, enpu_ctx_release);
}

/**
 * enpu_ctx_lookup() - the context of a handle, with a reference.
 * @efile: the file.
 * @handle: the handle.
 *
 * Return: the context, or NULL if @handle names none.
 */
struct enpu_ctx *enpu_ctx_lookup(struct enpu_file *efile, u32 handle)
{
	struct enpu_ctx *ctx;

	xa_lock(&efile->ctxs);
	ctx = xa_load(&efile->ctxs, handle);
	if (ctx)
		kref_get(&ctx->ref);
	xa_unlock(&efile->ctxs);
	return ctx;
}

static void enpu_ctx_destroy(struct enpu_ctx *ctx)
{
	/*
	 * A SUBMIT that looked the context up before its handle was erased may still be on its
	 * way to the push; 6.1's push would put the job on the destroyed entity (re-adding it to
	 * the run queue after the context is freed). Mark the context dead under the lock SUBMIT
	 * holds from job init to push: after this, SUBMIT either has pushed (and the destroy
	 * below flushes the job) or fails with -ENOENT.
	 */
	mutex_lock(&ctx->submit_lock);
	ctx->dead = true;
	mutex_unlock(&ctx->submit_lock);
	/* Waits (bounded) for queued jobs to reach the hardware; running jobs keep ctx alive. */
	drm_sched_entity_destroy(&ctx->entity);
	enpu_vm_unmap_user(ctx->vm);
	atomic_dec(&ctx->efile->num_ctxs);
	enpu_ctx_put(ctx);
}

static int enpu_ioctl_ctx_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	static const enum drm_sched_priority prio[] = {
		[DRM_EDGE_NPU_PRIORITY_LOW] = ENPU_SCHED_PRIORITY_LOWEST,
		[DRM_EDGE_NPU_PRIORITY_NORMAL] = DRM_SCHED_PRIORITY_NORMAL,
		[DRM_EDGE_NPU_PRIORITY_HIGH] = DRM_SCHED_PRIORITY_HIGH,
	};
	struct enpu_device *edev = to_enpu(drm);
	struct enpu_file *efile = file->driver_priv;
	struct drm_edge_npu_ctx_create *args = data;
	struct enpu_ctx *ctx;
	u32 handle;
	int ret;

	if (args->flags || args->reserved)
		return -EINVAL;
	if (args->priority >= ARRAY_SIZE(prio))
		return -EINVAL;
	if (args->priority == DRM_EDGE_NPU_PRIORITY_HIGH && !capable(CAP_SYS_NICE))
		return -EACCES;
	if (atomic_inc_return(&efile->num_ctxs) > READ_ONCE(enpu_max_ctxs_per_file)) {
		atomic_dec(&efile->num_ctxs);
		return -ENOSPC;
	}

	/* Charged to the caller's memory cgroup: a client pays for the contexts it holds. */
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx) {
		atomic_dec(&efile->num_ctxs);
		return -ENOMEM;
	}
	kref_init(&ctx->ref);
	ctx->priority = args->priority;
	mutex_init(&ctx->submit_lock);
	spin_lock_init(&ctx->lock);
	ret = enpu_vm_create(edev, &ctx->vm);
	if (!ret)
		ret = drm_sched_entity_init(&ctx->entity, prio[args->priority], edev->scheds,
					    edev->num_engines, NULL);
	if (ret) {
		enpu_vm_destroy(ctx->vm);
		mutex_destroy(&ctx->submit_lock);
		kfree(ctx);
		atomic_dec(&efile->num_ctxs);
		return ret;
	}
	kref_get(&efile->ref);
	ctx->efile = efile;
	atomic_inc(&edev->live_ctxs);

	/*
	 * From 1 by the limit, not only by XA_FLAGS_ALLOC1: erasing index 0 (CTX_DESTROY of
	 * handle 0, which fails) marks it free, and the next context got handle 0, which the
	 * UAPI promises never to return.
	 */
	ret = xa_alloc(&efile->ctxs, &handle, ctx, XA_LIMIT(1, U32_MAX), GFP_KERNEL_ACCOUNT);
	if (ret) {
		enpu_ctx_destroy(ctx);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	args->handle = handle;
	return 0;
}

static int enpu_ioctl_ctx_destroy(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;
	struct drm_edge_npu_ctx_destroy *args = data;
	struct enpu_ctx *ctx;

	if (args->reserved)
		return -EINVAL;
	ctx = xa_erase(&efile->ctxs, args->handle);
	if (!ctx)
		return -ENOENT;
	enpu_ctx_destroy(ctx);
	return 0;
}

static int enpu_ioctl_ctx_query(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;
	struct drm_edge_npu_ctx_query *args = data;
	struct enpu_ctx *ctx;
	u32 handle = args->handle;

	if (args->reserved || args->state || args->fault_addr || args->fault_status ||
	    args->reserved2)
		return -EINVAL;
	ctx = enpu_ctx_lookup(efile, handle);
	if (!ctx)
		return -ENOENT;
	spin_lock(&ctx->lock);
	*args = ctx->stats;
	spin_unlock(&ctx->lock);
	args->handle = handle;
	args->reserved = 0;
	args->state = READ_ONCE(ctx->guilty) ? DRM_EDGE_NPU_CTX_GUILTY : 0;
	args->reserved2 = 0;
	args->priority = ctx->priority;
	enpu_ctx_put(ctx);
	return 0;
}

/* ---- device parameters ------------------------------------------------------------------- */

static int enpu_ioctl_get_param(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct enpu_device *edev = to_enpu(drm);
	struct enpu_silicon *hw = edev->queues[0]->hw;
	struct drm_edge_npu_get_param *args = data;
	bool indexed = args->param == DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ ||
		       args->param == DRM_EDGE_NPU_PARAM_OPP_VOLT_UV;

	if (indexed ? args->index >= NPU_NUM_OPPS : args->index != 0)
		return -EINVAL;

	switch (args->param) {
	case DRM_EDGE_NPU_PARAM_ISA_VERSION:
		args->value = ENPU_ISA_VERSION;
		break;
	case DRM_EDGE_NPU_PARAM_NUM_ENGINES:
		args->value = edev->num_engines;
		break;
	case DRM_EDGE_NPU_PARAM_SRAM_BYTES:
		args->value = (u64)enpu_reg_read(hw, NPU_REG_SRAM_KIB) << 10;
		break;
	case DRM_EDGE_NPU_PARAM_MAC_ROWS:
		args->value = enpu_reg_read(hw, NPU_REG_MAC_ARRAY) >> 16;
		break;
	case DRM_EDGE_NPU_PARAM_MAC_COLS:
		args->value = enpu_reg_read(hw, NPU_REG_MAC_ARRAY) & 0xffff;
		break;
	case DRM_EDGE_NPU_PARAM_NUM_OPPS:
		args->value = NPU_NUM_OPPS;
		break;
	case DRM_EDGE_NPU_PARAM_OPP_FREQ_HZ:
		args->value = (u64)npu_opp_table[args->index].freq_mhz * 1000000;
		break;
	case DRM_EDGE_NPU_PARAM_OPP_VOLT_UV:
		args->value = (u64)npu_opp_table[args->index].volt_mv * 1000;
		break;
	case DRM_EDGE_NPU_PARAM_CAPABILITIES:
		args->value = DRM_EDGE_NPU_CAP_PRIME | DRM_EDGE_NPU_CAP_VM_BIND |
			      DRM_EDGE_NPU_CAP_SUBMIT_FREQ;
		if (enpu_debug_stall)
			args->value |= DRM_EDGE_NPU_CAP_DEBUG_STALL;
		if (edev->pm.devfreq)
			args->value |= DRM_EDGE_NPU_CAP_DEVFREQ;
		break;
	case DRM_EDGE_NPU_PARAM_MAX_STREAM_BYTES:
		args->value = ENPU_MAX_STREAM_BYTES;
		break;
	case DRM_EDGE_NPU_PARAM_MAX_BOS:
		args->value = DRM_EDGE_NPU_MAX_BOS;
		break;
	case DRM_EDGE_NPU_PARAM_CUR_FREQ_HZ:
		args->value = (u64)enpu_pm_cur_freq_mhz(edev) * 1000000;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

static int enpu_open(struct drm_device *drm, struct drm_file *file)
{
	struct enpu_file *efile;

	efile = kzalloc(sizeof(*efile), GFP_KERNEL_ACCOUNT);
	if (!efile)
		return -ENOMEM;
	kref_init(&efile->ref);
	efile->edev = to_enpu(drm);
	atomic_inc(&efile->edev->live_files);
#ifdef ENPU_DRM_SHOW_FDINFO
	efile->client_id = file->client_id; /* the id drm_show_fdinfo() prints */
#else
	efile->client_id = atomic64_inc_return(&enpu_next_client_id);
#endif
	xa_init_flags(&efile->ctxs, XA_FLAGS_ALLOC1);
	mutex_init(&efile->keep_lock);
	xa_init(&efile->kept);
	file->driver_priv = efile;
	return 0;
}

static void enpu_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct enpu_file *efile = file->driver_priv;
	struct enpu_ctx *ctx;
	unsigned long handle;

	xa_for_each(&efile->ctxs, handle, ctx) {
		xa_erase(&efile->ctxs, handle);
		enpu_ctx_destroy(ctx);
	}
	enpu_file_put(efile);
}

static const struct drm_ioctl_desc enpu_ioctls[] = {
#define ENPU_IOCTL(n, f) DRM_IOCTL_DEF_DRV(EDGE_NPU_##n, f, DRM_RENDER_ALLOW)
	ENPU_IOCTL(GET_PARAM, enpu_ioctl_get_param),
	ENPU_IOCTL(BO_CREATE, enpu_ioctl_bo_create),
	ENPU_IOCTL(BO_MMAP_OFFSET, enpu_ioctl_bo_mmap_offset),
	ENPU_IOCTL(BO_WAIT, enpu_ioctl_bo_wait),
	ENPU_IOCTL(CTX_CREATE, enpu_ioctl_ctx_create),
	ENPU_IOCTL(CTX_DESTROY, enpu_ioctl_ctx_destroy),
	ENPU_IOCTL(SUBMIT, enpu_ioctl_submit),
	ENPU_IOCTL(CTX_QUERY, enpu_ioctl_ctx_query),
	ENPU_IOCTL(VM_BIND, enpu_ioctl_vm_bind),
#undef ENPU_IOCTL
};

static const struct file_operations enpu_fops = {
	.owner = THIS_MODULE,
#if IS_ENABLED(CONFIG_DRM_ACCEL)
	DRM_ACCEL_FOPS,
#else
	DRM_GEM_FOPS,
#endif
#ifdef ENPU_DRM_SHOW_FDINFO
	.show_fdinfo = drm_show_fdinfo, /* drm-driver, drm-client-id, then enpu_fdinfo_keys() */
#else
	.show_fdinfo = enpu_show_fdinfo,
#endif
};

static const struct drm_driver enpu_drm_driver = {
#if IS_ENABLED(CONFIG_DRM_ACCEL)
	.driver_features = DRIVER_COMPUTE_ACCEL | DRIVER_GEM | DRIVER_SYNCOBJ,
#else
	.driver_features = DRIVER_RENDER | DRIVER_GEM | DRIVER_SYNCOBJ,
#endif
	.open = enpu_open,
	.postclose = enpu_postclose,
	.ioctls = enpu_ioctls,
	.num_ioctls = ARRAY_SIZE(enpu_ioctls),
	.fops = &enpu_fops,
#ifdef ENPU_DRM_SHOW_FDINFO
	.show_fdinfo = enpu_fdinfo_keys,
#endif
	.gem_create_object = enpu_gem_create_object,
	.prime_handle_to_fd = drm_gem_prime_handle_to_fd,
	.prime_fd_to_handle = drm_gem_prime_fd_to_handle,
	.gem_prime_import_sg_table = enpu_gem_prime_import_sg_table,
#ifdef ENPU_DRM_GEM_PRIME_MMAP /* later kernels map dma-bufs through GEM without being asked */
	.gem_prime_mmap = drm_gem_prime_mmap,
#endif
	.debugfs_init = enpu_debugfs_init,
	.name = ENPU_DRIVER_NAME,
	.desc = "edge-npu simulated NPU",
	.date = "20250101",
	.major = 1,
	.minor = 0,
};

/* ---- platform driver --------------------------------------------------------------------- */

/* The last reference to the DRM device is gone: no file, job or dma-buf uses it any more. */
static void enpu_drm_release(struct drm_device *drm, void *data)
{
	struct enpu_device *edev = data;
	int live;

	enpu_queues_fini(edev);
	live = atomic_read(&edev->bo_count);
	if (live)
		dev_err(drm->dev, "removed with %d BOs live\n", live);
	else
		dev_info(drm->dev, "removed, 0 BOs live\n");
	if (atomic_read(&edev->live_files) || atomic_read(&edev->live_ctxs) ||
	    atomic_read(&edev->live_jobs))
		dev_err(drm->dev, "removed with objects live: %d files, %d contexts, %d jobs\n",
			atomic_read(&edev->live_files), atomic_read(&edev->live_ctxs),
			atomic_read(&edev->live_jobs));
}

static int enpu_probe(struct platform_device *pdev)
{
	struct enpu_device *edev;
	int ret;

	if (enpu_num_engines < 1 || enpu_num_engines > ENPU_MAX_ENGINES) {
		dev_err(&pdev->dev, "num_engines must be 1..%d\n", ENPU_MAX_ENGINES);
		return -EINVAL;
	}
	ret = dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;

	edev = devm_drm_dev_alloc(&pdev->dev, &enpu_drm_driver, struct enpu_device, drm);
	if (IS_ERR(edev))
		return PTR_ERR(edev);
	platform_set_drvdata(pdev, edev);
	mutex_init(&edev->sched_lock);
	edev->num_engines = enpu_num_engines;
	edev->index = pdev->id < 0 ? 0 : pdev->id;

	ret = enpu_queues_init(edev);
	if (ret)
		return ret;
	/*
	 * The schedulers live as long as the DRM device, not the binding: files still open after
	 * an unbind destroy their contexts' entities in postclose, on these schedulers.
	 */
	ret = drmm_add_action_or_reset(&edev->drm, enpu_drm_release, edev);
	if (ret)
		return ret;
	ret = enpu_pm_init(edev);
	if (ret)
		return ret;
	ret = enpu_thermal_init(edev);
	if (ret)
		goto err_pm;
	ret = drm_dev_register(&edev->drm, 0);
	if (ret)
		goto err_thermal;
	enpu_debugfs_register(edev);
	ret = enpu_genl_add_device(edev);
	if (ret) {
		drm_dev_unregister(&edev->drm);
		goto err_thermal;
	}
	dev_info(&pdev->dev, "%u engines, %s node, debug_stall %d, timeout %u ms\n",
		 edev->num_engines, IS_ENABLED(CONFIG_DRM_ACCEL) ? "accel" : "render",
		 enpu_debug_stall, enpu_job_timeout_ms);
	return 0;

err_thermal:
	enpu_thermal_fini(edev);
err_pm:
	enpu_pm_fini(edev);
	return ret;
}

/*
 * Unbind (or module removal): files may stay open. Unplugging first makes every ioctl and
 * every later job start fail with -ENODEV (they run inside drm_dev_enter()); the jobs already
 * running finish (a hung one at its timeout) before runtime PM and devfreq, which they use,
 * go away. The schedulers stay until the last file is closed and the last job freed
 * (enpu_drm_release()).
 */
static void enpu_remove(struct platform_device *pdev)
{
	struct enpu_device *edev = platform_get_drvdata(pdev);

	enpu_genl_remove_device(edev);
	drm_dev_unplug(&edev->drm);
	enpu_queues_drain(edev);
	enpu_thermal_fini(edev);
	enpu_pm_fini(edev);
}

static struct platform_driver enpu_platform_driver = {
	.probe = enpu_probe,
#ifdef ENPU_PLATFORM_REMOVE_VOID
	.remove = enpu_remove,
#else
	.remove_new = enpu_remove,
#endif
	.driver = {
		.name = ENPU_PDEV_NAME,
		.pm = &enpu_pm_ops,
		.dev_groups = enpu_dev_groups,
	},
};

#define ENPU_MAX_DEVICES 8
static struct platform_device *enpu_pdevs[ENPU_MAX_DEVICES];

static void enpu_destroy_devices(void)
{
	int i;

	for (i = ENPU_MAX_DEVICES - 1; i >= 0; i--) {
		if (enpu_pdevs[i])
			platform_device_unregister(enpu_pdevs[i]);
		enpu_pdevs[i] = NULL;
	}
}

static int __init enpu_init(void)
{
	unsigned int i;
	int ret;

	if (num_devices < 1 || num_devices > ENPU_MAX_DEVICES) {
		pr_err("edge_npu: num_devices must be 1..%d\n", ENPU_MAX_DEVICES);
		return -EINVAL;
	}
	ret = enpu_jobs_module_init();
	if (ret)
		return ret;
	ret = enpu_genl_init();
	if (ret)
		goto err_jobs;
	ret = platform_driver_register(&enpu_platform_driver);
	if (ret) {
		enpu_genl_exit();
		goto err_jobs;
	}
	for (i = 0; i < num_devices; i++) {
		struct platform_device *pdev;

		pdev = platform_device_register_simple(ENPU_PDEV_NAME, i, NULL, 0);
		if (IS_ERR(pdev)) {
			ret = PTR_ERR(pdev);
			goto err;
		}
		enpu_pdevs[i] = pdev;
		if (!platform_get_drvdata(pdev)) {
			ret = -ENODEV; /* probe failed; it said why */
			goto err;
		}
	}
	return 0;

err:
	platform_driver_unregister(&enpu_platform_driver);
	enpu_destroy_devices();
	enpu_genl_exit();
err_jobs:
	enpu_jobs_module_exit();
	return ret;
}

/*
 * The driver goes first, so that each device is unbound while still registered: deleting a
 * bound platform device destroys its PM QoS constraints (dpm_sysfs_remove) before the driver's
 * remove runs, and the devfreq cooling device's max-frequency request would go with them.
 */
static void __exit enpu_exit(void)
{
	platform_driver_unregister(&enpu_platform_driver);
	enpu_destroy_devices();
	enpu_genl_exit();
	enpu_jobs_module_exit();
	pr_info("edge_npu: unloaded\n");
}

module_init(enpu_init);
module_exit(enpu_exit);

MODULE_AUTHOR("edge-npu developers");
MODULE_DESCRIPTION("DRM driver for the simulated edge-npu NPU");
MODULE_LICENSE("Dual MIT/GPL");
MODULE_IMPORT_NS(DMA_BUF);
MODULE_SOFTDEP("pre: governor_simpleondemand");
