//! Load a model trained elsewhere (by `biome train`, on any backend) and predict pairs read
//! as JSON lines, like `biome predict`.
//!
//! ```text
//! cargo run --release --example load_and_predict -- MODEL_DIR [PAIRS.jsonl]
//! cargo run --release --example load_and_predict                 # the archive in tests/fixtures
//! ```
//!
//! Without a pairs file it predicts the pairs stored beside the fixture model.

#![forbid(unsafe_code)]

use std::error::Error;
use std::path::PathBuf;

use biome::biome_core::Record;
use biome::{Pipeline, default_device_name, device_from_name};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/archive_v1"
        ))
    });
    // The CPU backend this build has (flex by default); any backend loads any archive.
    let pipeline = Pipeline::load(&model, device_from_name(default_device_name())?)?;
    println!("labels: {:?}", pipeline.labels());

    let pairs: Vec<(Record, Record)> = match args.next() {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let pair = biome::input::parse_pair_str(line)?;
                Ok((pair.record1, pair.record2))
            })
            .collect::<Result<_, Box<dyn Error>>>()?,
        None => {
            let expected: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(model.join("expected.json"))?)?;
            expected["predictions"]
                .as_array()
                .ok_or("expected.json has no predictions")?
                .iter()
                .map(|p| {
                    Ok((
                        serde_json::from_value(p["record1"].clone())?,
                        serde_json::from_value(p["record2"].clone())?,
                    ))
                })
                .collect::<Result<_, Box<dyn Error>>>()?
        }
    };
    for (record1, record2) in pairs {
        let p = pipeline.predict(record1, record2)?;
        println!("{}", serde_json::to_string(&p)?);
    }
    Ok(())
}
