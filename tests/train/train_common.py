"""Shared steps of the training drivers (test_train_grads.py, test_train_adamw.py): build the
pool, the data and the noise, run a command, and small helpers. Paths are absolute."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.path.join(ROOT, "tests", "reference")
MAKE_POOL = os.path.join(ROOT, "tests", "tools", "make_mot_pool.py")
MAKE_DATA = os.path.join(HERE, "make_train_data.py")
TRAIN_REF = os.path.join(REFERENCE, "train_ref.py")
PY = sys.executable
sys.path.insert(0, REFERENCE)


def run(cmd, what):
    """Runs cmd; on failure prints its output and exits 1 naming `what`."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        print(f"FAIL: {what} exited with {proc.returncode}: {' '.join(map(str, cmd))}")
        sys.exit(1)
    return proc.stdout


def setup(args, steps):
    """-> (pipeline, data, noise, M): the pool's scenario, make_train_data's examples
    (--n, --data-seed), train_ref's Gumbel noise for `steps` steps (--noise-seed)."""
    from mot_ref import Pipeline
    os.makedirs(args.work, exist_ok=True)
    pipeline = run([PY, MAKE_POOL, args.pool, "--scenario", args.scenario],
                   "make_mot_pool.py").strip().splitlines()[-1]
    data = os.path.join(args.work, "train.jsonl")
    run([PY, MAKE_DATA, data, "--n", max(args.n, args.batch), "--seed", args.data_seed],
        "make_train_data.py")
    M = len(Pipeline(pipeline).names)
    noise = os.path.join(args.work, "noise.safetensors")
    seed = choose_noise_seed(pipeline, data, args.batch, steps, args.noise_seed)
    run([PY, TRAIN_REF, "noise", "--steps", steps, "--batch", args.batch, "--experts", M,
         "--seed", seed, "--out", noise], "train_ref.py noise")
    return pipeline, data, noise, M


def choose_noise_seed(pipeline, data, batch, steps, first, tries=100):
    """The first seed from `first` on whose noise makes L_con act at step 0: an example
    whose two sets share the primary and (when K < M) differ in the rest, so p0 != p1.
    Only the router runs (cheap). Falls back to `first`, with a note."""
    import torch
    import train_ref as T
    tr = T.TrainRef.load(pipeline)
    ex = T.read_jsonl(data)
    ex = [ex[i] for i in T.batch_indices(0, batch, len(ex))]
    K = tr.ref.pipe.top_k
    with torch.no_grad():
        scores = [tr.ref.router_scores(p) for p, _ in ex]
    for seed in range(first, first + tries):
        n = T.make_noise(steps, batch, tr.M, seed)
        g0, g1 = (torch.as_tensor(n[k][0], dtype=torch.float64) for k in ("gumbel0", "gumbel1"))
        for b, s in enumerate(scores):
            a0 = tr.route(s, g0[b])[0]
            a1 = tr.route(s, g1[b])[0]
            if a0[0] == a1[0] and (K == tr.M or K == 1 or set(a0) != set(a1)):
                if seed != first:
                    print(f"note: noise seed {seed} (the first from {first} under which L_con acts)")
                return seed
    print(f"note: no noise seed in [{first}, {first + tries}) makes L_con act; using {first}")
    return first


def common_args(ap):
    ap.add_argument("--mot", help="the mot binary (leave out with --ref-only)")
    ap.add_argument("--pool", required=True, help="pool folder (make_mot_pool.py)")
    ap.add_argument("--scenario", default="norm_bias")
    ap.add_argument("--work", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--n", type=int, default=8, help="examples in the data file")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--noise-seed", type=int, default=1)
    ap.add_argument("--ref-only", action="store_true",
                    help="run only the reference half (no mot)")
