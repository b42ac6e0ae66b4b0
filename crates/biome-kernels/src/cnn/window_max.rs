//! The masked CNN encoder's arithmetic on row-major slices: n-gram filters over the complete
//! windows of each row, max-pooled, and the hand-written backward pass.
//!
//! Two facts make it cheap:
//! - Only windows lying wholly on real tokens count (see `CnnEncoder::forward`), so only start
//!   positions where the smallest filter's window is complete are computed: the padding costs
//!   nothing (PyTorch's `Conv1d` runs over every padded position), and each filter reads just
//!   its own `k·D` leading columns of the packed windows, not a zero-padded largest window.
//! - The activations are non-decreasing and a bias is the same for every window, so the maximum
//!   is taken over the raw filter outputs and the bias and activation are applied to the
//!   `[B, n·F]` maxima alone. The backward pass then only touches each maximum's window: per
//!   (row, filter) one `k·D` update of the input gradient and one of the weight gradient, instead
//!   of two GEMMs as large as the forward one.

use rayon::prelude::*;

use crate::gemm::{Operand, matmul};

/// `argmax` of a row and filter without a complete window.
pub(crate) const NO_WINDOW: u32 = u32::MAX;

/// The sizes of one call.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    pub batch: usize,
    pub steps: usize,
    pub dim: usize,
    /// Filters per n-gram size.
    pub filters: usize,
    /// The n-gram sizes, in the order of the stacked weight.
    pub ngrams: Vec<usize>,
}

impl Sizes {
    /// The pooled width, `n·F`.
    pub fn width(&self) -> usize {
        self.ngrams.len() * self.filters
    }

    /// Where filter `i`'s `[k·D, F]` block starts in the stacked weight `[Σk·D, F]`, in values.
    fn weight_offset(&self, i: usize) -> usize {
        self.ngrams[..i].iter().sum::<usize>() * self.dim * self.filters
    }
}

/// The pooled maxima and where they are.
#[derive(Debug, Clone)]
pub(crate) struct Pooled {
    /// `[B, n·F]`: the largest filter output over a row's complete windows, plus the bias; 0
    /// where the row has no complete window for that filter.
    pub pre: Vec<f32>,
    /// `[B, n·F]`: the start position of that window, or [`NO_WINDOW`].
    pub argmax: Vec<u32>,
}

/// `[B·T]`: how many real tokens run from each position on (0 at padding).
pub(crate) fn real_runs(mask: &[bool], batch: usize, steps: usize) -> Vec<u32> {
    let mut runs = vec![0u32; batch * steps];
    for (run, real) in runs.chunks_mut(steps.max(1)).zip(mask.chunks(steps.max(1))) {
        let mut next = 0;
        for t in (0..run.len()).rev() {
            next = if real[t] { next + 1 } else { 0 };
            run[t] = next;
        }
    }
    runs
}

/// The number of windows one rayon task takes: enough for an efficient GEMM, few enough
/// that the packed windows stay in cache.
const WINDOWS_PER_TASK: usize = 256;

/// x `[B, T, D]`, the stacked weight `[Σk·D, F]`, the bias `[n·F]`, the real-token runs
/// ([`real_runs`]) → the pooled maxima before the activation.
pub(crate) fn forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    runs: &[u32],
    sizes: &Sizes,
) -> Pooled {
    let (t_len, d, f, width) = (sizes.steps, sizes.dim, sizes.filters, sizes.width());
    let k_min = sizes.ngrams.iter().copied().min().unwrap_or(1);
    let k_max = sizes.ngrams.iter().copied().max().unwrap_or(1);
    // Batch rows per task: about `WINDOWS_PER_TASK` start positions, at least one row.
    let rows_per_task = (WINDOWS_PER_TASK / t_len.max(1)).max(1);
    let mut pre = vec![f32::NEG_INFINITY; sizes.batch * width];
    let mut argmax = vec![NO_WINDOW; sizes.batch * width];
    pre.par_chunks_mut(rows_per_task * width)
        .zip(argmax.par_chunks_mut(rows_per_task * width))
        .enumerate()
        .for_each(|(task, (pre, argmax))| {
            let first = task * rows_per_task;
            let rows = pre.len() / width;
            // The packed windows: one per start position whose smallest window is complete,
            // `[x_t; …; x_{t+K-1}]` with zeros from the first non-real position on.
            let mut starts: Vec<(usize, usize)> = Vec::with_capacity(rows * t_len);
            for b in 0..rows {
                let run = &runs[(first + b) * t_len..(first + b + 1) * t_len];
                starts.extend(
                    (0..t_len)
                        .filter(|&t| run[t] as usize >= k_min)
                        .map(|t| (b, t)),
                );
            }
            let stride = k_max * d;
            let mut windows = vec![0.0f32; starts.len() * stride];
            for (window, &(b, t)) in windows.chunks_mut(stride).zip(&starts) {
                let real = (runs[(first + b) * t_len + t] as usize).min(k_max) * d;
                let from = ((first + b) * t_len + t) * d;
                window[..real].copy_from_slice(&x[from..from + real]);
            }
            let mut out = vec![0.0f32; starts.len() * f];
            for (i, &k) in sizes.ngrams.iter().enumerate() {
                let offset = sizes.weight_offset(i);
                matmul(
                    &mut out,
                    Operand::leading_columns(&windows, stride),
                    Operand::plain(&weight[offset..offset + k * d * f]),
                    [starts.len(), f, k * d],
                    false,
                );
                for (values, &(b, t)) in out.chunks(f).zip(&starts) {
                    if (runs[(first + b) * t_len + t] as usize) < k {
                        continue;
                    }
                    let at = b * width + i * f;
                    let best = &mut pre[at..at + f];
                    let arg = &mut argmax[at..at + f];
                    for j in 0..f {
                        if values[j] > best[j] {
                            best[j] = values[j];
                            arg[j] = t as u32;
                        }
                    }
                }
            }
            for (row_pre, row_arg) in pre.chunks_mut(width).zip(argmax.chunks(width)) {
                for ((p, &a), &bias) in row_pre.iter_mut().zip(row_arg).zip(bias) {
                    *p = if a == NO_WINDOW { 0.0 } else { *p + bias };
                }
            }
        });
    Pooled { pre, argmax }
}

/// `gate` `[B, n·F]` is the gradient at the pooled maxima before the activation (zero where
/// there was no window). Returns the gradients of x `[B·T·D]`, the stacked weight `[Σk·D, F]`
/// and the bias `[n·F]`.
pub(crate) fn backward(
    x: &[f32],
    weight: &[f32],
    gate: &[f32],
    argmax: &[u32],
    sizes: &Sizes,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (t_len, d, f, width) = (sizes.steps, sizes.dim, sizes.filters, sizes.width());
    let mut dbias = vec![0.0f32; width];
    for row in gate.chunks(width) {
        for (db, g) in dbias.iter_mut().zip(row) {
            *db += g;
        }
    }
    // Each filter's weight transposed, `[F, k·D]`, so that filter j's taps are contiguous.
    let transposed: Vec<Vec<f32>> = (0..sizes.ngrams.len())
        .map(|i| {
            let kd = sizes.ngrams[i] * d;
            let block = &weight[sizes.weight_offset(i)..sizes.weight_offset(i) + kd * f];
            let mut t = vec![0.0f32; f * kd];
            for (p, row) in block.chunks(f).enumerate() {
                for (j, &w) in row.iter().enumerate() {
                    t[j * kd + p] = w;
                }
            }
            t
        })
        .collect();

    // dx: each row's maxima add their filter's taps into the row's window.
    let mut dx = vec![0.0f32; sizes.batch * t_len * d];
    if t_len > 0 && d > 0 {
        dx.par_chunks_mut(t_len * d)
            .enumerate()
            .for_each(|(b, dx)| {
                for (i, &k) in sizes.ngrams.iter().enumerate() {
                    let kd = k * d;
                    for j in 0..f {
                        let c = b * width + i * f + j;
                        if argmax[c] == NO_WINDOW || gate[c] == 0.0 {
                            continue;
                        }
                        let at = argmax[c] as usize * d;
                        axpy(
                            &mut dx[at..at + kd],
                            gate[c],
                            &transposed[i][j * kd..(j + 1) * kd],
                        );
                    }
                }
            });
    }

    // dW, transposed: filter j's taps gather each row's maximum window.
    let mut dweight = vec![0.0f32; weight.len()];
    for (i, &k) in sizes.ngrams.iter().enumerate() {
        let kd = k * d;
        let mut dt = vec![0.0f32; f * kd];
        if kd > 0 {
            dt.par_chunks_mut(kd).enumerate().for_each(|(j, taps)| {
                for b in 0..sizes.batch {
                    let c = b * width + i * f + j;
                    if argmax[c] == NO_WINDOW || gate[c] == 0.0 {
                        continue;
                    }
                    let at = (b * t_len + argmax[c] as usize) * d;
                    axpy(taps, gate[c], &x[at..at + kd]);
                }
            });
        }
        let block = &mut dweight[sizes.weight_offset(i)..sizes.weight_offset(i) + kd * f];
        for (p, row) in block.chunks_mut(f).enumerate() {
            for (j, w) in row.iter_mut().enumerate() {
                *w = dt[j * kd + p];
            }
        }
    }
    (dx, dweight, dbias)
}

/// `y += a·x`.
#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_runs_count_the_real_tokens_ahead() {
        let mask = [true, true, false, true, false, false, true, true];
        assert_eq!(real_runs(&mask, 2, 4), vec![2, 1, 0, 1, 0, 0, 2, 1]);
    }

    /// One row `[1, 2, 3]` (D = 1), one bigram filter `[w0, w1] = [1, -1]` and one trigram
    /// filter `[1, 1, 1]`, F = 1, bias `[0.5, -1]`; worked by hand.
    #[test]
    fn forward_and_backward_worked_by_hand() {
        let sizes = Sizes {
            batch: 2,
            steps: 3,
            dim: 1,
            filters: 1,
            ngrams: vec![2, 3],
        };
        // Row 1 is [4, 5, pad]: no trigram window.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, f32::NAN];
        let runs = real_runs(&[true, true, true, true, true, false], 2, 3);
        let weight = [1.0, -1.0, 1.0, 1.0, 1.0];
        let pooled = forward(&x, &weight, &[0.5, -1.0], &runs, &sizes);
        // Bigrams of row 0: 1-2 = -1, 2-3 = -1 (tie: the first wins); trigram: 6.
        // Row 1: bigram 4-5 = -1; no trigram.
        assert_eq!(pooled.pre, vec![-0.5, 5.0, -0.5, 0.0]);
        assert_eq!(pooled.argmax, vec![0, 0, 0, NO_WINDOW]);
        let gate = [2.0, 3.0, 5.0, 0.0];
        let (dx, dw, db) = backward(&x, &weight, &gate, &pooled.argmax, &sizes);
        // dx row 0: bigram at 0 adds 2·[1, -1] at [0, 1]; trigram adds 3·[1, 1, 1].
        // dx row 1: bigram at 0 adds 5·[1, -1].
        assert_eq!(dx, vec![5.0, 1.0, 3.0, 5.0, -5.0, 0.0]);
        // dW bigram: 2·[1, 2] + 5·[4, 5]; trigram: 3·[1, 2, 3].
        assert_eq!(dw, vec![22.0, 29.0, 3.0, 6.0, 9.0]);
        assert_eq!(db, vec![7.0, 3.0]);
    }
}
