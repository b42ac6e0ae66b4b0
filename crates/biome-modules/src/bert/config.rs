//! `BertConfig`: the Hugging Face `config.json` of a BERT-family model.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModuleError;

fn vocab_size() -> usize {
    30522
}
fn hidden_size() -> usize {
    768
}
fn twelve() -> usize {
    12
}
fn intermediate_size() -> usize {
    3072
}
fn gelu() -> String {
    "gelu".into()
}
fn point_one() -> f64 {
    0.1
}
fn max_position_embeddings() -> usize {
    512
}
fn two() -> usize {
    2
}
fn initializer_range() -> f64 {
    0.02
}
fn layer_norm_eps() -> f64 {
    1e-12
}
fn bert() -> String {
    "bert".into()
}
fn absolute() -> String {
    "absolute".into()
}

/// The keys of a Hugging Face BERT `config.json` this crate reads, with the defaults of
/// `transformers.BertConfig`; any other key (`architectures`, `torch_dtype`, ...) is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Word-piece vocabulary size (rows of the word embeddings).
    #[serde(default = "vocab_size")]
    pub vocab_size: usize,
    /// Model width `H`.
    #[serde(default = "hidden_size")]
    pub hidden_size: usize,
    /// Encoder layers.
    #[serde(default = "twelve")]
    pub num_hidden_layers: usize,
    /// Attention heads; must divide `hidden_size`.
    #[serde(default = "twelve")]
    pub num_attention_heads: usize,
    /// Inner size of the feed-forward block.
    #[serde(default = "intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward activation; only `gelu` (the exact, erf form, as Hugging Face's `gelu`).
    #[serde(default = "gelu")]
    pub hidden_act: String,
    /// Dropout on the embeddings and every residual branch while training.
    #[serde(default = "point_one")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention weights while training.
    #[serde(default = "point_one")]
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position embeddings: the longest sequence the model reads.
    #[serde(default = "max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Rows of the token-type (segment) embeddings.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Standard deviation of the random initialisation (weights drawn `N(0, r²)`).
    #[serde(default = "initializer_range")]
    pub initializer_range: f64,
    /// Epsilon of every LayerNorm.
    #[serde(default = "layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token (informative: masks come from the batch).
    #[serde(default)]
    pub pad_token_id: usize,
    /// Model family; only `bert`.
    #[serde(default = "bert")]
    pub model_type: String,
    /// Kind of position embeddings; only `absolute`.
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

impl Default for BertConfig {
    /// `bert-base-uncased`'s shape (the defaults of `transformers.BertConfig`).
    fn default() -> Self {
        serde_json::from_str("{}").expect("every key has a default")
    }
}

impl BertConfig {
    /// Read and [validate](Self::validate) a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ModuleError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModuleError::ModelFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parse and [validate](Self::validate) the text of a `config.json`; `origin` names it in
    /// errors (the file it was read from, or its place in a model archive).
    pub fn from_json(text: &str, origin: &Path) -> Result<Self, ModuleError> {
        let mut json = serde_json::Deserializer::from_str(text);
        let config: Self =
            serde_path_to_error::deserialize(&mut json).map_err(|e| ModuleError::ModelConfig {
                path: origin.to_path_buf(),
                message: match e.path().to_string().as_str() {
                    "." => e.inner().to_string(),
                    key => format!("{key}: {}", e.inner()),
                },
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Check that this crate implements what the config asks for and that the sizes make a
    /// model; `origin` names the config in errors.
    pub fn validate(&self, origin: &Path) -> Result<(), ModuleError> {
        let unsupported = |key: &str, value: &str, supported: &str| ModuleError::Unsupported {
            path: origin.to_path_buf(),
            key: key.into(),
            value: value.into(),
            supported: supported.into(),
        };
        if self.model_type != "bert" {
            return Err(unsupported("model_type", &self.model_type, "bert"));
        }
        if self.hidden_act != "gelu" {
            return Err(unsupported("hidden_act", &self.hidden_act, "gelu"));
        }
        if self.position_embedding_type != "absolute" {
            return Err(unsupported(
                "position_embedding_type",
                &self.position_embedding_type,
                "absolute",
            ));
        }
        let invalid = |message: String| ModuleError::ModelConfig {
            path: origin.to_path_buf(),
            message,
        };
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return Err(invalid(format!("{key} must be at least 1")));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(invalid(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        for (key, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(invalid(format!("{key} {p} is not in [0, 1)")));
            }
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(invalid(format!(
                "layer_norm_eps {} must be positive",
                self.layer_norm_eps
            )));
        }
        if !(self.initializer_range.is_finite() && self.initializer_range >= 0.0) {
            return Err(invalid(format!(
                "initializer_range {} must be non-negative",
                self.initializer_range
            )));
        }
        Ok(())
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
