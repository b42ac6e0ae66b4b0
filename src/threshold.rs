//! The match threshold a model carries: the F1-best cut of the match label's probability on
//! the validation pairs, found by `biome train` and used by `biome dedupe`/`link` unless
//! `--threshold` says otherwise (argmax stays what `predict` reports).

use std::path::Path;

use biome_core::PairExample;
use biome_models::{PrPoint, Prediction, best_f1_threshold, precision_recall_curve};
use serde::{Deserialize, Serialize};

use crate::error::{BiomeError, Result};

/// The file in a model folder.
pub const FILE: &str = "threshold.json";

/// What `threshold.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredThreshold {
    /// The match label.
    pub label: String,
    /// Accept a pair when its probability of `label` is at least this.
    pub threshold: f32,
    /// Precision at the threshold on the pairs it was chosen on.
    pub precision: f64,
    /// Recall there.
    pub recall: f64,
    /// F1 there.
    pub f1: f64,
    /// How many labelled pairs it was chosen on.
    pub examples: usize,
}

/// The stored threshold of a model folder, if it has one; a damaged file is an error.
pub fn read_stored(dir: &Path) -> Result<Option<StoredThreshold>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BiomeError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| BiomeError::Archive {
            path,
            message: format!("unreadable threshold: {e}"),
        })
}

/// The threshold for `label`: the model folder's stored one when it is for that label, else
/// 0.5; with a line saying where it comes from (for the summary and `/model`).
pub fn for_label(dir: &Path, label: &str) -> Result<(f32, String)> {
    Ok(match read_stored(dir)? {
        Some(stored) if stored.label == label => (
            stored.threshold,
            format!(
                "the model's validation F1-best threshold ({})",
                dir.join(FILE).display()
            ),
        ),
        _ => (0.5, "default (0.5)".into()),
    })
}

/// Writes `threshold` into the model folder (atomically).
pub fn write_stored(dir: &Path, threshold: &StoredThreshold) -> Result<()> {
    let text = serde_json::to_string_pretty(threshold).expect("threshold serialises");
    Ok(biome_train::archive::write_atomic(
        &dir.join(FILE),
        text.as_bytes(),
    )?)
}

/// The precision–recall curve of `label`'s probability over labelled `examples` and their
/// `predictions` (in the same order).
pub fn curve(predictions: &[Prediction], examples: &[PairExample], label: &str) -> Vec<PrPoint> {
    let scores: Vec<f32> = predictions
        .iter()
        .map(|p| p.classes.get(label).copied().unwrap_or(0.0))
        .collect();
    let positive: Vec<bool> = examples
        .iter()
        .map(|e| e.label.as_deref() == Some(label))
        .collect();
    precision_recall_curve(&scores, &positive)
}

/// The F1-best threshold of `label` on `examples` and their `predictions`, as stored.
pub fn choose(
    predictions: &[Prediction],
    examples: &[PairExample],
    label: &str,
) -> Option<StoredThreshold> {
    let curve = curve(predictions, examples, label);
    best_f1_threshold(&curve).map(|best| StoredThreshold {
        label: label.to_owned(),
        threshold: best.threshold,
        precision: best.precision,
        recall: best.recall,
        f1: best.f1,
        examples: examples.len(),
    })
}

/// Draws `curve` into `svg` with the F1-best point marked; a picture that cannot be drawn is
/// reported, never fatal.
pub fn draw(curve: &[PrPoint], label: &str, svg: &Path) -> std::result::Result<(), String> {
    let points: Vec<(f64, f64)> = curve.iter().map(|p| (p.recall, p.precision)).collect();
    let best = best_f1_threshold(curve).map(|b| (b.recall, b.precision, b.threshold));
    biome_train::curve::precision_recall_svg(&points, best, label, svg)
}
