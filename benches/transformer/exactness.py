#!/usr/bin/env python3
"""Exactness of the transformer path against Hugging Face / sentence-transformers.

On real record texts (the fields of the first pairs of ../shared/data/febrl.test.csv and
dedup_de.test.csv, plus each record's fields joined by a space, as text mode reads them) this
checks, for the untrained model straight from its folder, that
- our tokenizer (biome_core::SubwordTokenizer, through the batch path) gives exactly the ids
  of sentence-transformers' tokenizer (special tokens, truncation), and
- our mean-pooled embeddings (transformer embedder + `boe` averaged) equal
  sentence-transformers' Transformer + Pooling output (before its Normalize module), as max
  absolute difference (target 1e-4).
The Rust side is `examples/transformer_embeddings.rs`: an example rather than a CLI command,
since only this check needs an untrained model's vectors, and it uses the library's public
pieces the pipeline uses.

    HF_HUB_OFFLINE=1 /work/torchenv/bin/python benches/transformer/exactness.py \
        [--model ../shared/models/all-MiniLM-L6-v2] [--texts 400] [--max-length 256]

It builds the example in the dev profile (`cargo run`; dependencies are optimised there) and
needs `sentence-transformers` in the venv (`/work/torchenv/bin/pip install sentence-transformers`). Prints a JSON summary; exits 1
when any id differs or a pooled value differs by more than 1e-4.
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

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(args.model, device="cpu")
    st.max_seq_length = args.max_length
    want, pooled = [], []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            chunk = texts[start:start + 64]
            features = st.tokenize(chunk)
            for row, m in zip(features["input_ids"], features["attention_mask"]):
                want.append(row[m.bool()].tolist())
            out = st[1](st[0](dict(features)))  # Transformer, Pooling; no Normalize
            pooled.append(out["sentence_embedding"].double().numpy())
    pooled = np.concatenate(pooled)

    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    run = subprocess.run(
        ["cargo", "run", "--quiet", "--example", "transformer_embeddings", "--",
         args.model, str(args.max_length)],
        input=stdin, capture_output=True, text=True, cwd=ROOT, check=True)
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(rows) == len(texts), (len(rows), len(texts))
    got = [r["ids"] for r in rows]
    ours = np.array([r["vector"] for r in rows], dtype=np.float64)
    differ = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    max_abs = float(np.abs(ours - pooled).max())
    summary = {
        "model": os.path.basename(os.path.normpath(args.model)),
        "texts": len(texts),
        "max_length": args.max_length,
        "ids_total": sum(map(len, want)),
        "truncated_texts": sum(len(w) == args.max_length for w in want),
        "texts_with_different_ids": len(differ),
        "embedding_dim": int(pooled.shape[1]),
        "max_abs_difference_pooled": max_abs,
        "max_abs_pooled_value": float(np.abs(pooled).max()),
        "first_differences": [{"text": texts[i], "ours": got[i], "hf": want[i]} for i in differ[:3]],
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    sys.exit(1 if differ or max_abs > 1e-4 else 0)


if __name__ == "__main__":
    main()
