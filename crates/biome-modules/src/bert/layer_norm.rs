//! BERT's LayerNorms through biome-kernels' fused op where it runs (flex), else burn's.

use burn::nn::LayerNorm;
use burn::prelude::*;

/// `norm` applied to `x` over its last dimension. burn keeps a `LayerNorm`'s epsilon private,
/// so the caller passes the one the module was built with (the config's `layer_norm_eps`).
///
/// - x: `[B, T, H]`
/// - returns `[B, T, H]`
pub fn normalize(norm: &LayerNorm, epsilon: f64, x: Tensor<3>) -> Tensor<3> {
    let fused = norm.beta.as_ref().and_then(|beta| {
        biome_kernels::layer_norm::layer_norm(&x, &norm.gamma.val(), &beta.val(), epsilon)
    });
    fused.unwrap_or_else(|| norm.forward(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, dev, randn, to_vec};
    use burn::nn::LayerNormConfig;

    #[test]
    fn equals_burn_s_layer_norm_with_its_own_epsilon() {
        let device = dev();
        let mut norm = LayerNormConfig::new(6).with_epsilon(0.5).init(&device);
        norm.gamma = burn::module::Param::from_tensor(randn([6], &device));
        norm.beta = Some(burn::module::Param::from_tensor(randn([6], &device)));
        // Small values, so that an epsilon of 0.5 against another would show.
        let x = randn([2, 3, 6], &device) * 0.3;
        let ours = normalize(&norm, 0.5, x.clone());
        assert_close(&to_vec(ours), &to_vec(norm.forward(x)), 2e-6);
    }
}
