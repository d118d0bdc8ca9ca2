/* SPDX-License-Identifier: MIT */
/*
 * json.h - the one JSON string escaper of the tree: traces (driver/trace.c), npu-top's JSON
 * view and npu-bench's reports all write strings through it.
 */
#ifndef EDGE_NPU_HAL_JSON_H
#define EDGE_NPU_HAL_JSON_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Writes s (NULL: nothing) as the body of a JSON string, without the quotes: '"' and '\' are
 * escaped, control characters written as \u00XX. With ascii, bytes 0x7f and above are written
 * as \u00XX too (a process name need not be UTF-8, and the document must stay valid); without
 * it they pass through, for text that is UTF-8.
 */
void hal_json_escape(FILE *f, const char *s, bool ascii);

#endif
