//! Behaviour of the pair and single classifiers on tiny data (flex backend).

use std::collections::{BTreeMap, HashSet};

use biome_core::{
    Batcher, PairExample, Record, RecordMode, TokenIndexer, Tokenizer, TokenizerConfig, Vocabulary,
    VocabularyOptions, build_vocabulary,
};
use biome_models::{
    ClassifierConfig, MetricsAccumulator, ModelError, PairCombination, RecordTensors,
    SequenceClassifier, SequencePairClassifier, Weights, float_values, label_tensor,
};
use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

fn labels() -> Vec<String> {
    vec!["duplicate".to_string(), "not_duplicate".to_string()]
}

fn examples() -> Vec<PairExample> {
    let pairs = [
        ("anna smith", "anna smith", "duplicate"),
        ("bob jones", "bob jones", "duplicate"),
        ("carl weber", "carl weber", "duplicate"),
        ("dora kim", "dora kim", "duplicate"),
        ("anna smith", "bob jones", "not_duplicate"),
        ("carl weber", "dora kim", "not_duplicate"),
        ("bob jones", "carl weber", "not_duplicate"),
        ("dora kim", "anna smith", "not_duplicate"),
    ];
    pairs
        .iter()
        .map(|(a, b, l)| {
            PairExample::new(Record::Text(a.to_string()), Record::Text(b.to_string()), l)
        })
        .collect()
}

fn multifield_examples() -> Vec<PairExample> {
    let f = |a: &str, b: &str| Record::Fields(vec![a.to_string(), String::new(), b.to_string()]);
    vec![
        PairExample::new(f("anna", "smith"), f("anna", "smith"), "duplicate"),
        PairExample::new(f("bob", "jones"), f("bob", "jones"), "duplicate"),
        PairExample::new(f("anna", "smith"), f("bob", "jones"), "not_duplicate"),
        PairExample::new(f("carl", "weber"), f("anna", "jones"), "not_duplicate"),
    ]
}

fn setup(examples: &[PairExample], mode: RecordMode, chars: bool) -> (Vocabulary, Batcher) {
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let indexer = if chars {
        TokenIndexer::words_and_characters(3)
    } else {
        TokenIndexer::default()
    };
    let vocab = build_vocabulary(examples, &tokenizer, mode, &VocabularyOptions::default());
    (vocab, Batcher::new(tokenizer, mode, indexer))
}

fn config(json: &str) -> ClassifierConfig {
    serde_json::from_str(json).unwrap()
}

const BOE: &str = r#"{
    "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
    "seq2vec_encoder": {"boe": {"averaged": true}}
}"#;

#[derive(Default)]
struct ParamIds(Vec<(ParamId, usize, String)>, Vec<String>);

impl ModuleVisitor for ParamIds {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.1.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.1.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D, self.1.join(".")));
    }
}

fn param_ids<M: Module>(m: &M) -> Vec<(ParamId, usize, String)> {
    let mut v = ParamIds::default();
    m.visit(&mut v);
    v.0
}

/// A fresh model (seed 5) for `json`, and one batch of all of `ex` as tensors.
fn model_and_batch(
    json: &str,
    ex: &[PairExample],
    mode: RecordMode,
    chars: bool,
    device: &Device,
) -> (SequencePairClassifier, RecordTensors, RecordTensors) {
    let (vocab, batcher) = setup(ex, mode, chars);
    let (model, _) = SequencePairClassifier::new(
        &config(json),
        &vocab,
        &labels(),
        Weights::Fresh { seed: 5 },
        device,
    )
    .unwrap();
    let batch = batcher.batch(ex, &vocab).unwrap();
    let r1 = RecordTensors::from_batch(&batch.record1, device);
    let r2 = RecordTensors::from_batch(&batch.record2, device);
    (model, r1, r2)
}

fn train_losses(
    model: SequencePairClassifier,
    batcher: &Batcher,
    vocab: &Vocabulary,
    examples: &[PairExample],
    steps: usize,
    device: &Device,
) -> (SequencePairClassifier, Vec<f32>, BTreeMap<String, f64>) {
    let batch = batcher.batch(examples, vocab).unwrap();
    let r1 = RecordTensors::from_batch(&batch.record1, device);
    let r2 = RecordTensors::from_batch(&batch.record2, device);
    let y = label_tensor(batch.labels.as_ref().unwrap(), device);
    let mut optim = AdamConfig::new().init();
    let mut model = model;
    let mut losses = vec![];
    let mut metrics = MetricsAccumulator::new(model.labels().to_vec());
    for _ in 0..steps {
        let out = model.forward(&r1, &r2, Some(y.clone())).unwrap();
        metrics.update(&out.logits, &y);
        let loss = out.loss.unwrap();
        losses.push(float_values(loss.clone())[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
    }
    (model, losses, metrics.metrics())
}

#[test]
fn one_encoder_serves_both_records() {
    let device = Device::flex();
    let ex = examples();
    let (vocab, _) = setup(&ex, RecordMode::Text, false);
    let (model, _) = SequencePairClassifier::new(
        &config(BOE),
        &vocab,
        &labels(),
        Weights::Fresh { seed: 1 },
        &device,
    )
    .unwrap();
    let ids = param_ids(&model);
    // embedding table + output weight + output bias: one parameter set for both records.
    assert_eq!(ids.len(), 3, "{ids:?}");
    let unique: HashSet<_> = ids.iter().map(|i| i.0).collect();
    assert_eq!(unique.len(), 3);
    // The output layer sees [u; v] = 2 × 8 inputs.
    assert_eq!(model.output.weight.dims(), [16, 2]);
}

#[test]
fn swapping_records_with_concat_diff_product_keeps_diff_and_product_symmetric() {
    let device = Device::flex();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let mut c = config(BOE);
    c.pair_combination = PairCombination::ConcatDiffProduct;
    let (model, _) =
        SequencePairClassifier::new(&c, &vocab, &labels(), Weights::Fresh { seed: 1 }, &device)
            .unwrap();
    assert_eq!(model.output.weight.dims(), [32, 2]);
    let batch = batcher.batch(&ex[..2], &vocab).unwrap();
    let r1 = RecordTensors::from_batch(&batch.record1, &device);
    let out = model.forward(&r1, &r1, None).unwrap();
    assert_eq!(out.probs.dims(), [2, 2]);
    let p = float_values(out.probs);
    assert!((p[0] + p[1] - 1.0).abs() < 1e-5);
}

#[test]
fn single_field_model_learns_tiny_data() {
    let device = Device::flex().autodiff();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, true);
    let c = config(
        r#"{
        "text_field_embedder": {
            "tokens": {"embedding": {"embedding_dim": 8}},
            "token_characters": {"character_encoding": {
                "embedding": {"embedding_dim": 4},
                "encoder": {"cnn": {"num_filters": 4, "ngram_filter_sizes": [2, 3]}}}}
        },
        "seq2vec_encoder": {"cnn": {"num_filters": 6, "ngram_filter_sizes": [1, 2]}},
        "feed_forward": {"num_layers": 1, "hidden_dims": 8, "activations": "relu"},
        "pair_combination": "concat_diff_product"
    }"#,
    );
    let (model, _) =
        SequencePairClassifier::new(&c, &vocab, &labels(), Weights::Fresh { seed: 2 }, &device)
            .unwrap();
    let (_, losses, m) = train_losses(model, &batcher, &vocab, &ex, 40, &device);
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss did not go down: {losses:?}"
    );
    assert!(m["accuracy"] > 0.5, "{m:?}");
    assert!(m.contains_key("duplicate/f1") && m.contains_key("average/f1"));
}

#[test]
fn multifield_model_learns_tiny_data() {
    let device = Device::flex().autodiff();
    let ex = multifield_examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Multifield, false);
    let c = config(
        r#"{
        "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
        "seq2vec_encoder": {"boe": {"averaged": true}},
        "multifield_seq2vec_encoder": {"cnn": {"num_filters": 4, "ngram_filter_sizes": [1, 2]}}
    }"#,
    );
    let (model, _) =
        SequencePairClassifier::new(&c, &vocab, &labels(), Weights::Fresh { seed: 3 }, &device)
            .unwrap();
    assert!(model.encoder.is_multifield());
    let (_, losses, _) = train_losses(model, &batcher, &vocab, &ex, 40, &device);
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss did not go down: {losses:?}"
    );
}

#[test]
fn gradients_reach_every_trainable_parameter_and_not_a_frozen_embedding() {
    let device = Device::flex().autodiff();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, true);
    let c = config(
        r#"{
        "text_field_embedder": {
            "tokens": {"embedding": {"embedding_dim": 8, "trainable": false}},
            "token_characters": {"character_encoding": {
                "embedding": {"embedding_dim": 4},
                "encoder": {"boe": {"averaged": true}}}}
        },
        "seq2vec_encoder": {"boe": {}},
        "feed_forward": {"num_layers": 1, "hidden_dims": 5, "activations": "tanh"}
    }"#,
    );
    let (model, _) =
        SequencePairClassifier::new(&c, &vocab, &labels(), Weights::Fresh { seed: 4 }, &device)
            .unwrap();
    let batch = batcher.batch(&ex, &vocab).unwrap();
    let r1 = RecordTensors::from_batch(&batch.record1, &device);
    let r2 = RecordTensors::from_batch(&batch.record2, &device);
    let y = label_tensor(batch.labels.as_ref().unwrap(), &device);
    let loss = model.forward(&r1, &r2, Some(y)).unwrap().loss.unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let ids = param_ids(&model);
    assert!(ids.len() >= 5, "{ids:?}");
    for (id, dims, path) in ids {
        let has = match dims {
            1 => grads.get::<1>(id).is_some(),
            2 => grads.get::<2>(id).is_some(),
            3 => grads.get::<3>(id).is_some(),
            _ => grads.get::<4>(id).is_some(),
        };
        let frozen = path.starts_with("encoder.embedder.tokens");
        assert_eq!(has, !frozen, "gradient presence wrong for {path}");
    }
}

#[test]
fn extend_labels_keeps_old_predictions() {
    let device = Device::flex();
    let ex = examples();
    let (model, r1, r2) = model_and_batch(BOE, &ex, RecordMode::Text, false, &device);
    let before = float_values(model.forward(&r1, &r2, None).unwrap().logits);
    let model = model.extend_labels(&["maybe".to_string(), "duplicate".to_string()]);
    assert_eq!(model.labels(), &["duplicate", "not_duplicate", "maybe"]);
    let after = float_values(model.forward(&r1, &r2, None).unwrap().logits);
    for row in 0..ex.len() {
        for c in 0..2 {
            assert_eq!(
                before[row * 2 + c],
                after[row * 3 + c],
                "row {row} class {c}"
            );
        }
    }
    let decoded = model.decode(&model.forward(&r1, &r2, None).unwrap());
    assert_eq!(decoded.len(), ex.len());
    assert_eq!(decoded[0].classes.len(), 3);
}

#[test]
fn single_record_classifier_has_n_inputs_one() {
    let device = Device::flex();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let (model, _) = SequenceClassifier::new(
        &config(BOE),
        &vocab,
        &labels(),
        Weights::Fresh { seed: 6 },
        &device,
    )
    .unwrap();
    assert_eq!(model.output.weight.dims(), [8, 2]);
    let batch = batcher.batch(&ex, &vocab).unwrap();
    let r1 = RecordTensors::from_batch(&batch.record1, &device);
    let y = label_tensor(batch.labels.as_ref().unwrap(), &device);
    let out = model.forward(&r1, Some(y.clone())).unwrap();
    assert!(out.loss.is_some());
    let mut metrics = MetricsAccumulator::new(model.labels().to_vec());
    metrics.update(&out.logits, &y);
    // The accumulated metrics: accuracy equals the argmax agreement computed here.
    let probs = float_values(out.probs);
    let targets = batch.labels.as_ref().unwrap();
    let correct = targets
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            let best = if probs[i * 2] >= probs[i * 2 + 1] {
                0
            } else {
                1
            };
            best == **t as usize
        })
        .count();
    let accuracy = metrics.metrics()["accuracy"];
    assert!((accuracy - correct as f64 / targets.len() as f64).abs() < 1e-12);
}

fn build_err(json: &str, labels: &[String]) -> String {
    let device = Device::flex();
    let ex = examples();
    let (vocab, _) = setup(&ex, RecordMode::Text, false);
    let c: ClassifierConfig = match serde_json::from_str(json) {
        Ok(c) => c,
        Err(e) => return e.to_string(),
    };
    match SequencePairClassifier::new(&c, &vocab, labels, Weights::Fresh { seed: 0 }, &device) {
        Ok(_) => panic!("config should be rejected: {json}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_both_ends() {
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {"embedding_dim": 300}}}"#,
        &labels(),
    );
    assert!(
        e.contains("seq2vec_encoder")
            && e.contains("300")
            && e.contains("text_field_embedder")
            && e.contains('8'),
        "{e}"
    );
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}},
            "multifield_seq2seq_encoder": {"pass_through": {}}}"#,
        &labels(),
    );
    assert!(
        e.contains("multifield_seq2seq_encoder") && e.contains("multifield_seq2vec_encoder"),
        "{e}"
    );
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}},
            "feed_forward": {"input_dim": 5, "num_layers": 1, "hidden_dims": 4, "activations": "relu"}}"#,
        &labels(),
    );
    assert!(
        e.contains("feed_forward") && e.contains("seq2vec_encoder"),
        "{e}"
    );
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}}, "loss_weights": {"duplicate": 1.0, "nope": 2.0}}"#,
        &labels(),
    );
    assert!(e.contains("nope"), "{e}");
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}}, "loss_weights": {"duplicate": 1.0}}"#,
        &labels(),
    );
    assert!(e.contains("not_duplicate"), "{e}");
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}}, "initializer": [["(unclosed", "zero"]]}"#,
        &labels(),
    );
    assert!(e.contains("(unclosed"), "{e}");
    let e = build_err(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}}, "typo_key": 1}"#,
        &labels(),
    );
    assert!(e.contains("typo_key"), "{e}");
    assert!(matches!(
        SequencePairClassifier::new(
            &config(BOE),
            &Vocabulary::new(),
            &[],
            Weights::Fresh { seed: 0 },
            &Device::flex()
        ),
        Err(ModelError::NoLabels)
    ));
}

#[test]
fn initializer_rules_apply_first_match_and_regularizer_penalises_matches() {
    let device = Device::flex();
    let ex = examples();
    let (vocab, _) = setup(&ex, RecordMode::Text, false);
    let c = config(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"boe": {}},
            "initializer": [["output\\.weight", {"type": "constant", "val": 0.5}], ["output.*", "zero"]],
            "regularizer": [["output\\.weight", {"type": "l2", "alpha": 0.1}]]}"#,
    );
    let (model, _) =
        SequencePairClassifier::new(&c, &vocab, &labels(), Weights::Fresh { seed: 7 }, &device)
            .unwrap();
    let w = float_values(model.output.weight.val());
    assert!(w.iter().all(|&v| v == 0.5), "{w:?}");
    let b = float_values(model.output.bias.as_ref().unwrap().val());
    assert!(b.iter().all(|&v| v == 0.0), "{b:?}");
    let reg = biome_models::Regularizer::new(&c.regularizer).unwrap();
    let penalty = float_values(model.penalty(&reg).unwrap())[0];
    // 16 × 2 weights of 0.5: 0.1 · 32 · 0.25
    assert!((penalty - 0.8).abs() < 1e-5, "{penalty}");
}

/// The pair forward encodes both sides in one stacked batch; each row must get the vector it
/// gets alone, however the two sides differ in length, field count or word length, and the
/// logits must be those of two separate passes.
#[test]
fn one_pass_over_both_records_equals_two_passes() {
    let device = Device::flex();
    let text = |a: &str, b: &str| {
        PairExample::new(Record::Text(a.into()), Record::Text(b.into()), "duplicate")
    };
    let fields = |a: &[&str], b: &[&str]| {
        let f = |v: &[&str]| Record::Fields(v.iter().map(|s| s.to_string()).collect());
        PairExample::new(f(a), f(b), "not_duplicate")
    };
    let cases = [
        (
            vec![
                text("anna", "anna maria smith jones"),
                text("bob", "robert j"),
            ],
            RecordMode::Text,
            true,
            r#"{
            "text_field_embedder": {
                "tokens": {"embedding": {"embedding_dim": 8}},
                "token_characters": {"character_encoding": {
                    "embedding": {"embedding_dim": 4},
                    "encoder": {"gru": {"hidden_size": 3}}}}
            },
            "seq2seq_encoder": {"lstm": {"hidden_size": 5, "bidirectional": true}},
            "seq2vec_encoder": {"cnn": {"num_filters": 3, "ngram_filter_sizes": [1, 3]}}
        }"#,
        ),
        (
            vec![
                fields(&["anna", "smith"], &["anna", "", "maria smith", "berlin"]),
                fields(&["bob jones"], &["bob", "jones"]),
            ],
            RecordMode::Multifield,
            false,
            r#"{
            "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
            "seq2vec_encoder": {"gru": {"hidden_size": 6, "num_layers": 2}},
            "multifield_seq2seq_encoder": {"lstm": {"hidden_size": 4, "bidirectional": true}},
            "multifield_seq2vec_encoder": {"boe": {"averaged": true}}
        }"#,
        ),
    ];
    for (ex, mode, chars, json) in cases {
        let (model, r1, r2) = model_and_batch(json, &ex, mode, chars, &device);
        let both = r1.stacked_with(&r2).expect("same kind of records");
        assert_eq!(both.batch_size(), 4);
        let (u, v) = (model.encode(&r1).unwrap(), model.encode(&r2).unwrap());
        let stacked = float_values(model.encode(&both).unwrap());
        let alone = [float_values(u.clone()), float_values(v.clone())].concat();
        assert_eq!(stacked.len(), alone.len());
        for (s, a) in stacked.iter().zip(&alone) {
            assert!((s - a).abs() < 1e-5, "{mode:?}: stacked {s} vs alone {a}");
        }
        assert!(alone.iter().any(|x| *x != 0.0));
        let logits = float_values(model.forward(&r1, &r2, None).unwrap().logits);
        let want = float_values(model.output.forward(Tensor::cat(vec![u, v], 1)));
        for (g, w) in logits.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{mode:?}: logits {g} vs {w}");
        }
    }
}

/// Records of different kinds (or with and without character ids) do not stack.
#[test]
fn records_of_different_kinds_do_not_stack() {
    let device = Device::flex();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let single = RecordTensors::from_batch(&batcher.batch(&ex, &vocab).unwrap().record1, &device);
    let mf = multifield_examples();
    let (vocab, batcher) = setup(&mf, RecordMode::Multifield, false);
    let multi = RecordTensors::from_batch(&batcher.batch(&mf, &vocab).unwrap().record1, &device);
    assert!(single.stacked_with(&multi).is_none());
    assert!(multi.stacked_with(&single).is_none());
    assert!(single.stacked_with(&single).is_some());
}

/// Scoring cached record vectors with the pair head gives what the whole forward pass gives
/// (what `biome dedupe` relies on to encode every record once).
#[test]
fn the_pair_head_on_encoded_vectors_equals_the_forward_pass() {
    let device = Device::flex();
    let ex = examples();
    let json = r#"{
        "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 6}}},
        "seq2vec_encoder": {"gru": {"hidden_size": 4, "bidirectional": true}},
        "feed_forward": {"num_layers": 1, "hidden_dims": 5, "activations": "relu"},
        "pair_combination": "concat_diff_product"
    }"#;
    let (model, r1, r2) = model_and_batch(json, &ex, RecordMode::Text, false, &device);
    let whole = model.forward(&r1, &r2, None).unwrap();
    let cached = model.score_encoded(model.encode(&r1).unwrap(), model.encode(&r2).unwrap());
    assert!(cached.loss.is_none());
    for (out_whole, out_cached) in [(whole.logits, cached.logits), (whole.probs, cached.probs)] {
        let (w, c) = (float_values(out_whole), float_values(out_cached));
        assert_eq!(w.len(), c.len());
        for (a, b) in w.iter().zip(&c) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

/// The hard-negative term equals a host-side computation: for each row, the most similar
/// second record (cosine, f64) of the rows sharing no record with it, scored by the head
/// against `not_duplicate`, averaged over the rows that have one.
#[test]
fn the_hard_negative_term_is_the_head_on_each_rows_most_similar_unrelated_record() {
    let device = Device::flex();
    let ex = examples();
    let json = |extra: &str| {
        format!(
            r#"{{"text_field_embedder": {{"tokens": {{"embedding": {{"embedding_dim": 6}}}}}},
                "seq2vec_encoder": {{"boe": {{"averaged": true}}}},
                "pair_combination": "concat_diff_product"{extra}}}"#
        )
    };
    let with = json(r#", "hard_negatives": {"label": "not_duplicate", "weight": 0.5}"#);
    let (model, r1, r2) = model_and_batch(&with, &ex, RecordMode::Text, false, &device);
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let y = label_tensor(
        batcher.batch(&ex, &vocab).unwrap().labels.as_ref().unwrap(),
        &device,
    );
    // the forward loss is the plain cross-entropy of its logits plus the weighted term
    let out = model.forward(&r1, &r2, Some(y.clone())).unwrap();
    let plain = float_values(biome_models::cross_entropy(out.logits, y, None))[0] as f64;
    let extra = float_values(out.loss.unwrap())[0] as f64 - plain;

    let (u, v) = (model.encode(&r1).unwrap(), model.encode(&r2).unwrap());
    let h = u.dims()[1];
    let (uh, vh) = (float_values(u.clone()), float_values(v.clone()));
    let text = |r: &Record| r.to_text().into_owned();
    let shares = |i: usize, j: usize| {
        let a = [text(&ex[i].record1), text(&ex[i].record2)];
        let b = [text(&ex[j].record1), text(&ex[j].record2)];
        a.iter().any(|x| b.contains(x))
    };
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let n = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        dot / (n(a) * n(b))
    };
    let mut terms = vec![];
    for i in 0..ex.len() {
        let best = (0..ex.len()).filter(|&j| !shares(i, j)).max_by(|&a, &b| {
            let sa = cos(&uh[i * h..(i + 1) * h], &vh[a * h..(a + 1) * h]);
            let sb = cos(&uh[i * h..(i + 1) * h], &vh[b * h..(b + 1) * h]);
            sa.total_cmp(&sb)
        });
        if let Some(j) = best {
            let ui = u.clone().slice([i..i + 1, 0..h]);
            let vj = v.clone().slice([j..j + 1, 0..h]);
            let p = float_values(model.score_encoded(ui, vj).probs);
            terms.push(-f64::from(p[1]).ln());
        }
    }
    // "anna smith" rows share records with several others, but every row has some unrelated one
    assert_eq!(terms.len(), ex.len());
    let manual = 0.5 * terms.iter().sum::<f64>() / terms.len() as f64;
    assert!(manual > 0.0);
    assert!(
        (extra - manual).abs() < 1e-4,
        "term {extra} vs host {manual}"
    );
    // not a training forward: no term
    let unlabelled = model.forward(&r1, &r2, None).unwrap();
    assert!(unlabelled.loss.is_none());
}

#[test]
fn hard_negatives_name_a_label_of_the_model() {
    let ex = examples();
    let (vocab, _) = setup(&ex, RecordMode::Text, false);
    let c = config(
        r#"{"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 4}}},
            "seq2vec_encoder": {"boe": {}}, "hard_negatives": {"label": "different"}}"#,
    );
    let e = SequencePairClassifier::new(
        &c,
        &vocab,
        &labels(),
        Weights::Fresh { seed: 1 },
        &Device::flex(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("\"different\"") && e.contains("duplicate, not_duplicate"),
        "{e}"
    );
}

const COSINE: &str = r#"{
    "text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 6}}},
    "seq2vec_encoder": {"boe": {"averaged": true}},
    "pair_combination": "cosine"
}"#;

fn cos64(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let n = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

/// At the start the `duplicate` logit is `20 · cos(u, v) − 10` (cosine in f64 on the host),
/// the other 0; the head on cached vectors (`score_encoded`, as `biome dedupe` uses it) gives
/// the same; a row padded in a batch with a longer pair equals the row alone.
#[test]
fn the_cosine_head_is_scale_times_cosine_plus_bias_on_every_path() {
    let device = Device::flex();
    let mut ex = examples();
    ex.push(PairExample::new(
        Record::Text("anna maria smith jones".into()),
        Record::Text("anna smith".into()),
        "duplicate",
    ));
    let (model, r1, r2) = model_and_batch(COSINE, &ex, RecordMode::Text, false, &device);
    assert_eq!(model.output.weight.dims(), [1, 2]);
    let out = model.forward(&r1, &r2, None).unwrap();
    let logits = float_values(out.logits);
    let (u, v) = (model.encode(&r1).unwrap(), model.encode(&r2).unwrap());
    let h = u.dims()[1];
    let (uh, vh) = (float_values(u.clone()), float_values(v.clone()));
    for i in 0..ex.len() {
        let want = 20.0 * cos64(&uh[i * h..(i + 1) * h], &vh[i * h..(i + 1) * h]) - 10.0;
        assert!((f64::from(logits[2 * i]) - want).abs() < 1e-4, "row {i}");
        assert_eq!(logits[2 * i + 1], 0.0);
    }
    let cached = float_values(model.score_encoded(u, v).logits);
    for (a, b) in logits.iter().zip(&cached) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // Row 0 alone (no padding) equals row 0 of the batch padded to the 4-token record.
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let one = batcher.batch(&ex[..1], &vocab).unwrap();
    let alone = model
        .forward(
            &RecordTensors::from_batch(&one.record1, &device),
            &RecordTensors::from_batch(&one.record2, &device),
            None,
        )
        .unwrap();
    let alone = float_values(alone.logits);
    assert!(
        (alone[0] - logits[0]).abs() < 1e-5,
        "{alone:?} vs {logits:?}"
    );
}

/// The gradients of the loss in the match label's scale `s` and bias `b` agree with central
/// finite differences (f32 forward, h = 1e-2, a smooth loss) and with the logistic-loss formula
/// on host cosines in f64: `∂L/∂s = mean((p − y) · cos)`, `∂L/∂b = mean(p − y)` with
/// `p = σ(s · cos + b)`. Taken at `s = 2`, `b = 1` (the other label's row 0), where neither is
/// near zero whatever the encoder's random start: the duplicates' cosine is 1 (identical
/// records), so `∂L/∂b ≥ (4 · (σ(3) − 1) + 4 · σ(−1)) / 8 > 0.1`.
#[test]
fn cosine_head_scale_and_bias_gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    let ex = examples();
    let (model, r1, r2) = model_and_batch(COSINE, &ex, RecordMode::Text, false, &device);
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    let labels_idx = batcher.batch(&ex, &vocab).unwrap().labels.unwrap();
    let y = label_tensor(&labels_idx, &device);
    let loss_of =
        |m: &SequencePairClassifier| m.forward(&r1, &r2, Some(y.clone())).unwrap().loss.unwrap();
    let at = |s: f32, b: f32| {
        let mut m = model.clone();
        let w = Tensor::<2>::from_floats([[s, 0.0]], &device);
        let bias = Tensor::<1>::from_floats([b, 0.0], &device);
        m.output.weight = Param::from_tensor(w);
        m.output.bias = Some(Param::from_tensor(bias));
        m
    };
    let base = at(2.0, 1.0);
    let grads = loss_of(&base).backward();
    let gw = f64::from(float_values(base.output.weight.grad(&grads).unwrap())[0]);
    let gb = f64::from(float_values(base.output.bias.as_ref().unwrap().grad(&grads).unwrap())[0]);
    let with = |s: f32, b: f32| f64::from(float_values(loss_of(&at(s, b)))[0]);
    let h = 1e-2f32;
    let fd_w = (with(2.0 + h, 1.0) - with(2.0 - h, 1.0)) / (2.0 * f64::from(h));
    let fd_b = (with(2.0, 1.0 + h) - with(2.0, 1.0 - h)) / (2.0 * f64::from(h));
    assert!((fd_w - gw).abs() < 1e-3, "{fd_w} vs {gw}");
    assert!((fd_b - gb).abs() < 1e-3, "{fd_b} vs {gb}");
    // The host formula: label 0 is `duplicate`, the match label.
    let (u, v) = (base.encode(&r1).unwrap(), base.encode(&r2).unwrap());
    let hdim = u.dims()[1];
    let (uh, vh) = (float_values(u), float_values(v));
    let (mut host_w, mut host_b) = (0.0, 0.0);
    for (i, &label) in labels_idx.iter().enumerate() {
        let cos = cos64(&uh[i * hdim..(i + 1) * hdim], &vh[i * hdim..(i + 1) * hdim]);
        let p = 1.0 / (1.0 + (-(2.0 * cos + 1.0)).exp());
        let target = if label == 0 { 1.0 } else { 0.0 };
        host_w += (p - target) * cos / ex.len() as f64;
        host_b += (p - target) / ex.len() as f64;
    }
    assert!((host_w - gw).abs() < 1e-4, "{host_w} vs {gw}");
    assert!((host_b - gb).abs() < 1e-4, "{host_b} vs {gb}");
    assert!(gb > 0.1, "{gb}");
}

/// The cosine head learns the tiny set (identical records are duplicates, different names
/// are not), also with the hard-negative term; a label set without a match label is refused.
#[test]
fn cosine_head_learns_tiny_data_and_needs_a_match_label() {
    let device = Device::flex().autodiff();
    let ex = examples();
    let (vocab, batcher) = setup(&ex, RecordMode::Text, false);
    for json in [
        COSINE.to_string(),
        COSINE.replace(
            r#""pair_combination": "cosine""#,
            r#""pair_combination": "cosine", "hard_negatives": {"label": "not_duplicate"}"#,
        ),
    ] {
        let (model, _) = SequencePairClassifier::new(
            &config(&json),
            &vocab,
            &labels(),
            Weights::Fresh { seed: 5 },
            &device,
        )
        .unwrap();
        let (_, losses, metrics) = train_losses(model, &batcher, &vocab, &ex, 60, &device);
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(last < first * 0.3, "{json}: {first} -> {last}");
        assert!(last.is_finite());
        assert!(metrics["accuracy"] > 0.6, "{metrics:?}");
    }
    let err = build_err(COSINE, &["a".to_string(), "b".to_string()]);
    assert!(
        err.contains("pair_combination \"cosine\" needs two labels"),
        "{err}"
    );
}
