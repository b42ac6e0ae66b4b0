//! The best `k` of a stream of scored rows, kept as they arrive: a search offers every
//! similarity it computes, and with `k` far below the number of rows almost every offer is
//! one comparison against the current `k`-th best.

/// Up to `k` `(row, score)`, best first; better means a higher score, then a lower row.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    best: Vec<(u32, f32)>,
}

fn better(a: (u32, f32), b: (u32, f32)) -> bool {
    a.1 > b.1 || (a.1 == b.1 && a.0 < b.0)
}

impl TopK {
    /// An empty list that keeps `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            best: Vec::with_capacity(k + 1),
        }
    }

    /// Consider `row` at `score` (a NaN score is never kept).
    #[inline]
    pub fn offer(&mut self, row: u32, score: f32) {
        if self.best.len() == self.k {
            match self.best.last() {
                Some(&last) if better((row, score), last) => {}
                _ => return,
            }
        } else if score.is_nan() {
            return;
        }
        let at = self.best.partition_point(|&b| !better((row, score), b));
        self.best.insert(at, (row, score));
        self.best.truncate(self.k);
    }

    /// The kept rows, best first, each score multiplied by `scale`.
    pub fn into_sorted(self, scale: f32) -> Vec<(u32, f32)> {
        self.best.into_iter().map(|(j, s)| (j, s * scale)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_k_ties_by_lower_row_whatever_the_order() {
        let offers = [
            (5u32, 0.5f32),
            (1, 0.9),
            (7, 0.5),
            (2, 0.1),
            (3, 0.9),
            (0, 0.5),
        ];
        let mut want = offers.to_vec();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        want.truncate(4);
        for rotation in 0..offers.len() {
            let mut t = TopK::new(4);
            for i in 0..offers.len() {
                let (j, s) = offers[(i + rotation) % offers.len()];
                t.offer(j, s);
            }
            assert_eq!(t.into_sorted(1.0), want, "rotation {rotation}");
        }
    }

    #[test]
    fn zero_k_keeps_nothing_and_nan_is_never_kept() {
        let mut t = TopK::new(0);
        t.offer(1, 1.0);
        assert!(t.into_sorted(1.0).is_empty());
        let mut t = TopK::new(3);
        t.offer(1, f32::NAN);
        t.offer(2, 0.5);
        assert_eq!(t.into_sorted(2.0), vec![(2, 1.0)]);
    }
}
