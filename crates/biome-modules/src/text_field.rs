//! AllenNLP `BasicTextFieldEmbedder` for the `tokens` and `token_characters` namespaces:
//! concatenates word vectors and character-encoded token vectors along the features; or, alone,
//! a pretrained transformer (`transformer`, see [`crate::transformer_embedder`]).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::characters::{TokenCharactersEncoder, TokenCharactersEncoderConfig};
use crate::embedding::{WordEmbedding, WordEmbeddingConfig};
use crate::error::ModuleError;
use crate::pretrained::PretrainedReport;
use crate::transformer_embedder::{TransformerEmbedder, TransformerEmbedderConfig};

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
/// {"character_encoding": {..}}}` (at least one of them), or `{"transformer": {"model_name":
/// "path/to/folder", "max_length": 128, "trainable": true}}` alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextFieldEmbedderConfig {
    /// Embedder of the token ids; must be `embedding`.
    #[serde(default)]
    pub tokens: Option<TokenEmbedderConfig>,
    /// Embedder of the token characters; must be `character_encoding`.
    #[serde(default)]
    pub token_characters: Option<TokenEmbedderConfig>,
    /// A pretrained transformer (exclusive with the other two).
    #[serde(default)]
    pub transformer: Option<TransformerEmbedderConfig>,
}

/// What a valid [`TextFieldEmbedderConfig`] configures.
enum Embedders<'a> {
    Basic(
        Option<&'a WordEmbeddingConfig>,
        Option<&'a TokenCharactersEncoderConfig>,
    ),
    Transformer(&'a TransformerEmbedderConfig),
}

impl TextFieldEmbedderConfig {
    fn validate(&self) -> Result<Embedders<'_>, ModuleError> {
        if let Some(transformer) = &self.transformer {
            if self.tokens.is_some() || self.token_characters.is_some() {
                return Err(ModuleError::invalid(
                    "text_field_embedder",
                    "\"transformer\" embeds the tokens alone: remove \"tokens\" and \
                     \"token_characters\"",
                ));
            }
            return Ok(Embedders::Transformer(transformer));
        }
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
                "configure at least one of \"tokens\", \"token_characters\" and \"transformer\"",
            ));
        }
        Ok(Embedders::Basic(tokens, chars))
    }

    /// Size of the concatenated vectors (tokens first, then characters), or the transformer's
    /// hidden size (read from its `config.json` unless a [`crate::BertConfig`] is attached).
    pub fn output_dim(&self) -> Result<usize, ModuleError> {
        match self.validate()? {
            Embedders::Basic(t, c) => {
                Ok(t.map_or(0, |t| t.output_dim()) + c.map_or(Ok(0), |c| c.output_dim())?)
            }
            Embedders::Transformer(c) => c.output_dim(),
        }
    }

    /// Build with random weights; `vocab_sizes` = (tokens vocabulary size, characters
    /// vocabulary size). Ignores `pretrained_file`; a transformer is built from its attached
    /// [`crate::BertConfig`] (else its folder's `config.json`), without reading its weights:
    /// this is the build for a model whose weights come from a saved record.
    pub fn init(
        &self,
        vocab_sizes: (usize, usize),
        device: &Device,
    ) -> Result<TextFieldEmbedder, ModuleError> {
        match self.validate()? {
            Embedders::Basic(t, c) => Ok(TextFieldEmbedder {
                tokens: t.map(|t| t.init(vocab_sizes.0, device)),
                token_characters: c.map(|c| c.init(vocab_sizes.1, device)).transpose()?,
                transformer: None,
            }),
            Embedders::Transformer(c) => Ok(TextFieldEmbedder::transformer(c.init(device)?)),
        }
    }

    /// Build for the given vocabularies (index -> token), loading any `pretrained_file`
    /// (missing words drawn with `seed`), or a transformer's pretrained weights from its folder
    /// (the vocabularies are then unused: the transformer has its own). Returns the pretrained
    /// coverage reports.
    pub fn init_with_vocab(
        &self,
        tokens_vocab: &[String],
        chars_vocab: &[String],
        seed: u64,
        device: &Device,
    ) -> Result<(TextFieldEmbedder, Vec<PretrainedReport>), ModuleError> {
        let (t, c) = match self.validate()? {
            Embedders::Basic(t, c) => (t, c),
            Embedders::Transformer(c) => {
                return Ok((TextFieldEmbedder::transformer(c.load(device)?), vec![]));
            }
        };
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
                transformer: None,
            },
            reports,
        ))
    }
}

/// Word vectors and/or character-encoded token vectors, concatenated; or a transformer's.
#[derive(Module, Debug)]
pub struct TextFieldEmbedder {
    /// Word embedding of the token ids.
    pub tokens: Option<WordEmbedding>,
    /// Character encoder of the token characters.
    pub token_characters: Option<TokenCharactersEncoder>,
    /// A pretrained transformer over the token ids (word-piece ids of its own vocabulary);
    /// exclusive with the other two. Its parameters' paths start `transformer.transformer.`.
    pub transformer: Option<TransformerEmbedder>,
}

impl TextFieldEmbedder {
    fn transformer(transformer: TransformerEmbedder) -> Self {
        Self {
            tokens: None,
            token_characters: None,
            transformer: Some(transformer),
        }
    }

    /// Output size `D`.
    pub fn output_dim(&self) -> usize {
        self.tokens.as_ref().map_or(0, |t| t.output_dim())
            + self.token_characters.as_ref().map_or(0, |c| c.output_dim())
            + self.transformer.as_ref().map_or(0, |t| t.output_dim())
    }

    /// Whether character ids are needed.
    pub fn uses_characters(&self) -> bool {
        self.token_characters.is_some()
    }

    /// - tokens: `[B, T]`, chars: `[B, T, C]` (needed iff characters are configured), mask:
    ///   `[B, T]` (true = real token; the transformer's attention mask)
    /// - returns `[B, T, D]`
    ///
    /// A transformer reads one segment (token-type ids all 0).
    ///
    /// # Panics
    /// If characters are configured but `chars` is `None`.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        chars: Option<Tensor<3, Int>>,
        mask: Tensor<2, Bool>,
    ) -> Tensor<3> {
        if let Some(t) = &self.transformer {
            let type_ids = tokens.zeros_like();
            return t.forward(tokens, type_ids, mask);
        }
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

    /// Multi-field version: tokens `[B, F, T]`, chars `[B, F, T, C]`, mask `[B, F, T]` ->
    /// `[B, F, T, D]` (one reshape to `[B·F, ...]`, no per-field loop).
    pub fn forward_fields(
        &self,
        tokens: Tensor<3, Int>,
        chars: Option<Tensor<4, Int>>,
        mask: Tensor<3, Bool>,
    ) -> Tensor<4> {
        let [b, f, t] = tokens.dims();
        let chars = chars.map(|c| {
            let [_, _, _, nc] = c.dims();
            c.reshape([b * f, t, nc])
        });
        let out = self.forward(tokens.reshape([b * f, t]), chars, mask.reshape([b * f, t]));
        let d = out.dims()[2];
        out.reshape([b, f, t, d])
    }
}
