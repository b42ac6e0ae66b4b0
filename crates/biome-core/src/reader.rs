//! CSV and JSONL readers producing [`Dataset`]s of [`PairExample`]s.
//!
//! Data files are user input, so every problem is a typed [`ReadError`] whose message names the
//! file and the 1-based line, and for a missing column the columns that do exist: the user must
//! be able to fix the file from the message alone.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::csv_rows::CsvRows;
use crate::mapping::DataMapping;
pub use crate::read_error::ReadError;
use crate::record::{PairExample, Record};

/// Examples read from one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    /// The examples, in file order.
    pub examples: Vec<PairExample>,
    /// Rows skipped because their label was empty.
    pub skipped_empty_label: usize,
    /// Where the examples came from (a path or a name given by the caller).
    pub source: String,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Number of examples per label, sorted by label.
    pub fn label_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for label in self.examples.iter().filter_map(|e| e.label.as_deref()) {
            *counts.entry(label).or_insert(0) += 1;
        }
        counts
    }

    /// A one-line description for logs: source, number of examples, skipped rows, labels.
    pub fn summary(&self) -> String {
        let mut s = format!("{}: {} examples", self.source, self.examples.len());
        if self.skipped_empty_label > 0 {
            s += &format!(", {} rows skipped (empty label)", self.skipped_empty_label);
        }
        let counts = self.label_counts();
        if !counts.is_empty() {
            let parts: Vec<String> = counts.iter().map(|(l, n)| format!("{l}: {n}")).collect();
            s += &format!("; labels {{{}}}", parts.join(", "));
        }
        s
    }
}

fn check_mapping(mapping: &DataMapping, file: &str) -> Result<(), ReadError> {
    mapping.validate().map_err(|source| ReadError::Mapping {
        file: file.to_owned(),
        source,
    })
}

/// Builds a record from `(column, value)` pairs: one column gives a text record, several a
/// named record (so both record modes work).
pub(crate) fn make_record(mut fields: Vec<(String, String)>) -> Record {
    if fields.len() == 1 {
        Record::Text(fields.pop().map(|(_, v)| v).unwrap_or_default())
    } else {
        Record::Named(fields)
    }
}

/// Opens a data file, naming it in the error.
pub(crate) fn open_source(path: &Path) -> Result<(File, String), ReadError> {
    let name = path.display().to_string();
    File::open(path)
        .map(|file| (file, name.clone()))
        .map_err(|source| ReadError::Io { file: name, source })
}

/// Reads a CSV file with a header row; see [`read_csv_from`].
pub fn read_csv(path: impl AsRef<Path>, mapping: &DataMapping) -> Result<Dataset, ReadError> {
    let (file, name) = open_source(path.as_ref())?;
    read_csv_from(file, &name, mapping)
}

/// Reads CSV with a header row from `reader`; `source_name` names it in errors.
///
/// CSV as users have it: header names and unquoted fields are trimmed, fields may be separated
/// by a comma and a space (`a, "b, c"` is two fields: whitespace before an opening quote is
/// skipped), line ends may be LF or CRLF, and the last row needs no final line break. Every row
/// must have as many columns as the header, and a quoted field still open at the end of the
/// input (a file cut inside it) is an error. Rows whose label is empty are skipped and counted;
/// without a label column in the mapping, examples have no label.
pub fn read_csv_from<R: Read>(
    reader: R,
    source_name: &str,
    mapping: &DataMapping,
) -> Result<Dataset, ReadError> {
    check_mapping(mapping, source_name)?;
    let file = || source_name.to_owned();
    let mut rows = CsvRows::new(reader, source_name, b',')?;
    let headers = rows.headers();
    let position = |column: &str| -> Result<usize, ReadError> {
        headers
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| ReadError::MissingColumn {
                file: file(),
                column: column.to_owned(),
                available: headers.to_vec(),
            })
    };
    let label_col = mapping.label.as_deref().map(position).transpose()?;
    let cols = |names: &[String]| -> Result<Vec<(String, usize)>, ReadError> {
        names
            .iter()
            .map(|n| Ok((n.clone(), position(n)?)))
            .collect()
    };
    let cols1 = cols(&mapping.record1)?;
    let cols2 = cols(&mapping.record2)?;

    let mut dataset = Dataset {
        source: file(),
        ..Default::default()
    };
    let mut record = csv::StringRecord::new();
    while rows.next_row(&mut record)?.is_some() {
        let get = |i: usize| record.get(i).unwrap_or_default().to_owned();
        let label = match label_col {
            Some(i) => {
                let l = get(i).trim().to_owned();
                if l.is_empty() {
                    dataset.skipped_empty_label += 1;
                    continue;
                }
                Some(l)
            }
            None => None,
        };
        let fields = |cols: &[(String, usize)]| -> Vec<(String, String)> {
            cols.iter().map(|(n, i)| (n.clone(), get(*i))).collect()
        };
        let example = PairExample {
            record1: make_record(fields(&cols1)),
            record2: make_record(fields(&cols2)),
            label,
        };
        dataset.examples.push(example);
    }
    Ok(dataset)
}

/// Reads a JSON-lines file; see [`read_jsonl_from`].
pub fn read_jsonl(path: impl AsRef<Path>, mapping: &DataMapping) -> Result<Dataset, ReadError> {
    let (file, name) = open_source(path.as_ref())?;
    read_jsonl_from(file, &name, mapping)
}

/// Reads JSON lines (one object per line; blank lines ignored) from `reader`. Values may be
/// strings, numbers or booleans (written as text) or null (empty). When a record maps to a
/// single key, its value may also be a whole record (an array or object of strings).
pub fn read_jsonl_from<R: Read>(
    reader: R,
    source_name: &str,
    mapping: &DataMapping,
) -> Result<Dataset, ReadError> {
    check_mapping(mapping, source_name)?;
    let file = || source_name.to_owned();
    let mut reader = BufReader::new(reader);
    let mut dataset = Dataset {
        source: file(),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut line: u64 = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| ReadError::Io {
                file: file(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        let text =
            std::str::from_utf8(&buf).map_err(|_| ReadError::InvalidUtf8 { file: file(), line })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| ReadError::Json {
            file: file(),
            line,
            message: e.to_string(),
        })?;
        let Value::Object(object) = value else {
            return Err(ReadError::Json {
                file: file(),
                line,
                message: "expected a JSON object".to_owned(),
            });
        };
        let lookup = |key: &str| -> Result<&Value, ReadError> {
            object.get(key).ok_or_else(|| ReadError::MissingKey {
                file: file(),
                line,
                key: key.to_owned(),
                available: object.keys().cloned().collect(),
            })
        };
        let scalar = |key: &str, value: &Value| -> Result<String, ReadError> {
            value_text(value).ok_or_else(|| ReadError::BadValue {
                file: file(),
                line,
                key: key.to_owned(),
                message: "expected a string, number, boolean or null".to_owned(),
            })
        };
        let label = match mapping.label.as_deref() {
            Some(key) => {
                let l = scalar(key, lookup(key)?)?.trim().to_owned();
                if l.is_empty() {
                    dataset.skipped_empty_label += 1;
                    continue;
                }
                Some(l)
            }
            None => None,
        };
        let record = |keys: &[String]| -> Result<Record, ReadError> {
            if let [key] = keys {
                let value = lookup(key)?;
                if value.is_array() || value.is_object() {
                    return serde_json::from_value::<Record>(value.clone()).map_err(|e| {
                        ReadError::BadValue {
                            file: file(),
                            line,
                            key: key.clone(),
                            message: e.to_string(),
                        }
                    });
                }
            }
            let fields = keys
                .iter()
                .map(|k| Ok((k.clone(), scalar(k, lookup(k)?)?)))
                .collect::<Result<Vec<_>, ReadError>>()?;
            Ok(make_record(fields))
        };
        dataset.examples.push(PairExample {
            record1: record(&mapping.record1)?,
            record2: record(&mapping.record2)?,
            label,
        });
    }
    Ok(dataset)
}

/// The text of a scalar JSON value; `None` for arrays and objects.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Reads `path` as CSV (`.csv`) or JSON lines (`.jsonl`, `.json`), by extension.
pub fn read_dataset(path: impl AsRef<Path>, mapping: &DataMapping) -> Result<Dataset, ReadError> {
    let path = path.as_ref();
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => read_csv(path, mapping),
        Some("jsonl") | Some("json") => read_jsonl(path, mapping),
        _ => Err(ReadError::UnsupportedFormat {
            file: path.display().to_string(),
            expected: "a .csv or .jsonl file",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEBRL: &str = "\
record1_given_name,record1_surname,record1_street_number,record1_address_1,record1_address_2,record1_suburb,record1_postcode,record1_state,record1_date_of_birth,record1_soc_sec_id,record2_given_name,record2_surname,record2_street_number,record2_address_1,record2_address_2,record2_suburb,record2_postcode,record2_state,record2_date_of_birth,record2_soc_sec_id,label
samuel,crofts,613,banjine street,kurrajong vlge,penguin,2230,qld,19410531,4467228,samuel,crofs,613,banjine street,kurrajong vlge,pengzin,2230,qld,19410531,4467228,duplicate
joshua,nguyen,11,beattie crescent,altona,casino,3029,vic,19240622,8948695,josgua,nguyen,11,beattie crescent,altona,casino,3029,vic,19240622,8948695,duplicate
,haack,8,castleton crescent,foxlea,possum creek,3123,vic,,4953359,andrew,rawlings,112,norris place,curringa,east fremantle,2063,nsw,19080327,9292472,not_duplicate
";

    fn febrl_mapping() -> DataMapping {
        let header: Vec<&str> = FEBRL.lines().next().unwrap().split(',').collect();
        DataMapping::from_prefixes(&header, "record1_", "record2_", Some("label"))
    }

    fn csv(text: &str, mapping: &DataMapping) -> Result<Dataset, ReadError> {
        read_csv_from(text.as_bytes(), "mem.csv", mapping)
    }

    fn jsonl(text: &str, mapping: &DataMapping) -> Result<Dataset, ReadError> {
        read_jsonl_from(text.as_bytes(), "mem.jsonl", mapping)
    }

    #[test]
    fn febrl_csv() {
        let ds = csv(FEBRL, &febrl_mapping()).unwrap();
        assert_eq!(ds.len(), 3);
        assert_eq!(ds.source, "mem.csv");
        let e = &ds.examples[2];
        assert_eq!(e.label.as_deref(), Some("not_duplicate"));
        let Record::Named(fields) = &e.record1 else {
            panic!("expected named fields")
        };
        assert_eq!(fields.len(), 10);
        assert_eq!(fields[0], ("record1_given_name".into(), "".into()));
        assert_eq!(fields[1], ("record1_surname".into(), "haack".into()));
        assert_eq!(
            e.record1.to_text(),
            "haack 8 castleton crescent foxlea possum creek 3123 vic 4953359"
        );
        assert_eq!(
            ds.summary(),
            "mem.csv: 3 examples; labels {duplicate: 2, not_duplicate: 1}"
        );
    }

    #[test]
    fn single_columns_empty_labels_and_unlabelled() {
        let text = "a , b,y\nanna,anne,1\nbob,rob,\n\"x, y\",z,0\n";
        let ds = csv(text, &DataMapping::new("y", ["a"], ["b"])).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.skipped_empty_label, 1);
        assert_eq!(ds.examples[0].record1, Record::Text("anna".into()));
        assert_eq!(ds.examples[1].record1, Record::Text("x, y".into()));
        assert!(ds.summary().contains("1 rows skipped"));
        let ds = csv(text, &DataMapping::unlabelled(["a"], ["b"])).unwrap();
        assert_eq!(ds.len(), 3);
        assert!(ds.examples.iter().all(|e| e.label.is_none()));
    }

    #[test]
    fn csv_wrong_column_count() {
        let err = csv("a,b,y\n1,2,3\n1,2\n", &DataMapping::new("y", ["a"], ["b"])).unwrap_err();
        assert!(matches!(
            err,
            ReadError::ColumnCount {
                line: 3,
                expected: 3,
                found: 2,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "mem.csv, line 3: expected 3 columns (as in the header), found 2"
        );
    }

    #[test]
    fn csv_bad_quoting() {
        let err = csv(
            "a,b,y\n1,2,3\n\"open,2,3\n4,5,6\n",
            &DataMapping::new("y", ["a"], ["b"]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "mem.csv, line 3: unterminated quoted field (a '\"' is never closed)"
        );
        // unterminated quote in the last column, right column count
        let err = csv(
            "a,b,y\n1,2,\"3\n4,5,6\n",
            &DataMapping::new("y", ["a"], ["b"]),
        )
        .unwrap_err();
        assert!(
            matches!(err, ReadError::BadQuoting { line: 2, .. }),
            "{err}"
        );
        // a closed multi-line quoted field is fine
        let ds = csv(
            "a,b,y\n\"1\n2\",2,3\n",
            &DataMapping::new("y", ["a"], ["b"]),
        )
        .unwrap();
        assert_eq!(ds.examples[0].record1, Record::Text("1\n2".into()));
    }

    #[test]
    fn csv_as_users_have_it() {
        let m = DataMapping::new("y", ["a", "b"], ["c"]);
        // FEBRL's comma-and-space separators, a quoted field after the space, no final newline
        let text = "a, b, c, y\n anna , \"smith, jr\" ,  x y , 1\nbob,\" spaced \",\"\",0";
        let ds = csv(text, &m).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.examples[0].record1.values(), ["anna", "smith, jr"]);
        assert_eq!(ds.examples[0].record2, Record::Text("x y".into()));
        assert_eq!(ds.examples[0].label.as_deref(), Some("1"));
        // spaces inside quotes are kept exactly
        assert_eq!(ds.examples[1].record1.values(), ["bob", " spaced "]);
        assert_eq!(ds.examples[1].record2, Record::Text("".into()));
        assert_eq!(ds.examples[1].label.as_deref(), Some("0"));
        // CRLF, an embedded newline and escaped quotes in a quoted field after a space
        let text = "a,b,c,y\r\n1, \"say \"\"hi\"\"\r\nthere\", 3, 1\r\n";
        let ds = csv(text, &m).unwrap();
        assert_eq!(
            ds.examples[0].record1.values(),
            ["1", "say \"hi\"\r\nthere"]
        );
        assert_eq!(ds.examples[0].record2, Record::Text("3".into()));
        // a tab between fields counts as whitespace too
        let ds = csv("a,b,c,y\n1,\t\"2\"\t,3,4\n", &m).unwrap();
        assert_eq!(ds.examples[0].record1.values(), ["1", "2"]);
        // errors after a comma-space row still name their line
        let err = csv("a, b, c, y\n1, 2, 3, 4\n1, 2, 3\n", &m).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::ColumnCount {
                    line: 3,
                    found: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn csv_invalid_utf8() {
        let mut bytes = b"a,b,y\n1,2,3\n".to_vec();
        bytes.extend_from_slice(b"x\xff,2,3\n");
        let err =
            read_csv_from(&bytes[..], "mem.csv", &DataMapping::new("y", ["a"], ["b"])).unwrap_err();
        assert!(
            matches!(err, ReadError::InvalidUtf8 { line: 3, .. }),
            "{err}"
        );
        assert_eq!(err.to_string(), "mem.csv, line 3: invalid UTF-8");
    }

    #[test]
    fn csv_missing_column() {
        let err = csv("a,b,label\n1,2,3\n", &DataMapping::new("y", ["a"], ["b"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mem.csv: column \"y\" not found; available columns: a, b, label"
        );
        let err = csv("a,b,y\n", &DataMapping::new("y", ["a", "c"], ["b"])).unwrap_err();
        assert!(matches!(err, ReadError::MissingColumn { ref column, .. } if column == "c"));
        let err = csv("", &DataMapping::new("y", ["a"], ["b"])).unwrap_err();
        assert!(matches!(err, ReadError::MissingColumn { .. }));
    }

    #[test]
    fn bad_mapping() {
        let err = csv("a,b\n", &DataMapping::unlabelled(Vec::<&str>::new(), ["b"])).unwrap_err();
        assert!(err.to_string().contains("record1"), "{err}");
    }

    #[test]
    fn files_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.csv");
        std::fs::write(&path, FEBRL).unwrap();
        let ds = read_dataset(&path, &febrl_mapping()).unwrap();
        assert_eq!(ds.len(), 3);
        assert!(ds.source.ends_with("train.csv"));
        let jpath = dir.path().join("train.jsonl");
        std::fs::write(&jpath, "{\"a\": \"x\", \"b\": \"y\"}\n").unwrap();
        let ds = read_dataset(&jpath, &DataMapping::unlabelled(["a"], ["b"])).unwrap();
        assert_eq!(ds.len(), 1);
        let err = read_dataset(dir.path().join("x.txt"), &febrl_mapping()).unwrap_err();
        assert!(matches!(err, ReadError::UnsupportedFormat { .. }));
        let missing = dir.path().join("missing.csv");
        let err = read_csv(&missing, &febrl_mapping()).unwrap_err();
        assert!(err.to_string().contains("missing.csv"), "{err}");
        let err = read_jsonl(dir.path().join("missing.jsonl"), &febrl_mapping()).unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }));
    }

    #[test]
    fn jsonl_values() {
        let text = r#"{"n": "Anna", "c": 3, "m": null, "r2": {"x": "a", "y": 1}, "label": 1}

{"n": "Bob", "c": 2.5, "m": true, "r2": ["p", "q"], "label": ""}
{"n": "Cy", "c": "", "m": "", "r2": "plain", "label": "0"}
"#;
        let ds = jsonl(text, &DataMapping::new("label", ["n", "c", "m"], ["r2"])).unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds.skipped_empty_label, 1);
        let e = &ds.examples[0];
        assert_eq!(e.label.as_deref(), Some("1"));
        assert_eq!(
            e.record1,
            Record::Named(vec![
                ("n".into(), "Anna".into()),
                ("c".into(), "3".into()),
                ("m".into(), "".into()),
            ])
        );
        assert_eq!(
            e.record2,
            Record::Named(vec![("x".into(), "a".into()), ("y".into(), "1".into())])
        );
        assert_eq!(ds.examples[1].record2, Record::Text("plain".into()));
    }

    #[test]
    fn jsonl_errors() {
        let m = DataMapping::new("label", ["a"], ["b"]);
        let err = jsonl(
            "{\"a\": \"x\", \"b\": \"y\", \"label\": \"1\"}\n{bad json\n",
            &m,
        )
        .unwrap_err();
        assert!(matches!(err, ReadError::Json { line: 2, .. }));
        assert!(
            err.to_string()
                .starts_with("mem.jsonl, line 2: invalid JSON"),
            "{err}"
        );
        let err = jsonl("[1, 2]\n", &m).unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let err = jsonl("{\"a\": \"x\", \"label\": \"1\"}\n", &m).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mem.jsonl, line 1: key \"b\" missing; keys present: a, label"
        );
        let m2 = DataMapping::new("label", ["a", "b"], ["b"]);
        let err = jsonl("{\"a\": [\"x\"], \"b\": \"y\", \"label\": \"1\"}\n", &m2).unwrap_err();
        assert!(matches!(err, ReadError::BadValue { ref key, .. } if key == "a"));
        let err = jsonl("{\"a\": \"x\", \"b\": \"y\", \"label\": [1]}\n", &m).unwrap_err();
        assert!(matches!(err, ReadError::BadValue { ref key, .. } if key == "label"));
        let bytes = b"{\"a\": \"x\xff\", \"b\": \"y\", \"label\": \"1\"}\n";
        let err = read_jsonl_from(&bytes[..], "mem.jsonl", &m).unwrap_err();
        assert_eq!(err.to_string(), "mem.jsonl, line 1: invalid UTF-8");
    }
}
