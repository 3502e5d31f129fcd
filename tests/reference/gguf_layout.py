"""How a Hugging Face Llama checkpoint maps onto llama.cpp's GGUF layout, in both directions.

Shared by the writer (tests/tools/make_gguf.py) and the reader (gguf_ref.py) so that the two
cannot drift apart: tensor names, and the row permutation of attn_q / attn_k.

Why the permutation: Hugging Face's RoPE rotates the pairs (i, i + hd/2) of each head
(rotate_half); llama.cpp's `llama` architecture rotates adjacent pairs (2i, 2i + 1). Its
converter therefore reorders the rows of q_proj and k_proj inside every head so that HF row
i goes to 2i and HF row i + hd/2 goes to 2i + 1. Rotating adjacent pairs of the reordered
projection is the same computation, so the logits are unchanged. mot computes what HF
computes, so a reader must undo this (or follow it in its kernels).
"""
import re

import numpy as np

# HF suffix inside model.layers.{i}. -> GGUF name inside blk.{i}.
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_HF_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)")
_GGUF_LAYER = re.compile(r"blk\.(\d+)\.(.+)")


def hf_to_gguf_name(name):
    """'model.layers.3.self_attn.q_proj.weight' -> 'blk.3.attn_q.weight'; KeyError if unknown."""
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    m = _HF_LAYER.fullmatch(name)
    if not m or m.group(2) not in LAYER_NAMES:
        raise KeyError(f"tensor {name}: no GGUF name for it")
    return f"blk.{m.group(1)}.{LAYER_NAMES[m.group(2)]}"


def gguf_to_hf_name(name):
    """The inverse of hf_to_gguf_name; None for GGUF tensors HF has no name for (rope_freqs)."""
    for hf, gg in GLOBAL_NAMES.items():
        if name == gg:
            return hf
    m = _GGUF_LAYER.fullmatch(name)
    if m:
        for hf, gg in LAYER_NAMES.items():
            if m.group(2) == gg:
                return f"model.layers.{m.group(1)}.{hf}"
    return None


def permute_rows(w, n_heads):
    """HF -> llama.cpp row order of q_proj (n_heads = query heads) or k_proj (KV heads).
    Per head, rows [h0 | h1] (two halves of hd/2) become interleaved h0[0], h1[0], h0[1], ..."""
    rows = w.shape[0]
    hd = rows // n_heads
    if hd * n_heads != rows or hd % 2:
        raise ValueError(f"cannot permute {rows} rows over {n_heads} heads (need an even head_dim)")
    return w.reshape(n_heads, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rows(w, n_heads):
    """llama.cpp -> HF row order: the inverse of permute_rows."""
    rows = w.shape[0]
    hd = rows // n_heads
    if hd * n_heads != rows or hd % 2:
        raise ValueError(f"cannot unpermute {rows} rows over {n_heads} heads (need an even head_dim)")
    return w.reshape(n_heads, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def heads_for(hf_name, n_heads, n_kv_heads):
    """How many heads to permute a tensor over: q_proj by query heads, k_proj by KV heads,
    anything else not at all (None)."""
    if hf_name.endswith("self_attn.q_proj.weight"):
        return n_heads
    if hf_name.endswith("self_attn.k_proj.weight"):
        return n_kv_heads
    return None


def _self_test():
    w = np.arange(2 * 8 * 3).reshape(16, 3)
    p = permute_rows(w, 2)
    assert (p[:, 0] // 3).tolist() == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]
    assert (unpermute_rows(p, 2) == w).all()


_self_test()
