//! AllenNLP `FeedForward`: stacked `dropout(activation(linear(x)))` layers.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{ModuleError, check_dim, check_dropout};

/// A scalar applied to every layer, or one value per layer (AllenNLP's `Union[T, List[T]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// Same for every layer.
    One(T),
    /// Per layer; the length must equal `num_layers`.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// Expand to `n` values; error if a list has another length.
    pub fn expand(&self, n: usize, name: &str) -> Result<Vec<T>, ModuleError> {
        match self {
            Self::One(v) => Ok(vec![v.clone(); n]),
            Self::Many(v) if v.len() == n => Ok(v.clone()),
            Self::Many(v) => Err(ModuleError::invalid(
                "feedforward",
                format!("{name} has {} values but num_layers is {n}", v.len()),
            )),
        }
    }
}

fn zero() -> OneOrMany<f64> {
    OneOrMany::One(0.0)
}

/// `{"input_dim": 600, "num_layers": 2, "hidden_dims": [200, 50], "activations": "relu",
/// "dropout": 0.1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedForwardConfig {
    /// Input size; `None` = taken from the previous module.
    #[serde(default)]
    pub input_dim: Option<usize>,
    /// Layers.
    pub num_layers: usize,
    /// Output size of each layer.
    pub hidden_dims: OneOrMany<usize>,
    /// Activation of each layer.
    pub activations: OneOrMany<Activation>,
    /// Dropout after each layer (training only).
    #[serde(default = "zero")]
    pub dropout: OneOrMany<f64>,
}

impl FeedForwardConfig {
    /// Check the lists and fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        if self.num_layers == 0 {
            return Err(ModuleError::invalid(
                "feedforward",
                "num_layers must be positive",
            ));
        }
        let dims = self.hidden_dims.expand(self.num_layers, "hidden_dims")?;
        if dims.contains(&0) {
            return Err(ModuleError::invalid(
                "feedforward",
                "hidden_dims must be positive",
            ));
        }
        self.activations.expand(self.num_layers, "activations")?;
        for p in self.dropout.expand(self.num_layers, "dropout")? {
            check_dropout("feedforward", p)?;
        }
        Ok(Self {
            input_dim: Some(check_dim(self.input_dim, input_dim)?),
            ..self.clone()
        })
    }

    /// Output size (the last hidden dim).
    ///
    /// # Panics
    /// If `hidden_dims` is an empty list (rejected by [`resolve`](Self::resolve)).
    pub fn output_dim(&self) -> usize {
        match &self.hidden_dims {
            OneOrMany::One(d) => *d,
            OneOrMany::Many(d) => *d.last().expect("hidden_dims is empty"),
        }
    }

    /// Build for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<FeedForward, ModuleError> {
        let c = self.resolve(input_dim)?;
        let dims = c.hidden_dims.expand(c.num_layers, "hidden_dims")?;
        let mut ins = vec![input_dim];
        ins.extend_from_slice(&dims[..dims.len() - 1]);
        Ok(FeedForward {
            layers: ins
                .iter()
                .zip(&dims)
                .map(|(&i, &o)| LinearConfig::new(i, o).init(device))
                .collect(),
            activations: c.activations.expand(c.num_layers, "activations")?,
            dropouts: c
                .dropout
                .expand(c.num_layers, "dropout")?
                .into_iter()
                .map(|p| DropoutConfig::new(p).init())
                .collect(),
        })
    }
}

/// Stacked linear layers with activations and dropout.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// The linear layers.
    pub layers: Vec<Linear>,
    /// One per layer.
    #[module(skip)]
    pub activations: Vec<Activation>,
    /// One per layer.
    pub dropouts: Vec<Dropout>,
}

impl FeedForward {
    /// Output size.
    pub fn output_dim(&self) -> usize {
        self.layers
            .last()
            .map_or(0, |l| l.weight.shape().dims::<2>()[1])
    }

    /// - x: `[..., D]` -> `[..., H]`
    pub fn forward<const N: usize>(&self, x: Tensor<N>) -> Tensor<N> {
        let mut x = x;
        for ((layer, act), drop) in self
            .layers
            .iter()
            .zip(&self.activations)
            .zip(&self.dropouts)
        {
            x = drop.forward(act.apply(layer.forward(x)));
        }
        x
    }
}
