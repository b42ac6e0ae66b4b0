//! Tuning of the binaries' global allocator (mimalloc).
//!
//! burn allocates a fresh buffer for nearly every tensor result, and a training step frees and
//! re-allocates the same large sizes over and over. mimalloc by default hands freed memory back
//! to the kernel after a delay, so steps fault the same pages in again (the kernel zeroes every
//! one): on W2 that was 24,000 page faults per run against 600 without purging, and about 8% of
//! the step time. The binaries keep freed memory instead; the resident size stays at the peak,
//! which the trainer reaches anyway.

/// `mi_option_purge_delay`'s position in mimalloc's `mi_option_e` (the same in mimalloc v2 and
/// v3; `libmimalloc-sys` names its neighbour `mi_option_use_numa_nodes` = 16, but not this one).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's default purge delays in ms (v2: 10, v3: 1000): the option is changed only when it
/// holds one of them, so a future mimalloc with another enum layout is left alone, not mis-set.
const DEFAULT_PURGE_DELAYS: [std::ffi::c_long; 2] = [10, 1000];

/// mimalloc's current purge delay in ms (-1: never purge).
fn purge_delay() -> std::ffi::c_long {
    // SAFETY: a plain read of mimalloc's option table, which it allows at any time.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
}

/// Stops mimalloc returning freed memory to the kernel (unless `MIMALLOC_PURGE_DELAY` was set
/// by the user). Returns whether the setting was applied. Only meaningful in a binary whose
/// global allocator is `mimalloc::MiMalloc`.
pub fn keep_freed_memory() -> bool {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
        || !DEFAULT_PURGE_DELAYS.contains(&purge_delay())
    {
        return false;
    }
    // SAFETY: a plain write of mimalloc's option table, which it allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    purge_delay() == -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_we_expect_it() {
        // The neighbour libmimalloc-sys names pins the position of the unnamed option.
        assert_eq!(libmimalloc_sys::mi_option_use_numa_nodes - 1, PURGE_DELAY);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!(keep_freed_memory());
            assert_eq!(purge_delay(), -1);
        }
    }
}
