//! `--resume` from a damaged checkpoint: every checkpoint file truncated, bit-flipped or
//! removed gives a clear error naming the file, before any training, and never resumes from
//! mismatched files.

use biome::Device;
use biome::{BiomeError, Pipeline, PipelineConfig};

use crate::support::{Setup, run_ok};

#[test]
fn a_damaged_checkpoint_is_a_clear_error_on_resume() {
    let setup = Setup::new();
    let config_path = setup.config(2, |j| j);
    let out = setup.path().join("model");
    // One epoch of a two-epoch run: kill-free way to leave a checkpoint with work left.
    run_ok(setup.train(&setup.config(1, |j| j), &out, false));
    let resume = || {
        let config = PipelineConfig::from_file(&config_path).unwrap();
        Pipeline::from_config(config, Device::flex())
            .unwrap()
            .train(&setup.train, Some(&setup.valid), &out, true)
    };
    let dir = out.join("checkpoint");
    for file in [
        "state.json",
        "state.json.crc32",
        "model.bpk",
        "optimizer.bpk",
        "best.bpk",
        "vocabulary.json",
    ] {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        let mut damaged: Vec<(String, Option<Vec<u8>>)> = vec![
            ("truncated to half".into(), Some(bytes[..n / 2].to_vec())),
            ("emptied".into(), Some(vec![])),
            ("removed".into(), None),
        ];
        for pos in [n / 3, n - 2] {
            let mut b = bytes.clone();
            b[pos] ^= 0x04;
            damaged.push((format!("bit flipped at {pos}"), Some(b)));
        }
        for (what, content) in damaged {
            match &content {
                Some(b) => std::fs::write(&path, b).unwrap(),
                None => std::fs::remove_file(&path).unwrap(),
            }
            match resume() {
                Ok(_) => panic!("{file} {what}: resumed"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        matches!(
                            e,
                            BiomeError::Archive { .. }
                                | BiomeError::Io { .. }
                                | BiomeError::Invalid(_)
                        ),
                        "{file} {what}: {msg}"
                    );
                    assert!(msg.contains(file), "{file} {what}: {msg}");
                }
            }
        }
        std::fs::write(&path, &bytes).unwrap();
    }
    // Restored, it resumes.
    let summary = resume().unwrap();
    assert_eq!(summary.epochs_completed, 2);
}
