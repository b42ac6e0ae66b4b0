//! Training for biome-rs, below the user-facing `biome` crate.
//!
//! - [`config`]: the `trainer` part of a configuration (typed validation metric, optimizer).
//! - [`step`]: the one training step (loss, backward, clipping, updates), which the trainer
//!   runs and `biome-bench` times phase by phase.
//! - [`trainer`]: the loop (batches, early stopping, best model, checkpoints, metrics).
//! - [`fused_adam`] and [`sparse_adam`]: the optimizers (Adam and AdamW), gathered per model
//!   by [`optimizers`] with AllenNLP's [`param_groups`]; [`lr_schedule`]: warm-up and decay;
//!   [`clip`]: global gradient-norm clipping.
//! - [`checkpoint`] and [`archive`]: what training leaves on disk, crash-safe and checksummed.
//! - [`observer`]: progress bars and the training curve ([`curve`]), watching the loop.
//! - [`pause`]: named pause points for the fault tests.

#![forbid(unsafe_code)]

pub mod archive;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod curve;
pub mod error;
pub mod fused_adam;
pub mod lr_schedule;
pub mod observer;
pub mod optimizers;
pub mod param_groups;
pub mod pause;
pub mod sparse_adam;
pub mod step;
pub mod trainer;

pub use config::{AdamSettings, OptimizerConfig, TrainerConfig, ValidationMetric};
pub use error::{Result, TrainError};
pub use lr_schedule::LrSchedulerConfig;
pub use observer::{EpochReport, ProgressBars, TrainObserver, TrainingCurve};
pub use param_groups::{GroupOverrides, ParameterGroup};
pub use step::{PairBatch, StepGradients, Stepped, TrainStep};
pub use trainer::{TrainRun, TrainSummary, evaluate_examples, train};
