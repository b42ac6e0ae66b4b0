//! `SequencePairClassifier` (two records, one shared encoder) and `SequenceClassifier` (one
//! record), on the same base: encoder → combination → Linear → softmax, weighted cross-entropy,
//! decoding to label names (metrics are the caller's: `MetricsAccumulator`).

use biome_core::{TOKEN_CHARACTERS, TOKENS, Vocabulary};
use biome_modules::{PretrainedReport, TextFieldEmbedder};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::{TensorData, s};

use crate::config::{ClassifierConfig, EncoderPlan, PairCombination};
use crate::decode::{Prediction, decode};
use crate::error::ModelError;
use crate::initializer::apply_initializers;
use crate::loss::cross_entropy;
use crate::record_encoder::{EncoderBody, RecordEncoder};
use crate::regularizer::Regularizer;
use crate::tensors::RecordTensors;

/// What a forward pass gives.
#[derive(Debug, Clone)]
pub struct ClassifierOutput {
    /// `[B, C]`
    pub logits: Tensor<2>,
    /// `[B, C]` softmax of the logits.
    pub probs: Tensor<2>,
    /// `[1]` mean (weighted) cross-entropy, when labels were given.
    pub loss: Option<Tensor<1>>,
}

/// How to treat pretrained embedding files while building.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Fresh weights; pretrained files are read (training from scratch).
    Fresh {
        /// Seed for vectors of words a pretrained file lacks.
        seed: u64,
    },
    /// Weights will be loaded from a saved model: pretrained files are not needed or read.
    ToBeLoaded,
}

fn vocab_tokens(vocab: &Vocabulary, namespace: &str) -> Vec<String> {
    let tokens = vocab.tokens(namespace);
    if tokens.is_empty() {
        // An unused namespace still needs padding and OOV rows.
        vec![
            biome_core::PADDING_TOKEN.to_string(),
            biome_core::OOV_TOKEN.to_string(),
        ]
    } else {
        tokens.to_vec()
    }
}

/// The parts both classifiers are made of.
struct Parts {
    encoder: RecordEncoder,
    output: Linear,
    class_weights: Option<Vec<f32>>,
    reports: Vec<PretrainedReport>,
}

fn build_parts(
    config: &ClassifierConfig,
    vocab: &Vocabulary,
    labels: &[String],
    n_inputs: usize,
    weights: Weights,
    device: &Device,
) -> Result<Parts, ModelError> {
    if labels.is_empty() {
        return Err(ModelError::NoLabels);
    }
    config.validate()?;
    let class_weights = config.class_weights(labels)?;
    let tokens = vocab_tokens(vocab, TOKENS);
    let chars = vocab_tokens(vocab, TOKEN_CHARACTERS);
    let (embedder, reports): (TextFieldEmbedder, _) = match weights {
        Weights::Fresh { seed } => config
            .text_field_embedder
            .init_with_vocab(&tokens, &chars, seed, device)?,
        Weights::ToBeLoaded => (
            config
                .text_field_embedder
                .init((tokens.len(), chars.len()), device)?,
            vec![],
        ),
    };
    let embedded = embedder.output_dim();
    let body = match config.encoder_plan()? {
        EncoderPlan::Single(c) => EncoderBody::Single(c.init(embedded, device)?),
        EncoderPlan::Multi(c) => EncoderBody::Multi(c.init(embedded, device)?),
    };
    let encoded = match &body {
        EncoderBody::Single(e) => e.output_dim(),
        EncoderBody::Multi(e) => e.output_dim(),
    };
    let feed_forward = config
        .feed_forward
        .as_ref()
        .map(|ff| ff.init(encoded, device))
        .transpose()?;
    let encoder = RecordEncoder {
        embedder,
        body,
        feed_forward,
    };
    let d_in = match n_inputs {
        2 => config.pair_combination.output_dim(encoder.output_dim()),
        _ => encoder.output_dim(),
    };
    let output = LinearConfig::new(d_in, labels.len()).init(device);
    Ok(Parts {
        encoder,
        output,
        class_weights,
        reports,
    })
}

/// Apply the config's initializer rules to a fresh model (a model about to receive saved weights
/// needs none).
fn initialised<M: Module>(
    model: M,
    config: &ClassifierConfig,
    weights: Weights,
) -> Result<M, ModelError> {
    match weights {
        Weights::Fresh { .. } => Ok(apply_initializers(model, &config.initializer)?.0),
        Weights::ToBeLoaded => Ok(model),
    }
}

fn combine(combination: PairCombination, u: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
    match combination {
        PairCombination::Concat => Tensor::cat(vec![u, v], 1),
        PairCombination::ConcatDiffProduct => {
            let diff = (u.clone() - v.clone()).abs();
            let prod = u.clone() * v.clone();
            Tensor::cat(vec![u, v, diff, prod], 1)
        }
        PairCombination::Cosine => crate::cosine_head::cosine(u, v),
    }
}

fn head(
    output: &Linear,
    features: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    class_weights: Option<&[f32]>,
) -> ClassifierOutput {
    let logits = output.forward(features);
    let probs = softmax(logits.clone(), 1);
    let loss = labels.map(|targets| {
        let device = logits.device();
        let weights = class_weights.map(|w| Tensor::<1>::from_floats(w, &device));
        cross_entropy(logits.clone(), targets, weights)
    });
    ClassifierOutput {
        logits,
        probs,
        loss,
    }
}

/// Values of a float tensor on the host, whatever its dtype.
pub fn float_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}

/// Values of an int tensor on the host, whatever its dtype.
pub fn int_values<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("converted to i64")
}

fn decode_output(labels: &[String], output: &ClassifierOutput) -> Vec<Prediction> {
    let logits = float_values(output.logits.clone());
    let probs = float_values(output.probs.clone());
    decode(labels, &logits, &probs)
}

/// Replace `output` by a layer with `new_total` classes that keeps the trained rows.
fn extended_output(output: &Linear, new_total: usize, device: &Device) -> Linear {
    let [d_in, old] = output.weight.dims();
    let fresh = LinearConfig::new(d_in, new_total).init(device);
    let weight = fresh
        .weight
        .val()
        .slice_assign([0..d_in, 0..old], output.weight.val());
    let bias = match (&fresh.bias, &output.bias) {
        (Some(fb), Some(ob)) => Some(fb.val().slice_assign(s![0..old], ob.val())),
        _ => None,
    };
    Linear {
        weight: burn::module::Param::from_tensor(weight.detach()),
        bias: bias.map(|b| burn::module::Param::from_tensor(b.detach())),
    }
}

macro_rules! shared_api {
    () => {
        /// Label names in class-index order.
        pub fn labels(&self) -> &[String] {
            &self.labels
        }

        /// Per-pair label probabilities, best label and logits.
        pub fn decode(&self, output: &ClassifierOutput) -> Vec<Prediction> {
            decode_output(&self.labels, output)
        }

        /// The regularization penalty `[1]` of the configured rules, if any parameter matches.
        pub fn penalty(&self, regularizer: &Regularizer) -> Option<Tensor<1>> {
            regularizer.penalty(self)
        }

        /// Add classes: the output layer keeps its trained rows and initialises only the new
        /// ones (the reference re-initialised all of them). Labels already known are skipped.
        pub fn extend_labels(mut self, new_labels: &[String]) -> Self {
            let mut labels = self.labels.clone();
            for l in new_labels {
                if !labels.contains(l) {
                    labels.push(l.clone());
                }
            }
            if labels.len() == self.labels.len() {
                return self;
            }
            let device = self.output.weight.device();
            self.output = extended_output(&self.output, labels.len(), &device);
            if let Some(w) = &mut self.class_weights {
                // New classes weigh 1 until the user says otherwise.
                w.resize(labels.len(), 1.0);
            }
            self.labels = labels;
            self
        }
    };
}

/// Classifies a pair of records with one shared (siamese) encoder.
#[derive(Module, Debug)]
pub struct SequencePairClassifier {
    /// The one encoder both records go through.
    pub encoder: RecordEncoder,
    /// Combined vector → logits.
    pub output: Linear,
    #[module(skip)]
    combination: PairCombination,
    #[module(skip)]
    labels: Vec<String>,
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
    /// The hard-negative term: the non-match label's index and the term's weight.
    #[module(skip)]
    hard_negatives: Option<(usize, f32)>,
}

impl SequencePairClassifier {
    /// Build from a config, the vocabulary and the labels; returns pretrained-file reports.
    pub fn new(
        config: &ClassifierConfig,
        vocab: &Vocabulary,
        labels: &[String],
        weights: Weights,
        device: &Device,
    ) -> Result<(Self, Vec<PretrainedReport>), ModelError> {
        let mut parts = build_parts(config, vocab, labels, 2, weights, device)?;
        if config.pair_combination == PairCombination::Cosine {
            let index = crate::cosine_head::match_index(labels)?;
            parts.output = crate::cosine_head::output_layer(labels.len(), index, device);
        }
        let hard_negatives = config
            .hard_negatives
            .as_ref()
            .map(|h| {
                let index = labels.iter().position(|l| *l == h.label).ok_or_else(|| {
                    ModelError::Config(format!(
                        "hard_negatives.label {:?} is not a label; the labels are {}",
                        h.label,
                        labels.join(", ")
                    ))
                })?;
                if !(h.weight.is_finite() && h.weight >= 0.0) {
                    return Err(ModelError::Config(format!(
                        "hard_negatives.weight {} must be a finite number ≥ 0",
                        h.weight
                    )));
                }
                Ok((index, h.weight))
            })
            .transpose()?;
        let model = Self {
            encoder: parts.encoder,
            output: parts.output,
            combination: config.pair_combination,
            labels: labels.to_vec(),
            class_weights: parts.class_weights,
            hard_negatives,
        };
        Ok((initialised(model, config, weights)?, parts.reports))
    }

    /// The vector of each record: `[B, H]`, for blocking or search.
    pub fn encode(&self, record: &RecordTensors) -> Result<Tensor<2>, ModelError> {
        self.encoder.forward(record)
    }

    /// The pair head alone, on record vectors already encoded by [`Self::encode`]: `u`, `v`
    /// `[B, H]` → logits and probabilities `[B, C]` (no loss). Equal to [`Self::forward`] on
    /// the records themselves (tested), so a table's records are encoded once and each
    /// candidate pair costs one small product instead of two passes through the encoder.
    pub fn score_encoded(&self, u: Tensor<2>, v: Tensor<2>) -> ClassifierOutput {
        head(&self.output, combine(self.combination, u, v), None, None)
    }

    /// Logits, probabilities and (with labels `[B]`) the loss (metrics are the caller's: see
    /// [`crate::MetricsAccumulator`]).
    pub fn forward(
        &self,
        record1: &RecordTensors,
        record2: &RecordTensors,
        labels: Option<Tensor<1, Int>>,
    ) -> Result<ClassifierOutput, ModelError> {
        if record1.batch_size() != record2.batch_size() {
            return Err(ModelError::Input(format!(
                "record1 has {} rows but record2 has {}",
                record1.batch_size(),
                record2.batch_size()
            )));
        }
        // Both sides in one pass through the shared encoder: half the ops, GEMMs twice as
        // tall, and one embedding gradient instead of two to build and add. Exact, because
        // padding never changes an encoding (and tested against two passes).
        let mut ids = None;
        let (u, v) = match record1.stacked_with(record2) {
            Some(both) => {
                let b = record1.batch_size();
                let h = self.encoder.forward(&both)?;
                ids = Some(both.token_rows());
                (h.clone().slice_dim(0, 0..b), h.slice_dim(0, b..2 * b))
            }
            None => (
                self.encoder.forward(record1)?,
                self.encoder.forward(record2)?,
            ),
        };
        // Hard negatives need both sides' ids on one shape, which stacking gives.
        let negatives = match (self.hard_negatives, &labels, ids) {
            (Some(term), Some(_), Some(ids)) if record1.batch_size() > 1 => {
                Some((term, self.hard_negative_loss(&u, &v, ids, term.0)))
            }
            _ => None,
        };
        let features = combine(self.combination, u, v);
        let mut out = head(
            &self.output,
            features,
            labels,
            self.class_weights.as_deref(),
        );
        if let Some(((_, weight), extra)) = negatives {
            out.loss = out.loss.map(|loss| loss + extra.mul_scalar(weight));
        }
        Ok(out)
    }

    /// The hard-negative term `[1]` of a batch (see [`crate::hard_negatives`]).
    pub fn hard_negative_loss(
        &self,
        u: &Tensor<2>,
        v: &Tensor<2>,
        ids: Tensor<2, Int>,
        label: usize,
    ) -> Tensor<1> {
        let shared = crate::hard_negatives::shared_records(ids);
        let (index, valid) = crate::hard_negatives::hardest(u.clone(), v.clone(), shared);
        let negative = v.clone().select(0, index);
        let logits = self
            .output
            .forward(combine(self.combination, u.clone(), negative));
        crate::hard_negatives::negative_loss(logits, valid, label)
    }

    shared_api!();
}

/// Classifies a single record (the reference's `SequenceClassifier`, `n_inputs = 1`).
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// The record encoder.
    pub encoder: RecordEncoder,
    /// Record vector → logits.
    pub output: Linear,
    #[module(skip)]
    labels: Vec<String>,
    #[module(skip)]
    class_weights: Option<Vec<f32>>,
}

impl SequenceClassifier {
    /// Build from a config (its `pair_combination` is ignored), the vocabulary and the labels.
    pub fn new(
        config: &ClassifierConfig,
        vocab: &Vocabulary,
        labels: &[String],
        weights: Weights,
        device: &Device,
    ) -> Result<(Self, Vec<PretrainedReport>), ModelError> {
        let parts = build_parts(config, vocab, labels, 1, weights, device)?;
        let model = Self {
            encoder: parts.encoder,
            output: parts.output,
            labels: labels.to_vec(),
            class_weights: parts.class_weights,
        };
        Ok((initialised(model, config, weights)?, parts.reports))
    }

    /// Logits, probabilities and (with labels) the loss.
    pub fn forward(
        &self,
        record: &RecordTensors,
        labels: Option<Tensor<1, Int>>,
    ) -> Result<ClassifierOutput, ModelError> {
        let features = self.encoder.forward(record)?;
        Ok(head(
            &self.output,
            features,
            labels,
            self.class_weights.as_deref(),
        ))
    }

    shared_api!();
}

/// Label indices `[B]` as a tensor.
pub fn label_tensor(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}
