//! The table readers and `table_records` on arbitrary bytes and on mutations of valid files:
//! a rectangular table with increasing lines, or a typed error naming the file — never a panic.

use biome_core::{ReadError, Table, read_table_csv_from, read_table_jsonl_from, table_records};
use proptest::prelude::*;

use crate::cases;
use crate::csv_reader::ends_inside_quotes;
use crate::mutate::{apply, mutations};

const VALID_CSV: &str = "id, name, city\r\n\
1, \"smith, jr\", köln\r\n\
2,\"multi\nline\",\r\n\
3, \"say \"\"hi\"\"\", bonn";

const VALID_JSONL: &str = concat!(
    "{\"id\": 1, \"name\": \"anna\"}\n",
    "\n",
    "{\"id\": \"2\", \"city\": \"köln\", \"name\": null}\n",
    "{\"name\": true, \"id\": 3.5}",
);

fn check(result: &Result<Table, ReadError>, source: &str) -> Result<(), TestCaseError> {
    match result {
        Ok(table) => {
            prop_assert!(!table.is_empty());
            prop_assert_eq!(table.lines.len(), table.len());
            for row in &table.rows {
                prop_assert_eq!(row.len(), table.columns.len());
            }
            prop_assert!(table.lines.windows(2).all(|w| w[0] < w[1]));
            if !table.columns.is_empty() {
                let fields = table.columns.clone();
                match table_records(table, &table.columns[0], &fields, None) {
                    Ok(records) => {
                        prop_assert_eq!(records.ids.len(), table.len());
                        prop_assert!(records.ids.iter().all(|id| !id.is_empty()));
                        let mut ids = records.ids.clone();
                        ids.sort();
                        ids.dedup();
                        prop_assert_eq!(ids.len(), table.len(), "duplicate ids accepted");
                    }
                    Err(e) => prop_assert!(e.to_string().starts_with(source), "{e}"),
                }
            }
        }
        Err(e) => prop_assert!(e.to_string().starts_with(source), "{e}"),
    }
    Ok(())
}

#[test]
fn the_valid_files_read() {
    let table = read_table_csv_from(VALID_CSV.as_bytes(), "fuzz.csv").unwrap();
    assert_eq!(table.len(), 3);
    assert_eq!(table.lines, [2, 3, 5]);
    assert_eq!(table.rows[2], ["3", "say \"hi\"", "bonn"]);
    let table = read_table_jsonl_from(VALID_JSONL.as_bytes(), "fuzz.jsonl").unwrap();
    assert_eq!(table.columns, ["id", "name", "city"]);
    assert_eq!(table.lines, [1, 3, 4]);
}

proptest! {
    #![proptest_config(crate::settings(cases(300)))]

    #[test]
    fn fuzz_table_csv_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut input = b"id,name\n".to_vec();
        input.extend_from_slice(&bytes);
        for data in [&bytes[..], &input[..]] {
            let result = read_table_csv_from(data, "fuzz.csv");
            if result.is_ok() {
                prop_assert!(!ends_inside_quotes(data));
            }
            check(&result, "fuzz.csv")?;
        }
    }

    #[test]
    fn fuzz_table_csv_mutated_valid_file(m in mutations()) {
        let bytes = apply(VALID_CSV.as_bytes(), &m);
        let result = read_table_csv_from(&bytes[..], "fuzz.csv");
        if result.is_ok() {
            prop_assert!(!ends_inside_quotes(&bytes));
        }
        check(&result, "fuzz.csv")?;
    }

    #[test]
    fn fuzz_table_jsonl_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let result = read_table_jsonl_from(&bytes[..], "fuzz.jsonl");
        check(&result, "fuzz.jsonl")?;
    }

    #[test]
    fn fuzz_table_jsonl_mutated_valid_file(m in mutations()) {
        let bytes = apply(VALID_JSONL.as_bytes(), &m);
        let result = read_table_jsonl_from(&bytes[..], "fuzz.jsonl");
        check(&result, "fuzz.jsonl")?;
        if let Err(e) = &result {
            // every JSONL error but an empty table is about a line
            prop_assert!(matches!(e, ReadError::EmptyTable { .. }) || e.line().is_some(), "{e}");
        }
    }
}
