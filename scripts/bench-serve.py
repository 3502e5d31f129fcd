#!/usr/bin/env python3
"""Measures an OpenAI-compatible server as one client sees it: `mot serve`, llama-server, vLLM.

    scripts/bench-serve.py URL [-r 5] [-n 128] [--label NAME]

Three measurements, each the median of -r runs, all greedy streamed chat requests
(stream_options.include_usage for the token counts; ignore_eos so every answer is -n tokens):
- cold: a ~450-token prompt the server has not seen (a run number in front defeats any cache):
  time to the first token (prefill), then decode tok/s = (tokens - 1) / (last - first token);
- warm: the same long system message, a different question: time to the first token when
  the server reuses its KV cache for the shared prefix (both mot and llama-server do);
- end to end: a short question, -n tokens, wall time of the whole request.
Prints one JSON line (the figures docs/benchmarks.md quotes). Standard library only."""
import argparse
import json
import statistics
import time
import urllib.request

SYSTEM = " ".join(f"Rule {i}: answer in plain words, cite the {['map', 'book', 'song', 'note'][i % 4]} "
                  f"number {i * 7 % 31}, and never repeat rule {i % 5}." for i in range(24))


def stream(url, messages, n):
    """One streamed request -> (seconds to the first piece, seconds to the last, completion tokens)."""
    body = {"messages": messages, "max_tokens": n, "temperature": 0, "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}}
    req = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first = last = None
    tokens = 0
    with urllib.request.urlopen(req, timeout=600) as resp:
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
            for ch in ev.get("choices", []):
                if ch.get("delta", {}).get("content"):
                    now = time.perf_counter() - t0
                    first = now if first is None else first
                    last = now
    return first, last, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    url = a.url.rstrip("/")
    stream(url, [{"role": "user", "content": "warm up"}], 8)
    cold, decode, warm, e2e = [], [], [], []
    for i in range(a.r):
        sys_msg = {"role": "system", "content": f"Session {i * 7919 + int(time.time()) % 1000}. {SYSTEM}"}
        f, l, n = stream(url, [sys_msg, {"role": "user", "content": "Which rule comes first?"}], a.n)
        cold.append(f)
        decode.append((n - 1) / (l - f) if n > 1 and l > f else 0.0)
        f, _, _ = stream(url, [sys_msg, {"role": "user", "content": f"And rule {i + 3}?"}], 4)
        warm.append(f)
        t0 = time.perf_counter()
        stream(url, [{"role": "user", "content": f"Say something about the number {i}."}], a.n)
        e2e.append(time.perf_counter() - t0)
    med = statistics.median
    print(json.dumps({"label": a.label, "runs": a.r, "n": a.n, "cold_ttft_ms": round(med(cold) * 1e3, 1),
                      "warm_ttft_ms": round(med(warm) * 1e3, 1), "decode_tok_s": round(med(decode), 2),
                      "e2e_s": round(med(e2e), 3)}))


if __name__ == "__main__":
    main()
