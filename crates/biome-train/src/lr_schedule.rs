//! Learning-rate schedules (the trainer's `learning_rate_scheduler`, AllenNLP's key), with
//! Hugging Face's formulas (`transformers.optimization.get_*_schedule_with_warmup`).
//!
//! A schedule is a factor of the optimizer step: the update number `step` (0 for the first
//! update, as HF's `LambdaLR`, which is stepped after each `optimizer.step()`) uses
//! `lr · factor(step, total)` for every parameter group's `lr`, where `total` =
//! `num_epochs × batches per epoch`. So with warm-up the first update has lr 0, as in HF.
//!
//! Why not `burn::lr_scheduler`: its schedulers keep the step count inside, one per group, and
//! burn has no linear warm-up followed by linear decay; here the factor is a pure function of
//! the step count the trainer keeps in its checkpoint, which makes `--resume` exact by
//! construction. burn's `ModuleLearningRate` still carries the per-group rates to the optimizer.

use serde::{Deserialize, Serialize};

fn d_cycles() -> f64 {
    0.5
}

/// The schedule, written `{"linear_with_warmup": {"warmup_steps": 100}}` or, as a share of the
/// run's updates, `{"linear_with_warmup": {"warmup_ratio": 0.1}}` (Hugging Face's
/// `TrainingArguments` names; a ratio lets one config serve a data set of 100 pairs and one of
/// 20,000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedulerConfig {
    /// Linear warm-up from 0 over `warmup_steps` updates, then linear decay to 0 at the last.
    LinearWithWarmup {
        /// Updates of warm-up.
        #[serde(default)]
        warmup_steps: usize,
        /// Warm-up as a share of the run's updates, rounded up (exclusive with `warmup_steps`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warmup_ratio: Option<f64>,
    },
    /// Linear warm-up, then constant.
    ConstantWithWarmup {
        /// Updates of warm-up.
        #[serde(default)]
        warmup_steps: usize,
        /// Warm-up as a share of the run's updates, rounded up (exclusive with `warmup_steps`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warmup_ratio: Option<f64>,
    },
    /// Linear warm-up, then a cosine from 1 down to 0 (`num_cycles` 0.5: half a period).
    Cosine {
        /// Updates of warm-up.
        #[serde(default)]
        warmup_steps: usize,
        /// Warm-up as a share of the run's updates, rounded up (exclusive with `warmup_steps`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warmup_ratio: Option<f64>,
        /// Periods of the cosine over the decay (HF's default 0.5).
        #[serde(default = "d_cycles")]
        num_cycles: f64,
    },
}

impl LrSchedulerConfig {
    /// The warm-up as written: `(warmup_steps, warmup_ratio)`.
    fn warmup_settings(&self) -> (usize, Option<f64>) {
        match *self {
            Self::LinearWithWarmup {
                warmup_steps,
                warmup_ratio,
            }
            | Self::ConstantWithWarmup {
                warmup_steps,
                warmup_ratio,
            }
            | Self::Cosine {
                warmup_steps,
                warmup_ratio,
                ..
            } => (warmup_steps, warmup_ratio),
        }
    }

    /// Updates of warm-up in a run of `total` updates: `warmup_steps`, or
    /// `ceil(total × warmup_ratio)` (HF's `TrainingArguments.get_warmup_steps`).
    pub fn warmup(&self, total: usize) -> usize {
        let (steps, ratio) = self.warmup_settings();
        match ratio {
            Some(r) if steps == 0 => (total as f64 * r).ceil() as usize,
            _ => steps,
        }
    }

    /// The factor of update `step` (0-based) of `total` updates.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        let (s, n) = (step as f64, total as f64);
        let warmup = self.warmup(total);
        if step < warmup {
            return s / warmup.max(1) as f64;
        }
        let w = warmup as f64;
        match *self {
            Self::LinearWithWarmup { .. } => ((n - s) / (n - w).max(1.0)).max(0.0),
            Self::ConstantWithWarmup { .. } => 1.0,
            Self::Cosine { num_cycles, .. } => {
                let progress = (s - w) / (n - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * num_cycles * 2.0 * progress).cos())).max(0.0)
            }
        }
    }

    /// Check the values against the run's `total` updates; `key` is the config key path.
    pub fn validate(&self, total: usize, key: &str) -> std::result::Result<(), String> {
        let (steps, ratio) = self.warmup_settings();
        if let Some(r) = ratio {
            if steps > 0 {
                return Err(format!(
                    "{key}: give warmup_steps or warmup_ratio, not both \
                     (warmup_steps {steps}, warmup_ratio {r})"
                ));
            }
            if !(0.0..=1.0).contains(&r) {
                return Err(format!(
                    "{key}: warmup_ratio must be between 0 and 1, got {r}"
                ));
            }
        }
        // A constant rate after a warm-up longer than the run is a slow start, nothing worse;
        // a decay that would begin after the last step is a mistake.
        match *self {
            Self::LinearWithWarmup { .. } | Self::Cosine { .. } if steps > total => Err(format!(
                "{key}: warmup_steps {steps} is more than the run's {total} optimizer steps \
                 (num_epochs × batches per epoch); `warmup_ratio` (e.g. 0.1) scales with the run"
            )),
            Self::Cosine { num_cycles, .. } if !(num_cycles.is_finite() && num_cycles > 0.0) => {
                Err(format!("{key}: num_cycles must be > 0, got {num_cycles}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked values: 10 updates, 4 of warm-up. Warm-up 0, 1/4, 2/4, 3/4; then
    /// `(10 - s) / 6`: step 4 → 1, 7 → 1/2, 9 (the last) → 1/6.
    #[test]
    fn linear_with_warmup_matches_hugging_face() {
        let s = LrSchedulerConfig::LinearWithWarmup {
            warmup_steps: 4,
            warmup_ratio: None,
        };
        let got: Vec<f64> = (0..10).map(|k| s.factor(k, 10)).collect();
        let want = [
            0.0,
            0.25,
            0.5,
            0.75,
            1.0,
            5.0 / 6.0,
            4.0 / 6.0,
            0.5,
            2.0 / 6.0,
            1.0 / 6.0,
        ];
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-15, "step {k}: {g} vs {w}");
        }
        // No warm-up: the first update at the full rate.
        let s = LrSchedulerConfig::LinearWithWarmup {
            warmup_steps: 0,
            warmup_ratio: None,
        };
        assert_eq!(s.factor(0, 10), 1.0);
        assert_eq!(s.factor(5, 10), 0.5);
        assert_eq!(s.factor(12, 10), 0.0);
    }

    /// Cosine over 8 updates, 2 of warm-up: decay progress `(s - 2) / 6`; step 5 is half-way
    /// (cos(π/2) = 0 → 0.5), step 2 is 1, step 8 would be 0.
    #[test]
    fn constant_and_cosine_with_warmup() {
        let c = LrSchedulerConfig::ConstantWithWarmup {
            warmup_steps: 2,
            warmup_ratio: None,
        };
        assert_eq!(
            (0..4).map(|k| c.factor(k, 8)).collect::<Vec<_>>(),
            [0.0, 0.5, 1.0, 1.0]
        );
        let c = LrSchedulerConfig::Cosine {
            warmup_steps: 2,
            warmup_ratio: None,
            num_cycles: 0.5,
        };
        assert_eq!(c.factor(1, 8), 0.5);
        assert!((c.factor(2, 8) - 1.0).abs() < 1e-15);
        assert!((c.factor(5, 8) - 0.5).abs() < 1e-15);
        let quarter = 0.5 * (1.0 + (std::f64::consts::PI / 6.0).cos());
        assert!((c.factor(3, 8) - quarter).abs() < 1e-15);
        assert!(c.factor(8, 8).abs() < 1e-15);
    }

    #[test]
    fn config_reads_and_checks() {
        let s: LrSchedulerConfig =
            serde_json::from_str(r#"{"linear_with_warmup": {"warmup_steps": 3}}"#).unwrap();
        assert_eq!(
            s,
            LrSchedulerConfig::LinearWithWarmup {
                warmup_steps: 3,
                warmup_ratio: None
            }
        );
        let err = s
            .validate(2, "trainer.learning_rate_scheduler")
            .unwrap_err();
        assert!(
            err.contains("trainer.learning_rate_scheduler: warmup_steps 3"),
            "{err}"
        );
        assert!(s.validate(3, "k").is_ok());
        let c = LrSchedulerConfig::ConstantWithWarmup {
            warmup_steps: 30,
            warmup_ratio: None,
        };
        assert!(c.validate(10, "k").is_ok());
        assert!(serde_json::from_str::<LrSchedulerConfig>(r#"{"linear": {}}"#).is_err());
    }

    /// A ratio is rounded up as HF does: 10 % of 25 updates is 3 updates of warm-up; 10 % of
    /// 4 updates is 1. Then the same factors as the step count gives.
    #[test]
    fn warmup_ratio_scales_with_the_run() {
        let ratio: LrSchedulerConfig =
            serde_json::from_str(r#"{"linear_with_warmup": {"warmup_ratio": 0.1}}"#).unwrap();
        assert_eq!(ratio.warmup(25), 3);
        assert_eq!(ratio.warmup(4), 1);
        assert_eq!(ratio.warmup(0), 0);
        let steps = LrSchedulerConfig::LinearWithWarmup {
            warmup_steps: 3,
            warmup_ratio: None,
        };
        for k in 0..25 {
            assert_eq!(ratio.factor(k, 25), steps.factor(k, 25), "step {k}");
        }
        // 1/3, the first update after warm-up at the full rate, the last at 1/22
        assert!((ratio.factor(1, 25) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(ratio.factor(3, 25), 1.0);
        assert!((ratio.factor(24, 25) - 1.0 / 22.0).abs() < 1e-15);
        assert!(ratio.validate(4, "k").is_ok());
        let both: LrSchedulerConfig =
            serde_json::from_str(r#"{"cosine": {"warmup_steps": 2, "warmup_ratio": 0.1}}"#)
                .unwrap();
        let err = both
            .validate(100, "trainer.learning_rate_scheduler")
            .unwrap_err();
        assert!(err.contains("not both"), "{err}");
        let big: LrSchedulerConfig =
            serde_json::from_str(r#"{"constant_with_warmup": {"warmup_ratio": 1.5}}"#).unwrap();
        let err = big.validate(100, "k").unwrap_err();
        assert!(err.contains("between 0 and 1"), "{err}");
    }
}
