//! `--resume` reproduces an uninterrupted run exactly. Its own test binary (process): burn's
//! random number generator is per process, and tests running in parallel threads would draw
//! from it between our seeding and our use.

use biome::Device;
use biome::{Pipeline, PipelineConfig};

mod common;
use common::{metrics_without_time, write_config, write_data};

#[test]
fn resume_after_interruption_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let [train, valid, test] = write_data(dir.path());
    let full = dir.path().join("full");
    let cut = dir.path().join("cut");
    let config3 = PipelineConfig::from_file(write_config(dir.path(), 3, false)).unwrap();
    let config1 = PipelineConfig::from_file(write_config(dir.path(), 1, false)).unwrap();

    let mut a = Pipeline::from_config(config3.clone(), Device::flex()).unwrap();
    a.train(&train, Some(&valid), &full, false).unwrap();

    // "Interrupted" after epoch 1, then resumed to 3.
    let mut b = Pipeline::from_config(config1, Device::flex()).unwrap();
    b.train(&train, Some(&valid), &cut, false).unwrap();
    let mut b = Pipeline::from_config(config3, Device::flex()).unwrap();
    let summary = b.train(&train, Some(&valid), &cut, true).unwrap();
    assert_eq!(summary.epochs_completed, 3);

    assert_eq!(metrics_without_time(&full), metrics_without_time(&cut));
    assert_eq!(a.evaluate(&test).unwrap(), b.evaluate(&test).unwrap());
}
