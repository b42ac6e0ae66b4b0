//! Fuzzing archive loading: random byte mutations, truncations and insertions in a real
//! archive's files. Every damaged data file is refused by its checksum; a damaged manifest is
//! refused or — only when the change hit `biome_version` — loads the very same model. Also
//! burnpack parsing itself, past the checksums, on damaged weights: an error, never a panic.

use std::path::Path;
use std::sync::OnceLock;

use biome::Pipeline;
use proptest::prelude::*;

use crate::damaged_archive::{FILES, check_damaged, trained_archive, version_span};
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
        // harmless only if every changed byte lies in the version string and the length held
        let inert = file == "archive.json" && damaged.len() == bytes.len() && {
            let span = version_span(&bytes);
            bytes.iter().zip(&damaged).enumerate().all(|(i, (a, b))| a == b || span.contains(&i))
        };
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
        let model = Pipeline::load(out, "flex").unwrap();
        let model = model.model().unwrap().clone();
        // Err or Ok (a change inside a float is undetectable without the checksum), no panic.
        let _ = biome::archive::load_module_bytes(model, damaged, &out.join("model.bpk"));
    }
}
