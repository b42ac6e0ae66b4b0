//! Records (one side of a pair) and labelled pairs.
//!
//! A record is what a user compares: a free text, a list of field values, or named fields
//! (e.g. a person with first name, surname, address). Whether it is read as one text or as
//! one text per field is the model's choice ([`RecordMode`]), so records keep their fields and
//! the order of named fields (the multi-field encoder relies on a stable field order).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// One record: a text, a list of field texts, or named fields in order.
///
/// In JSON: a string, an array of strings, or an object of strings (key order preserved).
/// Numbers and booleans are accepted and converted to text; `null` is an empty field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A single text.
    Text(String),
    /// Field values in order.
    Fields(Vec<String>),
    /// `(name, value)` fields in order.
    Named(Vec<(String, String)>),
}

/// How a record is turned into token sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordMode {
    /// One text: the non-empty field values joined with a single space.
    #[default]
    Text,
    /// One text per non-empty field (empty and whitespace-only fields are dropped, as in
    /// biome.text); each field is encoded separately and the field vectors are combined.
    Multifield,
}

/// Errors about record contents.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// A record has no text at all (every field empty or whitespace).
    #[error("{which} is empty: it has no text in any field")]
    EmptyRecord {
        /// `record1` or `record2`.
        which: &'static str,
    },
}

fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

impl Record {
    /// Named fields from `(name, text)` pairs, in the given order.
    pub fn named<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::Named(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// All field values in order, empty ones included.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Record::Text(t) => vec![t.as_str()],
            Record::Fields(f) => f.iter().map(String::as_str).collect(),
            Record::Named(f) => f.iter().map(|(_, v)| v.as_str()).collect(),
        }
    }

    /// The field values that are not empty or whitespace-only, in order.
    pub fn non_empty_fields(&self) -> Vec<&str> {
        self.values().into_iter().filter(|v| !is_blank(v)).collect()
    }

    /// Whether the record has no text in any field.
    pub fn is_empty(&self) -> bool {
        self.non_empty_fields().is_empty()
    }

    /// The record as one text: non-empty field values joined with a single space.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Record::Text(t) => Cow::Borrowed(t.as_str()),
            _ => Cow::Owned(self.non_empty_fields().join(" ")),
        }
    }

    /// The texts to tokenize under `mode`: exactly one text in [`RecordMode::Text`] (possibly
    /// empty), one per non-empty field in [`RecordMode::Multifield`] (possibly none).
    pub fn texts(&self, mode: RecordMode) -> Vec<Cow<'_, str>> {
        match mode {
            RecordMode::Text => vec![self.to_text()],
            RecordMode::Multifield => self
                .non_empty_fields()
                .into_iter()
                .map(Cow::Borrowed)
                .collect(),
        }
    }
}

impl From<&str> for Record {
    fn from(text: &str) -> Self {
        Record::Text(text.to_owned())
    }
}

impl From<String> for Record {
    fn from(text: String) -> Self {
        Record::Text(text)
    }
}

impl From<Vec<String>> for Record {
    fn from(fields: Vec<String>) -> Self {
        Record::Fields(fields)
    }
}

impl From<Vec<(String, String)>> for Record {
    fn from(fields: Vec<(String, String)>) -> Self {
        Record::Named(fields)
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Record::Text(t) => serializer.serialize_str(t),
            Record::Fields(f) => {
                let mut seq = serializer.serialize_seq(Some(f.len()))?;
                for v in f {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Record::Named(f) => {
                let mut map = serializer.serialize_map(Some(f.len()))?;
                for (k, v) in f {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A field value: a string, or a number/boolean written as text, or null (empty).
struct FieldText(String);

impl<'de> Deserialize<'de> for FieldText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldText, E> {
                Ok(FieldText(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<FieldText, E> {
                Ok(FieldText(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FieldText, E> {
                Ok(FieldText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldText, E> {
                Ok(FieldText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldText, E> {
                Ok(FieldText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FieldText, E> {
                Ok(FieldText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<FieldText, E> {
                Ok(FieldText(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<FieldText, E> {
                Ok(FieldText(String::new()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record: a string, an array of strings or an object of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Record, E> {
                Ok(Record::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Record, E> {
                Ok(Record::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Record, E> {
                Ok(Record::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Record, E> {
                Ok(Record::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Record, E> {
                Ok(Record::Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Record, A::Error> {
                let mut fields = Vec::new();
                while let Some(FieldText(v)) = seq.next_element()? {
                    fields.push(v);
                }
                Ok(Record::Fields(fields))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, FieldText(v))) = map.next_entry::<String, FieldText>()? {
                    fields.push((k, v));
                }
                Ok(Record::Named(fields))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A pair of records with an optional label (absent for prediction input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairExample {
    /// The first record.
    pub record1: Record,
    /// The second record.
    pub record2: Record,
    /// The label name, e.g. `duplicate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl PairExample {
    /// A pair with a label.
    pub fn new(record1: impl Into<Record>, record2: impl Into<Record>, label: &str) -> Self {
        Self {
            record1: record1.into(),
            record2: record2.into(),
            label: Some(label.to_owned()),
        }
    }

    /// A pair without a label.
    pub fn unlabelled(record1: impl Into<Record>, record2: impl Into<Record>) -> Self {
        Self {
            record1: record1.into(),
            record2: record2.into(),
            label: None,
        }
    }

    /// Checks that neither record is empty: an empty record has nothing to compare, and the
    /// encoders would see an all-padding sequence. Batching itself tolerates empty records.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.record1.is_empty() {
            return Err(RecordError::EmptyRecord { which: "record1" });
        }
        if self.record2.is_empty() {
            return Err(RecordError::EmptyRecord { which: "record2" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(pairs: &[(&str, &str)]) -> Record {
        Record::named(pairs.iter().copied())
    }

    #[test]
    fn serde_forms_and_key_order() {
        let r: Record = serde_json::from_str(r#""hello""#).unwrap();
        assert_eq!(r, Record::Text("hello".into()));
        let r: Record = serde_json::from_str(r#"["a", 3, null]"#).unwrap();
        assert_eq!(r, Record::Fields(vec!["a".into(), "3".into(), "".into()]));
        let r: Record = serde_json::from_str(r#"{"z": "1", "a": "2", "m": 3.5}"#).unwrap();
        assert_eq!(r, named(&[("z", "1"), ("a", "2"), ("m", "3.5")]));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"z":"1","a":"2","m":"3.5"}"#
        );
        assert!(serde_json::from_str::<Record>(r#"[["nested"]]"#).is_err());
        assert!(serde_json::from_str::<Record>("null").is_err());
        let mode: RecordMode = serde_json::from_str(r#""multifield""#).unwrap();
        assert_eq!(mode, RecordMode::Multifield);
    }

    #[test]
    fn texts_by_mode() {
        let r = named(&[("first", "Anna"), ("middle", "  "), ("last", "Müller")]);
        assert_eq!(r.texts(RecordMode::Text), ["Anna Müller"]);
        assert_eq!(r.texts(RecordMode::Multifield), ["Anna", "Müller"]);
        let t = Record::from("x y");
        assert_eq!(t.texts(RecordMode::Multifield), ["x y"]);
        let e = Record::Fields(vec!["".into(), " ".into()]);
        assert!(e.is_empty());
        assert_eq!(e.texts(RecordMode::Text), [""]);
        assert!(e.texts(RecordMode::Multifield).is_empty());
    }

    #[test]
    fn pair_validation() {
        let p = PairExample::new("a", "b", "yes");
        assert_eq!(p.validate(), Ok(()));
        let p = PairExample::unlabelled("a", Record::Fields(vec![" ".into()]));
        let err = p.validate().unwrap_err();
        assert_eq!(err, RecordError::EmptyRecord { which: "record2" });
        assert!(err.to_string().contains("record2"));
        let p: PairExample =
            serde_json::from_str(r#"{"record1": {"a": "x"}, "record2": "y"}"#).unwrap();
        assert_eq!(p.label, None);
    }
}
