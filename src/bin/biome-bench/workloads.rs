//! The four workloads W1–W4 of `bench_pair.py`, their data and their analytic FLOP model.

use biome_core::RecordBatch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// An encoder as the FLOP formula sees it (bench_pair.py's `build_encoder` specs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Enc {
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
    pub(crate) fn output_dim(self, input_dim: usize) -> usize {
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
    pub(crate) fn flops(self, input_dim: usize, m: MaskStats) -> u64 {
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
pub(crate) fn rnn_flops_per_step(
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
pub(crate) struct MaskStats {
    pub(crate) rows: usize,
    pub(crate) t: usize,
    pub(crate) true_count: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) key: &'static str,
    pub(crate) name: &'static str,
    pub(crate) vocab: usize,
    pub(crate) batch: usize,
    pub(crate) infer_batch: usize,
    /// 0 = single field `[B, T]`, else `[B, fields, T]`.
    pub(crate) fields: usize,
    pub(crate) min_len: usize,
    pub(crate) max_len: usize,
    pub(crate) emb: usize,
    pub(crate) seq2vec: Enc,
    pub(crate) mf_seq2seq: Option<Enc>,
    pub(crate) mf_seq2vec: Option<Enc>,
    pub(crate) ff: Option<usize>,
    pub(crate) dropout: f64,
    pub(crate) classes: usize,
    /// The model, as a `ClassifierConfig` JSON (the library's public config API).
    pub(crate) config: &'static str,
}

pub(crate) fn workloads() -> Vec<Workload> {
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
    pub(crate) fn idx(&self) -> u64 {
        self.key[1..].parse().expect("workload keys are W<n>")
    }

    /// bench_pair.py's `config` dict in the JSON.
    pub(crate) fn config_json(&self) -> Value {
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
    pub(crate) fn record_flops(&self, batch: &RecordBatch) -> u64 {
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
    pub(crate) fn record_dim(&self) -> usize {
        let mut dim = self.seq2vec.output_dim(self.emb);
        if self.fields > 0 {
            for enc in [self.mf_seq2seq, self.mf_seq2vec].into_iter().flatten() {
                dim = enc.output_dim(dim);
            }
        }
        self.ff.unwrap_or(dim)
    }

    /// Analytic forward FLOPs of a pair batch (bench_pair.py's `PairClassifier.flops`).
    pub(crate) fn pair_flops(&self, r1: &RecordBatch, r2: &RecordBatch) -> u64 {
        let out = (r1.batch_size() * 2 * (2 * self.record_dim()) * self.classes) as u64;
        self.record_flops(r1) + self.record_flops(r2) + out
    }

    /// bench_pair.py's `make_ids`: ids uniform in [1, vocab), true lengths uniform in
    /// [min_len, max_len], zero padding after; multifield records get at least one non-empty
    /// field (all the record's field lengths are drawn again while all are empty).
    pub(crate) fn make_ids(&self, rng: &mut StdRng, batch: usize) -> RecordBatch {
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

    pub(crate) fn make_batches(&self, seed: u64, batch: usize, n: usize) -> Vec<PairBatch> {
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

pub(crate) struct PairBatch {
    pub(crate) r1: RecordBatch,
    pub(crate) r2: RecordBatch,
    pub(crate) labels: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use biome_core::RecordBatch;

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
