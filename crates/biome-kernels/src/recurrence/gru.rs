//! The GRU cell of the fused recurrence: gate blocks `r z n` as in PyTorch; the projected
//! inputs hold `x·W_ih + b_ih + [b_hr, b_hz, 0]`, and `b_hn` stays inside `r ⊙ (h·W_hn + b_hn)`.
//! No extra state; a traced step keeps the gates and `h·W_hn + b_hn` (`[r z n | hn]`, 4H a
//! row).

use super::activation::{sigmoid, tanh};
use super::cell::{BackwardRow, GatedCell};

/// The GRU cell, with its `b_hn` `[H]`.
#[derive(Debug, Clone)]
pub(crate) struct Gru {
    pub bias_hn: Vec<f32>,
}

impl GatedCell for Gru {
    const GATES: usize = 3;
    const STATE: usize = 0;
    const TRACE: usize = 4;
    // `r` scales the `n` block of `h·W_hh` but not of the projected inputs.
    const SHARED_PRE_GRADIENT: bool = false;

    fn forward_row(
        &self,
        x: &[f32],
        hw: &[f32],
        h: &mut [f32],
        _: &mut [f32],
        trace: Option<&mut [f32]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if super::activation::has_avx512() {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            unsafe { forward_row_avx512(x, hw, &self.bias_hn, h, trace) };
            return;
        }
        forward_row_body(x, hw, &self.bias_hn, h, trace);
    }

    fn backward_row(&self, row: BackwardRow<'_>) {
        let BackwardRow {
            dh,
            trace,
            h_prev,
            dx,
            dhw,
            ..
        } = row;
        let dp = dhw.expect("the GRU keeps the gradient of h·W_hh apart");
        let n = dh.len();
        let (dh, dx, dp) = (&mut dh[..n], &mut dx[..3 * n], &mut dp[..3 * n]);
        let (g, hn) = (&trace[..3 * n], &trace[3 * n..4 * n]);
        for j in 0..n {
            let (r, z, cand) = (g[j], g[n + j], g[2 * n + j]);
            let hp_j = h_prev.map_or(0.0, |p| p[j]);
            let d = dh[j];
            let dn_pre = d * (1.0 - z) * (1.0 - cand * cand);
            let dz_pre = d * (hp_j - cand) * z * (1.0 - z);
            let dr_pre = dn_pre * hn[j] * r * (1.0 - r);
            dx[j] = dr_pre;
            dx[n + j] = dz_pre;
            dx[2 * n + j] = dn_pre;
            dp[j] = dr_pre;
            dp[n + j] = dz_pre;
            dp[2 * n + j] = dn_pre * r;
            // The direct path h' = … + z·h; the path through W_hh is added by the driver.
            dh[j] = d * z;
        }
    }

    /// `db_hn`: the sum of the `n` blocks of every step's gradient of `h·W_hh`.
    fn own_gradients(&self, dhw: &[f32]) -> Vec<f32> {
        let n = self.bias_hn.len();
        let mut db_hn = vec![0.0f32; n];
        for row in dhw.chunks(3 * n) {
            for (acc, v) in db_hn.iter_mut().zip(&row[2 * n..]) {
                *acc += v;
            }
        }
        db_hn
    }
}

/// [`forward_row_body`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn forward_row_avx512(
    x: &[f32],
    p: &[f32],
    bias_hn: &[f32],
    h: &mut [f32],
    trace: Option<&mut [f32]>,
) {
    forward_row_body(x, p, bias_hn, h, trace);
}

/// Element `j` of one row: updates `h[j]` and returns `r z n` and `h·W_hn + b_hn`. Inlined
/// into both loops of [`forward_row_body`], which stay straight and vectorise.
#[inline(always)]
fn element(j: usize, x: [&[f32]; 3], p: [&[f32]; 3], b_hn: &[f32], h: &mut [f32]) -> [f32; 4] {
    let r = sigmoid(x[0][j] + p[0][j]);
    let z = sigmoid(x[1][j] + p[1][j]);
    let hn = p[2][j] + b_hn[j];
    let cand = tanh(x[2][j] + r * hn);
    h[j] = cand + z * (h[j] - cand);
    [r, z, cand, hn]
}

#[inline(always)]
fn forward_row_body(
    x: &[f32],
    p: &[f32],
    bias_hn: &[f32],
    h: &mut [f32],
    trace: Option<&mut [f32]>,
) {
    let n = h.len();
    let (xr, xz, xn) = (&x[..n], &x[n..2 * n], &x[2 * n..3 * n]);
    let (pr, pz, pn) = (&p[..n], &p[n..2 * n], &p[2 * n..3 * n]);
    let (b_hn, h) = (&bias_hn[..n], &mut h[..n]);
    match trace {
        Some(tr) => {
            let (gr, rest) = tr.split_at_mut(n);
            let (gz, rest) = rest.split_at_mut(n);
            let (gn, hn_out) = rest.split_at_mut(n);
            let (gn, hn_out) = (&mut gn[..n], &mut hn_out[..n]);
            for j in 0..n {
                let [r, z, cand, hn] = element(j, [xr, xz, xn], [pr, pz, pn], b_hn, h);
                gr[j] = r;
                gz[j] = z;
                gn[j] = cand;
                hn_out[j] = hn;
            }
        }
        None => {
            for j in 0..n {
                element(j, [xr, xz, xn], [pr, pz, pn], b_hn, h);
            }
        }
    }
}
