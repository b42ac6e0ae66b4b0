//! What can stop a `dedupe`, `link` or `encode` run before it writes anything.

use std::path::PathBuf;

/// An entity-resolution run cannot go on; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A multi-field model reads a fixed list of fields, and `--fields` gives another number.
    #[error(
        "the model reads {} fields per record ({}), but {} columns were given ({}); pass --fields with one column per model field, in that order",
        .model_fields.len(), .model_fields.join(", "), .given.len(), .given.join(", ")
    )]
    FieldCount {
        /// The model's record fields (training columns).
        model_fields: Vec<String>,
        /// The columns given.
        given: Vec<String>,
    },
    /// `--fields` was not given and the model's own field names are not all columns of the
    /// table.
    #[error(
        "{table}: no --fields given, and the model's fields ({}) are not all columns of the table (missing: {}); its columns are {}",
        .model_fields.join(", "), .missing.join(", "), .columns.join(", ")
    )]
    DefaultFields {
        /// The table.
        table: String,
        /// The model's field names, prefix stripped.
        model_fields: Vec<String>,
        /// Those not in the table.
        missing: Vec<String>,
        /// The table's columns.
        columns: Vec<String>,
    },
    /// The output folder exists already.
    #[error("{}: exists already; choose another --output or pass --overwrite", .0.display())]
    OutputExists(PathBuf),
    /// An option out of range.
    #[error("{0}")]
    Option(String),
}
