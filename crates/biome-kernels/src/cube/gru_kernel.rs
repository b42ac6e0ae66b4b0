//! The CubeCL kernels of one masked GRU step, forward and backward, and their launches on
//! burn's cube tensors. One thread per `(row, hidden unit)`.
//!
//! Layouts (row-major, `H` = hidden size): the state is `h` `[B, H]`; the gate blocks are
//! `[B, 3H]` in PyTorch's order `r z n`, `xp` with `b_ih` and the `r`, `z` blocks of `b_hh`, `hp`
//! = `h·W_hh` without bias; `b_hn` `[H]` stays inside `r ⊙ (h·W_hn + b_hn)`; `real` holds, from
//! `offset` on, 1 at real rows and 0 at padded ones (which carry their state through unchanged),
//! as in `lstm_kernel.rs`.

use burn::backend::cubecl::dtype_to_storage_type;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::kernel_util::{at, empty_like, grid, sigmoid, tanh};

/// The forward step: `next` `[B, H]` is the cell's new `h` where `real`, the previous one where
/// not; `saved` `[B, 4H]` keeps `r`, `z`, `n` and `h·W_hn + b_hn` for the backward step.
#[cube(launch)]
fn gru_forward_kernel<F: Float>(
    xp: &Tensor<F>,
    hp: &Tensor<F>,
    state: &Tensor<F>,
    bias_hn: &Tensor<F>,
    real: &Tensor<F>,
    offset: u32,
    next: &mut Tensor<F>,
    saved: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = next.shape(0);
    let hidden = next.shape(1);
    let pos = ABSOLUTE_POS;
    if pos >= batch * hidden {
        terminate!();
    }
    let b = pos / hidden;
    let j = pos % hidden;

    let gate_r = sigmoid::<F>(at::<F>(xp, b, j) + at::<F>(hp, b, j));
    let gate_z = sigmoid::<F>(at::<F>(xp, b, hidden + j) + at::<F>(hp, b, hidden + j));
    let hn = at::<F>(hp, b, 2 * hidden + j) + bias_hn[j * bias_hn.stride(0)];
    let gate_n = tanh::<F>(at::<F>(xp, b, 2 * hidden + j) + gate_r * hn);
    let h_prev = at::<F>(state, b, j);

    let s = b * 4 * hidden;
    saved[s + j] = gate_r;
    saved[s + hidden + j] = gate_z;
    saved[s + 2 * hidden + j] = gate_n;
    saved[s + 3 * hidden + j] = hn;

    if real[(offset as usize + b) * real.stride(0)] > F::new(0.5_f32) {
        // (1 − z)·n + z·h
        next[b * hidden + j] = gate_n + gate_z * (h_prev - gate_n);
    } else {
        next[b * hidden + j] = h_prev;
    }
}

/// The backward step from `grad` `[B, H]` (of `next`): the gradients of `xp` and of `hp`
/// `[B, 3H]` (they differ in the `n` block, where `hp` is scaled by `r`), and of the previous
/// state `[B, H]` through the cell (`z·dh` at real rows; padded rows pass `grad` through and
/// give no gate gradient). `d_hn` `[B, H]` is a copy of `hp`'s `n` block, whose column sum is
/// `b_hn`'s gradient.
#[cube(launch)]
fn gru_backward_kernel<F: Float>(
    saved: &Tensor<F>,
    state: &Tensor<F>,
    real: &Tensor<F>,
    offset: u32,
    grad: &Tensor<F>,
    d_xp: &mut Tensor<F>,
    d_hp: &mut Tensor<F>,
    d_state: &mut Tensor<F>,
    d_hn: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = d_state.shape(0);
    let hidden = d_state.shape(1);
    let pos = ABSOLUTE_POS;
    if pos >= batch * hidden {
        terminate!();
    }
    let b = pos / hidden;
    let j = pos % hidden;
    let one = F::new(1.0_f32);
    let zero = F::new(0.0_f32);

    let dh = at::<F>(grad, b, j);
    let g = b * 3 * hidden;
    if real[(offset as usize + b) * real.stride(0)] > F::new(0.5_f32) {
        let s = b * 4 * hidden;
        let gate_r = saved[s + j];
        let gate_z = saved[s + hidden + j];
        let gate_n = saved[s + 2 * hidden + j];
        let hn = saved[s + 3 * hidden + j];
        let h_prev = at::<F>(state, b, j);
        let d_pre_n = dh * (one - gate_z) * (one - gate_n * gate_n);
        let d_pre_z = dh * (h_prev - gate_n) * gate_z * (one - gate_z);
        let d_pre_r = d_pre_n * hn * gate_r * (one - gate_r);
        d_xp[g + j] = d_pre_r;
        d_xp[g + hidden + j] = d_pre_z;
        d_xp[g + 2 * hidden + j] = d_pre_n;
        d_hp[g + j] = d_pre_r;
        d_hp[g + hidden + j] = d_pre_z;
        d_hp[g + 2 * hidden + j] = d_pre_n * gate_r;
        d_hn[b * hidden + j] = d_pre_n * gate_r;
        d_state[b * hidden + j] = dh * gate_z;
    } else {
        d_xp[g + j] = zero;
        d_xp[g + hidden + j] = zero;
        d_xp[g + 2 * hidden + j] = zero;
        d_hp[g + j] = zero;
        d_hp[g + hidden + j] = zero;
        d_hp[g + 2 * hidden + j] = zero;
        d_hn[b * hidden + j] = zero;
        d_state[b * hidden + j] = dh;
    }
}

/// One forward step: the new state `[B, H]` and what the backward step needs `[B, 4H]`.
pub(crate) fn forward(
    xp: CubeTensor,
    hp: CubeTensor,
    state: CubeTensor,
    bias_hn: CubeTensor,
    real: CubeTensor,
    offset: u32,
) -> (CubeTensor, CubeTensor) {
    let [batch, hidden] = state.meta.shape().dims();
    assert!(
        xp.meta.shape().dims::<2>() == [batch, 3 * hidden]
            && hp.meta.shape().dims::<2>() == [batch, 3 * hidden]
            && bias_hn.meta.shape().dims::<1>() == [hidden]
            && real.meta.shape().dims::<1>()[0] >= offset as usize + batch,
        "gru_cell: shapes checked by the entry point"
    );
    let next = empty_like(&xp, [batch, hidden]);
    let saved = empty_like(&xp, [batch, 4 * hidden]);
    let (cube_count, cube_dim) = grid(&xp, batch * hidden);
    let dtype = dtype_to_storage_type(xp.dtype);
    gru_forward_kernel::launch(
        &next.client,
        cube_count,
        cube_dim,
        xp.into_tensor_arg(),
        hp.into_tensor_arg(),
        state.into_tensor_arg(),
        bias_hn.into_tensor_arg(),
        real.into_tensor_arg(),
        offset,
        next.clone().into_tensor_arg(),
        saved.clone().into_tensor_arg(),
        dtype,
    );
    (next, saved)
}

/// The gradients of one step.
pub(crate) struct StepGradients {
    /// `[B, 3H]`.
    pub xp: CubeTensor,
    /// `[B, 3H]`.
    pub hp: CubeTensor,
    /// `[B, H]`: the previous state's.
    pub state: CubeTensor,
    /// `[B, H]`: `h·W_hn + b_hn`'s, per row (`b_hn`'s is its column sum).
    pub hn: CubeTensor,
}

/// One backward step from `grad` (of `next`), given what the forward step kept: `gates`
/// `[B, 4H]` (`r`, `z`, `n`, `h·W_hn + b_hn`), the `state` it started from `[B, H]`, and the
/// real-row mask with the step's `offset`.
pub(crate) fn backward(
    gates: CubeTensor,
    state: CubeTensor,
    real: CubeTensor,
    offset: u32,
    grad: CubeTensor,
) -> StepGradients {
    let [batch, hidden] = state.meta.shape().dims();
    let d_xp = empty_like(&gates, [batch, 3 * hidden]);
    let d_hp = empty_like(&gates, [batch, 3 * hidden]);
    let d_state = empty_like(&gates, [batch, hidden]);
    let d_hn = empty_like(&gates, [batch, hidden]);
    let (cube_count, cube_dim) = grid(&gates, batch * hidden);
    let dtype = dtype_to_storage_type(gates.dtype);
    gru_backward_kernel::launch(
        &d_xp.client,
        cube_count,
        cube_dim,
        gates.into_tensor_arg(),
        state.into_tensor_arg(),
        real.into_tensor_arg(),
        offset,
        grad.into_tensor_arg(),
        d_xp.clone().into_tensor_arg(),
        d_hp.clone().into_tensor_arg(),
        d_state.clone().into_tensor_arg(),
        d_hn.clone().into_tensor_arg(),
        dtype,
    );
    StepGradients {
        xp: d_xp,
        hp: d_hp,
        state: d_state,
        hn: d_hn,
    }
}
