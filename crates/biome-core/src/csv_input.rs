//! The byte stream the csv crate reads: CSV as users write it, made RFC 4180, with exact line
//! numbers and an exact answer to "did the input end inside a quoted field?".
//!
//! Real exports (FEBRL's among them) separate fields by a comma and a space, and quote a field
//! after that space (`a, "b, c"`). To the csv crate a quote after a space is a literal
//! character, so [`CsvInput`] drops whitespace outside quoted fields before it sees it: the
//! spaces and tabs between a delimiter (or a line start) and a field, and those between a
//! field's text (or its closing quote) and the next delimiter or line end. Bytes inside a quoted
//! field are passed on exactly, so `" x "` keeps its spaces (the csv crate's own trimming
//! cannot tell quoted fields from unquoted ones, and would strip them).
//!
//! Because it follows the quote state byte by byte, the adapter also knows at the end of input
//! whether a quoted field is still open, and on which line its row starts: a row cut inside a
//! quoted field (a truncated file) is caught exactly, while a last row without a final line
//! break is complete and reads as every CSV tool reads it.

use std::collections::VecDeque;
use std::io::Read;

/// Where the adapter is in the RFC 4180 grammar, as the csv crate (quoting on, `""` as the
/// escape, `\r`, `\n` and `\r\n` as line ends) will see the bytes it passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte of a row (blank lines stay here).
    LineStart,
    /// After a delimiter, or after the whitespace that starts a row.
    FieldStart,
    /// Inside a field that did not start with a quote (quotes in it are literal).
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// At a quote inside a quoted field: it closes the field, unless another quote follows
    /// (then the pair is one literal quote).
    QuoteInQuoted,
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Size of the chunks read from the inner reader.
const CHUNK: usize = 8 * 1024;

/// Reads CSV from `inner` and passes it on with whitespace outside quoted fields dropped (see
/// the module docs); counts lines for error messages.
pub(crate) struct CsvInput<R> {
    inner: R,
    delimiter: u8,
    state: State,
    /// Spaces and tabs after an unquoted field's text or a closing quote: dropped if the field
    /// ends next, passed on if more text follows (`pridham street`).
    pending: Vec<u8>,
    /// Bytes ready to be handed out, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    chunk: Vec<u8>,
    at_end: bool,
    /// Whether the start of the input has been looked at for a byte-order mark.
    started: bool,
    /// Line ends seen in the input so far: `\r\n`, `\n` or a lone `\r` (the csv crate ends
    /// a row at each, so a line number counts them all).
    input_lines: u64,
    /// Whether the last input byte was a `\r` (then a `\n` completes its line end).
    after_cr: bool,
    /// 1-based line where the current (or last) row starts.
    row_line: u64,
    /// Bytes handed out so far: offsets the csv crate's positions refer to.
    offset: u64,
    /// `(offset, line ends up to it)` of each `\r` and `\n` handed out and not yet passed by
    /// [`CsvInput::line_at`].
    breaks: VecDeque<(u64, u64)>,
    /// Line ends before the breaks still in `breaks`.
    lines_passed: u64,
}

impl<R> CsvInput<R> {
    /// Reads `inner`, whose fields are separated by `delimiter` (`,` or `\t`).
    pub(crate) fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            state: State::LineStart,
            pending: Vec::new(),
            out: Vec::with_capacity(CHUNK),
            out_at: 0,
            chunk: vec![0; CHUNK],
            at_end: false,
            started: false,
            input_lines: 0,
            after_cr: false,
            row_line: 1,
            offset: 0,
            breaks: VecDeque::new(),
            lines_passed: 0,
        }
    }

    /// Once the whole input has been read: the 1-based line where the row starts whose quoted
    /// field is never closed, if there is one.
    pub(crate) fn open_quote_line(&self) -> Option<u64> {
        (self.at_end && self.state == State::Quoted).then_some(self.row_line)
    }

    /// 1-based line of the record the csv crate says starts at byte `byte` of what it read
    /// (queries must not go backwards).
    ///
    /// The csv crate's own line numbers are one short for every CRLF line end, and a record's
    /// start byte can point at the line breaks before it; counting here is exact for both. Line
    /// breaks at that byte belong to earlier lines: records never start with one, since the csv
    /// crate skips empty lines.
    pub(crate) fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = byte;
        while let Some(&(at, lines)) = self.breaks.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            self.lines_passed = lines;
            self.breaks.pop_front();
        }
        1 + self.lines_passed
    }

    fn emit(&mut self, b: u8) {
        if b == b'\n' || b == b'\r' {
            // `out` is only filled once all of it has been handed out
            self.breaks
                .push_back((self.offset + self.out.len() as u64, self.input_lines));
        }
        self.out.push(b);
    }

    /// Passes on the whitespace held back inside a field: more text followed it.
    fn flush_pending(&mut self) {
        for i in 0..self.pending.len() {
            let b = self.pending[i];
            self.emit(b);
        }
        self.pending.clear();
    }

    fn push(&mut self, b: u8) {
        let line_end = b == b'\n' || b == b'\r';
        let blank = (b == b' ' || b == b'\t') && b != self.delimiter;
        if self.state == State::LineStart && !line_end {
            self.row_line = 1 + self.input_lines;
            self.state = State::FieldStart;
        }
        if b == b'\r' || (b == b'\n' && !self.after_cr) {
            self.input_lines += 1;
        }
        self.after_cr = b == b'\r';
        match self.state {
            State::Quoted => {
                self.emit(b);
                if b == b'"' {
                    self.state = State::QuoteInQuoted;
                }
            }
            State::LineStart => self.emit(b),
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                if line_end || b == self.delimiter {
                    // the field ends: whitespace before the delimiter is not part of it
                    self.pending.clear();
                    self.emit(b);
                    self.state = if line_end {
                        State::LineStart
                    } else {
                        State::FieldStart
                    };
                } else if blank {
                    // leading whitespace is dropped; trailing whitespace waits for what follows
                    if self.state != State::FieldStart {
                        self.pending.push(b);
                        self.state = State::Unquoted;
                    }
                } else if b == b'"' && self.state != State::Unquoted {
                    // an opening quote, or the second quote of an escaped `""`
                    self.emit(b);
                    self.state = State::Quoted;
                } else {
                    // text (a quote in an unquoted field is literal, as for the csv crate)
                    self.flush_pending();
                    self.emit(b);
                    self.state = State::Unquoted;
                }
            }
        }
    }
}

impl<R: Read> Read for CsvInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.out_at < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_at);
                buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
                self.out_at += n;
                self.offset += n as u64;
                return Ok(n);
            }
            if self.at_end {
                return Ok(0);
            }
            self.out.clear();
            self.out_at = 0;
            let mut n = self.inner.read(&mut self.chunk)?;
            if !self.started {
                // A UTF-8 byte-order mark (Excel writes one) is not part of the first field:
                // dropped here, so that a quote after it still opens a quoted field.
                while n > 0 && n < BOM.len() && self.chunk[..n] == BOM[..n] {
                    let more = self.inner.read(&mut self.chunk[n..])?;
                    if more == 0 {
                        break;
                    }
                    n += more;
                }
                self.started = true;
                if self.chunk[..n].starts_with(BOM) {
                    self.chunk.copy_within(BOM.len()..n, 0);
                    n -= BOM.len();
                    if n == 0 {
                        // the read held only the mark: not the end of the input
                        continue;
                    }
                }
            }
            if n == 0 {
                // whitespace after the last field's text ends with the field
                self.pending.clear();
                self.at_end = true;
                continue;
            }
            let chunk = std::mem::take(&mut self.chunk);
            let mut i = 0;
            while i < n {
                // Most bytes are field text that changes no state: pass runs of them on whole.
                let run = self.plain_run(&chunk[i..n]);
                if run > 0 {
                    self.flush_pending();
                    self.out.extend_from_slice(&chunk[i..i + run]);
                    self.after_cr = false;
                    i += run;
                } else {
                    self.push(chunk[i]);
                    i += 1;
                }
            }
            self.chunk = chunk;
        }
    }
}

impl<R> CsvInput<R> {
    /// How many leading bytes of `bytes` are text inside the current field that [`Self::push`]
    /// would pass on one by one without changing any state: no quote, line break, delimiter
    /// or (outside quotes) whitespace.
    fn plain_run(&self, bytes: &[u8]) -> usize {
        let end = match self.state {
            State::Quoted => bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\n' || b == b'\r'),
            State::Unquoted => bytes.iter().position(|&b| {
                b == self.delimiter || b == b'\n' || b == b'\r' || b == b' ' || b == b'\t'
            }),
            State::LineStart | State::FieldStart | State::QuoteInQuoted => return 0,
        };
        end.unwrap_or(bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the csv crate gets to see of `text`, and the open quote's line at the end.
    fn filtered(text: &str, delimiter: u8) -> (String, Option<u64>) {
        let mut input = CsvInput::new(text.as_bytes(), delimiter);
        let mut out = Vec::new();
        // a tiny buffer, so that state carries across reads
        let mut buf = [0u8; 3];
        loop {
            let n = input.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (String::from_utf8(out).unwrap(), input.open_quote_line())
    }

    #[test]
    fn whitespace_outside_quotes_is_dropped_and_inside_kept() {
        let cases = [
            ("a, b ,c\n", "a,b,c\n"),
            ("a, \"b, c\"\n", "a,\"b, c\"\n"),
            ("  \"x\" , y\r\n", "\"x\",y\r\n"),
            ("\" x \",\"y \"\" z\"  \n", "\" x \",\"y \"\" z\"\n"),
            ("pridham  street, 7\n", "pridham  street,7\n"),
            ("a b\t,\t\n", "a b,\n"),
            ("x, y", "x,y"),
            ("ab\" c\n", "ab\" c\n"),
            ("\"a\" b\n", "\"a\" b\n"),
            ("   \n", "\n"),
            ("\"multi\n line \"\n", "\"multi\n line \"\n"),
        ];
        for (text, want) in cases {
            assert_eq!(filtered(text, b','), (want.to_owned(), None), "{text:?}");
        }
        // with a tab delimiter, tabs are delimiters and only spaces are trimmed
        assert_eq!(
            filtered("a \t b\t\t \"c\"\n", b'\t'),
            ("a\tb\t\t\"c\"\n".to_owned(), None)
        );
    }

    #[test]
    fn an_open_quote_at_the_end_names_its_row() {
        assert_eq!(filtered("a,b\n1,\"2\n3\n", b',').1, Some(2));
        assert_eq!(filtered("a,b\r\n\r\n1, \"2", b',').1, Some(3));
        assert_eq!(filtered("\"a", b',').1, Some(1));
        // closed, or escaped quotes only
        assert_eq!(filtered("a,b\n1,\"2\"", b',').1, None);
        assert_eq!(filtered("a,b\n1,\"2\"\"\"", b',').1, None);
        assert_eq!(filtered("a,b\n1,\"2\"\"", b',').1, Some(2));
        // a quote inside an unquoted field opens nothing
        assert_eq!(filtered("a,b\n1,2\"", b',').1, None);
    }

    #[test]
    fn a_byte_order_mark_is_dropped_even_when_read_byte_by_byte() {
        assert_eq!(
            filtered("\u{feff}\"id\", x\n", b','),
            ("\"id\",x\n".to_owned(), None)
        );
        // one byte per read
        let text = "\u{feff}\"a\nb\",c\n";
        let mut one = [0u8; 1];
        let mut out = Vec::new();
        let mut slow = CsvInput::new(OneByte(text.as_bytes()), b',');
        while slow.read(&mut one).unwrap() == 1 {
            out.push(one[0]);
        }
        assert_eq!(out, b"\"a\nb\",c\n");
        assert_eq!(
            filtered(text, b','),
            (String::from_utf8(out).unwrap(), None)
        );
        // only at the start; and a lone start of one is text
        assert_eq!(filtered("a\n\u{feff}b\n", b',').0, "a\n\u{feff}b\n");
        let mut cut = Vec::new();
        CsvInput::new(OneByte(b"\xEF\xBB"), b',')
            .read_to_end(&mut cut)
            .unwrap();
        assert_eq!(cut, b"\xEF\xBB");
    }

    #[test]
    fn runs_passed_on_whole_match_byte_by_byte_across_chunks() {
        // fields longer than a chunk, with quotes, spaces, tabs and line breaks near its edges
        let mut text = String::new();
        for i in 0..700 {
            let long = "x".repeat(i * 37 % 300);
            text += &format!("{long} a ,  \"q {long}\"\"\r\n{i}\" ,\t{long}\tb\"c , \"\" \r\n \n");
        }
        text += "\"open";
        let mut input = CsvInput::new(text.as_bytes(), b',');
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        let lines: Vec<u64> = (0..out.len() as u64).map(|b| input.line_at(b)).collect();
        let fast = (out, lines, input.open_quote_line());
        // the reference: every byte through `push`, as if no run were ever found
        let mut reference = CsvInput::new(&b""[..], b',');
        for &b in text.as_bytes() {
            reference.push(b);
        }
        reference.pending.clear();
        reference.at_end = true;
        let out = std::mem::take(&mut reference.out);
        let lines: Vec<u64> = (0..out.len() as u64)
            .map(|b| reference.line_at(b))
            .collect();
        let by_byte = (out, lines, reference.open_quote_line());
        assert!(fast.0.len() > 2 * CHUNK);
        assert_eq!(fast, by_byte);
        assert_eq!(fast.2, Some(1 + 3 * 700));
    }

    /// A reader that hands out one byte per read.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn line_breaks_are_located_in_what_was_passed_on() {
        let mut input = CsvInput::new("a ,  b\r\n  c,d\n".as_bytes(), b',');
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a,b\r\nc,d\n");
        assert_eq!(input.line_at(0), 1);
        assert_eq!(input.line_at(5), 2);
        // a lone `\r` ends a line too (the csv crate ends a row there), `\r\n` once
        let mut input = CsvInput::new("a\rb\r\n\"c\rd\"\n\ne".as_bytes(), b',');
        input.read_to_end(&mut out).unwrap();
        assert_eq!(input.line_at(2), 2);
        assert_eq!(input.line_at(5), 3);
        assert_eq!(input.line_at(12), 6);
        let (_, open) = filtered("a\r\"b", b',');
        assert_eq!(open, Some(2));
    }
}
