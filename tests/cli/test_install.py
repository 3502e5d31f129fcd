#!/usr/bin/env python3
"""`cmake --install` gives a working tree: bin/mot generates the same text as the build's mot,
and, where the CUDA backend was built, lib/mot/libmot-cuda.so is installed where the installed
mot finds it (on a machine without a GPU the run then stops at the device, not at loading the
library; without the file it stops at loading it, which shows that the check can fail).

usage: test_install.py CMAKE BUILD_DIR MOT MAKE_MODEL.py WORK_DIR"""
import os
import shutil
import subprocess
import sys

LOAD_ERROR = "cannot load the CUDA backend library"


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def main():
    cmake, build, mot, make_model, work = sys.argv[1:6]
    if not os.path.exists(cmake):  # a build packed onto another machine (../shared/gpu/pack.sh)
        cmake = shutil.which("cmake") or cmake
    prefix = os.path.join(work, "prefix")
    shutil.rmtree(prefix, ignore_errors=True)
    model = os.path.join(work, "tiny")
    subprocess.run([sys.executable, make_model, model, "--preset", "tiny", "--force"], check=True,
                   stdout=subprocess.DEVNULL)
    r = run([cmake, "--install", build, "--prefix", prefix])
    if r.returncode != 0:
        sys.exit(f"FAIL cmake --install: {r.stderr.strip()}")
    installed = os.path.join(prefix, "bin", "mot")
    if not os.access(installed, os.X_OK):
        sys.exit(f"FAIL {installed} is not installed")
    args = ["run", "-m", model, "-p", "Hello there", "-n", "12", "--temp", "0", "-t", "2", "--backend", "cpu"]
    a, b = run([mot, *args]), run([installed, *args])
    if a.returncode != 0 or b.returncode != 0 or a.stdout != b.stdout or not a.stdout:
        sys.exit(f"FAIL the installed mot differs from the build's: rc {a.returncode}/{b.returncode}, "
                 f"{a.stdout!r} vs {b.stdout!r}, {b.stderr.strip()}")
    print(f"ok   installed bin/mot: same {len(a.stdout)} characters of text as the build's")
    # `mot serve` runs bin/mot-serve from beside the installed mot (a bad flag: its own error)
    r = run([installed, "serve", "-m", model, "--bogus"])
    if r.returncode != 2 or "serve: unknown option '--bogus'" not in r.stderr:
        sys.exit(f"FAIL the installed mot serve: rc {r.returncode}, {r.stderr.strip()}")
    print("ok   installed bin/mot serve runs bin/mot-serve")
    if not os.path.exists(os.path.join(build, "libmot-cuda.so")):
        print("note: no CUDA backend in this build; the module install was not checked")
        return
    module = os.path.join(prefix, "lib", "mot", "libmot-cuda.so")
    if not os.path.exists(module):
        sys.exit(f"FAIL {module} is not installed")
    env = {k: v for k, v in os.environ.items() if k != "MOT_CUDA_MODULE"}
    cuda = ["run", "-m", model, "-p", "Hello", "-n", "2", "--backend", "cuda"]
    found = subprocess.run([installed, *cuda], capture_output=True, text=True, env=env)
    if LOAD_ERROR in found.stderr:
        sys.exit(f"FAIL the installed mot does not find {module}: {found.stderr.strip()}")
    os.rename(module, module + ".away")
    try:
        missing = subprocess.run([installed, *cuda], capture_output=True, text=True, env=env)
    finally:
        os.rename(module + ".away", module)
    if missing.returncode == 0 or LOAD_ERROR not in missing.stderr:
        sys.exit(f"FAIL without the module: rc {missing.returncode}, {missing.stderr.strip()!r}")
    print(f"ok   installed lib/mot/libmot-cuda.so is found (--backend cuda: rc {found.returncode}"
          f"{', ' + found.stderr.strip().splitlines()[-1] if found.returncode else ''}); without it: "
          f"{missing.stderr.strip().splitlines()[-1]}")


main()
