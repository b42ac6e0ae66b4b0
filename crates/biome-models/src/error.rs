//! Errors of model construction and use.

use biome_modules::ModuleError;

/// A model configuration or input that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An encoder's output does not fit the next module's input, or a module is misconfigured.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A combination of options that cannot work.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// `loss_weights` names a label the model does not have.
    #[error("loss_weights names unknown label {label:?} (labels: {known:?})")]
    UnknownWeightLabel {
        /// The label in the weights.
        label: String,
        /// The model's labels.
        known: Vec<String>,
    },
    /// A label has no weight while `loss_weights` is given.
    #[error("loss_weights has no weight for label {0:?}")]
    MissingWeight(String),
    /// A regular expression of the initializer or regularizer does not compile.
    #[error("invalid parameter regex {pattern:?}: {message}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },
    /// A batch that does not suit the model (single-field batch for a multifield model, ...).
    #[error("input does not fit the model: {0}")]
    Input(String),
    /// At least one label is needed to build an output layer.
    #[error("a classifier needs at least one label")]
    NoLabels,
}
