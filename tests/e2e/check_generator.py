#!/usr/bin/python3
"""Checks that tests/tools/make_model.py writes a loadable Hugging Face folder.

    check_generator.py WORK_DIR

Sharded bf16 and single-file tied models: the index covers every tensor exactly once,
shard headers are well formed and contiguous, total_size adds up, tensor names are
exactly HF's, config.json says what was asked, the tokenizer loads in HF `tokenizers`
with ids inside vocab_size, the reference runs, bf16 rounds to nearest even, and the
stamp skips a second identical call but not a changed one.
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
MAKE_MODEL = os.path.join(TESTS, "tools", "make_model.py")
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
from llama_ref import LlamaRef  # noqa: E402
from make_model import f32_to_bf16_bits  # noqa: E402

failures = []


def expect(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}")


def make(out, *flags):
    r = subprocess.run([sys.executable, MAKE_MODEL, out, *flags], check=True,
                       capture_output=True, text=True)
    return r.stdout


def read_header(path):
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    return n, header


def check_shards(d, n_shards):
    with open(os.path.join(d, "model.safetensors.index.json")) as fh:
        index = json.load(fh)
    weight_map = index["weight_map"]
    files = sorted(set(weight_map.values()))
    want = [f"model-{k:05d}-of-{n_shards:05d}.safetensors" for k in range(1, n_shards + 1)]
    expect(files == want, f"shard names {files}")
    seen, total = {}, 0
    for f in files:
        n, header = read_header(os.path.join(d, f))
        expect(n % 8 == 0, f"{f}: header length {n} not a multiple of 8")
        spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
        expect(spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:])),
               f"{f}: tensor data not contiguous from 0")
        size = os.path.getsize(os.path.join(d, f))
        expect(size == 8 + n + spans[-1][1], f"{f}: size {size} != header + data")
        total += spans[-1][1]
        for name, info in header.items():
            if name != "__metadata__":
                expect(name not in seen, f"{name} in both {seen.get(name)} and {f}")
                seen[name] = f
                expect(info["dtype"] == "BF16", f"{name}: dtype {info['dtype']}")
    expect(seen == weight_map, "index weight_map differs from the shards' contents")
    expect(index["metadata"]["total_size"] == total,
           f"total_size {index['metadata']['total_size']} != {total}")
    return seen


def check_tokenizer(d, vocab):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    ids = tok.encode("Hello wörld 日本 😀", add_special_tokens=True).ids
    expect(len(ids) > 0 and max(ids) < vocab, f"{d}: token ids {ids} outside vocab {vocab}")
    expect(tok.get_vocab_size() <= vocab, f"{d}: tokenizer has {tok.get_vocab_size()} ids, "
           f"config vocab_size {vocab}")


def main():
    work = sys.argv[1]
    os.makedirs(work, exist_ok=True)

    bits = f32_to_bf16_bits(np.array([1.0, 1.00390625, 1.01171875, -2.5, 1.0 + 2 ** -9],
                                     dtype=np.float32))
    # 1+2^-8 is a tie that rounds down to even 0x3F80; 1+3*2^-8 rounds up to 0x3F82
    expect(bits.tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x3F80], f"bf16 bits {bits}")

    sharded = os.path.join(work, "gen_sharded")
    make(sharded, "--preset", "tiny", "--dtype", "bf16", "--shards", "3",
         "--tokenizer", "sentencepiece", "--rope-scaling", "llama3", "--force")
    names = check_shards(sharded, 3)
    model = LlamaRef.load(sharded)
    expect(set(names) == set(model.expected_shapes()), "tensor names are not exactly HF's")
    with open(os.path.join(sharded, "config.json")) as fh:
        cfg = json.load(fh)
    expect(cfg["torch_dtype"] == "bfloat16" and cfg["model_type"] == "llama"
           and cfg["rope_scaling"]["rope_type"] == "llama3" and not cfg["tie_word_embeddings"],
           f"config.json: {cfg}")
    check_tokenizer(sharded, cfg["vocab_size"])
    logits = model.forward([cfg["bos_token_id"], 5, 6, 7])
    expect(bool(np.isfinite(logits.numpy()).all()), "reference logits not finite")

    tied = os.path.join(work, "gen_tied")
    make(tied, "--preset", "tiny-mistral", "--tied", "--sliding-window", "5", "--force",
         "--tokenizer", "byte-level", "--head-dim", "8")
    with open(os.path.join(tied, "config.json")) as fh:
        cfg = json.load(fh)
    expect(cfg["sliding_window"] == 5 and cfg["tie_word_embeddings"] and cfg["head_dim"] == 8
           and cfg["architectures"] == ["MistralForCausalLM"], f"config.json: {cfg}")
    expect(not os.path.exists(os.path.join(tied, "model.safetensors.index.json")),
           "a single-file model has an index")
    _, header = read_header(os.path.join(tied, "model.safetensors"))
    expect("lm_head.weight" not in header, "tied model stores lm_head.weight")
    LlamaRef.load(tied).forward([1, 2, 3])
    check_tokenizer(tied, cfg["vocab_size"])

    weights = os.path.join(tied, "model.safetensors")
    before = os.stat(weights).st_mtime_ns
    out = make(tied, "--preset", "tiny-mistral", "--tied", "--sliding-window", "5",
               "--tokenizer", "byte-level", "--head-dim", "8")
    expect("up to date" in out and os.stat(weights).st_mtime_ns == before,
           f"identical second call rewrote the model: {out!r}")
    out = make(tied, "--preset", "tiny-mistral", "--tied", "--sliding-window", "5",
               "--tokenizer", "byte-level", "--head-dim", "8", "--seed", "1")
    expect("wrote" in out, f"a changed seed did not rewrite: {out!r}")

    r = subprocess.run([sys.executable, MAKE_MODEL, os.path.join(work, "bad"), "--heads", "4",
                        "--kv-heads", "3"], capture_output=True, text=True)
    expect(r.returncode != 0 and "multiple of kv-heads" in r.stderr,
           f"bad head counts accepted: {r.stderr!r}")

    print("PASS" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
