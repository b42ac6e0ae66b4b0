//! Neural building blocks of the biome-rs siamese encoder, as burn modules that run on any
//! backend: embedders, mask-exact seq2seq / seq2vec encoders, multifield encoding, feed-forward.

pub mod rnn;
