#!/usr/bin/env python3
"""Schedule files: every bad one gives one FILE:LINE:COL error line; good ones run; a pipeline
can name its schedule; `mot tune` with a tiny budget writes a schedule that loads and runs.

usage: test_schedule.py MOT PIPELINE.yaml WORK_DIR"""
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from safetensors_io import read_safetensors  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def mot(*args, timeout=None):
    """run/bench on the CPU, named: schedules hold CPU choices (GEMM blocking, lanes), which a
    CUDA run would ignore (issue: no test depends on what `auto` picks)."""
    args = list(args)
    if args and args[0] in ("run", "bench"):
        args += ["--backend", "cpu"]
    return subprocess.run([MOT] + args, capture_output=True, text=True, timeout=timeout)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def expect_error(label, text, *needles):
    path = write(os.path.join(WORK, label.replace(" ", "_") + ".yaml"), text)
    r = mot("run", PIPE, "-p", "hi", "-n", "2", "--schedule", path)
    lines = [l for l in r.stderr.splitlines() if "error" in l]
    ok = r.returncode != 0 and len(lines) == 1 and all(n in lines[0] for n in (path,) + needles)
    check(ok, f"{label}: expected one error line with {needles}, got rc {r.returncode}: {r.stderr.strip()}")


def main():
    global MOT, PIPE, WORK
    MOT, PIPE, WORK = sys.argv[1:4]
    os.makedirs(WORK, exist_ok=True)

    expect_error("unknown key", "threads: 2\nfrobs: 1\n", ":2:1:", "unknown key 'frobs'")
    expect_error("bad choice", "lanes: sideways\n", ":1:8:", "lanes", "serial, concurrent")
    expect_error("out of range", "threads: -1\n", ":1:10:", "threads", "out of range")
    expect_error("not a number", "graph_cache: many\n", ":1:14:", "graph_cache")
    expect_error("not a mapping", "- threads\n", ":1:1:", "schedule")
    expect_error("yaml syntax", "threads: [\n", "invalid YAML")
    expect_error("too many lanes", "threads_per_lane: [1, 1, 1, 1, 1, 1, 1, 1, 1]\n", ":1:19:", "at most 8")
    expect_error("bad lane threads", "threads_per_lane: [2, 0]\n", ":1:23:", "threads_per_lane[1]")
    expect_error("duplicate key", "threads: 1\nthreads: 2\n", ":2:1:", "duplicate key 'threads'")
    expect_error("gemm_mc not a multiple of 4", "gemm_mc: 30\n", ":1:10:", "gemm_mc", "multiple of 4")
    expect_error("gemm_kc out of range", "gemm_kc: 4\n", ":1:10:", "gemm_kc", "out of range")
    expect_error("bad quant_gemv", "quant_gemv: fastest\n", ":1:13:", "quant_gemv", "auto, interleaved, sequential, lockstep")
    expect_error("bad fuse", "fuse: sometimes\n", ":1:7:", "fuse", "off, on")
    r = mot("run", PIPE, "-p", "hi", "--schedule", os.path.join(WORK, "missing.yaml"))
    check(r.returncode != 0 and "missing.yaml: error: cannot read the schedule file" in r.stderr, "missing schedule file")
    # Not regular files: a FIFO must not block (a reader would wait for a writer forever), a
    # device must not be read forever; nesting past MOT_YAML_MAX_DEPTH is refused fast.
    fifo = os.path.join(WORK, "fifo.yaml")
    if os.path.exists(fifo):
        os.remove(fifo)
    os.mkfifo(fifo)
    for label, path in (("FIFO schedule", fifo), ("device schedule", "/dev/zero")):
        try:
            r = mot("run", PIPE, "-p", "hi", "-n", "2", "--schedule", path, timeout=30)
            check(r.returncode != 0 and f"{path}: error: cannot read the schedule file ({path}: not a regular file)"
                  in r.stderr, f"{label}: {r.stderr.strip()}")
        except subprocess.TimeoutExpired:
            check(False, f"{label}: still running after 30 s")
    deep = write(os.path.join(WORK, "deep.yaml"), "threads_per_lane: " + "[" * 100000 + "]" * 100000 + "\n")
    try:
        r = mot("run", PIPE, "-p", "hi", "-n", "2", "--schedule", deep, timeout=30)
        check(r.returncode != 0 and f"{deep}:1:" in r.stderr and "nesting deeper than 64 levels" in r.stderr,
              f"deep schedule: {r.stderr.strip()}")
    except subprocess.TimeoutExpired:
        check(False, "deep schedule: still running after 30 s")

    # the shipped default, and a concurrent schedule with threads per lane
    default = os.path.join(os.path.dirname(__file__), "..", "..", "schedules", "default.yaml")
    r = mot("run", PIPE, "-p", "hi there", "-n", "3", "--schedule", default, "--dump", os.path.join(WORK, "a.st"))
    check(r.returncode == 0, f"schedules/default.yaml runs: {r.stderr}")
    def same_dump(name, text, runs, same):
        """A schedule of `text` runs and dumps exactly what schedules/default.yaml dumped."""
        sched = write(os.path.join(WORK, name + ".yaml"), text)
        r = mot("run", PIPE, "-p", "hi there", "-n", "3", "--schedule", sched, "--dump", os.path.join(WORK, name + ".st"))
        check(r.returncode == 0, f"{runs}: {r.stderr}")
        if r.returncode == 0:
            with open(os.path.join(WORK, "a.st"), "rb") as a, open(os.path.join(WORK, name + ".st"), "rb") as b:
                check(a.read() == b.read(), same)

    same_dump("concurrent", "lanes: concurrent\nthreads_per_lane: [1, 1]\n", "a concurrent schedule runs",
              "serial and concurrent schedules give the same dump")
    # fuse: off keeps the decode plan's norms, GEMVs and SwiGLUs apart: on the CPU the same bits
    same_dump("unfused", "fuse: off\n", "fuse: off runs", "fuse: on and off give the same dump on the CPU")

    # another GEMM blocking (k blocks of 8 columns, 4-token chunks, the GEMM from 2 tokens on):
    # other summation order, same logits to f32 rounding, same tokens
    prompt = "the quick brown fox jumps over the lazy dog, again and again"
    blocked = write(os.path.join(WORK, "blocked.yaml"),
                    "gemm_kc: 8\ngemm_mc: 4\ngemm_from_f32: 2\ngemm_from_lowp: 2\n")
    r0 = mot("run", PIPE, "-p", prompt, "-n", "4", "--dump", os.path.join(WORK, "c.st"))
    r1 = mot("run", PIPE, "-p", prompt, "-n", "4", "--schedule", blocked, "--dump", os.path.join(WORK, "d.st"))
    check(r0.returncode == 0 and r1.returncode == 0, f"a blocking schedule runs: {r1.stderr}")
    if r0.returncode == 0 and r1.returncode == 0:
        a, b = read_safetensors(os.path.join(WORK, "c.st")), read_safetensors(os.path.join(WORK, "d.st"))
        worst = 0.0
        for name in a:
            x, y = np.asarray(a[name], dtype=np.float64), np.asarray(b.get(name), dtype=np.float64)
            if x.dtype.kind == "f" and x.size and "logits" in name:
                worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-30)))
            else:
                check(np.array_equal(x, y), f"blocking schedule: {name} differs")
        check(0.0 < worst <= 1e-4, f"blocking schedule: logits within 1e-4 and computed differently ({worst:.2e})")

    # a pipeline naming its schedule (relative to the pipeline file); bench reports it
    pool = os.path.dirname(os.path.abspath(PIPE))
    named = os.path.join(pool, "with_schedule.yaml")
    write(os.path.join(pool, "tuned-by-test.yaml"), "lanes: concurrent\ngemm_from_f32: 4\n")
    with open(PIPE) as f:
        text = f.read()
    write(named, text + "schedule: tuned-by-test.yaml\n")
    r = mot("bench", named, "-p", "4", "-n", "2", "-r", "1")
    check(r.returncode == 0 and "schedule:" in r.stdout and "tuned-by-test.yaml" in r.stdout
          and "lanes concurrent" in r.stdout and "gemm_from 4/8" in r.stdout,
          f"bench prints the pipeline's schedule: {r.stdout[-400:]} {r.stderr}")
    r = mot("bench", named, "-p", "4", "-n", "2", "-r", "1", "--lanes", "serial", "-o", "json")
    check(r.returncode == 0 and '"schedule_desc": "threads all, lanes serial' in r.stdout,
          f"a flag wins over the schedule: {r.stdout[:600]}")

    # mot tune with a tiny budget: a schedule that loads and runs
    out = os.path.join(WORK, "tuned.yaml")
    r = mot("tune", PIPE, "-o", out, "--budget", "0.5", "-p", "4", "-n", "2", "-r", "2")
    check(r.returncode == 0 and "with the default schedule" in r.stdout and os.path.exists(out),
          f"mot tune: {r.stdout} {r.stderr}")
    if os.path.exists(out):
        with open(out) as f:
            tuned = f.read()
        check("# written by mot tune" in tuned and tuned.count(" ± ") >= 1, "tune writes its measurements as comments")
        r = mot("run", PIPE, "-p", "hi there", "-n", "3", "--schedule", out)
        check(r.returncode == 0, f"the tuned schedule loads and runs: {r.stderr}")
    r = mot("tune", PIPE)
    check(r.returncode != 0 and "-o" in r.stderr, "tune without -o is an error")

    for p in (named, os.path.join(pool, "tuned-by-test.yaml")):
        os.remove(p)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("schedule files validated, applied and tuned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
