/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the kernel's <linux/types.h> used by tests/npu_kernel_subset.sh: typedefs
 * only, so that kmod/silicon/npu_engine.c compiles with -nostdinc -D__KERNEL__ and any use of libc
 * or of a kernel facility the engine does not declare breaks the build.
 */
#ifndef _STUB_LINUX_TYPES_H
#define _STUB_LINUX_TYPES_H

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;

typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;

typedef __SIZE_TYPE__ size_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef _Bool bool;

#define NULL ((void *)0)

#endif
