//! The match threshold a model carries: the F1-best cut of the match label's probability on
//! the validation pairs, found by `biome train` and used by `biome dedupe`/`link` unless
//! `--threshold` says otherwise (argmax stays what `predict` reports).

use std::path::Path;

use biome_core::PairExample;
use biome_models::{PrPoint, Prediction, best_f1_threshold, precision_recall_curve};
use serde::{Deserialize, Serialize};

use crate::error::{BiomeError, Result};

/// The file in a model folder (an annex of its archive).
pub const FILE: &str = biome_train::archive::THRESHOLD;

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

/// The stored threshold of a model folder, if it has one; a damaged file is an error (its
/// checksum is in the archive's manifest since format version 3).
pub fn read_stored(dir: &Path) -> Result<Option<StoredThreshold>> {
    let Some(bytes) = biome_train::archive::read_annex(dir, FILE)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| BiomeError::Archive {
            path: dir.join(FILE),
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

/// Writes `threshold` into the model folder (atomically) and its checksum into the archive's
/// manifest.
pub fn write_stored(dir: &Path, threshold: &StoredThreshold) -> Result<()> {
    let text = serde_json::to_string_pretty(threshold).expect("threshold serialises");
    Ok(biome_train::archive::add_annex(dir, FILE, text.as_bytes())?)
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

/// Precision, recall and F1 of accepting the pairs whose probability of `label` is at least
/// `threshold` (a stored threshold applied to held-out pairs; 0 where nothing is accepted or
/// nothing is positive).
pub fn at(
    predictions: &[Prediction],
    examples: &[PairExample],
    label: &str,
    threshold: f32,
) -> PrPoint {
    let (mut tp, mut accepted, mut positives) = (0f64, 0f64, 0f64);
    for (p, e) in predictions.iter().zip(examples) {
        let positive = e.label.as_deref() == Some(label);
        let accept = p.classes.get(label).copied().unwrap_or(0.0) >= threshold;
        positives += f64::from(u8::from(positive));
        accepted += f64::from(u8::from(accept));
        tp += f64::from(u8::from(positive && accept));
    }
    let precision = if accepted > 0.0 { tp / accepted } else { 0.0 };
    let recall = if positives > 0.0 { tp / positives } else { 0.0 };
    let f1 = if tp > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    PrPoint {
        threshold,
        precision,
        recall,
        f1,
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use biome_core::Record;

    use super::*;

    fn scored(p: f32, label: &str) -> (Prediction, PairExample) {
        let classes =
            BTreeMap::from([("duplicate".to_string(), p), ("other".to_string(), 1.0 - p)]);
        let prediction = Prediction {
            classes,
            max_class: String::new(),
            max_class_prob: 0.0,
            logits: vec![],
        };
        let example = PairExample::new(Record::from("a"), Record::from("b"), label);
        (prediction, example)
    }

    /// Five pairs, cut at 0.6: accepted 0.9 (dup), 0.7 (other), 0.6 (dup); missed 0.4 (dup).
    /// P = 2/3, R = 2/3, F1 = 2/3. At 0.95 nothing is accepted: all zero.
    #[test]
    fn a_stored_threshold_on_held_out_pairs() {
        let (predictions, examples): (Vec<_>, Vec<_>) = [
            (0.9, "duplicate"),
            (0.7, "other"),
            (0.6, "duplicate"),
            (0.4, "duplicate"),
            (0.1, "other"),
        ]
        .into_iter()
        .map(|(p, l)| scored(p, l))
        .unzip();
        let point = at(&predictions, &examples, "duplicate", 0.6);
        for v in [point.precision, point.recall, point.f1] {
            assert!((v - 2.0 / 3.0).abs() < 1e-12, "{point:?}");
        }
        let none = at(&predictions, &examples, "duplicate", 0.95);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
    }
}
