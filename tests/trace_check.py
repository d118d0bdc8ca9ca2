#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""trace_check.py - checks a Chrome Trace Event file as edge-npu writes it.

usage: trace_check.py TRACE.json [EXPECTED_OPS|- [DEVICE ...]]
Exit 0 when valid; 1 with a reason on stderr otherwise. Checks what the viewers (Perfetto,
chrome://tracing) rely on, so that a broken file fails here rather than silently in a UI.
"""
import json
import sys


def fail(msg):
    print("trace_check: " + msg, file=sys.stderr)
    sys.exit(1)


def num(e, k):
    v = e.get(k)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def main(argv):
    if len(argv) < 2:
        fail("usage: trace_check.py TRACE.json [EXPECTED_OPS [DEVICE ...]]")
    try:
        with open(argv[1]) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail("not valid JSON: %s" % e)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("no traceEvents list")
    evs = doc["traceEvents"]
    threads = {}  # (pid, tid) -> name
    n_x = 0
    flows = {}  # id -> [starts, finishes]
    counters = set()
    slices = {}  # (pid, tid) -> [(ts, end)]
    for i, e in enumerate(evs):
        if not isinstance(e, dict) or not isinstance(e.get("ph"), str):
            fail("event %d: not an object with ph" % i)
        ph = e["ph"]
        if ph == "M":
            if e.get("name") == "thread_name":
                key = (e.get("pid"), e.get("tid"))
                if key in threads:
                    fail("event %d: track %s named twice" % (i, key))
                threads[key] = e.get("args", {}).get("name")
            continue
        if not num(e, "ts") or e["ts"] < 0:
            fail("event %d (%s): bad ts" % (i, ph))
        if not num(e, "pid"):
            fail("event %d (%s): no pid" % (i, ph))
        if ph == "X":
            for k in ("name", "tid", "dur"):
                if k not in e:
                    fail("event %d: X without %s" % (i, k))
            if not num(e, "dur") or e["dur"] < 0:
                fail("event %d: dur %r" % (i, e["dur"]))
            args = e.get("args", {})
            for k in ("shape", "device", "layer"):
                if k not in args:
                    fail("event %d: X without args.%s" % (i, k))
            slices.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
            n_x += 1
        elif ph in ("s", "f"):
            if "id" not in e or "tid" not in e:
                fail("event %d: flow without id/tid" % i)
            if ph == "f" and e.get("bp") != "e":
                fail("event %d: flow finish not bound to its enclosing slice" % i)
            flows.setdefault(e["id"], [[], []])[ph == "f"].append(e)
        elif ph == "C":
            args = e.get("args")
            if not isinstance(args, dict) or not args or \
                    not all(num(args, k) for k in args):
                fail("event %d: counter without numeric args" % i)
            counters.add(e.get("name"))
        else:
            fail("event %d: unexpected ph %r" % (i, ph))
    for key, ss in slices.items():
        if key not in threads:
            fail("track %s has slices but no thread_name" % (key,))
    for fid, (s, f) in flows.items():
        if len(s) != 1 or len(f) != 1:
            fail("flow %r: %d starts, %d finishes" % (fid, len(s), len(f)))
        s, f = s[0], f[0]
        if s["tid"] == f["tid"]:
            fail("flow %r: both ends on track %r (not a cross-device dependency)" % (fid, s["tid"]))
        if s["ts"] > f["ts"]:
            fail("flow %r: finishes before it starts" % fid)
        # each end must fall inside a slice of its track, or the viewer drops the arrow
        for end in (s, f):
            if not any(a <= end["ts"] <= b for a, b in slices.get((end["pid"], end["tid"]), [])):
                fail("flow %r: %s end at %r is in no slice" % (fid, end["ph"], end["ts"]))
    if len(argv) > 2 and argv[2] != "-" and n_x != int(argv[2]):
        fail("%d op slices, expected %s" % (n_x, argv[2]))
    devices = argv[3:]
    if devices:
        names = sorted(threads.values())
        want = sorted(d + " queue" for d in devices)
        if names != want:
            fail("tracks %s, expected %s" % (names, want))
        if len(devices) > 1 and not flows:
            fail("no flow between devices")
        if not any(c.endswith("frequency") for c in counters) or \
                not any(c.endswith("modeled power") for c in counters):
            fail("missing frequency/power counters (have %s)" % sorted(counters))
    print("trace_check: ok: %d slices, %d tracks, %d flows, %d counter tracks"
          % (n_x, len(threads), len(flows), len(counters)))


if __name__ == "__main__":
    main(sys.argv)
