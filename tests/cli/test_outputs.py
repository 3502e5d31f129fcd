"""Output files and standard output (issue 20, "safe outputs").

Every file mot writes (tune -o, run --dump, init -o, --profile) goes to a temporary file beside
the target, is synced and renamed over it. A symlink, a directory or a device as the target is
refused with one error line (and left as it was) unless --force, which writes into it in place
with every write checked. A failed write to standard output ends the command with
"error: writing standard output: ..." and a non-zero exit.

usage: test_outputs.py MOT WORK_DIR
"""
import os
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import make_mot_pool  # noqa: E402

MOT, WORK = sys.argv[1], sys.argv[2]
failures = []
ENOSPC = os.strerror(28)  # "No space left on device"


def run(args, stdout=subprocess.PIPE, timeout=120):
    return subprocess.run([MOT] + args, stdout=stdout, stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=timeout)


def check(label, cond, detail=""):
    print(f"{'ok  ' if cond else 'FAIL'} {label}" + (f": {detail}" if detail and not cond else ""))
    if not cond:
        failures.append(f"{label}: {detail}")


def expect_error(label, p, *needles):
    """p failed with exactly one 'error:' line holding every needle."""
    lines = [l for l in p.stderr.splitlines() if l.startswith("error")]
    problems = []
    if p.returncode <= 0:
        problems.append(f"exit status {p.returncode}")
    if len(lines) != 1:
        problems.append(f"expected one error line, got {lines!r}")
    problems += [f"lacks {n!r}" for n in needles if n not in p.stderr]
    check(label, not problems, "; ".join(problems) + f" (stderr {p.stderr.strip()!r})")


def device(name):
    """A character device to aim outputs at: WORK/name, a private node of /dev/name, when we are
    root. Never /dev itself then: a broken mot run as root renames its temporary file over the
    path and would replace the machine's /dev/null (the bug this test is about). Without root
    /dev is not writable, so /dev/name is safe."""
    if os.geteuid() != 0:
        return "/dev/" + name
    path = os.path.join(WORK, name)
    if os.path.lexists(path):
        os.remove(path)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.stat("/dev/" + name).st_rdev)
    return path


def to_full(args):
    """Runs mot with standard output on /dev/full (opened here: nothing can replace it)."""
    with open("/dev/full", "w") as full:
        return run(args, stdout=full)


def symlink_to(name, target_text="keep me\n"):
    """WORK/name -> WORK/name.target (which holds target_text)."""
    link, target = os.path.join(WORK, name), os.path.join(WORK, name + ".target")
    with open(target, "w") as f:
        f.write(target_text)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(target, link)
    return link, target


def link_intact(label, link, target, text="keep me\n"):
    check(label + ": the symlink is still a symlink", os.path.islink(link) and os.readlink(link) == target,
          f"islink={os.path.islink(link)}")
    with open(target) as f:
        got = f.read()
    check(label + ": its target is unchanged", got == text, repr(got[:60]))


def no_temp_files(label):
    left = [n for n in os.listdir(WORK) if ".tmp." in n]
    check(label + ": no temporary file left behind", not left, repr(left))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    pipe = make_mot_pool.build(os.path.join(WORK, "pool"), "demo")
    run_args = ["run", pipe, "-p", "hello", "-n", "2", "-t", "1"]
    null, full = device("null"), device("full")
    tune_args = ["tune", pipe, "--budget", "0.2", "-p", "4", "-n", "2", "-r", "2"]

    # --- standard output ---
    p = run(["route", pipe, "-p", "hello"])
    check("route to a pipe works", p.returncode == 0 and "primary:" in p.stdout, p.stderr)
    expect_error("route > /dev/full", to_full(["route", pipe, "-p", "hello"]), "writing standard output", ENOSPC)
    p = to_full(run_args)
    expect_error("run PIPELINE > /dev/full", p, "writing standard output", ENOSPC)
    check("run > /dev/full: no figures line after the failed write", "tok/s" not in p.stderr, p.stderr)
    expect_error("graph > /dev/full", to_full(["graph", pipe]), "writing standard output", ENOSPC)

    # --- tune -o ---
    link, target = symlink_to("sched-link.yaml")
    expect_error("tune -o onto a symlink", run(tune_args + ["-o", link]), link, "is a symlink", "--force")
    link_intact("tune -o onto a symlink", link, target)
    expect_error("tune -o onto a directory", run(tune_args + ["-o", WORK]), WORK, "is a directory")
    expect_error("tune -o onto a device", run(tune_args + ["-o", null]), null, "character device", "--force")
    check("tune -o onto a device: still a device", stat.S_ISCHR(os.lstat(null).st_mode))
    p = run(tune_args + ["-o", full, "--force"])
    expect_error("tune --force -o /dev/full", p, full, ENOSPC)
    check("tune --force -o /dev/full: does not claim it wrote", "wrote " not in p.stdout, p.stdout)
    check("tune --force -o /dev/full: still a device", stat.S_ISCHR(os.lstat(full).st_mode))
    expect_error("tune -o into a missing folder", run(tune_args + ["-o", os.path.join(WORK, "no", "s.yaml")]),
                 "does not exist")

    # a regular file is replaced by rename: new inode, old mode, whole new content, no temp file
    sched = os.path.join(WORK, "sched.yaml")
    with open(sched, "w") as f:
        f.write("old contents\n")
    os.chmod(sched, 0o640)
    hard = os.path.join(WORK, "sched-hardlink.yaml")
    os.link(sched, hard)  # still names the old file after a rename, would change with a rewrite in place
    old_ino = os.stat(sched).st_ino
    p = run(tune_args + ["-o", sched])
    check("tune -o onto a regular file succeeds", p.returncode == 0 and f"wrote {sched}" in p.stdout, p.stderr)
    st = os.stat(sched)
    with open(sched) as f:
        text = f.read()
    check("tune -o: the file holds the schedule", "threads:" in text and "lanes:" in text and
          text.startswith("# written by mot tune"), text[:80])
    check("tune -o: replaced by rename (a new inode)", st.st_ino != old_ino, f"inode {st.st_ino}")
    with open(hard) as f:
        check("tune -o: the old file was not rewritten in place", f.read() == "old contents\n")
    check("tune -o: the replaced file's mode is kept", stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode))
    no_temp_files("tune -o")
    p = run(["run", pipe, "-p", "hello", "-n", "2", "-t", "1", "--schedule", sched])
    check("the tuned schedule loads", p.returncode == 0, p.stderr)

    # --force through a symlink writes its target
    link, target = symlink_to("sched-forced.yaml")
    p = run(tune_args + ["-o", link, "--force"])
    with open(target) as f:
        text = f.read()
    check("tune --force -o SYMLINK writes through it", p.returncode == 0 and os.path.islink(link) and
          "threads:" in text, p.stderr)

    # --- run --dump ---
    link, target = symlink_to("dump-link.safetensors")
    p = run(run_args + ["--dump", link])
    expect_error("--dump onto a symlink", p, link, "is a symlink", "--force")
    check("--dump onto a symlink: refused before generating", p.stdout == "", repr(p.stdout))
    link_intact("--dump onto a symlink", link, target)
    expect_error("--dump onto a device", run(run_args + ["--dump", null]), null, "character device")
    check("--dump onto a device: still a device", stat.S_ISCHR(os.lstat(null).st_mode))
    expect_error("--dump --force onto /dev/full", run(run_args + ["--dump", full, "--force"]), full, ENOSPC)
    dump = os.path.join(WORK, "dump.safetensors")
    p = run(run_args + ["--dump", dump])
    check("--dump onto a new file", p.returncode == 0 and os.path.getsize(dump) > 8, p.stderr)
    no_temp_files("--dump")

    # --- --profile ---
    link, target = symlink_to("trace-link.json")
    expect_error("--profile onto a symlink", run(run_args + ["--profile", link]), link, "is a symlink")
    link_intact("--profile onto a symlink", link, target)

    # --- init -o ---
    link, target = symlink_to("init-link.safetensors")
    expect_error("init -o onto a symlink", run(["init", pipe, "-o", link]), link, "is a symlink", "--force")
    link_intact("init -o onto a symlink", link, target)
    expect_error("init -o onto a directory", run(["init", pipe, "-o", WORK]), "is a directory")
    expect_error("init --force -o /dev/full", run(["init", pipe, "-o", full, "--force"]), full, ENOSPC)
    check("init --force -o /dev/full: still a device", stat.S_ISCHR(os.lstat(full).st_mode))
    weights = os.path.join(WORK, "init.safetensors")
    with open(weights, "w") as f:
        f.write("old")
    p = run(["init", pipe, "-o", weights, "--seed", "5"])
    check("init -o onto a regular file replaces it", p.returncode == 0 and os.path.getsize(weights) > 1000,
          p.stderr)
    no_temp_files("init -o")

    if failures:
        print(f"{len(failures)} failure(s):")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all output checks passed")


if __name__ == "__main__":
    main()
