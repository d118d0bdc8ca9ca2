#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""trace_check.py - checks a Chrome Trace Event file as edge-npu writes it.

usage: trace_check.py [--pid=N] [--tokens=N] [--steps=N] TRACE.json [EXPECTED_OPS|- [DEVICE ...]]
Exit 0 when valid; 1 with a reason on stderr otherwise. Checks what the viewers (Perfetto,
chrome://tracing) rely on, so that a broken file fails here rather than silently in a UI:
the structure of every event; slices that nest on each thread's track (a decode step inside
its token, never overlapping) and end in file order, as the writer emits them; counters
whose samples are in time order; every op inside the step that ran it; flows whose ends lie
in slices. --pid: every event's pid; --tokens and --steps: the number of token and step
(prefill and decode step) slices.
"""
import json
import sys


def fail(msg):
    print("trace_check: " + msg, file=sys.stderr)
    sys.exit(1)


def num(e, k):
    v = e.get(k)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# timestamps are written in µs with three decimals: ts and dur are rounded apart
EPS = 0.0025


def check_nesting(slices):
    """On each track, slices nest or follow one another, as a call stack does."""
    for key, ss in slices.items():
        stack = []
        for ts, end, name in sorted(ss, key=lambda x: (x[0], -(x[1] - x[0]))):
            while stack and stack[-1][1] <= ts + EPS:
                stack.pop()
            if stack and end > stack[-1][1] + EPS:
                fail("track %s: slice %r (%.3f..%.3f) overlaps %r (%.3f..%.3f) without "
                     "nesting" % (key, name, ts, end, stack[-1][2], stack[-1][0],
                                  stack[-1][1]))
            stack.append((ts, end, name))


def check_order(slices, counter_ts):
    """Slices end in file order on each track; a counter's samples go forward in time."""
    for key, ss in slices.items():
        ends = [end for _, end, _ in ss]
        for a, b in zip(ends, ends[1:]):
            if b + EPS < a:
                fail("track %s: a slice ending at %.3f written after one ending at %.3f"
                     % (key, b, a))
    for name, ts in counter_ts.items():
        for a, b in zip(ts, ts[1:]):
            if b < a:
                fail("counter %r: a sample at %.3f after one at %.3f" % (name, b, a))


def check_ops_in_steps(ops, steps):
    """Every op ran inside a step (prefill or decode step) of the session, when there are steps."""
    if not steps:
        return
    steps = sorted(steps)
    for ts, end, name in ops:
        if not any(a - EPS <= ts and end <= b + EPS for a, b in steps):
            fail("op %r (%.3f..%.3f) is inside no step slice" % (name, ts, end))


def options(argv):
    opts, rest = {}, []
    for a in argv[1:]:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            if k not in ("pid", "tokens", "steps"):
                fail("unknown option %s" % a)
            opts[k] = int(v)
        else:
            rest.append(a)
    return opts, [argv[0]] + rest


def main(argv):
    opts, argv = options(argv)
    if len(argv) < 2:
        fail("usage: trace_check.py [--pid=N] [--tokens=N] [--steps=N] TRACE.json "
             "[EXPECTED_OPS [DEVICE ...]]")
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
    slices = {}  # (pid, tid) -> [(ts, end, name)] in file order
    counter_ts = {}  # name -> [ts] in file order
    ops, steps, n_tokens = [], [], 0
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
        if "pid" in opts and e["pid"] != opts["pid"]:
            fail("event %d (%s): pid %r, the process was %d" % (i, ph, e["pid"], opts["pid"]))
        if ph == "X":
            for k in ("name", "tid", "dur"):
                if k not in e:
                    fail("event %d: X without %s" % (i, k))
            if not num(e, "dur") or e["dur"] < 0:
                fail("event %d: dur %r" % (i, e["dur"]))
            span = (e["ts"], e["ts"] + e["dur"], e["name"])
            slices.setdefault((e["pid"], e["tid"]), []).append(span)
            cat = e.get("cat")
            if cat == "step":
                steps.append(span[:2])
                continue
            if cat == "token":
                n_tokens += 1
                continue
            if cat == "spec":  # speculation's draft and pre-draft slices around draft steps
                continue
            args = e.get("args", {})
            for k in ("shape", "device", "layer"):
                if k not in args:
                    fail("event %d: X without args.%s" % (i, k))
            ops.append(span)
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
            counter_ts.setdefault(e.get("name"), []).append(e["ts"])
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
            if not any(a <= end["ts"] <= b for a, b, _ in slices.get((end["pid"], end["tid"]), [])):
                fail("flow %r: %s end at %r is in no slice" % (fid, end["ph"], end["ts"]))
    check_nesting(slices)
    check_order(slices, counter_ts)
    check_ops_in_steps(ops, steps)
    if len(argv) > 2 and argv[2] != "-" and n_x != int(argv[2]):
        fail("%d op slices, expected %s" % (n_x, argv[2]))
    if "tokens" in opts and n_tokens != opts["tokens"]:
        fail("%d token slices, expected %d" % (n_tokens, opts["tokens"]))
    if "steps" in opts and len(steps) != opts["steps"]:
        fail("%d step slices, expected %d" % (len(steps), opts["steps"]))
    devices = argv[3:]
    if devices:
        names = sorted(n for n in threads.values() if n.endswith(" queue"))
        want = sorted(d + " queue" for d in devices)
        if names != want:
            fail("tracks %s, expected %s" % (names, want))
        if len(devices) > 1 and not flows:
            fail("no flow between devices")
        if not any(c.endswith("frequency") for c in counters) or \
                not any(c.endswith("modeled power") for c in counters):
            fail("missing frequency/power counters (have %s)" % sorted(counters))
    print("trace_check: ok: %d op slices, %d steps, %d tokens, %d tracks, %d flows, "
          "%d counter tracks" % (n_x, len(steps), n_tokens, len(threads), len(flows),
                                 len(counters)))


if __name__ == "__main__":
    main(sys.argv)
