//! AllenNLP `character_encoding` token embedder: embed each token's characters and encode them
//! into one vector with a seq2vec encoder.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::embedding::{WordEmbedding, WordEmbeddingConfig};
use crate::error::{ModuleError, check_dropout};
use crate::seq2vec::{Seq2VecEncoder, Seq2VecEncoderConfig};

/// `{"embedding": {"embedding_dim": 16}, "encoder": {"cnn": {"num_filters": 50,
/// "ngram_filter_sizes": [4]}}, "dropout": 0.0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCharactersEncoderConfig {
    /// Character embedding.
    pub embedding: WordEmbeddingConfig,
    /// Encoder of each token's character vectors.
    pub encoder: Seq2VecEncoderConfig,
    /// Dropout on the token vectors (training only).
    #[serde(default)]
    pub dropout: f64,
}

impl TokenCharactersEncoderConfig {
    /// Check the encoder's input against the embedding's output and fill it in.
    pub fn resolve(&self) -> Result<Self, ModuleError> {
        check_dropout("character_encoding", self.dropout)?;
        let encoder = self
            .encoder
            .resolve(self.embedding.output_dim())
            .map_err(|e| e.named("character encoder", "character embedding"))?;
        Ok(Self {
            encoder,
            ..self.clone()
        })
    }

    /// Size of the token vectors.
    pub fn output_dim(&self) -> Result<usize, ModuleError> {
        Ok(self.resolve()?.encoder.output_dim())
    }

    /// Build for a character vocabulary of `num_chars` entries (0 = padding).
    pub fn init(
        &self,
        num_chars: usize,
        device: &Device,
    ) -> Result<TokenCharactersEncoder, ModuleError> {
        let c = self.resolve()?;
        let embedding = c.embedding.init(num_chars, device);
        self.build(embedding, device)
    }

    /// Build with an already built character embedding (e.g. pretrained).
    pub fn build(
        &self,
        embedding: WordEmbedding,
        device: &Device,
    ) -> Result<TokenCharactersEncoder, ModuleError> {
        let c = self.resolve()?;
        let encoder = c
            .encoder
            .init(embedding.output_dim(), device)
            .map_err(|e| e.named("character encoder", "character embedding"))?;
        Ok(TokenCharactersEncoder {
            embedding,
            encoder,
            dropout: DropoutConfig::new(c.dropout).init(),
        })
    }
}

/// Characters `[B, T, C]` -> token vectors `[B, T, H]`.
#[derive(Module, Debug)]
pub struct TokenCharactersEncoder {
    /// Character table.
    pub embedding: WordEmbedding,
    /// Per-token encoder.
    pub encoder: Seq2VecEncoder,
    /// Output dropout.
    pub dropout: Dropout,
}

impl TokenCharactersEncoder {
    /// Size of the token vectors.
    pub fn output_dim(&self) -> usize {
        self.encoder.output_dim()
    }

    /// - chars: `[B, T, C]` (0 = padding)
    /// - returns `[B, T, H]`; tokens without characters give zeros.
    pub fn forward(&self, chars: Tensor<3, Int>) -> Tensor<3> {
        let [b, t, c] = chars.dims();
        let flat = chars.reshape([b * t, c]);
        let mask = flat.clone().not_equal_elem(0);
        let x = self.embedding.forward(flat);
        let out = self.dropout.forward(self.encoder.forward(x, mask));
        let h = out.dims()[1];
        out.reshape([b, t, h])
    }
}
