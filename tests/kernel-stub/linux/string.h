/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/string.h>: the two functions the NPU engine may use. */
#ifndef _STUB_LINUX_STRING_H
#define _STUB_LINUX_STRING_H

#include <linux/types.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
