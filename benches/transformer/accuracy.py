#!/usr/bin/env python3
"""Accuracy of the fine-tuned transformer encoder against a sentence-transformers anchor
(issue 14), on the labelled pair sets of ../shared/data, in one run.

For each set, with the same pairs, epochs, batch size and learning rates on both sides:

- **ours**: `biome train` with `examples/configs/minilm_pairs.json` as shipped, only the data
  mapping swapped for the set's columns (and `--epochs`, when given, into `num_epochs`), then
  `biome evaluate` on the test pairs: duplicate-F1 of argmax (what `predict` reports) and at
  the threshold `biome train` stored from the validation pairs (what `dedupe` uses).
- **anchor**: sentence-transformers' bi-encoder on the same all-MiniLM-L6-v2 folder, each
  record's fields joined by a space (its usual input), fine-tuned with SoftmaxLoss on
  `[u; v; |u−v|]` (its default), AdamW with the transformer at 2e-5 and the new classifier at
  1e-3 (its own head learning rate, as the issue asks), the same linear warm-up share; then
  (a) the softmax head's argmax and (b) the cosine of the fine-tuned vectors, cut at the
  F1-best threshold on the validation pairs. The untrained model's cosine (zero-shot) is
  reported too.

- **word+character** (`--word-char`): this project's own best small models on the same
  pairs, `examples/configs/febrl_multifield.json` and `febrl_text.json` (words and a character
  CNN; per-field BiGRU over field vectors, or one BiGRU over the joined text), mapping swapped,
  `--word-char-epochs` (default 20, patience 5: a few hundred pairs are few steps an epoch).

    HF_HUB_OFFLINE=1 /work/torchenv/bin/python benches/transformer/accuracy.py \\
        --biome target/release/biome [--sets dedup_de,febrl,dblp_acm,restaurants] \\
        [--febrl-train 2000] [--epochs N] [--out /tmp/accuracy] [--skip-anchor] \\
        [--skip-ours] [--word-char] [--em-datasets DIR]

The textual sets (`dblp_acm`: DBLP–ACM paper pairs, `restaurants`: Fodor's–Zagat pairs) are
the labelled pair files that the PyPI package `py_entitymatching` 0.4.2 ships (BSD-3; the data
are the public Leipzig and RIDDLE benchmark sets). They are not in the repository; fetch them
from the package registry once and point `--em-datasets` at the folder:

    pip download --no-deps py_entitymatching==0.4.2 -d /tmp/em && tar xzf \\
        /tmp/em/py-entitymatching-0.4.2.tar.gz -C /tmp/em
    # --em-datasets /tmp/em/py-entitymatching-0.4.2/py_entitymatching/datasets (the default)

Each is split at random (`--split-seed`, default 7) into 60 % training, 20 % validation and
20 % test pairs.

Needs torch and sentence-transformers in a venv outside the repo (`/work/torchenv`), and a
release `biome` (`cargo build --release --bin biome`). 2 threads on both sides. Prints one JSON
object per set and a Markdown table for ACCURACY.md.
"""
import argparse
import copy
import csv
import json
import math
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
MODEL = os.path.join(SHARED, "models", "all-MiniLM-L6-v2")
DATA = os.path.join(SHARED, "data")
THREADS = 2

FEBRL_FIELDS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                "postcode", "state", "date_of_birth", "soc_sec_id"]
# The textual sets: (file under --em-datasets, fields in record order, label column).
EM_SETS = {
    "dblp_acm": ("dblp_acm_demo_labels.csv", ["title", "authors", "venue", "year"], "gold"),
    "restaurants": (os.path.join("end-to-end", "restaurants", "lbl_restnt_wf1.csv"),
                    ["name", "addr", "city", "phone"], "gold"),
}
EM_DATASETS = "/tmp/em/py-entitymatching-0.4.2/py_entitymatching/datasets"
DEDUP_DE_FIELDS = ["country", "gender", "firstname", "lastname", "street", "housenumber",
                   "zipcode", "city"]


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows, header):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


def em_set(folder, name, seed):
    """One of `EM_SETS` as pair rows in this project's layout (`record1_<field>`,
    `record2_<field>`, `label` = duplicate / not_duplicate), split 60/20/20 at random."""
    file, fields, gold = EM_SETS[name]
    path = os.path.join(folder, file)
    if not os.path.exists(path):
        sys.exit(f"{path} not found: see this script's docstring (--em-datasets)")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        raw = list(csv.DictReader(f))
    rows = []
    for r in raw:
        # py_entitymatching names the two sides `ltable.x` / `ltable_x` by file.
        side = lambda s, c: (r.get(f"{s}table.{c}") or r.get(f"{s}table_{c}") or "").strip()
        row = {f"record1_{c}": side("l", c) for c in fields}
        row.update({f"record2_{c}": side("r", c) for c in fields})
        row["label"] = "duplicate" if r[gold].strip() == "1" else "not_duplicate"
        rows.append(row)
    random.Random(seed).shuffle(rows)
    a, b = int(0.6 * len(rows)), int(0.8 * len(rows))
    return rows[:a], rows[a:b], rows[b:], fields, "label"


def sample(rows, n, seed):
    """`n` rows drawn at random (all of them when n is None or larger), keeping file order."""
    if n is None or n >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def sets(args, work):
    """(name, train, validation, test, fields, label column) per set, as CSV paths in `work`."""
    out = []
    for name in args.sets.split(","):
        if name == "dedup_de":
            # 99 training pairs and no validation file: the threshold is chosen on the
            # training pairs (both sides alike).
            train = read_rows(os.path.join(DATA, "dedup_de.train.csv"))
            test = read_rows(os.path.join(DATA, "dedup_de.test.csv"))
            valid, fields, label = train, DEDUP_DE_FIELDS, "target"
        elif name == "febrl":
            train = sample(read_rows(os.path.join(DATA, "febrl.train.csv")), args.febrl_train, 1)
            valid = sample(read_rows(os.path.join(DATA, "febrl.valid.csv")), args.febrl_valid, 2)
            test = sample(read_rows(os.path.join(DATA, "febrl.test.csv")), args.febrl_test, 3)
            fields, label = FEBRL_FIELDS, "label"
        elif name in EM_SETS:
            train, valid, test, fields, label = em_set(args.em_datasets, name, args.split_seed)
        else:
            sys.exit(f"unknown set {name!r} (dedup_de, febrl, {', '.join(EM_SETS)})")
        paths = []
        for part, rows in (("train", train), ("valid", valid), ("test", test)):
            p = os.path.join(work, f"{name}.{part}.csv")
            write_rows(p, rows, list(rows[0].keys()))
            paths.append(p)
        out.append((name, *paths, fields, label))
    return out


def f1_at(scores, positive, threshold):
    tp = sum(1 for s, p in zip(scores, positive) if p and s >= threshold)
    accepted = sum(1 for s in scores if s >= threshold)
    positives = sum(positive)
    if tp == 0:
        return 0.0
    precision, recall = tp / accepted, tp / positives
    return 2 * precision * recall / (precision + recall)


def best_threshold(scores, positive):
    """The F1-best cut over the distinct scores (ties go to the higher cut)."""
    best = (-1.0, 1.0)
    for t in sorted(set(scores), reverse=True):
        f = f1_at(scores, positive, t)
        if f > best[0]:
            best = (f, t)
    return best[1]


# ----------------------------------------------------------------------------------- ours

def train_and_evaluate(args, config, tag, train, valid, test, work):
    """`biome train` with `config`, then `biome evaluate` on the test pairs: (metrics, train s)."""
    cfg = os.path.join(work, f"{tag}.json")
    with open(cfg, "w") as f:
        json.dump(config, f, indent=1)
    model = os.path.join(work, f"{tag}.model")
    subprocess.run(["rm", "-rf", model], check=True)
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS))
    t0 = time.time()
    subprocess.run([args.biome, "train", "--config", cfg, "--train", train, "--validation",
                    valid, "--output", model], check=True, env=env, cwd=ROOT)
    train_s = time.time() - t0
    res = subprocess.run([args.biome, "evaluate", "--model", model, "--data", test],
                         check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1]), train_s


def shipped_config(file, fields, label):
    """An `examples/configs` file with only its data mapping swapped for the set's columns."""
    with open(os.path.join(ROOT, "examples", "configs", file)) as f:
        config = json.load(f)
    config["data"]["mapping"] = {
        "label": label,
        "record1": [f"record1_{c}" for c in fields],
        "record2": [f"record2_{c}" for c in fields],
    }
    return config


def word_char(args, name, train, valid, test, fields, label, work):
    """The project's word+character configs on the same pairs, more epochs (see the docstring)."""
    out = {}
    for file in ("febrl_multifield.json", "febrl_text.json"):
        config = shipped_config(file, fields, label)
        config["trainer"]["num_epochs"] = args.word_char_epochs
        config["trainer"]["patience"] = 5
        metrics, train_s = train_and_evaluate(args, config, f"{name}.{file[:-5]}", train,
                                              valid, test, work)
        out[file[:-5]] = {
            "argmax_f1": metrics.get("duplicate/f1"),
            "stored_threshold_f1": metrics.get("duplicate/stored_threshold_f1"),
            "train_s": round(train_s, 1),
            "epochs": args.word_char_epochs,
        }
    return out


def ours(args, name, train, valid, test, fields, label, work):
    config = shipped_config("minilm_pairs.json", fields, label)
    config["model"]["text_field_embedder"]["transformer"]["model_name"] = MODEL
    if args.epochs:
        config["trainer"]["num_epochs"] = args.epochs
    # Variants for choosing the shipped config (the acceptance checks use it as shipped).
    if args.joined:
        config["model"].pop("multifield_seq2vec_encoder", None)
    if args.cosine:
        config["model"]["pair_combination"] = "cosine"
    if args.no_hard_negatives:
        config["model"].pop("hard_negatives", None)
    if args.max_length:
        config["model"]["text_field_embedder"]["transformer"]["max_length"] = args.max_length
    metrics, train_s = train_and_evaluate(args, config, f"{name}.ours", train, valid, test,
                                          work)
    return {
        "argmax_f1": metrics.get("duplicate/f1"),
        "stored_threshold_f1": metrics.get("duplicate/stored_threshold_f1"),
        "train_s": round(train_s, 1),
        "epochs": config["trainer"]["num_epochs"],
        "multifield": "multifield_seq2vec_encoder" in config["model"],
        "pair_combination": config["model"]["pair_combination"],
        "hard_negatives": "hard_negatives" in config["model"],
        "max_length": config["model"]["text_field_embedder"]["transformer"]["max_length"],
    }


# --------------------------------------------------------------------------------- anchor

def anchor(args, name, train, valid, test, fields, label, config):
    import torch
    from sentence_transformers import SentenceTransformer, losses

    torch.set_num_threads(THREADS)
    torch.manual_seed(13)
    random.seed(13)
    text = lambda row, r: " ".join(row[f"record{r}_{c}"].strip() for c in fields)
    load = lambda p: [(text(r, 1), text(r, 2), int(r[label] == "duplicate"))
                      for r in read_rows(p)]
    tr, va, te = load(train), load(valid), load(test)
    trainer = config["trainer"]
    epochs = args.epochs or trainer["num_epochs"]
    batch = trainer["batch_size"]
    max_length = (args.max_length
                  or config["model"]["text_field_embedder"]["transformer"]["max_length"])

    def cosines(model, pairs):
        a = model.encode([p[0] for p in pairs], batch_size=64, convert_to_tensor=True)
        b = model.encode([p[1] for p in pairs], batch_size=64, convert_to_tensor=True)
        return torch.nn.functional.cosine_similarity(a, b).tolist()

    def cosine_f1(model):
        cut = best_threshold(cosines(model, va), [p[2] for p in va])
        return f1_at(cosines(model, te), [p[2] for p in te], cut)

    model = SentenceTransformer(MODEL, device="cpu")
    model.max_seq_length = max_length
    zero_shot = cosine_f1(model)

    loss = losses.SoftmaxLoss(model, model.get_sentence_embedding_dimension(), num_labels=2)
    groups = trainer["optimizer"]["adamw"]
    head_lr = groups["lr"]
    body_lr = groups["parameter_groups"][0][1]["lr"]
    optimizer = torch.optim.AdamW([
        {"params": model.parameters(), "lr": body_lr},
        {"params": loss.classifier.parameters(), "lr": head_lr},
    ], weight_decay=groups.get("weight_decay", 0.01))
    steps = epochs * math.ceil(len(tr) / batch)
    schedule = trainer.get("learning_rate_scheduler", {}).get("linear_with_warmup", {})
    warmup = schedule.get("warmup_steps") or math.ceil(steps * schedule.get("warmup_ratio", 0))
    from transformers import get_linear_schedule_with_warmup
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, steps)
    t0 = time.time()
    model.train()
    for epoch in range(epochs):
        order = list(range(len(tr)))
        random.shuffle(order)
        for start in range(0, len(order), batch):
            chunk = [tr[i] for i in order[start:start + batch]]
            f1 = model.tokenize([c[0] for c in chunk])
            f2 = model.tokenize([c[1] for c in chunk])
            labels = torch.tensor([c[2] for c in chunk])
            value = loss([f1, f2], labels)
            optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(
                list(model.parameters()) + list(loss.classifier.parameters()),
                trainer.get("grad_norm", 1.0))
            optimizer.step()
            scheduler.step()
    train_s = time.time() - t0
    model.eval()
    with torch.no_grad():
        a = model.encode([p[0] for p in te], batch_size=64, convert_to_tensor=True)
        b = model.encode([p[1] for p in te], batch_size=64, convert_to_tensor=True)
        logits = loss.classifier(torch.cat([a, b, (a - b).abs()], dim=1))
        argmax = logits.argmax(dim=1).tolist()
    softmax_f1 = f1_at(argmax, [p[2] for p in te], 1)
    return {
        "zero_shot_cosine_f1": zero_shot,
        "softmax_argmax_f1": softmax_f1,
        "cosine_f1": cosine_f1(model),
        "train_s": round(train_s, 1),
        "epochs": epochs,
    }


def word_char_cell(runs):
    """The word+character config with the best argmax F1, as `argmax / stored (config)`."""
    if not runs:
        return "—"
    name, best = max(runs.items(), key=lambda kv: kv[1]["argmax_f1"] or 0.0)
    fmt = lambda v: "—" if v is None else f"{v:.4f}"
    return f"{fmt(best['argmax_f1'])} / {fmt(best['stored_threshold_f1'])} ({name})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--biome", default=os.path.join(ROOT, "target", "release", "biome"))
    ap.add_argument("--sets", default="dedup_de,febrl")
    ap.add_argument("--febrl-train", type=int, default=2000)
    ap.add_argument("--febrl-valid", type=int, default=1000)
    ap.add_argument("--febrl-test", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None,
                    help="num_epochs for both sides (default: the shipped config's)")
    ap.add_argument("--out", default="/tmp/accuracy")
    ap.add_argument("--skip-anchor", action="store_true")
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--word-char", action="store_true",
                    help="also train the project's word+character configs on each set")
    ap.add_argument("--word-char-epochs", type=int, default=20)
    ap.add_argument("--em-datasets", default=EM_DATASETS,
                    help="py_entitymatching's datasets folder (see the docstring)")
    ap.add_argument("--split-seed", type=int, default=7,
                    help="the textual sets' random train/validation/test split")
    ap.add_argument("--max-length", type=int, default=None,
                    help="both sides: word pieces per text (default: the shipped config's)")
    ap.add_argument("--joined", action="store_true",
                    help="ours: one text per record (drop multifield_seq2vec_encoder)")
    ap.add_argument("--cosine", action="store_true", help="ours: pair_combination cosine")
    ap.add_argument("--no-hard-negatives", action="store_true",
                    help="ours: without the in-batch hard-negatives term (the anchor has none)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(ROOT, "examples", "configs", "minilm_pairs.json")) as f:
        config = json.load(f)
    rows = []
    for name, train, valid, test, fields, label in sets(args, args.out):
        result = {"set": name, "train_pairs": len(read_rows(train)),
                  "test_pairs": len(read_rows(test))}
        if not args.skip_ours:
            result["ours"] = ours(args, name, train, valid, test, fields, label, args.out)
        if args.word_char:
            result["word_char"] = word_char(args, name, train, valid, test, fields, label,
                                            args.out)
        if not args.skip_anchor:
            result["anchor"] = anchor(args, name, train, valid, test, fields, label,
                                      copy.deepcopy(config))
        print(json.dumps(result), flush=True)
        rows.append(result)
    fmt = lambda v: "—" if v is None else f"{v:.4f}"
    print("\n| set | train / test pairs | epochs | ours argmax | ours stored threshold | "
          "ST softmax | ST cosine | ST zero-shot cosine | word+char best (argmax / stored) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        o, a = r.get("ours", {}), r.get("anchor", {})
        print(f"| {r['set']} | {r['train_pairs']} / {r['test_pairs']} | "
              f"{o.get('epochs', a.get('epochs'))} | {fmt(o.get('argmax_f1'))} | "
              f"{fmt(o.get('stored_threshold_f1'))} | {fmt(a.get('softmax_argmax_f1'))} | "
              f"{fmt(a.get('cosine_f1'))} | {fmt(a.get('zero_shot_cosine_f1'))} | "
              f"{word_char_cell(r.get('word_char'))} |")


if __name__ == "__main__":
    main()
