//! Running the `biome` binary and reading what it left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use biome::biome_core::Record;
use biome::{Device, Pipeline};

use crate::common;

/// Generated data and a config file for `epochs` epochs with `-loss` as the validation metric
/// (it improves nearly every early epoch, so every epoch writes the archive).
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub train: PathBuf,
    pub valid: PathBuf,
}

impl Setup {
    pub fn new() -> Self {
        Self::new_in(&std::env::temp_dir())
    }

    pub fn new_in(base: &Path) -> Self {
        let dir = tempfile::tempdir_in(base).unwrap();
        let [train, valid, _] = common::write_data(dir.path());
        Self { dir, train, valid }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a config for `epochs` epochs; `edit` changes its JSON text.
    pub fn config(&self, epochs: usize, edit: impl Fn(String) -> String) -> PathBuf {
        let json = edit(common::config_json(epochs, false).replace("+average/f1", "-loss"));
        let p = self
            .path()
            .join(format!("config_{epochs}_{:x}.json", crc32(&json)));
        std::fs::write(&p, json).unwrap();
        p
    }

    /// `biome train` for `config` into `out`.
    pub fn train(&self, config: &Path, out: &Path, resume: bool) -> Command {
        let mut cmd = Command::new(biome_bin());
        cmd.arg("train")
            .arg("--config")
            .arg(config)
            .arg("--train")
            .arg(&self.train)
            .arg("--validation")
            .arg(&self.valid)
            .arg("--output")
            .arg(out)
            .env_remove(biome::pause::ENV);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    }
}

/// The `biome` binary under test: `BIOME_TEST_BIN` if set (a release build, or a copy when a
/// target folder shared between checkouts may hold another checkout's binary), else cargo's.
pub fn biome_bin() -> std::ffi::OsString {
    std::env::var_os("BIOME_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_biome").into())
}

fn crc32(s: &str) -> u32 {
    s.bytes().fold(0u32, |h, b| h.rotate_left(5) ^ u32::from(b))
}

/// Run to completion; panics with stderr if it fails.
pub fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "biome failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Start `cmd` paused at `point` (see `biome::pause`) and return it once it is there.
pub fn spawn_paused(mut cmd: Command, point: &str) -> Child {
    let mut child = cmd
        .env(biome::pause::ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("biome: paused at") {
                let _ = tx.send(Ok(()));
            }
            log += &line;
            log += "\n";
        }
        let _ = tx.send(Err(log));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => child,
        Ok(Err(log)) => panic!("biome ended without reaching {point}:\n{log}"),
        Err(_) => {
            let _ = child.kill();
            panic!("biome did not reach {point} in 120 s")
        }
    }
}

/// SIGKILL (what `kill -9` sends) and reap.
pub fn kill9(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
}

/// Epochs completed according to the checkpoint `--resume` would use (`None`: no checkpoint).
pub fn checkpoint_epochs(out: &Path) -> Option<usize> {
    ["checkpoint", "checkpoint.previous"].iter().find_map(|d| {
        let text = std::fs::read_to_string(out.join(d).join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        Some(v["epochs_completed"].as_u64().unwrap() as usize)
    })
}

/// The `epoch` of every `metrics.jsonl` line, in file order.
pub fn metrics_epochs(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["epoch"].as_u64().unwrap()
        })
        .collect()
}

pub use crate::common::metrics_without_time;

/// Predictions of the archive in `out` on a few fixed pairs (panics if it does not load).
pub fn predictions(out: &Path) -> Vec<Vec<f32>> {
    let p = Pipeline::load(out, Device::flex())
        .unwrap_or_else(|e| panic!("archive does not load: {e}"));
    [
        ("anna smith 12 main street", "ana smith 12 main st"),
        ("bob jones", "robert jones"),
        ("herbert brandes", "karl meier"),
    ]
    .iter()
    .map(|(a, b)| {
        p.predict(Record::Text(a.to_string()), Record::Text(b.to_string()))
            .unwrap()
            .logits
    })
    .collect()
}

/// Files whose name ends in `.tmp`, anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(temp_files(&path));
        } else if path.to_string_lossy().ends_with(".tmp") {
            found.push(path);
        }
    }
    found
}

/// Wait until `cond` holds (polling), at most `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
