//! `kill -9` during `biome train`, then `--resume`: at chosen moments inside a checkpoint and an
//! archive write (pause points), and at arbitrary moments (timer). No completed epoch is lost,
//! `metrics.jsonl` lists each epoch once and in order, and the interrupted run ends with the
//! same metrics and the same model as an uninterrupted one.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    Setup, checkpoint_epochs, kill9, metrics_epochs, metrics_without_time, predictions, run_ok,
    spawn_paused, temp_files, wait_for,
};

const EPOCHS: usize = 8;

/// What must hold after any crash: the checkpoint holds at least `done` epochs (nothing
/// completed is lost) and `metrics.jsonl` is a prefix 1..=k of it, missing at most the epoch
/// whose checkpoint was just committed.
fn check_after_crash(out: &Path, done: usize) -> usize {
    let ckpt = checkpoint_epochs(out).expect("a checkpoint survives the crash");
    assert!(ckpt >= done, "checkpoint went back from {done} to {ckpt}");
    let metrics = metrics_epochs(out);
    let k = metrics.len();
    assert_eq!(metrics, (1..=k as u64).collect::<Vec<_>>());
    assert!(
        k == ckpt || k + 1 == ckpt,
        "metrics {metrics:?}, checkpoint {ckpt}"
    );
    ckpt
}

#[test]
fn kill_9_at_any_moment_then_resume_loses_no_epoch() {
    let setup = Setup::new();
    let config = setup.config(EPOCHS, |j| j);
    let out = setup.path().join("cut");
    let resume = || setup.train(&config, &out, true);

    // 1. Killed with epoch 2's checkpoint files written but not yet swapped in.
    kill9(spawn_paused(
        setup.train(&config, &out, false),
        "checkpoint-files-written@2",
    ));
    assert!(out.join("checkpoint.next").exists());
    let mut done = check_after_crash(&out, 1);
    assert_eq!(done, 1);

    // 2. Killed between the two folder renames: only checkpoint.previous holds epoch 1.
    kill9(spawn_paused(resume(), "checkpoint-previous-kept"));
    assert!(!out.join("checkpoint").exists() && out.join("checkpoint.previous").exists());
    done = check_after_crash(&out, done);
    assert_eq!(done, 1);
    // 2b. Resumed from checkpoint.previous and killed at the same moment of the next write:
    // that previous folder is still the only complete checkpoint and must survive.
    kill9(spawn_paused(resume(), "checkpoint-previous-kept"));
    assert!(!out.join("checkpoint").exists() && out.join("checkpoint.previous").exists());
    done = check_after_crash(&out, done);

    // 3. Killed inside an archive write (new weights under the old manifest), then
    // 4. killed right after a swap, before metrics.jsonl caught up.
    // The resumed run's first archive write is the one of its first improved epoch.
    kill9(spawn_paused(resume(), "archive-files-written"));
    done = check_after_crash(&out, done);
    kill9(spawn_paused(resume(), "checkpoint-swapped"));
    done = check_after_crash(&out, done);
    assert_eq!(metrics_epochs(&out).len() + 1, done);

    // 5. Killed by the clock, once right after an epoch completed and once a little later
    // (mid-epoch on a loaded machine, maybe an epoch or two later on an idle one).
    for delay_ms in [0u64, 40] {
        if done >= EPOCHS - 1 {
            break;
        }
        let child = resume()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let target = done + 1;
        assert!(
            wait_for(Duration::from_secs(120), || checkpoint_epochs(&out)
                .is_some_and(|e| e >= target)),
            "no epoch completed"
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill9(child);
        done = check_after_crash(&out, target);
    }

    // 6. The last resume finishes; it starts right after the last completed epoch (and trains
    // nothing if the clock-timed kill came after the last one).
    let finished = run_ok(resume());
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let first = stderr.lines().find(|l| l.starts_with("epoch "));
    match first {
        Some(first) => assert!(
            first.starts_with(&format!("epoch {}/{EPOCHS}:", done + 1)),
            "resumed at {first:?}, after {done} completed epochs"
        ),
        None => assert_eq!(done, EPOCHS, "nothing trained after {done} epochs"),
    }
    assert_eq!(
        metrics_epochs(&out),
        (1..=EPOCHS as u64).collect::<Vec<_>>()
    );
    assert_eq!(checkpoint_epochs(&out), Some(EPOCHS));
    assert!(!out.join("checkpoint.next").exists());
    assert!(!out.join("checkpoint.previous").exists());
    assert_eq!(temp_files(&out), Vec::<std::path::PathBuf>::new());

    // Same as never interrupted: metrics and model.
    let full = setup.path().join("full");
    run_ok(setup.train(&config, &full, false));
    // (model.bpk bytes differ: burnpack stores per-process parameter ids; the weights don't)
    assert_eq!(metrics_without_time(&full), metrics_without_time(&out));
    assert_eq!(predictions(&full), predictions(&out));
}
