//! A loss that becomes NaN or infinite stops training with the epoch and step, and nothing
//! broken is written: the last good archive and checkpoint stay as they were and `--resume`
//! from them works.

use crate::support::{Setup, checkpoint_epochs, metrics_epochs, predictions, run_ok};

#[test]
fn a_diverging_epoch_leaves_the_last_good_model_and_checkpoint() {
    let setup = Setup::new();
    let out = setup.path().join("model");
    run_ok(setup.train(&setup.config(1, |j| j), &out, false));
    let read = |f: &str| std::fs::read(out.join(f)).unwrap();
    let archive_before: Vec<Vec<u8>> = ["archive.json", "config.json", "model.bpk"]
        .iter()
        .map(|f| read(f))
        .collect();
    let state_before = read("checkpoint/state.json");
    let predictions_before = predictions(&out);

    // Adam moves every weight by about lr per step: 1e30 overflows f32 within a few steps.
    let diverging = setup.config(3, |j| j.replace(r#""lr": 0.01"#, r#""lr": 1e30"#));
    let failed = setup.train(&diverging, &out, true).output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("training stopped") && stderr.contains("epoch 2"),
        "{stderr}"
    );

    let archive_after: Vec<Vec<u8>> = ["archive.json", "config.json", "model.bpk"]
        .iter()
        .map(|f| read(f))
        .collect();
    assert!(archive_before == archive_after, "the archive was rewritten");
    assert_eq!(read("checkpoint/state.json"), state_before);
    assert_eq!(checkpoint_epochs(&out), Some(1));
    assert_eq!(metrics_epochs(&out), [1]);
    assert_eq!(predictions(&out), predictions_before);
    assert!(
        predictions_before.iter().flatten().all(|x| x.is_finite()),
        "{predictions_before:?}"
    );

    // With a sane learning rate the run resumes from the last good epoch.
    run_ok(setup.train(&setup.config(2, |j| j), &out, true));
    assert_eq!(metrics_epochs(&out), [1, 2]);
}
