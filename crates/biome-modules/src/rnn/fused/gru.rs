//! The masked GRU over a whole sequence, forward and hand-written backward, on row-major
//! slices. Layout: step-major rows (`t·B + b`), gate blocks `r z n` as in PyTorch; the projected
//! inputs hold `x·W_ih + b_ih + [b_hr, b_hz, 0]`, and `b_hn` stays inside `r ⊙ (h·W_hn + b_hn)`.
//!
//! A padded step (`t >= length[b]`) carries the previous `h` unchanged.

use rayon::prelude::*;

use super::activation::{sigmoid, tanh};
use super::gemm::{Operand, matmul};
use super::{Shape, min_rows_per_task};

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

/// Runs the sequence: returns the hidden states `[T·B, H]`, and the trace when `trace`.
pub(crate) fn forward(
    proj: &[f32],
    weight_hh: &[f32],
    bias_hn: &[f32],
    shape: &Shape,
    trace: bool,
) -> (Vec<f32>, Option<GruTrace>) {
    let Shape {
        steps,
        batch,
        hidden,
        ..
    } = *shape;
    let (bh, g3) = (batch * hidden, 3 * hidden);
    let rows_per_task = min_rows_per_task(batch, hidden);
    assert_eq!(proj.len(), steps * batch * g3, "gru: projection shape");
    assert_eq!(weight_hh.len(), hidden * g3, "gru: weight shape");
    assert_eq!(bias_hn.len(), hidden, "gru: bias shape");

    let mut hs = vec![0.0f32; steps * bh];
    let mut gates = vec![0.0f32; if trace { steps * batch * g3 } else { 0 }];
    let mut hidden_n = vec![0.0f32; if trace { steps * bh } else { 0 }];
    // h·W_hh of the previous state; zero at the first step.
    let mut hp = vec![0.0f32; batch * g3];

    for t in 0..steps {
        let (h_done, h_rest) = hs.split_at_mut(t * bh);
        let h_prev = (t > 0).then(|| &h_done[(t - 1) * bh..]);
        if let Some(h_prev) = h_prev {
            matmul(
                &mut hp,
                Operand::plain(h_prev),
                Operand::plain(weight_hh),
                [batch, g3, hidden],
                false,
            );
        }
        let xp = &proj[t * batch * g3..(t + 1) * batch * g3];
        let h_now = &mut h_rest[..bh];
        let row = |b: usize, h: &mut [f32], tr: Option<(&mut [f32], &mut [f32])>| {
            let prev = h_prev.map(|p| &p[b * hidden..(b + 1) * hidden]);
            if t >= shape.lengths[b] {
                match prev {
                    Some(prev) => h.copy_from_slice(prev),
                    None => h.fill(0.0),
                }
                return;
            }
            let x = &xp[b * g3..(b + 1) * g3];
            let p = &hp[b * g3..(b + 1) * g3];
            let mut tr = tr;
            for j in 0..hidden {
                let r = sigmoid(x[j] + p[j]);
                let z = sigmoid(x[hidden + j] + p[hidden + j]);
                let hn = p[2 * hidden + j] + bias_hn[j];
                let n = tanh(x[2 * hidden + j] + r * hn);
                let hp_j = prev.map_or(0.0, |p| p[j]);
                h[j] = n + z * (hp_j - n);
                if let Some((g, hn_out)) = tr.as_mut() {
                    g[j] = r;
                    g[hidden + j] = z;
                    g[2 * hidden + j] = n;
                    hn_out[j] = hn;
                }
            }
        };
        if trace {
            let g_now = &mut gates[t * batch * g3..(t + 1) * batch * g3];
            let hn_now = &mut hidden_n[t * bh..(t + 1) * bh];
            h_now
                .par_chunks_mut(hidden)
                .zip(g_now.par_chunks_mut(g3))
                .zip(hn_now.par_chunks_mut(hidden))
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(b, ((h, g), hn))| row(b, h, Some((g, hn))));
        } else {
            h_now
                .par_chunks_mut(hidden)
                .enumerate()
                .with_min_len(rows_per_task)
                .for_each(|(b, h)| row(b, h, None));
        }
    }
    let trace = trace.then_some(GruTrace { gates, hidden_n });
    (hs, trace)
}

/// Gradients of the sequence: from `grad_hs` `[T·B, H]`, the hidden states and the trace of
/// [`forward`], returns the gradients of the projected inputs `[T·B, 3H]`, of `W_hh` `[H, 3H]`
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
    (dproj, dw, db_hn)
}
