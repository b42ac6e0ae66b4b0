//! **biome**: classify pairs of records or texts (duplicate / not duplicate, match / no match,
//! paraphrase / not) with a siamese network, on burn. A pure-Rust re-creation of biome.text's
//! `SequencePairClassifier`, with a trainer, a model archive and the `biome` command.
//!
//! - [`Pipeline`]: `from_config`, `train`, `load`, `predict`, `predict_batch`, `evaluate`.
//! - [`PipelineConfig`]: the `data` / `model` / `trainer` configuration file.
//! - [`serve`]: the HTTP server of `biome serve` (dynamic batching, limits, graceful shutdown).
//! - [`input`]: the prediction input JSON shared by `biome predict` and `biome serve`.
//! - [`resolve`]: whole tables to entities (`biome dedupe`, `biome link`, `biome encode`).
//! - [`threshold`]: the F1-best match threshold a trained model carries.
//! - [`demo`]: the embedded generator of person-record pairs (and of tables) the README's main
//!   job trains on.
//!
//! The lower layers are their own crates: `biome-core` (tokens, vocabulary, records, batching,
//! readers), `biome-modules` (embedders and encoders) and `biome-models` (the classifiers);
//! `biome-kernels` holds the backend-specific fast paths and every `unsafe` line.

#![forbid(unsafe_code)]

pub mod config;
pub mod demo;
pub mod device;
pub mod error;
pub mod input;
pub mod match_label;
pub mod pipeline;
pub mod resolve;
#[cfg(feature = "serve")]
pub mod serve;
pub mod threshold;
pub mod transformer_files;

pub use biome_train::{OptimizerConfig, TrainSummary, TrainerConfig, ValidationMetric};
/// The training crate's modules, under the names they had in this crate.
pub use biome_train::{archive, checkpoint, fused_adam, pause, sparse_adam, trainer};
pub use burn::prelude::Device;
pub use config::{DataConfig, PipelineConfig};
pub use device::{available_devices, default_device_name, device_from_name, device_name};
pub use error::{BiomeError, Result};
pub use pipeline::{Pipeline, RecordVectors};
pub use transformer_files::TransformerFiles;

pub use biome_core;
pub use biome_kernels;
pub use biome_models;
pub use biome_modules;
pub use biome_train;
pub use burn;
