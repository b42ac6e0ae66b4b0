//! Hand-written kernels for the flex CPU backend, shared by the fused ops (the masked
//! recurrences in `rnn`, the masked CNN in `cnn`): the switch that says whether a tensor can take
//! a fused op, conversions between flex tensors and slices, and a slice GEMM.
//!
//! Every fused op has a composed tensor-op twin that other backends run; tests compare the two
//! (see [`composed_only`]).

pub(crate) mod gemm;

use std::borrow::Cow;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};

#[cfg(test)]
thread_local! {
    static COMPOSED_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every fused op switched off on this thread (tests compare the two paths).
#[cfg(test)]
pub(crate) fn composed_only<R>(f: impl FnOnce() -> R) -> R {
    COMPOSED_ONLY.with(|c| c.set(true));
    let out = f();
    COMPOSED_ONLY.with(|c| c.set(false));
    out
}

/// Whether a fused op can take `x`: an f32 tensor on the flex device.
pub(crate) fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    #[cfg(test)]
    if COMPOSED_ONLY.with(|c| c.get()) {
        return false;
    }
    x.dtype() == DType::F32 && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Whether the environment variable `var` leaves a fused op on (anything but `0`); read once per
/// op through `cell`. For A/B measurements and as an escape hatch.
pub(crate) fn enabled(var: &str, cell: &std::sync::OnceLock<bool>) -> bool {
    *cell.get_or_init(|| std::env::var(var).map_or(true, |v| v != "0"))
}

/// The values of an f32 flex tensor in row-major order (borrowed when already contiguous).
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
    }
}

/// A flex tensor owning `values`.
pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The shape of a flex tensor.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}
