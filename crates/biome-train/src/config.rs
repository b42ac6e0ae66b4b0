//! The `trainer` part of a configuration: batches, epochs, early stopping on a typed
//! validation metric, the optimizer and gradient clipping (AllenNLP's names where they exist).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fused_adam::FusedAdamConfig;
use crate::lr_schedule::LrSchedulerConfig;
use crate::param_groups::{GroupOverrides, ParameterGroup};
use crate::sparse_adam::SparseAdamConfig;

fn d_batch_size() -> usize {
    32
}
fn d_epochs() -> usize {
    10
}
fn d_true() -> bool {
    true
}
fn d_noise() -> f64 {
    0.1
}
fn d_seed() -> u64 {
    42
}
fn d_lr() -> f64 {
    1e-3
}
fn d_betas() -> [f32; 2] {
    [0.9, 0.999]
}
fn d_eps() -> f32 {
    1e-8
}

fn d_adamw_decay() -> f32 {
    0.01
}

/// The optimizer, written `{"adam": {...}}`, `{"adamw": {...}}` or `{"sgd": {...}}` with
/// PyTorch's names; Adam and AdamW take AllenNLP's `parameter_groups`
/// ([`crate::param_groups`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam / AMSGrad.
    Adam {
        /// Learning rate.
        #[serde(default = "d_lr")]
        lr: f64,
        /// `(beta1, beta2)`.
        #[serde(default = "d_betas")]
        betas: [f32; 2],
        /// PyTorch's default 1e-8 (burn's own default is 1e-5).
        #[serde(default = "d_eps")]
        eps: f32,
        /// Use the AMSGrad variant.
        #[serde(default)]
        amsgrad: bool,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
        /// Settings of their own for the parameters whose path matches a regex.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameter_groups: Vec<ParameterGroup>,
    },
    /// Adam with decoupled weight decay (Loshchilov & Hutter; `torch.optim.AdamW`).
    Adamw {
        /// Learning rate.
        #[serde(default = "d_lr")]
        lr: f64,
        /// `(beta1, beta2)`.
        #[serde(default = "d_betas")]
        betas: [f32; 2],
        /// ε (PyTorch's 1e-8).
        #[serde(default = "d_eps")]
        eps: f32,
        /// Use the AMSGrad variant.
        #[serde(default)]
        amsgrad: bool,
        /// Decoupled decay, `w ← w · (1 − lr · weight_decay)` each step (PyTorch's 0.01).
        #[serde(default = "d_adamw_decay")]
        weight_decay: f32,
        /// Settings of their own for the parameters whose path matches a regex.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameter_groups: Vec<ParameterGroup>,
    },
    /// Stochastic gradient descent.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum (0 = none).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f32,
    },
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::Adam {
            lr: d_lr(),
            betas: d_betas(),
            eps: d_eps(),
            amsgrad: false,
            weight_decay: 0.0,
            parameter_groups: vec![],
        }
    }
}

/// The settings of Adam or AdamW for one set of parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    /// Learning rate (before any schedule).
    pub lr: f64,
    /// `(beta1, beta2)`.
    pub betas: [f32; 2],
    /// ε.
    pub eps: f32,
    /// AMSGrad.
    pub amsgrad: bool,
    /// The decay.
    pub weight_decay: f32,
    /// AdamW (decoupled) rather than Adam's L2 decay.
    pub decoupled: bool,
}

impl AdamSettings {
    /// These settings changed by a group's overrides.
    pub fn with(self, o: &GroupOverrides) -> Self {
        Self {
            lr: o.lr.unwrap_or(self.lr),
            betas: o.betas.unwrap_or(self.betas),
            eps: o.eps.unwrap_or(self.eps),
            weight_decay: o.weight_decay.unwrap_or(self.weight_decay),
            ..self
        }
    }

    /// The dense optimizer of these settings.
    pub fn fused(&self) -> FusedAdamConfig {
        let decay = (self.weight_decay > 0.0).then_some(self.weight_decay);
        FusedAdamConfig {
            beta_1: self.betas[0],
            beta_2: self.betas[1],
            epsilon: self.eps,
            amsgrad: self.amsgrad,
            weight_decay: if self.decoupled { None } else { decay },
            decoupled_weight_decay: if self.decoupled { decay } else { None },
        }
    }

    /// The row-wise optimizer settings of `sparse: true` tables.
    pub fn sparse(&self, clip_value: Option<f32>) -> SparseAdamConfig {
        SparseAdamConfig {
            beta_1: self.betas[0],
            beta_2: self.betas[1],
            epsilon: self.eps,
            amsgrad: self.amsgrad,
            weight_decay: self.weight_decay,
            clip_value,
            decoupled_weight_decay: self.decoupled,
        }
    }
}

impl OptimizerConfig {
    /// The (top-level) learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Self::Adam { lr, .. } | Self::Adamw { lr, .. } | Self::Sgd { lr, .. } => *lr,
        }
    }

    /// The config key of this optimizer (`adam`, `adamw`, `sgd`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Adam { .. } => "adam",
            Self::Adamw { .. } => "adamw",
            Self::Sgd { .. } => "sgd",
        }
    }

    /// Adam's or AdamW's top-level settings and parameter groups (`None` for SGD).
    pub fn adam(&self) -> Option<(AdamSettings, &[ParameterGroup])> {
        match self {
            Self::Adam {
                lr,
                betas,
                eps,
                amsgrad,
                weight_decay,
                parameter_groups,
            }
            | Self::Adamw {
                lr,
                betas,
                eps,
                amsgrad,
                weight_decay,
                parameter_groups,
            } => Some((
                AdamSettings {
                    lr: *lr,
                    betas: *betas,
                    eps: *eps,
                    amsgrad: *amsgrad,
                    weight_decay: *weight_decay,
                    decoupled: matches!(self, Self::Adamw { .. }),
                },
                parameter_groups,
            )),
            Self::Sgd { .. } => None,
        }
    }
}

/// Training options (AllenNLP trainer names where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// Pairs per batch.
    #[serde(default = "d_batch_size")]
    pub batch_size: usize,
    /// Passes over the training data.
    #[serde(default = "d_epochs")]
    pub num_epochs: usize,
    /// Stop after this many epochs without improvement of `validation_metric`.
    #[serde(default)]
    pub patience: Option<usize>,
    /// `+name` to maximise or `-name` to minimise: `-loss`, `+accuracy`, `+average/f1`,
    /// `+duplicate/f1`, … (any reported metric).
    #[serde(default)]
    pub validation_metric: ValidationMetric,
    /// Adam (default) or SGD.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Rescale all gradients together when their global L2 norm exceeds this.
    #[serde(default)]
    pub grad_norm: Option<f32>,
    /// Clamp every gradient value to `±grad_clipping`.
    #[serde(default)]
    pub grad_clipping: Option<f32>,
    /// A learning-rate schedule over the run's optimizer steps (all groups scaled alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate_scheduler: Option<LrSchedulerConfig>,
    /// Shuffle the order of batches every epoch.
    #[serde(default = "d_true")]
    pub shuffle: bool,
    /// Batch pairs of similar length together (less padding, faster).
    #[serde(default = "d_true")]
    pub bucketing: bool,
    /// Relative noise on lengths when bucketing, so batches differ between epochs.
    #[serde(default = "d_noise")]
    pub bucket_noise: f64,
    /// Seed for initialisation, batch order and dropout.
    #[serde(default = "d_seed")]
    pub seed: u64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

impl TrainerConfig {
    /// Check option values.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        if self.num_epochs == 0 {
            return Err("num_epochs must be at least 1".into());
        }
        if self.optimizer.lr().is_nan() || self.optimizer.lr() <= 0.0 {
            return Err(format!(
                "optimizer lr must be > 0, got {}",
                self.optimizer.lr()
            ));
        }
        if let Some((top, _)) = self.optimizer.adam()
            && !(top.weight_decay >= 0.0 && top.weight_decay.is_finite())
        {
            return Err(format!(
                "trainer.optimizer.{}.weight_decay must be >= 0, got {}",
                self.optimizer.name(),
                top.weight_decay
            ));
        }
        Ok(())
    }
}

/// The metric early stopping and model choice follow: written `+name` to maximise or `-name`
/// to minimise (`-loss`, `+accuracy`, `+average/f1`, `+duplicate/f1`, …), checked when the
/// config is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ValidationMetric {
    /// The metric's name as reported (`loss`, `accuracy`, `average/f1`, …).
    pub name: String,
    /// Larger is better.
    pub maximize: bool,
}

impl Default for ValidationMetric {
    /// `-loss`.
    fn default() -> Self {
        Self {
            name: "loss".into(),
            maximize: false,
        }
    }
}

impl std::str::FromStr for ValidationMetric {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let m = text.trim();
        let (maximize, name) = match m.chars().next() {
            Some('+') => (true, &m[1..]),
            Some('-') => (false, &m[1..]),
            _ => {
                return Err(format!(
                    "validation_metric {m:?} must start with + (maximise) or - (minimise)"
                ));
            }
        };
        if name.is_empty() {
            return Err("validation_metric names no metric".into());
        }
        Ok(Self {
            name: name.to_string(),
            maximize,
        })
    }
}

impl TryFrom<String> for ValidationMetric {
    type Error = String;

    fn try_from(text: String) -> std::result::Result<Self, String> {
        text.parse()
    }
}

impl From<ValidationMetric> for String {
    fn from(metric: ValidationMetric) -> String {
        metric.to_string()
    }
}

impl fmt::Display for ValidationMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.maximize { '+' } else { '-' };
        write!(f, "{sign}{}", self.name)
    }
}

impl ValidationMetric {
    /// Whether `value` beats `best` (anything beats no value yet).
    pub fn is_better(&self, value: f64, best: Option<f64>) -> bool {
        match best {
            None => true,
            Some(b) if self.maximize => value > b,
            Some(b) => value < b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_metric_parses_sign_and_name_and_writes_them_back() {
        let m: ValidationMetric = "+average/f1".parse().unwrap();
        assert_eq!(
            m,
            ValidationMetric {
                name: "average/f1".into(),
                maximize: true
            }
        );
        assert_eq!(m.to_string(), "+average/f1");
        let err = "accuracy".parse::<ValidationMetric>().unwrap_err();
        assert!(err.contains("must start with +"), "{err}");
        assert!("-".parse::<ValidationMetric>().is_err());
        let c: TrainerConfig = serde_json::from_str(r#"{"validation_metric": "-loss"}"#).unwrap();
        assert_eq!(c.validation_metric, ValidationMetric::default());
        assert_eq!(
            serde_json::to_value(&c).unwrap()["validation_metric"],
            "-loss"
        );
        let err = serde_json::from_str::<TrainerConfig>(r#"{"validation_metric": "f1"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must start with +"), "{err}");
    }

    #[test]
    fn better_follows_the_direction() {
        let max: ValidationMetric = "+accuracy".parse().unwrap();
        let min = ValidationMetric::default();
        assert!(max.is_better(0.5, None) && min.is_better(0.5, None));
        assert!(max.is_better(0.6, Some(0.5)) && !max.is_better(0.5, Some(0.5)));
        assert!(min.is_better(0.4, Some(0.5)) && !min.is_better(0.6, Some(0.5)));
    }

    #[test]
    fn adamw_reads_torch_defaults_and_a_negative_decay_is_refused() {
        let c: TrainerConfig = serde_json::from_str(
            r#"{"optimizer": {"adamw": {"lr": 2e-5}},
                "learning_rate_scheduler": {"linear_with_warmup": {"warmup_steps": 10}}}"#,
        )
        .unwrap();
        let (top, groups) = c.optimizer.adam().unwrap();
        assert!(top.decoupled && groups.is_empty());
        assert_eq!((top.lr, top.weight_decay, top.eps), (2e-5, 0.01, 1e-8));
        let fused = top.fused();
        assert_eq!(
            (fused.weight_decay, fused.decoupled_weight_decay),
            (None, Some(0.01))
        );
        assert!(c.validate().is_ok());
        let c: TrainerConfig =
            serde_json::from_str(r#"{"optimizer": {"adamw": {"weight_decay": -1}}}"#).unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("trainer.optimizer.adamw.weight_decay"),
            "{err}"
        );
    }

    #[test]
    fn defaults_follow_pytorch_adam() {
        let c = TrainerConfig::default();
        assert_eq!(c.batch_size, 32);
        match c.optimizer {
            OptimizerConfig::Adam { eps, lr, .. } => {
                assert_eq!(eps, 1e-8);
                assert_eq!(lr, 1e-3);
            }
            _ => panic!("adam is the default"),
        }
    }
}
