/* SPDX-License-Identifier: MIT */
/*
 * rundir.h - where edge-npu's runtime files live, and how a directory there is made safely.
 *
 * A process that runs a device in process publishes files for other processes (npu-top, admin
 * scripts): the in-process NPU's devfreq-shaped directories <base>/devfreq/npu<N> (npu_sim.h)
 * and the per-process statistics files <base>/procs/<pid>.stats (telemetry.h). <base> is one of
 * two candidates, tried in this order:
 *
 *   1. $ENPU_SYSFS_DIR when set and not empty, else $XDG_RUNTIME_DIR/edge-npu (when that is
 *      set and not empty; otherwise there is no first candidate);
 *   2. /tmp/edge-npu-<uid>, where a writer falls back when the first is not writable.
 *
 * The second lives in a directory every user may write to: a writer creates it itself
 * (hal_rundir_mkdirs) and uses it only when hal_rundir_ours() holds, so that a directory
 * someone else made there, or a symlink planted in its place, is never written into.
 * ENPU_SYSFS_DIR is read here and nowhere else.
 */
#ifndef EDGE_NPU_HAL_RUNDIR_H
#define EDGE_NPU_HAL_RUNDIR_H

#include <stdbool.h>

#define HAL_RUNDIR_PATH_MAX 512

/*
 * Fills out[] with the candidate directories in the order above, each cut to
 * HAL_RUNDIR_PATH_MAX - 1 characters. Returns how many were filled (0 when max < 1, else 1 or
 * 2); the directories may not exist.
 */
int hal_rundir_bases(char out[][HAL_RUNDIR_PATH_MAX], int max);

/*
 * Whether ENPU_SYSFS_DIR names the runtime directory: a reader then looks there only (a
 * private runtime, as the tests use), never in the shared fallback.
 */
bool hal_rundir_explicit(void);

/*
 * mkdir -p path, mode 0700 for every directory it creates; an existing one is fine. 0, or -1
 * with errno (a path of HAL_RUNDIR_PATH_MAX characters or more fails without errno).
 */
int hal_rundir_mkdirs(const char *path);

/* Whether path is a directory (not a symlink to one) owned by this process's user. */
bool hal_rundir_ours(const char *path);

/*
 * For readers: whether candidate base may be read: it does not exist (nothing to read) or it
 * is ours. Another user's directory (or a symlink) at the shared fallback is skipped, so that
 * nobody can make a reader list their files as devices or stall it on their locks.
 */
bool hal_rundir_readable(const char *base);

#endif
