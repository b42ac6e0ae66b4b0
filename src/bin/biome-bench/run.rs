//! One workload's timed runs: the trainer's own step, phase by phase, then inference.

use std::time::Instant;

use biome::biome_train::{OptimizerConfig, PairBatch as StepBatch, TrainStep, TrainerConfig};
use biome_core::{TOKENS, Vocabulary};
use biome_models::{
    ClassifierConfig, RecordTensors, Regularizer, SequencePairClassifier, Weights, float_values,
    label_tensor,
};
use biome_modules::TokenEmbedderConfig;
use burn::module::Module;
use burn::prelude::*;
use serde_json::{Value, json};

use crate::counts::{Counter, summary};
use crate::measure::{
    cpu_busy_s, foreign_cpu_pct, mean, median, ms_since, peak_rss_mib, stats, sync,
};
use crate::workloads::{PairBatch, Workload};
use crate::{Args, Res};

pub(crate) struct Run<'a> {
    pub(crate) args: &'a Args,
    pub(crate) device: &'a Device,
}

/// A generated batch on `device`, as the training step takes it.
pub(crate) fn upload(b: &PairBatch, device: &Device) -> StepBatch {
    StepBatch {
        record1: RecordTensors::from_batch(&b.r1, device),
        record2: RecordTensors::from_batch(&b.r2, device),
        labels: label_tensor(&b.labels, device),
    }
}

impl Run<'_> {
    pub(crate) fn bench_workload(&self, w: &Workload) -> Res<Value> {
        let args = self.args;
        let idx = w.idx();
        let (cpu0, wall0) = (cpu_busy_s(), Instant::now());

        // Model through the public config API, on the autodiff device.
        let ad = self.device.clone().autodiff();
        ad.seed(idx); // dropout masks
        let mut config: ClassifierConfig = serde_json::from_str(w.config)?;
        if args.sparse_embeddings {
            match config.text_field_embedder.tokens.as_mut() {
                Some(TokenEmbedderConfig::Embedding(e)) => e.sparse = true,
                _ => return Err(format!("{}: no token embedding to make sparse", w.key).into()),
            }
        }
        let mut vocab = Vocabulary::new();
        vocab.extend(TOKENS, (2..w.vocab).map(|i| format!("w{i}")));
        if vocab.size(TOKENS) != w.vocab {
            return Err(format!("vocab size {} != {}", vocab.size(TOKENS), w.vocab).into());
        }
        let labels: Vec<String> = (0..w.classes).map(|c| format!("class{c}")).collect();
        let (mut model, _) = SequencePairClassifier::new(
            &config,
            &vocab,
            &labels,
            Weights::Fresh { seed: idx },
            &ad,
        )?;
        let n_params = model.num_params();
        // The trainer's own step: the library's Adam (one pass per parameter on flex; burn's
        // Adam elsewhere, or everywhere with BIOME_FUSED_ADAM=0), AMSGrad as the reference,
        // the row-wise Adam for sparse tables, no clipping, no regularizer.
        let trainer = TrainerConfig {
            optimizer: OptimizerConfig::Adam {
                lr: 1e-3,
                betas: [0.9, 0.999],
                eps: 1e-8,
                amsgrad: true,
                weight_decay: 0.0,
                parameter_groups: vec![],
            },
            ..TrainerConfig::default()
        };
        let mut step = TrainStep::new(&trainer, Regularizer::new(&[])?, &model)?;

        // ---- train: forward + loss + backward + Adam(amsgrad) step, new batch each step
        let batches = w.make_batches(1000 + idx, w.batch, args.warmup + args.steps);
        let flops: Vec<f64> = batches[args.warmup..]
            .iter()
            .map(|b| 3.0 * w.pair_flops(&b.r1, &b.r2) as f64) // bwd ~ 2x fwd
            .collect();
        // The recurrences run over the longest real sequence of a batch: `--count` reports it
        // beside the launches.
        let longest: Vec<usize> = batches
            .iter()
            .map(|b| longest_sequence(&b.r1).max(longest_sequence(&b.r2)))
            .collect();
        let batches: Vec<_> = batches.iter().map(|b| upload(b, &ad)).collect();
        sync(&ad)?;
        let (mut total, mut fwd, mut bwd, mut opt) = (vec![], vec![], vec![], vec![]);
        // `--count`: the first step (kernel compilation, autotuning) and the last untimed one.
        let mut counts = serde_json::Map::new();
        let mut losses = vec![];
        // The first step's wall time (on a GPU it compiles the kernels), and the time from the
        // start of this workload (model built, data uploaded) to the end of that step.
        let (mut first_step_ms, mut to_first_step_s) = (f64::NAN, f64::NAN);
        for (i, batch) in batches.into_iter().enumerate() {
            let counted = match i {
                _ if !args.count => None,
                0 => Some("first_step"),
                _ if i + 1 == args.warmup => Some("step"),
                _ => None,
            };
            let mut counter = counted.map(|_| Counter::start(&args.device));
            let mut phase = || counter.as_mut().map(Counter::take);
            sync(&ad)?;
            let t0 = Instant::now();
            let (loss, _logits) = step.loss(&model, &batch)?;
            sync(&ad)?;
            let t1 = Instant::now();
            let c_fwd = phase();
            let grads = step.backward(&model, loss.clone())?;
            sync(&ad)?;
            let t2 = Instant::now();
            let c_bwd = phase();
            model = step.update(model, grads)?;
            sync(&ad)?;
            let c_opt = phase();
            // Read the loss back to the host before stopping the clock, as `.item()` would.
            biome_kernels::host_reads::note("train: loss");
            let l = float_values(loss)[0];
            let t3 = Instant::now();
            if let (Some(key), Some(f), Some(b), Some(o), Some(r)) =
                (counted, c_fwd, c_bwd, c_opt, phase())
            {
                println!(
                    "{} {key} (longest sequence {}): {}",
                    w.key,
                    longest[i],
                    summary(&[("fwd", &f), ("bwd", &b), ("opt", &o), ("loss read", &r)])
                );
                counts.insert(
                    key.into(),
                    json!({"longest_sequence": longest[i], "forward": f, "backward": b,
                           "update": o, "loss_read": r}),
                );
            }
            if i == 0 {
                first_step_ms = (t3 - t0).as_secs_f64() * 1e3;
                to_first_step_s = (t3 - wall0).as_secs_f64();
            }
            losses.push(l);
            if i >= args.warmup {
                total.push((t3 - t0).as_secs_f64() * 1e3);
                fwd.push((t1 - t0).as_secs_f64() * 1e3);
                bwd.push((t2 - t1).as_secs_f64() * 1e3);
                opt.push((t3 - t2).as_secs_f64() * 1e3);
            }
        }
        if !losses.iter().all(|l| l.is_finite() && l.abs() < 1e6) {
            return Err(format!("{}: non-finite loss {losses:?}", w.key).into());
        }
        let rss_after_train = peak_rss_mib();

        // ---- inference: no autodiff (plain device), validation mode
        let plain = self.device.clone();
        let model = model.valid();
        let ib = w.infer_batch;
        let ibatches = w.make_batches(2000 + idx, ib, args.infer_warmup + args.infer_steps);
        let iflops = mean(
            &ibatches[args.infer_warmup..]
                .iter()
                .map(|b| w.pair_flops(&b.r1, &b.r2) as f64)
                .collect::<Vec<_>>(),
        );
        let ilongest: Vec<usize> = ibatches
            .iter()
            .map(|b| longest_sequence(&b.r1).max(longest_sequence(&b.r2)))
            .collect();
        let ibatches: Vec<_> = ibatches.iter().map(|b| upload(b, &plain)).collect();
        sync(&plain)?;
        let mut itimes = vec![];
        let mut first_infer_ms = f64::NAN;
        let mut last_probs = vec![];
        for (i, batch) in ibatches.iter().enumerate() {
            let counted = match i {
                _ if !args.count => None,
                0 => Some("first_infer"),
                _ if i + 1 == args.infer_warmup => Some("infer"),
                _ => None,
            };
            let mut counter = counted.map(|_| Counter::start(&args.device));
            sync(&plain)?;
            let t0 = Instant::now();
            let out = model.forward(&batch.record1, &batch.record2, None)?;
            biome_kernels::host_reads::note("inference: probabilities");
            let probs = float_values(out.probs);
            let dt = ms_since(t0);
            if let (Some(key), Some(c)) = (counted, counter.as_mut().map(Counter::take)) {
                println!(
                    "{} {key} (longest sequence {}): {}",
                    w.key,
                    ilongest[i],
                    summary(&[("forward + read", &c)])
                );
                counts.insert(
                    key.into(),
                    json!({"longest_sequence": ilongest[i], "forward_and_read": c}),
                );
            }
            if i == 0 {
                first_infer_ms = dt;
            }
            if i >= args.infer_warmup {
                itimes.push(dt);
            }
            last_probs = probs;
        }
        let psum = last_probs
            .chunks(w.classes)
            .map(|row| (row.iter().sum::<f32>() - 1.0).abs())
            .fold(0.0f32, f32::max);
        if psum >= 1e-4 {
            return Err(format!("{}: probabilities do not sum to 1 ({psum})", w.key).into());
        }

        let med = median(&total);
        let gflop = mean(&flops) / 1e9;
        let imed = median(&itimes);
        let foreign = foreign_cpu_pct(cpu0, cpu_busy_s(), wall0.elapsed().as_secs_f64());
        let mut res = json!({
            "workload": w.key,
            "name": if args.sparse_embeddings { format!("{} [sparse emb]", w.name) } else { w.name.to_string() },
            "config": w.config_json(),
            "sparse_embeddings": args.sparse_embeddings,
            "params": n_params, "train_batch": w.batch, "infer_batch": ib,
            "train_ms": stats(&total), "train_fwd_ms": stats(&fwd), "train_bwd_ms": stats(&bwd),
            "train_opt_ms": stats(&opt), "train_wall_ms": stats(&total),
            "train_pairs_per_s": w.batch as f64 * 1e3 / med,
            "train_gflop_per_step": gflop, "train_gflops_achieved": gflop / (med / 1e3),
            "infer_ms": stats(&itimes), "infer_pairs_per_s": ib as f64 * 1e3 / imed,
            "infer_gflop_per_batch": iflops / 1e9,
            "infer_gflops_achieved": iflops / 1e9 / (imed / 1e3),
            "loss_first": losses[0], "loss_last": losses[losses.len() - 1],
            "foreign_cpu_pct": foreign,
            "peak_rss_mib_after_train": rss_after_train,
            "train_ms_all": total, "infer_ms_all": itimes,
            "first_step_ms": first_step_ms, "time_to_first_step_s": to_first_step_s,
            "first_infer_ms": first_infer_ms,
        });
        if args.count {
            res["counts"] = Value::Object(counts);
        }
        println!(
            "{} {}{}: params {:.2}M | train {:.2} ms/step (fwd {:.2} bwd {:.2} opt {:.2}) | \
             {:.3} GFLOP/step -> {:.1} GFLOP/s | infer {:.2} ms/batch{} = {:.0} pairs/s | \
             loss {:.3}->{:.3} | peak RSS {:.0} MiB",
            w.key,
            w.name,
            if args.sparse_embeddings {
                " [sparse emb]"
            } else {
                ""
            },
            n_params as f64 / 1e6,
            med,
            median(&fwd),
            median(&bwd),
            median(&opt),
            gflop,
            res["train_gflops_achieved"].as_f64().unwrap_or(f64::NAN),
            imed,
            ib,
            res["infer_pairs_per_s"].as_f64().unwrap_or(f64::NAN),
            losses[0],
            losses[losses.len() - 1],
            rss_after_train.unwrap_or(f64::NAN),
        );
        if let Some(p) = res["foreign_cpu_pct"].as_f64()
            && p > 5.0
        {
            println!(
                "WARNING {}: other processes used {p:.0}% of the CPUs during this workload; \
                 timings are inflated",
                w.key
            );
        }
        Ok(res)
    }
}

/// The longest real token sequence of a batch (over its fields): the recurrences' step count.
fn longest_sequence(batch: &biome_core::RecordBatch) -> usize {
    let t = batch.shape_tokens.last().copied().unwrap_or(0).max(1);
    batch
        .token_mask
        .chunks(t)
        .map(|row| row.iter().filter(|&&real| real).count())
        .max()
        .unwrap_or(0)
}
