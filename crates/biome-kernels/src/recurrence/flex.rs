//! The burn glue of the fused recurrences: a backend extension implemented for flex and for
//! autodiff over flex, whose backward steps hand the saved state to the driver. Everything
//! here is the same for every cell but the op's arity (the GRU has one tensor more, `b_hn`).

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};

use super::cell::GatedCell;
use super::driver::{self, Trace};
use super::gru::Gru;
use super::lstm::Lstm;
use super::{Rows, Shape, pack_index, projection};
use crate::slices::{dims, tensor, values};

/// The fused recurrences as a burn backend extension: implemented for flex and for autodiff over
/// flex (with the hand-written backward); never called on other backends.
#[backend_extension(Flex, Autodiff)]
pub trait FusedRecurrence: Backend {
    /// LSTM: `input` `[T·B, D]`, `weight_ih` `[D, 4H]`, `bias` `[4H]` (both LSTM biases),
    /// `weight_hh` `[H, 4H]` → hidden states `[T·B, H]` (`T` = the longest length), or `[B, H]`
    /// with `rows.final_only`.
    fn masked_lstm(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self>;

    /// GRU: `input` `[T·B, D]`, `weight_ih` `[D, 3H]`, `bias` `[3H]` (`b_ih` plus the r and z
    /// blocks of `b_hh`), `weight_hh` `[H, 3H]`, `bias_hn` `[H]` → hidden states `[T·B, H]`, or
    /// `[B, H]` with `rows.final_only`.
    fn masked_gru(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self>;
}

/// The tensors every fused recurrence takes, whatever its cell.
struct Inputs {
    input: FlexTensor,
    weight_ih: FlexTensor,
    bias: FlexTensor,
    weight_hh: FlexTensor,
}

/// One call's sizes and its packed projection.
struct Projected {
    shape: Shape,
    /// Return only the final states `[B, H]`.
    final_only: bool,
    /// The input's feature size `D`.
    input_dim: usize,
    /// The step-major input row of each packed row.
    index: Vec<usize>,
    projected: projection::Projected,
}

/// Checks the shapes (`input` `[T·B, D]`, `weight_ih` `[D, G·H]`, `weight_hh` `[H, G·H]`) and
/// projects the real tokens' rows. Panics on a mismatch: the callers build them.
fn project(x: &Inputs, rows: Rows) -> Projected {
    let hidden = dims(&x.weight_hh)[0];
    let batch = rows.lengths.len();
    let steps = rows.lengths.iter().copied().max().unwrap_or(0);
    let [input_rows, input_dim] = dims(&x.input)[..] else {
        panic!(
            "fused recurrence: input must be [T·B, D], got {:?}",
            dims(&x.input)
        )
    };
    assert!(
        batch > 0 && input_rows == steps * batch && dims(&x.weight_ih)[0] == input_dim,
        "fused recurrence: input {:?}, weight_ih {:?} for lengths {:?}",
        dims(&x.input),
        dims(&x.weight_ih),
        rows.lengths
    );
    let index = pack_index(&rows.lengths, rows.reversed);
    let projected = projection::forward(
        &values(&x.input),
        &values(&x.weight_ih),
        &values(&x.bias),
        &index,
    );
    Projected {
        final_only: rows.final_only,
        shape: Shape {
            steps,
            batch,
            hidden,
            lengths: rows.lengths,
        },
        input_dim,
        index,
        projected,
    }
}

/// The call without autodiff: every step's states `[T·B, H]`, or with `final_only` (the driver
/// then keeps no per-step states) the final ones `[B, H]`.
fn untraced<C: GatedCell>(cell: &C, x: Inputs, rows: Rows) -> FlexTensor {
    let p = project(&x, rows);
    let (hs, _) = driver::forward(
        cell,
        &p.projected.proj,
        &values(&x.weight_hh),
        &p.shape,
        false,
        !p.final_only,
    );
    let Shape { batch, hidden, .. } = p.shape;
    let out_rows = if p.final_only {
        batch
    } else {
        p.shape.steps * batch
    };
    tensor(hs, [out_rows, hidden])
}

/// What the backward pass keeps of the projection.
#[derive(Debug, Clone)]
struct ProjectionState {
    weight_ih: FlexTensor,
    input_dim: usize,
    index: Arc<Vec<usize>>,
    /// `[N, D]`: the packed input rows.
    packed_input: Arc<Vec<f32>>,
}

impl ProjectionState {
    /// Registers the gradients of the input, `W_ih` and the bias from the packed `dproj`.
    fn register(
        &self,
        dproj: &[f32],
        shape: &Shape,
        nodes: [Option<NodeId>; 3],
        grads: &mut Gradients,
    ) {
        let [input_node, weight_node, bias_node] = nodes;
        let rows = shape.steps * shape.batch;
        let (dinput, dweight, dbias) = projection::backward(
            dproj,
            &self.packed_input,
            &values(&self.weight_ih),
            &self.index,
            rows,
        );
        let width = dbias.len();
        if let Some(node) = input_node {
            grads.register::<Flex>(node, tensor(dinput, [rows, self.input_dim]));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node, tensor(dweight, [self.input_dim, width]));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node, tensor(dbias, [width]));
        }
    }
}

/// Saved for the backward pass of a cell `C`.
#[derive(Debug, Clone)]
struct RecurrenceState<C> {
    cell: C,
    shape: Shape,
    final_only: bool,
    projection: ProjectionState,
    weight_hh: FlexTensor,
    /// Every step's hidden states `[T·B, H]`.
    hs: FlexTensor,
    trace: Arc<Trace>,
}

/// The traced call: runs the sequence keeping every step, and returns the state for the
/// backward pass with the op's output (every step's states, or a copy of the final ones).
fn traced<C: GatedCell>(cell: C, x: Inputs, rows: Rows) -> (RecurrenceState<C>, FlexTensor) {
    let mut p = project(&x, rows);
    let (hs, trace) = driver::forward(
        &cell,
        &p.projected.proj,
        &values(&x.weight_hh),
        &p.shape,
        true,
        true,
    );
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = p.shape;
    let out = p
        .final_only
        .then(|| tensor(hs[(steps - 1) * batch * hidden..].to_vec(), [batch, hidden]));
    let all = tensor(hs, [steps * batch, hidden]);
    let out = out.unwrap_or_else(|| all.clone());
    let state = RecurrenceState {
        cell,
        projection: ProjectionState {
            weight_ih: x.weight_ih,
            input_dim: p.input_dim,
            index: Arc::new(std::mem::take(&mut p.index)),
            packed_input: Arc::new(std::mem::take(&mut p.projected.input)),
        },
        final_only: p.final_only,
        shape: p.shape,
        weight_hh: x.weight_hh,
        hs: all,
        trace: Arc::new(trace.expect("traced")),
    };
    (state, out)
}

/// The gradient of every step's states `[T·B, H]` from the op's output gradient: itself, or
/// (with `final_only`) zeros but at the last step.
fn steps_gradient(grad: &FlexTensor, shape: &Shape, final_only: bool) -> Vec<f32> {
    let grad = values(grad);
    if !final_only {
        return grad.into_owned();
    }
    let bh = shape.batch * shape.hidden;
    let mut full = vec![0.0f32; shape.steps * bh];
    full[(shape.steps - 1) * bh..].copy_from_slice(&grad);
    full
}

/// The backward step of any cell from the gradient of the op's output: `nodes` are the op's parents (input, `W_ih`, bias, `W_hh`),
/// `own` those of the cell's own parameters, in [`GatedCell::own_gradients`]' order (the GRU's
/// `b_hn`).
fn backward<C: GatedCell>(
    s: RecurrenceState<C>,
    grad: FlexTensor,
    nodes: [Option<NodeId>; 4],
    own: Option<NodeId>,
    grads: &mut Gradients,
) {
    let g = driver::backward(
        &s.cell,
        &steps_gradient(&grad, &s.shape, s.final_only),
        &values(&s.hs),
        &s.trace,
        &values(&s.weight_hh),
        &s.shape,
    );
    let [input_node, weight_ih_node, bias_node, weight_hh_node] = nodes;
    let hidden = s.shape.hidden;
    if let Some(node) = weight_hh_node {
        grads.register::<Flex>(node, tensor(g.dweight_hh, [hidden, C::GATES * hidden]));
    }
    if let Some(node) = own {
        let width = g.own.len();
        grads.register::<Flex>(node, tensor(g.own, [width]));
    }
    s.projection.register(
        &g.dproj,
        &s.shape,
        [input_node, weight_ih_node, bias_node],
        grads,
    );
}

/// The backward step of a fused recurrence with cell `C`.
#[derive(Debug)]
struct RecurrenceBackward<C>(std::marker::PhantomData<C>);

impl<C> RecurrenceBackward<C> {
    fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl Backward<Flex, 4> for RecurrenceBackward<Lstm> {
    type State = RecurrenceState<Lstm>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let nodes = ops.parents.map(|n| n.map(|n| n.id));
        backward(ops.state, grad, nodes, None, grads);
    }
}

impl Backward<Flex, 5> for RecurrenceBackward<Gru> {
    type State = RecurrenceState<Gru>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input, weight_ih, bias, weight_hh, bias_hn] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<Flex>(&ops.node);
        let nodes = [input, weight_ih, bias, weight_hh];
        backward(ops.state, grad, nodes, bias_hn, grads);
    }
}

impl FusedRecurrence for Flex {
    fn masked_lstm(
        input: FlexTensor,
        weight_ih: FlexTensor,
        bias: FlexTensor,
        weight_hh: FlexTensor,
        rows: Rows,
    ) -> FlexTensor {
        let x = Inputs {
            input,
            weight_ih,
            bias,
            weight_hh,
        };
        untraced(&Lstm, x, rows)
    }

    fn masked_gru(
        input: FlexTensor,
        weight_ih: FlexTensor,
        bias: FlexTensor,
        weight_hh: FlexTensor,
        bias_hn: FlexTensor,
        rows: Rows,
    ) -> FlexTensor {
        let cell = Gru {
            bias_hn: values(&bias_hn).into_owned(),
        };
        let x = Inputs {
            input,
            weight_ih,
            bias,
            weight_hh,
        };
        untraced(&cell, x, rows)
    }
}

impl<C: CheckpointStrategy> FusedRecurrence for Autodiff<Flex, C> {
    fn masked_lstm(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self> {
        let nodes = [
            input.node(),
            weight_ih.node(),
            bias.node(),
            weight_hh.node(),
        ];
        let x = Inputs {
            input: input.into_primitive(),
            weight_ih: weight_ih.into_primitive(),
            bias: bias.into_primitive(),
            weight_hh: weight_hh.into_primitive(),
        };
        match RecurrenceBackward::<Lstm>::new()
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (state, out) = traced(Lstm, x, rows);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(untraced(&Lstm, x, rows)),
        }
    }

    fn masked_gru(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self> {
        let nodes = [
            input.node(),
            weight_ih.node(),
            bias.node(),
            weight_hh.node(),
            bias_hn.node(),
        ];
        let cell = Gru {
            bias_hn: values(&bias_hn.into_primitive()).into_owned(),
        };
        let x = Inputs {
            input: input.into_primitive(),
            weight_ih: weight_ih.into_primitive(),
            bias: bias.into_primitive(),
            weight_hh: weight_hh.into_primitive(),
        };
        match RecurrenceBackward::<Gru>::new()
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (state, out) = traced(cell, x, rows);
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(untraced(&cell, x, rows)),
        }
    }
}
