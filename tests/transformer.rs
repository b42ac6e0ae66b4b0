//! A transformer embedder end to end through `Pipeline`: a tiny BERT folder written here
//! (`config.json`, `tokenizer.json`, `model.safetensors`), trained for a few steps, archived,
//! the folder deleted, the archive loaded: the same predictions. Bad folders fail with the file
//! named.

use std::path::Path;

use biome::biome_core::{PairExample, Record};
use biome::{BiomeError, Device, Pipeline, PipelineConfig};

mod common;
use common::tiny_bert::{H, tiny_folder};

fn config(folder: &Path, multifield: bool) -> PipelineConfig {
    PipelineConfig::from_json_str(&config_text(folder, multifield), "transformer test").unwrap()
}

fn config_text(folder: &Path, multifield: bool) -> String {
    let multi = if multifield {
        r#", "multifield_seq2vec_encoder": {"boe": {"averaged": true}}"#
    } else {
        ""
    };
    format!(
        r#"{{
  "data": {{"mapping": {{"label": "label", "record1": ["a1", "b1"], "record2": ["a2", "b2"]}}}},
  "model": {{
    "text_field_embedder": {{"transformer": {{"model_name": {:?}, "max_length": 12}}}},
    "seq2vec_encoder": {{"boe": {{"averaged": true}}}},
    "pair_combination": "concat_diff_product"{multi}
  }},
  "trainer": {{"batch_size": 4, "num_epochs": 2, "validation_metric": "-loss",
              "optimizer": {{"adam": {{"lr": 0.01}}}}, "seed": 3}}
}}"#,
        folder.display().to_string()
    )
}

fn pairs() -> Vec<PairExample> {
    let people = [
        ["anna smith", "koln"],
        ["bob jones", "berlin"],
        ["maria muller", "12 street"],
        ["anna jones", "123 road"],
    ];
    let mut out = vec![];
    for (i, a) in people.iter().enumerate() {
        for (j, b) in people.iter().enumerate() {
            let rec = |p: &[&str; 2]| Record::Fields(p.iter().map(|s| s.to_string()).collect());
            let label = if i == j { "duplicate" } else { "not_duplicate" };
            out.push(PairExample::new(rec(a), rec(b), label));
        }
    }
    out
}

fn probabilities(pipeline: &Pipeline, examples: &[PairExample]) -> Vec<f32> {
    pipeline
        .predict_batch(examples)
        .unwrap()
        .iter()
        .flat_map(|p| p.classes.values().copied().collect::<Vec<_>>())
        .collect()
}

#[test]
fn trains_archives_and_loads_without_the_original_folder() {
    for multifield in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("tiny-bert");
        tiny_folder(&folder);
        let out = dir.path().join("model");
        let train = pairs();
        let mut pipeline =
            Pipeline::from_config(config(&folder, multifield), Device::flex()).unwrap();
        pipeline
            .train_examples(&train, Some(&train), &out, false)
            .unwrap();
        let before = probabilities(&pipeline, &train);
        assert_eq!(before.len(), 2 * train.len());
        for name in ["transformer_tokenizer.json", "transformer_config.json"] {
            assert!(out.join(name).is_file(), "{name} archived");
        }
        // the archive keeps labels only: the transformer's vocabulary is its own
        let vocab = std::fs::read_to_string(out.join("vocabulary.json")).unwrap();
        assert!(!vocab.contains("smith"), "{vocab}");
        std::fs::remove_dir_all(&folder).unwrap();
        let loaded = Pipeline::load(&out, Device::flex()).unwrap();
        assert_eq!(loaded.labels(), pipeline.labels());
        let after = probabilities(&loaded, &train);
        for (a, b) in before.iter().zip(&after) {
            assert!((a - b).abs() < 1e-5, "multifield {multifield}: {a} vs {b}");
        }
        // the record vectors are the transformer's, mean-pooled
        let vectors = loaded.encode(&[Record::from("anna smith")]).unwrap();
        assert_eq!(vectors[0].len(), H);
        // what dedupe/link/encode run: records bucketed by length, 3 to a batch; padding in a
        // batch never changes a vector (each record alone gives the same one)
        let records: Vec<Record> = train.iter().map(|e| e.record1.clone()).collect();
        let bucketed = loaded.encode_records(&records, 3, &|_| {}).unwrap();
        assert_eq!(bucketed.dim, H);
        for (i, record) in records.iter().enumerate() {
            let alone = loaded.encode(std::slice::from_ref(record)).unwrap();
            for (a, b) in alone[0].iter().zip(&bucketed.data[i * H..(i + 1) * H]) {
                assert!((a - b).abs() < 1e-5, "record {i}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn a_bad_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("tiny-bert");
    tiny_folder(&folder);
    std::fs::remove_file(folder.join("tokenizer.json")).unwrap();
    let err = Pipeline::from_config(config(&folder, false), Device::flex())
        .err()
        .unwrap();
    assert!(matches!(err, BiomeError::Subword(_)), "{err:?}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    tiny_folder(&folder);
    std::fs::remove_file(folder.join("model.safetensors")).unwrap();
    let mut pipeline = Pipeline::from_config(config(&folder, false), Device::flex()).unwrap();
    let err = pipeline
        .train_examples(&pairs(), None, &dir.path().join("model"), false)
        .unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // a bad config.json is found when the configuration is read
    tiny_folder(&folder);
    std::fs::write(
        folder.join("config.json"),
        r#"{"model_type": "bert", "hidden_size": "eight"}"#,
    )
    .unwrap();
    let err = PipelineConfig::from_json_str(&config_text(&folder, false), "c.json").unwrap_err();
    assert!(
        err.to_string().contains("config.json") && err.to_string().contains("hidden_size"),
        "{err}"
    );
}
