//! biome-resolve: from record vectors and column values to entities, with no neural code.
//!
//! A table's records are encoded once by the model (elsewhere); this crate takes it from there:
//!
//! - [`neighbours`]: each record's nearest neighbours among the record vectors (cosine), the
//!   candidates the model itself proposes, exactly; [`ivf`]: the same, approximately, for
//!   large tables (an inverted file over k-means cells); [`index`]: which of the two runs;
//! - [`blocking`]: classic blocking rules on column values (records that agree exactly on all
//!   columns of a rule), with a cap on block sizes that reports what it dropped;
//! - [`candidates`]: the union of both, remembering where each pair came from;
//! - [`cluster`]: accepted pairs into entities, by connected components or with a guard
//!   against chaining;
//! - [`evaluation`]: blocking recall, reduction ratio and pairwise precision / recall / F1 of
//!   pairs and clusters against true entity ids.
//!
//! Records are numbered `0..n` in table order; a pair `(a, b)` of a deduplication has `a < b`;
//! a pair of a link is `(left, right)`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocking;
pub mod candidates;
pub mod cluster;
pub mod evaluation;
pub mod index;
pub mod ivf;
pub mod neighbours;
pub mod similarity;
pub mod top_k;
pub mod vectors;

pub use blocking::{BlockingRule, BlockingStats, block_keys, dedupe_pairs, link_pairs};
pub use candidates::{CandidatePair, Candidates, Source};
pub use cluster::{Clustering, cluster_dedupe, cluster_link, one_to_one};
pub use evaluation::{
    PairCounts, Scores, cluster_scores, link_cluster_scores, link_pair_scores, pair_scores,
    size_distribution, true_link_count, true_pair_count,
};
pub use index::{NeighbourIndex, find_neighbours};
pub use ivf::{IvfParams, approximate_neighbours};
pub use neighbours::nearest_neighbours;
pub use vectors::VectorSet;
