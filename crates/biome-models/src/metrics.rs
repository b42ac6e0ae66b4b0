//! Accuracy and per-label precision / recall / F1 with their macro averages, accumulated over
//! batches until reset (the reference's `get_metrics(reset)`).
//!
//! The model keeps no metrics: the caller feeds each labelled batch's logits to a
//! [`MetricsAccumulator`], which counts on the logits' device (no host read per batch) and
//! reads the counts back once, when asked.

use std::collections::BTreeMap;

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

/// A confusion matrix over named labels, updated batch by batch.
#[derive(Debug, Clone)]
pub struct ClassificationMetrics {
    labels: Vec<String>,
    /// `confusion[target][predicted]`
    confusion: Vec<Vec<u64>>,
}

impl ClassificationMetrics {
    /// Empty counts for `labels` (in class-index order).
    pub fn new(labels: Vec<String>) -> Self {
        let n = labels.len();
        Self {
            labels,
            confusion: vec![vec![0; n]; n],
        }
    }

    /// Labels in class-index order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Add one batch of predicted and target class indices.
    ///
    /// # Panics
    /// If the slices differ in length or hold an index outside the label set: both are
    /// programming errors, since the model only predicts known classes.
    pub fn update(&mut self, predicted: &[usize], targets: &[usize]) {
        assert_eq!(
            predicted.len(),
            targets.len(),
            "predictions and targets differ in length"
        );
        for (&p, &t) in predicted.iter().zip(targets) {
            self.confusion[t][p] += 1;
        }
    }

    /// Number of examples counted since the last reset.
    pub fn count(&self) -> u64 {
        self.confusion.iter().flatten().sum()
    }

    /// Clear the counts.
    pub fn reset(&mut self) {
        self.confusion.iter_mut().flatten().for_each(|c| *c = 0);
    }

    /// `accuracy`, `<label>/precision|recall|f1` (0 where undefined) and
    /// `average/precision|recall|f1` (macro over all labels); resets the counts if asked.
    pub fn get(&mut self, reset: bool) -> BTreeMap<String, f64> {
        let n = self.labels.len();
        let total = self.count();
        let correct: u64 = (0..n).map(|i| self.confusion[i][i]).sum();
        let mut out = BTreeMap::new();
        out.insert(
            "accuracy".to_string(),
            if total == 0 {
                0.0
            } else {
                correct as f64 / total as f64
            },
        );
        let (mut sum_p, mut sum_r, mut sum_f) = (0.0, 0.0, 0.0);
        for (i, label) in self.labels.iter().enumerate() {
            let tp = self.confusion[i][i] as f64;
            let predicted: u64 = (0..n).map(|t| self.confusion[t][i]).sum();
            let actual: u64 = self.confusion[i].iter().sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, actual as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            out.insert(format!("{label}/precision"), precision);
            out.insert(format!("{label}/recall"), recall);
            out.insert(format!("{label}/f1"), f1);
            sum_p += precision;
            sum_r += recall;
            sum_f += f1;
        }
        let denom = n.max(1) as f64;
        out.insert("average/precision".to_string(), sum_p / denom);
        out.insert("average/recall".to_string(), sum_r / denom);
        out.insert("average/f1".to_string(), sum_f / denom);
        if reset {
            self.reset();
        }
        out
    }
}

/// A confusion matrix kept on the device of the logits it is fed: one argmax and one
/// scatter-add per batch, read back once by [`Self::metrics`].
#[derive(Debug, Clone)]
pub struct MetricsAccumulator {
    labels: Vec<String>,
    /// `[C·C]`, `target · C + predicted`; `None` before the first batch.
    counts: Option<Tensor<1, Int>>,
}

impl MetricsAccumulator {
    /// Empty counts for `labels` (in class-index order).
    pub fn new(labels: Vec<String>) -> Self {
        Self {
            labels,
            counts: None,
        }
    }

    /// Count one batch: `logits` `[B, C]` (their argmax is the prediction; ties go to the
    /// first class) and `targets` `[B]`, class indices below `C`.
    pub fn update(&mut self, logits: &Tensor<2>, targets: &Tensor<1, Int>) {
        let classes = self.labels.len();
        let predicted: Tensor<1, Int> = logits.clone().detach().argmax(1).reshape([-1]);
        let cells = targets.clone().mul_scalar(classes as i64) + predicted;
        let counts = match self.counts.take() {
            Some(c) => c,
            None => Tensor::zeros([classes * classes], &cells.device()),
        };
        let ones = cells.ones_like();
        self.counts = Some(counts.select_assign(0, cells, ones, IndexingUpdateOp::Add));
    }

    /// The metrics of every batch counted so far (see [`ClassificationMetrics::get`]).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut m = ClassificationMetrics::new(self.labels.clone());
        if let Some(counts) = &self.counts {
            let classes = self.labels.len();
            let counts = crate::int_values(counts.clone());
            for (cell, &n) in counts.iter().enumerate() {
                m.confusion[cell / classes][cell % classes] = n.max(0) as u64;
            }
        }
        m.get(false)
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_worked_confusion_with_a_never_predicted_class() {
        let mut m = ClassificationMetrics::new(vec!["a".into(), "b".into(), "c".into()]);
        // targets:   a a a b b c
        // predicted: a a b b a a   (c is never predicted)
        m.update(&[0, 0, 1], &[0, 0, 0]);
        m.update(&[1, 0, 0], &[1, 1, 2]);
        let r = m.get(false);
        assert!(close(r["accuracy"], 3.0 / 6.0));
        // a: tp 2, predicted 4, actual 3
        assert!(close(r["a/precision"], 0.5));
        assert!(close(r["a/recall"], 2.0 / 3.0));
        assert!(close(
            r["a/f1"],
            2.0 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0)
        ));
        // b: tp 1, predicted 2, actual 2
        assert!(close(r["b/precision"], 0.5));
        assert!(close(r["b/recall"], 0.5));
        assert!(close(r["b/f1"], 0.5));
        // c: tp 0, predicted 0 (undefined -> 0), actual 1
        assert_eq!(r["c/precision"], 0.0);
        assert_eq!(r["c/recall"], 0.0);
        assert_eq!(r["c/f1"], 0.0);
        let f1_a = 2.0 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0);
        assert!(close(r["average/f1"], (f1_a + 0.5) / 3.0));
        assert!(close(r["average/precision"], 1.0 / 3.0));
        assert!(close(r["average/recall"], (2.0 / 3.0 + 0.5) / 3.0));
    }

    /// The device-side counts equal the host ones, over batches and with repeated cells.
    #[test]
    fn the_accumulator_counts_like_the_host_matrix() {
        let device = Device::flex();
        let labels: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let mut acc = MetricsAccumulator::new(labels.clone());
        let mut host = ClassificationMetrics::new(labels);
        assert_eq!(acc.metrics(), host.get(false));
        // Logits whose argmax is the predicted class: rows a, a, b, then b, a, a.
        let batches = [
            (
                [[2.0, 1.0, 0.0], [5.0, -1.0, 0.0], [0.0, 3.0, 1.0]],
                [0i64, 0, 0],
            ),
            (
                [[0.0, 3.0, 1.0], [1.0, 0.0, 0.0], [9.0, 1.0, 2.0]],
                [1, 1, 2],
            ),
        ];
        for (logits, targets) in batches {
            let l = Tensor::<2>::from_floats(logits, &device);
            let t = Tensor::<1, Int>::from_ints(targets, &device);
            acc.update(&l, &t);
            let predicted: Vec<usize> = logits
                .iter()
                .map(|row| (0..3).fold(0, |best, i| if row[i] > row[best] { i } else { best }))
                .collect();
            let targets: Vec<usize> = targets.iter().map(|&t| t as usize).collect();
            host.update(&predicted, &targets);
        }
        assert_eq!(acc.metrics(), host.get(false));
        assert!((acc.metrics()["accuracy"] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn reset_clears_and_accumulation_spans_batches() {
        let mut m = ClassificationMetrics::new(vec!["x".into(), "y".into()]);
        m.update(&[0], &[0]);
        m.update(&[0], &[1]);
        assert_eq!(m.count(), 2);
        let r = m.get(true);
        assert!(close(r["accuracy"], 0.5));
        assert_eq!(m.count(), 0);
        assert_eq!(m.get(false)["accuracy"], 0.0);
    }
}
