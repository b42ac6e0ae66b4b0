//! `--resume` with a learning-rate schedule, AdamW and parameter groups reproduces an
//! uninterrupted run exactly: the schedule's position (the optimizer step count) comes back
//! from the checkpoint, and the groups' optimizer states go back to their groups. Its own test
//! binary (process), as `resume.rs`: burn's random number generator is per process.

use biome::Device;
use biome::{Pipeline, PipelineConfig};

mod common;
use common::{config_json, metrics_without_time, write_data};

/// The shared test config with AdamW, two parameter groups and a warm-up of 15 updates: 160
/// training pairs in batches of 16 are 10 updates an epoch, so the warm-up runs into epoch 2
/// and a resumed run that restarted the count at 0 would train epochs 2 and 3 differently.
/// A constant rate after the warm-up keeps the factor independent of `num_epochs`, so the
/// 1-epoch "interrupted" run draws the same rates as the first epoch of the 3-epoch one.
fn config(dir: &std::path::Path, epochs: usize) -> PipelineConfig {
    let json = config_json(epochs, false).replace(
        r#""optimizer": {"adam": {"lr": 0.01}}"#,
        r#""optimizer": {"adamw": {"lr": 0.01, "weight_decay": 0.05,
            "parameter_groups": [[["output"], {"lr": 0.03}], [["bias$"], {"weight_decay": 0.0}]]}},
           "learning_rate_scheduler": {"constant_with_warmup": {"warmup_steps": 15}}"#,
    );
    assert!(json.contains("adamw"), "the shared config changed");
    let path = dir.join(format!("schedule_{epochs}.json"));
    std::fs::write(&path, json).unwrap();
    PipelineConfig::from_file(path).unwrap()
}

#[test]
fn resume_keeps_the_schedule_position_and_the_group_states() {
    let dir = tempfile::tempdir().unwrap();
    let [train, valid, test] = write_data(dir.path());
    let full = dir.path().join("full");
    let cut = dir.path().join("cut");

    let mut a = Pipeline::from_config(config(dir.path(), 3), Device::flex()).unwrap();
    a.train(&train, Some(&valid), &full, false).unwrap();

    let mut b = Pipeline::from_config(config(dir.path(), 1), Device::flex()).unwrap();
    b.train(&train, Some(&valid), &cut, false).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cut.join("checkpoint/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["optimizer_steps"], 10);
    let mut b = Pipeline::from_config(config(dir.path(), 3), Device::flex()).unwrap();
    let summary = b.train(&train, Some(&valid), &cut, true).unwrap();
    assert_eq!(summary.epochs_completed, 3);

    assert_eq!(metrics_without_time(&full), metrics_without_time(&cut));
    // The trainer ran the schedule: the last update of epoch 1 is update 9 of a 15-update
    // warm-up (0.01 · 9/15), epoch 2's is update 19, past it (0.01).
    let lines = metrics_without_time(&full);
    let lr = |epoch: usize| lines[epoch - 1]["learning_rate"].as_f64().unwrap();
    assert!((lr(1) - 0.01 * 9.0 / 15.0).abs() < 1e-12, "{}", lr(1));
    assert!((lr(2) - 0.01).abs() < 1e-12 && (lr(3) - 0.01).abs() < 1e-12);
    assert_eq!(a.evaluate(&test).unwrap(), b.evaluate(&test).unwrap());
}
