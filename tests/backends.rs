//! Second backends: the same model code on burn's ndarray and wgpu backends (wgpu in CI on
//! lavapipe's software Vulkan adapter), each compared with flex. Kept tiny: on wgpu the first
//! steps spend most of their time compiling kernels. Run with
//! `cargo test --features wgpu,ndarray --test backends`.
#![allow(dead_code)]

use std::path::Path;

use biome::Device;
use biome::biome_core::{PairExample, Record};
use biome::{Pipeline, PipelineConfig};

mod common;

#[cfg(feature = "wgpu-base")]
#[path = "backends/cube_recurrence.rs"]
mod cube_recurrence;

/// A tiny BiGRU pair classifier and its four training pairs.
fn bigru() -> (PipelineConfig, Vec<PairExample>) {
    let config = PipelineConfig::from_json_str(
        r#"{
  "data": {"mapping": {"label": "label", "record1": "a", "record2": "b"}},
  "model": {"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 4}}},
            "seq2vec_encoder": {"gru": {"hidden_size": 4, "bidirectional": true}}},
  "trainer": {"num_epochs": 1, "batch_size": 4, "bucketing": false}
}"#,
        "wgpu_smoke",
    )
    .unwrap();
    let text = |s: &str| Record::Text(s.to_string());
    let train = vec![
        PairExample::new(text("anna smith"), text("anna smith"), "duplicate"),
        PairExample::new(text("bob jones lee"), text("anna"), "not_duplicate"),
        PairExample::new(text("carl"), text("carl weber"), "duplicate"),
        PairExample::new(text("dora kim"), text("bob"), "not_duplicate"),
    ];
    (config, train)
}

/// A pair classifier on the tiny BERT of `tests/common/tiny_bert.rs` (written into `folder`):
/// mean pooling, the `[u; v; |u−v|; u∘v]` head, AdamW with the transformer in its own group.
/// Records of different lengths, so the attention mask and the padding are exercised.
fn tiny_bert(folder: &Path) -> (PipelineConfig, Vec<PairExample>) {
    common::tiny_bert::tiny_folder(folder);
    let config = PipelineConfig::from_json_str(
        &format!(
            r#"{{
  "data": {{"mapping": {{"label": "label", "record1": "a", "record2": "b"}}}},
  "model": {{"text_field_embedder": {{"transformer": {{"model_name": {:?}, "max_length": 12}}}},
            "seq2vec_encoder": {{"boe": {{"averaged": true}}}},
            "pair_combination": "concat_diff_product"}},
  "trainer": {{"num_epochs": 1, "batch_size": 4, "bucketing": false,
              "optimizer": {{"adamw": {{"lr": 0.01,
                  "parameter_groups": [[["transformer"], {{"lr": 0.001}}]]}}}}}}
}}"#,
            folder.display().to_string()
        ),
        "wgpu_bert_smoke",
    )
    .unwrap();
    let text = |s: &str| Record::Text(s.to_string());
    let train = vec![
        PairExample::new(text("anna smith"), text("anna smith koln"), "duplicate"),
        PairExample::new(text("bob jones 123 road"), text("anna"), "not_duplicate"),
        PairExample::new(
            text("maria muller"),
            text("maria muller berlin"),
            "duplicate",
        ),
        PairExample::new(text("bob"), text("12 street, berlin"), "not_duplicate"),
    ];
    (config, train)
}

/// Train `config` on `device` for one epoch, then check that the archive loaded on flex
/// predicts the same.
fn train_on_and_compare_with_flex(device: &str, config: PipelineConfig, train: &[PairExample]) {
    let out = tempfile::tempdir().unwrap();
    let device = biome::device_from_name(device).unwrap();
    let mut pipeline = Pipeline::from_config(config, device).unwrap();
    let summary = pipeline
        .train_examples(train, None, out.path(), false)
        .unwrap();
    assert_eq!(summary.epochs_completed, 1);
    let on_device = pipeline.predict_batch(train).unwrap();
    // Trained on the GPU, loaded on the CPU: the same predictions.
    let on_cpu = Pipeline::load(out.path(), Device::flex())
        .unwrap()
        .predict_batch(train)
        .unwrap();
    for (g, c) in on_device.iter().zip(&on_cpu) {
        assert_eq!(g.max_class, c.max_class);
        for (x, y) in g.logits.iter().zip(&c.logits) {
            assert!((x - y).abs() < 1e-3, "{:?} vs {:?}", g.logits, c.logits);
        }
    }
}

#[cfg(feature = "wgpu-base")]
#[test]
fn a_bigru_pair_classifier_trains_on_wgpu_and_loads_on_flex() {
    let (config, train) = bigru();
    train_on_and_compare_with_flex("wgpu", config, &train);
}

#[cfg(feature = "ndarray")]
#[test]
fn a_bigru_pair_classifier_trains_on_ndarray_and_loads_on_flex() {
    let (config, train) = bigru();
    train_on_and_compare_with_flex("ndarray", config, &train);
}

#[cfg(feature = "wgpu-base")]
#[test]
fn a_tiny_bert_pair_classifier_trains_on_wgpu_and_loads_on_flex() {
    let dir = tempfile::tempdir().unwrap();
    let (config, train) = tiny_bert(&dir.path().join("tiny-bert"));
    train_on_and_compare_with_flex("wgpu", config, &train);
}

#[cfg(feature = "ndarray")]
#[test]
fn a_tiny_bert_pair_classifier_trains_on_ndarray_and_loads_on_flex() {
    let dir = tempfile::tempdir().unwrap();
    let (config, train) = tiny_bert(&dir.path().join("tiny-bert"));
    train_on_and_compare_with_flex("ndarray", config, &train);
}
