#!/usr/bin/python3
"""Writes one malformed GGUF file per class of damage, and a manifest of what mot must say.

    malformed_gguf.py OUTDIR [--base FILE.gguf]

Without --base, the base is a tiny Q8_0 model (make_model.py, make_gguf.py) written to
OUTDIR/valid.gguf. Every other file is that base with one thing wrong (gguf_bytes.py edits
it at the byte level). OUTDIR/manifest.json:

    {"cases": [{"file": "bad_magic.gguf", "what": "...", "expect": ["bad_magic.gguf", "magic"]},
               ...],
     "valid": "valid.gguf", "match": "..."}

`expect`: substrings that mot's one `error:` line must all contain, compared case-
insensitively; an inner list means any one of them. Each names the file and the key or
tensor (SPEC 2.4); the short phrases are provisional until the C reader's wording is agreed.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_bytes as gb  # noqa: E402
from gguf_bytes import ARRAY, KV, STRING  # noqa: E402

U32, I32 = 4, 5
Q8_0 = 8


def make_base(outdir):
    models = os.path.join(outdir, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "make_model.py"), models, "--preset", "tiny",
                    "--untied", "--seed", "5"], check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(outdir, "valid.gguf")
    subprocess.run([sys.executable, os.path.join(HERE, "make_gguf.py"), models, path,
                    "--type", "Q8_0"], check=True, stdout=subprocess.DEVNULL)
    return path


def offset_of_kv(blob, f, key):
    """Byte offset, in the base file, of the value of `key` (just after its type)."""
    target = next(i for i, kv in enumerate(f.kvs) if kv.key == key)
    pos = 4 + 4 + 8 + 8
    for kv in f.kvs[:target]:
        pos += len(gb._string(kv.key)) + 4 + len(gb._value(kv.vtype, kv.value))
    assert blob[pos + 8:pos + 8 + len(key)] == key.encode()
    return pos + len(gb._string(key)) + 4


def cases(base_blob):
    """-> [(file name, what, expect, bytes)]."""
    def fresh():
        return gb.parse(base_blob)

    out = []

    def add(name, what, expect, blob):
        out.append((name, what, [name] + expect, blob))

    def edit(name, what, expect, change, **counts):
        f = fresh()
        change(f)
        add(name, what, expect, gb.serialize(f, **counts))

    # -- the header --
    add("bad_magic.gguf", "magic GGUX", ["magic"], b"GGUX" + base_blob[4:])
    for v in (1, 4):
        add(f"version_{v}.gguf", f"version {v}", ["version"],
            base_blob[:4] + struct.pack("<I", v) + base_blob[8:])
    add("truncated_header.gguf", "14 bytes: cut inside the tensor count", ["truncated"], base_blob[:14])
    add("empty.gguf", "0 bytes", ["truncated"], b"")
    edit("huge_tensor_count.gguf", "tensor count 2^62", ["tensor"], lambda f: None,
         n_tensors=1 << 62)
    edit("huge_kv_count.gguf", "metadata count 2^62", ["count"], lambda f: None, n_kv=1 << 62)

    # -- the metadata --
    f = fresh()
    cut = offset_of_kv(base_blob, f, "tokenizer.ggml.tokens") + 4 + 8 + 200
    add("truncated_metadata.gguf", "cut 200 bytes into the tokenizer.ggml.tokens array",
        ["tokenizer.ggml.tokens", "truncated"], base_blob[:cut])
    pos = offset_of_kv(base_blob, f, "general.name")
    add("string_past_end.gguf", "general.name's length says 2^40 bytes",
        ["general.name", "length"], base_blob[:pos] + struct.pack("<Q", 1 << 40) + base_blob[pos + 8:])
    pos = offset_of_kv(base_blob, f, "tokenizer.ggml.tokens")
    add("array_past_end.gguf", "tokenizer.ggml.tokens claims 2^40 elements",
        ["tokenizer.ggml.tokens"], base_blob[:pos + 4] + struct.pack("<Q", 1 << 40) + base_blob[pos + 12:])
    pos = offset_of_kv(base_blob, f, "general.name") - 4
    add("unknown_value_type.gguf", "general.name has value type 13",
        ["general.name", "type"], base_blob[:pos] + struct.pack("<I", 13) + base_blob[pos + 4:])

    def deep(f):
        value = (U32, [1])
        for _ in range(40):
            value = (ARRAY, [value])
        f.kvs.insert(3, KV("test.deep", ARRAY, value))
    edit("nested_too_deep.gguf", "test.deep: arrays nested 41 deep", ["test.deep", "nest"], deep)
    edit("duplicate_key.gguf", "llama.block_count twice", ["llama.block_count", "duplicate"],
         lambda f: f.kvs.append(KV("llama.block_count", U32, 2)))

    # -- the model's keys --
    for arch in ("gpt2", "qwen2"):
        def rearch(f, arch=arch):
            f.kv("general.architecture").value = arch
            for kv in f.kvs:
                if kv.key.startswith("llama."):
                    kv.key = arch + kv.key[len("llama"):]
        edit(f"arch_{arch}.gguf", f"general.architecture {arch}",
             ["general.architecture", arch], rearch)
    edit("missing_block_count.gguf", "no llama.block_count", ["llama.block_count", "missing"],
         lambda f: f.kvs.remove(f.kv("llama.block_count")))

    def as_string(f):
        kv = f.kv("llama.block_count")
        kv.vtype, kv.value = STRING, "2"
    edit("block_count_string.gguf", "llama.block_count is the string \"2\"",
         ["llama.block_count", "integer"], as_string)

    def eps_underflow(f):
        kv = f.kv("llama.attention.layer_norm_rms_epsilon")
        kv.vtype, kv.value = 12, 1e-50  # an f64 a float cannot hold (it would become 0)
    edit("eps_underflow.gguf", "llama.attention.layer_norm_rms_epsilon is the f64 1e-50",
         ["llama.attention.layer_norm_rms_epsilon", "float"], eps_underflow)

    # -- the tensor infos --
    q, k = "blk.0.attn_q.weight", "blk.0.attn_k.weight"

    def set_type(f):
        f.tensor(q).ggml_type = 99
    edit("unknown_tensor_type.gguf", f"{q} has ggml type 99", [q, "type"], set_type)
    for n in (0, 5):
        def dims(f, n=n):
            f.tensor(q).dims = [64] * n if n else []
        edit(f"n_dims_{n}.gguf", f"{q} has {n} dims", [q, "dim"], dims)
    for name, dims, phrase in (("dim_zero", [64, 0], "dim"),
                               ("dim_negative", [64, (1 << 64) - 64], "dim"),
                               ("dim_overflow", [1 << 32, 1 << 31, 1 << 31], "overflow")):
        def set_dims(f, dims=dims):
            f.tensor(q).dims = dims
        edit(f"{name}.gguf", f"{q} dims {dims}", [q, phrase], set_dims)

    def not_block(f):
        t = f.tensor(q)
        t.dims = [48, 64]
        t.data = t.data[:len(t.data) * 3 // 4]
    edit("ne0_not_block.gguf", f"{q}: ne[0] 48 in Q8_0 (block 32)", [q, "block"], not_block)

    def unaligned(f):
        t = f.tensor(k)
        t.offset = sum(-(-len(x.data) // 32) * 32 for x in f.tensors[:f.tensors.index(t)]) + 4
    edit("offset_unaligned.gguf", f"{k}'s offset is 4 past its aligned place", [k, "align"], unaligned)

    def past_end(f):
        f.tensor("output.weight").offset = 1 << 40
    edit("data_past_end.gguf", "output.weight's offset is 2^40", ["output.weight", "end"], past_end)
    blob = gb.serialize(fresh())
    add("truncated_data.gguf", "the file ends 100 bytes into output.weight's data",
        ["output.weight", "end"], blob[:len(blob) - len(fresh().tensor("output.weight").data) + 100])

    def overlap(f):
        qi = f.tensors.index(f.tensor(q))
        f.tensor(k).offset = sum(-(-len(x.data) // 32) * 32 for x in f.tensors[:qi])
    edit("overlap.gguf", f"{k} starts where {q} does", [[q, k], "overlap"], overlap)

    def dup_tensor(f):
        f.tensor(k).name = q
    edit("duplicate_tensor.gguf", f"{k} renamed {q}", [q, "duplicate"], dup_tensor)

    # -- the model's tensors --
    def wrong_shape(f):
        t = f.tensor(q)
        t.dims = [64, 65]
        t.data = t.data + t.data[:len(t.data) // 64]
    edit("wrong_shape.gguf", f"{q} is [65, 64] (PyTorch order), not [64, 64]", [q, "65"], wrong_shape)
    edit("missing_tensor.gguf", "no blk.1.ffn_down.weight", ["blk.1.ffn_down.weight", "missing"],
         lambda f: f.tensors.remove(f.tensor("blk.1.ffn_down.weight")))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--base", help="a valid GGUF (default: a tiny Q8_0 model made here)")
    args = p.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    base = args.base or make_base(args.outdir)
    with open(base, "rb") as fh:
        blob = fh.read()
    if gb.serialize(gb.parse(blob)) != blob:
        sys.exit(f"malformed_gguf.py: {base} does not re-serialize to itself")
    manifest = {"valid": os.path.basename(base),
                "match": "every string in expect, case-insensitively; an inner list: any one",
                "cases": []}
    for name, what, expect, data in cases(blob):
        with open(os.path.join(args.outdir, name), "wb") as fh:
            fh.write(data)
        manifest["cases"].append({"file": name, "what": what, "expect": expect})
    with open(os.path.join(args.outdir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    print(f"malformed_gguf.py: {len(manifest['cases'])} files in {args.outdir}")


if __name__ == "__main__":
    main()
