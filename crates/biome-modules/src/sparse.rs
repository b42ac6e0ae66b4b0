//! Row-wise ("sparse") embedding gradients: the record of the lookups of `sparse: true`
//! embeddings during a training forward pass.
//!
//! A sparse [`crate::WordEmbedding`] on an autodiff device does not differentiate through its
//! whole `[vocab, dim]` table. Each lookup gathers the batch's unique ids `U` once (host side),
//! copies those rows out of the (detached) table into a fresh gradient leaf `rows = weight[U]`
//! and embeds from it, so the backward pass only builds a `[|U|, dim]` gradient and the table
//! itself gets none. The lookup is recorded here (per thread); after `backward` the trainer
//! takes the records of its model ([`take_lookups`]), reads each leaf's gradient and applies a
//! row-wise optimizer update to the rows `U` (the root crate's `SparseAdam`).

use std::cell::RefCell;

use burn::module::ParamId;
use burn::prelude::*;

/// One lookup of a sparse embedding table.
#[derive(Debug, Clone)]
pub struct SparseLookup {
    /// The table parameter.
    pub param: ParamId,
    /// The distinct row ids gathered, ascending.
    pub ids: Vec<i64>,
    /// `[ids.len(), dim]`: the gradient leaf holding `weight[ids]`.
    pub rows: Tensor<2>,
}

thread_local! {
    static LOOKUPS: RefCell<Vec<SparseLookup>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn record(lookup: SparseLookup) {
    LOOKUPS.with(|l| l.borrow_mut().push(lookup));
}

/// Remove and return this thread's recorded lookups of the tables in `params` (in recording
/// order); lookups of other tables are kept.
pub fn take_lookups(params: &[ParamId]) -> Vec<SparseLookup> {
    LOOKUPS.with(|l| {
        let mut all = l.borrow_mut();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|x| params.contains(&x.param));
        *all = rest;
        mine
    })
}

/// Forget every lookup recorded on this thread (e.g. after a forward pass without backward).
pub fn clear_lookups() {
    LOOKUPS.with(|l| l.borrow_mut().clear());
}

/// The distinct values of `ids` (ascending) and, for each id, its position among them.
pub fn unique_ids(ids: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let local = ids
        .iter()
        .map(|id| unique.binary_search(id).expect("id is in its own set") as i64)
        .collect();
    (unique, local)
}
