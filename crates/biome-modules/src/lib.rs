//! Neural building blocks of the biome-rs siamese encoder, as burn modules that run on any
//! backend: embedders (word, character, pretrained BERT-family transformers: [`bert`],
//! [`transformer_embedder`]), mask-exact seq2seq / seq2vec encoders, multifield encoding,
//! feed-forward.
//!
//! Conventions (see `ARCHITECTURE.md`): masks are `Tensor<2, Bool>` with `true` = real token;
//! seq2seq outputs are zero at padded positions; seq2vec outputs are zero for all-padding rows.
//! Configs are serde types with AllenNLP parameter names; enums are written `{"<type>": {..}}`.
//!
//! This is plain tensor code for every backend. Where `biome-kernels` has a fused op (the
//! masked LSTM/GRU, the CNN encoder, the embedding lookup without autodiff), a module asks it
//! first and runs its composed tensor ops when the answer is `None`; the tests hold the two
//! equal (`biome_kernels::composed_only` switches the fused ops off).

#![forbid(unsafe_code)]

pub mod activation;
pub mod bert;
pub mod boe;
pub mod characters;
pub mod cls_pooler;
pub mod cnn;
pub mod embedding;
pub mod error;
pub mod feed_forward;
pub mod mask;
pub mod multifield;
pub mod pass_through;
pub mod pretrained;
pub mod recurrent;
pub mod rnn;
pub mod seq2seq;
pub mod seq2vec;
pub mod sparse;
pub mod text_field;
pub mod transformer;
pub mod transformer_embedder;

#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

pub use activation::Activation;
pub use bert::{Bert, BertConfig, linear_rows, load_bert};
pub use boe::{BagOfEmbeddingsEncoder, BoeConfig};
pub use characters::{TokenCharactersEncoder, TokenCharactersEncoderConfig};
pub use cls_pooler::{ClsPooler, ClsPoolerConfig};
pub use cnn::{CnnEncoder, CnnEncoderConfig};
pub use embedding::{WordEmbedding, WordEmbeddingConfig};
pub use error::ModuleError;
pub use feed_forward::{FeedForward, FeedForwardConfig, OneOrMany};
pub use multifield::{
    MultifieldEncoder, MultifieldEncoderConfig, SequenceEncoder, SequenceEncoderConfig,
};
pub use pass_through::{PassThroughConfig, PassThroughEncoder};
pub use pretrained::{PretrainedEmbeddings, PretrainedError, PretrainedReport, load_pretrained};
pub use recurrent::RecurrentEncoder;
pub use rnn::{MaskedRnn, RnnCell, RnnConfig};
pub use seq2seq::{Seq2SeqEncoder, Seq2SeqEncoderConfig};
pub use seq2vec::{Seq2VecEncoder, Seq2VecEncoderConfig};
pub use text_field::{TextFieldEmbedder, TextFieldEmbedderConfig, TokenEmbedderConfig};
pub use transformer::{MaskedTransformer, TransformerConfig};
pub use transformer_embedder::{TransformerEmbedder, TransformerEmbedderConfig};
