//! Every failure of training, checkpoints and archives, with a message that says what to fix.

use std::path::PathBuf;

use biome_core::{BatchError, BucketError, VocabularyError};
use biome_models::ModelError;

/// An error of the trainer, a checkpoint or an archive.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A batch could not be built.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// Bucketing arguments are invalid.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// The vocabulary could not be read or written.
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
    /// The model could not be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model folder or checkpoint is missing, truncated, corrupted or from a newer format.
    #[error("model archive {path}: {message}")]
    Archive {
        /// The archive folder or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Training diverged: the loss is NaN or infinite.
    #[error(
        "training stopped: the loss became {value} at epoch {epoch}, step {step} (lower the learning rate or set grad_norm)"
    )]
    NonFiniteLoss {
        /// Epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// The value.
        value: f32,
    },
    /// Training diverged: the weights hold NaN or infinite values after an epoch.
    #[error(
        "training stopped: {count} weights became NaN or infinite in epoch {epoch}; the last good checkpoint and model are kept (lower the learning rate or set grad_norm)"
    )]
    NonFiniteWeights {
        /// Epoch (1-based).
        epoch: usize,
        /// How many weights are not finite.
        count: usize,
    },
    /// Invalid training input or options.
    #[error("{0}")]
    Invalid(String),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn archive(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Archive {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Result with a [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;
