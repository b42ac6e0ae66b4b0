//! Fuzzing with proptest (cargo-fuzz needs a nightly toolchain): the tokenizer, the CSV and
//! JSONL readers and the table readers get arbitrary and mutated input and must answer with
//! tokens, a dataset, a table or a typed error — never a panic, never a silently shortened
//! dataset.
//!
//! Cases per target come from `BIOME_FUZZ_CASES` (small by default, so CI stays fast); see
//! RELIABILITY.md for the counts run locally.

mod csv_reader;
mod jsonl_reader;
mod mutate;
mod tables;
mod tokenizer;
mod truncation;

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
