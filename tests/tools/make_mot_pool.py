#!/usr/bin/python3
"""Builds a MoT test pool: tiny heterogeneous experts, a pipeline file and MoT weights.

    make_mot_pool.py DIR --scenario NAME [--weights auto|python|none] [--force]
    make_mot_pool.py --list

Writes DIR/experts/<expert>/ (Hugging Face folders from make_model.py, shared between
scenarios), DIR/<scenario>.yaml (SPEC 3), DIR/<scenario>.mot.safetensors (SPEC 2.2, when
the weights come from Python; `init` scenarios leave them to `mot init`) and
DIR/<scenario>.json (the prompt and what the scenario expects). Prints the pipeline path
last. A stamp (DIR/<scenario>.stamp.json) makes a second identical call return at once; a
lock file makes concurrent calls (ctest -j) safe.

The experts differ in hidden size (64, 96, 48), depth (4, 6, 5), heads / KV heads,
vocabulary, tokenizer style (two byte-level BPEs, one SentencePiece-style) and dtype
(f32, bf16, f16). Scenarios: see SCENARIOS.

eos_death: the non-primary `c` must sample EOS at a greedy step in 2..5 while the primary
goes on. Its checkpoint is a private f32 copy whose lm_head EOS row is rewritten. From the
float64 reference's greedy run: x_t, the final-normed hidden row of step t, minus its part
in the span of the earlier rows, gives u; the EOS row becomes alpha * u / |u|, so the EOS
logit is 0 at every earlier step (checked to sit below that row's best by a margin) and
beats the best other logit at step t by a quarter of that row's range. Hidden states and
earlier tokens do not depend on the LM head, so only the EOS decision changes; the whole
greedy run is then re-run and checked (c dies at t, the primary reaches max_tokens).
"""
import argparse
import contextlib
import copy
import fcntl
import hashlib
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(os.path.dirname(HERE), "reference")
sys.path.insert(0, HERE)
sys.path.insert(0, REFERENCE)
import make_model  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog, then naps in the sun."

# name -> make_model.py flags. Depths >= 4 so every placement window fits Q = 2.
EXPERTS = {
    "a": ["--preset", "tiny", "--layers", "4", "--dtype", "f32", "--tokenizer", "byte-level",
          "--seed", "11"],
    "b": ["--preset", "tiny-gqa", "--layers", "6", "--dtype", "bf16", "--tokenizer",
          "byte-level", "--vocab", "448", "--tied", "--seed", "12"],
    "c": ["--preset", "tiny-mistral", "--hidden", "48", "--heads", "4", "--kv-heads", "2",
          "--layers", "5", "--dtype", "f16", "--tokenizer", "sentencepiece", "--seed", "13"],
}

BASE = dict(
    experts=[dict(name="a", model="a"), dict(name="b", model="b"), dict(name="c", model="c")],
    router=dict(encoder="mean-embed", expert="c", hidden=32, top_k=2),
    interaction=dict(stacks=2, placement="uniform", shared_dim=32, heads=4, norm="none"),
    sampler=dict(temperature=0, top_k=0, top_p=1.0, seed=0, max_tokens=8),
    weights=dict(source="python", dtype="f32", biases=False, seed=1),
    prompt=PROMPT,
)


def expert_dtype(key):
    """The dtype of pool expert `key`'s weights (f32, bf16, f16)."""
    flags = EXPERTS[key]
    return flags[flags.index("--dtype") + 1] if "--dtype" in flags else "f32"


def scenario(**changes):
    """BASE with nested changes: scenario(interaction=dict(stacks=3)) merges into BASE's."""
    s = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(s.get(key), dict):
            s[key].update(value)
        else:
            s[key] = value
    return s


SCENARIOS = {
    # weights from `mot init` (the driver calls it)
    "hetero3": scenario(weights=dict(source="init")),
    "hetero3_k3": scenario(router=dict(top_k=3), weights=dict(source="init")),
    "init_norm": scenario(interaction=dict(norm="layernorm"), weights=dict(source="init")),
    # weights from Python
    "k1": scenario(router=dict(top_k=1)),
    "sampled": scenario(router=dict(top_k=3), sampler=dict(temperature=0.8, seed=5),
                        weights=dict(seed=9)),
    "uniform_q3": scenario(router=dict(top_k=3), interaction=dict(stacks=3)),
    "shallow": scenario(router=dict(top_k=3), interaction=dict(placement="shallow"),
                        weights=dict(seed=2)),
    "intermediate": scenario(router=dict(top_k=3), interaction=dict(placement="intermediate"),
                             weights=dict(seed=3)),
    "deep": scenario(router=dict(top_k=3), interaction=dict(placement="deep"),
                     weights=dict(seed=4)),
    "explicit": scenario(router=dict(top_k=3), interaction=dict(placement="explicit"),
                         layers=dict(a=[0, 3], b=[2, 4], c=[1, 2]), weights=dict(seed=5)),
    "norm_bias": scenario(interaction=dict(norm="layernorm", heads=2),
                          weights=dict(dtype="f16", biases=True, seed=6)),
    "norm_only": scenario(interaction=dict(norm="layernorm", shared_dim=48, heads=6),
                          weights=dict(dtype="bf16", seed=7)),
    "template": scenario(router=dict(top_k=3),
                         templates=dict(b="### Task\n{prompt}\n### Answer\n"),
                         weights=dict(seed=8)),
    # router biased so that a is primary and c the non-primary; c's lm_head is crafted
    "eos_death": scenario(experts=[dict(name="a", model="a"), dict(name="b", model="b"),
                                   dict(name="c", model="c", private=True)],
                          router_order=["a", "c", "b"], eos_death="c",
                          sampler=dict(max_tokens=10), weights=dict(seed=10)),
    # GGUF experts beside a Hugging Face folder (SPEC 2.4): a as Q4_1 blocks, b as Q8_0; c (the
    # router's expert, SentencePiece-style) stays a folder
    "gguf_experts": scenario(router=dict(top_k=3), gguf=dict(a="Q4_1", b="Q8_0"),
                             weights=dict(seed=12)),
    # the built-in demo: longer generation, all three experts in play
    "demo": scenario(router=dict(top_k=2), sampler=dict(max_tokens=32),
                     templates=dict(c="Question: {prompt}\nAnswer:"), weights=dict(seed=21)),
}

SOURCES = [os.path.join(HERE, f) for f in ("make_mot_pool.py", "make_model.py",
                                            "make_tokenizer.py", "make_gguf.py", "gguf_quant.py",
                                            "gguf_vocab.py")] + \
          [os.path.join(REFERENCE, f) for f in ("mot_ref.py", "llama_ref.py", "gguf_layout.py")]


# ---- experts ----

def build_expert(pool_dir, key):
    out = os.path.join(pool_dir, "experts", key)
    settings = make_model.resolve_settings(make_model.parse_args([out] + EXPERTS[key]))
    make_model.make_model(out, settings)
    return out


def gguf_expert(pool_dir, key, type_name):
    """Expert `key` converted to a GGUF file of type_name (tests/tools/make_gguf.py)."""
    import make_gguf
    src = os.path.join(pool_dir, "experts", key)
    out = os.path.join(pool_dir, "experts", f"{key}.{type_name.lower()}.gguf")
    make_gguf.main([src, out, "--type", type_name])
    return out


def expert_config(model_dir):
    """config.json of a folder; a GGUF file's settings as Hugging Face names them."""
    if model_dir.endswith(".gguf"):
        import gguf_ref
        meta, tensors = gguf_ref.read_gguf(model_dir)
        return gguf_ref.hf_config(meta, tensors, model_dir)
    with open(os.path.join(model_dir, "config.json")) as fh:
        return json.load(fh)


# ---- MoT weights (SPEC 2.2), written in Python ----

def round_to(values, dtype):
    """float32 values as the file will hold them: (stored array, safetensors dtype)."""
    if dtype == "f32":
        return values.astype("<f4"), "F32"
    if dtype == "f16":
        return values.astype("<f2"), "F16"
    return make_model.f32_to_bf16_bits(values.astype(np.float32)).astype("<u2"), "BF16"


def write_weights_file(path, tensors, dtype):
    """{name: float array} -> one safetensors file in dtype (f32, f16 or bf16)."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        stored, st = round_to(np.asarray(arr, dtype=np.float32), dtype)
        data = np.ascontiguousarray(stored).tobytes()
        header[name] = {"dtype": st, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little") + text)
        for data in blobs:
            fh.write(data)
    os.replace(tmp, path)


def mot_weights(s, hidden):
    """Random weights of SPEC 2.2's names and shapes. hidden {name: d_e}. Scales keep every
    projection O(1) so the interaction visibly moves the logits without blowing them up."""
    rng = np.random.default_rng(s["weights"]["seed"])
    it, names = s["interaction"], [e["name"] for e in s["experts"]]
    ds, hr, dz = it["shared_dim"], s["router"]["hidden"], hidden[s["router"]["expert"]]
    biases = s["weights"]["biases"]

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    t = {"router.fc1.weight": normal((hr, dz), 8.0 / np.sqrt(dz)),
         "router.fc1.bias": normal((hr,), 0.5),
         "router.fc2.weight": normal((len(names), hr), 1.0 / np.sqrt(hr)),
         "router.fc2.bias": normal((len(names),), 0.5)}
    if "router_order" in s:   # large, spaced biases fix the ranking whatever the prompt
        for rank, name in enumerate(s["router_order"]):
            t["router.fc2.bias"][names.index(name)] = 100.0 * (len(names) - rank)
    for q in range(it["stacks"]):
        pre = f"interaction.{q}."
        for e in names:
            d = hidden[e]
            t[pre + f"forward.{e}.weight"] = normal((ds, d), 2.0 / np.sqrt(d))
            t[pre + f"reverse.{e}.weight"] = normal((d, ds), 0.5 / np.sqrt(ds))
            if biases:
                t[pre + f"forward.{e}.bias"] = normal((ds,), 0.1)
                t[pre + f"reverse.{e}.bias"] = normal((d,), 0.05)
        for proj, std in (("q", 2.0), ("k", 2.0), ("v", 1.0), ("o", 1.0)):
            t[pre + f"attn.{proj}_proj.weight"] = normal((ds, ds), std / np.sqrt(ds))
            if biases:
                t[pre + f"attn.{proj}_proj.bias"] = normal((ds,), 0.1)
        if it["norm"] == "layernorm":
            t[pre + "norm.weight"] = 1.0 + normal((ds,), 0.1)
            t[pre + "norm.bias"] = normal((ds,), 0.1)
    return t


# ---- the pipeline file ----

def pipeline_doc(name, s, expert_dirs, pool_dir):
    experts = []
    for e in s["experts"]:
        entry = {"name": e["name"], "path": os.path.relpath(expert_dirs[e["name"]], pool_dir)}
        if e["name"] in s.get("templates", {}):
            entry["template"] = s["templates"][e["name"]]
        if s["interaction"]["placement"] == "explicit":
            entry["layers"] = s["layers"][e["name"]]
        experts.append(entry)
    return {"name": f"test-{name}", "experts": experts, "router": s["router"],
            "interaction": s["interaction"], "weights": f"{name}.mot.safetensors",
            "sampler": s["sampler"]}


def write_yaml(path, doc):
    import yaml
    with open(path, "w") as fh:
        fh.write("# written by tests/tools/make_mot_pool.py\n")
        yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None, allow_unicode=True)


# ---- eos_death: craft the non-primary's EOS row ----

def private_copy(src, dst):
    """A copy of an expert folder whose weights we may rewrite (as one f32 file)."""
    from safetensors_io import write_safetensors
    from llama_ref import load_checkpoint
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(dst)
    for f in ("config.json", "generation_config.json", "tokenizer.json",
              "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), dst)
    weights = {k: v.numpy().astype(np.float32) for k, v in load_checkpoint(src).items()}
    write_safetensors(os.path.join(dst, "model.safetensors"), weights)
    cfg = expert_config(dst)
    cfg["torch_dtype"] = "float32"
    with open(os.path.join(dst, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=2)
    return dst


def pipeline_copy(pipeline, out_dir, change_weights=None, change_yaml=None):
    """A copy of `pipeline` in out_dir (emptied first) with absolute expert paths and its own
    MoT weights file (w.safetensors, f32); change_weights edits the tensors, change_yaml the
    text. -> the new pipeline's path (the bad-input tests build their variants with it)."""
    import re
    from safetensors_io import read_safetensors, write_safetensors
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    src_dir = os.path.dirname(pipeline)
    text = open(pipeline).read()
    text = re.sub(r"path: (experts/\w+)", lambda m: f"path: {os.path.join(src_dir, m.group(1))}", text)
    weights = re.search(r"weights: (\S+)", text).group(1)
    tensors = {k: v.astype("<f4") for k, v in read_safetensors(os.path.join(src_dir, weights)).items()}
    if change_weights:
        change_weights(tensors)
    write_safetensors(os.path.join(out_dir, "w.safetensors"), tensors)
    text = text.replace(f"weights: {weights}", "weights: w.safetensors")
    if change_yaml:
        text = change_yaml(text)
    path = os.path.join(out_dir, "p.yaml")
    open(path, "w").write(text)
    return path


def craft_eos_death(pipeline_path, model_dir, dier, prompt, max_tokens):
    """Rewrites model_dir's lm_head EOS row so `dier` dies at a greedy step in 2..5.
    -> (step, primary's token count) of the verified run."""
    import torch
    from mot_ref import MotRef, eos_ids
    from safetensors_io import read_safetensors, write_safetensors
    st_path = os.path.join(model_dir, "model.safetensors")
    eos = min(eos_ids(model_dir))
    for step in (3, 2, 4, 5):
        ref = MotRef.load(pipeline_path)
        m = ref.pipe.index(dier)
        active = ref.select_active(ref.router_scores(prompt))
        if m not in active[1:]:
            raise SystemExit(f"eos_death: {dier} is not a non-primary in {active}")
        run = ref.generate_greedy(prompt, active, max_tokens)
        prompt_ids, sampled, logits = run[m]
        if eos in sampled[:step]:
            continue
        fed = {k: run[k][0] + run[k][1][:-1] for k in active}
        hidden = ref.recompute(active, fed, {k: len(run[k][0]) for k in active},
                               final_hidden=True)[m]                  # [T, d]
        others = logits.clone()
        others[:, eos] = float("-inf")
        best = others.max(dim=1).values                               # [T]
        # u: x_t without its part in the span of the earlier rows, so earlier EOS logits are 0
        basis, _ = torch.linalg.qr(hidden[:step].T)                   # [d, step]
        u = hidden[step] - basis @ (basis.T @ hidden[step])
        spread = float(logits[step].max() - logits[step].min())
        alpha = (float(best[step]) + 0.25 * spread) / float(u.norm())
        if alpha <= 0:
            continue
        row = alpha * u / u.norm()
        earlier = hidden[:step] @ row
        if bool((earlier > best[:step] - 0.1 * spread).any()):
            continue
        weights = read_safetensors(st_path)
        weights = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        weights["lm_head.weight"][eos] = row.numpy().astype(np.float32)
        write_safetensors(st_path, weights)
        check = MotRef.load(pipeline_path).generate_greedy(prompt, active, max_tokens)
        died = check[m][1]
        primary = check[active[0]][1]
        if len(died) == step + 1 and died[-1] == eos and len(primary) == max_tokens and \
                not set(primary) & ref.eos[active[0]]:
            return step, len(primary)
        raise SystemExit(f"eos_death: crafted run did not behave: {dier} sampled {died}, "
                         f"primary {primary}")
    raise SystemExit("eos_death: no step in 2..5 could be crafted")


# ---- one scenario ----

def stamp_of(name, s, weights_mode):
    h = hashlib.sha1(json.dumps([name, s, weights_mode], sort_keys=True).encode())
    for path in SOURCES:
        with open(path, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


@contextlib.contextmanager
def pool_lock(pool_dir):
    os.makedirs(pool_dir, exist_ok=True)
    with open(os.path.join(pool_dir, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(pool_dir, name, weights_mode="auto", force=False):
    """-> path of the pipeline file. weights_mode: auto (the scenario's), python, none."""
    s = SCENARIOS[name]
    source = s["weights"]["source"] if weights_mode == "auto" else weights_mode
    pool_dir = os.path.abspath(pool_dir)
    pipeline_path = os.path.join(pool_dir, f"{name}.yaml")
    stamp_path = os.path.join(pool_dir, f"{name}.stamp.json")
    stamp = stamp_of(name, s, source)
    with pool_lock(pool_dir):
        if not force and os.path.exists(stamp_path) and os.path.exists(pipeline_path):
            with open(stamp_path) as fh:
                if json.load(fh).get("stamp") == stamp:
                    return pipeline_path
        expert_dirs = {}
        for e in s["experts"]:
            shared = build_expert(pool_dir, e["model"])
            expert_dirs[e["name"]] = (private_copy(shared, os.path.join(
                pool_dir, "private", f"{name}-{e['name']}")) if e.get("private") else shared)
            if e["name"] in s.get("gguf", {}):
                expert_dirs[e["name"]] = gguf_expert(pool_dir, e["model"], s["gguf"][e["name"]])
        hidden = {n: expert_config(d)["hidden_size"] for n, d in expert_dirs.items()}
        weights_path = os.path.join(pool_dir, f"{name}.mot.safetensors")
        write_yaml(pipeline_path, pipeline_doc(name, s, expert_dirs, pool_dir))
        info = {"scenario": name, "prompt": s["prompt"], "weights": source,
                "max_tokens": s["sampler"]["max_tokens"]}
        if source == "python":
            write_weights_file(weights_path, mot_weights(s, hidden), s["weights"]["dtype"])
            if "eos_death" in s:
                step, n_primary = craft_eos_death(pipeline_path, expert_dirs[s["eos_death"]],
                                                  s["eos_death"], s["prompt"],
                                                  s["sampler"]["max_tokens"])
                info.update(dies=s["eos_death"], death_step=step, primary_tokens=n_primary)
        elif os.path.exists(weights_path):
            os.remove(weights_path)   # stale Python weights must not pass for mot init's
        with open(os.path.join(pool_dir, f"{name}.json"), "w") as fh:
            json.dump(info, fh, indent=2)
        with open(stamp_path, "w") as fh:
            json.dump({"stamp": stamp}, fh)
    return pipeline_path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pool_dir", nargs="?")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    p.add_argument("--weights", choices=["auto", "python", "none"], default="auto",
                   help="auto: the scenario's own (python, or none for mot init scenarios)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(sorted(SCENARIOS)))
        return 0
    if not args.pool_dir:
        p.error("DIR is required")
    mode = {"auto": "auto", "python": "python", "none": "init"}[args.weights]
    print(build(args.pool_dir, args.scenario, mode, args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
