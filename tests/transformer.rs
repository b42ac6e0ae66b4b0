//! A transformer embedder end to end through `Pipeline`: a tiny BERT folder written here
//! (`config.json`, `tokenizer.json`, `model.safetensors`), trained for a few steps, archived,
//! the folder deleted, the archive loaded: the same predictions. Bad folders fail with the file
//! named.

use std::path::Path;

use biome::biome_core::{PairExample, Record, bert_tokenizer_json};
use biome::{BiomeError, Device, Pipeline, PipelineConfig};

const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "anna", "smith", "bob", "jones", "maria",
    "muller", "koln", "berlin", "street", "road", "12", "##3", ".", ",", "-",
];
const H: usize = 8;
const I: usize = 16;
const P: usize = 32;

fn bert_config() -> String {
    format!(
        r#"{{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": {},
            "hidden_size": {H}, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": {I}, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": {P},
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0}}"#,
        WORDS.len()
    )
}

/// Hugging Face tensor names and shapes of the tiny model, filled by a fixed xorshift.
fn write_weights(folder: &Path) {
    let v = WORDS.len();
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![v, H]),
        ("embeddings.position_embeddings.weight".into(), vec![P, H]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, H]),
        ("embeddings.LayerNorm.weight".into(), vec![H]),
        ("embeddings.LayerNorm.bias".into(), vec![H]),
    ];
    for l in 0..2 {
        let p = format!("encoder.layer.{l}.");
        for m in ["query", "key", "value"] {
            shapes.push((format!("{p}attention.self.{m}.weight"), vec![H, H]));
            shapes.push((format!("{p}attention.self.{m}.bias"), vec![H]));
        }
        for (name, shape) in [
            ("attention.output.dense.weight", vec![H, H]),
            ("attention.output.dense.bias", vec![H]),
            ("attention.output.LayerNorm.weight", vec![H]),
            ("attention.output.LayerNorm.bias", vec![H]),
            ("intermediate.dense.weight", vec![I, H]),
            ("intermediate.dense.bias", vec![I]),
            ("output.dense.weight", vec![H, I]),
            ("output.dense.bias", vec![H]),
            ("output.LayerNorm.weight", vec![H]),
            ("output.LayerNorm.bias", vec![H]),
        ] {
            shapes.push((format!("{p}{name}"), shape));
        }
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let layer_norm_weight = name.ends_with("LayerNorm.weight");
            let data: Vec<u8> = (0..n)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let u = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                    let x = if layer_norm_weight {
                        1.0 + 0.2 * u
                    } else {
                        0.4 * u
                    };
                    (x as f32).to_le_bytes()
                })
                .collect();
            (name, shape, data)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    let file = safetensors::serialize(views, None).unwrap();
    std::fs::write(folder.join("model.safetensors"), file).unwrap();
}

fn tiny_folder(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("config.json"), bert_config()).unwrap();
    std::fs::write(
        folder.join("tokenizer.json"),
        bert_tokenizer_json(WORDS, true),
    )
    .unwrap();
    write_weights(folder);
}

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
