#!/usr/bin/python3
"""Writes a fuzz target's seed corpus from the test tools and the repository's sample files.

    make_seeds.py TARGET CORPUS_DIR      TARGET: safetensors index config tokenizer pipeline schedule kld openai

safetensors, index, config: small checkpoints from tests/tools/make_model.py (one file, three
shards, f32/f16/bf16, llama3 and linear RoPE, tied, mistral); tokenizer: tokenizer.json files
from tests/tools/make_tokenizer.py (byte-level, sentencepiece, metaspace) with texts to encode;
pipeline: pipelines/**/*.yaml plus placements, depths and chat settings the samples lack (the
expanded forms come from tests/fuzz/pipeline_seed.c); schedule: schedules/*.yaml and variants;
kld: small KL-divergence base files in llama.cpp's layout (vocabulary 16, as fuzz_kld.c assumes
when the header's is large), rows quantized as mot_kld_compress_row does; openai: request
bodies of both routes (the first byte: the route, the second: the pieces' size).
Multi-file inputs use the separators the targets split on (see each tests/fuzz/fuzz_*.c).
"""
import glob
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

SHARD_SEP = b"\n--mot-fuzz-shard--\n"  # fuzz_index.c
# Small enough that a seed is a few KB: libFuzzer mutates the header, not megabytes of weights.
SMALL = ["--layers", "1", "--hidden", "8", "--heads", "2", "--kv-heads", "1", "--ffn", "8",
         "--vocab", "8", "--max-pos", "16", "--tokenizer", "none"]
MODELS = {
    "f32": [],
    "bf16": ["--dtype", "bf16"],
    "f16-tied": ["--dtype", "f16", "--tied"],
    "llama3": ["--rope-scaling", "llama3"],
    "linear": ["--rope-scaling", "linear"],
    "mistral": ["--preset", "tiny-mistral", "--sliding-window", "4"],
    "sharded": ["--shards", "3"],
}


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def put(corpus, name, data):
    with open(os.path.join(corpus, name), "wb") as fh:
        fh.write(data)


def models(tmp):
    """{label: folder} of the small checkpoints."""
    import make_model
    out = {}
    for label, extra in MODELS.items():
        folder = os.path.join(tmp, label)
        make_model.main([folder] + SMALL + extra)
        out[label] = folder
    return out


def seed_safetensors(corpus, tmp):
    for label, folder in models(tmp).items():
        for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
            put(corpus, f"{label}-{os.path.basename(path)}", read(path))


def seed_index(corpus, tmp):
    folder = models(tmp)["sharded"]
    index = read(os.path.join(folder, "model.safetensors.index.json"))
    shards = [read(p) for p in sorted(glob.glob(os.path.join(folder, "model-*.safetensors")))]
    put(corpus, "sharded-3", SHARD_SEP.join([index] + shards))
    put(corpus, "index-only", index)


def seed_config(corpus, tmp):
    for label, folder in models(tmp).items():
        config = read(os.path.join(folder, "config.json"))
        put(corpus, f"{label}-config", config)
        put(corpus, f"{label}-config+generation",
            config + b"\0" + read(os.path.join(folder, "generation_config.json")))


TEXTS = [
    "Hello, world! It's 2025-03-14 and we've got 1234567 tokens.",
    "<|begin_of_text|>def f(x):\n    return x  # ☃ naïve café 東京\t\r\n",
    "<s> spaces   and\u00a0nbsp </s><unk> \U0001F600",
]


def seed_tokenizer(corpus, tmp):
    import make_tokenizer
    styles = [("byte-level", False), ("sentencepiece", False), ("sentencepiece", True)]
    for style, metaspace in styles:
        label = style + ("-metaspace" if metaspace else "")
        folder = os.path.join(tmp, label)
        os.makedirs(folder)
        make_tokenizer.write_tokenizer(folder, style, vocab_size=300, seed=0, metaspace=metaspace)
        tok = read(os.path.join(folder, "tokenizer.json"))
        config_path = os.path.join(folder, "tokenizer_config.json")
        config = read(config_path) if os.path.exists(config_path) else None
        for i, text in enumerate(TEXTS):
            data = tok + b"\0" + text.encode()
            if config is not None and i == 0:
                data += b"\0" + config
            put(corpus, f"{label}-{i}", data)


PIPELINES = {
    "explicit-depth": """name: p
experts:
  - {name: a, path: a, depth: 6, layers: [1, 3, 5]}
  - {name: b, path: /abs/b, depth: 4, layers: [0, 1, 3], chat: true}
router: {encoder: mean-embed, expert: b, hidden: 16, top_k: 2}
interaction: {stacks: 3, placement: explicit, shared_dim: 32, heads: 4, norm: layernorm}
sampler: {temperature: 0.7, top_k: 5, top_p: 0.9, min_p: 0.05, repeat_penalty: 1.1, repeat_last_n: 8, seed: 18446744073709551615, max_tokens: 3}
""",
    "deep-chat-template": """name: "odd name"
experts:
  - {name: x-1, path: "./m x", depth: 9, chat_template: chatml}
  - {name: y_2, path: ../y, template: "Q: {prompt}\\nA:"}
router: {encoder: mean-embed, expert: x-1, hidden: 8, top_k: 1}
interaction: {stacks: 2, placement: deep, shared_dim: 8, heads: 2}
weights: w.safetensors
schedule: s.yaml
""",
    "shallow-one": """name: one
experts: [{name: solo, path: solo}]
router: {encoder: mean-embed, expert: solo, hidden: 4, top_k: 1}
interaction: {stacks: 1, placement: shallow, shared_dim: 4, heads: 1, norm: none}
""",
    "intermediate-block": """name: block
experts:
  - name: a
    path: a
    depth: 12
  - name: b
    path: b
router:
  encoder: mean-embed
  expert: a
  hidden: 64
  top_k: 2
interaction:
  stacks: 4
  placement: intermediate
  shared_dim: 64
  heads: 8
""",
}

SCHEDULES = {
    "concurrent": "threads: 4\nlanes: concurrent\nthreads_per_lane: [1, 3]\ngraphs: false\n",
    "flow": "{threads: 0, lanes: serial, gemm_kc: 8, gemm_mc: 4, graph_cache: 1024, plan_cache: 2}\n",
    "empty": "",
    "comments": "# only a comment\n",
}


def seed_pipeline(corpus, tmp):
    for path in sorted(glob.glob(os.path.join(ROOT, "pipelines", "**", "*.yaml"), recursive=True)):
        shutil.copy(path, os.path.join(corpus, "repo-" + os.path.basename(path)))
    for name, text in PIPELINES.items():
        put(corpus, name + ".yaml", text.encode())


def seed_schedule(corpus, tmp):
    for path in sorted(glob.glob(os.path.join(ROOT, "schedules", "*.yaml"))):
        shutil.copy(path, os.path.join(corpus, "repo-" + os.path.basename(path)))
    for name, text in SCHEDULES.items():
        put(corpus, name + ".yaml", text.encode())


def kld_file(n_ctx, n_chunk, vocab, seed):
    """A valid base file: header, tokens, each scored row (scale, floor, u16 levels)."""
    import struct
    import random
    rng = random.Random(seed)
    scored, nv = n_ctx - 1 - n_ctx // 2, 2 * ((vocab + 1) // 2) + 4
    out = b"_logits_" + struct.pack("<iii", n_ctx, vocab, n_chunk)
    out += struct.pack(f"<{n_ctx * n_chunk}i", *(rng.randrange(vocab) for _ in range(n_ctx * n_chunk)))
    for _ in range(n_chunk * scored):
        levels = [rng.randrange(65536) for _ in range(vocab)] + [0] * (nv - 4 - vocab)
        out += struct.pack("<ff", 16.0 / 65535, -20.0 + rng.random()) + struct.pack(f"<{nv - 4}H", *levels)
    return out


def seed_kld(corpus, tmp):
    for n_ctx, n_chunk, vocab in [(4, 1, 16), (8, 2, 16), (6, 3, 15), (16, 1, 16)]:
        put(corpus, f"base-{n_ctx}x{n_chunk}-v{vocab}.kld", kld_file(n_ctx, n_chunk, vocab, n_ctx * 31 + n_chunk))
    put(corpus, "header-only.kld", kld_file(4, 1, 16, 1)[:20])


def seed_openai(corpus, tmp):
    import json
    completion = [
        {"prompt": "The quick brown fox", "max_tokens": 12, "temperature": 0, "stop": ["fox", "\n"]},
        {"prompt": [1, 2, 3], "stream": True, "stream_options": {"include_usage": True}, "seed": 7, "top_k": 40},
        {"prompt": ["a\u00e9\u4e2d"], "top_p": 0.9, "min_p": 0.05, "repeat_penalty": 1.1, "repeat_last_n": -1,
         "presence_penalty": 0.5, "frequency_penalty": -0.5, "n": 1, "logprobs": None, "echo": False},
        {"prompt": "abcabcabd", "stop": "abd", "n_predict": -1, "ignore_eos": True},
        {"prompt": "route me", "experts": "code,chat"},
        {"prompt": "route me", "experts": ["chat", "math", "code"]},
    ]
    chat = [
        {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                      {"role": "assistant", "content": "c"}, {"role": "developer", "content": "d"}],
         "max_completion_tokens": 5, "response_format": {"type": "text"}, "tools": []},
    ]
    for i, body in enumerate(completion):
        put(corpus, f"completion-{i}.json", b"\x00\x03" + json.dumps(body).encode())
    for i, body in enumerate(chat):
        put(corpus, f"chat-{i}.json", b"\x01\x05" + json.dumps(body).encode())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    target, corpus = sys.argv[1], sys.argv[2]
    seed = globals().get("seed_" + target)
    if not seed:
        sys.exit(f"make_seeds.py: unknown target '{target}'")
    os.makedirs(corpus, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mot-fuzz-seeds-") as tmp:
        seed(corpus, tmp)


if __name__ == "__main__":
    main()
