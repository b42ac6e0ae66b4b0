#!/usr/bin/env python3
"""Perturb a FEBRL pair CSV with out-of-vocabulary token variants (robustness test).

Reads a pair CSV (header ``record1_<field>,...,record2_<field>,...,label``, as
``febrl.{train,valid,test}.csv``), and replaces about ``--rate`` of the tokens
of record2 (or of both records with ``--records both``) by variants that the
training vocabulary never saw, keeping the label:

* alphabetic tokens get one or two random edits (letter substitution,
  insertion, deletion or adjacent transposition), e.g. ``crofts -> crqfts``;
* numeric tokens get digit edits (one digit shifted by +1..+9 mod 10, two
  adjacent digits swapped, or a digit inserted), e.g. ``2230 -> 2730``;
* mixed letter/digit tokens get a letter edit.

A token is a maximal run of letters/digits (the model's UAX #29 word tokenizer
splits the same way on this data; punctuation and spaces are kept as they
are). When ``--train`` is given, every variant is re-drawn (up to 50 times,
then one extra character is inserted) until it is absent from the set of
lower-cased tokens of that file, so each replaced token is unseen at training
time. The run is deterministic for a given ``--seed``; a summary (tokens seen,
replaced, unseen-after-replacement) is printed to stderr.

Usage::

    python3 scripts/perturb_febrl.py \\
        --input ../shared/data/febrl.test.csv \\
        --output /tmp/febrl.test.perturbed.csv \\
        --train ../shared/data/febrl.train.csv \\
        [--rate 0.25] [--records 2|both] [--seed 13]

Only the standard library is used (Python 3.8+).
"""

import argparse
import csv
import random
import re
import string
import sys

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
LETTERS = string.ascii_lowercase
DIGITS = string.digits


def train_vocabulary(path):
    """Lower-cased tokens of every field (not the label) of a pair CSV."""
    vocab = set()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cols = [i for i, h in enumerate(header) if h != "label"]
        for row in reader:
            for i in cols:
                vocab.update(t.lower() for t in TOKEN.findall(row[i]))
    return vocab


def edit_alpha(tok, rng):
    chars = list(tok)
    op = rng.choice(("sub", "ins", "del", "swap") if len(chars) > 2 else ("sub", "ins"))
    i = rng.randrange(len(chars))
    if op == "sub":
        chars[i] = rng.choice([c for c in LETTERS if c != chars[i].lower()])
    elif op == "ins":
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(LETTERS))
    elif op == "del":
        del chars[i]
    else:
        j = min(i, len(chars) - 2)
        chars[j], chars[j + 1] = chars[j + 1], chars[j]
    return "".join(chars)


def edit_digits(tok, rng):
    chars = list(tok)
    op = rng.choice(("shift", "shift", "swap", "ins") if len(chars) > 1 else ("shift", "ins"))
    i = rng.randrange(len(chars))
    if op == "shift":
        chars[i] = str((int(chars[i]) + rng.randint(1, 9)) % 10)
    elif op == "swap":
        j = min(i, len(chars) - 2)
        if chars[j] == chars[j + 1]:
            chars[j] = str((int(chars[j]) + rng.randint(1, 9)) % 10)
        else:
            chars[j], chars[j + 1] = chars[j + 1], chars[j]
    else:
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(DIGITS))
    return "".join(chars)


def variant(tok, rng, vocab):
    """A random edit of ``tok`` that is not ``tok`` and (if vocab) not in vocab."""
    if tok.isdigit():
        edit = edit_digits
    elif tok.isalpha():
        edit = edit_alpha
    else:
        def edit(t, r):  # mixed letters and digits: a letter edit (digits stay digits)
            return edit_alpha(t, r)
    for _ in range(50):
        new = edit(tok, rng)
        if rng.random() < 0.3:  # a second edit now and then
            new = edit(new, rng)
        if new and new.lower() != tok.lower() and (vocab is None or new.lower() not in vocab):
            return new
    # Fallback: keep inserting characters until unseen.
    alphabet = DIGITS if tok.isdigit() else LETTERS
    new = tok
    while new.lower() == tok.lower() or (vocab is not None and new.lower() in vocab):
        k = rng.randrange(len(new) + 1)
        new = new[:k] + rng.choice(alphabet) + new[k:]
    return new


def perturb_text(text, rng, rate, vocab, stats):
    out, last = [], 0
    for m in TOKEN.finditer(text):
        out.append(text[last:m.start()])
        tok = m.group(0)
        stats["tokens"] += 1
        if rng.random() < rate:
            new = variant(tok, rng, vocab)
            stats["replaced"] += 1
            if vocab is None or new.lower() not in vocab:
                stats["unseen"] += 1
            tok = new
        out.append(tok)
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="pair CSV to perturb")
    p.add_argument("--output", required=True, help="where to write the perturbed CSV")
    p.add_argument("--train", help="training CSV whose tokens variants must avoid")
    p.add_argument("--rate", type=float, default=0.25, help="probability of replacing a token (default 0.25)")
    p.add_argument("--records", choices=("2", "both"), default="2", help="perturb record2 only (default) or both records")
    p.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    vocab = train_vocabulary(args.train) if args.train else None
    prefixes = ("record2_",) if args.records == "2" else ("record1_", "record2_")
    stats = {"rows": 0, "tokens": 0, "replaced": 0, "unseen": 0}
    with open(args.input, newline="", encoding="utf-8") as f_in, open(
        args.output, "w", newline="", encoding="utf-8"
    ) as f_out:
        reader = csv.reader(f_in)
        writer = csv.writer(f_out, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        cols = [i for i, h in enumerate(header) if h.startswith(prefixes)]
        for row in reader:
            stats["rows"] += 1
            for i in cols:
                row[i] = perturb_text(row[i], rng, args.rate, vocab, stats)
            writer.writerow(row)
    print(
        "{rows} rows; {tokens} tokens in perturbed records; {replaced} replaced "
        "({frac:.1%}); {unseen} replacements unseen in training".format(
            frac=stats["replaced"] / max(stats["tokens"], 1), **stats
        ),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
