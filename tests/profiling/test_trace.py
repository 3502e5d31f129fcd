#!/usr/bin/env python3
"""`--profile`: the trace is Chrome Trace Event JSON holding every plan node once per pass
on its lane's track, plus the router and one host slice per pass; the summary is printed.

usage: test_trace.py MOT PIPELINE.yaml MODEL_DIR WORK_DIR"""
import json
import os
import subprocess
import sys

import yaml

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def load(path):
    with open(path) as f:
        doc = json.load(f)
    return doc["traceEvents"]


def check_trace(label, events, lanes, stacks, passes, router):
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    check(len(names) == lanes + 1, f"{label}: {lanes + 1} named tracks, got {names}")
    slices = [e for e in events if e["ph"] == "X"]
    host = [e for e in slices if e["tid"] == 0]
    plan = [e for e in slices if e["tid"] != 0]
    pass_slices = [e for e in host if e["name"] in ("prefill", "decode")]
    check(len(pass_slices) == passes, f"{label}: {passes} pass slices, got {len(pass_slices)}")
    check(sum(e["name"] == "router" for e in host) == (1 if router else 0), f"{label}: router slice")
    # Nodes per pass: each lane has Q+1 stack nodes, Q forward and Q reverse projector nodes
    # and a sampler; the primary also Q attention nodes (K = 1, Q = 0: stack + sampler).
    expected = lanes * (3 * stacks + 2) + stacks
    for p in range(passes):
        in_pass = [e for e in plan if e["args"]["pass"] == p]
        ids = [(e["tid"], e["args"]["node"]) for e in in_pass]
        check(len(ids) == expected, f"{label}: pass {p} holds {len(ids)} node slices, expected {expected}")
        check(len(set(ids)) == len(ids), f"{label}: pass {p} has a node twice")
        check({e["name"] for e in in_pass} <= {"stack", "projector", "attention", "sampler"},
              f"{label}: unexpected slice names")
        check(all(e["dur"] >= 0 and e["args"]["tokens"] > 0 for e in in_pass), f"{label}: durations and tokens")
    kinds = {e["name"] for e in plan}
    want = {"stack", "sampler"} | ({"projector", "attention"} if stacks else set())
    check(kinds == want, f"{label}: slice kinds {kinds}, expected {want}")
    for e in plan:
        if e["name"] == "projector":
            check(e["args"]["direction"] in ("forward", "reverse"), f"{label}: projector direction")


def main():
    mot, pipeline, model, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    with open(pipeline) as f:
        pipe = yaml.safe_load(f)
    stacks, k = pipe["interaction"]["stacks"], pipe["router"]["top_k"]

    trace = os.path.join(work, "mot.json")
    r = subprocess.run([mot, "run", pipeline, "-p", "Hello there, friend", "-n", "5", "--temp", "0",
                        "--profile", trace, "--backend", "cpu"], capture_output=True, text=True)
    check(r.returncode == 0, f"mot run --profile failed: {r.stderr}")
    if r.returncode == 0:
        check_trace("mot run PIPE", load(trace), k, stacks, 5, True)
        for line in ("time per node kind:", "time per expert:", "interaction layers", "lane overlap",
                     "prompt", "peak RSS"):
            check(line in r.stderr, f"summary line '{line}' missing:\n{r.stderr}")

    trace = os.path.join(work, "single.json")
    r = subprocess.run([mot, "run", "-m", model, "-p", "Hello", "-n", "4", "--temp", "0", "--profile", trace,
                        "--backend", "cpu"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"mot run -m --profile failed: {r.stderr}")
    if r.returncode == 0:
        check_trace("mot run -m", load(trace), 1, 0, 4, False)

    bad = subprocess.run([mot, "run", "-m", model, "-p", "Hello", "-n", "2", "--profile",
                          os.path.join(work, "no-such-dir", "t.json")], capture_output=True, text=True)
    check(bad.returncode != 0 and "no-such-dir" in bad.stderr and bad.stderr.count("error:") == 1,
          f"unwritable trace path: one error line naming it, got {bad.returncode}: {bad.stderr}")

    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("traces hold every plan node once per pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
