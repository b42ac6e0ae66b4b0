#!/usr/bin/env python3
"""Exactness of the transformer data path against Hugging Face / sentence-transformers.

On real record texts (every field of the first pairs of ../shared/data/febrl.test.csv and
dedup_de.test.csv, plus each record's fields joined by a space, as text mode reads them) this
checks that our tokenizer (biome_core::SubwordTokenizer through `examples/transformer_ids.rs`)
gives exactly the ids of the model's Python tokenizer, with the special tokens and truncation
the model uses.

    HF_HUB_OFFLINE=1 /work/torchenv/bin/python benches/transformer/exactness.py \
        [--model ../shared/models/all-MiniLM-L6-v2] [--texts 400] [--max-length 256]

It builds the example in release mode (cargo run) and needs `sentence-transformers` in the
venv (`/work/torchenv/bin/pip install sentence-transformers`). Prints a JSON summary; exits 1
when any id differs.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared") if os.path.isdir(
    os.path.join(os.path.dirname(ROOT), "shared")) else "/work/shared"


def real_texts(limit):
    """Distinct field values and joined records: three quarters from FEBRL (English names,
    addresses, numbers), the rest from dedup_de (German names with umlauts and typos), and one
    long text made of many of them, so truncation is exercised."""
    texts, seen = [], set()
    for name, share in (("febrl.test.csv", 0.75), ("dedup_de.test.csv", 1.0)):
        with open(os.path.join(SHARED, "data", name), newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if len(texts) >= int(limit * share):
                    break
                for side in ("record1_", "record2_"):
                    fields = [v for k, v in row.items() if k.startswith(side) and v and v.strip()]
                    for t in fields + [" ".join(fields)]:
                        if t not in seen:
                            seen.add(t)
                            texts.append(t)
    texts = texts[:limit]
    return texts + [" ".join(texts[:200])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(SHARED, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--max-length", type=int, default=256)
    args = ap.parse_args()
    texts = real_texts(args.texts)

    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(args.model)
    want = [hf(t, truncation=True, max_length=args.max_length)["input_ids"] for t in texts]

    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    run = subprocess.run(
        ["cargo", "run", "--release", "--quiet", "--example", "transformer_ids", "--",
         args.model, str(args.max_length)],
        input=stdin, capture_output=True, text=True, cwd=ROOT, check=True)
    got = [json.loads(line)["ids"] for line in run.stdout.splitlines()]
    assert len(got) == len(texts), (len(got), len(texts))
    differ = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    summary = {
        "model": os.path.basename(os.path.normpath(args.model)),
        "texts": len(texts),
        "max_length": args.max_length,
        "ids_total": sum(map(len, want)),
        "truncated_texts": sum(len(w) == args.max_length for w in want),
        "texts_with_different_ids": len(differ),
        "first_differences": [{"text": texts[i], "ours": got[i], "hf": want[i]} for i in differ[:3]],
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
