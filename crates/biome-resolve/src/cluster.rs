//! Accepted pairs into entities.
//!
//! Connected components are the baseline: every accepted pair joins two clusters. One weak link
//! between two large clusters then merges them whole (chaining: A≈B, B≈C, … until two people
//! are one entity). The guard is average linkage, as the `dedupe` library clusters: accepted
//! pairs are taken strongest first, and two clusters merge only when the mean probability over
//! *all* record pairs between them reaches the threshold, a pair that was never scored counting
//! as 0 (it was not even a candidate). Two singletons joined by an accepted pair always merge,
//! so on clean data both methods agree; a bridge between two groups merges them only when most
//! of their cross pairs are matches too.

use std::collections::HashMap;

/// How accepted pairs become clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clustering {
    /// Every accepted pair joins its two clusters.
    Components,
    /// Clusters merge only when their mean cross-pair probability reaches the threshold.
    #[default]
    AverageLinkage,
}

impl Clustering {
    /// `components` or `average`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "components" | "connected_components" => Some(Self::Components),
            "average" | "average_linkage" => Some(Self::AverageLinkage),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Components => "components",
            Self::AverageLinkage => "average",
        }
    }
}

struct Clusters {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Clusters {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            members: (0..n as u32).map(|i| vec![i]).collect(),
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (big, small) = if self.members[a as usize].len() >= self.members[b as usize].len() {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        let moved = std::mem::take(&mut self.members[small as usize]);
        self.members[big as usize].extend(moved);
    }
}

/// Cluster of each of `n` records (numbered by first member in record order: 0, 1, …), from
/// `scored` pairs `(a, b, probability)` (every scored pair, accepted or not: average linkage
/// needs the rejected ones too), accepting pairs with probability ≥ `threshold`.
pub fn cluster_dedupe(
    n: usize,
    scored: &[(u32, u32, f32)],
    threshold: f32,
    method: Clustering,
) -> Vec<u32> {
    let mut adjacency: Vec<Vec<(u32, f32)>> = vec![vec![]; n];
    if method == Clustering::AverageLinkage {
        for &(a, b, p) in scored {
            adjacency[a as usize].push((b, p));
            adjacency[b as usize].push((a, p));
        }
    }
    let mut accepted: Vec<&(u32, u32, f32)> =
        scored.iter().filter(|(_, _, p)| *p >= threshold).collect();
    accepted.sort_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    let mut clusters = Clusters::new(n);
    for &&(a, b, _) in &accepted {
        let (ra, rb) = (clusters.find(a), clusters.find(b));
        if ra == rb {
            continue;
        }
        let merge = match method {
            Clustering::Components => true,
            Clustering::AverageLinkage => {
                let (na, nb) = (
                    clusters.members[ra as usize].len(),
                    clusters.members[rb as usize].len(),
                );
                if na == 1 && nb == 1 {
                    true
                } else {
                    let (small, other) = if na <= nb { (ra, rb) } else { (rb, ra) };
                    let mut sum = 0f64;
                    for x in clusters.members[small as usize].clone() {
                        for &(y, p) in &adjacency[x as usize] {
                            if clusters.find(y) == other {
                                sum += f64::from(p);
                            }
                        }
                    }
                    sum / (na * nb) as f64 >= f64::from(threshold)
                }
            }
        };
        if merge {
            clusters.union(ra, rb);
        }
    }
    let mut numbering: HashMap<u32, u32> = HashMap::new();
    (0..n as u32)
        .map(|i| {
            let root = clusters.find(i);
            let next = numbering.len() as u32;
            *numbering.entry(root).or_insert(next)
        })
        .collect()
}

/// Clusters of a link: records `0..n_left` of the left table then `0..n_right` of the right
/// one, numbered as [`cluster_dedupe`] numbers them over that joint order. `scored` pairs are
/// `(left, right, probability)`.
pub fn cluster_link(
    n_left: usize,
    n_right: usize,
    scored: &[(u32, u32, f32)],
    threshold: f32,
    method: Clustering,
) -> Vec<u32> {
    let joint: Vec<(u32, u32, f32)> = scored
        .iter()
        .map(|&(l, r, p)| (l, n_left as u32 + r, p))
        .collect();
    cluster_dedupe(n_left + n_right, &joint, threshold, method)
}

/// Each right record with at most one left record and the other way round: the accepted pairs
/// (probability ≥ `threshold`) taken greedily, strongest first (ties by lower indices).
pub fn one_to_one(scored: &[(u32, u32, f32)], threshold: f32) -> Vec<(u32, u32, f32)> {
    let mut accepted: Vec<(u32, u32, f32)> = scored
        .iter()
        .copied()
        .filter(|(_, _, p)| *p >= threshold)
        .collect();
    accepted.sort_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    let mut left_used = std::collections::HashSet::new();
    let mut right_used = std::collections::HashSet::new();
    accepted
        .into_iter()
        .filter(|&(l, r, _)| {
            if left_used.contains(&l) || right_used.contains(&r) {
                return false;
            }
            left_used.insert(l);
            right_used.insert(r);
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_join_every_accepted_pair_and_number_clusters_in_record_order() {
        let scored = [(0, 2, 0.9), (2, 4, 0.8), (1, 3, 0.4), (3, 5, 0.7)];
        let c = cluster_dedupe(6, &scored, 0.5, Clustering::Components);
        assert_eq!(c, vec![0, 1, 0, 2, 0, 2]);
    }

    #[test]
    fn average_linkage_refuses_a_weak_bridge_between_two_groups() {
        // Two triangles of strong matches {0,1,2} and {3,4,5}, one accepted bridge 2–3 at 0.6,
        // and the other cross pairs scored low (or not at all).
        let mut scored = vec![
            (0, 1, 0.99),
            (0, 2, 0.98),
            (1, 2, 0.97),
            (3, 4, 0.99),
            (3, 5, 0.98),
            (4, 5, 0.96),
            (2, 3, 0.6),
            (1, 3, 0.1),
        ];
        let cc = cluster_dedupe(6, &scored, 0.5, Clustering::Components);
        assert_eq!(cc, vec![0; 6], "components chain the two groups");
        let avg = cluster_dedupe(6, &scored, 0.5, Clustering::AverageLinkage);
        // mean over the 9 cross pairs: (0.6 + 0.1) / 9 < 0.5
        assert_eq!(avg, vec![0, 0, 0, 1, 1, 1]);
        // When most cross pairs are matches, the groups do merge.
        for (a, b) in [(0, 3), (0, 4), (0, 5), (1, 4), (1, 5), (2, 4), (2, 5)] {
            scored.push((a, b, 0.9));
        }
        let avg = cluster_dedupe(6, &scored, 0.5, Clustering::AverageLinkage);
        assert_eq!(avg, vec![0; 6]);
    }

    #[test]
    fn average_linkage_admits_a_record_that_matches_most_of_a_cluster() {
        // 3 matches 0 and 1 strongly and 2 weakly: mean (0.95 + 0.9 + 0.2) / 3 ≥ 0.5.
        let scored = [
            (0, 1, 0.99),
            (0, 2, 0.98),
            (1, 2, 0.97),
            (0, 3, 0.95),
            (1, 3, 0.9),
            (2, 3, 0.2),
        ];
        let avg = cluster_dedupe(4, &scored, 0.5, Clustering::AverageLinkage);
        assert_eq!(avg, vec![0; 4]);
    }

    #[test]
    fn link_clusters_span_both_tables_and_one_to_one_takes_the_strongest() {
        let scored = [(0, 0, 0.9), (0, 1, 0.8), (1, 1, 0.7), (2, 2, 0.3)];
        let c = cluster_link(3, 3, &scored, 0.5, Clustering::Components);
        // left 0,1,2 then right 0,1,2: {L0, L1, R0, R1}, {L2}, {R2}
        assert_eq!(c, vec![0, 0, 1, 0, 0, 2]);
        assert_eq!(one_to_one(&scored, 0.5), vec![(0, 0, 0.9), (1, 1, 0.7)]);
    }

    #[test]
    fn names_round_trip() {
        for m in [Clustering::Components, Clustering::AverageLinkage] {
            assert_eq!(Clustering::parse(m.name()), Some(m));
        }
        assert_eq!(Clustering::parse("single"), None);
    }
}
