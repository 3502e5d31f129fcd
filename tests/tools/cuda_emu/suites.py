#!/usr/bin/env python3
"""mot's GPU ctest suites on the CPU emulation (run.sh suites; README.md).

Runs, one at a time, the tests of BUILD (a normal build of mot, with the CUDA module loader) that
are labelled gpu or cuda and driven by Python (they run the mot executable: e2e_cuda_*,
gguf_cuda_*, mot_e2e_cuda_*, train.grads_*_cuda, cuda_vs_cpu), plus cli_bad_inputs, with

    MOT_CUDA_EMU=1               the drivers take the device as present (tests/reference/backend_bounds.py)
    MOT_CUDA_MODULE=MODULE       mot loads the emulated libmot-cuda.so instead of the real one
    EMU_LOG_DIR=LOGS/NAME        the emulation's reports and summary, per mot process

The C programs of the gpu label (cuda_gemv, cuda_backward, ops.backend.cuda) link the real CUDA
runtime; run.sh runs them on the emulation under their own names.

Each test runs its ctest command line (ctest --show-only=json-v1) with its ENVIRONMENT, under
a timeout of EMU_TIMEOUT seconds (default: EMU_TIMEOUT_FACTOR, 10, times its ctest TIMEOUT).
One line per test: PASS/FAIL/SKIP/TIMEOUT, seconds, the emulation's error reports and crashes.
EMU_ASAN=1 (run.sh builds the module with AddressSanitizer): mot runs with libasan preloaded.
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

LABELS = {"gpu", "cuda"}
EXTRA = {"cli_bad_inputs"}  # not labelled gpu, but checks --backend cuda's messages


def tests_of(build):
    # Listed from a scratch folder whose CTestTestfile.cmake names BUILD: ctest rewrites
    # Testing/Temporary/LastTest.log where it runs, and under ctest (cuda_emu.suites) that file
    # is the outer run's own log.
    with tempfile.TemporaryDirectory(prefix="cuda-emu-list-") as scratch:
        with open(os.path.join(scratch, "CTestTestfile.cmake"), "w") as fh:
            fh.write(f'subdirs("{build}")\n')
        out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=scratch, capture_output=True, text=True,
                             check=True)
    tests = []
    for t in json.loads(out.stdout)["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        labels = set(props.get("LABELS", []))
        cmd = t.get("command", [])
        python_driver = any(a.endswith(".py") for a in cmd)
        if (labels & LABELS and python_driver) or t["name"] in EXTRA:
            tests.append({"name": t["name"], "command": cmd, "props": props})
    return tests


def emu_reports(logdir):
    """(error reports, crashes, notes) over the emulation's logs of one test."""
    errors = crashes = notes = 0
    for f in glob.glob(os.path.join(logdir, "emu-*.log")):
        with open(f, errors="replace") as fh:
            for line in fh:
                if line.startswith("EMU-REPORT"):
                    if line.startswith("EMU-REPORT [note"):
                        notes += 1
                    else:
                        errors += 1
                elif line.startswith("EMU-CRASH"):
                    crashes += 1
    return errors, crashes, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("-R", dest="regex", help="only the tests whose names match")
    ap.add_argument("-E", dest="exclude", help="not the tests whose names match")
    ap.add_argument("-N", dest="list_only", action="store_true", help="list the tests only")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    if not os.path.exists(os.path.join(build, "CTestTestfile.cmake")):
        sys.exit(f"cuda_emu suites: {build} is not a configured build (cmake -S . -B {a.build})")
    mot = os.path.join(build, "mot")
    if not os.path.exists(mot):
        sys.exit(f"cuda_emu suites: no {mot} (cmake --build {a.build})")
    with open(mot, "rb") as fh:
        if b"this build has no CUDA backend" in fh.read():
            sys.exit(f"cuda_emu suites: {mot} was built without the CUDA module loader (MOT_CUDA off, or nvcc/"
                     "cuBLAS not found at configure time): it cannot load libmot-cuda.so")
    tests = tests_of(build)
    if a.regex:
        tests = [t for t in tests if re.search(a.regex, t["name"])]
    if a.exclude:
        tests = [t for t in tests if not re.search(a.exclude, t["name"])]
    if a.list_only:
        for t in tests:
            print(t["name"])
        return 0
    logs = os.path.abspath(a.logs)
    os.makedirs(logs, exist_ok=True)
    factor = float(os.environ.get("EMU_TIMEOUT_FACTOR", "10"))
    preload = {}
    if os.environ.get("EMU_ASAN") == "1":  # an ASan module in a plain mot: the runtime must come first
        lib = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
        preload = {"LD_PRELOAD": lib,
                   "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")}
    results = []
    for t in tests:
        name = t["name"]
        logdir = os.path.join(logs, name)
        os.makedirs(logdir, exist_ok=True)
        for f in glob.glob(os.path.join(logdir, "emu-*.log")):
            os.remove(f)
        env = dict(os.environ)
        for kv in t["props"].get("ENVIRONMENT", []):
            k, _, v = kv.partition("=")
            env[k] = v
        env.update(preload)
        env.update(MOT_CUDA_EMU="1", MOT_CUDA_MODULE=os.path.abspath(a.module), EMU_LOG_DIR=logdir)
        timeout = float(os.environ.get("EMU_TIMEOUT") or factor * float(t["props"].get("TIMEOUT", 1500)))
        skip_rc = t["props"].get("SKIP_RETURN_CODE")
        cwd = t["props"].get("WORKING_DIRECTORY", build)
        start = time.time()
        with open(os.path.join(logs, name + ".log"), "w") as out:
            out.write("$ " + " ".join(t["command"]) + "\n")
            out.flush()
            p = subprocess.Popen(t["command"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = None
        secs = time.time() - start
        errors, crashes, notes = emu_reports(logdir)
        with open(os.path.join(logs, name + ".log"), errors="replace") as fh:
            text = fh.read()  # what the driver printed of mot's stderr: ASan's reports
        crashes += text.count("ERROR: AddressSanitizer")
        if rc is None:
            status = "TIMEOUT"
        elif skip_rc is not None and rc == int(skip_rc):
            status = "SKIP"
        else:
            status = "PASS" if rc == 0 else "FAIL"
        results.append((name, status, secs))
        print(f"{name:44s} {status:7s} rc={rc}  {secs:6.0f}s  EMU-REPORT errors={errors} crashes={crashes} "
              f"notes={notes}  (log {os.path.relpath(os.path.join(logs, name + '.log'))})", flush=True)
    bad = [r for r in results if r[1] in ("FAIL", "TIMEOUT")]
    print(f"cuda_emu suites: {len(results) - len(bad)} of {len(results)} passed or skipped"
          + (": " + " ".join(r[0] for r in bad) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
