//! Adam / AMSGrad in one pass over each parameter.
//!
//! burn-optim's `Adam` writes its update as about ten whole-tensor ops (scale `m`, scale the
//! gradient, add, square, scale, add, max, sqrt, add, divide, scale, subtract), each reading one
//! or two tensors and allocating its result: on a `[vocab, dim]` embedding table that is ten
//! trips through memory per step, and it made the optimizer the largest phase of the W1 and W4
//! train steps (BENCHMARKS.md). [`FusedAdam`] computes the same formula element by element in
//! one loop, updating the parameter and the moments in place where their buffers are not shared
//! (on flex, the CPU backend); on every other backend it is burn's `Adam` itself.
//!
//! The state is burn's [`AdamState`], so checkpoints are the same as with burn's `Adam`, and the
//! arithmetic is done in burn's order, operation by operation, so the two give the same bits
//! (tested).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;

/// The hyper-parameters of [`FusedAdam`] (burn's `AdamConfig` keeps its fields private).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedAdamConfig {
    /// First-moment decay.
    pub beta_1: f32,
    /// Second-moment decay.
    pub beta_2: f32,
    /// Added to the root of the second moment.
    pub epsilon: f32,
    /// The AMSGrad variant (the running maximum of the second moment).
    pub amsgrad: bool,
    /// L2 penalty added to the gradient (`g + penalty · w`), as burn's `WeightDecay`.
    pub weight_decay: Option<f32>,
}

impl FusedAdamConfig {
    /// Build the optimizer.
    pub fn build(&self) -> FusedAdam {
        let plain = AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_amsgrad(self.amsgrad)
            .with_weight_decay(self.weight_decay.map(WeightDecayConfig::new))
            .build();
        FusedAdam {
            config: *self,
            plain,
        }
    }
}

/// Adam / AMSGrad with a one-pass update on flex; see the module docs.
#[derive(Clone)]
pub struct FusedAdam {
    config: FusedAdamConfig,
    /// burn's own Adam with the same settings: the path on other backends.
    plain: Adam,
}

/// The scalars of one update, computed once per parameter and step.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) struct StepScalars {
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    /// `ε · √(1-β2ᵗ)`.
    pub epsilon_scaled: f32,
    /// `√(1-β2ᵗ) / (1-β1ᵗ)`.
    pub combined_factor: f32,
    pub weight_decay: Option<f32>,
    /// The state's first step: AMSGrad's maximum starts at `v` itself.
    pub first: bool,
}

#[cfg_attr(not(feature = "flex"), allow(dead_code))]
impl StepScalars {
    fn new(config: &FusedAdamConfig, lr: LearningRate, time: usize) -> Self {
        // As burn's AdaptiveMomentum, in f32.
        let time = time as i32;
        let bias_correction2_sqrt = (1.0 - config.beta_2.powi(time)).sqrt();
        Self {
            lr: lr as f32,
            beta_1: config.beta_1,
            beta_2: config.beta_2,
            epsilon_scaled: config.epsilon * bias_correction2_sqrt,
            combined_factor: bias_correction2_sqrt / (1.0 - config.beta_1.powi(time)),
            weight_decay: config.weight_decay,
            first: time == 1,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        #[cfg(feature = "flex")]
        if enabled() && flex::supported(&tensor) {
            return self.fused_step(lr, tensor, grad, state);
        }
        self.plain.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// False when `BIOME_FUSED_ADAM=0`: burn's `Adam` then runs everywhere (for A/B measurements).
#[cfg(feature = "flex")]
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("BIOME_FUSED_ADAM").map_or(true, |v| v != "0"))
}

#[cfg(feature = "flex")]
impl FusedAdam {
    fn fused_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let (time, moment_1, moment_2, max_moment_2) = match state {
            Some(AdamState { momentum: s }) => {
                let max = if self.config.amsgrad {
                    Some(s.max_moment_2.unwrap_or_else(|| s.moment_2.clone()))
                } else {
                    None
                };
                (s.time + 1, s.moment_1, s.moment_2, max)
            }
            None => {
                // Zero moments make the general update give burn's first-step values exactly
                // (`β·0 + x = x`); the first step is once per parameter, so the allocation is
                // not worth a separate kernel.
                let zeros = || Tensor::zeros(tensor.shape(), &tensor.device());
                let max = self.config.amsgrad.then(zeros);
                (1, zeros(), zeros(), max)
            }
        };
        let scalars = StepScalars::new(&self.config, lr, time);
        let (tensor, moment_1, moment_2, max_moment_2) =
            flex::step(tensor, grad, moment_1, moment_2, max_moment_2, scalars);
        let mut momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        momentum.max_moment_2 = max_moment_2;
        (tensor, Some(AdamState::new(momentum)))
    }
}

/// One parameter's update, element by element, in burn's operation order:
/// `g += wd·w`; `m = β1·m + (1-β1)·g`; `v = β2·v + (1-β2)·g²`; AMSGrad `v̂ = max(v̂, v)`;
/// `w -= lr · (m·c / (√v̂ + ε'))`. Every slice has the same length.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) fn update(
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

    use std::borrow::Cow;

    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, backend_extension};
    use burn::prelude::*;
    use burn::tensor::DType;
    use rayon::prelude::*;

    use super::StepScalars;

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

    fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
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

    /// Whether the fused step applies: an f32 tensor on the flex device.
    pub(super) fn supported<const D: usize>(x: &Tensor<D>) -> bool {
        x.dtype() == DType::F32
            && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
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
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn config(amsgrad: bool, weight_decay: Option<f32>) -> FusedAdamConfig {
        FusedAdamConfig {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            amsgrad,
            weight_decay,
        }
    }

    fn burn_adam(c: &FusedAdamConfig) -> ModuleOptimizer {
        ModuleOptimizer::from(
            AdamConfig::new()
                .with_beta_1(c.beta_1)
                .with_beta_2(c.beta_2)
                .with_epsilon(c.epsilon)
                .with_amsgrad(c.amsgrad)
                .with_weight_decay(c.weight_decay.map(WeightDecayConfig::new))
                .build(),
        )
    }

    /// A 7→5 linear layer (a 2-d weight and a 1-d bias), weights drawn from a seed.
    fn model(device: &Device) -> Linear {
        device.seed(11);
        LinearConfig::new(7, 5).init(device)
    }

    /// The gradients of `Σ (x·W + b)² · scale` for a fixed input: they change as the model
    /// moves, and `scale` flips their signs so AMSGrad's maximum matters.
    fn grads(model: &Linear, scale: f32, device: &Device) -> GradientsParams {
        let x: Vec<f32> = (0..21).map(|i| (i as f32 * 0.61).cos()).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [3, 7]), device);
        let loss = (model.forward(x).powi_scalar(2) * scale).sum();
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn weights(model: &Linear) -> Vec<f32> {
        let mut w = values(model.weight.val());
        w.extend(values(model.bias.as_ref().unwrap().val()));
        w
    }

    /// Five steps of FusedAdam and of burn's Adam from the same start give the same bits, for
    /// every variant (the update runs in burn's operation order).
    #[test]
    fn matches_burns_adam_bit_for_bit() {
        let device = Device::flex().autodiff();
        // The optimizer sees the plain (inner) tensors: the fused path must apply to them.
        assert!(flex::supported(&Tensor::<1>::zeros([1], &Device::flex())));
        for (amsgrad, decay) in [
            (false, None),
            (true, None),
            (true, Some(0.01)),
            (false, Some(0.1)),
        ] {
            let c = config(amsgrad, decay);
            let mut ours = model(&device);
            let start = weights(&ours);
            let mut theirs = ours.clone();
            let mut fused = ModuleOptimizer::from(c.build());
            let mut plain = burn_adam(&c);
            for (step, scale) in [1.0, -3.0, 0.5, 2.0, -0.25].into_iter().enumerate() {
                let g = grads(&ours, scale, &device);
                ours = fused.step(1e-2, ours, g);
                let g = grads(&theirs, scale, &device);
                theirs = plain.step(1e-2, theirs, g);
                assert_eq!(
                    weights(&ours),
                    weights(&theirs),
                    "amsgrad {amsgrad}, decay {decay:?}, step {step}"
                );
            }
            assert_ne!(weights(&ours), start, "the steps moved nothing");
        }
    }

    /// One element, two AMSGrad steps with weight decay, against the formula worked in f64.
    #[test]
    fn update_matches_the_formula_worked_by_hand() {
        let c = config(true, Some(0.1));
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
            let s = StepScalars::new(&c, lr, t as usize);
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

    /// A parameter whose buffer is shared (a copy of the model kept for validation) is copied
    /// before the in-place update: the copy keeps its values.
    #[test]
    fn a_shared_parameter_buffer_is_not_written_in_place() {
        let device = Device::flex().autodiff();
        let model = model(&device);
        let kept = model.clone();
        let before = weights(&kept);
        let mut optim = ModuleOptimizer::from(config(true, None).build());
        let g = grads(&model, 1.0, &device);
        let stepped = optim.step(1e-2, model, g);
        assert_eq!(weights(&kept), before);
        assert_ne!(weights(&stepped), before);
    }

    /// The state is burn's: an optimizer record written by FusedAdam resumes in burn's Adam
    /// (and the next steps agree).
    #[test]
    fn its_state_resumes_in_burns_adam() {
        let device = Device::flex().autodiff();
        let c = config(true, None);
        let mut fused = ModuleOptimizer::from(c.build());
        let mut m = model(&device);
        for scale in [1.0, -2.0] {
            let g = grads(&m, scale, &device);
            m = fused.step(1e-2, m, g);
        }
        let mut plain = burn_adam(&c).load_record(fused.to_record());
        let (mut a, mut b) = (m.clone(), m);
        let g = grads(&a, 0.7, &device);
        a = fused.step(1e-2, a, g);
        let g = grads(&b, 0.7, &device);
        b = plain.step(1e-2, b, g);
        assert_eq!(weights(&a), weights(&b));
    }

    /// On another backend FusedAdam is burn's Adam.
    #[cfg(feature = "ndarray")]
    #[test]
    fn other_backends_run_burns_adam() {
        let device = Device::ndarray().autodiff();
        let c = config(true, None);
        let mut ours = model(&device);
        let mut theirs = ours.clone();
        let (mut fused, mut plain) = (ModuleOptimizer::from(c.build()), burn_adam(&c));
        let g = grads(&ours, 1.0, &device);
        ours = fused.step(1e-2, ours, g);
        let g = grads(&theirs, 1.0, &device);
        theirs = plain.step(1e-2, theirs, g);
        assert_eq!(weights(&ours), weights(&theirs));
    }
}
