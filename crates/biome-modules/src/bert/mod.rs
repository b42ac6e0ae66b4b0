//! A BERT-family encoder (BERT, MiniLM, and the BERT-shaped e5/bge/gte models) in the Hugging
//! Face folder layout, as the pretrained token embedder of the record encoder.
//!
//! Entry points:
//! - [`load_bert`]`(folder, device)`: `config.json` + `model.safetensors` → ([`BertConfig`],
//!   [`Bert`]) with the pretrained weights (training from a pretrained model).
//! - [`BertConfig::from_file`] / [`BertConfig::from_json`] + [`BertConfig::init`]: the same
//!   model with random weights, for a model whose weights then come from a saved record (an
//!   archive keeps `config.json`; the original folder is not needed).
//! - [`Bert::forward`]`(ids, type_ids, mask) -> [B, T, H]`: the last hidden state.
//!
//! The computation is Hugging Face's `BertModel` (eager attention, exact erf GELU,
//! post-LayerNorm layers), written in plain tensor ops so it runs on every backend; on flex the
//! GELU, the attention softmax and the LayerNorms ask biome-kernels' fused ops first. Parameter
//! paths follow Hugging Face's names (`embeddings.word_embeddings`, `encoder.layer.0.attention.
//! query`, ...), so parameter-group regexes written for Hugging Face models match.

mod attention;
mod config;
mod embeddings;
mod layer;
mod layer_norm;
mod load;
mod model;
mod rows;
mod weights;

#[cfg(test)]
mod tests;

pub use attention::{BertAttention, PADDED_KEY_SCORE, key_bias, masked_softmax};
pub use config::BertConfig;
pub use embeddings::BertEmbeddings;
pub use layer::BertLayer;
pub use layer_norm::normalize;
pub use load::{CONFIG_FILE, WEIGHTS_FILE, load_bert};
pub use model::{Bert, BertEncoder};
pub use rows::linear_rows;
pub use weights::{Init, RandomWeights, SafetensorsWeights, WeightSource};
