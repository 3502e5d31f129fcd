#!/usr/bin/python3
"""One MoT end-to-end case: build the test pool (cached), write the MoT weights (`mot init`
or Python), `mot run PIPELINE --dump`, and check the dump against the float64 reference
(tests/reference/compare_mot_dump.py).

    run_mot_case.py --mot BIN --pool DIR --work DIR CASE
    run_mot_case.py --list

Each case gets its own copy of the pipeline file in WORK/CASE/ (absolute expert paths, its
own weights file), so cases may run in parallel.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import backend_bounds  # noqa: E402
import make_mot_pool  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

GREEDY = ["--temp", "0"]

# name -> scenario (make_mot_pool.py), `mot init` flags when the scenario's weights come
# from mot init, extra `mot run` flags. Greedy unless `sampled`.
CASES = {
    "hetero_k2": dict(scenario="hetero3", init=["--seed", "1"]),
    "hetero_k3_f16": dict(scenario="hetero3_k3", init=["--seed", "2", "--dtype", "f16"]),
    "init_norm_biases_bf16": dict(scenario="init_norm",
                                  init=["--seed", "3", "--biases", "--dtype", "bf16"]),
    "k1": dict(scenario="k1"),
    "uniform_q3": dict(scenario="uniform_q3"),
    "shallow": dict(scenario="shallow"),
    "intermediate": dict(scenario="intermediate"),
    "deep": dict(scenario="deep"),
    "explicit": dict(scenario="explicit"),
    "norm_bias_f16": dict(scenario="norm_bias"),
    "norm_only_bf16": dict(scenario="norm_only"),
    "forced": dict(scenario="hetero3", init=["--seed", "1"], experts="b,c"),
    "drop_primary": dict(scenario="hetero3", init=["--seed", "1"], drop="primary"),
    "eos_death": dict(scenario="eos_death"),
    "template_lengths": dict(scenario="template"),
    "sampled": dict(scenario="sampled", sampled=True, top_k=20,
                    run=["--temp", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "5"]),
    "demo": dict(scenario="demo"),
    "gguf_experts": dict(scenario="gguf_experts"),
    # Hand-edited expanded graphs (docs/pipeline.md, "The node and port vocabulary"): the
    # reference follows the same graph.
    "graph_merged": dict(scenario="uniform_q3", graph="merged"),
    "graph_no_interaction": dict(scenario="hetero3", init=["--seed", "1"], graph="no_interaction"),
    # A peer that only listens: at stack 0 the primary listens (its queries attend the two
    # others' latents only), at stack 1 the last routed expert listens (not attended). The
    # primary c has the longest prompt (68 tokens; a 42, b 38), so its first prefill query
    # sees no aligned key at stack 0 (SPEC 1.4): that row's attention output is 0.
    "graph_listener": dict(scenario="uniform_q3", graph="listener", experts="c,a,b"),
    # Two primaries' worth of cross-attention: at every stack a second attention (query: 1)
    # whose queries are the second routed expert's; that expert's reverse projector reads it
    # (docs/pipeline.md). K = 3: the third expert still reads its own z.
    "graph_two_queries": dict(scenario="uniform_q3", graph="two_queries"),
}


def two_queries(nodes, stacks=None):
    """After each attention{q} (q in stacks; None: all), attention{q}b with the same inputs
    and `query: 1`; the reverse projectors that read attention{q} read attention{q}b too
    (the expert routed second reads it, docs/pipeline.md)."""
    out = []
    for n in nodes:
        if n["kind"] == "projector" and n["direction"] == "reverse" and (stacks is None or int(n["stack"]) in stacks):
            att = f"attention{n['stack']}"
            if att in n["inputs"]:
                k = n["inputs"].index(att)
                n = dict(n, inputs=n["inputs"][:k + 1] + [att + "b"] + n["inputs"][k + 1:])
        out.append(n)
        if n["kind"] == "attention" and (stacks is None or int(n["stack"]) in stacks):
            second = {"id": n["id"] + "b", "kind": "attention", "stack": n["stack"], "query": 1}
            second.update({k: v for k, v in n.items() if k in ("inputs", "listeners")})
            out.append(second)
    return out


def edit_graph(nodes, how, listen=None):
    """two_queries: see two_queries();
    merged: attention 1 removed, so each expert's stacks 1 and 2 merge into one;
    no_interaction: router -> one stack of every layer -> sampler for each expert;
    listener: for each (stack q, expert e) of `listen`, e's forward projector moves from
    attention{q}'s inputs to its listeners."""
    by_id = {n["id"]: n for n in nodes}
    if how == "two_queries":
        return two_queries(nodes)
    if how == "listener":
        out = []
        for n in nodes:
            if n["kind"] == "attention" and int(n["stack"]) in listen:
                e = listen[int(n["stack"])]
                lid = f"{e}/forward{n['stack']}"
                n = dict(n, inputs=[i for i in n["inputs"] if i != lid], listeners=[lid])
            out.append(n)
        return out
    experts = [n["expert"] for n in nodes if n["kind"] == "sampler"]
    if how == "no_interaction":
        out = [by_id["router"]]
        for e in experts:
            last = max(n["layers"][1] for n in nodes if n["kind"] == "stack" and n["expert"] == e)
            out.append(dict(id=f"{e}/stack0", kind="stack", expert=e, layers=[0, last], inputs=["router"]))
        for e in experts:
            out.append(dict(id=f"{e}/sampler", kind="sampler", expert=e, inputs=[f"{e}/stack0"]))
        return out
    gone = {f"{e}/{k}1" for e in experts for k in ("forward", "reverse")} | {"attention1"}
    gone |= {f"{e}/stack2" for e in experts}
    out = []
    for n in nodes:
        if n["id"] in gone:
            continue
        if n["kind"] == "stack" and n["id"].endswith("/stack1"):
            n = dict(n, layers=[n["layers"][0], by_id[n["id"][:-1] + "2"]["layers"][1]])
        n = dict(n, inputs=[i.replace("/stack2", "/stack1") for i in n.get("inputs", [])]) if "inputs" in n else n
        out.append(n)
    return out


def graph_pipeline(mot, pipeline, how, prompt, forced=None):
    """`mot graph` of the case's pipeline, its graph edited, written over the pipeline."""
    import yaml
    r = run([mot, "graph", pipeline], "mot graph")
    doc = yaml.safe_load(r.stdout)
    listen = None
    if how == "listener":   # the route decides who listens: the primary, then the last
        from mot_ref import MotRef
        ref = MotRef.load(pipeline)
        active = forced.split(",") if forced else \
            [ref.pipe.names[m] for m in ref.select_active(ref.router_scores(prompt))]
        listen = {0: active[0], 1: active[-1]}
        print(f"route {active}: listeners {listen}")
    doc["graph"] = edit_graph(doc["graph"], how, listen)
    with open(pipeline, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mot", help="the mot executable")
    p.add_argument("--pool", help="where the test pool is built (reused between runs)")
    p.add_argument("--work", help="where pipeline copies, weights and dumps go")
    p.add_argument("--threads", default="2")
    p.add_argument("--backend", choices=["cpu", "cuda"], default="cpu",
                   help="where mot runs (named, never `auto`); the bound follows (SPEC 1.7)")
    p.add_argument("--list", action="store_true")
    p.add_argument("case", nargs="?", choices=sorted(CASES))
    args = p.parse_args()
    if not args.list and not (args.mot and args.pool and args.work and args.case):
        p.error("--mot, --pool, --work and CASE are required")
    return args


def show(cmd):
    print("+ " + " ".join(repr(c) if (" " in c or "\n" in c) else c for c in cmd), flush=True)


def run(cmd, what, timeout=150, backend="cpu"):
    show(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    print(f"{what} stdout: {r.stdout[-2000:]!r}\n{what} stderr: {r.stderr.strip()[-2000:]}")
    if r.returncode != 0 and backend == "cuda" and backend_bounds.no_device(r.stderr):
        print("skipped: " + r.stderr.strip().splitlines()[-1])
        raise SystemExit(backend_bounds.SKIP)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: {what} exited with {r.returncode}")
    return r


def case_pipeline(pool_pipeline, case_dir, weights):
    """A copy of the pool's pipeline file with absolute expert paths and its own weights."""
    import yaml
    with open(pool_pipeline) as fh:
        doc = yaml.safe_load(fh)
    base = os.path.dirname(pool_pipeline)
    for e in doc["experts"]:
        e["path"] = os.path.normpath(os.path.join(base, e["path"]))
    doc["weights"] = weights
    path = os.path.join(case_dir, "pipeline.yaml")
    make_mot_pool.write_yaml(path, doc)
    return path


def main():
    args = parse_args()
    if args.list:
        print("\n".join(sorted(CASES)))
        return 0
    backend_bounds.skip_without_cuda(args.backend)
    global compare_mot_dump
    import compare_mot_dump  # torch: only once the case runs
    case = CASES[args.case]
    pool_pipeline = make_mot_pool.build(args.pool, case["scenario"])
    scenario = make_mot_pool.SCENARIOS[case["scenario"]]
    prompt, n_max = scenario["prompt"], str(scenario["sampler"]["max_tokens"])
    case_dir = os.path.join(os.path.abspath(args.work), args.case + ("" if args.backend == "cpu" else "." + args.backend))
    os.makedirs(case_dir, exist_ok=True)
    if "init" in case:
        weights = os.path.join(case_dir, "mot.safetensors")
        if os.path.exists(weights):
            os.remove(weights)
        pipeline = case_pipeline(pool_pipeline, case_dir, weights)
        run([args.mot, "init", pipeline, *case["init"]], "mot init")
        if not os.path.exists(weights):
            raise SystemExit(f"FAIL: mot init wrote no weights at {weights}")
    else:
        weights = os.path.splitext(pool_pipeline)[0] + ".mot.safetensors"
        pipeline = case_pipeline(pool_pipeline, case_dir, weights)

    if case.get("graph"):
        graph_pipeline(args.mot, pipeline, case["graph"], prompt, case.get("experts"))
    route_flags = []
    if case.get("experts"):
        route_flags = ["--experts", case["experts"]]
    if case.get("drop") == "primary":   # drop whichever expert the router would make primary
        from mot_ref import MotRef
        ref = MotRef.load(pipeline)
        primary = ref.pipe.names[ref.select_active(ref.router_scores(prompt))[0]]
        route_flags = ["--drop", primary]

    def mot_run(dump):
        if os.path.exists(dump):
            os.remove(dump)
        cmd = [args.mot, "run", pipeline, "-p", prompt, "-n", n_max, "-t", args.threads,
               "--dump", dump, "--backend", args.backend, *route_flags]
        cmd += case.get("run", []) if case.get("sampled") else GREEDY + case.get("run", [])
        run(cmd, "mot run", backend=args.backend)
        if not os.path.exists(dump):
            raise SystemExit(f"FAIL: mot run wrote no dump at {dump}")

    dump = os.path.join(case_dir, "dump.safetensors")
    mot_run(dump)
    dtypes = [scenario.get("gguf", {}).get(e["name"]) or make_mot_pool.expert_dtype(e["model"])
              for e in scenario["experts"]]
    flags = ["--pipeline", pipeline, "--dump", dump, "--prompt", prompt, "-n", n_max,
             "--tol", str(backend_bounds.tolerance(args.backend, dtypes)), *route_flags]
    flags += ["--top-k", str(case["top_k"])] if case.get("sampled") else ["--greedy"]
    status = compare_mot_dump.main(flags)
    if status != 0:
        return status
    if case.get("graph"):
        # The edit must matter: the same dump against the unedited topology's reference fails.
        import yaml
        with open(pipeline) as fh:
            doc = yaml.safe_load(fh)
        del doc["graph"]
        plain = os.path.join(case_dir, "unedited.yaml")
        with open(plain, "w") as fh:
            yaml.safe_dump(doc, fh, sort_keys=False)
        print("-- against the unedited graph (expected to differ):")
        if compare_mot_dump.main(["--pipeline", plain] + flags[2:]) == 0:
            print("FAIL: the dump also matches the unedited graph: the edit did not run")
            return 1
    if case.get("graph") == "listener":
        status = unattended_listener(args, pipeline, prompt, n_max, case["experts"].split(","))
        if status != 0:
            return status
    if case.get("graph") == "two_queries":
        status = two_queries_bitwise(args, pipeline, prompt, n_max, dump)
        if status != 0:
            return status
    return extra_checks(args, case, scenario, dump, mot_run)


def unattended_listener(args, pipeline, prompt, n_max, active):
    """mot alone, no reference: an expert that listens at every stack is attended by no one,
    so the others' logits and tokens are bit for bit those of the route without it."""
    import numpy as np
    import yaml
    with open(pipeline) as fh:
        doc = yaml.safe_load(fh)
    last = active[-1]
    for n in doc["graph"]:
        if n["kind"] == "attention":
            both = n["inputs"] + n.get("listeners", [])
            lid = f"{last}/forward{n['stack']}"
            n["inputs"], n["listeners"] = [i for i in both if i != lid], [lid]
    case_dir = os.path.dirname(pipeline)
    runs = {}
    for name, route in (("all_listen", active), ("without", active[:-1])):
        path = os.path.join(case_dir, name + ".yaml")
        with open(path, "w") as fh:
            yaml.safe_dump(doc if name == "all_listen" else {k: v for k, v in doc.items() if k != "graph"},
                           fh, sort_keys=False, default_flow_style=None)
        dump = os.path.join(case_dir, name + ".safetensors")
        run([args.mot, "run", path, "-p", prompt, "-n", n_max, "-t", args.threads, "--dump", dump,
             "--backend", args.backend, "--experts", ",".join(route), *GREEDY], "mot run " + name,
            backend=args.backend)
        runs[name] = read_safetensors(dump)
    for e in active[:-1]:
        for key in (f"logits.{e}", f"tokens.{e}"):
            a, b = runs["all_listen"][key], runs["without"][key]
            if a.shape != b.shape or not np.array_equal(a, b):
                print(f"FAIL: {key}: with {last} listening everywhere differs from the route without it")
                return 1
    print(f"{last} listening at every stack: the others' logits and tokens are bitwise those of "
          f"the route {','.join(active[:-1])}")
    return 0


def two_queries_bitwise(args, pipeline, prompt, n_max, dump):
    """mot alone, no reference: (1) the graph with its `query: 1` attentions removed runs
    today's MoT bit for bit (the run without a graph section); (2) with a second attention at
    the last stack only, the primary and the third expert are bitwise today's MoT (only the
    second expert reads it, and nothing reads that expert after the last stack) while the
    second expert's logits move; (3) concurrent lanes give the serial lanes' bits.
    In (2) the primary is bitwise until the second expert samples another token than in
    today's MoT (its latent of that token is a key of the primary's next step): its logits
    rows up to that step; the third expert (it reads only its own z) everywhere."""
    import numpy as np
    import yaml
    with open(pipeline) as fh:
        doc = yaml.safe_load(fh)
    plain_graph = [dict(n, inputs=[i for i in n["inputs"] if not i.endswith("b")]) if "inputs" in n else n
                   for n in doc["graph"] if n.get("query", 0) == 0]
    last = max(int(n["stack"]) for n in plain_graph if n["kind"] == "attention")
    variants = {"removed": plain_graph, "plain": None, "last_only": two_queries(plain_graph, {last})}
    case_dir = os.path.dirname(pipeline)
    runs = {"two_queries": read_safetensors(dump)}
    for name, graph in list(variants.items()) + [("concurrent", doc["graph"])]:
        path = os.path.join(case_dir, name + ".yaml")
        with open(path, "w") as fh:
            yaml.safe_dump(dict(doc, graph=graph) if graph else {k: v for k, v in doc.items() if k != "graph"},
                           fh, sort_keys=False, default_flow_style=None)
        out = os.path.join(case_dir, name + ".safetensors")
        lanes = ["--lanes", "concurrent", "-t", "3"] if name == "concurrent" else ["-t", args.threads]
        run([args.mot, "run", path, "-p", prompt, "-n", n_max, "--dump", out, "--backend", args.backend,
             *lanes, *GREEDY], "mot run " + name, backend=args.backend)
        runs[name] = read_safetensors(out)
    d = runs["plain"]
    names = [e["name"] for e in doc["experts"]]
    active = [names[i] for i in d["route.active"].tolist()]

    def same(a, b, key):
        x, y = runs[a][key], runs[b][key]
        return x.shape == y.shape and np.array_equal(x, y)
    fails = []
    second = f"tokens.{active[1]}"
    t1, t0 = runs["last_only"][second].tolist(), runs["plain"][second].tolist()
    diverge = next((i for i, (x, y) in enumerate(zip(t1, t0)) if x != y), min(len(t1), len(t0)))
    n2 = runs["plain"][f"logits.{active[1]}"].shape[0]
    rows = diverge - (len(t0) - n2) + 1     # rows 0 .. the step that first fed another token
    for e in active:
        for key in (f"logits.{e}", f"tokens.{e}"):
            if not same("removed", "plain", key):
                fails.append(f"{key}: the graph without its query: 1 attentions differs from today's MoT")
            if not same("concurrent", "two_queries", key):
                fails.append(f"{key}: concurrent lanes differ from serial lanes")
        if e == active[1]:
            continue
        a, b = runs["last_only"][f"logits.{e}"], runs["plain"][f"logits.{e}"]
        upto = a.shape[0] if e != active[0] else rows
        if a.shape != b.shape or not np.array_equal(a[:upto], b[:upto]):
            fails.append(f"logits.{e}: a query: 1 attention at the last stack changed an expert that does not "
                         f"read it (rows 0..{upto - 1})")
    if same("last_only", "plain", f"logits.{active[1]}"):
        fails.append(f"logits.{active[1]}: the second expert's logits did not move with its attention")
    for f in fails:
        print("FAIL: " + f)
    if not fails:
        print(f"route {active}: without query: 1 attentions bitwise today's MoT; with one at the last stack "
              f"{active[1]} moves, {active[0]} is bitwise for {rows} of "
              f"{runs['plain'][f'logits.{active[0]}'].shape[0]} rows ({active[1]}'s tokens)"
              + "".join(f", {e} for all" for e in active[2:]) + "; concurrent lanes bitwise the serial ones")
    return 1 if fails else 0


def extra_checks(args, case, scenario, dump, mot_run):
    """What a case is about beyond the comparison: that it really exercised it."""
    d = read_safetensors(dump)
    names = [e["name"] for e in scenario["experts"]]
    active = [names[i] for i in d["route.active"].tolist()]
    rows = {e: d[f"logits.{e}"].shape[0] for e in active}
    prompt_len = {e: d[f"tokens.{e}"].size - rows[e] for e in active}
    print(f"active {active}, prompt tokens {prompt_len}, sampled {rows}")
    if case.get("experts") and active != case["experts"].split(","):
        print(f"FAIL: forced {case['experts']}, dump has {active}")
        return 1
    if case.get("drop") and len(active) != scenario["router"]["top_k"]:
        print(f"FAIL: {len(active)} experts active after --drop, want top_k")
        return 1
    if "eos_death" in scenario:
        dier = scenario["eos_death"]
        if dier not in active or active[0] == dier:
            print(f"FAIL: {dier} should be a non-primary, active {active}")
            return 1
        primary = active[0]
        if not rows[dier] < rows[primary]:
            print(f"FAIL: {dier} did not die: {rows[dier]} tokens, primary {rows[primary]}")
            return 1
        print(f"{dier} died after {rows[dier]} tokens; the primary went on to {rows[primary]}")
    if args.case == "template_lengths" and len(set(prompt_len.values())) < len(active):
        print(f"FAIL: prompt token counts should all differ: {prompt_len}")
        return 1
    if case.get("sampled"):
        again = os.path.join(os.path.dirname(dump), "again.safetensors")
        mot_run(again)
        d2 = read_safetensors(again)
        for e in active:
            a, b = d[f"tokens.{e}"].tolist(), d2.get(f"tokens.{e}", [])
            if a != list(b):
                print(f"FAIL: {e}: same seed, different tokens:\n  {a}\n  {list(b)}")
                return 1
        print("same seed, same tokens for every expert")
    return 0


if __name__ == "__main__":
    sys.exit(main())
