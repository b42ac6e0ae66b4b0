//! A pretrained transformer's files as the pipeline uses them: its `tokenizer.json` makes the
//! batcher's ids, and both it and the model's `config.json` travel in the model archive (as
//! [`archive::TRANSFORMER_TOKENIZER`] and [`archive::TRANSFORMER_CONFIG`]) so a trained model
//! loads and serves after the original folder is gone.
//!
//! `model_name` is a folder path read as given, relative to the current directory, as every
//! other file path of a configuration (`pretrained_file`, the data files); nothing is
//! downloaded.

use std::path::Path;

use biome_core::{Batcher, RecordMode, SubwordTokenizer};
use biome_train::archive;

use crate::error::{BiomeError, Result};

/// The tokenizer file of a Hugging Face model folder.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The configuration file of a Hugging Face model folder.
pub const CONFIG_FILE: &str = "config.json";

/// What a pipeline keeps of a transformer's folder: the batcher built on its tokenizer and the
/// files the archive stores.
#[derive(Debug, Clone)]
pub struct TransformerFiles {
    /// Batches records into the model's ids.
    pub batcher: Batcher,
    /// `(archive name, bytes)` of the tokenizer and the model configuration.
    pub assets: Vec<(String, Vec<u8>)>,
}

impl TransformerFiles {
    /// Reads `folder`'s `tokenizer.json` (texts truncated to `max_length` ids, special tokens
    /// included) and `config.json`. A missing or unreadable file is an error naming it.
    pub fn from_folder(folder: &Path, max_length: usize, mode: RecordMode) -> Result<Self> {
        let tokenizer_path = folder.join(TOKENIZER_FILE);
        let tokenizer = SubwordTokenizer::from_file(&tokenizer_path, max_length)?;
        let config_path = folder.join(CONFIG_FILE);
        let config = std::fs::read(&config_path).map_err(|e| BiomeError::io(&config_path, e))?;
        Ok(Self::new(tokenizer, config, mode))
    }

    /// The same from an archive's assets (`dir` names the archive in errors).
    pub fn from_archive(
        dir: &Path,
        assets: &std::collections::BTreeMap<String, Vec<u8>>,
        max_length: usize,
        mode: RecordMode,
    ) -> Result<Self> {
        let missing = |name: &str| BiomeError::Archive {
            path: dir.join(name),
            message: format!(
                "the model has a transformer embedder but the archive holds no {name}"
            ),
        };
        let json = assets
            .get(archive::TRANSFORMER_TOKENIZER)
            .ok_or_else(|| missing(archive::TRANSFORMER_TOKENIZER))?;
        let config = assets
            .get(archive::TRANSFORMER_CONFIG)
            .ok_or_else(|| missing(archive::TRANSFORMER_CONFIG))?;
        let origin = dir
            .join(archive::TRANSFORMER_TOKENIZER)
            .display()
            .to_string();
        let tokenizer =
            SubwordTokenizer::from_json(&String::from_utf8_lossy(json), &origin, max_length)?;
        Ok(Self::new(tokenizer, config.clone(), mode))
    }

    fn new(tokenizer: SubwordTokenizer, config: Vec<u8>, mode: RecordMode) -> Self {
        let assets = vec![
            (
                archive::TRANSFORMER_TOKENIZER.to_owned(),
                tokenizer.json().as_bytes().to_vec(),
            ),
            (archive::TRANSFORMER_CONFIG.to_owned(), config),
        ];
        Self {
            batcher: Batcher::subword(tokenizer, mode),
            assets,
        }
    }

    /// The model configuration's JSON text (`config.json`).
    pub fn config_json(&self) -> String {
        self.assets
            .iter()
            .find(|(name, _)| name == archive::TRANSFORMER_CONFIG)
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biome_core::bert_tokenizer_json;

    const VOCAB: &[&str] = &["[PAD]", "[UNK]", "[CLS]", "[SEP]", "anna", "smith"];

    #[test]
    fn folder_files_and_their_archive_copies_give_the_same_batcher() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TOKENIZER_FILE),
            bert_tokenizer_json(VOCAB, true),
        )
        .unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "{\"hidden_size\": 8}").unwrap();
        let from_folder = TransformerFiles::from_folder(dir.path(), 16, RecordMode::Text).unwrap();
        assert_eq!(from_folder.config_json(), "{\"hidden_size\": 8}");
        let stored = from_folder.assets.iter().cloned().collect();
        let from_archive =
            TransformerFiles::from_archive(dir.path(), &stored, 16, RecordMode::Text).unwrap();
        assert_eq!(from_archive.batcher, from_folder.batcher);
        let ids = from_archive
            .batcher
            .subwords
            .as_ref()
            .unwrap()
            .encode(&["Anna Smith"]);
        assert_eq!(ids.unwrap(), [[2, 4, 5, 3]]);
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = TransformerFiles::from_folder(dir.path(), 16, RecordMode::Text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(TOKENIZER_FILE), "{err}");
        std::fs::write(
            dir.path().join(TOKENIZER_FILE),
            bert_tokenizer_json(VOCAB, true),
        )
        .unwrap();
        let err = TransformerFiles::from_folder(dir.path(), 16, RecordMode::Text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(CONFIG_FILE), "{err}");
        let err =
            TransformerFiles::from_archive(dir.path(), &Default::default(), 16, RecordMode::Text)
                .unwrap_err()
                .to_string();
        assert!(err.contains(archive::TRANSFORMER_TOKENIZER), "{err}");
    }
}
