//! Prediction input: one pair `{"record1": ..., "record2": ...}` where a record is a text, a
//! list of field texts or an object of named fields. `biome predict` reads one pair per line
//! and `biome serve` one pair or an array of pairs per request; both parse with this module, so
//! they accept the same input and name the same problems.

use biome_core::{PairExample, Record, RecordError};
use serde_json::Value;

/// The two record keys of a pair, in order.
pub const RECORD_KEYS: [&str; 2] = ["record1", "record2"];

/// What is wrong with one input pair. The message names the field (`record1` / `record2`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The pair is not a JSON object.
    #[error("expected a JSON object with record1 and record2, found {found}")]
    NotAnObject {
        /// The JSON type found (`an array`, `a string`, ...).
        found: &'static str,
    },
    /// A record key is absent.
    #[error("{field}: missing")]
    Missing {
        /// `record1` or `record2`.
        field: &'static str,
    },
    /// A record has a type that is not a record.
    #[error("{field}: expected a text, a list of texts or an object of texts, found {found}")]
    WrongType {
        /// `record1` or `record2`.
        field: &'static str,
        /// What was found, e.g. `a boolean` or `an array at field 1`.
        found: String,
    },
    /// A record has no text in any field.
    #[error("{field}: empty: it has no text in any field")]
    Empty {
        /// `record1` or `record2`.
        field: &'static str,
    },
}

impl PairError {
    /// The record the error is about, if it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PairError::Missing { field }
            | PairError::WrongType { field, .. }
            | PairError::Empty { field } => Some(field),
            PairError::InvalidJson(_) | PairError::NotAnObject { .. } => None,
        }
    }
}

/// `a string`, `an array`, ... for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse one JSON text (e.g. a line of `biome predict` input) into a validated pair.
pub fn parse_pair_str(text: &str) -> Result<PairExample, PairError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| PairError::InvalidJson(e.to_string()))?;
    parse_pair(&value)
}

/// Parse one JSON value into a validated pair: both records present, of a record type, and
/// not empty. Keys other than `record1` and `record2` (e.g. a `label`) are ignored.
pub fn parse_pair(value: &Value) -> Result<PairExample, PairError> {
    let obj = value.as_object().ok_or(PairError::NotAnObject {
        found: json_type(value),
    })?;
    let [record1, record2] = RECORD_KEYS.map(|field| parse_record(obj.get(field), field));
    let pair = PairExample::unlabelled(record1?, record2?);
    pair.validate().map_err(|e| match e {
        RecordError::EmptyRecord { which } => PairError::Empty { field: which },
    })?;
    Ok(pair)
}

/// Parse one record (`field` names it in errors: `record1`, `record2`, or `/match`'s `record`):
/// present and of a record type (emptiness is checked by the caller).
pub fn parse_record(value: Option<&Value>, field: &'static str) -> Result<Record, PairError> {
    let value = value.ok_or(PairError::Missing { field })?;
    let wrong = |found: String| PairError::WrongType { field, found };
    // A field of a list or object record must be a scalar; say which one is not.
    let nested = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
    match value {
        Value::Null => return Err(wrong("null".into())),
        Value::Bool(_) => return Err(wrong("a boolean".into())),
        Value::Array(items) => {
            if let Some(i) = items.iter().position(nested) {
                return Err(wrong(format!("{} at field {i}", json_type(&items[i]))));
            }
        }
        Value::Object(map) => {
            if let Some((k, v)) = map.iter().find(|(_, v)| nested(v)) {
                return Err(wrong(format!("{} at field {k:?}", json_type(v))));
            }
        }
        Value::String(_) | Value::Number(_) => {}
    }
    <Record as serde::Deserialize>::deserialize(value).map_err(|e| wrong(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_errors() {
        let p = parse_pair_str(r#"{"record1": "a b", "record2": ["c", 1], "label": "x"}"#).unwrap();
        assert_eq!(p.record1, Record::Text("a b".into()));
        assert_eq!(p.record2, Record::Fields(vec!["c".into(), "1".into()]));
        assert_eq!(p.label, None);
        let p = parse_pair_str(r#"{"record1": {"n": "a"}, "record2": 3}"#).unwrap();
        assert_eq!(p.record1, Record::named([("n", "a")]));

        let err = |s: &str| parse_pair_str(s).unwrap_err().to_string();
        assert!(err("{").starts_with("invalid JSON"));
        assert_eq!(
            err("[1]"),
            "expected a JSON object with record1 and record2, found an array"
        );
        assert_eq!(err(r#"{"record1": "a"}"#), "record2: missing");
        assert_eq!(err(r#"{"record2": "a"}"#), "record1: missing");
        assert!(err(r#"{"record1": true, "record2": "a"}"#).starts_with("record1: expected"));
        assert!(err(r#"{"record1": "a", "record2": null}"#).ends_with("found null"));
        assert!(
            err(r#"{"record1": "a", "record2": ["x", ["y"]]}"#)
                .ends_with("found an array at field 1")
        );
        assert!(
            err(r#"{"record1": {"k": {"a": 1}}, "record2": "a"}"#)
                .ends_with("found an object at field \"k\"")
        );
        assert_eq!(
            err(r#"{"record1": " ", "record2": "a"}"#),
            "record1: empty: it has no text in any field"
        );
        assert_eq!(
            parse_pair_str(r#"{"record1": "a", "record2": []}"#)
                .unwrap_err()
                .field(),
            Some("record2")
        );
    }
}
