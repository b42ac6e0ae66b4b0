//! Fuzzing archive loading: random byte mutations, truncations and insertions in a real
//! archive's files. Every damaged data file is refused by its checksum; a damaged manifest is
//! refused or — only when it still means the same (whitespace, the informational
//! `biome_version`) — loads the very same model. Also
//! burnpack parsing itself, past the checksums, on damaged weights: an error, never a panic.

use std::path::Path;
use std::sync::OnceLock;

use biome::{Device, Pipeline};
use proptest::prelude::*;

use crate::damaged_archive::{FILES, check_damaged, trained_archive};
use crate::support::{Setup, predictions};

use crate::{cases, mutate, settings};

/// One trained archive for all cases (training per case would cost seconds each).
fn archive() -> &'static (Setup, std::path::PathBuf, Vec<Vec<f32>>) {
    static ARCHIVE: OnceLock<(Setup, std::path::PathBuf, Vec<Vec<f32>>)> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        // kept for the whole process, so under cargo's test temp folder rather than /tmp
        let setup = Setup::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")));
        let out = trained_archive(&setup);
        let p = predictions(&out);
        (setup, out, p)
    })
}

/// Whether two manifests say the same, apart from the informational `biome_version`.
fn same_meaning(a: &[u8], b: &[u8]) -> bool {
    let parse = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("biome_version");
                }
                v
            })
    };
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in FILES {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

proptest! {
    #![proptest_config(settings(cases(64)))]

    #[test]
    fn fuzz_archive_mutated_files_never_load_garbage(
        which in 0usize..4,
        m in mutate::mutations(),
    ) {
        let (_, out, original) = archive();
        let file = FILES[which];
        let bytes = std::fs::read(out.join(file)).unwrap();
        let damaged = mutate::apply(&bytes, &m);
        prop_assume!(damaged != bytes);
        // harmless only if the manifest still means the same (whitespace, `biome_version`)
        let inert = file == "archive.json" && same_meaning(&bytes, &damaged);
        let dir = tempfile::tempdir().unwrap();
        copy_dir(out, dir.path());
        std::fs::write(dir.path().join(file), &damaged).unwrap();
        check_damaged(dir.path(), file, inert, original, &format!("{file} {m:?}"));
    }

    #[test]
    fn fuzz_burnpack_parsing_past_the_checksums_never_panics(m in mutate::mutations()) {
        let (_, out, _) = archive();
        let bytes = std::fs::read(out.join("model.bpk")).unwrap();
        let damaged = mutate::apply(&bytes, &m);
        let model = Pipeline::load(out, Device::flex()).unwrap();
        let model = model.model().unwrap().clone();
        // Err or Ok (a change inside a float is undetectable without the checksum), no panic.
        let _ = biome::archive::load_module_bytes(model, damaged, &out.join("model.bpk"));
    }
}
