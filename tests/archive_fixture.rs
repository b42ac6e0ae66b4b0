//! The archive format keeps loading models written before the code was restructured:
//! `tests/fixtures/archive_v1` was trained and written by biome 0.1.0 at 639b82c (LSTM, GRU,
//! CNN characters, feed-forward), with the predictions and metrics that code gave on it. Loading
//! it now must give the same predictions.

use std::path::Path;

use biome::biome_core::{PairExample, Record};
use biome::{Device, Pipeline};

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/archive_v1"
    ))
}

#[test]
fn an_archive_from_before_the_restructuring_loads_and_predicts_the_same() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
            .unwrap();
    let pipeline = Pipeline::load(fixture(), Device::flex()).unwrap();
    let cases = expected["predictions"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let pairs: Vec<PairExample> = cases
        .iter()
        .map(|c| {
            let record = |key: &str| -> Record { serde_json::from_value(c[key].clone()).unwrap() };
            PairExample::new(record("record1"), record("record2"), "duplicate")
        })
        .collect();
    let predictions = pipeline.predict_batch(&pairs).unwrap();
    for (i, (case, got)) in cases.iter().zip(&predictions).enumerate() {
        let want: Vec<f64> = case["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.logits.len(), want.len(), "pair {i}");
        for (g, w) in got.logits.iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() < 1e-5,
                "pair {i}: logits {:?}, written {want:?}",
                got.logits
            );
        }
        assert_eq!(
            got.max_class,
            case["max_class"].as_str().unwrap(),
            "pair {i}"
        );
    }
    // Every pair of one batch, one at a time: padding changes nothing.
    let single = pipeline
        .predict(pairs[2].record1.clone(), pairs[2].record2.clone())
        .unwrap();
    for (s, b) in single.logits.iter().zip(&predictions[2].logits) {
        assert!(
            (s - b).abs() < 1e-5,
            "{:?} vs {:?}",
            single.logits,
            predictions[2].logits
        );
    }
}
