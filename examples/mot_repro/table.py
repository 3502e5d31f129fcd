#!/usr/bin/env python3
"""The reproduction's table from the `mot eval -o` reports: reports/{init,NAME}.{domain}.json.

    table.py REPORTS_DIR [NAME]      (NAME: the trained weights' name, default trained; markdown on stdout)

Figures are mean completion NLL per example in nats (lower is better) and bits per byte.
"""
import json
import math
import os
import sys

DOMAINS = ["code", "math", "prose"]


def load(path):
    if os.path.basename(path).split(".")[1] == "mix":   # the union of the three domains' reports
        w = os.path.basename(path).split(".")[0]
        return [e for d in DOMAINS for e in load(os.path.join(os.path.dirname(path), f"{w}.{d}.json"))]
    return json.load(open(path))["examples"]


def stats(ex):
    n, b = len(ex), sum(e["completion_bytes"] for e in ex)
    experts = list(ex[0]["alone_nll"])
    col = {"mot": sum(e["mot_nll"] for e in ex), "top1": sum(e["top1_nll"] for e in ex)}
    for x in experts:
        col[x] = sum(e["alone_nll"][x] for e in ex)
    return {k: (v / n, v / (math.log(2) * b)) for k, v in col.items()}, experts


def main():
    d = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "trained"
    rows = {}
    for dom in DOMAINS + ["mix"]:
        tr, experts = stats(load(os.path.join(d, f"{name}.{dom}.json")))
        un, _ = stats(load(os.path.join(d, f"init.{dom}.json")))
        best = min(experts, key=lambda x: tr[x][0])
        rows[dom] = (tr, un, experts, best)
    experts = rows["code"][2]
    head = ["domain", "MoT trained", "MoT untrained (= routing only)", "top-1 routing alone (trained router)"]
    head += [f"{x} alone" for x in experts] + ["best single"]
    print("NLL per example, nats (bits/byte in parentheses); lower is better.\n")
    print("| " + " | ".join(head) + " |")
    print("| --- |" + " ---: |" * (len(head) - 1))
    avg = {}
    for dom in DOMAINS + ["mix"]:
        tr, un, _, best = rows[dom]
        f = lambda v: f"{v[0]:.3f} ({v[1]:.3f})"
        cells = [f(tr["mot"]), f(un["mot"]), f(tr["top1"])] + [f(tr[x]) for x in experts] + [f"{best} {tr[best][0]:.3f}"]
        label = "all examples of the three (pooled)" if dom == "mix" else dom
        print(f"| {label} | " + " | ".join(cells) + " |")
        if dom in DOMAINS:
            for k, v in [("mot", tr["mot"][0]), ("un", un["mot"][0]), ("top1", tr["top1"][0]), ("best", tr[best][0])] + \
                        [(x, tr[x][0]) for x in experts]:
                avg[k] = avg.get(k, 0) + v / len(DOMAINS)
    cells = [f"{avg['mot']:.3f}", f"{avg['un']:.3f}", f"{avg['top1']:.3f}"] + [f"{avg[x]:.3f}" for x in experts] + \
            [f"{avg['best']:.3f} (per-domain best)"]
    print("| average of the 3 domains | " + " | ".join(cells) + " |")
    print()
    for dom in DOMAINS:
        ex = load(os.path.join(d, f"{name}.{dom}.json"))
        cnt = {}
        for e in ex:
            cnt[e["active"][0]] = cnt.get(e["active"][0], 0) + 1
        print(f"- {dom}: trained router's primary " + ", ".join(f"{k} {v}" for k, v in sorted(cnt.items())) +
              f" of {len(ex)}")


if __name__ == "__main__":
    main()
