/* SPDX-License-Identifier: MIT */
/*
 * numbers.h - the one parser of the real numbers users and files write (npu-run's and the
 * tools' options, scheduler profiles), so that all of them take the same text.
 */
#ifndef EDGE_NPU_HAL_NUMBERS_H
#define EDGE_NPU_HAL_NUMBERS_H

/*
 * s as a finite decimal number: an optional sign, digits with at most one '.', at least one
 * digit, then an optional exponent (e or E, an optional sign, digits). strtod alone would
 * also take hex ("0x1p3"), "inf", "nan" and leading blanks, and would read '.' by the
 * process's LC_NUMERIC (a library's caller may have set a locale where the radix is ','):
 * this reads '.' always. 0 with *out set, or -1 (out untouched) when s is anything else or
 * its value does not fit a double.
 */
int hal_parse_decimal(const char *s, double *out);

#endif
