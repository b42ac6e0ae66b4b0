//! Which columns of a data file make up record1, record2 and the label.
//!
//! Pair data comes as wide tables (`record1_name, record1_city, ..., record2_name, ..., label`)
//! or JSON lines; the mapping names the columns once so that readers, training and prediction
//! agree. A record from several columns keeps the column names, so it can be read as one text
//! or field by field.

use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

/// A mapping that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    /// `record1` or `record2` names no column.
    #[error("data mapping: {which} must name at least one column")]
    NoColumns {
        /// `record1` or `record2`.
        which: &'static str,
    },
    /// A column name is empty.
    #[error("data mapping: {which} has an empty column name")]
    EmptyColumnName {
        /// `label`, `record1` or `record2`.
        which: &'static str,
    },
}

/// Column names of the label and the two records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataMapping {
    /// The label column; absent for prediction input (the examples then have no label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Columns of the first record: one column name or a list (written as a string or a list).
    #[serde(deserialize_with = "one_or_many")]
    pub record1: Vec<String>,
    /// Columns of the second record: one column name or a list.
    #[serde(deserialize_with = "one_or_many")]
    pub record2: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl DataMapping {
    /// A labelled mapping.
    pub fn new<S: Into<String>>(
        label: &str,
        record1: impl IntoIterator<Item = S>,
        record2: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            label: Some(label.to_owned()),
            record1: record1.into_iter().map(Into::into).collect(),
            record2: record2.into_iter().map(Into::into).collect(),
        }
    }

    /// A mapping without a label column (prediction input).
    pub fn unlabelled<S: Into<String>>(
        record1: impl IntoIterator<Item = S>,
        record2: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            label: None,
            record1: record1.into_iter().map(Into::into).collect(),
            record2: record2.into_iter().map(Into::into).collect(),
        }
    }

    /// A mapping from a header by column-name prefixes: every column starting with `prefix1`
    /// goes to record1, with `prefix2` to record2 (in header order); `label` is the label column
    /// if given. Handy for wide tables like `record1_given_name, ..., record2_..., label`.
    pub fn from_prefixes<S: AsRef<str>>(
        columns: &[S],
        prefix1: &str,
        prefix2: &str,
        label: Option<&str>,
    ) -> Self {
        let pick = |prefix: &str| {
            columns
                .iter()
                .map(AsRef::as_ref)
                .filter(|c| c.starts_with(prefix))
                .map(str::to_owned)
                .collect()
        };
        Self {
            label: label.map(str::to_owned),
            record1: pick(prefix1),
            record2: pick(prefix2),
        }
    }

    /// Checks that both records name at least one column and no name is empty.
    pub fn validate(&self) -> Result<(), MappingError> {
        if self.label.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err(MappingError::EmptyColumnName { which: "label" });
        }
        for (which, cols) in [("record1", &self.record1), ("record2", &self.record2)] {
            if cols.is_empty() {
                return Err(MappingError::NoColumns { which });
            }
            if cols.iter().any(|c| c.trim().is_empty()) {
                return Err(MappingError::EmptyColumnName { which });
            }
        }
        Ok(())
    }

    /// Every column the mapping reads, label first.
    pub fn columns(&self) -> Vec<&str> {
        self.label
            .iter()
            .chain(&self.record1)
            .chain(&self.record2)
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_or_list() {
        let m: DataMapping =
            serde_json::from_str(r#"{"label": "y", "record1": "a", "record2": ["b", "c"]}"#)
                .unwrap();
        assert_eq!(m, DataMapping::new("y", ["a"], ["b", "c"]));
        assert_eq!(m.columns(), ["y", "a", "b", "c"]);
        let m: DataMapping = serde_json::from_str(r#"{"record1": "a", "record2": "b"}"#).unwrap();
        assert_eq!(m.label, None);
        assert!(
            serde_json::from_str::<DataMapping>(r#"{"record1": "a", "record2": "b", "x": 1}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<DataMapping>(r#"{"record1": 3, "record2": "b"}"#).is_err());
    }

    #[test]
    fn validation_and_prefixes() {
        let m = DataMapping::unlabelled(Vec::<&str>::new(), ["b"]);
        assert_eq!(
            m.validate(),
            Err(MappingError::NoColumns { which: "record1" })
        );
        let m = DataMapping::new("", ["a"], ["b"]);
        assert!(m.validate().is_err());
        let header = [
            "record1_name",
            "record1_city",
            "record2_name",
            "record2_city",
            "label",
        ];
        let m = DataMapping::from_prefixes(&header, "record1_", "record2_", Some("label"));
        assert_eq!(m.record1, ["record1_name", "record1_city"]);
        assert_eq!(m.record2, ["record2_name", "record2_city"]);
        assert_eq!(m.validate(), Ok(()));
    }
}
