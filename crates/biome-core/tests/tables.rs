//! The table readers (CSV, TSV, JSON lines, Parquet) and `table_records`, through the public
//! API: each quirk of real files, and each bad input with the error it must give.

use biome_core::{
    ReadError, Record, Table, read_table, read_table_csv_from, read_table_jsonl_from,
    read_table_tsv_from, table_records,
};

fn csv(text: &str) -> Result<Table, ReadError> {
    read_table_csv_from(text.as_bytes(), "t.csv")
}

fn jsonl(text: &str) -> Result<Table, ReadError> {
    read_table_jsonl_from(text.as_bytes(), "t.jsonl")
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The start of FEBRL's dataset3.csv as shipped: comma-and-space separators, empty values as
/// a lone space, and (like dataset4a.csv) no final line break.
const FEBRL: &str = "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id
rec-1496-org, mitchell, green, 7, wallaby place, delmar, cleveland, 2119, sa, 19560409, 1804974
rec-552-dup-3, harley, mccarthy, 177, pridhamstreet, milton, marsden, 3165, nsw, 19080419, 6089216
rec-1716-dup-1, isabelle, , 23, gundulu place, currin ga, utakarra, 2193, wa, 19921119, 4314184";

#[test]
fn febrl_csv_with_comma_space_separators_and_no_final_newline() {
    let table = csv(FEBRL).unwrap();
    assert_eq!(table.source, "t.csv");
    assert_eq!(table.columns.len(), 11);
    assert_eq!(table.columns[1], "given_name");
    assert_eq!(table.len(), 3);
    assert!(!table.is_empty());
    assert_eq!(table.lines, [2, 3, 4]);
    assert_eq!(table.rows[0][0], "rec-1496-org");
    assert_eq!(table.rows[0][4], "wallaby place");
    assert_eq!(table.rows[2][2], "");
    assert_eq!(table.rows[2][5], "currin ga");
    assert_eq!(table.rows[2][10], "4314184");
    assert_eq!(table.column("postcode").unwrap(), 7);
}

#[test]
fn csv_quotes_after_a_space_crlf_embedded_newlines_and_escaped_quotes() {
    let text = "id , name,note\r\n\
                1, \"smith, jr\" , plain text \r\n\
                \r\n\
                2,\" kept  spaces \",\"say \"\"hi\"\"\"\r\n\
                3,\"two\r\nlines\",\"\"\r\n";
    let table = csv(text).unwrap();
    assert_eq!(table.columns, ["id", "name", "note"]);
    assert_eq!(table.rows[0], ["1", "smith, jr", "plain text"]);
    assert_eq!(table.rows[1], ["2", " kept  spaces ", "say \"hi\""]);
    assert_eq!(table.rows[2], ["3", "two\r\nlines", ""]);
    // the blank line is skipped but counted
    assert_eq!(table.lines, [2, 4, 5]);
}

#[test]
fn csv_with_a_byte_order_mark_before_a_quoted_header() {
    // as Excel's "CSV UTF-8" writes it
    let table = csv("\u{feff}\"id\", name\r\n1, \"a\"\r\n").unwrap();
    assert_eq!(table.columns, ["id", "name"]);
    assert_eq!(table.rows, [strings(&["1", "a"])]);
}

#[test]
fn tsv_splits_on_tabs_only() {
    let table =
        read_table_tsv_from("id\tname\n1\t anna , b \n2\t\"x\ty\"\n".as_bytes(), "t.tsv").unwrap();
    assert_eq!(table.columns, ["id", "name"]);
    assert_eq!(
        table.rows,
        [strings(&["1", "anna , b"]), strings(&["2", "x\ty"])]
    );
}

#[test]
fn csv_bad_input_is_a_typed_error_naming_file_and_line() {
    let err = csv("id,name\n1,a\n2,b,c\n").unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::ColumnCount {
                line: 3,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    // cut inside a quoted field: the line where its row starts
    let err = csv("id,name\n1,a\n2, \"b\nstill b").unwrap_err();
    assert!(
        matches!(err, ReadError::BadQuoting { line: 3, .. }),
        "{err}"
    );
    let err = csv("id,name\n1,\"a\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv, line 2: unterminated quoted field (a '\"' is never closed)"
    );
    let err = read_table_csv_from(&b"id,name\n1,\xff\n"[..], "t.csv").unwrap_err();
    assert_eq!(err.to_string(), "t.csv, line 2: invalid UTF-8");
    // a header and no rows, or nothing at all
    for text in ["id, name\n", "", "\n\n"] {
        let err = csv(text).unwrap_err();
        assert!(
            matches!(err, ReadError::EmptyTable { .. }),
            "{text:?}: {err}"
        );
        assert_eq!(err.to_string(), "t.csv: the table has no rows");
    }
    let err = csv("id, name, id\n1, a, 2\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: column \"id\" appears more than once in the header"
    );
}

#[test]
fn jsonl_columns_are_the_union_of_keys_in_first_seen_order() {
    let text = r#"{"id": "a", "name": "Anna", "n": 12345678901234567890123}

{"id": 2, "city": "Köln", "name": null, "ok": true, "f": 1.50}
{"city": "Bonn", "id": "c "}
"#;
    let table = jsonl(text).unwrap();
    assert_eq!(table.columns, ["id", "name", "n", "city", "ok", "f"]);
    assert_eq!(
        table.rows,
        [
            strings(&["a", "Anna", "12345678901234567890123", "", "", ""]),
            strings(&["2", "", "", "Köln", "true", "1.50"]),
            strings(&["c ", "", "", "Bonn", "", ""]),
        ]
    );
    assert_eq!(table.lines, [1, 3, 4]);
    // no final line break needed
    let table = jsonl("{\"id\": 1}\n{\"id\": 2}").unwrap();
    assert_eq!(table.len(), 2);
}

#[test]
fn jsonl_bad_input_is_a_typed_error_naming_file_and_line() {
    let err = jsonl("{\"id\": 1}\n{\"id\": [1, 2]}\n").unwrap_err();
    assert!(
        matches!(err, ReadError::BadValue { line: 2, ref key, .. } if key == "id"),
        "{err}"
    );
    assert!(err.to_string().contains("found an array"), "{err}");
    let err = jsonl("{\"id\": 1, \"x\": {\"y\": 2}}\n").unwrap_err();
    assert!(err.to_string().contains("found an object"), "{err}");
    let err = jsonl("{\"id\": 1, \"name\": \"a\", \"id\": 2}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.jsonl, line 1: key \"id\": the key appears more than once in this object"
    );
    let err = jsonl("{\"id\": 1}\n{\"id\": 2\n").unwrap_err();
    assert!(matches!(err, ReadError::Json { line: 2, .. }), "{err}");
    let err = jsonl("{\"id\": 1}\n\n[1, 2]\n").unwrap_err();
    assert!(matches!(err, ReadError::Json { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("a JSON object"), "{err}");
    let err = jsonl("{\"id\": 1} 2\n").unwrap_err();
    assert!(matches!(err, ReadError::Json { line: 1, .. }), "{err}");
    let err = read_table_jsonl_from(&b"{\"id\": \"\xff\"}\n"[..], "t.jsonl").unwrap_err();
    assert_eq!(err.to_string(), "t.jsonl, line 1: invalid UTF-8");
    for text in ["", "\n  \n"] {
        let err = jsonl(text).unwrap_err();
        assert!(matches!(err, ReadError::EmptyTable { .. }), "{err}");
    }
}

#[test]
fn records_one_field_is_text_several_are_named_in_the_order_asked() {
    let table = csv(FEBRL).unwrap();
    let one = table_records(&table, "rec_id", &strings(&["surname"]), None).unwrap();
    assert_eq!(one.source, "t.csv");
    assert_eq!(one.ids, ["rec-1496-org", "rec-552-dup-3", "rec-1716-dup-1"]);
    assert_eq!(one.records[1], Record::Text("mccarthy".into()));
    assert_eq!(one.entities, None);
    assert_eq!(one.len(), 3);
    let fields = strings(&["surname", "given_name", "postcode"]);
    let named = table_records(&table, "rec_id", &fields, Some("state")).unwrap();
    assert_eq!(
        named.records[2],
        Record::Fields(strings(&["", "isabelle", "2193"]))
    );
    assert_eq!(named.entities, Some(strings(&["sa", "nsw", "wa"])));
}

#[test]
fn records_ids_are_trimmed_strings() {
    let table = jsonl("{\"id\": 7, \"x\": \"a\"}\n{\"id\": \" 8 \", \"x\": \"b\"}\n").unwrap();
    let records = table_records(&table, "id", &strings(&["x"]), None).unwrap();
    assert_eq!(records.ids, ["7", "8"]);
}

#[test]
fn records_bad_columns_and_ids_are_typed_errors() {
    let table = csv("id,name,entity\n1,a,e1\n2,b,e1\n").unwrap();
    let fields = strings(&["name"]);
    let err = table_records(&table, "rec_id", &fields, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: column \"rec_id\" not found; available columns: id, name, entity"
    );
    let err = table_records(&table, "id", &strings(&["name", "city"]), None).unwrap_err();
    assert!(matches!(err, ReadError::MissingColumn { ref column, .. } if column == "city"));
    let err = table_records(&table, "id", &fields, Some("cluster")).unwrap_err();
    assert!(matches!(err, ReadError::MissingColumn { ref column, .. } if column == "cluster"));
    let err = table_records(&table, "id", &[], None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: no columns given to compare; available columns: id, name, entity"
    );

    let table = csv("id,name\n1,a\n\n\"2\",b\n 1 ,c\n").unwrap();
    let err = table_records(&table, "id", &fields, None).unwrap_err();
    assert!(
        matches!(err, ReadError::DuplicateId { line: 5, first_line: 2, ref id, .. } if id == "1"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "t.csv, line 5: id \"1\" is already the id of line 2"
    );
    let table = csv("id,name\n1,a\n\" \",b\n").unwrap();
    let err = table_records(&table, "id", &fields, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv, line 3: empty value in the id column \"id\""
    );
    assert_eq!(err.line(), Some(3));
    let table = csv("id,name,entity\n1,a,e1\n2,b,\n").unwrap();
    let err = table_records(&table, "id", &fields, Some("entity")).unwrap_err();
    assert!(
        matches!(err, ReadError::EmptyId { line: 3, ref column, .. } if column == "entity"),
        "{err}"
    );
}

#[test]
fn read_table_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let table = read_table(write("a.csv", "id, x\n1, a")).unwrap();
    assert_eq!(table.rows, [strings(&["1", "a"])]);
    assert!(table.source.ends_with("a.csv"));
    let table = read_table(write("a.TSV", "id\tx\n1\ta\n")).unwrap();
    assert_eq!(table.rows, [strings(&["1", "a"])]);
    for name in ["a.jsonl", "a.json", "a.ndjson"] {
        let table = read_table(write(name, "{\"id\": 1, \"x\": \"a\"}\n")).unwrap();
        assert_eq!(table.rows, [strings(&["1", "a"])], "{name}");
    }
    let err = read_table(write("a.txt", "id\n1\n")).unwrap_err();
    assert!(matches!(err, ReadError::UnsupportedFormat { .. }), "{err}");
    assert!(err.to_string().contains(".tsv"), "{err}");
    assert!(err.to_string().contains(".jsonl"), "{err}");
    #[cfg(not(feature = "parquet"))]
    {
        let err = read_table(write("a.parquet", "PAR1")).unwrap_err();
        assert!(matches!(err, ReadError::UnsupportedFormat { .. }), "{err}");
        assert!(err.to_string().contains("`parquet` feature"), "{err}");
    }
    let err = read_table(dir.path().join("missing.csv")).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.csv"), "{err}");
}

/// Parquet files written here with the parquet crate's writer (the dependency of the `parquet`
/// feature), and two fixtures that pyarrow wrote (see `fixtures/make_parquet_fixtures.py`).
#[cfg(feature = "parquet")]
mod parquet_files {
    use std::fs::File;
    use std::path::Path;
    use std::sync::Arc;

    use parquet::basic::Compression;
    use parquet::data_type::{
        BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type,
    };
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// Writes `people.parquet` with the parquet crate's writer: two row groups (so row numbers
    /// run on across them), snappy, a null in each optional column.
    fn write_people(path: &Path) {
        let schema = parse_message_type(
            "message people {
                REQUIRED BYTE_ARRAY id (UTF8);
                OPTIONAL BYTE_ARRAY name (UTF8);
                OPTIONAL INT64 postcode;
                OPTIONAL INT32 born (DATE);
                OPTIONAL DOUBLE score;
                OPTIONAL BOOLEAN flag;
            }",
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = File::create(path).unwrap();
        let mut writer =
            SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
        let groups: [(&[&str], [i16; 2]); 2] = [(&["a", "b"], [1, 0]), (&["c", "d"], [0, 1])];
        for (ids, present) in groups {
            let mut group = writer.next_row_group().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            let values: Vec<ByteArray> = ids.iter().map(|s| ByteArray::from(*s)).collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)
                .unwrap();
            column.close().unwrap();
            let n = present.iter().filter(|&&p| p == 1).count();
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<ByteArrayType>()
                .write_batch(
                    &vec![ByteArray::from("Anna Müller"); n],
                    Some(&present),
                    None,
                )
                .unwrap();
            column.close().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<Int64Type>()
                .write_batch(&vec![2119; n], Some(&present), None)
                .unwrap();
            column.close().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            // 1956-04-09
            column
                .typed::<Int32Type>()
                .write_batch(&vec![-5015; n], Some(&present), None)
                .unwrap();
            column.close().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<DoubleType>()
                .write_batch(&vec![0.25; n], Some(&present), None)
                .unwrap();
            column.close().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<BoolType>()
                .write_batch(&vec![true; n], Some(&present), None)
                .unwrap();
            column.close().unwrap();
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    #[test]
    fn parquet_round_trip_with_nulls_and_ints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("people.parquet");
        write_people(&path);
        let table = read_table(&path).unwrap();
        assert_eq!(
            table.columns,
            ["id", "name", "postcode", "born", "score", "flag"]
        );
        let full = strings(&["", "Anna Müller", "2119", "1956-04-09", "0.25", "true"]);
        let empty = strings(&["", "", "", "", "", ""]);
        let row = |id: &str, values: &[String]| {
            let mut row = values.to_vec();
            row[0] = id.to_owned();
            row
        };
        assert_eq!(
            table.rows,
            [
                row("a", &full),
                row("b", &empty),
                row("c", &empty),
                row("d", &full)
            ]
        );
        assert_eq!(table.lines, [1, 2, 3, 4]);
        let records = table_records(&table, "id", &strings(&["name", "postcode"]), None).unwrap();
        assert_eq!(records.ids, ["a", "b", "c", "d"]);
        assert_eq!(
            records.records[3],
            Record::Fields(strings(&["Anna Müller", "2119"]))
        );
    }

    #[test]
    fn parquet_from_pyarrow_snappy() {
        let table = read_table(fixture("people_snappy_pyarrow.parquet")).unwrap();
        assert_eq!(
            table.columns,
            [
                "rec_id",
                "given_name",
                "postcode",
                "score",
                "born",
                "seen",
                "flag"
            ]
        );
        assert_eq!(
            table.rows,
            [
                strings(&[
                    "rec-1-org",
                    "mitchell",
                    "2119",
                    "0.5",
                    "1956-04-09",
                    "2020-01-02T03:04:05.123",
                    "true"
                ]),
                strings(&["rec-1-dup-0", "", "", "1", "", "", "false"]),
                strings(&["rec-2-org", "harley", "3165", "", "1908-04-19", "", ""]),
            ]
        );
    }

    #[test]
    fn parquet_zstd_nested_and_damaged_files_are_clear_errors() {
        let err = read_table(fixture("people_zstd_pyarrow.parquet")).unwrap_err();
        assert!(matches!(err, ReadError::Parquet { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message
                .contains("people_zstd_pyarrow.parquet: column \"rec_id\" is compressed with zstd"),
            "{message}"
        );
        assert!(message.contains("snappy"), "{message}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested.parquet");
        let schema = parse_message_type(
            "message m {
                REQUIRED INT64 id;
                OPTIONAL group tags (LIST) { REPEATED group list { OPTIONAL BYTE_ARRAY element (UTF8); } }
            }",
        )
        .unwrap();
        let file = File::create(&path).unwrap();
        let props = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(file, Arc::new(schema), props).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int64Type>()
            .write_batch(&[1], None, None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&[ByteArray::from("x")], Some(&[3]), Some(&[0]))
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();
        let err = read_table(&path).unwrap_err();
        assert!(
            err.to_string().contains("column \"tags\" is nested"),
            "{err}"
        );

        let path = dir.path().join("garbage.parquet");
        std::fs::write(&path, "id,name\n1,a\n").unwrap();
        let err = read_table(&path).unwrap_err();
        assert!(matches!(err, ReadError::Parquet { .. }), "{err}");
        assert!(
            err.to_string().contains("not a readable Parquet file"),
            "{err}"
        );
        // cut: the footer is gone
        let mut bytes = std::fs::read(fixture("people_snappy_pyarrow.parquet")).unwrap();
        bytes.truncate(bytes.len() / 2);
        let path = dir.path().join("cut.parquet");
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(read_table(&path), Err(ReadError::Parquet { .. })));
    }
}
