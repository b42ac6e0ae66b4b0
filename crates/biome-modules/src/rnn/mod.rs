//! Mask-exact recurrent layers (LSTM and GRU, PyTorch gate semantics).
//!
//! [`MaskedRnn`] is a stacked, optionally bidirectional LSTM or GRU that treats a padding mask
//! exactly like PyTorch's packed sequences: every row is processed over its own true length, the
//! state never sees a padded step, and the backward direction starts at each row's last real
//! token.
//!
//! # Semantics
//!
//! - LSTM, gates `i, f, g, o`: `c' = f*c + i*g`, `h' = o*tanh(c')`, with
//!   `[i f g o] = x W_ih + b_ih + h W_hh + b_hh` (`i, f, o` sigmoid, `g` tanh).
//! - GRU, gates `r, z, n`: `r, z = sigmoid(x W_i{r,z} + b_i{r,z} + h W_h{r,z} + b_h{r,z})`,
//!   `n = tanh(x W_in + b_in + r*(h W_hn + b_hn))`, `h' = (1-z)*n + z*h`.
//! - Masking: `h_t = mask_t ? h_new : h_{t-1}` (and the same for the LSTM cell state); padded
//!   outputs are zero. The mask is read as row lengths (`len = number of true entries`); masks are
//!   prefixes by contract (see the architecture notes).
//! - Backward direction: each row is reversed within its own true length (position `t < len`
//!   goes to `len-1-t`, padding stays in place), the forward recurrence runs on it, and the
//!   outputs are reversed back the same way.
//! - Dropout is applied to the outputs of every layer but the top one, while training only (it is
//!   burn's [`Dropout`], a no-op on non-autodiff devices).
//!
//! # Parameter layout
//!
//! Per layer and direction ([`RnnDirection`]) the weights are stored *transposed* with respect to
//! PyTorch, so that a step is a row-major `x · W`: `weight_ih` is `[d_in, G·H]` (PyTorch's
//! `weight_ih_l{k}` is `[G·H, d_in]`), `weight_hh` is `[H, G·H]`; the `G` gate blocks follow
//! PyTorch's order (`i f g o` for LSTM, `r z n` for GRU). Biases are `[G·H]`. All are initialised
//! uniform in `(-1/sqrt(H), 1/sqrt(H))`, as PyTorch does.
//!
//! # Performance
//!
//! Time runs along the first axis internally (`[T·B, ·]` rows, step-major). Each layer and
//! direction projects all steps at once (`[T·B, d_in] x [d_in, G·H]`), then does one
//! `[B, H] x [H, G·H]` matmul per step; gates are slices of the fused result. Per-step inputs are
//! sliced in two levels (blocks of ~`sqrt(T)` steps, then steps) so that the autodiff backward of
//! the slicing costs `O(sqrt(T))` full passes over the projection rather than `O(T)`. Steps past
//! the longest row are not computed; steps where no row is padded skip the masking.

mod recurrence;
#[cfg(test)]
mod tests;

use biome_kernels::cube;
use burn::module::{Initializer, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use recurrence::{StepMasks, run_direction};

/// Whether the step masks are built from the mask on its device (GPU) rather than from lengths
/// read on the host (CPU). Tests can force the device path on the CPU backends.
fn masks_stay_on_device<const D: usize>(x: &Tensor<D>) -> bool {
    cube::on_cube_device(x) || tests_force_device_masks::get()
}

#[cfg(test)]
mod tests_force_device_masks {
    use std::cell::Cell;

    thread_local! {
        static FORCED: Cell<bool> = const { Cell::new(false) };
    }

    pub fn get() -> bool {
        FORCED.with(Cell::get)
    }

    /// Runs `f` with the device-mask path on whatever backend `f` uses.
    pub fn with<R>(f: impl FnOnce() -> R) -> R {
        FORCED.with(|c| c.set(true));
        let out = f();
        FORCED.with(|c| c.set(false));
        out
    }
}

#[cfg(not(test))]
mod tests_force_device_masks {
    pub fn get() -> bool {
        false
    }
}

/// Configuration shared by LSTM and GRU encoders, with AllenNLP/PyTorch parameter names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    /// Input feature size; `None` = derived from the previous module's output.
    #[serde(default)]
    pub input_size: Option<usize>,
    /// Hidden size of each direction.
    pub hidden_size: usize,
    /// Stacked layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Run a second, reversed direction and concatenate.
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout between stacked layers (training only).
    #[serde(default)]
    pub dropout: f64,
}

fn one() -> usize {
    1
}

/// Which gated cell a [`MaskedRnn`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RnnCell {
    /// Long short-term memory, gates `i f g o`.
    Lstm,
    /// Gated recurrent unit, gates `r z n` (reset applied after the hidden matmul, as PyTorch).
    Gru,
}

impl RnnCell {
    /// Number of gate blocks `G` in the fused weights: 4 for LSTM, 3 for GRU.
    pub fn num_gates(self) -> usize {
        match self {
            RnnCell::Lstm => 4,
            RnnCell::Gru => 3,
        }
    }
}

/// A configuration that cannot build a [`MaskedRnn`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RnnConfigError {
    /// `hidden_size` is 0.
    #[error("rnn: hidden_size must be at least 1")]
    ZeroHiddenSize,
    /// `num_layers` is 0.
    #[error("rnn: num_layers must be at least 1")]
    ZeroLayers,
    /// The input dimension is 0.
    #[error("rnn: the input dimension must be at least 1")]
    ZeroInputDim,
    /// `dropout` is not a finite number in `[0, 1)`.
    #[error("rnn: dropout must be a finite number in [0, 1), got {0}")]
    InvalidDropout(f64),
    /// `input_size` is set in the config and differs from the actual input dimension.
    #[error(
        "rnn: input_size {configured} in the config does not match the input dimension {actual}"
    )]
    InputSizeMismatch {
        /// The config's `input_size`.
        configured: usize,
        /// The dimension the encoder is built for.
        actual: usize,
    },
}

impl RnnConfig {
    /// Output size: `hidden_size * (2 if bidirectional else 1)`.
    pub fn output_dim(&self) -> usize {
        self.hidden_size * self.num_directions()
    }

    /// 2 if bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Checks that the config can build layers for inputs of size `input_dim`.
    pub fn validate(&self, input_dim: usize) -> Result<(), RnnConfigError> {
        if self.hidden_size == 0 {
            return Err(RnnConfigError::ZeroHiddenSize);
        }
        if self.num_layers == 0 {
            return Err(RnnConfigError::ZeroLayers);
        }
        if input_dim == 0 {
            return Err(RnnConfigError::ZeroInputDim);
        }
        if !self.dropout.is_finite() || !(0.0..1.0).contains(&self.dropout) {
            return Err(RnnConfigError::InvalidDropout(self.dropout));
        }
        if let Some(configured) = self.input_size
            && configured != input_dim
        {
            return Err(RnnConfigError::InputSizeMismatch {
                configured,
                actual: input_dim,
            });
        }
        Ok(())
    }

    /// Build the layers, or say why this config cannot (see [`RnnConfig::validate`]).
    pub fn try_init(
        &self,
        cell: RnnCell,
        input_dim: usize,
        device: &Device,
    ) -> Result<MaskedRnn, RnnConfigError> {
        self.validate(input_dim)?;
        let hidden = self.hidden_size;
        let dirs = self.num_directions();
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Initializer::Uniform {
            min: -bound,
            max: bound,
        };
        let layers = (0..self.num_layers)
            .map(|layer| {
                let d_in = if layer == 0 { input_dim } else { hidden * dirs };
                RnnLayer {
                    forward: RnnDirection::new(cell, d_in, hidden, &init, device),
                    backward: self
                        .bidirectional
                        .then(|| RnnDirection::new(cell, d_in, hidden, &init, device)),
                }
            })
            .collect();
        Ok(MaskedRnn {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            cell,
            hidden_size: hidden,
            input_dim,
            bidirectional: self.bidirectional,
        })
    }

    /// Build the layers. `input_size` (if set in the config) must equal `input_dim`.
    ///
    /// # Panics
    ///
    /// If the config is invalid for `input_dim` (see [`RnnConfig::validate`]; call it or
    /// [`RnnConfig::try_init`] first to handle the error). Never panics for a valid config.
    pub fn init(&self, cell: RnnCell, input_dim: usize, device: &Device) -> MaskedRnn {
        match self.try_init(cell, input_dim, device) {
            Ok(rnn) => rnn,
            Err(err) => panic!("{err}"),
        }
    }
}

/// The weights of one direction of one layer (see the module docs for the layout).
#[derive(Module, Debug)]
pub struct RnnDirection {
    /// Input-to-hidden weights, `[d_in, G·H]` (PyTorch's `weight_ih_l{k}` transposed).
    pub weight_ih: Param<Tensor<2>>,
    /// Hidden-to-hidden weights, `[H, G·H]` (PyTorch's `weight_hh_l{k}` transposed).
    pub weight_hh: Param<Tensor<2>>,
    /// Input-to-hidden bias, `[G·H]`.
    pub bias_ih: Param<Tensor<1>>,
    /// Hidden-to-hidden bias, `[G·H]`.
    pub bias_hh: Param<Tensor<1>>,
}

impl RnnDirection {
    fn new(cell: RnnCell, d_in: usize, hidden: usize, init: &Initializer, device: &Device) -> Self {
        let gates = cell.num_gates() * hidden;
        Self {
            weight_ih: init.init([d_in, gates], device),
            weight_hh: init.init([hidden, gates], device),
            bias_ih: init.init([gates], device),
            bias_hh: init.init([gates], device),
        }
    }
}

/// One layer: a forward direction and, if bidirectional, a backward one.
#[derive(Module, Debug)]
pub struct RnnLayer {
    /// Runs left to right.
    pub forward: RnnDirection,
    /// Runs right to left from each row's last real token (bidirectional only).
    pub backward: Option<RnnDirection>,
}

/// A stacked, optionally bidirectional LSTM or GRU that honours a padding mask exactly.
///
/// Built with [`RnnConfig::init`].
#[derive(Module, Debug)]
pub struct MaskedRnn {
    /// The stacked layers, bottom first.
    pub layers: Vec<RnnLayer>,
    /// Dropout on the outputs of every layer but the top one.
    pub dropout: Dropout,
    /// Which cell the layers run.
    #[module(skip)]
    pub cell: RnnCell,
    /// Hidden size `H` of each direction.
    pub hidden_size: usize,
    /// Input feature size `D` of the bottom layer.
    pub input_dim: usize,
    /// Whether every layer has a backward direction.
    pub bidirectional: bool,
}

impl MaskedRnn {
    /// Output feature size: `H·dirs`.
    pub fn output_dim(&self) -> usize {
        self.hidden_size * self.num_directions()
    }

    /// 2 if bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Outputs of the top layer at every step.
    ///
    /// - x: `[B, T, D]`, mask: `[B, T]` (true = real token; a prefix of each row)
    /// - returns `[B, T, H·dirs]`, zero at padded positions.
    ///
    /// # Panics
    ///
    /// If `D` is not the input dimension the layers were built for, or the mask is not `[B, T]`.
    pub fn forward_sequence(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, steps, _] = x.dims();
        let device = x.device();
        let out_dim = self.output_dim();
        let Some((ctx, x_tm)) = self.prepare(x, mask) else {
            return Tensor::zeros([batch, steps, out_dim], &device);
        };
        let (seq, _) = self.run(x_tm, &ctx, true);
        // `seq` is Some when asked for.
        let Some(seq) = seq else {
            return Tensor::zeros([batch, steps, out_dim], &device);
        };
        let seq = if ctx.steps < steps {
            let tail = Tensor::zeros([(steps - ctx.steps) * batch, out_dim], &device);
            Tensor::cat(vec![seq, tail], 0)
        } else {
            seq
        };
        seq.reshape([steps, batch, out_dim]).swap_dims(0, 1)
    }

    /// Final hidden state of the top layer at each row's true length
    /// (`[forward_final; backward_final]` when bidirectional).
    ///
    /// - x: `[B, T, D]`, mask: `[B, T]`
    /// - returns `[B, H·dirs]`; an all-padding row gives zeros.
    ///
    /// # Panics
    ///
    /// If `D` is not the input dimension the layers were built for, or the mask is not `[B, T]`.
    pub fn forward_final(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<2> {
        let [batch, _, _] = x.dims();
        let device = x.device();
        let Some((ctx, x_tm)) = self.prepare(x, mask) else {
            return Tensor::zeros([batch, self.output_dim()], &device);
        };
        self.run(x_tm, &ctx, false).1
    }

    /// Builds the step masks and the reversal index (from the row lengths read on the host on
    /// the CPU, on the device on a GPU) and turns `x` into step-major rows `[T'·B, D]` over the
    /// `T'` steps computed (on the CPU, those that hold any real token). `None` when there is
    /// nothing to compute (empty batch; on the CPU, all padding too).
    fn prepare(&self, x: Tensor<3>, mask: Tensor<2, Bool>) -> Option<(StepMasks, Tensor<2>)> {
        let [batch, steps, dim] = x.dims();
        assert_eq!(
            dim, self.input_dim,
            "MaskedRnn: input feature size {dim} differs from the configured {}",
            self.input_dim
        );
        let mask_dims = mask.dims();
        assert_eq!(
            mask_dims,
            [batch, steps],
            "MaskedRnn: mask shape {mask_dims:?} differs from the input's [batch, steps] = {:?}",
            [batch, steps]
        );
        if batch == 0 || steps == 0 {
            return None;
        }
        let device = x.device();
        let ctx = if masks_stay_on_device(&x) {
            // On a GPU the masks stay on the device: a read would stall every forward.
            StepMasks::from_mask(mask, self.hidden_size, self.bidirectional)
        } else {
            // On the CPU the lengths decide the fused recurrence's packed step order, and a
            // read is a copy.
            biome_kernels::host_reads::note("rnn: mask lengths");
            let data = mask.into_data();
            let mut lengths = vec![0usize; batch];
            for (i, v) in data.iter::<i64>().enumerate() {
                if v != 0 {
                    lengths[i / steps] += 1;
                }
            }
            StepMasks::from_lengths(&lengths, self.hidden_size, self.bidirectional, &device)?
        };
        let x = if ctx.steps < steps {
            x.narrow(1, 0, ctx.steps)
        } else {
            x
        };
        let x_tm = x.swap_dims(0, 1).reshape([ctx.steps * batch, dim]);
        Some((ctx, x_tm))
    }

    /// Runs all layers on step-major rows. Returns the top layer's masked outputs
    /// `[T'·B, H·dirs]` (if `want_sequence`) and its final states `[B, H·dirs]`.
    fn run(
        &self,
        mut input: Tensor<2>,
        ctx: &StepMasks,
        want_sequence: bool,
    ) -> (Option<Tensor<2>>, Tensor<2>) {
        let top = self.layers.len() - 1;
        let mut finals = Vec::new();
        let mut top_seq = None;
        for (index, layer) in self.layers.iter().enumerate() {
            let collect = index < top || want_sequence;
            let (fwd_seq, fwd_final) = run_direction(
                self.cell,
                &layer.forward,
                input.clone(),
                ctx,
                collect,
                false,
            );
            let (bwd_seq, bwd_final) = match &layer.backward {
                Some(dir) => {
                    let (seq, fin) =
                        run_direction(self.cell, dir, input.clone(), ctx, collect, true);
                    (seq, Some(fin))
                }
                None => (None, None),
            };
            if index == top {
                finals.push(fwd_final);
                finals.extend(bwd_final);
            }
            if collect {
                let mut parts: Vec<Tensor<2>> = fwd_seq.into_iter().collect();
                parts.extend(bwd_seq);
                let seq = if parts.len() == 1 {
                    parts.remove(0)
                } else {
                    Tensor::cat(parts, 1)
                };
                let seq = ctx.zero_padding(seq);
                if index < top {
                    input = self.dropout.forward(seq);
                } else {
                    top_seq = Some(seq);
                }
            } else {
                // Only the top layer skips collecting; nothing consumes `input` afterwards.
                break;
            }
        }
        let last = if finals.len() == 1 {
            finals.remove(0)
        } else {
            Tensor::cat(finals, 1)
        };
        (top_seq, last)
    }
}
