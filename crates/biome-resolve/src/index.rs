//! Which neighbour search a run uses: exact while the product of the two table sizes is small
//! enough for it to take seconds, the approximate index beyond (`--neighbours-index`).

use crate::ivf::{IvfParams, approximate_neighbours};
use crate::neighbours::nearest_neighbours;
use crate::vectors::VectorSet;

/// The neighbour search of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeighbourIndex {
    /// Every query against every row.
    Exact,
    /// The inverted file over k-means cells ([`crate::ivf`]).
    Approximate,
    /// Exact up to [`AUTO_EXACT_LIMIT`] query-row pairs, approximate above.
    #[default]
    Auto,
}

/// Query × database pairs up to which `auto` searches exactly: about 31,600 × 31,600 records,
/// some 5 s on two cores. At 10⁵ × 10⁵ the exact search took 55 s and the approximate one 12 s
/// with the same blocking recall within 0.003 (BENCHMARKS.md, "Nearest neighbours").
pub const AUTO_EXACT_LIMIT: u64 = 1_000_000_000;

impl NeighbourIndex {
    /// `exact`, `approximate` or `auto` (a command-line value).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "exact" => Some(Self::Exact),
            "approximate" => Some(Self::Approximate),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }

    /// The search that runs for these sizes (`Exact` or `Approximate`, never `Auto`).
    pub fn resolve(self, database: usize, queries: usize) -> NeighbourIndex {
        match self {
            NeighbourIndex::Auto if (database as u64) * (queries as u64) <= AUTO_EXACT_LIMIT => {
                NeighbourIndex::Exact
            }
            NeighbourIndex::Auto => NeighbourIndex::Approximate,
            other => other,
        }
    }
}

/// Each query's `k` nearest database rows by the chosen search; see [`nearest_neighbours`].
pub fn find_neighbours(
    database: &VectorSet<'_>,
    queries: &VectorSet<'_>,
    k: usize,
    same_set: bool,
    index: NeighbourIndex,
) -> Vec<Vec<(u32, f32)>> {
    match index.resolve(database.len(), queries.len()) {
        NeighbourIndex::Approximate => {
            approximate_neighbours(database, queries, k, same_set, &IvfParams::default())
        }
        _ => nearest_neighbours(database, queries, k, same_set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_exact_up_to_the_limit_and_approximate_above() {
        assert_eq!(
            NeighbourIndex::Auto.resolve(10_000, 100_000),
            NeighbourIndex::Exact
        );
        assert_eq!(
            NeighbourIndex::Auto.resolve(10_001, 100_000),
            NeighbourIndex::Approximate
        );
        assert_eq!(
            NeighbourIndex::Exact.resolve(10_000_000, 10_000_000),
            NeighbourIndex::Exact
        );
        assert_eq!(
            NeighbourIndex::Approximate.resolve(3, 3),
            NeighbourIndex::Approximate
        );
        assert_eq!(
            NeighbourIndex::parse("approximate"),
            Some(NeighbourIndex::Approximate)
        );
        assert_eq!(NeighbourIndex::parse("hnsw"), None);
    }
}
