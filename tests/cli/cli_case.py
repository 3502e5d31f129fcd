"""What the tests/cli scripts share: check() that prints and records each result, run() of the
mot under test, make_model() into the work folder, and finish() that exits non-zero when any
check failed.

    import functools, cli_case
    from cli_case import check
    MOT, WORK, BACKEND = cli_case.args()
    run = functools.partial(cli_case.run, MOT)
    make_model = functools.partial(cli_case.make_model, WORK)"""
import os
import shutil
import subprocess
import sys

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
failures = []


def args():
    """MOT, WORK_DIR and the backend from `SCRIPT MOT WORK_DIR [--backend cpu|cuda]` (cpu unless given)."""
    backend = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--backend" else "cpu"
    return sys.argv[1], sys.argv[2], backend


def log_softmax(logits):
    """Rows of logits [n, vocab] as log-probabilities, in float64 (numpy)."""
    import numpy as np
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def check(label, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {label}{': ' + str(detail) if detail else ''}")
    if not ok:
        failures.append(f"{label}: {detail}")
    return ok


def run(mot, args, timeout=300):
    return subprocess.run([mot] + args, capture_output=True, text=True, errors="replace", timeout=timeout)


def make_model(work, name, *flags):
    """A fresh checkpoint from tests/tools/make_model.py in WORK/name."""
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_model.py"), d, *flags], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def finish(passed):
    """Exits 1 listing the failures, else prints `passed`."""
    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(passed)
