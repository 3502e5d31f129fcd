#!/usr/bin/env python3
"""Builds the three domains of the MoT reproduction from text that is on every Debian machine.

    make_data.py OUT_DIR [--seed 0]

Domains and sources (all offline, chosen deterministically):
  code   the top-level Python sources of the system interpreter, /usr/lib/python3.X/*.py
         (sorted; every 8th file is held out for evaluation)
  math   synthetic arithmetic: multi-step expressions and word problems with worked answers
         (train and eval drawn from different seeds; eval prompts never occur in train)
  prose  English licence text: /usr/share/common-licenses/* (symlinks skipped) and the
         /usr/share/doc/*/copyright files, split into paragraphs, de-duplicated, every
         paragraph whose hash is 0 mod 10 held out for evaluation

Writes, per domain D:
  D.txt             the expert's training text
  D_train.jsonl     prompt/completion pairs from the training part (for `mot train`)
  D_eval.jsonl      prompt/completion pairs from the held-out part (for `mot eval`)
and mix_train.jsonl / mix_eval.jsonl (the three domains interleaved), stats.json.
Completions are 20-100 characters (about 8-32 tokens for the three tokenizers).
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re

N_TRAIN = 2000      # prompt/completion pairs per domain for mot train
N_EVAL = 200        # per domain for mot eval
TEXT_CHARS = {"code": 2_000_000, "math": 1_500_000, "prose": 2_000_000}


def h(s):
    return int(hashlib.sha1(s.encode("utf-8")).hexdigest()[:8], 16)


def cut(text, lo, hi):
    """A prefix of text of lo..hi characters ending at a space or line end (None if impossible)."""
    if len(text) < lo:
        return None
    best = None
    for m in re.finditer(r"(?=[ \n])", text[:hi + 1]):
        if lo <= m.start() <= hi:
            best = m.start()
    if best is None:
        return text[:hi] if len(text) <= hi else None
    return text[:best]


# ---------------------------------------------------------------- code
def python_dir():
    dirs = sorted(d for d in glob.glob("/usr/lib/python3.*") if os.path.isdir(d) and glob.glob(d + "/*.py"))
    if not dirs:
        raise SystemExit("no /usr/lib/python3.X/*.py found")
    return dirs[-1]


def code_domain(rng):
    d = python_dir()
    files = sorted(glob.glob(d + "/*.py"))
    train_f, eval_f = [], []
    for i, f in enumerate(files):
        (eval_f if i % 8 == 0 else train_f).append(f)

    def read(f):
        with open(f, encoding="utf-8", errors="replace") as fh:
            return fh.read().replace("\t", "    ")

    text, parts = 0, []
    for f in train_f:
        t = read(f)
        parts.append(t)
        text += len(t)
        if text > TEXT_CHARS["code"]:
            break

    def pairs(fs, n, rng):
        docs = [read(f).split("\n") for f in fs]
        out, seen = [], set()
        while len(out) < n:
            lines = docs[rng.randrange(len(docs))]
            i = rng.randrange(3, max(4, len(lines) - 3))
            if not lines[i].strip() or not any(l.strip() for l in lines[i - 3:i]):
                continue
            prompt = "\n".join(lines[i - 3:i]) + "\n"
            prompt = prompt[-200:]
            comp = cut("\n".join(lines[i:i + 4]), 20, 100)
            comp = comp.rstrip() if comp else comp
            if not comp or len(comp) < 20 or prompt in seen:
                continue
            seen.add(prompt)
            out.append({"prompt": prompt, "completion": comp})
        return out

    info = {"source": d + "/*.py", "files_train": len(train_f), "files_eval": len(eval_f)}
    return "".join(parts)[:TEXT_CHARS["code"]], pairs(train_f, N_TRAIN, rng), pairs(eval_f, N_EVAL, rng), info


# ---------------------------------------------------------------- math
NAMES = ["Tom", "Ana", "Li", "Sara", "Omar", "Eva", "Raj", "Mia", "Ben", "Zoe"]
THINGS = ["apples", "books", "coins", "marbles", "stamps", "pens", "cards", "eggs"]


def math_example(rng):
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randrange(10, 1000), rng.randrange(10, 1000)
        op = rng.choice(["+", "-", "*"])
        if op == "*":
            b = rng.randrange(2, 30)
        c = a + b if op == "+" else a - b if op == "-" else a * b
        return f"What is {a} {op} {b}?", f" {a} {op} {b} = {c}. The answer is {c}."
    if kind == 1:
        a, b, c = rng.randrange(2, 100), rng.randrange(2, 20), rng.randrange(2, 20)
        op = rng.choice(["+", "-"])
        bc = b * c
        r = a + bc if op == "+" else a - bc
        return f"Compute {a} {op} {b} * {c}.", f" {b} * {c} = {bc}. {a} {op} {bc} = {r}. The answer is {r}."
    if kind == 2:
        n, t = rng.choice(NAMES), rng.choice(THINGS)
        a, b, c = rng.randrange(5, 60), rng.randrange(2, 40), rng.randrange(1, 30)
        s = a + b
        if c > s:
            c = s // 2
        return (f"{n} has {a} {t}. {n} gets {b} more and gives away {c}. How many {t} does {n} have now?",
                f" {a} + {b} = {s}. {s} - {c} = {s - c}. The answer is {s - c}.")
    n, t = rng.choice(NAMES), rng.choice(THINGS)
    a, b = rng.randrange(2, 13), rng.randrange(2, 25)
    p = rng.randrange(2, 10)
    return (f"{n} buys {a} boxes of {t} with {b} {t} in each box, at {p} dollars a box. How many {t}, and what cost?",
            f" {a} * {b} = {a * b} {t}. {a} * {p} = {a * p} dollars.")


def math_domain(rng):
    text, n = [], 0
    while n < TEXT_CHARS["math"]:
        p, c = math_example(rng)
        line = p + c + "\n"
        text.append(line)
        n += len(line)
    train, seen = [], set()
    while len(train) < N_TRAIN:
        p, c = math_example(rng)
        if p not in seen:
            seen.add(p)
            train.append({"prompt": p, "completion": c})
    erng = random.Random(rng.randrange(1 << 30) + 12345)
    held, text_prompts = [], {l.split("?")[0] for l in text} | {l.split(".")[0] for l in text}
    while len(held) < N_EVAL:
        p, c = math_example(erng)
        key1, key2 = p.split("?")[0], p.split(".")[0]
        if p in seen or key1 in text_prompts or key2 in text_prompts:
            continue
        seen.add(p)
        held.append({"prompt": p, "completion": c})
    return "".join(text), train, held, {"source": "synthetic (make_data.py math_example)"}


# ---------------------------------------------------------------- prose
def prose_domain(rng):
    files = [f for f in sorted(glob.glob("/usr/share/common-licenses/*")) if not os.path.islink(f)]
    files += sorted(glob.glob("/usr/share/doc/*/copyright"))
    paras, seen = [], set()
    for f in files:
        if os.path.islink(f) and not os.path.exists(f):
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            for p in re.split(r"\n\s*\n", fh.read()):
                p = " ".join(p.split())
                # prose, not the machine-readable header lines of copyright files
                if len(p) < 80 or re.match(r"^(Files|Copyright|License|Format|Upstream-\w+|Source|Comment):", p):
                    continue
                if sum(ch.isalpha() or ch == " " for ch in p) < 0.85 * len(p) or p in seen:
                    continue
                seen.add(p)
                paras.append(p)
    train_p = [p for p in paras if h(p) % 10 != 0]
    eval_p = [p for p in paras if h(p) % 10 == 0]
    text = "\n\n".join(train_p)[:TEXT_CHARS["prose"]]

    def pairs(ps, n, rng):
        ps = [p for p in ps if len(p) >= 200]
        out, used = [], set()
        while len(out) < n:
            p = ps[rng.randrange(len(ps))]
            words = p.split(" ")
            s = rng.randrange(0, max(1, len(words) - 40))
            k = rng.randrange(8, 21)
            prompt = " ".join(words[s:s + k])
            comp = cut(" " + " ".join(words[s + k:]), 40, 100)
            if not comp or prompt in used:
                continue
            used.add(prompt)
            out.append({"prompt": prompt, "completion": comp})
        return out

    info = {"source": "/usr/share/common-licenses/* + /usr/share/doc/*/copyright (paragraphs)",
            "paragraphs_train": len(train_p), "paragraphs_eval": len(eval_p), "files": len(files)}
    return text, pairs(train_p, N_TRAIN, rng), pairs(eval_p, N_EVAL, rng), info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    stats, mixes = {}, {"train": [], "eval": []}
    for i, (name, fn) in enumerate([("code", code_domain), ("math", math_domain), ("prose", prose_domain)]):
        rng = random.Random(a.seed * 1000 + i)
        text, train, held, info = fn(rng)
        # held-out prompts never appear in the training pairs
        tp = {e["prompt"] for e in train}
        held = [e for e in held if e["prompt"] not in tp]
        with open(os.path.join(a.out_dir, name + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
        for split, ex in (("train", train), ("eval", held)):
            with open(os.path.join(a.out_dir, f"{name}_{split}.jsonl"), "w", encoding="utf-8") as f:
                for e in ex:
                    f.write(json.dumps(e, ensure_ascii=False) + "\n")
            mixes[split].append(ex)
        info.update({"text_chars": len(text), "train_pairs": len(train), "eval_pairs": len(held)})
        stats[name] = info
    for split, lists in mixes.items():
        with open(os.path.join(a.out_dir, f"mix_{split}.jsonl"), "w", encoding="utf-8") as f:
            for row in zip(*lists):
                for e in row:
                    f.write(json.dumps(e, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out_dir, "stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
