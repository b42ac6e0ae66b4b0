//! Ids and mean-pooled embeddings of texts under a pretrained transformer straight from its
//! folder (no training), through the pipeline's own pieces: `SubwordTokenizer` and the batch
//! path (`RecordBatch::from_records_subword`), the transformer embedder, `boe` averaged. The
//! Rust side of `benches/transformer/exactness.py`, which compares both with Hugging Face's
//! tokenizer and sentence-transformers.
//!
//! ```text
//! cargo run --release --example transformer_embeddings -- MODEL_FOLDER MAX_LENGTH < texts.jsonl
//! ```
//!
//! Reads one JSON string per line on stdin; writes one JSON line per text:
//! `{"ids": [..], "vector": [..]}` (the vector before any normalisation).

#![forbid(unsafe_code)]

use std::error::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use biome::biome_core::{Record, RecordBatch, RecordMode, SubwordTokenizer};
use biome::biome_models::RecordTensors;
use biome::biome_modules::{BoeConfig, TransformerEmbedderConfig};
use biome::{default_device_name, device_from_name};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(folder), Some(max_length)) = (args.next(), args.next()) else {
        return Err("usage: transformer_embeddings MODEL_FOLDER MAX_LENGTH < texts.jsonl".into());
    };
    let max_length: usize = max_length.parse()?;
    let tokenizer =
        SubwordTokenizer::from_file(PathBuf::from(&folder).join("tokenizer.json"), max_length)?;
    let device = device_from_name(default_device_name())?;
    let mut config = TransformerEmbedderConfig::new(folder);
    config.max_length = max_length;
    let embedder = config.load(&device)?;
    let pool = BoeConfig {
        embedding_dim: None,
        averaged: true,
    }
    .init(embedder.output_dim())?;
    let mut records = Vec::new();
    for line in std::io::stdin().lock().lines() {
        records.push(Record::Text(serde_json::from_str::<String>(&line?)?));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for chunk in records.chunks(64) {
        let refs: Vec<&Record> = chunk.iter().collect();
        let batch = RecordBatch::from_records_subword(&refs, &tokenizer, RecordMode::Text)?;
        let RecordTensors::Single { tokens, mask, .. } = RecordTensors::from_batch(&batch, &device)
        else {
            return Err("text mode gives single-field batches".into());
        };
        let type_ids = tokens.zeros_like();
        let x = embedder.forward(tokens, type_ids, mask.clone());
        let vectors = pool.forward(x, mask);
        let [_, h] = vectors.dims();
        let values = biome::biome_models::float_values(vectors);
        let t = batch.num_tokens();
        for (i, v) in values.chunks(h).enumerate() {
            let row = &batch.tokens[i * t..(i + 1) * t];
            let real = &batch.token_mask[i * t..(i + 1) * t];
            let ids: Vec<i64> = row
                .iter()
                .zip(real)
                .filter(|(_, m)| **m)
                .map(|(id, _)| *id)
                .collect();
            writeln!(out, "{}", serde_json::json!({ "ids": ids, "vector": v }))?;
        }
    }
    Ok(())
}
