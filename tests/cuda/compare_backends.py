#!/usr/bin/env python3
"""CUDA vs CPU on whole runs: `mot run --dump` with --backend cpu and --backend cuda on the
e2e models (-m) and the MoT test pools, dumps compared (bytes, never decoded text): every
logits row up to the first step where a sampled token differs, within SPEC 1.7's bound for the
weights' dtypes (tests/reference/backend_bounds.py: f32 1e-4, f16 5e-3, bf16 2e-2); a token
that differs where the CPU's top-2 margin exceeds the bound is a failure.
Exit 77 (ctest: skipped) when the build or the machine has no CUDA device.

usage: compare_backends.py MOT WORK_DIR  (makes its own models and pools there)"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import backend_bounds  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog. 1234"
STEPS = 32


def run(mot, target, backend, dump, pipeline):
    """mot's stdout is bytes: a streamed token may end mid-way through a UTF-8 character, so
    nothing here decodes it; stderr is decoded leniently for messages only."""
    args = [mot, "run"] + ([target] if pipeline else ["-m", target])
    args += ["-p", PROMPT, "-n", str(STEPS), "--temp", "0", "--backend", backend, "--dump", dump]
    if not pipeline:
        args += ["-c", "256"]
    r = subprocess.run(args, capture_output=True)
    r.stderr = r.stderr.decode("utf-8", errors="replace")
    return r


def weight_dtypes(path):
    """The dtypes of the model's (or pool's) weight files, as backend_bounds names them."""
    names = {"F32": "f32", "F16": "f16", "BF16": "bf16"}
    found = set()
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".safetensors"):
                with open(os.path.join(root, f), "rb") as fh:
                    n = int.from_bytes(fh.read(8), "little")
                    header = json.loads(fh.read(n))
                found |= {names[v["dtype"]] for v in header.values()
                          if isinstance(v, dict) and v.get("dtype") in names}
    return sorted(found) or ["f32"]


def compare(name, cpu_dump, cuda_dump, bound):
    """Every expert's logits rows up to the first decode step where any expert's sampled token
    differs (the two runs are not comparable after it: SPEC 1.7); at that step the CPU's top-2
    margin must be within the bound (a near tie), else the differing token is a failure."""
    a, b = read_safetensors(cpu_dump), read_safetensors(cuda_dump)
    experts = sorted(k[len("logits."):] for k in a if k.startswith("logits."))
    failures, sampled, first = 0, {}, None
    for e in experts:
        if f"logits.{e}" not in b:
            print(f"FAIL {name} {e}: no logits in the CUDA dump")
            return 1
        rows_a, rows_b = len(a[f"logits.{e}"]), len(b[f"logits.{e}"])
        ta, tb = a[f"tokens.{e}"][-rows_a:], b[f"tokens.{e}"][-rows_b:]
        sampled[e] = (ta, tb)
        d = next((t for t in range(min(len(ta), len(tb))) if ta[t] != tb[t]), min(len(ta), len(tb)))
        first = d if first is None else min(first, d)
    for e in experts:
        la, lb = a[f"logits.{e}"].astype(np.float64), b[f"logits.{e}"].astype(np.float64)
        rows = min(len(la), len(lb), first + 1)
        err = max((np.abs(la[r] - lb[r]).max() / max(np.abs(la[r]).max(), 1e-30) for r in range(rows)), default=0.0)
        ok = err <= bound
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} {e}: worst row error {err:.3g} (bound {bound:g}, rows 0..{rows - 1})")
        ta, tb = sampled[e]
        if first < min(len(ta), len(tb)) and ta[first] != tb[first]:
            margin = la[first, ta[first]] - la[first, tb[first]]
            limit = bound * np.abs(la[first]).max()
            tie = margin <= limit
            failures += not tie
            print(f"{'ok  ' if tie else 'FAIL'} {name} {e}: step {first}: cpu token {ta[first]}, cuda {tb[first]}, "
                  f"cpu margin {margin:.3g} {'<=' if tie else '>'} {limit:.3g}; later steps not compared")
    return failures


TOOLS = os.path.join(os.path.dirname(__file__), "..", "tools")
MODELS = {  # name: make_model.py arguments
    "gqa_f32": ["--preset", "tiny-gqa", "--dtype", "f32"],
    "gqa_bf16": ["--preset", "tiny-gqa", "--dtype", "bf16", "--shards", "2"],
    "mistral_f16": ["--preset", "tiny-mistral", "--dtype", "f16", "--sliding-window", "8"],
    "llama3_rope": ["--preset", "tiny", "--rope-scaling", "llama3", "--tokenizer", "sentencepiece"],
}
POOLS = ["hetero3", "hetero3_k3", "norm_bias", "uniform_q3"]


def make_inputs(work, only_first=False):
    models, pools = os.path.join(work, "models"), os.path.join(work, "pools")
    for name, args in list(MODELS.items())[:1] if only_first else MODELS.items():
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_model.py")] + args + [os.path.join(models, name)],
                       check=True, capture_output=True)
    for scenario in [] if only_first else POOLS:
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_mot_pool.py"), "--scenario", scenario,
                        "--weights", "python", pools], check=True, capture_output=True)
    return models, pools


def main():
    mot, work = sys.argv[1:3]
    backend_bounds.skip_without_cuda("cuda")
    os.makedirs(work, exist_ok=True)
    models, _ = make_inputs(work, only_first=True)
    probe = run(mot, os.path.join(models, next(iter(MODELS))), "cuda", os.path.join(work, "probe.st"), False)
    if probe.returncode != 0 and backend_bounds.no_device(probe.stderr):
        print("skipped: " + probe.stderr.strip().splitlines()[-1])
        return 77
    models, pools = make_inputs(work)
    targets = [(os.path.join(models, m), False) for m in sorted(os.listdir(models))
               if os.path.isdir(os.path.join(models, m))]
    targets += [(os.path.join(pools, p), True) for p in sorted(os.listdir(pools)) if p.endswith(".yaml")]
    failures = 0
    for target, pipeline in targets:
        name = os.path.basename(target)
        dumps = {}
        for backend in ("cpu", "cuda"):
            dumps[backend] = os.path.join(work, f"{name}.{backend}.st")
            r = run(mot, target, backend, dumps[backend], pipeline)
            if r.returncode != 0:
                print(f"FAIL {name} --backend {backend}: {r.stderr.strip()}")
                failures += 1
                break
        else:
            bound = backend_bounds.tolerance("cuda", weight_dtypes(os.path.dirname(target) if pipeline else target))
            failures += compare(name, dumps["cpu"], dumps["cuda"], bound)
    print(f"{len(targets)} runs compared, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
