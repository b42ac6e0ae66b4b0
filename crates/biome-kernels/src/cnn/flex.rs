//! The masked CNN encoder as one backend-extension op on the flex CPU backend, with a
//! hand-written backward pass ([`super::window_max`] has the arithmetic and why it is cheap).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

use super::window_max::{self, NO_WINDOW, Pooled, Sizes};
use super::{NgramFilter, ScalarActivation};
use crate::slices::{dims, tensor, values};

/// Everything the op needs besides its tensors.
#[derive(Debug, Clone)]
pub struct CnnSpec {
    /// The n-gram sizes, in the order of the stacked weight.
    pub ngrams: Vec<usize>,
    /// `[B·T]`, true = real token.
    pub mask: Vec<bool>,
    /// Applied to the pooled maxima (non-decreasing, so equal to pooling the activations).
    pub activation: ScalarActivation,
}

/// The fused masked CNN as a burn backend extension: implemented for flex and for autodiff
/// over flex; never called on other backends.
#[backend_extension(Flex, Autodiff)]
pub trait FusedCnn: Backend {
    /// x `[B, T, D]`, every filter's `[k·D, F]` weight stacked `[Σk·D, F]`, the biases `[n·F]`
    /// → the pooled features `[B, n·F]`.
    fn masked_cnn_max(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: CnnSpec,
    ) -> FloatTensor<Self>;
}

/// The pooled features `[B, n·F]` of the banks `filters` (of equal widths, checked by the
/// caller) over `x` `[B, T, D]`.
pub(super) fn forward(
    x: &Tensor<3>,
    mask: &Tensor<2, Bool>,
    filters: &[NgramFilter],
    activation: ScalarActivation,
) -> Tensor<2> {
    let device = x.device();
    let width = filters[0].weight.dims()[1];
    let weight = Tensor::cat(filters.iter().map(|f| f.weight.clone()).collect(), 0);
    let bias = Tensor::cat(
        filters
            .iter()
            .map(|f| match &f.bias {
                Some(bias) => bias.clone(),
                None => Tensor::zeros([width], &device),
            })
            .collect(),
        0,
    );
    let spec = CnnSpec {
        ngrams: filters.iter().map(|f| f.ngram).collect(),
        mask: mask
            .clone()
            .into_data()
            .iter::<i64>()
            .map(|v| v != 0)
            .collect(),
        activation,
    };
    let out = <Dispatch as FusedCnn>::masked_cnn_max(
        x.clone().into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        spec,
    );
    Tensor::from_dispatch(out)
}

/// The call's sizes; panics when the shapes disagree (a caller's bug: `forward` builds them).
fn sizes(x: &FlexTensor, weight: &FlexTensor, spec: &CnnSpec) -> Sizes {
    let [batch, steps, dim] = dims(x)[..] else {
        panic!("fused cnn: x must be [B, T, D], got {:?}", dims(x))
    };
    let [rows, filters] = dims(weight)[..] else {
        panic!(
            "fused cnn: weight must be [Σk·D, F], got {:?}",
            dims(weight)
        )
    };
    assert_eq!(
        rows,
        spec.ngrams.iter().sum::<usize>() * dim,
        "fused cnn: weight rows"
    );
    assert_eq!(spec.mask.len(), batch * steps, "fused cnn: mask size");
    Sizes {
        batch,
        steps,
        dim,
        filters,
        ngrams: spec.ngrams.clone(),
    }
}

/// Runs the pooling; returns the maxima and the activated output `[B, n·F]`.
fn pool(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    spec: &CnnSpec,
) -> (Sizes, Pooled, FlexTensor) {
    let sizes = sizes(x, weight, spec);
    let runs = window_max::real_runs(&spec.mask, sizes.batch, sizes.steps);
    let pooled = window_max::forward(&values(x), &values(weight), &values(bias), &runs, &sizes);
    let activation = spec.activation;
    let out = pooled
        .pre
        .iter()
        .zip(&pooled.argmax)
        .map(|(&z, &a)| if a == NO_WINDOW { 0.0 } else { activation(z).0 })
        .collect();
    let out = tensor(out, [sizes.batch, sizes.width()]);
    (sizes, pooled, out)
}

impl FusedCnn for Flex {
    fn masked_cnn_max(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: CnnSpec,
    ) -> FlexTensor {
        pool(&x, &weight, &bias, &spec).2
    }
}

/// Saved for the backward pass.
#[derive(Debug, Clone)]
struct CnnState {
    x: FlexTensor,
    weight: FlexTensor,
    activation: ScalarActivation,
    sizes: Sizes,
    pooled: Arc<Pooled>,
}

#[derive(Debug)]
struct CnnBackward;

impl Backward<Flex, 3> for CnnBackward {
    type State = CnnState;

    fn backward(self, ops: Ops<CnnState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, weight_node, bias_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let activation = s.activation;
        // The gradient before the activation, at each maximum (none where there was no window).
        let gate: Vec<f32> = values(&grad)
            .iter()
            .zip(&s.pooled.pre)
            .zip(&s.pooled.argmax)
            .map(|((&g, &z), &a)| {
                if a == NO_WINDOW {
                    0.0
                } else {
                    g * activation(z).1
                }
            })
            .collect();
        let (dx, dweight, dbias) = window_max::backward(
            &values(&s.x),
            &values(&s.weight),
            &gate,
            &s.pooled.argmax,
            &s.sizes,
        );
        let sz = &s.sizes;
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor(dx, [sz.batch, sz.steps, sz.dim]));
        }
        if let Some(node) = weight_node {
            let rows = sz.ngrams.iter().sum::<usize>() * sz.dim;
            grads.register::<Flex>(node.id, tensor(dweight, [rows, sz.filters]));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, tensor(dbias, [sz.width()]));
        }
    }
}

impl<C: CheckpointStrategy> FusedCnn for Autodiff<Flex, C> {
    fn masked_cnn_max(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: CnnSpec,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let x = x.into_primitive();
        let weight = weight.into_primitive();
        let bias = bias.into_primitive();
        match CnnBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (sizes, pooled, out) = pool(&x, &weight, &bias, &spec);
                let state = CnnState {
                    x,
                    weight,
                    activation: spec.activation,
                    sizes,
                    pooled: Arc::new(pooled),
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(<Flex as FusedCnn>::masked_cnn_max(x, weight, bias, spec))
            }
        }
    }
}
