//! `POST /match`: one record against the record index (`--index`, written by `biome index`).
//!
//! The batch worker that owns the model also owns the index (so a reload loads both, and the
//! index is checked against exactly the model that serves it). A match encodes the record,
//! takes its `top_k` nearest indexed vectors by cosine similarity (exact search: one query
//! against 10⁵ vectors of 128 values is 13 M multiply-adds, milliseconds; BENCHMARKS.md), and
//! scores each candidate pair with the pair head on the vectors, both orders averaged, exactly
//! as `biome dedupe` scores a pair. Every candidate is returned, best first, with `match` saying
//! whether it reaches the model's threshold: a caller asking "is this customer already in the
//! database" wants the near misses too, and can filter on the flag.

use std::path::{Path, PathBuf};

use biome_core::Record;
use biome_resolve::{VectorSet, nearest_neighbours};
use serde::Serialize;

use crate::error::{BiomeError, Result};
use crate::match_label::match_label;
use crate::pipeline::Pipeline;
use crate::resolve::index::{ModelCheck, load_index, model_fingerprint};

/// Default `top_k` of a `/match` request.
pub const DEFAULT_TOP_K: usize = 10;
/// Largest `top_k` a `/match` request may ask for: each candidate costs a pair-head run, and
/// past a few dozen the candidates are far from the record anyway.
pub const MAX_TOP_K: usize = 100;

/// What `GET /model` shows of the index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    /// The index file.
    pub path: PathBuf,
    /// Records in it.
    pub records: usize,
    /// Values per vector.
    pub dim: usize,
    /// The table it was built from.
    pub source: String,
    /// The label whose probability a match reports.
    pub match_label: String,
    /// Probabilities at or above it are flagged `match`.
    pub threshold: f32,
    /// Where the threshold comes from.
    pub threshold_from: String,
}

/// One candidate of a `/match` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The indexed record's id.
    pub id: String,
    /// The pair head's probability of the match label (both orders averaged, as dedupe).
    pub probability: f32,
    /// Cosine similarity of the two record vectors (what chose the candidate).
    pub similarity: f32,
    /// Whether `probability` reaches the threshold.
    #[serde(rename = "match")]
    pub is_match: bool,
}

/// The answer to a `/match` request (serialised as it is: a `serde_json::Value` would print
/// the `f32` probabilities with `f64` digits).
#[derive(Debug, Clone, Serialize)]
pub struct MatchAnswer<'a> {
    /// The candidates, best probability first.
    pub matches: &'a [Match],
    /// The label whose probability is reported.
    pub match_label: &'a str,
    /// The threshold of the `match` flags.
    pub threshold: f32,
    /// Records in the index.
    pub index_records: usize,
}

/// The index of a serving model, with what scoring needs.
pub(crate) struct Matcher {
    ids: Vec<String>,
    vectors: VectorSet<'static>,
    match_index: usize,
    classes: usize,
    pub info: IndexInfo,
}

impl Matcher {
    /// Load `path` and check it against the model in `model_dir` (loaded as `pipeline`): same
    /// fingerprint, same vector size; the model must have a match label.
    pub fn load(path: &Path, model_dir: &Path, pipeline: &Pipeline) -> Result<Matcher> {
        let labels = pipeline.labels();
        let match_index = match_label(&labels, None)?;
        let fingerprint = model_fingerprint(model_dir)?;
        let dim = pipeline.config().model.validate()?;
        let index = load_index(
            path,
            Some(ModelCheck {
                dir: model_dir,
                fingerprint: &fingerprint,
                dim,
            }),
        )?;
        let label = &labels[match_index];
        let (threshold, threshold_from) = crate::threshold::for_label(model_dir, label)?;
        let info = IndexInfo {
            path: path.to_path_buf(),
            records: index.len(),
            dim,
            source: index.header.source.clone(),
            match_label: label.clone(),
            threshold,
            threshold_from,
        };
        Ok(Matcher {
            vectors: VectorSet::new(dim, index.vectors),
            ids: index.header.ids,
            match_index,
            classes: labels.len(),
            info,
        })
    }

    /// The `top_k` indexed records nearest to `record`, scored, best probability first (ties:
    /// the nearer first).
    pub fn find(&self, pipeline: &Pipeline, record: &Record, top_k: usize) -> Result<Vec<Match>> {
        let dim = self.vectors.dim();
        let query = pipeline.encode_records(std::slice::from_ref(record), 1, &|_| {})?;
        if query.dim != dim {
            return Err(BiomeError::Invalid(format!(
                "the model encoded a vector of {} values for an index of {dim}",
                query.dim
            )));
        }
        let queries = VectorSet::new(dim, query.data.as_slice());
        let found = nearest_neighbours(&self.vectors, &queries, top_k, false)
            .pop()
            .unwrap_or_default();
        let k = found.len();
        if k == 0 {
            return Ok(vec![]);
        }
        // Rows 0..k: (record, candidate); rows k..2k: (candidate, record).
        let mut u = Vec::with_capacity(2 * k * dim);
        let mut v = Vec::with_capacity(2 * k * dim);
        for _ in 0..k {
            u.extend_from_slice(&query.data);
        }
        for &(row, _) in &found {
            let candidate = self.vectors.row(row as usize);
            u.extend_from_slice(candidate);
            v.extend_from_slice(candidate);
        }
        for _ in 0..k {
            v.extend_from_slice(&query.data);
        }
        let probs = pipeline.score_encoded(&u, &v, dim)?;
        let at = |row: usize| probs[row * self.classes + self.match_index];
        let mut matches: Vec<Match> = found
            .iter()
            .enumerate()
            .map(|(i, &(row, similarity))| {
                // The same sum as dedupe's: (s(a, b) + s(b, a)) / 2 with one of them the record.
                let probability = (at(i) + at(k + i)) / 2.0;
                Match {
                    id: self.ids[row as usize].clone(),
                    probability,
                    similarity,
                    is_match: probability >= self.info.threshold,
                }
            })
            .collect();
        // Stable: equal probabilities keep the neighbour order.
        matches.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        Ok(matches)
    }
}
