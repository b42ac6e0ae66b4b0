//! The pipeline configuration file: `data`, `model` and `trainer`, close to biome.text's
//! data.yml / model.yml / trainer.yml so a reference user can translate line by line.

use std::path::Path;

use biome_core::{DataMapping, RecordMode, TokenIndexer, TokenizerConfig, VocabularyOptions};
use biome_core::{NamespaceOptions, TOKEN_CHARACTERS, TOKENS};
use biome_models::ClassifierConfig;
use biome_modules::{Seq2VecEncoderConfig, TokenEmbedderConfig};
use serde::{Deserialize, Serialize};

use crate::error::{BiomeError, Result};
use biome_train::TrainerConfig;

/// How rows become pairs and tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Which columns are the label and the two records.
    pub mapping: DataMapping,
    /// Read records as multi-field. Defaults to what the model expects (whether it has a
    /// `multifield_seq2vec_encoder`); saying otherwise is an error.
    #[serde(default)]
    pub multifield: Option<bool>,
    /// Tokenizer options.
    #[serde(default)]
    pub tokenizer: TokenizerConfig,
    /// Words seen fewer times map to OOV.
    #[serde(default = "one")]
    pub min_count: usize,
    /// At most this many words (most frequent first).
    #[serde(default)]
    pub max_vocab_size: Option<usize>,
    /// Characters kept per token.
    #[serde(default)]
    pub max_chars_per_token: Option<usize>,
}

fn one() -> usize {
    1
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Data reading.
    pub data: DataConfig,
    /// The classifier.
    pub model: ClassifierConfig,
    /// Training.
    #[serde(default)]
    pub trainer: TrainerConfig,
}

impl PipelineConfig {
    /// Parse JSON; errors name the key's path (`model.seq2vec_encoder.gru.hiden_size`).
    pub fn from_json_str(text: &str, source: &str) -> Result<Self> {
        let config = Self::parse_json_str(text, source)?;
        config.validate(source)?;
        Ok(config)
    }

    /// Parse without the cross-part checks (which read a transformer's `config.json`): for a
    /// model archive, whose copy of that file is attached before [`Self::validate`].
    pub(crate) fn parse_json_str(text: &str, source: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: Self =
            serde_path_to_error::deserialize(de).map_err(|e| BiomeError::Config {
                path: source.to_string(),
                message: if e.path().to_string() == "." {
                    e.inner().to_string()
                } else {
                    format!("at {}: {}", e.path(), e.inner())
                },
            })?;
        Ok(config)
    }

    /// Read a JSON config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| BiomeError::io(path, e))?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// As pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serializes")
    }

    /// Cross-part checks: dimensions along the model, multifield agreement, trainer options.
    pub fn validate(&self, source: &str) -> Result<()> {
        let err = |message: String| BiomeError::Config {
            path: source.to_string(),
            message,
        };
        self.model
            .validate()
            .map_err(|e| err(format!("model: {e}")))?;
        if let Some(mf) = self.data.multifield
            && mf != self.model.is_multifield()
        {
            return Err(err(format!(
                "data.multifield is {mf} but the model {} a multifield_seq2vec_encoder",
                if self.model.is_multifield() {
                    "has"
                } else {
                    "has no"
                }
            )));
        }
        self.data
            .mapping
            .validate()
            .map_err(|e| err(format!("data.mapping: {e}")))?;
        self.trainer
            .validate()
            .map_err(|e| err(format!("trainer: {e}")))?;
        Ok(())
    }

    /// How records are read.
    pub fn record_mode(&self) -> RecordMode {
        if self.model.is_multifield() {
            RecordMode::Multifield
        } else {
            RecordMode::Text
        }
    }

    /// Which ids the model's embedders need.
    pub fn indexer(&self) -> TokenIndexer {
        let emb = &self.model.text_field_embedder;
        let min_chars = match &emb.token_characters {
            Some(TokenEmbedderConfig::CharacterEncoding(c)) => match &c.encoder {
                Seq2VecEncoderConfig::Cnn(cnn) => {
                    cnn.ngram_filter_sizes.iter().copied().max().unwrap_or(0)
                }
                _ => 0,
            },
            _ => 0,
        };
        TokenIndexer {
            words: emb.tokens.is_some(),
            characters: emb.token_characters.is_some(),
            max_chars_per_token: self.data.max_chars_per_token,
            min_chars,
        }
    }

    /// Vocabulary options from `data`.
    pub fn vocabulary_options(&self) -> VocabularyOptions {
        VocabularyOptions::default()
            .with(
                TOKENS,
                NamespaceOptions {
                    min_count: self.data.min_count,
                    max_size: self.data.max_vocab_size,
                },
            )
            .with(TOKEN_CHARACTERS, NamespaceOptions::default())
    }
}
