//! The burn glue of the cube recurrence cells: two backend extensions.
//!
//! - [`CubeCellKernels`]: the kernels themselves, one method each (a forward step that also
//!   returns what its backward needs, and the backward step). Implemented for burn's cube
//!   backend; with the `fusion` feature, burn's macro adds the lazy `Fusion<B>` implementation,
//!   which records each call as one opaque operation in the fusion stream (the element-wise
//!   chains around it are still fused by burn).
//! - [`FusedCubeCell`]: the cell as the models call it, forward only, for the cube backend (with
//!   or without fusion) and for autodiff over it, whose backward step calls
//!   [`CubeCellKernels`]' hand-written backward on whatever cube backend autodiff wraps.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, TensorMetadata, backend_extension};
use burn::tensor::Shape;
use burn_cubecl::CubeBackend;

use super::{gru_kernel, lstm_kernel};

/// A `[B, factor·H]` output spec beside a `[B, H]` state: what a lazy (fusion) backend needs of
/// the GRU kernels' gate-sized outputs (the other outputs copy an input's spec).
#[cfg(feature = "fusion")]
fn widened(
    state: &burn::backend::fusion::custom::TensorSpec,
    factor: usize,
) -> burn::backend::fusion::custom::TensorSpec {
    let [rows, hidden] = [state.shape[0], state.shape[1]];
    burn::backend::fusion::custom::TensorSpec::new(Shape::new([rows, factor * hidden]), state.dtype)
}

/// The cube kernels of one recurrence step, forward (with what the backward keeps) and
/// backward; see `lstm_kernel.rs` and `gru_kernel.rs` for the layouts. Called by the autodiff
/// implementation of [`FusedCubeCell`], never through `Dispatch`.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"))]
pub trait CubeCellKernels: Backend {
    /// One LSTM step → the new state `[B, 2H]` and the activated gates `[B, 4H]`.
    #[fusion(meta = |xp, _hp, state, _real, _offset| (state.clone(), xp.clone()))]
    fn lstm_forward(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The LSTM step's backward from the gradient of its new state → the gradients of the
    /// gate pre-activations `[B, 4H]` and of the previous state `[B, 2H]`.
    #[fusion(meta = |gates, state, _next, _real, _offset, _grad| (gates.clone(), state.clone()))]
    fn lstm_backward(
        gates: FloatTensor<Self>,
        state: FloatTensor<Self>,
        next: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// One GRU step → the new state `[B, H]` and the saved `r, z, n, h·W_hn + b_hn` `[B, 4H]`.
    #[fusion(meta = |_xp, _hp, state, _bias_hn, _real, _offset| (state.clone(), widened(state, 4)))]
    fn gru_forward(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The GRU step's backward → the gradients of `xp`, `hp` `[B, 3H]`, of the previous state
    /// and of `h·W_hn + b_hn` `[B, H]` (per row; `b_hn`'s is its column sum).
    #[fusion(meta = |_gates, state, _real, _offset, _grad| {
        (widened(state, 3), widened(state, 3), state.clone(), state.clone())
    })]
    fn gru_backward(
        gates: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
        grad: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

impl CubeCellKernels for CubeBackend {
    fn lstm_forward(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        lstm_kernel::forward(xp, hp, state, real, offset)
    }

    fn lstm_backward(
        gates: FloatTensor<Self>,
        state: FloatTensor<Self>,
        next: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        lstm_kernel::backward(gates, state, next, real, offset, grad)
    }

    fn gru_forward(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gru_kernel::forward(xp, hp, state, bias_hn, real, offset)
    }

    fn gru_backward(
        gates: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
        grad: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let g = gru_kernel::backward(gates, state, real, offset, grad);
        (g.xp, g.hp, g.state, g.hn)
    }
}

/// The fused recurrence cell as the models call it: implemented for the cube backend (and,
/// with `fusion`, for `Fusion` over it) and for autodiff over either; never called on other
/// backends.
#[backend_extension(Cube: cfg(feature = "wgpu"), Autodiff, Fusion: cfg(feature = "fusion"))]
pub trait FusedCubeCell: Backend {
    /// One masked LSTM step: `xp` `[B, 4H]` (the step's input projection with both biases),
    /// `hp` `[B, 4H]` (`h·W_hh`), `state` `[B, 2H]` (`h` then `c`), `real` `[N]` (from `offset`
    /// on, 1 at real rows, 0 at padded ones; a constant) → the new state `[B, 2H]`.
    #[fusion(dtype = state, shape = state)]
    fn lstm_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self>;

    /// One masked GRU step: `xp` `[B, 3H]` (the step's input projection with `b_ih` and the `r`,
    /// `z` blocks of `b_hh`), `hp` `[B, 3H]` (`h·W_hh`, no bias), `state` `[B, H]`, `bias_hn`
    /// `[H]`, `real` `[N]` and `offset` (as for the LSTM) → the new state `[B, H]`.
    #[fusion(dtype = state, shape = state)]
    fn gru_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self>;
}

impl FusedCubeCell for CubeBackend {
    fn lstm_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self> {
        lstm_kernel::forward(xp, hp, state, real, offset).0
    }

    fn gru_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self> {
        gru_kernel::forward(xp, hp, state, bias_hn, real, offset).0
    }
}

/// What the LSTM cell's backward step keeps of its forward step.
#[derive(Debug, Clone)]
struct LstmSaved<B: Backend> {
    /// `[B, 4H]` activated gates.
    gates: FloatTensor<B>,
    /// `[B, 2H]` the state the step started from.
    state: FloatTensor<B>,
    /// `[B, 2H]` the state it produced.
    next: FloatTensor<B>,
    /// `[N]` the real-row mask, the step's rows from `offset`.
    real: FloatTensor<B>,
    offset: u32,
}

/// The backward step of [`FusedCubeCell::lstm_cell`]; its parents are `xp`, `hp`, `state`.
#[derive(Debug)]
struct LstmCellBackward;

impl<B: CubeCellKernels> Backward<B, 3> for LstmCellBackward {
    type State = LstmSaved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [xp, hp, state] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let s = ops.state;
        let (d_pre, d_state) = B::lstm_backward(s.gates, s.state, s.next, s.real, s.offset, grad);
        // The pre-activations are `xp + hp`: both get the same gradient.
        if let Some(node) = xp {
            grads.register::<B>(node, d_pre.clone());
        }
        if let Some(node) = hp {
            grads.register::<B>(node, d_pre);
        }
        if let Some(node) = state {
            grads.register::<B>(node, d_state);
        }
    }
}

/// What the GRU cell's backward step keeps of its forward step.
#[derive(Debug, Clone)]
struct GruSaved<B: Backend> {
    /// `[B, 4H]`: `r`, `z`, `n`, `h·W_hn + b_hn`.
    gates: FloatTensor<B>,
    /// `[B, H]` the state the step started from.
    state: FloatTensor<B>,
    /// `[N]` the real-row mask, the step's rows from `offset`.
    real: FloatTensor<B>,
    offset: u32,
}

/// The backward step of [`FusedCubeCell::gru_cell`]; its parents are `xp`, `hp`, `state`,
/// `bias_hn`.
#[derive(Debug)]
struct GruCellBackward;

impl<B: CubeCellKernels> Backward<B, 4> for GruCellBackward {
    type State = GruSaved<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [xp, hp, state, bias_hn] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<B>(&ops.node);
        let s = ops.state;
        let [_, hidden] = s.state.shape().dims();
        let (d_xp, d_hp, d_state, d_hn) = B::gru_backward(s.gates, s.state, s.real, s.offset, grad);
        if let Some(node) = xp {
            grads.register::<B>(node, d_xp);
        }
        if let Some(node) = hp {
            grads.register::<B>(node, d_hp);
        }
        if let Some(node) = state {
            grads.register::<B>(node, d_state);
        }
        if let Some(node) = bias_hn {
            let sum = B::float_sum_dim(d_hn, 0);
            grads.register::<B>(node, B::float_reshape(sum, Shape::new([hidden])));
        }
    }
}

impl<B: CubeCellKernels, C: CheckpointStrategy> FusedCubeCell for Autodiff<B, C> {
    fn lstm_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self> {
        let nodes = [xp.node(), hp.node(), state.node()];
        let (xp, hp, state, real) = (
            xp.into_primitive(),
            hp.into_primitive(),
            state.into_primitive(),
            real.into_primitive(),
        );
        match LstmCellBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (next, gates) = B::lstm_forward(xp, hp, state.clone(), real.clone(), offset);
                let saved = LstmSaved {
                    gates,
                    state,
                    next: next.clone(),
                    real,
                    offset,
                };
                prep.finish(saved, next)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lstm_forward(xp, hp, state, real, offset).0),
        }
    }

    fn gru_cell(
        xp: FloatTensor<Self>,
        hp: FloatTensor<Self>,
        state: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        real: FloatTensor<Self>,
        offset: u32,
    ) -> FloatTensor<Self> {
        let nodes = [xp.node(), hp.node(), state.node(), bias_hn.node()];
        let (xp, hp, state, bias_hn, real) = (
            xp.into_primitive(),
            hp.into_primitive(),
            state.into_primitive(),
            bias_hn.into_primitive(),
            real.into_primitive(),
        );
        match GruCellBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (next, gates) =
                    B::gru_forward(xp, hp, state.clone(), bias_hn, real.clone(), offset);
                let saved = GruSaved {
                    gates,
                    state,
                    real,
                    offset,
                };
                prep.finish(saved, next)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::gru_forward(xp, hp, state, bias_hn, real, offset).0)
            }
        }
    }
}
