"""Chat templates on the command line: `mot run -m --chat-template NAME` and a pipeline
expert's `chat_template:` prompt ids equal HF `tokenizers`' ids of the text the template
renders (with exactly one BOS), `--chat` uses the model's own template from
tokenizer_config.json, and every misuse ends with one error line and a non-zero exit.

usage: test_chat.py MOT WORK_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_mot_pool  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
FIXTURES = os.path.join(HERE, "..", "chat", "fixtures")
QUESTION = "What is the capital of France?"
SYSTEM = "You are a helpful assistant."
failures = []


def run(args):
    return subprocess.run([MOT] + args, capture_output=True, text=True, errors="replace", timeout=120)


def expect_error(label, args, *needles):
    p = run(args)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    problems = []
    if p.returncode <= 0:
        problems.append(f"exit status {p.returncode}")
    if len(lines) != 1 or not (lines[0].startswith("error: ") or ": error: " in lines[0]):
        problems.append(f"stderr is not one error line: {p.stderr!r}")
    problems += [f"lacks {n!r}" for n in needles if n not in p.stderr]
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {lines[0] if lines else '(none)'}")
    if problems:
        failures.append(f"{label}: {'; '.join(problems)}")


def hf_ids(model_dir, text):
    """What mot must feed: the text's ids with special tokens parsed, BOS in front when the
    tokenizer adds one and the text does not start with it, never EOS."""
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    body = tok.encode(text, add_special_tokens=False).ids
    with_specials = tok.encode("", add_special_tokens=True).ids  # the tiny tokenizers add BOS only
    if with_specials and body[:len(with_specials)] != with_specials:
        body = with_specials + body
    return body


def dumped_prompt(dump, name, n_prompt):
    return [int(t) for t in read_safetensors(dump)[f"tokens.{name}"][:n_prompt]]


def check_run(label, model_dir, extra, want_ids):
    dump = os.path.join(WORK, re.sub(r"\W+", "_", label) + ".safetensors")
    p = run(["run", "-m", model_dir, "-p", QUESTION, "-n", "2", "--temp", "0", "-t", "1", "--dump", dump,
             "--backend", "cpu"] + extra)
    if p.returncode != 0:
        failures.append(f"{label}: exit {p.returncode}: {p.stderr.strip()}")
        return
    n = int(re.search(r"prompt (\d+) tokens", p.stderr).group(1))
    got = dumped_prompt(dump, os.path.basename(model_dir), n)
    ok = got == want_ids
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {n} prompt tokens")
    if not ok:
        failures.append(f"{label}: prompt ids\n    mot {got}\n    HF  {want_ids}")


def chatml(system, user):
    s = f"<|im_start|>system\n{system}<|im_end|>\n" if system is not None else ""
    return s + f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def llama3(system, user):
    s = f"<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>" if system is not None else ""
    return ("<|begin_of_text|>" + s + f"<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n")


def single_model_runs():
    tiny = os.path.join(WORK, "tiny")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), tiny, "--preset", "tiny",
                    "--layers", "2", "--seed", "3"], check=True, stdout=subprocess.DEVNULL)
    mistral = os.path.join(WORK, "tiny-mistral")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "make_model.py"), mistral, "--preset",
                    "tiny-mistral", "--seed", "4"], check=True, stdout=subprocess.DEVNULL)

    # ChatML writes no BOS: the tokenizer's (post-processor) BOS goes in front, once.
    check_run("chatml", tiny, ["--chat-template", "chatml"], hf_ids(tiny, chatml(None, QUESTION)))
    check_run("chatml + system", tiny, ["--chat-template", "chatml", "--system", SYSTEM],
              hf_ids(tiny, chatml(SYSTEM, QUESTION)))
    # Llama-3 writes <|begin_of_text|> itself: still exactly one BOS.
    want = hf_ids(tiny, llama3(SYSTEM, QUESTION))
    if want.count(want[0]) != 1:
        failures.append(f"test setup: llama3 ids do not start with one BOS: {want}")
    check_run("llama3 + system", tiny, ["--chat-template", "llama3", "--system", SYSTEM], want)
    # Llama-2 on a SentencePiece tokenizer: "<s>" in the text is the BOS id, and only once.
    check_run("llama2 sentencepiece", mistral, ["--chat-template", "llama2"],
              hf_ids(mistral, f"<s>[INST] {QUESTION} [/INST]"))
    # Jinja text given to --chat-template / --chat-template-file is recognised.
    l3 = open(os.path.join(FIXTURES, "llama3-instruct.jinja")).read()
    check_run("--chat-template-file", tiny, ["--chat-template-file", os.path.join(FIXTURES, "llama3-instruct.jinja")],
              hf_ids(tiny, llama3(None, QUESTION)))
    check_run("--chat-template JINJA", tiny, ["--chat-template", l3], hf_ids(tiny, llama3(None, QUESTION)))

    # --chat: the model's own template, from tokenizer_config.json (a string, or the "default"
    # entry of a list).
    own = os.path.join(WORK, "tiny-own-template")
    shutil.rmtree(own, ignore_errors=True)
    shutil.copytree(tiny, own)
    cfg_path = os.path.join(own, "tokenizer_config.json")
    cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
    cfg["chat_template"] = [{"name": "tool_use", "template": "{{ 'x' }}"}, {"name": "default", "template": l3}]
    json.dump(cfg, open(cfg_path, "w"))
    check_run("--chat (model's template)", own, ["--chat", "--system", SYSTEM], hf_ids(own, llama3(SYSTEM, QUESTION)))

    base = ["run", "-m", tiny, "-p", "hi", "-n", "1", "-t", "1"]
    expect_error("--chat without a template", base + ["--chat"], "no chat template", "--chat-template NAME", "chatml")
    expect_error("--chat-template bogus", base + ["--chat-template", "bogus"], "--chat-template", "bogus",
                 "chatml, llama2, llama3, mistral")
    expect_error("--system without chat", base + ["--system", "be brief"], "--system", "--chat")
    expect_error("unknown template file", base + ["--chat-template-file", os.path.join(FIXTURES, "vicuna-unknown.jinja")],
                 "vicuna-unknown.jinja", "not one mot knows")
    expect_error("missing template file", base + ["--chat-template-file", os.path.join(WORK, "none.jinja")], "none.jinja")
    unknown = os.path.join(WORK, "tiny-unknown-template")
    shutil.rmtree(unknown, ignore_errors=True)
    shutil.copytree(tiny, unknown)
    json.dump(dict(cfg, chat_template=open(os.path.join(FIXTURES, "phi4-not-chatml.jinja")).read()),
              open(os.path.join(unknown, "tokenizer_config.json"), "w"))
    expect_error("--chat with an unknown template", ["run", "-m", unknown, "-p", "hi", "--chat"],
                 "not one mot knows", "--chat-template NAME")


def pipeline_yaml(pool, name, expert_a_extra, expert_c=None):
    """The demo pool's pipeline with expert a's entry extended (and c's replaced)."""
    text = open(os.path.join(pool, "demo.yaml")).read()
    text = text.replace("- {name: a, path: experts/a}", "- {name: a, path: experts/a" + expert_a_extra + "}")
    if expert_c is not None:
        text = re.sub(r"- \{name: c, path: experts/c, template: 'Question: \{prompt\}\n\n    Answer:'\}",
                      expert_c, text)
    path = os.path.join(pool, f"chat-{name}.yaml")
    open(path, "w").write(text)
    return path


def pipelines():
    pool = os.path.join(WORK, "pool")
    make_mot_pool.build(pool, "demo")
    prompt = "The quick brown fox"
    good = pipeline_yaml(pool, "good", ", chat_template: chatml")
    dump = os.path.join(WORK, "pipe.safetensors")
    p = run(["run", good, "-p", prompt, "-n", "2", "-t", "1", "--experts", "a,b", "--system", SYSTEM, "--dump", dump,
             "--backend", "cpu"])
    if p.returncode != 0:
        failures.append(f"pipeline with chat_template: exit {p.returncode}: {p.stderr.strip()}")
    else:
        a_dir, b_dir = os.path.join(pool, "experts", "a"), os.path.join(pool, "experts", "b")
        want_a = hf_ids(a_dir, chatml(SYSTEM, prompt))
        want_b = Tokenizer.from_file(os.path.join(b_dir, "tokenizer.json")).encode(prompt).ids
        got_a = dumped_prompt(dump, "a", len(want_a))
        got_b = dumped_prompt(dump, "b", len(want_b))
        ok = got_a == want_a and got_b == want_b
        print(f"{'ok  ' if ok else 'FAIL'} pipeline: a in ChatML ({len(want_a)} tokens), b plain ({len(want_b)})")
        if not ok:
            failures.append(f"pipeline prompts: a {got_a} vs {want_a}; b {got_b} vs {want_b}")
    # The router sees the raw prompt (SPEC 1.1): its scores do not change.
    plain = run(["route", os.path.join(pool, "demo.yaml"), "-p", prompt]).stdout
    chat = run(["route", good, "-p", prompt]).stdout
    if not plain or plain != chat:
        failures.append(f"route differs with chat: {plain!r} vs {chat!r}")

    both = pipeline_yaml(pool, "both", "", "- {name: c, path: experts/c, template: 'Q: {prompt}', chat: true}")
    expect_error("pipeline template + chat", ["run", both, "-p", "hi"], "chat-both.yaml:6:", ": error:",
                 "template", "not both")
    bogus = pipeline_yaml(pool, "bogus", ", chat_template: bogus")
    expect_error("pipeline unknown chat_template", ["run", bogus, "-p", "hi"], "chat-bogus.yaml:4:", "bogus", "chatml")
    notbool = pipeline_yaml(pool, "notbool", ", chat: yes")
    expect_error("pipeline chat: yes", ["run", notbool, "-p", "hi"], "chat-notbool.yaml:4:", "true")
    own = pipeline_yaml(pool, "own", ", chat: true")
    expect_error("pipeline chat on a model without a template", ["run", own, "-p", "hi"], "chat-own.yaml:4:",
                 "expert 'a'", "no chat template", "chat_template: NAME")
    expect_error("pipeline --chat", ["run", good, "-p", "hi", "--chat"], "--chat", "per expert")
    expect_error("pipeline --system without chat experts", ["run", os.path.join(pool, "demo.yaml"), "-p", "hi",
                                                           "--system", "x"], "--system", "chat: true")


def main():
    os.makedirs(WORK, exist_ok=True)
    single_model_runs()
    pipelines()
    if failures:
        print(f"{len(failures)} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("chat templates on the command line: all checks passed")


main()
