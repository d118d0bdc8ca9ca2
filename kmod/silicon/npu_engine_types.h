/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * npu_engine_types.h - the only environment the shared NPU engine sees.
 *
 * npu_engine.c is compiled twice: into the kernel module and into the in-process simulator
 * (hal/npu). This header is the whole difference between the two: fixed-width types,
 * memcpy/memset, and 64-bit division (the kernel has no 64-bit '/' on 32-bit targets). No
 * other libc or kernel facility may be used by the engine.
 */
#ifndef NPU_ENGINE_TYPES_H
#define NPU_ENGINE_TYPES_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/math64.h>

static inline u64 npu_div_u64(u64 a, u64 b)
{
	return div64_u64(a, b);
}
#else
#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

static inline u64 npu_div_u64(u64 a, u64 b)
{
	return a / b;
}
#endif

/* The ISA header takes its __u32 & co. from <linux/types.h> in both worlds. */
#include "../../uapi/edge_npu_isa.h"

#endif
