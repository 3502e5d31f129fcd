#!/usr/bin/python3
"""The real model: SmolLM2-135M-Instruct Q4_1 (scripts/fetch-models.sh) through `mot run`.

    run_real_model.py --mot BIN --model FILE.gguf --work DIR greedy|chat|conversation|perplexity|serve

- greedy: "The capital of France is", 16 greedy steps with --dump; gguf_ref.py compare:
  logits <= 1e-4 per row against the float64 reference over the same file, the prompt tokens
  equal the file's vocabulary rebuilt as an HF tokenizer (gguf_tokenizer.py; smollm
  pre-tokenizer, no BOS as the file says).
- chat: `--chat -p "What is the capital of France?" -n 32 --temp 0`; the answer mentions
  Paris (the reference answers "The capital of France is Paris." through the file's template).
- perplexity: `mot perplexity -c 128 --chunks 2` over a fixed English text: the chunks' tokens
  and every scored NLL against the float64 reference over the same file
  (tests/reference/perplexity_ref.py), and a PPL a working model gives plain prose (< 40).
- conversation: `-cnv` with "What is the capital of France?" then "And of Germany?" on stdin:
  Paris, then Berlin.
- serve: `mot serve` on the file; POST /v1/chat/completions "What is the capital of France?"
  (greedy, 32 tokens) answers what `mot run --chat` prints, whole and streamed; the next turn
  through the API ("And of Germany?" after that answer) reuses the cache and says Berlin.
Exits 77 (ctest's SKIP_RETURN_CODE) when the model file is absent: the tests never download.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))

SKIP = 77


def run_mot(cmd, timeout):
    """run_gguf_case.run_mot, imported late: it imports torch, which a skip need not wait for."""
    from run_gguf_case import run_mot as run
    return run(cmd, timeout)


def greedy(args):
    import gguf_ref
    prompt = "The capital of France is"
    os.makedirs(args.work, exist_ok=True)
    dump = os.path.join(args.work, "smollm2-greedy.safetensors")
    if os.path.exists(dump):
        os.remove(dump)
    r = run_mot([args.mot, "run", "--backend", "cpu", "-m", args.model, "-p", prompt, "-n", "16", "--temp", "0",
                 "-t", args.threads, "--dump", dump], timeout=300)
    if r.returncode != 0 or not os.path.exists(dump):
        print(f"FAIL: mot exited with {r.returncode}" + ("" if os.path.exists(dump) else ", no dump"))
        return 1
    return gguf_ref.main(["compare", "--gguf", args.model, "--dump", dump, "--prompt", prompt])


def chat(args):
    r = run_mot([args.mot, "run", "--backend", "cpu", "-m", args.model, "--chat", "-p", "What is the capital of France?",
                 "-n", "32", "--temp", "0", "-t", args.threads], timeout=300)
    if r.returncode != 0:
        print(f"FAIL: mot exited with {r.returncode}")
        return 1
    if "Paris" not in r.stdout:
        print(f"FAIL: the answer does not mention Paris: {r.stdout!r}")
        return 1
    print("PASS")
    return 0


# Plain prose for the perplexity check (written for this test).
PROSE = (
    "The village sat at the edge of a wide valley, where the river slowed and spread into marshes before "
    "turning south toward the sea. Most of the families who lived there worked the land, growing wheat on the "
    "higher fields and keeping cattle on the wet meadows below. In the spring the road to the market town was "
    "often flooded, and for several weeks the only way across was a narrow wooden bridge that the miller had "
    "built with his sons. Children walked to school along the top of the dyke, carrying their lunch in cloth "
    "bags, and in the evenings they fished for eels in the ditches while their parents brought the animals in. "
    "The church was the oldest building in the village. Its tower could be seen from miles away, and sailors "
    "on the coast used it to find the mouth of the river. Inside, the walls were bare and white, and the "
    "light came through tall windows of plain glass. Every year, after the harvest, the people gathered there "
    "to give thanks, and afterwards they ate together in the barn behind the inn. There was bread and cheese, "
    "roast meat, apples from the orchards and beer brewed by the innkeeper himself. Old men told stories of "
    "the great flood, when the water had risen to the steps of the church and boats had been rowed down the "
    "main street. The younger people listened politely, although they had heard the stories many times. When "
    "the railway finally reached the valley, everything began to change. Goods could be sent to the city in a "
    "single day, and farmers started to grow vegetables and flowers instead of wheat. New houses were built "
    "along the station road, and a doctor, a baker and a schoolteacher came to live in them. Some of the old "
    "families sold their land and moved away, while others grew richer than their grandparents could have "
    "imagined. The marshes were drained, the river was given new banks of stone, and the wooden bridge was "
    "replaced by one of iron. Today visitors come to walk along the river and to see the church, and few of "
    "them know that the quiet fields around them were once under water for half of every year.\n")


def perplexity(args):
    """The file adds no BOS (smollm), so the chunks are the text's tokens as cut."""
    import gguf_ref
    import perplexity_ref
    from gguf_tokenizer import tokenizer_for
    text, dump = os.path.join(args.work, "prose.txt"), os.path.join(args.work, "smollm2-ppl.safetensors")
    os.makedirs(args.work, exist_ok=True)
    with open(text, "w") as fh:
        fh.write(PROSE)
    if os.path.exists(dump):
        os.remove(dump)
    ctx = 128
    r = run_mot([args.mot, "perplexity", "--backend", "cpu", "-m", args.model, "-f", text, "-c", str(ctx),
                 "--chunks", "2", "-t", args.threads, "--dump", dump], timeout=300)
    if r.returncode != 0:
        print(f"FAIL: mot exited with {r.returncode}")
        return 1
    model, meta, _ = gguf_ref.load(args.model)
    ids = tokenizer_for(meta).encode(PROSE)
    want = [ids[c * ctx:(c + 1) * ctx] for c in range(2)]
    results = perplexity_ref.checks(model, dump, r.stdout, ctx, 1e-4, want)
    _, ppl, _ = perplexity_ref.parse_output(r.stdout)
    results.append(("a real model finds plain prose predictable (PPL < 40)", ppl is not None and ppl < 40,
                    f"PPL {ppl}"))
    bad = [f"{what}: {detail}" for what, ok, detail in results if not ok]
    for what, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    return 1 if bad else 0


def conversation(args):
    """Two turns of `--conversation` (stdin), the cache kept between them: the second question
    only makes sense after the first answer."""
    import subprocess
    p = subprocess.run([args.mot, "run", "--backend", "cpu", "-m", args.model, "-cnv", "-n", "32", "--temp", "0",
                        "-t", args.threads], input=b"What is the capital of France?\nAnd of Germany?\n",
                       capture_output=True, timeout=300)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 or "2 turns" not in err:
        print(f"FAIL: mot exited with {p.returncode}: {err.strip()}")
        return 1
    paris, berlin = out.find("Paris"), out.find("Berlin")
    if paris < 0 or berlin < paris:
        print(f"FAIL: expected Paris, then Berlin: {out!r}")
        return 1
    print(f"PASS: {out!r}")
    return 0


def serve(args):
    import json
    import re
    import signal
    import subprocess
    import urllib.request
    q = "What is the capital of France?"
    r = run_mot([args.mot, "run", "--backend", "cpu", "-m", args.model, "--chat", "-p", q, "-n", "32", "--temp", "0",
                 "-t", args.threads], timeout=300)
    want = r.stdout[:-1] if r.returncode == 0 and r.stdout.endswith("\n") else None
    srv = subprocess.Popen([args.mot, "serve", "--backend", "cpu", "-m", args.model, "--port", "0", "-c", "1024",
                            "-t", args.threads], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    port, log = None, []
    for line in srv.stderr:
        log.append(line)
        m = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
        if m:
            port = int(m.group(1))
            break

    def post(body):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.read().decode()
    fails = []
    try:
        if port is None:
            fails.append(f"mot serve did not start: {''.join(log)}")
        else:
            msgs = [{"role": "user", "content": q}]
            a = json.loads(post({"messages": msgs, "max_tokens": 32, "temperature": 0}))
            text = a["choices"][0]["message"]["content"]
            if text != want or "Paris" not in text:
                fails.append(f"chat answer {text!r}, mot run --chat printed {want!r}")
            events = [json.loads(e[6:]) for e in post({"messages": msgs, "max_tokens": 32, "temperature": 0,
                                                       "stream": True}).split("\n\n") if e.startswith("data: {")]
            streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
            if streamed != text:
                fails.append(f"streamed {streamed!r} != {text!r}")
            msgs += [{"role": "assistant", "content": text}, {"role": "user", "content": "And of Germany?"}]
            b = json.loads(post({"messages": msgs, "max_tokens": 32, "temperature": 0}))
            if "Berlin" not in b["choices"][0]["message"]["content"] or \
                    b["usage"]["prompt_tokens_details"]["cached_tokens"] < a["usage"]["prompt_tokens"]:
                fails.append(f"second turn: {b}")
            print(f"answers: {text!r}, then {b['choices'][0]['message']['content']!r} "
                  f"({b['usage']['prompt_tokens_details']['cached_tokens']} of {b['usage']['prompt_tokens']} cached)")
    finally:
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(timeout=60)
    if rc != 0:
        fails.append(f"mot serve exited {rc} after SIGTERM")
    for f in fails:
        print(f"FAIL: {f}")
    print("PASS" if not fails else f"{len(fails)} failure(s)")
    return 1 if fails else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mot", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--threads", default="2")
    p.add_argument("test", choices=["greedy", "chat", "conversation", "perplexity", "serve"])
    args = p.parse_args()
    if not os.path.exists(args.model):
        print(f"SKIP: {args.model} is absent (scripts/fetch-models.sh fetches it)")
        return SKIP
    return {"greedy": greedy, "chat": chat, "conversation": conversation, "perplexity": perplexity,
            "serve": serve}[args.test](args)


if __name__ == "__main__":
    sys.exit(main())
