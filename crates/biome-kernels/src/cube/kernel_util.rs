//! What the cube cell kernels share: overflow-free activations, strided reads, and the
//! allocation and launch grid of one thread per `(row, hidden unit)`.

use burn::tensor::Shape;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// `1 / (1 + e^{-x})` through `e^{-|x|}`, which never overflows.
#[cube]
pub(crate) fn sigmoid<F: Float>(x: F) -> F {
    let one = F::new(1.0_f32);
    if x >= F::new(0.0_f32) {
        one / (one + (F::new(0.0_f32) - x).exp())
    } else {
        let e = x.exp();
        e / (one + e)
    }
}

/// `tanh x` through `e^{-2|x|}`, which never overflows (a textbook `(e^{2x} − 1)/(e^{2x} + 1)`
/// gives `inf/inf` past |x| ≈ 44 in f32).
#[cube]
pub(crate) fn tanh<F: Float>(x: F) -> F {
    let one = F::new(1.0_f32);
    let magnitude = if x >= F::new(0.0_f32) {
        x
    } else {
        F::new(0.0_f32) - x
    };
    let e = (F::new(-2.0_f32) * magnitude).exp();
    let t = (one - e) / (one + e);
    if x >= F::new(0.0_f32) {
        t
    } else {
        F::new(0.0_f32) - t
    }
}

/// Element `(row, col)` of a 2-d tensor, through its strides.
#[cube]
pub(crate) fn at<F: Float>(t: &Tensor<F>, row: usize, col: usize) -> F {
    t[row * t.stride(0) + col * t.stride(1)]
}

/// A fresh contiguous tensor of `shape` on `like`'s device, with its dtype.
pub(crate) fn empty_like(like: &CubeTensor, shape: [usize; 2]) -> CubeTensor {
    empty_device_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::new(shape),
        like.dtype,
    )
}

/// The launch grid of one thread per `(row, hidden unit)`.
pub(crate) fn grid(like: &CubeTensor, units: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&like.client, units);
    let cube_count = calculate_cube_count_elemwise(&like.client, units, cube_dim);
    (cube_count, cube_dim)
}
