//! The masked n-gram CNN encoder with max pooling as one fused op (see [`masked_cnn_max`]);
//! `window_max` has the arithmetic and why it is cheap.

#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod window_max;

use burn::prelude::*;

/// A non-decreasing activation as a scalar function: `z → (f(z), f'(z))`.
pub type ScalarActivation = fn(f32) -> (f32, f32);

/// One n-gram filter bank of the encoder.
#[derive(Debug, Clone)]
pub struct NgramFilter {
    /// `[k·D, F]`: the filter's weight over a window of `k` tokens of `D` features.
    pub weight: Tensor<2>,
    /// `[F]`, or none.
    pub bias: Option<Tensor<1>>,
    /// The window size `k`.
    pub ngram: usize,
}

/// The pooled features `[B, n·F]` of `x` `[B, T, D]` under `mask` `[B, T]`: per filter bank
/// and filter, the activation of the largest filter output over the row's windows that lie
/// wholly on real tokens (zero where a row has none), banks concatenated in order.
///
/// `filters` gives the banks, and is called only once the op is known to run: reading a
/// parameter for the first time initialises it (burn initialises lazily, from the device's
/// random state), so a caller whose composed path reads its parameters in another order must
/// not read them here first.
///
/// `None` where the composed path must run: not an f32 tensor on flex, an activation that is
/// not non-decreasing (`activation` is `None`: GELU), banks of unequal widths `F`, no banks, or
/// the op switched off ([`crate::FusedOp::Cnn`]).
pub fn masked_cnn_max(
    x: &Tensor<3>,
    mask: &Tensor<2, Bool>,
    activation: Option<ScalarActivation>,
    filters: impl FnOnce() -> Vec<NgramFilter>,
) -> Option<Tensor<2>> {
    let activation = activation?;
    if !crate::policy::is_enabled(crate::FusedOp::Cnn) || !on_flex(x) {
        return None;
    }
    let filters = filters();
    let width = filters.first()?.weight.dims()[1];
    if filters.iter().any(|f| f.weight.dims()[1] != width) {
        return None;
    }
    run(x, mask, &filters, activation)
}

#[cfg(not(feature = "flex"))]
fn on_flex(_: &Tensor<3>) -> bool {
    false
}

#[cfg(feature = "flex")]
use crate::slices::on_flex;

#[cfg(not(feature = "flex"))]
fn run(
    _: &Tensor<3>,
    _: &Tensor<2, Bool>,
    _: &[NgramFilter],
    _: ScalarActivation,
) -> Option<Tensor<2>> {
    None
}

#[cfg(feature = "flex")]
fn run(
    x: &Tensor<3>,
    mask: &Tensor<2, Bool>,
    filters: &[NgramFilter],
    activation: ScalarActivation,
) -> Option<Tensor<2>> {
    Some(flex::forward(x, mask, filters, activation))
}
