//! BERT's input layer: word + position + token-type embeddings, LayerNorm, dropout.

use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm};
use burn::prelude::*;

use super::config::BertConfig;
use super::layer_norm::normalize;
use super::weights::{WeightSource, embedding, layer_norm};
use crate::error::ModuleError;

/// Hugging Face's `BertEmbeddings` (absolute positions).
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// Word-piece vectors `[vocab_size, H]`.
    pub word_embeddings: Embedding,
    /// Position vectors `[max_position_embeddings, H]`; position `t` is row `t`.
    pub position_embeddings: Embedding,
    /// Segment vectors `[type_vocab_size, H]`.
    pub token_type_embeddings: Embedding,
    /// Normalisation of the sum.
    pub layer_norm: LayerNorm,
    /// Dropout while training.
    pub dropout: Dropout,
    /// The LayerNorm's epsilon (`layer_norm_eps`).
    pub layer_norm_eps: f64,
}

impl BertEmbeddings {
    /// Built from `src` (Hugging Face names under `embeddings.`).
    pub fn build<S: WeightSource>(config: &BertConfig, src: &mut S) -> Result<Self, ModuleError> {
        let h = config.hidden_size;
        let std = config.initializer_range;
        Ok(Self {
            word_embeddings: embedding(
                src,
                "embeddings.word_embeddings",
                config.vocab_size,
                h,
                std,
            )?,
            position_embeddings: embedding(
                src,
                "embeddings.position_embeddings",
                config.max_position_embeddings,
                h,
                std,
            )?,
            token_type_embeddings: embedding(
                src,
                "embeddings.token_type_embeddings",
                config.type_vocab_size,
                h,
                std,
            )?,
            layer_norm: layer_norm(src, "embeddings.LayerNorm", h, config.layer_norm_eps)?,
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            layer_norm_eps: config.layer_norm_eps,
        })
    }

    /// - ids, type_ids: `[B, T]` (positions are `0..T`)
    /// - returns `[B, T, H]`
    ///
    /// # Panics
    /// If `T` exceeds `max_position_embeddings` (the embedder truncates to `max_length`, which
    /// its config checks against it).
    pub fn forward(&self, ids: Tensor<2, Int>, type_ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, t] = ids.dims();
        let positions = self.position_embeddings.weight.val();
        let max = positions.dims()[0];
        assert!(
            t <= max,
            "a sequence of {t} tokens is longer than max_position_embeddings {max}"
        );
        let x = self.word_embeddings.forward(ids)
            + self.token_type_embeddings.forward(type_ids)
            + positions.slice(0..t).unsqueeze_dim::<3>(0);
        self.dropout
            .forward(normalize(&self.layer_norm, self.layer_norm_eps, x))
    }
}
