//! The classifier configuration: the reference's `SequencePairClassifier` parameters with
//! AllenNLP names, plus `pair_combination`.

use std::collections::BTreeMap;

use biome_modules::{
    FeedForwardConfig, MultifieldEncoderConfig, Seq2SeqEncoderConfig, Seq2VecEncoderConfig,
    SequenceEncoderConfig, TextFieldEmbedderConfig,
};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::initializer::InitializerRule;
use crate::regularizer::RegularizerRule;

/// How the two record vectors `u`, `v` become the input of the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairCombination {
    /// `[u; v]`, as the reference.
    #[default]
    Concat,
    /// `[u; v; |u − v|; u ∘ v]` (InferSent / sentence-transformers): gives the output layer
    /// direct access to how the two records differ, which matching tasks are about.
    ConcatDiffProduct,
    /// `cos(u, v)` alone: the match label's logit is a learned scale times the cosine plus a
    /// bias (see [`crate::cosine_head`]); two-label models only.
    Cosine,
}

impl PairCombination {
    /// Output-layer input size for record vectors of size `dim`.
    pub fn output_dim(self, dim: usize) -> usize {
        match self {
            Self::Concat => 2 * dim,
            Self::ConcatDiffProduct => 4 * dim,
            Self::Cosine => 1,
        }
    }
}

/// Configuration of [`SequencePairClassifier`](crate::SequencePairClassifier) and
/// [`SequenceClassifier`](crate::SequenceClassifier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Token embedders (`tokens`, `token_characters`), outputs concatenated.
    pub text_field_embedder: TextFieldEmbedderConfig,
    /// Optional token-level contextual encoder.
    #[serde(default)]
    pub seq2seq_encoder: Option<Seq2SeqEncoderConfig>,
    /// Token sequence → vector (per field in multifield mode).
    pub seq2vec_encoder: Seq2VecEncoderConfig,
    /// Optional encoder over the field vectors (multifield only).
    #[serde(default)]
    pub multifield_seq2seq_encoder: Option<Seq2SeqEncoderConfig>,
    /// Field vectors → record vector; setting it switches to multi-field records.
    #[serde(default)]
    pub multifield_seq2vec_encoder: Option<Seq2VecEncoderConfig>,
    /// Optional feed-forward on the record vector.
    #[serde(default)]
    pub feed_forward: Option<FeedForwardConfig>,
    /// Dropout after the seq2vec encoder.
    #[serde(default)]
    pub dropout: f64,
    /// Dropout after the multifield seq2vec encoder.
    #[serde(default)]
    pub multifield_dropout: f64,
    /// `[regex, scheme]` rules; the first matching rule initialises a parameter.
    #[serde(default)]
    pub initializer: Vec<InitializerRule>,
    /// `[regex, penalty]` rules added to the training loss.
    #[serde(default)]
    pub regularizer: Vec<RegularizerRule>,
    /// Per-label loss weights by label name; when given, every label needs one.
    #[serde(default)]
    pub loss_weights: Option<BTreeMap<String, f32>>,
    /// How the two record vectors are combined (pair classifier only).
    #[serde(default)]
    pub pair_combination: PairCombination,
    /// An in-batch hard-negative term in the training loss (pair classifier only; off by
    /// default): see [`crate::hard_negatives`].
    #[serde(default)]
    pub hard_negatives: Option<crate::HardNegativesConfig>,
}

/// The record encoder part of a [`ClassifierConfig`], resolved for an input size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EncoderPlan {
    Single(SequenceEncoderConfig),
    Multi(MultifieldEncoderConfig),
}

impl ClassifierConfig {
    /// A minimal config: an embedder and a seq2vec encoder.
    pub fn new(
        text_field_embedder: TextFieldEmbedderConfig,
        seq2vec_encoder: Seq2VecEncoderConfig,
    ) -> Self {
        Self {
            text_field_embedder,
            seq2seq_encoder: None,
            seq2vec_encoder,
            multifield_seq2seq_encoder: None,
            multifield_seq2vec_encoder: None,
            feed_forward: None,
            dropout: 0.0,
            multifield_dropout: 0.0,
            initializer: vec![],
            regularizer: vec![],
            loss_weights: None,
            pair_combination: PairCombination::default(),
            hard_negatives: None,
        }
    }

    /// Whether records are multi-field (set by `multifield_seq2vec_encoder`).
    pub fn is_multifield(&self) -> bool {
        self.multifield_seq2vec_encoder.is_some()
    }

    pub(crate) fn encoder_plan(&self) -> Result<EncoderPlan, ModelError> {
        match (
            &self.multifield_seq2seq_encoder,
            &self.multifield_seq2vec_encoder,
        ) {
            (Some(_), None) => Err(ModelError::Config(
                "multifield_seq2seq_encoder is set but multifield_seq2vec_encoder is not: \
                 the field vectors need a multifield_seq2vec_encoder to become one record vector"
                    .into(),
            )),
            (_, None) => Ok(EncoderPlan::Single(SequenceEncoderConfig {
                seq2seq_encoder: self.seq2seq_encoder.clone(),
                seq2vec_encoder: self.seq2vec_encoder.clone(),
                dropout: self.dropout,
            })),
            (mf_s2s, Some(mf_s2v)) => Ok(EncoderPlan::Multi(MultifieldEncoderConfig {
                seq2seq_encoder: self.seq2seq_encoder.clone(),
                seq2vec_encoder: self.seq2vec_encoder.clone(),
                dropout: self.dropout,
                multifield_seq2seq_encoder: mf_s2s.clone(),
                multifield_seq2vec_encoder: mf_s2v.clone(),
                multifield_dropout: self.multifield_dropout,
            })),
        }
    }

    /// Check every dimension along the encoder without building anything; returns the size of
    /// the record vector (after the feed-forward, if any).
    pub fn validate(&self) -> Result<usize, ModelError> {
        let embedded = self.text_field_embedder.output_dim()?;
        let encoded = match self.encoder_plan()? {
            EncoderPlan::Single(c) => c.output_dim(embedded)?,
            EncoderPlan::Multi(c) => c.output_dim(embedded)?,
        };
        let producer = if self.is_multifield() {
            "multifield_seq2vec_encoder"
        } else {
            "seq2vec_encoder"
        };
        let out = match &self.feed_forward {
            Some(ff) => ff
                .resolve(encoded)
                .map_err(|e| e.named("feed_forward", producer))?
                .output_dim(),
            None => encoded,
        };
        for rule in &self.initializer {
            rule.compile()?;
        }
        for rule in &self.regularizer {
            rule.compile()?;
        }
        Ok(out)
    }

    /// Class weights in label order, from `loss_weights` (by name).
    pub fn class_weights(&self, labels: &[String]) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(weights) = &self.loss_weights else {
            return Ok(None);
        };
        if let Some(unknown) = weights.keys().find(|k| !labels.contains(k)) {
            return Err(ModelError::UnknownWeightLabel {
                label: unknown.clone(),
                known: labels.to_vec(),
            });
        }
        labels
            .iter()
            .map(|l| {
                weights
                    .get(l)
                    .copied()
                    .ok_or_else(|| ModelError::MissingWeight(l.clone()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}
