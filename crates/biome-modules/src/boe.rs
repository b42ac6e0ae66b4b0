//! Bag of embeddings: masked sum or mean over time (AllenNLP `boe`).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, check_dim};

/// `{"embedding_dim": 300, "averaged": false}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoeConfig {
    /// Input (and output) size; `None` = taken from the previous module.
    #[serde(default)]
    pub embedding_dim: Option<usize>,
    /// Mean instead of sum over the real tokens.
    #[serde(default)]
    pub averaged: bool,
}

impl BoeConfig {
    /// Check/fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        let embedding_dim = Some(check_dim(self.embedding_dim, input_dim)?);
        Ok(Self {
            embedding_dim,
            ..self.clone()
        })
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(&self, input_dim: usize) -> Result<BagOfEmbeddingsEncoder, ModuleError> {
        let dim = check_dim(self.embedding_dim, input_dim)?;
        Ok(BagOfEmbeddingsEncoder {
            dim,
            averaged: self.averaged,
        })
    }
}

/// Masked sum (or mean) of the token vectors.
#[derive(Module, Debug)]
pub struct BagOfEmbeddingsEncoder {
    /// Input = output size.
    pub dim: usize,
    /// Mean instead of sum.
    pub averaged: bool,
}

impl BagOfEmbeddingsEncoder {
    /// Output size.
    pub fn output_dim(&self) -> usize {
        self.dim
    }

    /// - x: `[B, T, D]`, mask: `[B, T]`
    /// - returns `[B, D]`; all-padding rows give zeros.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let m = mask.float(); // [B, T]
        let summed = if x.is_autodiff() {
            (x * m.clone().unsqueeze_dim::<3>(2))
                .sum_dim(1)
                .squeeze_dim::<2>(1)
        } else {
            // Without autodiff, the masked sum as a batched product `[B, 1, T] × [B, T, D]`:
            // one read of `x` instead of writing and reading a masked copy (W4 inference +45%).
            // In training its backward (a `T×1 · 1×D` product per row) is slower than the
            // multiply's, so training keeps the multiply.
            m.clone()
                .unsqueeze_dim::<3>(1)
                .matmul(x)
                .squeeze_dim::<2>(1)
        };
        if self.averaged {
            let lengths = m.sum_dim(1).clamp_min(1.0);
            summed / lengths
        } else {
            summed
        }
    }
}
