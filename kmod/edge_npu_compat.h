/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * edge_npu_compat.h - one spelling for the kernel interfaces that differ between the kernels
 * the driver is built for (Debian 12's 6.1 and 6.12 and their stable updates).
 *
 * Each ENPU_* flag below is set by Kbuild from the declarations of the headers being built
 * against, not from LINUX_VERSION_CODE: stable kernels backport interface changes (6.1.192
 * has struct drm_sched_init_args, 6.12.118 has drm_sched_job_init()'s client id), so the
 * version number does not say which form a kernel has.
 */
#ifndef EDGE_NPU_COMPAT_H
#define EDGE_NPU_COMPAT_H

#include <drm/drm_file.h>
#include <drm/gpu_scheduler.h>

/* The lowest-priority run queue: DRM_SCHED_PRIORITY_MIN until the order was reversed (6.8). */
#ifdef ENPU_SCHED_PRIORITY_MIN
#define ENPU_SCHED_PRIORITY_LOWEST DRM_SCHED_PRIORITY_MIN
#else
#define ENPU_SCHED_PRIORITY_LOWEST DRM_SCHED_PRIORITY_LOW
#endif

/*
 * The backend op the scheduler asks, before running a job, for a fence to wait for first:
 * dependency until 6.2 renamed it prepare_job (same arguments and contract).
 */
#ifdef ENPU_SCHED_PREPARE_JOB
#define ENPU_SCHED_OP_PREPARE_JOB prepare_job
#else
#define ENPU_SCHED_OP_PREPARE_JOB dependency
#endif

/* A job takes one credit of the scheduler's limit (credit_limit = 1: one job on the ring). */
static inline int enpu_sched_job_init(struct drm_sched_job *job, struct drm_sched_entity *entity,
				      struct drm_file *file)
{
#if defined(ENPU_SCHED_JOB_CLIENT_ID)
	return drm_sched_job_init(job, entity, 1, NULL, file->client_id);
#elif defined(ENPU_SCHED_JOB_CREDITS)
	return drm_sched_job_init(job, entity, 1, NULL);
#else
	return drm_sched_job_init(job, entity, NULL);
#endif
}

/* Restarts the scheduler after a reset; the jobs it had were finished by the reset. */
static inline void enpu_sched_start(struct drm_gpu_scheduler *sched)
{
#if defined(ENPU_SCHED_START_NOARG)
	drm_sched_start(sched);
#elif defined(ENPU_SCHED_START_ERRNO)
	drm_sched_start(sched, 0);
#else
	drm_sched_start(sched, true);
#endif
}

/* Jobs handed to the hardware and not yet finished (debugfs). */
static inline int enpu_sched_hw_jobs(struct drm_gpu_scheduler *sched)
{
#ifdef ENPU_SCHED_CREDIT_COUNT
	return atomic_read(&sched->credit_count);
#else
	return atomic_read(&sched->hw_rq_count);
#endif
}

#endif /* EDGE_NPU_COMPAT_H */
