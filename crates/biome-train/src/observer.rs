//! Observers of the training loop: whatever shows or draws the run (the progress bars, the
//! training curve) watches it from outside, and the loop itself neither prints nor plots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the loop tells its observers. Every method has an empty default.
pub trait TrainObserver {
    /// Epoch `epoch` (1-based) of `epochs` starts, with `steps` batches.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}

    /// A step ended; `mean_loss` is the epoch's mean training loss so far.
    fn step_finished(&mut self, _mean_loss: f64) {}

    /// Epoch `epoch` is complete and on disk: its training and validation metrics, and the
    /// run's `metrics.jsonl`, which now lists it.
    fn epoch_finished(&mut self, _epoch: &EpochReport<'_>) {}

    /// The run stops with an error in the middle of an epoch.
    fn stopped(&mut self) {}
}

/// One completed epoch, as observers see it.
pub struct EpochReport<'a> {
    /// 1-based.
    pub epoch: usize,
    /// Of the run.
    pub epochs: usize,
    /// Training metrics (with `loss`).
    pub training: &'a BTreeMap<String, f64>,
    /// Validation metrics, when there is validation data.
    pub validation: Option<&'a BTreeMap<String, f64>>,
    /// Seconds since the run (or the resumed part of it) started.
    pub elapsed_s: f64,
    /// The run's `metrics.jsonl`.
    pub metrics_jsonl: &'a Path,
}

/// A progress bar per epoch on stderr, and a line per completed epoch.
#[derive(Default)]
pub struct ProgressBars {
    bar: Option<indicatif::ProgressBar>,
    epoch: usize,
    epochs: usize,
}

impl TrainObserver for ProgressBars {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, steps: usize) {
        let bar = indicatif::ProgressBar::new(steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}")
                .expect("template")
                .progress_chars("=> "),
        );
        self.bar = Some(bar);
        (self.epoch, self.epochs) = (epoch, epochs);
    }

    fn step_finished(&mut self, mean_loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "epoch {}/{} loss {mean_loss:.4}",
                self.epoch, self.epochs
            ));
            bar.inc(1);
        }
    }

    fn epoch_finished(&mut self, e: &EpochReport<'_>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let metric = |m: &BTreeMap<String, f64>, key: &str| {
            m.get(key)
                .map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
        };
        let validation = e
            .validation
            .map(|v| {
                format!(
                    ", validation loss {}, accuracy {}",
                    metric(v, "loss"),
                    metric(v, "accuracy")
                )
            })
            .unwrap_or_default();
        eprintln!(
            "epoch {}/{}: training loss {}{validation} ({:.1}s)",
            e.epoch,
            e.epochs,
            metric(e.training, "loss"),
            e.elapsed_s
        );
    }

    fn stopped(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

/// Redraws the training curve (an SVG, see [`crate::curve`]) after every epoch.
pub struct TrainingCurve {
    svg: PathBuf,
}

impl TrainingCurve {
    /// Draws into `svg`.
    pub fn new(svg: impl Into<PathBuf>) -> Self {
        Self { svg: svg.into() }
    }
}

impl TrainObserver for TrainingCurve {
    fn epoch_finished(&mut self, e: &EpochReport<'_>) {
        // Training never fails because of the picture.
        let _ = crate::curve::training_curve(e.metrics_jsonl, &self.svg);
    }
}
