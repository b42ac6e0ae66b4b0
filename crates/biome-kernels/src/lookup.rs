//! The embedding lookup without autodiff as one flex op: every position gets its table row, or
//! zeros where the id is 0 (padding), written once. The composed path (`embedding` then a
//! multiply by the mask) writes the `[B, T, D]` output twice and reads it once more, which was
//! a quarter of the bag-of-embeddings workload's inference time (BENCHMARKS.md, W4).

use burn::prelude::*;

use crate::policy::{FusedOp, is_enabled};

/// `weight` `[V, D]`, `ids` `[B, T]` (each below `V`) → `[B, T, D]`, zero where the id is 0;
/// `None` where the composed path must run: autodiff, not an f32 table on flex, or the op
/// switched off ([`FusedOp::Lookup`]).
pub fn padded_lookup(weight: &Tensor<2>, ids: &Tensor<2, Int>) -> Option<Tensor<3>> {
    if weight.is_autodiff() || !is_enabled(FusedOp::Lookup) {
        return None;
    }
    flex::padded_lookup(weight, ids)
}

#[cfg(not(feature = "flex"))]
mod flex {
    use burn::prelude::*;

    pub(super) fn padded_lookup(_: &Tensor<2>, _: &Tensor<2, Int>) -> Option<Tensor<3>> {
        None
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, Flex, backend_extension};
    use burn::prelude::*;

    use crate::slices::{dims, gather_rows, on_flex, tensor, values};

    /// Flex only: inference runs without autodiff.
    #[backend_extension(Flex)]
    pub trait PaddedLookup: Backend {
        /// `weight` `[V, D]`, `ids` (row-major `[B, T]`, each below `V`) → `[B, T, D]`, zero
        /// rows where the id is 0.
        fn padded_lookup(
            weight: FloatTensor<Self>,
            ids: Vec<i64>,
            shape: [usize; 2],
        ) -> FloatTensor<Self>;
    }

    impl PaddedLookup for Flex {
        fn padded_lookup(weight: FlexTensor, ids: Vec<i64>, [b, t]: [usize; 2]) -> FlexTensor {
            let [vocab, d] = dims(&weight)[..] else {
                panic!(
                    "padded lookup: weight must be [V, D], got {:?}",
                    dims(&weight)
                )
            };
            assert_eq!(ids.len(), b * t, "padded lookup: ids for [{b}, {t}]");
            let table = values(&weight);
            let row = |id: i64| {
                let id = usize::try_from(id).ok().filter(|&i| i < vocab);
                id.unwrap_or_else(|| panic!("padded lookup: id outside [0, {vocab})"))
            };
            let out = gather_rows(ids.len(), d, |i| match row(ids[i]) {
                0 => None,
                id => Some(&table[id * d..(id + 1) * d]),
            });
            tensor(out, [b, t, d])
        }
    }

    pub(super) fn padded_lookup(weight: &Tensor<2>, ids: &Tensor<2, Int>) -> Option<Tensor<3>> {
        if !on_flex(weight) {
            return None;
        }
        let shape = ids.dims();
        let host = ids
            .clone()
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .ok()?;
        let out =
            <Dispatch as PaddedLookup>::padded_lookup(weight.clone().into_dispatch(), host, shape);
        Some(Tensor::from_dispatch(out))
    }
}
