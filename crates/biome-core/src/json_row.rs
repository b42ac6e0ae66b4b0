//! One line of a JSON-lines table: an object's keys and values in their order, each value as
//! text, without building a `serde_json::Value` per cell.
//!
//! Values are taken as the raw JSON text the parser has already checked, so a number keeps the
//! digits it was written with (an id of 20 digits would be rounded through `f64`), and a key
//! that appears twice is seen (a `Value` map would keep the last one silently).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object key, borrowed from the line unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// The `(key, raw value)` entries of one JSON object, in order, duplicates included.
pub(crate) type Entries<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Entries<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one per line)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            entries.push((key, value));
        }
        Ok(entries)
    }
}

/// Parses `line` as one JSON object (and nothing after it).
pub(crate) fn parse_object(line: &str) -> Result<Entries<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let entries = deserializer.deserialize_map(ObjectVisitor)?;
    deserializer.end()?;
    Ok(entries)
}

/// The text of a value: a string as it is, a number or boolean as its JSON text, null as empty.
/// An array or object is refused, with a description for the error message.
pub(crate) fn value_text(value: &RawValue) -> Result<String, &'static str> {
    let raw = value.get();
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str(raw).map_err(|_| "a string that is not valid"),
        Some(b'n') => Ok(String::new()),
        Some(b'[') => Err("expected a string, number, boolean or null, found an array"),
        Some(b'{') => Err("expected a string, number, boolean or null, found an object"),
        _ => Ok(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_order_with_raw_values() {
        let line = r#"{"id": 12345678901234567890123, "n\u00e4me": "A \"q\"", "x": null, "b": true, "f": 1.50, "id": 2}"#;
        let entries = parse_object(line).unwrap();
        let texts: Vec<(&str, String)> = entries
            .iter()
            .map(|(k, v)| (k.as_ref(), value_text(v).unwrap()))
            .collect();
        assert_eq!(
            texts,
            [
                ("id", "12345678901234567890123".to_owned()),
                ("näme", "A \"q\"".to_owned()),
                ("x", String::new()),
                ("b", "true".to_owned()),
                ("f", "1.50".to_owned()),
                ("id", "2".to_owned()),
            ]
        );
        assert!(matches!(entries[0].0, Cow::Borrowed(_)));
        assert!(matches!(entries[1].0, Cow::Owned(_)));
    }

    #[test]
    fn nested_values_and_non_objects_are_refused() {
        let entries = parse_object(r#"{"a": [1], "b": {"c": 2}}"#).unwrap();
        assert!(value_text(entries[0].1).unwrap_err().contains("array"));
        assert!(value_text(entries[1].1).unwrap_err().contains("object"));
        let err = parse_object("[1, 2]").unwrap_err();
        assert!(err.to_string().contains("a JSON object"), "{err}");
        assert!(parse_object(r#"{"a": 1} {"b": 2}"#).is_err());
        assert!(parse_object(r#"{"a": 1"#).is_err());
    }
}
