//! Seq2vec encoders: `[B, T, D]` + mask `[B, T]` -> `[B, H]`.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::boe::{BagOfEmbeddingsEncoder, BoeConfig};
use crate::cls_pooler::{ClsPooler, ClsPoolerConfig};
use crate::cnn::{CnnEncoder, CnnEncoderConfig};
use crate::error::ModuleError;
use crate::mask::row_has_tokens;
use crate::recurrent::RecurrentEncoder;
use crate::rnn::{RnnCell, RnnConfig};

/// `{"boe": {..}}` | `{"cls_pooler": {..}}` | `{"cnn": {..}}` | `{"lstm": {..}}` |
/// `{"gru": {..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seq2VecEncoderConfig {
    /// Bag of embeddings.
    Boe(BoeConfig),
    /// The first token's vector.
    ClsPooler(ClsPoolerConfig),
    /// CNN with max-pooling.
    Cnn(CnnEncoderConfig),
    /// Final LSTM state.
    Lstm(RnnConfig),
    /// Final GRU state.
    Gru(RnnConfig),
}

impl Seq2VecEncoderConfig {
    /// The configured input size, if any.
    pub fn input_dim(&self) -> Option<usize> {
        match self {
            Self::Boe(c) => c.embedding_dim,
            Self::ClsPooler(c) => c.embedding_dim,
            Self::Cnn(c) => c.embedding_dim,
            Self::Lstm(c) | Self::Gru(c) => c.input_size,
        }
    }

    /// Check the configured input size against `input_dim` (error naming both) and fill it in.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        Ok(match self {
            Self::Boe(c) => Self::Boe(c.resolve(input_dim)?),
            Self::ClsPooler(c) => Self::ClsPooler(c.resolve(input_dim)?),
            Self::Cnn(c) => Self::Cnn(c.resolve(input_dim)?),
            Self::Lstm(c) => Self::Lstm(resolve_rnn(c, input_dim)?),
            Self::Gru(c) => Self::Gru(resolve_rnn(c, input_dim)?),
        })
    }

    /// Output size.
    ///
    /// # Panics
    /// For `boe` or `cls_pooler` without `embedding_dim`: call [`resolve`](Self::resolve) first.
    pub fn output_dim(&self) -> usize {
        match self {
            Self::Boe(c) => c
                .embedding_dim
                .expect("boe output_dim needs embedding_dim: resolve(input_dim) first"),
            Self::ClsPooler(c) => c
                .embedding_dim
                .expect("cls_pooler output_dim needs embedding_dim: resolve(input_dim) first"),
            Self::Cnn(c) => c.output_dim(),
            Self::Lstm(c) | Self::Gru(c) => c.output_dim(),
        }
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<Seq2VecEncoder, ModuleError> {
        Ok(match self.resolve(input_dim)? {
            Self::Boe(c) => Seq2VecEncoder::Boe(c.init(input_dim)?),
            Self::ClsPooler(c) => Seq2VecEncoder::ClsPooler(c.init(input_dim)?),
            Self::Cnn(c) => Seq2VecEncoder::Cnn(c.init(input_dim, device)?),
            Self::Lstm(c) => {
                Seq2VecEncoder::Lstm(RecurrentEncoder::new(&c, RnnCell::Lstm, input_dim, device))
            }
            Self::Gru(c) => {
                Seq2VecEncoder::Gru(RecurrentEncoder::new(&c, RnnCell::Gru, input_dim, device))
            }
        })
    }
}

/// `c` with its input size resolved to `input_dim`, after [`RnnConfig::validate`] (the one check
/// of an RNN config, for seq2vec and seq2seq alike).
pub(crate) fn resolve_rnn(c: &RnnConfig, input_dim: usize) -> Result<RnnConfig, ModuleError> {
    c.validate(input_dim)?;
    Ok(RnnConfig {
        input_size: Some(input_dim),
        ..c.clone()
    })
}

/// A seq2vec encoder of any kind.
// Modules are held by value (burn's derive does not see through `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Seq2VecEncoder {
    /// Bag of embeddings.
    Boe(BagOfEmbeddingsEncoder),
    /// CNN.
    Cnn(CnnEncoder),
    /// LSTM final state.
    Lstm(RecurrentEncoder),
    /// GRU final state.
    Gru(RecurrentEncoder),
    /// First token (last, so that the records of saved models keep their variant order).
    ClsPooler(ClsPooler),
}

impl Seq2VecEncoder {
    /// Output size `H`.
    pub fn output_dim(&self) -> usize {
        match self {
            Self::Boe(m) => m.output_dim(),
            Self::ClsPooler(m) => m.output_dim(),
            Self::Cnn(m) => m.output_dim(),
            Self::Lstm(m) | Self::Gru(m) => m.output_dim,
        }
    }

    /// - x: `[B, T, D]`, mask: `[B, T]` (true = real token)
    /// - returns `[B, H]`; all-padding rows give zeros (whatever the encoder, e.g. a CNN
    ///   projection bias is not let through).
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let out = match self {
            Self::Boe(m) => m.forward(x, mask.clone()),
            Self::ClsPooler(m) => m.forward(x, mask.clone()),
            Self::Cnn(m) => m.forward(x, mask.clone()),
            Self::Lstm(m) | Self::Gru(m) => m.rnn.forward_final(x, mask.clone()),
        };
        out * row_has_tokens(mask)
    }
}
