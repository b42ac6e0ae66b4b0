//! Gate activations for the fused kernels, written so that the per-row loops vectorise.
//!
//! `f32::exp` and `f32::tanh` are calls into libm, one element at a time; in the gate loops
//! they cost as much as the recurrent GEMM. The exponential below is branch-free (range
//! reduction to `2^n · e^r`, `|r| <= ln2/2`, and a degree-7 polynomial), so LLVM turns the loops
//! into SIMD code. Its relative error is within a few ulp of `f32::exp` over the whole range
//! (tested below), far inside the tolerance of training in f32.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
// ln 2 split into a short part (`n·LN2_HI` is exact in f32 for |n| <= 127) and the rest
// (Cody–Waite, the constants of Cephes' expf), so `x − n·ln2` keeps its precision.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting 1.5·2^23 rounds an f32 of magnitude below 2^22 to an integer without
/// a call to `roundf`.
const ROUNDER: f32 = 12_582_912.0;

/// `e^x`, saturating to 0 below −87 and to about 1.65e38 above 88.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/k!; the truncation error |r|^8/8! is below 2e-9 for |r| <= 0.35.
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // 2^n by building the exponent bits; n is in [-126, 127] after the clamp. The integer n is
    // read off `shifted`'s low mantissa bits rather than with `n as i32`, whose saturating,
    // NaN-checking conversion LLVM cannot vectorise (it made the gate loops partly scalar).
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    p * scale
}

/// Whether this CPU runs AVX-512 (then the gate loops take their AVX-512 builds).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    // std caches the CPUID answer: this is an atomic load.
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x) = 1 − 2 / (1 + e^{2x})`: exact limits ±1, absolute error near 1e-7 around 0.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 400k points over the unsaturated range [-87, 88].
    fn grid() -> impl Iterator<Item = f32> {
        (0..=400_000).map(|i| -87.0 + i as f32 * (175.0 / 400_000.0))
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        for x in grid() {
            let (a, e) = (exp(x), x.exp());
            assert!(
                (a - e).abs() <= 4.0 * f32::EPSILON * e,
                "exp({x}) = {a}, libm {e}"
            );
        }
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-1000.0) > 0.0);
        assert!(exp(1000.0).is_finite());
        assert!(exp(f32::NEG_INFINITY) >= 0.0);
    }

    #[test]
    fn sigmoid_and_tanh_match_libm() {
        for x in grid() {
            let s = 1.0 / (1.0 + (-x).exp());
            assert!(
                (sigmoid(x) - s).abs() <= 2e-7,
                "sigmoid({x}) = {} vs {s}",
                sigmoid(x)
            );
            assert!(
                (tanh(x) - x.tanh()).abs() <= 3e-7,
                "tanh({x}) = {} vs {}",
                tanh(x),
                x.tanh()
            );
        }
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(-200.0) < 1e-37);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
