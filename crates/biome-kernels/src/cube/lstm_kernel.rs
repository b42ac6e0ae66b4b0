//! The CubeCL kernels of one masked LSTM step, forward and backward, and their launches on
//! burn's cube tensors. One thread per `(row, hidden unit)`: it reads the four gate
//! pre-activations of its unit, so a step is one launch whatever `H` is.
//!
//! Layouts (row-major, `H` = hidden size): the state is `[B, 2H]`, `h` then `c`; the gate
//! blocks are `[B, 4H]` in PyTorch's order `i f g o`; `real` holds, from `offset` on, `B` values:
//! 1 where the row's step is a real token and 0 where it is padding (the row then carries its
//! state through unchanged). It is the whole sequence's `[T·B]` mask, so that a step needs no
//! slice of it (an unaligned slice is a copy kernel of its own on the cube backends).
//! Inputs are read through their strides (a step's projection is a view of the whole
//! sequence's); outputs are fresh contiguous tensors.

use burn::backend::cubecl::dtype_to_storage_type;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::kernel_util::{at, empty_like, grid, sigmoid, tanh};

/// The forward step: `next` `[B, 2H]` is the cell's new `(h, c)` where `real`, the previous
/// state where not; `gates` `[B, 4H]` keeps the activated gates for the backward step.
#[cube(launch)]
fn lstm_forward_kernel<F: Float>(
    xp: &Tensor<F>,
    hp: &Tensor<F>,
    state: &Tensor<F>,
    real: &Tensor<F>,
    offset: u32,
    next: &mut Tensor<F>,
    gates: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = gates.shape(0);
    let hidden = gates.shape(1) / 4;
    let pos = ABSOLUTE_POS;
    if pos >= batch * hidden {
        terminate!();
    }
    let b = pos / hidden;
    let j = pos % hidden;

    let gate_i = sigmoid::<F>(at::<F>(xp, b, j) + at::<F>(hp, b, j));
    let gate_f = sigmoid::<F>(at::<F>(xp, b, hidden + j) + at::<F>(hp, b, hidden + j));
    let gate_g = tanh::<F>(at::<F>(xp, b, 2 * hidden + j) + at::<F>(hp, b, 2 * hidden + j));
    let gate_o = sigmoid::<F>(at::<F>(xp, b, 3 * hidden + j) + at::<F>(hp, b, 3 * hidden + j));
    let h_prev = at::<F>(state, b, j);
    let c_prev = at::<F>(state, b, hidden + j);

    let g = b * 4 * hidden;
    gates[g + j] = gate_i;
    gates[g + hidden + j] = gate_f;
    gates[g + 2 * hidden + j] = gate_g;
    gates[g + 3 * hidden + j] = gate_o;

    let s = b * 2 * hidden;
    if real[(offset as usize + b) * real.stride(0)] > F::new(0.5_f32) {
        let c = gate_f * c_prev + gate_i * gate_g;
        next[s + j] = gate_o * tanh::<F>(c);
        next[s + hidden + j] = c;
    } else {
        next[s + j] = h_prev;
        next[s + hidden + j] = c_prev;
    }
}

/// The backward step from `grad` `[B, 2H]` (of `next`): `d_pre` `[B, 4H]`, the gradient of the
/// gate pre-activations (= of both `xp` and `hp`), and `d_state` `[B, 2H]`, the gradient of the
/// previous state through the cell (its `h` part only reaches `h` through `hp`, so it is zero at
/// real rows; padded rows pass `grad` through and give no gate gradient).
#[cube(launch)]
fn lstm_backward_kernel<F: Float>(
    gates: &Tensor<F>,
    state: &Tensor<F>,
    next: &Tensor<F>,
    real: &Tensor<F>,
    offset: u32,
    grad: &Tensor<F>,
    d_pre: &mut Tensor<F>,
    d_state: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let batch = d_pre.shape(0);
    let hidden = d_pre.shape(1) / 4;
    let pos = ABSOLUTE_POS;
    if pos >= batch * hidden {
        terminate!();
    }
    let b = pos / hidden;
    let j = pos % hidden;
    let one = F::new(1.0_f32);
    let zero = F::new(0.0_f32);

    let dh = at::<F>(grad, b, j);
    let dc_next = at::<F>(grad, b, hidden + j);
    let g = b * 4 * hidden;
    let s = b * 2 * hidden;
    if real[(offset as usize + b) * real.stride(0)] > F::new(0.5_f32) {
        let gate_i = gates[g + j];
        let gate_f = gates[g + hidden + j];
        let gate_g = gates[g + 2 * hidden + j];
        let gate_o = gates[g + 3 * hidden + j];
        let c_prev = at::<F>(state, b, hidden + j);
        let tc = tanh::<F>(next[s + hidden + j]);
        let dc = dc_next + dh * gate_o * (one - tc * tc);
        d_pre[g + j] = dc * gate_g * gate_i * (one - gate_i);
        d_pre[g + hidden + j] = dc * c_prev * gate_f * (one - gate_f);
        d_pre[g + 2 * hidden + j] = dc * gate_i * (one - gate_g * gate_g);
        d_pre[g + 3 * hidden + j] = dh * tc * gate_o * (one - gate_o);
        d_state[s + j] = zero;
        d_state[s + hidden + j] = dc * gate_f;
    } else {
        d_pre[g + j] = zero;
        d_pre[g + hidden + j] = zero;
        d_pre[g + 2 * hidden + j] = zero;
        d_pre[g + 3 * hidden + j] = zero;
        d_state[s + j] = dh;
        d_state[s + hidden + j] = dc_next;
    }
}

/// The sizes `(B, H)` of one step, checked: `xp` and `hp` `[B, 4H]`, `state` `[B, 2H]`, `real`
/// at least `offset + B` long. Panics on a mismatch: the entry point checks the shapes first.
fn sizes(
    xp: &CubeTensor,
    hp: &CubeTensor,
    state: &CubeTensor,
    real: &CubeTensor,
    offset: u32,
) -> (usize, usize) {
    let [batch, gates] = xp.meta.shape().dims();
    let hidden = gates / 4;
    let [real_len] = real.meta.shape().dims();
    assert!(
        gates == 4 * hidden
            && hp.meta.shape().dims::<2>() == [batch, gates]
            && state.meta.shape().dims::<2>() == [batch, 2 * hidden]
            && real_len >= offset as usize + batch,
        "lstm_cell: shapes checked by the entry point"
    );
    (batch, hidden)
}

/// One forward step: the new state `[B, 2H]` and the activated gates `[B, 4H]`.
pub(crate) fn forward(
    xp: CubeTensor,
    hp: CubeTensor,
    state: CubeTensor,
    real: CubeTensor,
    offset: u32,
) -> (CubeTensor, CubeTensor) {
    let (batch, hidden) = sizes(&xp, &hp, &state, &real, offset);
    let next = empty_like(&xp, [batch, 2 * hidden]);
    let gates = empty_like(&xp, [batch, 4 * hidden]);
    let (cube_count, cube_dim) = grid(&xp, batch * hidden);
    let dtype = dtype_to_storage_type(xp.dtype);
    lstm_forward_kernel::launch(
        &next.client,
        cube_count,
        cube_dim,
        xp.into_tensor_arg(),
        hp.into_tensor_arg(),
        state.into_tensor_arg(),
        real.into_tensor_arg(),
        offset,
        next.clone().into_tensor_arg(),
        gates.clone().into_tensor_arg(),
        dtype,
    );
    (next, gates)
}

/// One backward step from `grad` (of `next`), given what the forward step kept: its activated
/// `gates` `[B, 4H]`, the `state` it started from and the `next` it produced `[B, 2H]`, and the
/// real-row mask with the step's `offset` → the gradient of the gate pre-activations `[B, 4H]`
/// and of the previous state `[B, 2H]`.
pub(crate) fn backward(
    gates: CubeTensor,
    state: CubeTensor,
    next: CubeTensor,
    real: CubeTensor,
    offset: u32,
    grad: CubeTensor,
) -> (CubeTensor, CubeTensor) {
    let [batch, width] = gates.meta.shape().dims();
    let hidden = width / 4;
    let d_pre = empty_like(&gates, [batch, width]);
    let d_state = empty_like(&gates, [batch, 2 * hidden]);
    let (cube_count, cube_dim) = grid(&gates, batch * hidden);
    let dtype = dtype_to_storage_type(gates.dtype);
    lstm_backward_kernel::launch(
        &d_pre.client,
        cube_count,
        cube_dim,
        gates.into_tensor_arg(),
        state.into_tensor_arg(),
        next.into_tensor_arg(),
        real.into_tensor_arg(),
        offset,
        grad.into_tensor_arg(),
        d_pre.clone().into_tensor_arg(),
        d_state.clone().into_tensor_arg(),
        dtype,
    );
    (d_pre, d_state)
}
