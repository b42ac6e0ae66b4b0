//! The cosine pair head (`"pair_combination": "cosine"`, the sentence-transformers
//! CosineSimilarityLoss / OnlineContrastiveLoss family): the pair's feature is the single
//! number `cos(u, v)`, and the output layer `[1 → C]` turns it into logits, so the match
//! label's logit minus the other's is `s · cos(u, v) + b` with a learned scale `s` and bias
//! `b` — softmax cross-entropy is then the logistic loss on `s · cos + b`.
//!
//! Design:
//! - the output layer stays a plain `Linear` (with one input): `score_encoded` and the
//!   hard-negative term work on it unchanged (`extend_labels` too, structurally, though a
//!   third label is outside what this head means). At the start the other
//!   label's row is 0 (its logit is 0), and the match label's weight is [`INIT_SCALE`] and its
//!   bias `−INIT_SCALE · INIT_THRESHOLD`; both rows then learn, which changes nothing softmax
//!   sees (it depends on the difference of the rows only).
//! - the scale starts at 20, SBERT's scale of cosine logits (`MultipleNegativesRankingLoss`,
//!   SimCSE's temperature 0.05): cosines live in [−1, 1], so a scale near 1 would cap every
//!   probability near 0.73 and the loss could not fall until the optimizer had grown it by
//!   tens of steps of size lr. The decision starts at cos 0.5: records that share most of
//!   their tokens (or a pretrained encoder's paraphrases) sit above it, unrelated ones near 0.
//! - which label is "match": the facade's rule (`src/match_label.rs`: a two-label model whose
//!   one label is named `duplicate`, `match`, `1`, `true` or `same`, any case); anything else is
//!   a config error, since a cosine says "similar" and needs to know which label means it.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::error::ModelError;

/// Initial scale of the cosine (see the module docs).
pub const INIT_SCALE: f32 = 20.0;
/// Initial cosine at which both labels are equally likely.
pub const INIT_THRESHOLD: f32 = 0.5;

/// Label names that mean a match (the facade's `match_label` rule), compared case-insensitively.
const MATCH_NAMES: [&str; 5] = ["duplicate", "match", "1", "true", "same"];

/// `cos(u, v)` per row: `u`, `v` `[B, H]` → `[B, 1]`. A zero vector (an all-padding record)
/// has cosine 0 with anything (norms are clamped at 1e-8, as `torch.cosine_similarity`).
pub fn cosine(u: Tensor<2>, v: Tensor<2>) -> Tensor<2> {
    let norm = |x: &Tensor<2>| x.clone().square().sum_dim(1).sqrt().clamp_min(1e-8);
    let (nu, nv) = (norm(&u), norm(&v));
    (u * v).sum_dim(1) / (nu * nv)
}

/// The index of the match label of `labels`, or a config error saying what is needed.
pub fn match_index(labels: &[String]) -> Result<usize, ModelError> {
    let named: Vec<usize> = (0..labels.len())
        .filter(|&i| MATCH_NAMES.contains(&labels[i].to_lowercase().as_str()))
        .collect();
    match named.as_slice() {
        [one] if labels.len() == 2 => Ok(*one),
        _ => Err(ModelError::Config(format!(
            "pair_combination \"cosine\" needs two labels, one of them named {} (any case); \
             the labels are {}",
            MATCH_NAMES.join(", "),
            labels.join(", ")
        ))),
    }
}

/// The output layer `[1 → labels]` of the cosine head, initialised as the module docs say.
pub fn output_layer(labels: usize, match_label: usize, device: &Device) -> Linear {
    let mut weight = vec![0.0f32; labels];
    let mut bias = vec![0.0f32; labels];
    weight[match_label] = INIT_SCALE;
    bias[match_label] = -INIT_SCALE * INIT_THRESHOLD;
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [1, labels]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [labels]),
            device,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn cosine_matches_hand_values() {
        let device = Device::flex();
        let u = Tensor::<2>::from_floats([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]], &device);
        let v = Tensor::<2>::from_floats([[0.0, 2.0], [6.0, 8.0], [1.0, 1.0]], &device);
        let got = values(cosine(u, v));
        // orthogonal, parallel (25·2 / (5·10) = 1), a zero vector
        for (g, w) in got.iter().zip([0.0f32, 1.0, 0.0]) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let u = Tensor::<2>::from_floats([[1.0, 2.0, 2.0]], &device);
        let v = Tensor::<2>::from_floats([[2.0, -1.0, 2.0]], &device);
        // (2 − 2 + 4) / (3 · 3)
        assert!((values(cosine(u, v))[0] - 4.0 / 9.0).abs() < 1e-6);
    }

    #[test]
    fn the_match_label_follows_the_facade_rule() {
        let l = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(match_index(&l(&["not_duplicate", "duplicate"])).unwrap(), 1);
        assert_eq!(match_index(&l(&["Match", "other"])).unwrap(), 0);
        let err = match_index(&l(&["a", "b"])).unwrap_err().to_string();
        assert!(
            err.contains("pair_combination \"cosine\" needs two labels"),
            "{err}"
        );
        assert!(match_index(&l(&["0", "1", "2"])).is_err());
    }

    /// Logit difference `s · cos + b` at the start: scale 20, decision at cos 0.5; the other
    /// label's logit 0.
    #[test]
    fn the_initial_layer_is_scale_times_cosine_minus_threshold() {
        let device = Device::flex();
        let layer = output_layer(2, 1, &device);
        let cos = Tensor::<2>::from_floats([[0.5], [1.0], [-0.25]], &device);
        let logits = values(layer.forward(cos));
        let want = [0.0, 0.0, 0.0, 10.0, 0.0, -15.0];
        for (g, w) in logits.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{logits:?}");
        }
    }
}
