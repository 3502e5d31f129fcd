"""mot's chat text against Jinja: every fixture in fixtures/ (real models' chat templates) is
rendered with jinja2 the way transformers' apply_chat_template renders it (sandboxed,
trim_blocks, lstrip_blocks, raise_exception, add_generation_prompt=True) for a user turn and
for a system + user turn, and compared byte for byte with `mot-chat-render`, for strings with
edge cases (spaces and Unicode spaces around the text, newlines, braces, an empty system).

Then whole conversations (system or not; 1-3 user turns; the assistant's replies, an empty
one and padded ones among them; ending with a user turn and the generation prompt, or with
the assistant's turn and none) through `mot-chat-render --conversation`, the same way.

The documented differences (tokenizer/chat_format.h) are checked exactly too:
  - SmolLM2's default system prompt: Jinja's text = the default system turn + mot's text;
  - Mistral's first template rejects a system message: mot's text = Jinja's for one user
    message "SYSTEM\\nUSER" (llama.cpp's merge).
Fixtures named *-unknown / *-not-* must be reported as format "none".

usage: oracle_test.py MOT_CHAT_RENDER FIXTURE_DIR
"""
import glob
import os
import subprocess
import sys

try:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.exit("oracle_test.py: needs jinja2 for this python (Debian: python3-jinja2; "
             "scripts/install-deps.sh --test installs it)")

TOOL, FIXTURES = sys.argv[1], sys.argv[2]
BOS = {"llama3": "<|begin_of_text|>", "gemma": "<bos>"}
SMOLLM_DEFAULT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                  "Hugging Face<|im_end|>\n")
USERS = ["What is the capital of France?", "  padded on both sides \n", "two\nlines\n\n",
         "{{ not a tag }} {% raw %} [INST] <<SYS>>", "\u3000\u00a0caf\u00e9 \u2003\x1f", "\u200bzero\u200b",
         " \t\n", "x"]
SYSTEMS = [None, "You are a helpful assistant.", "  spaced system\n", ""]


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
ENV.globals["raise_exception"] = raise_exception


def jinja(template, bos, system, user):
    msgs = ([{"role": "system", "content": system}] if system is not None else []) + \
           [{"role": "user", "content": user}]
    return ENV.from_string(template).render(messages=msgs, add_generation_prompt=True, bos_token=bos,
                                            eos_token="</s>")


def jinja_conversation(template, bos, eos, msgs, gen):
    return ENV.from_string(template).render(messages=msgs, add_generation_prompt=gen, bos_token=bos, eos_token=eos)


def mot_conversation(path, bos, eos, msgs, gen):
    args = [TOOL, path, bos, "--conversation", eos, "1" if gen else "0"]
    for m in msgs:
        args += [m["role"], m["content"]]
    p = subprocess.run(args, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode("utf-8")


REPLIES = ["Paris.", "  padded reply \n", "", "two\nlines"]


def conversations():
    """(system, messages) pairs: every prefix of two conversations, at user and at assistant turns."""
    users = ["What is the capital of France?", " And of Spain? ", "thanks\n"]
    for system in SYSTEMS:
        for shift in (0, 1):
            msgs = ([{"role": "system", "content": system}] if system is not None else [])
            for t, u in enumerate(users):
                msgs = msgs + [{"role": "user", "content": u}]
                yield system, msgs, True
                msgs = msgs + [{"role": "assistant", "content": REPLIES[(t + shift) % len(REPLIES)]}]
                yield system, msgs, False


def check_conversations(name, path, template, fmt, bos, failures):
    eos = "<|endoftext|>" if fmt == "phi3" else "</s>"
    checked = 0
    for system, msgs, gen in conversations():
        rc, got = mot_conversation(path, bos, eos, msgs, gen)
        ref = msgs
        if fmt == "mistral" and system is not None:  # llama.cpp's merge into the first user turn
            ref = [dict(msgs[1], content=system + "\n" + msgs[1]["content"])] + msgs[2:]
        want = jinja_conversation(template, bos, eos, ref, gen)
        if name == "chatml-smollm2.jinja" and system is None:
            want = want[len(SMOLLM_DEFAULT):] if want.startswith(SMOLLM_DEFAULT) else "(no default system turn) " + want
        checked += 1
        if rc != 0 or got != want:
            failures.append(f"{name} ({fmt}) conversation {msgs!r} gen={gen}:\n    jinja {want!r}\n    mot   {got!r}")
    return checked


def mot(path, bos, system, user):
    args = [TOOL, path, bos, user] + ([system] if system is not None else [])
    p = subprocess.run(args, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8").splitlines()[0]


def main():
    failures, checked = [], 0
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.jinja"))):
        name = os.path.basename(path)
        template = open(path, encoding="utf-8").read()
        rc, _, fmt = mot(path, "<s>", None, "x")
        if "-unknown" in name or "-not-" in name:
            if fmt != "none" or rc == 0:
                failures.append(f"{name}: taken for {fmt!r}, expected none")
            continue
        bos = BOS.get(fmt, "<s>")
        checked += check_conversations(name, path, template, fmt, bos, failures)
        for system in SYSTEMS:
            for user in USERS:
                rc, got, _ = mot(path, bos, system, user)
                try:
                    want = jinja(template, bos, system, user)
                except jinja2.exceptions.TemplateError:
                    if fmt != "mistral" or system is None:
                        raise
                    want = jinja(template, bos, None, system + "\n" + user)  # llama.cpp's merge
                if name == "chatml-smollm2.jinja" and system is None:
                    if not want.startswith(SMOLLM_DEFAULT):
                        failures.append(f"{name}: Jinja no longer adds the default system turn: {want!r}")
                    want = want[len(SMOLLM_DEFAULT):]
                checked += 1
                if rc != 0 or got != want:
                    failures.append(f"{name} ({fmt}) system={system!r} user={user!r}:\n"
                                    f"    jinja {want!r}\n    mot   {got!r}")
    for f in failures[:20]:
        print("FAIL", f)
    print(f"{checked} renderings compared, {len(failures)} failures")
    sys.exit(1 if failures or checked == 0 else 0)


main()
