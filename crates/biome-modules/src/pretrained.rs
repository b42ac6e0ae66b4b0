//! Pretrained word vectors from GloVe / word2vec / fastText **text** files.
//!
//! - A path ending in `.gz` is read through gzip.
//! - Each line is `word v1 v2 ... vD`, fields separated by single spaces (trailing whitespace
//!   ignored). A first line of exactly two integers (`<count> <dim>`, word2vec/fastText header)
//!   is skipped.
//! - Only vocabulary words are kept. Index 0 (padding) is never looked up and stays zero;
//!   indices `1..` (OOV included) are looked up by their token string, the first occurrence in
//!   the file wins.
//! - **A line whose number of values differs from `embedding_dim` is an error naming the line
//!   number** (AllenNLP only warns and skips it). We refuse such files because a wrong dimension
//!   almost always means a wrong file or a wrong `embedding_dim` in the config, and silently
//!   skipping would train on random vectors. Values that are not numbers are errors too.
//! - Vocabulary words absent from the file are drawn from a normal distribution with the mean
//!   and standard deviation of all values of the found vectors (as AllenNLP), from a seeded RNG.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Why a pretrained file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PretrainedError {
    /// The file could not be opened or read.
    #[error("cannot read pretrained file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line has another number of values than `embedding_dim`.
    #[error("pretrained file {path}, line {line}: {found} values but embedding_dim is {expected}")]
    WrongDimension {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Values on that line.
        found: usize,
        /// The configured embedding size.
        expected: usize,
    },
    /// A value is not a number.
    #[error("pretrained file {path}, line {line}: {value:?} is not a number")]
    BadNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending field.
        value: String,
    },
    /// Not one vocabulary word has a vector in the file.
    #[error("pretrained file {path} has no vector for any of the {total} vocabulary tokens")]
    NoneFound {
        /// The file.
        path: PathBuf,
        /// Vocabulary tokens looked up.
        total: usize,
    },
}

/// How much of the vocabulary the file covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedReport {
    /// Vocabulary tokens with a vector in the file.
    pub found: usize,
    /// Vocabulary tokens drawn at random.
    pub missing: usize,
    /// Vocabulary tokens looked up (all but padding).
    pub total: usize,
}

impl fmt::Display for PretrainedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.total == 0 {
            0.0
        } else {
            100.0 * self.found as f64 / self.total as f64
        };
        write!(
            f,
            "{} of {} vocabulary tokens found in the pretrained file ({pct:.1}%), {} initialised randomly",
            self.found, self.total, self.missing
        )
    }
}

/// A `[num_embeddings, embedding_dim]` row-major matrix to initialise an embedding with.
#[derive(Debug, Clone)]
pub struct PretrainedEmbeddings {
    /// Row-major values.
    pub weights: Vec<f32>,
    /// Rows (= vocabulary size).
    pub num_embeddings: usize,
    /// Columns.
    pub embedding_dim: usize,
    /// Coverage.
    pub report: PretrainedReport,
}

impl PretrainedEmbeddings {
    /// The matrix as burn data of shape `[num_embeddings, embedding_dim]`.
    pub fn into_tensor_data(self) -> TensorData {
        TensorData::new(self.weights, [self.num_embeddings, self.embedding_dim])
    }
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, PretrainedError> {
    let io = |source| PretrainedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

/// Standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Read the vectors of `vocab` (`vocab[i]` = token of index `i`; 0 padding, 1 OOV) from `path`.
/// See the module documentation for the file format and the error policy.
pub fn load_pretrained(
    path: &Path,
    vocab: &[String],
    embedding_dim: usize,
    seed: u64,
) -> Result<PretrainedEmbeddings, PretrainedError> {
    let n = vocab.len();
    let mut index = std::collections::HashMap::with_capacity(n);
    for (i, tok) in vocab.iter().enumerate().skip(1) {
        index.entry(tok.as_str()).or_insert(i);
    }
    let mut weights = vec![0f32; n * embedding_dim];
    let mut found = vec![false; n];
    let reader = open(path)?;
    let mut line_buf = String::new();
    let mut reader = reader;
    let mut line_no = 0usize;
    loop {
        line_buf.clear();
        let read = reader
            .read_line(&mut line_buf)
            .map_err(|source| PretrainedError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let line = line_buf.trim_end_matches(['\n', '\r']).trim_end();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(' ');
        let word = fields.next().unwrap_or_default();
        if line_no == 1 {
            let rest: Vec<&str> = line.split(' ').collect();
            if rest.len() == 2 && rest.iter().all(|f| f.parse::<u64>().is_ok()) {
                continue; // word2vec / fastText header
            }
        }
        let values = fields.clone().count();
        if values != embedding_dim {
            return Err(PretrainedError::WrongDimension {
                path: path.to_path_buf(),
                line: line_no,
                found: values,
                expected: embedding_dim,
            });
        }
        let Some(&i) = index.get(word) else { continue };
        if found[i] {
            continue;
        }
        for (j, f) in fields.enumerate() {
            weights[i * embedding_dim + j] =
                f.parse::<f32>().map_err(|_| PretrainedError::BadNumber {
                    path: path.to_path_buf(),
                    line: line_no,
                    value: f.to_string(),
                })?;
        }
        found[i] = true;
    }
    let total = n.saturating_sub(1);
    let found_count = found.iter().filter(|f| **f).count();
    if found_count == 0 && total > 0 {
        return Err(PretrainedError::NoneFound {
            path: path.to_path_buf(),
            total,
        });
    }
    // Mean / std (population) over all values of the found vectors.
    let (mut sum, mut count) = (0f64, 0usize);
    for i in (0..n).filter(|i| found[*i]) {
        for v in &weights[i * embedding_dim..(i + 1) * embedding_dim] {
            sum += *v as f64;
            count += 1;
        }
    }
    let mean = if count > 0 { sum / count as f64 } else { 0.0 };
    let mut sq = 0f64;
    for i in (0..n).filter(|i| found[*i]) {
        for v in &weights[i * embedding_dim..(i + 1) * embedding_dim] {
            sq += (*v as f64 - mean).powi(2);
        }
    }
    let std = if count > 0 {
        (sq / count as f64).sqrt()
    } else {
        0.0
    };
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..n).filter(|i| !found[*i]) {
        for v in &mut weights[i * embedding_dim..(i + 1) * embedding_dim] {
            *v = (mean + std * normal(&mut rng)) as f32;
        }
    }
    Ok(PretrainedEmbeddings {
        weights,
        num_embeddings: n,
        embedding_dim,
        report: PretrainedReport {
            found: found_count,
            missing: total - found_count,
            total,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn vocab(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const GLOVE: &str = "the 1 2 3\ncat 4 5 6\nzebra 7 8 9\n";

    #[test]
    fn found_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "g.txt", GLOVE);
        let v = vocab(&["@@PADDING@@", "@@UNKNOWN@@", "the", "dog", "cat"]);
        let e = load_pretrained(&p, &v, 3, 1).unwrap();
        assert_eq!(
            e.report,
            PretrainedReport {
                found: 2,
                missing: 2,
                total: 4
            }
        );
        assert_eq!(&e.weights[0..3], &[0., 0., 0.]);
        assert_eq!(&e.weights[6..9], &[1., 2., 3.]);
        assert_eq!(&e.weights[12..15], &[4., 5., 6.]);
        assert!(e.weights[3..6].iter().any(|x| *x != 0.0));
        // seeded
        let again = load_pretrained(&p, &v, 3, 1).unwrap();
        assert_eq!(again.weights, e.weights);
        assert!(e.report.to_string().starts_with("2 of 4 vocabulary tokens"));
        let data = e.into_tensor_data();
        assert_eq!(data.shape().to_vec(), vec![5, 3]);
    }

    #[test]
    fn missing_words_follow_found_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&format!(
                "w{i} {} {}\n",
                10.0 + (i % 2) as f32,
                10.0 - (i % 2) as f32
            ));
        }
        let p = write(dir.path(), "g.txt", &text);
        let mut words: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
        words.insert(0, "pad".into());
        words.extend((0..500).map(|i| format!("x{i}")));
        let e = load_pretrained(&p, &words, 2, 3).unwrap();
        let random = &e.weights[51 * 2..];
        let mean = random.iter().sum::<f32>() / random.len() as f32;
        assert!((mean - 10.0).abs() < 0.1, "{mean}");
    }

    #[test]
    fn header_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "w2v.txt", &format!("3 3\n{GLOVE}"));
        let e = load_pretrained(&p, &vocab(&["", "zebra"]), 3, 0).unwrap();
        assert_eq!(e.report.found, 1);
        assert_eq!(&e.weights[3..6], &[7., 8., 9.]);
    }

    #[test]
    fn gzip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.txt.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(GLOVE.as_bytes()).unwrap();
        enc.finish().unwrap();
        let e = load_pretrained(&p, &vocab(&["", "cat"]), 3, 0).unwrap();
        assert_eq!(&e.weights[3..6], &[4., 5., 6.]);
    }

    #[test]
    fn bad_line_is_an_error_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "g.txt", "the 1 2 3\ncat 4 5\n");
        let err = load_pretrained(&p, &vocab(&["", "the"]), 3, 0).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("2 values but embedding_dim is 3"), "{msg}");
        let p = write(dir.path(), "h.txt", "the 1 x 3\n");
        let msg = load_pretrained(&p, &vocab(&["", "the"]), 3, 0)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 1") && msg.contains("\"x\""), "{msg}");
        let msg = load_pretrained(&dir.path().join("nope"), &vocab(&["", "a"]), 3, 0)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("cannot read"), "{msg}");
        let p = write(dir.path(), "i.txt", GLOVE);
        let err = load_pretrained(&p, &vocab(&["", "nothing"]), 3, 0).unwrap_err();
        assert!(matches!(err, PretrainedError::NoneFound { .. }));
    }
}
