#!/usr/bin/env python3
"""Rewrites CUDA sources (kernels/cuda/*.cu, *.cuh) so that g++ can compile them against
emu.h (the CPU emulation of the device). Every rewrite keeps the line structure, and a
#line directive names the original file, so __FILE__/__LINE__ and compiler messages point
at the original source.

  kern<T, N><<<grid, block, shmem, stream>>>(args)
      -> ::emu::launcher(__FILE__, __LINE__, "kern<T, N>", [](auto &&...a) { kern<T, N>(a...); },
                         grid, block, shmem, stream)(args)
         (the arguments are evaluated once, decayed and kept, then each thread calls the kernel with them)
  __shared__ T name[..];            -> static T name[..]; EMU_SHARED(name);
  extern __shared__ T name[];       -> T *name = (T *)::emu::dyn_shared();
  __launch_bounds__(X[, Y]) ... {   -> ... { EMU_LAUNCH_BOUNDS(X[, Y]);
  (const float4 *)operand           -> EMU_VCAST(const float4 *, operand)   (also uint4, int4, ...)

usage: rewrite.py SRC_ROOT OUT_ROOT file...   (files relative to SRC_ROOT)
"""
import os
import re
import sys

VEC = r"(?:float4|uint4|int4|double2|longlong2|ulonglong2|float2|uint2|int2)"
warnings = []


def match_back(s, i, open_c, close_c):
    """s[i] == close_c: index of the matching open_c."""
    depth = 0
    while i >= 0:
        if s[i] == close_c:
            depth += 1
        elif s[i] == open_c:
            depth -= 1
            if depth == 0:
                return i
        i -= 1
    raise ValueError("unbalanced")


def match_fwd(s, i, open_c, close_c):
    depth = 0
    while i < len(s):
        if s[i] == open_c:
            depth += 1
        elif s[i] == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced")


def rewrite_launches(s, fname):
    out = []
    pos = 0
    while True:
        i = s.find("<<<", pos)
        if i < 0:
            out.append(s[pos:])
            break
        # the kernel name: back over whitespace, template arguments, identifier
        j = i - 1
        while j >= 0 and s[j] in " \t\n\\":
            j -= 1
        end_name = j + 1
        if s[j] == ">":
            j = match_back(s, j, "<", ">") - 1
        while j >= 0 and (s[j].isalnum() or s[j] in "_:"):
            j -= 1
        start = j + 1
        name = s[start:end_name]
        k = s.find(">>>", i)
        cfg = s[i + 3:k]
        name_lit = " ".join(name.replace("\\\n", " ").split()).replace('"', '\\"')
        out.append(s[pos:start])
        # keep the newlines between the name and <<< (inside macros they are "\\\n")
        gap = s[end_name:i]
        out.append('::emu::launcher(__FILE__, __LINE__, "%s", [](auto &&...emu_a) { %s(emu_a...); },%s%s)'
                   % (name_lit, name, gap, cfg))
        pos = k + 3
    return "".join(out)


SHARED_RE = re.compile(r"^(\s*)__shared__\s+([\w:<>,\s\*]+?)\s+(\w+)\s*((?:\[[^\]]*\])*)\s*;(.*)$")
EXTERN_SHARED_RE = re.compile(r"^(\s*)extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:]+)\s+(\w+)\s*\[\s*\]\s*;(.*)$")


def rewrite_shared(s, fname):
    lines = s.split("\n")
    for n, line in enumerate(lines):
        if "__shared__" not in line:
            continue
        m = EXTERN_SHARED_RE.match(line)
        if m:
            ind, ty, name, rest = m.groups()
            lines[n] = "%s%s *%s = (%s *)::emu::dyn_shared(__FILE__, __LINE__);%s" % (ind, ty, name, ty, rest)
            continue
        m = SHARED_RE.match(line)
        if m:
            ind, ty, name, dims, rest = m.groups()
            lines[n] = "%sstatic %s %s%s; EMU_SHARED(%s);%s" % (ind, ty, name, dims, name, rest)
            continue
        if line.strip().startswith("//"):
            continue
        warnings.append("%s:%d: __shared__ not rewritten: %s" % (fname, n + 1, line.strip()))
    return "\n".join(lines)


def rewrite_launch_bounds(s, fname):
    out = []
    pos = 0
    while True:
        i = s.find("__launch_bounds__", pos)
        if i < 0:
            out.append(s[pos:])
            break
        # skip mentions inside comments / #define lines
        line_start = s.rfind("\n", 0, i) + 1
        if s[line_start:i].lstrip().startswith("//") or s[line_start:i].lstrip().startswith("#"):
            out.append(s[pos:i + 1])
            pos = i + 1
            continue
        if not re.match(r"__launch_bounds__\s*\(", s[i:]):  # a mention (in a string)
            out.append(s[pos:i + 1])
            pos = i + 1
            continue
        p0 = s.index("(", i)
        p1 = match_fwd(s, p0, "(", ")")
        args = s[p0 + 1:p1]
        # the parameter list, then the body's brace
        q0 = s.index("(", p1 + 1)
        q1 = match_fwd(s, q0, "(", ")")
        b = s.index("{", q1)
        out.append(s[pos:i])
        out.append(s[p1 + 1:b + 1])
        out.append(" EMU_LAUNCH_BOUNDS(%s);" % " ".join(args.split()))
        pos = b + 1
    return "".join(out)


VCAST_RE = re.compile(r"\(\s*((?:const\s+)?%s\s*\*)\s*\)" % VEC)


def rewrite_vcasts(s, fname):
    out = []
    pos = 0
    for m in VCAST_RE.finditer(s):
        if m.start() < pos:
            continue
        # not a cast when followed by nothing castable (e.g. a function declaration)
        j = m.end()
        while j < len(s) and s[j] in " \t":
            j += 1
        if j < len(s) and s[j] == "(":
            e = match_fwd(s, j, "(", ")") + 1
        else:
            mm = re.match(r"[A-Za-z_]\w*(?:\.\w+|->\w+)*", s[j:])
            if not mm:
                warnings.append("%s:%d: vector cast not checked" % (fname, s.count("\n", 0, m.start()) + 1))
                continue
            e = j + mm.end()
            if e < len(s) and s[e] in "[(":  # x[i] or f(x): leave alone
                warnings.append("%s:%d: vector cast not checked" % (fname, s.count("\n", 0, m.start()) + 1))
                continue
        out.append(s[pos:m.start()])
        out.append("EMU_VCAST(%s, %s)" % (m.group(1), s[j:e]))
        pos = e
    out.append(s[pos:])
    return "".join(out)


def strip_comments_keep_lines(s):
    """Replaces comments by blanks (keeping newlines) so the rewrites do not match inside them."""
    res = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "/" and i + 1 < n and s[i + 1] == "/":
            j = s.find("\n", i)
            j = n if j < 0 else j
            # a // comment inside a macro continued by "\" ends the comment at the newline anyway
            res.append(" " * (j - i))
            i = j
        elif c == "/" and i + 1 < n and s[i + 1] == "*":
            j = s.find("*/", i + 2)
            j = n if j < 0 else j + 2
            res.append("".join(ch if ch == "\n" else " " for ch in s[i:j]))
            i = j
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if s[j] == "\\" else 1
            res.append(s[i:j + 1])
            i = j + 1
        else:
            res.append(c)
            i += 1
    return "".join(res)


def main():
    src_root, out_root = sys.argv[1], sys.argv[2]
    for rel in sys.argv[3:]:
        with open(os.path.join(src_root, rel)) as f:
            s = f.read()
        s = strip_comments_keep_lines(s)
        s = rewrite_shared(s, rel)
        s = rewrite_launch_bounds(s, rel)
        s = rewrite_launches(s, rel)
        s = rewrite_vcasts(s, rel)
        dst = os.path.join(out_root, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        text = '#line 1 "%s"\n%s' % (rel, s)
        old = None
        if os.path.exists(dst):
            with open(dst) as f:
                old = f.read()
        if old != text:
            with open(dst, "w") as f:
                f.write(text)
    for w in warnings:
        print("rewrite: warning: " + w, file=sys.stderr)


if __name__ == "__main__":
    main()
