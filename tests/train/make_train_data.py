#!/usr/bin/python3
"""Writes a small, deterministic training set in SPEC 5's JSON Lines layout.

    make_train_data.py OUT.jsonl --n N --seed S [--domains add,reverse,copy,upper,utf8]

One {"prompt": ..., "completion": ...} object a line, ASCII except the `utf8` domain (a few
multi-byte UTF-8 words: accents, Greek, CJK, an emoji), which is mixed in whenever it is
among the domains. The same arguments always give the same bytes (numpy's default_rng).
"""
import argparse
import json
import sys

import numpy as np

WORDS = ["cat", "dog", "sun", "tree", "river", "stone", "cloud", "apple", "green", "light",
         "house", "bread", "music", "paper", "night"]
UTF8_WORDS = ["café", "naïve", "über", "αβγ", "日本", "crème brûlée", "señor", "🙂 ok"]


def example(domain, rng):
    if domain == "add":
        a, b = int(rng.integers(0, 50)), int(rng.integers(0, 50))
        return f"{a}+{b}=", str(a + b)
    if domain == "reverse":
        w = WORDS[int(rng.integers(len(WORDS)))]
        return f"reverse {w}:", " " + w[::-1]
    if domain == "copy":
        ws = [WORDS[int(i)] for i in rng.integers(0, len(WORDS), size=int(rng.integers(1, 4)))]
        return "copy: " + " ".join(ws) + " ->", " " + " ".join(ws)
    if domain == "upper":
        w = WORDS[int(rng.integers(len(WORDS)))]
        return f"upper {w} =", " " + w.upper()
    if domain == "utf8":
        w = UTF8_WORDS[int(rng.integers(len(UTF8_WORDS)))]
        return f"echo «{w}»:", " " + w
    raise ValueError(f"unknown domain {domain!r}")


def generate(n, seed, domains):
    rng = np.random.default_rng(seed)
    return [example(domains[i % len(domains)], rng) for i in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description="deterministic small training examples")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--domains", default="add,reverse,copy,upper,utf8")
    a = ap.parse_args(argv)
    domains = [d for d in a.domains.split(",") if d]
    rows = generate(a.n, a.seed, domains)
    with open(a.out, "w", encoding="utf-8", newline="\n") as fh:
        for p, c in rows:
            fh.write(json.dumps({"prompt": p, "completion": c}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
