//! The training loop: bucketed, shuffled batches; the training step ([`crate::step`]); early
//! stopping on any reported validation metric; the best model kept as the archive; a checkpoint
//! after every epoch for `--resume`; `metrics.jsonl`; observers for what is shown or drawn.
//!
//! Why not `burn::train::Learner`: it needs burn's `train` feature (a TUI, dataset and metric
//! stack that roughly doubles the cold build on our 2-core CI), and the parts that matter here
//! are ours anyway — name-weighted loss and per-label metrics, early stopping on those metrics,
//! and resuming that reproduces an uninterrupted run bit for bit, which needs control over the
//! batch order and the dropout seed of every epoch.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use biome_core::{Batcher, PairExample, Vocabulary, bucket_batches_seeded, sequential_batches};
use biome_models::{
    MetricsAccumulator, RecordTensors, Regularizer, RegularizerRule, SequencePairClassifier,
    float_values, label_tensor,
};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::archive;
use crate::checkpoint::{self, Checkpoint, CheckpointFiles, TrainerState};
use crate::config::TrainerConfig;
use crate::error::{Result, TrainError};
use crate::observer::{EpochReport, TrainObserver};
use crate::step::{PairBatch, TrainStep};

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

/// Mean loss and metrics of `model` over `examples` (no autodiff, no dropout). Losses and
/// counts are summed on the device and read back once.
pub fn evaluate_examples(
    model: &SequencePairClassifier,
    batcher: &Batcher,
    vocab: &Vocabulary,
    examples: &[PairExample],
    batch_size: usize,
    device: &Device,
) -> Result<BTreeMap<String, f64>> {
    let mut metrics = MetricsAccumulator::new(model.labels().to_vec());
    let mut loss_sum: Option<Tensor<1>> = None;
    for idx in sequential_batches(examples.len(), batch_size)? {
        let batch = batcher.batch_indices(examples, &idx, vocab)?;
        let labels = batch
            .labels
            .as_ref()
            .ok_or_else(|| TrainError::Invalid("evaluation data has no labels".into()))?;
        let r1 = RecordTensors::from_batch(&batch.record1, device);
        let r2 = RecordTensors::from_batch(&batch.record2, device);
        let targets = label_tensor(labels, device);
        let out = model.forward(&r1, &r2, Some(targets.clone()))?;
        metrics.update(&out.logits, &targets);
        if let Some(loss) = out.loss {
            let weighted = loss.mul_scalar(idx.len() as f64);
            loss_sum = Some(match loss_sum {
                Some(sum) => sum + weighted,
                None => weighted,
            });
        }
    }
    let loss_sum = loss_sum.map_or(0.0, |l| float_values(l)[0] as f64);
    let mut metrics = metrics.metrics();
    metrics.insert("loss".into(), loss_sum / examples.len().max(1) as f64);
    Ok(metrics)
}

/// Inputs of one training run.
pub struct TrainRun<'a> {
    /// The trainer options.
    pub trainer: &'a TrainerConfig,
    /// The model's regularization rules (their penalty joins the loss).
    pub regularizer: &'a [RegularizerRule],
    /// The whole configuration as JSON, saved into the archive as it is.
    pub config_json: &'a str,
    /// Files the model needs beside its weights (see [`archive::ASSETS`]), saved into the
    /// archive with it.
    pub assets: &'a [(String, Vec<u8>)],
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
}

/// Train `model` (built on the autodiff device); returns the best model (plain device) and a
/// summary. The archive of the best model is written to `run.output` as training goes;
/// `observers` are told of every step and epoch.
pub fn train(
    mut model: SequencePairClassifier,
    run: &TrainRun<'_>,
    observers: &mut [&mut dyn TrainObserver],
) -> Result<(SequencePairClassifier, TrainSummary)> {
    let cfg = run.trainer;
    let goal = &cfg.validation_metric;
    if run.train.is_empty() {
        return Err(TrainError::Invalid(
            "the training data has no examples".into(),
        ));
    }
    let ad_device = run.device.clone().autodiff();
    let regularizer = Regularizer::new(run.regularizer)?;

    std::fs::create_dir_all(run.output).map_err(|e| TrainError::io(run.output, e))?;
    let metrics_path = run.output.join("metrics.jsonl");
    let vocab_json = run.vocab.to_json();

    // The checkpoint is the truth about the run; the archive and metrics.jsonl are derived
    // from it, so after a crash at any moment they are rewritten to match it.
    // The weights first: the optimizers' parameter groups are resolved on the parameter ids
    // the loaded weights carry (which key the optimizer state).
    if let Some(ckpt) = run.resume {
        let model_path = ckpt.dir.join(checkpoint::MODEL);
        model = archive::load_module_bytes(model, ckpt.model.clone(), &model_path)?;
    }
    let mut step = TrainStep::new(cfg, regularizer, &model)?;
    let (mut state, mut best_weights) = match run.resume {
        Some(ckpt) => {
            resume(&model, &mut step, run, ckpt)?;
            (ckpt.state.clone(), ckpt.best.clone())
        }
        None => {
            checkpoint::clear(run.output)?;
            (TrainerState::default(), vec![])
        }
    };
    write_metrics(&metrics_path, &state.metrics)?;

    let lengths: Vec<usize> = run
        .train
        .iter()
        .map(|e| run.batcher.pair_length(e))
        .collect();
    // The schedule runs over `num_epochs ×` the first epoch's batch count (a pure function of
    // the data and the seed, so a resumed run computes the same total).
    let schedule = match &cfg.learning_rate_scheduler {
        Some(schedule) => {
            let total = cfg.num_epochs * epoch_batches(cfg, &lengths, epoch_seed(cfg, 1))?.len();
            schedule
                .validate(total, "trainer.learning_rate_scheduler")
                .map_err(TrainError::Invalid)?;
            Some((schedule, total))
        }
        None => None,
    };
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
        let epoch_seed = epoch_seed(cfg, epoch);
        ad_device.seed(epoch_seed);
        let batches = epoch_batches(cfg, &lengths, epoch_seed)?;
        for o in observers.iter_mut() {
            o.epoch_started(epoch, cfg.num_epochs, batches.len());
        }
        // With a schedule, metrics.jsonl shows the top-level rate of the epoch's last update.
        let mut last_lr = None;
        let mut train_metrics = MetricsAccumulator::new(model.labels().to_vec());
        let mut loss_sum = 0.0f64;
        let mut seen = 0usize;
        for (i, idx) in batches.iter().enumerate() {
            let batch = run.batcher.batch_indices(run.train, idx, run.vocab)?;
            let labels = batch
                .labels
                .as_ref()
                .ok_or_else(|| TrainError::Invalid("training data has no labels".into()))?;
            let pairs = PairBatch {
                record1: RecordTensors::from_batch(&batch.record1, &ad_device),
                record2: RecordTensors::from_batch(&batch.record2, &ad_device),
                labels: label_tensor(labels, &ad_device),
            };
            if let Some((schedule, total)) = schedule {
                let factor = schedule.factor(state.optimizer_steps, total);
                step.set_lr_factor(factor);
                last_lr = Some(cfg.optimizer.lr() * factor);
            }
            let stepped = match step.step(model, &pairs) {
                Ok(s) => s,
                Err(e) => {
                    for o in observers.iter_mut() {
                        o.stopped();
                    }
                    return Err(match e {
                        TrainError::NonFiniteLoss { value, .. } => TrainError::NonFiniteLoss {
                            epoch,
                            step: i + 1,
                            value,
                        },
                        other => other,
                    });
                }
            };
            model = stepped.model;
            state.optimizer_steps += 1;
            train_metrics.update(&stepped.logits, &pairs.labels);
            loss_sum += stepped.loss as f64 * idx.len() as f64;
            seen += idx.len();
            for o in observers.iter_mut() {
                o.step_finished(loss_sum / seen as f64);
            }
        }
        let mut train_metrics = train_metrics.metrics();
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
            return Err(TrainError::NonFiniteWeights { epoch, count: bad });
        }
        let chosen = val_metrics.as_ref().unwrap_or(&train_metrics);
        let value = *chosen.get(&goal.name).ok_or_else(|| {
            TrainError::Invalid(format!(
                "validation_metric {:?} is not reported; reported metrics: {}",
                goal.name,
                chosen.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if goal.is_better(value, state.best_value) {
            state.best_value = Some(value);
            state.best_epoch = epoch;
            state.best_metrics = chosen.clone();
            state.bad_epochs = 0;
            best_weights = archive::module_bytes(&valid_model)?;
            archive::save_weights(
                run.output,
                run.config_json,
                run.vocab,
                &best_weights,
                run.assets,
            )?;
        } else {
            state.bad_epochs += 1;
        }

        let elapsed_s = started.elapsed().as_secs_f64();
        let mut line = metrics_line(epoch, &train_metrics, val_metrics.as_ref(), elapsed_s);
        if let (Some(lr), Some(fields)) = (last_lr, line.as_object_mut()) {
            fields.insert("learning_rate".into(), lr.into());
        }
        state.metrics.push(line);
        state.epochs_completed = epoch;
        write_checkpoint(run, &step, &model, &state, &best_weights, &vocab_json)?;
        // Only now is the epoch completed: metrics.jsonl never lists an epoch that a resumed
        // run would train again.
        write_metrics(&metrics_path, &state.metrics)?;
        let report = EpochReport {
            epoch,
            epochs: cfg.num_epochs,
            training: &train_metrics,
            validation: val_metrics.as_ref(),
            elapsed_s,
            metrics_jsonl: &metrics_path,
        };
        for o in observers.iter_mut() {
            o.epoch_finished(&report);
        }
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

/// Puts the run of checkpoint `ckpt` back (its weights are already in `model`): the optimizers' states, and the
/// archive of its best model if a crash left another one (or a damaged one) in `run.output`.
fn resume(
    model: &SequencePairClassifier,
    step: &mut TrainStep,
    run: &TrainRun<'_>,
    ckpt: &Checkpoint,
) -> Result<()> {
    step.restore_optimizer(ckpt.optimizer.clone())
        .map_err(|e| {
            TrainError::archive(
                ckpt.dir.join(checkpoint::OPTIMIZER),
                format!("unreadable optimizer state: {e}"),
            )
        })?;
    if let Some(bytes) = &ckpt.sparse_optimizer {
        let path = ckpt.dir.join(checkpoint::SPARSE_OPTIMIZER);
        let sparse = step.sparse_optimizer_mut().ok_or_else(|| {
            TrainError::archive(
                &path,
                "the checkpoint has a sparse-embedding optimizer state but the optimizer is not \
                 adam",
            )
        })?;
        sparse
            .load_bytes(model, bytes, run.device)
            .map_err(|e| TrainError::archive(&path, e))?;
    }
    // A crash may have cut an archive write short, or written the archive of an epoch the
    // checkpoint does not hold: then put back the checkpoint's best model. An intact archive of
    // that model is left alone (it keeps the config it was trained with).
    let best_crc = crc32fast::hash(&ckpt.best);
    let intact = archive::open(run.output)
        .is_ok_and(|a| a.manifest.files.get(archive::WEIGHTS) == Some(&best_crc));
    if !intact {
        archive::save_weights(
            run.output,
            run.config_json,
            run.vocab,
            &ckpt.best,
            run.assets,
        )?;
    }
    Ok(())
}

/// The seed of epoch `epoch`'s randomness (batch order, dropout).
fn epoch_seed(cfg: &TrainerConfig, epoch: usize) -> u64 {
    cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64)
}

/// Writes the checkpoint of the epoch that `state` now counts as completed.
fn write_checkpoint(
    run: &TrainRun<'_>,
    step: &TrainStep,
    model: &SequencePairClassifier,
    state: &TrainerState,
    best_weights: &[u8],
    vocab_json: &str,
) -> Result<()> {
    let model_bytes = archive::module_bytes(model)?;
    let optim_bytes = step
        .optimizer()
        .into_bytes()
        .map_err(|e| TrainError::Invalid(format!("cannot serialize optimizer state: {e}")))?
        .to_vec();
    let sparse_bytes = step
        .sparse_optimizer()
        .filter(|s| s.has_state())
        .map(|s| s.to_bytes(model));
    checkpoint::write(
        run.output,
        state,
        &CheckpointFiles {
            model: &model_bytes,
            optimizer: &optim_bytes,
            best: best_weights,
            vocabulary: vocab_json.as_bytes(),
            sparse_optimizer: sparse_bytes.as_deref(),
        },
    )
}

/// The batches of one epoch: bucketed by length (with noise) or in order, shuffled when asked,
/// all drawn from `epoch_seed`.
fn epoch_batches(
    cfg: &TrainerConfig,
    lengths: &[usize],
    epoch_seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if cfg.bucketing {
        return Ok(bucket_batches_seeded(
            lengths,
            cfg.batch_size,
            cfg.bucket_noise,
            epoch_seed,
            cfg.shuffle,
        )?);
    }
    let mut b = sequential_batches(lengths.len(), cfg.batch_size)?;
    if cfg.shuffle {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        b.shuffle(&mut rand::rngs::StdRng::seed_from_u64(epoch_seed));
    }
    Ok(b)
}

/// One line of `metrics.jsonl`.
fn metrics_line(
    epoch: usize,
    training: &BTreeMap<String, f64>,
    validation: Option<&BTreeMap<String, f64>>,
    elapsed_s: f64,
) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    line.insert("epoch".into(), epoch.into());
    for (k, v) in training {
        line.insert(format!("training_{k}"), (*v).into());
    }
    for (k, v) in validation.into_iter().flatten() {
        line.insert(format!("validation_{k}"), (*v).into());
    }
    line.insert("elapsed_s".into(), elapsed_s.into());
    serde_json::Value::Object(line)
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

/// Write `metrics.jsonl`: one line per completed epoch, replaced as a whole.
fn write_metrics(path: &Path, lines: &[serde_json::Value]) -> Result<()> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    archive::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
