#!/usr/bin/env python3
"""CUDA vs CPU on whole runs: `mot run --dump` with --backend cpu and --backend cuda on the
e2e models (-m) and the MoT test pools, every logits row compared. f32 weights: normalized
error <= 1e-4 per row; bf16/f16: <= 2e-2 and the same greedy tokens for 32 steps.
Exit 77 (ctest: skipped) when the build or the machine has no CUDA device.

usage: compare_backends.py MOT WORK_DIR  (makes its own models and pools there)"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from safetensors_io import read_safetensors  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog. 1234"
STEPS = 32


def run(mot, target, backend, dump, pipeline):
    args = [mot, "run"] + ([target] if pipeline else ["-m", target])
    args += ["-p", PROMPT, "-n", str(STEPS), "--temp", "0", "--backend", backend, "--dump", dump]
    if not pipeline:
        args += ["-c", "256"]
    return subprocess.run(args, capture_output=True, text=True)


def low_precision(path):
    """True when any weight file of the model/pool is f16/bf16."""
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".safetensors"):
                with open(os.path.join(root, f), "rb") as fh:
                    n = int.from_bytes(fh.read(8), "little")
                    header = json.loads(fh.read(n))
                if any(isinstance(v, dict) and v.get("dtype") in ("F16", "BF16") for v in header.values()):
                    return True
    return False


def compare(name, cpu_dump, cuda_dump, lowp):
    a, b = read_safetensors(cpu_dump), read_safetensors(cuda_dump)
    bound = 2e-2 if lowp else 1e-4
    failures = 0
    for key in sorted(a):
        if key.startswith("tokens."):
            ta, tb = a[key], b.get(key)
            same = tb is not None and len(ta) == len(tb) and (ta == tb).all()
            if not same:
                print(f"FAIL {name} {key}: greedy tokens differ: cpu {list(ta)} cuda {list(tb) if tb is not None else None}")
                failures += 1
        elif key.startswith("logits."):
            la, lb = a[key].astype(np.float64), b[key].astype(np.float64)
            rows = min(len(la), len(lb))
            err = max(np.abs(la[r] - lb[r]).max() / max(np.abs(la[r]).max(), 1e-30) for r in range(rows))
            ok = err <= bound
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} {key}: worst row error {err:.3g} (bound {bound:g}, {rows} rows)")
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
    os.makedirs(work, exist_ok=True)
    models, _ = make_inputs(work, only_first=True)
    probe = run(mot, os.path.join(models, next(iter(MODELS))), "cuda", os.path.join(work, "probe.st"), False)
    if probe.returncode != 0 and ("no CUDA" in probe.stderr or "CUDA device" in probe.stderr):
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
            lowp = low_precision(os.path.dirname(target) if pipeline else target)
            failures += compare(name, dumps["cpu"], dumps["cuda"], lowp)
    print(f"{len(targets)} runs compared, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
