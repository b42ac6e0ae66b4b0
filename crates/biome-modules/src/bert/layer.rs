//! One post-LayerNorm BERT encoder layer: self-attention, then the GELU feed-forward block
//! with its residual and LayerNorm (Hugging Face's `BertLayer`).

use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;

use super::attention::BertAttention;
use super::config::BertConfig;
use super::layer_norm::normalize;
use super::rows::linear_rows;
use super::weights::{WeightSource, layer_norm, linear};
use crate::activation::gelu_erf;
use crate::error::ModuleError;

/// Attention → `LayerNorm(a + dropout(W₂ gelu(W₁ a + b₁) + b₂))`.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// Self-attention block.
    pub attention: BertAttention,
    /// `H → intermediate_size` (`intermediate.dense`).
    pub intermediate: Linear,
    /// `intermediate_size → H` (`output.dense`).
    pub output: Linear,
    /// LayerNorm of the block's residual sum (`output.LayerNorm`).
    pub output_layer_norm: LayerNorm,
    /// Dropout on the feed-forward output while training.
    pub dropout: Dropout,
    /// The LayerNorm's epsilon (`layer_norm_eps`).
    pub layer_norm_eps: f64,
}

impl BertLayer {
    /// Built from `src` (Hugging Face names under `encoder.layer.{index}.`).
    pub fn build<S: WeightSource>(
        config: &BertConfig,
        index: usize,
        src: &mut S,
    ) -> Result<Self, ModuleError> {
        let h = config.hidden_size;
        let i = config.intermediate_size;
        let std = config.initializer_range;
        let p = format!("encoder.layer.{index}.");
        Ok(Self {
            attention: BertAttention::build(config, &p, src)?,
            intermediate: linear(src, &format!("{p}intermediate.dense"), h, i, std)?,
            output: linear(src, &format!("{p}output.dense"), i, h, std)?,
            output_layer_norm: layer_norm(
                src,
                &format!("{p}output.LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        })
    }

    /// - x: `[B, T, H]`; key_bias: `[B, 1, 1, T]` (see [`super::attention::key_bias`])
    /// - returns `[B, T, H]`
    pub fn forward(&self, x: Tensor<3>, key_bias: Tensor<4>) -> Tensor<3> {
        let a = self.attention.forward(x, key_bias);
        let inner = gelu_erf(linear_rows(&self.intermediate, a.clone()));
        let out = self.dropout.forward(linear_rows(&self.output, inner));
        normalize(&self.output_layer_norm, self.layer_norm_eps, out + a)
    }
}
