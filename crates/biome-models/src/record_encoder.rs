//! The shared record encoder: embedder → (seq2seq) → seq2vec → dropout → for multi-field
//! records the field encoders → (feed-forward). Both records of a pair go through one instance.

use biome_modules::{FeedForward, MultifieldEncoder, SequenceEncoder, TextFieldEmbedder};
use burn::prelude::*;

use crate::error::ModelError;
use crate::tensors::RecordTensors;

/// Single-field or hierarchical multi-field encoding.
// Modules are held by value (burn's derive does not see through `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EncoderBody {
    /// One token sequence per record.
    Single(SequenceEncoder),
    /// One token sequence per field, then an encoder over the field vectors.
    Multi(MultifieldEncoder),
}

/// Record → vector.
#[derive(Module, Debug)]
pub struct RecordEncoder {
    /// Token embedders (words, characters).
    pub embedder: TextFieldEmbedder,
    /// Sequence (and field) encoders.
    pub body: EncoderBody,
    /// Optional feed-forward on the record vector.
    pub feed_forward: Option<FeedForward>,
}

impl RecordEncoder {
    /// Size of the record vector.
    pub fn output_dim(&self) -> usize {
        match &self.feed_forward {
            Some(ff) => ff.output_dim(),
            None => match &self.body {
                EncoderBody::Single(e) => e.output_dim(),
                EncoderBody::Multi(e) => e.output_dim(),
            },
        }
    }

    /// Whether the encoder expects multi-field batches.
    pub fn is_multifield(&self) -> bool {
        matches!(self.body, EncoderBody::Multi(_))
    }

    /// Encode a batch of records: `[B, T]` or `[B, F, T]` ids → `[B, H]`.
    pub fn forward(&self, input: &RecordTensors) -> Result<Tensor<2>, ModelError> {
        let uses_chars = self.embedder.uses_characters();
        let vectors = match (&self.body, input) {
            (
                EncoderBody::Single(enc),
                RecordTensors::Single {
                    tokens,
                    mask,
                    chars,
                },
            ) => {
                check_chars(uses_chars, chars.is_some())?;
                let x = self
                    .embedder
                    .forward(tokens.clone(), chars.clone(), mask.clone());
                enc.forward(x, mask.clone())
            }
            (
                EncoderBody::Multi(enc),
                RecordTensors::Multi {
                    tokens,
                    mask,
                    chars,
                },
            ) => {
                check_chars(uses_chars, chars.is_some())?;
                let x = self
                    .embedder
                    .forward_fields(tokens.clone(), chars.clone(), mask.clone());
                enc.forward(x, mask.clone())
            }
            (EncoderBody::Single(_), RecordTensors::Multi { .. }) => {
                return Err(ModelError::Input(
                    "the model reads single-field records but got a multi-field batch".into(),
                ));
            }
            (EncoderBody::Multi(_), RecordTensors::Single { .. }) => {
                return Err(ModelError::Input(
                    "the model reads multi-field records but got a single-field batch".into(),
                ));
            }
        };
        Ok(match &self.feed_forward {
            Some(ff) => ff.forward(vectors),
            None => vectors,
        })
    }
}

fn check_chars(needed: bool, given: bool) -> Result<(), ModelError> {
    if needed && !given {
        return Err(ModelError::Input(
            "the model embeds token_characters but the batch has no character ids".into(),
        ));
    }
    Ok(())
}
