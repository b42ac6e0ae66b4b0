//! LayerNorm over the last dimension as one flex op, with a hand-written backward under autodiff.
//!
//! burn's `LayerNorm` calls the backend's `layer_norm`, which burn-flex implements natively but
//! burn's autodiff does not: under autodiff it is the default composition (mean, subtract,
//! square, mean, add, sqrt, divide, scale, shift), nine ops with their `[N, D]` intermediates and
//! their backward. all-MiniLM-L6-v2 runs 13 of them per text in a train step. Here the forward
//! is one pass per row, keeping `x̂ = (x − μ)·r` and `r = 1/√(σ² + ε)` for the backward, which is
//! one more pass: with `ĝ = g ⊙ γ`,
//! `dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))`, `dγ = Σ_rows g ⊙ x̂`, `dβ = Σ_rows g`.

use burn::prelude::*;

use crate::policy::{FusedOp, is_enabled};

/// `(x − μ) / √(σ² + ε) · γ + β` over the last dimension of `x` (`σ²` the biased variance, as
/// burn and PyTorch compute it), with or without autodiff; `None` where the composed path must
/// run: not f32 tensors on flex, an empty last dimension, `γ` or `β` not as long as it, or the
/// op switched off ([`FusedOp::LayerNorm`]).
pub fn layer_norm<const D: usize>(
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    epsilon: f64,
) -> Option<Tensor<D>> {
    let width = x.dims()[D - 1];
    if !is_enabled(FusedOp::LayerNorm)
        || width == 0
        || gamma.dims() != [width]
        || beta.dims() != [width]
    {
        return None;
    }
    flex::layer_norm(x, gamma, beta, epsilon as f32)
}

/// The arithmetic on slices (flex only).
#[cfg(feature = "flex")]
mod arithmetic {
    use crate::row_reductions::{dot, rows_per_task, sum_of};

    /// The forward's results: the output, and what the backward needs.
    pub(super) struct Normalized {
        /// `x̂ · γ + β`, `[N, D]`.
        pub out: Vec<f32>,
        /// `x̂ = (x − μ) · r`, `[N, D]`.
        pub normalized: Vec<f32>,
        /// `r = 1 / √(σ² + ε)`, one per row.
        pub inverse_std: Vec<f32>,
    }

    /// Every row of `x` (`gamma.len()` values each) normalised, scaled and shifted.
    pub(super) fn forward(x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f32) -> Normalized {
        use rayon::prelude::*;
        let d = gamma.len();
        assert!(
            d > 0 && x.len().is_multiple_of(d),
            "layer_norm: input not whole rows"
        );
        let per_task = rows_per_task(d);
        let mut out = vec![0f32; x.len()];
        let mut normalized = vec![0f32; x.len()];
        let mut inverse_std = vec![0f32; x.len() / d];
        out.par_chunks_mut(per_task * d)
            .zip(normalized.par_chunks_mut(per_task * d))
            .zip(inverse_std.par_chunks_mut(per_task))
            .zip(x.par_chunks(per_task * d))
            .for_each(|(((out, normalized), inverse_std), x)| {
                forward_rows(out, normalized, inverse_std, x, gamma, beta, epsilon);
            });
        Normalized {
            out,
            normalized,
            inverse_std,
        }
    }

    with_avx2_build! {
        /// Whole rows of `x` into `out`, `x̂` and `r`.
        fn forward_rows(
            out: &mut [f32],
            normalized: &mut [f32],
            inverse_std: &mut [f32],
            x: &[f32],
            gamma: &[f32],
            beta: &[f32],
            epsilon: f32,
        ) {
            let d = gamma.len();
            let rows = out
                .chunks_mut(d)
                .zip(normalized.chunks_mut(d))
                .zip(inverse_std.iter_mut())
                .zip(x.chunks(d));
            for (((out, xhat), r), x) in rows {
                let mean = sum_of(x) / d as f32;
                for (c, &x) in xhat.iter_mut().zip(x) {
                    *c = x - mean;
                }
                // Two passes (centre, then square): no cancellation of E[x²] − μ².
                *r = 1.0 / (dot(xhat, xhat) / d as f32 + epsilon).sqrt();
                for (((o, c), &g), &b) in out.iter_mut().zip(xhat.iter_mut()).zip(gamma).zip(beta) {
                    *c *= *r;
                    *o = *c * g + b;
                }
            }
        }
    }

    /// The gradients of `x`, `γ` and `β` from the output's gradient `g` and the forward's
    /// `x̂` and `r`.
    pub(super) fn backward(
        normalized: &[f32],
        inverse_std: &[f32],
        gamma: &[f32],
        g: &[f32],
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        use rayon::prelude::*;
        let d = gamma.len();
        assert_eq!(
            normalized.len(),
            g.len(),
            "layer_norm backward: gradient of another shape"
        );
        let per_task = rows_per_task(d);
        let mut dx = vec![0f32; g.len()];
        let zeros = || (vec![0f32; d], vec![0f32; d]);
        let (d_gamma, d_beta) = dx
            .par_chunks_mut(per_task * d)
            .zip(normalized.par_chunks(per_task * d))
            .zip(inverse_std.par_chunks(per_task))
            .zip(g.par_chunks(per_task * d))
            .map(|(((dx, xhat), inverse_std), g)| {
                let (mut d_gamma, mut d_beta) = zeros();
                backward_rows(dx, &mut d_gamma, &mut d_beta, xhat, inverse_std, gamma, g);
                (d_gamma, d_beta)
            })
            .reduce(zeros, |(mut ga, mut ba), (gb, bb)| {
                ga.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
                ba.iter_mut().zip(bb).for_each(|(a, b)| *a += b);
                (ga, ba)
            });
        (dx, d_gamma, d_beta)
    }

    with_avx2_build! {
        /// Whole rows: `dx` written, `dγ` and `dβ` added to.
        fn backward_rows(
            dx: &mut [f32],
            d_gamma: &mut [f32],
            d_beta: &mut [f32],
            normalized: &[f32],
            inverse_std: &[f32],
            gamma: &[f32],
            g: &[f32],
        ) {
            let d = gamma.len();
            let mut scaled = vec![0f32; d];
            let rows = dx.chunks_mut(d).zip(normalized.chunks(d)).zip(inverse_std).zip(g.chunks(d));
            for (((dx, xhat), &r), g) in rows {
                for (((s, &g), &gm), db) in scaled.iter_mut().zip(g).zip(gamma).zip(d_beta.iter_mut()) {
                    *s = g * gm;
                    *db += g;
                }
                for ((dg, &g), &x) in d_gamma.iter_mut().zip(g).zip(xhat) {
                    *dg += g * x;
                }
                let mean_scaled = sum_of(&scaled) / d as f32;
                let mean_scaled_x = dot(&scaled, xhat) / d as f32;
                for ((dx, &s), &x) in dx.iter_mut().zip(&scaled).zip(xhat) {
                    *dx = r * (s - mean_scaled - x * mean_scaled_x);
                }
            }
        }
    }
}

#[cfg(not(feature = "flex"))]
mod flex {
    use burn::prelude::*;

    pub(super) fn layer_norm<const D: usize>(
        _: &Tensor<D>,
        _: &Tensor<1>,
        _: &Tensor<1>,
        _: f32,
    ) -> Option<Tensor<D>> {
        None
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
    use burn::prelude::*;

    use super::arithmetic::Normalized;
    use crate::slices::{dims, on_flex, tensor, values};

    #[backend_extension(Flex, Autodiff)]
    pub trait FusedLayerNorm: Backend {
        /// `x` `[…, D]`, `gamma` and `beta` `[D]` → LayerNorm of `x` over its last dimension.
        fn fused_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f32,
        ) -> FloatTensor<Self>;
    }

    fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, epsilon: f32) -> Normalized {
        super::arithmetic::forward(&values(x), &values(gamma), &values(beta), epsilon)
    }

    impl FusedLayerNorm for Flex {
        fn fused_layer_norm(
            x: FlexTensor,
            gamma: FlexTensor,
            beta: FlexTensor,
            epsilon: f32,
        ) -> FlexTensor {
            tensor(forward(&x, &gamma, &beta, epsilon).out, dims(&x))
        }
    }

    #[derive(Debug)]
    struct LayerNormBackward;

    /// What the backward keeps: `x̂` (shaped as `x`), `r` per row, `γ`.
    type Saved = (FlexTensor, Vec<f32>, FlexTensor);

    impl Backward<Flex, 3> for LayerNormBackward {
        type State = Saved;

        fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [x_node, gamma_node, beta_node] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (normalized, inverse_std, gamma) = &ops.state;
            let (dx, d_gamma, d_beta) = super::arithmetic::backward(
                &values(normalized),
                inverse_std,
                &values(gamma),
                &values(&grad),
            );
            let width = d_gamma.len();
            if let Some(node) = x_node {
                grads.register::<Flex>(node.id, tensor(dx, dims(normalized)));
            }
            if let Some(node) = gamma_node {
                grads.register::<Flex>(node.id, tensor(d_gamma, [width]));
            }
            if let Some(node) = beta_node {
                grads.register::<Flex>(node.id, tensor(d_beta, [width]));
            }
        }
    }

    impl<C: CheckpointStrategy> FusedLayerNorm for Autodiff<Flex, C> {
        fn fused_layer_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f32,
        ) -> FloatTensor<Self> {
            let nodes = [x.node(), gamma.node(), beta.node()];
            let (x, gamma, beta) = (
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
            );
            let shape = dims(&x);
            let result = forward(&x, &gamma, &beta, epsilon);
            match LayerNormBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let saved = (
                        tensor(result.normalized, shape.clone()),
                        result.inverse_std,
                        gamma,
                    );
                    prep.finish(saved, tensor(result.out, shape))
                }
                OpsKind::UnTracked(prep) => prep.finish(tensor(result.out, shape)),
            }
        }
    }

    pub(super) fn layer_norm<const D: usize>(
        x: &Tensor<D>,
        gamma: &Tensor<1>,
        beta: &Tensor<1>,
        epsilon: f32,
    ) -> Option<Tensor<D>> {
        if !(on_flex(x) && on_flex(gamma) && on_flex(beta)) {
            return None;
        }
        let out = <Dispatch as FusedLayerNorm>::fused_layer_norm(
            x.clone().into_dispatch(),
            gamma.clone().into_dispatch(),
            beta.clone().into_dispatch(),
            epsilon,
        );
        Some(Tensor::from_dispatch(out))
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::arithmetic::*;
    use super::*;
    use burn::tensor::TensorData;

    /// LayerNorm of one row in f64.
    fn layer_norm_f64(x: &[f64], gamma: &[f64], beta: &[f64], epsilon: f64) -> Vec<f64> {
        let d = x.len() as f64;
        let mean = x.iter().sum::<f64>() / d;
        let var = x.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d;
        let r = 1.0 / (var + epsilon).sqrt();
        x.iter()
            .zip(gamma)
            .zip(beta)
            .map(|((x, g), b)| (x - mean) * r * g + b)
            .collect()
    }

    fn wave(n: usize, phase: f32, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.61 + phase).sin() * amplitude + 0.3)
            .collect()
    }

    fn f64s(v: &[f32]) -> Vec<f64> {
        v.iter().map(|&x| f64::from(x)).collect()
    }

    #[test]
    fn a_hand_worked_row() {
        // x = (1, 2, 3, 4): μ = 2.5, σ² = 1.25, x̂ = (−3, −1, 1, 3) / √5.
        let r = forward(
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 2.0, 1.0, 1.0],
            &[0.0, 0.0, 1.0, 0.0],
            0.0,
        );
        let s = 5f32.sqrt();
        let want = [-3.0 / s, -2.0 / s, 1.0 / s + 1.0, 3.0 / s];
        for (got, want) in r.out.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?}", r.out);
        }
        assert!((r.inverse_std[0] - 1.0 / 1.25f32.sqrt()).abs() < 1e-6);
        // A constant row is all β (x̂ = 0, r = 1/√ε), not NaN.
        let r = forward(&[7.0; 3], &[2.0; 3], &[0.5; 3], 1e-12);
        assert_eq!(r.out, vec![0.5; 3]);
    }

    #[test]
    fn forward_equals_the_f64_reference_at_odd_widths() {
        for d in [1, 7, 384] {
            let x = wave(5 * d, 0.4, 3.0);
            let gamma = wave(d, 1.1, 1.0);
            let beta = wave(d, 2.2, 0.5);
            let r = forward(&x, &gamma, &beta, 1e-12);
            for (row, (out, x)) in r.out.chunks(d).zip(x.chunks(d)).enumerate() {
                let exact = layer_norm_f64(&f64s(x), &f64s(&gamma), &f64s(&beta), 1e-12);
                for (k, (&got, want)) in out.iter().zip(&exact).enumerate() {
                    let tol = if d == 1 { 1e-6 } else { 5e-6 };
                    assert!(
                        (f64::from(got) - want).abs() < tol,
                        "d {d} row {row} {k}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn backward_matches_central_differences_of_the_f64_reference() {
        // loss = Σ w ⊙ LayerNorm(x) over 3 rows of 6; every input perturbed in turn.
        let (rows, d, eps) = (3, 6, 1e-5);
        let x = wave(rows * d, 0.2, 2.0);
        let gamma = wave(d, 0.9, 1.0);
        let beta = wave(d, 1.7, 1.0);
        let w = wave(rows * d, 3.1, 1.0);
        let r = forward(&x, &gamma, &beta, eps as f32);
        let (dx, d_gamma, d_beta) = backward(&r.normalized, &r.inverse_std, &gamma, &w);
        let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| -> f64 {
            x.chunks(d)
                .zip(w.chunks(d))
                .map(|(x, w)| {
                    let y = layer_norm_f64(x, gamma, beta, eps);
                    y.iter().zip(w).map(|(y, &w)| y * f64::from(w)).sum::<f64>()
                })
                .sum()
        };
        let (x64, g64, b64) = (f64s(&x), f64s(&gamma), f64s(&beta));
        let h = 1e-6;
        let numeric = |which: usize, i: usize| {
            let mut p = [x64.clone(), g64.clone(), b64.clone()];
            let mut m = p.clone();
            p[which][i] += h;
            m[which][i] -= h;
            (loss(&p[0], &p[1], &p[2]) - loss(&m[0], &m[1], &m[2])) / (2.0 * h)
        };
        for (which, got) in [&dx, &d_gamma, &d_beta].into_iter().enumerate() {
            for (i, &g) in got.iter().enumerate() {
                let want = numeric(which, i);
                assert!(
                    (f64::from(g) - want).abs() < 2e-5,
                    "input {which}, {i}: {g} vs {want}"
                );
            }
        }
    }

    fn values_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn under_autodiff_the_fused_op_equals_burn_s_layer_norm_forward_and_backward() {
        let device = Device::flex().autodiff();
        // More rows than one rayon task holds, so the column sums are reduced across tasks.
        let (b, t, d) = (3, 40, 384);
        let tensor1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [d]), &device);
        let mut ln = burn::nn::LayerNormConfig::new(d)
            .with_epsilon(1e-12)
            .init(&device);
        ln.gamma = burn::module::Param::from_tensor(tensor1(wave(d, 0.5, 1.0)));
        ln.beta = Some(burn::module::Param::from_tensor(tensor1(wave(d, 1.5, 0.2))));
        let data = wave(b * t * d, 0.1, 2.5);
        let w = Tensor::<3>::from_data(
            TensorData::new(wave(b * t * d, 2.7, 1.0), [b, t, d]),
            &device,
        );
        let input = || {
            Tensor::<3>::from_data(TensorData::new(data.clone(), [b, t, d]), &device).require_grad()
        };
        let (gamma, beta) = (ln.gamma.val(), ln.beta.as_ref().unwrap().val());
        let x = input();
        let fused = layer_norm(&x, &gamma, &beta, 1e-12).expect("runs on flex under autodiff");
        let fused_grads = (fused.clone() * w.clone()).sum().backward();
        let x2 = input();
        let reference = ln.forward(x2.clone());
        let reference_grads = (reference.clone() * w).sum().backward();
        let checks = [
            (
                "forward",
                values_of(fused.inner()),
                values_of(reference.inner()),
                2e-6,
            ),
            (
                "d x",
                values_of(x.grad(&fused_grads).unwrap()),
                values_of(x2.grad(&reference_grads).unwrap()),
                2e-5,
            ),
            (
                "d gamma",
                values_of(gamma.grad(&fused_grads).unwrap()),
                values_of(gamma.grad(&reference_grads).unwrap()),
                1e-4,
            ),
            (
                "d beta",
                values_of(beta.grad(&fused_grads).unwrap()),
                values_of(beta.grad(&reference_grads).unwrap()),
                1e-4,
            ),
        ];
        for (what, a, c, tol) in checks {
            assert_eq!(a.len(), c.len());
            for (i, (a, c)) in a.iter().zip(&c).enumerate() {
                assert!((a - c).abs() <= tol, "{what} {i}: fused {a}, burn {c}");
            }
        }
    }

    #[test]
    fn declines_what_it_does_not_cover() {
        let device = Device::flex();
        let x = Tensor::<2>::ones([4, 5], &device);
        let (five, four) = (
            Tensor::<1>::ones([5], &device),
            Tensor::<1>::ones([4], &device),
        );
        assert!(layer_norm(&x, &four, &five, 1e-5).is_none());
        assert!(layer_norm(&x, &five, &four, 1e-5).is_none());
        assert!(layer_norm(&x, &five, &five, 1e-5).is_some());
        let empty = Tensor::<2>::zeros([4, 0], &device);
        let none = Tensor::<1>::zeros([0], &device);
        assert!(layer_norm(&empty, &none, &none, 1e-5).is_none());
        crate::composed_only(|| assert!(layer_norm(&x, &five, &five, 1e-5).is_none()));
    }
}
