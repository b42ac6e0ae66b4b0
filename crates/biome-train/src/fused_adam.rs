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
    /// AdamW's decoupled decay: `w ← w · (1 − lr · decay)` before the Adam update, in
    /// `torch.optim.AdamW`'s order (the update itself does not read `w`).
    pub decoupled_weight_decay: Option<f32>,
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
        // Why not burn's `AdamW`: its state is not `AdamState` (no fused path, no shared
        // checkpoints); the decay is one scalar multiply, the rest is the same Adam.
        let tensor = match self.config.decoupled_weight_decay {
            Some(decay) if decay > 0.0 => tensor.mul_scalar(1.0 - lr * decay as f64),
            _ => tensor,
        };
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
            decoupled_weight_decay: None,
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

    /// AdamW on a 2-element parameter for four steps against `torch.optim.AdamW`'s formula in
    /// f64 (decay `p·(1 − lr·wd)` first, then `p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)`), on
    /// the fused path and on burn's Adam path.
    #[test]
    fn adamw_matches_torch_formula_in_f64() {
        let (lr, wd, b1, b2, eps) = (0.1f64, 0.5f64, 0.9f64, 0.999f64, 1e-8f64);
        let grads = [[0.5, -1.0], [0.25, 2.0], [-1.5, 0.5], [1.0, 1.0]];
        let mut p = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        let mut want = vec![];
        for (t, g) in grads.iter().enumerate() {
            let t = t as i32 + 1;
            for i in 0..2 {
                p[i] *= 1.0 - lr * wd;
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let denom = v[i].sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
                p[i] -= lr / (1.0 - b1.powi(t)) * m[i] / denom;
            }
            want.push(p);
        }
        let c = FusedAdamConfig {
            decoupled_weight_decay: Some(wd as f32),
            ..config(false, None)
        };
        let device = Device::flex();
        for fused in [true, false] {
            let optim = c.build();
            let mut w = Tensor::<1>::from_floats([1.0, -2.0], &device);
            let mut state = None;
            for (k, g) in grads.iter().enumerate() {
                let g = Tensor::<1>::from_floats([g[0] as f32, g[1] as f32], &device);
                let ops = if fused {
                    &[biome_kernels::policy::FusedOp::Adam][..]
                } else {
                    &[][..]
                };
                (w, state) = biome_kernels::policy::with_fused_ops(ops, || {
                    optim.step(lr, w.clone(), g, state.take())
                });
                let got = values(w.clone());
                for i in 0..2 {
                    assert!(
                        (got[i] as f64 - want[k][i]).abs() < 2e-6,
                        "fused {fused}, step {k}: {got:?} vs {:?}",
                        want[k]
                    );
                }
            }
        }
        // The decay moved the weights: without it the result differs.
        let plain = config(false, None).build();
        let w = Tensor::<1>::from_floats([1.0, -2.0], &device);
        let g = Tensor::<1>::from_floats([0.5, -1.0], &device);
        let (w, _) = plain.step(lr, w, g, None);
        assert!((values(w)[0] as f64 - (1.0 - 0.1)).abs() < 1e-6);
        assert!((want[0][0] - (0.95 - 0.1)).abs() < 1e-6);
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
