#!/usr/bin/env python3
"""Oracle test for tokenizers built from vocabulary arrays (mot_tokenizer_from_vocab, as for a
GGUF file), through `mot-tok --vocab`, against HF `tokenizers`.

usage: vocab_oracle_test.py MOT_TOK WORK_DIR             synthetic vocabularies:
           - make_tokenizer.py's byte-level tokenizer as GGUF holds it (gpt2, pre llama-bpe) against
             HF reading the tokenizer.json it came from;
           - its sentencepiece tokenizer as a scored vocabulary (llama; score = -rank of the merge
             that makes the piece) against HF with the merges LlamaTokenizerFast would hold for
             those scores (vocab_spec.spm_merges), plus user-defined tokens and
             add_space_prefix 0.
       vocab_oracle_test.py MOT_TOK WORK_DIR GGUF        a real model's vocabulary (read with the
           gguf package) against HF built from the same arrays (vocab_spec.hf_from_spec), with the
           file's pre-tokenizer and then with each other name mot knows. Exits 77 (skipped) when
           GGUF does not exist.
Compares encode (with BOS/EOS as the vocabulary says), decode with and without skip_special of
the encodings and of random id sequences, the decode round trip, and vocab size / BOS / EOS /
chat template.
"""
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import vocab_spec  # noqa: E402
import make_tokenizer  # noqa: E402
import oracle_test  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

GGUF_STRINGS = [
    "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    "<|im_start|>assistant\n", "text<|endoftext|>more", "<|endoftext|><|endoftext|>", "< |im_start| >",
    "<repo_name>mot<file_sep>main.c", "<|im_start", "|im_end|>", "12345", "3.14", "-0.5e10", "1,234,567.89",
    "v1.2.3", "0x1F 0b1010 0o17", "2024-03-14", "100%", "$12.50", "x = 42 // 7", "١٢٣ ٤٥٦", "①②③ ⅫⅣ ½ ¾ ²³",
    "for i in range(10):\n\tprint(i)\n", "    \n    \n", "\r\n\r\n", " \t \u00a0 ", "a\u200db", "ﬁne ﬂow",
    "Hello World HELLO world hello", "DON'T don't Don'T it'S", "naïve façade coöperate", "ÀÉÎÕÜ àéîõü",
    "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "こんにちは世界", "你好，世界！", "🏳️‍🌈 🇫🇷 👨🏽‍💻",
    "tab\there", "trailing space ", " leading", "multiple   spaces   here",
    "camelCaseWordsAndHTTPServer", "snake_case_words", "kebab-case-words", "URL: https://hf.co/a/b?c=d#e",
    "email@example.com", "<html><body>x</body></html>", "{\"key\": [1, 2.5, null]}", "a" * 500, "1" * 200,
    " " * 64 + "\n" * 8,
]


def check(name, tool, spec_path, spec, hf, strings, rng, bos, eos):
    failures = 0
    want = [([bos] if bos is not None else []) + hf.encode(s, add_special_tokens=False).ids +
            ([eos] if eos is not None else []) for s in strings]
    got = oracle_test.run_tool(tool, ["encode", spec_path, "--vocab"], strings)
    for s, w, g in zip(strings, want, got):
        if w != g:
            failures += 1
            i = next((k for k in range(min(len(w), len(g))) if w[k] != g[k]), min(len(w), len(g)))
            if failures <= 10:
                print(f"[{name}] encode mismatch for {s[:100]!r}: first difference at {i}:"
                      f" HF {w[max(0, i - 2):i + 4]} ({[hf.id_to_token(t) for t in w[i:i + 3]]})"
                      f" ours {g[max(0, i - 2):i + 4]} ({[hf.id_to_token(t) for t in g[i:i + 3]]})")
    n = len(spec["tokens"])
    seqs = want + [[rng.randrange(n) for _ in range(rng.randint(1, 20))] for _ in range(200)]
    for skip in (False, True):
        got = oracle_test.run_tool(tool, ["decode", spec_path, "--vocab"] + (["--skip-special"] if skip else []),
                                   seqs)
        for ids, g in zip(seqs, got):
            w = hf.decode(ids, skip_special_tokens=skip)
            if w != g:
                failures += 1
                if failures <= 20:
                    print(f"[{name}] decode mismatch (skip_special={skip}) for {ids[:12]}: HF {w[:80]!r} ours {g[:80]!r}")
        if skip and spec["model"] == "gpt2":  # the round trip: byte-level loses nothing but specials
            control = [t for t, ty in zip(spec["tokens"], spec["token_types"]) if ty == vocab_spec.CONTROL and t]
            for s, g, ids in zip(strings, got, want):
                # (a vocabulary may lack a byte: HF then drops it too)
                if g != s and not any(t in s for t in control) and hf.decode(ids, skip_special_tokens=True) == s:
                    failures += 1
                    print(f"[{name}] round trip lost {s[:60]!r}: {g[:60]!r}")
    info = oracle_test.run_tool(tool, ["info", spec_path, "--vocab"], [])[0]
    want_info = {"vocab_size": n, "bos_id": spec["bos_id"], "eos_id": spec["eos_id"],
                 "chat_template": spec["chat_template"]}
    if info != want_info:
        failures += 1
        print(f"[{name}] info {str(info)[:200]} != {str(want_info)[:200]}")
    print(f"[{name}] {len(strings)} strings, {len(seqs)} id sequences x2 decodes: {failures} mismatches")
    return failures


def specials(spec, hf):
    bos = spec["bos_id"] if vocab_spec.add_bos(spec) else None
    eos = spec["eos_id"] if spec["add_eos"] == 1 else None
    return bos, eos


def run_spec(name, tool, work, spec, hf, strings, rng):
    path = os.path.join(work, name + ".json")
    vocab_spec.write_spec(spec, path)
    bos, eos = specials(spec, hf)
    return check(name, tool, path, spec, hf, strings, rng, bos, eos)


def synthetic(tool, work, rng):
    strings = oracle_test.FIXED + random_strings(rng, 250)
    total = 0
    d = os.path.join(work, "byte-level")
    make_tokenizer.write_tokenizer(d, style="byte-level", vocab_size=3000, seed=21)
    spec = vocab_spec.spec_from_tokenizer_json(d)
    spec["chat_template"] = "{{ messages }}"
    # The oracle is HF reading the original tokenizer.json (its TemplateProcessing adds BOS, as
    # llama-bpe's add_bos default does).
    hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    total += run_spec("gpt2-llama-bpe", tool, work, spec, hf, strings, rng)

    d = os.path.join(work, "sentencepiece")
    make_tokenizer.write_tokenizer(d, style="sentencepiece", vocab_size=2000, seed=22)
    spec = vocab_spec.spec_from_tokenizer_json(d)
    total += run_spec("llama-scores", tool, work, spec, vocab_spec.hf_from_spec(spec), strings, rng)
    # For information: how far the score-ranked merges are from the file's own merge list.
    orig = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    derived = vocab_spec.hf_from_spec(spec)
    differ = sum(orig.encode(s).ids != derived.encode(s, add_special_tokens=False).ids for s in strings)
    print(f"[llama-scores] (information) the file's own merge list encodes {differ} of {len(strings)} strings"
          " differently from the merges its scores give")

    # User-defined tokens (matched in the raw text, not special): two pieces of the vocab and a
    # new one; no space prefix; EOS added, BOS not.
    spec = dict(spec, add_space_prefix=0, add_bos=0, add_eos=1, tokens=spec["tokens"] + ["<tag>"],
                scores=spec["scores"] + [0.0], token_types=spec["token_types"] + [vocab_spec.USER_DEFINED])
    chosen = [spec["tokens"][i] for i in (400, 450)] + [SPIECE_WORD]
    for piece in chosen:
        spec["token_types"][spec["tokens"].index(piece)] = vocab_spec.USER_DEFINED
    extra = strings[:80] + [" ".join(chosen) + " <tag>x<tag> ", "".join(chosen) * 3, "x" + SPIECE_WORD + "y"]
    total += run_spec("llama-no-prefix-user-defined", tool, work, spec, vocab_spec.hf_from_spec(spec), extra, rng)
    return total


SPIECE_WORD = vocab_spec.SPIECE + "the"


def random_strings(rng, n):
    oracle_test.SPECIAL_SNIPPETS[:] = sorted(set(oracle_test.SPECIAL_SNIPPETS) | {
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<|im_start", "12345", "3.14"})
    return oracle_test.random_strings(rng, n)


# SmolLM2's ids for a few strings, as published with a SmolLM tokenizer port (checked there
# against HF): an anchor that does not depend on how hf_from_spec builds the oracle.
SMOLLM2_IDS = {
    "Hello, we can use": [19556, 28, 392, 416, 722],
    "The capital of France is": [504, 3575, 282, 4649, 314],
    "Hello world! 123": [19556, 905, 17, 216, 33, 34, 35],
    "Café déjà vu.": [51, 1939, 2756, 32564, 90, 16739, 386, 101, 30],
    "  multiple   spaces": [216, 2701, 256, 5600],
    "\n": [198],
}


def known_ids(tool, spec_path):
    texts = list(SMOLLM2_IDS)
    got = oracle_test.run_tool(tool, ["encode", spec_path, "--vocab", "--raw"], texts)
    bad = [(t, g) for t, g in zip(texts, got) if g != SMOLLM2_IDS[t]]
    for t, g in bad:
        print(f"[smollm2-known] {t!r}: ours {g}, known {SMOLLM2_IDS[t]}")
    return len(bad)


def real_model(tool, work, path, rng):
    spec = vocab_spec.spec_from_gguf(path)
    print(f"{path}: model {spec['model']}, pre {spec['pre']}, {len(spec['tokens'])} tokens,"
          f" {len(spec['merges'] or [])} merges")
    strings = oracle_test.FIXED + GGUF_STRINGS + random_strings(rng, 220)
    total = run_spec(f"gguf-{spec['pre']}", tool, work, spec, vocab_spec.hf_from_spec(spec), strings, rng)
    if spec["pre"] == "smollm" and len(spec["tokens"]) == 49152:
        total += known_ids(tool, os.path.join(work, f"gguf-{spec['pre']}.json"))
    if spec["model"] == "gpt2":
        few = strings[:70] + random_strings(rng, 40)
        for pre in vocab_spec.PRE:
            if pre != spec["pre"]:
                other = dict(spec, pre=pre)
                total += run_spec(f"gguf-as-{pre}", tool, work, other, vocab_spec.hf_from_spec(other), few, rng)
    return total


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(4321)
    if len(sys.argv) > 3:
        if not os.path.exists(sys.argv[3]):
            print(f"SKIP: {sys.argv[3]} is not there (set MOT_TEST_SMOLLM2_GGUF, or put the model in models/)")
            return 77
        total = real_model(tool, work, sys.argv[3], rng)
    else:
        total = synthetic(tool, work, rng)
    if total:
        print(f"FAIL: {total} mismatches against HF tokenizers")
        return 1
    print("OK: identical to HF tokenizers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
