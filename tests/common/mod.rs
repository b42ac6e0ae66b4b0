//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod tiny_bert;

use std::path::{Path, PathBuf};

pub fn config_json(epochs: usize, multifield: bool) -> String {
    let fields: Vec<String> = biome::demo::FIELDS.iter().map(|f| f.to_string()).collect();
    let cols = |r: u8| -> String {
        let v: Vec<String> = fields
            .iter()
            .map(|f| format!("\"record{r}_{f}\""))
            .collect();
        format!("[{}]", v.join(","))
    };
    let multifield_part = if multifield {
        r#", "multifield_seq2vec_encoder": {"gru": {"hidden_size": 8, "bidirectional": true}}"#
    } else {
        ""
    };
    format!(
        r#"{{
  "data": {{"mapping": {{"label": "label", "record1": {}, "record2": {}}},
           "tokenizer": {{"lowercase": true}}}},
  "model": {{
    "text_field_embedder": {{
      "tokens": {{"embedding": {{"embedding_dim": 8}}}},
      "token_characters": {{"character_encoding": {{"embedding": {{"embedding_dim": 4}},
          "encoder": {{"cnn": {{"num_filters": 4, "ngram_filter_sizes": [2]}}}}}}}}
    }},
    "seq2vec_encoder": {{"boe": {{"averaged": true}}}},
    "dropout": 0.1,
    "pair_combination": "concat_diff_product"{}
  }},
  "trainer": {{"batch_size": 16, "num_epochs": {}, "validation_metric": "+average/f1",
              "optimizer": {{"adam": {{"lr": 0.01}}}}, "grad_norm": 5.0, "seed": 7}}
}}"#,
        cols(1),
        cols(2),
        multifield_part,
        epochs
    )
}

pub fn write_data(dir: &Path) -> [PathBuf; 3] {
    biome::demo::write_splits(&dir.join("data"), (160, 48, 48), 11).unwrap()
}

pub fn write_config(dir: &Path, epochs: usize, multifield: bool) -> PathBuf {
    let p = dir.join(format!("config_{epochs}_{multifield}.json"));
    std::fs::write(&p, config_json(epochs, multifield)).unwrap();
    p
}

/// `metrics.jsonl` of the output folder `out` without the timings, for comparing runs.
pub fn metrics_without_time(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}
