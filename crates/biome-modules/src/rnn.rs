//! Mask-exact recurrent layers (LSTM and GRU, PyTorch gate semantics).
//!
//! API CONTRACT (stub: bodies are `todo!()` until the recurrence work lands).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Configuration shared by LSTM and GRU encoders, with AllenNLP/PyTorch parameter names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    /// Input feature size; `None` = derived from the previous module's output.
    #[serde(default)]
    pub input_size: Option<usize>,
    /// Hidden size of each direction.
    pub hidden_size: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Run a second, reversed direction and concatenate.
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout between stacked layers (training only).
    #[serde(default)]
    pub dropout: f64,
}

fn one() -> usize {
    1
}

/// Which gated cell a [`MaskedRnn`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RnnCell {
    Lstm,
    Gru,
}

impl RnnConfig {
    /// Output size: `hidden_size * (2 if bidirectional else 1)`.
    pub fn output_dim(&self) -> usize {
        self.hidden_size * if self.bidirectional { 2 } else { 1 }
    }

    /// Build the layers. `input_size` (if set in the config) must equal `input_dim`.
    pub fn init(&self, cell: RnnCell, input_dim: usize, device: &Device) -> MaskedRnn {
        let _ = (cell, input_dim, device);
        todo!()
    }
}

/// A stacked, optionally bidirectional LSTM or GRU that honours a padding mask exactly.
#[derive(Module, Debug)]
pub struct MaskedRnn {
    /// placeholder
    pub hidden_size: usize,
}

impl MaskedRnn {
    /// Outputs of the top layer at every step.
    ///
    /// - x: `[B, T, D]`, mask: `[B, T]` (true = real token; a prefix of each row)
    /// - returns `[B, T, H·dirs]`, zero at padded positions.
    pub fn forward_sequence(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        let _ = (x, mask);
        todo!()
    }

    /// Final hidden state of the top layer at each row's true length
    /// (`[forward_final; backward_final]` when bidirectional).
    ///
    /// - x: `[B, T, D]`, mask: `[B, T]`
    /// - returns `[B, H·dirs]`; an all-padding row gives zeros.
    pub fn forward_final(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let _ = (x, mask);
        todo!()
    }
}
