#!/usr/bin/python3
"""Writes a random-weight Llama/Mistral checkpoint in the Hugging Face folder layout.

    make_model.py OUT_DIR --preset tiny [--dtype bf16] [--shards 3] [--tokenizer sentencepiece] ...

Files: config.json, generation_config.json, model.safetensors (or model-0000i-of-0000N
shards + model.safetensors.index.json), the tokenizer from make_tokenizer.py, and a stamp
file so a second call with the same settings returns at once.

numpy only. Tensors are generated and written one row block at a time, so even the
4.4 GB f32 TinyLlama never holds more than a few tens of MB of weights in memory.
Every tensor has its own random stream (seed, tensor index), so the values do not depend
on sharding or block size.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
STAMP_NAME = ".make_model_stamp.json"
BLOCK_ELEMENTS = 1 << 22         # 4M values (16 MB in f32) per generated block

PRESETS = {
    # small and quick: for ctest
    "tiny": dict(arch="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=160,
                 vocab=384, tied=False, tokenizer="byte-level", max_pos=256,
                 rope_theta=10000.0, rope_orig_max_pos=32, std=0.06),
    "tiny-gqa": dict(arch="llama", hidden=96, layers=3, heads=6, kv_heads=2, ffn=256,
                     vocab=512, tied=False, tokenizer="byte-level", max_pos=256,
                     rope_theta=10000.0, rope_orig_max_pos=32, std=0.06),
    "tiny-mistral": dict(arch="mistral", hidden=64, layers=2, heads=4, kv_heads=1, ffn=192,
                         vocab=320, tied=False, tokenizer="sentencepiece", max_pos=256,
                         rope_theta=1000000.0, sliding_window=16, rope_orig_max_pos=32,
                         std=0.06),
    # real shapes: for benchmarks
    "smollm-135m": dict(arch="llama", hidden=576, layers=30, heads=9, kv_heads=3, ffn=1536,
                        vocab=49152, tied=True, tokenizer="byte-level", max_pos=2048,
                        rope_theta=10000.0, rope_orig_max_pos=8192),
    "tinyllama-1.1b": dict(arch="llama", hidden=2048, layers=22, heads=32, kv_heads=4,
                           ffn=5632, vocab=32000, tied=False, tokenizer="sentencepiece",
                           max_pos=2048, rope_theta=10000.0, rope_orig_max_pos=8192),
}

DTYPES = {  # name -> (safetensors dtype, torch_dtype in config.json, bytes per value)
    "f32": ("F32", "float32", 4),
    "f16": ("F16", "float16", 2),
    "bf16": ("BF16", "bfloat16", 2),
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--tokenizer", choices=["byte-level", "sentencepiece",
                                           "sentencepiece-metaspace", "none"])
    tie = p.add_mutually_exclusive_group()
    tie.add_argument("--tied", dest="tied", action="store_true", default=None)
    tie.add_argument("--untied", dest="tied", action="store_false")
    p.add_argument("--rope-scaling", choices=["none", "linear", "llama3"], default="none")
    p.add_argument("--rope-factor", type=float, help="default 4 (linear) or 8 (llama3)")
    p.add_argument("--rope-orig-max-pos", type=int,
                   help="llama3 original_max_position_embeddings (preset default)")
    p.add_argument("--rope-theta", type=float)
    p.add_argument("--sliding-window", type=int, help="mistral only; 0 writes null")
    p.add_argument("--arch", choices=["llama", "mistral"])
    p.add_argument("--layers", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--head-dim", type=int, help="written to config.json when != hidden/heads")
    p.add_argument("--ffn", type=int)
    p.add_argument("--vocab", type=int)
    p.add_argument("--max-pos", type=int)
    p.add_argument("--rms-eps", type=float, default=1e-5)
    p.add_argument("--std", type=float, help="std of linear/embedding weights (HF: 0.02; the "
                   "tiny presets use 0.06 so attention is peaked enough for RoPE to matter)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rewrite even when the stamp matches")
    return p.parse_args(argv)


def resolve_settings(args):
    """Preset + overrides -> one flat dict; it is also what the stamp records."""
    s = dict(PRESETS[args.preset])
    overrides = dict(arch=args.arch, layers=args.layers, hidden=args.hidden, heads=args.heads,
                     kv_heads=args.kv_heads, ffn=args.ffn, vocab=args.vocab,
                     max_pos=args.max_pos, rope_theta=args.rope_theta, tied=args.tied,
                     tokenizer=args.tokenizer, rope_orig_max_pos=args.rope_orig_max_pos,
                     sliding_window=args.sliding_window, std=args.std)
    s.update({k: v for k, v in overrides.items() if v is not None})
    s.setdefault("sliding_window", 0)
    s.setdefault("std", 0.02)
    s["head_dim"] = args.head_dim or s["hidden"] // s["heads"]
    s.update(preset=args.preset, dtype=args.dtype, shards=args.shards, seed=args.seed,
             rms_eps=args.rms_eps, rope_scaling=args.rope_scaling,
             rope_factor=args.rope_factor or (4.0 if args.rope_scaling == "linear" else 8.0),
             generator=source_digest())
    check_settings(s)
    return s


def source_digest():
    """Hash of this generator and the tokenizer generator: a change to either regenerates."""
    h = hashlib.sha1()
    for name in ("make_model.py", "make_tokenizer.py"):
        path = os.path.join(HERE, name)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:16]


def check_settings(s):
    def need(ok, what):
        if not ok:
            sys.exit(f"make_model.py: {what}")
    for key in ("hidden", "layers", "heads", "kv_heads", "ffn", "vocab", "head_dim", "max_pos"):
        need(s[key] > 0, f"--{key.replace('_', '-')} must be positive, got {s[key]}")
    need(s["heads"] % s["kv_heads"] == 0,
         f"heads ({s['heads']}) must be a multiple of kv-heads ({s['kv_heads']})")
    need(s["head_dim"] % 2 == 0, f"head-dim must be even for RoPE, got {s['head_dim']}")
    need(s["shards"] >= 1, f"--shards must be >= 1, got {s['shards']}")
    need(s["sliding_window"] >= 0, "--sliding-window must be >= 0")
    need(s["sliding_window"] == 0 or s["arch"] == "mistral",
         "--sliding-window needs the mistral architecture (--arch mistral)")


# ---- tensors: names, shapes and how to fill them ----

def tensor_plan(s):
    """[(name, shape, kind)] in HF order; kind 'linear' ~ N(0, std), 'norm' ~ 1 + N(0, 0.1)."""
    d, hd, f = s["hidden"], s["head_dim"], s["ffn"]
    plan = [("model.embed_tokens.weight", (s["vocab"], d), "linear")]
    for i in range(s["layers"]):
        pre = f"model.layers.{i}."
        plan += [
            (pre + "input_layernorm.weight", (d,), "norm"),
            (pre + "self_attn.q_proj.weight", (s["heads"] * hd, d), "linear"),
            (pre + "self_attn.k_proj.weight", (s["kv_heads"] * hd, d), "linear"),
            (pre + "self_attn.v_proj.weight", (s["kv_heads"] * hd, d), "linear"),
            (pre + "self_attn.o_proj.weight", (d, s["heads"] * hd), "linear"),
            (pre + "post_attention_layernorm.weight", (d,), "norm"),
            (pre + "mlp.gate_proj.weight", (f, d), "linear"),
            (pre + "mlp.up_proj.weight", (f, d), "linear"),
            (pre + "mlp.down_proj.weight", (d, f), "linear"),
        ]
    plan.append(("model.norm.weight", (d,), "norm"))
    if not s["tied"]:
        plan.append(("lm_head.weight", (s["vocab"], d), "linear"))
    return plan


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bits, round to nearest even; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    bits = rounded.astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        bits[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return bits


def encode_block(values, dtype):
    """float32 block -> little-endian bytes of the stored dtype."""
    if dtype == "f32":
        return values.astype("<f4", copy=False).data
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    return f32_to_bf16_bits(values).astype("<u2", copy=False).tobytes()


def write_tensor_data(fh, index, shape, kind, s):
    """Generates one tensor in row blocks and appends its bytes to fh."""
    rng = np.random.default_rng([s["seed"], index])
    rows = shape[0]
    cols = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    rows_per_block = max(1, BLOCK_ELEMENTS // cols)
    for r0 in range(0, rows, rows_per_block):
        n = min(rows_per_block, rows - r0) * cols
        block = rng.standard_normal(n, dtype=np.float32)
        if kind == "norm":
            block = block * np.float32(0.1) + np.float32(1.0)
        else:
            block *= np.float32(s["std"])
        fh.write(encode_block(block, s["dtype"]))


def split_into_shards(plan, n_shards, value_bytes):
    """Consecutive groups of tensors with about equal bytes; never an empty shard."""
    n_shards = min(n_shards, len(plan))
    sizes = [int(np.prod(shape)) * value_bytes for _, shape, _ in plan]
    total, groups, current, done = sum(sizes), [], [], 0
    for i, item in enumerate(plan):
        current.append(i)
        done += sizes[i]
        shards_left = n_shards - len(groups) - 1
        tensors_left = len(plan) - i - 1
        if shards_left > 0 and (done >= total * (len(groups) + 1) / n_shards
                                or tensors_left == shards_left):
            groups.append(current)
            current = []
    groups.append(current)
    return groups


def safetensors_header(entries, st_dtype, value_bytes):
    """entries: [(name, shape)] -> header bytes (8-byte length + JSON padded to 8)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        nbytes = int(np.prod(shape)) * value_bytes
        header[name] = {"dtype": st_dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text, offset


def write_weights(out_dir, s):
    st_dtype, _, value_bytes = DTYPES[s["dtype"]]
    plan = tensor_plan(s)
    groups = split_into_shards(plan, s["shards"], value_bytes)
    names = (["model.safetensors"] if len(groups) == 1 else
             [f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors" for k in range(len(groups))])
    weight_map, total = {}, 0
    for file_name, group in zip(names, groups):
        header, data_bytes = safetensors_header([plan[i][:2] for i in group], st_dtype, value_bytes)
        tmp = os.path.join(out_dir, file_name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(header)
            for i in group:
                name, shape, kind = plan[i]
                write_tensor_data(fh, i, shape, kind, s)
                weight_map[name] = file_name
        os.replace(tmp, os.path.join(out_dir, file_name))
        total += data_bytes
    if len(groups) > 1:
        write_json(os.path.join(out_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": weight_map})
    return names


# ---- json files ----

def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")


def rope_scaling_json(s):
    if s["rope_scaling"] == "linear":      # the older spelling, as real linear checkpoints use
        return {"type": "linear", "factor": s["rope_factor"]}
    if s["rope_scaling"] == "llama3":      # as Llama 3.1 ships it
        return {"rope_type": "llama3", "factor": s["rope_factor"], "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": s["rope_orig_max_pos"]}
    return None


def config_json(s, bos_id, eos_id):
    mistral = s["arch"] == "mistral"
    cfg = {
        "architectures": ["MistralForCausalLM" if mistral else "LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "hidden_size": s["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": s["ffn"],
        "max_position_embeddings": s["max_pos"],
        "mlp_bias": False,
        "model_type": s["arch"],
        "num_attention_heads": s["heads"],
        "num_hidden_layers": s["layers"],
        "num_key_value_heads": s["kv_heads"],
        "pretraining_tp": 1,
        "rms_norm_eps": s["rms_eps"],
        "rope_scaling": rope_scaling_json(s),
        "rope_theta": s["rope_theta"],
        "tie_word_embeddings": s["tied"],
        "torch_dtype": DTYPES[s["dtype"]][1],
        "transformers_version": "4.44.0",
        "use_cache": True,
        "vocab_size": s["vocab"],
    }
    if s["head_dim"] != s["hidden"] // s["heads"]:
        cfg["head_dim"] = s["head_dim"]
    if mistral:
        del cfg["pretraining_tp"], cfg["mlp_bias"]
        cfg["sliding_window"] = s["sliding_window"] or None
    return cfg


def write_tokenizer(out_dir, s):
    """-> (bos_id, eos_id); grows s['vocab'] when the tokenizer needs more ids."""
    if s["tokenizer"] == "none":
        return 1, 2
    sys.path.insert(0, HERE)
    from make_tokenizer import write_tokenizer as make_tok
    style = s["tokenizer"].replace("-metaspace", "")
    info = make_tok(out_dir, style, s["vocab"], s["seed"],
                    metaspace=s["tokenizer"].endswith("-metaspace"))
    s["vocab"] = max(s["vocab"], int(info["vocab_size"]))
    return info["bos_id"], info["eos_id"]


# ---- the stamp: skip work already done ----

def stamp_matches(out_dir, s):
    try:
        with open(os.path.join(out_dir, STAMP_NAME)) as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        return False
    if stamp.get("settings") != s:
        return False
    return all(os.path.exists(os.path.join(out_dir, f)) for f in stamp.get("files", []))


def remove_old_outputs(out_dir):
    for f in os.listdir(out_dir):
        if f == STAMP_NAME or (f.startswith("model") and ".safetensors" in f):
            os.remove(os.path.join(out_dir, f))


def make_model(out_dir, s, force=False):
    """Writes the folder unless its stamp already records these settings. -> True if written."""
    os.makedirs(out_dir, exist_ok=True)
    if not force and stamp_matches(out_dir, s):
        return False
    remove_old_outputs(out_dir)
    requested = dict(s)
    written = dict(s)
    bos_id, eos_id = write_tokenizer(out_dir, written)
    files = write_weights(out_dir, written)
    write_json(os.path.join(out_dir, "config.json"), config_json(written, bos_id, eos_id))
    write_json(os.path.join(out_dir, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": bos_id, "eos_token_id": eos_id,
                "transformers_version": "4.44.0"})
    if len(files) > 1:
        files.append("model.safetensors.index.json")
    files += ["config.json", "generation_config.json"]
    if written["tokenizer"] != "none":
        files += [f for f in ("tokenizer.json", "tokenizer_config.json")
                  if os.path.exists(os.path.join(out_dir, f))]
    write_json(os.path.join(out_dir, STAMP_NAME), {"settings": requested, "files": files})
    return True


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    s = resolve_settings(args)
    if make_model(args.out_dir, s, args.force):
        print(f"make_model.py: wrote {args.out_dir} ({s['preset']}, {s['dtype']})")
    else:
        print(f"make_model.py: {args.out_dir} is up to date")


if __name__ == "__main__":
    main()
