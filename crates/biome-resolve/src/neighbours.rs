//! Exact nearest neighbours by cosine similarity, in blocks of queries (a small matrix product
//! per block, one block per core).
//!
//! The model's record vectors are the candidates it proposes itself: a duplicate with a typo in
//! every blocking column still lies next to its original. Exact search costs `n_queries × n ×
//! dim` multiply-adds, which is seconds at 10⁴–10⁵ records on a laptop; beyond that an
//! approximate index is the way (not here yet).

use rayon::prelude::*;

/// Row vectors, scaled to unit length (a zero vector stays zero: it is nobody's neighbour).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSet {
    dim: usize,
    data: Vec<f32>,
}

impl VectorSet {
    /// `data` holds `data.len() / dim` rows of `dim` values each.
    ///
    /// # Panics
    /// When `dim` is 0 or does not divide `data.len()` (a caller's bug, not user input).
    pub fn new(dim: usize, mut data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "{} values, dim {dim}",
            data.len()
        );
        for row in data.chunks_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Self { dim, data }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i` (unit length or zero).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Queries scored together against each database row: the database streams through the cache
/// once per block rather than once per query.
const QUERY_BLOCK: usize = 8;

/// The `k` rows of `database` most similar to each row of `queries` (cosine similarity, best
/// first, ties by lower index), as `(row, similarity)`. With `same_set` the two are one table
/// and a row is never its own neighbour.
///
/// # Panics
/// When the two sets have different dimensions.
pub fn nearest_neighbours(
    database: &VectorSet,
    queries: &VectorSet,
    k: usize,
    same_set: bool,
) -> Vec<Vec<(u32, f32)>> {
    assert_eq!(database.dim, queries.dim, "vector dimensions differ");
    let n = database.len();
    let starts: Vec<usize> = (0..queries.len()).step_by(QUERY_BLOCK).collect();
    starts
        .par_iter()
        .flat_map_iter(|&start| {
            let end = (start + QUERY_BLOCK).min(queries.len());
            let mut scores = vec![0f32; (end - start) * n];
            for j in 0..n {
                let d = database.row(j);
                for (qi, q) in (start..end).enumerate() {
                    scores[qi * n + j] = dot(queries.row(q), d);
                }
            }
            (start..end)
                .map(|q| {
                    let row = &scores[(q - start) * n..(q - start + 1) * n];
                    top_k(row, k, same_set.then_some(q))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators: independent chains the compiler vectorises.
    let mut acc = [0f32; 4];
    let (a4, a_rest) = a.split_at(a.len() - a.len() % 4);
    let (b4, b_rest) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + rest
}

/// Best `k` of one row of scores, best first, ties by lower index; `skip` is left out.
fn top_k(scores: &[f32], k: usize, skip: Option<usize>) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..scores.len() as u32)
        .filter(|&j| Some(j as usize) != skip)
        .collect();
    let better = |a: &u32, b: &u32| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    let k = k.min(idx.len());
    if k == 0 {
        return vec![];
    }
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, better);
        idx.truncate(k);
    }
    idx.sort_unstable_by(better);
    idx.into_iter().map(|j| (j, scores[j as usize])).collect()
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

    fn set(rows: &[Vec<f64>]) -> VectorSet {
        let dim = rows[0].len();
        VectorSet::new(dim, rows.iter().flatten().map(|&x| x as f32).collect())
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
