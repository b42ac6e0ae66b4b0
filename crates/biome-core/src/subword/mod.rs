//! A pretrained transformer's own tokenizer (its `tokenizer.json`, through Hugging Face's
//! `tokenizers` crate).
//!
//! A transformer embedder only works with the ids its vocabulary was trained with, so the word
//! tokenizer and the vocabulary built from the training data are not used: the folder's
//! `tokenizer.json` (normalizer, pre-tokenizer, WordPiece model, post-processor) decides the
//! ids, and the post-processor adds the special tokens the model expects (`[CLS] … [SEP]` for
//! BERT). Texts are truncated to `max_length` ids *including* the special tokens, as the model's
//! position embeddings bound the length. Padding is ours (the batcher pads to the batch's
//! longest sequence), so any padding configured in the file is switched off.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use thiserror::Error;
use tokenizers::utils::truncation::{TruncationParams, TruncationStrategy};

/// The token whose id pads sequences when the file configures no padding (BERT's).
pub const BERT_PADDING_TOKEN: &str = "[PAD]";

/// Errors of the transformer tokenizer, naming the file where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubwordTokenizerError {
    /// The file cannot be read.
    #[error("cannot read the transformer tokenizer {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// The file is not a valid `tokenizer.json`.
    #[error("{path} is not a valid Hugging Face tokenizer.json: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The `tokenizers` crate's reason.
        message: String,
    },
    /// `max_length` leaves no room for a single text id beside the special tokens.
    #[error(
        "max_length {max_length} is too small for the tokenizer {path}: it adds {special} special tokens to every text"
    )]
    MaxLengthTooSmall {
        /// The file.
        path: String,
        /// The configured maximum.
        max_length: usize,
        /// Special tokens added to every text.
        special: usize,
    },
    /// Encoding a text failed.
    #[error("the transformer tokenizer {path} failed to encode a text: {message}")]
    Encode {
        /// The file.
        path: String,
        /// The `tokenizers` crate's reason.
        message: String,
    },
}

/// A `tokenizer.json` ready to encode texts into model ids with the model's special tokens.
///
/// Cheap to clone (the tokenizer is shared). Two values are equal when they were built from the
/// same JSON text with the same `max_length`.
#[derive(Clone)]
pub struct SubwordTokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    /// The JSON text it was built from: what a model archive stores, so that a trained model does
    /// not need the original folder.
    json: Arc<str>,
    /// Where it came from, for error messages.
    origin: Arc<str>,
    max_length: usize,
    pad_id: i64,
}

impl fmt::Debug for SubwordTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubwordTokenizer")
            .field("origin", &self.origin)
            .field("max_length", &self.max_length)
            .field("pad_id", &self.pad_id)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl PartialEq for SubwordTokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.max_length == other.max_length && self.json == other.json
    }
}

impl Eq for SubwordTokenizer {}

impl SubwordTokenizer {
    /// Reads `path` (a `tokenizer.json`) and truncates texts to `max_length` ids, special tokens
    /// included.
    pub fn from_file(
        path: impl AsRef<Path>,
        max_length: usize,
    ) -> Result<Self, SubwordTokenizerError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|e| SubwordTokenizerError::Read {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        Self::from_json(&json, &origin, max_length)
    }

    /// Parses the text of a `tokenizer.json`; `origin` names it in errors (a path, or the
    /// archive member it was read from).
    pub fn from_json(
        json: &str,
        origin: &str,
        max_length: usize,
    ) -> Result<Self, SubwordTokenizerError> {
        let parse_error = |message: String| SubwordTokenizerError::Parse {
            path: origin.to_owned(),
            message,
        };
        let mut inner =
            tokenizers::Tokenizer::from_str(json).map_err(|e| parse_error(e.to_string()))?;
        let special = inner
            .get_post_processor()
            .map(|p| tokenizers::PostProcessor::added_tokens(p, false))
            .unwrap_or(0);
        if max_length <= special {
            return Err(SubwordTokenizerError::MaxLengthTooSmall {
                path: origin.to_owned(),
                max_length,
                special,
            });
        }
        // The pad id: the file's own padding setting, else the id of BERT's `[PAD]`, else 0 (the
        // project's padding index, and BERT's).
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id(BERT_PADDING_TOKEN))
            .unwrap_or(0) as i64;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..Default::default()
            }))
            .map_err(|e| parse_error(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(inner),
            json: json.into(),
            origin: origin.into(),
            max_length,
            pad_id,
        })
    }

    /// The JSON text of the `tokenizer.json` (to store it in a model archive).
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Where the tokenizer was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The most ids of one text, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The id that pads sequences (0 for BERT).
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// The number of ids, added tokens included (the model's vocabulary size at most).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of `token` in the vocabulary, if it has one.
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// The ids of each text with the special tokens, truncated to `max_length`. Texts are encoded
    /// in parallel on all cores (the crate's rayon batch encoding).
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<i64>>, SubwordTokenizerError> {
        let encodings = self
            .inner
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| SubwordTokenizerError::Encode {
                path: self.origin.to_string(),
                message: e.to_string(),
            })?;
        Ok(encodings
            .iter()
            .map(|e| e.get_ids().iter().map(|&id| i64::from(id)).collect())
            .collect())
    }
}

mod bert_json;
pub use bert_json::bert_tokenizer_json;

#[cfg(test)]
mod tests;
