/* SPDX-License-Identifier: MIT */
/*
 * rundir.c - the runtime directory candidates and their safe creation. See rundir.h.
 */
#include "hal/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* $ENPU_SYSFS_DIR, or NULL when it is unset or empty. */
static const char *sysfs_dir_env(void)
{
	const char *over = getenv("ENPU_SYSFS_DIR");

	return over && *over ? over : NULL;
}

int hal_rundir_bases(char out[][HAL_RUNDIR_PATH_MAX], int max)
{
	const char *over = sysfs_dir_env(), *xdg = getenv("XDG_RUNTIME_DIR");
	int n = 0;

	if (max < 1)
		return 0;
	if (over)
		snprintf(out[n++], HAL_RUNDIR_PATH_MAX, "%s", over);
	else if (xdg && xdg[0] == '/') /* the XDG spec: a relative path is ignored */
		snprintf(out[n++], HAL_RUNDIR_PATH_MAX, "%s/edge-npu", xdg);
	if (n < max)
		snprintf(out[n++], HAL_RUNDIR_PATH_MAX, "/tmp/edge-npu-%ld", (long)getuid());
	return n;
}

bool hal_rundir_explicit(void)
{
	return sysfs_dir_env() != NULL;
}

int hal_rundir_mkdirs(const char *path)
{
	char tmp[HAL_RUNDIR_PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}

/* lstat, not stat: in the shared /tmp a symlink to a directory of ours is still refused. */
bool hal_rundir_ours(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISDIR(st.st_mode) && st.st_uid == getuid();
}

bool hal_rundir_readable(const char *base)
{
	struct stat sb;

	return lstat(base, &sb) ? errno == ENOENT : hal_rundir_ours(base);
}
