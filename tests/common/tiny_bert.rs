//! A tiny BERT folder in Hugging Face's layout (2 layers, hidden 8, a vocabulary of 20 word
//! pieces), written by the test that needs it: the transformer tests run without `../shared`.

use std::path::Path;

use biome::biome_core::bert_tokenizer_json;

pub const WORDS: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "anna", "smith", "bob", "jones", "maria",
    "muller", "koln", "berlin", "street", "road", "12", "##3", ".", ",", "-",
];
pub const H: usize = 8;
pub const I: usize = 16;
pub const P: usize = 32;

pub fn bert_config() -> String {
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
pub fn write_weights(folder: &Path) {
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

/// Writes the tiny model's folder (`config.json`, `tokenizer.json`, `model.safetensors`).
pub fn tiny_folder(folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("config.json"), bert_config()).unwrap();
    std::fs::write(
        folder.join("tokenizer.json"),
        bert_tokenizer_json(WORDS, true),
    )
    .unwrap();
    write_weights(folder);
}
