//! The `POST /predict` body: one pair object or an array of pair objects, in the JSON that
//! `biome predict` reads (see [`crate::input`]), checked against the [`Limits`].

use biome_core::PairExample;
use serde_json::Value;

use super::limits::{LimitError, Limits, pair_prefix};
use crate::input::{PairError, json_type, parse_pair};

/// A parsed, validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// The pairs in request order.
    pub pairs: Vec<PairExample>,
    /// Whether the body was one pair object (answered with one object) rather than an array.
    pub single: bool,
}

/// Why a `/predict` body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not JSON (or not UTF-8).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but neither an object nor an array.
    #[error("expected a pair object or an array of pair objects, found {found}")]
    NotPairs {
        /// The JSON type found.
        found: &'static str,
    },
    /// One pair is unusable.
    #[error("{}{error}", pair_prefix(*.index))]
    Pair {
        /// The pair's index in the request array (0-based), `None` for a single pair.
        index: Option<usize>,
        /// What is wrong with it.
        error: PairError,
    },
    /// The request is over a limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
}

impl BodyError {
    /// The pair's index in the request array, for errors about one pair of an array.
    pub fn index(&self) -> Option<usize> {
        match self {
            BodyError::Pair { index, .. } => *index,
            BodyError::Limit(LimitError::TextChars { index, .. }) => *index,
            _ => None,
        }
    }

    /// The record the error is about (`record1` / `record2`), when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            BodyError::Pair { error, .. } => error.field(),
            BodyError::Limit(LimitError::TextChars { field, .. }) => Some(field),
            _ => None,
        }
    }
}

/// Parse and check a `/predict` body. Never panics, whatever the bytes (serde_json bounds the
/// nesting depth, so deep nesting is an error too).
pub fn parse_body(bytes: &[u8], limits: &Limits) -> Result<PredictRequest, BodyError> {
    limits.check_body(bytes.len())?;
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
    let (items, single) = match value {
        Value::Array(items) => (items, false),
        object @ Value::Object(_) => (vec![object], true),
        other => {
            return Err(BodyError::NotPairs {
                found: json_type(&other),
            });
        }
    };
    limits.check_pairs(items.len())?;
    let mut pairs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let index = (!single).then_some(i);
        let pair = parse_pair(item).map_err(|error| BodyError::Pair { index, error })?;
        limits.check_pair(&pair, index)?;
        pairs.push(pair);
    }
    Ok(PredictRequest { pairs, single })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<PredictRequest, BodyError> {
        parse_body(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn single_array_and_errors() {
        let r = parse(r#"{"record1": "a", "record2": "b"}"#).unwrap();
        assert!(r.single);
        assert_eq!(r.pairs.len(), 1);
        let r = parse(
            r#"[{"record1": "a", "record2": "b"}, {"record1": ["a"], "record2": {"x": "y"}}]"#,
        )
        .unwrap();
        assert!(!r.single);
        assert_eq!(r.pairs.len(), 2);
        assert!(parse("[]").unwrap().pairs.is_empty());

        let e = parse(r#"[{"record1": "a", "record2": "b"}, {"record1": "a"}]"#).unwrap_err();
        assert_eq!(e.to_string(), "pair 1: record2: missing");
        assert_eq!((e.index(), e.field()), (Some(1), Some("record2")));
        let e = parse(r#"{"record1": 1, "record2": false}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "record2: expected a text, a list of texts or an object of texts, found a boolean"
        );
        assert!(matches!(parse("nope"), Err(BodyError::InvalidJson(_))));
        assert_eq!(
            parse("\"x\"").unwrap_err().to_string(),
            "expected a pair object or an array of pair objects, found a string"
        );
        let deep = "[".repeat(10_000);
        assert!(matches!(parse(&deep), Err(BodyError::InvalidJson(_))));
    }

    #[test]
    fn limits_apply() {
        let limits = Limits {
            max_body_bytes: 200,
            max_pairs: 2,
            max_text_chars: 3,
        };
        let pair = r#"{"record1": "a", "record2": "b"}"#;
        let three = format!("[{pair},{pair},{pair}]");
        let e = parse_body(three.as_bytes(), &limits).unwrap_err();
        assert!(matches!(
            e,
            BodyError::Limit(LimitError::Pairs { actual: 3, .. })
        ));
        let long = r#"[{"record1": "a", "record2": "b"}, {"record1": "abcd", "record2": "b"}]"#;
        let e = parse_body(long.as_bytes(), &limits).unwrap_err();
        assert_eq!((e.index(), e.field()), (Some(1), Some("record1")));
        let big = vec![b' '; 201];
        let e = parse_body(&big, &limits).unwrap_err();
        assert!(matches!(e, BodyError::Limit(LimitError::BodyBytes { .. })));
    }
}
