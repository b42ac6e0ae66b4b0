//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`), over the dense gradients and
//! the row gradients of sparse tables together.

use biome_models::float_values;
use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::error::{Result, TrainError};
use crate::sparse_adam::{RowGrad, row_grads_sq_sum, scale_row_grads};

/// The highest parameter rank the clipping handles (burn's modules have at most 4).
pub const MAX_RANK: usize = 6;

fn grad_sq_sum<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    grads.get::<D>(id).map(|g| g.square().sum())
}

fn scale_grad<const D: usize>(grads: &mut GradientsParams, id: ParamId, factor: f64) {
    if let Some(g) = grads.remove::<D>(id) {
        grads.register::<D>(id, g.mul_scalar(factor));
    }
}

/// `f::<D>(args)` for the parameter's rank `d`, or an error naming a rank above [`MAX_RANK`].
macro_rules! by_rank {
    ($d:expr, $f:ident ( $($arg:expr),* )) => {
        match $d {
            1 => Ok($f::<1>($($arg),*)),
            2 => Ok($f::<2>($($arg),*)),
            3 => Ok($f::<3>($($arg),*)),
            4 => Ok($f::<4>($($arg),*)),
            5 => Ok($f::<5>($($arg),*)),
            6 => Ok($f::<6>($($arg),*)),
            d => Err(TrainError::Invalid(format!(
                "grad_norm: a parameter of rank {d}; clipping handles ranks up to {MAX_RANK}"
            ))),
        }
    };
}

/// Rescale all gradients (`params`: every parameter and its rank, and the sparse tables'
/// `rows`) so that their global L2 norm is at most `max_norm`; returns the norm before
/// clipping. A parameter of a rank above [`MAX_RANK`] is an error, never skipped.
pub fn clip_global_norm(
    grads: &mut GradientsParams,
    rows: &mut [RowGrad],
    params: &[(ParamId, usize)],
    max_norm: f32,
) -> Result<f32> {
    let mut total: Option<Tensor<1>> = row_grads_sq_sum(rows);
    for &(id, d) in params {
        if let Some(sq) = by_rank!(d, grad_sq_sum(grads, id))? {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let Some(total) = total else { return Ok(0.0) };
    biome_kernels::host_reads::note("train: clipping norm");
    let norm = float_values(total)[0].sqrt();
    if norm > max_norm {
        let factor = (max_norm / (norm + 1e-6)) as f64;
        scale_row_grads(rows, factor);
        for &(id, d) in params {
            by_rank!(d, scale_grad(grads, id, factor))?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;

    #[test]
    fn global_norm_clipping_scales_all_gradients_together() {
        let device = Device::flex().autodiff();
        let a = Param::from_tensor(Tensor::<1>::from_floats([3.0, 0.0], &device));
        let b = Param::from_tensor(Tensor::<2>::from_floats([[0.0, 4.0]], &device));
        let loss = (a.val() * Tensor::from_floats([1.0, 0.0], &device)).sum() * 3.0
            + (b.val() * Tensor::from_floats([[0.0, 1.0]], &device)).sum() * 4.0;
        // d/da = [3, 0], d/db = [[0, 4]] -> global norm 5
        let g = loss.backward();
        let mut grads = GradientsParams::new();
        grads.register::<1>(a.id, a.val().grad(&g).unwrap());
        grads.register::<2>(b.id, b.val().grad(&g).unwrap());
        // A sparse table's row gradient [[0, 12]] counts too -> global norm 13.
        let mut rows = vec![RowGrad {
            param: ParamId::new(),
            ids: vec![4],
            grad: Tensor::<2>::from_floats([[0.0, 12.0]], &Device::flex()),
        }];
        let norm = clip_global_norm(&mut grads, &mut rows, &[(a.id, 1), (b.id, 2)], 1.0).unwrap();
        assert!((norm - 13.0).abs() < 1e-4);
        let ga = float_values(grads.get::<1>(a.id).unwrap());
        let gb = float_values(grads.get::<2>(b.id).unwrap());
        let gr = float_values(rows[0].grad.clone());
        assert!(
            (ga[0] - 3.0 / 13.0).abs() < 1e-4
                && (gb[1] - 4.0 / 13.0).abs() < 1e-4
                && (gr[1] - 12.0 / 13.0).abs() < 1e-4,
            "{ga:?} {gb:?} {gr:?}"
        );
    }

    #[test]
    fn a_rank_five_gradient_counts_and_an_unknown_rank_is_an_error() {
        let device = Device::flex().autodiff();
        let a = Param::from_tensor(Tensor::<5>::ones([1, 1, 1, 1, 2], &device));
        let loss = (a.val() * 2.0).sum();
        let g = loss.backward();
        let mut grads = GradientsParams::new();
        grads.register::<5>(a.id, a.val().grad(&g).unwrap());
        // d/da = [2, 2] -> norm √8.
        let norm = clip_global_norm(&mut grads, &mut [], &[(a.id, 5)], 1.0).unwrap();
        assert!((norm - 8f32.sqrt()).abs() < 1e-5);
        let clipped = float_values(grads.get::<5>(a.id).unwrap());
        assert!((clipped[0] - 2.0 / 8f32.sqrt()).abs() < 1e-4, "{clipped:?}");
        let err = clip_global_norm(&mut grads, &mut [], &[(a.id, 7)], 1.0).unwrap_err();
        assert!(err.to_string().contains("rank 7"), "{err}");
    }
}
