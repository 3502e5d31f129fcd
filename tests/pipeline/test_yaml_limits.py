"""Hostile pipeline files given to `mot graph`: each is refused fast (well under a second; the
test allows 5 s) with one "FILE[:LINE:COL]: error: ..." line and exit status 1, whatever
libyaml would spend on it (its scanner is quadratic in the nesting of flow collections: a
200 KB `[[[[...` file ran past 60 s before the limits of graph/yaml_limits.h).

usage: test_yaml_limits.py MOT WORK_DIR
"""
import os
import shutil
import subprocess
import sys
import time

MOT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
LIMIT_S = 5.0
failures = []


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def expect_error(label, path, *needles):
    t0 = time.monotonic()
    try:
        p = subprocess.run([MOT, "graph", path], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        failures.append(f"{label}: still running after 30 s")
        return
    took = time.monotonic() - t0
    lines = p.stderr.splitlines()
    if took > LIMIT_S:
        failures.append(f"{label}: took {took:.1f} s (at most {LIMIT_S} s)")
    if p.returncode != 1:
        failures.append(f"{label}: exit {p.returncode}, expected 1 ({p.stderr[-300:]!r})")
    if len(lines) != 1 or ": error: " not in lines[0] or not lines[0].startswith(path):
        failures.append(f"{label}: expected one 'FILE: error:' line, got {p.stderr[-300:]!r}")
    elif any(n not in lines[0] for n in needles):
        failures.append(f"{label}: {lines[0]!r} lacks one of {needles}")
    else:
        print(f"ok   {label} ({took:.2f} s): {lines[0]}")


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    # 200 KB of nested flow sequences: refused where the 65th opens.
    deep = write("deep_flow.yaml", "experts: " + "[" * 100000 + "]" * 100000 + "\n")
    expect_error("nested flow sequences", deep, f"{deep}:1:", "nesting deeper than 64 levels")
    flow_maps = write("deep_flow_maps.yaml", "{a: " * 50000 + "}" * 50000 + "\n")
    expect_error("nested flow mappings", flow_maps, f"{flow_maps}:1:", "nesting deeper than 64 levels")
    # A block mapping nested 1000 deep: refused at the 65th level (line 65).
    block = write("deep_block.yaml", "".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "b\n")
    expect_error("nested block mappings", block, f"{block}:65:", "nesting deeper than 64 levels")
    # Billion laughs: ten levels of ten aliases each would be 10^10 nodes.
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        laughs.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = write("laughs.yaml", "\n".join(laughs) + "\n")
    expect_error("alias bomb", bomb, "more than 100000 YAML nodes")
    cycle = write("cycle.yaml", "experts: &e [*e]\n")
    expect_error("alias inside its node", cycle, f"{cycle}:1:14:", "alias *e is used inside the node it names")
    anchors = write("anchors.yaml", "".join(f"k{i}: &a{i} v\n" for i in range(1100)))
    expect_error("too many anchors", anchors, f"{anchors}:1025:", "more than 1024 anchors")
    # Over MOT_YAML_MAX_FILE_BYTES (1 MiB): refused before it is read.
    big = write("big.yaml", "# padding\n" * 120000)
    expect_error("file over 1 MiB", big, "cannot read the pipeline file",
                 "1200000 bytes is more than the 1048576 bytes a YAML file may have")
    # Not a regular file: a FIFO must not block, a directory is no file.
    fifo = os.path.join(WORK, "fifo.yaml")
    os.mkfifo(fifo)
    expect_error("FIFO", fifo, "not a regular file")
    expect_error("directory", WORK, "not a regular file")
    # Inside the limits: 64 levels are allowed (the pipeline is then wrong for other reasons).
    ok_deep = write("deep64.yaml", "x: " + "[" * 63 + "]" * 63 + "\n")
    expect_error("64 levels pass the limit", ok_deep, "unknown key 'x'")

    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
