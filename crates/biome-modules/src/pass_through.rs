//! AllenNLP `pass_through` seq2seq encoder: the input, zeroed at padded positions.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{ModuleError, check_dim};
use crate::mask::zero_padding;

/// `{"input_dim": 300}` (or `{}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassThroughConfig {
    /// Input (= output) size; `None` = taken from the previous module.
    #[serde(default)]
    pub input_dim: Option<usize>,
}

impl PassThroughConfig {
    /// Check/fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        Ok(Self {
            input_dim: Some(check_dim(self.input_dim, input_dim)?),
        })
    }
}

/// Identity with masking.
#[derive(Module, Debug)]
pub struct PassThroughEncoder {
    /// Input = output size.
    pub dim: usize,
}

impl PassThroughEncoder {
    /// - x: `[B, T, D]`, mask `[B, T]` -> `[B, T, D]`, zero at padded positions.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        zero_padding(x, mask)
    }
}
