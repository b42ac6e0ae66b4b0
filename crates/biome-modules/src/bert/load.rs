//! `load_bert`: a model from a Hugging Face folder (`config.json` + `model.safetensors`).

use std::path::Path;

use burn::prelude::*;

use super::config::BertConfig;
use super::model::Bert;
use super::weights::SafetensorsWeights;
use crate::error::ModuleError;

/// The config file of a Hugging Face model folder.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file of a Hugging Face model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Read `folder/config.json` and `folder/model.safetensors` into a model on `device`.
///
/// Weight names may carry a `bert.` prefix; `pooler.*`, `embeddings.position_ids` and
/// pre-training heads are ignored. f16, bf16 and f64 weights are converted to f32. Every failure
/// names the file (and the tensor): a missing folder or file, invalid JSON, an unsupported
/// `model_type`/`hidden_act`/`position_embedding_type`, a missing weight, a weight of the wrong
/// shape, a non-float weight.
pub fn load_bert(folder: &Path, device: &Device) -> Result<(BertConfig, Bert), ModuleError> {
    if !folder.is_dir() {
        return Err(ModuleError::ModelFile {
            path: folder.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a folder (a Hugging Face model folder holds config.json and model.safetensors)",
            ),
        });
    }
    let config = BertConfig::from_file(&folder.join(CONFIG_FILE))?;
    let path = folder.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ModuleError::ModelFile {
        path: path.clone(),
        source,
    })?;
    let mut weights = SafetensorsWeights::parse(&bytes, &path, device)?;
    let model = Bert::build(&config, &mut weights)?;
    Ok((config, model))
}
