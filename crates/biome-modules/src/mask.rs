//! Mask helpers shared by the encoders.

use burn::prelude::*;

/// `[B, T]` Bool -> `[B, T, 1]` float (1 = real token), to multiply `[B, T, D]` features.
pub fn mask_features(mask: Tensor<2, Bool>) -> Tensor<3> {
    mask.float().unsqueeze_dim::<3>(2)
}

/// Zero the padded positions of `x` `[B, T, D]`.
pub fn zero_padding(x: Tensor<3>, mask: Tensor<2, Bool>) -> Tensor<3> {
    x * mask_features(mask)
}

/// `[B, T]` Bool -> `[B, 1]` float: 1 where the row has at least one real token.
pub fn row_has_tokens(mask: Tensor<2, Bool>) -> Tensor<2> {
    mask.any_dim(1).float()
}

/// Mask of real ids (`id != 0`), any rank.
pub fn ids_mask<const D: usize>(ids: Tensor<D, Int>) -> Tensor<D, Bool> {
    ids.not_equal_elem(0)
}
