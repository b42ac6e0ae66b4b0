//! AllenNLP `BasicTextFieldEmbedder` for the `tokens` and `token_characters` namespaces:
//! concatenates word vectors and character-encoded token vectors along the features.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::characters::{TokenCharactersEncoder, TokenCharactersEncoderConfig};
use crate::embedding::{WordEmbedding, WordEmbeddingConfig};
use crate::error::ModuleError;
use crate::pretrained::PretrainedReport;

/// `{"embedding": {..}}` | `{"character_encoding": {..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEmbedderConfig {
    /// Word embedding of token ids (the `tokens` slot).
    Embedding(WordEmbeddingConfig),
    /// Character encoder of token characters (the `token_characters` slot).
    CharacterEncoding(TokenCharactersEncoderConfig),
}

impl TokenEmbedderConfig {
    /// Output size.
    pub fn output_dim(&self) -> Result<usize, ModuleError> {
        match self {
            Self::Embedding(c) => Ok(c.output_dim()),
            Self::CharacterEncoding(c) => c.output_dim(),
        }
    }
}

/// `{"tokens": {"embedding": {"embedding_dim": 300}}, "token_characters":
/// {"character_encoding": {..}}}`; at least one of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextFieldEmbedderConfig {
    /// Embedder of the token ids; must be `embedding`.
    #[serde(default)]
    pub tokens: Option<TokenEmbedderConfig>,
    /// Embedder of the token characters; must be `character_encoding`.
    #[serde(default)]
    pub token_characters: Option<TokenEmbedderConfig>,
}

impl TextFieldEmbedderConfig {
    fn validate(
        &self,
    ) -> Result<
        (
            Option<&WordEmbeddingConfig>,
            Option<&TokenCharactersEncoderConfig>,
        ),
        ModuleError,
    > {
        let tokens = match &self.tokens {
            None => None,
            Some(TokenEmbedderConfig::Embedding(c)) => Some(c),
            Some(_) => {
                return Err(ModuleError::invalid(
                    "text_field_embedder",
                    "\"tokens\" must be an \"embedding\"",
                ));
            }
        };
        let chars = match &self.token_characters {
            None => None,
            Some(TokenEmbedderConfig::CharacterEncoding(c)) => Some(c),
            Some(_) => {
                return Err(ModuleError::invalid(
                    "text_field_embedder",
                    "\"token_characters\" must be a \"character_encoding\"",
                ));
            }
        };
        if tokens.is_none() && chars.is_none() {
            return Err(ModuleError::invalid(
                "text_field_embedder",
                "configure at least one of \"tokens\" and \"token_characters\"",
            ));
        }
        Ok((tokens, chars))
    }

    /// Size of the concatenated vectors (tokens first, then characters).
    pub fn output_dim(&self) -> Result<usize, ModuleError> {
        let (t, c) = self.validate()?;
        Ok(t.map_or(0, |t| t.output_dim()) + c.map_or(Ok(0), |c| c.output_dim())?)
    }

    /// Build with random tables; `vocab_sizes` = (tokens vocabulary size, characters
    /// vocabulary size). Ignores `pretrained_file`.
    pub fn init(
        &self,
        vocab_sizes: (usize, usize),
        device: &Device,
    ) -> Result<TextFieldEmbedder, ModuleError> {
        let (t, c) = self.validate()?;
        Ok(TextFieldEmbedder {
            tokens: t.map(|t| t.init(vocab_sizes.0, device)),
            token_characters: c.map(|c| c.init(vocab_sizes.1, device)).transpose()?,
        })
    }

    /// Build for the given vocabularies (index -> token), loading any `pretrained_file`
    /// (missing words drawn with `seed`). Returns the pretrained coverage reports.
    pub fn init_with_vocab(
        &self,
        tokens_vocab: &[String],
        chars_vocab: &[String],
        seed: u64,
        device: &Device,
    ) -> Result<(TextFieldEmbedder, Vec<PretrainedReport>), ModuleError> {
        let (t, c) = self.validate()?;
        let mut reports = vec![];
        let tokens = match t {
            Some(t) => {
                let (m, r) = t.init_with_vocab(tokens_vocab, seed, device)?;
                reports.extend(r);
                Some(m)
            }
            None => None,
        };
        let token_characters = match c {
            Some(c) => {
                let (emb, r) = c.embedding.init_with_vocab(chars_vocab, seed, device)?;
                reports.extend(r);
                Some(c.build(emb, device)?)
            }
            None => None,
        };
        Ok((
            TextFieldEmbedder {
                tokens,
                token_characters,
            },
            reports,
        ))
    }
}

/// A token embedder of either kind (kept for configs/serde symmetry).
// Modules are held by value (burn's derive does not see through `Box`).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum TokenEmbedder {
    /// Word embedding.
    Embedding(WordEmbedding),
    /// Character encoding.
    CharacterEncoding(TokenCharactersEncoder),
}

/// Word vectors and/or character-encoded token vectors, concatenated.
#[derive(Module, Debug)]
pub struct TextFieldEmbedder {
    /// Word embedding of the token ids.
    pub tokens: Option<WordEmbedding>,
    /// Character encoder of the token characters.
    pub token_characters: Option<TokenCharactersEncoder>,
}

impl TextFieldEmbedder {
    /// Output size `D`.
    pub fn output_dim(&self) -> usize {
        self.tokens.as_ref().map_or(0, |t| t.output_dim())
            + self.token_characters.as_ref().map_or(0, |c| c.output_dim())
    }

    /// Whether character ids are needed.
    pub fn uses_characters(&self) -> bool {
        self.token_characters.is_some()
    }

    /// - tokens: `[B, T]`, chars: `[B, T, C]` (needed iff characters are configured)
    /// - returns `[B, T, D]`
    ///
    /// # Panics
    /// If characters are configured but `chars` is `None`.
    pub fn forward(&self, tokens: Tensor<2, Int>, chars: Option<Tensor<3, Int>>) -> Tensor<3> {
        let mut parts = Vec::with_capacity(2);
        if let Some(e) = &self.tokens {
            parts.push(e.forward(tokens));
        }
        if let Some(c) = &self.token_characters {
            let chars = chars.expect("token_characters is configured: pass the character ids");
            parts.push(c.forward(chars));
        }
        if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Tensor::cat(parts, 2)
        }
    }

    /// Multi-field version: tokens `[B, F, T]`, chars `[B, F, T, C]` -> `[B, F, T, D]`
    /// (one reshape to `[B·F, ...]`, no per-field loop).
    pub fn forward_fields(
        &self,
        tokens: Tensor<3, Int>,
        chars: Option<Tensor<4, Int>>,
    ) -> Tensor<4> {
        let [b, f, t] = tokens.dims();
        let chars = chars.map(|c| {
            let [_, _, _, nc] = c.dims();
            c.reshape([b * f, t, nc])
        });
        let out = self.forward(tokens.reshape([b * f, t]), chars);
        let d = out.dims()[2];
        out.reshape([b, f, t, d])
    }
}
