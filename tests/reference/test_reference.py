#!/usr/bin/python3
"""Checks the float64 reference against direct formulas, and compare_dump.py against dumps
it must accept and dumps it must reject.

    test_reference.py WORK_DIR [CASE...]      (cases: see CASES; default all)
"""
import math
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_ref as ref  # noqa: E402
from safetensors_io import bf16_bits_to_f32, write_safetensors  # noqa: E402

MAKE_MODEL = os.path.join(HERE, "..", "tools", "make_model.py")
PY = sys.executable


def expect(ok, what):
    if not ok:
        raise AssertionError(what)


def close(a, b, tol, what):
    a, b = (torch.as_tensor(t, dtype=torch.float64) for t in (a, b))
    err = float((a - b).abs().max())
    expect(err <= tol, f"{what}: max abs error {err:.3e} > {tol:g}")


def small_config(**over):
    cfg = dict(model_type="llama", hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
               num_key_value_heads=2, intermediate_size=48, vocab_size=50, rms_norm_eps=1e-5,
               rope_theta=10000.0)
    cfg.update(over)
    return ref.RefConfig(cfg)


# ---- the math, against direct formulas ----

def test_bf16_decode():
    bits = np.array([0x3F80, 0xC000, 0x3E80, 0x0000, 0x7F80], dtype=np.uint16)
    got = bf16_bits_to_f32(bits)
    expect(got.tolist() == [1.0, -2.0, 0.25, 0.0, float("inf")], f"bf16 decode gave {got}")


def test_llama3_inv_freq():
    """Per frequency, the piecewise rule of Llama 3.1, written as a scalar loop."""
    rs = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
              original_max_position_embeddings=32)
    cfg = small_config(head_dim=16, rope_scaling=rs)
    got = ref.rope_inv_freq(cfg)
    regions = set()
    for i in range(8):
        f = 1.0 / 10000.0 ** (2 * i / 16)
        wavelen = 2 * math.pi / f
        if wavelen < 32 / 4.0:
            want, region = f, "high"
        elif wavelen > 32 / 1.0:
            want, region = f / 8.0, "low"
        else:
            t = (32 / wavelen - 1.0) / (4.0 - 1.0)
            want, region = (1 - t) * f / 8.0 + t * f, "medium"
        regions.add(region)
        expect(abs(float(got[i]) - want) <= 1e-15 * max(1.0, want),
               f"llama3 inv_freq[{i}] ({region}): got {float(got[i])}, want {want}")
    expect(regions == {"high", "medium", "low"}, f"test covers only {regions}")


def test_rope_pairs():
    """RoPE rotates the pair (x[i], x[i + hd/2]) by angle pos * inv_freq[i] (/ factor if linear)."""
    for rs, div in (({}, 1.0), ({"type": "linear", "factor": 4.0}, 4.0)):
        cfg = small_config(rope_scaling=rs)
        hd = cfg.head_dim
        x = torch.randn(2, 5, hd, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        cos, sin = ref.rope_cos_sin(cfg, torch.arange(5))
        got = ref.apply_rope(x, cos, sin)
        want = torch.empty_like(x)
        for p in range(5):
            for i in range(hd // 2):
                a = (p / div) * 10000.0 ** (-2 * i / hd)
                x0, x1 = x[:, p, i], x[:, p, i + hd // 2]
                want[:, p, i] = x0 * math.cos(a) - x1 * math.sin(a)
                want[:, p, i + hd // 2] = x1 * math.cos(a) + x0 * math.sin(a)
        close(got, want, 1e-12, f"rope {rs or 'plain'}")


def test_attention_naive():
    """GQA with causal + sliding-window mask equals a loop over heads, queries and keys."""
    g = torch.Generator().manual_seed(2)
    H, Hk, T, hd, window = 6, 2, 9, 4, 3
    q = torch.randn(H, T, hd, dtype=torch.float64, generator=g)
    k = torch.randn(Hk, T, hd, dtype=torch.float64, generator=g)
    v = torch.randn(Hk, T, hd, dtype=torch.float64, generator=g)
    for w in (0, window):
        got = ref.attention(q, k, v, ref.attention_mask(T, w))
        want = torch.zeros(H, T, hd, dtype=torch.float64)
        for h in range(H):
            kv = h // (H // Hk)
            for p in range(T):
                keys = [j for j in range(T) if j <= p and (w == 0 or p - j < w)]
                s = [float(q[h, p] @ k[kv, j]) / math.sqrt(hd) for j in keys]
                m = max(s)
                e = [math.exp(x - m) for x in s]
                for j, ej in zip(keys, e):
                    want[h, p] += ej / sum(e) * v[kv, j]
        close(got, want, 1e-12, f"attention window={w}")


def test_rms_norm():
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    got = ref.rms_norm(x, torch.tensor([1.0, 2.0], dtype=torch.float64), 0.5)
    r = math.sqrt((9 + 16) / 2 + 0.5)  # eps inside the root
    close(got, [[3 / r, 8 / r]], 1e-15, "rms_norm")


# ---- whole models from the generator ----

def make(work, name, *flags):
    out = os.path.join(work, name)
    subprocess.run([PY, MAKE_MODEL, out, "--tokenizer", "none", *flags], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def test_forward_is_causal(work):
    """Logits of a prefix equal the first rows of the full sequence (incl. sliding window)."""
    d = make(work, "causal", "--preset", "tiny-mistral", "--sliding-window", "4")
    model = ref.LlamaRef.load(d)
    toks = [3, 17, 42, 5, 99, 7, 8, 250, 11]
    full = model.forward(toks)
    close(model.forward(toks[:6]), full[:6], 1e-12, "prefix logits")
    expect(full.shape == (9, model.cfg.vocab), f"logits shape {tuple(full.shape)}")


def test_dtypes_agree(work):
    """f16/bf16 checkpoints of the same seed give logits near the f32 ones, not equal."""
    toks = [1, 2, 3, 4, 5]
    f32 = ref.LlamaRef.load(make(work, "dt_f32")).forward(toks)
    for dt, tol in (("f16", 2e-2), ("bf16", 1e-1)):
        other = ref.LlamaRef.load(make(work, "dt_" + dt, "--dtype", dt)).forward(toks)
        rel = float((other - f32).abs().max() / f32.abs().max())
        expect(0 < rel < tol, f"{dt} vs f32: rel {rel:.3e} outside (0, {tol})")


def run_compare(model_dir, dump, *flags):
    return subprocess.run([PY, os.path.join(HERE, "compare_dump.py"), "--model", model_dir,
                           "--dump", dump, *flags], capture_output=True, text=True)


def test_compare_dump(work):
    """A dump made from the reference passes; a perturbed row or a wrong greedy token fails."""
    d = make(work, "cmp", "--preset", "tiny-gqa")
    model = ref.LlamaRef.load(d)
    tokens = [1, 40, 41, 42]
    N, rows = len(tokens), []
    for _ in range(5):                  # greedy generation with the reference itself
        row = model.forward(tokens)[-1].numpy()
        rows.append(row)
        tokens.append(int(np.argmax(row)))
    logits = np.array(rows, dtype=np.float32)
    name = os.path.basename(d)
    good = os.path.join(work, "good.safetensors")
    write_safetensors(good, {f"tokens.{name}": np.array(tokens, dtype=np.int32),
                             f"logits.{name}": logits})
    r = run_compare(d, good, "--greedy", "--top-k", "1")
    expect(r.returncode == 0, f"a faithful dump failed:\n{r.stdout}{r.stderr}")

    bad = logits.copy()
    bad[3, 7] += 1e-3 * np.abs(bad[3]).max()
    path = os.path.join(work, "bad_logits.safetensors")
    write_safetensors(path, {f"tokens.{name}": np.array(tokens, dtype=np.int32),
                             f"logits.{name}": bad})
    r = run_compare(d, path)
    expect(r.returncode == 1 and "row 3" in r.stdout, f"a perturbed row passed:\n{r.stdout}")

    wrong = list(tokens)
    wrong[N + 2] = (wrong[N + 2] + 1) % model.cfg.vocab
    path = os.path.join(work, "bad_token.safetensors")
    write_safetensors(path, {f"tokens.{name}": np.array(wrong, dtype=np.int32),
                             f"logits.{name}": logits})
    r = run_compare(d, path, "--greedy")
    expect(r.returncode == 1 and "step 2: greedy" in r.stdout, f"a wrong token passed:\n{r.stdout}")

    r = run_compare(d, os.path.join(work, "missing.safetensors"))
    expect(r.returncode == 2 and "error:" in r.stderr, "a missing dump was not an input error")


CASES = {
    "bf16": lambda w: test_bf16_decode(),
    "llama3": lambda w: test_llama3_inv_freq(),
    "rope": lambda w: test_rope_pairs(),
    "attention": lambda w: test_attention_naive(),
    "rmsnorm": lambda w: test_rms_norm(),
    "causal": test_forward_is_causal,
    "dtypes": test_dtypes_agree,
    "compare": test_compare_dump,
}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    work = sys.argv[1]
    os.makedirs(work, exist_ok=True)
    failed = 0
    for name in sys.argv[2:] or CASES:
        try:
            CASES[name](work)
            print(f"ok   {name}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
