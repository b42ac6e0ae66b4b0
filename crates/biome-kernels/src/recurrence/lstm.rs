//! The LSTM cell of the fused recurrence: gate blocks `i f g o` as in PyTorch; the projected
//! inputs already hold `x·W_ih + b_ih + b_hh`. The extra state is the cell state `c`; a traced
//! step keeps the activated gates and `c` (`[i f g o | c]`, 5H a row).

use super::activation::{sigmoid, tanh};
use super::cell::{BackwardRow, GatedCell};

/// The LSTM cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lstm;

impl GatedCell for Lstm {
    const GATES: usize = 4;
    const STATE: usize = 1;
    const TRACE: usize = 5;
    // The gates see `x·W_ih + h·W_hh` as one sum.
    const SHARED_PRE_GRADIENT: bool = true;

    fn forward_row(
        &self,
        x: &[f32],
        hw: &[f32],
        h: &mut [f32],
        c: &mut [f32],
        trace: Option<&mut [f32]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if super::activation::has_avx512() {
            // SAFETY: the CPU has the features the function is compiled for (checked above).
            unsafe { forward_row_avx512(x, hw, c, h, trace) };
            return;
        }
        forward_row_body(x, hw, c, h, trace);
    }

    fn backward_row(&self, row: BackwardRow<'_>) {
        let BackwardRow {
            dh,
            dstate: dc,
            trace,
            trace_prev,
            dx: dp,
            ..
        } = row;
        let n = dh.len();
        let (dh, dc, dp) = (&mut dh[..n], &mut dc[..n], &mut dp[..4 * n]);
        let (act, c) = (&trace[..4 * n], &trace[4 * n..5 * n]);
        let c_prev = trace_prev.map(|p| &p[4 * n..5 * n]);
        for j in 0..n {
            let (i, f, g, o) = (act[j], act[n + j], act[2 * n + j], act[3 * n + j]);
            let tc = tanh(c[j]);
            let cp = c_prev.map_or(0.0, |p| p[j]);
            let dcell = dc[j] + dh[j] * o * (1.0 - tc * tc);
            let d_o = dh[j] * tc;
            dp[j] = dcell * g * i * (1.0 - i);
            dp[n + j] = dcell * cp * f * (1.0 - f);
            dp[2 * n + j] = dcell * i * (1.0 - g * g);
            dp[3 * n + j] = d_o * o * (1.0 - o);
            dc[j] = dcell * f;
            // `h` reaches the previous step only through W_hh, which the driver adds.
            dh[j] = 0.0;
        }
    }

    fn own_gradients(&self, _: &[f32]) -> Vec<f32> {
        Vec::new()
    }
}

/// [`forward_row_body`] compiled for AVX-512 (16 lanes instead of SSE2's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn forward_row_avx512(
    x: &[f32],
    hw: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    trace: Option<&mut [f32]>,
) {
    forward_row_body(x, hw, c, h, trace);
}

/// Element `j` of one row: updates `c[j]`, `h[j]` and returns the gates `i f g o`. Inlined into
/// both loops of [`forward_row_body`], which stay straight and vectorise.
#[inline(always)]
fn element(j: usize, x: [&[f32]; 4], p: [&[f32]; 4], c: &mut [f32], h: &mut [f32]) -> [f32; 4] {
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
fn forward_row_body(
    x: &[f32],
    hw: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    trace: Option<&mut [f32]>,
) {
    let n = h.len();
    let (xi, xf, xg, xo) = (&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..4 * n]);
    let (pi, pf, pg, po) = (
        &hw[..n],
        &hw[n..2 * n],
        &hw[2 * n..3 * n],
        &hw[3 * n..4 * n],
    );
    let (c, h) = (&mut c[..n], &mut h[..n]);
    match trace {
        Some(tr) => {
            let (gi, rest) = tr.split_at_mut(n);
            let (gf, rest) = rest.split_at_mut(n);
            let (gg, rest) = rest.split_at_mut(n);
            let (go, c_out) = rest.split_at_mut(n);
            let (gg, go, c_out) = (&mut gg[..n], &mut go[..n], &mut c_out[..n]);
            for j in 0..n {
                let [i, f, g, o] = element(j, [xi, xf, xg, xo], [pi, pf, pg, po], c, h);
                gi[j] = i;
                gf[j] = f;
                gg[j] = g;
                go[j] = o;
            }
            c_out.copy_from_slice(c);
        }
        None => {
            for j in 0..n {
                element(j, [xi, xf, xg, xo], [pi, pf, pg, po], c, h);
            }
        }
    }
}
