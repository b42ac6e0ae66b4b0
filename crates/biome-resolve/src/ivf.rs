//! Approximate nearest neighbours: an inverted file over k-means cells (IVF-flat), searched
//! with the same GEMM blocks as the exact search.
//!
//! The database rows are clustered into `cells` by spherical k-means on a sample; every row is
//! stored, as a unit vector, in its nearest cell's contiguous run. Each query is searched
//! exactly against the `probes` cells whose centroids lie nearest it; each cell is searched in
//! one GEMM against all the queries (of a batch) that probe it, and each query's answers from
//! its cells are merged. Cost: `n_queries × probes × n / cells × dim`, against
//! `n_queries × n × dim` for the exact search; recall against the exact top-k is measured in
//! BENCHMARKS.md ("Nearest neighbours") and held above a bound by this module's tests.
//!
//! Chosen over HNSW crates because it needs no new dependency, builds in a few GEMMs (an HNSW
//! graph is built by one query per inserted row) and its work is the dense blocked product the
//! CPU is fastest at.

use rayon::prelude::*;

use crate::similarity::dot_block;
use crate::top_k::TopK;
use crate::vectors::VectorSet;

/// How the index is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// Database rows per cell on average (the number of cells is `n / cell_size`, at least 1).
    pub cell_size: usize,
    /// Cells searched per query group, its own included.
    pub probes: usize,
    /// k-means rounds.
    pub iterations: usize,
    /// Sampled rows per cell for k-means.
    pub sample_per_cell: usize,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            cell_size: 256,
            probes: 16,
            iterations: 5,
            sample_per_cell: 16,
        }
    }
}

/// Rows (unit vectors) grouped by cell.
struct Cells {
    /// Unit centroids, `[cells, dim]`.
    centroids: Vec<f32>,
    /// `offsets[c]..offsets[c + 1]` are cell `c`'s positions in `rows`/`ids`.
    offsets: Vec<usize>,
    /// The database row of each position.
    ids: Vec<u32>,
    /// Unit vectors in cell order, `[n, dim]`.
    rows: Vec<f32>,
}

impl Cells {
    fn count(&self) -> usize {
        self.offsets.len() - 1
    }

    fn range(&self, c: usize) -> (usize, usize) {
        (self.offsets[c], self.offsets[c + 1])
    }
}

fn unit_rows(set: &VectorSet<'_>, rows: impl Iterator<Item = usize>) -> Vec<f32> {
    rows.flat_map(|i| set.unit_row(i)).collect()
}

fn normalise(rows: &mut [f32], dim: usize) {
    for row in rows.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

/// Each packed unit row's `probes` nearest cells, best first (ties by lower cell), flat:
/// `probes` entries per row (`probes` at most the number of cells). In parallel blocks, one
/// GEMM against the centroids each. A row whose scores are not all numbers has its list
/// completed by the lowest cells not in it, so every list has `probes` distinct cells.
fn nearest_cells(rows: &[f32], centroids: &[f32], dim: usize, probes: usize) -> Vec<u32> {
    const BLOCK: usize = 256;
    let cells = centroids.len() / dim;
    debug_assert!((1..=cells).contains(&probes));
    rows.par_chunks(BLOCK * dim)
        .flat_map_iter(|block| {
            let m = block.len() / dim;
            let mut scores = vec![0f32; m * cells];
            dot_block(&mut scores, block, centroids, [m, cells, dim]);
            let mut out = Vec::with_capacity(m * probes);
            for row in scores.chunks(cells) {
                let from = out.len();
                if probes == 1 {
                    let mut best = 0;
                    for (c, &s) in row.iter().enumerate() {
                        if s > row[best] {
                            best = c;
                        }
                    }
                    out.push(best as u32);
                    continue;
                }
                let mut top = TopK::new(probes);
                for (c, &s) in row.iter().enumerate() {
                    top.offer(c as u32, s);
                }
                out.extend(top.into_sorted(1.0).into_iter().map(|(c, _)| c));
                let mut c = 0u32;
                while out.len() - from < probes {
                    if !out[from..].contains(&c) {
                        out.push(c);
                    }
                    c += 1;
                }
            }
            out
        })
        .collect()
}

/// Spherical k-means on an evenly spaced sample, then every row into its nearest cell. With
/// `probes`, also every row's `probes` nearest cells (the first is its own): a deduplication's
/// queries are the database rows, so their probes come from the one assignment pass.
fn build(
    database: &VectorSet<'_>,
    params: &IvfParams,
    probes: Option<usize>,
) -> (Cells, Option<Vec<u32>>) {
    let (n, dim) = (database.len(), database.dim());
    let cells = (n / params.cell_size.max(1)).clamp(1, n.max(1));
    let sample_len = (cells * params.sample_per_cell.max(1)).min(n);
    let sample = unit_rows(database, (0..sample_len).map(|i| i * n / sample_len));
    // Starting centroids: evenly spaced sample rows.
    let mut centroids: Vec<f32> = (0..cells)
        .flat_map(|c| {
            let i = c * sample_len / cells;
            sample[i * dim..(i + 1) * dim].iter().copied()
        })
        .collect();
    for _ in 0..params.iterations {
        let assigned = nearest_cells(&sample, &centroids, dim, 1);
        let mut sums = vec![0f32; cells * dim];
        let mut counts = vec![0usize; cells];
        for (row, &c) in sample.chunks(dim).zip(&assigned) {
            let c = c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row) {
                *s += x;
            }
        }
        for c in 0..cells {
            // An empty cell keeps its centroid.
            if counts[c] > 0 {
                centroids[c * dim..(c + 1) * dim].copy_from_slice(&sums[c * dim..(c + 1) * dim]);
            }
        }
        normalise(&mut centroids, dim);
    }
    drop(sample);
    // Every row into its cell, in blocks (never the whole unit table twice).
    const ASSIGN_BLOCK: usize = 1 << 14;
    let mut cell_of = Vec::with_capacity(n);
    let mut probed = probes.map(|p| Vec::with_capacity(n * p.clamp(1, cells)));
    for start in (0..n).step_by(ASSIGN_BLOCK) {
        let end = (start + ASSIGN_BLOCK).min(n);
        let block = unit_rows(database, start..end);
        match (&mut probed, probes) {
            (Some(lists), Some(p)) => {
                let p = p.clamp(1, cells);
                let nearest = nearest_cells(&block, &centroids, dim, p);
                cell_of.extend(nearest.iter().step_by(p));
                lists.extend(nearest);
            }
            _ => cell_of.extend(nearest_cells(&block, &centroids, dim, 1)),
        }
    }
    let mut offsets = vec![0usize; cells + 1];
    for &c in &cell_of {
        offsets[c as usize + 1] += 1;
    }
    for c in 0..cells {
        offsets[c + 1] += offsets[c];
    }
    let mut next = offsets.clone();
    let mut ids = vec![0u32; n];
    for (i, &c) in cell_of.iter().enumerate() {
        ids[next[c as usize]] = i as u32;
        next[c as usize] += 1;
    }
    let rows = unit_rows(database, ids.iter().map(|&i| i as usize));
    let cells = Cells {
        centroids,
        offsets,
        ids,
        rows,
    };
    (cells, probed)
}

/// Queries whose probes are inverted at once (bounds the per-cell answers held for merging).
const QUERY_BATCH: usize = 1 << 15;

/// An unfilled answer slot (a cell with fewer than `k` other rows).
const EMPTY: (u32, f32) = (u32::MAX, f32::NEG_INFINITY);

/// The (approximately) `k` rows of `database` most similar to each row of `queries`, as
/// [`crate::nearest_neighbours`] answers exactly: `(row, cosine)`, best first; with
/// `same_set` a row is never its own neighbour.
///
/// # Panics
/// When the two sets have different dimensions.
pub fn approximate_neighbours(
    database: &VectorSet<'_>,
    queries: &VectorSet<'_>,
    k: usize,
    same_set: bool,
    params: &IvfParams,
) -> Vec<Vec<(u32, f32)>> {
    assert_eq!(database.dim(), queries.dim(), "vector dimensions differ");
    if database.is_empty() || queries.is_empty() || k == 0 {
        return vec![vec![]; queries.len()];
    }
    let dim = database.dim();
    let (cells, database_probes) = build(database, params, same_set.then_some(params.probes));
    let probes = params.probes.clamp(1, cells.count());
    let mut out = Vec::with_capacity(queries.len());
    for start in (0..queries.len()).step_by(QUERY_BATCH) {
        let end = (start + QUERY_BATCH).min(queries.len());
        let unit = unit_rows(queries, start..end);
        let computed;
        // `probes` cells per query, flat.
        let probed: &[u32] = match &database_probes {
            Some(lists) => &lists[start * probes..end * probes],
            None => {
                computed = nearest_cells(&unit, &cells.centroids, dim, probes);
                &computed
            }
        };
        // Inverted: the probe slots (`query position in unit × probes + probe`) of the
        // batch that ask each cell.
        let mut offsets = vec![0usize; cells.count() + 1];
        for &c in probed {
            offsets[c as usize + 1] += 1;
        }
        for c in 0..cells.count() {
            offsets[c + 1] += offsets[c];
        }
        let mut next = offsets.clone();
        let mut askers = vec![0u32; offsets[cells.count()]];
        for (slot, &c) in probed.iter().enumerate() {
            askers[next[c as usize]] = slot as u32;
            next[c as usize] += 1;
        }
        // Each cell against the queries that probe it: one GEMM, a top-k per asker, written
        // as `k` entries per asker (unfilled ones are `EMPTY`) in the cell's own buffer.
        let answers: Vec<Vec<(u32, f32)>> = (0..cells.count())
            .into_par_iter()
            .map(|c| {
                let asking = &askers[offsets[c]..offsets[c + 1]];
                let (c_start, c_end) = cells.range(c);
                let width = c_end - c_start;
                if asking.is_empty() || width == 0 {
                    return Vec::new();
                }
                let m = asking.len();
                let mut block = Vec::with_capacity(m * dim);
                for &slot in asking {
                    let qi = slot as usize / probes;
                    block.extend_from_slice(&unit[qi * dim..(qi + 1) * dim]);
                }
                let mut scores = vec![0f32; m * width];
                dot_block(
                    &mut scores,
                    &block,
                    &cells.rows[c_start * dim..c_end * dim],
                    [m, width, dim],
                );
                let mut found = Vec::with_capacity(m * k);
                for (r, &slot) in asking.iter().enumerate() {
                    let q = (start + slot as usize / probes) as u32;
                    let mut top = TopK::new(k);
                    for (jj, &s) in scores[r * width..(r + 1) * width].iter().enumerate() {
                        let j = cells.ids[c_start + jj];
                        if !(same_set && j == q) {
                            top.offer(j, s);
                        }
                    }
                    let best = top.into_sorted(1.0);
                    let filled = best.len();
                    found.extend(best);
                    found.extend(std::iter::repeat_n(EMPTY, k - filled));
                }
                found
            })
            .collect();
        // Every probe slot's answers in one flat buffer, then each query's merged in parallel.
        let mut slots = vec![EMPTY; (end - start) * probes * k];
        for (c, found) in answers.iter().enumerate() {
            for (&slot, entries) in askers[offsets[c]..offsets[c + 1]]
                .iter()
                .zip(found.chunks_exact(k))
            {
                let at = slot as usize * k;
                slots[at..at + k].copy_from_slice(entries);
            }
        }
        drop(answers);
        let merged: Vec<Vec<(u32, f32)>> = slots
            .par_chunks(probes * k)
            .map(|candidates| {
                let mut top = TopK::new(k);
                for &(j, s) in candidates {
                    if j != EMPTY.0 {
                        top.offer(j, s);
                    }
                }
                top.into_sorted(1.0)
            })
            .collect();
        out.extend(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbours::nearest_neighbours;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Entities as random centres with noisy copies (as a table's duplicates lie near their
    /// original), plus unrelated rows.
    fn clustered(entities: usize, copies: usize, dim: usize, rng: &mut StdRng) -> Vec<f32> {
        let mut out = Vec::new();
        for _ in 0..entities {
            let centre: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            for _ in 0..copies {
                out.extend(centre.iter().map(|x| x + rng.random_range(-0.15..0.15)));
            }
        }
        out
    }

    fn recall(exact: &[Vec<(u32, f32)>], approx: &[Vec<(u32, f32)>]) -> f64 {
        let (mut hit, mut all) = (0usize, 0usize);
        for (e, a) in exact.iter().zip(approx) {
            all += e.len();
            hit += e
                .iter()
                .filter(|(j, _)| a.iter().any(|(i, _)| i == j))
                .count();
        }
        hit as f64 / all as f64
    }

    #[test]
    fn recall_against_the_exact_top_k_within_one_table_and_across_two() {
        let mut rng = StdRng::seed_from_u64(11);
        let dim = 24;
        let data = clustered(1500, 3, dim, &mut rng);
        let db = VectorSet::new(dim, data.as_slice());
        let params = IvfParams {
            cell_size: 64,
            probes: 8,
            ..IvfParams::default()
        };
        let k = 5;
        let exact = nearest_neighbours(&db, &db, k, true);
        let approx = approximate_neighbours(&db, &db, k, true, &params);
        let r = recall(&exact, &approx);
        // Rows 3 to 5 of the exact top-5 are unrelated, spread evenly in 24 dimensions: the
        // hardest case for cells.
        assert!(r >= 0.85, "dedupe recall@{k} {r}");
        // Every approximate neighbour is a real row with its true cosine, never the row itself.
        for (q, row) in approx.iter().enumerate() {
            assert_eq!(row.len(), k);
            for &(j, s) in row {
                assert_ne!(j as usize, q);
                let want: f32 = db
                    .unit_row(q)
                    .zip(db.unit_row(j as usize))
                    .map(|(a, b)| a * b)
                    .sum();
                assert!((s - want).abs() < 1e-4);
            }
        }
        // The other copies of a row's entity (rows `3e..3e + 3`: the matches a table's
        // duplicates are) are almost always found.
        let (mut found, mut copies) = (0usize, 0usize);
        for (q, row) in approx.iter().enumerate() {
            for c in (q / 3 * 3..q / 3 * 3 + 3).filter(|&c| c != q) {
                copies += 1;
                found += usize::from(row.iter().any(|&(j, _)| j as usize == c));
            }
        }
        let copy_recall = found as f64 / copies as f64;
        assert!(copy_recall >= 0.99, "copies found {copy_recall}");

        // A link: one more noisy copy of each of the first 300 entities, as a second table.
        let queries_data: Vec<f32> = (0..300)
            .flat_map(|e| data[e * 3 * dim..(e * 3 + 1) * dim].to_vec())
            .map(|x| x + rng.random_range(-0.1..0.1))
            .collect();
        let queries = VectorSet::new(dim, queries_data.as_slice());
        let exact = nearest_neighbours(&db, &queries, k, false);
        let approx = approximate_neighbours(&db, &queries, k, false, &params);
        let r = recall(&exact, &approx);
        assert!(r >= 0.85, "link recall@{k} {r}");
        let found = approx
            .iter()
            .enumerate()
            .map(|(e, row)| row.iter().filter(|&&(j, _)| j as usize / 3 == e).count())
            .sum::<usize>();
        assert!(
            found as f64 / 900.0 >= 0.99,
            "link copies found {found} of 900"
        );
    }

    #[test]
    fn every_probe_and_one_cell_equal_the_exact_search() {
        let mut rng = StdRng::seed_from_u64(3);
        let dim = 8;
        let data = clustered(60, 2, dim, &mut rng);
        let db = VectorSet::new(dim, data.as_slice());
        let exact = nearest_neighbours(&db, &db, 4, true);
        for params in [
            IvfParams {
                cell_size: 10,
                probes: 1000,
                ..IvfParams::default()
            },
            IvfParams {
                cell_size: 100_000,
                probes: 1,
                ..IvfParams::default()
            },
        ] {
            let approx = approximate_neighbours(&db, &db, 4, true, &params);
            for (e, a) in exact.iter().zip(&approx) {
                let ids = |r: &Vec<(u32, f32)>| r.iter().map(|x| x.0).collect::<Vec<_>>();
                assert_eq!(ids(e), ids(a), "{params:?}");
            }
        }
    }

    #[test]
    fn empty_sets_and_k_zero_give_no_neighbours() {
        let empty = VectorSet::new(3, Vec::new());
        let one = VectorSet::new(3, vec![1.0, 0.0, 0.0]);
        let p = IvfParams::default();
        assert_eq!(
            approximate_neighbours(&empty, &one, 3, false, &p),
            vec![vec![]]
        );
        assert!(approximate_neighbours(&one, &empty, 3, false, &p).is_empty());
        assert_eq!(
            approximate_neighbours(&one, &one, 0, true, &p),
            vec![vec![]]
        );
    }
}
