//! Row-major matrix products on slices, through the `gemm` crate that burn-flex itself uses.

/// One operand of [`matmul`]: a row-major slice, read as stored or transposed.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a> {
    pub data: &'a [f32],
    /// Read the stored `[cols, rows]` matrix as `[rows, cols]`.
    pub transposed: bool,
    /// The distance between consecutive stored rows; `None` = as many as a stored row has
    /// values (a packed matrix). A larger stride reads the leading columns of a wider matrix.
    pub row_stride: Option<usize>,
}

impl<'a> Operand<'a> {
    pub fn plain(data: &'a [f32]) -> Self {
        Self {
            data,
            transposed: false,
            row_stride: None,
        }
    }

    /// The first columns of a wider row-major matrix whose rows lie `row_stride` values apart.
    pub fn leading_columns(data: &'a [f32], row_stride: usize) -> Self {
        Self {
            data,
            transposed: false,
            row_stride: Some(row_stride),
        }
    }

    pub fn transposed(data: &'a [f32]) -> Self {
        Self {
            data,
            transposed: true,
            row_stride: None,
        }
    }

    /// (row stride, column stride) of the logical `[rows, cols]` matrix.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
        if self.transposed {
            (1, self.row_stride.unwrap_or(rows) as isize)
        } else {
            (self.row_stride.unwrap_or(cols) as isize, 1)
        }
    }

    /// Whether the slice holds every value of the logical `[rows, cols]` matrix.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        let (stored_rows, stored_cols) = if self.transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let stride = self.row_stride.unwrap_or(stored_cols);
        stored_rows == 0
            || stored_cols == 0
            || (stride >= stored_cols
                && self.data.len() >= (stored_rows - 1) * stride + stored_cols)
    }
}

/// Below this many multiply-adds a product runs on the calling thread (the same threshold as
/// burn-flex's matmul: splitting smaller products costs more than it saves).
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// `out[m, n] = a[m, k] · b[k, n]`, or `out += a · b` when `accumulate`.
///
/// # Panics
/// If a slice is shorter than its shape (a bug in the caller, never user input).
pub(crate) fn matmul(
    out: &mut [f32],
    a: Operand<'_>,
    b: Operand<'_>,
    [m, n, k]: [usize; 3],
    accumulate: bool,
) {
    assert!(out.len() >= m * n, "matmul: output too short");
    assert!(a.covers(m, k), "matmul: lhs too short");
    assert!(b.covers(k, n), "matmul: rhs too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = a.strides(m, k);
    let (b_rs, b_cs) = b.strides(k, n);
    let parallelism = if m * n * k >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above bound every index the strides reach: the logical matrices are
    // [m, k], [k, n] and [m, n] over slices at least that long, and `out` is borrowed mutably,
    // so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for r in 0..rows {
            for c in 0..cols {
                out[c * rows + r] = x[r * cols + c];
            }
        }
        out
    }

    #[test]
    fn products_match_a_naive_loop_in_every_layout() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let expected = naive(&a, &b, m, n, k);
        let a_t = transpose(&a, m, k);
        let b_t = transpose(&b, k, n);
        for (lhs, rhs) in [
            (Operand::plain(&a), Operand::plain(&b)),
            (Operand::transposed(&a_t), Operand::plain(&b)),
            (Operand::plain(&a), Operand::transposed(&b_t)),
            (Operand::transposed(&a_t), Operand::transposed(&b_t)),
        ] {
            let mut out = vec![1.0; m * n];
            matmul(&mut out, lhs, rhs, [m, n, k], false);
            for (x, y) in out.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
            matmul(&mut out, lhs, rhs, [m, n, k], true);
            for (x, y) in out.iter().zip(&expected) {
                assert!((x - 2.0 * y).abs() < 1e-5, "{x} vs 2·{y}");
            }
        }
    }

    #[test]
    fn leading_columns_of_a_wider_matrix() {
        // a is the first 3 columns of a [5, 4] matrix whose last column is garbage.
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let wide: Vec<f32> = a
            .chunks(k)
            .flat_map(|row| row.iter().copied().chain([f32::NAN]))
            .collect();
        let mut out = vec![0.0; m * n];
        matmul(
            &mut out,
            Operand::leading_columns(&wide[..wide.len() - 1], k + 1),
            Operand::plain(&b),
            [m, n, k],
            false,
        );
        for (x, y) in out.iter().zip(naive(&a, &b, m, n, k)) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
