#!/usr/bin/env python3
"""CUDA kernel launches per decode step, counted on the CPU emulation (tests/tools/cuda_emu):
issue 16's "≤ 5 kernels per layer" as a test.

    launch_counts.py --mot BIN --work DIR

Runs `mot run --backend cuda` twice on each model (4 and 12 generated tokens, greedy) and takes
the difference of the emulation's per-kernel launch counts (the EMU-KERNEL lines it writes
under EMU_LOG_DIR; CUDA Graph replays count, as they run the kernels again), divided by the
difference in decode steps (the step advance's launches, one a step). With the fused decode ops (the
default), a step of a plain model of L layers must launch exactly 5 L + 4 kernels: per layer
norm+q/k/v+RoPE+KV append, attention, o (+ residual), norm+gate/up+SwiGLU, down (+ residual);
per step the embedding, the final norm + LM head, the sampler and the step advance. Models: a
3-layer bf16 HF folder (kernels/cuda/matmul_gemv.cu), the same as a Q4_K GGUF and as a GGUF of
mixed types (kernels/cuda/quant.cu, Q4_K_M-like: Q6_K beside Q4_K in one op), and a K = 3
MoT pool, whose interaction layers add 4 launches a lane and 2 a stack. With `fuse: off`
the same steps must launch more (the count is printed). Widths 256 and 512: the K types' blocks.

Only under the emulation (MOT_CUDA_EMU=1 and EMU_LOG_DIR set, as tests/tools/cuda_emu/run.sh
suites runs it): elsewhere the launches cannot be counted and the test exits 77 (skipped).
"""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tests", "tools")
LAYERS = 3
PER_LAYER, PER_STEP = 5, 4
KERNEL_RE = re.compile(r"^\s*EMU-KERNEL (.+) x(\d+)$")


def launches(mot, model, n, logdir, extra):
    """{kernel site: launches} of one `mot run -n N` on the emulation."""
    os.makedirs(logdir, exist_ok=True)
    for f in glob.glob(os.path.join(logdir, "emu-*.log")):
        os.remove(f)
    env = dict(os.environ, EMU_LOG_DIR=logdir)
    cmd = [mot, "run"] + ([model] if model.endswith(".yaml") else ["-m", model]) + ["-p", "The quick brown fox jumps over the lazy dog", "-n", str(n),
           "--temp", "0", "--backend", "cuda"] + extra
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-400:]}")
    counts = collections.Counter()
    for f in glob.glob(os.path.join(logdir, "emu-*.log")):
        with open(f, errors="replace") as fh:
            for line in fh:
                m = KERNEL_RE.match(line)
                if m:
                    counts[m.group(1)] += int(m.group(2))
    if not counts:
        sys.exit(f"FAIL: no EMU-KERNEL lines under {logdir} (is mot running the emulated module?)")
    return counts


def per_step(mot, model, work, name, extra):
    """(launches per decode step, {kernel: per step}) from runs of 4 and 12 tokens."""
    a = launches(mot, model, 4, os.path.join(work, name + "-n4"), extra)
    b = launches(mot, model, 12, os.path.join(work, name + "-n12"), extra)
    advance = [k for k in b if k.startswith("step_advance_kernel")]  # once a step, whatever the lanes
    steps = sum(b[k] - a[k] for k in advance)
    if steps <= 0:
        sys.exit(f"FAIL {name}: no decode steps between the runs (step advance launches {advance})")
    diff = {k: (b[k] - a[k]) / steps for k in b if b[k] != a[k]}
    return sum(diff.values()), diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mot", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    if os.environ.get("MOT_CUDA_EMU") != "1" or not os.environ.get("EMU_LOG_DIR"):
        print("SKIP: kernel launches are counted on the CUDA emulation only "
              "(tests/tools/cuda_emu/run.sh suites sets MOT_CUDA_EMU and EMU_LOG_DIR)")
        return 77
    os.makedirs(a.work, exist_ok=True)
    hf = os.path.join(a.work, "tiny-bf16")
    if not os.path.exists(os.path.join(hf, "config.json")):
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_model.py"), hf, "--preset", "tiny",
                        "--layers", str(LAYERS), "--hidden", "256", "--ffn", "512", "--dtype", "bf16", "--seed", "3"], check=True,
                       stdout=subprocess.DEVNULL)
    models = [("bf16", hf)]
    for name, args in (("q4_k", ["--type", "Q4_K"]), ("mixed", ["--type", "Q4_K", "--mixed"])):
        path = os.path.join(a.work, f"tiny-{name}.gguf")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(TOOLS, "make_gguf.py"), hf, path] + args, check=True,
                           stdout=subprocess.DEVNULL)
        models.append((name, path))
    unfused = os.path.join(a.work, "unfused.yaml")
    with open(unfused, "w") as fh:
        fh.write("fuse: off\n")
    want = PER_LAYER * LAYERS + PER_STEP
    failures = 0
    for name, model in models:
        total, kernels = per_step(a.mot, model, a.work, name, [])
        off, _ = per_step(a.mot, model, a.work, name + "-unfused", ["--schedule", unfused])
        ok = abs(total - want) < 1e-9 and off > total
        failures += not ok
        detail = ", ".join(f"{k.split(' (')[0]} {v:g}" for k, v in sorted(kernels.items()))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {total:g} launches a decode step with the fused ops "
              f"(want {PER_LAYER} x {LAYERS} layers + {PER_STEP} = {want}), {off:g} with fuse: off [{detail}]")
    # A K = 3 MoT pool (make_mot_pool.py's `deep`: experts of 4, 6, 5 layers, 2 stacks, every lane
    # speaking at both): per step the experts' 5 L each, per lane the embedding, LM head and
    # sampler, the step advance, and per stack 4 a lane (forward projection, latent K, V (and the
    # primary's Q) in one GEMV, the latent append, the reverse projection) + 2 (the primary's
    # cross-attention, its split blocks merged by the last, and its o projection).
    out = subprocess.run([sys.executable, os.path.join(TOOLS, "make_mot_pool.py"), os.path.join(a.work, "pool"),
                          "--scenario", "deep"], check=True, capture_output=True, text=True).stdout
    pipeline = out.strip().splitlines()[-1]
    depths, lanes, stacks = [4, 6, 5], 3, 2
    want = PER_LAYER * sum(depths) + 3 * lanes + 1 + stacks * (4 * lanes + 2)
    total, kernels = per_step(a.mot, pipeline, a.work, "pool-deep", [])
    ok = abs(total - want) < 1e-9
    failures += not ok
    detail = ", ".join(f"{k.split(' (')[0]} {v:g}" for k, v in sorted(kernels.items()))
    print(f"{'ok  ' if ok else 'FAIL'} K=3 pool: {total:g} launches a decode step (want {want}: of which the "
          f"interaction {stacks * (4 * lanes + 2)}) [{detail}]")
    print("launch counts: " + ("FAILED" if failures else "all as expected"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
