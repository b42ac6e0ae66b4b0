//! `sparse: true` embeddings train through the row-wise Adam, and `--resume` stays exact.
//! Its own test binary (process): burn's random number generator is per process.

use std::path::Path;

use biome::{Device, Pipeline, PipelineConfig};

mod common;
use common::{config_json, metrics_without_time as metrics, write_data};

fn sparse_config(dir: &Path, epochs: usize) -> PipelineConfig {
    let json = config_json(epochs, false)
        .replace(
            r#""embedding": {"embedding_dim": 8}"#,
            r#""embedding": {"embedding_dim": 8, "sparse": true}"#,
        )
        .replace(
            r#""embedding": {"embedding_dim": 4}"#,
            r#""embedding": {"embedding_dim": 4, "sparse": true}"#,
        )
        .replace(
            r#"{"adam": {"lr": 0.01}}"#,
            r#"{"adam": {"lr": 0.01, "amsgrad": true, "weight_decay": 0.0001}}"#,
        );
    assert_eq!(json.matches(r#""sparse": true"#).count(), 2, "{json}");
    assert!(json.contains("amsgrad"));
    let p = dir.join(format!("sparse_{epochs}.json"));
    std::fs::write(&p, json).unwrap();
    PipelineConfig::from_file(p).unwrap()
}

#[test]
fn sparse_embeddings_learn_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let [train, valid, test] = write_data(dir.path());
    let full = dir.path().join("full");
    let cut = dir.path().join("cut");

    let mut a = Pipeline::from_config(sparse_config(dir.path(), 4), Device::flex()).unwrap();
    a.train(&train, Some(&valid), &full, false).unwrap();
    let m = metrics(&full);
    let loss = |i: usize| m[i]["training_loss"].as_f64().unwrap();
    assert!(loss(3) < loss(0) * 0.9, "training loss did not fall: {m:?}");
    assert!(full.join("checkpoint/sparse_optimizer.bin").is_file());

    let mut b = Pipeline::from_config(sparse_config(dir.path(), 2), Device::flex()).unwrap();
    b.train(&train, Some(&valid), &cut, false).unwrap();
    let mut b = Pipeline::from_config(sparse_config(dir.path(), 4), Device::flex()).unwrap();
    let summary = b.train(&train, Some(&valid), &cut, true).unwrap();
    assert_eq!(summary.epochs_completed, 4);
    assert_eq!(metrics(&full), metrics(&cut));
    assert_eq!(a.evaluate(&test).unwrap(), b.evaluate(&test).unwrap());
}
