#!/usr/bin/python3
"""Malformed GGUF files (tests/tools/malformed_gguf.py) against `mot run`, or on their own.

    test_malformed.py --self-check DIR      the files are what the manifest claims (no mot)
    test_malformed.py --mot MOT DIR         every file: `mot run -m FILE -p x` exits non-zero
                                            with one `error:` line holding the manifest's
                                            substrings; the valid base runs

The self-check reads each file with the `gguf` package (llama.cpp's reader): the structural
damage must make it refuse the file, and the damage it does not look for (semantic: wrong
architecture, a missing key or tensor, a wrong shape, overlapping or unaligned data, dims of
0, nesting) must be present exactly as described in a file that is otherwise sound.
"""
import argparse
import json
import os
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")
sys.path.insert(0, TOOLS)
import gguf_bytes as gb  # noqa: E402

REFUSED_BY_GGUF_PY = {"bad_magic", "version_1", "version_4", "truncated_header", "empty",
                      "huge_tensor_count", "huge_kv_count", "truncated_metadata",
                      "string_past_end", "array_past_end", "unknown_value_type",
                      "duplicate_key", "unknown_tensor_type", "n_dims_0", "n_dims_5",
                      "dim_negative", "dim_overflow", "ne0_not_block", "data_past_end",
                      "truncated_data", "duplicate_tensor"}


def make(dir_):
    subprocess.run([sys.executable, os.path.join(TOOLS, "malformed_gguf.py"), dir_], check=True)
    with open(os.path.join(dir_, "manifest.json")) as fh:
        return json.load(fh)


def semantic_damage(stem, f, base):
    """-> None when the parsed file f shows exactly the damage `stem` names."""
    q = f.tensor("blk.0.attn_q.weight")
    names = [t.name for t in f.tensors]
    keys = [kv.key for kv in f.kvs]
    checks = {
        "arch_gpt2": lambda: f.kv("general.architecture").value == "gpt2" and "gpt2.block_count" in keys,
        "arch_qwen2": lambda: f.kv("general.architecture").value == "qwen2",
        "missing_block_count": lambda: "llama.block_count" not in keys and len(keys) == len(base.kvs) - 1,
        "block_count_string": lambda: f.kv("llama.block_count").vtype == gb.STRING,
        "eps_underflow": lambda: f.kv("llama.attention.layer_norm_rms_epsilon").value == 1e-50,
        "nested_too_deep": lambda: f.kv("test.deep").vtype == gb.ARRAY,
        "dim_zero": lambda: q.dims == [64, 0],
        "wrong_shape": lambda: q.dims == [64, 65],
        "missing_tensor": lambda: "blk.1.ffn_down.weight" not in names and len(names) == len(base.tensors) - 1,
        "offset_unaligned": lambda: True,   # offsets are checked from the raw infos below
        "overlap": lambda: True,
    }
    if stem not in checks:
        return f"no check for {stem}"
    return None if checks[stem]() else f"{stem}: the damage is not as described"


def raw_offsets(path):
    """{tensor name: offset} straight from the tensor infos."""
    import gguf
    r = gguf.GGUFReader(path)
    return {t.name: int(t.data_offset) - int(r.data_offset) for t in r.tensors}


def self_check(dir_):
    import gguf
    manifest = make(dir_)
    failures = []
    base_path = os.path.join(dir_, manifest["valid"])
    base = gb.parse(open(base_path, "rb").read())
    gguf.GGUFReader(base_path)
    for case in manifest["cases"]:
        path = os.path.join(dir_, case["file"])
        stem = case["file"][:-len(".gguf")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                gguf.GGUFReader(path)
                refused = None
            except Exception as e:  # noqa: BLE001 - any refusal will do
                refused = f"{type(e).__name__}: {str(e)[:80]}"
        problem = None
        if stem in REFUSED_BY_GGUF_PY:
            if refused is None:
                problem = "gguf.GGUFReader accepted it"
        elif refused is not None:
            problem = f"gguf.GGUFReader refused it ({refused}), but only {case['what']} is wrong"
        else:
            problem = semantic_damage(stem, gb.parse(open(path, "rb").read()), base)
            offs = raw_offsets(path)
            if stem == "offset_unaligned" and offs["blk.0.attn_k.weight"] % 32 != 4:
                problem = "attn_k's offset is aligned"
            if stem == "overlap" and offs["blk.0.attn_k.weight"] != offs["blk.0.attn_q.weight"]:
                problem = "attn_k does not start at attn_q"
        if not case["expect"] or case["expect"][0] != case["file"]:
            problem = "expect does not start with the file's name"
        print(f"{'ok  ' if not problem else 'FAIL'} {case['file']}: {case['what']}"
              f"{' (' + refused + ')' if refused and not problem else ''}{': ' + problem if problem else ''}")
        if problem:
            failures.append(case["file"])
    return failures


def matches(line, expect):
    low = line.lower()
    return [e for e in expect
            if not any(alt.lower() in low for alt in (e if isinstance(e, list) else [e]))]


def against_mot(mot, dir_):
    manifest = make(dir_)
    failures = []
    valid = os.path.join(dir_, manifest["valid"])
    r = subprocess.run([mot, "run", "-m", valid, "-p", "x", "-n", "2", "--temp", "0"],
                       capture_output=True, text=True, errors="replace", timeout=60)
    if r.returncode != 0:
        print(f"FAIL the valid base: mot exited {r.returncode}: {r.stderr.strip()}")
        failures.append(manifest["valid"])
    for case in manifest["cases"]:
        path = os.path.join(dir_, case["file"])
        try:
            r = subprocess.run([mot, "run", "-m", path, "-p", "x", "-n", "2"],
                               capture_output=True, text=True, errors="replace", timeout=60)
        except subprocess.TimeoutExpired:
            print(f"FAIL {case['file']}: hung")
            failures.append(case["file"])
            continue
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        problems = []
        if r.returncode == 0:
            problems.append("exit status 0")
        elif r.returncode < 0:
            problems.append(f"killed by signal {-r.returncode}")
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"stderr is not one 'error:' line: {r.stderr.strip()!r}")
        missing = matches(r.stderr, case["expect"])
        if missing:
            problems.append(f"lacks {missing}")
        print(f"{'ok  ' if not problems else 'FAIL'} {case['file']} ({case['what']}): "
              f"{lines[0] if lines else '(no stderr)'}" + (f"\n     {'; '.join(problems)}" if problems else ""))
        if problems:
            failures.append(case["file"])
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--self-check", action="store_true")
    p.add_argument("--mot")
    p.add_argument("dir")
    a = p.parse_args()
    failures = self_check(a.dir) if a.self_check else against_mot(a.mot, a.dir)
    print("PASS" if not failures else f"{len(failures)} failure(s): {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
