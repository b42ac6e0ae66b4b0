//! One block of dot products, `a` rows against `b` rows: the GEMM of biome-kernels where it is
//! compiled in (the `flex` feature), a plain loop otherwise. Every search here spends its time
//! in this one call.

/// `out[i * n + j] = a[i] · b[j]`, `a` `[m, dim]`, `b` `[n, dim]` (row-major, packed).
pub fn dot_block(out: &mut [f32], a: &[f32], b: &[f32], [m, n, dim]: [usize; 3]) {
    if !biome_kernels::dot_products::dot_products(out, a, b, [m, n, dim]) {
        dot_block_portable(out, a, b, [m, n, dim]);
    }
}

/// The loop [`dot_block`] runs without the GEMM (also its tests' second opinion).
pub fn dot_block_portable(out: &mut [f32], a: &[f32], b: &[f32], [m, n, dim]: [usize; 3]) {
    for (i, qa) in a.chunks_exact(dim).take(m).enumerate() {
        for (j, qb) in b.chunks_exact(dim).take(n).enumerate() {
            out[i * n + j] = dot(qa, qb);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gemm_and_the_loop_agree_with_f64() {
        let (m, n, dim) = (9, 70, 37);
        let a: Vec<f32> = (0..m * dim)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 3 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let mut fast = vec![0.0; m * n];
        let mut slow = vec![0.0; m * n];
        dot_block(&mut fast, &a, &b, [m, n, dim]);
        dot_block_portable(&mut slow, &a, &b, [m, n, dim]);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..dim)
                    .map(|p| f64::from(a[i * dim + p]) * f64::from(b[j * dim + p]))
                    .sum();
                for got in [fast[i * n + j], slow[i * n + j]] {
                    assert!(
                        (f64::from(got) - want).abs() < 1e-4,
                        "{i},{j}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
