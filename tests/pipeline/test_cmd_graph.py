"""`mot graph PIPELINE.yaml [--format yaml|dot]` on expert folders that hold only a
config.json: the expanded form (depths read from config.json, paths resolved from the
pipeline's folder), its round trip through the command, the dot form, and one "error:" line
with the right exit status for every bad input.

usage: test_cmd_graph.py MOT WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

MOT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = []


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def config(layers):
    return json.dumps({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": layers,
                       "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})


def run(args, cwd=WORK):
    return subprocess.run([MOT, "graph"] + args, capture_output=True, text=True, cwd=cwd,
                          timeout=30)


def expect_ok(label, args, needles, cwd=WORK):
    p = run(args, cwd)
    if p.returncode != 0 or p.stderr:
        failures.append(f"{label}: exit {p.returncode}, stderr {p.stderr!r}")
        return ""
    for n in needles:
        if n not in p.stdout:
            failures.append(f"{label}: output lacks {n!r}")
    return p.stdout


def expect_error(label, args, status, *needles):
    p = run(args)
    lines = p.stderr.splitlines()
    if p.returncode != status:
        failures.append(f"{label}: exit {p.returncode}, expected {status} ({p.stderr!r})")
    # One line: "error: ..." or, for a position in a file, "FILE[:LINE:COL]: error: ...".
    if len(lines) != 1 or not (lines[0].startswith("error: ") or ": error: " in lines[0]):
        failures.append(f"{label}: expected one 'error:' line, got {p.stderr!r}")
    elif any(n not in lines[0] for n in needles):
        failures.append(f"{label}: {lines[0]!r} lacks one of {needles}")
    if p.stdout:
        failures.append(f"{label}: printed {p.stdout!r} on stdout")


PIPELINE = """name: tiny-mot
experts:
  - {name: math, path: ../models/math}
  - {name: code, path: ../models/code, template: "### Task\\n{prompt}\\n### Answer\\n"}
  - {name: chat, path: ../models/chat}
router: {encoder: mean-embed, expert: chat, hidden: 64, top_k: 2}
interaction: {stacks: STACKS, placement: PLACEMENT, shared_dim: 128, heads: 4}
weights: ../models/tiny-mot.safetensors
"""


def pipeline(name, stacks=4, placement="uniform"):
    write(os.path.join(WORK, "pipelines", name),
          PIPELINE.replace("STACKS", str(stacks)).replace("PLACEMENT", placement))
    return os.path.join("pipelines", name)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    for name, layers in (("math", 30), ("code", 8), ("chat", 22)):
        write(os.path.join(WORK, "models", name, "config.json"), config(layers))
    models = os.path.realpath(os.path.join(WORK, "models"))

    tiny = pipeline("tiny.yaml")
    out = expect_ok("yaml", [tiny], [
        f"  - {{name: math, path: {models}/math, depth: 30, layers: [6, 14, 21, 29]}}\n",
        "depth: 8, layers: [1, 3, 5, 7]}\n", "depth: 22, layers: [4, 10, 15, 21]}\n",
        f"weights: {models}/tiny-mot.safetensors\n",
        "interaction: {stacks: 4, placement: explicit, shared_dim: 128, heads: 4, norm: none}\n",
        "sampler: {temperature: 0, top_k: 0, top_p: 1, seed: 0, max_tokens: 64}\n",
        "  - {id: code/stack3, kind: stack, expert: code, layers: [6, 7], inputs: [code/reverse2]}\n",
        "  - {id: chat/sampler, kind: sampler, expert: chat, inputs: [chat/reverse3]}\n"])
    # The expanded form, saved in another folder, expands to itself (absolute paths).
    write(os.path.join(WORK, "elsewhere", "expanded.yaml"), out)
    again = expect_ok("round trip", ["expanded.yaml"], [], cwd=os.path.join(WORK, "elsewhere"))
    if out and again != out:
        failures.append("round trip: `mot graph` of the expanded form differs from it")
    # --format yaml is the default; the dot form has the clusters and edges.
    if out and expect_ok("--format yaml", [tiny, "--format", "yaml"], []) != out:
        failures.append("--format yaml differs from the default output")
    expect_ok("dot", ["--format", "dot", tiny], [
        "digraph mot {", 'subgraph "cluster_math" {', 'label="chat (22 layers)";',
        '"math/stack0" [shape=box, label="stack 0\\nlayers 0-6"];',
        '"math/forward0" -> "attention0";', '"attention0" -> "chat/reverse0";',
        '"chat/reverse3" -> "chat/sampler";'])
    # A shallow placement leaves a tail stack after the last interaction.
    expect_ok("shallow", [pipeline("shallow.yaml", 2, "shallow")], [
        "depth: 30, layers: [6, 14]}\n",
        "  - {id: math/stack2, kind: stack, expert: math, layers: [15, 29], inputs: [math/reverse1]}\n",
        "  - {id: math/sampler, kind: sampler, expert: math, inputs: [math/stack2]}\n"])

    # Bad inputs: one error line, exit 1 for a bad file, 2 for a bad command line.
    expect_error("too many stacks", [pipeline("nine.yaml", 9)], 1,
                 "pipelines/nine.yaml:4:5: error: experts[1] (code): 9 stacks do not fit its 8 layers "
                 "with the uniform placement", "expected interaction.stacks <= 8")
    write(os.path.join(WORK, "nocfg", "x.txt"), "")
    write(os.path.join(WORK, "pipelines", "nocfg.yaml"),
          PIPELINE.replace("../models/code", "../nocfg").replace("STACKS", "2").replace("PLACEMENT", "uniform"))
    expect_error("no config.json", ["pipelines/nocfg.yaml"], 1,
                 "pipelines/nocfg.yaml:4:5: error: experts[1] (code): ", "nocfg/config.json")
    write(os.path.join(WORK, "pipelines", "nodir.yaml"),
          PIPELINE.replace("../models/chat", "../absent").replace("STACKS", "2").replace("PLACEMENT", "uniform"))
    expect_error("no model folder", ["pipelines/nodir.yaml"], 1,
                 "pipelines/nodir.yaml:5:5: error: experts[2] (chat): ", "absent/config.json")
    write(os.path.join(WORK, "pipelines", "depth.yaml"),
          PIPELINE.replace("path: ../models/math}", "path: ../models/math, depth: 31}")
          .replace("STACKS", "2").replace("PLACEMENT", "uniform"))
    expect_error("depth vs config", ["pipelines/depth.yaml"], 1,
                 "pipelines/depth.yaml:3:47: error: experts[0].depth 31 does not match the model "
                 f"'{models}/math', which has 30 layers")
    if out:
        # A hand-edited depth in the expanded form no longer matches the graph's layers.
        write(os.path.join(WORK, "elsewhere", "depth.yaml"), out.replace("depth: 30,", "depth: 31,", 1))
        expect_error("edited depth", ["elsewhere/depth.yaml"], 1,
                     "elsewhere/depth.yaml:49:58: error: graph[31] (math/stack3): layers: math has 31 "
                     "layers, its stacks cover [0, 29] (they must end at layer 30)")
        # Without a declared depth the graph's layers are checked when the depth is known.
        short = out.replace(", depth: 30,", ",", 1).replace("layers: [22, 29], inputs: [math/reverse2]",
                                                             "layers: [22, 28], inputs: [math/reverse2]", 1)
        write(os.path.join(WORK, "elsewhere", "short.yaml"), short)
        expect_error("graph short of the model", ["elsewhere/short.yaml"], 1,
                     "elsewhere/short.yaml:49:58: error: graph[31] (math/stack3): layers: math has 30 "
                     "layers, its stacks cover [0, 28] (they must end at layer 29)")
    write(os.path.join(WORK, "bad.yaml"), "name: x\nexperts: [a, b\n")
    expect_error("bad yaml", ["bad.yaml"], 1, "bad.yaml:3:1: error: invalid YAML")
    expect_error("missing file", ["nope.yaml"], 1, "nope.yaml: error: cannot read the pipeline file")
    expect_error("no arguments", [], 2, "graph: a pipeline file is required")
    expect_error("bad format", [tiny, "--format", "xml"], 2, "--format: expected yaml or dot, got 'xml'")
    expect_error("format without value", [tiny, "--format"], 2, "--format: expected a value")
    expect_error("unknown option", [tiny, "--colour"], 2, "graph: unknown option '--colour'")
    expect_error("two files", [tiny, tiny], 2, "graph: one pipeline file expected")

    for f in failures:
        print("FAIL", f)
    print(f"test_cmd_graph: {'all checks passed' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
