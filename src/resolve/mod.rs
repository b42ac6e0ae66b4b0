//! Entity resolution on whole tables: `biome dedupe` (one table) and `biome link` (two), and
//! `biome encode` (the record vectors).
//!
//! Every record is encoded exactly once; candidate pairs come from the model's own nearest
//! neighbours and from blocking rules on columns (their union); each candidate is scored by the
//! pair head on the two cached vectors (no pair goes through the encoder); pairs at or above the
//! threshold are accepted and clustered into entities. The output folder is written whole or
//! not at all ([`output`]).
//!
//! ```text
//! OUT/pairs.csv      id1,id2,probability   every scored pair ≥ the report floor, best first
//! OUT/clusters.csv   id,cluster_id         every record once (a link: source,id,cluster_id)
//! OUT/links.csv      left_id,right_id,probability   (a link: the accepted matches)
//! OUT/summary.json   counts, threshold, timings, candidate statistics, evaluation
//! ```

pub mod error;
pub mod fields;
pub mod output;
mod run;
pub mod summary;

use std::path::PathBuf;

pub use biome_resolve::{BlockingRule, Clustering, NeighbourIndex};
pub use error::ResolveError;
pub use run::{dedupe, encode_table, link};
pub use summary::ResolveSummary;

/// A table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInput {
    /// CSV, JSON lines or Parquet.
    pub path: PathBuf,
    /// The column of unique record ids.
    pub id_column: String,
    /// Columns that become the model's record fields, in order (`None`: the model's own field
    /// names).
    pub fields: Option<Vec<String>>,
    /// The column of true entity ids, for the evaluation figures.
    pub entity_column: Option<String>,
}

/// How a run proposes, scores, accepts and clusters pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveOptions {
    /// Nearest neighbours per record (0: none, blocking rules only).
    pub neighbours: usize,
    /// Exact or approximate neighbour search, or chosen by the table sizes.
    pub neighbours_index: NeighbourIndex,
    /// Blocking rules; records that agree on all columns of one rule are candidates.
    pub block_on: Vec<BlockingRule>,
    /// Blocks with more records are dropped (and counted in the summary).
    pub max_block_size: usize,
    /// Pairs at or above it are matches (`None`: the model's stored threshold, else 0.5).
    pub threshold: Option<f32>,
    /// The label meaning "same entity" (`None`: the model's `duplicate`/`match`/`1`/`true`).
    pub match_label: Option<String>,
    /// Scored pairs below this probability are left out of `pairs.csv`.
    pub report_floor: f32,
    /// How accepted pairs become clusters.
    pub clustering: Clustering,
    /// Records per encoder batch.
    pub batch_size: usize,
    /// Pairs per scoring batch.
    pub score_batch_size: usize,
    /// A link: each record matched at most once (greedily, strongest first).
    pub one_to_one: bool,
    /// Replace an existing output folder.
    pub overwrite: bool,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        Self {
            neighbours: 10,
            neighbours_index: NeighbourIndex::Auto,
            block_on: vec![],
            max_block_size: 100,
            threshold: None,
            match_label: None,
            report_floor: 0.01,
            clustering: Clustering::AverageLinkage,
            batch_size: 256,
            score_batch_size: 4096,
            one_to_one: false,
            overwrite: false,
            progress: true,
        }
    }
}

impl ResolveOptions {
    fn validate(&self) -> Result<(), ResolveError> {
        let option = |m: String| Err(ResolveError::Option(m));
        if let Some(t) = self.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return option(format!("--threshold {t}: must be between 0 and 1"));
        }
        if !(0.0..=1.0).contains(&self.report_floor) {
            return option(format!(
                "--report-floor {}: must be between 0 and 1",
                self.report_floor
            ));
        }
        if self.neighbours == 0 && self.block_on.is_empty() {
            return option(
                "no candidates: --neighbours is 0 and no --block-on rule is given".into(),
            );
        }
        if self.batch_size == 0 || self.score_batch_size == 0 || self.max_block_size < 2 {
            return option("--batch-size must be positive and --max-block-size at least 2".into());
        }
        Ok(())
    }
}
