//! The JSONL reader on arbitrary bytes and on mutations of a valid file.

use biome_core::{DataMapping, Dataset, ReadError, read_jsonl_from};
use proptest::prelude::*;

use crate::cases;
use crate::mutate::{apply, mutations};

/// A valid file: scalar values of every JSON type, whole records as arrays and objects, an
/// escaped character, a blank line and an empty label (skipped).
pub const VALID: &str = concat!(
    "{\"a\": \"anna\", \"b\": \"smith\", \"label\": \"duplicate\"}\n",
    "{\"a\": 3, \"b\": null, \"label\": true}\n",
    "\n",
    "{\"a\": [\"x\", \"y\"], \"b\": {\"first\": \"müller\", \"n\": 2}, \"label\": \"no\"}\n",
    "{\"a\": \"skip\", \"b\": \"me\", \"label\": \"\"}\n",
    "{\"a\": \"tab\\there\", \"b\": \"東京\", \"label\": 0}\n",
);

pub fn mapping() -> DataMapping {
    DataMapping::new("label", ["a"], ["b"])
}

pub fn check(result: &Result<Dataset, ReadError>) -> Result<(), TestCaseError> {
    match result {
        Ok(ds) => {
            for e in &ds.examples {
                prop_assert!(e.label.as_deref().is_some_and(|l| !l.trim().is_empty()));
            }
        }
        Err(e) => {
            prop_assert!(e.to_string().starts_with("fuzz.jsonl"), "{e}");
            prop_assert!(e.line().is_some(), "a JSONL error names its line: {e}");
        }
    }
    Ok(())
}

#[test]
fn the_valid_file_reads() {
    let ds = read_jsonl_from(VALID.as_bytes(), "fuzz.jsonl", &mapping()).unwrap();
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.skipped_empty_label, 1);
}

proptest! {
    #![proptest_config(crate::settings(cases(300)))]

    #[test]
    fn fuzz_jsonl_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&read_jsonl_from(&bytes[..], "fuzz.jsonl", &mapping()))?;
    }

    #[test]
    fn fuzz_jsonl_arbitrary_json_values(
        lines in prop::collection::vec(json_value(), 0..6),
    ) {
        let text: String = lines.iter().map(|v| format!("{v}\n")).collect();
        check(&read_jsonl_from(text.as_bytes(), "fuzz.jsonl", &mapping()))?;
    }

    #[test]
    fn fuzz_jsonl_mutated_valid_file(m in mutations()) {
        let bytes = apply(VALID.as_bytes(), &m);
        check(&read_jsonl_from(&bytes[..], "fuzz.jsonl", &mapping()))?;
    }
}

/// Arbitrary JSON, with the mapped keys likely, so values of every type reach the record code.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "label", "x"]), inner),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    });
    prop::collection::vec(
        (prop::sample::select(vec!["a", "b", "label", "x"]), value),
        0..4,
    )
    .prop_map(|kv| {
        serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}
