//! The one error type of every data reader: each problem names the file and the 1-based line,
//! and for a missing column the columns that do exist, so the user can fix the file from the
//! message alone.

use thiserror::Error;

use crate::mapping::MappingError;

/// Errors of reading a data file.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The mapping itself is unusable.
    #[error("{file}: {source}")]
    Mapping {
        /// The file.
        file: String,
        /// What is wrong with the mapping.
        #[source]
        source: MappingError,
    },
    /// A CSV row has a different number of columns than the header.
    #[error("{file}, line {line}: expected {expected} columns (as in the header), found {found}")]
    ColumnCount {
        /// The file.
        file: String,
        /// 1-based line where the row starts.
        line: u64,
        /// Number of header columns.
        expected: u64,
        /// Number of columns in the row.
        found: u64,
    },
    /// A quoted CSV field is not closed before the end of the file: the file was cut inside it,
    /// or a quote is missing. (A last row without a final line break is fine; one cut inside a
    /// quoted field is caught exactly, by following the quote state.)
    #[error("{file}, line {line}: unterminated quoted field (a '\"' is never closed)")]
    BadQuoting {
        /// The file.
        file: String,
        /// 1-based line where the row with the open quote starts.
        line: u64,
    },
    /// Text that is not valid UTF-8.
    #[error("{file}, line {line}: invalid UTF-8")]
    InvalidUtf8 {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
    },
    /// Any other CSV syntax error.
    #[error("{file}, line {line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A column asked for is not in the header (or, for JSON lines, in any object).
    #[error("{file}: column {column:?} not found; available columns: {}", .available.join(", "))]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column.
        column: String,
        /// The header's columns.
        available: Vec<String>,
    },
    /// A JSONL line is not a JSON object.
    #[error("{file}, line {line}: invalid JSON: {message}")]
    Json {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A JSONL object lacks a mapped key.
    #[error("{file}, line {line}: key {key:?} missing; keys present: {}", .available.join(", "))]
    MissingKey {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The missing key.
        key: String,
        /// The keys of that line's object.
        available: Vec<String>,
    },
    /// A JSONL value is not text-like (an array or object where a field value was expected).
    #[error("{file}, line {line}: key {key:?}: {message}")]
    BadValue {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The file extension is not one the reader knows.
    #[error("{file}: unsupported data format; expected {expected}")]
    UnsupportedFormat {
        /// The file.
        file: String,
        /// The formats that reader reads, e.g. `a .csv or .jsonl file`.
        expected: &'static str,
    },
    /// A table has a header (or no content at all) but no rows.
    #[error("{file}: the table has no rows")]
    EmptyTable {
        /// The file.
        file: String,
    },
    /// Two columns of a table's header have the same name, so one of them could not be named.
    #[error("{file}: column {column:?} appears more than once in the header")]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The repeated column name.
        column: String,
    },
    /// No field columns were given to build records from.
    #[error("{file}: no columns given to compare; available columns: {}", .available.join(", "))]
    NoFields {
        /// The file.
        file: String,
        /// The table's columns.
        available: Vec<String>,
    },
    /// A row's id (or true entity id) is empty (or whitespace).
    #[error("{file}, line {line}: empty value in the id column {column:?}")]
    EmptyId {
        /// The file.
        file: String,
        /// 1-based line of the row (for Parquet, the 1-based row number).
        line: u64,
        /// The id column.
        column: String,
    },
    /// Two rows have the same id.
    #[error("{file}, line {line}: id {id:?} is already the id of line {first_line}")]
    DuplicateId {
        /// The file.
        file: String,
        /// 1-based line of the second row with the id (for Parquet, the 1-based row number).
        line: u64,
        /// The id (trimmed).
        id: String,
        /// 1-based line of the first row with the id.
        first_line: u64,
    },
    /// A Parquet file that cannot be read: not Parquet, damaged, or a part of the format this
    /// build does not read (a compression codec it was built without, a nested column).
    #[error("{file}: {message}")]
    Parquet {
        /// The file.
        file: String,
        /// What is wrong, and what to do about it where there is something to do.
        message: String,
    },
}

impl ReadError {
    /// The 1-based line the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::ColumnCount { line, .. }
            | Self::BadQuoting { line, .. }
            | Self::InvalidUtf8 { line, .. }
            | Self::Csv { line, .. }
            | Self::Json { line, .. }
            | Self::MissingKey { line, .. }
            | Self::BadValue { line, .. }
            | Self::EmptyId { line, .. }
            | Self::DuplicateId { line, .. } => Some(*line),
            Self::Io { .. }
            | Self::Mapping { .. }
            | Self::MissingColumn { .. }
            | Self::UnsupportedFormat { .. }
            | Self::EmptyTable { .. }
            | Self::DuplicateColumn { .. }
            | Self::NoFields { .. }
            | Self::Parquet { .. } => None,
        }
    }
}
