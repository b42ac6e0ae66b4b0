//! Many dot products at once, for the nearest-neighbour search of biome-resolve: every row of
//! one row-major matrix with every row of another, as one GEMM (`a · bᵀ`) through the slice
//! wrapper of the `gemm` crate. A loop of single dot products streams the second matrix
//! through the cache once per row of the first; the GEMM blocks both and runs the CPU's FMA
//! kernels (BENCHMARKS.md, "Nearest neighbours").

/// `out[i * n + j] = a[i] · b[j]` for `a` `[m, dim]` and `b` `[n, dim]`, both row-major and
/// packed; `false` (and `out` untouched) when this crate is built without the `flex` feature
/// and the caller must run its own loop.
///
/// # Panics
/// If a slice is shorter than its shape (a caller's bug, never user input).
pub fn dot_products(out: &mut [f32], a: &[f32], b: &[f32], [m, n, dim]: [usize; 3]) -> bool {
    assert!(a.len() >= m * dim && b.len() >= n * dim && out.len() >= m * n);
    flex::dot_products(out, a, b, [m, n, dim])
}

#[cfg(not(feature = "flex"))]
mod flex {
    pub(super) fn dot_products(_: &mut [f32], _: &[f32], _: &[f32], _: [usize; 3]) -> bool {
        false
    }
}

#[cfg(feature = "flex")]
mod flex {
    use crate::gemm::{Operand, matmul};

    pub(super) fn dot_products(
        out: &mut [f32],
        a: &[f32],
        b: &[f32],
        [m, n, dim]: [usize; 3],
    ) -> bool {
        // `b` stored `[n, dim]` is the logical `[dim, n]` right operand read transposed.
        matmul(
            out,
            Operand::plain(&a[..m * dim]),
            Operand::transposed(&b[..n * dim]),
            [m, n, dim],
            false,
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_single_dot_products_in_f64() {
        let (m, n, dim) = (5, 7, 13);
        let a: Vec<f32> = (0..m * dim)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let b: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0)
            .collect();
        let mut out = vec![f32::NAN; m * n];
        if !dot_products(&mut out, &a, &b, [m, n, dim]) {
            assert!(out.iter().all(|x| x.is_nan()), "untouched without flex");
            return;
        }
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..dim)
                    .map(|p| f64::from(a[i * dim + p]) * f64::from(b[j * dim + p]))
                    .sum();
                assert!((f64::from(out[i * n + j]) - want).abs() < 1e-4, "{i},{j}");
            }
        }
    }
}
