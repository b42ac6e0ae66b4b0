//! The CSV reader on arbitrary bytes and on mutations of a valid file.

use biome_core::{DataMapping, Dataset, ReadError, Record, read_csv_from};
use proptest::prelude::*;

use crate::cases;
use crate::mutate::{apply, mutations};

/// A valid file with the features that trip parsers: quoted separators, an escaped quote, a
/// multi-line field, an empty label (skipped), non-ASCII text and CRLF line ends.
pub const VALID: &str = "a,b,c,label\r\n\
anna,\"smith, jr\",x,duplicate\r\n\
\"bob \"\"the\"\" builder\",jones,y,not_duplicate\r\n\
\"multi\nline\",müller,,duplicate\r\n\
skip,me,z,\r\n\
東京,,\"\",not_duplicate\r\n";

pub fn mapping() -> DataMapping {
    DataMapping::new("label", ["a", "c"], ["b"])
}

/// Whether `bytes` end inside a quoted field: the test's own reading of RFC 4180 with spaces
/// and tabs allowed before an opening quote (an oracle, written apart from the reader's).
pub fn ends_inside_quotes(bytes: &[u8]) -> bool {
    let mut quoted = false;
    let mut at_field_start = true;
    let mut just_closed = false;
    for &b in bytes {
        if quoted {
            if b == b'"' {
                quoted = false;
                just_closed = true;
            }
            continue;
        }
        if just_closed && b == b'"' {
            // `""` inside a quoted field: one literal quote, the field goes on
            quoted = true;
            just_closed = false;
            continue;
        }
        just_closed = false;
        match b {
            b',' | b'\n' | b'\r' => at_field_start = true,
            b' ' | b'\t' => {}
            b'"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            _ => at_field_start = false,
        }
    }
    quoted
}

/// What must hold of any answer: a dataset with complete records from input that does not end
/// inside a quoted field, or a typed error.
pub fn check(bytes: &[u8], result: &Result<Dataset, ReadError>) -> Result<(), TestCaseError> {
    let open = ends_inside_quotes(bytes);
    match result {
        Ok(ds) => {
            prop_assert!(
                !open,
                "accepted input that ends inside a quoted field: {:?}",
                String::from_utf8_lossy(bytes)
            );
            for e in &ds.examples {
                prop_assert!(matches!(&e.record1, Record::Named(f) if f.len() == 2));
                prop_assert!(matches!(e.record2, Record::Text(_)));
                prop_assert!(e.label.as_deref().is_some_and(|l| !l.trim().is_empty()));
            }
        }
        Err(e) => {
            // every message names the source; the Display impl must not panic either
            prop_assert!(e.to_string().starts_with("fuzz.csv"), "{e}");
            if matches!(e, ReadError::BadQuoting { .. }) {
                prop_assert!(open, "{e} for {:?}", String::from_utf8_lossy(bytes));
            }
        }
    }
    Ok(())
}

#[test]
fn the_valid_file_reads() {
    let ds = read_csv_from(VALID.as_bytes(), "fuzz.csv", &mapping()).unwrap();
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.skipped_empty_label, 1);
    assert_eq!(
        ds.examples[1].record1.values(),
        ["bob \"the\" builder", "y"]
    );
    assert_eq!(ds.examples[2].record1.values(), ["multi\nline", ""]);
}

proptest! {
    #![proptest_config(crate::settings(cases(300)))]

    #[test]
    fn fuzz_csv_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        // give the header a chance to be right, so the row parser gets fuzzed too
        let mut input = b"a,b,c,label\n".to_vec();
        input.extend_from_slice(&bytes);
        for data in [&bytes[..], &input[..]] {
            let result = read_csv_from(data, "fuzz.csv", &mapping());
            check(data, &result)?;
        }
    }

    #[test]
    fn fuzz_csv_mutated_valid_file(m in mutations()) {
        let bytes = apply(VALID.as_bytes(), &m);
        let result = read_csv_from(&bytes[..], "fuzz.csv", &mapping());
        check(&bytes, &result)?;
    }
}
