"""`mot run -m MODEL --conversation` (-cnv): turns read from standard input, the chat template
applied to the whole conversation, the KV cache kept between turns (runtime/conversation.h).

The oracle is a conversation simulated here, independently of mot: each turn the whole
conversation is rendered by jinja2 from the real template (tests/chat/fixtures), encoded by HF
`tokenizers` (special tokens parsed, one BOS), and answered greedily by the float64 reference
model (tests/reference/llama_ref.py); the answer's text (HF decode, specials skipped) becomes
the assistant's message. Then, per case:
  - mot's stdout is the answers' texts, one after another, each ended by a newline;
  - `--dump` holds the last turn: its prompt is exactly the simulated conversation's tokens,
    and its logits are within 1e-4 of the reference (SPEC 1.7) over prompt and answer;
  - the prompt tokens mot fed (its figures line) are exactly those the cache could not reuse:
    per turn, the prompt past its longest common prefix with the tokens fed before (the
    previous prompt and every answer token but the last, which is sampled, not fed).
Cases: ChatML on a byte-level BPE model; Llama-2 (BOS per user turn, " </s>" after an
answer) and Mistral v3 (its system message moves to the newest user turn, so the cache is
rewound near its start) on a SentencePiece model; Llama-3 with a system message. Then the
misuses, each one error line and a non-zero exit.

With --backend cuda (ctest cli_conversation_cuda, label gpu; skipped without a device) the
same cases run on CUDA, f32 weights so SPEC 1.7's bound stays 1e-4: the cache's rewind and
extend through the CUDA executor's graphs; the misuses are the CPU run's.

usage: test_conversation.py MOT WORK_DIR [--backend cpu|cuda]
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import backend_bounds  # noqa: E402
import cli_case  # noqa: E402
import compare_dump  # noqa: E402
from llama_ref import LlamaRef  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: E402

MOT, WORK, BACKEND = cli_case.args()
FIXTURES = os.path.join(HERE, "..", "chat", "fixtures")
TURNS = ["What is the capital of France?", "And of Spain?", "Thanks, that is all."]
SYSTEM = "You are a helpful assistant."
ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
failures = []


def run(args, stdin="", timeout=300):
    """stdout and stderr as text, "\r" kept (no newline translation: answers may hold one)."""
    p = subprocess.run([MOT] + args, input=stdin.encode(), capture_output=True, timeout=timeout)
    p.stdout, p.stderr = p.stdout.decode("utf-8", errors="replace"), p.stderr.decode("utf-8", errors="replace")
    return p


def special_text(tok, cfg_id):
    return tok.id_to_token(cfg_id) if cfg_id is not None else ""


class Simulation:
    """The conversation as HF would run it: jinja2 + tokenizers + the float64 reference."""

    def __init__(self, model_dir, fixture, system, n_predict):
        import json
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        eos = cfg.get("eos_token_id")
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.bos_text = special_text(self.tok, cfg.get("bos_token_id"))
        self.eos_text = special_text(self.tok, sorted(self.eos_ids)[0])
        self.template = ENV.from_string(open(os.path.join(FIXTURES, fixture)).read())
        self.model = LlamaRef.load(model_dir)
        self.msgs = [{"role": "system", "content": system}] if system is not None else []
        self.n_predict = n_predict
        self.cache = []   # the tokens mot's cache holds
        self.fed = 0      # prompt tokens mot must feed
        self.stdout = ""
        self.prompt = None

    def ids(self, text):
        """The one-BOS rule (runtime/chat_prompt.h): specials parsed, the tokenizer's prefix in
        front unless the text starts with it."""
        body = self.tok.encode(text, add_special_tokens=False).ids
        prefix = self.tok.encode("", add_special_tokens=True).ids
        return body if not prefix or body[:len(prefix)] == prefix else prefix + body

    def say(self, user):
        self.msgs.append({"role": "user", "content": user})
        text = self.template.render(messages=self.msgs, add_generation_prompt=True, bos_token=self.bos_text,
                                    eos_token=self.eos_text)
        prompt = self.ids(text)
        k = 0
        while k < len(self.cache) and k < len(prompt) - 1 and self.cache[k] == prompt[k]:
            k += 1
        self.fed += len(prompt) - k
        ids, reply = list(prompt), []
        while len(reply) < self.n_predict:
            nxt = compare_dump.first_argmax(self.model.forward(ids)[-1].numpy())
            reply.append(nxt)
            if nxt in self.eos_ids:
                break
            ids.append(nxt)
        self.cache = prompt + reply[:-1]
        self.prompt = prompt
        words = [t for t in reply if t not in self.eos_ids]
        answer = self.tok.decode(words, skip_special_tokens=True)
        self.stdout += answer + "\n"
        self.msgs.append({"role": "assistant", "content": answer})
        return prompt, reply


def case(label, model_dir, fixture, template_flag, system=None, n_predict=6):
    sim = Simulation(model_dir, fixture, system, n_predict)
    for t in TURNS:
        sim.say(t)
    dump = os.path.join(WORK, re.sub(r"\W+", "_", label) + ".safetensors")
    args = ["run", "-m", model_dir, "-cnv", "--chat-template", template_flag, "--temp", "0", "-n", str(n_predict),
            "-t", "1", "--backend", BACKEND, "--dump", dump, "--force"]
    if system is not None:
        args += ["--system", system]
    p = run(args, stdin="".join(t + "\n" for t in TURNS))
    problems = []
    if p.returncode != 0 and backend_bounds.no_device(p.stderr):
        print(f"skipped: {p.stderr.strip()}")
        raise SystemExit(backend_bounds.SKIP)
    if p.returncode != 0:
        failures.append(f"{label}: exit {p.returncode}: {p.stderr.strip()}")
        print(f"FAIL {label}: exit {p.returncode}")
        return
    if p.stdout != sim.stdout:
        problems.append(f"stdout\n    mot {p.stdout!r}\n    ref {sim.stdout!r}")
    m = re.search(r"(\d+) turns? \| prompt (\d+) tokens fed", p.stderr)
    if not m or int(m.group(1)) != len(TURNS) or int(m.group(2)) != sim.fed:
        problems.append(f"figures line {m.group(0) if m else p.stderr!r}: expected {len(TURNS)} turns and "
                        f"{sim.fed} prompt tokens fed (of {len(sim.prompt)} in the last turn's prompt)")
    tol = backend_bounds.tolerance(BACKEND, ["f32"])
    problems += compare_dump.check_dump(dump, os.path.basename(model_dir), sim.model, tol, greedy=True,
                                        want_prompt=sim.prompt, ref_greedy=True)
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {len(TURNS)} turns, last prompt {len(sim.prompt)} tokens, "
          f"{sim.fed} fed in all")
    failures.extend(f"{label}: {x}" for x in problems)


def expect_error(label, args, stdin, *needles):
    p = run(args, stdin)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:") or ": error: " in ln]
    problems = []
    if p.returncode <= 0:
        problems.append(f"exit status {p.returncode}")
    if len(lines) != 1:
        problems.append(f"not one error line: {p.stderr!r}")
    problems += [f"lacks {n!r}" for n in needles if n not in p.stderr]
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {lines[0] if lines else '(none)'}")
    failures.extend(f"{label}: {x}" for x in problems)
    return p


def make(name, preset, seed):
    path = os.path.join(WORK, name)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), path, "--preset", preset,
                    "--layers", "2", "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    return path


def main():
    backend_bounds.skip_without_cuda(BACKEND)
    os.makedirs(WORK, exist_ok=True)
    tiny = make("tiny", "tiny", 3)
    mistral = make("tiny-mistral", "tiny-mistral", 4)
    case("chatml", tiny, "chatml-openhermes.jinja", "chatml")
    case("llama3 + system", tiny, "llama3-instruct.jinja", "llama3", SYSTEM)
    case("llama2 + system (sentencepiece)", mistral, "llama2-chat.jinja", "llama2", SYSTEM, n_predict=5)
    case("mistral-v3 + system (rewinds)", mistral, "mistral-v3.jinja", "mistral-v3", SYSTEM)
    if BACKEND != "cpu":
        finish()
        return

    base = ["run", "-m", tiny, "-cnv", "--chat-template", "chatml", "--temp", "0", "-t", "1", "--backend", "cpu"]
    expect_error("-cnv -n 0", base + ["-n", "0"], "hi\n", "-n 0")
    expect_error("-cnv without a chat template", ["run", "-m", tiny, "-cnv", "-t", "1"], "hi\n", "no chat template",
                 "--chat-template NAME")
    # The context fills: the turns before are answered, then one error line naming both sizes.
    p = expect_error("-cnv past the context", base + ["-n", "4", "-c", "48"],
                     "hello\n" + "a rather longer question this time, with many words in it\n" * 3,
                     "the context only 48", "raise -c")
    if p.stdout.count("\n") < 1:
        failures.append(f"-cnv past the context: no answer before the error: {p.stdout!r}")
    pool = os.path.join(WORK, "pipe.yaml")
    open(pool, "w").write("experts:\n  - {name: a, path: tiny}\n")
    expect_error("-cnv with a pipeline", ["run", pool, "-cnv"], "hi\n", "--conversation", "-m")

    expect_error("-cnv a NUL byte in a turn", base + ["-n", "1"], "hello\nbad\0turn\n", "turn 2 holds a NUL byte")
    expect_error("-cnv a turn of 17 MiB", base + ["-n", "1"], "x" * (17 << 20), "turn 1 is longer than 16 MiB")

    expect_error("-cnv --dump with no turn", base + ["-n", "1", "--dump", os.path.join(WORK, "none.safetensors")],
                 "\n", "--dump", "nothing to dump")

    # Blank lines are no turns; a trailing backslash joins two lines into one turn.
    p = run(base + ["-n", "2"], stdin="\n   \nfirst line\\\nsecond line\n\n")
    m = re.search(r"(\d+) turns?", p.stderr)
    if p.returncode != 0 or not m or m.group(1) != "1":
        failures.append(f"blank lines / continuation: exit {p.returncode}, {p.stderr.strip()!r}")
    # No input at all: nothing said, exit 0.
    p = run(base + ["-n", "2"], stdin="")
    if p.returncode != 0 or "0 turns" not in p.stderr or p.stdout:
        failures.append(f"empty input: exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr.strip()!r}")
    # -p is the first turn, stdin the rest.
    p = run(base + ["-n", "2", "-p", TURNS[0]], stdin=TURNS[1] + "\n")
    if p.returncode != 0 or "2 turns" not in p.stderr:
        failures.append(f"-p then stdin: exit {p.returncode}, {p.stderr.strip()!r}")

    finish()


def finish():
    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"conversation ({BACKEND}): all checks passed")


main()
