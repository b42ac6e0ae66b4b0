//! The siamese pair classifier of biome-rs and its single-record sibling: a shared record
//! encoder, the pair head, the weighted loss, metrics and decoding.

#![forbid(unsafe_code)]

pub mod classifier;
pub mod config;
pub mod cosine_head;
pub mod decode;
pub mod error;
pub mod hard_negatives;
pub mod initializer;
pub mod loss;
pub mod metrics;
pub mod param_path;
pub mod pr_curve;
pub mod record_encoder;
pub mod regularizer;
pub mod tensors;

pub use classifier::{
    ClassifierOutput, SequenceClassifier, SequencePairClassifier, Weights, float_values,
    int_values, label_tensor,
};
pub use config::{ClassifierConfig, PairCombination};
pub use decode::{Prediction, decode};
pub use error::ModelError;
pub use hard_negatives::HardNegativesConfig;
pub use initializer::{InitScheme, InitializerRule, apply_initializers};
pub use loss::cross_entropy;
pub use metrics::{ClassificationMetrics, MetricsAccumulator};
pub use param_path::param_paths;
pub use pr_curve::{PrPoint, best_f1_threshold, precision_recall_curve};
pub use record_encoder::{EncoderBody, RecordEncoder};
pub use regularizer::{Penalty, Regularizer, RegularizerRule};
pub use tensors::RecordTensors;
