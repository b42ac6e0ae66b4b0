//! Whole tables of records (one record per row) for entity resolution: deduplicating one table
//! or linking two.
//!
//! [`read_table`] reads CSV, TSV, JSON lines or Parquet into a [`Table`] of text values;
//! [`table_records`] picks the id column, the fields to compare and the optional true entity
//! ids, and checks the ids. Like the pair readers, every problem is a [`ReadError`] naming the
//! file and the 1-based line (for Parquet, the 1-based row number).
//!
//! ```
//! use biome_core::{Record, read_table_csv_from, table_records};
//!
//! // FEBRL's export style: comma-and-space separators, no final line break
//! let csv = "rec_id, given_name, surname\n\
//!            rec-1-org, anna, \"meyer, jr\"\n\
//!            rec-1-dup-0, ana, meier";
//! let table = read_table_csv_from(csv.as_bytes(), "people.csv").unwrap();
//! assert_eq!(table.columns, ["rec_id", "given_name", "surname"]);
//! let fields = ["given_name".to_owned(), "surname".to_owned()];
//! let people = table_records(&table, "rec_id", &fields, None).unwrap();
//! assert_eq!(people.ids, ["rec-1-org", "rec-1-dup-0"]);
//! assert_eq!(
//!     people.records[0],
//!     Record::Fields(vec!["anna".into(), "meyer, jr".into()])
//! );
//! ```

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::csv_rows::CsvRows;
use crate::json_row::{parse_object, value_text};
use crate::read_error::ReadError;
use crate::reader::open_source;
use crate::record::Record;

/// A table as read: column names (trimmed) and rows of string values.
///
/// Every row has one value per column, in column order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Where the table came from (a path or a name given by the caller).
    pub source: String,
    /// The column names, in file order.
    pub columns: Vec<String>,
    /// The rows, in file order: one value per column.
    pub rows: Vec<Vec<String>>,
    /// The 1-based line where each row starts (CSV, JSON lines), or its 1-based row number
    /// (Parquet), for error messages.
    pub lines: Vec<u64>,
}

impl Table {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The index of column `name`; [`ReadError::MissingColumn`] listing the columns there are.
    pub fn column(&self, name: &str) -> Result<usize, ReadError> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| ReadError::MissingColumn {
                file: self.source.clone(),
                column: name.to_owned(),
                available: self.columns.clone(),
            })
    }

    /// The line (or row number) of row `i`, for errors: from [`Table::lines`], or `i + 1` in a
    /// table built without them.
    fn line(&self, i: usize) -> u64 {
        self.lines.get(i).copied().unwrap_or(i as u64 + 1)
    }

    /// The table, checked: it has rows, and no column name appears twice.
    fn checked(self) -> Result<Self, ReadError> {
        let mut seen = HashSet::with_capacity(self.columns.len());
        for column in &self.columns {
            if !seen.insert(column.as_str()) {
                return Err(ReadError::DuplicateColumn {
                    file: self.source.clone(),
                    column: column.clone(),
                });
            }
        }
        if self.rows.is_empty() {
            return Err(ReadError::EmptyTable { file: self.source });
        }
        Ok(self)
    }
}

/// The formats [`read_table`] reads, for its error message.
#[cfg(feature = "parquet")]
const TABLE_FORMATS: &str = "a .csv, .tsv, .jsonl (.json, .ndjson) or .parquet file";
#[cfg(not(feature = "parquet"))]
const TABLE_FORMATS: &str = "a .csv, .tsv or .jsonl (.json, .ndjson) file (this build reads no Parquet: it was built \
     without biome-core's `parquet` feature)";

/// Reads the table at `path`, by extension: `.csv` (comma-separated), `.tsv` (tab-separated),
/// `.jsonl`/`.json`/`.ndjson` (one JSON object per line) or `.parquet`.
///
/// See [`read_table_csv_from`] and [`read_table_jsonl_from`] for what is accepted. A table
/// without rows, or with a column name twice, is an error.
pub fn read_table(path: impl AsRef<Path>) -> Result<Table, ReadError> {
    let path = path.as_ref();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => {
            let (file, name) = open_source(path)?;
            read_table_csv_from(file, &name)
        }
        Some("tsv") => {
            let (file, name) = open_source(path)?;
            read_table_tsv_from(file, &name)
        }
        Some("jsonl" | "json" | "ndjson") => {
            let (file, name) = open_source(path)?;
            read_table_jsonl_from(file, &name)
        }
        #[cfg(feature = "parquet")]
        Some("parquet") => read_table_parquet(path),
        _ => Err(ReadError::UnsupportedFormat {
            file: path.display().to_string(),
            expected: TABLE_FORMATS,
        }),
    }
}

/// Reads a comma-separated table with a header row from `reader`; `source_name` names it in
/// errors.
///
/// CSV as users have it, as [`read_csv_from`](crate::read_csv_from) reads it: names and
/// unquoted values are trimmed, `a, "b, c"` is two fields, LF or CRLF line ends, no final line
/// break needed, blank lines skipped; every row must have as many fields as the header, and a
/// quoted field still open at the end (a cut file) is an error.
pub fn read_table_csv_from<R: Read>(reader: R, source_name: &str) -> Result<Table, ReadError> {
    read_delimited(reader, source_name, b',')
}

/// Reads a tab-separated table with a header row from `reader`, as [`read_table_csv_from`]
/// reads a comma-separated one (values may be quoted; spaces around them are trimmed).
pub fn read_table_tsv_from<R: Read>(reader: R, source_name: &str) -> Result<Table, ReadError> {
    read_delimited(reader, source_name, b'\t')
}

fn read_delimited<R: Read>(
    reader: R,
    source_name: &str,
    delimiter: u8,
) -> Result<Table, ReadError> {
    let mut csv_rows = CsvRows::new(reader, source_name, delimiter)?;
    let mut table = Table {
        source: source_name.to_owned(),
        columns: csv_rows.headers().to_vec(),
        ..Default::default()
    };
    let mut record = csv::StringRecord::new();
    while let Some(line) = csv_rows.next_row(&mut record)? {
        let mut row = Vec::with_capacity(record.len());
        row.extend(record.iter().map(str::to_owned));
        table.rows.push(row);
        table.lines.push(line);
    }
    table.checked()
}

/// Reads a JSON-lines table from `reader` (one object per line, blank lines skipped);
/// `source_name` names it in errors.
///
/// The columns are the keys of all objects, in the order they are first seen; a key missing
/// from an object is an empty value there. Strings are taken as they are, numbers and booleans
/// as their JSON text (`1.50` stays `1.50`), null as empty; an array or object value, or a key
/// twice in one object, is [`ReadError::BadValue`].
pub fn read_table_jsonl_from<R: Read>(reader: R, source_name: &str) -> Result<Table, ReadError> {
    let file = || source_name.to_owned();
    let mut reader = BufReader::new(reader);
    let mut table = Table {
        source: file(),
        ..Default::default()
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    // `filled[c]`: the number of the last row (1-based) that had column `c`, to see a key twice
    let mut filled: Vec<usize> = Vec::new();
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
        let entries = parse_object(text).map_err(|e| ReadError::Json {
            file: file(),
            line,
            message: e.to_string(),
        })?;
        let row_number = table.rows.len() + 1;
        let mut row = vec![String::new(); table.columns.len()];
        for (key, value) in entries {
            let column = match index.get(key.as_ref()) {
                Some(&c) => c,
                None => {
                    let c = table.columns.len();
                    index.insert(key.clone().into_owned(), c);
                    table.columns.push(key.clone().into_owned());
                    filled.push(0);
                    row.push(String::new());
                    c
                }
            };
            let bad_value = |message: &str| ReadError::BadValue {
                file: file(),
                line,
                key: key.clone().into_owned(),
                message: message.to_owned(),
            };
            if filled[column] == row_number {
                return Err(bad_value("the key appears more than once in this object"));
            }
            filled[column] = row_number;
            row[column] = value_text(value).map_err(bad_value)?;
        }
        table.rows.push(row);
        table.lines.push(line);
    }
    // rows read before a key first appeared lack it: an empty value
    let width = table.columns.len();
    for row in &mut table.rows {
        row.resize(width, String::new());
    }
    table.checked()
}

/// Reads the Parquet file at `path` as a table: one column per top-level column, every value as
/// text (integers as integers, floats as Rust prints them, strings as they are, dates and
/// timestamps as ISO 8601, null as empty). [`Table::lines`] holds 1-based row numbers.
///
/// Snappy, gzip, LZ4 and uncompressed files are read; another codec (zstd, brotli) or a nested
/// column (list, map, struct) is [`ReadError::Parquet`] saying so.
#[cfg(feature = "parquet")]
pub fn read_table_parquet(path: impl AsRef<Path>) -> Result<Table, ReadError> {
    let path = path.as_ref();
    let (columns, rows) = crate::parquet_rows::read_parquet(path)?;
    let lines = (1..=rows.len() as u64).collect();
    Table {
        source: path.display().to_string(),
        columns,
        rows,
        lines,
    }
    .checked()
}

/// Records of a table: ids (strings), one [`Record`] per row built from `fields` in order
/// (one field gives a [`Record::Text`], several a [`Record::Fields`]: the values only, since
/// every row has the same field names and both record modes read only the values), and the
/// optional true entity ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRecords {
    /// Where the table came from.
    pub source: String,
    /// The id of each row (trimmed), in row order; no two are equal and none is empty.
    pub ids: Vec<String>,
    /// The record of each row, in row order.
    pub records: Vec<Record>,
    /// The true entity id of each row (trimmed, never empty), when an entity column was given.
    pub entities: Option<Vec<String>>,
}

impl TableRecords {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The records of `table`: ids from `id_column`, one record per row from `fields` (in that
/// order), and the true entity ids from `entity_column` if given.
///
/// Ids and entity ids are trimmed text. A missing column is [`ReadError::MissingColumn`]
/// listing the table's columns; an empty id or entity id is [`ReadError::EmptyId`] and an id
/// seen before is [`ReadError::DuplicateId`] naming both lines. Field values are kept as they
/// are (the readers already trimmed unquoted CSV values).
pub fn table_records(
    table: &Table,
    id_column: &str,
    fields: &[String],
    entity_column: Option<&str>,
) -> Result<TableRecords, ReadError> {
    let id_col = table.column(id_column)?;
    let field_cols = fields
        .iter()
        .map(|f| table.column(f))
        .collect::<Result<Vec<_>, _>>()?;
    if field_cols.is_empty() {
        return Err(ReadError::NoFields {
            file: table.source.clone(),
            available: table.columns.clone(),
        });
    }
    let entity_col = entity_column.map(|c| table.column(c)).transpose()?;
    let ids = id_values(table, id_col)?;
    let mut first_line: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let line = table.line(i);
        match first_line.entry(id.as_str()) {
            Entry::Occupied(first) => {
                return Err(ReadError::DuplicateId {
                    file: table.source.clone(),
                    line,
                    id: id.clone(),
                    first_line: *first.get(),
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(line);
            }
        }
    }
    drop(first_line);
    let value = |row: &[String], c: usize| row.get(c).cloned().unwrap_or_default();
    let records = table
        .rows
        .iter()
        .map(|row| match field_cols.as_slice() {
            [c] => Record::Text(value(row, *c)),
            cols => Record::Fields(cols.iter().map(|&c| value(row, c)).collect()),
        })
        .collect();
    let entities = entity_col.map(|c| id_values(table, c)).transpose()?;
    Ok(TableRecords {
        source: table.source.clone(),
        ids,
        records,
        entities,
    })
}

/// The trimmed values of column `col`, none empty.
fn id_values(table: &Table, col: usize) -> Result<Vec<String>, ReadError> {
    table
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let value = row.get(col).map_or("", |v| v.trim());
            if value.is_empty() {
                return Err(ReadError::EmptyId {
                    file: table.source.clone(),
                    line: table.line(i),
                    column: table.columns[col].clone(),
                });
            }
            Ok(value.to_owned())
        })
        .collect()
}
