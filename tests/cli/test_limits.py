"""Resource limits and non-finite numbers (issue 20, "hostile inputs"): each ends with one
error line naming the file or flag, the value and what was expected, and a non-zero exit
status (1 for a bad file, 2 for a bad command line: docs/cli.md), quickly; never a crash, a
31-second run on 4096 threads or a silent wrong answer.

- NaN/inf in a model's weights: an error at the first logits, `--allow-nonfinite` goes on;
- NaN in the router's weights (the scores would route by accident): an error naming them;
- threads past the limit (4 per available core) in -t, a schedule file and a pipeline's
  schedule;
- config.json sizes past the limits (model/config.h): the key, the value and the range;
- a huge max_position_embeddings: runs (the KV cache is lazily zeroed memory) or says to
  lower -c;
- a tokenizer that gives ids past the config's vocabulary: exit 1 (a bad file).

usage: test_limits.py MOT WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_mot_pool  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
GOOD = os.path.join(WORK, "good")
failures = []


def run(args, timeout=60):
    t0 = time.time()
    try:
        p = subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, timeout
    return p, time.time() - t0


def expect_error(label, args, status, *needles, max_seconds=20):
    """mot must exit with `status` after one error line holding every needle."""
    p, seconds = run(args)
    if p is None:
        failures.append(f"{label}: hung")
        print(f"FAIL {label}: hung")
        return
    # "mot: ..." lines (the seed, a pipeline's routing) are progress, not errors.
    lines = [l for l in p.stderr.splitlines() if l.strip() and not l.startswith("mot: ")]
    problems = []
    if p.returncode != status:
        problems.append(f"exit status {p.returncode}, expected {status}")
    if len(lines) != 1 or not (lines[0].startswith("error: ") or ": error: " in lines[0]):
        problems.append(f"stderr is not one error line: {p.stderr!r}")
    problems += [f"lacks {n!r}" for n in needles if n not in p.stderr]
    if seconds > max_seconds:
        problems.append(f"took {seconds:.1f} s")
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {lines[0] if lines else '(none)'}")
    if problems:
        failures.append(f"{label}: {'; '.join(problems)}")


def expect_ok(label, args):
    p, _ = run(args)
    good = p is not None and p.returncode == 0
    print(f"{'ok  ' if good else 'FAIL'} {label}: exit {p.returncode if p else 'hung'}")
    if not good:
        failures.append(f"{label}: {p.stderr.strip() if p else 'hung'!r}")
    return p


def variant(name, change_config=None, change_weights=None):
    """A copy of the good model with config.json and/or the weights changed."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(GOOD, d)
    if change_config:
        path = os.path.join(d, "config.json")
        cfg = json.load(open(path))
        change_config(cfg)
        json.dump(cfg, open(path, "w"))
    if change_weights:
        path = os.path.join(d, "model.safetensors")
        tensors = {k: v.astype("<f4") for k, v in read_safetensors(path).items()}
        change_weights(tensors)
        write_safetensors(path, tensors)
    return d


def pipeline_variant(name, pipeline, change_weights=None, extra_yaml=""):
    """A copy of the pipeline (absolute expert paths) with its own MoT weights file."""
    return make_mot_pool.pipeline_copy(pipeline, os.path.join(WORK, name), change_weights,
                                       lambda text: text + extra_yaml)


def run_args(d, *extra):
    return ["run", "-m", d, "-p", "hello world", "-n", "2", "--temp", "0", "-t", "1", *extra]


def main():
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), GOOD,
                    "--preset", "tiny", "--layers", "2", "--seed", "3"], check=True, stdout=subprocess.DEVNULL)
    expect_ok("the good model", run_args(GOOD))

    # ---- non-finite weights: one NaN in a layer's weight, an inf in the final norm ----
    def one_nan(t):
        t["model.layers.0.mlp.down_proj.weight"][3, 5] = float("nan")
    nan_model = variant("nan_weight", change_weights=one_nan)
    expect_error("a NaN weight", run_args(nan_model), 1, "expert 'nan_weight'", "logits contain NaN/inf at step 0",
                 "--allow-nonfinite")
    expect_error("a NaN weight, sampling", run_args(nan_model, "--temp", "0.8", "--top-k", "40"), 1,
                 "logits contain NaN/inf")
    expect_ok("a NaN weight with --allow-nonfinite", run_args(nan_model, "--allow-nonfinite"))
    def inf_norm(t):
        t["model.norm.weight"][0] = float("inf")
    expect_error("an inf norm weight", run_args(variant("inf_norm", change_weights=inf_norm)), 1,
                 "logits contain NaN/inf")
    expect_error("bench with a NaN weight", ["bench", "-m", nan_model, "-p", "4", "-n", "2", "-r", "1", "-t", "1"], 1,
                 "logits contain NaN/inf")
    expect_ok("bench with a NaN weight and --allow-nonfinite",
              ["bench", "-m", nan_model, "-p", "4", "-n", "2", "-r", "1", "-t", "1", "--allow-nonfinite"])

    # ---- MoT pipeline: NaN in the router's weights, in an interaction layer ----
    pipe = make_mot_pool.build(os.path.join(WORK, "pool"), "demo")
    good_pipe = pipeline_variant("pipe_good", pipe)
    expect_ok("the good pipeline", ["run", good_pipe, "-p", "hello", "-n", "2", "-t", "1"])
    def nan_router(t):
        t["router.fc1.weight"][0, 0] = float("nan")
    bad_router = pipeline_variant("pipe_nan_router", pipe, nan_router)
    expect_error("route with a NaN router weight", ["route", bad_router, "-p", "hello"], 1,
                 "router: scores [nan", "router.fc1", "w.safetensors", "--allow-nonfinite")
    expect_error("run with a NaN router weight", ["run", bad_router, "-p", "hello", "-n", "2", "-t", "1"], 1,
                 "router.fc1")
    expect_ok("route with a NaN router weight and --allow-nonfinite",
              ["route", bad_router, "-p", "hello", "--allow-nonfinite"])
    expect_ok("a forced set skips the router", ["run", bad_router, "-p", "hello", "-n", "2", "-t", "1",
                                                "--experts", "a,b"])
    def nan_interaction(t):
        name = next(k for k in sorted(t) if k.startswith("interaction.0.forward.") and k.endswith(".weight"))
        t[name][0, 0] = float("nan")
    bad_inter = pipeline_variant("pipe_nan_interaction", pipe, nan_interaction)
    expect_error("a NaN interaction weight", ["run", bad_inter, "-p", "hello", "-n", "2", "-t", "1"], 1,
                 "logits contain NaN/inf")
    expect_ok("a NaN interaction weight with --allow-nonfinite",
              ["run", bad_inter, "-p", "hello", "-n", "2", "-t", "1", "--allow-nonfinite"])

    # ---- threads: at most 4 per available core ----
    expect_error("-t 4096", run_args(GOOD, "-t", "4096"), 2, "-t: 4096 is more than", "per core", max_seconds=5)
    expect_error("bench -t 4096", ["bench", "-m", GOOD, "-t", "4096"], 2, "-t: 4096", max_seconds=5)
    sched = os.path.join(WORK, "many-threads.yaml")
    open(sched, "w").write("threads: 4096\n")
    expect_error("schedule threads: 4096", run_args(GOOD, "--schedule", sched), 1,
                 "many-threads.yaml:1:10: error: threads: 4096 is more than", max_seconds=5)
    lanes = os.path.join(WORK, "many-lane-threads.yaml")
    open(lanes, "w").write("lanes: concurrent\nthreads_per_lane: [1, 4096]\n")
    expect_error("schedule threads_per_lane: 4096", run_args(GOOD, "--schedule", lanes), 1,
                 "threads_per_lane[1]: 4096 is more than", max_seconds=5)
    pipe_sched = pipeline_variant("pipe_threads", pipe, extra_yaml=f"schedule: {sched}\n")
    expect_error("a pipeline's schedule with threads: 4096", ["run", pipe_sched, "-p", "hello", "-n", "2"], 1,
                 "many-threads.yaml:1:10", "threads: 4096", max_seconds=10)

    # ---- config.json sizes past the limits ----
    d = variant("huge_layers", change_config=lambda c: c.update(num_hidden_layers=2147483647))
    expect_error("num_hidden_layers 2147483647", run_args(d), 1,
                 "config.json: num_hidden_layers = 2147483647 is out of range (1..4096)", max_seconds=5)
    d = variant("huge_hidden", change_config=lambda c: c.update(hidden_size=1 << 30))
    expect_error("hidden_size 2^30", run_args(d), 1, "config.json: hidden_size = 1073741824 is out of range",
                 max_seconds=5)
    d = variant("huge_context_key", change_config=lambda c: c.update(max_position_embeddings=2147483647))
    expect_error("max_position_embeddings 2147483647", run_args(d), 1,
                 "config.json: max_position_embeddings = 2147483647 is out of range (1..16777216)", max_seconds=5)
    # The largest context allowed: it runs (the KV cache's pages are never touched), or the
    # error says how much memory the context needs and to lower -c.
    d = variant("big_context", change_config=lambda c: c.update(max_position_embeddings=1 << 24))
    p, _ = run(run_args(d))
    if p is None or (p.returncode != 0 and not ("-c" in p.stderr and "MiB" in p.stderr)):
        failures.append(f"max_position_embeddings 2^24: {p.stderr.strip() if p else 'hung'!r}")
        print(f"FAIL max_position_embeddings 2^24: {p.stderr.strip() if p else 'hung'}")
    else:
        print(f"ok   max_position_embeddings 2^24: exit {p.returncode} {p.stderr.strip()[:160]}")
    expect_ok("max_position_embeddings 2^24 with -c 64", run_args(d, "-c", "64"))

    # ---- the tokenizer gives ids past the config's vocabulary: a bad file, exit 1 ----
    def shrink(t):
        t["model.embed_tokens.weight"] = t["model.embed_tokens.weight"][:200]
        t["lm_head.weight"] = t["lm_head.weight"][:200]
    def small_vocab(c):
        c.update(vocab_size=200, bos_token_id=1, eos_token_id=2)
    d = variant("vocab_mismatch", change_config=small_vocab, change_weights=shrink)
    expect_error("tokenizer past the vocabulary", run_args(d, "-p", "hello world " * 8), 1,
                 "vocab_mismatch", "outside the model's vocabulary [0, 200)")

    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("every limit and non-finite input rejected with one clear line")


main()
