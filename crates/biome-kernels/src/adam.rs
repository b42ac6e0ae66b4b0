//! One Adam / AMSGrad update of a parameter in a single pass.
//!
//! burn-optim's `Adam` writes its update as about ten whole-tensor ops (scale `m`, scale the
//! gradient, add, square, scale, add, max, sqrt, add, divide, scale, subtract), each reading one
//! or two tensors and allocating its result: on a `[vocab, dim]` embedding table that is ten
//! trips through memory per step. [`update`] computes the same formula element by element in
//! burn's operation order (so the two give the same bits), and [`step`] runs it in place over
//! a flex parameter and its moments where their buffers are not shared. The optimizer that
//! calls it, with burn's `AdamState`, is the trainer's `FusedAdam`.

use burn::prelude::*;

/// The scalars of one update, computed once per parameter and step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepScalars {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// `ε · √(1-β2ᵗ)`.
    pub epsilon_scaled: f32,
    /// `√(1-β2ᵗ) / (1-β1ᵗ)`.
    pub combined_factor: f32,
    /// L2 penalty added to the gradient (`g + penalty · w`), as burn's `WeightDecay`.
    pub weight_decay: Option<f32>,
    /// The state's first step: AMSGrad's maximum starts at `v` itself.
    pub first: bool,
}

impl StepScalars {
    /// The scalars of step `time` (1-based) with learning rate `lr`, as burn's
    /// `AdaptiveMomentum` computes them, in f32.
    pub fn new(
        lr: f64,
        [beta_1, beta_2]: [f32; 2],
        epsilon: f32,
        weight_decay: Option<f32>,
        time: usize,
    ) -> Self {
        let time = time as i32;
        let bias_correction2_sqrt = (1.0 - beta_2.powi(time)).sqrt();
        Self {
            lr: lr as f32,
            beta_1,
            beta_2,
            epsilon_scaled: epsilon * bias_correction2_sqrt,
            combined_factor: bias_correction2_sqrt / (1.0 - beta_1.powi(time)),
            weight_decay,
            first: time == 1,
        }
    }
}

/// A parameter and its moments after one step: `(param, moment_1, moment_2, max_moment_2)`.
pub type Stepped<const D: usize> = (Tensor<D>, Tensor<D>, Tensor<D>, Option<Tensor<D>>);

/// One fused update of `param` from `grad` and its moments (`max_moment_2` for AMSGrad), or
/// `None` where the caller must run burn's `Adam`: not an f32 tensor on flex, or the op switched
/// off ([`crate::FusedOp::Adam`]).
pub fn step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moment_1: Tensor<D>,
    moment_2: Tensor<D>,
    max_moment_2: Option<Tensor<D>>,
    scalars: StepScalars,
) -> Option<Stepped<D>> {
    if !applies(&param) {
        return None;
    }
    run(param, grad, moment_1, moment_2, max_moment_2, scalars)
}

/// Whether [`step`] would run on `param` (the caller can then skip preparing its moments).
pub fn applies<const D: usize>(param: &Tensor<D>) -> bool {
    crate::policy::is_enabled(crate::FusedOp::Adam) && on_flex(param)
}

#[cfg(feature = "flex")]
use crate::slices::on_flex;

#[cfg(not(feature = "flex"))]
fn on_flex<const D: usize>(_: &Tensor<D>) -> bool {
    false
}

#[cfg(not(feature = "flex"))]
fn run<const D: usize>(
    _: Tensor<D>,
    _: Tensor<D>,
    _: Tensor<D>,
    _: Tensor<D>,
    _: Option<Tensor<D>>,
    _: StepScalars,
) -> Option<Stepped<D>> {
    None
}

#[cfg(feature = "flex")]
fn run<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moment_1: Tensor<D>,
    moment_2: Tensor<D>,
    max_moment_2: Option<Tensor<D>>,
    scalars: StepScalars,
) -> Option<Stepped<D>> {
    Some(flex::step(
        param,
        grad,
        moment_1,
        moment_2,
        max_moment_2,
        scalars,
    ))
}

/// One parameter's update, element by element, in burn's operation order:
/// `g += wd·w`; `m = β1·m + (1-β1)·g`; `v = β2·v + (1-β2)·g²`; AMSGrad `v̂ = max(v̂, v)`;
/// `w -= lr · (m·c / (√v̂ + ε'))`. Every slice has the same length.
pub fn update(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    max_moment_2: Option<&mut [f32]>,
    s: &StepScalars,
) {
    let one_minus_b1 = 1.0 - s.beta_1;
    let one_minus_b2 = 1.0 - s.beta_2;
    let n = param.len();
    let (grad, moment_1, moment_2) = (&grad[..n], &mut moment_1[..n], &mut moment_2[..n]);
    // One loop per variant, so that each is a straight vectorisable loop without branches.
    let decayed = |w: f32, g: f32| match s.weight_decay {
        Some(p) => w * p + g,
        None => g,
    };
    match max_moment_2 {
        Some(max) => {
            let max = &mut max[..n];
            for i in 0..n {
                let g = decayed(param[i], grad[i]);
                let m = moment_1[i] * s.beta_1 + g * one_minus_b1;
                let v = moment_2[i] * s.beta_2 + g * g * one_minus_b2;
                let vmax = if s.first || v > max[i] { v } else { max[i] };
                moment_1[i] = m;
                moment_2[i] = v;
                max[i] = vmax;
                param[i] -= m * s.combined_factor / (vmax.sqrt() + s.epsilon_scaled) * s.lr;
            }
        }
        None => {
            for i in 0..n {
                let g = decayed(param[i], grad[i]);
                let m = moment_1[i] * s.beta_1 + g * one_minus_b1;
                let v = moment_2[i] * s.beta_2 + g * g * one_minus_b2;
                moment_1[i] = m;
                moment_2[i] = v;
                param[i] -= m * s.combined_factor / (v.sqrt() + s.epsilon_scaled) * s.lr;
            }
        }
    }
}

#[cfg(feature = "flex")]
mod flex {
    //! The flex backend extension: the tensors' buffers, made contiguous and unshared
    //! (copy-on-write), updated by [`super::update`] in chunks across the rayon pool.

    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, Flex, backend_extension};
    use burn::prelude::*;
    use rayon::prelude::*;

    use super::StepScalars;
    use crate::slices::values;

    /// Elements per rayon task: large enough that a task outweighs its scheduling, small
    /// enough that a `[20000, 300]` table splits across every thread.
    const CHUNK: usize = 1 << 15;

    /// The two variants are two ops, as the extension macro routes no optional tensor
    /// arguments on a flex-only extension.
    #[backend_extension(Flex)]
    pub trait FusedAdamStep: Backend {
        /// Adam: `(param, moment_1, moment_2)` after one step, each of the parameter's shape.
        fn fused_adam_step(
            param: FloatTensor<Self>,
            grad: FloatTensor<Self>,
            moment_1: FloatTensor<Self>,
            moment_2: FloatTensor<Self>,
            scalars: StepScalars,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

        /// AMSGrad: `(param, moment_1, moment_2, max_moment_2)` after one step.
        fn fused_amsgrad_step(
            param: FloatTensor<Self>,
            grad: FloatTensor<Self>,
            moment_1: FloatTensor<Self>,
            moment_2: FloatTensor<Self>,
            max_moment_2: FloatTensor<Self>,
            scalars: StepScalars,
        ) -> (
            FloatTensor<Self>,
            FloatTensor<Self>,
            FloatTensor<Self>,
            FloatTensor<Self>,
        );
    }

    /// Contiguous and not shared with any other tensor, so its buffer can be written.
    fn owned(t: FlexTensor) -> FlexTensor {
        if t.layout().contiguous_offsets() == Some((0, t.storage::<f32>().len())) {
            t
        } else {
            t.to_contiguous()
        }
    }

    /// Both ops: the update in chunks across the rayon pool, in place where unshared.
    fn run(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        max_moment_2: Option<FlexTensor>,
        s: StepScalars,
    ) -> (FlexTensor, FlexTensor, FlexTensor, Option<FlexTensor>) {
        let (mut param, mut m1, mut m2) = (owned(param), owned(moment_1), owned(moment_2));
        let mut max = max_moment_2.map(owned);
        let grad = values(&grad);
        {
            let p = param.storage_mut::<f32>();
            let m1 = m1.storage_mut::<f32>();
            let m2 = m2.storage_mut::<f32>();
            let mut max = max
                .as_mut()
                .map(|t| t.storage_mut::<f32>().chunks_mut(CHUNK));
            let tasks: Vec<_> = p
                .chunks_mut(CHUNK)
                .zip(grad.chunks(CHUNK))
                .zip(m1.chunks_mut(CHUNK))
                .zip(m2.chunks_mut(CHUNK))
                .map(|(((p, g), m1), m2)| (p, g, m1, m2, max.as_mut().and_then(|it| it.next())))
                .collect();
            tasks
                .into_par_iter()
                .for_each(|(p, g, m1, m2, max)| super::update(p, g, m1, m2, max, &s));
        }
        (param, m1, m2, max)
    }

    impl FusedAdamStep for Flex {
        fn fused_adam_step(
            param: FlexTensor,
            grad: FlexTensor,
            moment_1: FlexTensor,
            moment_2: FlexTensor,
            scalars: StepScalars,
        ) -> (FlexTensor, FlexTensor, FlexTensor) {
            let (p, m1, m2, _) = run(param, grad, moment_1, moment_2, None, scalars);
            (p, m1, m2)
        }

        fn fused_amsgrad_step(
            param: FlexTensor,
            grad: FlexTensor,
            moment_1: FlexTensor,
            moment_2: FlexTensor,
            max_moment_2: FlexTensor,
            scalars: StepScalars,
        ) -> (FlexTensor, FlexTensor, FlexTensor, FlexTensor) {
            let (p, m1, m2, max) =
                run(param, grad, moment_1, moment_2, Some(max_moment_2), scalars);
            (p, m1, m2, max.expect("AMSGrad keeps its maximum"))
        }
    }

    pub(super) fn step<const D: usize>(
        param: Tensor<D>,
        grad: Tensor<D>,
        moment_1: Tensor<D>,
        moment_2: Tensor<D>,
        max_moment_2: Option<Tensor<D>>,
        scalars: StepScalars,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>, Option<Tensor<D>>) {
        let (p, m1, m2) = (
            param.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
        );
        let (p, m1, m2, max) = match max_moment_2 {
            Some(max) => {
                let (p, m1, m2, max) = <Dispatch as FusedAdamStep>::fused_amsgrad_step(
                    p,
                    grad.into_dispatch(),
                    m1,
                    m2,
                    max.into_dispatch(),
                    scalars,
                );
                (p, m1, m2, Some(max))
            }
            None => {
                let (p, m1, m2) = <Dispatch as FusedAdamStep>::fused_adam_step(
                    p,
                    grad.into_dispatch(),
                    m1,
                    m2,
                    scalars,
                );
                (p, m1, m2, None)
            }
        };
        (
            Tensor::from_dispatch(p),
            Tensor::from_dispatch(m1),
            Tensor::from_dispatch(m2),
            max.map(Tensor::from_dispatch),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One element, two AMSGrad steps with weight decay, against the formula worked in f64.
    #[test]
    fn update_matches_the_formula_worked_by_hand() {
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8f64, 0.01f64);
        let (mut w, mut m, mut v, mut vmax) = (0.5f64, 0.0f64, 0.0f64, 0.0f64);
        let mut p = [0.5f32];
        let (mut m32, mut v32, mut max32) = ([0f32], [0f32], [0f32]);
        for (t, g) in [(1, 0.3f64), (2, -0.05f64)] {
            let gd = g + 0.1 * w;
            m = b1 * m + (1.0 - b1) * gd;
            v = b2 * v + (1.0 - b2) * gd * gd;
            vmax = if t == 1 { v } else { vmax.max(v) };
            let m_hat = m / (1.0 - b1.powi(t));
            let v_hat = vmax / (1.0 - b2.powi(t));
            w -= lr * m_hat / (v_hat.sqrt() + eps);
            let s = StepScalars::new(lr, [0.9, 0.999], 1e-8, Some(0.1), t as usize);
            update(
                &mut p,
                &[g as f32],
                &mut m32,
                &mut v32,
                Some(&mut max32),
                &s,
            );
            assert!((p[0] as f64 - w).abs() < 1e-6, "step {t}: {} vs {w}", p[0]);
            // f32's 1-β2 is 0.001 only to 1e-5 relative.
            assert!(
                (max32[0] as f64 - vmax).abs() < 1e-4 * vmax,
                "step {t}: v̂ {} vs {vmax}",
                max32[0]
            );
        }
        // The second gradient is small: v fell below the first step's, and v̂ kept the maximum.
        assert!(v32[0] < max32[0]);
    }

    #[test]
    fn applies_to_flex_tensors_only_when_enabled() {
        let x = Tensor::<1>::zeros([3], &Device::flex());
        assert_eq!(
            applies(&x),
            cfg!(feature = "flex") && crate::policy::is_enabled(crate::FusedOp::Adam)
        );
        assert!(!crate::composed_only(|| applies(&x)));
    }
}
