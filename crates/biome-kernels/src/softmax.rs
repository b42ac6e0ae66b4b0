//! The attention softmax `softmax(scale · scores + key_bias)` over the keys as one flex op, with a
//! hand-written backward under autodiff.
//!
//! Composed, it is three ops (the scale, the broadcast add of the `[B, 1, 1, T]` key mask, the
//! softmax), and under autodiff burn runs its softmax as the backend's default composition
//! (max, subtract, exp, sum, divide), each op with its own `[B, heads, T, T]` intermediate and
//! its own backward. Here the forward is one pass per row of keys and the backward one more:
//! `d scores = scale · y ⊙ (g − Σ_k g_k y_k)`, from the output alone. The key bias is a constant
//! (the padding mask), so it gets no gradient; a bias that requires one takes the composed path.

use burn::prelude::*;

use crate::policy::{FusedOp, is_enabled};

/// `softmax(scale · scores + key_bias, 3)` for `scores` `[B, heads, Tq, Tk]` and `key_bias`
/// `[B, 1, 1, Tk]`, with or without autodiff; `None` where the composed path must run: not f32
/// tensors on flex, other shapes, a key bias that requires a gradient, or the op switched off
/// ([`FusedOp::Softmax`]).
pub fn scaled_softmax_with_key_bias(
    scores: &Tensor<4>,
    scale: f32,
    key_bias: &Tensor<4>,
) -> Option<Tensor<4>> {
    if !is_enabled(FusedOp::Softmax) || key_bias.is_require_grad() {
        return None;
    }
    let [b, _, _, keys] = scores.dims();
    if key_bias.dims() != [b, 1, 1, keys] {
        return None;
    }
    flex::scaled_softmax_with_key_bias(scores, scale, key_bias)
}

/// The arithmetic on slices (flex only).
#[cfg(feature = "flex")]
mod arithmetic {
    use crate::recurrence::activation::exp;
    use crate::row_reductions::{dot, max_of, rows_per_task, sum_of};

    /// How the rows of keys lie: `keys` values each, `rows_per_bias` consecutive rows (one
    /// batch row's heads × queries) sharing one row of the key bias.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Rows {
        pub keys: usize,
        pub rows_per_bias: usize,
    }

    /// Softmax of one row `v` in place (`v` holds the biased, scaled scores).
    #[inline(always)]
    fn softmax_in_place(v: &mut [f32]) {
        let max = max_of(v);
        for x in v.iter_mut() {
            let d = *x - max;
            // The exponential saturates at e^-87 instead of 0: a padded key (−1e9 below the
            // real ones) must get exactly zero weight, as it does in the composed softmax.
            *x = if d < -87.0 { 0.0 } else { exp(d) };
        }
        let inverse = 1.0 / sum_of(v);
        for x in v.iter_mut() {
            *x *= inverse;
        }
    }

    /// `softmax(scale · s + bias)` of every row, across rayon's pool.
    pub(super) fn forward(scores: &[f32], bias: &[f32], scale: f32, rows: Rows) -> Vec<f32> {
        use rayon::prelude::*;
        let k = rows.keys;
        assert!(
            scores.len().is_multiple_of(k.max(1)),
            "softmax: scores not whole rows"
        );
        let mut out = vec![0f32; scores.len()];
        if k == 0 {
            return out;
        }
        let per_task = rows_per_task(k);
        out.par_chunks_mut(per_task * k)
            .zip(scores.par_chunks(per_task * k))
            .enumerate()
            .for_each(|(task, (out, scores))| {
                forward_rows(out, scores, bias, task * per_task, scale, rows);
            });
        out
    }

    with_avx2_build! {
        /// The rows of `scores` from row `first` on, into `out`.
        fn forward_rows(
            out: &mut [f32],
            scores: &[f32],
            bias: &[f32],
            first: usize,
            scale: f32,
            rows: Rows,
        ) {
            let k = rows.keys;
            for (i, (o, s)) in out.chunks_mut(k).zip(scores.chunks(k)).enumerate() {
                let b = &bias[((first + i) / rows.rows_per_bias) * k..][..k];
                for ((o, &s), &b) in o.iter_mut().zip(s).zip(b) {
                    *o = scale * s + b;
                }
                softmax_in_place(o);
            }
        }
    }

    /// `scale · y ⊙ (g − Σ_k g_k y_k)` of every row: the gradient of the scores.
    pub(super) fn backward(y: &[f32], g: &[f32], scale: f32, rows: Rows) -> Vec<f32> {
        use rayon::prelude::*;
        let k = rows.keys;
        assert_eq!(
            y.len(),
            g.len(),
            "softmax backward: gradient of another shape"
        );
        let mut out = vec![0f32; y.len()];
        if k == 0 {
            return out;
        }
        let per_task = rows_per_task(k);
        out.par_chunks_mut(per_task * k)
            .zip(y.par_chunks(per_task * k).zip(g.par_chunks(per_task * k)))
            .for_each(|(out, (y, g))| backward_rows(out, y, g, scale, k));
        out
    }

    with_avx2_build! {
        /// The gradient of whole rows of `keys` values, into `out`.
        fn backward_rows(out: &mut [f32], y: &[f32], g: &[f32], scale: f32, keys: usize) {
            for ((o, y), g) in out.chunks_mut(keys).zip(y.chunks(keys)).zip(g.chunks(keys)) {
                let dot = dot(y, g);
                for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                    *o = scale * y * (g - dot);
                }
            }
        }
    }
}

#[cfg(not(feature = "flex"))]
mod flex {
    use burn::prelude::*;

    pub(super) fn scaled_softmax_with_key_bias(
        _: &Tensor<4>,
        _: f32,
        _: &Tensor<4>,
    ) -> Option<Tensor<4>> {
        None
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
    use burn::prelude::*;

    use super::arithmetic::Rows;
    use crate::slices::{dims, on_flex, tensor, values};

    #[backend_extension(Flex, Autodiff)]
    pub trait FusedAttentionSoftmax: Backend {
        /// `scores` `[B, heads, Tq, Tk]`, `key_bias` `[B, 1, 1, Tk]` (a constant) →
        /// `softmax(scale · scores + key_bias)` over the last dimension, same shape.
        fn fused_attention_softmax(
            scores: FloatTensor<Self>,
            key_bias: FloatTensor<Self>,
            scale: f32,
        ) -> FloatTensor<Self>;
    }

    fn rows_of(scores: &FlexTensor) -> Rows {
        let d = dims(scores);
        Rows {
            keys: d[3],
            rows_per_bias: d[1] * d[2],
        }
    }

    fn forward(scores: &FlexTensor, key_bias: &FlexTensor, scale: f32) -> FlexTensor {
        let out =
            super::arithmetic::forward(&values(scores), &values(key_bias), scale, rows_of(scores));
        tensor(out, dims(scores))
    }

    impl FusedAttentionSoftmax for Flex {
        fn fused_attention_softmax(
            scores: FlexTensor,
            key_bias: FlexTensor,
            scale: f32,
        ) -> FlexTensor {
            forward(&scores, &key_bias, scale)
        }
    }

    #[derive(Debug)]
    struct SoftmaxBackward;

    impl Backward<Flex, 1> for SoftmaxBackward {
        /// The output and the scale.
        type State = (FlexTensor, f32);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [scores_node] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            if let Some(node) = scores_node {
                let (y, scale) = &ops.state;
                let d = super::arithmetic::backward(&values(y), &values(&grad), *scale, rows_of(y));
                grads.register::<Flex>(node.id, tensor(d, dims(y)));
            }
        }
    }

    impl<C: CheckpointStrategy> FusedAttentionSoftmax for Autodiff<Flex, C> {
        fn fused_attention_softmax(
            scores: FloatTensor<Self>,
            key_bias: FloatTensor<Self>,
            scale: f32,
        ) -> FloatTensor<Self> {
            let nodes = [scores.node()];
            let scores = scores.into_primitive();
            let key_bias = key_bias.into_primitive();
            match SoftmaxBackward
                .prepare::<C>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let out = forward(&scores, &key_bias, scale);
                    prep.finish((out.clone(), scale), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(forward(&scores, &key_bias, scale)),
            }
        }
    }

    pub(super) fn scaled_softmax_with_key_bias(
        scores: &Tensor<4>,
        scale: f32,
        key_bias: &Tensor<4>,
    ) -> Option<Tensor<4>> {
        if !on_flex(scores) || !on_flex(key_bias) {
            return None;
        }
        let out = <Dispatch as FusedAttentionSoftmax>::fused_attention_softmax(
            scores.clone().into_dispatch(),
            key_bias.clone().into_dispatch(),
            scale,
        );
        Some(Tensor::from_dispatch(out))
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::arithmetic::*;
    use super::*;
    use burn::tensor::TensorData;

    /// `softmax(scale · s + b)` of one row in f64.
    fn softmax_f64(s: &[f64], b: &[f64], scale: f64) -> Vec<f64> {
        let v: Vec<f64> = s.iter().zip(b).map(|(s, b)| scale * s + b).collect();
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = v.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    }

    /// Deterministic values in about [−amplitude, amplitude].
    fn wave(n: usize, phase: f32, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.73 + phase).sin() * amplitude)
            .collect()
    }

    #[test]
    fn hand_worked_rows_and_exactly_zero_weight_at_padded_keys() {
        // softmax(0, ln 3) = (1/4, 3/4); the third key is padded.
        let rows = Rows {
            keys: 3,
            rows_per_bias: 1,
        };
        let y = forward(&[0.0, 3f32.ln(), 5.0], &[0.0, 0.0, -1e9], 1.0, rows);
        assert!(
            (y[0] - 0.25).abs() < 1e-6 && (y[1] - 0.75).abs() < 1e-6,
            "{y:?}"
        );
        assert_eq!(y[2], 0.0);
        // The scale applies before the bias: 2 · (0, ln 3 / 2) is (0, ln 3) again.
        let y = forward(&[0.0, 3f32.ln() / 2.0, 0.0], &[0.0, 0.0, -1e9], 2.0, rows);
        assert!((y[1] - 0.75).abs() < 1e-6 && y[2] == 0.0);
        // An all-padding row gets finite, uniform weights, as the composed softmax gives it.
        let y = forward(&[1.0, 2.0, 3.0], &[-1e9, -1e9, -1e9], 1.0, rows);
        assert!(y.iter().all(|&w| (w - 1.0 / 3.0).abs() < 1e-6), "{y:?}");
    }

    #[test]
    fn forward_equals_the_f64_reference_with_one_bias_row_per_batch_row() {
        // 2 batch rows × 3 heads × 5 queries, 7 keys; batch row 1 has its last 3 keys padded.
        let (heads, queries, keys) = (3, 5, 7);
        let scores = wave(2 * heads * queries * keys, 0.1, 4.0);
        let mut bias = vec![0f32; 2 * keys];
        bias[keys + 4..].fill(-1e9);
        let rows = Rows {
            keys,
            rows_per_bias: heads * queries,
        };
        let y = forward(&scores, &bias, 0.5, rows);
        for (row, (y, s)) in y.chunks(keys).zip(scores.chunks(keys)).enumerate() {
            let b: Vec<f64> = bias[(row / (heads * queries)) * keys..][..keys]
                .iter()
                .map(|&b| f64::from(b))
                .collect();
            let s: Vec<f64> = s.iter().map(|&s| f64::from(s)).collect();
            let exact = softmax_f64(&s, &b, 0.5);
            for (k, (&got, want)) in y.iter().zip(&exact).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() < 1e-6,
                    "row {row} key {k}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn backward_matches_central_differences_of_the_f64_reference() {
        // loss = Σ_k w_k · softmax(scale · s + b)_k for one row; d loss / d s by differences.
        let (keys, scale) = (6, 0.7);
        let s: Vec<f32> = wave(keys, 0.3, 2.0);
        let b = [0.0, 0.0, 0.0, 0.0, 0.0, -1e9];
        let w: Vec<f32> = wave(keys, 1.9, 1.0);
        let rows = Rows {
            keys,
            rows_per_bias: 1,
        };
        let y = forward(&s, &b, scale, rows);
        let grad = backward(&y, &w, scale, rows);
        let b64: Vec<f64> = b.iter().map(|&b| f64::from(b)).collect();
        let loss = |s: &[f64]| -> f64 {
            softmax_f64(s, &b64, f64::from(scale))
                .iter()
                .zip(&w)
                .map(|(y, &w)| y * f64::from(w))
                .sum()
        };
        let h = 1e-6;
        for k in 0..keys {
            let mut plus: Vec<f64> = s.iter().map(|&s| f64::from(s)).collect();
            let mut minus = plus.clone();
            plus[k] += h;
            minus[k] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                (f64::from(grad[k]) - numeric).abs() < 1e-6,
                "key {k}: {} vs {numeric}",
                grad[k]
            );
        }
        assert_eq!(grad[keys - 1], 0.0, "a padded key gets no gradient");
    }

    fn values_of(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The composed form the attention used before: scale, broadcast add, burn's softmax.
    fn composed(scores: Tensor<4>, scale: f32, bias: Tensor<4>) -> Tensor<4> {
        burn::tensor::activation::softmax(scores * f64::from(scale) + bias, 3)
    }

    #[test]
    fn under_autodiff_the_fused_op_equals_the_composed_form_forward_and_backward() {
        let device = Device::flex().autodiff();
        // More rows than one rayon task holds, so the row → bias-row arithmetic crosses tasks.
        let (b, heads, queries, keys) = (3, 4, 150, 40);
        let shape = [b, heads, queries, keys];
        let n = b * heads * queries * keys;
        let data = wave(n, 0.2, 3.0);
        let mut bias = vec![0f32; b * keys];
        bias[keys - 5..keys].fill(-1e9);
        bias[2 * keys + 1..].fill(-1e9);
        let bias = Tensor::<4>::from_data(TensorData::new(bias, [b, 1, 1, keys]), &device);
        let w = Tensor::<4>::from_data(TensorData::new(wave(n, 2.3, 1.0), shape), &device);
        let input =
            || Tensor::<4>::from_data(TensorData::new(data.clone(), shape), &device).require_grad();
        let x = input();
        let fused = scaled_softmax_with_key_bias(&x, 0.125, &bias).expect("runs on flex");
        let fused_grad = (fused.clone() * w.clone()).sum().backward();
        let x2 = input();
        let reference = composed(x2.clone(), 0.125, bias.clone());
        let reference_grad = (reference.clone() * w).sum().backward();
        let pairs = [
            (values_of(fused.inner()), values_of(reference.inner())),
            (
                values_of(x.grad(&fused_grad).unwrap()),
                values_of(x2.grad(&reference_grad).unwrap()),
            ),
        ];
        for (what, (a, c)) in ["forward", "gradient"].iter().zip(pairs) {
            for (i, (a, c)) in a.iter().zip(&c).enumerate() {
                assert!((a - c).abs() <= 1e-6, "{what} {i}: fused {a}, composed {c}");
            }
        }
    }

    #[test]
    fn declines_what_it_does_not_cover() {
        let device = Device::flex();
        let scores = Tensor::<4>::zeros([2, 3, 4, 5], &device);
        let wrong = Tensor::<4>::zeros([2, 1, 4, 5], &device);
        assert!(scaled_softmax_with_key_bias(&scores, 1.0, &wrong).is_none());
        let ad = Device::flex().autodiff();
        let learned = Tensor::<4>::zeros([2, 1, 1, 5], &ad).require_grad();
        let scores_ad = Tensor::<4>::zeros([2, 3, 4, 5], &ad);
        assert!(scaled_softmax_with_key_bias(&scores_ad, 1.0, &learned).is_none());
        let bias = Tensor::<4>::zeros([2, 1, 1, 5], &device);
        assert!(scaled_softmax_with_key_bias(&scores, 1.0, &bias).is_some());
        crate::composed_only(|| {
            assert!(scaled_softmax_with_key_bias(&scores, 1.0, &bias).is_none());
        });
    }
}
