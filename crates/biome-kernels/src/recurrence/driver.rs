//! The packed-step driver every fused recurrence runs on: the forward sweep over the steps
//! with its recurrent GEMMs and the hand-written backward sweep, on row-major slices. A
//! [`GatedCell`] supplies the arithmetic of one row of one step.
//!
//! Layout: step-major rows (`t·B + b`); the projected inputs are packed (see `super`). A padded
//! step (`t >= length[b]`) carries the previous state unchanged, so the state at the last step
//! is each row's state at its last real token, and an empty row stays zero.

use rayon::prelude::*;

use super::Shape;
use super::cell::{BackwardRow, GatedCell};
use crate::gemm::{Operand, matmul};

/// Every step's trace, `[T·B, TRACE·H]` in batch order (zero at padded steps, which the
/// backward pass never reads).
#[derive(Clone)]
pub(crate) struct Trace(pub Vec<f32>);

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} values)", self.0.len())
    }
}

/// The gradients of one sequence.
pub(crate) struct SequenceGradients {
    /// `[N, G·H]`: of the packed projected inputs.
    pub dproj: Vec<f32>,
    /// `[H, G·H]`: of `W_hh`.
    pub dweight_hh: Vec<f32>,
    /// Of the cell's own parameters ([`GatedCell::own_gradients`]).
    pub own: Vec<f32>,
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

/// The sizes both sweeps work with, for cell `C` on `shape`.
struct Widths {
    steps: usize,
    batch: usize,
    hidden: usize,
    /// `B·H`: one step's states.
    bh: usize,
    /// `G·H`: a row's gates.
    gh: usize,
    /// A row's extra state: never zero, so that a cell without one still gets a (one-value,
    /// unused) chunk to zip with the others.
    sw: usize,
    /// A row's trace.
    tw: usize,
    /// See [`min_rows_per_task`].
    rows_per_task: usize,
}

impl Widths {
    fn of<C: GatedCell>(shape: &Shape) -> Self {
        let Shape {
            steps,
            batch,
            hidden,
            ..
        } = *shape;
        Self {
            steps,
            batch,
            hidden,
            bh: batch * hidden,
            gh: C::GATES * hidden,
            sw: (C::STATE * hidden).max(1),
            tw: C::TRACE * hidden,
            rows_per_task: min_rows_per_task(batch, hidden),
        }
    }
}

/// Runs the sequence over the packed projected inputs `proj` `[N, G·H]`: returns the hidden
/// states `[T·B, H]` (with `all_steps`; else only the final states `[B, H]`), and the trace
/// when `trace` (which needs `all_steps`).
///
/// Like PyTorch's packed sequences, a step only computes the rows still running: the state is
/// kept with the rows sorted by length (longest first), so at step `t` the running rows are a
/// prefix and the step's GEMM and gate pass cover just that prefix. Outputs and trace are
/// scattered back to the batch order.
pub(crate) fn forward<C: GatedCell>(
    cell: &C,
    proj: &[f32],
    weight_hh: &[f32],
    shape: &Shape,
    trace: bool,
    all_steps: bool,
) -> (Vec<f32>, Option<Trace>) {
    let Widths {
        steps,
        batch,
        hidden,
        bh,
        gh,
        sw,
        tw,
        rows_per_task,
    } = Widths::of::<C>(shape);
    assert_eq!(weight_hh.len(), hidden * gh, "recurrence: weight shape");
    let order = shape.longest_first();
    let offsets = shape.packed_offsets(&order);
    assert_eq!(
        proj.len(),
        offsets[steps] * gh,
        "recurrence: packed projection shape"
    );
    assert!(
        all_steps || !trace,
        "recurrence: the trace needs every step's state"
    );

    let mut hs = vec![0.0f32; if all_steps { steps * bh } else { bh }];
    let mut traces = vec![0.0f32; if trace { steps * batch * tw } else { 0 }];
    // The running state and this step's trace, in `order`.
    let mut h_sorted = vec![0.0f32; bh];
    let mut state_sorted = vec![0.0f32; batch * sw];
    let mut trace_sorted = vec![0.0f32; if trace { batch * tw } else { 0 }];
    // h_{t-1}·W_hh over the running rows; zero at the first step. The projected inputs are
    // added in the gate pass (no copy of them).
    let mut hw = vec![0.0f32; batch * gh];

    for t in 0..steps {
        let running = shape.running_at(&order, t);
        if t > 0 {
            matmul(
                &mut hw[..running * gh],
                Operand::plain(&h_sorted[..running * hidden]),
                Operand::plain(weight_hh),
                [running, gh, hidden],
                false,
            );
        }
        // This step's packed rows, in `order` like the state.
        let xp = &proj[offsets[t] * gh..offsets[t + 1] * gh];
        let x_of = |k: usize| &xp[k * gh..(k + 1) * gh];
        let rows = hw[..running * gh]
            .par_chunks(gh)
            .zip(h_sorted[..running * hidden].par_chunks_mut(hidden))
            .zip(state_sorted[..running * sw].par_chunks_mut(sw))
            .enumerate()
            .with_min_len(rows_per_task);
        if trace {
            rows.zip(trace_sorted[..running * tw].par_chunks_mut(tw))
                .for_each(|((k, ((hw, h), s)), tr)| cell.forward_row(x_of(k), hw, h, s, Some(tr)));
        } else {
            rows.for_each(|(k, ((hw, h), s))| cell.forward_row(x_of(k), hw, h, s, None));
        }
        // Back to batch order; rows that stopped carry their last state (zero if empty).
        if all_steps {
            let step = t * bh;
            for (k, &b) in order.iter().enumerate() {
                let to = step + b * hidden;
                hs[to..to + hidden].copy_from_slice(&h_sorted[k * hidden..(k + 1) * hidden]);
                if trace && k < running {
                    let to = (t * batch + b) * tw;
                    traces[to..to + tw].copy_from_slice(&trace_sorted[k * tw..(k + 1) * tw]);
                }
            }
        }
    }
    if !all_steps {
        for (k, &b) in order.iter().enumerate() {
            hs[b * hidden..(b + 1) * hidden]
                .copy_from_slice(&h_sorted[k * hidden..(k + 1) * hidden]);
        }
    }
    (hs, trace.then_some(Trace(traces)))
}

/// Gradients of the sequence: from `grad_hs` `[T·B, H]` (the loss's gradient with respect to
/// every step's hidden state), the hidden states `hs` `[T·B, H]` and the trace of [`forward`].
pub(crate) fn backward<C: GatedCell>(
    cell: &C,
    grad_hs: &[f32],
    hs: &[f32],
    trace: &Trace,
    weight_hh: &[f32],
    shape: &Shape,
) -> SequenceGradients {
    let Widths {
        steps,
        batch,
        hidden,
        bh,
        gh,
        sw,
        tw,
        rows_per_task,
    } = Widths::of::<C>(shape);
    assert_eq!(
        grad_hs.len(),
        steps * bh,
        "recurrence backward: gradient shape"
    );
    assert_eq!(
        trace.0.len(),
        steps * batch * tw,
        "recurrence backward: trace"
    );

    let mut dh = vec![0.0f32; bh];
    let mut dstate = vec![0.0f32; batch * sw];
    let mut dx = vec![0.0f32; steps * batch * gh];
    // The gradient of h·W_hh at each step, where it differs from `dx`.
    let mut dhw = vec![0.0f32; if C::SHARED_PRE_GRADIENT { 0 } else { dx.len() }];

    for t in (0..steps).rev() {
        for (d, g) in dh.iter_mut().zip(&grad_hs[t * bh..(t + 1) * bh]) {
            *d += g;
        }
        let trace_now = &trace.0[t * batch * tw..(t + 1) * batch * tw];
        let trace_prev = (t > 0).then(|| &trace.0[(t - 1) * batch * tw..t * batch * tw]);
        let h_prev = (t > 0).then(|| &hs[(t - 1) * bh..t * bh]);
        let step = t * batch * gh..(t + 1) * batch * gh;
        let row = |b: usize,
                   dh: &mut [f32],
                   dstate: &mut [f32],
                   dx: &mut [f32],
                   dhw: Option<&mut [f32]>| {
            if t >= shape.lengths[b] {
                // A carried state passes its gradients straight to the previous step.
                return;
            }
            cell.backward_row(BackwardRow {
                dh,
                dstate,
                trace: &trace_now[b * tw..(b + 1) * tw],
                trace_prev: trace_prev.map(|p| &p[b * tw..(b + 1) * tw]),
                h_prev: h_prev.map(|p| &p[b * hidden..(b + 1) * hidden]),
                dx,
                dhw,
            });
        };
        let rows = dh
            .par_chunks_mut(hidden)
            .zip(dstate.par_chunks_mut(sw))
            .zip(dx[step.clone()].par_chunks_mut(gh))
            .enumerate()
            .with_min_len(rows_per_task);
        if C::SHARED_PRE_GRADIENT {
            rows.for_each(|(b, ((dh, ds), dx))| row(b, dh, ds, dx, None));
        } else {
            rows.zip(dhw[step.clone()].par_chunks_mut(gh))
                .for_each(|((b, ((dh, ds), dx)), dhw)| row(b, dh, ds, dx, Some(dhw)));
        }
        if t > 0 {
            // dh_{t-1} += dhw_t · W_hhᵀ (zero rows, at padded steps, add nothing).
            let dhw_now = if C::SHARED_PRE_GRADIENT {
                &dx[step]
            } else {
                &dhw[step]
            };
            matmul(
                &mut dh,
                Operand::plain(dhw_now),
                Operand::transposed(weight_hh),
                [batch, hidden, gh],
                true,
            );
        }
    }

    let dhw_all = if C::SHARED_PRE_GRADIENT { &dx } else { &dhw };
    // dW_hh = Σ_t h_{t-1}ᵀ · dhw_t, as one product over all steps but the first.
    let mut dweight_hh = vec![0.0f32; hidden * gh];
    if steps > 1 {
        matmul(
            &mut dweight_hh,
            Operand::transposed(&hs[..(steps - 1) * bh]),
            Operand::plain(&dhw_all[batch * gh..]),
            [hidden, gh, (steps - 1) * batch],
            false,
        );
    }
    let own = cell.own_gradients(dhw_all);
    SequenceGradients {
        dproj: shape.pack(&dx, gh),
        dweight_hh,
        own,
    }
}
