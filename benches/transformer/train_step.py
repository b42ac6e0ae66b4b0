#!/usr/bin/env python3
"""Train step of all-MiniLM-L6-v2 as the siamese encoder, biome against sentence-transformers
(issue 14), at batch 32 pairs × 64 word pieces per text, on the same pairs, in one run.

Both sides fine-tune the whole transformer, tokenise inside the step, and clip gradients:

- **ours**: `biome train` with `examples/configs/minilm_pairs.json` as shipped (AdamW, its
  parameter groups and warm-up schedule, grad_norm 1.0), only the mapping swapped for the one
  text column of these pairs and `num_epochs` set; no validation set. The trainer prints the
  time at the end of each epoch; a step is (epoch 2's end − epoch 1's end) / steps per epoch,
  so the first step (allocation, first-touch) stays out. An epoch's time includes writing its
  checkpoint (the model, AdamW's moments, about 270 MB; biome trains resumably).
- **anchor**: sentence-transformers' SoftmaxLoss on `[u; v; |u−v|]`, AdamW with the two
  learning rates, the same linear warm-up, clip_grad_norm_ 1.0, `model.tokenize` in the step:
  the loop of `accuracy.py`. The mean over epoch 2's steps.

Texts are 90 whole words drawn (seeded) from the model's own vocabulary, so every text fills
the 64 word pieces and no row is padded: 32 × 64 on both sides. Rounds alternate.

    HF_HUB_OFFLINE=1 /work/torchenv/bin/python benches/transformer/train_step.py \\
        --biome target/release/biome [--steps 8] [--rounds 2] [--out /tmp/train_step]

2 threads on both sides (RAYON_NUM_THREADS, torch.set_num_threads).
"""
import argparse
import csv
import json
import math
import os
import random
import re
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(os.path.dirname(ROOT), "shared", "models", "all-MiniLM-L6-v2")
THREADS = 2
BATCH = 32
MAX_LENGTH = 64


def words_of_vocabulary():
    """Whole-word entries of the tokenizer's vocabulary (no ## pieces, letters only)."""
    vocab = json.load(open(os.path.join(MODEL, "tokenizer.json")))["model"]["vocab"]
    return sorted(w for w in vocab if re.fullmatch(r"[a-z]{3,}", w))


def make_pairs(n):
    rng = random.Random(11)
    words = words_of_vocabulary()
    text = lambda: " ".join(rng.choice(words) for _ in range(90))
    return [(text(), text(), rng.choice(["duplicate", "not_duplicate"])) for _ in range(n)]


def ours(args, pairs, work, epochs):
    data = os.path.join(work, "pairs.csv")
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text1", "text2", "label"])
        w.writerows(pairs)
    config = json.load(open(os.path.join(ROOT, "examples", "configs", "minilm_pairs.json")))
    config["data"]["mapping"] = {"label": "label", "record1": ["text1"], "record2": ["text2"]}
    config["model"]["text_field_embedder"]["transformer"]["model_name"] = MODEL
    config["model"]["text_field_embedder"]["transformer"]["max_length"] = MAX_LENGTH
    config["trainer"]["num_epochs"] = epochs
    config["trainer"]["batch_size"] = BATCH
    config["trainer"].pop("validation_metric", None)
    config["trainer"].pop("patience", None)
    cfg = os.path.join(work, "ours.json")
    json.dump(config, open(cfg, "w"), indent=1)
    model = os.path.join(work, "ours.model")
    subprocess.run(["rm", "-rf", model], check=True)
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS))
    res = subprocess.run([args.biome, "train", "--config", cfg, "--train", data, "--output",
                          model], env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"biome train failed:\n{res.stderr}")
    ends = [float(m) for m in re.findall(r"epoch \d+/\d+:.*\(([\d.]+)s\)", res.stderr)]
    if len(ends) != epochs:
        raise SystemExit(f"expected {epochs} epoch lines in biome's output:\n{res.stderr}")
    steps = math.ceil(len(pairs) / BATCH)
    return {"first_epoch_s": ends[0], "step_s": (ends[1] - ends[0]) / steps}


def anchor(pairs, epochs):
    import torch
    from sentence_transformers import SentenceTransformer, losses
    from transformers import get_linear_schedule_with_warmup

    torch.set_num_threads(THREADS)
    torch.manual_seed(13)
    config = json.load(open(os.path.join(ROOT, "examples", "configs", "minilm_pairs.json")))
    groups = config["trainer"]["optimizer"]["adamw"]
    model = SentenceTransformer(MODEL, device="cpu")
    model.max_seq_length = MAX_LENGTH
    loss = losses.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=2)
    optimizer = torch.optim.AdamW([
        {"params": model.parameters(), "lr": groups["parameter_groups"][0][1]["lr"]},
        {"params": loss.classifier.parameters(), "lr": groups["lr"]},
    ], weight_decay=groups.get("weight_decay", 0.01))
    steps = epochs * math.ceil(len(pairs) / BATCH)
    warmup = math.ceil(steps * config["trainer"]["learning_rate_scheduler"]
                       ["linear_with_warmup"]["warmup_ratio"])
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, steps)
    model.train()
    times, first = [], None
    for epoch in range(epochs):
        for start in range(0, len(pairs), BATCH):
            t0 = time.perf_counter()
            chunk = pairs[start:start + BATCH]
            f1 = model.tokenize([c[0] for c in chunk])
            f2 = model.tokenize([c[1] for c in chunk])
            assert f1["input_ids"].shape[1] == MAX_LENGTH, f1["input_ids"].shape
            labels = torch.tensor([int(c[2] == "duplicate") for c in chunk])
            value = loss([f1, f2], labels)
            optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(
                list(model.parameters()) + list(loss.classifier.parameters()), 1.0)
            optimizer.step()
            scheduler.step()
            dt = time.perf_counter() - t0
            if epoch == 0:
                first = dt if first is None else first
            else:
                times.append(dt)
    return {"first_step_s": first, "step_s": statistics.mean(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--biome", required=True)
    ap.add_argument("--steps", type=int, default=8, help="steps per epoch (2 epochs)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="/tmp/train_step")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    pairs = make_pairs(args.steps * BATCH)
    rows = []
    for r in range(args.rounds):
        a = ours(args, pairs, args.out, 2)
        b = anchor(pairs, 2)
        ratio = a["step_s"] / b["step_s"]
        rows.append((r, a["step_s"], b["step_s"], ratio))
        print(json.dumps({"round": r, "ours": a, "anchor": b, "ratio": ratio}), flush=True)
    print("\n| round | biome step s | sentence-transformers step s | biome / anchor |")
    print("|---|---|---|---|")
    for r, a, b, q in rows:
        print(f"| {r} | {a:.2f} | {b:.2f} | {q:.2f} |")


if __name__ == "__main__":
    main()
