//! Activation functions by AllenNLP name.

use burn::prelude::*;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

/// An activation function, written by its AllenNLP/PyTorch name (`"relu"`, `"tanh"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`
    #[default]
    Relu,
    /// `tanh(x)`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// Gaussian error linear unit (exact, erf form).
    Gelu,
    /// ELU with `alpha = 1`.
    Elu,
    /// Leaky ReLU with PyTorch's default slope 0.01.
    LeakyRelu,
    /// The identity.
    Linear,
}

impl Activation {
    /// Apply the function element-wise.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::Tanh => activation::tanh(x),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Gelu => activation::gelu(x),
            Self::Elu => activation::elu(x, 1.0),
            Self::LeakyRelu => activation::leaky_relu(x, 0.01),
            Self::Linear => x,
        }
    }
}
