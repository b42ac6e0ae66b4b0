//! The masked LSTM over a whole sequence, forward and hand-written backward, on row-major
//! slices. Layout: step-major rows (`t·B + b`), gate blocks `i f g o` as in PyTorch; the
//! projected inputs are packed (see `super`) and already hold `x·W_ih + b_ih + b_hh`.
//!
//! A padded step (`t >= length[b]`) carries the previous `h` and `c` unchanged, so the state at
//! the last step is each row's state at its last real token, and an empty row stays zero.

use rayon::prelude::*;

use super::activation::{sigmoid, tanh};
use super::{Shape, min_rows_per_task, scatter_final};
use crate::kernel::gemm::{Operand, matmul};

/// What the backward pass needs from the forward one.
#[derive(Clone)]
pub(crate) struct LstmTrace {
    /// `[T·B, H]` the cell states (carried at padded steps).
    pub cells: Vec<f32>,
    /// `[T·B, 4H]` the activated gates `i f g o` (zero at padded steps).
    pub gates: Vec<f32>,
}

impl std::fmt::Debug for LstmTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LstmTrace")
            .field("cells", &self.cells.len())
            .field("gates", &self.gates.len())
            .finish()
    }
}

/// Runs the sequence: returns the hidden states `[T·B, H]` (with `all_steps`; else only the
/// final states `[B, H]`), and the trace when `trace` (which needs `all_steps`).
///
/// Like PyTorch's packed sequences, a step only computes the rows still running: the state is
/// kept with the rows sorted by length (longest first), so at step `t` the running rows are a
/// prefix and the step's GEMM and gate pass cover just that prefix. Outputs and trace are
/// scattered back to the batch order.
pub(crate) fn forward(
    proj: &[f32],
    weight_hh: &[f32],
    shape: &Shape,
    trace: bool,
    all_steps: bool,
) -> (Vec<f32>, Option<LstmTrace>) {
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = *shape;
    let (bh, g4) = (batch * hidden, 4 * hidden);
    let rows_per_task = min_rows_per_task(batch, hidden);
    assert_eq!(weight_hh.len(), hidden * g4, "lstm: weight shape");
    let order = shape.longest_first();
    let offsets = shape.packed_offsets(&order);
    assert_eq!(
        proj.len(),
        offsets[steps] * g4,
        "lstm: packed projection shape"
    );

    assert!(
        all_steps || !trace,
        "lstm: the trace needs every step's state"
    );
    let mut hs = vec![0.0f32; if all_steps { steps * bh } else { bh }];
    let mut cells = vec![0.0f32; if trace { steps * bh } else { 0 }];
    let mut gates = vec![0.0f32; if trace { steps * batch * g4 } else { 0 }];
    // The running state and this step's gates, in `order`.
    let mut h_sorted = vec![0.0f32; bh];
    let mut c_sorted = vec![0.0f32; bh];
    let mut gates_sorted = vec![0.0f32; if trace { batch * g4 } else { 0 }];
    let mut pre = vec![0.0f32; batch * g4];

    for t in 0..steps {
        let running = shape.running_at(&order, t);
        // This step's packed rows, in `order` like the state.
        let xp = &proj[offsets[t] * g4..offsets[t + 1] * g4];
        // pre = h_{t-1}·W_hh over the running rows; the projected inputs are added in the gate
        // pass (no copy of them).
        if t > 0 {
            matmul(
                &mut pre[..running * g4],
                Operand::plain(&h_sorted[..running * hidden]),
                Operand::plain(weight_hh),
                [running, g4, hidden],
                false,
            );
        } else {
            pre.fill(0.0);
        }
        let cell = |k: usize, pre: &[f32], c: &mut [f32], h: &mut [f32], g: Option<&mut [f32]>| {
            lstm_cell(&xp[k * g4..(k + 1) * g4], pre, c, h, g, hidden);
        };
        let (pre_run, c_run, h_run) = (
            &pre[..running * g4],
            &mut c_sorted[..running * hidden],
            &mut h_sorted[..running * hidden],
        );
        if trace {
            pre_run
                .par_chunks(g4)
                .zip(c_run.par_chunks_mut(hidden))
                .zip(h_run.par_chunks_mut(hidden))
                .zip(gates_sorted[..running * g4].par_chunks_mut(g4))
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(k, (((p, c), h), g))| cell(k, p, c, h, Some(g)));
        } else {
            pre_run
                .par_chunks(g4)
                .zip(c_run.par_chunks_mut(hidden))
                .zip(h_run.par_chunks_mut(hidden))
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(k, ((p, c), h))| cell(k, p, c, h, None));
        }
        // Back to batch order; rows that stopped carry their last state (zero if empty).
        let step = t * bh;
        for (k, &b) in order.iter().enumerate().filter(|_| all_steps) {
            let (from, to) = (k * hidden..(k + 1) * hidden, step + b * hidden);
            hs[to..to + hidden].copy_from_slice(&h_sorted[from.clone()]);
            if trace {
                cells[to..to + hidden].copy_from_slice(&c_sorted[from]);
                if k < running {
                    let to = t * batch * g4 + b * g4;
                    gates[to..to + g4].copy_from_slice(&gates_sorted[k * g4..(k + 1) * g4]);
                }
            }
        }
    }
    if !all_steps {
        scatter_final(&mut hs, &h_sorted, &order, hidden);
    }
    let trace = trace.then_some(LstmTrace { cells, gates });
    (hs, trace)
}

/// One row of one step: gates from the projected inputs `x` `[4H]` plus `h·W_hh` `[4H]`, the
/// cell state `c` `[H]` updated in place, the hidden state written to `h`, and the activated
/// gates to `gates` when given. Every slice is cut to its exact length first, so the loops
/// carry no bounds checks and vectorise.
fn lstm_cell(
    x: &[f32],
    hw: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    gates: Option<&mut [f32]>,
    hidden: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        unsafe { lstm_cell_avx512(x, hw, c, h, gates, hidden) };
        return;
    }
    lstm_cell_body(x, hw, c, h, gates, hidden);
}

/// [`lstm_cell_body`] compiled for AVX-512 (16 lanes instead of SSE2's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn lstm_cell_avx512(
    x: &[f32],
    hw: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    gates: Option<&mut [f32]>,
    hidden: usize,
) {
    lstm_cell_body(x, hw, c, h, gates, hidden);
}

/// Element `j` of one row: updates `c[j]`, `h[j]` and returns the gates `i f g o`. Inlined into
/// both loops of [`lstm_cell_body`], which stay straight and vectorise.
#[inline(always)]
fn lstm_element(
    j: usize,
    x: [&[f32]; 4],
    p: [&[f32]; 4],
    c: &mut [f32],
    h: &mut [f32],
) -> [f32; 4] {
    let i = sigmoid(x[0][j] + p[0][j]);
    let f = sigmoid(x[1][j] + p[1][j]);
    let g = tanh(x[2][j] + p[2][j]);
    let o = sigmoid(x[3][j] + p[3][j]);
    let cell = f * c[j] + i * g;
    c[j] = cell;
    h[j] = o * tanh(cell);
    [i, f, g, o]
}

#[inline(always)]
fn lstm_cell_body(
    x: &[f32],
    hw: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    gates: Option<&mut [f32]>,
    hidden: usize,
) {
    let n = hidden;
    let (xi, xf, xg, xo) = (&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..4 * n]);
    let (pi, pf, pg, po) = (
        &hw[..n],
        &hw[n..2 * n],
        &hw[2 * n..3 * n],
        &hw[3 * n..4 * n],
    );
    let (c, h) = (&mut c[..n], &mut h[..n]);
    match gates {
        Some(g) => {
            let (gi, rest) = g.split_at_mut(n);
            let (gf, rest) = rest.split_at_mut(n);
            let (gg, go) = rest.split_at_mut(n);
            let (gg, go) = (&mut gg[..n], &mut go[..n]);
            for j in 0..n {
                let [i, f, g, o] = lstm_element(j, [xi, xf, xg, xo], [pi, pf, pg, po], c, h);
                gi[j] = i;
                gf[j] = f;
                gg[j] = g;
                go[j] = o;
            }
        }
        None => {
            for j in 0..n {
                lstm_element(j, [xi, xf, xg, xo], [pi, pf, pg, po], c, h);
            }
        }
    }
}

/// Gradients of the sequence: from `grad_hs` `[T·B, H]` (the loss's gradient with respect to
/// every step's hidden state), the hidden states and the trace of [`forward`], returns the
/// gradients of the packed projected inputs `[N, 4H]` and of `W_hh` `[H, 4H]`.
pub(crate) fn backward(
    grad_hs: &[f32],
    hs: &[f32],
    trace: &LstmTrace,
    weight_hh: &[f32],
    shape: &Shape,
) -> (Vec<f32>, Vec<f32>) {
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = *shape;
    let (bh, g4) = (batch * hidden, 4 * hidden);
    let rows_per_task = min_rows_per_task(batch, hidden);
    assert_eq!(grad_hs.len(), steps * bh, "lstm backward: gradient shape");

    let mut dh = vec![0.0f32; bh];
    let mut dc = vec![0.0f32; bh];
    let mut dpre = vec![0.0f32; steps * batch * g4];

    for t in (0..steps).rev() {
        for (d, g) in dh.iter_mut().zip(&grad_hs[t * bh..(t + 1) * bh]) {
            *d += g;
        }
        let cells = &trace.cells[t * bh..(t + 1) * bh];
        let c_prev = (t > 0).then(|| &trace.cells[(t - 1) * bh..t * bh]);
        let gates = &trace.gates[t * batch * g4..(t + 1) * batch * g4];
        let dpre_now = &mut dpre[t * batch * g4..(t + 1) * batch * g4];

        let row = |b: usize, dh: &mut [f32], dc: &mut [f32], dp: &mut [f32]| {
            if t >= shape.lengths[b] {
                // A carried state passes its gradients straight to the previous step.
                return;
            }
            let c = &cells[b * hidden..(b + 1) * hidden];
            let act = &gates[b * g4..(b + 1) * g4];
            for j in 0..hidden {
                let (i, f, g, o) = (
                    act[j],
                    act[hidden + j],
                    act[2 * hidden + j],
                    act[3 * hidden + j],
                );
                let tc = tanh(c[j]);
                let cp = c_prev.map_or(0.0, |p| p[b * hidden + j]);
                let dcell = dc[j] + dh[j] * o * (1.0 - tc * tc);
                let d_o = dh[j] * tc;
                dp[j] = dcell * g * i * (1.0 - i);
                dp[hidden + j] = dcell * cp * f * (1.0 - f);
                dp[2 * hidden + j] = dcell * i * (1.0 - g * g);
                dp[3 * hidden + j] = d_o * o * (1.0 - o);
                dc[j] = dcell * f;
                // Replaced below by this step's contribution through W_hh.
                dh[j] = 0.0;
            }
        };
        dh.par_chunks_mut(hidden)
            .zip(dc.par_chunks_mut(hidden))
            .zip(dpre_now.par_chunks_mut(g4))
            .enumerate()
            .with_min_len(rows_per_task)
            .for_each(|(b, ((dh, dc), dp))| row(b, dh, dc, dp));
        if t > 0 {
            // dh_{t-1} += dpre_t · W_hhᵀ (zero rows of dpre, at padded steps, add nothing).
            matmul(
                &mut dh,
                Operand::plain(dpre_now),
                Operand::transposed(weight_hh),
                [batch, hidden, g4],
                true,
            );
        }
    }

    // dW_hh = Σ_t h_{t-1}ᵀ · dpre_t, as one product over all steps but the first.
    let mut dw = vec![0.0f32; hidden * g4];
    if steps > 1 {
        matmul(
            &mut dw,
            Operand::transposed(&hs[..(steps - 1) * bh]),
            Operand::plain(&dpre[batch * g4..]),
            [hidden, g4, (steps - 1) * batch],
            false,
        );
    }
    (shape.pack(&dpre, g4), dw)
}
