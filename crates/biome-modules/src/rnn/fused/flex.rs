//! The flex and autodiff-over-flex implementations of [`FusedRecurrence`]: the packed input
//! projection, the recurrence, and the hand-written backward steps.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};

use crate::kernel::{dims, tensor, values};

use super::gru::{self, GruTrace};
use super::lstm::{self, LstmTrace};
use super::{FusedRecurrence, Rows, Shape, pack_index, projection};

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
/// projects the real tokens' rows. Panics on a mismatch: `recurrence.rs` builds them.
fn project(
    input: &FlexTensor,
    weight_ih: &FlexTensor,
    bias: &FlexTensor,
    weight_hh: &FlexTensor,
    rows: Rows,
) -> Projected {
    let hidden = dims(weight_hh)[0];
    let batch = rows.lengths.len();
    let steps = rows.lengths.iter().copied().max().unwrap_or(0);
    let [input_rows, input_dim] = dims(input)[..] else {
        panic!(
            "fused recurrence: input must be [T·B, D], got {:?}",
            dims(input)
        )
    };
    assert!(
        batch > 0 && input_rows == steps * batch && dims(weight_ih)[0] == input_dim,
        "fused recurrence: input {:?}, weight_ih {:?} for lengths {:?}",
        dims(input),
        dims(weight_ih),
        rows.lengths
    );
    let index = pack_index(&rows.lengths, rows.reversed);
    let projected = projection::forward(&values(input), &values(weight_ih), &values(bias), &index);
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

impl Projected {
    /// The untraced call's output: `hs` as the cells wrote it, every step's states `[T·B, H]`,
    /// or with `final_only` (the cells then ran without `all_steps`) the final ones `[B, H]`.
    fn output(&self, hs: Vec<f32>) -> FlexTensor {
        let Shape { batch, hidden, .. } = self.shape;
        let rows = if self.final_only {
            batch
        } else {
            self.shape.steps * batch
        };
        tensor(hs, [rows, hidden])
    }

    /// The traced call's every-step states `[T·B, H]` (kept for the backward pass) and its
    /// output (the same tensor, or a copy of the final states).
    fn traced_outputs(&self, hs: Vec<f32>) -> (FlexTensor, FlexTensor) {
        let Shape {
            steps,
            batch,
            hidden,
            ..
        } = self.shape;
        let out = self
            .final_only
            .then(|| tensor(hs[(steps - 1) * batch * hidden..].to_vec(), [batch, hidden]));
        let all = tensor(hs, [steps * batch, hidden]);
        (all.clone(), out.unwrap_or(all))
    }
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

impl FusedRecurrence for Flex {
    fn masked_lstm(
        input: FlexTensor,
        weight_ih: FlexTensor,
        bias: FlexTensor,
        weight_hh: FlexTensor,
        rows: Rows,
    ) -> FlexTensor {
        let p = project(&input, &weight_ih, &bias, &weight_hh, rows);
        let (hs, _) = lstm::forward(
            &p.projected.proj,
            &values(&weight_hh),
            &p.shape,
            false,
            !p.final_only,
        );
        p.output(hs)
    }

    fn masked_gru(
        input: FlexTensor,
        weight_ih: FlexTensor,
        bias: FlexTensor,
        weight_hh: FlexTensor,
        bias_hn: FlexTensor,
        rows: Rows,
    ) -> FlexTensor {
        let p = project(&input, &weight_ih, &bias, &weight_hh, rows);
        let (hs, _) = gru::forward(
            &p.projected.proj,
            &values(&weight_hh),
            &values(&bias_hn),
            &p.shape,
            false,
            !p.final_only,
        );
        p.output(hs)
    }
}

/// What both cells' backward passes keep of the projection.
#[derive(Debug, Clone)]
struct ProjectionState {
    weight_ih: FlexTensor,
    input_dim: usize,
    index: Arc<Vec<usize>>,
    /// `[N, D]`: the packed input rows.
    packed_input: Arc<Vec<f32>>,
}

impl ProjectionState {
    fn new(weight_ih: FlexTensor, p: &mut Projected) -> Self {
        Self {
            weight_ih,
            input_dim: p.input_dim,
            index: Arc::new(std::mem::take(&mut p.index)),
            packed_input: Arc::new(std::mem::take(&mut p.projected.input)),
        }
    }

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

/// Saved for the LSTM's backward pass.
#[derive(Debug, Clone)]
struct LstmState {
    shape: Shape,
    final_only: bool,
    projection: ProjectionState,
    weight_hh: FlexTensor,
    /// Every step's hidden states `[T·B, H]`.
    hs: FlexTensor,
    trace: Arc<LstmTrace>,
}

#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 4> for LstmBackward {
    type State = LstmState;

    fn backward(self, ops: Ops<LstmState, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, weight_ih_node, bias_node, weight_hh_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (dproj, dw) = lstm::backward(
            &steps_gradient(&grad, &s.shape, s.final_only),
            &values(&s.hs),
            &s.trace,
            &values(&s.weight_hh),
            &s.shape,
        );
        if let Some(node) = weight_hh_node {
            grads.register::<Flex>(node.id, tensor(dw, [s.shape.hidden, 4 * s.shape.hidden]));
        }
        let nodes = [input_node, weight_ih_node, bias_node].map(|n| n.map(|n| n.id));
        s.projection.register(&dproj, &s.shape, nodes, grads);
    }
}

/// Saved for the GRU's backward pass.
#[derive(Debug, Clone)]
struct GruState {
    shape: Shape,
    final_only: bool,
    projection: ProjectionState,
    weight_hh: FlexTensor,
    /// Every step's hidden states `[T·B, H]`.
    hs: FlexTensor,
    trace: Arc<GruTrace>,
}

#[derive(Debug)]
struct GruBackward;

impl Backward<Flex, 5> for GruBackward {
    type State = GruState;

    fn backward(self, ops: Ops<GruState, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [
            input_node,
            weight_ih_node,
            bias_node,
            weight_hh_node,
            bias_hn_node,
        ] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (dproj, dw, db) = gru::backward(
            &steps_gradient(&grad, &s.shape, s.final_only),
            &values(&s.hs),
            &s.trace,
            &values(&s.weight_hh),
            &s.shape,
        );
        let hidden = s.shape.hidden;
        if let Some(node) = weight_hh_node {
            grads.register::<Flex>(node.id, tensor(dw, [hidden, 3 * hidden]));
        }
        if let Some(node) = bias_hn_node {
            grads.register::<Flex>(node.id, tensor(db, [hidden]));
        }
        let nodes = [input_node, weight_ih_node, bias_node].map(|n| n.map(|n| n.id));
        s.projection.register(&dproj, &s.shape, nodes, grads);
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
        let input = input.into_primitive();
        let weight_ih = weight_ih.into_primitive();
        let bias = bias.into_primitive();
        let weight_hh = weight_hh.into_primitive();
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let mut p = project(&input, &weight_ih, &bias, &weight_hh, rows);
                let (hs, trace) =
                    lstm::forward(&p.projected.proj, &values(&weight_hh), &p.shape, true, true);
                let (all, out) = p.traced_outputs(hs);
                let state = LstmState {
                    projection: ProjectionState::new(weight_ih, &mut p),
                    final_only: p.final_only,
                    shape: p.shape,
                    weight_hh,
                    hs: all,
                    trace: Arc::new(trace.expect("traced")),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(<Flex as FusedRecurrence>::masked_lstm(
                input, weight_ih, bias, weight_hh, rows,
            )),
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
        let input = input.into_primitive();
        let weight_ih = weight_ih.into_primitive();
        let bias = bias.into_primitive();
        let weight_hh = weight_hh.into_primitive();
        let bias_hn = bias_hn.into_primitive();
        match GruBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let mut p = project(&input, &weight_ih, &bias, &weight_hh, rows);
                let (hs, trace) = gru::forward(
                    &p.projected.proj,
                    &values(&weight_hh),
                    &values(&bias_hn),
                    &p.shape,
                    true,
                    true,
                );
                let (all, out) = p.traced_outputs(hs);
                let state = GruState {
                    projection: ProjectionState::new(weight_ih, &mut p),
                    final_only: p.final_only,
                    shape: p.shape,
                    weight_hh,
                    hs: all,
                    trace: Arc::new(trace.expect("traced")),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(<Flex as FusedRecurrence>::masked_gru(
                input, weight_ih, bias, weight_hh, bias_hn, rows,
            )),
        }
    }
}
