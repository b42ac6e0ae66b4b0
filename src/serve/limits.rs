//! Request limits of `biome serve`: body size, pairs per request, text per record.

use biome_core::{PairExample, Record};

/// What one request may hold. A request over a limit is refused with a JSON error that names
/// the limit and its value; nothing over it reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes (`--max-body-bytes`).
    pub max_body_bytes: usize,
    /// Most pairs in one request (`--max-pairs`).
    pub max_pairs: usize,
    /// Most characters of text in one record, all fields together (`--max-text-chars`).
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_pairs: 1024,
            max_text_chars: 10_000,
        }
    }
}

/// A request over one of the [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The body is larger than `max_body_bytes`.
    #[error("the request body is larger than max_body_bytes = {max} bytes")]
    BodyBytes {
        /// The limit.
        max: usize,
        /// The body size, when it is known (from Content-Length or the body read).
        actual: Option<usize>,
    },
    /// More pairs than `max_pairs`.
    #[error("{actual} pairs in one request, more than max_pairs = {max}")]
    Pairs {
        /// The limit.
        max: usize,
        /// The pairs sent.
        actual: usize,
    },
    /// A record with more text than `max_text_chars`.
    #[error(
        "{}{field}: {actual} characters of text, more than max_text_chars = {max}",
        pair_prefix(*.index)
    )]
    TextChars {
        /// The pair's index in the request array (0-based), `None` for a single pair.
        index: Option<usize>,
        /// `record1` or `record2`.
        field: &'static str,
        /// The limit.
        max: usize,
        /// The record's characters.
        actual: usize,
    },
}

/// `pair 3: ` for a pair at index 3 of an array, nothing for a single pair.
pub(crate) fn pair_prefix(index: Option<usize>) -> String {
    index.map(|i| format!("pair {i}: ")).unwrap_or_default()
}

impl LimitError {
    /// The limit's name, as its flag without dashes: `max_body_bytes`, `max_pairs`,
    /// `max_text_chars`.
    pub fn name(&self) -> &'static str {
        match self {
            LimitError::BodyBytes { .. } => "max_body_bytes",
            LimitError::Pairs { .. } => "max_pairs",
            LimitError::TextChars { .. } => "max_text_chars",
        }
    }

    /// The limit's value.
    pub fn max(&self) -> usize {
        match self {
            LimitError::BodyBytes { max, .. }
            | LimitError::Pairs { max, .. }
            | LimitError::TextChars { max, .. } => *max,
        }
    }

    /// What the request had, when known.
    pub fn actual(&self) -> Option<usize> {
        match self {
            LimitError::BodyBytes { actual, .. } => *actual,
            LimitError::Pairs { actual, .. } | LimitError::TextChars { actual, .. } => {
                Some(*actual)
            }
        }
    }
}

/// Characters of text in a record: its field values together (field names excluded).
pub fn record_chars(record: &Record) -> usize {
    record.values().iter().map(|v| v.chars().count()).sum()
}

impl Limits {
    /// Check one parsed pair against `max_text_chars`.
    pub fn check_pair(&self, pair: &PairExample, index: Option<usize>) -> Result<(), LimitError> {
        for (field, record) in [("record1", &pair.record1), ("record2", &pair.record2)] {
            let actual = record_chars(record);
            if actual > self.max_text_chars {
                return Err(LimitError::TextChars {
                    index,
                    field,
                    max: self.max_text_chars,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Check the number of pairs against `max_pairs`.
    pub fn check_pairs(&self, count: usize) -> Result<(), LimitError> {
        if count > self.max_pairs {
            return Err(LimitError::Pairs {
                max: self.max_pairs,
                actual: count,
            });
        }
        Ok(())
    }

    /// Check a body size against `max_body_bytes`.
    pub fn check_body(&self, bytes: usize) -> Result<(), LimitError> {
        if bytes > self.max_body_bytes {
            return Err(LimitError::BodyBytes {
                max: self.max_body_bytes,
                actual: Some(bytes),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_themselves() {
        let limits = Limits {
            max_body_bytes: 10,
            max_pairs: 2,
            max_text_chars: 5,
        };
        assert!(limits.check_body(10).is_ok());
        let e = limits.check_body(11).unwrap_err();
        assert_eq!(
            (e.name(), e.max(), e.actual()),
            ("max_body_bytes", 10, Some(11))
        );
        assert!(limits.check_pairs(2).is_ok());
        assert_eq!(limits.check_pairs(3).unwrap_err().name(), "max_pairs");
        let pair = PairExample::unlabelled("äöü", Record::Fields(vec!["abc".into(), "def".into()]));
        let e = limits.check_pair(&pair, Some(4)).unwrap_err();
        assert_eq!(e.actual(), Some(6));
        assert_eq!(
            e.to_string(),
            "pair 4: record2: 6 characters of text, more than max_text_chars = 5"
        );
        let e = limits.check_pair(&pair, None).unwrap_err();
        assert!(e.to_string().starts_with("record2: 6"));
    }
}
