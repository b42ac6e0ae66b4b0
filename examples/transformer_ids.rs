//! The ids a pretrained transformer's `tokenizer.json` gives texts, as the pipeline batches
//! them (special tokens, truncation): the Rust side of `benches/transformer/exactness.py`,
//! which compares them with Hugging Face's Python tokenizer.
//!
//! ```text
//! cargo run --release --example transformer_ids -- MODEL_FOLDER MAX_LENGTH < texts.jsonl
//! ```
//!
//! Reads one JSON string per line on stdin; writes one JSON line per text: `{"ids": [..]}`.

#![forbid(unsafe_code)]

use std::error::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use biome::biome_core::SubwordTokenizer;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(folder), Some(max_length)) = (args.next(), args.next()) else {
        return Err("usage: transformer_ids MODEL_FOLDER MAX_LENGTH < texts.jsonl".into());
    };
    let tokenizer = SubwordTokenizer::from_file(
        PathBuf::from(folder).join("tokenizer.json"),
        max_length.parse()?,
    )?;
    let mut texts = Vec::new();
    for line in std::io::stdin().lock().lines() {
        texts.push(serde_json::from_str::<String>(&line?)?);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ids in tokenizer.encode(&refs)? {
        writeln!(out, "{}", serde_json::json!({ "ids": ids }))?;
    }
    Ok(())
}
