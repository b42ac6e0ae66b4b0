//! The flex and autodiff-over-flex implementations of [`FusedRecurrence`]: conversions between
//! flex tensors and slices, and the hand-written backward steps.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::TensorData;

use crate::kernel::{dims, tensor, values};

use super::gru::{self, GruTrace};
use super::lstm::{self, LstmTrace};
use super::{FusedRecurrence, Shape};

/// The call's sizes from packed `proj` `[N, G·H]`, `weight_hh` `[H, G·H]` and the lengths
/// (`T` is the longest).
fn shape(proj: &FlexTensor, weight_hh: &FlexTensor, lengths: Vec<usize>) -> Shape {
    let rows = dims(proj)[0];
    let hidden = dims(weight_hh)[0];
    let batch = lengths.len();
    assert!(
        batch > 0 && rows == lengths.iter().sum::<usize>(),
        "fused recurrence: {rows} packed rows for lengths {lengths:?}"
    );
    Shape {
        steps: lengths.iter().copied().max().unwrap_or(0),
        batch,
        hidden,
        lengths,
    }
}

impl FusedRecurrence for Flex {
    fn masked_lstm(proj: FlexTensor, weight_hh: FlexTensor, lengths: Vec<usize>) -> FlexTensor {
        let shape = shape(&proj, &weight_hh, lengths);
        let (hs, _) = lstm::forward(&values(&proj), &values(&weight_hh), &shape, false);
        tensor(hs, [shape.steps * shape.batch, shape.hidden])
    }

    fn masked_gru(
        proj: FlexTensor,
        weight_hh: FlexTensor,
        bias_hn: FlexTensor,
        lengths: Vec<usize>,
    ) -> FlexTensor {
        let shape = shape(&proj, &weight_hh, lengths);
        let (hs, _) = gru::forward(
            &values(&proj),
            &values(&weight_hh),
            &values(&bias_hn),
            &shape,
            false,
        );
        tensor(hs, [shape.steps * shape.batch, shape.hidden])
    }
}

/// Saved for the LSTM's backward pass.
#[derive(Debug, Clone)]
struct LstmState {
    shape: Shape,
    weight_hh: FlexTensor,
    /// The op's output, the hidden states `[T·B, H]`.
    hs: FlexTensor,
    trace: Arc<LstmTrace>,
}

#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 2> for LstmBackward {
    type State = LstmState;

    fn backward(self, ops: Ops<LstmState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [proj_node, weight_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (dproj, dw) = lstm::backward(
            &values(&grad),
            &values(&s.hs),
            &s.trace,
            &values(&s.weight_hh),
            &s.shape,
        );
        // The packed projection: one row per real token.
        let rows = s.shape.lengths.iter().sum();
        let gates = 4 * s.shape.hidden;
        if let Some(node) = proj_node {
            grads.register::<Flex>(node.id, tensor(dproj, [rows, gates]));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, tensor(dw, [s.shape.hidden, gates]));
        }
    }
}

/// Saved for the GRU's backward pass.
#[derive(Debug, Clone)]
struct GruState {
    shape: Shape,
    weight_hh: FlexTensor,
    /// The op's output, the hidden states `[T·B, H]`.
    hs: FlexTensor,
    trace: Arc<GruTrace>,
}

#[derive(Debug)]
struct GruBackward;

impl Backward<Flex, 3> for GruBackward {
    type State = GruState;

    fn backward(self, ops: Ops<GruState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [proj_node, weight_node, bias_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (dproj, dw, db) = gru::backward(
            &values(&grad),
            &values(&s.hs),
            &s.trace,
            &values(&s.weight_hh),
            &s.shape,
        );
        // The packed projection: one row per real token.
        let rows = s.shape.lengths.iter().sum();
        let gates = 3 * s.shape.hidden;
        if let Some(node) = proj_node {
            grads.register::<Flex>(node.id, tensor(dproj, [rows, gates]));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, tensor(dw, [s.shape.hidden, gates]));
        }
        if let Some(node) = bias_node {
            let hidden = s.shape.hidden;
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(db, [hidden])),
            );
        }
    }
}

impl<C: CheckpointStrategy> FusedRecurrence for Autodiff<Flex, C> {
    fn masked_lstm(
        proj: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        lengths: Vec<usize>,
    ) -> FloatTensor<Self> {
        let nodes = [proj.node(), weight_hh.node()];
        let proj = proj.into_primitive();
        let weight_hh = weight_hh.into_primitive();
        let shape = shape(&proj, &weight_hh, lengths);
        let out_shape = [shape.steps * shape.batch, shape.hidden];
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (hs, trace) = lstm::forward(&values(&proj), &values(&weight_hh), &shape, true);
                let out = tensor(hs, out_shape);
                let state = LstmState {
                    shape,
                    weight_hh,
                    hs: out.clone(),
                    trace: Arc::new(trace.expect("traced")),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(<Flex as FusedRecurrence>::masked_lstm(
                proj,
                weight_hh,
                shape.lengths,
            )),
        }
    }

    fn masked_gru(
        proj: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        lengths: Vec<usize>,
    ) -> FloatTensor<Self> {
        let nodes = [proj.node(), weight_hh.node(), bias_hn.node()];
        let proj = proj.into_primitive();
        let weight_hh = weight_hh.into_primitive();
        let bias_hn = bias_hn.into_primitive();
        let shape = shape(&proj, &weight_hh, lengths);
        let out_shape = [shape.steps * shape.batch, shape.hidden];
        match GruBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (hs, trace) = gru::forward(
                    &values(&proj),
                    &values(&weight_hh),
                    &values(&bias_hn),
                    &shape,
                    true,
                );
                let out = tensor(hs, out_shape);
                let state = GruState {
                    shape,
                    weight_hh,
                    hs: out.clone(),
                    trace: Arc::new(trace.expect("traced")),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(<Flex as FusedRecurrence>::masked_gru(
                proj,
                weight_hh,
                bias_hn,
                shape.lengths,
            )),
        }
    }
}
