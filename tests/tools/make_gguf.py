#!/usr/bin/python3
"""Converts a Hugging Face Llama/Mistral folder (as make_model.py writes it) into a GGUF file
of architecture `llama`, laid out as llama.cpp's convert_hf_to_gguf.py lays it out, so that
mot's GGUF loader can be tested on files whose every byte we know.

    make_gguf.py HF_DIR OUT.gguf --type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|Q2_K|Q3_K|Q4_K|
                                        Q5_K|Q6_K|IQ4_NL|IQ4_XS
                 [--embed-type T] [--output-type T] [--mixed] [--fallback]
                 [--chat-template chatml] [--name NAME]

- Hyper-parameters: llama.* keys (context_length, embedding_length, block_count,
  feed_forward_length, attention.head_count(_kv), attention.layer_norm_rms_epsilon,
  rope.freq_base, rope.dimension_count, vocab_size; attention.key_length/value_length when
  head_dim != hidden/heads; rope.scaling.type/factor for `linear`; for `llama3` the
  converter's rope_freqs.weight tensor of per-frequency divisors; attention.sliding_window for
  a Mistral window, the key llama.cpp uses for sliding windows, which its own converter does
  not write for this architecture: mot computes what HF computes, so the window must travel).
- Tensors: token_embd, blk.{i}.attn_norm/attn_q/attn_k/attn_v/attn_output/ffn_norm/ffn_gate/
  ffn_up/ffn_down, output_norm, output (absent when tied); attn_q/attn_k rows permuted as
  llama.cpp does (tests/reference/gguf_layout.py); norms and other 1-D tensors F32.
- Tokenizer: tests/tools/gguf_vocab.py.
- --mixed: types differ per tensor, like llama.cpp's Q4_K_M: token_embd Q8_0, output Q6_K,
  attn_v/ffn_down Q6_K in even layers, one F16 and one Q4_1 matrix; the rest --type. With
  --type Q3_K (Q3_K_M-like) those attn_v/ffn_down are Q4_K; with Q2_K, attn_v Q4_K and
  ffn_down Q3_K, as llama.cpp lifts its low-bit mixes by a type or two, not to Q6_K.
- --fallback: a matrix whose rows are not a multiple of the type's block is written Q8_0
  (or F16), as llama.cpp falls back; without it that is an error.
The output is written to OUT.gguf.tmp and renamed, so a reader never sees half a file.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import gguf  # noqa: E402
import gguf_layout  # noqa: E402
import gguf_quant  # noqa: E402
import gguf_vocab  # noqa: E402
from llama_ref import load_checkpoint, rope_inv_freq, RefConfig  # noqa: E402

FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
              "Q2_K": 10, "Q3_K": 12, "Q4_K": 15, "Q5_K": 17, "Q6_K": 18, "IQ4_NL": 25,
              "IQ4_XS": 30, "BF16": 32}   # llama.cpp's LlamaFileType (the K types: their _M mix)
# --mixed: the types of even layers' attn_v and ffn_down, per --type (default Q6_K, Q6_K)
MIX_UP = {"Q3_K": ("Q4_K", "Q4_K"), "Q2_K": ("Q4_K", "Q3_K")}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("hf_dir")
    p.add_argument("out")
    p.add_argument("--type", required=True, choices=gguf_quant.TYPES)
    p.add_argument("--embed-type", choices=gguf_quant.TYPES)
    p.add_argument("--output-type", choices=gguf_quant.TYPES)
    p.add_argument("--mixed", action="store_true")
    p.add_argument("--fallback", action="store_true")
    p.add_argument("--chat-template", choices=["chatml"])
    p.add_argument("--name", help="general.name (default: the folder's name)")
    return p.parse_args(argv)


def tensor_type(gguf_name, shape, args):
    """The type one tensor is written in."""
    if len(shape) == 1:
        return "F32"
    layer = int(gguf_name.split(".")[1]) if gguf_name.startswith("blk.") else -1
    t = args.type
    if args.mixed:
        if gguf_name == "token_embd.weight":
            t = "Q8_0"
        elif gguf_name == "output.weight":
            t = "Q6_K"
        elif gguf_name.endswith(("attn_v.weight", "ffn_down.weight")) and layer % 2 == 0:
            t = MIX_UP.get(args.type, ("Q6_K", "Q6_K"))[gguf_name.endswith("ffn_down.weight")]
        elif gguf_name == "blk.0.attn_output.weight":
            t = "F16"
        elif gguf_name == "blk.1.ffn_up.weight":
            t = "Q4_1"
    if gguf_name == "token_embd.weight" and args.embed_type:
        t = args.embed_type
    if gguf_name == "output.weight" and args.output_type:
        t = args.output_type
    bs = gguf_quant.block_size(t)
    if shape[-1] % bs:
        if not args.fallback:
            raise SystemExit(f"make_gguf.py: {gguf_name}: rows of {shape[-1]} values are not a "
                             f"multiple of {t}'s block of {bs} (use --fallback, or a model "
                             f"whose sizes are multiples of {bs})")
        t = "Q8_0" if shape[-1] % 32 == 0 else "F16"
        print(f"make_gguf.py: {gguf_name} falls back to {t}")
    return t


def hyper_parameters(w, cfg, ref_cfg):
    """Writes the llama.* keys from config.json (cfg) and RefConfig (ref_cfg)."""
    w.add_vocab_size(ref_cfg.vocab)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(ref_cfg.hidden)
    w.add_block_count(ref_cfg.n_layers)
    w.add_feed_forward_length(ref_cfg.ffn)
    w.add_head_count(ref_cfg.n_heads)
    w.add_head_count_kv(ref_cfg.n_kv_heads)
    w.add_rope_freq_base(ref_cfg.rope_theta)
    w.add_layer_norm_rms_eps(ref_cfg.rms_eps)
    w.add_rope_dimension_count(ref_cfg.head_dim)
    if ref_cfg.head_dim != ref_cfg.hidden // ref_cfg.n_heads:
        w.add_key_length(ref_cfg.head_dim)
        w.add_value_length(ref_cfg.head_dim)
    if ref_cfg.rope_type == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(ref_cfg.rope_scaling["factor"])
    elif ref_cfg.rope_type not in ("default", "llama3"):
        raise SystemExit(f"make_gguf.py: rope scaling {ref_cfg.rope_type!r} is not handled")
    if ref_cfg.sliding_window:
        w.add_sliding_window(ref_cfg.sliding_window)


def llama3_rope_factors(ref_cfg):
    """rope_freqs.weight: per frequency, what llama.cpp divides the plain frequency by, so
    that theta_i / factor_i equals HF's llama3-scaled inverse frequency."""
    plain = RefConfig.__new__(RefConfig)
    plain.__dict__.update(ref_cfg.__dict__, rope_scaling={})
    return (rope_inv_freq(plain) / rope_inv_freq(ref_cfg)).numpy().astype(np.float32)


def convert(args):
    with open(os.path.join(args.hf_dir, "config.json")) as fh:
        cfg = json.load(fh)
    ref_cfg = RefConfig(cfg)
    weights = load_checkpoint(args.hf_dir)
    tmp = args.out + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_type("model")
    w.add_name(args.name or os.path.basename(os.path.normpath(args.hf_dir)))
    hyper_parameters(w, cfg, ref_cfg)
    main_type = "Q4_K" if args.mixed and args.type in ("F32", "F16", "BF16") else args.type
    w.add_file_type(FILE_TYPES[main_type])
    if not main_type.startswith(("F", "BF")) or args.mixed:
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    meta = gguf_vocab.vocab_metadata(args.hf_dir, ref_cfg.vocab)
    if args.chat_template == "chatml":
        meta = [m for m in meta if m[0] != "tokenizer.chat_template"]
        meta.append(("tokenizer.chat_template", gguf_vocab.CHATML_TEMPLATE, "str"))
    writers = {"str": w.add_string, "u32": w.add_uint32, "bool": w.add_bool}
    for key, value, kind in meta:
        if kind in writers:
            writers[kind](key, value)
        else:
            w.add_array(key, value)

    if ref_cfg.rope_type == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(ref_cfg))
    counts = {}
    for hf_name, value in weights.items():
        gg_name = gguf_layout.hf_to_gguf_name(hf_name)
        arr = value.numpy().astype(np.float32)
        heads = gguf_layout.heads_for(hf_name, ref_cfg.n_heads, ref_cfg.n_kv_heads)
        if heads:
            arr = gguf_layout.permute_rows(arr, heads)
        t = tensor_type(gg_name, arr.shape, args)
        data, qtype = gguf_quant.quantize(arr, t)
        w.add_tensor(gg_name, data, raw_dtype=qtype)
        counts[t] = counts.get(t, 0) + 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, args.out)
    return counts


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    counts = convert(args)
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    print(f"make_gguf.py: wrote {args.out} ({summary})")


if __name__ == "__main__":
    main()
