//! Configuration errors of the modules, and the errors of reading a pretrained transformer's
//! folder (each names the file and, for a weight, the tensor).

use std::path::PathBuf;

use crate::pretrained::PretrainedError;

/// An invalid module configuration.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A module's configured input size differs from what the previous module produces.
    #[error("{consumer} input_dim {configured} != {producer} output {actual}")]
    DimMismatch {
        /// The module whose input is configured (`seq2vec_encoder`, ...).
        consumer: String,
        /// Its configured input size.
        configured: usize,
        /// The module feeding it (`text_field_embedder`, ...).
        producer: String,
        /// What that module produces.
        actual: usize,
    },
    /// Any other invalid value.
    #[error("invalid {what} configuration: {message}")]
    Invalid {
        /// The module.
        what: String,
        /// Why.
        message: String,
    },
    /// A pretrained embedding file could not be used.
    #[error(transparent)]
    Pretrained(#[from] PretrainedError),
    /// A file of a pretrained transformer folder (or the folder) cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ModelFile {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A transformer `config.json` is not valid JSON of the expected shape.
    #[error("{}: {message}", path.display())]
    ModelConfig {
        /// The file (or where the text came from).
        path: PathBuf,
        /// What is wrong, with serde's line and column.
        message: String,
    },
    /// A transformer config asks for something this crate does not implement.
    #[error("{}: {key} {value:?} is not supported (supported: {supported})", path.display())]
    Unsupported {
        /// The config file.
        path: PathBuf,
        /// Its key (`model_type`, `hidden_act`, ...).
        key: String,
        /// The value found.
        value: String,
        /// What is supported.
        supported: String,
    },
    /// A weights file is not a readable safetensors file.
    #[error("{}: not a safetensors file: {message}", path.display())]
    Safetensors {
        /// The weights file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A weight the model needs is not in the weights file.
    #[error("{}: missing weight {tensor:?}", path.display())]
    MissingWeight {
        /// The weights file.
        path: PathBuf,
        /// The tensor name as Hugging Face writes it (without a `bert.` prefix).
        tensor: String,
    },
    /// A weight has a shape the config does not imply.
    #[error("{}: weight {tensor:?} has shape {found:?}, expected {expected:?}", path.display())]
    WeightShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor name in the file.
        tensor: String,
        /// The shape the config implies (Hugging Face layout, `[out, in]` for a linear layer).
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A weight is not stored as floating-point numbers.
    #[error("{}: weight {tensor:?} has dtype {dtype}, expected F32, F16, BF16 or F64", path.display())]
    WeightDtype {
        /// The weights file.
        path: PathBuf,
        /// The tensor name in the file.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
}

/// An RNN config's own error as a module error: an input-size mismatch stays one (so that
/// [`ModuleError::named`] can name both ends), anything else is invalid `rnn` configuration.
impl From<crate::rnn::RnnConfigError> for ModuleError {
    fn from(e: crate::rnn::RnnConfigError) -> Self {
        use crate::rnn::RnnConfigError;
        match e {
            RnnConfigError::InputSizeMismatch { configured, actual } => {
                Self::mismatch(configured, actual)
            }
            RnnConfigError::ZeroHiddenSize => {
                Self::invalid("rnn", "hidden_size must be at least 1")
            }
            RnnConfigError::ZeroLayers => Self::invalid("rnn", "num_layers must be at least 1"),
            RnnConfigError::ZeroInputDim => {
                Self::invalid("rnn", "the input dimension must be at least 1")
            }
            RnnConfigError::InvalidDropout(p) => {
                Self::invalid("rnn", format!("dropout {p} is not in [0, 1)"))
            }
        }
    }
}

impl ModuleError {
    pub(crate) fn mismatch(configured: usize, actual: usize) -> Self {
        Self::DimMismatch {
            consumer: "encoder".into(),
            configured,
            producer: "input".into(),
            actual,
        }
    }

    pub(crate) fn invalid(what: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Rename both ends of a [`ModuleError::DimMismatch`] (other errors are returned unchanged),
    /// so the message names the modules as the user's config does, e.g.
    /// `seq2vec_encoder input_dim 300 != text_field_embedder output 316`.
    pub fn named(self, consumer: &str, producer: &str) -> Self {
        match self {
            Self::DimMismatch {
                configured, actual, ..
            } => Self::DimMismatch {
                consumer: consumer.into(),
                configured,
                producer: producer.into(),
                actual,
            },
            Self::Invalid { message, .. } => Self::Invalid {
                what: consumer.into(),
                message,
            },
            other => other,
        }
    }
}

/// Check an optional configured input size against the actual one.
pub(crate) fn check_dim(configured: Option<usize>, actual: usize) -> Result<usize, ModuleError> {
    match configured {
        Some(c) if c != actual => Err(ModuleError::mismatch(c, actual)),
        _ => Ok(actual),
    }
}

/// Check a dropout probability (burn's `Dropout` panics outside `[0, 1)`).
pub(crate) fn check_dropout(what: &str, p: f64) -> Result<(), ModuleError> {
    if p.is_finite() && (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(ModuleError::invalid(
            what,
            format!("dropout {p} is not in [0, 1)"),
        ))
    }
}
