//! The one training step, used by the trainer and timed by `biome-bench`: forward pass and loss
//! (with the regularizer's penalty), backward pass, global gradient-norm clipping, the dense
//! optimizer's update and the row-wise update of `sparse: true` embedding tables.
//!
//! [`TrainStep::step`] runs it whole; its three phases are public too ([`TrainStep::loss`],
//! [`TrainStep::backward`], [`TrainStep::update`]) so that a benchmark can time each phase of
//! the very step the trainer runs.

use biome_models::{RecordTensors, Regularizer, SequencePairClassifier, float_values};
use burn::module::ParamId;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::clip::clip_global_norm;
use crate::config::TrainerConfig;
use crate::error::{Result, TrainError};
use crate::optimizers::Optimizers;
use crate::sparse_adam::{RowGrad, SparseAdam, float_params, row_grads};

/// A labelled batch of pairs on the autodiff device.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// The first records.
    pub record1: RecordTensors,
    /// The second records.
    pub record2: RecordTensors,
    /// `[B]` label indices.
    pub labels: Tensor<1, Int>,
}

/// The gradients of one step: dense ones by parameter, and the rows of sparse tables.
pub struct StepGradients {
    dense: GradientsParams,
    rows: Vec<RowGrad>,
}

/// The training step's state: the optimizers and what the step needs to know of the model.
pub struct TrainStep {
    optimizers: Optimizers,
    /// The learning-rate schedule's factor for the next update (1 without a schedule).
    lr_factor: f64,
    /// Every float parameter and its rank (for the global norm).
    params: Vec<(ParamId, usize)>,
    grad_norm: Option<f32>,
    regularizer: Regularizer,
}

impl TrainStep {
    /// The step of `config` for `model` (its parameter groups resolved on `model`'s
    /// parameters: build it after loading weights); `regularizer` adds its penalty to the loss.
    pub fn new(
        config: &TrainerConfig,
        regularizer: Regularizer,
        model: &SequencePairClassifier,
    ) -> Result<Self> {
        Ok(Self {
            optimizers: Optimizers::new(&config.optimizer, model, config.grad_clipping)?,
            lr_factor: 1.0,
            params: float_params(model),
            grad_norm: config.grad_norm,
            regularizer,
        })
    }

    /// The dense optimizer (its state goes into checkpoints).
    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optimizers.dense
    }

    /// Scale every learning rate by `factor` from the next update on (the schedule's value).
    pub fn set_lr_factor(&mut self, factor: f64) {
        self.lr_factor = factor;
    }

    /// The optimizers (per-parameter learning rates, for tests and the bench).
    pub fn optimizers(&self) -> &Optimizers {
        &self.optimizers
    }

    /// Restores the dense optimizer's state (`--resume`) from the bytes of
    /// [`ModuleOptimizer::into_bytes`].
    pub fn restore_optimizer(
        &mut self,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), burn::store::RecordError> {
        self.optimizers.dense = self
            .optimizers
            .dense
            .clone()
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))?;
        Ok(())
    }

    /// The row-wise optimizer of sparse tables (`None` with SGD).
    pub fn sparse_optimizer(&self) -> Option<&SparseAdam> {
        self.optimizers.sparse.as_ref()
    }

    /// The row-wise optimizer, to restore its state on `--resume`.
    pub fn sparse_optimizer_mut(&mut self) -> Option<&mut SparseAdam> {
        self.optimizers.sparse.as_mut()
    }

    /// Phase 1: the loss `[1]` of `model` on `batch`, penalty included, and the logits
    /// `[B, C]` (for the caller's metrics); nothing is read back to the host.
    pub fn loss(
        &self,
        model: &SequencePairClassifier,
        batch: &PairBatch,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        // A step that ended early (a non-finite loss) may have left lookups of sparse tables
        // behind on this thread: they belong to no backward pass.
        biome_modules::sparse::clear_lookups();
        let out = model.forward(&batch.record1, &batch.record2, Some(batch.labels.clone()))?;
        let mut loss = out.loss.expect("labels were given");
        if let Some(p) = model.penalty(&self.regularizer) {
            loss = loss + p;
        }
        Ok((loss, out.logits))
    }

    /// Phase 2: the gradients of `loss` (from [`Self::loss`] on `model`), clipped to the
    /// configured global norm.
    pub fn backward(
        &self,
        model: &SequencePairClassifier,
        loss: Tensor<1>,
    ) -> Result<StepGradients> {
        let grads = loss.backward();
        // Row gradients of `sparse: true` embeddings (their tables get no dense gradient).
        let mut rows = row_grads(model, &grads);
        let mut dense = GradientsParams::from_grads(grads, model);
        if let Some(max_norm) = self.grad_norm {
            clip_global_norm(&mut dense, &mut rows, &self.params, max_norm)?;
        }
        Ok(StepGradients { dense, rows })
    }

    /// Phase 3: the optimizers' updates.
    pub fn update(
        &mut self,
        model: SequencePairClassifier,
        grads: StepGradients,
    ) -> Result<SequencePairClassifier> {
        self.optimizers
            .update(self.lr_factor, model, grads.dense, grads.rows)
    }

    /// The whole step: the updated model, the loss (read back: the step's one host read) and
    /// the logits `[B, C]`, detached. A loss that is not finite stops before the backward pass
    /// with [`TrainError::NonFiniteLoss`] (epoch and step 0: the caller knows them).
    pub fn step(&mut self, model: SequencePairClassifier, batch: &PairBatch) -> Result<Stepped> {
        let (loss, logits) = self.loss(&model, batch)?;
        biome_kernels::host_reads::note("train: loss");
        let value = float_values(loss.clone())[0];
        if !value.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                epoch: 0,
                step: 0,
                value,
            });
        }
        let grads = self.backward(&model, loss)?;
        Ok(Stepped {
            model: self.update(model, grads)?,
            loss: value,
            logits: logits.detach(),
        })
    }
}

/// What [`TrainStep::step`] gives back.
pub struct Stepped {
    /// The updated model.
    pub model: SequencePairClassifier,
    /// The batch's loss before the update.
    pub loss: f32,
    /// `[B, C]`, detached.
    pub logits: Tensor<2>,
}
