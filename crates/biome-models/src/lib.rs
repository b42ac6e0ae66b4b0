//! The siamese pair classifier of biome-rs and its single-record sibling: a shared record
//! encoder, the pair head, the weighted loss, metrics and decoding.

pub mod decode;
pub mod loss;
pub mod metrics;
