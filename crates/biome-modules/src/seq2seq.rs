//! Seq2seq encoders: `[B, T, D]` + mask `[B, T]` -> `[B, T, H]`, zero at padded positions.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModuleError;
use crate::pass_through::{PassThroughConfig, PassThroughEncoder};
use crate::recurrent::RecurrentEncoder;
use crate::rnn::{RnnCell, RnnConfig};
use crate::seq2vec::resolve_rnn;
use crate::transformer::{MaskedTransformer, TransformerConfig};

/// `{"pass_through": {..}}` | `{"lstm": {..}}` | `{"gru": {..}}` | `{"transformer": {..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seq2SeqEncoderConfig {
    /// The input, masked.
    PassThrough(PassThroughConfig),
    /// LSTM outputs.
    Lstm(RnnConfig),
    /// GRU outputs.
    Gru(RnnConfig),
    /// Transformer encoder.
    Transformer(TransformerConfig),
}

impl Seq2SeqEncoderConfig {
    /// The configured input size, if any.
    pub fn input_dim(&self) -> Option<usize> {
        match self {
            Self::PassThrough(c) => c.input_dim,
            Self::Lstm(c) | Self::Gru(c) => c.input_size,
            Self::Transformer(c) => c.input_dim,
        }
    }

    /// Check the configured input size against `input_dim` (error naming both) and fill it in.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        Ok(match self {
            Self::PassThrough(c) => Self::PassThrough(c.resolve(input_dim)?),
            Self::Lstm(c) => Self::Lstm(resolve_rnn(c, input_dim)?),
            Self::Gru(c) => Self::Gru(resolve_rnn(c, input_dim)?),
            Self::Transformer(c) => Self::Transformer(c.resolve(input_dim)?),
        })
    }

    /// Output size.
    ///
    /// # Panics
    /// For `pass_through`/`transformer` without `input_dim`: call [`resolve`](Self::resolve)
    /// first.
    pub fn output_dim(&self) -> usize {
        let unresolved = "seq2seq output_dim needs input_dim: resolve(input_dim) first";
        match self {
            Self::PassThrough(c) => c.input_dim.expect(unresolved),
            Self::Lstm(c) | Self::Gru(c) => c.output_dim(),
            Self::Transformer(c) => c.input_dim.expect(unresolved),
        }
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<Seq2SeqEncoder, ModuleError> {
        Ok(match self.resolve(input_dim)? {
            Self::PassThrough(_) => {
                Seq2SeqEncoder::PassThrough(PassThroughEncoder { dim: input_dim })
            }
            Self::Lstm(c) => {
                Seq2SeqEncoder::Lstm(RecurrentEncoder::new(&c, RnnCell::Lstm, input_dim, device))
            }
            Self::Gru(c) => {
                Seq2SeqEncoder::Gru(RecurrentEncoder::new(&c, RnnCell::Gru, input_dim, device))
            }
            Self::Transformer(c) => Seq2SeqEncoder::Transformer(c.init(input_dim, device)?),
        })
    }
}

/// A seq2seq encoder of any kind.
// Modules are held by value (burn's derive does not see through `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Seq2SeqEncoder {
    /// Identity.
    PassThrough(PassThroughEncoder),
    /// LSTM.
    Lstm(RecurrentEncoder),
    /// GRU.
    Gru(RecurrentEncoder),
    /// Transformer.
    Transformer(MaskedTransformer),
}

impl Seq2SeqEncoder {
    /// Output size `H`.
    pub fn output_dim(&self) -> usize {
        match self {
            Self::PassThrough(m) => m.dim,
            Self::Lstm(m) | Self::Gru(m) => m.output_dim,
            Self::Transformer(m) => m.dim,
        }
    }

    /// - x: `[B, T, D]`, mask: `[B, T]` (true = real token)
    /// - returns `[B, T, H]`, zero at padded positions.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        match self {
            Self::PassThrough(m) => m.forward(x, mask),
            Self::Lstm(m) | Self::Gru(m) => m.rnn.forward_sequence(x, mask),
            Self::Transformer(m) => m.forward(x, mask),
        }
    }
}
