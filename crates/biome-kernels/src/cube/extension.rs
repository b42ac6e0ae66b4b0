//! The burn glue of the cube recurrence cell: a backend extension implemented for burn's cube
//! backend and for autodiff over it, whose backward step is the hand-written backward kernel.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, backend_extension};
use burn::tensor::Shape;
use burn_cubecl::CubeBackend;

use super::{gru_kernel, lstm_kernel};

/// The fused recurrence cell as a burn backend extension: implemented for the cube backend and
/// for autodiff over it; never called on other backends.
#[backend_extension(Cube: cfg(feature = "wgpu"), Autodiff)]
pub trait FusedCubeCell: Backend {
    /// One masked LSTM step: `xp` `[B, 4H]` (the step's input projection with both biases),
    /// `hp` `[B, 4H]` (`h·W_hh`), `state` `[B, 2H]` (`h` then `c`), `real` `[N]` (from `offset`
    /// on, 1 at real rows, 0 at padded ones; a constant) → the new state `[B, 2H]`.
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

/// The backward step of [`FusedCubeCell::lstm_cell`]; its parents are `xp`, `hp`, `state`.
#[derive(Debug)]
struct LstmCellBackward;

impl Backward<CubeBackend, 3> for LstmCellBackward {
    type State = lstm_kernel::Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [xp, hp, state] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<CubeBackend>(&ops.node);
        let (d_pre, d_state) = lstm_kernel::backward(ops.state, grad);
        // The pre-activations are `xp + hp`: both get the same gradient.
        if let Some(node) = xp {
            grads.register::<CubeBackend>(node, d_pre.clone());
        }
        if let Some(node) = hp {
            grads.register::<CubeBackend>(node, d_pre);
        }
        if let Some(node) = state {
            grads.register::<CubeBackend>(node, d_state);
        }
    }
}

/// The backward step of [`FusedCubeCell::gru_cell`]; its parents are `xp`, `hp`, `state`,
/// `bias_hn`.
#[derive(Debug)]
struct GruCellBackward;

impl Backward<CubeBackend, 4> for GruCellBackward {
    type State = gru_kernel::Saved;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [xp, hp, state, bias_hn] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<CubeBackend>(&ops.node);
        let [_, hidden] = ops.state.state.meta.shape().dims();
        let g = gru_kernel::backward(ops.state, grad);
        if let Some(node) = xp {
            grads.register::<CubeBackend>(node, g.xp);
        }
        if let Some(node) = hp {
            grads.register::<CubeBackend>(node, g.hp);
        }
        if let Some(node) = state {
            grads.register::<CubeBackend>(node, g.state);
        }
        if let Some(node) = bias_hn {
            let sum = CubeBackend::float_sum_dim(g.hn, 0);
            let d_bias = CubeBackend::float_reshape(sum, Shape::new([hidden]));
            grads.register::<CubeBackend>(node, d_bias);
        }
    }
}

impl<C: CheckpointStrategy> FusedCubeCell for Autodiff<CubeBackend, C> {
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
                let (next, gates) =
                    lstm_kernel::forward(xp, hp, state.clone(), real.clone(), offset);
                let saved = lstm_kernel::Saved {
                    gates,
                    state,
                    next: next.clone(),
                    real,
                    offset,
                };
                prep.finish(saved, next)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(lstm_kernel::forward(xp, hp, state, real, offset).0)
            }
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
                    gru_kernel::forward(xp, hp, state.clone(), bias_hn, real.clone(), offset);
                let saved = gru_kernel::Saved {
                    gates,
                    state,
                    real,
                    offset,
                };
                prep.finish(saved, next)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(gru_kernel::forward(xp, hp, state, bias_hn, real, offset).0)
            }
        }
    }
}
