//! BERT self-attention with its output projection and post-LayerNorm residual (Hugging Face's
//! `BertAttention` = `BertSelfAttention` + `BertSelfOutput`).

use biome_kernels::softmax::scaled_softmax_with_key_bias;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::config::BertConfig;
use super::layer_norm::normalize;
use super::rows::linear_rows;
use super::weights::{WeightSource, layer_norm, linear};
use crate::error::ModuleError;

/// What is added to the attention scores of a padded key: `exp` of it (relative to any real
/// key's score) is exactly 0 in f32, so padded keys get exactly zero weight, and it is finite, so
/// an all-padding row gives finite (uniform) weights instead of NaN.
pub const PADDED_KEY_SCORE: f32 = -1.0e9;

/// The additive key mask of the attention scores: `[B, T]` mask (true = real token) →
/// `[B, 1, 1, T]`, 0 for real keys and [`PADDED_KEY_SCORE`] for padded ones. Built once per
/// forward and shared by every layer.
pub fn key_bias(mask: Tensor<2, Bool>) -> Tensor<4> {
    let [b, t] = mask.dims();
    (mask.bool_not().float() * PADDED_KEY_SCORE).reshape([b, 1, 1, t])
}

/// The attention weights: `softmax(scale · scores + key_bias)` over the keys. One pass (and one
/// for its backward) on flex, biome-kernels' fused op; the three composed ops elsewhere.
///
/// - scores: `[B, heads, T, T]`; key_bias: `[B, 1, 1, T]` from [`key_bias`]
/// - returns `[B, heads, T, T]`
pub fn masked_softmax(scores: Tensor<4>, scale: f64, key_bias: Tensor<4>) -> Tensor<4> {
    scaled_softmax_with_key_bias(&scores, scale as f32, &key_bias)
        .unwrap_or_else(|| softmax(scores * scale + key_bias, 3))
}

/// Multi-head scaled dot-product self-attention, output projection, dropout, residual,
/// LayerNorm.
#[derive(Module, Debug)]
pub struct BertAttention {
    /// Query projection `H → H`.
    pub query: Linear,
    /// Key projection `H → H`.
    pub key: Linear,
    /// Value projection `H → H`.
    pub value: Linear,
    /// Output projection `H → H` (`attention.output.dense`).
    pub output: Linear,
    /// LayerNorm of input + projected attention (`attention.output.LayerNorm`).
    pub output_layer_norm: LayerNorm,
    /// Dropout on the attention weights while training.
    pub attention_dropout: Dropout,
    /// Dropout on the projected attention while training.
    pub output_dropout: Dropout,
    /// Number of heads.
    pub heads: usize,
    /// The LayerNorm's epsilon (`layer_norm_eps`).
    pub layer_norm_eps: f64,
}

impl BertAttention {
    /// Built from `src` (Hugging Face names under `{prefix}attention.`).
    pub fn build<S: WeightSource>(
        config: &BertConfig,
        prefix: &str,
        src: &mut S,
    ) -> Result<Self, ModuleError> {
        let h = config.hidden_size;
        let std = config.initializer_range;
        let p = format!("{prefix}attention.");
        Ok(Self {
            query: linear(src, &format!("{p}self.query"), h, h, std)?,
            key: linear(src, &format!("{p}self.key"), h, h, std)?,
            value: linear(src, &format!("{p}self.value"), h, h, std)?,
            output: linear(src, &format!("{p}output.dense"), h, h, std)?,
            output_layer_norm: layer_norm(
                src,
                &format!("{p}output.LayerNorm"),
                h,
                config.layer_norm_eps,
            )?,
            attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            output_dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            heads: config.num_attention_heads,
            layer_norm_eps: config.layer_norm_eps,
        })
    }

    /// `[B, T, H]` → `[B, heads, T, H / heads]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, t, h] = x.dims();
        x.reshape([b, t, self.heads, h / self.heads])
            .swap_dims(1, 2)
    }

    /// - x: `[B, T, H]`; key_bias: `[B, 1, 1, T]` from [`key_bias`]
    /// - returns `[B, T, H]`: `LayerNorm(x + dropout(softmax(q kᵀ / √d + bias) v · W_o + b_o))`
    pub fn forward(&self, x: Tensor<3>, key_bias: Tensor<4>) -> Tensor<3> {
        let [b, t, h] = x.dims();
        let scale = 1.0 / ((h / self.heads) as f64).sqrt();
        let q = self.split_heads(linear_rows(&self.query, x.clone()));
        let k = self.split_heads(linear_rows(&self.key, x.clone()));
        let v = self.split_heads(linear_rows(&self.value, x.clone()));
        let weights = masked_softmax(q.matmul(k.swap_dims(2, 3)), scale, key_bias);
        let weights = self.attention_dropout.forward(weights);
        let context = weights.matmul(v).swap_dims(1, 2).reshape([b, t, h]);
        let projected = self
            .output_dropout
            .forward(linear_rows(&self.output, context));
        normalize(&self.output_layer_norm, self.layer_norm_eps, projected + x)
    }
}
