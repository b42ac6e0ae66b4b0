//! Fuzzing the config parser: arbitrary text, byte mutations and structural mutations of the
//! shipped configs. The answer is a config or `BiomeError::Config` naming the source, never a
//! panic; and a config that passes validation builds a model without panicking.

use biome::biome_core::{LABELS, PairExample, Record, build_vocabulary};
use biome::biome_models::{SequencePairClassifier, Weights};
use biome::{BiomeError, PipelineConfig};
use proptest::prelude::*;
use serde_json::Value;

use crate::{cases, mutate, settings};

const SHIPPED: [(&str, &str); 3] = [
    (
        "person_records.json",
        include_str!("../../examples/configs/person_records.json"),
    ),
    (
        "febrl_multifield.json",
        include_str!("../../examples/configs/febrl_multifield.json"),
    ),
    (
        "febrl_text.json",
        include_str!("../../examples/configs/febrl_text.json"),
    ),
];

fn parse(text: &str) -> Result<Option<PipelineConfig>, TestCaseError> {
    match PipelineConfig::from_json_str(text, "fuzz.json") {
        Ok(c) => Ok(Some(c)),
        Err(BiomeError::Config { path, message }) => {
            prop_assert_eq!(path, "fuzz.json");
            prop_assert!(!message.is_empty());
            Ok(None)
        }
        Err(other) => Err(TestCaseError::fail(format!(
            "not a config error: {other:?}"
        ))),
    }
}

/// A validated config must build its model (small sizes only, to keep cases fast).
fn build(config: &PipelineConfig) -> Result<(), TestCaseError> {
    let examples = [PairExample::new(
        Record::Fields(vec!["anna smith".into(), "12 main st".into()]),
        Record::Fields(vec!["ana smith".into(), "12 main street".into()]),
        "duplicate",
    )];
    let tokenizer = biome::biome_core::Tokenizer::new(config.data.tokenizer.clone());
    let vocab = build_vocabulary(
        &examples,
        &tokenizer,
        config.record_mode(),
        &config.vocabulary_options(),
    );
    let labels = vocab.tokens(LABELS).to_vec();
    let device = biome::device_from_name("flex").unwrap();
    // An error is fine (a clear one); a panic fails the case.
    let _ = SequencePairClassifier::new(
        &config.model,
        &vocab,
        &labels,
        Weights::Fresh { seed: 1 },
        &device,
    );
    Ok(())
}

/// Replace, delete or add one value somewhere in the JSON tree (`path` picks where).
fn mutate_value(v: &mut Value, path: &[usize], new: &Value, op: u8) {
    let Some((&first, rest)) = path.split_first() else {
        *v = new.clone();
        return;
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let i = first % map.len();
            let key = map.keys().nth(i).unwrap().clone();
            if rest.is_empty() && op == 0 {
                map.remove(&key);
            } else if rest.is_empty() && op == 1 {
                map.insert(format!("{key}_x"), new.clone());
            } else {
                mutate_value(map.get_mut(&key).unwrap(), rest, new, op);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = first % items.len();
            if rest.is_empty() && op == 0 {
                items.remove(i);
            } else {
                mutate_value(&mut items[i], rest, new, op);
            }
        }
        _ => *v = new.clone(),
    }
}

/// Values that probe validation: zero, negative, huge, fractional, wrong types.
fn odd_value() -> impl Strategy<Value = Value> {
    // mostly numbers: they get past the type checks and reach the validation and the model
    prop_oneof![
        6 => prop::sample::select(vec![0i64, 1, 2, 3, -1, 7]).prop_map(Value::from),
        3 => prop::sample::select(vec![0.0f64, -0.5, 0.5, 1.0, 1.5, 1e300]).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => "[a-z_+/-]{0,12}".prop_map(Value::String),
        1 => Just(Value::Array(vec![])),
        1 => Just(serde_json::json!([0])),
        1 => Just(serde_json::json!({})),
    ]
}

proptest! {
    #![proptest_config(settings(cases(200)))]

    #[test]
    fn fuzz_config_arbitrary_text(text in any::<String>()) {
        parse(&text)?;
    }

    #[test]
    fn fuzz_config_byte_mutations_of_shipped_configs(
        which in 0usize..3,
        m in mutate::mutations(),
    ) {
        let bytes = mutate::apply(SHIPPED[which].1.as_bytes(), &m);
        parse(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn fuzz_config_structural_mutations_build_or_fail_cleanly(
        which in 0usize..3,
        edits in prop::collection::vec(
            // op 0 deletes, 1 adds an unknown key (rarely: it always fails), others replace
            (prop::collection::vec(any::<usize>(), 1..6), odd_value(), 0u8..12),
            1..3,
        ),
    ) {
        let mut v: Value = serde_json::from_str(SHIPPED[which].1).unwrap();
        for (path, new, op) in &edits {
            mutate_value(&mut v, path, new, *op);
        }
        // keep models small: the shipped sizes are for real training
        let text = v.to_string()
            .replace(":64", ":4").replace(":128", ":4").replace(":32", ":4").replace(":16", ":3");
        if let Some(config) = parse(&text)? {
            build(&config)?;
        }
    }
}
