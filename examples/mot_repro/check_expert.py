#!/usr/bin/env python3
"""Checks one expert folder in mot: `mot run -m DIR --dump` on two held-out prompts, prints
the greedy text, and compares mot's logits with the PyTorch model of train_expert.py.

    check_expert.py MOT DIR EVAL.jsonl
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_expert import Llama  # noqa: E402


def main():
    mot, d, data = sys.argv[1:4]
    torch.set_num_threads(2)
    c = json.load(open(os.path.join(d, "config.json")))
    m = Llama(c)
    sd = load_file(os.path.join(d, "model.safetensors"))
    m.load_state_dict(sd, strict=True)
    m.eval()
    name = os.path.basename(os.path.normpath(d))
    rows = [json.loads(l) for l in open(data)][:2]
    worst = 0.0
    for r in rows:
        with tempfile.TemporaryDirectory() as t:
            dump = os.path.join(t, "d.safetensors")
            p = subprocess.run([mot, "run", "-m", d, "-p", r["prompt"], "-n", "24", "--temp", "0",
                                "-t", "2", "--dump", dump], capture_output=True, text=True, check=True)
            dd = load_file(dump)
        toks, lg = dd[f"tokens.{name}"].long(), dd[f"logits.{name}"]
        n_prompt = toks.numel() - lg.shape[0]
        with torch.no_grad():
            ref = m(toks[None, :-1])[0][n_prompt - 1:]
        err = ((lg - ref).abs().max() / ref.abs().max()).item()
        worst = max(worst, err)
        print(f"[{name}] prompt {r['prompt'][-80:]!r}\n[{name}] mot greedy -> {p.stdout[:120]!r}\n"
              f"[{name}] reference completion {r['completion']!r}")
    print(f"[{name}] max |mot - torch| / max|torch| over the logits: {worst:.2e}")
    if worst > 1e-4:
        raise SystemExit(f"{name}: mot and the PyTorch model disagree ({worst:.2e})")


if __name__ == "__main__":
    main()
