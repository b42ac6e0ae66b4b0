//! Fused recurrence cells for burn's cube backends (wgpu; any CubeCL runtime).
//!
//! On a GPU every composed op is a kernel launch, and the composed LSTM step of `biome-modules`
//! (`rnn/recurrence.rs`) is a dozen of them per time step and direction (the gate add, two
//! activations, five products and sums, two masked carries), each with an autodiff node and a
//! backward of its own. Here the whole step after the recurrent product is ONE launch: given
//! the step's input projection `xp` (a view of the one projection GEMM over the sequence), the
//! recurrent product `hp = h·W_hh` (a burn matmul) and the previous state, one thread per
//! `(row, hidden unit)` computes the gates, the new `(h, c)` and the masked carry (a padded row
//! keeps its state, as on the composed path); the backward is one hand-written kernel too
//! (`lstm_kernel.rs`, registered through burn's autodiff in `extension.rs`).
//!
//! The LSTM's state travels as one `[B, 2H]` tensor (`h` then `c`), so a step is one op with one
//! output: burn's autodiff graph has one node per step for the cell. The GRU
//! ([`gru_cell`]) is the same with its state `h` `[B, H]` and `b_hn` inside the cell.
//!
//! Without the `wgpu` feature, off a cube device, for non-f32 tensors or with the op switched
//! off ([`crate::FusedOp::CubeRecurrence`], `BIOME_FUSED_CUBE_RNN=0`) the entry points answer
//! `None` / `false` and the caller runs its composed ops.

#[cfg(feature = "wgpu")]
mod extension;
#[cfg(feature = "wgpu")]
mod gru_kernel;
#[cfg(feature = "wgpu")]
mod kernel_util;
#[cfg(feature = "wgpu")]
mod lstm_kernel;

use burn::prelude::*;

/// Whether [`lstm_cell`] and [`gru_cell`] run on tensors like `x`: the `wgpu` feature is compiled in, the op
/// is switched on, and `x` is an f32 tensor on a cube device.
pub fn runs_on<const D: usize>(x: &Tensor<D>) -> bool {
    crate::policy::is_enabled(crate::FusedOp::CubeRecurrence) && on_cube_device(x)
}

/// Whether `x` is an f32 tensor on a cube (GPU) device, whatever the policy says: the models
/// keep their masks on such a device instead of reading them back (a host synchronisation).
#[cfg(not(feature = "wgpu"))]
pub fn on_cube_device<const D: usize>(_: &Tensor<D>) -> bool {
    false
}

/// Whether `x` is an f32 tensor on a cube (GPU) device, whatever the policy says.
#[cfg(feature = "wgpu")]
pub fn on_cube_device<const D: usize>(x: &Tensor<D>) -> bool {
    use burn::backend::DispatchDevice;
    use burn::tensor::DType;

    x.dtype() == DType::F32 && matches!(x.device().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// One masked LSTM step in one launch: `xp` `[B, 4H]` (the step's input projection, both
/// biases included), `hp` `[B, 4H]` (`h·W_hh` of the previous `h`), `state` `[B, 2H]` (the
/// previous `h` then `c`), and the step's `B` values of `real` from `offset` on (1 where the
/// row's step is a real token, 0 where it is padding: the whole sequence's `[T·B]` mask, so that
/// no step slices it) → the new state `[B, 2H]`: PyTorch's LSTM cell (gates `i f g o`,
/// `c' = f·c + i·g`, `h' = o·tanh c'`) where `real`, the previous state where not.
///
/// `None` where the composed ops must run (see [`runs_on`]), or where the shapes do not fit
/// together (a caller's bug, which the composed path then reports).
pub fn lstm_cell(
    xp: &Tensor<2>,
    hp: &Tensor<2>,
    state: &Tensor<2>,
    real: &Tensor<1>,
    offset: usize,
) -> Option<Tensor<2>> {
    let [batch, gates] = xp.dims();
    let fits = batch > 0
        && gates > 0
        && gates % 4 == 0
        && hp.dims() == [batch, gates]
        && state.dims() == [batch, gates / 2]
        && mask_fits(real, offset, batch);
    if !fits || !runs_on(xp) {
        return None;
    }
    run_lstm(xp, hp, state, real, offset as u32)
}

/// Whether `real` holds `batch` values from `offset` on, with offsets a kernel can take.
fn mask_fits(real: &Tensor<1>, offset: usize, batch: usize) -> bool {
    let [len] = real.dims();
    offset + batch <= len && u32::try_from(len).is_ok()
}

#[cfg(not(feature = "wgpu"))]
fn run_lstm(
    _: &Tensor<2>,
    _: &Tensor<2>,
    _: &Tensor<2>,
    _: &Tensor<1>,
    _: u32,
) -> Option<Tensor<2>> {
    None
}

#[cfg(feature = "wgpu")]
fn run_lstm(
    xp: &Tensor<2>,
    hp: &Tensor<2>,
    state: &Tensor<2>,
    real: &Tensor<1>,
    offset: u32,
) -> Option<Tensor<2>> {
    use burn::backend::Dispatch;
    use extension::FusedCubeCell;

    let next = <Dispatch as FusedCubeCell>::lstm_cell(
        xp.clone().into_dispatch(),
        hp.clone().into_dispatch(),
        state.clone().into_dispatch(),
        real.clone().into_dispatch(),
        offset,
    );
    Some(Tensor::from_dispatch(next))
}

/// One masked GRU step in one launch: `xp` `[B, 3H]` (the step's input projection with `b_ih`
/// and the `r`, `z` blocks of `b_hh`), `hp` `[B, 3H]` (`h·W_hh` of the previous `h`, no bias),
/// `state` `[B, H]` (the previous `h`), `bias_hn` `[H]`, and `real` from `offset` on (as for
/// [`lstm_cell`]) → the new `h` `[B, H]`: PyTorch's GRU cell (`r, z = σ(·)`,
/// `n = tanh(xp_n + r·(hp_n + b_hn))`, `h' = (1 − z)·n + z·h`) where `real`, the previous `h`
/// where not.
///
/// `None` where the composed ops must run (see [`runs_on`]), or where the shapes do not fit.
pub fn gru_cell(
    xp: &Tensor<2>,
    hp: &Tensor<2>,
    state: &Tensor<2>,
    bias_hn: &Tensor<1>,
    real: &Tensor<1>,
    offset: usize,
) -> Option<Tensor<2>> {
    let [batch, gates] = xp.dims();
    let hidden = gates / 3;
    let fits = batch > 0
        && gates > 0
        && gates % 3 == 0
        && hp.dims() == [batch, gates]
        && state.dims() == [batch, hidden]
        && bias_hn.dims() == [hidden]
        && mask_fits(real, offset, batch);
    if !fits || !runs_on(xp) {
        return None;
    }
    run_gru(xp, hp, state, bias_hn, real, offset as u32)
}

#[cfg(not(feature = "wgpu"))]
fn run_gru(
    _: &Tensor<2>,
    _: &Tensor<2>,
    _: &Tensor<2>,
    _: &Tensor<1>,
    _: &Tensor<1>,
    _: u32,
) -> Option<Tensor<2>> {
    None
}

#[cfg(feature = "wgpu")]
fn run_gru(
    xp: &Tensor<2>,
    hp: &Tensor<2>,
    state: &Tensor<2>,
    bias_hn: &Tensor<1>,
    real: &Tensor<1>,
    offset: u32,
) -> Option<Tensor<2>> {
    use burn::backend::Dispatch;
    use extension::FusedCubeCell;

    let next = <Dispatch as FusedCubeCell>::gru_cell(
        xp.clone().into_dispatch(),
        hp.clone().into_dispatch(),
        state.clone().into_dispatch(),
        bias_hn.clone().into_dispatch(),
        real.clone().into_dispatch(),
        offset,
    );
    Some(Tensor::from_dispatch(next))
}
