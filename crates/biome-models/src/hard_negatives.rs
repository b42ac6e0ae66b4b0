//! In-batch hard negatives: a loss term that teaches the pair head the pairs a whole table
//! will show it.
//!
//! Labelled pairs rarely hold the negatives that `biome dedupe` scores: there every candidate is
//! one of a record's nearest neighbours, so nearly every non-match looks like a match. For each
//! row `i` of a batch this term takes the other row's second record `v_j` most similar (cosine)
//! to `u_i`, skipping every row that shares a record with row `i` (those may be one entity),
//! and adds the cross-entropy of `(u_i, v_j)` against the non-match label. The choice of `j`
//! is not differentiated; the loss of the chosen pair is, through both records and the head.
//! No value is read back to the host.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

/// `"hard_negatives": {"label": "not_duplicate", "weight": 1.0}` in the model config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardNegativesConfig {
    /// The label of a non-match.
    pub label: String,
    /// Weight of the term in the loss.
    #[serde(default = "one")]
    pub weight: f32,
}

fn one() -> f32 {
    1.0
}

/// `[B, B]`: whether rows `i` and `j` share a record (either side of one equals either side of
/// the other; a row shares its records with itself). `ids` is `[2B, L]`: the word ids of the
/// first records, then of the second ones, each row flattened.
pub fn shared_records(ids: Tensor<2, Int>) -> Tensor<2, Bool> {
    let [rows, len] = ids.dims();
    let b = rows / 2;
    let left = ids
        .clone()
        .reshape([rows, 1, len])
        .expand([rows, rows, len]);
    let right = ids.reshape([1, rows, len]).expand([rows, rows, len]);
    let equal: Tensor<2, Int> = left
        .equal(right)
        .int()
        .sum_dim(2)
        .reshape([rows, rows])
        .equal_elem(len as i64)
        .int();
    let quarter =
        |r: std::ops::Range<usize>, c: std::ops::Range<usize>| equal.clone().slice([r, c]);
    (quarter(0..b, 0..b)
        + quarter(0..b, b..rows)
        + quarter(b..rows, 0..b)
        + quarter(b..rows, b..rows))
    .greater_elem(0)
}

/// Index `[B]` of each row's hardest negative second record and whether it has one (`[B]`,
/// 1.0 or 0.0): the most similar `v_j` to `u_i` among rows that share no record with `i`.
pub fn hardest(u: Tensor<2>, v: Tensor<2>, shared: Tensor<2, Bool>) -> (Tensor<1, Int>, Tensor<1>) {
    let [b, _] = u.dims();
    let unit = |x: Tensor<2>| {
        let norm = x
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        x / norm
    };
    let similarity = unit(u.detach()).matmul(unit(v.detach()).transpose());
    // cosines are ≥ −1, so −2 marks "not a candidate"
    let (best, index) = similarity.mask_fill(shared, -2.0).max_dim_with_indices(1);
    (
        index.reshape([b]),
        best.reshape([b]).greater_elem(-1.5).float(),
    )
}

/// Mean of `−log p(label)` over the rows that have a negative (0 when none has): `logits`
/// `[B, C]` of the chosen negative pairs, `valid` `[B]` from [`hardest`].
pub fn negative_loss(logits: Tensor<2>, valid: Tensor<1>, label: usize) -> Tensor<1> {
    let [b, _] = logits.dims();
    let picked: Tensor<1> = log_softmax(logits, 1)
        .slice([0..b, label..label + 1])
        .reshape([b]);
    let n = valid.clone().sum().clamp_min(1.0);
    (picked * valid).sum().neg() / n
}
