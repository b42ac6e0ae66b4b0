//! The training loop: bucketed, shuffled batches; Adam or SGD from burn's `optim`; global
//! gradient-norm clipping; early stopping on any reported validation metric; the best model kept
//! as the archive; a checkpoint after every epoch for `--resume`; `metrics.jsonl` and a
//! training-curve SVG.
//!
//! Why not `burn::train::Learner`: it needs burn's `train` feature (a TUI, dataset and metric
//! stack that roughly doubles the cold build on our 2-core CI), and the parts that matter here
//! are ours anyway — name-weighted loss and per-label metrics live in the model, early stopping
//! must read those metrics, and resuming must reproduce an uninterrupted run bit for bit, which
//! needs control over the batch order and the dropout seed of every epoch.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use biome_core::{Batcher, PairExample, Vocabulary, bucket_batches_seeded, sequential_batches};
use biome_models::{
    RecordTensors, Regularizer, SequencePairClassifier, float_values, label_tensor,
};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};

use crate::fused_adam::FusedAdamConfig;

use crate::sparse_adam::{
    RowGrad, SparseAdam, SparseAdamConfig, row_grads, row_grads_sq_sum, scale_row_grads,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::archive;
use crate::checkpoint::{self, Checkpoint, CheckpointFiles, TrainerState};
use crate::config::PipelineConfig;
use crate::error::{BiomeError, Result};

fn d_batch_size() -> usize {
    32
}
fn d_epochs() -> usize {
    10
}
fn d_metric() -> String {
    "-loss".into()
}
fn d_true() -> bool {
    true
}
fn d_noise() -> f64 {
    0.1
}
fn d_seed() -> u64 {
    42
}
fn d_lr() -> f64 {
    1e-3
}
fn d_betas() -> [f32; 2] {
    [0.9, 0.999]
}
fn d_eps() -> f32 {
    1e-8
}

/// The optimizer, written `{"adam": {...}}` or `{"sgd": {...}}` with PyTorch's names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam / AMSGrad.
    Adam {
        /// Learning rate.
        #[serde(default = "d_lr")]
        lr: f64,
        /// `(beta1, beta2)`.
        #[serde(default = "d_betas")]
        betas: [f32; 2],
        /// PyTorch's default 1e-8 (burn's own default is 1e-5).
        #[serde(default = "d_eps")]
        eps: f32,
        /// Use the AMSGrad variant.
        #[serde(default)]
        amsgrad: bool,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
    /// Stochastic gradient descent.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum (0 = none).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::Adam {
            lr: d_lr(),
            betas: d_betas(),
            eps: d_eps(),
            amsgrad: false,
            weight_decay: 0.0,
        }
    }
}

impl OptimizerConfig {
    fn lr(&self) -> f64 {
        match self {
            Self::Adam { lr, .. } | Self::Sgd { lr, .. } => *lr,
        }
    }

    fn init(&self, grad_clipping: Option<f32>) -> ModuleOptimizer {
        let decay = |w: f32| (w > 0.0).then(|| WeightDecayConfig::new(w));
        let clip = grad_clipping.map(burn::grad_clipping::GradientClippingConfig::Value);
        match self {
            Self::Adam {
                betas,
                eps,
                amsgrad,
                weight_decay,
                ..
            } => {
                let adam = FusedAdamConfig {
                    beta_1: betas[0],
                    beta_2: betas[1],
                    epsilon: *eps,
                    amsgrad: *amsgrad,
                    weight_decay: (*weight_decay > 0.0).then_some(*weight_decay),
                };
                let optim = ModuleOptimizer::from(adam.build());
                match clip {
                    Some(clip) => optim.with_grad_clipping(clip.init()),
                    None => optim,
                }
            }
            Self::Sgd {
                momentum,
                weight_decay,
                ..
            } => SgdConfig::new()
                .with_momentum((*momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(*momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(*weight_decay))
                .with_gradient_clipping(clip)
                .init(),
        }
    }

    /// The row-wise optimizer of `sparse: true` embedding tables: Adam's hyper-parameters
    /// (see [`crate::sparse_adam`]); `None` for SGD, which has no row-wise version here.
    fn sparse(&self, grad_clipping: Option<f32>) -> Option<SparseAdam> {
        match self {
            Self::Adam {
                betas,
                eps,
                amsgrad,
                weight_decay,
                ..
            } => Some(SparseAdam::new(SparseAdamConfig {
                beta_1: betas[0],
                beta_2: betas[1],
                epsilon: *eps,
                amsgrad: *amsgrad,
                weight_decay: *weight_decay,
                clip_value: grad_clipping,
            })),
            Self::Sgd { .. } => None,
        }
    }
}

/// Training options (AllenNLP trainer names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// Pairs per batch.
    #[serde(default = "d_batch_size")]
    pub batch_size: usize,
    /// Passes over the training data.
    #[serde(default = "d_epochs")]
    pub num_epochs: usize,
    /// Stop after this many epochs without improvement of `validation_metric`.
    #[serde(default)]
    pub patience: Option<usize>,
    /// `+name` to maximise or `-name` to minimise: `-loss`, `+accuracy`, `+average/f1`,
    /// `+duplicate/f1`, … (any reported metric).
    #[serde(default = "d_metric")]
    pub validation_metric: String,
    /// Adam (default) or SGD.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Rescale all gradients together when their global L2 norm exceeds this.
    #[serde(default)]
    pub grad_norm: Option<f32>,
    /// Clamp every gradient value to `±grad_clipping`.
    #[serde(default)]
    pub grad_clipping: Option<f32>,
    /// Shuffle the order of batches every epoch.
    #[serde(default = "d_true")]
    pub shuffle: bool,
    /// Batch pairs of similar length together (less padding, faster).
    #[serde(default = "d_true")]
    pub bucketing: bool,
    /// Relative noise on lengths when bucketing, so batches differ between epochs.
    #[serde(default = "d_noise")]
    pub bucket_noise: f64,
    /// Seed for initialisation, batch order and dropout.
    #[serde(default = "d_seed")]
    pub seed: u64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

/// A parsed `validation_metric`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricGoal {
    /// Metric name (`loss`, `accuracy`, `average/f1`, …).
    pub name: String,
    /// Larger is better.
    pub maximize: bool,
}

impl TrainerConfig {
    /// Check option values.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if self.num_epochs == 0 {
            return Err("num_epochs must be at least 1".into());
        }
        if self.optimizer.lr().is_nan() || self.optimizer.lr() <= 0.0 {
            return Err(format!(
                "optimizer lr must be > 0, got {}",
                self.optimizer.lr()
            ));
        }
        self.metric_goal()?;
        Ok(())
    }

    /// Parse `validation_metric`.
    pub fn metric_goal(&self) -> std::result::Result<MetricGoal, String> {
        let m = self.validation_metric.trim();
        let (maximize, name) = match m.chars().next() {
            Some('+') => (true, &m[1..]),
            Some('-') => (false, &m[1..]),
            _ => {
                return Err(format!(
                    "validation_metric {m:?} must start with + (maximise) or - (minimise)"
                ));
            }
        };
        if name.is_empty() {
            return Err("validation_metric names no metric".into());
        }
        Ok(MetricGoal {
            name: name.to_string(),
            maximize,
        })
    }
}

/// What came out of training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epochs completed (including resumed ones).
    pub epochs_completed: usize,
    /// Epoch (1-based) of the kept model.
    pub best_epoch: usize,
    /// Its validation metrics (training metrics when there is no validation data).
    pub best_metrics: BTreeMap<String, f64>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Mean loss and metrics of `model` over `examples` (no autodiff, no dropout).
pub fn evaluate_examples(
    model: &SequencePairClassifier,
    batcher: &Batcher,
    vocab: &Vocabulary,
    examples: &[PairExample],
    batch_size: usize,
    device: &Device,
) -> Result<BTreeMap<String, f64>> {
    model.metrics(true);
    let mut loss_sum = 0.0f64;
    for idx in sequential_batches(examples.len(), batch_size)? {
        let batch = batcher.batch_indices(examples, &idx, vocab)?;
        let labels = batch
            .labels
            .as_ref()
            .ok_or_else(|| BiomeError::Invalid("evaluation data has no labels".into()))?;
        let r1 = RecordTensors::from_batch(&batch.record1, device);
        let r2 = RecordTensors::from_batch(&batch.record2, device);
        let out = model.forward(&r1, &r2, Some(label_tensor(labels, device)))?;
        let loss = out.loss.map(|l| float_values(l)[0]).unwrap_or(0.0);
        loss_sum += loss as f64 * idx.len() as f64;
    }
    let mut metrics = model.metrics(true);
    metrics.insert("loss".into(), loss_sum / examples.len().max(1) as f64);
    Ok(metrics)
}

#[derive(Default)]
struct ParamList(Vec<(ParamId, usize)>);

impl ModuleVisitor for ParamList {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D));
    }
}

fn grad_sq_sum<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    grads.get::<D>(id).map(|g| g.square().sum())
}

fn scale_grad<const D: usize>(grads: &mut GradientsParams, id: ParamId, factor: f64) {
    if let Some(g) = grads.remove::<D>(id) {
        grads.register::<D>(id, g.mul_scalar(factor));
    }
}

/// Rescale all gradients so that their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping.
fn clip_global_norm(
    grads: &mut GradientsParams,
    rows: &mut [RowGrad],
    params: &[(ParamId, usize)],
    max_norm: f32,
) -> f32 {
    let mut total: Option<Tensor<1>> = row_grads_sq_sum(rows);
    for &(id, d) in params {
        let sq = match d {
            1 => grad_sq_sum::<1>(grads, id),
            2 => grad_sq_sum::<2>(grads, id),
            3 => grad_sq_sum::<3>(grads, id),
            4 => grad_sq_sum::<4>(grads, id),
            _ => None,
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let Some(total) = total else { return 0.0 };
    let norm = float_values(total)[0].sqrt();
    if norm > max_norm {
        let factor = (max_norm / (norm + 1e-6)) as f64;
        scale_row_grads(rows, factor);
        for &(id, d) in params {
            match d {
                1 => scale_grad::<1>(grads, id, factor),
                2 => scale_grad::<2>(grads, id, factor),
                3 => scale_grad::<3>(grads, id, factor),
                4 => scale_grad::<4>(grads, id, factor),
                _ => {}
            }
        }
    }
    norm
}

fn is_better(goal: &MetricGoal, value: f64, best: Option<f64>) -> bool {
    match best {
        None => true,
        Some(b) if goal.maximize => value > b,
        Some(b) => value < b,
    }
}

/// Inputs of one training run.
pub struct TrainRun<'a> {
    /// The whole configuration (saved into the archive).
    pub config: &'a PipelineConfig,
    /// The vocabulary (labels included).
    pub vocab: &'a Vocabulary,
    /// Batches examples.
    pub batcher: &'a Batcher,
    /// Training pairs.
    pub train: &'a [PairExample],
    /// Validation pairs (early stopping and model choice use them when given).
    pub validation: Option<&'a [PairExample]>,
    /// The output folder.
    pub output: &'a Path,
    /// Continue from this checkpoint (read from `output` by [`checkpoint::read`]).
    pub resume: Option<&'a Checkpoint>,
    /// The plain device; training runs on its autodiff version.
    pub device: &'a Device,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

#[derive(Default)]
struct NonFinite(usize);

impl ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let bad = param.val().is_finite().bool_not().int().sum();
        self.0 += biome_models::int_values(bad)[0] as usize;
    }
}

/// Number of NaN or infinite weights in `model`.
fn non_finite_weights<M: Module>(model: &M) -> usize {
    let mut count = NonFinite::default();
    model.visit(&mut count);
    count.0
}

/// Train `model` (built on the autodiff device); returns the best model (plain device) and a
/// summary. The archive of the best model is written to `run.output` as training goes.
pub fn train(
    mut model: SequencePairClassifier,
    run: &TrainRun<'_>,
) -> Result<(SequencePairClassifier, TrainSummary)> {
    let cfg = &run.config.trainer;
    let goal = cfg.metric_goal().map_err(BiomeError::Invalid)?;
    if run.train.is_empty() {
        return Err(BiomeError::Invalid(
            "the training data has no examples".into(),
        ));
    }
    let ad_device = run.device.clone().autodiff();
    let regularizer = Regularizer::new(&run.config.model.regularizer)?;
    let mut optim = cfg.optimizer.init(cfg.grad_clipping);
    let mut sparse_optim = cfg.optimizer.sparse(cfg.grad_clipping);
    let lr = cfg.optimizer.lr();
    let mut params = ParamList::default();
    model.visit(&mut params);
    let params = params.0;

    std::fs::create_dir_all(run.output).map_err(|e| BiomeError::io(run.output, e))?;
    let metrics_path = run.output.join("metrics.jsonl");
    let vocab_json = run.vocab.to_json();

    // The checkpoint is the truth about the run; the archive and metrics.jsonl are derived
    // from it, so after a crash at any moment they are rewritten to match it.
    let mut state = TrainerState::default();
    let mut best_weights: Vec<u8> = vec![];
    if let Some(ckpt) = run.resume {
        state = ckpt.state.clone();
        let model_path = ckpt.dir.join(checkpoint::MODEL);
        model = archive::load_module_bytes(model, ckpt.model.clone(), &model_path)?;
        optim = optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(ckpt.optimizer.clone()))
            .map_err(|e| {
                BiomeError::archive(
                    ckpt.dir.join(checkpoint::OPTIMIZER),
                    format!("unreadable optimizer state: {e}"),
                )
            })?;
        if let Some(bytes) = &ckpt.sparse_optimizer {
            let path = ckpt.dir.join(checkpoint::SPARSE_OPTIMIZER);
            let sparse = sparse_optim.as_mut().ok_or_else(|| {
                BiomeError::archive(
                    &path,
                    "the checkpoint has a sparse-embedding optimizer state but the optimizer \
                     is not adam",
                )
            })?;
            sparse
                .load_bytes(&model, bytes, run.device)
                .map_err(|e| BiomeError::archive(&path, e))?;
        }
        best_weights = ckpt.best.clone();
        // A crash may have cut an archive write short, or written the archive of an epoch the
        // checkpoint does not hold: then put back the checkpoint's best model. An intact
        // archive of that model is left alone (it keeps the config it was trained with).
        let best_crc = crc32fast::hash(&best_weights);
        let intact = archive::open(run.output)
            .is_ok_and(|a| a.manifest.files.get("model.bpk") == Some(&best_crc));
        if !intact {
            archive::save_weights(run.output, run.config, run.vocab, &best_weights)?;
        }
    } else {
        checkpoint::clear(run.output)?;
    }
    write_metrics(&metrics_path, &state.metrics)?;

    let lengths: Vec<usize> = run
        .train
        .iter()
        .map(|e| run.batcher.pair_length(e))
        .collect();
    let started = Instant::now();
    let mut stopped_early = false;

    for epoch in state.epochs_completed + 1..=cfg.num_epochs {
        if let Some(p) = cfg.patience
            && state.bad_epochs >= p
        {
            stopped_early = true;
            break;
        }
        // Every epoch's randomness derives from (seed, epoch) alone, so a resumed run draws
        // exactly what the uninterrupted one did.
        let epoch_seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        ad_device.seed(epoch_seed);
        let batches = if cfg.bucketing {
            bucket_batches_seeded(
                &lengths,
                cfg.batch_size,
                cfg.bucket_noise,
                epoch_seed,
                cfg.shuffle,
            )?
        } else {
            let mut b = sequential_batches(run.train.len(), cfg.batch_size)?;
            if cfg.shuffle {
                use rand::SeedableRng;
                use rand::seq::SliceRandom;
                b.shuffle(&mut rand::rngs::StdRng::seed_from_u64(epoch_seed));
            }
            b
        };
        let bar = progress_bar(run.progress, batches.len() as u64);
        model.metrics(true);
        let mut loss_sum = 0.0f64;
        let mut seen = 0usize;
        for (step, idx) in batches.iter().enumerate() {
            let batch = run.batcher.batch_indices(run.train, idx, run.vocab)?;
            let labels = batch
                .labels
                .as_ref()
                .ok_or_else(|| BiomeError::Invalid("training data has no labels".into()))?;
            let r1 = RecordTensors::from_batch(&batch.record1, &ad_device);
            let r2 = RecordTensors::from_batch(&batch.record2, &ad_device);
            let out = model.forward(&r1, &r2, Some(label_tensor(labels, &ad_device)))?;
            let mut loss = out.loss.expect("labels were given");
            if let Some(p) = model.penalty(&regularizer) {
                loss = loss + p;
            }
            let value = float_values(loss.clone())[0];
            if !value.is_finite() {
                bar.abandon();
                return Err(BiomeError::NonFiniteLoss {
                    epoch,
                    step: step + 1,
                    value,
                });
            }
            let grads = loss.backward();
            // Row gradients of `sparse: true` embeddings (their tables get no dense gradient).
            let mut rows = row_grads(&model, &grads);
            let mut grads = GradientsParams::from_grads(grads, &model);
            if let Some(max_norm) = cfg.grad_norm {
                clip_global_norm(&mut grads, &mut rows, &params, max_norm);
            }
            model = optim.step(lr, model, grads);
            if !rows.is_empty() {
                let sparse = sparse_optim.as_mut().ok_or_else(|| {
                    BiomeError::Invalid(
                        "sparse: true embeddings need the adam optimizer (row-wise Adam)".into(),
                    )
                })?;
                model = sparse.step(lr, model, rows);
            }
            loss_sum += value as f64 * idx.len() as f64;
            seen += idx.len();
            bar.set_message(format!(
                "epoch {epoch}/{} loss {:.4}",
                cfg.num_epochs,
                loss_sum / seen as f64
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let mut train_metrics = model.metrics(true);
        train_metrics.insert("loss".into(), loss_sum / seen.max(1) as f64);

        let valid_model = model.valid();
        let val_metrics = match run.validation {
            Some(v) if !v.is_empty() => Some(evaluate_examples(
                &valid_model,
                run.batcher,
                run.vocab,
                v,
                cfg.batch_size.max(64),
                run.device,
            )?),
            _ => None,
        };
        // The last step of an epoch can blow the weights up without a loss to show it: never
        // let such a model become the archive or the checkpoint.
        let bad = non_finite_weights(&valid_model);
        if bad > 0 {
            return Err(BiomeError::NonFiniteWeights { epoch, count: bad });
        }
        let chosen = val_metrics.as_ref().unwrap_or(&train_metrics);
        let value = *chosen.get(&goal.name).ok_or_else(|| {
            BiomeError::Invalid(format!(
                "validation_metric {:?} is not reported; reported metrics: {}",
                goal.name,
                chosen.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if is_better(&goal, value, state.best_value) {
            state.best_value = Some(value);
            state.best_epoch = epoch;
            state.best_metrics = chosen.clone();
            state.bad_epochs = 0;
            best_weights = archive::module_bytes(&valid_model)?;
            archive::save_weights(run.output, run.config, run.vocab, &best_weights)?;
        } else {
            state.bad_epochs += 1;
        }

        let mut line = serde_json::Map::new();
        line.insert("epoch".into(), epoch.into());
        for (k, v) in &train_metrics {
            line.insert(format!("training_{k}"), (*v).into());
        }
        if let Some(vm) = &val_metrics {
            for (k, v) in vm {
                line.insert(format!("validation_{k}"), (*v).into());
            }
        }
        line.insert("elapsed_s".into(), started.elapsed().as_secs_f64().into());
        state.metrics.push(serde_json::Value::Object(line));
        state.epochs_completed = epoch;
        if run.progress {
            eprintln!(
                "epoch {epoch}/{}: training loss {:.4}{} ({:.1}s)",
                cfg.num_epochs,
                train_metrics["loss"],
                val_metrics
                    .as_ref()
                    .map(|v| format!(
                        ", validation loss {:.4}, accuracy {:.4}",
                        v["loss"], v["accuracy"]
                    ))
                    .unwrap_or_default(),
                started.elapsed().as_secs_f64()
            );
        }
        let model_bytes = archive::module_bytes(&model)?;
        let optim_bytes = optim
            .into_bytes()
            .map_err(|e| BiomeError::Invalid(format!("cannot serialize optimizer state: {e}")))?
            .to_vec();
        let sparse_bytes = sparse_optim
            .as_ref()
            .filter(|s| s.has_state())
            .map(|s| s.to_bytes(&model));
        checkpoint::write(
            run.output,
            &state,
            &CheckpointFiles {
                model: &model_bytes,
                optimizer: &optim_bytes,
                best: &best_weights,
                vocabulary: vocab_json.as_bytes(),
                sparse_optimizer: sparse_bytes.as_deref(),
            },
        )?;
        // Only now is the epoch completed: metrics.jsonl never lists an epoch that a resumed
        // run would train again.
        write_metrics(&metrics_path, &state.metrics)?;
        let _ = crate::plot::training_curve(&metrics_path, &run.output.join("training_curve.svg"));
    }
    if let Some(p) = cfg.patience
        && state.bad_epochs >= p
        && state.epochs_completed < cfg.num_epochs
    {
        stopped_early = true;
    }

    let best = archive::open(run.output)?.load_weights(model.valid())?;
    Ok((
        best,
        TrainSummary {
            epochs_completed: state.epochs_completed,
            best_epoch: state.best_epoch,
            best_metrics: state.best_metrics,
            stopped_early,
        },
    ))
}

/// Write `metrics.jsonl`: one line per completed epoch, replaced as a whole.
fn write_metrics(path: &Path, lines: &[serde_json::Value]) -> Result<()> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    archive::write_atomic(path, text.as_bytes())
}

fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}")
            .expect("template")
            .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_goal_parses_sign_and_name() {
        let mut c = TrainerConfig {
            validation_metric: "+average/f1".into(),
            ..Default::default()
        };
        assert_eq!(
            c.metric_goal().unwrap(),
            MetricGoal {
                name: "average/f1".into(),
                maximize: true
            }
        );
        c.validation_metric = "accuracy".into();
        assert!(c.metric_goal().unwrap_err().contains("must start with +"));
    }

    #[test]
    fn defaults_follow_pytorch_adam() {
        let c = TrainerConfig::default();
        assert_eq!(c.batch_size, 32);
        match c.optimizer {
            OptimizerConfig::Adam { eps, lr, .. } => {
                assert_eq!(eps, 1e-8);
                assert_eq!(lr, 1e-3);
            }
            _ => panic!("adam is the default"),
        }
    }

    #[test]
    fn non_finite_weights_are_counted() {
        let device = Device::flex();
        let linear = burn::nn::LinearConfig::new(2, 2).init(&device);
        assert_eq!(non_finite_weights(&linear), 0);
        let linear = burn::nn::Linear {
            weight: Param::from_tensor(Tensor::<2>::from_floats(
                [[f32::NAN, 1.0], [f32::INFINITY, f32::NEG_INFINITY]],
                &device,
            )),
            ..linear
        };
        assert_eq!(non_finite_weights(&linear), 3);
    }

    #[test]
    fn global_norm_clipping_scales_all_gradients_together() {
        let device = Device::flex().autodiff();
        let a = Param::from_tensor(Tensor::<1>::from_floats([3.0, 0.0], &device));
        let b = Param::from_tensor(Tensor::<2>::from_floats([[0.0, 4.0]], &device));
        let loss = (a.val() * Tensor::from_floats([1.0, 0.0], &device)).sum() * 3.0
            + (b.val() * Tensor::from_floats([[0.0, 1.0]], &device)).sum() * 4.0;
        // d/da = [3, 0], d/db = [[0, 4]] -> global norm 5
        let g = loss.backward();
        let mut grads = GradientsParams::new();
        grads.register::<1>(a.id, a.val().grad(&g).unwrap());
        grads.register::<2>(b.id, b.val().grad(&g).unwrap());
        // A sparse table's row gradient [[0, 12]] counts too -> global norm 13.
        let mut rows = vec![RowGrad {
            param: ParamId::new(),
            ids: vec![4],
            grad: Tensor::<2>::from_floats([[0.0, 12.0]], &Device::flex()),
        }];
        let norm = clip_global_norm(&mut grads, &mut rows, &[(a.id, 1), (b.id, 2)], 1.0);
        assert!((norm - 13.0).abs() < 1e-4);
        let ga = float_values(grads.get::<1>(a.id).unwrap());
        let gb = float_values(grads.get::<2>(b.id).unwrap());
        let gr = float_values(rows[0].grad.clone());
        assert!(
            (ga[0] - 3.0 / 13.0).abs() < 1e-4
                && (gb[1] - 4.0 / 13.0).abs() < 1e-4
                && (gr[1] - 12.0 / 13.0).abs() < 1e-4,
            "{ga:?} {gb:?} {gr:?}"
        );
    }
}
