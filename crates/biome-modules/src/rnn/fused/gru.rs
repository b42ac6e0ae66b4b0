//! The masked GRU over a whole sequence, forward and hand-written backward, on row-major
//! slices. Layout: step-major rows (`t·B + b`), gate blocks `r z n` as in PyTorch; the projected
//! inputs hold `x·W_ih + b_ih + [b_hr, b_hz, 0]`, and `b_hn` stays inside `r ⊙ (h·W_hn + b_hn)`.
//!
//! A padded step (`t >= length[b]`) carries the previous `h` unchanged.

use rayon::prelude::*;

use super::activation::{sigmoid, tanh};
use super::{Shape, min_rows_per_task, scatter_final};
use crate::kernel::gemm::{Operand, matmul};

/// What the backward pass needs from the forward one.
#[derive(Clone)]
pub(crate) struct GruTrace {
    /// `[T·B, 3H]` the gates `r z n` (zero at padded steps).
    pub gates: Vec<f32>,
    /// `[T·B, H]` `h·W_hn + b_hn`, the term `r` scales.
    pub hidden_n: Vec<f32>,
}

impl std::fmt::Debug for GruTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GruTrace")
            .field("gates", &self.gates.len())
            .field("hidden_n", &self.hidden_n.len())
            .finish()
    }
}

/// Runs the sequence: returns the hidden states `[T·B, H]` (with `all_steps`; else only the
/// final states `[B, H]`), and the trace when `trace` (which needs `all_steps`).
///
/// Packed like the LSTM's forward pass: the state is kept with the rows sorted by length, so
/// each step's GEMM and gate pass cover only the rows still running; outputs and trace are
/// scattered back to the batch order.
pub(crate) fn forward(
    proj: &[f32],
    weight_hh: &[f32],
    bias_hn: &[f32],
    shape: &Shape,
    trace: bool,
    all_steps: bool,
) -> (Vec<f32>, Option<GruTrace>) {
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = *shape;
    let (bh, g3) = (batch * hidden, 3 * hidden);
    let rows_per_task = min_rows_per_task(batch, hidden);
    assert_eq!(weight_hh.len(), hidden * g3, "gru: weight shape");
    assert_eq!(bias_hn.len(), hidden, "gru: bias shape");
    let order = shape.longest_first();
    let offsets = shape.packed_offsets(&order);
    assert_eq!(
        proj.len(),
        offsets[steps] * g3,
        "gru: packed projection shape"
    );

    assert!(
        all_steps || !trace,
        "gru: the trace needs every step's state"
    );
    let mut hs = vec![0.0f32; if all_steps { steps * bh } else { bh }];
    let mut gates = vec![0.0f32; if trace { steps * batch * g3 } else { 0 }];
    let mut hidden_n = vec![0.0f32; if trace { steps * bh } else { 0 }];
    // The running state, and this step's trace, in `order`.
    let mut h_sorted = vec![0.0f32; bh];
    let mut gates_sorted = vec![0.0f32; if trace { batch * g3 } else { 0 }];
    let mut hn_sorted = vec![0.0f32; if trace { bh } else { 0 }];
    // h·W_hh of the previous state; zero at the first step.
    let mut hp = vec![0.0f32; batch * g3];

    for t in 0..steps {
        let running = shape.running_at(&order, t);
        if t > 0 {
            matmul(
                &mut hp[..running * g3],
                Operand::plain(&h_sorted[..running * hidden]),
                Operand::plain(weight_hh),
                [running, g3, hidden],
                false,
            );
        }
        // This step's packed rows, in `order` like the state.
        let xp = &proj[offsets[t] * g3..offsets[t + 1] * g3];
        let cell = |k: usize, p: &[f32], h: &mut [f32], tr: Option<(&mut [f32], &mut [f32])>| {
            gru_cell(&xp[k * g3..(k + 1) * g3], p, bias_hn, h, tr, hidden);
        };
        let (hp_run, h_run) = (&hp[..running * g3], &mut h_sorted[..running * hidden]);
        if trace {
            hp_run
                .par_chunks(g3)
                .zip(h_run.par_chunks_mut(hidden))
                .zip(gates_sorted[..running * g3].par_chunks_mut(g3))
                .zip(hn_sorted[..running * hidden].par_chunks_mut(hidden))
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(k, (((p, h), g), hn))| cell(k, p, h, Some((g, hn))));
        } else {
            hp_run
                .par_chunks(g3)
                .zip(h_run.par_chunks_mut(hidden))
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(k, (p, h))| cell(k, p, h, None));
        }
        // Back to batch order; rows that stopped carry their last state (zero if empty).
        for (k, &b) in order.iter().enumerate().filter(|_| all_steps) {
            let to = t * bh + b * hidden;
            hs[to..to + hidden].copy_from_slice(&h_sorted[k * hidden..(k + 1) * hidden]);
            if trace && k < running {
                let to_g = t * batch * g3 + b * g3;
                gates[to_g..to_g + g3].copy_from_slice(&gates_sorted[k * g3..(k + 1) * g3]);
                hidden_n[to..to + hidden].copy_from_slice(&hn_sorted[k * hidden..(k + 1) * hidden]);
            }
        }
    }
    if !all_steps {
        scatter_final(&mut hs, &h_sorted, &order, hidden);
    }
    let trace = trace.then_some(GruTrace { gates, hidden_n });
    (hs, trace)
}

/// One row of one step: gates from the projected inputs `x` `[3H]` and `h·W_hh` `p` `[3H]`; `h`
/// holds the previous state and receives the new one; the gates `r z n` and `h·W_hn + b_hn` go
/// to `trace` when given. Slices are cut to exact lengths so the loops vectorise.
fn gru_cell(
    x: &[f32],
    p: &[f32],
    bias_hn: &[f32],
    h: &mut [f32],
    trace: Option<(&mut [f32], &mut [f32])>,
    hidden: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if super::activation::has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        unsafe { gru_cell_avx512(x, p, bias_hn, h, trace, hidden) };
        return;
    }
    gru_cell_body(x, p, bias_hn, h, trace, hidden);
}

/// [`gru_cell_body`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn gru_cell_avx512(
    x: &[f32],
    p: &[f32],
    bias_hn: &[f32],
    h: &mut [f32],
    trace: Option<(&mut [f32], &mut [f32])>,
    hidden: usize,
) {
    gru_cell_body(x, p, bias_hn, h, trace, hidden);
}

/// Element `j` of one row: updates `h[j]` and returns `r z n` and `h·W_hn + b_hn`. Inlined
/// into both loops of [`gru_cell_body`], which stay straight and vectorise.
#[inline(always)]
fn gru_element(j: usize, x: [&[f32]; 3], p: [&[f32]; 3], b_hn: &[f32], h: &mut [f32]) -> [f32; 4] {
    let r = sigmoid(x[0][j] + p[0][j]);
    let z = sigmoid(x[1][j] + p[1][j]);
    let hn = p[2][j] + b_hn[j];
    let cand = tanh(x[2][j] + r * hn);
    h[j] = cand + z * (h[j] - cand);
    [r, z, cand, hn]
}

#[inline(always)]
fn gru_cell_body(
    x: &[f32],
    p: &[f32],
    bias_hn: &[f32],
    h: &mut [f32],
    trace: Option<(&mut [f32], &mut [f32])>,
    hidden: usize,
) {
    let n = hidden;
    let (xr, xz, xn) = (&x[..n], &x[n..2 * n], &x[2 * n..3 * n]);
    let (pr, pz, pn) = (&p[..n], &p[n..2 * n], &p[2 * n..3 * n]);
    let (b_hn, h) = (&bias_hn[..n], &mut h[..n]);
    match trace {
        Some((g, hn_out)) => {
            let (gr, rest) = g.split_at_mut(n);
            let (gz, gn) = rest.split_at_mut(n);
            let (gn, hn_out) = (&mut gn[..n], &mut hn_out[..n]);
            for j in 0..n {
                let [r, z, cand, hn] = gru_element(j, [xr, xz, xn], [pr, pz, pn], b_hn, h);
                gr[j] = r;
                gz[j] = z;
                gn[j] = cand;
                hn_out[j] = hn;
            }
        }
        None => {
            for j in 0..n {
                gru_element(j, [xr, xz, xn], [pr, pz, pn], b_hn, h);
            }
        }
    }
}

/// Gradients of the sequence: from `grad_hs` `[T·B, H]`, the hidden states and the trace of
/// [`forward`], returns the gradients of the packed projected inputs `[N, 3H]`, of `W_hh` `[H, 3H]`
/// and of `b_hn` `[H]`.
pub(crate) fn backward(
    grad_hs: &[f32],
    hs: &[f32],
    trace: &GruTrace,
    weight_hh: &[f32],
    shape: &Shape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = *shape;
    let (bh, g3) = (batch * hidden, 3 * hidden);
    let rows_per_task = min_rows_per_task(batch, hidden);
    assert_eq!(grad_hs.len(), steps * bh, "gru backward: gradient shape");

    let mut dh = vec![0.0f32; bh];
    let mut dproj = vec![0.0f32; steps * batch * g3];
    // Gradient of h·W_hh (+ b_hn in the n block) at each step.
    let mut dhp = vec![0.0f32; steps * batch * g3];

    for t in (0..steps).rev() {
        for (d, g) in dh.iter_mut().zip(&grad_hs[t * bh..(t + 1) * bh]) {
            *d += g;
        }
        let h_prev = (t > 0).then(|| &hs[(t - 1) * bh..t * bh]);
        let gates = &trace.gates[t * batch * g3..(t + 1) * batch * g3];
        let hidden_n = &trace.hidden_n[t * bh..(t + 1) * bh];
        let dproj_now = &mut dproj[t * batch * g3..(t + 1) * batch * g3];
        let dhp_now = &mut dhp[t * batch * g3..(t + 1) * batch * g3];

        let row = |b: usize, dh: &mut [f32], dx: &mut [f32], dp: &mut [f32]| {
            if t >= shape.lengths[b] {
                return;
            }
            let g = &gates[b * g3..(b + 1) * g3];
            let hn = &hidden_n[b * hidden..(b + 1) * hidden];
            for j in 0..hidden {
                let (r, z, n) = (g[j], g[hidden + j], g[2 * hidden + j]);
                let hp_j = h_prev.map_or(0.0, |p| p[b * hidden + j]);
                let d = dh[j];
                let dn_pre = d * (1.0 - z) * (1.0 - n * n);
                let dz_pre = d * (hp_j - n) * z * (1.0 - z);
                let dr_pre = dn_pre * hn[j] * r * (1.0 - r);
                dx[j] = dr_pre;
                dx[hidden + j] = dz_pre;
                dx[2 * hidden + j] = dn_pre;
                dp[j] = dr_pre;
                dp[hidden + j] = dz_pre;
                dp[2 * hidden + j] = dn_pre * r;
                // The direct path h' = … + z·h; the path through W_hh is added below.
                dh[j] = d * z;
            }
        };
        dh.par_chunks_mut(hidden)
            .zip(dproj_now.par_chunks_mut(g3))
            .zip(dhp_now.par_chunks_mut(g3))
            .enumerate()
            .with_min_len(rows_per_task)
            .for_each(|(b, ((dh, dx), dp))| row(b, dh, dx, dp));
        if t > 0 {
            matmul(
                &mut dh,
                Operand::plain(dhp_now),
                Operand::transposed(weight_hh),
                [batch, hidden, g3],
                true,
            );
        }
    }

    let mut dw = vec![0.0f32; hidden * g3];
    if steps > 1 {
        matmul(
            &mut dw,
            Operand::transposed(&hs[..(steps - 1) * bh]),
            Operand::plain(&dhp[batch * g3..]),
            [hidden, g3, (steps - 1) * batch],
            false,
        );
    }
    let mut db_hn = vec![0.0f32; hidden];
    for row in dhp.chunks(g3) {
        for (acc, v) in db_hn.iter_mut().zip(&row[2 * hidden..]) {
            *acc += v;
        }
    }
    (shape.pack(&dproj, g3), dw, db_hn)
}
