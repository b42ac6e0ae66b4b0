//! Activation functions by AllenNLP name.

use burn::prelude::*;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

/// The exact GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))` (Hugging Face's `gelu`).
///
/// On flex this is biome-kernels' one-pass GELU, with its hand-written backward under autodiff.
/// Elsewhere (or with `BIOME_FUSED_GELU=0`): burn's `gelu` op without autodiff, and with
/// autodiff the composition from `erf`, because burn 0.22.1's `gelu` backward is the derivative
/// of the tanh approximation, not of this function, while `erf`'s backward is exact.
pub fn gelu_erf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if let Some(y) = biome_kernels::gelu::gelu(&x) {
        y
    } else if x.is_autodiff() {
        x.clone() * ((x / std::f64::consts::SQRT_2).erf() + 1.0) * 0.5
    } else {
        activation::gelu(x)
    }
}

/// An activation function, written by its AllenNLP/PyTorch name (`"relu"`, `"tanh"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`
    #[default]
    Relu,
    /// `tanh(x)`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// Gaussian error linear unit (exact, erf form).
    Gelu,
    /// ELU with `alpha = 1`.
    Elu,
    /// Leaky ReLU with PyTorch's default slope 0.01.
    LeakyRelu,
    /// The identity.
    Linear,
}

impl Activation {
    /// Apply the function element-wise.
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::Tanh => activation::tanh(x),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Gelu => gelu_erf(x),
            Self::Elu => activation::elu(x, 1.0),
            Self::LeakyRelu => activation::leaky_relu(x, 0.01),
            Self::Linear => x,
        }
    }

    /// The function and its derivative at one value, for the non-decreasing functions: every
    /// one but GELU (`None`), which dips below zero. For those, the maximum of `f` over a set of
    /// values is `f` of their maximum, so a max-pool may take the maximum first.
    pub fn non_decreasing_scalar(self) -> Option<biome_kernels::cnn::ScalarActivation> {
        Some(match self {
            Self::Relu => |z: f32| if z > 0.0 { (z, 1.0) } else { (0.0, 0.0) },
            Self::Tanh => |z: f32| {
                let y = z.tanh();
                (y, 1.0 - y * y)
            },
            Self::Sigmoid => |z: f32| {
                let y = 1.0 / (1.0 + (-z).exp());
                (y, y * (1.0 - y))
            },
            Self::Elu => |z: f32| {
                if z > 0.0 {
                    (z, 1.0)
                } else {
                    let e = z.exp();
                    (e - 1.0, e)
                }
            },
            Self::LeakyRelu => |z: f32| if z > 0.0 { (z, 1.0) } else { (0.01 * z, 0.01) },
            Self::Linear => |z: f32| (z, 1.0),
            Self::Gelu => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    /// The scalar form equals the tensor form, its derivative equals central differences, and
    /// it is non-decreasing.
    #[test]
    fn scalar_forms_match_the_tensor_forms_and_their_differences() {
        let device = dev();
        let zs: Vec<f32> = (0..41).map(|i| i as f32 * 0.25 - 5.03).collect();
        let x = Tensor::<1>::from_data(TensorData::new(zs.clone(), [zs.len()]), &device);
        for act in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Elu,
            Activation::LeakyRelu,
            Activation::Linear,
        ] {
            let f = act.non_decreasing_scalar().unwrap();
            let want = to_vec(act.apply(x.clone()));
            let eps = 1e-2;
            for (&z, &w) in zs.iter().zip(&want) {
                let (y, dy) = f(z);
                assert!((y - w).abs() < 1e-5, "{act:?}({z}) = {y}, tensor form {w}");
                let numeric = (f(z + eps).0 - f(z - eps).0) / (2.0 * eps);
                assert!(
                    (dy - numeric).abs() < 1e-3,
                    "{act:?}'({z}) = {dy} vs {numeric}"
                );
                assert!(f(z + eps).0 >= y, "{act:?} decreases at {z}");
            }
        }
        assert!(Activation::Gelu.non_decreasing_scalar().is_none());
    }
}
