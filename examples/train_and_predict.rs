//! Train a pair classifier and predict with it, through the library the way a Rust user
//! would: choose a backend, read a config, train on CSV files, predict pairs, evaluate.
//!
//! ```text
//! cargo run --release --example train_and_predict                      # flex (the CPU)
//! cargo run --release --features wgpu --example train_and_predict -- wgpu   # the same code on the GPU
//! ```
//!
//! The data is the demo's generated person-record pairs, written to a temporary folder.

#![forbid(unsafe_code)]

use std::error::Error;

use biome::biome_core::Record;
use biome::{Device, Pipeline, PipelineConfig, default_device_name, device_from_name};

fn main() -> Result<(), Box<dyn Error>> {
    // The backend is a run-time choice: a `Device` (here from its name, as the CLI does).
    let name = std::env::args().nth(1);
    let device: Device = device_from_name(name.as_deref().unwrap_or(default_device_name()))?;
    let work = tempfile::tempdir()?;
    let [train, validation, test] = biome::demo::write_splits(work.path(), (600, 150, 150), 1)?;

    let mut config = PipelineConfig::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/configs/person_records.json"
    ))?;
    config.trainer.num_epochs = 2;
    let mut pipeline = Pipeline::from_config(config, device)?;
    let model_dir = work.path().join("model");
    let summary = pipeline.train(&train, Some(&validation), &model_dir, false)?;
    println!(
        "trained {} epochs, best epoch {}",
        summary.epochs_completed, summary.best_epoch
    );

    // given name, surname, street number, address, suburb, postcode, state, date of birth
    let person = |fields: [&str; 8]| Record::Fields(fields.map(String::from).to_vec());
    let p = pipeline.predict(
        person([
            "mike",
            "farrys",
            "12",
            "high street",
            "kew",
            "3101",
            "vic",
            "19800214",
        ]),
        person([
            "michael", "farris", "12", "high st", "kew", "3101", "vic", "19800214",
        ]),
    )?;
    println!("{} ({:.3})", p.max_class, p.max_class_prob);

    let metrics = pipeline.evaluate(&test)?;
    println!("test accuracy {:.3}", metrics["accuracy"]);
    Ok(())
}
