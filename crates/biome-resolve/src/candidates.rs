//! The union of the candidate pairs from nearest neighbours and from blocking rules, each pair
//! once, remembering which of the two proposed it (for the statistics).

use std::cmp::Ordering;

use rayon::slice::ParallelSliceMut;

/// Which generator proposed a pair (a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Source(u8);

impl Source {
    /// Among a record's nearest neighbours.
    pub const NEIGHBOURS: Source = Source(1);
    /// In a block of some rule.
    pub const BLOCKING: Source = Source(2);

    /// Whether `other`'s bits are all set here.
    pub fn contains(self, other: Source) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Source {
    type Output = Source;
    fn bitor(self, rhs: Source) -> Source {
        Source(self.0 | rhs.0)
    }
}

/// One candidate pair: records `a` and `b` (a deduplication: `a < b`, both in the one table;
/// a link: `a` on the left, `b` on the right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidatePair {
    /// First record.
    pub a: u32,
    /// Second record.
    pub b: u32,
    /// Who proposed it.
    pub source: Source,
}

/// Candidate pairs, sorted by `(a, b)`, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// The pairs.
    pub pairs: Vec<CandidatePair>,
}

fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

fn sorted_keys(mut keys: Vec<u64>) -> Vec<u64> {
    keys.par_sort_unstable();
    keys.dedup();
    keys
}

impl Candidates {
    /// The union for a deduplication: `neighbours[i]` are record `i`'s neighbours (a pair is
    /// taken in either direction), `blocked` the blocking pairs; self-pairs are dropped.
    pub fn dedupe(neighbours: &[Vec<(u32, f32)>], blocked: Vec<(u32, u32)>) -> Self {
        let near = neighbours
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                let i = i as u32;
                row.iter()
                    .filter(move |(j, _)| *j != i)
                    .map(move |&(j, _)| key(i.min(j), i.max(j)))
            })
            .collect();
        let blocked = blocked
            .into_iter()
            .filter(|(a, b)| a != b)
            .map(|(a, b)| key(a.min(b), a.max(b)))
            .collect();
        Self::union(sorted_keys(near), sorted_keys(blocked))
    }

    /// The union for a link: `neighbours[r]` are the left records nearest right record `r`,
    /// `blocked` the `(left, right)` blocking pairs.
    pub fn link(neighbours: &[Vec<(u32, f32)>], blocked: Vec<(u32, u32)>) -> Self {
        let near = neighbours
            .iter()
            .enumerate()
            .flat_map(|(r, row)| row.iter().map(move |&(l, _)| key(l, r as u32)))
            .collect();
        let blocked = blocked.into_iter().map(|(l, r)| key(l, r)).collect();
        Self::union(sorted_keys(near), sorted_keys(blocked))
    }

    fn union(near: Vec<u64>, blocked: Vec<u64>) -> Self {
        let mut pairs = Vec::with_capacity(near.len().max(blocked.len()));
        let (mut i, mut j) = (0, 0);
        let push = |pairs: &mut Vec<CandidatePair>, k: u64, source| {
            pairs.push(CandidatePair {
                a: (k >> 32) as u32,
                b: k as u32,
                source,
            })
        };
        while i < near.len() || j < blocked.len() {
            let order = match (near.get(i), blocked.get(j)) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    push(&mut pairs, near[i], Source::NEIGHBOURS);
                    i += 1;
                }
                Ordering::Greater => {
                    push(&mut pairs, blocked[j], Source::BLOCKING);
                    j += 1;
                }
                Ordering::Equal => {
                    push(&mut pairs, near[i], Source::NEIGHBOURS | Source::BLOCKING);
                    i += 1;
                    j += 1;
                }
            }
        }
        Self { pairs }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Pairs proposed by `source` (alone or with the other).
    pub fn count(&self, source: Source) -> usize {
        self.pairs
            .iter()
            .filter(|p| p.source.contains(source))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_union_is_symmetric_sorted_once_and_knows_its_sources() {
        let nn = vec![
            vec![(1, 0.9), (2, 0.5)],
            vec![(0, 0.9)],
            vec![(2, 1.0), (3, 0.1)],
            vec![],
        ];
        let c = Candidates::dedupe(&nn, vec![(3, 2), (1, 3), (3, 1)]);
        let got: Vec<(u32, u32, bool, bool)> = c
            .pairs
            .iter()
            .map(|p| {
                (
                    p.a,
                    p.b,
                    p.source.contains(Source::NEIGHBOURS),
                    p.source.contains(Source::BLOCKING),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, true, false),
                (0, 2, true, false),
                (1, 3, false, true),
                (2, 3, true, true),
            ]
        );
        assert_eq!(
            (c.count(Source::NEIGHBOURS), c.count(Source::BLOCKING)),
            (3, 2)
        );
    }

    #[test]
    fn link_pairs_keep_their_sides() {
        let nn = vec![vec![(5, 0.9)], vec![(5, 0.8), (0, 0.1)]];
        let c = Candidates::link(&nn, vec![(0, 1), (2, 0)]);
        let got: Vec<(u32, u32)> = c.pairs.iter().map(|p| (p.a, p.b)).collect();
        assert_eq!(got, vec![(0, 1), (2, 0), (5, 0), (5, 1)]);
        assert_eq!(c.pairs[0].source, Source::NEIGHBOURS | Source::BLOCKING);
    }
}
