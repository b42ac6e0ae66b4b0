//! End to end: generated data → train → archive → load → predict / evaluate, resume, and the
//! errors users meet (flex backend, tiny data).

use std::path::{Path, PathBuf};
use std::process::Command;

use biome::Device;
use biome::biome_core::{PairExample, Record};
use biome::{BiomeError, Pipeline, PipelineConfig};

mod common;
use common::{config_json, write_config, write_data};

#[test]
fn train_archive_load_gives_the_same_predictions_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let [train, valid, test] = write_data(dir.path());
    let config = PipelineConfig::from_file(write_config(dir.path(), 2, true)).unwrap();
    let out = dir.path().join("model");
    let mut pipeline = Pipeline::from_config(config, Device::flex()).unwrap();
    let summary = pipeline.train(&train, Some(&valid), &out, false).unwrap();
    assert_eq!(summary.epochs_completed, 2);
    for f in [
        "archive.json",
        "config.json",
        "vocabulary.json",
        "model.bpk",
        "metrics.jsonl",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    assert!(out.join("training_curve.svg").exists());

    let in_memory = pipeline.evaluate(&test).unwrap();
    let loaded = Pipeline::load(&out, Device::flex()).unwrap();
    let from_disk = loaded.evaluate(&test).unwrap();
    assert_eq!(in_memory, from_disk);

    let data = pipeline.read(&test).unwrap();
    let a = pipeline.predict_batch(&data.examples).unwrap();
    let b = loaded.predict_batch(&data.examples).unwrap();
    assert_eq!(a, b);
    // A prediction of a single pair equals its row in a batch (padding changes nothing).
    let single = loaded
        .predict(
            data.examples[3].record1.clone(),
            data.examples[3].record2.clone(),
        )
        .unwrap();
    for (x, y) in single.logits.iter().zip(&b[3].logits) {
        assert!(
            (x - y).abs() < 1e-4,
            "{:?} vs {:?}",
            single.logits,
            b[3].logits
        );
    }
}

#[test]
fn resume_without_a_checkpoint_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let [train, valid, _] = write_data(dir.path());
    let config = PipelineConfig::from_file(write_config(dir.path(), 1, false)).unwrap();
    let mut p = Pipeline::from_config(config, Device::flex()).unwrap();
    let err = p
        .train(&train, Some(&valid), dir.path().join("nothing"), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--resume"), "{err}");
}

fn trained_model(dir: &Path) -> PathBuf {
    let [train, valid, _] = write_data(dir);
    let config = PipelineConfig::from_file(write_config(dir, 1, false)).unwrap();
    let out = dir.join("model");
    Pipeline::from_config(config, Device::flex())
        .unwrap()
        .train(&train, Some(&valid), &out, false)
        .unwrap();
    out
}

#[test]
fn config_errors_name_the_key_path() {
    let bad = config_json(1, false).replace("\"batch_size\"", "\"batch_sise\"");
    let err = PipelineConfig::from_json_str(&bad, "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trainer") && err.contains("batch_sise"),
        "{err}"
    );
    let bad = config_json(1, false).replace("\"averaged\"", "\"avg\"");
    let err = PipelineConfig::from_json_str(&bad, "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.seq2vec_encoder") && err.contains("avg"),
        "{err}"
    );
    let bad = config_json(1, false).replace("\"tokenizer\"", "\"multifield\": true, \"tokenizer\"");
    let err = PipelineConfig::from_json_str(&bad, "c.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("multifield"), "{err}");
    let bad = config_json(1, false).replace("+average/f1", "average/f1");
    let err = PipelineConfig::from_json_str(&bad, "c.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("validation_metric"), "{err}");
}

#[test]
fn unknown_device_and_untrained_pipeline_are_errors() {
    let config = PipelineConfig::from_json_str(&config_json(1, false), "c").unwrap();
    let err = biome::device_from_name("cuda").err().unwrap().to_string();
    assert!(err.contains("cuda") && err.contains("flex"), "{err}");
    let p = Pipeline::from_config(config, Device::flex()).unwrap();
    let err = p
        .predict(Record::Text("a".into()), Record::Text("b".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no trained model"), "{err}");
}

#[test]
fn diverging_training_stops_with_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let [train, _, _] = write_data(dir.path());
    let json = config_json(1, false)
        .replace(r#"{"adam": {"lr": 0.01}}"#, r#"{"sgd": {"lr": 1e30}}"#)
        .replace(r#""grad_norm": 5.0, "#, "");
    let config = PipelineConfig::from_json_str(&json, "c").unwrap();
    let mut p = Pipeline::from_config(config, Device::flex()).unwrap();
    let err = p
        .train(&train, None, dir.path().join("m"), false)
        .unwrap_err();
    match err {
        BiomeError::NonFiniteLoss { epoch, step, .. } => {
            assert_eq!(epoch, 1);
            assert!(step >= 2);
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    assert!(!dir.path().join("m").join("archive.json").exists());
}

#[test]
fn cli_predict_answers_good_lines_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = trained_model(dir.path());
    let input = dir.path().join("pairs.jsonl");
    let named = r#"{"given_name": "anna", "surname": "smith"}"#;
    std::fs::write(
        &input,
        format!(
            "{{\"record1\": \"Herbert Brandes-Siller\", \"record2\": \"Herbert Brandes Siller\"}}\n\
             {{\"record1\": \"mike Farrys\"}}\n\
             {{\"record1\": [\"anna\", \"smith\"], \"record2\": {named}}}\n\
             not json\n"
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_biome"))
        .args(["predict", "--model"])
        .arg(&out)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["max_class"].is_string());
    let p: f64 = lines[0]["classes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((p - 1.0).abs() < 1e-4);
    let e = lines[1]["error"].as_str().unwrap();
    assert!(e.contains("line 2") && e.contains("record2"), "{e}");
    assert!(lines[2]["max_class_prob"].is_number());
    assert!(lines[3]["error"].as_str().unwrap().contains("line 4"));

    // evaluate prints the metrics JSON as its last line
    let [_, _, test] = [0, 1, 2].map(|i| {
        dir.path()
            .join("data")
            .join(["train.csv", "validation.csv", "test.csv"][i])
    });
    let output = Command::new(env!("CARGO_BIN_EXE_biome"))
        .args(["evaluate", "--model"])
        .arg(&out)
        .arg("--data")
        .arg(&test)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(last["accuracy"].is_number() && last["duplicate/f1"].is_number());

    // unknown device
    let output = Command::new(env!("CARGO_BIN_EXE_biome"))
        .args(["evaluate", "--device", "tpu", "--model"])
        .arg(&out)
        .arg("--data")
        .arg(&test)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("tpu") && stderr.contains("flex"),
        "{stderr}"
    );
}

#[test]
fn empty_records_are_rejected_for_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let out = trained_model(dir.path());
    let p = Pipeline::load(&out, Device::flex()).unwrap();
    let err = p
        .predict_batch(&[PairExample::unlabelled(
            Record::Text("anna".into()),
            Record::Text("   ".into()),
        )])
        .unwrap_err()
        .to_string();
    assert!(err.contains("record2"), "{err}");
}

#[test]
fn object_records_keep_their_field_order_through_json_values() {
    // The CLI and the JSONL reader go through serde_json::Value; field order is meaning for a
    // multi-field model, so the Value map must keep insertion order (serde_json preserve_order).
    let value: serde_json::Value =
        serde_json::from_str(r#"{"surname": "smith", "given_name": "anna"}"#).unwrap();
    let record: Record = serde_json::from_value(value).unwrap();
    assert_eq!(
        record,
        Record::Named(vec![
            ("surname".into(), "smith".into()),
            ("given_name".into(), "anna".into())
        ])
    );
}
