//! Parquet files as rows of text, through the parquet crate's row API (no arrow).
//!
//! Every primitive value becomes a string: integers as integers, floats as Rust prints them,
//! strings as they are, dates and timestamps as ISO 8601, null as empty. Nested columns (lists,
//! maps, structs) and compression codecs this build does not read are refused by name before
//! any row is read.

use std::fs::File;
use std::path::Path;

use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::read_error::ReadError;

/// Column names and rows (every value as text, in column order) of the Parquet file at `path`.
pub(crate) fn read_parquet(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), ReadError> {
    let file_name = path.display().to_string();
    let error = |message: String| ReadError::Parquet {
        file: file_name.clone(),
        message,
    };
    let file = File::open(path).map_err(|source| ReadError::Io {
        file: file_name.clone(),
        source,
    })?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| error(format!("not a readable Parquet file: {e}")))?;
    let metadata = reader.metadata();
    let mut columns = Vec::new();
    for field in metadata
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
    {
        if !field.is_primitive() {
            return Err(error(format!(
                "column {:?} is nested (a list, map or struct); only flat columns of single \
                 values can be read",
                field.name()
            )));
        }
        columns.push(field.name().to_owned());
    }
    for row_group in metadata.row_groups() {
        for column in row_group.columns() {
            if let Some(codec) = unsupported_codec(column.compression()) {
                return Err(error(format!(
                    "column {:?} is compressed with {codec}, which this build does not read (it \
                     reads uncompressed, snappy, gzip and LZ4 files); write the file with snappy \
                     compression, e.g. `compression=\"snappy\"` in pandas, pyarrow or polars",
                    column.column_path().string()
                )));
            }
        }
    }
    let expected_rows = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    // the count comes from the file: trust it for the allocation only within reason
    let mut rows = Vec::with_capacity(expected_rows.min(1 << 20));
    let row_iter = reader
        .get_row_iter(None)
        .map_err(|e| error(format!("cannot read the rows: {e}")))?;
    for (i, row) in row_iter.enumerate() {
        let number = i + 1;
        let row = row.map_err(|e| error(format!("row {number}: {e}")))?;
        let mut values = Vec::with_capacity(columns.len());
        for (name, field) in row.into_columns() {
            let text = field_text(field)
                .map_err(|message| error(format!("row {number}, column {name:?}: {message}")))?;
            values.push(text);
        }
        rows.push(values);
    }
    Ok((columns, rows))
}

/// The name of `codec` when this build cannot decompress it.
fn unsupported_codec(codec: Compression) -> Option<&'static str> {
    match codec {
        Compression::UNCOMPRESSED
        | Compression::SNAPPY
        | Compression::GZIP(_)
        | Compression::LZ4
        | Compression::LZ4_RAW => None,
        Compression::ZSTD(_) => Some("zstd"),
        Compression::BROTLI(_) => Some("brotli"),
        Compression::LZO => Some("LZO"),
    }
}

/// A value as text.
fn field_text(field: Field) -> Result<String, String> {
    Ok(match field {
        Field::Null => String::new(),
        Field::Bool(v) => v.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Float16(v) => v.to_string(),
        Field::Float(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::Str(s) => s,
        Field::Bytes(b) => String::from_utf8(b.data().to_vec())
            .map_err(|_| "binary data that is not UTF-8 text".to_owned())?,
        Field::Date(days) => chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
            .ok_or_else(|| format!("date out of range ({days} days from 1970-01-01)"))?
            .format("%Y-%m-%d")
            .to_string(),
        Field::TimestampMillis(ms) => chrono::DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| format!("timestamp out of range ({ms} ms from 1970)"))?
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.f")
            .to_string(),
        Field::TimestampMicros(us) => chrono::DateTime::from_timestamp_micros(us)
            .ok_or_else(|| format!("timestamp out of range ({us} µs from 1970)"))?
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.f")
            .to_string(),
        // the parquet crate writes decimals and times of day as plain text (`12.30`, `13:45:00.000`)
        field @ (Field::Decimal(_) | Field::TimeMillis(_) | Field::TimeMicros(_)) => {
            field.to_string()
        }
        Field::Group(_) | Field::ListInternal(_) | Field::MapInternal(_) => {
            return Err("a nested value (list, map or struct)".to_owned());
        }
    })
}
