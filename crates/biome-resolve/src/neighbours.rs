//! Exact nearest neighbours by cosine similarity: blocks of queries against tiles of the
//! database, each pair of blocks one GEMM ([`dot_block`]), every similarity offered to the
//! query's running top-k. One query block per core.
//!
//! Exact search costs `n_queries × n × dim` multiply-adds: 55 s at 10⁵ records of 128 values
//! on two cores (BENCHMARKS.md; 217 s with one dot product at a time), so beyond a few 10⁴
//! records the approximate index ([`crate::ivf`]) takes over.

use rayon::prelude::*;

use crate::similarity::dot_block;
use crate::top_k::TopK;
use crate::vectors::VectorSet;

/// Queries per block: the database tile streams through the cache once per block.
const QUERY_BLOCK: usize = 64;
/// Database rows per tile: a tile of 128-value rows (256 KiB) and the block's scores stay in
/// the second-level cache.
const DATABASE_TILE: usize = 512;

/// The `k` rows of `database` most similar to each row of `queries` (cosine similarity, best
/// first, ties by lower index), as `(row, similarity)`. With `same_set` the two are one table
/// and a row is never its own neighbour.
///
/// # Panics
/// When the two sets have different dimensions.
pub fn nearest_neighbours(
    database: &VectorSet<'_>,
    queries: &VectorSet<'_>,
    k: usize,
    same_set: bool,
) -> Vec<Vec<(u32, f32)>> {
    assert_eq!(database.dim(), queries.dim(), "vector dimensions differ");
    let (n, dim) = (database.len(), database.dim());
    let starts: Vec<usize> = (0..queries.len()).step_by(QUERY_BLOCK).collect();
    starts
        .par_iter()
        .flat_map_iter(|&start| {
            let end = (start + QUERY_BLOCK).min(queries.len());
            let mut best: Vec<TopK> = (start..end).map(|_| TopK::new(k)).collect();
            let mut scores = vec![0f32; (end - start) * DATABASE_TILE];
            let block = queries.rows(start, end);
            for tile in (0..n).step_by(DATABASE_TILE) {
                let tile_end = (tile + DATABASE_TILE).min(n);
                let width = tile_end - tile;
                dot_block(
                    &mut scores,
                    block,
                    database.rows(tile, tile_end),
                    [end - start, width, dim],
                );
                for (qi, top) in best.iter_mut().enumerate() {
                    let q = start + qi;
                    let row = &scores[qi * width..(qi + 1) * width];
                    for (jj, &s) in row.iter().enumerate() {
                        let j = tile + jj;
                        if same_set && j == q {
                            continue;
                        }
                        top.offer(j as u32, s * database.inverse_norm(j));
                    }
                }
            }
            best.into_iter()
                .enumerate()
                .map(|(qi, top)| top.into_sorted(queries.inverse_norm(start + qi)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Brute force in f64 with a full sort: the reference.
    fn reference(db: &[Vec<f64>], q: &[Vec<f64>], k: usize, same: bool) -> Vec<Vec<u32>> {
        let unit = |v: &Vec<f64>| {
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<_>>()
        };
        q.iter()
            .enumerate()
            .map(|(qi, qv)| {
                let qv = unit(qv);
                let mut s: Vec<(u32, f64)> = db
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| !(same && *j == qi))
                    .map(|(j, d)| (j as u32, unit(d).iter().zip(&qv).map(|(a, b)| a * b).sum()))
                    .collect();
                s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                s.into_iter().take(k).map(|(j, _)| j).collect()
            })
            .collect()
    }

    fn random(n: usize, dim: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect()
    }

    fn set(rows: &[Vec<f64>]) -> VectorSet<'static> {
        let dim = rows[0].len();
        VectorSet::new(
            dim,
            rows.iter().flatten().map(|&x| x as f32).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn equals_a_brute_force_reference_within_one_table_and_across_two() {
        let mut rng = StdRng::seed_from_u64(5);
        for (n, m, dim, k) in [(37, 37, 5, 4), (50, 13, 9, 7), (3, 20, 2, 5)] {
            let db = random(n, dim, &mut rng);
            let same = n == m;
            let q = if same {
                db.clone()
            } else {
                random(m, dim, &mut rng)
            };
            let got: Vec<Vec<u32>> = nearest_neighbours(&set(&db), &set(&q), k, same)
                .into_iter()
                .map(|r| r.into_iter().map(|(j, _)| j).collect())
                .collect();
            assert_eq!(
                got,
                reference(&db, &q, k, same),
                "n {n} m {m} dim {dim} k {k}"
            );
        }
    }

    #[test]
    fn a_row_is_not_its_own_neighbour_and_similarities_are_cosines() {
        let db = set(&[vec![1.0, 0.0], vec![2.0, 0.0], vec![0.0, 3.0]]);
        let nn = nearest_neighbours(&db, &db, 5, true);
        assert_eq!(nn[0], vec![(1, 1.0), (2, 0.0)]);
        assert_eq!(nn[2].len(), 2);
        assert!(
            nn.iter()
                .enumerate()
                .all(|(i, r)| r.iter().all(|&(j, _)| j as usize != i))
        );
    }

    #[test]
    fn k_zero_and_empty_database_give_no_neighbours() {
        let db = set(&[vec![1.0, 0.0]]);
        assert_eq!(nearest_neighbours(&db, &db, 0, false), vec![vec![]]);
        assert_eq!(nearest_neighbours(&db, &db, 3, true), vec![vec![]]);
    }
}
