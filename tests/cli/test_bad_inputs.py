"""Every bad input to `mot run` / `mot bench` ends with exactly one line on stderr,
"error: ..." naming the file and the problem, and a non-zero exit status: never a crash, a
hang or a silent wrong answer.

usage: test_bad_inputs.py MOT WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
from backend_bounds import emulated  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
GOOD = os.path.join(WORK, "good")
failures = []


def make_good():
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), GOOD,
                    "--preset", "tiny", "--layers", "2", "--seed", "3"], check=True,
                   stdout=subprocess.DEVNULL)


def variant(name, mutate):
    """A copy of the good model, changed by mutate(dir)."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(GOOD, d)
    mutate(d)
    return d


def edit_json(d, fname, change):
    path = os.path.join(d, fname)
    with open(path) as fh:
        obj = json.load(fh)
    change(obj)
    with open(path, "w") as fh:
        json.dump(obj, fh)


def edit_weights(d, change):
    path = os.path.join(d, "model.safetensors")
    tensors = {k: v.astype("<f4") for k, v in read_safetensors(path).items()}
    change(tensors)
    write_safetensors(path, tensors)


def expect_error(label, args, *needles, env=None):
    """Runs mot (with env added to the environment); it must fail with one 'error:' line
    containing every needle."""
    try:
        p = subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=60,
                           env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        failures.append(f"{label}: hung")
        return
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    problems = []
    if p.returncode == 0:
        problems.append("exit status 0")
    if p.returncode < 0:
        problems.append(f"killed by signal {-p.returncode}")
    if len(lines) != 1 or not lines[0].startswith("error: "):
        problems.append(f"stderr is not one 'error:' line: {p.stderr!r}")
    for n in needles:
        if n not in p.stderr:
            problems.append(f"message lacks {n!r}: {p.stderr.strip()!r}")
    status = "ok  " if not problems else "FAIL"
    print(f"{status} {label}: {lines[0] if lines else '(no output)'}")
    if problems:
        failures.append(f"{label}: " + "; ".join(problems))


def run_args(d, *extra):
    return ["run", "-m", d, "-p", "hello", "-n", "2", "--temp", "0", "-t", "1", *extra]


def main():
    os.makedirs(WORK, exist_ok=True)
    make_good()
    st = "model.safetensors"

    # The good model runs (so that every failure below is caused by its one change).
    ok = subprocess.run([MOT] + run_args(GOOD), capture_output=True, text=True, errors="replace", timeout=60)
    if ok.returncode != 0:
        failures.append(f"good model failed: {ok.stderr}")
    # Weights copied into memory (--no-mmap) or mapped (--mmap) give the same bits.
    dumps = []
    for mode in ("--mmap", "--no-mmap"):
        dump = os.path.join(WORK, f"dump{mode}.safetensors")
        p = subprocess.run([MOT] + run_args(GOOD, mode, "--dump", dump), capture_output=True, text=True,
                           errors="replace", timeout=60)
        if p.returncode != 0:
            failures.append(f"good model with {mode} failed: {p.stderr}")
        dumps.append(open(dump, "rb").read() if os.path.exists(dump) else b"")
    if not dumps[0] or dumps[0] != dumps[1]:
        failures.append("--mmap and --no-mmap dumps differ")

    # NaN weights (a broken checkpoint, or an f16 overflow) are an error (tests/cli/test_limits.py);
    # with --allow-nonfinite they give garbage, never a crash: sampling with top-k must survive
    # NaN logits.
    def nan_rows(t):
        t["lm_head.weight"][:40] = float("nan")  # 40 logits NaN, the rest finite
    d = nan_model = variant("nan_weights", lambda d: edit_weights(d, nan_rows))
    for extra in (["--temp", "0.8", "--top-k", "40"], ["--temp", "0.8", "--top-k", "0", "--top-p", "0.9"], ["--temp", "0"],
                  ["--temp", "0.8", "--top-k", "0", "--top-p", "1", "--min-p", "0.05"]):
        p = subprocess.run([MOT] + run_args(d, "--allow-nonfinite") + extra + ["-p", "hello world hello"],
                           capture_output=True, text=True,
                           errors="replace", timeout=60)
        status = "ok  " if p.returncode == 0 else "FAIL"
        print(f"{status} NaN weights {' '.join(extra)}: exit {p.returncode}")
        if p.returncode != 0:
            failures.append(f"NaN weights {extra}: exit {p.returncode}: {p.stderr.strip()!r}")

    expect_error("missing folder", run_args(os.path.join(WORK, "nope")), "nope", "config.json")
    d = variant("no_config", lambda d: os.remove(os.path.join(d, "config.json")))
    expect_error("missing config.json", run_args(d), "config.json")
    d = variant("config_syntax", lambda d: open(os.path.join(d, "config.json"), "w").write('{"hidden_size": 64,\n  oops}'))
    expect_error("config.json syntax", run_args(d), "config.json:2:", "invalid JSON")
    d = variant("config_missing_key", lambda d: edit_json(d, "config.json", lambda c: c.pop("hidden_size")))
    expect_error("config.json missing key", run_args(d), "config.json", "hidden_size", "missing")
    d = variant("config_type", lambda d: edit_json(d, "config.json", lambda c: c.update(num_hidden_layers="two")))
    expect_error("config.json wrong type", run_args(d), "config.json", "num_hidden_layers")
    d = variant("config_arch", lambda d: edit_json(d, "config.json", lambda c: c.update(model_type="gpt2")))
    expect_error("unsupported model_type", run_args(d), "config.json", "gpt2")
    d = variant("config_rope", lambda d: edit_json(d, "config.json", lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 2.0})))
    expect_error("unsupported rope scaling", run_args(d), "config.json", "yarn")
    # Hostile files (issue 20): a number that does not fit an integer, a FIFO where a file is
    # expected (reading it must not wait for a writer), a device, a sparse file past the limit.
    d = variant("config_huge_number", lambda d: open(os.path.join(d, "config.json"), "w").write(
        open(os.path.join(GOOD, "config.json")).read().replace('"hidden_size": 64', '"hidden_size": 1e300')))
    expect_error("config.json number beyond an integer", run_args(d), "config.json", "hidden_size", "integer")
    def fifo_config(d):
        os.remove(os.path.join(d, "config.json"))
        os.mkfifo(os.path.join(d, "config.json"))
    d = variant("config_fifo", fifo_config)
    expect_error("config.json is a FIFO", run_args(d), "config.json", "not a regular file")
    fifo_gguf = os.path.join(WORK, "fifo.gguf")
    if not os.path.exists(fifo_gguf):
        os.mkfifo(fifo_gguf)
    expect_error("model.gguf is a FIFO", run_args(fifo_gguf), "fifo.gguf", "not a regular file")
    expect_error("prompt file is a device", ["run", "-m", GOOD, "-f", "/dev/zero"], "/dev/zero", "not a regular file")
    big = os.path.join(WORK, "big-prompt.txt")
    with open(big, "wb") as fh:
        fh.truncate(300 << 20)   # sparse: no disk used
    expect_error("prompt file past the size limit", ["run", "-m", GOOD, "-f", big], big,
                 "300 MiB is more than the 16 MiB a prompt file may have")
    os.remove(big)
    d = variant("config_heads", lambda d: edit_json(d, "config.json", lambda c: c.update(num_key_value_heads=3)))
    expect_error("heads not divisible by kv heads", run_args(d), "config.json", "num_key_value_heads")

    d = variant("no_weights", lambda d: os.remove(os.path.join(d, st)))
    expect_error("missing weights", run_args(d), "model.safetensors")
    def truncate(d):
        p = os.path.join(d, st)
        os.truncate(p, os.path.getsize(p) // 2)
    d = variant("truncated", truncate)
    expect_error("truncated safetensors", run_args(d), st, "truncated")
    def huge_header(d):
        p = os.path.join(d, st)
        with open(p, "r+b") as fh:
            fh.write((10**12).to_bytes(8, "little"))
    d = variant("header_len", huge_header)
    expect_error("header length beyond the file", run_args(d), st, "header")
    def lying(d):
        p = os.path.join(d, st)
        with open(p, "r+b") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
            name = next(k for k in header if k != "__metadata__")
            header[name]["shape"][0] += 1   # claims more values than its byte range holds
            text = json.dumps(header, separators=(",", ":")).encode()
            text += b" " * (n - len(text)) if len(text) <= n else b""
            if len(text) != n:
                raise SystemExit("test setup: header grew")
            fh.seek(8)
            fh.write(text)
    d = variant("lying", lying)
    expect_error("header lies about a size", run_args(d), st)
    d = variant("missing_tensor", lambda d: edit_weights(d, lambda t: t.pop("model.layers.1.mlp.up_proj.weight")))
    expect_error("missing tensor", run_args(d), "model.layers.1.mlp.up_proj.weight", "missing")
    d = variant("bad_shape", lambda d: edit_weights(d, lambda t: t.update({"model.norm.weight": t["model.norm.weight"][:-1]})))
    expect_error("mis-shaped tensor", run_args(d), "model.norm.weight", "expected [", "found [")
    d = variant("bad_dtype", lambda d: edit_weights(d, lambda t: t.update({"model.norm.weight": t["model.norm.weight"].astype("<i4")})))
    expect_error("integer tensor", run_args(d), "model.norm.weight", "I32")

    def shard_missing(d):
        tensors = read_safetensors(os.path.join(d, st))
        os.remove(os.path.join(d, st))
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
            json.dump({"metadata": {}, "weight_map": {k: "model-00001-of-00002.safetensors" for k in tensors}}, fh)
    d = variant("shard_missing", shard_missing)
    expect_error("index names a missing shard", run_args(d), "model-00001-of-00002.safetensors")

    d = variant("no_tokenizer", lambda d: os.remove(os.path.join(d, "tokenizer.json")))
    expect_error("missing tokenizer.json", run_args(d), "tokenizer.json")
    d = variant("tok_unsupported", lambda d: edit_json(d, "tokenizer.json", lambda t: t.update(pre_tokenizer={"type": "Whitespace"})))
    expect_error("unsupported tokenizer component", run_args(d), "tokenizer.json", "Whitespace")
    d = variant("tok_model", lambda d: edit_json(d, "tokenizer.json", lambda t: t["model"].update(type="WordPiece")))
    expect_error("unsupported tokenizer model", run_args(d), "tokenizer.json", "WordPiece")

    expect_error("unknown flag", run_args(GOOD, "--frobnicate"), "--frobnicate")
    expect_error("bad number", run_args(GOOD, "--temp", "hot"), "--temp", "hot")
    expect_error("out of range", run_args(GOOD, "--top-p", "1.5"), "--top-p")
    expect_error("min-p out of range", run_args(GOOD, "--min-p", "1.5"), "--min-p")
    expect_error("min-p not a number", run_args(GOOD, "--min-p", "low"), "--min-p", "low")
    expect_error("missing value", ["run", "-m", GOOD, "-p"], "-p")
    expect_error("no prompt", ["run", "-m", GOOD], "prompt")
    expect_error("context too small", run_args(GOOD, "-c", "2"), "context")
    expect_error("prompt file missing", ["run", "-m", GOOD, "-f", os.path.join(WORK, "none.txt")], "none.txt")
    expect_error("bench bad output", ["bench", "-m", GOOD, "-o", "xml"], "-o", "xml")
    expect_error("bench missing model", ["bench", "-m", os.path.join(WORK, "nope")], "nope")
    expect_error("unknown command", ["frob"], "frob")
    expect_error("bad backend", run_args(GOOD, "--backend", "tpu"), "--backend", "tpu", "cpu or cuda")
    expect_error("bad lane mode", run_args(GOOD, "--lanes", "parallel"), "--lanes", "serial or concurrent")
    expect_error("bench bad backend", ["bench", "-m", GOOD, "--backend", "gpu"], "--backend", "gpu")
    module = os.path.join(os.path.dirname(os.path.abspath(MOT)), "libmot-cuda.so")
    # A device: a GPU, or the CPU emulation's module (MOT_CUDA_EMU=1, tests/tools/cuda_emu).
    device = shutil.which("nvidia-smi") or emulated()
    if not device:
        # No GPU here: in a CUDA build the library loads and says there is no device (so its
        # symbols resolved against mot's); without CUDA, that the build has none.
        expect_error("cuda without a device", run_args(GOOD, "--backend", "cuda"), "--backend cuda",
                     "no CUDA device" if os.path.exists(module) else "has no CUDA backend")
    elif os.path.exists(module) or os.environ.get("MOT_CUDA_MODULE"):
        # A device (or the CPU emulation's module): --backend cuda runs, NaN logits included.
        for label, args in (("cuda runs", run_args(GOOD)),
                            ("cuda NaN weights --top-k 40", run_args(nan_model, "--allow-nonfinite", "--temp", "0.8",
                                                                     "--top-k", "40")),
                            ("cuda NaN weights --temp 0", run_args(nan_model, "--allow-nonfinite"))):
            p = subprocess.run([MOT] + args + ["--backend", "cuda"], capture_output=True, text=True,
                               errors="replace", timeout=120)
            print(f"{'ok  ' if p.returncode == 0 else 'FAIL'} {label}: exit {p.returncode}")
            if p.returncode != 0:
                failures.append(f"{label}: exit {p.returncode}: {p.stderr.strip()!r}")
    if os.path.exists(module):
        missing = os.path.join(WORK, "no-such-lib.so")
        expect_error("cuda library missing", run_args(GOOD, "--backend", "cuda"), "cannot load", missing,
                     env={"MOT_CUDA_MODULE": missing})
        expect_error("cuda library not mot's", run_args(GOOD, "--backend", "cuda"), "libm.so.6",
                     "mot_gpu_api_cuda_create", env={"MOT_CUDA_MODULE": "libm.so.6"})

    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("all bad inputs rejected with one clear line")


main()
