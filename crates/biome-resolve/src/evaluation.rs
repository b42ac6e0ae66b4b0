//! Pairwise figures against true entity ids (given as small integers, one per record).
//!
//! A deduplication's true pairs are all pairs of records of one entity; a link's are the
//! (left, right) pairs of one entity. Cluster figures count all within-cluster pairs against
//! all within-entity pairs (for a link: the left–right ones), from the contingency table, so
//! they need no pair enumeration however large the clusters.

use std::collections::HashMap;

use serde::Serialize;

/// Counts of a set of predicted pairs against the true pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PairCounts {
    /// True pairs in all.
    pub true_pairs: u64,
    /// Pairs predicted.
    pub predicted: u64,
    /// Predicted pairs that are true.
    pub correct: u64,
}

/// Precision, recall and F1 (0 where undefined), with the counts they come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    /// `correct / predicted`.
    pub precision: f64,
    /// `correct / true_pairs`.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// The counts.
    #[serde(flatten)]
    pub counts: PairCounts,
}

impl PairCounts {
    /// The figures.
    pub fn scores(self) -> Scores {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(self.correct, self.predicted);
        let recall = ratio(self.correct, self.true_pairs);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Scores {
            precision,
            recall,
            f1,
            counts: self,
        }
    }
}

fn choose2(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn sizes(ids: impl IntoIterator<Item = u32>) -> HashMap<u32, u64> {
    let mut sizes = HashMap::new();
    for id in ids {
        *sizes.entry(id).or_insert(0) += 1;
    }
    sizes
}

/// Pairs of records of one entity in a table.
pub fn true_pair_count(entities: &[u32]) -> u64 {
    sizes(entities.iter().copied())
        .into_values()
        .map(choose2)
        .sum()
}

/// (left, right) pairs of one entity across two tables.
pub fn true_link_count(left: &[u32], right: &[u32]) -> u64 {
    let l = sizes(left.iter().copied());
    sizes(right.iter().copied())
        .into_iter()
        .map(|(e, n)| n * l.get(&e).copied().unwrap_or(0))
        .sum()
}

/// Predicted deduplication `pairs` (each once) against the entities.
pub fn pair_scores(pairs: impl IntoIterator<Item = (u32, u32)>, entities: &[u32]) -> Scores {
    let mut counts = PairCounts {
        true_pairs: true_pair_count(entities),
        ..Default::default()
    };
    for (a, b) in pairs {
        counts.predicted += 1;
        counts.correct += u64::from(entities[a as usize] == entities[b as usize]);
    }
    counts.scores()
}

/// Predicted link `pairs` `(left, right)` (each once) against the entities of both tables.
pub fn link_pair_scores(
    pairs: impl IntoIterator<Item = (u32, u32)>,
    left: &[u32],
    right: &[u32],
) -> Scores {
    let mut counts = PairCounts {
        true_pairs: true_link_count(left, right),
        ..Default::default()
    };
    for (l, r) in pairs {
        counts.predicted += 1;
        counts.correct += u64::from(left[l as usize] == right[r as usize]);
    }
    counts.scores()
}

/// Within-cluster pairs against within-entity pairs.
pub fn cluster_scores(clusters: &[u32], entities: &[u32]) -> Scores {
    assert_eq!(clusters.len(), entities.len());
    let cells = sizes_of_pairs(clusters.iter().copied().zip(entities.iter().copied()));
    PairCounts {
        true_pairs: true_pair_count(entities),
        predicted: true_pair_count(clusters),
        correct: cells.into_values().map(choose2).sum(),
    }
    .scores()
}

/// Within-cluster left–right pairs against within-entity left–right pairs; `clusters_*` number
/// the clusters of both tables on one scale.
pub fn link_cluster_scores(
    clusters_left: &[u32],
    clusters_right: &[u32],
    left: &[u32],
    right: &[u32],
) -> Scores {
    let cell_left = sizes_of_pairs(clusters_left.iter().copied().zip(left.iter().copied()));
    let cell_right = sizes_of_pairs(clusters_right.iter().copied().zip(right.iter().copied()));
    let correct = cell_right
        .iter()
        .map(|(cell, n)| n * cell_left.get(cell).copied().unwrap_or(0))
        .sum();
    PairCounts {
        true_pairs: true_link_count(left, right),
        predicted: true_link_count(clusters_left, clusters_right),
        correct,
    }
    .scores()
}

fn sizes_of_pairs(cells: impl IntoIterator<Item = (u32, u32)>) -> HashMap<(u32, u32), u64> {
    let mut sizes = HashMap::new();
    for cell in cells {
        *sizes.entry(cell).or_insert(0) += 1;
    }
    sizes
}

/// Cluster size → number of clusters of that size.
pub fn size_distribution(clusters: &[u32]) -> std::collections::BTreeMap<u64, u64> {
    let mut out = std::collections::BTreeMap::new();
    for n in sizes(clusters.iter().copied()).into_values() {
        *out.entry(n).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enumerates every pair: the definition the contingency sums must equal.
    fn brute(clusters: &[u32], entities: &[u32]) -> PairCounts {
        let mut c = PairCounts::default();
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                let t = entities[i] == entities[j];
                let p = clusters[i] == clusters[j];
                c.true_pairs += u64::from(t);
                c.predicted += u64::from(p);
                c.correct += u64::from(t && p);
            }
        }
        c
    }

    #[test]
    fn cluster_figures_equal_pair_enumeration() {
        let entities = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3];
        let clusters = [0, 0, 1, 1, 1, 2, 3, 3, 4, 4];
        let s = cluster_scores(&clusters, &entities);
        assert_eq!(s.counts, brute(&clusters, &entities));
        // by hand: true 3+1+0+6 = 10; predicted 1+3+0+1+1 = 6; correct (0,1),(3,4),(6,7),(8,9) = 4
        assert_eq!(
            s.counts,
            PairCounts {
                true_pairs: 10,
                predicted: 6,
                correct: 4
            }
        );
        assert!((s.precision - 4.0 / 6.0).abs() < 1e-12);
        assert!((s.recall - 0.4).abs() < 1e-12);
        assert!((s.f1 - 2.0 * (4.0 / 6.0) * 0.4 / (4.0 / 6.0 + 0.4)).abs() < 1e-12);
    }

    #[test]
    fn link_figures_count_left_right_pairs_only() {
        let left = [0, 1, 2];
        let right = [0, 0, 5];
        assert_eq!(true_link_count(&left, &right), 2);
        let s = link_pair_scores([(0, 0), (0, 1), (1, 2)], &left, &right);
        assert_eq!(
            (s.counts.correct, s.counts.predicted, s.counts.true_pairs),
            (2, 3, 2)
        );
        // clusters: {L0, R0}, {L1, R1}, {L2}, {R2}
        let c = link_cluster_scores(&[0, 1, 2], &[0, 1, 3], &left, &right);
        assert_eq!(
            (c.counts.correct, c.counts.predicted, c.counts.true_pairs),
            (1, 2, 2)
        );
    }

    #[test]
    fn pair_figures_and_empty_predictions() {
        let entities = [7, 7, 8, 8];
        let s = pair_scores([(0, 1), (1, 2)], &entities);
        assert_eq!((s.precision, s.recall), (0.5, 0.5));
        let none = pair_scores([], &entities);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
        assert_eq!(
            size_distribution(&[0, 0, 1, 2, 2, 2]),
            [(1, 1), (2, 1), (3, 1)].into()
        );
    }
}
