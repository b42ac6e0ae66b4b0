//! A linear layer applied to every position of a `[B, T, H]` batch as ONE `[B·T, H]` product.
//!
//! burn's `Linear` on a 3-d input broadcasts its weight into a batched matmul: burn-flex runs
//! it as one `[T, H] · [H, N]` GEMM per batch row, and under autodiff the weight's gradient is
//! one product per batch row summed over a `[B, H, N]` intermediate. Flattened, both are one
//! GEMM: all-MiniLM-L6-v2's train step at 32 pairs × 64 tokens went from 7.06 s to 5.6–5.7 s
//! (BENCHMARKS.md, "Train step"). The values are the same products, so the result equals
//! `linear.forward(x)`.

use burn::nn::Linear;
use burn::prelude::*;

/// - x: `[B, T, H_in]`
/// - returns `[B, T, H_out]`: `x · W + b` at every position
pub fn linear_rows(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [b, t, h] = x.dims();
    let y = linear.forward(x.reshape([b * t, h]));
    let out = y.dims()[1];
    y.reshape([b, t, out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, dev, randn, to_vec};
    use burn::nn::LinearConfig;

    #[test]
    fn equals_the_broadcast_linear_at_every_position() {
        let device = dev();
        let linear = LinearConfig::new(5, 3).init(&device);
        let x = randn([4, 6, 5], &device);
        let rows = linear_rows(&linear, x.clone());
        assert_eq!(rows.dims(), [4, 6, 3]);
        assert_close(&to_vec(rows), &to_vec(linear.forward(x)), 1e-6);
    }
}
