"""Bad inputs around a MoT pipeline run (`mot run PIPE`, `mot route`, `mot init`): a missing
or mis-shaped MoT weight tensor, a missing weights file, a broken expert folder, bad
--experts / --drop. Each must end with one error line (naming the file, and line:column
where it comes from the pipeline file) and a non-zero exit. YAML syntax and schema errors
are covered by tests/pipeline.

usage: test_pipeline_inputs.py MOT WORK_DIR
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_mot_pool  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
failures = []


def run(args):
    return subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=60)


def expect_error(label, args, *needles):
    p = run(args)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    problems = []
    if p.returncode <= 0:
        problems.append(f"exit status {p.returncode}")
    if len(lines) != 1 or not (lines[0].startswith("error: ") or ": error: " in lines[0]):
        problems.append(f"stderr is not one error line: {p.stderr!r}")
    problems += [f"lacks {n!r}" for n in needles if n not in p.stderr]
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {lines[0] if lines else '(none)'}")
    if problems:
        failures.append(f"{label}: {'; '.join(problems)}")


def variant(name, pipeline, change_weights=None, change_yaml=None):
    """A copy of the pipeline (absolute expert paths) with its own weights file."""
    return make_mot_pool.pipeline_copy(pipeline, os.path.join(WORK, name), change_weights, change_yaml)


def main():
    os.makedirs(WORK, exist_ok=True)
    pipe = make_mot_pool.build(os.path.join(WORK, "pool"), "demo")
    good = variant("good", pipe)
    p = run(["run", good, "-p", "hello", "-n", "2", "-t", "1"])
    if p.returncode != 0:
        failures.append(f"the good pipeline failed: {p.stderr}")

    run_args = lambda path, *extra: ["run", path, "-p", "hello", "-n", "2", "-t", "1", *extra]
    bad = variant("missing_tensor", pipe, lambda t: t.pop("interaction.1.forward.b.weight"))
    expect_error("missing MoT tensor", run_args(bad), "w.safetensors", "interaction.1.forward.b.weight", "missing")
    def reshape(t):
        t["interaction.0.reverse.a.weight"] = t["interaction.0.reverse.a.weight"][:, :-1]
    bad = variant("bad_shape", pipe, reshape)
    expect_error("mis-shaped MoT tensor", run_args(bad), "interaction.0.reverse.a.weight", "expected [", "found [")
    bad = variant("router_shape", pipe, lambda t: t.update({"router.fc2.bias": t["router.fc2.bias"][:2]}))
    expect_error("router scores of the wrong size", run_args(bad), "router.fc2.bias", "expected [3]")
    bad = variant("no_weights", pipe, change_yaml=lambda s: s.replace("weights: w.safetensors", "weights: none.safetensors"))
    expect_error("weights file missing", run_args(bad), "p.yaml:", "none.safetensors", "mot init")
    bad = variant("broken_expert", pipe, change_yaml=lambda s: re.sub(r"path: \S+/experts/a", "path: /nonexistent/a", s))
    expect_error("expert folder missing", run_args(bad), "p.yaml:", "expert 'a'", "/nonexistent/a")

    expect_error("unknown forced expert", run_args(good, "--experts", "a,zz"), "--experts", "zz")
    expect_error("expert forced twice", run_args(good, "--experts", "a,a"), "--experts", "twice")
    expect_error("every expert dropped", run_args(good, "--drop", "a", "--drop", "b", "--drop", "c"), "--drop")
    expect_error("unknown dropped expert", ["route", good, "-p", "x", "--drop", "zz"], "--drop", "zz")
    expect_error("--experts with -m", ["run", "-m", WORK, "-p", "x", "--experts", "a"], "--experts")
    expect_error("pipeline file missing", run_args(os.path.join(WORK, "nope.yaml")), "nope.yaml")
    expect_error("--experts with --drop", run_args(good, "--experts", "a,b", "--drop", "a"), "--drop", "--experts")
    expect_error("-c with a pipeline", run_args(good, "-c", "4"), "-c")
    nul = os.path.join(WORK, "nul.txt")
    open(nul, "wb").write(b"abc\0def")
    expect_error("NUL in a prompt file", ["run", good, "-f", nul], "nul.txt", "NUL")
    expect_error("init bad dtype", ["init", good, "--dtype", "f8"], "--dtype", "f8")

    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("all pipeline bad inputs rejected with one clear line")


main()
