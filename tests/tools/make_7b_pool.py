#!/usr/bin/python3
"""A K=3 pool of 7B-shaped experts (the paper's setting), for speed measurements.

    make_7b_pool.py DIR --mot PATH/TO/mot [--layers N] [--c-layers N] [--threads N]

Writes DIR/experts/{a,b,c}/, DIR/pool.yaml (SPEC 3, top_k 3) and DIR/pool.mot.safetensors
(`mot init --dtype bf16`). Prints the pipeline path last.

- a: make_model.py's mistral-7b preset (Mistral-arch, 32 layers, vocab 32000, 14.5 GB bf16).
- b: a Llama-arch view of a's weights: its own config.json (LlamaForCausalLM, rope_theta
  1e4, max 4096 positions), symlinks to a's shards, index and tokenizer. No generation, no
  extra disk or page cache; the runtime loads it as a separate expert (its own copy in RAM and
  on the device), so the speed is that of a different expert with the same shapes. Random
  weights need not differ for a speed test.
- c: generated: Llama-arch, 7B-shaped (hidden 4096, 32 heads, 8 KV heads, ffn 14336) with its
  own depth (--c-layers, default 16) and vocabulary (32768, Mistral v0.3's), another seed:
  a heterogeneous pool (different depth, vocab, tokenizer and architecture), ~7.6 GB.
  --c-layers 0 makes c another view of a (no generation at all).

Interaction: 4 stacks, uniform placement, shared_dim 1024, 16 heads, layernorm; router
mean-embed over a's embeddings, hidden 256. --layers cuts every expert to N layers (tests).
Both make_model.py folders keep their stamps: a second call regenerates nothing.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_model  # noqa: E402


def fail(msg):
    sys.exit(f"make_7b_pool.py: {msg}")


def model(out, flags, threads):
    flags = flags + (["--threads", str(threads)] if threads else [])
    settings = make_model.resolve_settings(make_model.parse_args([out] + flags))
    make_model.make_model(out, settings)
    return out


def view_of(src, dst, config_changes):
    """dst: src's weight files and tokenizer as symlinks, its own config.json."""
    os.makedirs(dst, exist_ok=True)
    for f in os.listdir(dst):   # an earlier view or a generated folder: start afresh
        os.remove(os.path.join(dst, f))
    for f in sorted(os.listdir(src)):
        if f.startswith("model") and f.endswith((".safetensors", ".index.json")) or \
                f.startswith("tokenizer"):
            os.symlink(os.path.relpath(os.path.join(src, f), dst), os.path.join(dst, f))
    with open(os.path.join(src, "config.json")) as fh:
        cfg = json.load(fh)
    cfg.update(config_changes)
    for key in [k for k, v in config_changes.items() if v is None]:
        del cfg[key]
    make_model.write_json(os.path.join(dst, "config.json"), cfg)
    with open(os.path.join(src, "generation_config.json")) as fh:
        make_model.write_json(os.path.join(dst, "generation_config.json"), json.load(fh))
    return dst


LLAMA_VIEW = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "rope_theta": 10000.0,
              "max_position_embeddings": 4096, "sliding_window": None, "mlp_bias": False,
              "pretraining_tp": 1}


def pipeline_yaml(layers_note):
    return f"""# written by tests/tools/make_7b_pool.py: three 7B-shaped random-weight experts{layers_note}
name: pool-7b
experts:
  - {{name: a, path: experts/a}}
  - {{name: b, path: experts/b}}
  - {{name: c, path: experts/c}}
router: {{encoder: mean-embed, expert: a, hidden: 256, top_k: 3}}
interaction: {{stacks: 4, placement: uniform, shared_dim: 1024, heads: 16, norm: layernorm}}
weights: pool.mot.safetensors
sampler: {{temperature: 0, top_k: 0, top_p: 1.0, seed: 0, max_tokens: 32}}
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pool_dir")
    p.add_argument("--mot", required=True, help="the mot binary (for mot init)")
    p.add_argument("--layers", type=int, help="cut a (and b) to N layers (default 32)")
    p.add_argument("--c-layers", type=int, default=16,
                   help="c's depth (default 16); 0: c is another view of a's weights")
    p.add_argument("--c-vocab", type=int, default=32768)
    p.add_argument("--threads", type=int, help="make_model.py's generator threads")
    p.add_argument("--shard-size", help="make_model.py --shard-size (default: the preset's 5GB)")
    args = p.parse_args(argv)
    if not (os.path.isfile(args.mot) and os.access(args.mot, os.X_OK)):
        fail(f"--mot {args.mot}: not an executable file")
    for name in ("layers", "c_layers", "threads"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "c_layers" else 1):
            fail(f"--{name.replace('_', '-')} must be positive, got {v}")
    if args.c_layers and args.c_layers < 4:
        fail("--c-layers must be at least 4 (4 interaction stacks), or 0")
    if args.layers is not None and args.layers < 4:
        fail("--layers must be at least 4 (4 interaction stacks)")
    pool = os.path.abspath(args.pool_dir)
    experts = os.path.join(pool, "experts")
    common = ["--dtype", "bf16"] + (["--shard-size", args.shard_size] if args.shard_size else [])
    a_flags = ["--preset", "mistral-7b", "--seed", "1"] + common + \
        (["--layers", str(args.layers)] if args.layers else [])
    a = model(os.path.join(experts, "a"), a_flags, args.threads)
    view_of(a, os.path.join(experts, "b"), LLAMA_VIEW)
    c_dir = os.path.join(experts, "c")
    if args.c_layers:
        if os.path.isdir(c_dir) and any(os.path.islink(os.path.join(c_dir, f))
                                        for f in os.listdir(c_dir)):
            for f in os.listdir(c_dir):   # an earlier view: its links point into a
                os.remove(os.path.join(c_dir, f))
        model(c_dir, ["--preset", "mistral-7b", "--arch", "llama", "--seed", "3",
                      "--layers", str(args.c_layers), "--vocab", str(args.c_vocab),
                      "--rope-theta", "500000", "--max-pos", "8192",
                      "--tokenizer", "byte-level"] + common, args.threads)
    else:
        view_of(a, c_dir, dict(LLAMA_VIEW, rope_theta=500000.0))
    pipeline = os.path.join(pool, "pool.yaml")
    note = f" ({args.layers} layers)" if args.layers else ""
    with open(pipeline, "w") as fh:
        fh.write(pipeline_yaml(note))
    weights = os.path.join(pool, "pool.mot.safetensors")
    r = subprocess.run([args.mot, "init", pipeline, "--dtype", "bf16", "--seed", "1", "-o", weights,
                        "--force"], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        fail(f"mot init {pipeline} failed (exit {r.returncode})")
    print(pipeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
