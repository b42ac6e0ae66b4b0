//! `dedupe` and `link` end to end on generated tables (the library calls the CLI makes), and
//! every bad input named in the docs. One small model is trained once and shared.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use biome::demo::{FIELDS, TableRow, generate_table};
use biome::resolve::{
    BlockingRule, Clustering, NeighbourIndex, ResolveError, ResolveOptions, TableInput,
};
use biome::{BiomeError, Device, Pipeline, PipelineConfig};

/// A model trained on generated pairs (with validation pairs, so it stores a threshold).
fn model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let [train, validation, _] =
            biome::demo::write_splits(&dir.join("data"), (1600, 300, 10), 3).unwrap();
        let config = PipelineConfig::from_json_str(&common::config_json(6, false), "test").unwrap();
        let mut pipeline = Pipeline::from_config(config, Device::flex()).unwrap();
        let out = dir.join("model");
        pipeline
            .train(&train, Some(&validation), &out, false)
            .unwrap();
        out
    })
}

fn write_table(path: &Path, rows: &[TableRow], separator: &str, final_newline: bool) {
    let mut text = format!("rec_id{separator}entity_id");
    for f in FIELDS {
        text += &format!("{separator}{f}");
    }
    for r in rows {
        text += &format!("\n{}{separator}{}", r.rec_id, r.entity_id);
        for v in &r.person.fields {
            text += &format!("{separator}{v}");
        }
    }
    if final_newline {
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn input(path: &Path) -> TableInput {
    TableInput {
        path: path.to_path_buf(),
        id_column: "rec_id".into(),
        fields: None,
        entity_column: Some("entity_id".into()),
    }
}

fn options() -> ResolveOptions {
    ResolveOptions {
        neighbours: 10,
        block_on: [
            "surname",
            "postcode,date_of_birth",
            "given_name,date_of_birth",
        ]
        .iter()
        .map(|r| BlockingRule::parse(r).unwrap())
        .collect(),
        progress: false,
        ..ResolveOptions::default()
    }
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|row| row.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn dedupe_finds_the_duplicates_of_a_table_and_writes_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generate_table(400, 21);
    let table = dir.path().join("people.csv");
    write_table(&table, &rows, ",", true);
    let out = dir.path().join("out");
    let summary =
        biome::resolve::dedupe(model(), Device::flex(), &input(&table), &options(), &out).unwrap();

    // candidate generation loses (almost) no match on a table the model never saw
    let e = summary.evaluation.as_ref().expect("entity column given");
    assert!(
        e.blocking_recall >= 0.97,
        "blocking recall {}",
        e.blocking_recall
    );
    assert!(e.blocking_recall >= e.blocking_recall_rules);
    assert!(e.blocking_recall >= e.blocking_recall_neighbours);
    assert!(e.reduction_ratio > 0.9, "{}", e.reduction_ratio);
    // (a deliberately tiny model: the figures of real ones are in ACCURACY.md)
    assert!(e.clusters.f1 > 0.5, "cluster F1 {:?}", e.clusters);
    assert!(e.clusters_average_linkage.precision >= e.clusters_connected_components.precision);
    assert!(
        summary.threshold_from.contains("threshold.json"),
        "{}",
        summary.threshold_from
    );

    // clusters.csv: every id exactly once; pairs.csv: best first, none below the floor
    let clusters = read_csv(&out.join("clusters.csv"));
    let ids: HashSet<&str> = clusters.iter().map(|r| r[0].as_str()).collect();
    assert_eq!((clusters.len(), ids.len()), (rows.len(), rows.len()));
    let pairs = read_csv(&out.join("pairs.csv"));
    assert_eq!(pairs.len(), summary.reported_pairs);
    let probs: Vec<f32> = pairs.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]));
    assert!(probs.iter().all(|&p| p >= summary.report_floor));
    // accepted pairs all lie within one cluster when clustering by components
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["command"], "dedupe");
    assert!(summary["evaluation"]["clusters"]["f1"].as_f64().unwrap() > 0.5);
    assert!(summary["seconds"]["total"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_approximate_index_finds_nearly_the_neighbours_of_the_exact_search() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generate_table(10_000, 8);
    let table = dir.path().join("people.csv");
    write_table(&table, &rows, ",", true);
    let run = |index: NeighbourIndex, name: &str| {
        let opts = ResolveOptions {
            block_on: vec![],
            neighbours_index: index,
            ..options()
        };
        biome::resolve::dedupe(
            model(),
            Device::flex(),
            &input(&table),
            &opts,
            &dir.path().join(name),
        )
        .unwrap()
    };
    let exact = run(NeighbourIndex::Exact, "exact");
    let approx = run(NeighbourIndex::Approximate, "approx");
    // The summary says which search ran.
    assert_eq!(exact.candidates.neighbours_index, NeighbourIndex::Exact);
    assert_eq!(
        approx.candidates.neighbours_index,
        NeighbourIndex::Approximate
    );
    let (e, a) = (exact.evaluation.unwrap(), approx.evaluation.unwrap());
    assert!(
        a.blocking_recall_neighbours >= e.blocking_recall_neighbours - 0.02,
        "approximate {} against exact {}",
        a.blocking_recall_neighbours,
        e.blocking_recall_neighbours
    );
    // (the tiny test model: its exact neighbours find about 0.78 of the matches)
    assert!(
        e.blocking_recall_neighbours > 0.6,
        "{}",
        e.blocking_recall_neighbours
    );
}

#[test]
fn a_febrl_style_table_reads_like_a_clean_one_and_so_does_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generate_table(120, 5);
    let clean = dir.path().join("clean.csv");
    let quirky = dir.path().join("quirky.csv");
    write_table(&clean, &rows, ",", true);
    // FEBRL's export: a comma and a space between fields, no final line break
    write_table(&quirky, &rows, ", ", false);
    let jsonl = dir.path().join("table.jsonl");
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("rec_id".into(), r.rec_id.clone().into());
            o.insert("entity_id".into(), r.entity_id.into());
            for (f, v) in FIELDS.iter().zip(&r.person.fields) {
                o.insert(f.to_string(), v.clone().into());
            }
            serde_json::Value::Object(o).to_string()
        })
        .collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    let run = |table: &Path, name: &str| {
        let out = dir.path().join(name);
        biome::resolve::dedupe(model(), Device::flex(), &input(table), &options(), &out).unwrap();
        (
            read_csv(&out.join("clusters.csv")),
            read_csv(&out.join("pairs.csv")),
        )
    };
    let a = run(&clean, "a");
    assert_eq!(run(&quirky, "b"), a);
    assert_eq!(run(&jsonl, "c"), a);
}

#[test]
fn link_matches_each_right_record_once_with_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let rows = generate_table(600, 8);
    // left: the originals; right: the first duplicate of each entity that has one
    let left: Vec<TableRow> = rows
        .iter()
        .filter(|r| r.rec_id.ends_with("-org"))
        .cloned()
        .collect();
    let right: Vec<TableRow> = rows
        .iter()
        .filter(|r| r.rec_id.ends_with("-dup-0"))
        .cloned()
        .collect();
    let (l, r) = (dir.path().join("left.csv"), dir.path().join("right.csv"));
    write_table(&l, &left, ",", true);
    write_table(&r, &right, ",", true);
    let out = dir.path().join("out");
    let opts = ResolveOptions {
        one_to_one: true,
        ..options()
    };
    let summary =
        biome::resolve::link(model(), Device::flex(), &input(&l), &input(&r), &opts, &out).unwrap();
    let e = summary.evaluation.as_ref().unwrap();
    assert_eq!(e.true_pairs as usize, right.len());
    assert!(e.blocking_recall >= 0.97, "{}", e.blocking_recall);
    assert!(e.pairs.f1 > 0.6, "{:?}", e.pairs);
    let links = read_csv(&out.join("links.csv"));
    assert_eq!(links.len(), summary.links.unwrap());
    let lefts: HashSet<&str> = links.iter().map(|x| x[0].as_str()).collect();
    let rights: HashSet<&str> = links.iter().map(|x| x[1].as_str()).collect();
    assert_eq!(
        (lefts.len(), rights.len()),
        (links.len(), links.len()),
        "one to one"
    );
    let clusters = read_csv(&out.join("clusters.csv"));
    assert_eq!(clusters.len(), left.len() + right.len());
    let sides: HashMap<&str, usize> = clusters.iter().fold(HashMap::new(), |mut m, c| {
        *m.entry(c[0].as_str()).or_default() += 1;
        m
    });
    assert_eq!(sides["left"], left.len());
    assert_eq!(sides["right"], right.len());
}

#[test]
fn both_clusterings_are_reported_and_components_never_split_an_accepted_pair() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.csv");
    write_table(&table, &generate_table(300, 13), ",", true);
    let out = dir.path().join("out");
    let opts = ResolveOptions {
        clustering: Clustering::Components,
        threshold: Some(0.3),
        ..options()
    };
    let summary =
        biome::resolve::dedupe(model(), Device::flex(), &input(&table), &opts, &out).unwrap();
    assert_eq!(summary.threshold_from, "--threshold");
    let clusters: HashMap<String, String> = read_csv(&out.join("clusters.csv"))
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    for p in read_csv(&out.join("pairs.csv")) {
        if p[2].parse::<f32>().unwrap() >= 0.3 {
            assert_eq!(clusters[&p[0]], clusters[&p[1]], "{p:?}");
        }
    }
    let e = summary.evaluation.unwrap();
    assert_eq!(e.clusters, e.clusters_connected_components);
    // average linkage only ever refuses merges: never more predicted pairs
    assert!(
        e.clusters_average_linkage.counts.predicted
            <= e.clusters_connected_components.counts.predicted
    );
}

fn dedupe_err(
    table_text: &str,
    name: &str,
    opts: ResolveOptions,
    input_of: impl Fn(&Path) -> TableInput,
) -> BiomeError {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join(name);
    std::fs::write(&table, table_text).unwrap();
    let out = dir.path().join("out");
    let e = biome::resolve::dedupe(model(), Device::flex(), &input_of(&table), &opts, &out)
        .unwrap_err();
    assert!(!out.exists(), "{e}: an output folder was left");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{e}: {left:?}");
    e
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_no_output() {
    let header = format!("rec_id,entity_id,{}\n", FIELDS.join(","));
    let row = |id: &str| format!("{id},1,anna,smith,1,kent road,geelong,3220,vic,19800101\n");
    let duplicated = format!("{header}{}{}{}", row("a"), row("b"), row("a"));
    let e = dedupe_err(&duplicated, "t.csv", options(), input).to_string();
    assert!(
        e.contains("\"a\"") && e.contains("line 2") && e.contains("line 4"),
        "{e}"
    );

    let e = dedupe_err(&header, "t.csv", options(), input).to_string();
    assert!(e.contains("t.csv") && e.contains("no rows"), "{e}");

    let ok = format!("{header}{}{}", row("a"), row("b"));
    let e = dedupe_err(&ok, "t.csv", options(), |p| TableInput {
        id_column: "id".into(),
        ..input(p)
    })
    .to_string();
    assert!(e.contains("\"id\"") && e.contains("rec_id"), "{e}");

    let e = dedupe_err(&ok, "t.csv", options(), |p| TableInput {
        fields: Some(vec!["given_name".into(), "nope".into()]),
        ..input(p)
    })
    .to_string();
    assert!(e.contains("\"nope\""), "{e}");

    let mut missing_rule = options();
    missing_rule
        .block_on
        .push(BlockingRule::parse("city").unwrap());
    let e = dedupe_err(&ok, "t.csv", missing_rule, input).to_string();
    assert!(e.contains("\"city\"") && e.contains("surname"), "{e}");

    let no_header_fields = "rec_id,name\na,anna\n";
    let e = dedupe_err(no_header_fields, "t.csv", options(), |p| TableInput {
        fields: None,
        entity_column: None,
        ..input(p)
    });
    assert!(
        matches!(e, BiomeError::Resolve(ResolveError::DefaultFields { .. })),
        "{e}"
    );

    let e = dedupe_err(
        &ok,
        "t.csv",
        ResolveOptions {
            match_label: Some("same".into()),
            ..options()
        },
        input,
    )
    .to_string();
    assert!(e.contains("\"same\"") && e.contains("duplicate"), "{e}");

    let e = dedupe_err(
        &ok,
        "t.csv",
        ResolveOptions {
            threshold: Some(1.5),
            ..options()
        },
        input,
    )
    .to_string();
    assert!(e.contains("--threshold"), "{e}");

    let e = dedupe_err(
        &ok,
        "t.csv",
        ResolveOptions {
            neighbours: 0,
            block_on: vec![],
            ..options()
        },
        input,
    )
    .to_string();
    assert!(e.contains("no candidates"), "{e}");

    let cut = format!("{header}a,1,\"anna");
    let e = dedupe_err(&cut, "t.csv", options(), input).to_string();
    assert!(e.contains("line 2") && e.contains("quote"), "{e}");
}

#[test]
fn an_existing_output_is_refused_before_any_work_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t.csv");
    write_table(&table, &generate_table(40, 2), ",", true);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    let e = biome::resolve::dedupe(model(), Device::flex(), &input(&table), &options(), &out)
        .unwrap_err();
    assert!(
        matches!(e, BiomeError::Resolve(ResolveError::OutputExists(_))),
        "{e}"
    );
    assert!(out.join("mine.txt").exists());
    let opts = ResolveOptions {
        overwrite: true,
        ..options()
    };
    biome::resolve::dedupe(model(), Device::flex(), &input(&table), &opts, &out).unwrap();
    assert!(!out.join("mine.txt").exists() && out.join("clusters.csv").exists());
}

#[test]
fn records_encoded_on_every_core_equal_each_record_encoded_alone_in_input_order() {
    let pipeline = Pipeline::load(model(), Device::flex()).unwrap();
    let records: Vec<biome_core::Record> = generate_table(300, 5)
        .into_iter()
        .map(|r| biome_core::Record::Fields(r.person.fields.to_vec()))
        .collect();
    let seen = std::sync::atomic::AtomicUsize::new(0);
    // 7 to a batch: 43 batches, spread over the pool's workers in any order.
    let all = pipeline
        .encode_records(&records, 7, &|done| {
            seen.fetch_max(done, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(seen.into_inner(), records.len());
    assert_eq!(all.data.len(), records.len() * all.dim);
    for (i, record) in records.iter().enumerate() {
        let alone = pipeline.encode(std::slice::from_ref(record)).unwrap();
        for (a, b) in alone[0].iter().zip(all.row(i)) {
            assert!((a - b).abs() < 1e-5, "record {i}: {a} vs {b}");
        }
    }
    let empty = pipeline.encode_records(&[], 7, &|_| {}).unwrap();
    assert!(empty.data.is_empty());
}
