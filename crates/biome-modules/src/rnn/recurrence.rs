//! The masked recurrences: per-batch step masks and reversal indices, and one direction of one
//! layer for the LSTM and GRU cells. All tensors here are step-major: row `t·B + b` is step `t`
//! of batch row `b`.

use std::cell::OnceCell;

use biome_kernels::cube;
use biome_kernels::recurrence::{Cell, CellWeights, Rows, hidden_states};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::sigmoid;

use super::{RnnCell, RnnDirection};

/// What the recurrences need to know about a batch's padding, built once per forward call and
/// shared by every layer and direction.
pub(crate) struct StepMasks {
    /// Batch size `B`.
    pub batch: usize,
    /// Steps computed `T'`: the longest row's length when the lengths were read on the host,
    /// else all `T` steps of the mask.
    pub steps: usize,
    /// Every row's true length, when read on the host (CPU backends, where the fused
    /// recurrence of `biome-kernels` packs its rows by them). `None` on a GPU, where reading
    /// them would be a host synchronisation in every forward.
    lengths: Option<Vec<usize>>,
    /// Per step, `[B, H]` true where the row is padded; `None` where no row is.
    pad_per_step: Vec<Option<Tensor<2, Bool>>>,
    /// `[T'·B, 1]` true at padded rows; `None` when no row is padded in the first `T'` steps.
    pad_rows: Option<Tensor<2, Bool>>,
    /// `[T'·B]` row permutation reversing each batch row within its true length
    /// (bidirectional only). It is its own inverse.
    reverse: Option<Tensor<1, Int>>,
    /// `[T'·B]` 1 at real rows, 0 at padded ones: the cube cells' mask (each step reads its
    /// rows at an offset, no slice), built on first use from `pad_rows`.
    real: OnceCell<Tensor<1>>,
}

impl StepMasks {
    /// From the row lengths read on the host. `None` when no row has a real token (or the
    /// batch is empty).
    pub fn from_lengths(
        lengths: &[usize],
        hidden: usize,
        bidirectional: bool,
        device: &Device,
    ) -> Option<Self> {
        let batch = lengths.len();
        let steps = lengths.iter().copied().max().unwrap_or(0);
        if steps == 0 {
            return None;
        }
        let min_len = lengths.iter().copied().min().unwrap_or(0);

        let (pad_per_step, pad_rows) = if min_len == steps {
            (vec![None; steps], None)
        } else {
            let pad: Vec<bool> = (0..steps)
                .flat_map(|t| lengths.iter().map(move |&len| t >= len))
                .collect();
            let pad =
                Tensor::<2, Bool>::from_data(TensorData::new(pad, [steps * batch, 1]), device);
            let per_step = (0..steps)
                .map(|t| {
                    (t >= min_len).then(|| {
                        pad.clone()
                            .narrow(0, t * batch, batch)
                            .expand([batch, hidden])
                    })
                })
                .collect();
            (per_step, Some(pad))
        };

        let reverse = bidirectional.then(|| {
            let index: Vec<i64> = (0..steps)
                .flat_map(|t| {
                    lengths.iter().enumerate().map(move |(b, &len)| {
                        let source = if t < len { len - 1 - t } else { t };
                        (source * batch + b) as i64
                    })
                })
                .collect();
            Tensor::<1, Int>::from_data(TensorData::new(index, [steps * batch]), device)
        });

        Some(Self {
            batch,
            steps,
            lengths: Some(lengths.to_vec()),
            pad_per_step,
            pad_rows,
            reverse,
            real: OnceCell::new(),
        })
    }

    /// From the `[B, T]` mask on its own device, with no read back to the host: every step is
    /// computed (`T' = T`, as a GPU gains nothing from skipping the all-padding tail), every
    /// step has a padding mask, and the reversal index is computed on the device.
    pub fn from_mask(mask: Tensor<2, Bool>, hidden: usize, bidirectional: bool) -> Self {
        let [batch, steps] = mask.dims();
        let device = mask.device();
        // Step-major: row `t·B + b` is step `t` of batch row `b`.
        let pad = mask
            .clone()
            .bool_not()
            .swap_dims(0, 1)
            .reshape([steps * batch, 1]);
        let pad_per_step = (0..steps)
            .map(|t| {
                Some(
                    pad.clone()
                        .narrow(0, t * batch, batch)
                        .expand([batch, hidden]),
                )
            })
            .collect();
        let reverse = bidirectional.then(|| {
            // Step `t` of row `b` reads step `len_b − 1 − t` inside the row's length and stays
            // where it is in the padding; the index is into step-major rows.
            let len = mask
                .int()
                .sum_dim(1)
                .reshape([1, batch])
                .expand([steps, batch]);
            let t = Tensor::<1, Int>::arange(0..steps as i64, &device)
                .reshape([steps, 1])
                .expand([steps, batch]);
            let inside = t.clone().lower(len.clone());
            let source = t.clone().mask_where(inside, len - t - 1);
            let column = Tensor::<1, Int>::arange(0..batch as i64, &device).reshape([1, batch]);
            (source * batch as i64 + column).reshape([steps * batch])
        });
        Self {
            batch,
            steps,
            lengths: None,
            pad_per_step,
            pad_rows: Some(pad),
            reverse,
            real: OnceCell::new(),
        }
    }

    /// The `[T'·B]` mask of real rows (1) and padded ones (0), step-major, for the cube cells.
    fn real_rows(&self, device: &Device) -> &Tensor<1> {
        self.real.get_or_init(|| {
            let rows = self.steps * self.batch;
            match &self.pad_rows {
                Some(pad) => pad.clone().bool_not().float().reshape([rows]),
                None => Tensor::ones([rows], device),
            }
        })
    }

    /// Zeroes the padded rows of step-major outputs `[T'·B, F]`.
    pub fn zero_padding(&self, seq: Tensor<2>) -> Tensor<2> {
        match &self.pad_rows {
            Some(pad) => {
                let dims = seq.dims();
                seq.mask_fill(pad.clone().expand(dims), 0.0)
            }
            None => seq,
        }
    }

    /// Reverses every batch row within its true length (rows `[T'·B, F]`).
    fn reverse(&self, rows: Tensor<2>) -> Tensor<2> {
        match &self.reverse {
            Some(index) => rows.select(0, index.clone()),
            None => rows,
        }
    }
}

/// Splits step-major `[T', B, F]` into `T'` tensors `[B, F]`, in two levels (blocks of about
/// `sqrt(T')` steps, then steps): the autodiff backward of a slice writes a zero tensor of its
/// parent's full size, so slicing each step directly would cost `T'` full passes.
fn split_steps(x: Tensor<3>) -> Vec<Tensor<2>> {
    let [steps, batch, features] = x.dims();
    let block = (steps as f64).sqrt().ceil().max(1.0) as usize;
    let mut out = Vec::with_capacity(steps);
    if steps <= 4 {
        for t in 0..steps {
            out.push(x.clone().narrow(0, t, 1).reshape([batch, features]));
        }
        return out;
    }
    let mut start = 0;
    while start < steps {
        let len = block.min(steps - start);
        let chunk = x.clone().narrow(0, start, len);
        for t in 0..len {
            out.push(chunk.clone().narrow(0, t, 1).reshape([batch, features]));
        }
        start += len;
    }
    out
}

/// Keeps `previous` where `pad` is true, `new` elsewhere; a missing previous state is zero.
fn carry(new: Tensor<2>, previous: Option<&Tensor<2>>, pad: Option<&Tensor<2, Bool>>) -> Tensor<2> {
    match (pad, previous) {
        (None, _) => new,
        (Some(pad), Some(previous)) => new.mask_where(pad.clone(), previous.clone()),
        (Some(pad), None) => new.mask_fill(pad.clone(), 0.0),
    }
}

/// Runs one direction of one layer over step-major inputs `[T'·B, d_in]`: the fused op of
/// `biome-kernels` where it runs, else one loop of composed steps for either cell.
///
/// Returns the per-step hidden states `[T'·B, H]` in the original order (if `collect`; padded
/// rows are not zeroed yet) and the final state `[B, H]` (the state at each row's last real
/// token for the forward direction, at its first for the backward one; zero for empty rows).
pub(crate) fn run_direction(
    cell: RnnCell,
    dir: &RnnDirection,
    input: Tensor<2>,
    ctx: &StepMasks,
    collect: bool,
    reversed: bool,
) -> (Option<Tensor<2>>, Tensor<2>) {
    let [hidden, _] = dir.weight_hh.dims();
    let gates = cell.num_gates() * hidden;
    let weight_hh = dir.weight_hh.val();
    let bias_ih = dir.bias_ih.val();
    let bias_hh = dir.bias_hh.val();

    // Fold what we can of b_hh into the projection: all of it for LSTM, the r and z blocks for
    // GRU (b_hn stays inside r*(.)).
    let (proj_bias, hidden_bias) = match cell {
        RnnCell::Lstm => (bias_ih + bias_hh, None),
        RnnCell::Gru => {
            let rz = bias_hh.clone().narrow(0, 0, 2 * hidden);
            let b_hn = bias_hh.narrow(0, 2 * hidden, hidden);
            let rz0 = Tensor::cat(vec![rz, b_hn.zeros_like()], 0);
            (bias_ih + rz0, Some(b_hn.reshape([1, hidden])))
        }
    };

    // The fused op projects the real tokens' rows itself. `hidden_bias` is the GRU's `b_hn`;
    // the LSTM folded all of `b_hh` into the projection.
    let b_hn = hidden_bias.as_ref().map(|b| b.clone().reshape([hidden]));
    let weights = CellWeights {
        weight_ih: &dir.weight_ih.val(),
        bias: &proj_bias,
        weight_hh: &weight_hh,
        cell: match &b_hn {
            Some(bias_hn) => Cell::Gru { bias_hn },
            None => Cell::Lstm,
        },
    };
    let fused = ctx.lengths.as_ref().and_then(|lengths| {
        let rows = Rows {
            lengths: lengths.clone(),
            reversed,
            final_only: !collect,
        };
        hidden_states(&input, weights, rows)
    });
    if let Some(hs) = fused {
        if !collect {
            return (None, hs);
        }
        // Padded steps carry the state, so the last step holds every row's final state.
        let last = hs.clone().narrow(0, (ctx.steps - 1) * ctx.batch, ctx.batch);
        let seq = if reversed { ctx.reverse(hs) } else { hs };
        return (Some(seq), last);
    }

    let fused_cell = cube::runs_on(&input);
    let proj = input.matmul(dir.weight_ih.val()) + proj_bias.reshape([1, gates]);
    let proj = if reversed { ctx.reverse(proj) } else { proj };

    let proj_steps = split_steps(proj.reshape([ctx.steps, ctx.batch, gates]));
    if fused_cell
        && let Some(out) = cells_on_cube(
            &proj_steps,
            &weight_hh,
            b_hn.as_ref(),
            ctx,
            collect,
            reversed,
        )
    {
        return out;
    }

    // One loop for both cells: a step gives the new state, padded rows carry the previous one.
    let mut outputs = Vec::with_capacity(if collect { ctx.steps } else { 0 });
    let mut state: Option<State> = None;
    for (xp, pad) in proj_steps.into_iter().zip(&ctx.pad_per_step) {
        let new = match &hidden_bias {
            None => lstm_step(xp, state.as_ref(), &weight_hh, hidden),
            Some(b_hn) => gru_step(xp, state.as_ref(), &weight_hh, b_hn, hidden),
        };
        let next = new.carry(state.as_ref(), pad.as_ref());
        if collect {
            outputs.push(next.h.clone());
        }
        state = Some(next);
    }
    // `steps >= 1`, so the loop ran at least once.
    let last = state.map_or_else(
        || Tensor::zeros([ctx.batch, hidden], &weight_hh.device()),
        |s| s.h,
    );

    let seq = collect.then(|| {
        let seq: Tensor<3> = Tensor::stack(outputs, 0);
        let seq = seq.reshape([ctx.steps * ctx.batch, hidden]);
        if reversed { ctx.reverse(seq) } else { seq }
    });
    (seq, last)
}

/// The step loop on the cube backends: per step one `h·W_hh` matmul and one fused cell kernel
/// ([`cube::lstm_cell`], or [`cube::gru_cell`] with the GRU's `b_hn`: gates, state update and
/// masked carry in one launch). The LSTM's state is packed `[B, 2H]` (`h` then `c`), the GRU's
/// is `h` `[B, H]`. Returns what [`run_direction`] returns, or `None` if the cell does not run
/// (then only the first step's zeros were made).
fn cells_on_cube(
    proj_steps: &[Tensor<2>],
    weight_hh: &Tensor<2>,
    b_hn: Option<&Tensor<1>>,
    ctx: &StepMasks,
    collect: bool,
    reversed: bool,
) -> Option<(Option<Tensor<2>>, Tensor<2>)> {
    let [hidden, gates] = weight_hh.dims();
    let device = weight_hh.device();
    let width = if b_hn.is_some() { hidden } else { 2 * hidden };
    let h_of = |state: Tensor<2>| {
        if width == hidden {
            state
        } else {
            state.narrow(1, 0, hidden)
        }
    };
    // The first step starts from zeros; its recurrent product is zero too.
    let mut state = Tensor::<2>::zeros([ctx.batch, width], &device);
    let mut hp = Tensor::<2>::zeros([ctx.batch, gates], &device);
    let real = ctx.real_rows(&device);
    let mut outputs = Vec::with_capacity(if collect { ctx.steps } else { 0 });
    for (t, xp) in proj_steps.iter().enumerate() {
        if t > 0 {
            hp = h_of(state.clone()).matmul(weight_hh.clone());
        }
        let offset = t * ctx.batch;
        state = match b_hn {
            None => cube::lstm_cell(xp, &hp, &state, real, offset)?,
            Some(b_hn) => cube::gru_cell(xp, &hp, &state, b_hn, real, offset)?,
        };
        if collect {
            outputs.push(state.clone());
        }
    }
    let seq = collect.then(|| {
        let seq: Tensor<3> = Tensor::stack(outputs, 0);
        let seq = if width == hidden {
            seq
        } else {
            seq.narrow(2, 0, hidden)
        };
        let seq = seq.reshape([ctx.steps * ctx.batch, hidden]);
        if reversed { ctx.reverse(seq) } else { seq }
    });
    Some((seq, h_of(state)))
}

/// The state of a recurrence after a step: `h` `[B, H]`, and the LSTM's cell state `c`.
struct State {
    h: Tensor<2>,
    c: Option<Tensor<2>>,
}

impl State {
    /// Keeps `previous` at the rows `pad` marks (zero where there is no previous state).
    fn carry(self, previous: Option<&State>, pad: Option<&Tensor<2, Bool>>) -> State {
        let h = carry(self.h, previous.map(|p| &p.h), pad);
        let c = self
            .c
            .map(|c| carry(c, previous.and_then(|p| p.c.as_ref()), pad));
        State { h, c }
    }
}

/// One LSTM step from the projected inputs `xp` `[B, 4H]` (both biases included).
/// Returns the unmasked `(h', c')`.
fn lstm_step(xp: Tensor<2>, state: Option<&State>, weight_hh: &Tensor<2>, hidden: usize) -> State {
    let pre = match state {
        Some(s) => xp + s.h.clone().matmul(weight_hh.clone()),
        None => xp,
    };
    // One sigmoid over all four blocks (the g block's is unused) instead of three slices.
    let act = sigmoid(pre.clone());
    let g = pre.narrow(1, 2 * hidden, hidden).tanh();
    let i = act.clone().narrow(1, 0, hidden);
    let o = act.clone().narrow(1, 3 * hidden, hidden);
    let c = match state.and_then(|s| s.c.as_ref()) {
        Some(c) => act.narrow(1, hidden, hidden) * c.clone() + i * g,
        None => i * g,
    };
    let h = o * c.clone().tanh();
    State { h, c: Some(c) }
}

/// One GRU step from the projected inputs `xp` `[B, 3H]` (`b_ih`, and `b_hr`, `b_hz` included).
/// Returns the unmasked `h'`.
fn gru_step(
    xp: Tensor<2>,
    state: Option<&State>,
    weight_hh: &Tensor<2>,
    b_hn: &Tensor<2>,
    hidden: usize,
) -> State {
    let xp_rz = xp.clone().narrow(1, 0, 2 * hidden);
    let xp_n = xp.narrow(1, 2 * hidden, hidden);
    let h = match state.map(|s| &s.h) {
        Some(h) => {
            let hp = h.clone().matmul(weight_hh.clone());
            let rz = sigmoid(xp_rz + hp.clone().narrow(1, 0, 2 * hidden));
            let r = rz.clone().narrow(1, 0, hidden);
            let z = rz.narrow(1, hidden, hidden);
            let n = (xp_n + r * (hp.narrow(1, 2 * hidden, hidden) + b_hn.clone())).tanh();
            // (1 - z) * n + z * h
            n.clone() + z * (h.clone() - n)
        }
        None => {
            let rz = sigmoid(xp_rz);
            let r = rz.clone().narrow(1, 0, hidden);
            let z = rz.narrow(1, hidden, hidden);
            let n = (xp_n + r * b_hn.clone()).tanh();
            n.clone() - z * n
        }
    };
    State { h, c: None }
}
