//! Adam / AMSGrad in one pass over each parameter.
//!
//! burn-optim's `Adam` writes its update as about ten whole-tensor ops, each allocating its
//! result: on a `[vocab, dim]` embedding table that made the optimizer the largest phase of the
//! W1 and W4 train steps (BENCHMARKS.md). [`FusedAdam`] asks `biome_kernels::adam` for the same
//! formula element by element in one pass, in place where the buffers are not shared (on flex,
//! the CPU backend); where that answers no, it is burn's `Adam` itself.
//!
//! The state is burn's [`AdamState`], so checkpoints are the same as with burn's `Adam`, and the
//! arithmetic is done in burn's order, operation by operation, so the two give the same bits
//! (tested).

use biome_kernels::adam::StepScalars;
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

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if biome_kernels::adam::applies(&tensor) {
            return self.fused_step(lr, tensor, grad, state);
        }
        self.plain.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

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
        let c = &self.config;
        let scalars = StepScalars::new(lr, [c.beta_1, c.beta_2], c.epsilon, c.weight_decay, time);
        let (tensor, moment_1, moment_2, max_moment_2) =
            biome_kernels::adam::step(tensor, grad, moment_1, moment_2, max_moment_2, scalars)
                .expect("the fused Adam step applies (checked in `step`)");
        let mut momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
        momentum.max_moment_2 = max_moment_2;
        (tensor, Some(AdamState::new(momentum)))
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
        assert!(biome_kernels::adam::applies(&Tensor::<1>::zeros(
            [1],
            &Device::flex()
        )));
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
