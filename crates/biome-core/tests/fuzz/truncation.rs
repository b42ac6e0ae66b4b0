//! A data file cut at every byte offset (a partial copy, a full disk, a killed download).
//!
//! A cut on a row boundary reads exactly the complete rows. A cut inside a quoted field is
//! always a typed error naming the line where the cut row starts. A cut elsewhere in a row
//! leaves a shorter last row, as every CSV tool reads a file without a final line break: a
//! column-count error naming its line when the row lost columns, else the row with its last
//! field shortened (a cut inside an unquoted last field cannot be told from a complete field).
//! A cut row is never silently dropped.

use biome_core::{Dataset, ReadError, read_csv_from, read_jsonl_from};

use crate::{csv_reader, jsonl_reader};

/// `(start, end)` byte offsets of each line, the line terminator included.
fn line_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = vec![];
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            spans.push((start, i + 1));
            start = i + 1;
        }
    }
    assert_eq!(start, text.len(), "test data ends with a line break");
    spans
}

fn line_of(text: &str, offset: usize) -> u64 {
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// The examples of `full` that come from rows ending before `offset`.
fn prefix(full: &Dataset, rows_done: usize, skipped_rows: &[usize]) -> (usize, usize) {
    let skipped = skipped_rows.iter().filter(|&&r| r < rows_done).count();
    (rows_done - skipped, skipped.min(full.skipped_empty_label))
}

fn cut_csv_everywhere(text: &str) {
    let mapping = csv_reader::mapping();
    let full = read_csv_from(text.as_bytes(), "fuzz.csv", &mapping).unwrap();
    // CSV rows: a quoted field may span lines, so rows are found by following the quotes (in
    // this file a quote is always at a field's start or end, or doubled inside a quoted field,
    // so toggling on every quote is exact). `quoted[cut]`: the cut falls inside a quoted field.
    let mut rows: Vec<(usize, usize)> = vec![];
    let mut quoted = vec![false; text.len() + 1];
    let mut start = 0;
    let mut in_quotes = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => {
                rows.push((start, i + 1));
                start = i + 1;
            }
            _ => {}
        }
        quoted[i + 1] = in_quotes;
    }
    let header = rows.remove(0);
    let header_text_end = header.0 + text[header.0..header.1].trim_end().len();
    // data rows (0-based) whose label is empty
    let skipped_rows: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, (s, e))| text[*s..*e].trim_end().ends_with(','))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(skipped_rows.len(), full.skipped_empty_label);
    for cut in 0..=text.len() {
        let bytes = &text.as_bytes()[..cut];
        let result = read_csv_from(bytes, "fuzz.csv", &mapping);
        let complete = |end: usize| cut == end || (cut + 1 == end && bytes.last() == Some(&b'\r'));
        if cut <= header.1 {
            if cut >= header_text_end {
                let ds = result.unwrap_or_else(|e| panic!("cut {cut} after the header: {e}"));
                assert!(ds.is_empty());
            } else {
                // a cut header lacks the label column (or has an open quote), never a dataset
                assert!(result.is_err(), "cut {cut} inside the header read as data");
            }
            continue;
        }
        let row = rows.iter().position(|&(s, e)| cut > s && cut <= e).unwrap();
        let (s, e) = rows[row];
        let line = line_of(text, s);
        if complete(e) || cut == s {
            let rows_done = if complete(e) { row + 1 } else { row };
            let ds = result.unwrap_or_else(|err| panic!("cut {cut} at a row end: {err}"));
            let (n, skipped) = prefix(&full, rows_done, &skipped_rows);
            assert_eq!(ds.examples, full.examples[..n], "cut {cut}");
            assert_eq!(ds.skipped_empty_label, skipped, "cut {cut}");
        } else if quoted[cut] {
            expect_line_error(&result, line, cut, text);
            assert!(
                matches!(result, Err(ReadError::BadQuoting { .. })),
                "cut {cut}: {result:?}"
            );
        } else {
            // the cut row, shorter: count its fields
            let mut fields = 1;
            let mut in_quotes = false;
            let mut last_field = s;
            for (i, &b) in text.as_bytes()[s..cut].iter().enumerate() {
                match b {
                    b'"' => in_quotes = !in_quotes,
                    b',' if !in_quotes => {
                        fields += 1;
                        last_field = s + i + 1;
                    }
                    _ => {}
                }
            }
            if fields < 4 {
                expect_line_error(&result, line, cut, text);
                assert!(
                    matches!(result, Err(ReadError::ColumnCount { found, .. }) if found == fields),
                    "cut {cut}: {result:?}"
                );
                continue;
            }
            // only the label, the last field (unquoted here), lost bytes
            let ds = result.unwrap_or_else(|err| panic!("cut {cut} in the last field: {err}"));
            let (n, skipped) = prefix(&full, row, &skipped_rows);
            assert_eq!(ds.examples[..n], full.examples[..n], "cut {cut}");
            let label = text[last_field..cut].trim();
            if label.is_empty() {
                assert_eq!(ds.len(), n, "cut {cut}");
                assert_eq!(ds.skipped_empty_label, skipped + 1, "cut {cut}");
            } else {
                assert_eq!(ds.len(), n + 1, "cut {cut}");
                assert_eq!(ds.skipped_empty_label, skipped, "cut {cut}");
                let (got, want) = (&ds.examples[n], &full.examples[n]);
                assert_eq!(got.record1, want.record1, "cut {cut}");
                assert_eq!(got.record2, want.record2, "cut {cut}");
                assert_eq!(got.label.as_deref(), Some(label), "cut {cut}");
                assert!(want.label.as_deref().unwrap().starts_with(label));
            }
        }
    }
}

fn expect_line_error(result: &Result<Dataset, ReadError>, line: u64, cut: usize, text: &str) {
    match result {
        Ok(ds) => panic!(
            "cut at byte {cut} ({:?}) accepted as {} examples",
            &text[..text.floor_char_boundary(cut)],
            ds.len()
        ),
        Err(e) => assert_eq!(e.line(), Some(line), "cut at byte {cut}: {e}"),
    }
}

#[test]
fn csv_cut_at_every_offset_crlf() {
    cut_csv_everywhere(csv_reader::VALID);
}

#[test]
fn csv_cut_at_every_offset_lf() {
    cut_csv_everywhere(&csv_reader::VALID.replace("\r\n", "\n"));
}

#[test]
fn jsonl_cut_at_every_offset() {
    let text = jsonl_reader::VALID;
    let mapping = jsonl_reader::mapping();
    let full = read_jsonl_from(text.as_bytes(), "fuzz.jsonl", &mapping).unwrap();
    let lines = line_spans(text);
    let skipped_lines: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (s, e))| {
            text[*s..*e].trim().is_empty() || text[*s..*e].contains("\"label\": \"\"")
        })
        .map(|(i, _)| i)
        .collect();
    for cut in 0..=text.len() {
        let result = read_jsonl_from(&text.as_bytes()[..cut], "fuzz.jsonl", &mapping);
        let i = lines.iter().position(|&(s, e)| cut >= s && cut < e);
        let Some(i) = i else {
            // the whole file
            assert_eq!(result.unwrap(), full);
            continue;
        };
        let (s, e) = lines[i];
        // the object is complete once its closing brace is in
        let content_end = s + text[s..e].trim_end().len();
        let lines_done = if cut >= content_end && content_end > s {
            i + 1
        } else {
            i
        };
        if cut == s || cut >= content_end {
            let ds = result.unwrap_or_else(|err| panic!("cut {cut} after a whole object: {err}"));
            let skipped = skipped_lines.iter().filter(|&&l| l < lines_done).count();
            let blank = lines[..lines_done]
                .iter()
                .filter(|(s, e)| text[*s..*e].trim().is_empty())
                .count();
            assert_eq!(
                ds.examples,
                full.examples[..lines_done - skipped],
                "cut {cut}"
            );
            assert_eq!(ds.skipped_empty_label, skipped - blank, "cut {cut}");
        } else {
            expect_line_error(&result, i as u64 + 1, cut, text);
        }
    }
}

#[test]
fn a_csv_file_without_a_final_line_break_reads_its_last_row_but_a_cut_quote_is_refused() {
    let m = csv_reader::mapping();
    // as every CSV tool reads it (FEBRL's dataset4a.csv ends so)
    let ds = read_csv_from(
        "a,b,c,label\nx,y,z,dup\nu,v,w,no".as_bytes(),
        "fuzz.csv",
        &m,
    )
    .unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.examples[1].label.as_deref(), Some("no"));
    assert_eq!(ds.examples[1].record1.values(), ["u", "w"]);
    // a quoted last field, closed
    let ds = read_csv_from("a,b,c,label\nx,y,z,\"no\"".as_bytes(), "fuzz.csv", &m).unwrap();
    assert_eq!(ds.examples[0].label.as_deref(), Some("no"));
    // an unterminated quote cut before any line break
    let err = read_csv_from("a,b,c,label\nx,y,z,\"dupl".as_bytes(), "fuzz.csv", &m).unwrap_err();
    assert!(
        matches!(err, ReadError::BadQuoting { line: 2, .. }),
        "{err}"
    );
    // cut inside a multi-line quoted field: the line where its row starts
    let text = "a,b,c,label\r\nx,y,z,dup\r\nu, \"v\r\nstill v";
    let err = read_csv_from(text.as_bytes(), "fuzz.csv", &m).unwrap_err();
    assert!(
        matches!(err, ReadError::BadQuoting { line: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("fuzz.csv, line 3: unterminated quoted field")
    );
    // an earlier error comes first
    let text = "a,b,c,label\nx,y,dup\nu,v,w,\"open";
    let err = read_csv_from(text.as_bytes(), "fuzz.csv", &m).unwrap_err();
    assert!(
        matches!(err, ReadError::ColumnCount { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn csv_errors_name_the_right_line_with_crlf_line_ends() {
    // Regression: the csv crate counts one line short per CRLF, so errors in Windows files
    // named the line before the bad row.
    let m = biome_core::DataMapping::new("y", ["a"], ["b"]);
    for (text, line) in [
        ("a,b,y\r\n1,2,3\r\n1,2\r\n", 3),
        ("a,b,y\r\n\r\n1,2,3\r\n\"1\r\n\",2,3\r\n4,5\r\n", 6),
        ("a,b,y\n\n1,2,3\n\"1\n\",2,3\n4,5\n", 6),
        ("a,b,y\r\n1,2,3\r\n4,5", 3),
    ] {
        let err = read_csv_from(text.as_bytes(), "x.csv", &m).unwrap_err();
        assert_eq!(err.line(), Some(line), "{text:?}: {err}");
    }
}
