//! The input projection of a fused recurrence, inside the op: the real tokens' input rows are
//! gathered in the packed order ([`super::pack_index`]) and multiplied by `W_ih` into a buffer
//! that starts as the bias. Done outside with tensor ops, the gather, the product and the bias
//! add each wrote a fresh `[N, G·H]`-sized tensor (burn-flex zero-fills and then copies every
//! matmul output), which was a sixth of the BiLSTM workload's inference time (BENCHMARKS.md, W2).

use crate::gemm::{Operand, matmul};
use crate::slices::gather_rows;

/// The packed projection.
pub(crate) struct Projected {
    /// `[N, D]`: the input rows at `index`, kept for the weight gradient.
    pub input: Vec<f32>,
    /// `[N, G·H]`: `input · W_ih + bias`.
    pub proj: Vec<f32>,
}

/// `input` `[R, D]` (step-major rows), `weight_ih` `[D, G·H]`, `bias` `[G·H]`, and the rows to
/// take in packed order.
pub(crate) fn forward(
    input: &[f32],
    weight_ih: &[f32],
    bias: &[f32],
    index: &[usize],
) -> Projected {
    let width = bias.len();
    let d = weight_ih.len().checked_div(width).unwrap_or(0);
    let n = index.len();
    let packed = gather_rows(n, d, |i| Some(&input[index[i] * d..(index[i] + 1) * d]));
    let mut proj = gather_rows(n, width, |_| Some(bias));
    matmul(
        &mut proj,
        Operand::plain(&packed),
        Operand::plain(weight_ih),
        [n, width, d],
        true,
    );
    Projected {
        input: packed,
        proj,
    }
}

/// The gradients of `input` `[rows, D]` (zero at rows `index` does not name), `weight_ih`
/// `[D, G·H]` and `bias` `[G·H]` from the packed projection's `dproj` `[N, G·H]`.
pub(crate) fn backward(
    dproj: &[f32],
    packed_input: &[f32],
    weight_ih: &[f32],
    index: &[usize],
    rows: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = index.len();
    let width = dproj.len().checked_div(n).unwrap_or(0);
    let d = packed_input.len().checked_div(n).unwrap_or(0);
    // dbias = 1ᵀ · dproj, dW_ih = inputᵀ · dproj.
    let mut dbias = vec![0.0f32; width];
    matmul(
        &mut dbias,
        Operand::plain(&vec![1.0f32; n]),
        Operand::plain(dproj),
        [1, width, n],
        false,
    );
    let mut dweight = vec![0.0f32; d * width];
    matmul(
        &mut dweight,
        Operand::transposed(packed_input),
        Operand::plain(dproj),
        [d, width, n],
        false,
    );
    // dinput's packed rows = dproj · W_ihᵀ, scattered back (each real token is one row).
    let mut dpacked = vec![0.0f32; n * d];
    matmul(
        &mut dpacked,
        Operand::plain(dproj),
        Operand::transposed(weight_ih),
        [n, d, width],
        false,
    );
    let mut dinput = vec![0.0f32; rows * d];
    for (row, &r) in dpacked.chunks(d.max(1)).zip(index) {
        dinput[r * d..(r + 1) * d].copy_from_slice(row);
    }
    (dinput, dweight, dbias)
}
