//! Two builds of one hot loop: the baseline x86-64 target's (SSE2, 4 f32 lanes) and an AVX2 +
//! FMA one (8 lanes), picked at run time. The binaries are built for the baseline target so
//! they run on every x86-64 CPU; the element-wise loops of the fused ops vectorise twice as wide
//! where the CPU has AVX2 (the GELU step of all-MiniLM-L6-v2's forward went from 42–52 ms to
//! 25–28 ms). LLVM does not contract `a·b + c` into FMAs without fast-math, so both builds give
//! the same values, bit for bit.

/// Whether this CPU runs AVX2 with FMA.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2_fma() -> bool {
    // std caches the CPUID answer: this is an atomic load.
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `fn name(args) -> R { body }`, compiled twice (baseline and AVX2 + FMA); each call runs the
/// build the CPU can. The body should call only `#[inline(always)]` helpers, so that they are
/// compiled into both builds.
macro_rules! with_avx2_build {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            if $crate::simd_builds::has_avx2_fma() {
                // SAFETY: the CPU has the features `avx2` is compiled for (checked just above).
                return unsafe { avx2($($arg),*) };
            }
            body($($arg),*)
        }
    };
}
