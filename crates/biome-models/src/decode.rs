//! Turning logits into what a user reads: per-label probabilities and the best label.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The decoded prediction for one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Label name → probability.
    pub classes: BTreeMap<String, f32>,
    /// The most probable label (the first one in class order on a tie).
    pub max_class: String,
    /// Its probability.
    pub max_class_prob: f32,
    /// Raw logits in class-index order (kept out of the JSON the CLI prints).
    #[serde(skip_serializing, default)]
    pub logits: Vec<f32>,
}

/// Decode row-major `[B, C]` logits and probabilities into one [`Prediction`] per row.
///
/// # Panics
/// If the slices are not `B × labels.len()` long (a programming error).
pub fn decode(labels: &[String], logits: &[f32], probs: &[f32]) -> Vec<Prediction> {
    let c = labels.len();
    assert!(c > 0 && logits.len() == probs.len() && probs.len().is_multiple_of(c));
    probs
        .chunks(c)
        .zip(logits.chunks(c))
        .map(|(p, l)| {
            let (best, &best_p) =
                p.iter()
                    .enumerate()
                    .fold((0, &f32::NEG_INFINITY), |acc, (i, v)| {
                        if *v > *acc.1 { (i, v) } else { acc }
                    });
            Prediction {
                classes: labels.iter().cloned().zip(p.iter().copied()).collect(),
                max_class: labels[best].clone(),
                max_class_prob: best_p,
                logits: l.to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_row() {
        let labels = vec!["duplicate".to_string(), "not_duplicate".to_string()];
        let logits = [2.0, 0.0, -1.0, 1.0];
        let probs = [0.880_797, 0.119_203, 0.119_203, 0.880_797];
        let out = decode(&labels, &logits, &probs);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].max_class, "duplicate");
        assert_eq!(out[1].max_class, "not_duplicate");
        assert_eq!(out[1].max_class_prob, 0.880_797);
        assert_eq!(out[0].classes["not_duplicate"], 0.119_203);
        assert_eq!(out[1].logits, vec![-1.0, 1.0]);
        let json = serde_json::to_value(&out[0]).unwrap();
        assert!(json.get("logits").is_none());
        assert_eq!(json["max_class"], "duplicate");
    }

    #[test]
    fn tie_goes_to_first_class() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let out = decode(&labels, &[0.0, 0.0], &[0.5, 0.5]);
        assert_eq!(out[0].max_class, "a");
    }
}
