//! Cross-entropy with optional per-class weights.
//!
//! burn's own `CrossEntropyLoss` rejects a zero weight, but a zero weight is a legitimate way to
//! ignore a class (the reference's own test uses one), so the weighted mean is written here,
//! normalised like PyTorch by the sum of the targets' weights.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Mean cross-entropy of `logits` against `targets`, optionally weighted per class.
///
/// - logits: `[B, C]`
/// - targets: `[B]` class indices
/// - class_weights: `[C]`
/// - returns `[1]`
///
/// With weights the result is `Σ w[y_b]·(−log p_b[y_b]) / Σ w[y_b]`; when every target has
/// weight 0 the loss is 0 (not the 0/0 NaN PyTorch gives), so a batch of ignored classes cannot
/// poison training.
pub fn cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    class_weights: Option<Tensor<1>>,
) -> Tensor<1> {
    let [batch, _] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    let picked: Tensor<1> = log_probs
        .gather(1, targets.clone().reshape([batch, 1]))
        .reshape([batch]);
    match class_weights {
        None => picked.mean().neg(),
        Some(weights) => {
            let target_weights = weights.select(0, targets);
            let total = target_weights.clone().sum().clamp_min(f32::MIN_POSITIVE);
            (picked * target_weights).sum().neg() / total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn reference_case_zero_weight_gives_zero_and_other_gives_ln2() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[1.0, 1.0]], &device);
        let weights = Tensor::<1>::from_floats([0.0, 1.0], &device);
        let t0 = Tensor::<1, Int>::from_ints([0], &device);
        let t1 = Tensor::<1, Int>::from_ints([1], &device);
        let l0 = scalar(cross_entropy(logits.clone(), t0, Some(weights.clone())));
        let l1 = scalar(cross_entropy(logits, t1, Some(weights)));
        assert_eq!(l0, 0.0);
        assert!((l1 - std::f32::consts::LN_2).abs() < 1e-6, "{l1}");
    }

    #[test]
    fn unweighted_matches_hand_computed_mean() {
        let device = Device::flex();
        // row 0: logits [0, ln 3] -> p(1) = 3/4; row 1: [2, 0, 0] -> p(0) = e²/(e²+2)
        let logits = Tensor::<2>::from_floats([[0.0, 3f32.ln(), -1e9], [2.0, 0.0, 0.0]], &device);
        let targets = Tensor::<1, Int>::from_ints([1, 0], &device);
        let e2 = 2f32.exp();
        let expected = (-(0.75f32).ln() - (e2 / (e2 + 2.0)).ln()) / 2.0;
        let got = scalar(cross_entropy(logits, targets, None));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn weighted_mean_is_normalised_by_target_weights() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[0.0, 0.0], [0.0, 3f32.ln()]], &device);
        let targets = Tensor::<1, Int>::from_ints([0, 1], &device);
        let weights = Tensor::<1>::from_floats([2.0, 0.5], &device);
        // losses: ln 2 (w 2), -ln(3/4) (w 0.5)
        let expected = (2.0 * 2f32.ln() + 0.5 * -(0.75f32).ln()) / 2.5;
        let got = scalar(cross_entropy(logits, targets, Some(weights)));
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn gradient_matches_softmax_minus_onehot() {
        let device = Device::flex().autodiff();
        let logits = Tensor::<2>::from_floats([[0.5, -1.0, 2.0]], &device).require_grad();
        let targets = Tensor::<1, Int>::from_ints([2], &device);
        let loss = cross_entropy(logits.clone(), targets, None);
        let grads = loss.backward();
        let g = logits
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let z: f32 = [0.5f32, -1.0, 2.0].iter().map(|v| v.exp()).sum();
        let p: Vec<f32> = [0.5f32, -1.0, 2.0].iter().map(|v| v.exp() / z).collect();
        let expected = [p[0], p[1], p[2] - 1.0];
        for (a, b) in g.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "{g:?} vs {expected:?}");
        }
    }
}
