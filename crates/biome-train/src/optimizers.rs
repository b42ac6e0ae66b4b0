//! The optimizers of one model: burn's `ModuleOptimizer` for dense parameters (one
//! [`FusedAdam`](crate::fused_adam::FusedAdam) per parameter group, through burn's own
//! `with_group`), the row-wise [`SparseAdam`] for `sparse: true` tables (each table with its
//! group's settings), and the learning rate of every parameter (the group's rate times the
//! schedule's factor, carried to burn's optimizer as its `ModuleLearningRate`).
//!
//! Groups are resolved once, on the model's parameter ids: build this after the model's
//! weights are loaded (`--resume` loads the ids that the optimizer state is keyed by).

use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::{Module, ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};

use crate::config::OptimizerConfig;
use crate::error::{Result, TrainError};
use crate::param_groups::{GroupAssignment, assign};
use crate::sparse_adam::{RowGrad, SparseAdam};

/// The optimizers of one model; see the module docs.
pub struct Optimizers {
    /// The dense optimizer (its state goes into checkpoints).
    pub dense: ModuleOptimizer,
    /// The row-wise optimizer of sparse tables (`None` with SGD).
    pub sparse: Option<SparseAdam>,
    /// The top-level learning rate.
    base_lr: f64,
    /// Each group's parameters (as burn's group) and learning rate, in config order.
    groups: Vec<(ParamGroup, f64)>,
    assignment: GroupAssignment,
}

impl Optimizers {
    /// The optimizers of `config` for `model`, clamping gradient values to `±grad_clipping`
    /// when given (every group alike).
    pub fn new<M: Module>(
        config: &OptimizerConfig,
        model: &M,
        grad_clipping: Option<f32>,
    ) -> Result<Self> {
        let clip = || grad_clipping.map(|c| GradientClippingConfig::Value(c).init());
        let Some((top, groups)) = config.adam() else {
            let OptimizerConfig::Sgd {
                lr,
                momentum,
                weight_decay,
            } = config
            else {
                unreachable!("adam() answers every Adam variant");
            };
            let decay = (*weight_decay > 0.0).then(|| WeightDecayConfig::new(*weight_decay));
            let dense = SgdConfig::new()
                .with_momentum((*momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(*momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay)
                .with_gradient_clipping(grad_clipping.map(GradientClippingConfig::Value))
                .init();
            return Ok(Self {
                dense,
                sparse: None,
                base_lr: *lr,
                groups: vec![],
                assignment: GroupAssignment::default(),
            });
        };
        let key = format!("trainer.optimizer.{}.parameter_groups", config.name());
        let assignment = assign(groups, model, &key)?;
        let mut dense = ModuleOptimizer::from(top.fused().build());
        if let Some(c) = clip() {
            dense = dense.with_grad_clipping(c);
        }
        let mut sparse = SparseAdam::new(top.sparse(grad_clipping));
        let mut lr_groups = Vec::with_capacity(groups.len());
        for (group, members) in groups.iter().zip(&assignment.members) {
            let settings = top.with(&group.1);
            if settings.weight_decay.is_nan() || settings.weight_decay < 0.0 {
                return Err(TrainError::Invalid(format!(
                    "{key}: weight_decay must be >= 0, got {}",
                    settings.weight_decay
                )));
            }
            let ids = ParamGroup::from_ids(members.clone());
            // Disjoint groups (first match wins): burn's "last group added wins" never decides.
            dense = dense.with_group(ids.clone(), settings.fused().build(), clip());
            for id in members {
                sparse = sparse.with_table_config(*id, settings.sparse(grad_clipping));
            }
            lr_groups.push((ids, settings.lr));
        }
        Ok(Self {
            dense,
            sparse: Some(sparse),
            base_lr: top.lr,
            groups: lr_groups,
            assignment,
        })
    }

    /// The learning rate of every dense parameter, the schedule's `factor` applied.
    pub fn learning_rates(&self, factor: f64) -> ModuleLearningRate {
        let mut scheduler = ModuleLrScheduler::new(self.base_lr * factor);
        for (group, lr) in &self.groups {
            scheduler = scheduler.with_group(group.clone(), *lr * factor);
        }
        scheduler.step()
    }

    /// Update `model`: the dense parameters with `dense`, the sparse tables' `rows`, every
    /// learning rate times the schedule's `factor`.
    pub fn update<M: Module>(
        &mut self,
        factor: f64,
        model: M,
        dense: GradientsParams,
        rows: Vec<RowGrad>,
    ) -> Result<M> {
        let model = self.dense.step(self.learning_rates(factor), model, dense);
        if rows.is_empty() {
            return Ok(model);
        }
        let (base_lr, groups, assignment) = (self.base_lr, &self.groups, &self.assignment);
        let sparse = self.sparse.as_mut().ok_or_else(|| {
            TrainError::Invalid(
                "sparse: true embeddings need the adam or adamw optimizer (row-wise Adam)".into(),
            )
        })?;
        let lr_of = |id: ParamId| lr_of(base_lr, groups, assignment, id) * factor;
        Ok(sparse.step_grouped(&lr_of, model, rows))
    }

    /// The learning rate of parameter `param` (its group's or the top-level one) times
    /// `factor`.
    pub fn lr_of(&self, param: ParamId, factor: f64) -> f64 {
        lr_of(self.base_lr, &self.groups, &self.assignment, param) * factor
    }
}

fn lr_of(
    base_lr: f64,
    groups: &[(ParamGroup, f64)],
    assignment: &GroupAssignment,
    param: ParamId,
) -> f64 {
    assignment.group_of(param).map_or(base_lr, |g| groups[g].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// One Adam step moves every weight by about its learning rate (`|m̂| / √v̂ = 1` on the
    /// first step): the bias, in a group with lr 0.5, moves 0.5 × factor; the weight, with the
    /// top-level 0.01, moves 0.01 × factor; AdamW's decay of the group (0 here) and of the
    /// top level (0.5, `w · (1 − 0.01 · 0.5 · factor)`) too.
    #[test]
    fn each_group_steps_with_its_own_rate_and_decay_scaled_by_the_schedule() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let model: Linear = LinearConfig::new(3, 2).init(&device);
        let config: OptimizerConfig = serde_json::from_str(
            r#"{"adamw": {"lr": 0.01, "weight_decay": 0.5,
                "parameter_groups": [[["bias"], {"lr": 0.5, "weight_decay": 0.0}]]}}"#,
        )
        .unwrap();
        let mut optim = Optimizers::new(&config, &model, None).unwrap();
        let bias_id = model.bias.as_ref().unwrap().id;
        assert_eq!(optim.lr_of(bias_id, 0.5), 0.25);
        assert_eq!(optim.lr_of(model.weight.id, 0.5), 0.005);
        let (w0, b0) = (
            values(model.weight.val()),
            values(model.bias.as_ref().unwrap().val()),
        );
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5]], &device);
        let grads = model.forward(x).sum().backward();
        let grads = GradientsParams::from_grads(grads, &model);
        let model = optim.update(0.5, model, grads, vec![]).unwrap();
        let (w1, b1) = (
            values(model.weight.val()),
            values(model.bias.as_ref().unwrap().val()),
        );
        for (a, b) in b0.iter().zip(&b1) {
            assert!(((a - b).abs() - 0.25).abs() < 1e-5, "bias {a} -> {b}");
        }
        for (a, b) in w0.iter().zip(&w1) {
            let decayed = a * (1.0 - 0.005 * 0.5);
            assert!(
                ((decayed - b).abs() - 0.005).abs() < 1e-5,
                "weight {a} -> {b}"
            );
        }
    }

    #[test]
    fn a_group_that_matches_nothing_names_its_optimizer_key() {
        let model: Linear = LinearConfig::new(3, 2).init(&Device::flex());
        let config: OptimizerConfig = serde_json::from_str(
            r#"{"adam": {"parameter_groups": [[["transformer"], {"lr": 2e-5}]]}}"#,
        )
        .unwrap();
        let err = Optimizers::new(&config, &model, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("trainer.optimizer.adam.parameter_groups[0][0][0]"),
            "{err}"
        );
    }
}
