//! The pretrained transformer token embedder (AllenNLP's `pretrained_transformer`): a BERT-family
//! model from a Hugging Face folder, as `text_field_embedder.transformer`.
//!
//! Two ways to build it:
//! - [`TransformerEmbedderConfig::load`] reads the folder `model_name` (`config.json` and
//!   `model.safetensors`): training from the pretrained weights.
//! - [`TransformerEmbedderConfig::init`] builds the same shape with random weights, for a model
//!   whose weights then come from a saved record. It takes the [`BertConfig`] attached with
//!   [`TransformerEmbedderConfig::with_bert_config`] (an archive keeps the `config.json`, so a
//!   trained model loads without the original folder), else reads `model_name/config.json`.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bert::{Bert, BertConfig, CONFIG_FILE, load_bert};
use crate::error::ModuleError;

fn max_length() -> usize {
    512
}
fn yes() -> bool {
    true
}

/// `{"model_name": "path/to/folder", "max_length": 128, "trainable": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerEmbedderConfig {
    /// The Hugging Face model folder (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub model_name: String,
    /// Longest token sequence (special tokens included); at most the model's
    /// `max_position_embeddings`.
    #[serde(default = "max_length")]
    pub max_length: usize,
    /// Whether training updates the transformer (`false`: no gradient reaches it).
    #[serde(default = "yes")]
    pub trainable: bool,
    /// The model's parsed `config.json` when the caller has it without the folder (a model
    /// archive); not part of the JSON config.
    #[serde(skip)]
    pub bert_config: Option<BertConfig>,
}

impl TransformerEmbedderConfig {
    /// A config for the folder `model_name` with the defaults (`max_length` 512, trainable).
    pub fn new(model_name: impl Into<String>) -> Self {
        Self {
            model_name: model_name.into(),
            max_length: max_length(),
            trainable: true,
            bert_config: None,
        }
    }

    /// Use `config` instead of reading `model_name/config.json` (for [`init`](Self::init),
    /// [`output_dim`](Self::output_dim)).
    pub fn with_bert_config(mut self, config: BertConfig) -> Self {
        self.bert_config = Some(config);
        self
    }

    /// `model_name/config.json`.
    pub fn config_path(&self) -> PathBuf {
        Path::new(&self.model_name).join(CONFIG_FILE)
    }

    /// The model's config: the attached one, else read from `model_name/config.json`; checked
    /// against `max_length`.
    pub fn bert_config(&self) -> Result<BertConfig, ModuleError> {
        let config = match &self.bert_config {
            Some(c) => {
                c.validate(&self.config_path())?;
                c.clone()
            }
            None => BertConfig::from_file(&self.config_path())?,
        };
        self.check_max_length(&config)?;
        Ok(config)
    }

    fn check_max_length(&self, config: &BertConfig) -> Result<(), ModuleError> {
        if self.max_length == 0 || self.max_length > config.max_position_embeddings {
            return Err(ModuleError::invalid(
                "text_field_embedder.transformer",
                format!(
                    "max_length {} must be in 1..={} (max_position_embeddings of {})",
                    self.max_length,
                    config.max_position_embeddings,
                    self.config_path().display()
                ),
            ));
        }
        Ok(())
    }

    /// Size of the token vectors (the model's `hidden_size`).
    pub fn output_dim(&self) -> Result<usize, ModuleError> {
        Ok(self.bert_config()?.hidden_size)
    }

    /// The embedder with random weights (see the module docs).
    pub fn init(&self, device: &Device) -> Result<TransformerEmbedder, ModuleError> {
        let config = self.bert_config()?;
        Ok(self.wrap(config.init(device)))
    }

    /// The embedder with the pretrained weights of the folder `model_name`.
    pub fn load(&self, device: &Device) -> Result<TransformerEmbedder, ModuleError> {
        let (config, bert) = load_bert(Path::new(&self.model_name), device)?;
        self.check_max_length(&config)?;
        Ok(self.wrap(bert))
    }

    fn wrap(&self, bert: Bert) -> TransformerEmbedder {
        let transformer = if self.trainable { bert } else { bert.no_grad() };
        TransformerEmbedder {
            transformer,
            max_length: self.max_length,
        }
    }
}

/// A pretrained transformer as a token embedder; its parameters live under `transformer.`.
#[derive(Module, Debug)]
pub struct TransformerEmbedder {
    /// The model.
    pub transformer: Bert,
    /// Longest token sequence the tokenizer should produce.
    pub max_length: usize,
}

impl TransformerEmbedder {
    /// Size `H` of the token vectors.
    pub fn output_dim(&self) -> usize {
        self.transformer.output_dim()
    }

    /// - ids, type_ids: `[B, T]`, mask: `[B, T]` (true = real token), `T ≤ max_length`
    /// - returns `[B, T, H]`, zero at padded positions
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        type_ids: Tensor<2, Int>,
        mask: Tensor<2, Bool>,
    ) -> Tensor<3> {
        self.transformer.forward(ids, type_ids, mask)
    }
}
