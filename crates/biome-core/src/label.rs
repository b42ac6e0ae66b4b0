//! Label names <-> class indices.
//!
//! The classifier's output `i` means the `i`-th entry of the `labels` namespace. Unknown labels
//! are an error (never silently mapped), because a typo in a label column would otherwise
//! train the model on wrong targets.

use thiserror::Error;

use crate::vocabulary::{LABELS, Vocabulary};

/// A label that is not in the label set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown label {label:?} (known labels: {known:?})")]
pub struct UnknownLabel {
    /// The label that was looked up.
    pub label: String,
    /// The labels that are known, in index order.
    pub known: Vec<String>,
}

/// The ordered set of labels: index <-> name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    names: Vec<String>,
}

impl LabelSet {
    /// A label set with the given names, in order; repeated names are kept once.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::default();
        set.extend(names);
        set
    }

    /// The labels of the [`LABELS`] namespace of `vocab`.
    pub fn from_vocabulary(vocab: &Vocabulary) -> Self {
        Self::new(vocab.tokens(LABELS))
    }

    /// Adds the labels of this set that are missing to the [`LABELS`] namespace of `vocab`,
    /// at the end, so existing indices stay valid.
    pub fn write_into(&self, vocab: &mut Vocabulary) {
        vocab.extend(LABELS, &self.names);
    }

    /// Number of labels (the classifier's number of outputs).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Label names in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The index of `label`.
    pub fn index(&self, label: &str) -> Result<usize, UnknownLabel> {
        self.names
            .iter()
            .position(|n| n == label)
            .ok_or_else(|| UnknownLabel {
                label: label.to_owned(),
                known: self.names.clone(),
            })
    }

    /// The name of label `index`, if in range.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// Appends the labels not yet present; returns how many were added.
    pub fn extend<I, S>(&mut self, labels: I) -> usize
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut added = 0;
        for label in labels {
            let label = label.as_ref();
            if !self.names.iter().any(|n| n == label) {
                self.names.push(label.to_owned());
                added += 1;
            }
        }
        added
    }
}

/// Index of `label` in the [`LABELS`] namespace of `vocab`.
pub fn label_index(vocab: &Vocabulary, label: &str) -> Result<usize, UnknownLabel> {
    vocab.try_index(LABELS, label).ok_or_else(|| UnknownLabel {
        label: label.to_owned(),
        known: vocab.tokens(LABELS).to_vec(),
    })
}

/// Name of label `index` in the [`LABELS`] namespace of `vocab`.
pub fn label_name(vocab: &Vocabulary, index: usize) -> Option<&str> {
    vocab.token(LABELS, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_name() {
        let mut set = LabelSet::new(["duplicate", "not_duplicate", "duplicate"]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.index("not_duplicate"), Ok(1));
        assert_eq!(set.name(0), Some("duplicate"));
        assert_eq!(set.name(2), None);
        let err = set.index("dupe").unwrap_err();
        assert_eq!(err.label, "dupe");
        assert!(err.to_string().contains("\"dupe\""));
        assert_eq!(set.extend(["maybe", "duplicate"]), 1);
        assert_eq!(set.index("maybe"), Ok(2));
    }

    #[test]
    fn vocabulary_round_trip() {
        let mut vocab = Vocabulary::new();
        vocab.extend(LABELS, ["yes"]);
        let mut set = LabelSet::from_vocabulary(&vocab);
        set.extend(["no"]);
        set.write_into(&mut vocab);
        assert_eq!(label_index(&vocab, "no"), Ok(1));
        assert_eq!(label_name(&vocab, 0), Some("yes"));
        let err = label_index(&vocab, "x").unwrap_err();
        assert_eq!(err.known, ["yes", "no"]);
    }
}
