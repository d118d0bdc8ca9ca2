/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/math64.h>: div64_u64 as an out-of-line helper. */
#ifndef _STUB_LINUX_MATH64_H
#define _STUB_LINUX_MATH64_H

#include <linux/types.h>

u64 div64_u64(u64 dividend, u64 divisor);

#endif
