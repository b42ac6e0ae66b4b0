//! Fused masked recurrences for the flex CPU backend.
//!
//! burn runs an LSTM step as some fifteen tensor ops, each allocating its output and recording
//! an autodiff node, and differentiates each op separately: on small recurrent matrices that
//! bookkeeping costs more than the arithmetic. Here one backend-extension op runs a whole
//! sequence: per step one GEMM (`h·W_hh`, into a reused buffer) and one pass over the gates; the
//! backward pass is written by hand (per step one GEMM for `dh·W_hhᵀ`, and `dW_hh` as a single
//! product over all steps at the end).
//!
//! The ops take step-major projected inputs `[T·B, G·H]` (the whole-sequence input projection
//! stays one ordinary matmul outside) and the true length of every batch row, and return the
//! hidden states `[T·B, H]` with padded steps carrying the previous state, exactly like the
//! composed path in `recurrence.rs`, which other backends keep using.

mod activation;
mod flex;
mod gemm;
mod gru;
mod lstm;

use std::sync::OnceLock;

use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension, tensor::FloatTensor};
use burn::prelude::*;
use burn::tensor::DType;

/// The sizes of one fused call.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// The true length of every batch row.
    pub lengths: Vec<usize>,
}

impl Shape {
    /// The batch rows ordered by length, longest first (ties in batch order): the rows still
    /// running at any step are a prefix of it.
    fn longest_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.batch).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(self.lengths[b]));
        order
    }

    /// How many rows of `order` ([`Self::longest_first`]) are still running at step `t`.
    fn running_at(&self, order: &[usize], t: usize) -> usize {
        order.iter().take_while(|&&b| self.lengths[b] > t).count()
    }
}

/// The fewest batch rows one rayon task of a gate pass takes: all of them (one task, no split)
/// below 8K values per step, where splitting costs more than it saves; else one.
fn min_rows_per_task(batch: usize, hidden: usize) -> usize {
    if batch * hidden >= 8 * 1024 {
        1
    } else {
        batch.max(1)
    }
}

/// The fused recurrences as a burn backend extension: implemented for flex and for autodiff over
/// flex (with the hand-written backward); never called on other backends.
#[backend_extension(Flex, Autodiff)]
pub trait FusedRecurrence: Backend {
    /// LSTM: `proj` `[T·B, 4H]`, `weight_hh` `[H, 4H]` → hidden states `[T·B, H]`.
    fn masked_lstm(
        proj: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        lengths: Vec<usize>,
    ) -> FloatTensor<Self>;

    /// GRU: `proj` `[T·B, 3H]`, `weight_hh` `[H, 3H]`, `bias_hn` `[H]` → hidden states `[T·B, H]`.
    fn masked_gru(
        proj: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        lengths: Vec<usize>,
    ) -> FloatTensor<Self>;
}

/// False when `BIOME_FUSED_RNN=0`: every recurrence then runs the composed tensor-op path
/// (for A/B measurements and as an escape hatch).
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("BIOME_FUSED_RNN").map_or(true, |v| v != "0"))
}

#[cfg(test)]
thread_local! {
    static COMPOSED_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the fused ops switched off on this thread (tests compare the two paths).
#[cfg(test)]
pub(crate) fn composed_only<R>(f: impl FnOnce() -> R) -> R {
    COMPOSED_ONLY.with(|c| c.set(true));
    let out = f();
    COMPOSED_ONLY.with(|c| c.set(false));
    out
}

/// Whether the fused ops can run on tensors like `x`: an f32 tensor on the flex device.
fn supported(x: &Tensor<2>) -> bool {
    #[cfg(test)]
    if COMPOSED_ONLY.with(|c| c.get()) {
        return false;
    }
    enabled()
        && x.dtype() == DType::F32
        && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// The fused masked LSTM, or `None` where it does not apply (then run the composed path).
pub(crate) fn masked_lstm(
    proj: &Tensor<2>,
    weight_hh: &Tensor<2>,
    lengths: &[usize],
) -> Option<Tensor<2>> {
    if !supported(proj) {
        return None;
    }
    let out = <Dispatch as FusedRecurrence>::masked_lstm(
        proj.clone().into_dispatch(),
        weight_hh.clone().into_dispatch(),
        lengths.to_vec(),
    );
    Some(Tensor::from_dispatch(out))
}

/// The fused masked GRU, or `None` where it does not apply (then run the composed path).
pub(crate) fn masked_gru(
    proj: &Tensor<2>,
    weight_hh: &Tensor<2>,
    bias_hn: &Tensor<1>,
    lengths: &[usize],
) -> Option<Tensor<2>> {
    if !supported(proj) {
        return None;
    }
    let out = <Dispatch as FusedRecurrence>::masked_gru(
        proj.clone().into_dispatch(),
        weight_hh.clone().into_dispatch(),
        bias_hn.clone().into_dispatch(),
        lengths.to_vec(),
    );
    Some(Tensor::from_dispatch(out))
}
