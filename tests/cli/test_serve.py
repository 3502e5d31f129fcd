#!/usr/bin/env python3
"""`mot serve`: the OpenAI-compatible HTTP server, against `mot run` on the same model.

`mot run` is checked against the float64 reference elsewhere (tests/e2e, tests/cli); here every
answer the server gives is held to what `mot run` prints for the same prompt and settings:
- a greedy completion (text, ids as the prompt, the second request reusing the cache:
  cached_tokens = n - 1), streamed (the pieces join to the same text; the chunks, the final
  finish_reason, include_usage's usage chunk, [DONE]);
- a chat reply (the chat template, a system message) against `mot run --chat-template`;
- per-request sampling: penalties on a cached prefix (the penalties' history must hold the
  reused prompt), then greedy again (the penalties gone), a seeded draw twice and against
  `mot run --seed`; OpenAI's default of 16 tokens for a completion;
- stop strings (cut before the first, also when streamed), max_tokens -> "length";
- logprobs (a completion's N, a chat's top_logprobs, whole and streamed) against numpy's
  log-softmax of `mot run --dump`'s logits: the model's distribution, not the penalized one;
- requests in parallel (queued, each answered right), a client leaving mid-stream (the
  generation stops, the next request is answered);
- the `openai` package (the client users point at the server, when installed): models, a
  chat reply and a streamed completion equal to the raw HTTP answers, its error classes;
- bad requests: OpenAI's error JSON with 400 (naming the field), 401, 404, 405, 413; broken
  HTTP and JSON (NUL, invalid UTF-8, deep nesting, duplicate keys); the server still answers
  after all of them; bad command lines: one "error:" line, non-zero exit; SIGTERM exits 0.
With --backend cuda (ctest cli_serve_cuda, label gpu; skipped without a device) the server
runs on the CUDA backend (the CPU's `mot run` stays the reference: f32 weights, greedy).

usage: test_serve.py MOT WORK_DIR [--backend cpu|cuda]"""
import functools
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import backend_bounds  # noqa: E402
import cli_case  # noqa: E402
import serve_client  # noqa: E402
from cli_case import check  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

MOT, WORK, BACKEND = cli_case.args()
run = functools.partial(cli_case.run, MOT)
make_model = functools.partial(cli_case.make_model, WORK)
CTX = "4096"  # room for a long stream that a client leaves


def Server(model, *extra):
    """mot serve -m MODEL on a port the system picks."""
    return serve_client.Server(MOT, ["-m", model, "-c", CTX, "-t", "2", "--backend", BACKEND, *extra])


def mot_run(model, prompt, n, *flags):
    """`mot run`'s text for the prompt (greedy unless flags say otherwise) and the prompt's ids.
    Bytes decoded as the server decodes them: no newline translation ("\r" stays)."""
    dump = os.path.join(WORK, "run.safetensors")
    p = subprocess.run([MOT, "run", "-m", model, "-p", prompt, "-n", str(n), "--ignore-eos", "-t", "2", "--backend",
                        "cpu", "--temp", "0", *flags, "--dump", dump], capture_output=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"mot run failed: {p.stderr.decode(errors='replace')}")
    tensors = read_safetensors(dump)
    tokens = [int(t) for t in next(v for k, v in tensors.items() if k.startswith("tokens."))]
    assert p.stdout.endswith(b"\n")
    return p.stdout[:-1].decode("utf-8", "replace"), tokens[:len(tokens) - n]


def error_of(label, got, status, *needles, param=None):
    st, _, body = got
    err = body.get("error", {}) if isinstance(body, dict) else {}
    msg = err.get("message", "")
    ok = st == status and err.get("code") == status and all(n in msg for n in needles) and \
        (param is None or err.get("param") == param)
    check(label, ok, f"{st} {body}")


def completions(s, model):
    prompt = "The quick brown fox"
    want, ids = mot_run(model, prompt, 12)
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True})
    ch = r["choices"][0] if st == 200 else {}
    check("completion = mot run", st == 200 and ch.get("text") == want and ch.get("finish_reason") == "length",
          f"{st} {r!r} vs {want!r}")
    check("completion usage", st == 200 and r["usage"]["prompt_tokens"] == len(ids) and
          r["usage"]["completion_tokens"] == 12 and r["usage"]["total_tokens"] == len(ids) + 12 and
          r["object"] == "text_completion" and r["id"].startswith("cmpl-"), r.get("usage"))
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True})
    check("the same prompt again: the cache reused", st == 200 and r["choices"][0]["text"] == want and
          r["usage"]["prompt_tokens_details"]["cached_tokens"] == len(ids) - 1, r)
    st, _, r = s.post("/completions", {"prompt": ids, "max_tokens": 12, "temperature": 0, "ignore_eos": True})
    check("the prompt as token ids", st == 200 and r["choices"][0]["text"] == want, r)
    st, ev, done = s.stream("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0,
                                                "ignore_eos": True, "stream_options": {"include_usage": True}})
    pieces = "".join(e["choices"][0]["text"] for e in ev if e.get("choices"))
    last = [e for e in ev if e.get("choices")][-1] if ev else {}
    check("streamed: the pieces join to the text", st == 200 and pieces == want and done, f"{pieces!r} vs {want!r}")
    check("streamed: finish_reason last, then the usage chunk",
          last.get("choices", [{}])[0].get("finish_reason") == "length" and
          ev[-1].get("choices") == [] and ev[-1].get("usage", {}).get("completion_tokens") == 12 and
          all(e.get("usage") is None for e in ev[:-1]), ev[-2:] if ev else ev)
    # OpenAI's default for a completion: 16 tokens
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "temperature": 0, "ignore_eos": True})
    check("completion default max_tokens 16", st == 200 and r["usage"]["completion_tokens"] == 16, r.get("usage"))
    return prompt, want


def stops(s, prompt, want):
    stop = want[4:7]
    cut = want[:want.find(stop)]
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True, "stop": ["zzqq", stop]}
    st, _, r = s.post("/v1/completions", body)
    check("stop string: cut before it", st == 200 and r["choices"][0]["text"] == cut and
          r["choices"][0]["finish_reason"] == "stop", f"{r} want {cut!r}")
    st, ev, done = s.stream("/v1/completions", body)
    pieces = "".join(e["choices"][0]["text"] for e in ev if e.get("choices"))
    fin = [e["choices"][0]["finish_reason"] for e in ev if e.get("choices")][-1:]
    check("stop string streamed", st == 200 and pieces == cut and fin == ["stop"] and done, f"{pieces!r} {cut!r}")
    st, _, r = s.post("/v1/completions", dict(body, stop="never-there"))
    check("a stop string that never comes", st == 200 and r["choices"][0]["text"] == want, r)


def chat(s, model):
    user, system = "Tell me about foxes", "Be brief"
    want, ids = mot_run(model, user, 10, "--chat-template", "chatml", "--system", system)
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": [{"type": "text", "text": user}]}]
    st, _, r = s.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 10, "temperature": 0,
                                               "ignore_eos": True})
    msg = r["choices"][0]["message"] if st == 200 else {}
    check("chat = mot run --chat-template chatml --system", st == 200 and msg == {"role": "assistant", "content": want}
          and r["usage"]["prompt_tokens"] == len(ids) and r["object"] == "chat.completion", f"{r} vs {want!r}")
    st, ev, done = s.stream("/v1/chat/completions", {"messages": msgs, "max_tokens": 10, "temperature": 0,
                                                     "ignore_eos": True})
    deltas = [e["choices"][0]["delta"] for e in ev]
    check("chat streamed: the role first, the pieces join", st == 200 and done and
          deltas[0] == {"role": "assistant", "content": ""} and deltas[-1] == {} and
          "".join(d.get("content", "") for d in deltas) == want and
          all(e["object"] == "chat.completion.chunk" for e in ev), deltas)
    # the next turn extends the conversation: its prompt shares the cache's prefix
    msgs2 = msgs + [{"role": "assistant", "content": want}, {"role": "user", "content": "And wolves?"}]
    st, _, r = s.post("/v1/chat/completions", {"messages": msgs2, "max_tokens": 4, "temperature": 0})
    check("a next turn reuses the cache", st == 200 and r["usage"]["prompt_tokens_details"]["cached_tokens"] > len(ids) // 2,
          r.get("usage"))


def sampling(s, model, prompt, greedy):
    pen = ["--repeat-penalty", "1.3", "--presence-penalty", "0.5", "--frequency-penalty", "0.3"]
    want, _ = mot_run(model, prompt, 12, *pen)
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True,
                                          "repeat_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": 0.3})
    check("penalties on a cached prompt = mot run's", st == 200 and r["choices"][0]["text"] == want and
          r["usage"]["prompt_tokens_details"]["cached_tokens"] > 0, f"{r} vs {want!r}")
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True})
    check("greedy again: the penalties gone", st == 200 and r["choices"][0]["text"] == greedy, r)
    draw = ["--temp", "0.9", "--top-k", "20", "--top-p", "1", "--min-p", "0", "--seed", "42"]
    want, _ = mot_run(model, prompt, 12, *draw)
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 0.9, "top_k": 20, "seed": 42, "ignore_eos": True}
    a = s.post("/v1/completions", body)[2]["choices"][0]["text"]
    b = s.post("/v1/completions", body)[2]["choices"][0]["text"]
    check("a seeded draw repeats and is mot run --seed's", a == b == want, f"{a!r} {b!r} {want!r}")


def dumped():
    """The last mot_run's sampled ids [n] and log-softmax of its logits [n, vocab] (float64)."""
    t = read_safetensors(os.path.join(WORK, "run.safetensors"))
    logits = next(v for k, v in t.items() if k.startswith("logits."))
    tokens = [int(x) for x in next(v for k, v in t.items() if k.startswith("tokens."))][-len(logits):]
    return tokens, cli_case.log_softmax(logits)


def logprobs(s, model, prompt):
    """Log-probabilities against numpy's log-softmax of `mot run --dump`'s logits: the model's
    distribution, before the penalties that chose the tokens."""
    pen = ["--repeat-penalty", "1.3", "--presence-penalty", "0.5"]
    want, _ = mot_run(model, prompt, 8, *pen)
    ids, ls = dumped()
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 8, "temperature": 0, "ignore_eos": True,
                                          "repeat_penalty": 1.3, "presence_penalty": 0.5, "logprobs": 5})
    lp = r["choices"][0]["logprobs"] if st == 200 else {}
    # SPEC 1.7's f32 bound: a request whose prompt the cache partly holds feeds the rest by
    # another path (decode, not prefill), and CUDA's f32 logits differ from the CPU's by ~1e-6
    near = lambda a, b: abs(a - b) <= 1e-4  # noqa: E731
    check("completion logprobs: each token's = log-softmax of mot run's logits (not the penalized ones)",
          st == 200 and r["choices"][0]["text"] == want and len(lp["token_logprobs"]) == 8 and
          all(near(lp["token_logprobs"][t], ls[t][ids[t]]) for t in range(8)) and
          any(not near(ls[t][ids[t]], ls[t].max()) for t in range(8)), f"{st} {lp} vs {[ls[t][ids[t]] for t in range(8)]}")
    top5 = [sorted(ls[t])[-5:] for t in range(8)]
    check("completion top_logprobs: of the 5 best (a dict: tokens of one text merge)",
          st == 200 and all(1 <= len(lp["top_logprobs"][t]) <= 5 and
                            all(any(near(v, w) for w in top5[t]) for v in lp["top_logprobs"][t].values())
                            for t in range(8)) and
          lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0, lp)
    user = "Tell me about foxes"
    mot_run(model, user, 6, "--chat-template", "chatml")
    ids, ls = dumped()
    body = {"messages": [{"role": "user", "content": user}], "max_tokens": 6, "temperature": 0, "ignore_eos": True,
            "logprobs": True, "top_logprobs": 3}
    st, _, r = s.post("/v1/chat/completions", body)
    content = r["choices"][0]["logprobs"]["content"] if st == 200 else []
    check("chat logprobs: the greedy token first of its top 3, each = mot run's",
          st == 200 and len(content) == 6 and
          all(near(c["logprob"], ls[t][ids[t]]) and len(c["top_logprobs"]) == 3 and
              all(near(x["logprob"], w) for x, w in zip(c["top_logprobs"], sorted(ls[t])[::-1][:3])) and
              c["top_logprobs"][0]["token"] == c["token"] and bytes(c["bytes"]).decode("utf-8", "replace") == c["token"]
              for t, c in enumerate(content)), content)
    st, ev, done = s.stream("/v1/chat/completions", body)
    streamed = [c for e in ev if e["choices"] and e["choices"][0]["logprobs"] for c in
                e["choices"][0]["logprobs"]["content"]]
    same = lambda a, b: a["token"] == b["token"] and near(a["logprob"], b["logprob"])  # noqa: E731
    check("chat logprobs streamed: the same entries, over the chunks",
          st == 200 and done and len(streamed) == len(content) and
          all(same(a, b) and len(a["top_logprobs"]) == len(b["top_logprobs"]) and
              all(same(x, y) for x, y in zip(a["top_logprobs"], b["top_logprobs"])) for a, b in zip(streamed, content)),
          f"{streamed} vs {content}")
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 2, "temperature": 0})
    check("no logprobs asked: null", st == 200 and r["choices"][0]["logprobs"] is None, r)


def parallel_and_leaving(s, prompt, greedy):
    out = [None] * 3

    def one(i):
        out[i] = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0,
                                            "ignore_eos": True})[2]
    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    check("3 requests at once: each answered", all(o and o["choices"][0]["text"] == greedy for o in out), out)
    # a client that reads one event of a long stream and leaves
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    body = json.dumps({"prompt": prompt, "max_tokens": 4000, "temperature": 0, "ignore_eos": True, "stream": True})
    sock.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
    got = sock.recv(4096)
    sock.close()
    time.sleep(1.0)
    st, _, r = s.post("/v1/completions", {"prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": True})
    check("after a client left mid-stream", b"200 OK" in got and st == 200 and r["choices"][0]["text"] == greedy, r)
    left = [line for line in s.log if "the client left" in line]
    n = int(re.search(r"generation (\d+) tokens", left[-1]).group(1)) if left else 4000
    check("its generation stopped early", left and n < 4000, left)


def bad_requests(s, model):
    C, CH = "/v1/completions", "/v1/chat/completions"
    ok = {"prompt": "hi", "max_tokens": 2}
    error_of("not JSON", s.post(C, None, raw=b'{"prompt": '), 400, "not JSON")
    error_of("not an object", s.post(C, [1, 2]), 400, "expected a JSON object")
    error_of("no prompt", s.post(C, {"max_tokens": 2}), 400, "required", param="prompt")
    error_of("temperature a string", s.post(C, dict(ok, temperature="hot")), 400, "expected a number",
             param="temperature")
    error_of("temperature < 0", s.post(C, dict(ok, temperature=-1)), 400, "got -1", param="temperature")
    error_of("top_p > 1", s.post(C, dict(ok, top_p=1.5)), 400, param="top_p")
    error_of("max_tokens 0", s.post(C, dict(ok, max_tokens=0)), 400, param="max_tokens")
    error_of("max_tokens 2.5", s.post(C, dict(ok, max_tokens=2.5)), 400, param="max_tokens")
    error_of("n 2", s.post(C, dict(ok, n=2)), 400, param="n")
    error_of("experts on one model", s.post(C, dict(ok, experts="a,b")), 400, "one model, not a MoT pipeline")
    error_of("experts not names", s.post(C, dict(ok, experts=[1])), 400, param="experts[0]")
    error_of("logprobs 21", s.post(C, dict(ok, logprobs=21)), 400, "from 0 to 20", param="logprobs")
    error_of("logprobs true on a completion", s.post(C, dict(ok, logprobs=True)), 400, param="logprobs")
    error_of("top_logprobs on a completion", s.post(C, dict(ok, top_logprobs=2)), 400, param="top_logprobs")
    chat_ok = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    error_of("top_logprobs without logprobs", s.post(CH, dict(chat_ok, top_logprobs=2)), 400, "only with",
             param="top_logprobs")
    error_of("top_logprobs 21", s.post(CH, dict(chat_ok, logprobs=True, top_logprobs=21)), 400, param="top_logprobs")
    error_of("logprobs 3 on a chat", s.post(CH, dict(chat_ok, logprobs=3)), 400, "true or false", param="logprobs")
    error_of("two prompts", s.post(C, dict(ok, prompt=["a", "b"])), 400, "one prompt per request")
    error_of("an empty prompt array", s.post(C, dict(ok, prompt=[])), 400, param="prompt")
    error_of("a token id past the vocabulary", s.post(C, dict(ok, prompt=[1, 10 ** 6])), 400,
             "outside the vocabulary")
    error_of("a negative token id", s.post(C, dict(ok, prompt=[1, -5])), 400, param="prompt[1]")
    error_of("a prompt longer than the context", s.post(C, dict(ok, prompt=[1] * 5000)), 400, f"context only {CTX}")
    error_of("17 stop strings", s.post(C, dict(ok, stop=[str(i) for i in range(17)])), 400, "at most 16")
    error_of("a stop string of 300 bytes", s.post(C, dict(ok, stop="x" * 300)), 400, param="stop")
    error_of("stream_options without stream", s.post(C, dict(ok, stream_options={"include_usage": True})), 400,
             param="stream_options")
    error_of("duplicate keys", s.post(C, None, raw=b'{"prompt": "a", "prompt": "b"}'), 400, "duplicate")
    error_of("a NUL in a string", s.post(C, None, raw=b'{"prompt": "a\\u0000b"}'), 400, "\\u0000")
    error_of("invalid UTF-8", s.post(C, None, raw=b'{"prompt": "a\xff\xfeb"}'), 400, "not JSON")
    error_of("nesting 100000 deep", s.post(C, None, raw=b"[" * 100000 + b"]" * 100000), 400, "not JSON")
    error_of("a tool message", s.post(CH, {"messages": [{"role": "tool", "content": "x"}]}), 400,
             param="messages[0].role")
    error_of("an image part", s.post(CH, {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}), 400, "only text", param="messages[0].content[0]")
    error_of("no messages", s.post(CH, {"messages": []}), 400, param="messages")
    error_of("a content of null", s.post(CH, {"messages": [{"role": "user", "content": None}]}), 400,
             param="messages[0].content")
    error_of("300000 JSON objects", s.post(C, dict(ok, metadata=[{}] * 300000)), 400, "JSON objects and arrays")
    error_of("an unknown route", s.request("GET", "/v2/nothing"), 404, "no such route")
    got = s.request("GET", C)
    error_of("GET on a POST route", got, 405, "takes POST")
    check("405 says Allow: POST", got[1].get("Allow") == "POST", got[1])
    # a declared body over the limit is refused before it is sent
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    c.putrequest("POST", C)
    c.putheader("Content-Length", str(64 << 20))
    c.endheaders()
    r = c.getresponse()
    check("a declared 64 MiB body: 413 at once", r.status == 413 and b"at most 8388608" in r.read(), r.status)
    c.close()
    # a chunked body that grows past the limit
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"x" * (1 << 20)
    status = b""
    try:
        for _ in range(40):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        status = sock.recv(64)
    except OSError:
        pass  # the server may close first
    sock.close()
    check("a chunked body past the limit: the connection closed", status == b"", status)
    # broken HTTP
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    sock.sendall(b"\x00\x01garbage\r\n\r\n")
    try:
        reply = sock.recv(64)
    except OSError:
        reply = b""
    sock.close()
    check("garbage instead of HTTP: 400 or closed", reply.startswith(b"HTTP/1.1 400") or reply == b"", reply)
    st, _, r = s.request("GET", "/health")
    check("still healthy after all of them", st == 200 and r == {"status": "ok"}, r)
    st, _, r = s.request("GET", "/v1/models")
    check("/v1/models", st == 200 and r["data"][0]["id"] == os.path.basename(model) and r["object"] == "list", r)


def openai_client(s, prompt, greedy):
    try:
        import openai
    except ImportError:
        print("note: the openai package is not installed (scripts/install-deps.sh --test installs it); not checked")
        return
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{s.port}/v1", api_key="unused", max_retries=0)
    check("openai: models.list", [m.id for m in c.models.list()] == ["tiny"])
    got = c.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0,
                               extra_body={"ignore_eos": True})
    check("openai: a completion", got.choices[0].text == greedy and got.usage.completion_tokens == 12, got)
    pieces = [ch for ch in c.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_body={"ignore_eos": True})]
    text = "".join(ch.choices[0].text for ch in pieces if ch.choices)
    check("openai: a streamed completion", text == greedy and pieces[-1].usage.completion_tokens == 12, text)
    r = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    check("openai: a chat reply", r.choices[0].message.role == "assistant" and r.usage.completion_tokens <= 3, r)
    r = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=3,
                                  logprobs=True, top_logprobs=2, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs.content
    check("openai: chat logprobs parse", len(lp) == 3 and all(len(t.top_logprobs) == 2 and t.logprob <= 0 and
                                                              t.bytes == list(t.token.encode()) for t in lp), lp)
    try:
        c.completions.create(model="tiny", prompt=prompt, temperature="hot")
        check("openai: BadRequestError", False, "no error")
    except openai.BadRequestError as e:
        check("openai: BadRequestError", e.status_code == 400 and e.body.get("param") == "temperature", e.body)


def leaving_while_waiting(s, prompt):
    """Clients that leave a non-streamed request while it runs, or while it waits in the queue
    (behind a busy request of several seconds: fewer tokens on the slow CUDA emulation)."""
    long_n = 300 if backend_bounds.emulated() else 20000
    busy = threading.Thread(target=lambda: s.post("/v1/completions", {"prompt": prompt, "max_tokens": long_n,
                                                                      "temperature": 0, "ignore_eos": True},
                                                  headers=KEY))
    busy.start()
    time.sleep(0.5)
    quitters = []
    for max_tokens in (long_n, 5):
        q = socket.create_connection(("127.0.0.1", s.port), timeout=60)
        body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True})
        q.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
        quitters.append(q)
    time.sleep(0.5)
    for q in quitters:
        q.close()
    time.sleep(1.0)
    skipped = [line for line in s.log if "not run, its client left" in line]
    check("requests whose clients left while queued are not run", len(skipped) == 0, skipped)
    busy.join(timeout=300)
    time.sleep(1.0)
    skipped = [line for line in s.log if "not run, its client left" in line]
    check("... after the busy one: both skipped", len(skipped) == 2, s.log[-4:])
    # a non-streamed request whose client leaves while it runs: stopped early
    q = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    body = json.dumps({"prompt": prompt, "max_tokens": 20000, "temperature": 0, "ignore_eos": True})
    q.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekrit\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
    time.sleep(1.0)
    q.close()
    deadline = time.time() + 60
    while time.time() < deadline and not any("the client left)" in ln for ln in s.log):
        time.sleep(0.2)
    left = [ln for ln in s.log if "the client left)" in ln]
    n = int(re.search(r"generation (\d+) tokens", left[-1]).group(1)) if left else 20000
    check("a non-streamed request whose client left: stopped early", left and n < 20000, left)


KEY = {"Authorization": "Bearer sekrit"}


def api_key(model):
    s = Server(model, "--api-key", "sekrit", "--chat-template", "chatml", "-c", "100000")
    body = {"prompt": "hi", "max_tokens": 2}
    error_of("no API key", s.post("/v1/completions", body), 401, "API key")
    error_of("a wrong API key", s.post("/v1/completions", body, headers={"Authorization": "Bearer sekrit2"}), 401)
    st, _, _ = s.post("/v1/completions", body, headers={"Authorization": "Bearer sekrit"})
    check("the right API key", st == 200, st)
    check("/health needs none", s.request("GET", "/health")[0] == 200)
    leaving_while_waiting(s, "The quick brown fox")
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    c.putrequest("POST", "/v1/completions")
    c.putheader("Content-Length", str(64 << 20))
    c.endheaders()
    r = c.getresponse()
    check("no key and a 64 MiB body declared: 401 before the body", r.status == 401, r.status)
    c.close()
    # SIGTERM during a long answer: it ends at its next token, the stream is closed, exit 0
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    c.request("POST", "/v1/completions", body=json.dumps({"prompt": "x", "max_tokens": 100000, "temperature": 0,
                                                          "ignore_eos": True, "stream": True}),
              headers={"Authorization": "Bearer sekrit", "Content-Type": "application/json"})
    r = c.getresponse()
    r.readline()  # the first event: the answer is under way
    t0 = time.time()
    rc = s.stop()
    rest = r.read().decode("utf-8", "replace")
    check("SIGTERM during an answer: it ends, exit 0", rc == 0 and time.time() - t0 < 20 and
          rest.rstrip().endswith("data: [DONE]"), f"{rc} {time.time() - t0:.1f} s {rest[-80:]!r}")


def bad_command_lines(model):
    for label, args, rc, needle in [
            ("no model", ["serve"], 2, "usage"),
            ("port out of range", ["serve", "-m", model, "--port", "70000"], 2, "--port"),
            ("--system", ["serve", "-m", model, "--system", "x"], 2, "messages"),
            ("a host that is none", ["serve", "-m", model, "--host", "no.such.host.invalid", "--port", "0"], 2,
             "--host no.such.host.invalid"),
            ("an unknown flag", ["serve", "-m", model, "--bogus"], 2, "unknown option")]:
        p = run(args + ["--backend", BACKEND], timeout=120)
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
        check(f"command line: {label}", p.returncode == rc and len(lines) == 1 and needle in lines[0],
              f"{p.returncode} {p.stderr.strip()}")
    # a port already taken
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    p = run(["serve", "-m", model, "--port", str(port), "--backend", BACKEND], timeout=120)
    holder.close()
    check("a port in use", p.returncode == 1 and "cannot listen" in p.stderr and "in use" in p.stderr, p.stderr)


def main():
    os.makedirs(WORK, exist_ok=True)
    model = make_model("tiny", "--seed", "3", "--max-pos", CTX)
    s = Server(model, "--chat-template", "chatml")
    try:
        prompt, greedy = completions(s, model)
        stops(s, prompt, greedy)
        chat(s, model)
        sampling(s, model, prompt, greedy)
        logprobs(s, model, prompt)
        parallel_and_leaving(s, prompt, greedy)
        openai_client(s, prompt, greedy)
        bad_requests(s, model)
    finally:
        rc = s.stop()
    check("SIGTERM after the session: exit 0", rc == 0, "".join(s.log[-3:]))
    api_key(model)
    bad_command_lines(model)
    cli_case.finish("all passed")


if __name__ == "__main__":
    main()
