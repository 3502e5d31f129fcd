#!/usr/bin/python3
"""Checks the float64 MoT reference (tests/reference/mot_ref.py) without the mot binary:
against direct formulas and hand-worked examples, against llama_ref when the interaction
cannot change anything, and compare_mot_dump.py against dumps it must accept and reject.

    test_mot_ref.py POOL_DIR WORK_DIR [CASE...]      (cases: see CASES; default all)
"""
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "reference"))
sys.path.insert(0, os.path.join(TESTS, "tools"))
import compare_mot_dump  # noqa: E402
import make_mot_pool  # noqa: E402
import mot_ref  # noqa: E402
from llama_ref import LlamaRef  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402


def expect(ok, what):
    if not ok:
        raise AssertionError(what)


def raises(fn, text):
    try:
        fn()
    except ValueError as e:
        expect(text in str(e), f"error {e!r} does not mention {text!r}")
        return
    raise AssertionError(f"no error (wanted one about {text!r})")


# ---- formulas ----

def test_placement(pool, work):
    P = mot_ref.placement_ends
    expect(P("uniform", 6, 3) == [1, 3, 5], f"uniform 6/3: {P('uniform', 6, 3)}")
    expect(P("uniform", 5, 2) == [1, 4], f"uniform 5/2: {P('uniform', 5, 2)}")
    expect(P("shallow", 8, 2) == [1, 3], f"shallow 8/2: {P('shallow', 8, 2)}")
    expect(P("intermediate", 8, 2) == [3, 5], f"intermediate 8/2: {P('intermediate', 8, 2)}")
    expect(P("intermediate", 5, 2) == [1, 2], f"intermediate 5/2: {P('intermediate', 5, 2)}")
    expect(P("deep", 8, 2) == [5, 7], f"deep 8/2: {P('deep', 8, 2)}")
    expect(P("deep", 5, 2) == [2, 4], f"deep 5/2: {P('deep', 5, 2)}")
    expect(P("explicit", 4, 2, [0, 3]) == [0, 3], "explicit")
    raises(lambda: P("uniform", 2, 3), "outside")           # Q > L: end(0) = -1
    raises(lambda: P("uniform", 4, 5), "outside")
    raises(lambda: P("shallow", 3, 2), "outside")           # floor(0.75) - 1 = -1
    raises(lambda: P("explicit", 4, 2, [1, 4]), "outside")
    raises(lambda: P("explicit", 4, 2, [2, 2]), "coincide")
    raises(lambda: P("explicit", 4, 2, [3, 1]), "coincide")
    raises(lambda: P("explicit", 4, 2, [1]), "needs 2")


def test_mask(pool, work):
    M = mot_ref.cross_mask
    causal = M(5, 5, 5, 5)
    expect(torch.equal(causal, torch.ones(5, 5).tril().bool()), f"N_p = N_m not causal:\n{causal}")
    # by hand: N_p = 2, N_m = 4: key j needs ceil((j+1)*2/4) - 1 <= i
    expect(M(2, 2, 4, 4).int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]], "2 vs 4")
    # N_p = 4, N_m = 2: key 0 needs i >= 1, key 1 needs i >= 3
    expect(M(4, 4, 2, 2).int().tolist() == [[0, 0], [1, 0], [1, 0], [1, 1]], "4 vs 2")
    # N_p = 3, N_m = 2, with two decode rows on the primary and one on m: every prefill key,
    # then the decode key of step 0 from step 0 on
    got = M(3, 5, 2, 3).int().tolist()
    want = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
    expect(got == want, f"3 vs 2 with decode rows: {got}")
    # a dead expert fed one decode token fewer: its keys stop, old ones stay visible
    expect(M(2, 5, 2, 3)[4].int().tolist() == [1, 1, 1], "dead expert's old key hidden")


def test_gelu_topk(pool, work):
    x = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.5], dtype=torch.float64)
    want = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()]
    expect(torch.allclose(mot_ref.gelu_erf(x), torch.tensor(want, dtype=torch.float64),
                          rtol=0, atol=1e-15), "gelu is not the erf form")
    expect(mot_ref.top_k_indices([0.5, 2.0, 0.5, 2.0], 3) == [1, 3, 0], "ties to the lower index")
    expect(mot_ref.top_k_indices([0.5, 2.0, 0.5, 2.0], 2, {0, 2, 3}) == [3, 0], "top-k of the rest")


def naive_interaction(hs, names, w, q, n_prompt, heads, norm, query=0):
    """SPEC 1.3 with scalar loops over queries, heads and keys; hs {m: [R_m, d_m]} in the
    order of A; query: the rank whose expert queries (in the primary's role, docs/pipeline.md
    `query:`). -> new hs."""
    pre = f"interaction.{q}."
    lin = lambda x, n: x @ w[n + ".weight"].T + (w[n + ".bias"] if n + ".bias" in w else 0)
    z, k, v = {}, {}, {}
    for m in hs:
        z[m] = lin(hs[m], pre + f"forward.{names[m]}")
        nm = z[m]
        if norm:
            mu = nm.mean(1, keepdim=True)
            sd = ((nm - mu) ** 2).mean(1, keepdim=True)
            nm = (nm - mu) / torch.sqrt(sd + 1e-5) * w[pre + "norm.weight"] + w[pre + "norm.bias"]
        k[m], v[m] = lin(nm, pre + "attn.k_proj"), lin(nm, pre + "attn.v_proj")
        if m == list(hs)[query]:
            qp = lin(nm, pre + "attn.q_proj")
    p = list(hs)[query]
    d_s = qp.shape[1]
    d_h = d_s // heads
    o = torch.zeros_like(qp)
    for i in range(qp.shape[0]):
        for h in range(heads):
            cols = slice(h * d_h, (h + 1) * d_h)
            scores, vals = [], []
            for m in hs:
                for j in range(k[m].shape[0]):
                    if i < n_prompt[p]:
                        ok = j < n_prompt[m] and math.ceil((j + 1) * n_prompt[p] / n_prompt[m]) - 1 <= i
                    else:
                        ok = j < n_prompt[m] or j - n_prompt[m] <= i - n_prompt[p]
                    if ok:
                        scores.append(float(qp[i, cols] @ k[m][j, cols]) / math.sqrt(d_h))
                        vals.append(v[m][j, cols])
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            o[i, cols] = sum(ei * vi for ei, vi in zip(e, vals)) / sum(e)
    o = lin(o, pre + "attn.o_proj")
    return {m: hs[m] + lin(o if m == p else z[m], pre + f"reverse.{names[m]}") for m in hs}


class FakeRun:
    def __init__(self, x):
        self.x = x


class FakePipe:
    def __init__(self, names, heads, norm):
        self.names, self.heads, self.norm = names, heads, norm


def test_interaction_by_hand(pool, work):
    """One interaction layer, three experts with different rows and widths, biases and
    layernorm, prefill and decode rows, against the scalar loops above."""
    g = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, dtype=torch.float64, generator=g)
    names, dims, d_s = ["x", "y", "z"], [6, 4, 8], 4
    w = {}
    for n, d in zip(names, dims):
        w.update({f"interaction.0.forward.{n}.weight": r(d_s, d),
                  f"interaction.0.forward.{n}.bias": r(d_s),
                  f"interaction.0.reverse.{n}.weight": r(d, d_s)})
    w["interaction.0.reverse.y.bias"] = r(4)
    for proj in "qkvo":
        w[f"interaction.0.attn.{proj}_proj.weight"] = r(d_s, d_s)
    w["interaction.0.attn.k_proj.bias"] = r(d_s)
    w["interaction.0.norm.weight"], w["interaction.0.norm.bias"] = r(d_s), r(d_s)
    weights = mot_ref.MotWeights.__new__(mot_ref.MotWeights)
    weights.t = w
    active = [1, 2, 0]                     # primary y; rows: y 3+2, z 5+1 (dead), x 2+2
    n_prompt = {1: 3, 2: 5, 0: 2}
    rows = {1: 5, 2: 6, 0: 4}
    for norm in ("none", "layernorm"):
        ref = mot_ref.MotRef.__new__(mot_ref.MotRef)
        ref.pipe, ref.w = FakePipe(names, 2, norm), weights
        hs = {m: r(rows[m], dims[m]) for m in active}
        runs = {m: FakeRun(hs[m].clone()) for m in active}
        ref.interact(0, active, runs, n_prompt)
        want = naive_interaction({m: hs[m] for m in active}, names, w, 0, n_prompt, 2,
                                 norm == "layernorm")
        for m in active:
            err = float((runs[m].x - want[m]).abs().max())
            expect(err < 1e-12, f"norm {norm}: expert {names[m]} differs by {err:.3e}")
        # a second attention (query: 1): z (prompt 5, dead after one decode step) queries in
        # the primary's role, with its own N in the mask
        runs = {m: FakeRun(hs[m].clone()) for m in active}
        proj = {m: ref.forward_projection(0, m, runs[m]) for m in active}
        o = ref.attention(0, active, runs, proj, n_prompt, None, 1)
        ref.reverse_projection(0, active[1], runs[active[1]], o)
        want = naive_interaction({m: hs[m] for m in active}, names, w, 0, n_prompt, 2,
                                 norm == "layernorm", query=1)
        err = float((runs[active[1]].x - want[active[1]]).abs().max())
        expect(err < 1e-12, f"norm {norm}, query 1: expert {names[active[1]]} differs by {err:.3e}")


# ---- against llama_ref and the pool ----

def pool_ref(pool, scenario):
    return mot_ref.MotRef.load(make_mot_pool.build(pool, scenario))


def zero_reverse(ref):
    for name in list(ref.w.t):
        if ".reverse." in name:
            ref.w.t[name] = torch.zeros_like(ref.w.t[name])


def test_zero_reverse_is_llama(pool, work):
    """With zero reverse projectors the interaction adds exact zeros: every expert's logits
    equal llama_ref's bit for bit, for K = 1 and K = 3, with biases or without."""
    for scenario in ("uniform_q3", "explicit"):
        ref = pool_ref(pool, scenario)
        zero_reverse(ref)
        prompt = make_mot_pool.PROMPT
        for active in ([2], [0, 1, 2], [1, 2, 0]):
            fed = {m: ref.expert_prompt_tokens(m, prompt) + [5, 7] for m in active}
            got = ref.recompute(active, fed, {m: len(fed[m]) - 2 for m in active})
            for m in active:
                want = LlamaRef.forward(ref.experts[m], fed[m])[len(fed[m]) - 3:]
                expect(torch.equal(got[m], want), f"{scenario} {active}: expert {m} differs "
                       f"from llama_ref by {float((got[m] - want).abs().max()):.3e}")
    # and the interaction does move the logits when the projectors are not zero
    ref = pool_ref(pool, "uniform_q3")
    fed = {m: ref.expert_prompt_tokens(m, make_mot_pool.PROMPT) for m in range(3)}
    got = ref.recompute([0, 1, 2], fed, {m: len(fed[m]) for m in range(3)})
    for m in range(3):
        plain = LlamaRef.forward(ref.experts[m], fed[m])[-1:]
        rel = float((got[m] - plain).abs().max() / plain.abs().max())
        expect(rel > 0.05, f"interaction changes expert {m}'s logits by only {rel:.3e}")


def test_causal_across_experts(pool, work):
    """A non-primary's decode token t reaches the primary's rows >= t only; a non-primary
    never depends on the others."""
    ref = pool_ref(pool, "uniform_q3")
    active = [1, 0, 2]
    prompts = {m: ref.expert_prompt_tokens(m, make_mot_pool.PROMPT) for m in active}
    n = {m: len(prompts[m]) for m in active}
    fed = {m: prompts[m] + [10, 11, 12] for m in active}
    base = ref.recompute(active, fed, n)
    fed2 = dict(fed)
    fed2[0] = prompts[0] + [10, 99, 12]      # step 1 of a non-primary changes
    alt = ref.recompute(active, fed2, n)
    expect(torch.equal(base[1][:2], alt[1][:2]), "primary rows before the step changed")
    expect(not torch.allclose(base[1][2], alt[1][2]), "primary row at the step did not change")
    expect(torch.equal(base[2], alt[2]), "one non-primary depends on another")
    # the router: the mean embedding through the MLP, by direct formula
    scores = ref.router_scores(make_mot_pool.PROMPT)
    emb = ref.experts[ref.pipe.router_expert].w["model.embed_tokens.weight"]
    z = emb[torch.as_tensor(ref.router_tokens(make_mot_pool.PROMPT))].mean(0)
    w = ref.w.t
    h = z @ w["router.fc1.weight"].T + w["router.fc1.bias"]
    h = torch.tensor([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in h.tolist()],
                     dtype=torch.float64)
    want = h @ w["router.fc2.weight"].T + w["router.fc2.bias"]
    expect(torch.allclose(scores, want, rtol=1e-12, atol=1e-12), "router scores")


def listen_everywhere(ref, name):
    """ref's expansion with expert `name` a listener at every attention (docs/pipeline.md)."""
    nodes = []
    for n in ref.graph():
        if n["kind"] == "attention":
            lid = f"{name}/forward{n['stack']}"
            n = dict(n, inputs=[i for i in n["inputs"] if i != lid], listeners=[lid])
        nodes.append(n)
    ref.pipe.graph = nodes


def test_listener(pool, work):
    """A peer that only listens: (1) a non-primary listening at every stack is attended by no
    one, so the others' logits are those of the route without it; (2) a primary listening at
    every stack with nobody else routed attends no key: o = bo = 0 (no biases), so it is
    llama_ref's logits bit for bit; (3) a listening primary still queries: with others routed
    its logits differ from llama_ref's."""
    ref = pool_ref(pool, "uniform_q3")
    prompt = make_mot_pool.PROMPT
    fed = {m: ref.expert_prompt_tokens(m, prompt) + [5, 7] for m in range(3)}
    n = {m: len(fed[m]) - 2 for m in range(3)}
    without = ref.recompute([1, 0], fed, n)
    listen_everywhere(ref, ref.pipe.names[2])
    got = ref.recompute([1, 0, 2], fed, n)
    for m in (1, 0):
        err = float((got[m] - without[m]).abs().max())
        expect(err <= 1e-12, f"expert {m}: a listener changed its logits by {err:.3e}")
    ref.pipe.graph = None
    listen_everywhere(ref, ref.pipe.names[1])
    alone = ref.recompute([1], fed, n)
    want = LlamaRef.forward(ref.experts[1], fed[1])[n[1] - 1:]
    expect(torch.equal(alone[1], want), "a primary that attends no key differs from llama_ref by "
           f"{float((alone[1] - want).abs().max()):.3e}")
    queried = ref.recompute([1, 0, 2], fed, n)
    rel = float((queried[1] - want).abs().max() / want.abs().max())
    expect(rel > 0.05, f"a listening primary's logits move by only {rel:.3e} (its queries attend)")


def test_two_queries(pool, work):
    """Two primaries' worth of cross-attention (docs/pipeline.md, `query: 1`): (1) with every
    expert speaking at both attentions of every stack, routes [x, y, z] and [y, x, z] compute
    the same thing (x and y each query all keys; only the order of the keys differs), so
    every expert's logits agree to rounding; (2) with one expert routed the `query: 1`
    attentions are skipped: its logits are those of the graph without them, bit for bit;
    (3) the second expert's logits do move."""
    import run_mot_case
    ref = pool_ref(pool, "uniform_q3")
    plain = ref.graph()
    prompt = make_mot_pool.PROMPT
    fed = {m: ref.expert_prompt_tokens(m, prompt) + [5, 7] for m in range(3)}
    n = {m: len(fed[m]) - 2 for m in range(3)}
    base = ref.recompute([1, 0, 2], fed, n)
    alone = ref.recompute([1], fed, n)
    ref.pipe.graph = run_mot_case.two_queries(plain)
    expect(sum(x.get("query", 0) for x in ref.graph()) == 3, "one query: 1 attention per stack")
    xy = ref.recompute([1, 0, 2], fed, n)
    yx = ref.recompute([0, 1, 2], fed, n)
    for m in range(3):
        rel = float((xy[m] - yx[m]).abs().max() / yx[m].abs().max())
        expect(rel <= 1e-12, f"expert {m}: routes [1, 0, 2] and [0, 1, 2] differ by {rel:.3e}")
    expect(torch.equal(ref.recompute([1], fed, n)[1], alone[1]), "a lone expert runs a query: 1 attention")
    rel = float((xy[0] - base[0]).abs().max() / base[0].abs().max())
    expect(rel > 0.05, f"the second expert's logits move by only {rel:.3e} with its own attention")
    expect(torch.equal(xy[2], base[2]), "the third expert (it reads its own z) changed")


# ---- compare_mot_dump.py against reference-made dumps ----

def write_dump(path, ref, run, active, scores):
    t = {"route.active": np.array(active, dtype=np.int32)}
    if scores is not None:
        t["route.scores"] = scores.numpy().astype(np.float32)
    for m in active:
        name = ref.pipe.names[m]
        prompt, sampled, logits = run[m]
        t[f"tokens.{name}"] = np.array(prompt + sampled, dtype=np.int32)
        t[f"logits.{name}"] = logits.numpy().astype(np.float32)
    write_safetensors(path, t)
    return t


def compare(pipeline, dump, *flags):
    status = compare_mot_dump.main(["--pipeline", pipeline, "--dump", dump,
                                    "--prompt", make_mot_pool.PROMPT, "--greedy", *flags])
    print(f"  -> status {status}")
    return status


def test_compare(pool, work):
    os.makedirs(work, exist_ok=True)
    for scenario in ("template", "eos_death"):
        pipeline = make_mot_pool.build(pool, scenario)
        ref = mot_ref.MotRef.load(pipeline)
        scores = ref.router_scores(make_mot_pool.PROMPT)
        active = ref.select_active(scores)
        n_max = ref.pipe.sampler["max_tokens"]
        run = ref.generate_greedy(make_mot_pool.PROMPT, active, n_max)
        good = os.path.join(work, f"{scenario}.safetensors")
        t = write_dump(good, ref, run, active, scores)
        expect(compare(pipeline, good) == 0, f"{scenario}: a reference dump is rejected")

        def bad(what, edit, *flags):
            t2 = {k: v.copy() for k, v in t.items()}
            edit(t2)
            path = os.path.join(work, f"{scenario}.bad.safetensors")
            write_safetensors(path, t2)
            print(f"{scenario}: {what}")
            expect(compare(pipeline, path, *flags) == 1, f"{scenario}: accepted {what}")

        p, o = ref.pipe.names[active[0]], ref.pipe.names[active[1]]
        bad("a logit off by 1e-3", lambda d: d[f"logits.{o}"].__setitem__(
            (1, 3), d[f"logits.{o}"][1, 3] + 1e-3 * np.abs(d[f"logits.{o}"][1]).max()))
        bad("a score off by 1e-3", lambda d: d["route.scores"].__setitem__(
            0, d["route.scores"][0] + 1e-3 * np.abs(d["route.scores"]).max()))
        bad("the active set reversed", lambda d: d.__setitem__(
            "route.active", d["route.active"][::-1].copy()))
        bad("scores present with a forced set", lambda d: None,
            "--experts", ",".join(ref.pipe.names[m] for m in active))
        bad("one token too many for the primary", lambda d: (
            d.__setitem__(f"tokens.{p}", np.append(d[f"tokens.{p}"], 3).astype(np.int32)),
            d.__setitem__(f"logits.{p}", np.vstack([d[f"logits.{p}"], d[f"logits.{p}"][-1:]]))))
        bad("a prompt token changed", lambda d: d[f"tokens.{o}"].__setitem__(1, 4))

        def not_argmax(d):
            row = d[f"logits.{p}"][-1]
            d[f"tokens.{p}"][-1] = int(np.argsort(row)[-2])
        bad("a token that is not the arg-max", not_argmax)
        if scenario == "eos_death":
            dier = ref.pipe.index("c")
            expect(run[dier][1][-1] in ref.eos[dier] and len(run[dier][1]) < n_max,
                   f"eos_death: c did not die: {run[dier][1]}")

            def live_on(d):   # the dead expert goes on sampling after its EOS
                d["tokens.c"] = np.append(d["tokens.c"], 5).astype(np.int32)
                d["logits.c"] = np.vstack([d["logits.c"], d["logits.c"][-1:]])
            bad("a non-primary sampling after EOS", live_on)
        else:
            def stop_early(d):  # a non-primary that stops without EOS
                d[f"tokens.{o}"] = d[f"tokens.{o}"][:-1].copy()
                d[f"logits.{o}"] = d[f"logits.{o}"][:-1].copy()
            bad("a non-primary stopping early without EOS", stop_early)


CASES = {"placement": test_placement, "mask": test_mask, "gelu_topk": test_gelu_topk,
         "interaction": test_interaction_by_hand, "zero_reverse": test_zero_reverse_is_llama,
         "causal": test_causal_across_experts, "listener": test_listener,
         "two_queries": test_two_queries, "compare": test_compare}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pool, work = sys.argv[1], sys.argv[2]
    failed = []
    for name in sys.argv[3:] or CASES:
        try:
            CASES[name](pool, os.path.join(work, name))
            print(f"ok   {name}")
        except AssertionError as e:
            print(f"FAIL {name}: {e}")
            failed.append(name)
    print("PASS" if not failed else f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
