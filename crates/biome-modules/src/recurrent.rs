//! Wrapper around [`MaskedRnn`] recording its output size, for the encoder enums.

use burn::prelude::*;

use crate::rnn::{MaskedRnn, RnnCell, RnnConfig};

/// A [`MaskedRnn`] and its output size (`hidden_size · directions`).
#[derive(Module, Debug)]
pub struct RecurrentEncoder {
    /// The recurrence.
    pub rnn: MaskedRnn,
    /// `hidden_size · directions`.
    pub output_dim: usize,
}

impl RecurrentEncoder {
    /// Build from a resolved config.
    pub fn new(config: &RnnConfig, cell: RnnCell, input_dim: usize, device: &Device) -> Self {
        Self {
            rnn: config.init(cell, input_dim, device),
            output_dim: config.output_dim(),
        }
    }
}
