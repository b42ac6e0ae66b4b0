//! CSV rows under a header row, with every problem as a [`ReadError`] naming the line: the
//! part the pair reader and the table reader share.

use std::io::Read;

use crate::csv_input::CsvInput;
use crate::read_error::ReadError;

/// A CSV source after its header row; rows are read one at a time into a caller's record.
pub(crate) struct CsvRows<R> {
    reader: csv::Reader<CsvInput<R>>,
    file: String,
    headers: Vec<String>,
}

impl<R: Read> CsvRows<R> {
    /// Reads the header row of `reader` (fields separated by `delimiter`); `file` names the
    /// source in errors. Header names are trimmed.
    pub(crate) fn new(reader: R, file: &str, delimiter: u8) -> Result<Self, ReadError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .delimiter(delimiter)
            // whitespace around unquoted fields is dropped by `CsvInput`; names are trimmed
            // even when quoted
            .trim(csv::Trim::Headers)
            .from_reader(CsvInput::new(reader, delimiter));
        let headers = reader
            .headers()
            .map_err(|e| csv_error(e, file, |_| 1))?
            .iter()
            .map(str::to_owned)
            .collect();
        Ok(Self {
            reader,
            file: file.to_owned(),
            headers,
        })
    }

    /// The header's column names.
    pub(crate) fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Reads the next row into `record` and returns the 1-based line where it starts; `None`
    /// after the last row. Every row has as many fields as the header; the last row needs no
    /// final line break, but a quoted field still open at the end of the input (a file cut
    /// inside it) is [`ReadError::BadQuoting`].
    pub(crate) fn next_row(
        &mut self,
        record: &mut csv::StringRecord,
    ) -> Result<Option<u64>, ReadError> {
        match self.reader.read_record(record) {
            Ok(true) => {
                let byte = record.position().map_or(0, csv::Position::byte);
                Ok(Some(self.reader.get_mut().line_at(byte)))
            }
            Ok(false) => match self.reader.get_ref().open_quote_line() {
                // the open quote swallowed the rest of the input, and that row happened to
                // have the right number of fields
                Some(line) => Err(ReadError::BadQuoting {
                    file: self.file.clone(),
                    line,
                }),
                None => Ok(None),
            },
            Err(e) => {
                let input = self.reader.get_mut();
                let error = csv_error(e, &self.file, |p| input.line_at(p.byte()));
                // An open quote swallows the rest of the input into one field, which usually
                // shows as a wrong field count of its row: say what happened.
                match input.open_quote_line() {
                    Some(line) if error.line() == Some(line) => Err(ReadError::BadQuoting {
                        file: self.file.clone(),
                        line,
                    }),
                    _ => Err(error),
                }
            }
        }
    }
}

fn csv_error(
    e: csv::Error,
    file: &str,
    mut line_of: impl FnMut(&csv::Position) -> u64,
) -> ReadError {
    let file = file.to_owned();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReadError::Io { file, source },
        csv::ErrorKind::Utf8 { pos, .. } => ReadError::InvalidUtf8 {
            file,
            line: pos.as_ref().map_or(1, &mut line_of),
        },
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => ReadError::ColumnCount {
            file,
            line: pos.as_ref().map_or(0, &mut line_of),
            expected: expected_len,
            found: len,
        },
        other => ReadError::Csv {
            file,
            line: 0,
            message: format!("{other:?}"),
        },
    }
}
