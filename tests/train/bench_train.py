#!/usr/bin/python3
"""Training throughput: `mot train` against the same step in PyTorch f32, on one pool and data.

    bench_train.py --mot MOT --work DIR [--pool test|big] [--scenario norm_bias]
                   [--steps 4] [--batch 2] [--threads 2] [--reps 3] [--n 8] [--backend cpu|cuda]

Both sides run the same --steps optimizer steps on the same examples (file order, no
shuffle), the same Gumbel noise (a --noise file) and no dropout:
- mot: `mot train PIPE --data D --noise N --batch B --steps S --no-shuffle --dropout 0
  -t THREADS`; its last progress line's tok/s (tokens of all steps / seconds since the loop
  began: the load is not counted).
- PyTorch: tests/reference/train_ref.py's step in float32 (TrainRef(dtype=float32).adamw:
  the forward of both routed sets, one backward of the total loss, clip_grad_norm_, AdamW),
  torch.set_num_threads(THREADS), timed from the first step to the last (load not counted).
With --backend cuda, mot trains with `--backend cuda` and PyTorch runs on the GPU (eager,
the tensors on torch's default device "cuda", each step synchronized before the clock
stops); the CPU threads still apply to both hosts' work.
Tokens are counted the same way on both sides, as mot's tokens_all (train/train_step.c): per
example, the primary's completion tokens once for the set-0 pass, and once more when the
set-1 pass runs (the two sets share the primary, so L_con is computed).
Peak memory: each side runs in its own process; its peak RSS is the process's ru_maxrss
(os.wait4 on the child). --wait-policy sets OMP_WAIT_POLICY for both sides (both use
libgomp; on a machine shared with other work, spinning team threads cost a lot: see
docs/benchmarks.md, issue 19). Each configuration runs --reps times, back to back (mot, then
PyTorch, repeated), and the medians are printed.

Pools: `test` is tests/tools/make_mot_pool.py's --scenario (tiny experts, the ctest pool);
`big` is three experts of make_model.py's real shapes cut to fewer layers (bf16 weights, as
Hugging Face checkpoints ship: smollm-135m-shaped 8 layers ~56M parameters; a 512-wide
6-layer one ~40M; a 384-wide 6-layer tinyllama-shaped one ~21M), K = 2, two interaction
stacks of width 256, and longer examples (prompts of 15-30 words, completions of 8-16: ~100-200 tokens).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tests", "tools")
REFERENCE = os.path.join(ROOT, "tests", "reference")
PY = sys.executable

BIG_EXPERTS = {
    "a": ["--preset", "smollm-135m", "--layers", "8", "--dtype", "bf16", "--seed", "21"],
    "b": ["--preset", "smollm-135m", "--layers", "6", "--hidden", "512", "--heads", "8",
          "--kv-heads", "4", "--ffn", "1376", "--vocab", "32768", "--untied", "--dtype", "bf16",
          "--seed", "22"],
    "c": ["--preset", "tinyllama-1.1b", "--layers", "6", "--hidden", "384", "--heads", "6",
          "--kv-heads", "2", "--ffn", "1024", "--vocab", "32000", "--dtype", "bf16",
          "--seed", "23"],
}
BIG = dict(experts=[dict(name=n) for n in BIG_EXPERTS],
           router=dict(encoder="mean-embed", expert="c", hidden=256, top_k=2),
           interaction=dict(stacks=2, placement="uniform", shared_dim=256, heads=4,
                            norm="layernorm"),
           weights=dict(seed=5, biases=True, dtype="f32"))

WORDS = ["cat", "dog", "sun", "tree", "river", "stone", "cloud", "apple", "green", "light",
         "house", "bread", "music", "paper", "night", "window", "garden", "yellow", "winter",
         "morning", "table", "letter", "bridge", "silver", "forest", "ocean", "mountain"]


def run(cmd):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        sys.exit(f"FAIL: {' '.join(map(str, cmd))} exited with {proc.returncode}")
    return proc.stdout


def build_big_pool(pool):
    """-> the pipeline path of the big pool (built once; experts are reused)."""
    sys.path.insert(0, TOOLS)
    sys.path.insert(0, REFERENCE)
    import make_mot_pool as mp
    os.makedirs(pool, exist_ok=True)
    hidden = {}
    for name, flags in BIG_EXPERTS.items():
        d = os.path.join(pool, "experts", name)
        run([PY, os.path.join(TOOLS, "make_model.py"), d] + flags)
        with open(os.path.join(d, "config.json")) as fh:
            hidden[name] = json.load(fh)["hidden_size"]
    weights = os.path.join(pool, "big.mot.safetensors")
    if not os.path.exists(weights):
        mp.write_weights_file(weights, mp.mot_weights(BIG, hidden), "f32")
    doc = {"name": "bench-big",
           "experts": [{"name": n, "path": f"experts/{n}"} for n in BIG_EXPERTS],
           "router": BIG["router"], "interaction": BIG["interaction"],
           "weights": "big.mot.safetensors"}
    path = os.path.join(pool, "big.yaml")
    mp.write_yaml(path, doc)
    return path


def long_examples(path, n, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            p = " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(15, 31))))
            c = " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(8, 17))))
            fh.write(json.dumps({"prompt": "summarize: " + p + " ->", "completion": " " + c}) + "\n")


def timed(cmd, env=None):
    """-> (stdout, stderr, seconds) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(out + err)
        sys.exit(f"FAIL: {' '.join(map(str, cmd))} exited with {proc.returncode}")
    return out, err, wall


def mot_once(a, pipe, data, noise, work, env):
    out_w = os.path.join(work, "mot.safetensors")
    cmd = [a.mot, "train", pipe, "--data", data, "--noise", noise, "--batch", a.batch, "--steps",
           a.steps, "--no-shuffle", "--dropout", "0", "-t", a.threads, "-o", out_w, "--force",
           "--backend", a.backend]
    wrapper = [PY, os.path.abspath(__file__), "--rss-of"] + cmd
    out, err, _ = timed(wrapper, env)
    rate = None
    for line in err.splitlines():
        if line.startswith("step ") and "tok/s" in line:
            rate = float(line.split("tok/s")[0].split("|")[-1])
    res = json.loads(out.strip().splitlines()[-1])
    if rate is None:
        sys.exit("FAIL: mot train printed no progress line:\n" + err)
    return rate, res["rss_mib"]


def torch_worker(a):
    """Runs in its own process: prints {tok_s, tokens, seconds, rss_mib, mean_len}."""
    import torch
    torch.set_num_threads(a.threads)
    sys.path.insert(0, REFERENCE)
    import train_ref as T
    device = None
    if a.backend == "cuda":
        if not torch.cuda.is_available():
            sys.exit("FAIL: --backend cuda: torch sees no GPU")
        device = "cuda"
        torch.set_default_device(device)
    tr = T.TrainRef.load(a.pipe, dtype=torch.float32, device=device)
    data = T.read_jsonl(a.data)
    g0, g1 = (g.to(device) for g in T.read_noise(a.noise)) if device else T.read_noise(a.noise)
    count = {"tokens": 0, "t0": None}
    lens = []

    def on_step(step, lr, out, opt):
        ex = [data[i] for i in T.batch_indices(step, a.batch, len(data))]
        for b, (prompt, completion) in enumerate(ex):
            p = out["active0"][b][0]
            seq, n = tr.tokens(p, prompt, completion)
            lens.append(len(seq))
            count["tokens"] += (len(seq) - n) * (1 + (out["active1"][b][0] == p))

    t0 = time.perf_counter()
    tr.adamw(data, g0, g1, a.batch, a.steps, 5e-5, 0, on_step=on_step)
    if device:
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(tok_s=count["tokens"] / secs, tokens=count["tokens"], seconds=secs,
                          rss_mib=rss, mean_len=sum(lens) / len(lens))))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--rss-of":   # run argv[1:], print its peak RSS as JSON
        proc = subprocess.Popen(argv[1:])
        _, status, ru = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(json.dumps(dict(rss_mib=ru.ru_maxrss / 1024)))
        return code
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mot")
    ap.add_argument("--work", required=True)
    ap.add_argument("--pool", choices=("test", "big"), default="test")
    ap.add_argument("--scenario", default="norm_bias", help="the test pool's scenario")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=8, help="examples in the data file")
    ap.add_argument("--only", choices=("mot", "torch"), help="time one side only")
    ap.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                    help="where both sides train (cuda: mot --backend cuda, PyTorch on the GPU)")
    ap.add_argument("--wait-policy", choices=("default", "passive", "active"), default="default",
                    help="OMP_WAIT_POLICY for both sides (default: leave it unset)")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pipe", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--noise", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.torch_worker:
        torch_worker(a)
        return 0
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, f"{a.pool}.jsonl")
    if a.pool == "test":
        pipe = run([PY, os.path.join(TOOLS, "make_mot_pool.py"), os.path.join(work, "pool"),
                    "--scenario", a.scenario]).strip().splitlines()[-1]
        run([PY, os.path.join(HERE, "make_train_data.py"), data, "--n", a.n, "--seed", 0])
        label = f"test/{a.scenario}"
    else:
        pipe = build_big_pool(os.path.join(work, "big-pool"))
        long_examples(data, a.n, 0)
        label = "big"
    sys.path.insert(0, REFERENCE)
    from mot_ref import Pipeline
    M = len(Pipeline(pipe).names)
    noise = os.path.join(work, f"{a.pool}-noise.safetensors")
    run([PY, os.path.join(REFERENCE, "train_ref.py"), "noise", "--steps", a.steps, "--batch",
         a.batch, "--experts", M, "--seed", 1, "--out", noise])
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    env.pop("OMP_WAIT_POLICY", None)
    if a.wait_policy != "default":
        env["OMP_WAIT_POLICY"] = a.wait_policy
    mot_r, mot_m, pt_r, pt_m, info = [], [], [], [], {}
    for rep in range(a.reps):
        if a.only != "torch":
            r, m = mot_once(a, pipe, data, noise, work, env)
            mot_r.append(r), mot_m.append(m)
            print(f"rep {rep}: mot {r:.1f} tok/s, peak RSS {m:.0f} MiB", flush=True)
        if a.only != "mot":
            out, _, _ = timed([PY, os.path.abspath(__file__), "--work", work, "--torch-worker",
                               "--pipe", pipe, "--data", data, "--noise", noise, "--batch",
                               a.batch, "--steps", a.steps, "--threads", a.threads,
                               "--backend", a.backend], env)
            info = json.loads(out.strip().splitlines()[-1])
            pt_r.append(info["tok_s"]), pt_m.append(info["rss_mib"])
            print(f"rep {rep}: pytorch f32 ({a.backend}) {info['tok_s']:.1f} tok/s, peak RSS "
                  f"{info['rss_mib']:.0f} MiB ({info['tokens']} tokens, mean sequence "
                  f"{info['mean_len']:.0f} tokens)", flush=True)
    med = lambda x: statistics.median(x) if x else float("nan")  # noqa: E731
    tok_step = info.get("tokens", 0) / a.steps if info else float("nan")
    print(f"| {label} | {a.backend} | OMP_WAIT_POLICY {a.wait_policy} | B={a.batch} | {tok_step:.0f} tok/step | mot {med(mot_r):.1f} tok/s | "
          f"pytorch f32 {med(pt_r):.1f} tok/s | ratio {med(mot_r) / med(pt_r):.2f} | "
          f"RSS mot {med(mot_m):.0f} MiB, pytorch {med(pt_m):.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
