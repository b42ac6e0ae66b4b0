#!/usr/bin/env python3
"""BERT encoder forward: biome-modules (burn, flex) vs PyTorch, same machine, same run.

Runs the Rust driver (`crates/biome-modules/examples/bert_forward.rs`, release) and a plain
PyTorch re-implementation of Hugging Face's `BertModel` forward (eager attention, erf GELU,
additive -inf-like key mask) on the same ids, alternating rounds, and reports each round's
median times, their ratio, and the max |difference| of the last hidden state at real positions.

  RAYON_NUM_THREADS=2 /work/torchenv/bin/python benches/bert_forward.py \
      /work/shared/models/all-MiniLM-L6-v2 target/release/examples/bert_forward [ROUNDS]
"""
import json, math, os, subprocess, sys, tempfile, time

import torch
from safetensors.torch import load_file

folder, binary = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
threads = int(os.environ.get("RAYON_NUM_THREADS", "2"))
torch.set_num_threads(threads)
cfg = json.load(open(os.path.join(folder, "config.json")))
w = {k.removeprefix("bert."): v.float() for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
H, NH, L, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["layer_norm_eps"]


def ln(x, name):
    return torch.nn.functional.layer_norm(x, (H,), w[name + ".weight"], w[name + ".bias"], eps)


def lin(x, name):
    return torch.nn.functional.linear(x, w[name + ".weight"], w[name + ".bias"])


@torch.inference_mode()
def forward(ids, mask):
    b, t = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] \
        + w["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, "embeddings.LayerNorm")
    bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    dh = H // NH
    for i in range(L):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, p + "attention.self." + n).view(b, t, NH, dh).transpose(1, 2) for n in ("query", "key", "value"))
        s = q @ k.transpose(-1, -2) / math.sqrt(dh) + bias
        c = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, H)
        a = ln(lin(c, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        f = lin(torch.nn.functional.gelu(lin(a, p + "intermediate.dense")), p + "output.dense")
        x = ln(f + a, p + "output.LayerNorm")
    return x


out = tempfile.mkdtemp()
env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
results = []
for r in range(rounds):
    rust = json.loads(subprocess.run([binary, folder, out, "32", "64", "20"], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    spec = json.load(open(os.path.join(out, "ids.json")))
    ids = torch.tensor(spec["ids"]).view(spec["batch"], spec["tokens"])
    mask = ids != 0
    forward(ids, mask)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        h = forward(ids, mask)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    torch_ms = times[len(times) // 2]
    ours = torch.frombuffer(bytearray(open(os.path.join(out, "hidden.f32"), "rb").read()), dtype=torch.float32)
    ours = ours.view_as(h)
    diff = ((ours - h).abs() * mask[..., None]).max().item()
    results.append((rust["median_ms"], torch_ms, diff))
    print(f"round {r}: biome {rust['median_ms']:.1f} ms (min {rust['min_ms']:.1f}), torch {torch_ms:.1f} ms "
          f"(min {times[0]:.1f}), ratio {rust['median_ms'] / torch_ms:.2f}, max |diff| {diff:.2e}")
    last_rust = rust


def med(f, reps=20):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    return sorted(ts)[len(ts) // 2]


@torch.inference_mode()
def profile(ids, mask):
    b, t = ids.shape
    emb = lambda: ln(w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
                     + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    x = emb()
    p = "encoder.layer.0."
    dh = H // NH
    split = lambda y: y.view(b, t, NH, dh).transpose(1, 2)
    q, k = split(lin(x, p + "attention.self.query")), split(lin(x, p + "attention.self.key"))
    bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    s = q @ k.transpose(-1, -2)
    inner = lin(x, p + "intermediate.dense")
    return {
        "embeddings": med(emb),
        "qkv_out_linear": 4 * L * med(lambda: lin(x, p + "attention.self.query")),
        "ffn_linears": L * (med(lambda: lin(x, p + "intermediate.dense")) + med(lambda: lin(inner, p + "output.dense"))),
        "heads_reshape": 4 * L * med(lambda: split(x).transpose(1, 2).reshape(b, t, H).contiguous()),
        "scores_matmul": L * med(lambda: q @ k.transpose(-1, -2)),
        "mask_softmax": L * med(lambda: (s * 0.125 + bias).softmax(-1)),
        "context_matmul": L * med(lambda: s @ q),
        "gelu": L * med(lambda: torch.nn.functional.gelu(inner)),
        "layer_norm_residual": 2 * L * med(lambda: ln(x + x, p + "output.LayerNorm")),
    }


theirs = profile(ids, mask)
print("where the time goes (ms per forward, each step timed alone x its count):")
print(f"{'step':22} {'biome':>8} {'torch':>8} {'ratio':>6}")
for name, t in theirs.items():
    o = last_rust["parts_ms"][name]
    print(f"{name:22} {o:8.2f} {t:8.2f} {o / t:6.2f}")
ratios = [a / b for a, b, _ in results]
print(f"batch 32 x 64, {threads} threads: ratio biome/torch {min(ratios):.2f}-{max(ratios):.2f}, "
      f"max |diff| {max(d for *_, d in results):.2e}")
