//! Sums, maxima and dot products of one row of f32 values, written so that LLVM vectorises them:
//! eight independent accumulators fit one SIMD register, where a single running `f32` sum or
//! max is a serial chain that it may not reorder. Shared by the fused row ops (the attention
//! softmax, LayerNorm), with the rows per rayon task they split their rows into.

/// Accumulators per reduction.
const LANES: usize = 8;

/// Values per rayon task of a row op: large enough that the split costs nothing next to the work.
const VALUES_PER_TASK: usize = 16 * 1024;

/// Whole rows of `width` values per rayon task (at least one).
pub(crate) fn rows_per_task(width: usize) -> usize {
    (VALUES_PER_TASK / width.max(1)).max(1)
}

/// `f(accumulators, chunk)` over `v` in chunks of [`LANES`], the tail padded with `fill`.
#[inline(always)]
fn lanes(
    v: &[f32],
    fill: f32,
    mut f: impl FnMut(&mut [f32; LANES], &[f32; LANES]),
) -> [f32; LANES] {
    let mut acc = [fill; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        f(
            &mut acc,
            c.try_into().expect("chunks_exact gives LANES values"),
        );
    }
    let mut tail = [fill; LANES];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    f(&mut acc, &tail);
    acc
}

/// The largest value of `v` (`−∞` for an empty row).
#[inline(always)]
pub(crate) fn max_of(v: &[f32]) -> f32 {
    let acc = lanes(v, f32::NEG_INFINITY, |acc, c| {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    });
    acc.into_iter().fold(f32::NEG_INFINITY, f32::max)
}

/// `Σ v_k`.
#[inline(always)]
pub(crate) fn sum_of(v: &[f32]) -> f32 {
    let acc = lanes(v, 0.0, |acc, c| {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    });
    acc.iter().sum()
}

/// `Σ a_k · b_k` over the shorter of the two.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_equal_the_plain_ones_at_every_tail_length() {
        for n in 0..27 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.25) - 2.0).collect();
            // Halves and quarters: every partial sum is exact in f32, whatever the order.
            assert_eq!(sum_of(&a), a.iter().sum::<f32>(), "sum, n = {n}");
            assert_eq!(
                dot(&a, &b),
                a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
            );
            assert_eq!(
                max_of(&a),
                a.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            );
        }
        assert_eq!(max_of(&[-3.0; 9]), -3.0);
    }
}
