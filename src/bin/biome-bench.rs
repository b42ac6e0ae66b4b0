//! `biome-bench`: the performance benchmark of the siamese `SequencePairClassifier`.
//!
//! A port of `shared/bench/torch_ref/bench_pair.py` (the PyTorch reference): the same four
//! workloads W1–W4, built through the library's public config API, the same data
//! distribution, the same timed regions, the same analytic FLOP count and the same JSON fields.
//!
//! ```text
//! cargo build --release --bin biome-bench
//! biome-bench --device flex --threads 2 --workload all --gemm --json ours.json
//! ```

use std::error::Error;
use std::time::Instant;

// burn allocates a fresh buffer for most tensor results; mimalloc keeps them cached instead of
// returning every large one to the kernel (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use biome::biome_train::{OptimizerConfig, PairBatch as StepBatch, TrainStep, TrainerConfig};
use biome_core::{RecordBatch, TOKENS, Vocabulary};
use biome_models::Regularizer;
use biome_models::{
    ClassifierConfig, RecordTensors, SequencePairClassifier, Weights, float_values, label_tensor,
};
use biome_modules::TokenEmbedderConfig;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Distribution;
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn Error>>;

// ============================================================================ workloads

/// An encoder as the FLOP formula sees it (bench_pair.py's `build_encoder` specs).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Enc {
    Gru {
        hidden: usize,
        layers: usize,
    },
    Lstm {
        hidden: usize,
        bidirectional: bool,
    },
    Cnn {
        filters: usize,
        ngrams: &'static [usize],
    },
    Boe,
}

impl Enc {
    fn output_dim(self, input_dim: usize) -> usize {
        match self {
            Enc::Gru { hidden, .. } => hidden,
            Enc::Lstm {
                hidden,
                bidirectional,
            } => hidden * if bidirectional { 2 } else { 1 },
            Enc::Cnn { filters, ngrams } => filters * ngrams.len(),
            Enc::Boe => input_dim,
        }
    }

    /// Forward FLOPs over a mask of `rows` rows of `t` slots with `true_count` real tokens
    /// (bench_pair.py's `RnnEncoder.flops`, `CnnEncoder.flops`, `BoeEncoder.flops`).
    fn flops(self, input_dim: usize, m: MaskStats) -> u64 {
        match self {
            Enc::Gru { hidden, layers } => {
                m.true_count * rnn_flops_per_step(3, input_dim, hidden, layers, 1)
            }
            Enc::Lstm {
                hidden,
                bidirectional,
            } => {
                let dirs = if bidirectional { 2 } else { 1 };
                m.true_count * rnn_flops_per_step(4, input_dim, hidden, 1, dirs)
            }
            Enc::Cnn { filters, ngrams } => {
                let per_row: usize = ngrams
                    .iter()
                    .map(|&k| 2 * k * input_dim * filters * (m.t + 1).saturating_sub(k))
                    .sum();
                (m.rows * per_row) as u64
            }
            Enc::Boe => (m.rows * m.t * input_dim) as u64,
        }
    }
}

/// FLOPs per (row, true time step): per layer and direction `2*(in+hid)*gates*hid`.
fn rnn_flops_per_step(
    gates: usize,
    input: usize,
    hidden: usize,
    layers: usize,
    dirs: usize,
) -> u64 {
    let (mut total, mut d) = (0, input);
    for _ in 0..layers {
        total += dirs * 2 * (d + hidden) * gates * hidden;
        d = hidden * dirs;
    }
    total as u64
}

/// What the FLOP formula needs of a `[rows, t]` mask.
#[derive(Debug, Clone, Copy)]
struct MaskStats {
    rows: usize,
    t: usize,
    true_count: u64,
}

#[derive(Debug, Clone)]
struct Workload {
    key: &'static str,
    name: &'static str,
    vocab: usize,
    batch: usize,
    infer_batch: usize,
    /// 0 = single field `[B, T]`, else `[B, fields, T]`.
    fields: usize,
    min_len: usize,
    max_len: usize,
    emb: usize,
    seq2vec: Enc,
    mf_seq2seq: Option<Enc>,
    mf_seq2vec: Option<Enc>,
    ff: Option<usize>,
    dropout: f64,
    classes: usize,
    /// The model, as a `ClassifierConfig` JSON (the library's public config API).
    config: &'static str,
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            key: "W1",
            name: "dedup names",
            vocab: 20000,
            batch: 64,
            infer_batch: 256,
            fields: 0,
            min_len: 2,
            max_len: 8,
            emb: 300,
            seq2vec: Enc::Gru {
                hidden: 150,
                layers: 3,
            },
            mf_seq2seq: None,
            mf_seq2vec: None,
            ff: None,
            dropout: 0.0,
            classes: 2,
            config: r#"{
                "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 300}}},
                "seq2vec_encoder": {"gru": {"hidden_size": 150, "num_layers": 3, "dropout": 0.6}}
            }"#,
        },
        Workload {
            key: "W2",
            name: "sentence pairs",
            vocab: 30000,
            batch: 64,
            infer_batch: 256,
            fields: 0,
            min_len: 10,
            max_len: 40,
            emb: 300,
            seq2vec: Enc::Lstm {
                hidden: 256,
                bidirectional: true,
            },
            mf_seq2seq: None,
            mf_seq2vec: None,
            ff: Some(512),
            dropout: 0.2,
            classes: 3,
            config: r#"{
                "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 300}}},
                "seq2vec_encoder": {"lstm": {"hidden_size": 256, "bidirectional": true}},
                "dropout": 0.2,
                "feed_forward": {"num_layers": 1, "hidden_dims": 512, "activations": "relu"}
            }"#,
        },
        Workload {
            key: "W3",
            name: "multifield records",
            vocab: 20000,
            batch: 32,
            infer_batch: 128,
            fields: 6,
            min_len: 0,
            max_len: 20,
            emb: 128,
            seq2vec: Enc::Cnn {
                filters: 64,
                ngrams: &[2, 3, 4, 5],
            },
            mf_seq2seq: Some(Enc::Lstm {
                hidden: 128,
                bidirectional: true,
            }),
            mf_seq2vec: Some(Enc::Boe),
            ff: None,
            dropout: 0.0,
            classes: 2,
            config: r#"{
                "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 128}}},
                "seq2vec_encoder": {"cnn": {"num_filters": 64, "ngram_filter_sizes": [2, 3, 4, 5]}},
                "multifield_seq2seq_encoder": {"lstm": {"hidden_size": 128, "bidirectional": true}},
                "multifield_seq2vec_encoder": {"boe": {"averaged": true}}
            }"#,
        },
        Workload {
            key: "W4",
            name: "bag of embeddings",
            vocab: 50000,
            batch: 256,
            infer_batch: 256,
            fields: 0,
            min_len: 5,
            max_len: 50,
            emb: 300,
            seq2vec: Enc::Boe,
            mf_seq2seq: None,
            mf_seq2vec: None,
            ff: None,
            dropout: 0.0,
            classes: 2,
            config: r#"{
                "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 300}}},
                "seq2vec_encoder": {"boe": {"averaged": true}}
            }"#,
        },
    ]
}

impl Workload {
    fn idx(&self) -> u64 {
        self.key[1..].parse().expect("workload keys are W<n>")
    }

    /// bench_pair.py's `config` dict in the JSON.
    fn config_json(&self) -> Value {
        let enc = |e: Enc| match e {
            Enc::Gru { hidden, layers } => json!(["gru", {"hidden": hidden, "layers": layers}]),
            Enc::Lstm {
                hidden,
                bidirectional,
            } => json!(["lstm", {"hidden": hidden, "bidirectional": bidirectional}]),
            Enc::Cnn { filters, ngrams } => json!(["cnn", {"filters": filters, "ngrams": ngrams}]),
            Enc::Boe => json!(["boe", {}]),
        };
        let mut c = json!({
            "vocab": self.vocab, "batch": self.batch, "infer_batch": self.infer_batch,
            "fields": self.fields, "min_len": self.min_len, "max_len": self.max_len,
            "emb": self.emb, "seq2vec": enc(self.seq2vec), "classes": self.classes,
            "dropout": self.dropout,
        });
        if let Some(e) = self.mf_seq2seq {
            c["mf_seq2seq"] = enc(e);
        }
        if let Some(e) = self.mf_seq2vec {
            c["mf_seq2vec"] = enc(e);
        }
        if let Some(ff) = self.ff {
            c["ff"] = json!(ff);
        }
        c
    }

    /// Analytic forward FLOPs of one record batch (bench_pair.py's `RecordEncoder.flops`).
    fn record_flops(&self, batch: &RecordBatch) -> u64 {
        let t = *batch.shape_tokens.last().expect("shape");
        let b = batch.batch_size();
        let tok = MaskStats {
            rows: batch.tokens.len() / t,
            t,
            true_count: batch.tokens.iter().filter(|&&id| id != 0).count() as u64,
        };
        let mut total = self.seq2vec.flops(self.emb, tok);
        let mut dim = self.seq2vec.output_dim(self.emb);
        if self.fields > 0 {
            let field = MaskStats {
                rows: b,
                t: self.fields,
                true_count: batch
                    .tokens
                    .chunks(t)
                    .filter(|f| f.iter().any(|&id| id != 0))
                    .count() as u64,
            };
            for enc in [self.mf_seq2seq, self.mf_seq2vec].into_iter().flatten() {
                total += enc.flops(dim, field);
                dim = enc.output_dim(dim);
            }
        }
        if let Some(ff) = self.ff {
            total += (b * 2 * dim * ff) as u64;
        }
        total
    }

    /// Record vector size (input of the output layer is twice this).
    fn record_dim(&self) -> usize {
        let mut dim = self.seq2vec.output_dim(self.emb);
        if self.fields > 0 {
            for enc in [self.mf_seq2seq, self.mf_seq2vec].into_iter().flatten() {
                dim = enc.output_dim(dim);
            }
        }
        self.ff.unwrap_or(dim)
    }

    /// Analytic forward FLOPs of a pair batch (bench_pair.py's `PairClassifier.flops`).
    fn pair_flops(&self, r1: &RecordBatch, r2: &RecordBatch) -> u64 {
        let out = (r1.batch_size() * 2 * (2 * self.record_dim()) * self.classes) as u64;
        self.record_flops(r1) + self.record_flops(r2) + out
    }

    /// bench_pair.py's `make_ids`: ids uniform in [1, vocab), true lengths uniform in
    /// [min_len, max_len], zero padding after; multifield records get at least one non-empty
    /// field (all the record's field lengths are drawn again while all are empty).
    fn make_ids(&self, rng: &mut StdRng, batch: usize) -> RecordBatch {
        let t = self.max_len;
        let f = self.fields.max(1);
        let mut lengths = vec![0usize; batch * f];
        for rec in lengths.chunks_mut(f) {
            loop {
                for l in rec.iter_mut() {
                    *l = rng.random_range(self.min_len..=self.max_len);
                }
                if self.fields == 0 || rec.iter().any(|&l| l > 0) {
                    break;
                }
            }
        }
        let mut tokens = Vec::with_capacity(batch * f * t);
        for &len in &lengths {
            for pos in 0..t {
                let id = rng.random_range(1..self.vocab as i64);
                tokens.push(if pos < len { id } else { 0 });
            }
        }
        let shape_tokens = if self.fields > 0 {
            vec![batch, self.fields, t]
        } else {
            vec![batch, t]
        };
        RecordBatch {
            shape_tokens,
            token_mask: tokens.iter().map(|&id| id != 0).collect(),
            tokens,
            shape_chars: None,
            chars: None,
        }
    }

    fn make_batches(&self, seed: u64, batch: usize, n: usize) -> Vec<PairBatch> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let r1 = self.make_ids(&mut rng, batch);
                let r2 = self.make_ids(&mut rng, batch);
                let labels = (0..batch)
                    .map(|_| rng.random_range(0..self.classes as i64))
                    .collect();
                PairBatch { r1, r2, labels }
            })
            .collect()
    }
}

struct PairBatch {
    r1: RecordBatch,
    r2: RecordBatch,
    labels: Vec<i64>,
}

// ============================================================================== timing

/// (all CPUs' busy seconds incl. steal, this process' CPU seconds), as bench_pair.py.
fn cpu_busy_s() -> Option<(f64, f64)> {
    const TCK: f64 = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let guest = if v.len() > 9 { v[8] + v[9] } else { 0 };
    let busy = v.iter().sum::<u64>() - v.get(3)? - v.get(4)? - guest;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = own.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((busy as f64 / TCK, (utime + stime) as f64 / TCK))
}

/// Share of the machine's CPU time used by other processes (or stolen) during `wall_s`.
fn foreign_cpu_pct(before: Option<(f64, f64)>, after: Option<(f64, f64)>, wall_s: f64) -> Value {
    match (before, after) {
        (Some(b), Some(a)) if wall_s > 0.0 => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let foreign = (a.0 - b.0) - (a.1 - b.1);
            json!((100.0 * foreign / (wall_s * cpus)).max(0.0))
        }
        _ => Value::Null,
    }
}

/// Peak resident set size of this process so far, in MiB (`VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn stats(xs: &[f64]) -> Value {
    json!({
        "median": median(xs),
        "min": xs.iter().copied().fold(f64::INFINITY, f64::min),
        "max": xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "mean": mean(xs),
    })
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn sync(device: &Device) -> Res<()> {
    device
        .sync()
        .map_err(|e| format!("device sync failed: {e:?}").into())
}

/// fp32 `n^3` matmul rate in GFLOP/s: median of 5 after 2 warm-ups (as bench_pair.py).
fn gemm_peak_gflops(device: &Device, n: usize) -> Res<f64> {
    let a = Tensor::<2>::random([n, n], Distribution::Default, device);
    let b = Tensor::<2>::random([n, n], Distribution::Default, device);
    sync(device)?;
    let mut times = vec![];
    for i in 0..7 {
        let t0 = Instant::now();
        let c = a.clone().matmul(b.clone());
        // Read one value back: a lazy (fusing) GPU backend may otherwise never run a product
        // nobody reads, and the clock would time nothing (wgpu gave 10^7 GFLOP/s).
        let corner = c
            .slice([0..1, 0..1])
            .try_into_data()
            .map_err(|e| format!("the GEMM check's product failed: {e:?}"))?;
        sync(device)?;
        let dt = t0.elapsed().as_secs_f64();
        drop(corner);
        if i >= 2 {
            times.push(dt);
        }
    }
    Ok(2.0 * (n as f64).powi(3) / median(&times) / 1e9)
}

// ============================================================================ workload

struct Run<'a> {
    args: &'a Args,
    device: &'a Device,
}

fn upload(b: &PairBatch, device: &Device) -> (RecordTensors, RecordTensors, Tensor<1, Int>) {
    (
        RecordTensors::from_batch(&b.r1, device),
        RecordTensors::from_batch(&b.r2, device),
        label_tensor(&b.labels, device),
    )
}

impl Run<'_> {
    fn bench_workload(&self, w: &Workload) -> Res<Value> {
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
        let batches: Vec<_> = batches.iter().map(|b| upload(b, &ad)).collect();
        sync(&ad)?;
        let (mut total, mut fwd, mut bwd, mut opt) = (vec![], vec![], vec![], vec![]);
        let mut losses = vec![];
        // The first step's wall time (on a GPU it compiles the kernels), and the time from the
        // start of this workload (model built, data uploaded) to the end of that step.
        let (mut first_step_ms, mut to_first_step_s) = (f64::NAN, f64::NAN);
        for (i, (record1, record2, labels)) in batches.into_iter().enumerate() {
            let batch = StepBatch {
                record1,
                record2,
                labels,
            };
            sync(&ad)?;
            let t0 = Instant::now();
            let (loss, _logits) = step.loss(&model, &batch)?;
            sync(&ad)?;
            let t1 = Instant::now();
            let grads = step.backward(&model, loss.clone())?;
            sync(&ad)?;
            let t2 = Instant::now();
            model = step.update(model, grads)?;
            sync(&ad)?;
            // Read the loss back to the host before stopping the clock, as `.item()` would.
            let l = float_values(loss)[0];
            let t3 = Instant::now();
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
        let ibatches: Vec<_> = ibatches.iter().map(|b| upload(b, &plain)).collect();
        sync(&plain)?;
        let mut itimes = vec![];
        let mut first_infer_ms = f64::NAN;
        let mut last_probs = vec![];
        for (i, (r1, r2, _)) in ibatches.iter().enumerate() {
            sync(&plain)?;
            let t0 = Instant::now();
            let out = model.forward(r1, r2, None)?;
            let probs = float_values(out.probs);
            let dt = ms_since(t0);
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
        let res = json!({
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

// ================================================================================== CLI

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadArg {
    W1,
    W2,
    W3,
    W4,
    All,
    /// No workload (with `--gemm`: only the GEMM reference).
    None,
}

/// Benchmark of the siamese pair classifier, the port of bench_pair.py.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Backend: flex, ndarray or wgpu (those compiled in via the root crate's features).
    #[arg(long, default_value = biome::default_device_name())]
    device: String,
    #[arg(long, value_enum, default_value = "all", ignore_case = true)]
    workload: WorkloadArg,
    /// Size of the rayon global pool (flex, ndarray); 0 = rayon's default.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the results as JSON here (bench_pair.py's fields).
    #[arg(long, value_name = "OUT")]
    json: Option<std::path::PathBuf>,
    /// Timed train steps.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Untimed train warm-up steps.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Timed inference batches.
    #[arg(long, default_value_t = 20)]
    infer_steps: usize,
    /// Untimed inference batches.
    #[arg(long, default_value_t = 3)]
    infer_warmup: usize,
    /// Measure the fp32 GEMM reference rate (2048^3 on CPU backends, 8192^3 on wgpu).
    #[arg(long)]
    gemm: bool,
    /// Measure the tokenizer's speed (tokens/s) on generated person records.
    #[arg(long)]
    tokenizer: bool,
    /// Variant: the token embedding is `sparse: true` (row-wise gradient) and its rows are
    /// updated by the row-wise AMSGrad (`biome::sparse_adam`); the reference uses dense Adam.
    #[arg(long)]
    sparse_embeddings: bool,
}

/// Tokens per second of the word tokenizer (lowercasing, as the shipped configs do) over the
/// texts of 20,000 generated person-record pairs; the median of 5 passes.
fn tokenizer_tokens_per_s() -> (f64, usize) {
    use biome_core::{Tokenizer, TokenizerConfig};
    let texts: Vec<String> = biome::demo::generate_pairs(20_000, 1)
        .into_iter()
        .flat_map(|(a, b, _)| [a.fields.join(" "), b.fields.join(" ")])
        .collect();
    let tokenizer = Tokenizer::new(TokenizerConfig {
        lowercase: true,
        ..Default::default()
    });
    let mut rates = vec![];
    let mut tokens = 0;
    for _ in 0..5 {
        let t0 = Instant::now();
        tokens = texts
            .iter()
            .map(|t| tokenizer.tokenize(t).len())
            .sum::<usize>();
        rates.push(tokens as f64 / t0.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    (rates[2], tokens)
}

fn cpu_model() -> Value {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| json!(m.trim()))
        })
        .unwrap_or(Value::Null)
}

fn main() -> Res<()> {
    let args = Args::parse();
    biome_kernels::allocator::keep_freed_memory();
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()?;
    }
    let device = biome::device_from_name(&args.device)?;
    let device_name = args.device.as_str();
    let mut meta = json!({
        "biome": env!("CARGO_PKG_VERSION"), "burn": "0.22.1", "device": device_name,
        "threads": rayon::current_num_threads(), "machine": std::env::consts::ARCH,
        "adam": format!(
            "{} Adam(amsgrad, eps 1e-8){}",
            // FusedAdam runs its one-pass update on flex only (burn's Adam elsewhere).
            if std::env::var("BIOME_FUSED_ADAM").is_ok_and(|v| v == "0") || device_name != "flex"
            {
                "burn"
            } else {
                "biome FusedAdam"
            },
            if args.sparse_embeddings {
                "; token embedding: sparse rows, row-wise AMSGrad"
            } else {
                ""
            }
        ),
        "sparse_embeddings": args.sparse_embeddings,
        "steps": args.steps, "warmup": args.warmup,
        "infer_steps": args.infer_steps, "infer_warmup": args.infer_warmup,
        "cpu": cpu_model(),
        "release": !cfg!(debug_assertions),
    });
    let (c0, w0) = (cpu_busy_s(), Instant::now());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let start_foreign = foreign_cpu_pct(c0, cpu_busy_s(), w0.elapsed().as_secs_f64());
    if let Some(p) = start_foreign.as_f64()
        && p > 5.0
    {
        println!(
            "WARNING: other processes use {p:.0}% of the CPUs before start; timings will be \
             inflated"
        );
    }
    meta["foreign_cpu_pct_at_start"] = start_foreign;
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; build with --release for meaningful numbers");
    }
    println!("meta: {meta}");

    let mut peak = None;
    if args.gemm {
        let n = if args.device == "wgpu" { 8192 } else { 2048 };
        let p = gemm_peak_gflops(&device, n)?;
        println!("fp32 GEMM reference ({n}^3 matmul): {p:.1} GFLOP/s");
        meta["gemm_peak_gflops"] = json!(p);
        meta["gemm_n"] = json!(n);
        peak = Some(p);
    }

    if args.tokenizer {
        let (rate, tokens) = tokenizer_tokens_per_s();
        println!("tokenizer: {rate:.0} tokens/s ({tokens} tokens per pass, median of 5)");
        meta["tokenizer_tokens_per_s"] = json!(rate);
    }

    let keys: Vec<&str> = match args.workload {
        WorkloadArg::All => vec!["W1", "W2", "W3", "W4"],
        WorkloadArg::None => vec![],
        WorkloadArg::W1 => vec!["W1"],
        WorkloadArg::W2 => vec!["W2"],
        WorkloadArg::W3 => vec!["W3"],
        WorkloadArg::W4 => vec!["W4"],
    };
    let run = Run {
        args: &args,
        device: &device,
    };
    let all = workloads();
    let mut results = vec![];
    for k in keys {
        let w = all.iter().find(|w| w.key == k).expect("known workload");
        results.push(run.bench_workload(w)?);
    }
    meta["peak_rss_mib"] = json!(peak_rss_mib());

    if !results.is_empty() {
        print_table(&meta, &results, peak);
    }
    if let Some(path) = &args.json {
        let out = json!({"meta": meta, "checks": {}, "results": results});
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn print_table(meta: &Value, results: &[Value], peak: Option<f64>) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "\n== {} | burn 0.22.1 | threads {} | GEMM ref {}",
        meta["device"].as_str().unwrap_or("?"),
        meta["threads"],
        peak.map_or("-".to_string(), |p| format!("{p:.1} GFLOP/s"))
    );
    let hdr = format!(
        "{:<24}{:>18}{:>9}{:>9}{:>15}{:>15}{:>12}{:>10}{:>8}",
        "workload",
        "train ms/step med",
        "min",
        "max",
        "train pairs/s",
        "infer pairs/s",
        "GFLOP/step",
        "GFLOP/s",
        "% GEMM"
    );
    println!("{hdr}\n{}", "-".repeat(hdr.len()));
    for r in results {
        let t = &r["train_ms"];
        let pct = peak.map_or("-".to_string(), |p| {
            format!("{:.1}%", 100.0 * f(&r["train_gflops_achieved"]) / p)
        });
        println!(
            "{:<24}{:>18.2}{:>9.2}{:>9.2}{:>15.0}{:>15.0}{:>12.3}{:>10.1}{:>8}",
            format!(
                "{} {}",
                r["workload"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            ),
            f(&t["median"]),
            f(&t["min"]),
            f(&t["max"]),
            f(&r["train_pairs_per_s"]),
            f(&r["infer_pairs_per_s"]),
            f(&r["train_gflop_per_step"]),
            f(&r["train_gflops_achieved"]),
            pct
        );
    }
    println!(
        "\n{:<24}{:>9}{:>9}{:>9}{:>10}{:>12}{:>10}{:>15}{:>13}",
        "workload",
        "fwd ms",
        "bwd ms",
        "opt ms",
        "params",
        "infer batch",
        "infer ms",
        "infer GFLOP/s",
        "other CPU %"
    );
    for r in results {
        println!(
            "{:<24}{:>9.2}{:>9.2}{:>9.2}{:>9.2}M{:>12}{:>10.2}{:>15.1}{:>13.1}",
            format!(
                "{} {}",
                r["workload"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            ),
            f(&r["train_fwd_ms"]["median"]),
            f(&r["train_bwd_ms"]["median"]),
            f(&r["train_opt_ms"]["median"]),
            f(&r["params"]) / 1e6,
            r["infer_batch"].as_u64().unwrap_or(0),
            f(&r["infer_ms"]["median"]),
            f(&r["infer_gflops_achieved"]),
            f(&r["foreign_cpu_pct"]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(shape: Vec<usize>, tokens: Vec<i64>) -> RecordBatch {
        RecordBatch {
            shape_tokens: shape,
            token_mask: tokens.iter().map(|&t| t != 0).collect(),
            tokens,
            shape_chars: None,
            chars: None,
        }
    }

    fn w(key: &str) -> Workload {
        workloads().into_iter().find(|w| w.key == key).unwrap()
    }

    #[test]
    fn rnn_flops_per_step_matches_bench_pair() {
        // GRU 300 -> 150 x 3 layers: 2*(300+150)*3*150 + 2 * 2*(150+150)*3*150
        assert_eq!(rnn_flops_per_step(3, 300, 150, 3, 1), 405_000 + 2 * 270_000);
        // BiLSTM 300 -> 256: 2 dirs * 2*(300+256)*4*256
        assert_eq!(rnn_flops_per_step(4, 300, 256, 1, 2), 2 * 2 * 556 * 4 * 256);
    }

    #[test]
    fn pair_flops_w1_counts_true_steps_and_output() {
        // 2 rows, lengths 3 and 1 (padded to 8).
        let r = batch(
            vec![2, 8],
            vec![5, 6, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0],
        );
        let per_step = rnn_flops_per_step(3, 300, 150, 3, 1);
        let out = (2 * 2 * 300 * 2) as u64;
        assert_eq!(w("W1").pair_flops(&r, &r), 2 * 4 * per_step + out);
    }

    #[test]
    fn record_flops_w3_cnn_counts_every_row_and_field_lstm_non_empty_fields() {
        // 1 record, 6 fields x T 20; fields 0 and 3 non-empty.
        let mut ids = vec![0i64; 6 * 20];
        ids[0] = 4;
        ids[3 * 20 + 1] = 7;
        let r = batch(vec![1, 6, 20], ids);
        let cnn: usize = [2, 3, 4, 5]
            .iter()
            .map(|&k| 2 * k * 128 * 64 * (20 - k + 1))
            .sum();
        let lstm = 2 * rnn_flops_per_step(4, 256, 128, 1, 2);
        let boe = (6 * 256) as u64;
        assert_eq!(w("W3").record_flops(&r), 6 * cnn as u64 + lstm + boe);
    }

    #[test]
    fn w4_boe_flops_and_data_distribution() {
        let wl = w("W4");
        let b = wl.make_batches(1, 256, 1).pop().unwrap();
        assert_eq!(b.r1.shape_tokens, vec![256, 50]);
        assert_eq!(wl.record_flops(&b.r1), (256 * 50 * 300) as u64);
        for row in b.r1.tokens.chunks(50) {
            let len = row.iter().take_while(|&&t| t != 0).count();
            assert!((5..=50).contains(&len));
            assert!(row[len..].iter().all(|&t| t == 0));
            assert!(row.iter().all(|&t| t < 50000));
        }
        let w3 = w("W3");
        let b = w3.make_batches(2, 64, 1).pop().unwrap();
        for rec in b.r1.tokens.chunks(6 * 20) {
            assert!(
                rec.iter().any(|&t| t != 0),
                "every record has a non-empty field"
            );
        }
    }
}
