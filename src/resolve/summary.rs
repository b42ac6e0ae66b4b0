//! `summary.json`: what a run read, proposed, scored, accepted and clustered, how long each
//! phase took, and (given true entity ids) how good it was.

use std::collections::BTreeMap;

use biome_resolve::{BlockingStats, Scores};
use serde::Serialize;

/// The whole summary.
#[derive(Debug, Clone, Serialize)]
pub struct ResolveSummary {
    /// `dedupe` or `link`.
    pub command: String,
    /// The model folder.
    pub model: String,
    /// The tables read (one for a deduplication; left then right for a link).
    pub tables: Vec<TableSummary>,
    /// The label whose probability is the match probability.
    pub match_label: String,
    /// Pairs at or above it are accepted.
    pub threshold: f32,
    /// Where the threshold came from.
    pub threshold_from: String,
    /// `average` or `components`.
    pub clustering: String,
    /// Candidate generation.
    pub candidates: CandidateSummary,
    /// Pairs scored (every candidate).
    pub scored_pairs: usize,
    /// Pairs written to `pairs.csv` (probability at or above the floor).
    pub reported_pairs: usize,
    /// The report floor.
    pub report_floor: f32,
    /// Pairs at or above the threshold.
    pub accepted_pairs: usize,
    /// A link's accepted matches as written to `links.csv` (after `--one-to-one`, if given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<usize>,
    /// Clusters, singletons included.
    pub clusters: usize,
    /// Cluster size → number of clusters.
    pub cluster_sizes: BTreeMap<u64, u64>,
    /// Seconds per phase.
    pub seconds: Timings,
    /// Figures against the true entities (with `--entity-column`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

/// One input table.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    /// The file.
    pub source: String,
    /// Records read.
    pub records: usize,
    /// The columns read as the model's fields, in order.
    pub fields: Vec<String>,
}

/// Where the candidates came from.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateSummary {
    /// Neighbours asked per record (`--neighbours`).
    pub neighbours: usize,
    /// The neighbour search that ran (`exact` or `approximate`; `--neighbours-index auto`
    /// chooses by the table sizes).
    pub neighbours_index: biome_resolve::NeighbourIndex,
    /// Blocks larger than this were dropped (`--max-block-size`).
    pub max_block_size: usize,
    /// Candidate pairs (the union).
    pub pairs: usize,
    /// Pairs per record (a link: per right record).
    pub per_record: f64,
    /// Pairs proposed by the nearest neighbours.
    pub from_neighbours: usize,
    /// Pairs proposed by a blocking rule.
    pub from_blocking: usize,
    /// Pairs proposed by both.
    pub from_both: usize,
    /// Each rule's own figures.
    pub rules: Vec<BlockingStats>,
}

/// Seconds per phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Loading the model.
    pub load_model: f64,
    /// Reading the tables.
    pub read: f64,
    /// Encoding every record once.
    pub encode: f64,
    /// Nearest neighbours and blocking.
    pub candidates: f64,
    /// The pair head on every candidate.
    pub score: f64,
    /// Thresholding and clustering.
    pub cluster: f64,
    /// Writing the output folder.
    pub write: f64,
    /// From start to end.
    pub total: f64,
}

/// Figures against the true entities.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The column holding the true entity ids.
    pub entity_column: String,
    /// Distinct entities.
    pub entities: usize,
    /// Matching pairs (same entity; a link: left–right).
    pub true_pairs: u64,
    /// All possible pairs (n(n−1)/2; a link: left × right).
    pub possible_pairs: u64,
    /// Share of the true pairs among the candidates.
    pub blocking_recall: f64,
    /// … among the nearest-neighbour candidates alone.
    pub blocking_recall_neighbours: f64,
    /// … among the blocking-rule candidates alone.
    pub blocking_recall_rules: f64,
    /// 1 − candidates / possible pairs.
    pub reduction_ratio: f64,
    /// The accepted pairs against the true pairs.
    pub pairs: Scores,
    /// Within-cluster pairs against within-entity pairs (the clustering used).
    pub clusters: Scores,
    /// The same with plain connected components, for comparison.
    pub clusters_connected_components: Scores,
    /// The same with average linkage, for comparison.
    pub clusters_average_linkage: Scores,
    /// Entity size → number of entities.
    pub entity_sizes: BTreeMap<u64, u64>,
}
