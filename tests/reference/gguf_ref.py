#!/usr/bin/python3
"""The float64 reference over a GGUF file: what mot must compute for `mot run -m FILE.gguf`.

Reads the file with `gguf.GGUFReader`, dequantizes every tensor with `gguf.quants.dequantize`
(llama.cpp's own Python reference of the block formats) and widens it to float64, undoes the
attn_q/attn_k row permutation (gguf_layout.py), renames tensors to Hugging Face's names and
builds the folder reference (llama_ref.LlamaRef) with a config taken from the llama.* keys.
So a quantized file is held to the very values its bytes encode (SPEC 1.7, 2.4).

    gguf_ref.py compare --gguf FILE --dump D.safetensors [--name E] [--tol 1e-4]
                        [--prompt TEXT [--hf-dir DIR]] [--no-greedy]
    gguf_ref.py generate --gguf FILE -p TEXT [-n 16]     (greedy text, a sanity check)

compare: compare_dump.check_dump on the dump's tokens, greedy (mot's tokens are its own
arg-max) and stopping at the first step where mot's token differs from the reference's
arg-max, a failure when the reference's best logit there beats mot's token's by more than
the bound. The prompt tokens are checked against HF tokenizers on --hf-dir (the folder the
file was made from), or else against the tokenizer rebuilt from the file (gguf_tokenizer.py).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
from gguf import GGMLQuantizationType, GGUFValueType  # noqa: E402
from gguf import quants  # noqa: E402

import compare_dump  # noqa: E402
import gguf_layout  # noqa: E402
from llama_ref import LlamaRef  # noqa: E402


def _field_value(field):
    if field.types and field.types[0] == GGUFValueType.ARRAY:
        return list(field.contents())
    return field.contents()


def read_gguf(path):
    """-> (metadata {key: value}, tensors {GGUF name: (type name, float64 array in PyTorch
    order, i.e. ggml's ne reversed)})."""
    reader = gguf.GGUFReader(path)
    meta = {k: _field_value(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {}
    for t in reader.tensors:
        values = quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        shape = tuple(int(n) for n in reversed(t.shape))
        tensors[t.name] = (GGMLQuantizationType(t.tensor_type).name, values.reshape(shape))
    return meta, tensors


def hf_config(meta, tensors, path="GGUF"):
    """The llama.* keys -> a config.json-style dict for llama_ref.RefConfig."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: general.architecture is {arch!r}, not 'llama'")

    def key(name, default=None):
        full = "llama." + name
        if full not in meta and default is None:
            raise ValueError(f"{path}: key '{full}': missing")
        return meta.get(full, default)

    hidden, heads = int(key("embedding_length")), int(key("attention.head_count"))
    head_dim = int(key("attention.key_length", hidden // heads))
    if int(key("rope.dimension_count", head_dim)) != head_dim:
        raise ValueError(f"{path}: partial rotary (rope.dimension_count != head_dim) is not handled")
    vocab = key("vocab_size", len(meta.get("tokenizer.ggml.tokens", [])) or
                tensors["token_embd.weight"][1].shape[0])
    window = int(key("attention.sliding_window", 0))
    cfg = {
        "model_type": "mistral" if window else "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(key("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(key("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "intermediate_size": int(key("feed_forward_length")),
        "vocab_size": int(vocab),
        "rms_norm_eps": float(key("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(key("rope.freq_base", 10000.0)),
        "tie_word_embeddings": "output.weight" not in tensors,
        "sliding_window": window or None,
        "rope_scaling": None,
    }
    scaling = key("rope.scaling.type", "none")
    if scaling == "linear":
        cfg["rope_scaling"] = {"type": "linear", "factor": float(key("rope.scaling.factor"))}
    elif scaling != "none":
        raise ValueError(f"{path}: rope.scaling.type {scaling!r} is not handled")
    if "rope_freqs.weight" in tensors:
        cfg["rope_scaling"] = {"rope_type": "factors",
                               "factors": tensors["rope_freqs.weight"][1].tolist()}
    return cfg


def hf_weights(tensors, cfg, path="GGUF"):
    """GGUF tensors -> {HF name: float64 array}, attn_q/attn_k rows back in HF's order."""
    out = {}
    for name, (_, values) in tensors.items():
        hf = gguf_layout.gguf_to_hf_name(name)
        if hf is None:
            if name == "rope_freqs.weight":
                continue
            raise ValueError(f"{path}: tensor {name}: not a llama tensor")
        heads = gguf_layout.heads_for(hf, cfg["num_attention_heads"], cfg["num_key_value_heads"])
        out[hf] = gguf_layout.unpermute_rows(values, heads) if heads else values
    return out


def load(path):
    """-> (LlamaRef, metadata, {GGUF name: type name})."""
    meta, tensors = read_gguf(path)
    cfg = hf_config(meta, tensors, path)
    model = LlamaRef.from_dict(cfg, hf_weights(tensors, cfg, path))
    return model, meta, {n: t for n, (t, _) in tensors.items()}


def dump_name(dump_path, gguf_path, name):
    """The expert's name in the dump: --name, else the file's stem (SPEC 4 names an -m expert
    after the last path component), else its full name, else the dump's only expert."""
    if name:
        return name
    from safetensors_io import read_safetensors
    experts = sorted(k[len("tokens."):] for k in read_safetensors(dump_path) if k.startswith("tokens."))
    base = os.path.basename(gguf_path)
    for candidate in (os.path.splitext(base)[0], base):
        if candidate in experts:
            return candidate
    if len(experts) == 1:
        print(f"note: the dump names its expert {experts[0]!r} (expected {os.path.splitext(base)[0]!r})")
        return experts[0]
    raise ValueError(f"{dump_path}: no expert named after {base} among {experts}")


def prompt_tokens(args, meta):
    if args.prompt is None:
        return None
    if args.hf_dir:
        return compare_dump.hf_prompt_tokens(args.hf_dir, args.prompt)
    from gguf_tokenizer import tokenizer_for
    try:
        return tokenizer_for(meta).encode(args.prompt)
    except ValueError as e:
        print(f"note: prompt tokens not checked: {e}")
        return None


def compare(args):
    model, meta, _ = load(args.gguf)
    name = dump_name(args.dump, args.gguf, args.name)
    return compare_dump.check_dump(args.dump, name, model, args.tol, greedy=not args.no_greedy,
                                   want_prompt=prompt_tokens(args, meta),
                                   ref_greedy=not args.no_greedy)


def generate(args):
    from gguf_tokenizer import tokenizer_for
    model, meta, _ = load(args.gguf)
    tok = tokenizer_for(meta)
    ids = tok.encode(args.prompt)
    n_prompt = len(ids)
    for _ in range(args.n):
        nxt = compare_dump.first_argmax(model.forward(ids)[-1].numpy())
        ids.append(nxt)
        if nxt == tok.eos:
            break
    print(f"prompt tokens {ids[:n_prompt]}\ngenerated {ids[n_prompt:]}")
    print(repr(tok.decode(ids[n_prompt:])))
    return []


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--gguf", required=True)
    c.add_argument("--dump", required=True)
    c.add_argument("--name")
    c.add_argument("--prompt")
    c.add_argument("--hf-dir")
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--no-greedy", action="store_true", help="a sampled run: logits only")
    g = sub.add_parser("generate")
    g.add_argument("--gguf", required=True)
    g.add_argument("-p", "--prompt", required=True)
    g.add_argument("-n", type=int, default=16)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    try:
        failures = compare(args) if args.cmd == "compare" else generate(args)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in failures:
        print(f"FAIL: {line}")
    if args.cmd == "compare":
        print("PASS" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
