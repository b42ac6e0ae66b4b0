//! A saved archive with every file truncated at several offsets, bit-flipped at several
//! positions, extended, removed — and the manifest damaged the same way. Loading returns a
//! clear `BiomeError::Archive` naming the file, never panics, and never loads a different
//! model: the only bytes that may change without an error are the manifest's informational
//! `biome_version`, and then the model loaded is the original one.

use std::path::Path;

use biome::Device;
use biome::{BiomeError, Pipeline};

use crate::support::{Setup, predictions, run_ok};

pub const FILES: [&str; 4] = [
    "archive.json",
    "config.json",
    "vocabulary.json",
    "model.bpk",
];

/// Byte range of the manifest's `biome_version` value (the one field loading does not check).
pub fn version_span(manifest: &[u8]) -> std::ops::Range<usize> {
    let text = std::str::from_utf8(manifest).unwrap();
    let key = text.find("\"biome_version\"").unwrap();
    let start = key + text[key..].find(": \"").unwrap() + 3;
    let end = start + text[start..].find('"').unwrap();
    start..end
}

/// Loading `out` after `file` was damaged: a clear error naming the file, or — only when
/// `harmless` — the very same model.
pub fn check_damaged(out: &Path, file: &str, harmless: bool, original: &[Vec<f32>], what: &str) {
    match Pipeline::load(out, Device::flex()) {
        Err(e @ BiomeError::Archive { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(file) || (file == "archive.json" && msg.contains("manifest")),
                "{what}: the error does not name {file}: {msg}"
            );
        }
        Err(other) => panic!("{what}: expected an archive error, got {other:?}"),
        Ok(_) if harmless => assert_eq!(predictions(out), original, "{what}"),
        Ok(_) => panic!("{what}: a damaged archive loaded"),
    }
}

pub fn trained_archive(setup: &Setup) -> std::path::PathBuf {
    let out = setup.path().join("model");
    run_ok(setup.train(&setup.config(1, |j| j), &out, false));
    out
}

#[test]
fn every_file_truncated_flipped_extended_or_removed_gives_a_clear_error() {
    let setup = Setup::new();
    let out = trained_archive(&setup);
    let original = predictions(&out);
    for file in FILES {
        let path = out.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        let inert = if file == "archive.json" {
            version_span(&bytes)
        } else {
            0..0
        };
        for cut in [0, 1, n / 4, n / 2, n - 2, n - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            check_damaged(
                &out,
                file,
                false,
                &original,
                &format!("{file} cut at {cut}"),
            );
        }
        for (i, pos) in [0, 1, n / 5, n / 3, n / 2, 2 * n / 3, n - 2, n - 1]
            .into_iter()
            .enumerate()
        {
            let mut flipped = bytes.clone();
            flipped[pos] ^= 1 << (i % 8);
            std::fs::write(&path, &flipped).unwrap();
            let what = format!("{file} bit {} flipped at {pos}", i % 8);
            check_damaged(&out, file, inert.contains(&pos), &original, &what);
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"\0junk");
        std::fs::write(&path, &longer).unwrap();
        check_damaged(&out, file, false, &original, &format!("{file} extended"));
        std::fs::remove_file(&path).unwrap();
        check_damaged(&out, file, false, &original, &format!("{file} removed"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(predictions(&out), original, "restored {file}");
    }
}

#[test]
fn a_manifest_with_an_unknown_key_or_a_file_listed_twice_is_refused() {
    // Found by fuzzing: duplicating a piece of archive.json made an unknown key
    // ("bformat_version"), listed a file twice or listed a file ".json", and the archive
    // loaded anyway.
    let setup = Setup::new();
    let out = trained_archive(&setup);
    let path = out.join("archive.json");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let unknown = manifest.replace(
        "\"format_version\"",
        "\"bformat_version\": 1, \"format_version\"",
    );
    std::fs::write(&path, unknown).unwrap();
    let err = Pipeline::load(&out, Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("archive.json") && err.contains("bformat_version"),
        "{err}"
    );
    let twice = manifest.replace("\"model.bpk\"", "\"vocabulary.json\": 1, \"model.bpk\"");
    std::fs::write(&path, twice).unwrap();
    let err = Pipeline::load(&out, Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("listed twice"), "{err}");
    let extra = manifest.replace("\"model.bpk\"", "\".json\": 1, \"model.bpk\"");
    std::fs::write(&path, extra).unwrap();
    let err = Pipeline::load(&out, Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown file \".json\""), "{err}");
}

#[test]
fn newer_format_garbage_manifest_and_missing_folder_are_named() {
    let setup = Setup::new();
    let out = trained_archive(&setup);
    let manifest_path = out.join("archive.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    // a trained model carries its threshold, so its archive is format version 3
    let version: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let version = version["format_version"].as_u64().unwrap();
    let newer = manifest.replace(
        &format!("\"format_version\": {version}"),
        "\"format_version\": 99",
    );
    assert_ne!(manifest, newer);
    std::fs::write(&manifest_path, newer).unwrap();
    let err = Pipeline::load(&out, Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer") && err.contains("99"), "{err}");

    // a bit flip that turns version 1 into 0 once loaded as if nothing happened
    let zero = manifest.replace(
        &format!("\"format_version\": {version}"),
        "\"format_version\": 0",
    );
    assert_ne!(manifest, zero);
    std::fs::write(&manifest_path, zero).unwrap();
    let err = Pipeline::load(&out, Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("format_version 0"), "{err}");

    std::fs::write(&manifest_path, "{not json").unwrap();
    assert!(matches!(
        Pipeline::load(&out, Device::flex()),
        Err(BiomeError::Archive { .. })
    ));
    let err = Pipeline::load(setup.path().join("nope"), Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a biome model folder"), "{err}");
}
