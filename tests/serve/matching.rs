//! Online matching (`POST /match` with `--index`): a small generated table is indexed with the
//! fixture's model; the record of a row finds that row first, every candidate's probability is
//! the one `biome dedupe` gives the same pair, an index of another model or a damaged one stops
//! the server at start, and without an index `/match` is a JSON 404.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use biome::demo::{FIELDS, TableRow};
use biome::resolve::{ResolveOptions, TableInput};
use biome::serve::{MAX_TOP_K, ServeOptions, Server};
use biome::{Device, Pipeline};
use serde_json::{Value, json};

use super::overload::start_with;
use super::{Client, common, fixture};

struct Indexed {
    table: PathBuf,
    index: PathBuf,
    rows: Vec<TableRow>,
}

const ROWS: usize = 60;

fn input(table: &Path) -> TableInput {
    TableInput {
        path: table.to_path_buf(),
        id_column: "rec_id".into(),
        fields: None,
        entity_column: None,
    }
}

fn quiet() -> ResolveOptions {
    ResolveOptions {
        progress: false,
        ..ResolveOptions::default()
    }
}

/// The generated table and its index under the fixture's model.
fn indexed() -> &'static Indexed {
    static INDEXED: OnceLock<Indexed> = OnceLock::new();
    INDEXED.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("serve-index")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let rows = biome::demo::generate_table(ROWS, 5);
        let table = dir.join("table.csv");
        biome::demo::write_table_csv(&table, &rows).unwrap();
        let index = dir.join("table.bix");
        let (n, _) = biome::resolve::index_table(
            &fixture().model,
            Device::flex(),
            &input(&table),
            &quiet(),
            &index,
        )
        .unwrap();
        assert_eq!(n, ROWS);
        Indexed { table, index, rows }
    })
}

fn record_json(row: &TableRow) -> Value {
    let fields: serde_json::Map<String, Value> = FIELDS
        .iter()
        .zip(&row.person.fields)
        .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
        .collect();
    Value::Object(fields)
}

fn post_match(client: &mut Client, body: &[u8]) -> super::Response {
    client
        .request("POST", "/match", Some("application/json"), body)
        .unwrap()
}

fn start_indexed(index: &Path) -> Server {
    let index = index.to_path_buf();
    start_with(move |o: &mut ServeOptions| o.index = Some(index))
}

#[test]
fn a_row_of_the_table_finds_itself_first_scored_as_dedupe_scores_the_pair() {
    let ix = indexed();
    // dedupe over every pair of the table (neighbours = n - 1, nothing left out of pairs.csv)
    let out = ix.table.with_file_name("dedupe");
    let summary = biome::resolve::dedupe(
        &fixture().model,
        Device::flex(),
        &input(&ix.table),
        &ResolveOptions {
            neighbours: ROWS - 1,
            report_floor: 0.0,
            overwrite: true,
            ..quiet()
        },
        &out,
    )
    .unwrap();
    assert_eq!(summary.scored_pairs, ROWS * (ROWS - 1) / 2);
    let mut dedupe: HashMap<(String, String), f64> = HashMap::new();
    let mut reader = csv::Reader::from_path(out.join("pairs.csv")).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        let p: f64 = row[2].parse().unwrap();
        dedupe.insert((row[0].to_string(), row[1].to_string()), p);
        dedupe.insert((row[1].to_string(), row[0].to_string()), p);
    }

    let server = start_indexed(&ix.index);
    let mut client = Client::connect(server.addr());
    let model = client.get("/model").json();
    assert_eq!(model["index"]["records"], ROWS);
    let threshold = model["index"]["threshold"].as_f64().unwrap();
    assert!((threshold - summary.threshold as f64).abs() < 1e-7);

    let mut compared = 0;
    for row in ix.rows.iter().step_by(7) {
        let body = json!({"record": record_json(row), "top_k": 12});
        let r = post_match(&mut client, body.to_string().as_bytes());
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let answer = r.json();
        let matches = answer["matches"].as_array().unwrap();
        assert_eq!(matches.len(), 12);
        assert_eq!(matches[0]["id"], row.rec_id.as_str(), "{answer}");
        let probs: Vec<f64> = matches
            .iter()
            .map(|m| m["probability"].as_f64().unwrap())
            .collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
        assert!((matches[0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-4);
        for m in matches {
            let p = m["probability"].as_f64().unwrap();
            assert_eq!(m["match"].as_bool().unwrap(), p >= threshold, "{m}");
            let id = m["id"].as_str().unwrap();
            if id == row.rec_id {
                continue;
            }
            // pairs.csv has 6 decimals
            let want = dedupe[&(row.rec_id.clone(), id.to_string())];
            assert!(
                (p - want).abs() < 2e-6,
                "{} ~ {id}: {p} vs dedupe {want}",
                row.rec_id
            );
            compared += 1;
        }
    }
    assert!(compared >= 9 * 11, "{compared}");

    // top_k defaults to 10 and the index is loaded again with the model on a reload
    server.reload().unwrap();
    let body = json!({"record": record_json(&ix.rows[3])});
    let r = post_match(
        &mut Client::connect(server.addr()),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-model-generation"), Some("2"));
    let answer = r.json();
    assert_eq!(answer["matches"].as_array().unwrap().len(), 10);
    assert_eq!(answer["matches"][0]["id"], ix.rows[3].rec_id.as_str());
    server.shutdown().unwrap();
}

#[test]
fn an_index_of_another_model_or_a_damaged_one_stops_the_server_at_start() {
    let ix = indexed();
    let start = |index: &Path| {
        let mut options = ServeOptions::new(&fixture().model);
        options.device = Device::flex();
        options.port = 0;
        options.index = Some(index.to_path_buf());
        Server::start(options).err().expect("refused").to_string()
    };
    // another model: trained here on the same data with other settings
    let dir = tempfile::tempdir().unwrap();
    let [train, _, _] = common::write_data(dir.path());
    let config =
        biome::PipelineConfig::from_file(common::write_config(dir.path(), 1, false)).unwrap();
    let other = dir.path().join("model");
    Pipeline::from_config(config, Device::flex())
        .unwrap()
        .train(&train, None, &other, false)
        .unwrap();
    let other_index = dir.path().join("other.bix");
    biome::resolve::index_table(
        &other,
        Device::flex(),
        &input(&ix.table),
        &quiet(),
        &other_index,
    )
    .unwrap();
    let e = start(&other_index);
    assert!(e.contains("encoded by another model"), "{e}");

    let mut bytes = std::fs::read(&ix.index).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = dir.path().join("damaged.bix");
    std::fs::write(&damaged, &bytes).unwrap();
    let e = start(&damaged);
    assert!(e.contains("damaged") && e.contains("checksum"), "{e}");
    let e = start(&dir.path().join("missing.bix"));
    assert!(e.contains("missing.bix"), "{e}");
}

#[test]
fn match_without_an_index_is_404_and_bad_bodies_are_400_or_422() {
    let ix = indexed();
    let plain = start_with(|_| {});
    let mut client = Client::connect(plain.addr());
    let body = json!({"record": record_json(&ix.rows[0])}).to_string();
    let r = post_match(&mut client, body.as_bytes());
    assert_eq!(r.status, 404);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("--index"), "{error}");
    assert!(client.get("/model").json()["index"].is_null());
    plain.shutdown().unwrap();

    let server = start_indexed(&ix.index);
    let mut client = Client::connect(server.addr());
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("nope", 400, None),
        ("[]", 400, None),
        (r#"{"top_k": 3}"#, 400, Some("record")),
        (r#"{"record": true}"#, 400, Some("record")),
        (r#"{"record": ["", ""]}"#, 400, Some("record")),
        (r#"{"record": "a", "topk": 3}"#, 400, None),
        (r#"{"record": "a", "top_k": 0}"#, 422, Some("top_k")),
        (r#"{"record": "a", "top_k": "5"}"#, 422, Some("top_k")),
    ];
    for &(body, status, field) in cases {
        let r = post_match(&mut client, body.as_bytes());
        assert_eq!(
            r.status,
            status,
            "{body}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        let answer = r.json();
        assert!(answer["error"].is_string(), "{body}: {answer}");
        assert_eq!(answer["field"].as_str(), field, "{body}: {answer}");
    }
    let over = format!(r#"{{"record": "a", "top_k": {}}}"#, MAX_TOP_K + 1);
    assert_eq!(post_match(&mut client, over.as_bytes()).status, 422);
    // more than the index holds: every record once
    let all = json!({"record": record_json(&ix.rows[0]), "top_k": MAX_TOP_K}).to_string();
    let r = post_match(&mut client, all.as_bytes());
    assert_eq!(r.status, 200);
    let ids: std::collections::HashSet<String> = r.json()["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), ROWS);
    let r = client.get("/match");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    server.shutdown().unwrap();
}

#[test]
fn a_match_takes_a_place_in_the_queue_and_is_refused_503_when_it_is_full() {
    let ix = indexed();
    let index = ix.index.clone();
    let server = start_with(move |o: &mut ServeOptions| {
        o.index = Some(index);
        o.batching.max_queue = Some(1);
    });
    let addr = server.addr();
    let hold = server.hold_worker().unwrap();
    let body = json!({"record": record_json(&ix.rows[1]), "top_k": 2}).to_string();
    let queued = {
        let body = body.clone();
        std::thread::spawn(move || post_match(&mut Client::connect(addr), body.as_bytes()))
    };
    let t0 = std::time::Instant::now();
    while Client::connect(addr).get("/health").json()["queue_pairs"] != 1 {
        assert!(t0.elapsed().as_secs() < 10, "the match never queued");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let r = post_match(&mut Client::connect(addr), body.as_bytes());
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["limit"], "max_queue");
    drop(hold);
    let r = queued.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["matches"][0]["id"], ix.rows[1].rec_id.as_str());
    server.shutdown().unwrap();
}
