//! The training checkpoint that `--resume` continues from.
//!
//! A checkpoint is several files (weights, optimizer state, vocabulary, the best model so far,
//! the trainer state) that must belong to the same epoch. Renaming them into place one by one
//! is not enough: a crash between two renames leaves new weights next to an old state. So every
//! checkpoint is written complete into a fresh `checkpoint.next/` folder and swapped in by
//! folder renames, keeping the previous folder until the new one is in place:
//!
//! 1. write `checkpoint.next/*` (each file synced), `state.json` last, with a CRC-32 per file;
//! 2. rename `checkpoint/` → `checkpoint.previous/`;
//! 3. rename `checkpoint.next/` → `checkpoint/`;
//! 4. delete `checkpoint.previous/`.
//!
//! A crash at any moment leaves `checkpoint/` (old or new, complete) or, between 2 and 3, only
//! `checkpoint.previous/`, which [`read`] then uses. `checkpoint.next/` is never read. A failed
//! write (a full disk) deletes `checkpoint.next/` and leaves the previous checkpoint as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use biome_core::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::archive::sync_dir;
use crate::error::{Result, TrainError};
use crate::pause;

/// The checkpoint folder inside the output folder.
pub const DIR: &str = "checkpoint";
const NEXT: &str = "checkpoint.next";
const PREVIOUS: &str = "checkpoint.previous";
const STATE: &str = "state.json";
/// CRC-32 of `state.json` in hex: the state holds the other files' checksums, this one its own
/// (a flipped digit in a metric would otherwise resume with a wrong best value).
const STATE_CRC: &str = "state.json.crc32";
/// Weights after the last completed epoch.
pub const MODEL: &str = crate::archive::WEIGHTS;
/// Optimizer state after the last completed epoch.
pub const OPTIMIZER: &str = "optimizer.bpk";
/// Weights of the best epoch so far (what the archive holds).
pub const BEST: &str = "best.bpk";
/// The vocabulary the run trains with.
pub const VOCABULARY: &str = "vocabulary.json";
/// The row-wise optimizer state of `sparse: true` embeddings (only when a model has one).
pub const SPARSE_OPTIMIZER: &str = "sparse_optimizer.bin";
const FILES: [&str; 4] = [MODEL, OPTIMIZER, BEST, VOCABULARY];

/// Everything about the run that is not a tensor, as of the last completed epoch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    /// Epochs completed.
    pub epochs_completed: usize,
    /// Best value of the validation metric so far.
    pub best_value: Option<f64>,
    /// Epoch (1-based) of the best value.
    pub best_epoch: usize,
    /// All metrics of the best epoch.
    pub best_metrics: BTreeMap<String, f64>,
    /// Epochs since the last improvement (for patience).
    pub bad_epochs: usize,
    /// Optimizer steps taken (the learning-rate schedule's position). Absent in checkpoints
    /// written before schedules existed, whose runs had none: 0 is then harmless.
    #[serde(default)]
    pub optimizer_steps: usize,
    /// One `metrics.jsonl` line per completed epoch, so that file can always be rewritten to
    /// match the checkpoint exactly.
    pub metrics: Vec<serde_json::Value>,
    /// File name → CRC-32 of the files of this checkpoint.
    pub files: BTreeMap<String, u32>,
}

/// A verified checkpoint.
pub struct Checkpoint {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// The trainer state.
    pub state: TrainerState,
    /// Weights after the last completed epoch.
    pub model: Vec<u8>,
    /// Optimizer state.
    pub optimizer: Vec<u8>,
    /// Weights of the best epoch.
    pub best: Vec<u8>,
    /// The vocabulary.
    pub vocabulary: Vocabulary,
    /// Row-wise optimizer state of sparse embeddings, if the checkpoint has one.
    pub sparse_optimizer: Option<Vec<u8>>,
}

/// The bytes of one checkpoint to write.
pub struct CheckpointFiles<'a> {
    /// Weights after the epoch.
    pub model: &'a [u8],
    /// Optimizer state.
    pub optimizer: &'a [u8],
    /// Best weights so far.
    pub best: &'a [u8],
    /// Vocabulary JSON.
    pub vocabulary: &'a [u8],
    /// Row-wise optimizer state of sparse embeddings, if any.
    pub sparse_optimizer: Option<&'a [u8]>,
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| TrainError::io(path, e))?;
    f.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    f.sync_all().map_err(|e| TrainError::io(path, e))
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TrainError::io(dir, e)),
        _ => Ok(()),
    }
}

/// Delete every checkpoint folder in `output` (a fresh, not resumed, run).
pub fn clear(output: &Path) -> Result<()> {
    for name in [DIR, NEXT, PREVIOUS] {
        remove_dir_if_present(&output.join(name))?;
    }
    Ok(())
}

/// Write a complete checkpoint and swap it in (the written state gets the files' CRCs). On error the
/// previous checkpoint is untouched and no partial folder is left behind.
pub fn write(output: &Path, state: &TrainerState, files: &CheckpointFiles<'_>) -> Result<()> {
    let next = output.join(NEXT);
    let write_next = || -> Result<()> {
        remove_dir_if_present(&next)?;
        std::fs::create_dir_all(&next).map_err(|e| TrainError::io(&next, e))?;
        let mut state = state.clone();
        state.files.clear();
        for (name, bytes) in [
            (MODEL, files.model),
            (OPTIMIZER, files.optimizer),
            (BEST, files.best),
            (VOCABULARY, files.vocabulary),
        ]
        .into_iter()
        .chain(files.sparse_optimizer.map(|b| (SPARSE_OPTIMIZER, b)))
        {
            write_synced(&next.join(name), bytes)?;
            state.files.insert(name.to_string(), crc32fast::hash(bytes));
        }
        pause::point("checkpoint-files-written");
        let json = serde_json::to_vec_pretty(&state).expect("trainer state serializes");
        write_synced(&next.join(STATE), &json)?;
        let crc = format!("{:08x}\n", crc32fast::hash(&json));
        write_synced(&next.join(STATE_CRC), crc.as_bytes())?;
        sync_dir(&next)
    };
    if let Err(e) = write_next() {
        // A full disk must not leave a half-written folder behind (it would be deleted by the
        // next write anyway, but it holds space the user may need to free).
        let _ = std::fs::remove_dir_all(&next);
        return Err(e);
    }
    let current = output.join(DIR);
    let previous = output.join(PREVIOUS);
    if current.exists() {
        // `checkpoint/` only ever comes from a complete `checkpoint.next/`, so a
        // `checkpoint.previous/` next to it is stale. Without `checkpoint/`, a crash fell
        // between the renames and `checkpoint.previous/` is the live one: keep it until the
        // new one is in place.
        remove_dir_if_present(&previous)?;
        std::fs::rename(&current, &previous).map_err(|e| TrainError::io(&current, e))?;
    }
    pause::point("checkpoint-previous-kept");
    std::fs::rename(&next, &current).map_err(|e| TrainError::io(&current, e))?;
    sync_dir(output)?;
    pause::point("checkpoint-swapped");
    remove_dir_if_present(&previous)
}

/// The folder holding the newest complete checkpoint, if any.
fn locate(output: &Path) -> Option<PathBuf> {
    [DIR, PREVIOUS]
        .iter()
        .map(|name| output.join(name))
        .find(|dir| dir.join(STATE).is_file())
}

/// Read and verify the newest complete checkpoint in `output`.
pub fn read(output: &Path) -> Result<Checkpoint> {
    let dir = locate(output).ok_or_else(|| {
        TrainError::Invalid(format!(
            "--resume: no completed epoch to resume in {} (no {DIR}/{STATE})",
            output.display()
        ))
    })?;
    let state_path = dir.join(STATE);
    let text = std::fs::read(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let crc_path = dir.join(STATE_CRC);
    let expected = std::fs::read_to_string(&crc_path).map_err(|e| TrainError::io(&crc_path, e))?;
    let actual = crc32fast::hash(&text);
    if u32::from_str_radix(expected.trim(), 16).ok() != Some(actual) {
        return Err(TrainError::archive(
            &state_path,
            format!(
                "trainer state is truncated or corrupted (crc {actual:08x}, {STATE_CRC} says \
                 {:?}); start again without --resume",
                expected.trim()
            ),
        ));
    }
    let state: TrainerState = serde_json::from_slice(&text).map_err(|e| {
        TrainError::archive(
            &state_path,
            format!("corrupted trainer state ({e}); start again without --resume"),
        )
    })?;
    if state.metrics.len() != state.epochs_completed {
        return Err(TrainError::archive(
            &state_path,
            format!(
                "corrupted trainer state: {} epochs completed but {} metrics lines",
                state.epochs_completed,
                state.metrics.len()
            ),
        ));
    }
    let mut bytes: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let sparse = state
        .files
        .contains_key(SPARSE_OPTIMIZER)
        .then_some(SPARSE_OPTIMIZER);
    for name in FILES.into_iter().chain(sparse) {
        let path = dir.join(name);
        let expected = state.files.get(name).copied().ok_or_else(|| {
            TrainError::archive(&state_path, format!("lists no checksum for {name}"))
        })?;
        let data = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        let actual = crc32fast::hash(&data);
        if actual != expected {
            return Err(TrainError::archive(
                &path,
                format!(
                    "checkpoint file is truncated or corrupted ({} bytes, crc {actual:08x}, \
                     expected {expected:08x}); start again without --resume",
                    data.len()
                ),
            ));
        }
        bytes.insert(name, data);
    }
    let mut take = |name: &str| bytes.remove(name).expect("read above");
    let vocab_text = String::from_utf8(take(VOCABULARY))
        .map_err(|_| TrainError::archive(dir.join(VOCABULARY), "vocabulary is not UTF-8 text"))?;
    let vocabulary = Vocabulary::from_json(&vocab_text)?;
    Ok(Checkpoint {
        model: take(MODEL),
        optimizer: take(OPTIMIZER),
        best: take(BEST),
        sparse_optimizer: sparse.map(&mut take),
        vocabulary,
        state,
        dir,
    })
}
