#!/usr/bin/env python3
"""Splink (DuckDB backend) anchor for biome's `dedupe` / `link` benchmarks.

Runs Splink 5 end to end on one table (dedupe) or two tables (link):
read -> train (prior, u by random sampling, m by EM) -> block + predict ->
cluster, times each phase, and scores the result against the true entities
with the same definitions biome uses (see README.md next to this file).

    splink_anchor.py dedupe --table T --id-column rec_id \
        [--entity-column C | --entity-from-id REGEX] [--fields f1,f2,...] --out r.json
    splink_anchor.py link --left A --right B --id-column rec_id ... --out r.json

Needs only `pip install splink` (which brings duckdb, pyarrow, sqlglot).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import re
import resource
import sys
import time

import duckdb
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

FEBRL_COLUMNS = {
    "given_name", "surname", "street_number", "address_1", "address_2",
    "suburb", "postcode", "state", "date_of_birth", "soc_sec_id",
}
DEFAULT_SWEEP = [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999]
# The FEBRL4 tutorial clusters at 0.99 (the FEBRL3 one stops at predict).
TUTORIAL_THRESHOLD = 0.99


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB; includes DuckDB's in-process memory.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def q(con, sql: str) -> list:
    """Run SQL and fetch every row (DuckDB 2 refuses further work on a connection
    while a result from execute() is unfinished)."""
    return con.execute(sql).fetchall()


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qstr(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# --------------------------------------------------------------------------- read

def read_table(con, path: str, name: str, args) -> tuple[str, list[str]]:
    """Read a CSV into DuckDB table `name`: every column VARCHAR, header names and
    values trimmed (FEBRL separates fields by ", "), empty strings as NULL, plus
    an `__entity` column with the true entity. Returns (table name, data columns)."""
    raw = f"{name}__raw"
    q(con, 
        f"CREATE OR REPLACE TEMP TABLE {raw} AS SELECT * FROM read_csv("
        f"{qstr(path)}, delim={qstr(args.delimiter)}, header=true, all_varchar=true, "
        f"quote='\"', escape='\"', strict_mode=false, null_padding=true)"
    )
    cols = [r[0] for r in q(con, f"DESCRIBE {raw}")]
    exprs, out_cols = [], []
    for c in cols:
        clean = c.strip()
        if not clean:
            continue
        exprs.append(f"NULLIF(TRIM({qident(c)}), '') AS {qident(clean)}")
        out_cols.append(clean)
    if args.id_column not in out_cols:
        sys.exit(f"{path}: no id column {args.id_column!r} (columns: {out_cols})")
    if args.entity_column:
        if args.entity_column not in out_cols:
            sys.exit(f"{path}: no entity column {args.entity_column!r}")
        ent = f"NULLIF(TRIM({qident(next(c for c in cols if c.strip() == args.entity_column))}), '')"
    else:
        id_raw = qident(next(c for c in cols if c.strip() == args.id_column))
        ent = f"NULLIF(regexp_extract(TRIM({id_raw}), {qstr(args.entity_from_id)}, 1), '')"
    q(con, 
        f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(exprs)}, {ent} AS __entity FROM {raw}"
    )
    q(con, f"DROP TABLE {raw}")
    n, n_noent, n_ids = q(con, 
        f"SELECT count(*), count(*) - count(__entity), count(DISTINCT {qident(args.id_column)}) FROM {name}"
    )[0]
    if n_noent:
        sys.exit(f"{path}: {n_noent} of {n} records have no entity (check --entity-*)")
    if n_ids != n:
        sys.exit(f"{path}: id column {args.id_column!r} is not unique ({n_ids} ids, {n} rows)")
    return name, out_cols


# ---------------------------------------------------------------- model set-up

def febrl_model(mode: str, blocking: str):
    """The FEBRL configuration of Splink's own tutorials (docs/demos/examples/
    duckdb/febrl3 and febrl4): comparisons and training exactly as there; blocking
    either the tutorials' own rules or an OR of two-field rules."""
    if blocking == "tutorial":
        if mode == "dedupe":  # febrl3 tutorial
            rules = [block_on("soc_sec_id"), block_on("given_name"), block_on("surname"),
                     block_on("date_of_birth"), block_on("postcode")]
        else:  # febrl4 tutorial
            rules = [block_on("given_name", "surname"),
                     "l.given_name = r.surname and l.surname = r.given_name",
                     block_on("date_of_birth"), block_on("soc_sec_id"),
                     block_on("state", "address_1"), block_on("street_number", "address_1"),
                     block_on("postcode")]
    else:  # "pairs": eight two-field rules, every combination of the two names,
        # date of birth and postcode, plus the id with date of birth / postcode;
        # and the tutorial's swapped-names rule
        keys = ["given_name", "surname", "date_of_birth", "postcode"]
        rules = [block_on(a, b) for a, b in itertools.combinations(keys, 2)]
        rules += [block_on("soc_sec_id", "date_of_birth"), block_on("soc_sec_id", "postcode"),
                  "l.given_name = r.surname and l.surname = r.given_name"]
    if mode == "dedupe":  # febrl3 tutorial
        comparisons = [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        deterministic = [block_on("soc_sec_id"),
                         block_on("given_name", "surname", "date_of_birth"),
                         "l.given_name = r.surname and l.surname = r.given_name "
                         "and l.date_of_birth = r.date_of_birth"]
        prior_recall, u_seed, em_no_tf = 0.9, 2, False
    else:  # febrl4 tutorial, "detailed model"
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d", invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True),
        ]
        deterministic = [block_on("soc_sec_id"),
                         block_on("given_name", "surname", "date_of_birth")]
        prior_recall, u_seed, em_no_tf = 0.8, None, True
    return dict(
        rules=rules, comparisons=comparisons, deterministic=deterministic,
        prior_recall=prior_recall, u_seed=u_seed,
        em_rules=[block_on("date_of_birth"), block_on("postcode")], em_no_tf=em_no_tf,
        description={"config": "febrl-tutorial", "blocking": blocking},
    )


def classify(con, tables: list[str], col: str) -> str:
    lc = col.lower()
    union = " UNION ALL ".join(f"SELECT {qident(col)} AS v FROM {t}" for t in tables)
    distinct, maxlen, digits, dashed = q(con, 
        f"SELECT count(DISTINCT v), max(length(v)), "
        f"avg(CASE WHEN regexp_full_match(v, '[0-9]+') THEN 1 ELSE 0 END), "
        f"avg(CASE WHEN regexp_full_match(v, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') THEN 1 ELSE 0 END) "
        f"FROM ({union}) WHERE v IS NOT NULL"
    )[0]
    if distinct is None or distinct == 0:
        return "skip"
    if re.search(r"(^|_)(dob|birth)|date", lc):
        if (dashed or 0) > 0.5:
            return "date:%Y-%m-%d"
        if (digits or 0) > 0.5 and maxlen == 8:
            return "date:%Y%m%d"
        return "lev"
    if "name" in lc:
        return "name"
    if "postcode" in lc or "zip" in lc or "post_code" in lc:
        return "postcode"
    if distinct <= 60:
        return "exact"
    if (digits or 0) > 0.9:
        return "id" if (maxlen or 0) >= 6 else "exact_tf"
    return "lev"


def generic_model(con, mode: str, tables: list[str], fields: list[str]):
    """A generic configuration chosen from the columns: names get Splink's
    NameComparison (Jaro-Winkler 0.92/0.88/0.7, term frequencies on exact),
    dates DateOfBirthComparison, postcodes / long numeric ids Damerau-Levenshtein
    1/2, short numbers exact with term frequencies, low-cardinality columns exact,
    other text Levenshtein 1/2. Blocking: OR of every two-field combination of the
    name / date-of-birth / postcode columns present."""
    kinds = {f: classify(con, tables, f) for f in fields}
    comparisons = []
    for f, k in kinds.items():
        if k == "name":
            comparisons.append(cl.NameComparison(f))
        elif k.startswith("date:"):
            comparisons.append(cl.DateOfBirthComparison(
                f, input_is_string=True, datetime_format=k[5:], invalid_dates_as_null=True))
        elif k == "postcode":
            comparisons.append(cl.DamerauLevenshteinAtThresholds(f, [1, 2]).configure(
                term_frequency_adjustments=True))
        elif k == "id":
            comparisons.append(cl.DamerauLevenshteinAtThresholds(f, [1, 2]))
        elif k == "exact_tf":
            comparisons.append(cl.ExactMatch(f).configure(term_frequency_adjustments=True))
        elif k == "exact":
            comparisons.append(cl.ExactMatch(f))
        elif k == "lev":
            comparisons.append(cl.LevenshteinAtThresholds(f, [1, 2]))
    names = [f for f, k in kinds.items() if k == "name"]
    given = next((f for f in names if re.search(r"given|first|fore", f.lower())), None)
    sur = next((f for f in names if re.search(r"sur|last|family", f.lower())), None)
    dob = next((f for f, k in kinds.items() if k.startswith("date:")), None)
    pc = next((f for f, k in kinds.items() if k == "postcode"), None)
    keys = [f for f in [given, sur, dob, pc] if f] or [f for f in names if f][:2]
    if len(keys) >= 2:
        rules = [block_on(a, b) for a, b in itertools.combinations(keys, 2)]
    else:
        rules = [block_on(k) for k in keys] or [block_on(fields[0])]
    if given and sur:
        rules.append(f"l.{qident(given)} = r.{qident(sur)} and l.{qident(sur)} = r.{qident(given)}")
    # EM over two rules whose fields are disjoint, so each comparison gets trained once.
    if len(keys) >= 4:
        em = [block_on(keys[1], keys[2]), block_on(keys[0], keys[3])]
    elif len(keys) >= 2:
        em = [block_on(keys[0]), block_on(keys[1])]
    else:
        em = [rules[0]]
    deterministic = [block_on(*[f for f in [given, sur, dob] if f])] if (given and sur and dob) else None
    return dict(
        rules=rules, comparisons=comparisons, deterministic=deterministic, prior_recall=0.8,
        u_seed=None, em_rules=em, em_no_tf=True,
        description={"config": "generic", "field_kinds": kinds},
    )


# ------------------------------------------------------------------- evaluation

def evaluate(con, mode, pred, clusters_by_t, entity_tables, id_col, threshold, sweep):
    """All metrics with biome's definitions, computed in DuckDB from the true entities."""
    idl, idr = qident(id_col + "_l"), qident(id_col + "_r")
    pcols = {r[0] for r in q(con, f"DESCRIBE {pred}")}
    # entity lookup keyed by (source dataset, id)
    q(con, "CREATE OR REPLACE TEMP TABLE __ent AS " + " UNION ALL ".join(
        f"SELECT {qstr(ds)} AS ds, {qident(id_col)} AS uid, __entity AS ent FROM {t}"
        for ds, t in entity_tables.items()))
    if "source_dataset_l" in pcols:
        jl, jr = "p.source_dataset_l = el.ds AND", "p.source_dataset_r = er.ds AND"
    else:
        jl = jr = ""
    q(con, 
        f"CREATE OR REPLACE TEMP TABLE __pairs AS SELECT p.match_probability AS prob, "
        f"(el.ent = er.ent) AS same FROM {pred} p "
        f"JOIN __ent el ON {jl} p.{idl} = el.uid JOIN __ent er ON {jr} p.{idr} = er.uid")
    n_pred_rows = q(con, f"SELECT count(*) FROM {pred}")[0][0]
    n_joined, true_cand = q(con, 
        "SELECT count(*), count(*) FILTER (WHERE same) FROM __pairs")[0]
    assert n_joined == n_pred_rows, (n_joined, n_pred_rows)

    sizes = {ds: q(con, f"SELECT count(*) FROM {t}")[0][0]
             for ds, t in entity_tables.items()}
    if mode == "dedupe":
        (n,) = sizes.values()
        all_pairs = n * (n - 1) // 2
        true_pairs = q(con, 
            "SELECT coalesce(sum(c * (c - 1) // 2), 0) FROM (SELECT count(*) c FROM __ent GROUP BY ent)"
        )[0][0]
    else:
        a, b = sizes["left"], sizes["right"]
        all_pairs = a * b
        true_pairs = q(con, 
            "SELECT coalesce(sum(nl * nr), 0) FROM (SELECT count(*) FILTER (WHERE ds='left') nl, "
            "count(*) FILTER (WHERE ds='right') nr FROM __ent GROUP BY ent)")[0][0]
    true_pairs = int(true_pairs)

    def prf(tp, predicted, truth):
        p = tp / predicted if predicted else 0.0
        r = tp / truth if truth else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"predicted": int(predicted), "true_positive": int(tp),
                "precision": p, "recall": r, "f1": f}

    def pair_metrics(t):
        predicted, tp = q(con, 
            f"SELECT count(*) FILTER (WHERE prob >= {t!r}), "
            f"count(*) FILTER (WHERE prob >= {t!r} AND same) FROM __pairs")[0]
        return prf(tp, predicted, true_pairs)

    def cluster_metrics(ctab):
        ccols = {r[0] for r in q(con, f"DESCRIBE {ctab}")}
        jc = "c.source_dataset = e.ds AND" if "source_dataset" in ccols else ""
        q(con, 
            f"CREATE OR REPLACE TEMP TABLE __cl AS SELECT c.cluster_id AS cid, e.ds, e.ent "
            f"FROM {ctab} c JOIN __ent e ON {jc} c.{qident(id_col)} = e.uid")
        n_cl_rows = q(con, "SELECT count(*) FROM __cl")[0][0]
        assert n_cl_rows == sum(sizes.values()), (n_cl_rows, sizes)
        if mode == "dedupe":
            predicted = q(con, 
                "SELECT coalesce(sum(c*(c-1)//2),0) FROM (SELECT count(*) c FROM __cl GROUP BY cid)")[0][0]
            tp = q(con, 
                "SELECT coalesce(sum(c*(c-1)//2),0) FROM (SELECT count(*) c FROM __cl GROUP BY cid, ent)")[0][0]
        else:
            tmpl = ("SELECT coalesce(sum(nl*nr),0) FROM (SELECT count(*) FILTER (WHERE ds='left') nl, "
                 "count(*) FILTER (WHERE ds='right') nr FROM __cl GROUP BY {g})")
            predicted = q(con, tmpl.format(g="cid"))[0][0]
            tp = q(con, tmpl.format(g="cid, ent"))[0][0]
        dist = q(con, 
            "SELECT s, count(*) FROM (SELECT count(*) s FROM __cl GROUP BY cid) GROUP BY s ORDER BY s")
        m = prf(tp, predicted, true_pairs)
        m["n_clusters"] = int(sum(c for _, c in dist))
        m["size_distribution"] = {str(s): int(c) for s, c in dist}
        return m

    out = {
        "records": sizes,
        "all_possible_pairs": all_pairs,
        "true_matching_pairs": true_pairs,
        "candidate_pairs": int(n_pred_rows),
        "true_pairs_among_candidates": int(true_cand),
        "blocking_recall": true_cand / true_pairs if true_pairs else 0.0,
        "reduction_ratio": 1.0 - n_pred_rows / all_pairs if all_pairs else 0.0,
        "threshold": threshold,
        "pairwise": pair_metrics(threshold),
        "cluster": cluster_metrics(clusters_by_t[threshold]),
    }
    if sweep:
        rows = []
        for t in sweep:
            row = {"threshold": t, "pairwise": pair_metrics(t)}
            if t in clusters_by_t:
                row["cluster"] = cluster_metrics(clusters_by_t[t])
                del row["cluster"]["size_distribution"]
            rows.append(row)
        out["sweep"] = rows
        best = max(rows, key=lambda r: r.get("cluster", r["pairwise"])["f1"])
        out["sweep_f1_best_threshold"] = {
            "threshold": best["threshold"],
            "by": "cluster f1" if "cluster" in best else "pairwise f1",
            "note": "chosen with knowledge of the labels; not a fair operating point",
        }
    return out


# ------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for mode in ("dedupe", "link"):
        p = sub.add_parser(mode)
        if mode == "dedupe":
            p.add_argument("--table", required=True)
        else:
            p.add_argument("--left", required=True)
            p.add_argument("--right", required=True)
        p.add_argument("--id-column", required=True)
        g = p.add_mutually_exclusive_group()
        g.add_argument("--entity-column")
        g.add_argument("--entity-from-id", default=r"^rec-(\d+)-",
                       help="regex whose group 1, applied to the id, is the entity "
                            "(default: FEBRL's rec-<entity>-org / rec-<entity>-dup-<k>)")
        p.add_argument("--fields", help="comma-separated columns to compare (default: all but id/entity)")
        p.add_argument("--config", choices=["auto", "febrl", "generic"], default="auto",
                       help="febrl = Splink's FEBRL tutorial model; auto picks it when the "
                            "FEBRL columns are all present and --fields is not given")
        p.add_argument("--blocking", choices=["pairs", "tutorial"], default="pairs",
                       help="febrl config only: two-field OR rules (default) or the tutorial's own rules")
        p.add_argument("--threshold", type=float, default=TUTORIAL_THRESHOLD,
                       help="match probability for pairs and clusters (default 0.99, as the FEBRL4 tutorial)")
        p.add_argument("--sweep", default=",".join(map(str, DEFAULT_SWEEP)),
                       help="thresholds to also evaluate ('' for none); clustered too")
        p.add_argument("--u-max-pairs", type=float, default=1e6, help="as the tutorials: 1e6")
        p.add_argument("--em-max-pairs", type=float, default=None,
                       help="cap on EM training pairs (Splink samples); default none")
        p.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: DuckDB's)")
        p.add_argument("--delimiter", default=",")
        p.add_argument("--verbose", action="store_true", help="Splink's own INFO log")
        p.add_argument("--out", required=True)
        p.add_argument("--dump", metavar="PREFIX",
                       help="also write PREFIX_pairs.csv (every scored candidate) and "
                            "PREFIX_clusters.csv (clusters at --threshold)")
    args = ap.parse_args(argv)
    sweep = [float(x) for x in args.sweep.split(",") if x.strip()]

    times = {}
    t_start = time.perf_counter()

    # ---- read
    t0 = time.perf_counter()
    con = duckdb.connect()
    if args.threads:
        q(con, f"SET threads = {int(args.threads)}")
    paths = {"input": args.table} if args.mode == "dedupe" else {"left": args.left, "right": args.right}
    tables, colsets = {}, []
    for ds, path in paths.items():
        t, cols = read_table(con, path, f"t_{ds}", args)
        tables[ds] = t
        colsets.append(cols)
    common = [c for c in colsets[0] if all(c in cs for cs in colsets)]
    excluded = {args.id_column, args.entity_column}
    if args.fields:
        fields = [f.strip() for f in args.fields.split(",") if f.strip()]
        missing = [f for f in fields if f not in common]
        if missing:
            sys.exit(f"--fields not in every table: {missing}")
    else:
        fields = [c for c in common if c not in excluded]
    # Splink sees only id + fields (the entity stays out of its reach).
    db_api = DuckDBAPI(connection=con)
    sel = ", ".join(qident(c) for c in [args.id_column] + fields)
    # register views (no copy) so Splink reads straight from the DuckDB tables
    sdfs = []
    for ds, t in tables.items():
        q(con, f"CREATE OR REPLACE VIEW v_{ds} AS SELECT {sel} FROM {t}")
        sdfs.append(db_api.register(f"v_{ds}", dataset_display_name=ds))
    times["read"] = time.perf_counter() - t0

    use_febrl = args.config == "febrl" or (
        args.config == "auto" and not args.fields and FEBRL_COLUMNS <= set(common))
    model = febrl_model(args.mode, args.blocking) if use_febrl else \
        generic_model(con, args.mode, list(tables.values()), fields)
    settings = SettingsCreator(
        unique_id_column_name=args.id_column,
        link_type="dedupe_only" if args.mode == "dedupe" else "link_only",
        blocking_rules_to_generate_predictions=model["rules"],
        comparisons=model["comparisons"],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings,
                    log_level=logging.INFO if args.verbose else logging.WARNING)

    # ---- training
    t0 = time.perf_counter()
    if model["deterministic"]:
        linker.training.estimate_probability_two_random_records_match(
            model["deterministic"], recall=model["prior_recall"])
    t_prior = time.perf_counter() - t0
    u_kw = {"seed": model["u_seed"]} if model["u_seed"] is not None else {}
    # (Splink logs that 1e6 "may be too small"; 1e6 is what both FEBRL tutorials use)
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_max_pairs, **u_kw)
    t_u = time.perf_counter() - t0 - t_prior
    for rule in model["em_rules"]:
        kw = {"max_pairs": args.em_max_pairs} if args.em_max_pairs else {}
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=model["em_no_tf"], **kw)
    times["training"] = time.perf_counter() - t0
    times["training_prior"] = t_prior
    times["training_u"] = t_u
    times["training_em"] = times["training"] - t_prior - t_u

    # ---- blocking + predict (every candidate pair scored: no threshold, so that
    # candidate pairs and blocking recall can be counted from the output)
    t0 = time.perf_counter()
    pred = linker.inference.predict()
    n_cand = q(con, f"SELECT count(*) FROM {pred.physical_name}")[0][0]
    times["blocking_predict"] = time.perf_counter() - t0

    # ---- clustering at the chosen threshold
    t0 = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=args.threshold)
    q(con, f"SELECT count(*) FROM {clusters.physical_name}")[0]
    times["clustering"] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - t_start
    rss_pipeline = peak_rss_mib()

    # ---- untimed extras: clusters at the sweep thresholds, evaluation
    t0 = time.perf_counter()
    clusters_by_t = {args.threshold: clusters.physical_name}
    for t in sweep:
        if t not in clusters_by_t:
            clusters_by_t[t] = linker.clustering.cluster_pairwise_predictions_at_threshold(
                pred, threshold_match_probability=t).physical_name
    times["sweep_clustering_untimed_in_total"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    entity_tables = tables if args.mode == "link" else {"input": tables["input"]}
    metrics = evaluate(con, args.mode, pred.physical_name, clusters_by_t, entity_tables,
                       args.id_column, args.threshold, sweep)
    times["evaluation_untimed_in_total"] = time.perf_counter() - t0
    assert metrics["candidate_pairs"] == n_cand

    if args.dump:
        cols = {r[0] for r in q(con, f"DESCRIBE {pred.physical_name}")}
        sd = "source_dataset_l, source_dataset_r, " if "source_dataset_l" in cols else ""
        q(con, f"COPY (SELECT {sd}{qident(args.id_column + '_l')}, {qident(args.id_column + '_r')}, "
               f"match_weight, match_probability FROM {pred.physical_name}) "
               f"TO {qstr(args.dump + '_pairs.csv')} (HEADER)")
        ccols = {r[0] for r in q(con, f"DESCRIBE {clusters.physical_name}")}
        sd = "source_dataset, " if "source_dataset" in ccols else ""
        q(con, f"COPY (SELECT {sd}{qident(args.id_column)}, cluster_id FROM {clusters.physical_name}) "
               f"TO {qstr(args.dump + '_clusters.csv')} (HEADER)")

    desc = model["description"]
    result = {
        "tool": "splink",
        "versions": {"splink": splink.__version__, "duckdb": duckdb.__version__,
                     "python": platform.python_version()},
        "mode": args.mode,
        "inputs": paths,
        "id_column": args.id_column,
        "entity": {"column": args.entity_column} if args.entity_column else {"from_id": args.entity_from_id},
        "fields": fields,
        "model": {
            **desc,
            "blocking_rules": [r if isinstance(r, str) else r.get_blocking_rule("duckdb").blocking_rule_sql
                               for r in model["rules"]],
            "em_blocking_rules": [r if isinstance(r, str) else r.get_blocking_rule("duckdb").blocking_rule_sql
                                  for r in model["em_rules"]],
            "comparisons": [c.get_comparison("duckdb").output_column_name for c in model["comparisons"]],
            "probability_two_random_records_match": linker._settings_obj._probability_two_random_records_match,
            "u_max_pairs": args.u_max_pairs,
            "em_max_pairs": args.em_max_pairs,
            "threshold_source": "tutorial (FEBRL4 clusters at 0.99)" if args.threshold == TUTORIAL_THRESHOLD
                                else "given on the command line",
        },
        "duckdb_threads": q(con, "SELECT current_setting('threads')")[0][0],
        "cpu_count": os.cpu_count(),
        "times_s": times,
        "peak_rss_mib": {"after_pipeline": rss_pipeline, "at_end": peak_rss_mib()},
        **metrics,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)

    m = result
    print(f"splink {splink.__version__} / duckdb {duckdb.__version__}  {args.mode}  "
          f"config={desc['config']}{' blocking=' + desc['blocking'] if 'blocking' in desc else ''}")
    print(f"  records {m['records']}  candidates {m['candidate_pairs']:,}  "
          f"blocking recall {m['blocking_recall']:.4f}  reduction ratio {m['reduction_ratio']:.6f}")
    for k in ("pairwise", "cluster"):
        x = m[k]
        print(f"  {k:8s} @{args.threshold}: P {x['precision']:.4f}  R {x['recall']:.4f}  F1 {x['f1']:.4f}")
    if sweep:
        for r in m["sweep"]:
            c = r.get("cluster", {})
            print(f"    sweep {r['threshold']:<6} pair F1 {r['pairwise']['f1']:.4f}  "
                  f"cluster F1 {c.get('f1', float('nan')):.4f}")
        print(f"  F1-best threshold (knows the labels): {m['sweep_f1_best_threshold']['threshold']}")
    print("  times " + "  ".join(f"{k} {v:.2f}s" for k, v in times.items()))
    print(f"  peak RSS {m['peak_rss_mib']['after_pipeline']:.0f} MiB (pipeline), "
          f"{m['peak_rss_mib']['at_end']:.0f} MiB (end)")
    print(f"  cluster sizes {m['cluster']['size_distribution']}")


if __name__ == "__main__":
    main()
