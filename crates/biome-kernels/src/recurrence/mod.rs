//! Fused masked recurrences (LSTM and GRU) over whole sequences.
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
//! direction) with padded steps carrying the previous state, exactly like the composed path that
//! other backends run (`biome-modules`' `rnn/recurrence.rs`).
//!
//! One driver (`driver.rs`) does everything but the gate arithmetic: the packing, the recurrent
//! GEMMs, the order of rows, the trace and the backward sweep. A cell (`lstm.rs`, `gru.rs`)
//! plugs in the arithmetic of one row of one step through [`cell::GatedCell`].

#[cfg(feature = "flex")]
pub(crate) mod activation;
#[cfg(feature = "flex")]
mod cell;
#[cfg(feature = "flex")]
mod driver;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod gru;
#[cfg(feature = "flex")]
mod lstm;
#[cfg(feature = "flex")]
mod projection;

use burn::prelude::*;

/// Which rows a fused call runs over and what it returns: every batch row's true length,
/// whether each row is read backwards within its length (the backward direction), and whether
/// only the final states `[B, H]` are wanted instead of every step's `[T·B, H]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// The true length of every batch row.
    pub lengths: Vec<usize>,
    /// Read each row backwards within its length.
    pub reversed: bool,
    /// Return the final states `[B, H]` only.
    pub final_only: bool,
}

/// The weights of one direction of one layer, transposed with respect to PyTorch (a step is a
/// row-major `x · W`), gate blocks in PyTorch's order.
#[derive(Debug, Clone)]
pub struct CellWeights<'a> {
    /// `[D, G·H]`.
    pub weight_ih: &'a Tensor<2>,
    /// `[G·H]`: everything of both biases that can be added to the projection (LSTM: all of
    /// `b_ih + b_hh`; GRU: `b_ih` plus the `r` and `z` blocks of `b_hh`).
    pub bias: &'a Tensor<1>,
    /// `[H, G·H]`.
    pub weight_hh: &'a Tensor<2>,
    /// Which cell, with what stays inside it.
    pub cell: Cell<'a>,
}

/// The gated cell of a recurrence.
#[derive(Debug, Clone)]
pub enum Cell<'a> {
    /// LSTM, gates `i f g o`.
    Lstm,
    /// GRU, gates `r z n`, with `b_hn` `[H]`, which stays inside `r ⊙ (h·W_hn + b_hn)`.
    Gru {
        /// `[H]`.
        bias_hn: &'a Tensor<1>,
    },
}

/// The hidden states `[T·B, H]` (or the final ones `[B, H]` with `rows.final_only`) of the
/// fused recurrence over step-major `input` `[T·B, D]` (`T` = the longest length), or `None`
/// where the composed path must run: not an f32 tensor on flex, or the op switched off
/// ([`crate::FusedOp::Recurrence`]).
pub fn hidden_states(input: &Tensor<2>, weights: CellWeights<'_>, rows: Rows) -> Option<Tensor<2>> {
    if !crate::policy::is_enabled(crate::FusedOp::Recurrence) {
        return None;
    }
    run(input, weights, rows)
}

#[cfg(not(feature = "flex"))]
fn run(_: &Tensor<2>, _: CellWeights<'_>, _: Rows) -> Option<Tensor<2>> {
    None
}

#[cfg(feature = "flex")]
fn run(input: &Tensor<2>, weights: CellWeights<'_>, rows: Rows) -> Option<Tensor<2>> {
    use burn::backend::Dispatch;

    use flex::FusedRecurrence;

    if !crate::slices::on_flex(input) {
        return None;
    }
    let (input, weight_ih, bias, weight_hh) = (
        input.clone().into_dispatch(),
        weights.weight_ih.clone().into_dispatch(),
        weights.bias.clone().into_dispatch(),
        weights.weight_hh.clone().into_dispatch(),
    );
    let hs = match weights.cell {
        Cell::Lstm => {
            <Dispatch as FusedRecurrence>::masked_lstm(input, weight_ih, bias, weight_hh, rows)
        }
        Cell::Gru { bias_hn } => <Dispatch as FusedRecurrence>::masked_gru(
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

/// The sizes of one fused call.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) struct Shape {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// The true length of every batch row.
    pub lengths: Vec<usize>,
}

#[cfg_attr(not(feature = "flex"), allow(dead_code))]
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
pub fn pack_index(lengths: &[usize], reversed: bool) -> Vec<usize> {
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
