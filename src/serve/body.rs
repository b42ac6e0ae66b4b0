//! The `POST /predict` body: one pair object or an array of pair objects, in the JSON that
//! `biome predict` reads (see [`crate::input`]), checked against the [`Limits`]; and the
//! `POST /match` body: `{"record": <a record of the same forms>, "top_k": n}`.

use biome_core::{PairExample, Record};
use serde_json::Value;

use super::limits::{LimitError, Limits, pair_prefix, record_chars};
use super::matcher::{DEFAULT_TOP_K, MAX_TOP_K};
use crate::input::{PairError, json_type, parse_pair, parse_record};

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
    /// A `/match` body is not an object.
    #[error("expected an object {{\"record\": ..., \"top_k\": n}}, found {found}")]
    NotMatch {
        /// The JSON type found.
        found: &'static str,
    },
    /// A `/match` body has a key it does not know (a misspelt `top_k` would otherwise be
    /// ignored without a word).
    #[error("unknown key {key:?}: a /match body has \"record\" and optionally \"top_k\"")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// `top_k` is not a whole number from 1 to [`MAX_TOP_K`].
    #[error("top_k: {found} is not a whole number from 1 to {MAX_TOP_K}")]
    TopK {
        /// The value given, as JSON.
        found: String,
    },
}

/// A parsed, validated `/match` request.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRequest {
    /// The record to match.
    pub record: Record,
    /// How many candidates to return.
    pub top_k: usize,
}

/// Parse and check a `/match` body (never panics, whatever the bytes).
pub fn parse_match_body(bytes: &[u8], limits: &Limits) -> Result<MatchRequest, BodyError> {
    limits.check_body(bytes.len())?;
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(BodyError::NotMatch {
            found: json_type(&value),
        });
    };
    if let Some(key) = map.keys().find(|k| *k != "record" && *k != "top_k") {
        return Err(BodyError::UnknownKey { key: key.clone() });
    }
    let pair_error = |error| BodyError::Pair { index: None, error };
    let record = parse_record(map.get("record"), "record").map_err(pair_error)?;
    if record.is_empty() {
        return Err(pair_error(PairError::Empty { field: "record" }));
    }
    let actual = record_chars(&record);
    if actual > limits.max_text_chars {
        return Err(LimitError::TextChars {
            index: None,
            field: "record",
            max: limits.max_text_chars,
            actual,
        }
        .into());
    }
    let top_k = match map.get("top_k") {
        None => DEFAULT_TOP_K,
        Some(v) => match v.as_u64() {
            Some(k) if (1..=MAX_TOP_K as u64).contains(&k) => k as usize,
            _ => {
                return Err(BodyError::TopK {
                    found: v.to_string(),
                });
            }
        },
    };
    Ok(MatchRequest { record, top_k })
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
            BodyError::TopK { .. } => Some("top_k"),
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
    fn match_bodies_and_their_errors() {
        let m = |s: &str| parse_match_body(s.as_bytes(), &Limits::default());
        let r = m(r#"{"record": {"surname": "smith"}}"#).unwrap();
        assert_eq!(r.record, Record::named([("surname", "smith")]));
        assert_eq!(r.top_k, DEFAULT_TOP_K);
        assert_eq!(m(r#"{"record": ["a", "b"], "top_k": 3}"#).unwrap().top_k, 3);
        assert_eq!(
            m(r#"{"record": "a", "top_k": 100}"#).unwrap().top_k,
            MAX_TOP_K
        );
        for bad in ["0", "101", "2.5", "-1", "\"3\"", "null"] {
            let e = m(&format!(r#"{{"record": "a", "top_k": {bad}}}"#)).unwrap_err();
            assert!(matches!(e, BodyError::TopK { .. }), "{bad}: {e}");
            assert_eq!(e.field(), Some("top_k"));
        }
        let e = m(r#"{"top_k": 3}"#).unwrap_err();
        assert_eq!(e.to_string(), "record: missing");
        assert_eq!(e.field(), Some("record"));
        assert_eq!(
            m(r#"{"record": ["", " "]}"#).unwrap_err().to_string(),
            "record: empty: it has no text in any field"
        );
        assert!(matches!(
            m(r#"{"record": "a", "topk": 3}"#),
            Err(BodyError::UnknownKey { .. })
        ));
        assert!(matches!(m("[]"), Err(BodyError::NotMatch { .. })));
        assert!(matches!(m("{"), Err(BodyError::InvalidJson(_))));
        let limits = Limits {
            max_text_chars: 3,
            ..Limits::default()
        };
        let e = parse_match_body(br#"{"record": "abcd"}"#, &limits).unwrap_err();
        assert!(matches!(e, BodyError::Limit(LimitError::TextChars { .. })));
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
