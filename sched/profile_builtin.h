/* SPDX-License-Identifier: MIT */
/*
 * profile_builtin.h - the profiles of sched/profiles/ compiled into the library (generated
 * by embed_profiles.py), so that an installed program finds "phone", "mw" and "host" without
 * any file of the source tree.
 */
#ifndef EDGE_NPU_SCHED_PROFILE_BUILTIN_H
#define EDGE_NPU_SCHED_PROFILE_BUILTIN_H

struct sched_builtin_profile {
	const char *name; /* "phone": the file name without .prof */
	const char *text; /* the file's contents */
};

/* Ends with a { NULL, NULL } entry. */
extern const struct sched_builtin_profile sched_builtin_profiles[];

#endif
