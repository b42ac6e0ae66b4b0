//! What a gated cell plugs into the shared recurrence driver: the arithmetic of one batch row
//! at one step, forward and backward. The driver owns everything else.

/// One batch row of one backward step (a row still running at that step), as the driver
/// hands it to [`GatedCell::backward_row`]. Every slice is one row; `H` = the hidden size.
pub(crate) struct BackwardRow<'a> {
    /// `[H]`. In: the loss's gradient with respect to this step's `h`. Out: the part of the
    /// gradient of `h_{t-1}` that does not pass through `W_hh` (the driver adds that part).
    pub dh: &'a mut [f32],
    /// `[STATE·H]` (one unused value for a cell without extra state): the gradient of the
    /// extra state, like `dh`.
    pub dstate: &'a mut [f32],
    /// `[TRACE·H]`: what the forward pass kept of this step.
    pub trace: &'a [f32],
    /// The same of the previous step; `None` at the first step.
    pub trace_prev: Option<&'a [f32]>,
    /// `[H]`: `h_{t-1}`; `None` at the first step (where it is zero).
    pub h_prev: Option<&'a [f32]>,
    /// `[G·H]`, written: the gradient of the projected inputs.
    pub dx: &'a mut [f32],
    /// `[G·H]`, written: the gradient of `h_{t-1}·W_hh`; `None` when the cell says it equals
    /// `dx` ([`GatedCell::SHARED_PRE_GRADIENT`]).
    pub dhw: Option<&'a mut [f32]>,
}

/// The arithmetic of a gated recurrent cell, one batch row at a time. Each method gets its
/// slices cut to their exact lengths, so that its loops carry no bounds checks and vectorise.
pub(crate) trait GatedCell: Sync {
    /// The gate blocks `G`: a row's projected inputs and its `h·W_hh` are `[G·H]`.
    const GATES: usize;
    /// The state carried beside `h`, in units of `H` (the LSTM's cell state: 1).
    const STATE: usize;
    /// What a traced forward step keeps of a row for the backward pass, in units of `H`.
    const TRACE: usize;
    /// Whether the gradient of `h·W_hh` is the gradient of the projected inputs (both enter
    /// the gates only as one sum): the driver then keeps one buffer for the two.
    const SHARED_PRE_GRADIENT: bool;

    /// One row of one forward step: the projected inputs `x` `[G·H]` and `hw` = `h_{t-1}·W_hh`
    /// `[G·H]` (zero at the first step); `h` `[H]` and `state` hold the previous state and
    /// receive the new one; `trace` `[TRACE·H]` receives what the backward pass needs, when
    /// given.
    fn forward_row(
        &self,
        x: &[f32],
        hw: &[f32],
        h: &mut [f32],
        state: &mut [f32],
        trace: Option<&mut [f32]>,
    );

    /// One row of one backward step (see [`BackwardRow`]).
    fn backward_row(&self, row: BackwardRow<'_>);

    /// The gradients of the cell's own parameters (beyond `W_ih`, the projection bias and
    /// `W_hh`) from every step's gradient of `h·W_hh` `[T·B, G·H]`; empty if it has none.
    fn own_gradients(&self, dhw: &[f32]) -> Vec<f32>;
}
