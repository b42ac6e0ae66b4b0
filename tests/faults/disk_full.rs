//! A full disk while writing a checkpoint. The child runs under a file-size limit
//! (`ulimit -f`, no root needed, any Linux/Unix) with SIGXFSZ ignored, so a write beyond the
//! limit fails with EFBIG exactly like a write to a full disk fails with ENOSPC. The limit is
//! chosen between the sizes of the checkpoint's weights and its optimizer state, so the
//! archive and the first checkpoint files are written and the optimizer state is not.

use std::process::Command;

use crate::support::{Setup, checkpoint_epochs, metrics_epochs, predictions, run_ok, temp_files};

#[test]
fn disk_full_while_checkpointing_keeps_the_previous_checkpoint() {
    let setup = Setup::new();
    let out = setup.path().join("model");
    run_ok(setup.train(&setup.config(1, |j| j), &out, false));
    let before = predictions(&out);
    let size = |f: &str| {
        std::fs::metadata(out.join("checkpoint").join(f))
            .unwrap()
            .len()
    };
    let (weights, optimizer) = (size("model.bpk"), size("optimizer.bpk"));
    let blocks = (weights + optimizer) / 2 / 512; // ulimit -f counts 512-byte blocks
    assert!(weights < blocks * 512 && blocks * 512 < optimizer);

    let config3 = setup.config(3, |j| j);
    let train = setup.train(&config3, &out, true);
    let mut limited = Command::new("/bin/sh");
    limited
        .arg("-c")
        .arg(format!(
            r#"trap "" XFSZ; ulimit -f {blocks}; exec "$0" "$@""#
        ))
        .arg(train.get_program())
        .args(train.get_args());
    let failed = limited.output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "the limit did not bite: {stderr}");
    assert!(
        stderr.contains("error:")
            && stderr.contains("optimizer.bpk")
            && stderr.contains("too large"),
        "the error names the file and the cause: {stderr}"
    );

    // The previous checkpoint is intact, nothing half-written is left, the archive still loads.
    assert_eq!(checkpoint_epochs(&out), Some(1));
    assert!(!out.join("checkpoint.next").exists());
    assert!(!out.join("checkpoint.previous").exists());
    assert_eq!(temp_files(&out), Vec::<std::path::PathBuf>::new());
    assert_eq!(metrics_epochs(&out), [1]);
    let after = predictions(&out);
    assert_eq!(after.len(), before.len());

    // With space again, --resume continues from epoch 1.
    let done = run_ok(setup.train(&config3, &out, true));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("epoch 2/3:"), "{stderr}");
    assert!(!stderr.contains("epoch 1/3:"), "{stderr}");
    assert_eq!(metrics_epochs(&out), [1, 2, 3]);
    assert_eq!(checkpoint_epochs(&out), Some(3));
    predictions(&out);
}
