//! AllenNLP `CnnEncoder` with exact masking.
//!
//! Each n-gram filter is applied as one matmul over the unfolded windows (`[B, W, k·D]` x
//! `[k·D, F]`); the max-pool only considers windows lying wholly on real tokens, so padding never
//! changes the result (AllenNLP pools over padded windows too). A row with no complete window
//! (shorter than the filter, or all padding) gives 0 for that filter. Inputs shorter than the
//! largest filter are padded internally.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{ModuleError, check_dim};

fn default_ngrams() -> Vec<usize> {
    vec![2, 3, 4, 5]
}

/// `{"embedding_dim": 50, "num_filters": 100, "ngram_filter_sizes": [2, 3, 4, 5],
/// "conv_layer_activation": "relu", "output_dim": null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnEncoderConfig {
    /// Input size; `None` = taken from the previous module.
    #[serde(default)]
    pub embedding_dim: Option<usize>,
    /// Filters per n-gram size.
    pub num_filters: usize,
    /// Window sizes.
    #[serde(default = "default_ngrams")]
    pub ngram_filter_sizes: Vec<usize>,
    /// Applied to the convolution outputs before pooling.
    #[serde(default)]
    pub conv_layer_activation: Activation,
    /// Optional linear projection of the pooled features.
    #[serde(default)]
    pub output_dim: Option<usize>,
}

impl CnnEncoderConfig {
    /// `num_filters` filters of each default size (2, 3, 4, 5), relu, no projection.
    pub fn new(num_filters: usize) -> Self {
        Self {
            embedding_dim: None,
            num_filters,
            ngram_filter_sizes: default_ngrams(),
            conv_layer_activation: Activation::Relu,
            output_dim: None,
        }
    }

    /// Output size: `output_dim`, else `num_filters · len(ngram_filter_sizes)`.
    pub fn output_dim(&self) -> usize {
        self.output_dim
            .unwrap_or(self.num_filters * self.ngram_filter_sizes.len())
    }

    fn validate(&self) -> Result<(), ModuleError> {
        if self.num_filters == 0
            || self.ngram_filter_sizes.is_empty()
            || self.ngram_filter_sizes.contains(&0)
            || self.output_dim == Some(0)
        {
            return Err(ModuleError::invalid(
                "cnn",
                "num_filters, ngram_filter_sizes (non-empty) and output_dim must be positive",
            ));
        }
        Ok(())
    }

    /// Check/fill the input size.
    pub fn resolve(&self, input_dim: usize) -> Result<Self, ModuleError> {
        self.validate()?;
        Ok(Self {
            embedding_dim: Some(check_dim(self.embedding_dim, input_dim)?),
            ..self.clone()
        })
    }

    /// Build the encoder for `input_dim` features.
    pub fn init(&self, input_dim: usize, device: &Device) -> Result<CnnEncoder, ModuleError> {
        let cfg = self.resolve(input_dim)?;
        // PyTorch Conv1d/Linear default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is
        // burn's Linear default (fan_in = k·D for a filter).
        let convs = cfg
            .ngram_filter_sizes
            .iter()
            .map(|&k| LinearConfig::new(k * input_dim, cfg.num_filters).init(device))
            .collect();
        let projection = cfg.output_dim.map(|o| {
            LinearConfig::new(cfg.num_filters * cfg.ngram_filter_sizes.len(), o).init(device)
        });
        Ok(CnnEncoder {
            convs,
            ngram_filter_sizes: cfg.ngram_filter_sizes.clone(),
            activation: cfg.conv_layer_activation,
            projection,
            input_dim,
        })
    }
}

/// Masked CNN seq2vec encoder. Filter `i` is a [`Linear`] `[k·D, F]` over the window
/// `[x_t; x_{t+1}; ...; x_{t+k-1}]` (position-major, feature-minor).
#[derive(Module, Debug)]
pub struct CnnEncoder {
    /// One `[k·D -> F]` layer per n-gram size.
    pub convs: Vec<Linear>,
    /// The n-gram sizes, parallel to `convs`.
    #[module(skip)]
    pub ngram_filter_sizes: Vec<usize>,
    /// Activation before pooling.
    #[module(skip)]
    pub activation: Activation,
    /// Optional projection.
    pub projection: Option<Linear>,
    /// Input size.
    pub input_dim: usize,
}

impl CnnEncoder {
    /// Output size.
    pub fn output_dim(&self) -> usize {
        match &self.projection {
            Some(p) => p.weight.shape().dims::<2>()[1],
            None => self.convs.len() * self.convs[0].weight.shape().dims::<2>()[1],
        }
    }

    /// - x: `[B, T, D]`, mask: `[B, T]`
    /// - returns `[B, H]`; all-padding rows give zeros.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        let device = x.device();
        let max_k = self.ngram_filter_sizes.iter().copied().max().unwrap_or(1);
        let tp = t.max(max_k);
        let mut maskf = mask.float();
        let mut x = x * maskf.clone().unsqueeze_dim::<3>(2);
        if tp > t {
            x = Tensor::cat(vec![x, Tensor::zeros([b, tp - t, d], &device)], 1);
            maskf = Tensor::cat(vec![maskf, Tensor::zeros([b, tp - t], &device)], 1);
        }
        let pooled: Vec<Tensor<2>> = self
            .convs
            .iter()
            .zip(&self.ngram_filter_sizes)
            .map(|(conv, &k)| {
                let w = tp - k + 1;
                let windows: Vec<Tensor<3>> =
                    (0..k).map(|j| x.clone().slice_dim(1, j..j + w)).collect();
                let windows = Tensor::cat(windows, 2); // [B, W, k·D]
                let out = self.activation.apply(conv.forward(windows)); // [B, W, F]
                // A window is valid when all of its k positions are real tokens.
                let real: Tensor<2> = (0..k)
                    .map(|j| maskf.clone().slice_dim(1, j..j + w))
                    .reduce(|a, c| a + c)
                    .unwrap();
                let valid = real.greater_equal_elem(k as f64 - 0.5); // [B, W]
                let f = out.dims()[2];
                let none_valid = valid.clone().any_dim(1).bool_not().expand([b, f]); // [B, F]
                let invalid = valid.bool_not().unsqueeze_dim::<3>(2).expand([b, w, f]);
                let max = out
                    .mask_fill(invalid, f32::MIN)
                    .max_dim(1)
                    .squeeze_dim::<2>(1); // [B, F]
                // Rows without a complete window: 0.
                max.mask_fill(none_valid, 0.0)
            })
            .collect();
        let pooled = Tensor::cat(pooled, 1);
        match &self.projection {
            Some(p) => p.forward(pooled),
            None => pooled,
        }
    }
}
