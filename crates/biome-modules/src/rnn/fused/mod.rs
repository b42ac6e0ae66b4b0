//! Fused masked recurrences for the flex CPU backend.
//!
//! burn runs an LSTM step as some fifteen tensor ops, each allocating its output and recording
//! an autodiff node, and differentiates each op separately: on small recurrent matrices that
//! bookkeeping costs more than the arithmetic. Here one backend-extension op runs a whole
//! sequence: per step one GEMM (`h·W_hh`, into a reused buffer) and one pass over the gates; the
//! backward pass is written by hand (per step one GEMM for `dh·W_hhᵀ`, and `dW_hh` as a single
//! product over all steps at the end).
//!
//! The ops take the step-major inputs `[T·B, D]` and project the real tokens only, packed like
//! PyTorch's `PackedSequence` (`[N, G·H]`, `N` = the sum of the lengths: step by step, and within
//! a step the rows still running, longest first; [`pack_index`] gives the order), in one GEMM
//! (`projection.rs`), so the padding costs nothing. They return the hidden states `[T·B, H]`
//! (step-major, batch order, in processing order: reversed within each length for the backward
//! direction) with padded steps carrying the previous state, exactly like the composed path in
//! `recurrence.rs`, which other backends keep using.

mod activation;
mod flex;
mod gru;
mod lstm;
mod projection;

use std::sync::OnceLock;

use burn::backend::{Backend, Dispatch, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

pub use super::recurrence::Rows;

/// The sizes of one fused call.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// The true length of every batch row.
    pub lengths: Vec<usize>,
}

impl Shape {
    /// The batch rows ordered by length, longest first (ties in batch order): the rows still
    /// running at any step are a prefix of it.
    fn longest_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.batch).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(self.lengths[b]));
        order
    }

    /// How many rows of `order` ([`Self::longest_first`]) are still running at step `t`.
    fn running_at(&self, order: &[usize], t: usize) -> usize {
        order.iter().take_while(|&&b| self.lengths[b] > t).count()
    }

    /// Where each step's rows start in the packed layout (`steps + 1` entries, the last = `N`).
    fn packed_offsets(&self, order: &[usize]) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.steps + 1);
        let mut at = 0;
        for t in 0..self.steps {
            offsets.push(at);
            at += self.running_at(order, t);
        }
        offsets.push(at);
        offsets
    }

    /// The packed rows `[N, width]` of step-major, batch-order `full` `[T·B, width]`.
    fn pack(&self, full: &[f32], width: usize) -> Vec<f32> {
        let order = self.longest_first();
        let mut packed = Vec::with_capacity(self.lengths.iter().sum::<usize>() * width);
        for t in 0..self.steps {
            for &b in &order[..self.running_at(&order, t)] {
                let row = (t * self.batch + b) * width;
                packed.extend_from_slice(&full[row..row + width]);
            }
        }
        packed
    }
}

/// The step-major rows (`t·B + b`) of the real tokens in the packed order the fused ops read
/// (see the module docs); with `reversed`, step `t` of row `b` reads its token `len_b − 1 − t`
/// instead, so the backward direction needs no separate reversal of its inputs.
pub(crate) fn pack_index(lengths: &[usize], reversed: bool) -> Vec<usize> {
    let shape = Shape {
        steps: lengths.iter().copied().max().unwrap_or(0),
        batch: lengths.len(),
        hidden: 0,
        lengths: lengths.to_vec(),
    };
    let order = shape.longest_first();
    let mut index = Vec::with_capacity(lengths.iter().sum());
    for t in 0..shape.steps {
        for &b in &order[..shape.running_at(&order, t)] {
            let time = if reversed { lengths[b] - 1 - t } else { t };
            index.push(time * shape.batch + b);
        }
    }
    index
}

/// Writes the final states, kept in `order` (`h_sorted` `[B, H]`), to `hs` `[B, H]` in batch
/// order.
fn scatter_final(hs: &mut [f32], h_sorted: &[f32], order: &[usize], hidden: usize) {
    for (k, &b) in order.iter().enumerate() {
        hs[b * hidden..(b + 1) * hidden].copy_from_slice(&h_sorted[k * hidden..(k + 1) * hidden]);
    }
}

/// The fewest batch rows one rayon task of a gate pass takes: all of them (one task, no split)
/// below 8K values per step, where splitting costs more than it saves; else one.
fn min_rows_per_task(batch: usize, hidden: usize) -> usize {
    if batch * hidden >= 8 * 1024 {
        1
    } else {
        batch.max(1)
    }
}

/// The fused recurrences as a burn backend extension: implemented for flex and for autodiff over
/// flex (with the hand-written backward); never called on other backends.
#[backend_extension(Flex, Autodiff)]
pub trait FusedRecurrence: Backend {
    /// LSTM: `input` `[T·B, D]`, `weight_ih` `[D, 4H]`, `bias` `[4H]` (both LSTM biases),
    /// `weight_hh` `[H, 4H]` → hidden states `[T·B, H]` (`T` = the longest length), or `[B, H]`
    /// with `rows.final_only`.
    fn masked_lstm(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self>;

    /// GRU: `input` `[T·B, D]`, `weight_ih` `[D, 3H]`, `bias` `[3H]` (`b_ih` plus the r and z
    /// blocks of `b_hh`), `weight_hh` `[H, 3H]`, `bias_hn` `[H]` → hidden states `[T·B, H]`, or
    /// `[B, H]` with `rows.final_only`.
    fn masked_gru(
        input: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_hn: FloatTensor<Self>,
        rows: Rows,
    ) -> FloatTensor<Self>;
}

/// Whether the fused ops can run on tensors like `x`: an f32 tensor on the flex device, and not
/// switched off with `BIOME_FUSED_RNN=0` (every recurrence then runs the composed tensor-op
/// path).
fn supported(x: &Tensor<2>) -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    crate::kernel::enabled("BIOME_FUSED_RNN", &ENABLED) && crate::kernel::on_flex(x)
}

/// The hidden states `[T·B, H]` (or the final ones `[B, H]` with `final_only`) of the fused
/// LSTM (`bias_hn` `None`) or GRU over step-major `input` `[T·B, D]`, or `None` where the fused
/// ops cannot run (see [`supported`]).
pub(crate) fn hidden_states(
    input: &Tensor<2>,
    weight_ih: &Tensor<2>,
    bias: &Tensor<1>,
    weight_hh: &Tensor<2>,
    bias_hn: Option<&Tensor<1>>,
    rows: Rows,
) -> Option<Tensor<2>> {
    if !supported(input) {
        return None;
    }
    let (input, weight_ih, bias, weight_hh) = (
        input.clone().into_dispatch(),
        weight_ih.clone().into_dispatch(),
        bias.clone().into_dispatch(),
        weight_hh.clone().into_dispatch(),
    );
    let hs = match bias_hn {
        None => <Dispatch as FusedRecurrence>::masked_lstm(input, weight_ih, bias, weight_hh, rows),
        Some(bias_hn) => <Dispatch as FusedRecurrence>::masked_gru(
            input,
            weight_ih,
            bias,
            weight_hh,
            bias_hn.clone().into_dispatch(),
            rows,
        ),
    };
    Some(Tensor::from_dispatch(hs))
}

#[cfg(test)]
mod tests {
    use super::pack_index;

    /// Lengths [2, 3, 0]: longest first is rows 1, 0 (row 2 is empty); worked by hand.
    #[test]
    fn pack_index_is_step_major_longest_first_and_reverses_within_each_length() {
        // t=0: rows 1, 0; t=1: rows 1, 0; t=2: row 1 (B = 3, index t·B + b).
        assert_eq!(pack_index(&[2, 3, 0], false), vec![1, 0, 4, 3, 7]);
        // Reversed: step t of row b reads its token len_b − 1 − t.
        assert_eq!(pack_index(&[2, 3, 0], true), vec![7, 3, 4, 0, 1]);
    }
}
