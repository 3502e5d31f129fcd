#!/usr/bin/python3
"""The real model: SmolLM2-135M-Instruct Q4_1 (scripts/fetch-models.sh) through `mot run`.

    run_real_model.py --mot BIN --model FILE.gguf --work DIR greedy|chat

- greedy: "The capital of France is", 16 greedy steps with --dump; gguf_ref.py compare:
  logits <= 1e-4 per row against the float64 reference over the same file, the prompt tokens
  equal the file's vocabulary rebuilt as an HF tokenizer (gguf_tokenizer.py; smollm
  pre-tokenizer, no BOS as the file says).
- chat: `--chat -p "What is the capital of France?" -n 32 --temp 0`; the answer mentions
  Paris (the reference answers "The capital of France is Paris." through the file's template).
- conversation: `-cnv` with "What is the capital of France?" then "And of Germany?" on stdin:
  Paris, then Berlin.
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mot", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--threads", default="2")
    p.add_argument("test", choices=["greedy", "chat", "conversation"])
    args = p.parse_args()
    if not os.path.exists(args.model):
        print(f"SKIP: {args.model} is absent (scripts/fetch-models.sh fetches it)")
        return SKIP
    return {"greedy": greedy, "chat": chat, "conversation": conversation}[args.test](args)


if __name__ == "__main__":
    sys.exit(main())
