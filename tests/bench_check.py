#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_check.py - checks npu-bench's machine-readable output (-o csv|json|md).

usage: bench_check.py FORMAT FILE ROWS KEY[,KEY...]
FORMAT is csv, json or md; ROWS the number of result rows expected; KEYs the columns (JSON
fields, CSV columns; Markdown: header titles) every row must have. For JSON, every statistic
object must agree with its samples: mean, sample standard deviation (n - 1, as llama-bench),
median, min, max and n. Exit 0 when valid; 1 with a reason on stderr otherwise.
"""
import csv
import json
import math
import statistics
import sys


def fail(msg):
    print("bench_check: " + msg, file=sys.stderr)
    sys.exit(1)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def check_stat(where, st):
    s = st.get("samples")
    if not isinstance(s, list) or not s or st.get("n") != len(s):
        fail("%s: samples and n disagree" % where)
    want = {
        "mean": statistics.fmean(s),
        "stddev": statistics.stdev(s) if len(s) > 1 else 0.0,
        "median": statistics.median(s),
        "min": min(s),
        "max": max(s),
    }
    for k, v in want.items():
        if not isinstance(st.get(k), (int, float)) or not close(st[k], v):
            fail("%s: %s is %r, the samples give %r" % (where, k, st.get(k), v))


def check_json(text, rows, keys):
    try:
        doc = json.loads(text)
    except ValueError as e:
        fail("not valid JSON: %s" % e)
    if not isinstance(doc, list) or len(doc) != rows:
        fail("expected a list of %d rows, got %r" % (rows, type(doc).__name__ if not
                                                        isinstance(doc, list) else len(doc)))
    fields = None
    for i, row in enumerate(doc):
        if not isinstance(row, dict):
            fail("row %d is not an object" % i)
        if fields is None:
            fields = list(row)
        if list(row) != fields:
            fail("row %d has fields %s, row 0 %s" % (i, list(row), fields))
        for k in keys:
            if k not in row:
                fail("row %d has no %r" % (i, k))
        for k, v in row.items():
            if isinstance(v, dict):
                check_stat("row %d %s" % (i, k), v)


def check_csv(text, rows, keys):
    lines = list(csv.reader(text.splitlines()))
    if len(lines) != rows + 1:
        fail("expected a header and %d rows, got %d lines" % (rows, len(lines)))
    head = lines[0]
    for k in keys:
        if k not in head:
            fail("no column %r in %s" % (k, head))
    for i, line in enumerate(lines[1:]):
        if len(line) != len(head):
            fail("row %d has %d columns, the header %d" % (i, len(line), len(head)))
        for k, v in zip(head, line):
            if k.endswith(("_mean", "_stddev")) and v:
                float(v)
    for i, line in enumerate(lines[1:]):
        cells = dict(zip(head, line))
        for k in head:
            if k.endswith("_stddev") and cells[k] and float(cells[k]) < 0:
                fail("row %d: negative %s" % (i, k))


def check_md(text, rows, keys):
    lines = text.splitlines()
    if len(lines) != rows + 2:
        fail("expected a header, a rule and %d rows, got %d lines" % (rows, len(lines)))
    split = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    for i, cells in enumerate(split):
        if not lines[i].startswith("| ") or not lines[i].endswith(" |"):
            fail("line %d is not a table row: %r" % (i, lines[i]))
        if len(cells) != len(split[0]):
            fail("line %d has %d cells, the header %d" % (i, len(cells), len(split[0])))
    if not all(c in ("---", "---:") for c in split[1]):
        fail("the second line is not the rule: %r" % lines[1])
    for k in keys:
        if k not in split[0]:
            fail("no column %r in %s" % (k, split[0]))


def main(argv):
    if len(argv) != 5:
        fail("usage: bench_check.py csv|json|md FILE ROWS KEY[,KEY...]")
    with open(argv[2]) as f:
        text = f.read()
    keys = [k for k in argv[4].split(",") if k]
    {"json": check_json, "csv": check_csv, "md": check_md}[argv[1]](text, int(argv[3]), keys)


if __name__ == "__main__":
    main(sys.argv)
