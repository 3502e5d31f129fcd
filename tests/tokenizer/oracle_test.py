#!/usr/bin/env python3
"""Oracle test: our tokenizer (through the mot-tok driver) against HF `tokenizers`.

Generates the byte-level, sentencepiece and Metaspace-variant tokenizers with
tests/tools/make_tokenizer.py, then compares encode (BOS as HF tokenizers' encode(text).ids plus
tokenizer_config.json's add_bos_token when there is no post-processor) and decode (with and
without skip_special_tokens) over a few hundred varied strings and random id sequences.

usage: oracle_test.py MOT_TOK_BINARY WORK_DIR
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_tokenizer  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

FIXED = [
    "", " ", "  ", "\n", "\n\n\n", "\t\t x", "Hello world", " Hello world", "Hello  world  ", "hello\nworld\n",
    "It's we've they'll I'M SHE'S", "1234567890 12 3.14159 1,000,000", "2024-03-14T10:30:00Z",
    "我们的模型使用专家混合的方法", "東京は大きな都市です。", "한국어 문장", "Привет, мир!", "Größe Straße café",
    "😀🎉🚀👍❤️🤖", "emoji 👩‍👩‍👧 family", "a\u00a0b\u3000c\u2009d", "tab\tsep\tvalues\n", "    indented code",
    "<s>Hello</s>", "<s> Hello", "Hello<s>", "x<s>y</s>z<unk>", "<|begin_of_text|>Hi<|eot_id|>",
    "a<|begin_of_text|>b<|end_of_text|>", "<|reserved_special_token_0|><|reserved_special_token_1|>",
    "<0x41> literal byte token text", "\u2581already\u2581spaced", "▁ ▁▁", "ſ's K's",
    "def f(x):\n    return x ** 2  # square\n", "int main(void) { return 0; }",
    "URL https://example.com/a?b=c&d=e", "ǅ ǈ ǋ ﬁ ﬀ", "e\u0301 n\u0303 combining", "\u0085 next line",
    "zero\u200bwidth", "mongolian\u180e sep \u180e", "\x1c\x1d\x1e\x1f unit separators", "rtl עברית العربية", "thai ภาษาไทย", "math ∑∫√∞ ≤ ≥", "x" * 3000,
    "ab " * 700, "😀" * 300, "\n" * 50 + "end", " " * 100 + "x",
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789", " \t\n\r  ", ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "我们的模型使用专家混合方法今天天气很好東京日本語", "😀🎉🚀👍❤️🤖🦀🧠", "äöüßéèêçñáíóúÄÖÜÉ", "абвгдежзийклмнопрстуфхцчшщыэюя",
    "\u2581", "\u00a0\u3000\u2009\u200b\u0085\u2028",
]
SPECIAL_SNIPPETS = ["<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<0x0A>"]


def random_strings(rng, n):
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.08:
                parts.append(rng.choice(SPECIAL_SNIPPETS))
            elif r < 0.16:
                # any code point (no surrogates), BMP mostly
                cp = rng.choice([rng.randint(0x20, 0x2FF), rng.randint(0x300, 0xD7FF),
                                 rng.randint(0xE000, 0xFFFD), rng.randint(0x10000, 0x1FAFF)])
                parts.append(chr(cp))
            elif r < 0.3:
                line = rng.choice(make_tokenizer.CORPUS.split("\n"))
                a = rng.randint(0, len(line))
                parts.append(line[a:a + rng.randint(0, 40)])
            else:
                pool = rng.choice(POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
        out.append("".join(parts))
    return out


def run_tool(tool, args, lines):
    p = subprocess.run([tool] + args, input="".join(json.dumps(x) + "\n" for x in lines),
                       capture_output=True, text=True, encoding="utf-8")
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {tool} {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return [json.loads(x) for x in p.stdout.splitlines()]


def expected_ids(hf, cfg, tj, text):
    ids = hf.encode(text).ids
    if tj.get("post_processor") is None:
        if cfg.get("add_bos_token", False):
            ids = [hf.token_to_id(cfg["bos_token"])] + ids
        if cfg.get("add_eos_token", False):
            ids = ids + [hf.token_to_id(cfg["eos_token"])]
    return ids


def check(name, tool, d, strings, rng):
    hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    failures = 0
    want = [expected_ids(hf, cfg, tj, s) for s in strings]
    got = run_tool(tool, ["encode", d], strings)
    for s, w, g in zip(strings, want, got):
        if w != g:
            failures += 1
            i = next((k for k in range(min(len(w), len(g))) if w[k] != g[k]), min(len(w), len(g)))
            if failures <= 10:
                print(f"[{name}] encode mismatch for {s[:120]!r}: first difference at {i}:"
                      f" HF {w[max(0, i - 2):i + 4]} ({[hf.id_to_token(t) for t in w[i:i + 3]]})"
                      f" ours {g[max(0, i - 2):i + 4]} ({[hf.id_to_token(t) for t in g[i:i + 3]]})")
    # Decode: the encodings, plus random id sequences (partial UTF-8, stray byte tokens).
    vocab = hf.get_vocab_size(with_added_tokens=True)
    seqs = want + [[rng.randrange(vocab) for _ in range(rng.randint(1, 20))] for _ in range(200)]
    for skip in (False, True):
        args = ["decode", d] + (["--skip-special"] if skip else [])
        got = run_tool(tool, args, seqs)
        for ids, g in zip(seqs, got):
            w = hf.decode(ids, skip_special_tokens=skip)
            if w != g:
                failures += 1
                if failures <= 20:
                    print(f"[{name}] decode mismatch (skip_special={skip}) for {ids[:20]}"
                          f" {[hf.id_to_token(t) for t in ids[:8]]}: HF {w[:80]!r} ours {g[:80]!r}")
    info = run_tool(tool, ["info", d], [])
    print(f"[{name}] {len(strings)} strings, {len(seqs)} id sequences x2 decodes: {failures} mismatches")
    return failures


def _gpt2(tj):
    tj["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    tj["model"]["ignore_merges"] = False


def _split_behaviors(tj):
    tj["pre_tokenizer"]["pretokenizers"] = [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Contiguous", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[.,!?]"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": True},
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]


def _removed(tj):
    tj["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"


def _added_flags(tj):
    """Non-special, normalized and lstrip/rstrip/single_word added tokens."""
    n = 1 + max(list(tj["model"]["vocab"].values()) + [t["id"] for t in tj["added_tokens"]])
    extra = [("<tag>", dict(lstrip=True, rstrip=False, single_word=False, normalized=False, special=False)),
             ("</tag>", dict(lstrip=False, rstrip=True, single_word=False, normalized=False, special=True)),
             ("word", dict(lstrip=False, rstrip=False, single_word=True, normalized=False, special=False)),
             ("hello", dict(lstrip=False, rstrip=False, single_word=False, normalized=True, special=False))]
    for i, (content, flags) in enumerate(extra):
        tj["added_tokens"].append(dict(id=n + i, content=content, **flags))


def _metaspace_legacy(tj):
    tj["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
    tj["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}


def _metaspace_always_nosplit(tj):
    tj["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False}


VARIANTS = [("gpt2-bytelevel", "byte-level", _gpt2), ("split-behaviors", "byte-level", _split_behaviors),
            ("split-removed", "byte-level", _removed), ("added-flags-bl", "byte-level", _added_flags),
            ("added-flags-sp", "sentencepiece", _added_flags), ("metaspace-legacy", "metaspace", _metaspace_legacy),
            ("metaspace-always", "metaspace", _metaspace_always_nosplit)]


def make_variant(work, name, base, edit):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(work, base, f), encoding="utf-8") as fh:
            j = json.load(fh)
        if f == "tokenizer.json":
            edit(j)
        with open(os.path.join(d, f), "w", encoding="utf-8") as fh:
            json.dump(j, fh, ensure_ascii=False)
    return d


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(1234)
    strings = FIXED + random_strings(rng, 300)
    specs = [("byte-level", dict(style="byte-level", vocab_size=3000, seed=11)),
             ("sentencepiece", dict(style="sentencepiece", vocab_size=2000, seed=12)),
             ("metaspace", dict(style="sentencepiece", vocab_size=1500, seed=13, metaspace=True))]
    total = 0
    for name, kw in specs:
        d = os.path.join(work, name)
        make_tokenizer.write_tokenizer(d, **kw)
        total += check(name, tool, d, strings, rng)
    extra = strings[:60] + ["<tag> x <tag>y </tag>  z", "a word, words wordy word", "hello world, hellohello",
                            " <tag>  </tag>   word"] + random_strings(rng, 60)
    for name, base, edit in VARIANTS:
        total += check(name, tool, make_variant(work, name, base, edit), extra, rng)
    if total:
        print(f"FAIL: {total} mismatches against HF tokenizers")
        return 1
    print("OK: identical to HF tokenizers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
