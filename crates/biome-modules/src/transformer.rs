//! Transformer seq2seq encoder (post-norm, ReLU feed-forward, as PyTorch's
//! `TransformerEncoderLayer`) with a padding mask and optional sinusoidal positions.

use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, check_dim, check_dropout};
use crate::mask::zero_padding;

fn point_one() -> f64 {
    0.1
}
fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}

/// `{"input_dim": 300, "num_layers": 1, "num_attention_heads": 4, "feedforward_hidden_dim":
/// 512, "dropout": 0.1, "positional_encoding": true}`. The model size is the input size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Input = output size; `None` = taken from the previous module.
    #[serde(default)]
    pub input_dim: Option<usize>,
    /// Stacked layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Heads; must divide the input size.
    pub num_attention_heads: usize,
    /// Hidden size of the position-wise feed-forward layers.
    pub feedforward_hidden_dim: usize,
    /// Dropout (attention weights, residuals, feed-forward) while training.
    #[serde(default = "point_one")]
    pub dropout: f64,
    /// Add sinusoidal position features (AllenNLP `add_positional_features`) to the input.
    #[serde(default = "yes")]
    pub positional_encoding: bool,
}

impl TransformerConfig {
    /// Check/fill the input size and the other values.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        let d = check_dim(self.input_dim, input_dim)?;
        check_dropout("transformer", self.dropout)?;
        if self.num_layers == 0 || self.num_attention_heads == 0 || self.feedforward_hidden_dim == 0
        {
            return Err(ModuleError::invalid(
                "transformer",
                "num_layers, num_attention_heads and feedforward_hidden_dim must be positive",
            ));
        }
        if d % self.num_attention_heads != 0 {
            return Err(ModuleError::invalid(
                "transformer",
                format!(
                    "input size {d} is not divisible by num_attention_heads {}",
                    self.num_attention_heads
                ),
            ));
        }
        Ok(Self {
            input_dim: Some(d),
            ..self.clone()
        })
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(
        &self,
        input_dim: usize,
        device: &Device,
    ) -> Result<MaskedTransformer, ModuleError> {
        let c = self.resolve(input_dim)?;
        let encoder = TransformerEncoderConfig::new(
            input_dim,
            c.feedforward_hidden_dim,
            c.num_attention_heads,
            c.num_layers,
        )
        .with_dropout(c.dropout)
        .with_activation(ActivationConfig::Relu)
        .init(device);
        Ok(MaskedTransformer {
            encoder,
            positional_encoding: c.positional_encoding,
            dim: input_dim,
        })
    }
}

/// Transformer encoder that honours a padding mask; padded outputs are zero.
#[derive(Module, Debug)]
pub struct MaskedTransformer {
    /// burn's encoder stack.
    pub encoder: TransformerEncoder,
    /// Whether position features are added.
    pub positional_encoding: bool,
    /// Model size.
    pub dim: usize,
}

/// AllenNLP's `add_positional_features` signal `[T, D]` (min timescale 1, max 1e4): `D/2`
/// sines then `D/2` cosines, a zero column when `D` is odd.
pub fn positional_features(t: usize, d: usize, device: &Device) -> Tensor<2> {
    let n = d / 2;
    let mut data = vec![0f32; t * d];
    if n > 0 {
        let log_inc = (1.0e4f64 / 1.0).ln() / (n as f64 - 1.0).max(1.0);
        for pos in 0..t {
            for i in 0..n {
                let inv = (-(i as f64) * log_inc).exp();
                let s = pos as f64 * inv;
                data[pos * d + i] = s.sin() as f32;
                data[pos * d + n + i] = s.cos() as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [t, d]), device)
}

impl MaskedTransformer {
    /// - x: `[B, T, D]`, mask: `[B, T]`
    /// - returns `[B, T, D]`, zero at padded positions; real positions attend to real ones only.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        let [_, t, d] = x.dims();
        let mut x = zero_padding(x, mask.clone());
        if self.positional_encoding {
            x = x + positional_features(t, d, &mask.device()).unsqueeze_dim::<3>(0);
        }
        let input = TransformerEncoderInput::new(x).mask_pad(mask.clone().bool_not());
        zero_padding(self.encoder.forward(input), mask)
    }
}
