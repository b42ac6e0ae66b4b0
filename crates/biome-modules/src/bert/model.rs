//! `Bert`: embeddings → N encoder layers; the last hidden state.

use burn::prelude::*;

use super::attention::key_bias;
use super::config::BertConfig;
use super::embeddings::BertEmbeddings;
use super::layer::BertLayer;
use super::weights::{RandomWeights, WeightSource};
use crate::error::ModuleError;
use crate::mask::zero_padding;

/// The encoder stack (Hugging Face's `BertEncoder`; parameter paths `encoder.layer.{i}.…`).
#[derive(Module, Debug)]
pub struct BertEncoder {
    /// The layers, first to last.
    pub layer: Vec<BertLayer>,
}

/// A BERT encoder (Hugging Face's `BertModel` without the pooler).
#[derive(Module, Debug)]
pub struct Bert {
    /// Input layer.
    pub embeddings: BertEmbeddings,
    /// Encoder layers.
    pub encoder: BertEncoder,
    /// Model width `H`.
    pub hidden_size: usize,
}

impl BertConfig {
    /// A model with random weights (Hugging Face's initialisation: `N(0, initializer_range²)`
    /// weights, zero biases, unit LayerNorms), drawn lazily: a model whose weights come from a
    /// record next draws none. Assumes a [validated](BertConfig::validate) config (every way of
    /// reading one validates it).
    pub fn init(&self, device: &Device) -> Bert {
        Bert::build(self, &mut RandomWeights::new(device))
            .expect("random weights cannot be missing or misshapen")
    }
}

impl Bert {
    /// Built from `src`, asking for every weight by its Hugging Face name.
    pub fn build<S: WeightSource>(config: &BertConfig, src: &mut S) -> Result<Self, ModuleError> {
        let embeddings = BertEmbeddings::build(config, src)?;
        let layer = (0..config.num_hidden_layers)
            .map(|i| BertLayer::build(config, i, src))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            embeddings,
            encoder: BertEncoder { layer },
            hidden_size: config.hidden_size,
        })
    }

    /// Size `H` of the token vectors.
    pub fn output_dim(&self) -> usize {
        self.hidden_size
    }

    /// - ids: `[B, T]` word-piece ids; type_ids: `[B, T]` segment ids; mask: `[B, T]` (true =
    ///   real token). Positions are `0..T`.
    /// - returns the last hidden state `[B, T, H]`, zero at padded positions. Real positions
    ///   attend to real positions only, so padding never changes them.
    ///
    /// # Panics
    /// If `T` exceeds `max_position_embeddings`.
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        type_ids: Tensor<2, Int>,
        mask: Tensor<2, Bool>,
    ) -> Tensor<3> {
        let bias = key_bias(mask.clone());
        let mut x = self.embeddings.forward(ids, type_ids);
        for layer in &self.encoder.layer {
            x = layer.forward(x, bias.clone());
        }
        zero_padding(x, mask)
    }
}
