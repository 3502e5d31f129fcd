#!/usr/bin/python3
"""Self-check of the GGUF test tools, no mot binary needed: make_model.py -> make_gguf.py ->
gguf_ref.py must give back what went in.

    test_gguf_roundtrip.py WORK_DIR CASE...   (CASE: exact, quant, config, tokenizer, compare)

- exact: F32/F16/BF16 files made from f32/f16/bf16 folders read back as the very same HF
  weights (bit for bit), which proves the attn_q/attn_k permutation round-trips; tied and
  untied; and the folder's reference and the file's give the same logits.
- quant: every quantized type (and --mixed, with --type Q4_K, Q3_K and Q2_K) dequantizes close
  to the originals, tensor by tensor (a loose bound per type: a wrong block packing is off by
  the whole range), norms stay exact F32, and each tensor has the type asked for.
- config: hyper-parameters survive: GQA, head_dim != hidden/heads (key_length), rope
  linear and llama3 (rope_freqs), a Mistral sliding window; logits equal the folder's.
- compare: gguf_ref.py compare accepts the reference's own dump and rejects damaged ones.
- tokenizer: the gpt2-style metadata rebuilt as a tokenizer encodes like HF's tokenizer.json;
  the llama-style scores order merged tokens by merge rank; BOS/EOS/add_bos/template keys.
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import gguf_ref  # noqa: E402
from llama_ref import LlamaRef  # noqa: E402

PY = sys.executable
WORK = sys.argv[1] if len(sys.argv) > 1 else "/tmp/gguf-roundtrip"
TOKENS = [5, 77, 300, 12, 9, 250, 31, 64, 100, 2, 3, 200, 150, 42, 7, 99, 180, 33, 60, 120]
# max|dequantized - original| / max|original| per tensor; the tiny models' weights are N(0, 0.06).
# About twice the worst measured (tests/tools/gguf_quant.py's simple rules): Q5_0 0.041,
# Q5_1 0.028, IQ4_NL 0.081, IQ4_XS 0.083, Q3_K 0.176, Q2_K 0.275
QUANT_BOUNDS = {"Q8_0": 0.01, "Q6_K": 0.03, "Q5_K": 0.06, "Q4_K": 0.12, "Q4_0": 0.15, "Q4_1": 0.12,
                "F16": 1e-3, "BF16": 8e-3, "Q5_0": 0.08, "Q5_1": 0.06, "IQ4_NL": 0.15,
                "IQ4_XS": 0.15, "Q3_K": 0.3, "Q2_K": 0.5}
failures = []


def make_model(name, *flags):
    out = os.path.join(WORK, "models", name)
    subprocess.run([PY, os.path.join(TESTS, "tools", "make_model.py"), out, *flags], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def make_gguf(model_dir, name, *flags):
    """make_gguf.py in this process (torch is imported once, not once per file)."""
    import contextlib
    import io
    import make_gguf as tool
    out = os.path.join(WORK, name + ".gguf")
    with contextlib.redirect_stdout(io.StringIO()):
        tool.main([model_dir, out, *flags])
    return out


def expect(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def logits_match(folder, path, label, tol=1e-9):
    ref = LlamaRef.load(folder).forward(TOKENS).numpy()
    got = gguf_ref.load(path)[0].forward(TOKENS).numpy()
    rel = (np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)).max()
    expect(rel <= tol, f"{label}: logits of the file equal the folder's (rel {rel:.2e} <= {tol:g})")


def test_exact():
    for dtype, gtype, tie in (("f32", "F32", "--untied"), ("f16", "F16", "--tied"),
                              ("bf16", "BF16", "--untied"), ("f32", "F32", "--tied")):
        folder = make_model(f"exact-{dtype}{tie}", "--preset", "tiny-gqa", "--dtype", dtype, tie)
        path = make_gguf(folder, f"exact-{dtype}{tie}", "--type", gtype)
        meta, tensors = gguf_ref.read_gguf(path)
        cfg = gguf_ref.hf_config(meta, tensors, path)
        got = gguf_ref.hf_weights(tensors, cfg, path)
        want = {k: v.numpy() for k, v in LlamaRef.load(folder).w.items()}
        expect(sorted(got) == sorted(want), f"{gtype} {tie}: same tensor names as the folder")
        same = [k for k in want if k in got and np.array_equal(got[k], want[k])]
        expect(len(same) == len(want), f"{gtype} {tie}: {len(same)}/{len(want)} tensors equal "
               "bit for bit (attn_q/attn_k unpermuted)")
        expect(("output.weight" in tensors) == (tie == "--untied"),
               f"{gtype} {tie}: output.weight present iff untied")
        permuted = tensors["blk.0.attn_q.weight"][1]
        expect(not np.array_equal(permuted, want["model.layers.0.self_attn.q_proj.weight"]),
               f"{gtype} {tie}: attn_q is stored permuted, not in HF's order")
        logits_match(folder, path, f"{gtype} {tie}")


def test_quant():
    plain = make_model("quant-32", "--preset", "tiny", "--untied")
    k256 = make_model("quant-256", "--preset", "tiny", "--hidden", "256", "--ffn", "512",
                      "--heads", "4", "--kv-heads", "2", "--untied")
    cases = [(plain, t, []) for t in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL")]
    cases += [(k256, t, []) for t in ("Q4_K", "Q5_K", "Q6_K", "Q8_0", "Q2_K", "Q3_K", "IQ4_XS")]
    cases += [(k256, t, ["--mixed"]) for t in ("Q4_K", "Q3_K", "Q2_K")]
    cases += [(k256, "Q5_K", ["--embed-type", "Q8_0", "--output-type", "Q6_K"])]
    for folder, qtype, flags in cases:
        label = f"{qtype}{' ' + ' '.join(flags) if flags else ''} ({os.path.basename(folder)})"
        path = make_gguf(folder, f"quant-{os.path.basename(folder)}-{qtype}{''.join(flags)}",
                         "--type", qtype, *flags)
        meta, tensors = gguf_ref.read_gguf(path)
        cfg = gguf_ref.hf_config(meta, tensors, path)
        got = gguf_ref.hf_weights(tensors, cfg, path)
        want = {k: v.numpy() for k, v in LlamaRef.load(folder).w.items()}
        worst, types = {}, {}
        for hf, w in want.items():
            gname = gguf_ref.gguf_layout.hf_to_gguf_name(hf)
            t = tensors[gname][0]
            types.setdefault(t, []).append(gname)
            rel = np.abs(got[hf] - w).max() / np.abs(w).max()
            bound = 0.0 if t == "F32" else QUANT_BOUNDS[t]
            if rel > bound:
                failures.append(f"{label}: {gname} ({t}) rel error {rel:.3e} > {bound}")
            worst[t] = max(worst.get(t, 0.0), rel)
        expect(all(worst[t] <= (0.0 if t == "F32" else QUANT_BOUNDS[t]) for t in worst),
               f"{label}: dequantized close to the originals, worst per type "
               + ", ".join(f"{t} {r:.2e}" for t, r in sorted(worst.items())))
        one_d = [n for n, (t, v) in tensors.items() if v.ndim == 1]
        expect(all(tensors[n][0] == "F32" for n in one_d), f"{label}: 1-D tensors are F32")
        if "--mixed" in flags:
            from make_gguf import MIX_UP
            mix = {"F32", qtype, "Q8_0", "Q6_K", "F16", "Q4_1", *MIX_UP.get(qtype, ())}
            expect(set(types) == mix and tensors["token_embd.weight"][0] == "Q8_0"
                   and tensors["output.weight"][0] == "Q6_K",
                   f"{label}: mixed types {sorted(types)}")
        elif "--embed-type" in flags:
            expect(tensors["token_embd.weight"][0] == "Q8_0" and tensors["output.weight"][0] == "Q6_K"
                   and tensors["blk.0.attn_q.weight"][0] == qtype, f"{label}: per-tensor types")
        else:
            expect(set(types) == {"F32", qtype}, f"{label}: types {sorted(types)}")
    # the K-quant block sizes are 256: a 64-wide model needs --fallback
    r = subprocess.run([PY, os.path.join(TESTS, "tools", "make_gguf.py"), plain,
                        os.path.join(WORK, "never.gguf"), "--type", "Q4_K"], capture_output=True, text=True)
    expect(r.returncode != 0 and "multiple of" in r.stderr,
           f"Q4_K on 64-wide rows is refused without --fallback: {r.stderr.strip()[-80:]!r}")


def test_config():
    cases = {
        "gqa-headdim": ["--preset", "tiny", "--heads", "4", "--kv-heads", "2", "--head-dim", "24"],
        "rope-linear": ["--preset", "tiny", "--rope-scaling", "linear"],
        "rope-llama3": ["--preset", "tiny", "--rope-scaling", "llama3"],
        "mistral-window": ["--preset", "tiny-mistral", "--sliding-window", "6"],
    }
    for name, flags in cases.items():
        folder = make_model("config-" + name, *flags)
        path = make_gguf(folder, "config-" + name, "--type", "F32")
        meta, tensors = gguf_ref.read_gguf(path)
        want = LlamaRef.load(folder).cfg
        got = gguf_ref.load(path)[0].cfg
        fields = ["hidden", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn", "vocab",
                  "rope_theta", "tied", "sliding_window"]
        diff = [f for f in fields if getattr(got, f) != getattr(want, f)]
        expect(not diff and abs(got.rms_eps - want.rms_eps) < 1e-12,
               f"{name}: config fields equal ({diff or 'all'})")
        if name == "gqa-headdim":
            expect(meta.get("llama.attention.key_length") == 24, f"{name}: key_length written")
        if name == "rope-llama3":
            expect("rope_freqs.weight" in tensors, f"{name}: rope_freqs.weight written")
        if name == "mistral-window":
            expect(meta.get("llama.attention.sliding_window") == 6, f"{name}: sliding_window written")
        # rope_freqs is stored as F32, so the llama3 frequencies carry a float32 rounding
        logits_match(folder, path, name, tol=1e-7 if name == "rope-llama3" else 1e-9)


def test_tokenizer():
    from tokenizers import Tokenizer
    from gguf_tokenizer import GGUFTokenizer, SPMTokenizer
    import compare_dump
    texts = ["The quick brown fox jumps over the lazy dog, then naps.",
             "  Leading spaces,\ttabs\nand newlines: 1234567 café — naïve 😀🎉 日本語のテキスト",
             "I'm sure you're right; we'd better go.\n\n\nJSON: {\"ok\": true}"]
    folder = make_model("tok-bytelevel", "--preset", "tiny", "--tokenizer", "byte-level")
    path = make_gguf(folder, "tok-bytelevel", "--type", "F32", "--chat-template", "chatml")
    meta, _ = gguf_ref.read_gguf(path)
    oracle = GGUFTokenizer(meta)
    for text in texts:
        want = compare_dump.hf_prompt_tokens(folder, text)
        expect(oracle.encode(text) == want, f"byte-level: the file's vocabulary encodes like HF "
               f"({len(want)} tokens of {text[:20]!r})")
    expect(meta["tokenizer.ggml.pre"] == "llama-bpe" and meta["tokenizer.ggml.add_bos_token"] is True
           and "<|im_start|>" in meta.get("tokenizer.chat_template", ""),
           "byte-level: pre llama-bpe, add_bos_token, chat template")
    hf = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    expect(meta["tokenizer.ggml.bos_token_id"] == hf.token_to_id("<|begin_of_text|>") and
           meta["tokenizer.ggml.eos_token_id"] == hf.token_to_id("<|end_of_text|>") and
           meta["tokenizer.ggml.token_type"][meta["tokenizer.ggml.bos_token_id"]] == 3,
           "byte-level: BOS/EOS ids and CONTROL type")

    for style in ("sentencepiece", "sentencepiece-metaspace"):
        folder = make_model("tok-" + style, "--preset", "tiny", "--tokenizer", style)
        path = make_gguf(folder, "tok-" + style, "--type", "F32")
        meta, _ = gguf_ref.read_gguf(path)
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as fh:
            model = json.load(fh)["model"]
        tokens, scores = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"]
        types = meta["tokenizer.ggml.token_type"]
        merged = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        order = [scores[tokens.index(m.replace(" ", "", 1))] for m in merged[:50]]
        expect(all(a > b for a, b in zip(order, order[1:])),
               f"{style}: scores fall with merge rank")
        expect(types[0] == 2 and types[1] == 3 and types[2] == 3 and types[3] == 6
               and tokens[3] == "<0x00>" and types.count(6) == 256,
               f"{style}: token types unk 2, control 3, 256 bytes 6")
        oracle = SPMTokenizer(meta)
        for text in texts if style == "sentencepiece" else texts[:1]:
            # (HF's Metaspace adds no U+2581 before a text that starts with a space; llama.cpp
            # always does: the metaspace style is compared on a text without leading spaces)
            want = compare_dump.hf_prompt_tokens(folder, text)
            expect(oracle.encode(text) == want, f"{style}: llama.cpp's merge rule over the "
                   f"file's scores encodes like HF ({len(want)} tokens of {text[:20]!r})")
        expect(meta["tokenizer.ggml.model"] == "llama" and meta["tokenizer.ggml.add_bos_token"] is True
               and meta["tokenizer.ggml.bos_token_id"] == 1 and meta["tokenizer.ggml.unknown_token_id"] == 0,
               f"{style}: model llama, BOS 1, UNK 0, add_bos_token")


def test_compare():
    """gguf_ref.py compare on dumps made from the reference itself: the truth passes, a
    perturbed row, a wrong greedy token and a wrong prompt fail; a near-tie stops the
    comparison without failing."""
    import compare_dump
    from safetensors_io import write_safetensors
    folder = make_model("compare", "--preset", "tiny", "--hidden", "256", "--ffn", "512",
                        "--untied")
    path = make_gguf(folder, "compare-mixed", "--type", "Q4_K", "--mixed")
    model = gguf_ref.load(path)[0]
    prompt = "The quick brown fox"
    ids = compare_dump.hf_prompt_tokens(folder, prompt)
    n = len(ids)
    for _ in range(8):
        ids.append(compare_dump.first_argmax(model.forward(ids)[-1].numpy()))
    logits = model.forward(ids[:-1])[n - 1:].numpy().astype(np.float32)

    def run(label, tokens, rows, expect_status, name="compare-mixed", extra=()):
        dump = os.path.join(WORK, label + ".safetensors")
        write_safetensors(dump, {f"tokens.{name}": np.array(tokens, dtype=np.int32),
                                 f"logits.{name}": rows})
        status = gguf_ref.main(["compare", "--gguf", path, "--dump", dump, "--prompt", prompt,
                                "--hf-dir", folder, *extra])
        expect(status == expect_status, f"compare {label}: exit {status} (want {expect_status})")

    run("truth", ids, logits, 0)
    run("other-name", ids, logits, 0, name="somebody")
    bad = logits.copy()
    bad[3] += 1e-3 * np.abs(bad[3]).max()
    run("perturbed-row", ids, bad, 1)
    wrong = list(ids)
    row = logits[2].astype(np.float64)
    wrong[n + 2] = int(np.argsort(row)[-2])
    bad = logits.copy()
    bad[2, wrong[n + 2]] = bad[2].max() + 1.0   # mot's own arg-max, but not the reference's
    run("wrong-greedy-token", wrong, bad, 1)
    run("wrong-prompt", [ids[1]] + ids[1:], logits, 1)
    # a near-tie: the reference's top two within the bound, mot took the second
    ref = np.zeros((3, 5))
    ref[1, 2], ref[1, 4] = 1.0, 1.0 - 1e-6
    rows, failure = compare_dump.first_divergence(np.array([0, 4, 1]), ref, 1e-4)
    expect(rows == 2 and failure is None, "near-tie divergence: compared through that step, no failure")
    rows, failure = compare_dump.first_divergence(np.array([0, 3, 1]), ref, 1e-4)
    expect(rows == 2 and failure is not None, "clear divergence: a failure")


CASES = {"exact": test_exact, "quant": test_quant, "config": test_config,
         "tokenizer": test_tokenizer, "compare": test_compare}


def main():
    os.makedirs(WORK, exist_ok=True)
    for name in sys.argv[2:] or sorted(CASES):
        CASES[name]()
    if failures:
        print(f"{len(failures)} failure(s):\n  " + "\n  ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
