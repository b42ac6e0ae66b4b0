//! Fault tests: `kill -9` during training, a full disk while checkpointing, damaged archives
//! and checkpoints, a diverging loss, and fuzzing of the config parser and the archive loader.
//! Training runs in child processes of the real `biome` binary, so crashes are real crashes
//! (and burn's per-process random generator is never shared between tests).
//!
//! Fuzz cases come from `BIOME_FUZZ_CASES` (small by default); see RELIABILITY.md.

#[path = "../common/mod.rs"]
mod common;

// The byte mutations of the biome-core fuzz targets, shared rather than copied.
#[path = "../../crates/biome-core/tests/fuzz/mutate.rs"]
mod mutate;

mod damaged_archive;
mod damaged_checkpoint;
mod disk_full;
mod divergence;
mod fuzz_archive;
mod fuzz_config;
mod kill_resume;
mod support;

/// Cases per proptest target: `BIOME_FUZZ_CASES`, or `default` (the CI budget).
pub fn cases(default: u32) -> u32 {
    std::env::var("BIOME_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Proptest settings with `cases` cases; findings become named regression tests instead of
/// proptest's regression files.
pub fn settings(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    }
}
