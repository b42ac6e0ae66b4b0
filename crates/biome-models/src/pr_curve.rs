//! The precision–recall curve of one label's probability, and its F1-best threshold.
//!
//! Argmax is what `predict` reports; a table-wide run (`biome dedupe`) instead accepts pairs
//! whose match probability reaches a threshold, and the F1-best threshold on held-out pairs is
//! the natural default.

use serde::Serialize;

/// One point: accept when the probability is at least `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrPoint {
    /// The cut.
    pub threshold: f32,
    /// Accepted positives / accepted.
    pub precision: f64,
    /// Accepted positives / positives.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// The curve, one point per distinct probability, from the highest threshold down.
/// `scores[i]` is example `i`'s probability of the label, `positive[i]` whether that is its
/// true label.
///
/// # Panics
/// When the two slices differ in length.
pub fn precision_recall_curve(scores: &[f32], positive: &[bool]) -> Vec<PrPoint> {
    assert_eq!(scores.len(), positive.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = positive.iter().filter(|&&p| p).count() as f64;
    let (mut tp, mut taken) = (0f64, 0f64);
    let mut curve = vec![];
    for (k, &i) in order.iter().enumerate() {
        tp += f64::from(u8::from(positive[i]));
        taken += 1.0;
        // one point per distinct score: only after the last example with this score
        if order.get(k + 1).is_some_and(|&j| scores[j] == scores[i]) {
            continue;
        }
        let precision = tp / taken;
        let recall = if positives > 0.0 { tp / positives } else { 0.0 };
        let f1 = if tp > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        curve.push(PrPoint {
            threshold: scores[i],
            precision,
            recall,
            f1,
        });
    }
    curve
}

/// The F1-best point, its threshold moved halfway down to the next lower probability (the cut
/// accepts the same held-out examples, and leaves a margin on new data rather than sitting on
/// the lowest accepted example). Ties go to the higher threshold. `None` for an empty curve
/// or one without any accepted positive.
pub fn best_f1_threshold(curve: &[PrPoint]) -> Option<PrPoint> {
    let (k, best) = curve.iter().enumerate().filter(|(_, p)| p.f1 > 0.0).fold(
        None::<(usize, &PrPoint)>,
        |acc, (k, p)| match acc {
            Some((_, b)) if b.f1 >= p.f1 => acc,
            _ => Some((k, p)),
        },
    )?;
    let threshold = match curve.get(k + 1) {
        Some(next) => (best.threshold + next.threshold) / 2.0,
        None => best.threshold,
    };
    Some(PrPoint { threshold, ..*best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_curve_with_a_tie() {
        // scores 0.9 (+), 0.8 (−), 0.8 (+), 0.3 (+), 0.1 (−); 3 positives
        let scores = [0.8, 0.9, 0.1, 0.8, 0.3];
        let positive = [false, true, false, true, true];
        let curve = precision_recall_curve(&scores, &positive);
        let got: Vec<(f32, f64, f64)> = curve
            .iter()
            .map(|p| (p.threshold, p.precision, p.recall))
            .collect();
        assert_eq!(
            got,
            vec![
                (0.9, 1.0, 1.0 / 3.0),
                (0.8, 2.0 / 3.0, 2.0 / 3.0),
                (0.3, 0.75, 1.0),
                (0.1, 0.6, 1.0),
            ]
        );
        // F1: 0.5, 0.667, 0.857, 0.75 → the cut at 0.3, moved halfway to 0.1
        let best = best_f1_threshold(&curve).unwrap();
        assert!((best.f1 - 6.0 / 7.0).abs() < 1e-12);
        assert!((best.threshold - 0.2).abs() < 1e-6);
    }

    #[test]
    fn no_positive_means_no_threshold() {
        let curve = precision_recall_curve(&[0.4, 0.2], &[false, false]);
        assert_eq!(curve.len(), 2);
        assert!(best_f1_threshold(&curve).is_none());
        assert!(best_f1_threshold(&[]).is_none());
    }
}
