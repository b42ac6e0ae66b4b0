//! Every failure a user of the pipeline or the CLI can meet, with a message that says what to fix.

use std::path::PathBuf;

use biome_core::{
    BatchError, BucketError, ReadError, RecordError, SubwordTokenizerError, VocabularyError,
};
use biome_models::ModelError;
use biome_train::TrainError;

/// An error of the pipeline, the trainer, the archive or the CLI.
#[derive(Debug, thiserror::Error)]
pub enum BiomeError {
    /// The configuration file could not be read or parsed (the message names the key's path).
    #[error("config {path}: {message}")]
    Config {
        /// Where the config came from.
        path: String,
        /// What is wrong, with the key's path.
        message: String,
    },
    /// Reading a data file failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A record or example is unusable.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A batch could not be built.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A pretrained transformer's `tokenizer.json` is missing or unusable (the message names it).
    #[error(transparent)]
    Subword(#[from] SubwordTokenizerError),
    /// Bucketing arguments are invalid.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// The vocabulary could not be read or written.
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
    /// The model could not be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model folder is missing, truncated, corrupted or from a newer format.
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
    /// A device name that is not compiled in or not known.
    #[error("unknown device {name:?}; compiled-in devices: {available}")]
    Device {
        /// The name given.
        name: String,
        /// The names that work in this build.
        available: String,
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
    /// The model's match label cannot be told.
    #[error(transparent)]
    MatchLabel(#[from] MatchLabelError),
    /// An entity-resolution run cannot go on.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A record index cannot be written or loaded.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The training crate's errors, variant for variant (a user of this crate matches one type).
impl From<TrainError> for BiomeError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Batch(e) => Self::Batch(e),
            TrainError::Bucket(e) => Self::Bucket(e),
            TrainError::Vocabulary(e) => Self::Vocabulary(e),
            TrainError::Model(e) => Self::Model(e),
            TrainError::Archive { path, message } => Self::Archive { path, message },
            TrainError::Io { path, source } => Self::Io { path, source },
            TrainError::NonFiniteLoss { epoch, step, value } => {
                Self::NonFiniteLoss { epoch, step, value }
            }
            TrainError::NonFiniteWeights { epoch, count } => {
                Self::NonFiniteWeights { epoch, count }
            }
            TrainError::Invalid(message) => Self::Invalid(message),
        }
    }
}

impl BiomeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with a [`BiomeError`].
pub type Result<T> = std::result::Result<T, BiomeError>;

/// The match label cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchLabelError {
    /// The model's labels do not say which one means "same entity".
    #[error(
        "which label means a match? The model's labels are {}; pass --match-label",
        .labels.join(", ")
    )]
    Needed {
        /// The model's labels.
        labels: Vec<String>,
    },
    /// `--match-label` names a label the model does not have.
    #[error("--match-label {given:?} is not a label of the model; its labels are {}", .labels.join(", "))]
    Unknown {
        /// What was given.
        given: String,
        /// The model's labels.
        labels: Vec<String>,
    },
}

/// An entity-resolution run cannot go on; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A multi-field model reads a fixed list of fields, and `--fields` gives another number.
    #[error(
        "the model reads {} fields per record ({}), but {} columns were given ({}); pass --fields with one column per model field, in that order",
        .model_fields.len(), .model_fields.join(", "), .given.len(), .given.join(", ")
    )]
    FieldCount {
        /// The model's record fields (training columns).
        model_fields: Vec<String>,
        /// The columns given.
        given: Vec<String>,
    },
    /// `--fields` was not given and the model's own field names are not all columns of the
    /// table.
    #[error(
        "{table}: no --fields given, and the model's fields ({}) are not all columns of the table (missing: {}); its columns are {}",
        .model_fields.join(", "), .missing.join(", "), .columns.join(", ")
    )]
    DefaultFields {
        /// The table.
        table: String,
        /// The model's field names, prefix stripped.
        model_fields: Vec<String>,
        /// Those not in the table.
        missing: Vec<String>,
        /// The table's columns.
        columns: Vec<String>,
    },
    /// The output folder exists already.
    #[error("{}: exists already; choose another --output or pass --overwrite", .0.display())]
    OutputExists(PathBuf),
    /// An option out of range.
    #[error("{0}")]
    Option(String),
}

/// The record index format version this build reads and writes (see `resolve::index`).
pub const INDEX_FORMAT_VERSION: u32 = 1;

/// Why an index cannot be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The file could not be read or written.
    #[error("index {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a whole index: truncated, bit-flipped, or another file.
    #[error("index {path} is damaged or not an index: {reason}; write it again with `biome index`")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by a build with another format version.
    #[error(
        "index {path}: format version {found}, this biome reads version {INDEX_FORMAT_VERSION}; write it again with `biome index`"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
    },
    /// Encoded by another model (or another training of it): its vectors mean nothing here.
    #[error(
        "index {path} was encoded by another model (fingerprint {index}, the model {model} has {model_fingerprint}); write it again with `biome index --model {model}`"
    )]
    OtherModel {
        /// The file.
        path: PathBuf,
        /// The fingerprint stored in the index.
        index: String,
        /// The model folder.
        model: String,
        /// The model's fingerprint.
        model_fingerprint: String,
    },
    /// Its vectors have another size than the model's record vectors.
    #[error(
        "index {path}: vectors of {index_dim} values, but the model's record vectors have {model_dim}"
    )]
    Dimension {
        /// The file.
        path: PathBuf,
        /// Values per vector in the index.
        index_dim: usize,
        /// Values per record vector of the model.
        model_dim: usize,
    },
    /// One id names two records, so a match could not say which.
    #[error("index {path}: id {id:?} is at rows {first} and {second}; ids must be unique")]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// The id.
        id: String,
        /// Its first row.
        first: usize,
        /// Its second row.
        second: usize,
    },
    /// An index of no records.
    #[error("index {path} holds no records")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The model folder's manifest could not be read.
    #[error("model {0}")]
    Model(String),
}
