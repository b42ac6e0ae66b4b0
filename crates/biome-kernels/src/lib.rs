//! Every backend-specific fast path of biome-rs, and every `unsafe` line of the project.
//!
//! The neural code (`biome-modules`, `biome-models`, the trainer) is plain burn tensor code that
//! runs on any backend. Where a hand-written kernel is faster, it asks this crate first: each
//! entry point below returns `Some(result)` when its fused op runs, and `None` when the caller
//! must run its composed tensor-op twin (another backend, an unsupported configuration, the op
//! switched off by [`policy`], or this crate built without the `flex` feature). The answer is
//! the same with and without the fused op, up to float rounding: the callers' tests hold every
//! fused op equal to its composed twin, forward and backward.
//!
//! | entry point | what | flex op |
//! |---|---|---|
//! | [`recurrence::hidden_states`] | masked LSTM/GRU over a whole sequence, with its input projection | one shared packed-step driver, a cell per gate layout |
//! | [`cnn::masked_cnn_max`] | masked n-gram CNN with max pooling | windows only where real tokens are |
//! | [`lookup::padded_lookup`] | embedding lookup without autodiff, zero at padding | one write per row |
//! | [`gelu::gelu`] | exact (erf) GELU | one vectorised pass, one for its backward |
//! | [`softmax::scaled_softmax_with_key_bias`] | the attention softmax with its scale and key mask | one pass per row of keys, one for its backward |
//! | [`layer_norm::layer_norm`] | LayerNorm over the last dimension | one pass per row, one for its backward |
//! | [`adam::step`] | one Adam / AMSGrad update of a parameter | one in-place pass |
//! | [`dot_products::dot_products`] | every row of one matrix with every row of another (slices, no tensors; biome-resolve's neighbour search) | one GEMM |
//! | [`cube::lstm_cell`] | one masked LSTM step after its recurrent product, on the cube (wgpu) backends | one CubeCL kernel, forward and backward (`wgpu` feature) |
//!
//! Each fused op is split into plain slice arithmetic (testable without burn) and thin burn
//! glue: a backend extension implemented for `Flex` and for `Autodiff<Flex>` with a
//! hand-written backward. The cube kernels (`cube/`) are CubeCL kernels behind the same kind of
//! extension for burn's cube backend and autodiff over it. `gemm.rs` is the one safe wrapper
//! around the `gemm` crate.
//!
//! [`host_reads`] counts every read of a tensor back to the host that the model and trainer
//! code makes (a host synchronisation on a GPU), by site, for `biome-bench --count`.

// First: its macro is used by the modules below.
#[cfg(feature = "flex")]
#[macro_use]
mod simd_builds;

#[cfg(feature = "flex")]
mod gemm;
#[cfg(feature = "flex")]
mod row_reductions;
#[cfg(feature = "flex")]
mod slices;

pub mod adam;
#[cfg(feature = "mimalloc")]
pub mod allocator;
pub mod cnn;
pub mod cube;
pub mod dot_products;
pub mod gelu;
pub mod host_reads;
pub mod layer_norm;
pub mod lookup;
pub mod policy;
pub mod recurrence;
pub mod softmax;

pub use policy::{FusedOp, composed_only, with_fused_ops};
