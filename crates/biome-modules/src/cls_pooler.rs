//! `cls_pooler`: the first token's vector (AllenNLP's `ClsPooler`; BERT's `[CLS]` position).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, check_dim};

/// `{"embedding_dim": 384}` (optional; `{}` takes the size from the previous module).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClsPoolerConfig {
    /// Input (and output) size; `None` = taken from the previous module.
    #[serde(default)]
    pub embedding_dim: Option<usize>,
}

impl ClsPoolerConfig {
    /// Check/fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        Ok(Self {
            embedding_dim: Some(check_dim(self.embedding_dim, input_dim)?),
        })
    }

    /// Build the pooler for `input_dim` features.
    pub fn init(&self, input_dim: usize) -> Result<ClsPooler, ModuleError> {
        Ok(ClsPooler {
            dim: check_dim(self.embedding_dim, input_dim)?,
        })
    }
}

/// The vector at position 0.
#[derive(Module, Debug)]
pub struct ClsPooler {
    /// Input = output size.
    pub dim: usize,
}

impl ClsPooler {
    /// Output size.
    pub fn output_dim(&self) -> usize {
        self.dim
    }

    /// - x: `[B, T, D]`, mask: `[B, T]` (unused: position 0 is the `[CLS]` token of every
    ///   non-empty row; [`crate::Seq2VecEncoder`] zeroes all-padding rows)
    /// - returns `[B, D]`
    pub fn forward(&self, x: Tensor<3>, _mask: Tensor<2, Bool>) -> Tensor<2> {
        let [b, _, d] = x.dims();
        x.slice([0..b, 0..1]).reshape([b, d])
    }
}
